"""The held-out evaluation protocol: committed seeds, half with a defect, not in training."""

from __future__ import annotations

import pytest

from spect_tutorial.datasets import training_seeds
from spect_tutorial.protocol import (
    EVALUATION_COUNT_LEVELS,
    EVALUATION_PHANTOMS,
    EVALUATION_REALIZATIONS,
    TERRITORIES,
    TERRITORY_PHANTOMS,
    TERRITORY_SEVERITIES,
    TUNING_PHANTOMS,
    check_disjoint_from_evaluation,
    evaluation_phantom,
)


def test_protocol_meets_the_science_reference():
    assert len(EVALUATION_PHANTOMS) >= 6
    assert sum(entry.defect for entry in EVALUATION_PHANTOMS) * 2 == len(EVALUATION_PHANTOMS)
    assert len({entry.seed for entry in EVALUATION_PHANTOMS}) == len(EVALUATION_PHANTOMS)
    assert EVALUATION_REALIZATIONS >= 3
    assert tuple(EVALUATION_COUNT_LEVELS) == (12.5, 25.0, 50.0, 100.0, 200.0)


def test_territory_protocol_has_every_territory_at_both_severities_once():
    assert set(TERRITORIES) == {
        "LAD anterior", "LAD apical", "LCx lateral", "RCA inferior", "RCA inferoseptal"
    }
    assert TERRITORY_SEVERITIES == (0.25, 0.5)
    combinations = [(entry.territory, entry.severity) for entry in TERRITORY_PHANTOMS]
    assert sorted(combinations) == sorted(
        (territory, severity) for territory in TERRITORIES for severity in TERRITORY_SEVERITIES
    )
    seeds = [entry.seed for entry in TERRITORY_PHANTOMS]
    assert len(set(seeds)) == len(seeds), "every territory patient has its own anatomy"
    assert set(seeds).isdisjoint(entry.seed for entry in EVALUATION_PHANTOMS)


def test_tuning_patients_have_the_territory_design_and_anatomies_of_their_own():
    """Chosen on the tuning patients, judged on the territory patients: never the same."""
    design = [(entry.territory, entry.severity) for entry in TERRITORY_PHANTOMS]
    assert [(entry.territory, entry.severity) for entry in TUNING_PHANTOMS] == design
    seeds = {entry.seed for entry in TUNING_PHANTOMS}
    assert seeds == set(range(7201, 7211)), "committed seeds: never change them"
    assert seeds.isdisjoint(entry.seed for entry in (*EVALUATION_PHANTOMS, *TERRITORY_PHANTOMS))
    with pytest.raises(ValueError, match="7201"):
        check_disjoint_from_evaluation([7201])


def test_evaluation_seeds_are_disjoint_from_every_training_seed():
    held_out = {
        entry.seed for entry in (*EVALUATION_PHANTOMS, *TERRITORY_PHANTOMS, *TUNING_PHANTOMS)
    }
    for seed in range(100):
        seeds = training_seeds(seed, 500)
        for stream in ("phantom", "noise", "split"):
            assert held_out.isdisjoint(seeds[stream]), (seed, stream)
        check_disjoint_from_evaluation(seeds["phantom"])
    with pytest.raises(ValueError, match="7002"):
        check_disjoint_from_evaluation([1, 7002])
    with pytest.raises(ValueError, match="7105"):
        check_disjoint_from_evaluation([7105, 3])


def test_held_out_phantoms_have_a_defect_exactly_when_the_protocol_says():
    for index, entry in enumerate(EVALUATION_PHANTOMS):
        phantom = evaluation_phantom(index, shape=(32, 32, 32), voxel_size_mm=12.8)
        assert ("defect" in phantom.masks) == entry.defect
        assert phantom.parameters["seed"] == entry.seed
    with pytest.raises(ValueError, match="index"):
        evaluation_phantom(len(EVALUATION_PHANTOMS))
