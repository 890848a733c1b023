"""Shared fixtures: the problem's mixture and a tiny trained checkpoint (seconds, not minutes)."""
import pytest

import mnist_ext.recipe
import recipe
import training
from gmm import problem_gmm
from mnist_ext.recipe import MnistConfig
from recipe import TrainConfig

TINY_MNIST = MnistConfig(T=200, channels=(8, 16, 16, 16), embed_dim=32, steps=8, batch_size=8, warmup_steps=2)


@pytest.fixture(scope="session")
def gmm():
    return problem_gmm(n_samples=20_000, seed=123)


@pytest.fixture(scope="session")
def tiny_config():
    return TrainConfig(T=10, steps=60, batch_size=64, n_data=2_000, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_config):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    training.train(recipe.RECIPE, tiny_config, path, progress=False)
    return path


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """An MNIST checkpoint of TINY_MNIST: eight steps of a small U-Net, for plumbing tests only."""
    path = tmp_path_factory.mktemp("mnist") / "tiny.pt"
    training.train(mnist_ext.recipe.RECIPE, TINY_MNIST, path, progress=False)
    return path
