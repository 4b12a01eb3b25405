"""Saving and safely loading weights; denoising volumes slice by slice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spect_tutorial import weights as weights_module  # noqa: E402
from spect_tutorial.inference import denoise, removed_noise_volume  # noqa: E402
from spect_tutorial.model import win5rb  # noqa: E402
from spect_tutorial.weights import (  # noqa: E402
    DEFAULT_MODEL,
    TRAIN_COMMAND,
    WEIGHTS_DIR,
    WEIGHTS_DIR_ENV,
    load_manifest,
    load_pretrained,
    save_weights,
    weights_sha256,
)

REPOSITORY = Path(__file__).resolve().parent.parent
CONFIG = {"filters": 4, "kernel_size": 3, "depth": 3}
MANIFEST = {"voxel_size_mm": 6.4, "command": "tests", "seed": 0}
NAME = "tiny"


def _tiny_model(seed: int = 0) -> keras.Model:
    """A small WIN5-RB whose every variable (batch-norm statistics too) is non-trivial."""
    model = win5rb(**CONFIG, seed=seed)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            np.abs(w) + 0.5 if "variance" in v.path else w + 0.1 * rng.standard_normal(w.shape)
            for w, v in zip(model.get_weights(), model.weights, strict=True)
        ]
    )
    return model


@pytest.fixture(autouse=True)
def _no_weights_dir_from_environment(monkeypatch):
    monkeypatch.delenv(WEIGHTS_DIR_ENV, raising=False)


@pytest.fixture(scope="module")
def model():
    return _tiny_model()


@pytest.fixture
def saved(tmp_path, model):
    path = save_weights(model, tmp_path, NAME, manifest=MANIFEST)
    return tmp_path, path


def _volume(shape=(5, 12, 10), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(20.0, shape).astype(np.float32) / 7.0


def _predict(model, images):
    return keras.ops.convert_to_numpy(model(images, training=False))


# ---------------------------------------------------------------------------
# save_weights / load_pretrained
# ---------------------------------------------------------------------------


def test_weights_dir_is_repository_data_weights():
    assert WEIGHTS_DIR == REPOSITORY / "data" / "weights"
    assert DEFAULT_MODEL == "win5rb_n2n_paper"


def test_round_trip_gives_identical_predictions(saved, model):
    directory, path = saved
    assert path == directory / f"{NAME}.weights.h5"
    manifest = json.loads((directory / f"{NAME}.json").read_text())
    assert manifest["weights_sha256"] == weights_sha256(path)
    assert manifest["model_config"] == CONFIG
    assert manifest["weights_file"] == path.name
    assert manifest["keras_version"] == keras.__version__
    assert manifest["backend"] == keras.backend.backend()
    assert manifest["command"] == "tests"
    assert sorted(p.name for p in directory.iterdir()) == [f"{NAME}.json", path.name]

    loaded = load_pretrained(NAME, directory=directory)
    images = np.random.default_rng(3).random((2, 15, 11, 1), dtype=np.float32)
    np.testing.assert_array_equal(_predict(loaded, images), _predict(model, images))
    assert loaded.spect_manifest == manifest == load_manifest(NAME, directory=directory)
    assert type(loaded.spect_manifest) is dict


def test_load_pretrained_honours_environment_variable(saved, monkeypatch):
    directory, _ = saved
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(directory))
    assert load_pretrained(NAME).spect_manifest["model_config"] == CONFIG
    # An explicit directory wins over the environment variable.
    with pytest.raises(FileNotFoundError):
        load_pretrained(NAME, directory=directory / "elsewhere")


def test_refuses_to_overwrite_and_leaves_files_unchanged(saved, model):
    directory, path = saved
    manifest_path = directory / f"{NAME}.json"
    before = path.read_bytes(), manifest_path.read_bytes()
    with pytest.raises(FileExistsError, match=f"{NAME}.weights.h5.*overwrite=True"):
        save_weights(_tiny_model(seed=1), directory, NAME, manifest=MANIFEST)
    assert (path.read_bytes(), manifest_path.read_bytes()) == before
    # Only the manifest there: still refused, and no weights file appears.
    path.unlink()
    with pytest.raises(FileExistsError, match=f"{NAME}.json"):
        save_weights(model, directory, NAME, manifest=MANIFEST)
    assert not path.exists()
    assert [p.name for p in directory.iterdir()] == [manifest_path.name]


def test_overwrite_true_replaces_both_files(saved):
    directory, _ = saved
    other = _tiny_model(seed=1)
    save_weights(other, directory, NAME, manifest=MANIFEST, overwrite=True)
    loaded = load_pretrained(NAME, directory=directory)
    images = np.ones((1, 6, 6, 1), dtype=np.float32)
    np.testing.assert_array_equal(_predict(loaded, images), _predict(other, images))


def test_modified_weights_file_is_refused_and_not_overwritten(saved):
    directory, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"tiny\.weights\.h5.*corrupt or modified"):
        load_pretrained(NAME, directory=directory)
    assert path.read_bytes() == bytes(data)


def test_truncated_weights_file_gives_clear_error(saved):
    directory, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"tiny\.weights\.h5.*corrupt or modified"):
        load_pretrained(NAME, directory=directory)
    # Even with a manifest that matches the truncated bytes, HDF5's error is wrapped.
    manifest_path = directory / f"{NAME}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["weights_sha256"] = weights_sha256(path)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"tiny\.weights\.h5.*cannot be read.*truncated"):
        load_pretrained(NAME, directory=directory)
    assert path.read_bytes() == data[: len(data) // 2]


def test_weights_for_another_architecture_are_refused(saved):
    directory, _ = saved
    manifest_path = directory / f"{NAME}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_config"] = {"filters": 8, "kernel_size": 3, "depth": 3}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"tiny\.weights\.h5.*cannot be read"):
        load_pretrained(NAME, directory=directory)


@pytest.mark.parametrize("which", ["weights", "manifest", "both"])
def test_missing_files_name_the_training_command(saved, which):
    directory, path = saved
    if which in ("weights", "both"):
        path.unlink()
    if which in ("manifest", "both"):
        (directory / f"{NAME}.json").unlink()
    with pytest.raises(FileNotFoundError, match=TRAIN_COMMAND.replace(".", r"\.")):
        load_pretrained(NAME, directory=directory)


def test_missing_default_model_names_the_training_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"win5rb_n2n_paper.*spect_tutorial\.train"):
        load_pretrained(directory=tmp_path)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({}, "voxel_size_mm"),
        ({"voxel_size_mm": -1.0}, "voxel_size_mm"),
        ({"voxel_size_mm": 6.4, "weights_sha256": "0" * 64}, "computes these keys"),
        ({"voxel_size_mm": 6.4, "model_config": {**CONFIG, "filters": 8}}, "does not match"),
        ({"voxel_size_mm": 6.4, "losses": [float("nan")]}, "JSON-serialisable"),
        ({"voxel_size_mm": 6.4, "data": object()}, "JSON-serialisable"),
    ],
)
def test_save_weights_rejects_bad_manifests(tmp_path, model, manifest, message):
    with pytest.raises(ValueError, match=message):
        save_weights(model, tmp_path, NAME, manifest=manifest)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", 3])
def test_bad_names_are_refused(tmp_path, model, name):
    with pytest.raises(ValueError, match="name must be"):
        save_weights(model, tmp_path, name, manifest=MANIFEST)
    with pytest.raises(ValueError, match="name must be"):
        load_pretrained(name, directory=tmp_path)


def test_save_weights_refuses_other_models(tmp_path):
    inputs = keras.Input((None, None, 1))
    other = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="not a WIN5-RB"):
        save_weights(other, tmp_path, NAME, manifest=MANIFEST)
    with pytest.raises(TypeError, match=r"keras\.Model"):
        save_weights("model", tmp_path, NAME, manifest=MANIFEST)


def test_corrupt_manifest_gives_clear_error(saved):
    directory, _ = saved
    (directory / f"{NAME}.json").write_text('{"model_config": ')
    with pytest.raises(ValueError, match=r"tiny\.json.*unreadable"):
        load_pretrained(NAME, directory=directory)


def test_manifest_cannot_point_at_another_file(saved):
    directory, _ = saved
    manifest_path = directory / f"{NAME}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["weights_file"] = "../other.weights.h5"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="weights_file must be"):
        load_pretrained(NAME, directory=directory)


# ---------------------------------------------------------------------------
# denoise
# ---------------------------------------------------------------------------


def test_denoise_matches_the_network_on_mean_scaled_slices(model):
    volume = _volume()
    mean = volume.mean(dtype=np.float64)
    expected = _predict(model, (volume / mean)[..., np.newaxis].astype(np.float32))[..., 0]
    result = denoise(volume, model, voxel_size_mm=6.4, batch_size=2)
    assert result.shape == volume.shape
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected * mean, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_denoise_feeds_the_network_exactly_what_training_fed_it(channels, monkeypatch):
    """Training pairs and inference share one normalisation and one slice stacking (2D, 2.5D)."""
    from spect_tutorial import inference
    from spect_tutorial.datasets import Noise2NoiseSet, volume_mean
    from spect_tutorial.pairs import gather_pairs

    volume = _volume()
    seen = []

    def record(model, inputs, batch_size):
        seen.append(np.array(inputs))
        return inputs[..., inputs.shape[-1] // 2]

    monkeypatch.setattr(inference, "_predict_slices", record)
    denoise(volume, win5rb(filters=4, channels=channels, seed=0), voxel_size_mm=6.4)
    # The same volume as a training set: both realizations are the volume itself.
    dataset = Noise2NoiseSet(
        images=np.stack([volume, volume])[np.newaxis, np.newaxis],
        means=np.full((1, 1, 2), volume_mean(volume)),
        count_levels=(100.0,),
        validation=np.array([False]),
        voxel_size_mm=6.4,
    )
    pairs = np.array([[0, 0, z, 0, 1] for z in range(volume.shape[0])])
    inputs, targets = gather_pairs(dataset, pairs, input_slices=channels)
    (network_input,) = seen
    np.testing.assert_array_equal(network_input, inputs)
    np.testing.assert_array_equal(network_input[..., channels // 2], targets[..., 0])


def test_a_25d_model_denoises_each_slice_from_its_neighbours():
    volume = _volume()
    model = win5rb(filters=4, channels=3, seed=0)
    denoised = denoise(volume, model, voxel_size_mm=6.4, batch_size=3)
    mean = float(volume.mean())
    for z, neighbours in ((0, [0, 0, 1]), (2, [1, 2, 3]), (len(volume) - 1, [-2, -1, -1])):
        stack = np.moveaxis(volume[neighbours] / mean, 0, -1)[np.newaxis].astype(np.float32)
        expected = np.asarray(model(stack, training=False))[0, ..., 0] * mean
        np.testing.assert_allclose(denoised[z], expected, rtol=1e-4, atol=1e-5 * mean)
    inputs = keras.Input(shape=(None, None, 2))
    two_channels = keras.Model(inputs, keras.layers.Conv2D(1, 1)(inputs))
    with pytest.raises(ValueError, match="odd number k of adjacent slices"):
        denoise(volume, two_channels, voxel_size_mm=6.4)


def test_denoise_is_invariant_to_the_units(model):
    volume = _volume()
    first = denoise(volume, model, voxel_size_mm=6.4)
    scaled = denoise(volume * 1000.0, model, voxel_size_mm=6.4)
    np.testing.assert_allclose(scaled, first * 1000.0, rtol=1e-5, atol=1e-5)


def test_denoise_all_zero_volume_gives_zeros(model):
    for shape in [(3, 5, 5), (2, 3, 5, 5)]:
        result = denoise(np.zeros(shape), model, voxel_size_mm=6.4)
        assert result.shape == shape
        assert result.dtype == np.float32
        assert np.array_equal(result, np.zeros(shape))


def test_denoise_tiny_volume_is_finite(model):
    for shape in [(3, 5, 5), (1, 1, 1)]:
        result = denoise(_volume(shape) + 0.1, model, voxel_size_mm=6.4)
        assert result.shape == shape
        assert np.isfinite(result).all()


def test_denoise_batch_equals_per_volume_and_batch_size_does_not_matter(model):
    stack = np.stack([_volume(seed=1), np.zeros((5, 12, 10), np.float32), _volume(seed=2) * 9])
    together = denoise(stack, model, voxel_size_mm=6.4, batch_size=3)
    for index, single in enumerate(stack):
        np.testing.assert_array_equal(
            together[index], denoise(single, model, voxel_size_mm=6.4, batch_size=3)
        )
    np.testing.assert_allclose(
        denoise(stack, model, voxel_size_mm=6.4, batch_size=1), together, rtol=1e-5, atol=1e-6
    )


def test_slab_leaves_other_slices_unchanged(model):
    volume = _volume((6, 12, 10), seed=4).astype(np.float64)
    full = denoise(volume, model, voxel_size_mm=6.4)
    result = denoise(volume, model, voxel_size_mm=6.4, slab=(2, 4))
    np.testing.assert_array_equal(result[:2], volume[:2].astype(np.float32))
    np.testing.assert_array_equal(result[4:], volume[4:].astype(np.float32))
    # Inside the slab: the same as a full run (the mean is still the whole volume's).
    np.testing.assert_allclose(result[2:4], full[2:4], rtol=1e-6)
    assert not np.allclose(result[2:4], volume[2:4])


def test_removed_noise_volume_is_volume_minus_denoised(model):
    volume = _volume()
    removed = removed_noise_volume(volume, model, voxel_size_mm=6.4, slab=(1, 3))
    denoised = denoise(volume, model, voxel_size_mm=6.4, slab=(1, 3))
    np.testing.assert_array_equal(removed, volume - denoised)
    assert np.array_equal(removed[0], np.zeros_like(removed[0]))


def test_denoise_refuses_a_far_voxel_size(saved, model):
    volume = _volume()
    # A model without a manifest is assumed to be trained at 6.4 mm.
    denoise(volume, model, voxel_size_mm=7.0)
    with pytest.raises(ValueError, match=r"voxel_size_mm.*6\.4 mm.*5\.76-7\.04 mm.*got 3\.2"):
        denoise(volume, model, voxel_size_mm=3.2)
    # A loaded model uses its manifest's voxel size.
    directory, _ = saved
    save_weights(model, directory, "coarse", manifest={**MANIFEST, "voxel_size_mm": 8.0})
    coarse = load_pretrained("coarse", directory=directory)
    denoise(volume, coarse, voxel_size_mm=8.5)
    with pytest.raises(ValueError, match=r"trained at.*got 6\.4 mm"):
        denoise(volume, coarse, voxel_size_mm=6.4)


def test_denoise_without_model_uses_the_default_model(tmp_path, model, monkeypatch):
    save_weights(model, tmp_path, DEFAULT_MODEL, manifest=MANIFEST)
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path))
    volume = _volume()
    np.testing.assert_array_equal(
        denoise(volume, voxel_size_mm=6.4), denoise(volume, model, voxel_size_mm=6.4)
    )
    with pytest.raises(ValueError, match="voxel_size_mm must be within"):
        denoise(volume, voxel_size_mm=4.0)


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (np.full((3, 5, 5), np.nan), "finite.*NaN or infinite"),
        (np.where(np.arange(75).reshape(3, 5, 5) == 7, np.inf, 1.0), "finite"),
        (-np.ones((3, 5, 5)), ">= 0"),
        (np.ones((5, 5)), r"\(z, y, x\)"),
        (np.ones((0, 5, 5)), r"\(z, y, x\)"),
        (np.ones((3, 5, 5), dtype=bool), "real numbers"),
        (np.ones((3, 5, 5), dtype=complex), "real numbers"),
        (np.full((3, 5, 5), 1e300), "float32"),
    ],
)
def test_denoise_refuses_bad_volumes_before_loading_anything(
    tmp_path, monkeypatch, volume, message
):
    # No weights anywhere: a ValueError (not FileNotFoundError) proves the checks come first.
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match=message):
        denoise(volume, voxel_size_mm=6.4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"voxel_size_mm": 0.0}, "voxel_size_mm"),
        ({"voxel_size_mm": float("nan")}, "voxel_size_mm"),
        ({"voxel_size_mm": 6.4, "batch_size": 0}, "batch_size"),
        ({"voxel_size_mm": 6.4, "batch_size": 2.0}, "batch_size"),
        ({"voxel_size_mm": 6.4, "slab": (2, 2)}, "slab"),
        ({"voxel_size_mm": 6.4, "slab": (0, 4)}, "slab"),
        ({"voxel_size_mm": 6.4, "slab": (1.5, 2)}, "slab"),
        ({"voxel_size_mm": 6.4, "slab": 2}, "slab"),
    ],
)
def test_denoise_refuses_bad_options(tmp_path, monkeypatch, options, message):
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match=message):
        denoise(np.ones((3, 5, 5)), **options)


def test_denoise_refuses_a_non_model():
    with pytest.raises(TypeError, match=r"keras\.Model"):
        denoise(np.ones((3, 5, 5)), "win5rb", voxel_size_mm=6.4)


def test_bad_input_fails_before_tensorflow_is_imported(tmp_path):
    """In a fresh interpreter: NaN input is refused and neither Keras nor TensorFlow loaded."""
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import spect_tutorial.inference as inference
        import spect_tutorial.weights
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        volume = np.ones((3, 5, 5))
        volume[1, 2, 3] = np.nan
        try:
            inference.denoise(volume, voxel_size_mm=6.4)
        except ValueError as error:
            assert "(1, 2, 3)" in str(error), error
        else:
            raise SystemExit("no error")
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        print("ok")
        """
    )
    environment = {**os.environ, WEIGHTS_DIR_ENV: str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_module_constants():
    assert weights_module.WEIGHTS_DIR_ENV == "SPECT_TUTORIAL_WEIGHTS_DIR"
    assert TRAIN_COMMAND == "python -m spect_tutorial.train --config paper"


def test_saved_weights_leave_the_optimizer_state_out(tmp_path):
    import h5py

    model = _tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    data = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    model.fit(data, data, epochs=1, batch_size=2, verbose=0)  # Adam now has slot variables
    path = save_weights(model, tmp_path, NAME, manifest=MANIFEST)
    with h5py.File(path, "r") as handle:
        assert "optimizer" not in handle, "the shipped file holds the network's variables only"
    loaded = load_pretrained(NAME, directory=tmp_path)
    for saved, original in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, original)


def test_strength_blends_the_network_with_its_input():
    from spect_tutorial.inference import blend
    from spect_tutorial.model import win5rb

    volume = np.random.default_rng(0).poisson(5.0, (4, 16, 16)).astype(np.float32)
    model = win5rb(filters=4, seed=0)
    full = denoise(volume, model, voxel_size_mm=6.4)
    half = denoise(volume, model, voxel_size_mm=6.4, strength=0.5)
    np.testing.assert_allclose(half, 0.5 * (volume + full), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(denoise(volume, model, voxel_size_mm=6.4, strength=0.0), volume)
    with pytest.raises(ValueError, match="strength must be"):
        denoise(volume, model, voxel_size_mm=6.4, strength=1.5)
    with pytest.raises(ValueError, match="one shape"):
        blend(volume, volume[:2], 0.5)
