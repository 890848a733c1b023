"""Score generated digits with a small classifier trained on real digits the diffusion model never saw.

    python -m mnist_ext.evaluate --ckpt checkpoints/mnist/ddpm.pt             # 100 guided digits per class
    python -m mnist_ext.evaluate --samples samples/digits.npz                 # score a file of mnist_ext.sample
    python -m mnist_ext.evaluate ... --per-class 50 --guidance 1 --steps 50 --seed 1

Prints the classifier's accuracy on real digits it did not train on, the fraction of generated
digits it reads as their label (overall and per class), and a Frechet distance between generated
and real digits in the classifier's 128-dimensional feature space, next to the same distance
for real digits in their place (the floor). That distance is NOT the Inception FID: it uses
this small MNIST classifier's features, so it is comparable only with itself, never with
published FIDs.
"""
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cli import command_parser, run_command
from devices import pick_device
from mnist_ext.data import NUM_CLASSES, model_and_held_out_digits
from mnist_ext.generate import DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS, generate, sampling_steps
from mnist_ext.recipe import DEFAULT_CHECKPOINT, load_model
from mnist_ext.scoring import DEFAULT_CLASSIFIER, load_or_train_classifier, report, score


def _read_samples(path: Path) -> tuple[Tensor, Tensor]:
    try:
        with np.load(path) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path} is not an .npz with 'images' and 'labels' as mnist_ext.sample writes ({error})") from error
    return torch.as_tensor(images, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.long)


def main(argv: list[str] | None = None) -> None:
    parser = command_parser(__doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--ckpt", type=Path, default=DEFAULT_CHECKPOINT, help=f"model to sample (default {DEFAULT_CHECKPOINT})")
    source.add_argument("--samples", type=Path, default=None, help="an .npz written by mnist_ext.sample, instead of sampling")
    parser.add_argument("--per-class", type=int, default=100, metavar="K", help="digits per class to generate (default 100)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER)
    parser.add_argument("--steps", type=int, default=None, help=f"DDIM steps (default {DEFAULT_STEPS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER, help="where the evaluation classifier is kept")
    parser.add_argument("--data-dir", type=Path, default=None, help="IDX folder the model was trained on (default: bundled digits)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    run_command(parser, _evaluate, argv)


def _evaluate(args) -> None:
    classifier, real_accuracy = load_or_train_classifier(args.classifier, args.data_dir)
    if args.samples is not None:
        images, labels = _read_samples(args.samples)
        description = str(args.samples)
    else:
        if args.per_class < 1:
            raise ValueError(f"--per-class must be at least 1, got {args.per_class}")
        device = pick_device(args.device)
        model, config = load_model(args.ckpt, device)
        labels = torch.arange(NUM_CLASSES).repeat_interleave(args.per_class)
        started = time.perf_counter()
        images = generate(model, config.make_schedule(), labels, args.guidance, args.sampler, args.steps, args.seed,
                          device, progress=True)
        steps = sampling_steps(args.sampler, args.steps, config.T)
        description = (f"{len(labels)} digits from {args.ckpt}: {args.sampler}, {steps} steps, "
                       f"guidance w = {args.guidance:g}, seed {args.seed}, {time.perf_counter() - started:.1f} s")
    (reference, _), _ = model_and_held_out_digits(args.data_dir)
    result = score(classifier, images, labels, reference)
    print(description)
    print(report(result, real_accuracy, len(reference)))


if __name__ == "__main__":
    main()
