"""Sample quality against the number of sampling steps, for every sampler, exact and learned.

    python -m tools.bench_samplers [--n 10000] [--steps 1 2 4 8 16 20 32 50]

Energy distance to n ground-truth samples (lower is better; the floor is what two sets of n
ground-truth samples read on average, metrics.energy_noise_floor) for ancestral DDPM,
deterministic DDIM and DPM-Solver++(2M), with the exact denoiser on a fine schedule (T = 1000, so
any step count can be taken) and with the cached default learned model (T = 50). Target (issue 7):
the best few-step sampler at 20 steps beats ancestral DDPM at 50 steps with the exact denoiser.

Each row (denoiser, sampler, steps) is appended to the record results/two-pixel-samplers.jsonl with
the floor, n and the learned model's recipe; docs/two-pixel.md's table is made from it
(tools/tables.py: two-pixel-samplers).
"""
import argparse
import sys

import torch

import records
from devices import set_cpu_threads
from gmm import problem_gmm
from metrics import energy_distance, energy_noise_floor
from recipe import TrainConfig, load_model
from samplers import SAMPLERS, sample
from utils import Schedule
from viz.models import cached_checkpoint

RECORD = "two-pixel-samplers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 20, 32, 50])
    args = parser.parse_args()
    set_cpu_threads()
    gmm = problem_gmm(n_samples=1)
    truth = gmm.sample(args.n, generator=torch.Generator().manual_seed(100))[0]
    floor = energy_noise_floor(truth, args.n)
    fine = Schedule.make("cosine", 1000)
    learned, config = load_model(cached_checkpoint(TrainConfig().T))
    denoisers = {"exact, T = 1000": (gmm.exact_denoiser(fine.alphas_cumprod), fine),
                 f"learned, T = {config.T}": (learned, config.make_schedule())}
    command = " ".join(["python -m tools.bench_samplers", *sys.argv[1:]])
    run = {"run": records.run_id(), "n": args.n,
           "floor": floor, "recipe": config.recipe()}
    print(f"energy distance to {args.n} true samples (floor {floor:.2e}); columns: sampling steps\n")
    for name, (denoiser, schedule) in denoisers.items():
        print(f"{name:<18}" + "".join(f"{k:>10}" for k in args.steps))
        for sampler in SAMPLERS:
            distances = [energy_distance(sample(denoiser, schedule, args.n, sampler=sampler, steps=steps,
                                                generator=torch.Generator().manual_seed(0)), truth)
                         for steps in args.steps]
            records.append(RECORD, [run | {"denoiser": name, "sampler": sampler, "steps": steps, "energy": distance}
                                    for steps, distance in zip(args.steps, distances)], command)
            print(f"  {sampler:<16}" + "".join(f"{distance:>10.2e}" for distance in distances), flush=True)
        print()
    reference = sample(denoisers["exact, T = 1000"][0], fine, args.n, generator=torch.Generator().manual_seed(0))
    distance = energy_distance(reference, truth)
    records.append(RECORD, [run | {"denoiser": "exact, T = 1000", "sampler": "ddpm", "steps": len(fine.betas),
                                   "energy": distance}], command)
    print(f"exact denoiser, ancestral DDPM on all 1000 steps: {distance:.2e}")


if __name__ == "__main__":
    main()
