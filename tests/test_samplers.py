"""Few-step samplers (DDIM, DPM-Solver++(2M)) against identities and a closed-form ODE solution."""
import math
import re

import numpy as np
import pytest
import torch

from gmm import GMM, NULL_LABEL, problem_gmm
from samplers import (ClassifierFreeGuidance, ClassifierGuidance, ddim_invert, final, labels_for, reverse_process, sample,
                      step_sequence, trajectory_levels)
from utils import Schedule, p_sample_loop


def ddim_sample_loop(denoiser, schedule, x_T, y, steps, eta=0.0, generator=None):
    return final(reverse_process(denoiser, schedule, x_T, y, "ddim", steps, eta, generator=generator))


def dpm_solver_2m_loop(denoiser, schedule, x_T, y, steps):
    return final(reverse_process(denoiser, schedule, x_T, y, "dpmpp2m", steps))


@pytest.mark.parametrize("T", [1, 2, 5, 50, 1000])
def test_step_sequences_are_distinct_descending_and_complete(T):
    for steps in range(1, T + 1, max(1, T // 40)):
        indices = step_sequence(T, steps)
        assert len(indices) == steps and indices[0] == T - 1
        assert all(a > b for a, b in zip(indices, indices[1:]))
        assert steps == 1 or indices[-1] == 0
    assert step_sequence(T, T) == list(range(T - 1, -1, -1)), "all T steps when asked for T"


def test_ddim_with_eta_one_on_all_steps_is_ancestral_ddpm(gmm):
    """Same x_T and same generator: DDIM(eta = 1) reproduces the DDPM chain draw for draw."""
    schedule = Schedule.make("cosine", 30)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    x_T = torch.randn(500, 1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.full((500,), NULL_LABEL)
    ddpm = p_sample_loop(denoiser, schedule, x_T, y, generator=torch.Generator().manual_seed(1))
    ddim = ddim_sample_loop(denoiser, schedule, x_T, y, steps=30, eta=1.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ddim, ddpm, rtol=0, atol=1e-9)


def gaussian_ode_endpoint(schedule, x_T, mean, std):
    """For data N(mean, std^2 I) the probability-flow ODE keeps z = (x_t - sqrt(abar) mean) / s_t fixed,
    s_t^2 = abar std^2 + 1 - abar: its exact endpoint is mean + std z."""
    alpha_bar = float(schedule.alphas_cumprod[-1])
    z = (x_T - math.sqrt(alpha_bar) * mean) / math.sqrt(alpha_bar * std**2 + 1 - alpha_bar)
    return mean + std * z


def test_ode_samplers_converge_to_the_closed_form_at_their_order():
    mean, std = torch.tensor([0.5, -0.2], dtype=torch.float64), 0.1
    schedule = Schedule.make("cosine", 1000)
    denoiser = GMM([mean.tolist()], [std], [1.0], n_samples=1).exact_denoiser(schedule.alphas_cumprod)
    x_T = torch.randn(1000, 1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.full((1000,), 0)
    exact = gaussian_ode_endpoint(schedule, x_T, mean, std)
    ddim_errors, dpm_errors = [], []
    for steps in (20, 40, 80):
        ddim_errors.append(float((ddim_sample_loop(denoiser, schedule, x_T, y, steps) - exact).abs().max()))
        dpm_errors.append(float((dpm_solver_2m_loop(denoiser, schedule, x_T, y, steps) - exact).abs().max()))
    for coarse, fine in zip(ddim_errors, ddim_errors[1:]):
        assert 1.6 < coarse / fine < 2.5, f"DDIM is first order: doubling the steps halves the error {ddim_errors}"
    for ddim_error, dpm_error in zip(ddim_errors, dpm_errors):
        assert dpm_error < 0.25 * ddim_error, f"DPM-Solver++(2M) is second order: {dpm_errors} vs DDIM {ddim_errors}"


def test_deterministic_ddim_inverts(gmm):
    schedule = Schedule.make("cosine", 1000)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    x_0 = gmm.sample(200, generator=torch.Generator().manual_seed(1))[0].double()
    y = torch.full((200,), NULL_LABEL)
    errors = []
    for steps in (200, 500):
        x_T = ddim_invert(denoiser, schedule, x_0, y, steps)
        assert abs(float(x_T.std()) - 1) < 0.1, "the encoding looks like standard normal noise"
        errors.append(float((ddim_sample_loop(denoiser, schedule, x_T, y, steps) - x_0).abs().max()))
    assert errors[0] < 0.05 and errors[1] < errors[0]


def test_few_step_samplers_reproduce_the_mixture(gmm):
    schedule = Schedule.make("cosine", 1000)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    for sampler in ("ddim", "dpmpp2m"):
        x = sample(denoiser, schedule, 2_000, sampler=sampler, steps=20, generator=torch.Generator().manual_seed(0))
        labels = gmm.classify(x.squeeze(1))
        assert abs(float((labels == 0).double().mean()) - 0.35) < 0.035
        for k in (0, 1):
            std = float(x.squeeze(1)[labels == k].std(0).mean())
            assert abs(std - 0.1) < 0.012, (sampler, k, std)


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=51), "steps must be an integer between 1 and T = 50"),
    (dict(steps=0), "steps must be an integer between 1 and T = 50"),
    (dict(sampler="euler"), "unknown sampler 'euler'"),
    (dict(sampler="ddim", steps=10, eta=-1.0), "eta must be >= 0"),
    (dict(sampler="dpmpp2m", eta=0.5), "eta is DDIM's parameter"),
    (dict(sampler="ddpm", clip_x0=1.0), "^clip_x0 applies to the ddim and dpmpp2m samplers$"),
])
def test_bad_sampler_arguments_are_rejected(gmm, kwargs, message):
    schedule = Schedule.make("cosine", 50)
    with pytest.raises(ValueError, match=message):
        sample(gmm.exact_denoiser(schedule.alphas_cumprod), schedule, 4, **kwargs)


def test_classifier_guidance_with_weight_zero_is_the_unguided_sampler(gmm):
    schedule = Schedule.make("cosine", 50)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    guided = ClassifierGuidance(denoiser, gmm.exact_classifier(schedule.alphas_cumprod), schedule.alphas_cumprod, 0.0)
    a = sample(guided, schedule, 300, label=0, generator=torch.Generator().manual_seed(0))
    b = sample(denoiser, schedule, 300, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_exact_classifier_guidance_with_weight_one_is_the_conditional_denoiser(gmm):
    """Bayes: grad log q(x | y) = grad log q(x) + grad log p(y | x), so w = 1 gives eps*(x_t, t, y)."""
    schedule = Schedule.make("cosine", 50)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    guided = ClassifierGuidance(denoiser, gmm.exact_classifier(schedule.alphas_cumprod), schedule.alphas_cumprod, 1.0)
    x = torch.randn(64, 1, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t = torch.randint(50, (64,), generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1, NULL_LABEL, 1] * 16)
    torch.testing.assert_close(guided(x, t, y), denoiser(x, t, y))


def test_classifier_gradient_moves_samples_toward_the_labelled_mode(gmm):
    schedule = Schedule.make("cosine", 50)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    for label in (0, 1):
        guided = ClassifierGuidance(denoiser, gmm.exact_classifier(schedule.alphas_cumprod), schedule.alphas_cumprod, 3.0)
        x = sample(guided, schedule, 500, label=label, generator=torch.Generator().manual_seed(0))
        assert float((gmm.classify(x.squeeze(1)) == label).double().mean()) > 0.99


def test_learned_classifier_approaches_bayes_and_guides(tmp_path, gmm):
    import training
    from noisy_classifier import RECIPE, ClassifierConfig, load_classifier
    config = ClassifierConfig(T=20, steps=300, batch_size=256)
    training.train(RECIPE, config, tmp_path / "classifier.pt", progress=False)
    classifier, loaded_config = load_classifier(tmp_path / "classifier.pt")
    assert loaded_config == config
    schedule = Schedule.make("cosine", 20)
    exact = gmm.exact_classifier(schedule.alphas_cumprod)
    t = torch.randint(20, (2_000,), generator=torch.Generator().manual_seed(0))
    from utils import q_sample
    x_t = q_sample(schedule, gmm.samples[:2_000], t, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        learned_p = torch.softmax(classifier(x_t, t), -1)[:, 0]
    exact_p = torch.softmax(exact(x_t, t), -1)[:, 0].float()
    assert (learned_p - exact_p).abs().mean() < 0.05, "close to Bayes' rule on the noised mixture"
    # between the modes, the gradient of log p(y = 0 | x_t) points toward mode 0 and away from mode 1
    midpoint = ((gmm.means[0] + gmm.means[1]) / 2).float().reshape(1, 1, 2).requires_grad_(True)
    log_p0 = torch.log_softmax(classifier(midpoint, torch.tensor([5])), -1)[0, 0]
    (grad,) = torch.autograd.grad(log_p0, midpoint)
    assert float(grad.flatten() @ (gmm.means[0] - gmm.means[1]).float()) > 0


def test_cli_classifier_guidance(tmp_path, tiny_checkpoint):
    from train import main
    out = tmp_path / "cg.npy"
    main(["--sample", "200", "--oracle", "--T", "20", "--label", "0", "--classifier", "exact", "--guidance", "1",
          "--out", str(out)])
    x = np.load(out)
    assert (GMM.classify(problem_gmm(1), torch.from_numpy(x)) == 0).all()
    with pytest.raises(SystemExit):
        main(["--sample", "5", "--ckpt", str(tiny_checkpoint), "--classifier", str(tmp_path / "none.pt"),
              "--label", "0", "--out", str(out)])


def test_a_ddpm_checkpoint_is_not_taken_for_a_classifier(tiny_checkpoint):
    from noisy_classifier import load_classifier
    with pytest.raises(ValueError, match="not a two-pixel-noisy-classifier checkpoint .*python classifier.py"):
        load_classifier(tiny_checkpoint)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp2m", "ddpm"])
def test_every_sampler_records_its_trajectory_from_x_T_to_x_0(gmm, sampler):
    schedule = Schedule.make("cosine", 50)
    denoiser = gmm.exact_denoiser(schedule.alphas_cumprod)
    trajectory = sample(denoiser, schedule, 64, sampler=sampler, steps=10, generator=torch.Generator().manual_seed(5),
                        record_trajectory=True)
    assert trajectory.shape == (11, 64, 1, 2)
    x_T = torch.randn(64, 1, 2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(trajectory[-1], x_T), "the last entry is the starting noise"
    final_only = sample(denoiser, schedule, 64, sampler=sampler, steps=10, generator=torch.Generator().manual_seed(5))
    assert torch.equal(trajectory[0], final_only), "the first entry is the sample itself"
    levels = trajectory_levels(50, 10)
    assert levels[0] == 0 and levels[-1] == 50 and len(levels) == 11 and levels == sorted(set(levels))
    visited = [t for t, _ in reverse_process(denoiser, schedule, x_T, torch.full((64,), NULL_LABEL), sampler, 10,
                                             generator=torch.Generator().manual_seed(6))]
    assert visited == levels[-2::-1], "reverse_process yields the levels it reaches, from high noise down to 0"
    # the spread shrinks from pure noise (std 1) to the data (std about 0.55 over both modes)
    stds = trajectory.flatten(1).std(dim=1)
    assert stds[-1] > 0.8 and stds[0] < 0.7


def test_clipped_ddim_step_recomputes_eps_from_the_clipped_prediction():
    """One DDIM step (eta 0) from index t to s, by hand: x0 = clip((x - sqrt(1 - a_t) eps) / sqrt(a_t)),
    eps' = (x - sqrt(a_t) x0) / sqrt(1 - a_t), x_s = sqrt(a_s) x0 + sqrt(1 - a_s) eps'."""
    schedule = Schedule.make("linear", 1000)
    t, s = step_sequence(300, 2)  # started at level 300: one step from index 299, where abar is far from 0 and 1
    a_t, a_s = float(schedule.alphas_cumprod[t]), float(schedule.alphas_cumprod[s])
    constant_eps = torch.tensor([[[-2.0, 0.1]]])
    x = math.sqrt(a_t) * torch.tensor([[[3.0, 0.5]]]) + math.sqrt(1 - a_t) * constant_eps  # predicts x0 = (3, 0.5)

    def denoiser(x_t, t, y):
        return constant_eps.expand_as(x_t)

    x0 = ((x - math.sqrt(1 - a_t) * constant_eps) / math.sqrt(a_t)).clamp(-1, 1)
    assert x0[0, 0, 0] == 1.0 and -1 < x0[0, 0, 1] < 1  # one pixel clipped, one not
    eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
    expected = math.sqrt(a_s) * x0 + math.sqrt(1 - a_s) * eps
    level, x_s = next(reverse_process(denoiser, schedule, x, torch.zeros(1, dtype=torch.long), "ddim", 2, clip_x0=1.0,
                                      start_level=300))
    assert 0.2 < a_t < 0.8
    assert level == s + 1
    torch.testing.assert_close(x_s, expected, rtol=1e-6, atol=1e-6)


def _exact(gmm, T=20):
    schedule = Schedule.make("cosine", T)
    return gmm.exact_denoiser(schedule.alphas_cumprod), schedule


def _exact_indices(T: int, steps: int) -> list[int]:
    """step_sequence's indices in exact rational arithmetic: round((1 - i/(K-1))^2 (T-1)), half to even."""
    from fractions import Fraction
    indices = [round(Fraction((steps - 1 - i) ** 2 * (T - 1), (steps - 1) ** 2)) if steps > 1 else T - 1
               for i in range(steps)]
    for i in range(steps - 2, -1, -1):
        indices[i] = max(indices[i], indices[i + 1] + 1)
    return indices


@pytest.mark.parametrize("T, steps", [(1000, 10), (1000, 537), (4000, 352), (250, 25)])
def test_step_sequence_is_the_quadratic_spacing_computed_exactly(T, steps):
    """(1000, 537) and (4000, 352) round differently in float32: the spacing needs float64."""
    assert step_sequence(T, steps) == _exact_indices(T, steps)
    assert step_sequence(1000, 10) == [999, 789, 604, 444, 308, 197, 111, 49, 12, 0]  # the docstring's example


def test_deterministic_ddim_on_all_steps_draws_nothing(gmm):
    denoiser, schedule = _exact(gmm)
    x_T = torch.randn(50, 1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.full((50,), NULL_LABEL)
    runs = [ddim_sample_loop(denoiser, schedule, x_T, y, steps=20, generator=torch.Generator().manual_seed(seed))
            for seed in (1, 2)]
    assert torch.equal(*runs)


def test_strided_ancestral_sampling_is_ddim_with_eta_one(gmm):
    denoiser, schedule = _exact(gmm)
    x_T = torch.randn(50, 1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.full((50,), NULL_LABEL)
    ancestral = final(reverse_process(denoiser, schedule, x_T, y, "ddpm", 7, generator=torch.Generator().manual_seed(1)))
    ddim = ddim_sample_loop(denoiser, schedule, x_T, y, steps=7, eta=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ancestral, ddim)


def test_the_reverse_process_can_start_at_level_one(gmm):
    denoiser, schedule = _exact(gmm)
    x = torch.zeros(3, 1, 2, dtype=torch.float64)
    for sampler in ("ddpm", "ddim"):
        levels = list(reverse_process(denoiser, schedule, x, torch.full((3,), NULL_LABEL), sampler, 1, start_level=1))
        assert [level for level, _ in levels] == [0]


def test_dpm_solver_clips_its_predictions_when_asked():
    schedule = Schedule.make("cosine", 20)

    def no_noise(x_t, t, y):  # predicts x0 = x_t / sqrt(abar): far outside [-1, 1] from x_T of std 3
        return torch.zeros_like(x_t)

    x_T = 3 * torch.randn(20, 1, 2, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(20, dtype=torch.long)
    clipped = final(reverse_process(no_noise, schedule, x_T, y, "dpmpp2m", 5, clip_x0=1.0))
    free = final(reverse_process(no_noise, schedule, x_T, y, "dpmpp2m", 5))
    assert clipped.abs().max() <= 1.0 + 1e-6 < free.abs().max()


def test_sample_is_the_reverse_process_from_seeded_noise_with_the_weight_given(gmm):
    """sample(..., w) = the reverse process of ClassifierFreeGuidance(w) from x_T drawn first from the
    generator; w = 0 (the default) is the plain conditional model. One sample is allowed."""
    denoiser, schedule = _exact(gmm)
    for w in (0.0, 1.0, 2.5):
        drawn = sample(denoiser, schedule, 6, label=1, generator=torch.Generator().manual_seed(4), sampler="ddim",
                       steps=5, **({"guidance_weight": w} if w else {}))
        generator = torch.Generator().manual_seed(4)
        x_T = torch.randn((6, 1, 2), generator=generator)
        guided = ClassifierFreeGuidance(denoiser, w) if w else denoiser
        expected = final(reverse_process(guided, schedule, x_T, torch.ones(6, dtype=torch.long), "ddim", 5,
                                         generator=generator))
        assert torch.equal(drawn, expected), w
    assert sample(denoiser, schedule, 1, label=0).shape == (1, 1, 2)


def test_classifier_free_guidance_mixes_the_two_predictions_by_hand():
    def denoiser(x_t, t, y):
        return torch.where(y[:, None, None] == NULL_LABEL, -1.0, 2.0) * torch.ones_like(x_t)

    denoiser.null_label = NULL_LABEL
    guided = ClassifierFreeGuidance(denoiser, 3.0)
    x = torch.zeros(2, 1, 2)
    eps = guided(x, torch.zeros(2, dtype=torch.long), torch.tensor([0, NULL_LABEL]))
    assert eps[0].eq((1 + 3.0) * 2.0 - 3.0 * -1.0).all() and eps[1].eq(-1.0).all()
    assert torch.equal(labels_for(guided, 3, None), torch.full((3,), NULL_LABEL))


def test_classifier_guidance_asks_the_denoiser_for_the_unconditional_prediction(gmm):
    schedule = Schedule.make("cosine", 50)
    exact = gmm.exact_denoiser(schedule.alphas_cumprod)
    asked = []

    def recording(x_t, t, y):
        asked.append(y)
        return exact(x_t, t, y)

    recording.null_label = NULL_LABEL
    guided = ClassifierGuidance(recording, gmm.exact_classifier(schedule.alphas_cumprod), schedule.alphas_cumprod, 2.0)
    guided(torch.zeros(4, 1, 2, dtype=torch.float64), torch.full((4,), 10), torch.tensor([0, 1, 0, 1]))
    assert len(asked) == 1 and torch.equal(asked[0], torch.full((4,), NULL_LABEL))


def test_labels_are_int64_one_per_sample_or_a_clear_error(gmm):
    denoiser, _ = _exact(gmm)
    labels = labels_for(denoiser, 3, torch.tensor([1.0, 0.0, 1.0]))
    assert labels.dtype == torch.int64 and labels.tolist() == [1, 0, 1]
    for bad in (torch.tensor([1, 0]), torch.tensor([[1, 0, 1]])):
        with pytest.raises(ValueError, match=re.escape(f"one per sample, shape (3,); got shape {tuple(bad.shape)}")):
            labels_for(denoiser, 3, bad)


def test_progress_bar_only_when_asked(gmm, capsys):
    denoiser, schedule = _exact(gmm)
    sample(denoiser, schedule, 4, sampler="ddim", steps=5)
    final(reverse_process(denoiser, schedule, torch.zeros(4, 1, 2), torch.full((4,), NULL_LABEL), "ddim", 5))
    assert capsys.readouterr().err == ""
    sample(denoiser, schedule, 4, sampler="ddim", steps=5, progress=True)
    shown = capsys.readouterr().err
    assert "sampling (ddim)" in shown and "0/5" in shown  # the total is the number of steps
    assert not shown.endswith("\n"), "the bar is cleared when sampling ends (leave=False)"


def _stand_in_eps(x_t, t, y):
    """A noise prediction that depends on x_t and t, so every step's input matters."""
    return 0.3 * x_t + 0.02 * t.to(x_t.dtype).view(-1, *([1] * (x_t.dim() - 1)))


def test_ddim_with_partial_noise_takes_song_et_als_steps_by_hand():
    """eta = 0.5 on quadratically spaced steps, each step by the DDIM paper's eq. (12) with its sigma
    (eq. 16) and the z drawn from a generator seeded alike; the last step goes to abar = 1."""
    schedule, steps, eta = Schedule.make("cosine", 50), 5, 0.5
    x = torch.randn(4, 1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.zeros(4, dtype=torch.long)
    got = list(reverse_process(_stand_in_eps, schedule, x, y, "ddim", steps, eta, generator=torch.Generator().manual_seed(3)))
    generator = torch.Generator().manual_seed(3)
    abar = schedule.alphas_cumprod.double().tolist() + [1.0]  # index -1: clean data
    indices = [49, 28, 12, 3, 0]
    assert step_sequence(50, steps) == indices
    for (level, x_got), t, s in zip(got, indices, indices[1:] + [-1]):
        eps = 0.3 * x + 0.02 * t
        x0 = (x - np.sqrt(1 - abar[t]) * eps) / np.sqrt(abar[t])
        sigma = eta * np.sqrt((1 - abar[s]) / (1 - abar[t])) * np.sqrt(1 - abar[t] / abar[s])
        x = np.sqrt(abar[s]) * x0 + np.sqrt(1 - abar[s] - sigma**2) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, dtype=torch.float64)
        assert level == s + 1
        torch.testing.assert_close(x_got, x, rtol=1e-12, atol=1e-12)
    assert 0 < eta * np.sqrt((1 - abar[12]) / (1 - abar[28]) * (1 - abar[28] / abar[12])) < 1, "partial noise indeed"


def test_dpm_solver_takes_the_papers_multistep_updates_by_hand():
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) with alpha = sqrt(abar), sigma = sqrt(1 - abar),
    lambda = log(alpha / sigma): the second-order steps weigh the last two predictions by
    r = h_{i-1} / h_i, which the quadratic spacing makes far from 1. The step into index 0 is
    first order and the last returns x0_hat (the docstring's lower-order final)."""
    schedule = Schedule.make("cosine", 50)
    x = torch.randn(4, 1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.zeros(4, dtype=torch.long)
    got = list(reverse_process(_stand_in_eps, schedule, x, y, "dpmpp2m", 6))
    indices = step_sequence(50, 6)
    assert indices == [49, 31, 18, 8, 2, 0]
    abar = schedule.alphas_cumprod.double()
    alpha, sigma = abar.sqrt(), (1 - abar).sqrt()
    lam = torch.log(alpha / sigma)
    predictions, ratios = [], []
    for i, (t, s) in enumerate(zip(indices[:-1], indices[1:])):
        predictions.append((x - sigma[t] * (0.3 * x + 0.02 * t)) / alpha[t])
        h = lam[s] - lam[t]
        if i == 0 or s == 0:
            direction = predictions[-1]
        else:
            r = (lam[t] - lam[indices[i - 1]]) / h
            ratios.append(float(r))
            direction = (1 + 1 / (2 * r)) * predictions[-1] - 1 / (2 * r) * predictions[-2]
        x = sigma[s] / sigma[t] * x - alpha[s] * torch.expm1(-h) * direction
        assert got[i][0] == s + 1
        torch.testing.assert_close(got[i][1], x, rtol=1e-10, atol=1e-10)
    last = (x - sigma[0] * (0.3 * x + 0.0)) / alpha[0]
    assert got[-1][0] == 0
    torch.testing.assert_close(got[-1][1], last, rtol=1e-10, atol=1e-10)
    assert min(ratios) < 0.8 or max(ratios) > 1.25, f"the ratios {ratios} must be far from 1 to test anything"
