"""Checkpoint files: written atomically, read safely, and checked before use.

Every trained model of the project (two-pixel DDPM, noisy classifier, MNIST DDPM) is saved as a
dict with at least

    kind, version   what wrote it, so a wrong file gets a clear error instead of a shape mismatch
    config          the config dataclass as a dict: everything needed to rebuild the model
    ema             the weights to use (the exponential moving average where the model keeps one)

plus, for training that can be resumed, the live weights, optimiser, learning-rate schedule,
random generator and loss history (see training.py). Files are read with weights_only=True:
a checkpoint handed in by a student is untrusted and must not run code when loaded.
"""
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path

import torch

CHECKPOINT_DIR = Path("checkpoints")


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a temporary file in the same folder, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_checkpoint(path: Path, kind: str, version: int, make_command: str) -> dict:
    """Read a checkpoint safely (weights_only=True) and check its kind and version; every problem is
    a one-line error that says what to do (make_command is the command that trains one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train one with: {make_command} --ckpt {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{path} is not a readable checkpoint ({type(error).__name__}: {error}); "
                         f"delete it and train again") from error
    if not isinstance(state, dict) or state.get("kind") != kind:
        found = state.get("kind", "unknown") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a {kind} checkpoint (it holds {found!r}); train one with: {make_command}")
    if state.get("version") != version:
        raise ValueError(f"{path} has checkpoint version {state.get('version')}, this code reads "
                         f"version {version}; retrain it with: {make_command}")
    return state


def config_from_checkpoint(state: dict, path: Path, config_class: type):
    """The config dataclass saved in a checkpoint (torch keeps its tuples tuples); a clear error
    when its fields are not the ones this code knows."""
    known = {field.name for field in fields(config_class)}
    saved = state.get("config", {})
    if not isinstance(saved, dict) or set(saved) != known:
        raise ValueError(f"{path} was written with a different configuration format "
                         f"(fields {sorted(saved) if isinstance(saved, dict) else saved}); retrain it")
    return config_class(**saved)


def weights_into(model: torch.nn.Module, state: dict, path: Path, device: torch.device | str) -> torch.nn.Module:
    """Load a checkpoint's weights to use (its EMA) into a freshly built model, in eval mode on `device`."""
    try:
        model.load_state_dict(state["ema"])
    except (RuntimeError, KeyError) as error:
        raise ValueError(f"{path}: the saved weights do not fit the architecture in its config ({error})") from error
    return model.to(device).eval()


def config_key(config) -> str:
    """A short hash of every field of a config dataclass: equal configs, equal keys."""
    text = json.dumps(asdict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
