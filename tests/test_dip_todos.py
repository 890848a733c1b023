"""The public tests of the DIP homework's TODOs (`make test-dip` in the handout): properties that any
correct solution has, never the reference's numbers.

Example 2 (dip_ext/progressive.py, dip_ext/recorrupted.py): the noise scales, the target and check
pair and their noises' variances and independence, the estimate's unbiasedness where the answer is
known, and the rules' interfaces on stand-in fits. Example 1 (dip_ext/restore.py): the noised
start's mean and variance, RePaint's replacement, and the reverse process called only below t0.
These build on the problem set's utils.py (q_sample and the samplers use it): fill that in first.
Statistical checks use fixed seeds and enough draws that the tolerance is several standard errors.
"""
import math

import numpy as np
import pytest
import torch

from dip_ext.fit import Stage
from dip_ext.progressive import estimated_mse, stage_scales, target_pair
from dip_ext.recorrupted import RECORRUPTED_PATIENCE, RECORRUPTED_SCALE, recorrupted, recorrupted_start, twin
from dip_ext.restore import keep_observed, noised_start, restore
from dip_ext.rules import PLAIN, FitResult, Stop, StopProblem, fit_label
from utils import Schedule

BETAS = torch.linspace(1e-4, 0.05, 200, dtype=torch.float64)
ALPHAS_CUMPROD = torch.cumprod(1 - BETAS, dim=0)
SCHEDULE = Schedule(BETAS, 1 - BETAS, ALPHAS_CUMPROD, torch.cat([torch.ones(1, dtype=torch.float64), ALPHAS_CUMPROD[:-1]]),
                    BETAS)  # built by hand, so these tests do not wait for the problem set's schedule; T = 200


# ----- Example 2: the targets and the estimate ---------------------------------------------------------------

def test_stage_scales_run_from_largest_to_smallest_in_their_spacing():
    assert stage_scales(3, 2.0, 0.5) == pytest.approx((2.0, 1.0, 0.5))  # geometric: equal ratios
    assert stage_scales(3, 2.0, 0.5, "linear") == pytest.approx((2.0, 1.25, 0.5))  # equal steps
    assert stage_scales(5, 4.0, 0.25) == pytest.approx((4.0, 2.0, 1.0, 0.5, 0.25))
    assert stage_scales(1, 2.0, 0.25) == pytest.approx((0.25,))
    assert stage_scales(3, 0.5, 0.5) == pytest.approx((0.5, 0.5, 0.5))
    assert all(isinstance(scale, float) for scale in stage_scales(4))


@pytest.mark.parametrize("shape", [(8, 6), (8, 6, 3)])
def test_target_pair_adds_a_sigma_z_to_fit_and_takes_sigma_z_over_a_away_to_check(shape):
    rng = np.random.default_rng(0)
    observation, z = rng.uniform(size=shape), rng.standard_normal(shape)
    fit_target, check_target = target_pair(observation, z, 0.5, 0.1)
    assert fit_target.shape == check_target.shape == shape
    np.testing.assert_allclose(fit_target, observation + 0.05 * z, rtol=0, atol=1e-12)
    np.testing.assert_allclose(check_target, observation - 0.2 * z, rtol=0, atol=1e-12)


def test_the_two_targets_noises_are_uncorrelated_with_the_stated_variances():
    """y = x + n, n ~ N(0, sigma^2): the fit target's noise has variance sigma^2 (1 + a^2), the check
    target's sigma^2 (1 + 1/a^2), and they are uncorrelated (160,000 values: the sample correlation's
    std is 0.0025; the variances' relative std 0.0035)."""
    rng = np.random.default_rng(1)
    sigma, scale = 0.1, 0.5
    clean = np.zeros((400, 400))
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    fit_target, check_target = target_pair(noisy, rng.standard_normal(clean.shape), scale, sigma)
    assert fit_target.var() == pytest.approx(sigma ** 2 * (1 + scale ** 2), rel=0.02)
    assert check_target.var() == pytest.approx(sigma ** 2 * (1 + 1 / scale ** 2), rel=0.02)
    assert abs(np.corrcoef(fit_target.ravel(), check_target.ravel())[0, 1]) < 0.01


def test_the_estimate_is_unbiased_for_an_output_independent_of_the_check_noise():
    """An output 0.05 off the clean image everywhere has MSE 0.0025; averaged over 200 noise draws the
    estimate finds it (the estimates' std / sqrt(200) is about 0.0001)."""
    rng = np.random.default_rng(2)
    clean = rng.uniform(size=(64, 64))
    output = clean + 0.05
    sigma, scale = 25 / 255, 0.5
    estimates = []
    for _ in range(200):
        noisy = clean + sigma * rng.standard_normal(clean.shape)
        _, check_target = target_pair(noisy, rng.standard_normal(clean.shape), scale, sigma)
        estimates.append(estimated_mse(output, check_target, scale, sigma))
    assert np.mean(estimates) == pytest.approx(0.0025, abs=0.0004)
    assert isinstance(estimates[0], float)


def test_with_a_mask_the_estimate_averages_over_the_observed_values_only():
    """0.3 off the check target on the observed half, 5 off on the hidden half: 0.3^2 - sigma^2 (1 + 1/a^2)."""
    check = np.zeros((4, 4))
    mask = np.zeros((4, 4))
    mask[:, :2] = 1
    output = np.where(mask > 0, 0.3, 5.0)
    assert estimated_mse(output, check, 0.5, 0.1, mask) == pytest.approx(0.09 - 0.01 * 5)
    assert estimated_mse(output, check, 0.5, 0.1) == pytest.approx((0.09 + 25) / 2 - 0.01 * 5)


# ----- Example 2: the rules, on stand-in fits ----------------------------------------------------------------

def _problem(output: str, iterations: int = 50) -> tuple[StopProblem, list]:
    """A problem whose fits are stand-ins: each requested stage list is recorded; a fit with a
    scale > 0 has its lowest averaged estimate at index 17 and its lowest raw one at 23."""
    asked = []

    def run(stages):
        asked.append(stages)
        length = stages[0].iterations
        estimate = np.abs(np.arange(length) - 17.0) + 1.0
        estimate_raw = np.abs(np.arange(length) - 23.0) + 1.0
        if stages[0].scale == 0:
            estimate = estimate_raw = np.full(length, np.nan)
        return FitResult({"loss": np.ones(length), "estimate": estimate, "estimate_raw": estimate_raw}, 1.0)

    return StopProblem(np.zeros((8, 8)), 0.1, output, iterations, 0, run), asked


@pytest.mark.parametrize("output, index", [("averaged", 17), ("raw", 23)])
def test_recorrupted_fits_its_stage_and_stops_at_the_lowest_estimate_of_the_scored_output(output, index):
    problem, asked = _problem(output)
    stop = recorrupted(problem)
    assert isinstance(stop, Stop) and stop.iteration == index
    assert [tuple(stages) for stages in asked] == [(Stage(RECORRUPTED_SCALE, 50, RECORRUPTED_PATIENCE),)]
    assert stop.fit.label == fit_label((Stage(RECORRUPTED_SCALE, 50, RECORRUPTED_PATIENCE),))


def test_twin_stops_plain_dip_where_the_recorrupted_rule_stops():
    problem, _ = _problem("raw")
    stop = twin(problem)
    assert stop.fit.label == PLAIN and stop.iteration == 23
    short, _ = _problem("raw", iterations=20)  # the recorrupted fit's best lies past plain DIP's end
    assert twin(short).iteration == 19


class _Digit:
    """A stand-in start problem: fits return a record whose final output is 0.3 everywhere."""

    def __init__(self, sigma):
        self.observation, self.mask, self.sigma, self.iterations, self.seed = np.zeros((28, 28)), None, sigma, 40, 0
        self.asked = []

    def fit(self, stages, snapshot_every=0):
        self.asked.append(list(stages))
        return type("Record", (), {"final": np.full((28, 28), 0.3)})()


def test_the_recorrupted_start_is_its_fits_final_output_and_none_without_noise():
    noisy = _Digit(0.2)
    assert np.array_equal(recorrupted_start(noisy), np.full((28, 28), 0.3))
    assert noisy.asked == [[Stage(RECORRUPTED_SCALE, 40, RECORRUPTED_PATIENCE)]]
    assert recorrupted_start(_Digit(None)) is None


# ----- Example 1: the noised start and the reverse process from t0 -----------------------------------------

def test_the_noised_start_is_a_draw_from_q_xt0_given_the_estimate():
    """Over 4,000 draws: mean sqrt(abar_t0) x_hat (the std of a mean of 4,000 is under 0.016) and
    variance 1 - abar_t0 (relative std of a variance of 4,000 draws: 0.022)."""
    estimate = torch.linspace(-1, 1, 28 * 28).reshape(1, 1, 28, 28).expand(4000, 1, 28, 28)
    t0 = 60
    x = noised_start(estimate, t0, SCHEDULE, torch.Generator().manual_seed(0))
    alpha_bar = float(ALPHAS_CUMPROD[t0 - 1])  # level t0 is index t0 - 1
    assert x.shape == estimate.shape
    assert torch.allclose(x.mean(dim=0), math.sqrt(alpha_bar) * estimate[0], atol=0.07)
    assert x.var(dim=0).mean() == pytest.approx(1 - alpha_bar, rel=0.01)
    again = noised_start(estimate[:3], t0, SCHEDULE, torch.Generator().manual_seed(5))
    assert torch.equal(again, noised_start(estimate[:3], t0, SCHEDULE, torch.Generator().manual_seed(5)))


def test_at_level_zero_the_start_is_the_estimate_itself_as_a_copy():
    estimate = torch.rand(2, 1, 28, 28)
    start = noised_start(estimate, 0, SCHEDULE)
    assert torch.equal(start, estimate) and start is not estimate


def test_repaint_writes_the_noised_observation_into_the_observed_pixels_of_the_yielded_tensor():
    """Levels 100 and 0 of a stand-in sampler: at 100 the observed pixels have the mean and
    variance of y noised to that level (4,000 digits), at 0 they are y itself; the missing pixels
    are left as they were, and each x the sampler yielded is changed in place."""
    generator = torch.Generator().manual_seed(3)
    observation = torch.rand(1, 1, 28, 28, generator=generator).expand(4000, 1, 28, 28) * 2 - 1
    mask = (torch.rand(1, 1, 28, 28, generator=generator) < 0.5).float().expand(4000, 1, 28, 28)
    yielded = [(100, torch.full((4000, 1, 28, 28), 7.0)), (0, torch.full((4000, 1, 28, 28), 7.0))]
    seen = list(keep_observed(iter(yielded), observation, mask, SCHEDULE, torch.Generator().manual_seed(4)))
    assert [level for level, _ in seen] == [100, 0]
    assert all(x is original for (_, x), (_, original) in zip(seen, yielded)), "the sampler continues from the same tensor"
    observed = mask[0, 0] == 1
    for _, x in seen:
        assert torch.all(x[:, 0][:, ~observed] == 7.0)
    alpha_bar = float(ALPHAS_CUMPROD[99])
    at_100 = seen[0][1][:, 0][:, observed]
    assert torch.allclose(at_100.mean(dim=0), math.sqrt(alpha_bar) * observation[0, 0][observed], atol=0.07)
    assert at_100.var(dim=0).mean() == pytest.approx(1 - alpha_bar, rel=0.02)
    assert torch.equal(seen[1][1][:, 0][:, observed], observation[:, 0][:, observed])


def _recording_model(seen: list):
    def model(x, t, y):
        seen.append(t.clone())
        return torch.zeros_like(x)

    model.null_label = 10
    return model


@pytest.mark.parametrize("sampler, steps", [("ddim", 6), ("ddpm", None)])
def test_the_reverse_process_runs_only_below_t0_with_the_steps_asked_for(sampler, steps):
    seen = []
    out = restore(_recording_model(seen), SCHEDULE, torch.zeros(2, 1, 28, 28), 30, torch.tensor([3, 4]), steps=steps,
                  sampler=sampler, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 1, 28, 28) and out.abs().max() <= 1
    indices = [int(t[0]) for t in seen]
    assert len(indices) == (steps or 30) and max(indices) == 29 and min(indices) == 0  # level t0 is index t0 - 1
    assert indices == sorted(indices, reverse=True)
    assert all(torch.equal(t, torch.full((2,), int(t[0]))) for t in seen)


def test_restoring_from_level_zero_returns_the_start_and_calls_no_model():
    seen = []
    start = torch.rand(2, 1, 28, 28) * 2 - 1
    assert torch.equal(restore(_recording_model(seen), SCHEDULE, start, 0, torch.tensor([1, 2])), start)
    assert seen == []


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_a_masked_restoration_ends_on_the_observed_pixels(sampler):
    generator = torch.Generator().manual_seed(0)
    observation = torch.rand(2, 1, 28, 28, generator=generator) * 2 - 1
    mask = (torch.rand(2, 1, 28, 28, generator=generator) < 0.5).float()
    out = restore(_recording_model([]), SCHEDULE, torch.zeros_like(observation), 20, torch.tensor([5, 6]), steps=5,
                  sampler=sampler, observation=observation, mask=mask, generator=generator)
    assert torch.equal(out[mask == 1], observation[mask == 1])
    assert not torch.allclose(out[mask == 0], torch.zeros(()), atol=1e-3), "the missing pixels are filled in"
