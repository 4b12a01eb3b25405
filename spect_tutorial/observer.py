"""Can a defect still be detected? A Hotelling observer on the 17 segment values.

NRMSE rewards smoothing, and smoothing is what erases a perfusion defect. A
model observer asks the clinical question instead: given an image, is a defect
present? This module builds a linear (Hotelling) observer on the 17-segment
polar-map values, the numbers clinical software compares with a normal
database, and measures its area under the ROC curve (AUC) for images of one
held-out patient with its defect and of the same patient without it.

Usage::

    python -m spect_tutorial.observer            # writes data/benchmark/observer.json
    python -m spect_tutorial.observer --acquisition v2   # ... observer_v2.json
    python -m spect_tutorial.observer --help

Method
------
For each image the polar map (:func:`~spect_tutorial.polar.polar_map`) is
averaged over the 17 AHA segments and divided by its highest segment (relative
perfusion). The observer's template is ``w = S^-1 (mean_present -
mean_absent)``, ``S`` the average of the two classes' covariance matrices (with
a small ridge, 1e-3 of its mean diagonal, because realizations are few). It is
trained on half of the realizations and tested on the other half, then the
halves swap (two-fold); the AUC is the Mann-Whitney statistic of the test
scores, averaged over the two folds. AUC 0.5 = chance, 1 = perfect.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._files import refuse_existing

__all__ = [
    "DEFAULT_OUTPUT",
    "auc_standard_error",
    "build_parser",
    "default_output",
    "hotelling_auc",
    "main",
    "run_observer_study",
]

#: Default output (committed after a run, beside the benchmark results).
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "data" / "benchmark" / "observer.json"

_RIDGE = 1e-3


def default_output(acquisition: str = "v1") -> Path:
    """The committed study of an acquisition: ``observer.json`` for v1,
    ``observer_<name>.json`` beside it otherwise (acquisitions never share a file)."""
    from .study import acquisition_file

    return acquisition_file(DEFAULT_OUTPUT, acquisition)


def _check_features(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 4:
        raise ValueError(
            f"{name} must be (images, features) with at least 4 images, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _auc(present_scores: np.ndarray, absent_scores: np.ndarray) -> float:
    """Mann-Whitney estimate of P(score present > score absent), ties counting one half."""
    difference = present_scores[:, None] - absent_scores[None, :]
    return float(np.mean((difference > 0) + 0.5 * (difference == 0)))


def hotelling_auc(present: Any, absent: Any) -> float:
    """Two-fold AUC of a Hotelling observer trained and tested on separate halves.

    Parameters
    ----------
    present, absent : array_like
        ``(images, features)`` feature vectors of defect-present and
        defect-absent images (at least 4 of each; the same features).

    Returns
    -------
    float
        Area under the ROC curve, averaged over the two folds.
    """
    present = _check_features(present, "present")
    absent = _check_features(absent, "absent")
    if present.shape[1] != absent.shape[1]:
        raise ValueError(
            f"present and absent must have the same features, got {present.shape[1]} "
            f"and {absent.shape[1]}"
        )
    folds = []
    halves_p = np.array_split(np.arange(len(present)), 2)
    halves_a = np.array_split(np.arange(len(absent)), 2)
    for train, test in ((0, 1), (1, 0)):
        p_train, a_train = present[halves_p[train]], absent[halves_a[train]]
        covariance = 0.5 * (np.cov(p_train, rowvar=False) + np.cov(a_train, rowvar=False))
        covariance = np.atleast_2d(covariance)
        ridge = _RIDGE * max(float(np.mean(np.diag(covariance))), 1e-12)
        template = np.linalg.solve(
            covariance + ridge * np.eye(covariance.shape[0]),
            p_train.mean(axis=0) - a_train.mean(axis=0),
        )
        folds.append(_auc(present[halves_p[test]] @ template, absent[halves_a[test]] @ template))
    return float(np.mean(folds))


def auc_standard_error(auc: float, n_present: int, n_absent: int) -> float:
    """Hanley-McNeil standard error of an AUC from ``n_present`` and ``n_absent`` test images.

    Parameters
    ----------
    auc : float
        The area under the ROC curve, in [0, 1].
    n_present, n_absent : int
        Test images of each class (>= 1).

    Returns
    -------
    float
        The standard error (Hanley and McNeil 1982, their equation 2).
    """
    if not 0.0 <= auc <= 1.0:
        raise ValueError(f"auc must be in [0, 1], got {auc!r}")
    if n_present < 1 or n_absent < 1:
        raise ValueError(f"n_present and n_absent must be >= 1, got {n_present}, {n_absent}")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    variance = (
        auc * (1.0 - auc) + (n_present - 1) * (q1 - auc**2) + (n_absent - 1) * (q2 - auc**2)
    ) / (n_present * n_absent)
    return float(np.sqrt(max(variance, 0.0)))


def _segment_features(volume: np.ndarray, study: Any) -> np.ndarray:
    from .polar import aha17, polar_map

    segments = aha17(polar_map(volume, study.lv, voxel_size_mm=study.voxel_size_mm))
    return segments / np.nanmax(segments)


def run_observer_study(
    out: str | Path = DEFAULT_OUTPUT,
    *,
    patient: int = 1,
    count_level: float = 25.0,
    n_realizations: int = 32,
    severity: float = 0.1,
    methods: Sequence[str] = ("noisy", "gaussian_optimal", "gaussian_8mm", "win5rb_n2n_paper"),
    acquisition: str = "v1",
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Defect detection (Hotelling AUC) per method for one held-out patient and its twin.

    The patient's anatomy, uptake and defect location are those of its
    :func:`~spect_tutorial.phantom.random_phantom` draw; the defect's severity
    is set to ``severity`` (a mild defect: the patient's own is easy to see at
    any count level, every method scores AUC 1) and the twin is the same patient
    without the defect. Both are
    simulated at ``count_level`` with ``n_realizations`` noisy acquisitions
    (independent noise: seeds ``seed`` and ``seed + 1``); every method of
    :mod:`spect_tutorial.benchmark` is applied to every image.

    Parameters
    ----------
    out : str or pathlib.Path, optional
        JSON file to write (default :data:`DEFAULT_OUTPUT`); never overwritten
        unless ``overwrite``.
    patient : int, optional
        Index of a held-out patient with a defect (:mod:`spect_tutorial.protocol`).
    count_level : float, optional
        Count level in percent (default 25).
    n_realizations : int, optional
        Realizations per class (>= 8, even; default 32).
    severity : float, optional
        Fraction of the uptake lost in the defect, in (0, 1]; default 0.1.
    methods : sequence of str, optional
        Benchmark method names.
    acquisition : str, optional
        How the twins are imaged (:data:`spect_tutorial.study.ACQUISITIONS`): "v1"
        (the study's, no scatter; default) or "v2" (scatter, estimated correction).
    overwrite : bool, optional
        Replace an existing ``out``.
    progress : bool, optional
        Print one line per method.

    Returns
    -------
    dict
        What was written: ``auc`` per method, the settings, the command that
        reproduces it, the acquisition, the SHA-256 of each network's weights
        (``weights_sha256``) and timings.
    """
    from . import __version__
    from ._files import write_json
    from ._validation import real_number
    from .methods import check_method_names, method_images
    from .noise import count_level_scale
    from .phantom import Anatomy, Defect, Uptake, make_phantom, random_phantom
    from .protocol import EVALUATION_PHANTOMS
    from .study import acquisition_settings, simulate_study

    # Every argument is checked before the (minutes of) simulation.
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"out {str(out)!r} is a folder; give a JSON file name")
    if not overwrite:
        refuse_existing(out)
    methods = check_method_names(methods)
    settings = acquisition_settings(acquisition)
    count_level_scale(count_level)
    real_number(severity, "severity", minimum=0.0, strict_minimum=True, maximum=1.0)
    if not 0 <= patient < len(EVALUATION_PHANTOMS) or not EVALUATION_PHANTOMS[patient].defect:
        raise ValueError(
            f"patient must be a held-out patient with a defect "
            f"({[i for i, e in enumerate(EVALUATION_PHANTOMS) if e.defect]}), got {patient!r}"
        )
    if isinstance(n_realizations, bool) or not isinstance(n_realizations, int):
        raise ValueError(f"n_realizations must be an even int >= 8, got {n_realizations!r}")
    if n_realizations < 8 or n_realizations % 2:
        raise ValueError(f"n_realizations must be an even int >= 8, got {n_realizations!r}")
    started = time.perf_counter()
    if not 0.0 < severity <= 1.0:
        raise ValueError(f"severity must be in (0, 1], got {severity!r}")
    seed = EVALUATION_PHANTOMS[patient].seed
    drawn = random_phantom(seed=seed, defect_probability=1.0).parameters
    anatomy = Anatomy(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in drawn["anatomy"].items()}
    )
    uptake = Uptake(**drawn["uptake"])
    segments = tuple(drawn["defect"]["segments"])
    twins = {
        "present": make_phantom(
            anatomy=anatomy, uptake=uptake, defect=Defect(segments=segments, severity=severity)
        ),
        "absent": make_phantom(anatomy=anatomy, uptake=uptake),
    }
    features: dict[str, dict[str, list[np.ndarray]]] = {}
    weights: dict[str, str] = {}  # the networks' weights, by name
    for offset, (label, phantom) in enumerate(twins.items()):
        study = simulate_study(
            phantom,
            count_level=count_level,
            n_realizations=n_realizations,
            seed=seed + offset,
            **settings.study_kwargs(),
        )
        for k in range(n_realizations):
            images, details = method_images(study, list(methods), realization=k)
            for name, extra in details.items():
                if "weights_sha256" in extra:
                    weights[name] = extra["weights_sha256"]
            for name, image in images.items():
                features.setdefault(name, {}).setdefault(label, []).append(
                    _segment_features(image, study)
                )
    auc, auc_se = {}, {}
    for name, classes in features.items():
        auc[name] = hotelling_auc(np.stack(classes["present"]), np.stack(classes["absent"]))
        # Over the two folds every image is tested once.
        auc_se[name] = auc_standard_error(auc[name], n_realizations, n_realizations)
        if progress:
            print(f"{name:<28} AUC {auc[name]:.3f} ± {auc_se[name]:.3f} (SE)", flush=True)
    where = "" if out.resolve() == Path(DEFAULT_OUTPUT).resolve() else f" --out {out}"
    command = (
        f"python -m spect_tutorial.observer{where} --patient {patient} "
        f"--count-level {float(count_level):g} --realizations {n_realizations} "
        f"--severity {float(severity):g} --methods {' '.join(methods)} "
        f"--acquisition {settings.name}"
    )
    result = {
        "command": command,
        "acquisition": settings.name,
        "weights_sha256": weights,
        "patient": patient,
        "phantom_seed": seed,
        "noise_seeds": {"present": seed, "absent": seed + 1},
        "count_level": float(count_level),
        "severity": float(severity),
        "defect_segments": list(segments),
        "n_realizations": n_realizations,
        "features": "17 AHA segment means of the polar map / the highest segment",
        "observer": "Hotelling, ridge 1e-3, two-fold (train on half, test on the other half)",
        "auc": auc,
        "auc_standard_error": auc_se,
        "seconds": round(time.perf_counter() - started, 1),
        "package_version": __version__,
    }
    write_json(out, result, indent=1, overwrite=overwrite)
    return result


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spect_tutorial.observer``."""
    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.observer",
        description="Defect detection (Hotelling observer AUC on 17 segments) per method.",
    )
    parser.add_argument(
        "--out",
        help="JSON report (default data/benchmark/observer.json for v1, "
        "observer_<acquisition>.json otherwise)",
    )
    parser.add_argument("--patient", type=int, default=1)
    parser.add_argument("--count-level", type=float, default=25.0)
    parser.add_argument("--realizations", type=int, default=32)
    parser.add_argument("--severity", type=float, default=0.1, help="defect depth, (0, 1]")
    parser.add_argument("--methods", nargs="+")
    parser.add_argument(
        "--acquisition",
        default="v1",
        help="v1: the study's (no scatter); v2: scatter 0.3, estimated correction",
    )
    parser.add_argument("--overwrite", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.out is None:
        try:
            args.out = str(default_output(args.acquisition))
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    options: dict[str, Any] = {}
    if args.methods:
        options["methods"] = args.methods
    try:
        result = run_observer_study(
            args.out,
            patient=args.patient,
            count_level=args.count_level,
            n_realizations=args.realizations,
            severity=args.severity,
            acquisition=args.acquisition,
            overwrite=args.overwrite,
            **options,
        )
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from ._files import sha256_file

    digest = sha256_file(args.out)[:16]
    print(f"wrote {args.out} (sha256 {digest}...) in {result['seconds']} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
