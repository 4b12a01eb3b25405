"""data/ cannot drift from the code: every shipped phantom is rebuilt and its hash compared."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spect_tutorial.data import (
    DATA_DIR,
    SHIPPED_PHANTOMS,
    build_shipped_phantom,
    load_shipped_phantom,
    main,
    write_shipped_phantom,
)
from spect_tutorial.phantom_file import phantom_hash


@pytest.mark.parametrize("name", sorted(SHIPPED_PHANTOMS))
def test_shipped_phantom_matches_the_code(name):
    manifest = json.loads((DATA_DIR / f"phantom_{name}.json").read_text())
    assert manifest["command"].startswith("python -m spect_tutorial.data")
    rebuilt = build_shipped_phantom(name)
    assert phantom_hash(rebuilt) == manifest["array_hash_sha256"]
    shipped = load_shipped_phantom(name)
    np.testing.assert_array_equal(shipped.activity, rebuilt.activity)
    assert shipped.lv == rebuilt.lv
    assert (DATA_DIR / manifest["file"]).stat().st_size < 5_000_000, "keep data/ small"


def test_the_command_refuses_to_overwrite(tmp_path):
    assert main(["--only", "default", "--data-dir", str(tmp_path)]) == 0
    before = (tmp_path / "phantom_default.json").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        main(["--only", "default", "--data-dir", str(tmp_path)])
    assert (tmp_path / "phantom_default.json").read_bytes() == before
    write_shipped_phantom("default", data_dir=tmp_path, overwrite=True)
    assert not list(tmp_path.glob(".*tmp")), "atomic writes leave no temporary files"


def test_a_tampered_manifest_is_detected(tmp_path):
    write_shipped_phantom("default", data_dir=tmp_path)
    manifest_path = tmp_path / "phantom_default.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["array_hash_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="does not match its manifest"):
        load_shipped_phantom("default", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown shipped phantom"):
        load_shipped_phantom("nonexistent", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"spect_tutorial\.data"):
        load_shipped_phantom("inferior_defect", data_dir=tmp_path)
