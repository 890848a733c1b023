"""Shared fixtures: the problem's mixture and a tiny trained checkpoint (seconds, not minutes)."""
import pytest

from gmm import problem_gmm
from train import TrainConfig, train


@pytest.fixture(scope="session")
def gmm():
    return problem_gmm(n_samples=20_000, seed=123)


@pytest.fixture(scope="session")
def tiny_config():
    return TrainConfig(T=10, steps=60, batch_size=64, n_data=2_000, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_config):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    train(tiny_config, path, progress=False)
    return path
