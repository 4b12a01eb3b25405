"""Coordinates around the left ventricle and the AHA 17-segment model.

The angle origin is the septal direction of :class:`~spect_tutorial.frame.LVGeometry`:
``angle_deg`` is 0 at the septum, 90 at the anterior wall, 180 at the lateral wall
and 270 at the inferior wall (turning from septal towards anterior). The level
is the fraction of the cavity length from the base plane (0) to the endocardial
apex (1); the apical cap beyond it (level >= 1) is segment 17.

Segments (Cerqueira et al., Circulation 2002): basal 1-6 and mid 7-12 in
60-degree sectors (anterior, anteroseptal, inferoseptal, inferior,
inferolateral, anterolateral), apical 13-16 in 90-degree sectors (anterior,
septal, inferior, lateral), 17 the apex. Basal, mid and apical rings are the
thirds of the cavity length.
"""

from __future__ import annotations

import numpy as np

from .frame import LVGeometry

__all__ = [
    "AHA_SEGMENT_NAMES",
    "CORONARY_TERRITORIES",
    "aha_segment",
    "lv_cylindrical_coordinates",
]

AHA_SEGMENT_NAMES: dict[int, str] = {
    1: "basal anterior",
    2: "basal anteroseptal",
    3: "basal inferoseptal",
    4: "basal inferior",
    5: "basal inferolateral",
    6: "basal anterolateral",
    7: "mid anterior",
    8: "mid anteroseptal",
    9: "mid inferoseptal",
    10: "mid inferior",
    11: "mid inferolateral",
    12: "mid anterolateral",
    13: "apical anterior",
    14: "apical septal",
    15: "apical inferior",
    16: "apical lateral",
    17: "apex",
}

#: Usual coronary territories of the 17 segments (Cerqueira et al. 2002).
CORONARY_TERRITORIES: dict[str, tuple[int, ...]] = {
    "LAD": (1, 2, 7, 8, 13, 14, 17),
    "RCA": (3, 4, 9, 10, 15),
    "LCX": (5, 6, 11, 12, 16),
}

# Sector centres in degrees (0 = septal, 90 = anterior) for the 60-degree rings,
# listed in segment order: anterior, anteroseptal, inferoseptal, inferior,
# inferolateral, anterolateral.
_RING_CENTRES_DEG = (90.0, 30.0, 330.0, 270.0, 210.0, 150.0)
# Apical ring: anterior, septal, inferior, lateral.
_APICAL_CENTRES_DEG = (90.0, 0.0, 270.0, 180.0)


def lv_cylindrical_coordinates(
    points_xyz_mm: np.ndarray, lv: LVGeometry
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axial position, radius and angle of points around the LV long axis.

    Parameters
    ----------
    points_xyz_mm : numpy.ndarray
        ``(..., 3)`` positions ``(x, y, z)`` in mm.
    lv : LVGeometry
        The LV frame.

    Returns
    -------
    axial_mm : numpy.ndarray
        Signed distance along the long axis from the LV centre (mm, positive
        towards the apex).
    radius_mm : numpy.ndarray
        Distance from the long axis (mm).
    angle_deg : numpy.ndarray
        Angle in ``[0, 360)`` degrees from the septal direction towards anterior.
    """
    offset = np.asarray(points_xyz_mm, dtype=np.float64) - lv.center
    axial = offset @ lv.long_axis
    septal = offset @ lv.septal_direction
    anterior = offset @ lv.anterior_direction
    radius = np.hypot(septal, anterior)
    angle = np.mod(np.degrees(np.arctan2(anterior, septal)), 360.0)
    return axial, radius, angle


def _in_sector(angle_deg: np.ndarray, centre_deg: float, width_deg: float) -> np.ndarray:
    difference = np.mod(angle_deg - centre_deg + 180.0, 360.0) - 180.0
    return (difference >= -width_deg / 2) & (difference < width_deg / 2)


def aha_segment(angle_deg: np.ndarray, level_fraction: np.ndarray) -> np.ndarray:
    """AHA segment number (1-17) for polar angle and base-to-apex level.

    Parameters
    ----------
    angle_deg : array_like
        Angle in degrees from the septal direction towards anterior.
    level_fraction : array_like
        Position along the cavity: 0 at the base plane, 1 at the endocardial
        apex; values >= 1 are the apex (segment 17). Negative values (beyond
        the base) get 0, meaning "no segment".

    Returns
    -------
    numpy.ndarray
        int8 segment numbers, 0 outside the LV's extent.

    Examples
    --------
    >>> aha_segment([90.0, 270.0, 0.0], [0.1, 0.5, 1.2]).tolist()
    [1, 10, 17]
    """
    angle = np.mod(np.asarray(angle_deg, dtype=np.float64), 360.0)
    level = np.asarray(level_fraction, dtype=np.float64)
    angle, level = np.broadcast_arrays(angle, level)
    segment = np.zeros(angle.shape, dtype=np.int8)
    for ring, (low, high) in enumerate(((0.0, 1 / 3), (1 / 3, 2 / 3))):
        in_ring = (level >= low) & (level < high)
        for index, centre in enumerate(_RING_CENTRES_DEG):
            segment[in_ring & _in_sector(angle, centre, 60.0)] = 1 + 6 * ring + index
    apical = (level >= 2 / 3) & (level < 1.0)
    for index, centre in enumerate(_APICAL_CENTRES_DEG):
        segment[apical & _in_sector(angle, centre, 90.0)] = 13 + index
    segment[level >= 1.0] = 17
    return segment
