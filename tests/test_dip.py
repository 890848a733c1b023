"""dip_ext/: the network against its configuration, the images and corruptions, the fitting loop,
the stopping rules on curves whose answer is known, and clear errors (the recorrupted targets' public
tests are tests/test_dip_todos.py, the stopping study's tests/test_dip_study.py)."""
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio
from torch import nn

import dip_ext.fit
from dip_ext import denoise, run_study
from dip_ext.fit import WMV_WINDOW, Stage, fit, network_side
from dip_ext.images import (BENCHMARK_IMAGES, COLOUR_IMAGES, add_noise, check_mask, check_sigma, images_in, load_image,
                            make_mask, to_image, to_tensor)
from dip_ext.network import DipConfig, SkipHourglass, input_noise
from dip_ext.progressive import stage_scales, target_pair
from dip_ext.stopping import (WMV_PATIENCE, discrepancy_stop, estimate_stop, fixed_count_stop, plateau_width, wmv_stood,
                              wmv_stop)
from dip_ext.quality import quality, ssim

SMALL = DipConfig(depth=3, channels_down=16, channels_up=16)


# ----- the network -----------------------------------------------------------------------------

def _layers(module: nn.Module, kind: type) -> list[nn.Module]:
    return [layer for layer in module.modules() if isinstance(layer, kind)]


@pytest.mark.parametrize("config", [DipConfig(), DipConfig(depth=3, channels_down=8, channels_up=12, channels_skip=2,
                                                             kernel_down=5, upsampling="nearest")])
def test_network_layers_follow_the_configuration(config):
    network = SkipHourglass(config)
    convs = _layers(network, nn.Conv2d)
    assert len(convs) == 5 * config.depth + 1  # per level: skip, 2 down, up, 1x1 up; then the head
    assert sum(conv.stride == (2, 2) for conv in convs) == config.depth
    assert all(conv.kernel_size == (config.kernel_down,) * 2 for conv in convs if conv.stride == (2, 2))
    assert sum(conv.out_channels == config.channels_skip for conv in convs) == config.depth
    merges = [conv for conv in convs if conv.kernel_size == (config.kernel_up,) * 2 and conv.stride == (1, 1)
              and conv.out_channels == config.channels_up and conv.in_channels != config.channels_up]
    assert sorted(conv.in_channels for conv in merges) == sorted(
        [config.channels_skip + config.channels_down] + [config.channels_skip + config.channels_up] * (config.depth - 1))
    assert convs[0].in_channels == config.input_channels
    assert len(_layers(network, nn.BatchNorm2d)) == 6 * config.depth
    assert all(relu.negative_slope == 0.2 for relu in _layers(network, nn.LeakyReLU))
    assert len(_layers(network, nn.ReflectionPad2d)) == 3 * config.depth  # every convolution wider than 1x1
    assert isinstance(list(network.modules())[-1], nn.Sigmoid)


def test_input_is_uniform_noise_on_0_to_the_input_scale_and_maps_to_an_image():
    """The reference code's input: U(0, 1) noise times input_scale (1/10), so mean scale/2 and std
    scale/sqrt(12); 32 x 64 x 64 draws put both within 1%."""
    config = DipConfig(depth=3, channels_down=8, channels_up=8)
    z = input_noise(config, 64, 64, torch.Generator().manual_seed(0))
    assert z.shape == (1, 32, 64, 64) and 0 <= z.min() and z.max() < config.input_scale
    assert float(z.mean()) == pytest.approx(config.input_scale / 2, rel=0.01)
    assert float(z.std()) == pytest.approx(config.input_scale / 12**0.5, rel=0.01)
    assert not torch.equal(z, input_noise(config, 64, 64, torch.Generator().manual_seed(1)))
    assert SkipHourglass(config)(z[..., :16, :24]).shape == (1, 1, 16, 24)


def _reference_forward(network: SkipHourglass, z: torch.Tensor) -> torch.Tensor:
    """The network module docstring's equations written with torch.nn.functional on the network's
    own weights: reflection padding, batch norm on the batch's statistics (training mode), leaky
    ReLU 0.2, the skip branch before the upsampled deeper branch, a sigmoid after the 1x1 head."""
    functional = nn.functional

    def conv(x, module):  # nn.Sequential(ReflectionPad2d, Conv2d), or a bare 1x1 Conv2d
        layer = module[-1] if isinstance(module, nn.Sequential) else module
        pad = (layer.kernel_size[0] - 1) // 2
        return functional.conv2d(functional.pad(x, [pad] * 4, mode="reflect") if pad else x, layer.weight, layer.bias,
                                 stride=layer.stride)

    def norm(x, layer):
        return functional.batch_norm(x, None, None, layer.weight, layer.bias, training=True, eps=1e-5)

    def block(x, sequence):  # conv -> BN -> LReLU
        return functional.leaky_relu(norm(conv(x, sequence[0]), sequence[1]), 0.2)

    def level(x, module):
        down = block(block(x, module.down[0]), module.down[1])
        deep = down if isinstance(module.deeper, nn.Identity) else level(down, module.deeper)
        deep = functional.interpolate(deep, scale_factor=2, mode=network.config.upsampling)
        merged = deep if module.skip is None else torch.cat([block(x, module.skip), deep], dim=1)
        return block(block(norm(merged, module.up[0]), module.up[1]), module.up[2])

    return torch.sigmoid(conv(level(z, network.levels), network.head[0]))


@pytest.mark.parametrize("config", [SMALL, DipConfig(depth=2, channels_down=8, channels_up=12, channels_skip=0, kernel_down=5,
                                                     upsampling="nearest", input_channels=3)])
def test_network_forward_matches_the_equations_written_out(config):
    torch.manual_seed(0)
    network = SkipHourglass(config, channels_out=3)
    z = input_noise(config, 32, 48, torch.Generator().manual_seed(0))
    torch.testing.assert_close(network(z), _reference_forward(network, z), rtol=1e-5, atol=1e-6)


def test_skip_channels_and_upsampling_change_the_network():
    z = input_noise(SMALL, 32, 32, torch.Generator().manual_seed(0))
    outputs = {}
    for name, config in {"default": SMALL, "nearest": DipConfig(depth=3, channels_down=16, channels_up=16, upsampling="nearest"),
                         "no skip": DipConfig(depth=3, channels_down=16, channels_up=16, channels_skip=0)}.items():
        torch.manual_seed(0)
        outputs[name] = SkipHourglass(config).eval()(z)
    assert len(_layers(SkipHourglass(DipConfig(channels_skip=0)), nn.Conv2d)) == 4 * DipConfig().depth + 1
    assert not torch.allclose(outputs["default"], outputs["nearest"])
    assert not torch.allclose(outputs["default"], outputs["no skip"])


def test_network_side_pads_to_what_the_depth_needs():
    assert network_side(64, DipConfig()) == 64
    assert network_side(28, DipConfig()) == 64  # depth 5: at least 2 pixels at the deepest level
    assert network_side(100, DipConfig()) == 128
    assert network_side(28, DipConfig(depth=3)) == 32
    with pytest.raises(ValueError, match="must divide by 2\\^depth = 8"):
        SkipHourglass(SMALL)(torch.zeros(1, 32, 20, 20))


@pytest.mark.parametrize("height, width", [(20, 16), (16, 20), (8, 8), (8, 16)])
def test_the_network_refuses_each_side_it_cannot_take(height, width):
    """Depth 3 needs sides that divide by 8 and are at least 16: one side not divisible (either one),
    or both divisible but too small."""
    with pytest.raises(ValueError) as error:
        SkipHourglass(SMALL)(torch.zeros(1, SMALL.input_channels, height, width))
    assert str(error.value) == f"the input's sides {(height, width)} must divide by 2^depth = 8 and be at least 16"


@pytest.mark.parametrize("overrides, message", [
    ({"depth": 0}, "depth must be an integer >= 1, got 0"),
    ({"channels_skip": -1}, "channels_skip must be an integer >= 0, got -1"),
    ({"kernel_skip": 2, "input_scale": 0.0}, "kernel_skip must be odd so the output keeps its size, got 2; "
                                             "input_scale and learning_rate must be positive and input_noise_std >= 0"),
    ({"learning_rate": 0.0}, "input_scale and learning_rate must be positive and input_noise_std >= 0"),
    ({"input_noise_std": -0.01}, "input_scale and learning_rate must be positive and input_noise_std >= 0"),
    ({"kernel_up": 4}, "kernel_up must be odd so the output keeps its size, got 4"),
    ({"upsampling": "cubic"}, "upsampling must be one of bilinear, nearest, got 'cubic'"),
    ({"output_average": 1.0}, "output_average must be in [0, 1), got 1.0"),
    ({"output_average": -0.1}, "output_average must be in [0, 1), got -0.1"),
])
def test_bad_configuration_is_refused(overrides, message):
    with pytest.raises(ValueError) as error:
        DipConfig(**overrides)
    assert str(error.value) == f"invalid DIP configuration: {message}"
    assert DipConfig(output_average=0.0, channels_skip=0, input_noise_std=0.0).output_average == 0.0, "the least allowed"


# ----- images and corruptions ---------------------------------------------------------------------

def test_benchmark_images_are_scikit_images_photographs_cropped_resized_and_grey_when_asked():
    """Against the photograph read here from skimage.data: 8-bit values / 255, ITU-R 709 luminance
    for colour ones, the central square; at full size equal, at 64 x 64 the same mean brightness
    (anti-aliased resizing keeps it, to 1e-4 on these images)."""
    for name in BENCHMARK_IMAGES:
        photograph = getattr(skimage.data, name)().astype(np.float64) / 255
        if photograph.ndim == 3:
            photograph = photograph @ np.array([0.2125, 0.7154, 0.0721])
        height, width = photograph.shape
        side = min(height, width)
        square = photograph[(height - side) // 2:(height + side) // 2, (width - side) // 2:(width + side) // 2]
        np.testing.assert_allclose(load_image(name, None, grey=True), square, atol=1e-12, err_msg=name)
        image = load_image(name, 64, grey=True)
        assert image.shape == (64, 64) and image.dtype == np.float64
        assert image.mean() == pytest.approx(square.mean(), abs=1e-3), name
    assert load_image("mnist:0", None).shape == (28, 28)
    assert load_image("camera", 32).shape == (32, 32)  # a grey source stays grey


def test_colour_photographs_stay_colour_and_grey_is_their_luminance():
    for name in COLOUR_IMAGES:
        image = load_image(name, 48)
        assert image.shape == (48, 48, 3), name
        assert np.abs(image[..., 0] - image[..., 2]).mean() > 0.02, f"{name} is not grey in disguise"
    colour, grey = load_image("astronaut", 64), load_image("astronaut", 64, grey=True)
    luminance = colour @ np.array([0.2125, 0.7154, 0.0721])  # ITU-R 709, scikit-image's rgb2gray
    assert np.abs(grey - luminance).max() < 0.01  # resizing and the grey conversion commute up to rounding


def test_image_file_is_read_and_resized(tmp_path):
    path = tmp_path / "gradient.png"
    Image.fromarray(np.tile(np.arange(0, 256, 2, dtype=np.uint8), (100, 1))).save(path)  # 100 x 128
    image = load_image(str(path), 32)
    assert image.shape == (32, 32)
    assert np.all(np.diff(image, axis=1) > 0)  # the horizontal gradient survives the crop and resize
    red = np.zeros((40, 40, 3), dtype=np.uint8)
    red[..., 0] = 200
    Image.fromarray(red).save(tmp_path / "red.png")
    colour = load_image(str(tmp_path / "red.png"), 16)
    assert colour.shape == (16, 16, 3)
    np.testing.assert_allclose(colour[..., 0], 200 / 255) and np.testing.assert_allclose(colour[..., 1:], 0)
    assert load_image(str(tmp_path / "red.png"), 16, grey=True) == pytest.approx(np.full((16, 16), 0.2125 * 200 / 255), abs=2e-3)


GREY_RAMP = np.linspace(0, 1, 20 * 20).reshape(20, 20)


@pytest.mark.parametrize("array, mode, suffix, read", [
    (GREY_RAMP > 0.5, "1", ".png", (GREY_RAMP > 0.5).astype(float)),
    (np.round(GREY_RAMP * 255).astype(np.uint8), "L", ".png", np.round(GREY_RAMP * 255) / 255),
    (np.round(GREY_RAMP * 255).astype(np.uint8), "L", ".jpg", np.round(GREY_RAMP * 255) / 255),
    (np.round(GREY_RAMP * 65535).astype(np.uint16), "I;16", ".png", np.round(GREY_RAMP * 65535) / 65535),
])
def test_grey_files_read_as_grey_scaled_by_their_bit_depth(tmp_path, array, mode, suffix, read):
    """A 16-bit PNG spans 0..65535 (a reader that clipped it to 8 bits would give white from 255 / 65535 on)."""
    path = tmp_path / f"grey{suffix}"
    Image.fromarray(array).save(path)
    with Image.open(path) as opened:
        assert opened.mode == mode
    image = load_image(str(path), None)
    assert image.shape == (20, 20)
    np.testing.assert_allclose(image, read, atol=0.02 if suffix == ".jpg" else 1e-12)


def test_alpha_is_dropped_and_a_palette_is_read_as_its_colours(tmp_path):
    grey = np.round(GREY_RAMP * 255).astype(np.uint8)
    alpha = np.full_like(grey, 7)
    Image.fromarray(np.stack([grey, alpha], axis=-1), mode="LA").save(tmp_path / "la.png")
    np.testing.assert_allclose(load_image(str(tmp_path / "la.png"), None), grey / 255)
    rgba = np.stack([grey, 255 - grey, np.full_like(grey, 9), alpha], axis=-1)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(load_image(str(tmp_path / "rgba.png"), None), rgba[..., :3] / 255)
    palette = Image.fromarray(rgba[..., :3], mode="RGB").quantize(colors=256)
    palette.save(tmp_path / "palette.png")
    with Image.open(tmp_path / "palette.png") as opened:
        assert opened.mode == "P"
        colours = np.asarray(opened.convert("RGB")) / 255
    assert load_image(str(tmp_path / "palette.png"), None).shape == (20, 20, 3)
    np.testing.assert_allclose(load_image(str(tmp_path / "palette.png"), None), colours)


@pytest.mark.parametrize("array, mode", [(GREY_RAMP.astype(np.float32), "F"), ((GREY_RAMP * 1000).astype(np.int32), "I"),
                                         ((GREY_RAMP * 1000).astype(">u2"), "I;16B")])
def test_files_of_unknown_range_are_refused(tmp_path, array, mode):
    path = tmp_path / "scan.tiff"
    Image.fromarray(array).save(path)
    with pytest.raises(ValueError) as refused:
        load_image(str(path), None)
    assert str(refused.value) == (f"cannot read {path}: its pixels are Pillow's mode {mode}, whose range is not known "
                                  "here; give an 8- or 16-bit PNG or a JPEG")


def test_a_folder_gives_its_png_and_jpeg_files_in_order(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    assert images_in(tmp_path) == [str(tmp_path / "a.JPG"), str(tmp_path / "b.png")]
    with pytest.raises(ValueError, match="holds no PNG or JPEG"):
        images_in(tmp_path / "sub.png")
    with pytest.raises(ValueError, match="is not a folder"):
        images_in(tmp_path / "b.png")


def test_noise_has_the_requested_std_on_the_255_scale():
    clean = np.full((256, 256), 0.5)
    noisy = add_noise(clean, 25, torch.Generator().manual_seed(0))
    assert abs((noisy - clean).std() - 25 / 255) < 0.002
    assert abs((noisy - clean).mean()) < 0.002
    eps = torch.randn((256, 256), generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    np.testing.assert_allclose(noisy, clean + 25 / 255 * eps, rtol=0, atol=1e-15)  # the seed's N(0, 1) draws, scaled
    assert check_sigma(100) == pytest.approx(100 / 255), "the largest sigma accepted"
    assert check_sigma(0.5) == pytest.approx(0.5 / 255), "any positive sigma, below 1 too"


@pytest.mark.parametrize("height, width", [(30, 20), (20, 30)])
def test_a_file_is_cropped_to_its_central_square(tmp_path, height, width):
    """Rows (columns) numbered in the pixel values: the square kept starts (long side - short side) / 2 in."""
    numbers = np.add.outer(np.arange(height), np.zeros(width)) if height > width else np.add.outer(np.zeros(height), np.arange(width))
    Image.fromarray(numbers.astype(np.uint8)).save(tmp_path / "ruler.png")
    kept = np.round(load_image(str(tmp_path / "ruler.png"), None) * 255)
    assert kept.shape == (20, 20)
    expected = np.arange(5, 25)
    np.testing.assert_array_equal(kept[:, 0] if height > width else kept[0], expected)


def test_the_smallest_image_dip_takes_is_accepted(tmp_path):
    Image.fromarray(np.full((16, 16), 128, dtype=np.uint8)).save(tmp_path / "small.png")
    assert load_image(str(tmp_path / "small.png"), None).shape == (16, 16)


def test_masks_observe_what_they_say():
    random = make_mask("random", (200, 200), torch.Generator().manual_seed(0))
    assert abs(random.mean() - 0.5) < 0.01 and set(np.unique(random)) == {0.0, 1.0}
    block = make_mask("block", (64, 64))
    assert block.mean() == 0.75 and block[32, 32] == 0 and block[0, 0] == 1
    by_hand = np.ones((10, 6))
    by_hand[2:7, 1:4] = 0  # rows from 10 // 4 = 2, 10 // 2 = 5 of them; columns from 1, 3 of them
    assert np.array_equal(make_mask("block", (10, 6)), by_hand)
    odd = np.ones((9, 7))
    odd[2:6, 1:4] = 0  # rows from 9 // 4 = 2, 9 // 2 = 4 of them; columns from 1, 3 of them
    assert np.array_equal(make_mask("block", (9, 7)), odd)
    uniform = torch.rand((200, 200), generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    assert random.dtype == np.float64 and np.array_equal(random, uniform < 0.5), "observed where the seed's U(0, 1) < 1/2"
    colour = make_mask("random", (200, 200, 3), torch.Generator().manual_seed(0))
    assert colour.shape == (200, 200, 3) and np.array_equal(colour[..., 2], random)  # same pixels, every channel


def test_colour_noise_is_independent_per_channel():
    noise = add_noise(np.zeros((200, 200, 3)), 25, torch.Generator().manual_seed(0))
    assert np.allclose(noise.reshape(-1, 3).std(axis=0), 25 / 255, rtol=0.02)
    assert np.abs(np.corrcoef(noise.reshape(-1, 3).T) - np.eye(3)).max() < 0.02  # 40,000 pixels: std 0.005


def test_tensor_layout_round_trips_grey_and_colour():
    for shape in ((5, 7), (5, 7, 3)):
        image = np.random.default_rng(0).random(shape)
        tensor = to_tensor(image)
        assert tensor.shape == (1, 1 if len(shape) == 2 else 3, 5, 7) and tensor.dtype == torch.float32
        np.testing.assert_allclose(to_image(tensor), image, atol=1e-7)
    colour = np.random.default_rng(0).random((5, 7, 3))
    assert to_tensor(colour)[0, 2, 4, 6] == pytest.approx(colour[4, 6, 2])  # channel c of pixel (i, j)


_OR_A_NAME = "camera, astronaut, coffee, chelsea, moon, coins, brick, text, rocket, motorcycle, retina, page, grass, " \
             "gravel, clock, cell, immunohistochemistry, hubble_deep_field"
_SIGMA_RANGE = "sigma must be in (0, 100] on the 0..255 scale (the paper uses 15, 25, 50), got "


@pytest.mark.parametrize("call, message", [
    (lambda tmp: load_image("lena"), f"unknown image 'lena': give a file path, mnist:K, or one of: {_OR_A_NAME}"),
    (lambda tmp: load_image(str(tmp / "missing.png")),
     f"no image file at {{tmp}}/missing.png; give an existing PNG/JPEG or one of: {_OR_A_NAME}"),
    (lambda tmp: load_image(str(_garbage(tmp))),
     "cannot read {tmp}/broken.png as an image (cannot identify image file '{tmp}/broken.png'); give a PNG or JPEG file"),
    (lambda tmp: load_image(str(_tiny_png(tmp)), None), "{tmp}/tiny.png is only 8 x 8 pixels after cropping; give at least 16 x 16"),
    (lambda tmp: load_image("camera", 8), "size 8 is too small; DIP needs at least 16 x 16 pixels"),
    (lambda tmp: load_image("mnist:x"), "'mnist:x': expected mnist:K with K an integer >= 0"),
    (lambda tmp: load_image("mnist:-1"), "'mnist:-1': expected mnist:K with K an integer >= 0"),
    (lambda tmp: load_image("mnist:1000"), "mnist:1000 is out of range; there are 1000 held-out digits (0..999)"),
    (lambda tmp: check_sigma(0), _SIGMA_RANGE + "0"),
    (lambda tmp: check_sigma(255), _SIGMA_RANGE + "255"),
    (lambda tmp: check_sigma(100.5), _SIGMA_RANGE + "100.5"),
    (lambda tmp: check_mask(np.ones((10, 10)), (12, 12)), "the mask has shape (10, 10) but the image has (12, 12); they must match"),
    (lambda tmp: check_mask(np.full((4, 4), 0.5), (4, 4)), "the mask must hold only 0 (missing) and 1 (observed)"),
    (lambda tmp: make_mask("stripes", (4, 4)), "unknown mask 'stripes'; use one of: random, block"),
    (lambda tmp: check_mask(np.zeros((4, 4)), (4, 4)), "the mask observes no pixel; at least one must be 1"),
])
def test_bad_input_gets_a_clear_error(tmp_path, call, message):
    """The whole message, word for word: what was wrong and what to give instead."""
    with pytest.raises(ValueError) as error:
        call(tmp_path)
    assert str(error.value) == message.format(tmp=tmp_path)


def _garbage(directory):
    path = directory / "broken.png"
    path.write_bytes(b"not an image at all")
    return path


def _tiny_png(directory):
    path = directory / "tiny.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(path)
    return path


def test_denoise_command_reports_bad_input_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        denoise.run_command(denoise.parser(), denoise.main, ["--image", "camera", "--sigma", "500"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: sigma must be in (0, 100]")
    with pytest.raises(SystemExit):
        denoise.run_command(denoise.parser(), denoise.main, ["--image", "camera", "--sigma", "25", "--mask", "x"])


# ----- the metrics, against the formula --------------------------------------------------------------

def test_psnr_and_ssim_use_the_unit_data_range():
    clean = np.full((32, 32), 0.5)
    clean[:, 16:] = 0.25
    scores = quality(clean, clean + 0.1)
    assert scores["psnr"] == pytest.approx(10 * np.log10(1 / 0.1 ** 2))  # MSE 0.01, peak 1: 20 dB
    assert quality(clean, clean + 1e-6)["ssim"] == pytest.approx(1.0)
    assert 0 < quality(clean, clean + add_noise(np.zeros((32, 32)), 50, torch.Generator().manual_seed(0)))["ssim"] < 0.9


def test_ssim_of_flat_images_is_its_closed_form_with_the_unit_data_range():
    """Flat images a and b have no variance or covariance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    with C1 = (0.01 L)^2 for the data range L = 1 (Wang et al. 2004); colour averages the channels.
    Dark values make C1 matter: L = 2 would give 0.889 for 0.833 at a = 0.02, b = 0.01."""
    def flat_ssim(a, b):
        return (2 * a * b + 1e-4) / (a * a + b * b + 1e-4)

    assert ssim(np.full((16, 16), 0.02), np.full((16, 16), 0.01)) == pytest.approx(flat_ssim(0.02, 0.01), abs=1e-9)
    clean, estimate = np.array([0.02, 0.05, 0.3]), np.array([0.01, 0.04, 0.1])
    expected = np.mean([flat_ssim(a, b) for a, b in zip(clean, estimate)])
    assert ssim(np.broadcast_to(clean, (16, 16, 3)).copy(), np.broadcast_to(estimate, (16, 16, 3)).copy()) == pytest.approx(
        expected, abs=1e-9)


def test_colour_psnr_pools_the_channels_and_ssim_averages_them():
    clean = load_image("astronaut", 32)
    error = np.zeros_like(clean)
    error[..., 1] = 0.1  # MSE over all values: 0.01 / 3
    assert quality(clean, clean + error)["psnr"] == pytest.approx(10 * np.log10(3 / 0.01))
    noisy = clean + add_noise(np.zeros_like(clean), 50, torch.Generator().manual_seed(0))
    per_channel = [quality(clean[..., c], noisy[..., c])["ssim"] for c in range(3)]
    assert quality(clean, noisy)["ssim"] == pytest.approx(np.mean(per_channel))


# ----- the fitting loop -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def noisy_camera():
    clean = load_image("camera", 32)
    return clean, add_noise(clean, 25, torch.Generator().manual_seed(0))


def test_a_short_fit_denoises(noisy_camera):
    clean, noisy = noisy_camera
    record = fit(noisy, SMALL, [Stage(0.0, 250)], clean=clean, progress=False)
    noisy_psnr = peak_signal_noise_ratio(clean, noisy, data_range=1.0)
    assert record.psnr[-1] == pytest.approx(peak_signal_noise_ratio(clean, record.final, data_range=1.0))
    assert record.psnr[-1] > noisy_psnr + 3.0  # 20.2 dB in; about 25 dB after 250 iterations
    assert record.loss[-1] < record.loss[0] / 2


def test_fit_is_reproducible_and_seeded(noisy_camera):
    _, noisy = noisy_camera
    first, again, other = (fit(noisy, SMALL, [Stage(0.0, 5)], seed=seed, progress=False) for seed in (1, 1, 2))
    assert first.loss == again.loss and np.array_equal(first.final, again.final)
    assert first.loss != other.loss


def test_fit_ignores_missing_pixels(noisy_camera):
    _, noisy = noisy_camera
    mask = make_mask("block", noisy.shape)
    zeros, garbage = noisy * mask, np.where(mask > 0, noisy, 100.0)
    records = [fit(observation, SMALL, [Stage(0.0, 5)], mask=mask, progress=False) for observation in (zeros, garbage)]
    assert records[0].loss == records[1].loss
    unmasked = fit(garbage, SMALL, [Stage(0.0, 5)], progress=False)
    assert unmasked.loss[0] > 100 * records[0].loss[0]


def test_windowed_variance_and_residual_are_recorded(noisy_camera):
    _, noisy = noisy_camera
    record = fit(noisy, SMALL, [Stage(0.0, WMV_WINDOW + 2)], snapshot_every=1, progress=False)
    signals = record.arrays()
    assert np.all(np.isnan(signals["wmv"][:WMV_WINDOW - 1])) and not np.isnan(signals["wmv"][WMV_WINDOW - 1])
    assert np.array_equal(signals["residual"], signals["loss"])  # plain DIP fits y itself
    assert np.all(np.isnan(signals["estimate"]))
    assert np.allclose(record.snapshots[WMV_WINDOW + 2], record.final)


def test_recorrupted_stage_ends_after_its_patience_at_its_best_output(noisy_camera):
    clean, noisy = noisy_camera
    record = fit(noisy, SMALL, [Stage(0.25, 400, patience=15)], sigma=25 / 255, clean=clean, snapshot_every=1, progress=False)
    best = estimate_stop(record.arrays()["estimate"])
    assert record.iterations == best + 1 + 15 < 400
    assert np.allclose(record.final, record.snapshots[best + 1])  # the stage rolled back to its best
    assert not np.array_equal(record.arrays()["residual"], record.arrays()["loss"])  # it fitted y + a sigma z


def test_interrupted_fit_keeps_what_it_recorded(noisy_camera, monkeypatch):
    clean, noisy = noisy_camera
    calls = []

    def interrupt_on_the_fourth(*args, **kwargs):  # PSNR is computed twice per iteration: in the 2nd
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return 20.0

    monkeypatch.setattr(dip_ext.fit, "psnr", interrupt_on_the_fourth)
    record = fit(noisy, SMALL, [Stage(0.0, 50)], clean=clean, progress=False)
    assert record.interrupted and record.iterations == 2 and record.final is not None


_NO_SURE = "SURE needs the noise level sigma, every pixel observed (no mask), plain stages (scale 0) and no regulariser"


@pytest.mark.parametrize("stages, options, message", [
    ([Stage(0.5, 10)], {}, "progressive stages need the observation's noise level sigma (known or estimated)"),
    ([Stage(0.0, 10), Stage(0.5, 10)], {"sigma": 0.0}, "progressive stages need the observation's noise level sigma"),
    ([], {}, "give at least one stage, each with at least one iteration"),
    ([Stage(0.0, 10), Stage(0.0, 0)], {}, "give at least one stage, each with at least one iteration"),
    ([Stage(0.0, 10)], {"mask": np.ones((4, 4))}, "the mask has shape (4, 4) but the image has (32, 32); they must match"),
    ([Stage(0.0, 10)], {"sure": True}, _NO_SURE),
    ([Stage(0.0, 10), Stage(0.5, 10)], {"sure": True, "sigma": 0.1}, _NO_SURE),
    ([Stage(0.0, 10)], {"sure": True, "sigma": 0.1, "regulariser": lambda output: output.mean()}, _NO_SURE),
])
def test_fit_refuses_stages_it_cannot_run(noisy_camera, stages, options, message):
    _, noisy = noisy_camera
    with pytest.raises(ValueError) as error:
        fit(noisy, SMALL, stages, progress=False, **options)
    assert str(error.value).startswith(message)


# ----- stopping rules on curves whose answer is known ---------------------------------------------------

def test_discrepancy_stops_where_the_residual_first_reaches_the_noise_variance():
    residual = np.array([0.5, 0.3, 0.2, 0.11, 0.1, 0.09, 0.12])
    assert discrepancy_stop(residual, 0.1) == 4
    assert discrepancy_stop(residual, 0.01) == 6  # never reached: the last iteration


def test_the_denoise_command_stops_each_rule_where_its_signal_says():
    """dip_ext.denoise's stops on a record whose answers are known: the residual reaches sigma^2 = 0.01
    at index 400 (sigma = 0.1 at 100), the windowed variance is lowest at 200, SURE at 300, PSNR peaks at 50."""
    k = np.arange(1200, dtype=np.float64)
    record = dip_ext.fit.FitRecord(loss=list(k), residual=list(np.where(k < 100, 1.0, np.where(k < 400, 0.05, 0.005))),
                                   wmv=list(np.where(k < WMV_WINDOW - 1, np.nan, np.abs(k - 200) + 1)),
                                   sure=list(np.abs(k - 300)), psnr=list(30 - np.abs(k - 50)))
    stops = denoise._plain_stops(record, 0.1, with_sure=True)
    assert stops == {"oracle peak (uses the clean image)": 50, "last iteration (1200)": 1199, "discrepancy": 400,
                     "ES-WMV": 200, "SURE": 300}
    assert "SURE" not in denoise._plain_stops(record, 0.1, with_sure=False)
    assert set(denoise._plain_stops(record, None, with_sure=True)) == {"oracle peak (uses the clean image)",
                                                                       "last iteration (1200)"}


def test_wmv_returns_the_minimum_once_it_has_stood_for_the_patience():
    variance = np.concatenate([np.full(3, np.nan), (np.arange(100) - 40.0) ** 2 + 1, [0.0]])
    assert wmv_stop(variance, patience=20) == 43  # min at 3 + 40; the later 0 comes after the stop
    assert wmv_stop(variance, patience=200) == len(variance) - 1  # never stood: the overall minimum
    with pytest.raises(ValueError, match="window never filled"):
        wmv_stop(np.full(5, np.nan))


def test_wmv_stood_agrees_with_where_wmv_stop_returned():
    """Minimum at index 2, patience 4: wmv_stop's loop sees it stand at index 6, so a run of 7
    stood and a run of 6 ended first (wmv_stop then returned the same index as its overall minimum)."""
    variance = np.array([5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 3.8])
    for length, stood in ((7, True), (6, False)):
        stop = wmv_stop(variance[:length], patience=4)
        assert stop == 2 and wmv_stood(stop, length, patience=4) is stood
    assert wmv_stood(999, 2000) and not wmv_stood(1000, 2000), "the default patience is the paper's 1,000"


def test_estimate_stop_and_plateau_width():
    estimate = np.array([np.nan, 0.4, 0.2, 0.25, np.nan])
    assert estimate_stop(estimate) == 2
    with pytest.raises(ValueError, match="no quality estimate"):
        estimate_stop(np.full(3, np.nan))
    psnr = np.array([20.0, 25.0, 27.9, 28.0, 27.6, 27.4, 26.0])
    assert plateau_width(psnr, 0.5) == 3
    assert plateau_width(psnr, 0.65) == 4
    assert plateau_width(np.array([9.0, 9.5, 10.0, 9.75, 9.4]), 0.5) == 3, "a value exactly 0.5 dB down is within"


def test_fixed_count_maximises_the_mean_of_the_other_curves():
    peak_at = lambda k: -(np.arange(100) - k) ** 2.0  # noqa: E731
    assert fixed_count_stop([peak_at(30), peak_at(50)]) == 40
    assert fixed_count_stop([peak_at(30), peak_at(50)[:35]]) == 34  # truncated to the shortest curve, 0..34


# ----- the study command --------------------------------------------------------------------------------

@pytest.mark.parametrize("parts", [1, 3, 7])
def test_shards_cover_every_case_exactly_once(parts):
    cases = [(image, sigma, seed) for image in "abcde" for sigma in (15, 25) for seed in (0, 1)]
    shards = [run_study.shard_cases(cases, part, parts) for part in range(1, parts + 1)]
    assert sorted(case for shard in shards for case in shard) == sorted(cases)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b"])
def test_a_bad_shard_is_refused_in_one_line(text):
    with pytest.raises(ValueError, match="--shard"):
        run_study.parse_shard(text)


def test_wmv_patience_counts_from_the_minimum_and_defaults_to_the_constant():
    """A minimum that has stood `patience` iterations ends the search at the first later iteration
    that does not beat it, before a lower value one iteration later; the default patience is
    WMV_PATIENCE (the paper's 1000) iterations."""
    assert WMV_PATIENCE == 1000
    assert wmv_stop(np.array([5.0, 3.0, 4.0, 4.0, 4.0, 2.0]), patience=3) == 1
    assert wmv_stop(np.array([5.0, 3.0, 4.0, 4.0, 2.0]), patience=3) == 4
    stood = np.full(3 * WMV_PATIENCE, 2.0)
    stood[10] = 1.0
    stood[10 + WMV_PATIENCE + 1] = 0.5
    assert wmv_stop(stood) == 10
    stood[10 + WMV_PATIENCE] = 0.5
    assert wmv_stop(stood) == 10 + WMV_PATIENCE


def test_the_reported_output_is_the_exponential_average_of_the_raw_outputs(noisy_camera, monkeypatch):
    """a_1 = f_1, a_k = d a_{k-1} + (1 - d) f_k, recomputed from the network's own raw outputs
    (recorded by a wrapper) and compared with every snapshot and the final output."""
    clean, noisy = noisy_camera
    raw_outputs = []

    class Recording(dip_ext.fit.SkipHourglass):
        def forward(self, z):
            output = super().forward(z)
            raw_outputs.append(output.detach()[0, 0].double().numpy().copy())
            return output

    monkeypatch.setattr(dip_ext.fit, "SkipHourglass", Recording)
    config = DipConfig(depth=3, channels_down=16, channels_up=16, output_average=0.9)
    record = fit(noisy, config, [Stage(0.0, 12)], snapshot_every=1, progress=False)
    assert len(raw_outputs) == 12
    average = raw_outputs[0]
    for iteration, raw in enumerate(raw_outputs, start=1):
        average = raw if iteration == 1 else 0.9 * average + 0.1 * raw
        np.testing.assert_allclose(record.snapshots[iteration], average, rtol=0, atol=1e-6)
    np.testing.assert_allclose(record.final, average, rtol=0, atol=1e-6)
    assert not np.allclose(record.final, raw_outputs[-1], atol=1e-4), "the average differs from the last raw output"


@pytest.mark.parametrize("call, message", [
    (lambda: stage_scales(0), r"^stages must be at least 1, got 0$"),
    (lambda: stage_scales(2, 1.0, 0.0), r"^need 0 < smallest <= largest for the noise scales, got 0.0 and 1.0$"),
    (lambda: stage_scales(2, 0.5, 1.0), r"^need 0 < smallest <= largest"),
    (lambda: stage_scales(2, spacing="cosine"), r"^unknown spacing 'cosine'; use one of: geometric, linear$"),
    (lambda: estimate_stop(np.full(3, np.nan)),
     r"^no quality estimate was recorded: the fit had no recorrupted stage \(or no SURE twin\)$"),
    (lambda: wmv_stop(np.full(5, np.nan)), r"^the fit was too short for ES-WMV: its window never filled$"),
    (lambda: fixed_count_stop([]), r"^a fixed count is chosen on other images; give at least one curve$"),
    (lambda: target_pair(np.zeros(4), np.zeros(4), 0.0, 0.1), r"^the noise scale must be positive, got 0.0$"),
])
def test_bad_stage_settings_are_refused_with_the_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()


