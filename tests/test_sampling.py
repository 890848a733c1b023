"""The reverse step, the sampling loop and classifier-free guidance: hand-computed values and the exact denoiser."""
import math

import pytest
import torch

from gmm import NULL_LABEL, PROBLEM_MEANS, PROBLEM_STD, PROBLEM_WEIGHTS
from metrics import mode_statistics
from samplers import sample
from utils import Schedule, drop_labels, guided_eps, p_sample, p_sample_loop


class LabelDenoiser:
    """A mock denoiser: eps = x_t + 10 * label (the null label included), to see what was mixed."""
    null_label = NULL_LABEL

    def __init__(self):
        self.calls = 0

    def __call__(self, x_t, t, y):
        self.calls += 1
        return x_t + 10.0 * y.to(x_t.dtype).reshape(-1, 1, 1)


def test_one_reverse_step_matches_hand_computation():
    schedule = Schedule.make("cosine", 10)
    t = 6
    beta, abar = float(schedule.betas[t]), float(schedule.alphas_cumprod[t])
    abar_prev = float(schedule.alphas_cumprod[t - 1])
    x = torch.tensor([[[0.3, -0.2]]], dtype=torch.float64)
    z = torch.tensor([[[0.5, 1.5]]], dtype=torch.float64)
    y = torch.tensor([1])
    eps = x + 10.0  # what LabelDenoiser returns for label 1
    sigma = math.sqrt((1 - abar_prev) / (1 - abar) * beta)
    expected = (x - beta / math.sqrt(1 - abar) * eps) / math.sqrt(1 - beta) + sigma * z
    torch.testing.assert_close(p_sample(LabelDenoiser(), schedule, x, t, y, noise=z), expected)


def test_last_step_adds_no_noise():
    schedule = Schedule.make("cosine", 10)
    x, y = torch.randn(4, 1, 2), torch.zeros(4, dtype=torch.long)
    a = p_sample(LabelDenoiser(), schedule, x, 0, y, generator=torch.Generator().manual_seed(1))
    b = p_sample(LabelDenoiser(), schedule, x, 0, y, noise=torch.full_like(x, 100.0))
    beta, abar = float(schedule.betas[0]), float(schedule.alphas_cumprod[0])
    expected = (x - beta / math.sqrt(1 - abar) * x) / math.sqrt(1 - beta)
    torch.testing.assert_close(a, expected)
    torch.testing.assert_close(b, expected)
    # one step earlier, noise is added
    c = p_sample(LabelDenoiser(), schedule, x, 1, y, noise=torch.zeros_like(x))
    d = p_sample(LabelDenoiser(), schedule, x, 1, y, noise=torch.ones_like(x))
    assert not torch.allclose(c, d)


def test_classifier_free_guidance_formula():
    x, t = torch.zeros(3, 1, 2), torch.zeros(3, dtype=torch.long)
    y = torch.tensor([0, 1, NULL_LABEL])
    w = 2.5
    eps = guided_eps(LabelDenoiser(), x, t, y, guidance_weight=w)
    # (1 + w) eps(y) - w eps(null) = (1 + w) 10 y - w 10 null
    expected = torch.tensor([(1 + w) * 0 - w * 20, (1 + w) * 10 - w * 20, 20.0]).reshape(3, 1, 1).expand(3, 1, 2)
    torch.testing.assert_close(eps, expected)
    one = guided_eps(LabelDenoiser(), x, t, y, guidance_weight=1.0)  # w = 1 still mixes: 2 eps(y) - eps(null)
    torch.testing.assert_close(one, torch.tensor([-20.0, 0.0, 20.0]).reshape(3, 1, 1).expand(3, 1, 2))
    torch.testing.assert_close(guided_eps(LabelDenoiser(), x, t, y), LabelDenoiser()(x, t, y), msg="w defaults to 0")


def test_guidance_weight_zero_is_the_conditional_model_in_one_call():
    denoiser = LabelDenoiser()
    x, t, y = torch.randn(3, 1, 2), torch.zeros(3, dtype=torch.long), torch.tensor([0, 1, 1])
    torch.testing.assert_close(guided_eps(denoiser, x, t, y, 0.0), denoiser(x, t, y))
    assert denoiser.calls == 2


def test_label_dropout_is_per_sample():
    y = torch.ones(20_000, dtype=torch.long)
    dropped = drop_labels(y, 0.3, NULL_LABEL, generator=torch.Generator().manual_seed(0))
    fraction = float((dropped == NULL_LABEL).double().mean())
    assert abs(fraction - 0.3) < 0.015, "about p of the labels are dropped (3 standard errors)"
    assert set(dropped.unique().tolist()) == {1, NULL_LABEL}, "only the null label replaces a label"
    for start in range(0, 20_000, 64):  # every batch of 64 mixes kept and dropped labels
        batch = dropped[start:start + 64]
        assert (batch == NULL_LABEL).any() and (batch == 1).any()
    assert torch.equal(drop_labels(y, 0.0, NULL_LABEL), y)
    assert (drop_labels(y, 1.0, NULL_LABEL) == NULL_LABEL).all()
    same = drop_labels(y, 0.3, NULL_LABEL, generator=torch.Generator().manual_seed(0))
    assert torch.equal(dropped, same)


def test_trajectory_is_indexed_by_paper_t():
    schedule = Schedule.make("cosine", 7)
    x_T, y = torch.randn(5, 1, 2), torch.zeros(5, dtype=torch.long)
    trajectory = p_sample_loop(LabelDenoiser(), schedule, x_T, y, generator=torch.Generator().manual_seed(3),
                               record_trajectory=True)
    final = p_sample_loop(LabelDenoiser(), schedule, x_T, y, generator=torch.Generator().manual_seed(3))
    assert trajectory.shape == (8, 5, 1, 2)
    torch.testing.assert_close(trajectory[7], x_T)
    torch.testing.assert_close(trajectory[0], final)


def test_same_seed_same_samples(gmm):
    schedule = Schedule.make("cosine", 20)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    draw = lambda seed: sample(denoiser, schedule, 50, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(0), draw(0))
    assert not torch.allclose(draw(0), draw(1))


def test_exact_denoiser_reproduces_the_mixture(gmm):
    """T = 1000 ancestral steps with eps*: weights, means and stds of the data.

    Ancestral sampling with sigma_t^2 = betatilde_t shrinks each mode slightly (0.097 instead of
    0.1 at T = 1000; 0.08 at T = 50): the tolerance on the std allows for that.
    """
    schedule = Schedule.make("cosine", 1000)
    x = sample(gmm.exact_denoiser(schedule.alphas_cumprod), schedule, 2_000, generator=torch.Generator().manual_seed(0))
    stats = mode_statistics(gmm, x)
    for k in (0, 1):
        assert abs(stats.weights[k] - PROBLEM_WEIGHTS[k]) < 0.035  # 3 standard errors at n = 2000
        torch.testing.assert_close(torch.tensor(stats.means[k]), torch.tensor(PROBLEM_MEANS[k]), atol=0.012, rtol=0)
        assert abs(stats.stds[k] - PROBLEM_STD) < 0.007


@pytest.mark.parametrize("label", [0, 1])
def test_exact_conditional_samples_land_in_their_mode(gmm, label):
    schedule = Schedule.make("cosine", 50)
    x = sample(gmm.exact_denoiser(schedule.alphas_cumprod), schedule, 1_000, label=label,
               generator=torch.Generator().manual_seed(0))
    assert (gmm.classify(x.squeeze(1)) == label).all()


def test_sample_rejects_bad_arguments(gmm):
    schedule = Schedule.make("cosine", 5)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    with pytest.raises(ValueError, match="at least 1"):
        sample(denoiser, schedule, 0)
    with pytest.raises(ValueError, match="label must be in 0..1"):
        sample(denoiser, schedule, 3, label=2)
