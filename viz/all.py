"""Every figure of the problem set, and figures/index.md that names and explains them.

    python -m viz.all [--out-dir figures] [--seed 0] [--quick]

Models are trained on first use and cached under checkpoints/cache/, keyed by their config, so a
second run only samples and draws. --quick uses few samples and short training (a smoke test, not
the report figures).
"""
import argparse
import time
from pathlib import Path

from devices import set_cpu_threads
from viz import (animation, classifier_guidance, forward, ground_truth, guidance, samplers, step_count,
                 training_curve, trajectory)
from viz.index import write_index
from viz.style import FIGURES_DIR

QUICK_TRAIN_STEPS = 200


def make_all(out_dir: Path, seed: int = 0, quick: bool = False) -> Path:
    train_steps = QUICK_TRAIN_STEPS if quick else None
    scale = 0.1 if quick else 1.0
    n = lambda count: max(50, int(count * scale))  # noqa: E731
    jobs = [
        lambda: ground_truth.make(out_dir / "ground_truth.png", n(2_000), seed),
        lambda: trajectory.make(out_dir / "trajectory.png", n(5_000), "kde", seed, train_steps=train_steps),
        lambda: step_count.make(out_dir / "step_count.png", n(5_000), seed, train_steps=train_steps),
        lambda: guidance.make(out_dir / "guidance.png", n(1_000), seed, train_steps=train_steps),
        lambda: forward.make(out_dir / "forward.png", 8, seed),
        lambda: training_curve.make(out_dir / "training_curve.png", n(4_000), seed, train_steps=train_steps),
        lambda: animation.make(out_dir / "reverse_process.gif", n(5_000), "hist", seed, train_steps=train_steps),
        lambda: samplers.make(out_dir / "samplers.png", n(4_000), seed, train_steps=train_steps),
        lambda: classifier_guidance.make(out_dir / "classifier_guidance.png", n(1_000), seed, train_steps=train_steps),
    ]
    entries = []
    for job in jobs:
        start = time.perf_counter()
        entries.append(job())
        print(f"wrote {entries[-1].path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return write_index(entries, out_dir, extra=["## The MNIST extension", "",
                                                "Its figures have their own index, [mnist/index.md](mnist/index.md), "
                                                "made by `make figures-mnist`.", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=FIGURES_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="few samples, short training: a smoke test")
    args = parser.parse_args()
    set_cpu_threads()
    print(f"wrote {make_all(args.out_dir, args.seed, args.quick)}")


if __name__ == "__main__":
    main()
