"""The two-pixel recipes (recipe.py, noisy_classifier.py): configs that refuse bad values by name,
models built from every field of the config, and one training batch recomputed by hand."""
import pytest
import torch
from torch import nn

import recipe
from ddpm import DEFAULT_FOURIER_SCALE, UNet
from gmm import NULL_LABEL, NUM_CLASSES, problem_gmm
from noisy_classifier import ClassifierConfig, build_classifier
from noisy_classifier import training_parts as classifier_parts
from recipe import TrainConfig, build_model, timestep_probabilities, training_parts
from utils import drop_labels, p_losses, q_sample

CPU = torch.device("cpu")


@pytest.mark.parametrize("fields, problem", [
    ({"T": 0}, "T must be an integer >= 1, got 0"),
    ({"T": 2.5}, "T must be an integer >= 1, got 2.5"),
    ({"schedule": "quadratic"}, "schedule must be one of ['cosine', 'linear'], got 'quadratic'"),
    ({"prediction": "x0"}, "prediction must be one of ('v', 'eps'), got 'x0'"),
    ({"steps": 0}, "steps must be at least 1, got 0"),
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"embed_dim": 0}, "embed_dim must be a positive even number (sin and cos per frequency), got 0"),
    ({"embed_dim": 7}, "embed_dim must be a positive even number (sin and cos per frequency), got 7"),
    ({"label_dropout": -0.1}, "label_dropout must be in [0, 1], got -0.1"),
    ({"label_dropout": 1.5}, "label_dropout must be in [0, 1], got 1.5"),
    ({"ema_decay": 1.0}, "ema_decay must be in [0, 1), got 1.0"),
    ({"ema_decay": -0.5}, "ema_decay must be in [0, 1), got -0.5"),
    ({"lr": 0.0}, "lr must be positive, got 0.0"),
    ({"loss_type": "l3"}, "loss_type must be one of ['huber', 'l1', 'l2'], got 'l3'"),
    ({"n_data": 0}, "n_data must be at least 1, got 0"),
    ({"t_focus_weight": 0.0}, "t_focus_weight must be positive, got 0.0"),
    ({"zero_output": "false"}, "zero_output must be True or False, got 'false'"),
    ({"T": 0, "lr": -1.0}, "T must be an integer >= 1, got 0; lr must be positive, got -1.0"),
])
def test_a_bad_training_config_names_each_problem(fields, problem):
    with pytest.raises(ValueError) as error:
        TrainConfig(**fields)
    assert str(error.value) == f"invalid training configuration: {problem}"


@pytest.mark.parametrize("fields", [
    {"T": 1, "steps": 1, "batch_size": 1, "embed_dim": 2, "n_data": 1},
    {"label_dropout": 0.0, "ema_decay": 0.0, "lr": 1e-12, "t_focus_weight": 1e-12},
    {"label_dropout": 1.0},
])
def test_the_edges_of_every_range_are_valid(fields):
    assert TrainConfig(**fields).T == fields.get("T", 50)


@pytest.mark.parametrize("fields, problem", [
    ({"T": 0}, "T must be an integer >= 1, got 0"),
    ({"T": "50"}, "T must be an integer >= 1, got '50'"),
    ({"schedule": "quadratic"}, "schedule must be one of ['cosine', 'linear'], got 'quadratic'"),
    ({"steps": 0}, "steps must be at least 1, got 0"),
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"hidden": 0}, "hidden must be at least 1, got 0"),
    ({"n_data": 0}, "n_data must be at least 1, got 0"),
    ({"embed_dim": 3}, "embed_dim must be a positive even number (sin and cos per frequency), got 3"),
    ({"lr": 0.0}, "lr must be positive, got 0.0"),
    ({"hidden": 0, "lr": 0.0}, "hidden must be at least 1, got 0; lr must be positive, got 0.0"),
])
def test_a_bad_classifier_config_names_each_problem(fields, problem):
    with pytest.raises(ValueError) as error:
        ClassifierConfig(**fields)
    assert str(error.value) == f"invalid classifier configuration: {problem}"


def test_the_smallest_classifier_config_is_valid():
    assert ClassifierConfig(T=1, steps=1, batch_size=1, hidden=1, embed_dim=2, n_data=1, lr=1e-12).T == 1


@pytest.mark.parametrize("zero_output", [False, True])
def test_the_noise_predictor_is_built_from_every_field_of_its_config(zero_output):
    config = TrainConfig(channels=(8, 32), embed_dim=64, fourier_scale=5.0, prediction="eps", T=20, seed=3,
                         zero_output=zero_output)
    model = build_model(config)
    torch.manual_seed(3)
    by_hand = UNet(channels=(8, 32), embed_dim=64, fourier_scale=5.0)
    assert model.prediction == "eps" and model.alphas_cumprod.shape == (20,)
    assert model.unet.state_dict().keys() == by_hand.state_dict().keys()
    output_layer = {"tconv1.weight", "tconv1.bias"}
    for name, value in by_hand.state_dict().items():
        expected = torch.zeros_like(value) if zero_output and name in output_layer else value
        assert torch.equal(model.unet.state_dict()[name], expected), name
    x_t, t, y = torch.randn(5, 1, 2), torch.arange(5), torch.zeros(5, dtype=torch.int64)
    assert torch.count_nonzero(model(x_t, t, y)) == (0 if zero_output else 10), "eps = F: zero before training"


def test_zero_output_names_the_layer_a_renamed_unet_lacks(monkeypatch):
    """A student's UNet whose last layer has another name gets told which name is expected."""
    class Renamed(UNet):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.output_layer = self.tconv1
            del self.tconv1
    monkeypatch.setattr(recipe, "UNet", Renamed)
    with pytest.raises(ValueError, match="the ConvTranspose1d `tconv1` of ddpm.py's TODO.*--zero-output false"):
        build_model(TrainConfig(channels=(8, 32), embed_dim=64))
    assert build_model(TrainConfig(channels=(8, 32), embed_dim=64, zero_output=False)) is not None


def test_the_classifier_is_the_documented_mlp_built_from_its_config():
    config = ClassifierConfig(T=7, hidden=12, embed_dim=6)
    model = build_classifier(config)
    assert model.T == 7 and model.time_features.W.shape == (3,)
    assert [type(layer) for layer in model.net] == [nn.Linear, nn.SiLU, nn.Linear, nn.SiLU, nn.Linear]
    assert [(layer.in_features, layer.out_features) for layer in model.net[::2]] == [(2 + 6, 12), (12, 12),
                                                                                   (12, NUM_CLASSES)]
    wide = build_classifier(ClassifierConfig(embed_dim=20_000))
    assert abs(float(wide.time_features.W.std()) / DEFAULT_FOURIER_SCALE - 1) < 0.03, "the U-Net's smooth time scale"


def test_the_classifier_sees_x_t_beside_the_features_of_t_plus_one_over_T():
    model = build_classifier(ClassifierConfig(T=8, hidden=16, embed_dim=4))
    x_t, t = torch.randn(5, 1, 2, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 3, 6, 7])
    time = (t + 1).float() / 8
    by_hand = model.net(torch.cat([x_t[:, 0, :], model.time_features(time)], dim=1))
    torch.testing.assert_close(model(x_t, t), by_hand, rtol=0, atol=0)


@pytest.mark.parametrize("T, focus_weight, focused, p_in, p_out", [
    (50, 3.0, range(4, 25), 3 / 92, 1 / 92),  # 21 steps t/T in [0.08, 0.5) weigh 3, the other 29 weigh 1
    (10, 2.0, range(1, 5), 2 / 14, 1 / 14),  # t/T = 0.1 .. 0.4
    (50, 1.0, range(50), 1 / 50, None),  # weight 1: uniform
])
def test_timestep_probabilities_by_hand(T, focus_weight, focused, p_in, p_out):
    probabilities = timestep_probabilities(T, focus_weight)
    expected = torch.tensor([p_in if t in focused else p_out for t in range(T)], dtype=torch.float32)
    torch.testing.assert_close(probabilities, expected, rtol=1e-6, atol=0)


def test_one_noise_predictor_batch_by_hand():
    """The documented draws, in order: data x_0 (from n_data points of the mixture with the config's
    seed), t from timestep_probabilities, noise, label dropout; then the config's loss on eps_theta."""
    config = TrainConfig(T=10, batch_size=16, n_data=100, loss_type="l1", label_dropout=0.5, t_focus_weight=2.0, seed=2)
    parts = training_parts(config, CPU)
    loss = parts.batch_loss(torch.Generator().manual_seed(7))
    generator = torch.Generator().manual_seed(7)
    data = problem_gmm(n_samples=100, seed=2)
    index = torch.randint(100, (16,), generator=generator)
    t = torch.multinomial(timestep_probabilities(10, 2.0), 16, replacement=True, generator=generator)
    noise = torch.randn(16, 1, 2, generator=generator)
    y = drop_labels(data.labels[index], 0.5, NULL_LABEL, generator=generator)
    expected = p_losses(parts.model, config.make_schedule(), data.samples[index], t, y, noise=noise, loss_type="l1")
    assert torch.equal(loss, expected)


def test_one_classifier_batch_by_hand_draws_only_from_the_generator():
    """The documented draws, in order: data x_0 (n_data points, the config's seed), t, the noise of
    q_sample; then the cross-entropy of the clean labels. The global random state plays no part."""
    config = ClassifierConfig(T=10, batch_size=16, n_data=100, seed=2)
    parts = classifier_parts(config, CPU)
    torch.manual_seed(123)
    loss = parts.batch_loss(torch.Generator().manual_seed(7))
    torch.manual_seed(456)
    generator = torch.Generator().manual_seed(7)
    data = problem_gmm(n_samples=100, seed=2)
    index = torch.randint(100, (16,), generator=generator)
    t = torch.randint(10, (16,), generator=generator)
    x_t = q_sample(config.make_schedule(), data.samples[index], t, generator=generator)
    assert torch.equal(loss, nn.functional.cross_entropy(parts.model(x_t, t), data.labels[index]))


def test_the_noise_predictor_parts_average_the_weights_at_the_configs_decay():
    parts = training_parts(TrainConfig(ema_decay=0.25, T=10), CPU)
    weight = parts.model.unet.conv1.weight
    parts.ema.update_parameters(parts.model)  # the first update copies
    first = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1.0)
    parts.ema.update_parameters(parts.model)
    torch.testing.assert_close(parts.ema.module.unet.conv1.weight, 0.25 * first + 0.75 * (first + 1.0))
