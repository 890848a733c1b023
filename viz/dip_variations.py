"""The homework's other directions on MNIST (dip_ext/variations.py says what each measures): every
table, and a figure per question.

    make bench-dip-variations                        # seeds 0-2, one digit per class, 2 workers
    python -m viz.dip_variations --shard 1/3         # a third of the (corruption, seed) jobs (a cluster's task)
    python -m viz.dip_variations --seeds 0 --per-class 1 --workers 0

Each (corruption, seed) job is cached in figures/dip/cache/variations/ under a key of the settings,
the code it runs and both checkpoints, written when it ends: an interrupted or sharded run resumes
where it stopped, and a run without --shard prints from the cache. Tables and figures cover every
finished job; the figures, their notes (computed from the plotted numbers) and every question's
whole table (tables.md) go to figures/dip/variations/. Trains the MNIST model first if checkpoints/mnist/ddpm.pt is absent.
"""
import hashlib
import json
import math
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt

import dip_ext.fit
import dip_ext.restore
import dip_ext.starts
import dip_ext.variations
from cli import command_parser, run_command
from devices import one_thread_workers, results_as_finished
from dip_ext.starts import CLASSIFIER, CORRUPTIONS, study_classifier, study_digits
from dip_ext.variations import LEVEL_SETS, VariationSettings, prior_name, run_variations
from dip_ext.variations_tables import every_table, report, summary
from mnist_ext.recipe import DEFAULT_CHECKPOINT, RECIPE, load_model
from training import ensure_trained
from viz.index import FigureEntry, write_index
from viz.style import FIGURES_DIR, PALETTE, save

OUT_DIR = FIGURES_DIR / "dip" / "variations"
CACHE = FIGURES_DIR / "dip" / "cache" / "variations"
COMMAND = "make bench-dip-variations"


def _job(model_path: Path, classifier_path: Path, corruption, settings: VariationSettings, seed: int,
         per_class: int) -> list[dict]:
    model, config = load_model(model_path)
    digits, labels = study_digits(per_class)
    return run_variations(model, config.make_schedule(), study_classifier(classifier_path), digits, labels,
                          corruption, settings, seed)


def _digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def jobs(model_path: Path, cache: Path, seeds: tuple[int, ...], per_class: int, settings: VariationSettings,
         corruptions=CORRUPTIONS, classifier_path: Path = CLASSIFIER) -> list[tuple[Path, tuple]]:
    """(cache file, arguments) of every (corruption, seed) job, keyed by everything that decides its rows."""
    study_classifier(classifier_path)  # trained once here, before the workers read it
    code = [_digest(module.__file__) for module in (dip_ext.variations, dip_ext.restore, dip_ext.fit, dip_ext.starts)]
    checkpoints = _digest(model_path) + _digest(classifier_path)
    result = []
    for corruption in corruptions:
        for seed in seeds:
            key = hashlib.sha256(repr((asdict(settings), corruption, seed, per_class, code, checkpoints)).encode()).hexdigest()[:10]
            result.append((cache / f"{corruption.name.replace(' ', '_')}_seed{seed}_{key}.json",
                           (model_path, classifier_path, corruption, settings, seed, per_class)))
    return result


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N), 1 <= K <= N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like K/N (for example 2/3), got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(rows))
    path.with_suffix(".tmp").replace(path)


def _run_and_write(path: Path, arguments: tuple) -> tuple[Path, list[dict]]:
    rows = _job(*arguments)
    _write(path, rows)
    return path, rows


def run_jobs(all_jobs: list[tuple[Path, tuple]], shard: tuple[int, int] | None, workers: int) -> list[dict]:
    """Compute this shard's unfinished jobs (every job without a shard), each written when it ends;
    returns the rows of every finished job, computed here or read from the cache."""
    mine = all_jobs if shard is None else all_jobs[shard[0] - 1::shard[1]]
    todo = [job for job in mine if not job[0].exists()]
    if todo:
        print(f"DIP variations: {len(todo)} of {len(mine)} (corruption, seed) jobs to compute, "
              f"{f'in {workers} processes' if workers else 'in this process'}")
        with one_thread_workers(workers) as pool:
            for path, _ in results_as_finished(pool, [(_run_and_write, job) for job in todo]):
                print(f"  finished {path.name}")
    return [row for path, _ in all_jobs if path.exists() for row in json.loads(path.read_text())]


# ----- the figures -----------------------------------------------------------------------------------

def _psnr(rows: list[dict], corruption: str, method: str, steps: int) -> float:
    found = [row["psnr"] for row in rows if row["corruption"] == corruption and row["method"] == method
             and row["steps"] == steps]
    return found[0] if found else math.nan


def _panels(corruptions: list[str]):
    fig, axes = plt.subplots(1, len(corruptions), figsize=(3.2 * len(corruptions), 3.0), squeeze=False,
                             constrained_layout=True)
    return fig, axes[0]


def steps_figure(rows: list[dict], settings: VariationSettings, t0: int, out: Path, question: str,
                 methods: dict[str, str]) -> FigureEntry:
    """Mean PSNR against reverse steps for each method of `methods` ({label: method}), a panel per corruption."""
    corruptions = list(dict.fromkeys(row["corruption"] for row in rows))
    fig, axes = _panels(corruptions)
    numbers = {}
    for ax, corruption in zip(axes, corruptions):
        numbers[corruption] = {}
        for colour, (label, method) in zip(PALETTE, methods.items()):
            values = [_psnr(rows, corruption, method, steps) for steps in settings.steps]
            numbers[corruption][label] = dict(zip(settings.steps, values))
            ax.plot(settings.steps, values, "o-", color=colour, label=label)
        ax.set(title=corruption, xlabel="reverse steps", ylabel="mean PSNR (dB)", xticks=list(settings.steps))
    axes[0].legend(fontsize=6)
    save(fig, out)
    notes = []
    for corruption, by_label in numbers.items():
        steps = max(settings.steps)
        best = max(by_label, key=lambda label: by_label[label][steps])
        notes.append(f"{corruption}: at {steps} steps the highest mean PSNR is {best} ({by_label[best][steps]:.2f} dB, "
                     f"the single start {by_label['single DIP start'][steps]:.2f} dB).")
    return FigureEntry(out, f"Question {question}: mean PSNR over the seeds against the number of reverse steps from "
                            f"t0 = {t0}, each method and the single DIP start.", COMMAND, " ".join(notes), numbers)


def duration_figure(rows: list[dict], settings: VariationSettings, t0: int, out: Path) -> FigureEntry:
    """Question 3: PSNR of DIP k alone and as the start, and the start's pixel spread, against k."""
    corruptions = list(dict.fromkeys(row["corruption"] for row in rows))
    fig, axes = plt.subplots(2, len(corruptions), figsize=(3.2 * len(corruptions), 5.2), squeeze=False,
                             constrained_layout=True)
    default, steps = settings.architectures[0], max(settings.steps)
    numbers = {}
    for column, corruption in enumerate(corruptions):
        alone = [_psnr(rows, corruption, f"{default}, DIP {k} alone", 0) for k in settings.durations]
        started = [_psnr(rows, corruption, f"{default}, DIP {k} start, t0 {t0}", steps) for k in settings.durations]
        spreads = [next(row["pixel spread"] for row in rows if row["corruption"] == corruption
                        and row["method"] == f"{default}, DIP {k} start, t0 {t0}") for k in settings.durations]
        numbers[corruption] = {"alone": dict(zip(settings.durations, alone)),
                               "start": dict(zip(settings.durations, started)),
                               "spread": dict(zip(settings.durations, spreads))}
        top, bottom = axes[0, column], axes[1, column]
        top.plot(settings.durations, alone, "o-", color=PALETTE[0], label="DIP k alone")
        top.plot(settings.durations, started, "o-", color=PALETTE[1], label=f"DIP k start, {steps} steps")
        for colour, name in zip(PALETTE[2:], settings.architectures[1:]):
            k = settings.architecture_iterations
            top.plot([k], [_psnr(rows, corruption, f"{name}, DIP {k} start, t0 {t0}", steps)], "s", color=colour,
                     label=f"{name} start")
        bottom.plot(settings.durations, spreads, "o-", color=PALETTE[1])
        top.set(title=corruption, xscale="log", ylabel="mean PSNR (dB)")
        bottom.set(xscale="log", xlabel="DIP iterations k", ylabel="pixel spread of 4 draws")
    axes[0, 0].legend(fontsize=6)
    save(fig, out)
    notes = []
    for corruption, values in numbers.items():
        best = max(values["start"], key=values["start"].get)
        notes.append(f"{corruption}: the start peaks at k = {best} ({values['start'][best]:.2f} dB); its pixel spread "
                     f"goes from {values['spread'][settings.durations[0]]:.3f} at k = {settings.durations[0]} to "
                     f"{values['spread'][settings.durations[-1]]:.3f} at k = {settings.durations[-1]}.")
    return FigureEntry(out, f"Question 3: mean PSNR of DIP alone and of the DIP start ({steps} steps from t0 = {t0}) "
                            "against DIP's iterations (top; squares: the other networks), and the spread of "
                            f"{settings.draws} reverse draws from one start (bottom).", COMMAND, " ".join(notes), numbers)


def prior_figure(rows: list[dict], settings: VariationSettings, t0: int, out: Path) -> FigureEntry:
    """Question 4: bars of mean PSNR per method, a panel per corruption."""
    corruptions = list(dict.fromkeys(row["corruption"] for row in rows))
    fig, axes = _panels(corruptions)
    k, steps = settings.prior_iterations, max(settings.steps)
    numbers = {}
    for ax, corruption in zip(axes, corruptions):
        bars = {f"DIP {k} alone": _psnr(rows, corruption, f"DIP {k} alone", 0),
                f"DIP {settings.start_iterations} start": _psnr(rows, corruption,
                                                                 f"DIP {settings.start_iterations} start, t0 {t0}", steps)}
        for weight, levels in settings.priors:
            name = prior_name(k, weight, levels)
            bars[name.replace(f"DIP {k} + DDPM ", "") + " alone"] = _psnr(rows, corruption, f"{name} alone", 0)
            bars[name.replace(f"DIP {k} + DDPM ", "") + " start"] = _psnr(rows, corruption, f"{name}, start t0 {t0}", steps)
        ddpm = max((row for row in rows if row["corruption"] == corruption and row["method"].startswith("DDPM alone")),
                   key=lambda row: row["psnr"])
        bars["DDPM alone (best)"] = ddpm["psnr"]
        numbers[corruption] = bars
        ax.barh(range(len(bars)), list(bars.values()), color=[PALETTE[i % len(PALETTE)] for i in range(len(bars))])
        ax.set_yticks(range(len(bars)), list(bars) if ax is axes[0] else [""] * len(bars), fontsize=6)
        ax.set(title=corruption, xlabel="mean PSNR (dB)")
    save(fig, out)
    notes = []
    for corruption, bars in numbers.items():
        best = max(bars, key=bars.get)
        notes.append(f"{corruption}: highest {best} ({bars[best]:.2f} dB); plain DIP {k} alone "
                     f"{bars[f'DIP {k} alone']:.2f} dB.")
    return FigureEntry(out, f"Question 4: mean PSNR of plain DIP, DIP with the DDPM as RED's denoiser (alone and as "
                            f"the start, {steps} steps from t0 = {t0}), the single DIP start and the best DDPM-alone row.",
                       COMMAND, " ".join(notes), numbers)


def figures(rows: list[dict], settings: VariationSettings, T: int, out_dir: Path) -> list[FigureEntry]:
    mean_rows = summary(rows)
    t0 = round(settings.t0_fraction * T)
    single = f"DIP {settings.start_iterations} start, t0 {t0}"
    refits = {"single DIP start": single} | {
        f"refit at {level_set} levels": f"DIP {settings.start_iterations} start, DIP {settings.refit_iterations} refit "
                                        f"to x0 at {level_set} levels" for level_set in LEVEL_SETS}
    mixes = {"single DIP start": single} | {
        f"lambda {weight:g}, {level_set}": f"DIP {settings.start_iterations} start, lambda {weight:g} at {level_set} levels"
        for weight in settings.noise_weights for level_set in ("all", "upper half")}
    return [steps_figure(mean_rows, settings, t0, out_dir / "dip_intermediate.png", "1", refits),
            steps_figure(mean_rows, settings, t0, out_dir / "dip_noise_estimate.png", "2", mixes),
            duration_figure(mean_rows, settings, t0, out_dir / "dip_duration.png"),
            prior_figure(mean_rows, settings, t0, out_dir / "dip_prior.png")]


def build_parser():
    parser = command_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=1, help="held-out digits of each class (at most 5)")
    parser.add_argument("--shard", default=None, help="K/N: compute only every N-th job from the K-th")
    parser.add_argument("--workers", type=int, default=2, help="one-thread processes (0: in this process)")
    parser.add_argument("--ckpt", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    return parser


def command(args, settings: VariationSettings = VariationSettings()) -> None:
    shard = None if args.shard is None else parse_shard(args.shard)
    ensure_trained(RECIPE, args.ckpt)
    all_jobs = jobs(args.ckpt, args.cache, tuple(args.seeds), args.per_class, settings)
    rows = run_jobs(all_jobs, shard, args.workers)
    finished = len({(row["corruption"], row["seed"]) for row in rows})
    print(f"{finished} of {len(all_jobs)} (corruption, seed) jobs finished")
    if not rows:
        return
    print(report(rows, settings.ddpm_steps))
    _, config = load_model(args.ckpt)
    entries = figures(rows, settings, config.T, args.out)
    write_index(entries, args.out, title="DIP variations (MNIST)", command=COMMAND)
    (args.out / "tables.md").write_text(every_table(rows))
    print(f"figures and notes in {args.out}/index.md, every table in {args.out}/tables.md")


def main(argv: list[str] | None = None) -> None:
    run_command(build_parser(), command, argv)


if __name__ == "__main__":
    main()
