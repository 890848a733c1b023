"""Draw digits from a trained MNIST DDPM with chosen labels, written to an .npz for scripts and grading.

    python -m mnist_ext.sample --ckpt checkpoints/mnist/ddpm.pt --per-class 10 --out samples/digits.npz
    python -m mnist_ext.sample ... --labels 3,1,4,1,5 --guidance 2 --sampler ddim --steps 50 --seed 1

The file holds `images`, float32 (N, 1, 28, 28) in [-1, 1], and `labels`, int64 (N,): every label
of --labels (or of 0..9) repeated --per-class times, in order. --guidance W is the problem set's w
(epsbar = (1 + w) eps(x, t, y) - w eps(x, t, null)). The default sampler is DDIM with its predicted
digit clipped to [-1, 1], the range of real pixels; `--sampler ddpm` is ancestral sampling on all T steps.
"""
import time
from pathlib import Path

import numpy as np
import torch

from cli import command_parser, run_command
from devices import pick_device
from mnist_ext.data import NUM_CLASSES
from mnist_ext.generate import DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS, generate
from mnist_ext.recipe import DEFAULT_CHECKPOINT, load_model


def parse_labels(text: str | None) -> list[int]:
    """'3,1,4' -> [3, 1, 4]; None -> the ten digits. A clear error for anything else."""
    if text is None:
        return list(range(NUM_CLASSES))
    try:
        labels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--labels must be comma-separated digits such as 3,1,4, got {text!r}") from None
    if not labels or any(not 0 <= label < NUM_CLASSES for label in labels):
        raise ValueError(f"--labels must be digits 0..{NUM_CLASSES - 1}, got {text!r}")
    return labels


def main(argv: list[str] | None = None) -> None:
    parser = command_parser(__doc__)
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CHECKPOINT, help=f"trained model (default {DEFAULT_CHECKPOINT})")
    parser.add_argument("--per-class", type=int, required=True, metavar="K", help="digits per label")
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--labels", default=None, help="comma-separated digits (default 0,1,...,9)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help=f"guidance weight w (default {DEFAULT_GUIDANCE})")
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER)
    parser.add_argument("--steps", type=int, default=None, help=f"DDIM steps (default {DEFAULT_STEPS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    run_command(parser, _sample, argv)


def _sample(args) -> None:
    if args.per_class < 1:
        raise ValueError(f"--per-class must be at least 1, got {args.per_class}")
    if args.out.suffix != ".npz":
        raise ValueError(f"--out must name an .npz file, got {args.out}")
    labels = torch.tensor(parse_labels(args.labels)).repeat_interleave(args.per_class)
    device = pick_device(args.device)
    model, config = load_model(args.ckpt, device)
    started = time.perf_counter()
    images = generate(model, config.make_schedule(), labels, args.guidance, args.sampler, args.steps, args.seed,
                      device, progress=True)
    seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, images=images.numpy().astype(np.float32), labels=labels.numpy())
    print(f"wrote {len(labels)} digits to {args.out} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
