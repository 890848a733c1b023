"""The grader and the submission's process talk in frames of plain data: no pickle in either direction.

A frame is an 8-byte length, then a JSON header, a newline and the tensors' raw bytes:

    length (big-endian u64) | {"value": <JSON with tensors as {"tensor": i, "dtype", "shape"}>, "sizes": [...]} \\n | bytes

Values are None, bool, int, float, str, lists (tuples arrive as lists), dicts with str keys and
dense CPU tensors of the DTYPES below. Decoding builds fresh tensors from bytes and never runs code
that came with the data, so a submission can choose what it answers, never what the grader executes.
"""
import json
import os

import torch

DTYPES = {name: getattr(torch, name) for name in ("float64", "float32", "float16", "bfloat16", "int64", "int32",
                                                    "int16", "int8", "uint8", "bool")}
MAX_FRAME_BYTES = 256 * 2**20  # far above any graded answer (the U-Net blocks: a few kB)
_TENSOR = "tensor"


class WireError(ValueError):
    """A frame that is not plain data of this format."""


def encode(value) -> bytes:
    """The frame body of `value` (without the length)."""
    blobs: list[bytes] = []

    def plain(item):
        if item is None or isinstance(item, (bool, int, float, str)):
            return item
        if isinstance(item, (list, tuple)):
            return [plain(entry) for entry in item]
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                raise WireError(f"dict keys must be str, got {sorted({type(key).__name__ for key in item})}")
            if _TENSOR in item:
                raise WireError(f"the key {_TENSOR!r} is reserved for tensors")
            return {key: plain(entry) for key, entry in item.items()}
        if isinstance(item, torch.Tensor):
            tensor = item.detach().to("cpu").contiguous()
            dtype = str(tensor.dtype).removeprefix("torch.")
            if dtype not in DTYPES:
                raise WireError(f"tensors of dtype {dtype} are not sent; use one of {sorted(DTYPES)}")
            blobs.append(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
            return {_TENSOR: len(blobs) - 1, "dtype": dtype, "shape": list(tensor.shape)}
        raise WireError(f"a {type(item).__name__} cannot be sent: answer with tensors, numbers, str, lists or dicts")

    header = json.dumps({"value": plain(value), "sizes": [len(blob) for blob in blobs]}).encode()
    return header + b"\n" + b"".join(blobs)


def decode(body: bytes):
    """The value of a frame body; WireError for anything else."""
    header, newline, data = body.partition(b"\n")
    if not newline:
        raise WireError("no header line")
    try:
        frame = json.loads(header)
    except (ValueError, RecursionError) as error:
        raise WireError(f"the header is not JSON ({error})") from None
    if not isinstance(frame, dict) or set(frame) != {"value", "sizes"} or not isinstance(frame["sizes"], list) \
            or not all(isinstance(size, int) and size >= 0 for size in frame["sizes"]):
        raise WireError("the header is not {value, sizes}")
    if sum(frame["sizes"]) != len(data):
        raise WireError(f"the header announces {sum(frame['sizes'])} bytes of tensors, the frame holds {len(data)}")
    offsets = [sum(frame["sizes"][:index]) for index in range(len(frame["sizes"]))]

    def rebuild(item):
        if isinstance(item, list):
            return [rebuild(entry) for entry in item]
        if isinstance(item, dict) and _TENSOR in item:
            return tensor(item)
        if isinstance(item, dict):
            return {key: rebuild(entry) for key, entry in item.items()}
        return item

    def tensor(spec: dict) -> torch.Tensor:
        index, dtype, shape = spec.get(_TENSOR), spec.get("dtype"), spec.get("shape")
        if set(spec) != {_TENSOR, "dtype", "shape"} or not isinstance(index, int) or not 0 <= index < len(offsets) \
                or dtype not in DTYPES or not isinstance(shape, list) \
                or not all(isinstance(size, int) and size >= 0 for size in shape):
            raise WireError(f"a malformed tensor entry: {str(spec)[:200]}")
        dtype = DTYPES[dtype]
        count = 1
        for size in shape:
            count *= size
        raw = data[offsets[index]:offsets[index] + frame["sizes"][index]]
        if len(raw) != count * dtype.itemsize:
            raise WireError(f"a tensor of shape {shape} and {dtype} needs {count * dtype.itemsize} bytes, got {len(raw)}")
        if count == 0:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()

    try:
        return rebuild(frame["value"])
    except RecursionError:
        raise WireError("the value nests too deeply") from None


def write_frame(fd: int, body: bytes) -> None:
    """Send a frame body (from encode) through the file descriptor `fd`, length first."""
    data = len(body).to_bytes(8, "big") + body
    while data:
        data = data[os.write(fd, data):]


def read_exactly(fd: int, size: int) -> bytes:
    """`size` bytes from `fd` (blocking); EOFError if the other end closes first."""
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def frame_length(prefix: bytes) -> int:
    """The body length announced by a frame's 8-byte prefix; WireError past MAX_FRAME_BYTES."""
    length = int.from_bytes(prefix, "big")
    if length > MAX_FRAME_BYTES:
        raise WireError(f"a frame of {length} bytes (at most {MAX_FRAME_BYTES})")
    return length
