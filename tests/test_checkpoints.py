"""Checkpoint files: written atomically, and what the error for each kind of wrong file says."""
from pathlib import Path

import pytest
import torch

from checkpoints import config_from_checkpoint, read_checkpoint, save_checkpoint
from recipe import TrainConfig


def read(path):
    return read_checkpoint(path, "two-pixel-ddpm", 2, "python train.py")


def test_an_unreadable_file_names_the_error_torch_gave(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="is not a readable checkpoint") as error:
        read(path)
    cause = error.value.__cause__
    assert cause is not None and f"({type(cause).__name__}: " in str(error.value)
    assert str(error.value).startswith(str(path)) and str(error.value).endswith("delete it and train again")


@pytest.mark.parametrize("content, holds", [
    ({"kind": "mnist-ddpm", "version": 2}, "'mnist-ddpm'"),  # another model's checkpoint
    ({"weight": torch.zeros(3)}, "'unknown'"),  # a dict without a kind: a bare state_dict
    (torch.zeros(3), "'Tensor'"),  # not a dict at all
    ([1, 2], "'list'"),
])
def test_a_file_of_another_kind_says_what_it_holds(tmp_path, content, holds):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(ValueError) as error:
        read(path)
    assert str(error.value) == (f"{path} is not a two-pixel-ddpm checkpoint (it holds {holds}); "
                                "train one with: python train.py")


def test_another_version_names_both_versions(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"kind": "two-pixel-ddpm", "version": 1}, path)
    with pytest.raises(ValueError) as error:
        read(path)
    assert str(error.value) == (f"{path} has checkpoint version 1, this code reads version 2; "
                                "retrain it with: python train.py")


@pytest.mark.parametrize("state, fields", [
    ({}, "[]"),  # no config saved
    ({"config": {"T": 50, "colour": "red"}}, "['T', 'colour']"),  # fields this code does not know, listed sorted
    ({"config": 5}, "5"),  # not a dict: shown as it is
])
def test_a_config_of_another_format_lists_the_saved_fields(state, fields):
    with pytest.raises(ValueError) as error:
        config_from_checkpoint(state, "m.pt", TrainConfig)
    assert str(error.value) == f"m.pt was written with a different configuration format (fields {fields}); retrain it"


def test_a_saved_config_comes_back_equal_tuples_included(tmp_path):
    config = TrainConfig(channels=(16, 32), T=7)
    path = tmp_path / "config.pt"
    torch.save({"config": config.__dict__}, path)
    assert config_from_checkpoint(torch.load(path, weights_only=True), path, TrainConfig) == config


def test_a_checkpoint_is_written_beside_its_target_then_renamed(tmp_path, monkeypatch):
    """The temporary file sits in the target's folder (so the rename is atomic: same file system),
    named after the target with .tmp at the end, so a crash mid-write leaves a recognisable file."""
    written = []
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda state, path: (written.append(Path(path)), real_save(state, path)))
    target = tmp_path / "run" / "model.pt"
    save_checkpoint(target, {"step": 3})
    (temporary,) = written
    assert temporary.parent == target.parent
    assert temporary.name.startswith("model.pt") and temporary.name.endswith(".tmp") and temporary != target
    assert torch.load(target, weights_only=True) == {"step": 3} and not temporary.exists()


def test_a_failed_write_keeps_the_old_checkpoint_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    save_checkpoint(target, {"step": 1})

    def crash(state, path):
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, {"step": 2})
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert [path.name for path in tmp_path.iterdir()] == ["model.pt"]
