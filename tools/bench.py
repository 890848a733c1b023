"""Quality and speed of the default two-pixel model on several seeds, judged against the exact denoiser.

    make bench                     # or: python -m tools.bench [--seeds 0 1 2 3 4] [--n 20000]
    python -m tools.bench --set label_dropout=0.5 --set steps=4000      # try another recipe

For each seed it trains the default TrainConfig (T = 50) from scratch, timed, then draws n samples
from the learned model and n from the exact denoiser with the same schedule and ancestral sampler,
and prints:

  weight gap     |learned - exact| weight of the first mode (unconditional samples)
  std ratio      per-mode std, learned / exact
  energy ratio   energy distance learned-vs-exact over its noise floor (two exact sets, other seeds)
  in mode        the smaller, over the two labels, of the fraction of labelled samples (w = 0) in their mode

then the worst seed of each column, against the bars: gap <= 0.01, std within 5%, energy <= 2x the
floor, >= 99% in mode, training <= 30 s on 2 cores.
"""
import argparse
import time
from dataclasses import fields, replace

import torch

from checkpoints import CHECKPOINT_DIR
from devices import set_cpu_threads
from gmm import problem_gmm
from metrics import energy_distance, mode_statistics
from recipe import RECIPE, TrainConfig, load_model
from samplers import sample
from training import train

BARS = {"gap": 0.01, "std": 0.05, "energy": 2.0, "in_mode": 0.99, "seconds": 30.0}


def parse_override(text: str) -> tuple[str, object]:
    """'label_dropout=0.5' -> ('label_dropout', 0.5), typed like the TrainConfig field."""
    name, _, value = text.partition("=")
    kinds = {field.name: type(getattr(TrainConfig(), field.name)) for field in fields(TrainConfig)}
    if name not in kinds:
        raise argparse.ArgumentTypeError(f"unknown TrainConfig field {name!r}; choose from {sorted(kinds)}")
    kind = kinds[name]
    return name, tuple(int(v) for v in value.split(",")) if kind is tuple else kind(value)


def evaluate(config: TrainConfig, n: int) -> dict:
    """Train config (timed) and judge its samples against the exact denoiser's: one row of the table."""
    path = CHECKPOINT_DIR / "bench" / f"seed{config.seed}.pt"
    started = time.perf_counter()
    train(RECIPE, config, path, overwrite=True, progress=False)
    seconds = time.perf_counter() - started
    model, _ = load_model(path)
    schedule = config.make_schedule()
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(schedule.alphas_cumprod)

    def draw(denoiser, seed, **options):
        return sample(denoiser, schedule, n, generator=torch.Generator().manual_seed(seed), **options).squeeze(1)

    learned_x, exact_x, exact_again = draw(model, 1), draw(exact, 2), draw(exact, 3)
    learned, reference = mode_statistics(gmm, learned_x), mode_statistics(gmm, exact_x)
    in_mode = min(float((gmm.classify(draw(model, 4 + label, label=label)) == label).double().mean())
                  for label in (0, 1))
    return {"seed": config.seed, "seconds": seconds, "steps_per_s": config.steps / seconds,
            "weights": learned.weights[0], "exact_weights": reference.weights[0],
            "gap": abs(learned.weights[0] - reference.weights[0]),
            "std_ratios": [a / b for a, b in zip(learned.stds, reference.stds)],
            "energy": energy_distance(learned_x, exact_x) / energy_distance(exact_again, exact_x),
            "in_mode": in_mode}


def row(result: dict) -> str:
    ratios = "/".join(f"{r:.3f}" for r in result["std_ratios"])
    return (f"{result['seed']:>5} {result['seconds']:>8.1f} {result['steps_per_s']:>8.0f} "
            f"{result['weights']:>8.4f} {result['exact_weights']:>8.4f} {result['gap']:>7.4f} {ratios:>12} "
            f"{result['energy']:>7.2f} {result['in_mode']:>8.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=20_000, help="samples per set")
    parser.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[],
                        metavar="FIELD=VALUE", help="change a TrainConfig field (repeatable)")
    args = parser.parse_args()
    set_cpu_threads()
    base = replace(TrainConfig(), **dict(args.overrides))
    changed = ", ".join(f"{name} = {value}" for name, value in args.overrides) or "none"
    print(f"two-pixel DDPM, T = {base.T}, {base.steps} steps; changed from the defaults: {changed}; "
          f"{args.n} samples per set; torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    print(f"{'seed':>5} {'train s':>8} {'steps/s':>8} {'w0 learn':>8} {'w0 exact':>8} {'gap':>7} {'std ratio':>12} "
          f"{'energy':>7} {'in mode':>8}")
    results = []
    for seed in args.seeds:
        results.append(evaluate(replace(base, seed=seed), args.n))
        print(row(results[-1]), flush=True)
    worst = {"gap": max(r["gap"] for r in results),
             "std": max(abs(ratio - 1) for r in results for ratio in r["std_ratios"]),
             "energy": max(r["energy"] for r in results), "in_mode": min(r["in_mode"] for r in results),
             "seconds": max(r["seconds"] for r in results)}
    met = {"gap": worst["gap"] <= BARS["gap"], "std": worst["std"] <= BARS["std"],
           "energy": worst["energy"] <= BARS["energy"], "in_mode": worst["in_mode"] >= BARS["in_mode"],
           "seconds": worst["seconds"] <= BARS["seconds"]}
    print(f"\nworst over seeds {args.seeds}: gap {worst['gap']:.4f} (bar {BARS['gap']}), std off by "
          f"{worst['std']:.1%} (bar {BARS['std']:.0%}), energy {worst['energy']:.2f}x the floor (bar {BARS['energy']:g}), "
          f"in mode {worst['in_mode']:.4f} (bar {BARS['in_mode']}), training {worst['seconds']:.1f} s (bar {BARS['seconds']:g})")
    print("bars met: " + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in met.items()))


if __name__ == "__main__":
    main()
