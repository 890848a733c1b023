"""The trained models the figures need: a given checkpoint, or the default config trained once and cached."""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

from checkpoints import CHECKPOINT_DIR
from ddpm import NoisePredictor
from devices import set_cpu_threads
from noisy_classifier import RECIPE as CLASSIFIER_RECIPE
from noisy_classifier import ClassifierConfig, NoisyClassifier, load_classifier
from recipe import RECIPE, TrainConfig, load_model
from training import cached_checkpoint as cached
from utils import Schedule
from viz.density import ESTIMATORS
from viz.style import FIGURES_DIR

CACHE_DIR = CHECKPOINT_DIR / "cache"


def default_config(T: int, train_steps: int | None = None) -> TrainConfig:
    """The default TrainConfig with this T; train_steps overrides its step count (quick looks, tests)."""
    config = replace(TrainConfig(), T=T)
    return config if train_steps is None else replace(config, steps=train_steps)


def cached_checkpoint(T: int, train_steps: int | None = None) -> Path:
    """Path of the cached default model with this T, trained first if it is not there yet."""
    return cached(RECIPE, default_config(T, train_steps), CACHE_DIR)


def model_for(T: int, ckpt: Path | None = None, train_steps: int | None = None) -> tuple[NoisePredictor, Schedule]:
    """The model at `ckpt` (its own T), or the cached default model with this T."""
    model, config = load_model(ckpt if ckpt is not None else cached_checkpoint(T, train_steps))
    return model, config.make_schedule()


def classifier_for(T: int, train_steps: int | None = None) -> NoisyClassifier:
    """The noisy classifier for T (noisy_classifier's default config), trained on first use and cached."""
    config = ClassifierConfig(T=T) if train_steps is None else ClassifierConfig(T=T, steps=train_steps)
    return load_classifier(cached(CLASSIFIER_RECIPE, config, CACHE_DIR))[0]


def figure_parser(description: str, default_out: str, n_default: int) -> argparse.ArgumentParser:
    """The flags every figure script takes."""
    set_cpu_threads()
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=FIGURES_DIR / default_out, help="image file to write")
    parser.add_argument("--n", type=int, default=n_default, help="number of samples")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw in the figure")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="train cached models for this many steps instead of the default (quick looks)")
    return parser


def add_density_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--density", choices=ESTIMATORS, default="kde",
                        help="estimate densities from samples by Gaussian KDE or 2-D histogram")


def run(make) -> None:
    """Call a figure's make(); report a bad checkpoint or argument in one line instead of a traceback."""
    try:
        print(make().path)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
