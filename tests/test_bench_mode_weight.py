"""tools/bench_mode_weight.py: the handover denoiser and the boundary it reads off a denoiser."""
import math

import torch

from gmm import NULL_LABEL, problem_gmm
from tools.bench_mode_weight import Handover, boundary_crossings, handover_statistics
from utils import Schedule

SCHEDULE = Schedule.make("cosine", 50)


class Shifted:
    """The exact denoiser with every eps moved by a constant (a number or a (2,) vector): a stand-in
    for a learned model."""

    null_label = NULL_LABEL

    def __init__(self, exact, shift: float):
        self.exact, self.shift = exact, shift

    def __call__(self, x_t, t, y):
        return self.exact(x_t, t, y) + self.shift


def test_handover_is_exact_from_step_k_and_learned_below():
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(SCHEDULE.alphas_cumprod)
    learned = Shifted(exact, 1.0)
    x_t, t = torch.randn(6, 1, 2, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 9, 10, 11, 30, 49])
    y = torch.full((6,), NULL_LABEL)
    eps = Handover(exact, learned, 10)(x_t, t, y)
    from_exact = torch.tensor([False, False, True, True, True, True])
    torch.testing.assert_close(eps[from_exact], exact(x_t, t, y)[from_exact].float())
    torch.testing.assert_close(eps[~from_exact], learned(x_t, t, y)[~from_exact].float())


def test_handing_over_at_every_step_to_the_exact_model_changes_nothing():
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(SCHEDULE.alphas_cumprod)
    statistics = handover_statistics(exact, exact, SCHEDULE, gmm, n=4_000, steps=(0, 25, 50, 80))
    assert list(statistics) == [0, 25, 50], "k is capped at T"
    assert len(set(statistics.values())) == 1, "the same draws give the same samples whoever hands over"
    weight, outliers = statistics[0]
    assert abs(weight - 0.35) < 0.03 and outliers < 0.01


def test_outliers_come_from_the_steps_a_spread_out_model_runs():
    """A stand-in that removes half the noise the exact denoiser would leaves samples far from their
    modes only where it runs: handing it the steps below k = 5 shows them, below k = 0 not."""
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(SCHEDULE.alphas_cumprod)

    class HalfDenoised:
        null_label = NULL_LABEL

        def __call__(self, x_t, t, y):
            return 0.5 * exact(x_t, t, y).float()
    statistics = handover_statistics(HalfDenoised(), exact, SCHEDULE, gmm, n=4_000, steps=(0, 3, 5))
    assert statistics[0][1] < 0.002 < statistics[3][1] < statistics[5][1]


def test_the_exact_boundary_is_the_closed_form_crossing():
    """With equal mode variances the exact E[x_0 | x_t], projected on the axis from the midpoint, is
    (1 - g)(p_1 - p_0) d + g s, where s is x_t / sqrt(abar) there, d half the modes' distance,
    g = abar sigma^2 / (abar sigma^2 + 1 - abar) and logit p_1 = log(w_1 / w_0) + 2 d s / v,
    v = sigma^2 + (1 - abar) / abar. Its root must be the crossing read off the denoiser."""
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(SCHEDULE.alphas_cumprod)
    crossings = boundary_crossings(exact, exact, SCHEDULE, gmm, steps=(8, 16, 25))
    d = float((gmm.means[1] - gmm.means[0]).norm()) / 2
    sigma2 = float(gmm.std_devs[0]) ** 2
    log_ratio = math.log(float(gmm.mix_weights[1] / gmm.mix_weights[0]))
    for t, (from_exact, from_learned) in crossings.items():
        assert from_exact == from_learned
        alpha_bar = float(SCHEDULE.alphas_cumprod[t])
        g = alpha_bar * sigma2 / (alpha_bar * sigma2 + 1 - alpha_bar)
        v = sigma2 + (1 - alpha_bar) / alpha_bar

        def projected(s):
            p1 = 1 / (1 + math.exp(-(log_ratio + 2 * d * s / v)))
            return (1 - g) * (2 * p1 - 1) * d + g * s
        low, high = -0.8, 0.8
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if projected(middle) < 0 else (low, middle)
        assert abs(from_exact - low) <= 0.002, (t, from_exact, low)
        assert from_exact < 0, "the exact boundary leans toward the lighter mode 0"


def test_a_model_biased_toward_mode_one_has_its_boundary_on_mode_zeros_side():
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(SCHEDULE.alphas_cumprod)
    axis = (gmm.means[1] - gmm.means[0]).float()
    axis = axis / axis.norm()

    class TowardModeOne:
        """The exact denoiser with its predicted x_0 moved 0.05 along the axis toward mode 1."""
        null_label = NULL_LABEL

        def __call__(self, x_t, t, y):
            alpha_bar = SCHEDULE.alphas_cumprod[t].float().reshape(-1, 1, 1)
            return exact(x_t, t, y).float() - 0.05 * axis * alpha_bar.sqrt() / (1 - alpha_bar).sqrt()
    for t, (from_exact, from_learned) in boundary_crossings(TowardModeOne(), exact, SCHEDULE, gmm,
                                                            steps=(8, 16)).items():
        assert from_learned < from_exact, t


def test_a_model_that_never_crosses_the_midpoint_has_no_boundary():
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(SCHEDULE.alphas_cumprod)
    axis = (gmm.means[1] - gmm.means[0]).float()
    always_mode_zero = Shifted(exact, 100.0 * axis / axis.norm())  # eps along the axis: x_0 far on mode 0's side
    crossings = boundary_crossings(always_mode_zero, exact, SCHEDULE, gmm, steps=(8,))
    assert math.isnan(crossings[8][1]) and not math.isnan(crossings[8][0])
