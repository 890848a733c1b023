"""tools/bench_dip_network.py: every measurement it prints is recorded, and the guide's table is made from the record."""
import pytest
import torch

import records
import tools.bench_dip_network as bench
from tools import tables


@pytest.fixture(autouse=True)
def threads_restored():
    """The benchmark sets torch's thread count; later tests in this worker run on the one they had."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def one_thread_speed(width):
    return width / 2


def test_every_measurement_is_recorded_and_the_table_is_made_from_the_latest_run(monkeypatch, capsys):
    monkeypatch.setattr(bench, "matmul_gflops", lambda threads: 100.0 * threads)
    monkeypatch.setattr(bench, "iterations_per_second", lambda width, side, threads, iterations=30: width + side / 64 + threads)
    monkeypatch.setattr(bench, "_one_thread_speed", one_thread_speed)
    monkeypatch.setattr(bench, "peak_psnr", lambda width, image: width / 10 + len(image))
    monkeypatch.setattr("sys.argv", ["bench_dip_network"])
    bench.main()
    printed = capsys.readouterr().out
    rows = [line["row"] for line in records.read("dip-network")]
    assert [(row["kind"], row.get("width"), row.get("side"), row.get("threads")) for row in rows] == \
        [("peak", None, None, 1), ("peak", None, None, 2)] + [
            ("speed", width, side, threads) for width in (64, 128) for side in (64, 128) for threads in (2, 1)] + [
            ("parallel", 64, 64, None), ("parallel", 128, 64, None)] + [
            ("psnr", width, 64, None) for width in (32, 64, 128) for _ in range(3)]
    speed = rows[2]
    assert speed["iterations_per_s"] == 67.0 and f"| 64 | 64 | 2 | 67.0 | {speed['gflops']:.1f} |" in printed, \
        "the record holds what was printed"
    assert (rows[10]["together"], rows[10]["single"]) == (64.0, 67.0)
    assert [row["psnr"] for row in rows[15:18]] == [6.4 + 6, 6.4 + 5, 6.4 + 9] and rows[15]["image"] == "camera"
    measured = tables._measured(records.read("dip-network")[-1])
    assert tables.dip_network([]).splitlines() == [
        "| width | iterations/s at 64x64, 2 threads | at 128x128, 2 threads | two one-thread fits at once, against one on 2 "
        "threads | mean peak PSNR at 64x64 (dB) | measured |", "|---|---|---|---|---|---|",
        f"| 32 | - | - | - | 9.87 | {measured} |",
        f"| 64 | 67.0 | 68.0 | 0.96 | 13.07 | {measured} |",
        f"| 128 | 131.0 | 132.0 | 0.98 | 19.47 | {measured} |"]
