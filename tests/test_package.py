"""The package's public face: fast, TensorFlow-free import and a complete public API."""

from __future__ import annotations

import subprocess
import sys

import spect_tutorial


def test_import_does_not_load_tensorflow_or_keras():
    code = (
        "import sys, spect_tutorial as st; "
        "st.make_phantom(shape=(8, 8, 8), voxel_size_mm=50.0); "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"importing the package loaded {result.stdout.strip()}"


def test_every_public_name_resolves():
    eager = ["__version__", "reorient", "reorient_back"]
    assert sorted(spect_tutorial.__all__) == sorted([*spect_tutorial._PUBLIC, *eager])
    for name in spect_tutorial.__all__:
        assert getattr(spect_tutorial, name) is not None, name
    assert "make_phantom" in dir(spect_tutorial)


def test_unknown_attribute_gives_a_clear_error():
    try:
        spect_tutorial.no_such_function  # noqa: B018
    except AttributeError as error:
        assert "no_such_function" in str(error)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_reorient_function_survives_importing_its_module():
    import spect_tutorial.reorient  # rebinding the attribute would shadow the function

    assert callable(spect_tutorial.reorient)
    assert spect_tutorial.reorient.__module__ == "spect_tutorial.reorient"
