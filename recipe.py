"""The two-pixel model's recipe: its training config, how it is built, what one training batch is,
and how a checkpoint of it is read. training.py runs the loop; train.py is the command.

Training recipe (the defaults of TrainConfig; docs/two-pixel.md says what each choice bought):
v-parametrised noise predictor whose last layer starts at zero, Adam with a one-cycle learning
rate, an exponential moving average (EMA) of the weights used for sampling, per-sample label
dropout for classifier-free guidance, steps t drawn more often where the unconditional model must
split the modes, and a fixed seed for the initial weights and every random draw.
"""
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from checkpoints import CHECKPOINT_DIR
from ddpm import DEFAULT_FOURIER_SCALE, NoisePredictor, UNet
from gmm import NULL_LABEL, problem_gmm
from training import Recipe, TrainingParts, exponential_moving_average
from utils import BETA_SCHEDULES, LOSSES, Schedule, drop_labels, p_losses

FOCUS_WINDOW = (0.08, 0.5)
"""The steps FOCUS_WINDOW[0] <= t/T < FOCUS_WINDOW[1] (t = 4..24 of T = 50), drawn t_focus_weight times
as often: where the unconditional model decides between the modes, so where its error moves mass
from one mode to the other."""


def diffusion_config_problems(config) -> list[str]:
    """What is wrong with the fields every diffusion training config has (T, schedule, prediction,
    steps, batch_size, embed_dim, label_dropout, ema_decay, lr): one readable line each, none if fine."""
    problems = []
    if not isinstance(config.T, int) or config.T < 1:
        problems.append(f"T must be an integer >= 1, got {config.T!r}")
    if config.schedule not in BETA_SCHEDULES:
        problems.append(f"schedule must be one of {sorted(BETA_SCHEDULES)}, got {config.schedule!r}")
    if config.prediction not in NoisePredictor.PREDICTIONS:
        problems.append(f"prediction must be one of {NoisePredictor.PREDICTIONS}, got {config.prediction!r}")
    for name in ("steps", "batch_size"):
        if getattr(config, name) < 1:
            problems.append(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.embed_dim < 2 or config.embed_dim % 2:
        problems.append(f"embed_dim must be a positive even number (sin and cos per frequency), got {config.embed_dim}")
    if not 0 <= config.label_dropout <= 1:
        problems.append(f"label_dropout must be in [0, 1], got {config.label_dropout}")
    if not 0 <= config.ema_decay < 1:
        problems.append(f"ema_decay must be in [0, 1), got {config.ema_decay}")
    if config.lr <= 0:
        problems.append(f"lr must be positive, got {config.lr}")
    return problems


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained two-pixel model; saved in its checkpoint."""

    T: int = 50  # diffusion steps
    schedule: str = "cosine"  # "cosine" or "linear"
    prediction: str = "v"  # network output: "v" or "eps" (see ddpm.NoisePredictor)
    channels: tuple[int, int] = (32, 64)
    embed_dim: int = 256
    fourier_scale: float = DEFAULT_FOURIER_SCALE  # smooth in t/T; the starter's 30 is not (see ddpm.py)
    loss_type: str = "l2"  # "l2", "l1" or "huber"
    steps: int = 4000  # optimiser steps; the fewest that met every quality bar on ten seeds (docs/benchmarks.md)
    batch_size: int = 1024
    lr: float = 1e-2  # peak learning rate of the one-cycle schedule
    ema_decay: float = 0.995
    label_dropout: float = 0.95  # probability that a sample's label is replaced by the null label
    t_focus_weight: float = 3.0  # steps in FOCUS_WINDOW are drawn this many times as often (1: uniform t)
    n_data: int = 1_000_000  # size of the training set drawn from the mixture
    zero_output: bool = True  # the U-Net's last layer starts at zero (see build_model)
    seed: int = 0

    def __post_init__(self):
        problems = diffusion_config_problems(self)
        if self.loss_type not in LOSSES:
            problems.append(f"loss_type must be one of {sorted(LOSSES)}, got {self.loss_type!r}")
        if self.n_data < 1:
            problems.append(f"n_data must be at least 1, got {self.n_data}")
        if self.t_focus_weight <= 0:
            problems.append(f"t_focus_weight must be positive, got {self.t_focus_weight}")
        if not isinstance(self.zero_output, bool):
            problems.append(f"zero_output must be True or False, got {self.zero_output!r}")
        if problems:
            raise ValueError("invalid training configuration: " + "; ".join(problems))

    def make_schedule(self) -> Schedule:
        return Schedule.make(self.schedule, self.T)

    def recipe(self) -> dict:
        """Every field but the seed, tuples as lists: the recipe as a record stores it (tools/bench.py)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in asdict(self).items() if name != "seed"}


def default_checkpoint(config: TrainConfig) -> Path:
    return CHECKPOINT_DIR / f"ddpm_T{config.T}_seed{config.seed}.pt"


def build_model(config: TrainConfig) -> NoisePredictor:
    """A freshly initialised noise predictor; its weights are drawn from the config's seed.

    With zero_output the U-Net's last layer (tconv1) starts at zero, so the untrained network outputs
    0 everywhere instead of a random function of x_t. Between the modes, where training points are
    few, the trained network is still shaped by where it started, and there it decides which mode
    a sample goes to.
    """
    torch.manual_seed(config.seed)
    unet = UNet(channels=tuple(config.channels), embed_dim=config.embed_dim, fourier_scale=config.fourier_scale)
    if config.zero_output:
        if not isinstance(getattr(unet, "tconv1", None), torch.nn.ConvTranspose1d):
            raise ValueError("zero_output starts the U-Net's last layer, the ConvTranspose1d `tconv1` of ddpm.py's "
                             "TODO, at zero, and this UNet has none: name its last layer tconv1, or train with "
                             "--zero-output false")
        torch.nn.init.zeros_(unet.tconv1.weight)
        torch.nn.init.zeros_(unet.tconv1.bias)
    return NoisePredictor(unet, config.make_schedule().alphas_cumprod, prediction=config.prediction)


def timestep_probabilities(T: int, focus_weight: float) -> torch.Tensor:
    """p(t), (T,): proportional to focus_weight for t/T in FOCUS_WINDOW, to 1 elsewhere."""
    fraction = torch.arange(T) / T
    in_window = (fraction >= FOCUS_WINDOW[0]) & (fraction < FOCUS_WINDOW[1])
    weights = torch.where(in_window, focus_weight, 1.0)
    return weights / weights.sum()


def training_parts(config: TrainConfig, device: torch.device) -> TrainingParts:
    """Adam (fused: one kernel for all parameters) with a one-cycle learning rate, an EMA, and
    batches of the mixture: data x_0, t ~ timestep_probabilities, noise and label dropout drawn in
    that order."""
    model = build_model(config).to(device)
    ema = exponential_moving_average(model, config.ema_decay)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    data = problem_gmm(n_samples=config.n_data, seed=config.seed)
    schedule = config.make_schedule()
    t_probabilities = timestep_probabilities(config.T, config.t_focus_weight)

    def batch_loss(generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(len(data), (config.batch_size,), generator=generator)
        x_start, y = data.samples[index].to(device), data.labels[index]
        t = torch.multinomial(t_probabilities, config.batch_size, replacement=True, generator=generator).to(device)
        noise = torch.randn(x_start.shape, generator=generator).to(device)
        y = drop_labels(y, config.label_dropout, NULL_LABEL, generator=generator).to(device)
        return p_losses(model, schedule, x_start, t, y, noise=noise, loss_type=config.loss_type)

    return TrainingParts(model, optimizer, lr_schedule, batch_loss, ema)


RECIPE = Recipe(kind="two-pixel-ddpm", version=4, config_class=TrainConfig, train_command="python train.py",
                         build_model=build_model, training_parts=training_parts)


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[NoisePredictor, TrainConfig]:
    """The EMA weights of a trained two-pixel model, in eval mode, with the config that rebuilds its schedule."""
    return RECIPE.load(path, device)
