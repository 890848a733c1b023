"""The MNIST model's recipe: its training config, how it is built, what one training batch is, and
how its checkpoint is read. The loop is the project's one (training.py); mnist_ext/train.py is the command."""
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from checkpoints import CHECKPOINT_DIR
from ddpm import NoisePredictor
from mnist_ext.data import NUM_CLASSES, model_and_held_out_digits
from mnist_ext.model import MnistUNet
from recipe import diffusion_config_problems
from training import Recipe, TrainingParts, exponential_moving_average, warmup_cosine_factor
from utils import Schedule, drop_labels, p_losses

DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "mnist" / "ddpm.pt"


@dataclass(frozen=True)
class MnistConfig:
    """Everything that determines a trained MNIST model; saved in its checkpoint.

    T = 250: the problem set asks for T >= 200. The network sees t/T as a continuous input and the
    default sampler (DDIM) skips steps, so a larger T buys nothing at sampling time, while the
    ancestral sampler, which takes every step, stays affordable on a CPU (about 250 network calls).
    """

    T: int = 250
    schedule: str = "cosine"
    prediction: str = "v"  # see ddpm.NoisePredictor: exact eps = x_t at pure noise
    channels: tuple[int, ...] = (16, 32, 64, 128)  # widths at 28, 14, 7 and 4 pixels
    attention_levels: int = 2  # self-attention in the blocks at the lowest resolutions (7 and 4) and the middle
    embed_dim: int = 128
    min_snr_gamma: float = 5.0  # loss weights min(1, gamma / SNR_t); see min_snr_weights
    label_dropout: float = 0.15  # per-sample probability of the null label, for classifier-free guidance
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-3  # peak learning rate
    warmup_steps: int = 200  # linear warm-up, then cosine decay to zero
    ema_decay: float = 0.999  # with warm-up: min(decay, (1 + n) / (10 + n)) at update n
    seed: int = 0

    def __post_init__(self):
        problems = diffusion_config_problems(self)
        if not 1 <= self.attention_levels <= len(self.channels):
            problems.append(f"attention_levels must be between 1 and {len(self.channels)}, got {self.attention_levels}")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.min_snr_gamma <= 0:
            problems.append(f"min_snr_gamma must be positive, got {self.min_snr_gamma}")
        if problems:
            raise ValueError("invalid MNIST training configuration: " + "; ".join(problems))

    def make_schedule(self) -> Schedule:
        return Schedule.make(self.schedule, self.T)


def min_snr_weights(alphas_cumprod: Tensor, gamma: float) -> Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023) for the eps-loss of p_losses, one per step.

    With SNR_t = abar_t / (1 - abar_t), the eps-loss of a sample equals SNR_t ||x0_hat - x_0||^2;
    weighting it by min(1, gamma / SNR_t) caps that at gamma ||x0_hat - x_0||^2, so the many
    nearly clean steps, whose noise is easy to tell and which barely change the image, stop
    dominating the gradient. alphas_cumprod: (T,) -> (T,) weights in (0, 1].
    """
    snr = alphas_cumprod / (1 - alphas_cumprod)
    return (gamma / snr).clamp(max=1.0)


def build_model(config: MnistConfig) -> NoisePredictor:
    """A freshly initialised noise predictor; its weights are drawn from the config's seed."""
    torch.manual_seed(config.seed)
    unet = MnistUNet(channels=tuple(config.channels), attention_levels=config.attention_levels,
                     embed_dim=config.embed_dim, num_classes=NUM_CLASSES)
    return NoisePredictor(unet, config.make_schedule().alphas_cumprod, prediction=config.prediction)


def recipe(data_dir: Path | None = None) -> Recipe:
    """The recipe that trains on the bundled digits, or on the IDX files in data_dir."""

    def training_parts(config: MnistConfig, device: torch.device) -> TrainingParts:
        """AdamW with warm-up and cosine decay, EMA with warm-up, min-SNR-weighted eps-loss; each
        batch draws digits, t, noise and label dropout from the generator, in that order."""
        (images, labels), _ = model_and_held_out_digits(data_dir)
        images = images.to(device)
        schedule = config.make_schedule()
        loss_weights = min_snr_weights(schedule.alphas_cumprod, config.min_snr_gamma).to(device)  # (T,)
        model = build_model(config).to(device)
        ema = exponential_moving_average(model, config.ema_decay, warmup=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
        lr_schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine_factor(step, config.steps, config.warmup_steps))

        def batch_loss(generator: torch.Generator) -> Tensor:
            index = torch.randint(len(labels), (config.batch_size,), generator=generator)
            t = torch.randint(config.T, (config.batch_size,), generator=generator)
            noise = torch.randn((config.batch_size, *images.shape[1:]), generator=generator)
            y = drop_labels(labels[index], config.label_dropout, NUM_CLASSES, generator=generator)
            t, noise, y = t.to(device), noise.to(device), y.to(device)
            per_sample = p_losses(model, schedule, images[index.to(device)], t, y, noise=noise, reduction="none")
            return (loss_weights[t] * per_sample).mean()

        return TrainingParts(model, optimizer, lr_schedule, batch_loss, ema)

    return Recipe(kind="mnist-ddpm", version=1, config_class=MnistConfig,
                  train_command="python -m mnist_ext.train", build_model=build_model,
                  training_parts=training_parts)


RECIPE = recipe()
"""Training on the bundled digits; loading works for a model trained on any data."""


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[NoisePredictor, MnistConfig]:
    """The EMA weights of a trained MNIST model, in eval mode, with its config (for the schedule)."""
    return RECIPE.load(path, device)
