"""dip_ext/restore.py beyond its public tests (tests/test_dip_todos.py): the sampler's levels below t0,
RePaint's draws level by level, the distortion-by-level curve, and clear errors."""
import math

import pytest
import torch

from dip_ext.restore import distortion_by_level, restore
from mnist_ext.recipe import load_model
from samplers import reverse_process, trajectory_levels
from utils import Schedule

SCHEDULE = Schedule.make("cosine", 200)


@pytest.fixture(scope="module")
def tiny_model(tiny_mnist):
    model, _ = load_model(tiny_mnist)
    return model


def test_reverse_process_from_t0_visits_only_the_levels_below_it(tiny_model):
    x = torch.randn(2, 1, 28, 28)
    labels = torch.tensor([0, 1])
    visited = [level for level, _ in reverse_process(tiny_model, SCHEDULE, x, labels, "ddim", 5, start_level=40)]
    assert visited == trajectory_levels(40, 5)[-2::-1] and visited[0] < 40 and visited[-1] == 0
    ancestral = [level for level, _ in reverse_process(tiny_model, SCHEDULE, x, labels, "ddpm", start_level=7)]
    assert ancestral == [6, 5, 4, 3, 2, 1, 0]
    with pytest.raises(ValueError, match="start_level must be an integer level between 1 and T = 200"):
        reverse_process(tiny_model, SCHEDULE, x, labels, start_level=201)


def test_distortion_curve_runs_from_high_noise_to_low(tiny_model):
    digits = torch.rand(8, 1, 28, 28) * 2 - 1
    levels, rmse = distortion_by_level(tiny_model, SCHEDULE, digits, torch.arange(8), torch.Generator().manual_seed(0))
    assert levels == list(range(200, 0, -1))
    assert rmse[0] > 3 * rmse[-1]  # pure noise predicts little; one step of noise leaves the digit visible


def test_distortion_of_a_noise_prediction_off_by_a_constant_is_its_closed_form():
    """A model that returns the true noise plus c predicts x0_hat = x0 - c sqrt((1 - abar_t) / abar_t)
    at level t; on digits of constant value d the clip at -1 caps the error at 1 + d, so the RMSE
    on the 0..255 scale is 127.5 min(c sqrt((1 - abar_t) / abar_t), 1 + d) at every pixel."""
    d, c = 0.25, 0.1
    digits = torch.full((3, 1, 28, 28), d, dtype=torch.float64)

    def off_by_c(x_t, t, labels):
        alpha_bar = SCHEDULE.alphas_cumprod[t].reshape(-1, 1, 1, 1)
        return (x_t - alpha_bar.sqrt() * digits) / (1 - alpha_bar).sqrt() + c

    levels, rmse = distortion_by_level(off_by_c, SCHEDULE, digits, torch.arange(3), torch.Generator().manual_seed(0))
    alpha_bar = SCHEDULE.alphas_cumprod[torch.tensor(levels) - 1]
    expected = 127.5 * torch.minimum(c * ((1 - alpha_bar) / alpha_bar).sqrt(), torch.tensor(1 + d))
    assert rmse == pytest.approx(expected.tolist(), rel=1e-6)
    assert expected[-1] < 1 < 127.5 * (1 + d) == expected[0], "the curve runs from the clip down to nearly 0"


_LEVEL = "t0 must be an integer level between 0 (no diffusion) and T = 200, got "


@pytest.mark.parametrize("kwargs, message", [
    ({"t0": -1}, _LEVEL + "-1"),
    ({"t0": 201}, _LEVEL + "201"),
    ({"t0": 2.5}, _LEVEL + "2.5"),
    ({"mask": torch.ones(2, 1, 28, 28)}, "give both observation and mask (for inpainting) or neither"),
    ({"observation": torch.ones(2, 1, 28, 28)}, "give both observation and mask (for inpainting) or neither"),
    ({"mask": torch.ones(1, 1, 14, 14), "observation": torch.zeros(2, 1, 28, 28)},
     "the mask (1, 1, 14, 14) and observation (2, 1, 28, 28) must have the start's shape (2, 1, 28, 28)"),
    ({"mask": torch.ones(2, 1, 28, 28), "observation": torch.zeros(2, 1, 14, 14)},
     "the mask (2, 1, 28, 28) and observation (2, 1, 14, 14) must have the start's shape (2, 1, 28, 28)"),
])
def test_bad_restoration_input_gets_a_clear_error(tiny_model, kwargs, message):
    arguments = {"t0": 10} | kwargs
    with pytest.raises(ValueError) as error:
        restore(tiny_model, SCHEDULE, torch.zeros(2, 1, 28, 28), arguments.pop("t0"), torch.tensor([0, 1]), **arguments)
    assert str(error.value) == message


def test_the_start_level_runs_from_0_to_T_inclusive(tiny_model):
    start = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(restore(tiny_model, SCHEDULE, start, 0, torch.tensor([0, 1])), start), "t0 = 0 returns the start"
    from_noise = restore(tiny_model, SCHEDULE, start, 200, torch.tensor([0, 1]), steps=2,
                         generator=torch.Generator().manual_seed(0))
    assert from_noise.shape == start.shape and not torch.equal(from_noise, start)


def test_every_intermediate_level_keeps_the_observed_pixels_noised_to_that_level():
    """RePaint: at each level s the sampler reaches, observed pixels are sqrt(abar_s) y + sqrt(1 - abar_s) eps_s,
    the rest untouched. A stand-in model records the x it is handed; with deterministic DDIM the only
    draws are the start's noise, then one eps per level, replayed here from a generator seeded alike."""
    seen = []

    def recording_model(x_t, t, y):
        seen.append((int(t[0]), x_t.clone()))
        return 0.1 * x_t

    generator = torch.Generator().manual_seed(1)
    observation = torch.rand(2, 1, 28, 28, generator=generator) * 2 - 1
    mask = (torch.rand(2, 1, 28, 28, generator=generator) < 0.5).float()
    start = torch.zeros_like(observation)
    restore(recording_model, SCHEDULE, start, 20, torch.tensor([5, 6]), steps=5, observation=observation, mask=mask,
            generator=torch.Generator().manual_seed(2))
    replay = torch.Generator().manual_seed(2)
    x_t0 = math.sqrt(SCHEDULE.alphas_cumprod[19]) * start + math.sqrt(1 - SCHEDULE.alphas_cumprod[19]) * \
        torch.randn(start.shape, generator=replay)
    assert seen[0][0] == 19 and torch.allclose(seen[0][1], x_t0, atol=1e-6)
    assert len(seen) == 5
    for (previous_index, previous_x), (index, x) in zip(seen, seen[1:]):
        alpha_bar = float(SCHEDULE.alphas_cumprod[index])  # the model at index t sees level t + 1
        known = math.sqrt(alpha_bar) * observation + math.sqrt(1 - alpha_bar) * torch.randn(start.shape, generator=replay)
        torch.testing.assert_close(x[mask == 1], known[mask == 1], rtol=0, atol=1e-5)
        # the rest is DDIM's (eta = 0) step from the x the model saw before, with eps = 0.1 x:
        # x_s = sqrt(abar_s) (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) + sqrt(1 - abar_s) eps
        previous_alpha_bar = float(SCHEDULE.alphas_cumprod[previous_index])
        eps = 0.1 * previous_x
        ddim = math.sqrt(alpha_bar) * (previous_x - math.sqrt(1 - previous_alpha_bar) * eps) / math.sqrt(previous_alpha_bar) \
            + math.sqrt(1 - alpha_bar) * eps
        torch.testing.assert_close(x[mask == 0], ddim[mask == 0], rtol=0, atol=1e-5)


def test_ddim_from_a_start_clips_each_x0_prediction_to_the_pixel_range_and_ddpm_does_not():
    """A denoiser that always predicts eps = -50 implies x0_hat = (x_t + 50 sqrt(1 - abar_t)) / sqrt(abar_t),
    above 1 in every pixel. DDIM (eta 0) clips it to 1 and recomputes eps from it, so the step from level t to s
    lands on x_s = sqrt(abar_s) + sqrt(1 - abar_s) (x_t - sqrt(abar_t)) / sqrt(1 - abar_t), worked out
    here from the levels and inputs the denoiser was called with. The ancestral sampler takes the
    prediction as it is (restore passes no clip to it)."""
    calls = []

    def recording(denoiser):
        def eps(x_t, t, labels):
            calls.append((int(t[0]), x_t.clone()))
            return torch.full_like(x_t, -50.0)
        return eps

    start, labels = torch.zeros(2, 1, 28, 28), torch.tensor([0, 1])
    restore(None, SCHEDULE, start, 40, labels, steps=3, sampler="ddim", generator=torch.Generator().manual_seed(0),
            noise_estimate=recording)
    assert len(calls) == 3
    for (t, x_t), (s, x_s) in zip(calls, calls[1:]):
        alpha_bar, alpha_bar_next = float(SCHEDULE.alphas_cumprod[t]), float(SCHEDULE.alphas_cumprod[s])
        assert ((x_t + 50 * math.sqrt(1 - alpha_bar)) / math.sqrt(alpha_bar) > 1).all(), "the clip is at work"
        clipped_eps = (x_t - math.sqrt(alpha_bar)) / math.sqrt(1 - alpha_bar)
        assert torch.allclose(x_s, math.sqrt(alpha_bar_next) + math.sqrt(1 - alpha_bar_next) * clipped_eps, atol=1e-5)
    calls.clear()
    restore(None, SCHEDULE, start, 40, labels, steps=3, sampler="ddpm", generator=torch.Generator().manual_seed(0),
            noise_estimate=recording)
    assert len(calls) == 3


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_a_guidance_weight_runs_the_reverse_process_with_classifier_free_guidance(tiny_model, sampler):
    from samplers import ClassifierFreeGuidance
    start, labels = torch.rand(2, 1, 28, 28) * 2 - 1, torch.tensor([3, 7])
    guided = restore(tiny_model, SCHEDULE, start, 40, labels, steps=4, sampler=sampler, guidance_weight=2.0,
                     generator=torch.Generator().manual_seed(5))
    by_hand = restore(ClassifierFreeGuidance(tiny_model, 2.0), SCHEDULE, start, 40, labels, steps=4, sampler=sampler,
                      generator=torch.Generator().manual_seed(5))
    plain = restore(tiny_model, SCHEDULE, start, 40, labels, steps=4, sampler=sampler,
                    generator=torch.Generator().manual_seed(5))
    assert torch.equal(guided, by_hand) and not torch.equal(guided, plain)
