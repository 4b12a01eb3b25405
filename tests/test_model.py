"""WIN5-RB: size, receptive field, shapes, residual branch, seeding, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spect_tutorial.model import (  # noqa: E402
    NOISE_BRANCH_LAYER,
    PAPER_CONFIG,
    TEACHING_CONFIG,
    receptive_field_px,
    removed_noise,
    win5rb,
)

TINY = {"filters": 4, "kernel_size": 7, "depth": 5}


def test_paper_size_parameter_count():
    model = win5rb(**PAPER_CONFIG, seed=0)
    # 7*7*128+128 + 3*(7*7*128*128+128) + 7*7*128+1 + 4*(4*128) + 4 (batch norms)
    assert model.count_params() == 2_423_557
    assert round(model.count_params() / 1e6, 2) == 2.42


def test_teaching_size_parameter_count():
    assert win5rb(**TEACHING_CONFIG, seed=0).count_params() == 609_669


def test_receptive_field_is_31_pixels():
    assert receptive_field_px(win5rb(**TINY)) == 31
    assert receptive_field_px(win5rb(filters=4, kernel_size=3, depth=3)) == 7


@pytest.mark.parametrize("shape", [(1, 37, 41, 1), (2, 9, 13, 1), (1, 1, 1, 1)])
def test_output_shape_equals_input_shape(shape):
    model = win5rb(**TINY, seed=1)
    images = np.random.default_rng(0).random(shape, dtype=np.float32)
    assert model(images, training=False).shape == shape


def test_removed_noise_is_minus_the_branch():
    model = win5rb(**TINY, seed=2)
    # Non-trivial batch-normalisation statistics, so the branch is not just the convolutions.
    rng = np.random.default_rng(1)
    weights = model.get_weights()
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(w.dtype) for w in weights])
    images = rng.random((3, 17, 19, 1), dtype=np.float32) + 0.5
    branch = keras.Model(model.input, model.get_layer(NOISE_BRANCH_LAYER).output)
    expected = -np.asarray(branch.predict(images, verbose=0))
    removed = removed_noise(model, images)
    assert removed.shape == images.shape
    assert removed.dtype == np.float32
    np.testing.assert_allclose(removed, expected, rtol=0, atol=1e-5 * np.abs(images).max())
    assert np.abs(expected).max() > 1e-3  # the comparison is not between two zeros


def test_removed_noise_rejects_bad_shape():
    with pytest.raises(ValueError, match="images must be"):
        removed_noise(win5rb(**TINY), np.zeros((4, 4)))


def test_seeded_construction_gives_identical_weights():
    first = win5rb(**TINY, seed=7).get_weights()
    second = win5rb(**TINY, seed=7).get_weights()
    other = win5rb(**TINY, seed=8).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"filters": 0}, "filters"),
        ({"filters": 2.5}, "filters"),
        ({"filters": True}, "filters"),
        ({"kernel_size": 6}, "kernel_size must be an odd integer"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"depth": 1}, "depth"),
    ],
)
def test_bad_arguments_raise_value_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        win5rb(**arguments)


def test_the_2_5d_variant_takes_adjacent_slices_and_denoises_the_centre_one(tmp_path):
    from spect_tutorial.model import adjacent_slices

    model = win5rb(filters=8, kernel_size=3, depth=3, channels=3, seed=0)
    assert model.input_shape == (None, None, None, 3)
    assert model.output_shape == (None, None, None, 1)
    stack = np.random.default_rng(0).gamma(4.0, 0.25, (5, 16, 16)).astype(np.float32)
    inputs = adjacent_slices(stack, 3)
    assert inputs.shape == (5, 16, 16, 3)
    np.testing.assert_array_equal(inputs[..., 1], stack)
    np.testing.assert_array_equal(inputs[0, ..., 0], stack[0])  # edge slice repeated
    np.testing.assert_array_equal(inputs[2, ..., 2], stack[3])
    # Untrained (zero-initialised last scale): the identity on the centre slice.
    output = np.asarray(model(inputs, training=False))[..., 0]
    np.testing.assert_allclose(output, stack, atol=1e-6)
    # Only the first convolution differs from the 2D network, and it saves and loads.
    flat = win5rb(filters=8, kernel_size=3, depth=3, seed=0)
    shapes = [tuple(w.shape) for w in model.weights]
    assert shapes[0] == (3, 3, 3, 8) and shapes[1:] == [tuple(w.shape) for w in flat.weights][1:]
    path = tmp_path / "net.weights.h5"
    model.save_weights(path)
    again = win5rb(filters=8, kernel_size=3, depth=3, channels=3, seed=1)
    again.load_weights(path)
    np.testing.assert_array_equal(np.asarray(again(inputs)), np.asarray(model(inputs)))
    with pytest.raises(ValueError, match="channels must be an odd integer"):
        win5rb(filters=8, channels=2)
    with pytest.raises(ValueError, match="k must be an odd integer"):
        adjacent_slices(stack, 4)
