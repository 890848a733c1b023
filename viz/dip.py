"""Deep Image Prior's figures and figures/dip/index.md (the second assignment, dip-homework.md).

    python -m viz.dip [--out-dir figures/dip]        (make figures-dip; seconds once figures/dip/cache/ holds the fits)

From an empty cache it fits about 31,000 iterations on the photographs and runs the MNIST start
study on one digit per class (viz/dip_start.py), in two one-thread worker processes: 19 min on 2
idle cores with the MNIST model already trained (`make figures-mnist` trains it; this command trains
it first if it is absent, 9 more minutes). docs/dip.md has the breakdown.

  dip_curves.png    PSNR against iteration, each stopping rule's signal, where each rule stops
  dip_grid.png      clean / noisy / DIP at several iterations / each rule's stop / best classical
  dip_targets.png   the recorrupted targets y + a sigma z and their check targets y - sigma z / a
  dip_ablation.png  depth, width, upsampling, input perturbation, number of stages, noise scale
  dip_start_*.png   DIP as the start of the MNIST reverse process (viz/dip_start.py)

Every photograph is fitted at 64x64 with sigma 25 on the 0..255 scale and seed 0; the study over 8 images, 3
sigmas and 3 seeds is make bench-dip (dip_ext/run_study.py).
"""
import argparse
import hashlib
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from devices import one_thread_workers, set_cpu_threads
from dip_ext.classical import classical_denoisers, estimated_sigma
from dip_ext.fit import Stage, fit
from dip_ext.images import add_noise, load_image
from dip_ext.network import DipConfig
from dip_ext.progressive import stage_scales, target_pair
from dip_ext.quality import psnr
from dip_ext.recorrupted import RECORRUPTED_PATIENCE, RECORRUPTED_SCALE
from dip_ext.stopping import discrepancy_stop, estimate_stop, wmv_stop
from dip_ext.starts import StartSettings, run_all, run_job, start_jobs
from dip_ext.study import StudySettings
from mnist_ext.recipe import DEFAULT_CHECKPOINT, RECIPE
from training import ensure_trained
from viz.dip_start import FIGURE_PER_CLASS, figure_entries, rmse_curve
from viz.index import FigureEntry, write_index
from viz.observe import trend
from viz.style import FIGURES_DIR, PALETTE, save

OUT_DIR = FIGURES_DIR / "dip"
SIGMA = 25
SIZE = 64
GRID_IMAGES = ("camera", "coins")
GRID_ITERATIONS = (100, 300, 1000, 2000)
ABLATION_ITERATIONS = 800  # past the sigma-25 peak (near 450) of every variant tried
SETTINGS = StudySettings()
RULE_COLOURS = {"discrepancy": PALETTE[3], "ES-WMV": PALETTE[2], "recorrupted": PALETTE[1]}


def noisy_image(name: str) -> tuple[np.ndarray, np.ndarray]:
    clean = load_image(name, SIZE)
    return clean, add_noise(clean, SIGMA, torch.Generator().manual_seed(0))


def cached_fit(cache: Path, label: str, noisy: np.ndarray, clean: np.ndarray, config: DipConfig, stages: list[Stage],
               sigma: float | None = None, keep: tuple[int, ...] = ()) -> dict:
    """The fit's signals (FitRecord.arrays()) and its averaged outputs at the iterations in `keep`
    that it reached and at its rules' stops (as "output_K" for iteration K), from cache/ when there."""
    key = hashlib.sha256(repr((config, stages, sigma, keep, noisy.tobytes())).encode()).hexdigest()[:10]
    path = cache / f"{label}_{key}.npz"
    if path.exists():
        with np.load(path) as stored:
            return dict(stored)
    record = fit(noisy, config, stages, sigma=sigma, clean=clean, snapshot_every=1 if keep else 0)
    result = record.arrays()
    if keep:
        stops = _stops(result, sigma)
        wanted = {k for k in keep if k <= record.iterations} | {index + 1 for index in stops.values()}
        result |= {f"output_{k}": record.snapshots[k] for k in wanted}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path.with_suffix(".tmp.npz"), **result)
    path.with_suffix(".tmp.npz").replace(path)
    return result


def _stops(signals: dict, sigma: float | None) -> dict[str, int]:
    """The rules that apply to a fit's signals: plain fits get discrepancy and ES-WMV, recorrupted ones theirs."""
    if not np.all(np.isnan(signals["estimate"])):
        return {"recorrupted": estimate_stop(signals["estimate"])}
    return {"discrepancy": discrepancy_stop(signals["residual"], sigma ** 2), "ES-WMV": wmv_stop(signals["wmv"])}


def _plain_and_recorrupted(cache: Path, name: str, config: DipConfig = SETTINGS.network,
                           iterations: int = SETTINGS.iterations, keep: tuple[int, ...] = ()) -> tuple[dict, dict, float]:
    clean, noisy = noisy_image(name)
    sigma = estimated_sigma(noisy)
    plain = cached_fit(cache, f"{name}_plain", noisy, clean, config, [Stage(0.0, iterations)], sigma, keep)
    recorrupted = cached_fit(cache, f"{name}_recorrupted", noisy, clean, config,
                             [Stage(RECORRUPTED_SCALE, iterations, RECORRUPTED_PATIENCE)], sigma, keep)
    return plain, recorrupted, sigma


# ----- dip_curves.png ------------------------------------------------------------------------------

def curves_observations(numbers: dict) -> str:
    """What to observe, from the numbers dip_curves.png draws."""
    peak, at = numbers["peak"], numbers["peak iteration"]
    parts = [f"Plain DIP's PSNR rises to {peak:.2f} dB at iteration {at}, then falls to {numbers['last']:.2f} dB at "
             f"iteration {numbers['iterations']} as the network fits the noise: where it stops decides the result."]
    for rule, (iteration, psnr) in numbers["stops"].items():
        when = "before" if iteration < at else "after" if iteration > at else "at"
        parts.append(f"{rule} stops at iteration {iteration}, {when} the peak, at {psnr:.2f} dB ({peak - psnr:+.2f} dB "
                     f"from plain DIP's peak).")
    offset, spread = numbers["estimate offset"], numbers["estimate spread"]
    parts.append(f"The recorrupted fit's estimated PSNR lies {abs(offset):.2f} dB {'below' if offset < 0 else 'above'} its "
                 f"true PSNR on average over iterations 100 to the stop, varying by {spread:.2f} dB (std) around that "
                 "offset (the check target's own noise and the error of the estimated sigma are the same at every "
                 "iteration and shift the level). The rule uses only where the estimate is best; there the true PSNR "
                 f"is {numbers['recorrupted below its best']:.2f} dB below its own best.")
    return " ".join(parts)


def curves_figure(cache: Path, out: Path, name: str = "camera") -> FigureEntry:
    plain, recorrupted, sigma = _plain_and_recorrupted(cache, name, keep=GRID_ITERATIONS)  # the grid's fits
    stops = _stops(plain, sigma) | _stops(recorrupted, sigma)
    iterations = np.arange(1, len(plain["psnr"]) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    ax = axes[0]
    ax.plot(iterations, plain["psnr_raw"], color=PALETTE[7], lw=0.6, label="plain DIP, raw output")
    ax.plot(iterations, plain["psnr"], color=PALETTE[0], label="plain DIP, averaged output")
    ax.plot(np.arange(1, len(recorrupted["psnr"]) + 1), recorrupted["psnr"], color=PALETTE[1],
            label=f"fitted to y + {RECORRUPTED_SCALE:g} sigma z")
    peak_index = int(np.argmax(plain["psnr"]))
    ax.plot(peak_index + 1, plain["psnr"][peak_index], "k*", ms=12, label="oracle peak")
    for rule, index in stops.items():
        curve = recorrupted["psnr"] if rule == "recorrupted" else plain["psnr"]
        ax.axvline(index + 1, color=RULE_COLOURS[rule], ls="--", lw=1)
        ax.plot(index + 1, curve[index], "o", color=RULE_COLOURS[rule], label=f"{rule} stop")
    ax.set(xscale="log", xlabel="iteration", ylabel="PSNR to the clean image (dB)", ylim=(14, None),
           title=f"{name}, sigma {SIGMA}, {SIZE}x{SIZE}")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(iterations, plain["residual"], color=PALETTE[3], label="residual ||f - y||^2 / N")
    ax.axhline(sigma ** 2, color=PALETTE[3], ls=":", label="estimated sigma^2 (discrepancy level)")
    ax.plot(iterations, plain["wmv"], color=PALETTE[2], label="windowed variance of the outputs (ES-WMV)")
    ax.set(xscale="log", yscale="log", xlabel="iteration", title="what the rules on plain DIP watch")
    ax.legend(fontsize=7)
    ax = axes[2]
    before = np.arange(stops["recorrupted"] + 1)
    estimated = -10 * np.log10(np.clip(recorrupted["estimate"], 1e-6, None))
    ax.plot(before + 1, recorrupted["psnr"][before], color=PALETTE[1], label="true PSNR (uses the clean image)")
    ax.plot(before + 1, estimated[before], color=PALETTE[1], ls="--", label="estimated from y - sigma z / a")
    ax.set(xlabel="iteration", ylabel="PSNR (dB)", ylim=(14, None),
           title="the recorrupted fit, up to its stop: estimate against truth")
    ax.legend(fontsize=7)
    save(fig, out)
    window = before[before >= 99]  # iterations 100 to the stop; the first ones are far below the range shown
    difference = estimated[window] - recorrupted["psnr"][window]
    numbers = {"peak": float(plain["psnr"][peak_index]), "peak iteration": peak_index + 1,
               "last": float(plain["psnr"][-1]), "iterations": len(plain["psnr"]),
               "stops": {rule: (index + 1, float((recorrupted if rule == "recorrupted" else plain)["psnr"][index]))
                         for rule, index in stops.items()},
               "estimate offset": float(difference.mean()), "estimate spread": float(difference.std()),
               "recorrupted below its best": float(np.max(recorrupted["psnr"]) - recorrupted["psnr"][stops["recorrupted"]])}
    return FigureEntry(out, "Left: PSNR to the clean image of plain DIP (raw and averaged output) and of DIP fitted to the "
                            "recorrupted target, with each rule's stop and the oracle peak. Middle: the residual and the "
                            "estimated noise variance (discrepancy principle) and the windowed output variance (ES-WMV). "
                            "Right: the recorrupted fit's estimated PSNR against its true PSNR.",
                       "make figures-dip", curves_observations(numbers), numbers)


# ----- dip_grid.png ----------------------------------------------------------------------------------

def grid_observations(numbers: dict) -> str:
    parts = []
    for name, row in numbers.items():
        fixed = [row[f"iteration {k}"] for k in GRID_ITERATIONS]
        parts.append(f"{name}: over iterations {', '.join(map(str, GRID_ITERATIONS))} DIP's PSNR (dB) "
                     f"{trend(fixed, '{:.2f}')}; the best classical denoiser ({row['best classical name']}) gives "
                     f"{row['best classical']:.2f} dB, and the best of DIP's rules here ({row['best rule']}; both "
                     f"picked with the clean image, an oracle choice) {row[row['best rule']]:.2f} dB.")
    return " ".join(parts)


def grid_figure(cache: Path, out: Path) -> FigureEntry:
    numbers, rows = {}, []
    for name in GRID_IMAGES:
        clean, noisy = noisy_image(name)
        plain, recorrupted, sigma = _plain_and_recorrupted(cache, name, keep=GRID_ITERATIONS)
        stops = _stops(plain, sigma) | _stops(recorrupted, sigma)
        panels = {"clean": clean, "noisy": noisy}
        panels |= {f"iteration {k}": plain[f"output_{k}"] for k in GRID_ITERATIONS}
        panels |= {rule: (recorrupted if rule == "recorrupted" else plain)[f"output_{index + 1}"] for rule, index in stops.items()}
        classical = classical_denoisers(noisy)
        best = max(classical, key=lambda method: psnr(clean, classical[method]))
        panels[f"{best} (best classical,\noracle pick)"] = classical[best]
        rows.append(panels)
        numbers[name] = {label: psnr(clean, image) for label, image in panels.items() if label != "clean"}
        numbers[name] |= {"best classical": psnr(clean, classical[best]), "best classical name": best,
                          "best rule": max(stops, key=lambda rule: numbers[name][rule])}
    fig, axes = plt.subplots(len(rows), len(rows[0]), figsize=(1.7 * len(rows[0]), 2.0 * len(rows)), constrained_layout=True)
    for row_axes, panels in zip(axes, rows):
        clean = panels["clean"]
        for ax, (label, image) in zip(row_axes, panels.items()):
            ax.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_title(label if label == "clean" else f"{label}\n{psnr(clean, image):.2f} dB", fontsize=7)
            ax.axis("off")
    save(fig, out)
    return FigureEntry(out, f"Each row: the clean image, the noisy one (sigma {SIGMA}), DIP's averaged output at fixed "
                            "iterations, at each rule's stop, and the best of scikit-image's classical denoisers; PSNR "
                            "under each.", "make figures-dip", grid_observations(numbers), numbers)


# ----- dip_targets.png -------------------------------------------------------------------------------

def targets_observations(numbers: dict) -> str:
    stds = numbers["fit target std"]
    checks = numbers["check target std"]
    return (f"Going from the first stage to the last (a = {', '.join(f'{a:.2f}' for a in numbers['scales'])}), the fit "
            f"targets' measured noise std (0..255 scale) {trend(stds, '{:.1f}')} and the check targets' "
            f"{trend(checks, '{:.1f}')}: a target closer to y leaves a noisier, less precise check.")


def targets_figure(out: Path, name: str = "camera") -> FigureEntry:
    clean, noisy = noisy_image(name)
    sigma = estimated_sigma(noisy)
    z = torch.randn(noisy.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).numpy()
    scales = stage_scales(4, 2.0, 0.25)
    fig, axes = plt.subplots(2, len(scales) + 1, figsize=(2.2 * (len(scales) + 1), 4.8), constrained_layout=True)
    axes[0, 0].imshow(np.clip(noisy, 0, 1), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title(f"y (sigma {SIGMA})", fontsize=8)
    axes[1, 0].imshow(clean, cmap="gray", vmin=0, vmax=1)
    axes[1, 0].set_title("clean (not used)", fontsize=8)
    fit_stds, check_stds = [], []
    for column, scale in enumerate(scales, start=1):
        fit_target, check_target = target_pair(noisy, z, scale, sigma)
        fit_stds.append(float((fit_target - clean).std() * 255))
        check_stds.append(float((check_target - clean).std() * 255))
        axes[0, column].imshow(np.clip(fit_target, 0, 1), cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_title(f"fit y + {scale:.2f} sigma z\nnoise std {fit_stds[-1]:.1f}", fontsize=8)
        axes[1, column].imshow(np.clip(check_target, 0, 1), cmap="gray", vmin=0, vmax=1)
        axes[1, column].set_title(f"check y - sigma z / {scale:.2f}\nnoise std {check_stds[-1]:.1f}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    save(fig, out)
    numbers = {"scales": list(scales), "fit target std": fit_stds, "check target std": check_stds}
    return FigureEntry(out, "Top: the diffusion-style targets, most corrupted first, each y plus a multiple of one noise "
                            "z; bottom: the check target paired with each, whose noise is independent of the fit "
                            "target's, so that ||f - check||^2 estimates the error to the clean image.",
                       "make figures-dip", targets_observations(numbers), numbers)


# ----- dip_ablation.png ------------------------------------------------------------------------------

NETWORK_VARIANTS = {
    "default": SETTINGS.network,
    "depth 3": replace(SETTINGS.network, depth=3),
    "width 32": replace(SETTINGS.network, channels_down=32, channels_up=32),
    "nearest upsampling": replace(SETTINGS.network, upsampling="nearest"),
    "no input perturbation": replace(SETTINGS.network, input_noise_std=0.0),
    "no skip connections": replace(SETTINGS.network, channels_skip=0),
}
TARGET_VARIANTS = {
    "1 stage, a = 0.25 (default)": stage_scales(1, 0.25, 0.25),
    "1 stage, a = 0.5": stage_scales(1, 0.5, 0.5),
    "1 stage, a = 0.1": stage_scales(1, 0.1, 0.1),
    "2 stages, a = 0.5, 0.25": stage_scales(2, 0.5, 0.25),
    "3 stages geometric, a = 2 .. 0.25": stage_scales(3, 2.0, 0.25),
    "3 stages linear, a = 2 .. 0.25": stage_scales(3, 2.0, 0.25, "linear"),
}


def ablation_observations(numbers: dict) -> str:
    network, targets = numbers["network"], numbers["targets"]
    best_network = max(network, key=lambda name: network[name]["peak"])
    worst_network = min(network, key=lambda name: network[name]["peak"])
    best_targets = max(targets, key=lambda name: targets[name]["stop"])
    worst_targets = min(targets, key=lambda name: targets[name]["stop"])
    return (f"Network (mean over {', '.join(GRID_IMAGES)}): the highest peak is {best_network} "
            f"({network[best_network]['peak']:.2f} dB), the lowest {worst_network} ({network[worst_network]['peak']:.2f} dB). "
            f"Targets: the recorrupted rule's output is best with {best_targets} ({targets[best_targets]['stop']:.2f} dB) "
            f"and worst with {worst_targets} ({targets[worst_targets]['stop']:.2f} dB); plain DIP's peak with the default "
            f"network is {network['default']['peak']:.2f} dB.")


def ablation_fits(cache: Path, name: str) -> tuple[dict, dict]:
    """({network variant: (plain peak, recorrupted rule's PSNR)}, {target variant: (peak, rule's PSNR)}) on one image."""
    network, targets = {}, {}
    for label, config in NETWORK_VARIANTS.items():
        if config == SETTINGS.network:  # the grid's fits: their first ABLATION_ITERATIONS are this run
            plain, recorrupted, _ = _plain_and_recorrupted(cache, name, keep=GRID_ITERATIONS)
        else:
            plain, recorrupted, _ = _plain_and_recorrupted(cache, name, config, ABLATION_ITERATIONS)
        network[label] = (float(np.max(plain["psnr"][:ABLATION_ITERATIONS])),
                          float(recorrupted["psnr"][estimate_stop(recorrupted["estimate"])]))
    for label, scales in TARGET_VARIANTS.items():
        if scales == (RECORRUPTED_SCALE,):
            _, record, _ = _plain_and_recorrupted(cache, name, keep=GRID_ITERATIONS)
        else:
            clean, noisy = noisy_image(name)
            stages = [Stage(scale, ABLATION_ITERATIONS, RECORRUPTED_PATIENCE) for scale in scales]
            record = cached_fit(cache, f"{name}_stages", noisy, clean, SETTINGS.network, stages, estimated_sigma(noisy))
        targets[label] = (float(np.max(record["psnr"])), float(record["psnr"][estimate_stop(record["estimate"])]))
    return network, targets


def ablation_figure(cache: Path, out: Path) -> FigureEntry:
    per_image = [ablation_fits(cache, name) for name in GRID_IMAGES]
    network, targets = ({label: {"peak": float(np.mean([fits[part][label][0] for fits in per_image])),
                                 "stop": float(np.mean([fits[part][label][1] for fits in per_image]))}
                         for label in per_image[0][part]} for part in (0, 1))
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5), constrained_layout=True)
    for ax, results, title in ((axes[0], network, "network (plain DIP peak; recorrupted rule's output)"),
                               (axes[1], targets, "recorrupted targets (peak and rule's output of that fit)")):
        labels = list(results)
        positions = np.arange(len(labels))
        ax.barh(positions - 0.2, [results[label]["peak"] for label in labels], 0.4, color=PALETTE[0], label="oracle peak")
        ax.barh(positions + 0.2, [results[label]["stop"] for label in labels], 0.4, color=PALETTE[1],
                label="at the recorrupted rule's stop")
        ax.set_yticks(positions, labels, fontsize=8)
        ax.invert_yaxis()
        lowest = min(min(r["peak"], r["stop"]) for r in results.values())
        ax.set(xlim=(lowest - 1, None), xlabel="PSNR (dB), mean over " + " and ".join(GRID_IMAGES), title=title)
        ax.legend(fontsize=8, loc="lower right")
    save(fig, out)
    numbers = {"network": network, "targets": targets}
    return FigureEntry(out, f"Ablations at sigma {SIGMA}, {ABLATION_ITERATIONS} iterations, mean over {', '.join(GRID_IMAGES)}: "
                            "left, the network's depth, width, upsampling, input perturbation and skip connections; right, "
                            "the recorrupted targets' number of stages, schedule and noise scale a.",
                       "make figures-dip", ablation_observations(numbers), numbers)


def make_all(out_dir: Path = OUT_DIR, workers: int = 2) -> Path:
    """Every DIP figure and figures/dip/index.md. The fits not yet cached run first, in `workers`
    one-thread processes: each photograph's fits, and each corruption of the MNIST start study."""
    cache = out_dir / "cache"
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = ensure_trained(RECIPE, DEFAULT_CHECKPOINT)
    jobs = start_jobs(model_path, cache / "start", (0,), FIGURE_PER_CLASS)  # seed 0; make bench-dip-start runs three
    with one_thread_workers(workers) as pool:
        futures = [pool.submit(ablation_fits, cache, name) for name in GRID_IMAGES]
        futures += [pool.submit(run_job, *job) for job in jobs if not job[0].exists()]
        for future in tqdm(futures, desc="DIP fits (photographs, then MNIST starts)"):
            future.result()
    levels, rmse, T = rmse_curve(model_path, FIGURE_PER_CLASS)
    entries = [curves_figure(cache, out_dir / "dip_curves.png"), grid_figure(cache, out_dir / "dip_grid.png"),
               targets_figure(out_dir / "dip_targets.png"), ablation_figure(cache, out_dir / "dip_ablation.png")]
    entries += figure_entries(run_all(jobs, workers), levels, rmse, StartSettings(), T, out_dir)
    return write_index(entries, out_dir, title="Deep Image Prior figures", command="make figures-dip",
                       extra=["The stopping study's tables (6 colour photographs at 128x128 x 3 sigmas x 2 seeds) are made by `make bench-dip`; "
                              "the start study over several seeds by `make bench-dip-start`; see docs/dip.md."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    set_cpu_threads()
    print(f"wrote {make_all(args.out_dir)}")


if __name__ == "__main__":
    main()
