"""Progressive, diffusion-style targets for DIP, and the no-reference quality estimate they give.

Given the observation y = x + n, n ~ N(0, sigma^2 I), draw one z ~ N(0, I) and for a scale a > 0 form

    fit target     y_a   = y + a sigma z        (noise variance sigma^2 (1 + a^2): a forward-process step)
    check target   ybar_a = y - sigma z / a      (noise variance sigma^2 (1 + 1 / a^2))

The two noises n + a sigma z and n - sigma z / a are jointly Gaussian with covariance
sigma^2 - sigma^2 = 0, so they are independent (Recorrupted-to-Recorrupted, Pang et al. 2021). A
network fitted to y_a only ever sees y_a, so its output f is independent of ybar_a's noise and

    E ||f - ybar_a||^2 / N = E ||f - x||^2 / N + sigma^2 (1 + 1 / a^2),

an unbiased estimate of the mean squared error to the clean image that never looks at it.

Fitting DIP to y_a for decreasing a (most corrupted first, towards y) is the assignment's
"intermediate targets as in the forward process"; the estimate, monitored at each stage, is the
stopping signal. The last stage cannot be y itself (a = 0): its check target would need infinite
noise, and f would then depend on n, so the estimate would reward fitting the noise.
"""
import numpy as np

SPACINGS = ("geometric", "linear")


def stage_scales(stages: int, largest: float = 2.0, smallest: float = 0.5, spacing: str = "geometric") -> tuple[float, ...]:
    """The scales a_1 > ... > a_stages of the targets' extra noise, in units of sigma.

    geometric: equal ratios (as the noise levels of a variance-exploding diffusion schedule);
    linear: equal steps. One stage is just a = smallest.
    """
    if stages < 1:
        raise ValueError(f"stages must be at least 1, got {stages}")
    if not 0 < smallest <= largest:
        raise ValueError(f"need 0 < smallest <= largest for the noise scales, got {smallest} and {largest}")
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; use one of: {', '.join(SPACINGS)}")
    # BEGIN SOLUTION the scales from largest to smallest, geometric or linear
    if stages == 1:
        return (smallest,)
    if spacing == "geometric":
        scales = np.geomspace(largest, smallest, stages)
    else:
        scales = np.linspace(largest, smallest, stages)
    return tuple(float(scale) for scale in scales)
    # END SOLUTION


def target_pair(observation: np.ndarray, z: np.ndarray, scale: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(y + a sigma z, y - sigma z / a): the target to fit and the independent one to check against.

    observation y, z ~ N(0, I): (H, W) or (H, W, C), the same shape; sigma on the 0..1 scale; scale
    a > 0. Returns two arrays of the observation's shape.
    """
    if scale <= 0:
        raise ValueError(f"the noise scale must be positive, got {scale}")
    # BEGIN SOLUTION the fit target y + a sigma z and the check target y - sigma z / a
    return observation + scale * sigma * z, observation - sigma * z / scale
    # END SOLUTION


def estimated_mse(output: np.ndarray, check_target: np.ndarray, scale: float, sigma: float,
                  mask: np.ndarray | None = None) -> float:
    """||f - ybar_a||^2 / N - sigma^2 (1 + 1 / a^2): unbiased for ||f - x||^2 / N (module docstring).

    output f, check_target ybar_a: (H, W) or (H, W, C), the same shape; sigma on the 0..1 scale;
    scale a > 0. With a mask (the output's shape, 1 = observed), the mean runs over the observed
    values only and N counts them. Returns a float.
    """
    # BEGIN SOLUTION ||f - ybar_a||^2 / N - sigma^2 (1 + 1 / a^2)
    squared = (output - check_target) ** 2
    mean = squared.mean() if mask is None else squared[mask > 0].mean()
    return float(mean - sigma ** 2 * (1 + 1 / scale ** 2))
    # END SOLUTION
