"""Determinism: each chapter's core computation, run twice with the same seed, is bitwise equal.

"Bitwise" means ``np.testing.assert_array_equal`` on the same machine and thread count;
across machines only the metrics are expected to agree (to about 1e-5), which this file
cannot check and does not pretend to: no number recorded on one machine is hard-coded
here. :func:`test_simulate_study_is_bitwise_equal_in_a_fresh_interpreter` checks the
next best thing, a second Python process on this machine.

Each test names the function it runs. Everything uses a 64^3 phantom of 6.4 mm voxels
and a small camera (32 views of 32 bins of 12.8 mm) so that the file runs in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from spect_tutorial import study as study_module
from spect_tutorial.acquisition import SpectGeometry, SpectSystem
from spect_tutorial.datasets import build_training_set, synthetic_training_set
from spect_tutorial.filters import optimal_fwhm
from spect_tutorial.metrics import nrmse, wall_thickness
from spect_tutorial.phantom import Defect, make_phantom, random_phantom
from spect_tutorial.phantom_file import phantom_hash
from spect_tutorial.polar import polar_map
from spect_tutorial.study import simulate_study

REPOSITORY = Path(__file__).resolve().parent.parent
SHAPE, VOXEL_MM = (64, 64, 64), 6.4
GEOMETRY = SpectGeometry(n_views=32, n_bins=32, bin_size_mm=12.8)
STUDY_OPTIONS = {"count_level": 50.0, "n_realizations": 2, "geometry": GEOMETRY}


def _phantom():
    return make_phantom(
        shape=SHAPE, voxel_size_mm=VOXEL_MM, defect=Defect(segments=(4, 10), severity=0.5)
    )


def _simulate(seed):
    study_module.clear_cache()  # recompute the noise-free part too, not just the noise
    return simulate_study(_phantom(), seed=seed, **STUDY_OPTIONS)


def _assert_equal_arrays(first, second):
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@pytest.fixture(scope="module")
def studies():
    """simulate_study twice with seed 0 (the cache cleared in between) and once with seed 1."""
    return _simulate(0), _simulate(0), _simulate(1)


# ---------------------------------------------------------------------------
# Phantoms and the system model
# ---------------------------------------------------------------------------


def test_make_phantom_is_bitwise_equal():
    first, second = _phantom(), _phantom()
    assert phantom_hash(first) == phantom_hash(second)
    np.testing.assert_array_equal(first.activity, second.activity)


def test_random_phantom_same_seed_is_bitwise_equal_and_another_seed_differs():
    options = {"shape": SHAPE, "voxel_size_mm": VOXEL_MM}
    first, second = random_phantom(seed=11, **options), random_phantom(seed=11, **options)
    assert phantom_hash(first) == phantom_hash(second)
    other = random_phantom(seed=12, **options)
    assert phantom_hash(other) != phantom_hash(first)
    assert not np.array_equal(other.activity, first.activity)


def test_spect_system_forward_and_backward_are_bitwise_equal():
    phantom = _phantom()
    results = []
    for _ in range(2):
        system = SpectSystem(phantom.mu, GEOMETRY, voxel_size_mm=VOXEL_MM)  # fresh caches
        projections = system.forward(phantom.activity)
        results.append({"forward": projections, "backward": system.backward(projections)})
    _assert_equal_arrays(*results)
    assert np.all(np.isfinite(results[0]["forward"])) and results[0]["forward"].max() > 0


# ---------------------------------------------------------------------------
# Simulation, reconstruction and the measurements
# ---------------------------------------------------------------------------


def _study_arrays(study):
    return {
        "projections": study.projections,
        "recons": study.recons,
        "ideal": study.ideal,
        "expected": study.expected,
    }


def test_simulate_study_same_seed_is_bitwise_equal(studies):
    first, second, _ = studies
    _assert_equal_arrays(_study_arrays(first), _study_arrays(second))
    assert first.counts_per_unit == second.counts_per_unit


def test_simulate_study_another_seed_draws_other_noise(studies):
    first, _, other = studies
    np.testing.assert_array_equal(other.expected, first.expected)  # same object, same means
    np.testing.assert_array_equal(other.ideal, first.ideal)
    assert not np.array_equal(other.projections, first.projections)
    assert not np.array_equal(other.recons, first.recons)
    # The two realizations of one study are independent draws too.
    assert not np.array_equal(first.projections[0], first.projections[1])


def test_metrics_of_the_same_study_are_bitwise_equal(studies):
    first, second, _ = studies
    values = [nrmse(study.recons, study.ideal, study.evaluation_mask) for study in (first, second)]
    np.testing.assert_array_equal(values[0], values[1])


def test_optimal_fwhm_is_bitwise_equal(studies):
    first, second, _ = studies
    results = [
        optimal_fwhm(
            study.recons[0],
            study.ideal,
            region=study.evaluation_mask,
            voxel_size_mm=study.voxel_size_mm,
        )
        for study in (first, second)
    ]
    assert results[0].fwhm_mm == results[1].fwhm_mm
    np.testing.assert_array_equal(results[0].nrmse_curve, results[1].nrmse_curve)


def test_wall_thickness_is_bitwise_equal(studies):
    first, second, _ = studies
    length = _phantom().parameters["anatomy"]["lv_cavity_length_mm"]
    results = [
        wall_thickness(
            study.recons[0],
            study.lv,
            voxel_size_mm=study.voxel_size_mm,
            base_apex_mm=(-length / 2, length / 2),
        )
        for study in (first, second)
    ]
    np.testing.assert_array_equal(results[0].values_mm, results[1].values_mm)
    assert results[0].median_mm == results[1].median_mm


def test_polar_map_is_bitwise_equal(studies):
    first, second, _ = studies
    maps = [
        polar_map(study.recons[0], study.lv, voxel_size_mm=study.voxel_size_mm)
        for study in (first, second)
    ]
    np.testing.assert_array_equal(maps[0].values, maps[1].values)
    assert maps[0].base_apex_mm == maps[1].base_apex_mm


def test_simulate_study_is_bitwise_equal_in_a_fresh_interpreter(tmp_path, studies):
    """The same seed in another Python process gives the same recons, bit for bit."""
    output = tmp_path / "recons.npy"
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        from test_determinism import _simulate
        study = _simulate(0)
        np.save({str(output)!r}, np.stack([study.recons, study.projections]))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    recons, projections = np.load(output)
    np.testing.assert_array_equal(recons, studies[0].recons)
    np.testing.assert_array_equal(projections, studies[0].projections)


# ---------------------------------------------------------------------------
# Training data and training
# ---------------------------------------------------------------------------


def _training_set(seed):
    data = build_training_set(
        n_phantoms=2,
        realizations=2,
        count_levels=(50.0,),
        seed=seed,
        crop_px=(16, 16),
        slab_half_width_mm=30.0,
        shape=SHAPE,
        voxel_size_mm=VOXEL_MM,
        geometry=GEOMETRY,
        n_iter=2,
        cache_dir=None,
    )
    return {
        "noisy": data.noise2noise.images,
        "means": data.noise2noise.means,
        "ideal": data.reference.images,
        "myocardium": data.reference.myocardium,
    }


def test_build_training_set_same_seed_is_bitwise_equal_and_another_seed_differs():
    first = _training_set(3)
    _assert_equal_arrays(first, _training_set(3))
    other = _training_set(4)
    assert not np.array_equal(other["noisy"], first["noisy"])


def test_synthetic_training_set_same_seed_is_bitwise_equal_and_another_seed_differs():
    def arrays(seed):
        data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2, seed=seed)
        return {"noisy": data.noise2noise.images, "ideal": data.reference.images}

    first = arrays(5)
    _assert_equal_arrays(first, arrays(5))
    assert not np.array_equal(arrays(6)["noisy"], first["noisy"])


def test_train_noise2noise_one_epoch_gives_bitwise_equal_weights(tmp_path):
    pytest.importorskip("keras")
    from spect_tutorial.training import TrainingConfig, train_noise2noise

    data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2, seed=0)
    config = TrainingConfig(
        epochs=1, batch_size=4, steps_per_epoch=2, validation_steps=1, crop_px=(12, 12), seed=1
    )
    weights = []
    for run in range(2):
        result = train_noise2noise(
            data.noise2noise,
            model={"filters": 4, "kernel_size": 3, "depth": 3},
            config=config,
            work_dir=tmp_path / f"run{run}",
            verbose=False,
        )
        assert result.epochs_completed == 1
        weights.append([np.array(weight) for weight in result.model.get_weights()])
    assert len(weights[0]) == len(weights[1])
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)
