"""Each model's training speed under each speed policy, side by side with eager float32, on this machine.

    make bench-speed                        # or: python -m tools.bench_speed [--repeats 3] [--compile]

Prints the machine (CPU, device kind, threads), its measured float32 and bfloat16 matrix-product
peaks (2048 x 2048, the practical ceiling), then per model the speed of a training step under
each policy: the median of --repeats measurements taken in turn (so a slow minute of the host
hits every policy alike), the ratio to eager float32, and the share of the peak of the policy's
precision (FLOPs of one step counted by torch's FlopCounterMode, forward and backward). The
default policy of this device kind (speed.DEFAULTS) is marked. `--compile` adds torch.compile,
timed after its first steps, with its compile time printed beside it.

Models: the two-pixel DDPM's step (TrainConfig defaults), the MNIST U-Net's (MnistConfig), a DIP
fit's iteration on a 128x128 and a 256x256 grey image (DipConfig, width 64). Run it alone: another
torch process on the same cores slows every number.

A measuring run (not --quick) appends the peaks and each model x policy row to the record
results/speed.jsonl; docs/benchmarks.md's table is made from it (tools/tables.py: speed-policies).
"""
import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import records
from devices import pick_device, set_cpu_threads
from dip_ext.fit import Stage, fit
from dip_ext.network import DipConfig, SkipHourglass, input_noise
from mnist_ext.recipe import RECIPE as MNIST_RECIPE
from mnist_ext.recipe import MnistConfig
from recipe import RECIPE as TWO_PIXEL_RECIPE
from recipe import TrainConfig
from speed import BFLOAT16, FLOAT32, SpeedPolicy, device_kind, speed_policy
from training import Recipe, training_step

RECORD = "speed"
CANDIDATES = (FLOAT32, BFLOAT16, SpeedPolicy(precision="bfloat16", channels_last=True))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a size x size matrix product in `dtype`."""
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size ** 3 * repeats / (time.perf_counter() - started) / 1e9


@dataclass
class Workload:
    """One model's training step: `make(policy)` returns (step, flops) where step() runs `per_call`
    units (optimiser steps or DIP iterations) and flops is the FLOPs of one unit."""

    name: str
    model: str  # its key in speed.DEFAULTS
    unit: str
    per_call: int
    warmup_calls: int
    make: Callable[[SpeedPolicy], tuple[Callable[[], None], float]]


def recipe_workload(name: str, recipe: Recipe, config, device: torch.device, per_call: int) -> Workload:
    """The training loop's work for one step of `recipe` (training.training_step: the loop without
    its checkpoints and progress bar)."""

    def make(policy: SpeedPolicy):
        parts = recipe.training_parts(config, device)
        policy.prepare(parts.model)
        generator = torch.Generator().manual_seed(0)

        counter = FlopCounterMode(display=False)
        with counter:
            training_step(parts, generator, policy, device)

        def step():
            for _ in range(per_call):
                loss = training_step(parts, generator, policy, device)
            loss.item()
        return step, counter.get_total_flops()

    return Workload(name, recipe.kind, "steps/s", per_call, 1, make)


def dip_workload(side: int, device: torch.device, per_call: int) -> Workload:
    """A DIP fit of a side x side grey image: per_call iterations of dip_ext.fit."""
    config = DipConfig()
    image = np.random.default_rng(0).random((side, side))

    def make(policy: SpeedPolicy):
        network = SkipHourglass(config).to(device)
        z = input_noise(config, side, side).to(device)
        counter = FlopCounterMode(display=False)
        with counter, policy.autocast(device):
            network(z).float().sum().backward()

        def step():
            fit(image, config, [Stage(0.0, per_call)], device=device, progress=False, speed=policy)
        return step, counter.get_total_flops()

    return Workload(f"DIP {side}x{side}", "dip", "iterations/s", per_call, 1, make)


WORKLOADS = {
    "two-pixel": lambda device, scale: recipe_workload("two-pixel", TWO_PIXEL_RECIPE, TrainConfig(), device,
                                                       per_call=max(2, int(300 * scale))),
    "MNIST": lambda device, scale: recipe_workload("MNIST", MNIST_RECIPE, MnistConfig(), device,
                                                   per_call=max(2, int(30 * scale))),
    "DIP-128": lambda device, scale: dip_workload(128, device, per_call=max(2, int(30 * scale))),
    "DIP-256": lambda device, scale: dip_workload(256, device, per_call=max(2, int(10 * scale))),
}
"""The models timed, by their --models name: (device, scale of the step counts) -> Workload."""


def measure(workload: Workload, policy: SpeedPolicy, device: torch.device) -> tuple[float, float, float]:
    """(units per second, FLOPs per unit, seconds of the warm-up calls) of `workload` under `policy`."""
    step, flops = workload.make(policy)
    started = time.perf_counter()
    for _ in range(workload.warmup_calls):
        step()
    synchronize(device)
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    step()
    synchronize(device)
    return workload.per_call / (time.perf_counter() - started), flops, warmup


def describe_policy(policy: SpeedPolicy) -> str:
    return policy.describe().rsplit(",", 1)[0]  # without the thread count, printed once above


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="measurements per policy, taken in turn")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compiling)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    parser.add_argument("--quick", action="store_true", help="a few steps each: checks that it runs, measures nothing")
    parser.add_argument("--models", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), help="the models to time")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    set_cpu_threads()
    device = pick_device(args.device)
    kind = device_kind(device)
    size = 256 if args.quick else 2048  # a CPU without bfloat16 instructions (AVX2 only) takes minutes at 2048
    peaks = {"float32": matmul_peak(torch.float32, device, size), "bfloat16": matmul_peak(torch.bfloat16, device, size)}
    processor = platform.processor() or platform.machine()
    if device.type == "cpu":
        processor = torch._C._cpu._get_cpu_capability().get("cpu_name", processor)
    run = {"run": records.run_id(), "device kind": kind,
           "repeats": args.repeats}
    command = " ".join(["python -m tools.bench_speed", *(sys.argv[1:] if argv is None else argv)])
    if not args.quick:
        records.append(RECORD, [run | {"kind": "peak", "precision": precision, "gflops": gflops}
                                for precision, gflops in peaks.items()], command)
    print(f"{processor}, device {device} (kind {kind}), {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    print(f"matrix-product peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s "
          f"(x{peaks['bfloat16'] / peaks['float32']:.2f})\n")
    scale = 0.1 if args.quick else 1
    workloads = [WORKLOADS[name](device, scale) for name in args.models]
    candidates = list(CANDIDATES) + ([SpeedPolicy(compile=True), SpeedPolicy(precision="bfloat16", compile=True)]
                                     if args.compile else [])
    default_speeds = {}
    print("| model | policy | speed | x float32 | GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|")
    for workload in workloads:
        default = speed_policy(workload.model, device)
        policies = list(dict.fromkeys(candidates + [default]))
        speeds: dict[SpeedPolicy, list[float]] = {policy: [] for policy in policies}
        flops, warmups = {}, {}
        for _ in range(args.repeats):
            for policy in policies:
                speed, flops[policy], warmup = measure(workload, policy, device)
                speeds[policy].append(speed)
                warmups.setdefault(policy, warmup)
        baseline = statistics.median(speeds[FLOAT32])
        default_speeds[workload.name] = statistics.median(speeds[default])
        for policy in policies:
            median = statistics.median(speeds[policy])
            rate = median * flops[policy] / 1e9
            marks = (" (default)" if policy == default else "") + \
                    (f" (first {workload.per_call} {workload.unit.split('/')[0]}: {warmups[policy]:.0f} s)" if policy.compile else "")
            print(f"| {workload.name} | {describe_policy(policy)}{marks} | {median:.1f} {workload.unit} | "
                  f"x{median / baseline:.2f} | {rate:.1f} | {100 * rate / peaks[policy.precision]:.1f}% |", flush=True)
            if not args.quick:
                records.append(RECORD, [run | {"kind": "policy", "model": workload.name, "policy": describe_policy(policy),
                                               "default": policy == default, "speed": median, "unit": workload.unit,
                                               "float32 speed": baseline, "gflops": rate,
                                               "share of peak": rate / peaks[policy.precision]}], command)
    if "two-pixel" in default_speeds:
        print(f"\nat the default policy the two-pixel run ({TrainConfig().steps} steps) takes about "
              f"{TrainConfig().steps / default_speeds['two-pixel']:.0f} s before checkpoints and the progress bar")
    if "MNIST" in default_speeds:
        print(f"at the default policy the MNIST run ({MnistConfig().steps} steps) takes about "
              f"{MnistConfig().steps / default_speeds['MNIST'] / 60:.1f} min before checkpoints and the progress bar")


if __name__ == "__main__":
    main()
