"""The MNIST extension's figures (problem set item 5) and figures/mnist/index.md.

    python -m viz.mnist [--ckpt checkpoints/mnist/ddpm.pt] [--out-dir figures/mnist] [--seed 0]

The model at --ckpt is trained with the default configuration first if it is not there (about a
quarter of an hour on a 2-core CPU), or resumed if its training was cut short.

  mnist_grid.png       64 digits with chosen labels, the label tensor printed beside them
  mnist_trajectory.png one digit from noise to data: x_t and the predicted x_0 at chosen t
  mnist_guidance.png   the guidance weight w: the same noise at each w, and measured accuracy and diversity
  mnist_settling.png   "part by part or all at once?": the step at which each pixel settles
"""
import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from ddpm import NoisePredictor
from mnist_ext.data import NUM_CLASSES, model_and_held_out_digits
from devices import pick_device, set_cpu_threads
from mnist_ext.generate import DEFAULT_GUIDANCE, DEFAULT_STEPS, generate
from mnist_ext.recipe import DEFAULT_CHECKPOINT, RECIPE, load_model
from mnist_ext.scoring import load_or_train_classifier, score
from samplers import predict_x0, sample
from training import ensure_trained
from utils import Schedule, guided_eps
from viz.index import FigureEntry, write_index
from viz.style import FIGURES_DIR, PALETTE, save

OUT_DIR = FIGURES_DIR / "mnist"
GRID_LABELS = (torch.arange(64) % NUM_CLASSES).reshape(8, 8)
GUIDANCE_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
SETTLE_TOLERANCE = 0.2  # a pixel has settled once its predicted value stays within this of its final value
DIGIT_CMAP = "gray"


def trained_model(ckpt: Path = DEFAULT_CHECKPOINT) -> tuple[NoisePredictor, Schedule]:
    """The model at ckpt, on the CPU; trained (on the best device) with the default MnistConfig if
    absent, resumed if unfinished."""
    model, config = load_model(ensure_trained(RECIPE, ckpt, device=pick_device()))
    return model, config.make_schedule()


def _show_digit(ax, image: Tensor, title: str | None = None) -> None:
    ax.imshow(image.reshape(28, 28).numpy(), cmap=DIGIT_CMAP, vmin=-1, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title is not None:
        ax.set_title(title, fontsize=8)


@torch.no_grad()
def denoising_path(model, schedule: Schedule, labels: Tensor, guidance_weight: float, seed: int) -> tuple[Tensor, Tensor]:
    """Ancestral DDPM on all T steps, and what the model predicts the clean digit to be along the way.

    Returns x (T + 1, N, 1, 28, 28) with x[t] = x_t (x[0] the digit), and x0_hat of the same shape:
    x0_hat[t] = (x_t - sqrt(1 - abar_t) epsbar(x_t, t)) / sqrt(abar_t) with the guided eps that
    the sampler used at that step, clipped to the pixel range; x0_hat[0] = x_0, clipped likewise.
    """
    x = sample(model, schedule, len(labels), label=labels, guidance_weight=guidance_weight, shape=(1, 28, 28),
               generator=torch.Generator().manual_seed(seed), record_trajectory=True)
    x0_hat = [x[0].clamp(-1, 1)]
    for level in range(1, schedule.T + 1):
        t = torch.full((len(labels),), level - 1, dtype=torch.long)  # x_t enters the network at index t - 1
        eps = guided_eps(model, x[level], t, labels, guidance_weight)
        x0_hat.append(predict_x0(x[level], eps, float(schedule.alphas_cumprod[level - 1])).clamp(-1, 1))
    return x, torch.stack(x0_hat)


def settle_steps(x0_hat: Tensor, tolerance: float = SETTLE_TOLERANCE) -> Tensor:
    """For each pixel, the step of the reverse process from which its predicted value stays within
    `tolerance` of its final value: x0_hat (T + 1, N, ...) indexed by t -> (N, ...) int64 in 0..T.

    The reverse process runs from t = T down to 0, so settle = (lowest t where it strays) - 1, and
    T for a pixel that never strays: a large settling step means decided early.
    """
    levels = x0_hat.shape[0]
    strays = (x0_hat - x0_hat[0]).abs() > tolerance  # (T + 1, N, ...)
    t = torch.arange(levels).reshape(-1, *[1] * (x0_hat.dim() - 1))
    return torch.where(strays, t, levels).amin(dim=0) - 1


def grid_figure(model, schedule: Schedule, out: Path, seed: int) -> FigureEntry:
    images = generate(model, schedule, GRID_LABELS.reshape(-1), seed=seed)
    fig = plt.figure(figsize=(11, 6.2), constrained_layout=True)
    digits, text = fig.subfigures(1, 2, width_ratios=[1.25, 1])
    axes = digits.subplots(8, 8)
    for ax, image, label in zip(axes.ravel(), images, GRID_LABELS.reshape(-1)):
        _show_digit(ax, image)
        ax.text(1, 4, str(int(label)), color=PALETTE[1], fontsize=8, fontweight="bold")
    digits.suptitle(f"64 generated digits (DDIM, {DEFAULT_STEPS} steps, w = {DEFAULT_GUIDANCE:g}); label in orange")
    text_ax = text.subplots()
    text_ax.axis("off")
    text_ax.text(0, 0.5, "labels =\n" + str(GRID_LABELS.numpy()), family="monospace", fontsize=11, va="center")
    save(fig, out)
    return FigureEntry(out, "64 digits generated for the label tensor printed on the right (row by row), with "
                            "classifier-free guidance.",
                       f"python -m viz.mnist --seed {seed}",
                       "Each digit is the class it was asked for, in varied handwriting; backgrounds are clean "
                       "because DDIM clips its predicted digit to the pixel range [-1, 1].")


def trajectory_figure(model, schedule: Schedule, out: Path, seed: int, label: int = 3) -> FigureEntry:
    x, x0_hat = denoising_path(model, schedule, torch.tensor([label]), DEFAULT_GUIDANCE, seed)
    shown = sorted({int(round(f * schedule.T)) for f in (1, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.04, 0)}, reverse=True)
    fig, axes = plt.subplots(2, len(shown), figsize=(1.35 * len(shown), 3.2), constrained_layout=True)
    for column, t in enumerate(shown):
        _show_digit(axes[0, column], x[t, 0].clamp(-1, 1), f"t = {t}")
        _show_digit(axes[1, column], x0_hat[t, 0])
    axes[0, 0].set_ylabel("x_t")
    axes[1, 0].set_ylabel("predicted x_0")
    fig.suptitle(f"One digit '{label}' from noise (left) to data (right): ancestral DDPM, T = {schedule.T}, w = {DEFAULT_GUIDANCE:g}")
    save(fig, out)
    return FigureEntry(out, f"The reverse process for one digit {label}: x_t (top) and the model's prediction of the "
                            "final digit from x_t (bottom) at chosen t.",
                       f"python -m viz.mnist --seed {seed}",
                       "x_t stays noise-like until late, but the predicted x_0 shows a blurry, average digit of "
                       "the class early on and sharpens into one particular digit: the global shape is decided "
                       "long before the noise is gone.")


def guidance_figure(model, schedule: Schedule, classifier, out: Path, seed: int, per_class: int = 20) -> FigureEntry:
    (reference, _), _ = model_and_held_out_digits()
    labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)
    results, examples = [], []
    for weight in GUIDANCE_WEIGHTS:
        images = generate(model, schedule, labels, guidance_weight=weight, seed=seed)
        results.append(score(classifier, images, labels, reference))
        examples.append(images[::per_class])  # the first digit of each class, drawn from the same noise at every w
    fig = plt.figure(figsize=(13, 6), constrained_layout=True)
    grid_part, curve_part = fig.subfigures(1, 2, width_ratios=[1.5, 1])
    axes = grid_part.subplots(len(GUIDANCE_WEIGHTS), NUM_CLASSES)
    for row, (weight, images) in enumerate(zip(GUIDANCE_WEIGHTS, examples)):
        for column in range(NUM_CLASSES):
            _show_digit(axes[row, column], images[column])
        axes[row, 0].set_ylabel(f"w = {weight:g}", fontsize=9)
    grid_part.suptitle("The same starting noise at each guidance weight w")
    accuracy_ax = curve_part.subplots()
    accuracy_ax.plot(GUIDANCE_WEIGHTS, [100 * r["accuracy"] for r in results], "o-", color=PALETTE[0], label="accuracy")
    accuracy_ax.set_xlabel("guidance weight w")
    accuracy_ax.set_ylabel("read as their label (%)", color=PALETTE[0])
    frechet_ax = accuracy_ax.twinx()
    frechet_ax.plot(GUIDANCE_WEIGHTS, [r["frechet"] for r in results], "s--", color=PALETTE[3], label="Frechet distance")
    frechet_ax.set_ylabel("Frechet distance to real digits\n(classifier features, not Inception FID)", color=PALETTE[3])
    frechet_ax.axhline(results[0]["frechet_floor"], ls=":", color=PALETTE[3])
    frechet_ax.annotate("real digits in their place", (GUIDANCE_WEIGHTS[-1], results[0]["frechet_floor"]), ha="right",
                        va="bottom", color=PALETTE[3], fontsize=8)
    frechet_ax.grid(False)
    accuracy_ax.set_title(f"{len(labels)} digits per w, DDIM {DEFAULT_STEPS} steps")
    save(fig, out)
    accuracies = ", ".join(f"w = {w:g}: {100 * r['accuracy']:.1f}%" for w, r in zip(GUIDANCE_WEIGHTS, results))
    frechets = ", ".join(f"{r['frechet']:.1f}" for r in results) + f" (real digits in their place: {results[0]['frechet_floor']:.1f})"
    return FigureEntry(out, "A guidance-weight sweep: one digit of each class from the same noise at each w (left); "
                            "the fraction read as their label by the evaluation classifier, and the Frechet distance "
                            "to real digits in its feature space (right).",
                       f"python -m viz.mnist --seed {seed}",
                       f"Measured accuracy: {accuracies}; Frechet distance at the same w: {frechets}. At "
                       f"{len(labels)} digits the distance is noisy and biased upward, so only its trend counts. Guidance "
                       "trades diversity for fidelity: as w grows the digits become bolder and more typical of "
                       "their class, and beyond the accuracy plateau larger w only makes them less varied.")


def settling_figure(model, schedule: Schedule, out: Path, seed: int, per_class: int = 4) -> FigureEntry:
    labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)
    _, x0_hat = denoising_path(model, schedule, labels, DEFAULT_GUIDANCE, seed)
    settle = settle_steps(x0_hat)[:, 0]  # (N, 28, 28)
    final = x0_hat[0, :, 0]
    stroke = final > 0
    fig = plt.figure(figsize=(13, 5.5), constrained_layout=True)
    maps_part, histogram_part = fig.subfigures(1, 2, width_ratios=[1.2, 1])
    axes = maps_part.subplots(2, 5)
    for column, index in enumerate(range(0, len(labels), len(labels) // 5)[:5]):
        _show_digit(axes[0, column], final[index])
        image = axes[1, column].imshow(settle[index].numpy(), cmap="magma", vmin=0, vmax=schedule.T)
        axes[1, column].set_xticks([])
        axes[1, column].set_yticks([])
        axes[1, column].grid(False)
    maps_part.colorbar(image, ax=axes[1, :], label="settling step t (T = pure noise)", shrink=0.8)
    maps_part.suptitle("Digits (top) and the step at which each pixel settles (bottom)")
    ax = histogram_part.subplots()
    bins = np.arange(0, schedule.T + 2, max(1, schedule.T // 50))
    for mask, name, colour in ((stroke, "stroke pixels", PALETTE[1]), (~stroke, "background pixels", PALETTE[0])):
        ax.hist(settle[mask].numpy(), bins=bins, density=True, alpha=0.6, label=name, color=colour)
    ax.invert_xaxis()
    ax.set_xlabel("settling step t (reverse process runs left to right)")
    ax.set_ylabel("density")
    ax.legend()
    ax.set_title(f"{len(labels)} digits, within {SETTLE_TOLERANCE} of the final value from then on")
    save(fig, out)
    low, middle, high = (float(q) for q in torch.quantile(settle[stroke].double(), torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)))
    background_middle = float(settle[~stroke].double().median())
    spread = (high - low) / schedule.T
    verdict = ("part by part: the stroke pixels settle over a wide stretch of the reverse process, not at one moment"
               if spread > 0.2 else "nearly all at once: the stroke pixels settle within a short stretch of the reverse process")
    return FigureEntry(out, "For each pixel, the step t at which the model's predicted digit stops changing at that "
                            "pixel (within 0.2 of its final value from then on): maps for five digits, and the "
                            "distribution over every pixel of 40 digits, strokes and background apart.",
                       f"python -m viz.mnist --seed {seed}",
                       f"Measured: half the stroke pixels have settled by t = {middle:.0f} of T = {schedule.T}, 80% of "
                       f"them settle between t = {high:.0f} and t = {low:.0f} ({100 * spread:.0f}% of the process); "
                       f"background pixels settle at a median t = {background_middle:.0f}. The answer is {verdict}. "
                       "The maps show where: the background far from the digit is known from the start, the "
                       "interiors of the strokes settle mid-way and their edges last; the layout comes first, "
                       "the exact outline at the end.")


def make_all(ckpt: Path = DEFAULT_CHECKPOINT, out_dir: Path = OUT_DIR, seed: int = 0) -> Path:
    model, schedule = trained_model(ckpt)
    jobs = [lambda: grid_figure(model, schedule, out_dir / "mnist_grid.png", seed),
            lambda: trajectory_figure(model, schedule, out_dir / "mnist_trajectory.png", seed),
            lambda: guidance_figure(model, schedule, load_or_train_classifier()[0], out_dir / "mnist_guidance.png", seed),
            lambda: settling_figure(model, schedule, out_dir / "mnist_settling.png", seed)]
    entries = []
    for job in jobs:
        start = time.perf_counter()
        entries.append(job())
        print(f"wrote {entries[-1].path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return write_index(entries, out_dir, title="MNIST figures", command="make figures-mnist")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_cpu_threads()
    try:
        print(f"wrote {make_all(args.ckpt, args.out_dir, args.seed)}")
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
