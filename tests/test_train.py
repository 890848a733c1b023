"""Training, checkpoints (round trip, resume, bad files) and the command line of train.py."""
import argparse
import dataclasses
import signal

import numpy as np
import pytest
import torch

import training
import recipe
from checkpoints import save_checkpoint
from cli import add_config_flags, config_overrides
from gmm import NULL_LABEL, problem_gmm
from recipe import RECIPE, TrainConfig, load_model
from train import main


def train(config, ckpt, **options):
    return training.train(RECIPE, config, ckpt, **options)


def test_short_training_lowers_the_loss(tmp_path):
    config = TrainConfig(T=10, steps=300, batch_size=128, n_data=2_000)
    state = train(config, tmp_path / "m.pt", progress=False)
    losses = state["losses"]
    assert losses.shape == (300,)
    assert losses[-50:].mean() < 0.8 * losses[:20].mean()


def test_checkpoint_round_trip_gives_the_ema_model(tiny_checkpoint, tiny_config):
    model, config = load_model(tiny_checkpoint)
    assert config == tiny_config
    state = torch.load(tiny_checkpoint, weights_only=True)
    assert state["step"] == tiny_config.steps
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, state["ema"][name])
    x, t, y = torch.randn(4, 1, 2), torch.arange(4), torch.tensor([0, 1, NULL_LABEL, 0])
    again, _ = load_model(tiny_checkpoint)
    torch.testing.assert_close(model(x, t, y), again(x, t, y))


def test_training_is_reproducible_from_its_seed(tmp_path, tiny_config, tiny_checkpoint):
    state = train(tiny_config, tmp_path / "again.pt", progress=False)
    saved = torch.load(tiny_checkpoint, weights_only=True)
    for name, value in state["model"].items():
        assert torch.equal(value, saved["model"][name]), name
    other = train(dataclasses.replace(tiny_config, seed=1), tmp_path / "other.pt", progress=False)
    assert not torch.equal(other["model"]["unet.conv1.weight"], saved["model"]["unet.conv1.weight"])


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch, tiny_config, tiny_checkpoint):
    """Ctrl-C during step 25 saves progress; --resume then ends exactly where an uninterrupted run ends."""
    real_p_losses, calls = recipe.p_losses, {"n": 0}

    def interrupt_in_step_25(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 25:
            signal.raise_signal(signal.SIGINT)
        return real_p_losses(*args, **kwargs)

    path = tmp_path / "interrupted.pt"
    monkeypatch.setattr(recipe, "p_losses", interrupt_in_step_25)
    with pytest.raises(SystemExit) as exit_info:
        train(tiny_config, path, progress=False)
    assert exit_info.value.code == 130
    assert torch.load(path, weights_only=True)["step"] == 25
    monkeypatch.setattr(recipe, "p_losses", real_p_losses)
    resumed = train(tiny_config, path, resume=True, progress=False)
    uninterrupted = torch.load(tiny_checkpoint, weights_only=True)
    assert resumed["step"] == tiny_config.steps
    for key in ("model", "ema"):
        for name, value in resumed[key].items():
            assert torch.equal(value, uninterrupted[key][name]), f"{key}.{name}"


def test_resume_refuses_a_different_config(tmp_path, tiny_config, tiny_checkpoint):
    with pytest.raises(ValueError, match="cannot resume"):
        train(dataclasses.replace(tiny_config, T=20), tiny_checkpoint, resume=True, progress=False)


def test_checkpoint_writes_are_atomic(tmp_path):
    path = tmp_path / "a.pt"
    save_checkpoint(path, {"x": torch.ones(2)})
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"], "no temporary file is left behind"


def test_missing_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="train one with: python train.py --ckpt"):
        load_model(tmp_path / "nope.pt")


def test_corrupt_checkpoint_is_reported(tmp_path, tiny_checkpoint):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(tiny_checkpoint.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_model(path)


def test_foreign_and_mismatched_checkpoints_are_reported(tmp_path, tiny_checkpoint):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a two-pixel-ddpm checkpoint"):
        load_model(foreign)
    state = torch.load(tiny_checkpoint, weights_only=True)
    state["config"]["channels"] = (16, 64)  # the weights no longer fit the architecture
    mismatched = tmp_path / "mismatched.pt"
    torch.save(state, mismatched)
    with pytest.raises(ValueError, match=f"{mismatched}: the saved weights do not fit the architecture"):
        load_model(mismatched)
    del state["config"]["channels"]
    torch.save(state, mismatched)
    with pytest.raises(ValueError, match=f"{mismatched} was written with a different configuration format"):
        load_model(mismatched)
    with pytest.raises(ValueError, match=f"{mismatched} was written with a different configuration format"):
        training.ensure_trained(RECIPE, mismatched, progress=False)


def test_untrusted_pickles_are_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))
    path = tmp_path / "evil.pt"
    torch.save({"kind": Evil()}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_model(path)


def test_cli_samples_from_a_checkpoint(tmp_path, tiny_checkpoint):
    out = tmp_path / "samples.npy"
    main(["--sample", "64", "--ckpt", str(tiny_checkpoint), "--out", str(out), "--label", "1",
          "--guidance", "1.5", "--seed", "3", "--device", "cpu"])
    x = np.load(out)
    assert x.shape == (64, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    main(["--sample", "64", "--ckpt", str(tiny_checkpoint), "--out", str(tmp_path / "b.npy"), "--label", "1",
          "--guidance", "1.5", "--seed", "3", "--device", "cpu"])
    np.testing.assert_array_equal(x, np.load(tmp_path / "b.npy"))


def test_cli_few_step_samplers(tmp_path, tiny_checkpoint):
    for sampler in ("ddim", "dpmpp2m"):
        out = tmp_path / f"{sampler}.npy"
        main(["--sample", "300", "--oracle", "--T", "200", "--sampler", sampler, "--steps", "20", "--out", str(out),
              "--label", "0"])
        x = np.load(out)
        assert x.shape == (300, 2) and (problem_gmm(1).classify(torch.from_numpy(x)) == 0).all()
    main(["--sample", "8", "--ckpt", str(tiny_checkpoint), "--sampler", "ddim", "--steps", "4", "--eta", "0.5",
          "--out", str(tmp_path / "net.npy")])
    assert np.load(tmp_path / "net.npy").shape == (8, 2)


@pytest.mark.parametrize("label, mode", [(0, (-0.35, 0.65)), (1, (0.75, -0.45))])
def test_cli_oracle_samples_follow_the_label(tmp_path, label, mode):
    out = tmp_path / "oracle.npy"
    main(["--sample", "500", "--oracle", "--T", "25", "--out", str(out), "--label", str(label)])
    x = np.load(out)
    assert x.shape == (500, 2) and x.dtype == np.float32
    assert (problem_gmm(1).classify(torch.from_numpy(x)) == label).all()
    np.testing.assert_allclose(x.mean(0), mode, atol=0.02)


@pytest.mark.parametrize("argv, message", [
    (["--T", "0", "--steps", "1"], "T must be an integer >= 1"),
    (["--sample", "0", "--oracle", "--out", "x.npy"], "--sample needs N >= 1"),
    (["--sample", "5", "--oracle", "--out", "x.npy", "--label", "2"], "--label must be 0 or 1"),
    (["--sample", "5", "--oracle", "--T", "0", "--out", "x.npy"], "--oracle needs --T"),
    (["--sample", "5", "--out", "x.npy"], "needs --ckpt PATH"),
    (["--sample", "5", "--oracle"], "needs --out"),
    (["--sample", "5", "--ckpt", "missing.pt", "--out", "x.npy"], "no checkpoint at missing.pt"),
    (["--steps", "10", "--label-dropout", "1.5"], "label_dropout must be in"),
    (["--steps", "10", "--device", "cuda:banana"], "unknown device"),
    (["--steps", "10", "--zero-output", "no"], "expected true or false, got 'no'"),
    (["--sample", "5", "--oracle", "--T", "10", "--out", "x.npy", "--steps", "11"], "steps must be an integer between 1 and T = 10"),
    (["--sample", "5", "--oracle", "--T", "10", "--out", "x.npy", "--sampler", "euler"], "invalid choice: 'euler'"),
    (["--sample", "5", "--oracle", "--T", "10", "--out", "x.npy", "--sampler", "ddpm", "--eta", "1"], "eta is DDIM's"),
])
def test_cli_rejects_bad_arguments_with_a_message(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cache_key_follows_the_config(tmp_path, monkeypatch, tiny_config):
    from checkpoints import config_key
    assert config_key(tiny_config) == config_key(dataclasses.replace(tiny_config))
    assert config_key(tiny_config) != config_key(dataclasses.replace(tiny_config, lr=1e-3))
    assert config_key(tiny_config) != config_key(dataclasses.replace(tiny_config, T=11))
    trained = []
    real_train = training.train
    monkeypatch.setattr(training, "train", lambda *a, **k: trained.append(a[1]) or real_train(*a, **k))
    path = training.cached_checkpoint(RECIPE, tiny_config, tmp_path, progress=False)
    again = training.cached_checkpoint(RECIPE, tiny_config, tmp_path, progress=False)
    assert path == again and trained == [tiny_config], "an unchanged config is trained once"
    changed = dataclasses.replace(tiny_config, steps=30)
    other = training.cached_checkpoint(RECIPE, changed, tmp_path, progress=False)
    assert other != path and trained == [tiny_config, changed], "a changed config is trained anew"


def test_ensure_trained_passes_its_device_and_progress_to_every_training_call(tmp_path, monkeypatch, tiny_config):
    calls = []

    def recording(recipe_, config, ckpt, resume=False, device="cpu", progress=True):
        calls.append({"config": config, "resume": resume, "device": device, "progress": progress})
        state = {"kind": recipe_.kind, "version": recipe_.version, "config": dataclasses.asdict(config),
                 "step": 1 if not resume else config.steps}
        save_checkpoint(ckpt, state)

    monkeypatch.setattr(training, "train", recording)
    training.ensure_trained(RECIPE, tmp_path / "new.pt", device="meta", progress=False)
    assert calls[-1] == {"config": TrainConfig(), "resume": False, "device": "meta", "progress": False}
    training.ensure_trained(RECIPE, tmp_path / "new.pt", device="meta", progress=False)  # stopped at step 1: resumed
    assert calls[-1] == {"config": TrainConfig(), "resume": True, "device": "meta", "progress": False}
    training.ensure_trained(RECIPE, tmp_path / "default.pt", tiny_config)
    assert calls[-1]["progress"] is True and calls[-1]["config"] == tiny_config
    training.cached_checkpoint(RECIPE, tiny_config, tmp_path / "cache", device="meta", progress=False)
    assert calls[-1] == {"config": tiny_config, "resume": False, "device": "meta", "progress": False}
    assert len(calls) == 4


@pytest.mark.parametrize("step, total, warmup, factor", [
    (0, 10, 4, 0.25), (3, 10, 4, 1.0), (4, 10, 4, 1.0), (7, 10, 4, 0.5), (10, 10, 4, 0.0),
    (1, 7, 10, 2 / 3), (3, 7, 10, 1.0),  # the warm-up is capped at half the run: 7 // 2 = 3 steps
    (2, 2, 1, 0.0),
])
def test_learning_rate_factor_by_hand(step, total, warmup, factor):
    """(step + 1) / w during the warm-up of w = min(warmup, total // 2) steps, then 0.5 (1 + cos(pi p))
    with p = (step - w) / max(1, total - w)."""
    assert training.warmup_cosine_factor(step, total, warmup) == pytest.approx(factor, abs=1e-12)


def test_ensure_trained_resumes_a_short_run_and_refuses_another_config(tmp_path, tiny_config, tiny_checkpoint):
    path = tmp_path / "short.pt"
    training.train(RECIPE, tiny_config, path, time_budget_minutes=1e-9, progress=False)
    assert torch.load(path, weights_only=True)["step"] == 1
    training.ensure_trained(RECIPE, path, tiny_config, progress=False)
    finished, uninterrupted = torch.load(path, weights_only=True), torch.load(tiny_checkpoint, weights_only=True)
    assert finished["step"] == tiny_config.steps
    for name, value in finished["ema"].items():
        assert torch.equal(value, uninterrupted["ema"][name]), name
    with pytest.raises(ValueError, match="not the .* asked for; pass another path or delete it"):
        training.ensure_trained(RECIPE, path, dataclasses.replace(tiny_config, lr=1e-3), progress=False)


def test_training_never_overwrites_unless_asked(tmp_path, tiny_config, tiny_checkpoint, capsys):
    path = tmp_path / "kept.pt"
    path.write_bytes(tiny_checkpoint.read_bytes())
    with pytest.raises(ValueError, match=r"already exists; continue it with --resume, or pass another --ckpt "
                                         r"\(or --overwrite\) to train from scratch$"):
        train(tiny_config, path, progress=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--ckpt", str(path), "--T", "10"])
    assert exit_info.value.code == 2 and "already exists" in capsys.readouterr().err
    assert path.read_bytes() == tiny_checkpoint.read_bytes()
    changed = dataclasses.replace(tiny_config, seed=1)
    state = train(changed, path, overwrite=True, progress=False)
    assert torch.load(path, weights_only=True)["config"]["seed"] == 1 and state["step"] == changed.steps


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_averages_weights_and_buffers_by_hand(warmup):
    """averaged <- r averaged + (1 - r) current after a first copy; r = decay, or with warmup
    min(decay, (1 + n) / (10 + n)) with n updates averaged so far. Buffers (BatchNorm's running mean) too."""
    model = torch.nn.BatchNorm1d(2)
    ema = training.exponential_moving_average(model, 0.9, warmup=warmup) if warmup else \
        training.exponential_moving_average(model, 0.9)
    expected = None
    for n, value in enumerate([1.0, 5.0, -3.0, 2.0]):
        with torch.no_grad():
            model.weight.fill_(value)
            model.running_mean.fill_(10 * value)
        ema.update_parameters(model)
        rate = min(0.9, (1 + n) / (10 + n)) if warmup else 0.9  # n: the updates averaged before this one
        expected = value if expected is None else rate * expected + (1 - rate) * value
        torch.testing.assert_close(ema.module.weight, torch.full((2,), expected), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(ema.module.running_mean, torch.full((2,), 10 * expected), rtol=1e-6, atol=1e-5)


class _Clock:
    """Stands in for training's `time` module: monotonic() advances one second a call."""

    def __init__(self):
        self.now = -1.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


@pytest.mark.parametrize("budget_seconds, steps_done, message", [
    (60.0, 61, "time budget of 1 min reached at step 61/100"),  # elapsed = steps done (s): the first over 60 s is 61
    (3.5, 4, "time budget of 0.0583333 min reached at step 4/5"),
    (4.5, 5, None),  # over budget only at the last step: the run simply ends
])
def test_time_budget_counts_minutes_and_never_cuts_the_last_step(tmp_path, monkeypatch, capsys, tiny_config,
                                                                 budget_seconds, steps_done, message):
    monkeypatch.setattr(training, "time", _Clock())
    config = dataclasses.replace(tiny_config, steps=100 if steps_done == 61 else 5)
    state = training.train(RECIPE, config, tmp_path / "budget.pt", time_budget_minutes=budget_seconds / 60, progress=False)
    assert state["step"] == steps_done
    shown = capsys.readouterr().err
    assert (message in shown) if message else ("time budget" not in shown)


@pytest.mark.parametrize("save_every, seconds", [
    (500, 6.0),  # the clock is read at the start (0), at each of 5 steps (1..5) and at the end (6)
    (2, 8.0),  # and twice at each save: 0 .. 3 (saved after step 2), 4 .. 7 (after step 4), 8 .. 10: 3 + 3 + 2
])
def test_training_time_is_the_clock_time_of_the_steps(tmp_path, monkeypatch, tiny_config, save_every, seconds):
    monkeypatch.setattr(training, "time", _Clock())
    state = training.train(RECIPE, dataclasses.replace(tiny_config, steps=5), tmp_path / "clock.pt", progress=False,
                           save_every=save_every)
    assert state["seconds_trained"] == seconds
    assert state["losses"].dtype == torch.float32 and len(state["losses"]) == 5


@pytest.mark.parametrize("save_every, steps, saved_at", [(3, 10, [3, 6, 9, 10]), (1, 3, [1, 2, 3, 3]),
                                                         (None, 501, [500, 501])])
def test_checkpoints_are_written_every_save_every_steps_and_at_the_end(tmp_path, monkeypatch, tiny_config,
                                                                     save_every, steps, saved_at):
    saved = []
    monkeypatch.setattr(training, "save_checkpoint", lambda path, state: saved.append(state["step"]))
    config = dataclasses.replace(tiny_config, steps=steps, batch_size=8)
    kwargs = {} if save_every is None else {"save_every": save_every}  # None: the default, every 500 steps
    training.train(RECIPE, config, tmp_path / "saves.pt", progress=False, **kwargs)
    assert saved == saved_at


@pytest.mark.parametrize("kwargs, message", [
    ({"time_budget_minutes": 0}, "the time budget must be a positive number of minutes, got 0"),
    ({"save_every": 0}, "save_every must be at least 1, got 0"),
])
def test_bad_training_arguments_get_a_clear_error(tmp_path, tiny_config, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        training.train(RECIPE, tiny_config, tmp_path / "bad.pt", progress=False, **kwargs)


def test_progress_bar_counts_steps_from_where_a_run_resumes_and_shows_the_recent_loss(tmp_path, capsys, tiny_config):
    path = tmp_path / "shown.pt"
    training.train(RECIPE, tiny_config, path, time_budget_minutes=1e-9, progress=False)  # stops after step 1
    assert capsys.readouterr().err.count("time budget") == 1
    training.train(RECIPE, dataclasses.replace(tiny_config), path, resume=True, progress=False)
    assert capsys.readouterr().err == "", "no bar when progress=False"
    state = training.train(RECIPE, tiny_config, path, overwrite=True)  # the default shows the bar
    shown = capsys.readouterr().err
    losses = state["losses"].tolist()
    assert f"training {RECIPE.kind}" in shown and f"{tiny_config.steps}/{tiny_config.steps}" in shown
    assert shown.startswith(f"{RECIPE.kind} on cpu: float32, contiguous, eager, {torch.get_num_threads()} CPU threads\n")
    assert "step/s" in shown or "s/step" in shown
    assert f"loss={np.mean(losses[1:51]):.4f}" in shown.splitlines()[-1] or \
        f"loss={np.mean(losses[1:51]):.4f}" in shown.split("\r")[-1], "the mean of the 50 losses up to step 50"
    resumed_path = tmp_path / "resumed.pt"
    training.train(RECIPE, tiny_config, resumed_path, time_budget_minutes=1e-9, progress=False)
    capsys.readouterr()
    training.train(RECIPE, tiny_config, resumed_path, resume=True)
    assert f"1/{tiny_config.steps}" in capsys.readouterr().err.split("\r")[1], "the bar starts at the resumed step"


def test_resuming_a_checkpoint_of_another_format_names_it(tmp_path, tiny_checkpoint, tiny_config):
    state = torch.load(tiny_checkpoint, weights_only=True)
    del state["config"]["lr"]
    path = tmp_path / "old.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=f"{path} was written with a different configuration format"):
        training.train(RECIPE, tiny_config, path, resume=True, progress=False)


@pytest.mark.parametrize("text, value", [("false", False), ("True", True)])
def test_boolean_config_flags_read_true_and_false(text, value):
    """argparse's bool('false') is True; the config flags read the word."""
    parser = argparse.ArgumentParser()
    names = add_config_flags(parser, TrainConfig)
    args = parser.parse_args(["--zero-output", text])
    assert config_overrides(args, names) == {"zero_output": value}
