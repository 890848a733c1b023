"""The classical denoisers beside DIP on the same noisy images, grey or colour: BM3D (CBM3D on
colour, the DIP paper's main comparison; the `bm3d` package), and scikit-image's non-local means,
total variation and wavelet denoisers.

Each gets only the noisy image and scikit-image's own noise estimate (estimated_sigma); the
scikit-image parameters follow its denoising gallery example. CBM3D denoises in the opponent
colour space with the same sigma in every channel (bm3d.bm3d_rgb's default).
"""
import bm3d
import numpy as np
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet, estimate_sigma

from dip_ext.images import channel_axis


def estimated_sigma(noisy: np.ndarray) -> float:
    """The noise std of a grey (H, W) or colour (H, W, C) image on its own scale, estimated without
    the clean image: the wavelet median-absolute-deviation rule per channel, averaged over channels."""
    return float(estimate_sigma(noisy, channel_axis=channel_axis(noisy), average_sigmas=True))


def classical_denoisers(noisy: np.ndarray) -> dict[str, np.ndarray]:
    """{"bm3d", "nl_means", "tv", "wavelet"} -> denoised image of the noisy one's shape, from noisy
    (H, W) or (H, W, 3) in [0, 1] (+ noise)."""
    sigma = estimated_sigma(noisy)
    axis = channel_axis(noisy)
    return {
        "bm3d": bm3d.bm3d(noisy, sigma) if axis is None else bm3d.bm3d_rgb(noisy, sigma),
        "nl_means": denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6,
                                     channel_axis=axis),
        "tv": denoise_tv_chambolle(noisy, weight=sigma, channel_axis=axis),
        "wavelet": denoise_wavelet(noisy, sigma=sigma, method="BayesShrink", mode="soft", rescale_sigma=True,
                                   channel_axis=axis),
    }
