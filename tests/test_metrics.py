"""Metrics against independent computations: scipy's 1-D energy distance, and the mixture's own parameters."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import energy_distance as scipy_energy_distance
from scipy.stats import multivariate_normal, norm

from gmm import GMM, PROBLEM_MEANS, PROBLEM_STD, PROBLEM_WEIGHTS
from metrics import energy_distance, energy_noise_floor, energy_ratio, mean_distance, mode_statistics, projected_mean_distances


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



def _pair_distances(gmm, n: int, pairs: int, seed: int, transform=lambda x: x) -> torch.Tensor:
    """energy_distance of `pairs` independent pairs (transform(set), set) of n-point sets of the mixture."""
    g = torch.Generator().manual_seed(seed)
    return torch.tensor([energy_distance(transform(gmm.sample(n, generator=g)[0]), gmm.sample(n, generator=g)[0])
                         for _ in range(pairs)])


def test_energy_ratio_is_the_mean_distance_of_pairs_of_sets_over_that_of_the_reference(gmm):
    """What energy_ratio reads from 20 sets of 50 points, against its definition computed by brute
    force: the mean energy_distance of 1,000 pairs (X set, Y set) over that of 1,000 pairs of Y sets
    (each mean within about 5%). X is the mixture stretched 2x about its modes."""
    def stretched(x):
        labels = gmm.classify(x.squeeze(1))
        return gmm.means[labels].float() + 2 * (x.squeeze(1) - gmm.means[labels].float())

    by_definition = float(_pair_distances(gmm, 50, 1_000, 5, stretched).mean()
                          / _pair_distances(gmm, 50, 1_000, 6).mean())
    g = torch.Generator().manual_seed(7)
    x_sets = [stretched(gmm.sample(50, generator=g)[0]) for _ in range(20)]
    y_sets = [gmm.sample(50, generator=g)[0].squeeze(1) for _ in range(20)]
    ratio, standard_error = energy_ratio(x_sets, y_sets)
    assert by_definition > 1.3, "the stretch is visible at 50 points"
    assert ratio == pytest.approx(by_definition, rel=0.15)
    assert 0 < standard_error < ratio - 1


def test_energy_ratio_of_one_distribution_is_one_where_a_single_pair_of_sets_is_not(gmm):
    """Four pools of 10 x 500 points of the mixture read within 0.15 of 1, while the ratio of two
    single pairs of 500-point sets (the old benchmark's 'energy over the floor') exceeds 2 on a
    tenth of the draws or more. Both spreads are those of 2,000-point sets (over 60 pools the
    ratio's standard deviation was 0.10 with 500 points and 0.11 with 2,000; the share over 2 of
    single pairs stays well above a tenth): the floor the ratio is measured in shrinks with n as the
    distance does, so 500 points test the same thing at a fifth of the time."""
    g = torch.Generator().manual_seed(8)
    for _ in range(4):
        sets = [gmm.sample(500, generator=g)[0] for _ in range(20)]
        assert energy_ratio(sets[:10], sets[10:])[0] == pytest.approx(1, abs=0.15)
    distances = _pair_distances(gmm, 500, 100, seed=9)
    assert float((distances[:50] / distances[50:] > 2).double().mean()) > 0.1


def test_energy_noise_floor_is_the_mean_distance_of_two_sets_of_one_distribution(gmm):
    """Over 1,000 pairs of 50-point sets the mean distance (relative sd about 5%) lands on
    2 E|X - X'| / n, where (1/n) E|X - X'| would miss by half. E|X - X'| leaves out each point's
    zero distance to itself: for two points it is their distance, not half of it."""
    mean_of_pairs = float(_pair_distances(gmm, 50, 1_000, seed=6).mean())
    assert energy_noise_floor(gmm.samples[:4_000], 50) == pytest.approx(mean_of_pairs, rel=0.15)
    assert energy_noise_floor([[0.0, 0.0], [3.0, 4.0]], 10) == pytest.approx(2 * 5.0 / 10)
    with pytest.raises(ValueError, match="at least 2 points"):
        energy_noise_floor([[0.0, 0.0]], 10)


def test_projected_mean_distances_match_the_exact_ones(gmm):
    a, b = gmm.samples[:1_500, 0], gmm.samples[1_500:2_500, 0]
    means = projected_mean_distances([a, b], [b])
    assert means.shape == (2, 1)
    assert float(means[0, 0]) == pytest.approx(mean_distance(a, b), rel=3e-4), "64 directions: within 2.5e-4"
    assert float(means[1, 0]) == pytest.approx(mean_distance(b, b), rel=3e-4)
    within = projected_mean_distances([a])
    assert float(within[0, 0]) == pytest.approx(mean_distance(a, a) * 1_500 / 1_499, rel=3e-4), "distinct pairs only"


def test_energy_ratio_refuses_unmatched_sets(gmm):
    sets = [gmm.samples[i * 100:(i + 1) * 100, 0] for i in range(4)]
    with pytest.raises(ValueError, match="R >= 2 sets of n points on each side"):
        energy_ratio(sets[:1], sets[1:2])
    with pytest.raises(ValueError, match="sizes"):
        energy_ratio(sets[:2], [sets[2], sets[3][:50]])


def test_mean_distance_counts_every_pair():
    a, b = [[0.0, 0.0], [0.0, 2.0]], [[3.0, 0.0]]
    assert mean_distance(a, b) == pytest.approx((3.0 + math.sqrt(13.0)) / 2)
    assert mean_distance(a, a, chunk=1) == pytest.approx(2 * 2.0 / 4), "the two zeros are in the mean"


@pytest.mark.parametrize("stds, weights", [((0.1, 0.1), (0.35, 0.65)), ((0.05, 0.2), (0.8, 0.2))])
def test_modes_are_assigned_by_the_mixtures_posterior_near_the_boundary(stds, weights):
    """mode_statistics counts a point in the mode of highest posterior w_k N(x; mu_k, s_k^2 I),
    computed here with scipy: on a dense segment across the boundary, where a rule that drops the
    weights or the normalisation would disagree."""
    means = [(-0.35, 0.65), (0.75, -0.45)]
    mixture = GMM(means, list(stds), list(weights), n_samples=1)
    along = np.linspace(0, 1, 4001)[:, None]
    points = np.asarray(means[0]) * (1 - along) + np.asarray(means[1]) * along  # (4001, 2)
    joint = np.stack([w * multivariate_normal(mean, s**2 * np.eye(2)).pdf(points)
                      for mean, s, w in zip(means, stds, weights)], axis=1)
    expected = joint.argmax(axis=1)
    assert 0 < expected.sum() < len(expected)
    decisive = np.abs(np.log(joint[:, 0]) - np.log(joint[:, 1])) > 1e-9
    stats = mode_statistics(mixture, torch.as_tensor(points[decisive]))
    assert stats.weights[1] == pytest.approx(expected[decisive].mean(), abs=0)
    np.testing.assert_array_equal(mixture.classify(torch.as_tensor(points)).numpy()[decisive], expected[decisive])
