"""The classical denoisers scikit-image ships, beside DIP on the same noisy images.

Each gets only the noisy image and scikit-image's own noise estimate (estimate_sigma, a wavelet
median-absolute-deviation rule); parameters follow scikit-image's denoising gallery example.
"""
import numpy as np
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet, estimate_sigma


def estimated_sigma(noisy: np.ndarray) -> float:
    """The noise std of a grey image on its own scale, estimated without the clean image."""
    return float(estimate_sigma(noisy))


def classical_denoisers(noisy: np.ndarray) -> dict[str, np.ndarray]:
    """{"nl_means", "tv", "wavelet"} -> denoised (H, W), from noisy (H, W) in [0, 1] (+ noise)."""
    sigma = estimated_sigma(noisy)
    return {
        "nl_means": denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6),
        "tv": denoise_tv_chambolle(noisy, weight=sigma),
        "wavelet": denoise_wavelet(noisy, sigma=sigma, method="BayesShrink", mode="soft", rescale_sigma=True),
    }
