"""mnist_ext/generate.py: the labels, steps, seed and pixel range of generated digits, checked with
stand-in models whose calls are recorded (no training needed)."""
import re

import pytest
import torch

import mnist_ext.generate as generate_module
from mnist_ext.generate import DEFAULT_STEPS, PIXEL_RANGE, generate, sampling_steps
from samplers import sample
from utils import Schedule

SCHEDULE = Schedule.make("cosine", 20)
NULL = 10


class Recording:
    """A stand-in noise predictor: eps = scale * x_t; records the labels and steps it is asked for."""

    null_label = NULL

    def __init__(self, scale: float = 0.5):
        self.scale, self.labels, self.steps = scale, [], []

    def __call__(self, x_t, t, y):
        assert y.dtype == torch.long, "labels reach the model as int64 class indices"
        self.labels.append(y.tolist())
        self.steps.append(int(t[0]))
        return self.scale * x_t


def test_the_model_is_asked_for_each_digits_label_at_the_chosen_steps():
    model = Recording()
    generate(model, SCHEDULE, [3, 1, 4], guidance_weight=0.0, sampler="ddim", steps=4)
    assert all(labels == [3, 1, 4] for labels in model.labels)
    assert len(set(model.steps)) == 4 and model.steps[0] == SCHEDULE.T - 1 and model.steps[-1] == 0
    guided = Recording()
    generate(guided, SCHEDULE, [3, 1], guidance_weight=1.0, sampler="ddim", steps=2)
    assert all(labels == [3, 1, NULL, NULL] for labels in guided.labels), "conditional and null in one batch"


def test_float_labels_are_digits_too():
    torch.testing.assert_close(generate(Recording(), SCHEDULE, torch.tensor([3.0, 1.0]), steps=2),
                               generate(Recording(), SCHEDULE, torch.tensor([3, 1]), steps=2))
    model = Recording()
    generate(model, SCHEDULE, torch.tensor([3.0]), guidance_weight=0.0, steps=2)
    assert model.labels[0] == [3]


def test_the_seed_alone_decides_the_digits():
    """Same seed, same digits whatever the global random state; another seed, other digits; seed 0 by default."""
    torch.manual_seed(1)
    first = generate(Recording(), SCHEDULE, [0, 7], steps=3, seed=5)
    torch.manual_seed(2)
    again = generate(Recording(), SCHEDULE, [0, 7], steps=3, seed=5)
    assert torch.equal(first, again)
    assert not torch.equal(first, generate(Recording(), SCHEDULE, [0, 7], steps=3, seed=6))
    by_default = generate(Recording(), SCHEDULE, [0, 7], steps=3)
    assert torch.equal(by_default, generate(Recording(), SCHEDULE, [0, 7], steps=3, seed=0))


def test_digits_are_clamped_to_the_pixel_range_and_ddim_clips_its_x0_there():
    wild = Recording(scale=-3.0)  # eps pointing away from x_t: the samples leave [-1, 1]
    ancestral = generate(wild, SCHEDULE, [0, 1, 2, 3], sampler="ddpm", guidance_weight=0.0)
    unclamped = sample(Recording(scale=-3.0), SCHEDULE, 4, label=torch.tensor([0, 1, 2, 3]), shape=(1, 28, 28),
                       generator=torch.Generator().manual_seed(0))
    assert unclamped.min() < -PIXEL_RANGE and unclamped.max() > PIXEL_RANGE, "the stand-in does leave the range"
    assert ancestral.min() == -PIXEL_RANGE and ancestral.max() == PIXEL_RANGE
    torch.testing.assert_close(ancestral, unclamped.clamp(-PIXEL_RANGE, PIXEL_RANGE))
    ddim = generate(Recording(), SCHEDULE, [0, 1], sampler="ddim", steps=3, guidance_weight=0.0)
    clipped = sample(Recording(), SCHEDULE, 2, label=torch.tensor([0, 1]), shape=(1, 28, 28),
                     generator=torch.Generator().manual_seed(0), sampler="ddim", steps=3, clip_x0=PIXEL_RANGE)
    free = sample(Recording(), SCHEDULE, 2, label=torch.tensor([0, 1]), shape=(1, 28, 28),
                  generator=torch.Generator().manual_seed(0), sampler="ddim", steps=3)
    torch.testing.assert_close(ddim, clipped.clamp(-PIXEL_RANGE, PIXEL_RANGE))
    assert not torch.allclose(ddim, free.clamp(-PIXEL_RANGE, PIXEL_RANGE)), "clipping x_0 changes the path"


@pytest.mark.parametrize("labels, shown", [
    ([], "[]"), ([-1], "[-1]"), ([10], "[10]"), ([2, 10], "[2, 10]"),
    (list(range(10)) * 2 + [11], str(list(range(10)) * 2)),  # at most 20 labels are shown
])
def test_labels_that_are_not_digits_are_refused_by_name(labels, shown):
    with pytest.raises(ValueError) as error:
        generate(Recording(), SCHEDULE, labels, steps=2)
    assert str(error.value) == f"labels must be digits 0..9, got {shown}"


@pytest.mark.parametrize("labels", [[0], [9], [0, 9]])
def test_every_digit_is_a_valid_label(labels):
    assert generate(Recording(), SCHEDULE, labels, steps=2).shape == (len(labels), 1, 28, 28)


def test_sampling_steps_defaults_and_refusals():
    assert sampling_steps("ddim", None, 200) == DEFAULT_STEPS and sampling_steps("ddim", 7, 200) == 7
    assert sampling_steps("ddpm", None, 200) == 200 and sampling_steps("ddpm", 200, 200) == 200
    with pytest.raises(ValueError) as error:
        sampling_steps("euler", None, 200)
    assert str(error.value) == "unknown sampler 'euler'; choose one of ('ddim', 'ddpm')"


def test_a_progress_bar_counts_chunks_only_when_asked_and_there_is_more_than_one(monkeypatch, capsys):
    """progress=True: a bar over the chunks (when there are several) and the sampler's bar over its
    steps; the default shows neither."""
    def bars() -> tuple[bool, bool]:
        err = capsys.readouterr().err
        return bool(re.search(r"(^|\r)sampling digits: ", err)), "sampling (ddim)" in err
    monkeypatch.setattr(generate_module, "CHUNK", 2)
    images = generate(Recording(), SCHEDULE, [0, 1, 2, 3, 4], steps=2, progress=True)
    assert images.shape == (5, 1, 28, 28) and bars() == (True, True)
    generate(Recording(), SCHEDULE, [0, 1], steps=2, progress=True)  # one chunk: no chunk bar
    assert bars() == (False, True)
    generate(Recording(), SCHEDULE, [0, 1, 2, 3, 4], steps=2)
    assert bars() == (False, False)
