"""Compare two-pixel samples with the ground-truth mixture (or with another sample set).

    mode_statistics(gmm, x)   weight, mean and std of the samples assigned to each mode
    energy_distance(x, y)     a distance between two point clouds, stable at a few thousand points

The energy distance is read against its noise floor: the distance between two independent sample
sets of one distribution (two runs of the exact denoiser with other seeds). A ratio near 1 means
the two distributions cannot be told apart with this many points.

Points are (N, 2) or (N, 1, 2) tensors or arrays.
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gmm import GMM


def _points(x) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).double().reshape(-1, 2)


@dataclass(frozen=True)
class ModeStatistics:
    """Per mode k: the fraction of samples assigned to it, their mean (2,) and isotropic std."""

    weights: list[float]
    means: list[tuple[float, float]]
    stds: list[float]
    outlier_fraction: float  # samples farther than 3 std (the data's) from their mode's mean, per axis


def mode_statistics(gmm: GMM, x) -> ModeStatistics:
    """Assign each sample to its most probable mixture component and summarise each mode.

    std is the isotropic standard deviation sqrt(mean over both pixels of the per-pixel variance);
    a mode with no samples gets nan. An outlier is beyond 3 sigma_k of mean mu_k in either pixel.
    """
    points = _points(x)
    labels = gmm.classify(points)
    weights, means, stds = [], [], []
    for k in range(gmm.num_components):
        members = points[labels == k]
        weights.append(len(members) / len(points))
        means.append(tuple(members.mean(0).tolist()) if len(members) else (float("nan"),) * 2)
        stds.append(float(members.var(0, unbiased=True).mean().sqrt()) if len(members) > 1 else float("nan"))
    deviation = (points - gmm.means[labels]).abs() / gmm.std_devs[labels, None]
    return ModeStatistics(weights, means, stds, float((deviation > 3).any(-1).double().mean()))


def energy_distance(x, y, chunk: int = 4096) -> float:
    """Energy distance D = 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistic, so D >= 0).

    Zero only when the two distributions are equal; for two finite samples of one distribution it
    reads about (1/n + 1/m) E|X - X'|, its noise floor. Exact, in chunks: O(n m) time,
    O(chunk * m) memory. x: (n, 2), y: (m, 2).
    """
    x, y = _points(x), _points(y)
    return 2 * _mean_distance(x, y, chunk) - _mean_distance(x, x, chunk) - _mean_distance(y, y, chunk)


def _mean_distance(a: Tensor, b: Tensor, chunk: int) -> float:
    total = sum(float(torch.cdist(a[i:i + chunk], b).sum()) for i in range(0, len(a), chunk))
    return total / (len(a) * len(b))
