"""DIP as the starting point of the reverse process (the assignment's Example 1), on MNIST digits.

The forward process and the training loss stay as they are; the DIP output enters where the
mathematics allows it. A trained model reverses q(x_t) from any level, and for an estimate x_hat
close to the clean digit, q(x_t0 | x_hat) is close to the true marginal q(x_t0) once the added
noise swamps the estimate's error, so the reverse process can start at t0 < T from

    x_t0 = sqrt(abar_t0) x_hat + sqrt(1 - abar_t0) eps,    eps ~ N(0, I)        (SDEdit; CCDF)

and take only the steps below t0. For missing pixels (mask m, 1 = observed), each level s the
sampler reaches keeps the observed pixels consistent with the observation y (RePaint):

    x_s <- m * (sqrt(abar_s) y + sqrt(1 - abar_s) eps_s) + (1 - m) * x_s,       and x_0 <- m * y + (1 - m) * x_0.

Images here are in the model's range [-1, 1], shape (N, 1, 28, 28).
"""
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from mnist_ext.generate import PIXEL_RANGE
from samplers import ClassifierFreeGuidance, final, predict_x0, reverse_process
from utils import Schedule, q_sample


def check_start_level(t0: int, schedule: Schedule) -> int:
    if not isinstance(t0, int) or not 0 <= t0 <= schedule.T:
        raise ValueError(f"t0 must be an integer level between 0 (no diffusion) and T = {schedule.T}, got {t0!r}")
    return t0


def noised_start(estimate: Tensor, t0: int, schedule: Schedule, generator: torch.Generator | None = None) -> Tensor:
    """x_t0 = sqrt(abar_t0) x_hat + sqrt(1 - abar_t0) eps: a draw from q(x_t0 | x_hat); t0 = 0 returns
    a copy of x_hat.

    estimate x_hat: (N, 1, 28, 28) in [-1, 1]; t0: an integer level 0..T (check_start_level), the
    paper's t, so schedule index t0 - 1; eps drawn from `generator`. Returns a tensor of x_hat's shape.
    """
    check_start_level(t0, schedule)
    # BEGIN SOLUTION x_t0 = sqrt(abar_t0) x_hat + sqrt(1 - abar_t0) eps (utils.q_sample), x_hat at t0 = 0
    if t0 == 0:
        return estimate.clone()
    t = torch.full((len(estimate),), t0 - 1, dtype=torch.long)  # level t0 is schedule index t0 - 1
    return q_sample(schedule, estimate, t, generator=generator)
    # END SOLUTION


def keep_observed(levels: Iterator[tuple[int, Tensor]], observation: Tensor, mask: Tensor, schedule: Schedule,
                  generator: torch.Generator | None = None) -> Iterator[tuple[int, Tensor]]:
    """RePaint's replacement at every level s the sampler yields:
    x_s <- m * (observation noised to level s) + (1 - m) * x_s, and at s = 0 the observation itself.

    levels: the sampler's (s, x_s), x_s (N, 1, 28, 28); observation y and mask m (1 = observed): x_s's
    shape. Yields (s, x_s) after the replacement. The sampler continues from the x_s it yielded, so
    the replacement must be written into that tensor in place (x_s.copy_(...)).
    """
    # BEGIN SOLUTION RePaint: x_s <- m * (y noised to level s) + (1 - m) * x_s, in place, at every level
    for level, x in levels:
        known = noised_start(observation, level, schedule, generator)  # level 0: the observation itself
        x.copy_(mask * known + (1 - mask) * x)
        yield level, x
    # END SOLUTION


@torch.no_grad()
def restore(model, schedule: Schedule, start: Tensor, t0: int, labels: Tensor, *, steps: int | None = None,
            sampler: str = "ddim", guidance_weight: float = 0.0, observation: Tensor | None = None,
            mask: Tensor | None = None, generator: torch.Generator | None = None,
            noise_estimate: Callable | None = None) -> Tensor:
    """Noise `start` (N, 1, 28, 28) in [-1, 1] to level t0 and run the reverse process from there to x_0.

    labels: (N,) digits, or the model's null label for unconditional steps; steps: reverse steps
    from t0 (default all t0), taken by `sampler` ("ddim" or "ddpm") with `denoiser` below (the
    classifier-free guidance mix when guidance_weight > 0) and DDIM's x0 prediction clipped to
    `clip_x0`; with observation and mask (both (N, 1, 28, 28), mask 1 = observed), observed pixels
    are kept consistent at every level (keep_observed). noise_estimate(denoiser) returns the
    denoiser the sampler calls instead, for a method that changes the noise estimate of each step
    (called as denoiser(x_t, t, labels) -> eps). t0 = 0 returns the start (noised_start).
    Returns x_0, (N, 1, 28, 28), clamped to [-PIXEL_RANGE, PIXEL_RANGE].
    """
    if (observation is None) != (mask is None):
        raise ValueError("give both observation and mask (for inpainting) or neither")
    if mask is not None and (mask.shape != start.shape or observation.shape != start.shape):
        raise ValueError(f"the mask {tuple(mask.shape)} and observation {tuple(observation.shape)} must have the "
                         f"start's shape {tuple(start.shape)}")
    denoiser = ClassifierFreeGuidance(model, guidance_weight) if guidance_weight else model
    if noise_estimate is not None:
        denoiser = noise_estimate(denoiser)
    clip_x0 = PIXEL_RANGE if sampler == "ddim" else None
    # BEGIN SOLUTION noise the start to t0, then the reverse process from t0 to x_0 (samplers.reverse_process)
    x_t0 = noised_start(start, t0, schedule, generator)
    if t0 == 0:
        return x_t0
    levels = reverse_process(denoiser, schedule, x_t0, labels, sampler, steps, generator=generator, start_level=t0,
                             clip_x0=clip_x0)
    if mask is not None:
        levels = keep_observed(levels, observation, mask, schedule, generator)
    return final(levels).clamp(-PIXEL_RANGE, PIXEL_RANGE)
    # END SOLUTION


@torch.no_grad()
def distortion_by_level(model, schedule: Schedule, digits: Tensor, labels: Tensor,
                        generator: torch.Generator | None = None) -> tuple[list[int], list[float]]:
    """The DDPM paper's Fig. 5 (left): the RMSE, on the 0..255 scale, between the clean digits
    (N, 1, 28, 28) and the model's prediction x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t)
    (clipped to the pixel range) from x_t ~ q(x_t | x_0), at every level.

    Returns (levels, rmse) in the order the reverse process visits them: t = T, T-1, ..., 1.
    """
    levels, rmse = [], []
    for level in range(schedule.T, 0, -1):
        t = torch.full((len(digits),), level - 1, dtype=torch.long)
        x_t = q_sample(schedule, digits, t, generator=generator)
        x0_hat = predict_x0(x_t, model(x_t, t, labels), float(schedule.alphas_cumprod[level - 1]))
        levels.append(level)
        rmse.append(float(((x0_hat.clamp(-1, 1) - digits) * 127.5).pow(2).mean().sqrt()))
    return levels, rmse
