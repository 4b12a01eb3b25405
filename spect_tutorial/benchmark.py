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
``win5rb_n2n_paper``            the shipped WIN5-RB (Noise2Noise, 128 filters)
``win5rb_*_teaching``           64-filter models: Noise2Noise, count split, supervised
==============================  ===============================================

A network whose weights are missing is skipped with a message (no record), so
the command works before every model is trained.

Records
-------
One JSON object per line, appended and flushed as soon as it is computed, to
``--out`` (default ``data/benchmark/results.jsonl``). The file is append-only:
re-running the command skips every (method, count level, phantom, realization)
already present, so a killed run resumes where it stopped and finished records
are never rewritten. Fields: ``method``, ``count_level``, ``phantom`` (index in
the protocol), ``seed``, ``realization``, ``defect``, ``nrmse``, ``psnr``,
``ssim``, ``cov``, ``noise_cov``, ``mean_ratio`` (mean over the myocardial
region / the ideal image's: the bias of the mean), ``wall_mm``,
``wall_ideal_mm``, ``wall_true_mm``, ``wall_failed`` (profile fits that
failed, of 108; absent from records written before it existed: unknown),
``defect_ratio``, ``defect_ratio_ideal`` (``null`` without a defect),
``fwhm_mm`` (optimal Gaussian only), ``simulate_s`` (simulation and
OSEM per realization), ``method_s`` (filter, reconstruction or inference of
this volume), ``peak_rss_mb`` and ``package_version``.

After the run, ``summary.json`` and ``summary.md`` beside the records (means
and 95 % confidence intervals over phantoms, :mod:`spect_tutorial.results`)
are regenerated from the records; they are derived files, rewritten on every
run. ``--readme README.md`` also refreshes the results table between the
README's ``<!-- benchmark:start -->`` and ``<!-- benchmark:end -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .filters import butterworth_filter, gaussian_filter_mm, optimal_fwhm
from .metrics import (
    coefficient_of_variation,
    defect_ratio,
    noise_coefficient_of_variation,
    normal_myocardium,
    nrmse,
    psnr,
    ssim,
)
from .noise import count_level_scale
from .protocol import (
    EVALUATION_COUNT_LEVELS,
    EVALUATION_PHANTOMS,
    EVALUATION_REALIZATIONS,
    evaluation_phantom,
)
from .recon import osem
from .study import Study, simulate_study
from .thickness import phantom_base_apex_mm, wall_thickness

__all__ = [
    "BUTTERWORTH_CLINICAL",
    "DEFAULT_RESULTS",
    "METHODS",
    "Method",
    "build_parser",
    "heart_slab",
    "main",
    "method_images",
    "run_benchmark",
    "write_summary",
]

#: Butterworth settings of clinical software (QGS default): order 5, 0.41 cycles/cm.
BUTTERWORTH_CLINICAL = {"order": 5, "cutoff_cycles_per_cm": 0.41}

#: Default results file (committed after a full run).
DEFAULT_RESULTS = Path(__file__).resolve().parent.parent / "data" / "benchmark" / "results.jsonl"

#: Radial profiles of one wall measurement (3 short-axis levels x 36 angles, section 8).
WALL_PROFILES = 3 * 36

#: File name of the trade-off records beside the benchmark's (spect_tutorial.tradeoff).
TRADEOFF_NAME = "tradeoff.jsonl"

#: Slices kept on each side of the myocardium when the network denoises the heart slab.
SLAB_MARGIN_SLICES = 4

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
    """

    name: str
    label: str
    apply: Callable[[_Context, int], tuple[np.ndarray, dict[str, Any]]] = field(repr=False)
    network: bool = False


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


#: Every method, in table order.
METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("noisy", "OSEM, no filter", _noisy),
        Method("gaussian_optimal", "Gaussian, optimal FWHM (oracle)", _gaussian_optimal),
        Method("gaussian_8mm", "Gaussian 8 mm", partial(_gaussian_fixed, 8.0)),
        Method("gaussian_10mm", "Gaussian 10 mm", partial(_gaussian_fixed, 10.0)),
        Method("butterworth", "Butterworth 5 / 0.41 cycles/cm", _butterworth),
        _network_method("win5rb_n2n_paper", "WIN5-RB Noise2Noise (128 filters)"),
        _network_method("win5rb_n2n_teaching", "WIN5-RB Noise2Noise (64)"),
        _network_method("win5rb_split_teaching", "WIN5-RB count split (64)"),
        _network_method("win5rb_supervised_teaching", "WIN5-RB supervised (64)"),
    )
}


def network_method(name: str) -> Method:
    """A :class:`Method` for any weights ``name`` (e.g. a model you trained yourself)."""
    return METHODS.get(name) or _network_method(name, name)


def heart_slab(mask: np.ndarray, margin: int = SLAB_MARGIN_SLICES) -> tuple[int, int]:
    """Transaxial slices ``(start, stop)`` holding ``mask`` plus ``margin`` slices each side.

    Parameters
    ----------
    mask : numpy.ndarray
        ``(z, y, x)`` boolean mask (e.g. the evaluation region), not empty.
    margin : int, optional
        Extra slices on each side (default 4 = 25.6 mm at 6.4 mm).

    Returns
    -------
    tuple of int
        Clipped to the volume.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3 or not mask.any():
        raise ValueError(
            f"mask must be a non-empty (z, y, x) boolean mask, got shape {mask.shape}"
        )
    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    return max(0, int(slices[0]) - margin), min(mask.shape[0], int(slices[-1]) + 1 + margin)


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
    """Append records to a JSON Lines file, one flushed line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            content = path.read_bytes()
            if content and not content.endswith(b"\n"):
                # A run killed while writing its last record: drop that partial line
                # (load_records ignores it and the result is recomputed); a complete
                # record that only lacks its newline is kept.
                tail = content[content.rfind(b"\n") + 1 :]
                try:
                    json.loads(tail)
                except ValueError:
                    with path.open("r+b") as file:
                        file.truncate(len(content) - len(tail))
                else:
                    with path.open("ab") as file:
                        file.write(b"\n")
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, sort_keys=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _benchmark_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["method"],
        float(record["count_level"]),
        int(record["phantom"]),
        int(record["realization"]),
    )


def _done_keys(
    path: Path, key: Callable[[dict[str, Any]], tuple[Any, ...]] = _benchmark_key
) -> set[tuple[Any, ...]]:
    """Keys of the records already in ``path`` (``key(record)``; empty if no file)."""
    from .results import load_records

    if not path.exists():
        return set()
    return {key(r) for r in load_records(path)}


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
    return chosen


def _check_indices(phantoms: Iterable[int] | None) -> list[int]:
    if phantoms is None:
        return list(range(len(EVALUATION_PHANTOMS)))
    indices = list(phantoms)
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ValueError(f"phantoms must be protocol indices (int), got {index!r}")
        if not 0 <= int(index) < len(EVALUATION_PHANTOMS):
            raise ValueError(
                f"phantoms must be in 0..{len(EVALUATION_PHANTOMS) - 1} (the held-out "
                f"phantoms of spect_tutorial.protocol), got {index}"
            )
    return [int(index) for index in indices]


def _load_models(
    methods: list[Method], weights_dir: Path | None, log: Callable[[str], None]
) -> tuple[list[Method], dict[str, Any]]:
    from .weights import resolve_weights_dir

    directory = resolve_weights_dir(weights_dir)
    available, models = [], {}
    for method in methods:
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
    out: str | os.PathLike[str] = DEFAULT_RESULTS,
    *,
    methods: Sequence[str] | None = None,
    phantoms: Sequence[int] | None = None,
    count_levels: Sequence[float] = EVALUATION_COUNT_LEVELS,
    realizations: int = EVALUATION_REALIZATIONS,
    weights_dir: str | os.PathLike[str] | None = None,
    phantom_shape: tuple[int, int, int] = (128, 128, 128),
    progress: bool = True,
) -> Path:
    """Run (or resume) the benchmark, appending one record per result to ``out``.

    Parameters
    ----------
    out : str or os.PathLike, optional
        JSON Lines file (created if missing; existing records are kept and
        skipped). Default :data:`DEFAULT_RESULTS`.
    methods : sequence of str, optional
        Names from :data:`METHODS` or any weights name; default all of
        :data:`METHODS` (networks without weights are skipped).
    phantoms : sequence of int, optional
        Indices into :data:`~spect_tutorial.protocol.EVALUATION_PHANTOMS`
        (default all).
    count_levels : sequence of float, optional
        Count levels in percent (default the protocol's 12.5-200 %).
    realizations : int, optional
        Noisy realizations per phantom and level (default 3, the protocol's).
    weights_dir : str or os.PathLike, optional
        Folder of the networks' weights (default: as :func:`load_pretrained`).
    phantom_shape : tuple of int, optional
        Simulation grid at 3.2 mm (default 128^3, the protocol's).
    progress : bool, optional
        Print one line per phantom and level.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    chosen = _check_methods(methods)
    indices = _check_indices(phantoms)
    if isinstance(realizations, bool) or not isinstance(realizations, int) or realizations < 1:
        raise ValueError(f"realizations must be an int >= 1, got {realizations!r}")
    if isinstance(count_levels, str) or not isinstance(count_levels, Iterable):
        raise ValueError(f"count_levels must be a sequence of percentages, got {count_levels!r}")
    levels = [100.0 * count_level_scale(level) for level in count_levels]
    if not levels:
        raise ValueError("count_levels must hold at least one count level (percent)")

    def log(message: str) -> None:
        if progress:
            print(message, flush=True)

    done = _done_keys(out)
    chosen, models = _load_models(chosen, None if weights_dir is None else Path(weights_dir), log)
    from . import __version__

    writer = _Writer(out)
    try:
        for index in indices:
            todo = [
                (level, k, method)
                for level in levels
                for k in range(realizations)
                for method in chosen
                if (method.name, level, index, k) not in done
            ]
            if not todo:
                continue
            entry = EVALUATION_PHANTOMS[index]
            phantom = evaluation_phantom(index, shape=phantom_shape)
            base_apex = phantom_base_apex_mm(phantom)
            true_wall = float(phantom.parameters["anatomy"]["wall_thickness_mm"])
            ideal_metrics: dict[str, Any] | None = None
            for level in levels:
                if not any(item[0] == level for item in todo):
                    continue
                level_started = time.perf_counter()
                study = simulate_study(
                    phantom, count_level=level, n_realizations=realizations, seed=entry.seed
                )
                simulate_s = (time.perf_counter() - level_started) / realizations
                region = study.evaluation_mask
                normal = normal_myocardium(study.myocardium_mask, study.defect_mask)

                if ideal_metrics is None:
                    ideal = _wall_and_defect(study.ideal, study, base_apex)
                    ideal_metrics = {
                        "wall_ideal_mm": ideal["wall_mm"],
                        "wall_true_mm": true_wall,
                        "defect_ratio_ideal": ideal["defect_ratio"],
                    }
                context = _Context(study, models, heart_slab(region))
                for level_, k, method in todo:
                    if level_ != level:
                        continue
                    started = time.perf_counter()
                    image, extra = method.apply(context, k)
                    method_s = time.perf_counter() - started
                    record = {
                        "method": method.name,
                        "count_level": level,
                        "phantom": index,
                        "seed": entry.seed,
                        "realization": k,
                        "defect": entry.defect,
                        "nrmse": float(nrmse(image, study.ideal, region)),
                        "psnr": float(psnr(image, study.ideal, region=region)),
                        "ssim": float(ssim(image, study.ideal, region=region)),
                        "cov": float(coefficient_of_variation(image, normal)),
                        "noise_cov": float(
                            noise_coefficient_of_variation(image, study.ideal, normal)
                        ),
                        "mean_ratio": float(
                            image[region].mean(dtype=np.float64)
                            / study.ideal[region].mean(dtype=np.float64)
                        ),
                        **_wall_and_defect(image, study, base_apex),
                        **ideal_metrics,
                        **extra,
                        "simulate_s": round(simulate_s, 3),
                        "method_s": round(method_s, 3),
                        "peak_rss_mb": round(_peak_rss_mb(), 1),
                        "package_version": __version__,
                    }
                    writer.write(record)
                log(
                    f"phantom {index} (seed {entry.seed}, defect {entry.defect}) at "
                    f"{level:g} %: {sum(item[0] == level for item in todo)} results in "
                    f"{time.perf_counter() - level_started:.1f} s"
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
    from .io import write_file_atomically
    from .results import load_records, summarise, summary_rows

    results = Path(results)
    records = load_records(results)
    summary = summarise(records)
    directory = results.parent
    document = {
        "results": results.name,
        "records": len(records),
        "command": "python -m spect_tutorial.benchmark",
        "statistics": "mean over phantoms (realizations averaged per phantom) and Student-t "
        "95 % confidence interval",
        "rows": summary_rows(summary),
    }
    text = json.dumps(document, indent=1) + "\n"
    json_path = directory / "summary.json"
    write_file_atomically(json_path, lambda f: f.write(text.encode()), overwrite=True)
    tradeoff_path = directory / TRADEOFF_NAME
    tradeoff = load_records(tradeoff_path) if tradeoff_path.exists() else None
    table = readme_table(records, tradeoff)
    write_file_atomically(
        directory / "summary.md", lambda f: f.write(table.encode()), overwrite=True
    )
    if readme is not None:
        update_readme(Path(readme), table)
    return json_path


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
        "NRMSE",
        "NRMSE / optimal Gaussian's",
        "SSIM",
        "CoV",
        "wall (mm)",
        "defect error",
        "ensemble noise",
    ]
    rows = []
    for method, by_level in summary.items():
        for level, entries in by_level.items():
            ratio = paired_ratio(records, method, "gaussian_optimal", count_level=level)
            defect = derived(records, method, count_level=level, function=defect_ratio_error)
            cells = [labels.get(method, method), f"{level:g}"]
            cells += [
                entries["nrmse"].format(3) if "nrmse" in entries else "–",
                ratio.format(3) if ratio.n and method != "gaussian_optimal" else "–",
                entries["ssim"].format(3) if "ssim" in entries else "–",
                entries["cov"].format(3) if "cov" in entries else "–",
                entries["wall_mm"].format(1) if "wall_mm" in entries else "–",
                f"{defect.mean:+.3f} ± {defect.half_width:.3f}" if defect.n > 1 else "–",
                ensemble.get((method, level), "–"),
            ]
            rows.append(cells)
    return (
        "Held-out phantoms of `spect_tutorial.protocol`; mean ± 95 % confidence half-width "
        "over phantoms (realizations averaged per phantom first). NRMSE over the optimal "
        "Gaussian's and the defect error (defect ratio minus the ideal image's; positive: "
        "the defect looks shallower) are paired per image. Generated by "
        "`python -m spect_tutorial.benchmark` from `data/benchmark/results.jsonl`; the "
        "ensemble noise (science reference section 9) from `data/benchmark/tradeoff.jsonl` "
        "(`python -m spect_tutorial.tradeoff`), at the count levels that run has completed "
        "for every patient (– elsewhere).\n\n" + markdown_rows(header, rows)
    )


def update_readme(path: Path, table: str) -> None:
    """Replace the README's benchmark block with ``table`` (atomic; markers required)."""
    from .io import write_file_atomically

    text = path.read_text(encoding="utf-8")
    if _README_START not in text or _README_END not in text:
        raise ValueError(
            f"{path} has no benchmark block: add the lines {_README_START} and {_README_END}"
        )
    head, rest = text.split(_README_START, 1)
    _, tail = rest.split(_README_END, 1)
    new = f"{head}{_README_START}\n{table}{_README_END}{tail}"
    write_file_atomically(path, lambda f: f.write(new.encode()), overwrite=True)


def readme_block(path: str | os.PathLike[str]) -> str:
    """The table currently between the README's benchmark markers."""
    text = Path(path).read_text(encoding="utf-8")
    if _README_START not in text or _README_END not in text:
        raise ValueError(f"{path} has no benchmark block ({_README_START} ... {_README_END})")
    return text.split(_README_START, 1)[1].split(_README_END, 1)[0].lstrip("\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spect_tutorial.benchmark``."""
    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.benchmark",
        description="Every method x count level x held-out phantom x realization, "
        "appended to a JSON Lines file (resumable), then summarised.",
    )
    parser.add_argument("--out", default=str(DEFAULT_RESULTS), help="JSON Lines results file")
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
    parser.add_argument("--readme", help="also refresh this README's benchmark block")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not args.summary_only:
        options: dict[str, Any] = {
            "methods": args.methods,
            "phantoms": args.phantoms,
            "count_levels": args.count_levels,
            "realizations": args.realizations,
            "weights_dir": args.weights_dir,
            "progress": not args.quiet,
        }
        if args.quick:
            options.update(phantoms=args.phantoms or [1], realizations=1)
        try:
            run_benchmark(args.out, **options)
        except (ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    path = write_summary(args.out, readme=args.readme)
    if not args.quiet:
        print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
