"""DIP as the start of the MNIST model's reverse process (Example 1), measured: the start study's tables.

    python -m dip_ext.run_starts --seeds 0 1 2 --per-class 3             # make bench-dip-start
    python -m dip_ext.run_starts --start my_starts.py:my_start             # your start beside the others

Trains the MNIST model first if --ckpt (default checkpoints/mnist/ddpm.pt) is absent, and the
evaluation classifier without the digits restored here. Every corruption x seed runs in its own
one-thread process and is cached in --cache; a rerun prints at once. Measured: the observation and
DIP alone after each of the study's iteration counts (built in), the reference start
(dip_ext.starts.REFERENCE_STARTS; --no-reference-starts leaves it out) and each --start
(NAME=MODULE:FUNCTION or FILE.py:FUNCTION: a function of dip_ext.starts.StartProblem returning the
digit's estimate, (28, 28) in [0, 1]). Each is noised to t0 and taken down by the reverse process
(dip_ext.restore), and pure noise from t0 = T is generation. A start, or the reverse process, still
a TODO is named in one line and the rest prints.
"""
from pathlib import Path

from dataclasses import replace

from cli import command_parser, run_command
from dip_ext.starts import CLASSIFIER, CORRUPTIONS, STUDY_DIGITS_SET_ASIDE, StartSettings, report, run_all, start_jobs
from mnist_ext.recipe import DEFAULT_CHECKPOINT, RECIPE
from training import ensure_trained

DEFAULT_CACHE = Path("figures/dip/cache/start")
SWEPT = ("dip_iterations", "t0_fractions", "steps")
"""The settings a flag may change (dip_ext.starts.StartSettings): fitting times, start levels, reverse steps."""


def main(args) -> None:
    if args.ckpt is not None and not args.ckpt.is_file():
        raise FileNotFoundError(f"--ckpt {args.ckpt} does not exist; train it with python -m mnist_ext.train --ckpt "
                                f"{args.ckpt}, or leave --ckpt out to use (and if absent train) {DEFAULT_CHECKPOINT}")
    settings = replace(StartSettings(), **{name: tuple(getattr(args, name)) for name in SWEPT if getattr(args, name)})
    if settings.grid_steps not in settings.steps or settings.grid_t0_fraction not in settings.t0_fractions:
        settings = replace(settings, grid_steps=min(settings.steps), grid_t0_fraction=min(settings.t0_fractions))
    corruptions = tuple(corruption for corruption in CORRUPTIONS if not args.corruptions or corruption.name in args.corruptions)
    model_path = ensure_trained(RECIPE, args.ckpt or DEFAULT_CHECKPOINT)
    jobs = start_jobs(model_path, args.cache, tuple(args.seeds), args.per_class, corruptions, settings,
                      specs=tuple(args.start), reference=args.reference_starts, classifier_path=args.classifier)
    print(report(run_all(jobs, args.workers)))


def parser():
    parser = command_parser(__doc__)
    parser.add_argument("--ckpt", type=Path, default=None,
                        help=f"a trained MNIST model (default {DEFAULT_CHECKPOINT}, trained first if absent)")
    parser.add_argument("--per-class", type=int, default=1, help=f"held-out digits per class, 1 to {STUDY_DIGITS_SET_ASIDE}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2, help="parallel one-thread processes (0: in this process, "
                        "where a breakpoint in your start stops)")
    parser.add_argument("--start", action="append", default=[], metavar="[NAME=]MODULE:FUNCTION",
                        help="a start of your own, measured beside the others (repeatable)")
    parser.add_argument("--no-reference-starts", dest="reference_starts", action="store_false",
                        help="leave out the reference start (DIP rule)")
    parser.add_argument("--corruptions", nargs="+", choices=[corruption.name for corruption in CORRUPTIONS], default=None,
                        help="only these corruptions (default: all four)")
    parser.add_argument("--dip-iterations", type=int, nargs="+", default=None,
                        help=f"DIP alone after each of these iterations (default {StartSettings.dip_iterations})")
    parser.add_argument("--t0-fractions", type=float, nargs="+", default=None,
                        help=f"start levels t0 as fractions of T (default {StartSettings.t0_fractions})")
    parser.add_argument("--steps", type=int, nargs="+", default=None,
                        help=f"reverse steps from t0 (default {StartSettings.steps})")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where finished runs are kept")
    parser.add_argument("--classifier", type=Path, default=CLASSIFIER,
                        help="the evaluation classifier without the study's digits (trained there if absent)")
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
