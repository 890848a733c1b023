"""dip_ext/variations.py and its command viz/dip_variations.py: each method on a case with a known
answer (lambda 0 is the plain model, lambda 1 returns the DIP estimate, no level is the single
start, prior weight 0 is plain DIP, RED's gradient), the spread, the head-to-head pick, the study's
rows, and the command's shards and cache."""
import math

import numpy as np
import pytest
import torch

import dip_ext.variations
import viz.dip_variations
from dip_ext.fit import Stage, fit
from dip_ext.images import unit_to_digit
from dip_ext.restore import restore
from dip_ext.starts import DIGIT_DIP, Corruption
from dip_ext.variations import (ARCHITECTURES, LEVEL_SETS, DdpmPrior, DipNoiseEstimate, VariationSettings, fixed_estimate,
                                in_level_set, noise_mix_start, refit_estimate, run_variations, spread)
from dip_ext.variations_tables import (every_table, format_head_to_head, format_pivot, format_question, head_to_head,
                                      report, summary)
from mnist_ext.recipe import load_model
from mnist_ext.scoring import DigitClassifier
from samplers import reverse_process
from utils import Schedule

SCHEDULE = Schedule.make("cosine", 200)


@pytest.fixture(scope="module")
def tiny_model(tiny_mnist):
    model, _ = load_model(tiny_mnist)
    return model


def _digits(n: int = 2, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1).clamp(-1, 1)


def test_level_sets_split_the_levels_below_t0_into_two_halves():
    t0 = 40
    upper = {level for level in range(1, t0 + 1) if in_level_set("upper half", level, t0)}
    lower = {level for level in range(1, t0 + 1) if in_level_set("lower half", level, t0)}
    assert upper == set(range(21, 41)) and lower == set(range(1, 21))
    assert all(in_level_set("all", level, t0) for level in range(1, t0 + 1))
    assert not any(in_level_set("none", level, t0) for level in range(1, t0 + 1))
    with pytest.raises(ValueError, match="unknown level set 'middle'"):
        in_level_set("middle", 3, t0)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_lambda_zero_is_the_plain_model(tiny_model, sampler):
    start, labels = _digits(), torch.tensor([3, 7])
    plain = restore(tiny_model, SCHEDULE, start, 40, labels, steps=5, sampler=sampler, guidance_weight=1.0,
                    generator=torch.Generator().manual_seed(1))
    mixed = restore(tiny_model, SCHEDULE, start, 40, labels, steps=5, sampler=sampler, guidance_weight=1.0,
                    generator=torch.Generator().manual_seed(1), noise_estimate=lambda denoiser: DipNoiseEstimate(
                        denoiser, SCHEDULE, 0.0, "all", 40, fixed_estimate(_digits(seed=5))))
    assert torch.equal(plain, mixed)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_lambda_one_at_every_level_returns_the_dip_estimate(tiny_model, sampler):
    """eps = eps_DIP makes x0_hat = x_DIP at each level, and the last step returns x0_hat."""
    x_dip = _digits(seed=5) * 0.9  # inside DDIM's clip
    restored = restore(tiny_model, SCHEDULE, _digits(), 40, torch.tensor([3, 7]), steps=5, sampler=sampler,
                       generator=torch.Generator().manual_seed(1), noise_estimate=lambda denoiser: DipNoiseEstimate(
                           denoiser, SCHEDULE, 1.0, "all", 40, fixed_estimate(x_dip)))
    assert torch.allclose(restored, x_dip, atol=1e-4)


def test_lambda_mixes_the_x0_predictions_linearly(tiny_model):
    x_t, labels, x_dip = _digits(seed=2), torch.tensor([1, 2]), _digits(seed=5)
    t = torch.full((2,), 29, dtype=torch.long)
    alpha_bar = float(SCHEDULE.alphas_cumprod[29])
    eps = DipNoiseEstimate(tiny_model, SCHEDULE, 0.3, "all", 40, fixed_estimate(x_dip))(x_t, t, labels)
    x0 = (x_t - math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha_bar)
    x0_theta = (x_t - math.sqrt(1 - alpha_bar) * tiny_model(x_t, t, labels)) / math.sqrt(alpha_bar)
    assert torch.allclose(x0, 0.7 * x0_theta + 0.3 * x_dip, atol=1e-4)
    with pytest.raises(ValueError, match=r"the DIP weight must be in \[0, 1\]"):
        DipNoiseEstimate(tiny_model, SCHEDULE, 1.5, "all", 40, fixed_estimate(x_dip))


def test_intermediate_dip_at_no_level_is_the_single_start_and_never_fits(tiny_model):
    def never(x0_theta, level):
        raise AssertionError("the estimate was asked for at a level outside the set")

    start, labels = _digits(), torch.tensor([3, 7])
    single = restore(tiny_model, SCHEDULE, start, 40, labels, steps=5, sampler="ddpm", guidance_weight=1.0,
                     generator=torch.Generator().manual_seed(1))
    none = restore(tiny_model, SCHEDULE, start, 40, labels, steps=5, sampler="ddpm", guidance_weight=1.0,
                   generator=torch.Generator().manual_seed(1),
                   noise_estimate=lambda denoiser: DipNoiseEstimate(denoiser, SCHEDULE, 1.0, "none", 40, never))
    assert torch.equal(single, none)


def test_the_estimate_is_asked_for_only_at_the_levels_of_its_set(tiny_model):
    asked = []

    def recording(x0_theta, level):
        asked.append(level)
        return x0_theta

    levels = [level for level, _ in reverse_process(tiny_model, SCHEDULE, _digits(), torch.tensor([3, 7]), "ddim", 6,
                                                    start_level=40)]
    restore(tiny_model, SCHEDULE, _digits(), 40, torch.tensor([3, 7]), steps=6, sampler="ddim",
            noise_estimate=lambda denoiser: DipNoiseEstimate(denoiser, SCHEDULE, 0.5, "upper half", 40, recording))
    visited = [40] + levels[:-1]  # the sampler predicts at each level it starts a step from
    assert asked == [level for level in visited if level > 20] and asked


def test_the_refit_sees_the_clipped_prediction_and_seeds_each_digit_by_its_place():
    """Question 1's estimate fits DIP to x0_theta clipped to [-1, 1], digit i with seed + i."""
    digit = torch.linspace(-3.0, 3.0, 28 * 28).reshape(1, 1, 28, 28)  # beyond [-1, 1], and beyond [-2, 2]
    twice = torch.cat([digit, digit])
    estimate = refit_estimate(iterations=3, seed=5)
    fitted = estimate(twice, level=10)
    assert fitted.shape == (2, 1, 28, 28) and fitted.abs().max() <= 1
    assert torch.equal(fitted, estimate(twice.clamp(-1, 1), level=10)), "only the clipped prediction is fitted"
    assert not torch.equal(fitted[0], fitted[1]), "the same digit in another place: another seed"
    assert torch.equal(fitted[1], refit_estimate(iterations=3, seed=6)(digit, level=10)[0]), "digit 1 has seed + 1"


def test_spread_is_zero_for_identical_draws_and_tends_to_a_known_std():
    same = np.repeat(np.random.default_rng(0).random((1, 5, 28, 28)), 4, axis=0)
    assert spread(same) == 0.0
    draws = 0.3 + 0.2 * np.random.default_rng(1).standard_normal((400, 3, 28, 28))
    assert spread(draws) == pytest.approx(0.2, rel=0.02)  # 400 draws: the root of the variance is within 1%
    assert spread(2 * draws) == pytest.approx(2 * spread(draws))
    with pytest.raises(ValueError, match="at least two draws"):
        spread(draws[:1])
    assert spread(np.array([[0.0, 1.0], [2.0, 3.0]])) == pytest.approx(math.sqrt(2)), "draws of scalars, (K, N)"
    unequal = np.stack([0.1 * draws[:, 0] / 0.2, 0.3 * draws[:, 1] / 0.2], axis=1)  # items of std 0.1 and 0.3
    assert spread(unequal) == pytest.approx(0.2, rel=0.02), "the mean of each item's root, not the root of the mean (0.224)"


def test_the_students_noise_mix_runs_from_pure_noise_to_the_dip_output():
    x_dip = _digits(4, seed=3)
    assert torch.equal(noise_mix_start(x_dip, 1.0, torch.Generator().manual_seed(0)), x_dip)
    noise = noise_mix_start(x_dip, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(noise, torch.randn(x_dip.shape, generator=torch.Generator().manual_seed(0)))
    half = noise_mix_start(x_dip, 0.5, torch.Generator().manual_seed(0))
    assert torch.allclose(half, 0.5 * x_dip + 0.5 * noise)


class _ZeroNoise(torch.nn.Module):
    """A model that predicts no noise: x0_hat = x_t / sqrt(abar_t)."""

    null_label = 10

    def forward(self, x_t, t, labels):
        return torch.zeros_like(x_t)


def test_the_ddpm_prior_has_reds_gradient():
    """With eps_theta = 0, D_t(f) = clip(f + sqrt((1 - abar_t) / abar_t) eps / 2, 0, 1); the gradient of
    (mu / 2) mean((f - sg(D))^2) in f is mu (f - D) / P."""
    output = (0.2 + 0.6 * torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))).requires_grad_()
    prior = DdpmPrior(_ZeroNoise(), SCHEDULE, 3.0, (10,), torch.Generator().manual_seed(4))
    prior(output).backward()
    alpha_bar = float(SCHEDULE.alphas_cumprod[9])
    eps = torch.randn(output.shape, generator=torch.Generator().manual_seed(4))
    denoised = (output.detach() + math.sqrt((1 - alpha_bar) / alpha_bar) * eps / 2).clamp(0, 1)
    assert torch.allclose(output.grad, 3.0 * (output.detach() - denoised) / output.numel(), atol=1e-6)


def test_the_prior_cycles_its_levels_and_refuses_bad_ones(tiny_model):
    prior = DdpmPrior(tiny_model, SCHEDULE, 1.0, (5, 50), torch.Generator().manual_seed(0))
    seen = []
    original = tiny_model.forward

    def recording(x_t, t, labels):
        seen.append(int(t[0]) + 1)
        assert (labels == tiny_model.null_label).all()
        return original(x_t, t, labels)

    tiny_model.forward = recording
    try:
        for _ in range(3):
            prior(torch.rand(1, 1, 28, 28))
    finally:
        del tiny_model.forward
    assert seen == [5, 50, 5]
    with pytest.raises(ValueError, match="levels between 1 and T = 200"):
        DdpmPrior(tiny_model, SCHEDULE, 1.0, (0,), torch.Generator())
    with pytest.raises(ValueError, match="prior weight must be >= 0"):
        DdpmPrior(tiny_model, SCHEDULE, -1.0, (5,), torch.Generator())


def test_a_prior_of_weight_zero_is_plain_dip_and_a_positive_one_changes_the_fit(tiny_model):
    observation = np.clip(np.random.default_rng(0).random((28, 28)), 0, 1)
    plain = fit(observation, DIGIT_DIP, [Stage(0.0, 15)], seed=2, progress=False)
    zero = fit(observation, DIGIT_DIP, [Stage(0.0, 15)], seed=2, progress=False,
               regulariser=DdpmPrior(tiny_model, SCHEDULE, 0.0, (10,), torch.Generator().manual_seed(0)))
    assert np.array_equal(plain.final, zero.final) and plain.loss == zero.loss
    strong = fit(observation, DIGIT_DIP, [Stage(0.0, 15)], seed=2, progress=False,
                 regulariser=DdpmPrior(tiny_model, SCHEDULE, 50.0, (10,), torch.Generator().manual_seed(0)))
    assert not np.array_equal(plain.final, strong.final)


# ----- the study's rows and what it prints ---------------------------------------------------------------

TINY = VariationSettings(durations=(3, 6), architecture_iterations=3, start_iterations=3, steps=(1, 2), ddpm_steps=10,
                         sdedit_t0_fractions=(0.5,), noise_weights=(0.0, 1.0), refit_iterations=2,
                         noise_mix_shares=(0.25,), priors=((0.0, (10,)), (1.0, (10,))), prior_iterations=3,
                         architectures=("width 32 (default)", "width 16"), draws=2)
"""The study at its smallest. The SDEdit level (0.5 T = 100) is not the DIP start's (0.2 T = 40) and
the students' mix is not half and half, so that a row run from the wrong level or mixed the wrong
way round shows."""


class Trace:
    """What run_variations computed, recorded on the way: the images each row was scored on (in row
    order), each restore call (its start, level, steps, noise estimate and output), each start of
    the students' mix, each DIP fit's outputs and the corrupted observations."""

    def __init__(self, patch: pytest.MonkeyPatch):
        self.scored, self.restores, self.mix_starts, self.fits, self.observations = [], [], [], [], []
        module = dip_ext.variations
        predict, restore_, reverse, fits, problems = (module.predict, module.restore, module.reverse_process,
                                                      module._fits, module.digit_problems)

        def scored(classifier, images):
            self.scored.append(images)
            return predict(classifier, images)

        def restored(model, schedule, start, t0, labels, **options):
            output = restore_(model, schedule, start, t0, labels, **options)
            self.restores.append({"start": start, "t0": t0, "output": output} | options)
            return output

        def mixed(denoiser, schedule, x_T, *args, **options):
            self.mix_starts.append(x_T.clone())
            return reverse(denoiser, schedule, x_T, *args, **options)

        def fitted(*args, **options):
            outputs, seconds = fits(*args, **options)
            self.fits.append(outputs)
            return outputs, seconds

        def corrupted(observations, *args):
            self.observations.append(observations)
            return problems(observations, *args)

        for name, spy in (("predict", scored), ("restore", restored), ("reverse_process", mixed), ("_fits", fitted),
                          ("digit_problems", corrupted)):
            patch.setattr(module, name, spy)

    def restore_of(self, index: int) -> dict:
        """The restore call whose output row `index` was scored on."""
        found = [call for call in self.restores if call["output"] is self.scored[index]]
        assert len(found) == 1, f"row {index} was not scored on the output of one restore call"
        return found[0]


@pytest.fixture(scope="module", params=[Corruption("noise 50", sigma=50.0), Corruption("holes", missing=0.5)],
                ids=["noise", "holes"])
def tiny_study(request, tiny_model):
    with pytest.MonkeyPatch.context() as patch:
        trace = Trace(patch)
        rows = run_variations(tiny_model, SCHEDULE, DigitClassifier().eval(), _digits(2), torch.tensor([3, 7]),
                              request.param, TINY, seed=0)
    assert len(trace.scored) == len(rows), "each row is scored once"
    return rows, trace


@pytest.fixture(scope="module")
def tiny_rows(tiny_study):
    return tiny_study[0]


def _row(rows, method, steps):
    found = [row for row in rows if row["method"] == method and row["steps"] == steps]
    assert len(found) == 1 or all(found[0]["psnr"] == row["psnr"] for row in found), method
    return found[0]


def test_the_study_answers_every_question_with_one_row_per_method(tiny_rows):
    questions = {row["question"] for row in tiny_rows}
    assert questions == {"baselines", "1", "2", "3", "4"}
    keys = [(row["question"], row["method"], row["steps"]) for row in tiny_rows]
    assert len(keys) == len(set(keys))
    refits = [row for row in tiny_rows if row["question"] == "1"]
    assert len(refits) == len(LEVEL_SETS) * len(TINY.steps)
    spreads = [row for row in tiny_rows if not math.isnan(row["pixel spread"])]
    assert {row["question"] for row in spreads} == {"baselines", "3"} and all(row["pixel spread"] > 0 for row in spreads)
    assert [row["method"] for row in spreads if row["question"] == "baselines"][0].startswith("DDPM alone: pure noise")


def test_the_zero_weights_reproduce_their_baselines(tiny_rows):
    t0 = round(TINY.t0_fraction * SCHEDULE.T)
    single = {steps: _row(tiny_rows, f"DIP 3 start, t0 {t0}", steps)["psnr"] for steps in TINY.steps}
    for level_set in LEVEL_SETS:
        for steps in TINY.steps:
            assert _row(tiny_rows, f"DIP 3 start, lambda 0 at {level_set} levels", steps)["psnr"] == single[steps]
    assert _row(tiny_rows, "DIP 3 + DDPM prior mu 0 at t 10 alone", 0)["psnr"] == _row(tiny_rows, "DIP 3 alone", 0)["psnr"]
    with_prior = _row(tiny_rows, "DIP 3 + DDPM prior mu 1 at t 10 alone", 0)["psnr"]
    assert with_prior != _row(tiny_rows, "DIP 3 alone", 0)["psnr"], "a prior of positive weight reaches the study's fits"
    assert _row(tiny_rows, "DIP 3 + DDPM prior mu 0 at t 10, start t0 40", 2)["psnr"] == single[2]


def test_each_row_is_run_from_the_start_level_and_steps_its_label_states(tiny_study):
    """Every row scored on a restore call: the level in its label ("t0 L", or T for pure noise) is the
    level the call starts at, its steps are the call's, and its start is the one the label names: the
    observation for the DDPM alone from t0 (level 0.5 T, not the DIP start's 0.2 T), zeros for pure
    noise, DIP's output after start_iterations for the DIP start and questions 1 and 2, the fit of
    the duration or network named for question 3's, the prior's fit for question 4's."""
    rows, trace = tiny_study
    t0, sdedit = round(TINY.t0_fraction * SCHEDULE.T), round(TINY.sdedit_t0_fractions[0] * SCHEDULE.T)
    durations, priors = trace.fits[0], trace.fits[-len(TINY.priors):]
    x_dip = durations[TINY.start_iterations]
    observation = unit_to_digit(trace.observations[0])[:, None]
    checked = set()
    for index, row in enumerate(rows):
        if row["steps"] == 0 or "students' mix" in row["method"]:
            continue
        call = trace.restore_of(index)
        if row["method"].startswith("DDPM alone: pure noise"):
            level = SCHEDULE.T
        elif "t0 " in row["method"]:
            level = int(row["method"].split("t0 ")[1].split(",")[0])
        else:  # questions 1 and 2 change the single DIP start's steps, which run from its t0
            level = t0
        assert (call["t0"], call["steps"]) == (level, row["steps"]), row["method"]
        method = row["method"]
        if method.startswith("DDPM alone: observation"):
            expected = observation
            assert level == sdedit != t0
        elif method.startswith("DDPM alone: pure noise"):
            expected = torch.zeros_like(observation)
        elif row["question"] in ("baselines", "1", "2"):
            expected = x_dip
            assert level == t0
        elif row["question"] == "3":
            name, k = method.split(", DIP ")[0], int(method.split(", DIP ")[1].split()[0])
            others = list(TINY.architectures[1:])
            expected = durations[k] if name == TINY.architectures[0] else trace.fits[1 + others.index(name)][k]
        elif row["question"] == "4":
            weight = float(method.split(" mu ")[1].split(" ")[0])
            expected = priors[[w for w, _ in TINY.priors].index(weight)][TINY.prior_iterations]
        assert torch.equal(call["start"], expected), method
        assert (call["noise_estimate"] is not None) == (row["question"] in ("1", "2")), method
        checked.add(row["question"])
    assert checked == {"baselines", "1", "2", "3", "4"}


def test_the_students_mix_starts_from_the_share_its_label_states(tiny_study):
    """x_T = 0.25 x_DIP + 0.75 eps for the row labelled '0.25 DIP + 0.75 noise', eps the study seed's draw."""
    rows, trace = tiny_study
    x_dip = trace.fits[0][TINY.start_iterations]
    noise = torch.randn(x_dip.shape, generator=torch.Generator().manual_seed(0))
    mixes = [row for row in rows if "students' mix" in row["method"]]
    assert [row["method"] for row in mixes] == ["x_T = 0.25 DIP 3 + 0.75 noise (students' mix)"] * 2
    assert [row["steps"] for row in mixes] == [max(TINY.steps), TINY.ddpm_steps]
    assert len(trace.mix_starts) == 2
    for start in trace.mix_starts:
        assert torch.allclose(start, 0.25 * x_dip + 0.75 * noise, atol=1e-6)


def test_the_dip_alone_rows_are_scored_on_the_fits_they_name(tiny_study):
    rows, trace = tiny_study
    durations = trace.fits[0]
    for index, row in enumerate(rows):
        if row["question"] == "baselines" and row["steps"] == 0:
            k = int(row["method"].split()[1])
            assert torch.equal(trace.scored[index], durations[k]), row["method"]
    widths = [row for index, row in enumerate(rows) if row["method"] == "width 16, DIP 3 alone"]
    assert len(widths) == 1 and len(trace.fits) == 2 + len(TINY.priors), "one fit for width 16, one per prior"


def test_the_head_to_head_picks_the_best_of_each_side_and_judges_the_margin():
    def row(corruption, question, method, steps, psnr):
        return {"question": question, "corruption": corruption, "method": method, "steps": steps, "psnr": psnr}

    rows = [row("a", "baselines", "DIP 100 alone", 0, 20.0), row("a", "baselines", "DIP 300 alone", 0, 21.0),
            row("a", "baselines", "DDPM alone: pure noise", 25, 12.0),
            row("a", "baselines", "DDPM alone: observation at t0 50", 25, 22.0),
            row("a", "2", "DIP 300 start, lambda 1 at all levels", 5, 23.5),
            row("a", "2", "DIP 300 start, lambda 1 at all levels", 10, 30.0),  # more than 1/5 of the steps
            row("b", "baselines", "DIP 100 alone", 0, 20.0), row("b", "baselines", "DDPM alone: pure noise", 25, 15.0),
            row("b", "1", "DIP 300 start, refit", 2, 20.5)]
    a, b = head_to_head(rows, ddpm_steps=25)
    assert (a["dip"]["psnr"], a["ddpm"]["psnr"], a["combination"]["psnr"], a["beats both"]) == (21.0, 22.0, 23.5, True)
    assert (b["combination"]["psnr"], b["beats both"]) == (20.5, False)
    with_prior = rows + [row("b", "4", "DIP 300 + DDPM prior mu 2 at t 25 alone", 0, 21.0)]
    assert head_to_head(with_prior, ddpm_steps=25)[1]["combination"]["psnr"] == 21.0, "a fit with the DDPM prior counts"
    assert head_to_head(with_prior, ddpm_steps=25)[1]["beats both"], "21.0 is 1 dB above DIP alone's 20.0"


def test_the_head_to_head_never_counts_a_method_alone_as_a_combination():
    def row(question, method, steps, psnr):
        return {"question": question, "corruption": "a", "method": method, "steps": steps, "psnr": psnr}

    rows = [row("baselines", "DIP 300 alone", 0, 20.0), row("baselines", "DDPM alone: pure noise", 25, 12.0),
            row("baselines", "DDPM alone: observation at t0 50", 5, 31.0),  # a DDPM alone within 1/5 of the steps
            row("3", "width 64, DIP 300 alone", 0, 32.0),  # DIP alone, in question 3's table
            row("2", "DIP 300 start, lambda 1 at all levels", 5, 22.0),
            row("3", "width 64, DIP 300 start, t0 40", 5, 23.0)]
    [result] = head_to_head(rows, ddpm_steps=25)
    assert result["combination"]["method"] == "width 64, DIP 300 start, t0 40"
    [one_step] = head_to_head(rows + [row("baselines", "DIP 300 start, t0 40", 1, 23.5)], ddpm_steps=25)
    assert (one_step["combination"]["method"], one_step["combination"]["steps"]) == ("DIP 300 start, t0 40", 1)
    assert (result["dip"]["psnr"], result["ddpm"]["psnr"], result["beats both"]) == (20.0, 31.0, False)


def _table(text: str) -> list[dict[str, str]]:
    """A markdown table's body rows as {column header: cell}."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert set(lines[1]) <= set("|-")
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


SUMMARY_ROW = {"question": "3", "corruption": "noise 50", "method": "width 16, DIP 300 alone", "steps": 0,
               "psnr": 21.0, "psnr std": 0.5, "ssim": 0.612, "ssim std": 0.02, "accuracy": 0.9, "accuracy std": 0.1,
               "pixel spread": 0.123, "pixel spread std": 0.004, "feature spread": 1.5, "feature spread std": 0.25,
               "seconds per digit": 3.25, "seconds per digit std": 0.5}


def test_each_table_prints_each_measure_under_its_own_column():
    assert format_question([SUMMARY_ROW], "3").splitlines()[:2] == ["Question 3: DIP duration and architecture for the start", ""]
    [cells] = _table(format_question([SUMMARY_ROW], "3"))
    assert cells == {"corruption": "noise 50", "method": "width 16, DIP 300 alone", "steps": "0",
                     "PSNR (dB)": "21.00 ± 0.50", "SSIM": "0.612 ± 0.020", "accuracy": "90%",
                     "pixel spread": "0.123 ± 0.004", "feature spread": "1.50 ± 0.25", "s per digit": "3.25"}
    without = SUMMARY_ROW | {"pixel spread": float("nan"), "feature spread": float("nan")}
    assert [_table(format_question([without], "3"))[0][column] for column in ("pixel spread", "feature spread")] == \
        ["-", "-"], "a row without draws has no spread"
    assert _table(format_question([SUMMARY_ROW], "2")) == [], "a question's table holds only its rows"


def test_the_pivot_puts_each_corruption_in_its_own_column():
    other = SUMMARY_ROW | {"corruption": "holes", "psnr": 15.0, "psnr std": 1.25, "accuracy": 0.5}
    alone = SUMMARY_ROW | {"corruption": "holes", "method": "width 64, DIP 300 alone", "psnr": 17.0, "accuracy": 0.75}
    text = format_pivot([SUMMARY_ROW, other, alone], "3")
    assert text.splitlines()[:2] == ["Question 3: DIP duration and architecture for the start (mean PSNR in dB ± std "
                                     "over seeds, label accuracy in brackets)", ""], "Markdown needs the blank line"
    assert _table(text) == [
        {"method": "width 16, DIP 300 alone", "steps": "0", "noise 50": "21.00 ± 0.50 (90%)", "holes": "15.00 ± 1.25 (50%)"},
        {"method": "width 64, DIP 300 alone", "steps": "0", "noise 50": "-", "holes": "17.00 ± 0.50 (75%)"}]


def test_the_head_to_head_table_prints_each_pick_its_margin_and_the_verdict():
    def row(question, method, steps, psnr):
        return {"question": question, "corruption": "noise 50", "method": method, "steps": steps, "psnr": psnr}

    rows = [row("baselines", "DIP 300 alone", 0, 20.0), row("baselines", "DDPM alone: pure noise", 25, 21.5),
            row("2", "DIP 300 start, lambda 1 at all levels", 5, 22.25)]
    lines = format_head_to_head(head_to_head(rows, ddpm_steps=25), 25).splitlines()
    assert lines[0] == ("Head to head (mean PSNR over seeds, each an oracle pick; a combination in at most 5 reverse "
                        "steps, 1/5 of the DDPM's 25):")
    assert lines[1] == "" and lines[2:] == ["| corruption | DIP alone | DDPM alone | best combination | margin over the better | "
                         "beats both by 1 dB |", "|---|---|---|---|---|---|",
                         "| noise 50 | 20.00 (DIP 300 alone) | 21.50 (DDPM alone: pure noise, 25 steps) | 22.25 (DIP 300 "
                         "start, lambda 1 at all levels, 5 steps) | +0.75 | no |"]
    assert format_head_to_head(head_to_head(rows, ddpm_steps=25, margin=0.75), 25).endswith("| +0.75 | yes |"), \
        "a margin of exactly the threshold beats both"


def _study_row(question, method, steps, psnr, spread=float("nan")):
    return {"question": question, "corruption": "noise 50", "seed": 0, "method": method, "steps": steps, "psnr": psnr,
            "ssim": 0.5, "accuracy": 0.75, "pixel spread": spread, "feature spread": spread, "seconds per digit": 1.25}


STUDY_ROWS = [_study_row("baselines", "DIP 300 alone", 0, 20.0), _study_row("baselines", "DDPM alone: pure noise", 25, 12.0, 0.5),
              _study_row("1", "DIP 300 start, DIP 100 refit to x0 at all levels", 5, 19.0),
              _study_row("2", "DIP 300 start, lambda 1 at all levels", 5, 21.0),
              _study_row("3", "width 16, DIP 300 alone", 0, 18.0), _study_row("3", "width 16, DIP 300 start, t0 40", 5, 19.5, 0.25),
              _study_row("4", "DIP 300 + DDPM prior mu 2 at t 25 alone", 0, 22.0)]
"""One row of each question and baseline, seed 0, for the tables; seed 1 reads 2 dB more."""


def test_the_report_prints_every_question_and_the_mean_over_seeds():
    shifted = [row | {"seed": 1, "psnr": row["psnr"] + 2.0} for row in STUDY_ROWS]
    text = report(STUDY_ROWS + shifted, 25)
    assert text.startswith("Baselines: ")
    for title in ("Question 1", "Question 2", "Question 3", "Question 4", "Head to head"):
        assert f"|\n\n{title}" in text, "each part after a blank line"
    assert "| DIP 300 alone | 0 | 21.00 ± 1.00 (75%) |" in text, "the pivot's cell: mean and std over the two seeds"
    assert "| noise 50 | width 16, DIP 300 start, t0 40 | 5 | 20.50 ± 1.00 | 0.500 ± 0.000 | 75% | 0.250 ± 0.000 | " \
           "0.25 ± 0.00 | 1.25 |" in text, "question 3's whole table, its spreads and times"
    assert text.index("Question 4") < text.index("| noise 50 | width 16") < text.index("Head to head")
    mean = summary(STUDY_ROWS + shifted)[0]
    assert mean["psnr"] == pytest.approx(21.0) and mean["psnr std"] == pytest.approx(1.0)


def test_the_tables_file_holds_each_questions_whole_table_over_seeds():
    shifted = [row | {"seed": 1, "psnr": row["psnr"] + 2.0} for row in STUDY_ROWS]
    text = every_table(STUDY_ROWS + shifted)
    titles = [line for line in text.splitlines() if line.startswith(("Baselines: ", "Question "))]
    assert titles == ["Baselines: DIP alone and the DDPM alone", "Question 1: DIP at intermediate stages",
                      "Question 2: DIP in the noise estimate", "Question 3: DIP duration and architecture for the start",
                      "Question 4: the DDPM as a learned prior for DIP"]
    assert text.endswith("|\n") and text.count("\n\nQuestion ") == 4, "one table after another, a blank line between"
    body = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| corruption |")]
    assert len(body) == len(STUDY_ROWS), "a row per question, corruption, method and steps"
    assert "| noise 50 | DIP 300 alone | 0 | 21.00 ± 1.00 | 0.500 ± 0.000 | 75% | - | - | 1.25 |" in text


def test_settings_refuse_a_start_outside_the_durations_an_unknown_network_and_one_draw():
    with pytest.raises(ValueError, match=r"start_iterations \(7\) must be one of the durations"):
        VariationSettings(durations=(5, 10), start_iterations=7)
    with pytest.raises(ValueError, match=r"^invalid variation settings: architectures must be among \('width 32 \(default\)'"):
        VariationSettings(architectures=("width 8",))
    with pytest.raises(ValueError) as refused:
        VariationSettings(durations=(5, 10), start_iterations=7, draws=1)
    assert str(refused.value) == ("invalid variation settings: start_iterations (7) must be one of the durations (5, 10); "
                                  "draws must be >= 2 to measure a spread, got 1"), "every problem, in one line"
    assert VariationSettings(draws=2).draws == 2
    with pytest.raises(ValueError, match="unknown level set 'middle'"):
        DipNoiseEstimate(None, SCHEDULE, 0.5, "middle", 40, fixed_estimate(_digits()))


def test_each_network_of_question_3_is_the_default_with_what_its_name_changes():
    default = ARCHITECTURES["width 32 (default)"]
    assert default == DIGIT_DIP and VariationSettings().architectures == tuple(ARCHITECTURES)
    changed = {name: {field: (getattr(default, field), getattr(config, field)) for field in vars(default)
                      if getattr(config, field) != getattr(default, field)} for name, config in ARCHITECTURES.items()}
    assert changed == {"width 32 (default)": {}, "width 16": {"channels_down": (32, 16), "channels_up": (32, 16)},
                       "width 64": {"channels_down": (32, 64), "channels_up": (32, 64)}, "depth 3": {"depth": (4, 3)},
                       "nearest upsampling": {"upsampling": (default.upsampling, "nearest")}}


# ----- the command: shards, cache, figures ---------------------------------------------------------------

def test_shards_split_the_jobs_and_a_rerun_reads_the_cache(tmp_path, monkeypatch):
    computed = []

    def fake_job(model_path, classifier_path, corruption, settings, seed, per_class):
        computed.append((corruption, seed))
        return [{"corruption": corruption, "seed": seed}]

    monkeypatch.setattr(viz.dip_variations, "_job", fake_job)
    jobs = [(tmp_path / f"{name}_{seed}.json", (None, None, name, None, seed, 1)) for name in "ab" for seed in (0, 1, 2)]
    first = viz.dip_variations.run_jobs(jobs, (1, 2), workers=0)
    assert computed == [("a", 0), ("a", 2), ("b", 1)] and len(first) == 3
    everything = viz.dip_variations.run_jobs(jobs, None, workers=0)
    assert len(computed) == 6 and len(everything) == 6
    viz.dip_variations.run_jobs(jobs, None, workers=0)
    assert len(computed) == 6, "a finished job is read from the cache, not computed again"


@pytest.mark.parametrize("text, message", [("2", "must look like K/N"), ("0/3", "1 <= K <= N"), ("4/3", "1 <= K <= N")])
def test_a_bad_shard_is_refused_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        viz.dip_variations.parse_shard(text)


def test_the_figures_are_drawn_and_their_notes_follow_their_numbers(tiny_rows, tmp_path):
    entries = viz.dip_variations.figures(tiny_rows, TINY, SCHEDULE.T, tmp_path)
    assert [entry.path.name for entry in entries] == ["dip_intermediate.png", "dip_noise_estimate.png",
                                                       "dip_duration.png", "dip_prior.png"]
    assert all(entry.path.exists() for entry in entries)
    corruption = tiny_rows[0]["corruption"]
    steps = entries[0].numbers[corruption]
    best = max(steps, key=lambda label: steps[label][2])
    assert f"{corruption}: at 2 steps the highest mean PSNR is {best} ({steps[best][2]:.2f} dB" in entries[0].observe
    bars = entries[3].numbers[corruption]
    assert f"highest {max(bars, key=bars.get)} ({max(bars.values()):.2f} dB)" in entries[3].observe
