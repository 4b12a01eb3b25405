"""Benchmark every method at every count level on the held-out phantoms.

Usage::

    python -m spect_tutorial.benchmark                 # the full protocol (resumable)
    python -m spect_tutorial.benchmark --quick         # one phantom, one realization (CI)
    python -m spect_tutorial.benchmark --summary-only  # re-tabulate existing results
    python -m spect_tutorial.benchmark --help

For each held-out phantom of :mod:`spect_tutorial.protocol`, each count level
and each realization, the command simulates the acquisition
(:func:`~spect_tutorial.study.simulate_study`, OSEM 4 x 8, seed = the phantom's
seed) and applies every method of :data:`METHODS` to the same noisy image:

==============================  ===============================================
``noisy``                       OSEM, no filter
``gaussian_optimal``            3-D Gaussian with the NRMSE-optimal FWHM (oracle)
``gaussian_8mm``, ``_10mm``     clinical 3-D Gaussians
``butterworth``                 order 5, 0.41 cycles/cm on the projections, then OSEM
``win5rb_n2n_paper``            the shipped WIN5-RB (Noise2Noise, ``model.PAPER_CONFIG``)
``win5rb_*_teaching``           ``model.TEACHING_CONFIG``: Noise2Noise, count split, supervised
``bm4d``                        BM4D with the NRMSE-optimal sigma (oracle), heart box
==============================  ===============================================

A network whose weights are missing is skipped with a message (no record), so
the command works before every model is trained; so is ``bm4d`` when the
optional package is not installed (``pip install 'spect_tutorial[bm4d]'``).

``--protocol territory`` runs the defect-safety patients of
:data:`~spect_tutorial.protocol.TERRITORY_PHANTOMS` instead (one defect per
coronary territory at 25 % and 50 % uptake loss) into
``data/benchmark/territory.jsonl``; its records add ``territory`` and
``severity``, and its table (:mod:`spect_tutorial.territory`) replaces the
README's ``<!-- territory:start -->`` block. Count levels run in the order given
(``--count-levels``), every patient at one level before the next.

Records
-------
One JSON object per line, appended and flushed as soon as it is computed, to
``--out`` (default ``data/benchmark/results.jsonl``). The file is append-only:
re-running the command skips every (method, count level, phantom, realization)
already present, so a killed run resumes where it stopped and finished records
are never rewritten. Fields: ``method``, ``count_level``, ``phantom`` (index in
the protocol), ``seed``, ``realization``, ``defect``, ``nrmse``, ``psnr``,
``ssim``, ``cov``, ``noise_cov``, ``mean_ratio`` (mean over the myocardial
region / the ideal image's: the bias of the mean), ``wall_mm``, ``wall_ideal_mm``,
``wall_true_mm``, ``wall_failed`` (profile fits that failed, of 108; absent from
records written before it existed: unknown), ``defect_ratio``, ``defect_ratio_ideal``
(``null`` without a defect), ``fwhm_mm`` (optimal Gaussian only), ``bm4d_sigma`` (BM4D
only: the chosen noise level as a fraction of the noisy image's myocardial mean),
``bm4d_evaluations`` and ``bm4d_box`` (the filtered ``(z, y, x)`` index ranges),
``simulate_s`` (simulation and
OSEM per realization), ``method_s`` (filter, reconstruction or inference of
this volume), ``peak_rss_mb`` and ``package_version``.

After the run, ``summary.json`` and ``summary.md`` beside the records (means
and 95 % confidence intervals over phantoms, :mod:`spect_tutorial.results`)
are regenerated from the records; they are derived files, rewritten on every
run, but only if they were written by this command (a user's ``summary.md`` or
``summary.json`` there is refused before any work, never replaced).
``--readme README.md`` also refreshes the results table between the README's
``<!-- benchmark:start -->`` and ``<!-- benchmark:end -->`` markers (checked
before the run).

The results file is only ever appended to, and only if it is ours: every
complete line a valid record with a unique (method, count level, phantom,
realization). A run holds the lock file ``<out>.lock`` (a second run on the
same file is refused). A torn last line (a killed run) that starts like a
record is cut off and recomputed; any other file is refused and left as it is.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .filters import butterworth_filter, gaussian_filter_mm, optimal_fwhm
from .frame import SIMULATION_SHAPE
from .metrics import (
    coefficient_of_variation,
    defect_ratio,
    noise_coefficient_of_variation,
    normal_myocardium,
    nrmse,
    psnr,
    ssim,
)
from .model import PAPER_CONFIG, TEACHING_CONFIG
from .noise import count_level_scale
from .phantom import Phantom
from .protocol import (
    EVALUATION_COUNT_LEVELS,
    EVALUATION_PHANTOMS,
    EVALUATION_REALIZATIONS,
    TERRITORY_PHANTOMS,
    evaluation_phantom,
    territory_phantom,
)
from .recon import osem
from .study import ACQUISITIONS, Study, acquisition_settings, simulate_study
from .thickness import phantom_base_apex_mm, wall_thickness

__all__ = [
    "BM4D_SIGMA_START",
    "BUTTERWORTH_CLINICAL",
    "DEFAULT_RESULTS",
    "DEFAULT_TERRITORY_RESULTS",
    "METHODS",
    "METRICS",
    "PROTOCOLS",
    "Method",
    "Metric",
    "bm4d_available",
    "build_parser",
    "default_results",
    "heart_box_slices",
    "heart_slab",
    "image_metrics",
    "incomplete_runs",
    "main",
    "method_images",
    "oracle_log_sweep",
    "run_benchmark",
    "write_summary",
]

#: Butterworth settings of clinical software (QGS default): order 5, 0.41 cycles/cm.
BUTTERWORTH_CLINICAL = {"order": 5, "cutoff_cycles_per_cm": 0.41}

#: Default results file (committed after a full run).
DEFAULT_RESULTS = Path(__file__).resolve().parent.parent / "data" / "benchmark" / "results.jsonl"

#: Records of the defect-safety patients (``--protocol territory``).
DEFAULT_TERRITORY_RESULTS = DEFAULT_RESULTS.with_name("territory.jsonl")

#: The patient sets the command can run: held-out patients, defect-safety patients.
PROTOCOLS = ("heldout", "territory")

#: First BM4D noise level of the oracle sweep at 100 % counts, as a fraction of the noisy
#: image's mean over the evaluation region; at other count levels it scales as
#: ``1 / sqrt(count level)`` like Poisson noise, and the sweep walks from there in steps
#: of sqrt 2 (:func:`oracle_log_sweep`). Only the cost depends on it, not the optimum.
BM4D_SIGMA_START = 0.1

def default_results(acquisition: str = "v1") -> Path:
    """The results file of an acquisition: ``results.jsonl`` for v1, ``results_<name>.jsonl``."""
    name = acquisition_settings(acquisition).name
    return DEFAULT_RESULTS if name == "v1" else DEFAULT_RESULTS.with_name(f"results_{name}.jsonl")


#: Radial profiles of one wall measurement (3 short-axis levels x 36 angles, section 8).
WALL_PROFILES = 3 * 36

#: File name of the trade-off records beside the benchmark's (spect_tutorial.tradeoff).
TRADEOFF_NAME = "tradeoff.jsonl"

#: Slices kept on each side of the myocardium when the network denoises the heart slab.
SLAB_MARGIN_SLICES = 4

_COMMAND = "python -m spect_tutorial.benchmark"
# Marks summary.md as ours (first line); summary.json is ours when its "command" is _COMMAND.
_GENERATED_BY = f"Generated by `{_COMMAND}`"
_README_START = "<!-- benchmark:start -->"

# Networks already loaded: (name, folder, file size, file mtime) -> keras.Model.
_MODELS: dict[tuple[str, str, int, int], Any] = {}
_README_END = "<!-- benchmark:end -->"


@dataclass
class _Context:
    """What every method of one study may use."""

    study: Study
    models: dict[str, Any]
    slab: tuple[int, int]


@dataclass(frozen=True)
class Method:
    """A denoising method of the benchmark.

    Attributes
    ----------
    name : str
        Recorded name (for networks: the weights' name).
    label : str
        Display name for tables and figures.
    apply : callable
        ``apply(context, k) -> (image, extra)``: the image of realization ``k``
        (relative activity units, the study's grid) and extra record fields.
    network : bool
        Needs trained weights (skipped when they are missing).
    requires : str or None
        An optional package the method imports (skipped, with a message, when
        it is not installed).
    """

    name: str
    label: str
    apply: Callable[[_Context, int], tuple[np.ndarray, dict[str, Any]]] = field(repr=False)
    network: bool = False
    requires: str | None = None


def _noisy(context: _Context, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    return context.study.recons[k], {}


def _gaussian_optimal(context: _Context, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    study = context.study
    best = optimal_fwhm(
        study.recons[k],
        study.ideal,
        region=study.evaluation_mask,
        voxel_size_mm=study.voxel_size_mm,
    )
    image = gaussian_filter_mm(study.recons[k], best.fwhm_mm, voxel_size_mm=study.voxel_size_mm)
    return image, {"fwhm_mm": best.fwhm_mm}


def _gaussian_fixed(fwhm_mm: float, context: _Context, k: int) -> tuple[np.ndarray, dict]:
    study = context.study
    return gaussian_filter_mm(study.recons[k], fwhm_mm, voxel_size_mm=study.voxel_size_mm), {}


def _butterworth(context: _Context, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    study = context.study
    smooth = butterworth_filter(
        study.projections[k], voxel_size_mm=study.geometry.bin_size_mm, **BUTTERWORTH_CLINICAL
    )
    image = osem(
        np.clip(smooth, 0.0, None), study.system, n_iter=study.n_iter, n_subsets=study.n_subsets
    )
    return (image / np.float32(study.counts_per_unit)).astype(np.float32), {}


def _network(name: str, context: _Context, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    from .inference import denoise

    study = context.study
    model = context.models[name]
    image = denoise(study.recons[k], model, voxel_size_mm=study.voxel_size_mm, slab=context.slab)
    return image, {}


def _network_method(name: str, label: str) -> Method:
    return Method(name, label, partial(_network, name), network=True)


def bm4d_available() -> bool:
    """Whether the optional ``bm4d`` package (``spect_tutorial[bm4d]``) is installed."""
    return importlib.util.find_spec("bm4d") is not None


def oracle_log_sweep(
    loss: Callable[[float], float],
    *,
    start: float,
    low: float,
    high: float,
    step: float = float(np.sqrt(2.0)),
) -> tuple[float, dict[float, float]]:
    """Minimise ``loss`` over a parameter on the log grid ``start * step**e``, walking downhill.

    From ``start`` the parameter is multiplied by ``step`` while the loss falls,
    then divided by it while the loss falls (within ``[low, high]``): for a
    unimodal loss the result is the grid point with the lowest loss. A good
    ``start`` costs three evaluations.

    Parameters
    ----------
    loss : callable
        ``loss(value) -> float`` (e.g. the NRMSE against the ideal image).
    start, low, high : float
        First value and the limits of the search, ``0 < low <= start <= high``.
    step : float, optional
        Grid factor, > 1 (default sqrt 2).

    Returns
    -------
    best : float
        The value with the lowest loss among those tried.
    tried : dict of float to float
        Every value tried and its loss, in the order tried.

    Examples
    --------
    >>> best, tried = oracle_log_sweep(lambda v: (np.log2(v) - 1.4) ** 2,
    ...                                start=1.0, low=0.1, high=100.0)
    >>> round(best, 3), len(tried)
    (2.828, 5)
    """
    if not (0 < low <= start <= high and np.isfinite(high)):
        raise ValueError(
            f"need 0 < low <= start <= high (finite), got low={low!r}, start={start!r}, "
            f"high={high!r}"
        )
    if not (np.isfinite(step) and step > 1):
        raise ValueError(f"step must be a finite factor > 1, got {step!r}")
    losses: dict[int, float] = {}

    def value_of(exponent: int) -> float:
        if exponent not in losses:
            losses[exponent] = float(loss(start * step**exponent))
        return losses[exponent]

    best = 0
    for direction in (1, -1):
        while low <= start * step ** (best + direction) <= high and value_of(
            best + direction
        ) < value_of(best):
            best += direction
    return start * step**best, {start * step**e: value for e, value in losses.items()}


def heart_box_slices(mask: np.ndarray, margin: int = SLAB_MARGIN_SLICES) -> tuple[slice, ...]:
    """The ``(z, y, x)`` box holding ``mask`` plus ``margin`` voxels on every side.

    The evaluation's heart crop: its z range is the slab the networks denoise
    (:func:`heart_slab`), the whole box is BM4D's crop. (Training crops are
    :func:`spect_tutorial.datasets.heart_box`: a fixed size centred on the LV,
    so that every training image has one shape.)

    Parameters
    ----------
    mask : numpy.ndarray
        ``(z, y, x)`` boolean mask (e.g. the evaluation region), not empty.
    margin : int, optional
        Extra voxels on each side (default 4 = 25.6 mm at 6.4 mm), clipped to the volume.

    Returns
    -------
    tuple of slice
        One per axis.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3 or not mask.any():
        raise ValueError(
            f"mask must be a non-empty (z, y, x) boolean mask, got shape {mask.shape}"
        )
    box = []
    for axis, size in enumerate(mask.shape):
        where = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(max(0, int(where[0]) - margin), min(size, int(where[-1]) + 1 + margin)))
    return tuple(box)


def _bm4d(context: _Context, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    import bm4d

    study = context.study
    region = study.evaluation_mask
    noisy = study.recons[k]
    box = heart_box_slices(region)
    crop = noisy[box].astype(np.float64)
    scale = float(noisy[region].mean(dtype=np.float64))
    if not scale > 0:
        raise ValueError("bm4d: the noisy image's mean over the evaluation region must be > 0")
    outputs: dict[float, np.ndarray] = {}

    def loss(fraction: float) -> float:
        image = noisy.copy()
        image[box] = bm4d.bm4d(crop, fraction * scale).astype(np.float32)
        outputs[fraction] = image
        return float(nrmse(image, study.ideal, region))

    start = BM4D_SIGMA_START * float(np.sqrt(100.0 / study.count_level))
    best, tried = oracle_log_sweep(loss, start=start, low=0.01, high=4.0)
    return outputs[best], {
        "bm4d_sigma": round(best, 6),
        "bm4d_evaluations": len(tried),
        "bm4d_box": [[part.start, part.stop] for part in box],
    }


# The networks' widths in their labels (the sizes of spect_tutorial.model).
_PAPER_WIDTH, _TEACHING_WIDTH = PAPER_CONFIG["filters"], TEACHING_CONFIG["filters"]

#: Every method, in table order.
METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("noisy", "OSEM, no filter", _noisy),
        Method("gaussian_optimal", "Gaussian, optimal FWHM (oracle)", _gaussian_optimal),
        Method("gaussian_8mm", "Gaussian 8 mm", partial(_gaussian_fixed, 8.0)),
        Method("gaussian_10mm", "Gaussian 10 mm", partial(_gaussian_fixed, 10.0)),
        Method("butterworth", "Butterworth 5 / 0.41 cycles/cm", _butterworth),
        _network_method("win5rb_n2n_paper", f"WIN5-RB Noise2Noise ({_PAPER_WIDTH} filters)"),
        _network_method("win5rb_n2n_teaching", f"WIN5-RB Noise2Noise ({_TEACHING_WIDTH})"),
        _network_method("win5rb_split_teaching", f"WIN5-RB count split ({_TEACHING_WIDTH})"),
        _network_method("win5rb_supervised_teaching", f"WIN5-RB supervised ({_TEACHING_WIDTH})"),
        Method("bm4d", "BM4D, optimal sigma (oracle)", _bm4d, requires="bm4d"),
    )
}


@dataclass(frozen=True)
class Metric:
    """A summarised field of the benchmark records: how it is computed and shown.

    Attributes
    ----------
    name : str
        Record field.
    label : str
        Display name, with units, for tables and widgets.
    digits : int
        Decimals shown in tables.
    better : {"lower", "higher"} or None
        Which way an image improves; ``None`` where closer to the ideal
        image's value is better, or for context values (the ideal image's and
        the true wall, the chosen FWHM).
    compute : callable or None
        ``compute(image, study, normal) -> float``: the value of ``image`` (the
        study's grid and relative units) against ``study.ideal`` over the
        study's regions, ``normal`` being the normal myocardium
        (:func:`~spect_tutorial.metrics.normal_myocardium`). ``None`` for
        fields a record gets elsewhere: the wall and defect fits (with their
        failure count), the ideal image's values, the method's own extras.
    """

    name: str
    label: str
    digits: int = 1
    better: str | None = None
    compute: Callable[[np.ndarray, Study, np.ndarray], float] | None = field(
        default=None, repr=False
    )


def _mean_ratio(image: np.ndarray, study: Study, normal: np.ndarray) -> float:
    """Mean over the evaluation region over the ideal image's: the bias of the mean."""
    region = study.evaluation_mask
    return float(image[region].mean(dtype=np.float64) / study.ideal[region].mean(dtype=np.float64))


#: Every summarised record field, in record order; those with a ``compute`` are written
#: by :func:`run_benchmark` for every image (add a metric here and it is recorded,
#: summarised and tabulated).
METRICS: dict[str, Metric] = {
    metric.name: metric
    # compute(f, s, n): f the image, s the study, n the normal myocardium.
    for metric in (
        Metric("nrmse", "NRMSE", 3, "lower", lambda f, s, n: nrmse(f, s.ideal, s.evaluation_mask)),
        Metric(
            "psnr", "PSNR (dB)", 1, "higher",
            lambda f, s, n: psnr(f, s.ideal, region=s.evaluation_mask),
        ),
        Metric(
            "ssim", "SSIM", 3, "higher", lambda f, s, n: ssim(f, s.ideal, region=s.evaluation_mask)
        ),
        Metric("cov", "CoV", 3, "lower", lambda f, s, n: coefficient_of_variation(f, n)),
        Metric(
            "noise_cov", "noise CoV", 3, "lower",
            lambda f, s, n: noise_coefficient_of_variation(f, s.ideal, n),
        ),
        Metric("mean_ratio", "mean / ideal's", 1, None, _mean_ratio),
        Metric("wall_mm", "wall (mm)"),
        Metric("wall_ideal_mm", "ideal wall (mm)"),
        Metric("wall_true_mm", "true wall (mm)"),
        Metric("defect_ratio", "defect ratio", 3),
        Metric("defect_ratio_ideal", "ideal defect ratio"),
        Metric("fwhm_mm", "FWHM (mm)"),
        Metric("method_s", "time (s)", 1, "lower"),
    )
}


def image_metrics(
    image: np.ndarray, study: Study, names: Sequence[str] | None = None
) -> dict[str, float]:
    """The computed :data:`METRICS` of one image, as the benchmark records them.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image on the study's grid, in its relative units.
    study : Study
        The simulated study (ideal image and regions).
    names : sequence of str, optional
        Metrics to compute (default every metric with a ``compute``).

    Returns
    -------
    dict of str to float
        Name -> value, in the order asked.
    """
    normal = normal_myocardium(study.myocardium_mask, study.defect_mask)
    chosen = [METRICS[name] for name in names] if names is not None else METRICS.values()
    return {
        metric.name: float(metric.compute(image, study, normal))
        for metric in chosen
        if metric.compute is not None
    }


def network_method(name: str) -> Method:
    """A :class:`Method` for any weights ``name`` (e.g. a model you trained yourself)."""
    return METHODS.get(name) or _network_method(name, name)


def heart_slab(mask: np.ndarray, margin: int = SLAB_MARGIN_SLICES) -> tuple[int, int]:
    """Transaxial slices ``(start, stop)`` holding ``mask`` plus ``margin`` slices each side.

    The z range of :func:`heart_box_slices` (same arguments), clipped to the volume.
    """
    slab = heart_box_slices(mask, margin)[0]
    return slab.start, slab.stop


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _finite_or_none(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _wall_and_defect(
    image: np.ndarray, study: Study, base_apex_mm: tuple[float, float]
) -> dict[str, float | None]:
    """Wall thickness (mm), failed profile fits and, with a defect, the defect ratio.

    A method cannot win on the wall by failing: ``wall_failed`` counts the
    profiles (of :data:`WALL_PROFILES`) whose fit failed and were left out of
    the median; when all fail, ``wall_mm`` is ``None``.
    """
    try:
        wall = wall_thickness(
            image, study.lv, voxel_size_mm=study.voxel_size_mm, base_apex_mm=base_apex_mm
        )
    except ValueError as error:
        if "no radial profile" not in str(error):
            raise
        wall_mm, failed = None, WALL_PROFILES
    else:
        wall_mm, failed = _finite_or_none(wall.median_mm), int(wall.n_failed)
    ratio = None
    if study.defect_mask is not None:
        ratio = defect_ratio(
            image, defect_mask=study.defect_mask, myocardium_mask=study.myocardium_mask
        )
    return {
        "wall_mm": wall_mm,
        "wall_failed": failed,
        "defect_ratio": None if ratio is None else _finite_or_none(ratio),
    }


class _Writer:
    """Append records to a benchmark JSON Lines file, one flushed line each, under a lock.

    Opening it takes the lock file ``<out>.lock`` (a second run on the same file is
    refused) and checks the file is ours: every complete line a valid record, no
    duplicate keys (:func:`~spect_tutorial.results.read_records`). Only then may a
    torn last line (a killed run) be cut off, and only if it starts like one of our
    records; anything else (a user's notes) is refused and left unchanged.
    """

    def __init__(self, path: Path) -> None:
        from ._files import FileLock
        from .results import RECORD_PREFIX, read_records, record_key

        self.path = path
        if path.is_dir():
            raise ValueError(f"out (--out) {str(path)!r} is a folder; give a JSON Lines file name")
        if path.exists() and not path.is_file():
            raise ValueError(f"out (--out) {str(path)!r} is not a regular file")
        self._record_key = record_key
        self._file: Any = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(path)
        self._lock.acquire()
        try:
            self.done: set[tuple[str, float, int, int]] = set()
            if path.exists():
                records, torn = read_records(path)
                content = path.read_bytes()
                if torn is not None:
                    tail = content[torn:]
                    if not tail.startswith(RECORD_PREFIX.encode()):
                        raise ValueError(
                            f"out (--out) {str(path)!r} ends with a line that is not a "
                            f"benchmark record ({tail[:40]!r}); it is not a spect_tutorial "
                            "benchmark results file and was left unchanged"
                        )
                    # A run killed while writing its last record: cut that partial line
                    # (the result is recomputed).
                    with path.open("r+b") as file:
                        file.truncate(torn)
                elif content and not content.endswith(b"\n"):
                    with path.open("ab") as file:  # a complete record lacking its newline
                        file.write(b"\n")
                self.done = {record_key(record) for record in records}
        except BaseException:
            self._lock.release()
            raise

    def write(self, record: dict[str, Any]) -> None:
        key = self._record_key(record, where=f"record for {str(self.path)!r}")
        if key in self.done:
            raise ValueError(
                f"{str(self.path)!r} already holds a record {key} (method, count level, "
                "phantom, realization); one record per result"
            )
        if self._file is None:  # created on the first record: a refused run leaves no file
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(record, sort_keys=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.done.add(key)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._lock.release()


def _refuse_duplicates(values: Sequence[Any], name: str) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
    if repeated:
        raise ValueError(f"{name} must not repeat a value, got {repeated} more than once")


def _known_ideal_metrics(path: Path) -> dict[int, dict[str, Any]]:
    """The ideal image's values per patient in existing records (reused by new records)."""
    from .results import load_records

    if not path.exists():
        return {}
    fields = ("wall_ideal_mm", "wall_true_mm", "defect_ratio_ideal")
    return {int(r["phantom"]): {name: r[name] for name in fields} for r in load_records(path)}


def _check_methods(methods: Iterable[str] | None) -> list[Method]:
    if methods is None:
        return list(METHODS.values())
    chosen = []
    for name in methods:
        if not isinstance(name, str) or not name:
            raise ValueError(f"methods must be names, got {name!r}")
        chosen.append(METHODS.get(name) or network_method(name))
    if not chosen:
        raise ValueError("methods must name at least one method")
    _refuse_duplicates([method.name for method in chosen], "methods")
    return chosen


def _protocol_entries(protocol: str) -> tuple[Any, ...]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return EVALUATION_PHANTOMS if protocol == "heldout" else TERRITORY_PHANTOMS


def _check_indices(phantoms: Iterable[int] | None, protocol: str = "heldout") -> list[int]:
    entries = _protocol_entries(protocol)
    if phantoms is None:
        return list(range(len(entries)))
    indices = list(phantoms)
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ValueError(f"phantoms must be protocol indices (int), got {index!r}")
        if not 0 <= int(index) < len(entries):
            raise ValueError(
                f"phantoms must be in 0..{len(entries) - 1} (the {protocol} "
                f"phantoms of spect_tutorial.protocol), got {index}"
            )
    _refuse_duplicates([int(index) for index in indices], "phantoms")
    return [int(index) for index in indices]


def check_method_names(
    methods: Iterable[str] | None, weights_dir: str | os.PathLike[str] | None = None
) -> list[str]:
    """Check method names before any work: each a benchmark method or an existing weights name.

    Parameters
    ----------
    methods : iterable of str or None
        Names from :data:`METHODS` or weights names (``None``: all of :data:`METHODS`).
    weights_dir : str or os.PathLike, optional
        Folder of the networks' weights (default: as :func:`load_pretrained`).

    Returns
    -------
    list of str
        The names, in order.

    Raises
    ------
    ValueError
        If a name is empty, repeated, or neither a method of :data:`METHODS`
        nor a weights name in the weights folder (nothing is loaded).
    """
    from .weights import resolve_weights_dir

    chosen = _check_methods(methods)
    directory = resolve_weights_dir(None if weights_dir is None else Path(weights_dir))
    for method in chosen:
        if method.name not in METHODS and not (directory / f"{method.name}.json").exists():
            raise ValueError(
                f"methods: {method.name!r} is neither a benchmark method "
                f"({', '.join(METHODS)}) nor a weights name in {directory}"
            )
    return [method.name for method in chosen]


def _protocol_patient(
    protocol: str, index: int, shape: tuple[int, int, int]
) -> tuple[Phantom, dict[str, Any]]:
    """The phantom of patient ``index`` and the fields its records start with."""
    entry = _protocol_entries(protocol)[index]
    if protocol == "heldout":
        return evaluation_phantom(index, shape=shape), {"defect": entry.defect}
    fields = {"defect": True, "territory": entry.territory, "severity": entry.severity}
    return territory_phantom(index, shape=shape), fields


def _load_models(
    methods: list[Method], weights_dir: Path | None, log: Callable[[str], None]
) -> tuple[list[Method], dict[str, Any]]:
    from .weights import resolve_weights_dir

    directory = resolve_weights_dir(weights_dir)
    available, models = [], {}
    for method in methods:
        if method.requires is not None and importlib.util.find_spec(method.requires) is None:
            log(
                f"skipping {method.name}: the optional package {method.requires!r} is not "
                f"installed (pip install 'spect_tutorial[{method.requires}]')"
            )
            continue
        if not method.network:
            available.append(method)
            continue
        files = [directory / f"{method.name}.weights.h5", directory / f"{method.name}.json"]
        if not all(path.exists() for path in files):
            if method.name not in METHODS:
                raise ValueError(
                    f"methods: {method.name!r} is neither a benchmark method "
                    f"({', '.join(METHODS)}) nor a weights name in {directory}"
                )
            log(f"skipping {method.name}: no weights in {directory} (train it first)")
            continue
        from .weights import load_pretrained

        stat = files[0].stat()
        key = (method.name, str(directory.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _MODELS:  # loaded (and its hash checked) once per file version
            _MODELS[key] = load_pretrained(method.name, directory=directory)
        models[method.name] = _MODELS[key]
        available.append(method)
    return available, models


def method_images(
    study: Study,
    methods: Sequence[str] | None = None,
    *,
    realization: int = 0,
    weights_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Apply benchmark methods to one realization of a study, exactly as the benchmark does.

    Parameters
    ----------
    study : Study
        A simulated study (:func:`~spect_tutorial.study.simulate_study`).
    methods : sequence of str, optional
        Names from :data:`METHODS` or weights names; default all of
        :data:`METHODS` (networks whose weights are missing are left out).
    realization : int, optional
        Which noisy realization of the study (default 0).
    weights_dir : str or os.PathLike, optional
        Folder of the networks' weights.
    progress : bool, optional
        Report skipped networks.

    Returns
    -------
    images : dict of str to numpy.ndarray
        Method name -> ``(z, y, x)`` image in the study's relative units.
    details : dict of str to dict
        Method name -> extra values (e.g. ``{"fwhm_mm": ...}`` for the optimal
        Gaussian) and ``"seconds"``.
    """
    if not isinstance(study, Study):
        raise ValueError(f"study must be a Study, got {type(study).__name__}")
    n_realizations = study.recons.shape[0]
    if isinstance(realization, bool) or not isinstance(realization, int | np.integer):
        raise ValueError(f"realization must be an int, got {realization!r}")
    if not 0 <= realization < n_realizations:
        raise ValueError(
            f"realization must be in 0..{n_realizations - 1} (the study's realizations), "
            f"got {realization}"
        )
    chosen, models = _load_models(
        _check_methods(methods),
        None if weights_dir is None else Path(weights_dir),
        print if progress else (lambda message: None),
    )
    context = _Context(study, models, heart_slab(study.evaluation_mask))
    images, details = {}, {}
    for method in chosen:
        started = time.perf_counter()
        images[method.name], extra = method.apply(context, int(realization))
        details[method.name] = {**extra, "seconds": time.perf_counter() - started}
    return images, details


def run_benchmark(
    out: str | os.PathLike[str] | None = None,
    *,
    methods: Sequence[str] | None = None,
    phantoms: Sequence[int] | None = None,
    count_levels: Sequence[float] = EVALUATION_COUNT_LEVELS,
    realizations: int = EVALUATION_REALIZATIONS,
    weights_dir: str | os.PathLike[str] | None = None,
    phantom_shape: tuple[int, int, int] = SIMULATION_SHAPE,
    progress: bool = True,
    acquisition: str = "v1",
    protocol: str = "heldout",
) -> Path:
    """Run (or resume) the benchmark, appending one record per result to ``out``.

    Parameters
    ----------
    out : str or os.PathLike, optional
        JSON Lines file (created if missing; existing records are kept and
        skipped). Default :data:`DEFAULT_RESULTS` (held-out protocol) or
        :data:`DEFAULT_TERRITORY_RESULTS` (territory protocol).
    methods : sequence of str, optional
        Names from :data:`METHODS` or any weights name; default all of
        :data:`METHODS` (networks without weights and methods whose optional
        package is missing are skipped).
    phantoms : sequence of int, optional
        Indices into the protocol's patients (default all).
    count_levels : sequence of float, optional
        Count levels in percent (default the protocol's 12.5-200 %), run in
        this order: every patient at one level before the next level.
    realizations : int, optional
        Noisy realizations per phantom and level (default 3, the protocol's).
    weights_dir : str or os.PathLike, optional
        Folder of the networks' weights (default: as :func:`load_pretrained`).
    phantom_shape : tuple of int, optional
        Simulation grid at 3.2 mm (default 128^3, the protocol's).
    progress : bool, optional
        Print one line per phantom and level.
    acquisition : str, optional
        ``"v1"`` (the study's, default) or ``"v2"`` (scatter, corrected with an
        estimate from the measured counts), see
        :data:`spect_tutorial.study.ACQUISITIONS`. Records of another
        acquisition than v1 carry its name; keep them in their own file
        (:func:`default_results`).
    protocol : {"heldout", "territory"}, optional
        :data:`~spect_tutorial.protocol.EVALUATION_PHANTOMS` (default) or the
        defect-safety patients :data:`~spect_tutorial.protocol.TERRITORY_PHANTOMS`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    settings = acquisition_settings(acquisition)
    entries = _protocol_entries(protocol)
    if out is None:
        out = default_results(acquisition) if protocol == "heldout" else DEFAULT_TERRITORY_RESULTS
    out = Path(out)
    chosen = _check_methods(methods)
    indices = _check_indices(phantoms, protocol)
    if isinstance(realizations, bool) or not isinstance(realizations, int) or realizations < 1:
        raise ValueError(f"realizations must be an int >= 1, got {realizations!r}")
    if isinstance(count_levels, str) or not isinstance(count_levels, Iterable):
        raise ValueError(f"count_levels must be a sequence of percentages, got {count_levels!r}")
    levels = [100.0 * count_level_scale(level) for level in count_levels]
    if not levels:
        raise ValueError("count_levels must hold at least one count level (percent)")
    _refuse_duplicates(levels, "count_levels")

    def log(message: str) -> None:
        if progress:
            print(message, flush=True)

    writer = _Writer(out)  # checks the file is ours and takes its lock before any work
    done = writer.done
    try:
        # One set of ideal-image values per patient, as in the records already written
        # (v1: the ideal image does not depend on the count level).
        ideal_metrics_of: dict[Any, dict[str, Any]] = (
            dict(_known_ideal_metrics(out)) if settings.name == "v1" else {}
        )
        chosen, models = _load_models(
            chosen, None if weights_dir is None else Path(weights_dir), log
        )
        from . import __version__

        for level in levels:
            for index in indices:
                todo = [
                    (k, method)
                    for k in range(realizations)
                    for method in chosen
                    if (method.name, level, index, k) not in done
                ]
                if not todo:
                    continue
                seed = entries[index].seed
                level_started = time.perf_counter()
                phantom, patient = _protocol_patient(protocol, index, phantom_shape)
                base_apex = phantom_base_apex_mm(phantom)
                true_wall = float(phantom.parameters["anatomy"]["wall_thickness_mm"])
                started = time.perf_counter()
                study = simulate_study(
                    phantom,
                    count_level=level,
                    n_realizations=realizations,
                    seed=seed,
                    **settings.study_kwargs(),
                )
                simulate_s = (time.perf_counter() - started) / realizations
                del phantom
                region = study.evaluation_mask
                # With an additive scatter term the ideal image differs per level.
                ideal_key = index if study.additive is None else (index, level)
                if ideal_key not in ideal_metrics_of:
                    ideal = _wall_and_defect(study.ideal, study, base_apex)
                    ideal_metrics_of[ideal_key] = {
                        "wall_ideal_mm": ideal["wall_mm"],
                        "wall_true_mm": true_wall,
                        "defect_ratio_ideal": ideal["defect_ratio"],
                    }
                ideal_metrics = ideal_metrics_of[ideal_key]
                context = _Context(study, models, heart_slab(region))
                for k, method in todo:
                    started = time.perf_counter()
                    image, extra = method.apply(context, k)
                    method_s = time.perf_counter() - started
                    record = {
                        "method": method.name,
                        "count_level": level,
                        "phantom": index,
                        "seed": seed,
                        "realization": k,
                        **patient,
                        **image_metrics(image, study),
                        **_wall_and_defect(image, study, base_apex),
                        **ideal_metrics,
                        **extra,
                        "simulate_s": round(simulate_s, 3),
                        "method_s": round(method_s, 3),
                        "peak_rss_mb": round(_peak_rss_mb(), 1),
                        "package_version": __version__,
                    }
                    if settings.name != "v1":  # v1 records keep their committed form
                        record["acquisition"] = settings.name
                    writer.write(record)
                log(
                    f"{protocol} phantom {index} (seed {seed}, {patient}) at {level:g} %: "
                    f"{len(todo)} results in {time.perf_counter() - level_started:.1f} s"
                )
    finally:
        writer.close()
    return out


def method_labels() -> dict[str, str]:
    """Display names of the methods, for tables."""
    return {name: method.label for name, method in METHODS.items()}


def write_summary(results: str | os.PathLike[str], *, readme: str | None = None) -> Path:
    """Regenerate ``summary.json`` and ``summary.md`` beside ``results``.

    Parameters
    ----------
    results : str or os.PathLike
        The JSON Lines records.
    readme : str, optional
        A Markdown file whose benchmark block (between ``<!-- benchmark:start -->``
        and ``<!-- benchmark:end -->``) is replaced with the table.

    Returns
    -------
    pathlib.Path
        The ``summary.json`` path.
    """
    from ._files import replace_own_file
    from .results import load_records, summarise, summary_rows

    results = Path(results)
    check_summary_targets(results, readme=readme)
    records = load_records(results)
    summary = summarise(records)
    directory = results.parent
    document = {
        "results": results.name,
        "records": len(records),
        "command": _COMMAND,
        "statistics": "mean over phantoms (realizations averaged per phantom) and Student-t "
        "95 % confidence interval",
        "rows": summary_rows(summary),
    }
    text = json.dumps(document, indent=1) + "\n"
    json_path = directory / "summary.json"
    replace_own_file(
        json_path, text.encode(), is_ours=_is_our_summary_json, what="benchmark summary"
    )
    tradeoff_path = directory / TRADEOFF_NAME
    tradeoff = load_records(tradeoff_path) if tradeoff_path.exists() else None
    table = readme_table(records, tradeoff)
    replace_own_file(
        directory / "summary.md",
        table.encode(),
        is_ours=_is_our_summary_md,
        what="benchmark summary",
    )
    if readme is not None:
        update_readme(Path(readme), table)
    return json_path


def _is_our_summary_json(head: bytes) -> bool:
    try:
        document = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("command") == _COMMAND


def _is_our_summary_md(head: bytes) -> bool:
    first_line = head.split(b"\n", 1)[0]
    return _GENERATED_BY.encode() in first_line


def check_summary_targets(results: Path, *, readme: str | None = None) -> None:
    """Refuse, before any work, summary files or a README the benchmark may not rewrite.

    ``summary.json`` and ``summary.md`` beside ``results`` are rewritten only
    if absent or written by this command (a user's files of those names are
    never replaced); ``readme`` must exist and hold the benchmark markers.

    Raises
    ------
    FileExistsError
        If a summary file exists and was not written by the benchmark.
    FileNotFoundError, ValueError
        If ``readme`` is missing or lacks the markers.
    """
    for name, is_ours in (
        ("summary.json", _is_our_summary_json),
        ("summary.md", _is_our_summary_md),
    ):
        path = results.parent / name
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise ValueError(f"benchmark summary {str(path)!r} is not a regular file")
        if path.exists() and not is_ours(path.read_bytes()[: 1 << 20]):
            raise FileExistsError(
                f"benchmark summary {str(path)!r} exists and was not written by "
                "spect_tutorial.benchmark; it would be replaced. Move it away or choose "
                "another --out folder"
            )
    if readme is not None:
        path = Path(readme)
        if not path.is_file():
            raise FileNotFoundError(f"--readme {str(path)!r} does not exist (or is not a file)")
        text = path.read_text(encoding="utf-8")
        if _README_START not in text or _README_END not in text:
            raise ValueError(
                f"--readme {str(path)!r} has no benchmark block: add the lines "
                f"{_README_START} and {_README_END}"
            )


def incomplete_runs(records: Sequence[dict[str, Any]]) -> dict[tuple[str, float], int]:
    """(method, count level) pairs that do not yet cover every held-out patient.

    Parameters
    ----------
    records : sequence of dict
        Benchmark records of the held-out protocol.

    Returns
    -------
    dict of (str, float) to int
        For every method with records and every level of
        :data:`~spect_tutorial.protocol.EVALUATION_COUNT_LEVELS` where it lacks
        a patient or a realization: the number of patients it has complete (all
        realizations) there. Empty when every method's run is complete.
    """
    have: dict[tuple[str, float], dict[int, set[int]]] = {}
    for record in records:
        key = (str(record["method"]), float(record["count_level"]))
        have.setdefault(key, {}).setdefault(int(record["phantom"]), set()).add(
            int(record["realization"])
        )
    methods = list(dict.fromkeys(str(record["method"]) for record in records))
    incomplete = {}
    for method in methods:
        for level in EVALUATION_COUNT_LEVELS:
            patients = have.get((method, float(level)), {})
            complete = sum(
                len(patients.get(index, ())) >= EVALUATION_REALIZATIONS
                for index in range(len(EVALUATION_PHANTOMS))
            )
            if complete < len(EVALUATION_PHANTOMS):
                incomplete[method, float(level)] = complete
    return incomplete


def readme_table(
    records: Sequence[dict[str, Any]], tradeoff: Sequence[dict[str, Any]] | None = None
) -> str:
    """The results table shown in the README and ``summary.md``.

    Parameters
    ----------
    records : sequence of dict
        Benchmark records.
    tradeoff : sequence of dict, optional
        Records of ``python -m spect_tutorial.tradeoff`` (``tradeoff.jsonl``
        beside the benchmark's): the ensemble noise column, at the count
        levels where every held-out patient is complete ("–" elsewhere).

    Returns
    -------
    str
        Columns: NRMSE, NRMSE over the optimal Gaussian's (paired per image),
        SSIM, CoV, wall, defect error (defect ratio minus the ideal image's,
        paired per image; patients with a defect) and ensemble noise; every
        value "mean ± 95 % half-width" over patients.
    """
    from .results import (
        defect_ratio_error,
        derived,
        estimate,
        markdown_rows,
        paired_ratio,
        summarise,
    )

    summary = summarise(records)
    ensemble: dict[tuple[str, float], str] = {}
    if tradeoff:
        from .tradeoff import SWEEP_MEMBERS, levels_covered, patient_values

        for level, complete in levels_covered(tradeoff).items():
            if complete < len(EVALUATION_PHANTOMS):
                continue
            values = patient_values(tradeoff, level)
            for name in summary:
                key = SWEEP_MEMBERS.get(name, (name, None))
                patients = values.get(key, {})
                noise = estimate([v["noise"] for v in patients.values() if "noise" in v])
                if noise.n:
                    ensemble[name, level] = noise.format(3)
    labels = method_labels()
    header = [
        "method",
        "counts (%)",
        METRICS["nrmse"].label,
        f"{METRICS['nrmse'].label} / optimal Gaussian's",
        METRICS["ssim"].label,
        METRICS["cov"].label,
        METRICS["wall_mm"].label,
        "defect error",
        "ensemble noise",
    ]
    incomplete = incomplete_runs(records)
    n_all = len(EVALUATION_PHANTOMS)
    rows = []
    for method, by_level in summary.items():
        for level, entries in by_level.items():
            ratio = paired_ratio(records, method, "gaussian_optimal", count_level=level)
            defect = derived(records, method, count_level=level, function=defect_ratio_error)
            partial = incomplete.get((method, float(level)))
            counts = f"{level:g}" if partial is None else f"{level:g} ({partial} of {n_all})"
            cell = {
                name: entries[name].format(METRICS[name].digits) if name in entries else "–"
                for name in ("nrmse", "ssim", "cov", "wall_mm")
            }
            cells = [labels.get(method, method), counts]
            cells += [
                cell["nrmse"],
                ratio.format(METRICS["nrmse"].digits)
                if ratio.n and method != "gaussian_optimal"
                else "–",
                cell["ssim"],
                cell["cov"],
                cell["wall_mm"],
                f"{defect.mean:+.3f} ± {defect.half_width:.3f}" if defect.n > 1 else "–",
                ensemble.get((method, level), "–"),
            ]
            rows.append(cells)
    return (
        "Held-out phantoms of `spect_tutorial.protocol`; mean ± 95 % confidence half-width "
        "over phantoms (realizations averaged per phantom first). NRMSE over the optimal "
        "Gaussian's and the defect error (defect ratio minus the ideal image's; positive: "
        "the defect looks shallower) are paired per image. "
        f"{_GENERATED_BY} from `data/benchmark/results.jsonl`; the "
        "ensemble noise (science reference section 9) from `data/benchmark/tradeoff.jsonl` "
        "(`python -m spect_tutorial.tradeoff`), at the count levels that run has completed "
        "for every patient (– elsewhere)."
        + _coverage_note(incomplete, labels, n_all)
        + "\n\n"
        + markdown_rows(header, rows)
    )


def _coverage_note(
    incomplete: Mapping[tuple[str, float], int], labels: Mapping[str, str], n_all: int
) -> str:
    """The sentence that names every run still short of the protocol ("" if none)."""
    if not incomplete:
        return ""
    parts = [
        f"{labels.get(method, method)} at {level:g} %: {complete} of {n_all}"
        for (method, level), complete in incomplete.items()
    ]
    return (
        " **Incomplete runs** (patients with every realization; rows show the count in "
        "brackets, and a level with none has no row): " + "; ".join(parts) + "."
    )


def update_readme(
    path: Path, table: str, *, start: str = _README_START, end: str = _README_END
) -> None:
    """Replace the README's block between ``start`` and ``end`` with ``table`` (atomic).

    The markers default to the benchmark block's (``<!-- benchmark:start -->``,
    ``<!-- benchmark:end -->``) and must both be present.
    """
    from ._files import write_file_atomically

    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        name = start.removeprefix("<!-- ").split(":")[0]
        raise ValueError(f"{path} has no {name} block: add the lines {start} and {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{table}{end}{tail}"
    write_file_atomically(path, new.encode(), overwrite=True)


def readme_block(
    path: str | os.PathLike[str], *, start: str = _README_START, end: str = _README_END
) -> str:
    """The text currently between the README's markers (default: the benchmark block's)."""
    text = Path(path).read_text(encoding="utf-8")
    if start not in text or end not in text:
        name = start.removeprefix("<!-- ").split(":")[0]
        raise ValueError(f"{path} has no {name} block ({start} ... {end})")
    return text.split(start, 1)[1].split(end, 1)[0].lstrip("\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spect_tutorial.benchmark``."""
    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.benchmark",
        description="Every method x count level x held-out phantom x realization, "
        "appended to a JSON Lines file (resumable), then summarised.",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="heldout",
        help="heldout: the 8 held-out patients (default); territory: the defect-safety "
        "patients, one defect per coronary territory at two severities",
    )
    parser.add_argument(
        "--out",
        default=None,
        help=f"JSON Lines results file (default {DEFAULT_RESULTS.name} for v1, "
        f"results_<acquisition>.jsonl otherwise, or {DEFAULT_TERRITORY_RESULTS.name} with "
        "--protocol territory, in data/benchmark)",
    )
    parser.add_argument(
        "--acquisition",
        choices=sorted(ACQUISITIONS),
        default="v1",
        help="v1: the study's (no scatter); v2: scatter 0.3, estimated correction",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one held-out phantom (with a defect), one realization: every method and "
        "level in minutes (CI); its records are a subset of the full run's",
    )
    parser.add_argument("--methods", nargs="+", help=f"default: {' '.join(METHODS)}")
    parser.add_argument("--phantoms", type=int, nargs="+", help="protocol indices")
    parser.add_argument(
        "--count-levels", type=float, nargs="+", default=list(EVALUATION_COUNT_LEVELS)
    )
    parser.add_argument("--realizations", type=int, default=EVALUATION_REALIZATIONS)
    parser.add_argument("--weights-dir", help="folder of the networks' weights")
    parser.add_argument("--summary-only", action="store_true", help="only re-tabulate")
    parser.add_argument(
        "--readme", help="also refresh this README's benchmark (or territory) block"
    )
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.out is None:
        territory = args.protocol == "territory"
        args.out = str(
            DEFAULT_TERRITORY_RESULTS if territory else default_results(args.acquisition)
        )
    try:  # every output is checked before any computation
        check_summary_targets(Path(args.out), readme=args.readme)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.summary_only:
        options: dict[str, Any] = {
            "methods": args.methods,
            "phantoms": args.phantoms,
            "count_levels": args.count_levels,
            "realizations": args.realizations,
            "weights_dir": args.weights_dir,
            "progress": not args.quiet,
            "acquisition": args.acquisition,
            "protocol": args.protocol,
        }
        if args.quick:
            first = 1 if args.protocol == "heldout" else 0
            options.update(phantoms=args.phantoms or [first], realizations=1)
        try:
            run_benchmark(args.out, **options)
        except (ValueError, OSError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    try:
        if args.protocol == "territory":
            from .territory import write_territory_summary

            path = write_territory_summary(args.out, readme=args.readme)
            if not args.quiet:
                print(f"wrote {path}")
            return 0
        path = write_summary(args.out, readme=args.readme)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
