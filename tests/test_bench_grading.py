"""tools/bench_grading.py's process tree and memory reading, against the kernel's own numbers."""
import os
import re
import subprocess
import time
from pathlib import Path

from tools.bench_grading import descendants, tree_memory


def test_descendants_follow_children_and_grandchildren():
    child = subprocess.Popen(["bash", "-c", "sleep 30 & wait"])
    try:
        for _ in range(100):  # until bash has started its own child
            tree = descendants(child.pid)
            if len(tree) >= 2:
                break
            time.sleep(0.05)
        assert tree[0] == child.pid and len(tree) == 2
        assert descendants(os.getpid())[:1] == [os.getpid()] and child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_tree_memory_counts_at_least_this_process():
    rss_kb = int(re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))
    rss, pss = tree_memory(os.getpid())
    assert rss >= 0.9 * rss_kb * 1024 and 0 < pss <= rss
