"""Defect safety by territory: the patients' defects, the table, the README block, BM4D."""

from __future__ import annotations

import importlib.util
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from spect_tutorial import benchmark, methods, territory
from spect_tutorial.frame import index_to_mm
from spect_tutorial.phantom import random_phantom
from spect_tutorial.protocol import TERRITORIES, TERRITORY_PHANTOMS, territory_phantom
from spect_tutorial.results import load_records
from spect_tutorial.segments import aha_segment, lv_cylindrical_coordinates

# --- the patients ---------------------------------------------------------------------


def _defect_segments(phantom) -> np.ndarray:
    """AHA segment of every voxel of the phantom's defect mask (voxel centres)."""
    index = np.argwhere(phantom.masks["defect"])
    points = index_to_mm(index, phantom.activity.shape, phantom.voxel_size_mm)
    axial, _, angle = lv_cylindrical_coordinates(points, phantom.lv)
    length = phantom.parameters["anatomy"]["lv_cavity_length_mm"]
    return aha_segment(angle, (axial + length / 2) / length)


@pytest.mark.parametrize("index", range(len(TERRITORY_PHANTOMS)))
def test_territory_defects_lie_in_their_segments_on_the_seed_s_own_anatomy(index):
    entry = TERRITORY_PHANTOMS[index]
    grid = {"shape": (64, 64, 64), "voxel_size_mm": 6.4}
    phantom = territory_phantom(index, **grid)
    assert phantom.parameters["territory"] == entry.territory
    assert phantom.parameters["seed"] == entry.seed
    segments = _defect_segments(phantom)
    named = TERRITORIES[entry.territory]
    assert segments.size >= 3, "the defect covers several voxels"
    inside = np.isin(segments, named).mean()
    assert inside >= 0.9, (entry.territory, inside, np.unique(segments))
    # Voxels on a segment border (occupancy >= 0.5, centre just outside) aside, the defect
    # covers the named segments, and every one of them but at most one small one.
    assert len(set(np.unique(segments)) & set(named)) >= len(named) - 1
    # The same random anatomy as the seed without a defect, and the severity as committed.
    plain = random_phantom(seed=entry.seed, defect_probability=0.0, **grid)
    assert np.array_equal(plain.masks["myocardium"], phantom.masks["myocardium"])
    wall = phantom.masks["myocardium"] & ~phantom.masks["defect"]
    full = phantom.masks["defect"] & (phantom.activity > 0)
    ratio = np.median(phantom.activity[full]) / np.median(phantom.activity[wall])
    assert ratio == pytest.approx(1.0 - entry.severity, abs=0.12)


def test_territory_phantom_refuses_a_bad_index():
    with pytest.raises(ValueError, match=r"index must be in 0\.\.9"):
        territory_phantom(len(TERRITORY_PHANTOMS))
    with pytest.raises(ValueError, match="index must be an int"):
        territory_phantom(1.0)


# --- the table from synthetic records -------------------------------------------------


def _records():
    """Two methods on every territory patient: known errors, 3 realizations each."""
    records = []
    for index, entry in enumerate(TERRITORY_PHANTOMS):
        for k in range(3):
            for method, error in (("gauss", 0.01), ("net", 0.03 + 0.01 * index)):
                records.append(
                    {
                        "method": method,
                        "count_level": 25.0,
                        "phantom": index,
                        "realization": k,
                        "territory": entry.territory,
                        "severity": entry.severity,
                        "defect_ratio": 0.5 + error + 0.001 * (k - 1),
                        "defect_ratio_ideal": 0.5,
                    }
                )
    return records


def test_territory_errors_are_paired_per_image_and_summarised_over_patients():
    records = _records()
    lateral = territory.territory_error(records, "net", "LCx lateral", 25.0)
    # LCx lateral patients are indices 4 and 5: errors 0.07 and 0.08 (k offsets cancel).
    assert lateral.n == 2
    assert lateral.mean == pytest.approx(0.075)
    assert lateral.half_width == pytest.approx(12.7062 * 0.005, rel=1e-4)  # t(0.975, 1 dof)
    pooled = territory.territory_error(records, "net", territory.ALL_TERRITORIES, 25.0)
    assert pooled.n == 10 and pooled.mean == pytest.approx(0.075)
    difference = territory.territory_difference(records, "net", "gauss", "LCx lateral", 25.0)
    assert difference.mean == pytest.approx(0.065)
    assert territory.territory_error(records, "net", "LCx lateral", 100.0).n == 0
    table = territory.territory_errors(records)
    assert len(table) == 2 * (len(TERRITORIES) + 1)
    assert table["gauss", "RCA inferior", 25.0].mean == pytest.approx(0.01)
    with pytest.raises(ValueError, match="territory must be one of"):
        territory.territory_error(records, "net", "LCX", 25.0)


def test_network_safety_judges_a_known_answer_and_rejects_the_oversmoothed_control():
    records = _records()
    for record in records:
        record["nrmse"] = 0.1 if record["method"] == "gauss" else 0.08
    # "net" fills by 0.075 on average (0.065 more than "gauss"): both tolerances missed.
    judged = territory.network_safety(records, "net", 25.0, baseline="gauss")
    assert judged.nrmse_ratio.mean == pytest.approx(0.8)
    assert not territory.network_safety(records, "gauss", 25.0, baseline="net").closer  # 1.25
    assert judged.defect_error.mean == pytest.approx(0.075)
    assert judged.difference.mean == pytest.approx(0.065)
    assert judged.by_territory["LCx lateral"].mean == pytest.approx(0.065)
    assert judged.error_by_territory["LCx lateral"].mean == pytest.approx(0.075)
    assert judged.territories_missed == tuple(TERRITORIES)
    for record in records:  # the first territory's patients: 0.015 from the ideal image
        if record["method"] == "net" and record["phantom"] in (0, 1):
            record["defect_ratio"] = 0.515
    mixed = territory.network_safety(records, "net", 25.0, baseline="gauss")
    assert mixed.territories_missed == tuple(TERRITORIES)[1:]
    assert not judged.safe
    # The Gaussian itself (0.01 from the ideal image) meets the target, in every territory.
    assert territory.network_safety(records, "gauss", 25.0, baseline="net").safe
    assert not territory.network_safety(records, "gauss", 25.0, baseline="net").territories_missed
    with pytest.raises(ValueError, match="no image holds both 'net' and 'bm4d' at 25 %"):
        territory.network_safety(records, "net", 25.0, baseline="bm4d")


def test_network_safety_on_the_committed_records_rejects_the_oversmoothed_gaussian():
    # The control of the defect-safety verdict: a Gaussian wider than optimal fills
    # defects, and the criterion must say so.
    records = load_records(benchmark.DEFAULT_TERRITORY_RESULTS)
    assert not territory.network_safety(records, "gaussian_10mm", 25.0).safe
    assert territory.network_safety(records, "noisy", 25.0).safe  # no smoothing, no filling


def test_territory_markdown_and_readme_block_regenerate_from_the_records(tmp_path):
    records = _records()
    text = territory.territory_markdown(records, labels={"net": "Net", "gauss": "Gauss"})
    lines = text.splitlines()
    assert lines[0] == "| territory | counts (%) | Gauss | Net |"  # no default pair here
    assert len(lines) == 2 + len(TERRITORIES) + 1
    paired = territory.territory_markdown(records, network="net", baseline="gauss")
    assert "| LCx lateral | 25 | 0.010 ± 0.000 (2) | 0.075 ± 0.064 (2) | 0.065 ± 0.064 (2) |" in (
        paired
    )
    path = tmp_path / "territory.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# T\n<!-- territory:start -->\nold\n<!-- territory:end -->\nafter\n", encoding="utf-8"
    )
    summary = territory.write_territory_summary(path, readme=readme)
    assert json.loads(summary.read_text(encoding="utf-8"))["records"] == len(records)
    block = territory.readme_territory_block(readme)
    assert block == territory.territory_readme_table(load_records(path))
    assert readme.read_text(encoding="utf-8").endswith("<!-- territory:end -->\nafter\n")
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no territory block"):
        territory.write_territory_summary(path, readme=readme)


def test_territory_figure_has_a_panel_per_count_level():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = _records()
    records += [{**r, "count_level": 100.0} for r in records]
    figure = territory.plot_territory_errors(
        records, methods=["gauss", "net", "absent"], count_levels=[25.0, 100.0]
    )
    visible = [axis for axis in figure.axes if axis.axison]
    assert len(visible) == 2
    assert [axis.get_title() for axis in visible] == ["25 % counts", "100 % counts"]
    plt.close(figure)


@pytest.mark.parametrize("acquisition", ["v1", "v2"])
def test_committed_territory_records_and_the_readme_block_they_regenerate(acquisition):
    path = benchmark.default_protocol_results("territory", acquisition)
    records = load_records(path)
    readme = path.parent.parent.parent / "README.md"
    table = territory.territory_readme_table(records, results_name=path.name)
    assert (f"--acquisition {acquisition}" in table) is (acquisition != "v1")
    if acquisition == "v2":  # the README shows the acquisition of the shipped networks
        assert territory.readme_territory_block(readme) == table
    keys = {(r["method"], r["count_level"], r["phantom"], r["realization"]) for r in records}
    assert len(keys) == len(records), "one record per result"
    for record in records:
        entry = TERRITORY_PHANTOMS[record["phantom"]]
        assert (record["seed"], record["territory"], record["severity"]) == (
            entry.seed,
            entry.territory,
            entry.severity,
        )
        assert math.isfinite(record["defect_ratio"]) and record["defect"] is True


# --- BM4D -----------------------------------------------------------------------------


def test_oracle_log_sweep_walks_to_the_grid_minimum():
    calls = []

    def loss(value):
        calls.append(value)
        return (math.log(value) - math.log(0.3)) ** 2

    best, tried = methods.oracle_log_sweep(loss, start=0.3, low=0.01, high=4.0)
    assert best == pytest.approx(0.3) and len(calls) == 3  # a good start costs three
    best, tried = methods.oracle_log_sweep(loss, start=0.05, low=0.01, high=4.0)
    grid = 0.05 * math.sqrt(2.0) ** np.arange(-10, 10)
    assert best == pytest.approx(grid[np.argmin([loss(v) for v in grid])])
    assert len(tried) == len(set(tried))
    best, _ = methods.oracle_log_sweep(lambda v: -v, start=1.0, low=0.5, high=3.0)
    assert best <= 3.0
    with pytest.raises(ValueError, match="low <= start <= high"):
        methods.oracle_log_sweep(loss, start=5.0, low=0.01, high=4.0)


def test_bm4d_is_skipped_with_a_clear_message_when_the_package_is_missing(
    tmp_path, monkeypatch, capsys
):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "bm4d" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert not methods.bm4d_available()
    out = tmp_path / "r.jsonl"
    benchmark.run_benchmark(out, methods=["bm4d"], phantoms=[1], count_levels=[50.0])
    assert "skipping bm4d: the optional package 'bm4d' is not installed" in (
        capsys.readouterr().out
    )
    assert not out.exists()  # nothing recorded, nothing simulated, no file left


def _tiny_study(seed=0):
    """A 16^3 volume with a bright shell (the 'myocardium') and Gaussian noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:16, :16, :16] - 7.5
    radius = np.sqrt(x**2 + y**2 + z**2)
    ideal = np.where((radius > 3) & (radius < 5.5), 1.0, 0.1).astype(np.float32)
    noisy = ideal + rng.normal(0.0, 0.2, (2, *ideal.shape)).astype(np.float32)
    region = (radius > 2) & (radius < 6.5)
    # At 6.25 % the sweep starts at sigma = 0.4 x the mean, near the optimum (3 evaluations).
    return SimpleNamespace(recons=noisy, ideal=ideal, evaluation_mask=region, count_level=6.25)


def test_bm4d_method_on_a_tiny_volume_beats_no_filter_and_stays_in_its_box():
    pytest.importorskip("bm4d", reason="the optional extra spect_tutorial[bm4d] is missing")
    from spect_tutorial.metrics import nrmse

    study = _tiny_study()
    context = methods.MethodContext(study, {}, methods.heart_slab(study.evaluation_mask))
    image, extra = methods.METHODS["bm4d"].apply(context, 1)
    region = study.evaluation_mask
    assert nrmse(image, study.ideal, region) < 0.85 * nrmse(study.recons[1], study.ideal, region)
    assert extra["bm4d_evaluations"] >= 3 and 0.01 <= extra["bm4d_sigma"] <= 4.0
    box = tuple(slice(*bounds) for bounds in extra["bm4d_box"])
    outside = np.ones(image.shape, dtype=bool)
    outside[box] = False
    assert np.array_equal(image[outside], study.recons[1][outside])
    assert image.dtype == np.float32


def test_committed_candidates_pair_a_training_manifest_with_v2_territory_records():
    folder = benchmark.DEFAULT_TERRITORY_RESULTS.parent / "candidates"
    manifests = sorted(folder.glob("*.json"))
    assert {"paper_shipped", "paper_v2"} <= {path.stem for path in manifests}
    weights = folder.parent.parent / "weights"
    first = json.loads((weights / "retired_v1" / "win5rb_n2n_paper.json").read_text())
    shipped = json.loads((weights / "win5rb_n2n_paper.json").read_text())
    for path in manifests:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert len(manifest["weights_sha256"]) == 64 and manifest["command"].startswith(
            "python -m spect_tutorial.train"
        )
        records = load_records(path.with_suffix(".jsonl"))
        assert {r["acquisition"] for r in records} == {"v2"}
        networks = {r["method"] for r in records} - {"noisy", "gaussian_optimal"}
        assert len(networks) == 1, path.name
        (network,) = networks
        for level in {r["count_level"] for r in records}:
            judged = territory.network_safety(records, network, level)
            assert judged.difference.n == len(TERRITORY_PHANTOMS)
            assert math.isfinite(judged.nrmse_ratio.mean)
        if path.stem == "paper_shipped":  # the first shipped network, retired
            assert manifest["weights_sha256"] == first["weights_sha256"]
        if path.stem == "paper_v2_gpu":  # the network shipped now
            assert manifest["weights_sha256"] == shipped["weights_sha256"]


def test_committed_matched_noise_sweeps_of_the_candidates_can_reject():
    """Each candidate's trade-off sweep (territory patients, v2) judges it at matched noise.

    Control: the optimal Gaussian is one member of the 3-D Gaussian family, so at
    its own noise it lies on the family's curve; "fills less than a Gaussian at
    equal noise" must not pass for it.
    """
    from spect_tutorial import tradeoff, verdicts

    folder = benchmark.DEFAULT_TERRITORY_RESULTS.parent / "candidates"
    sweeps = sorted(folder.glob("*.tradeoff.jsonl"))
    assert sweeps, "no committed candidate sweep"
    for path in sweeps:
        assert path.with_name(path.name.removesuffix(".tradeoff.jsonl") + ".json").exists()
        records = load_records(path)
        assert {r["acquisition"] for r in records} == {"v2"}
        assert {r["phantom"] for r in records} == set(range(len(TERRITORY_PHANTOMS)))
        networks = {r["method"] for r in records if r["family"] == "point"}
        networks -= {"gaussian_optimal"}
        assert len(networks) == 1, path.name
        (network,) = networks
        swept = {r["count_level"] for r in records if r["family"] == "gaussian_3d"}
        assert 25.0 in swept, path.name
        for level in swept:  # a strength-only level has no Gaussian curve to match
            values = tradeoff.patient_values(records, level)
            judged = verdicts.judge_matched(values, network, "gaussian_3d", "defect_error")
            assert judged.verdict in ("pass", "fail") and judged.n_outside == 0
            assert len(judged.per_patient) == len(TERRITORY_PHANTOMS)
            control = verdicts.judge_matched(
                values, "gaussian_optimal", "gaussian_3d", "defect_error"
            )
            assert control.verdict == "fail", path.name
            assert abs(control.value.mean) < 0.005, "on its own curve, up to interpolation"


def test_what_the_readme_says_of_the_shipped_networks_filling_is_what_the_records_say():
    """Every shipped 2D network fills defects more than the optimal Gaussian, pooled over
    the v2 territory patients, at every count level (the interval wholly above zero)."""
    records = load_records(benchmark.default_protocol_results("territory", "v2"))
    networks = (
        "win5rb_n2n_paper",
        "win5rb_n2n_teaching",
        "win5rb_split_teaching",
        "win5rb_supervised_teaching",
    )
    for network in networks:
        for level in sorted({r["count_level"] for r in records}):
            pooled = territory.territory_difference(
                records, network, "gaussian_optimal", territory.ALL_TERRITORIES, level
            )
            assert pooled.n == len(TERRITORY_PHANTOMS) and pooled.low > 0, (network, level)
    readme = " ".join(
        (benchmark.DEFAULT_RESULTS.parents[2] / "README.md").read_text(encoding="utf-8").split()
    )
    assert "**The shipped networks fill perfusion defects.**" in readme
    assert "(Noise2Noise, count split and supervised alike)" in readme
