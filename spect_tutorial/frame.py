"""The patient frame, voxel coordinates and the left-ventricle geometry.

Every module of :mod:`spect_tutorial` shares these conventions (the book's
*Conventions* page states them for readers):

* Patient frame as DICOM LPS: ``+x`` towards the patient's **left**, ``+y``
  **posterior**, ``+z`` **superior** (head).
* Arrays are indexed ``(z, y, x)`` and stored as ``float32``.
* Positions are in mm from the volume centre: voxel index ``i`` along an axis of
  ``n`` voxels of size ``d`` mm sits at ``(i - (n - 1) / 2) * d``.
* :class:`LVGeometry` fixes the left ventricle (LV): its centre, the unit long
  axis from base to apex, and the unit septal direction in the short-axis plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import real_number

__all__ = [
    "RECONSTRUCTION_SHAPE",
    "RECONSTRUCTION_VOXEL_SIZE_MM",
    "SIMULATION_SHAPE",
    "SIMULATION_VOXEL_SIZE_MM",
    "LVGeometry",
    "axis_coordinates_mm",
    "check_voxel_size_mm",
    "index_to_mm",
    "mm_to_index",
]

#: The simulation grid (``(z, y, x)`` voxels and their edge in mm): phantoms are voxelised
#: at 128^3 x 3.2 mm, twice as fine as the reconstruction grid (against the inverse crime).
SIMULATION_SHAPE: tuple[int, int, int] = (128, 128, 128)
SIMULATION_VOXEL_SIZE_MM = 3.2

#: The reconstruction grid, 64^3 x 6.4 mm: one voxel per detector bin of the ASNC camera
#: (:class:`~spect_tutorial.acquisition.SpectGeometry`), the grid the networks train at.
RECONSTRUCTION_SHAPE: tuple[int, int, int] = (64, 64, 64)
RECONSTRUCTION_VOXEL_SIZE_MM = 6.4

_ORTHOGONALITY_TOLERANCE = 1e-3


def check_voxel_size_mm(voxel_size_mm: float, *, name: str = "voxel_size_mm") -> float:
    """Return ``voxel_size_mm`` as a float after checking it is finite and > 0.

    Parameters
    ----------
    voxel_size_mm : float
        Edge length of an isotropic voxel in mm.
    name : str, optional
        Argument name used in the error message.

    Returns
    -------
    float
        The validated voxel size in mm.

    Raises
    ------
    ValueError
        If the value is not a finite number greater than zero (strings and
        booleans are refused, not converted).
    """
    # A string ("6.4") or a boolean (True would be 1 mm) is refused, not converted.
    return real_number(voxel_size_mm, name, unit="mm", minimum=0.0, strict_minimum=True)


def axis_coordinates_mm(n: int, voxel_size_mm: float) -> np.ndarray:
    """Centre positions (mm) of the ``n`` voxels along one axis.

    Parameters
    ----------
    n : int
        Number of voxels along the axis.
    voxel_size_mm : float
        Voxel edge length in mm.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 positions ``(i - (n - 1) / 2) * voxel_size_mm``.

    Examples
    --------
    >>> axis_coordinates_mm(4, 2.0)
    array([-3., -1.,  1.,  3.])
    """
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    return (np.arange(int(n), dtype=np.float64) - (int(n) - 1) / 2.0) * voxel_size_mm


def index_to_mm(index_zyx: Any, shape: tuple[int, ...], voxel_size_mm: float) -> np.ndarray:
    """Convert (fractional) voxel indices ``(..., 3)`` in ``(z, y, x)`` order to mm ``(x, y, z)``.

    Parameters
    ----------
    index_zyx : array_like
        Indices with a last axis of length 3 ordered ``(z, y, x)``.
    shape : tuple of int
        Array shape ``(nz, ny, nx)``.
    voxel_size_mm : float
        Voxel edge length in mm.

    Returns
    -------
    numpy.ndarray
        Positions in mm with the last axis ordered ``(x, y, z)``.
    """
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    index = np.asarray(index_zyx, dtype=np.float64)
    centre = (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    return ((index - centre) * voxel_size_mm)[..., ::-1]


def mm_to_index(position_xyz_mm: Any, shape: tuple[int, ...], voxel_size_mm: float) -> np.ndarray:
    """Convert positions in mm ``(..., 3)`` ordered ``(x, y, z)`` to ``(z, y, x)`` indices.

    This is the inverse of :func:`index_to_mm`.
    """
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    position = np.asarray(position_xyz_mm, dtype=np.float64)[..., ::-1]
    centre = (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    return position / voxel_size_mm + centre


def _unit_vector(value: Any, name: str) -> np.ndarray:
    try:
        vector = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a 3-vector (x, y, z) of numbers, got {value!r}"
        ) from None
    if vector.shape != (3,):
        raise ValueError(f"{name} must be a 3-vector (x, y, z), got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{name} must be finite, got {vector.tolist()}")
    norm = float(np.linalg.norm(vector))
    if norm < 1e-9:
        raise ValueError(f"{name} must be a non-zero vector, got {vector.tolist()}")
    # Leave unit vectors bit-exact, so that to_dict / from_dict round trips exactly.
    return vector if abs(norm - 1.0) < 1e-12 else vector / norm


@dataclass(frozen=True)
class LVGeometry:
    """Position and orientation of the left ventricle in the patient frame.

    Parameters
    ----------
    center_mm : tuple of float
        Centre of the LV ``(x, y, z)`` in mm from the volume centre (LPS frame).
        For the package's phantom it is the midpoint of the cavity on the long
        axis, halfway between the base plane and the endocardial apex.
    long_axis : tuple of float
        Unit vector ``(x, y, z)`` along the LV long axis, pointing from base to apex.
        Normalised on construction.
    septal_direction : tuple of float
        Unit vector ``(x, y, z)`` in the short-axis plane (perpendicular to
        ``long_axis``) pointing from the LV centre to the interventricular septum.
        It fixes the reorientation to short-axis / long-axis slices and the
        origin of the polar-map angle. Normalised on construction; it must be
        perpendicular to ``long_axis`` within 1e-3.

    Notes
    -----
    The right-handed LV frame is completed by
    ``anterior_direction = septal_direction x long_axis``: for a normal heart it
    points from the LV centre to the anterior wall. ``-septal_direction`` is the
    lateral wall and ``-anterior_direction`` the inferior wall.

    Examples
    --------
    >>> lv = LVGeometry((30.0, -35.0, 5.0), (1.0, -1.0, -1.0), (-1.0, -1.0, 0.0))
    >>> round(float(lv.long_axis @ lv.septal_direction), 6)
    0.0
    """

    center_mm: tuple[float, float, float]
    long_axis: np.ndarray
    septal_direction: np.ndarray

    def __post_init__(self) -> None:
        try:
            center = np.asarray(self.center_mm, dtype=np.float64)
        except (TypeError, ValueError):
            center = np.full(1, np.nan)  # not numbers: refused just below
        if center.shape != (3,) or not np.all(np.isfinite(center)):
            raise ValueError(
                f"center_mm must be three finite numbers (x, y, z) in mm, got {self.center_mm!r}"
            )
        axis = _unit_vector(self.long_axis, "long_axis")
        septal = _unit_vector(self.septal_direction, "septal_direction")
        if abs(float(axis @ septal)) > _ORTHOGONALITY_TOLERANCE:
            raise ValueError(
                "septal_direction must be perpendicular to long_axis (|dot| <= 1e-3), "
                f"got dot = {float(axis @ septal):.4f}"
            )
        if abs(float(axis @ septal)) > 1e-12:
            septal = _unit_vector(septal - (septal @ axis) * axis, "septal_direction")
        object.__setattr__(self, "center_mm", tuple(float(c) for c in center))
        axis.setflags(write=False)
        septal.setflags(write=False)
        object.__setattr__(self, "long_axis", axis)
        object.__setattr__(self, "septal_direction", septal)

    @property
    def center(self) -> np.ndarray:
        """Centre as a float64 array ``(x, y, z)`` in mm."""
        return np.asarray(self.center_mm, dtype=np.float64)

    @property
    def anterior_direction(self) -> np.ndarray:
        """Unit vector towards the anterior wall: ``septal_direction x long_axis``."""
        return np.cross(self.septal_direction, self.long_axis)

    @classmethod
    def from_angles(
        cls,
        center_mm: tuple[float, float, float],
        *,
        azimuth_deg: float,
        elevation_deg: float,
    ) -> LVGeometry:
        """Build the geometry from the usual anatomical angles.

        Parameters
        ----------
        center_mm : tuple of float
            LV centre ``(x, y, z)`` in mm.
        azimuth_deg : float
            Angle in the transaxial plane between the patient's left (``+x``) and
            the long axis, turning towards anterior (``-y``). About 45 deg in adults.
        elevation_deg : float
            Angle by which the long axis points below the transaxial plane
            (towards the feet, ``-z``). About 20-40 deg in adults.

        Returns
        -------
        LVGeometry
            With ``septal_direction`` the horizontal unit vector perpendicular
            to the long axis that points to the patient's right (the septum
            lies right-anterior of the LV cavity).
        """
        azimuth = np.deg2rad(float(azimuth_deg))
        elevation = np.deg2rad(float(elevation_deg))
        long_axis = np.array(
            [
                np.cos(elevation) * np.cos(azimuth),
                -np.cos(elevation) * np.sin(azimuth),
                -np.sin(elevation),
            ]
        )
        septal = np.cross(long_axis, [0.0, 0.0, 1.0])
        if np.linalg.norm(septal) < 1e-9:
            raise ValueError("elevation_deg of +-90 leaves the septal direction undefined")
        if septal[0] > 0:
            septal = -septal
        return cls(center_mm, long_axis, septal)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-serialisable form (lists of floats)."""
        return {
            "center_mm": list(self.center_mm),
            "long_axis": self.long_axis.tolist(),
            "septal_direction": self.septal_direction.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LVGeometry:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(data["center_mm"], data["long_axis"], data["septal_direction"])
        except KeyError as missing:
            raise ValueError(f"LV geometry is missing the key {missing}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LVGeometry):
            return NotImplemented
        return (
            np.allclose(self.center_mm, other.center_mm)
            and np.allclose(self.long_axis, other.long_axis)
            and np.allclose(self.septal_direction, other.septal_direction)
        )

    def __hash__(self) -> int:
        return hash((self.center_mm, tuple(self.long_axis), tuple(self.septal_direction)))
