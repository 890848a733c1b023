"""Train the noise-conditional classifier p(y | x_t, t) that classifier guidance follows (noisy_classifier.py).

    python classifier.py [--T 50] [--steps 1500] [--seed 0] [--ckpt checkpoints/classifier_T50_seed0.pt]
    python classifier.py --resume --ckpt PATH          # continue an interrupted run

Then sample with it: python train.py --sample N --ckpt MODEL --label 0 --classifier PATH --guidance W.
"""
from cli import command_parser, run_command, train_from_flags
from checkpoints import CHECKPOINT_DIR
from noisy_classifier import RECIPE, ClassifierConfig


def main(argv: list[str] | None = None) -> None:
    parser = command_parser(__doc__, ClassifierConfig, training_flags=True)

    def command(args) -> None:
        default = lambda config: CHECKPOINT_DIR / f"classifier_T{config.T}_seed{config.seed}.pt"  # noqa: E731
        train_from_flags(RECIPE, args, default)

    run_command(parser, command, argv)


if __name__ == "__main__":
    main()
