"""The submission's view of the machine: Linux namespaces that leave it no network, no process but its
own, and no file but the Python installation, its graded files and a private home and /tmp.

A worker (grading/worker.py) calls enter(view, as_root) before any submitted code runs. It needs no
helper program and no daemon, only a kernel that lets this process create namespaces:
- as root, new mount, network, PID, IPC and UTS namespaces (the worker then becomes the sandbox user);
- otherwise, a user namespace first, in which an unprivileged user may create the others (the
  kernel's `user.max_user_namespaces` > 0; Ubuntu 23.10 and later also ask for
  `kernel.apparmor_restrict_unprivileged_userns = 0`). Docker's default seccomp profile refuses both.

What the worker then has (the same as `bwrap --unshare-all --die-with-parent --new-session` with
read-only binds):
- a network namespace with nothing in it: no interface is up, so no address, 127.0.0.1 included,
  can be reached;
- a PID namespace of its own: /proc shows only its processes (a /proc is mounted where the kernel
  allows it, none otherwise), and when the worker ends, every process it left ends;
- a root filesystem that is an empty, read-only tmpfs, into which only `view.read_only` is bound
  (read-only, at the same paths) and `view.private` is mounted as fresh tmpfs (writable, its own);
  /dev holds null, zero, full, random and urandom. Nothing else of the host is there: no home
  folder, no host /tmp, no other checkout of the course;
- no capabilities, and no way to gain any (no_new_privs, nosuid mounts).
"""
import ctypes
import dataclasses
import os
import platform
import resource
import signal
import sys
import tempfile
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
LOCKED_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: MS_NOATIME,
                os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME} if hasattr(os, "ST_RELATIME") else {}
"""A mount's flags as statvfs reports them: the mount flag each stands for. A read-only remount of a bind
must keep them (a user namespace may not drop what the host's mount set)."""
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYSCALLS = {"x86_64": {"pivot_root": 155, "capset": 126}, "aarch64": {"pivot_root": 41, "capset": 91}}
"""The two calls glibc has no wrapper for, by machine (`uname -m`); elsewhere there is no sandbox."""
DEVICES = ("null", "zero", "full", "random", "urandom")
PRIVATE_TMPFS = "mode=0700,size=256m"  # home and /tmp: the worker's, bounded (a tmpfs is memory)

_libc = ctypes.CDLL(None, use_errno=True)


@dataclasses.dataclass(frozen=True)
class View:
    """The worker's filesystem, absolute host paths: `read_only` bound at the same paths, read-only;
    `private` mounted as fresh tmpfs owned by `owner` (uid, gid); `staging`, an empty folder outside
    every other path, on which the new root is assembled."""

    read_only: tuple[str, ...]
    private: tuple[str, ...]
    owner: tuple[int, int]
    staging: str


def python_installation() -> list[str]:
    """What this interpreter and its packages need: the system's folders (libraries, certificates,
    time zones; their files keep their permissions, so /etc/shadow stays closed), the interpreter's
    prefixes (a venv's and its base's) and every site-packages folder on sys.path."""
    system = [path for path in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
              if os.path.lexists(path)]
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    packages = {path for path in sys.path if Path(path).name in ("site-packages", "dist-packages")}
    return system + sorted(prefixes | packages)


def outermost(paths) -> list[str]:
    """`paths` without those inside another of them (bound with it), parents first."""
    kept: list[str] = []
    for path in sorted({os.path.normpath(path) for path in paths}):
        if not any(path == parent or path.startswith(parent.rstrip("/") + "/") for parent in kept):
            kept.append(path)
    return kept


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
           f"mount {source or fstype} on {target}")


def _syscall(name: str, *arguments) -> None:
    _check(_libc.syscall(SYSCALLS[platform.machine()][name], *arguments), name)


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def _bind_read_only(source: str, target: str) -> None:
    """Bind `source` at `target`, then make that mount read-only, keeping the flags the source's
    mount has locked (a remount that drops them is refused)."""
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = os.statvfs(target).f_flag
    kept = sum(mount_flag for statvfs_flag, mount_flag in LOCKED_FLAGS.items() if flags & statvfs_flag)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def _build_root(view: View) -> None:
    """Assemble the view on view.staging, make it the root, and close the old one."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the host's mounts
    new_root = view.staging
    _mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    uid, gid = view.owner
    mounts = [(path, "bind") for path in view.read_only] + [(path, "private") for path in view.private]
    for path, kind in sorted(mounts):  # parents first: /tmp's tmpfs before a folder bound inside it
        target = new_root + path
        if kind == "bind" and os.path.islink(path):  # /lib -> usr/lib on merged-/usr systems
            os.symlink(os.readlink(path), target)
            continue
        if kind == "bind" and not os.path.isdir(path):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).touch()
        else:
            os.makedirs(target, exist_ok=True)
        if kind == "bind":
            _bind_read_only(path, target)
        else:
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"{PRIVATE_TMPFS},uid={uid},gid={gid}")
    os.makedirs(new_root + "/dev", exist_ok=True)
    _mount("tmpfs", new_root + "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=1m")
    for device in DEVICES:
        Path(new_root, "dev", device).touch()
        _mount(f"/dev/{device}", f"{new_root}/dev/{device}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{new_root}/dev/{name}")
    os.makedirs(new_root + "/proc")
    try:  # this process's PID namespace; refused where the host's /proc is partly masked (containers)
        _mount("proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass
    os.chdir(new_root)
    _syscall("pivot_root", b".", b".")  # the old root now lies under the new one, at the same path
    _check(_libc.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


class _CapabilityHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapabilitySet(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """No capability left (those the user namespace gave), and none to be had through exec."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    empty = (_CapabilitySet * 2)()
    _syscall("capset", ctypes.byref(_CapabilityHeader(0x20080522, 0)), empty)  # _LINUX_CAPABILITY_VERSION_3


def _supervise(init: int, statuses: int) -> None:
    """In the process that made the namespaces, outside them: wait for their process 1 and end as the
    worker ended (the same code, or the same signal), so whoever waits for this process sees the
    worker's end and, through wait4, the CPU time of all three. Never returns."""
    os.closerange(0, statuses)
    os.closerange(statuses + 1, os.sysconf("SC_OPEN_MAX"))
    with os.fdopen(statuses, "rb") as reported:
        said = reported.read(4)
    status = int.from_bytes(said, "little") if len(said) == 4 else os.waitpid(init, 0)[1]
    if len(said) == 4:
        os.waitpid(init, 0)
    if os.WIFSIGNALED(status):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _reap(worker: int, statuses: int) -> None:
    """Process 1 of the PID namespace: reap every process that ends in it (orphans come here) until
    the worker ends, report the worker's wait status to the supervisor, and end, which ends every
    process left in the namespace. The worker is not process 1 itself because the kernel spares
    process 1 the signals it does not handle, SIGXCPU at the CPU limit among them. Never returns."""
    os.closerange(0, statuses)
    os.closerange(statuses + 1, os.sysconf("SC_OPEN_MAX"))
    while True:
        pid, status = os.wait()
        if pid == worker:
            os.write(statuses, status.to_bytes(4, "little"))
            os._exit(0)


def wanted() -> bool:
    """Whether a grading uses namespaces where the kernel allows them: yes, unless the grader's
    environment says AUTOGRADER_NAMESPACES=0 (to measure or debug the fallback)."""
    return os.environ.get("AUTOGRADER_NAMESPACES", "1") != "0"


def unavailable_here(as_root: bool) -> str | None:
    """Why a grading's worker could not enter namespaces on this machine, or None when it can: tried
    with this interpreter's installation, on folders of its own."""
    with tempfile.TemporaryDirectory(prefix="namespaces-check-") as folder:
        for name in ("root", "home"):
            Path(folder, name).mkdir()
        view = View(read_only=tuple(outermost(python_installation())), private=(f"{folder}/home", "/tmp"),
                    owner=(os.getuid(), os.getgid()), staging=f"{folder}/root")
        return refusal(view, as_root)


def refusal(view: View, as_root: bool) -> str | None:
    """Why enter(view, as_root) fails on this machine, or None when it works: tried in a child process."""
    if platform.system() != "Linux" or platform.machine() not in SYSCALLS:
        return f"Linux namespaces are not available on {platform.system()} {platform.machine()}"
    reason_read, reason_write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(reason_read)
            enter(view, as_root)
        except BaseException as error:  # noqa: B036 (whatever it is, the parent reads it)
            os.write(reason_write, str(error).encode()[:1000])
            os._exit(1)
        os._exit(0)  # in process 1 of the namespace, whose end the supervisor repeats
    os.close(reason_write)
    with os.fdopen(reason_read, "rb") as reasons:
        reason = reasons.read().decode(errors="replace")
    status = os.waitpid(child, 0)[1]
    if status == 0:
        return None
    return reason or f"the namespaces' first process ended with status {os.waitstatus_to_exitcode(status)}"


def enter(view: View, as_root: bool) -> None:
    """Put this process's work into new namespaces. Returns in a new process, process 2 of a new PID
    namespace, with the view as its root; this process stays outside and supervises the namespace's
    process 1, which reaps (neither returns). `as_root`: this process is root and creates the namespaces itself (the caller then
    drops to the sandbox user); otherwise it creates a user namespace first. Either way the child
    still holds capabilities in its namespaces: the caller drops them (drop_capabilities) before it
    runs anything submitted. Raises OSError before the fork if the kernel refuses."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare((0 if as_root else CLONE_NEWUSER) | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
                         | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    if not as_root:  # the same user inside as outside
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    statuses_read, statuses_write = os.pipe()
    init = os.fork()
    if init:
        os.close(statuses_write)
        _supervise(init, statuses_read)
    os.close(statuses_read)
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "parent-death signal")
    _build_root(view)
    worker = os.fork()
    if worker:
        _reap(worker, statuses_write)
    os.close(statuses_write)
