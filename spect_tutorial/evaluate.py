"""Evaluate trained weights on the held-out protocol and check the study's targets.

Usage::

    python -m spect_tutorial.evaluate win5rb_n2n_paper
    python -m spect_tutorial.evaluate win5rb_n2n_teaching --supervised win5rb_supervised_teaching
    python -m spect_tutorial.evaluate my_model --weights-dir my_weights --quick

The command runs :func:`spect_tutorial.benchmark.run_benchmark` for the model,
the unfiltered OSEM image and the NRMSE-optimal Gaussian (and, if given, a
supervised model of the same size and budget) on every held-out phantom of
:mod:`spect_tutorial.protocol`, every count level and 3 realizations,
appending to ``--results`` (resumable; give
``data/benchmark/results.jsonl`` to reuse the committed benchmark). It then
writes a JSON report: the summary (mean and 95 % interval per method and
level) and each target of :func:`targets`, met or not, with its numbers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .results import (
    Estimate,
    defect_ratio_error,
    derived,
    load_records,
    paired_ratio,
    summarise,
    summary_rows,
    wall_error_mm,
)

__all__ = ["build_parser", "main", "targets"]

_BASELINE = "gaussian_optimal"


def _entry(name: str, value: Estimate, limit: str, met: bool | None) -> dict[str, Any]:
    return {"target": name, **value.as_dict(), "limit": limit, "met": met}


def _mean_at(records: Sequence[Mapping[str, Any]], method: str, level: float) -> Estimate:
    return derived(records, method, count_level=level, function=lambda r: r["nrmse"])


def targets(
    records: Sequence[Mapping[str, Any]],
    model: str,
    *,
    supervised: str | None = None,
    baseline: str = _BASELINE,
) -> list[dict[str, Any]]:
    """The issue's targets for a denoising model, each with its measured value.

    A target is judged on the mean over phantoms (the interval is reported
    beside it); ``met`` is ``None`` when the records lack what it needs.

    Parameters
    ----------
    records : sequence of mapping
        Benchmark records holding ``model`` and ``baseline`` (and ``supervised``).
    model : str
        Method name of the network under test.
    supervised : str, optional
        A supervised model of the same size and budget (the upper bound).
    baseline : str, optional
        The optimal-FWHM Gaussian (default ``"gaussian_optimal"``).

    Returns
    -------
    list of dict
        ``target``, ``mean``, ``low``, ``high``, ``n``, ``limit`` and ``met``.
    """
    levels = sorted({float(r["count_level"]) for r in records if r["method"] == model})
    checks = []
    for level, limit in ((100.0, 0.75), (25.0, 0.70)):
        ratio = paired_ratio(records, model, baseline, count_level=level)
        checks.append(
            _entry(
                f"NRMSE / optimal Gaussian's at {level:g} %",
                ratio,
                f"<= {limit}",
                None if not ratio.n else ratio.mean <= limit,
            )
        )
    if supervised is not None:
        for level in levels:
            ratio = paired_ratio(records, model, supervised, count_level=level)
            checks.append(
                _entry(
                    f"NRMSE / supervised model's at {level:g} %",
                    ratio,
                    "<= 1.10",
                    None if not ratio.n else ratio.mean <= 1.10,
                )
            )
    low_dose, reference = _mean_at(records, model, 25.0), _mean_at(records, baseline, 100.0)
    checks.append(
        _entry(
            "NRMSE at 25 % (limit: optimal Gaussian's at 100 %)",
            low_dose,
            f"<= {reference.mean:.4f}",
            None if not (low_dose.n and reference.n) else low_dose.mean <= reference.mean,
        )
    )
    for level in levels:
        wall = derived(records, model, count_level=level, function=wall_error_mm)
        checks.append(
            _entry(
                f"wall - ideal wall at {level:g} % (mm)",
                wall,
                "within ±0.5",
                None if not wall.n else abs(wall.mean) <= 0.5,
            )
        )

        network = derived(records, model, count_level=level, function=defect_ratio_error)
        gaussian = derived(records, baseline, count_level=level, function=defect_ratio_error)
        met = None
        if network.n and gaussian.n:
            met = abs(network.mean) <= 0.02 and abs(network.mean) <= abs(gaussian.mean) + 1e-12
        checks.append(
            _entry(
                f"defect ratio - ideal's at {level:g} %",
                network,
                f"within ±0.02 and no further than the optimal Gaussian's ({gaussian.mean:+.4f})"
                if gaussian.n
                else "within ±0.02",
                met,
            )
        )
    return checks


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spect_tutorial.evaluate``."""
    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.evaluate",
        description="Evaluate weights on the held-out protocol; write a JSON report.",
    )
    parser.add_argument("model", help="weights name (e.g. win5rb_n2n_paper)")
    parser.add_argument("--supervised", help="supervised weights of the same size and budget")
    parser.add_argument("--weights-dir", help="folder of the weights")
    parser.add_argument(
        "--results", default="_build/evaluate/results.jsonl", help="JSON Lines records (resumed)"
    )
    parser.add_argument("--out", help="report (default _build/evaluate/<model>.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--quick", action="store_true", help="one phantom, one realization (a smoke test)"
    )
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from ._files import plain_json, write_json
    from .benchmark import run_benchmark

    args = build_parser().parse_args(argv)
    out = Path(args.out) if args.out else Path("_build/evaluate") / f"{args.model}.json"
    if out.exists() and not args.overwrite:
        print(f"error: {out} already exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    methods = ["noisy", _BASELINE, args.model] + ([args.supervised] if args.supervised else [])
    options: dict[str, Any] = {"weights_dir": args.weights_dir, "progress": not args.quiet}
    if args.quick:
        options.update(phantoms=[1], realizations=1)
    try:
        run_benchmark(args.results, methods=methods, **options)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    records = [r for r in load_records(args.results) if r["method"] in methods]
    if not any(r["method"] == args.model for r in records):
        print(f"error: no results for {args.model!r} (are its weights there?)", file=sys.stderr)
        return 1
    checks = targets(records, args.model, supervised=args.supervised)
    report = {
        "model": args.model,
        "supervised": args.supervised,
        "command": "python -m spect_tutorial.evaluate " + " ".join(argv or sys.argv[1:]),
        "results": str(args.results),
        "records": len(records),
        "summary": summary_rows(summarise(records)),
        "targets": checks,
    }
    write_json(out, plain_json(report, finite=True), indent=1, overwrite=args.overwrite)
    if not args.quiet:
        for check in checks:
            verdict = {True: "met", False: "MISSED", None: "n/a"}[check["met"]]
            print(f"{verdict:>6}  {check['target']}: {check['mean']:.4f} ({check['limit']})")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
