"""Matched-noise verdicts on synthetic trade-off records with a known answer; controls."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spect_tutorial import verdicts
from spect_tutorial.results import estimate
from spect_tutorial.tradeoff import curve, levels_covered, patient_values

LEVEL = 25.0
SETTINGS = (0.0, 4.0, 8.0, 12.0, 20.0)
PATIENTS = range(6)


def _noise(setting):
    return 0.20 / (1.0 + setting / 5.0)


def _family_values(setting, patient):
    """A Gaussian-like family, linear in noise: less noise, thicker wall, filled defect."""
    smoothing = 0.2 - _noise(setting)  # 0 (no filter) to 0.16 (20 mm)
    return {
        "ensemble_noise": _noise(setting),
        "wall_mm": 13.5 + 15.0 * smoothing + 0.01 * patient,
        "wall_failed": 0,
        "defect_ratio": 0.60 + 0.5 * smoothing,
        "peak_ratio": 1.02 - 1.5 * smoothing,
        "nrmse": 0.18 - 0.2 * smoothing,
    }


def _records(method, setting, patient, values, *, family=None, realizations=2):
    defect = patient % 2 == 1
    base = {
        "method": method,
        "family": family or ("point" if setting is None else method),
        "setting": setting,
        "count_level": LEVEL,
        "phantom": patient,
        "defect": defect,
        "wall_ideal_mm": 14.0,
        "defect_ratio_ideal": 0.60 if defect else None,
        "n_realizations": realizations,
    }
    out = []
    for k in range(realizations):
        record = {**base, "realization": k, **values}
        if not defect:
            record["defect_ratio"] = None
        out.append(record)
    return out


def _synthetic(network_shift=-0.5, network_setting=6.0, defect_fill=0.03):
    """Gaussian and OSEM curves plus a 'network' point at the noise of a 6 mm Gaussian.

    The network's wall is ``network_shift`` mm from the Gaussian's at the same noise
    (negative = thinner, closer to the ideal wall), its defect is ``defect_fill``
    shallower than the ideal image's; small per-patient scatter makes intervals.
    """
    records = []
    for patient in PATIENTS:
        for setting in SETTINGS:
            records += _records("gaussian_3d", setting, patient, _family_values(setting, patient))
        records += _records("osem", 4.0, patient, _family_values(0.0, patient))
        matched = _family_values(network_setting, patient)
        jitter = 0.05 * (patient - 2.5)
        network = {
            **matched,
            "wall_mm": matched["wall_mm"] + network_shift + jitter,
            "defect_ratio": 0.60 + defect_fill + 0.002 * jitter,
            "peak_ratio": matched["peak_ratio"] + 0.01 + 0.01 * jitter,
        }
        records += _records("net", None, patient, network)
        records += _records("gaussian_optimal", None, patient, _family_values(8.0, patient))
    return records


def test_interpolation_is_linear_inside_and_refuses_to_extrapolate():
    assert verdicts.interpolate_at_noise([0.3, 0.1, 0.2], [3.0, 1.0, 2.0], 0.15) == pytest.approx(
        1.5
    )
    assert verdicts.interpolate_at_noise([0.1, 0.3], [1.0, 3.0], 0.3) == pytest.approx(3.0)
    assert verdicts.interpolate_at_noise([0.1, 0.3], [1.0, 3.0], 0.31) is None
    assert verdicts.interpolate_at_noise([0.1, 0.3], [1.0, 3.0], 0.05) is None
    assert verdicts.interpolate_at_noise([0.1], [1.0], 0.1) is None
    with pytest.raises(ValueError, match="one length"):
        verdicts.interpolate_at_noise([0.1, 0.2], [1.0], 0.1)


def test_matched_noise_wall_finds_the_known_shift_and_rejects_the_control():
    values = patient_values(_synthetic(network_shift=-0.5), LEVEL)
    result = verdicts.judge_matched(values, "net", "gaussian_3d", "wall_error", absolute=True)
    # At the network's noise the Gaussian's wall is W = _family_values(6, p)["wall_mm"] (the
    # curve is linear in noise); the network's is W - 0.5 + jitter: |W - 14.5 + j| - |W - 14|.
    walls = [_family_values(6.0, p)["wall_mm"] for p in PATIENTS]
    expected = [
        abs(w - 14.5 + 0.05 * (p - 2.5)) - abs(w - 14.0)
        for p, w in zip(PATIENTS, walls, strict=True)
    ]
    assert result.value.mean == pytest.approx(np.mean(expected), abs=1e-9)
    assert result.value.n == 6 and result.n_outside == 0
    assert result.verdict == "pass"
    control = verdicts.judge_matched(
        values, verdicts.CONTROL, "gaussian_3d", "wall_error", absolute=True
    )
    assert control.value.mean == pytest.approx(0.0, abs=1e-12)
    assert control.verdict == "fail" and not control.passed, "OSEM without a filter is rejected"
    smooth = verdicts.judge_matched(
        values, verdicts.OVERSMOOTHED, "gaussian_3d", "wall_error", absolute=True
    )
    assert not smooth.passed, "a member of the curve cannot beat its own curve"


def test_a_thicker_wall_at_equal_noise_fails():
    values = patient_values(_synthetic(network_shift=+0.8), LEVEL)
    result = verdicts.judge_matched(values, "net", "gaussian_3d", "wall_error", absolute=True)
    assert result.value.high > 0 and result.verdict == "fail"


def test_noise_outside_the_curve_is_not_comparable_never_a_pass():
    records = _synthetic()
    for record in records:
        if record["method"] == "net":
            record["ensemble_noise"] = 0.5 * _noise(SETTINGS[-1])  # below the smoothest setting
            record["wall_mm"] = 14.0  # a perfect wall: would pass if extrapolated
    values = patient_values(records, LEVEL)
    result = verdicts.judge_matched(values, "net", "gaussian_3d", "wall_error", absolute=True)
    assert result.verdict == "not comparable" and result.n_outside == 6
    assert not result.passed


def test_a_method_cannot_win_the_wall_by_failing_its_fits():
    records = _synthetic(network_shift=-0.5)
    for record in records:
        if record["method"] == "net":
            record["wall_failed"] = 20
    values = patient_values(records, LEVEL)
    result = verdicts.judge_matched(values, "net", "gaussian_3d", "wall_error", absolute=True)
    assert result.verdict == "fail" and "failed wall fits" in result.note


def test_noise_verdict_is_a_paired_ratio_and_rejects_the_control():
    values = patient_values(_synthetic(), LEVEL)
    result = verdicts.judge_noise(values, "net")
    assert result.value.mean == pytest.approx(_noise(6.0) / _noise(8.0))
    assert result.verdict == "fail", "the network's noise is that of 6 mm, above the 8 mm oracle"
    better = verdicts.judge_noise(values, "gaussian_optimal", baseline="net")
    assert better.verdict == "pass"
    assert not verdicts.judge_noise(values, verdicts.CONTROL).passed


def test_defect_safety_uses_the_margin_and_rejects_the_over_smoothed_control():
    values = patient_values(_synthetic(defect_fill=0.03), LEVEL)
    filled = verdicts.judge_defect_safety(values, "net")
    assert filled.value.n == 3, "only the patients with a defect"
    assert filled.value.mean == pytest.approx(0.03, abs=1e-3)
    assert filled.verdict == "fail"
    values = patient_values(_synthetic(defect_fill=0.0), LEVEL)
    assert verdicts.judge_defect_safety(values, "net").verdict == "pass"
    over = verdicts.judge_defect_safety(values, verdicts.OVERSMOOTHED)
    assert over.value.mean == pytest.approx(0.5 * (0.2 - _noise(20.0))) and not over.passed


def test_verdict_table_judges_every_finding_and_every_control_is_rejected():
    records = _synthetic()
    rows = verdicts.verdict_table(records, LEVEL, "net", families=("gaussian_3d",))
    findings = [row["finding"] for row in rows]
    assert [f.split()[0] for f in findings] == ["1", "2", "3", "4", "5"]
    for row in rows:
        assert not row["control"].passed, (row["finding"], row["control"])
    by_finding = {row["finding"].split()[0]: row for row in rows}
    assert by_finding["2"]["verdict"] == "pass"
    assert by_finding["5"]["verdict"] == "fail"
    assert by_finding["4"]["verdict"] == "not comparable", "no Butterworth records"
    table = verdicts.verdict_markdown(rows)
    assert table.count("\n") == len(rows) + 2
    assert "(rejected)" in table and "not comparable" in table
    assert len({line.count("|") for line in table.splitlines()}) == 1, "no stray pipe"


def test_curves_and_coverage_summarise_per_patient():
    records = _synthetic()
    line = curve(records, LEVEL, "gaussian_3d")
    assert [point.setting for point in line] == list(SETTINGS)
    assert line[0].values["noise"].mean == pytest.approx(0.2)
    assert line[-1].values["defect_error"].n == 3
    sweep = {"gaussian_3d": SETTINGS, "osem": (4.0,)}
    assert levels_covered(records, sweep) == {LEVEL: 6}
    assert levels_covered(records[:-1], sweep) == {LEVEL: 5}, "the last patient lacks a record"
    assert math.isnan(estimate([]).mean)


def test_defect_safety_is_judged_per_territory():
    records = []
    for patient in range(4):
        territory = "LCx lateral" if patient < 2 else "LAD anterior"
        fill = 0.05 + 0.002 * patient if territory == "LCx lateral" else 0.001 * patient
        for k in range(2):
            records.append(
                {
                    "method": "net",
                    "count_level": LEVEL,
                    "phantom": patient,
                    "realization": k,
                    "territory": territory,
                    "defect_ratio": 0.6 + fill + 0.0005 * k,
                    "defect_ratio_ideal": 0.6,
                }
            )
    by = verdicts.defect_safety_by(records, "net", LEVEL)
    assert list(by) == ["LCx lateral", "LAD anterior"]
    assert by["LCx lateral"].verdict == "fail" and by["LAD anterior"].verdict == "pass"
    assert verdicts.defect_safety_by(records, "net", LEVEL, field="severity") == {}


def test_a_criterion_its_control_passes_is_void():
    bench = []
    for patient in PATIENTS:
        for k in range(2):
            for method, value in (
                ("net", 0.08),
                ("noisy", 0.09),
                ("butterworth", 0.10),
                ("gaussian_optimal", 0.095),
            ):
                bench.append(
                    {
                        "method": method,
                        "count_level": LEVEL,
                        "phantom": patient,
                        "realization": k,
                        "nrmse": value + 0.001 * patient,
                    }
                )
    rows = verdicts.verdict_table(
        _synthetic(), LEVEL, "net", benchmark_records=bench, families=("gaussian_3d",)
    )
    finding_4 = next(row for row in rows if row["finding"].startswith("4"))
    assert finding_4["result"].verdict == "pass", "the network beats the Butterworth..."
    assert finding_4["control"].passed, "...but so does OSEM without a filter"
    assert finding_4["verdict"] == verdicts.VOID
    finding_1 = next(row for row in rows if row["finding"].startswith("1"))
    assert finding_1["beside"].mean == pytest.approx(0.08 / 0.095, rel=0.02)


def _linear_family(point_defect: float, jitter: float = 0.002) -> dict:
    """A family whose defect error rises from 0 to 0.1 as its noise falls from 1 to 0."""
    values: dict = {("f", 0.0): {}, ("f", 1.0): {}, ("p", None): {}}
    for patient in range(5):
        values["f", 0.0][patient] = {"noise": 1.0, "defect_error": 0.0}
        values["f", 1.0][patient] = {"noise": 0.0, "defect_error": 0.1}
        values["p", None][patient] = {
            "noise": 0.5,
            "defect_error": point_defect + jitter * (patient - 2),
        }
    return values


def test_a_curve_tuned_to_a_points_noise_is_compared_with_that_point():
    values = _linear_family(0.08)  # the curve gives 0.05 at the point's noise
    judged = verdicts.judge_curve_at(values, "f", "p", "defect_error")
    assert judged.passed and judged.value.mean == pytest.approx(-0.03)
    assert verdicts.setting_at_noise(values, "f", "p").mean == pytest.approx(0.5)
    # Control: a point on the curve itself is not beaten by it.
    on_curve = verdicts.judge_curve_at(_linear_family(0.05), "f", "p", "defect_error")
    assert on_curve.verdict == "fail" and abs(on_curve.value.mean) < 1e-12
    # A point whose noise lies off the curve cannot be judged.
    values["p", None][0]["noise"] = 1.5
    assert verdicts.judge_curve_at(values, "f", "p", "defect_error").verdict == "not comparable"
    assert verdicts.setting_at_noise(values, "f", "p").n == 4
