"""One look for every figure: seaborn theme, colour-blind-safe palette, shared axes, saving.

Every scatter or density of two-pixel images uses `pixel_axes`, so all panels share limits,
aspect and labels; every figure is written by `save`, which fixes the DPI and the metadata so
that the same figure gives the same bytes on the same machine.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from gmm import DATA_RANGE  # noqa: E402

FIGURES_DIR = Path("figures")
DPI = 110
LIMITS = (-DATA_RANGE, DATA_RANGE)
PALETTE = sns.color_palette("colorblind")
CLASS_COLOURS = {0: PALETTE[0], 1: PALETTE[1], None: PALETTE[7]}
"""Label 0 (left pixel darker), label 1 (left pixel lighter), None: unlabelled."""
CLASS_NAMES = {0: "y = 0 (left darker)", 1: "y = 1 (left lighter)", None: "no label"}
DENSITY_CMAP = "mako_r"
TRAJECTORY_COLOUR = PALETTE[3]

sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def pixel_axes(ax, title: str | None = None) -> None:
    """Square axes over the data range, labelled as the two pixels."""
    ax.set_xlim(*LIMITS)
    ax.set_ylim(*LIMITS)
    ax.set_aspect("equal")
    ax.set_xlabel("left pixel")
    ax.set_ylabel("right pixel")
    if title:
        ax.set_title(title)


def density_image(ax, density, vmax: float | None = None):
    """Draw a (R, R) grid density (viz.density layout) over the data square; returns the image."""
    ax.grid(False)
    return ax.imshow(density, origin="lower", cmap=DENSITY_CMAP, vmin=0, vmax=vmax,
                     extent=(*LIMITS, *LIMITS), interpolation="nearest")


def save(fig, path: Path) -> Path:
    """Write a PNG (or GIF-free still) reproducibly: fixed DPI, no timestamp in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path
