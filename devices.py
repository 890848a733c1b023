"""Where to run: the device (CUDA, MPS or CPU, chosen automatically or forced), the CPU thread
count, and pools of one-thread worker processes."""
import os
from concurrent.futures import ProcessPoolExecutor
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
    """Use the cores this process may run on, at most max_threads (small models gain nothing beyond)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, min(available, max_threads)))


def one_thread_workers(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes running torch on one thread each: for many small CPU jobs (DIP
    fits), two such processes give more throughput than one job on two threads (docs/benchmarks.md, "DIP speed").
    Started with spawn, so a worker never inherits a parent's thread pool mid-use (fork does)."""
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=set_cpu_threads, initargs=(1,))
