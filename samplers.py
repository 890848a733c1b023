"""Sampling beyond the problem set: few-step samplers, guidance as denoiser wrappers, and `sample()`.

Every sampler here is a generator over the reverse process, `reverse_process(...)`, that yields
(t, x_t) at each noise level it visits, so any of them can record a trajectory; `sample()` draws
the starting noise and runs one. The levels are the paper's t (x_0 is clean data, x_T pure noise).

    ddpm     ancestral sampling (utils.p_sample) on all T steps; on K < T steps, DDIM with eta = 1
    ddim     DDIM with noise eta (Song et al. 2021); eta = 0 is deterministic
    dpmpp2m  DPM-Solver++(2M) (Lu et al. 2022), a second-order multistep solver of the
             probability-flow ODE

Guidance is a wrapper that is itself a denoiser (callable as denoiser(x_t, t, y) -> eps, with a
`null_label`), so every sampler takes it: `ClassifierFreeGuidance` (the problem set's mix,
utils.guided_eps) and `ClassifierGuidance` (the gradient of a noisy classifier).
"""
import math
from collections import deque
from typing import Iterator

import torch
from torch import Tensor
from tqdm.auto import tqdm

from utils import Schedule, extract, guided_eps, p_sample

SAMPLERS = ("ddpm", "ddim", "dpmpp2m")


class ClassifierFreeGuidance:
    """The problem set's classifier-free guidance as a denoiser:

        epsbar(x_t, t, y) = (1 + w) eps(x_t, t, y) - w eps(x_t, t, null),   w = guidance_weight.

    w = 0 is the plain conditional model; samples whose label is null are unaffected.
    """

    def __init__(self, denoiser, guidance_weight: float):
        self.denoiser, self.guidance_weight = denoiser, guidance_weight
        self.null_label = denoiser.null_label

    def __call__(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return guided_eps(self.denoiser, x_t, t, y, self.guidance_weight)


class ClassifierGuidance:
    """Classifier guidance (Dhariwal & Nichol 2021) as a denoiser:

        eps_hat(x_t, t, y) = eps(x_t, t, null) - w sqrt(1 - abar_t) grad_x log p(y | x_t, t).

    denoiser: the (unconditional) noise predictor; classifier(x_t (B, ...), t (B,)) -> logits (B, C),
    a classifier of *noisy* images (gmm.ExactClassifier, or noisy_classifier.NoisyClassifier);
    alphas_cumprod: (T,) the schedule both were built for. w = guidance_weight = 0 returns the
    unconditional eps exactly; w = 1 with exact models is exactly the conditional eps(x_t, t, y)
    (Bayes' rule on the scores); w > 1 sharpens. Samples with the null label are never guided.
    """

    def __init__(self, denoiser, classifier, alphas_cumprod: Tensor, guidance_weight: float):
        self.denoiser, self.classifier = denoiser, classifier
        self.alphas_cumprod, self.guidance_weight = alphas_cumprod, guidance_weight
        self.null_label = denoiser.null_label

    def __call__(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        eps = self.denoiser(x_t, t, torch.full_like(y, self.null_label))
        labelled = y != self.null_label
        if self.guidance_weight == 0 or not labelled.any():
            return eps
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            log_probs = torch.log_softmax(self.classifier(x, t), dim=-1)  # (B, C)
            chosen = log_probs.gather(1, y.clamp(max=log_probs.shape[1] - 1)[:, None])[:, 0]
            (grad,) = torch.autograd.grad((chosen * labelled).sum(), x)
        scale = self.guidance_weight * (1 - extract(self.alphas_cumprod, t, x_t)).sqrt()
        return eps - scale * grad.to(eps.dtype)


def step_sequence(T: int, steps: int) -> list[int]:
    """`steps` distinct indices from T-1 down to 0, quadratically spaced: dense at low noise.

    t_i = round((1 - i/(K-1))^2 (T-1)), e.g. T = 1000, K = 10: [999, 789, 604, 444, 308, 197, 111, 49, 12, 0].
    The data's modes are narrow (std 0.1), so the last, low-noise steps decide the samples'
    spread; evenly spaced indices leave one huge final step there (DDIM's paper uses the same
    quadratic spacing on CIFAR-10). Where rounding would repeat an index at the low end, the
    indices are pushed up to stay distinct; with K = T every step is taken.
    """
    if not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer between 1 and T = {T} (the trained steps), got {steps!r}")
    fraction_left = torch.linspace(1, 0, steps, dtype=torch.float64)
    indices = (fraction_left**2 * (T - 1)).round().long().tolist()
    for i in range(steps - 2, -1, -1):
        indices[i] = max(indices[i], indices[i + 1] + 1)
    return indices


def trajectory_levels(T: int, steps: int) -> list[int]:
    """The paper's t of each entry of a trajectory recorded on `steps` steps, ascending from 0 to T.

    An index t of the schedule takes x_{t+1} to a lower level, so the levels are 0 and t + 1 for
    every index of step_sequence; with steps = T they are 0..T."""
    return [0] + [t + 1 for t in reversed(step_sequence(T, steps))]


def predict_x0(x_t: Tensor, eps: Tensor, alpha_bar: float) -> Tensor:
    """The clean image the noise prediction implies: x0_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar)."""
    return (x_t - math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha_bar)


def _alpha_bar(schedule: Schedule, t: int) -> float:
    """abar at index t; t = -1 stands for the clean data, abar = 1."""
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


def _predict(denoiser, schedule: Schedule, x: Tensor, t: int, y: Tensor, clip_x0: float | None) -> tuple[Tensor, Tensor]:
    """(eps, x0_hat) at index t. With clip_x0, x0_hat is clipped to [-clip_x0, clip_x0] and eps
    recomputed from it, so the two stay consistent (off by default: clipping distorts data that
    lives outside the box, as the two-pixel mixture partly does)."""
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    eps = denoiser(x, t_batch, y)
    alpha_bar = _alpha_bar(schedule, t)
    x0 = predict_x0(x, eps, alpha_bar)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
        eps = (x - math.sqrt(alpha_bar) * x0) / math.sqrt(1 - alpha_bar)
    return eps, x0


@torch.no_grad()
def _ancestral(denoiser, schedule: Schedule, x: Tensor, y: Tensor, generator, start_level: int) -> Iterator[tuple[int, Tensor]]:
    """utils.p_sample at every index t = start_level-1..0; after index t, x is at the paper's level t."""
    for t in reversed(range(start_level)):
        x = p_sample(denoiser, schedule, x, t, y, generator=generator)
        yield t, x


@torch.no_grad()
def _ddim(denoiser, schedule: Schedule, x: Tensor, y: Tensor, timesteps: list[int], eta: float, generator,
          clip_x0: float | None) -> Iterator[tuple[int, Tensor]]:
    """DDIM from index t to the next index s (s = -1: clean data), with x0_hat and eps predicted at t:

        sigma = eta * sqrt((1 - abar_s) / (1 - abar_t)) * sqrt(1 - abar_t / abar_s)
        x_s   = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z.

    eta = 0 is deterministic (an ODE solver); eta = 1 on all T steps is exactly ancestral DDPM,
    and on K < T steps it is DDPM with a respaced schedule.
    """
    for t, s in zip(timesteps, timesteps[1:] + [-1]):
        eps, x0 = _predict(denoiser, schedule, x, t, y, clip_x0)
        alpha_bar, alpha_bar_next = _alpha_bar(schedule, t), _alpha_bar(schedule, s)
        sigma = eta * math.sqrt((1 - alpha_bar_next) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_next))
        x = math.sqrt(alpha_bar_next) * x0 + math.sqrt(max(1 - alpha_bar_next - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        yield s + 1, x


@torch.no_grad()
def _dpm_solver_2m(denoiser, schedule: Schedule, x: Tensor, y: Tensor, timesteps: list[int],
                   clip_x0: float | None) -> Iterator[tuple[int, Tensor]]:
    """DPM-Solver++(2M): in the half log-SNR lambda = log(sqrt(abar) / sqrt(1 - abar)), from index t
    to s with h = lambda_s - lambda_t and the previous step's h_prev, r = h_prev / h:

        D   = (1 + 1/(2r)) x0_hat_t - 1/(2r) x0_hat_prev      (first step: D = x0_hat_t)
        x_s = sqrt(1 - abar_s)/sqrt(1 - abar_t) x_t + sqrt(abar_s) (1 - e^-h) D.

    The step into index 0 is taken at first order, and the last one, to clean data (h infinite),
    returns x0_hat: the "lower order final" of common implementations, which keeps the
    extrapolation from amplifying the error of the largest log-SNR step.
    """
    def half_log_snr(alpha_bar: float) -> float:
        return 0.5 * math.log(alpha_bar / (1 - alpha_bar))

    previous_x0, previous_h = None, None
    for t, s in zip(timesteps, timesteps[1:] + [-1]):
        _, x0 = _predict(denoiser, schedule, x, t, y, clip_x0)
        if s < 0:
            yield 0, x0
            return
        alpha_bar, alpha_bar_next = _alpha_bar(schedule, t), _alpha_bar(schedule, s)
        h = half_log_snr(alpha_bar_next) - half_log_snr(alpha_bar)
        if previous_x0 is None or s == timesteps[-1]:  # first step, and last one before the jump: first order
            direction = x0
        else:
            r = previous_h / h
            direction = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * previous_x0
        x = math.sqrt((1 - alpha_bar_next) / (1 - alpha_bar)) * x - math.sqrt(alpha_bar_next) * math.expm1(-h) * direction
        previous_x0, previous_h = x0, h
        yield s + 1, x


def reverse_process(denoiser, schedule: Schedule, x_T: Tensor, y: Tensor, sampler: str = "ddpm",
                    steps: int | None = None, eta: float = 0.0, clip_x0: float | None = None,
                    generator: torch.Generator | None = None, progress: bool = False,
                    start_level: int | None = None) -> Iterator[tuple[int, Tensor]]:
    """Run `sampler` from x_T (B, ...) with labels y (B,), yielding (t, x_t) at each level it visits,
    the paper's t descending to (0, x_0); the levels are trajectory_levels(T, steps)[-2::-1].

    steps: how many of the T trained steps to take (default all); eta: DDIM's noise scale (ddim
    only); clip_x0: clip predicted images to [-clip_x0, clip_x0] (ddim and dpmpp2m only).
    start_level: begin at this level t0 < T instead (x_T is then x_t0; steps count from t0, and
    the levels are trajectory_levels(t0, steps)[-2::-1]), as SDEdit and truncated diffusion do.
    Every random draw comes from `generator`. Bad arguments raise ValueError here, before any step.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    start = schedule.T if start_level is None else start_level
    if not isinstance(start, int) or not 1 <= start <= schedule.T:
        raise ValueError(f"start_level must be an integer level between 1 and T = {schedule.T}, got {start_level!r}")
    steps = start if steps is None else steps
    timesteps = step_sequence(start, steps)
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0: deterministic DDIM, 1: DDPM), got {eta}")
    if eta != 0 and sampler != "ddim":
        raise ValueError(f"eta is DDIM's parameter; sampler {sampler!r} does not take it")
    if clip_x0 is not None and sampler == "ddpm":
        raise ValueError("clip_x0 applies to the ddim and dpmpp2m samplers")
    if sampler == "ddpm" and steps == start:
        levels = _ancestral(denoiser, schedule, x_T, y, generator, start)
    elif sampler == "dpmpp2m":
        levels = _dpm_solver_2m(denoiser, schedule, x_T, y, timesteps, clip_x0)
    else:
        levels = _ddim(denoiser, schedule, x_T, y, timesteps, 1.0 if sampler == "ddpm" else eta, generator, clip_x0)
    return iter(tqdm(levels, total=steps, desc=f"sampling ({sampler})", disable=not progress, leave=False))


@torch.no_grad()
def ddim_invert(denoiser, schedule: Schedule, x_0: Tensor, y: Tensor, steps: int) -> Tensor:
    """Run deterministic DDIM backwards, clean x_0 (B, ...) -> x_T, on the same `steps` indices.

    Each step reuses the eps predicted at the current level (the clean level borrows index 0's),
    the usual DDIM-inversion approximation; sampling the result with DDIM (eta = 0) returns to
    x_0 up to an error that shrinks as steps grow.
    """
    x, level = x_0, -1  # level -1: the clean data
    for next_level in step_sequence(schedule.T, steps)[::-1]:  # indices ascending
        t_batch = torch.full((x.shape[0],), max(level, 0), device=x.device, dtype=torch.long)
        eps = denoiser(x, t_batch, y)  # at the clean level, the noise is judged at index 0
        x0 = x if level < 0 else predict_x0(x, eps, _alpha_bar(schedule, level))
        alpha_bar_next = _alpha_bar(schedule, next_level)
        x, level = math.sqrt(alpha_bar_next) * x0 + math.sqrt(1 - alpha_bar_next) * eps, next_level
    return x


def labels_for(denoiser, n: int, label: int | Tensor | None) -> Tensor:
    """One label per sample, (n,) int64: `label` for all, a given (n,) tensor, or the null label for None."""
    labels = torch.as_tensor(denoiser.null_label if label is None else label, dtype=torch.long)
    if labels.dim() > 1 or (labels.dim() == 1 and labels.shape != (n,)):
        raise ValueError(f"label must be one class index or one per sample, shape ({n},); got shape {tuple(labels.shape)}")
    if label is not None and not ((labels >= 0) & (labels < denoiser.null_label)).all():
        raise ValueError(f"label must be in 0..{denoiser.null_label - 1} (or None for no label), got {label}")
    return labels.expand(n)


def sample(denoiser, schedule: Schedule, n: int, label: int | Tensor | None = None, guidance_weight: float = 0.0,
           shape: tuple[int, ...] = (1, 2), generator: torch.Generator | None = None,
           device: torch.device | str = "cpu", sampler: str = "ddpm", steps: int | None = None, eta: float = 0.0,
           clip_x0: float | None = None, record_trajectory: bool = False, progress: bool = False) -> Tensor:
    """Draw n samples of `shape` (default one channel, two pixels): (n, *shape), or the trajectory.

    label: a class index for all n, a (n,) int64 tensor of one label per sample, or None for
    unconditional samples (the null label). guidance_weight: the problem set's w of
    classifier-free guidance (ClassifierFreeGuidance); 0 is the plain conditional model.
    sampler, steps, eta, clip_x0: as in reverse_process.
    record_trajectory: the whole chain (K + 1, n, *shape) from x_0 up to x_T, entry i at the paper's
    level trajectory_levels(T, K)[i]; with all T steps, trajectory[t] is x_t.
    The starting noise x_T ~ N(0, I) comes from `generator`, as does every later draw.
    """
    if n < 1:
        raise ValueError(f"the number of samples must be at least 1, got {n}")
    y = labels_for(denoiser, n, label).to(device)
    if guidance_weight != 0:
        denoiser = ClassifierFreeGuidance(denoiser, guidance_weight)
    x_T = torch.randn((n, *shape), generator=generator, device=device)
    levels = reverse_process(denoiser, schedule, x_T, y, sampler, steps, eta, clip_x0, generator, progress)
    if record_trajectory:
        return torch.stack([x_T] + [x for _, x in levels]).flip(0)
    return final(levels)


def final(levels: Iterator[tuple[int, Tensor]]) -> Tensor:
    """Run a reverse process to its end, keeping only the last x (the clean sample x_0)."""
    (_, x_0), = deque(levels, maxlen=1)
    return x_0
