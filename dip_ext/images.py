"""Test images and their corruptions: images in [0, 1], grey (H, W) or colour (H, W, 3), no download.

Sources: the standard photographs scikit-image ships inside its wheel (`load_image("astronaut")`),
a held-out MNIST digit (`"mnist:7"` = the 8th held-out digit, see mnist_ext.data), any PNG (8- or
16-bit) or JPEG file, or every image in a folder (`images_in`). A colour source stays colour
unless grey=True; a grey source stays grey. Every image is cropped to its central square and
resized to `size` x `size` by skimage.transform.resize with anti-aliasing (so 512 x 512 astronaut
becomes a 128 x 128 thumbnail of the whole scene).

Corruptions: y = x + sigma/255 * eps (eps ~ N(0, I) independently per pixel and channel, not
clipped, so the noise model that the stopping rules assume holds exactly), and pixel masks
(1 = observed; a pixel is observed or missing in all its channels).

Arrays here are numpy, channels last; the network's tensors are (1, C, H, W) (to_tensor, to_image).
"""
from pathlib import Path

import numpy as np
import torch
from skimage import color, data, transform
from torch import Tensor

BENCHMARK_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "moon", "coins", "brick", "text")
"""The grey study's 8 images: scikit-image's standard photographs, mixing portraits, texture and text."""
COLOUR_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "retina")
"""The colour study's 6 photographs: every colour photograph scikit-image ships but the Hubble
deep field (mostly black sky) and a microscope slide."""
EXTRA_IMAGES = ("page", "grass", "gravel", "clock", "cell", "immunohistochemistry", "hubble_deep_field")
IMAGE_NAMES = tuple(dict.fromkeys(BENCHMARK_IMAGES + COLOUR_IMAGES + EXTRA_IMAGES))
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SIGMAS = (15, 25, 50)
"""Noise std on the 0..255 scale, as in the DIP paper's tables."""
MAX_SIGMA = 100
MIN_SIZE = 16
MASKS = ("random", "block")


def _to_unit(image: np.ndarray, grey: bool) -> np.ndarray:
    """An 8- or 16-bit array (H, W) or (H, W, 3) -> float64 in [0, 1], 0 to the type's largest value:
    (H, W) if grey or the source is grey (scikit-image's rgb2gray: ITU-R 709 luminance), else (H, W, 3)."""
    image = np.asarray(image)
    if image.ndim == 3 and grey:
        return color.rgb2gray(image)
    return image.astype(np.float64) / np.iinfo(image.dtype).max


def _skimage_photograph(name: str) -> np.ndarray:
    if name == "motorcycle":
        return data.stereo_motorcycle()[0]  # the left view of the stereo pair
    return getattr(data, name)()


_GREY_MODES = {"1": "L", "L": "L", "LA": "L", "I;16": "I;16"}
"""Pillow's grey modes of PNG and JPEG files -> the mode read: 8-bit grey (bilevel, and grey with
alpha, too) or 16-bit grey. Any other mode but the integer and float ones is read as 8-bit RGB,
alpha dropped."""


def _read_file(path: Path, grey: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ValueError(f"no image file at {path}; give an existing PNG/JPEG or one of: {', '.join(IMAGE_NAMES)}")
    try:
        with Image.open(path) as opened:
            if opened.mode[0] in "IF" and opened.mode != "I;16":  # a TIFF's 32-bit, float or big-endian pixels
                raise ValueError(f"cannot read {path}: its pixels are Pillow's mode {opened.mode}, whose range is "
                                 "not known here; give an 8- or 16-bit PNG or a JPEG")
            return _to_unit(np.asarray(opened.convert(_GREY_MODES.get(opened.mode, "RGB"))), grey)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read {path} as an image ({error}); give a PNG or JPEG file") from None


def images_in(folder: Path) -> list[str]:
    """The PNG and JPEG files in `folder` (not its subfolders), sorted, as sources for load_image."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; give a folder of PNG/JPEG images")
    found = sorted(str(path) for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not found:
        raise ValueError(f"{folder} holds no PNG or JPEG file")
    return found


def channels(image: np.ndarray) -> int:
    """1 for a grey image (H, W), C for a colour one (H, W, C)."""
    return 1 if image.ndim == 2 else image.shape[-1]


def channel_axis(image: np.ndarray) -> int | None:
    """scikit-image's channel_axis for an image: None for grey (H, W), -1 for colour (H, W, C)."""
    return None if image.ndim == 2 else -1


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """(H, W) or (H, W, C) numpy -> (1, C, H, W) float32 tensor, the network's layout."""
    tensor = torch.as_tensor(image, dtype=torch.float32, device=device)
    return tensor[None, None] if image.ndim == 2 else tensor.permute(2, 0, 1)[None]


def to_image(tensor: Tensor) -> np.ndarray:
    """(1, C, H, W) tensor -> float64 numpy (H, W) for C = 1, (H, W, C) otherwise: to_tensor's inverse."""
    image = tensor[0].detach().cpu().double().numpy()
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


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


def load_image(source: str, size: int | None = 64, grey: bool = False) -> np.ndarray:
    """An image (size, size) or (size, size, 3) in [0, 1] from a scikit-image name, "mnist:K" or a
    file path: colour if the source is, unless grey.

    size=None keeps the source's own size (after the central square crop).
    """
    if source in IMAGE_NAMES:
        image = _to_unit(_skimage_photograph(source), grey)
    elif source.startswith("mnist:"):
        index = source.removeprefix("mnist:")
        if not index.isdigit():
            raise ValueError(f"{source!r}: expected mnist:K with K an integer >= 0")
        image = _held_out_digit(int(index))
    elif Path(source).suffix or Path(source).exists():
        image = _read_file(Path(source), grey)
    else:
        raise ValueError(f"unknown image {source!r}: give a file path, mnist:K, or one of: {', '.join(IMAGE_NAMES)}")
    height, width = image.shape[:2]
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
    """y = x + sigma/255 * eps, eps ~ N(0, I); clean: (H, W) or (H, W, C) in [0, 1], sigma on the 0..255 scale."""
    eps = torch.randn(clean.shape, generator=generator, dtype=torch.float64).numpy()
    return clean + check_sigma(sigma) * eps


def make_mask(kind: str, shape: tuple[int, ...], generator: torch.Generator | None = None) -> np.ndarray:
    """A pixel mask of 0/1 floats of the image's shape (H, W) or (H, W, C), 1 = observed, the same
    in every channel.

    random: each pixel observed with probability 1/2. block: the central square of half the side
    (a quarter of the pixels) missing.
    """
    height, width = shape[:2]
    if kind == "random":
        mask = (torch.rand((height, width), generator=generator, dtype=torch.float64) < 0.5).double().numpy()
    elif kind == "block":
        mask = np.ones((height, width))
        mask[height // 4: height // 4 + height // 2, width // 4: width // 4 + width // 2] = 0.0
    else:
        raise ValueError(f"unknown mask {kind!r}; use one of: {', '.join(MASKS)}")
    return np.repeat(mask[..., None], shape[2], axis=2) if len(shape) == 3 else mask


def check_mask(mask: np.ndarray | Tensor, image_shape: tuple[int, ...]) -> None:
    """A mask must have the image's shape and hold only 0s and 1s."""
    if tuple(mask.shape) != tuple(image_shape):
        raise ValueError(f"the mask has shape {tuple(mask.shape)} but the image has {tuple(image_shape)}; they must match")
    values = set(np.unique(np.asarray(mask)).tolist())
    if not values <= {0.0, 1.0}:
        raise ValueError("the mask must hold only 0 (missing) and 1 (observed)")
    if 1.0 not in values:
        raise ValueError("the mask observes no pixel; at least one must be 1")
