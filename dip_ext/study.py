"""The stopping study: for each (image, sigma, seed), plain DIP and recorrupted-target DIP on the same
noisy image, the classical denoisers beside them, and every stopping rule's result, scored on the
averaged output and on the raw one.

A case runs on its own (one process, one thread: several cases in parallel beat one case on two
threads, see "DIP speed" in docs/benchmarks.md) and returns a JSON-able dict; `summarise` turns the cases
into the table. The fixed-count rule is chosen at summary time on the *other* images of the same
sigma, so a case never picks its own stopping point.

Like for like: a rule's stop is the iteration its signal picks (discrepancy and ES-WMV watch the raw
outputs, as their papers define them; SURE and the recorrupted estimate are computed for the output
being scored), and that iteration's PSNR and SSIM are read from the output being scored; the gap is
to that output's own peak.
"""
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from dip_ext.classical import classical_denoisers, estimated_sigma
from dip_ext.fit import Stage, fit
from dip_ext.images import add_noise, load_image
from dip_ext.network import DipConfig
from dip_ext.quality import quality
from dip_ext.stopping import (WMV_PATIENCE, discrepancy_stop, estimate_stop, fixed_count_stop, plateau_width, wmv_stood,
                              wmv_stop)
from speed import SpeedPolicy, speed_policy

RULES = ("fixed count", "discrepancy", "ES-WMV", "SURE", "recorrupted", "twin")
"""(a)-(e) of dip_ext.stopping; "twin" stops plain DIP at the recorrupted fit's chosen iteration
(same seed, so same initialisation and input; it costs a second fit)."""
OUTPUTS = ("averaged", "raw")
"""What a stop is scored on: the exponential average of the outputs (DIP's reported output) or the
network's raw output at that iteration (what ES-WMV's paper reports)."""


@dataclass(frozen=True)
class StudySettings:
    size: int = 128
    grey: bool = False  # colour images stay colour
    iterations: int = 2000  # plain DIP: past every peak seen at these sizes, and ES-WMV's patience
    recorrupted_scale: float = 0.25  # the target y + a sigma z, a in units of the estimated sigma
    patience: int = 200  # the recorrupted fit ends 200 iterations after its best estimate
    network: DipConfig = field(default_factory=DipConfig)
    speed: SpeedPolicy = field(default_factory=lambda: speed_policy("dip", "cpu"))  # cases run on CPU workers


def case_key(image: str, sigma: float, seed: int) -> str:
    return f"{image}|{sigma:g}|{seed}"


def _curves(signals: dict[str, np.ndarray]) -> dict[str, dict[str, list[float]]]:
    """{output: {"psnr": curve, "ssim": curve}} from a fit's signals, rounded to 4 decimals."""
    suffix = {"averaged": "", "raw": "_raw"}
    return {output: {score: np.round(signals[score + suffix[output]], 4).tolist() for score in ("psnr", "ssim")}
            for output in OUTPUTS}


def run_case(image: str, sigma: float, seed: int, settings: StudySettings) -> dict:
    """Everything the table needs about one noisy image: curves, stops and the classical results."""
    clean = load_image(image, settings.size, settings.grey)
    noisy = add_noise(clean, sigma, torch.Generator().manual_seed(seed))
    sigma_hat = estimated_sigma(noisy)
    plain = fit(noisy, settings.network, [Stage(0.0, settings.iterations)], sigma=sigma_hat, clean=clean, seed=seed,
                progress=False, speed=settings.speed, sure=True)
    recorrupted = fit(noisy, settings.network, [Stage(settings.recorrupted_scale, settings.iterations, settings.patience)],
                      sigma=sigma_hat, clean=clean, seed=seed, progress=False, speed=settings.speed)
    signals, re_signals = plain.arrays(), recorrupted.arrays()
    wmv = wmv_stop(signals["wmv"])
    return {
        "key": case_key(image, sigma, seed), "image": image, "sigma": sigma, "seed": seed,
        "settings": asdict(settings), "sigma_estimated": sigma_hat * 255, "noisy": quality(clean, noisy),
        "classical": {name: quality(clean, denoised) for name, denoised in classical_denoisers(noisy).items()},
        "plain": _curves(signals) | {
            "discrepancy": discrepancy_stop(signals["residual"], sigma_hat ** 2), "wmv": wmv,
            "wmv stood": wmv_stood(wmv, plain.iterations),
            "sure": {"averaged": estimate_stop(signals["sure"]), "raw": estimate_stop(signals["sure_raw"])},
            "iterations_per_second": plain.iterations / plain.seconds},  # the SURE twin included: two networks
        "recorrupted": _curves(re_signals) | {
            "stop": {"averaged": estimate_stop(re_signals["estimate"]), "raw": estimate_stop(re_signals["estimate_raw"])},
            "iterations_per_second": recorrupted.iterations / recorrupted.seconds},
    }


def rule_stops(case: dict, other_cases: list[dict], output: str = "averaged") -> dict[str, tuple[float, float]]:
    """{rule: (PSNR, SSIM) of `output` at its stop} for one case; other_cases: the same sigma on
    other images (with none, there is no fixed count)."""
    plain, recorrupted = case["plain"], case["recorrupted"]
    at = lambda run, index: (run[output]["psnr"][index], run[output]["ssim"][index])  # noqa: E731
    last = len(plain[output]["psnr"]) - 1
    stops = {"discrepancy": at(plain, plain["discrepancy"]), "ES-WMV": at(plain, plain["wmv"]),
             "SURE": at(plain, plain["sure"][output]),
             "recorrupted": at(recorrupted, recorrupted["stop"][output]),
             "twin": at(plain, min(recorrupted["stop"][output], last))}
    if other_cases:
        curves = [np.asarray(other["plain"][output]["psnr"]) for other in other_cases]
        stops = {"fixed count": at(plain, min(fixed_count_stop(curves), last))} | stops
    return stops


def summarise(cases: list[dict], output: str = "averaged") -> list[dict]:
    """One row per sigma and one for all, scoring `output`: means, worsts and fractions over the cases.

    gap = plain DIP's peak PSNR (of that output) - the rule's PSNR (for every rule, so rows
    compare); within 1 dB = fraction of cases with gap <= 1.
    """
    per_case = []
    for case in cases:
        others = [other for other in cases if other["sigma"] == case["sigma"] and other["image"] != case["image"]]
        plain, recorrupted = case["plain"][output]["psnr"], case["recorrupted"][output]["psnr"]
        peak = max(plain)
        stops = rule_stops(case, others, output)
        classical = {name: scores["psnr"] for name, scores in case["classical"].items()}
        per_case.append({
            "sigma": case["sigma"], "image": case["image"], "peak": peak, "wmv stood": case["plain"]["wmv stood"],
            "recorrupted peak": max(recorrupted),
            "plateau": plateau_width(np.asarray(plain)),
            "recorrupted plateau": plateau_width(np.asarray(recorrupted)),
            "gaps": {rule: peak - psnr for rule, (psnr, _) in stops.items()},
            "psnr": {rule: psnr for rule, (psnr, _) in stops.items()},
            "ssim": {rule: ssim for rule, (_, ssim) in stops.items()},
            "classical": classical, "best classical": max(classical.values()),
        })
    rows = []
    for sigma in sorted({row["sigma"] for row in per_case}) + [None]:
        chosen = [row for row in per_case if sigma is None or row["sigma"] == sigma]
        mean = lambda values: float(np.mean(values))  # noqa: E731
        rows.append({
            "sigma": "all" if sigma is None else f"{sigma:g}", "runs": len(chosen),
            "peak": mean([row["peak"] for row in chosen]),
            "recorrupted peak": mean([row["recorrupted peak"] for row in chosen]),
            "plateau": mean([row["plateau"] for row in chosen]),
            "recorrupted plateau": mean([row["recorrupted plateau"] for row in chosen]),
            "rules": {rule: {"psnr": mean([row["psnr"][rule] for row in chosen]),
                             "ssim": mean([row["ssim"][rule] for row in chosen]),
                             "gap": mean([row["gaps"][rule] for row in chosen]),
                             "worst gap": float(np.max([row["gaps"][rule] for row in chosen])),
                             "within 1 dB": mean([row["gaps"][rule] <= 1.0 for row in chosen])}
                      for rule in RULES if all(rule in row["gaps"] for row in chosen)},
            "classical": {name: mean([row["classical"][name] for row in chosen]) for name in chosen[0]["classical"]},
            "ES-WMV stood": f"{sum(row['wmv stood'] for row in chosen)} of {len(chosen)}",
            "images where the peak beats the best classical": _images_won(chosen),
        })
    return rows


def _images_won(rows: list[dict]) -> str:
    """'k of n': images whose mean (over seeds) DIP peak beats their mean best classical PSNR."""
    images = sorted({row["image"] for row in rows})
    won = sum(np.mean([r["peak"] for r in rows if r["image"] == image]) >
              np.mean([r["best classical"] for r in rows if r["image"] == image]) for image in images)
    return f"{won} of {len(images)}"


def format_table(rows_by_output: dict[str, list[dict]]) -> str:
    """The summaries as Markdown: a table of stopping rules for each output scored, then one of peaks,
    plateaus and baselines."""
    lines = []
    for output, rows in rows_by_output.items():
        lines += [f"Scored on the {output} output:", "",
                  "| sigma | rule | PSNR at stop | gap to peak (mean / worst) | within 1 dB | SSIM at stop |",
                  "|---|---|---|---|---|---|"]
        for row in rows:
            for rule, result in row["rules"].items():
                lines.append(f"| {row['sigma']} | {rule} | {result['psnr']:.2f} | {result['gap']:.2f} / "
                             f"{result['worst gap']:.2f} | {100 * result['within 1 dB']:.0f}% | {result['ssim']:.3f} |")
        lines.append("")
    first, *_ = rows_by_output.values()
    names = list(first[0]["classical"])
    peaks = " | ".join(f"DIP peak ({output})" for output in rows_by_output)
    lines += [f"| sigma | runs | {peaks} | recorrupted peak | plateau (iterations within 0.5 dB): plain / recorrupted | "
              + " | ".join(names) + f" | images where DIP's peak beats the best classical | ES-WMV minimum stood {WMV_PATIENCE} iterations |",
              "|---|---|" + "---|" * len(rows_by_output) + "---|---|" + "---|" * len(names) + "---|---|"]
    for index, row in enumerate(first):
        peaks = " | ".join(f"{rows[index]['peak']:.2f}" for rows in rows_by_output.values())
        lines.append(f"| {row['sigma']} | {row['runs']} | {peaks} | {row['recorrupted peak']:.2f} | "
                     f"{row['plateau']:.0f} / {row['recorrupted plateau']:.0f} | "
                     + " | ".join(f"{row['classical'][name]:.2f}" for name in names)
                     + f" | {row['images where the peak beats the best classical']} | {row['ES-WMV stood']} |")
    return "\n".join(lines)
