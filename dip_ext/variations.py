"""The homework's other directions, measured on held-out MNIST digits (instructor side, not in the
handout): DIP inside the reverse process, DIP in the noise estimate, DIP's duration and
architecture for the start, and the trained DDPM as a learned prior for DIP.

Every method starts from the corruptions and digits of the start study (dip_ext/starts.py) and is
scored the same way: PSNR and SSIM to the clean digit, the evaluation classifier's label accuracy,
and seconds per digit with every DIP fit included. The reverse process is restore's (noised start
at t0, `steps` respaced ancestral steps with the label, RePaint for masks).

1. DIP at intermediate stages. At the levels of a level set, a DIP network is fitted afresh to the
   model's current prediction x0_theta (refit_iterations), and its output replaces x0_theta there:
   the image prior of DIP applied to the model's guess, stage by stage.
2. DIP in the noise estimate. At the levels of a level set, the sampler's noise estimate is

       eps = (1 - lam) eps_theta + lam eps_DIP,    eps_DIP = (x_t - sqrt(abar_t) x_DIP) / sqrt(1 - abar_t),

   eps_DIP being the noise x_t holds if its clean image is the DIP estimate x_DIP of the
   observation. Since x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) is affine in eps, this is
   x0_hat = (1 - lam) x0_theta + lam x_DIP: lam = 0 is the plain model, lam = 1 at the last level
   returns x_DIP. The mix earlier students tried, x_T = a x_DIP + (1 - a) eps from level T, is a row.
3. DIP's duration and architecture for the start: the start study's single start (DIP k noised to
   t0, then the steps) for k from 50 to 2,000 and other widths, depths and upsamplings, with the
   diversity of `draws` reverse draws from one start (`spread`).
4. The DDPM as a learned prior for DIP (RED, Romano et al. 2017, with the diffusion model as the
   denoiser). DIP fits ||m (f - y)||^2 / |m| + (mu / 2) mean((f - sg(D_t(f)))^2), whose gradient in
   f adds mu (f - D_t(f)) / P (P pixels): RED's gradient. D_t noises f to a level t of `levels`
   (cycled over the iterations) and takes the model's unconditional prediction of x0:
   D_t(f) = x0_theta(sqrt(abar_t) f + sqrt(1 - abar_t) eps, t). mu = 0 is plain DIP.

Images: digits (N, 1, 28, 28) in the model's range [-1, 1]; DIP works in [0, 1] (28, 28).
"""
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from dip_ext.fit import Stage, fit
from dip_ext.images import digit_to_unit, unit_to_digit
from dip_ext.network import DipConfig
from dip_ext.restore import keep_observed, restore
from dip_ext.starts import DIGIT_DIP, Corruption, StartProblem, StartSettings, corrupt, digit_problems, dip_fits, quality
from mnist_ext.scoring import features, predict
from samplers import ClassifierFreeGuidance, final, predict_x0, reverse_process
from utils import Schedule

LEVEL_SETS = ("all", "upper half", "lower half")
"""Which levels below t0 the study's methods act on: all of them, those above t0 / 2, those at or
below it. The set "none" (no level: the single start) is accepted too."""


def in_level_set(name: str, level: int, t0: int) -> bool:
    """Whether the paper's level t = `level` (1..t0) belongs to the level set `name` below t0."""
    if name not in LEVEL_SETS + ("none",):
        raise ValueError(f"unknown level set {name!r}; choose one of {LEVEL_SETS + ('none',)}")
    return name == "all" or (name != "none" and (level > t0 / 2) == (name == "upper half"))


class DipNoiseEstimate:
    """A denoiser whose noise estimate, at the levels of `level_set` below t0, is

        eps = (1 - weight) eps_theta + weight eps_DIP,   eps_DIP = (x_t - sqrt(abar_t) x_DIP) / sqrt(1 - abar_t),

    and eps_theta elsewhere. x_DIP = estimate(x0_theta, level): a fixed DIP output of the
    observation (question 2), or a DIP fitted to the model's prediction x0_theta (question 1).
    Called as the sampler calls a denoiser: (x_t (N, 1, 28, 28), t (N,) schedule indices, y (N,)) -> eps.
    """

    def __init__(self, denoiser, schedule: Schedule, weight: float, level_set: str, t0: int,
                 estimate: Callable[[Tensor, int], Tensor]):
        if not 0 <= weight <= 1:
            raise ValueError(f"the DIP weight must be in [0, 1] (0: the model alone), got {weight}")
        in_level_set(level_set, t0, t0)  # checks the name
        self.denoiser, self.schedule, self.weight = denoiser, schedule, weight
        self.level_set, self.t0, self.estimate = level_set, t0, estimate

    def __call__(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        eps = self.denoiser(x_t, t, y)
        level = int(t[0]) + 1
        if self.weight == 0 or not in_level_set(self.level_set, level, self.t0):
            return eps
        alpha_bar = float(self.schedule.alphas_cumprod[level - 1])
        x_dip = self.estimate(predict_x0(x_t, eps, alpha_bar), level)
        eps_dip = (x_t - math.sqrt(alpha_bar) * x_dip) / math.sqrt(1 - alpha_bar)
        return (1 - self.weight) * eps + self.weight * eps_dip


def fixed_estimate(x_dip: Tensor) -> Callable[[Tensor, int], Tensor]:
    """Question 2's estimate: the same DIP output (N, 1, 28, 28) in [-1, 1] at every level."""
    return lambda x0_theta, level: x_dip


def refit_estimate(iterations: int, seed: int, config: DipConfig = DIGIT_DIP) -> Callable[[Tensor, int], Tensor]:
    """Question 1's estimate: at each level, a fresh DIP (`config`, `iterations`, seed + digit index)
    fitted to each digit of the model's x0_theta (N, 1, 28, 28), clipped to [-1, 1]; returns its
    averaged output in [-1, 1]."""

    def estimate(x0_theta: Tensor, level: int) -> Tensor:
        targets = digit_to_unit(x0_theta[:, 0])  # clipped to [0, 1]
        with torch.enable_grad():  # the sampler runs without gradients; the fit needs them
            outputs = [fit(target, config, [Stage(0.0, iterations)], seed=seed + index, progress=False).final
                       for index, target in enumerate(targets)]
        return unit_to_digit(np.stack(outputs))[:, None]

    return estimate


def noise_mix_start(x_dip: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """x_T = share x_DIP + (1 - share) eps, eps ~ N(0, I): the starting noise earlier students mixed
    a DIP output into; x_dip (N, 1, 28, 28). share 0 is pure noise."""
    if not 0 <= share <= 1:
        raise ValueError(f"the DIP share of the starting noise must be in [0, 1], got {share}")
    return share * x_dip + (1 - share) * torch.randn(x_dip.shape, generator=generator)


def spread(samples: np.ndarray) -> float:
    """Diversity of K draws of each of N items, samples (K, N, ...): the root of the per-coordinate
    variance over the draws (unbiased), averaged over coordinates, then averaged over items. 0 for
    identical draws; for draws mean + s z with z ~ N(0, I), it tends to s."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim < 2 or len(samples) < 2:
        raise ValueError(f"give at least two draws of each item, shape (K >= 2, N, ...); got {samples.shape}")
    variance = samples.reshape(len(samples), samples.shape[1], -1).var(axis=0, ddof=1)  # (N, D)
    return float(np.sqrt(variance.mean(axis=1)).mean())


class DdpmPrior:
    """RED's regulariser with the diffusion model as the denoiser (question 4), for dip_ext.fit:
    (weight / 2) mean((f - sg(D_t(f)))^2), f the DIP output (1, 1, 28, 28) in [0, 1] and

        D_t(f) = (x0_theta(sqrt(abar_t) (2 f - 1) + sqrt(1 - abar_t) eps, t) + 1) / 2,

    the model's unconditional prediction of the clean digit from f noised to level t, clipped to
    [0, 1]; t cycles through `levels` (the paper's t), one per call; eps from `generator`."""

    def __init__(self, model, schedule: Schedule, weight: float, levels: tuple[int, ...], generator: torch.Generator):
        if weight < 0:
            raise ValueError(f"the prior weight must be >= 0 (0: plain DIP), got {weight}")
        if not levels or any(not 1 <= level <= schedule.T for level in levels):
            raise ValueError(f"give the prior's levels between 1 and T = {schedule.T}, got {levels}")
        self.model, self.schedule, self.weight, self.levels, self.generator = model, schedule, weight, levels, generator
        self.calls = 0

    @torch.no_grad()
    def denoised(self, output: Tensor) -> Tensor:
        """D_t(output) for the next level in the cycle: (1, 1, 28, 28) in [0, 1]."""
        level = self.levels[self.calls % len(self.levels)]
        self.calls += 1
        alpha_bar = float(self.schedule.alphas_cumprod[level - 1])
        noise = torch.randn(output.shape, generator=self.generator)
        x_t = math.sqrt(alpha_bar) * (2 * output - 1) + math.sqrt(1 - alpha_bar) * noise
        t = torch.full((len(output),), level - 1, dtype=torch.long)
        labels = torch.full((len(output),), self.model.null_label, dtype=torch.long)
        return ((predict_x0(x_t, self.model(x_t, t, labels), alpha_bar) + 1) / 2).clamp(0, 1)

    def __call__(self, output: Tensor) -> Tensor:
        if self.weight == 0:
            return output.new_zeros(())
        return self.weight / 2 * ((output - self.denoised(output)) ** 2).mean()


# ----- the study: one corruption and seed per job ----------------------------------------------------

ARCHITECTURES = {
    "width 32 (default)": DIGIT_DIP,
    "width 16": replace(DIGIT_DIP, channels_down=16, channels_up=16),
    "width 64": replace(DIGIT_DIP, channels_down=64, channels_up=64),
    "depth 3": replace(DIGIT_DIP, depth=3),
    "nearest upsampling": replace(DIGIT_DIP, upsampling="nearest"),
}
"""Question 3's networks; the first is the start study's."""


@dataclass(frozen=True)
class VariationSettings:
    """What the study sweeps. The single DIP start (the baseline of questions 1, 2 and 4) is DIP
    start_iterations noised to t0 = t0_fraction T and taken down in each of `steps` respaced
    ancestral steps with the label (guidance w); the DDPM alone takes ddpm_steps. priors: question
    4's (mu, levels). Its mu: on four noisy digits (sigma 50 and 100, DIP 300 iterations, t = 25),
    mu = 2 and 10 raised the mean PSNR over plain DIP (20.84 to 23.23 and 23.95 dB; 14.43 to 16.88
    and 20.62 dB) and mu = 50 broke the fit (9.5 dB), measured 2026-12-04 in a probe before this study."""

    durations: tuple[int, ...] = (50, 100, 300, 600, 1000, 2000)
    architecture_iterations: int = 300
    start_iterations: int = 300
    t0_fraction: float = 0.2
    steps: tuple[int, ...] = (2, 5)
    ddpm_steps: int = 25
    sdedit_t0_fractions: tuple[float, ...] = (0.2, 0.5)
    sampler: str = "ddpm"
    guidance: float = 1.0
    noise_weights: tuple[float, ...] = (0.25, 0.5, 1.0)
    refit_iterations: int = 100
    noise_mix_shares: tuple[float, ...] = (0.25, 0.5)
    priors: tuple[tuple[float, tuple[int, ...]], ...] = ((2.0, (25,)), (10.0, (25,)), (10.0, (10, 25, 50, 100)))
    prior_iterations: int = 300
    architectures: tuple[str, ...] = tuple(ARCHITECTURES)
    draws: int = 4

    def __post_init__(self):
        problems = []
        if self.start_iterations not in self.durations:
            problems.append(f"start_iterations ({self.start_iterations}) must be one of the durations {self.durations}")
        if any(name not in ARCHITECTURES for name in self.architectures):
            problems.append(f"architectures must be among {tuple(ARCHITECTURES)}, got {self.architectures}")
        if self.draws < 2:
            problems.append(f"draws must be >= 2 to measure a spread, got {self.draws}")
        if problems:
            raise ValueError("invalid variation settings: " + "; ".join(problems))




def _fits(problems: list[StartProblem], config: DipConfig, iterations: tuple[int, ...],
          regulariser: Callable[[], Callable] | None = None) -> tuple[dict[int, Tensor], float]:
    """starts.dip_fits with the outputs in the model's range: ({k: (N, 1, 28, 28) in [-1, 1]}, seconds per digit)."""
    outputs, seconds = dip_fits(problems, iterations, config, regulariser)
    return {k: unit_to_digit(images)[:, None] for k, images in outputs.items()}, seconds


def run_variations(model, schedule: Schedule, classifier, digits: Tensor, labels: Tensor, corruption: Corruption,
                   settings: VariationSettings, seed: int) -> list[dict]:
    """Every row of the four questions and their baselines on one corruption of `digits` (N, 1, 28, 28)
    in [-1, 1], labels (N,): {question, corruption, seed, method, steps, and MEASURES}; steps 0 is a
    method without the reverse process. Spreads are measured on question 3's rows and the DDPM alone
    from pure noise (nan elsewhere)."""
    clean = digit_to_unit(digits[:, 0])
    generator = torch.Generator().manual_seed(seed)
    observed = [corrupt(digit, corruption, generator) for digit in clean]
    observations = np.stack([observation for observation, _ in observed])
    masks = [mask for _, mask in observed]
    problems = digit_problems(observations, masks, corruption, StartSettings(dip_iterations=settings.durations), seed)
    mask = None if not corruption.masked else torch.as_tensor(np.stack(masks), dtype=torch.float32)[:, None]
    observation = None if mask is None else unit_to_digit(observations)[:, None]
    t0 = round(settings.t0_fraction * schedule.T)
    rows = []

    def add(question: str, method: str, steps: int, images: Tensor, seconds: float, draws: list[Tensor] = ()) -> None:
        psnr, ssim = quality(clean, digit_to_unit(images[:, 0]))
        accuracy = float((predict(classifier, images) == labels).float().mean())
        pixels = features_spread = float("nan")
        if draws:
            pixels = spread(np.stack([digit_to_unit(draw[:, 0]) for draw in draws]))
            features_spread = spread(np.stack([features(classifier, draw) for draw in draws]))
        rows.append({"question": question, "corruption": corruption.name, "seed": seed, "method": method,
                     "steps": steps, "psnr": psnr, "ssim": ssim, "accuracy": accuracy, "pixel spread": pixels,
                     "feature spread": features_spread, "seconds per digit": seconds})

    def reverse(start: Tensor, level: int, steps: int, draw: int = 0, noise_estimate=None) -> tuple[Tensor, float]:
        began = time.perf_counter()
        restored = restore(model, schedule, start, level, labels, steps=steps, sampler=settings.sampler,
                           guidance_weight=settings.guidance, observation=observation, mask=mask,
                           generator=torch.Generator().manual_seed(seed + 1000 * draw), noise_estimate=noise_estimate)
        return restored, (time.perf_counter() - began) / len(labels)

    # DIP alone and the DDPM alone
    durations, fit_seconds = _fits(problems, DIGIT_DIP, settings.durations)
    longest = max(settings.durations)
    for k, images in durations.items():
        add("baselines", f"DIP {k} alone", 0, images, fit_seconds * k / longest)
    ddpm_draws, ddpm_seconds = [], 0.0
    for draw in range(settings.draws):
        restored, ddpm_seconds = reverse(torch.zeros_like(digits), schedule.T, settings.ddpm_steps, draw)
        ddpm_draws.append(restored)
    add("baselines", "DDPM alone: pure noise" + (" (RePaint)" if mask is not None else ""), settings.ddpm_steps,
        ddpm_draws[0], ddpm_seconds, ddpm_draws)
    start_observation = unit_to_digit(observations)[:, None]
    for fraction in settings.sdedit_t0_fractions:
        level = round(fraction * schedule.T)
        restored, seconds = reverse(start_observation, level, min(settings.ddpm_steps, level))
        add("baselines", f"DDPM alone: observation at t0 {level}", min(settings.ddpm_steps, level), restored, seconds)

    # the single DIP start, and question 3: duration and architecture
    x_dip = durations[settings.start_iterations]
    start_seconds = fit_seconds * settings.start_iterations / longest
    for steps in settings.steps:
        restored, seconds = reverse(x_dip, t0, steps)
        add("baselines", f"DIP {settings.start_iterations} start, t0 {t0}", steps, restored, start_seconds + seconds)

    def start_with_draws(question: str, method: str, start: Tensor, seconds: float) -> None:
        steps = max(settings.steps)
        draws = [reverse(start, t0, steps, draw) for draw in range(settings.draws)]
        add(question, method, steps, draws[0][0], seconds + draws[0][1], [draw for draw, _ in draws])

    for k, images in durations.items():
        add("3", f"{settings.architectures[0]}, DIP {k} alone", 0, images, fit_seconds * k / longest)
        start_with_draws("3", f"{settings.architectures[0]}, DIP {k} start, t0 {t0}", images, fit_seconds * k / longest)
    for name in settings.architectures[1:]:
        outputs, seconds = _fits(problems, ARCHITECTURES[name], (settings.architecture_iterations,))
        images = outputs[settings.architecture_iterations]
        add("3", f"{name}, DIP {settings.architecture_iterations} alone", 0, images, seconds)
        start_with_draws("3", f"{name}, DIP {settings.architecture_iterations} start, t0 {t0}", images, seconds)

    # question 1: DIP refitted to the model's prediction at intermediate stages
    for level_set in LEVEL_SETS:
        for steps in settings.steps:
            estimate = refit_estimate(settings.refit_iterations, seed)
            restored, seconds = reverse(x_dip, t0, steps, noise_estimate=lambda denoiser: DipNoiseEstimate(
                denoiser, schedule, 1.0, level_set, t0, estimate))
            add("1", f"DIP {settings.start_iterations} start, DIP {settings.refit_iterations} refit to x0 at "
                     f"{level_set} levels", steps, restored, start_seconds + seconds)

    # question 2: DIP in the noise estimate, and the students' noise mix
    for weight in settings.noise_weights:
        for level_set in LEVEL_SETS:
            for steps in settings.steps:
                restored, seconds = reverse(x_dip, t0, steps, noise_estimate=lambda denoiser: DipNoiseEstimate(
                    denoiser, schedule, weight, level_set, t0, fixed_estimate(x_dip)))
                add("2", f"DIP {settings.start_iterations} start, lambda {weight:g} at {level_set} levels", steps,
                    restored, start_seconds + seconds)
    for share in settings.noise_mix_shares:
        for steps in (max(settings.steps), settings.ddpm_steps):
            generator = torch.Generator().manual_seed(seed)
            began = time.perf_counter()
            levels = reverse_process(ClassifierFreeGuidance(model, settings.guidance), schedule,
                                     noise_mix_start(x_dip, share, generator), labels, settings.sampler, steps,
                                     generator=generator)
            if mask is not None:
                levels = keep_observed(levels, observation, mask, schedule, generator)
            restored = final(levels).clamp(-1, 1)
            add("2", f"x_T = {share:g} DIP {settings.start_iterations} + {1 - share:g} noise (students' mix)", steps,
                restored, start_seconds + (time.perf_counter() - began) / len(labels))

    # question 4: the DDPM as RED's denoiser in the DIP fit, alone and as the start
    for weight, levels in settings.priors:
        prior_generator = torch.Generator().manual_seed(seed)
        outputs, seconds = _fits(problems, DIGIT_DIP, (settings.prior_iterations,), regulariser=lambda: DdpmPrior(
            model, schedule, weight, levels, prior_generator))
        images = outputs[settings.prior_iterations]
        name = prior_name(settings.prior_iterations, weight, levels)
        add("4", f"{name} alone", 0, images, seconds)
        for steps in settings.steps:
            restored, reverse_seconds = reverse(images, t0, steps)
            add("4", f"{name}, start t0 {t0}", steps, restored, seconds + reverse_seconds)
    return rows


def prior_name(iterations: int, weight: float, levels: tuple[int, ...]) -> str:
    """The method name of question 4's fit with the DDPM prior of `weight` at `levels`."""
    return f"DIP {iterations} + DDPM prior mu {weight:g} at t {'/'.join(map(str, levels))}"
