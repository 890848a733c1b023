"""Where the learned two-pixel model loses the first mode's weight, and leaves samples between the
modes: which reverse steps, and why.

    python -m tools.bench_mode_weight                       # the benchmark's checkpoints (make bench first)
    python -m tools.bench_mode_weight --ckpt checkpoints/bench/seed1.pt --n 100000

Two tables per checkpoint:

  handover   the mode weight of n unconditional samples drawn with the exact denoiser on the steps
             t >= k and the learned model on the steps t < k (same starting noise and draws for every
             k): k = 0 is the exact sampler, k = T the learned one. The steps where the weight moves
             are where the learned model's error changes the mixture. The same samples' outlier
             fraction (farther than 3 sigma from their mode's mean in a pixel) shows where samples
             are left between the modes, which widens the per-mode std.
  boundary   along the line through both modes (noised: sqrt(abar_t) times the line), the point where
             the predicted x_0 crosses the midpoint between the modes, for the exact and the learned
             unconditional denoiser. The exact boundary leans toward the lighter mode (by the log of
             the weights' ratio); a learned boundary leaning further sends part of its mass to the heavier one.
"""
import argparse
from pathlib import Path

import torch
from torch import Tensor

from checkpoints import CHECKPOINT_DIR
from devices import set_cpu_threads
from gmm import problem_gmm
from metrics import mode_statistics
from recipe import load_model
from samplers import sample

HANDOVER_STEPS = (0, 3, 6, 10, 15, 20, 30, 40, 50)
BOUNDARY_STEPS = (4, 8, 12, 16, 20, 25)


class Handover:
    """A denoiser that is `exact` on the steps t >= k and `learned` below: (x_t, t, y) -> eps."""

    def __init__(self, exact, learned, k: int):
        self.exact, self.learned, self.k = exact, learned, k
        self.null_label = learned.null_label

    def __call__(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        use_exact = (t >= self.k).reshape(-1, *[1] * (x_t.dim() - 1))
        return torch.where(use_exact, self.exact(x_t, t, y).to(x_t.dtype), self.learned(x_t, t, y))


def handover_statistics(model, exact, schedule, gmm, n: int, steps=HANDOVER_STEPS,
                        seed: int = 7) -> dict[int, tuple[float, float]]:
    """{k: (first-mode weight, outlier fraction) of n samples, exact on t >= k and learned below} (k capped at T)."""
    statistics = {}
    for k in steps:
        k = min(k, schedule.T)
        x = sample(Handover(exact, model, k), schedule, n, generator=torch.Generator().manual_seed(seed))
        summary = mode_statistics(gmm, x.squeeze(1))
        statistics[k] = summary.weights[0], summary.outlier_fraction
    return statistics


def boundary_crossings(model, exact, schedule, gmm, steps=BOUNDARY_STEPS,
                       points: int = 1601) -> dict[int, tuple[float, float]]:
    """{t: (exact, learned)}: the signed position, along the unit vector from mode 0 to mode 1 and
    measured from their midpoint (in x_0 units), where the predicted x_0 crosses that midpoint
    (nan where it stays on one side over the whole line, |offset| <= 0.8)."""
    mean0, mean1 = gmm.means[0].float(), gmm.means[1].float()
    midpoint, axis = (mean0 + mean1) / 2, (mean1 - mean0) / (mean1 - mean0).norm()
    offsets = torch.linspace(-0.8, 0.8, points)
    line = midpoint + offsets[:, None] * axis  # (P, 2)
    null = torch.full((points,), model.null_label)
    crossings = {}
    for t in steps:
        alpha_bar = schedule.alphas_cumprod[t].float()
        x_t = (alpha_bar.sqrt() * line)[:, None, :]  # (P, 1, 2)
        time = torch.full((points,), t)

        def crossing(denoiser) -> float:
            eps = denoiser(x_t, time, null).float()
            x_0 = (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()
            side = (x_0[:, 0, :] - midpoint) @ axis  # (P,): < 0 on mode 0's side
            past = (side > 0).nonzero()
            return float(offsets[int(past[0, 0])]) if len(past) else float("nan")  # nan: no crossing on the line
        crossings[t] = (crossing(exact), crossing(model))
    return crossings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, nargs="+",
                        default=sorted((CHECKPOINT_DIR / "bench").glob("seed*.pt")))
    parser.add_argument("--n", type=int, default=50_000, help="samples per handover step")
    args = parser.parse_args()
    if not args.ckpt:
        parser.error(f"no checkpoint given and none in {CHECKPOINT_DIR / 'bench'}; "
                     "run `make bench` first or pass --ckpt")
    set_cpu_threads()
    gmm = problem_gmm(n_samples=1)
    for path in args.ckpt:
        model, config = load_model(path)
        schedule = config.make_schedule()
        exact = gmm.exact_denoiser(schedule.alphas_cumprod)
        with torch.no_grad():
            handover = handover_statistics(model, exact, schedule, gmm, args.n)
            crossings = boundary_crossings(model, exact, schedule, gmm)
        print(f"{path} (T = {config.T}, {args.n} samples; first-mode weight {float(gmm.mix_weights[0]):.2f})")
        print("  learned below step k, weight:   " + "  ".join(f"k={k}: {w:.4f}" for k, (w, _) in handover.items()))
        print("  learned below step k, outliers: " + "  ".join(f"k={k}: {o:.4f}" for k, (_, o) in handover.items()))
        print("  boundary (x_0 units, < 0: toward mode 0), exact / learned: "
              + "  ".join(f"t={t}: {e:+.3f}/{l:+.3f}" for t, (e, l) in crossings.items()), flush=True)


if __name__ == "__main__":
    main()
