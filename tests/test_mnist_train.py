"""MNIST training, checkpoints, resume and the sampling command, on a tiny configuration (seconds)."""
import signal

import numpy as np
import pytest
import torch

import mnist_ext.recipe as mnist_recipe
import mnist_ext.train as mnist_train
import training
from mnist_ext import sample as mnist_sample
from mnist_ext.generate import generate
from mnist_ext.recipe import RECIPE, MnistConfig, load_model, min_snr_weights
from training import warmup_cosine_factor
from utils import Schedule

from conftest import TINY_MNIST as TINY


def test_min_snr_weights_cap_the_clean_steps():
    schedule = Schedule.make("cosine", 200)
    weights = min_snr_weights(schedule.alphas_cumprod, 5.0)
    snr = schedule.alphas_cumprod / (1 - schedule.alphas_cumprod)
    assert torch.equal(weights[snr <= 5], torch.ones(int((snr <= 5).sum())))
    torch.testing.assert_close(weights[snr > 5], 5 / snr[snr > 5])
    assert (snr > 5).sum() > 10 and (snr <= 5).sum() > 10, "both regimes occur in the schedule"


def test_learning_rate_warms_up_then_decays_to_zero():
    factors = [warmup_cosine_factor(step, 1000, 100) for step in range(1000)]
    assert factors[0] == pytest.approx(0.01) and factors[99] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[100:], factors[101:])), "monotone decay after warm-up"
    assert factors[999] < 1e-4 and factors[550] == pytest.approx(0.5, abs=0.01)


def test_checkpoint_round_trip_gives_the_ema_model(tiny_mnist):
    model, config = load_model(tiny_mnist)
    assert config == TINY
    state = torch.load(tiny_mnist, weights_only=True)
    assert state["step"] == TINY.steps and state["seconds_trained"] > 0
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, state["ema"][name])
    assert not torch.equal(state["ema"]["unet.stem.weight"], state["model"]["unet.stem.weight"]), "EMA is an average"


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch, tiny_mnist):
    real_p_losses, calls = mnist_recipe.p_losses, {"n": 0}

    def interrupt_in_step_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)
        return real_p_losses(*args, **kwargs)

    path = tmp_path / "interrupted.pt"
    monkeypatch.setattr(mnist_recipe, "p_losses", interrupt_in_step_3)
    with pytest.raises(SystemExit) as exit_info:
        training.train(RECIPE, TINY, path, progress=False)
    assert exit_info.value.code == 130 and torch.load(path, weights_only=True)["step"] == 3
    monkeypatch.setattr(mnist_recipe, "p_losses", real_p_losses)
    resumed = training.train(RECIPE, TINY, path, resume=True, progress=False)
    uninterrupted = torch.load(tiny_mnist, weights_only=True)
    for key in ("model", "ema"):
        for name, value in resumed[key].items():
            assert torch.equal(value, uninterrupted[key][name]), f"{key}.{name}"


def test_time_budget_stops_early_with_a_checkpoint(tmp_path, capsys):
    state = training.train(RECIPE, TINY, tmp_path / "budget.pt", time_budget_minutes=1e-9, progress=False)
    assert state["step"] == 1 and torch.load(tmp_path / "budget.pt", weights_only=True)["step"] == 1
    assert "--resume" in capsys.readouterr().err


def test_two_pixel_and_corrupt_checkpoints_are_refused(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="is not a mnist-ddpm checkpoint"):
        load_model(tiny_checkpoint)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_model(corrupt)


def test_train_command_refuses_to_overwrite_and_a_bad_data_dir(tmp_path, tiny_mnist, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mnist_train.main(["--ckpt", str(tiny_mnist)])
    assert exit_info.value.code == 2 and "already exists; continue it with --resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mnist_train.main(["--ckpt", str(tmp_path / "new.pt"), "--data-dir", str(tmp_path / "nowhere")])
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mnist_train.main(["--ckpt", str(tiny_mnist), "--resume", "--steps", "5"])
    assert "drop ['steps']" in capsys.readouterr().err


def test_sample_command_writes_labelled_digits(tmp_path, tiny_mnist):
    out = tmp_path / "digits.npz"
    mnist_sample.main(["--ckpt", str(tiny_mnist), "--per-class", "2", "--labels", "3,1", "--out", str(out),
                       "--steps", "3", "--guidance", "1.5", "--seed", "4"])
    with np.load(out) as archive:
        images, labels = archive["images"], archive["labels"]
    assert images.shape == (4, 1, 28, 28) and images.dtype == np.float32
    assert labels.tolist() == [3, 3, 1, 1]
    model, config = load_model(tiny_mnist)
    direct = generate(model, config.make_schedule(), torch.tensor([3, 3, 1, 1]), guidance_weight=1.5, sampler="ddim",
                      steps=3, seed=4)
    np.testing.assert_array_equal(images, direct.numpy(), err_msg="the command passes labels, w, steps and seed on")
    again = tmp_path / "again.npz"
    mnist_sample.main(["--ckpt", str(tiny_mnist), "--per-class", "2", "--labels", "3,1", "--out", str(again),
                       "--steps", "3", "--guidance", "1.5", "--seed", "4"])
    with np.load(again) as archive:
        assert np.array_equal(archive["images"], images), "same seed, same digits"


def test_ancestral_sampler_takes_every_step(tiny_mnist):
    model, config = load_model(tiny_mnist)
    steps_seen = []

    class CountingModel:
        null_label = model.null_label

        def __call__(self, x, t, y):
            steps_seen.append(int(t[0]))
            return model(x, t, y)

    images = generate(CountingModel(), config.make_schedule(), torch.tensor([0, 9]), sampler="ddpm", steps=None)
    assert images.shape == (2, 1, 28, 28)
    assert steps_seen == list(range(config.T - 1, -1, -1)), "one network call per step, every index from T - 1 to 0"
    with pytest.raises(ValueError, match="takes all T = 200 steps"):
        generate(model, config.make_schedule(), torch.tensor([0]), sampler="ddpm", steps=10)


@pytest.mark.parametrize("argv, message", [
    (["--labels", "3,12"], "--labels must be digits 0..9"),
    (["--labels", "three"], "comma-separated digits"),
    (["--per-class", "0"], "--per-class must be at least 1"),
    (["--out", "digits.npy"], "must name an .npz"),
])
def test_sample_command_rejects_bad_arguments(tmp_path, tiny_mnist, capsys, argv, message):
    base = {"--ckpt": str(tiny_mnist), "--per-class": "1", "--out": str(tmp_path / "d.npz")}
    for flag, value in zip(argv[::2], argv[1::2]):
        base[flag] = value
    with pytest.raises(SystemExit) as exit_info:
        mnist_sample.main([part for pair in base.items() for part in pair])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_sample_command_refuses_a_two_pixel_checkpoint(tmp_path, tiny_checkpoint, capsys):
    with pytest.raises(SystemExit):
        mnist_sample.main(["--ckpt", str(tiny_checkpoint), "--per-class", "1", "--out", str(tmp_path / "d.npz")])
    assert "is not a mnist-ddpm checkpoint" in capsys.readouterr().err


def test_invalid_config_names_every_problem():
    with pytest.raises(ValueError, match="T must be an integer >= 1.*attention_levels must be between 1 and 4.*"
                                         "min_snr_gamma must be positive"):
        MnistConfig(T=0, attention_levels=5, min_snr_gamma=0)


def test_train_command_flags_come_from_the_config_and_resume_finds_the_default_checkpoint(tmp_path, monkeypatch, tiny_mnist):
    """Every MnistConfig field is a flag (tuples comma-separated); a run cut by its time budget is
    continued by --resume alone, at the default path, to the same weights as an uninterrupted run."""
    monkeypatch.chdir(tmp_path)
    flags = ["--T", "200", "--channels", "8,16,16,16", "--embed-dim", "32", "--steps", "8", "--batch-size", "8",
             "--warmup-steps", "2"]
    mnist_train.main(flags + ["--time-budget", "1e-9"])
    path = tmp_path / "checkpoints" / "mnist" / "ddpm.pt"
    assert torch.load(path, weights_only=True)["step"] == 1
    mnist_train.main(["--resume"])
    resumed, uninterrupted = torch.load(path, weights_only=True), torch.load(tiny_mnist, weights_only=True)
    assert resumed["config"] == uninterrupted["config"] and resumed["step"] == TINY.steps
    for name, value in resumed["ema"].items():
        assert torch.equal(value, uninterrupted["ema"][name]), name


def test_a_recipe_for_a_data_dir_trains_on_that_folders_digits(tmp_path, monkeypatch):
    """Every digit a batch shows the model comes from the folder's IDX train split."""
    from test_mnist_data import write_idx

    from mnist_ext.data import IDX_IMAGES, IDX_LABELS

    pixels = np.stack([np.full((28, 28), 10 * k) for k in range(7)])  # seven flat digits, told apart by their value
    write_idx(tmp_path / "train-images-idx3-ubyte", pixels, IDX_IMAGES)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(7), IDX_LABELS)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", pixels[:2], IDX_IMAGES)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(2), IDX_LABELS)
    shown = []
    real_losses = mnist_recipe.p_losses
    monkeypatch.setattr(mnist_recipe, "p_losses", lambda model, schedule, x0, *a, **k: shown.append(x0) or
                        real_losses(model, schedule, x0, *a, **k))
    parts = mnist_recipe.recipe(tmp_path).training_parts(TINY, torch.device("cpu"))
    parts.batch_loss(torch.Generator().manual_seed(0))
    values = torch.cat(shown).flatten().double().numpy()
    folder_values = np.arange(7) * 10 / 127.5 - 1
    assert len(shown[0]) == TINY.batch_size
    assert np.isclose(values[:, None], folder_values[None], atol=1e-6).any(axis=1).all()


def test_mnist_checkpoints_are_version_1_and_a_missing_one_says_how_to_train_it(tmp_path, tiny_mnist):
    """Version 1 is the format every MNIST checkpoint written so far has (bump it with the format)."""
    assert torch.load(tiny_mnist, weights_only=True)["version"] == 1
    missing = tmp_path / "none.pt"
    with pytest.raises(FileNotFoundError) as error:
        load_model(missing)
    assert str(error.value) == f"no checkpoint at {missing}; train one with: python -m mnist_ext.train --ckpt {missing}"
