"""The polar map (bull's-eye) of myocardial perfusion and its 17 AHA segment averages.

Clinical software summarises the left-ventricle (LV) wall in one picture: each
short-axis (SA) slice is sampled along rays from the long axis outwards, the
maximum count along each ray is kept (*maximum-count circumferential
profiles*, Garcia et al. 1985), and the profiles are stacked as rings, the apex
in the centre and the base outside. :func:`aha17` averages the map over the
17 segments of the AHA model (Cerqueira et al. 2002), the numbers a reading
physician compares with normal limits.

Conventions (shared with :mod:`spect_tutorial.segments`):

* the angle is measured in the SA plane from the septal direction of
  :class:`~spect_tutorial.frame.LVGeometry` towards the anterior wall: 0 septal,
  90 anterior, 180 lateral, 270 inferior;
* the level is the fraction of the cavity length from the base plane (0) to
  the endocardial apex (1); rings beyond the endocardial apex (level > 1) form
  the apical cap, segment 17.

The bull's-eye is drawn as clinicians read it: anterior at the top, septum on
the left, lateral wall on the right, inferior wall at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from ._validation import increasing_pair, integer
from ._validation import volume as check_volume
from .frame import LVGeometry, check_voxel_size_mm, mm_to_index
from .reorient import _check_lv
from .segments import aha_segment

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["PolarMap", "aha17", "polar_map", "show_polar_map"]

#: Fraction of the myocardial maximum that delimits the LV along its axis when
#: the base and apex are estimated from the volume.
EXTENT_THRESHOLD = 0.5
#: Default ray length as a multiple of the radius of the wall's peak in the
#: mid-ventricular slice (the LV centre), when ``max_radius_mm`` is not given.
RADIUS_FACTOR = 1.5
# Sector centres in segment order (as in spect_tutorial.segments): basal and mid
# rings from segment 1 (anterior), apical ring from segment 13 (anterior).
_CENTRES_DEG = (90.0, 30.0, 330.0, 270.0, 210.0, 150.0)
_APICAL_CENTRES_DEG = (90.0, 0.0, 270.0, 180.0)
#: Colour map of the bull's-eye (perceptually uniform, colour-blind safe).
POLAR_CMAP = "inferno"


@dataclass(frozen=True, eq=False)
class PolarMap:
    """Maximum-count samples of the LV wall: rings (apex to base) by angles.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n_rings, n_angles)`` maximum along each ray, in image units. Ring 0
        is the most apical (the centre of the bull's-eye), the last ring the
        most basal (its rim).
    levels : numpy.ndarray
        ``(n_rings,)`` level of each ring's SA slice as a fraction of the cavity
        length: 0 at the base plane, 1 at the endocardial apex, > 1 in the
        apical cap (segment 17). Decreasing.
    angles_deg : numpy.ndarray
        ``(n_angles,)`` ray angles in degrees from the septal direction towards
        anterior (0 septal, 90 anterior, 180 lateral, 270 inferior), the
        centres of equal sectors.
    axial_mm : numpy.ndarray
        ``(n_rings,)`` position of each ring's SA slice along the long axis, in
        mm from the LV centre (positive towards the apex).
    base_apex_mm : tuple of float
        Axial positions (mm from the LV centre) of the base plane (level 0) and
        the endocardial apex (level 1) used.
    max_radius_mm : float
        Ray length in mm.
    """

    values: np.ndarray
    levels: np.ndarray
    angles_deg: np.ndarray
    axial_mm: np.ndarray
    base_apex_mm: tuple[float, float]
    max_radius_mm: float

    def __post_init__(self) -> None:
        n_rings, n_angles = np.size(self.levels), np.size(self.angles_deg)
        if np.ndim(self.values) != 2 or np.shape(self.values) != (n_rings, n_angles):
            raise ValueError(
                f"values must be (n_rings, n_angles) = ({n_rings}, {n_angles}), one row per "
                f"level and one column per angle, got shape {np.shape(self.values)}"
            )
        if np.size(self.axial_mm) != n_rings:
            raise ValueError(
                f"axial_mm must hold one position per ring ({n_rings}), got "
                f"{np.size(self.axial_mm)}"
            )

    @property
    def n_cap_rings(self) -> int:
        """Number of rings in the apical cap (level > 1, segment 17)."""
        return int(np.count_nonzero(self.levels > 1.0))

    def segments(self) -> np.ndarray:
        """``(n_rings, n_angles)`` AHA segment number (1-17) of every sample."""
        return aha_segment(self.angles_deg[None, :], self.levels[:, None])

    def show(self, ax: Axes | None = None, **options: Any) -> Axes:
        """Draw the bull's-eye; see :func:`show_polar_map` for the options."""
        return show_polar_map(self, ax, **options)


def _ray_directions(lv: LVGeometry, angles_deg: np.ndarray) -> np.ndarray:
    """``(n_angles, 3)`` unit vectors ``(x, y, z)``: 0 deg septal, 90 deg anterior."""
    theta = np.deg2rad(angles_deg)[:, None]
    return np.cos(theta) * lv.septal_direction + np.sin(theta) * lv.anterior_direction


def _trilinear(values: np.ndarray, positions: np.ndarray, voxel_size_mm: float) -> np.ndarray:
    """Trilinear samples of ``values`` at ``(..., 3)`` positions in mm (0 outside)."""
    index = mm_to_index(positions, values.shape, voxel_size_mm)
    return ndimage.map_coordinates(
        values, np.moveaxis(index, -1, 0), order=1, mode="constant", cval=0.0
    )


def _ray_maxima(
    values: np.ndarray,
    lv: LVGeometry,
    voxel_size_mm: float,
    axial_mm: np.ndarray,
    angles_deg: np.ndarray,
    radii_mm: np.ndarray,
) -> np.ndarray:
    """``(n_axial, n_angles)`` maximum of trilinear samples along each SA-plane ray."""
    directions = _ray_directions(lv, angles_deg)
    positions = (
        lv.center
        + axial_mm[:, None, None, None] * lv.long_axis
        + radii_mm[None, None, :, None] * directions[None, :, None, :]
    )
    return _trilinear(values, positions, voxel_size_mm).max(axis=-1)


def _crossing(
    positions: np.ndarray, profile: np.ndarray, start: int, step: int, level: float
) -> float:
    """Walk from ``start`` by ``step`` until ``profile`` drops below ``level``; interpolate."""
    index = start
    while 0 <= index + step < len(profile):
        nxt = index + step
        if profile[nxt] < level:
            fraction = (profile[index] - level) / (profile[index] - profile[nxt])
            return float(positions[index] + fraction * (positions[nxt] - positions[index]))
        index = nxt
    return float(positions[index])


def _estimate_extent(
    values: np.ndarray,
    lv: LVGeometry,
    voxel_size_mm: float,
    angles_deg: np.ndarray,
    radii_mm: np.ndarray,
) -> tuple[float, float, float]:
    """Estimate base plane, endocardial apex and apical end (mm from the LV centre)."""
    reach = 0.5 * min(values.shape) * voxel_size_mm
    axial = np.arange(-reach, reach + 1e-9, voxel_size_mm / 2)
    axial = np.union1d(axial, [0.0])
    centre = int(np.searchsorted(axial, 0.0))
    maxima = np.median(_ray_maxima(values, lv, voxel_size_mm, axial, angles_deg, radii_mm), axis=1)
    core = np.abs(axial) <= radii_mm[-1] / RADIUS_FACTOR
    threshold = EXTENT_THRESHOLD * maxima[core].max()
    base = _crossing(axial, maxima, centre, -1, threshold)
    end = _crossing(axial, maxima, centre, +1, threshold)
    # On the long axis: low in the cavity, high in the apical wall. The endocardial
    # apex is where the axis profile rises half-way from the cavity to the wall.
    on_axis = _ray_maxima(values, lv, voxel_size_mm, axial, angles_deg[:1], radii_mm[:1])[:, 0]
    inside = (axial >= 0.0) & (axial <= end)
    peak = int(np.flatnonzero(inside)[np.argmax(on_axis[inside])])
    cavity = on_axis[centre : peak + 1].min()
    level = 0.5 * (cavity + on_axis[peak])
    apex = _crossing(axial, on_axis, peak, -1, level) if peak > centre else 0.0
    return base, apex, end


def _default_max_radius(
    values: np.ndarray, lv: LVGeometry, voxel_size_mm: float, angles_deg: np.ndarray
) -> float:
    reach = 0.5 * min(values.shape) * voxel_size_mm
    radii = np.arange(0.0, reach, voxel_size_mm / 2)
    directions = _ray_directions(lv, angles_deg)
    positions = lv.center + radii[None, :, None] * directions[:, None, :]
    samples = _trilinear(values, positions, voxel_size_mm)
    peak_radius = float(radii[np.argmax(np.median(samples, axis=0))])
    if peak_radius <= 0:
        raise ValueError(
            "cannot find the LV wall around lv.center in the mid-ventricular slice; "
            "check lv or give max_radius_mm"
        )
    return RADIUS_FACTOR * peak_radius


def polar_map(
    volume: Any,
    lv: LVGeometry,
    *,
    voxel_size_mm: float,
    n_rings: int | None = None,
    n_angles: int = 60,
    base_apex_mm: tuple[float, float] | None = None,
    max_radius_mm: float | None = None,
    apex_cap_mm: float | None = None,
) -> PolarMap:
    r"""Maximum-count polar map (bull's-eye) of the LV wall from short-axis slices.

    For each SA slice between the base plane and the apex and each angle, the
    volume is sampled along a ray in the slice from the long axis out to
    ``max_radius_mm`` (every ``voxel_size_mm / 2``, trilinear) and the maximum
    is kept. The slices and rays are those of the SA view of
    :func:`~spect_tutorial.reorient.reorient` (same LV frame), but sampled
    directly from ``volume`` at the ring positions, so the values go through one
    interpolation instead of two.

    Parameters
    ----------
    volume : array_like
        ``(z, y, x)`` image in the patient frame (LPS), isotropic voxels of
        ``voxel_size_mm``; real and finite.
    lv : LVGeometry
        The LV centre and axes (exact for the phantom, ``phantom.lv``).
    voxel_size_mm : float
        Voxel edge length in mm.
    n_rings : int, optional
        Number of rings (SA slices) from the base plane to the endocardial
        apex, >= 3; the apical-cap rings come in addition, at the same spacing.
        Default: about one per voxel, rounded up to a multiple of 3 so that the
        basal, mid and apical thirds get whole rings.
    n_angles : int, optional
        Number of rays per slice (default 60, every 6 degrees), >= 12; a
        multiple of 12 gives every segment the same number of rays.
    base_apex_mm : tuple of float, optional
        ``(base, apex)``: axial positions in mm from the LV centre along the
        long axis (negative towards the base) of the base plane (level 0) and
        the endocardial apex (level 1). For the package's phantom the cavity
        runs from ``-L / 2`` to ``+L / 2`` with ``L =
        phantom.parameters["anatomy"]["lv_cavity_length_mm"]``, the apical wall
        beyond. Default: estimated from the volume. The base is where the
        median over angles of the ray maxima falls below half its value in the
        mid-ventricle; the endocardial apex is where the counts on the long
        axis rise half-way from the cavity to the apical wall. Blur moves the
        second estimate towards the base (about 8 mm for a 12 mm FWHM blur of
        the phantom), so give the true values when they are known.
    max_radius_mm : float, optional
        Ray length in mm. Default: 1.5 times the radius at which the wall peaks
        in the slice through the LV centre (median over angles); long enough to
        reach the basal epicardium, short enough to miss the RV free wall and
        the liver in the package's phantom.
    apex_cap_mm : float, optional
        Depth of the apical cap beyond the endocardial apex in mm, sampled by
        SA slices at the ring spacing (at least one ring). Default: up to where
        the ray maxima fall below half their mid-ventricular value (about the
        epicardial apex).

    Returns
    -------
    PolarMap
        Values ``(n_cap + n_rings, n_angles)``, apex first.

    Raises
    ------
    ValueError
        If ``volume`` is not a finite real 3-D array, ``lv`` is not an
        :class:`LVGeometry`, or a count, length or ``base_apex_mm`` is invalid.

    See Also
    --------
    aha17 : The 17 segment averages of a polar map.
    show_polar_map : Draw the bull's-eye.

    Notes
    -----
    A ring at level :math:`\ell` belongs to the basal (:math:`\ell < 1/3`),
    mid (:math:`< 2/3`), apical (:math:`< 1`) segments or to the apex
    (:math:`\ge 1`), as in :func:`~spect_tutorial.segments.aha_segment`. Ring
    :math:`k` of ``n_rings`` (counted from the base) lies at level
    :math:`(k + 1/2) / n_\mathrm{rings}`.

    The maximum of noisy samples is biased upwards, more so at low counts, so
    compare maps of images with the same count level and smoothing, or
    normalise each map (e.g. to its maximum or its median) as clinical software
    does.

    Examples
    --------
    >>> from spect_tutorial.phantom import make_phantom
    >>> phantom = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
    >>> length = phantom.parameters["anatomy"]["lv_cavity_length_mm"]
    >>> bullseye = polar_map(phantom.activity, phantom.lv, voxel_size_mm=6.4,
    ...                      base_apex_mm=(-length / 2, length / 2))
    >>> bullseye.values.shape
    (13, 60)
    """
    values = check_volume(volume, bool_ok=True)
    lv = _check_lv(lv)
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    n_angles = integer(n_angles, "n_angles", minimum=12)
    if n_rings is not None:
        n_rings = integer(n_rings, "n_rings", minimum=3)
    angles = (np.arange(n_angles) + 0.5) * (360.0 / n_angles)

    if max_radius_mm is None:
        max_radius_mm = _default_max_radius(values, lv, voxel_size_mm, angles)
    else:
        max_radius_mm = check_voxel_size_mm(max_radius_mm, name="max_radius_mm")
    radii = np.arange(0.0, max_radius_mm + 1e-9, voxel_size_mm / 2)

    estimated = None
    if base_apex_mm is None or apex_cap_mm is None:
        estimated = _estimate_extent(values, lv, voxel_size_mm, angles, radii)
    if base_apex_mm is not None:
        base_mm, apex_mm = increasing_pair(base_apex_mm, "base_apex_mm")
    else:
        base_mm, apex_mm = estimated[0], estimated[1]
        if not (np.isfinite(base_mm) and np.isfinite(apex_mm) and base_mm < apex_mm):
            raise ValueError(
                f"could not estimate the base and apex from the volume (got base {base_mm:.4g} "
                f"mm, apex {apex_mm:.4g} mm); check lv or give base_apex_mm"
            )
    length = apex_mm - base_mm
    if n_rings is None:
        n_rings = 3 * max(1, int(np.ceil(round(length / voxel_size_mm) / 3)))
    spacing = length / n_rings
    if apex_cap_mm is None:
        cap_mm = estimated[2] - apex_mm
    else:
        cap_mm = check_voxel_size_mm(apex_cap_mm, name="apex_cap_mm")
    n_cap = max(1, int(np.floor(cap_mm / spacing + 1e-9)))

    # Ring centres from the most apical cap ring to the most basal ring.
    steps = np.arange(n_rings + n_cap)[::-1] + 0.5
    axial = base_mm + steps * spacing
    levels = steps / n_rings
    maxima = _ray_maxima(values, lv, voxel_size_mm, axial, angles, radii)
    return PolarMap(
        values=maxima,
        levels=levels,
        angles_deg=angles,
        axial_mm=axial,
        base_apex_mm=(float(base_mm), float(apex_mm)),
        max_radius_mm=float(max_radius_mm),
    )


def _check_polar_map(polar: Any) -> PolarMap:
    if not isinstance(polar, PolarMap):
        raise ValueError(f"polar_map must be a PolarMap, got {type(polar).__name__}")
    return polar


def aha17(polar_map: PolarMap) -> np.ndarray:
    """Average of a polar map over each of the 17 AHA segments.

    Every sample (ring, angle) belongs to the segment that
    :func:`~spect_tutorial.segments.aha_segment` gives for its angle and ring
    level; samples are equally weighted (the rings are equally spaced along the
    axis and the rays in angle).

    Parameters
    ----------
    polar_map : PolarMap
        As from :func:`polar_map`.

    Returns
    -------
    numpy.ndarray
        ``(17,)`` float64 averages in image units; index 0 is segment 1
        (:data:`~spect_tutorial.segments.AHA_SEGMENT_NAMES`). NaN for a segment
        without samples (too few rings or angles).

    Examples
    --------
    >>> from spect_tutorial.phantom import make_phantom
    >>> phantom = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
    >>> segments = aha17(polar_map(phantom.activity, phantom.lv, voxel_size_mm=6.4))
    >>> segments.shape
    (17,)
    """
    polar = _check_polar_map(polar_map)
    labels = polar.segments().ravel()
    samples = np.asarray(polar.values, dtype=np.float64).ravel()
    totals = np.bincount(labels, weights=samples, minlength=18)[1:18]
    counts = np.bincount(labels, minlength=18)[1:18]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / counts, np.nan)


def _bullseye_xy(radius: np.ndarray, angle_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Screen position: septum (0) on the left, anterior (90) at the top."""
    theta = np.deg2rad(angle_deg)
    return -radius * np.cos(theta), radius * np.sin(theta)


def show_polar_map(
    polar_map: PolarMap,
    ax: Axes | None = None,
    *,
    cmap: str = POLAR_CMAP,
    vmin: float | None = None,
    vmax: float | None = None,
    segments: bool = True,
    numbers: bool = True,
    colorbar: bool = True,
    label: str = "counts (max along ray)",
) -> Axes:
    """Draw a polar map as a bull's-eye: apex in the centre, base at the rim.

    Anterior is at the top, the septum on the left, the lateral wall on the
    right and the inferior wall at the bottom. Each ring is drawn with the same
    width, so radius is proportional to the distance along the long axis.

    Parameters
    ----------
    polar_map : PolarMap
        As from :func:`polar_map`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw in; default a new figure.
    cmap : str, optional
        Colour map (default ``"inferno"``, perceptually uniform and
        colour-blind safe).
    vmin, vmax : float, optional
        Display window in image units; default the map's range. Give the same
        window (e.g. from the ideal image) to compare maps.
    segments : bool, optional
        Outline the 17 AHA segments (default True).
    numbers : bool, optional
        Write the segment numbers (default True).
    colorbar : bool, optional
        Add a colour bar (default True).
    label : str, optional
        Colour-bar label.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn in.
    """
    import matplotlib.pyplot as plt
    from matplotlib import patheffects

    polar = _check_polar_map(polar_map)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.0))
    n_rings, n_angles = polar.values.shape
    # Equal ring widths: the outer edge of ring k (from the centre) at (k + 1) / n_rings.
    radius_edges = np.arange(n_rings + 1) / n_rings
    angle_edges = np.arange(n_angles + 1) * (360.0 / n_angles)
    x, y = _bullseye_xy(radius_edges[:, None], angle_edges[None, :])
    mesh = ax.pcolormesh(
        x, y, polar.values, cmap=cmap, vmin=vmin, vmax=vmax, shading="flat", rasterized=True
    )

    # Level -> display radius: the levels are equally spaced, apex first.
    step = polar.levels[0] - polar.levels[1] if n_rings > 1 else 1.0
    top = polar.levels[0] + step / 2

    def radius_of(level: float) -> float:
        return float(np.clip((top - level) / (top - polar.levels[-1] + step / 2), 0.0, 1.0))

    if segments or numbers:
        boundaries = [radius_of(level) for level in (1.0, 2 / 3, 1 / 3, 0.0)]
        sectors = [
            (boundaries[2], boundaries[3], np.arange(0.0, 360.0, 60.0), 1),
            (boundaries[1], boundaries[2], np.arange(0.0, 360.0, 60.0), 7),
            (boundaries[0], boundaries[1], np.arange(45.0, 360.0, 90.0), 13),
        ]
    # White strokes and labels with a dark outline stay readable on any colour.
    outline = [patheffects.withStroke(linewidth=2.2, foreground="black")]
    if segments:
        circle = np.linspace(0.0, 360.0, 361)
        lines = [_bullseye_xy(np.full_like(circle, r), circle) for r in boundaries]
        for inner, outer, edges, _ in sectors:
            lines += [_bullseye_xy(np.array([inner, outer]), edge) for edge in edges]
        for line in lines:
            ax.plot(*line, color="white", lw=0.8, path_effects=outline)
    if numbers:
        labels = [(0.0, 0.0, 17)]
        for inner, outer, _, first in sectors:
            for offset, angle in enumerate(_APICAL_CENTRES_DEG if first == 13 else _CENTRES_DEG):
                tx, ty = _bullseye_xy(np.array((inner + outer) / 2), np.array(angle))
                labels.append((float(tx), float(ty), first + offset))
        for tx, ty, number in labels:
            ax.text(
                tx,
                ty,
                str(number),
                ha="center",
                va="center",
                color="white",
                fontweight="bold",
                path_effects=outline,
            )
    for text, (tx, ty) in {
        "ANT": (0.0, 1.1),
        "INF": (0.0, -1.1),
        "SEPT": (-1.12, 0.0),
        "LAT": (1.12, 0.0),
    }.items():
        ax.text(tx, ty, text, ha="center", va="center")
    ax.set_aspect("equal")
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.2, 1.2)
    ax.axis("off")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, shrink=0.8, label=label)
    return ax
