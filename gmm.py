"""The ground truth: a two-pixel Gaussian mixture, exact at every noise level.

An "image" is x = (left, right) in R^2. The problem set's mixture has two isotropic components
(std 0.1); the label y of an image is the component it was drawn from:

    component  mean (left, right)  weight  label  meaning
    0          (-0.35,  0.65)      0.35    0      left pixel darker than right
    1          ( 0.75, -0.45)      0.65    1      left pixel lighter than right

Because the forward process x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps is linear and Gaussian,
every noised marginal q(x_t) is again a Gaussian mixture, with means sqrt(abar) mu_k and
variances abar sigma_k^2 + 1 - abar. That gives the *exact* noise predictor

    eps*(x_t, t) = E[eps | x_t] = -sqrt(1 - abar_t) * grad_x log q(x_t),

the best denoiser any network can learn. `ExactDenoiser` exposes it through the same call as the
trained network, so the samplers in utils.py run on both.

Shapes: points are (..., 2), any leading dimensions (a model batch (B, 1, 2) works as is).
"""
import math

import torch
from torch import Tensor
from torch.utils.data import Dataset

PROBLEM_MEANS = ((-0.35, 0.65), (0.75, -0.45))
PROBLEM_STD = 0.1
PROBLEM_WEIGHTS = (0.35, 0.65)

DATA_RANGE = 1.5
"""Kept samples have both pixels in (-DATA_RANGE, DATA_RANGE); figures plot this square."""

NUM_CLASSES = 2
NULL_LABEL = NUM_CLASSES
"""The "no label" class used for unconditional generation: one index past the real labels."""


class GMM(Dataset):
    """Isotropic Gaussian mixture as a torch Dataset of (x: (1, 2), y: ()) items.

    Args:
        means: (K, 2) component means.
        std_devs: (K,) isotropic standard deviation of each component.
        mix_weights: (K,) mixture weights, positive, summing to 1.
        n_samples: number of stored samples the Dataset serves.
        seed: seed of the generator that draws them.

    The stored samples are truncated to the open square (-DATA_RANGE, DATA_RANGE)^2, as in the
    starter. The exact densities below ignore that truncation: for the problem's mixture the mass
    outside the square is below 1e-12.
    """

    def __init__(self, means, std_devs, mix_weights, n_samples: int = 10_000, seed: int = 0):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.std_devs = torch.as_tensor(std_devs, dtype=torch.float64)
        self.mix_weights = torch.as_tensor(mix_weights, dtype=torch.float64)
        n_components = self.means.shape[0]
        if self.means.shape != (n_components, 2):
            raise ValueError(f"means must have shape (K, 2), got {tuple(self.means.shape)}")
        if self.std_devs.shape != (n_components,) or self.mix_weights.shape != (n_components,):
            raise ValueError(
                f"std_devs and mix_weights need one entry per component ({n_components}), got "
                f"{tuple(self.std_devs.shape)} and {tuple(self.mix_weights.shape)}"
            )
        if (self.std_devs <= 0).any():
            raise ValueError(f"std_devs must be positive, got {self.std_devs.tolist()}")
        if (self.mix_weights <= 0).any() or abs(float(self.mix_weights.sum()) - 1) > 1e-6:
            raise ValueError(f"mix_weights must be positive and sum to 1, got {self.mix_weights.tolist()}")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        generator = torch.Generator().manual_seed(seed)
        self.samples, self.labels = self.sample(n_samples, generator=generator)

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    def __len__(self) -> int:
        return self.samples.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """One image (1, 2) float32 (one channel, two pixels) and its label () int64."""
        return self.samples[index], self.labels[index]

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw n truncated samples: x (n, 1, 2) float32 and their component labels y (n,) int64."""
        kept_x, kept_y, n_kept = [], [], 0
        while n_kept < n:
            y = torch.multinomial(self.mix_weights, n, replacement=True, generator=generator)
            noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
            x = self.means[y] + self.std_devs[y, None] * noise
            inside = (x.abs() < DATA_RANGE).all(dim=-1)
            kept_x.append(x[inside])
            kept_y.append(y[inside])
            n_kept += int(inside.sum())
        x = torch.cat(kept_x)[:n].float().unsqueeze(1)
        return x, torch.cat(kept_y)[:n]

    # ----- exact densities of the clean and the noised data --------------------------------------

    def noised_components(self, alpha_bar: Tensor | float) -> tuple[Tensor, Tensor]:
        """Means and variances of q(x_t) = sum_k w_k N(sqrt(abar) mu_k, (abar sigma_k^2 + 1 - abar) I).

        alpha_bar: a float or a tensor of shape (...,) broadcast against the points it is used with.
        Returns means (..., K, 2) and variances (..., K).
        """
        alpha_bar = torch.as_tensor(alpha_bar, dtype=torch.float64)[..., None]
        means = alpha_bar.sqrt()[..., None] * self.means
        variances = alpha_bar * self.std_devs**2 + 1 - alpha_bar
        return means, variances

    def component_log_probs(self, x: Tensor, alpha_bar: Tensor | float = 1.0) -> Tensor:
        """log w_k + log N(x; sqrt(abar) mu_k, v_k I) for each component k: (..., 2) -> (..., K).

        alpha_bar = 1 (the default) is the clean data; alpha_bar (...,) gives one level per point.
        """
        x = x.double()
        means, variances = self.noised_components(torch.as_tensor(alpha_bar).expand(x.shape[:-1]))
        squared_distance = ((x[..., None, :] - means) ** 2).sum(-1)
        log_normal = -0.5 * squared_distance / variances - torch.log(2 * math.pi * variances)
        return self.mix_weights.log() + log_normal

    def log_prob(self, x: Tensor, alpha_bar: Tensor | float = 1.0) -> Tensor:
        """log q(x_t) at points x (..., 2), float64 (...,); alpha_bar = 1 is the clean data."""
        return torch.logsumexp(self.component_log_probs(x, alpha_bar), dim=-1)

    def density(self, x: Tensor, alpha_bar: Tensor | float = 1.0) -> Tensor:
        """q(x_t) at points x (..., 2), float64 (...,)."""
        return self.log_prob(x, alpha_bar).exp()

    def class_posterior(self, x: Tensor, alpha_bar: Tensor | float = 1.0) -> Tensor:
        """Bayes' rule on the noised mixture: p(y = k | x_t) = w_k q_k(x_t) / q(x_t), (..., 2) -> (..., K)."""
        return torch.softmax(self.component_log_probs(x, alpha_bar), dim=-1)

    def classify(self, x: Tensor) -> Tensor:
        """Most probable component of each clean point x (..., 2): labels (...,) int64."""
        return self.component_log_probs(x).argmax(dim=-1)

    def exact_eps(self, x_t: Tensor, alpha_bar: Tensor, y: Tensor | None = None) -> Tensor:
        """The exact noise predictor eps*(x_t) = -sqrt(1 - abar) grad_x log q(x_t | y).

        x_t: (B, ..., 2) noised points; alpha_bar: (B,) noise level of each; y: (B,) labels, where
        NULL_LABEL (or y = None) means unconditional. With responsibilities r_k = p(k | x_t, y),

            grad_x log q(x_t | y) = -sum_k r_k (x_t - sqrt(abar) mu_k) / v_k,

        and a label restricts the sum to its own component (r = one-hot). Returns x_t's shape and dtype.
        """
        batch = x_t.shape[0]
        alpha_bar = alpha_bar.double().reshape(batch, *[1] * (x_t.dim() - 2)).expand(x_t.shape[:-1])
        log_joint = self.component_log_probs(x_t, alpha_bar)  # (B, ..., K)
        if y is not None:
            labelled = (y != NULL_LABEL).reshape(batch, *[1] * (x_t.dim() - 1))
            own = torch.nn.functional.one_hot(y.clamp(max=self.num_components - 1), self.num_components)
            own = own.bool().reshape(batch, *[1] * (x_t.dim() - 2), self.num_components)
            log_joint = log_joint.masked_fill(labelled & ~own, -math.inf)
        responsibilities = torch.softmax(log_joint, dim=-1)
        means, variances = self.noised_components(alpha_bar)
        score = -(responsibilities[..., None] * (x_t.double()[..., None, :] - means) / variances[..., None]).sum(-2)
        return (-(1 - alpha_bar[..., None]).sqrt() * score).to(x_t.dtype)

    def exact_classifier(self, alphas_cumprod: Tensor) -> "ExactClassifier":
        """This mixture's p(y | x_t) on a schedule's noise levels, as a classifier of noisy images."""
        return ExactClassifier(self, alphas_cumprod)

    def exact_denoiser(self, alphas_cumprod: Tensor) -> "ExactDenoiser":
        """This mixture's eps* on a schedule's noise levels, callable like the trained network."""
        return ExactDenoiser(self, alphas_cumprod)


class ExactDenoiser:
    """eps*(x_t, t, y) on a fixed schedule: the same call signature as ddpm.NoisePredictor.

    alphas_cumprod: (T,) the schedule's abar, indexed by t = 0..T-1 (see utils.Schedule).
    Calling it with x_t (B, 1, 2), t (B,) int64 and y (B,) int64 returns eps* (B, 1, 2).
    """

    null_label = NULL_LABEL

    def __init__(self, gmm: GMM, alphas_cumprod: Tensor):
        self.gmm = gmm
        self.alphas_cumprod = alphas_cumprod

    def __call__(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return self.gmm.exact_eps(x_t, self.alphas_cumprod.to(t.device)[t], y)


class ExactClassifier:
    """The exact noisy-image classifier: logits log w_k q_k(x_t), so softmax gives p(y = k | x_t).

    Called as classifier(x_t (B, 1, 2), t (B,) int64 indices) -> logits (B, K), differentiable in x_t:
    the oracle for classifier guidance (samplers.ClassifierGuidance).
    """

    def __init__(self, gmm: GMM, alphas_cumprod: Tensor):
        self.gmm = gmm
        self.alphas_cumprod = alphas_cumprod

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        points = x_t.reshape(x_t.shape[0], 2)
        return self.gmm.component_log_probs(points, self.alphas_cumprod.to(t.device)[t])


def problem_gmm(n_samples: int = 10_000, seed: int = 0) -> GMM:
    """The problem set's two-pixel mixture (table above)."""
    return GMM(PROBLEM_MEANS, [PROBLEM_STD] * NUM_CLASSES, PROBLEM_WEIGHTS, n_samples=n_samples, seed=seed)
