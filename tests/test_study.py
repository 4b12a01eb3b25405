"""simulate_study: count level, noise, reconstruction, caching, scatter, widgets."""

from __future__ import annotations

import numpy as np
import pytest

from spect_tutorial.acquisition import SpectGeometry, SpectSystem
from spect_tutorial.metrics import coefficient_of_variation, nrmse
from spect_tutorial.noise import lao45_myocardium_counts
from spect_tutorial.phantom import Defect, make_phantom
from spect_tutorial.study import simulate_study

# A coarse but complete set-up: 6.4 mm phantom, 12.8 mm detector bins, 32 views.
GEOMETRY = SpectGeometry(n_views=32, n_bins=32, bin_size_mm=12.8)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(
        shape=(64, 64, 64), voxel_size_mm=6.4, defect=Defect(segments=(4, 10), severity=0.5)
    )


def _study(phantom, **kwargs):
    options = {"geometry": GEOMETRY, "n_realizations": 2, "seed": 3, **kwargs}
    return simulate_study(phantom, **options)


@pytest.mark.parametrize("level", [12.5, 100.0, 200.0])
def test_count_level_meets_the_definition(phantom, level):
    study = _study(phantom, count_level=level)
    fine = SpectSystem(phantom.mu, GEOMETRY, voxel_size_mm=6.4)
    myocardium = fine.forward(phantom.activity * phantom.masks["myocardium"])
    measured = lao45_myocardium_counts(study.expected, myocardium, angles_deg=GEOMETRY.angles_deg)
    assert measured == pytest.approx(100.0 * level / 100.0, rel=0.01)
    assert study.total_counts == pytest.approx(study.expected.sum(), rel=1e-6)


def test_noise_falls_with_counts_and_images_share_one_scale(phantom):
    errors, covs = [], []
    for level in (12.5, 50.0, 200.0):
        study = _study(phantom, count_level=level)
        errors.append(nrmse(study.recons, study.ideal, study.evaluation_mask).mean())
        covs.append(coefficient_of_variation(study.recons, study.myocardium_mask).mean())
        # Relative-activity units: the mean over the myocardium is the same at every level.
        assert study.recons[:, study.myocardium_mask].mean() == pytest.approx(
            study.ideal[study.myocardium_mask].mean(), rel=0.05
        )
    assert errors[0] > errors[1] > errors[2]
    assert covs[0] > covs[1] > covs[2]
    # Poisson: 16x the counts -> about 4x less noise (OSEM is not linear: loose bounds).
    assert 2.0 < errors[0] / errors[2] < 6.0


def test_same_seed_same_numbers_other_seed_other_noise(phantom):
    first = _study(phantom, count_level=50.0)
    again = _study(phantom, count_level=50.0)
    other = _study(phantom, count_level=50.0, seed=4)
    np.testing.assert_array_equal(first.projections, again.projections)
    np.testing.assert_array_equal(first.recons, again.recons)
    assert not np.array_equal(first.projections, other.projections)
    # The realizations of one study are independent draws of the same expected counts.
    assert not np.array_equal(first.projections[0], first.projections[1])
    difference = first.projections[0] - first.projections[1]
    assert abs(difference.mean()) < 4 * np.sqrt(2 * first.expected.mean() / difference.size)


def test_ideal_image_is_the_noise_free_osem_and_masks_follow_the_conventions(phantom):
    study = _study(phantom, count_level=100.0)
    assert study.ideal.shape == study.recons.shape[1:] == (32, 32, 32)
    assert study.voxel_size_mm == 12.8
    assert np.all(study.evaluation_mask >= study.myocardium_mask)
    assert study.evaluation_mask.sum() > study.myocardium_mask.sum()
    assert study.defect_mask is not None and study.defect_mask.any()
    assert not np.any(study.defect_mask & ~study.myocardium_mask)
    normal = study.myocardium_mask & ~study.defect_mask
    assert study.ideal[study.defect_mask].mean() < study.ideal[normal].mean()
    # Noise-free data reconstructs closer to the truth than noisy data.
    truth_error = nrmse(study.ideal, study.activity, study.evaluation_mask)
    noisy_error = nrmse(study.recons, study.activity, study.evaluation_mask)
    assert np.all(noisy_error > truth_error)


def test_scatter_adds_counts_and_its_estimate_removes_them(phantom):
    clean = _study(phantom, count_level=100.0)
    kwargs = {"count_level": 100.0, "scatter_to_primary": 0.3}
    corrected = _study(phantom, **kwargs)
    uncorrected = _study(phantom, correct_scatter=False, **kwargs)
    assert corrected.scatter.sum() == pytest.approx(
        0.3 * (corrected.expected.sum() / 1.3), rel=1e-3
    )
    region = clean.evaluation_mask
    error_corrected = nrmse(corrected.ideal, clean.ideal, region)
    error_uncorrected = nrmse(uncorrected.ideal, clean.ideal, region)
    assert error_corrected < 0.5 * error_uncorrected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count_level": 0.0}, "count_level"),
        ({"count_level": -5.0}, "count_level"),
        ({"count_level": float("nan")}, "count_level"),
        ({"n_realizations": 0}, "n_realizations"),
        ({"scatter_to_primary": -0.1}, "scatter_to_primary"),
    ],
)
def test_bad_arguments_are_refused(phantom, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _study(phantom, **kwargs)


def test_phantom_without_myocardium_mask_is_refused(phantom):
    from spect_tutorial.formats import phantom_from_arrays

    bare = phantom_from_arrays(phantom.activity, phantom.mu, voxel_size_mm=6.4, lv=phantom.lv)
    with pytest.raises(ValueError, match="myocardium"):
        _study(bare)
    with pytest.raises(ValueError, match="phantom"):
        simulate_study(phantom.activity)


def test_count_level_explorer_moves_as_taught(phantom):
    from spect_tutorial.widgets import CountLevelExplorer, show_count_levels

    studies = {level: _study(phantom, count_level=level) for level in (12.5, 100.0)}
    explorer = CountLevelExplorer(studies)
    assert explorer.slider.value == 100.0 and "100 % counts" in explorer.metrics.value
    cov_high = coefficient_of_variation(
        explorer.current.recons[0], explorer.current.myocardium_mask
    )
    explorer.slider.value = 12.5  # what an instructor's click does
    assert "12.5 % counts" in explorer.metrics.value
    cov_low = coefficient_of_variation(
        explorer.current.recons[0], explorer.current.myocardium_mask
    )
    assert cov_low > cov_high
    figure = show_count_levels(studies)
    assert len(figure.axes) == 2 * 2 * 2  # two images and two colour bars per level


def test_filter_explorer_moves_as_taught(phantom):
    from spect_tutorial.widgets import FilterExplorer, show_filter_grid

    studies = {level: _study(phantom, count_level=level) for level in (25.0, 100.0)}
    explorer = FilterExplorer(studies)
    unfiltered = explorer.current_metrics()
    explorer.fwhm.value = 15.0  # CoV falls as the FWHM rises
    smoothed = explorer.current_metrics()
    assert smoothed["cov"] < unfiltered["cov"]
    assert "15 mm" in explorer.metrics.value
    explorer.fwhm.value = 0.0
    explorer.count_level.value = 25.0  # noise rises as counts fall
    assert explorer.current_metrics()["nrmse"] > unfiltered["nrmse"]
    figure = show_filter_grid(studies, fwhms_mm=(0.0, 10.0))
    assert len(figure.axes) == 2 * 2 + 1
    with pytest.raises(ValueError, match="max_fwhm_mm"):
        FilterExplorer(studies, max_fwhm_mm=-1.0)


def test_estimated_scatter_correction_uses_the_measured_counts_only(phantom):
    kwargs = {"count_level": 100.0, "scatter_to_primary": 0.3}
    clean = _study(phantom, count_level=100.0)
    estimated = _study(phantom, scatter_correction="estimated", **kwargs)
    oracle = _study(phantom, scatter_correction="true", **kwargs)
    uncorrected = _study(phantom, scatter_correction="none", **kwargs)
    assert uncorrected.additive is None and estimated.scatter_correction == "estimated"
    # One estimate per realization, from its own noisy counts: not the true scatter.
    assert estimated.additive.shape == estimated.projections.shape
    assert not np.allclose(estimated.additive[0], estimated.additive[1])
    assert not np.allclose(estimated.additive[0], estimated.scatter)
    assert estimated.additive.sum() == pytest.approx(2 * estimated.scatter.sum(), rel=0.05)
    region = clean.evaluation_mask
    error = {
        name: nrmse(study.ideal, clean.ideal, region)
        for name, study in (("estimated", estimated), ("none", uncorrected), ("true", oracle))
    }
    assert error["estimated"] < 0.5 * error["none"]
    assert error["true"] < error["none"]
    # The same seed draws the same noise whatever the correction.
    np.testing.assert_array_equal(estimated.projections, oracle.projections)


def test_with_an_additive_term_the_ideal_image_is_computed_per_count_level(phantom):
    kwargs = {"scatter_to_primary": 0.3, "scatter_correction": "estimated"}
    low = _study(phantom, count_level=12.5, **kwargs)
    high = _study(phantom, count_level=200.0, **kwargs)
    region = low.evaluation_mask
    # Not scale-equivariant: the ideal images differ (measured: about 1 %) ...
    assert nrmse(low.ideal, high.ideal, region) > 1e-3
    # ... but both are the same object in the same units.
    assert nrmse(low.ideal, high.ideal, region) < 0.05
    # Without an additive term one ideal image serves every level.
    plain = {"scatter_to_primary": 0.3, "scatter_correction": "none"}
    np.testing.assert_allclose(
        _study(phantom, count_level=12.5, **plain).ideal,
        _study(phantom, count_level=200.0, **plain).ideal,
        rtol=1e-5,
        atol=1e-6,
    )


def test_default_correction_is_unchanged_and_named_acquisitions(phantom):
    from spect_tutorial.study import (
        ACQUISITION_V1,
        ACQUISITION_V2,
        AcquisitionSettings,
        acquisition_settings,
    )

    default = _study(phantom, count_level=50.0, scatter_to_primary=0.3)
    oracle = _study(phantom, count_level=50.0, scatter_to_primary=0.3, scatter_correction="true")
    np.testing.assert_array_equal(default.recons, oracle.recons)
    assert default.scatter_correction == "true"
    v1 = _study(phantom, count_level=50.0, **ACQUISITION_V1.study_kwargs())
    np.testing.assert_array_equal(v1.recons, _study(phantom, count_level=50.0).recons)
    assert ACQUISITION_V2.scatter_to_primary == 0.3
    assert ACQUISITION_V2.scatter_correction == "estimated"
    assert acquisition_settings("v2") is ACQUISITION_V2
    with pytest.raises(ValueError, match="acquisition"):
        acquisition_settings("v3")
    with pytest.raises(ValueError, match="scatter_correction"):
        AcquisitionSettings("v9", scatter_correction="perfect")
    with pytest.raises(ValueError, match="scatter_to_primary"):
        AcquisitionSettings("v9", scatter_to_primary=1.5)
    with pytest.raises(ValueError, match="scatter_correction"):
        _study(phantom, scatter_to_primary=0.3, scatter_correction="oracle")
    with pytest.raises(ValueError, match="correct_scatter"):
        _study(phantom, scatter_to_primary=0.3, correct_scatter="yes")
