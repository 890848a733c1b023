"""GPU smoke suite (marker `gpu`, skipped without CUDA): the two-pixel model, a short MNIST run and a
DIP fit on the GPU, checked for what the CPU tests check: shapes, ranges, reproducibility with a
seed and the quality of a short run. Run with `pytest -m gpu` on a machine with a CUDA GPU.

Training on a GPU is compared with a tolerance, sampling exactly: cuDNN may pick convolution
backward kernels that add in another order between runs, while every forward pass and every
random draw from a seeded generator repeats.
"""
from dataclasses import asdict

import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

import mnist_ext.recipe
import recipe
import training
from dip_ext.fit import Stage, fit
from dip_ext.images import add_noise, load_image
from dip_ext.network import DipConfig
from mnist_ext.generate import generate
from samplers import sample
from speed import speed_policy

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def two_pixel_runs(tmp_path_factory):
    """The same short two-pixel run twice on the GPU: 1,500 steps, enough to split the modes."""
    config = recipe.TrainConfig(steps=1500, n_data=100_000, seed=0)
    folder = tmp_path_factory.mktemp("gpu")
    return config, [training.train(recipe.RECIPE, config, folder / f"run{i}.pt", device=CUDA, progress=False)
                    for i in (0, 1)], folder / "run0.pt"


def test_two_pixel_training_on_the_gpu_repeats_and_learns_the_modes(two_pixel_runs, gmm):
    config, (first, second), path = two_pixel_runs
    assert first["speed"] == second["speed"] == asdict(speed_policy(recipe.RECIPE.kind, CUDA))
    assert torch.allclose(first["losses"], second["losses"], rtol=1e-3, atol=1e-5)
    model, _ = recipe.load_model(path, device=CUDA)
    schedule = config.make_schedule()
    for label in (0, 1):
        draws = [sample(model, schedule, 4000, label=label, device=CUDA,
                        generator=torch.Generator(CUDA).manual_seed(7)) for _ in range(2)]
        assert draws[0].shape == (4000, 1, 2) and draws[0].device.type == "cuda"
        assert torch.equal(draws[0], draws[1]), "sampling with a seeded generator repeats exactly"
        assert (gmm.classify(draws[0].squeeze(1).cpu()) == label).double().mean() > 0.95


def test_a_short_mnist_run_on_the_gpu_samples_digits(tmp_path):
    config = mnist_ext.recipe.MnistConfig(steps=200, seed=0)
    path = tmp_path / "mnist.pt"
    state = training.train(mnist_ext.recipe.RECIPE, config, path, device=CUDA, progress=False)
    assert state["losses"][-20:].mean() < state["losses"][:20].mean() / 2
    model, _ = mnist_ext.recipe.load_model(path, device=CUDA)
    labels = torch.arange(10)
    digits = [generate(model, config.make_schedule(), labels, seed=3, device=CUDA) for _ in range(2)]
    assert digits[0].shape == (10, 1, 28, 28) and digits[0].device.type == "cpu"
    assert torch.equal(digits[0], digits[1])


def test_a_dip_fit_on_the_gpu_denoises_and_repeats():
    clean = load_image("camera", 64)
    noisy = add_noise(clean, 25, torch.Generator().manual_seed(0))
    records = [fit(noisy, DipConfig(), [Stage(0.0, 300)], clean=clean, device=CUDA, progress=False) for _ in range(2)]
    noisy_psnr = peak_signal_noise_ratio(clean, noisy, data_range=1.0)
    assert records[0].final.shape == clean.shape
    assert records[0].psnr[-1] > noisy_psnr + 3.0
    assert abs(records[0].psnr[-1] - records[1].psnr[-1]) < 0.1
