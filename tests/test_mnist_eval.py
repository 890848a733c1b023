"""MNIST evaluation (Frechet distance, accuracy) and the settling measurement behind the figures."""
import numpy as np
import pytest
import torch
from torch import nn

from mnist_ext.data import model_and_held_out_digits
import mnist_ext.scoring
from mnist_ext import evaluate
from mnist_ext.scoring import DigitClassifier, frechet_distance, load_or_train_classifier, predict, score, train_classifier
from viz.mnist import settle_steps


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    n = 200_000
    a = rng.normal([0.0, 1.0, 0.0], [1.0, 2.0, 0.5], size=(n, 3))
    b = rng.normal([1.0, 1.0, -1.0], [3.0, 2.0, 0.5], size=(n, 3))
    # diagonal covariances: |mu_a - mu_b|^2 + sum (s_a - s_b)^2
    assert frechet_distance(a, b) == pytest.approx(2.0 + 4.0, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


class PixelReader(nn.Module):
    """A stand-in classifier: reads the digit from the first pixel, ((x + 1) * 4.5) rounded."""

    def features(self, x):
        return x.flatten(1)[:, :3]

    def forward(self, x):
        return nn.functional.one_hot(((x.flatten(1)[:, 0] + 1) * 4.5).round().long(), 10).float()


def test_score_counts_accuracy_per_class():
    labels = torch.tensor([0, 0, 1, 1, 9])
    images = torch.zeros(5, 1, 28, 28)
    images[:, 0, 0, 0] = torch.tensor([0, 0, 1, 5, 9]) / 4.5 - 1  # the third-from-last is read as 5, not 1
    images[:, 0, 0, 1:3] = torch.randn(5, 2)
    result = score(PixelReader(), images, labels, real=torch.randn(50, 1, 28, 28))
    assert result["accuracy"] == pytest.approx(0.8)
    assert result["per_class"] == {0: 1.0, 1: 0.5, 9: 1.0}
    assert result["floor_size"] == 5 and result["frechet_floor"] > 0
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 28, 28\)"):
        score(PixelReader(), images[:, 0], labels, images)


def test_the_floor_compares_a_seeded_split_of_the_real_digits():
    """The stand-ins are the first n of torch.randperm(M) seeded by `seed` (default 0), the rest the
    others: the floor is the Frechet distance between their features, rebuilt here by hand."""
    generator = torch.Generator().manual_seed(3)
    images, labels = torch.rand(6, 1, 28, 28, generator=generator) * 2 - 1, torch.arange(6)  # pixels in [-1, 1]
    real = torch.randn(40, 1, 28, 28, generator=generator)
    for seed in (0, 1):
        order = torch.randperm(40, generator=torch.Generator().manual_seed(seed))
        by_hand = frechet_distance(real[order[:6]].flatten(1)[:, :3].numpy(), real[order[6:]].flatten(1)[:, :3].numpy())
        assert score(PixelReader(), images, labels, real, seed=seed)["frechet_floor"] == pytest.approx(by_hand, rel=1e-6)
        rest = real[order[6:]].flatten(1)[:, :3].numpy()
        assert score(PixelReader(), images, labels, real, seed=seed)["frechet"] == pytest.approx(
            frechet_distance(images.flatten(1)[:, :3].numpy(), rest), rel=1e-6)
    assert score(PixelReader(), images, labels, real) == score(PixelReader(), images, labels, real, seed=0)


def test_report_lines_by_hand():
    result = {"accuracy": 0.8, "per_class": {0: 1.0, 1: 0.5}, "frechet": 12.345, "frechet_floor": 1.5, "floor_size": 5}
    assert mnist_ext.scoring.report(result, 0.9712, 1000).splitlines() == [
        "evaluation classifier: 97.1% accurate on 1000 real digits it never saw",
        "generated digits read as their label: 80.0%",
        "  per class: 0: 100%  1: 50%",
        "Frechet distance in the classifier's features (not Inception FID): 12.35 (real digits in their place, 5 of them: 1.50)"]


def test_held_out_digits_are_disjoint_and_balanced():
    (model_images, model_labels), (held_images, held_labels) = model_and_held_out_digits()
    assert len(model_labels) == 4_000 and torch.bincount(held_labels).tolist() == [100] * 10
    flattened = {tuple(image.flatten().tolist()) for image in held_images[:200]}
    assert not any(tuple(image.flatten().tolist()) in flattened for image in model_images[:2_000])


def test_evaluation_classifier_learns_real_digits():
    (model_images, model_labels), (held_images, held_labels) = model_and_held_out_digits()
    classifier = train_classifier(held_images, held_labels, epochs=3, progress=False)
    accuracy = (predict(classifier, model_images[:1_000]) == model_labels[:1_000]).float().mean()
    assert accuracy > 0.7, f"3 epochs on 1,000 digits should read most unseen digits, got {accuracy:.2f}"
    assert DigitClassifier().features(held_images[:2]).shape == (2, 128)


def test_settle_steps_is_the_step_from_which_a_pixel_stays_put():
    T = 10
    x0_hat = torch.zeros(T + 1, 1, 3)  # levels t = 0..10 of one image with three pixels
    x0_hat[7:, 0, 1] = 1.0  # pixel 1 is wrong at t = 7..10, right from t = 6 down
    x0_hat[3, 0, 2] = 1.0  # pixel 2 is right early, strays once at t = 3
    assert settle_steps(x0_hat, tolerance=0.2).tolist() == [[T, 6, 2]]


def test_evaluate_command_scores_a_samples_file(tmp_path, capsys):
    classifier_path = tmp_path / "classifier.pt"
    _, accuracy = load_or_train_classifier(classifier_path, epochs=1, progress=False)
    (images, labels), _ = model_and_held_out_digits()
    samples = tmp_path / "digits.npz"
    np.savez(samples, images=images[:300].numpy(), labels=labels[:300].numpy())
    evaluate.main(["--samples", str(samples), "--classifier", str(classifier_path)])
    printed = capsys.readouterr().out
    assert f"{accuracy:.1%} accurate on 4000 real digits it never saw" in printed
    assert "read as their label" in printed and "not Inception FID" in printed
    np.savez(tmp_path / "bad.npz", pictures=images[:3].numpy())
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--samples", str(tmp_path / "bad.npz"), "--classifier", str(classifier_path)])
    assert exit_info.value.code == 2 and "is not an .npz with 'images' and 'labels'" in capsys.readouterr().err


def test_the_reported_accuracy_is_on_the_diffusion_models_digits_and_training_skips_the_set_aside(tmp_path, monkeypatch):
    """The accuracy saved and returned is the classifier's, recomputed here, on the 4,000 digits the
    diffusion model trains on (not the held-out ones it learned from), and a set-aside classifier
    trains on the held-out digits less the first k of each class."""
    (model_images, model_labels), (held_images, held_labels) = model_and_held_out_digits()
    trained_on = []
    real_train = mnist_ext.scoring.train_classifier

    def recording_train(images, labels, **kwargs):
        trained_on.append((images, labels))
        return real_train(images, labels, **{**kwargs, "epochs": 1})

    monkeypatch.setattr(mnist_ext.scoring, "train_classifier", recording_train)
    classifier, accuracy = load_or_train_classifier(tmp_path / "c.pt", progress=False, set_aside_per_class=3)
    with torch.no_grad():
        on_model_digits = float((classifier(model_images).argmax(dim=1) == model_labels).float().mean())
        on_held_digits = float((classifier(trained_on[0][0]).argmax(dim=1) == trained_on[0][1]).float().mean())
    assert accuracy == pytest.approx(on_model_digits, abs=1e-6) and abs(accuracy - on_held_digits) > 1e-3
    kept = np.ones(len(held_labels), dtype=bool)
    for digit in range(10):
        kept[np.flatnonzero(held_labels.numpy() == digit)[:3]] = False
    assert torch.equal(trained_on[0][0], held_images[torch.as_tensor(kept)])
    assert torch.equal(trained_on[0][1], held_labels[torch.as_tensor(kept)]) and len(trained_on[0][1]) == 970
    again, cached_accuracy = load_or_train_classifier(tmp_path / "c.pt", progress=False, set_aside_per_class=3)
    assert len(trained_on) == 1 and cached_accuracy == accuracy, "read back, not retrained"
