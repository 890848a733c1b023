"""Figure 8: sample quality against the number of sampling steps, for every sampler.

    python -m viz.samplers [--n 4000] [--seed 0] [--steps 1 2 4 8 16 20 32 50]

Energy distance to n ground-truth samples for ancestral DDPM, deterministic DDIM and
DPM-Solver++(2M); left with the exact denoiser on a fine schedule (T = 1000, so any step count can
be taken), right with the learned T = 50 model. The dashed line is the noise floor: what two sets
of n true samples read on average (metrics.energy_noise_floor).
"""
import matplotlib.pyplot as plt
import torch

from gmm import problem_gmm
from metrics import energy_distance, energy_noise_floor
from samplers import SAMPLERS, sample
from utils import Schedule
from viz.index import FigureEntry
from viz.models import figure_parser, model_for, run
from viz.style import PALETTE, save

STEPS = (1, 2, 4, 8, 16, 20, 32, 50)
NAMES = {"ddpm": "ancestral DDPM", "ddim": "DDIM (eta = 0)", "dpmpp2m": "DPM-Solver++(2M)"}


def make(out, n: int = 4_000, seed: int = 0, steps=STEPS, fine_T: int = 1000, train_steps=None) -> FigureEntry:
    gmm = problem_gmm(n_samples=1)
    truth = gmm.sample(n, generator=torch.Generator().manual_seed(seed + 100))[0]
    floor = energy_noise_floor(truth, n)
    fine = Schedule.make("cosine", fine_T)
    learned, learned_schedule = model_for(50, train_steps=train_steps)
    panels = [(gmm.exact_denoiser(fine.alphas_cumprod), fine, f"exact denoiser, T = {fine_T}"),
              (learned, learned_schedule, f"learned model, T = {learned_schedule.T}")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True, constrained_layout=True)
    numbers = {"floor": floor, "panels": {}}
    for ax, (denoiser, schedule, title) in zip(axes, panels):
        usable = [k for k in steps if k <= schedule.T]
        numbers["panels"][title] = {"steps": usable}
        for colour, sampler in zip(PALETTE, SAMPLERS):
            distances = [energy_distance(sample(denoiser, schedule, n, sampler=sampler, steps=k,
                                                generator=torch.Generator().manual_seed(seed)), truth) for k in usable]
            numbers["panels"][title][sampler] = distances
            ax.plot(usable, distances, marker="o", color=colour, label=NAMES[sampler])
        ax.axhline(floor, color="0.4", ls="--", lw=1, label="noise floor")
        ax.set(xscale="log", yscale="log", xlabel="sampling steps", title=title)
    axes[0].set_ylabel(f"energy distance to {n} true samples")
    axes[0].legend()
    save(fig, out)
    return FigureEntry(
        out, "Energy distance to the ground truth against the number of sampling steps for ancestral DDPM, DDIM "
             "and DPM-Solver++(2M), with the exact denoiser (T = 1000) and with the learned T = 50 model.",
        f"python -m viz.samplers --n {n} --seed {seed} --steps {' '.join(map(str, steps))}",
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure: for each panel and sampler, the fewest steps whose energy distance is
    within twice the noise floor, and what one step gives."""
    floor = numbers["floor"]
    text = []
    for title, panel in numbers["panels"].items():
        reached = []
        for sampler in SAMPLERS:
            within = [k for k, d in zip(panel["steps"], panel[sampler]) if d <= 2 * floor]
            reached.append(f"{NAMES[sampler]} {f'from {within[0]} steps' if within else 'at none of the step counts tried'}")
        text.append(f"With the {title}, the distance comes within twice the noise floor for " + "; ".join(reached) + ".")
        one_step = min(panel[sampler][0] for sampler in SAMPLERS)
        if panel["steps"][0] == 1:
            text.append(f"One step is {one_step / floor:.0f} times the floor at best: a single jump from noise lands "
                        "near the data's mean.")
    return " ".join(text)


if __name__ == "__main__":
    parser = figure_parser(__doc__, "samplers.png", 4_000)
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.seed, tuple(args.steps), train_steps=args.train_steps))
