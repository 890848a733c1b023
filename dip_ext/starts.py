"""DIP as the starting point of the reverse process, measured on held-out MNIST digits (Example 1).

For each corruption and each digit, DIP is fitted once and its averaged output kept after each k
of `dip_iterations`; for noise corruptions a second fit, to the recorrupted target with its
rollback (the stopping study's best rule, dip_ext/progressive.py), gives the start "DIP rule",
with the noise level estimated from the observation. Every start (DIP, the observation itself,
and pure noise at t0 = T, i.e. generation) is noised to t0 and taken down by a sampler in `steps`
steps (restore.py): DDIM with and without the digit's label (classifier-free guidance, w = 1),
ancestral sampling with it. For masks, the observed pixels are kept consistent at every level
(RePaint, restore.py).

Each row scores one setting on all digits: PSNR and SSIM to the clean digit, the evaluation
classifier's accuracy on the label, the Frechet distance in its feature space, and the seconds per
digit including the DIP fit. The classifier was trained without the digits restored here
(`STUDY_DIGITS_SET_ASIDE`), so its accuracy is measured on digits it never saw.
"""
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from dip_ext.classical import estimated_sigma
from dip_ext.fit import Stage, fit
from dip_ext.images import digit_to_unit, unit_to_digit
from dip_ext.network import DipConfig
from dip_ext.quality import psnr, ssim
from dip_ext.restore import restore
from dip_ext.study import StudySettings
from mnist_ext.data import model_and_held_out_digits
from mnist_ext.scoring import features, first_of_each_class, frechet_distance, predict, real_reference

DIGIT_DIP = DipConfig(depth=4, channels_down=32, channels_up=32)
"""28 x 28 digits: depth 4 runs the network at 32 x 32 (depth 5 would need 64 x 64). Width 32: on
four noisy digits (sigma 50) it peaked 0.5 dB below width 64 (20.93 against 21.44 dB, 300
iterations) at 1.7x the speed (6.4 against 11.1 ms an iteration on one thread)."""
STUDY_DIGITS_SET_ASIDE = 5
"""The study restores the first k (at most this many) held-out digits of each class; the evaluation
classifier is trained on the other held-out digits."""
RULE_START = "DIP rule"
GRID_DIGITS = 4


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
    rule: StudySettings = field(default_factory=StudySettings)
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


def dip_starts(observations: np.ndarray, masks: list, corruption: Corruption, settings: StartSettings,
               seed: int) -> dict[str, tuple[np.ndarray, float]]:
    """{start name: (outputs (N, 28, 28), seconds per digit of its fit)}: "DIP k" for each k, and
    for noise corruptions the recorrupted rule's output (RULE_START)."""
    longest = max(settings.dip_iterations)
    outputs = {k: [] for k in settings.dip_iterations}
    rule_outputs, seconds, rule_seconds = [], 0.0, 0.0
    for index, (observation, mask) in enumerate(zip(observations, masks)):
        record = fit(observation, DIGIT_DIP, [Stage(0.0, longest)], mask=mask, seed=seed + index, snapshot_every=1,
                     progress=False)
        seconds += record.seconds
        for k in settings.dip_iterations:
            outputs[k].append(record.snapshots[k].astype(np.float64))
        if corruption.sigma:
            stage = Stage(settings.rule.recorrupted_scale, longest, settings.rule.patience)
            rule = fit(observation, DIGIT_DIP, [stage], sigma=estimated_sigma(observation), seed=seed + index, progress=False)
            rule_outputs.append(rule.final)
            rule_seconds += rule.seconds
    n = len(observations)
    starts = {f"DIP {k}": (np.stack(images), seconds / n * k / longest) for k, images in outputs.items()}
    if rule_outputs:
        starts[RULE_START] = (np.stack(rule_outputs), rule_seconds / n)
    return starts


def run_corruption(model, schedule, classifier, real: torch.Tensor, digits: torch.Tensor, labels: torch.Tensor,
                   corruption: Corruption, settings: StartSettings, seed: int = 0) -> dict:
    """Every start x t0 x sampler x steps x label setting on one corruption of `digits` (N, 1, 28, 28)
    in [-1, 1]: {"rows": one dict per setting, "grid": images (GRID_DIGITS, 28, 28) in [0, 1] by column}.

    t0 = 0 rows score a start alone. The noise start runs from t0 = T only.
    """
    clean = digit_to_unit(digits[:, 0])
    generator = torch.Generator().manual_seed(seed)
    observed = [corrupt(digit, corruption, generator) for digit in clean]
    observations = np.stack([observation for observation, _ in observed])
    masks = [mask for _, mask in observed]
    starts = dip_starts(observations, masks, corruption, settings, seed)
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
    return {"rows": rows, "grid": grid}


SETTING = ("corruption", "start", "t0", "sampler", "steps", "label")
MEASURES = ("psnr", "ssim", "accuracy", "frechet", "frechet_floor", "seconds per digit")


def summarise(rows: list[dict]) -> list[dict]:
    """One row per setting (SETTING): each measure's mean over seeds and its std ("<measure> std"),
    and the number of seeds, in the order the settings first appear."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in SETTING), []).append(row)
    summary = []
    for key, group in groups.items():
        entry = dict(zip(SETTING, key)) | {"seeds": len(group)}
        for measure in MEASURES:
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
