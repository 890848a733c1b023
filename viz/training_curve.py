"""Figure 6: the training loss per step, and the trained model's loss per timestep.

    python -m viz.training_curve [--ckpt PATH] [--n 4000] [--seed 0]

Left: the loss of every optimiser step (light) and its running mean over 100 steps. Middle: the
loss of the saved (EMA) model at each t on fresh data, beside the loss of the exact denoiser eps*
on the same x_t and noise, which is the smallest loss any network can reach: the eps that cannot be
predicted from x_t. Right: their difference, what training has left to learn.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from gmm import NULL_LABEL, problem_gmm
from recipe import RECIPE, TrainConfig, load_model
from utils import p_losses
from viz.index import FigureEntry
from viz.observe import percent, trend
from viz.models import cached_checkpoint, figure_parser, run
from viz.style import PALETTE, save


def loss_per_timestep(denoiser, schedule, x0, y, generator) -> np.ndarray:
    """Mean loss of `denoiser` at each t on the same x0 (n, 1, 2), labels y and noises: (T,)."""
    losses = []
    for t in range(schedule.T):
        noise = torch.randn(x0.shape, generator=generator)
        t_batch = torch.full((len(x0),), t)
        with torch.no_grad():
            losses.append(float(p_losses(denoiser, schedule, x0, t_batch, y, noise=noise)))
    return np.array(losses)


def make(out, n: int = 4_000, seed: int = 0, ckpt=None, train_steps=None) -> FigureEntry:
    if ckpt is None:
        ckpt = cached_checkpoint(TrainConfig().T, train_steps)
    model, config = load_model(ckpt)
    step_losses = RECIPE.read(ckpt)["losses"].numpy()
    schedule = config.make_schedule()
    gmm = problem_gmm(n_samples=1)
    x0, _ = gmm.sample(n, generator=torch.Generator().manual_seed(seed))
    unlabelled = torch.full((n,), NULL_LABEL)
    learned = loss_per_timestep(model, schedule, x0, unlabelled, torch.Generator().manual_seed(seed + 1))
    floor = loss_per_timestep(gmm.exact_denoiser(schedule.alphas_cumprod), schedule, x0, unlabelled,
                              torch.Generator().manual_seed(seed + 1))

    numbers = {"learned": learned.tolist(), "floor": floor.tolist()}
    fig, (ax_steps, ax_t, ax_gap) = plt.subplots(1, 3, figsize=(16, 4.2), constrained_layout=True)
    steps = np.arange(1, len(step_losses) + 1)
    window = min(100, len(step_losses))
    running = np.convolve(step_losses, np.ones(window) / window, mode="valid")
    ax_steps.plot(steps, step_losses, color=PALETTE[0], alpha=0.25, lw=0.6, label="loss of each step")
    ax_steps.plot(steps[window - 1:], running, color=PALETTE[0], lw=1.6, label=f"mean of {window} steps")
    ax_steps.set(yscale="log", xlabel="optimiser step", ylabel=f"{config.loss_type} loss (all t, labels dropped "
                 f"with p = {config.label_dropout})", title=f"training, T = {config.T}")
    ax_steps.legend()
    t_axis = np.arange(1, schedule.T + 1)
    ax_t.plot(t_axis, learned, color=PALETTE[0], marker="o", ms=3, label="trained model (EMA weights)")
    ax_t.plot(t_axis, floor, color=PALETTE[2], marker="o", ms=3, label="exact denoiser eps*: the lowest possible")
    ax_t.set(yscale="log", xlabel="timestep t (1 = least noise)", ylabel="loss, unconditional",
             title=f"loss per timestep on {n} fresh samples")
    ax_t.legend()
    ax_gap.plot(t_axis, learned - floor, color=PALETTE[3], marker="o", ms=3)
    ax_gap.axhline(0, color="0.5", lw=0.8)
    ax_gap.set(xlabel="timestep t (1 = least noise)", ylabel="trained loss - exact loss",
               title="what training has left to learn, per t")
    save(fig, out)
    return FigureEntry(
        out, "Left: training loss per optimiser step. Middle: the trained model's loss at each timestep against "
             "the exact denoiser's, the irreducible part. Right: their difference.",
        f"python -m viz.training_curve --n {n} --seed {seed}",
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure, from the per-timestep losses it draws (index i is the paper's t = i + 1)."""
    learned, floor = np.array(numbers["learned"]), np.array(numbers["floor"])
    excess = learned - floor
    T = len(excess)
    positive = np.clip(excess, 0, None)
    low = max(1, T // 4)  # the least noisy quarter of the steps
    share_low = float(positive[:low].sum() / positive.sum()) if positive.sum() > 0 else float("nan")
    peak = int(excess.argmax()) + 1
    return (f"Most of the loss is irreducible: the exact denoiser's loss {trend([floor[0], floor[-1]], '{:.3f}')} from "
            f"t = 1 to t = {T} (at small t the noise is almost unpredictable from x_t, at large t it is almost x_t "
            f"itself). The trained model's excess over it is {excess.min():.4f} at least and {excess.max():.4f} at most, "
            f"largest at t = {peak}; {percent(share_low)} of the positive excess lies at t = 1..{low}, the least noisy "
            f"quarter of the chain, where the unconditional model must tell the two modes apart from x_t alone.")


if __name__ == "__main__":
    parser = figure_parser(__doc__, "training_curve.png", 4_000)
    parser.add_argument("--ckpt", default=None, help="trained model (default: the cached T = 50 model)")
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.seed, args.ckpt, args.train_steps))
