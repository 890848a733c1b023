"""tools/bench_speed.py: its FLOP counts against a count made another way, and its table."""
import re

import pytest
import torch

import records
from dip_ext.network import DipConfig, SkipHourglass, input_noise
from recipe import TrainConfig
from speed import FLOAT32, speed_policy
from tools import bench_speed, tables
from tools.bench_dip_network import convolution_flops


def test_dip_flops_match_the_convolution_count():
    """FlopCounterMode (forward and backward) against 2 x 3 x the multiply-adds of every convolution,
    counted from the layers' shapes; the first convolution's input gradient, never computed, is
    the only difference."""
    _, counted = bench_speed.dip_workload(128, torch.device("cpu"), per_call=1).make(FLOAT32)
    config = DipConfig()
    by_layers = convolution_flops(SkipHourglass(config), input_noise(config, 128, 128))
    assert by_layers * 0.95 < counted <= by_layers


def test_the_table_times_every_candidate_against_float32(capsys):
    bench_speed.main(["--quick", "--repeats", "1", "--models", "two-pixel"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| two-pixel |")]
    assert len(rows) == len(bench_speed.CANDIDATES)
    assert rows[0].split(" | ")[3] == "x1.00", "float32 is its own baseline"
    assert sum("(default)" in row for row in rows) == 1
    assert re.search(r"matrix-product peak: float32 \d+ GFLOP/s, bfloat16 \d+ GFLOP/s", out)
    assert re.search(rf"the two-pixel run \({TrainConfig().steps} steps\) takes about \d+ s", out)
    with pytest.raises(SystemExit):
        bench_speed.main(["--repeats", "0"])


def test_a_measuring_run_records_every_row_it_prints_and_a_quick_one_nothing(monkeypatch, capsys):
    bench_speed.main(["--quick", "--repeats", "1", "--models", "two-pixel"])
    with pytest.raises(FileNotFoundError):
        records.read("speed")  # --quick measures nothing
    timings = iter([30.0, 60.0, 45.0])
    monkeypatch.setattr(bench_speed, "measure", lambda workload, policy, device: (next(timings), 2e9, 0.1))
    monkeypatch.setattr(bench_speed, "matmul_peak", lambda dtype, device, size=2048: 100.0 if dtype == torch.float32 else 400.0)
    bench_speed.main(["--repeats", "1", "--models", "two-pixel"])
    printed = capsys.readouterr().out
    rows = [line["row"] for line in records.read("speed")]
    assert [(row["kind"], row.get("precision")) for row in rows[:2]] == [("peak", "float32"), ("peak", "bfloat16")]
    policies = rows[2:]
    assert [row["speed"] for row in policies] == [30.0, 60.0, 45.0] and [row["default"] for row in policies] == \
        [policy == speed_policy("two-pixel-ddpm", "cpu") for policy in bench_speed.CANDIDATES]
    assert policies[1]["share of peak"] == pytest.approx(60.0 * 2e9 / 1e9 / 400.0)
    table = tables.speed_policies([]).splitlines()
    assert [line.split(" | ")[2:4] for line in table[2:]] == [["30.0 steps/s", "x1.00"], ["60.0 steps/s", "x2.00"],
                                                              ["45.0 steps/s", "x1.50"]]
    assert all(f"| two-pixel | {row['policy']}" in printed for row in policies)
