"""Polar map (bull's-eye) and AHA 17-segment averages on the package's phantom.

Measured on the noise-free 64^3 / 6.4 mm phantom with the true base and apex, the 17
segment averages lie within 0.96-1.08 of their median (partial volume of the 9 mm wall
in 6.4 mm voxels; the apex is highest); after a 12 mm FWHM Gaussian blur (a
reconstruction's resolution) and with the base and apex estimated from the image,
within 0.87-1.03 (the basal ring loses counts across the base plane). The tolerances
below (10 % and 15 %) leave a margin over those numbers. A 50 % defect in one segment
brings that segment to 0.55-0.61 of the median (0.6-0.76 after blur).
"""

from __future__ import annotations

import doctest
from functools import cache

import numpy as np
import pytest
from scipy import ndimage

from spect_tutorial import polar
from spect_tutorial.frame import LVGeometry
from spect_tutorial.phantom import Defect, make_phantom
from spect_tutorial.polar import PolarMap, aha17, polar_map, show_polar_map
from spect_tutorial.reorient import reorient

SHAPE, VOXEL_MM = (64, 64, 64), 6.4
BLUR_FWHM_MM = 12.0


@cache
def _phantom(segments: tuple[int, ...] = (), shape=SHAPE, voxel_mm=VOXEL_MM):
    defect = Defect(segments=segments, severity=0.5) if segments else None
    return make_phantom(shape=shape, voxel_size_mm=voxel_mm, defect=defect)


def _true_base_apex(phantom):
    length = phantom.parameters["anatomy"]["lv_cavity_length_mm"]
    return (-length / 2, length / 2)


@cache
def _segments(segments: tuple[int, ...] = (), *, blur: bool = False) -> np.ndarray:
    phantom = _phantom(segments)
    volume = phantom.activity
    if blur:
        volume = ndimage.gaussian_filter(volume, BLUR_FWHM_MM / 2.3548 / VOXEL_MM)
    bullseye = polar_map(
        volume, phantom.lv, voxel_size_mm=VOXEL_MM, base_apex_mm=_true_base_apex(phantom)
    )
    return aha17(bullseye)


def test_polar_map_layout_rings_apex_to_base():
    phantom = _phantom()
    bullseye = polar_map(
        phantom.activity,
        phantom.lv,
        voxel_size_mm=VOXEL_MM,
        base_apex_mm=_true_base_apex(phantom),
        n_angles=36,
    )
    n_body = int(np.count_nonzero(bullseye.levels < 1.0))
    assert n_body % 3 == 0 and n_body >= 9  # whole rings per third, about one per voxel
    assert bullseye.n_cap_rings >= 1
    assert bullseye.values.shape == (n_body + bullseye.n_cap_rings, 36)
    assert np.all(np.diff(bullseye.levels) < 0)  # apex (centre) first, base (rim) last
    assert np.allclose(bullseye.levels[-n_body:], (np.arange(n_body)[::-1] + 0.5) / n_body)
    assert np.allclose(bullseye.axial_mm, -35.0 + 70.0 * bullseye.levels)
    assert np.allclose(bullseye.angles_deg, np.arange(5.0, 360.0, 10.0))
    assert set(np.unique(bullseye.segments())) == set(range(1, 18))


def test_uniform_phantom_gives_uniform_segments():
    averages = _segments()
    assert np.all(np.isfinite(averages))
    relative = averages / np.median(averages)
    assert np.all(np.abs(relative - 1.0) <= 0.10), relative.round(3)


def test_blurred_phantom_with_estimated_extent_is_uniform_within_15_percent():
    phantom = _phantom()
    volume = ndimage.gaussian_filter(phantom.activity, BLUR_FWHM_MM / 2.3548 / VOXEL_MM)
    bullseye = polar_map(volume, phantom.lv, voxel_size_mm=VOXEL_MM)
    relative = aha17(bullseye) / np.median(aha17(bullseye))
    assert np.all(np.abs(relative - 1.0) <= 0.15), relative.round(3)


def test_base_and_apex_estimates_on_the_noise_free_phantom():
    phantom = _phantom()
    bullseye = polar_map(phantom.activity, phantom.lv, voxel_size_mm=VOXEL_MM)
    # True: base plane -35 mm, endocardial apex +35 mm; within one voxel.
    assert bullseye.base_apex_mm == pytest.approx((-35.0, 35.0), abs=VOXEL_MM)
    # The default rays reach past the basal epicardium (34 mm) but not the RV wall (50 mm).
    assert 34.0 < bullseye.max_radius_mm < 48.0


def test_uniform_phantom_at_3_2_mm():
    phantom = _phantom(shape=(128, 128, 128), voxel_mm=3.2)
    bullseye = polar_map(
        phantom.activity, phantom.lv, voxel_size_mm=3.2, base_apex_mm=_true_base_apex(phantom)
    )
    relative = aha17(bullseye) / np.median(aha17(bullseye))
    assert np.all(np.abs(relative - 1.0) <= 0.06), relative.round(3)


@pytest.mark.parametrize("segment", [4, 7, 16, 1, 17])
@pytest.mark.parametrize("blur", [False, True])
def test_defect_segment_is_the_lowest(segment, blur):
    normal = _segments(blur=blur)
    with_defect = _segments((segment,), blur=blur)
    index = segment - 1
    assert int(np.argmin(with_defect)) == index, with_defect.round(3)
    # A 50 % defect: 0.55-0.61 of normal noise-free, 0.6-0.76 after a 12 mm blur.
    assert with_defect[index] < 0.8 * normal[index]
    others = np.delete(with_defect / normal, index)
    assert np.all(np.abs(others - 1.0) < 0.1)


def test_angle_convention_anterior_is_not_inferior():
    normal = _segments()
    anterior = _segments((1,)) / normal
    inferior = _segments((4,)) / normal
    mid_anterior = _segments((7,)) / normal
    assert anterior[0] < 0.7 and inferior[3] < 0.7 and mid_anterior[6] < 0.7
    # The defect does not show up on the opposite wall.
    assert anterior[3] > 0.95 and anterior[9] > 0.95
    assert mid_anterior[3] > 0.95 and mid_anterior[9] > 0.95
    assert inferior[0] > 0.95 and inferior[6] > 0.95


def test_angles_agree_with_the_short_axis_view():
    lv = LVGeometry.from_angles((10.0, -5.0, 0.0), azimuth_deg=45, elevation_deg=30)
    shape, voxel = (40, 40, 40), 4.0
    grid = np.stack(
        np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * voxel for n in shape], indexing="ij"), -1
    )[..., ::-1]  # (z, y, x, 3) positions ordered (x, y, z)
    for angle, direction in [(0.0, lv.septal_direction), (90.0, lv.anterior_direction)]:
        spot = lv.center + 20.0 * direction
        volume = np.exp(-np.sum((grid - spot) ** 2, axis=-1) / (2 * 4.0**2))
        bullseye = polar_map(
            volume, lv, voxel_size_mm=voxel, base_apex_mm=(-20.0, 20.0), max_radius_mm=30.0
        )
        profile = bullseye.values.max(axis=0)
        peak = bullseye.angles_deg[np.argmax(profile)]
        assert abs((peak - angle + 180.0) % 360.0 - 180.0) <= 6.0
        # The same spot in the SA view: septal -> left columns, anterior -> top rows.
        short_axis = reorient(volume, lv, voxel_size_mm=voxel, view="SA")
        _, row, col = np.unravel_index(np.argmax(short_axis), short_axis.shape)
        centre = (short_axis.shape[1] - 1) / 2
        if angle == 0.0:
            assert col < centre - 3 and abs(row - centre) <= 1
        else:
            assert row < centre - 3 and abs(col - centre) <= 1


def test_aha17_averages_each_segment():
    levels = (np.arange(12)[::-1] + 0.5) / 9  # 9 body rings and 3 cap rings
    angles = (np.arange(24) + 0.5) * 15.0
    template = PolarMap(
        values=np.zeros((12, 24)),
        levels=levels,
        angles_deg=angles,
        axial_mm=levels,
        base_apex_mm=(0.0, 1.0),
        max_radius_mm=1.0,
    )
    labels = template.segments()
    bullseye = PolarMap(
        values=labels.astype(float) * 10.0,
        levels=levels,
        angles_deg=angles,
        axial_mm=levels,
        base_apex_mm=(0.0, 1.0),
        max_radius_mm=1.0,
    )
    assert aha17(bullseye).tolist() == [10.0 * s for s in range(1, 18)]
    # Equal samples per 60-degree (basal, mid) and 90-degree (apical) sector.
    counts = np.bincount(labels.ravel(), minlength=18)[1:]
    assert len(set(counts[:12])) == 1 and len(set(counts[12:16])) == 1


def test_show_draws_a_bullseye():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phantom = _phantom()
    bullseye = polar_map(phantom.activity, phantom.lv, voxel_size_mm=VOXEL_MM)
    ax = bullseye.show(vmin=0.0, vmax=1.0)
    assert len(ax.collections) == 1
    assert {t.get_text() for t in ax.texts} >= {str(s) for s in range(1, 18)} | {"ANT", "INF"}
    _, other = plt.subplots()
    assert show_polar_map(bullseye, other, segments=False, numbers=False, colorbar=False) is other
    plt.close("all")


def test_bad_inputs_raise_value_errors_naming_the_argument():
    phantom = _phantom()
    volume, lv = phantom.activity, phantom.lv
    cases = [
        (lambda: polar_map(volume, lv.to_dict(), voxel_size_mm=6.4), "lv"),
        (lambda: polar_map(volume[0], lv, voxel_size_mm=6.4), "volume"),
        (lambda: polar_map(volume.astype(complex), lv, voxel_size_mm=6.4), "volume"),
        (lambda: polar_map(np.full(volume.shape, np.nan), lv, voxel_size_mm=6.4), "volume"),
        (lambda: polar_map(volume, lv, voxel_size_mm=-1.0), "voxel_size_mm"),
        (lambda: polar_map(volume, lv, voxel_size_mm=6.4, n_angles=5), "n_angles"),
        (lambda: polar_map(volume, lv, voxel_size_mm=6.4, n_rings=2), "n_rings"),
        (lambda: polar_map(volume, lv, voxel_size_mm=6.4, base_apex_mm=(30, -30)), "base_apex_mm"),
        (lambda: polar_map(volume, lv, voxel_size_mm=6.4, base_apex_mm=(1, 2, 3)), "base_apex_mm"),
        (lambda: polar_map(volume, lv, voxel_size_mm=6.4, max_radius_mm=0), "max_radius_mm"),
        (lambda: polar_map(volume, lv, voxel_size_mm=6.4, apex_cap_mm=-2), "apex_cap_mm"),
        (lambda: polar_map(np.zeros((16, 16, 16)), lv, voxel_size_mm=6.4), "max_radius_mm"),
        (lambda: aha17(volume), "polar_map"),
        (lambda: show_polar_map(volume), "polar_map"),
    ]
    for call, word in cases:
        with pytest.raises(ValueError, match=word):
            call()


def test_docstring_examples_run():
    result = doctest.testmod(polar, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 4
