"""Metrics against independent computations: scipy's 1-D energy distance, and the mixture's own parameters."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import energy_distance as scipy_energy_distance
from scipy.stats import norm

from gmm import PROBLEM_MEANS, PROBLEM_STD, PROBLEM_WEIGHTS
from metrics import energy_distance, mode_statistics


def test_energy_distance_matches_scipy_on_a_line():
    """scipy's 1-D energy distance is the square root of 2E|X-Y| - E|X-X'| - E|Y-Y'|."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 700), rng.normal(0.3, 1.5, 500)
    on_line = lambda v: np.stack([v, np.zeros_like(v)], -1)  # noqa: E731
    assert energy_distance(on_line(a), on_line(b), chunk=128) == pytest.approx(scipy_energy_distance(a, b) ** 2, rel=1e-9)


def test_energy_distance_basic_properties():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    y = x + torch.tensor([0.5, 0.0])
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert energy_distance(x, y) == pytest.approx(energy_distance(y, x), rel=1e-12)
    assert energy_distance([[0.0, 0.0]], [[3.0, 4.0]]) == pytest.approx(10.0), "two points: 2 |a - b|"
    assert energy_distance(x, y) > energy_distance(x, x + torch.tensor([0.1, 0.0])) > 0


def test_energy_distance_separates_a_wrong_std_from_the_noise_floor(gmm):
    """At 4,000 points, a 10% wider mixture reads well above two sets of the true one."""
    g = torch.Generator().manual_seed(1)
    a, b = gmm.sample(4_000, generator=g)[0], gmm.sample(4_000, generator=g)[0]
    labels = gmm.classify(b.squeeze(1))
    wider = gmm.means[labels].float() + 1.3 * (b.squeeze(1) - gmm.means[labels].float())
    assert energy_distance(a, wider) > 3 * energy_distance(a, b)


def test_mode_statistics_recover_the_mixture(gmm):
    stats = mode_statistics(gmm, gmm.samples)
    for k in (0, 1):
        assert stats.weights[k] == pytest.approx(PROBLEM_WEIGHTS[k], abs=0.012)
        np.testing.assert_allclose(stats.means[k], PROBLEM_MEANS[k], atol=0.005)
        assert stats.stds[k] == pytest.approx(PROBLEM_STD, rel=0.03)
    beyond_3_sigma = 1 - (norm.cdf(3) - norm.cdf(-3)) ** 2  # either pixel of an isotropic Gaussian
    assert stats.outlier_fraction == pytest.approx(beyond_3_sigma, abs=0.0025)


def test_mode_statistics_of_an_empty_mode_is_nan(gmm):
    stats = mode_statistics(gmm, torch.tensor([[0.75, -0.45], [0.7, -0.4]]))
    assert stats.weights == [0.0, 1.0]
    assert math.isnan(stats.stds[0]) and math.isnan(stats.means[0][0])


def test_mode_statistics_on_small_modes_match_numpy(gmm):
    """Two points in mode 0 and three in mode 1: the weights, the means and the unbiased std (ddof = 1)."""
    points = np.array([[-0.3, 0.6], [-0.4, 0.75], [0.7, -0.5], [0.8, -0.4], [0.9, -0.45]])
    for as_input in (points, torch.from_numpy(points).float().reshape(5, 1, 2)):
        stats = mode_statistics(gmm, as_input)
        assert stats.weights == [pytest.approx(0.4), pytest.approx(0.6)]
        for k, members in enumerate((points[:2], points[2:])):
            np.testing.assert_allclose(stats.means[k], members.mean(0), atol=1e-6)
            assert stats.stds[k] == pytest.approx(math.sqrt(members.var(0, ddof=1).mean()), rel=1e-5)
    empty = mode_statistics(gmm, points[2:])
    assert len(empty.means[0]) == 2 and all(math.isnan(v) for v in empty.means[0])
