"""speed.py: the policy table, what each setting does to a model, and training and DIP fits under
bfloat16: reproducible, bit-for-bit on resume, different from float32, and chosen from the flags."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mnist_ext.recipe
import noisy_classifier
import recipe
import speed
import train as train_command
import training
from dip_ext.fit import Stage, fit
from dip_ext.images import add_noise, load_image
from dip_ext.network import DipConfig
from speed import BFLOAT16, DEFAULTS, FLOAT32, MODELS, SpeedPolicy, device_kind, speed_policy


# ----- the table --------------------------------------------------------------------------------

@pytest.mark.parametrize("native, kind", [(True, "cpu-bf16"), (False, "cpu")])
def test_a_cpu_is_classed_by_its_native_bfloat16(monkeypatch, native, kind):
    monkeypatch.setattr(speed, "cpu_has_native_bfloat16", lambda: native)
    assert device_kind("cpu") == kind
    assert device_kind(torch.device("cuda:1")) == "cuda" and device_kind("mps") == "mps"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_the_native_bfloat16_probe_agrees_with_the_kernels_cpu_flags():
    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert speed.cpu_has_native_bfloat16() == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_every_model_has_a_policy_on_every_device_kind():
    recipes = (recipe.RECIPE, noisy_classifier.RECIPE, mnist_ext.recipe.RECIPE)
    assert {r.kind for r in recipes} | {"dip"} == set(MODELS)
    for kind in ("cpu-bf16", "cpu", "cuda", "mps"):
        assert set(DEFAULTS[kind]) == set(MODELS), kind
    assert all(policy == FLOAT32 for policy in DEFAULTS["cpu"].values()), "emulated bfloat16 is never a default"


def test_given_settings_replace_the_default_and_bad_ones_are_refused(monkeypatch):
    monkeypatch.setattr(speed, "cpu_has_native_bfloat16", lambda: True)
    assert speed_policy("mnist-ddpm", "cpu") == DEFAULTS["cpu-bf16"]["mnist-ddpm"]
    chosen = speed_policy("two-pixel-ddpm", "cpu", precision="bfloat16", compile=None)
    assert chosen == dataclasses.replace(DEFAULTS["cpu-bf16"]["two-pixel-ddpm"], precision="bfloat16")
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, got 'float16'"):
        SpeedPolicy(precision="float16")
    with pytest.raises(ValueError, match="no speed policy for 'gan'"):
        speed_policy("gan", "cpu")


# ----- what each setting does ---------------------------------------------------------------------

def test_autocast_runs_products_in_the_policys_precision():
    layer, x = nn.Linear(4, 3), torch.randn(2, 4)
    with BFLOAT16.autocast("cpu"):
        assert layer(x).dtype == torch.bfloat16
    with FLOAT32.autocast("cpu"):
        assert layer(x).dtype == torch.float32


def test_prepare_stores_channels_last_and_keeps_the_state_dict():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    names = list(model.state_dict())
    SpeedPolicy(channels_last=True, compile=True).prepare(model)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()
    assert list(model.state_dict()) == names, "a compiled model saves under the same names"


def test_describe_says_each_setting():
    torch_threads = torch.get_num_threads()
    assert BFLOAT16.describe() == f"bfloat16 autocast, contiguous, eager, {torch_threads} CPU threads"
    assert SpeedPolicy(channels_last=True, compile=True).describe().startswith("float32, channels-last, compiled")


# ----- training under a policy ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory, tiny_config):
    path = tmp_path_factory.mktemp("bf16") / "run.pt"
    return path, training.train(recipe.RECIPE, tiny_config, path, progress=False, speed=BFLOAT16)


def test_bfloat16_training_is_reproducible_and_differs_from_float32(tmp_path, tiny_config, tiny_checkpoint, bf16_run):
    path, first = bf16_run
    again = training.train(recipe.RECIPE, tiny_config, tmp_path / "again.pt", progress=False, speed=BFLOAT16)
    float32 = torch.load(tiny_checkpoint, weights_only=True)
    assert first["speed"] == dataclasses.asdict(BFLOAT16) and float32["speed"] == dataclasses.asdict(FLOAT32)
    for name, value in first["model"].items():
        assert value.dtype == float32["model"][name].dtype, "weights stay in their float32 format"
        assert torch.equal(value, again["model"][name]), name
    assert not torch.equal(first["losses"], float32["losses"]), "bfloat16 rounds: the run differs from float32's"


def test_a_resumed_run_keeps_its_saved_policy_and_ends_bit_for_bit(tmp_path, tiny_config, bf16_run, capsys):
    path = tmp_path / "cut.pt"
    training.train(recipe.RECIPE, tiny_config, path, time_budget_minutes=1e-9, progress=False, speed=BFLOAT16)
    resumed = training.train(recipe.RECIPE, tiny_config, path, resume=True, progress=False)  # no policy given
    uninterrupted = torch.load(bf16_run[0], weights_only=True)
    assert resumed["speed"] == dataclasses.asdict(BFLOAT16)
    for key in ("model", "ema", "losses"):
        values = resumed[key].items() if key != "losses" else [("", resumed[key])]
        for name, value in values:
            expected = uninterrupted[key][name] if key != "losses" else uninterrupted[key]
            assert torch.equal(value, expected), f"{key}.{name}"
    capsys.readouterr()
    cut = tmp_path / "cut_again.pt"
    training.train(recipe.RECIPE, tiny_config, cut, time_budget_minutes=1e-9, progress=False, speed=BFLOAT16)
    training.train(recipe.RECIPE, tiny_config, cut, resume=True, progress=False, speed=FLOAT32)
    assert "will differ from an uninterrupted run's" in capsys.readouterr().err


def test_the_train_command_takes_the_speed_flags(tmp_path, tiny_config, capsys):
    flags = ["--T", str(tiny_config.T), "--steps", "3", "--batch-size", "16", "--n-data", "100"]
    path = tmp_path / "flags.pt"
    train_command.main(flags + ["--ckpt", str(path), "--precision", "bfloat16", "--channels-last", "false"])
    assert torch.load(path, weights_only=True)["speed"] == dataclasses.asdict(BFLOAT16)
    assert "two-pixel-ddpm on cpu: bfloat16 autocast, contiguous, eager" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        train_command.main(flags + ["--ckpt", str(tmp_path / "no.pt"), "--precision", "float16"])
    assert exit_info.value.code == 2
    assert "argument --precision: invalid choice: 'float16'" in capsys.readouterr().err


# ----- DIP under a policy ---------------------------------------------------------------------------

def test_a_bfloat16_dip_fit_is_reproducible_and_close_to_float32s():
    clean = load_image("camera", 32)
    noisy = add_noise(clean, 25, torch.Generator().manual_seed(0))
    small = DipConfig(depth=3, channels_down=16, channels_up=16)
    first, again, float32 = (fit(noisy, small, [Stage(0.0, 60)], clean=clean, progress=False, speed=policy)
                             for policy in (BFLOAT16, BFLOAT16, FLOAT32))
    assert first.loss == again.loss and np.array_equal(first.final, again.final)
    assert first.final.dtype == np.float64 and first.final.shape == clean.shape
    assert first.loss != float32.loss
    assert abs(first.psnr[-1] - float32.psnr[-1]) < 0.5, "bfloat16 forward passes round, they do not derail the fit"


def test_a_checkpoint_with_a_foreign_speed_entry_gets_a_clear_error(tmp_path, tiny_config, bf16_run):
    state = torch.load(bf16_run[0], weights_only=True)
    for bad in ({"precision": "float8"}, {"turbo": True}):
        path = tmp_path / "bad.pt"
        torch.save({**state, "speed": bad, "step": 1}, path)
        with pytest.raises(ValueError, match=r"bad.pt holds no readable speed policy"):
            training.train(recipe.RECIPE, tiny_config, path, resume=True, progress=False)
