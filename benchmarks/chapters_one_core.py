"""Every chapter pinned to one CPU core: wall time and peak memory, as a Binder student sees.

Run from the repository root (not part of ``make test``; it takes a while)::

    .venv/bin/python benchmarks/chapters_one_core.py [--only NAME ...] [--core N]

Each chapter of ``_toc.yml`` is executed with its default parameters by the book's own
runner (:func:`tools.bookbuild.execute_notebook`: papermill in a child process,
the kernel's peak RSS from ``getrusage``), with the whole process tree pinned to one
core by ``taskset`` (the kernel inherits the affinity) and ``OMP_NUM_THREADS=1``.
Executed copies go to ``_build/one_core/``; the figures to
``_build/reports/chapters_one_core.json`` (one record per chapter: notebook, wall_s,
peak_rss_mb, cpu_s, ok, error, and the targets). ``cpu_s`` (user + system time of the
runner and the kernel) is what the wall time would be on an idle core: on a busy machine
the pinned core is shared and ``wall_s`` overstates a student's wait. With ``--only``
the other chapters keep their previous records. Targets: <= 180 s and <= 1.5 GB (1536
MiB) per chapter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the book runner lives in tools/ (repository tooling)

from tools.bookbuild import stage_sources, toc_notebooks  # noqa: E402

REPORT = ROOT / "_build" / "reports" / "chapters_one_core.json"
OUT = ROOT / "_build" / "one_core"

#: Per-chapter targets on one core (Binder: about one core, 2 GB kills the kernel).
TARGET_WALL_S = 180.0
TARGET_PEAK_MIB = 1536.0

_CHILD = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from dataclasses import asdict\n"
    "from tools.bookbuild import execute_notebook\n"
    "source, destination, cwd = map(Path, sys.argv[1:4])\n"
    "result = execute_notebook(source, destination, cwd=cwd, label=sys.argv[4])\n"
    "import resource\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "record = dict(asdict(result), cpu_s=round(usage.ru_utime + usage.ru_stime, 1))\n"
    "print('RESULT ' + json.dumps(record))\n"
)


def run_chapter(notebook: Path, core: int) -> dict:
    """Execute one chapter pinned to ``core``; return its record."""
    stage_sources(ROOT, OUT, keep_executed=True)
    label = str(notebook.relative_to(ROOT))
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    env["TF_NUM_INTRAOP_THREADS"] = "1"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    command = [
        "taskset",
        "-c",
        str(core),
        sys.executable,
        "-c",
        _CHILD,
        str(notebook),
        str(OUT / label),
        str(OUT / notebook.parent.relative_to(ROOT)),
        label,
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    sys.stderr.write(completed.stderr[-4000:])
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return {"notebook": label, "ok": False, "error": f"exit {completed.returncode}"}
    record = json.loads(lines[-1][len("RESULT ") :])
    record["within_targets"] = bool(
        record["ok"]
        and record["wall_s"] <= TARGET_WALL_S
        and (record["peak_rss_mb"] or 0) <= TARGET_PEAK_MIB
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="chapter (repeatable)")
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0)")
    args = parser.parse_args(argv)
    if shutil.which("taskset") is None:
        parser.error("taskset (util-linux) is needed to pin the chapters to one core")
    notebooks = toc_notebooks(ROOT)
    if args.only:
        wanted = {Path(name).stem for name in args.only}
        notebooks = [path for path in notebooks if path.stem in wanted]
        if not notebooks:
            parser.error(f"no chapter named {', '.join(sorted(wanted))}")
    previous = {}
    if args.only and REPORT.is_file():
        previous = {row["notebook"]: row for row in json.loads(REPORT.read_text())["chapters"]}
    for notebook in notebooks:
        print(f"{notebook.name} on core {args.core} ...", flush=True)
        record = run_chapter(ROOT / notebook, args.core)
        previous[record["notebook"]] = record
        print(f"  {record}", flush=True)
    rows = [previous[key] for key in sorted(previous)]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": "benchmarks/chapters_one_core.py"
        + "".join(f" --only {n}" for n in args.only or []),
        "cpu": platform.processor() or platform.machine(),
        "pinned_core": args.core,
        "targets": {"wall_s": TARGET_WALL_S, "peak_rss_mib": TARGET_PEAK_MIB},
        "chapters": rows,
    }
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'chapter':<34}{'wall [s]':>10}{'peak [MiB]':>12}  within targets")
    for row in rows:
        wall = row.get("wall_s")
        peak = row.get("peak_rss_mb")
        print(
            f"{row['notebook']:<34}{wall if wall is not None else '-':>10}"
            f"{peak if peak is not None else '-':>12}  {row.get('within_targets', False)}"
        )
    print(f"written to {REPORT}")
    return 0 if all(row.get("within_targets") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
