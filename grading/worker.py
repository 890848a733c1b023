"""The submission's process: imports the student's files and runs probes on the grader's request.

    python -I grading/worker.py --requests FD --answers FD --folder DIR [--user UID:GID] --limits JSON

Started by grading/sandbox.py, never by hand. Everything it needs from the interpreter is imported
first; then it sets its resource limits (soft = hard, so they cannot be raised again), drops to the
unprivileged user if given one (no way back to root), and only then puts DIR, the folder of graded
files and gmm.py, on sys.path. Nothing here decides a grade: whatever a submission does to this
process changes only what it answers.

Requests and answers are wire frames. Once set up, before any submitted code runs, it says
{"id": 0, "ready": true}; then, for each request {"id": n, "probe": name, "inputs": {...}}:
    -> {"id": n, "importing": module} before each submitted module it imports first,
    -> {"id": n, "running": name} once the probe's modules are imported, then
    -> {"id": n, "value": ...} or {"id": n, "error": {"type", "message", "where"}}
"""
import argparse
import importlib
import json
import os
import resource
import sys
import traceback
from pathlib import Path

import torch

PRELOADED = ("dataclasses", "functools", "itertools", "math", "typing", "numpy", "torch.nn.functional",
             "torch.utils.data", "tqdm.auto")
"""What typical submissions import, loaded while the interpreter's files are still readable: after
the drop, folders such as /root (pyenv) or the autograder's source may not be."""
for _name in PRELOADED:
    try:
        importlib.import_module(_name)
    except ImportError:
        pass

HERE = str(Path(__file__).resolve().parent)
sys.path.append(HERE)  # python -I leaves the script's folder off sys.path
import probes  # noqa: E402
import wire  # noqa: E402

RESOURCE_LIMITS = {"cpu_seconds": resource.RLIMIT_CPU, "memory_bytes": resource.RLIMIT_AS,
                   "processes": resource.RLIMIT_NPROC, "output_bytes": resource.RLIMIT_FSIZE}


def load_lazy_modules() -> None:
    """One tiny training step of the layers the problem set uses: torch imports some modules only on
    first use (torch.optim's step loads torch._dynamo), and after the drop it may not read them."""
    layers = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 2), torch.nn.GroupNorm(2, 4), torch.nn.SiLU(),
                                 torch.nn.ConvTranspose1d(4, 1, 2), torch.nn.Flatten(), torch.nn.Linear(2, 2))
    optimizer = torch.optim.Adam(layers.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=2)
    torch.nn.functional.smooth_l1_loss(layers(torch.randn(2, 1, 2)), torch.zeros(2, 2)).backward()
    optimizer.step()
    schedule.step()


def limit_resources(limits: dict[str, int]) -> None:
    """Each limit with soft = hard (a process may lower a hard limit, never raise it), but CPU time:
    the budget counts from now, and SIGXCPU at the soft limit is followed by SIGKILL a second later
    (a submission may ignore SIGXCPU). No core files."""
    for name, value in limits.items():
        if name == "cpu_seconds":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            soft = int(usage.ru_utime + usage.ru_stime) + 1 + value
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
        else:
            resource.setrlimit(RESOURCE_LIMITS[name], (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getegid() != gid:
        raise SystemExit(f"could not become {uid}:{gid}")


def error_answer(request_id: int, error: BaseException, folder: Path) -> dict:
    """The exception's type and message, and the lines of the graded files it passed through."""
    frames = [f"{Path(frame.filename).name} line {frame.lineno}, in {frame.name}"
              for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename).parent == folder]
    return {"id": request_id, "error": {"type": type(error).__name__, "message": str(error)[:2000], "where": frames[-5:]}}


def serve(requests: int, answers: int, folder: Path) -> None:
    own_pid = os.getpid()
    while True:
        try:
            request = wire.decode(wire.read_exactly(requests, wire.frame_length(wire.read_exactly(requests, 8))))
        except EOFError:
            return
        request_id = request["id"]
        function, modules = probes.PROBES[request["probe"]]
        try:
            imported = []
            for name in modules:
                if name not in sys.modules:
                    wire.write_frame(answers, wire.encode({"id": request_id, "importing": name}))
                module = importlib.import_module(name)
                if Path(module.__file__).resolve().parent != folder:
                    raise ImportError(f"{name} was imported from {module.__file__}, not from the graded files")
                imported.append(module)
            wire.write_frame(answers, wire.encode({"id": request_id, "running": request["probe"]}))
            # a value that cannot be sent is an error of this request
            answer = wire.encode({"id": request_id, "value": function(*imported, **request["inputs"])})
        except BaseException as error:  # SystemExit and KeyboardInterrupt from student code included
            answer = wire.encode(error_answer(request_id, error, folder))
        if os.getpid() != own_pid:  # a copy the submission forked: only the worker answers
            os._exit(0)
        wire.write_frame(answers, answer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--answers", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--user", default=None, help="UID:GID to run as (the grader is root)")
    parser.add_argument("--limits", type=json.loads, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_lazy_modules()
    limit_resources(args.limits)
    if args.user:
        drop_privileges(*map(int, args.user.split(":")))
    folder = args.folder.resolve()
    os.chdir(folder)
    sys.path[:] = [str(folder)] + [path for path in sys.path if path != HERE]  # the graded files, not the grader's
    wire.write_frame(args.answers, wire.encode({"id": 0, "ready": True}))
    serve(args.requests, args.answers, folder)


if __name__ == "__main__":
    main()
