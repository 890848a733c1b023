"""The noise schedule, forward noising and the loss, against closed forms computed independently."""
import math

import numpy as np
import pytest
import torch

from utils import MAX_BETA, Schedule, cosine_beta_schedule, linear_beta_schedule, p_losses, q_sample


def cosine_alphas_cumprod_numpy(T, s=0.008):
    """abar_t = f(t)/f(0) for t = 1..T, straight from the formula, in numpy."""
    t = np.arange(1, T + 1)
    f = lambda u: np.cos((u / T + s) / (1 + s) * np.pi / 2) ** 2  # noqa: E731
    return f(t) / f(0)


@pytest.mark.parametrize("T", [5, 10, 25, 50, 1000])
def test_cosine_schedule_matches_closed_form_until_the_clip(T):
    schedule = Schedule.make("cosine", T)
    expected = cosine_alphas_cumprod_numpy(T)
    unclipped = schedule.betas.numpy() < MAX_BETA
    # every step before the first clipped beta has exactly the closed-form abar
    first_clipped = int(np.argmin(unclipped)) if not unclipped.all() else T
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy()[:first_clipped], expected[:first_clipped], rtol=1e-12)
    assert schedule.betas.max() <= MAX_BETA
    assert math.isclose(float(schedule.betas[-1]), MAX_BETA, rel_tol=1e-12), "cosine beta_T is clipped to 0.999"


@pytest.mark.parametrize("name", ["cosine", "linear"])
@pytest.mark.parametrize("T", [1, 5, 50])
def test_schedule_quantities_follow_from_the_betas_by_their_definitions(name, T):
    """Each quantity computed another way, in Python floats: abar_t as a running product of the
    alphas, and sigma_t^2 as the variance of x_{t-1} given x_t and x_0, by conditioning the joint
    Gaussian of the forward process: Var(x_{t-1} | x_0) = 1 - abar_{t-1},
    Cov(x_{t-1}, x_t | x_0) = sqrt(alpha_t) (1 - abar_{t-1}), Var(x_t | x_0) = 1 - abar_t."""
    s = Schedule.make(name, T)
    for values in (s.betas, s.alphas, s.alphas_cumprod, s.alphas_cumprod_prev, s.posterior_variance):
        assert values.shape == (T,), "every schedule quantity has one entry per step t = 1..T"
    assert ((s.betas > 0) & (s.betas < 1)).all()
    assert (s.betas[1:] >= s.betas[:-1]).all(), "beta_t increases with t"
    alphas, alphas_cumprod, alphas_cumprod_prev, conditional_variance = [], [], [], []
    product = 1.0  # abar_0
    for beta in s.betas.tolist():
        alphas_cumprod_prev.append(product)
        alpha = 1.0 - beta
        product *= alpha
        alphas.append(alpha)
        alphas_cumprod.append(product)
        previous_variance = 1 - alphas_cumprod_prev[-1]
        conditional_variance.append(previous_variance - alpha * previous_variance**2 / (1 - product))
    for values, expected in ((s.alphas, alphas), (s.alphas_cumprod, alphas_cumprod),
                             (s.alphas_cumprod_prev, alphas_cumprod_prev), (s.posterior_variance, conditional_variance)):
        assert values.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert s.posterior_variance[0] == 0, "sigma_1 = 0: the last reverse step adds no noise"


def test_linear_schedule_endpoints_scale_with_T():
    torch.testing.assert_close(linear_beta_schedule(1000)[[0, -1]], torch.tensor([1e-4, 0.02], dtype=torch.float64))
    torch.testing.assert_close(linear_beta_schedule(100)[[0, -1]], torch.tensor([1e-3, 0.2], dtype=torch.float64))


def test_schedules_of_different_T_coexist():
    short, long = Schedule.make("cosine", 5), Schedule.make("cosine", 50)
    assert short.T == 5 and long.T == 50
    torch.testing.assert_close(Schedule.make("cosine", 5).betas, short.betas)
    assert not torch.allclose(short.alphas_cumprod[-1:], long.alphas_cumprod[4:5])


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_invalid_T_is_rejected(bad):
    with pytest.raises(ValueError, match="T must be an integer >= 1"):
        cosine_beta_schedule(bad)


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        Schedule.make("quadratic", 10)


def test_q_sample_closed_form_with_injected_noise():
    s = Schedule.make("cosine", 10)
    x0 = torch.tensor([[[0.5, -0.25]], [[1.0, 0.0]]])
    noise = torch.tensor([[[1.0, 2.0]], [[-1.0, 0.5]]])
    t = torch.tensor([0, 9])
    x_t = q_sample(s, x0, t, noise=noise)
    for i in range(2):
        abar = float(s.alphas_cumprod[t[i]])
        torch.testing.assert_close(x_t[i], math.sqrt(abar) * x0[i] + math.sqrt(1 - abar) * noise[i])


def test_q_sample_marginal_moments():
    """x_t given x_0 has mean sqrt(abar) x_0 and variance 1 - abar (200,000 draws, 4-sigma bounds)."""
    s = Schedule.make("cosine", 50)
    n, t_index = 200_000, 20
    x0 = torch.full((n, 1, 2), 0.6)
    x_t = q_sample(s, x0, torch.full((n,), t_index), generator=torch.Generator().manual_seed(0))
    abar = float(s.alphas_cumprod[t_index])
    assert abs(float(x_t.mean()) - math.sqrt(abar) * 0.6) < 4 * math.sqrt((1 - abar) / (2 * n))
    assert abs(float(x_t.var()) - (1 - abar)) < 0.01 * (1 - abar)


class RecordingModel:
    """A mock denoiser that returns a fixed guess and remembers what it was called with."""

    def __init__(self, guess):
        self.guess = guess

    def __call__(self, x_t, t, y):
        self.seen = (x_t, t, y)
        return self.guess.expand_as(x_t)


@pytest.mark.parametrize("loss_type, reference", [
    ("l2", lambda d: (d ** 2).mean()),
    ("l1", lambda d: d.abs().mean()),
    ("huber", lambda d: torch.where(d.abs() < 1, 0.5 * d ** 2, d.abs() - 0.5).mean()),
])
def test_p_losses_against_mock_model(loss_type, reference):
    s = Schedule.make("cosine", 10)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(8, 1, 2, generator=g), 2 * torch.randn(8, 1, 2, generator=g)
    t, y = torch.randint(10, (8,), generator=g), torch.randint(3, (8,), generator=g)
    guess = torch.tensor([0.3, -0.1])
    model = RecordingModel(guess)
    loss = p_losses(model, s, x0, t, y, noise=noise, loss_type=loss_type)
    torch.testing.assert_close(loss, reference(noise - guess))
    seen_x, seen_t, seen_y = model.seen
    torch.testing.assert_close(seen_x, q_sample(s, x0, t, noise=noise), msg="the model sees x_t of the same noise")
    assert torch.equal(seen_t, t) and torch.equal(seen_y, y)
    per_sample = p_losses(model, s, x0, t, y, noise=noise, loss_type=loss_type, reduction="none")
    assert per_sample.shape == (8,)
    torch.testing.assert_close(per_sample.mean(), loss)


def test_p_losses_is_zero_for_a_perfect_noise_predictor():
    s = Schedule.make("cosine", 10)
    x0, noise = torch.randn(4, 1, 2), torch.randn(4, 1, 2)
    loss = p_losses(RecordingModel(noise), s, x0, torch.arange(4), torch.zeros(4, dtype=torch.long), noise=noise)
    assert float(loss) == 0.0


def test_p_losses_rejects_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss_type 'l3'"):
        p_losses(RecordingModel(torch.zeros(2)), Schedule.make("cosine", 3), torch.zeros(1, 1, 2),
                 torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long), loss_type="l3")


def test_q_sample_draws_its_noise_in_the_data_dtype_from_the_generator():
    schedule = Schedule.make("cosine", 10)
    x0 = torch.randn(64, 1, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = torch.arange(64) % 10
    drawn = q_sample(schedule, x0, t, generator=torch.Generator().manual_seed(1))
    given = q_sample(schedule, x0, t, noise=torch.randn(x0.shape, dtype=torch.float64,
                                                       generator=torch.Generator().manual_seed(1)))
    assert drawn.dtype == torch.float64
    torch.testing.assert_close(drawn, given, rtol=0, atol=0)


def test_p_losses_draws_its_noise_from_the_generator_in_the_data_dtype():
    s = Schedule.make("cosine", 10)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(8, 1, 2, generator=g, dtype=torch.float64)
    t, y = torch.randint(10, (8,), generator=g), torch.randint(3, (8,), generator=g)
    model = RecordingModel(torch.tensor([0.3, -0.1], dtype=torch.float64))
    drawn = p_losses(model, s, x0, t, y, generator=torch.Generator().manual_seed(5))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.equal(drawn, p_losses(model, s, x0, t, y, noise=noise))
    assert torch.equal(model.seen[0], q_sample(s, x0, t, noise=noise))


@pytest.mark.parametrize("betas", [torch.full((2, 3), 0.1), torch.tensor([0.1, 0.0]), torch.tensor([0.1, 1.0]),
                                   torch.tensor([0.1, 1.5]), torch.tensor([0.1, -0.2])])
def test_schedule_refuses_betas_outside_the_open_interval(betas):
    with pytest.raises(ValueError, match=r"^betas must be a 1-D tensor with every entry in \(0, 1\)$"):
        Schedule.from_betas(betas)
