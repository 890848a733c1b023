"""The submission's process: imports the student's files and runs probes on the grader's request.

grading/sandbox.py forks a zygote from the grader before any expected value is loaded; the zygote
(zygote() below) holds torch and every module a submission typically needs, and forks one worker
per request of the grader, in a few milliseconds. A worker (work() below) starts a session of
its own, enters namespaces of its own if given a view (grading/namespaces.py: it then continues in
a new PID namespace, with no network and only the view's files), sets its resource limits (soft =
hard, so they cannot be raised again), drops to the unprivileged user if given one (no way back to
root), and only then puts the folder of graded files and gmm.py on sys.path. Nothing here decides a
grade: whatever a submission does to its worker changes only what the worker answers.

Requests and answers are wire frames. Once set up, before any submitted code runs, a worker says
{"id": 0, "ready": true}; then, for each request {"id": n, "probe": name, "inputs": {...}}:
    -> {"id": n, "importing": module} before each submitted module it imports first,
    -> {"id": n, "running": name} once the probe's modules are imported, then
    -> {"id": n, "value": ...} or {"id": n, "error": {"type", "message", "where"}}
"""
import importlib
import json
import os
import resource
import socket
import sys
import traceback
from pathlib import Path

import torch

import namespaces
import probes
import wire

PRELOADED = ("dataclasses", "functools", "itertools", "math", "typing", "numpy", "torch.nn.functional",
             "torch.utils.data", "torch._dynamo", "tqdm.auto")
"""What probes and typical submissions import (torch.optim's optimisers load torch._dynamo when built),
loaded by the zygote while the interpreter's files are still readable: after the drop, folders
such as /root (pyenv) or the autograder's source may not be."""

RESOURCE_LIMITS = {"cpu_seconds": resource.RLIMIT_CPU, "memory_bytes": resource.RLIMIT_AS,
                   "processes": resource.RLIMIT_NPROC, "output_bytes": resource.RLIMIT_FSIZE,
                   "core_bytes": resource.RLIMIT_CORE}


def limit_resources(limits: dict[str, int], strict: bool) -> None:
    """Each limit with soft = hard (a process may lower a hard limit, never raise it), but CPU time:
    the budget counts from now, and SIGXCPU at the soft limit is followed by SIGKILL a second later
    (a submission may ignore SIGXCPU). No core files. A limit the system refuses stops a `strict`
    worker (one that grades for the record, as root) and is noted otherwise."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_used = int(usage.ru_utime + usage.ru_stime) + 1
    for name, value in {**limits, "core_bytes": 0}.items():
        kind = RESOURCE_LIMITS[name]
        soft, hard = (cpu_used + value, cpu_used + value + 1) if name == "cpu_seconds" else (value, value)
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError) as error:  # macOS refuses RLIMIT_AS; Linux takes them all
            if strict:
                raise
            print(f"the {name} limit is not available here ({error})", file=sys.stderr)


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
    try:
        message = str(error)[:2000]
    except BaseException:  # an exception class of the submission's whose __str__ fails
        message = "(its message could not be read)"
    return {"id": request_id, "error": {"type": type(error).__name__, "message": message, "where": frames[-5:]}}


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


def work(requests: int, answers: int, output: int, folder: Path, user: tuple[int, int] | None,
         limits: dict[str, int], environment: dict[str, str], view: namespaces.View | None) -> None:
    """The worker, in a child of the zygote: never returns. A failure before it is ready (the
    grader's problem, not the submission's) is printed to `output` for the grader's message."""
    try:
        os.setsid()
        os.environ.clear()
        os.environ.update(environment)
        torch.set_num_threads(1)  # as the grader: grading platforms give about one core
        for standard in (1, 2):
            os.dup2(output, standard)
        keep = sorted({0, 1, 2, requests, answers})
        for low, high in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")]):
            os.closerange(low + 1, high)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        if view:
            namespaces.enter(view, as_root=user is not None)  # from here on: the worker inside its namespaces
        limit_resources(limits, strict=user is not None)
        if user:
            drop_privileges(*user)
        if view:
            namespaces.drop_capabilities()
        os.chdir(folder)
        for graded in folder.glob("*.py"):  # a module of that name the zygote's parent had loaded is not the graded one
            sys.modules.pop(graded.stem, None)
        sys.path[:] = [str(folder)] + [path for path in sys.path if path != str(Path(__file__).resolve().parent)]
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    try:
        wire.write_frame(answers, wire.encode({"id": 0, "ready": True}))
        serve(requests, answers, folder)
    finally:
        os._exit(0)


def zygote(control: socket.socket) -> None:
    """Fork a worker for each {"spawn": ...} message (with the worker's request, answer and output
    file descriptors attached) and answer its pid; answer {"status": pid} with the worker's exit
    code (None while it runs) and CPU seconds. Runs until the grader closes `control`; never returns."""
    try:
        for name in PRELOADED:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        while True:
            message, fds, _, _ = socket.recv_fds(control, 4096, 3)
            if not message:
                break
            order = json.loads(message)
            if "spawn" in order:
                pid = os.fork()
                if pid == 0:
                    control.close()
                    spawn = order["spawn"]
                    work(*fds, Path(spawn["folder"]), tuple(spawn["user"]) if spawn["user"] else None, spawn["limits"],
                         spawn["environment"], namespaces.View(**spawn["view"]) if spawn["view"] else None)
                for fd in fds:
                    os.close(fd)
                control.send(json.dumps({"pid": pid}).encode())
            else:
                try:
                    pid, status, usage = os.wait4(order["status"], os.WNOHANG)
                except ChildProcessError:
                    pid, status = -1, 0
                code = os.waitstatus_to_exitcode(status) if pid else None
                control.send(json.dumps({"code": code, "cpu": usage.ru_utime + usage.ru_stime if pid > 0 else 0.0}).encode())
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(0)
