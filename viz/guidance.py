"""Figure 4 (Problem 4): classifier-free guidance from one shared starting noise, and a weight sweep.

    python -m viz.guidance [--n 1000] [--seed 0] [--guidance 1.0] [--weights 0 1 3 8]

Left: three reverse trajectories that start from the same x_T and draw the same noises z, with
y = 0, y = 1 and no label, over the ground-truth density: only the condition differs, and they
end in different modes. Right: n samples per label for growing guidance weight w, in the problem
set's convention epsbar = (1 + w) eps(x, t, y) - w eps(x, t, null).
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from gmm import problem_gmm
from metrics import mode_statistics
from samplers import sample
from viz.density import exact_density
from viz.observe import percent, trend
from viz.index import FigureEntry
from viz.models import figure_parser, model_for, run
from viz.style import CLASS_COLOURS, CLASS_NAMES, density_image, pixel_axes, save

T = 50
WEIGHTS = (0.0, 1.0, 3.0, 8.0)
STD_TOLERANCE = 0.005  # std changes smaller than this are sampling noise at n = 1000 (std of a std ~ 0.1 / sqrt(2n))


def make(out, n: int = 1_000, seed: int = 0, guidance_weight: float = 1.0, weights=WEIGHTS,
         train_steps=None) -> FigureEntry:
    model, schedule = model_for(T, train_steps=train_steps)
    gmm = problem_gmm(n_samples=1)
    fig, axes = plt.subplots(1, len(weights) + 2, figsize=(3.4 * (len(weights) + 2), 4.0), constrained_layout=True)
    ax, ax_time = axes[0], axes[1]
    density_image(ax, exact_density(gmm, 1.0))
    ends = {}
    for label in (0, 1, None):
        # the same seed gives the same x_T and the same z at every step: only y differs
        path = sample(model, schedule, 1, label=label, guidance_weight=guidance_weight if label is not None else 0.0,
                      generator=torch.Generator().manual_seed(seed), record_trajectory=True)[:, 0, 0].numpy()
        ax.plot(path[:, 0], path[:, 1], color=CLASS_COLOURS[label], lw=0.9, alpha=0.8, label=CLASS_NAMES[label])
        ax.scatter(*path[0], color=CLASS_COLOURS[label], s=45, edgecolor="white", zorder=3)
        ax_time.plot(np.arange(len(path)), path[:, 0] - path[:, 1], color=CLASS_COLOURS[label], lw=1.3)
        ends[label] = path[0]
    ax.scatter(*path[-1], marker="X", color="black", s=60, zorder=4, label="shared x_T")
    ax.legend(loc="lower left", fontsize=7.5)
    pixel_axes(ax, f"one x_T, three conditions (w = {guidance_weight:g})")
    for label in (0, 1):
        mean = gmm.means[label]
        ax_time.axhline(float(mean[0] - mean[1]), color=CLASS_COLOURS[label], lw=0.8, ls="--")
    ax_time.set(xlim=(schedule.T, 0), xlabel="t (decreasing: noise -> data)", ylabel="left - right pixel",
                title="the same three trajectories over t")
    numbers = {"weights": list(weights), "ends_in": {}, "std": {0: [], 1: []}, "exact_std": {0: [], 1: []},
               "in_mode": {0: [], 1: []}}
    for label in (0, 1, None):
        numbers["ends_in"][label] = int(gmm.classify(torch.as_tensor(ends[label])))
    exact = gmm.exact_denoiser(schedule.alphas_cumprod)
    for ax, w in zip(axes[2:], weights):
        notes = []
        for label in (0, 1):
            draws = {name: sample(denoiser, schedule, n, label=label, guidance_weight=w,
                                  generator=torch.Generator().manual_seed(seed + 1 + label)).squeeze(1)
                     for name, denoiser in (("learned", model), ("exact", exact))}
            x = draws["learned"]
            ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color=CLASS_COLOURS[label], rasterized=True)
            stats, exact_stats = mode_statistics(gmm, x), mode_statistics(gmm, draws["exact"])
            numbers["std"][label].append(stats.stds[label])
            numbers["exact_std"][label].append(exact_stats.stds[label])
            numbers["in_mode"][label].append(stats.weights[label])
            notes.append(f"y={label}: std {stats.stds[label]:.3f} (exact eps*: {exact_stats.stds[label]:.3f}), "
                         f"{100 * stats.weights[label]:.1f}% in mode")
        ax.text(0.03, 0.03, "\n".join(notes), transform=ax.transAxes, fontsize=7, va="bottom",
                bbox=dict(boxstyle="round", facecolor="white", alpha=0.85, lw=0))
        pixel_axes(ax, f"guidance weight w = {w:g}")
        ax.set_ylabel("")
    fig.suptitle("Classifier-free guidance, epsbar = (1 + w) eps(x, t, y) - w eps(x, t, null): "
                 "left, trajectories from one starting noise (dashed: the two modes); right, samples per label as w grows "
                 "(std printed for the network and for the exact denoiser under the same guidance)", fontsize=9)
    save(fig, out)
    return FigureEntry(
        out, "Left: reverse trajectories from one shared x_T with y = 0, y = 1 and no label. Right: samples "
             f"of each label for guidance weights w = {', '.join(f'{w:g}' for w in weights)}, with the std of the "
             "same sweep by the exact denoiser.",
        f"python -m viz.guidance --n {n} --seed {seed} --guidance {guidance_weight:g}"
        f" --weights {' '.join(f'{w:g}' for w in weights)}",
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure, from its numbers: where each trajectory ends, and what the spread of
    each label's samples does as w grows, for the network and for the exact denoiser."""
    ends = numbers["ends_in"]
    if ends[0] == 0 and ends[1] == 1:
        text = ("The three trajectories share every random number, yet the label alone sends y = 0 to mode 0 and "
                f"y = 1 to mode 1; the unlabelled one ends in mode {ends[None]}, wherever the noise leads. ")
    else:
        text = (f"Here the labels did not pick their own modes: y = 0 ends in mode {ends[0]}, y = 1 in mode {ends[1]} "
                "(a model trained too briefly, or guidance too weak). ")
    weights = numbers["weights"]
    span = f"from w = {weights[0]:g} to w = {weights[-1]:g}"
    for label in (0, 1):
        text += (f"As w grows {span}, the std of label {label}'s samples {trend(numbers['std'][label], tolerance=STD_TOLERANCE)}"
                 f" with the network, and {trend(numbers['exact_std'][label], tolerance=STD_TOLERANCE)} with the exact "
                 "denoiser. ")
    exact_moves = max(max(v) - min(v) for v in numbers["exact_std"].values())
    min_in_mode = min(v[0] for v in numbers["in_mode"].values())
    learned_moves = max(max(v) - min(v) for v in numbers["std"].values())
    if exact_moves <= STD_TOLERANCE:
        text += ("The textbook says guidance trades diversity for fidelity, narrowing each class; here the exact "
                 "denoiser shows why it cannot: the two modes are far apart, so near each mode the conditional and "
                 "the unconditional predictions agree and (1 + w) eps_c - w eps_u is eps_c for every w. "
                 + ("Already at w = 0 every labelled sample is in its mode. " if min_in_mode == 1 else
                    f"Already at w = 0, at least {percent(min_in_mode)} of each label's samples are in its mode. "))
        if learned_moves > 2 * exact_moves:
            text += "What the network's samples do as w grows is its own error, which guidance multiplies by (1 + w)."
    else:
        text += "The exact denoiser's spread moves with w as well: guidance reshapes the modes here."
    return text.strip()


if __name__ == "__main__":
    parser = figure_parser(__doc__, "guidance.png", 1_000)
    parser.add_argument("--guidance", type=float, default=1.0, help="w for the trajectory panel")
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS), help="weights of the sweep")
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.seed, args.guidance, tuple(args.weights), args.train_steps))
