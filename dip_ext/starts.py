"""DIP as the starting point of the reverse process, measured on held-out MNIST digits (Example 1):
the start harness.

A start is any function of a StartProblem (one corrupted digit) that returns an estimate of the
clean digit, (28, 28) in [0, 1], or None where it does not apply. Built in: the observation itself,
and DIP alone: one fit per digit of max(`dip_iterations`) iterations, its averaged output kept after
each k ("DIP k"). Plugged in by name (dip_ext.plugins): the reference start (REFERENCE_STARTS, the
recorrupted rule's output, "DIP rule") and any of your own, e.g. `--start my_starts.py:my_start`.

Every start (and pure noise at t0 = T, i.e. generation) is noised to t0 and taken down by a sampler
in `steps` steps (dip_ext.restore): DDIM with and without the digit's label (classifier-free
guidance, w = 1), ancestral sampling with it. For masks, the observed pixels are kept consistent
at every level (RePaint). While restore's TODOs are not filled in, only the starts alone are
scored, and the rows that need the reverse process are named as waiting.

Each row scores one setting on all digits: PSNR and SSIM to the clean digit, the evaluation
classifier's accuracy on the label, the Frechet distance in its feature space, and the seconds per
digit including the start's fit. The classifier was trained without the digits restored here
(`STUDY_DIGITS_SET_ASIDE`), so its accuracy is measured on digits it never saw. Jobs (one
corruption and seed each) are cached under a key of the settings, the starts' code and both
checkpoints, so a rerun prints at once and a changed start or model recomputes.
"""
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import dip_ext.restore
from devices import one_thread_workers
from dip_ext.classical import estimated_sigma
from dip_ext.fit import FitRecord, Stage, fit
from dip_ext.images import digit_to_unit, unit_to_digit
from dip_ext.network import DipConfig
from dip_ext.plugins import Method, load_method, waiting_for
from dip_ext.quality import psnr, ssim
from dip_ext.restore import restore
from mnist_ext.data import model_and_held_out_digits
from mnist_ext.recipe import DEFAULT_CHECKPOINT, load_model
from mnist_ext.scoring import features, first_of_each_class, frechet_distance, load_or_train_classifier, predict, real_reference

DIGIT_DIP = DipConfig(depth=4, channels_down=32, channels_up=32)
"""28 x 28 digits: depth 4 runs the network at 32 x 32 (depth 5 would need 64 x 64). Width 32: on
four noisy digits (sigma 50) it peaked 0.5 dB below width 64 (20.93 against 21.44 dB, 300
iterations) at 1.7x the speed (6.4 against 11.1 ms an iteration on one thread)."""
STUDY_DIGITS_SET_ASIDE = 5
"""The study restores the first k (at most this many) held-out digits of each class; the evaluation
classifier is trained on the other held-out digits."""
RULE_START = "DIP rule"
REFERENCE_STARTS = (f"{RULE_START}=dip_ext.recorrupted:recorrupted_start",)
"""The starts the study plugs in unless told otherwise: a TODO of the handout."""
GRID_DIGITS = 4
CLASSIFIER = DEFAULT_CHECKPOINT.parent / "classifier_without_study_digits.pt"
"""The evaluation classifier trained without the study's digits (trained on first use)."""


@dataclass(frozen=True)
class Corruption:
    name: str
    sigma: float = 0.0  # noise std, 0..255 scale
    missing: float = 0.0  # fraction of pixels removed at random
    lower_half: bool = False  # the lower half of the digit removed

    @property
    def masked(self) -> bool:
        return bool(self.missing or self.lower_half)


CORRUPTIONS = (Corruption("noise 50", sigma=50.0), Corruption("noise 100", sigma=100.0),
               Corruption("random half missing", missing=0.5), Corruption("lower half missing", lower_half=True))


@dataclass(frozen=True)
class StartSettings:
    """What the study sweeps. The grid figure shows every start at grid_t0_fraction x T with
    grid_steps DDIM steps and the label, and generation from pure noise with the most steps."""

    dip_iterations: tuple[int, ...] = (100, 300, 600)
    t0_fractions: tuple[float, ...] = (0.1, 0.2, 0.5)
    steps: tuple[int, ...] = (2, 5, 10, 25)
    samplers: tuple[str, ...] = ("ddim", "ddpm")
    guidance: float = 1.0
    grid_t0_fraction: float = 0.2
    grid_steps: int = 5


def study_digits(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first per_class held-out digits of each class: images (N, 1, 28, 28) in [-1, 1], labels (N,)."""
    if not 1 <= per_class <= STUDY_DIGITS_SET_ASIDE:
        raise ValueError(f"per_class must be between 1 and {STUDY_DIGITS_SET_ASIDE} (the digits the evaluation "
                         f"classifier never saw), got {per_class}")
    _, (images, labels) = model_and_held_out_digits()
    chosen = first_of_each_class(labels, per_class)
    return images[chosen], labels[chosen]


def corrupt(clean: np.ndarray, corruption: Corruption, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """(observation, mask or None) for a clean digit (28, 28) in [0, 1]; missing pixels are 0 in the
    observation and in the mask (1 = observed). Noise is added unclipped."""
    observation = clean + torch.randn(clean.shape, generator=generator, dtype=torch.float64).numpy() * corruption.sigma / 255
    if not corruption.masked:
        return observation, None
    mask = np.ones_like(clean)
    if corruption.missing:
        mask = (torch.rand(clean.shape, generator=generator, dtype=torch.float64) >= corruption.missing).numpy().astype(float)
    if corruption.lower_half:
        mask[clean.shape[0] // 2:] = 0.0
    return observation * mask, mask


def quality(clean: np.ndarray, restored: np.ndarray) -> tuple[float, float]:
    """Mean PSNR and SSIM over digits (N, 28, 28) in [0, 1]."""
    psnr_values = [psnr(c, r) for c, r in zip(clean, restored)]
    ssim_values = [ssim(c, r) for c, r in zip(clean, restored)]
    return float(np.mean(psnr_values)), float(np.mean(ssim_values))


@dataclass
class StartProblem:
    """One corrupted digit as a start may know it. observation: (28, 28) in [0, 1], missing pixels 0;
    mask: (28, 28), 1 = observed, or None; sigma: the noise std estimated from the observation (0..1
    scale), None for a corruption without noise; iterations: the study's longest DIP fit; seed."""

    observation: np.ndarray
    mask: np.ndarray | None
    sigma: float | None
    iterations: int
    seed: int

    def fit(self, stages: list[Stage], snapshot_every: int = 0, config: DipConfig = DIGIT_DIP, **options) -> FitRecord:
        """DIP (`config`) fitted to the observation by `stages`, with this digit's mask, sigma and seed;
        options (keep_snapshots, regulariser) go to dip_ext.fit.fit."""
        return fit(self.observation, config, list(stages), sigma=self.sigma, mask=self.mask, seed=self.seed,
                   snapshot_every=snapshot_every, progress=False, **options)


def digit_problems(observations: np.ndarray, masks: list, corruption: Corruption, settings: StartSettings,
                   seed: int) -> list[StartProblem]:
    """One StartProblem per digit; digit i is fitted with seed + i."""
    return [StartProblem(observation, mask, estimated_sigma(observation) if corruption.sigma else None,
                         max(settings.dip_iterations), seed + index)
            for index, (observation, mask) in enumerate(zip(observations, masks))]


def dip_fits(problems: list[StartProblem], iterations: tuple[int, ...], config: DipConfig = DIGIT_DIP,
             regulariser: Callable[[], Callable] | None = None) -> tuple[dict[int, np.ndarray], float]:
    """One fit of `config` per digit, max(iterations) long: ({k: outputs after k iterations, (N, 28, 28)
    float64 in [0, 1]}, seconds per digit of the whole fit). regulariser() makes each fit's regulariser."""
    longest, outputs, seconds = max(iterations), {k: [] for k in iterations}, 0.0
    for problem in problems:
        record = problem.fit([Stage(0.0, longest)], snapshot_every=1, config=config,
                             keep_snapshots=lambda record: iterations,
                             regulariser=None if regulariser is None else regulariser())
        seconds += record.seconds
        for k in iterations:
            outputs[k].append(record.snapshots[k].astype(np.float64))
    return {k: np.stack(images) for k, images in outputs.items()}, seconds / len(problems)


def dip_starts(problems: list[StartProblem], settings: StartSettings) -> dict[str, tuple[np.ndarray, float]]:
    """DIP alone: {"DIP k": (outputs (N, 28, 28), seconds per digit)} for each k, from one fit per digit
    of max(k) iterations, each k charged its share k / max(k) of that fit's time."""
    outputs, seconds = dip_fits(problems, settings.dip_iterations)
    longest = max(settings.dip_iterations)
    return {f"DIP {k}": (images, seconds * k / longest) for k, images in outputs.items()}


def plugged_starts(problems: list[StartProblem], methods: list[Method]) -> tuple[dict[str, tuple[np.ndarray, float]],
                                                                                 dict[str, str]]:
    """Each plugged start on every digit: ({name: (outputs (N, 28, 28), seconds per digit)}, {name:
    the TODO it waits for}). A start that returns None for every digit does not apply here."""
    starts, waiting = {}, {}
    for method in methods:
        images, began = [], time.perf_counter()
        try:
            for problem in problems:
                images.append(method.function(problem))
        except NotImplementedError as error:
            waiting[method.name] = waiting_for(error)
            continue
        if all(image is None for image in images):
            continue
        if any(image is None for image in images) or any(np.shape(image) != (28, 28) for image in images):
            raise ValueError(f"the start {method.name!r} ({method.spec}) must return a (28, 28) image for every digit "
                             f"or None for every digit; got {[None if image is None else np.shape(image) for image in images]}")
        starts[method.name] = (np.stack(images).astype(np.float64), (time.perf_counter() - began) / len(problems))
    return starts, waiting


def run_corruption(model, schedule, classifier, real: torch.Tensor, digits: torch.Tensor, labels: torch.Tensor,
                   corruption: Corruption, settings: StartSettings, seed: int = 0, methods: list[Method] = ()) -> dict:
    """Every start x t0 x sampler x steps x label setting on one corruption of `digits` (N, 1, 28, 28)
    in [-1, 1]: {"rows": one dict per setting, "grid": images (GRID_DIGITS, 28, 28) in [0, 1] by column,
    "waiting": {what waits: the TODO it waits for}}.

    t0 = 0 rows score a start alone. The noise start runs from t0 = T only.
    """
    clean = digit_to_unit(digits[:, 0])
    generator = torch.Generator().manual_seed(seed)
    observed = [corrupt(digit, corruption, generator) for digit in clean]
    observations = np.stack([observation for observation, _ in observed])
    masks = [mask for _, mask in observed]
    problems = digit_problems(observations, masks, corruption, settings, seed)
    starts = dip_starts(problems, settings)
    plugged, waiting = plugged_starts(problems, list(methods))
    starts |= plugged
    starts["observation"] = (observations, 0.0)
    mask = None if not corruption.masked else torch.as_tensor(np.stack(masks), dtype=torch.float32)[:, None]
    observation = None if mask is None else unit_to_digit(observations)[:, None]
    null = torch.full_like(labels, model.null_label)
    shown = np.linspace(0, len(labels) - 1, GRID_DIGITS).round().astype(int)
    grid_dip = RULE_START if RULE_START in starts else f"DIP {max(settings.dip_iterations)}"
    grid = {"clean": clean[shown], "corrupted": observations[shown], f"{grid_dip} alone": starts[grid_dip][0][shown]}
    rows = []

    stand_ins, rest = real_reference(classifier, real, len(labels), seed)  # as score() splits them
    floor = frechet_distance(stand_ins, rest)

    def add(start: str, t0: int, sampler: str, steps: int, label: bool, restored: torch.Tensor, seconds: float) -> None:
        psnr, ssim = quality(clean, digit_to_unit(restored[:, 0]))
        accuracy = float((predict(classifier, restored) == labels).float().mean())
        rows.append({"corruption": corruption.name, "seed": seed, "start": start, "t0": t0, "sampler": sampler,
                     "steps": steps, "label": label, "psnr": psnr, "ssim": ssim, "accuracy": accuracy,
                     "frechet": frechet_distance(features(classifier, restored), rest), "frechet_floor": floor,
                     "seconds per digit": seconds})

    for name, (images, fit_seconds) in starts.items():
        add(name, 0, "-", 0, False, unit_to_digit(images)[:, None], fit_seconds)
    grid_t0 = round(settings.grid_t0_fraction * schedule.T)
    try:
        for name, (images, fit_seconds) in list(starts.items()) + [("noise", (None, 0.0))]:
            start = torch.zeros_like(digits) if images is None else unit_to_digit(images)[:, None]
            t0s = [schedule.T] if images is None else [round(f * schedule.T) for f in settings.t0_fractions]
            for t0 in t0s:
                for sampler in settings.samplers:
                    for steps in [s for s in settings.steps if s <= t0]:
                        for label in (False, True) if sampler == "ddim" else (True,):
                            began = time.perf_counter()
                            restored = restore(model, schedule, start, t0, labels if label else null, steps=steps,
                                               sampler=sampler, guidance_weight=settings.guidance if label else 0.0,
                                               observation=observation, mask=mask,
                                               generator=torch.Generator().manual_seed(seed))
                            add(name, t0, sampler, steps, label, restored,
                                fit_seconds + (time.perf_counter() - began) / len(labels))
                            grid_setting = (steps == max(settings.steps)) if images is None else \
                                (t0 == grid_t0 and steps == settings.grid_steps)
                            if sampler == "ddim" and label and grid_setting and (name == grid_dip or not name.startswith("DIP")):
                                grid[f"{name}, t0 = {t0}, {steps} steps"] = digit_to_unit(restored[shown, 0])
    except NotImplementedError as error:
        rows = [row for row in rows if row["t0"] == 0]
        grid = {name: images for name, images in grid.items() if ", t0 = " not in name}
        waiting["every start through the reverse process (t0 > 0)"] = waiting_for(error)
    return {"rows": rows, "grid": grid, "waiting": waiting}


SETTING = ("corruption", "start", "t0", "sampler", "steps", "label")
MEASURES = ("psnr", "ssim", "accuracy", "frechet", "frechet_floor", "seconds per digit")


def summarise(rows: list[dict], setting: tuple[str, ...] = SETTING, measures: tuple[str, ...] = MEASURES) -> list[dict]:
    """One row per setting (the values of the keys `setting`): each measure's mean over seeds and its
    std ("<measure> std"), and the number of seeds, in the order the settings first appear."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in setting), []).append(row)
    summary = []
    for key, group in groups.items():
        entry = dict(zip(setting, key)) | {"seeds": len(group)}
        for measure in measures:
            values = [row[measure] for row in group]
            entry[measure], entry[f"{measure} std"] = float(np.mean(values)), float(np.std(values))
        summary.append(entry)
    return summary


def best_tradeoffs(summary: list[dict]) -> list[str]:
    """Per corruption, the reverse steps each start needs to reach a set quality: the fewest steps
    (then the lowest t0) whose mean PSNR beats DIP alone (its best k, an oracle pick) by 1 dB with
    label accuracy no worse than generation from pure noise with the label in the most DDIM steps."""
    lines = []
    for corruption in dict.fromkeys(row["corruption"] for row in summary):
        chosen = [row for row in summary if row["corruption"] == corruption]
        dip_alone = max((row for row in chosen if row["start"].startswith("DIP") and row["t0"] == 0), key=lambda r: r["psnr"])
        generation = max((row for row in chosen if row["start"] == "noise" and row["label"] and row["sampler"] == "ddim"),
                         key=lambda r: r["steps"])
        lines.append(f"{corruption}: DIP alone at best {dip_alone['psnr']:.2f} dB ({dip_alone['start']}); generation from "
                     f"noise with the label in {generation['steps']} DDIM steps: accuracy {100 * generation['accuracy']:.0f}%, "
                     f"{generation['psnr']:.2f} dB")
        for start in dict.fromkeys(row["start"] for row in chosen):
            good = [row for row in chosen if row["start"] == start and row["t0"] > 0
                    and row["psnr"] >= dip_alone["psnr"] + 1 and row["accuracy"] >= generation["accuracy"]]
            if good:
                best = min(good, key=lambda r: (r["steps"], r["t0"], -r["psnr"]))
                lines.append(f"  {start}: {best['steps']} {best['sampler']} steps from t0 = {best['t0']} "
                             f"({'with' if best['label'] else 'without'} label): {best['psnr']:.2f} dB"
                             + (f" (std {best['psnr std']:.2f} over {best['seeds']} seeds)" if best["seeds"] > 1 else "") + ", "
                             f"SSIM {best['ssim']:.3f}, accuracy {100 * best['accuracy']:.0f}%, "
                             f"{best['seconds per digit']:.2f} s per digit")
            else:
                lines.append(f"  {start}: no setting reaches DIP alone + 1 dB with that accuracy")
    return lines


def best_by_steps(summary: list[dict]) -> str:
    """Per corruption, a Markdown table: for each start, the best mean PSNR with the label over t0
    and sampler (chosen with the clean digits: an oracle choice) at each number of reverse steps,
    beside the start alone and its label accuracy at the best setting."""
    steps = sorted({row["steps"] for row in summary if row["steps"] > 0})
    lines = []
    for corruption in dict.fromkeys(row["corruption"] for row in summary):
        lines += [f"{corruption}:", "", "| start | alone | " + " | ".join(f"{s} steps" for s in steps) + " |",
                  "|---|---|" + "---|" * len(steps)]
        chosen = [row for row in summary if row["corruption"] == corruption]
        for start in dict.fromkeys(row["start"] for row in chosen):
            alone = [row for row in chosen if row["start"] == start and row["t0"] == 0]
            cells = [f"{alone[0]['psnr']:.2f}" if alone else "-"]
            for count in steps:
                candidates = [row for row in chosen if row["start"] == start and row["steps"] == count and row["label"]]
                best = max(candidates, key=lambda r: r["psnr"], default=None)
                cells.append("-" if best is None else f"{best['psnr']:.2f} (t0 {best['t0']}, {best['sampler']}, "
                                                      f"{100 * best['accuracy']:.0f}%)")
            lines.append(f"| {start} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def format_rows(summary: list[dict]) -> str:
    """The summary's rows with the label or without diffusion, as Markdown (mean +- std over seeds)."""
    lines = ["| corruption | start | t0 | sampler | steps | label | PSNR | SSIM | accuracy | Frechet (floor) | s/digit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary:
        if row["label"] or row["t0"] == 0:
            lines.append(f"| {row['corruption']} | {row['start']} | {row['t0']} | {row['sampler']} | {row['steps']} | "
                         f"{'w=1' if row['label'] else '-'} | {row['psnr']:.2f} +- {row['psnr std']:.2f} | {row['ssim']:.3f} | "
                         f"{100 * row['accuracy']:.0f}% | {row['frechet']:.1f} ({row['frechet_floor']:.1f}) | "
                         f"{row['seconds per digit']:.2f} |")
    return "\n".join(lines)


def report(results: list[dict]) -> str:
    """What the start harness prints: every row, the best PSNR per step count, the steps each start
    needs, and one line for each start or row still waiting for a TODO."""
    rows = [row for result in results for row in result["rows"]]
    summary = summarise(rows)
    parts = [format_rows(summary), "",
             "The best mean PSNR (dB) with the label at each number of reverse steps (t0 and sampler picked with "
             "the clean digits; label accuracy in brackets):", ""]
    if any(row["t0"] > 0 for row in rows):
        parts += [best_by_steps(summary), "\n".join(best_tradeoffs(summary))]
    else:
        parts.append("(no row went through the reverse process)")
    waiting = {name: text for result in results for name, text in result["waiting"].items()}
    parts += [f"{name}: waits for the TODO in {text}" for name, text in waiting.items()]
    return "\n".join(parts)


# ----- jobs: one (corruption, seed) each, in one-thread processes, cached -----------------------------

def study_classifier(path: Path = CLASSIFIER):
    """The evaluation classifier trained without the study's digits (trained on first use)."""
    classifier, _ = load_or_train_classifier(path, set_aside_per_class=STUDY_DIGITS_SET_ASIDE)
    return classifier


def methods_from_specs(specs: list[str], reference: bool, settings: StartSettings = StartSettings()) -> list[Method]:
    """The reference starts (unless left out), then each --start; none named like a built-in start."""
    methods = [load_method(spec) for spec in (list(REFERENCE_STARTS) if reference else []) + list(specs)]
    names = [method.name for method in methods] + [f"DIP {k}" for k in settings.dip_iterations] + ["observation", "noise"]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"two starts are called {', '.join(repeated)}; name yours: --start NAME=MODULE:FUNCTION")
    return methods


def _job(model_path: Path, classifier_path: Path, corruption: Corruption, settings: StartSettings, seed: int,
         per_class: int, specs: tuple[str, ...], reference: bool) -> dict:
    model, config = load_model(model_path)
    digits, labels = study_digits(per_class)
    _, (real, _) = model_and_held_out_digits()
    return run_corruption(model, config.make_schedule(), study_classifier(classifier_path), real, digits, labels,
                          corruption, settings, seed, methods_from_specs(list(specs), reference, settings))


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def start_jobs(model_path: Path, cache: Path, seeds: tuple[int, ...], per_class: int,
               corruptions: tuple[Corruption, ...] = CORRUPTIONS, settings: StartSettings = StartSettings(),
               specs: tuple[str, ...] = (), reference: bool = True,
               classifier_path: Path = CLASSIFIER) -> list[tuple[Path, tuple]]:
    """(cache file, arguments of one (corruption, seed) run) for every run the study needs. The key
    covers the settings, the starts and their code, the reverse process's code and both checkpoints."""
    study_classifier(classifier_path)  # trained once here, before the workers read it
    methods = methods_from_specs(list(specs), reference, settings)
    code = [method.digest for method in methods] + [_file_digest(dip_ext.restore.__file__), _file_digest(__file__)]
    checkpoints = _file_digest(model_path) + _file_digest(classifier_path)
    jobs = []
    for corruption in corruptions:
        for seed in seeds:
            key = hashlib.sha256(repr((asdict(settings), corruption, seed, per_class, specs, reference, code,
                                       checkpoints)).encode()).hexdigest()[:10]
            jobs.append((cache / f"{corruption.name.replace(' ', '_')}_seed{seed}_{key}.json",
                         (model_path, classifier_path, corruption, settings, seed, per_class, tuple(specs), reference)))
    return jobs


def run_job(path: Path, arguments: tuple) -> dict:
    """Run one (corruption, seed); write its rows and grid images to `path` atomically unless some of
    it waits for a TODO (so that filling the TODO in computes it again). Returns the result."""
    result = _job(*arguments)
    result["grid"] = {name: np.round(images, 4).tolist() for name, images in result["grid"].items()}
    if not result["waiting"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_text(json.dumps(result))
        path.with_suffix(".tmp").replace(path)
    return _loaded(result)


def _loaded(result: dict) -> dict:
    result["grid"] = {name: np.asarray(images) for name, images in result["grid"].items()}
    return result


def run_all(jobs: list[tuple[Path, tuple]], workers: int) -> list[dict]:
    """Every job's result, from the cache or computed in `workers` one-thread processes (each is
    written when it ends, so an interrupted study keeps the finished jobs)."""
    results = {path: _loaded(json.loads(path.read_text())) for path, _ in jobs if path.exists()}
    todo = [job for job in jobs if job[0] not in results]
    if todo:
        print(f"DIP starts: {len(todo)} of {len(jobs)} (corruption, seed) runs to compute, "
              f"{f'in {workers} processes' if workers else 'in this process'}")
        with one_thread_workers(workers) as pool:
            for (path, _), future in [(job, pool.submit(run_job, *job)) for job in todo]:
                results[path] = future.result()
    return [results[path] for path, _ in jobs]
