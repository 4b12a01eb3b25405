"""Geometric primitives of the analytic phantom, in mm in the patient frame.

Each shape answers ``contains(x, y, z)`` for broadcastable coordinate arrays
(mm, LPS frame), gives an axis-aligned bounding box and its exact analytic
volume, so tests can check the voxelisation against the geometry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "Ellipsoid",
    "EllipticCylinderZ",
    "Intersection",
    "OffsetSpheroidShell",
    "Shape",
    "SpheroidCavity",
    "Union",
    "distance_to_ellipse",
]

_UNBOUNDED_MM = 1e9


class Shape(Protocol):
    """What the voxeliser needs from a shape."""

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Boolean array: which points (mm) lie inside."""
        ...

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners ``(x, y, z)`` in mm of an enclosing box."""
        ...


@dataclass(frozen=True)
class EllipticCylinderZ:
    """Elliptic cylinder along z (the body outline), infinite in z.

    Parameters
    ----------
    center_xy_mm : tuple of float
        Axis position ``(x, y)`` in mm.
    semi_axes_mm : tuple of float
        Semi-axes along x (left-right) and y (anterior-posterior) in mm.
    """

    center_xy_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float]

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        u = (x - self.center_xy_mm[0]) / self.semi_axes_mm[0]
        v = (y - self.center_xy_mm[1]) / self.semi_axes_mm[1]
        inside = u * u + v * v <= 1.0
        return np.broadcast_to(inside, np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z)))

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        c, a = np.asarray(self.center_xy_mm), np.asarray(self.semi_axes_mm)
        return (
            np.array([c[0] - a[0], c[1] - a[1], -_UNBOUNDED_MM]),
            np.array([c[0] + a[0], c[1] + a[1], _UNBOUNDED_MM]),
        )

    def area_mm2(self) -> float:
        """Cross-section area in mm^2."""
        return float(np.pi * self.semi_axes_mm[0] * self.semi_axes_mm[1])


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid with semi-axes along the three unit vectors of ``axes``.

    Parameters
    ----------
    center_mm : tuple of float
        Centre ``(x, y, z)`` in mm.
    semi_axes_mm : tuple of float
        Semi-axes in mm along the rows of ``axes``.
    axes : tuple of tuple of float, optional
        Three orthonormal direction vectors ``(x, y, z)``; default the patient axes.
    """

    center_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    axes: tuple[tuple[float, float, float], ...] = ((1, 0, 0), (0, 1, 0), (0, 0, 1))

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        dx, dy, dz = x - self.center_mm[0], y - self.center_mm[1], z - self.center_mm[2]
        total = 0.0
        for direction, semi_axis in zip(self.axes, self.semi_axes_mm, strict=True):
            projection = (dx * direction[0] + dy * direction[1] + dz * direction[2]) / semi_axis
            total = total + projection * projection
        return np.asarray(total <= 1.0)

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        matrix = np.asarray(self.axes, dtype=np.float64) * np.asarray(self.semi_axes_mm)[:, None]
        half_extent = np.sqrt((matrix**2).sum(axis=0))
        centre = np.asarray(self.center_mm, dtype=np.float64)
        return centre - half_extent, centre + half_extent

    def volume_mm3(self) -> float:
        """Analytic volume in mm^3."""
        a, b, c = self.semi_axes_mm
        return float(4.0 / 3.0 * np.pi * a * b * c)


@dataclass(frozen=True)
class _Combination:
    """Shapes combined point by point (``_inside``) with bounds ``_low``/``_high``."""

    shapes: tuple[Shape, ...]

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return functools.reduce(self._inside, (shape.contains(x, y, z) for shape in self.shapes))

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        lows, highs = zip(*(shape.bounds_mm() for shape in self.shapes), strict=True)
        return self._low(lows, axis=0), self._high(highs, axis=0)


class Intersection(_Combination):
    """Points inside every one of ``shapes`` (e.g. an organ clipped by the body)."""

    _inside, _low, _high = np.logical_and, staticmethod(np.max), staticmethod(np.min)


class Union(_Combination):
    """Points inside any one of ``shapes`` (e.g. the two lungs as one organ)."""

    _inside, _low, _high = np.logical_or, staticmethod(np.min), staticmethod(np.max)


def distance_to_ellipse(
    radial: np.ndarray, axial: np.ndarray, radial_semi_axis: float, axial_semi_axis: float
) -> np.ndarray:
    """Euclidean distance (mm) from points outside an ellipse to the ellipse.

    The ellipse is ``(radial / a)^2 + (axial / b)^2 = 1``. For a point outside,
    the closest point is ``(a^2 r / (t + a^2), b^2 z / (t + b^2))`` where
    ``t >= 0`` solves ``(a r / (t + a^2))^2 + (b z / (t + b^2))^2 = 1``; the
    left side is convex and decreasing in ``t``, so Newton's method from
    ``t = 0`` converges monotonically. Points inside get distance 0.

    Parameters
    ----------
    radial, axial : numpy.ndarray
        Point coordinates (mm) in the ellipse's frame.
    radial_semi_axis, axial_semi_axis : float
        Semi-axes ``a`` and ``b`` in mm.

    Returns
    -------
    numpy.ndarray
        Distances in mm, 0 inside the ellipse.
    """
    r = np.abs(np.asarray(radial, dtype=np.float64))
    z = np.abs(np.asarray(axial, dtype=np.float64))
    a2, b2 = radial_semi_axis**2, axial_semi_axis**2
    ar2, bz2 = a2 * r * r, b2 * z * z
    t = np.zeros(np.broadcast_shapes(r.shape, z.shape))
    outside = ar2 / (a2 * a2) + bz2 / (b2 * b2) > 1.0
    for _ in range(40):
        ta, tb = t + a2, t + b2
        value = ar2 / (ta * ta) + bz2 / (tb * tb) - 1.0
        slope = -2.0 * ar2 / (ta * ta * ta) - 2.0 * bz2 / (tb * tb * tb)
        step = np.where(outside, value / np.where(slope < 0, slope, -1.0), 0.0)
        t = t - step
        if float(np.max(np.abs(step), initial=0.0)) < 1e-9 * (a2 + b2):
            break
    closest_r = a2 * r / (t + a2)
    closest_z = b2 * z / (t + b2)
    return np.where(outside, np.hypot(r - closest_r, z - closest_z), 0.0)


@dataclass(frozen=True)
class _LVFrameShape:
    """Shared frame of the LV shapes: base-plane centre, long axis, spheroid semi-axes."""

    base_center_mm: tuple[float, float, float]
    long_axis: tuple[float, float, float]
    inner_radius_mm: float
    cavity_length_mm: float

    def _axial_radial(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        dx = x - self.base_center_mm[0]
        dy = y - self.base_center_mm[1]
        dz = z - self.base_center_mm[2]
        ax, ay, az = self.long_axis
        axial = dx * ax + dy * ay + dz * az
        squared = dx * dx + dy * dy + dz * dz - axial * axial
        return axial, np.sqrt(np.maximum(squared, 0.0))

    def _bounds(self, margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
        base = np.asarray(self.base_center_mm, dtype=np.float64)
        axis = np.asarray(self.long_axis, dtype=np.float64)
        apex = base + (self.cavity_length_mm + margin_mm) * axis
        radius = self.inner_radius_mm + margin_mm
        # A box around the cylinder from the base plane to the apex, radius ``radius``.
        half_width = radius * np.sqrt(np.maximum(1.0 - axis**2, 0.0))
        low = np.minimum(base, apex) - half_width
        high = np.maximum(base, apex) + half_width
        return low, high


@dataclass(frozen=True)
class SpheroidCavity(_LVFrameShape):
    """The LV cavity: a prolate half-spheroid from the base plane to the apex.

    Points with ``0 <= axial <= cavity_length_mm`` along ``long_axis`` (from the
    base-plane centre) and inside the spheroid of semi-axes
    ``(inner_radius_mm, inner_radius_mm, cavity_length_mm)`` centred on the base plane.
    """

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        axial, radial = self._axial_radial(x, y, z)
        inside = (radial / self.inner_radius_mm) ** 2 + (axial / self.cavity_length_mm) ** 2
        return (inside <= 1.0) & (axial >= 0.0)

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        return self._bounds(0.0)

    def volume_mm3(self) -> float:
        """Analytic volume (half spheroid) in mm^3."""
        return float(2.0 / 3.0 * np.pi * self.inner_radius_mm**2 * self.cavity_length_mm)


@dataclass(frozen=True)
class OffsetSpheroidShell(_LVFrameShape):
    """The LV myocardium: a wall of uniform thickness around the cavity, cut at the base.

    The wall holds every point on the apex side of the base plane that lies
    outside the cavity spheroid and within ``wall_thickness_mm`` of it (an exact
    offset surface, so the wall is equally thick along every normal).
    """

    wall_thickness_mm: float = 9.0

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        axial, radial = self._axial_radial(x, y, z)
        candidate = (axial >= 0.0) & (radial <= self.inner_radius_mm + self.wall_thickness_mm)
        candidate &= axial <= self.cavity_length_mm + self.wall_thickness_mm
        inside = np.zeros(candidate.shape, dtype=bool)
        distance = distance_to_ellipse(
            radial[candidate], axial[candidate], self.inner_radius_mm, self.cavity_length_mm
        )
        inside[candidate] = (distance > 0.0) & (distance <= self.wall_thickness_mm)
        return inside

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        return self._bounds(self.wall_thickness_mm)

    def volume_mm3(self, samples: int = 20001) -> float:
        """Volume (mm^3) by integrating the solid of revolution along the offset curve."""
        a, b, w = self.inner_radius_mm, self.cavity_length_mm, self.wall_thickness_mm
        theta = np.linspace(0.0, np.pi / 2, samples)
        normal = np.stack([b * np.cos(theta), a * np.sin(theta)])
        normal /= np.linalg.norm(normal, axis=0)
        radius = a * np.cos(theta) + w * normal[0]
        axial = b * np.sin(theta) + w * normal[1]
        # Volume inside the outer surface (from the base plane), minus the cavity.
        outer = np.trapezoid(np.pi * radius**2 * np.gradient(axial, theta), theta)
        return float(outer - 2.0 / 3.0 * np.pi * a * a * b)
