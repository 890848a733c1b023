"""Diffusion math: the noise schedule, forward noising, the loss, guidance and the reverse sampler.

Time convention, used everywhere in this project: the paper's steps t = 1..T are the integer
indices t = 0..T-1 of every schedule tensor (`betas[t]` is the paper's beta_{t+1}). A trajectory
is the exception that is indexed by the paper's t: `trajectory[t]` is x_t, so `trajectory[0]` is
the final sample x_0 and `trajectory[T]` the starting noise x_T.

A *denoiser* is anything called as `denoiser(x_t, t, y) -> eps` with x_t (B, ...) float,
t (B,) int64 indices and y (B,) int64 labels, that has a `null_label` attribute (the label meaning
"no label"). Both the trained network (ddpm.NoisePredictor) and the exact noise predictor of the
mixture (gmm.ExactDenoiser) are denoisers, so every sampler here runs on both.
"""
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

MAX_BETA = 0.999
"""Upper clip of beta_t (Nichol & Dhariwal): the cosine schedule's last beta would otherwise be 1."""


def cosine_beta_schedule(timesteps: int, s: float = 0.008) -> Tensor:
    """Cosine schedule (Improved DDPM), betas (T,) float64.

    abar_t = f(t) / f(0),  f(t) = cos^2( (t/T + s) / (1 + s) * pi/2 ),
    beta_t = 1 - abar_t / abar_{t-1}, clipped to at most MAX_BETA.
    """
    _check_timesteps(timesteps)
    # BEGIN SOLUTION compute the cosine schedule's betas (T,) from abar_t = f(t)/f(0), clipped at MAX_BETA
    steps = torch.arange(timesteps + 1, dtype=torch.float64)  # paper's t = 0..T
    f = torch.cos((steps / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return betas.clamp(max=MAX_BETA)
    # END SOLUTION


def linear_beta_schedule(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """Linear schedule of the original DDPM paper, betas (T,) float64.

    The endpoints are the paper's values for T = 1000, rescaled by 1000/T so that a shorter chain
    still ends near pure noise (the rescaling of Improved DDPM).
    """
    _check_timesteps(timesteps)
    scale = 1000 / timesteps
    return torch.linspace(beta_start * scale, beta_end * scale, timesteps, dtype=torch.float64).clamp(max=MAX_BETA)


BETA_SCHEDULES = {"cosine": cosine_beta_schedule, "linear": linear_beta_schedule}


def _check_timesteps(timesteps: int) -> None:
    if not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"the number of diffusion steps T must be an integer >= 1, got {timesteps!r}")


@dataclass(frozen=True)
class Schedule:
    """Every per-step quantity of the problem set, for one T, as (T,) float64 tensors.

    betas[t]              beta_t
    alphas[t]             alpha_t = 1 - beta_t
    alphas_cumprod[t]     abar_t = alpha_1 * ... * alpha_t
    alphas_cumprod_prev[t] abar_{t-1}, with abar_0 = 1
    posterior_variance[t] sigma_t^2 = betatilde_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t

    Build one with `Schedule.make("cosine", T)`; several T live side by side in one process.
    """

    betas: Tensor
    alphas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    posterior_variance: Tensor

    @classmethod
    def from_betas(cls, betas: Tensor) -> "Schedule":
        betas = betas.double()
        if betas.dim() != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D tensor with every entry in (0, 1)")
        # BEGIN SOLUTION compute alphas, alphas_cumprod, alphas_cumprod_prev (abar_0 = 1) and posterior_variance from betas
        alphas = 1 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        posterior_variance = (1 - alphas_cumprod_prev) / (1 - alphas_cumprod) * betas
        # END SOLUTION
        return cls(betas, alphas, alphas_cumprod, alphas_cumprod_prev, posterior_variance)

    @classmethod
    def make(cls, name: str, timesteps: int) -> "Schedule":
        """The named schedule ("cosine" or "linear") with T = timesteps steps."""
        if name not in BETA_SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(BETA_SCHEDULES)}")
        return cls.from_betas(BETA_SCHEDULES[name](timesteps))

    @property
    def T(self) -> int:
        return self.betas.shape[0]

    @property
    def trajectory_alphas_cumprod(self) -> Tensor:
        """(T + 1,) abar at the paper's t = 0..T, abar_0 = 1: the noise level of trajectory[t]."""
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod])


def extract(values: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """values[t] shaped to broadcast against x: values (T,), t (B,) -> (B, 1, ..., 1) in x's dtype."""
    return values.to(x.device)[t].to(x.dtype).reshape(-1, *[1] * (x.dim() - 1))


def q_sample(schedule: Schedule, x_start: Tensor, t: Tensor, noise: Tensor | None = None,
             generator: torch.Generator | None = None) -> Tensor:
    """Forward noising in one step: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, eps ~ N(0, I).

    x_start: (B, ...) clean data; t: (B,) int64 indices; noise: eps of x_start's shape, drawn from
    `generator` when not given. Returns x_t (B, ...).
    """
    if noise is None:
        noise = torch.randn(x_start.shape, generator=generator, device=x_start.device, dtype=x_start.dtype)
    # BEGIN SOLUTION return x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise
    alpha_bar = extract(schedule.alphas_cumprod, t, x_start)
    return alpha_bar.sqrt() * x_start + (1 - alpha_bar).sqrt() * noise
    # END SOLUTION


LOSSES = {"l2": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}


def p_losses(denoise_model, schedule: Schedule, x_start: Tensor, t: Tensor, y: Tensor,
             noise: Tensor | None = None, loss_type: str = "l2", reduction: str = "mean",
             generator: torch.Generator | None = None) -> Tensor:
    """The denoising loss E_{t, x_0, eps} || eps - eps_theta(x_t, t, y) ||^2 (or L1, Huber).

    x_start: (B, ...) clean data; t: (B,) int64; y: (B,) int64 labels (NULL_LABEL for none);
    noise: the eps of q_sample, drawn from `generator` when not given.
    reduction: "mean" gives the scalar loss; "none" the loss of each sample, (B,).
    """
    if loss_type not in LOSSES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {sorted(LOSSES)}")
    if noise is None:
        noise = torch.randn(x_start.shape, generator=generator, device=x_start.device, dtype=x_start.dtype)
    # BEGIN SOLUTION noise x_start, predict the noise, and return the loss (mean, or per sample for reduction='none')
    x_noisy = q_sample(schedule, x_start, t, noise=noise)
    predicted_noise = denoise_model(x_noisy, t, y)
    per_element = LOSSES[loss_type](predicted_noise, noise, reduction="none")
    per_sample = per_element.flatten(1).mean(dim=1)
    return per_sample.mean() if reduction == "mean" else per_sample
    # END SOLUTION


def min_snr_weights(alphas_cumprod: Tensor, gamma: float) -> Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023) for the eps-loss of p_losses, one per step.

    With SNR_t = abar_t / (1 - abar_t), the eps-loss of a sample equals SNR_t ||x0_hat - x_0||^2;
    weighting it by min(1, gamma / SNR_t) caps that at gamma ||x0_hat - x_0||^2, so the many
    nearly clean steps, whose noise is easy to tell and which barely change the image, stop
    dominating the gradient. alphas_cumprod: (T,) -> (T,) weights in (0, 1].
    """
    snr = alphas_cumprod / (1 - alphas_cumprod)
    return (gamma / snr).clamp(max=1.0)


def drop_labels(y: Tensor, drop_probability: float, null_label: int,
                generator: torch.Generator | None = None) -> Tensor:
    """Classifier-free guidance training: replace each label by the null label with probability p.

    The coin is tossed per sample, so every batch trains the conditional and the unconditional
    model at once. y: (B,) int64 -> (B,) int64.
    """
    # BEGIN SOLUTION replace each label by null_label with probability drop_probability, independently per sample
    dropped = torch.rand(y.shape, generator=generator, device=y.device) < drop_probability
    return torch.where(dropped, torch.full_like(y, null_label), y)
    # END SOLUTION


def guided_eps(denoiser, x_t: Tensor, t: Tensor, y: Tensor, guidance_weight: float = 0.0) -> Tensor:
    """Classifier-free guidance: epsbar = (1 + w) eps(x_t, t, y) - w eps(x_t, t, null).

    Convention: w = guidance_weight is the problem set's; w = 0 is the plain conditional model,
    w > 0 strengthens the condition. (Codebases that write eps_u + s (eps_c - eps_u) use s = 1 + w.)
    Samples whose label is already null are unaffected. Shapes as for a denoiser.
    """
    if guidance_weight == 0:
        return denoiser(x_t, t, y)
    # BEGIN SOLUTION mix eps(x_t, t, y) and eps(x_t, t, null) as (1 + w) eps_c - w eps_u
    null = torch.full_like(y, denoiser.null_label)
    eps_both = denoiser(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, null]))
    eps_conditional, eps_unconditional = eps_both.chunk(2)
    return (1 + guidance_weight) * eps_conditional - guidance_weight * eps_unconditional
    # END SOLUTION


class ClassifierGuidance:
    """Classifier guidance (Dhariwal & Nichol 2021), wrapped as a denoiser so every sampler takes it:

        eps_hat(x_t, t, y) = eps(x_t, t, null) - w sqrt(1 - abar_t) grad_x log p(y | x_t, t).

    denoiser: the (unconditional) noise predictor; classifier(x_t (B, ...), t (B,)) -> logits (B, C),
    a classifier of *noisy* images (gmm.ExactClassifier, or classifier.NoisyClassifier);
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


@torch.no_grad()
def p_sample(denoiser, schedule: Schedule, x: Tensor, t: int, y: Tensor, guidance_weight: float = 0.0,
             noise: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    """One ancestral step x_t -> x_{t-1} at index t (the paper's step t + 1):

    x_{t-1} = 1/sqrt(alpha_t) * ( x_t - (1 - alpha_t)/sqrt(1 - abar_t) * epsbar(x_t, t, y) ) + sigma_t z,

    with sigma_t^2 the posterior variance, z ~ N(0, I) (drawn from `generator` unless `noise` is
    given), and no noise at the last step (index 0: the paper's t = 1). x: (B, ...) -> (B, ...).
    """
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    eps = guided_eps(denoiser, x, t_batch, y, guidance_weight)
    # BEGIN SOLUTION compute the reverse-step mean, and add sigma_t z except at the last step (t == 0)
    beta, alpha, alpha_bar = (extract(v, t_batch, x) for v in (schedule.betas, schedule.alphas, schedule.alphas_cumprod))
    mean = (x - beta / (1 - alpha_bar).sqrt() * eps) / alpha.sqrt()
    if t == 0:
        return mean
    if noise is None:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return mean + extract(schedule.posterior_variance, t_batch, x).sqrt() * noise
    # END SOLUTION


@torch.no_grad()
def p_sample_loop(denoiser, schedule: Schedule, x_T: Tensor, y: Tensor, guidance_weight: float = 0.0,
                  generator: torch.Generator | None = None, record_trajectory: bool = False,
                  progress: bool = False) -> Tensor:
    """Run the reverse chain from x_T (B, ...) down to x_0.

    y: (B,) labels (null_label for unconditional samples). Returns x_0 (B, ...), or with
    record_trajectory the whole chain (T + 1, B, ...) indexed by the paper's t (trajectory[0] = x_0).

    On the first reverse step of a cosine schedule: beta_T is clipped to 0.999, so 1/sqrt(alpha_T)
    is about 31.6 and any error of eps at t = T is multiplied by about 30. The exact denoiser is
    immune; the network is protected by its parametrisation (ddpm.NoisePredictor computes
    eps = sqrt(1 - abar) x_t + sqrt(abar) v, exact at pure noise whatever the network outputs),
    so the sampler itself stays the textbook one.
    """
    x = x_T
    trajectory = [x] if record_trajectory else None
    for t in tqdm(reversed(range(schedule.T)), total=schedule.T, desc="sampling", disable=not progress, leave=False):
        x = p_sample(denoiser, schedule, x, t, y, guidance_weight, generator=generator)
        if record_trajectory:
            trajectory.append(x)
    if record_trajectory:
        return torch.stack(trajectory[::-1])
    return x


# ----- few-step samplers: any K <= T of the trained steps --------------------------------------

SAMPLERS = ("ddpm", "ddim", "dpmpp2m")
"""ddpm: ancestral (all T steps, or K steps as DDIM with eta = 1); ddim: DDIM with noise eta;
dpmpp2m: DPM-Solver++(2M), a second-order multistep solver of the probability-flow ODE."""


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


def predict_x0(x_t: Tensor, eps: Tensor, alpha_bar: float) -> Tensor:
    """The clean image the noise prediction implies: x0_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar)."""
    return (x_t - math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha_bar)


def _alpha_bar(schedule: Schedule, t: int) -> float:
    """abar at index t; t = -1 stands for the clean data, abar = 1."""
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


def _predict(denoiser, schedule: Schedule, x: Tensor, t: int, y: Tensor, guidance_weight: float,
             clip_x0: float | None) -> tuple[Tensor, Tensor]:
    """(eps, x0_hat) at index t. With clip_x0, x0_hat is clipped to [-clip_x0, clip_x0] and eps
    recomputed from it, so the two stay consistent (off by default: clipping distorts data that
    lives outside the box, as the two-pixel mixture partly does)."""
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    eps = guided_eps(denoiser, x, t_batch, y, guidance_weight)
    alpha_bar = _alpha_bar(schedule, t)
    x0 = predict_x0(x, eps, alpha_bar)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
        eps = (x - math.sqrt(alpha_bar) * x0) / math.sqrt(1 - alpha_bar)
    return eps, x0


@torch.no_grad()
def ddim_sample_loop(denoiser, schedule: Schedule, x_T: Tensor, y: Tensor, steps: int, eta: float = 0.0,
                     guidance_weight: float = 0.0, generator: torch.Generator | None = None,
                     clip_x0: float | None = None, progress: bool = False) -> Tensor:
    """DDIM (Song et al. 2021) over `steps` of the T trained steps, from x_T (B, ...) to x_0.

    From index t to the next index s (s = -1: clean data), with x0_hat and eps predicted at t:

        sigma = eta * sqrt((1 - abar_s) / (1 - abar_t)) * sqrt(1 - abar_t / abar_s)
        x_s   = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z.

    eta = 0 is deterministic (an ODE solver); eta = 1 on all T steps is exactly ancestral DDPM,
    and on K < T steps it is DDPM with a respaced schedule.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0: deterministic DDIM, 1: DDPM), got {eta}")
    timesteps = step_sequence(schedule.T, steps)
    x = x_T
    for t, s in tqdm(list(zip(timesteps, timesteps[1:] + [-1])), desc="sampling (DDIM)", disable=not progress, leave=False):
        eps, x0 = _predict(denoiser, schedule, x, t, y, guidance_weight, clip_x0)
        alpha_bar, alpha_bar_next = _alpha_bar(schedule, t), _alpha_bar(schedule, s)
        sigma = eta * math.sqrt((1 - alpha_bar_next) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_next))
        x = math.sqrt(alpha_bar_next) * x0 + math.sqrt(max(1 - alpha_bar_next - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x


@torch.no_grad()
def dpm_solver_2m_loop(denoiser, schedule: Schedule, x_T: Tensor, y: Tensor, steps: int,
                       guidance_weight: float = 0.0, clip_x0: float | None = None, progress: bool = False) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): a deterministic second-order multistep solver, x_T -> x_0.

    In the half log-SNR lambda = log(sqrt(abar) / sqrt(1 - abar)), from index t to s with
    h = lambda_s - lambda_t and the previous step's h_prev, r = h_prev / h:

        D   = (1 + 1/(2r)) x0_hat_t - 1/(2r) x0_hat_prev      (first step: D = x0_hat_t)
        x_s = sqrt(1 - abar_s)/sqrt(1 - abar_t) x_t + sqrt(abar_s) (1 - e^-h) D.

    The step into index 0 is taken at first order, and the last one, to clean data (h infinite),
    returns x0_hat: the "lower order final" of common implementations, which keeps the
    extrapolation from amplifying the error of the largest log-SNR step.
    """
    timesteps = step_sequence(schedule.T, steps)
    half_log_snr = lambda alpha_bar: 0.5 * math.log(alpha_bar / (1 - alpha_bar))  # noqa: E731
    x, previous_x0, previous_h = x_T, None, None
    for t, s in tqdm(list(zip(timesteps, timesteps[1:] + [-1])), desc="sampling (DPM-Solver++)", disable=not progress, leave=False):
        _, x0 = _predict(denoiser, schedule, x, t, y, guidance_weight, clip_x0)
        if s < 0:
            return x0
        alpha_bar, alpha_bar_next = _alpha_bar(schedule, t), _alpha_bar(schedule, s)
        h = half_log_snr(alpha_bar_next) - half_log_snr(alpha_bar)
        if previous_x0 is None or s == timesteps[-1]:  # first step, and last one before the jump: first order
            direction = x0
        else:
            r = previous_h / h
            direction = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * previous_x0
        x = math.sqrt((1 - alpha_bar_next) / (1 - alpha_bar)) * x - math.sqrt(alpha_bar_next) * math.expm1(-h) * direction
        previous_x0, previous_h = x0, h
    return x


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


def sample(denoiser, schedule: Schedule, n: int, label: int | Tensor | None = None, guidance_weight: float = 0.0,
           shape: tuple[int, ...] = (1, 2), generator: torch.Generator | None = None,
           device: torch.device | str = "cpu", sampler: str = "ddpm", steps: int | None = None, eta: float = 0.0,
           clip_x0: float | None = None, record_trajectory: bool = False, progress: bool = False) -> Tensor:
    """Draw n samples of `shape` (default one channel, two pixels): (n, *shape), or the trajectory.

    label: a class index for all n, a (n,) int64 tensor of one label per sample, or None for
    unconditional samples (the null label).
    sampler: one of SAMPLERS; steps: how many of the T trained steps to take (default all);
    eta: DDIM's noise scale (ddim only); clip_x0: clip predicted images (ddim and dpmpp2m).
    record_trajectory: the whole chain (T + 1, n, *shape), ancestral DDPM on all T steps only.
    The starting noise x_T ~ N(0, I) comes from `generator`, as does every later draw.
    """
    if n < 1:
        raise ValueError(f"the number of samples must be at least 1, got {n}")
    labels = torch.as_tensor(denoiser.null_label if label is None else label, dtype=torch.long)
    if labels.dim() > 1 or (labels.dim() == 1 and labels.shape != (n,)):
        raise ValueError(f"label must be one class index or one per sample, shape ({n},); got shape {tuple(labels.shape)}")
    if label is not None and not ((labels >= 0) & (labels < denoiser.null_label)).all():
        raise ValueError(f"label must be in 0..{denoiser.null_label - 1} (or None for no label), got {label}")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    steps = schedule.T if steps is None else steps
    step_sequence(schedule.T, steps)  # validates steps
    if eta != 0 and sampler != "ddim":
        raise ValueError(f"eta is DDIM's parameter; sampler {sampler!r} does not take it")
    full_ancestral = sampler == "ddpm" and steps == schedule.T
    if record_trajectory and not full_ancestral:
        raise ValueError("record_trajectory needs the ancestral sampler on all T steps")
    if clip_x0 is not None and sampler == "ddpm":
        raise ValueError("clip_x0 applies to the ddim and dpmpp2m samplers")
    x_T = torch.randn((n, *shape), generator=generator, device=device)
    y = labels.expand(n).to(device)
    if full_ancestral:
        return p_sample_loop(denoiser, schedule, x_T, y, guidance_weight, generator=generator,
                             record_trajectory=record_trajectory, progress=progress)
    if sampler == "dpmpp2m":
        return dpm_solver_2m_loop(denoiser, schedule, x_T, y, steps, guidance_weight, clip_x0, progress)
    return ddim_sample_loop(denoiser, schedule, x_T, y, steps, eta=1.0 if sampler == "ddpm" else eta,
                            guidance_weight=guidance_weight, generator=generator, clip_x0=clip_x0, progress=progress)


def pick_device(name: str | None = None) -> torch.device:
    """The device to run on: `name` if given ("cpu", "cuda", "cuda:1", "mps"), else CUDA, MPS or CPU."""
    if name is not None:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for but it is not available here; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_cpu_threads(max_threads: int = 4) -> None:
    """Use the cores this process may run on, at most max_threads (small models gain nothing beyond)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, min(available, max_threads)))
