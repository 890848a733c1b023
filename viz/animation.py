"""Figure 7: an animated GIF of the density of x_t flowing from noise to data, learned beside exact.

    python -m viz.animation [--n 5000] [--density hist|kde] [--seed 0] [--fps 8]

One frame per reverse step t = T, ..., 0: left, the density of n samples of the learned chain at
that step; right, the exact q(x_t). Each frame is drawn once and the GIF written with Pillow (no ffmpeg needed).
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from gmm import problem_gmm
from samplers import sample
from viz.density import estimate_density, exact_density
from viz.index import FigureEntry
from viz.observe import exact_mode_count, percent
from viz.models import add_density_flag, figure_parser, model_for, run
from viz.style import DPI, density_image, pixel_axes

T = 50


def make(out, n: int = 5_000, density: str = "hist", seed: int = 0, fps: int = 8, train_steps=None) -> FigureEntry:
    model, schedule = model_for(T, train_steps=train_steps)
    trajectory = sample(model, schedule, n, generator=torch.Generator().manual_seed(seed),
                        record_trajectory=True).squeeze(2).numpy()  # (T + 1, n, 2)
    gmm = problem_gmm(n_samples=1)
    alphas_cumprod = schedule.trajectory_alphas_cumprod
    frames = [(estimate_density(trajectory[t], density), exact_density(gmm, float(alphas_cumprod[t])))
              for t in range(schedule.T, -1, -1)]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3), constrained_layout=True)
    images = [density_image(ax, np.zeros_like(frames[0][0])) for ax in axes]
    for ax, name in zip(axes, ("learned p_theta(x_t)", "exact q(x_t)")):
        pixel_axes(ax, name)
    axes[1].set_ylabel("")
    fig.set_dpi(DPI * 0.8)

    def heading(t: int) -> str:
        return f"reverse process, t = {t} of {schedule.T} (t decreases: noise -> data)"

    title = fig.suptitle(heading(schedule.T))
    fig.draw_without_rendering()  # lay the figure out once (its widest title): every frame has the same layout,
    fig.set_layout_engine("none")  # and constrained layout, which would redo it frame by frame, is switched off
    pictures = []
    for index, densities in enumerate(frames):
        vmax = float(np.percentile(np.concatenate([d.ravel() for d in densities]), 99.9))
        for image, values in zip(images, densities):
            image.set_data(values)
            image.set_clim(0, vmax)
        title.set_text(heading(schedule.T - index))
        fig.canvas.draw()
        pictures.append(Image.fromarray(np.array(fig.canvas.buffer_rgba())))  # a copy: the canvas is redrawn
    plt.close(fig)
    levels = range(schedule.T + 1)
    split = max(t for t in levels if exact_mode_count(gmm, float(alphas_cumprod[t])) == 2)
    exact_x = sample(gmm.exact_denoiser(schedule.alphas_cumprod), schedule, n,
                     generator=torch.Generator().manual_seed(seed), record_trajectory=True).squeeze(2)

    def first_mode_share(x, t) -> float:
        """The share of points x (n, 2) at level t that the exact p(y | x_t) assigns to the first mode."""
        posterior = gmm.class_posterior(torch.as_tensor(x), float(alphas_cumprod[t]))
        return float((posterior.argmax(-1) == 0).double().mean())

    numbers = {"T": schedule.T, "split_t": split,
               "learned_share_after_split": first_mode_share(trajectory[split], split),
               "exact_share_after_split": first_mode_share(exact_x[split], split),
               "learned_share_at_0": first_mode_share(trajectory[0], 0), "exact_share_at_0": first_mode_share(exact_x[0], 0)}
    out.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(out, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0)
    return FigureEntry(
        out, "Animation: the density of x_t under the learned reverse process (left) and the exact q(x_t) (right), "
             f"one frame per step from t = {schedule.T} to 0.",
        f"python -m viz.animation --n {n} --density {density} --seed {seed} --fps {fps}",
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure: at which t the exact density splits into two modes, and how far the
    learned density's share of the first mode is from the exact one's just after the split and at the end."""
    split, T = numbers["split_t"], numbers["T"]
    return (f"The single blob splits into two modes at t = {split} of {T}: {'late' if split < T / 3 else 'not late'} in "
            f"the chain (the last {split} steps). Just after the split the share of x_t that p(y | x_t) gives to the first "
            "mode is "
            f"{percent(numbers['learned_share_after_split'])} for the network and "
            f"{percent(numbers['exact_share_after_split'])} exactly; at t = 0 it is "
            f"{percent(numbers['learned_share_at_0'])} and {percent(numbers['exact_share_at_0'])}: the remaining "
            "frames sharpen two modes whose weights are set around the split.")


if __name__ == "__main__":
    parser = figure_parser(__doc__, "reverse_process.gif", 5_000)
    add_density_flag(parser)
    parser.set_defaults(density="hist")
    parser.add_argument("--fps", type=int, default=8)
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.density, args.seed, args.fps, args.train_steps))
