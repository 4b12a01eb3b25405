"""Defect safety by coronary territory: paired defect errors from the territory records.

``python -m spect_tutorial.benchmark --protocol territory`` images the
defect-safety patients of :data:`~spect_tutorial.protocol.TERRITORY_PHANTOMS`
(one defect in each coronary territory at 25 % and 50 % uptake loss) with every
benchmark method and appends one record per image to
``data/benchmark/territory.jsonl``. This module turns those records into the
table and the figure of the "Beyond the study" chapter and the README.

Statistics (science reference, section 9)
-----------------------------------------
The *defect error* of an image is its defect ratio (defect mean over the normal
wall's mean) minus the ideal image's, paired per image: positive means the
defect looks shallower than it should (filled in). The errors of one patient's
realizations are averaged first; the table gives the mean over the patients of
a territory (both severities) and its Student-t 95 % interval
(:func:`spect_tutorial.results.estimate`). With two patients per territory the
interval has one degree of freedom and is wide; the "all territories" row pools
every patient. The paired *difference* between two methods (e.g. the network's
error minus the optimal Gaussian's) is formed per image before averaging.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .protocol import TERRITORIES
from .results import (
    Estimate,
    defect_ratio_error,
    derived,
    estimate,
    markdown_rows,
    paired_ratio,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "ALL_TERRITORIES",
    "GAUSSIAN_TOLERANCE",
    "IDEAL_TOLERANCE",
    "NRMSE_RATIO_TARGET",
    "README_METHODS",
    "NetworkSafety",
    "network_safety",
    "territory_difference",
    "territory_error",
    "territory_errors",
    "territory_markdown",
    "territory_readme_table",
    "write_territory_summary",
]

#: Name of the row that pools every territory.
ALL_TERRITORIES = "all territories"

#: Methods of the README's territory table, with the paired column network - Gaussian.
README_METHODS: tuple[str, ...] = (
    "noisy",
    "gaussian_optimal",
    "butterworth",
    "win5rb_n2n_paper",
    "bm4d",
)

#: Defect-safety target of a network (issue 14, science reference section 9): its paired
#: defect error, pooled over territories, within this of the ideal image's ...
IDEAL_TOLERANCE = 0.02
#: ... or no more than this above the optimal Gaussian's (paired per image).
GAUSSIAN_TOLERANCE = 0.01
#: Noise-removal target of a network (issue 14): paired NRMSE at most this times the
#: optimal Gaussian's (the stretch targets are 0.75 at 100 % and 0.70 at 25 % counts).
NRMSE_RATIO_TARGET = 0.80

_README_START = "<!-- territory:start -->"
_README_END = "<!-- territory:end -->"


def _check_territory(territory: str) -> str:
    if territory != ALL_TERRITORIES and territory not in TERRITORIES:
        raise ValueError(
            f"territory must be one of {[*TERRITORIES, ALL_TERRITORIES]}, got {territory!r}"
        )
    return territory


def _of_territory(records: Iterable[Mapping[str, Any]], territory: str) -> list[Mapping[str, Any]]:
    territory = _check_territory(territory)
    return [
        record
        for record in records
        if territory == ALL_TERRITORIES or record.get("territory") == territory
    ]


def _methods_and_levels(
    records: Sequence[Mapping[str, Any]],
    methods: Sequence[str] | None,
    count_levels: Sequence[float] | None,
) -> tuple[list[str], list[float]]:
    """The given methods and levels, or those recorded (methods in order of appearance)."""
    if methods is None:
        methods = list(dict.fromkeys(str(r["method"]) for r in records))
    if count_levels is None:
        count_levels = sorted({float(r["count_level"]) for r in records})
    return list(methods), [float(v) for v in count_levels]


def territory_error(
    records: Iterable[Mapping[str, Any]], method: str, territory: str, count_level: float
) -> Estimate:
    """Paired defect error of one method in one territory at one count level.

    Parameters
    ----------
    records : iterable of mapping
        Territory records (:func:`spect_tutorial.results.load_records`).
    method : str
        Method name as recorded.
    territory : str
        A key of :data:`~spect_tutorial.protocol.TERRITORIES` or :data:`ALL_TERRITORIES`.
    count_level : float
        Count level in percent.

    Returns
    -------
    Estimate
        Mean over patients (realizations averaged per patient) of the image's
        defect ratio minus the ideal image's, with its 95 % interval; ``n = 0``
        when nothing was recorded.
    """
    return derived(
        _of_territory(records, territory),
        method,
        count_level=count_level,
        function=defect_ratio_error,
    )


def territory_difference(
    records: Iterable[Mapping[str, Any]],
    method: str,
    baseline: str,
    territory: str,
    count_level: float,
) -> Estimate:
    """Paired difference of defect errors, ``method`` minus ``baseline``, per image.

    Positive: ``method`` leaves the defect shallower than ``baseline`` does. The
    ideal image's defect ratio cancels, so this is the difference of the two
    images' defect ratios, averaged per patient, then over patients.

    Parameters
    ----------
    records : iterable of mapping
        Territory records holding both methods.
    method, baseline : str
        Method names as recorded.
    territory, count_level
        As for :func:`territory_error`.

    Returns
    -------
    Estimate
        ``n = 0`` when the two methods share no image.
    """
    level = float(count_level)
    pairs: dict[tuple[int, int], dict[str, float]] = {}
    for record in _of_territory(records, territory):
        if float(record["count_level"]) != level or record["method"] not in (method, baseline):
            continue
        error = defect_ratio_error(record)
        if error is not None:
            key = (int(record["phantom"]), int(record["realization"]))
            pairs.setdefault(key, {})[str(record["method"])] = error
    per_patient: dict[int, list[float]] = {}
    for (patient, _), pair in sorted(pairs.items()):
        if method in pair and baseline in pair:
            per_patient.setdefault(patient, []).append(pair[method] - pair[baseline])
    return estimate([sum(values) / len(values) for values in per_patient.values()])


def territory_errors(
    records: Sequence[Mapping[str, Any]],
    *,
    methods: Sequence[str] | None = None,
    count_levels: Sequence[float] | None = None,
) -> dict[tuple[str, str, float], Estimate]:
    """Paired defect error for every method x territory x count level present in the records.

    Parameters
    ----------
    records : sequence of mapping
        Territory records.
    methods : sequence of str, optional
        Default: every method recorded, in order of first appearance.
    count_levels : sequence of float, optional
        Default: every level recorded, ascending.

    Returns
    -------
    dict
        ``(method, territory, count_level) -> Estimate``; territories in the order
        of :data:`~spect_tutorial.protocol.TERRITORIES`, then :data:`ALL_TERRITORIES`.
        Combinations without a record are left out.
    """
    methods, levels = _methods_and_levels(records, methods, count_levels)
    table = {}
    for method in methods:
        for territory in (*TERRITORIES, ALL_TERRITORIES):
            for level in levels:
                value = territory_error(records, method, territory, level)
                if value.n:
                    table[method, territory, level] = value
    return table


@dataclass(frozen=True)
class NetworkSafety:
    """A network judged on the territory patients at one count level.

    Attributes
    ----------
    network, baseline : str
        Method names as recorded (the baseline is the optimal Gaussian).
    count_level : float
        Count level in percent.
    nrmse_ratio : Estimate
        Paired NRMSE ratio network / baseline (below 1: closer to the ideal image).
    defect_error : Estimate
        The network's paired defect error (defect ratio minus the ideal image's),
        pooled over every territory; positive means a shallower defect.
    difference : Estimate
        Network minus baseline defect error, paired per image, pooled.
    by_territory : dict
        ``territory -> Estimate`` of the same difference in each territory.
    error_by_territory : dict
        ``territory -> Estimate`` of the network's own defect error in each territory.
    """

    network: str
    baseline: str
    count_level: float
    nrmse_ratio: Estimate
    defect_error: Estimate
    difference: Estimate
    by_territory: dict[str, Estimate]
    error_by_territory: dict[str, Estimate] = field(default_factory=dict)

    @property
    def safe(self) -> bool:
        """The target on the means: within :data:`IDEAL_TOLERANCE` of the ideal image's
        defect ratio, or at most :data:`GAUSSIAN_TOLERANCE` above the baseline's error."""
        return bool(
            abs(self.defect_error.mean) <= IDEAL_TOLERANCE
            or self.difference.mean <= GAUSSIAN_TOLERANCE
        )

    @property
    def territories_missed(self) -> tuple[str, ...]:
        """Territories (with records) where the target misses on that territory's means.

        The issue asks for defect safety in *every* territory; with two patients
        per territory the intervals are wide, so this is a warning, not a verdict.
        """
        missed = []
        for name, difference in self.by_territory.items():
            error = self.error_by_territory.get(name)
            if not difference.n:
                continue
            near_ideal = error is not None and abs(error.mean) <= IDEAL_TOLERANCE
            if not (near_ideal or difference.mean <= GAUSSIAN_TOLERANCE):
                missed.append(name)
        return tuple(missed)

    @property
    def closer(self) -> bool:
        """The noise-removal target on the mean: paired NRMSE ratio at most
        :data:`NRMSE_RATIO_TARGET` (an unfiltered OSEM image, about 1.2, misses it)."""
        return bool(self.nrmse_ratio.mean <= NRMSE_RATIO_TARGET)


def network_safety(
    records: Sequence[Mapping[str, Any]],
    network: str,
    count_level: float,
    *,
    baseline: str = "gaussian_optimal",
) -> NetworkSafety:
    """Judge a network's defect safety and noise removal on territory records.

    The same statistics as the territory table (realizations averaged per patient,
    Student-t 95 % interval over patients); used to compare candidate networks
    (longer training, 2.5D input) before one is shipped.

    Parameters
    ----------
    records : sequence of mapping
        Territory records holding ``network`` and ``baseline`` at ``count_level``.
    network : str
        The network's method name as recorded.
    count_level : float
        Count level in percent.
    baseline : str, optional
        The method it must not fill defects more than (default the optimal Gaussian).

    Returns
    -------
    NetworkSafety

    Raises
    ------
    ValueError
        If the records hold no image with both methods at that level.
    """
    level = float(count_level)
    difference = territory_difference(records, network, baseline, ALL_TERRITORIES, level)
    if not difference.n:
        raise ValueError(
            f"records: no image holds both {network!r} and {baseline!r} at {level:g} % counts"
        )
    return NetworkSafety(
        network=network,
        baseline=baseline,
        count_level=level,
        nrmse_ratio=paired_ratio(records, network, baseline, count_level=level),
        defect_error=territory_error(records, network, ALL_TERRITORIES, level),
        difference=difference,
        by_territory={
            name: territory_difference(records, network, baseline, name, level)
            for name in TERRITORIES
        },
        error_by_territory={
            name: territory_error(records, network, name, level) for name in TERRITORIES
        },
    )


def _cell(value: Estimate) -> str:
    if not value.n:
        return "–"
    return f"{value.format(3)} ({value.n})"


def territory_markdown(
    records: Sequence[Mapping[str, Any]],
    *,
    methods: Sequence[str] | None = None,
    count_levels: Sequence[float] | None = None,
    labels: Mapping[str, str] | None = None,
    network: str | None = "win5rb_n2n_paper",
    baseline: str = "gaussian_optimal",
) -> str:
    """Markdown table: one row per territory and count level, one column per method.

    Parameters
    ----------
    records : sequence of mapping
        Territory records.
    methods : sequence of str, optional
        Columns (default every method recorded).
    count_levels : sequence of float, optional
        Default every level recorded.
    labels : mapping, optional
        Display names of the methods.
    network, baseline : str, optional
        A last column with the paired difference ``network - baseline`` (positive:
        the network leaves the defect shallower); ``network=None`` leaves it out.

    Returns
    -------
    str
        Cells "mean ± 95 % half-width (number of patients)", ending with a newline.
    """
    labels = labels or {}
    methods, levels = _methods_and_levels(records, methods, count_levels)
    recorded = {str(r["method"]) for r in records}
    paired = network is not None and {network, baseline} <= recorded
    header = ["territory", "counts (%)", *(labels.get(m, m) for m in methods)]
    if paired:
        header.append(f"paired: {network} − {baseline}")
    rows = []
    for territory in (*TERRITORIES, ALL_TERRITORIES):
        for level in levels:
            cells = [territory, f"{level:g}"]
            cells += [_cell(territory_error(records, m, territory, level)) for m in methods]
            if paired:
                cells.append(
                    _cell(territory_difference(records, network, baseline, territory, level))
                )
            rows.append(cells)
    return markdown_rows(header, rows)


def territory_readme_table(
    records: Sequence[Mapping[str, Any]], *, results_name: str = "territory.jsonl"
) -> str:
    """The README's territory block, generated from the territory records.

    Parameters
    ----------
    records : sequence of dict
        Records of the territory patients, of one acquisition.
    results_name : str, optional
        Their file name in ``data/benchmark`` (``territory_v2.jsonl`` for the v2
        acquisition), named in the block with the command that writes it.
    """
    from .methods import method_labels

    recorded = {str(r["method"]) for r in records}
    patients = len({int(r["phantom"]) for r in records})
    acquisitions = {str(r.get("acquisition", "v1")) for r in records}
    option = "".join(f" --acquisition {name}" for name in sorted(acquisitions - {"v1"}))
    return (
        "Defect-safety patients of `spect_tutorial.protocol.TERRITORY_PHANTOMS` "
        f"({patients} with records so far); paired defect error = the image's defect ratio "
        "minus the ideal image's (positive: the defect looks shallower), mean ± 95 % "
        "half-width over patients (realizations averaged per patient first; number of "
        "patients in brackets). Generated by "
        f"`python -m spect_tutorial.benchmark --protocol territory{option} --readme README.md` "
        f"from `data/benchmark/{results_name}`.\n\n"
        + territory_markdown(
            records,
            methods=[m for m in README_METHODS if m in recorded],
            labels=method_labels(),
        )
    )


def write_territory_summary(
    results: str | os.PathLike[str], *, readme: str | os.PathLike[str] | None = None
) -> Path:
    """Regenerate ``<stem>_summary.json`` and ``.md`` beside the territory records.

    For ``territory.jsonl`` that is ``territory_summary.json``; records of the
    tuning patients (``tuning.jsonl``) get ``tuning_summary.json``, so neither
    overwrites the other.

    Parameters
    ----------
    results : str or os.PathLike
        The territory JSON Lines records.
    readme : str or os.PathLike, optional
        A Markdown file whose block between ``<!-- territory:start -->`` and
        ``<!-- territory:end -->`` is replaced with :func:`territory_readme_table`.

    Returns
    -------
    pathlib.Path
        The ``<stem>_summary.json`` path.
    """
    from ._files import write_file_atomically, write_json
    from .methods import method_labels
    from .readme import update_readme
    from .results import load_records

    results = Path(results)
    records = load_records(results)
    rows = [
        {"method": method, "territory": territory, "count_level": level, **value.as_dict()}
        for (method, territory, level), value in territory_errors(records).items()
    ]
    document = {
        "results": results.name,
        "records": len(records),
        "command": "python -m spect_tutorial.benchmark --protocol territory",
        "quantity": "defect ratio minus the ideal image's, paired per image",
        "statistics": "mean over patients (realizations averaged per patient) and Student-t "
        "95 % confidence interval",
        "rows": rows,
    }
    json_path = write_json(
        results.with_name(f"{results.stem}_summary.json"), document, indent=1, overwrite=True
    )
    table = territory_markdown(records, labels=method_labels())
    write_file_atomically(json_path.with_suffix(".md"), table.encode(), overwrite=True)
    if readme is not None:
        update_readme(
            Path(readme),
            territory_readme_table(records, results_name=results.name),
            start=_README_START,
            end=_README_END,
        )
    return json_path


def readme_territory_block(path: str | os.PathLike[str]) -> str:
    """The text currently between the README's territory markers."""
    from .readme import readme_block

    return readme_block(path, start=_README_START, end=_README_END)


def plot_territory_errors(
    records: Sequence[Mapping[str, Any]],
    *,
    methods: Sequence[str],
    count_levels: Sequence[float],
    labels: Mapping[str, str] | None = None,
    ncols: int = 3,
) -> Figure:
    """Paired defect error per territory, one panel per count level, methods side by side.

    Parameters
    ----------
    records : sequence of mapping
        Territory records.
    methods : sequence of str
        Methods to show (those without records are left out).
    count_levels : sequence of float
        One panel each.
    labels : mapping, optional
        Display names of the methods.
    ncols : int, optional
        Panels per row (default 3).

    Returns
    -------
    matplotlib.figure.Figure
        Points: mean over patients; bars: 95 % interval; the zero line is the
        ideal image's defect depth.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1, got {ncols!r}")
    levels = [float(v) for v in count_levels]
    if not levels:
        raise ValueError("count_levels must name at least one count level (percent)")
    labels = labels or {}
    recorded = {str(r["method"]) for r in records}
    shown = [m for m in methods if m in recorded]
    territories = [*TERRITORIES, ALL_TERRITORIES]
    ncols = min(ncols, len(levels))
    nrows = -(-len(levels) // ncols)
    figure, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(4.6 * ncols, 9.0), 3.9 * nrows),
        layout="constrained",
        sharey=True,
        squeeze=False,
    )
    positions = np.arange(len(territories))
    width = 0.8 / max(len(shown), 1)
    for axis, level in zip(axes.flat, levels, strict=False):
        for number, method in enumerate(shown):
            values = [territory_error(records, method, t, level) for t in territories]
            offset = (number - (len(shown) - 1) / 2) * width
            axis.errorbar(
                positions + offset,
                [v.mean for v in values],
                yerr=[[v.mean - v.low for v in values], [v.high - v.mean for v in values]],
                fmt="o",
                markersize=4,
                capsize=2,
                label=labels.get(method, method),
            )
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.axvline(len(TERRITORIES) - 0.5, color="0.6", linewidth=0.8, linestyle=":")
        axis.set_xticks(positions, territories, rotation=35, ha="right")
        axis.set_title(f"{level:g} % counts")
    for axis in axes[:, 0]:
        axis.set_ylabel("defect ratio − ideal's")
    for axis in list(axes.flat)[len(levels) :]:
        axis.set_axis_off()
    handles, names = axes.flat[0].get_legend_handles_labels()
    spare = list(axes.flat)[len(levels) :]
    if spare:
        spare[0].legend(handles, names, loc="center", frameon=False)
    else:
        figure.legend(handles, names, loc="outside lower center", ncols=min(len(shown), 3))
    return figure
