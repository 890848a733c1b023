"""Command-line plumbing every command shares: flags derived from a config dataclass's fields, the
training flags, the one error wrapper, and the two-pixel sampling flags (sample.py, train.py --sample).

A config field `batch_size` becomes the flag `--batch-size` with the field's type; a flag left out
keeps the config's default, so the defaults are written once, in the dataclass. Tuple fields take
comma-separated values (`--channels 32,64`), boolean fields true or false (`--zero-output false`).
"""
import argparse
import re
import sys
import traceback
import typing
from dataclasses import fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from checkpoints import config_from_checkpoint
from devices import pick_device, set_cpu_threads
from gmm import NULL_LABEL, problem_gmm
from noisy_classifier import load_classifier
from recipe import load_model
from samplers import SAMPLERS, ClassifierGuidance, sample
from speed import PRECISIONS, SpeedPolicy, speed_policy
from training import Recipe, train
from utils import BETA_SCHEDULES, Schedule

FLAG_ALIASES = {"loss_type": ["--loss"]}
"""Older spellings that keep working: `--loss` for loss_type."""


def _comma_separated_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,64, got {text!r}") from None


def true_or_false(text: str) -> bool:
    """'true' -> True, 'false' -> False, any case; anything else is refused (bool('false') would be True)."""
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() == "true"


def add_config_flags(parser: argparse.ArgumentParser, config_class: type) -> list[str]:
    """One flag per field of config_class, default None = the config's default. Returns the field names."""
    defaults = config_class()
    hints = typing.get_type_hints(config_class)
    group = parser.add_argument_group(f"configuration ({config_class.__name__}; flags left out keep these defaults)")
    added = []
    for field in fields(config_class):
        default = getattr(defaults, field.name)
        kind = {tuple: _comma_separated_ints, bool: true_or_false}.get(type(default), hints[field.name])
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(f"--{field.name.replace('_', '-')}", *FLAG_ALIASES.get(field.name, []), dest=field.name,
                           type=kind, default=None, help=f"default {shown}")
        added.append(field.name)
    return added


def config_overrides(args: argparse.Namespace, names: list[str]) -> dict:
    """The config fields given on the command line, {name: value}."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def command_parser(description: str, config_class: type | None = None, training_flags: bool = False) -> argparse.ArgumentParser:
    """A parser with the command's docstring as help, its config flags, and (for training) the
    flags every training command shares."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(config_fields=add_config_flags(parser, config_class) if config_class is not None else [])
    if training_flags:
        parser.add_argument("--ckpt", type=Path, default=None, help="checkpoint to write (see above for the default)")
        parser.add_argument("--resume", action="store_true", help="continue the run saved at --ckpt, as it was configured")
        parser.add_argument("--overwrite", action="store_true", help="train from scratch over an existing --ckpt")
        parser.add_argument("--time-budget", type=float, default=None, metavar="MIN",
                            help="stop after MIN minutes, saving a checkpoint that --resume continues")
        parser.add_argument("--save-every", type=int, default=500, help="optimiser steps between checkpoints")
        parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
        add_speed_flags(parser)
    return parser


def add_speed_flags(parser: argparse.ArgumentParser) -> None:
    """--precision, --channels-last and --compile: override the model's speed policy (speed.py);
    left out, the default for the device kind applies (on resume: the run's saved policy)."""
    group = parser.add_argument_group("speed (default: measured per device kind, see speed.py)")
    group.add_argument("--precision", choices=sorted(PRECISIONS), default=None, help="the forward pass's precision")
    group.add_argument("--channels-last", type=true_or_false, default=None, metavar="true|false",
                       help="store 4-D weights and inputs channels-last")
    group.add_argument("--compile", type=true_or_false, default=None, metavar="true|false",
                       help="torch.compile the forward pass (its first steps are slow)")


def speed_from_flags(model: str, device: torch.device, args: argparse.Namespace) -> SpeedPolicy | None:
    """The policy the speed flags ask for, or None when none was given (the default applies)."""
    given = {name: getattr(args, name) for name in ("precision", "channels_last", "compile")}
    if all(value is None for value in given.values()):
        return None
    return speed_policy(model, device, **given)


def train_from_flags(recipe: Recipe, args: argparse.Namespace, default_ckpt: Callable[[object], Path]) -> dict:
    """Train (or with --resume continue) the config the flags describe; prints where it was saved."""
    overrides = config_overrides(args, args.config_fields)
    if args.resume:
        if overrides:
            raise ValueError(f"--resume continues the run as it was configured; drop {sorted(overrides)}")
        ckpt = args.ckpt or default_ckpt(recipe.config_class())
        config = config_from_checkpoint(recipe.read(ckpt), ckpt, recipe.config_class)
    else:
        config = recipe.config_class(**overrides)
        ckpt = args.ckpt or default_ckpt(config)
    device = pick_device(args.device)
    state = train(recipe, config, ckpt, resume=args.resume, overwrite=args.overwrite, device=device,
                  time_budget_minutes=args.time_budget, save_every=args.save_every,
                  speed=speed_from_flags(recipe.kind, device, args))
    print(f"saved {ckpt} after {state['step']} steps ({state['seconds_trained'] / 60:.1f} min)")
    return state


def run_command(parser: argparse.ArgumentParser, command: Callable[[argparse.Namespace], None],
                argv: list[str] | None = None) -> None:
    """Parse, set the CPU threads, run; a bad argument or file ends in one line `error: ...` (exit 2),
    and so does a TODO of the handout not filled in yet (naming the file it is in). The command sees
    the arguments it was given as args.argv (a record names the command that wrote it)."""
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    set_cpu_threads()
    try:
        command(args)
    except (ValueError, FileNotFoundError, ImportError) as error:
        parser.exit(2, f"error: {error}\n")
    except NotImplementedError as error:
        parser.exit(2, f"error: not implemented yet: {error} (the TODO in {_todo_file(error)})\n")


def _todo_file(error: NotImplementedError) -> str:
    """The file whose TODO raised `error`: its innermost frame, or, for an error raised in a worker
    process and raised again here (concurrent.futures), the innermost frame of the worker's traceback."""
    remote = getattr(error.__cause__, "tb", None)  # concurrent.futures' _RemoteTraceback: the worker's, as text
    frames = re.findall(r'File "([^"]+)", line \d+', remote) if isinstance(remote, str) else []
    return Path(frames[-1] if frames else traceback.extract_tb(error.__traceback__)[-1].filename).name


# ----- two-pixel sampling: sample.py and train.py --sample ----------------------------------------

def sampling_parser(description: str) -> argparse.ArgumentParser:
    parser = command_parser(description)
    parser.add_argument("--sample", "--n", dest="n", type=int, required=True, metavar="N", help="number of samples")
    parser.add_argument("--out", type=Path, help="where to write the float32 (N, 2) .npy array")
    parser.add_argument("--ckpt", type=Path, default=None, help="a trained model (train.py)")
    parser.add_argument("--oracle", action="store_true", help="sample with the exact denoiser instead (needs --T)")
    parser.add_argument("--T", type=int, default=None, help="with --oracle: the number of diffusion steps")
    parser.add_argument("--schedule", choices=sorted(BETA_SCHEDULES), default="cosine", help="with --oracle")
    parser.add_argument("--label", type=int, default=None, help="class to sample (0 or 1); default none")
    parser.add_argument("--guidance", type=float, default=0.0,
                        help="guidance weight w: classifier-free, or with --classifier classifier guidance")
    parser.add_argument("--classifier", default=None, metavar="PATH|exact",
                        help="classifier guidance instead: a checkpoint of classifier.py, or 'exact' for the "
                             "mixture's p(y | x_t); the base model is then used unconditionally")
    parser.add_argument("--sampler", choices=SAMPLERS, default="ddpm",
                        help="ddpm (ancestral), ddim, or dpmpp2m (DPM-Solver++ 2M); default ddpm")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps, 1..T (default all T)")
    parser.add_argument("--eta", type=float, default=0.0, help="DDIM noise: 0 deterministic, 1 = DDPM")
    parser.add_argument("--seed", type=int, default=0, help="seed of the starting noise and every draw")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    return parser


def sample_from_flags(args: argparse.Namespace) -> None:
    """Draw --sample N two-pixel samples from --ckpt or the exact denoiser and write them to --out."""
    if args.n < 1:
        raise ValueError(f"--sample needs N >= 1, got {args.n}")
    if args.out is None:
        raise ValueError("--sample needs --out FILE.npy")
    if args.label is not None and args.label not in range(NULL_LABEL):
        raise ValueError(f"--label must be 0 or 1 (omit it for unconditional samples), got {args.label}")
    if args.oracle:
        if args.ckpt is not None:
            raise ValueError("give either --ckpt (a trained model) or --oracle (the exact denoiser), not both")
        if args.T is None or args.T < 1:
            raise ValueError(f"--oracle needs --T, the number of diffusion steps, at least 1 (got {args.T})")
        schedule = Schedule.make(args.schedule, args.T)
        denoiser, device = problem_gmm(n_samples=1).exact_denoiser(schedule.alphas_cumprod), torch.device("cpu")
    else:
        if args.ckpt is None:
            raise ValueError("--sample needs --ckpt PATH (a trained model) or --oracle --T T (the exact denoiser)")
        device = pick_device(args.device)
        denoiser, config = load_model(args.ckpt, device)
        schedule = config.make_schedule()
    classifier_free_weight = args.guidance
    if args.classifier is not None:
        denoiser, classifier_free_weight = _classifier_guided(denoiser, schedule, args), 0.0
    x = sample(denoiser, schedule, args.n, label=args.label, guidance_weight=classifier_free_weight,
               generator=torch.Generator(device).manual_seed(args.seed), device=device, sampler=args.sampler,
               steps=args.steps, eta=args.eta, progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, x.reshape(args.n, 2).cpu().numpy().astype(np.float32))
    print(f"wrote {args.n} samples to {args.out}")


def _classifier_guided(denoiser, schedule: Schedule, args: argparse.Namespace) -> ClassifierGuidance:
    """Wrap the denoiser with classifier guidance of weight --guidance, checking the schedules agree."""
    if args.classifier == "exact":
        classifier = problem_gmm(n_samples=1).exact_classifier(schedule.alphas_cumprod)
    else:
        classifier, classifier_config = load_classifier(Path(args.classifier))
        if not torch.equal(classifier_config.make_schedule().betas, schedule.betas):
            raise ValueError(f"the classifier was trained for {classifier_config.schedule} T = {classifier_config.T}, "
                             f"the model samples with T = {schedule.T}; train one with "
                             f"python classifier.py --T {schedule.T}")
    return ClassifierGuidance(denoiser, classifier, schedule.alphas_cumprod, args.guidance)
