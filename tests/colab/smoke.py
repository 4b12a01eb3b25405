"""Google Colab smoke test: every chapter's imports and every widget, with Colab's versions.

Run by ``make colab-test`` in ``.venv-colab``: a Python 3.13 environment holding Colab's
own versions (``.ci/colab_packages.txt``) of what the chapters import, plus this package
installed with ``pip install --no-deps -e .`` as the chapters' Colab cell does. Covers:

1. every import statement of every chapter's code cells (book/*.ipynb), run as written;
2. every widget a chapter builds (count-level, filter and method explorers, the static
   explorer on ipywidgets 7's fallback) on a small phantom, with their display bundles;
3. the package's glue helper without myst-nb; Keras loading the shipped weights.

It does not execute whole chapters (that would add Colab's TensorFlow training times to
``make test``). Prints one line per check and exits non-zero on the first failure list.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[2]
failures: list[str] = []


def check(label: str, function) -> None:
    started = time.perf_counter()
    try:
        function()
    except Exception:  # report every failure, not only the first
        failures.append(label)
        print(f"FAIL {label}\n{traceback.format_exc()}", flush=True)
    else:
        print(f"ok   {label} ({time.perf_counter() - started:.1f} s)", flush=True)


def chapter_imports(path: Path) -> list[str]:
    """The top-level import statements of a notebook's code cells."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    statements = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython magics: leave the cell out
            continue
        imports = (ast.Import, ast.ImportFrom)
        statements += [ast.unparse(node) for node in tree.body if isinstance(node, imports)]
    return statements


def main() -> int:
    import ipywidgets

    print(f"Python {sys.version.split()[0]}, ipywidgets {ipywidgets.__version__}", flush=True)
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for statement in chapter_imports(path):
            check(f"{path.stem}: {statement}", lambda s=statement: exec(s, {}))

    from spect_tutorial.glue import glue, has_myst_nb

    def glue_without_myst_nb():
        assert not has_myst_nb(), "Colab has no myst-nb: this environment should not either"
        glue("x", 1.0)

    check("glue without myst-nb", glue_without_myst_nb)

    from spect_tutorial.model import win5rb
    from spect_tutorial.phantom import Defect, make_phantom
    from spect_tutorial.widgets import (
        CountLevelExplorer,
        FilterExplorer,
        MethodExplorer,
        count_level_studies,
        explorer_images,
        static_explorer,
    )

    phantom = make_phantom(
        shape=(64, 64, 64), voxel_size_mm=6.4, defect=Defect(segments=(4, 10), severity=0.5)
    )
    studies = count_level_studies(phantom, count_levels=(25.0, 100.0), seed=1)
    model = win5rb(filters=4, kernel_size=3, depth=2, seed=0)

    def live(cls, **kwargs):
        explorer = cls(studies, **kwargs)
        bundle = explorer._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert "text/html" in bundle

    check("CountLevelExplorer", lambda: live(CountLevelExplorer))
    check("FilterExplorer", lambda: live(FilterExplorer))
    check("MethodExplorer", lambda: live(MethodExplorer, model=model))

    def static():
        box = static_explorer(studies, images=explorer_images(studies, model=model))
        before = box.columns[1].children[0].children
        box.fwhm.index = 0
        assert box.columns[1].children[0].children != before, "FWHM control changed nothing"

    check("static_explorer (ipywidgets 7 fallback when Stack is missing)", static)

    def weights():
        from spect_tutorial.weights import DEFAULT_MODEL, load_pretrained

        load_pretrained(DEFAULT_MODEL)

    check("shipped weights load with Colab's Keras", weights)
    print(f"{len(failures)} failures" if failures else "all Colab checks passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
