"""Compare two-pixel samples with the ground-truth mixture (or with another sample set).

    mode_statistics(gmm, x)   weight, mean and std of the samples assigned to each mode
    energy_distance(x, y)     a distance between two point clouds, stable at a few thousand points
    energy_noise_floor(x, n)  what energy_distance reads, on average, for two n-point sets of x's distribution
    energy_ratio(xs, ys)      E[energy_distance] of an n-set of X and one of Y over its noise floor, from R sets of each

The energy distance is read against its noise floor: its expected value for two independent sample
sets of one distribution. A ratio near 1 means the two distributions cannot be told apart with this
many points. One pair of sets is a poor estimate of the floor: the distance of two sets of one
distribution is spread like a chi-square with few degrees of freedom, so a single pair can read a
tenth of the floor or several times it; energy_ratio averages over every pair of points of R sets.

Points are (N, 2) or (N, 1, 2) tensors or arrays.
"""
import math
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
    reads (1/n + 1/m) E|X - X'| on average, its noise floor. Exact, in chunks: O(n m) time,
    O(chunk * m) memory. x: (n, 2), y: (m, 2).
    """
    return 2 * mean_distance(x, y, chunk) - mean_distance(x, x, chunk) - mean_distance(y, y, chunk)


def energy_noise_floor(x, n: int, chunk: int = 4096) -> float:
    """E[energy_distance] of two independent n-point sets of the distribution x is drawn from: 2 E|X - X'| / n.

    The V-statistic counts each point's zero distance to itself, so for sets of n and m points
    E[D_n,m] = D + E|X - X'| / n + E|Y - Y'| / m. E|X - X'| is estimated from x over distinct
    pairs (x: (N, 2), N >= 2).
    """
    points = _points(x)
    if len(points) < 2:
        raise ValueError(f"the noise floor needs at least 2 points to estimate E|X - X'|, got {len(points)}")
    return 2 * mean_distance(points, points, chunk) * len(points) / (len(points) - 1) / n


def mean_distance(a, b, chunk: int = 4096) -> float:
    """The mean of |a_i - b_j| over all n m pairs (with a = b, the n zeros of each point to itself too).
    a: (n, 2), b: (m, 2)."""
    a, b = _points(a), _points(b)
    total = sum(float(torch.cdist(a[i:i + chunk], b).sum()) for i in range(0, len(a), chunk))
    return total / (len(a) * len(b))


PROJECTIONS = 64
"""Directions of the projected distance: |z| = (pi/2) E|<u, z>| over unit vectors u at the angles
pi k / 64, k = 0..63, within 2.5e-4 of |z| at every angle (the average of |cos| over 64 equally spaced angles)."""


def projected_mean_distances(a_sets: list[Tensor], b_sets: list[Tensor] | None = None) -> Tensor:
    """M[i, j] = mean |a - b| over the points a of a_sets[i] and b of b_sets[j], (R_a, R_b). Without
    b_sets, the sets against themselves, (R_a, R_a), with M[i, i] over distinct points only.

    In two dimensions |z| = (pi/2) E_u |<u, z>| over directions u, and a mean of |a - b| on a line
    is exact from sorted values and their running sums, so each entry costs PROJECTIONS binary
    searches per point instead of n m distances.
    """
    angles = torch.arange(PROJECTIONS, dtype=torch.float64) * math.pi / PROJECTIONS
    directions = torch.stack([angles.cos(), angles.sin()])  # (2, K)
    lines = lambda sets: [torch.sort((_points(x) @ directions).T.contiguous(), dim=1).values  # noqa: E731
                          for x in sets]  # (K, N) each
    a_lines = lines(a_sets)
    b_lines = a_lines if b_sets is None else lines(b_sets)
    means = torch.empty(len(a_lines), len(b_lines), dtype=torch.float64)
    for i, a in enumerate(a_lines):
        running_sums = torch.nn.functional.pad(torch.cumsum(a, 1), (1, 0))  # (K, n + 1): sum of the k smallest
        for j, b in enumerate(b_lines):
            within = b_sets is None and i == j
            means[i, j] = float((_within_mean(a) if within else _cross_mean(a, running_sums, b)).mean())
    return math.pi / 2 * means


def _cross_mean(a: Tensor, running_sums: Tensor, b: Tensor) -> Tensor:
    """Per row, the mean of |a_i - b_j| over all n m pairs: a (K, n) sorted, its running sums (K, n + 1),
    b (K, m) -> (K,). With c of the a's below b (sum s, total S): sum_i |a_i - b| = c b - s + (S - s) - (n - c) b."""
    n = a.shape[1]
    below = torch.searchsorted(a, b)  # (K, m)
    sum_below, total = running_sums.gather(1, below), running_sums[:, -1:]
    per_b = (2 * below - n) * b - 2 * sum_below + total
    return per_b.sum(1) / (n * b.shape[1])


def _within_mean(a: Tensor) -> Tensor:
    """Per row, the mean of |a_i - a_j| over the n (n - 1) ordered pairs i != j: (K, n) sorted -> (K,).
    The k-th smallest value (k = 0..n-1) is above k values and below n - 1 - k."""
    n = a.shape[1]
    rank = torch.arange(n, dtype=torch.float64)
    return 2 * (a * (2 * rank - n + 1)).sum(1) / (n * (n - 1))


def energy_ratio(x_sets: list[Tensor], y_sets: list[Tensor]) -> tuple[float, float]:
    """How far X is from the reference Y, in units of the noise floor of n-point sets: (ratio, standard error).

    ratio = E[energy_distance(n-set of X, n-set of Y)] / E[energy_distance(two n-sets of Y)]
          = (D + (E|X - X'| + E|Y - Y'|) / n) / (2 E|Y - Y'| / n)
    (as in energy_noise_floor; 1 + D / floor when X and Y are equally spread), with the distance
    D = 2 E|X - Y| - E|X - X'| - E|Y - Y'| estimated without bias from all R n points of each side
    (distinct pairs only), so its noise falls like 1/R rather than 1/sqrt(R);
    the standard error is the jackknife's, leaving out one set of each side at a time (it overstates
    the spread of a ratio near 1, where the estimate is a degenerate U-statistic). 1 means X
    cannot be told from Y with n points; x_sets, y_sets: R >= 2 sets of n points each, (n, 2).
    """
    count, n = len(x_sets), len(x_sets[0])
    if count < 2 or len(y_sets) != count or any(len(s) != n for s in [*x_sets, *y_sets]):
        raise ValueError(f"energy_ratio needs R >= 2 sets of n points on each side, got {len(x_sets)} and "
                         f"{len(y_sets)} sets of sizes {[len(s) for s in x_sets]} and {[len(s) for s in y_sets]}")
    xy = projected_mean_distances(x_sets, y_sets)
    xx, yy = projected_mean_distances(x_sets), projected_mean_distances(y_sets)

    def ratio(keep: Tensor) -> float:
        def within(m: Tensor) -> float:  # the mean over distinct pairs of points of the kept sets
            m = m[keep][:, keep]
            sets = len(m)
            pairs = n * n * (m.sum() - m.diagonal().sum()) + n * (n - 1) * m.diagonal().sum()
            return float(pairs) / (sets * n * (sets * n - 1))
        x_spread, y_spread = within(xx), within(yy)
        distance = 2 * float(xy[keep][:, keep].mean()) - x_spread - y_spread
        return (distance + (x_spread + y_spread) / n) / (2 * y_spread / n)

    every = torch.ones(count, dtype=torch.bool)
    left_out = torch.tensor([ratio(every & (torch.arange(count) != i)) for i in range(count)])
    standard_error = math.sqrt((count - 1) / count * float(((left_out - left_out.mean()) ** 2).sum()))
    return ratio(every), standard_error
