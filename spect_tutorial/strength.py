"""Choosing a network's strength on tuning patients, then judging it once on others.

A network trained with a squared error removes more noise, and fills more of a
perfusion defect, than the optimal Gaussian (the "Beyond" chapter). Blending its
output with the OSEM image it was given (:func:`spect_tutorial.inference.blend`,
strength 0 = OSEM, 1 = the network) moves it back along its own trade-off curve.
Which strength to use is a setting like a Gaussian's FWHM, and like any setting
it must be chosen on patients other than those it is judged on, or the judgement
flatters it.

The rule (fixed before the judged patients are looked at): on the *tuning*
records, a ``python -m spect_tutorial.tradeoff --families gaussian_3d
network_strength --strengths ...`` sweep of patients not in the judged protocol,
take the largest swept strength that, like every lower one, meets the defect-safety target of
:func:`spect_tutorial.territory.network_safety` (on the means: within
:data:`~spect_tutorial.territory.IDEAL_TOLERANCE` of the ideal image's defect
ratio, or at most :data:`~spect_tutorial.territory.GAUSSIAN_TOLERANCE` above the
optimal Gaussian's defect error, paired per image) at *every* count level of the
sweep. That strength is then judged once, with the same function and its 95 %
intervals, on the judged patients.

Statistics are those of :func:`spect_tutorial.territory.network_safety`: each
record of the swept strength is paired with the baseline's record of the same
image (phantom and realization), realizations are averaged per patient and the
Student-t 95 % interval is taken over patients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .territory import GAUSSIAN_TOLERANCE, NRMSE_RATIO_TARGET, NetworkSafety, network_safety
from .tradeoff import NETWORK_STRENGTH

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "StrengthChoice",
    "choose_strength",
    "plot_strength_choice",
    "strength_method",
    "strength_safety",
    "swept_strengths",
]


def strength_method(strength: float) -> str:
    """Method name of the network at one strength in :func:`strength_safety`'s pairing."""
    return f"network at strength {float(strength):g}"


def swept_strengths(records: Iterable[Mapping[str, Any]]) -> list[float]:
    """The network strengths a trade-off sweep recorded, ascending."""
    return sorted({float(r["setting"]) for r in records if r.get("family") == NETWORK_STRENGTH})


def strength_safety(
    records: Sequence[Mapping[str, Any]],
    strength: float,
    count_level: float,
    *,
    baseline: str = "gaussian_optimal",
) -> NetworkSafety:
    """:func:`~spect_tutorial.territory.network_safety` of the network at one strength.

    Parameters
    ----------
    records : sequence of mapping
        Trade-off records (:func:`spect_tutorial.results.load_records`) holding the
        :data:`~spect_tutorial.tradeoff.NETWORK_STRENGTH` sweep and ``baseline`` as
        a point.
    strength : float
        A swept strength (0..1).
    count_level : float
        Count level in percent.
    baseline : str, optional
        The point it must not fill defects more than (default the optimal Gaussian).

    Returns
    -------
    NetworkSafety
        Its ``network`` is :func:`strength_method` of ``strength``.

    Raises
    ------
    ValueError
        If ``strength`` was not swept at ``count_level`` or no image holds both.
    """
    strength = float(strength)
    level = float(count_level)
    mine = [
        {**record, "method": strength_method(strength)}
        for record in records
        if record.get("family") == NETWORK_STRENGTH
        and float(record["setting"]) == strength
        and float(record["count_level"]) == level
    ]
    if not mine:
        raise ValueError(
            f"records: strength {strength:g} was not swept at {level:g} % counts "
            f"(swept: {swept_strengths(records)})"
        )
    theirs = [
        record
        for record in records
        if record.get("family") == "point"
        and record["method"] == baseline
        and float(record["count_level"]) == level
    ]
    return network_safety([*mine, *theirs], strength_method(strength), level, baseline=baseline)


@dataclass(frozen=True)
class StrengthChoice:
    """The strength chosen on tuning records, and what it did there.

    Attributes
    ----------
    strength : float
        The largest swept strength that met the defect target at every level, as
        did every lower one.
    count_levels : tuple of float
        The count levels (%) it had to meet it at.
    table : dict
        ``(strength, count level) -> NetworkSafety`` of every swept strength.
    """

    strength: float
    count_levels: tuple[float, ...]
    table: dict[tuple[float, float], NetworkSafety]


def choose_strength(
    records: Sequence[Mapping[str, Any]],
    count_levels: Sequence[float] | None = None,
    *,
    baseline: str = "gaussian_optimal",
) -> StrengthChoice:
    """The largest swept strength that, like every lower one, is defect-safe at every level.

    Defect-safe: :attr:`~spect_tutorial.territory.NetworkSafety.safe` (the target on
    the means). Scanning upwards from the lowest strength and stopping at the first
    one that misses keeps the choice on the safe side of any wiggle in the curve.

    Parameters
    ----------
    records : sequence of mapping
        Trade-off records of the *tuning* patients (never the judged ones).
    count_levels : sequence of float, optional
        Levels (%) the strength must be safe at (default every level swept).
    baseline : str, optional
        As for :func:`strength_safety`.

    Returns
    -------
    StrengthChoice

    Raises
    ------
    ValueError
        If no strength was swept, or the lowest one (0 is OSEM itself) misses
        the target at a level.
    """
    strengths = swept_strengths(records)
    if not strengths:
        raise ValueError(f"records: no {NETWORK_STRENGTH} sweep")
    if count_levels is None:
        count_levels = sorted(
            {float(r["count_level"]) for r in records if r.get("family") == NETWORK_STRENGTH}
        )
    levels = tuple(float(level) for level in count_levels)
    table = {
        (strength, level): strength_safety(records, strength, level, baseline=baseline)
        for strength in strengths
        for level in levels
    }
    chosen = None
    for strength in strengths:  # ascending: stop at the first unsafe one
        if not all(table[strength, level].safe for level in levels):
            break
        chosen = strength
    if chosen is None:
        raise ValueError(
            f"records: the lowest swept strength {strengths[0]:g} already misses the defect "
            f"target at one of the levels {levels}"
        )
    return StrengthChoice(strength=chosen, count_levels=levels, table=table)


def plot_strength_choice(choices: Mapping[str, StrengthChoice]) -> Figure:
    """How each candidate's strength was chosen: its tuning curves against the targets.

    Parameters
    ----------
    choices : mapping
        ``label -> StrengthChoice`` (:func:`choose_strength`), one line style per
        count level and one colour per candidate.

    Returns
    -------
    matplotlib.figure.Figure
        Left: network minus optimal Gaussian defect error (paired, mean and 95 %
        interval) against strength, with the tolerance
        :data:`~spect_tutorial.territory.GAUSSIAN_TOLERANCE`; right: NRMSE over
        the Gaussian's, with :data:`~spect_tutorial.territory.NRMSE_RATIO_TARGET`.
        The chosen strength is a vertical line in the candidate's colour.
    """
    import matplotlib.pyplot as plt

    if not choices:
        raise ValueError("choices must hold at least one StrengthChoice")
    figure, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.0), layout="constrained")
    styles = ("-", "--", ":", "-.")
    for number, (label, choice) in enumerate(choices.items()):
        colour = f"C{number}"
        strengths = sorted({s for s, _ in choice.table})
        for level, style in zip(choice.count_levels, styles, strict=False):
            rows = [choice.table[s, level] for s in strengths]
            for axis, field in ((left, "difference"), (right, "nrmse_ratio")):
                values = [getattr(row, field) for row in rows]
                axis.plot(
                    strengths,
                    [v.mean for v in values],
                    style,
                    color=colour,
                    marker="o",
                    markersize=3,
                    label=f"{label}, {level:g} %",
                )
                axis.fill_between(
                    strengths,
                    [v.low for v in values],
                    [v.high for v in values],
                    color=colour,
                    alpha=0.12,
                    linewidth=0,
                )
        for axis in (left, right):
            axis.axvline(choice.strength, color=colour, linewidth=1.0, alpha=0.7)
    left.axhline(GAUSSIAN_TOLERANCE, color="black", linewidth=0.8, linestyle="--")
    left.axhline(0.0, color="0.6", linewidth=0.8)
    right.axhline(NRMSE_RATIO_TARGET, color="black", linewidth=0.8, linestyle="--")
    right.axhline(1.0, color="0.6", linewidth=0.8)
    left.set_ylabel("defect error − optimal Gaussian's")
    right.set_ylabel("NRMSE / optimal Gaussian's")
    for axis in (left, right):
        axis.set_xlabel("strength (0 = OSEM, 1 = network)")
    left.legend(fontsize="small")
    return figure
