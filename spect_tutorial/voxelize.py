"""Voxelisation by supersampled fractional occupancy.

Each voxel is sampled on a regular ``s x s x s`` lattice of points. Organs are
painted point by point in a fixed order, a later organ replacing an earlier
one, and a voxel's occupancy of an organ is the fraction of its points that
organ owns. Activity and attenuation are then occupancy-weighted sums, and a
binary mask is occupancy >= 0.5 (project conventions, science reference
section 8).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .frame import axis_coordinates_mm, check_voxel_size_mm
from .shapes import Shape

__all__ = ["paint_occupancy"]

# Points per chunk along z; bounds memory to about 100 MB at 128^2 x 4^3 samples.
_CHUNK_VOXELS_Z = 4


def _sample_coordinates_mm(n: int, voxel_size_mm: float, supersample: int) -> np.ndarray:
    """Positions (mm) of the ``supersample`` points inside each of ``n`` voxels, shape (n, s)."""
    centres = axis_coordinates_mm(n, voxel_size_mm)
    offsets = ((np.arange(supersample) + 0.5) / supersample - 0.5) * voxel_size_mm
    return centres[:, None] + offsets[None, :]


def _index_range(coordinates: np.ndarray, low: float, high: float) -> slice:
    """Slice of a sorted 1-D coordinate array that covers ``[low, high]``."""
    start = int(np.searchsorted(coordinates, low, side="left"))
    stop = int(np.searchsorted(coordinates, high, side="right"))
    return slice(start, stop)


def paint_occupancy(
    organs: Sequence[tuple[str, Shape]],
    shape: tuple[int, int, int],
    voxel_size_mm: float,
    *,
    supersample: int = 4,
) -> dict[str, np.ndarray]:
    """Fractional occupancy of each organ after painting them in order.

    Parameters
    ----------
    organs : sequence of (str, Shape)
        Organ names and shapes in painting order; later organs replace earlier
        ones. The names must be unique.
    shape : tuple of int
        Grid shape ``(nz, ny, nx)`` in voxels.
    voxel_size_mm : float
        Isotropic voxel edge length in mm.
    supersample : int, optional
        Points per voxel edge (``supersample**3`` points per voxel), 1-8.

    Returns
    -------
    dict of str to numpy.ndarray
        Occupancy fractions in ``[0, 1]`` (float32, multiples of
        ``1 / supersample**3``); they sum to at most 1 in every voxel.
    """
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    if (
        isinstance(supersample, bool)
        or not isinstance(supersample, numbers.Real)
        or not math.isfinite(supersample)
        or int(supersample) != supersample
        or not 1 <= supersample <= 8
    ):
        raise ValueError(f"supersample must be an integer from 1 to 8, got {supersample!r}")
    names = [name for name, _ in organs]
    if len(set(names)) != len(names):
        raise ValueError(f"organ names must be unique, got {names}")
    nz, ny, nx = (int(n) for n in shape)
    s = int(supersample)
    sample_z = _sample_coordinates_mm(nz, voxel_size_mm, s)
    sample_y = _sample_coordinates_mm(ny, voxel_size_mm, s).ravel()
    sample_x = _sample_coordinates_mm(nx, voxel_size_mm, s).ravel()
    bounds = [shape_.bounds_mm() for _, shape_ in organs]
    occupancy = {name: np.zeros((nz, ny, nx), dtype=np.float32) for name in names}
    n_labels = len(names) + 1  # label 0 is outside every organ (air)
    for z0 in range(0, nz, _CHUNK_VOXELS_Z):
        z1 = min(z0 + _CHUNK_VOXELS_Z, nz)
        chunk_z = sample_z[z0:z1].ravel()
        labels = np.zeros((chunk_z.size, sample_y.size, sample_x.size), dtype=np.uint8)
        for label, ((_, organ), (low, high)) in enumerate(zip(organs, bounds, strict=True), 1):
            box = (
                _index_range(chunk_z, low[2], high[2]),
                _index_range(sample_y, low[1], high[1]),
                _index_range(sample_x, low[0], high[0]),
            )
            if any(part.start >= part.stop for part in box):
                continue
            inside = organ.contains(
                sample_x[box[2]][None, None, :],
                sample_y[box[1]][None, :, None],
                chunk_z[box[0]][:, None, None],
            )
            labels[box][inside] = label
        # Count each label's points per voxel in one pass: key = voxel * n_labels + label.
        voxel_of_point = (
            (np.arange(chunk_z.size)[:, None, None] // s * ny)
            + np.arange(sample_y.size)[None, :, None] // s
        ) * nx + np.arange(sample_x.size)[None, None, :] // s
        keys = voxel_of_point * n_labels + labels
        counts = np.bincount(keys.ravel(), minlength=(z1 - z0) * ny * nx * n_labels)
        counts = counts.reshape(z1 - z0, ny, nx, n_labels)
        for label, name in enumerate(names, 1):
            occupancy[name][z0:z1] = counts[..., label] / float(s**3)
    return occupancy
