"""Tests for spect_tutorial.phantom_file (phantom files) and .formats (XCAT, Interfile)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spect_tutorial.formats import load_interfile, load_xcat_raw, phantom_from_arrays
from spect_tutorial.frame import LVGeometry
from spect_tutorial.phantom import Phantom
from spect_tutorial.phantom_file import load_phantom, phantom_hash, save_phantom

SHAPE = (16, 16, 16)


def small_phantom(*, lv: bool = True) -> Phantom:
    """A 16^3 phantom built directly (independent of make_phantom)."""
    rng = np.random.default_rng(7)
    activity = rng.uniform(0.0, 2.0, SHAPE).astype(np.float32)
    mu = np.full(SHAPE, 0.15, dtype=np.float32)
    mu[:, :, :3] = 0.03
    # supersampling fractions k/64 (exact in float16) and one map that is not
    myocardium = (rng.integers(0, 65, SHAPE) / 64.0).astype(np.float32)
    body = np.ones(SHAPE, dtype=np.float32)
    smooth = rng.uniform(0.0, 1.0, SHAPE).astype(np.float32)
    return Phantom(
        activity=activity,
        mu=mu,
        voxel_size_mm=6.4,
        masks={"myocardium": myocardium >= 0.5, "body": body >= 0.5, "defect": smooth > 0.9},
        lv=LVGeometry.from_angles((12.5, -20.0, 3.0), azimuth_deg=45.0, elevation_deg=30.0)
        if lv
        else None,
        occupancy={"myocardium": myocardium, "body": body, "smooth": smooth},
        parameters={"seed": 3, "wall_thickness_mm": 9.0, "defect": {"segments": [4, 10]}},
    )


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def metadata_of(path: Path) -> dict:
    return json.loads(read_npz(path)["metadata"].tobytes().decode("utf-8"))


# ---------------------------------------------------------------------------
# save_phantom / load_phantom
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_lv", [True, False])
def test_round_trip_is_exact(tmp_path, with_lv):
    phantom = small_phantom(lv=with_lv)
    path = save_phantom(phantom, tmp_path / "phantom.npz")
    assert path == tmp_path / "phantom.npz"
    loaded = load_phantom(path)

    for name in ("activity", "mu"):
        original, back = getattr(phantom, name), getattr(loaded, name)
        assert back.dtype == np.float32 and back.shape == SHAPE
        assert np.array_equal(back.view(np.uint32), original.view(np.uint32))
    assert loaded.masks.keys() == phantom.masks.keys()
    for name, mask in phantom.masks.items():
        assert loaded.masks[name].dtype == bool
        assert np.array_equal(loaded.masks[name], mask)
    assert loaded.occupancy.keys() == phantom.occupancy.keys()
    for name, fraction in phantom.occupancy.items():
        assert loaded.occupancy[name].dtype == np.float32
        assert np.array_equal(loaded.occupancy[name].view(np.uint32), fraction.view(np.uint32))
    assert loaded.voxel_size_mm == phantom.voxel_size_mm
    if with_lv:
        assert loaded.lv == phantom.lv
        assert loaded.lv.to_dict() == phantom.lv.to_dict()  # bit-exact, not just allclose
    else:
        assert loaded.lv is None
    assert loaded.parameters == phantom.parameters
    assert phantom_hash(loaded) == phantom_hash(phantom) == metadata_of(path)["phantom_hash"]


def test_lv_survives_round_trip_bit_exactly_for_many_orientations(tmp_path):
    # LVGeometry re-normalises on construction; the loader must keep the saved bits.
    base = small_phantom()
    rng = np.random.default_rng(0)
    for index in range(10):
        axis = rng.normal(size=3)
        lv = LVGeometry(tuple(rng.normal(size=3) * 30), axis, np.cross(axis, rng.normal(size=3)))
        phantom = Phantom(base.activity, base.mu, base.voxel_size_mm, lv=lv)
        loaded = load_phantom(save_phantom(phantom, tmp_path / f"p{index}.npz"))
        assert loaded.lv.to_dict() == lv.to_dict()
        assert phantom_hash(loaded) == phantom_hash(phantom)


def test_file_layout(tmp_path):
    phantom = small_phantom()
    path = save_phantom(phantom, tmp_path / "phantom.npz")
    entries = read_npz(path)
    assert set(entries) == {
        "activity",
        "mu",
        "mask__myocardium",
        "mask__body",
        "mask__defect",
        "occupancy__myocardium",
        "occupancy__body",
        "occupancy__smooth",
        "metadata",
    }
    assert entries["metadata"].dtype == np.uint8
    # k/64 fractions are stored as (exact) float16, other fractions as float32
    assert entries["occupancy__myocardium"].dtype == np.float16
    assert entries["occupancy__smooth"].dtype == np.float32
    assert entries["mask__defect"].dtype == bool
    metadata = metadata_of(path)
    assert metadata["format"] == "spect_tutorial.phantom"
    assert metadata["format_version"] == 1
    assert metadata["voxel_size_mm"] == 6.4
    assert metadata["lv"] == phantom.lv.to_dict()
    assert metadata["parameters"] == phantom.parameters
    with zipfile.ZipFile(path) as archive:  # compressed
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())


def test_hash_is_stable_across_saves(tmp_path):
    phantom = small_phantom()
    first = save_phantom(phantom, tmp_path / "a.npz")
    second = save_phantom(phantom, tmp_path / "b.npz")
    assert metadata_of(first)["phantom_hash"] == metadata_of(second)["phantom_hash"]
    assert phantom_hash(load_phantom(first)) == phantom_hash(load_phantom(second))
    assert phantom_hash(phantom) == phantom_hash(small_phantom())


def test_hash_changes_with_one_voxel_mask_or_parameter():
    reference = phantom_hash(small_phantom())
    changed = small_phantom()
    changed.activity[3, 4, 5] = np.nextafter(changed.activity[3, 4, 5], np.float32(10))
    assert phantom_hash(changed) != reference
    changed = small_phantom()
    changed.masks["defect"][0, 0, 0] = ~changed.masks["defect"][0, 0, 0]
    assert phantom_hash(changed) != reference
    changed = small_phantom()
    changed.parameters["seed"] = 4
    assert phantom_hash(changed) != reference
    changed = small_phantom()
    changed.voxel_size_mm = 3.2
    assert phantom_hash(changed) != reference


def test_hash_accepts_numpy_scalars_in_parameters(tmp_path):
    phantom = small_phantom()
    phantom.parameters = {"seed": np.int64(3), "sizes": np.array([1.5, 2.0]), "pair": (1, 2)}
    loaded = load_phantom(save_phantom(phantom, tmp_path / "p.npz"))
    assert loaded.parameters == {"seed": 3, "sizes": [1.5, 2.0], "pair": [1, 2]}
    assert phantom_hash(loaded) == phantom_hash(phantom)


def test_parameters_must_be_json_serialisable(tmp_path):
    phantom = small_phantom()
    phantom.parameters = {"callback": print}
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_phantom(phantom, tmp_path / "p.npz")
    phantom.parameters = {"x": float("nan")}
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_phantom(phantom, tmp_path / "p.npz")
    assert not list(tmp_path.iterdir())


def test_refuses_to_overwrite_and_overwrite_true_works(tmp_path):
    path = tmp_path / "phantom.npz"
    save_phantom(small_phantom(), path)
    other = small_phantom()
    other.activity[0, 0, 0] += 1.0
    with pytest.raises(FileExistsError, match=r"phantom\.npz.*overwrite=True"):
        save_phantom(other, path)
    assert phantom_hash(load_phantom(path)) == phantom_hash(small_phantom())
    save_phantom(other, path, overwrite=True)
    assert phantom_hash(load_phantom(path)) == phantom_hash(other)


def test_atomic_write_leaves_no_temporary_files_and_creates_folders(tmp_path):
    path = tmp_path / "deep" / "er" / "phantom.npz"
    save_phantom(small_phantom(), path)
    save_phantom(small_phantom(), path, overwrite=True)
    assert sorted(p.name for p in path.parent.iterdir()) == ["phantom.npz"]


def test_failed_write_leaves_no_temporary_file(tmp_path):
    phantom = small_phantom()
    phantom.parameters = {"bad": object()}
    with pytest.raises(ValueError):
        save_phantom(phantom, tmp_path / "p.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_bad_paths(tmp_path):
    with pytest.raises(ValueError, match=r"'\.npz'.*phantom\.npy"):
        save_phantom(small_phantom(), tmp_path / "phantom.npy")
    with pytest.raises(ValueError, match=r"'\.npz'"):
        save_phantom(small_phantom(), tmp_path / "phantom")
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(ValueError, match="folder"):
        save_phantom(small_phantom(), tmp_path / "folder.npz", overwrite=True)
    with pytest.raises(TypeError, match="Phantom"):
        save_phantom(np.zeros(SHAPE), tmp_path / "x.npz")


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        load_phantom(tmp_path / "missing.npz")


def test_load_wrong_suffix(tmp_path):
    path = tmp_path / "phantom.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match=r"'\.npz'.*phantom\.npy"):
        load_phantom(path)


def test_load_truncated_file(tmp_path):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"phantom\.npz.*not a readable"):
        load_phantom(path)


def test_load_damaged_member(tmp_path):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"phantom\.npz"):
        load_phantom(path)


def test_load_random_bytes(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(ValueError, match=r"noise\.npz.*not a readable"):
        load_phantom(path)


def test_load_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.npz"):
        load_phantom(path)


def test_load_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, images=np.zeros((2, 2)), labels=np.arange(3))
    with pytest.raises(ValueError, match=r"foreign\.npz.*metadata"):
        load_phantom(path)


def test_load_foreign_metadata(tmp_path):
    path = tmp_path / "foreign.npz"
    metadata = np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8)
    np.savez(path, activity=np.zeros(SHAPE, np.float32), metadata=metadata)
    with pytest.raises(ValueError, match=r"foreign\.npz.*not a spect_tutorial phantom"):
        load_phantom(path)


def test_load_newer_format_version(tmp_path):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    entries = read_npz(path)
    metadata = metadata_of(path)
    metadata["format_version"] = 2
    entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez_compressed(path, **entries)
    with pytest.raises(ValueError, match=r"phantom\.npz.*version 2"):
        load_phantom(path)


def test_load_missing_array(tmp_path):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    entries = read_npz(path)
    del entries["mask__defect"]
    np.savez_compressed(path, **entries)
    with pytest.raises(ValueError, match=r"phantom\.npz.*missing.*mask__defect"):
        load_phantom(path)


def test_load_tampered_array_gives_hash_mismatch(tmp_path):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    entries = read_npz(path)
    entries["activity"][8, 8, 8] += 0.5
    np.savez_compressed(path, **entries)
    with pytest.raises(ValueError, match=r"phantom\.npz.* is corrupt: hash mismatch"):
        load_phantom(path)


def test_load_tampered_metadata_gives_hash_mismatch(tmp_path):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    entries = read_npz(path)
    metadata = metadata_of(path)
    metadata["parameters"]["seed"] = 99
    entries["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez_compressed(path, **entries)
    with pytest.raises(ValueError, match="is corrupt: hash mismatch"):
        load_phantom(path)


@pytest.mark.parametrize(("value", "message"), [(np.nan, "NaN"), (-1.0, ">= 0")])
def test_load_invalid_activity_names_the_file(tmp_path, value, message):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    entries = read_npz(path)
    entries["activity"][1, 2, 3] = value
    np.savez_compressed(path, **entries)
    with pytest.raises(ValueError, match=rf"phantom\.npz.*activity.*{message}"):
        load_phantom(path)


UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("unpickled")
    return "payload"


class _Payload:
    def __reduce__(self):
        return (_record_unpickling, ())


def test_load_object_array_is_refused_without_unpickling(tmp_path):
    path = save_phantom(small_phantom(), tmp_path / "phantom.npz")
    entries = read_npz(path)
    entries["activity"] = np.array([_Payload()], dtype=object)
    np.savez(path, **entries)  # np.savez pickles object arrays
    UNPICKLED.clear()
    with pytest.raises(ValueError, match=r"phantom\.npz.*(pickle|[Oo]bject)"):
        load_phantom(path)
    assert UNPICKLED == []


# ---------------------------------------------------------------------------
# phantom_from_arrays
# ---------------------------------------------------------------------------


def test_phantom_from_arrays_builds_a_phantom(tmp_path):
    activity = np.ones(SHAPE, dtype=np.float64)
    mu = np.full(SHAPE, 0.15)
    lv = LVGeometry.from_angles((0.0, 0.0, 0.0), azimuth_deg=45.0, elevation_deg=30.0)
    masks = {"myocardium": np.zeros(SHAPE, dtype=np.uint8)}
    phantom = phantom_from_arrays(
        activity, mu, voxel_size_mm=3.2, lv=lv, masks=masks, parameters={"source": "xcat"}
    )
    assert phantom.activity.dtype == np.float32 and phantom.mu.dtype == np.float32
    assert phantom.lv == lv and phantom.occupancy == {}
    assert phantom.masks["myocardium"].dtype == bool
    loaded = load_phantom(save_phantom(phantom, tmp_path / "xcat.npz"))
    assert phantom_hash(loaded) == phantom_hash(phantom)
    # masks are optional
    assert phantom_from_arrays(activity, mu, voxel_size_mm=3.2).masks == {}


@pytest.mark.parametrize(
    ("activity", "mu", "pattern"),
    [
        (np.full(SHAPE, np.nan), np.full(SHAPE, 0.15), "activity.*NaN"),
        (-np.ones(SHAPE), np.full(SHAPE, 0.15), "activity.*>= 0"),
        (np.ones(SHAPE), np.full((16, 16, 8), 0.15), "activity and mu.*same shape"),
        (np.ones(SHAPE), np.full(SHAPE, -0.15), "mu.*>= 0"),
        (np.ones((16, 16)), np.full((16, 16), 0.15), "activity.*3-D"),
    ],
)
def test_phantom_from_arrays_rejects_bad_arrays(activity, mu, pattern):
    with pytest.raises(ValueError, match=pattern):
        phantom_from_arrays(activity, mu, voxel_size_mm=3.2)


def test_phantom_from_arrays_rejects_bad_mask_and_voxel_size():
    activity, mu = np.ones(SHAPE), np.full(SHAPE, 0.15)
    with pytest.raises(ValueError, match=r"mask 'liver'.*shape"):
        phantom_from_arrays(activity, mu, voxel_size_mm=3.2, masks={"liver": np.ones((2, 2, 2))})
    with pytest.raises(ValueError, match="voxel_size_mm"):
        phantom_from_arrays(activity, mu, voxel_size_mm=0.0)


def test_phantom_from_arrays_warns_about_per_pixel_mu():
    with pytest.warns(UserWarning, match="per_pixel"):
        phantom_from_arrays(np.ones(SHAPE), np.full(SHAPE, 0.15 * 0.32), voxel_size_mm=3.2)


# ---------------------------------------------------------------------------
# XCAT raw
# ---------------------------------------------------------------------------

XCAT_SHAPE = (5, 6, 7)


def test_xcat_raw_round_trip(tmp_path):
    volume = np.random.default_rng(2).uniform(0, 3, XCAT_SHAPE).astype("<f4")
    path = tmp_path / "act_1.bin"
    volume.tofile(path)
    back = load_xcat_raw(path, shape=XCAT_SHAPE, voxel_size_mm=3.2)
    assert back.dtype == np.float32 and back.shape == XCAT_SHAPE
    assert np.array_equal(back, volume)
    assert not isinstance(back, np.memmap)


def test_xcat_raw_big_endian_and_integer_dtypes(tmp_path):
    volume = np.arange(np.prod(XCAT_SHAPE)).reshape(XCAT_SHAPE)
    volume.astype(">f4").tofile(tmp_path / "big.bin")
    volume.astype("<u2").tofile(tmp_path / "u16.bin")
    for name, dtype in (("big.bin", ">f4"), ("u16.bin", "<u2")):
        back = load_xcat_raw(tmp_path / name, shape=XCAT_SHAPE, voxel_size_mm=3.2, dtype=dtype)
        assert back.dtype == np.float32
        assert np.array_equal(back, volume.astype(np.float32))


@pytest.mark.parametrize("voxel_size_mm", [3.2, 6.4, 1.0])
def test_xcat_raw_per_pixel_mu_reads_back_per_cm(tmp_path, voxel_size_mm):
    mu_per_cm = np.random.default_rng(3).uniform(0.0, 0.3, XCAT_SHAPE)
    per_pixel = (mu_per_cm * voxel_size_mm / 10.0).astype("<f4")
    path = tmp_path / "atn_1.bin"
    per_pixel.tofile(path)
    back = load_xcat_raw(path, shape=XCAT_SHAPE, voxel_size_mm=voxel_size_mm, mu_unit="per_pixel")
    expected = (per_pixel.astype(np.float64) / (voxel_size_mm / 10.0)).astype(np.float32)
    assert back.dtype == np.float32
    assert np.array_equal(back, expected)
    np.testing.assert_allclose(back, mu_per_cm, rtol=1e-6)
    as_is = load_xcat_raw(path, shape=XCAT_SHAPE, voxel_size_mm=voxel_size_mm, mu_unit="per_cm")
    assert np.array_equal(as_is, per_pixel)


def test_xcat_raw_wrong_size_names_both_byte_counts(tmp_path):
    path = tmp_path / "act_1.bin"
    np.zeros(XCAT_SHAPE, dtype="<f4").tofile(path)
    expected = 5 * 6 * 8 * 4
    actual = 5 * 6 * 7 * 4
    with pytest.raises(ValueError, match=rf"act_1\.bin.*{actual} bytes.*expected {expected}"):
        load_xcat_raw(path, shape=(5, 6, 8), voxel_size_mm=3.2)
    with pytest.raises(ValueError, match=r"act_1\.bin.*bytes"):
        load_xcat_raw(path, shape=XCAT_SHAPE, voxel_size_mm=3.2, dtype="<f8")


def test_xcat_raw_bad_arguments(tmp_path):
    path = tmp_path / "act_1.bin"
    np.zeros(XCAT_SHAPE, dtype="<f4").tofile(path)
    with pytest.raises(ValueError, match=r"mu_unit.*per_cm.*per_pixel.*'per_mm'"):
        load_xcat_raw(path, shape=XCAT_SHAPE, voxel_size_mm=3.2, mu_unit="per_mm")
    with pytest.raises(ValueError, match="shape"):
        load_xcat_raw(path, shape=(5, 6), voxel_size_mm=3.2)
    with pytest.raises(ValueError, match="shape"):
        load_xcat_raw(path, shape=(5, 6, -7), voxel_size_mm=3.2)
    with pytest.raises(ValueError, match="voxel_size_mm"):
        load_xcat_raw(path, shape=XCAT_SHAPE, voxel_size_mm=-1)
    with pytest.raises(ValueError, match="dtype"):
        load_xcat_raw(path, shape=XCAT_SHAPE, voxel_size_mm=3.2, dtype="<c8")
    with pytest.raises(FileNotFoundError, match=r"nothing\.bin"):
        load_xcat_raw(tmp_path / "nothing.bin", shape=XCAT_SHAPE, voxel_size_mm=3.2)


# ---------------------------------------------------------------------------
# Interfile
# ---------------------------------------------------------------------------

INTERFILE_FORMATS = {
    "<f4": ("short float", 4, "LITTLEENDIAN"),
    ">f4": ("float", 4, "BIGENDIAN"),
    "<u2": ("unsigned integer", 2, "LITTLEENDIAN"),
    ">u2": ("unsigned integer", 2, "BIGENDIAN"),
    ">i2": ("signed integer", 2, "BIGENDIAN"),
    "<f8": ("long float", 8, "LITTLEENDIAN"),
}


def write_interfile(
    folder: Path,
    data: np.ndarray,
    *,
    dtype: str = "<f4",
    kind: str = "image",
    offset: int = 0,
    offset_key: str = "!data offset in bytes",
    extra: str = "",
    drop: tuple[str, ...] = (),
    stem: str = "volume",
) -> Path:
    """Write a SIMIND-style header/data pair; returns the header path."""
    number_format, n_bytes, order = INTERFILE_FORMATS[dtype]
    data_path = folder / f"{stem}.a00"
    with open(data_path, "wb") as handle:
        handle.write(b"\xab" * offset)
        handle.write(np.ascontiguousarray(data, dtype=dtype).tobytes())
    n_images, rows, cols = data.shape
    offset_value = offset // 2048 if "block" in offset_key else offset
    lines = [
        "!INTERFILE :=",
        "!imaging modality := nucmed",
        "!originating system := simind",
        "!version of keys := 3.3",
        "; a comment line",
        "!GENERAL DATA :=",
        f"{offset_key} := {offset_value}",
        f"!name of data file := {data_path.name}   ; trailing comment",
        "!GENERAL IMAGE DATA :=",
        "!type of data := Tomographic",
        f"!total number of images := {n_images}",
        f"IMAGEDATA BYTE ORDER := {order}",
        f"!Matrix Size [1] := {cols}",
        f"!matrix size [2] := {rows}",
        f"!number format := {number_format}",
        f"!number of bytes per pixel := {n_bytes}",
        "scaling factor (mm/pixel) [1] := 4.42",
        "scaling factor (mm/pixel) [2] := 4.5",
    ]
    if kind == "projections":
        lines += [
            "!SPECT STUDY (General) :=",
            f"!number of projections := {n_images}",
            "!extent of rotation := 180",
            "!process status := Acquired",
            "!SPECT STUDY (acquired data) :=",
            "!direction of rotation := CCW",
            "start angle := 315",
        ]
    else:
        lines += [
            "!SPECT STUDY (reconstructed data) :=",
            "!process status := Reconstructed",
            "!slice thickness (pixels) := 1",
        ]
    lines += [extra, "!END OF INTERFILE :=", "bogus key := after the end"]
    lines = [
        line for line in lines if not any(line.lower().lstrip("!").startswith(key) for key in drop)
    ]
    header_path = folder / f"{stem}.h33"
    header_path.write_text("\r\n".join(lines) + "\r\n", encoding="latin-1")
    return header_path


@pytest.mark.parametrize("dtype", sorted(INTERFILE_FORMATS))
@pytest.mark.parametrize("kind", ["image", "projections"])
@pytest.mark.parametrize("offset", [0, 100])
def test_interfile_round_trip(tmp_path, dtype, kind, offset):
    data = np.random.default_rng(4).integers(0, 1000, (6, 5, 4)).astype(np.float32)
    if dtype.endswith("f4"):
        data += 0.25
    header = write_interfile(tmp_path, data, dtype=dtype, kind=kind, offset=offset)
    array, metadata = load_interfile(header)
    assert array.dtype == np.float32 and array.shape == (6, 5, 4)
    assert np.array_equal(array, data)
    assert metadata["kind"] == kind
    assert metadata["shape"] == (6, 5, 4)
    assert metadata["dtype"] == np.dtype(dtype).str
    assert metadata["byte_order"] == INTERFILE_FORMATS[dtype][2]
    assert metadata["offset_bytes"] == offset
    assert metadata["data_file"] == (tmp_path / "volume.a00").resolve()
    assert metadata["data_file"].is_absolute()
    expected_axis0 = 4.42 if kind == "image" else None
    assert metadata["pixel_size_mm"] == (expected_axis0, 4.5, 4.42)
    assert metadata["raw"]["imaging modality"] == "nucmed"
    assert metadata["raw"]["name of data file"] == "volume.a00"
    assert "bogus key" not in metadata["raw"]


def test_interfile_data_starting_block_and_matrix_size_3(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    header = write_interfile(
        tmp_path,
        data,
        dtype=">f4",
        offset=2048,
        offset_key="data starting block",
        drop=("total number of images",),
        extra="matrix size [3] := 2\nscaling factor (mm/pixel) [3] := 6.0",
    )
    array, metadata = load_interfile(header)
    assert np.array_equal(array, data)
    assert metadata["offset_bytes"] == 2048
    assert metadata["pixel_size_mm"] == (6.0, 4.5, 4.42)


def test_interfile_projections_without_process_status(tmp_path):
    data = np.ones((3, 2, 2), dtype=np.float32)
    header = write_interfile(tmp_path, data, kind="projections", drop=("process status",))
    assert load_interfile(header)[1]["kind"] == "projections"


def test_interfile_data_file_in_another_folder(tmp_path):
    (tmp_path / "data").mkdir()
    data = np.ones((2, 2, 2), dtype=np.float32)
    header = write_interfile(tmp_path / "data", data)
    moved = tmp_path / "volume.h33"
    moved.write_text(header.read_text().replace("volume.a00", "data/volume.a00"))
    array, metadata = load_interfile(moved)
    assert np.array_equal(array, data)
    assert metadata["data_file"] == (tmp_path / "data" / "volume.a00").resolve()


def test_interfile_missing_header(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.h33"):
        load_interfile(tmp_path / "nothing.h33")


def test_interfile_not_a_header(tmp_path):
    path = tmp_path / "volume.a00"
    path.write_bytes(np.random.default_rng(5).bytes(256).replace(b":=", b"xx"))
    with pytest.raises(ValueError, match=r"volume\.a00.*Interfile header"):
        load_interfile(path)


def test_interfile_missing_data_file(tmp_path):
    header = write_interfile(tmp_path, np.ones((2, 2, 2), dtype=np.float32))
    (tmp_path / "volume.a00").unlink()
    with pytest.raises(FileNotFoundError, match=r"volume\.a00.*volume\.h33"):
        load_interfile(header)


def test_interfile_unknown_number_format(tmp_path):
    header = write_interfile(tmp_path, np.ones((2, 2, 2), dtype=np.float32))
    header.write_text(header.read_text().replace("short float", "complex float"))
    with pytest.raises(ValueError, match=r"volume\.h33.*unknown number format 'complex float'"):
        load_interfile(header)


def test_interfile_bytes_per_pixel_inconsistent(tmp_path):
    header = write_interfile(tmp_path, np.ones((2, 2, 2), dtype=np.float32))
    header.write_text(header.read_text().replace("bytes per pixel := 4", "bytes per pixel := 2"))
    with pytest.raises(ValueError, match=r"volume\.h33.*bytes per pixel 2.*'short float'"):
        load_interfile(header)


def test_interfile_short_data_file(tmp_path):
    header = write_interfile(tmp_path, np.ones((2, 2, 2), dtype=np.float32), offset=16)
    data_path = tmp_path / "volume.a00"
    data_path.write_bytes(data_path.read_bytes()[:-4])
    with pytest.raises(ValueError, match=r"volume\.a00.*44 bytes.*too short.*48 bytes"):
        load_interfile(header)


@pytest.mark.parametrize(
    ("drop", "pattern"),
    [
        ("matrix size [1]", r"volume\.h33.*missing the key 'matrix size \[1\]'"),
        ("matrix size [2]", r"volume\.h33.*missing the key 'matrix size \[2\]'"),
        ("number format", r"volume\.h33.*missing the key 'number format'"),
        ("name of data file", r"volume\.h33.*missing the key 'name of data file'"),
    ],
)
def test_interfile_missing_keys(tmp_path, drop, pattern):
    header = write_interfile(tmp_path, np.ones((2, 2, 2), dtype=np.float32), drop=(drop,))
    with pytest.raises(ValueError, match=pattern):
        load_interfile(header)


def test_interfile_bad_values(tmp_path):
    header = write_interfile(tmp_path, np.ones((2, 2, 2), dtype=np.float32))
    text = header.read_text()
    header.write_text(text.replace("!matrix size [2] := 2", "!matrix size [2] := two"))
    with pytest.raises(ValueError, match=r"volume\.h33.*'matrix size \[2\]'.*'two'"):
        load_interfile(header)
    header.write_text(text.replace("LITTLEENDIAN", "MIDDLEENDIAN"))
    with pytest.raises(ValueError, match=r"volume\.h33.*byte order.*MIDDLEENDIAN"):
        load_interfile(header)
    header.write_text(text.replace("[1] := 4.42", "[1] := inf"))
    with pytest.raises(ValueError, match=r"volume\.h33.*scaling factor.*finite number.*'inf'"):
        load_interfile(header)
    header.write_text(text.replace("total number of images := 2", "total number of images := 1.5"))
    with pytest.raises(ValueError, match=r"volume\.h33.*'total number of images'.*integer"):
        load_interfile(header)
