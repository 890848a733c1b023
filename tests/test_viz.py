"""Every figure script on a tiny configuration: a valid, non-blank image of the expected kind."""
import numpy as np
import pytest
import torch
from PIL import Image

import viz.models
from gmm import problem_gmm
from viz import (animation, classifier_guidance, forward, ground_truth, guidance, samplers, step_count,
                 training_curve, trajectory)
from viz.all import make_all
from viz.density import RESOLUTION, cell_area, estimate_density, exact_density
from viz.index import FigureEntry, write_index

TINY_STEPS = 20  # training steps of the cached models in these tests
FIGURE_MODULES = {"ground_truth.png": ground_truth, "trajectory.png": trajectory, "step_count.png": step_count,
                  "guidance.png": guidance, "forward.png": forward, "training_curve.png": training_curve,
                  "reverse_process.gif": animation, "samplers.png": samplers, "classifier_guidance.png": classifier_guidance}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Figures train their models into a cache of the test session, never into checkpoints/."""
    monkeypatch.setattr(viz.models, "CACHE_DIR", tmp_path_factory.getbasetemp() / "model-cache")


def assert_not_blank_png(path, min_size=(400, 250)):
    image = Image.open(path)
    assert image.format == "PNG"
    assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
    pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10, "the image is not a flat colour"
    assert (pixels < 128).mean() > 0.01, "something dark (points, lines, densities) is drawn"


@pytest.mark.parametrize("method", ["kde", "hist"])
def test_density_estimates_integrate_to_about_one(method):
    x = problem_gmm(n_samples=3_000, seed=0).samples
    density = estimate_density(x, method)
    assert density.shape == (RESOLUTION, RESOLUTION)
    assert density.sum() * cell_area() == pytest.approx(1.0, abs=0.02)


def test_density_estimate_matches_the_exact_density():
    gmm = problem_gmm(n_samples=8_000, seed=0)
    estimate, exact = estimate_density(gmm.samples, "kde"), exact_density(gmm, 1.0)
    # total variation between the two on the grid: small, but KDE smoothing keeps it above zero
    assert 0.5 * np.abs(estimate - exact).sum() * cell_area() < 0.1


def test_unknown_density_estimator_is_rejected():
    with pytest.raises(ValueError, match="unknown density estimator 'box'"):
        estimate_density(torch.zeros(5, 2), "box")


@pytest.mark.parametrize("make, kwargs", [
    (ground_truth.make, dict(n=200)),
    (trajectory.make, dict(n=200, density="hist", train_steps=TINY_STEPS)),
    (trajectory.make, dict(n=200, density="kde", train_steps=TINY_STEPS)),
    (step_count.make, dict(n=100, step_counts=(3, 5), train_steps=TINY_STEPS)),
    (guidance.make, dict(n=50, weights=(0.0, 2.0), train_steps=TINY_STEPS)),
    (forward.make, dict(n=4, T=10)),
    (training_curve.make, dict(n=100, train_steps=TINY_STEPS)),
    (samplers.make, dict(n=100, steps=(1, 4), fine_T=20, train_steps=TINY_STEPS)),
    (classifier_guidance.make, dict(n=50, weights=(0.0, 2.0), train_steps=TINY_STEPS)),
], ids=["ground_truth", "trajectory_hist", "trajectory_kde", "step_count", "guidance", "forward", "training_curve",
        "samplers", "classifier_guidance"])
def test_figure_script_writes_a_png(tmp_path, make, kwargs):
    entry = make(tmp_path / "figure.png", **kwargs)
    assert isinstance(entry, FigureEntry) and entry.command.startswith("python -m viz.")
    assert_not_blank_png(entry.path)


def test_animation_writes_one_gif_frame_per_step(tmp_path):
    entry = animation.make(tmp_path / "anim.gif", n=200, train_steps=TINY_STEPS)
    image = Image.open(entry.path)
    assert image.format == "GIF" and image.n_frames == 51  # t = 50, ..., 0
    first, last = (np.asarray(frame.convert("L"), dtype=float) for frame in _frames(image, [0, 50]))
    assert np.abs(first - last).mean() > 1, "the density changes from noise to data"


def _frames(image, indices):
    for index in indices:
        image.seek(index)
        yield image.copy()


def test_same_seed_same_figure(tmp_path):
    a = forward.make(tmp_path / "a.png", n=4, T=10, seed=3).path.read_bytes()
    b = forward.make(tmp_path / "b.png", n=4, T=10, seed=3).path.read_bytes()
    c = forward.make(tmp_path / "c.png", n=4, T=10, seed=4).path.read_bytes()
    assert a == b and a != c


def test_make_all_writes_every_figure_and_the_index(tmp_path, monkeypatch):
    monkeypatch.setattr("viz.all.QUICK_TRAIN_STEPS", TINY_STEPS)
    entries = []
    monkeypatch.setattr("viz.all.write_index", lambda made, *a, **k: entries.extend(made) or write_index(made, *a, **k))
    index = make_all(tmp_path, quick=True)
    text = index.read_text()
    images = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".png", ".gif"))
    assert images == ["classifier_guidance.png", "forward.png", "ground_truth.png", "guidance.png",
                      "reverse_process.gif", "samplers.png", "step_count.png", "training_curve.png", "trajectory.png"]
    for name in images:
        assert f"![{name}]({name})" in text
    assert text.count("**What to observe.**") == len(images)
    for entry in entries:
        module = FIGURE_MODULES[entry.path.name]
        assert entry.numbers, f"{entry.path.name}: the figure hands its numbers to its note"
        assert entry.observe == module.observations(entry.numbers), f"{entry.path.name}: the note is built from its numbers"
        assert f"**What to observe.** {entry.observe}" in text
