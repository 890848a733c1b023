"""Stein's unbiased risk estimate (SURE) of a denoiser's error, which needs no clean image, and the
Monte-Carlo divergence that makes it computable for DIP.

For y = x + n, n ~ N(0, sigma^2 I) over N values (pixels x channels), and an estimate f(y) weakly
differentiable in y,

    SURE(f, y) = ||f(y) - y||^2 / N - sigma^2 + 2 sigma^2 div f(y) / N,    div f = sum_i df_i / dy_i,

has E[SURE] = E ||f(y) - x||^2 / N (Stein 1981). DIP's output after k iterations is such a function
of y (the seed fixes the initial weights, the input and its perturbations), so SURE at every k
estimates the MSE curve, and the SURE rule stops where it is lowest. The divergence is estimated by
Monte Carlo (Ramani, Blu and Unser 2008): for a probe b with E[b b^T] = I (here Rademacher, +-1),

    div f(y) ~= b . (f(y + eps b) - f(y)) / eps,

where f(y + eps b) is a twin fit to the probed observation, in lock step with the first
(dip_ext.fit, `sure=True`): a SURE curve costs a second fit.
"""
import numpy as np

SURE_EPSILON = 1e-2
"""The probe's step eps on the 0..1 scale. Ramani et al. take max |y| / 1000 for a smooth denoiser,
but a DIP fit is a long nonlinear trajectory: a probe that small moves the twin's output by more
than its first-order response, and the divergence is noise (astronaut 64x64 colour, sigma 25,
seed 0: eps 1e-4 and 1e-3 stop at iterations 117 and 286, 11.4 and 4.8 dB below the peak of
26.87 dB at 809; eps 1e-2 tracks the PSNR curve and stops at 641, 0.34 dB below; docs/dip.md)."""
PROBE_STREAM = 0x5E5E
"""Seeds the probe's own random stream (numpy, [PROBE_STREAM, seed]), apart from the fit's draws, so
a fit's record is the same with and without its SURE twin."""


def rademacher_probe(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """b in {-1, +1}^shape, each sign with probability 1/2: E[b b^T] = I."""
    return np.random.default_rng([PROBE_STREAM, seed]).choice([-1.0, 1.0], size=shape)


def sure(estimate: np.ndarray, twin_estimate: np.ndarray, observation: np.ndarray, probe: np.ndarray,
         epsilon: float, sigma: float) -> float:
    """SURE of f(y) = estimate, with div f from the twin's f(y + eps b) = twin_estimate (module
    docstring); all arrays of the observation's shape, sigma on the 0..1 scale."""
    count = observation.size
    divergence = float(np.sum(probe * (twin_estimate - estimate))) / epsilon
    return float(np.sum((estimate - observation) ** 2)) / count - sigma ** 2 + 2 * sigma ** 2 * divergence / count
