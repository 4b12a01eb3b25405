"""Numerical robustness: empty data and extreme count levels never give NaN or infinity.

Zero-count projections, all-zero slices and count levels of 0.1 % and 1000 % go through
the whole chain (simulation with :func:`simulate_study`, :func:`osem`, the Gaussian and
Butterworth filters, the metrics where they are defined and :func:`denoise` with a tiny
untrained WIN5-RB, so no weights are needed) and every result is finite. All-zero input
gives exactly zero output for OSEM, both filters and the network. Where a quantity is
undefined (a count level set by a phantom without activity, an NRMSE against an all-zero
reference) the package raises a ValueError that says so instead of returning NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

from spect_tutorial import study as study_module
from spect_tutorial.acquisition import SpectGeometry, SpectSystem
from spect_tutorial.filters import butterworth_filter, gaussian_filter_mm, optimal_fwhm
from spect_tutorial.formats import phantom_from_arrays
from spect_tutorial.metrics import (
    coefficient_of_variation,
    defect_ratio,
    normal_myocardium,
    nrmse,
    psnr,
    ssim,
)
from spect_tutorial.phantom import Defect, make_phantom
from spect_tutorial.recon import mlem, osem
from spect_tutorial.study import simulate_study

GEOMETRY = SpectGeometry(n_views=32, n_bins=32, bin_size_mm=12.8)
EXTREME_LEVELS = (0.1, 1000.0)  # percent of the 100 % count level
BUTTERWORTH = {"order": 5, "cutoff_cycles_per_cm": 0.3}
VOXEL_MM = GEOMETRY.bin_size_mm  # the reconstruction grid of the studies (12.8 mm)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(
        shape=(64, 64, 64), voxel_size_mm=6.4, defect=Defect(segments=(4, 10), severity=0.5)
    )


@pytest.fixture(scope="module")
def studies(phantom):
    study_module.clear_cache()
    return {
        level: simulate_study(
            phantom, count_level=level, n_realizations=2, seed=0, geometry=GEOMETRY
        )
        for level in EXTREME_LEVELS
    }


def _models():
    keras = pytest.importorskip("keras")
    from spect_tutorial.model import win5rb

    untrained = win5rb(filters=4, kernel_size=3, depth=3, seed=0)
    # The untrained network is the identity (its branch starts at zero); perturb every
    # variable too, so that the checks also hold for a network that changes its input.
    perturbed = win5rb(filters=4, kernel_size=3, depth=3, seed=1)
    rng = np.random.default_rng(1)
    perturbed.set_weights(
        [
            np.abs(w) + 0.5 if "variance" in v.path else w + 0.1 * rng.standard_normal(w.shape)
            for w, v in zip(perturbed.get_weights(), perturbed.weights, strict=True)
        ]
    )
    models = {"untrained": untrained, "perturbed": perturbed}
    for model in models.values():
        assert isinstance(model, keras.Model)
        # As load_pretrained does: the voxel size the model is taken to be trained at, that
        # of this file's reconstruction grid (denoise refuses a volume far from it).
        object.__setattr__(model, "spect_manifest", {"voxel_size_mm": VOXEL_MM})
    return models


@pytest.fixture(scope="module")
def models():
    return _models()


def _assert_finite(array, what):
    array = np.asarray(array)
    assert np.all(np.isfinite(array)), f"{what} holds NaN or infinity"


def _denoise(volume, model, voxel_size_mm):
    from spect_tutorial.inference import denoise

    return denoise(volume, model, voxel_size_mm=voxel_size_mm)


# ---------------------------------------------------------------------------
# Extreme count levels through the whole chain
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", EXTREME_LEVELS)
def test_simulate_study_at_extreme_count_levels_is_finite(studies, level):
    study = studies[level]
    for name in ("expected", "projections", "recons", "ideal"):
        _assert_finite(getattr(study, name), f"{name} at {level} %")
    assert study.projections.min() >= 0 and study.recons.min() >= 0
    assert study.projections.sum() > 0
    assert np.isfinite(study.counts_per_unit) and study.counts_per_unit > 0


@pytest.mark.filterwarnings("ignore:the optimal FWHM is the largest:RuntimeWarning")
@pytest.mark.parametrize("level", EXTREME_LEVELS)
def test_filters_at_extreme_count_levels_are_finite(studies, level):
    study = studies[level]
    voxel = study.voxel_size_mm
    _assert_finite(
        gaussian_filter_mm(study.recons, 12.0, voxel_size_mm=voxel, axes=(1, 2, 3)), "Gaussian"
    )
    _assert_finite(
        butterworth_filter(study.projections, voxel_size_mm=voxel, **BUTTERWORTH),
        "Butterworth of the projections",
    )
    _assert_finite(
        butterworth_filter(study.recons, voxel_size_mm=voxel, **BUTTERWORTH),
        "Butterworth of the slices",
    )
    best = optimal_fwhm(
        study.recons[0], study.ideal, region=study.evaluation_mask, voxel_size_mm=voxel
    )
    _assert_finite(best.nrmse_curve, "NRMSE curve of optimal_fwhm")


@pytest.mark.parametrize("level", EXTREME_LEVELS)
def test_metrics_at_extreme_count_levels_are_finite(studies, level):
    study = studies[level]
    normal = normal_myocardium(study.myocardium_mask, study.defect_mask)
    values = {
        "nrmse": nrmse(study.recons, study.ideal, study.evaluation_mask),
        "psnr": psnr(study.recons, study.ideal),
        "ssim": ssim(study.recons, study.ideal),
        "cov": coefficient_of_variation(study.recons, normal),
        "defect_ratio": defect_ratio(
            study.recons, defect_mask=study.defect_mask, myocardium_mask=study.myocardium_mask
        ),
    }
    for name, value in values.items():
        _assert_finite(value, f"{name} at {level} %")


@pytest.mark.parametrize("level", EXTREME_LEVELS)
@pytest.mark.parametrize("which", ["untrained", "perturbed"])
def test_denoise_at_extreme_count_levels_is_finite(studies, models, level, which):
    study = studies[level]
    denoised = _denoise(study.recons, models[which], study.voxel_size_mm)
    _assert_finite(denoised, f"denoise at {level} %")
    assert denoised.shape == study.recons.shape
    if which == "untrained":  # the identity
        np.testing.assert_allclose(denoised, study.recons, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [1e-12, 1e12])
def test_denoise_of_tiny_and_huge_values_is_finite_and_scale_equivariant(models, scale):
    volume = np.random.default_rng(0).poisson(5.0, (4, 12, 12)).astype(np.float32)
    reference = _denoise(volume, models["perturbed"], VOXEL_MM)
    scaled = _denoise(volume * np.float32(scale), models["perturbed"], VOXEL_MM)
    _assert_finite(scaled, f"denoise at scale {scale:g}")
    np.testing.assert_allclose(scaled / scale, reference, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# Zero-count projections and all-zero input
# ---------------------------------------------------------------------------


def test_simulate_study_with_zero_counts_gives_zero_images(phantom):
    # 1e-9 % of the counts: about 0.001 expected counts in all views together.
    study = simulate_study(phantom, count_level=1e-9, n_realizations=2, seed=0, geometry=GEOMETRY)
    assert study.projections.sum() == 0
    _assert_finite(study.recons, "recons of zero-count projections")
    assert np.all(study.recons == 0)
    _assert_finite(study.counts_per_unit, "counts_per_unit")


@pytest.mark.parametrize("function", [osem, mlem])
def test_osem_of_zero_count_projections_is_zero(phantom, function):
    system = SpectSystem(phantom.downsample(2).mu, GEOMETRY, voxel_size_mm=12.8)
    zero = np.zeros(system.projection_shape, dtype=np.float32)
    image = function(zero, system, n_iter=2)
    assert image.shape == system.image_shape and np.all(image == 0)
    # A batch with one empty and one measured realization: each on its own.
    measured = system.forward(phantom.downsample(2).activity) * 50.0
    both = function(np.stack([zero, measured]), system, n_iter=2)
    _assert_finite(both, "OSEM batch")
    assert np.all(both[0] == 0) and both[1].max() > 0


def test_osem_with_all_zero_projection_rows_is_finite(studies):
    study = studies[1000.0]
    projections = study.projections.copy()
    projections[:, :, :8] = 0  # the bottom 8 detector rows of every view: no counts
    image = osem(projections, study.system, n_iter=2, n_subsets=4)
    _assert_finite(image, "OSEM with empty rows")
    assert image.min() >= 0 and image.max() > 0


def test_simulate_study_with_all_zero_slices_is_finite(phantom):
    activity = phantom.activity.copy()
    activity[:16] = 0  # the lowest 16 slices (10 cm) hold no activity at all
    emptied = phantom_from_arrays(
        activity,
        phantom.mu,
        voxel_size_mm=phantom.voxel_size_mm,
        lv=phantom.lv,
        masks=phantom.masks,
    )
    study = simulate_study(emptied, count_level=100.0, n_realizations=1, seed=0, geometry=GEOMETRY)
    for name in ("projections", "recons", "ideal"):
        _assert_finite(getattr(study, name), name)
    assert study.recons.max() > 0


def test_filters_keep_all_zero_slices_at_zero_and_all_zero_input_gives_zeros():
    volume = np.random.default_rng(0).poisson(20.0, (6, 16, 16)).astype(np.float32)
    volume[[0, 3]] = 0
    slices = {
        "gaussian": gaussian_filter_mm(volume, 10.0, voxel_size_mm=VOXEL_MM, axes=(-2, -1)),
        "butterworth": butterworth_filter(volume, voxel_size_mm=VOXEL_MM, **BUTTERWORTH),
    }
    for name, filtered in slices.items():
        _assert_finite(filtered, name)
        assert np.all(filtered[[0, 3]] == 0), f"{name} leaks into an all-zero slice"
    zeros = np.zeros((6, 16, 16), dtype=np.float32)
    outputs = {
        "gaussian 3-D": gaussian_filter_mm(zeros, 10.0, voxel_size_mm=VOXEL_MM),
        "gaussian 2-D": gaussian_filter_mm(zeros, 10.0, voxel_size_mm=VOXEL_MM, axes=(-2, -1)),
        "butterworth 2-D": butterworth_filter(zeros, voxel_size_mm=VOXEL_MM, **BUTTERWORTH),
        "butterworth 3-D": butterworth_filter(
            zeros, voxel_size_mm=VOXEL_MM, axes=None, **BUTTERWORTH
        ),
    }
    for name, output in outputs.items():
        assert output.dtype == np.float32 and np.all(output == 0), name


@pytest.mark.parametrize("which", ["untrained", "perturbed"])
def test_denoise_all_zero_input_gives_zeros(models, which):
    zeros = np.zeros((2, 5, 12, 12), dtype=np.float32)
    denoised = _denoise(zeros, models[which], VOXEL_MM)
    assert denoised.dtype == np.float32 and np.all(denoised == 0)


def test_denoise_with_all_zero_slices_is_finite(models):
    volume = np.random.default_rng(0).poisson(5.0, (6, 12, 12)).astype(np.float32)
    volume[[0, 4]] = 0
    for which, model in models.items():
        denoised = _denoise(volume, model, VOXEL_MM)
        _assert_finite(denoised, which)
    # The untrained network is the identity: empty slices stay exactly empty.
    assert np.all(_denoise(volume, models["untrained"], VOXEL_MM)[[0, 4]] == 0)


def test_metrics_of_an_all_zero_image_are_finite(studies):
    study = studies[1000.0]
    zeros = np.zeros_like(study.ideal)
    _assert_finite(nrmse(zeros, study.ideal, study.evaluation_mask), "NRMSE of zeros")
    _assert_finite(psnr(zeros, study.ideal), "PSNR of zeros")
    _assert_finite(ssim(zeros, study.ideal), "SSIM of zeros")


# ---------------------------------------------------------------------------
# Undefined quantities are refused, not returned as NaN
# ---------------------------------------------------------------------------


def test_a_phantom_without_activity_is_refused_not_simulated_as_nan(phantom):
    empty = phantom_from_arrays(
        np.zeros_like(phantom.activity),
        phantom.mu,
        voxel_size_mm=phantom.voxel_size_mm,
        lv=phantom.lv,
        masks=phantom.masks,
    )
    with pytest.raises(ValueError, match=r"zero.*count level|count level.*zero|myocardium"):
        simulate_study(empty, geometry=GEOMETRY)


def test_metrics_against_an_all_zero_reference_are_refused():
    region = np.ones((8, 8, 8), dtype=bool)
    zeros = np.zeros((8, 8, 8))
    with pytest.raises(ValueError, match="reference has zero mean"):
        nrmse(np.ones((8, 8, 8)), zeros, region)
    with pytest.raises(ValueError, match="reference is constant"):
        psnr(np.ones((8, 8, 8)), zeros)
    with pytest.raises(ValueError, match="zero mean over the region"):
        optimal_fwhm(np.ones((8, 8, 8)), zeros, region=region, voxel_size_mm=VOXEL_MM)
