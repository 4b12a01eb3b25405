"""Training data: pairs and epochs, split by phantom, normalisation, cache (numpy only)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import fields

import numpy as np
import pytest

from spect_tutorial import datasets
from spect_tutorial.acquisition import SpectGeometry
from spect_tutorial.datasets import (
    IdealStore,
    Noise2NoiseSet,
    build_training_set,
    heart_box,
    normalise,
    synthetic_training_set,
    training_seeds,
    volume_mean,
)
from spect_tutorial.pairs import PairSchedule, epoch_pairs, gather_pairs, pair_batches

# A coarse but complete set-up: 6.4 mm phantoms, 12.8 mm detector bins, 32 views.
GEOMETRY = SpectGeometry(n_views=32, n_bins=32, bin_size_mm=12.8)
SMALL = {
    "n_phantoms": 3,
    "realizations": 2,
    "count_levels": (25.0, 100.0),
    "seed": 5,
    "validation_fraction": 0.34,
    "crop_px": (16, 16),
    "slab_half_width_mm": 40.0,
    "count_splitting": True,
    "shape": (64, 64, 64),
    "voxel_size_mm": 6.4,
    "geometry": GEOMETRY,
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("training-cache")


@pytest.fixture(scope="module")
def simulated(cache_dir):
    return build_training_set(**SMALL, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_training_set(n_phantoms=5, realizations=3, n_slices=3, seed=1)


# ---------------------------------------------------------------------------
# Pairs and epochs
# ---------------------------------------------------------------------------


def test_an_epoch_visits_every_ordered_pair_once_and_reshuffles(synthetic):
    dataset = synthetic.noise2noise
    train = dataset.phantoms("train")
    k = dataset.n_realizations
    expected = {
        (int(p), level, s, i, j)
        for p in train
        for level in range(len(dataset.count_levels))
        for s in range(dataset.n_slices)
        for i in range(k)
        for j in range(k)
        if i != j
    }
    first = epoch_pairs(dataset, seed=3, epoch=0)
    counts = Counter(map(tuple, first.tolist()))
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    again = epoch_pairs(dataset, seed=3, epoch=0)
    second = epoch_pairs(dataset, seed=3, epoch=1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)
    assert sorted(map(tuple, second.tolist())) == sorted(expected)
    assert not np.array_equal(first, epoch_pairs(dataset, seed=4, epoch=0))


def test_schedule_batches_follow_the_epoch_order(synthetic):
    dataset = synthetic.noise2noise
    schedule = PairSchedule(dataset, split="train", seed=3, batch_size=7)
    order = epoch_pairs(dataset, seed=3, epoch=2)
    assert schedule.steps == len(order) // 7
    served = np.concatenate([schedule.indices(2, step)[0] for step in range(schedule.steps)])
    np.testing.assert_array_equal(served, order[: schedule.steps * 7])
    inputs, targets = schedule.batch(2, 0)
    assert inputs.shape == targets.shape == (7, *dataset.slice_shape, 1)
    assert inputs.dtype == targets.dtype == np.float32
    batches = list(pair_batches(dataset, seed=3, epoch=2, batch_size=7))
    assert len(batches) == schedule.steps
    np.testing.assert_array_equal(batches[0][1], targets)


def test_fixed_steps_per_epoch_run_through_consecutive_passes(synthetic):
    dataset = synthetic.noise2noise
    schedule = PairSchedule(dataset, split="train", seed=0, batch_size=10, steps_per_epoch=7)
    n_pairs = schedule.n_pairs
    passes = -(-3 * 7 * 10 // n_pairs) + 1
    stream = np.concatenate([epoch_pairs(dataset, seed=0, epoch=p) for p in range(passes)])
    served = np.concatenate(
        [schedule.indices(epoch, step)[0] for epoch in range(3) for step in range(7)]
    )
    np.testing.assert_array_equal(served, stream[: len(served)])
    # Going back to an early epoch (a resumed run, a prefetching thread) gives the same batch.
    np.testing.assert_array_equal(schedule.indices(0, 0)[0], served[:10])


def test_random_patches_are_shared_by_input_and_target(synthetic):
    dataset = synthetic.noise2noise
    schedule = PairSchedule(dataset, split="train", seed=0, batch_size=4, crop_px=(8, 10))
    pairs, offsets = schedule.indices(0, 0)
    inputs, targets = schedule.batch(0, 0)
    assert inputs.shape == (4, 8, 10, 1)
    full_inputs, full_targets = gather_pairs(dataset, pairs)
    for index, (row, col) in enumerate(offsets):
        np.testing.assert_array_equal(
            inputs[index], full_inputs[index, row : row + 8, col : col + 10]
        )
        np.testing.assert_array_equal(
            targets[index], full_targets[index, row : row + 8, col : col + 10]
        )
    with pytest.raises(ValueError, match="larger than the slices"):
        PairSchedule(dataset, split="train", seed=0, batch_size=4, crop_px=(99, 8))


def test_targets_are_other_realizations_scaled_by_the_input_mean(synthetic):
    dataset = synthetic.noise2noise
    pairs = epoch_pairs(dataset, seed=0, epoch=0)[:5]
    inputs, targets = gather_pairs(dataset, pairs)
    for (p, level, s, i, j), image, target in zip(pairs, inputs, targets, strict=True):
        mean = dataset.means[p, level, i]
        np.testing.assert_allclose(image[..., 0], dataset.images[p, level, i, s] / mean, 1e-6)
        np.testing.assert_allclose(target[..., 0], dataset.images[p, level, j, s] / mean, 1e-6)
    _, ideal = gather_pairs(dataset, pairs, reference=synthetic.reference)
    p, level, s, i, _ = pairs[0]
    np.testing.assert_allclose(
        ideal[0, ..., 0], synthetic.reference.images[p, s] / dataset.means[p, level, i], 1e-6
    )


# ---------------------------------------------------------------------------
# Split by phantom; no ideal image in the Noise2Noise set
# ---------------------------------------------------------------------------


def test_train_and_validation_split_by_phantom(synthetic):
    dataset = synthetic.noise2noise
    train, validation = dataset.phantoms("train"), dataset.phantoms("validation")
    assert set(train).isdisjoint(validation)
    assert sorted([*train, *validation]) == list(range(dataset.n_phantoms))
    assert validation.size == 2  # round(0.34 * 5)
    held_out = epoch_pairs(dataset, split="validation", seed=0, epoch=0)
    assert set(held_out[:, 0]) == set(validation)
    assert set(epoch_pairs(dataset, seed=0, epoch=0)[:, 0]) == set(train)


def test_the_noise2noise_set_has_no_place_for_an_ideal_image(simulated):
    names = {field.name for field in fields(Noise2NoiseSet)}
    assert not any("ideal" in name or "clean" in name or "reference" in name for name in names)
    arrays = [
        value for value in vars(simulated.noise2noise).values() if isinstance(value, np.ndarray)
    ]
    for array in arrays:
        if array.dtype == np.float32:
            assert array.ndim == 6  # only the noisy (phantom, level, K, slice, y, x) stack
    assert isinstance(simulated.reference, IdealStore)


def test_validation_fraction_is_checked():
    with pytest.raises(ValueError, match="none for training"):
        synthetic_training_set(n_phantoms=1, validation_fraction=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        synthetic_training_set(n_phantoms=4, validation_fraction=1.0)
    data = synthetic_training_set(n_phantoms=2, validation_fraction=0.0)
    assert not data.noise2noise.validation.any()


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------


def test_normalisation_is_invariant_to_the_count_level_and_zero_safe():
    rng = np.random.default_rng(0)
    volume = rng.gamma(2.0, 1.0, size=(6, 10, 10)).astype(np.float32)
    reference = normalise(volume, volume_mean(volume))
    for factor in (0.125, 2.0, 1000.0):
        scaled = volume * np.float32(factor)
        np.testing.assert_allclose(normalise(scaled, volume_mean(scaled)), reference, rtol=1e-6)
    assert reference.mean() == pytest.approx(1.0, rel=1e-6)
    zeros = normalise(np.zeros((3, 4, 4), dtype=np.float32), volume_mean(np.zeros((3, 4, 4))))
    assert zeros.dtype == np.float32 and np.all(zeros == 0) and np.all(np.isfinite(zeros))
    with pytest.raises(ValueError, match=">= 0"):
        normalise(volume, -1.0)


def test_an_all_zero_input_volume_gives_zero_pairs_not_nan():
    images = np.zeros((2, 1, 2, 1, 4, 4), dtype=np.float32)
    images[1] = 1.0
    means = images.mean(axis=(3, 4, 5)).astype(np.float64)
    dataset = Noise2NoiseSet(
        images=images,
        means=means,
        count_levels=(100.0,),
        validation=np.array([False, True]),
        voxel_size_mm=6.4,
    )
    inputs, targets = gather_pairs(dataset, np.array([[0, 0, 0, 0, 1], [1, 0, 0, 1, 0]]))
    assert np.all(inputs[0] == 0) and np.all(targets[0] == 0)
    assert np.all(inputs[1] == 1) and np.all(targets[1] == 1)


# ---------------------------------------------------------------------------
# The simulated set and its cache
# ---------------------------------------------------------------------------


def test_simulated_set_shapes_seeds_and_heart_crops(simulated):
    noisy, reference, split = simulated.noise2noise, simulated.reference, simulated.count_split
    # 40 mm at 12.8 mm voxels: slices within +-3 voxels of the LV centre.
    assert noisy.images.shape == (3, 2, 2, 7, 16, 16)
    assert reference.images.shape == reference.myocardium.shape == (3, 7, 16, 16)
    assert split.images.shape == (3, 2, 2, 7, 16, 16)
    assert split.kind == "count_split" and split.count_fraction == 0.5
    assert noisy.voxel_size_mm == 12.8
    seeds = training_seeds(5, 3)
    assert simulated.manifest["phantom_seeds"] == seeds["phantom"]
    assert simulated.manifest["noise_seeds"] == seeds["noise"]
    assert simulated.manifest["validation_phantoms"] == [2]
    assert len(set(seeds["phantom"])) == 3
    # Every crop holds myocardium near its centre slice, and images share one scale.
    for index in range(3):
        assert reference.myocardium[index, 3].any()
    assert np.all(noisy.means > 0) and np.all(split.means > 0)
    ratio = noisy.means / noisy.means.mean()
    assert np.all(np.abs(ratio - 1) < 0.3)
    # Halves at half the counts: noisier than the full-count images, same mean level.
    full_error = np.mean((noisy.images[:, :, 0] - reference.images[:, None]) ** 2)
    half_error = np.mean((split.images[:, :, 0] - reference.images[:, None]) ** 2)
    assert half_error > full_error
    np.testing.assert_allclose(split.means, noisy.means, rtol=0.1)


def test_seeds_do_not_depend_on_the_number_of_phantoms():
    small, large = training_seeds(7, 2), training_seeds(7, 6)
    for key in ("phantom", "noise", "split"):
        assert large[key][:2] == small[key]
    assert set(large["phantom"]).isdisjoint(large["noise"])
    assert training_seeds(8, 2)["phantom"] != small["phantom"]


def test_cache_reloads_identical_arrays_and_a_new_parameter_gets_a_new_cache(
    simulated, cache_dir, monkeypatch
):
    assert simulated.path is not None and simulated.path.parent == cache_dir
    manifest = json.loads((simulated.path / "manifest.json").read_text())
    assert manifest["parameters"]["seed"] == 5
    assert manifest["parameters"]["package_version"]
    assert len(manifest["phantoms"]) == 3

    def no_simulation(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr("spect_tutorial.study.simulate_study", no_simulation)
    again = build_training_set(**SMALL, cache_dir=cache_dir)
    assert again.manifest["loaded_from_cache"] and not simulated.manifest["loaded_from_cache"]
    assert again.path == simulated.path
    np.testing.assert_array_equal(again.noise2noise.images, simulated.noise2noise.images)
    np.testing.assert_array_equal(again.noise2noise.means, simulated.noise2noise.means)
    np.testing.assert_array_equal(again.reference.images, simulated.reference.images)
    np.testing.assert_array_equal(again.count_split.images, simulated.count_split.images)
    assert again.noise2noise.fingerprint() == simulated.noise2noise.fingerprint()
    with pytest.raises(AssertionError, match="cache should have been used"):
        build_training_set(**{**SMALL, "seed": 6}, cache_dir=cache_dir)
    monkeypatch.undo()
    other = build_training_set(
        **{**SMALL, "n_phantoms": 2, "count_splitting": False, "validation_fraction": 0.5},
        cache_dir=cache_dir,
    )
    assert other.path != simulated.path
    assert other.count_split is None
    # Same seed: the first phantoms are the same phantoms with the same noise.
    np.testing.assert_array_equal(other.noise2noise.images[0], simulated.noise2noise.images[0])


def test_heart_box_stays_inside_the_volume():
    box = heart_box((32, 32, 32), (190.0, 0.0, 0.0), 12.8, crop_px=(8, 8), slab_half_width_mm=30)
    assert box[2] == slice(24, 32)  # pushed back inside instead of padded
    with pytest.raises(ValueError, match="larger than the volume"):
        heart_box((32, 32, 32), (0, 0, 0), 12.8, crop_px=(40, 8), slab_half_width_mm=30)
    full = heart_box((32, 30, 28), (0, 0, 0), 12.8, crop_px=None, slab_half_width_mm=None)
    assert full == (slice(0, 32), slice(0, 30), slice(0, 28))


def test_importing_datasets_does_not_import_tensorflow():
    code = (
        "import sys, spect_tutorial.datasets\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert datasets.__all__


# --- Training set v2: acquisition, per-phantom resume, the preset ---------------------

V2_SMALL = {
    **SMALL,
    "count_levels": (12.5, 200.0),
    "acquisition": "v2",
    "defect_model": "segments",
    "defect_probability": 1.0,
}


def test_v2_set_resumes_per_phantom_and_keeps_ideals_per_level(tmp_path, monkeypatch):
    calls = []
    simulate = datasets._simulate_phantom

    def counting(**kwargs):
        calls.append(kwargs["phantom_seed"])
        return simulate(**kwargs)

    monkeypatch.setattr(datasets, "_simulate_phantom", counting)
    monkeypatch.setenv(datasets.CACHE_ENV_VARIABLE, str(tmp_path))
    first = build_training_set(**{**V2_SMALL, "n_phantoms": 2, "validation_fraction": 0.5})
    assert first.path.parent == tmp_path / "training"  # the environment's cache root
    assert len(calls) == 2
    assert first.manifest["acquisition"]["name"] == "v2"
    levels = first.reference.level_images
    assert levels.shape[:2] == (2, 2)
    # The reference image is the level nearest 100 % (here 12.5 %), and levels differ.
    np.testing.assert_array_equal(first.reference.images, levels[:, 0])
    assert not np.allclose(levels[:, 0], levels[:, 1])
    # An interrupted build of a larger set: its first phantoms are reloaded, not simulated.
    bigger = build_training_set(**V2_SMALL)
    assert len(calls) == 3
    np.testing.assert_array_equal(bigger.noise2noise.images[:2], first.noise2noise.images)
    assert bigger.count_split is not None and bigger.count_split.images.shape[2] == 2
    # The v1 set's parameters (its cache key) do not mention the new options.
    v1 = build_training_set(**{**SMALL, "n_phantoms": 2, "validation_fraction": 0.5})
    assert "acquisition" not in v1.manifest["parameters"]
    assert v1.reference.level_images is None


def test_workers_simulate_the_same_set(simulated, tmp_path):
    # Every phantom has its own seeds: two processes build exactly the one-process set,
    # with a cache (each worker writes its phantom's file) and without one.
    for cache in (tmp_path / "cache", None):
        parallel = build_training_set(**SMALL, cache_dir=cache, workers=2)
        np.testing.assert_array_equal(parallel.noise2noise.images, simulated.noise2noise.images)
        np.testing.assert_array_equal(parallel.reference.images, simulated.reference.images)
        np.testing.assert_array_equal(parallel.count_split.images, simulated.count_split.images)
        assert parallel.manifest["phantoms"] == simulated.manifest["phantoms"]
    assert len(list((tmp_path / "cache").glob("phantoms-*/*.npz"))) == SMALL["n_phantoms"]


def test_v2_acquisition_changes_the_noisy_images_not_the_phantoms(tmp_path):
    options = {**V2_SMALL, "n_phantoms": 2, "validation_fraction": 0.5, "cache_dir": None}
    v2 = build_training_set(**options)
    v1 = build_training_set(**{**options, "acquisition": "v1"})
    assert v1.manifest["phantoms"] == v2.manifest["phantoms"]
    assert not np.allclose(v1.noise2noise.images, v2.noise2noise.images)
    with pytest.raises(ValueError, match="acquisition"):
        build_training_set(**{**options, "acquisition": "v7"})
    with pytest.raises(ValueError, match="defect_model"):
        build_training_set(**{**options, "defect_model": "random"})


def test_the_v2_preset_has_enough_defects_anywhere_and_no_held_out_patient():
    from spect_tutorial.phantom import random_phantom
    from spect_tutorial.protocol import EVALUATION_PHANTOMS, check_disjoint_from_evaluation

    preset = datasets.TRAINING_SET_V2
    assert preset["n_phantoms"] >= 96 and preset["acquisition"] == "v2"
    assert tuple(preset["count_levels"]) == (12.5, 25.0, 50.0, 100.0, 200.0)
    seeds = training_seeds(preset["seed"], preset["n_phantoms"])["phantom"]
    check_disjoint_from_evaluation(seeds)
    assert not {entry.seed for entry in EVALUATION_PHANTOMS} & set(seeds)
    # The draws do not depend on the grid: count the defects on a tiny one.
    defects = [
        random_phantom(
            seed=seed,
            shape=(8, 8, 8),
            voxel_size_mm=51.2,
            defect_probability=preset["defect_probability"],
            defect_model=preset["defect_model"],
        ).parameters["defect"]
        for seed in seeds
    ]
    drawn = [defect for defect in defects if defect]
    assert len(drawn) >= 0.6 * len(seeds)
    assert any("transmurality" in defect for defect in drawn)
    covered = set().union(*(defect["segments"] for defect in drawn))
    assert covered == set(range(1, 18))
