"""Pretrained WIN5-RB weights: saving with a manifest, finding and safely loading them.

A trained model is stored as two files side by side:

* ``<name>.weights.h5``: the Keras 3 weights file (HDF5 arrays only, written
  by ``model.save_weights``); no architecture, no code, nothing pickled;
* ``<name>.json``: the manifest, UTF-8 JSON with what the training command
  recorded (configuration, data seeds, steps, losses, ...) plus what
  :func:`save_weights` adds: ``model_config`` (the keyword arguments of
  :func:`spect_tutorial.model.win5rb`), ``weights_file``, ``weights_sha256``,
  ``keras_version`` and ``backend``. Every manifest also states
  ``voxel_size_mm``, the voxel size the model was trained at.

:func:`load_pretrained` never trusts the weights file: it checks its SHA-256
against the manifest *before* Keras opens it, rebuilds the network from the
manifest's ``model_config`` with :func:`~spect_tutorial.model.win5rb` (no
deserialisation of code or objects) and reads the arrays with
``model.load_weights``. A modified, corrupt or truncated file gives a
``ValueError`` naming the file; nothing here ever writes to a file it reads.

Where the weights are looked for
--------------------------------
1. the ``directory`` argument, when given;
2. else the folder in the environment variable ``SPECT_TUTORIAL_WEIGHTS_DIR``,
   when it is set and not empty;
3. else :data:`WEIGHTS_DIR`, the repository's ``data/weights/``.

:data:`WEIGHTS_DIR` is found next to the package folder, so it works from a
clone (``python`` started anywhere, with the repository on the path), from an
editable install (``pip install -e .``, what Binder does) and on Colab, where
the chapter clones the repository and installs it the same way. A regular
(non-editable) install does not carry ``data/``: point
``SPECT_TUTORIAL_WEIGHTS_DIR`` at a copy of ``data/weights/`` instead.

Importing this module does not import TensorFlow or Keras; only
:func:`save_weights` and :func:`load_pretrained` do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import (
    canonical_json,
    json_ready,
    move_files_together,
    refuse_existing,
    sha256_bytes,
    sha256_file,
    write_temporary,
)
from ._validation import as_path, check_allocation, integer, load_json, real_number
from .data import DATA_DIR

__all__ = [
    "DEFAULT_MODEL",
    "TRAIN_COMMAND",
    "WEIGHTS_DIR",
    "WEIGHTS_DIR_ENV",
    "copy_weights",
    "load_manifest",
    "load_pretrained",
    "resolve_weights_dir",
    "save_weights",
    "weights_sha256",
]

if TYPE_CHECKING:  # pragma: no cover - for static type checkers only
    import keras

#: Folder of the shipped weights and their manifests: the repository's ``data/weights/``.
WEIGHTS_DIR = DATA_DIR / "weights"

#: Environment variable that overrides :data:`WEIGHTS_DIR` (an absolute path is safest).
WEIGHTS_DIR_ENV = "SPECT_TUTORIAL_WEIGHTS_DIR"

#: Name of the shipped model that :func:`load_pretrained` and ``denoise`` use by default:
#: the paper-size WIN5-RB (128 filters, 7 x 7) trained with Noise2Noise.
DEFAULT_MODEL = "win5rb_n2n_paper"

#: The command that trains the shipped paper-size model and writes its files.
TRAIN_COMMAND = "python -m spect_tutorial.train --config paper"

_WEIGHTS_SUFFIX = ".weights.h5"
_MANIFEST_SUFFIX = ".json"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_MODEL_CONFIG_KEYS = ("filters", "kernel_size", "depth")
# Largest model_config a manifest may declare (the paper's network: 128, 7, 5), checked
# before any model is built from an untrusted manifest.
_MODEL_CONFIG_LIMITS = {"filters": 1024, "kernel_size": 31, "depth": 64, "channels": 15}
# Optional: input channels of the 2.5D variant (adjacent slices); absent means 1 (2D).
_OPTIONAL_CONFIG_KEYS = ("channels",)
_FLOAT32_BYTES = 4
# Keys save_weights computes itself; a caller's manifest must not bring its own.
_COMPUTED_KEYS = ("weights_file", "weights_sha256", "keras_version", "backend")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_NUMPY_COPY_WARNING = r"__array__ implementation doesn't accept a copy keyword"


# ---------------------------------------------------------------------------
# Names, folders, hashes
# ---------------------------------------------------------------------------


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name) or ".." in name:
        raise ValueError(
            "name must be a file stem of letters, digits, '_', '-' and '.' (not starting with "
            f"'.', no '..', no folders), e.g. {DEFAULT_MODEL!r}; got {name!r}"
        )
    return name


def resolve_weights_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The folder in which weights are looked for.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder given explicitly; wins over everything else.

    Returns
    -------
    pathlib.Path
        ``directory`` if given; else ``$SPECT_TUTORIAL_WEIGHTS_DIR`` if that
        environment variable is set and not empty; else :data:`WEIGHTS_DIR`.
        The folder need not exist.

    Examples
    --------
    >>> resolve_weights_dir("/tmp/my_weights").name
    'my_weights'
    """
    if directory is not None:
        return as_path(directory, "directory")
    from_environment = os.environ.get(WEIGHTS_DIR_ENV, "").strip()
    if from_environment:
        return as_path(from_environment, f"environment variable {WEIGHTS_DIR_ENV}")
    return WEIGHTS_DIR


def _paths(name: str, directory: Path) -> tuple[Path, Path]:
    return directory / f"{name}{_WEIGHTS_SUFFIX}", directory / f"{name}{_MANIFEST_SUFFIX}"


def weights_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (64 lowercase hex characters) of a file, usually a ``.weights.h5``.

    ``FileNotFoundError`` if ``path`` does not exist, ``ValueError`` if it is not
    a regular file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty.weights.h5"
    >>> _ = path.write_bytes(b"")
    >>> weights_sha256(path)[:16]
    'e3b0c44298fc1c14'
    """
    return sha256_file(as_path(path, "path"))


def _missing_message(name: str, directory: Path, missing: list[Path]) -> str:
    files = " and ".join(repr(path.name) for path in missing)
    return (
        f"pretrained model {name!r}: {files} not found in {str(directory)!r}. "
        f"Make the shipped model with `{TRAIN_COMMAND}` (the teaching model with "
        "`--config teaching`), pass directory=..., or set the environment variable "
        f"{WEIGHTS_DIR_ENV} to the folder that holds {name}{_WEIGHTS_SUFFIX} and "
        f"{name}{_MANIFEST_SUFFIX}."
    )


# ---------------------------------------------------------------------------
# Model configuration
# ---------------------------------------------------------------------------


def _check_model_config(config: Any, where: str) -> dict[str, int]:
    if (
        not isinstance(config, Mapping)
        or not set(_MODEL_CONFIG_KEYS) <= set(config)
        or not set(config) <= set(_MODEL_CONFIG_KEYS + _OPTIONAL_CONFIG_KEYS)
    ):
        raise ValueError(
            f"{where}: model_config must be a mapping with exactly the keys "
            f"{list(_MODEL_CONFIG_KEYS)} (and optionally {list(_OPTIONAL_CONFIG_KEYS)}), "
            f"got {config!r}"
        )
    checked = {}
    for key in _MODEL_CONFIG_KEYS + _OPTIONAL_CONFIG_KEYS:
        if key in config:
            limit = _MODEL_CONFIG_LIMITS[key]
            checked[key] = integer(config[key], f"{where}: model_config[{key!r}]", maximum=limit)
    return checked


def _minimum_weights_bytes(config: Mapping[str, int]) -> int:
    """Bytes of float32 convolution kernels a WIN5-RB of ``config`` holds at least."""
    filters, kernel, depth = config["filters"], config["kernel_size"], config["depth"]
    channels = config.get("channels", 1)
    per_tap = channels * filters + (depth - 2) * filters * filters + filters  # first, middle, last
    return _FLOAT32_BYTES * kernel * kernel * per_tap


def _check_finite_weights(model: keras.Model, where: str) -> None:
    import numpy as np

    for variable, values in zip(model.weights, model.get_weights(), strict=True):
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise ValueError(
                f"{where}: variable {variable.path!r} holds {bad} NaN or infinite value(s) "
                f"(of {values.size}); a diverged training cannot be saved or used"
            )


def _check_voxel_size(value: Any, where: str) -> float:
    name = f"{where}: voxel_size_mm (the voxel size the model was trained at)"
    return real_number(value, name, unit="mm", minimum=0, strict_minimum=True)


def _model_config_of(model: keras.Model) -> dict[str, int]:
    """The :func:`win5rb` arguments that rebuild ``model``, checked by rebuilding it."""
    from .quiet import import_quietly

    keras = import_quietly("keras")

    from .model import win5rb

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    not_win5rb = ValueError(
        f"model {model.name!r} is not a WIN5-RB network built by "
        "spect_tutorial.model.win5rb, so load_pretrained could not rebuild it"
    )
    if len(convolutions) < 2:
        raise not_win5rb
    config = {
        "filters": int(convolutions[0].filters),
        "kernel_size": int(convolutions[0].kernel_size[0]),
        "depth": len(convolutions),
    }
    channels = int(model.input_shape[-1])
    if channels != 1:  # the 2.5D variant; a 2D model's manifest keeps the three keys
        config["channels"] = channels
    try:
        rebuilt = win5rb(**config)
    except ValueError:
        raise not_win5rb from None
    layers = [(type(layer).__name__, layer.name) for layer in model.layers]
    rebuilt_layers = [(type(layer).__name__, layer.name) for layer in rebuilt.layers]
    shapes = [tuple(weight.shape) for weight in model.weights]
    rebuilt_shapes = [tuple(weight.shape) for weight in rebuilt.weights]
    if layers != rebuilt_layers or shapes != rebuilt_shapes:
        raise not_win5rb
    return config


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------


def _inference_copy(model: keras.Model, config: dict[str, int]) -> keras.Model:
    """An uncompiled WIN5-RB of the same size holding ``model``'s variables."""
    from .model import win5rb

    copy = win5rb(**config)
    copy.set_weights(model.get_weights())
    return copy


def save_weights(
    model: keras.Model,
    directory: str | os.PathLike[str],
    name: str,
    *,
    manifest: Mapping[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write a WIN5-RB model's weights and their manifest, atomically.

    Parameters
    ----------
    model : keras.Model
        A model built by :func:`spect_tutorial.model.win5rb` (any size).
    directory : str or os.PathLike
        Output folder, created if missing (the shipped models go to :data:`WEIGHTS_DIR`).
    name : str
        File stem: writes ``<name>.weights.h5`` and ``<name>.json``.
    manifest : mapping
        What the training recorded (configuration, seeds, steps x batch x crop,
        losses, wall time, command, ...). JSON-serialisable; must contain
        ``voxel_size_mm`` (the voxel size of the training images, mm). It may
        contain ``model_config`` if that matches the model; it must not contain
        the keys this function computes (``weights_file``, ``weights_sha256``,
        ``keras_version``, ``backend``).
    overwrite : bool, optional
        Replace existing files. Default ``False``: if either file exists,
        :class:`FileExistsError` is raised and nothing is written.

    Returns
    -------
    pathlib.Path
        The weights file written.

    Raises
    ------
    FileExistsError
        If a file exists and ``overwrite`` is ``False`` (the message names it).
    TypeError
        If ``model`` is not a ``keras.Model``.
    ValueError
        If ``model`` is not a WIN5-RB network, ``name`` is not a plain file
        stem, or the manifest is invalid.

    Notes
    -----
    Keras writes the weights and this function the manifest into temporary
    files in ``directory``, flushed to disk; then both are swapped into place
    together (:func:`spect_tutorial._files.move_files_together`: the old pair
    is set aside, the new pair moved in, and restored if anything fails). A
    reader never sees half a file, and ``overwrite=True`` never leaves a new
    weights file beside an old manifest. The manifest records the SHA-256 of
    the exact bytes moved into place. Weights holding NaN or infinity (a
    diverged training) are refused before anything is written.

    Examples
    --------
    >>> from spect_tutorial.model import win5rb
    >>> path = save_weights(win5rb(filters=8, seed=0), "/tmp/w", "demo",
    ...                     manifest={"voxel_size_mm": 6.4})  # doctest: +SKIP
    """
    from .quiet import import_quietly

    keras = import_quietly("keras")

    name = _check_name(name)
    directory = as_path(directory, "directory")
    if not isinstance(manifest, Mapping):
        raise ValueError(f"manifest must be a mapping (dict), got {type(manifest).__name__}")
    if not all(isinstance(key, str) for key in manifest):
        raise ValueError("manifest keys must all be strings")
    reserved = sorted(set(_COMPUTED_KEYS) & set(manifest))
    if reserved:
        raise ValueError(
            f"manifest must not contain {reserved}: save_weights computes these keys itself"
        )
    if "voxel_size_mm" not in manifest:
        raise ValueError(
            "manifest must contain 'voxel_size_mm' (the voxel size of the training images "
            "in mm, 6.4 for the study's grid), so denoise can refuse other voxel sizes"
        )
    _check_voxel_size(manifest["voxel_size_mm"], "manifest")
    config = _model_config_of(model)
    if "model_config" in manifest:
        given = _check_model_config(manifest["model_config"], "manifest")
        if given != config:
            raise ValueError(f"manifest model_config {given} does not match the model's {config}")
    weights_path, manifest_path = _paths(name, directory)
    if not overwrite:
        refuse_existing(weights_path, manifest_path)
    record = {
        **dict(manifest),
        "model_config": config,
        "weights_file": weights_path.name,
        "weights_sha256": "0" * 64,  # placeholder: checks the manifest serialises first
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
    }
    canonical_json(record, what="manifest")  # refuses what JSON cannot hold, naming it

    with warnings.catch_warnings():
        # TensorFlow's variables lack numpy 2's __array__(copy=...); harmless here.
        warnings.filterwarnings("ignore", _NUMPY_COPY_WARNING, DeprecationWarning)
        _check_finite_weights(model, f"model {model.name!r}")
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.{uuid.uuid4().hex}.tmp{_WEIGHTS_SUFFIX}"
    manifest_temporary: Path | None = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _NUMPY_COPY_WARNING, DeprecationWarning)
            # Keras 3 writes a compiled model's optimizer state too (three times the
            # size for Adam); the shipped file holds the network's variables only.
            _inference_copy(model, config).save_weights(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        record["weights_sha256"] = weights_sha256(temporary)
        text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False, default=json_ready)
        manifest_temporary = write_temporary(manifest_path, (text + "\n").encode("utf-8"))
        if not overwrite:  # appeared while we were writing?
            refuse_existing(weights_path, manifest_path)
        # Both files swap in together: a failure leaves the old pair as it was.
        move_files_together({weights_path: temporary, manifest_path: manifest_temporary})
    finally:
        for path in (temporary, manifest_temporary):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()
    return weights_path


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_manifest(
    name: str = DEFAULT_MODEL, *, directory: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Read and check a model's manifest (``<name>.json``) without touching the weights.

    Parameters
    ----------
    name : str, optional
        Model name; default :data:`DEFAULT_MODEL`.
    directory : str or os.PathLike, optional
        Folder of the files; default from :func:`resolve_weights_dir`.

    Returns
    -------
    dict
        The manifest: at least ``model_config``, ``weights_file``,
        ``weights_sha256`` and ``voxel_size_mm``.

    Raises
    ------
    FileNotFoundError
        If the manifest is missing (the message names the training command).
    ValueError
        If the manifest is not valid JSON or lacks a required entry.

    Examples
    --------
    >>> manifest = load_manifest()  # doctest: +SKIP
    >>> manifest["voxel_size_mm"]  # doctest: +SKIP
    6.4
    """
    name = _check_name(name)
    folder = resolve_weights_dir(directory)
    weights_path, manifest_path = _paths(name, folder)
    if not manifest_path.is_file():
        raise FileNotFoundError(_missing_message(name, folder, [manifest_path]))
    try:
        manifest = load_json(
            manifest_path.read_bytes(),
            where=f"manifest {str(manifest_path)!r}",
        )
    except OSError as error:
        raise ValueError(f"manifest {str(manifest_path)!r} is unreadable: {error}") from None
    where = f"manifest {str(manifest_path)!r}"
    if not isinstance(manifest, dict):
        raise ValueError(f"{where} must hold a JSON object, got {type(manifest).__name__}")
    missing = [
        key
        for key in ("model_config", "weights_file", "weights_sha256", "voxel_size_mm")
        if key not in manifest
    ]
    if missing:
        raise ValueError(
            f"{where} lacks {missing}; rewrite it with spect_tutorial.weights.save_weights "
            f"(`{TRAIN_COMMAND}` does)"
        )
    manifest["model_config"] = _check_model_config(manifest["model_config"], where)
    if manifest["weights_file"] != weights_path.name:
        raise ValueError(
            f"{where}: weights_file must be {weights_path.name!r} (the file next to it), "
            f"got {manifest['weights_file']!r}"
        )
    sha = manifest["weights_sha256"]
    if not isinstance(sha, str) or not _SHA256_PATTERN.fullmatch(sha):
        raise ValueError(
            f"{where}: weights_sha256 must be 64 lowercase hexadecimal characters, got {sha!r}"
        )
    _check_voxel_size(manifest["voxel_size_mm"], where)
    return manifest


def load_pretrained(
    name: str = DEFAULT_MODEL, *, directory: str | os.PathLike[str] | None = None
) -> keras.Model:
    """Load a pretrained WIN5-RB, checking the weights file's hash before Keras reads it.

    Parameters
    ----------
    name : str, optional
        Model name; default :data:`DEFAULT_MODEL` (``"win5rb_n2n_paper"``).
    directory : str or os.PathLike, optional
        Folder holding ``<name>.weights.h5`` and ``<name>.json``. Default:
        ``$SPECT_TUTORIAL_WEIGHTS_DIR`` if set, else :data:`WEIGHTS_DIR` (the
        repository's ``data/weights/``; see the module notes for Binder/Colab).

    Returns
    -------
    keras.Model
        The network in inference form. Its manifest (a plain ``dict``, see
        :func:`load_manifest`) is attached as ``model.spect_manifest``;
        :func:`spect_tutorial.inference.denoise` reads the training voxel size
        from it.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message says which and names the command
        that makes them (``python -m spect_tutorial.train --config paper``).
    ValueError
        If the weights file does not match the manifest's SHA-256 ("corrupt or
        modified"), cannot be read (e.g. truncated), or does not fit the
        manifest's model configuration; or if the manifest is invalid. The
        message names the file. No file is ever written or replaced.

    Notes
    -----
    Safe by construction: the architecture comes from code
    (:func:`~spect_tutorial.model.win5rb` with the manifest's three integers),
    the weights file only supplies arrays (``model.load_weights`` on a
    ``.weights.h5``: no pickle, no ``custom_objects``, no Lambda layers, no
    ``safe_mode`` to switch off), and the file's SHA-256 is compared with the
    manifest before Keras opens it. Weights saved with another Keras backend
    (e.g. PyTorch on a GPU machine) load the same way.

    Examples
    --------
    >>> model = load_pretrained()  # doctest: +SKIP
    >>> model.spect_manifest["model_config"]  # doctest: +SKIP
    {'depth': 5, 'filters': 128, 'kernel_size': 7}
    """
    name = _check_name(name)
    folder = resolve_weights_dir(directory)
    weights_path, manifest_path = _paths(name, folder)
    missing = [path for path in (weights_path, manifest_path) if not path.is_file()]
    if missing:
        raise FileNotFoundError(_missing_message(name, folder, missing))
    manifest = load_manifest(name, directory=folder)
    actual = weights_sha256(weights_path)
    if actual != manifest["weights_sha256"]:
        raise ValueError(
            f"weights file {str(weights_path)!r} is corrupt or modified: its SHA-256 is "
            f"{actual}, its manifest {manifest_path.name!r} records "
            f"{manifest['weights_sha256']}. Restore it (e.g. `git checkout -- {weights_path.name}`"
            f" in its folder) or retrain with `{TRAIN_COMMAND}`; it was not loaded."
        )

    # The manifest is not covered by the hash: check what it declares against the
    # weights file and the memory budget before building anything from it.
    config = manifest["model_config"]
    declared = _minimum_weights_bytes(config)
    check_allocation(f"manifest {str(manifest_path)!r} model_config {config}", declared, 1)
    actual_bytes = weights_path.stat().st_size
    if actual_bytes < declared:
        raise ValueError(
            f"manifest {str(manifest_path)!r} declares a WIN5-RB {config} whose kernels alone "
            f"take {declared} bytes, but the weights file {weights_path.name!r} has only "
            f"{actual_bytes} bytes; the manifest does not describe these weights"
        )

    from .model import win5rb

    model = win5rb(**config)
    unreadable = (
        f"weights file {str(weights_path)!r} cannot be read as the WIN5-RB "
        f"{manifest['model_config']} of its manifest (truncated, corrupt or for another "
        "model); it was not loaded"
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(weights_path)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise ValueError(f"{unreadable}: {type(error).__name__}: {error}"[:2000]) from None
    for warning in caught:
        # Keras warns, instead of failing, when a layer keeps its fresh initial weights.
        if issubclass(warning.category, UserWarning) and "saving" in warning.filename:
            raise ValueError(f"{unreadable}: {warning.message}"[:2000])
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _NUMPY_COPY_WARNING, DeprecationWarning)
        _check_finite_weights(model, f"weights file {str(weights_path)!r}")
    # A plain dict, set past Keras's attribute tracking (which would wrap it).
    object.__setattr__(model, "spect_manifest", manifest)
    return model


# ---------------------------------------------------------------------------
# Shipping a trained model under another name
# ---------------------------------------------------------------------------


def copy_weights(
    name: str,
    source: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    as_name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Copy a trained model's two files to another folder, optionally under another name.

    How a candidate trained as ``win5rb_n2n_teaching_v2`` is shipped as
    ``win5rb_n2n_teaching`` in :data:`WEIGHTS_DIR`: the weights' bytes are copied
    unchanged (same SHA-256, checked before and after), and the manifest is
    copied with ``name`` and ``weights_file`` set to the new name and
    ``trained_as`` recording the name the training command gave it (its
    ``command`` and everything else stay as the training wrote them). The name
    changes no number: a rebuild with ``--name <as_name>`` trains the same weights.

    Parameters
    ----------
    name : str
        The model's file stem in ``source``.
    source : str or os.PathLike
        Folder of ``<name>.weights.h5`` and ``<name>.json``.
    directory : str or os.PathLike
        Destination folder, created if missing.
    as_name : str, optional
        File stem in ``directory``; default ``name``.
    overwrite : bool, optional
        Replace existing files there (e.g. a shipped model retrained). Default
        ``False``: :class:`FileExistsError` if either exists, nothing written.

    Returns
    -------
    pathlib.Path
        The weights file written.

    Raises
    ------
    FileExistsError
        If a destination file exists and ``overwrite`` is ``False``.
    FileNotFoundError
        If a source file is missing.
    ValueError
        If a name is not a plain file stem, the source manifest is invalid or its
        weights do not have the manifest's SHA-256, or source and destination are
        the same files.
    """
    new_name = _check_name(name if as_name is None else as_name)
    source_dir = as_path(source, "source")
    target_dir = as_path(directory, "directory")
    manifest = load_manifest(name, directory=source_dir)
    source_weights, source_manifest = _paths(name, source_dir)
    weights_path, manifest_path = _paths(new_name, target_dir)
    if not source_weights.is_file():
        raise FileNotFoundError(_missing_message(name, source_dir, [source_weights]))
    if weights_path.exists() and weights_path.resolve() == source_weights.resolve():
        raise ValueError(f"source and destination are the same file {str(weights_path)!r}")
    content = source_weights.read_bytes()
    if sha256_bytes(content) != manifest["weights_sha256"]:
        raise ValueError(
            f"weights file {str(source_weights)!r} does not have the SHA-256 of its manifest "
            f"{str(source_manifest)!r} (modified or corrupt); nothing was copied"
        )
    if not overwrite:
        refuse_existing(weights_path, manifest_path)
    record = {**manifest, "name": new_name, "weights_file": weights_path.name}
    if new_name != name:
        record["trained_as"] = manifest.get("trained_as", name)
    text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False, default=json_ready)
    target_dir.mkdir(parents=True, exist_ok=True)
    temporaries: list[Path] = []
    try:
        temporaries.append(write_temporary(weights_path, content))
        temporaries.append(write_temporary(manifest_path, (text + "\n").encode("utf-8")))
        if weights_sha256(temporaries[0]) != manifest["weights_sha256"]:
            raise OSError(f"copy of {str(source_weights)!r} differs from its source")
        if not overwrite:  # appeared while we were writing?
            refuse_existing(weights_path, manifest_path)
        move_files_together({weights_path: temporaries[0], manifest_path: temporaries[1]})
    finally:
        for path in temporaries:
            with contextlib.suppress(OSError):
                path.unlink()
    return weights_path
