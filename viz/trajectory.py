"""Figure 2 (Problem 2): one denoising trajectory over the learned density p_theta(x_t) and the exact q(x_t).

    python -m viz.trajectory [--ckpt PATH] [--n 5000] [--density kde|hist] [--seed 0]

Top row: p_theta(x_t), estimated from n samples of the learned reverse chain at t = 50, 40, ..., 10
and 0 (T = 50). Bottom row: the exact noised marginal q(x_t) of the mixture at the same t, and the
ground truth at t = 0. The same trajectory, drawn up to the current t, is overlaid on both.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from gmm import problem_gmm
from samplers import sample
from viz.density import cell_area, estimate_density, exact_density
from viz.index import FigureEntry
from viz.observe import exact_mode_count
from viz.models import add_density_flag, figure_parser, model_for, run
from viz.style import TRAJECTORY_COLOUR, density_image, pixel_axes, save

T = 50
SHOWN_T = (50, 40, 30, 20, 10, 0)


def make(out, n: int = 5_000, density: str = "kde", seed: int = 0, ckpt=None, train_steps=None) -> FigureEntry:
    model, schedule = model_for(T, ckpt, train_steps)
    shown_t = [t for t in SHOWN_T if t <= schedule.T] if schedule.T != T else SHOWN_T
    trajectory = sample(model, schedule, n, generator=torch.Generator().manual_seed(seed),
                        record_trajectory=True).squeeze(2).numpy()  # (T + 1, n, 2)
    path = trajectory[:, 0]  # the highlighted sample, (T + 1, 2)
    gmm = problem_gmm(n_samples=1)
    alphas_cumprod = schedule.trajectory_alphas_cumprod

    fig, axes = plt.subplots(2, len(shown_t), figsize=(3.1 * len(shown_t), 6.9), constrained_layout=True)
    numbers = {"t": list(shown_t), "modes": [], "total_variation": []}
    for column, t in enumerate(shown_t):
        estimated = estimate_density(trajectory[t], density)
        exact = exact_density(gmm, float(alphas_cumprod[t]))
        numbers["modes"].append(exact_mode_count(gmm, float(alphas_cumprod[t])))
        numbers["total_variation"].append(0.5 * float(np.abs(estimated - exact).sum() * cell_area()))
        vmax = float(np.percentile(np.concatenate([estimated.ravel(), exact.ravel()]), 99.9))
        for row, (values, name) in enumerate([(estimated, "learned p_theta"), (exact, "exact q")]):
            ax = axes[row, column]
            image = density_image(ax, values, vmax)
            ax.plot(path[t:, 0], path[t:, 1], color=TRAJECTORY_COLOUR, lw=1.2, alpha=0.9)
            ax.scatter(path[t, 0], path[t, 1], color=TRAJECTORY_COLOUR, s=30, edgecolor="white", zorder=3)
            label = "ground truth" if (t == 0 and row == 1) else f"{name}(x_{t})"
            pixel_axes(ax, f"t = {t}: {label}")
            if column:
                ax.set_ylabel("")
            if row == 0:
                ax.set_xlabel("")
        fig.colorbar(image, ax=axes[:, column], orientation="horizontal", shrink=0.8, pad=0.02, label="density")
    fig.suptitle(f"The reverse process runs left to right: t = {shown_t[0]} (pure noise) down to t = 0 (data). "
                 f"Density from {n} samples by {'Gaussian KDE' if density == 'kde' else '2-D histogram'}.")
    save(fig, out)
    return FigureEntry(
        out, "One reverse trajectory over the learned density p_theta(x_t) (top) and the exact q(x_t) (bottom) "
             "at t = 50, 40, 30, 20, 10, 0.",
        f"python -m viz.trajectory --n {n} --density {density} --seed {seed}",
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure: where the exact q(x_t) turns from one mode into two, and how far the
    learned density is from it at each shown t (total variation, 0 = equal, 1 = disjoint)."""
    pairs = list(zip(numbers["t"], numbers["modes"]))
    one_mode = [t for t, modes in pairs if modes == 1]
    two_modes = [t for t, modes in pairs if modes == 2]
    if one_mode and two_modes and min(one_mode) > max(two_modes):
        text = (f"The exact density is one blob at t = {', '.join(map(str, one_mode))} and has two modes from "
                f"t = {max(two_modes)} down: the modes appear between t = {min(one_mode)} and t = {max(two_modes)}, "
                "and the later steps sharpen them. ")
    else:
        text = "Modes of the exact density at the shown t: " + ", ".join(f"t = {t}: {m}" for t, m in pairs) + ". "
    tv = numbers["total_variation"]
    text += (f"The learned density's total-variation distance to the exact one is {max(tv):.2f} at most "
             f"(at t = {numbers['t'][tv.index(max(tv))]}; 0 means equal, 1 disjoint, and a density estimated from "
             "samples is never exactly 0)")
    text += (": the model follows the whole reverse process, not only its end." if max(tv) < 0.25 else
             ": the learned reverse process departs from the exact one there.")
    return text


if __name__ == "__main__":
    parser = figure_parser(__doc__, "trajectory.png", 5_000)
    add_density_flag(parser)
    parser.add_argument("--ckpt", default=None, help="trained model (default: the cached T = 50 model)")
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.density, args.seed, args.ckpt, args.train_steps))
