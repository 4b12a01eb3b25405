"""Issue 17: nothing a user owns is overwritten or truncated, untrusted files are checked
before they cost memory, refusals come before work.

The error messages are in the bad-input catalogue (tests/test_bad_inputs.py); these tests
check the behaviour around them: files left byte for byte as they were, pairs swapped
together, locks, and that a refusal comes before any simulation.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import spect_tutorial as st
from spect_tutorial import _files, _validation, benchmark, observer, readme
from spect_tutorial.results import load_records

QUICK = ["--methods", "noisy", "--phantoms", "1", "--count-levels", "100", "--realizations", "1"]


def _record(**changes):
    record = {"method": "noisy", "count_level": 100.0, "phantom": 1, "realization": 0}
    return {**record, **changes}


@pytest.fixture
def no_simulation(monkeypatch):
    """Any simulation fails the test: a refusal must come before the work."""

    def fail(*args, **kwargs):
        raise AssertionError("the command simulated before refusing its arguments")

    monkeypatch.setattr(benchmark, "simulate_study", fail)
    monkeypatch.setattr("spect_tutorial.study.simulate_study", fail)


# --- item 1: a user's summary files are never replaced ---------------------------------


@pytest.mark.parametrize("name", ["summary.md", "summary.json"])
def test_benchmark_refuses_to_replace_a_users_summary_before_running(
    tmp_path, capsys, no_simulation, name
):
    mine = tmp_path / name
    mine.write_text("mine\n", encoding="utf-8")
    assert benchmark.main([*QUICK, "--out", str(tmp_path / "r.jsonl"), "--quiet"]) == 1
    assert "was not written by spect_tutorial.benchmark" in capsys.readouterr().err
    assert mine.read_text(encoding="utf-8") == "mine\n"
    assert not (tmp_path / "r.jsonl").exists()


def test_write_summary_replaces_its_own_files_only(tmp_path):
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps(_record(nrmse=0.1)) + "\n", encoding="utf-8")
    readme.write_summary(results)
    readme.write_summary(results)  # its own files: rewritten
    (tmp_path / "summary.md").write_text("my notes\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match=r"summary\.md.*not written by spect_tutorial"):
        readme.write_summary(results)
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == "my notes\n"


def test_committed_summaries_are_recognised_as_ours():
    folder = benchmark.DEFAULT_RESULTS.parent
    readme.check_summary_targets(benchmark.DEFAULT_RESULTS)  # no error
    assert readme._is_our_summary_md((folder / "summary.md").read_bytes())
    assert readme._is_our_summary_json((folder / "summary.json").read_bytes())


def test_benchmark_checks_the_readme_before_running(tmp_path, capsys, no_simulation):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n", encoding="utf-8")
    argv = [*QUICK, "--out", str(tmp_path / "r.jsonl"), "--readme", str(readme), "--quiet"]
    assert benchmark.main(argv) == 1
    assert "has no benchmark block" in capsys.readouterr().err
    assert benchmark.main([*argv[:-3], "--readme", str(tmp_path / "absent.md")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


# --- items 2 and 7: the results file ----------------------------------------------------


def test_a_users_file_is_never_truncated(tmp_path, capsys, no_simulation):
    (tmp_path / "out").mkdir()
    notes = tmp_path / "out" / "n.txt"
    notes.write_bytes(b"notes")
    assert benchmark.main([*QUICK, "--out", str(notes), "--quiet"]) == 1
    assert "left unchanged" in capsys.readouterr().err
    assert notes.read_bytes() == b"notes"


def test_a_torn_line_is_cut_only_when_it_starts_like_a_record(tmp_path):
    line = json.dumps(_record(nrmse=0.1)) + "\n"
    path = tmp_path / "r.jsonl"
    path.write_text(line + line[:30], encoding="utf-8")
    writer = benchmark._Writer(path)
    writer.close()
    assert path.read_text(encoding="utf-8") == line
    path.write_text(line + "my own note", encoding="utf-8")
    with pytest.raises(ValueError, match="left unchanged"):
        benchmark._Writer(path)
    assert path.read_text(encoding="utf-8") == line + "my own note"


def test_a_complete_invalid_last_line_is_an_error_not_torn(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_record()) + '\n{"note":1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: not a benchmark record"):
        load_records(path)
    path.write_text(json.dumps(_record()) + '\n{"note":1}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: not a benchmark record"):
        load_records(path)


def test_duplicate_records_are_refused_at_write_and_at_load(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = benchmark._Writer(path)
    try:
        writer.write(_record())
        with pytest.raises(ValueError, match=r"already holds a record \('noisy', 100\.0, 1, 0\)"):
            writer.write(_record(count_level=100))
    finally:
        writer.close()
    assert len(load_records(path)) == 1
    path.write_text((json.dumps(_record()) + "\n") * 2, encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate record"):
        load_records(path)


def test_two_runs_on_one_file_are_refused_by_a_lock(tmp_path, no_simulation):
    path = tmp_path / "r.jsonl"
    with _files.FileLock(path):
        with pytest.raises(RuntimeError, match=r"being written by another run"):
            st.run_benchmark(path, methods=["noisy"], phantoms=[1], progress=False)
    assert not (tmp_path / "r.jsonl.lock").exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    path = tmp_path / "r.jsonl"
    lock = tmp_path / "r.jsonl.lock"
    lock.write_text("999999999\n", encoding="ascii")  # no such process
    with _files.FileLock(path):
        assert lock.read_text(encoding="ascii").strip() == str(os.getpid())
    assert not lock.exists()


# --- item 3 and 12: Interfile data files ------------------------------------------------


def test_interfile_reads_outside_its_folder_only_when_allowed(tmp_path):
    np.arange(4, dtype="<f4").tofile(tmp_path / "outside.a00")
    (tmp_path / "sub").mkdir()
    header = tmp_path / "sub" / "h.h33"
    header.write_text(
        "!name of data file := ../outside.a00\n!number format := float\n"
        "imagedata byte order := LITTLEENDIAN\n!matrix size [1] := 2\n!matrix size [2] := 2\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="outside the header's folder"):
        st.load_interfile(header)
    data, _ = st.load_interfile(header, allow_outside=True)
    assert data.ravel().tolist() == [0.0, 1.0, 2.0, 3.0]


# --- item 4: save_weights(overwrite=True) swaps the pair together ------------------------


@pytest.fixture(scope="module")
def tiny_models():
    first = st.win5rb(filters=2, kernel_size=3, depth=2, seed=0)
    second = st.win5rb(filters=2, kernel_size=3, depth=2, seed=1)
    return first, second


def test_a_failed_overwrite_leaves_the_old_pair_intact(tmp_path, tiny_models, monkeypatch):
    first, second = tiny_models
    st.save_weights(first, tmp_path, "m", manifest={"voxel_size_mm": 6.4})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    replace = os.replace

    def fail_on_manifest(source, destination):
        if str(destination).endswith("m.json") and str(source).endswith(".tmp"):
            raise OSError("disk full (simulated)")
        return replace(source, destination)

    monkeypatch.setattr(_files.os, "replace", fail_on_manifest)
    with pytest.raises(OSError, match="simulated"):
        st.save_weights(second, tmp_path, "m", manifest={"voxel_size_mm": 6.4}, overwrite=True)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporaries
    st.load_pretrained("m", directory=tmp_path)  # the old pair still matches its hash
    st.save_weights(second, tmp_path, "m", manifest={"voxel_size_mm": 6.4}, overwrite=True)
    assert (tmp_path / "m.weights.h5").read_bytes() != before["m.weights.h5"]
    st.load_pretrained("m", directory=tmp_path)


def test_replace_files_together_restores_the_old_set(tmp_path, monkeypatch):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a"), b.write_text("old b")
    replace = os.replace
    monkeypatch.setattr(
        _files.os,
        "replace",
        lambda s, d: (
            (_ for _ in ()).throw(OSError("x"))
            if Path(d) == b and str(s).endswith(".tmp")
            else replace(s, d)
        ),
    )
    with pytest.raises(OSError):
        _files.replace_files_together({a: b"new a", b: b"new b"})
    monkeypatch.undo()
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


# --- item 10: NaN weights ---------------------------------------------------------------


def test_nan_weights_are_refused_at_save_and_at_load(tmp_path, tiny_models, monkeypatch):
    from spect_tutorial import weights

    model = st.win5rb(filters=2, kernel_size=3, depth=2, seed=0)
    values = model.get_weights()
    values[0] = np.full_like(values[0], np.nan)
    model.set_weights(values)
    with pytest.raises(ValueError, match=r"model .* holds \d+ NaN or infinite value"):
        st.save_weights(model, tmp_path, "nan", manifest={"voxel_size_mm": 6.4})
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(weights, "_check_finite_weights", lambda *args: None)
    st.save_weights(model, tmp_path, "nan", manifest={"voxel_size_mm": 6.4})
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"nan\.weights\.h5.* NaN or infinite"):
        st.load_pretrained("nan", directory=tmp_path)


# --- item 8: npz headers before payload -------------------------------------------------


def test_npz_members_are_checked_from_their_headers(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros((3, 4), np.float32))
    members = _validation.inspect_npz(path)
    assert members["a"].shape == (3, 4) and members["a"].data_bytes == 48
    # A header that declares more data than its zip entry holds: damaged.
    with zipfile.ZipFile(path, "w") as archive:
        header = np.lib.format.header_data_from_array_1_0(np.zeros((3, 4), np.float32))
        header["shape"] = (30, 4)
        import io

        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        archive.writestr("a.npy", buffer.getvalue() + bytes(48))
    with pytest.raises(ValueError, match=r"declares shape \(30, 4\).*damaged"):
        _validation.inspect_npz(path)


def test_json_depth_limit_names_the_file():
    text = "[" * 100_000 + "]" * 100_000  # about 200 KB
    with pytest.raises(ValueError, match=r"x\.json.*100000 levels deep"):
        _validation.load_json(text, where="'x.json'")
    assert _validation.load_json('{"a": "[[[["}', where="x") == {"a": "[[[["}


# --- item 5 (observer): arguments before the simulation ----------------------------------


def test_observer_refuses_an_unknown_method_before_simulating(tmp_path, capsys, no_simulation):
    argv = ["--methods", "bogus", "--out", str(tmp_path / "o.json")]
    assert observer.main(argv) == 1
    assert "'bogus' is neither a benchmark method" in capsys.readouterr().err


# --- item 14: denoise and batch_size -----------------------------------------------------


def test_denoise_batch_size_changes_the_output_by_rounding_only(tiny_models):
    volume = np.random.default_rng(0).poisson(5.0, (16, 12, 12)).astype(np.float32)
    one = st.denoise(volume, tiny_models[0], voxel_size_mm=6.4, batch_size=1)
    sixteen = st.denoise(volume, tiny_models[0], voxel_size_mm=6.4, batch_size=16)
    np.testing.assert_allclose(one, sixteen, rtol=1e-5, atol=1e-6)
    again = st.denoise(volume, tiny_models[0], voxel_size_mm=6.4, batch_size=16)
    assert np.array_equal(sixteen, again)  # same batch size: bitwise identical
