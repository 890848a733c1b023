"""Figure 1: the ground-truth mixture, its exact density with a scatter of labelled samples.

    python -m viz.ground_truth [--n 2000] [--seed 0] [--out figures/ground_truth.png]
"""
import matplotlib.pyplot as plt
import torch

from gmm import DATA_RANGE, PROBLEM_WEIGHTS, problem_gmm
from viz.density import exact_density
from viz.index import FigureEntry
from viz.observe import percent
from viz.models import figure_parser, run
from viz.style import CLASS_COLOURS, CLASS_NAMES, density_image, pixel_axes, save


def make(out, n: int = 2_000, seed: int = 0) -> FigureEntry:
    gmm = problem_gmm(n_samples=1)
    x, y = gmm.sample(n, generator=torch.Generator().manual_seed(seed))
    x = x.squeeze(1)
    fig, (ax_density, ax_samples) = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
    image = density_image(ax_density, exact_density(gmm, 1.0))
    fig.colorbar(image, ax=ax_density, label="density q(x)", shrink=0.85)
    pixel_axes(ax_density, "exact density of the mixture")
    ax_samples.plot([-DATA_RANGE, DATA_RANGE], [-DATA_RANGE, DATA_RANGE], color="0.6", lw=1, ls="--",
                    label="left = right")
    for label in (0, 1):
        members = x[y == label]
        ax_samples.scatter(members[:, 0], members[:, 1], s=4, alpha=0.6, color=CLASS_COLOURS[label],
                           label=f"{CLASS_NAMES[label]}: {len(members)}")
    pixel_axes(ax_samples, f"{n} samples, coloured by label")
    ax_samples.legend(loc="lower left", markerscale=3, fontsize=8)
    save(fig, out)
    numbers = {"label_share": [float((y == label).double().mean()) for label in (0, 1)]}
    return FigureEntry(
        out, f"The problem's two-component mixture (std 0.1): exact density, and {n} samples coloured by label.",
        f"python -m viz.ground_truth --n {n} --seed {seed}", observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure, from the share of each label among its samples."""
    share = numbers["label_share"]
    return (f"Label 0 (left pixel darker, above the diagonal) holds {percent(share[0])} of these samples, label 1 "
            f"(left lighter, below it) {percent(share[1])}; the mixture's weights are "
            f"{percent(PROBLEM_WEIGHTS[0])} and {percent(PROBLEM_WEIGHTS[1])}. Everything a model generates should "
            "look like the right panel.")


if __name__ == "__main__":
    args = figure_parser(__doc__, "ground_truth.png", 2_000).parse_args()
    run(lambda: make(args.out, args.n, args.seed))
