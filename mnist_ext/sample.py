"""Draw digits from a trained MNIST DDPM with chosen labels, written to an .npz for scripts and grading.

    python -m mnist_ext.sample --ckpt checkpoints/mnist/ddpm.pt --per-class 10 --out samples/digits.npz
    python -m mnist_ext.sample ... --labels 3,1,4,1,5 --guidance 2 --sampler ddim --steps 50 --seed 1

The file holds `images`, float32 (N, 1, 28, 28) in [-1, 1], and `labels`, int64 (N,): every label
of --labels (or of 0..9) repeated --per-class times, in order. --guidance W is the problem set's w
(epsbar = (1 + w) eps(x, t, y) - w eps(x, t, null)). The default sampler is DDIM with its predicted
digit clipped to [-1, 1], the range of real pixels; `--sampler ddpm` is ancestral sampling on all T steps.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from mnist_ext.data import IMAGE_SIZE, NUM_CLASSES
from mnist_ext.train import DEFAULT_CHECKPOINT, load_model
from utils import Schedule, pick_device, sample, set_cpu_threads

SAMPLERS = ("ddim", "ddpm")
DEFAULT_SAMPLER = "ddim"
DEFAULT_STEPS = 25  # DDIM steps of the T trained ones
DEFAULT_GUIDANCE = 1.0  # accuracy saturates by w = 1 while the variety of digits keeps falling with w (README)
PIXEL_RANGE = 1.0  # real pixels lie in [-1, 1]; DDIM clips its predicted x_0 there
CHUNK = 250  # digits drawn at once (twice that many network inputs with guidance)


def generate(model, schedule: Schedule, labels: Tensor, guidance_weight: float = DEFAULT_GUIDANCE,
             sampler: str = DEFAULT_SAMPLER, steps: int | None = DEFAULT_STEPS, seed: int = 0,
             device: torch.device | str = "cpu", progress: bool = False) -> Tensor:
    """Digits (N, 1, 28, 28) in [-1, 1], one per entry of labels (N,) int64 in 0..9.

    Drawn CHUNK at a time from one generator seeded by `seed` (on the model's device); ancestral
    DDPM takes all T steps (steps is then ignored and must be None or T).
    """
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError(f"labels must be digits 0..{NUM_CLASSES - 1}, got {labels.tolist()[:20]}")
    if sampler == "ddpm" and steps not in (None, schedule.T):
        raise ValueError(f"the ancestral sampler takes all T = {schedule.T} steps; use --sampler ddim for --steps")
    generator = torch.Generator(device).manual_seed(seed)
    chunks = []
    for start in tqdm(range(0, len(labels), CHUNK), desc="sampling digits", disable=not progress or len(labels) <= CHUNK):
        chunk = labels[start:start + CHUNK]
        x = sample(model, schedule, len(chunk), label=chunk, guidance_weight=guidance_weight,
                   shape=(1, IMAGE_SIZE, IMAGE_SIZE), generator=generator, device=device, sampler=sampler,
                   steps=steps if sampler == "ddim" else None,
                   clip_x0=PIXEL_RANGE if sampler == "ddim" else None, progress=progress)
        chunks.append(x.clamp(-PIXEL_RANGE, PIXEL_RANGE).cpu())
    return torch.cat(chunks)


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CHECKPOINT, help=f"trained model (default {DEFAULT_CHECKPOINT})")
    parser.add_argument("--per-class", type=int, required=True, metavar="K", help="digits per label")
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--labels", default=None, help="comma-separated digits (default 0,1,...,9)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help=f"guidance weight w (default {DEFAULT_GUIDANCE})")
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER)
    parser.add_argument("--steps", type=int, default=None, help=f"DDIM steps (default {DEFAULT_STEPS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    set_cpu_threads()
    try:
        if args.per_class < 1:
            raise ValueError(f"--per-class must be at least 1, got {args.per_class}")
        if args.out.suffix != ".npz":
            raise ValueError(f"--out must name an .npz file, got {args.out}")
        labels = torch.tensor(parse_labels(args.labels)).repeat_interleave(args.per_class)
        device = pick_device(args.device)
        model, config = load_model(args.ckpt, device)
        steps = args.steps if args.steps is not None else (DEFAULT_STEPS if args.sampler == "ddim" else None)
        started = time.perf_counter()
        images = generate(model, config.make_schedule(), labels, args.guidance, args.sampler, steps, args.seed,
                          device, progress=True)
        seconds = time.perf_counter() - started
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, images=images.numpy().astype(np.float32), labels=labels.numpy())
    print(f"wrote {len(labels)} digits to {args.out} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
