"""The ground-truth mixture: the Dataset, its exact densities and the exact noise predictor."""
import math

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import multivariate_normal, norm

from gmm import DATA_RANGE, GMM, NULL_LABEL, PROBLEM_MEANS, PROBLEM_STD, PROBLEM_WEIGHTS, problem_gmm


def test_dataset_items_have_starter_shapes(gmm):
    x, y = gmm[0]
    assert x.shape == (1, 2) and x.dtype == torch.float32
    assert y.shape == () and y.dtype == torch.int64
    assert len(gmm) == 20_000


def test_samples_follow_the_problem_mixture(gmm):
    x, y = gmm.samples.squeeze(1).double(), gmm.labels
    assert (x.abs() < DATA_RANGE).all()
    # 20,000 draws: the weight's standard error is 0.0034, the mean's 0.1/sqrt(7000) ~ 0.0012
    assert abs(float((y == 1).double().mean()) - PROBLEM_WEIGHTS[1]) < 0.015
    for k in (0, 1):
        members = x[y == k]
        torch.testing.assert_close(members.mean(0), torch.tensor(PROBLEM_MEANS[k], dtype=torch.float64), atol=0.006, rtol=0)
        assert abs(float(members.std(0).mean()) - PROBLEM_STD) < 0.004


def test_truncation_keeps_only_the_square():
    wide = GMM([[1.4, 0.0]], [0.5], [1.0], n_samples=5_000, seed=0)
    assert (wide.samples.abs() < DATA_RANGE).all() and len(wide) == 5_000


def test_same_seed_same_data():
    assert torch.equal(problem_gmm(100, seed=4).samples, problem_gmm(100, seed=4).samples)
    assert not torch.equal(problem_gmm(100, seed=4).samples, problem_gmm(100, seed=5).samples)


@pytest.mark.parametrize("kwargs, message", [
    (dict(means=[[0.0, 0.0, 0.0]], std_devs=[0.1], mix_weights=[1.0]), "means must have shape"),
    (dict(means=[[0.0, 0.0]], std_devs=[0.1, 0.2], mix_weights=[1.0]), "one entry per component"),
    (dict(means=[[0.0, 0.0]], std_devs=[-0.1], mix_weights=[1.0]), "std_devs must be positive"),
    (dict(means=[[0.0, 0.0]], std_devs=[0.0], mix_weights=[1.0]), "std_devs must be positive"),
    (dict(means=[[0.0, 0.0]] * 2, std_devs=[0.1] * 2, mix_weights=[1.0, 0.0]), "mix_weights must be positive"),
    (dict(means=[[0.0, 0.0]], std_devs=[0.1], mix_weights=[1.0], n_samples=0), "n_samples must be at least 1"),
    (dict(means=[[0.0, 0.0]] * 2, std_devs=[0.1] * 2, mix_weights=[0.5, 0.6]), "sum to 1"),
])
def test_invalid_mixture_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GMM(**kwargs)


def test_density_integrates_to_its_mass_on_the_square(gmm):
    """Riemann sum of the density over the plotted square against the closed-form normal CDF mass."""
    width = 2 * DATA_RANGE / 600
    centres = -DATA_RANGE + width * (torch.arange(600, dtype=torch.float64) + 0.5)
    xx, yy = torch.meshgrid(centres, centres, indexing="xy")
    for alpha_bar in (1.0, 0.5, 0.1):
        riemann = float(gmm.density(torch.stack([xx, yy], -1), alpha_bar).sum() * width**2)
        std = math.sqrt(alpha_bar * PROBLEM_STD**2 + 1 - alpha_bar)
        expected = sum(w * math.prod(norm.cdf((DATA_RANGE - math.sqrt(alpha_bar) * m) / std)
                                     - norm.cdf((-DATA_RANGE - math.sqrt(alpha_bar) * m) / std) for m in mean)
                       for mean, w in zip(PROBLEM_MEANS, PROBLEM_WEIGHTS))
        assert riemann == pytest.approx(expected, abs=1e-3)


def test_log_prob_matches_scipy_free_formula(gmm):
    x = torch.tensor([[0.1, 0.2], [-0.35, 0.65]], dtype=torch.float64)
    v = PROBLEM_STD**2
    expected = sum(w * torch.exp(-((x - torch.tensor(m, dtype=torch.float64)) ** 2).sum(-1) / (2 * v)) / (2 * math.pi * v)
                   for m, w in zip(PROBLEM_MEANS, PROBLEM_WEIGHTS))
    torch.testing.assert_close(gmm.density(x), expected)


def test_class_posterior_is_bayes_rule_with_scipys_densities(gmm):
    """p(k | x_t) = w_k N(x_t; sqrt(abar) mu_k, v_k I) / sum_j w_j N(x_t; sqrt(abar) mu_j, v_j I) with
    v_k = abar s_k^2 + 1 - abar, the log densities from scipy (normalised in log space: far from
    both modes at abar = 1 the densities themselves underflow)."""
    x = torch.randn(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for alpha_bar in (1.0, 0.7, 0.05):
        variance = alpha_bar * PROBLEM_STD**2 + 1 - alpha_bar
        log_joint = np.stack([math.log(w) + multivariate_normal(math.sqrt(alpha_bar) * np.asarray(m), variance * np.eye(2))
                              .logpdf(x.numpy()) for m, w in zip(PROBLEM_MEANS, PROBLEM_WEIGHTS)], axis=1)
        torch.testing.assert_close(gmm.class_posterior(x, alpha_bar), torch.from_numpy(softmax(log_joint, axis=1)))


@pytest.mark.parametrize("alpha_bar", [0.999, 0.6, 0.2, 1e-4])
def test_exact_eps_is_minus_scaled_score_by_autograd(gmm, alpha_bar):
    """eps* = -sqrt(1 - abar) grad log q(x_t), unconditional and for each label."""
    x = (1.3 * torch.randn(64, 1, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))).requires_grad_()
    abar = torch.full((64,), alpha_bar, dtype=torch.float64)
    (score_unconditional,) = torch.autograd.grad(gmm.log_prob(x, abar[:, None]).sum(), x)
    y_null = torch.full((64,), NULL_LABEL)
    torch.testing.assert_close(gmm.exact_eps(x.detach(), abar, y_null), -math.sqrt(1 - alpha_bar) * score_unconditional)
    for k in (0, 1):
        log_component = gmm.component_log_probs(x, abar[:, None])[..., k]
        (score_k,) = torch.autograd.grad(log_component.sum(), x)
        torch.testing.assert_close(gmm.exact_eps(x.detach(), abar, torch.full((64,), k)), -math.sqrt(1 - alpha_bar) * score_k)


def test_exact_eps_mixes_labels_per_sample(gmm):
    x = torch.randn(6, 1, 2, dtype=torch.float64)
    abar = torch.full((6,), 0.3, dtype=torch.float64)
    y = torch.tensor([0, 1, NULL_LABEL, 1, 0, NULL_LABEL])
    mixed = gmm.exact_eps(x, abar, y)
    for i in range(6):
        torch.testing.assert_close(mixed[i], gmm.exact_eps(x[i:i + 1], abar[i:i + 1], y[i:i + 1])[0])
    torch.testing.assert_close(gmm.exact_eps(x, abar), gmm.exact_eps(x, abar, torch.full((6,), NULL_LABEL)))


def test_exact_eps_is_the_posterior_mean_of_the_noise(gmm):
    """Monte Carlo: regress eps on x_t near one point; E[eps | x_t] must equal eps*(x_t)."""
    g = torch.Generator().manual_seed(0)
    n, alpha_bar = 400_000, 0.5
    x0, _ = gmm.sample(n, generator=g)
    eps = torch.randn(x0.shape, generator=g)
    x_t = math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * eps
    point = torch.tensor([0.1, 0.1])
    near = ((x_t.squeeze(1) - point).norm(dim=-1) < 0.1)
    empirical = eps.squeeze(1)[near].mean(0)
    exact = gmm.exact_eps(point.reshape(1, 1, 2).double(), torch.tensor([alpha_bar], dtype=torch.float64))[0, 0]
    assert near.sum() > 2_000
    torch.testing.assert_close(empirical.double(), exact, atol=0.06, rtol=0)


def test_defaults_are_the_clean_data_and_any_batch_shape_works(gmm):
    x = torch.randn(4, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(gmm.log_prob(x), gmm.log_prob(x, 1.0))
    torch.testing.assert_close(gmm.class_posterior(x), gmm.class_posterior(x, 1.0))
    posterior = gmm.class_posterior(x, 0.5)
    assert posterior.shape == (4, 3, 2)
    torch.testing.assert_close(posterior.sum(-1), torch.ones(4, 3, dtype=torch.float64))
    assert torch.equal(gmm.classify(x), gmm.class_posterior(x).argmax(-1)) and gmm.classify(x).shape == (4, 3)
    torch.testing.assert_close(gmm.classify(x).flatten(), gmm.classify(x.reshape(12, 2)))


def test_noised_components_are_exact_in_float64(gmm):
    means, variances = gmm.noised_components(0.3)
    assert means.dtype == variances.dtype == torch.float64
    expected = math.sqrt(0.3) * torch.tensor(PROBLEM_MEANS, dtype=torch.float64)
    torch.testing.assert_close(means, expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(variances, torch.full((2,), 0.3 * PROBLEM_STD**2 + 0.7, dtype=torch.float64),
                               rtol=1e-14, atol=0)


def test_exact_eps_keeps_the_input_dtype_and_works_on_flat_points(gmm):
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(2))
    alpha_bar = torch.linspace(0.05, 0.95, 8)
    flat = gmm.exact_eps(x, alpha_bar)
    assert flat.dtype == torch.float32 and flat.shape == (8, 2)
    torch.testing.assert_close(flat, gmm.exact_eps(x.reshape(8, 1, 2), alpha_bar).reshape(8, 2))


def test_the_mixture_is_held_in_float64_and_problem_gmm_defaults_to_seed_0():
    mixture = GMM([[0.1, 0.2]], [0.3], [1.0], n_samples=5)
    assert mixture.means.dtype == mixture.std_devs.dtype == mixture.mix_weights.dtype == torch.float64
    default = problem_gmm()
    assert len(default) == 10_000 and torch.equal(default.samples, problem_gmm(n_samples=10_000, seed=0).samples)


def test_sample_is_the_truncated_mixture_draw_from_the_generator():
    """One batch: labels y ~ Categorical(w), x = mu_y + sigma_y eps with eps ~ N(0, I) in float64,
    all inside the square here, so x is that batch and the generator has moved past exactly one batch."""
    gmm = GMM([[0.5, 0.5], [-0.5, 0.0]], [0.05, 0.1], [0.3, 0.7], n_samples=1)
    x, y = gmm.sample(64, generator=torch.Generator().manual_seed(3))
    by_hand = torch.Generator().manual_seed(3)
    expected_y = torch.multinomial(gmm.mix_weights, 64, replacement=True, generator=by_hand)
    noise = torch.randn(64, 2, generator=by_hand, dtype=torch.float64)
    expected_x = gmm.means[expected_y] + gmm.std_devs[expected_y, None] * noise
    assert torch.equal(y, expected_y)
    assert torch.equal(x, expected_x.float().unsqueeze(1))
    generator = torch.Generator().manual_seed(3)
    gmm.sample(64, generator=generator)
    assert torch.equal(generator.get_state(), by_hand.get_state()), "no batch drawn beyond the one needed"


def test_the_stored_data_set_defaults_to_seed_zero():
    default, seeded = GMM([[0.5, 0.5]], [0.1], [1.0], n_samples=50), GMM([[0.5, 0.5]], [0.1], [1.0], n_samples=50, seed=0)
    assert torch.equal(default.samples, seeded.samples)
