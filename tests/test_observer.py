"""The Hotelling observer: AUC on known distributions, and its input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from spect_tutorial.observer import hotelling_auc, run_observer_study


def test_auc_matches_the_theory_for_gaussian_classes():
    # Two Gaussian classes in 17 dimensions differing in 3 features: the ideal linear
    # observer's AUC is Phi(d' / sqrt(2)) with d' the Mahalanobis distance (here 1.5).
    rng = np.random.default_rng(0)
    shift = np.zeros(17)
    shift[:3] = 1.5 / np.sqrt(3)
    present = rng.normal(size=(4000, 17)) + shift
    absent = rng.normal(size=(4000, 17))
    expected = stats.norm.cdf(1.5 / np.sqrt(2))
    assert hotelling_auc(present, absent) == pytest.approx(expected, abs=0.01)
    same = rng.normal(size=(4000, 17))
    assert hotelling_auc(same, absent) == pytest.approx(0.5, abs=0.02)


def test_auc_uses_held_out_halves():
    # With few images and many features, scoring the training images would give AUC 1;
    # tested on the other half, pure noise stays near chance.
    rng = np.random.default_rng(1)
    values = [
        hotelling_auc(rng.normal(size=(10, 17)), rng.normal(size=(10, 17))) for _ in range(40)
    ]
    assert 0.35 < np.mean(values) < 0.65


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"present must be \(images, features\)"):
        hotelling_auc(np.ones((2, 17)), np.ones((8, 17)))
    with pytest.raises(ValueError, match="same features"):
        hotelling_auc(np.ones((8, 17)), np.ones((8, 16)))
    with pytest.raises(ValueError, match="absent holds NaN"):
        hotelling_auc(np.ones((8, 3)), np.full((8, 3), np.nan))
    with pytest.raises(ValueError, match="patient must be a held-out patient with a defect"):
        run_observer_study(tmp_path / "o.json", patient=0)
    with pytest.raises(ValueError, match="n_realizations must be an even int >= 8"):
        run_observer_study(tmp_path / "o.json", n_realizations=7)
    with pytest.raises(ValueError, match="acquisition"):
        run_observer_study(tmp_path / "o.json", acquisition="v5")
    assert not (tmp_path / "o.json").exists()
    (tmp_path / "o.json").write_text("{}")
    with pytest.raises(FileExistsError, match="already exists"):
        run_observer_study(tmp_path / "o.json")


def test_auc_standard_error_matches_hanley_mcneil():
    from spect_tutorial.observer import auc_standard_error

    # Hanley and McNeil (1982), eq. 2 by hand: at A = 0.5, Q1 = Q2 = 1/3, so with 50 + 50
    # images the variance is (0.25 + 2 * 49 / 12) / 2500.
    assert auc_standard_error(0.5, 50, 50) == pytest.approx(np.sqrt((0.25 + 98 / 12) / 2500))
    assert auc_standard_error(0.9, 50, 50) < auc_standard_error(0.7, 50, 50)
    assert auc_standard_error(1.0, 20, 20) == 0.0
    with pytest.raises(ValueError, match="auc must be in"):
        auc_standard_error(1.2, 10, 10)


def test_the_written_study_says_how_to_reproduce_it_and_which_weights_it_judged(tmp_path):
    from spect_tutorial.observer import main
    from spect_tutorial.weights import load_manifest

    out = tmp_path / "observer.json"
    argv = [
        "--out",
        str(out),
        "--realizations",
        "8",
        "--count-level",
        "100",
        "--methods",
        "noisy",
        "win5rb_n2n_teaching",
        "--acquisition",
        "v2",
    ]
    assert main(argv) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["acquisition"] == "v2"
    assert written["weights_sha256"] == {
        "win5rb_n2n_teaching": load_manifest("win5rb_n2n_teaching")["weights_sha256"]
    }
    assert written["command"].endswith(
        "--patient 1 --count-level 100 --realizations 8 --severity 0.1 "
        "--methods noisy win5rb_n2n_teaching --acquisition v2"
    )
    assert set(written["auc"]) == {"noisy", "win5rb_n2n_teaching"}


def test_each_acquisition_has_its_own_committed_study():
    from spect_tutorial import observer

    assert observer.default_output("v1") == observer.DEFAULT_OUTPUT
    assert observer.default_output("v2") == observer.DEFAULT_OUTPUT.with_name("observer_v2.json")
    with pytest.raises(ValueError, match="acquisition"):
        observer.default_output("v7")
    assert observer.main(["--acquisition", "v7"]) == 1  # refused before any simulation
