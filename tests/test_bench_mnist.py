"""tools/bench_mnist.py: the figures it prints are recorded with the model's config, and the guide's table is made from them."""
from dataclasses import asdict

import pytest

import records
import tools.bench_mnist as bench_mnist
from conftest import TINY_MNIST
from mnist_ext.scoring import DigitClassifier
from tools import tables


def test_the_printed_figures_are_recorded_and_tabled_for_their_config(tiny_mnist, monkeypatch, capsys):
    monkeypatch.setattr(bench_mnist, "training_throughput", lambda device: 123.4)
    monkeypatch.setattr(bench_mnist, "load_or_train_classifier", lambda: (DigitClassifier().eval(), 0.5))
    monkeypatch.setattr("sys.argv", ["bench_mnist", "--ckpt", str(tiny_mnist), "--per-class", "2", "--device", "cpu"])
    bench_mnist.main()
    printed = capsys.readouterr().out
    [line] = records.read("mnist")
    row = line["row"]
    assert row["config"] == records.as_stored(asdict(TINY_MNIST)) and (row["steps"], row["digits"]) == (8, 20)
    assert line["command"] == f"python -m tools.bench_mnist --ckpt {tiny_mnist} --per-class 2 --device cpu"
    assert f"{row['throughput']:.0f} images/s" in printed and f"{row['sampling seconds']:.1f} s (target" in printed
    assert f"read as their label: {row['accuracy']:.1%}" in printed and f"{row['frechet']:.2f} (real digits" in printed
    with pytest.raises(FileNotFoundError, match="no record of the default MNIST config"):
        tables.mnist([])  # the tiny model is not the default config
    monkeypatch.setattr(tables, "MnistConfig", lambda: TINY_MNIST)
    assert tables.mnist([]).splitlines()[2] == (
        f"| {row['minutes trained']:.1f} | 123 | {row['sampling seconds']:.1f} | {row['accuracy']:.1%} of 20 | "
        f"{row['frechet']:.2f} ({row['frechet floor']:.2f}) | 50.0% | {tables._measured(line)} |")
