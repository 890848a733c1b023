"""One training loop for every model of the project, and the pieces around it.

A model takes part by supplying a `Recipe`: its checkpoint kind, its config dataclass (which has
`steps` and `seed`), how to build it, and `training_parts(config, device)`: the model, optimiser,
learning-rate schedule, optional EMA, and `batch_loss(generator)`, which draws one batch from the
generator and returns the scalar loss. The loop below does everything else, the same way for all:

- every random draw comes from one CPU generator seeded by config.seed and saved with the weights,
  so an interrupted run resumed with `resume=True` ends with the same weights, bit for bit, as an
  uninterrupted one;
- a checkpoint is written atomically every `save_every` steps, at the time budget, at the end, and
  on Ctrl-C (which finishes the current step first, then exits with code 130);
- an existing checkpoint is never overwritten unless asked (`overwrite=True`);
- progress shows as a tqdm bar with the running loss, after a line that gives the speed policy;
- the forward pass runs under the model's speed policy (speed.py: precision, memory format,
  compile), saved with the weights, so a resumed run keeps it.

`ensure_trained` is the one "train if missing, resume if unfinished" routine that figures and
benchmarks use.
"""
import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from checkpoints import config_from_checkpoint, config_key, read_checkpoint, save_checkpoint, weights_into
from speed import SpeedPolicy, speed_policy


@dataclass
class TrainingParts:
    """What a model hands the training loop; batch_loss(generator) -> scalar loss of one fresh batch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    lr_schedule: torch.optim.lr_scheduler.LRScheduler
    batch_loss: Callable[[torch.Generator], Tensor]
    ema: AveragedModel | None = None


@dataclass(frozen=True)
class Recipe:
    """How to build, train and load one kind of model (see the module docstring)."""

    kind: str  # checkpoint kind, e.g. "two-pixel-ddpm"
    version: int  # checkpoint format version
    config_class: type
    train_command: str  # the command that trains one, quoted in error messages
    build_model: Callable[..., nn.Module]  # config -> freshly initialised model (weights from config.seed)
    training_parts: Callable[..., TrainingParts]  # (config, device) -> TrainingParts

    def read(self, path: Path) -> dict:
        return read_checkpoint(path, self.kind, self.version, self.train_command)

    def load(self, path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, object]:
        """The weights to use (EMA where kept), in eval mode on `device`, and the config they were trained with."""
        state = self.read(path)
        config = config_from_checkpoint(state, path, self.config_class)
        return weights_into(self.build_model(config), state, path, device), config


def exponential_moving_average(model: nn.Module, decay: float, warmup: bool = False) -> AveragedModel:
    """An EMA of model's weights (buffers included): averaged <- rate averaged + (1 - rate) current.

    rate = decay, or with warmup min(decay, (1 + n) / (10 + n)) at update n, so that a short run's
    average is not dominated by the random initial weights (0.999 alone would keep 5% of them
    after 3,000 steps).
    """
    if not warmup:
        return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    def average(averaged: Tensor, current: Tensor, num_averaged: Tensor) -> Tensor:
        rate = min(decay, (1 + float(num_averaged)) / (10 + float(num_averaged)))
        return rate * averaged + (1 - rate) * current
    return AveragedModel(model, avg_fn=average, use_buffers=True)


def warmup_cosine_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate factor: linear warm-up over warmup_steps (at most half the run), then cosine
    decay from 1 to 0 at the last step. For torch.optim.lr_scheduler.LambdaLR."""
    warmup = min(warmup_steps, total_steps // 2)
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def training_step(parts: TrainingParts, generator: torch.Generator, speed: SpeedPolicy,
                  device: torch.device) -> Tensor:
    """One optimiser step: a batch loss under the speed policy, backward, optimiser, learning-rate
    schedule and EMA. Returns the loss (not synchronised: .item() waits for it)."""
    with speed.autocast(device):
        loss = parts.batch_loss(generator)
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parts.optimizer.step()
    parts.lr_schedule.step()
    if parts.ema is not None:
        parts.ema.update_parameters(parts.model)
    return loss


def train(recipe: Recipe, config, ckpt: Path, resume: bool = False, overwrite: bool = False,
          device: torch.device | str = "cpu", time_budget_minutes: float | None = None, save_every: int = 500,
          progress: bool = True, speed: SpeedPolicy | None = None) -> dict:
    """Train `config` (or continue the run saved at ckpt) and write the checkpoint; returns its last state.

    Stops early, saving, when the time budget (minutes of this call) runs out, or on Ctrl-C
    (SystemExit 130 after saving); `resume=True` continues either to the same weights an
    uninterrupted run reaches. `speed`: the policy to train with (default: the model's default on
    this device kind, or on resume the one the run was saved with).
    """
    ckpt = Path(ckpt)
    if time_budget_minutes is not None and time_budget_minutes <= 0:
        raise ValueError(f"the time budget must be a positive number of minutes, got {time_budget_minutes}")
    if save_every < 1:
        raise ValueError(f"save_every must be at least 1, got {save_every}")
    if not resume and ckpt.exists() and not overwrite:
        raise ValueError(f"{ckpt} already exists; continue it with --resume, or pass another --ckpt "
                         "(or --overwrite) to train from scratch")
    device = torch.device(device)
    parts = recipe.training_parts(config, device)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    seconds_trained = 0.0
    state = recipe.read(ckpt) if resume else {}
    if resume:
        saved_config = config_from_checkpoint(state, ckpt, recipe.config_class)
        if saved_config != config:
            raise ValueError(f"cannot resume {ckpt}: it was trained with {saved_config}, not {config}")
        parts.model.load_state_dict(state["model"])
        if parts.ema is not None:
            parts.ema.load_state_dict(state["ema_averager"])
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.lr_schedule.load_state_dict(state["lr_schedule"])
        generator.set_state(state["generator"])
        losses, seconds_trained = state["losses"].tolist(), state["seconds_trained"]
    saved_speed = saved_speed_policy(state, ckpt) if "speed" in state else None
    speed = speed or saved_speed or speed_policy(recipe.kind, device)
    if saved_speed is not None and speed != saved_speed:
        print(f"note: {ckpt} was trained with {saved_speed}, continued with {speed}: the weights will "
              "differ from an uninterrupted run's", file=sys.stderr)
    if progress:
        print(f"{recipe.kind} on {device}: {speed.describe()}", file=sys.stderr)
    speed.prepare(parts.model)
    parts.model.train()

    def checkpoint_state() -> dict:
        used = parts.ema.module if parts.ema is not None else parts.model
        return {"kind": recipe.kind, "version": recipe.version, "config": asdict(config), "step": len(losses),
                "seconds_trained": seconds_trained, "model": parts.model.state_dict(), "ema": used.state_dict(),
                "ema_averager": parts.ema.state_dict() if parts.ema is not None else {},
                "optimizer": parts.optimizer.state_dict(), "lr_schedule": parts.lr_schedule.state_dict(),
                "generator": generator.get_state(), "losses": torch.tensor(losses, dtype=torch.float32),
                "speed": asdict(speed)}

    first_step = len(losses)
    started = run_started = time.monotonic()
    bar = tqdm(range(first_step, config.steps), initial=first_step, total=config.steps,
               desc=f"training {recipe.kind}", unit="step", disable=not progress)
    stop_reason = None
    with InterruptAtStepEnd() as interrupt:
        for step in bar:
            loss = training_step(parts, generator, speed, device)
            losses.append(loss.item())
            elapsed = time.monotonic() - run_started
            if step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            if interrupt.requested:
                stop_reason = "interrupted"
            elif time_budget_minutes is not None and elapsed > 60 * time_budget_minutes and step + 1 < config.steps:
                stop_reason = f"time budget of {time_budget_minutes:g} min reached"
            if stop_reason or (step + 1) % save_every == 0:
                seconds_trained += time.monotonic() - started
                started = time.monotonic()
                save_checkpoint(ckpt, checkpoint_state())
            if stop_reason:
                bar.close()
                print(f"\n{stop_reason} at step {len(losses)}/{config.steps}; saved {ckpt}. "
                      f"Continue with: {recipe.train_command} --resume --ckpt {ckpt}", file=sys.stderr)
                if stop_reason == "interrupted":
                    raise SystemExit(130)
                return checkpoint_state()
    seconds_trained += time.monotonic() - started
    final = checkpoint_state()
    save_checkpoint(ckpt, final)
    return final


def ensure_trained(recipe: Recipe, ckpt: Path, config=None, device: torch.device | str = "cpu",
                   progress: bool = True) -> Path:
    """The checkpoint at ckpt, finished: trained with `config` (default: the config class's defaults)
    if absent, resumed if its run was cut short. A checkpoint trained with another config than the
    one asked for is an error, never silently used."""
    ckpt = Path(ckpt)
    if not ckpt.exists():
        train(recipe, config if config is not None else recipe.config_class(), ckpt, device=device, progress=progress)
        return ckpt
    state = recipe.read(ckpt)
    saved_config = config_from_checkpoint(state, ckpt, recipe.config_class)
    if config is not None and saved_config != config:
        raise ValueError(f"{ckpt} holds a model trained with {saved_config}, not the {config} asked for; "
                         "pass another path or delete it")
    if state["step"] < saved_config.steps:
        train(recipe, saved_config, ckpt, resume=True, device=device, progress=progress)
    return ckpt


def cached_checkpoint(recipe: Recipe, config, cache_dir: Path, device: torch.device | str = "cpu",
                      progress: bool = True) -> Path:
    """ensure_trained at a path named by the config's hash and the format version: a changed config
    (or format) is trained anew, an unchanged one is reused, an interrupted one resumed."""
    path = Path(cache_dir) / f"{recipe.kind}_v{recipe.version}_{config_key(config)}.pt"
    return ensure_trained(recipe, path, config, device=device, progress=progress)


def saved_speed_policy(state: dict, ckpt: Path) -> SpeedPolicy:
    """The speed policy a checkpoint was trained with; a clear error when the file's entry is not one."""
    try:
        return SpeedPolicy(**state["speed"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{ckpt} holds no readable speed policy ({state['speed']!r}: {error}); "
                         "train it again") from error


class InterruptAtStepEnd:
    """Turn the first Ctrl-C into a request the training loop honours after finishing its step.

    Stopping between two steps keeps the weights, optimiser and random generator consistent, so
    the saved checkpoint resumes exactly. A second Ctrl-C interrupts at once, as usual.
    """

    def __enter__(self):
        self.requested = False
        self._installed = threading.current_thread() is threading.main_thread()
        if self._installed:
            self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc):
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
