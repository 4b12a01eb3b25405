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

import hashlib
import json
import numbers
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .acquisition import SpectGeometry, SpectSystem, scatter_projections
from .frame import LVGeometry
from .metrics import evaluation_region
from .noise import (
    _check_seed,
    count_level_scale,
    counts_scale,
    expected_counts,
    poisson_realizations,
    realization_seed,
)
from .phantom import Phantom
from .recon import _check_count, osem

__all__ = ["Study", "clear_cache", "simulate_study"]

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


@dataclass
class _NoiseFree:
    """What does not depend on the count level or the noise: cached per phantom."""

    primary: np.ndarray  # expected primary projections, activity units
    myocardium: np.ndarray  # expected primary projections of the myocardium alone
    scatter: np.ndarray | None  # expected scatter projections, activity units
    scale: float  # counts per activity unit at 100 %
    coarse: Phantom
    system: SpectSystem
    ideal: dict[tuple[int, int, bool], np.ndarray] = field(default_factory=dict)


def clear_cache() -> None:
    """Forget the cached noise-free projections and systems (frees memory)."""
    _cache.clear()


def _phantom_key(phantom: Phantom, settings: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for array in (phantom.activity, phantom.mu, phantom.masks["myocardium"]):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(repr(phantom.lv).encode())
    return digest.hexdigest()


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
    fine_system = SpectSystem(
        phantom.mu,
        geometry,
        voxel_size_mm=phantom.voxel_size_mm,
        attenuation=attenuation,
        resolution=resolution,
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
    system = SpectSystem(
        coarse.mu,
        geometry,
        voxel_size_mm=geometry.bin_size_mm,
        attenuation=attenuation,
        resolution=resolution,
    )
    entry = _NoiseFree(primary, myocardium, scatter, scale, coarse, system)
    _cache[key] = entry
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return entry


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
    if (
        isinstance(n_realizations, bool)
        or not isinstance(n_realizations, numbers.Real)
        or not np.isfinite(n_realizations)
        or int(n_realizations) != n_realizations
    ):
        raise ValueError(f"n_realizations must be an integer >= 1, got {n_realizations!r}")
    if n_realizations < 1:
        raise ValueError(f"n_realizations must be >= 1, got {n_realizations!r}")
    if (
        isinstance(scatter_to_primary, bool)
        or not isinstance(scatter_to_primary, numbers.Real)
        or not np.isfinite(scatter_to_primary)
        or scatter_to_primary < 0
    ):
        raise ValueError(f"scatter_to_primary must be >= 0, got {scatter_to_primary!r}")
    # Checked here, before the (expensive) noise-free projection, not deep inside it.
    _check_seed(seed)
    _check_count(n_iter, "n_iter", low=1)
    _check_count(n_subsets, "n_subsets", low=1)
    if geometry is not None and not isinstance(geometry, SpectGeometry):
        raise ValueError(
            f"geometry must be a SpectGeometry or None, got {type(geometry).__name__}"
        )
    geometry = geometry if geometry is not None else SpectGeometry()
    if n_subsets > geometry.n_views:
        raise ValueError(
            f"n_subsets must be an integer in 1..{geometry.n_views} (the number of views), "
            f"got {n_subsets!r}"
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
    additive = scatter if (scatter is not None and correct_scatter) else None
    projections = np.stack(
        [
            poisson_realizations(expected, n=1, seed=realization_seed(seed, count_level, k))[0]
            for k in range(int(n_realizations))
        ]
    )
    recons = osem(
        projections, noise_free.system, n_iter=n_iter, n_subsets=n_subsets, additive=additive
    )
    ideal_key = (int(n_iter), int(n_subsets), additive is not None)
    if ideal_key not in noise_free.ideal:
        # OSEM is scale-equivariant, so one ideal image at 100 % serves every level.
        reference = expected_counts(noise_free.primary, scale=noise_free.scale)
        reference_additive = None
        if noise_free.scatter is not None:
            reference_scatter = expected_counts(noise_free.scatter, scale=noise_free.scale)
            reference = reference + reference_scatter
            reference_additive = reference_scatter if additive is not None else None
        image = osem(
            reference,
            noise_free.system,
            n_iter=n_iter,
            n_subsets=n_subsets,
            additive=reference_additive,
        )
        noise_free.ideal[ideal_key] = image / np.float32(noise_free.scale)
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
    )
