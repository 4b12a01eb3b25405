"""The package's public face: fast, TensorFlow-free import and a complete public API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


def _stub_imports() -> dict[str, list[str]]:
    """The stub's imports (the one list of public names): module -> names."""
    stub = Path(spect_tutorial.__file__).with_suffix(".pyi")
    imports: dict[str, list[str]] = {}
    for node in ast.parse(stub.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            assert node.level == 1, ast.unparse(node)
            assert all(alias.asname == alias.name for alias in node.names), ast.unparse(node)
            imports.setdefault(node.module or "", []).extend(a.name for a in node.names)
    return imports


def test_every_public_name_resolves():
    imports = _stub_imports()
    submodules = imports.pop("")
    names = [name for module_names in imports.values() for name in module_names]
    assert len(names) == len(set(names)), "a public name is listed twice"
    assert sorted(spect_tutorial.__all__) == sorted([*names, "__version__"])
    for name in spect_tutorial.__all__:
        assert getattr(spect_tutorial, name) is not None, name
    for name in submodules:  # light submodules as attributes: st.plotting.BOOK_STYLE
        assert getattr(spect_tutorial, name).__name__ == f"spect_tutorial.{name}"
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
