"""The analytic phantom: geometry, voxelisation, defects, random draws, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spect_tutorial.frame import LVGeometry, axis_coordinates_mm, mm_to_index
from spect_tutorial.phantom import (
    Anatomy,
    Defect,
    Uptake,
    make_phantom,
    organ_shapes,
    random_phantom,
)
from spect_tutorial.segments import aha_segment, lv_cylindrical_coordinates
from spect_tutorial.shapes import (
    Ellipsoid,
    EllipticCylinderZ,
    OffsetSpheroidShell,
    SpheroidCavity,
    distance_to_ellipse,
)
from spect_tutorial.voxelize import paint_occupancy

SHAPE = (128, 128, 128)
VOXEL_MM = 3.2


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(defect=Defect(segments=(4, 10, 15), severity=0.6))


def _lv_shapes(anatomy: Anatomy) -> tuple[SpheroidCavity, OffsetSpheroidShell]:
    lv = anatomy.lv
    base = lv.center - anatomy.lv_cavity_length_mm / 2 * lv.long_axis
    frame = {
        "base_center_mm": tuple(base),
        "long_axis": tuple(lv.long_axis),
        "inner_radius_mm": anatomy.lv_inner_radius_mm,
        "cavity_length_mm": anatomy.lv_cavity_length_mm,
    }
    return SpheroidCavity(**frame), OffsetSpheroidShell(
        **frame, wall_thickness_mm=anatomy.wall_thickness_mm
    )


@pytest.mark.parametrize("wall_mm", [6.0, 9.0])
def test_organ_volumes_match_analytic_volumes(wall_mm):
    anatomy = Anatomy(wall_thickness_mm=wall_mm)
    cavity, wall = _lv_shapes(anatomy)
    lung = Ellipsoid(anatomy.left_lung_center_mm, anatomy.left_lung_semi_axes_mm)
    tilted = Ellipsoid(
        (10.0, -5.0, 3.0),
        (28.0, 42.0, 55.0),
        (
            tuple(anatomy.lv.septal_direction),
            tuple(anatomy.lv.anterior_direction),
            tuple(anatomy.lv.long_axis),
        ),
    )
    body = EllipticCylinderZ((0.0, 0.0), anatomy.body_semi_axes_mm)
    voxel_volume = VOXEL_MM**3
    field_of_view_z_mm = SHAPE[0] * VOXEL_MM
    expected = {
        "lung": lung.volume_mm3(),
        "tilted": tilted.volume_mm3(),
        "cavity": cavity.volume_mm3(),
        "wall": wall.volume_mm3(),
        "body": body.area_mm2() * field_of_view_z_mm,
    }
    shapes = {"lung": lung, "tilted": tilted, "cavity": cavity, "wall": wall, "body": body}
    for name, shape in shapes.items():
        occupancy = paint_occupancy([(name, shape)], SHAPE, VOXEL_MM)[name]
        measured = float(occupancy.sum(dtype=np.float64)) * voxel_volume
        assert measured == pytest.approx(expected[name], rel=0.01), name


def test_myocardial_wall_volume_is_close_to_textbook_values():
    # A 50 mm cavity of 70 mm with a 9 mm wall: about 100-110 mL, a normal LV (mass ~110 g).
    _, wall = _lv_shapes(Anatomy())
    assert 90_000 < wall.volume_mm3() < 130_000


def test_distance_to_ellipse_is_exact_on_axes_and_against_brute_force():
    a, b = 25.0, 70.0
    assert distance_to_ellipse(np.array([40.0]), np.array([0.0]), a, b)[0] == pytest.approx(15.0)
    assert distance_to_ellipse(np.array([0.0]), np.array([80.0]), a, b)[0] == pytest.approx(10.0)
    rng = np.random.default_rng(0)
    points = rng.uniform([0, 0], [60, 100], size=(200, 2))
    theta = np.linspace(0, np.pi / 2, 200_001)
    curve = np.stack([a * np.cos(theta), b * np.sin(theta)], axis=1)
    inside = (points[:, 0] / a) ** 2 + (points[:, 1] / b) ** 2 <= 1
    brute = np.array([np.min(np.hypot(*(curve - p).T)) for p in points])
    exact = distance_to_ellipse(points[:, 0], points[:, 1], a, b)
    np.testing.assert_allclose(exact[~inside], brute[~inside], atol=1e-3)
    assert np.all(exact[inside] == 0)


def _normal_profiles(anatomy: Anatomy, occupancy: np.ndarray, voxel_mm: float):
    """Occupancy sampled along inner-surface normals: (angles x levels, samples), step."""
    lv = anatomy.lv
    a, b = anatomy.lv_inner_radius_mm, anatomy.lv_cavity_length_mm
    base = lv.center - b / 2 * lv.long_axis
    step_mm = 0.2
    distances = np.arange(-8.0, anatomy.wall_thickness_mm + 8.0, step_mm)
    profiles = []
    for theta in np.deg2rad([20, 35, 50, 65]):
        for phi in np.deg2rad(np.arange(0, 360, 45)):
            radial_dir = np.cos(phi) * lv.septal_direction + np.sin(phi) * lv.anterior_direction
            surface = base + a * np.cos(theta) * radial_dir + b * np.sin(theta) * lv.long_axis
            normal = b * np.cos(theta) * radial_dir + a * np.sin(theta) * lv.long_axis
            normal /= np.linalg.norm(normal)
            points = surface + distances[:, None] * normal
            index = mm_to_index(points, occupancy.shape, voxel_mm)
            profiles.append(ndimage.map_coordinates(occupancy, index.T, order=1))
    return np.array(profiles), step_mm


@pytest.mark.parametrize("wall_mm", [6.0, 9.0, 10.0])
def test_wall_thickness_along_normals_matches_the_parameter(wall_mm):
    anatomy = Anatomy(wall_thickness_mm=wall_mm)
    phantom = make_phantom(anatomy=anatomy)
    profiles, step_mm = _normal_profiles(anatomy, phantom.occupancy["myocardium"], VOXEL_MM)
    # Area under the occupancy profile = thickness of the wall along the normal.
    thickness_area = profiles.sum(axis=1) * step_mm
    # Full width at half maximum of the same profiles.
    thickness_fwhm = (profiles >= 0.5 * profiles.max(axis=1, keepdims=True)).sum(axis=1) * step_mm
    assert abs(np.median(thickness_area) - wall_mm) <= 0.5
    assert np.all(np.abs(thickness_area - wall_mm) <= 1.0)
    assert abs(np.median(thickness_fwhm) - wall_mm) <= 0.5


def test_default_phantom_contents(phantom):
    expected_masks = {"body", "lungs", "liver", "spine", "blood_pool", "myocardium", "defect"}
    assert expected_masks <= set(phantom.masks)
    assert phantom.activity.dtype == np.float32 and phantom.activity.shape == SHAPE
    assert phantom.voxel_size_mm == VOXEL_MM
    occupancy_total = sum(phantom.occupancy.values())
    assert float(occupancy_total.max()) <= 1.0 + 1e-6
    # Pure myocardium voxels carry the myocardial uptake, pure defect voxels (1 - severity).
    assert np.isclose(phantom.activity[phantom.occupancy["myocardium"] == 1], 1.0).all()
    assert np.isclose(phantom.activity[phantom.occupancy["defect"] == 1], 0.4).all()
    assert not np.any(phantom.masks["defect"] & ~phantom.masks["myocardium"])
    # Attenuation at 140 keV: air 0, lung ~0.045, soft tissue 0.15, bone 0.27 per cm.
    assert phantom.mu.min() == 0.0 and phantom.mu.max() == pytest.approx(0.27)
    assert np.allclose(phantom.mu[phantom.occupancy["lungs"] == 1], 0.045)
    assert np.all(phantom.activity[~phantom.masks["body"]] < 0.05)
    # The defect sits in the inferior wall: angles around 270 degrees.
    points = np.stack(
        np.meshgrid(*(axis_coordinates_mm(n, VOXEL_MM) for n in SHAPE), indexing="ij"), axis=-1
    )[phantom.masks["defect"]][:, ::-1]
    _, _, angle = lv_cylindrical_coordinates(points, phantom.lv)
    assert np.all((angle > 200) & (angle < 340))
    assert phantom.lv_center_mm == Anatomy().lv_center_mm
    assert phantom.lv_axis @ np.array([0, 0, 1.0]) < 0  # the apex points to the feet


def test_lv_geometry_from_angles_is_anatomical():
    lv = Anatomy().lv
    assert isinstance(lv, LVGeometry)
    # Apex points left, anterior and inferior; the septum lies to the patient's right.
    assert lv.long_axis[0] > 0 and lv.long_axis[1] < 0 and lv.long_axis[2] < 0
    assert lv.septal_direction[0] < 0
    assert lv.anterior_direction[2] > 0
    frame = np.stack([lv.septal_direction, lv.anterior_direction, lv.long_axis])
    np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)


def test_aha_segments_cover_the_ring_and_apex():
    angles = np.arange(0.0, 360.0, 1.0)
    basal = aha_segment(angles, np.full_like(angles, 0.1))
    assert set(basal.tolist()) == {1, 2, 3, 4, 5, 6}
    assert set(aha_segment(angles, np.full_like(angles, 0.5)).tolist()) == set(range(7, 13))
    assert set(aha_segment(angles, np.full_like(angles, 0.8)).tolist()) == {13, 14, 15, 16}
    assert aha_segment(0.0, 1.1) == 17 and aha_segment(0.0, -0.1) == 0
    assert aha_segment(90.0, 0.1) == 1 and aha_segment(270.0, 0.5) == 10


def test_wedge_defect_and_severity():
    wedge = Defect(angle_range_deg=(240.0, 300.0), level_range=(0.0, 0.66), severity=1.0)
    phantom = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4, defect=wedge)
    assert phantom.masks["defect"].sum() > 10
    assert np.all(phantom.activity[phantom.occupancy["defect"] == 1] == 0)


def test_downsample_conserves_activity_and_uses_mean_occupancy(phantom):
    coarse = phantom.downsample(2)
    assert coarse.shape == (64, 64, 64) and coarse.voxel_size_mm == pytest.approx(6.4)
    fine_total = phantom.activity.sum(dtype=np.float64) * VOXEL_MM**3
    coarse_total = coarse.activity.sum(dtype=np.float64) * 6.4**3
    assert coarse_total == pytest.approx(fine_total, rel=1e-6)
    myocardium = phantom.occupancy["myocardium"] + phantom.occupancy["defect"]
    block = myocardium.reshape(64, 2, 64, 2, 64, 2).mean(axis=(1, 3, 5))
    np.testing.assert_array_equal(coarse.masks["myocardium"], block >= 0.5)


def test_clinical_grid_phantom_agrees_with_downsampled_fine_phantom(phantom):
    coarse = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
    ratio = coarse.activity.sum() / make_phantom().downsample(2).activity.sum()
    assert ratio == pytest.approx(1.0, rel=2e-3)


def test_random_phantom_is_reproducible_and_varies():
    kwargs = {"shape": (48, 48, 48), "voxel_size_mm": 8.0}
    first = random_phantom(seed=11, **kwargs)
    again = random_phantom(seed=11, **kwargs)
    other = random_phantom(seed=12, **kwargs)
    np.testing.assert_array_equal(first.activity, again.activity)
    assert first.parameters == again.parameters and first.parameters["seed"] == 11
    assert not np.array_equal(first.activity, other.activity)
    walls = [
        random_phantom(seed=s, **kwargs).parameters["anatomy"]["wall_thickness_mm"]
        for s in range(8)
    ]
    assert min(walls) >= 6.0 and max(walls) <= 10.0 and len(set(walls)) == 8
    with_defect = [random_phantom(seed=s, defect_probability=1.0, **kwargs) for s in range(3)]
    assert all("defect" in p.masks and p.masks["defect"].any() for p in with_defect)


def test_all_organs_lie_inside_the_body(phantom):
    for name, mask in phantom.masks.items():
        if name != "body":
            assert not np.any(mask & ~phantom.masks["body"]), name


def test_organ_shapes_follow_painting_order():
    names = [name for name, _ in organ_shapes(Anatomy(), Defect(segments=(1,)))]
    assert names[0] == "body" and names[-3:] == ["blood_pool", "myocardium", "defect"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (64, 64)}, "shape"),
        ({"shape": (64, 0, 64)}, "shape"),
        ({"voxel_size_mm": 0.0}, "voxel_size_mm"),
        ({"voxel_size_mm": float("nan")}, "voxel_size_mm"),
        ({"wall_thickness_mm": -1.0}, "wall_thickness_mm"),
        ({"lv_elevation_deg": 95.0}, "lv_elevation_deg"),
        ({"defect": "inferior"}, "defect"),
        ({"supersample": 0}, "supersample"),
    ],
)
def test_make_phantom_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_phantom(**{"shape": (16, 16, 16), "voxel_size_mm": 25.0, **kwargs})


def test_make_phantom_rejects_unknown_keyword():
    with pytest.raises(TypeError, match="wall_thicknes_mm"):
        make_phantom(shape=(16, 16, 16), voxel_size_mm=25.0, wall_thicknes_mm=8.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"segments": (0,)}, "1-17"),
        ({"segments": (4,), "severity": 1.5}, "severity"),
        ({"segments": (4,), "severity": 0.0}, "severity"),
        ({}, "either"),
        ({"segments": (4,), "angle_range_deg": (0, 90)}, "either"),
        ({"angle_range_deg": (0, 90), "level_range": (0.5, 0.2)}, "level_range"),
    ],
)
def test_defect_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Defect(**kwargs)


def test_uptake_and_random_phantom_reject_bad_input():
    with pytest.raises(ValueError, match="liver"):
        Uptake(liver=-0.1)
    with pytest.raises(ValueError, match="defect_probability"):
        random_phantom(seed=1, defect_probability=2.0)
    with pytest.raises(ValueError, match="seed"):
        random_phantom(seed="one")


def test_random_phantoms_keep_the_liver_out_of_the_heart():
    rng = np.random.default_rng(0)
    for seed in range(12):
        patient = random_phantom(seed=seed, shape=(16, 16, 16), voxel_size_mm=25.6)
        anatomy = Anatomy(
            **{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in patient.parameters["anatomy"].items()
            }
        )
        shapes = dict(organ_shapes(anatomy))
        low, high = shapes["myocardium"].bounds_mm()
        x, y, z = rng.uniform(low, high, size=(200_000, 3)).T
        in_wall = shapes["myocardium"].contains(x, y, z)
        assert in_wall.sum() > 1000
        assert not np.any(in_wall & shapes["liver"].contains(x, y, z)), seed


# --- Defects anywhere on the 17-segment map (training set v2) ------------------------


def test_segment_neighbours_are_symmetric_and_connect_the_map():
    from spect_tutorial.phantom import segment_neighbours

    neighbours = segment_neighbours()
    assert sorted(neighbours) == list(range(1, 18))
    for segment, touching in neighbours.items():
        assert segment not in touching
        for other in touching:
            assert segment in neighbours[other]
    assert neighbours[17] == (13, 14, 15, 16)
    assert set(neighbours[1]) == {2, 6, 7}  # basal anterior: ring neighbours and mid anterior
    seen, frontier = {1}, [1]
    while frontier:
        for other in neighbours[frontier.pop()]:
            if other not in seen:
                seen.add(other)
                frontier.append(other)
    assert seen == set(range(1, 18))


def test_random_defects_cover_the_map_with_contiguous_regions():
    from spect_tutorial.phantom import random_defect, segment_neighbours

    neighbours = segment_neighbours()
    rng = np.random.default_rng(0)
    defects = [random_defect(rng) for _ in range(400)]
    sizes = [len(defect.segments) for defect in defects]
    assert min(sizes) == 1 and max(sizes) == 5
    assert set().union(*(defect.segments for defect in defects)) == set(range(1, 18))
    severities = np.array([defect.severity for defect in defects])
    assert severities.min() >= 0.1 and severities.max() <= 0.7
    assert severities.min() < 0.15 and severities.max() > 0.65
    partial = [defect.transmurality for defect in defects if defect.transmurality < 1]
    assert 0.15 < len(partial) / len(defects) < 0.35
    assert min(partial) >= 0.4 and max(partial) <= 0.7
    for defect in defects:  # every region is connected
        region = set(defect.segments)
        seen, frontier = {defect.segments[0]}, [defect.segments[0]]
        while frontier:
            for other in neighbours[frontier.pop()]:
                if other in region and other not in seen:
                    seen.add(other)
                    frontier.append(other)
        assert seen == region


def test_a_subendocardial_defect_is_the_inner_part_of_the_transmural_one():
    full = make_phantom(
        shape=(64, 64, 64), voxel_size_mm=3.2, defect=Defect(segments=(5, 6, 11, 12))
    )
    inner = make_phantom(
        shape=(64, 64, 64),
        voxel_size_mm=3.2,
        defect=Defect(segments=(5, 6, 11, 12), transmurality=0.5),
    )
    assert inner.masks["defect"].sum() > 0
    assert np.all(full.masks["defect"][inner.masks["defect"]])
    ratio = inner.masks["defect"].sum() / full.masks["defect"].sum()
    assert 0.3 < ratio < 0.7
    assert inner.parameters["defect"]["transmurality"] == 0.5
    assert "transmurality" not in full.parameters["defect"]  # older records unchanged
    with pytest.raises(ValueError, match="transmurality"):
        Defect(segments=(1,), transmurality=0.0)


def test_the_segment_defect_model_keeps_the_anatomy_and_the_default_is_unchanged():
    kwargs = {"seed": 11, "shape": (32, 32, 32), "voxel_size_mm": 12.8}
    territories = random_phantom(defect_probability=1.0, **kwargs)
    segments = random_phantom(defect_probability=1.0, defect_model="segments", **kwargs)
    default = random_phantom(defect_probability=1.0, **kwargs)
    assert territories.parameters["anatomy"] == segments.parameters["anatomy"]
    np.testing.assert_array_equal(territories.activity, default.activity)
    with pytest.raises(ValueError, match="defect_model"):
        random_phantom(defect_model="anywhere", **kwargs)
