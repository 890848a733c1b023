"""The MNIST figures draw from a checkpoint and write their index (a tiny model: plumbing, not quality)."""
import torch

from mnist_ext.recipe import load_model
from viz import mnist as mnist_figures
from viz.index import write_index

from test_mnist_eval import PixelReader


def test_every_mnist_figure_is_written_with_its_index(tmp_path, tiny_mnist):
    model, config = load_model(tiny_mnist)
    schedule = config.make_schedule()
    entries = [mnist_figures.grid_figure(model, schedule, tmp_path / "grid.png", seed=0),
               mnist_figures.trajectory_figure(model, schedule, tmp_path / "trajectory.png", seed=0),
               mnist_figures.guidance_figure(model, schedule, PixelReader(), tmp_path / "guidance.png", seed=0, per_class=2),
               mnist_figures.settling_figure(model, schedule, tmp_path / "settling.png", seed=0, per_class=1)]
    for entry in entries:
        assert entry.path.stat().st_size > 10_000, entry.path
    assert "Measured accuracy: w = 0:" in entries[2].observe
    assert "of T = 200" in entries[3].observe
    index = write_index(entries, tmp_path, title="MNIST figures", command="make figures-mnist").read_text()
    assert index.count("![") == 4 and "make figures-mnist" in index


def test_denoising_path_ends_at_the_digit_it_predicts(tiny_mnist):
    model, config = load_model(tiny_mnist)
    x, x0_hat = mnist_figures.denoising_path(model, config.make_schedule(), torch.tensor([2, 7]), 1.0, seed=0)
    assert x.shape == x0_hat.shape == (config.T + 1, 2, 1, 28, 28)
    assert torch.equal(x0_hat[0], x[0].clamp(-1, 1))
    assert not torch.allclose(x0_hat[config.T], x0_hat[0]), "at pure noise the prediction is not yet the digit"
