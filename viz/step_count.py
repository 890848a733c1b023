"""Figure 3 (Problem 3): samples of models trained with T = 5, 10, 25, 50 beside the ground truth.

    python -m viz.step_count [--n 5000] [--seed 0] [--T 5 10 25 50]

Top row: the ground truth, then n noises denoised by the learned model of each T. Bottom row:
the ground-truth density, then the exact denoiser eps* run through the same sampler with the same
T. The bottom row is what a perfect network would give: the gap between the rows is the error of
training, the gap between the bottom row and the ground truth is the error of taking few steps.
Each panel prints its mode weights, per-mode std and energy distance to a ground-truth sample set.
"""
import matplotlib.pyplot as plt
import torch

from gmm import PROBLEM_STD, problem_gmm
from metrics import energy_distance, energy_noise_floor, mode_statistics
from samplers import sample
from viz.density import exact_density
from viz.index import FigureEntry
from viz.observe import percent, trend
from viz.models import figure_parser, model_for, run
from viz.style import CLASS_COLOURS, density_image, pixel_axes, save

STEP_COUNTS = (5, 10, 25, 50)


def _summary(gmm, x, reference) -> tuple[str, dict]:
    """The text printed on a panel, and the same numbers for the note."""
    stats = mode_statistics(gmm, x)
    numbers = {"weights": stats.weights, "stds": stats.stds, "energy": energy_distance(x, reference)}
    return (f"weights {stats.weights[0]:.3f} / {stats.weights[1]:.3f}\n"
            f"std {stats.stds[0]:.3f} / {stats.stds[1]:.3f}\n"
            f"energy {numbers['energy']:.1e}"), numbers


def _scatter(ax, gmm, x) -> None:
    labels = gmm.classify(x)
    for k in (0, 1):
        members = x[labels == k]
        ax.scatter(members[:, 0], members[:, 1], s=2, alpha=0.35, color=CLASS_COLOURS[k], rasterized=True)


def make(out, n: int = 5_000, seed: int = 0, step_counts=STEP_COUNTS, train_steps=None) -> FigureEntry:
    gmm = problem_gmm(n_samples=1)
    truth = gmm.sample(n, generator=torch.Generator().manual_seed(seed))[0].squeeze(1)
    reference = gmm.sample(n, generator=torch.Generator().manual_seed(seed + 1))[0].squeeze(1)
    fig, axes = plt.subplots(2, len(step_counts) + 1, figsize=(3.2 * (len(step_counts) + 1), 7.2),
                             constrained_layout=True)
    text_box = dict(boxstyle="round", facecolor="white", alpha=0.85, lw=0)
    _scatter(axes[0, 0], gmm, truth)
    pixel_axes(axes[0, 0], "ground truth samples")
    truth_text, _ = _summary(gmm, truth, reference)
    numbers = {"T": list(step_counts), "floor": energy_noise_floor(reference, n), "learned": [], "exact": []}
    axes[0, 0].text(0.03, 0.03, f"{truth_text}\n(noise floor {numbers['floor']:.1e})", transform=axes[0, 0].transAxes,
                    fontsize=7.5, va="bottom", bbox=text_box)
    density_image(axes[1, 0], exact_density(gmm, 1.0))
    pixel_axes(axes[1, 0], f"ground truth density (std {PROBLEM_STD})")
    for column, T in enumerate(step_counts, start=1):
        model, schedule = model_for(T, train_steps=train_steps)
        denoisers = {0: (model, f"learned, T = {T}"), 1: (gmm.exact_denoiser(schedule.alphas_cumprod), f"exact eps*, T = {T}")}
        for row, (denoiser, title) in denoisers.items():
            x = sample(denoiser, schedule, n, generator=torch.Generator().manual_seed(seed)).squeeze(1)
            ax = axes[row, column]
            _scatter(ax, gmm, x)
            pixel_axes(ax, title)
            text, panel = _summary(gmm, x, reference)
            numbers["learned" if row == 0 else "exact"].append(panel)
            ax.text(0.03, 0.03, text, transform=ax.transAxes, fontsize=7.5, va="bottom", bbox=text_box)
    for ax in axes[:, 1:].ravel():
        ax.set_ylabel("")
    for ax in axes[0]:
        ax.set_xlabel("")
    fig.suptitle(f"{n} noises denoised by ancestral DDPM with T steps; top: trained network, bottom: exact "
                 f"denoiser (the best any network can do). Metrics: mode 0 / mode 1; energy distance to "
                 f"{n} true samples.", fontsize=10)
    save(fig, out)
    return FigureEntry(
        out, f"Samples of the learned models with T = {', '.join(map(str, step_counts))} (top) and of the exact "
             "denoiser with the same T (bottom), beside the ground truth, with mode weights, per-mode std and "
             "energy distance printed on each panel.",
        f"python -m viz.step_count --n {n} --seed {seed} --T {' '.join(map(str, step_counts))}",
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure, from the metrics printed on its panels."""
    steps, learned, exact = numbers["T"], numbers["learned"], numbers["exact"]
    text = (f"The exact denoiser's energy distance to the data {trend([p['energy'] for p in exact], '{:.1e}')} "
            f"as T goes from {steps[0]} to {steps[-1]} (noise floor {numbers['floor']:.1e}), the learned models' "
            f"{trend([p['energy'] for p in learned], '{:.1e}')}. ")
    first = exact[0]
    text += (f"At T = {steps[0]} even the exact denoiser puts {percent(first['weights'][0])} / "
             f"{percent(first['weights'][1])} of the samples in the two modes (data: 35% / 65%), with std "
             f"{first['stds'][0]:.3f} / {first['stds'][1]:.3f} (data: {PROBLEM_STD}): each Gaussian reverse step is "
             "too coarse for a two-mode posterior. ")
    ratios = [a["energy"] / b["energy"] for a, b in zip(learned, exact)]
    text += (f"The learned row's distance is {min(ratios):.1f} to {max(ratios):.1f} times the exact row's: "
             + ("at the smallest T most of the error comes from the step count, not from training. "
                if learned[0]["energy"] < 2 * exact[0]["energy"] else "training adds a visible error of its own. "))
    last = exact[-1]
    text += (f"At T = {steps[-1]} ancestral sampling with the exact denoiser gives each mode a std of "
             f"{last['stds'][0]:.3f} / {last['stds'][1]:.3f}, against the data's {PROBLEM_STD}.")
    return text


if __name__ == "__main__":
    parser = figure_parser(__doc__, "step_count.png", 5_000)
    parser.add_argument("--T", type=int, nargs="+", default=list(STEP_COUNTS), help="step counts to compare")
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.seed, tuple(args.T), args.train_steps))
