"""Myocardial wall thickness: the FWHM of radial profiles through the LV wall.

The study's key claim is that the Noise2Noise network keeps the myocardial wall
as thin as the reconstruction allows while a Gaussian filter thickens it. The
ruler for that claim is fixed in the science reference, section 8:

    Wall thickness = median over 36 angles x 3 short-axis levels (25, 50 and
    75 % of the distance from base to apex) of the FWHM of radial profiles
    through the wall, with the half maximum taken from a smooth fit.

:func:`wall_thickness` implements it, :func:`expected_wall_fwhm_mm` gives the
analytic value for a wall of known thickness seen through a known blur (a box
convolved with a Gaussian and, optionally, a voxel), and
:func:`radial_wall_chord_mm` the true length of the phantom's wall along the
radial direction that is measured (longer than the wall thickness where the
wall is tilted, towards the apex). :func:`phantom_base_apex_mm` gives the exact
base plane and endocardial apex of the package's phantoms.

A measured FWHM is never the wall thickness itself: at 6.4 mm voxels even the
noise-free (ideal) reconstruction shows a wall several millimetres wider than
the true one (the benchmark records both, ``wall_ideal_mm`` and
``wall_true_mm``; the study's report gives no thickness in mm), so the value
is always reported beside the ideal image's value and the true wall.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, optimize, special

from ._validation import increasing_pair, integer
from ._validation import volume as check_volume
from .acquisition import FWHM_PER_SIGMA
from .frame import LVGeometry, check_voxel_size_mm, mm_to_index
from .segments import aha_segment
from .shapes import distance_to_ellipse

__all__ = [
    "WallThickness",
    "expected_wall_fwhm_mm",
    "phantom_base_apex_mm",
    "radial_wall_chord_mm",
    "wall_thickness",
]


# Smallest Gaussian width (mm) and box width (mm) the profile fit may use.
_MIN_SIGMA_MM = 0.2
_MIN_WIDTH_MM = 0.05
# Smallest wall contrast over the higher background, as a fraction of the wall level.
_MIN_CONTRAST = 0.05
# The fit window reaches this many rough FWHMs to each side of the peak.
_WINDOW_FWHMS = 1.25
# Base and apex are searched this far (mm) from the LV centre along the long axis.
_AXIAL_REACH_MM = 150.0


# --------------------------------------------------------------------------------------
# Analytic expectations
# --------------------------------------------------------------------------------------


def _ramp_integral(z: np.ndarray, sigma: float) -> np.ndarray:
    """Antiderivative of the Gaussian CDF: ``sigma * G(z / sigma)``, ``G(u) = u Phi(u) + phi(u)``.

    Tends to the ramp ``max(z, 0)`` as ``sigma -> 0``.
    """
    if sigma == 0.0:
        return np.maximum(z, 0.0)
    u = z / sigma
    return sigma * (u * special.ndtr(u) + np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi))


def _blurred_box(x: np.ndarray, width_mm: float, sigma_mm: float, box_mm: float) -> np.ndarray:
    """Box of ``width_mm`` (height 1) convolved with a unit-area box and a Gaussian."""
    x = np.asarray(x, dtype=np.float64)
    half = width_mm / 2.0
    if box_mm > 0.0:
        edges = box_mm / 2.0
        return (
            _ramp_integral(x + half + edges, sigma_mm)
            - _ramp_integral(x + half - edges, sigma_mm)
            - _ramp_integral(x - half + edges, sigma_mm)
            + _ramp_integral(x - half - edges, sigma_mm)
        ) / box_mm
    if sigma_mm == 0.0:
        return (np.abs(x) <= half).astype(np.float64)
    return special.ndtr((x + half) / sigma_mm) - special.ndtr((x - half) / sigma_mm)


def _box_fwhm(width_mm: float, sigma_mm: float, box_mm: float = 0.0) -> float:
    """FWHM (mm) of :func:`_blurred_box`, by root finding on the symmetric profile."""
    if sigma_mm == 0.0:
        return float(max(width_mm, box_mm))
    peak = float(_blurred_box(0.0, width_mm, sigma_mm, box_mm))
    if peak <= 0.0:  # pragma: no cover - a box of width > 0 always has a positive peak
        return float("nan")
    upper = width_mm / 2.0 + box_mm / 2.0 + 10.0 * sigma_mm
    half = optimize.brentq(
        lambda x: float(_blurred_box(x, width_mm, sigma_mm, box_mm)) - peak / 2.0,
        0.0,
        upper,
        xtol=1e-6,
    )
    return 2.0 * float(half)


def _non_negative_mm(value: Any, name: str, *, positive: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of mm, got {value!r}") from None
    if not np.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number of mm {bound}, got {value!r}")
    return number


def expected_wall_fwhm_mm(
    wall_thickness_mm: float, *, blur_fwhm_mm: float, voxel_size_mm: float = 0.0
) -> float:
    """FWHM of a wall of known thickness seen through a Gaussian blur (and a voxel).

    The wall's profile along its normal is a box of width ``w``; the imaging
    chain convolves it with a Gaussian of FWHM ``b`` and, when the object was
    voxelised by averaging over voxels of size ``d``, with a box of width ``d``.
    The FWHM of the result is found numerically.

    Parameters
    ----------
    wall_thickness_mm : float
        True wall thickness ``w`` in mm (> 0).
    blur_fwhm_mm : float
        FWHM ``b`` of the Gaussian blur in mm (>= 0; 0 = no blur).
    voxel_size_mm : float, optional
        Width ``d`` of the voxel box in mm (>= 0; default 0 = no voxel averaging).

    Returns
    -------
    float
        FWHM in mm of ``box(w) * box(d) * Gaussian(b)``.

    Notes
    -----
    With ``sigma = b / (2 sqrt(2 ln 2))`` and the standard normal CDF ``Phi``, a
    box convolved with the Gaussian is

    .. math:: p(x) = \\Phi\\left(\\frac{x + w/2}{\\sigma}\\right)
                     - \\Phi\\left(\\frac{x - w/2}{\\sigma}\\right),

    whose FWHM tends to ``w`` when ``b << w`` and to ``b`` when ``b >> w``.
    The voxel box adds the average of ``p`` over ``[x - d/2, x + d/2]``, in
    closed form through the antiderivative ``u Phi(u) + phi(u)`` of ``Phi``.
    Without blur, ``box(w) * box(d)`` is a trapezoid of FWHM ``max(w, d)``.

    Examples
    --------
    >>> round(expected_wall_fwhm_mm(9.0, blur_fwhm_mm=0.0), 3)
    9.0
    >>> round(expected_wall_fwhm_mm(9.0, blur_fwhm_mm=12.0), 2)
    13.64
    >>> round(expected_wall_fwhm_mm(0.001, blur_fwhm_mm=12.0), 2)
    12.0
    """
    width = _non_negative_mm(wall_thickness_mm, "wall_thickness_mm", positive=True)
    blur = _non_negative_mm(blur_fwhm_mm, "blur_fwhm_mm")
    voxel = _non_negative_mm(voxel_size_mm, "voxel_size_mm")
    return _box_fwhm(width, blur / FWHM_PER_SIGMA, voxel)


def radial_wall_chord_mm(
    wall_thickness_mm: float,
    *,
    inner_radius_mm: float,
    cavity_length_mm: float,
    level: float,
) -> float:
    """Length of the phantom's LV wall along a short-axis radial ray.

    The package's phantom (:func:`spect_tutorial.phantom.make_phantom`) has a
    half-spheroid cavity (radius ``R`` at the base, length ``L`` from the base
    plane to the endocardial apex) and a wall of thickness ``w`` along every
    normal. A ray in the short-axis plane at ``level`` (fraction of ``L`` from
    the base) crosses the wall obliquely where the wall is tilted, so the
    radial chord is longer than ``w``: this is the true wall along the
    direction :func:`wall_thickness` measures.

    Parameters
    ----------
    wall_thickness_mm : float
        Wall thickness along the normal, mm (> 0).
    inner_radius_mm : float
        Cavity radius at the base, mm (``Anatomy.lv_inner_radius_mm``).
    cavity_length_mm : float
        Cavity length from the base plane to the endocardial apex, mm
        (``Anatomy.lv_cavity_length_mm``).
    level : float
        Short-axis level in [0, 1): 0 at the base plane, 1 at the endocardial apex.

    Returns
    -------
    float
        Radial chord length in mm (equal to ``w`` at the base, growing towards
        the apex).

    Examples
    --------
    >>> [round(radial_wall_chord_mm(9.0, inner_radius_mm=25.0, cavity_length_mm=70.0,
    ...                             level=f), 2) for f in (0.25, 0.5, 0.75)]
    [9.04, 9.18, 9.63]
    """
    width = _non_negative_mm(wall_thickness_mm, "wall_thickness_mm", positive=True)
    radius = _non_negative_mm(inner_radius_mm, "inner_radius_mm", positive=True)
    length = _non_negative_mm(cavity_length_mm, "cavity_length_mm", positive=True)
    fraction = float(level)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"level must be in [0, 1), got {level!r}")
    axial = fraction * length
    inner = radius * np.sqrt(1.0 - fraction**2)

    def excess(r: float) -> float:
        return float(distance_to_ellipse(np.array(r), np.array(axial), radius, length)) - width

    outer = optimize.brentq(excess, inner, inner + width / np.sqrt(1.0 - fraction**2) + width)
    return float(outer - inner)


def phantom_base_apex_mm(phantom: Any) -> tuple[float, float]:
    """Exact ``base_apex_mm`` of a phantom made by :func:`~spect_tutorial.phantom.make_phantom`.

    The LV centre of the package's phantom is the cavity's midpoint, so the
    base plane and the endocardial apex lie at ``-L/2`` and ``+L/2`` along the
    long axis, ``L`` being the cavity length recorded in
    ``phantom.parameters["anatomy"]``.

    Parameters
    ----------
    phantom : Phantom
        A phantom from :func:`~spect_tutorial.phantom.make_phantom` or
        :func:`~spect_tutorial.phantom.random_phantom` (or one loaded from
        their saved files).

    Returns
    -------
    tuple of float
        ``(-L/2, L/2)`` in mm.

    Raises
    ------
    ValueError
        If the phantom does not record its anatomy (e.g. external XCAT arrays):
        then let :func:`wall_thickness` estimate the base and apex.

    Examples
    --------
    >>> from spect_tutorial.phantom import make_phantom
    >>> phantom_base_apex_mm(make_phantom(shape=(32, 32, 32), voxel_size_mm=12.8))
    (-35.0, 35.0)
    """
    parameters = getattr(phantom, "parameters", None)
    try:
        length = float(parameters["anatomy"]["lv_cavity_length_mm"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise ValueError(
            "phantom must record parameters['anatomy']['lv_cavity_length_mm'] (a phantom "
            "from make_phantom or random_phantom); for other images leave base_apex_mm=None"
        ) from None
    if not np.isfinite(length) or length <= 0:
        raise ValueError(f"the phantom's lv_cavity_length_mm must be > 0, got {length!r}")
    return -length / 2.0, length / 2.0


# --------------------------------------------------------------------------------------
# The profile fit
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ProfileFit:
    fwhm_mm: float
    center_mm: float
    width_mm: float
    sigma_mm: float
    inner_edge_mm: float


def _edge_basis(r: np.ndarray, center: float, width: float, sigma: float) -> np.ndarray:
    inner = special.ndtr((r - (center - width / 2.0)) / sigma)
    outer = special.ndtr((r - (center + width / 2.0)) / sigma)
    return np.stack([1.0 - inner, inner - outer, outer], axis=1)


def _wall_model(r: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Three-level edge model and its Jacobian in ``(c, u, v, b_in, a, b_out)``.

    ``W = W_min + u^2`` and ``s = s_min + v^2`` keep the widths positive while
    letting the fit reach ``W = W_min`` (a wall thinner than the blur) or
    ``s = s_min`` (an unblurred wall) in finitely many steps.
    """
    center, u, v, inside, wall, outside = params
    width, sigma = _MIN_WIDTH_MM + u * u, _MIN_SIGMA_MM + v * v
    z1 = np.clip((r - (center - width / 2.0)) / sigma, -40.0, 40.0)
    z2 = np.clip((r - (center + width / 2.0)) / sigma, -40.0, 40.0)
    cdf1, cdf2 = special.ndtr(z1), special.ndtr(z2)
    pdf1 = np.exp(-0.5 * z1 * z1) / np.sqrt(2.0 * np.pi)
    pdf2 = np.exp(-0.5 * z2 * z2) / np.sqrt(2.0 * np.pi)
    model = inside * (1.0 - cdf1) + wall * (cdf1 - cdf2) + outside * cdf2
    rise, fall = (wall - inside) * pdf1 / sigma, (outside - wall) * pdf2 / sigma
    jacobian = np.stack(
        [
            -rise - fall,
            (rise - fall) * u,
            -(rise * z1 + fall * z2) * 2.0 * v,
            1.0 - cdf1,
            cdf1 - cdf2,
            cdf2,
        ],
        axis=1,
    )
    return model, jacobian


def _fit_wall(
    r: np.ndarray, profile: np.ndarray, peak_mm: float, rough_fwhm_mm: float
) -> _ProfileFit | None:
    """Fit cavity level, wall (box * Gaussian) and outer level to one window of a profile.

    The model is a three-level object along the ray (inner background ``b_in``,
    wall of width ``W`` and level ``a``, outer background ``b_out``) convolved
    with a Gaussian of width ``s``. It is fitted by Levenberg-Marquardt
    (``scipy.optimize.least_squares(method="lm")``, analytic Jacobian) from
    two starts, a sharp wide box and a narrow blurred one, whose levels come
    from linear least squares; the better fit is kept. Returns None when no
    fit describes a wall (contrast under 5 %, edges outside the window, a
    FWHM as wide as the window).
    """
    span = float(r[-1] - r[0])
    best = None
    for width_fraction, blur_fraction in ((0.8, 0.2), (0.3, 0.9)):
        width = max(width_fraction * rough_fwhm_mm, 2.0 * _MIN_WIDTH_MM)
        sigma = max(blur_fraction * rough_fwhm_mm / FWHM_PER_SIGMA, 2.0 * _MIN_SIGMA_MM)
        levels, *_ = np.linalg.lstsq(_edge_basis(r, peak_mm, width, sigma), profile, rcond=None)
        start = np.concatenate(
            [[peak_mm, np.sqrt(width - _MIN_WIDTH_MM), np.sqrt(sigma - _MIN_SIGMA_MM)], levels]
        )
        try:
            result = optimize.least_squares(
                lambda p: _wall_model(r, p)[0] - profile,
                start,
                jac=lambda p: _wall_model(r, p)[1],
                method="lm",
                # The FWHM settles long before W and s do (they trade off when the
                # blur is wider than the wall): loose tolerances change it by < 0.01 mm.
                xtol=1e-4,
                ftol=1e-4,
                max_nfev=100,
            )
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):  # pragma: no cover
            continue
        if np.all(np.isfinite(result.x)) and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        return None
    center, u, v, inside, wall, outside = (float(value) for value in best.x)
    width, sigma = _MIN_WIDTH_MM + u * u, _MIN_SIGMA_MM + v * v
    if not wall - max(inside, outside, 0.0) > _MIN_CONTRAST * abs(wall):
        return None
    if not (r[0] < center - width / 2.0 and center + width / 2.0 < r[-1]):
        return None
    fwhm = _box_fwhm(width, sigma)
    if not np.isfinite(fwhm) or fwhm >= span:
        return None
    return _ProfileFit(fwhm, center, width, sigma, center - width / 2.0)


def _rough_peak(
    r: np.ndarray, profile: np.ndarray, search: tuple[float, float], step_mm: float
) -> tuple[int, float] | None:
    """Peak index in ``search`` and a rough FWHM (half-maximum crossings, smoothed profile)."""
    valid = np.isfinite(profile)
    if valid.sum() < 8:
        return None
    smooth = ndimage.gaussian_filter1d(
        np.where(valid, profile, 0.0), sigma=1.0 / step_mm, mode="nearest"
    )
    smooth[~valid] = np.nan
    in_search = (r >= search[0]) & (r <= search[1]) & valid
    if not in_search.any():
        return None
    candidates = np.flatnonzero(in_search)
    peak = int(candidates[np.nanargmax(smooth[candidates])])
    if peak == 0 or peak == len(r) - 1 or not np.isfinite(smooth[peak + 1]):
        return None
    # The peak must be a local maximum of the whole profile, not the edge of the search range.
    if smooth[peak - 1] > smooth[peak] or smooth[peak + 1] > smooth[peak]:
        return None
    height = smooth[peak]
    inner_min = np.nanmin(smooth[: peak + 1])
    reach = round(30.0 / step_mm)
    outer_min = np.nanmin(smooth[peak : peak + reach + 1])
    # A wall stands out from both sides by a visible fraction of its level.
    if not height - max(inner_min, outer_min) > _MIN_CONTRAST * abs(height):
        return None
    inner_half = (height + inner_min) / 2.0
    outer_half = (height + outer_min) / 2.0
    below_inside = np.flatnonzero(smooth[:peak] < inner_half)
    below_outside = np.flatnonzero(smooth[peak:] < outer_half)
    if below_inside.size == 0 or below_outside.size == 0:
        return None
    rough = (peak + below_outside[0] - below_inside[-1]) * step_mm
    return peak, float(rough)


def _measure_profile(
    r: np.ndarray, profile: np.ndarray, search: tuple[float, float], step_mm: float
) -> _ProfileFit | None:
    rough = _rough_peak(r, profile, search, step_mm)
    if rough is None:
        return None
    peak, rough_fwhm = rough
    half_window = _WINDOW_FWHMS * rough_fwhm
    window = (r >= r[peak] - half_window) & (r <= r[peak] + half_window) & np.isfinite(profile)
    if window.sum() < 8:
        return None
    return _fit_wall(r[window], profile[window], float(r[peak]), rough_fwhm)


# --------------------------------------------------------------------------------------
# Sampling the volume in the LV frame
# --------------------------------------------------------------------------------------


def _sample(
    volume: np.ndarray, points_xyz_mm: np.ndarray, voxel_size_mm: float, order: int
) -> np.ndarray:
    """Interpolate ``volume`` at ``(..., 3)`` positions in mm; NaN outside the volume."""
    index = mm_to_index(points_xyz_mm, volume.shape, voxel_size_mm)
    flat = index.reshape(-1, 3).T
    values = ndimage.map_coordinates(volume, flat, order=order, mode="nearest", prefilter=False)
    outside = np.any((flat < 0) | (flat > np.array(volume.shape)[:, None] - 1), axis=0)
    values[outside] = np.nan
    return values.reshape(index.shape[:-1])


def _radial_points(
    lv: LVGeometry, axial_mm: float, angles_deg: np.ndarray, radii_mm: np.ndarray
) -> np.ndarray:
    angles = np.deg2rad(angles_deg)[:, None, None]
    direction = np.cos(angles) * lv.septal_direction + np.sin(angles) * lv.anterior_direction
    return lv.center + axial_mm * lv.long_axis + radii_mm[None, :, None] * direction


def _crossing(positions: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """First position where ``values`` (ordered along ``positions``) falls below ``threshold``."""
    below = np.flatnonzero(values < threshold)
    if below.size == 0 or below[0] == 0:
        return float("nan")
    k = int(below[0])
    v0, v1 = values[k - 1], values[k]
    return float(
        positions[k - 1] + (v0 - threshold) / (v0 - v1) * (positions[k] - positions[k - 1])
    )


def _estimate_base_apex(
    volume: np.ndarray,
    lv: LVGeometry,
    voxel_size_mm: float,
    *,
    max_radius_mm: float,
    step_mm: float,
    order: int,
) -> tuple[float, float]:
    """Base plane and endocardial apex (mm from the LV centre along the long axis).

    See the Notes of :func:`wall_thickness`.
    """
    axial = np.arange(-_AXIAL_REACH_MM, _AXIAL_REACH_MM + 1e-9, 1.0)
    radii = np.arange(0.0, max_radius_mm + 1e-9, 1.0)
    angles = np.arange(0.0, 360.0, 10.0)
    rays = np.stack([_radial_points(lv, t, angles, radii) for t in axial])
    samples = _sample(volume, rays, voxel_size_mm, order)  # (axial, angles, radii)
    complete = np.all(np.isfinite(samples), axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # planes outside the volume: all-NaN
        ring = np.nanmedian(np.where(complete, samples.max(axis=2), np.nan), axis=1)
    ring[complete.sum(axis=1) < len(angles) // 2] = np.nan
    centre = int(np.argmin(np.abs(axial)))
    if not np.isfinite(ring[centre]):
        raise ValueError("the LV centre's short-axis plane is not inside the volume")
    basal = ring[: centre + 1][::-1]
    basal_positions = axial[: centre + 1][::-1]
    finite = np.isfinite(basal)
    floor = np.nanmin(basal[basal_positions >= -100.0])
    base = _crossing(basal_positions[finite], basal[finite], (ring[centre] + floor) / 2.0)
    if not np.isfinite(base) or base >= 0.0:
        raise ValueError(
            "could not find the LV base (the short-axis ring maximum never falls to half its "
            "value at the LV centre towards the base); give base_apex_mm=(base, apex)"
        )
    # Apex: the wall peak on the long axis beyond the centre, fitted like a radial profile.
    # Searched from 0.3 to 2 times the centre-to-base distance (plus 20 mm) beyond the centre.
    along = np.arange(0.0, _AXIAL_REACH_MM + 1e-9, step_mm)
    on_axis = _sample(volume, lv.center + along[:, None] * lv.long_axis, voxel_size_mm, order)
    fit = _measure_profile(along, on_axis, (-0.3 * base, -2.0 * base + 20.0), step_mm)
    if fit is None:
        raise ValueError(
            "could not find the apical wall on the long axis; give base_apex_mm=(base, apex)"
        )
    # The fitted inner edge is the endocardial apex when the fit separates the wall
    # from the blur; keep it between the half-maximum point and the wall's centre.
    apex = float(np.clip(fit.inner_edge_mm, fit.center_mm - fit.fwhm_mm / 2.0, fit.center_mm))
    if not base < apex:
        raise ValueError(
            f"estimated base ({base:.1f} mm) is not below the apex ({apex:.1f} mm); "
            "give base_apex_mm=(base, apex)"
        )
    return base, apex


# --------------------------------------------------------------------------------------
# The public measurement
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WallThickness:
    """Wall thickness of one image: per-profile FWHMs and their summaries.

    Attributes
    ----------
    median_mm : float
        Median FWHM over every successful profile (the study's wall thickness), mm.
    spread_mm : float
        Interquartile range of those FWHMs, mm.
    per_level_mm : dict of float to float
        Median FWHM at each short-axis level (fraction from base to apex), mm.
    per_segment_mm : dict of int to float
        Median FWHM per AHA segment crossed by the profiles (basal 1-6 at level
        < 1/3, mid 7-12, apical 13-16 at >= 2/3), mm.
    values_mm : numpy.ndarray
        ``(levels, angles)`` FWHM of every profile in mm, NaN where the fit failed.
    n_failed : int
        Number of profiles whose fit failed (excluded from the summaries).
    levels : tuple of float
        Short-axis levels used.
    angles_deg : numpy.ndarray
        Profile angles in degrees from the septal direction towards anterior.
    base_apex_mm : tuple of float
        Base plane and endocardial apex used, mm from the LV centre along the
        long axis (given or estimated).
    """

    median_mm: float
    spread_mm: float
    per_level_mm: dict[float, float]
    per_segment_mm: dict[int, float]
    values_mm: np.ndarray
    n_failed: int
    levels: tuple[float, ...]
    angles_deg: np.ndarray
    base_apex_mm: tuple[float, float]

    def __str__(self) -> str:
        levels = ", ".join(f"{100 * k:.0f} %: {v:.1f}" for k, v in self.per_level_mm.items())
        return (
            f"wall FWHM {self.median_mm:.1f} mm (IQR {self.spread_mm:.1f} mm; {levels}; "
            f"{self.n_failed} of {self.values_mm.size} fits failed)"
        )


def _check_levels(levels: Any) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in np.atleast_1d(np.asarray(levels, dtype=np.float64)))
    except (TypeError, ValueError):
        raise ValueError(f"levels must be numbers in (0, 1), got {levels!r}") from None
    if not values or not all(np.isfinite(v) and 0.0 < v < 1.0 for v in values):
        raise ValueError(
            f"levels must be fractions of the base-to-apex distance in (0, 1), got {levels!r}"
        )
    return values


def wall_thickness(
    volume: Any,
    lv: LVGeometry,
    *,
    voxel_size_mm: float,
    base_apex_mm: Sequence[float] | None = None,
    levels: Sequence[float] = (0.25, 0.5, 0.75),
    n_angles: int = 36,
    step_mm: float = 0.5,
    max_radius_mm: float = 80.0,
    interpolation_order: int = 3,
) -> WallThickness:
    """Myocardial wall thickness: median FWHM of radial profiles through the LV wall.

    Parameters
    ----------
    volume : array_like
        ``(z, y, x)`` image (reconstruction, filtered image or phantom), finite.
    lv : LVGeometry
        The LV frame: centre, long axis (base to apex) and septal direction.
    voxel_size_mm : float
        Isotropic voxel edge in mm.
    base_apex_mm : tuple of float, optional
        ``(base, apex)``: positions of the base plane and the endocardial apex in
        mm from ``lv.center_mm`` along ``lv.long_axis``. For the package's
        phantom they are ``(-L/2, +L/2)`` with ``L = Anatomy.lv_cavity_length_mm``
        (``(-35, 35)`` by default; :func:`phantom_base_apex_mm`). Default:
        estimated from ``volume`` (Notes).
    levels : sequence of float, optional
        Short-axis levels as fractions of the base-to-apex distance, each in
        ``(0, 1)``; default 25, 50 and 75 %.
    n_angles : int, optional
        Profiles per level (>= 4), evenly spaced from the septal direction (0)
        towards anterior (90); default 36 (every 10 degrees).
    step_mm : float, optional
        Sampling step along each profile in mm (default 0.5).
    max_radius_mm : float, optional
        Profiles run from the long axis to this radius in mm (default 80).
    interpolation_order : int, optional
        Spline order of the interpolation along the profiles
        (:func:`scipy.ndimage.map_coordinates`, 0-5). Default 3, cubic
        B-spline: it follows a smooth image between voxel centres, whereas
        trilinear interpolation (1) acts as an extra blur of variance about
        ``d^2 / 6`` along the ray and adds about 1.3-1.5 mm to every FWHM at
        ``d = 6.4`` mm voxels (0.5 mm at 3.2 mm).

    Returns
    -------
    WallThickness
        Median and interquartile range over all successful profiles, medians per
        level and per AHA segment, every profile's FWHM and the failure count.

    Raises
    ------
    ValueError
        If an argument is invalid (the message names it), if the LV lies outside
        the volume, or if every profile fit fails.

    Notes
    -----
    **Profiles.** At each level ``f`` the short-axis plane sits at
    ``base + f (apex - base)`` along the long axis; in it, ``n_angles`` rays
    leave the long axis in the directions ``cos(phi) septal + sin(phi)
    anterior`` and the image is interpolated every ``step_mm``. The rays are
    radial in the short-axis plane, as the definition asks, so where the wall
    is tilted (towards the apex) they cross it obliquely and measure the
    radial chord, which is longer than the wall's normal thickness
    (:func:`radial_wall_chord_mm`: 9.04, 9.18 and 9.63 mm at 25, 50 and 75 %
    for the default 9 mm phantom wall). A blurred slab seen at an angle
    ``theta`` from its normal is stretched by ``1 / cos(theta)``, so the blurred
    FWHM grows by the same factor: about 5 % at 75 %, which is most of the
    spread between the levels of a uniform wall.

    **Peak and fit.** The wall is the highest local maximum of the (1 mm
    smoothed) profile within ``+-max(15 mm, r_l / 2)`` of the radius ``r_l``
    where the level's median profile peaks (this keeps the RV wall and the
    liver out). Half-maximum crossings of the smoothed profile give a rough
    FWHM; the fit window spans 1.25 rough FWHMs each side of the peak. In it
    the profile is fitted with a three-level object along the ray, cavity
    ``b_in``, wall of width ``W`` and level ``a``, outside ``b_out``, convolved
    with a Gaussian of width ``s``:

    .. math:: p(r) = b_\\mathrm{in} [1 - \\Phi_1] + a [\\Phi_1 - \\Phi_2]
                     + b_\\mathrm{out} \\Phi_2, \\quad
              \\Phi_{1,2} = \\Phi\\left(\\frac{r - c \\pm W/2}{s}\\right)

    (Levenberg-Marquardt on all six parameters, from two starts whose levels
    come from linear least squares: a sharp wide box and a narrow blurred one;
    the better fit is kept). The wall thickness of the profile is the FWHM of
    the fitted wall, ``box(W) * Gaussian(s)`` (:func:`expected_wall_fwhm_mm`):
    the backgrounds are removed, so blood pool and lung activity do not widen
    it, and the half maximum comes from the fit, never from a single noisy
    sample. ``W`` and ``s`` trade off when the blur is wider than the wall,
    but their FWHM does not. Profiles whose wall stands less than 5 % of its
    level above the higher background, and fits with edges outside the window
    or a FWHM as wide as the window, fail: they are NaN in ``values_mm``,
    counted in ``n_failed`` and left out of every summary.

    **Accuracy.** On the phantom's LV blurred by a known Gaussian, the median
    matches ``expected_wall_fwhm_mm(w, blur, voxel)`` times the mid-level
    chord stretch within 0.3 mm (0.1 mm unblurred at 3.2 mm voxels); the
    small excess under blur comes from the wall's curvature (it halves when
    the LV is twice as large). Poisson noise of 100-200 counts per voxel adds
    about 0.2 mm. Unblurred walls only 1.25 voxels thick (8 mm at 6.4 mm)
    measure about 0.9 mm too thick: the voxel samples are too coarse for any
    interpolation to recover the trapezoid.

    **Base and apex, when not given.** The base is where the median over 36
    angles of the maximum along each ray (out to ``max_radius_mm``), scanned
    from the LV centre towards the base in 1 mm steps, falls to halfway
    between its value at the centre and its minimum beyond: the half height of
    the blurred step where the myocardium ends (unbiased by the blur). The
    apex is found on the long axis: the apical wall peak is fitted like a
    radial profile and the endocardial apex is the fitted inner edge
    ``c - W/2``, kept between the inner half-maximum point and ``c``. The
    base is found within about 1.5 mm; the apex within about 1 mm without
    blur and within about 7 mm when the blur hides ``W``, which moves the
    75 % level by at most 5 mm and the median by less than 0.2 mm. Pass
    ``base_apex_mm`` whenever it is known (:func:`phantom_base_apex_mm`).

    See Also
    --------
    expected_wall_fwhm_mm : analytic FWHM of a wall blurred by a Gaussian and a voxel.
    radial_wall_chord_mm : the true wall along the measured direction.
    phantom_base_apex_mm : exact base and apex of the package's phantoms.

    References
    ----------
    The definition: science reference, section 8 (the book's *Conventions*
    page). Segments: Cerqueira et al., Circulation 105:539-542 (2002).

    Examples
    --------
    >>> from spect_tutorial.phantom import make_phantom
    >>> phantom = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
    >>> result = wall_thickness(phantom.activity, phantom.lv, voxel_size_mm=6.4,
    ...                         base_apex_mm=(-35.0, 35.0))
    >>> 8.0 < result.median_mm < 11.0
    True
    """
    volume = check_volume(volume)
    if not isinstance(lv, LVGeometry):
        raise ValueError(f"lv must be an LVGeometry, got {type(lv).__name__}")
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    levels = _check_levels(levels)
    n_angles = integer(n_angles, "n_angles", minimum=4)
    step_mm = _non_negative_mm(step_mm, "step_mm", positive=True)
    max_radius_mm = _non_negative_mm(max_radius_mm, "max_radius_mm", positive=True)
    if max_radius_mm < 10 * step_mm:
        raise ValueError(
            f"max_radius_mm must be at least 10 steps ({10 * step_mm} mm), got {max_radius_mm!r}"
        )
    integer(interpolation_order, "interpolation_order", minimum=0, maximum=5)

    # Spline coefficients once (order > 1), so that every profile reuses them.
    coefficients = (
        ndimage.spline_filter(volume, order=interpolation_order, mode="nearest")
        if interpolation_order > 1
        else volume
    )
    if base_apex_mm is None:
        base, apex = _estimate_base_apex(
            coefficients,
            lv,
            voxel_size_mm,
            max_radius_mm=max_radius_mm,
            step_mm=step_mm,
            order=interpolation_order,
        )
    else:
        base, apex = increasing_pair(base_apex_mm, "base_apex_mm")

    angles = np.arange(n_angles) * (360.0 / n_angles)
    radii = np.arange(0.0, max_radius_mm + 1e-9, step_mm)
    values = np.full((len(levels), n_angles), np.nan)
    for i, level in enumerate(levels):
        axial = base + level * (apex - base)
        profiles = _sample(
            coefficients,
            _radial_points(lv, axial, angles, radii),
            voxel_size_mm,
            interpolation_order,
        )
        # The level's median profile locates the wall (radius of its peak).
        usable = np.isfinite(profiles).sum(axis=1) > len(radii) // 4
        if not usable.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # radii outside the volume
            typical = np.nanmedian(profiles[usable], axis=0)
        typical = np.where(np.isfinite(typical), typical, -np.inf)
        wall_radius = float(radii[int(np.argmax(typical))])
        reach = max(15.0, wall_radius / 2.0)
        search = (wall_radius - reach, wall_radius + reach)
        for j in range(n_angles):
            fit = _measure_profile(radii, profiles[j], search, step_mm)
            if fit is not None:
                values[i, j] = fit.fwhm_mm

    ok = np.isfinite(values)
    if not ok.any():
        raise ValueError(
            "no radial profile gave a wall fit: check lv, voxel_size_mm and base_apex_mm"
        )
    q25, median, q75 = np.percentile(values[ok], [25, 50, 75])
    per_level = {
        level: float(np.median(row[np.isfinite(row)])) if np.isfinite(row).any() else np.nan
        for level, row in zip(levels, values, strict=True)
    }
    segments = aha_segment(angles[None, :], np.asarray(levels)[:, None])
    per_segment = {
        int(s): float(np.median(values[(segments == s) & ok]))
        for s in np.unique(segments[ok])
        if s > 0
    }
    return WallThickness(
        median_mm=float(median),
        spread_mm=float(q75 - q25),
        per_level_mm=per_level,
        per_segment_mm=per_segment,
        values_mm=values,
        n_failed=int((~ok).sum()),
        levels=levels,
        angles_deg=angles,
        base_apex_mm=(float(base), float(apex)),
    )
