"""Train the conditional two-pixel DDPM (recipe.py; the loop is training.py).

    python train.py                                   # train T = 50, save to checkpoints/ddpm_T50_seed0.pt
    python train.py --T 25 --seed 1 --ckpt PATH       # another T, seed or path
    python train.py --resume --ckpt PATH              # continue an interrupted run
    python train.py --overwrite                       # train again over an existing checkpoint
    python train.py --sample N --ckpt PATH --out FILE.npy ...   # sampling: the same as sample.py (see its --help)

Every field of recipe.TrainConfig is a flag (`--batch-size`, `--label-dropout`, ...); a flag left
out keeps the default. An existing checkpoint is never overwritten unless --overwrite is given.
Ctrl-C saves the run after the current step; --resume continues it to the same weights.
"""
import sys

from cli import command_parser, run_command, sample_from_flags, sampling_parser, train_from_flags
from recipe import RECIPE, TrainConfig, default_checkpoint


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if any(arg == "--sample" or arg.startswith("--sample=") for arg in argv):
        run_command(sampling_parser(__doc__), sample_from_flags, argv)
        return
    parser = command_parser(__doc__, TrainConfig, training_flags=True)
    run_command(parser, lambda args: train_from_flags(RECIPE, args, default_checkpoint), argv)


if __name__ == "__main__":
    main()
