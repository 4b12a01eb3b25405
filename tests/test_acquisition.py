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
