"""Benchmark every method at every count level on the held-out phantoms.

Usage::

    python -m spect_tutorial.benchmark                 # the full protocol (resumable)
    python -m spect_tutorial.benchmark --quick         # one phantom, one realization (CI)
    python -m spect_tutorial.benchmark --summary-only  # re-tabulate existing results
    python -m spect_tutorial.benchmark --help

For each held-out phantom of :mod:`spect_tutorial.protocol`, each count level
and each realization, the command simulates the acquisition
(:func:`~spect_tutorial.study.simulate_study`, OSEM 4 x 8, seed = the phantom's
seed) and applies every method of :data:`~spect_tutorial.methods.METHODS` to the same
noisy image:

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
``weights_sha256`` (networks only: the weights that made the record; a rerun with other
weights under the same name is refused; absent from records written before it existed),
``simulate_s`` (simulation and
OSEM per realization), ``method_s`` (filter, reconstruction or inference of
this volume), ``peak_rss_mb`` and ``package_version``.

After the run, ``summary.json`` and ``summary.md`` beside the records
(``summary_v2.json`` and ``summary_v2.md`` beside ``results_v2.jsonl``,
:func:`spect_tutorial.readme.summary_paths`; means and 95 % confidence intervals over
phantoms, :mod:`spect_tutorial.results`) are regenerated from the records
(:mod:`spect_tutorial.readme`); they are derived files, rewritten on every run, but
only if they were written by this command (a user's summary files there are refused
before any work, never replaced).
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
import json
import os
import resource
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import no_repeats
from .frame import SIMULATION_SHAPE
from .methods import (
    METHODS,
    MethodContext,
    _check_methods,
    _load_models,
    check_network_records,
    heart_slab,
    image_metrics,
)
from .metrics import defect_ratio
from .noise import count_level_scale
from .phantom import Phantom
from .protocol import (
    EVALUATION_COUNT_LEVELS,
    EVALUATION_PHANTOMS,
    EVALUATION_REALIZATIONS,
    TERRITORY_PHANTOMS,
    TUNING_PHANTOMS,
)
from .readme import check_summary_targets, write_summary
from .study import ACQUISITIONS, Study, acquisition_file, acquisition_settings, simulate_study
from .thickness import phantom_base_apex_mm, wall_thickness

__all__ = [
    "DEFAULT_RESULTS",
    "DEFAULT_TERRITORY_RESULTS",
    "PROTOCOLS",
    "add_patient_arguments",
    "build_parser",
    "default_protocol_results",
    "default_results",
    "main",
    "run_benchmark",
]


#: Default results file (committed after a full run).
DEFAULT_RESULTS = Path(__file__).resolve().parent.parent / "data" / "benchmark" / "results.jsonl"

#: Records of the defect-safety patients (``--protocol territory``).
DEFAULT_TERRITORY_RESULTS = DEFAULT_RESULTS.with_name("territory.jsonl")

#: The patient sets the command can run: held-out patients, defect-safety patients.
PROTOCOLS = ("heldout", "territory", "tuning")


def default_results(acquisition: str = "v1") -> Path:
    """The results file of an acquisition: ``results.jsonl`` for v1, ``results_<name>.jsonl``."""
    return acquisition_file(DEFAULT_RESULTS, acquisition)


#: Radial profiles of one wall measurement (3 short-axis levels x 36 angles, section 8).
WALL_PROFILES = 3 * 36


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


def _ideal_metrics(
    study: Study, base_apex_mm: tuple[float, float], true_wall_mm: float
) -> dict[str, Any]:
    """Record fields of the ideal image (wall in mm, defect ratio) and the phantom's true wall."""
    ideal = _wall_and_defect(study.ideal, study, base_apex_mm)
    return {
        "wall_ideal_mm": ideal["wall_mm"],
        "wall_true_mm": true_wall_mm,
        "defect_ratio_ideal": ideal["defect_ratio"],
    }


def _run_levels(count_levels: Any) -> list[float]:
    """The count levels of a run in percent, in the given order (each finite and > 0)."""
    if isinstance(count_levels, str) or not isinstance(count_levels, Iterable):
        raise ValueError(f"count_levels must be a sequence of percentages, got {count_levels!r}")
    levels = [100.0 * count_level_scale(level) for level in count_levels]
    if not levels:
        raise ValueError("count_levels must hold at least one count level (percent)")
    return levels


class _Writer:
    """Append records to a benchmark JSON Lines file, one flushed line each, under a lock.

    Opening it takes the lock file ``<out>.lock`` (a second run on the same file is
    refused) and checks the file is ours: every complete line a valid record, no
    duplicate keys (:func:`~spect_tutorial.results.read_records`). Only then may a
    torn last line (a killed run) be cut off, and only if it starts like one of our
    records; anything else (a user's notes) is refused and left unchanged. A file
    holding records of another acquisition than ``acquisition`` is refused too
    (records without the field are v1's): resuming on it would skip every result.
    """

    def __init__(self, path: Path, acquisition: str = "v1") -> None:
        from ._files import FileLock
        from .results import RECORD_PREFIX, check_acquisition, read_records, record_key

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
            self.records: list[dict[str, Any]] = []  # those already in the file
            self.done: set[tuple[str, float, int, int]] = set()
            if path.exists():
                records, torn = read_records(path)
                try:
                    check_acquisition(records, acquisition, f"out (--out) {str(path)!r}")
                except ValueError as error:
                    raise ValueError(
                        f"{error}; give each acquisition its own file (it was left unchanged)"
                    ) from None
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
                self.records = records
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


def _known_ideal_metrics(path: Path) -> dict[int, dict[str, Any]]:
    """The ideal image's values per patient in existing records (reused by new records)."""
    from .results import load_records

    if not path.exists():
        return {}
    fields = ("wall_ideal_mm", "wall_true_mm", "defect_ratio_ideal")
    return {int(r["phantom"]): {name: r[name] for name in fields} for r in load_records(path)}


def _protocol_entries(protocol: str) -> tuple[Any, ...]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return {
        "heldout": EVALUATION_PHANTOMS,
        "territory": TERRITORY_PHANTOMS,
        "tuning": TUNING_PHANTOMS,
    }[protocol]


def default_protocol_results(protocol: str = "heldout", acquisition: str = "v1") -> Path:
    """The benchmark's records file of a protocol and acquisition.

    The held-out patients: :func:`default_results`; the territory patients:
    :data:`DEFAULT_TERRITORY_RESULTS`; the tuning patients: ``tuning.jsonl`` beside it;
    with another acquisition than v1 its name is added (``territory_v2.jsonl``), so
    records of different acquisitions are never mixed in one file.
    """
    _protocol_entries(protocol)  # checks the name
    if protocol == "heldout":
        return default_results(acquisition)
    stem = DEFAULT_TERRITORY_RESULTS.stem if protocol == "territory" else protocol
    return acquisition_file(DEFAULT_RESULTS.with_name(f"{stem}.jsonl"), acquisition)


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
    no_repeats([int(index) for index in indices], "phantoms")
    return [int(index) for index in indices]


def _protocol_patient(
    protocol: str, index: int, shape: tuple[int, int, int]
) -> tuple[Phantom, dict[str, Any]]:
    """The phantom of patient ``index`` and the fields its records start with."""
    entry = _protocol_entries(protocol)[index]
    if protocol == "heldout":
        fields = {"defect": entry.defect}
    else:
        fields = {"defect": True, "territory": entry.territory, "severity": entry.severity}
    return entry.build(shape=shape), fields


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
        Names from :data:`~spect_tutorial.methods.METHODS` or any weights name; default all
        of them (networks without weights and methods whose optional
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
    protocol : {"heldout", "territory", "tuning"}, optional
        :data:`~spect_tutorial.protocol.EVALUATION_PHANTOMS` (default), the
        defect-safety patients :data:`~spect_tutorial.protocol.TERRITORY_PHANTOMS`
        or the tuning patients :data:`~spect_tutorial.protocol.TUNING_PHANTOMS`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    settings = acquisition_settings(acquisition)
    entries = _protocol_entries(protocol)
    if out is None:
        out = default_protocol_results(protocol, acquisition)
    out = Path(out)
    chosen = _check_methods(methods)
    indices = _check_indices(phantoms, protocol)
    if isinstance(realizations, bool) or not isinstance(realizations, int) or realizations < 1:
        raise ValueError(f"realizations must be an int >= 1, got {realizations!r}")
    levels = _run_levels(count_levels)
    no_repeats(levels, "count_levels")

    def log(message: str) -> None:
        if progress:
            print(message, flush=True)

    # checks the file is ours (and of this acquisition) and takes its lock before any work
    writer = _Writer(out, settings.name)
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
        check_network_records(writer.records, models, f"out (--out) {str(out)!r}")
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
                    ideal_metrics_of[ideal_key] = _ideal_metrics(study, base_apex, true_wall)
                ideal_metrics = ideal_metrics_of[ideal_key]
                context = MethodContext(study, models, heart_slab(region))
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


def add_patient_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--protocol`` (which patients) and ``--acquisition`` (how they are imaged).

    Shared by the benchmark and the trade-off commands, so both name the patients
    and the acquisition alike.
    """
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="heldout",
        help="heldout: the 8 held-out patients (default); territory: the defect-safety "
        "patients, one defect per coronary territory at two severities; tuning: the same "
        "design with other anatomies, for choosing settings",
    )
    parser.add_argument(
        "--acquisition",
        choices=sorted(ACQUISITIONS),
        default="v1",
        help="v1: the study's (no scatter); v2: scatter 0.3, estimated correction",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spect_tutorial.benchmark``."""
    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.benchmark",
        description="Every method x count level x held-out phantom x realization, "
        "appended to a JSON Lines file (resumable), then summarised.",
    )
    add_patient_arguments(parser)
    parser.add_argument(
        "--out",
        default=None,
        help=f"JSON Lines results file (default {DEFAULT_RESULTS.name} for v1, "
        f"results_<acquisition>.jsonl otherwise; {DEFAULT_TERRITORY_RESULTS.name} or "
        "territory_<acquisition>.jsonl with --protocol territory; in data/benchmark)",
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
        args.out = str(default_protocol_results(args.protocol, args.acquisition))
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
        if args.protocol != "heldout":  # territory and tuning patients: by territory
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
