"""Figure 5: the forward process, a few images noised step by step over the exact marginal q(x_t).

    python -m viz.forward [--n 8] [--seed 0] [--T 50]

Each panel is one t: the exact noised marginal q(x_t) of the mixture as the background, and n
data points pushed through the Markov chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t,
drawn up to that t.
"""
import math

import matplotlib.pyplot as plt
import torch

from gmm import PROBLEM_STD, problem_gmm
from utils import Schedule
from viz.density import exact_density
from viz.index import FigureEntry
from viz.observe import exact_mode_count
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
    alpha_bar_T = float(schedule.alphas_cumprod[-1])
    numbers = {"t": shown_t, "modes": [exact_mode_count(gmm, float(schedule.trajectory_alphas_cumprod[t])) for t in shown_t],
               "T": T, "signal_left_at_T": alpha_bar_T**0.5, "variance_at_T": 1 - alpha_bar_T + alpha_bar_T * PROBLEM_STD**2}
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
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure: the shown t at which the exact q(x_t) has two modes or one, and how
    close q(x_T) is to the standard normal that sampling starts from."""
    pairs = list(zip(numbers["t"], numbers["modes"]))
    two = [t for t, modes in pairs if modes == 2]
    one = [t for t, modes in pairs if modes == 1]
    if two and one and max(two) < min(one):
        text = (f"The modes stay apart up to t = {max(two)} and have merged into one blob by t = {min(one)}: the cosine "
                "schedule destroys information slowly at first. ")
    else:
        text = "Modes of q(x_t) at the shown t: " + ", ".join(f"t = {t}: {m}" for t, m in pairs) + ". "
    return text + (f"At t = T = {numbers['T']} the data's share of x_T is sqrt(abar_T) = {numbers['signal_left_at_T']:.3f} "
                   f"and each component's variance is {numbers['variance_at_T']:.4f}: q(x_T) is the standard normal to "
                   "within that, the distribution sampling starts from. Each path is a random walk whose steps grow "
                   "with beta_t.")


if __name__ == "__main__":
    parser = figure_parser(__doc__, "forward.png", 8)
    parser.add_argument("--T", type=int, default=50)
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.seed, args.T))
