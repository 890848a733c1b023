"""DIP's network on this CPU: fitting speed, the share of the CPU's measured peak it reaches, the gain
of running fits in parallel processes, and the PSNR the narrower default width costs.

    python -m tools.bench_dip_network            (part of make bench-dip; about 6 minutes on 2 cores)

Speed: iterations per second of one fit (forward, backward, Adam step) at 64x64 and 128x128, for
the default width and the paper's 128, on 2 threads and on 1. GFLOP/s counts the convolutions'
multiply-adds (x2 FLOPs, x3 for the backward pass) against a 2048x2048 matrix product on the same
threads, the practical peak. Parallel: two one-thread processes fitting at once, against one fit
on two threads. Width: the peak PSNR (oracle: the best over the iterations) of widths 32, 64 and
128 on camera, coins and astronaut at sigma 25, 64x64, seed 0.

Each measurement is appended to the record results/dip-network.jsonl as it is printed (kind "peak",
"speed", "parallel" or "psnr"); docs/benchmarks.md's table is made from it (tools/tables.py: dip-network).
"""
import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from torch import nn

import records
from dip_ext.fit import Stage, fit
from dip_ext.images import add_noise, load_image
from dip_ext.network import PAPER_WIDTH, DipConfig, SkipHourglass, input_noise

DEFAULT_WIDTH = DipConfig().channels_down
WIDTH_IMAGES = ("camera", "coins", "astronaut")
RECORD = "dip-network"


def convolution_flops(network: nn.Module, z: torch.Tensor) -> float:
    """FLOPs of one training iteration: 2 per multiply-add of every convolution, x3 for the backward."""
    total = []

    def count(layer, _, output):
        total.append(output.numel() * layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1])

    hooks = [layer.register_forward_hook(count) for layer in network.modules() if isinstance(layer, nn.Conv2d)]
    with torch.no_grad():
        network(z)
    for hook in hooks:
        hook.remove()
    return 2 * 3 * float(sum(total))


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - started) / 1e9


def iterations_per_second(width: int, side: int, threads: int, iterations: int = 30) -> float:
    torch.set_num_threads(threads)
    image = np.random.default_rng(0).random((side, side))
    fit(image, DipConfig(channels_down=width, channels_up=width), [Stage(0.0, 3)], progress=False)  # warm-up
    record = fit(image, DipConfig(channels_down=width, channels_up=width), [Stage(0.0, iterations)], progress=False)
    return record.iterations / record.seconds


def _one_thread_speed(width: int) -> float:
    return iterations_per_second(width, 64, threads=1, iterations=60)


def peak_psnr(width: int, image: str, iterations: int = 800) -> float:
    clean = load_image(image, 64)
    noisy = add_noise(clean, 25, torch.Generator().manual_seed(0))
    record = fit(noisy, DipConfig(channels_down=width, channels_up=width), [Stage(0.0, iterations)], clean=clean,
                 progress=False)
    return max(record.psnr)


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    run = records.run_id()

    def record(kind: str, **row) -> None:
        records.append(RECORD, [{"run": run, "kind": kind} | row], " ".join(["python -m tools.bench_dip_network", *sys.argv[1:]]))

    peaks = {threads: matmul_gflops(threads) for threads in (1, 2)}
    for threads, gflops in peaks.items():
        record("peak", threads=threads, gflops=gflops)
    print(f"practical peak (2048x2048 matrix product): {peaks[1]:.0f} GFLOP/s on 1 thread, {peaks[2]:.0f} on 2\n")
    print("| width | image side | threads | iterations/s | GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|")
    for width in (DEFAULT_WIDTH, PAPER_WIDTH):
        for side in (64, 128):
            config = DipConfig(channels_down=width, channels_up=width)
            flops = convolution_flops(SkipHourglass(config), input_noise(config, side, side))
            for threads in (2, 1):
                speed = iterations_per_second(width, side, threads)
                rate = speed * flops / 1e9
                record("speed", width=width, side=side, threads=threads, iterations_per_s=speed, gflops=rate)
                print(f"| {width} | {side} | {threads} | {speed:.1f} | {rate:.1f} | {100 * rate / peaks[threads]:.0f}% |",
                      flush=True)
    for width in (DEFAULT_WIDTH, PAPER_WIDTH):
        together = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            speeds = list(pool.map(_one_thread_speed, [width, width]))
        single = iterations_per_second(width, 64, threads=2, iterations=60)
        record("parallel", width=width, side=64, together=sum(speeds), single=single)
        print(f"\nwidth {width}, 64x64: two one-thread fits at once run {sum(speeds):.1f} iterations/s in all, "
              f"one two-thread fit {single:.1f}: x{sum(speeds) / single:.2f} ({time.perf_counter() - together:.0f} s)")
    torch.set_num_threads(2)
    print("\npeak PSNR (dB), sigma 25, 64x64, seed 0, 800 iterations:")
    print("| width | " + " | ".join(WIDTH_IMAGES) + " | mean |")
    print("|---|" + "---|" * (len(WIDTH_IMAGES) + 1))
    for width in (32, DEFAULT_WIDTH, PAPER_WIDTH):
        psnrs = [peak_psnr(width, image) for image in WIDTH_IMAGES]
        for image, psnr in zip(WIDTH_IMAGES, psnrs):
            record("psnr", width=width, image=image, sigma=25, side=64, seed=0, iterations=800, psnr=psnr)
        print(f"| {width} | " + " | ".join(f"{psnr:.2f}" for psnr in psnrs) + f" | {np.mean(psnrs):.2f} |", flush=True)


if __name__ == "__main__":
    main()
