"""Two runs of the DIP stopping study on the same cases, compared case by case: what a change of
setting (a speed policy, say) moves.

    python -m dip_ext.run_study --sigmas 25 --runs figures/dip/float32/runs.jsonl --precision float32
    python -m dip_ext.run_study --sigmas 25 --runs figures/dip/bf16/runs.jsonl --precision bfloat16
    python -m tools.compare_studies figures/dip/float32/runs.jsonl figures/dip/bf16/runs.jsonl

For every case (image, sigma, seed) in both files it takes plain DIP's peak PSNR and each rule's
PSNR at its stop (dip_ext.study.rule_stops: every rule the case records, and the fixed count chosen on
the other images of the same file), for the averaged and the raw output, and prints per quantity the mean of (second - first) over the cases, its standard error,
the spread of single cases and the count of cases, beside a verdict against --tolerance (dB) on
the mean.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from dip_ext.rules import OUTPUTS
from dip_ext.study import SUFFIX, rule_stops


def read_cases(path: Path) -> dict[str, dict]:
    """{case key: case} of a runs file (the last record of a key wins, as run_study keeps them)."""
    try:
        return {case["key"]: case for case in map(json.loads, path.read_text().splitlines())}
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"error: {path} is not a runs file of dip_ext.run_study ({error})") from error


def quantities(cases: dict[str, dict], keys: list[str]) -> dict[str, np.ndarray]:
    """{'peak, OUTPUT' or 'RULE, OUTPUT': PSNR per case, in the order of keys}; others for a case:
    same sigma, other image."""
    rows = []
    for key in keys:
        case = cases[key]
        others = [cases[k] for k in keys if cases[k]["sigma"] == case["sigma"] and cases[k]["image"] != case["image"]]
        row = {}
        for output in OUTPUTS:
            row[f"peak, {output}"] = max(case["plain"]["signals"]["psnr" + SUFFIX[output]])
            row |= {f"{rule}, {output}": stop["psnr"] for rule, stop in rule_stops(case, others, output, list(case["rules"])).items()}
        rows.append(row)
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def compare(first: dict[str, dict], second: dict[str, dict]) -> list[dict]:
    """Per quantity: mean, standard error and extremes of second - first over the shared cases."""
    keys = sorted(set(first) & set(second))
    if len(keys) < 2:
        raise SystemExit(f"error: the two files share {len(keys)} case(s); run the same images, sigmas and seeds in both")
    a, b = quantities(first, keys), quantities(second, keys)
    rows = []
    for name in a:
        difference = b[name] - a[name]
        rows.append({"quantity": name, "cases": len(keys), "mean": float(difference.mean()),
                     "se": float(difference.std(ddof=1) / np.sqrt(len(keys))),
                     "min": float(difference.min()), "max": float(difference.max())})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.1, help="dB the mean difference may move (default 0.1)")
    args = parser.parse_args(argv)
    rows = compare(read_cases(args.first), read_cases(args.second))
    print(f"second - first, PSNR (dB), over {rows[0]['cases']} cases\n")
    print("| quantity | mean | standard error | single cases (min / max) | mean within tolerance |")
    print("|---|---|---|---|---|")
    for row in rows:
        verdict = "yes" if abs(row["mean"]) <= args.tolerance else "NO"
        print(f"| {row['quantity']} | {row['mean']:+.3f} | {row['se']:.3f} | {row['min']:+.2f} / {row['max']:+.2f} | "
              f"{verdict} (±{args.tolerance:g}) |")


if __name__ == "__main__":
    main()
