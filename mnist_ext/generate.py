"""Draw labelled digits from a trained MNIST DDPM with the shared samplers (samplers.py)."""
import torch
from torch import Tensor
from tqdm.auto import tqdm

from mnist_ext.data import IMAGE_SIZE, NUM_CLASSES
from samplers import sample
from utils import Schedule

SAMPLERS = ("ddim", "ddpm")
DEFAULT_SAMPLER = "ddim"
DEFAULT_STEPS = 25  # DDIM steps of the T trained ones
DEFAULT_GUIDANCE = 1.0  # accuracy saturates by w = 1 while the variety of digits keeps falling with w (docs/benchmarks.md)
PIXEL_RANGE = 1.0  # real pixels lie in [-1, 1]; DDIM clips its predicted x_0 there
CHUNK = 250  # digits drawn at once (twice that many network inputs with guidance)


def sampling_steps(sampler: str, steps: int | None, T: int) -> int:
    """The steps a sampler takes: DDIM's `steps` (default DEFAULT_STEPS); ancestral DDPM all T."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    if sampler == "ddpm":
        if steps not in (None, T):
            raise ValueError(f"the ancestral sampler takes all T = {T} steps; use --sampler ddim for --steps")
        return T
    return DEFAULT_STEPS if steps is None else steps


def generate(model, schedule: Schedule, labels: Tensor, guidance_weight: float = DEFAULT_GUIDANCE,
             sampler: str = DEFAULT_SAMPLER, steps: int | None = None, seed: int = 0,
             device: torch.device | str = "cpu", progress: bool = False) -> Tensor:
    """Digits (N, 1, 28, 28) in [-1, 1], one per entry of labels (N,) int64 in 0..9.

    Drawn CHUNK at a time from one generator seeded by `seed` (on the model's device); ancestral
    DDPM takes all T steps (see sampling_steps).
    """
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    steps = sampling_steps(sampler, steps, schedule.T)
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError(f"labels must be digits 0..{NUM_CLASSES - 1}, got {labels.tolist()[:20]}")
    generator = torch.Generator(device).manual_seed(seed)
    chunks = []
    for start in tqdm(range(0, len(labels), CHUNK), desc="sampling digits", disable=not progress or len(labels) <= CHUNK):
        chunk = labels[start:start + CHUNK]
        x = sample(model, schedule, len(chunk), label=chunk, guidance_weight=guidance_weight,
                   shape=(1, IMAGE_SIZE, IMAGE_SIZE), generator=generator, device=device, sampler=sampler,
                   steps=steps,
                   clip_x0=PIXEL_RANGE if sampler == "ddim" else None, progress=progress)
        chunks.append(x.clamp(-PIXEL_RANGE, PIXEL_RANGE).cpu())
    return torch.cat(chunks)
