"""DIP as the start of the MNIST model's reverse process (Example 1): the figures.

    make figures-dip                                      (these figures, seed 0, 10 digits, in figures/dip/)
    python -m viz.dip_start --seeds 0 1 2 --per-class 3   (make bench-dip-start: the table of docs/dip.md, mean and
                                                           spread over seeds; figures and index.md in figures/dip/start/)

The runs are the start harness's (dip_ext/starts.py, which says what is measured; its command
dip_ext/run_starts.py prints the same tables without the figures), read from and written to the
same cache, figures/dip/cache/start/. Trains the MNIST model first if checkpoints/mnist/ddpm.pt is
absent (make figures-mnist trains the same one), and the evaluation classifier without the digits
restored here.

  dip_start_grid.png    per corruption: clean / corrupted / DIP alone / each start after the reverse process
  dip_start_steps.png   PSNR against the number of reverse steps, per start (DDIM and ancestral)
  dip_start_t0.png      PSNR against the start level t0, per start
  dip_start_rmse.png    the DDPM paper's Fig. 5 (left): RMSE of the predicted x0 against t
"""
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from cli import command_parser, run_command
from dip_ext.restore import distortion_by_level
from dip_ext.starts import STUDY_DIGITS_SET_ASIDE, StartSettings, best_tradeoffs, report, run_all, start_jobs, study_digits, summarise
from mnist_ext.recipe import DEFAULT_CHECKPOINT, RECIPE, load_model
from training import ensure_trained
from viz.index import FigureEntry, write_index
from viz.style import FIGURES_DIR, PALETTE, save

OUT_DIR = FIGURES_DIR / "dip" / "start"
CACHE = FIGURES_DIR / "dip" / "cache" / "start"
FIGURE_PER_CLASS = 1
"""make figures-dip restores one digit of each class (about 5 minutes of one-thread work); the
docs/dip.md's table comes from three per class and three seeds."""
COMMAND = "make figures-dip"


# ----- the figures -----------------------------------------------------------------------------------

def grid_observations(numbers: dict) -> str:
    """numbers: {corruption: {column: mean PSNR}}, DIP alone first."""
    parts = []
    for corruption, psnr in numbers.items():
        alone, best = next(iter(psnr)), max(psnr, key=psnr.get)
        against = "" if best == alone else f", against {psnr[alone]:.2f} dB for {alone}"
        parts.append(f"{corruption}: the highest mean PSNR over the study's digits among the columns is {best} "
                     f"({psnr[best]:.2f} dB){against}.")
    return " ".join(parts)


def grid_figure(results: list[dict], summary: list[dict], settings: StartSettings, T: int, out: Path) -> FigureEntry:
    first_seed = min(result["rows"][0]["seed"] for result in results)
    shown = [result for result in results if result["rows"][0]["seed"] == first_seed]
    columns = max(len(result["grid"]) for result in shown)
    rows = sum(len(result["grid"]["clean"]) for result in shown)
    fig, axes = plt.subplots(rows, columns, figsize=(1.25 * columns, 1.35 * rows), constrained_layout=True, squeeze=False)
    numbers, row = {}, 0
    for result in shown:
        corruption = result["rows"][0]["corruption"]
        numbers[corruption] = {name: _psnr_of_column(summary, corruption, name)
                               for name in result["grid"] if name not in ("clean", "corrupted")}
        for digit in range(len(result["grid"]["clean"])):
            for column, (name, images) in enumerate(result["grid"].items()):
                ax = axes[row, column]
                ax.imshow(np.clip(images[digit], 0, 1), cmap="gray", vmin=0, vmax=1)
                if digit == 0:
                    ax.set_title(f"{corruption}\n{name}" if column < 2 else name.replace(", ", "\n", 1), fontsize=6)
                ax.axis("off")
            for ax in axes[row, len(result["grid"]):]:
                ax.axis("off")
            row += 1
    save(fig, out)
    return FigureEntry(out, f"Each block: one corruption, {len(shown[0]['grid']['clean'])} held-out digits. Columns: the clean "
                            "digit, the corrupted one, DIP alone (the recorrupted rule's output for noise, the longest "
                            f"fit for masks), then each start noised to t0 = {round(settings.grid_t0_fraction * T)} and taken "
                            f"down by {settings.grid_steps} DDIM steps with the label, and generation from pure noise.",
                       COMMAND, grid_observations(numbers), numbers)


def _psnr_of_column(summary: list[dict], corruption: str, name: str) -> float:
    """The mean PSNR of the setting a grid column shows ("<start> alone" or "<start>, t0 = .., n steps")."""
    if name.endswith(" alone"):
        match = dict(start=name[:-len(" alone")], t0=0)
    else:
        start, t0, steps = name.split(", ")
        match = dict(start=start, t0=int(t0.split(" = ")[1]), steps=int(steps.split()[0]), sampler="ddim", label=True)
    return next(row["psnr"] for row in summary if row["corruption"] == corruption
                and all(row[key] == value for key, value in match.items()))


def steps_figure(summary: list[dict], settings: StartSettings, T: int, out: Path) -> FigureEntry:
    corruptions = list(dict.fromkeys(row["corruption"] for row in summary))
    t0 = round(settings.grid_t0_fraction * T)
    fig, axes = plt.subplots(1, len(corruptions), figsize=(4.2 * len(corruptions), 3.8), constrained_layout=True, squeeze=False)
    for ax, corruption in zip(axes[0], corruptions):
        chosen = [row for row in summary if row["corruption"] == corruption and row["label"]]
        for colour, start in zip(PALETTE, dict.fromkeys(row["start"] for row in chosen)):
            level = T if start == "noise" else t0
            for sampler, style in zip(settings.samplers, ("o-", "s--")):
                points = sorted((row["steps"], row["psnr"], row["psnr std"]) for row in chosen
                                if row["start"] == start and row["t0"] == level and row["sampler"] == sampler)
                if points:
                    steps, psnr, spread = zip(*points)
                    ax.errorbar(steps, psnr, yerr=spread, fmt=style, color=colour, ms=3, capsize=2,
                                label=f"{start} (t0 = {level}), {sampler}")
        alone = max((row for row in summary if row["corruption"] == corruption and row["t0"] == 0
                     and row["start"].startswith("DIP")), key=lambda r: r["psnr"])
        ax.axhline(alone["psnr"], color="k", ls=":", lw=1, label=f"{alone['start']} alone")
        ax.set(xscale="log", xlabel="reverse steps", ylabel="PSNR to the clean digit (dB)", title=corruption)
        ax.legend(fontsize=5)
    save(fig, out)
    lines = best_tradeoffs(summary)
    return FigureEntry(out, f"Mean PSNR (bars: std over seeds) against the number of reverse steps, with the label (w = "
                            f"{settings.guidance:g}), each start from t0 = {t0} (pure noise from T = {T}); solid DDIM, dashed "
                            "ancestral. The dotted line is the best DIP alone.",
                       COMMAND, "Steps each start needs to beat the best DIP alone by 1 dB with the label accuracy of "
                                "generation (the best k of DIP alone is picked with the clean digits): "
                                + "; ".join(line.strip() for line in lines) + ".",
                       {"tradeoffs": lines})


def t0_observations(numbers: dict) -> str:
    parts = []
    for corruption, starts in numbers.items():
        best = {start: max(curve, key=curve.get) for start, curve in starts.items()}
        parts.append(f"{corruption}: the mean PSNR is highest at t0 = "
                     + ", ".join(f"{t0} for {start} ({starts[start][t0]:.2f} dB)" for start, t0 in best.items()) + ".")
    return " ".join(parts)


def t0_figure(summary: list[dict], settings: StartSettings, out: Path) -> FigureEntry:
    corruptions = list(dict.fromkeys(row["corruption"] for row in summary))
    fig, axes = plt.subplots(1, len(corruptions), figsize=(4.2 * len(corruptions), 3.8), constrained_layout=True, squeeze=False)
    numbers = {}
    for ax, corruption in zip(axes[0], corruptions):
        numbers[corruption] = {}
        chosen = [row for row in summary if row["corruption"] == corruption and row["start"] != "noise"
                  and (row["t0"] == 0 or (row["label"] and row["sampler"] == "ddim" and row["steps"] == settings.grid_steps))]
        for colour, start in zip(PALETTE, dict.fromkeys(row["start"] for row in chosen)):
            points = sorted((row["t0"], row["psnr"], row["psnr std"]) for row in chosen if row["start"] == start)
            t0s, psnr, spread = zip(*points)
            ax.errorbar(t0s, psnr, yerr=spread, fmt="o-", color=colour, ms=3, capsize=2, label=start)
            numbers[corruption][start] = dict(zip(t0s, psnr))
        ax.set(xlabel="t0 (0: the start alone, no diffusion)", ylabel="PSNR to the clean digit (dB)", title=corruption)
        ax.legend(fontsize=6)
    save(fig, out)
    return FigureEntry(out, f"Mean PSNR (bars: std over seeds) against the level t0 each start is noised to, then "
                            f"{settings.grid_steps} DDIM steps with the label; t0 = 0 is the start alone.",
                       COMMAND, t0_observations(numbers), numbers)


def rmse_observations(numbers: dict) -> str:
    rmse, levels = numbers["rmse"], numbers["levels"]
    falling = sum(b < a for a, b in zip(rmse, rmse[1:])) / (len(rmse) - 1)
    middle = len(levels) // 2
    half_gone = next(index for index, value in enumerate(rmse) if value <= rmse[0] / 2)
    return (f"The RMSE of the predicted x0 is {rmse[0]:.1f} at t = {levels[0]}, {rmse[middle]:.1f} at t = {levels[middle]} "
            f"and {rmse[-1]:.1f} at t = {levels[-1]}. It falls to half its value at t = {levels[0]} by t = "
            f"{levels[half_gone]}, after {half_gone} of the {len(levels)} steps, and falls at {100 * falling:.0f}% of "
            "the single steps (each level's x_t is a fresh draw, so neighbouring values jitter).")


def rmse_figure(levels: list[int], rmse: list[float], T: int, out: Path) -> FigureEntry:
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot([T - level for level in levels], rmse, color=PALETTE[0])
    ax.set(xlabel=f"reverse-process steps taken, T - t (left: t = T = {T}, pure noise; right: t = 0)",
           ylabel="RMSE of the predicted x0 (0..255 scale)", title="Distortion along the reverse process (DDPM Fig. 5, left)")
    save(fig, out)
    numbers = {"levels": levels, "rmse": rmse}
    return FigureEntry(out, "The RMSE, on the 0..255 scale, between the study's clean digits and the model's prediction "
                            "x0_hat from x_t ~ q(x_t | x_0) (with the label), at every level t, against the steps the reverse "
                            "process has taken.", COMMAND, rmse_observations(numbers), numbers)


def figure_entries(results: list[dict], levels: list[int], rmse: list[float], settings: StartSettings, T: int,
                   out_dir: Path) -> list[FigureEntry]:
    summary = summarise([row for result in results for row in result["rows"]])
    return [grid_figure(results, summary, settings, T, out_dir / "dip_start_grid.png"),
            steps_figure(summary, settings, T, out_dir / "dip_start_steps.png"),
            t0_figure(summary, settings, out_dir / "dip_start_t0.png"),
            rmse_figure(levels, rmse, T, out_dir / "dip_start_rmse.png")]


def rmse_curve(model_path: Path, per_class: int, seed: int = 0) -> tuple[list[int], list[float], int]:
    model, config = load_model(model_path)
    schedule = config.make_schedule()
    digits, labels = study_digits(per_class)
    levels, rmse = distortion_by_level(model, schedule, digits, labels, torch.Generator().manual_seed(seed))
    return levels, rmse, schedule.T


def main(args) -> None:
    if args.ckpt is not None and not args.ckpt.is_file():
        raise FileNotFoundError(f"--ckpt {args.ckpt} does not exist; train it with python -m mnist_ext.train --ckpt "
                                f"{args.ckpt}, or leave --ckpt out to use (and if absent train) {DEFAULT_CHECKPOINT}")
    model_path = ensure_trained(RECIPE, args.ckpt or DEFAULT_CHECKPOINT)
    results = run_all(start_jobs(model_path, CACHE, tuple(args.seeds), args.per_class), args.workers)
    levels, rmse, T = rmse_curve(model_path, args.per_class)
    entries = figure_entries(results, levels, rmse, StartSettings(), T, args.out_dir)
    index = write_index(entries, args.out_dir, title=f"DIP as the start of the reverse process: seeds {args.seeds}, "
                        f"{10 * args.per_class} digits", command=f"python -m viz.dip_start {' '.join(sys.argv[1:])}")
    print(report(results))
    print(f"\nwrote {index} and its figures")


def parser():
    parser = command_parser(__doc__)
    parser.add_argument("--ckpt", type=Path, default=None,
                        help=f"a trained MNIST model (default {DEFAULT_CHECKPOINT}, trained first if absent)")
    parser.add_argument("--per-class", type=int, default=FIGURE_PER_CLASS,
                        help=f"held-out digits per class, 1 to {STUDY_DIGITS_SET_ASIDE}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2, help="parallel one-thread processes")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
