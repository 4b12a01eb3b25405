"""Command line: train WIN5-RB and write its weights with a manifest.

Usage::

    python -m spect_tutorial.train --config paper            # the shipped model
    python -m spect_tutorial.train --config teaching         # 64 filters, for the chapters
    python -m spect_tutorial.train --config teaching --method supervised
    python -m spect_tutorial.train --help

The command builds (or reloads from ``.cache/training``) the training set of
:func:`spect_tutorial.datasets.build_training_set`, trains with
:mod:`spect_tutorial.training` and writes ``<out>/<name>.weights.h5`` and
``<out>/<name>.json`` with :func:`spect_tutorial.weights.save_weights`. The
manifest records the configuration, the model's size, the data seeds (the
set's seed and every phantom's), the count levels, the budget (steps x batch
x crop), the final and best losses, the wall time and (added by
``save_weights``) the SHA-256 of the weights file.

Existing weights are never overwritten unless ``--overwrite`` is given; the
check runs *before* any simulation or training, so a long run cannot end in a
refusal. Checkpoints go to ``--work-dir`` (default ``.cache/train/<name>``,
git-ignored): run the same command again after an interruption and it resumes
where the last finished epoch left off. Never commit checkpoints.

Presets (``--config``, :data:`PRESETS`), each option overridable: the model
sizes of :mod:`spect_tutorial.model` and one training budget:

============  ==========================================  =========================
config        model                                       budget at batch 16
============  ==========================================  =========================
``teaching``  :data:`~spect_tutorial.model.TEACHING_CONFIG`  30 epochs x 100 steps:
                                                          3,000 steps, 48,000 crops
``paper``     :data:`~spect_tutorial.model.PAPER_CONFIG`     the same
============  ==========================================  =========================

Both train on 48 x 48 crops (307 mm at 6.4 mm) of the heart slab of 24
random phantoms (18 for training, 6 held out for early stopping), 4
realizations at 12.5, 25, 50, 100 and 200 % counts. The set is always built
with its count split, so every ``--method`` trains on the same cached phantoms
and acquisitions. The manifest also records ``validation_mse_to_ideal``: the
mean squared error to the ideal image of the held-out inputs and of the
network's outputs (normalised images), a first check that the model denoises.

Training set v2 and training to a plateau (issue 14)::

    python -m spect_tutorial.datasets --set v2 --workers 2  # build or resume the set
    python -m spect_tutorial.train --config paper --set v2 \
        --initial-weights data/weights/win5rb_n2n_paper.weights.h5 \
        --epochs 300 --patience 12 --lr-patience 4 --plateau 0.01 --plateau-min-epochs 30 \
        --curve learning_curve.json --name win5rb_n2n_paper_v2

``--set v2`` replaces the data options by :data:`spect_tutorial.datasets.TRAINING_SET_V2`
(96 phantoms, defects anywhere on the 17-segment map, scatter corrected with an
estimate from the measured counts). ``--plateau 0.01`` stops when the held-out
Noise2Noise loss improved by less than 1 % over the last quarter of the epochs,
judged from epoch ``--plateau-min-epochs`` on (default 8; over a short run the last
quarter is a few epochs, and the scatter of the held-out loss can meet the rule while
the network still learns, as the Noise2Noise chapter shows for the paper-size run);
``--lr-patience`` halves the learning rate after that many epochs without
improvement (Keras ``ReduceLROnPlateau``); ``--curve`` writes the learning curve
(with, for reporting only, the NRMSE to the ideal image of held-out crops) after
every epoch; ``--initial-weights`` starts from earlier weights and the manifest
records their SHA-256 and the total steps (``lineage``); ``--dtype-policy``
(``mixed_bfloat16`` is faster on CPUs with AVX512-BF16, see
``benchmarks/training.py``) is recorded in the manifest. ``--input-slices 3``
trains the 2.5D variant (each slice with its two neighbours as input channels,
predicting the centre slice; the manifest's ``model_config`` then holds
``channels``, which :func:`~spect_tutorial.weights.load_pretrained` and
:func:`~spect_tutorial.inference.denoise` follow). Every argument is
checked before any computation; zero is an error, never "the preset's value".

On one CPU core a step of the paper-size model takes seconds (hours in all).
On a GPU, ``KERAS_BACKEND=jax`` with ``--dtype-policy float32`` trains an epoch of
100 paper-size steps in about 0.9 s (an H200; Keras compiles the step with XLA
there): the paper-size runs of issue 14 took 1-2 minutes each. Under XLA,
``mixed_bfloat16`` gave NaN evaluation losses (Keras 3.15.1, jax 0.11.2): keep
float32 there. The manifest records the backend and ``devices``. With
TensorFlow, ``--strategy mirrored`` spreads a batch over the GPUs of a machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .model import PAPER_CONFIG, TEACHING_CONFIG
from .quiet import import_quietly

__all__ = ["PRESETS", "build_parser", "main"]

_METHODS = {"noise2noise": "n2n", "count_split": "split", "supervised": "supervised"}

# The training budget of both presets.
_BUDGET = {
    "epochs": 30,
    "steps_per_epoch": 100,
    "validation_steps": 20,
    "batch_size": 16,
    "patience": 5,
}

#: Model size (the sizes of :mod:`spect_tutorial.model`) and training budget of each
#: ``--config``.
PRESETS: dict[str, dict[str, Any]] = {
    "teaching": {"model": dict(TEACHING_CONFIG), **_BUDGET},
    "paper": {"model": dict(PAPER_CONFIG), **_BUDGET},
}

_DATA_DEFAULTS = {
    "n_phantoms": 24,
    "realizations": 4,
    "count_levels": (12.5, 25.0, 50.0, 100.0, 200.0),
    "crop": (48, 48),
    "validation_fraction": 0.25,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m spect_tutorial.train``."""
    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.train",
        description=(
            "Train WIN5-RB (Noise2Noise by default) on simulated MPI SPECT and write "
            "<out>/<name>.weights.h5 and <out>/<name>.json (never overwriting unless asked). "
            "Every argument is checked before any simulation or training."
        ),
    )
    parser.add_argument("--config", choices=sorted(PRESETS), required=True)
    parser.add_argument(
        "--method",
        choices=sorted(_METHODS),
        default="noise2noise",
        help="pairs: repeated acquisitions (default), count split of one scan, or ideal targets",
    )
    parser.add_argument("--filters", type=int, help="override the preset's width")
    parser.add_argument(
        "--set",
        choices=sorted(_training_sets()),
        help="a named training set (e.g. v2: 96 phantoms, scatter); replaces the data options",
    )
    parser.add_argument("--n-phantoms", type=int, default=_DATA_DEFAULTS["n_phantoms"])
    parser.add_argument("--realizations", type=int, default=_DATA_DEFAULTS["realizations"])
    parser.add_argument(
        "--count-levels",
        type=float,
        nargs="+",
        default=list(_DATA_DEFAULTS["count_levels"]),
        metavar="PERCENT",
    )
    parser.add_argument(
        "--validation-fraction", type=float, default=_DATA_DEFAULTS["validation_fraction"]
    )
    parser.add_argument(
        "--acquisition",
        choices=("v1", "v2"),
        default="v1",
        help="simulated acquisition of the training set (v1: no scatter; v2: scatter 0.3, "
        "estimated correction)",
    )
    _add_size_px(
        parser,
        "--crop",
        "heart crop of the training set in pixels (default 48 48)",
        default=list(_DATA_DEFAULTS["crop"]),
    )
    _add_size_px(
        parser, "--train-crop", "train on random patches of this size (default: the whole crop)"
    )
    parser.add_argument(
        "--input-slices",
        type=int,
        default=1,
        help="adjacent transaxial slices per input: 1 (the study's 2D model) or an odd k "
        "(the 2.5D variant, predicting the centre slice)",
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--validation-steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--patience", type=int)
    parser.add_argument(
        "--lr-patience", type=int, help="halve the learning rate after this many flat epochs"
    )
    parser.add_argument(
        "--plateau",
        type=float,
        help="stop when val_loss improves less than this fraction over the last quarter "
        "(e.g. 0.01)",
    )
    parser.add_argument(
        "--plateau-min-epochs",
        type=int,
        default=8,
        help="judge the plateau rule from this epoch on (default 8; longer for a noisy "
        "validation loss, whose last quarter must span enough epochs)",
    )
    parser.add_argument(
        "--dtype-policy",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
        default="float32",
        help="Keras dtype policy while training (weights stay float32)",
    )
    parser.add_argument("--initial-weights", help="start from these .weights.h5 (lineage)")
    parser.add_argument(
        "--curve",
        help="also write the learning curve (val_loss and, for reporting only, NRMSE to the "
        "ideal image of held-out crops, against steps) to this JSON file after every epoch",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (order, crops)")
    parser.add_argument(
        "--data-seed", type=int, help="seed of the phantoms and noise (default: --seed)"
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="training-set cache (default $SPECT_TUTORIAL_CACHE/training or .cache/training)",
    )
    parser.add_argument("--work-dir", help="checkpoints (default .cache/train/<name>)")
    parser.add_argument("--out", default=None, help="output folder (default data/weights)")
    parser.add_argument("--name", help="file stem (default win5rb_<method>_<config>)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing weights")
    parser.add_argument("--strategy", choices=("none", "mirrored"), default="none")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return parser


def _add_size_px(
    parser: argparse.ArgumentParser,
    option: str,
    help_text: str,
    *,
    default: list[int] | None = None,
) -> None:
    """Add an ``(H, W)`` option in pixels (two integers, checked >= 1 by ``_check_arguments``)."""
    parser.add_argument(
        option, type=int, nargs=2, metavar=("H", "W"), default=default, help=help_text
    )


def _training_sets() -> dict[str, dict[str, Any]]:
    from .datasets import TRAINING_SETS

    return TRAINING_SETS


def _default_out() -> Path:
    from .weights import WEIGHTS_DIR

    return WEIGHTS_DIR


def _folder_problem(path: Path, option: str) -> str | None:
    """Why ``path`` cannot be (or become) a writable folder, or None."""
    if path.exists() and not path.is_dir():
        return f"{option} {str(path)!r} is a file, not a folder"
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and (not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)):
        return f"{option} {str(path)!r} is not writable ({str(existing)!r} is read-only)"
    return None


def _check_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Every argument, before any computation: a bad one ends with a usage error (status 2).

    Zero is an error, never "use the preset": an option left out is ``None``.
    """
    from .weights import _check_name

    def positive(value: Any, option: str) -> None:
        if value is not None and value < 1:
            parser.error(f"{option} must be an integer >= 1, got {value}")

    for option in (
        "filters",
        "n_phantoms",
        "realizations",
        "epochs",
        "steps_per_epoch",
        "validation_steps",
        "batch_size",
        "patience",
        "lr_patience",
    ):
        positive(getattr(args, option), "--" + option.replace("_", "-"))
    for option in ("crop", "train_crop"):
        for size in getattr(args, option) or ():
            positive(size, "--" + option.replace("_", "-"))
    for option in ("seed", "data_seed"):
        value = getattr(args, option)
        if value is not None and value < 0:
            parser.error(f"--{option.replace('_', '-')} must be an integer >= 0, got {value}")
    if not (math.isfinite(args.learning_rate) and 0 < args.learning_rate < 1):
        parser.error(f"--learning-rate must be in (0, 1), got {args.learning_rate}")
    if args.plateau is not None and not (math.isfinite(args.plateau) and 0 < args.plateau < 1):
        parser.error(f"--plateau must be a fraction in (0, 1), got {args.plateau}")
    if args.plateau_min_epochs < 1:
        minimum = args.plateau_min_epochs
        parser.error(f"--plateau-min-epochs must be an integer >= 1, got {minimum}")
    if not (math.isfinite(args.validation_fraction) and 0 <= args.validation_fraction < 1):
        parser.error(f"--validation-fraction must be in [0, 1), got {args.validation_fraction}")
    for level in args.count_levels:
        if not (math.isfinite(level) and level > 0):
            parser.error(f"--count-levels must be percentages > 0, got {level}")
    if args.name is not None:
        try:
            _check_name(args.name)
        except ValueError as error:
            parser.error(f"--name {args.name!r}: {error}")
    for option, value in (
        ("--out", args.out),
        ("--work-dir", args.work_dir),
        ("--cache-dir", args.cache_dir),
    ):
        if value is not None:
            problem = _folder_problem(Path(value), option)
            if problem:
                parser.error(problem)
    if args.curve is not None:
        curve = Path(args.curve)
        if curve.is_dir():
            parser.error(f"--curve {args.curve!r} is a folder; give a .json file")
        problem = _folder_problem(curve.parent, "--curve")
        if problem:
            parser.error(problem)
    if args.initial_weights is not None and not Path(args.initial_weights).is_file():
        parser.error(f"--initial-weights {args.initial_weights!r} is not a file")


def _lineage(initial_weights: str | None, result: Any) -> dict[str, Any]:
    """Where the weights started and the gradient steps behind them in total."""
    lineage: dict[str, Any] = {
        "initial_weights": result.initial_weights,
        "steps_before": 0,
        "steps_this_run": result.steps,
    }
    if initial_weights is not None:
        path = Path(initial_weights)
        manifest = path.with_name(path.name.removesuffix(".weights.h5") + ".json")
        try:
            earlier = json.loads(manifest.read_text(encoding="utf-8"))
            lineage["initial_manifest"] = manifest.name
            lineage["steps_before"] = int(
                earlier.get("lineage", {}).get("total_steps") or earlier["budget"]["steps"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            lineage["initial_manifest"] = None  # steps before unknown
    lineage["total_steps"] = lineage["steps_before"] + result.steps
    return lineage


def _devices(backend: str) -> list[str]:
    """The devices the backend trained on, e.g. ``["cpu"]`` or ``["gpu: NVIDIA H200"]``.

    Recorded in the manifest: the same command gives other numbers on another device
    (float rounding), and a reader of a learning curve's wall times needs to know where
    it ran.
    """
    try:
        if backend == "jax":
            import jax

            return [f"{d.platform}: {d.device_kind}" for d in jax.devices()]
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                count = torch.cuda.device_count()
                return [f"gpu: {torch.cuda.get_device_name(i)}" for i in range(count)]
            return ["cpu"]
        if backend == "tensorflow":
            tf = import_quietly("tensorflow")

            gpus = tf.config.list_physical_devices("GPU")
            return [f"gpu: {gpu.name}" for gpu in gpus] or ["cpu"]
    except Exception as error:  # a manifest field must never end a run
        return [f"unknown ({type(error).__name__})"]
    return ["unknown"]


def _preset(value: Any, preset: Any) -> Any:
    return preset if value is None else value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_arguments(args, parser)
    started = time.perf_counter()
    preset = PRESETS[args.config]
    name = args.name or f"win5rb_{_METHODS[args.method]}_{args.config}"
    out = Path(args.out) if args.out is not None else _default_out()
    problem = _folder_problem(out, "--out")
    if problem:
        parser.error(problem)
    existing = [
        path for path in (out / f"{name}.weights.h5", out / f"{name}.json") if path.exists()
    ]
    if existing and not args.overwrite:
        print(
            f"error: {', '.join(str(path) for path in existing)} already exist(s); "
            "pass --overwrite to replace, or choose another --name",
            file=sys.stderr,
        )
        return 1
    model_config = dict(preset["model"])
    if args.filters is not None:
        model_config["filters"] = args.filters

    from . import datasets
    from .training import PairSource, TrainingConfig, train_pairs

    try:
        config = TrainingConfig(
            epochs=_preset(args.epochs, preset["epochs"]),
            batch_size=_preset(args.batch_size, preset["batch_size"]),
            learning_rate=args.learning_rate,
            steps_per_epoch=_preset(args.steps_per_epoch, preset["steps_per_epoch"]),
            validation_steps=_preset(args.validation_steps, preset["validation_steps"]),
            crop_px=None if args.train_crop is None else tuple(args.train_crop),
            patience=_preset(args.patience, preset["patience"]),
            lr_patience=args.lr_patience,
            plateau=args.plateau,
            plateau_min_epochs=args.plateau_min_epochs,
            dtype_policy=args.dtype_policy,
            seed=args.seed,
            input_slices=args.input_slices,
        )
    except ValueError as error:
        parser.error(str(error))
    if args.set is not None:
        options = dict(_training_sets()[args.set])
        data_seed = options["seed"]
    else:
        data_seed = args.seed if args.data_seed is None else args.data_seed
        options = {
            "n_phantoms": args.n_phantoms,
            "realizations": args.realizations,
            "count_levels": tuple(args.count_levels),
            "seed": data_seed,
            "validation_fraction": args.validation_fraction,
            # Always with the count split: the three methods then share one cached set
            # (the same phantoms and acquisitions), which an equal-budget comparison needs.
            "count_splitting": True,
        }
        if args.acquisition != "v1":
            options["acquisition"] = args.acquisition
    if args.cache_dir is not None:
        options["cache_dir"] = args.cache_dir
    data = datasets.build_training_set(
        crop_px=tuple(args.crop), progress=not args.quiet, **options
    )
    strategy = None
    if args.strategy == "mirrored":
        tf = import_quietly("tensorflow")

        strategy = tf.distribute.MirroredStrategy()
    work_dir = Path(args.work_dir) if args.work_dir else Path(".cache/train") / name
    if args.method == "noise2noise":
        source = PairSource.noise2noise(data.noise2noise)
    elif args.method == "count_split":
        source = PairSource.count_split(data.count_split)
    else:
        source = PairSource.supervised(data.noise2noise, data.reference)
    from . import __version__

    command = "python -m spect_tutorial.train " + " ".join(sys.argv[1:] if argv is None else argv)
    reports = []
    if data.noise2noise.validation.any():
        from .training import IdealReport

        # Reporting only: the loss, early stopping and the plateau rule never see it.
        provenance = {
            "command": command,
            "seed": args.seed,
            "data_seed": data_seed,
            "training_set": None if data.path is None else data.path.name,
            "package_version": __version__,
        }
        reports.append(
            IdealReport(
                data.noise2noise,
                data.reference,
                input_slices=config.input_slices,
                curve=args.curve,
                provenance=provenance,
            )
        )
    result = train_pairs(
        source,
        model=model_config,
        config=config,
        work_dir=work_dir,
        strategy=strategy,
        callbacks=reports,
        verbose=not args.quiet,
        initial_weights=args.initial_weights,
    )

    keras = import_quietly("keras")

    from .training import held_out_errors
    from .weights import save_weights

    errors = None
    if data.noise2noise.validation.any():
        errors = held_out_errors(result.model, data.noise2noise, data.reference)

    noisy = data.noise2noise
    manifest = {
        "name": name,
        "command": command,
        "config": args.config,
        "method": args.method,
        "model_config": {
            **model_config,
            **({"channels": config.input_slices} if config.input_slices > 1 else {}),
        },
        "voxel_size_mm": float(noisy.voxel_size_mm),
        "normalisation": "slice / mean of the whole reconstructed volume (denoise does the same)",
        "training": result.summary(),
        "budget": {
            "steps": result.steps,
            "batch_size": config.batch_size,
            "crop_px": list(result.crop_px),
            "crops": result.steps * config.batch_size,
        },
        "data": {
            "seed": data_seed,
            "parameters": data.manifest.get("parameters"),
            "phantom_seeds": data.manifest.get("phantom_seeds"),
            "noise_seeds": data.manifest.get("noise_seeds"),
            "split_seeds": data.manifest.get("split_seeds"),
            "validation_phantoms": data.manifest.get("validation_phantoms"),
            "count_levels": list(noisy.count_levels),
            "realizations": noisy.n_realizations,
            "slices_per_phantom": noisy.n_slices,
            "has_defect": [bool(value) for value in data.reference.has_defect]
            if data.reference.has_defect is not None
            else None,
            "cache": None if data.path is None else data.path.name,
        },
        "final_loss": result.final_loss,
        "final_val_loss": result.final_val_loss,
        "best_val_loss": result.best_val_loss,
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "plateau_floor": result.plateau_floor,
        "validation_mse_to_ideal": errors,
        "training_seconds": round(result.training_seconds, 1),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "strategy": args.strategy,
        "dtype_policy": config.dtype_policy,
        "acquisition": data.manifest.get("acquisition", {"name": "v1"}),
        "lineage": _lineage(args.initial_weights, result),
        "learning_curve": [
            {
                key: row.get(key)
                for key in ("epoch", "steps", "loss", "val_loss", "report_val_nrmse_ideal")
            }
            for row in result.history
        ],
        "package_version": __version__,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host_cpu_count": os.cpu_count(),
    }
    manifest["devices"] = _devices(keras.backend.backend())
    if keras.backend.backend() == "tensorflow":
        tf = import_quietly("tensorflow")

        manifest["tensorflow_version"] = tf.__version__
    path = save_weights(result.model, out, name, manifest=manifest, overwrite=args.overwrite)
    if not args.quiet:
        saved = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        print(
            f"wrote {path} (sha256 {saved['weights_sha256'][:12]}...): {result.steps} steps x "
            f"batch {config.batch_size} x {result.crop_px[0]}x{result.crop_px[1]} px, "
            f"best val_loss {result.best_val_loss} at epoch {result.best_epoch}",
            flush=True,
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
