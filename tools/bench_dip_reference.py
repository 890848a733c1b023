"""Where this project's DIP differs from the paper's published code, and what each difference changes.

    python -m tools.bench_dip_reference              (25 minutes on 2 cores, 2026-11-29)
    python -m tools.bench_dip_reference --size 128   (the stopping study's size; several times longer)

Two of the three differences (docs/dip.md, "Network and fitting") are measured here on the six
colour photographs, seed 0, 2,000 iterations; the third, the width (64 channels, the paper's 128),
is measured by tools/bench_dip_network.

- Input perturbation: the reference code raises the std of the noise added to z at every iteration
  from 1/30 to 1/20 at sigma 50. Both are fitted at sigma 50 and compared on the peak PSNR of the
  averaged and the raw output and on the PSNR at the discrepancy and ES-WMV stops (the rules
  that need only the one fit).
- Backtracking: at every iteration but each 100th, the reference code compares the PSNR of the raw
  output to the noisy image with its value at the last iteration it accepted, and if it fell by
  more than 5 dB it reloads the accepted weights. PSNR to y is -10 log10(residual), so the test is
  residual_k > 10^(1/2) x residual at the last accepted iteration. `fallbacks` replays that test on
  the residuals of the default fits at sigma 25 and 50: where it never fires, backtracking would
  have left the fit exactly as it ran.
"""
import argparse

import numpy as np
import torch

from devices import one_thread_workers
from dip_ext.classical import estimated_sigma
from dip_ext.fit import WMV_WINDOW, Stage, fit
from dip_ext.images import COLOUR_IMAGES, add_noise, load_image
from dip_ext.network import DipConfig
from dip_ext.stopping import discrepancy_stop, wmv_stop

REFERENCE_FALL_DB = 5.0
"""The reference code falls back when the raw output's PSNR to the noisy image falls by more than this."""
REFERENCE_CHECK_SKIPPED_EVERY = 100
"""...at every iteration except the multiples of its show_every (100), where it neither checks nor accepts."""
REFERENCE_INPUT_NOISE_SIGMA_50 = 1 / 20


def fallbacks(residual: np.ndarray) -> int:
    """How often the reference code's backtracking would fire on a fit's residuals ||f_k - y||^2 / N
    (k = 0, 1, ...; its iteration counter i = k). Counted as if each fallback were not taken: exact
    when the count is 0, an estimate otherwise."""
    ratio = 10 ** (REFERENCE_FALL_DB / 10)
    accepted, fired = np.inf, 0  # the reference starts from psrn_noisy_last = 0 dB: residual 1, above any here
    for k, value in enumerate(residual):
        if k % REFERENCE_CHECK_SKIPPED_EVERY == 0:
            continue
        if value > ratio * accepted:
            fired += 1
        else:
            accepted = value
    return fired


def _fit(image: str, sigma: float, input_noise_std: float, size: int, iterations: int) -> dict:
    clean = load_image(image, size)
    noisy = add_noise(clean, sigma, torch.Generator().manual_seed(0))
    sigma_hat = estimated_sigma(noisy)
    record = fit(noisy, DipConfig(input_noise_std=input_noise_std), [Stage(0.0, iterations)], sigma=sigma_hat,
                 clean=clean, progress=False)
    signals = record.arrays()
    stops = {"discrepancy": discrepancy_stop(signals["residual"], sigma_hat ** 2), "ES-WMV": wmv_stop(signals["wmv"])}
    return {"peak": signals["psnr"].max(), "peak raw": signals["psnr_raw"].max(),
            **{rule: signals["psnr"][stop] for rule, stop in stops.items()},
            **{f"{rule} raw": signals["psnr_raw"][stop] for rule, stop in stops.items()},
            "fallbacks": fallbacks(signals["residual"]),
            "largest rise": float(np.max(signals["residual"][1:] / signals["residual"][:-1]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="image side (default 64)")
    parser.add_argument("--iterations", type=int, default=2000, help="iterations per fit (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="one-thread fitting processes")
    args = parser.parse_args()
    if args.iterations < WMV_WINDOW:
        parser.error(f"--iterations must be at least ES-WMV's window, {WMV_WINDOW}")
    default_std = DipConfig().input_noise_std
    runs = [(image, sigma, std) for sigma, std in ((25, default_std), (50, default_std), (50, REFERENCE_INPUT_NOISE_SIGMA_50))
            for image in COLOUR_IMAGES]
    with one_thread_workers(args.workers) as pool:
        futures = {run: pool.submit(_fit, *run, args.size, args.iterations) for run in runs}
        results = {run: future.result() for run, future in futures.items()}
    print(f"{args.size}x{args.size} colour, seed 0, {args.iterations} iterations; PSNR in dB (averaged output / raw output)\n")
    print(f"Input perturbation at sigma 50: this project's 1/{1 / default_std:.0f} against the reference code's "
          f"1/{1 / REFERENCE_INPUT_NOISE_SIGMA_50:.0f}")
    columns = ("peak", "discrepancy", "ES-WMV")
    print("| image | " + " | ".join(f"{column}: 1/30 | 1/20" for column in columns) + " |")
    print("|---|" + "---|" * (2 * len(columns)))
    differences = {column: [] for column in columns}
    for image in COLOUR_IMAGES:
        ours, theirs = results[(image, 50, default_std)], results[(image, 50, REFERENCE_INPUT_NOISE_SIGMA_50)]
        cells = []
        for column in columns:
            raw = f"{column} raw"
            cells.append(f"{ours[column]:.2f} / {ours[raw]:.2f} | {theirs[column]:.2f} / {theirs[raw]:.2f}")
            differences[column].append((theirs[column] - ours[column], theirs[raw] - ours[raw]))
        print(f"| {image} | " + " | ".join(cells) + " |")
    mean = {column: np.mean(values, axis=0) for column, values in differences.items()}
    spread = {column: (np.min(values, axis=0), np.max(values, axis=0)) for column, values in differences.items()}
    print("| 1/20 minus 1/30: mean (min to max) | " + " | ".join(
        f"{mean[c][0]:+.2f} ({spread[c][0][0]:+.2f} to {spread[c][1][0]:+.2f}) / "
        f"{mean[c][1]:+.2f} ({spread[c][0][1]:+.2f} to {spread[c][1][1]:+.2f})" for c in columns) + " |")
    print(f"\nBacktracking: fallbacks the reference code would take (raw PSNR to y down > {REFERENCE_FALL_DB:g} dB), "
          "and the largest one-iteration rise of the residual")
    print("| sigma | input perturbation | fits | fits with a fallback | fallbacks | largest rise of the residual |")
    print("|---|---|---|---|---|---|")
    for sigma, std in dict.fromkeys((sigma, std) for _, sigma, std in runs):
        chosen = [results[(image, sigma, std)] for image in COLOUR_IMAGES]
        print(f"| {sigma} | 1/{1 / std:.0f} | {len(chosen)} | {sum(r['fallbacks'] > 0 for r in chosen)} | "
              f"{sum(r['fallbacks'] for r in chosen)} | x{max(r['largest rise'] for r in chosen):.2f} |")


if __name__ == "__main__":
    main()
