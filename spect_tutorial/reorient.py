"""Reorientation of a volume to the cardiac short- and long-axis slices.

Transaxial SPECT slices cut the heart obliquely, because the left-ventricle
(LV) long axis points left, anterior and down. Clinical software therefore
resamples the volume onto three stacks of slices aligned with the LV:

* **SA** (short axis): perpendicular to the long axis, shown from apex to base;
* **VLA** (vertical long axis): through the long axis and the anterior and
  inferior walls, shown from the septum to the lateral wall;
* **HLA** (horizontal long axis): through the long axis and the septum and
  lateral wall, shown from the inferior to the anterior wall.

The LV frame comes from :class:`~spect_tutorial.frame.LVGeometry` (exact for
the package's phantom, given by the user for external data), so any volume in
the patient frame (LPS, arrays ``(z, y, x)``, see :mod:`spect_tutorial.frame`)
can be reoriented. The display orientation of each view is fixed once, in
:data:`VIEW_CONVENTIONS`, for the whole project:

====  ========================  ========================  ========================
view  slices (first -> last)    rows (top -> bottom)      columns (left -> right)
====  ========================  ========================  ========================
SA    apex -> base              anterior -> inferior      septal -> lateral
VLA   septal -> lateral         anterior -> inferior      base -> apex
HLA   inferior -> anterior      apex -> base              septal -> lateral
====  ========================  ========================  ========================

The output voxels have the input voxel size, and the LV centre lands on the
exact centre ``(m - 1) / 2`` of every output axis of ``m`` samples.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from scipy import ndimage

from ._validation import int_tuple, integer, real_array
from .frame import LVGeometry, axis_coordinates_mm, check_voxel_size_mm, mm_to_index

__all__ = [
    "VIEWS",
    "VIEW_CONVENTIONS",
    "reorient",
    "reorient_back",
    "view_axes",
]

#: The three cardiac views, in the order the book shows them.
VIEWS: Final[tuple[str, ...]] = ("SA", "VLA", "HLA")

#: Display convention of each view: its ``"name"`` and, for the output axes
#: ``"slice"``, ``"rows"`` and ``"cols"`` (in that array order), a tuple
#: ``(sign, vector_name, (first_label, last_label))``: the index increases along
#: ``sign * getattr(lv, vector_name)``, with ``vector_name`` one of ``"long_axis"``
#: (base -> apex), ``"anterior_direction"`` or ``"septal_direction"``, and the
#: labels name the anatomy at the first and at the last index.
VIEW_CONVENTIONS: Final[dict[str, dict[str, Any]]] = {
    "SA": {
        "name": "short axis",
        "slice": (-1.0, "long_axis", ("apex", "base")),
        "rows": (-1.0, "anterior_direction", ("anterior", "inferior")),
        "cols": (-1.0, "septal_direction", ("septal", "lateral")),
    },
    "VLA": {
        "name": "vertical long axis",
        "slice": (-1.0, "septal_direction", ("septal", "lateral")),
        "rows": (-1.0, "anterior_direction", ("anterior", "inferior")),
        "cols": (1.0, "long_axis", ("base", "apex")),
    },
    "HLA": {
        "name": "horizontal long axis",
        "slice": (1.0, "anterior_direction", ("inferior", "anterior")),
        "rows": (-1.0, "long_axis", ("apex", "base")),
        "cols": (-1.0, "septal_direction", ("septal", "lateral")),
    },
}

_OUTPUT_AXES: Final[tuple[str, str, str]] = ("slice", "rows", "cols")


def _check_view(view: Any) -> str:
    if not isinstance(view, str) or view.upper() not in VIEW_CONVENTIONS:
        raise ValueError(f"view must be one of {', '.join(map(repr, VIEWS))}, got {view!r}")
    return view.upper()


def _check_lv(lv: Any) -> LVGeometry:
    if not isinstance(lv, LVGeometry):
        raise ValueError(
            f"lv must be an LVGeometry (spect_tutorial.frame.LVGeometry), got {type(lv).__name__}"
        )
    return lv


def _check_order(order: Any) -> int:
    return integer(order, "order", unit="spline order", minimum=0, maximum=5)


def _check_array(array: Any, name: str, axes: str) -> np.ndarray:
    return real_array(
        array, name, dtype=np.float32, ndim=3, axes=axes, non_empty=True, noun="values"
    )


def _direction_matrix(lv: LVGeometry, view: str) -> np.ndarray:
    """``(3, 3)`` rows: unit vectors ``(x, y, z)`` of the slice, row and column axes."""
    convention = VIEW_CONVENTIONS[view]
    rows = []
    for axis in _OUTPUT_AXES:
        sign, vector_name, _ = convention[axis]
        rows.append(sign * np.asarray(getattr(lv, vector_name), dtype=np.float64))
    return np.stack(rows)


def _sample(values: np.ndarray, index_zyx: np.ndarray, order: int) -> np.ndarray:
    """Interpolate ``values`` at fractional indices ``(..., 3)``; 0 outside."""
    # Round-off in the positions (about 1e-15 voxel) is far below float32 resolution,
    # so with order 0 or 1 samples at integer positions copy the input voxels exactly.
    coordinates = np.moveaxis(index_zyx, -1, 0)
    return ndimage.map_coordinates(
        values, coordinates, order=order, mode="constant", cval=0.0, output=np.float32
    )


def view_axes(lv: LVGeometry, view: str = "SA") -> dict[str, Any]:
    """Directions and anatomical labels of the three axes of a reoriented view.

    Use it to label figures of :func:`reorient` output, or to map a point of
    the patient frame into the slices.

    Parameters
    ----------
    lv : LVGeometry
        The LV frame.
    view : {"SA", "VLA", "HLA"}, optional
        Short axis, vertical long axis or horizontal long axis (case-insensitive).

    Returns
    -------
    dict
        ``"view"`` (upper-case code) and ``"name"`` (e.g. ``"short axis"``);
        ``"slice"``, ``"rows"`` and ``"cols"``: ``(3,)`` float64 unit vectors
        ``(x, y, z)`` along which the index of that output axis increases (one
        voxel = ``voxel_size_mm`` mm); ``"labels"``: for each of ``"slice"``,
        ``"rows"`` and ``"cols"`` the anatomical names ``(first, last)`` at the
        first and last index.

    Examples
    --------
    >>> from spect_tutorial.frame import LVGeometry
    >>> lv = LVGeometry.from_angles((0.0, 0.0, 0.0), azimuth_deg=45, elevation_deg=30)
    >>> axes = view_axes(lv, "SA")
    >>> axes["labels"]["rows"]
    ('anterior', 'inferior')
    >>> bool(np.allclose(axes["slice"], -lv.long_axis))
    True
    """
    lv = _check_lv(lv)
    view = _check_view(view)
    directions = _direction_matrix(lv, view)
    convention = VIEW_CONVENTIONS[view]
    result: dict[str, Any] = {"view": view, "name": convention["name"]}
    for axis, direction in zip(_OUTPUT_AXES, directions, strict=True):
        result[axis] = direction
    result["labels"] = {axis: convention[axis][2] for axis in _OUTPUT_AXES}
    return result


def reorient(
    volume: Any,
    lv: LVGeometry,
    *,
    voxel_size_mm: float,
    view: str = "SA",
    shape: tuple[int, int, int] | None = None,
    order: int = 1,
) -> np.ndarray:
    r"""Resample a patient-frame volume into short-axis or long-axis slices.

    Parameters
    ----------
    volume : array_like
        ``(z, y, x)`` volume in the patient frame (LPS), isotropic voxels of
        ``voxel_size_mm``. Real and finite; boolean masks are read as 0/1.
    lv : LVGeometry
        The LV centre (mm from the volume centre) and axes.
    voxel_size_mm : float
        Voxel edge length of ``volume`` in mm; the output has the same.
    view : {"SA", "VLA", "HLA"}, optional
        Short axis (default), vertical long axis or horizontal long axis
        (case-insensitive). The display order is in the module docstring and
        :func:`view_axes`.
    shape : tuple of int, optional
        Output ``(n_slices, n_rows, n_cols)``. Default ``(n, n, n)`` with
        ``n = min(volume.shape)``.
    order : int, optional
        Spline interpolation order in 0..5 (:func:`scipy.ndimage.map_coordinates`).
        1 (trilinear, default) keeps values within the input range, so masks
        and displays stay clean, but blurs a little at each resampling: a
        reorientation and its inverse change a 6.4 mm clinical image by about
        9 % NRMSE over the myocardium. 3 (cubic) keeps the wall profile (about
        1-4 %; use it for round trips and measurements) at the price of small
        over- and undershoots at sharp edges and about 4x the time.

    Returns
    -------
    numpy.ndarray
        ``shape`` float32 slices. Samples outside ``volume`` are 0.

    Raises
    ------
    ValueError
        If ``volume`` is not a finite real 3-D array, ``lv`` is not an
        :class:`LVGeometry`, or ``view``, ``shape``, ``order`` or
        ``voxel_size_mm`` is invalid.

    See Also
    --------
    reorient_back : The inverse resampling, slices to a patient-frame grid.
    view_axes : Directions and labels of the output axes.

    Notes
    -----
    With unit vectors :math:`\mathbf{e}_s, \mathbf{e}_r, \mathbf{e}_c` of the
    slice, row and column axes (:func:`view_axes`) and :math:`d` the voxel size,
    output sample :math:`(k_s, k_r, k_c)` of an ``(m_s, m_r, m_c)`` stack is taken at

    .. math::

        \mathbf{p} = \mathbf{c} + \sum_{a \in \{s, r, c\}}
        \left(k_a - \frac{m_a - 1}{2}\right) d\, \mathbf{e}_a,

    where :math:`\mathbf{c}` is the LV centre, so the LV centre sits at the centre
    of every output axis. The value at :math:`\mathbf{p}` is interpolated from
    ``volume``; with ``order`` 0 or 1 an axis-aligned geometry therefore gives an
    exact transpose/flip of the input.

    Examples
    --------
    >>> import numpy as np
    >>> from spect_tutorial.frame import LVGeometry
    >>> volume = np.zeros((32, 32, 32), dtype=np.float32)
    >>> lv = LVGeometry.from_angles((0.0, 0.0, 0.0), azimuth_deg=45, elevation_deg=30)
    >>> short_axis = reorient(volume, lv, voxel_size_mm=6.4, view="SA")
    >>> short_axis.shape, short_axis.dtype
    ((32, 32, 32), dtype('float32'))
    """
    values = _check_array(volume, "volume", "(z, y, x)")
    lv = _check_lv(lv)
    view = _check_view(view)
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    order = _check_order(order)
    if shape is None:
        n = min(values.shape)
        shape = (n, n, n)
    out_shape = int_tuple(shape, "shape", 3)

    directions = _direction_matrix(lv, view)
    offsets = [axis_coordinates_mm(m, voxel_size_mm) for m in out_shape]
    positions = (
        lv.center
        + offsets[0][:, None, None, None] * directions[0]
        + offsets[1][None, :, None, None] * directions[1]
        + offsets[2][None, None, :, None] * directions[2]
    )
    index_zyx = mm_to_index(positions, values.shape, voxel_size_mm)
    return _sample(values, index_zyx, order)


def reorient_back(
    slices: Any,
    lv: LVGeometry,
    *,
    voxel_size_mm: float,
    view: str = "SA",
    shape: tuple[int, int, int],
    order: int = 1,
) -> np.ndarray:
    """Resample reoriented slices back onto a ``(z, y, x)`` patient-frame grid.

    The inverse of :func:`reorient` (up to interpolation and the parts of the
    grid the slices do not cover): use it to bring a short-axis result back to
    the transaxial volume, or to compare volumes reoriented with different
    geometries.

    Parameters
    ----------
    slices : array_like
        ``(n_slices, n_rows, n_cols)`` stack as returned by :func:`reorient`,
        voxels of ``voxel_size_mm``, with the LV centre at the centre of every axis.
    lv : LVGeometry
        The geometry used to make ``slices``.
    voxel_size_mm : float
        Voxel edge length in mm (slices and output grid).
    view : {"SA", "VLA", "HLA"}, optional
        The view of ``slices`` (case-insensitive).
    shape : tuple of int
        Output ``(nz, ny, nx)``; the grid is centred on the patient-frame origin
        (see :mod:`spect_tutorial.frame`), like the volume given to :func:`reorient`.
    order : int, optional
        Spline interpolation order in 0..5; default 1 (trilinear), see :func:`reorient`.

    Returns
    -------
    numpy.ndarray
        ``shape`` float32 volume; voxels outside the slice stack are 0.

    Raises
    ------
    ValueError
        As :func:`reorient`, naming ``slices`` for a bad array.

    Examples
    --------
    >>> import numpy as np
    >>> from spect_tutorial.frame import LVGeometry
    >>> lv = LVGeometry.from_angles((10.0, -5.0, 0.0), azimuth_deg=45, elevation_deg=30)
    >>> volume = np.ones((24, 24, 24), dtype=np.float32)
    >>> short_axis = reorient(volume, lv, voxel_size_mm=6.4)
    >>> back = reorient_back(short_axis, lv, voxel_size_mm=6.4, shape=volume.shape)
    >>> back.shape, float(back[12, 12, 12])
    ((24, 24, 24), 1.0)
    """
    values = _check_array(slices, "slices", "(n_slices, n_rows, n_cols)")
    lv = _check_lv(lv)
    view = _check_view(view)
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    order = _check_order(order)
    out_shape = int_tuple(shape, "shape", 3)

    directions = _direction_matrix(lv, view)
    z_mm, y_mm, x_mm = (axis_coordinates_mm(m, voxel_size_mm) for m in out_shape)
    # Offsets from the LV centre, (z, y, x, 3) ordered (x, y, z).
    offsets = np.stack(np.meshgrid(x_mm, y_mm, z_mm, indexing="ij"), axis=-1)
    offsets = offsets.transpose(2, 1, 0, 3) - lv.center
    # Position along the slice, row and column axes in mm, then as indices.
    along_mm = offsets @ directions.T
    centre = (np.asarray(values.shape, dtype=np.float64) - 1.0) / 2.0
    index = along_mm / voxel_size_mm + centre
    return _sample(values, index, order)
