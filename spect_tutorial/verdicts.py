"""Verdicts that can fail: the study's findings judged at matched noise, with controls.

Science reference, section 9: a finding is only worth printing if its criterion
would reject a method that should not pass. Every function here therefore takes
the method to judge as an argument, and :func:`verdict_table` applies each
criterion to the method *and* to a control, which must be rejected:

* OSEM without a filter (the benchmark's ``noisy``: 4 iterations x 8 subsets),
  which removes no noise, so it must not "remove more noise" or "keep the wall
  better";
* where it makes sense, a deliberately over-smoothed Gaussian (3-D, 20 mm),
  which removes much noise but fills defects and thickens walls.

The comparisons are *paired per patient*: a quantity is averaged over the
patient's realizations, the method's value is compared with the comparator's on
the same patient, and the Student-t 95 % interval is taken over patients
(:func:`spect_tutorial.results.estimate`).

Matched noise
-------------
A filter family (:data:`spect_tutorial.tradeoff.FAMILIES`) gives, for each
patient, a curve of (ensemble noise, quantity) over its settings. The family's
value at the method's noise is interpolated linearly between the two settings
whose noise brackets it. A method whose noise lies outside a patient's curve
cannot be compared on that patient: the verdict is then "not comparable",
never a silent pass.

Verdict words
-------------
``"pass"``: the whole 95 % interval lies on the finding's side.
:data:`VOID`: in :func:`verdict_table`, when the control passes the same
criterion, the method's verdict is void whatever its value.
``"fail"``: it does not (the interval straddles the limit or lies on the wrong
side). ``"not comparable"``: a patient's noise lies outside the curve, or fewer
than two patients can be compared. A control is *rejected* unless its verdict is
``"pass"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .results import Estimate, estimate

__all__ = [
    "CONTROL",
    "DEFECT_MARGIN",
    "OVERSMOOTHED",
    "VOID",
    "WALL_FAILED_MARGIN",
    "Verdict",
    "defect_safety_by",
    "interpolate_at_noise",
    "judge_curve_at",
    "judge_defect_safety",
    "judge_matched",
    "judge_noise",
    "judge_paired_ratio",
    "setting_at_noise",
    "verdict_markdown",
    "verdict_table",
]

#: The control every criterion is applied to: OSEM 4 x 8 without a filter (= ``noisy``).
CONTROL: tuple[str, float] = ("osem", 4.0)

#: The over-smoothed control: a 3-D Gaussian of 20 mm FWHM.
OVERSMOOTHED: tuple[str, float] = ("gaussian_3d", 20.0)

#: Largest paired defect error (defect ratio - ideal image's) that counts as "safe":
#: two percentage points of normal uptake, about 7 % of a 30 % defect's contrast.
DEFECT_MARGIN = 0.02

#: The verdict of a criterion that its control passes: it cannot fail, so it says nothing.
VOID = "void (the control passes too)"

#: A wall verdict needs no more failed profile fits (of 108) than the comparator plus this.
WALL_FAILED_MARGIN = 1.0

MethodKey = str | tuple[str, float | None]
Values = Mapping[tuple[str, float | None], Mapping[int, Mapping[str, float]]]


def _key(method: MethodKey) -> tuple[str, float | None]:
    if isinstance(method, str):
        return (method, None)
    name, setting = method
    return (str(name), None if setting is None else float(setting))


def _label(method: MethodKey) -> str:
    name, setting = _key(method)
    return name if setting is None else f"{name} {setting:g}"


@dataclass(frozen=True)
class Verdict:
    """One criterion applied to one method at one count level.

    Attributes
    ----------
    method : str
        The judged method (``"family setting"`` for a sweep member).
    criterion : str
        What must hold, in words.
    value : Estimate
        The judged quantity: mean over patients and 95 % interval.
    verdict : str
        ``"pass"``, ``"fail"`` or ``"not comparable"``.
    n_outside : int
        Patients whose noise lies outside the comparator's curve.
    per_patient : dict of int to float
        The paired quantity of each comparable patient.
    note : str
        Why a verdict is not "pass" when the interval alone does not say it.
    """

    method: str
    criterion: str
    value: Estimate
    verdict: str
    n_outside: int = 0
    per_patient: dict[int, float] = field(default_factory=dict)
    note: str = ""

    @property
    def passed(self) -> bool:
        """``True`` only for ``"pass"``."""
        return self.verdict == "pass"


def interpolate_at_noise(
    noise: Sequence[float], values: Sequence[float], at: float
) -> float | None:
    """A family's curve, linearly interpolated at one noise value.

    Parameters
    ----------
    noise : sequence of float
        Ensemble noise of each setting of one patient's curve.
    values : sequence of float
        The quantity at each setting (same order).
    at : float
        The method's noise.

    Returns
    -------
    float or None
        ``None`` when ``at`` lies outside the curve's noise range (no
        extrapolation) or the curve has fewer than two settings.
    """
    x = np.asarray(noise, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"noise and values must be 1-D of one length, got {x.shape}, {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or not math.isfinite(at):
        return None
    tolerance = 1e-9 * max(1.0, float(np.abs(x).max()))
    if not x.min() - tolerance <= at <= x.max() + tolerance:
        return None
    order = np.argsort(x, kind="stable")
    return float(np.interp(at, x[order], y[order]))


def _verdict(
    method: MethodKey,
    criterion: str,
    per_patient: dict[int, float],
    *,
    below: float | None = None,
    n_outside: int = 0,
    note: str = "",
) -> Verdict:
    value = estimate(list(per_patient.values()))
    if n_outside or value.n < 2:
        word = "not comparable"
        if not note:
            note = (
                f"{n_outside} patient(s) outside the curve's noise range or without a curve"
                if n_outside
                else "fewer than two patients"
            )
    elif note:
        word = "fail"
    else:
        word = "pass" if below is not None and value.high < below else "fail"
    return Verdict(_label(method), criterion, value, word, n_outside, per_patient, note)


def judge_noise(
    values: Values, method: MethodKey, baseline: MethodKey = "gaussian_optimal"
) -> Verdict:
    """Finding 1: less ensemble noise than the baseline, paired per patient.

    Parameters
    ----------
    values : mapping
        :func:`spect_tutorial.tradeoff.patient_values` at one count level.
    method, baseline : str or (family, setting)
        Point method name, or a sweep member such as ``("osem", 4.0)``.

    Returns
    -------
    Verdict
        Value: the ratio of ensemble noise method / baseline; pass when its
        whole interval lies below 1.
    """
    return judge_paired_ratio(values, method, baseline, quantity="noise")


def judge_paired_ratio(
    values: Values, method: MethodKey, baseline: MethodKey, *, quantity: str
) -> Verdict:
    """A quantity of ``method`` over ``baseline``'s on the same patient; pass below 1.

    ``values``, ``method`` and ``baseline`` as for :func:`judge_noise`;
    ``quantity`` is one of :data:`spect_tutorial.tradeoff.QUANTITIES`.
    """
    mine, theirs = values.get(_key(method), {}), values.get(_key(baseline), {})
    ratios = {
        patient: mine[patient][quantity] / theirs[patient][quantity]
        for patient in mine
        if patient in theirs
        and quantity in mine[patient]
        and theirs[patient].get(quantity, 0.0) != 0.0
    }
    return _verdict(
        method, f"{quantity} / {_label(baseline)}'s: whole 95 % interval < 1", ratios, below=1.0
    )


def _curve(
    values: Values, family: str, patient: int, quantity: str | None
) -> tuple[list, list]:
    """A patient's curve: ensemble noise and ``quantity`` (or, for None, the setting)."""
    noise, quantities = [], []
    for (name, setting), by_patient in values.items():
        if name != family or setting is None or patient not in by_patient:
            continue
        entry = by_patient[patient]
        if "noise" in entry and (quantity is None or quantity in entry):
            noise.append(entry["noise"])
            quantities.append(setting if quantity is None else entry[quantity])
    return noise, quantities


def judge_matched(
    values: Values,
    method: MethodKey,
    family: str,
    quantity: str,
    *,
    absolute: bool = False,
    reference: float = 0.0,
    patients: Iterable[int] | None = None,
) -> Verdict:
    """Method minus filter family at the method's own ensemble noise, paired per patient.

    For each patient the family's curve of ``quantity`` against ensemble noise
    is interpolated at the method's noise (:func:`interpolate_at_noise`). The
    paired difference is ``q_method - q_family``, or with ``absolute``
    ``|q_method - reference| - |q_family - reference|`` (closer to the
    reference is better, e.g. the wall error's distance to 0 = the ideal
    image's wall). Pass: the whole 95 % interval below 0.

    Parameters
    ----------
    values : mapping
        :func:`spect_tutorial.tradeoff.patient_values` at one count level.
    method : str or (family, setting)
        The judged method.
    family : str
        Filter family name (``"gaussian_3d"``, ``"gaussian_2d"``,
        ``"butterworth"``, ``"osem"``).
    quantity : str
        ``"wall_error"``, ``"defect_error"``, ``"peak_ratio"``, ``"nrmse"`` ...
    absolute : bool, optional
        Compare distances to ``reference`` instead of signed values.
    reference : float, optional
        Target value of the quantity for ``absolute`` (0 for errors, 1 for the
        peak ratio).
    patients : iterable of int, optional
        Restrict to these patients (default every patient the method has).

    Returns
    -------
    Verdict
        ``"not comparable"`` if any patient's noise lies outside the curve.
        For the wall, also ``"fail"`` when the method's failed wall fits exceed
        the family's at matched noise by more than :data:`WALL_FAILED_MARGIN`
        on average (a method cannot win by failing).
    """
    mine = values.get(_key(method), {})
    wanted = None if patients is None else set(patients)
    differences, failed_excess, outside = {}, [], 0
    for patient, entry in mine.items():
        if (wanted is not None and patient not in wanted) or quantity not in entry:
            continue
        if "noise" not in entry:
            outside += 1
            continue
        noise, curve = _curve(values, family, patient, quantity)
        matched = interpolate_at_noise(noise, curve, entry["noise"])
        if matched is None:
            outside += 1
            continue
        own = entry[quantity]
        if absolute:
            differences[patient] = abs(own - reference) - abs(matched - reference)
        else:
            differences[patient] = own - matched
        if quantity == "wall_error" and "wall_failed" in entry:
            noise_f, failed = _curve(values, family, patient, "wall_failed")
            matched_failed = interpolate_at_noise(noise_f, failed, entry["noise"])
            if matched_failed is not None:
                failed_excess.append(entry["wall_failed"] - matched_failed)
    note = ""
    if failed_excess and float(np.mean(failed_excess)) > WALL_FAILED_MARGIN:
        note = f"{np.mean(failed_excess):.1f} more failed wall fits than the filter"
    what = f"distance of {quantity} from {reference:g}" if absolute else quantity
    criterion = f"{what}, minus {family}'s at equal noise: whole 95 % interval < 0"
    return _verdict(method, criterion, differences, below=0.0, n_outside=outside, note=note)


def judge_curve_at(values: Values, family: str, point: MethodKey, quantity: str) -> Verdict:
    """A family's curve at ``point``'s own ensemble noise, minus ``point``, paired per patient.

    The mirror of :func:`judge_matched`: instead of asking what a filter would
    do at a method's noise, it asks what a tunable method (a filter family, or a
    network blended with OSEM, :data:`spect_tutorial.tradeoff.NETWORK_STRENGTH`)
    does when tuned to remove exactly as much noise as ``point`` (for example
    the optimal Gaussian). Pass: the whole 95 % interval below 0 (the curve is
    lower there, e.g. a smaller defect error).

    Parameters
    ----------
    values : mapping
        :func:`spect_tutorial.tradeoff.patient_values` at one count level.
    family : str
        The swept family.
    point : str or (family, setting)
        The method whose noise the family is tuned to.
    quantity : str
        ``"defect_error"``, ``"nrmse"`` ...

    Returns
    -------
    Verdict
        ``"not comparable"`` if any patient's noise lies outside the curve.
    """
    matched = judge_matched(values, point, family, quantity)
    differences = {patient: -value for patient, value in matched.per_patient.items()}
    criterion = (
        f"{family}'s {quantity} at {_label(point)}'s noise, minus its: whole 95 % interval < 0"
    )
    return _verdict(family, criterion, differences, below=0.0, n_outside=matched.n_outside)


def setting_at_noise(values: Values, family: str, point: MethodKey) -> Estimate:
    """The family's setting that removes as much noise as ``point``, per patient.

    Linear in ensemble noise between the swept settings (e.g. the network
    strength, or a Gaussian's FWHM in mm); mean and 95 % interval over the
    patients whose noise lies on the curve.
    """
    settings = []
    for patient, entry in values.get(_key(point), {}).items():
        noise, swept = _curve(values, family, patient, None)
        matched = interpolate_at_noise(noise, swept, entry["noise"]) if "noise" in entry else None
        if matched is not None:
            settings.append(matched)
    return estimate(settings)


def judge_defect_safety(
    values: Values, method: MethodKey, *, margin: float = DEFECT_MARGIN
) -> Verdict:
    """Finding 5: the defect is not made shallower than the ideal image's by ``margin`` or more.

    Parameters
    ----------
    values, method
        As for :func:`judge_matched`.
    margin : float, optional
        Largest tolerated paired defect error (default :data:`DEFECT_MARGIN`).

    Returns
    -------
    Verdict
        Value: the paired defect error (image's defect ratio minus the ideal
        image's, per patient with a defect); pass when the whole interval lies
        below ``margin``. The control here is the over-smoothed Gaussian: OSEM
        without a filter is the unbiased reference for contrast.
    """
    mine = values.get(_key(method), {})
    errors = {p: e["defect_error"] for p, e in mine.items() if "defect_error" in e}
    return _verdict(
        method,
        f"paired defect error: whole 95 % interval < {margin:g}",
        errors,
        below=float(margin),
    )


def defect_safety_by(
    records: Iterable[Mapping[str, Any]],
    method: MethodKey,
    count_level: float,
    *,
    field: str = "territory",
    margin: float = DEFECT_MARGIN,
) -> dict[str, Verdict]:
    """:func:`judge_defect_safety` separately for each value of a record field.

    Defect safety does not transfer between coronary territories (science
    reference, section 9): a network can fill a lateral defect and keep an
    anterior one. Records that carry ``field`` (e.g. the territory patients'
    ``"territory"``) are grouped by it and judged per group.

    Parameters
    ----------
    records : iterable of mapping
        Benchmark-style records with ``defect_ratio`` and ``defect_ratio_ideal``.
    method : str or (family, setting)
        The judged method.
    count_level : float
        Count level in percent.
    field : str, optional
        Grouping field (default ``"territory"``).
    margin : float, optional
        As for :func:`judge_defect_safety`.

    Returns
    -------
    dict of str to Verdict
        Group value -> verdict, in order of first appearance; empty when no
        record has ``field``.
    """
    from .tradeoff import patient_values

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get(field) is not None:
            groups.setdefault(str(record[field]), []).append(record)
    return {
        group: judge_defect_safety(patient_values(rows, count_level), method, margin=margin)
        for group, rows in groups.items()
    }


# --- the table --------------------------------------------------------------------------

_MATCHED_FAMILIES = ("gaussian_3d", "gaussian_2d", "butterworth")


def verdict_table(
    tradeoff_records: Iterable[Mapping[str, Any]],
    count_level: float,
    method: str,
    *,
    benchmark_records: Iterable[Mapping[str, Any]] | None = None,
    families: Sequence[str] = _MATCHED_FAMILIES,
) -> list[dict[str, Any]]:
    """Every finding's verdict for a method at one count level, with the control's.

    Parameters
    ----------
    tradeoff_records : iterable of mapping
        Records of ``python -m spect_tutorial.tradeoff``.
    count_level : float
        Count level in percent.
    method : str
        Point method to judge (e.g. ``"win5rb_n2n_paper"``).
    benchmark_records : iterable of mapping, optional
        Records of ``python -m spect_tutorial.benchmark``, for finding 4 (NRMSE
        against the clinical Butterworth, every image of the benchmark) and the
        NRMSE ratio shown beside finding 1; without them finding 4 uses the
        trade-off records' Butterworth at 0.41 cycles/cm.
    families : sequence of str, optional
        Families of the matched-noise wall comparison (finding 2).

    Returns
    -------
    list of dict
        One row per criterion: ``finding``, ``criterion``, ``value``
        (:class:`~spect_tutorial.results.Estimate`), ``verdict``, ``control``
        (the control's :class:`Verdict`), ``control_name``, ``result`` (the
        method's :class:`Verdict`), ``beside`` (an extra estimate or None) and
        ``beside_label`` (what it is).
    """
    from .results import paired_ratio
    from .tradeoff import patient_values

    values = patient_values(tradeoff_records, count_level)
    control, smooth = CONTROL, OVERSMOOTHED
    rows: list[dict[str, Any]] = []

    def add(
        finding: str, judge: Any, control_key: MethodKey, beside: Any = None, aside: str = ""
    ) -> None:
        result, against = judge(method), judge(control_key)
        rows.append(
            {
                "finding": finding,
                "criterion": result.criterion,
                "value": result.value,
                "verdict": VOID if against.passed else result.verdict,
                "result": result,
                "control": against,
                "control_name": _label(control_key),
                "beside": beside,
                "beside_label": aside,
            }
        )

    nrmse_beside = None
    if benchmark_records is not None:
        benchmark_records = list(benchmark_records)
        nrmse_beside = paired_ratio(
            benchmark_records, method, "gaussian_optimal", count_level=count_level
        )
    add(
        "1 more noise removed",
        lambda m: judge_noise(values, m),
        control,
        nrmse_beside,
        "NRMSE / optimal Gaussian's",
    )
    for family in families:
        add(
            f"2 wall at equal noise vs {family}",
            lambda m, f=family: judge_matched(values, m, f, "wall_error", absolute=True),
            control,
        )
    add(
        "3 profile peak at equal noise vs gaussian_3d",
        lambda m: judge_matched(
            values, m, "gaussian_3d", "peak_ratio", absolute=True, reference=1.0
        ),
        control,
        beside=_plain(values, method, "peak_ratio"),
        aside="mean peak ratio",
    )
    if benchmark_records is not None:
        bench = benchmark_records

        def finding_4(m: MethodKey) -> Verdict:
            name = "noisy" if _key(m) == CONTROL else _key(m)[0]
            ratio = _per_patient_ratio(bench, name, "butterworth", count_level)
            return _verdict(
                m, "NRMSE / clinical Butterworth's: whole 95 % interval < 1", ratio, below=1.0
            )
    else:

        def finding_4(m: MethodKey) -> Verdict:
            return judge_paired_ratio(values, m, ("butterworth", 0.41), quantity="nrmse")

    add("4 beats the fixed-parameter Butterworth", finding_4, control)
    add(
        "5 defect safety",
        lambda m: judge_defect_safety(values, m),
        smooth,
        beside=judge_matched(values, method, "gaussian_3d", "defect_error").value,
        aside="minus gaussian_3d's at equal noise",
    )
    return rows


def _plain(values: Values, method: MethodKey, quantity: str) -> Estimate:
    entries = values.get(_key(method), {})
    return estimate([e[quantity] for e in entries.values() if quantity in e])


def _per_patient_ratio(
    records: Iterable[Mapping[str, Any]], method: str, baseline: str, count_level: float
) -> dict[int, float]:
    level = float(count_level)
    pairs: dict[tuple[int, int], dict[str, float]] = {}
    for record in records:
        if float(record["count_level"]) != level or record["method"] not in (method, baseline):
            continue
        key = (int(record["phantom"]), int(record["realization"]))
        pairs.setdefault(key, {})[str(record["method"])] = float(record["nrmse"])
    per_patient: dict[int, list[float]] = {}
    for (patient, _), pair in sorted(pairs.items()):
        if method in pair and baseline in pair and pair[baseline] != 0:
            per_patient.setdefault(patient, []).append(pair[method] / pair[baseline])
    return {patient: float(np.mean(v)) for patient, v in per_patient.items()}


def verdict_markdown(rows: Sequence[Mapping[str, Any]], *, digits: int = 3) -> str:
    """The verdict rows as a Markdown table (finding, criterion, value, interval, verdicts).

    Parameters
    ----------
    rows : sequence of mapping
        :func:`verdict_table` rows.
    digits : int, optional
        Decimals of the values.

    Returns
    -------
    str
        The table, ending with a newline.
    """
    from .results import markdown_rows

    header = [
        "finding",
        "criterion",
        "value",
        "95 % interval",
        "n",
        "verdict",
        "control",
        "beside",
    ]
    lines = []
    for row in rows:
        value: Estimate = row["value"]
        interval = "–" if value.n < 2 else f"[{value.low:.{digits}f}, {value.high:.{digits}f}]"
        mean = "–" if value.n == 0 else f"{value.mean:.{digits}f}"
        verdict = row["verdict"]
        if row["result"].note:
            verdict += f" ({row['result'].note})"
        control = row["control"]
        lines.append(
            [
                row["finding"],
                row["criterion"],
                mean,
                interval,
                str(value.n),
                verdict,
                f"{row['control_name']}: {control.verdict}"
                + ("" if control.passed else " (rejected)"),
                _beside(row, digits),
            ]
        )
    return markdown_rows(header, lines)


def _beside(row: Mapping[str, Any], digits: int) -> str:
    value = row.get("beside")
    if value is None or not value.n:
        return ""
    return f"{row.get('beside_label', '')}: {value.format(digits)}"
