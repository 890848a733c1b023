"""tools/bench_speed.py: its FLOP counts against a count made another way, and its table."""
import re

import pytest
import torch

from dip_ext.network import DipConfig, SkipHourglass, input_noise
from recipe import TrainConfig
from speed import FLOAT32
from tools import bench_speed
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
