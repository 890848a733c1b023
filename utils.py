"""The problem set's diffusion math: the noise schedule, forward noising, the loss, label dropout,
the classifier-free guidance mix, and the reverse step and loop. (Few-step samplers, guidance
wrappers and `sample()` live in samplers.py; training in training.py.)

Time convention, used everywhere in this project: the paper's steps t = 1..T are the integer
indices t = 0..T-1 of every schedule tensor (`betas[t]` is the paper's beta_{t+1}). A trajectory
is the exception that is indexed by the paper's t: `trajectory[t]` is x_t, so `trajectory[0]` is
the final sample x_0 and `trajectory[T]` the starting noise x_T.

A *denoiser* is anything called as `denoiser(x_t, t, y) -> eps` with x_t (B, ...) float,
t (B,) int64 indices and y (B,) int64 labels, that has a `null_label` attribute (the label meaning
"no label"). Both the trained network (ddpm.NoisePredictor) and the exact noise predictor of the
mixture (gmm.ExactDenoiser) are denoisers, so every sampler runs on both.
"""
import math
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
