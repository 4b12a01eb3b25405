"""Packaging, CI and book-build checks: what a fresh clone relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tools import bookbuild

ROOT = Path(__file__).resolve().parents[1]
#: Binder and CI run Linux: pyproject's requirements are compared under these markers.
LINUX = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _pyproject_requirements() -> dict[str, SpecifierSet]:
    requirements = {}
    for line in _pyproject()["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(LINUX):
            requirements[canonicalize_name(requirement.name)] = requirement.specifier
    return requirements


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _constraints() -> dict[str, str]:
    """constraints.txt as name -> pinned version."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        assert separator, f"constraints.txt: {line!r} is not name==version"
        name = canonicalize_name(name)
        assert name not in pins, f"{name} pinned twice in constraints.txt"
        pins[name] = version
    return pins


def test_environment_is_python_and_pip_with_the_projects_pins() -> None:
    # Conda gives Python and pip only; pip installs the package under constraints.txt.
    dependencies = _environment()["dependencies"]
    conda = [entry for entry in dependencies if not isinstance(entry, dict)]
    assert conda == ["python=3.11", "pip"]
    (pip_section,) = [entry["pip"] for entry in dependencies if isinstance(entry, dict)]
    # The book extra: Binder runs the chapters with the book build's kernel stack.
    assert pip_section == ["-c constraints.txt", "-e .[book]"]


def test_make_test_installs_with_the_same_pins() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    # The venv of make test/book (the `constraints` target re-resolves without pins).
    install = [line for line in makefile.splitlines() if "$(PIP) install" in line and "-e" in line]
    assert install and all("-c constraints.txt" in line for line in install), install
    assert "$(STAMP): pyproject.toml constraints.txt" in makefile


def test_pins_satisfy_pyproject() -> None:
    pins = _constraints()
    requirements = dict(_pyproject_requirements())
    extras = _pyproject()["project"]["optional-dependencies"]
    for line in [*extras["test"], *extras["book"]]:
        requirement = Requirement(line)
        requirements[canonicalize_name(requirement.name)] = requirement.specifier
    assert "tensorflow-cpu" in requirements
    for name, specifier in requirements.items():
        assert name in pins, f"{name} (pyproject) has no pin in constraints.txt"
        assert specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} in constraints.txt is outside pyproject's {specifier}"
        )


def test_the_package_needs_only_the_science_stack() -> None:
    # The book tooling (tools/) and its packages are extras, never the package's own needs.
    book_only = {"jupyter-book", "papermill", "ipykernel", "pytest-socket", "nbformat"}
    assert not book_only & set(_pyproject_requirements())
    assert {"jupyter-book", "papermill", "ipykernel", "pytest-socket"} <= {
        canonicalize_name(Requirement(line).name)
        for line in _pyproject()["project"]["optional-dependencies"]["book"]
    }
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-e '.[test,book,bm4d]'" in makefile
    imports = ("papermill", "jupyter_book", "nbformat", "pytest_socket", "tools")
    for path in sorted((ROOT / "spect_tutorial").glob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in imports, f"{path.name}: {line.strip()}"


def test_the_wheel_ships_the_public_names_stub() -> None:
    # lazy_loader reads spect_tutorial/__init__.pyi at import: without it the import fails.
    package_data = _pyproject()["tool"]["setuptools"]["package-data"]["spect_tutorial"]
    assert "__init__.pyi" in package_data
    assert (ROOT / "spect_tutorial" / "__init__.pyi").is_file()


def test_pyproject_licence_and_python() -> None:
    project = _pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    assert project["requires-python"] == ">=3.11"


def test_ci_runs_the_readme_test_command() -> None:
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    text = ci.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert "make test" in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make book" in readme
    assert "make test" in readme


def test_toc_lists_every_notebook_and_every_entry_exists() -> None:
    entries = bookbuild.toc_entries(ROOT)
    assert entries[0] == "book/index"
    for entry in entries:
        assert (ROOT / f"{entry}.md").exists() or (ROOT / f"{entry}.ipynb").exists(), entry
    listed = {Path(f"{entry}.ipynb") for entry in entries}
    for path in (ROOT / "book").glob("*.ipynb"):
        assert path.relative_to(ROOT) in listed, f"{path.name} is not in _toc.yml"
    assert bookbuild.toc_notebooks(ROOT)  # raises if a notebook is unlisted


def test_unlisted_notebook_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\n", encoding="utf-8")
    (tmp_path / "book" / "index.md").write_text("# Index\n", encoding="utf-8")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "book" / "stray.ipynb")
    with pytest.raises(ValueError, match=r"stray\.ipynb"):
        bookbuild.toc_notebooks(tmp_path)


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_clean_with_parameters(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {path.name} has stored outputs"
            assert cell.execution_count is None, f"cell {index} of {path.name} has a count"
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    # Colab: the first code cell installs the package without reinstalling TensorFlow.
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert 'if "google.colab" in sys.modules:' in first.source, f"{path.name}: no Colab cell"
    assert "--no-deps" in first.source and "remove-cell" in first.metadata.get("tags", [])


def test_bookbuild_does_not_import_tensorflow() -> None:
    code = "import sys, tools.bookbuild; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_runner_measures_the_kernel_peak_memory(tmp_path: Path) -> None:
    big = _notebook(
        tmp_path / "big.ipynb",
        "import numpy as np\nblock = np.ones(400 * 2**20 // 8)\nblock.sum()",
    )
    small = _notebook(tmp_path / "small.ipynb", "x = 1")
    big_result = bookbuild.execute_notebook(big, tmp_path / "out" / "big.ipynb", cwd=tmp_path)
    small_result = bookbuild.execute_notebook(
        small, tmp_path / "out" / "small.ipynb", cwd=tmp_path
    )
    assert big_result.ok and small_result.ok
    # 400 MiB of ones in the kernel, on top of the interpreter: measured in the kernel,
    # per chapter (the small notebook run afterwards is not charged for the big one).
    assert big_result.peak_rss_mb > 400
    assert 20 < small_result.peak_rss_mb < 300
    assert big_result.wall_s > 0
    executed = nbformat.read(tmp_path / "out" / "big.ipynb", as_version=4)
    assert executed.cells[0].outputs, "the executed copy must hold the outputs"


@pytest.mark.slow
def test_runner_reports_a_failing_notebook(tmp_path: Path) -> None:
    broken = _notebook(tmp_path / "broken.ipynb", "raise RuntimeError('chapter broke')")
    result = bookbuild.execute_notebook(broken, tmp_path / "out.ipynb", cwd=tmp_path)
    assert not result.ok
    assert "RuntimeError" in result.error and "chapter broke" in result.error


def test_staging_skips_hidden_caches_and_reports_merge(tmp_path):
    from tools.bookbuild import _previous_rows, stage_sources

    root = tmp_path / "repo"
    (root / "book" / ".cache" / "training").mkdir(parents=True)
    (root / "book" / ".cache" / "training" / "data.npz").write_bytes(b"x")
    (root / "book" / "index.md").write_text("# Index\n")
    for name in ("_config.yml", "_toc.yml"):
        (root / name).write_text("")
    stage = tmp_path / "stage"
    stage_sources(root, stage)
    assert (stage / "book" / "index.md").exists()
    assert not (stage / "book" / ".cache").exists()
    report = tmp_path / "chapters.json"
    report.write_text('[{"notebook": "book/a.ipynb", "ok": true}]')
    assert _previous_rows(report) == [{"notebook": "book/a.ipynb", "ok": True}]
    report.write_text("not json")
    assert _previous_rows(report) == []
