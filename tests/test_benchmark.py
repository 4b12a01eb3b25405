"""The benchmark command, its records and their statistics, and the evaluation targets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from spect_tutorial import benchmark, evaluate, tradeoff
from spect_tutorial import methods as registry
from spect_tutorial import readme as published
from spect_tutorial.results import (
    derived,
    estimate,
    load_records,
    markdown_table,
    paired_ratio,
    summarise,
)

METRIC_FIELDS = ("nrmse", "psnr", "ssim", "cov", "noise_cov", "wall_mm")


def _record(method, level, phantom, realization, **values):
    return {
        "method": method,
        "count_level": level,
        "phantom": phantom,
        "realization": realization,
        **values,
    }


# --- statistics ---------------------------------------------------------------------


def test_estimate_is_the_student_t_interval_of_the_mean():
    values = [0.11, 0.13, 0.12, 0.16, 0.10, 0.14]
    result = estimate(values)
    half = stats.t.ppf(0.975, 5) * np.std(values, ddof=1) / math.sqrt(6)
    assert result.n == 6
    assert result.mean == pytest.approx(np.mean(values))
    assert result.low == pytest.approx(np.mean(values) - half)
    assert result.high == pytest.approx(np.mean(values) + half)
    assert estimate([0.2]).low == estimate([0.2]).high == 0.2
    assert estimate([]).n == 0 and math.isnan(estimate([]).mean)


def test_summaries_average_realizations_per_phantom_first():
    # Phantom 0 has three realizations, phantom 1 one: the mean is over phantoms.
    records = [
        _record("a", 100.0, 0, 0, nrmse=0.1),
        _record("a", 100.0, 0, 1, nrmse=0.1),
        _record("a", 100.0, 0, 2, nrmse=0.1),
        _record("a", 100.0, 1, 0, nrmse=0.3),
    ]
    result = summarise(records)["a"][100.0]["nrmse"]
    assert result.n == 2
    assert result.mean == pytest.approx(0.2)  # not 0.15, the mean over images


def test_paired_ratio_pairs_images_and_derived_applies_a_function():
    records = []
    for phantom in range(4):
        for k in range(3):
            base = 0.1 + 0.01 * phantom + 0.001 * k
            records.append(_record("net", 25.0, phantom, k, nrmse=0.7 * base, wall_mm=14.0))
            records.append(_record("gauss", 25.0, phantom, k, nrmse=base, wall_mm=15.0))
    ratio = paired_ratio(records, "net", "gauss", count_level=25.0)
    assert ratio.n == 4
    assert ratio.mean == pytest.approx(0.7)
    assert ratio.half_width == pytest.approx(0.0, abs=1e-12)  # exactly 0.7 everywhere
    assert paired_ratio(records, "net", "gauss", count_level=100.0).n == 0
    wall = derived(records, "net", count_level=25.0, function=lambda r: r["wall_mm"] - 13.5)
    assert wall.mean == pytest.approx(0.5)


def test_load_records_ignores_a_torn_last_line_and_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps(_record("noisy", 100.0, 0, 0, nrmse=0.1))
    path.write_text(good + "\n" + good[:25], encoding="utf-8")
    assert len(load_records(path)) == 1
    path.write_text("not json\n" + good + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"results\.jsonl, line 1: not a benchmark record"):
        load_records(path)
    path.write_text(json.dumps({"method": "noisy"}) + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        load_records(path)
    with pytest.raises(FileNotFoundError, match="do not exist"):
        load_records(tmp_path / "missing.jsonl")


def test_markdown_table_shows_mean_and_half_width():
    records = [_record("a", 50.0, p, 0, nrmse=v) for p, v in enumerate((0.1, 0.2, 0.3))]
    table = markdown_table(summarise(records), metrics=("nrmse",), labels={"a": "method A"})
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert f"| method A | 50 | 0.200 ± {half:.3f} |" in table
    assert table.splitlines()[0] == "| method | counts (%) | NRMSE |"


# --- the benchmark run --------------------------------------------------------------


def _run_baselines(path):
    benchmark.run_benchmark(
        path,
        methods=["noisy", "gaussian_optimal", "butterworth"],
        phantoms=[1],
        count_levels=[50.0],
        realizations=2,
        progress=False,
    )


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    """Two baselines on one held-out phantom with a defect at one level (about 15 s)."""
    path = tmp_path_factory.mktemp("benchmark") / "results.jsonl"
    _run_baselines(path)
    return path


def test_records_hold_every_field_finite(baseline_run):
    records = load_records(baseline_run)
    assert len(records) == 3 * 2
    for record in records:
        for name in (*METRIC_FIELDS, "wall_ideal_mm", "wall_true_mm", "defect_ratio"):
            assert math.isfinite(record[name]), (record["method"], name)
        assert record["defect"] is True and record["seed"] == 7002
        assert 0.0 < record["defect_ratio_ideal"] < 1.0
        assert record["peak_rss_mb"] > 0 and record["simulate_s"] > 0
        assert isinstance(record["wall_failed"], int)
        assert 0 <= record["wall_failed"] <= benchmark.WALL_PROFILES, "failed fits are counted"
    by_method = {(r["method"], r["realization"]): r for r in records}
    for k in range(2):
        noisy, best = by_method["noisy", k], by_method["gaussian_optimal", k]
        assert best["nrmse"] <= noisy["nrmse"], "the oracle Gaussian never loses to no filter"
        assert best["fwhm_mm"] >= 0 and "fwhm_mm" not in noisy
    # Same phantom, seed and realization -> same noisy image and metrics in both draws.
    assert by_method["noisy", 0]["nrmse"] != by_method["noisy", 1]["nrmse"]


def test_a_rerun_resumes_without_recomputing_or_rewriting(baseline_run):
    before = baseline_run.read_bytes()
    _run_baselines(baseline_run)
    assert baseline_run.read_bytes() == before


def test_a_torn_record_is_recomputed_and_earlier_records_kept(baseline_run, tmp_path):
    path = tmp_path / "results.jsonl"
    lines = baseline_run.read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1])
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40], encoding="utf-8")
    _run_baselines(path)
    records = load_records(path)
    assert len(records) == len(lines)
    assert path.read_text(encoding="utf-8").startswith("\n".join(lines[:-1]))
    redone = [r for r in records if (r["method"], r["realization"]) == (last["method"], 1)]
    assert redone[0]["nrmse"] == pytest.approx(last["nrmse"], rel=1e-6)


def test_summary_files_and_readme_block_are_generated_from_the_records(baseline_run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\n\nafter\n",
        encoding="utf-8",
    )
    path = published.write_summary(baseline_run, readme=str(readme))
    summary = json.loads(path.read_text(encoding="utf-8"))
    assert summary["records"] == 6
    table = published.readme_table(load_records(baseline_run))
    assert published.readme_block(readme) == table
    assert (baseline_run.parent / "summary.md").read_text(encoding="utf-8") == table
    assert readme.read_text(encoding="utf-8").endswith("<!-- benchmark:end -->\n\nafter\n")
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no benchmark block"):
        published.update_readme(readme, table)


def test_an_unknown_method_is_refused_before_any_simulation(tmp_path):
    with pytest.raises(ValueError, match=r"'gausian' is neither a benchmark method"):
        benchmark.run_benchmark(tmp_path / "r.jsonl", methods=["gausian"], weights_dir=tmp_path)
    with pytest.raises(ValueError, match=r"phantoms must be in 0\.\.7"):
        benchmark.run_benchmark(tmp_path / "r.jsonl", phantoms=[8])
    assert not (tmp_path / "r.jsonl").exists()


def test_heart_slab_covers_the_mask_with_a_margin():
    mask = np.zeros((20, 8, 8), dtype=bool)
    mask[6:10, 3, 3] = True
    assert registry.heart_slab(mask, margin=2) == (4, 12)
    assert registry.heart_slab(mask, margin=9) == (0, 19)


# --- targets ------------------------------------------------------------------------


def test_targets_judge_ratios_doses_walls_and_defects():
    records = []
    for phantom in range(6):
        defect = phantom % 2 == 1
        for level in (25.0, 50.0, 100.0):
            base = 0.1 * (100.0 / level) ** 0.5  # 0.2 at 25 %, 0.141 at 50 %, 0.1 at 100 %
            common = {"wall_ideal_mm": 13.8, "defect_ratio_ideal": 0.70 if defect else None}
            for method, nrmse, wall, ratio in (
                ("gaussian_optimal", base, 15.0, 0.74),
                ("net", 0.6 * base, 14.0, 0.73),  # fills 0.03, but less than the Gaussian
                ("filler", 0.6 * base, 14.0, 0.77),  # fills 0.07: 0.03 more than the Gaussian
                ("noisy", 1.3 * base, 13.8, 0.70),  # the control: no filling, no denoising
            ):
                records.append(
                    _record(
                        method,
                        level,
                        phantom,
                        0,
                        nrmse=nrmse,
                        wall_mm=wall,
                        defect_ratio=ratio if defect else None,
                        **common,
                    )
                )
    checks = {check["target"]: check for check in evaluate.targets(records, "net")}
    for level in ("100", "25"):
        assert checks[f"NRMSE / optimal Gaussian's at {level} %"]["met"] is True
        assert checks[f"NRMSE / optimal Gaussian's at {level} % (stretch)"]["met"] is True
    # 0.6 x 0.141 = 0.085 at 50 % beats the Gaussian's 0.1 at 100 %; 0.12 at 25 % does not.
    dose = checks["NRMSE at 50 % - optimal Gaussian's at 100 %"]
    assert dose["met"] is True and dose["mean"] == pytest.approx(0.06 * 2**0.5 - 0.1)
    assert checks["NRMSE at 25 % - optimal Gaussian's at 100 % (stretch)"]["met"] is False
    assert checks["wall - ideal wall at 100 % (mm)"]["mean"] == pytest.approx(0.2)
    assert checks["wall - ideal wall at 100 % (mm)"]["met"] is True
    defect = checks["defect ratio - ideal's at 100 %"]
    assert defect["mean"] == pytest.approx(0.03) and defect["n"] == 3  # the defect patients
    assert defect["met"] is True  # beyond 0.02 of the ideal, but no worse than the Gaussian
    filler = {check["target"]: check for check in evaluate.targets(records, "filler")}
    assert filler["defect ratio - ideal's at 100 %"]["met"] is False
    assert "+0.0300" in filler["defect ratio - ideal's at 100 %"]["limit"]
    control = {check["target"]: check for check in evaluate.targets(records, "noisy")}
    assert control["defect ratio - ideal's at 25 %"]["met"] is True
    assert control["NRMSE / optimal Gaussian's at 25 %"]["met"] is False  # OSEM is rejected
    assert control["NRMSE at 50 % - optimal Gaussian's at 100 %"]["met"] is False


def test_matching_count_level_interpolates_on_log_axes():
    # NRMSE falling exactly as 1 / sqrt(counts): 0.2 at 25 %, 0.1 at 100 %.
    records = [
        _record("net", level, 0, 0, nrmse=0.1 * math.sqrt(100.0 / level))
        for level in (12.5, 25.0, 50.0, 100.0, 200.0)
    ]
    summary = summarise(records)
    from spect_tutorial.results import matching_count_level

    assert matching_count_level(summary, "net", 0.1) == pytest.approx(100.0)
    target = 0.1 * math.sqrt(100.0 / 70.0)  # the NRMSE expected at 70 %
    assert matching_count_level(summary, "net", target) == pytest.approx(70.0, rel=1e-9)
    assert matching_count_level(summary, "net", 1.0) is None  # outside the measured range


# --- the committed results ------------------------------------------------------------

REPOSITORY = benchmark.DEFAULT_RESULTS.parent.parent.parent


#: The acquisition of the README's results table: v2, the one the shipped networks were
#: trained and judged with (the v1 records keep their own summary files).
README_ACQUISITION = "v2"


@pytest.mark.parametrize("acquisition", ["v1", "v2"])
def test_committed_summaries_and_readme_agree_with_the_committed_records(acquisition):
    results = benchmark.default_results(acquisition)
    records = load_records(results)
    sweep = published.tradeoff_beside(results)
    table = published.readme_table(
        records, load_records(sweep) if sweep.exists() else None, results_name=results.name
    )
    json_path, markdown_path = published.summary_paths(results)
    assert markdown_path.read_text(encoding="utf-8") == table
    summary = json.loads(json_path.read_text(encoding="utf-8"))
    assert summary["records"] == len(records) and summary["results"] == results.name
    if acquisition == README_ACQUISITION:
        assert published.readme_block(REPOSITORY / "README.md") == table


@pytest.mark.parametrize("acquisition", ["v1", "v2"])
def test_committed_records_cover_the_protocol_for_every_method(acquisition):
    from spect_tutorial.protocol import (
        EVALUATION_COUNT_LEVELS,
        EVALUATION_PHANTOMS,
        EVALUATION_REALIZATIONS,
    )

    records = load_records(benchmark.default_results(acquisition))
    keys = {(r["method"], r["count_level"], r["phantom"], r["realization"]) for r in records}
    assert len(keys) == len(records), "one record per result"
    assert "bm4d" in registry.METHODS  # the BM4D peer's records are committed too
    expected = {
        (method, level, phantom, k)
        for method in registry.METHODS
        for level in EVALUATION_COUNT_LEVELS
        for phantom in range(len(EVALUATION_PHANTOMS))
        for k in range(EVALUATION_REALIZATIONS)
    }
    assert keys <= expected, "every record belongs to the protocol"
    incomplete = published.incomplete_runs(records)
    # The study's methods and the shipped networks cover the whole protocol; only a peer
    # added later (BM4D, expensive) may still be running, and then the README says so.
    assert {method for method, _ in incomplete} <= {"bm4d"}
    for level in (25.0, 100.0):  # the verdict levels are complete for every method
        assert ("bm4d", level) not in incomplete
    missing = expected - keys
    assert {(m, level) for m, level, _, _ in missing} <= set(incomplete)
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    summary = published.summary_paths(benchmark.default_results(acquisition))[1]
    for (method, level), complete in incomplete.items():
        label = registry.method_labels().get(method, method)
        text = f"{label} at {level:g} %: {complete} of {len(EVALUATION_PHANTOMS)}"
        assert text in summary.read_text(encoding="utf-8")
        if acquisition == README_ACQUISITION:
            assert text in readme


def test_incomplete_runs_are_counted_per_method_and_level():
    full = [
        {"method": "noisy", "count_level": level, "phantom": p, "realization": k}
        for level in (12.5, 25.0, 50.0, 100.0, 200.0)
        for p in range(8)
        for k in range(3)
    ]
    assert published.incomplete_runs(full) == {}
    partial = full[:-1] + [
        {"method": "bm4d", "count_level": 25.0, "phantom": 0, "realization": k} for k in range(3)
    ]
    got = published.incomplete_runs(partial)
    assert got[("noisy", 200.0)] == 7  # one realization missing: that patient is incomplete
    assert got[("bm4d", 25.0)] == 1 and got[("bm4d", 12.5)] == 0
    table = published.readme_table(
        [dict(r, nrmse=0.1, ssim=0.9, cov=0.2, wall_mm=14.0) for r in partial]
    )
    assert "**Incomplete runs**" in table and "at 200 %: 7 of 8" in table


def test_quick_benchmark_has_every_method_and_level_and_reproduces_the_records(tmp_path):
    """The CI benchmark: one held-out phantom with a defect, every method and level, imaged
    with the acquisition the shipped networks were trained on; its records are the committed
    ones (the v1 file keeps the records of the retired v1 networks)."""
    out = tmp_path / "quick.jsonl"
    arguments = ["--quick", "--acquisition", README_ACQUISITION, "--out", str(out), "--quiet"]
    assert benchmark.main(arguments) == 0
    records = load_records(out)
    got = {(r["method"], r["count_level"]) for r in records}
    from spect_tutorial.protocol import EVALUATION_COUNT_LEVELS

    methods = [m for m in registry.METHODS if m != "bm4d" or registry.bm4d_available()]
    assert got == {(m, level) for m in methods for level in EVALUATION_COUNT_LEVELS}
    for record in records:
        for name in (*METRIC_FIELDS, "defect_ratio", "mean_ratio", "wall_ideal_mm"):
            assert math.isfinite(record[name]), (record["method"], record["count_level"], name)
    committed = {
        (r["method"], r["count_level"], r["phantom"], r["realization"]): r
        for r in load_records(benchmark.default_results(README_ACQUISITION))
    }
    for record in records:
        key = (record["method"], record["count_level"], record["phantom"], record["realization"])
        for name in ("nrmse", "ssim", "defect_ratio"):
            assert record[name] == pytest.approx(committed[key][name], rel=1e-3), (key, name)


def test_evaluate_command_writes_a_report_and_never_overwrites_it(tmp_path, capsys):
    from spect_tutorial.model import win5rb
    from spect_tutorial.weights import load_manifest, save_weights

    save_weights(
        win5rb(filters=4, kernel_size=3, depth=2, seed=0),
        tmp_path / "weights",
        "tiny",
        manifest={"voxel_size_mm": 6.4},
    )
    report = tmp_path / "tiny.json"
    argv = [
        "tiny",
        "--weights-dir",
        str(tmp_path / "weights"),
        "--quick",
        "--results",
        str(tmp_path / "results.jsonl"),
        "--out",
        str(report),
        "--quiet",
    ]
    assert evaluate.main(argv) == 0
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["model"] == "tiny"
    assert written["weights_sha256"] == {
        "tiny": load_manifest("tiny", directory=tmp_path / "weights")["weights_sha256"]
    }
    assert {row["method"] for row in written["summary"]} == {"noisy", "gaussian_optimal", "tiny"}
    assert any(check["target"].startswith("NRMSE / optimal") for check in written["targets"])
    before = report.read_bytes()
    assert evaluate.main(argv) == 1  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    assert report.read_bytes() == before


def test_v2_acquisition_records_go_to_their_own_file_and_say_so(tmp_path):
    assert benchmark.default_results("v1") == benchmark.DEFAULT_RESULTS
    assert benchmark.default_results("v2").name == "results_v2.jsonl"
    out = tmp_path / "results_v2.jsonl"
    benchmark.run_benchmark(
        out,
        methods=["noisy"],
        phantoms=[1],
        count_levels=[50.0],
        realizations=1,
        progress=False,
        acquisition="v2",
    )
    (record,) = load_records(out)
    assert record["acquisition"] == "v2"
    assert math.isfinite(record["nrmse"]) and math.isfinite(record["defect_ratio_ideal"])
    with pytest.raises(ValueError, match="acquisition"):
        benchmark.run_benchmark(out, methods=["noisy"], acquisition="v5", progress=False)
    assert "--acquisition" in benchmark.build_parser().format_help()


def test_each_acquisition_has_its_own_summary_and_tradeoff_files(baseline_run, tmp_path):
    assert published.summary_paths("data/results.jsonl") == (
        Path("data/summary.json"),
        Path("data/summary.md"),
    )
    assert [path.name for path in published.summary_paths("results_v2.jsonl")] == [
        "summary_v2.json",
        "summary_v2.md",
    ]
    assert published.summary_paths("mine.jsonl")[0].name == "summary.json"
    assert published.summary_paths("results_draft.jsonl")[0].name == "summary.json"
    assert published.tradeoff_beside("data/results.jsonl") == Path("data/tradeoff.jsonl")
    assert published.tradeoff_beside("results_v2.jsonl").name == (
        tradeoff.default_tradeoff("heldout", "v2").name
    )
    # a v2 summary never replaces the v1 one beside it, and names its own files
    v1 = tmp_path / "results.jsonl"
    v1.write_bytes(baseline_run.read_bytes())
    published.write_summary(v1)
    before = (tmp_path / "summary.md").read_bytes()
    v2 = tmp_path / "results_v2.jsonl"
    v2.write_bytes(baseline_run.read_bytes())
    published.write_summary(v2)
    assert (tmp_path / "summary.md").read_bytes() == before
    table = (tmp_path / "summary_v2.md").read_text(encoding="utf-8")
    assert "`data/benchmark/results_v2.jsonl`" in table
    assert "`data/benchmark/tradeoff_heldout_v2.jsonl`" in table


def test_committed_v2_heldout_records_are_complete_and_differ_from_v1():
    """results_v2.jsonl: the held-out patients under the v2 acquisition, method by method."""
    from spect_tutorial.protocol import (
        EVALUATION_COUNT_LEVELS,
        EVALUATION_PHANTOMS,
        EVALUATION_REALIZATIONS,
    )

    v2 = load_records(benchmark.default_results("v2"))
    assert v2 and all(record["acquisition"] == "v2" for record in v2)
    images = {
        (seed, level, realization)
        for seed in (spec.seed for spec in EVALUATION_PHANTOMS)
        for level in EVALUATION_COUNT_LEVELS
        for realization in range(EVALUATION_REALIZATIONS)
    }
    keys = [(r["method"], (r["seed"], r["count_level"], r["realization"])) for r in v2]
    assert len(set(keys)) == len(keys)  # no image twice
    methods = {method for method, _ in keys}
    assert {"noisy", "gaussian_optimal"} <= methods
    for method in methods:  # every method it holds: every patient, level and realization
        assert {image for name, image in keys if name == method} == images
    # Scatter and its estimated correction change every unfiltered image.
    v1 = {
        (r["seed"], r["count_level"], r["realization"]): r["nrmse"]
        for r in load_records(benchmark.DEFAULT_RESULTS)
        if r["method"] == "noisy"
    }
    for (method, image), record in zip(keys, v2, strict=True):
        if method == "noisy":
            assert record["nrmse"] != v1[image]


def test_a_wall_that_cannot_be_measured_counts_every_profile_as_failed():
    import types

    from spect_tutorial.frame import LVGeometry

    lv = LVGeometry(
        center_mm=(0.0, 0.0, 0.0), long_axis=(0.0, 0.0, 1.0), septal_direction=(1.0, 0.0, 0.0)
    )
    study = types.SimpleNamespace(lv=lv, voxel_size_mm=6.4, defect_mask=None, myocardium_mask=None)
    measured = benchmark._wall_and_defect(np.zeros((32, 32, 32), np.float32), study, (-35, 35))
    assert measured == {
        "wall_mm": None,
        "wall_failed": benchmark.WALL_PROFILES,
        "defect_ratio": None,
    }


def test_each_protocol_has_its_own_records_file_and_patients(tmp_path):
    """Tuning patients are territory-like records of their own, never mixed with the judged."""
    from spect_tutorial.protocol import TUNING_PHANTOMS

    assert benchmark.default_protocol_results("heldout", "v2").name == "results_v2.jsonl"
    assert benchmark.default_protocol_results("territory") == benchmark.DEFAULT_TERRITORY_RESULTS
    assert benchmark.default_protocol_results("tuning").name == "tuning.jsonl"
    assert benchmark.default_protocol_results("territory", "v2").name == "territory_v2.jsonl"
    assert benchmark.default_protocol_results("tuning", "v2").name == "tuning_v2.jsonl"
    with pytest.raises(ValueError, match="protocol must be one of"):
        benchmark.default_protocol_results("judged")
    out = tmp_path / "tuning.jsonl"
    benchmark.run_benchmark(
        out,
        methods=["noisy"],
        phantoms=[5],
        count_levels=[100.0],
        realizations=1,
        progress=False,
        protocol="tuning",
    )
    (record,) = load_records(out)
    assert record["seed"] == TUNING_PHANTOMS[5].seed
    assert record["territory"] == "LCx lateral" and record["defect"] is True
    assert math.isfinite(record["defect_ratio_ideal"])
    from spect_tutorial.territory import write_territory_summary

    assert write_territory_summary(out).name == "tuning_summary.json"


@pytest.mark.parametrize(
    "report", sorted((REPOSITORY / "data" / "benchmark").glob("evaluate_*.json")), ids=str
)
def test_committed_evaluation_reports_match_their_records(report):
    """Each committed report is what `evaluate` computes today from its records file."""
    written = json.loads(report.read_text(encoding="utf-8"))
    assert f"--out {report.relative_to(REPOSITORY)}" in written["command"]
    records = load_records(REPOSITORY / written["results"])
    if written.get("acquisition", "v1") == "v2":
        assert report.name.endswith("_v2.json")
        assert all(record["acquisition"] == "v2" for record in records)
    checks = evaluate.targets(records, written["model"], supervised=written["supervised"])
    assert [check["target"] for check in checks] == [t["target"] for t in written["targets"]]
    for check, stored in zip(checks, written["targets"], strict=True):
        assert check["met"] == stored["met"], check["target"]
        assert check["mean"] == pytest.approx(stored["mean"], rel=1e-9), check["target"]


def test_per_patient_averages_realizations_and_pairs_two_files():
    from spect_tutorial.results import derived, per_patient

    first = [
        _record("noisy", 25.0, p, k, nrmse=0.1 * (p + 1) + 0.01 * k)
        for p in range(3)
        for k in range(2)
    ]
    second = [_record("noisy", 25.0, p, 0, nrmse=0.2 * (p + 1)) for p in (2, 0)]
    before = per_patient(first, "noisy", count_level=25.0, function=lambda r: r["nrmse"])
    after = per_patient(second, "noisy", count_level=25.0, function=lambda r: r["nrmse"])
    assert before == pytest.approx({0: 0.105, 1: 0.205, 2: 0.305})
    assert list(after) == [0, 2]  # index order, whatever the file's order
    assert {p: after[p] - before[p] for p in before.keys() & after} == pytest.approx(
        {0: 0.095, 2: 0.295}
    )
    summary = derived(first, "noisy", count_level=25.0, function=lambda r: r["nrmse"])
    assert summary.mean == pytest.approx(0.205) and summary.n == 3
    assert per_patient(first, "noisy", count_level=100.0, function=lambda r: r["nrmse"]) == {}


@pytest.mark.parametrize("command", ["benchmark", "tradeoff"])
def test_records_of_another_acquisition_are_never_resumed_on(tmp_path, command):
    """A v2 run on a file of v1 records would skip every result (same keys): refused."""
    from spect_tutorial import tradeoff

    committed = REPOSITORY / "data" / "benchmark" / "territory.jsonl"
    out = tmp_path / "records.jsonl"
    out.write_text(committed.read_text(encoding="utf-8").splitlines()[0] + "\n", "utf-8")
    before = out.read_bytes()
    run = benchmark.run_benchmark if command == "benchmark" else tradeoff.run_tradeoff
    with pytest.raises(ValueError, match="holds records of the acquisition v1, not v2"):
        run(
            out,
            phantoms=[0],
            count_levels=[100.0],
            realizations=2,
            progress=False,
            protocol="territory",
            acquisition="v2",
        )
    assert out.read_bytes() == before


def test_a_retrained_network_is_never_resumed_on_its_old_records(tmp_path):
    """Network records carry their weights' SHA-256; other weights under the same name are
    refused, in the benchmark and in the trade-off sweep (points and strength family)."""
    from spect_tutorial import tradeoff
    from spect_tutorial.model import win5rb
    from spect_tutorial.weights import load_manifest, save_weights

    for seed in (0, 1):
        save_weights(
            win5rb(filters=4, kernel_size=3, depth=2, seed=seed),
            tmp_path / f"weights{seed}",
            "tiny",
            manifest={"voxel_size_mm": 6.4},
        )
    sha = load_manifest("tiny", directory=tmp_path / "weights0")["weights_sha256"]
    options = {"phantoms": [1], "count_levels": [50.0], "progress": False}
    out = tmp_path / "results.jsonl"
    benchmark.run_benchmark(
        out, methods=["tiny"], realizations=1, weights_dir=tmp_path / "weights0", **options
    )
    (record,) = load_records(out)
    assert record["weights_sha256"] == sha
    sweep = tmp_path / "sweep.jsonl"
    strength = {tradeoff.NETWORK_STRENGTH: (0.5,)}
    tradeoff.run_tradeoff(
        sweep,
        families=strength,
        points=["tiny"],
        realizations=2,
        weights_dir=tmp_path / "weights0",
        **options,
    )
    assert {r["weights_sha256"] for r in load_records(sweep)} == {sha}
    before = out.read_bytes(), sweep.read_bytes()
    with pytest.raises(ValueError, match="records of tiny made with other weights"):
        benchmark.run_benchmark(
            out, methods=["tiny"], realizations=2, weights_dir=tmp_path / "weights1", **options
        )
    with pytest.raises(ValueError, match="records of tiny made with other weights"):
        tradeoff.run_tradeoff(
            sweep,
            families=strength,
            points=["tiny"],
            realizations=2,
            weights_dir=tmp_path / "weights1",
            **options,
        )
    assert (out.read_bytes(), sweep.read_bytes()) == before
