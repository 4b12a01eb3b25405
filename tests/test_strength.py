"""Choosing the network's strength on tuning records (spect_tutorial.strength)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spect_tutorial import strength, territory
from spect_tutorial.results import load_records
from spect_tutorial.tradeoff import NETWORK_STRENGTH

CANDIDATES = Path(__file__).resolve().parents[1] / "data" / "benchmark" / "candidates"


def _record(method, family, setting, level, phantom, realization, defect_ratio, nrmse):
    return {
        "method": method,
        "family": family,
        "setting": setting,
        "count_level": level,
        "phantom": phantom,
        "realization": realization,
        "defect": True,
        "defect_ratio": defect_ratio,
        "defect_ratio_ideal": 0.70,
        "nrmse": nrmse,
    }


def _sweep(slope_by_level, strengths=(0.0, 0.25, 0.5, 0.75, 1.0)):
    """Known answer: defect error of the network = slope x strength, the Gaussian's 0.02.

    Patients differ by +-0.002 (so intervals have a width); NRMSE falls with strength.
    """
    records = []
    for level, slope in slope_by_level.items():
        for phantom in range(4):
            wiggle = 0.002 * (phantom - 1.5)
            for realization in range(2):
                records.append(
                    _record(
                        "gaussian_optimal",
                        "point",
                        None,
                        level,
                        phantom,
                        realization,
                        0.72 + wiggle,
                        0.10,
                    )
                )
                for s in strengths:
                    records.append(
                        _record(
                            NETWORK_STRENGTH,
                            NETWORK_STRENGTH,
                            s,
                            level,
                            phantom,
                            realization,
                            0.70 + slope * s + wiggle,
                            0.15 - 0.08 * s,
                        )
                    )
    return records


def test_strength_safety_pairs_one_strength_with_the_baseline_per_image():
    records = _sweep({25.0: 0.038})
    judged = strength.strength_safety(records, 0.5, 25.0)
    assert judged.network == strength.strength_method(0.5)
    assert judged.defect_error.mean == pytest.approx(0.019)  # 0.038 x 0.5
    assert judged.difference.mean == pytest.approx(-0.001)  # minus the Gaussian's 0.02
    assert judged.nrmse_ratio.mean == pytest.approx(0.11 / 0.10)
    assert judged.difference.n == 4
    with pytest.raises(ValueError, match=r"strength 0\.6 was not swept"):
        strength.strength_safety(records, 0.6, 25.0)
    with pytest.raises(ValueError, match="not swept at 100"):
        strength.strength_safety(records, 0.5, 100.0)


def test_choose_strength_takes_the_largest_safe_strength_at_every_level():
    # network - Gaussian = slope x s - 0.02: safe while <= 0.01 (GAUSSIAN_TOLERANCE) or the
    # defect error slope x s <= 0.02 (IDEAL_TOLERANCE)
    assert territory.GAUSSIAN_TOLERANCE == 0.01
    assert strength.choose_strength(_sweep({25.0: 0.038})).strength == 0.75  # 0.75: +0.0085
    assert strength.choose_strength(_sweep({25.0: 0.02})).strength == 1.0
    both = strength.choose_strength(_sweep({25.0: 0.038, 100.0: 0.058}))
    assert both.strength == 0.5  # 100 %: 0.75 -> +0.0235 misses
    assert both.count_levels == (25.0, 100.0)
    assert not both.table[0.75, 100.0].safe and both.table[0.75, 25.0].safe
    assert strength.choose_strength(_sweep({25.0: 0.038, 100.0: 0.058}), [25.0]).strength == 0.75


def test_choose_strength_stops_at_the_first_unsafe_strength():
    records = [
        r
        for r in _sweep({25.0: 0.038})
        if not (r["family"] == NETWORK_STRENGTH and r["setting"] == 0.5)
    ]
    for r in _sweep({25.0: 0.2}, strengths=(0.5,)):  # a spike: 0.5 fills by +0.08
        if r["family"] == NETWORK_STRENGTH:
            records.append(r)
    assert strength.choose_strength(records).strength == 0.25  # not 0.75 past the spike


def test_choose_strength_refuses_records_it_cannot_use():
    with pytest.raises(ValueError, match="no network_strength sweep"):
        strength.choose_strength([r for r in _sweep({25.0: 0.038}) if r["family"] == "point"])
    # the control: a network that fills even at the lowest swept strength is refused
    with pytest.raises(ValueError, match=r"lowest swept strength 0\.5 already misses"):
        strength.choose_strength(_sweep({25.0: 0.2}, strengths=(0.5, 1.0)))


def test_on_the_committed_sweep_the_full_strength_misses_and_osem_is_safe():
    """Control on real records: strength 1 (the network) misses the target, 0 (OSEM) meets it."""
    path = CANDIDATES / "teaching_v2_2p5d_plateau.tradeoff.jsonl"
    records = load_records(path)
    assert {0.0, 0.25, 0.5, 0.75, 1.0} <= set(strength.swept_strengths(records))
    osem, network = (strength.strength_safety(records, s, 25.0) for s in (0.0, 1.0))
    assert osem.safe and not osem.closer  # OSEM: no filling, but no noise removed
    assert network.closer and not network.safe  # the network: the reverse
    chosen = strength.choose_strength(records, [25.0])
    assert 0.0 < chosen.strength < 1.0


def test_plot_strength_choice_draws_both_targets_and_every_level():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    choice = strength.choose_strength(_sweep({25.0: 0.038, 100.0: 0.058}))
    figure = strength.plot_strength_choice({"net": choice})
    left, right = figure.axes
    labels = [line.get_label() for line in left.lines]
    assert "net, 25 %" in labels and "net, 100 %" in labels
    assert territory.GAUSSIAN_TOLERANCE in [line.get_ydata()[0] for line in left.lines]
    assert territory.NRMSE_RATIO_TARGET in [line.get_ydata()[0] for line in right.lines]
    assert choice.strength in [line.get_xdata()[0] for line in left.lines]
    plt.close(figure)
    with pytest.raises(ValueError, match="at least one"):
        strength.plot_strength_choice({})


@pytest.mark.parametrize(
    ("suffix", "protocol", "per_level"),
    [("heldout_strength", "heldout", False), ("tuning_strength", "tuning", True)],
)
def test_committed_strength_sweeps_choose_on_other_patients_and_were_judged(
    suffix, protocol, per_level
):
    """Each strength sweep is of other (v2) patients; the strength it chooses was judged.

    The tuning and the judged patients share no seed; the judged sweep holds the chosen
    strength at every tuning level, and there the OSEM control misses the noise target.
    First attempt: one strength for both levels; second: one per level.
    """
    from spect_tutorial.benchmark import _protocol_entries
    from spect_tutorial.protocol import TERRITORY_PHANTOMS

    sweeps = sorted(CANDIDATES.glob(f"*.{suffix}.jsonl"))
    if protocol == "heldout":
        assert sweeps, "no committed strength sweep"
    for path in sweeps:
        stem = path.name.removesuffix(f".{suffix}.jsonl")
        assert (CANDIDATES / f"{stem}.json").exists(), stem
        records = load_records(path)
        assert {r["acquisition"] for r in records} == {"v2"}
        assert {r["seed"] for r in records} == {p.seed for p in _protocol_entries(protocol)}
        levels = (25.0, 100.0)
        if per_level:
            chosen = {
                level: strength.choose_strength(records, [level]).strength for level in levels
            }
        else:
            single = strength.choose_strength(records, levels).strength
            chosen = dict.fromkeys(levels, single)
        judged_records = load_records(CANDIDATES / f"{stem}.tradeoff.jsonl")
        assert not {r["seed"] for r in judged_records} & {r["seed"] for r in records}
        assert {r["seed"] for r in judged_records} == {p.seed for p in TERRITORY_PHANTOMS}
        for level, setting in chosen.items():
            judged = strength.strength_safety(judged_records, setting, level)
            assert judged.difference.n == len(TERRITORY_PHANTOMS)
            assert not strength.strength_safety(judged_records, 0.0, level).closer
