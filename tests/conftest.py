"""Shared fixtures: the problem's mixture and a tiny trained checkpoint (seconds, not minutes).

Under pytest-xdist (`make test` runs `pytest -n auto`) each worker, and every process a test
starts, runs torch on one thread: workers that each used every core would slow each other tenfold.
Tests that grade (as root, through the sandbox user) take turns across workers (`autograder_turn`).
"""
import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

import pytest
import torch

import mnist_ext.recipe
import recipe
import records
import training
from gmm import problem_gmm
from mnist_ext.recipe import MnistConfig
from recipe import TrainConfig

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the commands the tests run (devices.set_cpu_threads)
    torch.set_num_threads(1)

TINY_MNIST = MnistConfig(T=200, channels=(8, 16, 16, 16), embed_dim=32, steps=8, batch_size=8, warmup_steps=2)


@contextlib.contextmanager
def autograder_lock():
    """Hold the one lock every grading holds: gradings as root share the sandbox user, whose
    processes a test checks are all gone when its grading ends, and the closed autograder folder."""
    with open(Path(tempfile.gettempdir()) / "two-pixel-diffusion-autograder-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def autograder_turn():
    """The autograder lock for the whole test (a test that grades only in part takes autograder_lock() there)."""
    with autograder_lock():
        yield


@pytest.fixture(autouse=True)
def records_in_a_temporary_folder(tmp_path_factory, monkeypatch):
    """Every study or benchmark a test runs, in this process or in a command it starts, appends its
    rows to a fresh folder, never to results/."""
    folder = tmp_path_factory.mktemp("results")
    monkeypatch.setattr(records, "RESULTS", folder)
    monkeypatch.setenv("DIFFUSION_RESULTS", str(folder))


@pytest.fixture
def committed_records(monkeypatch):
    """The committed records (results/), for the tests that check the guides' tables against them."""
    monkeypatch.setattr(records, "RESULTS", records.COMMITTED)


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
