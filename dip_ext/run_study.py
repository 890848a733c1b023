"""The DIP stopping study (make bench-dip): every image x sigma x seed, the tables of stopping rules.

    python -m dip_ext.run_study                       # 6 colour photographs x sigma 15, 25, 50 x seeds 0, 1 at 128x128
    python -m dip_ext.run_study --grey --size 64 --seeds 0 1 2    # the grey study: 8 images at 64x64
    python -m dip_ext.run_study --images astronaut photos/ --sigmas 25 --seeds 0
    python -m dip_ext.run_study --shard 3/8           # the 3rd of 8 parts: cases 3, 11, 19, ...
    python -m dip_ext.run_study --rule my_rules.py:lowest_residual       # your rule beside the others

Every case measures the published rules (dip_ext.rules.BASELINES, and the fixed count when it
summarises), the reference rules (dip_ext.rules.REFERENCE_RULES; --no-reference-rules leaves them
out) and each --rule (NAME=MODULE:FUNCTION or FILE.py:FUNCTION, dip_ext.plugins). A rule whose code
is still a TODO is named in one line with the TODO it waits for, and the others' rows print. A rule
added to recorded cases is measured on their recorded plain fit, without fitting it again.

--images takes scikit-image names, PNG/JPEG files and folders of them; the network's flags
(--depth, --channels-down, ...) change its configuration. Finished cases are appended
to --runs as they complete, so an interrupted study loses at most the cases in flight and a rerun
skips what is there (change the settings: use another --runs file). Cases run in --workers one-thread
processes (0: in this process, to debug a rule). With --shard K/N a process runs every N-th case from the K-th and writes its own record
beside --runs (runs.shard-K-of-N.jsonl); every run reads all of them, so once the N shards are done
(on one machine or several, their records copied into one folder) a run without --shard prints the
tables without fitting anything.

Once every case is there, one compact row per case and output (dip_ext.study.case_rows: the peak,
each rule's stop, the classical denoisers) is appended to the record results/dip-study.jsonl, unless
the record already holds those rows for these settings; docs/dip-results.md's tables are made from
it (tools/tables.py: dip-study).
"""
import json
import shlex
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

import records
from cli import add_speed_flags, command_parser, config_overrides, run_command, speed_from_flags
from devices import one_thread_workers, results_as_finished
from dip_ext.images import BENCHMARK_IMAGES, COLOUR_IMAGES, SIGMAS, check_sigma, images_in, load_image
from dip_ext.network import DipConfig
from dip_ext.plugins import Method, load_method
from dip_ext.rules import BASELINES, OUTPUTS, REFERENCE_RULES
from dip_ext.study import StudySettings, add_rules, case_key, case_rows, format_table, run_case, summarise_rows

DEFAULT_RUNS = Path("figures/dip/study/runs.jsonl")
RECORD = "dip-study"


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    try:
        part, parts = (int(number) for number in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes K/N (run part K of N, counting from 1), got {text!r}") from None
    if not 1 <= part <= parts:
        raise ValueError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return part, parts


def shard_cases(cases: list, part: int, parts: int) -> list:
    """Every parts-th case from the part-th (1-based): over part = 1..parts, each case exactly once."""
    return cases[part - 1::parts]


def record_files(runs: Path) -> list[Path]:
    """The study's record files: `runs` and every shard's record beside it."""
    found = {runs} if runs.exists() else set()
    return sorted(found | set(runs.parent.glob(f"{runs.stem}.shard-*{runs.suffix}")))


def image_sources(given: list[str]) -> list[str]:
    """Names and files as they are, folders expanded to their PNG/JPEG files."""
    return [source for item in given for source in (images_in(Path(item)) if Path(item).is_dir() else [item])]


def methods_from_flags(specs: list[str], reference: bool) -> list[Method]:
    """The published rules, then the reference ones (unless left out), then each --rule, by name (each name once)."""
    methods = [Method(name, f"dip_ext.rules:{function.__name__}", function) for name, function in BASELINES.items()]
    methods += [load_method(spec) for spec in (list(REFERENCE_RULES) if reference else []) + specs]
    names = [method.name for method in methods]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"two rules are called {', '.join(repeated)}; name one: --rule NAME=MODULE:FUNCTION")
    return methods


def _new_case(image: str, sigma: float, seed: int, settings: StudySettings, specs: list[str], reference: bool):
    return run_case(image, sigma, seed, settings, methods_from_flags(specs, reference))


def _more_rules(record: dict, settings: StudySettings, specs: list[str], reference: bool):
    return add_rules(record, methods_from_flags(specs, reference), settings)


def record_rows(settings: dict, rows: dict[str, list[dict]], command: str) -> bool:
    """Append the study's case rows of each output to the record, one line per case and output, unless
    the record's latest run of these settings holds the same rows; True when they were appended."""
    lines = json.loads(json.dumps([{"settings": settings, "output": output} | row
                                   for output, output_rows in rows.items() for row in output_rows]))
    try:
        earlier = [line["row"] for line in records.read(RECORD) if line["row"]["settings"] == settings]
    except FileNotFoundError:
        earlier = []
    if earlier:
        latest = earlier[-1]["run"]
        if [{key: value for key, value in row.items() if key != "run"} for row in earlier if row["run"] == latest] == lines:
            return False
    run = records.run_id()
    records.append(RECORD, [{"run": run} | line for line in lines], command)
    return True


def main(args) -> None:
    images = image_sources(args.images or list(BENCHMARK_IMAGES if args.grey else COLOUR_IMAGES))
    for image in images:
        load_image(image, args.size, args.grey)  # a clear error now, not in a worker an hour later
    for sigma in args.sigmas:
        check_sigma(sigma)
    methods = methods_from_flags(args.rule, args.reference_rules)
    part, parts = parse_shard(args.shard) if args.shard else (1, 1)
    speed = speed_from_flags("dip", torch.device("cpu"), args)
    settings = StudySettings(size=args.size, grey=args.grey, iterations=args.iterations,
                             network=DipConfig(**config_overrides(args, args.config_fields)), **({"speed": speed} if speed else {}))
    print(f"DIP cases on one-thread CPU processes: {settings.speed.describe().rsplit(',', 1)[0]}")
    args.runs.parent.mkdir(parents=True, exist_ok=True)
    wanted_settings = json.loads(json.dumps(asdict(settings)))
    done = {}
    for path in record_files(args.runs):
        for line in path.read_text().splitlines():
            case = json.loads(line)
            if case["settings"] == wanted_settings:
                done[case["key"]] = case
    wanted = [(image, sigma, seed) for image in images for sigma in args.sigmas for seed in args.seeds]
    mine = shard_cases(wanted, part, parts)
    todo = [case for case in mine if case_key(*case) not in done]
    stale = [done[case_key(*case)] for case in mine if case_key(*case) in done and any(
        done[case_key(*case)]["rules"].get(method.name, {}).get("source") != method.digest for method in methods)]
    record = args.runs if parts == 1 else args.runs.with_name(f"{args.runs.stem}.shard-{part}-of-{parts}{args.runs.suffix}")
    print(f"{len(mine) - len(todo)} of {len(mine)} cases{f' in shard {part}/{parts}' if parts > 1 else ''} already "
          f"recorded; running {len(todo)} {f'in {args.workers} processes' if args.workers else 'in this process'}, recording to {record}"
          + (f"; rules to measure on {len(stale)} recorded ones" if stale else ""))
    waiting = {}
    jobs = [(_new_case, (*case, settings, args.rule, args.reference_rules)) for case in todo]
    jobs += [(_more_rules, (case, settings, args.rule, args.reference_rules)) for case in stale]
    with one_thread_workers(args.workers) as pool, record.open("a") as runs:
        try:
            for case, waits in tqdm(results_as_finished(pool, jobs), total=len(jobs), desc="cases"):
                waiting |= waits
                runs.write(json.dumps(case) + "\n")
                runs.flush()
                done[case["key"]] = case
        except KeyboardInterrupt:
            pool.shutdown(cancel_futures=True)
            raise SystemExit(f"interrupted: the finished cases are in {record}; rerun to continue")
    for rule, todo_text in waiting.items():
        print(f"{rule}: waits for the TODO in {todo_text}")
    missing = [case for case in wanted if case_key(*case) not in done]
    if missing:
        print(f"{len(missing)} of {len(wanted)} cases are still to run (other shards); the tables come once all are recorded")
        return
    cases = [done[case_key(*case)] for case in wanted]
    names = [method.name for method in methods if method.name not in waiting]
    rows = {output: case_rows(cases, output, names) for output in OUTPUTS}
    record_rows(wanted_settings, rows, shlex.join(["python", "-m", "dip_ext.run_study", *args.argv]))
    table = format_table({output: summarise_rows(rows[output], names) for output in OUTPUTS})
    print(table)
    speed = [case["plain"]["seconds"] for case in cases]
    print(f"\nplain DIP with SURE's twin: {min(speed):.0f}-{max(speed):.0f} s per case on one thread at "
          f"{settings.size}x{settings.size}, width {settings.network.channels_down}, {settings.iterations} iterations")
    (args.runs.parent / "table.md").write_text(table + "\n")


def parser():
    parser = command_parser(__doc__, DipConfig)
    parser.add_argument("--images", nargs="+", default=None,
                        help="scikit-image names, PNG/JPEG files or folders (default: 6 colour photographs; 8 images with --grey)")
    parser.add_argument("--grey", action="store_true", help="make every image grey")
    parser.add_argument("--sigmas", nargs="+", type=float, default=list(SIGMAS), help="noise std, 0..255 scale")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--size", type=int, default=StudySettings.size, help="image side in pixels")
    parser.add_argument("--iterations", type=int, default=StudySettings.iterations, help="plain DIP's iterations")
    parser.add_argument("--workers", type=int, default=2, help="parallel one-thread processes (0: in this process, "
                        "one case after another, where a breakpoint in your rule stops)")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="where finished cases are kept")
    parser.add_argument("--shard", default=None, metavar="K/N", help="run only part K of N (every N-th case from the K-th)")
    parser.add_argument("--rule", action="append", default=[], metavar="[NAME=]MODULE:FUNCTION",
                        help="a stopping rule of your own, measured beside the others (repeatable; dip_ext/rules.py "
                             "says what a rule is)")
    parser.add_argument("--no-reference-rules", dest="reference_rules", action="store_false",
                        help="leave out the reference rules (recorrupted, twin)")
    add_speed_flags(parser)
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
