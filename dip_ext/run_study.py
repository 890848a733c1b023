"""The DIP stopping study (make bench-dip): every image x sigma x seed, the tables of stopping rules.

    python -m dip_ext.run_study                       # 6 colour photographs x sigma 15, 25, 50 x seeds 0, 1 at 128x128
    python -m dip_ext.run_study --grey --size 64 --seeds 0 1 2    # the grey study: 8 images at 64x64
    python -m dip_ext.run_study --images astronaut photos/ --sigmas 25 --seeds 0
    python -m dip_ext.run_study --shard 3/8           # the 3rd of 8 parts: cases 3, 11, 19, ...

--images takes scikit-image names, PNG/JPEG files and folders of them; the network's flags
(--depth, --channels-down, ...) change its configuration. Finished cases are appended
to --runs as they complete, so an interrupted study loses at most the cases in flight and a rerun
skips what is there (change the settings: use another --runs file). Cases run in --workers one-thread
processes. With --shard K/N a process runs every N-th case from the K-th and writes its own record
beside --runs (runs.shard-K-of-N.jsonl); every run reads all of them, so once the N shards are done
(on one machine or several, their records copied into one folder) a run without --shard prints the
tables without fitting anything.
"""
import json
from concurrent.futures import as_completed
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from cli import add_speed_flags, command_parser, config_overrides, run_command, speed_from_flags
from devices import one_thread_workers
from dip_ext.images import BENCHMARK_IMAGES, COLOUR_IMAGES, SIGMAS, check_sigma, images_in, load_image
from dip_ext.network import DipConfig
from dip_ext.study import OUTPUTS, StudySettings, case_key, format_table, run_case, summarise

DEFAULT_RUNS = Path("figures/dip/study/runs.jsonl")


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


def records(runs: Path) -> list[Path]:
    """The study's record files: `runs` and every shard's record beside it."""
    found = {runs} if runs.exists() else set()
    return sorted(found | set(runs.parent.glob(f"{runs.stem}.shard-*{runs.suffix}")))


def image_sources(given: list[str]) -> list[str]:
    """Names and files as they are, folders expanded to their PNG/JPEG files."""
    return [source for item in given for source in (images_in(Path(item)) if Path(item).is_dir() else [item])]


def main(args) -> None:
    images = image_sources(args.images or list(BENCHMARK_IMAGES if args.grey else COLOUR_IMAGES))
    for image in images:
        load_image(image, args.size, args.grey)  # a clear error now, not in a worker an hour later
    for sigma in args.sigmas:
        check_sigma(sigma)
    part, parts = parse_shard(args.shard) if args.shard else (1, 1)
    speed = speed_from_flags("dip", torch.device("cpu"), args)
    settings = StudySettings(size=args.size, grey=args.grey, iterations=args.iterations,
                             network=DipConfig(**config_overrides(args, args.config_fields)), **({"speed": speed} if speed else {}))
    print(f"DIP cases on one-thread CPU processes: {settings.speed.describe().rsplit(',', 1)[0]}")
    args.runs.parent.mkdir(parents=True, exist_ok=True)
    wanted_settings = json.loads(json.dumps(asdict(settings)))
    done = {}
    for path in records(args.runs):
        for line in path.read_text().splitlines():
            case = json.loads(line)
            if case["settings"] == wanted_settings:
                done[case["key"]] = case
    wanted = [(image, sigma, seed) for image in images for sigma in args.sigmas for seed in args.seeds]
    mine = shard_cases(wanted, part, parts)
    todo = [case for case in mine if case_key(*case) not in done]
    record = args.runs if parts == 1 else args.runs.with_name(f"{args.runs.stem}.shard-{part}-of-{parts}{args.runs.suffix}")
    print(f"{len(mine) - len(todo)} of {len(mine)} cases{f' in shard {part}/{parts}' if parts > 1 else ''} already "
          f"recorded; running {len(todo)} in {args.workers} processes, recording to {record}")
    with one_thread_workers(args.workers) as pool, record.open("a") as runs:
        futures = [pool.submit(run_case, *case, settings) for case in todo]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="cases"):
                case = future.result()
                runs.write(json.dumps(case) + "\n")
                runs.flush()
                done[case["key"]] = case
        except KeyboardInterrupt:
            pool.shutdown(cancel_futures=True)
            raise SystemExit(f"interrupted: the finished cases are in {record}; rerun to continue")
    missing = [case for case in wanted if case_key(*case) not in done]
    if missing:
        print(f"{len(missing)} of {len(wanted)} cases are still to run (other shards); the tables come once all are recorded")
        return
    cases = [done[case_key(*case)] for case in wanted]
    table = format_table({output: summarise(cases, output) for output in OUTPUTS})
    speed = [case[fit]["iterations_per_second"] for case in cases for fit in ("plain", "recorrupted")]
    print(table)
    print(f"\nfitting speed per one-thread process: {min(speed):.1f}-{max(speed):.1f} iterations/s "
          f"at {settings.size}x{settings.size}, width {settings.network.channels_down} (plain fits: two networks, SURE's twin)")
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
    parser.add_argument("--workers", type=int, default=2, help="parallel one-thread processes")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="where finished cases are kept")
    parser.add_argument("--shard", default=None, metavar="K/N", help="run only part K of N (every N-th case from the K-th)")
    add_speed_flags(parser)
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
