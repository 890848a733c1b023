"""DIP as the starting point of the reverse process, measured on held-out MNIST digits (Example 1).

    python -m dip_ext.start_study                  (make figures-dip-start; trains the MNIST model first if absent)
    python -m dip_ext.start_study --per-class 5 --ckpt checkpoints/mnist/ddpm.pt

For each corruption (Gaussian noise of std --sigma on the 0..255 scale; a random half of the
pixels missing) and each held-out digit, DIP is fitted once and its averaged output kept after
each of --dip-iterations; every start (DIP after k iterations, the observation itself, pure noise)
is noised to t0 and taken down by DDIM with `steps` steps (restore.py), with and without the
digit's label (guidance w = 1). Printed: PSNR and SSIM to the clean digit, the evaluation
classifier's accuracy on the label, the Frechet distance in its feature space, and the seconds
per digit including the DIP fit. Written: the table and figures to figures/dip/start/.

The evaluation classifier was trained on the held-out digits (mnist_ext/scoring.py), the same
clean digits restored here: its accuracy says whether a restored digit still reads as its label,
and is optimistic against digits it never saw.
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from cli import command_parser, run_command
from devices import pick_device
from dip_ext.fit import Stage, fit
from dip_ext.images import digit_to_unit, unit_to_digit
from dip_ext.network import DipConfig
from dip_ext.restore import distortion_by_level, restore
from mnist_ext.data import NUM_CLASSES, model_and_held_out_digits
from mnist_ext.recipe import DEFAULT_CHECKPOINT, RECIPE, load_model
from mnist_ext.scoring import load_or_train_classifier, score
from training import ensure_trained
from viz.style import PALETTE, save

OUT_DIR = Path("figures/dip/start")
DIGIT_DIP = DipConfig(depth=4)
"""28 x 28 digits: depth 4 runs the network at 32 x 32 (depth 5 would need 64 x 64)."""
T0_FRACTIONS = (0.1, 0.2, 0.5)
STEPS = (2, 5, 10, 25)
GUIDANCE = 1.0


@dataclass(frozen=True)
class Corruption:
    name: str
    sigma: float = 0.0  # noise std, 0..255 scale
    missing: float = 0.0  # fraction of pixels removed at random


def corrupt(clean: np.ndarray, corruption: Corruption, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """(observation, mask or None) for a clean digit (28, 28) in [0, 1]."""
    noise = torch.randn(clean.shape, generator=generator, dtype=torch.float64).numpy() * corruption.sigma / 255
    mask = None
    if corruption.missing:
        mask = (torch.rand(clean.shape, generator=generator, dtype=torch.float64) >= corruption.missing).numpy().astype(float)
    observation = clean + noise
    return (observation, None) if mask is None else (observation * mask, mask)


def _to_model(images: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) in [0, 1] -> (N, 1, 28, 28) in the model's [-1, 1]."""
    return unit_to_digit(images)[:, None]


def _to_unit(images: torch.Tensor) -> np.ndarray:
    """(N, 1, 28, 28) in [-1, 1] -> (N, 28, 28) in [0, 1]."""
    return digit_to_unit(images[:, 0])


def quality(clean: np.ndarray, restored: np.ndarray) -> tuple[float, float]:
    """Mean PSNR and SSIM over digits (N, 28, 28) in [0, 1]."""
    psnr = [peak_signal_noise_ratio(c, r, data_range=1.0) for c, r in zip(clean, restored)]
    ssim = [structural_similarity(c, r, data_range=1.0) for c, r in zip(clean, restored)]
    return float(np.mean(psnr)), float(np.mean(ssim))


def dip_starts(observations: np.ndarray, masks: list, iterations: tuple[int, ...], seed: int) -> tuple[dict, float]:
    """{k: (N, 28, 28) DIP outputs after k iterations}, and the seconds per digit of the longest fit."""
    outputs = {k: [] for k in iterations}
    started = time.perf_counter()
    for index, (observation, mask) in enumerate(zip(observations, masks)):
        record = fit(observation, DIGIT_DIP, [Stage(0.0, max(iterations))], mask=mask, seed=seed + index,
                     snapshot_every=1, progress=False)
        for k in iterations:
            outputs[k].append(record.snapshots[k].astype(np.float64))
    return {k: np.stack(v) for k, v in outputs.items()}, (time.perf_counter() - started) / len(observations)


def run(model, schedule, classifier, real: torch.Tensor, clean: np.ndarray, labels: torch.Tensor,
        corruptions: list[Corruption], dip_iterations: tuple[int, ...], seed: int = 0,
        t0_fractions: tuple[float, ...] = T0_FRACTIONS, step_counts: tuple[int, ...] = STEPS) -> list[dict]:
    """Every start x t0 x steps x label setting on every corruption: one row each."""
    rows = []
    null = torch.full_like(labels, model.null_label)
    for corruption in corruptions:
        generator = torch.Generator().manual_seed(seed)
        observed = [corrupt(digit, corruption, generator) for digit in clean]
        observations = np.stack([o for o, _ in observed])
        masks = [m for _, m in observed]
        dip, dip_seconds = dip_starts(observations, masks, dip_iterations, seed)
        starts = {f"DIP {k}": (dip[k], dip_seconds * k / max(dip_iterations)) for k in dip_iterations}
        starts["observation"] = (observations, 0.0)
        mask_tensor = None if masks[0] is None else torch.as_tensor(np.stack(masks), dtype=torch.float32)[:, None]
        observation_tensor = None if mask_tensor is None else _to_model(observations)

        def add(start_name, t0, steps, label, restored, seconds):
            result = score(classifier, restored, labels, real, seed=seed)
            psnr, ssim = quality(clean, _to_unit(restored))
            rows.append({"corruption": corruption.name, "start": start_name, "t0": t0, "steps": steps, "label": label,
                         "psnr": psnr, "ssim": ssim, "accuracy": result["accuracy"], "frechet": result["frechet"],
                         "frechet_floor": result["frechet_floor"], "seconds per digit": seconds})

        for name, (images, fit_seconds) in starts.items():
            add(name, 0, 0, False, _to_model(images), fit_seconds)  # the start alone, no diffusion
        for name, (images, fit_seconds) in list(starts.items()) + [("noise", (None, 0.0))]:
            t0s = [schedule.T] if name == "noise" else [round(f * schedule.T) for f in t0_fractions]
            for t0 in t0s:
                for steps in [s for s in step_counts if s <= t0]:
                    for label in (False, True):
                        start = torch.zeros(len(labels), 1, 28, 28) if images is None else _to_model(images)
                        began = time.perf_counter()
                        restored = restore(model, schedule, start, t0, labels if label else null, steps=steps,
                                           guidance_weight=GUIDANCE if label else 0.0, observation=observation_tensor,
                                           mask=mask_tensor, generator=torch.Generator().manual_seed(seed))
                        add(name, t0, steps, label, restored, fit_seconds + (time.perf_counter() - began) / len(labels))
    return rows


def best_tradeoffs(rows: list[dict]) -> list[str]:
    """Per corruption: the fewest DDIM steps from each start that beat DIP alone (its best k) by
    1 dB PSNR with label accuracy no worse than generation from pure noise with the label."""
    lines = []
    for corruption in sorted({row["corruption"] for row in rows}):
        chosen = [row for row in rows if row["corruption"] == corruption]
        dip_alone = max((row for row in chosen if row["start"].startswith("DIP") and row["t0"] == 0), key=lambda r: r["psnr"])
        generation = max((row for row in chosen if row["start"] == "noise" and row["label"]), key=lambda r: r["steps"])
        lines.append(f"{corruption}: DIP alone at best {dip_alone['psnr']:.2f} dB ({dip_alone['start']}); generation from "
                     f"noise with the label, {generation['steps']} steps: accuracy {100 * generation['accuracy']:.0f}%, "
                     f"{generation['psnr']:.2f} dB")
        for start in dict.fromkeys(row["start"] for row in chosen):
            good = [row for row in chosen if row["start"] == start and row["t0"] > 0
                    and row["psnr"] >= dip_alone["psnr"] + 1 and row["accuracy"] >= generation["accuracy"]]
            if good:
                best = min(good, key=lambda r: (r["steps"], r["t0"]))
                lines.append(f"  {start}: {best['steps']} steps from t0 = {best['t0']} ({'with' if best['label'] else 'without'} "
                             f"label): {best['psnr']:.2f} dB, SSIM {best['ssim']:.3f}, accuracy {100 * best['accuracy']:.0f}%, "
                             f"{best['seconds per digit']:.2f} s per digit")
            else:
                lines.append(f"  {start}: no setting reaches DIP alone + 1 dB with that accuracy")
    return lines


def _figures(rows: list[dict], levels: list[int], rmse: list[float], T: int, out_dir: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot([T - level for level in levels], rmse, color=PALETTE[0])
    ax.set(xlabel=f"reverse process steps taken (T - t), from t = T = {T} on the left to t = 0 on the right",
           ylabel="RMSE of predicted x0 (0..255 scale)", title="Distortion along the reverse process (DDPM Fig. 5, left)")
    save(fig, out_dir / "rmse_by_step.png")
    for corruption in sorted({row["corruption"] for row in rows}):
        chosen = [row for row in rows if row["corruption"] == corruption and row["label"]]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
        for colour, start in zip(PALETTE, dict.fromkeys(row["start"] for row in chosen)):
            t0s = sorted({row["t0"] for row in chosen if row["start"] == start and row["t0"] > 0})
            for t0 in t0s[-1:]:  # quality against steps, at the start's largest t0
                points = sorted((row["steps"], row["psnr"]) for row in chosen if row["start"] == start and row["t0"] == t0)
                axes[0].plot(*zip(*points), "o-", color=colour, label=f"{start}, t0 = {t0}")
            points = sorted((row["t0"], row["psnr"]) for row in chosen if row["start"] == start and row["steps"] == 5)
            if points:
                axes[1].plot(*zip(*points), "o-", color=colour, label=start)
        axes[0].set(xscale="log", xlabel="DDIM steps", ylabel="PSNR to the clean digit (dB)", title=f"{corruption}: PSNR against steps")
        axes[1].set(xlabel="t0 (0 = the start alone)", ylabel="PSNR (dB)", title=f"{corruption}: PSNR against t0, 5 steps")
        for ax in axes:
            ax.legend(fontsize=7)
        save(fig, out_dir / f"quality_{corruption.split()[0]}.png")


def main(args) -> None:
    model_path = ensure_trained(RECIPE, args.ckpt, device=pick_device(args.device))
    model, config = load_model(model_path)
    schedule = config.make_schedule()
    classifier, _ = load_or_train_classifier()
    _, (held_images, held_labels) = model_and_held_out_digits()
    chosen = torch.cat([torch.nonzero(held_labels == digit)[:args.per_class, 0] for digit in range(NUM_CLASSES)])
    clean = _to_unit(held_images[chosen])
    labels = held_labels[chosen]
    corruptions = [Corruption(f"noise {args.sigma:g}", sigma=args.sigma), Corruption("half missing", missing=0.5)]
    rows = run(model, schedule, classifier, held_images, clean, labels, corruptions, tuple(args.dip_iterations), args.seed)
    levels, rmse = distortion_by_level(model, schedule, held_images[chosen], labels, torch.Generator().manual_seed(args.seed))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "rows.json").write_text(json.dumps(rows, indent=1))
    _figures(rows, levels, rmse, schedule.T, args.out_dir)
    print("| corruption | start | t0 | steps | label | PSNR | SSIM | accuracy | Frechet (floor) | s/digit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if row["label"] or row["t0"] == 0:
            print(f"| {row['corruption']} | {row['start']} | {row['t0']} | {row['steps']} | {'w=1' if row['label'] else '-'} | "
                  f"{row['psnr']:.2f} | {row['ssim']:.3f} | {100 * row['accuracy']:.0f}% | "
                  f"{row['frechet']:.1f} ({row['frechet_floor']:.1f}) | {row['seconds per digit']:.2f} |")
    print("\n" + "\n".join(best_tradeoffs(rows)))
    print(f"\nRMSE of the predicted x0 (0..255): t = {levels[0]}: {rmse[0]:.1f}, t = {levels[len(levels) // 2]}: "
          f"{rmse[len(levels) // 2]:.1f}, t = {levels[-1]}: {rmse[-1]:.1f}; figures in {args.out_dir}")


def parser():
    parser = command_parser(__doc__)
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CHECKPOINT, help="the trained MNIST model")
    parser.add_argument("--per-class", type=int, default=3, help="held-out digits per class (default 3)")
    parser.add_argument("--sigma", type=float, default=75.0, help="noise std of the noise corruption, 0..255 scale")
    parser.add_argument("--dip-iterations", type=int, nargs="+", default=[50, 200, 600], help="DIP starts after k iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
