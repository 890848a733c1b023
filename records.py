"""Results a reader can check: each study and benchmark appends its runs to a record under results/
(JSON lines, kilobytes, committed), and the guides' tables are generated from the records
(tools/tables.py), so a table in a guide is never typed by hand.

A record is appended to, never edited: a rerun on another machine adds its rows beside the old ones,
each row saying where and when it was measured:

    {"record": NAME, "date": ISO time, "commit": git commit (+ "-dirty" with uncommitted changes),
     "command": what ran, "machine": machine(), "row": the run's own fields}
"""
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

COMMITTED = Path(__file__).resolve().parent / "results"
"""The committed records, which the guides' tables are made from."""
RESULTS = Path(os.environ.get("DIFFUSION_RESULTS", COMMITTED))
"""Where records are appended and read: COMMITTED, or $DIFFUSION_RESULTS. The tests set both for every
test (tests/conftest.py), commands they start included, so that no test adds rows to the committed records."""


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere platform's processor string)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Where a run was measured: CPU model and cores, torch's thread count, the GPU if torch sees one,
    and the torch and Python versions."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "torch": torch.__version__, "python": platform.python_version()}


def commit(root: Path = RESULTS.parent) -> str:
    """The checkout's commit, with "-dirty" when files differ from it; "unknown" outside git."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown"
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                             capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + ("-dirty" if changed else "")


def run_id() -> str:
    """What names one run of a command in its rows: the UTC time it started, to the microsecond, so
    that runs sort in order and a table can pick a record's latest run."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def as_stored(value):
    """`value` as a record reads back: JSON's types (tuples become lists), for comparing with stored rows."""
    return json.loads(json.dumps(value))


def append(name: str, rows: list[dict], command: str) -> list[dict]:
    """Append one line per row to RESULTS/NAME.jsonl, each with the date, commit, command and machine;
    returns the lines written. Written in one call on a file opened for appending, so an interrupted
    run leaves whole lines and never touches the old ones."""
    stamp = {"record": name, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "commit": commit(), "command": command, "machine": machine()}
    lines = [stamp | {"row": row} for row in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f"{name}.jsonl", "a") as record:
        record.write("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def read(name: str) -> list[dict]:
    """Every line of RESULTS/NAME.jsonl, oldest first; a clear error if there is no such record."""
    path = RESULTS / f"{name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no record {path}: run the command that writes it (see tools/tables.py)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
