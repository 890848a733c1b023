"""Fit Deep Image Prior to one corrupted image and show where each stopping rule stops.

    python -m dip_ext.denoise --image astronaut --sigma 25
    python -m dip_ext.denoise --image photo.png --size 256 --sigma 15 --channels-down 128 --channels-up 128
    python -m dip_ext.denoise --image coins --mask random --iterations 3000      (inpainting, no noise)

--image is a scikit-image name (camera, astronaut, coffee, ...), mnist:K (a held-out digit) or a
PNG/JPEG path; it stays colour if it is (unless --grey), is made --size square, then corrupted
(--sigma noise on the 0..255 scale, --mask pixels removed). The clean image is used only to print
PSNR/SSIM; the rules use the noise level scikit-image estimates from the noisy image (--known-sigma,
or a --mask, gives them the true one). SURE's rule fits a twin network beside plain DIP (--no-sure
saves that time). Writes a picture of clean, corrupted, each rule's output and the best classical
denoiser to --out.
"""
from collections.abc import Iterable
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
from dip_ext.quality import psnr, quality
from dip_ext.stopping import WMV_PATIENCE, discrepancy_stop, estimate_stop, wmv_stood, wmv_stop
from dip_ext.study import StudySettings
from speed import speed_policy


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
    device = pick_device(args.device)
    speed = speed_from_flags("dip", device, args) or speed_policy("dip", device)
    print(f"DIP on {device}: {speed.describe()}")
    with_sure = args.sure and sigma is not None and mask is None
    plain = fit(corrupted, config, [Stage(0.0, args.iterations)], sigma=sigma, mask=mask, clean=clean, seed=args.seed,
                snapshot_every=1, device=device, speed=speed, sure=with_sure,
                keep_snapshots=lambda record: _snapshots_of(_plain_stops(record, sigma, with_sure).values()))
    signals = plain.arrays()
    stops = _plain_stops(plain, sigma, with_sure)
    outputs = {name: plain.snapshots[index + 1] for name, index in stops.items()}
    late = []  # the blind rules that the fit's end stopped before their own criterion did
    if sigma is not None:
        recorrupted = fit(corrupted, config, [Stage(StudySettings.recorrupted_scale, args.iterations, StudySettings.patience)],
                          sigma=sigma, mask=mask, clean=clean, seed=args.seed, snapshot_every=1, device=device,
                          speed=speed, keep_snapshots=lambda record: _snapshots_of([_recorrupted_stop(record)]))
        stops["recorrupted"] = _recorrupted_stop(recorrupted)
        outputs["recorrupted"] = recorrupted.snapshots[stops["recorrupted"] + 1]
        late = [rule for rule, ended_first in (
            ("discrepancy (its residual never reached sigma^2)", signals["residual"].min() > sigma ** 2),
            (f"ES-WMV (its variance minimum stood under {WMV_PATIENCE} iterations)",
             "ES-WMV" in stops and not wmv_stood(stops["ES-WMV"], plain.iterations)),
            ("SURE (its estimate was lowest on the last iteration)", stops.get("SURE") == plain.iterations - 1),
            (f"recorrupted (its estimate improved within its last {StudySettings.patience} iterations)",
             recorrupted.iterations == args.iterations)) if ended_first]
    twin = " (with SURE's twin network)" if with_sure else ""
    print(f"{plain.iterations} iterations in {plain.seconds:.0f} s ({plain.iterations / plain.seconds:.2f}/s){twin}")
    print(f"{'corrupted input':<40}            PSNR {psnr(clean, corrupted):6.2f}")
    for name, output in outputs.items():
        scores = quality(clean, output)
        print(f"{name:<40} iteration {stops[name] + 1:5d}  PSNR {scores['psnr']:6.2f}  SSIM {scores['ssim']:.3f}")
    if mask is None:
        for name, denoised in classical_denoisers(observation).items():
            outputs[name] = denoised
            print(f"{name:<40}            PSNR {psnr(clean, denoised):6.2f}")
    if late:
        print(f"the fit ended before these rules could stop: {'; '.join(late)}. Try --iterations {2 * args.iterations}")
    out = args.out or Path("figures/dip") / f"denoise_{Path(args.image).stem.replace(':', '')}.png"
    _picture(clean, corrupted, outputs, out)
    print(f"wrote {out}")


def _plain_stops(record: FitRecord, sigma: float | None, with_sure: bool) -> dict[str, int]:
    """Each rule's stop (0-based index) on what plain DIP's fit has recorded so far: the clean
    image's peak, the last iteration and, with a noise level, the blind rules."""
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


def _recorrupted_stop(record: FitRecord) -> int:
    """The recorrupted rule's stop on what its fit has recorded so far."""
    return estimate_stop(record.arrays()["estimate"])


def _snapshots_of(stops: Iterable[int]) -> set[int]:
    """The snapshots (keyed by iteration count) that hold the outputs at `stops` (0-based indices).
    Every rule's stop on the whole fit is its stop on each part that contains it (a first crossing, a
    running or overall extremum), so a fit that keeps these after each iteration keeps the finals."""
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
    add_speed_flags(parser)
    parser.add_argument("--out", type=Path, default=None, help="picture to write (default figures/dip/denoise_NAME.png)")
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
