"""tools.carry_set: a training-set cache entry carried in parts keeps its data fingerprint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spect_tutorial.datasets import _stores
from tools.carry_set import pack, unpack

LEVELS = (25.0, 100.0)


@pytest.fixture
def entry(tmp_path):
    rng = np.random.default_rng(0)
    shape = (3, len(LEVELS), 2, 4, 8, 8)  # phantoms, levels, realizations, slices, rows, cols
    arrays = {
        "noisy": rng.gamma(2.0, 1.0, shape).astype(np.float32),
        "noisy_means": rng.random(shape[:3]),
        "ideal": rng.random((3, 4, 8, 8)).astype(np.float32),
        "ideal_levels": rng.random((3, len(LEVELS), 4, 8, 8)).astype(np.float32),
        "myocardium": rng.random((3, 4, 8, 8)) > 0.5,
        "validation": np.array([False, False, True]),
        "origins": np.zeros((3, 3), np.int64),
        "has_defect": np.array([True, False, True]),
        "halves": rng.random((3, len(LEVELS), 2, 4, 8, 8)).astype(np.float32),
        "halves_means": rng.random((3, len(LEVELS), 2)),
    }
    folder = tmp_path / "entry"
    folder.mkdir()
    np.savez(folder / "data.npz", **arrays)
    (folder / "manifest.json").write_text(json.dumps({"parameters": {"n": 3}}))
    return folder, arrays


def _damage(part):
    """Flip one bit in the middle of a packed part; returns its path."""
    content = bytearray(part.read_bytes())
    content[len(content) // 2] ^= 1
    part.write_bytes(bytes(content))
    return part


def _stores_of(arrays):
    return _stores(arrays, count_levels=LEVELS, voxel_size_mm=6.4, phantom_seeds=(1, 2, 3))


def test_pack_and_unpack_keep_the_noise2noise_data_and_its_fingerprint(entry, tmp_path):
    folder, arrays = entry
    description = pack(folder, tmp_path / "parts", part_mb=0.002)
    assert description["parts"] > 1  # really split
    digest = unpack(tmp_path / "parts", tmp_path / "rebuilt")
    assert digest == description["sha256"]
    assert json.loads((tmp_path / "rebuilt" / "manifest.json").read_text()) == json.loads(
        (folder / "manifest.json").read_text()
    )
    with np.load(tmp_path / "rebuilt" / "data.npz") as data:
        rebuilt = {name: data[name] for name in data.files}
    np.testing.assert_array_equal(rebuilt["noisy"], arrays["noisy"])
    assert "halves" not in rebuilt and "halves_means" not in rebuilt
    for name in ("ideal", "ideal_levels"):
        np.testing.assert_array_equal(rebuilt[name][2], arrays[name][2])  # held out: kept
        assert not rebuilt[name][:2].any()  # training phantoms: left out
    noisy, _, split = _stores_of(rebuilt)
    original, _, _ = _stores_of(arrays)
    assert noisy.fingerprint() == original.fingerprint()
    assert split is None  # no count split can be trained on a carried entry


def test_carrying_refuses_damage_and_never_overwrites(entry, tmp_path):
    folder, _ = entry
    pack(folder, tmp_path / "parts", part_mb=0.002)
    with pytest.raises(FileExistsError, match="parts"):
        pack(folder, tmp_path / "parts")
    with pytest.raises(ValueError, match="part_mb"):
        pack(folder, tmp_path / "other", part_mb=0)
    unpack(tmp_path / "parts", tmp_path / "rebuilt")
    with pytest.raises(FileExistsError, match=r"data\.npz"):
        unpack(tmp_path / "parts", tmp_path / "rebuilt")
    part = _damage(tmp_path / "parts" / "noisy.1")
    with pytest.raises(ValueError, match=r"damaged|SHA-256"):
        unpack(tmp_path / "parts", tmp_path / "again")
    assert not (tmp_path / "again" / "manifest.json").exists()
    part.unlink()
    with pytest.raises(ValueError, match=r"noisy\.1 is missing"):
        unpack(tmp_path / "parts", tmp_path / "again")


def test_packing_everything_carries_the_halves_and_every_ideal_image(entry, tmp_path):
    folder, arrays = entry
    pack(folder, tmp_path / "parts", part_mb=0.002, everything=True)
    assert len(list((tmp_path / "parts").glob("halves.*"))) > 2  # parts and description
    unpack(tmp_path / "parts", tmp_path / "rebuilt")
    with np.load(tmp_path / "rebuilt" / "data.npz") as data:
        rebuilt = {name: data[name] for name in data.files}
    assert set(rebuilt) == set(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(rebuilt[name], array)
    noisy, _, split = _stores_of(rebuilt)
    original, _, original_split = _stores_of(arrays)
    assert noisy.fingerprint() == original.fingerprint()
    assert split is not None and split.fingerprint() == original_split.fingerprint()
    # a damaged halves part is refused like a noisy one
    _damage(tmp_path / "parts" / "halves.0")
    with pytest.raises(ValueError, match=r"damaged|SHA-256"):
        unpack(tmp_path / "parts", tmp_path / "again")
