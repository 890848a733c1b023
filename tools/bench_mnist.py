"""Benchmark the MNIST extension against its targets, printing the figures for docs/benchmarks.md.

    python -m tools.bench_mnist [--ckpt checkpoints/mnist/ddpm.pt] [--device D] [--per-class 100] [--compare]

  training throughput   images per second of the default configuration and speed policy (a short fresh run);
                        --compare adds wider U-Nets and larger batches
  training time         the default run's own clock, read from the checkpoint (trained first if absent)
                        target: at most 5 minutes on a 2-core CPU (issue #39)
  sampling time         100 guided digits with the default sampler; target: at most 15 s on that CPU
  accuracy              --per-class guided digits per class read as their label by the evaluation
                        classifier; target: at least 98%. Also the Frechet distance in its features.

The run's figures are appended to the record results/mnist.jsonl, with the checkpoint's config;
docs/benchmarks.md's table is made from it (tools/tables.py: mnist).
"""
import argparse
import datetime
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

import records
from devices import pick_device, set_cpu_threads
from mnist_ext.data import NUM_CLASSES, model_and_held_out_digits
from mnist_ext.generate import DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS, generate
from mnist_ext.recipe import DEFAULT_CHECKPOINT, RECIPE, MnistConfig, load_model
from mnist_ext.scoring import load_or_train_classifier, report, score
from speed import speed_policy
from training import ensure_trained, training_step

RECORD = "mnist"
TARGET_MINUTES = 5.0
"""Time to quality of the default run on a 2-core CPU, its own clock."""
TARGET_ACCURACY = 0.98
"""Share of guided digits the evaluation classifier reads as their label."""


def training_throughput(device: torch.device, config: MnistConfig = MnistConfig(), steps: int = 30, warmup: int = 5) -> float:
    """Images per second of the training loop's work for `config` (training.training_step) under
    the default speed policy of `device`."""
    parts = RECIPE.training_parts(config, device)
    policy = speed_policy(RECIPE.kind, device)
    policy.prepare(parts.model)
    generator = torch.Generator().manual_seed(0)
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        training_step(parts, generator, policy, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * config.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--device", default=None)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", action="store_true", help="also time wider U-Nets and other batch sizes")
    args = parser.parse_args()
    set_cpu_threads()
    device = pick_device(args.device)
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    throughput = training_throughput(device)
    print(f"training throughput (default config, batch {MnistConfig().batch_size}): {throughput:.0f} images/s")
    if args.compare:
        for change in (dict(channels=(32, 64, 128, 128)), dict(channels=(16, 48, 96, 128)),
                       dict(batch_size=128), dict(batch_size=256)):
            rate = training_throughput(device, replace(MnistConfig(), **change))
            print(f"  with {', '.join(f'{k} = {v}' for k, v in change.items())}: {rate:.0f} images/s")

    state = RECIPE.read(ensure_trained(RECIPE, args.ckpt, device=device))
    model, config = load_model(args.ckpt, device)
    minutes = state['seconds_trained'] / 60
    print(f"training time of {args.ckpt}: {minutes:.1f} min for {state['step']} steps of {config.steps} "
          f"(target: <= {TARGET_MINUTES:g} min on a 2-core CPU: {'met' if minutes <= TARGET_MINUTES else 'not met'})")

    schedule = config.make_schedule()
    hundred = torch.arange(NUM_CLASSES).repeat_interleave(10)
    generate(model, schedule, hundred[:10], device=device)  # warm-up
    started = time.perf_counter()
    generate(model, schedule, hundred, seed=args.seed, device=device)
    sampling = time.perf_counter() - started
    print(f"sampling 100 digits ({DEFAULT_SAMPLER}, {DEFAULT_STEPS} steps, w = {DEFAULT_GUIDANCE:g}): "
          f"{sampling:.1f} s (target: <= 15 s)")

    classifier, real_accuracy = load_or_train_classifier()
    (reference, _), _ = model_and_held_out_digits()
    labels = torch.arange(NUM_CLASSES).repeat_interleave(args.per_class)
    result = score(classifier, generate(model, schedule, labels, seed=args.seed, device=device).cpu(), labels, reference)
    met = "met" if result["accuracy"] >= TARGET_ACCURACY else "not met"
    print(f"{len(labels)} guided digits ({DEFAULT_SAMPLER}, {DEFAULT_STEPS} steps, w = {DEFAULT_GUIDANCE:g}); "
          f"target: >= {TARGET_ACCURACY:.0%} read as their label: {met}")
    print(report(result, real_accuracy, len(reference)))
    records.append(RECORD, [{"config": records.as_stored(asdict(config)), "device": str(device),
                             "throughput": throughput, "minutes trained": minutes, "steps": state["step"],
                             "sampling seconds": sampling, "digits": len(labels), "accuracy": result["accuracy"],
                             "frechet": result["frechet"], "frechet floor": result["frechet_floor"],
                             "classifier accuracy": real_accuracy}],
                   " ".join(["python -m tools.bench_mnist", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
