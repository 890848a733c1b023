"""The stopping study: for each (image, sigma, seed), plain DIP's fit, every rule's stop, the classical
denoisers beside them, all scored on the averaged and on the raw output.

A rule is any function of a dip_ext.rules.StopProblem (the published ones in dip_ext.rules, your own
plugged in by name); each is measured on the same noisy images, seeds and plain fit as every other.
A case (`run_case`) fits plain DIP once, with SURE's twin, and keeps that fit's signals in its
record, so a rule added later (`add_rules`) is measured without fitting plain DIP again; a rule's
own fits run when it asks for them, once per case. A rule whose code is a TODO of the handout is
reported as waiting (dip_ext.plugins.waiting_for), never recorded.

A case runs on its own (one process, one thread: several cases in parallel beat one case on two
threads, see "DIP speed" in docs/benchmarks.md) and is a JSON-able dict; `summarise` turns the cases
into the tables. The fixed-count rule is chosen at summary time on the *other* images of the same
sigma, so a case never picks its own stopping point.

Like for like: a rule's stop is the iteration its signal picks (discrepancy and ES-WMV watch the raw
outputs, as their papers define them; SURE and the recorrupted estimate are computed for the output
being scored), and that iteration's PSNR and SSIM are read from the output being scored; the gap is
to plain DIP's own peak of that output.
"""
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from dip_ext.classical import classical_denoisers, estimated_sigma
from dip_ext.fit import Stage, fit
from dip_ext.images import add_noise, load_image
from dip_ext.network import DipConfig
from dip_ext.plugins import Method, waiting_for
from dip_ext.quality import quality
from dip_ext.rules import FIXED_COUNT, OUTPUTS, PLAIN, FitResult, Stop, StopProblem, fit_label, networks_read
from dip_ext.stopping import WMV_PATIENCE, fixed_count_stop, plateau_width, wmv_stood, wmv_stop
from speed import SpeedPolicy, speed_policy

SUFFIX = {"averaged": "", "raw": "_raw"}
"""The scores of each output in a fit's signals: psnr and ssim of the averaged one, psnr_raw and ssim_raw of the raw."""


@dataclass(frozen=True)
class StudySettings:
    size: int = 128
    grey: bool = False  # colour images stay colour
    iterations: int = 2000  # plain DIP: past every peak seen at these sizes, and ES-WMV's patience
    network: DipConfig = field(default_factory=DipConfig)
    speed: SpeedPolicy = field(default_factory=lambda: speed_policy("dip", "cpu"))  # cases run on CPU workers


class RuleError(RuntimeError):
    """A plugged-in rule failed or returned something that is not a stop; the message names the rule and the case."""


def case_key(image: str, sigma: float, seed: int) -> str:
    return f"{image}|{sigma:g}|{seed}"


class Case:
    """One noisy image of the study and its fits, each run once: plain DIP (with SURE's twin) and
    whatever fits the rules ask for. The clean image is used only to score."""

    def __init__(self, image: str, sigma: float, seed: int, settings: StudySettings, plain: FitResult | None = None):
        self.key, self.seed, self.settings = case_key(image, sigma, seed), seed, settings
        self.clean = load_image(image, settings.size, settings.grey)
        self.noisy = add_noise(self.clean, sigma, torch.Generator().manual_seed(seed))
        self.sigma = estimated_sigma(self.noisy)
        self.fits: dict[str, FitResult] = {} if plain is None else {PLAIN: plain}

    def run_fit(self, stages: tuple[Stage, ...]) -> FitResult:
        label = fit_label(stages)
        if label not in self.fits:
            record = fit(self.noisy, self.settings.network, list(stages), sigma=self.sigma, clean=self.clean, seed=self.seed,
                         progress=False, speed=self.settings.speed, sure=label == PLAIN)
            self.fits[label] = FitResult(record.arrays(), record.seconds, record.twin_seconds)
        return self.fits[label]

    def problem(self, output: str, read: dict[str, set[str]]) -> StopProblem:
        return StopProblem(self.noisy, self.sigma, output, self.settings.iterations, self.seed, self.run_fit, read)

    def measure(self, method: Method) -> dict:
        """The rule's stop on each output, read from the fit it names: {output: {"fit", "index",
        "psnr", "ssim", "plateau"}}, and its cost: the networks it read ("fits") and their seconds."""
        result, read = {"source": method.digest}, {}
        for output in OUTPUTS:
            try:
                stop = method.function(self.problem(output, read))
            except NotImplementedError:
                raise
            except Exception as error:
                raise RuleError(f"the rule {method.name!r} ({method.spec}) failed on {self.key}, output {output}: "
                                f"{type(error).__name__}: {error}") from error
            if not isinstance(stop, Stop):
                raise RuleError(f"the rule {method.name!r} returned {stop!r} on {self.key}; a rule returns "
                                "dip_ext.rules.Stop(fit, iteration)")
            scores = self.fits[stop.fit.label].signals
            if not 0 <= stop.iteration < len(scores["loss"]):
                raise RuleError(f"the rule {method.name!r} stopped at index {stop.iteration} on {self.key}, outside its "
                                f"fit's {len(scores['loss'])} iterations (0 to {len(scores['loss']) - 1})")
            curve = scores["psnr" + SUFFIX[output]]
            result[output] = {"fit": stop.fit.label, "index": stop.iteration, "psnr": float(curve[stop.iteration]),
                              "ssim": float(scores["ssim" + SUFFIX[output]][stop.iteration]),
                              "plateau": plateau_width(curve)}
        result["fits"], twin = networks_read(read)
        result["seconds"] = sum(self.fits[label].seconds - self.fits[label].twin_seconds for label in read) \
            + (self.fits[PLAIN].twin_seconds if twin else 0.0)
        return result


def _stored(result: FitResult) -> dict:
    return {"signals": {name: values.tolist() for name, values in result.signals.items()},
            "seconds": result.seconds, "twin_seconds": result.twin_seconds}


def _restored(stored: dict) -> FitResult:
    return FitResult({name: np.asarray(values, dtype=np.float64) for name, values in stored["signals"].items()},
                     stored["seconds"], stored["twin_seconds"])


def add_rules(record: dict, methods: list[Method], settings: StudySettings) -> tuple[dict, dict[str, str]]:
    """Measure on a recorded case every rule it has no result for (or whose source changed), without
    fitting plain DIP again. Returns (the record with their results, {rule: the TODO it waits for})."""
    case = Case(record["image"], record["sigma"], record["seed"], settings, _restored(record["plain"]))
    waiting = {}
    for method in methods:
        if record["rules"].get(method.name, {}).get("source") == method.digest:
            continue
        try:
            record["rules"][method.name] = case.measure(method)
        except NotImplementedError as error:
            waiting[method.name] = waiting_for(error)
    return record, waiting


def run_case(image: str, sigma: float, seed: int, settings: StudySettings,
             methods: list[Method]) -> tuple[dict, dict[str, str]]:
    """A new case: plain DIP's fit, the classical denoisers and every rule. Returns (its record, the
    rules waiting for a TODO)."""
    case = Case(image, sigma, seed, settings)
    plain = case.run_fit((Stage(0.0, settings.iterations),))
    record = {"key": case.key, "image": image, "sigma": sigma, "seed": seed, "settings": asdict(settings),
              "sigma_estimated": case.sigma * 255, "noisy": quality(case.clean, case.noisy),
              "classical": {name: quality(case.clean, denoised) for name, denoised in classical_denoisers(case.noisy).items()},
              "plain": _stored(plain), "rules": {}}
    waiting = {}
    for method in methods:
        try:
            record["rules"][method.name] = case.measure(method)
        except NotImplementedError as error:
            waiting[method.name] = waiting_for(error)
    return record, waiting


def rule_stops(case: dict, other_cases: list[dict], output: str, rules: list[str]) -> dict[str, dict]:
    """{rule: {"psnr", "ssim", "plateau", "fits", "seconds"}} at its stop on `output` for one case: the
    fixed count (chosen on other_cases, the same sigma on other images; none without them), then
    each of `rules` the case has a result for."""
    plain = case["plain"]["signals"]
    stops = {}
    if other_cases:
        curves = [np.asarray(other["plain"]["signals"]["psnr" + SUFFIX[output]]) for other in other_cases]
        curve = np.asarray(plain["psnr" + SUFFIX[output]])
        index = min(fixed_count_stop(curves), len(curve) - 1)
        stops[FIXED_COUNT] = {"psnr": float(curve[index]), "ssim": float(plain["ssim" + SUFFIX[output]][index]),
                              "plateau": plateau_width(curve), "fits": 1,
                              "seconds": case["plain"]["seconds"] - case["plain"]["twin_seconds"]}
    for rule in rules:
        if rule in case["rules"]:
            result = case["rules"][rule]
            stops[rule] = result[output] | {"fits": result["fits"], "seconds": result["seconds"]}
    return stops


def case_rows(cases: list[dict], output: str, rules: list[str]) -> list[dict]:
    """One compact row per case, scoring `output`: plain DIP's peak, each rule's stop ({rule: {"psnr",
    "ssim", "plateau", "fits", "seconds"}}, the fixed count among them), the classical denoisers'
    PSNR and whether ES-WMV's minimum stood. What `summarise_rows` pools, and what the record keeps."""
    rows = []
    for case in cases:
        others = [other for other in cases if other["sigma"] == case["sigma"] and other["image"] != case["image"]]
        signals = case["plain"]["signals"]
        classical = {name: scores["psnr"] for name, scores in case["classical"].items()}
        wmv = np.asarray(signals["wmv"], dtype=np.float64)
        rows.append({
            "sigma": case["sigma"], "image": case["image"], "seed": case["seed"],
            "peak": float(np.max(signals["psnr" + SUFFIX[output]])),
            "wmv stood": bool(wmv_stood(wmv_stop(wmv), len(wmv))),
            "stops": rule_stops(case, others, output, list(rules)),
            "classical": classical, "best classical": max(classical.values()),
        })
    return rows


def summarise(cases: list[dict], output: str, rules: list[str]) -> list[dict]:
    """One row per sigma and one for all, scoring `output`: summarise_rows of the cases' case_rows."""
    return summarise_rows(case_rows(cases, output, rules), rules)


def summarise_rows(per_case: list[dict], rules: list[str]) -> list[dict]:
    """One row per sigma and one for all: means, worsts and fractions over the cases' rows (case_rows).

    gap = plain DIP's peak PSNR (of that output) - the rule's PSNR at its stop (for every rule, so
    rows compare); within 1 dB = fraction of cases with gap <= 1. A rule is summarised where every
    case of the row has its result.
    """
    names = [FIXED_COUNT] + [rule for rule in rules if rule != FIXED_COUNT]
    rows = []
    for sigma in sorted({row["sigma"] for row in per_case}) + [None]:
        chosen = [row for row in per_case if sigma is None or row["sigma"] == sigma]
        mean = lambda values: float(np.mean(values))  # noqa: E731
        measured = [rule for rule in names if all(rule in row["stops"] for row in chosen)]
        gaps = {rule: [row["peak"] - row["stops"][rule]["psnr"] for row in chosen] for rule in measured}
        rows.append({
            "sigma": "all" if sigma is None else f"{sigma:g}", "runs": len(chosen),
            "peak": mean([row["peak"] for row in chosen]),
            "rules": {rule: {"psnr": mean([row["stops"][rule]["psnr"] for row in chosen]),
                             "ssim": mean([row["stops"][rule]["ssim"] for row in chosen]),
                             "gap": mean(gaps[rule]), "worst gap": float(np.max(gaps[rule])),
                             "within 1 dB": mean([gap <= 1.0 for gap in gaps[rule]]),
                             "plateau": mean([row["stops"][rule]["plateau"] for row in chosen]),
                             "fits": mean([row["stops"][rule]["fits"] for row in chosen]),
                             "seconds": mean([row["stops"][rule]["seconds"] for row in chosen])}
                      for rule in measured},
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


def rules_table(rows: list[dict]) -> list[str]:
    """The stopping rules' Markdown table of one output's summary rows (summarise_rows)."""
    lines = ["| sigma | rule | PSNR at stop | gap to peak (mean / worst) | within 1 dB | SSIM at stop | "
             "plateau of its fit | fits | seconds per image |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for rule, result in row["rules"].items():
            lines.append(f"| {row['sigma']} | {rule} | {result['psnr']:.2f} | {result['gap']:.2f} / "
                         f"{result['worst gap']:.2f} | {100 * result['within 1 dB']:.0f}% | {result['ssim']:.3f} | "
                         f"{result['plateau']:.0f} | {result['fits']:g} | {result['seconds']:.3g} |")
    return lines


def peaks_table(rows_by_output: dict[str, list[dict]]) -> list[str]:
    """Plain DIP's oracle peak of each output and the classical denoisers, as a Markdown table."""
    first, *_ = rows_by_output.values()
    names = list(first[0]["classical"])
    peaks = " | ".join(f"DIP peak ({output})" for output in rows_by_output)
    lines = [f"| sigma | runs | {peaks} | " + " | ".join(names)
             + f" | images where DIP's peak beats the best classical | ES-WMV minimum stood {WMV_PATIENCE} iterations |",
             "|---|---|" + "---|" * len(rows_by_output) + "---|" * len(names) + "---|---|"]
    for index, row in enumerate(first):
        peaks = " | ".join(f"{rows[index]['peak']:.2f}" for rows in rows_by_output.values())
        lines.append(f"| {row['sigma']} | {row['runs']} | {peaks} | "
                     + " | ".join(f"{row['classical'][name]:.2f}" for name in names)
                     + f" | {row['images where the peak beats the best classical']} | {row['ES-WMV stood']} |")
    return lines


def format_table(rows_by_output: dict[str, list[dict]]) -> str:
    """The summaries as Markdown: a table of stopping rules for each output scored, then one of peaks
    and baselines. Each table says what it pools."""
    runs = next(iter(rows_by_output.values()))[-1]["runs"]
    lines = []
    for output, rows in rows_by_output.items():
        lines += [f"Scored on the {output} output (means over the runs of each row; 'all' pools all {runs} runs):", "",
                  *rules_table(rows), ""]
    lines += ["Plain DIP's oracle peak and the classical denoisers (PSNR, means over the runs of each row):", "",
              *peaks_table(rows_by_output)]
    return "\n".join(lines)
