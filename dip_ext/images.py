"""Test images and their corruptions: grey images in [0, 1], no download.

Sources: the standard photographs scikit-image ships inside its wheel (`load_image("camera")`), a
held-out MNIST digit (`"mnist:7"` = the 8th held-out digit, see mnist_ext.data), or any PNG/JPEG
file. Every image is converted to grey, cropped to its central square and resized to `size` x
`size` by skimage.transform.resize with anti-aliasing (so 512 x 512 camera becomes a 64 x 64 or
128 x 128 thumbnail of the whole scene).

Corruptions: y = x + sigma/255 * eps (eps ~ N(0, I), not clipped, so the noise model that the
stopping rules assume holds exactly), and pixel masks (1 = observed).
"""
from pathlib import Path

import numpy as np
import torch
from skimage import color, data, transform
from torch import Tensor

BENCHMARK_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "moon", "coins", "brick", "text")
"""The study's 8 images: scikit-image's standard photographs, mixing portraits, texture and text."""
EXTRA_IMAGES = ("page", "grass", "gravel", "rocket", "clock", "cell", "immunohistochemistry")
IMAGE_NAMES = BENCHMARK_IMAGES + EXTRA_IMAGES
SIGMAS = (15, 25, 50)
"""Noise std on the 0..255 scale, as in the DIP paper's tables."""
MAX_SIGMA = 100
MIN_SIZE = 16
MASKS = ("random", "block")


def _to_grey(image: np.ndarray) -> np.ndarray:
    """Any skimage/PIL array -> (H, W) float in [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.ndim == 3:
        image = color.rgb2gray(image)
    image = image.astype(np.float64)
    return image / 255.0 if image.max() > 1.0 else image


def _read_file(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ValueError(f"no image file at {path}; give an existing PNG/JPEG or one of: {', '.join(IMAGE_NAMES)}")
    try:
        with Image.open(path) as opened:
            return np.asarray(opened.convert("L"), dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read {path} as an image ({error}); give a PNG or JPEG file") from None


def digit_to_unit(digits: Tensor) -> np.ndarray:
    """MNIST digits in the model's range [-1, 1] -> float64 in [0, 1], the range DIP and PSNR use here."""
    return ((digits.double() + 1) / 2).clamp(0, 1).numpy()


def unit_to_digit(images: np.ndarray) -> Tensor:
    """The inverse of digit_to_unit, float32, values clipped to [0, 1] first."""
    return torch.as_tensor(np.clip(images, 0, 1) * 2 - 1, dtype=torch.float32)


def _held_out_digit(index: int) -> np.ndarray:
    from mnist_ext.data import model_and_held_out_digits

    _, (digits, _) = model_and_held_out_digits()
    if not 0 <= index < len(digits):
        raise ValueError(f"mnist:{index} is out of range; there are {len(digits)} held-out digits (0..{len(digits) - 1})")
    return digit_to_unit(digits[index, 0])


def load_image(source: str, size: int | None = 64) -> np.ndarray:
    """A grey image (size, size) in [0, 1] from a scikit-image name, "mnist:K" or a file path.

    size=None keeps the source's own size (after the central square crop).
    """
    if source in IMAGE_NAMES:
        image = _to_grey(getattr(data, source)())
    elif source.startswith("mnist:"):
        try:
            image = _held_out_digit(int(source.removeprefix("mnist:")))
        except ValueError as error:
            raise ValueError(f"{source!r}: {error}" if "out of range" in str(error) else
                             f"{source!r}: expected mnist:K with K an integer") from None
    elif Path(source).suffix or Path(source).exists():
        image = _read_file(Path(source))
    else:
        raise ValueError(f"unknown image {source!r}: give a file path, mnist:K, or one of: {', '.join(IMAGE_NAMES)}")
    height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = image[top:top + side, left:left + side]
    if side < MIN_SIZE:
        raise ValueError(f"{source} is only {side} x {side} pixels after cropping; give at least {MIN_SIZE} x {MIN_SIZE}")
    if size is None:
        size = side
    if size < MIN_SIZE:
        raise ValueError(f"size {size} is too small; DIP needs at least {MIN_SIZE} x {MIN_SIZE} pixels")
    if side != size:
        image = transform.resize(image, (size, size), anti_aliasing=True)
    return np.clip(image, 0.0, 1.0)


def check_sigma(sigma: float) -> float:
    """sigma on the 0..255 scale, refused outside (0, MAX_SIGMA]."""
    if not 0 < sigma <= MAX_SIGMA:
        raise ValueError(f"sigma must be in (0, {MAX_SIGMA}] on the 0..255 scale (the paper uses 15, 25, 50), got {sigma}")
    return sigma / 255.0


def add_noise(clean: np.ndarray, sigma: float, generator: torch.Generator | None = None) -> np.ndarray:
    """y = x + sigma/255 * eps, eps ~ N(0, I); clean: (H, W) in [0, 1], sigma on the 0..255 scale."""
    eps = torch.randn(clean.shape, generator=generator, dtype=torch.float64).numpy()
    return clean + check_sigma(sigma) * eps


def make_mask(kind: str, shape: tuple[int, int], generator: torch.Generator | None = None) -> np.ndarray:
    """A pixel mask (H, W) of 0/1 floats, 1 = observed.

    random: each pixel observed with probability 1/2. block: the central square of half the side
    (a quarter of the pixels) missing.
    """
    if kind == "random":
        return (torch.rand(shape, generator=generator, dtype=torch.float64) < 0.5).numpy().astype(np.float64)
    if kind == "block":
        mask = np.ones(shape)
        height, width = shape
        mask[height // 4: height // 4 + height // 2, width // 4: width // 4 + width // 2] = 0.0
        return mask
    raise ValueError(f"unknown mask {kind!r}; use one of: {', '.join(MASKS)}")


def check_mask(mask: np.ndarray | Tensor, image_shape: tuple[int, ...]) -> None:
    """A mask must have the image's shape and hold only 0s and 1s."""
    if tuple(mask.shape) != tuple(image_shape):
        raise ValueError(f"the mask has shape {tuple(mask.shape)} but the image has {tuple(image_shape)}; they must match")
    values = np.unique(np.asarray(mask))
    if not set(values.tolist()) <= {0.0, 1.0}:
        raise ValueError("the mask must hold only 0 (missing) and 1 (observed)")
    if values.max(initial=0.0) == 0.0:
        raise ValueError("the mask observes no pixel; at least one must be 1")
