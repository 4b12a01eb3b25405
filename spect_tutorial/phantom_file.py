"""The package's own phantom file: save, load and hash (:func:`phantom_hash`).

A phantom file is one ``.npz`` archive of plain arrays plus UTF-8 JSON metadata,
never a pickle, guarded by :func:`phantom_hash` (a SHA-256 over the array bytes
and the metadata, not over the file, whose zip timestamps change on every
save). External formats (XCAT raw volumes, Interfile) are read by
:mod:`spect_tutorial.formats`.

Files are untrusted until checked (:mod:`spect_tutorial._validation`): an
``.npz``'s array headers (names, dtypes, shapes, declared sizes) are checked
against its metadata and the memory budget before any array is decompressed;
JSON metadata is parsed with a nesting limit. A reader raises an error that
names the file and the problem (``ValueError``), or ``FileNotFoundError`` when
the file is missing. Writes go through :mod:`spect_tutorial._files` (atomic,
never replacing a file unless asked).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._files import canonical_json, refuse_existing, write_file_atomically
from ._validation import (
    as_path,
    existing_file,
    inspect_npz,
    load_json,
)
from .frame import LVGeometry
from .phantom import Phantom

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "load_phantom",
    "phantom_hash",
    "save_phantom",
]

FORMAT_NAME = "spect_tutorial.phantom"
"""Value of the ``format`` metadata field of a phantom ``.npz`` file."""

FORMAT_VERSION = 1
"""Version of the phantom file layout written by :func:`save_phantom`."""

_HASH_TAG = b"spect_tutorial.phantom_hash.v1\0"
_MASK_PREFIX = "mask__"
_OCCUPANCY_PREFIX = "occupancy__"
_METADATA_KEY = "metadata"
_REQUIRED_METADATA = (
    "format",
    "format_version",
    "shape",
    "voxel_size_mm",
    "lv",
    "parameters",
    "masks",
    "occupancy",
    "phantom_hash",
)
# What a damaged or foreign file can make numpy, zipfile, zlib or json raise.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    KeyError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)
_MAX_METADATA_BYTES = 16 << 20


# ---------------------------------------------------------------------------
# Hash and JSON helpers
# ---------------------------------------------------------------------------


def _check_entry_name(name: str, *, what: str) -> None:
    if not name or any(c in name for c in "/\\\0"):
        raise ValueError(
            f"{what} name {name!r} cannot be stored: names must be non-empty and "
            "contain no '/', '\\' or NUL characters"
        )


def _phantom_arrays(phantom: Phantom) -> list[tuple[str, np.ndarray]]:
    """The phantom's arrays in the fixed hash order."""
    arrays = [("activity", phantom.activity), ("mu", phantom.mu)]
    arrays += [(f"masks/{name}", phantom.masks[name]) for name in sorted(phantom.masks)]
    arrays += [
        (f"occupancy/{name}", phantom.occupancy[name]) for name in sorted(phantom.occupancy)
    ]
    return arrays


def _hash_metadata(phantom: Phantom) -> dict[str, Any]:
    return {
        "voxel_size_mm": float(phantom.voxel_size_mm),
        "lv": None if phantom.lv is None else phantom.lv.to_dict(),
        "parameters": phantom.parameters,
    }


def phantom_hash(phantom: Phantom) -> str:
    """SHA-256 (hex) of a phantom's arrays and metadata, independent of any file.

    Parameters
    ----------
    phantom : Phantom
        The phantom to fingerprint.

    Returns
    -------
    str
        64 lowercase hexadecimal characters.

    Raises
    ------
    TypeError
        If ``phantom`` is not a :class:`~spect_tutorial.phantom.Phantom`.
    ValueError
        If ``phantom.parameters`` is not JSON-serialisable.

    Notes
    -----
    The digest covers, in this fixed order, ``activity``, ``mu``,
    ``masks/<name>`` and ``occupancy/<name>`` (names sorted); for each array
    a JSON header ``[name, dtype, shape, nbytes]`` and its raw little-endian
    C-order bytes. It ends with the canonical JSON (sorted keys, no spaces,
    UTF-8) of ``voxel_size_mm`` (mm), ``lv.to_dict()`` (or null) and
    ``parameters``. Two phantoms with the same hash have bitwise identical
    arrays and equal metadata.

    It is deliberately not a hash of the saved file: a ``.npz`` is a zip
    archive whose member timestamps change on every save. Numpy scalars or
    arrays inside ``parameters`` are hashed as the JSON numbers or lists they
    are saved as; tuples hash as lists.

    Examples
    --------
    >>> import numpy as np
    >>> from spect_tutorial.formats import phantom_from_arrays
    >>> phantom = phantom_from_arrays(
    ...     np.ones((4, 4, 4)), np.full((4, 4, 4), 0.15), voxel_size_mm=6.4
    ... )
    >>> len(phantom_hash(phantom))
    64
    """
    if not isinstance(phantom, Phantom):
        raise TypeError(f"phantom must be a Phantom, got {type(phantom).__name__}")
    digest = hashlib.sha256(_HASH_TAG)
    for name, array in _phantom_arrays(phantom):
        array = np.asarray(array)
        little = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))
        header = json.dumps([name, little.dtype.str, list(little.shape), little.nbytes])
        digest.update(header.encode("utf-8") + b"\n")
        digest.update(little.tobytes())
    metadata = canonical_json(_hash_metadata(phantom), what="phantom.parameters")
    digest.update(b"metadata\0" + metadata.encode("utf-8"))
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Path helpers
# ---------------------------------------------------------------------------


def _require_npz_suffix(path: Path, name: str) -> None:
    if path.suffix.lower() != ".npz":
        raise ValueError(
            f"{name} must end with '.npz', got {str(path)!r} (suffix {path.suffix!r})"
        )


# ---------------------------------------------------------------------------
# Phantom files
# ---------------------------------------------------------------------------


def _occupancy_for_storage(fraction: np.ndarray) -> np.ndarray:
    """float16 when it holds the float32 values exactly (k/64 does), else float32."""
    half = fraction.astype(np.float16)
    back = half.astype(np.float32)
    if np.array_equal(back.view(np.uint32), fraction.view(np.uint32)):
        return half
    return fraction


def save_phantom(phantom: Phantom, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a phantom to one ``.npz`` file (arrays plus JSON metadata, no pickle).

    Parameters
    ----------
    phantom : Phantom
        The phantom to save. ``phantom.parameters`` must be JSON-serialisable.
    path : str or os.PathLike
        Destination; must end with ``.npz``. Missing parent folders are created.
    overwrite : bool, optional
        Replace an existing file. Default ``False``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If ``path`` does not end with ``.npz`` or is a folder, or the
        parameters are not JSON-serialisable.
    FileExistsError
        If ``path`` exists and ``overwrite`` is ``False``.
    TypeError
        If ``phantom`` is not a :class:`~spect_tutorial.phantom.Phantom`.

    Notes
    -----
    The archive (``numpy.savez_compressed``) holds ``activity`` and ``mu``
    (float32, ``(z, y, x)``; mu in 1/cm), one bool ``mask__<name>`` per mask,
    one ``occupancy__<name>`` per occupancy map (float16 when that is exact,
    as for the phantom's k/64 supersampling fractions, else float32; read
    back as the same float32 values) and ``metadata``: UTF-8 JSON bytes as a
    uint8 array with ``format`` (``"spect_tutorial.phantom"``),
    ``format_version`` (1), ``shape``, ``voxel_size_mm``, ``lv``,
    ``parameters``, the mask and occupancy names and :func:`phantom_hash`.

    The file is written to a temporary file in the same folder and moved into
    place with :func:`os.replace`, so a reader never sees half a file.
    JSON turns tuples inside ``parameters`` into lists and numpy scalars into
    Python numbers; the hash is unaffected.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> ones = np.ones((4, 4, 4))
    >>> phantom = Phantom(activity=ones, mu=0.15 * ones, voxel_size_mm=6.4)
    >>> save_phantom(phantom, pathlib.Path(tempfile.mkdtemp()) / "phantom.npz").name
    'phantom.npz'
    """
    if not isinstance(phantom, Phantom):
        raise TypeError(f"phantom must be a Phantom, got {type(phantom).__name__}")
    path = as_path(path, "path")
    _require_npz_suffix(path, "path")
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a folder; give a file name ending with .npz")
    if not overwrite:
        refuse_existing(path)
    for name in list(phantom.masks) + list(phantom.occupancy):
        _check_entry_name(name, what="mask or occupancy")

    digest = phantom_hash(phantom)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "shape": list(phantom.shape),
        "voxel_size_mm": float(phantom.voxel_size_mm),
        "lv": None if phantom.lv is None else phantom.lv.to_dict(),
        "parameters": phantom.parameters,
        "masks": sorted(phantom.masks),
        "occupancy": sorted(phantom.occupancy),
        "phantom_hash": digest,
    }
    metadata_bytes = canonical_json(metadata, what="phantom.parameters").encode("utf-8")
    arrays: dict[str, np.ndarray] = {
        "activity": np.ascontiguousarray(phantom.activity, dtype=np.float32),
        "mu": np.ascontiguousarray(phantom.mu, dtype=np.float32),
    }
    for name in sorted(phantom.masks):
        arrays[_MASK_PREFIX + name] = np.ascontiguousarray(phantom.masks[name], dtype=bool)
    for name in sorted(phantom.occupancy):
        fraction = np.ascontiguousarray(phantom.occupancy[name], dtype=np.float32)
        arrays[_OCCUPANCY_PREFIX + name] = _occupancy_for_storage(fraction)
    arrays[_METADATA_KEY] = np.frombuffer(metadata_bytes, dtype=np.uint8)

    return write_file_atomically(
        path, lambda handle: np.savez_compressed(handle, **arrays), overwrite=overwrite
    )


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The archive's arrays (no pickle) and its checked metadata.

    Every member's ``.npy`` header is read first (:func:`~._validation.inspect_npz`),
    and names, dtypes and shapes are checked against the metadata before any
    array is decompressed: a small archive cannot make this allocate gigabytes.
    """
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise ValueError("it is not an .npz (zip) archive")
    members = inspect_npz(path)
    if _METADATA_KEY not in members:
        raise ValueError(f"it has no {_METADATA_KEY!r} entry (entries: {sorted(members)})")
    declared = members[_METADATA_KEY]
    if declared.dtype != np.uint8 or len(declared.shape) != 1:
        raise ValueError(
            f"the {_METADATA_KEY!r} entry must be a 1-D uint8 array of JSON bytes, got "
            f"dtype {declared.dtype} and shape {declared.shape}"
        )
    if declared.data_bytes > _MAX_METADATA_BYTES:
        raise ValueError(
            f"the {_METADATA_KEY!r} entry declares {declared.data_bytes} bytes, more than "
            f"the {_MAX_METADATA_BYTES} bytes a phantom's metadata may take"
        )
    with np.load(path, allow_pickle=False) as archive:
        metadata = _parse_metadata(path, archive[_METADATA_KEY].tobytes())
        _check_arrays(path, {k: v for k, v in members.items() if k != _METADATA_KEY}, metadata)
        arrays = {key: archive[key] for key in members if key != _METADATA_KEY}
    return arrays, metadata


def _parse_metadata(path: Path, raw: bytes) -> dict[str, Any]:
    metadata = load_json(raw, where=f"{str(path)!r} metadata")
    if not isinstance(metadata, dict):
        raise ValueError(
            f"{str(path)!r} has metadata of type {type(metadata).__name__}, expected a JSON object"
        )
    if metadata.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{str(path)!r} is not a spect_tutorial phantom file: metadata format is "
            f"{metadata.get('format')!r}, expected {FORMAT_NAME!r}"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has phantom file format version {version!r}; this version of "
            f"spect_tutorial reads version {FORMAT_VERSION} only"
        )
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"{str(path)!r} metadata is missing the key(s) {missing}")
    for key in ("masks", "occupancy"):
        names = metadata[key]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"{str(path)!r} metadata {key!r} must be a list of names, got {names!r}"
            )
    if not isinstance(metadata["parameters"], dict):
        raise ValueError(
            f"{str(path)!r} metadata 'parameters' must be a JSON object, got "
            f"{type(metadata['parameters']).__name__}"
        )
    shape = metadata["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(isinstance(n, int) and n >= 0 for n in shape)
    ):
        raise ValueError(f"{str(path)!r} metadata 'shape' must be 3 integers, got {shape!r}")
    return metadata


def _check_arrays(path: Path, arrays: Mapping[str, Any], metadata: dict[str, Any]) -> None:
    """Names, dtypes and shapes of the arrays (or of their declared headers)."""
    expected = {"activity": ("float32",), "mu": ("float32",)}
    expected |= {_MASK_PREFIX + name: ("bool",) for name in metadata["masks"]}
    expected |= {
        _OCCUPANCY_PREFIX + name: ("float16", "float32") for name in metadata["occupancy"]
    }
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise ValueError(f"{str(path)!r} is missing the array(s) {missing}")
    unexpected = sorted(set(arrays) - set(expected))
    if unexpected:
        raise ValueError(
            f"{str(path)!r} holds unexpected array(s) {unexpected}; a phantom file holds "
            f"only {sorted(expected)} and {_METADATA_KEY!r}"
        )
    shape = tuple(metadata["shape"])
    for key, dtypes in expected.items():
        array = arrays[key]
        if array.dtype.name not in dtypes:
            raise ValueError(
                f"{str(path)!r}: array {key!r} has dtype {array.dtype}, expected "
                f"{' or '.join(dtypes)}"
            )
        if array.shape != shape:
            raise ValueError(
                f"{str(path)!r}: array {key!r} has shape {array.shape}, expected {shape}"
            )


def _lv_from_metadata(path: Path, data: Any) -> LVGeometry | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} metadata 'lv' must be an object or null, got {data!r}")
    try:
        lv = LVGeometry.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} has an invalid LV geometry: {exc}") from None
    return lv


def load_phantom(path: str | os.PathLike) -> Phantom:
    """Read a phantom written by :func:`save_phantom`, checking its integrity.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` file written by :func:`save_phantom`.

    Returns
    -------
    Phantom
        With float32 ``activity`` and ``mu`` (1/cm), ``voxel_size_mm`` (mm),
        bool ``masks``, float32 ``occupancy``, ``lv`` and ``parameters``,
        equal to what was saved (same :func:`phantom_hash`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the suffix is not ``.npz``; the file is truncated, not a zip
        archive, a foreign ``.npz`` or holds object (pickled) arrays; the
        format name or version is wrong; an array is missing or has the wrong
        dtype or shape; the phantom's own checks fail (NaN or negative
        activity, ...); or the recomputed hash differs from the stored one
        ("... is corrupt: hash mismatch"). Every message names the file.

    Notes
    -----
    Arrays are read with ``allow_pickle=False``: a file cannot run code.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> from spect_tutorial.formats import phantom_from_arrays
    >>> phantom = phantom_from_arrays(
    ...     np.ones((4, 4, 4)), np.full((4, 4, 4), 0.15), voxel_size_mm=6.4
    ... )
    >>> path = save_phantom(phantom, folder / "phantom.npz")
    >>> loaded = load_phantom(path)
    >>> loaded.shape, phantom_hash(loaded) == phantom_hash(phantom)
    ((4, 4, 4), True)
    """
    path = as_path(path, "path")
    _require_npz_suffix(path, "path")
    existing_file(path, "phantom file")
    try:
        arrays, metadata = _read_npz(path)
    except _READ_ERRORS as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable spect_tutorial phantom file "
            f"(truncated, damaged or foreign): {type(exc).__name__}: {exc}"
        ) from exc
    lv = _lv_from_metadata(path, metadata["lv"])
    try:
        phantom = Phantom(
            activity=arrays["activity"],
            mu=arrays["mu"],
            voxel_size_mm=metadata["voxel_size_mm"],
            masks={name: arrays[_MASK_PREFIX + name] for name in metadata["masks"]},
            lv=lv,
            occupancy={
                name: arrays[_OCCUPANCY_PREFIX + name].astype(np.float32)
                for name in metadata["occupancy"]
            },
            parameters=metadata["parameters"],
        )
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: {exc}") from exc
    digest = phantom_hash(phantom)
    if digest != metadata["phantom_hash"]:
        raise ValueError(
            f"{str(path)!r} is corrupt: hash mismatch (stored {metadata['phantom_hash']!r}, "
            f"computed {digest!r}); the arrays or metadata changed after it was saved"
        )
    return phantom
