"""A noise-conditional classifier p_phi(y | x_t, t) of two-pixel images, for classifier guidance.

It is trained on noised data x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps at uniformly drawn t
with the cross-entropy of the clean image's label; samplers.ClassifierGuidance then follows the
gradient of its log-probability. gmm.ExactClassifier is the exact p(y | x_t) it approximates.
Trained by the project's one loop (training.py) through RECIPE; `python classifier.py` is its command.
"""
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ddpm import DEFAULT_FOURIER_SCALE, GaussianFourierProjection
from gmm import NUM_CLASSES, problem_gmm
from training import Recipe, TrainingParts
from utils import BETA_SCHEDULES, Schedule, q_sample


@dataclass(frozen=True)
class ClassifierConfig:
    T: int = 50
    schedule: str = "cosine"
    hidden: int = 64
    embed_dim: int = 32
    steps: int = 1500
    batch_size: int = 512
    lr: float = 3e-3
    n_data: int = 50_000  # size of the training set drawn from the mixture
    seed: int = 0

    def __post_init__(self):
        problems = []
        if not isinstance(self.T, int) or self.T < 1:
            problems.append(f"T must be an integer >= 1, got {self.T!r}")
        if self.schedule not in BETA_SCHEDULES:
            problems.append(f"schedule must be one of {sorted(BETA_SCHEDULES)}, got {self.schedule!r}")
        for name in ("steps", "batch_size", "hidden", "n_data"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.embed_dim < 2 or self.embed_dim % 2:
            problems.append(f"embed_dim must be a positive even number (sin and cos per frequency), got {self.embed_dim}")
        if self.lr <= 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if problems:
            raise ValueError("invalid classifier configuration: " + "; ".join(problems))

    def make_schedule(self) -> Schedule:
        return Schedule.make(self.schedule, self.T)


class NoisyClassifier(nn.Module):
    """Logits of p(y | x_t, t): an MLP with two hidden SiLU layers on [x_t, Fourier features of t/T],
    the time features as smooth as the U-Net's (the same scale).

    x_t: (B, 1, 2); t: (B,) int64 indices 0..T-1, seen as (t + 1) / T in (0, 1]. Returns (B, NUM_CLASSES).
    """

    def __init__(self, T: int, hidden: int, embed_dim: int):
        super().__init__()
        self.T = T
        self.time_features = GaussianFourierProjection(embed_dim, scale=DEFAULT_FOURIER_SCALE)
        self.net = nn.Sequential(nn.Linear(2 + embed_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, NUM_CLASSES))

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        time = self.time_features((t + 1).to(x_t.dtype) / self.T).to(x_t.dtype)
        return self.net(torch.cat([x_t.reshape(x_t.shape[0], 2), time], dim=-1))


def build_classifier(config: ClassifierConfig) -> NoisyClassifier:
    torch.manual_seed(config.seed)
    return NoisyClassifier(config.T, config.hidden, config.embed_dim)


def training_parts(config: ClassifierConfig, device: torch.device) -> TrainingParts:
    """Adam with a one-cycle learning rate; each batch draws, from the generator and in this order,
    the data x_0 (from n_data samples of the mixture), t, then the noise of q_sample."""
    model = build_classifier(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    data = problem_gmm(n_samples=config.n_data, seed=config.seed)
    schedule = config.make_schedule()

    def batch_loss(generator: torch.Generator) -> Tensor:
        index = torch.randint(len(data), (config.batch_size,), generator=generator)
        t = torch.randint(config.T, (config.batch_size,), generator=generator)
        x_t = q_sample(schedule, data.samples[index], t, generator=generator)
        return nn.functional.cross_entropy(model(x_t.to(device), t.to(device)), data.labels[index].to(device))

    return TrainingParts(model, optimizer, lr_schedule, batch_loss)


RECIPE = Recipe(kind="two-pixel-noisy-classifier", version=3, config_class=ClassifierConfig,
                         train_command="python classifier.py", build_model=build_classifier,
                         training_parts=training_parts)


def load_classifier(path: Path) -> tuple[NoisyClassifier, ClassifierConfig]:
    """A trained classifier in eval mode, with its config; a clear error for a wrong file."""
    return RECIPE.load(path)
