"""The digital cardiac-torso phantom.

:class:`Phantom` holds any voxelised phantom (ours, or XCAT arrays read with
:mod:`spect_tutorial.formats`). :func:`make_phantom` builds the package's analytic
MCAT-style torso (Pretorius, King & Gifford 2004; Segars & Tsui 2009): organs
are geometric primitives in mm in the patient frame (LPS, see
:mod:`spect_tutorial.frame`), voxelised by supersampled fractional occupancy.
:func:`random_phantom` draws anatomy, uptake and a perfusion defect from
documented ranges.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ._files import plain_json
from ._validation import check_allocation, check_fields, int_tuple, is_finite_number, real_number
from ._validation import volume as check_volume
from .frame import SIMULATION_SHAPE, SIMULATION_VOXEL_SIZE_MM, LVGeometry, check_voxel_size_mm
from .segments import (
    _APICAL_CENTRES_DEG,
    _RING_CENTRES_DEG,
    aha_segment,
    lv_cylindrical_coordinates,
)
from .shapes import (
    Ellipsoid,
    EllipticCylinderZ,
    Intersection,
    OffsetSpheroidShell,
    Shape,
    SpheroidCavity,
    Union,
)
from .voxelize import paint_occupancy

__all__ = [
    "Anatomy",
    "Defect",
    "Phantom",
    "Uptake",
    "make_phantom",
    "random_defect",
    "random_phantom",
    "segment_neighbours",
]


_volume = functools.partial(check_volume, dtype=np.float32, non_negative=True)


@dataclass
class Phantom:
    """A voxelised cardiac-torso phantom on one grid.

    Parameters
    ----------
    activity : numpy.ndarray
        ``(z, y, x)`` float32 activity concentration, relative units (normal
        myocardium = 1). Must be finite and >= 0.
    mu : numpy.ndarray
        ``(z, y, x)`` float32 linear attenuation coefficient at 140 keV in 1/cm.
    voxel_size_mm : float
        Isotropic voxel edge length in mm.
    masks : dict of str to numpy.ndarray
        Boolean organ masks on the same grid (occupancy >= 0.5 for the analytic
        phantom), e.g. ``"myocardium"``, ``"blood_pool"``, ``"liver"``,
        ``"lungs"``, ``"body"`` and ``"defect"`` when the phantom has one.
    lv : LVGeometry or None
        Position and orientation of the left ventricle.
    occupancy : dict of str to numpy.ndarray, optional
        Fractional occupancy (0-1) of each organ label per voxel, as painted.
        Empty for phantoms built from external arrays.
    parameters : dict, optional
        JSON-serialisable description of how the phantom was made (anatomy,
        uptake, defect, seed), recorded in saved files and manifests.

    Raises
    ------
    ValueError
        If shapes differ, an array is not 3-D, or values are NaN, infinite or
        negative.
    """

    activity: np.ndarray
    mu: np.ndarray
    voxel_size_mm: float
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    lv: LVGeometry | None = None
    occupancy: dict[str, np.ndarray] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.activity = check_volume(
            self.activity, "activity", dtype=np.float32, non_negative=True
        )
        self.mu = check_volume(self.mu, "mu", dtype=np.float32, non_negative=True)
        if self.mu.shape != self.activity.shape:
            raise ValueError(
                f"activity and mu must have the same shape, got {self.activity.shape} "
                f"and {self.mu.shape}"
            )
        self.voxel_size_mm = check_voxel_size_mm(self.voxel_size_mm)
        if self.lv is not None and not isinstance(self.lv, LVGeometry):
            raise ValueError(f"lv must be an LVGeometry or None, got {type(self.lv).__name__}")
        masks = {}
        for name, mask in self.masks.items():
            mask = np.asarray(mask)
            if mask.shape != self.activity.shape:
                raise ValueError(
                    f"mask {name!r} has shape {mask.shape}, expected {self.activity.shape}"
                )
            masks[str(name)] = mask.astype(bool, copy=False)
        self.masks = masks
        occupancy = {}
        for name, fraction in self.occupancy.items():
            fraction = _volume(fraction, f"occupancy[{name!r}]")
            if fraction.shape != self.activity.shape:
                raise ValueError(
                    f"occupancy {name!r} has shape {fraction.shape}, "
                    f"expected {self.activity.shape}"
                )
            occupancy[str(name)] = fraction
        self.occupancy = occupancy

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(nz, ny, nx)`` in voxels."""
        return tuple(int(n) for n in self.activity.shape)  # type: ignore[return-value]

    @property
    def lv_center_mm(self) -> tuple[float, float, float]:
        """Shortcut for ``lv.center_mm`` (x, y, z) in mm."""
        if self.lv is None:
            raise ValueError("this phantom has no LV geometry (lv is None)")
        return self.lv.center_mm

    @property
    def lv_axis(self) -> np.ndarray:
        """Shortcut for ``lv.long_axis``: unit vector (x, y, z) from base to apex."""
        if self.lv is None:
            raise ValueError("this phantom has no LV geometry (lv is None)")
        return self.lv.long_axis

    def downsample(self, factor: int = 2) -> Phantom:
        """Average ``factor**3`` blocks of voxels: the fine grid seen by a coarser one.

        Activity concentration, attenuation and occupancy are block means, so
        total activity (concentration x voxel volume) is conserved; masks are
        recomputed as mean occupancy >= 0.5 where occupancy is known (the
        reconstruction-grid masks of the project's conventions), else as the
        majority of the fine mask.

        Parameters
        ----------
        factor : int
            Integer block size in voxels (each axis must be divisible by it).

        Returns
        -------
        Phantom
            On the coarse grid, voxel size ``factor * voxel_size_mm``.
        """
        if int(factor) != factor or factor < 1:
            raise ValueError(f"factor must be a positive integer, got {factor!r}")
        factor = int(factor)
        if any(n % factor for n in self.shape):
            raise ValueError(f"shape {self.shape} is not divisible by factor {factor}")
        occupancy = {name: block_mean(f, factor) for name, f in self.occupancy.items()}
        masks = masks_from_occupancy(occupancy) if occupancy else {}
        for name, mask in self.masks.items():
            if name not in masks:
                masks[name] = block_mean(mask.astype(np.float32), factor) >= 0.5
        return Phantom(
            activity=block_mean(self.activity, factor),
            mu=block_mean(self.mu, factor),
            voxel_size_mm=self.voxel_size_mm * factor,
            masks=masks,
            lv=self.lv,
            occupancy=occupancy,
            parameters={**self.parameters, "downsample_factor": factor},
        )


def block_mean(volume: np.ndarray, factor: int) -> np.ndarray:
    """Mean over non-overlapping ``factor**3`` blocks of a ``(z, y, x)`` volume (float32)."""
    nz, ny, nx = volume.shape
    blocks = np.asarray(volume, dtype=np.float64).reshape(
        nz // factor, factor, ny // factor, factor, nx // factor, factor
    )
    return blocks.mean(axis=(1, 3, 5)).astype(np.float32)


# --------------------------------------------------------------------------------------
# The analytic MCAT-style torso
# --------------------------------------------------------------------------------------

#: Painting order of the organ labels: later labels replace earlier ones.
ORGAN_ORDER: tuple[str, ...] = (
    "body",
    "lungs",
    "liver",
    "spine",
    "rv_wall",
    "rv_blood_pool",
    "blood_pool",
    "myocardium",
    "defect",
)

#: Linear attenuation coefficients at 140 keV in 1/cm (science reference section 4).
ATTENUATION_PER_CM: dict[str, float] = {
    "body": 0.15,
    "lungs": 0.045,
    "liver": 0.15,
    "spine": 0.27,
    "rv_blood_pool": 0.15,
    "rv_wall": 0.15,
    "blood_pool": 0.15,
    "myocardium": 0.15,
    "defect": 0.15,
}


@dataclass(frozen=True)
class Anatomy:
    """Sizes and positions of the organs, in mm in the patient frame (LPS).

    The defaults describe an adult male torso; positions are relative to the
    volume centre. Design choices from the ranges in the science reference
    (section 5): LV internal diameter 50 mm, cavity length 70 mm
    (length / diameter 1.4), wall 9 mm.

    Parameters
    ----------
    body_semi_axes_mm : tuple of float
        Body outline (elliptic cylinder along z): semi-axes along x and y in mm.
    right_lung_center_mm, left_lung_center_mm : tuple of float
        Lung ellipsoid centres ``(x, y, z)`` in mm.
    right_lung_semi_axes_mm, left_lung_semi_axes_mm : tuple of float
        Lung semi-axes ``(x, y, z)`` in mm.
    liver_center_mm, liver_semi_axes_mm : tuple of float
        Liver ellipsoid.
    spine_center_xy_mm : tuple of float
        Spine (vertebral column, a cylinder along z) axis position in mm.
    spine_radius_mm : float
        Spine radius in mm.
    lv_center_mm : tuple of float
        LV centre: midpoint of the cavity on the long axis, in mm.
    lv_azimuth_deg, lv_elevation_deg : float
        Long-axis orientation, see :meth:`LVGeometry.from_angles`.
    lv_inner_radius_mm : float
        Cavity (endocardial) radius at the base in mm.
    lv_cavity_length_mm : float
        Cavity length from the base plane to the endocardial apex in mm.
    wall_thickness_mm : float
        LV wall thickness along the wall normal in mm (also at the apex).
    rv_offset_mm : float
        Distance from the LV centre to the RV cavity centre along the septal
        direction, in mm.
    rv_base_shift_mm : float
        Shift of the RV cavity centre from the LV centre towards the base
        (along ``-long_axis``), in mm: the RV does not reach the LV apex.
    rv_semi_axes_mm : tuple of float
        RV cavity semi-axes along (septal, anterior, long axis) in mm.
    rv_wall_thickness_mm : float
        RV free-wall thickness in mm.
    """

    body_semi_axes_mm: tuple[float, float] = (170.0, 115.0)
    right_lung_center_mm: tuple[float, float, float] = (-80.0, 10.0, 45.0)
    right_lung_semi_axes_mm: tuple[float, float, float] = (55.0, 75.0, 110.0)
    left_lung_center_mm: tuple[float, float, float] = (85.0, 15.0, 50.0)
    left_lung_semi_axes_mm: tuple[float, float, float] = (50.0, 70.0, 100.0)
    liver_center_mm: tuple[float, float, float] = (-45.0, 5.0, -95.0)
    liver_semi_axes_mm: tuple[float, float, float] = (110.0, 90.0, 65.0)
    spine_center_xy_mm: tuple[float, float] = (0.0, 80.0)
    spine_radius_mm: float = 16.0
    lv_center_mm: tuple[float, float, float] = (30.0, -35.0, 5.0)
    lv_azimuth_deg: float = 45.0
    lv_elevation_deg: float = 30.0
    lv_inner_radius_mm: float = 25.0
    lv_cavity_length_mm: float = 70.0
    wall_thickness_mm: float = 9.0
    rv_offset_mm: float = 22.0
    rv_base_shift_mm: float = 12.0
    rv_semi_axes_mm: tuple[float, float, float] = (28.0, 42.0, 48.0)
    rv_wall_thickness_mm: float = 4.0

    def __post_init__(self) -> None:
        lengths = [name for name in self.__dataclass_fields__ if name.endswith("_semi_axes_mm")]
        lengths += ["spine_radius_mm", "lv_inner_radius_mm", "lv_cavity_length_mm"]
        lengths += ["wall_thickness_mm", "rv_wall_thickness_mm"]
        check_fields(self, lengths, unit="mm", minimum=0.0, strict_minimum=True)
        real_number(
            self.lv_elevation_deg,
            "lv_elevation_deg",
            unit="degrees",
            minimum=0,
            maximum=90,
            strict_maximum=True,
        )

    @property
    def lv(self) -> LVGeometry:
        """The exact :class:`LVGeometry` of this anatomy."""
        return LVGeometry.from_angles(
            self.lv_center_mm, azimuth_deg=self.lv_azimuth_deg, elevation_deg=self.lv_elevation_deg
        )


@dataclass(frozen=True)
class Uptake:
    """Relative activity concentration per organ (normal myocardium = 1).

    Design choices inside the ranges of the science reference (section 5) for a
    Tc-99m sestamibi / tetrofosmin study: liver 0.6-1.0, LV blood pool
    0.08-0.15, lungs 0.03-0.06, soft tissue 0.05-0.1. The RV free wall takes
    half the LV uptake; the spine carries soft-tissue (marrow) activity.
    """

    myocardium: float = 1.0
    blood_pool: float = 0.1
    liver: float = 0.75
    lungs: float = 0.045
    body: float = 0.075
    spine: float = 0.075
    rv_wall: float = 0.5
    rv_blood_pool: float = 0.1

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not is_finite_number(value) or value < 0:
                raise ValueError(
                    f"uptake {name} must be a finite concentration >= 0, got {value!r}"
                )


@dataclass(frozen=True)
class Defect:
    """A perfusion defect: a region of the LV wall with reduced uptake.

    Give either AHA ``segments`` or an angular wedge (``angle_range_deg`` with
    ``level_range``).

    Parameters
    ----------
    segments : tuple of int, optional
        AHA 17-segment numbers (1-17), see :mod:`spect_tutorial.segments`.
    angle_range_deg : tuple of float, optional
        ``(start, stop)`` polar angle in degrees from the septal direction
        towards anterior (0 septal, 90 anterior, 180 lateral, 270 inferior);
        the wedge runs counter-clockwise from start to stop and may wrap past 360.
    level_range : tuple of float, optional
        ``(start, stop)`` fraction of the cavity length from base (0) to the
        endocardial apex (1) covered by the wedge; values above 1 reach into
        the apical cap.
    severity : float
        Fraction of the normal uptake lost in the defect, in (0, 1]:
        0.5 halves the uptake, 1 removes it.
    transmurality : float
        Fraction of the wall thickness the defect spans from the endocardium,
        in (0, 1]: 1 (default) is transmural, 0.5 a subendocardial defect in
        the inner half of the wall.
    """

    segments: tuple[int, ...] = ()
    angle_range_deg: tuple[float, float] | None = None
    level_range: tuple[float, float] = (0.0, 1.0)
    severity: float = 0.5
    transmurality: float = 1.0

    def __post_init__(self) -> None:
        try:
            segments = tuple(int(s) for s in self.segments)
        except (TypeError, ValueError):
            raise ValueError(
                f"defect segments must be AHA numbers 1-17, got {self.segments!r}"
            ) from None
        object.__setattr__(self, "segments", segments)
        if bool(self.segments) == (self.angle_range_deg is not None):
            raise ValueError("give a Defect either segments=... or angle_range_deg=..., not both")
        if any(not 1 <= s <= 17 for s in self.segments):
            raise ValueError(f"defect segments must be AHA numbers 1-17, got {self.segments}")
        fractions = ("severity", "transmurality")
        check_fields(
            self, fractions, prefix="defect ", minimum=0.0, strict_minimum=True, maximum=1.0
        )
        low, high = self.level_range
        if not low < high:
            raise ValueError(
                "defect level_range must be (start, stop) with start < stop, "
                f"got {self.level_range}"
            )

    @property
    def remaining_uptake(self) -> float:
        """Fraction of the normal myocardial uptake left in the defect."""
        return 1.0 - self.severity

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "segments": list(self.segments),
            "angle_range_deg": None
            if self.angle_range_deg is None
            else list(self.angle_range_deg),
            "level_range": list(self.level_range),
            "severity": self.severity,
            # Only non-transmural defects record it: older records stay as they were.
            **({} if self.transmurality == 1.0 else {"transmurality": self.transmurality}),
        }


@dataclass(frozen=True)
class _DefectRegion:
    """Shape of the defect region: the LV wall points inside the defect's sectors."""

    wall: OffsetSpheroidShell
    lv: LVGeometry
    defect: Defect

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        points = np.stack(np.broadcast_arrays(x, y, z), axis=-1)
        axial_from_centre, _, angle = lv_cylindrical_coordinates(points, self.lv)
        level = (axial_from_centre + self.wall.cavity_length_mm / 2) / self.wall.cavity_length_mm
        if self.defect.segments:
            selected = np.isin(aha_segment(angle, level), self.defect.segments)
        else:
            start, stop = self.defect.angle_range_deg  # type: ignore[misc]
            width = np.mod(stop - start, 360.0) or 360.0
            selected = np.mod(angle - start, 360.0) < width
            low, high = self.defect.level_range
            selected &= (level >= low) & (level < high)
        wall = self.wall
        if self.defect.transmurality < 1.0:
            # The inner part of the wall: the same offset surface, thinner.
            wall = replace(
                wall, wall_thickness_mm=wall.wall_thickness_mm * self.defect.transmurality
            )
        return selected & wall.contains(x, y, z)

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        return self.wall.bounds_mm()


def organ_shapes(anatomy: Anatomy, defect: Defect | None = None) -> list[tuple[str, Shape]]:
    """The organ shapes of ``anatomy`` in painting order, each clipped by the body.

    Parameters
    ----------
    anatomy : Anatomy
        Organ sizes and positions.
    defect : Defect, optional
        Adds a ``"defect"`` label painted over the myocardium.

    Returns
    -------
    list of (str, Shape)
        Names follow :data:`ORGAN_ORDER`.
    """
    body = EllipticCylinderZ((0.0, 0.0), anatomy.body_semi_axes_mm)
    lv = anatomy.lv
    base_center = lv.center - anatomy.lv_cavity_length_mm / 2 * lv.long_axis
    frame = {
        "base_center_mm": tuple(base_center),
        "long_axis": tuple(lv.long_axis),
        "inner_radius_mm": anatomy.lv_inner_radius_mm,
        "cavity_length_mm": anatomy.lv_cavity_length_mm,
    }
    cavity = SpheroidCavity(**frame)
    wall = OffsetSpheroidShell(**frame, wall_thickness_mm=anatomy.wall_thickness_mm)
    rv_axes = (tuple(lv.septal_direction), tuple(lv.anterior_direction), tuple(lv.long_axis))
    rv_center = tuple(
        lv.center
        + anatomy.rv_offset_mm * lv.septal_direction
        - anatomy.rv_base_shift_mm * lv.long_axis
    )
    rv_outer = tuple(a + anatomy.rv_wall_thickness_mm for a in anatomy.rv_semi_axes_mm)
    spine = EllipticCylinderZ(
        anatomy.spine_center_xy_mm, (anatomy.spine_radius_mm, anatomy.spine_radius_mm)
    )
    shapes: list[tuple[str, Shape]] = [
        ("body", body),
        (
            "lungs",
            Union(
                (
                    Ellipsoid(anatomy.right_lung_center_mm, anatomy.right_lung_semi_axes_mm),
                    Ellipsoid(anatomy.left_lung_center_mm, anatomy.left_lung_semi_axes_mm),
                )
            ),
        ),
        ("liver", Ellipsoid(anatomy.liver_center_mm, anatomy.liver_semi_axes_mm)),
        ("spine", spine),
        ("rv_wall", Ellipsoid(rv_center, rv_outer, rv_axes)),
        ("rv_blood_pool", Ellipsoid(rv_center, anatomy.rv_semi_axes_mm, rv_axes)),
        ("blood_pool", cavity),
        ("myocardium", wall),
    ]
    if defect is not None:
        shapes.append(("defect", _DefectRegion(wall, lv, defect)))
    return [
        (name, shape if name == "body" else Intersection((shape, body))) for name, shape in shapes
    ]


#: Mask names every analytic phantom carries (``"defect"`` only when it has one).
MASK_NAMES = tuple(name for name in ORGAN_ORDER if name != "defect")


def masks_from_occupancy(occupancy: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Binary organ masks (occupancy >= 0.5) from the painted label occupancies.

    ``"myocardium"`` is the whole LV wall (normal and defect labels together),
    ``"defect"`` the defect label inside it, and ``"body"`` the body outline
    (every label); the other masks are their own label.

    Parameters
    ----------
    occupancy : dict of str to numpy.ndarray
        Fractional occupancy per label, as from :func:`paint_occupancy`.

    Returns
    -------
    dict of str to numpy.ndarray
        Boolean masks.
    """
    masks = {name: occupancy[name] >= 0.5 for name in MASK_NAMES if name in occupancy}
    masks["body"] = sum(occupancy.values()) >= 0.5
    if "defect" in occupancy:
        masks["myocardium"] = occupancy["myocardium"] + occupancy["defect"] >= 0.5
        masks["defect"] = (occupancy["defect"] >= 0.5) & masks["myocardium"]
    return masks


def _check_shape(shape: Any) -> tuple[int, int, int]:
    values = int_tuple(shape, "shape", 3, what="(nz, ny, nx)", whole_floats=True)
    # activity, mu, masks and occupancy maps: about 8 float32 volumes at once
    check_allocation(f"shape {values}", values, 4, copies=8)
    return values


def make_phantom(
    *,
    shape: tuple[int, int, int] = SIMULATION_SHAPE,
    voxel_size_mm: float = SIMULATION_VOXEL_SIZE_MM,
    anatomy: Anatomy | None = None,
    uptake: Uptake | None = None,
    defect: Defect | None = None,
    supersample: int = 4,
    **anatomy_changes: Any,
) -> Phantom:
    """Build the analytic cardiac-torso phantom on a voxel grid.

    Parameters
    ----------
    shape : tuple of int, optional
        Grid ``(nz, ny, nx)`` in voxels. Default 128^3 (the simulation grid);
        use ``(64, 64, 64)`` with 6.4 mm voxels for the clinical grid.
    voxel_size_mm : float, optional
        Isotropic voxel edge in mm. Default 3.2 mm.
    anatomy : Anatomy, optional
        Organ sizes and positions; default :class:`Anatomy()`.
    uptake : Uptake, optional
        Relative activity concentrations; default :class:`Uptake()`.
    defect : Defect, optional
        A perfusion defect; its uptake is ``(1 - severity) * myocardium``.
    supersample : int, optional
        Points per voxel edge for the fractional occupancy (default 4, i.e.
        64 points per voxel).
    **anatomy_changes
        Any :class:`Anatomy` field to change, e.g. ``wall_thickness_mm=8.0``.

    Returns
    -------
    Phantom
        Activity (relative units), attenuation (1/cm at 140 keV), masks
        (occupancy >= 0.5) for ``lungs``, ``liver``, ``spine``, ``rv_wall``,
        ``rv_blood_pool``, ``blood_pool`` (the LV cavity), ``myocardium`` (LV
        wall, defect included), ``defect`` and ``body`` (the whole body
        outline), the per-label occupancy (where label ``"body"`` is the soft
        tissue left between the organs) and the exact LV geometry.

    Examples
    --------
    >>> phantom = make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
    >>> phantom.activity.shape
    (64, 64, 64)
    >>> round(float(phantom.activity.max()), 2)
    1.0
    """
    shape = _check_shape(shape)
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    anatomy = anatomy if anatomy is not None else Anatomy()
    if anatomy_changes:
        unknown = sorted(set(anatomy_changes) - set(Anatomy.__dataclass_fields__))
        if unknown:
            raise TypeError(
                f"make_phantom got unknown keyword(s) {unknown}; anatomy fields are "
                f"{sorted(Anatomy.__dataclass_fields__)}"
            )
        anatomy = replace(anatomy, **anatomy_changes)
    uptake = uptake if uptake is not None else Uptake()
    if defect is not None and not isinstance(defect, Defect):
        raise ValueError(f"defect must be a Defect or None, got {type(defect).__name__}")
    occupancy = paint_occupancy(
        organ_shapes(anatomy, defect), shape, voxel_size_mm, supersample=supersample
    )
    concentration = {name: getattr(uptake, name) for name in ORGAN_ORDER if name != "defect"}
    if defect is not None:
        concentration["defect"] = uptake.myocardium * defect.remaining_uptake
    activity = np.zeros(shape, dtype=np.float32)
    mu = np.zeros(shape, dtype=np.float32)
    for name, fraction in occupancy.items():
        activity += concentration[name] * fraction
        mu += ATTENUATION_PER_CM[name] * fraction
    masks = masks_from_occupancy(occupancy)
    parameters = {
        "generator": "spect_tutorial.phantom.make_phantom",
        "shape": list(shape),
        "voxel_size_mm": voxel_size_mm,
        "supersample": int(supersample),
        "anatomy": plain_json(asdict(anatomy)),
        "uptake": asdict(uptake),
        "defect": None if defect is None else defect.to_dict(),
    }
    return Phantom(
        activity=activity,
        mu=mu,
        voxel_size_mm=voxel_size_mm,
        masks=masks,
        lv=anatomy.lv,
        occupancy=occupancy,
        parameters=parameters,
    )


#: Ranges that :func:`random_phantom` draws from (uniform), all documented in the book.
RANDOM_RANGES: dict[str, tuple[float, float]] = {
    "body_half_width_mm": (150.0, 185.0),
    "body_half_depth_mm": (100.0, 125.0),
    "lv_inner_radius_mm": (19.0, 29.0),
    "lv_length_to_diameter": (1.25, 1.55),
    "wall_thickness_mm": (6.0, 10.0),
    "lv_azimuth_deg": (35.0, 55.0),
    "lv_elevation_deg": (20.0, 40.0),
    "lv_shift_mm": (-10.0, 10.0),
    "liver_shift_mm": (-12.0, 12.0),
    "uptake_liver": (0.6, 1.0),
    "uptake_blood_pool": (0.08, 0.15),
    "uptake_lungs": (0.03, 0.06),
    "uptake_body": (0.05, 0.1),
    "uptake_rv_wall": (0.35, 0.6),
    "defect_severity": (0.3, 0.7),
}

# Defect shapes random_phantom picks from: one coronary territory's segments at a time.
_DEFECT_CHOICES: tuple[tuple[int, ...], ...] = (
    (4, 10, 15),  # inferior (RCA)
    (3, 4, 9, 10),  # inferoseptal / inferior (RCA)
    (1, 7, 13),  # anterior (LAD)
    (1, 2, 7, 8, 13, 14, 17),  # LAD territory
    (13, 14, 15, 16, 17),  # apical
    (5, 6, 11, 12),  # lateral (LCx)
    (11, 12, 16),  # mid and apical lateral (LCx)
)


#: How :func:`random_phantom` draws a defect's place.
DEFECT_MODELS = ("territories", "segments")

#: Ranges of :func:`random_defect` (uniform): segments, uptake loss, and the
#: probability and wall fraction of a non-transmural (subendocardial) defect.
RANDOM_DEFECT_RANGES: dict[str, tuple[float, float]] = {
    "n_segments": (1, 5),
    "severity": (0.1, 0.7),
    "non_transmural_probability": (0.25, 0.25),
    "transmurality": (0.4, 0.7),
}


def _segment_sectors() -> dict[int, tuple[int, float, float]]:
    # Segment -> (ring, centre in degrees, width in degrees); ring 3 is the apex.
    sectors: dict[int, tuple[int, float, float]] = {}
    for ring in (0, 1):
        for index, centre in enumerate(_RING_CENTRES_DEG):
            sectors[1 + 6 * ring + index] = (ring, centre, 60.0)
    for index, centre in enumerate(_APICAL_CENTRES_DEG):
        sectors[13 + index] = (2, centre, 90.0)
    sectors[17] = (3, 0.0, 360.0)
    return sectors


def segment_neighbours() -> dict[int, tuple[int, ...]]:
    """Which AHA segments touch which: the adjacency of the 17-segment map.

    Two segments touch when they are side by side in one ring, or in
    neighbouring rings (basal-mid, mid-apical) with overlapping angular
    sectors; the apex (17) touches the four apical segments.

    Returns
    -------
    dict of int to tuple of int
        Sorted neighbours of each segment 1-17.

    Examples
    --------
    >>> segment_neighbours()[17]
    (13, 14, 15, 16)
    >>> segment_neighbours()[1]
    (2, 6, 7)
    """
    sectors = _segment_sectors()

    def overlap(a: tuple[int, float, float], b: tuple[int, float, float], touch: bool) -> bool:
        distance = abs((a[1] - b[1] + 180.0) % 360.0 - 180.0)
        limit = (a[2] + b[2]) / 2
        return distance <= limit + 1e-9 if touch else distance < limit - 1e-9

    neighbours: dict[int, tuple[int, ...]] = {}
    for segment, sector in sectors.items():
        found = []
        for other, other_sector in sectors.items():
            if other == segment:
                continue
            if sector[0] == other_sector[0]:
                if overlap(sector, other_sector, touch=True):
                    found.append(other)
            elif abs(sector[0] - other_sector[0]) == 1 and (
                3 in (sector[0], other_sector[0]) or overlap(sector, other_sector, touch=False)
            ):
                found.append(other)
        neighbours[segment] = tuple(sorted(found))
    return neighbours


def random_defect(rng: np.random.Generator) -> Defect:
    """Draw a defect anywhere on the 17-segment map (training set v2).

    A first segment is drawn uniformly from 1-17, then the region grows to
    ``n`` contiguous segments (``n`` uniform in 1-5) by adding, one at a
    time, a uniformly drawn neighbour (:func:`segment_neighbours`) of the
    region; the uptake loss is uniform in 10-70 %, and with probability 1/4
    the defect is subendocardial, spanning 40-70 % of the wall from the
    endocardium (:data:`RANDOM_DEFECT_RANGES`).

    Parameters
    ----------
    rng : numpy.random.Generator
        The phantom's random stream.

    Returns
    -------
    Defect
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    neighbours = segment_neighbours()
    low, high = RANDOM_DEFECT_RANGES["n_segments"]
    n_segments = int(rng.integers(int(low), int(high) + 1))
    region = [int(rng.integers(1, 18))]
    while len(region) < n_segments:
        border = sorted({n for s in region for n in neighbours[s]} - set(region))
        region.append(border[int(rng.integers(len(border)))])
    severity = float(rng.uniform(*RANDOM_DEFECT_RANGES["severity"]))
    transmurality = 1.0
    if rng.uniform() < RANDOM_DEFECT_RANGES["non_transmural_probability"][0]:
        transmurality = float(rng.uniform(*RANDOM_DEFECT_RANGES["transmurality"]))
    return Defect(segments=tuple(sorted(region)), severity=severity, transmurality=transmurality)


def _clear_liver_from_heart(anatomy: Anatomy, *, step_mm: float = 2.0) -> Anatomy:
    """Move the liver down (feet-wards) until it no longer cuts into the LV wall.

    The organs are painted in order, so an overlapping liver would simply be
    hidden behind the myocardium, but it would sit unrealistically inside the
    heart's outline; random draws therefore keep the diaphragm below the heart.
    """
    lv = anatomy.lv
    wall = anatomy.wall_thickness_mm
    radius, length = anatomy.lv_inner_radius_mm, anatomy.lv_cavity_length_mm
    theta, phi = np.meshgrid(np.linspace(0, np.pi / 2, 24), np.linspace(0, 2 * np.pi, 48))
    normal = np.stack([length * np.cos(theta), radius * np.sin(theta)])
    normal /= np.linalg.norm(normal, axis=0)
    radial_mm = radius * np.cos(theta) + wall * normal[0]
    axial_mm = length * np.sin(theta) + wall * normal[1] - length / 2
    radial_direction = (
        np.cos(phi)[..., None] * lv.septal_direction
        + np.sin(phi)[..., None] * lv.anterior_direction
    )
    surface = (
        lv.center + radial_mm[..., None] * radial_direction + axial_mm[..., None] * lv.long_axis
    )
    center = np.asarray(anatomy.liver_center_mm, dtype=np.float64)
    semi_axes = np.asarray(anatomy.liver_semi_axes_mm)
    while np.min((((surface - center) / semi_axes) ** 2).sum(axis=-1)) < 1.0:
        center[2] -= step_mm
    return replace(anatomy, liver_center_mm=tuple(float(v) for v in center))


def random_phantom(
    *,
    seed: int | np.random.Generator,
    shape: tuple[int, int, int] = SIMULATION_SHAPE,
    voxel_size_mm: float = SIMULATION_VOXEL_SIZE_MM,
    defect_probability: float = 0.5,
    supersample: int = 4,
    defect_model: str = "territories",
    defect: Defect | None = None,
) -> Phantom:
    """Draw a phantom with random anatomy, uptake and (maybe) a defect.

    Every quantity is drawn uniformly from :data:`RANDOM_RANGES`; with
    probability ``defect_probability`` a defect is added. With
    ``defect_model="territories"`` (the study's) it covers one of seven
    territory-shaped segment groups, with 30-70 % uptake loss; with
    ``"segments"`` (training set v2, :func:`random_defect`) its place is drawn
    over the whole 17-segment map: 1-5 contiguous segments, 10-70 % uptake
    loss, a quarter of them non-transmural. The seed and every drawn value
    are recorded in ``phantom.parameters``.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        Seed of every random draw: the same seed gives the same phantom.
    shape, voxel_size_mm, supersample
        As for :func:`make_phantom`.
    defect_probability : float, optional
        Probability of a perfusion defect, in [0, 1].
    defect_model : {"territories", "segments"}, optional
        How the defect is drawn (see above). The anatomy and uptake draws come
        first, so both models give the same anatomy for a seed.
    defect : Defect, optional
        Place this defect instead of drawing one (``defect_probability`` and
        ``defect_model`` are then not used). The anatomy and uptake are those of
        the same seed without it: every random draw before the defect's is unchanged.

    Returns
    -------
    Phantom

    Examples
    --------
    >>> a = random_phantom(seed=3, shape=(32, 32, 32), voxel_size_mm=12.8)
    >>> b = random_phantom(seed=3, shape=(32, 32, 32), voxel_size_mm=12.8)
    >>> bool((a.activity == b.activity).all())
    True
    """
    real_number(defect_probability, "defect_probability", minimum=0.0, maximum=1.0)
    if defect_model not in DEFECT_MODELS:
        raise ValueError(f"defect_model must be one of {DEFECT_MODELS}, got {defect_model!r}")
    seed_value = seed if isinstance(seed, (int, np.integer)) else None
    if (
        isinstance(seed, bool)
        or (seed_value is None and not isinstance(seed, np.random.Generator))
        or (seed_value is not None and seed_value < 0)
    ):
        raise ValueError(f"seed must be an int >= 0 or a numpy Generator, got {seed!r}")
    if defect is not None and not isinstance(defect, Defect):
        raise ValueError(f"defect must be a Defect or None, got {type(defect).__name__}")
    rng = np.random.default_rng(seed)

    def draw(name: str) -> float:
        low, high = RANDOM_RANGES[name]
        return float(rng.uniform(low, high))

    base = Anatomy()
    radius = draw("lv_inner_radius_mm")
    lv_shift = np.array([draw("lv_shift_mm") for _ in range(3)])
    liver_shift = np.array([draw("liver_shift_mm") for _ in range(3)])
    anatomy = replace(
        base,
        body_semi_axes_mm=(draw("body_half_width_mm"), draw("body_half_depth_mm")),
        lv_inner_radius_mm=radius,
        lv_cavity_length_mm=2.0 * radius * draw("lv_length_to_diameter"),
        wall_thickness_mm=draw("wall_thickness_mm"),
        lv_azimuth_deg=draw("lv_azimuth_deg"),
        lv_elevation_deg=draw("lv_elevation_deg"),
        lv_center_mm=tuple(float(v) for v in np.asarray(base.lv_center_mm) + lv_shift),
        liver_center_mm=tuple(float(v) for v in np.asarray(base.liver_center_mm) + liver_shift),
    )
    anatomy = _clear_liver_from_heart(anatomy)
    uptake = Uptake(
        liver=draw("uptake_liver"),
        blood_pool=draw("uptake_blood_pool"),
        lungs=draw("uptake_lungs"),
        body=draw("uptake_body"),
        spine=draw("uptake_body"),
        rv_wall=draw("uptake_rv_wall"),
    )
    if defect is None and rng.uniform() < defect_probability:
        if defect_model == "segments":
            defect = random_defect(rng)
        else:
            segments = _DEFECT_CHOICES[int(rng.integers(len(_DEFECT_CHOICES)))]
            defect = Defect(segments=segments, severity=draw("defect_severity"))
    phantom = make_phantom(
        shape=shape,
        voxel_size_mm=voxel_size_mm,
        anatomy=anatomy,
        uptake=uptake,
        defect=defect,
        supersample=supersample,
    )
    phantom.parameters["generator"] = "spect_tutorial.phantom.random_phantom"
    phantom.parameters["seed"] = None if seed_value is None else int(seed_value)
    return phantom
