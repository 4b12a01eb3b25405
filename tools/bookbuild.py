"""Execute every chapter once with papermill, then render the book from the executed copies.

Run from the repository root (``make book`` does)::

    python -m tools.bookbuild [--only NAME ...] [--skip-build]

Steps:

1. Read ``_toc.yml`` and list the chapter notebooks (``book/*.ipynb``); a notebook in
   ``book/`` that the table of contents does not list is an error.
2. Stage the book source in ``_build/stage/`` (``_config.yml``, ``_toc.yml`` and every
   non-notebook file of ``book/``; ``data/`` is linked so that relative paths behave as in
   the source tree).
3. Execute each notebook with its default parameters in its own child process
   (papermill, kernel ``python3``, working directory ``book/`` of the stage, 1800 s per
   cell, every Internet socket refused by pytest-socket's ``disable_socket`` through an
   IPython startup file; Unix sockets stay allowed, the kernel's own ZeroMQ connections
   are not Python sockets) and write the executed copy into the stage. The child process reads
   ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after papermill has shut the kernel
   down and reaped it: the kernel is that process's only child, so the value is the
   kernel's peak resident memory for that chapter alone.
4. Write ``_build/reports/chapters.json`` (notebook, wall_s, peak_rss_mb, ok, error per
   chapter), print a table, and fail after all chapters ran if any failed.
5. Render ``_build/stage`` with Jupyter Book 1 (execution off, warnings as errors, all
   pages re-read) into ``_build/html``.

TensorFlow is never imported here; chapters that need it import it in their kernel.
This runner is repository tooling, not part of the installed package: it needs the
``book`` extra (``pip install -e '.[book]'``: jupyter-book, papermill, ipykernel,
pytest-socket), which ``make venv`` installs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CELL_TIMEOUT_S",
    "ChapterResult",
    "build_book",
    "execute_notebook",
    "main",
    "stage_sources",
    "toc_entries",
    "toc_notebooks",
]

#: Per-cell execution limit in seconds (Jupyter Book's default of 30 s would kill training).
CELL_TIMEOUT_S = 1800

#: Environment for the kernels: TensorFlow's C++ log chatter off; MPLBACKEND is removed
#: because a non-inline backend makes figures vanish from the executed notebooks.
_KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}

#: Known-harmless stderr lines of the kernel (ipykernel >= 7 on local TCP; TensorFlow import).
_STDERR_NOISE = (
    "Kernel is running over TCP without encryption",
    "CurveZMQ keys",
    # TensorFlow prints this on import whatever TF_CPP_MIN_LOG_LEVEL says.
    "oneDNN custom operations are on",
    "WARNING: All log messages before absl::InitializeLog()",
)

#: Repository root: the child process imports this module from there, whatever its cwd.
_ROOT = Path(__file__).resolve().parents[1]

_CHILD_CODE = (
    "import sys\n"
    "sys.path.insert(0, sys.argv.pop(1))\n"
    "from tools.bookbuild import _execute_in_this_process\n"
    "_execute_in_this_process(*sys.argv[1:])\n"
)

#: IPython startup code of every chapter kernel: no Internet socket can be created (the
#: attempt raises ``SocketBlockedError``). pytest-socket's warning beside the error is
#: silenced: a library's harmless probe (urllib3 tries an IPv6 socket on import, under
#: Keras) would otherwise print it in the chapter.
_OFFLINE_STARTUP = """\
import warnings
import pytest_socket
warnings.filterwarnings("ignore", "A test tried to use socket", UserWarning)
pytest_socket.disable_socket(allow_unix_socket=True)
"""


@dataclass(frozen=True)
class ChapterResult:
    """Outcome of executing one chapter notebook.

    Parameters
    ----------
    notebook : str
        Path of the source notebook relative to the repository root, e.g.
        ``"book/phantom.ipynb"``.
    wall_s : float
        Wall-clock time in seconds from kernel start to kernel shutdown.
    peak_rss_mb : float or None
        Peak resident set size of the chapter's kernel in MiB (strictly: of the largest
        single process in the kernel's process tree, in practice the kernel itself);
        None if the runner process died before it could measure.
    ok : bool
        True if every cell ran without an error.
    error : str or None
        Exception name and message of the failure, None when ``ok``.
    """

    notebook: str
    wall_s: float
    peak_rss_mb: float | None
    ok: bool
    error: str | None


def _toc_files(node: Any) -> Iterator[str]:
    """Yield every ``root`` and ``file`` entry of a parsed Jupyter Book 1 table of contents."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file") and isinstance(value, str):
                yield value
            else:
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def toc_entries(root: Path) -> list[str]:
    """Document paths listed in ``root/_toc.yml`` (without extension, in toc order).

    Parameters
    ----------
    root : pathlib.Path
        Repository root holding ``_toc.yml``.

    Returns
    -------
    list of str
        Entries such as ``"book/index"`` and ``"book/phantom"``.

    Raises
    ------
    ValueError
        If the file is not a ``jb-book`` table of contents.
    """
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    if not isinstance(toc, dict) or toc.get("format") != "jb-book":
        raise ValueError(f"{root / '_toc.yml'} must be a Jupyter Book 1 toc (format: jb-book)")
    return [str(Path(entry).with_suffix("")) for entry in _toc_files(toc)]


def toc_notebooks(root: Path) -> list[Path]:
    """Chapter notebooks listed in ``_toc.yml``, in toc order, relative to ``root``.

    Parameters
    ----------
    root : pathlib.Path
        Repository root holding ``_toc.yml`` and ``book/``.

    Returns
    -------
    list of pathlib.Path
        E.g. ``[Path("book/phantom.ipynb")]``.

    Raises
    ------
    ValueError
        If a ``book/*.ipynb`` exists that the toc does not list (it would never be
        executed or published).
    """
    entries = toc_entries(root)
    notebooks = [Path(f"{entry}.ipynb") for entry in entries if (root / f"{entry}.ipynb").exists()]
    unlisted = sorted(
        str(path.relative_to(root))
        for path in (root / "book").glob("*.ipynb")
        if path.relative_to(root) not in notebooks
    )
    if unlisted:
        raise ValueError(f"notebooks not listed in _toc.yml: {', '.join(unlisted)}")
    return notebooks


def stage_sources(root: Path, stage: Path, *, keep_executed: bool = False) -> None:
    """Copy the book source (everything but the notebooks) into ``stage``.

    Parameters
    ----------
    root : pathlib.Path
        Repository root.
    stage : pathlib.Path
        Staging directory, e.g. ``root / "_build" / "stage"``.
    keep_executed : bool, optional
        Keep notebooks already in the stage (executed by an earlier run) instead of
        starting from an empty stage. Used by ``--only``.
    """
    if stage.exists() and not keep_executed:
        shutil.rmtree(stage)
    (stage / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, stage / name)
    for path in sorted((root / "book").rglob("*")):
        relative = path.relative_to(root)
        hidden = any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
        if path.is_dir() or path.suffix == ".ipynb" or hidden:
            continue  # caches (.cache, .ipynb_checkpoints, ...) are not book sources
        (stage / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, stage / relative)
    data_link = stage / "data"
    if (root / "data").is_dir() and not data_link.exists():
        data_link.symlink_to((root / "data").resolve(), target_is_directory=True)


def _execute_in_this_process(source: str, destination: str, cwd: str, result_path: str) -> None:
    """Child-process side of :func:`execute_notebook`: run papermill, record time and RSS."""
    import papermill

    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            source,
            destination,
            kernel_name="python3",
            cwd=cwd,
            execution_timeout=CELL_TIMEOUT_S,
            log_output=False,
            progress_bar=False,
        )
    except Exception as exc:  # report any failure, the parent decides the exit status
        name = getattr(exc, "ename", type(exc).__name__)
        message = getattr(exc, "evalue", str(exc))
        error = f"{name}: {message}"
    wall_s = time.perf_counter() - start
    # The kernel is this process's only child and papermill has reaped it on shutdown,
    # so RUSAGE_CHILDREN's ru_maxrss is the kernel's peak RSS (KiB on Linux, B on macOS).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    Path(result_path).write_text(
        json.dumps({"wall_s": wall_s, "peak_rss_mb": peak_mb, "error": error}),
        encoding="utf-8",
    )


def _offline_ipython_dir(parent: Path) -> Path:
    """An IPython profile whose startup file refuses network sockets in every kernel."""
    if importlib.util.find_spec("pytest_socket") is None:
        raise RuntimeError(
            "pytest-socket is needed to run the chapters offline: pip install -e '.[book]'"
        )
    directory = parent / ".ipython"
    startup = directory / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-spect-tutorial-offline.py").write_text(_OFFLINE_STARTUP, encoding="utf-8")
    return directory


def execute_notebook(
    source: Path, destination: Path, *, cwd: Path, label: str | None = None
) -> ChapterResult:
    """Execute one notebook with its default parameters in a fresh child process.

    Parameters
    ----------
    source : pathlib.Path
        Notebook to execute (left unchanged).
    destination : pathlib.Path
        Where the executed notebook is written (also on failure, with the error shown).
    cwd : pathlib.Path
        Working directory of the kernel.
    label : str, optional
        Name recorded in the result; defaults to ``str(source)``.

    Returns
    -------
    ChapterResult
        Wall time in s, the kernel's peak RSS in MiB, and the error if any.

    Examples
    --------
    >>> result = execute_notebook(Path("book/phantom.ipynb"),  # doctest: +SKIP
    ...                           Path("/tmp/phantom.ipynb"), cwd=Path("book"))
    >>> result.ok, result.peak_rss_mb > 60  # doctest: +SKIP
    (True, True)
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    result_path = destination.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env.update(_KERNEL_ENV)
    env["IPYTHONDIR"] = str(_offline_ipython_dir(destination.parent))
    start = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD_CODE,
            str(_ROOT),
            str(source),
            str(destination),
            str(cwd),
            str(result_path),
        ],
        env=env,
        check=False,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in completed.stderr.splitlines():  # pass the kernel's stderr on, minus noise
        if not any(noise in line for noise in _STDERR_NOISE):
            print(line, file=sys.stderr)
    label = label or str(source)
    if not result_path.exists():
        return ChapterResult(
            label,
            round(time.perf_counter() - start, 2),
            None,
            False,
            f"runner process exited with status {completed.returncode} before reporting",
        )
    measured = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    error = measured["error"]
    return ChapterResult(
        label,
        round(measured["wall_s"], 2),
        round(measured["peak_rss_mb"], 1),
        error is None,
        error,
    )


def _print_table(results: Sequence[ChapterResult]) -> None:
    width = max([len("notebook"), *(len(result.notebook) for result in results)])
    print(f"\n{'notebook':<{width}}  {'wall [s]':>9}  {'peak RSS [MiB]':>14}  status")
    for result in results:
        status = "ok" if result.ok else f"FAILED ({result.error})"
        peak = "-" if result.peak_rss_mb is None else f"{result.peak_rss_mb:.1f}"
        print(f"{result.notebook:<{width}}  {result.wall_s:>9.1f}  {peak:>14}  {status}")
    print()


def _jupyter_book_command() -> list[str]:
    executable = Path(sys.executable).parent / "jupyter-book"
    if executable.exists():
        return [str(executable)]
    return [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def build_book(root: Path, stage: Path) -> int:
    """Render the staged book with Jupyter Book 1 into ``root/_build/html``.

    Execution is off (``_config.yml``), warnings are errors (``-W --keep-going``) and
    every page is re-read (``--all``) so that a warning can never hide in a cached page.

    Parameters
    ----------
    root : pathlib.Path
        Repository root; the output lands in ``root/_build/html``.
    stage : pathlib.Path
        Staged book source written by :func:`stage_sources` and the executed notebooks.

    Returns
    -------
    int
        The exit status of ``jupyter-book build`` (0 on success).
    """
    command = [
        *_jupyter_book_command(),
        "build",
        str(stage),
        "--path-output",
        str(root),
        "-W",
        "--keep-going",
        "--all",
    ]
    return subprocess.run(command, cwd=root, check=False).returncode


def _previous_rows(report: Path) -> list[dict[str, Any]]:
    """Rows of an earlier chapters report (``--only`` updates the chapters it ran)."""
    try:
        rows = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [row for row in rows if isinstance(row, dict) and "notebook" in row]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when every chapter ran and the book built, 1 otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.bookbuild", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        default=None,
        help="execute only this chapter (notebook name without .ipynb; "
        "repeatable); the other chapters keep their last executed copy",
    )
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="execute the notebooks but do not render the book",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="repository root (default: the current directory)",
    )
    args = parser.parse_args(argv)

    root = args.root.resolve()
    stage = root / "_build" / "stage"
    reports = root / "_build" / "reports"
    notebooks = toc_notebooks(root)
    selected = notebooks
    if args.only:
        wanted = {Path(name).stem for name in args.only}
        unknown = wanted - {path.stem for path in notebooks}
        if unknown:
            parser.error(f"no chapter notebook named {', '.join(sorted(unknown))}")
        selected = [path for path in notebooks if path.stem in wanted]

    stage_sources(root, stage, keep_executed=bool(args.only))
    for path in notebooks:  # chapters not executed now still need a page
        if path not in selected and not (stage / path).exists():
            shutil.copy2(root / path, stage / path)

    results = []
    for path in selected:
        print(f"executing {path} ...", flush=True)
        results.append(
            execute_notebook(root / path, stage / path, cwd=stage / path.parent, label=str(path))
        )
    reports.mkdir(parents=True, exist_ok=True)
    report = reports / "chapters.json"
    rows = {row["notebook"]: row for row in _previous_rows(report)} if args.only else {}
    rows.update({result.notebook: asdict(result) for result in results})
    ordered = [rows[str(path)] for path in notebooks if str(path) in rows]
    report.write_text(json.dumps(ordered, indent=2) + "\n", encoding="utf-8")
    _print_table(results)
    failed = [result.notebook for result in results if not result.ok]
    if failed:
        print(
            f"chapters failed: {', '.join(failed)} (executed copies in {stage})", file=sys.stderr
        )
        return 1
    if args.skip_build:
        return 0
    status = build_book(root, stage)
    if status != 0:
        print(f"jupyter-book build failed with status {status}", file=sys.stderr)
        return 1
    print(f"book written to {root / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
