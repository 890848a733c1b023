"""Sample two-pixel images from a trained model, or from the exact denoiser of the mixture.

    python sample.py --n N --ckpt PATH --out FILE.npy [--label 0|1] [--guidance W] [--seed S]
    python sample.py --n N --oracle --T T --out FILE.npy [--label 0|1] [--guidance W] [--seed S]
    ... --sampler ddpm|ddim|dpmpp2m [--steps K] [--eta E]         # few-step samplers (samplers.py)
    ... --label 0|1 --classifier PATH|exact --guidance W            # classifier guidance

`python train.py --sample N ...` is the same command. Samples are written as float32 arrays of
shape (N, 2): columns are the (left, right) pixels. Label 0 is the mode at (-0.35, 0.65), label 1
the mode at (0.75, -0.45); without --label the samples are unconditional (null class).
--guidance W is the problem set's w in epsbar = (1 + w) eps(x, t, y) - w eps(x, t, null);
w = 0 (default) is the plain conditional model. --steps counts sampling steps, 1..T.
"""
from cli import run_command, sample_from_flags, sampling_parser


def main(argv: list[str] | None = None) -> None:
    run_command(sampling_parser(__doc__), sample_from_flags, argv)


if __name__ == "__main__":
    main()
