"""The stopping study: for each (image, sigma, seed), plain DIP and recorrupted-target DIP on the same
noisy image, the classical denoisers beside them, and every stopping rule's result.

A case runs on its own (one process, one thread: several cases in parallel beat one case on two
threads, see "DIP speed" in docs/benchmarks.md) and returns a JSON-able dict; `summarise` turns the cases
into the table. The fixed-count rule is chosen at summary time on the *other* images of the same
sigma, so a case never picks its own stopping point.
"""
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dip_ext.classical import classical_denoisers, estimated_sigma
from dip_ext.fit import Stage, fit
from dip_ext.images import add_noise, load_image
from dip_ext.network import DipConfig
from dip_ext.stopping import discrepancy_stop, estimate_stop, fixed_count_stop, plateau_width, wmv_stop
from speed import SpeedPolicy, speed_policy

RULES = ("fixed count", "discrepancy", "ES-WMV", "recorrupted", "twin")
"""(a)-(d) of dip_ext.stopping; "twin" stops plain DIP at the recorrupted fit's chosen iteration
(same seed, so same initialisation and input; it costs a second fit)."""


@dataclass(frozen=True)
class StudySettings:
    size: int = 64
    iterations: int = 2000  # plain DIP: past every peak seen at these sizes, and ES-WMV's patience
    recorrupted_scale: float = 0.25  # the target y + a sigma z, a in units of the estimated sigma
    patience: int = 200  # the recorrupted fit ends 200 iterations after its best estimate
    network: DipConfig = field(default_factory=DipConfig)
    speed: SpeedPolicy = field(default_factory=lambda: speed_policy("dip", "cpu"))  # cases run on CPU workers


def case_key(image: str, sigma: float, seed: int) -> str:
    return f"{image}|{sigma:g}|{seed}"


def _quality(clean: np.ndarray, estimate: np.ndarray) -> dict:
    return {"psnr": float(peak_signal_noise_ratio(clean, estimate, data_range=1.0)),
            "ssim": float(structural_similarity(clean, estimate, data_range=1.0))}


def run_case(image: str, sigma: float, seed: int, settings: StudySettings) -> dict:
    """Everything the table needs about one noisy image: curves, stops and the classical results."""
    clean = load_image(image, settings.size)
    noisy = add_noise(clean, sigma, torch.Generator().manual_seed(seed))
    sigma_hat = estimated_sigma(noisy)
    plain = fit(noisy, settings.network, [Stage(0.0, settings.iterations)], clean=clean, seed=seed, progress=False,
                speed=settings.speed)
    recorrupted = fit(noisy, settings.network, [Stage(settings.recorrupted_scale, settings.iterations, settings.patience)],
                      sigma=sigma_hat, clean=clean, seed=seed, progress=False, speed=settings.speed)
    signals, re_signals = plain.arrays(), recorrupted.arrays()
    return {
        "key": case_key(image, sigma, seed), "image": image, "sigma": sigma, "seed": seed,
        "settings": asdict(settings), "sigma_estimated": sigma_hat * 255, "noisy": _quality(clean, noisy),
        "classical": {name: _quality(clean, denoised) for name, denoised in classical_denoisers(noisy).items()},
        "plain": {"psnr": np.round(signals["psnr"], 4).tolist(), "ssim": np.round(signals["ssim"], 4).tolist(),
                  "discrepancy": discrepancy_stop(signals["residual"], sigma_hat ** 2),
                  "wmv": wmv_stop(signals["wmv"]), "iterations_per_second": plain.iterations / plain.seconds},
        "recorrupted": {"psnr": np.round(re_signals["psnr"], 4).tolist(), "ssim": np.round(re_signals["ssim"], 4).tolist(),
                        "stop": estimate_stop(re_signals["estimate"]),
                        "iterations_per_second": recorrupted.iterations / recorrupted.seconds},
    }


def rule_stops(case: dict, other_cases: list[dict]) -> dict[str, tuple[float, float]]:
    """{rule: (PSNR, SSIM) at its stop} for one case; other_cases: the same sigma on other images
    (with none, there is no fixed count)."""
    plain, recorrupted = case["plain"], case["recorrupted"]
    at = lambda run, index: (run["psnr"][index], run["ssim"][index])  # noqa: E731
    stops = {"discrepancy": at(plain, plain["discrepancy"]), "ES-WMV": at(plain, plain["wmv"]),
             "recorrupted": at(recorrupted, recorrupted["stop"]),
             "twin": at(plain, min(recorrupted["stop"], len(plain["psnr"]) - 1))}
    if other_cases:
        curves = [np.asarray(other["plain"]["psnr"]) for other in other_cases]
        stops = {"fixed count": at(plain, min(fixed_count_stop(curves), len(plain["psnr"]) - 1))} | stops
    return stops


def summarise(cases: list[dict]) -> list[dict]:
    """One row per sigma and one for all: means, worsts and fractions over the cases.

    gap = plain DIP's peak PSNR - the rule's PSNR (for every rule, so rows compare); within 1 dB =
    fraction of cases with gap <= 1.
    """
    per_case = []
    for case in cases:
        others = [other for other in cases if other["sigma"] == case["sigma"] and other["image"] != case["image"]]
        peak = max(case["plain"]["psnr"])
        stops = rule_stops(case, others)
        classical = {name: quality["psnr"] for name, quality in case["classical"].items()}
        per_case.append({
            "sigma": case["sigma"], "image": case["image"], "peak": peak,
            "recorrupted peak": max(case["recorrupted"]["psnr"]),
            "plateau": plateau_width(np.asarray(case["plain"]["psnr"])),
            "recorrupted plateau": plateau_width(np.asarray(case["recorrupted"]["psnr"])),
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
            "images where the peak beats the best classical": _images_won(chosen),
        })
    return rows


def _images_won(rows: list[dict]) -> str:
    """'k of n': images whose mean (over seeds) DIP peak beats their mean best classical PSNR."""
    images = sorted({row["image"] for row in rows})
    won = sum(np.mean([r["peak"] for r in rows if r["image"] == image]) >
              np.mean([r["best classical"] for r in rows if r["image"] == image]) for image in images)
    return f"{won} of {len(images)}"


def format_table(rows: list[dict]) -> str:
    """The summary as Markdown: one table of stopping rules, one of peaks, plateaus and baselines."""
    lines = ["| sigma | rule | PSNR at stop | gap to peak (mean / worst) | within 1 dB | SSIM at stop |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        for rule, result in row["rules"].items():
            lines.append(f"| {row['sigma']} | {rule} | {result['psnr']:.2f} | {result['gap']:.2f} / {result['worst gap']:.2f} "
                         f"| {100 * result['within 1 dB']:.0f}% | {result['ssim']:.3f} |")
    names = list(rows[0]["classical"])
    lines += ["", "| sigma | runs | DIP peak | recorrupted peak | plateau (iterations within 0.5 dB): plain / recorrupted | "
              + " | ".join(names) + " | images where DIP's peak beats the best classical |",
              "|---|---|---|---|---|" + "---|" * len(names) + "---|"]
    for row in rows:
        lines.append(f"| {row['sigma']} | {row['runs']} | {row['peak']:.2f} | {row['recorrupted peak']:.2f} | "
                     f"{row['plateau']:.0f} / {row['recorrupted plateau']:.0f} | "
                     + " | ".join(f"{row['classical'][name]:.2f}" for name in names)
                     + f" | {row['images where the peak beats the best classical']} |")
    return "\n".join(lines)
