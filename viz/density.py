"""Densities on the plotted square: the exact one from gmm.py, or one estimated from samples.

Every density here lives on the same RESOLUTION x RESOLUTION grid of cell centres over
(-DATA_RANGE, DATA_RANGE)^2 and is normalised per unit area, so `density.sum() * cell_area()`
is the probability mass inside the square (about 1 for the data, less for very noisy x_t).
"""
import numpy as np
import torch
from scipy.stats import gaussian_kde

from gmm import DATA_RANGE, GMM

RESOLUTION = 120
ESTIMATORS = ("kde", "hist")


def cell_centres(resolution: int = RESOLUTION) -> np.ndarray:
    """(resolution,) centres of the grid cells along one axis."""
    width = 2 * DATA_RANGE / resolution
    return -DATA_RANGE + width * (np.arange(resolution) + 0.5)


def cell_area(resolution: int = RESOLUTION) -> float:
    return (2 * DATA_RANGE / resolution) ** 2


def grid_points(resolution: int = RESOLUTION) -> np.ndarray:
    """(resolution^2, 2) points, row-major with the right pixel as row: reshape to (R, R) for imshow."""
    centres = cell_centres(resolution)
    left, right = np.meshgrid(centres, centres, indexing="xy")
    return np.stack([left.ravel(), right.ravel()], axis=-1)


def exact_density(gmm: GMM, alpha_bar: float, resolution: int = RESOLUTION) -> np.ndarray:
    """q(x_t) of the mixture at noise level abar on the grid, (R, R)."""
    points = torch.from_numpy(grid_points(resolution))
    return gmm.density(points, alpha_bar).numpy().reshape(resolution, resolution)


BANDWIDTH_SHRINKS = (1, 2, 4, 8)
"""Candidate bandwidths of the KDE: Scott's rule divided by these."""


def estimate_density(samples, method: str = "kde", resolution: int = RESOLUTION) -> np.ndarray:
    """Density of samples (N, 2) on the grid, (R, R): Gaussian KDE or 2-D histogram.

    Both are normalised over all N samples, so mass outside the square is not put back inside.
    The KDE's bandwidth is chosen by held-out likelihood among Scott's rule / BANDWIDTH_SHRINKS:
    Scott's rule scales with the spread of *all* samples, which for two narrow modes far apart is
    several times too wide and would blur them into ridges.
    """
    points = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
    if method == "kde":
        return _kde(points)(grid_points(resolution).T).reshape(resolution, resolution)
    if method == "hist":
        edges = np.linspace(-DATA_RANGE, DATA_RANGE, resolution + 1)
        counts, _, _ = np.histogram2d(points[:, 1], points[:, 0], bins=[edges, edges])
        return counts / (len(points) * cell_area(resolution))
    raise ValueError(f"unknown density estimator {method!r}; choose one of {ESTIMATORS}")


def _kde(points: np.ndarray) -> gaussian_kde:
    """Gaussian KDE of points (N, 2), bandwidth by likelihood of every other point under the rest."""
    fit, held_out = points[::2], points[1::2]
    scott = gaussian_kde(fit.T).scotts_factor()
    scores = [np.log(gaussian_kde(fit.T, bw_method=scott / shrink)(held_out.T) + 1e-300).mean()
              for shrink in BANDWIDTH_SHRINKS]
    best = BANDWIDTH_SHRINKS[int(np.argmax(scores))]
    return gaussian_kde(points.T, bw_method=gaussian_kde(points.T).scotts_factor() / best)
