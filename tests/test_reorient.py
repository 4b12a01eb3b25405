"""Tests of :mod:`spect_tutorial.reorient` (short-axis and long-axis reorientation).

The test LV is built here (not with ``make_phantom``) so that these tests check
the reorientation alone: a voxelised half-spheroidal shell, truncated at the base
plane, with a separate cavity (blood-pool) mask.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spect_tutorial.frame import LVGeometry, axis_coordinates_mm
from spect_tutorial.reorient import VIEWS, reorient, reorient_back, view_axes

N_VOXELS = 64
VOXEL_MM = 3.2
INNER_RADIUS_MM = 25.0
CAVITY_LENGTH_MM = 70.0  # base plane to endocardial apex
WALL_MM = 9.0
CENTRE_INDEX = (N_VOXELS - 1) / 2

GEOMETRIES = {
    "centred_az45_el30": LVGeometry.from_angles((0.0, 0.0, 0.0), azimuth_deg=45, elevation_deg=30),
    "offset_az60_el15": LVGeometry.from_angles(
        (23.1, -17.5, 9.3), azimuth_deg=60, elevation_deg=15
    ),
}


def lv_test_object(
    lv: LVGeometry, *, n: int = N_VOXELS, voxel_size_mm: float = VOXEL_MM, supersample: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional occupancy ``(z, y, x)`` of the LV myocardium and of its cavity.

    The cavity is the half spheroid of semi-axes (25, 25, 70) mm centred on the
    base plane; the myocardium is the shell between it and the spheroid 9 mm
    larger, cut at the base plane. ``lv.center`` is the cavity midpoint on the
    long axis, 35 mm from the base plane (the convention of ``LVGeometry``).
    """
    coordinates = axis_coordinates_mm(n * supersample, voxel_size_mm / supersample)
    z, y, x = np.meshgrid(coordinates, coordinates, coordinates, indexing="ij")
    offset = np.stack([x, y, z], axis=-1) - lv.center
    along = offset @ lv.long_axis
    radial_squared = np.sum(offset * offset, axis=-1) - along**2
    from_base = along + CAVITY_LENGTH_MM / 2
    above_base = from_base >= 0
    cavity = above_base & (
        radial_squared / INNER_RADIUS_MM**2 + (from_base / CAVITY_LENGTH_MM) ** 2 <= 1
    )
    outer = above_base & (
        radial_squared / (INNER_RADIUS_MM + WALL_MM) ** 2
        + (from_base / (CAVITY_LENGTH_MM + WALL_MM)) ** 2
        <= 1
    )

    def occupancy(mask: np.ndarray) -> np.ndarray:
        blocks = mask.reshape(n, supersample, n, supersample, n, supersample)
        return blocks.mean(axis=(1, 3, 5)).astype(np.float32)

    return occupancy(outer & ~cavity), occupancy(cavity)


@pytest.fixture(scope="module", params=sorted(GEOMETRIES))
def lv_case(request: pytest.FixtureRequest) -> tuple[LVGeometry, np.ndarray, np.ndarray]:
    lv = GEOMETRIES[request.param]
    myocardium, cavity = lv_test_object(lv)
    return lv, myocardium, cavity


def gaussian_blob(
    centre_xyz_mm: np.ndarray,
    *,
    n: int = N_VOXELS,
    voxel_size_mm: float = VOXEL_MM,
    sigma_mm: float = 4.0,
    shape: tuple[int, int, int] | None = None,
) -> np.ndarray:
    nz, ny, nx = shape if shape is not None else (n, n, n)
    z = axis_coordinates_mm(nz, voxel_size_mm)[:, None, None]
    y = axis_coordinates_mm(ny, voxel_size_mm)[None, :, None]
    x = axis_coordinates_mm(nx, voxel_size_mm)[None, None, :]
    cx, cy, cz = centre_xyz_mm
    squared = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2
    return np.exp(-squared / (2 * sigma_mm**2)).astype(np.float32)


def nrmse(image: np.ndarray, reference: np.ndarray, region: np.ndarray) -> float:
    """science.md section 8: RMS error over the region / mean reference over it."""
    difference = image[region].astype(np.float64) - reference[region]
    return float(np.sqrt(np.mean(difference**2)) / np.mean(reference[region]))


# --- geometry of the short-axis stack -------------------------------------------------


def test_cavity_centroid_is_centred_in_every_short_axis_slice(lv_case):
    lv, _, cavity = lv_case
    short_axis = reorient(cavity, lv, voxel_size_mm=VOXEL_MM, view="SA")
    # SA slices run apex -> base: slice k lies (k - c) * d mm from the centre towards the base.
    towards_apex_mm = -(np.arange(N_VOXELS) - CENTRE_INDEX) * VOXEL_MM
    between = np.abs(towards_apex_mm) < CAVITY_LENGTH_MM / 2
    assert between.sum() >= 20
    offsets = []
    for k in np.flatnonzero(between):
        assert short_axis[k].sum() > 0, f"no cavity in SA slice {k}"
        row, col = ndimage.center_of_mass(short_axis[k])
        offsets.append(np.hypot(row - CENTRE_INDEX, col - CENTRE_INDEX))
    assert max(offsets) < 0.5  # voxels; measured about 0.05-0.07
    # Beyond the base plane and the apex the cavity is absent (allowing for partial
    # voxels, up to sqrt(3)/2 voxel, and the trilinear interpolation, one voxel).
    outside = np.abs(towards_apex_mm) > CAVITY_LENGTH_MM / 2 + 2 * VOXEL_MM
    assert short_axis[outside].max() == 0


@pytest.mark.parametrize(
    ("order", "fwhm_mm", "limit"),
    [
        (3, 0.0, 0.05),  # the sharp phantom: cubic splines (measured about 0.04)
        (1, 12.8, 0.05),  # reconstruction-like resolution: trilinear (measured about 0.03)
    ],
)
def test_short_axis_round_trip_keeps_the_lv(lv_case, order, fwhm_mm, limit):
    lv, myocardium, cavity = lv_case
    image = myocardium + 0.1 * cavity
    if fwhm_mm:
        image = ndimage.gaussian_filter(image, fwhm_mm / (2 * np.sqrt(2 * np.log(2))) / VOXEL_MM)
    options = {"voxel_size_mm": VOXEL_MM, "view": "SA", "order": order}
    short_axis = reorient(image, lv, **options)
    volume = reorient_back(short_axis, lv, shape=image.shape, **options)
    again = reorient(volume, lv, **options)
    myocardium_sa = reorient(myocardium, lv, voxel_size_mm=VOXEL_MM, view="SA")
    region = ndimage.binary_dilation(myocardium_sa >= 0.5)
    assert region.sum() > 1000
    assert nrmse(again, short_axis, region) < limit


def test_default_shape_puts_the_lv_centre_at_the_output_centre():
    lv = LVGeometry.from_angles((12.0, -7.0, 5.0), azimuth_deg=40, elevation_deg=25)
    shape = (40, 48, 56)
    blob = gaussian_blob(lv.center, shape=shape, sigma_mm=6.0)
    for view in VIEWS:
        out = reorient(blob, lv, voxel_size_mm=VOXEL_MM, view=view)
        assert out.shape == (40, 40, 40)
        assert out.dtype == np.float32
        np.testing.assert_allclose(ndimage.center_of_mass(out), [19.5] * 3, atol=0.05)


def test_explicit_shape_and_mask_input():
    lv = GEOMETRIES["offset_az60_el15"]
    mask = gaussian_blob(lv.center, sigma_mm=10.0) > 0.5
    out = reorient(mask, lv, voxel_size_mm=VOXEL_MM, view="hla", shape=(21, 30, 41))
    assert out.shape == (21, 30, 41)
    assert out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(ndimage.center_of_mass(out), [10.0, 14.5, 20.0], atol=0.1)


# --- display orientation ----------------------------------------------------------------

# Where a marker 20 mm from the LV centre appears: -1 = at lower indices than the
# centre (first slices, top rows, left columns), +1 = higher, 0 = at the centre.
# Written out anatomically, independently of the module's table.
EXPECTED_SIDE = {
    "SA": {
        "apex": (-1, 0, 0),
        "base": (1, 0, 0),
        "anterior": (0, -1, 0),
        "inferior": (0, 1, 0),
        "septal": (0, 0, -1),
        "lateral": (0, 0, 1),
    },
    "VLA": {
        "septal": (-1, 0, 0),
        "lateral": (1, 0, 0),
        "anterior": (0, -1, 0),
        "inferior": (0, 1, 0),
        "base": (0, 0, -1),
        "apex": (0, 0, 1),
    },
    "HLA": {
        "inferior": (-1, 0, 0),
        "anterior": (1, 0, 0),
        "apex": (0, -1, 0),
        "base": (0, 1, 0),
        "septal": (0, 0, -1),
        "lateral": (0, 0, 1),
    },
}


def marker_direction(lv: LVGeometry, name: str) -> np.ndarray:
    return {
        "apex": lv.long_axis,
        "base": -lv.long_axis,
        "anterior": lv.anterior_direction,
        "inferior": -lv.anterior_direction,
        "septal": lv.septal_direction,
        "lateral": -lv.septal_direction,
    }[name]


@pytest.mark.parametrize("lv_name", sorted(GEOMETRIES))
@pytest.mark.parametrize(
    ("view", "marker"), [(v, m) for v in EXPECTED_SIDE for m in EXPECTED_SIDE[v]]
)
def test_marker_appears_on_the_display_side(lv_name, view, marker):
    lv = GEOMETRIES[lv_name]
    distance_mm = 20.0
    blob = gaussian_blob(lv.center + distance_mm * marker_direction(lv, marker))
    out = reorient(blob, lv, voxel_size_mm=VOXEL_MM, view=view)
    centroid = np.array(ndimage.center_of_mass(out))
    expected = CENTRE_INDEX + np.array(EXPECTED_SIDE[view][marker]) * distance_mm / VOXEL_MM
    np.testing.assert_allclose(centroid, expected, atol=0.25)


def test_patient_frame_anatomy_in_short_axis():
    """With a normal heart (LV axis left, anterior and down), patient-frame markers
    land where a reader of clinical SA slices expects them."""
    lv = GEOMETRIES["centred_az45_el30"]
    expected = {  # (slice side, row side, column side)
        (0.0, -1.0, 0.0): (0, -1, -1),  # patient anterior: anterior-septal (upper left)
        (1.0, 0.0, 0.0): (0, 0, 1),  # patient left: lateral (right); to the apex too
        (0.0, 0.0, -1.0): (-1, 1, 0),  # feet: apical and inferior
    }
    for direction, sides in expected.items():
        blob = gaussian_blob(lv.center + 20.0 * np.array(direction))
        short_axis = reorient(blob, lv, voxel_size_mm=VOXEL_MM)
        centroid = np.array(ndimage.center_of_mass(short_axis)) - CENTRE_INDEX
        for axis, side in enumerate(sides):
            if side:
                assert np.sign(centroid[axis]) == side, (direction, centroid)


# --- exact permutations for an axis-aligned LV -----------------------------------------

# Long axis towards the feet (-z), septum to the patient's right (-x): then
# anterior = septal x long = -y, and every view is a transpose/flip of the array.
AXIS_ALIGNED = LVGeometry((0.0, 0.0, 0.0), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0))


def axis_aligned_expectation(volume: np.ndarray, view: str) -> np.ndarray:
    if view == "SA":  # slices +z (apex -> base), rows +y, columns +x
        return volume
    if view == "VLA":  # slices +x, rows +y, columns -z
        return np.transpose(volume, (2, 1, 0))[:, :, ::-1]
    return np.transpose(volume, (1, 0, 2))[::-1]  # HLA: slices -y, rows +z, columns +x


@pytest.mark.parametrize("view", VIEWS)
def test_axis_aligned_geometry_is_an_exact_transpose(view):
    np.testing.assert_allclose(AXIS_ALIGNED.anterior_direction, [0.0, -1.0, 0.0], atol=1e-15)
    volume = np.random.default_rng(3).random((10, 12, 14)).astype(np.float32)
    expected = axis_aligned_expectation(volume, view)
    out = reorient(volume, AXIS_ALIGNED, voxel_size_mm=6.4, view=view, shape=expected.shape)
    np.testing.assert_array_equal(out, expected)
    back = reorient_back(out, AXIS_ALIGNED, voxel_size_mm=6.4, view=view, shape=volume.shape)
    np.testing.assert_array_equal(back, volume)


def test_axis_aligned_offset_centre_is_an_exact_shift():
    volume = np.random.default_rng(4).random((12, 12, 12)).astype(np.float32)
    d = 6.4
    lv = LVGeometry((2 * d, -1 * d, 3 * d), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0))
    out = reorient(volume, lv, voxel_size_mm=d)
    # SA voxel (s, r, c) is volume voxel (s + 3, r - 1, c + 2); zero outside the volume.
    expected = ndimage.shift(volume, (-3, 1, -2), order=0, mode="constant", cval=0.0)
    np.testing.assert_array_equal(out, expected)


def test_round_off_in_the_geometry_keeps_the_copy_exact():
    # from_angles(azimuth 90, elevation 0): long axis = -y (anterior) up to 6e-17,
    # septal = -x, anterior = +z; SA slices run +y, rows -z, columns +x.
    d = 3.2
    lv = LVGeometry.from_angles((3 * d, -2 * d, d), azimuth_deg=90, elevation_deg=0)
    assert lv.long_axis[0] != 0.0  # the round-off is really there
    volume = np.random.default_rng(5).random((12, 14, 16)).astype(np.float32)
    out = reorient(volume, lv, voxel_size_mm=d, shape=(14, 12, 16))
    permuted = np.transpose(volume, (1, 0, 2))[:, ::-1, :]
    expected = ndimage.shift(permuted, (2, 1, -3), order=0, mode="constant", cval=0.0)
    np.testing.assert_array_equal(out, expected)


# --- view_axes ------------------------------------------------------------------------


@pytest.mark.parametrize("view", [*VIEWS, "sa"])
def test_view_axes_are_orthonormal_and_labelled(view):
    lv = GEOMETRIES["offset_az60_el15"]
    axes = view_axes(lv, view)
    assert axes["view"] == view.upper()
    matrix = np.stack([axes["slice"], axes["rows"], axes["cols"]])
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-12)
    labels = axes["labels"]
    assert set(labels) == {"slice", "rows", "cols"}
    expected_first = {
        axis: min(EXPECTED_SIDE[view.upper()], key=lambda m: EXPECTED_SIDE[view.upper()][m][i])
        for i, axis in enumerate(("slice", "rows", "cols"))
    }
    for axis, (first, last) in labels.items():
        assert first == expected_first[axis]
        # The index runs from the "first" anatomical side towards the "last" one.
        assert float(axes[axis] @ marker_direction(lv, last)) == pytest.approx(1.0)


def test_view_axes_short_axis_runs_apex_to_base():
    lv = GEOMETRIES["centred_az45_el30"]
    axes = view_axes(lv, "SA")
    np.testing.assert_allclose(axes["slice"], -lv.long_axis)
    assert axes["labels"]["slice"] == ("apex", "base")
    assert axes["name"] == "short axis"


# --- bad inputs -----------------------------------------------------------------------

GOOD_VOLUME = np.zeros((8, 8, 8), dtype=np.float32)
NAN_VOLUME = GOOD_VOLUME.copy()
NAN_VOLUME[1, 2, 3] = np.nan


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"volume": np.zeros((8, 8))}, "volume must be a 3-D array"),
        ({"volume": np.zeros((2, 8, 8, 8))}, "volume must be a 3-D array"),
        ({"volume": NAN_VOLUME}, "volume holds 1 NaN"),
        ({"volume": GOOD_VOLUME.astype(complex)}, "volume must hold real numbers"),
        ({"volume": np.zeros((0, 8, 8))}, "volume must not be empty"),
        ({"view": "axial"}, "view must be one of 'SA', 'VLA', 'HLA', got 'axial'"),
        ({"view": None}, "view must be one of"),
        ({"lv": (0.0, 0.0, 0.0)}, "lv must be an LVGeometry"),
        ({"shape": (8, 8)}, "shape must be three positive integers"),
        ({"shape": (8, 0, 8)}, "shape must be three positive integers"),
        ({"shape": (8, 8.5, 8)}, "shape must be three positive integers"),
        ({"shape": 8}, "shape must be three positive integers"),
        ({"order": 6}, "order must be an integer spline order in 0..5, got 6"),
        ({"order": 1.5}, "order must be an integer"),
        ({"voxel_size_mm": -1.0}, "voxel_size_mm"),
    ],
)
def test_bad_inputs_raise_clear_errors(changes, message):
    arguments = {
        "volume": GOOD_VOLUME,
        "lv": GEOMETRIES["centred_az45_el30"],
        "voxel_size_mm": 6.4,
        "view": "SA",
    } | changes
    volume = arguments.pop("volume")
    lv = arguments.pop("lv")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        reorient(volume, lv, **arguments)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"slices": np.zeros((8, 8))}, "slices must be a 3-D array"),
        ({"shape": None}, "shape must be three positive integers"),
        ({"view": "XY"}, "view must be one of"),
        ({"lv": "heart"}, "lv must be an LVGeometry"),
    ],
)
def test_bad_inputs_to_reorient_back(changes, message):
    arguments = {
        "slices": GOOD_VOLUME,
        "lv": GEOMETRIES["centred_az45_el30"],
        "voxel_size_mm": 6.4,
        "shape": (8, 8, 8),
    } | changes
    slices = arguments.pop("slices")
    lv = arguments.pop("lv")
    with pytest.raises(ValueError, match=message):
        reorient_back(slices, lv, **arguments)


# --- The same checks on the package's own phantom (issue 2's acceptance tests) ---


def test_cavity_is_centred_in_every_short_axis_slice_of_the_phantom():
    from spect_tutorial.phantom import make_phantom

    phantom = make_phantom()
    cavity = reorient(
        phantom.occupancy["blood_pool"], phantom.lv, voxel_size_mm=phantom.voxel_size_mm
    )
    centre = (cavity.shape[1] - 1) / 2
    rows, cols = np.indices(cavity.shape[1:])
    offsets = []
    for picture in cavity:
        if picture.sum() > 1.0:  # slices between base and apex
            weight = picture / picture.sum()
            offsets.append(
                np.hypot((weight * rows).sum() - centre, (weight * cols).sum() - centre)
            )
    assert len(offsets) >= 20
    assert max(offsets) < 0.5


def test_short_axis_round_trip_of_the_clinical_phantom():
    from scipy import ndimage

    from spect_tutorial.phantom import make_phantom

    phantom = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
    # The chapters reorient reconstructed images, whose resolution is about 12 mm FWHM.
    image = ndimage.gaussian_filter(phantom.activity, 12.0 / 6.4 / 2.3548)
    kwargs = {"voxel_size_mm": 6.4, "view": "SA", "order": 3}  # cubic: for round trips
    slices = reorient(image, phantom.lv, **kwargs)
    back = reorient_back(slices, phantom.lv, shape=image.shape, **kwargs)
    again = reorient(back, phantom.lv, **kwargs)
    region = reorient(phantom.masks["myocardium"], phantom.lv, **kwargs) > 0.5
    nrmse = np.sqrt(np.mean((again - slices)[region] ** 2)) / slices[region].mean()
    assert nrmse < 0.05
