"""How close an estimate is to the clean image: PSNR and SSIM, on grey (H, W) or colour (H, W, C)
images in [0, 1] (data range 1).

PSNR = 10 log10(1 / MSE), the MSE over every pixel and channel; SSIM (Wang et al. 2004, 7x7
windows) is computed per channel and averaged (scikit-image's channel_axis). Evaluation only:
nothing that chooses a stop reads these.
"""
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dip_ext.images import channel_axis


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(clean, np.asarray(estimate, dtype=np.float64), data_range=1.0))


def ssim(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(structural_similarity(clean, np.asarray(estimate, dtype=np.float64), data_range=1.0,
                                       channel_axis=channel_axis(clean)))


def quality(clean: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """{"psnr", "ssim"} of the estimate against the clean image."""
    return {"psnr": psnr(clean, estimate), "ssim": ssim(clean, estimate)}
