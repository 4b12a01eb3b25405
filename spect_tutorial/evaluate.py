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
    estimate,
    load_records,
    paired_ratio,
    per_patient,
    summarise,
    summary_rows,
    wall_error_mm,
)
from .study import ACQUISITIONS
from .territory import (
    ALL_TERRITORIES,
    GAUSSIAN_TOLERANCE,
    IDEAL_TOLERANCE,
    NRMSE_RATIO_TARGET,
    territory_difference,
)

__all__ = ["DOSE_LEVELS", "NRMSE_RATIO_LIMITS", "build_parser", "main", "targets"]

_BASELINE = "gaussian_optimal"


def _entry(name: str, value: Estimate, limit: str, met: bool | None) -> dict[str, Any]:
    return {"target": name, **value.as_dict(), "limit": limit, "met": met}


#: NRMSE / the optimal Gaussian's, paired per image: (target, stretch) per count level (%).
NRMSE_RATIO_LIMITS: dict[float, tuple[float, float]] = {
    100.0: (NRMSE_RATIO_TARGET, 0.75),
    25.0: (NRMSE_RATIO_TARGET, 0.70),
}
#: Dose target: the network at the first count level (%), stretch at the second, no worse
#: in NRMSE than the optimal Gaussian at 100 % (per patient: mean over realizations).
DOSE_LEVELS: tuple[float, float] = (50.0, 25.0)


def _difference_across_levels(
    records: Sequence[Mapping[str, Any]], model: str, low: float, baseline: str, high: float
) -> Estimate:
    """Per patient: ``model``'s mean NRMSE at ``low`` % minus ``baseline``'s at ``high`` %."""
    ours = per_patient(records, model, count_level=low, function=lambda record: record["nrmse"])
    theirs = per_patient(
        records, baseline, count_level=high, function=lambda record: record["nrmse"]
    )
    return estimate([ours[phantom] - theirs[phantom] for phantom in sorted(ours.keys() & theirs)])


def targets(
    records: Sequence[Mapping[str, Any]],
    model: str,
    *,
    supervised: str | None = None,
    baseline: str = _BASELINE,
) -> list[dict[str, Any]]:
    """The project's targets for a denoising model, each with its measured value.

    The targets of issue 14 (science reference, section 9), all paired per image
    and summarised over patients (mean and 95 % interval): NRMSE at most
    :data:`NRMSE_RATIO_LIMITS` times the optimal Gaussian's (target and
    stretch); at :data:`DOSE_LEVELS` counts an NRMSE no higher than the optimal
    Gaussian's at 100 %; the wall within 0.5 mm of the ideal image's; and the
    defect ratio within :data:`~spect_tutorial.territory.IDEAL_TOLERANCE` of
    the ideal image's or at most :data:`~spect_tutorial.territory.GAUSSIAN_TOLERANCE`
    above the optimal Gaussian's (per territory: :mod:`spect_tutorial.territory`).
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
    for level, (limit, stretch) in NRMSE_RATIO_LIMITS.items():
        ratio = paired_ratio(records, model, baseline, count_level=level)
        for name, bound in ((f"at {level:g} %", limit), (f"at {level:g} % (stretch)", stretch)):
            checks.append(
                _entry(
                    f"NRMSE / optimal Gaussian's {name}",
                    ratio,
                    f"<= {bound}",
                    None if not ratio.n else ratio.mean <= bound,
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
    for low, role in ((DOSE_LEVELS[0], ""), (DOSE_LEVELS[1], " (stretch)")):
        difference = _difference_across_levels(records, model, low, baseline, 100.0)
        checks.append(
            _entry(
                f"NRMSE at {low:g} % - optimal Gaussian's at 100 %{role}",
                difference,
                "<= 0 (paired per patient)",
                None if not difference.n else difference.mean <= 0.0,
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
        # paired per image, pooled over whatever patients the records hold
        excess = territory_difference(records, model, baseline, ALL_TERRITORIES, level)
        met = None
        if network.n and excess.n:
            met = abs(network.mean) <= IDEAL_TOLERANCE or excess.mean <= GAUSSIAN_TOLERANCE
        checks.append(
            _entry(
                f"defect ratio - ideal's at {level:g} %",
                network,
                f"within ±{IDEAL_TOLERANCE:g}, or at most {GAUSSIAN_TOLERANCE:g} above the "
                f"optimal Gaussian's (paired: {excess.mean:+.4f})"
                if excess.n
                else f"within ±{IDEAL_TOLERANCE:g}",
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
    parser.add_argument(
        "--acquisition",
        choices=sorted(ACQUISITIONS),
        default="v1",
        help="simulated acquisition of the held-out images (v2: scatter, estimated correction; "
        "keep its records in their own file, e.g. data/benchmark/results_v2.jsonl)",
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
    options: dict[str, Any] = {
        "weights_dir": args.weights_dir,
        "progress": not args.quiet,
        "acquisition": args.acquisition,
    }
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
    networks = [args.model] + ([args.supervised] if args.supervised else [])
    # one hash per network (the benchmark refuses records of other weights); None for
    # records written before they carried it
    weights = {
        name: next(
            (
                r["weights_sha256"]
                for r in records
                if r["method"] == name and "weights_sha256" in r
            ),
            None,
        )
        for name in networks
    }
    report = {
        "model": args.model,
        "supervised": args.supervised,
        "command": "python -m spect_tutorial.evaluate " + " ".join(argv or sys.argv[1:]),
        "results": str(args.results),
        "acquisition": args.acquisition,
        "weights_sha256": weights,
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
