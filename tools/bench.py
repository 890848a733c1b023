"""Quality and speed benchmark of the two-pixel core: learned models against the exact denoiser.

    make bench                      # or: python -m tools.bench [--n 20000] [--T 5 10 25 50]

For each T it trains the default configuration from scratch (timed), draws n samples from the
learned model and n from the exact denoiser with the same schedule and sampler, and prints

  - mode weights, learned and exact;
  - per-mode standard deviation, learned / exact;
  - energy distance learned-vs-exact, the noise floor (exact vs exact, other seeds) and their ratio;

then, for the largest T, conditional sampling with guidance weights w = 0, 1, 3: the fraction of
samples in the label's mode and the fraction beyond 3 sigma of that mode.
Targets (issue 3, at T = 50): training <= 30 s; weight gap <= 0.02; std ratio within 10%;
energy ratio <= 3; >= 99% in the labelled mode at w = 0.
"""
import argparse
import time
from dataclasses import replace

import torch

from checkpoints import CHECKPOINT_DIR
from devices import set_cpu_threads
from gmm import problem_gmm
from metrics import energy_distance, mode_statistics
from recipe import RECIPE, TrainConfig, load_model
from samplers import sample
from training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="samples per set")
    parser.add_argument("--T", type=int, nargs="+", default=[5, 10, 25, 50])
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--train-steps", type=int, default=None, help="override the default number of training steps")
    args = parser.parse_args()
    set_cpu_threads()
    gmm = problem_gmm(n_samples=1)
    draw = lambda denoiser, schedule, seed, **kw: sample(  # noqa: E731
        denoiser, schedule, args.n, generator=torch.Generator().manual_seed(seed), **kw).squeeze(1)

    print(f"two-pixel DDPM benchmark: {args.n} samples per set, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads\n")
    header = (f"{'T':>3} {'train s':>8} {'weights learned':>16} {'weights exact':>14} {'std learned/exact':>22}"
              f" {'energy':>9} {'floor':>9} {'ratio':>6}")
    print(header)
    models = {}
    for T in args.T:
        config = replace(TrainConfig(), T=T, seed=args.seed)
        if args.train_steps is not None:
            config = replace(config, steps=args.train_steps)
        path = CHECKPOINT_DIR / "bench" / f"T{T}.pt"
        start = time.perf_counter()
        train(RECIPE, config, path, overwrite=True, progress=False)
        seconds = time.perf_counter() - start
        model, _ = load_model(path)
        schedule = config.make_schedule()
        exact = gmm.exact_denoiser(schedule.alphas_cumprod)
        learned_x, exact_x, exact_x2 = draw(model, schedule, 1), draw(exact, schedule, 2), draw(exact, schedule, 3)
        learned, reference = mode_statistics(gmm, learned_x), mode_statistics(gmm, exact_x)
        distance, floor = energy_distance(learned_x, exact_x), energy_distance(exact_x2, exact_x)
        stds = " ".join(f"{a:.4f}/{b:.4f}" for a, b in zip(learned.stds, reference.stds))
        print(f"{T:>3} {seconds:>8.1f} {_pair(learned.weights):>16} {_pair(reference.weights):>14} {stds:>22}"
              f" {distance:>9.2e} {floor:>9.2e} {distance / floor:>6.2f}", flush=True)
        models[T] = (model, schedule)

    T = max(models)
    model, schedule = models[T]
    print(f"\nconditional sampling, T = {T}: fraction in the label's mode / beyond 3 sigma of it")
    print(f"{'label':>5} " + " ".join(f"{f'w = {w}':>16}" for w in (0, 1, 3)))
    for label in (0, 1):
        cells = []
        for w in (0, 1, 3):
            x = draw(model, schedule, 4, label=label, guidance_weight=w)
            in_mode = float((gmm.classify(x) == label).double().mean())
            cells.append(f"{in_mode:.4f} / {mode_statistics(gmm, x).outlier_fraction:.4f}")
        print(f"{label:>5} " + " ".join(f"{c:>16}" for c in cells))


def _pair(values) -> str:
    return " ".join(f"{v:.4f}" for v in values)


if __name__ == "__main__":
    main()
