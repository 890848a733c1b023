"""tools/bench_samplers.py: each distance it prints is recorded, and the guide's table is made from the record."""
import pytest

import records
import tools.bench_samplers as bench_samplers
from recipe import TrainConfig
from tools import tables


def test_every_printed_distance_is_recorded_and_tabled_for_the_default_recipe(tiny_checkpoint, tiny_config, monkeypatch,
                                                                              capsys):
    monkeypatch.setattr(bench_samplers, "cached_checkpoint", lambda T: tiny_checkpoint)
    monkeypatch.setattr("sys.argv", ["bench_samplers", "--n", "200", "--steps", "2", "5"])
    bench_samplers.main()
    printed = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    lines = records.read("two-pixel-samplers")
    rows = [line["row"] for line in lines]
    assert [(row["denoiser"], row["sampler"], row["steps"]) for row in rows] == [
        (denoiser, sampler, steps) for denoiser in ("exact, T = 1000", "learned, T = 10")
        for sampler in ("ddpm", "ddim", "dpmpp2m") for steps in (2, 5)] + [("exact, T = 1000", "ddpm", 1000)]
    assert [[f"{row['energy']:.2e}" for row in rows[i:i + 2]] for i in range(0, 12, 2)] == [line[1:] for line in printed], \
        "the record holds the printed distances, row by row"
    assert rows[0]["recipe"] == tiny_config.recipe() and lines[0]["command"] == \
        "python -m tools.bench_samplers --n 200 --steps 2 5"
    with pytest.raises(FileNotFoundError, match="no record of the current default recipe"):
        tables.two_pixel_samplers([])  # the tiny model is not the default recipe
    monkeypatch.setattr(tables, "TrainConfig", lambda: tiny_config)
    table = tables.two_pixel_samplers([]).splitlines()
    assert table[0].startswith(f"| denoiser, sampler (floor {rows[0]['floor']:.2e}, 200 samples) | 2 steps | 5 steps | "
                               "1000 steps | measured |")
    assert table[2].split(" | ")[:4] == ["| exact, T = 1000, ddpm", *(f"{row['energy']:.2e}" for row in (rows[0], rows[1], rows[-1]))]
    assert table[3].split(" | ")[:4] == ["| exact, T = 1000, ddim", f"{rows[2]['energy']:.2e}", f"{rows[3]['energy']:.2e}", "-"]
    assert len(table) == 8 and table[-1].startswith("| learned, T = 10, dpmpp2m |")
