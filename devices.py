"""Where to run: the device (CUDA, MPS or CPU, chosen automatically or forced), the CPU thread
count, and pools of one-thread worker processes."""
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import torch


def pick_device(name: str | None = None) -> torch.device:
    """The device to run on: `name` if given ("cpu", "cuda", "cuda:1", "mps"), else CUDA, MPS or CPU."""
    if name is not None:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for but it is not available here; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_cpu_threads(max_threads: int = 4) -> None:
    """Use the cores this process may run on, at most max_threads (small models gain nothing beyond),
    and at most OMP_NUM_THREADS when that is set to a number (processes sharing the cores, such as
    parallel test workers, each take their share: two torch processes that each use every core slow
    each other tenfold)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    asked = os.environ.get("OMP_NUM_THREADS", "")
    if asked.isdigit() and int(asked) > 0:
        available = min(available, int(asked))
    torch.set_num_threads(max(1, min(available, max_threads)))


class InThisProcess(Executor):
    """Runs each job as it is submitted, in this process on one thread, as a one-thread worker would:
    the same numbers, and a breakpoint in the job stops where a worker process could not."""

    def submit(self, function, /, *args, **kwargs) -> Future:
        future, threads = Future(), torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            future.set_result(function(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        finally:
            torch.set_num_threads(threads)
        return future


def one_thread_workers(workers: int) -> Executor:
    """A pool of `workers` processes running torch on one thread each: for many small CPU jobs (DIP
    fits), two such processes give more throughput than one job on two threads (docs/benchmarks.md, "DIP speed").
    Started with spawn, so a worker never inherits a parent's thread pool mid-use (fork does).
    workers = 0 runs every job in this process instead (InThisProcess)."""
    if workers < 0:
        raise ValueError(f"workers must be 0 (run in this process) or more, got {workers}")
    if workers == 0:
        return InThisProcess()
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=set_cpu_threads, initargs=(1,))


def results_as_finished(pool: Executor, jobs: list[tuple[Callable, tuple]]) -> Iterator:
    """Each job's (function, arguments) result as soon as it is ready: a pool of processes runs them
    together and gives them in the order they end; InThisProcess runs each as it is reached, so a
    caller that records each result loses none that ended before an interrupt."""
    if isinstance(pool, InThisProcess):
        for function, arguments in jobs:
            yield pool.submit(function, *arguments).result()
        return
    for future in as_completed([pool.submit(function, *arguments) for function, arguments in jobs]):
        yield future.result()
