"""Figure 5: the forward process, a few images noised step by step over the exact marginal q(x_t).

    python -m viz.forward [--n 8] [--seed 0] [--T 50]

Each panel is one t: the exact noised marginal q(x_t) of the mixture as the background, and n
data points pushed through the Markov chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t,
drawn up to that t.
"""
import math

import matplotlib.pyplot as plt
import torch

from gmm import problem_gmm
from utils import Schedule
from viz.density import exact_density
from viz.index import FigureEntry
from viz.models import figure_parser, run
from viz.style import CLASS_COLOURS, density_image, pixel_axes, save

SHOWN_T = (0, 5, 10, 20, 30, 50)


def noising_chain(schedule: Schedule, x0, generator) -> torch.Tensor:
    """Run q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I) for t = 1..T: (n, 2) -> (T + 1, n, 2)."""
    states = [x0]
    for beta in schedule.betas.tolist():
        noise = torch.randn(x0.shape, generator=generator)
        states.append(math.sqrt(1 - beta) * states[-1] + math.sqrt(beta) * noise)
    return torch.stack(states)


def make(out, n: int = 8, seed: int = 0, T: int = 50) -> FigureEntry:
    gmm = problem_gmm(n_samples=1)
    schedule = Schedule.make("cosine", T)
    generator = torch.Generator().manual_seed(seed)
    pool, pool_labels = gmm.sample(50 * n, generator=generator)
    # half the points from each label, so both modes are seen leaving
    chosen = torch.cat([torch.nonzero(pool_labels == k)[: (n + k) // 2, 0] for k in (0, 1)])
    x0, labels = pool[chosen].squeeze(1), pool_labels[chosen]
    chain = noising_chain(schedule, x0, generator).numpy()
    shown_t = [t for t in SHOWN_T if t <= T]
    fig, axes = plt.subplots(1, len(shown_t), figsize=(3.1 * len(shown_t), 3.6), constrained_layout=True)
    for ax, t in zip(axes, shown_t):
        image = density_image(ax, exact_density(gmm, float(schedule.trajectory_alphas_cumprod[t])))
        fig.colorbar(image, ax=ax, orientation="horizontal", shrink=0.8, pad=0.02, label="density q(x_t)")
        for i in range(n):
            colour = CLASS_COLOURS[int(labels[i])]
            ax.plot(chain[:t + 1, i, 0], chain[:t + 1, i, 1], color=colour, lw=0.8, alpha=0.8)
            ax.scatter(chain[t, i, 0], chain[t, i, 1], color=colour, s=22, edgecolor="white", zorder=3)
        pixel_axes(ax, f"t = {t}, abar = {float(schedule.trajectory_alphas_cumprod[t]):.3f}")
        if t:
            ax.set_ylabel("")
    fig.suptitle(f"Forward process (cosine schedule, T = {T}): {n} images noised step by step over the exact "
                 "marginal q(x_t); t increases to the right", fontsize=10)
    save(fig, out)
    return FigureEntry(
        out, f"The forward (noising) process: {n} data points pushed through the Markov chain, over the exact "
             f"noised density q(x_t) at t = {', '.join(map(str, shown_t))}.",
        f"python -m viz.forward --n {n} --seed {seed} --T {T}",
        "The cosine schedule destroys information slowly at first: at t = 10 the two modes are still apart, "
        "by t = 30 they have merged into one blob, and at t = T the marginal is the standard normal, the "
        "distribution sampling starts from. Each path is a random walk whose steps grow with beta_t.")


if __name__ == "__main__":
    parser = figure_parser(__doc__, "forward.png", 8)
    parser.add_argument("--T", type=int, default=50)
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.seed, args.T))
