"""Train the conditional two-pixel DDPM, or sample from a trained model or from the exact denoiser.

    python train.py                                   # train T = 50, save to checkpoints/ddpm_T50.pt
    python train.py --T 25 --seed 1 --ckpt PATH       # another T, seed or path
    python train.py --resume --ckpt PATH              # continue an interrupted run
    python train.py --sample N --ckpt PATH --out FILE.npy [--label 0|1] [--guidance W] [--seed S]
    python train.py --sample N --oracle --T T --out FILE.npy [--label 0|1] [--guidance W] [--seed S]
    ... --sample N (--ckpt PATH | --oracle --T T) --sampler ddpm|ddim|dpmpp2m [--steps K] [--eta E]
    ... --sample N ... --label 0|1 --classifier PATH|exact --guidance W    # classifier guidance

Samples are written as float32 arrays of shape (N, 2): columns are the (left, right) pixels.
Label 0 is the mode at (-0.35, 0.65), label 1 the mode at (0.75, -0.45); without --label the
samples are unconditional (null class). --guidance W is the problem set's w in
epsbar = (1 + w) eps(x, t, y) - w eps(x, t, null); w = 0 (default) is the plain conditional model.

Training recipe (the defaults of TrainConfig; see README for what each choice bought):
v-parametrised noise predictor, Adam with a one-cycle learning rate, an exponential moving
average (EMA) of the weights used for sampling, per-sample label dropout for classifier-free
guidance, and a fixed seed for the initial weights and every random draw.
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ddpm import NoisePredictor, UNet
from gmm import NULL_LABEL, problem_gmm
from utils import (BETA_SCHEDULES, LOSSES, SAMPLERS, ClassifierGuidance, Schedule, drop_labels, p_losses,
                   pick_device, sample, set_cpu_threads)

CHECKPOINT_DIR = Path("checkpoints")
CHECKPOINT_KIND = "two-pixel-ddpm"
CHECKPOINT_VERSION = 1


def diffusion_config_problems(config) -> list[str]:
    """What is wrong with the fields every training config has (T, schedule, prediction, steps,
    batch_size, embed_dim, label_dropout, ema_decay, lr): one readable line each, none if fine."""
    problems = []
    if not isinstance(config.T, int) or config.T < 1:
        problems.append(f"T must be an integer >= 1, got {config.T!r}")
    if config.schedule not in BETA_SCHEDULES:
        problems.append(f"schedule must be one of {sorted(BETA_SCHEDULES)}, got {config.schedule!r}")
    if config.prediction not in NoisePredictor.PREDICTIONS:
        problems.append(f"prediction must be one of {NoisePredictor.PREDICTIONS}, got {config.prediction!r}")
    for name in ("steps", "batch_size", "embed_dim"):
        if getattr(config, name) < 1:
            problems.append(f"{name} must be at least 1, got {getattr(config, name)}")
    if not 0 <= config.label_dropout <= 1:
        problems.append(f"label_dropout must be in [0, 1], got {config.label_dropout}")
    if not 0 <= config.ema_decay < 1:
        problems.append(f"ema_decay must be in [0, 1), got {config.ema_decay}")
    if config.lr <= 0:
        problems.append(f"lr must be positive, got {config.lr}")
    return problems


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model; saved in its checkpoint."""

    T: int = 50  # diffusion steps
    schedule: str = "cosine"  # "cosine" or "linear"
    prediction: str = "v"  # network output: "v" or "eps" (see ddpm.NoisePredictor)
    channels: tuple[int, int] = (32, 64)
    embed_dim: int = 256
    fourier_scale: float = 2.0  # smooth in t/T; see README for the comparison with the starter's 30
    loss_type: str = "l2"  # "l2", "l1" or "huber"
    steps: int = 3000  # optimiser steps
    batch_size: int = 512
    lr: float = 1e-2  # peak learning rate of the one-cycle schedule
    ema_decay: float = 0.995
    label_dropout: float = 0.7  # probability that a sample's label is replaced by the null label
    n_data: int = 50_000  # size of the training set drawn from the mixture
    seed: int = 0

    def __post_init__(self):
        problems = diffusion_config_problems(self)
        if self.loss_type not in LOSSES:
            problems.append(f"loss_type must be one of {sorted(LOSSES)}, got {self.loss_type!r}")
        if self.n_data < 1:
            problems.append(f"n_data must be at least 1, got {self.n_data}")
        if problems:
            raise ValueError("invalid training configuration: " + "; ".join(problems))

    def make_schedule(self) -> Schedule:
        return Schedule.make(self.schedule, self.T)


def default_checkpoint(config: TrainConfig) -> Path:
    return CHECKPOINT_DIR / f"ddpm_T{config.T}_seed{config.seed}.pt"


def config_key(config) -> str:
    """A short hash of every field of a config dataclass: equal configs, equal keys."""
    text = json.dumps(asdict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_model(config: TrainConfig, cache_dir: Path = CHECKPOINT_DIR / "cache",
                 device: torch.device | str = "cpu", progress: bool = True) -> tuple[NoisePredictor, Path]:
    """The EMA model of `config`, trained on first use and kept under a name keyed by the config.

    A changed config gets a new key and is trained; an unchanged one is loaded; an interrupted
    one is resumed.
    """
    path = Path(cache_dir) / f"ddpm_T{config.T}_{config_key(config)}.pt"
    if not path.exists():
        train(config, path, device=device, progress=progress)
    elif load_checkpoint(path)["step"] < config.steps:
        train(config, path, resume=True, device=device, progress=progress)
    model, _ = load_model(path, device)
    return model, path


def build_model(config: TrainConfig) -> NoisePredictor:
    """A freshly initialised noise predictor; its weights are drawn from the config's seed."""
    torch.manual_seed(config.seed)
    unet = UNet(channels=tuple(config.channels), embed_dim=config.embed_dim, fourier_scale=config.fourier_scale)
    return NoisePredictor(unet, config.make_schedule().alphas_cumprod, prediction=config.prediction)


# ----- checkpoints -------------------------------------------------------------------------------

def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a temporary file in the same folder, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_checkpoint(path: Path, kind: str, version: int, make_command: str) -> dict:
    """Read a checkpoint safely (weights_only=True: student files are untrusted) and check its kind
    and version; every problem is a one-line error that says what to do (make_command trains one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train one with: {make_command} --ckpt {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{path} is not a readable checkpoint ({type(error).__name__}: {error}); "
                         f"delete it and train again") from error
    if not isinstance(state, dict) or state.get("kind") != kind:
        found = state.get("kind", "unknown") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a {kind} checkpoint (it holds {found!r}); train one with: {make_command}")
    if state.get("version") != version:
        raise ValueError(f"{path} has checkpoint version {state.get('version')}, this code reads "
                         f"version {version}; retrain it with: {make_command}")
    return state


def load_checkpoint(path: Path) -> dict:
    """Read a two-pixel DDPM checkpoint (see read_checkpoint)."""
    return read_checkpoint(path, CHECKPOINT_KIND, CHECKPOINT_VERSION, "python train.py")


def config_from_checkpoint(state: dict, path: Path, config_class: type = TrainConfig):
    """The config dataclass saved in a checkpoint (lists, as saved, back to tuples); a clear error
    when its fields are not the ones this code knows."""
    known = {field.name for field in fields(config_class)}
    saved = state.get("config", {})
    if not isinstance(saved, dict) or set(saved) != known:
        raise ValueError(f"{path} was written with a different configuration format "
                         f"(fields {sorted(saved) if isinstance(saved, dict) else saved}); retrain it")
    return config_class(**{name: tuple(value) if isinstance(value, list) else value for name, value in saved.items()})


def ema_weights_into(model: torch.nn.Module, state: dict, path: Path, device: torch.device | str) -> torch.nn.Module:
    """Load a checkpoint's EMA weights into a freshly built model, in eval mode on `device`."""
    try:
        model.load_state_dict(state["ema"])
    except (RuntimeError, KeyError) as error:
        raise ValueError(f"{path}: the saved weights do not fit the architecture in its config ({error})") from error
    return model.to(device).eval()


def restore_training_state(state: dict, model, ema, optimizer, lr_schedule, generator: torch.Generator) -> list[float]:
    """Put a checkpoint's live weights, EMA, optimiser, learning-rate schedule and random generator
    back in place, so training continues exactly; returns the loss history."""
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema_averager"])
    optimizer.load_state_dict(state["optimizer"])
    lr_schedule.load_state_dict(state["lr_schedule"])
    generator.set_state(state["generator"])
    return state["losses"].tolist()


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[NoisePredictor, TrainConfig]:
    """The EMA weights of a trained model, in eval mode, with the config that rebuilds its schedule."""
    state = load_checkpoint(path)
    config = config_from_checkpoint(state, path)
    return ema_weights_into(build_model(config), state, path, device), config


# ----- training ----------------------------------------------------------------------------------

def _new_training_state(config: TrainConfig):
    model = build_model(config)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)  # one kernel for all parameters
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    generator = torch.Generator().manual_seed(config.seed)
    return model, ema, optimizer, lr_schedule, generator


def train(config: TrainConfig, ckpt: Path, resume: bool = False, device: torch.device | str = "cpu",
          save_every: int = 1000, progress: bool = True) -> dict:
    """Train (or continue training) and write the checkpoint; returns the final checkpoint dict.

    Every random draw (batch indices, t, noise, label dropout) comes from one generator seeded by
    config.seed and saved in the checkpoint, so an interrupted and resumed run ends with the same
    weights as an uninterrupted one. Ctrl-C finishes the current step, saves and exits (code 130).
    """
    model, ema, optimizer, lr_schedule, generator = _new_training_state(config)
    losses: list[float] = []
    if resume:
        state = load_checkpoint(ckpt)
        saved_config = config_from_checkpoint(state, ckpt)
        if saved_config != config:
            raise ValueError(f"cannot resume {ckpt}: it was trained with {saved_config}, not {config}")
        losses = restore_training_state(state, model, ema, optimizer, lr_schedule, generator)
    data = problem_gmm(n_samples=config.n_data, seed=config.seed)
    schedule = config.make_schedule()
    model.to(device).train()
    ema.to(device)

    def checkpoint_state() -> dict:
        return {"kind": CHECKPOINT_KIND, "version": CHECKPOINT_VERSION, "config": asdict(config),
                "step": len(losses), "model": model.state_dict(), "ema": ema.module.state_dict(),
                "ema_averager": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "lr_schedule": lr_schedule.state_dict(), "generator": generator.get_state(),
                "losses": torch.tensor(losses, dtype=torch.float32)}

    bar = tqdm(range(len(losses), config.steps), initial=len(losses), total=config.steps,
               desc=f"training T={config.T}", disable=not progress)
    with InterruptAtStepEnd() as interrupt:
        for step in bar:
            index = torch.randint(len(data), (config.batch_size,), generator=generator)
            x_start, y = data.samples[index].to(device), data.labels[index]
            t = torch.randint(config.T, (config.batch_size,), generator=generator).to(device)
            noise = torch.randn(x_start.shape, generator=generator).to(device)
            y = drop_labels(y, config.label_dropout, NULL_LABEL, generator=generator).to(device)
            loss = p_losses(model, schedule, x_start, t, y, noise=noise, loss_type=config.loss_type)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lr_schedule.step()
            ema.update_parameters(model)
            losses.append(loss.item())
            if step % 100 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-100:]):.4f}")
            if interrupt.requested:
                save_checkpoint(ckpt, checkpoint_state())
                bar.close()
                print(f"\ninterrupted at step {len(losses)}/{config.steps}; progress saved to {ckpt}. "
                      f"Continue with: python train.py --resume --ckpt {ckpt}", file=sys.stderr)
                raise SystemExit(130)
            if (step + 1) % save_every == 0:
                save_checkpoint(ckpt, checkpoint_state())
    final = checkpoint_state()
    save_checkpoint(ckpt, final)
    return final


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


# ----- command line ------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, default=None,
                        help="checkpoint to write (training) or read (--sample); "
                             "default checkpoints/ddpm_T{T}_seed{seed}.pt")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of weights and every random draw")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    training = parser.add_argument_group("training")
    training.add_argument("--T", type=int, default=defaults.T, help="number of diffusion steps")
    training.add_argument("--schedule", choices=sorted(BETA_SCHEDULES), default=defaults.schedule)
    training.add_argument("--prediction", choices=NoisePredictor.PREDICTIONS, default=defaults.prediction)
    training.add_argument("--loss", dest="loss_type", choices=sorted(LOSSES), default=defaults.loss_type)
    training.add_argument("--steps", type=int, default=None,
                          help=f"training: optimiser steps (default {defaults.steps}); "
                               "with --sample: sampling steps, 1..T (default all T)")
    training.add_argument("--batch-size", type=int, default=defaults.batch_size)
    training.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    training.add_argument("--ema-decay", type=float, default=defaults.ema_decay)
    training.add_argument("--label-dropout", type=float, default=defaults.label_dropout)
    training.add_argument("--fourier-scale", type=float, default=defaults.fourier_scale)
    training.add_argument("--resume", action="store_true", help="continue training the run saved at --ckpt")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--sample", type=int, metavar="N", help="draw N samples instead of training")
    sampling.add_argument("--oracle", action="store_true", help="sample with the exact denoiser (needs --T)")
    sampling.add_argument("--out", type=Path, help="where --sample writes its float32 (N, 2) .npy array")
    sampling.add_argument("--label", type=int, default=None, help="class to sample (0 or 1); default none")
    sampling.add_argument("--guidance", type=float, default=0.0,
                          help="guidance weight w: classifier-free, or with --classifier classifier guidance")
    sampling.add_argument("--classifier", default=None, metavar="PATH|exact",
                          help="classifier guidance instead: a checkpoint of classifier.py, or 'exact' for the "
                               "mixture's p(y | x_t); the base model is then used unconditionally")
    sampling.add_argument("--sampler", choices=SAMPLERS, default="ddpm",
                          help="ddpm (ancestral), ddim, or dpmpp2m (DPM-Solver++ 2M); default ddpm")
    sampling.add_argument("--eta", type=float, default=0.0, help="DDIM noise: 0 deterministic, 1 = DDPM")
    return parser


def _sample_command(args, parser: argparse.ArgumentParser) -> None:
    if args.sample < 1:
        parser.error(f"--sample needs N >= 1, got {args.sample}")
    if args.out is None:
        parser.error("--sample needs --out FILE.npy")
    if args.label is not None and args.label not in range(NULL_LABEL):
        parser.error(f"--label must be 0 or 1 (omit it for unconditional samples), got {args.label}")
    if args.oracle:
        if args.ckpt is not None:
            parser.error("give either --ckpt (a trained model) or --oracle (the exact denoiser), not both")
        if args.T < 1:
            parser.error(f"--T must be at least 1, got {args.T}")
        schedule = Schedule.make(args.schedule, args.T)
        denoiser, device = problem_gmm(n_samples=1).exact_denoiser(schedule.alphas_cumprod), torch.device("cpu")
    else:
        if args.ckpt is None:
            parser.error("--sample needs --ckpt PATH (a trained model) or --oracle --T T (the exact denoiser)")
        device = pick_device(args.device)
        denoiser, config = load_model(args.ckpt, device)
        schedule = config.make_schedule()
    if args.classifier is not None:
        denoiser = _classifier_guided(denoiser, schedule, args)
    generator = torch.Generator(device).manual_seed(args.seed)
    classifier_free_weight = 0.0 if args.classifier is not None else args.guidance
    x = sample(denoiser, schedule, args.sample, label=args.label, guidance_weight=classifier_free_weight,
               generator=generator, device=device, sampler=args.sampler, steps=args.steps, eta=args.eta,
               progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, x.reshape(args.sample, 2).cpu().numpy().astype(np.float32))
    print(f"wrote {args.sample} samples to {args.out}")


def _classifier_guided(denoiser, schedule: Schedule, args) -> ClassifierGuidance:
    """Wrap the denoiser with classifier guidance of weight --guidance, checking the schedules agree."""
    from classifier import load_classifier  # classifier.py imports this module

    if args.classifier == "exact":
        classifier = problem_gmm(n_samples=1).exact_classifier(schedule.alphas_cumprod)
    else:
        classifier, classifier_config = load_classifier(Path(args.classifier))
        classifier_schedule = Schedule.make(classifier_config.schedule, classifier_config.T)
        if classifier_schedule.T != schedule.T or not torch.equal(classifier_schedule.betas, schedule.betas):
            raise ValueError(f"the classifier was trained for {classifier_config.schedule} T = {classifier_config.T}, "
                             f"the model samples with T = {schedule.T}; train one with "
                             f"python classifier.py --T {schedule.T}")
    return ClassifierGuidance(denoiser, classifier, schedule.alphas_cumprod, args.guidance)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    set_cpu_threads()
    try:
        if args.sample is not None:
            _sample_command(args, parser)
            return
        config = TrainConfig(T=args.T, schedule=args.schedule, prediction=args.prediction,
                             loss_type=args.loss_type, steps=TrainConfig.steps if args.steps is None else args.steps,
                             batch_size=args.batch_size, lr=args.lr,
                             ema_decay=args.ema_decay, label_dropout=args.label_dropout,
                             fourier_scale=args.fourier_scale, seed=args.seed)
        ckpt = args.ckpt or default_checkpoint(config)
        train(config, ckpt, resume=args.resume, device=pick_device(args.device))
        print(f"saved {ckpt}")
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
