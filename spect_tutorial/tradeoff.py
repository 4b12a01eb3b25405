"""Noise-resolution and noise-contrast trade-off curves of the classical filters.

Usage::

    python -m spect_tutorial.tradeoff            # the full sweep (resumable)
    python -m spect_tutorial.tradeoff --quick    # one phantom, two realizations, few settings
    python -m spect_tutorial.tradeoff --help

Every post-reconstruction filter trades noise against resolution and contrast,
so a denoiser is judged on the filters' whole curves, not against one setting
(science reference, section 9). For each held-out patient of
:mod:`spect_tutorial.protocol`, count level and realization this command
simulates the benchmark's acquisition (same seeds: the same noisy images as
:mod:`spect_tutorial.benchmark`) and sweeps four families (:data:`FAMILIES`):

===============  ==========================================================
``gaussian_3d``  3-D Gaussian after OSEM 4 x 8, FWHM 0-20 mm
``gaussian_2d``  the same Gaussian in the transaxial plane only (the fair
                 comparison for a network that denoises slices)
``butterworth``  order 5 on the projections, cutoff in cycles/cm, then OSEM
``osem``         OSEM with 8 subsets and no filter, 1-8 iterations
===============  ==========================================================

Every other method of :data:`spect_tutorial.methods.METHODS` (the oracle
Gaussian, the networks and any later peer) is a *point*: it is applied as the
benchmark applies it. Methods that are members of a sweep (OSEM 4 x 8, the
8 and 10 mm Gaussians, the clinical Butterworth) are not repeated
(:data:`SWEEP_MEMBERS`).

Trade-off records
-----------------
One JSON object per image, appended to ``--out`` (default
``data/benchmark/tradeoff.jsonl``) with the benchmark's writer: a killed run
resumes where it stopped. Fields: ``method`` (family or point method name),
``family`` (``"point"`` for points), ``setting`` (FWHM in mm, cutoff in
cycles/cm, iterations; ``null`` for points), ``count_level``, ``phantom``,
``seed``, ``realization``, ``defect``, ``nrmse``, ``noise_cov``
(single-image, holds blur bias), ``peak_ratio`` (septal peak of the profile
through the LV centre over the ideal image's, finding 3,
:func:`~spect_tutorial.metrics.septal_peak_ratio`), ``ensemble_noise`` (section 9: voxel-wise
standard deviation over the patient's realizations at this level and setting,
``ddof=1``, RMS over the normal myocardium / the ideal image's mean there; the
same value in each of those records), ``n_realizations``, ``wall_mm``,
``wall_failed``, ``wall_ideal_mm``, ``wall_true_mm``, ``defect_ratio``,
``defect_ratio_ideal``, ``fwhm_mm`` (the oracle Gaussian), ``method_s`` and
``package_version``. The records of one setting are computed together (the
ensemble noise needs every realization) and written together.

The default order runs the verdict levels first (25 % and 100 %), then
12.5, 50 and 200 %, so a run stopped early still serves the results chapter.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import (
    _ideal_metrics,
    _protocol_entries,
    _protocol_patient,
    _run_levels,
    _wall_and_defect,
    _Writer,
    add_patient_arguments,
)
from .filters import butterworth_filter, gaussian_filter_mm
from .frame import SIMULATION_SHAPE
from .inference import blend
from .methods import (
    METHODS,
    METRICS,
    MethodContext,
    _load_models,
    check_network_records,
    heart_slab,
)
from .metrics import (
    ensemble_noise,
    normal_myocardium,
    septal_peak_ratio,
)
from .protocol import EVALUATION_REALIZATIONS
from .recon import osem
from .results import Estimate, estimate, load_records
from .study import Study, acquisition_settings, simulate_study
from .thickness import phantom_base_apex_mm

__all__ = [
    "DEFAULT_TRADEOFF",
    "FAMILIES",
    "LEVEL_ORDER",
    "NETWORK_STRENGTH",
    "STRENGTH_FAMILY",
    "SWEEP_MEMBERS",
    "CurvePoint",
    "Family",
    "build_parser",
    "complete_patients",
    "complete_records",
    "curve",
    "default_tradeoff",
    "family",
    "levels_covered",
    "main",
    "patient_values",
    "plot_tradeoff",
    "point_methods",
    "run_tradeoff",
]

#: Default records file (held-out patients, the study's v1 acquisition).
DEFAULT_TRADEOFF = Path(__file__).resolve().parent.parent / "data" / "benchmark" / "tradeoff.jsonl"


def default_tradeoff(protocol: str = "heldout", acquisition: str = "v1") -> Path:
    """The records file of a protocol and acquisition.

    ``tradeoff.jsonl`` for the held-out patients with the v1 acquisition,
    ``tradeoff_<protocol>_<acquisition>.jsonl`` beside it otherwise (records of
    different patients or acquisitions are never mixed in one file).
    """
    _protocol_entries(protocol)  # checks the name
    name = acquisition_settings(acquisition).name
    if protocol == "heldout" and name == "v1":
        return DEFAULT_TRADEOFF
    return DEFAULT_TRADEOFF.with_name(f"tradeoff_{protocol}_{name}.jsonl")


#: Count levels in run order: the verdict levels first.
LEVEL_ORDER: tuple[float, ...] = (25.0, 100.0, 12.5, 50.0, 200.0)


@dataclass(frozen=True)
class Family:
    """A filter family swept along one parameter.

    Attributes
    ----------
    label : str
        Display name.
    unit : str
        The parameter and its unit, for axes and tables.
    settings : tuple of float
        Default sweep, from the least to the most smoothing where that is
        defined (OSEM: more iterations = less smoothing).
    """

    label: str
    unit: str
    settings: tuple[float, ...]


#: The swept families and their default settings.
FAMILIES: dict[str, Family] = {
    "gaussian_3d": Family("Gaussian 3-D", "FWHM (mm)", (0.0, 3.0, 6.0, 8.0, 12.0, 20.0)),
    "gaussian_2d": Family(
        "Gaussian 2-D (in-plane)", "FWHM (mm)", (0.0, 3.0, 6.0, 8.0, 12.0, 20.0)
    ),
    "butterworth": Family(
        "Butterworth order 5", "cutoff (cycles/cm)", (0.25, 0.3, 0.35, 0.41, 0.5, 0.78)
    ),
    "osem": Family("OSEM, no filter", "iterations (8 subsets)", (1.0, 2.0, 3.0, 4.0, 6.0)),
}

#: The network's own curve (not swept by default: it needs exactly one network among the
#: points): its output blended with the OSEM image it was given
#: (:func:`spect_tutorial.inference.blend`), from the OSEM image (0) to the network (1).
NETWORK_STRENGTH = "network_strength"
STRENGTH_FAMILY = Family(
    "Network blended with OSEM", "strength (0 = OSEM, 1 = network)", (0.0, 0.25, 0.5, 0.75, 1.0)
)


def family(name: str) -> Family:
    """The :class:`Family` of a sweep name (:data:`FAMILIES` or :data:`NETWORK_STRENGTH`)."""
    if name == NETWORK_STRENGTH:
        return STRENGTH_FAMILY
    if name not in FAMILIES:
        known = ", ".join([*FAMILIES, NETWORK_STRENGTH])
        raise ValueError(f"families: unknown family {name!r} (one of {known})")
    return FAMILIES[name]


#: Benchmark methods that are one setting of a sweep (not repeated as points). The 10 mm
#: Gaussian lies between the 3-D sweep's 8 and 12 mm settings and is not recorded itself
#: (the sweep was thinned to fit the run on two shared cores): its ensemble noise is "–".
SWEEP_MEMBERS: dict[str, tuple[str, float]] = {
    "noisy": ("osem", 4.0),
    "gaussian_8mm": ("gaussian_3d", 8.0),
    "gaussian_10mm": ("gaussian_3d", 10.0),
    "butterworth": ("butterworth", 0.41),
}

#: Butterworth order of the sweep (the clinical QGS order).
BUTTERWORTH_ORDER = 5

_QUICK_FAMILIES = {
    "gaussian_3d": (0.0, 8.0),
    "gaussian_2d": (8.0,),
    "butterworth": (0.41,),
    "osem": (2.0, 4.0),
}


def point_methods() -> list[str]:
    """Benchmark methods shown as points: every registered method not in a sweep."""
    return [name for name in METHODS if name not in SWEEP_MEMBERS]


def _key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    setting = record.get("setting")
    return (
        str(record["method"]),
        None if setting is None else float(setting),
        float(record["count_level"]),
        int(record["phantom"]),
        int(record["realization"]),
    )


def _check_families(
    families: Mapping[str, Sequence[float]] | None,
) -> dict[str, tuple[float, ...]]:
    if families is None:
        return {name: family.settings for name, family in FAMILIES.items()}
    chosen = {}
    for name, settings in families.items():
        family(name)  # a known family
        values = tuple(float(value) for value in settings)
        if name == NETWORK_STRENGTH and any(not 0 <= v <= 1 for v in values):
            raise ValueError(f"families[{name!r}] strengths must be in 0..1, got {values}")
        if name == "osem" and any(v < 1 or v != int(v) for v in values):
            raise ValueError(f"families['osem'] must be whole iterations >= 1, got {values}")
        if name == "butterworth" and any(not v > 0 for v in values):
            raise ValueError(
                f"families['butterworth'] cutoffs must be > 0 cycles/cm, got {values}"
            )
        if name.startswith("gaussian") and any(not v >= 0 for v in values):
            raise ValueError(f"families[{name!r}] FWHMs must be >= 0 mm, got {values}")
        chosen[name] = values
    return chosen


def _osem_iterations(study: Study, iterations: Sequence[float]) -> dict[float, np.ndarray]:
    """OSEM images (relative units) of every realization after each wanted iteration."""
    wanted = {int(n) for n in iterations}
    images: dict[float, np.ndarray] = {}

    def keep(iteration: int, subset: int, image: np.ndarray) -> None:
        if subset == study.n_subsets - 1 and iteration + 1 in wanted:
            images[float(iteration + 1)] = image / np.float32(study.counts_per_unit)

    osem(
        study.projections,
        study.system,
        n_iter=max(wanted),
        n_subsets=study.n_subsets,
        additive=study.additive,
        callback=keep,
    )
    return images


def _family_images(study: Study, family: str, setting: float) -> np.ndarray:
    """``(K, z, y, x)`` images of every realization for one sweep setting."""
    voxel = study.voxel_size_mm
    if family == "gaussian_3d":
        return gaussian_filter_mm(study.recons, setting, voxel_size_mm=voxel, axes=(1, 2, 3))
    if family == "gaussian_2d":
        return gaussian_filter_mm(study.recons, setting, voxel_size_mm=voxel, axes=(2, 3))
    if family == "butterworth":
        smooth = butterworth_filter(
            study.projections,
            order=BUTTERWORTH_ORDER,
            cutoff_cycles_per_cm=setting,
            voxel_size_mm=study.geometry.bin_size_mm,
        )
        image = osem(
            np.clip(smooth, 0.0, None),
            study.system,
            n_iter=study.n_iter,
            n_subsets=study.n_subsets,
            additive=study.additive,  # the acquisition's scatter estimate, as for OSEM
        )
        return (image / np.float32(study.counts_per_unit)).astype(np.float32)
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")


def _is_unfiltered(name: str, setting: float | None, study: Study) -> bool:
    """Whether a sweep setting is the study's own OSEM image (computed once, recorded thrice)."""
    if setting is None:
        return False
    if name.startswith("gaussian") or name == NETWORK_STRENGTH:
        return setting == 0.0
    return name == "osem" and setting == study.n_iter


# Fields of the benchmark's metric registry that a trade-off record carries too.
_SHARED = ("nrmse", "noise_cov")


def _image_metrics(
    image: np.ndarray, study: Study, normal: np.ndarray, base_apex: tuple[float, float]
) -> dict[str, Any]:
    """The per-image fields of a trade-off record."""
    return {
        **{name: float(METRICS[name].compute(image, study, normal)) for name in _SHARED},
        "peak_ratio": septal_peak_ratio(
            image, study.ideal, study.lv, voxel_size_mm=study.voxel_size_mm
        ),
        **_wall_and_defect(image, study, base_apex),
    }


def _record(
    name: str,
    setting: float | None,
    common: dict[str, Any],
    realization: int,
    noise: float,
    metrics: dict[str, Any],
    realizations: int,
    method_s: float,
    version: str,
) -> dict[str, Any]:
    return {
        "method": name,
        "family": "point" if setting is None else name,
        "setting": setting,
        **common,
        "realization": realization,
        "ensemble_noise": noise,
        "n_realizations": realizations,
        **metrics,
        "method_s": round(method_s, 3),
        "package_version": version,
    }


def run_tradeoff(
    out: str | os.PathLike[str] | None = None,
    *,
    families: Mapping[str, Sequence[float]] | None = None,
    points: Sequence[str] | None = None,
    phantoms: Sequence[int] | None = None,
    count_levels: Sequence[float] = LEVEL_ORDER,
    realizations: int = EVALUATION_REALIZATIONS,
    weights_dir: str | os.PathLike[str] | None = None,
    phantom_shape: tuple[int, int, int] = SIMULATION_SHAPE,
    progress: bool = True,
    protocol: str = "heldout",
    acquisition: str = "v1",
) -> Path:
    """Run (or resume) the trade-off sweep, appending one record per image to ``out``.

    Parameters
    ----------
    out : str or os.PathLike, optional
        JSON Lines file (existing records are kept and skipped); default
        :func:`default_tradeoff` of ``protocol`` and ``acquisition``.
    families : mapping of str to sequence of float, optional
        Family name -> settings (default :data:`FAMILIES`' sweeps).
    points : sequence of str, optional
        Benchmark methods applied as points (default :func:`point_methods`;
        networks without weights are skipped with a message).
    phantoms : sequence of int, optional
        Protocol indices (default all the protocol's patients).
    count_levels : sequence of float, optional
        Count levels in percent, in run order (default :data:`LEVEL_ORDER`).
    realizations : int, optional
        Realizations per patient and level (>= 2, for the ensemble noise;
        default the protocol's 3).
    weights_dir : str or os.PathLike, optional
        Folder of the networks' weights.
    phantom_shape : tuple of int, optional
        Simulation grid at 3.2 mm (default the protocol's 128^3).
    progress : bool, optional
        Print one line per patient and level (with its cost in seconds).
    protocol : {"heldout", "territory", "tuning"}, optional
        The held-out patients (default), the defect-safety patients (one defect
        per coronary territory; records carry ``territory`` and ``severity``) or
        the tuning patients of the same design, as for
        :func:`spect_tutorial.benchmark.run_benchmark`.
    acquisition : str, optional
        ``"v1"`` (default, the study's) or ``"v2"`` (scatter, corrected with an
        estimate from the measured data, in OSEM and in every filter family);
        records of other acquisitions than v1 carry its name.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from . import __version__
    from .benchmark import _check_indices
    from .methods import _check_methods

    settings = acquisition_settings(acquisition)
    entries = _protocol_entries(protocol)
    out = default_tradeoff(protocol, settings.name) if out is None else Path(out)
    sweeps = _check_families(families)
    chosen = _check_methods(point_methods() if points is None else points)
    indices = _check_indices(phantoms, protocol)
    if isinstance(realizations, bool) or not isinstance(realizations, int) or realizations < 2:
        raise ValueError(
            f"realizations must be an int >= 2 (for the ensemble noise), got {realizations!r}"
        )
    levels = _run_levels(count_levels)

    def log(message: str) -> None:
        if progress:
            print(message, flush=True)

    # checks the file is ours (and of this acquisition) and takes its lock before any work
    writer = _Writer(out, settings.name)
    try:
        existing = writer.records  # read (and checked) by the writer already
        done = {_key(record) for record in existing}
        chosen, models = _load_models(
            chosen, None if weights_dir is None else Path(weights_dir), log
        )
        networks = [method.name for method in chosen if method.network]
        if NETWORK_STRENGTH in sweeps and len(networks) != 1:
            raise ValueError(
                f"the {NETWORK_STRENGTH} family blends one network with OSEM: give exactly one "
                f"network (with its weights) among the points, got {networks or 'none'}"
            )
        # a strength record is the one network's too (blended with OSEM)
        check_network_records(
            [
                {**record, "method": networks[0]}
                if record.get("family") == NETWORK_STRENGTH and networks
                else record
                for record in existing
            ],
            models,
            f"out {str(out)!r}",
        )
    except BaseException:
        writer.close()
        raise
    units = [(family, setting) for family, values in sweeps.items() for setting in values]
    units += [(method.name, None) for method in chosen]
    by_name = {method.name: method for method in chosen}
    try:
        for level in levels:
            for index in indices:
                todo = [
                    (name, setting)
                    for name, setting in units
                    if any(
                        (name, setting, level, index, k) not in done for k in range(realizations)
                    )
                ]
                if not todo:
                    continue
                started = time.perf_counter()
                entry = entries[index]
                phantom, patient = _protocol_patient(protocol, index, phantom_shape)
                base_apex = phantom_base_apex_mm(phantom)
                true_wall = float(phantom.parameters["anatomy"]["wall_thickness_mm"])
                study = simulate_study(
                    phantom,
                    count_level=level,
                    n_realizations=realizations,
                    seed=entry.seed,
                    **settings.study_kwargs(),
                )
                del phantom
                normal = normal_myocardium(study.myocardium_mask, study.defect_mask)
                common = {
                    "count_level": level,
                    "phantom": index,
                    "seed": entry.seed,
                    **patient,
                    **_ideal_metrics(study, base_apex, true_wall),
                }
                if settings.name != "v1":  # v1 records keep their committed form
                    common["acquisition"] = settings.name
                iterations = [s for name, s in todo if name == "osem"]
                osem_images = _osem_iterations(study, iterations) if iterations else {}
                context = MethodContext(study, models, heart_slab(study.evaluation_mask))
                measured: dict[str, tuple[float, list[dict[str, Any]], float]] = {}
                applied: dict[str, tuple[np.ndarray, list[dict[str, Any]], float]] = {}

                def apply(
                    name: str, context: MethodContext = context, applied: dict = applied
                ) -> tuple:
                    """A point method on every realization, computed once per patient."""
                    if name not in applied:
                        begun = time.perf_counter()
                        outputs = [by_name[name].apply(context, k) for k in range(realizations)]
                        applied[name] = (
                            np.stack([image for image, _ in outputs]),
                            [extra for _, extra in outputs],
                            (time.perf_counter() - begun) / realizations,
                        )
                    return applied[name]

                def emit(
                    name: str,
                    setting: float | None,
                    noise: float,
                    metrics: list[dict[str, Any]],
                    method_s: float,
                    level: float = level,
                    index: int = index,
                    common: dict[str, Any] = common,
                ) -> None:
                    for k in range(realizations):
                        if (name, setting, level, index, k) not in done:
                            writer.write(
                                _record(
                                    name,
                                    setting,
                                    common,
                                    k,
                                    noise,
                                    metrics[k],
                                    realizations,
                                    method_s,
                                    __version__,
                                )
                            )

                for name, setting in todo:
                    unit_started = time.perf_counter()
                    extras: list[dict[str, Any]] = [{} for _ in range(realizations)]
                    shared = _is_unfiltered(name, setting, study)
                    if shared and "unfiltered" in measured:
                        emit(name, setting, *measured["unfiltered"])
                        continue
                    own_s = None
                    if shared:
                        images = study.recons
                    elif name == "osem":
                        images = osem_images[float(setting)]
                    elif name == NETWORK_STRENGTH:
                        network_images, extras, _ = apply(networks[0])
                        images = blend(study.recons, network_images, float(setting))
                    elif setting is not None:
                        images = _family_images(study, name, float(setting))
                    else:
                        images, extras, own_s = apply(name)
                    method_s = (time.perf_counter() - unit_started) / realizations
                    method_s = method_s if own_s is None else own_s
                    noise = ensemble_noise(images, study.ideal, normal)
                    metrics = [
                        {
                            **_image_metrics(images[k], study, normal, base_apex),
                            **extras[k],
                        }
                        if shared or (name, setting, level, index, k) not in done
                        else {}
                        for k in range(realizations)
                    ]
                    if shared:
                        measured["unfiltered"] = (noise, metrics, method_s)
                    emit(name, setting, noise, metrics, method_s)
                log(
                    f"{level:g} % {protocol} phantom {index} (seed {entry.seed}, {patient}): "
                    f"{len(todo)} settings x {realizations} realizations in "
                    f"{time.perf_counter() - started:.1f} s"
                )
    finally:
        writer.close()
    return out


# --- summaries ------------------------------------------------------------------------

#: Per-patient quantities of the curves: name -> function of one record (None = missing).
QUANTITIES: dict[str, Callable[[Mapping[str, Any]], float | None]] = {}


def _field(name: str) -> Callable[[Mapping[str, Any]], float | None]:
    def get(record: Mapping[str, Any]) -> float | None:
        value = record.get(name)
        return None if value is None else float(value)

    return get


def _register_quantities() -> None:
    from .results import defect_ratio_error, wall_error_mm

    QUANTITIES.update(
        noise=_field("ensemble_noise"),
        wall_error=wall_error_mm,
        defect_error=defect_ratio_error,
        nrmse=_field("nrmse"),
        wall_failed=_field("wall_failed"),
        peak_ratio=_field("peak_ratio"),
    )


_register_quantities()

#: Axis labels of the quantities.
QUANTITY_LABELS = {
    "noise": "ensemble noise (%)",
    "wall_error": "wall FWHM - ideal image's (mm)",
    "defect_error": "defect error (ratio - ideal's)",
    "nrmse": METRICS["nrmse"].label,
    "wall_failed": "failed wall fits (of 108)",
    "peak_ratio": "septal peak / ideal's",
}


def patient_values(
    records: Iterable[Mapping[str, Any]], count_level: float
) -> dict[tuple[str, float | None], dict[int, dict[str, float]]]:
    """Per-patient means of every quantity at one count level.

    Parameters
    ----------
    records : iterable of mapping
        Trade-off records (:func:`spect_tutorial.results.load_records`).
    count_level : float
        Count level in percent.

    Returns
    -------
    dict
        ``(method, setting) -> phantom -> quantity -> value``, the quantities
        of :data:`QUANTITIES` averaged over the patient's realizations (a
        quantity a patient lacks, e.g. the defect error without a defect, is
        left out).
    """
    level = float(count_level)
    sums: dict[tuple[str, float | None], dict[int, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for record in records:
        if float(record["count_level"]) != level:
            continue
        setting = record.get("setting")
        key = (str(record["method"]), None if setting is None else float(setting))
        for name, function in QUANTITIES.items():
            value = function(record)
            if value is not None and np.isfinite(value):
                sums[key][int(record["phantom"])][name].append(value)
    return {
        key: {
            phantom: {name: float(np.mean(values)) for name, values in quantities.items()}
            for phantom, quantities in sorted(by_phantom.items())
        }
        for key, by_phantom in sums.items()
    }


@dataclass(frozen=True)
class CurvePoint:
    """One setting of a family (or one point method) summarised over patients.

    Attributes
    ----------
    method : str
        Family or point method name.
    setting : float or None
        The family's parameter (``None`` for a point method).
    values : dict of str to Estimate
        Mean and 95 % interval over patients of each quantity of :data:`QUANTITIES`.
    """

    method: str
    setting: float | None
    values: dict[str, Estimate]


def curve(
    records: Iterable[Mapping[str, Any]] | Mapping[tuple[str, float | None], Any],
    count_level: float,
    method: str,
) -> list[CurvePoint]:
    """A family's curve (or a point method's single point) at one count level.

    Parameters
    ----------
    records : iterable of mapping or mapping
        Trade-off records, or a :func:`patient_values` result at that level.
    count_level : float
        Count level in percent.
    method : str
        Family name of :data:`FAMILIES` or point method name.

    Returns
    -------
    list of CurvePoint
        One per setting, in ascending setting order; empty if no record.
    """
    values = records if isinstance(records, Mapping) else patient_values(records, count_level)
    points = []
    for (name, setting), by_phantom in values.items():
        if name != method:
            continue
        summary = {
            quantity: estimate([v[quantity] for v in by_phantom.values() if quantity in v])
            for quantity in QUANTITIES
        }
        points.append(CurvePoint(name, setting, summary))
    return sorted(points, key=lambda point: -np.inf if point.setting is None else point.setting)


def complete_patients(
    records: Iterable[Mapping[str, Any]],
    families: Mapping[str, Sequence[float]] | None = None,
) -> dict[float, list[int]]:
    """Patients complete at each count level of a trade-off file.

    A patient is complete at a level when every setting of ``families`` and
    every (method, setting) found at that level anywhere in the file has all
    its realizations for that patient (a run stopped midway leaves its last
    patients incomplete).

    Parameters
    ----------
    records : iterable of mapping
        Trade-off records.
    families : mapping of str to sequence of float, optional
        The sweep that was run (default :data:`FAMILIES`' settings).

    Returns
    -------
    dict of float to list of int
        Count level -> sorted complete patients, ascending levels.
    """
    sweep = _check_families(families)
    # Every family setting; a point method (a network, BM4D) counts where the file has it at
    # that level: an expensive peer run later for some levels does not void the others.
    swept = {(name, float(setting)) for name, values in sweep.items() for setting in values}
    units: dict[float, set[tuple[str, Any]]] = defaultdict(lambda: set(swept))
    have: dict[float, dict[int, dict[tuple[str, Any], set[int]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(set))
    )
    expected: dict[float, int] = {}
    for record in records:
        level = float(record["count_level"])
        setting = record.get("setting")
        unit = (str(record["method"]), None if setting is None else float(setting))
        units[level].add(unit)
        have[level][int(record["phantom"])][unit].add(int(record["realization"]))
        expected[level] = max(expected.get(level, 0), int(record.get("n_realizations", 1)))
    return {
        level: sorted(
            patient
            for patient, by_unit in have[level].items()
            if all(len(by_unit.get(unit, ())) >= expected[level] for unit in units[level])
        )
        for level in sorted(units)
    }


def levels_covered(
    records: Iterable[Mapping[str, Any]],
    families: Mapping[str, Sequence[float]] | None = None,
) -> dict[float, int]:
    """Count level -> number of complete patients (:func:`complete_patients`)."""
    return {level: len(p) for level, p in complete_patients(records, families).items()}


def complete_records(
    records: Iterable[Mapping[str, Any]],
    families: Mapping[str, Sequence[float]] | None = None,
) -> list[Mapping[str, Any]]:
    """Only the records of patients complete at their level (:func:`complete_patients`)."""
    records = list(records)
    complete = {(lvl, p) for lvl, ps in complete_patients(records, families).items() for p in ps}
    return [r for r in records if (float(r["count_level"]), int(r["phantom"])) in complete]


_STYLES = {
    "gaussian_3d": ("#0072B2", "-"),
    "gaussian_2d": ("#56B4E9", "--"),
    "butterworth": ("#009E73", "-."),
    "osem": ("#D55E00", ":"),
    NETWORK_STRENGTH: ("#332288", "-"),
}
_POINT_MARKERS = "osD^v<>P*X"
# Okabe-Ito colours not used by the curves (colour-blind safe), then greys.
_POINT_COLOURS = ("#000000", "#CC79A7", "#E69F00", "#882255", "#999999", "#444444")


def plot_tradeoff(
    records: Iterable[Mapping[str, Any]],
    count_level: float,
    *,
    quantities: Sequence[str] = ("wall_error", "defect_error", "nrmse"),
    points: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    axes: Sequence[Any] | None = None,
) -> Any:
    """Noise against wall, defect error and NRMSE: family curves and method points.

    Parameters
    ----------
    records : iterable of mapping
        Trade-off records.
    count_level : float
        Count level in percent.
    quantities : sequence of str, optional
        Y quantities of :data:`QUANTITIES`, one panel each.
    points : sequence of str, optional
        Point methods to show (default every point method in the records).
    labels : mapping, optional
        Display names of the point methods (default the benchmark's labels).
    axes : sequence of matplotlib Axes, optional
        One per quantity (default a new figure, one row).

    Returns
    -------
    matplotlib.figure.Figure
        Curves: mean over patients per setting, band = 95 % interval of the
        y quantity. Points: mean with 95 % intervals on both axes.
    """
    import matplotlib.pyplot as plt

    from .methods import method_labels

    values = patient_values(records, count_level)
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise ValueError(f"quantities: unknown {unknown} (one of {', '.join(QUANTITIES)})")
    if axes is None:
        figure, axes = plt.subplots(
            1, len(quantities), figsize=(3.3 * len(quantities), 3.4), constrained_layout=True
        )
        axes = np.atleast_1d(axes)
    else:
        figure = axes[0].figure
    labels = {**method_labels(), **(labels or {})}
    present = sorted({name for name, setting in values if setting is None})
    shown = present if points is None else [p for p in points if p in present]
    for ax, quantity in zip(axes, quantities, strict=True):
        for sweep, (colour, style) in _STYLES.items():
            line = [p for p in curve(values, count_level, sweep) if p.values[quantity].n]
            if not line:
                continue
            x = np.array([100 * p.values["noise"].mean for p in line])
            y = np.array([p.values[quantity].mean for p in line])
            low = np.array([p.values[quantity].low for p in line])
            high = np.array([p.values[quantity].high for p in line])
            order = np.argsort(x)
            ax.plot(x[order], y[order], style, color=colour, marker=".", label=family(sweep).label)
            ax.fill_between(x[order], low[order], high[order], color=colour, alpha=0.15, lw=0)
        drawn = bool(ax.lines)
        for marker, colour, name in zip(_POINT_MARKERS, _POINT_COLOURS * 2, shown, strict=False):
            (point,) = curve(values, count_level, name)
            noise, value = point.values["noise"], point.values[quantity]
            if not value.n or not noise.n:
                continue
            drawn = True
            ax.errorbar(
                100 * noise.mean,
                value.mean,
                xerr=[[100 * (noise.mean - noise.low)], [100 * (noise.high - noise.mean)]],
                yerr=[[value.mean - value.low], [value.high - value.mean]],
                fmt=marker,
                color=colour,
                mfc="white",
                mew=1.5,
                ms=7,
                capsize=2,
                label=labels.get(name, name),
            )
        if not drawn:
            ax.text(
                0.5,
                0.5,
                "no records yet\n(defect error: patients with a defect)",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize="small",
            )
        if quantity in ("wall_error", "defect_error"):
            ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel(QUANTITY_LABELS["noise"])
        ax.set_ylabel(QUANTITY_LABELS[quantity])
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncol=3, fontsize="small")
    figure.suptitle(f"{count_level:g} % counts: mean over patients, 95 % intervals")
    return figure


# --- command line ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spect_tutorial.tradeoff``."""
    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.tradeoff",
        description="Trade-off curves of the Gaussian (3-D, 2-D), Butterworth and OSEM "
        "iterations, with every other benchmark method as a point; appended to a JSON "
        "Lines file (resumable).",
    )
    parser.add_argument(
        "--out",
        help="JSON Lines records file (default data/benchmark/tradeoff.jsonl for the held-out "
        "patients and v1, tradeoff_<protocol>_<acquisition>.jsonl otherwise)",
    )
    add_patient_arguments(parser)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one held-out phantom with a defect, 25 %% counts, two realizations, "
        "a few settings, the oracle Gaussian as the only point (CI)",
    )
    parser.add_argument("--phantoms", type=int, nargs="+", help="protocol indices")
    parser.add_argument(
        "--count-levels",
        type=float,
        nargs="+",
        default=list(LEVEL_ORDER),
        help="in run order (default: the verdict levels 25 and 100 %% first)",
    )
    parser.add_argument("--realizations", type=int, default=EVALUATION_REALIZATIONS)
    parser.add_argument("--points", nargs="*", help=f"default: {' '.join(point_methods())}")
    parser.add_argument(
        "--families",
        nargs="+",
        choices=[*FAMILIES, NETWORK_STRENGTH],
        help=f"default: {' '.join(FAMILIES)} ({NETWORK_STRENGTH}: the one network point blended "
        "with OSEM at strengths 0-1)",
    )
    parser.add_argument(
        "--strengths",
        type=float,
        nargs="+",
        help=f"settings of {NETWORK_STRENGTH} (default: "
        f"{' '.join(f'{s:g}' for s in STRENGTH_FAMILY.settings)})",
    )
    parser.add_argument("--weights-dir", help="folder of the networks' weights")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    families = None if args.families is None else {f: family(f).settings for f in args.families}
    if args.strengths is not None:
        if families is None or NETWORK_STRENGTH not in families:
            print(f"error: --strengths needs --families ... {NETWORK_STRENGTH}", file=sys.stderr)
            return 2
        families[NETWORK_STRENGTH] = tuple(args.strengths)
    options: dict[str, Any] = {
        "families": families,
        "points": args.points,
        "phantoms": args.phantoms,
        "count_levels": args.count_levels,
        "realizations": args.realizations,
        "weights_dir": args.weights_dir,
        "progress": not args.quiet,
        "protocol": args.protocol,
        "acquisition": args.acquisition,
    }
    if args.quick:
        options.update(
            families=_QUICK_FAMILIES,
            points=args.points if args.points is not None else ["gaussian_optimal"],
            phantoms=args.phantoms or [1],
            count_levels=[25.0],
            realizations=2,
        )
    try:
        path = run_tradeoff(args.out, **options)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.quiet:
        covered = levels_covered(load_records(path), options["families"])
        print(f"wrote {path}; complete patients per level: {covered}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
