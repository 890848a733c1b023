"""The DIP stopping study (make bench-dip): every image x sigma x seed, the table of stopping rules.

    python -m dip_ext.run_study                       # 8 images x sigma 15, 25, 50 x seeds 0-2
    python -m dip_ext.run_study --images camera coins --sigmas 25 --seeds 0

Finished cases are appended to --runs as they complete, so an interrupted study loses at most the
cases in flight and a rerun skips what is there (change the settings: use another --runs file).
Cases run in --workers one-thread processes.
"""
import json
from concurrent.futures import as_completed
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from cli import add_speed_flags, command_parser, run_command, speed_from_flags
from devices import one_thread_workers
from dip_ext.images import BENCHMARK_IMAGES, IMAGE_NAMES, SIGMAS, check_sigma
from dip_ext.study import StudySettings, case_key, format_table, run_case, summarise

DEFAULT_RUNS = Path("figures/dip/study/runs.jsonl")


def main(args) -> None:
    for image in args.images:
        if image not in IMAGE_NAMES:
            raise ValueError(f"unknown image {image!r}; choose from: {', '.join(IMAGE_NAMES)}")
    for sigma in args.sigmas:
        check_sigma(sigma)
    speed = speed_from_flags("dip", torch.device("cpu"), args)
    settings = StudySettings(size=args.size, iterations=args.iterations, **({"speed": speed} if speed else {}))
    print(f"DIP cases on one-thread CPU processes: {settings.speed.describe().rsplit(',', 1)[0]}")
    args.runs.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.runs.exists():
        for line in args.runs.read_text().splitlines():
            case = json.loads(line)
            if case["settings"] == json.loads(json.dumps(asdict(settings))):
                done[case["key"]] = case
    wanted = [(image, sigma, seed) for image in args.images for sigma in args.sigmas for seed in args.seeds]
    todo = [case for case in wanted if case_key(*case) not in done]
    print(f"{len(wanted) - len(todo)} of {len(wanted)} cases already in {args.runs}; running {len(todo)} "
          f"in {args.workers} processes")
    with one_thread_workers(args.workers) as pool, args.runs.open("a") as runs:
        futures = [pool.submit(run_case, *case, settings) for case in todo]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="cases"):
                case = future.result()
                runs.write(json.dumps(case) + "\n")
                runs.flush()
                done[case["key"]] = case
        except KeyboardInterrupt:
            pool.shutdown(cancel_futures=True)
            raise SystemExit(f"interrupted: the finished cases are in {args.runs}; rerun to continue")
    cases = [done[case_key(*case)] for case in wanted]
    table = format_table(summarise(cases))
    speed = [case[fit]["iterations_per_second"] for case in cases for fit in ("plain", "recorrupted")]
    print(table)
    print(f"\nfitting speed per one-thread process: {min(speed):.1f}-{max(speed):.1f} iterations/s "
          f"at {settings.size}x{settings.size}, width {settings.network.channels_down}")
    (args.runs.parent / "table.md").write_text(table + "\n")


def parser():
    parser = command_parser(__doc__)
    parser.add_argument("--images", nargs="+", default=list(BENCHMARK_IMAGES), help="scikit-image names")
    parser.add_argument("--sigmas", nargs="+", type=float, default=list(SIGMAS), help="noise std, 0..255 scale")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--size", type=int, default=StudySettings.size, help="image side in pixels")
    parser.add_argument("--iterations", type=int, default=StudySettings.iterations, help="plain DIP's iterations")
    parser.add_argument("--workers", type=int, default=2, help="parallel one-thread processes")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="where finished cases are kept")
    add_speed_flags(parser)
    return parser


if __name__ == "__main__":
    run_command(parser(), main)
