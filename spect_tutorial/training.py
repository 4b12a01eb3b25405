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
import inspect
import io
import json
import math
import numbers
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import (
    IdealStore,
    Noise2NoiseSet,
    PairSchedule,
    TrainingData,
    gather_pairs,
)
from .io import write_file_atomically
from .model import _check_architecture, win5rb
from .quiet import import_quietly

keras = import_quietly("keras")

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "held_out_errors",
    "train_count_split",
    "train_noise2noise",
    "train_supervised",
]

# Layout of the working directory: bump when the checkpoint format changes.
_CHECKPOINT_FORMAT = 1
_STATE_FILE = "checkpoint.json"
_CHECKPOINTS = "checkpoints"
_WEIGHTS_FILE = "weights.npz"
_OPTIMIZER_FILE = "optimizer.npz"

# The keyword arguments of win5rb (and their defaults) that a model configuration may hold.
_WIN5RB_DEFAULTS = {
    name: parameter.default for name, parameter in inspect.signature(win5rb).parameters.items()
}

ModelLike = keras.Model | Mapping[str, Any] | Callable[[], keras.Model]


# ---------------------------------------------------------------------------
# Configuration and result
# ---------------------------------------------------------------------------


def _positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        suffix = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= 1{suffix}, got {value!r}")
    return int(value)


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
        (:class:`~spect_tutorial.datasets.PairSchedule`).
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

    def __post_init__(self) -> None:
        _positive_int(self.epochs, "epochs")
        _positive_int(self.batch_size, "batch_size")
        _positive_int(self.steps_per_epoch, "steps_per_epoch", allow_none=True)
        _positive_int(self.validation_steps, "validation_steps", allow_none=True)
        _positive_int(self.patience, "patience", allow_none=True)
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 < rate < 1:
            raise ValueError(f"learning_rate must be a number in (0, 1), got {rate!r}")
        if (
            isinstance(self.min_delta, bool)
            or not isinstance(self.min_delta, numbers.Real)
            or not math.isfinite(self.min_delta)
            or self.min_delta < 0
        ):
            raise ValueError(f"min_delta must be a finite number >= 0, got {self.min_delta!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.crop_px is not None:
            crop = tuple(self.crop_px)
            if len(crop) != 2:
                raise ValueError(f"crop_px must be (height, width) or None, got {self.crop_px!r}")
            for size in crop:
                _positive_int(size, "crop_px")
            object.__setattr__(self, "crop_px", (int(crop[0]), int(crop[1])))

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
            "training_seconds": round(self.training_seconds, 3),
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
    raise ValueError(
        "model must be a keras.Model, a win5rb configuration dict or a function returning "
        f"a model, got {type(model).__name__}"
    )


def _weights_signature(model: keras.Model) -> list[list[int]]:
    # Shapes only: automatic layer names change between models built in one session.
    return [list(weight.shape) for weight in model.weights]


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=2, sort_keys=True, allow_nan=False)
    write_file_atomically(
        path, lambda handle: handle.write((text + "\n").encode("utf-8")), overwrite=True
    )


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
        work_dir / "history.csv",
        lambda handle: handle.write(buffer.getvalue().encode("utf-8")),
        overwrite=True,
    )
    keys = ("kind", "config", "history", "best_epoch", "best_val_loss", "stopped_early")
    _write_json(work_dir / "history.json", {key: state[key] for key in keys})


def _epoch_folder(work_dir: Path, epoch: int) -> Path:
    return work_dir / _CHECKPOINTS / f"epoch-{epoch:04d}"


def _save_checkpoint(work_dir: Path, model: keras.Model, state: dict[str, Any]) -> None:
    """Weights and optimizer of the epoch just finished, then the state that points to them."""
    epoch = state["epochs_completed"]
    folder = _epoch_folder(work_dir, epoch)
    temporary = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    temporary.mkdir(parents=True)
    try:
        _save_arrays(temporary / _WEIGHTS_FILE, model.weights)
        _save_arrays(temporary / _OPTIMIZER_FILE, model.optimizer.variables)
        if folder.exists():  # an epoch repeated after an interruption
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    # The state is written last and atomically: it names a complete checkpoint.
    _write_json(work_dir / _STATE_FILE, state)
    _write_history(work_dir, state)
    keep = {folder.name}
    if state["best_epoch"] is not None:
        keep.add(_epoch_folder(work_dir, state["best_epoch"]).name)
    for other in (work_dir / _CHECKPOINTS).iterdir():
        if other.name not in keep:
            shutil.rmtree(other, ignore_errors=True)


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


def _save_arrays(path: Path, variables: Sequence[Any]) -> None:
    # Plain npz (index -> array) rather than Keras's .weights.h5: faster for a file
    # written every epoch, and the order of model.weights is fixed by the architecture.
    arrays = {
        f"{index:04d}": np.asarray(variable.numpy()) for index, variable in enumerate(variables)
    }
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _load_arrays(path: Path, variables: Sequence[Any]) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = [data[key] for key in sorted(data.files)]
    if len(arrays) != len(variables) or any(
        array.shape != tuple(variable.shape)
        for array, variable in zip(arrays, variables, strict=True)
    ):
        raise ValueError(f"{str(path)!r} does not match the model or optimizer it should restore")
    for array, variable in zip(arrays, variables, strict=True):
        variable.assign(array)


def _restore(work_dir: Path, model: keras.Model, epoch: int, *, optimizer: bool = True) -> None:
    folder = _epoch_folder(work_dir, epoch)
    _load_arrays(folder / _WEIGHTS_FILE, model.weights)
    if optimizer:
        _load_arrays(folder / _OPTIMIZER_FILE, model.optimizer.variables)


def _value(logs: Mapping[str, Any], key: str) -> float | None:
    value = logs.get(key)
    return None if value is None else float(value)


class _EpochKeeper(keras.callbacks.Callback):
    """Sets the epoch of the training batches, checkpoints, early-stops and prints."""

    def __init__(
        self,
        *,
        sequence: _PairSequence,
        state: dict[str, Any],
        work_dir: Path,
        config: TrainingConfig,
        has_validation: bool,
        verbose: bool,
    ) -> None:
        super().__init__()
        self.sequence = sequence
        self.state = state
        self.work_dir = work_dir
        self.config = config
        self.has_validation = has_validation
        self.verbose = verbose
        self._tic = 0.0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.sequence.epoch = epoch
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
        state["epochs_completed"] = epoch + 1
        state["training_seconds"] += seconds
        state["history"].append(
            {
                "epoch": epoch + 1,
                "loss": loss,
                "val_loss": val_loss,
                "seconds": round(seconds, 3),
                "steps": (epoch + 1) * self.sequence.schedule.steps,
            }
        )
        improved = False
        if not self.has_validation:
            state["best_epoch"], improved = epoch + 1, True
        elif state["best_val_loss"] is None or (
            val_loss < state["best_val_loss"] - self.config.min_delta
        ):
            state["best_epoch"], state["best_val_loss"], state["wait"] = epoch + 1, val_loss, 0
            improved = True
        else:
            state["wait"] += 1
            if self.config.patience is not None and state["wait"] >= self.config.patience:
                state["stopped_early"] = True
                self.model.stop_training = True
        _save_checkpoint(self.work_dir, self.model, state)
        if self.verbose:
            shown = "" if val_loss is None else f"  val_loss {val_loss:.5f}"
            note = "  *" if improved and self.has_validation else ""
            stop = "  (early stop)" if state["stopped_early"] else ""
            print(
                f"epoch {epoch + 1:>3}/{self.config.epochs}  loss {loss:.5f}{shown}"
                f"  {seconds:6.1f} s{note}{stop}",
                flush=True,
            )


# ---------------------------------------------------------------------------
# The engine
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


def _train(
    dataset: Noise2NoiseSet,
    *,
    kind: str,
    reference: IdealStore | None,
    model: ModelLike,
    config: TrainingConfig,
    work_dir: str | os.PathLike[str],
    strategy: Any,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: bool,
) -> TrainingResult:
    config = _check_config(config)
    if not isinstance(work_dir, str | os.PathLike):
        raise ValueError(
            f"work_dir must be a folder path (str or os.PathLike), got {type(work_dir).__name__}"
        )
    work_dir = Path(work_dir)
    # Everything the caller gives is checked before the first TensorFlow operation.
    if not (isinstance(model, keras.Model | Mapping) or callable(model)):
        raise ValueError(
            "model must be a keras.Model, a win5rb configuration dict or a function returning "
            f"a model, got {type(model).__name__}"
        )
    if isinstance(model, Mapping):
        unknown = sorted(set(model) - set(_WIN5RB_DEFAULTS))
        if unknown:
            raise ValueError(
                f"model configuration has unknown key(s) {unknown}; win5rb takes "
                f"{list(_WIN5RB_DEFAULTS)}"
            )
        sizes = {**_WIN5RB_DEFAULTS, **model}
        _check_architecture(sizes["filters"], sizes["kernel_size"], sizes["depth"])
    _check_strategy(strategy)
    train = PairSchedule(
        dataset,
        split="train",
        seed=config.seed,
        batch_size=config.batch_size,
        steps_per_epoch=config.steps_per_epoch,
        crop_px=config.crop_px,
        reference=reference,
    )
    has_validation = bool(np.any(dataset.validation))
    validation = None
    if has_validation:
        # Early stopping always watches the held-out Noise2Noise loss (noisy targets),
        # the one criterion available without an ideal image.
        validation = PairSchedule(
            dataset,
            split="validation",
            seed=config.seed,
            batch_size=config.batch_size,
            steps_per_epoch=config.validation_steps,
            crop_px=config.crop_px,
        )

    _enable_determinism(config.seed)
    with _strategy_scope(strategy):
        network = _build_model(model, seed=config.seed, strategy=strategy)
        network.compile(
            optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
            loss="mean_squared_error",
            jit_compile=False,
        )
        network.optimizer.build(network.trainable_variables)

    expected = {
        "format": _CHECKPOINT_FORMAT,
        "kind": kind,
        "config": config.to_dict(),
        "data_fingerprint": dataset.fingerprint(),
        "reference_fingerprint": None if reference is None else _fingerprint(reference.images),
        "weights": _weights_signature(network),
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / _CHECKPOINTS).mkdir(exist_ok=True)
    for leftover in (work_dir / _CHECKPOINTS).glob(".*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    state = _load_state(work_dir)
    if state is None:
        state = {
            **expected,
            "epochs_completed": 0,
            "history": [],
            "best_epoch": None,
            "best_val_loss": None,
            "wait": 0,
            "stopped_early": False,
            "training_seconds": 0.0,
        }
    else:
        _check_resumable(state, expected, work_dir)
        with _strategy_scope(strategy):
            _restore(work_dir, network, state["epochs_completed"])
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
    finished = state["stopped_early"] or state["epochs_completed"] >= config.epochs
    if not finished:
        sequence = _PairSequence(train, epoch=resumed_from)
        keeper = _EpochKeeper(
            sequence=sequence,
            state=state,
            work_dir=work_dir,
            config=config,
            has_validation=has_validation,
            verbose=verbose,
        )
        network.fit(
            sequence,
            validation_data=None if validation is None else _PairSequence(validation),
            epochs=config.epochs,
            initial_epoch=resumed_from,
            shuffle=False,  # the schedule already shuffles, from the seed and the epoch
            verbose=0,
            callbacks=[keeper, *callbacks],
        )
    best = state["best_epoch"]
    if config.restore_best_weights and best is not None and best != state["epochs_completed"]:
        with _strategy_scope(strategy):
            _restore(work_dir, network, best, optimizer=False)
        if verbose:
            print(f"restored the weights of epoch {best} (lowest val_loss)", flush=True)
    if verbose and resumed_from == state["epochs_completed"] and resumed_from:
        print("nothing left to train: the checkpoint is complete", flush=True)
    return TrainingResult(
        model=network,
        history=tuple(dict(row) for row in state["history"]),
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
    )


def _fingerprint(array: np.ndarray) -> str:
    import hashlib

    digest = hashlib.sha256(str(array.shape).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


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
    *,
    model: ModelLike,
    config: TrainingConfig,
    work_dir: str | os.PathLike[str],
    strategy: Any = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool = True,
) -> TrainingResult:
    """Train a denoiser with Noise2Noise: noisy inputs, independent noisy targets.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        ``data.noise2noise`` from :func:`~spect_tutorial.datasets.build_training_set`:
        the noisy slices only (there is no ideal image in it).
    {common}
    Returns
    -------
    TrainingResult

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
    dataset = _check_dataset(dataset, "train_noise2noise")
    kind = "count_split" if dataset.kind == "count_split" else "noise2noise"
    return _train(
        dataset,
        kind=kind,
        reference=None,
        model=model,
        config=config,
        work_dir=work_dir,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
    )


def train_count_split(
    dataset: Noise2NoiseSet,
    *,
    model: ModelLike,
    config: TrainingConfig,
    work_dir: str | os.PathLike[str],
    strategy: Any = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool = True,
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
    Returns
    -------
    TrainingResult

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
    dataset = _check_dataset(dataset, "train_count_split")
    if dataset.kind != "count_split":
        raise ValueError(
            "train_count_split needs the count-split set (dataset.kind 'count_split'), got a "
            f"set of kind {dataset.kind!r}: build the training set with count_splitting=True "
            "and pass data.count_split"
        )
    return train_noise2noise(
        dataset,
        model=model,
        config=config,
        work_dir=work_dir,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
    )


def train_supervised(
    dataset: Noise2NoiseSet,
    reference: IdealStore,
    *,
    model: ModelLike,
    config: TrainingConfig,
    work_dir: str | os.PathLike[str],
    strategy: Any = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool = True,
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
    Returns
    -------
    TrainingResult

    Notes
    -----
    "The same budget" as :func:`train_noise2noise` with the same ``config``:
    the same phantoms, the same sequence of inputs (each ordered pair
    ``(i, j)`` of the Noise2Noise schedule contributes input ``i``), batches,
    crops and number of gradient steps; only the target differs. Early
    stopping watches the same held-out Noise2Noise loss, so both trainings
    stop by the same rule.
    """
    dataset = _check_dataset(dataset, "train_supervised")
    if not isinstance(reference, IdealStore):
        raise ValueError(f"reference must be an IdealStore, got {type(reference).__name__}")
    return _train(
        dataset,
        kind="supervised",
        reference=reference,
        model=model,
        config=config,
        work_dir=work_dir,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
    )


for _function in (train_noise2noise, train_count_split, train_supervised):
    if _function.__doc__:  # None under python -OO
        _function.__doc__ = _function.__doc__.replace(
            "    {common}\n", _COMMON_PARAMETERS.strip("\n") + "\n\n"
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
    batch_size = _positive_int(batch_size, "batch_size")
    phantoms = dataset.phantoms(split)
    if phantoms.size == 0:
        raise ValueError(f"the dataset has no {split} phantoms")
    grid = np.meshgrid(
        phantoms,
        np.arange(len(dataset.count_levels)),
        np.arange(dataset.n_slices),
        np.arange(dataset.n_realizations),
        indexing="ij",
    )
    phantom, level, slice_, first = (axis.ravel() for axis in grid)
    pairs = np.stack([phantom, level, slice_, first, first], axis=1)
    noisy_total = denoised_total = 0.0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        inputs, ideal = gather_pairs(dataset, chunk, reference=reference)
        output = keras.ops.convert_to_numpy(model(inputs, training=False))
        noisy_total += float(np.sum((inputs.astype(np.float64) - ideal) ** 2))
        denoised_total += float(np.sum((output.astype(np.float64) - ideal) ** 2))
    count = float(len(pairs) * np.prod(dataset.slice_shape))
    return {"noisy": noisy_total / count, "denoised": denoised_total / count}
