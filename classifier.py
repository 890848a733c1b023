"""A noise-conditional classifier p_phi(y | x_t, t) of two-pixel images, for classifier guidance.

    python classifier.py [--T 50] [--steps 1500] [--seed 0] [--ckpt checkpoints/classifier_T50_seed0.pt]

It is trained on noised data x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps at uniformly drawn t
with the cross-entropy of the clean image's label; utils.ClassifierGuidance then follows the
gradient of its log-probability. gmm.ExactClassifier is the exact p(y | x_t) it approximates.
"""
import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ddpm import GaussianFourierProjection
from gmm import NUM_CLASSES, problem_gmm
from train import CHECKPOINT_DIR, read_checkpoint, save_checkpoint
from utils import BETA_SCHEDULES, Schedule, q_sample, set_cpu_threads

CLASSIFIER_KIND = "two-pixel-noisy-classifier"
CLASSIFIER_VERSION = 1


@dataclass(frozen=True)
class ClassifierConfig:
    T: int = 50
    schedule: str = "cosine"
    hidden: int = 64
    embed_dim: int = 32
    steps: int = 1500
    batch_size: int = 512
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.T, int) or self.T < 1:
            raise ValueError(f"T must be an integer >= 1, got {self.T!r}")
        if self.schedule not in BETA_SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(BETA_SCHEDULES)}, got {self.schedule!r}")
        if min(self.steps, self.batch_size, self.hidden, self.embed_dim) < 1:
            raise ValueError("steps, batch_size, hidden and embed_dim must be at least 1")


class NoisyClassifier(nn.Module):
    """Logits of p(y | x_t, t): an MLP on the two pixels and Fourier features of t/T.

    x_t: (B, 1, 2); t: (B,) int64 indices 0..T-1. Returns (B, NUM_CLASSES).
    """

    def __init__(self, T: int, hidden: int = 64, embed_dim: int = 32):
        super().__init__()
        self.T = T
        self.time_features = GaussianFourierProjection(embed_dim, scale=2.0)
        self.net = nn.Sequential(nn.Linear(2 + embed_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, NUM_CLASSES))

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        time = self.time_features((t + 1).to(x_t.dtype) / self.T).to(x_t.dtype)
        return self.net(torch.cat([x_t.reshape(x_t.shape[0], 2), time], dim=-1))


def build_classifier(config: ClassifierConfig) -> NoisyClassifier:
    torch.manual_seed(config.seed)
    return NoisyClassifier(config.T, config.hidden, config.embed_dim)


def train_classifier(config: ClassifierConfig, ckpt: Path, progress: bool = True) -> NoisyClassifier:
    """Train with cross-entropy on noised samples and write the checkpoint (atomically)."""
    model = build_classifier(config)
    schedule = Schedule.make(config.schedule, config.T)
    data = problem_gmm(n_samples=50_000, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    for _ in tqdm(range(config.steps), desc=f"classifier T={config.T}", disable=not progress):
        index = torch.randint(len(data), (config.batch_size,), generator=generator)
        t = torch.randint(config.T, (config.batch_size,), generator=generator)
        x_t = q_sample(schedule, data.samples[index], t, generator=generator)
        loss = nn.functional.cross_entropy(model(x_t, t), data.labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_schedule.step()
    save_checkpoint(ckpt, {"kind": CLASSIFIER_KIND, "version": CLASSIFIER_VERSION, "config": asdict(config),
                           "model": model.state_dict()})
    return model.eval()


def load_classifier(path: Path) -> tuple[NoisyClassifier, ClassifierConfig]:
    """Read a classifier checkpoint safely (train.read_checkpoint), with a clear error for a wrong file."""
    state = read_checkpoint(path, CLASSIFIER_KIND, CLASSIFIER_VERSION, "python classifier.py")
    config = ClassifierConfig(**state["config"])
    model = build_classifier(config)
    model.load_state_dict(state["model"])
    return model.eval(), config


def main(argv: list[str] | None = None) -> None:
    defaults = ClassifierConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", type=int, default=defaults.T)
    parser.add_argument("--schedule", choices=sorted(BETA_SCHEDULES), default=defaults.schedule)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--ckpt", type=Path, default=None, help="default checkpoints/classifier_T{T}_seed{seed}.pt")
    args = parser.parse_args(argv)
    set_cpu_threads()
    try:
        config = ClassifierConfig(T=args.T, schedule=args.schedule, steps=args.steps, seed=args.seed)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    ckpt = args.ckpt or CHECKPOINT_DIR / f"classifier_T{config.T}_seed{config.seed}.pt"
    train_classifier(config, ckpt)
    print(f"saved {ckpt}")


if __name__ == "__main__":
    main()
