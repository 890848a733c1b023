"""Fit Deep Image Prior to one corrupted image and show where each stopping rule stops.

    python -m dip_ext.denoise --image astronaut --sigma 25
    python -m dip_ext.denoise --image photo.png --size 256 --sigma 15 --channels-down 128 --channels-up 128
    python -m dip_ext.denoise --image coins --mask random --iterations 3000      (inpainting, no noise)
    python -m dip_ext.denoise --image camera --sigma 25 --rule my_rules.py:lowest_residual

--image is a scikit-image name (camera, astronaut, coffee, ...), mnist:K (a held-out digit) or a
PNG/JPEG path; it stays colour if it is (unless --grey), is made --size square, then corrupted
(--sigma noise on the 0..255 scale, --mask pixels removed). The clean image is used only to print
PSNR/SSIM and the oracle peak; the rules use the noise level scikit-image estimates from the noisy
image (--known-sigma, or a --mask, gives them the true one). The rules are the stopping study's
(dip_ext.rules: the published ones, the reference ones unless --no-reference-rules, and each
--rule), each scored on the averaged output; SURE's fits a twin network beside plain DIP (--no-sure
saves that time). A rule still a TODO is named with the TODO it waits for. Writes a picture of
clean, corrupted, each rule's output and the classical denoisers to --out.
"""
from pathlib import Path

import argparse

import matplotlib.pyplot as plt
import numpy as np
import torch

from cli import add_speed_flags, command_parser, config_overrides, run_command, speed_from_flags
from devices import pick_device
from dip_ext.classical import classical_denoisers, estimated_sigma
from dip_ext.fit import WMV_WINDOW, FitRecord, Stage, fit
from dip_ext.images import MASKS, add_noise, check_sigma, load_image, make_mask
from dip_ext.network import DipConfig
from dip_ext.plugins import Method, load_method, waiting_for
from dip_ext.quality import psnr, quality
from dip_ext.rules import BASELINES, PLAIN, REFERENCE_RULES, FitResult, Stop, StopProblem, fit_label
from dip_ext.stopping import WMV_PATIENCE, discrepancy_stop, estimate_stop, wmv_stood, wmv_stop
from speed import speed_policy


class _Fits:
    """The fits of this one image, each run once, keeping few snapshots: plain DIP's at the published
    rules' stops on the record so far (_plain_stops), a rule's own fit's at its lowest estimate so far.
    A stop whose output was not kept is fitted again up to it (fits are deterministic)."""

    def __init__(self, run):
        self.run, self.records = run, {}

    def result(self, stages: tuple[Stage, ...]) -> FitResult:
        label = fit_label(stages)
        if label not in self.records:
            self.records[label] = (stages, self.run(stages, lambda record: _snapshots_of([_lowest_estimate(record)])))
        record = self.records[label][1]
        return FitResult(record.arrays(), record.seconds, record.twin_seconds)

    def output(self, label: str, index: int) -> np.ndarray:
        stages, record = self.records[label]
        if index + 1 not in record.snapshots:
            record.snapshots[index + 1] = self.run(stages, lambda again: {index + 1}).snapshots[index + 1]
        return record.snapshots[index + 1]


def main(args) -> None:
    if args.sigma is None and args.mask is None:
        raise ValueError("nothing to restore: give --sigma (noise, 0..255 scale) and/or --mask (random or block)")
    config = DipConfig(**config_overrides(args, args.config_fields))
    clean = load_image(args.image, args.size, args.grey)
    generator = torch.Generator().manual_seed(args.seed)
    observation = clean if args.sigma is None else add_noise(clean, args.sigma, generator)
    mask = None if args.mask is None else make_mask(args.mask, clean.shape, generator)
    corrupted = observation if mask is None else observation * mask
    sigma = None
    if args.sigma is not None:
        given = args.known_sigma or mask is not None  # the estimate needs every pixel observed
        sigma = check_sigma(args.sigma) if given else estimated_sigma(observation)
        print(f"noise std: {args.sigma:g} on the 0..255 scale; the rules use {sigma * 255:.1f}"
              f" ({'given' if given else 'estimated'})")
    methods = _methods(args, sigma, mask)
    device = pick_device(args.device)
    speed = speed_from_flags("dip", device, args) or speed_policy("dip", device)
    print(f"DIP on {device}: {speed.describe()}")
    with_sure = args.sure and sigma is not None and mask is None

    def run(stages: tuple[Stage, ...], keep, sure: bool = False) -> FitRecord:
        return fit(corrupted, config, list(stages), sigma=sigma, mask=mask, clean=clean, seed=args.seed, snapshot_every=1,
                   device=device, speed=speed, sure=sure, keep_snapshots=keep)

    plain_stages = (Stage(0.0, args.iterations),)
    fits = _Fits(run)  # a fit run again for an output it did not keep needs no twin: the twin leaves the fit unchanged
    plain = run(plain_stages, lambda record: _snapshots_of(_plain_stops(record, sigma, with_sure).values()), with_sure)
    fits.records[PLAIN] = (plain_stages, plain)
    twin = " (with SURE's twin network)" if with_sure else ""
    print(f"{plain.iterations} iterations in {plain.seconds:.0f} s ({plain.iterations / plain.seconds:.2f}/s){twin}")
    print(f"{'corrupted input':<40}            PSNR {psnr(clean, corrupted):6.2f}")
    outputs, late, waiting = {}, [], []
    for name, index in _plain_stops(plain, None, False).items():
        outputs[name] = fits.output(PLAIN, index)
        _print_stop(name, index, clean, outputs[name])
    problem = StopProblem(corrupted, sigma, "averaged", args.iterations, args.seed, fits.result)
    for method in methods:
        try:
            stop = method.function(problem)
        except NotImplementedError as error:
            waiting.append(f"{method.name}: waits for the TODO in {waiting_for(error)}")
            continue
        if not isinstance(stop, Stop):
            raise ValueError(f"the rule {method.name!r} returned {stop!r}; a rule returns dip_ext.rules.Stop(fit, iteration)")
        stages, record = fits.records[stop.fit.label]
        outputs[method.name] = fits.output(stop.fit.label, stop.iteration)
        _print_stop(method.name, stop.iteration, clean, outputs[method.name])
        late += _ended_first(method.name, stop.iteration, stages, record)
    if mask is None:
        for name, denoised in classical_denoisers(observation).items():
            outputs[name] = denoised
            print(f"{name:<40}            PSNR {psnr(clean, denoised):6.2f}")
    for line in waiting:
        print(line)
    if late:
        print(f"the fit ended before these rules could stop: {'; '.join(late)}. Try --iterations {2 * args.iterations}")
    out = args.out or Path("figures/dip") / f"denoise_{Path(args.image).stem.replace(':', '')}.png"
    _picture(clean, corrupted, outputs, out)
    print(f"wrote {out}")


def _methods(args, sigma: float | None, mask: np.ndarray | None) -> list[Method]:
    """The rules this image can take: none without a noise level; SURE only with its twin."""
    if sigma is None:
        return []
    baselines = {name: rule for name, rule in BASELINES.items() if name != "SURE" or (args.sure and mask is None)}
    methods = [Method(name, f"dip_ext.rules:{rule.__name__}", rule) for name, rule in baselines.items()]
    return methods + [load_method(spec) for spec in (list(REFERENCE_RULES) if args.reference_rules else []) + args.rule]


def _print_stop(name: str, index: int, clean: np.ndarray, output: np.ndarray) -> None:
    scores = quality(clean, output)
    print(f"{name:<40} iteration {index + 1:5d}  PSNR {scores['psnr']:6.2f}  SSIM {scores['ssim']:.3f}")


def _ended_first(name: str, index: int, stages: tuple[Stage, ...], record: FitRecord) -> list[str]:
    """Why the fit may have ended before the rule would have stopped: its stop is its fit's last
    iteration; its fit's patience never ran out; ES-WMV's minimum never stood its patience."""
    if name == "ES-WMV" and not wmv_stood(index, record.iterations):
        return [f"ES-WMV (its variance minimum stood under {WMV_PATIENCE} iterations)"]
    if any(stage.patience for stage in stages) and record.iterations == sum(stage.iterations for stage in stages):
        patience = max(stage.patience or 0 for stage in stages)
        return [f"{name} (its fit's estimate improved within its last {patience} iterations)"]
    if index == record.iterations - 1:
        return [f"{name} (it stopped on its fit's last iteration)"]
    return []


def _plain_stops(record: FitRecord, sigma: float | None, with_sure: bool) -> dict[str, int]:
    """Each stop (0-based index) on what plain DIP's fit has recorded so far: the clean image's peak,
    the last iteration and, with a noise level, the published rules'."""
    signals = record.arrays()
    stops = {"oracle peak (uses the clean image)": int(np.argmax(signals["psnr"])),
             f"last iteration ({record.iterations})": record.iterations - 1}
    if sigma is not None:
        stops["discrepancy"] = discrepancy_stop(signals["residual"], sigma ** 2)
        if record.iterations >= WMV_WINDOW:
            stops["ES-WMV"] = wmv_stop(signals["wmv"])
        if with_sure:
            stops["SURE"] = estimate_stop(signals["sure"])
    return stops


def _lowest_estimate(record: FitRecord) -> int:
    """The lowest estimated MSE of the averaged output so far; the newest iteration where there is none."""
    estimate = record.arrays()["estimate"]
    return record.iterations - 1 if np.all(np.isnan(estimate)) else estimate_stop(estimate)


def _snapshots_of(stops) -> set[int]:
    """The snapshots (keyed by iteration count) that hold the outputs at `stops` (0-based indices).
    Every published rule's stop on the whole fit is its stop on each part that contains it (a first
    crossing, a running or overall extremum), so a fit that keeps these after each iteration keeps
    the finals."""
    return {index + 1 for index in stops}


def _picture(clean: np.ndarray, corrupted: np.ndarray, outputs: dict[str, np.ndarray], out: Path) -> None:
    panels = {"clean": clean, "corrupted": corrupted} | outputs
    figure, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6))
    for ax, (name, image) in zip(axes, panels.items()):
        ax.imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        score = "" if name == "clean" else f"\n{psnr(clean, image):.2f} dB"
        ax.set_title(name.split(" (")[0] + score, fontsize=8)
        ax.axis("off")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def parser():
    parser = command_parser(__doc__, DipConfig)
    parser.add_argument("--image", required=True, help="scikit-image name, mnist:K, or a PNG/JPEG path")
    parser.add_argument("--sigma", type=float, default=None, help="Gaussian noise std on the 0..255 scale")
    parser.add_argument("--mask", choices=MASKS, default=None, help="remove pixels: random half, or a central block")
    parser.add_argument("--size", type=int, default=64, help="side of the square image in pixels (default 64)")
    parser.add_argument("--grey", action="store_true", help="make a colour image grey")
    parser.add_argument("--iterations", type=int, default=2000, help="plain DIP's iterations (default 2000)")
    parser.add_argument("--known-sigma", action="store_true", help="give the rules the true noise level")
    parser.add_argument("--sure", action=argparse.BooleanOptionalAction, default=True,
                        help="the SURE rule, which fits a twin network beside plain DIP (default on)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise, mask, network and input")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    parser.add_argument("--rule", action="append", default=[], metavar="[NAME=]MODULE:FUNCTION",
                        help="a stopping rule of your own (repeatable; dip_ext/rules.py says what a rule is)")
    parser.add_argument("--no-reference-rules", dest="reference_rules", action="store_false",
                        help="leave out the reference rules (recorrupted, twin)")
    add_speed_flags(parser)
    parser.add_argument("--out", type=Path, default=None, help="picture to write (default figures/dip/denoise_NAME.png)")
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
