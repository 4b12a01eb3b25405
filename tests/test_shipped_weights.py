"""The networks shipped in data/weights/: each loads with its hash checked, each is exactly
the finished run (and candidate network) whose curve and records the book shows."""

import json
from pathlib import Path

import numpy as np
import pytest

from spect_tutorial.inference import denoise
from spect_tutorial.methods import METHODS
from spect_tutorial.training import load_learning_curve
from spect_tutorial.weights import WEIGHTS_DIR, load_manifest, load_pretrained, weights_sha256

REPOSITORY = Path(__file__).resolve().parent.parent
CANDIDATES = REPOSITORY / "data" / "benchmark" / "candidates"
SHIPPED = {
    "win5rb_n2n_paper",
    "win5rb_n2n_teaching",
    "win5rb_n2n_teaching_k3",
    "win5rb_split_teaching",
    "win5rb_supervised_teaching",
}


def _shipped_names() -> set[str]:
    return {path.name.removesuffix(".weights.h5") for path in WEIGHTS_DIR.glob("*.weights.h5")}


def test_the_shipped_set_is_known_and_each_is_a_benchmark_method():
    assert _shipped_names() == SHIPPED
    assert {path.stem for path in WEIGHTS_DIR.glob("*.json")} == SHIPPED
    network_methods = {name for name, method in METHODS.items() if method.network}
    assert network_methods == SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_network_loads_with_its_hash_checked(name):
    model = load_pretrained(name)  # raises on a hash mismatch
    manifest = model.spect_manifest
    assert manifest["weights_sha256"] == weights_sha256(WEIGHTS_DIR / f"{name}.weights.h5")
    channels = manifest["model_config"].get("channels", 1)
    assert int(model.input_shape[-1]) == channels
    # a small volume goes through denoise (2D: slice by slice; 2.5D: with its neighbours)
    volume = np.random.default_rng(0).poisson(20.0, (5, 24, 24)).astype(np.float32)
    out = denoise(volume, model, voxel_size_mm=manifest["voxel_size_mm"])
    assert out.shape == volume.shape and np.isfinite(out).all()


def test_the_2p5d_variant_is_the_judged_candidate_trained_to_its_plateau():
    manifest = load_manifest("win5rb_n2n_teaching_k3")
    candidate = json.loads(
        (CANDIDATES / "teaching_v2_2p5d_plateau.json").read_text(encoding="utf-8")
    )
    # same weights, bit for bit: the candidate's records describe the shipped network
    assert manifest["weights_sha256"] == candidate["weights_sha256"]
    assert manifest["model_config"] == {"channels": 3, "depth": 5, "filters": 64, "kernel_size": 7}
    assert manifest["acquisition"]["name"] == "v2"
    assert manifest["method"] == "noise2noise"
    assert manifest["stop_reason"] == "plateau" and manifest["training"]["stopped_early"]
    assert manifest["training"]["best_epoch"] < manifest["training"]["epochs_completed"]
    # its committed learning curve is the run that made these weights
    curve = load_learning_curve(
        REPOSITORY / "data" / "training" / "win5rb_n2n_teaching_v2_k3.curve.json"
    )
    rows = curve["rows"]
    assert len(rows) == manifest["training"]["epochs_completed"]
    best = min(rows, key=lambda row: row["val_loss"])
    assert best["epoch"] == manifest["training"]["best_epoch"]
    assert best["val_loss"] == pytest.approx(manifest["training"]["best_val_loss"], rel=1e-6)


def test_the_study_network_stays_the_default_of_denoise():
    from spect_tutorial.weights import DEFAULT_MODEL

    assert DEFAULT_MODEL == "win5rb_n2n_paper"
    assert load_manifest(DEFAULT_MODEL)["model_config"].get("channels", 1) == 1


def _targets(report: str) -> dict[str, bool | None]:
    path = REPOSITORY / "data" / "benchmark" / report
    return {
        check["target"]: check["met"]
        for check in json.loads(path.read_text(encoding="utf-8"))["targets"]
    }


@pytest.mark.parametrize(
    ("report", "stretch_at_25_missed"),
    [
        ("evaluate_win5rb_n2n_paper_v2.json", True),
        ("evaluate_win5rb_n2n_teaching_v2.json", True),
        ("evaluate_win5rb_n2n_teaching_k3_v2.json", False),
    ],
)
def test_what_the_readme_says_of_each_targets_report_is_what_it_says(report, stretch_at_25_missed):
    met = _targets(report)
    defect = [ok for target, ok in met.items() if target.startswith("defect")]
    stretch = {target: ok for target, ok in met.items() if "stretch" in target}
    others = [ok for target, ok in met.items() if target not in stretch and "defect" not in target]
    assert len(defect) == 5 and not any(defect)  # "missed at every count level"
    assert others and all(others)  # NRMSE, dose, wall (and supervised) targets met
    missed_stretch = sorted(target for target, ok in stretch.items() if not ok)
    assert all("25 %" in target for target in missed_stretch)
    assert bool(missed_stretch) is stretch_at_25_missed
    readme = " ".join((REPOSITORY / "README.md").read_text(encoding="utf-8").split())
    row = next(line for line in readme.split("| `data/benchmark/")[1:] if line.startswith(report))
    assert "the defect target missed at every count level" in row
    assert ("(the stretch goals at 25 % missed)" in row) is stretch_at_25_missed
    if any("supervised" in target for target in met):
        assert "Noise2Noise-within-1.10-of-supervised targets met" in row


def test_what_the_results_chapter_says_of_the_variant_report_is_what_it_says():
    met = _targets("evaluate_win5rb_n2n_teaching_k3_v2.json")
    assert all(ok for target, ok in met.items() if not target.startswith("defect"))
    notebook = json.loads((REPOSITORY / "book" / "results.ipynb").read_text(encoding="utf-8"))
    chapter = " ".join(" ".join("".join(cell["source"]).split()) for cell in notebook["cells"])
    assert "it meets the noise and dose targets by a wide margin and misses the defect" in chapter


def test_copy_weights_ships_a_candidate_under_another_name_byte_for_byte(tmp_path):
    from spect_tutorial.weights import copy_weights

    source = tmp_path / "candidate"
    copy_weights("win5rb_n2n_teaching_k3", WEIGHTS_DIR, source, as_name="trained_as_this")
    written = copy_weights("trained_as_this", source, tmp_path / "shipped", as_name="shipped")
    original = load_manifest("win5rb_n2n_teaching_k3")
    copied = load_manifest("shipped", directory=tmp_path / "shipped")
    assert weights_sha256(written) == original["weights_sha256"]
    assert copied["name"] == "shipped" and copied["weights_file"] == "shipped.weights.h5"
    assert copied["trained_as"] == "win5rb_n2n_teaching_k3"  # the training command's name
    changed = {"name", "weights_file", "trained_as"}
    assert {k: v for k, v in copied.items() if k not in changed} == {
        k: v for k, v in original.items() if k not in changed
    }
    assert load_pretrained("shipped", directory=tmp_path / "shipped").count_params() > 0
    # never over a file silently; a modified source is refused before anything is written
    with pytest.raises(FileExistsError, match=r"shipped\.weights\.h5"):
        copy_weights("trained_as_this", source, tmp_path / "shipped", as_name="shipped")
    weights = source / "trained_as_this.weights.h5"
    content = bytearray(weights.read_bytes())
    content[-1] ^= 1
    weights.write_bytes(bytes(content))
    with pytest.raises(ValueError, match="does not have the SHA-256"):
        copy_weights("trained_as_this", source, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_committed_records_of_a_shipped_network_were_made_by_its_shipped_weights():
    """A network's records name its weights' SHA-256: every committed benchmark, territory and
    trade-off record file must describe the weights shipped under that name today
    (candidates' records, in their own folder, describe candidates)."""
    from spect_tutorial.results import load_records
    from spect_tutorial.tradeoff import NETWORK_STRENGTH

    shipped = {name: load_manifest(name)["weights_sha256"] for name in SHIPPED}
    files = sorted((REPOSITORY / "data" / "benchmark").glob("*.jsonl"))
    assert files
    for path in files:
        stale = {
            (record["method"], record["weights_sha256"][:12])
            for record in load_records(path)
            if "weights_sha256" in record
            and (
                record["weights_sha256"] not in shipped.values()  # a blend: one of them
                if record["method"] == NETWORK_STRENGTH
                else record["weights_sha256"] != shipped.get(record["method"])
            )
        }
        assert not stale, f"{path.name}: records of other weights than the shipped {stale}"
    # the observer studies and evaluation reports name the weights they judged, too
    for path in sorted((REPOSITORY / "data" / "benchmark").glob("*.json")):
        judged = json.loads(path.read_text(encoding="utf-8")).get("weights_sha256") or {}
        if isinstance(judged, dict):
            stale = {name for name, sha in judged.items() if shipped.get(name) != sha}
            assert not stale, f"{path.name}: judged other weights than the shipped {stale}"


RESUME = REPOSITORY / "data" / "training" / "resume"
#: The v2 networks shipped from a finished run: shipped name -> the run's training name.
SHIPPED_RUNS = {
    "win5rb_n2n_paper": "win5rb_n2n_paper_v2_gpu",
    "win5rb_n2n_teaching": "win5rb_n2n_teaching_v2",
    "win5rb_split_teaching": "win5rb_split_teaching_v2",
    "win5rb_supervised_teaching": "win5rb_supervised_teaching_v2",
}


@pytest.mark.parametrize("name", sorted(SHIPPED_RUNS))
def test_a_shipped_network_is_its_finished_v2_run_trained_to_its_end(name):
    run = SHIPPED_RUNS[name]
    shipped = load_manifest(name)
    finished = json.loads((RESUME / run / f"{run}.json").read_text(encoding="utf-8"))
    assert shipped["trained_as"] == run and shipped["weights_file"] == f"{name}.weights.h5"
    changed = {"name", "weights_file", "trained_as"}
    assert {k: v for k, v in shipped.items() if k not in changed} == {
        k: v for k, v in finished.items() if k not in changed
    }
    # shipped, so the weights live in data/weights/ only
    assert not (RESUME / run / f"{run}.weights.h5").exists()
    assert shipped["acquisition"]["name"] == "v2"
    assert shipped["stop_reason"] in {"plateau", "early_stopping"}
    assert shipped["training"]["best_epoch"] < shipped["training"]["epochs_completed"]
    assert (REPOSITORY / "data" / "training" / f"{run}.curve.json").exists()


def test_the_retired_v1_networks_are_described_not_loadable():
    retired = WEIGHTS_DIR / "retired_v1"
    manifests = {path.stem: json.loads(path.read_text("utf-8")) for path in retired.glob("*.json")}
    assert set(manifests) == set(SHIPPED_RUNS)
    assert not list(retired.glob("*.h5"))
    for name, manifest in manifests.items():
        assert manifest["weights_sha256"] != load_manifest(name)["weights_sha256"]
        assert "acquisition" not in manifest  # trained before the v2 acquisition existed


FINISHED_RUNS = sorted(
    path.parent.name
    for path in RESUME.glob("*/*.json")
    if path.stem == path.parent.name and "training" in json.loads(path.read_text("utf-8"))
)


def test_the_finished_runs_kept_for_shipping_include_the_gpu_and_trio_runs():
    assert {
        "win5rb_n2n_paper_v2_gpu",
        "win5rb_n2n_paper_v2_lr",
        "win5rb_n2n_paper_k3_v2_gpu",
        "win5rb_split_teaching_v2",
        "win5rb_supervised_teaching_v2",
        "win5rb_n2n_teaching_v2",
    } <= set(FINISHED_RUNS)


@pytest.mark.parametrize("name", FINISHED_RUNS)
def test_a_finished_run_is_its_weights_and_its_committed_learning_curve(name):
    manifest = json.loads((RESUME / name / f"{name}.json").read_text(encoding="utf-8"))
    training = manifest["training"]
    weights = RESUME / name / f"{name}.weights.h5"
    if weights.exists():  # a run kept as a manifest only says so in the README
        assert weights_sha256(weights) == manifest["weights_sha256"]
    assert manifest["acquisition"]["name"] == "v2"
    curve_path = REPOSITORY / "data" / "training" / f"{name}.curve.json"
    if not curve_path.exists():
        pytest.skip(f"{name}: no learning curve committed (finished before curves were kept)")
    rows = load_learning_curve(curve_path)["rows"]
    assert len(rows) == training["epochs_completed"]
    assert rows[-1]["steps"] == manifest["budget"]["steps"]
    best = min(rows, key=lambda row: row["val_loss"])
    assert best["epoch"] == training["best_epoch"]
    assert best["val_loss"] == pytest.approx(training["best_val_loss"], rel=1e-6)
    # where it trained: the GPU runs name their device; the earlier runs were TensorFlow on CPUs
    if "devices" in manifest:
        assert manifest["devices"] and manifest["backend"] == "jax"
    else:
        assert manifest["backend"] == "tensorflow"
