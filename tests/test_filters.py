"""Conventional filters: Gaussian FWHM in mm, Butterworth gain and padding, optimal FWHM.

Statistical checks use fixed seeds, so they are deterministic; each is built with a margin
(stated next to it) so that it passes for any seed and fails for a wrong implementation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeWarning, curve_fit

from spect_tutorial.acquisition import FWHM_PER_SIGMA
from spect_tutorial.filters import (
    BUTTERWORTH_CONVENTIONS,
    DEFAULT_FWHMS_MM,
    OptimalFWHM,
    butterworth_filter,
    butterworth_gain,
    gaussian_filter_mm,
    nyquist_cycles_per_cm,
    optimal_fwhm,
)
from spect_tutorial.metrics import nrmse

QGS = {"order": 5, "cutoff_cycles_per_cm": 0.41}


def _fitted_fwhm_mm(profile: np.ndarray, voxel_size_mm: float) -> float:
    """FWHM (mm) of a Gaussian fitted to a 1-D profile by least squares."""
    x_mm = (np.arange(profile.size) - (profile.size - 1) / 2) * voxel_size_mm

    def gaussian(x, amplitude, centre, sigma):
        return amplitude * np.exp(-((x - centre) ** 2) / (2 * sigma**2))

    start = (float(profile.max()), 0.0, 3.0 * voxel_size_mm)
    with warnings.catch_warnings():  # an exact fit leaves no residual to estimate errors
        warnings.simplefilter("ignore", OptimizeWarning)
        (_, _, sigma), _ = curve_fit(gaussian, x_mm, profile.astype(np.float64), p0=start)
    return abs(sigma) * FWHM_PER_SIGMA


def _point(shape: tuple[int, ...], counts: float = 1000.0) -> np.ndarray:
    image = np.zeros(shape, dtype=np.float32)
    image[tuple(n // 2 for n in shape)] = counts
    return image


def _centred_blob(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random positive activity in the central third of every axis, zero elsewhere."""
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, dtype=np.float32)
    inner = tuple(slice(n // 3, n - n // 3) for n in shape)
    image[inner] = rng.uniform(10.0, 100.0, size=image[inner].shape)
    return image


# ---------------------------------------------------------------------------
# Gaussian
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fwhm_mm", [6.0, 10.0, 15.0])
def test_gaussian_point_source_has_requested_fwhm_3d(fwhm_mm):
    voxel = 1.0
    smooth = gaussian_filter_mm(_point((61, 61, 61)), fwhm_mm, voxel_size_mm=voxel)
    assert smooth.dtype == np.float32
    for axis in range(3):
        index = [30, 30, 30]
        index[axis] = slice(None)
        measured = _fitted_fwhm_mm(smooth[tuple(index)], voxel)
        assert measured == pytest.approx(fwhm_mm, rel=0.02)


@pytest.mark.parametrize("fwhm_mm", [6.0, 10.0, 15.0])
def test_gaussian_point_source_has_requested_fwhm_2d_slicewise(fwhm_mm):
    voxel = 1.0
    stack = _point((5, 61, 61))  # the point sits in slice 2
    smooth = gaussian_filter_mm(stack, fwhm_mm, voxel_size_mm=voxel, axes=(-2, -1))
    assert np.all(smooth[[0, 1, 3, 4]] == 0)  # no smoothing across slices
    assert smooth[2].sum() == pytest.approx(1000.0, rel=1e-5)
    assert _fitted_fwhm_mm(smooth[2, 30, :], voxel) == pytest.approx(fwhm_mm, rel=0.02)
    assert _fitted_fwhm_mm(smooth[2, :, 30], voxel) == pytest.approx(fwhm_mm, rel=0.02)


def test_gaussian_fwhm_scales_with_voxel_size():
    # 12 mm at 2 mm voxels is 6 mm at 1 mm voxels: the same kernel in voxels.
    point = _point((41, 41, 41))
    coarse = gaussian_filter_mm(point, 12.0, voxel_size_mm=2.0)
    fine = gaussian_filter_mm(point, 6.0, voxel_size_mm=1.0)
    np.testing.assert_allclose(coarse, fine, rtol=1e-6)


def test_gaussian_fwhm_zero_is_identity_copy():
    volume = _centred_blob((9, 10, 11))
    out = gaussian_filter_mm(volume, 0.0, voxel_size_mm=6.4)
    np.testing.assert_array_equal(out, volume)
    assert out.dtype == np.float32
    assert not np.shares_memory(out, volume)


@pytest.mark.parametrize("axes", [None, (-2, -1), (0,)])
def test_gaussian_preserves_counts_away_from_edges(axes):
    volume = _centred_blob((30, 30, 30))
    smooth = gaussian_filter_mm(volume, 6.0, voxel_size_mm=2.0, axes=axes)
    assert smooth.sum(dtype=np.float64) == pytest.approx(volume.sum(dtype=np.float64), rel=1e-5)


def test_gaussian_zero_outside_field_of_view():
    # Activity at the edge spills out (no reflection): the counts drop, nothing returns.
    volume = np.zeros((20, 20, 20), dtype=np.float32)
    volume[:, :, 0] = 1.0
    smooth = gaussian_filter_mm(volume, 10.0, voxel_size_mm=2.0)
    assert smooth.sum() < 0.8 * volume.sum()
    assert smooth[:, :, -1].max() < 1e-6


def test_gaussian_batch_axes_are_independent():
    batch = np.stack([_centred_blob((16, 16, 16), seed) for seed in range(3)])
    together = gaussian_filter_mm(batch, 8.0, voxel_size_mm=2.0, axes=(1, 2, 3))
    for k in range(3):
        alone = gaussian_filter_mm(batch[k], 8.0, voxel_size_mm=2.0)
        np.testing.assert_allclose(together[k], alone, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# Butterworth
# ---------------------------------------------------------------------------


def test_nyquist_at_clinical_pixel_size():
    assert nyquist_cycles_per_cm(6.4) == 0.78125
    assert nyquist_cycles_per_cm(3.2) == 1.5625


@pytest.mark.parametrize(("convention", "at_cutoff"), [("classic", 2**-0.5), ("squared", 0.5)])
@pytest.mark.parametrize("order", [1, 5, 10])
def test_butterworth_gain_at_zero_and_cutoff(convention, at_cutoff, order):
    kwargs = {"order": order, "cutoff_cycles_per_cm": 0.41, "convention": convention}
    assert butterworth_gain(0.0, **kwargs) == 1.0
    assert butterworth_gain(0.41, **kwargs) == pytest.approx(at_cutoff, rel=1e-12)
    curve = butterworth_gain(np.linspace(0, 2, 50), **kwargs)
    assert isinstance(curve, np.ndarray) and curve.shape == (50,)
    assert np.all(np.diff(curve) <= 0) and 0 < curve[-1] < curve[0] == 1


def test_butterworth_squared_is_classic_squared_and_default_is_classic():
    f = np.linspace(0, 1.5, 31)
    classic = butterworth_gain(f, **QGS)
    squared = butterworth_gain(f, **QGS, convention="squared")
    np.testing.assert_allclose(squared, classic**2, rtol=1e-12)
    np.testing.assert_array_equal(classic, butterworth_gain(f, **QGS, convention="classic"))
    assert set(BUTTERWORTH_CONVENTIONS) == {"classic", "squared"}


def test_butterworth_higher_order_cuts_more_steeply():
    above = butterworth_gain(0.6, order=10, cutoff_cycles_per_cm=0.41)
    assert above < butterworth_gain(0.6, order=5, cutoff_cycles_per_cm=0.41)
    below = butterworth_gain(0.3, order=10, cutoff_cycles_per_cm=0.41)
    assert below > butterworth_gain(0.3, order=5, cutoff_cycles_per_cm=0.41)


@pytest.mark.parametrize("convention", ["classic", "squared"])
@pytest.mark.parametrize("order", [2, 5])
def test_butterworth_filter_applies_the_gain(order, convention):
    # The DFT magnitude of the filtered centred impulse is the gain on the DFT's radial
    # frequencies (up to the impulse response's tail beyond the 128-pixel crop).
    n, voxel = 128, 6.4
    kwargs = {"order": order, "cutoff_cycles_per_cm": 0.41, "convention": convention}
    response = butterworth_filter(_point((n, n), 1.0), **kwargs, voxel_size_mm=voxel)
    measured = np.abs(np.fft.rfft2(response.astype(np.float64)))
    fy, fx = np.fft.fftfreq(n, voxel / 10.0), np.fft.rfftfreq(n, voxel / 10.0)
    expected = butterworth_gain(np.hypot(fy[:, None], fx[None, :]), **kwargs)
    np.testing.assert_allclose(measured, expected, atol=2e-3)


def test_butterworth_squared_filter_equals_classic_applied_twice():
    image = _centred_blob((96, 96))
    kwargs = {**QGS, "voxel_size_mm": 6.4}
    twice = butterworth_filter(butterworth_filter(image, **kwargs), **kwargs)
    squared = butterworth_filter(image, **kwargs, convention="squared")
    np.testing.assert_allclose(squared, twice, atol=1e-3 * float(squared.max()))


@pytest.mark.parametrize("convention", ["classic", "squared"])
@pytest.mark.parametrize(
    ("shape", "axes"), [((3, 96, 96), (-2, -1)), ((48, 48, 48), None), ((64, 64), (-2, -1))]
)
def test_butterworth_preserves_counts(convention, shape, axes):
    data = _centred_blob(shape)
    out = butterworth_filter(data, **QGS, voxel_size_mm=6.4, convention=convention, axes=axes)
    assert out.dtype == np.float32 and out.shape == data.shape
    batch = tuple(range(data.ndim - 2)) if axes is not None else ()  # totals per view
    summed = tuple(axis for axis in range(data.ndim) if axis not in batch)
    total_in = data.sum(axis=summed, dtype=np.float64)
    total_out = out.sum(axis=summed, dtype=np.float64)
    np.testing.assert_allclose(total_out, total_in, rtol=1e-4)


def test_butterworth_projections_filtered_view_by_view():
    projections = np.stack([_centred_blob((48, 48), seed) for seed in range(4)])
    together = butterworth_filter(projections, **QGS, voxel_size_mm=6.4)
    for v in range(4):
        alone = butterworth_filter(projections[v], **QGS, voxel_size_mm=6.4)
        np.testing.assert_allclose(together[v], alone, rtol=1e-5, atol=1e-5)


def test_butterworth_no_wrap_around():
    # A hot "liver" block at the left edge must not reappear at the right edge, as it
    # would with an unpadded (circular) FFT.
    n, voxel = 64, 6.4
    image = np.zeros((n, n), dtype=np.float32)
    image[:, :8] = 1000.0
    out = butterworth_filter(image, **QGS, voxel_size_mm=voxel)
    assert np.abs(out[:, -4:]).max() < 1e-4 * out.max()

    fy, fx = np.fft.fftfreq(n, voxel / 10.0), np.fft.rfftfreq(n, voxel / 10.0)
    gain = butterworth_gain(np.hypot(fy[:, None], fx[None, :]), **QGS)
    circular = np.fft.irfft2(np.fft.rfft2(image) * gain, s=(n, n))
    assert np.abs(circular[:, -1]).max() > 0.1 * circular.max()  # what the padding prevents


def test_butterworth_cutoff_at_nyquist_is_allowed():
    image = _centred_blob((32, 32))
    out = butterworth_filter(image, order=5, cutoff_cycles_per_cm=0.78125, voxel_size_mm=6.4)
    assert np.isfinite(out).all()


def test_butterworth_accepts_lists_and_integers():
    image = _centred_blob((16, 16)).astype(np.int64).tolist()
    out = butterworth_filter(image, order=5.0, cutoff_cycles_per_cm=0.5, voxel_size_mm=6.4)
    assert out.shape == (16, 16) and out.dtype == np.float32


# ---------------------------------------------------------------------------
# Optimal FWHM (the study's baseline)
# ---------------------------------------------------------------------------


def _optimal_fwhm_case(seed: int, point: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sharp object (a point or a 6 mm cube) on a 100-count background with Poisson noise;
    ideal = the noise-free object blurred to 7 mm FWHM; region = 10 mm ball around it.

    Margin: after 7 mm smoothing the noise standard deviation is under 1 count, while a
    0.5 mm FWHM change moves the ideal's peak (about 500 counts above background) by ~20 %,
    so noise cannot move the minimum of the curve by a step."""
    n, voxel = 32, 2.0
    sharp = np.full((n, n, n), 100.0)
    if point:
        sharp[16, 16, 16] += 27000.0
    else:
        sharp[15:18, 15:18, 15:18] = 1000.0
    ideal = gaussian_filter_mm(sharp, 7.0, voxel_size_mm=voxel)
    noisy = np.random.default_rng(seed).poisson(sharp).astype(np.float32)
    z, y, x = np.indices(sharp.shape)
    region = np.sqrt((z - 16) ** 2 + (y - 16) ** 2 + (x - 16) ** 2) * voxel <= 10.0
    return noisy, ideal, region


@pytest.mark.parametrize("point", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimal_fwhm_finds_the_ideal_blur(seed, point):
    noisy, ideal, region = _optimal_fwhm_case(seed, point)
    best = optimal_fwhm(noisy, ideal, region=region, voxel_size_mm=2.0)
    assert isinstance(best, OptimalFWHM)
    assert abs(best.fwhm_mm - 7.0) <= 0.5
    np.testing.assert_array_equal(best.fwhms_mm, DEFAULT_FWHMS_MM)
    assert best.fwhms_mm[0] == 0.0 and best.fwhms_mm[-1] == 20.0 and best.fwhms_mm.size == 41
    assert best.nrmse_curve.shape == (41,)
    assert best.nrmse == best.nrmse_curve.min()
    assert best.nrmse_curve[0] == pytest.approx(nrmse(noisy, ideal, region), rel=1e-6)
    # A U-shaped curve: noise at small FWHM, blur at large FWHM.
    assert best.nrmse_curve[0] > 2 * best.nrmse and best.nrmse_curve[-1] > 2 * best.nrmse


def test_optimal_fwhm_noise_free_is_exact():
    noisy, ideal, region = _optimal_fwhm_case(0, point=False)
    sharp = np.full_like(noisy, 100.0)
    sharp[15:18, 15:18, 15:18] = 1000.0
    best = optimal_fwhm(sharp, ideal, region=region, voxel_size_mm=2.0)
    assert best.fwhm_mm == 7.0
    assert best.nrmse < 1e-6


def test_optimal_fwhm_custom_sweep_and_read_only_result():
    noisy, ideal, region = _optimal_fwhm_case(0, point=True)
    best = optimal_fwhm(noisy, ideal, region=region, voxel_size_mm=2.0, fwhms_mm=[9.0, 7.0, 5.0])
    assert best.fwhm_mm == 7.0
    np.testing.assert_array_equal(best.fwhms_mm, [9.0, 7.0, 5.0])
    with pytest.raises(ValueError):
        best.nrmse_curve[0] = 0.0
    with pytest.raises(AttributeError):
        best.fwhm_mm = 1.0  # type: ignore[misc]


def test_optimal_fwhm_warns_when_optimum_is_the_largest_fwhm():
    noisy, ideal, region = _optimal_fwhm_case(0, point=True)
    with pytest.warns(RuntimeWarning, match="largest"):
        best = optimal_fwhm(noisy, ideal, region=region, voxel_size_mm=2.0, fwhms_mm=[0, 2, 4])
    assert best.fwhm_mm == 4.0


# ---------------------------------------------------------------------------
# Bad input: ValueError naming the argument
# ---------------------------------------------------------------------------

VOLUME = np.ones((8, 8, 8), dtype=np.float32)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"fwhm_mm": -1.0}, "fwhm_mm"),
        ({"fwhm_mm": float("nan")}, "fwhm_mm"),
        ({"fwhm_mm": float("inf")}, "fwhm_mm"),
        ({"fwhm_mm": "wide"}, "fwhm_mm"),
        ({"voxel_size_mm": 0.0}, "voxel_size_mm"),
        ({"voxel_size_mm": -6.4}, "voxel_size_mm"),
        ({"axes": (0, 0)}, "axes"),
        ({"axes": (3,)}, "axes"),
        ({"axes": ()}, "axes"),
        ({"axes": (0.5,)}, "axes"),
        ({"volume": np.full((4, 4), np.nan)}, "volume"),
        ({"volume": np.ones((4, 4), dtype=complex)}, "volume"),
        ({"volume": np.float32(1.0)}, "volume"),
    ],
)
def test_gaussian_bad_input(kwargs, name):
    arguments = {"volume": VOLUME, "fwhm_mm": 6.0, "voxel_size_mm": 6.4, **kwargs}
    volume = arguments.pop("volume")
    fwhm = arguments.pop("fwhm_mm")
    with pytest.raises(ValueError, match=name):
        gaussian_filter_mm(volume, fwhm, **arguments)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cutoff_cycles_per_cm": 0.0}, "cutoff_cycles_per_cm"),
        ({"cutoff_cycles_per_cm": -0.41}, "cutoff_cycles_per_cm"),
        ({"cutoff_cycles_per_cm": float("nan")}, "cutoff_cycles_per_cm"),
        ({"cutoff_cycles_per_cm": 0.8}, r"cutoff_cycles_per_cm.*Nyquist.*0\.78125"),
        ({"cutoff_cycles_per_cm": 1.0, "voxel_size_mm": 6.4}, r"0\.78125"),
        ({"cutoff_cycles_per_cm": 1.6, "voxel_size_mm": 3.2}, r"1\.5625"),
        ({"order": 0}, "order"),
        ({"order": -5}, "order"),
        ({"order": 2.5}, "order"),
        ({"order": True}, "order"),
        ({"order": "5"}, "order"),
        ({"convention": "Classic"}, "convention"),
        ({"convention": "power"}, "convention"),
        ({"voxel_size_mm": 0.0}, "voxel_size_mm"),
        ({"axes": (1, -2)}, "axes"),
        ({"axes": (-4,)}, "axes"),
        ({"data": np.array([[np.inf, 1.0], [1.0, 1.0]])}, "data"),
        ({"data": np.array([["a", "b"]])}, "data"),
    ],
)
def test_butterworth_bad_input(kwargs, match):
    arguments = {"data": np.ones((3, 8, 8)), **QGS, "voxel_size_mm": 6.4, **kwargs}
    data = arguments.pop("data")
    with pytest.raises(ValueError, match=match):
        butterworth_filter(data, **arguments)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"order": 0}, "order"),
        ({"cutoff_cycles_per_cm": 0.0}, "cutoff_cycles_per_cm"),
        ({"convention": "cubed"}, "convention"),
        ({"frequency_cycles_per_cm": -0.1}, "frequency_cycles_per_cm"),
        ({"frequency_cycles_per_cm": [0.1, np.nan]}, "frequency_cycles_per_cm"),
    ],
)
def test_butterworth_gain_bad_input(kwargs, name):
    arguments = {"frequency_cycles_per_cm": 0.2, **QGS, **kwargs}
    frequency = arguments.pop("frequency_cycles_per_cm")
    with pytest.raises(ValueError, match=name):
        butterworth_gain(frequency, **arguments)


def _optimal_arguments(**changes):
    ideal = np.ones((6, 6, 6))
    arguments = {
        "noisy": ideal + 0.1,
        "ideal": ideal,
        "region": np.ones((6, 6, 6), dtype=bool),
        "voxel_size_mm": 6.4,
        **changes,
    }
    return arguments.pop("noisy"), arguments.pop("ideal"), arguments


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"region": np.ones((6, 6, 5), dtype=bool)}, "region"),
        ({"region": np.zeros((6, 6, 6), dtype=bool)}, "region is empty"),
        ({"region": np.ones((6, 6, 6))}, "region"),
        ({"fwhms_mm": []}, "fwhms_mm"),
        ({"fwhms_mm": [0.0, -0.5]}, "fwhms_mm"),
        ({"fwhms_mm": [0.0, np.nan]}, "fwhms_mm"),
        ({"fwhms_mm": [[1.0, 2.0]]}, "fwhms_mm"),
        ({"voxel_size_mm": float("nan")}, "voxel_size_mm"),
        ({"noisy": np.full((6, 6, 6), np.nan)}, "noisy"),
        ({"noisy": np.ones((6,))}, "noisy"),
        ({"ideal": np.ones((6, 6, 7))}, "ideal"),
        ({"ideal": np.zeros((6, 6, 6))}, "ideal"),
        ({"ideal": np.where(np.eye(6, dtype=bool)[None], np.nan, 1.0)}, "ideal"),
    ],
)
def test_optimal_fwhm_bad_input(changes, match):
    noisy, ideal, arguments = _optimal_arguments(**changes)
    with pytest.raises(ValueError, match=match):
        optimal_fwhm(noisy, ideal, **arguments)


@pytest.mark.parametrize("sigma_voxels", [0.3, 0.46, 0.8, 1.0, 1.7, 3.0])
def test_kernel_variance_is_right_even_below_one_voxel(sigma_voxels):
    # Sampling the Gaussian at voxel centres would give about 0.33 for sigma 0.46.
    from spect_tutorial.filters import gaussian_kernel_1d

    kernel = gaussian_kernel_1d(sigma_voxels)
    offsets = np.arange(kernel.size) - kernel.size // 2
    assert kernel.sum() == pytest.approx(1.0)
    assert np.all(kernel >= 0)
    assert np.sqrt((kernel * offsets**2).sum()) == pytest.approx(sigma_voxels, rel=1e-3)
