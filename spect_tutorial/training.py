"""Training WIN5-RB: Noise2Noise, count-splitting Noise2Noise and the supervised bound.

Three trainers share one engine and differ only in their pairs:

* :func:`train_noise2noise`: input realization ``i``, target realization
  ``j != i`` of the same phantom, count level and slice (Lehtinen et al. 2018).
  It receives a :class:`~spect_tutorial.datasets.Noise2NoiseSet`, which holds
  no ideal image, so it cannot use one.
* :func:`train_count_split`: the two binomial halves of *one* acquisition (a
  clinic has one scan per patient). It trains at half the counts and is then
  applied to full-count images; the half-count images are noisier than the
  ones it will see, but the normalisation by the volume mean makes the count
  level just one more kind of variation, as in the repeated-acquisition set.
* :func:`train_supervised`: the same inputs, pairs, order, batches, crops and
  gradient steps as :func:`train_noise2noise` ("the same budget"), but the
  target is the ideal image: the upper bound that needs a noise-free image.

Training is Keras ``fit`` with the loss MSE and Adam (learning rate 3e-4, as
in the Noise2Noise paper). :class:`TrainingConfig` fixes everything that
changes the result; the trainers own the working directory:

* a checkpoint after **every** epoch (weights, optimizer state, epoch number,
  history and early-stopping state) in ``work_dir``; calling the trainer again
  with the same ``work_dir`` resumes from it. An epoch that was interrupted is
  repeated from its start, so an interrupted-and-resumed run gives the same
  weights as an uninterrupted one (the batches of an epoch depend only on the
  seed and the epoch number, and TensorFlow's op determinism is switched on);
* early stopping on the **held-out Noise2Noise loss**: the MSE between the
  network's output for one realization of a validation phantom and another
  realization. The training loss cannot judge convergence: its target carries
  its own noise, so it stays high (at about the noise variance) and falls
  further only when the network starts to learn the noise of the training
  images by heart. On held-out phantoms that noise is new, and the loss equals
  the error to the (unknown) mean image plus a constant: it is lowest where
  the denoiser is best;
* ``history.csv`` and ``history.json`` in ``work_dir``, and one line per epoch
  on the screen (epoch, loss, val_loss, seconds).

Op determinism plus :func:`keras.utils.set_random_seed` give the same weights
for the same seed on the same machine (a different CPU or GPU may round
differently). With the TensorFlow backend, ``strategy`` takes a
``tf.distribute`` strategy (``MirroredStrategy`` over the GPUs of a machine,
``MultiWorkerMirroredStrategy`` over a cluster): the model is then built and
compiled inside ``strategy.scope()``.

Importing this module imports Keras (and with it TensorFlow).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import inspect
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ._files import plain_json, sha256_arrays, sha256_file, write_file_atomically, write_json
from ._validation import (
    check_fields,
    check_seed,
    choice,
    int_tuple,
    integer,
    load_json,
    real_number,
)
from .datasets import IdealStore, Noise2NoiseSet, TrainingData, normalise
from .model import _check_architecture, adjacent_slices, win5rb
from .pairs import PairSchedule, gather_pairs, pair_rows
from .quiet import import_quietly

keras = import_quietly("keras")

__all__ = [
    "DTYPE_POLICIES",
    "IdealReport",
    "PairSource",
    "TrainingConfig",
    "TrainingResult",
    "curve_nrmse",
    "held_out_errors",
    "load_learning_curve",
    "noise_floor",
    "plateau_reached",
    "train_count_split",
    "train_noise2noise",
    "train_pairs",
    "train_supervised",
]

# Layout of the working directory: bump when the checkpoint format changes.
# 2: Keras's BackupAndRestore (``backup/``) and ModelCheckpoint (``checkpoints/``).
_CHECKPOINT_FORMAT = 2
#: How the trainer writes its JSON files (state, history, learning curve).
_JSON: dict[str, Any] = {"sort_keys": True, "allow_nan": False, "overwrite": True}
_STATE_FILE = "checkpoint.json"
_CHECKPOINTS = "checkpoints"
_BACKUP = "backup"

#: Keras dtype policies a training may use (``mixed_bfloat16``: bfloat16 compute,
#: float32 variables; fast on CPUs with AVX512-BF16 and on recent GPUs).
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")

# What the ``model`` argument of the trainers may be.
_MODEL_KINDS = "a keras.Model, a win5rb configuration dict or a function returning a model"

# The keyword arguments of win5rb (and their defaults) that a model configuration may hold.
_WIN5RB_DEFAULTS = {
    name: parameter.default for name, parameter in inspect.signature(win5rb).parameters.items()
}

ModelLike = keras.Model | Mapping[str, Any] | Callable[[], keras.Model]


# ---------------------------------------------------------------------------
# Configuration and result
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that changes a training's result (besides the data and the model).

    Parameters
    ----------
    epochs : int, optional
        Maximum number of epochs (>= 1); early stopping may end sooner.
    batch_size : int, optional
        Pairs per gradient step (16).
    learning_rate : float, optional
        Adam's learning rate (3e-4, the Noise2Noise paper's).
    steps_per_epoch : int or None, optional
        ``None``: an epoch is one pass over every training pair (the remainder
        of less than one batch left out). An int: gradient steps between two
        checkpoints and validations, drawn from consecutive passes
        (:class:`~spect_tutorial.pairs.PairSchedule`).
    validation_steps : int or None, optional
        Batches of held-out pairs per validation (always the same pairs);
        ``None``: every held-out pair once.
    crop_px : tuple of int or None, optional
        Train on random ``(height, width)`` patches of the stored slices
        (a new position per pair and pass); ``None``: whole stored slices.
    patience : int or None, optional
        Stop after this many epochs without a lower validation loss (5);
        ``None``: never stop early.
    min_delta : float, optional
        Smallest decrease of the validation loss that counts as better (>= 0).
    restore_best_weights : bool, optional
        End with the weights of the epoch with the lowest validation loss.
    seed : int, optional
        Seed of the pair order, the crops and Keras (>= 0).
    lr_patience : int or None, optional
        Learning-rate schedule (Keras ``ReduceLROnPlateau`` on the validation
        loss): multiply the rate by ``lr_factor`` after this many epochs
        without improvement (at most four times); ``None`` (default): constant.
    lr_factor : float, optional
        That factor, in (0, 1) (0.5).
    plateau : float or None, optional
        Stopping rule "trained to a plateau": stop when the lowest validation
        loss, less its noise floor (:func:`noise_floor`), improved by less than
        this fraction (0.01: 1 %) over the last quarter of the epochs trained
        (checked from ``plateau_min_epochs`` on); ``None`` (default): off. Early
        stopping (``patience``) still applies.
    plateau_min_epochs : int, optional
        First epoch at which the plateau rule is checked (8).
    input_slices : int, optional
        Adjacent transaxial slices per input (odd): 1 (default) for the 2D
        network, 3 for the 2.5D variant (``win5rb(channels=3)``, predicting the
        centre slice; a model configuration dict gets ``channels`` from here).
    dtype_policy : str, optional
        Keras dtype policy of the layers during training, one of
        :data:`DTYPE_POLICIES` (``"float32"``; ``"mixed_bfloat16"`` computes in
        bfloat16 with float32 weights). Weights are float32 either way.

    Examples
    --------
    >>> TrainingConfig(epochs=3, batch_size=8).learning_rate
    0.0003
    """

    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 3e-4
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    crop_px: tuple[int, int] | None = None
    patience: int | None = 5
    min_delta: float = 0.0
    restore_best_weights: bool = True
    seed: int = 0
    lr_patience: int | None = None
    lr_factor: float = 0.5
    plateau: float | None = None
    plateau_min_epochs: int = 8
    input_slices: int = 1
    dtype_policy: str = "float32"

    def __post_init__(self) -> None:
        check_fields(self, ("epochs", "batch_size", "plateau_min_epochs", "input_slices"), integer)
        optional = ("steps_per_epoch", "validation_steps", "patience", "lr_patience")
        check_fields(self, optional, integer, none_ok=True)
        fraction = {"minimum": 0, "strict_minimum": True, "maximum": 1, "strict_maximum": True}
        check_fields(self, ("lr_factor", "learning_rate"), **fraction)
        integer(self.input_slices, "input_slices", unit="(a centre slice)", odd=True)
        if self.plateau is not None:
            real_number(self.plateau, "plateau (a fraction, or None)", **fraction)
        choice(self.dtype_policy, "dtype_policy", DTYPE_POLICIES)
        real_number(self.min_delta, "min_delta", minimum=0)
        check_seed(self.seed)
        if self.crop_px is not None:
            crop = int_tuple(self.crop_px, "crop_px", 2, what="(height, width) or None")
            object.__setattr__(self, "crop_px", crop)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON types (for manifests and checkpoints)."""
        values = asdict(self)
        values["crop_px"] = None if self.crop_px is None else list(self.crop_px)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingConfig:
        """Rebuild a configuration written by :meth:`to_dict` (unknown keys are refused)."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainingConfig fields {unknown}; known: {sorted(known)}")
        values = dict(values)
        if values.get("crop_px") is not None:
            values["crop_px"] = tuple(values["crop_px"])
        return cls(**values)


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """What a trainer returns.

    Attributes
    ----------
    model : keras.Model
        The trained model (the best epoch's weights with ``restore_best_weights``).
    history : tuple of dict
        One row per epoch: ``epoch`` (from 1), ``loss``, ``val_loss`` (None
        without validation phantoms), ``seconds``, ``steps`` (cumulative).
    config : TrainingConfig
        The configuration.
    kind : str
        ``"noise2noise"``, ``"count_split"`` or ``"supervised"``.
    work_dir : pathlib.Path
        Checkpoints and history.
    epochs_completed : int
        Epochs trained in total (over all resumed calls).
    best_epoch : int or None
        Epoch (from 1) with the lowest validation loss.
    best_val_loss : float or None
        That loss.
    stopped_early : bool
        Whether early stopping ended the training.
    steps_per_epoch : int
        Gradient steps per epoch.
    crop_px : tuple of int
        ``(height, width)`` of the training images.
    n_pairs : int
        Training pairs in one pass.
    training_seconds : float
        Wall time of all epochs, summed over resumed calls.
    resumed_from_epoch : int
        Epochs already in the checkpoint when this call started (0: fresh).
    initial_weights : dict or None
        ``{"path", "sha256"}`` of the weights the training started from, if any.
    stop_reason : str or None
        ``"early_stopping"`` or ``"plateau"`` when the training stopped before
        ``config.epochs``.
    plateau_floor : float or None
        The validation loss's noise floor used by the plateau rule
        (:func:`noise_floor`; None without the rule).
    """

    model: keras.Model
    history: tuple[dict[str, Any], ...]
    config: TrainingConfig
    kind: str
    work_dir: Path
    epochs_completed: int
    best_epoch: int | None
    best_val_loss: float | None
    stopped_early: bool
    steps_per_epoch: int
    crop_px: tuple[int, int]
    n_pairs: int
    training_seconds: float
    resumed_from_epoch: int
    initial_weights: dict[str, str] | None = None
    stop_reason: str | None = None
    plateau_floor: float | None = None

    @property
    def steps(self) -> int:
        """Gradient steps trained in total."""
        return self.epochs_completed * self.steps_per_epoch

    @property
    def final_loss(self) -> float | None:
        """Training loss of the last epoch."""
        return self.history[-1]["loss"] if self.history else None

    @property
    def final_val_loss(self) -> float | None:
        """Held-out Noise2Noise loss of the last epoch."""
        return self.history[-1]["val_loss"] if self.history else None

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of the training (for a weights manifest)."""
        return {
            "kind": self.kind,
            "config": self.config.to_dict(),
            "epochs_completed": self.epochs_completed,
            "steps": self.steps,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.config.batch_size,
            "crop_px": list(self.crop_px),
            "n_pairs": self.n_pairs,
            "final_loss": self.final_loss,
            "final_val_loss": self.final_val_loss,
            "best_epoch": self.best_epoch,
            "steps_at_best_epoch": (
                None if self.best_epoch is None else self.best_epoch * self.steps_per_epoch
            ),
            "best_val_loss": self.best_val_loss,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "training_seconds": round(self.training_seconds, 3),
            "dtype_policy": self.config.dtype_policy,
            "final_learning_rate": self.history[-1].get("learning_rate") if self.history else None,
            "initial_weights": self.initial_weights,
        }


# ---------------------------------------------------------------------------
# Keras plumbing
# ---------------------------------------------------------------------------


class _PairSequence(keras.utils.PyDataset):
    """Batches of a :class:`PairSchedule` for one epoch, set by ``epoch``."""

    def __init__(self, schedule: PairSchedule, epoch: int = 0) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.schedule = schedule
        self.epoch = epoch

    def __len__(self) -> int:
        return self.schedule.steps

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        # A pure function of (epoch, step): prefetching threads cannot change the order.
        return self.schedule.batch(self.epoch, step)


def _enable_determinism(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        from .quiet import import_quietly

        tf = import_quietly("tensorflow")

        tf.config.experimental.enable_op_determinism()


def _check_strategy(strategy: Any) -> None:
    if strategy is None:
        return
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "strategy needs the TensorFlow backend (a tf.distribute strategy), but Keras "
            f"runs on {keras.backend.backend()!r}; pass strategy=None"
        )
    if not hasattr(strategy, "scope"):
        raise ValueError(
            f"strategy must be a tf.distribute.Strategy, got {type(strategy).__name__}"
        )


def _strategy_scope(strategy: Any) -> contextlib.AbstractContextManager:
    if strategy is None:
        return contextlib.nullcontext()
    _check_strategy(strategy)
    return strategy.scope()


def _build_model(model: ModelLike, *, seed: int, strategy: Any) -> keras.Model:
    if isinstance(model, keras.Model):
        if strategy is not None:
            raise ValueError(
                "with a strategy, pass model as a win5rb configuration (a dict such as "
                "spect_tutorial.model.TEACHING_CONFIG) or a function returning a model, so "
                "that its variables are created inside strategy.scope()"
            )
        return model
    if isinstance(model, Mapping):
        return win5rb(**{"seed": seed, **model})
    if callable(model):
        built = model()
        if not isinstance(built, keras.Model):
            raise ValueError(f"model() must return a keras.Model, got {type(built).__name__}")
        return built
    raise ValueError(f"model must be {_MODEL_KINDS}, got {type(model).__name__}")


def _weights_signature(model: keras.Model) -> list[list[int]]:
    # Shapes only: automatic layer names change between models built in one session.
    return [list(weight.shape) for weight in model.weights]


def _write_history(work_dir: Path, state: Mapping[str, Any]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", "loss", "val_loss", "seconds", "steps", "best"])
    for row in state["history"]:
        writer.writerow(
            [
                row["epoch"],
                repr(row["loss"]),
                "" if row["val_loss"] is None else repr(row["val_loss"]),
                f"{row['seconds']:.3f}",
                row["steps"],
                int(row["epoch"] == state["best_epoch"]),
            ]
        )
    write_file_atomically(
        work_dir / "history.csv", buffer.getvalue().encode("utf-8"), overwrite=True
    )
    keys = ("kind", "config", "history", "best_epoch", "best_val_loss", "stopped_early")
    write_json(work_dir / "history.json", {key: state[key] for key in keys}, **_JSON)


def _epoch_file(work_dir: Path, epoch: int) -> Path:
    return work_dir / _CHECKPOINTS / f"epoch-{epoch:04d}.weights.h5"


def _load_state(work_dir: Path) -> dict[str, Any] | None:
    path = work_dir / _STATE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{str(path)!r} is unreadable ({error}); delete work_dir {str(work_dir)!r} "
            "to start afresh"
        ) from None


def _backup_epoch(work_dir: Path) -> int:
    """Epochs in Keras's BackupAndRestore backup (0: none)."""
    path = work_dir / _BACKUP / "training_metadata.json"
    if not (path.is_file() and (work_dir / _BACKUP / "latest.weights.h5").is_file()):
        return 0
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _check_resumable(
    state: Mapping[str, Any], expected: Mapping[str, Any], work_dir: Path
) -> None:
    """Refuse to resume a checkpoint of another training (other data, model or settings)."""
    differences = []
    for key in ("format", "kind", "data_fingerprint", "reference_fingerprint", "weights"):
        if state.get(key) != expected[key]:
            differences.append(key)
    saved_config = dict(state.get("config", {}))
    config = dict(expected["config"])
    saved_config.pop("epochs", None)
    config.pop("epochs", None)  # more epochs may be asked for when resuming
    if saved_config != config:
        differences.append("config")
    if differences:
        raise ValueError(
            f"work_dir {str(work_dir)!r} holds a checkpoint of a different training "
            f"(differs in {', '.join(differences)}); use another work_dir or delete it"
        )


def _value(logs: Mapping[str, Any], key: str) -> float | None:
    value = logs.get(key)
    return None if value is None else float(value)


def _on_plateau(
    val_losses: Sequence[float | None], config: TrainingConfig, floor: float = 0.0
) -> bool:
    """Whether the lowest validation loss less ``floor`` improved < ``config.plateau``.

    The improvement is measured over the last quarter of the epochs, relative to
    the lowest loss before it, both less the noise floor (the part of the loss
    that no network can remove).
    """
    losses = [value for value in val_losses if value is not None]
    if config.plateau is None or len(losses) < max(config.plateau_min_epochs, 4):
        return False
    quarter = math.ceil(len(losses) / 4)
    before, now = min(losses[:-quarter]) - floor, min(losses) - floor
    return before > 0 and (before - now) / before < config.plateau


def load_learning_curve(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a learning-curve file written by :class:`IdealReport` (``train --curve``).

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file (e.g. ``data/training/win5rb_n2n_paper_v2.curve.json``).

    Returns
    -------
    dict
        Its content (``rows``: ``epoch``, ``steps``, ``val_loss``,
        ``val_nrmse_ideal`` and ``val_nrmse_ideal_per_level`` per epoch;
        ``provenance``; ``plateau``) plus ``sha256``, the file's hash.

    Raises
    ------
    ValueError
        If the file is not JSON or has no rows of increasing steps with a
        finite ``val_loss`` each; the message names the file.
    """
    path = Path(path)
    where = f"learning curve {str(path)!r}"
    if not path.is_file():
        raise ValueError(f"{where} is not a file")
    curve = load_json(path.read_bytes(), where=where)
    rows = curve.get("rows") if isinstance(curve, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{where} has no 'rows' (not a learning curve)")
    try:
        steps = [int(row["steps"]) for row in rows]
        losses = [float(row["val_loss"]) for row in rows]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{where}: a row lacks a number 'steps' or 'val_loss' ({error})"
        ) from None
    if np.any(np.diff(steps) <= 0) or not np.all(np.isfinite(losses)):
        raise ValueError(f"{where}: steps must increase and every val_loss be finite")
    return {**curve, "sha256": sha256_file(path)}


def curve_nrmse(curve: Mapping[str, Any], level: str = "25") -> dict[int, float]:
    """NRMSE to the ideal image of the held-out crops, per gradient step, at one count level.

    The reporting column of a learning curve (:class:`IdealReport`): the network
    applied to the same held-out noisy crops whatever its training targets, so
    curves of Noise2Noise, count-split and supervised runs on one training set
    compare step for step (equal budgets), unlike their losses.

    Parameters
    ----------
    curve : mapping
        As read by :func:`load_learning_curve`.
    level : str, optional
        Count level in percent as written in the curve file ("25", "100").

    Returns
    -------
    dict
        ``steps -> NRMSE`` for the epochs that report the level.

    Raises
    ------
    ValueError
        If no row reports the level (the message lists those reported).
    """
    values = {
        int(row["steps"]): float(row["val_nrmse_ideal_per_level"][level])
        for row in curve["rows"]
        if level in (row.get("val_nrmse_ideal_per_level") or {})
    }
    if not values:
        reported = sorted(
            {key for row in curve["rows"] for key in row.get("val_nrmse_ideal_per_level") or {}}
        )
        raise ValueError(
            f"the learning curve reports no NRMSE at level {level!r} (it reports {reported})"
        )
    return values


def plateau_reached(curve: Mapping[str, Any]) -> bool:
    """Whether a learning curve written by :class:`IdealReport` meets its plateau rule.

    Parameters
    ----------
    curve : mapping
        The curve file's content (``rows`` with ``val_loss``; ``plateau`` with
        ``fraction``, ``min_epochs`` and ``floor``).

    Returns
    -------
    bool
        True when the validation loss less its noise floor improved by less
        than ``fraction`` over the last quarter of the epochs (the trainer's
        own stopping rule); False without a rule.
    """
    rule = curve.get("plateau")
    if not rule:
        return False
    config = TrainingConfig(plateau=rule["fraction"], plateau_min_epochs=rule["min_epochs"])
    losses = [row.get("val_loss") for row in curve["rows"]]
    return _on_plateau(losses, config, rule.get("floor") or 0.0)


def noise_floor(validation: PairSchedule, *, noisy_targets: bool = True) -> float:
    """The part of the validation loss that no network can remove (normalised units²).

    With a noisy target ``t`` the expected loss of any network ``f`` is
    ``E[(f(x) - E t)^2] + Var(t)`` (the Noise2Noise decomposition, see the
    Noise2Noise chapter): the target's noise variance is a floor. Input and
    target are two independent acquisitions of the same phantom, slice and
    count level, so ``E[(x - t)^2] = Var(x) + Var(t) = 2 Var(t)``, and the
    floor is half the loss of the identity on the same pairs: an estimate from
    the noisy images alone, which a Noise2Noise training may use. With ideal
    targets (supervised) the floor is 0.

    Parameters
    ----------
    validation : PairSchedule
        The held-out pairs (all their batches of epoch 0 are used).
    noisy_targets : bool, optional
        False for ideal targets.

    Returns
    -------
    float
        The floor, in the units of the loss (squared normalised intensity).
    """
    if not noisy_targets:
        return 0.0
    total = 0.0
    for step in range(validation.steps):
        inputs, targets = validation.batch(0, step)
        centre = inputs[..., inputs.shape[-1] // 2]
        total += float(np.mean((centre.astype(np.float64) - targets[..., 0]) ** 2))
    return 0.5 * total / validation.steps


# State of Keras callbacks that their on_train_begin resets, restored on resuming.
_CALLBACK_STATE = {
    "early_stopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "reduce_lr": ("wait", "best", "cooldown_counter"),
}


def _callback_state(callback: keras.callbacks.Callback, name: str) -> dict[str, Any]:
    values = {}
    for attribute in _CALLBACK_STATE[name]:
        value = getattr(callback, attribute, None)
        values[attribute] = None if value is None else float(value)
    return values


class _EpochKeeper(keras.callbacks.Callback):
    """Sets the epoch of the training batches; records history and callback state; prints.

    Keras's own callbacks do the work (``BackupAndRestore`` the kill-and-resume
    backup, ``ModelCheckpoint`` the per-epoch weights, ``EarlyStopping``,
    ``ReduceLROnPlateau``); this one writes what they do not keep: the
    history, the state of early stopping and of the learning-rate schedule
    (their ``on_train_begin`` resets it, so it is restored here after them),
    and the pruning of old per-epoch weights.
    """

    def __init__(
        self,
        *,
        sequence: _PairSequence,
        state: dict[str, Any],
        work_dir: Path,
        config: TrainingConfig,
        stateful: Mapping[str, keras.callbacks.Callback],
        verbose: bool,
    ) -> None:
        super().__init__()
        self.sequence = sequence
        self.state = state
        self.work_dir = work_dir
        self.config = config
        self.stateful = dict(stateful)
        self.verbose = verbose
        self._tic = 0.0
        self._rate = float("nan")

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        saved = self.state["history"][-1].get("callbacks", {}) if self.state["history"] else {}
        for name, callback in self.stateful.items():
            for attribute, value in saved.get(name, {}).items():
                if value is not None:
                    setattr(callback, attribute, int(value) if attribute != "best" else value)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.sequence.epoch = epoch
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._tic = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = logs or {}
        seconds = time.perf_counter() - self._tic
        state = self.state
        loss, val_loss = _value(logs, "loss"), _value(logs, "val_loss")
        if loss is None or not math.isfinite(loss):
            raise FloatingPointError(
                f"the training loss of epoch {epoch + 1} is {loss}; lower the learning rate"
            )
        row = {
            "epoch": epoch + 1,
            "loss": loss,
            "val_loss": val_loss,
            "seconds": round(seconds, 3),
            "steps": (epoch + 1) * self.sequence.schedule.steps,
            "learning_rate": self._rate,  # the rate this epoch trained with
            # Reporting only (never a training or stopping criterion): e.g. val_nrmse_ideal.
            **{
                key: float(value)
                for key, value in logs.items()
                if key.startswith("report_") and value is not None
            },
            "callbacks": {
                name: _callback_state(callback, name) for name, callback in self.stateful.items()
            },
        }
        improved = False
        stopper = self.stateful.get("early_stopping")
        if stopper is None:
            state["best_epoch"], improved = epoch + 1, True
        elif int(stopper.best_epoch) == epoch and stopper.wait == 0:
            state["best_epoch"], state["best_val_loss"], improved = epoch + 1, val_loss, True
        if stopper is not None and self.model.stop_training:
            state["stopped_early"], state["stop_reason"] = True, "early_stopping"
        state["history"].append(row)
        if (
            not state["stopped_early"]
            and self.config.plateau is not None
            and _on_plateau(
                [r["val_loss"] for r in state["history"]],
                self.config,
                state.get("plateau_floor") or 0.0,
            )
        ):
            state["stopped_early"], state["stop_reason"] = True, "plateau"
            self.model.stop_training = True
        state["epochs_completed"] = epoch + 1
        state["training_seconds"] += seconds
        # The state is written atomically, before Keras's backup of this epoch: after a
        # kill between the two, the epoch is repeated and its row dropped (see _train).
        write_json(self.work_dir / _STATE_FILE, state, **_JSON)
        _write_history(self.work_dir, state)
        keep = {_epoch_file(self.work_dir, epoch + 1).name}
        if state["best_epoch"] is not None:
            keep.add(_epoch_file(self.work_dir, state["best_epoch"]).name)
        for other in (self.work_dir / _CHECKPOINTS).glob("epoch-*.weights.h5"):
            if other.name not in keep:
                other.unlink(missing_ok=True)
        if self.verbose:
            shown = "" if val_loss is None else f"  val_loss {val_loss:.5f}"
            note = "  *" if improved and stopper is not None else ""
            stop = "  (early stop)" if state["stopped_early"] else ""
            print(
                f"epoch {epoch + 1:>3}/{self.config.epochs}  loss {loss:.5f}{shown}"
                f"  {seconds:6.1f} s{note}{stop}",
                flush=True,
            )


# ---------------------------------------------------------------------------
# The engine: one training loop fed by a pair source
# ---------------------------------------------------------------------------


def _check_config(config: Any) -> TrainingConfig:
    if not isinstance(config, TrainingConfig):
        raise ValueError(f"config must be a TrainingConfig, got {type(config).__name__}")
    return config


def _check_dataset(dataset: Any, function: str) -> Noise2NoiseSet:
    if isinstance(dataset, TrainingData):
        raise ValueError(
            f"{function} takes the noisy set only: pass data.noise2noise (or data.count_split), "
            "not the whole TrainingData"
        )
    if not isinstance(dataset, Noise2NoiseSet):
        raise ValueError(f"dataset must be a Noise2NoiseSet, got {type(dataset).__name__}")
    return dataset


@dataclass(frozen=True, eq=False)
class PairSource:
    """What the training loop learns from: noisy inputs and their targets.

    Build it with :meth:`noise2noise`, :meth:`count_split` or
    :meth:`supervised`; :func:`train_pairs` is the one loop for all three.

    Attributes
    ----------
    dataset : Noise2NoiseSet
        The noisy inputs (and, without ``reference``, the noisy targets).
    kind : str
        ``"noise2noise"``, ``"count_split"`` or ``"supervised"``.
    reference : IdealStore or None
        The ideal targets (supervised only).
    """

    dataset: Noise2NoiseSet
    kind: str
    reference: IdealStore | None = None

    def __post_init__(self) -> None:
        _check_dataset(self.dataset, "PairSource")
        if self.kind not in ("noise2noise", "count_split", "supervised"):
            raise ValueError(
                f"kind must be 'noise2noise', 'count_split' or 'supervised', got {self.kind!r}"
            )
        if (self.kind == "supervised") != (self.reference is not None):
            raise ValueError("a supervised source needs a reference; the others must not have one")
        if self.reference is not None and not isinstance(self.reference, IdealStore):
            raise ValueError(
                f"reference must be an IdealStore, got {type(self.reference).__name__}"
            )
        if (self.kind == "count_split") != (self.dataset.kind == "count_split"):
            raise ValueError(
                f"a {self.kind!r} source needs "
                + (
                    "the count-split set (dataset.kind 'count_split'): build the training set "
                    "with count_splitting=True and pass data.count_split"
                    if self.kind == "count_split"
                    else "repeated acquisitions (data.noise2noise)"
                )
                + f", got a set of kind {self.dataset.kind!r}"
            )

    @classmethod
    def noise2noise(cls, dataset: Noise2NoiseSet) -> PairSource:
        """Realization ``i`` as input, ``j != i`` as target (a count-split set stays one)."""
        dataset = _check_dataset(dataset, "train_noise2noise")
        kind = "count_split" if dataset.kind == "count_split" else "noise2noise"
        return cls(dataset, kind)

    @classmethod
    def count_split(cls, dataset: Noise2NoiseSet) -> PairSource:
        """The two binomial halves of one acquisition."""
        return cls(_check_dataset(dataset, "train_count_split"), "count_split")

    @classmethod
    def supervised(cls, dataset: Noise2NoiseSet, reference: IdealStore) -> PairSource:
        """The Noise2Noise inputs with the ideal image as target."""
        return cls(_check_dataset(dataset, "train_supervised"), "supervised", reference)


def _check_model_argument(model: Any) -> None:
    if not (isinstance(model, keras.Model | Mapping) or callable(model)):
        raise ValueError(f"model must be {_MODEL_KINDS}, got {type(model).__name__}")
    if isinstance(model, Mapping):
        unknown = sorted(set(model) - set(_WIN5RB_DEFAULTS))
        if unknown:
            raise ValueError(
                f"model configuration has unknown key(s) {unknown}; win5rb takes "
                f"{list(_WIN5RB_DEFAULTS)}"
            )
        sizes = {**_WIN5RB_DEFAULTS, **model}
        _check_architecture(sizes["filters"], sizes["kernel_size"], sizes["depth"])


@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy ``name`` (restored afterwards)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def train_pairs(
    source: PairSource,
    *,
    model: ModelLike,
    config: TrainingConfig,
    work_dir: str | os.PathLike[str],
    strategy: Any = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool = True,
    initial_weights: str | os.PathLike[str] | None = None,
) -> TrainingResult:
    """The training loop: Keras ``fit`` on the batches of a :class:`PairSource`.

    Parameters
    ----------
    source : PairSource
        The pairs (Noise2Noise, count split or supervised).
    {common}
    initial_weights : str or os.PathLike, optional
        A ``.weights.h5`` file of the same architecture to start from (fine-tuning
        shipped weights); used only when no checkpoint exists in ``work_dir``.
        Its path and SHA-256 are recorded (``TrainingResult.initial_weights``).

    Returns
    -------
    TrainingResult
    """
    if not isinstance(source, PairSource):
        raise ValueError(f"source must be a PairSource, got {type(source).__name__}")
    dataset, kind, reference = source.dataset, source.kind, source.reference
    config = _check_config(config)
    if not isinstance(work_dir, str | os.PathLike):
        raise ValueError(
            f"work_dir must be a folder path (str or os.PathLike), got {type(work_dir).__name__}"
        )
    work_dir = Path(work_dir)
    # Everything the caller gives is checked before the first TensorFlow operation.
    _check_model_argument(model)
    if isinstance(model, Mapping):
        channels = model.get("channels", config.input_slices)
        if channels != config.input_slices:
            raise ValueError(
                f"the model's channels ({channels}) must equal config.input_slices "
                f"({config.input_slices})"
            )
        model = {**model, "channels": config.input_slices} if config.input_slices > 1 else model
    _check_strategy(strategy)
    if initial_weights is not None and not Path(initial_weights).is_file():
        raise ValueError(f"initial_weights {str(initial_weights)!r} is not a file")
    schedule = functools.partial(
        PairSchedule,
        dataset,
        seed=config.seed,
        batch_size=config.batch_size,
        crop_px=config.crop_px,
        input_slices=config.input_slices,
    )
    train = schedule(split="train", steps_per_epoch=config.steps_per_epoch, reference=reference)
    has_validation = bool(np.any(dataset.validation))
    validation = None
    if has_validation:
        # Early stopping always watches the held-out Noise2Noise loss (noisy targets),
        # the one criterion available without an ideal image.
        validation = schedule(split="validation", steps_per_epoch=config.validation_steps)

    _enable_determinism(config.seed)
    with _strategy_scope(strategy), _dtype_policy(config.dtype_policy):
        network = _build_model(model, seed=config.seed, strategy=strategy)
        network.compile(
            optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
            loss="mean_squared_error",
            # TensorFlow: no XLA (on CPUs it is no faster here, and the committed runs were
            # made without it). JAX and torch: Keras' default, which compiles the step with
            # XLA on JAX; run op by op, a GPU waits on Python (0.3 s per paper-size step on
            # an H200 instead of milliseconds).
            jit_compile=False if keras.backend.backend() == "tensorflow" else "auto",
        )
        network.optimizer.build(network.trainable_variables)

    expected = {
        "format": _CHECKPOINT_FORMAT,
        "kind": kind,
        "config": config.to_dict(),
        "data_fingerprint": dataset.fingerprint(),
        "reference_fingerprint": None if reference is None else sha256_arrays([reference.images]),
        "weights": _weights_signature(network),
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / _CHECKPOINTS).mkdir(exist_ok=True)
    state = _load_state(work_dir)
    backup_epoch = _backup_epoch(work_dir)
    if state is None or backup_epoch == 0:
        if state is not None:
            _check_resumable(state, expected, work_dir)
        state = {
            **expected,
            "epochs_completed": 0,
            "history": [],
            "best_epoch": None,
            "best_val_loss": None,
            "stopped_early": False,
            "training_seconds": 0.0,
            "initial_weights": None,
        }
        if initial_weights is not None:
            with _strategy_scope(strategy):
                # Shipped weights hold the network only (no optimizer): load them into an
                # uncompiled copy, then copy its variables over.
                source = keras.models.clone_model(network)
                with warnings.catch_warnings():  # "skipping the optimizer": there is none
                    warnings.filterwarnings("ignore", message="Skipping variable loading")
                    source.load_weights(str(initial_weights))
                for target, value in zip(network.weights, source.weights, strict=True):
                    target.assign(value)
            state["initial_weights"] = {
                "path": str(initial_weights),
                "sha256": sha256_file(initial_weights),
            }
    else:
        _check_resumable(state, expected, work_dir)
        # Keras's backup is the truth: a row written after it (killed in between) goes.
        truncated = any(row["epoch"] > backup_epoch for row in state["history"])
        state["history"] = [row for row in state["history"] if row["epoch"] <= backup_epoch]
        state["epochs_completed"] = backup_epoch
        state["training_seconds"] = float(sum(row["seconds"] for row in state["history"]))
        if truncated:
            # The best epoch and the stop as they stood after the backed-up epoch.
            last = state["history"][-1] if state["history"] else {}
            stopper = last.get("callbacks", {}).get("early_stopping")
            if stopper is not None and stopper.get("best") is not None:
                state["best_epoch"] = int(stopper["best_epoch"]) + 1
                state["best_val_loss"] = float(stopper["best"])
            elif stopper is None and last:
                state["best_epoch"], state["best_val_loss"] = int(last["epoch"]), None
            else:
                state["best_epoch"] = state["best_val_loss"] = None
            state["stopped_early"], state["stop_reason"] = False, None
        state["config"] = expected["config"]
    resumed_from = int(state["epochs_completed"])

    crop = config.crop_px or dataset.slice_shape
    if verbose:
        where = f", resuming after epoch {resumed_from}" if resumed_from else ""
        held_out = (
            f"{validation.n_pairs} held-out pairs ({validation.steps} batches)"
            if validation is not None
            else "no held-out phantoms: no early stopping"
        )
        print(
            f"{kind}: {train.n_pairs} training pairs, {train.steps} steps/epoch x batch "
            f"{config.batch_size}, {crop[0]}x{crop[1]} px; {held_out}{where}",
            flush=True,
        )
    backup = keras.callbacks.BackupAndRestore(
        str(work_dir / _BACKUP), delete_checkpoint=False, double_checkpoint=True
    )
    stateful: dict[str, keras.callbacks.Callback] = {}
    if has_validation and config.patience is not None:
        stateful["early_stopping"] = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, min_delta=config.min_delta
        )
    if has_validation and config.lr_patience is not None:
        stateful["reduce_lr"] = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss",
            factor=config.lr_factor,
            patience=config.lr_patience,
            min_delta=config.min_delta,
            min_lr=config.learning_rate * config.lr_factor**4,
        )
    if has_validation and "early_stopping" not in stateful:
        # Without early stopping the best epoch is still tracked (never stopping).
        stateful["early_stopping"] = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=10**9, min_delta=config.min_delta
        )
    if config.plateau is not None and validation is not None and "plateau_floor" not in state:
        state["plateau_floor"] = noise_floor(validation, noisy_targets=kind != "supervised")
    for callback in callbacks:
        if isinstance(callback, IdealReport) and config.plateau is not None:
            callback.plateau = {
                "fraction": config.plateau,
                "min_epochs": config.plateau_min_epochs,
                "floor": state.get("plateau_floor"),
            }
    finished = state["stopped_early"] or state["epochs_completed"] >= config.epochs
    if not finished:
        sequence = _PairSequence(train, epoch=resumed_from)
        keeper = _EpochKeeper(
            sequence=sequence,
            state=state,
            work_dir=work_dir,
            config=config,
            stateful=stateful,
            verbose=verbose,
        )
        weights_per_epoch = keras.callbacks.ModelCheckpoint(
            str(work_dir / _CHECKPOINTS / "epoch-{epoch:04d}.weights.h5"),
            save_weights_only=True,
        )
        network.fit(
            sequence,
            validation_data=None if validation is None else _PairSequence(validation),
            epochs=config.epochs,
            initial_epoch=resumed_from,
            shuffle=False,  # the schedule already shuffles, from the seed and the epoch
            verbose=0,
            # Order matters: Keras's callbacks first, the keeper records them, then the
            # backup marks the epoch done.
            callbacks=[weights_per_epoch, *stateful.values(), *callbacks, keeper, backup],
        )
    elif resumed_from:
        with _strategy_scope(strategy):
            network.load_weights(str(work_dir / _BACKUP / "latest.weights.h5"))
    best = state["best_epoch"]
    if config.restore_best_weights and best is not None and best != state["epochs_completed"]:
        with _strategy_scope(strategy):
            network.load_weights(str(_epoch_file(work_dir, best)))
        if verbose:
            print(f"restored the weights of epoch {best} (lowest val_loss)", flush=True)
    if verbose and resumed_from == state["epochs_completed"] and resumed_from:
        print("nothing left to train: the checkpoint is complete", flush=True)
    return TrainingResult(
        model=network,
        history=tuple(
            {key: value for key, value in row.items() if key != "callbacks"}
            for row in state["history"]
        ),
        config=config,
        kind=kind,
        work_dir=work_dir,
        epochs_completed=int(state["epochs_completed"]),
        best_epoch=best,
        best_val_loss=state["best_val_loss"],
        stopped_early=bool(state["stopped_early"]),
        steps_per_epoch=train.steps,
        crop_px=(int(crop[0]), int(crop[1])),
        n_pairs=train.n_pairs,
        training_seconds=float(state["training_seconds"]),
        resumed_from_epoch=resumed_from,
        initial_weights=state.get("initial_weights"),
        stop_reason=state.get("stop_reason") if state["stopped_early"] else None,
        plateau_floor=state.get("plateau_floor"),
    )


# ---------------------------------------------------------------------------
# The trainers
# ---------------------------------------------------------------------------

_COMMON_PARAMETERS = """
    model : keras.Model, dict or callable
        The network to train: a ``keras.Model`` (trained in place), a
        :func:`~spect_tutorial.model.win5rb` configuration such as
        :data:`~spect_tutorial.model.TEACHING_CONFIG` (built with
        ``seed=config.seed`` unless it has a seed), or a function with no
        arguments returning a model. With a ``strategy`` it must be a dict or a
        function, so that the variables are created inside ``strategy.scope()``.
        The trainer compiles it (Adam, MSE).
    config : TrainingConfig
        Epochs, batch, learning rate, crops, early stopping, seed.
    work_dir : str or os.PathLike
        Folder for the checkpoints and the history; an existing checkpoint of
        the same training is resumed (one of another training is refused).
        Keep it out of version control (``.cache/`` is git-ignored).
    strategy : tf.distribute.Strategy, optional
        TensorFlow backend only: e.g. ``tf.distribute.MirroredStrategy()``
        over the GPUs of one machine. ``config.batch_size`` is the global batch.
    callbacks : sequence of keras.callbacks.Callback, optional
        Further Keras callbacks (e.g. TensorBoard).
    verbose : bool, optional
        Print one line per epoch (Keras's own progress bar is off).
"""


def train_noise2noise(
    dataset: Noise2NoiseSet,
    **options: Any,
) -> TrainingResult:
    """Train a denoiser with Noise2Noise: noisy inputs, independent noisy targets.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        ``data.noise2noise`` from :func:`~spect_tutorial.datasets.build_training_set`:
        the noisy slices only (there is no ideal image in it).
    {common}

    Raises
    ------
    ValueError
        For a dataset that is not a Noise2NoiseSet, an invalid configuration, a
        strategy without the TensorFlow backend, or a ``work_dir`` holding a
        checkpoint of another training.

    Notes
    -----
    A pair is realization :math:`x_i` (input) and :math:`x_j`, :math:`j \\ne i`
    (target), of the same phantom, count level and slice, both divided by the
    mean of :math:`x_i`'s volume. Because the noise of :math:`x_j` is
    independent of :math:`x_i` with mean zero,

    .. math:: E\\|f(x_i) - x_j\\|^2 = E\\|f(x_i) - E[x_j]\\|^2 + \\mathrm{const},

    so minimising the MSE to noisy targets gives the same network as
    minimising it to the mean image :math:`E[x_j]` (Lehtinen et al. 2018). For
    OSEM images :math:`E[x_j]` is the mean of the noisy reconstructions, which
    at low counts differs a little from the ideal image (OSEM is not linear).
    The early-stopping loss is this MSE on held-out phantoms.

    References
    ----------
    J. Lehtinen et al., "Noise2Noise: Learning image restoration without clean
    data", ICML 2018, arXiv:1803.04189.

    Examples
    --------
    >>> from spect_tutorial.datasets import synthetic_training_set
    >>> data = synthetic_training_set()
    >>> result = train_noise2noise(data.noise2noise, model={"filters": 8},
    ...     config=TrainingConfig(epochs=2), work_dir=".cache/demo")  # doctest: +SKIP
    """
    return train_pairs(
        PairSource.noise2noise(dataset),
        **options,
    )


def train_count_split(
    dataset: Noise2NoiseSet,
    **options: Any,
) -> TrainingResult:
    """Noise2Noise from one acquisition: its two binomial halves are the pair.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        ``data.count_split`` from
        :func:`~spect_tutorial.datasets.build_training_set` with
        ``count_splitting=True``: per phantom and level, the two halves of one
        acquisition, reconstructed separately (``K = 2``).
    {common}

    Notes
    -----
    If :math:`N \\sim \\mathrm{Poisson}(\\lambda)` and
    :math:`N_1 \\sim \\mathrm{Binomial}(N, 1/2)`, then :math:`N_1` and
    :math:`N - N_1` are independent :math:`\\mathrm{Poisson}(\\lambda/2)`: a
    Noise2Noise pair at half the counts, with no second scan. The network is
    trained on half-count images and applied to full-count ones; the
    normalisation by the volume mean makes that only a change of noise level,
    which the count levels of the training set span anyway. Early stopping
    watches held-out count-split pairs (a clinic has no second scan there either).
    """
    return train_pairs(
        PairSource.count_split(dataset),
        **options,
    )


def train_supervised(
    dataset: Noise2NoiseSet,
    reference: IdealStore,
    **options: Any,
) -> TrainingResult:
    """Train against the ideal images: the upper bound, with the Noise2Noise budget.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        ``data.noise2noise``: the inputs.
    reference : IdealStore
        ``data.reference``: the ideal slice of each input's phantom and slice,
        divided by the *input's* volume mean (the same rule as the inputs).
    {common}

    Notes
    -----
    "The same budget" as :func:`train_noise2noise` with the same ``config``:
    the same phantoms, the same sequence of inputs (each ordered pair
    ``(i, j)`` of the Noise2Noise schedule contributes input ``i``), batches,
    crops and number of gradient steps; only the target differs. Early
    stopping watches the same held-out Noise2Noise loss, so both trainings
    stop by the same rule.
    """
    if not isinstance(reference, IdealStore):
        raise ValueError(f"reference must be an IdealStore, got {type(reference).__name__}")
    return train_pairs(
        PairSource.supervised(dataset, reference),
        **options,
    )


for _function in (train_pairs, train_noise2noise, train_count_split, train_supervised):
    if _function.__doc__:  # None under python -OO
        # The three trainers end their parameters with the common ones, then return.
        returns = "    Returns\n    -------\n    TrainingResult\n"
        returns = "" if _function is train_pairs else returns
        _function.__doc__ = _function.__doc__.replace(
            "    {common}\n", _COMMON_PARAMETERS.strip("\n") + "\n\n" + returns
        )


# ---------------------------------------------------------------------------
# Reporting only: the error to the ideal image during training
# ---------------------------------------------------------------------------


class IdealReport(keras.callbacks.Callback):
    """NRMSE to the ideal image of held-out crops after every epoch: for reporting only.

    Adds ``report_val_nrmse_ideal`` (mean over held-out phantoms and the
    chosen count levels) to the epoch's logs, which the trainer records in
    its history; the loss, early stopping and the plateau rule never use it
    (a Noise2Noise training cannot have an ideal image; a learning curve for
    the book may show one). With ``curve``, the rows ``{epoch, steps,
    val_loss, report_val_nrmse_ideal, per level}`` are also written to that
    JSON file after every epoch (rows of repeated epochs are replaced).

    NRMSE as in the science reference: root mean square of (output - ideal)
    over the evaluation region (the myocardium mask of the crop dilated by one
    voxel) divided by the ideal's mean there, per phantom and level, on the
    network's output for realization 0 of the central ``n_slices`` slices.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        Noisy slices (the validation phantoms are used).
    reference : IdealStore
        Their ideal slices (``level_images`` when present).
    count_levels : sequence of float, optional
        Levels reported (those of the set; default 25 and 100 %).
    n_slices : int, optional
        Central slices per phantom (7), to keep the report cheap.
    input_slices : int, optional
        Adjacent slices per network input: 1, or ``k`` for the 2.5D variant
        (each slice with its neighbours, :func:`~spect_tutorial.model.adjacent_slices`).
    curve : str or os.PathLike, optional
        JSON file of the learning curve. Besides the rows it holds
        ``provenance`` and ``plateau``: the stopping rule's fraction, first
        epoch and noise floor (:func:`noise_floor`, set by the trainer), so
        :func:`plateau_reached` can judge the curve on its own.
    provenance : mapping, optional
        Written into the curve file as is (e.g. the command, seeds and training
        set that produced it).
    """

    def __init__(
        self,
        dataset: Noise2NoiseSet,
        reference: IdealStore,
        *,
        count_levels: Sequence[float] = (25.0, 100.0),
        n_slices: int = 7,
        input_slices: int = 1,
        curve: str | os.PathLike[str] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from .metrics import evaluation_region

        if not reference.matches(dataset):
            raise ValueError("reference does not match the dataset's phantoms and slices")
        n_slices = integer(n_slices, "n_slices")
        self.input_slices = integer(
            input_slices, "input_slices", unit="(a centre slice)", odd=True
        )
        levels = [
            index for index, level in enumerate(dataset.count_levels) if level in count_levels
        ] or list(range(len(dataset.count_levels)))
        phantoms = dataset.phantoms("validation")
        if phantoms.size == 0:
            raise ValueError("the dataset has no validation phantoms to report on")
        middle = dataset.n_slices // 2
        first = max(0, middle - n_slices // 2)
        slices = np.arange(first, min(dataset.n_slices, first + n_slices))
        inputs, ideals, regions, keys = [], [], [], []
        for phantom in phantoms:
            region = evaluation_region(reference.myocardium[phantom])[slices]
            for level in levels:
                mean = float(dataset.means[phantom, level, 0])
                ideal = (
                    reference.level_images[phantom, level]
                    if reference.level_images is not None
                    else reference.images[phantom]
                )[slices]
                volume = normalise(dataset.images[phantom, level, 0], mean)
                inputs.append(adjacent_slices(volume, self.input_slices)[slices])
                ideals.append(normalise(ideal, mean))
                regions.append(region)
                keys.append(float(dataset.count_levels[level]))
        self._inputs = np.asarray(inputs, np.float32)
        self._ideals = np.asarray(ideals, np.float64)
        self._regions = np.asarray(regions, bool)
        self._levels = np.asarray(keys)
        self.curve = None if curve is None else Path(curve)
        self.provenance = plain_json(dict(provenance or {}))
        #: The stopping rule, set by the trainer: {"fraction", "min_epochs", "floor"}.
        self.plateau: dict[str, Any] | None = None
        self._rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Reload the learning curve written so far (a resumed training continues it)."""
        if self.curve is not None and self.curve.is_file():
            try:
                self._rows = list(json.loads(self.curve.read_text(encoding="utf-8"))["rows"])
            except (OSError, ValueError, KeyError, TypeError):
                self._rows = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Denoise the held-out images, append the NRMSE to the ideal and write the curve."""
        shape = self._inputs.shape[:-1]
        flat = self._inputs.reshape(-1, shape[-2], shape[-1], self.input_slices)
        output = np.concatenate(
            [
                keras.ops.convert_to_numpy(self.model(flat[start : start + 32], training=False))
                for start in range(0, len(flat), 32)
            ]
        ).reshape(shape)
        errors = []
        for index in range(shape[0]):
            region = self._regions[index]
            ideal = self._ideals[index][region]
            rms = np.sqrt(np.mean((output[index][region].astype(np.float64) - ideal) ** 2))
            errors.append(rms / ideal.mean())
        errors = np.asarray(errors)
        value = float(errors.mean())
        if logs is not None:
            logs["report_val_nrmse_ideal"] = value
        if self.curve is None:
            return
        steps = int(self.params.get("steps") or 0) * (epoch + 1)
        row = {
            "epoch": epoch + 1,
            "steps": steps,
            "loss": None if not logs or logs.get("loss") is None else float(logs["loss"]),
            "val_loss": None
            if not logs or logs.get("val_loss") is None
            else float(logs["val_loss"]),
            "val_nrmse_ideal": value,
            "val_nrmse_ideal_per_level": {
                f"{level:g}": float(errors[self._levels == level].mean())
                for level in np.unique(self._levels)
            },
        }
        self._rows = [r for r in self._rows if r["epoch"] < epoch + 1] + [row]
        write_json(
            self.curve,
            {
                "description": "learning curve: held-out Noise2Noise loss (val_loss) and, for "
                "reporting only, NRMSE to the ideal image of held-out crops (realization 0, "
                "central slices), against gradient steps",
                "provenance": self.provenance,
                "plateau": self.plateau,
                "rows": self._rows,
            },
            **_JSON,
        )


# ---------------------------------------------------------------------------
# A first check
# ---------------------------------------------------------------------------


def held_out_errors(
    model: keras.Model,
    dataset: Noise2NoiseSet,
    reference: IdealStore,
    *,
    split: str = "validation",
    batch_size: int = 32,
) -> dict[str, float]:
    """Mean squared error to the ideal image, before and after the network.

    Over every phantom of ``split``, count level, slice and realization, with
    input and ideal image divided by the input's volume mean (the training
    normalisation).

    Parameters
    ----------
    model : keras.Model
        The trained network (run in inference mode).
    dataset : Noise2NoiseSet
        Noisy slices.
    reference : IdealStore
        Their ideal slices.
    split : {"validation", "train"}, optional
        Which phantoms.
    batch_size : int, optional
        Slices per prediction call.

    Returns
    -------
    dict
        ``{"noisy": mse of the inputs, "denoised": mse of the outputs}``.
    """
    if not reference.matches(dataset):
        raise ValueError("reference does not match the dataset's phantoms and slices")
    batch_size = integer(batch_size, "batch_size")
    input_slices = int(model.input_shape[-1])  # 1, or k for the 2.5D variant
    phantoms = dataset.phantoms(split)
    if phantoms.size == 0:
        raise ValueError(f"the dataset has no {split} phantoms")
    every = np.arange(dataset.n_realizations)
    pairs = pair_rows(dataset, split, every, every)  # each realization once, as input
    noisy_total = denoised_total = 0.0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        inputs, ideal = gather_pairs(
            dataset, chunk, reference=reference, input_slices=input_slices
        )
        output = keras.ops.convert_to_numpy(model(inputs, training=False))
        centre = inputs[..., input_slices // 2 : input_slices // 2 + 1]
        noisy_total += float(np.sum((centre.astype(np.float64) - ideal) ** 2))
        denoised_total += float(np.sum((output.astype(np.float64) - ideal) ** 2))
    count = float(len(pairs) * np.prod(dataset.slice_shape))
    return {"noisy": noisy_total / count, "denoised": denoised_total / count}
