"""The submission's process, as the grader sees it: started, limited, questioned and ended from outside.

    python grading/sandbox.py --create-user      # setup.sh: the unprivileged user the worker runs as
    python grading/sandbox.py --check            # which isolation a grading gets on this machine

The grader (this process, which writes results.json) never imports a submitted file. Before any
expected value is loaded it forks a zygote (grading/worker.py), which forks a worker whenever one
is needed; the grader sends the worker a probe and its inputs and reads back plain data with a
deadline. Whatever the worker does to itself can change only what it answers. The grader then
compares the answer with values the worker never sees.

Where the kernel allows it, root or not, the worker enters Linux namespaces of its own
(grading/namespaces.py): no network, no process but its own, and no file but the Python
installation, its graded files (read-only) and a private home and /tmp. When the grader is root
(Gradescope, CI) the worker also becomes SANDBOX_USER before it imports anything submitted, and every
process it leaves behind is killed. Where namespaces are refused (a container whose seccomp profile
forbids them, macOS), a root grader still has SANDBOX_USER, whom file permissions keep out of what
the grader protects (tools/autograde.py); a grader that is not root then has only a separate
process with the same limits, which can read and write what that user can. ISOLATIONS says each in
a line, and the results file says which one a grading had.
"""
import argparse
import dataclasses
import fcntl
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import namespaces
import wire
import worker
from probes import PROBES

SANDBOX_USER = "autograder-student"
USER_LOCK = Path("/run") / f"{SANDBOX_USER}.lock"  # root's folder: a submission cannot take the lock first
AUTOGRADER = Path(__file__).resolve().parents[1]  # the hidden tests, the fixtures and the grader's code
MB = 2**20

ISOLATIONS = {
    "namespaces": "the submission runs in Linux namespaces of its own: no network, no process but its own, and no "
                  "file but the Python installation, its graded files (read-only) and a private home and /tmp",
    "user": f"the submission runs as {SANDBOX_USER}, in a process of its own, with the grader's files out of reach; "
            "it can reach the network and read what every user may",
    "none": "the submission runs in a separate, limited process as you: it can read and write what you can, and "
            "reach the network",
}
"""What keeps a submission away from the grader and the machine, by the isolation a grading gets:
Linux namespaces (root or not), else the sandbox user (root only), else none."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one worker process may use. AUTOGRADER_<FIELD> (for example AUTOGRADER_CALL_SECONDS=10)
    overrides a field from the grader's environment, which a submission cannot reach."""

    call_seconds: float = 60.0  # wall clock for one probe; a test may allow more
    start_seconds: float = 120.0  # wall clock for a new worker to say it is ready, before any submitted code runs
    cpu_seconds: int = 600  # CPU time over the worker's life; a new worker starts after it is killed
    memory_bytes: int = 1536 * MB  # address space: a worker grading the reference peaks at 0.86 GB
    processes: int = 64  # processes and threads of the sandbox user (of the grader's user: added to its count)
    output_bytes: int = MB  # what the submission prints while answering one probe

    @classmethod
    def from_environment(cls) -> "Limits":
        overrides = {}
        for field in dataclasses.fields(cls):
            text = os.environ.get(f"AUTOGRADER_{field.name.upper()}")
            if text is not None:
                overrides[field.name] = type(field.default)(text)
        return cls(**overrides)


class SubmissionError(Exception):
    """The submitted code raised an exception (its type, message and the graded lines it passed)."""


class LimitExceeded(Exception):
    """The worker ran into a resource limit, or ended, or answered something that is not a frame."""


def sandbox_user(create: bool) -> tuple[int, int]:
    """(uid, gid) of SANDBOX_USER, created with useradd when missing and `create` is set."""
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        if not create:
            raise
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", SANDBOX_USER], check=True)
        entry = pwd.getpwnam(SANDBOX_USER)
    return entry.pw_uid, entry.pw_gid


def tasks_of(uid: int) -> int:
    """Live processes and threads whose real user is `uid` (what RLIMIT_NPROC counts), from /proc.
    Zombies are left out: they run nothing, and the grader reaps its own."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
            count += int(fields.get("Threads", "1"))
    return count


def kill_all_of(uid: int) -> None:
    """SIGKILL every process of `uid` (not root), repeated until none is left: kill(-1) sent as that user
    reaches all of its processes, wherever they moved (a new session, a double fork)."""
    assert uid != 0
    for _ in range(100):
        if not tasks_of(uid):
            return
        pid = os.fork()
        if pid == 0:  # only system calls between fork and _exit: safe in a threaded process
            try:
                os.setgroups([])
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)


class Submission:
    """A submission's worker, started on the first probe and again after it is killed.

    run(probe, seconds=None, **inputs) returns the probe's answer, or raises NotImplementedError
    (the student's TODO), SubmissionError (any other exception of the student's code) or
    LimitExceeded (a limit, the process ending, or an answer that is not a frame)."""

    def __init__(self, files: dict[str, Path], limits: Limits, root: bool | None = None,
                 namespaces_wanted: bool | None = None):
        """`files`: the graded files and those provided beside them, {name in the folder: source}.
        `root`: whether the worker runs as SANDBOX_USER (default: whether this process is root).
        `namespaces_wanted`: whether the worker enters namespaces where the kernel allows it (default:
        yes, unless AUTOGRADER_NAMESPACES=0 is in the grader's environment)."""
        self.limits = limits
        self.root = os.geteuid() == 0 if root is None else root
        if namespaces_wanted is None:
            namespaces_wanted = namespaces.wanted()
        self.user = sandbox_user(create=True) if self.root else None
        if self.user:  # gradings on one machine take turns: each kills every process of the user when done
            self.lock = open(USER_LOCK, "a")
            fcntl.flock(self.lock, fcntl.LOCK_EX)
            kill_all_of(self.user[0])  # what a grading that crashed may have left
        self.private = Path(tempfile.mkdtemp(prefix="grader-"))  # 0700, the grader's alone
        self.output = self.private / "output.txt"  # what the worker prints, emptied before each probe
        self.folder = self.private.parent / f"{self.private.name}-files"  # the worker's: readable, not writable
        self.folder.mkdir()
        for name, source in files.items():
            if source.is_symlink():
                raise ValueError(f"{source} is a link: grade the file itself")
            shutil.copyfile(source, self.folder / name)
            (self.folder / name).chmod(0o644)
        self.folder.chmod(0o755)
        self.home = self.private.parent / f"{self.private.name}-home"  # the worker's HOME and TMPDIR
        self.home.mkdir(mode=0o700)
        if self.user:
            os.chown(self.home, *self.user)
        self.view, self.no_namespaces_because = None, "AUTOGRADER_NAMESPACES=0"
        if namespaces_wanted:
            self.view = self._view()
            self.no_namespaces_because = namespaces.refusal(self.view, as_root=self.root)
            if self.no_namespaces_because:
                self.view = None
        self.worker = None  # the worker's pid while one runs
        self.import_failures: dict[str, str] = {}  # module: why every probe that needs it fails
        self.next_id = 0
        self.control, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.zygote = os.fork()  # now, while this process holds no expected value
        if self.zygote == 0:
            self.control.close()
            os.dup2(os.open(os.devnull, os.O_RDWR), 0)
            errors = os.open(self.private / "zygote.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            for standard in (1, 2):  # the zygote's own errors (the grader's bugs), for _ask_zygote's message
                os.dup2(errors, standard)
            os.closerange(3, zygote_end.fileno())
            os.closerange(zygote_end.fileno() + 1, os.sysconf("SC_OPEN_MAX"))
            worker.zygote(zygote_end)
        zygote_end.close()

    def _view(self) -> namespaces.View:
        """The worker's filesystem: the Python installation and the graded files, read-only; a private
        home and /tmp. Refused if the installation's folders hold the autograder's."""
        installation = namespaces.outermost(namespaces.python_installation())
        for path in installation:
            if AUTOGRADER.is_relative_to(path):
                raise ValueError(f"the Python installation's folder {path} holds the autograder ({AUTOGRADER}), which "
                                 "the submission would then see: install the autograder outside it")
        staging = self.private / "root"
        staging.mkdir()
        return namespaces.View(read_only=tuple(installation) + (str(self.folder),), private=(str(self.home), "/tmp"),
                               owner=self.user or (os.getuid(), os.getgid()), staging=str(staging))

    @property
    def isolation_kind(self) -> str:
        """The key of ISOLATIONS that this grading has."""
        return "namespaces" if self.view else "user" if self.root else "none"

    @property
    def isolation(self) -> str:
        """One line on what keeps the submission away from the grader and the machine."""
        line = ISOLATIONS[self.isolation_kind]
        if self.view and self.root:
            line += f", as {SANDBOX_USER}"
        if not self.view:
            line += f" (no namespaces: {self.no_namespaces_because})"
        if not self.root and not self.view:
            line = f"grading as {pwd.getpwuid(os.geteuid()).pw_name}, not root: {line}"
        return line

    # ----- the worker's life ----------------------------------------------------------------------

    def _ask_zygote(self, order: dict, fds: tuple[int, ...] = ()) -> dict:
        socket.send_fds(self.control, [json.dumps(order).encode()], list(fds))
        try:
            answer = self.control.recv(4096)
        except ConnectionError:
            answer = b""
        if not answer:
            said = (self.private / "zygote.txt").read_text()[-1000:]
            raise LimitExceeded(f"the grader's helper process ended ({said}); contact the course staff")
        return json.loads(answer)

    def _start(self) -> None:
        limits = {"cpu_seconds": self.limits.cpu_seconds, "memory_bytes": self.limits.memory_bytes,
                  "output_bytes": self.limits.output_bytes,
                  "processes": self.limits.processes + (0 if self.root else tasks_of(os.getuid()))}
        environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "TMPDIR": str(self.home),
                       "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        requests_read, self.requests = os.pipe()
        self.answers, answers_write = os.pipe()
        output = os.open(self.output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # appending: on after truncation
        try:
            spawn = {"folder": str(self.folder), "user": self.user, "limits": limits, "environment": environment,
                     "view": dataclasses.asdict(self.view) if self.view else None}
            self.worker = self._ask_zygote({"spawn": spawn}, (requests_read, answers_write, output))["pid"]
        finally:
            for fd in (requests_read, answers_write, output):
                os.close(fd)
        try:
            ready = wire.decode(self._read_frame(time.monotonic() + self.limits.start_seconds))
        except (TimeoutError, EOFError, wire.WireError) as error:
            said = self.output.read_text(errors="replace").strip().splitlines()[-1:]
            ready = f"{type(error).__name__}, exit code {self._exit_status()[0]}{': ' + said[0] if said else ''}"
        if ready != {"id": 0, "ready": True}:  # no submitted code has run yet: the grader's own problem
            self._end()
            raise LimitExceeded(f"the grader could not start the submission's process ({ready}); "
                                "contact the course staff")

    def _end(self) -> None:
        """Kill the worker and everything it started; the next probe starts a new one."""
        if self.worker is None:
            return
        if self.user:
            kill_all_of(self.user[0])
        else:
            try:
                os.killpg(self.worker, signal.SIGKILL)  # the worker leads a session of its own
            except ProcessLookupError:
                pass
        self._exit_status()  # reaped by the zygote
        os.close(self.requests)
        os.close(self.answers)
        self.worker = None

    def close(self) -> None:
        self._end()
        self.control.close()  # the zygote's cue to exit
        os.waitpid(self.zygote, 0)
        for folder in (self.private, self.folder, self.home):
            shutil.rmtree(folder, ignore_errors=True)
        if self.user:
            self.lock.close()

    # ----- questions and answers ------------------------------------------------------------------

    def _read(self, size: int, deadline: float) -> bytes:
        chunks, left = [], size
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.answers], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(self.answers, min(left, MB))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float) -> bytes:
        """One frame's body: its 8-byte length, then that many bytes."""
        return self._read(wire.frame_length(self._read(8, deadline)), deadline)

    def _output_limit(self) -> str:
        return f"the submission printed more than {self.limits.output_bytes / MB:g} MB (the output limit)"

    def _printed_too_much(self) -> bool:
        return self.output.stat().st_size >= self.limits.output_bytes

    def _limit_message(self, error: dict) -> tuple[str | None, bool]:
        """The limit an error answer reports, if any (the worker's word, used for the message only), and
        whether the worker must be replaced (processes it started may still be running)."""
        if self._printed_too_much() or "File too large" in error["message"]:
            return self._output_limit(), False
        if error["type"] == "MemoryError" or "can't allocate memory" in error["message"]:
            return f"the submission ran out of memory (the limit is {self.limits.memory_bytes / MB:.0f} MB)", False
        if error["type"] == "BlockingIOError" and "Resource temporarily unavailable" in error["message"]:
            return f"the submission started too many processes (the limit is {self.limits.processes})", True
        return None, False

    def _exit_status(self) -> tuple[int | None, float]:
        """The worker's exit code (negative: the signal that ended it; None: still running after 5 s)
        and the CPU seconds it used, from wait4 in the zygote: the kernel's account, not the worker's."""
        for _ in range(500):
            status = self._ask_zygote({"status": self.worker})
            if status["code"] is not None:
                return status["code"], status["cpu"]
            time.sleep(0.01)
        return None, 0.0

    def _ended_message(self, what: str) -> str:
        code, cpu_seconds = self._exit_status()
        if code in (-signal.SIGXCPU, -signal.SIGKILL) and cpu_seconds >= self.limits.cpu_seconds:
            return f"the submission used more than {self.limits.cpu_seconds} s of CPU time (the CPU limit)"
        if self._printed_too_much():
            return self._output_limit()
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        with open(self.output, "rb") as output:
            output.seek(max(0, self.output.stat().st_size - 500))
            last = output.read().decode(errors="replace").strip()
        return f"the submission's process {how} while {what}" + (f"; its last output: {last}" if last else "")

    def run(self, probe: str, seconds: float | None = None, **inputs):
        for module in PROBES[probe][1]:
            if module in self.import_failures:
                raise LimitExceeded(self.import_failures[module])
        if self.worker is None:
            self._start()
        os.truncate(self.output, 0)
        self.next_id += 1
        request_id, seconds = self.next_id, seconds or self.limits.call_seconds
        deadline, phase = time.monotonic() + seconds, f"running {probe}"
        importing = None  # the submitted module being imported, if the worker is importing one
        try:
            wire.write_frame(self.requests, wire.encode({"id": request_id, "probe": probe, "inputs": inputs}))
            while True:
                body = self._read_frame(deadline)
                try:
                    answer = wire.decode(body)
                except wire.WireError as error:  # a whole frame was read: the stream is still in step
                    raise LimitExceeded(f"the submission's process answered with something other than plain data "
                                        f"({error})") from None
                if not isinstance(answer, dict) or answer.get("id") != request_id:
                    raise wire.WireError(f"an answer to another request: {str(answer)[:200]}")
                if set(answer) == {"id", "importing"} and answer["importing"] in PROBES[probe][1]:
                    importing, phase = answer["importing"], f"importing {answer['importing']}.py"
                elif set(answer) == {"id", "running"}:
                    importing, phase = None, f"running {probe}"
                else:
                    break
        except (TimeoutError, EOFError, BrokenPipeError) as error:
            message = f"{phase} did not finish within {seconds:g} s (the time limit)" \
                if isinstance(error, TimeoutError) else self._ended_message(phase)
            self._end()
            if importing:
                self.import_failures[importing] = message
            raise LimitExceeded(message) from None
        except wire.WireError as error:  # out of step: a new worker answers the next probe
            self._end()
            raise LimitExceeded(f"the submission's process broke the grader's protocol ({error})") from None
        except LimitExceeded:
            raise
        except BaseException:  # interrupted while the worker was busy: it cannot answer the next probe
            self._end()
            raise
        if set(answer) == {"id", "value"}:
            return answer["value"]
        error = answer.get("error")
        if set(answer) != {"id", "error"} or not isinstance(error, dict) or set(error) != {"type", "message", "where"} \
                or not all(isinstance(error[key], str) for key in ("type", "message")) \
                or not isinstance(error["where"], list) or not all(isinstance(line, str) for line in error["where"]):
            raise LimitExceeded(f"the submission's process answered with an unexpected frame: {str(answer)[:200]}")
        limit, replace_worker = self._limit_message(error)
        if replace_worker:
            self._end()
        if limit:
            raise LimitExceeded(limit)
        if error["type"] == "NotImplementedError":
            raise NotImplementedError(error["message"])
        where = f" ({'; '.join(error['where'])})" if error["where"] else ""
        raise SubmissionError(f"{error['type']}: {error['message']}{where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--create-user", action="store_true", help=f"create {SANDBOX_USER} (root only)")
    parser.add_argument("--check", action="store_true", help="print the isolation a grading gets here")
    args = parser.parse_args()
    if args.create_user:
        print("{} is uid {}, gid {}".format(SANDBOX_USER, *sandbox_user(create=True)))
    if args.check:
        submission = Submission({}, Limits())
        print(f"isolation: {submission.isolation_kind}: {submission.isolation}")
        submission.close()


if __name__ == "__main__":
    main()
