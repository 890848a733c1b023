"""devices.py: the CPU thread count (and OMP_NUM_THREADS, which parallel test workers set), and the
worker pools, in processes or in this process."""
import pytest
import torch

from devices import InThisProcess, one_thread_workers, results_as_finished, set_cpu_threads


@pytest.fixture
def restored_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("asked, max_threads, expected", [("1", 4, 1), ("3", 2, 2), ("", 1, 1), ("none", 1, 1)])
def test_omp_num_threads_caps_the_threads_and_max_threads_still_holds(monkeypatch, restored_threads, asked, max_threads,
                                                                      expected):
    monkeypatch.setenv("OMP_NUM_THREADS", asked)
    set_cpu_threads(max_threads)
    assert torch.get_num_threads() == expected


def _threads_and_square(value):
    if value < 0:
        raise ValueError("negative")
    return torch.get_num_threads(), value * value


def test_in_this_process_jobs_run_on_one_thread_in_order_and_errors_reach_the_caller(restored_threads):
    torch.set_num_threads(2)
    pool = one_thread_workers(0)
    assert isinstance(pool, InThisProcess)
    assert list(results_as_finished(pool, [(_threads_and_square, (3,)), (_threads_and_square, (4,))])) == [(1, 9), (1, 16)]
    assert torch.get_num_threads() == 2, "the caller's threads are restored"
    with pytest.raises(ValueError, match="negative"):
        pool.submit(_threads_and_square, -1).result()


def test_worker_processes_run_on_one_thread_and_give_every_result():
    with one_thread_workers(2) as pool:
        results = sorted(results_as_finished(pool, [(_threads_and_square, (value,)) for value in range(4)]))
    assert results == [(1, 0), (1, 1), (1, 4), (1, 9)]
    with pytest.raises(ValueError, match="workers must be 0"):
        one_thread_workers(-1)
