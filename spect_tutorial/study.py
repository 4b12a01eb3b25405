"""One simulated SPECT study: phantom -> noisy projections -> OSEM images.

:func:`simulate_study` is what every chapter and check calls. It projects the
phantom on its fine grid (3.2 mm voxels for the shipped phantoms), scales the
projections to the requested count level, draws independent Poisson
realizations, and reconstructs them with OSEM on the clinical grid (6.4 mm
voxels, the mean-downsampled attenuation map), together with the *ideal*
image: the same OSEM applied to the noise-free projections (science reference
section 8). Simulating on a finer grid than the one reconstructed is a grid
mismatch only: the collimator blur model and the attenuation map are shared by
simulation and reconstruction, so this is a partial escape from the "inverse
crime" of using the same model twice, not a full one.

The noise-free part (the fine projection, the reconstruction system and the
ideal image) is cached per phantom, so a second count level or seed costs only
the noise draws and the reconstructions.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._files import sha256_arrays
from ._validation import check_allocation, check_seed, element_count, integer, real_number
from .acquisition import SpectGeometry, SpectSystem, estimate_scatter, scatter_projections
from .frame import LVGeometry
from .metrics import evaluation_region
from .noise import (
    count_level_scale,
    counts_scale,
    expected_counts,
    poisson_realizations,
    realization_seed,
)
from .phantom import Phantom
from .recon import osem

__all__ = [
    "ACQUISITIONS",
    "ACQUISITION_V1",
    "ACQUISITION_V2",
    "SCATTER_CORRECTIONS",
    "AcquisitionSettings",
    "Study",
    "acquisition_file",
    "acquisition_settings",
    "clear_cache",
    "simulate_study",
]

#: How OSEM treats scatter: ``"true"`` gives it the expected scatter (an oracle),
#: ``"estimated"`` an estimate from the measured counts alone
#: (:func:`~spect_tutorial.acquisition.estimate_scatter`), ``"none"`` nothing.
SCATTER_CORRECTIONS = ("true", "estimated", "none")


@dataclass(frozen=True)
class AcquisitionSettings:
    """What an acquisition adds to the phantom: scatter and its correction.

    One definition shared by the training sets
    (:func:`~spect_tutorial.datasets.build_training_set`), the evaluation
    protocol (:mod:`spect_tutorial.protocol`) and the benchmark, so that a
    network is trained and judged on the same kind of data.

    Attributes
    ----------
    name : str
        Short name (``"v1"``, ``"v2"``), recorded with the results.
    scatter_to_primary : float
        Scatter counts per primary count in the photopeak window (0: none).
    scatter_correction : str
        One of :data:`SCATTER_CORRECTIONS`.
    """

    name: str
    scatter_to_primary: float = 0.0
    scatter_correction: str = "none"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be a short identifier, got {self.name!r}")
        real_number(
            self.scatter_to_primary,
            "scatter_to_primary",
            minimum=0,
            maximum=1,
            strict_maximum=True,
        )
        if self.scatter_correction not in SCATTER_CORRECTIONS:
            raise ValueError(
                f"scatter_correction must be one of {SCATTER_CORRECTIONS}, "
                f"got {self.scatter_correction!r}"
            )

    def study_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`simulate_study` that this acquisition sets."""
        return {
            "scatter_to_primary": float(self.scatter_to_primary),
            "scatter_correction": self.scatter_correction,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for manifests and records)."""
        return {
            "name": self.name,
            "scatter_to_primary": float(self.scatter_to_primary),
            "scatter_correction": self.scatter_correction,
        }


#: The study's acquisition: no scatter (what every committed v1 record used).
ACQUISITION_V1 = AcquisitionSettings("v1")
#: More realistic: scatter at 0.3 of the primary counts in the photopeak window
#: (Tc-99m), corrected in OSEM with an estimate from the measured counts.
ACQUISITION_V2 = AcquisitionSettings("v2", scatter_to_primary=0.3, scatter_correction="estimated")
#: The named acquisitions, by name.
ACQUISITIONS: dict[str, AcquisitionSettings] = {"v1": ACQUISITION_V1, "v2": ACQUISITION_V2}


def acquisition_settings(acquisition: str | AcquisitionSettings) -> AcquisitionSettings:
    """The :class:`AcquisitionSettings` named ``acquisition`` (or ``acquisition`` itself).

    Raises
    ------
    ValueError
        For an unknown name or another type.
    """
    if isinstance(acquisition, AcquisitionSettings):
        return acquisition
    if isinstance(acquisition, str) and acquisition in ACQUISITIONS:
        return ACQUISITIONS[acquisition]
    raise ValueError(
        f"acquisition must be one of {sorted(ACQUISITIONS)} or an AcquisitionSettings, "
        f"got {acquisition!r}"
    )


def acquisition_file(path: Path, acquisition: str | AcquisitionSettings) -> Path:
    """A committed file of an acquisition: ``path`` itself for v1 (the study's), the
    acquisition's name added to its stem otherwise (``results.jsonl`` ->
    ``results_v2.jsonl``), so files of two acquisitions never share a name.

    Raises
    ------
    ValueError
        For an unknown acquisition.
    """
    name = acquisition_settings(acquisition).name
    return path if name == "v1" else path.with_name(f"{path.stem}_{name}{path.suffix}")


# Noise-free data of the most recent phantoms (a Binder kernel has little memory).
_CACHE_SIZE = 2
_cache: OrderedDict[str, _NoiseFree] = OrderedDict()


@dataclass
class Study:
    """A simulated acquisition and its reconstructions on the clinical grid.

    Images are in the phantom's relative activity units: reconstructed counts
    divided by ``counts_per_unit``, so images at every count level share one
    scale and the ideal image approximates the (blurred) phantom.

    Attributes
    ----------
    count_level : float
        Count level in percent (100 % as defined in the science reference).
    seed : int or None
        Seed of the noise draws (independent streams per level and realization).
    geometry : SpectGeometry
        Camera and orbit.
    voxel_size_mm : float
        Reconstruction voxel size in mm (the detector bin size).
    lv : LVGeometry
        The phantom's LV frame.
    expected : numpy.ndarray
        ``(views, rows, bins)`` expected counts (primary plus scatter, if any).
    myocardium_expected : numpy.ndarray
        ``(views, rows, bins)`` expected primary counts from the myocardium alone:
        what defines the count level (see :func:`spect_tutorial.noise.counts_scale`).
    scatter : numpy.ndarray or None
        ``(views, rows, bins)`` expected scatter counts, when modelled.
    projections : numpy.ndarray
        ``(K, views, rows, bins)`` Poisson realizations (counts, float32).
    recons : numpy.ndarray
        ``(K, z, y, x)`` OSEM images of the realizations.
    ideal : numpy.ndarray
        ``(z, y, x)`` OSEM image of the noise-free projections, same settings.
    activity : numpy.ndarray
        ``(z, y, x)`` true activity on the reconstruction grid (block mean).
    myocardium_mask, evaluation_mask : numpy.ndarray
        Myocardium (mean occupancy >= 0.5) and the evaluation region (that
        mask dilated by one voxel).
    defect_mask : numpy.ndarray or None
        Defect region within the myocardium, if the phantom has a defect.
    counts_per_unit : float
        Expected counts per unit of image value (converts images back to counts).
    total_counts : float
        Expected counts in all views together.
    n_iter, n_subsets : int
        OSEM settings.
    system : SpectSystem
        The reconstruction-grid system model (for reconstructing with other settings).
    scatter_correction : str
        How OSEM treated scatter (:data:`SCATTER_CORRECTIONS`).
    additive : numpy.ndarray or None
        ``(K, views, rows, bins)`` additive term OSEM used for each realization
        (counts), or None.
    """

    count_level: float
    seed: int | None
    geometry: SpectGeometry
    voxel_size_mm: float
    lv: LVGeometry
    expected: np.ndarray
    myocardium_expected: np.ndarray
    scatter: np.ndarray | None
    projections: np.ndarray
    recons: np.ndarray
    ideal: np.ndarray
    activity: np.ndarray
    myocardium_mask: np.ndarray
    evaluation_mask: np.ndarray
    defect_mask: np.ndarray | None
    counts_per_unit: float
    total_counts: float
    n_iter: int
    n_subsets: int
    system: SpectSystem = field(repr=False)
    scatter_correction: str = "none"
    additive: np.ndarray | None = field(default=None, repr=False)


@dataclass
class _NoiseFree:
    """What does not depend on the count level or the noise: cached per phantom."""

    primary: np.ndarray  # expected primary projections, activity units
    myocardium: np.ndarray  # expected primary projections of the myocardium alone
    scatter: np.ndarray | None  # expected scatter projections, activity units
    scale: float  # counts per activity unit at 100 %
    coarse: Phantom
    system: SpectSystem
    ideal: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict)


def clear_cache() -> None:
    """Forget the cached noise-free projections and systems (frees memory)."""
    _cache.clear()


def _phantom_key(phantom: Phantom, settings: dict[str, Any]) -> str:
    arrays = (phantom.activity, phantom.mu, phantom.masks["myocardium"])
    extra = (json.dumps(settings, sort_keys=True, default=str).encode(), repr(phantom.lv).encode())
    return sha256_arrays(arrays, shapes=False, extra=extra)


def _noise_free(
    phantom: Phantom,
    geometry: SpectGeometry,
    *,
    attenuation: bool,
    resolution: bool,
    scatter_to_primary: float,
) -> _NoiseFree:
    settings = {
        "geometry": geometry,
        "attenuation": attenuation,
        "resolution": resolution,
        "scatter_to_primary": scatter_to_primary,
        "voxel_size_mm": phantom.voxel_size_mm,
    }
    key = _phantom_key(phantom, settings)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    factor = geometry.bin_size_mm / phantom.voxel_size_mm
    if abs(factor - round(factor)) > 1e-6 or round(factor) < 1:
        raise ValueError(
            f"the phantom's voxel size ({phantom.voxel_size_mm} mm) must divide the detector "
            f"bin size ({geometry.bin_size_mm} mm) by a whole number"
        )
    system_options = {"attenuation": attenuation, "resolution": resolution}
    fine_system = SpectSystem(
        phantom.mu, geometry, voxel_size_mm=phantom.voxel_size_mm, **system_options
    )
    both = fine_system.forward(
        np.stack([phantom.activity, phantom.activity * phantom.masks["myocardium"]])
    )
    primary, myocardium = both[0], both[1]
    scatter = (
        scatter_projections(primary, geometry, scatter_to_primary=scatter_to_primary)
        if scatter_to_primary > 0
        else None
    )
    total = primary if scatter is None else primary + scatter
    scale = counts_scale(total, myocardium, angles_deg=geometry.angles_deg)
    coarse = phantom.downsample(round(factor)) if round(factor) > 1 else phantom
    system = SpectSystem(coarse.mu, geometry, voxel_size_mm=geometry.bin_size_mm, **system_options)
    entry = _NoiseFree(primary, myocardium, scatter, scale, coarse, system)
    _cache[key] = entry
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return entry


def _geometry_or_default(geometry: Any) -> SpectGeometry:
    """``geometry`` checked, or the default :class:`SpectGeometry` for ``None``."""
    if geometry is not None and not isinstance(geometry, SpectGeometry):
        raise ValueError(
            f"geometry must be a SpectGeometry or None, got {type(geometry).__name__}"
        )
    return geometry if geometry is not None else SpectGeometry()


def _check_subsets(n_subsets: int, geometry: SpectGeometry) -> None:
    """Refuse more OSEM subsets than ``geometry`` has views."""
    if n_subsets > geometry.n_views:
        raise ValueError(
            f"n_subsets must be an integer in 1..{geometry.n_views} (the number of views), "
            f"got {n_subsets!r}"
        )


def simulate_study(
    phantom: Phantom,
    *,
    count_level: float = 100.0,
    n_realizations: int = 2,
    seed: int | None = 0,
    geometry: SpectGeometry | None = None,
    n_iter: int = 4,
    n_subsets: int = 8,
    attenuation: bool = True,
    resolution: bool = True,
    scatter_to_primary: float = 0.0,
    correct_scatter: bool = True,
    scatter_correction: str | None = None,
) -> Study:
    """Simulate an acquisition of ``phantom`` and reconstruct it with OSEM.

    Parameters
    ----------
    phantom : Phantom
        The object; its voxel size must divide the detector bin size by a whole
        number (3.2 mm for the 6.4 mm detector). It needs a ``"myocardium"``
        mask, which defines the 100 % count level.
    count_level : float, optional
        Count level in percent (> 0); 100 % puts an average of 100 expected
        counts per pixel on the myocardium of the LAO 45 view.
    n_realizations : int, optional
        Independent noisy acquisitions ``K`` (>= 1); two or more give
        Noise2Noise pairs.
    seed : int or None, optional
        Seed of the noise; the same seed at another count level draws
        independent noise (:func:`spect_tutorial.noise.realization_seed`).
    geometry : SpectGeometry, optional
        Camera and orbit (ASNC defaults).
    n_iter, n_subsets : int, optional
        OSEM iterations and subsets (4 x 8 by default).
    attenuation, resolution : bool, optional
        Model attenuation and collimator blur in simulation and reconstruction.
    scatter_to_primary : float, optional
        Scatter counts per primary count (0 = no scatter; about 0.3 for Tc-99m).
    correct_scatter : bool, optional
        With scatter, give OSEM the expected scatter as its additive term (an
        ideal scatter estimate); otherwise scatter is reconstructed as activity.
        Shorthand for ``scatter_correction="true"`` / ``"none"``.
    scatter_correction : {"true", "estimated", "none"}, optional
        How OSEM treats scatter (overrides ``correct_scatter`` when given):
        the expected scatter (an oracle), an estimate from each measured
        realization alone (:func:`~spect_tutorial.acquisition.estimate_scatter`,
        with the scatter model's calibrated ratio and kernel), or nothing.
        The ideal image uses the same correction applied to the noise-free
        projections (for ``"estimated"``: the estimate from them).

    Returns
    -------
    Study

    Examples
    --------
    >>> from spect_tutorial import make_phantom
    >>> study = simulate_study(make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4),
    ...                        count_level=50, n_realizations=1)  # doctest: +SKIP
    """
    if not isinstance(phantom, Phantom):
        raise ValueError(f"phantom must be a Phantom, got {type(phantom).__name__}")
    if "myocardium" not in phantom.masks:
        raise ValueError(
            "phantom has no 'myocardium' mask; it defines the count level "
            "(give masks={'myocardium': ...} to phantom_from_arrays)"
        )
    if phantom.lv is None:
        raise ValueError("phantom has no LV geometry (lv); it is needed for the evaluation")
    level = count_level_scale(count_level)
    n_realizations = integer(n_realizations, "n_realizations", whole_floats=True)
    real_number(scatter_to_primary, "scatter_to_primary", minimum=0)
    if scatter_correction is None:
        if not isinstance(correct_scatter, bool | np.bool_):
            raise ValueError(f"correct_scatter must be True or False, got {correct_scatter!r}")
        scatter_correction = "true" if correct_scatter else "none"
    elif scatter_correction not in SCATTER_CORRECTIONS:
        raise ValueError(
            f"scatter_correction must be one of {SCATTER_CORRECTIONS} or None, "
            f"got {scatter_correction!r}"
        )
    if scatter_correction == "estimated" and scatter_to_primary >= 1:
        raise ValueError(
            "scatter_correction='estimated' needs scatter_to_primary < 1 (the calibrated "
            f"ratio of the convolution subtraction), got {scatter_to_primary!r}"
        )
    # Checked here, before the (expensive) noise-free projection, not deep inside it.
    check_seed(seed, generators=True)
    integer(n_iter, "n_iter")
    integer(n_subsets, "n_subsets")
    geometry = _geometry_or_default(geometry)
    _check_subsets(n_subsets, geometry)
    # Every realization's projections and reconstruction are held at once (float64 at
    # worst; the reconstruction grid is at most the phantom's): refuse before any work.
    nz = phantom.shape[0]
    check_allocation(
        f"n_realizations={int(n_realizations)}",
        int(n_realizations)
        * (geometry.n_views * nz * geometry.n_bins + element_count(phantom.shape)),
        8,
        copies=2,
    )
    noise_free = _noise_free(
        phantom,
        geometry,
        attenuation=attenuation,
        resolution=resolution,
        scatter_to_primary=float(scatter_to_primary),
    )
    counts_per_unit = noise_free.scale * level
    primary = expected_counts(noise_free.primary, scale=noise_free.scale, count_level=count_level)
    scatter = (
        None
        if noise_free.scatter is None
        else expected_counts(noise_free.scatter, scale=noise_free.scale, count_level=count_level)
    )
    expected = primary if scatter is None else primary + scatter
    if scatter is None:
        scatter_correction = "none"  # nothing to correct
    projections = np.stack(
        [
            poisson_realizations(expected, n=1, seed=realization_seed(seed, count_level, k))[0]
            for k in range(int(n_realizations))
        ]
    )

    def additive_for(data: np.ndarray, true_scatter: np.ndarray | None) -> np.ndarray | None:
        if scatter_correction == "true":
            return true_scatter
        if scatter_correction == "estimated":
            return estimate_scatter(data, geometry, scatter_to_primary=float(scatter_to_primary))
        return None

    additive = additive_for(projections, scatter)
    recons = osem(
        projections, noise_free.system, n_iter=n_iter, n_subsets=n_subsets, additive=additive
    )
    if additive is None:
        # Without an additive term OSEM (from its uniform start) is scale-equivariant:
        # one ideal image at 100 % serves every count level.
        ideal_key: tuple[Any, ...] = (int(n_iter), int(n_subsets), "none")
    else:
        # With one it is not (the uniform start does not scale with the counts):
        # the ideal image is computed at each count level.
        ideal_key = (int(n_iter), int(n_subsets), scatter_correction, float(count_level))
    if ideal_key not in noise_free.ideal:
        level_percent = 100.0 if additive is None else float(count_level)
        reference = expected_counts(
            noise_free.primary, scale=noise_free.scale, count_level=level_percent
        )
        reference_scatter = None
        if noise_free.scatter is not None:
            reference_scatter = expected_counts(
                noise_free.scatter, scale=noise_free.scale, count_level=level_percent
            )
            reference = reference + reference_scatter
        image = osem(
            reference,
            noise_free.system,
            n_iter=n_iter,
            n_subsets=n_subsets,
            additive=additive_for(reference, reference_scatter),
        )
        noise_free.ideal[ideal_key] = image / np.float32(noise_free.scale * level_percent / 100.0)
    coarse = noise_free.coarse
    myocardium = coarse.masks["myocardium"]
    defect = coarse.masks.get("defect")
    return Study(
        count_level=float(count_level),
        seed=seed,
        geometry=geometry,
        voxel_size_mm=noise_free.system.voxel_size_mm,
        lv=phantom.lv,
        expected=expected.astype(np.float32),
        myocardium_expected=expected_counts(
            noise_free.myocardium, scale=noise_free.scale, count_level=count_level
        ).astype(np.float32),
        scatter=None if scatter is None else scatter.astype(np.float32),
        projections=projections,
        recons=(recons / np.float32(counts_per_unit)).astype(np.float32),
        ideal=noise_free.ideal[ideal_key].copy(),
        activity=coarse.activity,
        myocardium_mask=myocardium,
        evaluation_mask=evaluation_region(myocardium),
        defect_mask=None if defect is None else defect & myocardium,
        counts_per_unit=float(counts_per_unit),
        total_counts=float(expected.sum(dtype=np.float64)),
        n_iter=int(n_iter),
        n_subsets=int(n_subsets),
        system=noise_free.system,
        scatter_correction=scatter_correction,
        additive=None
        if additive is None
        else np.broadcast_to(additive, projections.shape).astype(np.float32),
    )
