"""Benchmark records: read them back, summarise them with confidence intervals, tabulate them.

:mod:`spect_tutorial.benchmark` writes one JSON record per (method, count
level, held-out phantom, realization) to an append-only JSON Lines file. This
module turns such a file into the numbers the book and the README show.

Statistics
----------
Science reference section 8 asks for the mean and a 95 % confidence interval.
Realizations of one phantom share its anatomy, so they are not independent
samples of "a patient". Every summary therefore first averages the
realizations of each phantom, then takes the mean over phantoms and a
Student-t 95 % confidence interval of that mean (``n`` = number of phantoms,
``n - 1`` degrees of freedom). Metrics that exist only with a defect (the
defect ratio) use the phantoms that have one. Ratios between two methods
(e.g. the network's NRMSE over the optimal Gaussian's) are *paired*: the ratio
is formed per image, averaged per phantom, then summarised the same way.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import integer, real_number
from .methods import METRICS as _REGISTRY

__all__ = [
    "METRICS",
    "Estimate",
    "check_acquisition",
    "defect_ratio_error",
    "derived",
    "estimate",
    "load_records",
    "markdown_rows",
    "markdown_table",
    "matching_count_level",
    "paired_ratio",
    "per_patient",
    "summarise",
    "summary_rows",
    "wall_error_mm",
]

#: Metrics of a record that are summarised, with their display names and units (from the
#: registry :data:`spect_tutorial.methods.METRICS`).
METRICS: dict[str, str] = {name: metric.label for name, metric in _REGISTRY.items()}

_KEY_FIELDS = ("method", "count_level", "phantom", "realization")


@dataclass(frozen=True)
class Estimate:
    """Mean over phantoms with its 95 % confidence interval.

    Attributes
    ----------
    mean : float
        Mean of the per-phantom means.
    low, high : float
        Student-t 95 % confidence interval of that mean (equal to ``mean`` when
        only one phantom contributes: no interval can be estimated).
    n : int
        Number of phantoms.
    """

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the width of the interval (same units as the metric)."""
        return (self.high - self.low) / 2.0

    def as_dict(self) -> dict[str, float | int]:
        """Plain ``dict`` for JSON."""
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}

    def format(self, digits: int = 3) -> str:
        """``"mean ± half-width"`` (just the mean when ``n`` is 1)."""
        if self.n < 2:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def _t_quantile_975(dof: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, dof))


def estimate(per_phantom: Sequence[float]) -> Estimate:
    """Mean and Student-t 95 % interval of per-phantom values (NaNs dropped).

    Parameters
    ----------
    per_phantom : sequence of float
        One value per phantom (already averaged over its realizations).

    Returns
    -------
    Estimate
        ``n = 0`` and NaN everywhere when no finite value is given.
    """
    values = np.asarray([v for v in per_phantom if v is not None], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    if values.size == 1:
        return Estimate(mean, mean, mean, 1)
    half = _t_quantile_975(values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Estimate(mean, mean - half, mean + half, int(values.size))


#: How every record line written by the benchmark starts (``method`` is its first field).
RECORD_PREFIX = '{"method": '


def record_key(record: Mapping[str, Any], *, where: str = "record") -> tuple[Any, ...]:
    """A record's ``(method, count_level, phantom, realization[, setting])``, checked.

    Raises
    ------
    ValueError
        If a key field is missing or of the wrong type (``method`` a non-empty
        string, ``count_level`` a finite number > 0 in percent, ``phantom`` and
        ``realization`` integers >= 0); the message starts with ``where``.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: not a benchmark record (a JSON object), got {record!r}")
    missing = [key for key in _KEY_FIELDS if key not in record]
    if missing:
        raise ValueError(f"{where}: not a benchmark record (missing {missing})")
    method, level = record["method"], record["count_level"]
    if not isinstance(method, str) or not method:
        raise ValueError(f"{where}: method must be a non-empty string, got {method!r}")
    real_number(level, f"{where}: count_level", unit="percent", minimum=0, strict_minimum=True)
    numbers = [
        integer(record[name], f"{where}: {name}", minimum=0) for name in ("phantom", "realization")
    ]
    key: tuple[Any, ...] = (method, float(level), numbers[0], numbers[1])
    if "setting" in record:  # a trade-off record: one per filter setting (None for a method)
        key += (record["setting"],)
    return key


def read_records(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int | None]:
    """The records of a benchmark file and where a torn last line starts (or ``None``).

    A line is *torn* only if it is the last one, has no final newline and is
    not complete JSON (a run killed while writing it). A complete line that
    is not a valid record, anywhere, and a repeated key are errors.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the path is not a regular file, a line is not a valid record, or two
        records share a key; the message names the file and the line(s).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"benchmark results {path} do not exist")
    if not path.is_file():
        raise ValueError(f"benchmark results {path} is not a regular file")
    content = path.read_bytes()
    lines = content.split(b"\n")
    torn: int | None = None
    records: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], int] = {}
    offset = 0
    for number, raw in enumerate(lines, start=1):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            if number == len(lines):  # the last line, no final newline: torn
                torn = start
                continue
            raise ValueError(
                f"{where}: not a benchmark record ({error}); the file is not a "
                "spect_tutorial benchmark's JSON Lines output"
            ) from None
        key = record_key(record, where=where)
        if key in seen:
            raise ValueError(
                f"{where}: duplicate record {key} (method, count level, phantom, realization), "
                f"already on line {seen[key]}; one record per result"
            )
        seen[key] = number
        records.append(record)
    return records, torn


def load_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a benchmark's JSON Lines file.

    Parameters
    ----------
    path : str or os.PathLike
        The file written by :mod:`spect_tutorial.benchmark`.

    Returns
    -------
    list of dict
        The records in file order. A last line cut short (the run was killed
        while writing it: no final newline, not complete JSON) is ignored; the
        benchmark recomputes that result.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If any complete line is not a JSON object with valid key fields
        (``method`` a string, ``count_level`` a number > 0, ``phantom`` and
        ``realization`` integers >= 0), or two records share a key; the
        message names the file and the line.
    """
    return read_records(path)[0]


def check_acquisition(records: Iterable[Mapping[str, Any]], acquisition: str, where: str) -> None:
    """Check that every record was imaged with one acquisition.

    Records carry ``acquisition`` unless they are of the study's v1 acquisition
    (written before the field existed): records of v1 and v2 share their keys, so
    a file or a table must never mix them.

    Parameters
    ----------
    records : iterable of mapping
        Benchmark or trade-off records.
    acquisition : str
        The expected acquisition's name ("v1", "v2").
    where : str
        Names the records in the message (e.g. the file).

    Raises
    ------
    ValueError
        If a record is of another acquisition (the message lists which).
    """
    others = sorted({str(r.get("acquisition", "v1")) for r in records} - {acquisition})
    if others:
        raise ValueError(
            f"{where} holds records of the acquisition {', '.join(others)}, not {acquisition}"
        )


def _per_phantom(records: Iterable[Mapping[str, Any]], metric: str) -> dict[int, float]:
    sums: dict[int, list[float]] = defaultdict(list)
    for record in records:
        value = record.get(metric)
        if value is None or not math.isfinite(float(value)):
            continue
        sums[int(record["phantom"])].append(float(value))
    return {phantom: float(np.mean(values)) for phantom, values in sorted(sums.items())}


def summarise(
    records: Iterable[Mapping[str, Any]], metrics: Sequence[str] = tuple(METRICS)
) -> dict[str, dict[float, dict[str, Estimate]]]:
    """Mean and 95 % interval of every metric per method and count level.

    Parameters
    ----------
    records : iterable of mapping
        Benchmark records (:func:`load_records`).
    metrics : sequence of str, optional
        Record fields to summarise (default :data:`METRICS`).

    Returns
    -------
    dict
        ``summary[method][count_level][metric]`` -> :class:`Estimate`, methods
        and levels in order of first appearance / ascending. Metrics a method
        never reports (e.g. ``fwhm_mm`` for the network) are left out.
    """
    grouped: dict[str, dict[float, list[Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in records:
        grouped[str(record["method"])][float(record["count_level"])].append(record)
    summary: dict[str, dict[float, dict[str, Estimate]]] = {}
    for method, by_level in grouped.items():
        summary[method] = {}
        for level in sorted(by_level):
            entries = {}
            for metric in metrics:
                result = estimate(list(_per_phantom(by_level[level], metric).values()))
                if result.n:
                    entries[metric] = result
            summary[method][level] = entries
    return summary


def paired_ratio(
    records: Iterable[Mapping[str, Any]],
    method: str,
    baseline: str,
    *,
    count_level: float,
    metric: str = "nrmse",
) -> Estimate:
    """Paired ratio ``method / baseline`` of a metric at one count level.

    The ratio is formed per image (same phantom, realization and noise),
    averaged per phantom, and summarised over phantoms as in :func:`summarise`.

    Parameters
    ----------
    records : iterable of mapping
        Benchmark records holding both methods.
    method, baseline : str
        Method names as recorded.
    count_level : float
        Count level in percent.
    metric : str, optional
        Record field (default ``"nrmse"``).

    Returns
    -------
    Estimate
        ``n = 0`` (NaN) when the two methods share no image.
    """
    level = float(count_level)
    values: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)
    for record in records:
        if float(record["count_level"]) != level or record["method"] not in (method, baseline):
            continue
        value = record.get(metric)
        if value is not None:
            key = (int(record["phantom"]), int(record["realization"]))
            values[key][str(record["method"])] = float(value)
    ratios = [
        {"phantom": key[0], "ratio": pair[method] / pair[baseline]}
        for key, pair in sorted(values.items())
        if method in pair and baseline in pair and pair[baseline] != 0
    ]
    return estimate(list(_per_phantom(ratios, "ratio").values()))


def wall_error_mm(record: Mapping[str, Any]) -> float | None:
    """Wall thickness of a record's image minus the ideal image's, mm (None if either failed)."""
    if record.get("wall_mm") is None or record.get("wall_ideal_mm") is None:
        return None
    return float(record["wall_mm"]) - float(record["wall_ideal_mm"])


def defect_ratio_error(record: Mapping[str, Any]) -> float | None:
    """Defect ratio of a record's image minus the ideal image's (None without a defect).

    Positive: the defect looks shallower than in the ideal image (filled in).
    """
    if record.get("defect_ratio") is None or record.get("defect_ratio_ideal") is None:
        return None
    return float(record["defect_ratio"]) - float(record["defect_ratio_ideal"])


def per_patient(
    records: Iterable[Mapping[str, Any]],
    method: str,
    *,
    count_level: float,
    function: Callable[[Mapping[str, Any]], float | None],
) -> dict[int, float]:
    """A quantity computed from each record of one method and count level, per patient.

    Parameters
    ----------
    records : iterable of mapping
        Benchmark records.
    method : str
        Method name as recorded.
    count_level : float
        Count level in percent.
    function : callable
        ``function(record) -> float or None`` (e.g. ``wall_mm - wall_ideal_mm``);
        ``None`` skips the record.

    Returns
    -------
    dict
        ``{phantom index: mean over that patient's realizations}``, in index
        order: the values that :func:`derived` summarises, and that two record
        files of the same patients (e.g. two acquisitions) can be paired on.
    """
    level = float(count_level)
    values = []
    for record in records:
        if record["method"] == method and float(record["count_level"]) == level:
            value = function(record)
            if value is not None:
                values.append({"phantom": record["phantom"], "value": value})
    return _per_phantom(values, "value")


def derived(
    records: Iterable[Mapping[str, Any]],
    method: str,
    *,
    count_level: float,
    function: Callable[[Mapping[str, Any]], float | None],
) -> Estimate:
    """Summarise a quantity computed from each record of one method and count level.

    Parameters are those of :func:`per_patient`.

    Returns
    -------
    Estimate
        Averaged per phantom, then over phantoms as in :func:`summarise`.
    """
    values = per_patient(records, method, count_level=count_level, function=function)
    return estimate(list(values.values()))


def matching_count_level(
    summary: Mapping[str, Mapping[float, Mapping[str, Estimate]]],
    method: str,
    value: float,
    *,
    metric: str = "nrmse",
) -> float | None:
    """Count level at which a method's mean metric reaches ``value`` (log-log interpolation).

    Answers "at what dose does the network match the optimal Gaussian at 100 %?":
    the metric's mean is interpolated linearly in ``log(metric)`` against
    ``log(count level)`` between the two benchmark levels that bracket ``value``.
    The metric must fall as counts rise (NRMSE, CoV).

    Parameters
    ----------
    summary : mapping
        A :func:`summarise` result.
    method : str
        Method name.
    value : float
        Target value of the metric (> 0).
    metric : str, optional
        Record field (default ``"nrmse"``).

    Returns
    -------
    float or None
        Count level in percent; ``None`` when ``value`` lies outside the
        method's measured range (no extrapolation).
    """
    if not value > 0:
        raise ValueError(f"value must be > 0, got {value!r}")
    points = sorted(
        (level, entries[metric].mean)
        for level, entries in summary[method].items()
        if metric in entries and entries[metric].mean > 0
    )
    for (low, at_low), (high, at_high) in itertools.pairwise(points):
        if min(at_low, at_high) <= value <= max(at_low, at_high) and at_low != at_high:
            fraction = (math.log(value) - math.log(at_low)) / (
                math.log(at_high) - math.log(at_low)
            )
            return float(math.exp(math.log(low) + fraction * (math.log(high) - math.log(low))))
    return None


def summary_rows(
    summary: Mapping[str, Mapping[float, Mapping[str, Estimate]]],
) -> list[dict[str, Any]]:
    """Flatten a :func:`summarise` result into JSON-ready rows (one per method and level)."""
    rows = []
    for method, by_level in summary.items():
        for level, entries in by_level.items():
            rows.append(
                {
                    "method": method,
                    "count_level": level,
                    **{metric: value.as_dict() for metric, value in entries.items()},
                }
            )
    return rows


def markdown_table(
    summary: Mapping[str, Mapping[float, Mapping[str, Estimate]]],
    *,
    metrics: Sequence[str] = ("nrmse", "ssim", "cov", "wall_mm", "defect_ratio"),
    labels: Mapping[str, str] | None = None,
) -> str:
    """A Markdown table: one row per method and count level, "mean ± 95 % half-width".

    Parameters
    ----------
    summary : mapping
        A :func:`summarise` result.
    metrics : sequence of str, optional
        Columns, in order.
    labels : mapping, optional
        Display names of the methods (default: the recorded names).

    Returns
    -------
    str
        The table, ending with a newline.
    """
    labels = labels or {}
    header = ["method", "counts (%)", *(METRICS.get(metric, metric) for metric in metrics)]
    rows = []
    for method, by_level in summary.items():
        for level, entries in by_level.items():
            cells = [labels.get(method, method), f"{level:g}"]
            for metric in metrics:
                value = entries.get(metric)
                digits = _REGISTRY[metric].digits if metric in _REGISTRY else 1
                cells.append("–" if value is None else value.format(digits))
            rows.append(cells)
    return markdown_rows(header, rows)


def markdown_rows(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table from a header and rows of cells (strings).

    Parameters
    ----------
    header : sequence of str
        Column names.
    rows : iterable of sequence of str
        One sequence of cells per row, as long as ``header``.

    Returns
    -------
    str
        The table, ending with a newline.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in rows:
        if len(cells) != len(header):
            raise ValueError(f"rows: {len(cells)} cells for {len(header)} columns: {cells!r}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
