"""The SPECT system model: adjointness, conservation, resolution, geometry, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from spect_tutorial.acquisition import SpectGeometry, SpectSystem, scatter_projections
from spect_tutorial.phantom import make_phantom


@pytest.fixture(scope="module")
def clinical():
    return make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)


def _adjoint_mismatch(system: SpectSystem, seed: int, views=None) -> float:
    rng = np.random.default_rng(seed)
    x = rng.random(system.image_shape).astype(np.float32)
    n_views = system.projection_shape[0] if views is None else len(views)
    y = rng.random((n_views, *system.projection_shape[1:])).astype(np.float32)
    forward = np.vdot(system.forward(x, views=views).astype(np.float64), y)
    backward = np.vdot(x.astype(np.float64), system.backward(y, views=views))
    return abs(forward - backward) / abs(forward)


@pytest.mark.parametrize(
    ("attenuation", "resolution"), [(True, True), (False, True), (True, False)]
)
def test_reconstruction_system_is_adjoint(clinical, attenuation, resolution):
    system = SpectSystem(
        clinical.mu, voxel_size_mm=6.4, attenuation=attenuation, resolution=resolution
    )
    assert _adjoint_mismatch(system, 0) < 1e-4
    assert _adjoint_mismatch(system, 1, views=[3, 11, 19, 27]) < 1e-4


def test_simulation_system_is_adjoint_and_bins_to_the_detector():
    fine = make_phantom(shape=(64, 128, 128), voxel_size_mm=3.2)
    system = SpectSystem(fine.mu, SpectGeometry(n_views=8), voxel_size_mm=3.2)
    assert system.projection_shape == (8, 32, 64)
    assert _adjoint_mismatch(system, 2) < 1e-4


def test_each_view_conserves_activity_without_attenuation(clinical):
    system = SpectSystem(clinical.mu, voxel_size_mm=6.4, attenuation=False)
    totals = system.forward(clinical.activity).sum(axis=(1, 2), dtype=np.float64)
    expected = clinical.activity.sum(dtype=np.float64) * 0.64**3  # voxel volume in cm^3
    np.testing.assert_allclose(totals, expected, rtol=0.01)


def test_attenuation_removes_counts_and_more_through_the_body(clinical):
    with_mu = SpectSystem(clinical.mu, voxel_size_mm=6.4).forward(clinical.activity)
    without = SpectSystem(clinical.mu, voxel_size_mm=6.4, attenuation=False).forward(
        clinical.activity
    )
    transmitted = with_mu.sum(axis=(1, 2)) / without.sum(axis=(1, 2))
    assert np.all(transmitted < 0.6) and np.all(transmitted > 0.1)


def test_uniform_water_cylinder_attenuates_as_exp_of_the_path():
    # A point at the centre of a water cylinder of radius 100 mm: every view sees
    # exp(-0.15 / cm x 10 cm) of it.
    geometry = SpectGeometry(n_views=8, n_bins=64, bin_size_mm=4.0)
    coordinate = (np.arange(64) - 31.5) * 4.0
    yy, xx = np.meshgrid(coordinate, coordinate, indexing="ij")
    mu = np.broadcast_to(np.where(xx**2 + yy**2 <= 100.0**2, 0.15, 0.0), (16, 64, 64))
    point = np.zeros((16, 64, 64), dtype=np.float32)
    point[8, 31:33, 31:33] = 1.0
    attenuated = SpectSystem(mu, geometry, voxel_size_mm=4.0).forward(point).sum(axis=(1, 2))
    free = SpectSystem(mu, geometry, voxel_size_mm=4.0, attenuation=False).forward(point)
    np.testing.assert_allclose(attenuated / free.sum(axis=(1, 2)), np.exp(-1.5), rtol=0.03)


def _fitted_fwhm_mm(profile: np.ndarray, spacing_mm: float) -> float:
    positions = np.arange(profile.size) * spacing_mm

    def gaussian(x, height, centre, sigma):
        return height * np.exp(-0.5 * ((x - centre) / sigma) ** 2)

    start = (profile.max(), positions[np.argmax(profile)], 3.0)
    (_, _, sigma), _ = optimize.curve_fit(gaussian, positions, profile, p0=start)
    return abs(sigma) * 2.3548


@pytest.mark.parametrize("depth_mm", [60.0, 150.0, 250.0])
def test_point_source_has_the_modelled_fwhm(depth_mm):
    # 1 mm test bins: the response is sampled finely enough for a Gaussian fit.
    geometry = SpectGeometry(
        n_views=1, start_angle_deg=0.0, n_bins=160, bin_size_mm=1.0, radius_mm=depth_mm + 20.0
    )
    point = np.zeros((24, 160, 160), dtype=np.float32)
    # 20 mm in front of the rotation axis towards the anterior detector (-y).
    point[12, 79 - 20, 80] = 1.0
    system = SpectSystem(np.zeros_like(point), geometry, voxel_size_mm=1.0, attenuation=False)
    projection = system.forward(point)[0]
    distance = depth_mm + 20.0 - (20.5)  # detector face to the voxel centre
    expected = float(geometry.fwhm_mm(distance))
    along_bins = _fitted_fwhm_mm(projection[12], 1.0)
    along_z = _fitted_fwhm_mm(projection[:, 80], 1.0)
    assert along_bins == pytest.approx(expected, rel=0.05)
    assert along_z == pytest.approx(expected, rel=0.05)


def test_default_geometry_matches_the_asnc_protocol():
    geometry = SpectGeometry()
    assert geometry.n_views == 64 and geometry.angles_deg[0] == -45.0
    assert geometry.angles_deg[-1] + 180 / 64 == pytest.approx(135.0)
    assert float(geometry.fwhm_mm(100.0)) == pytest.approx(7.4, abs=0.1)
    assert SpectGeometry.full_circle().angles_deg[-1] == pytest.approx(-45 + 360 * 63 / 64)


def test_views_turn_towards_the_patients_left():
    # A source on the patient's left (+x) is nearer the detector at 90 deg (left lateral)
    # than at -90 deg: sharper and less attenuated.
    geometry = SpectGeometry(
        n_views=4, start_angle_deg=-90.0, arc_deg=360.0, n_bins=32, bin_size_mm=6.4
    )
    mu = np.full((8, 32, 32), 0.15, dtype=np.float32)
    source = np.zeros((8, 32, 32), dtype=np.float32)
    source[4, 15, 26] = 1.0  # x = +67 mm (left)
    projections = SpectSystem(mu, geometry, voxel_size_mm=6.4).forward(source)
    angles = geometry.angles_deg.tolist()
    left, right = angles.index(90.0), angles.index(-90.0)
    assert projections[left].sum() > 2 * projections[right].sum()
    # At angle 0 (anterior detector), bins increase towards the patient's left.
    front = projections[angles.index(0.0)]
    assert np.argmax(front.sum(axis=0)) > 16


def test_batches_and_view_subsets_agree_with_single_calls(clinical):
    system = SpectSystem(clinical.mu, voxel_size_mm=6.4)
    batch = np.stack([clinical.activity, 2 * clinical.activity])
    both = system.forward(batch, views=[0, 5, 9])
    np.testing.assert_allclose(both[1], 2 * both[0], rtol=1e-5)
    full = system.forward(clinical.activity)
    np.testing.assert_allclose(both[0], full[[0, 5, 9]], rtol=1e-5, atol=1e-6)
    back = system.backward(np.stack([full, full]))
    np.testing.assert_allclose(back[0], back[1])


def test_scatter_model_carries_the_requested_fraction():
    primary = np.zeros((4, 16, 16), dtype=np.float32)
    primary[:, 6:10, 6:10] = 5.0
    scatter = scatter_projections(primary, SpectGeometry(), scatter_to_primary=0.3)
    np.testing.assert_allclose(scatter.sum(axis=(1, 2)), 0.3 * primary.sum(axis=(1, 2)), rtol=1e-5)
    assert scatter.max() < primary.max() * 0.3  # a broad, low halo
    assert np.all(scatter >= 0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, p: s.forward(-p.activity - 1), "activity"),
        (lambda s, p: s.forward(p.activity * np.nan), "NaN"),
        (lambda s, p: s.forward(p.activity[:32]), "volume"),
        (lambda s, p: s.backward(np.ones((64, 64, 63))), "projections"),
        (lambda s, p: s.forward(p.activity, views=[64]), "views"),
        (lambda s, p: s.forward(p.activity, views=[]), "views"),
    ],
)
def test_bad_input_is_refused(clinical, call, message):
    system = SpectSystem(clinical.mu, voxel_size_mm=6.4)
    with pytest.raises(ValueError, match=message):
        call(system, clinical)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voxel_size_mm": 5.0}, "divide"),
        ({"voxel_size_mm": 3.2}, "shape"),
        ({"mu": None}, "mu"),
        ({"mu": np.full((64, 64, 64), -0.1)}, "mu"),
        ({"geometry": "ASNC"}, "geometry"),
    ],
)
def test_bad_system_arguments_are_refused(clinical, kwargs, message):
    arguments = {"mu": clinical.mu, "voxel_size_mm": 6.4, **kwargs}
    with pytest.raises(ValueError, match=message):
        SpectSystem(arguments.pop("mu"), arguments.pop("geometry", None), **arguments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_views": 0}, "n_views"), ({"bin_size_mm": -1.0}, "bin_size_mm"), ({"arc_deg": 0}, "arc")],
)
def test_bad_geometry_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpectGeometry(**kwargs)


# --- Scatter estimate from the measured counts (convolution subtraction) -------------


@pytest.fixture(scope="module")
def primary_and_scatter():
    from spect_tutorial.phantom import make_phantom

    phantom = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
    geometry = SpectGeometry(n_views=16, n_bins=64, bin_size_mm=6.4)
    primary = SpectSystem(phantom.mu, geometry, voxel_size_mm=6.4).forward(phantom.activity)
    primary *= 100.0 / primary.max()
    return geometry, primary, scatter_projections(primary, geometry, scatter_to_primary=0.3)


def test_scatter_estimate_from_noise_free_data_is_close_to_the_true_scatter(
    primary_and_scatter,
):
    from spect_tutorial.acquisition import estimate_scatter

    geometry, primary, scatter = primary_and_scatter
    estimate = estimate_scatter(primary + scatter, geometry, scatter_to_primary=0.3)
    # Measured here: totals per view within 0.1 %, mean absolute error 4-6 % of the
    # mean scatter (the estimate's reflecting edges versus the model's rescaled halo).
    np.testing.assert_allclose(estimate.sum(axis=(1, 2)), scatter.sum(axis=(1, 2)), rtol=0.005)
    assert np.abs(estimate - scatter).sum() / scatter.sum() < 0.08
    over_object = primary > 0.5 * primary.max()
    bias = (estimate - scatter)[over_object].mean() / scatter[over_object].mean()
    assert abs(bias) < 0.06
    # Far better than no correction at all, and than one unrefined convolution.
    once = estimate_scatter(primary + scatter, geometry, scatter_to_primary=0.3, n_iter=1)
    assert np.abs(once - scatter).sum() > 3 * np.abs(estimate - scatter).sum()


def test_scatter_estimate_is_linear_and_scales_with_the_count_level(primary_and_scatter):
    from spect_tutorial.acquisition import estimate_scatter

    geometry, primary, scatter = primary_and_scatter
    measured = primary + scatter
    other = np.roll(measured, 5, axis=-1)
    combined = estimate_scatter(2.0 * measured + 0.5 * other, geometry)
    separate = 2.0 * estimate_scatter(measured, geometry) + 0.5 * estimate_scatter(other, geometry)
    np.testing.assert_allclose(combined, separate, rtol=1e-4, atol=1e-4 * combined.max())
    for level in (0.125, 2.0):
        np.testing.assert_allclose(
            estimate_scatter(level * measured, geometry),
            level * estimate_scatter(measured, geometry),
            rtol=1e-4,
            atol=1e-5 * level * measured.max(),
        )


def test_scatter_estimate_of_noisy_data_is_smooth_and_unbiased(primary_and_scatter):
    from spect_tutorial.acquisition import estimate_scatter

    geometry, primary, scatter = primary_and_scatter
    rng = np.random.default_rng(0)
    noisy = rng.poisson(primary + scatter).astype(np.float32)
    from_noisy = estimate_scatter(noisy, geometry)
    from_expected = estimate_scatter(primary + scatter, geometry)
    assert np.all(from_noisy >= 0)
    # Its noise is far below the data's (a broad kernel averages many pixels).
    assert np.std(from_noisy - from_expected) < 0.05 * np.std(noisy - (primary + scatter))
    assert from_noisy.sum() == pytest.approx(from_expected.sum(), rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"measured": np.zeros((4, 4))}, "measured must be"),
        ({"measured": -np.ones((2, 4, 4))}, "must be >= 0"),
        ({"measured": np.full((2, 4, 4), np.nan)}, "NaN"),
        ({"measured": np.ones((2, 4, 4), bool)}, "bool"),
        ({"scatter_to_primary": 1.0}, "scatter_to_primary"),
        ({"scatter_to_primary": -0.1}, "scatter_to_primary"),
        ({"fwhm_mm": 0.0}, "fwhm_mm"),
        ({"n_iter": 0}, "n_iter"),
        ({"n_iter": 2.5}, "n_iter"),
        ({"geometry": "ASNC"}, "geometry"),
    ],
)
def test_scatter_estimate_refuses_bad_inputs(kwargs, message):
    from spect_tutorial.acquisition import estimate_scatter

    options = {"measured": np.ones((2, 4, 4), np.float32), "geometry": SpectGeometry()}
    options.update(kwargs)
    measured, geometry = options.pop("measured"), options.pop("geometry")
    with pytest.raises(ValueError, match=message):
        estimate_scatter(measured, geometry, **options)


def test_scatter_estimate_cannot_be_given_the_true_scatter():
    import inspect

    from spect_tutorial.acquisition import estimate_scatter

    names = set(inspect.signature(estimate_scatter).parameters)
    assert names == {"measured", "geometry", "scatter_to_primary", "fwhm_mm", "n_iter"}
