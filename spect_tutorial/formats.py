"""External formats: XCAT raw volumes and Interfile data, wrapped into a :class:`Phantom`.

* flat binary volumes as the XCAT phantom program writes them, read by
  :func:`load_xcat_raw` and wrapped into a :class:`~spect_tutorial.phantom.Phantom`
  by :func:`phantom_from_arrays`;
* Interfile 3.3 header/data pairs as SIMIND (and many reconstruction programs)
  write them, image volumes and projection sets alike, read by
  :func:`load_interfile`.

The package's own phantom file is :mod:`spect_tutorial.phantom_file`. Every
reader checks what it reads and raises an error that names the file and the
problem (``ValueError``), or ``FileNotFoundError`` when a file is missing. Sizes
declared by a header are multiplied as Python integers (no wraparound) and
checked against the memory budget before reading; an Interfile data file must be
a regular file inside the header's folder.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import (
    as_path,
    check_allocation,
    check_data_file,
    check_finite,
    element_count,
    existing_file,
    int_tuple,
)
from .frame import LVGeometry, check_voxel_size_mm
from .phantom import Phantom

__all__ = ["load_interfile", "load_xcat_raw", "phantom_from_arrays"]

_MU_UNITS = ("per_cm", "per_pixel")

# mu of water at 140 keV is about 0.15 1/cm and of cortical bone about 0.28 1/cm.
_MU_PLAUSIBLE_MAX_PER_CM = (0.1, 1.0)


def phantom_from_arrays(
    activity: Any,
    mu: Any,
    *,
    voxel_size_mm: float,
    lv: LVGeometry | None = None,
    masks: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Phantom:
    """Wrap external activity and attenuation volumes (e.g. XCAT) into a :class:`Phantom`.

    Parameters
    ----------
    activity : array_like
        ``(z, y, x)`` activity concentration, any real dtype (stored as
        float32); must be finite and >= 0.
    mu : array_like
        ``(z, y, x)`` linear attenuation coefficient at 140 keV in **1/cm**
        (read XCAT maps with ``load_xcat_raw(..., mu_unit="per_pixel")`` when
        they were written per pixel).
    voxel_size_mm : float
        Isotropic voxel edge length in mm.
    lv : LVGeometry, optional
        Left-ventricle position and orientation (needed for reorientation and
        polar maps); ``None`` when unknown.
    masks : mapping of str to array_like, optional
        Organ masks on the same grid (converted to bool), e.g.
        ``{"myocardium": ...}``.
    parameters : mapping, optional
        JSON-serialisable description recorded in saved files (e.g. the XCAT
        parameter file name).

    Returns
    -------
    Phantom
        With empty ``occupancy``. float32 inputs are used without copying.

    Raises
    ------
    ValueError
        If an array is not 3-D, shapes differ, or values are NaN, infinite or
        negative; the message names the argument (``activity``, ``mu`` or the
        mask).

    Warns
    -----
    UserWarning
        If the largest ``mu`` is above 0 but below 0.1 1/cm (water is about
        0.15 1/cm at 140 keV: likely a per-pixel map read as 1/cm) or above
        1.0 1/cm (likely per mm or another energy).

    Examples
    --------
    >>> import numpy as np
    >>> phantom = phantom_from_arrays(
    ...     np.ones((4, 4, 4)), np.full((4, 4, 4), 0.15), voxel_size_mm=6.4
    ... )
    >>> phantom.shape, phantom.voxel_size_mm
    ((4, 4, 4), 6.4)
    """
    if masks is not None and not isinstance(masks, Mapping):
        raise ValueError(
            f"masks must be a mapping of name to array or None, got {type(masks).__name__}"
        )
    if parameters is not None and not isinstance(parameters, Mapping):
        raise ValueError(f"parameters must be a mapping or None, got {type(parameters).__name__}")
    phantom = Phantom(
        activity=activity,
        mu=mu,
        voxel_size_mm=voxel_size_mm,
        masks=dict(masks or {}),
        lv=lv,
        parameters=dict(parameters or {}),
    )
    mu_max = float(phantom.mu.max()) if phantom.mu.size else 0.0
    low, high = _MU_PLAUSIBLE_MAX_PER_CM
    if 0.0 < mu_max < low or mu_max > high:
        warnings.warn(
            f"the largest mu is {mu_max:.4g} 1/cm; at 140 keV water is about 0.15 1/cm and "
            f"bone about 0.28 1/cm. Is mu in 1/cm? (XCAT writes attenuation per pixel by "
            f"default: read it with load_xcat_raw(..., mu_unit='per_pixel'))",
            UserWarning,
            stacklevel=2,
        )
    return phantom


# ---------------------------------------------------------------------------
# XCAT raw volumes
# ---------------------------------------------------------------------------


def _check_numeric_dtype(dtype: Any, *, name: str = "dtype") -> np.dtype:
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise ValueError(
            f"{name} must be a numpy dtype such as '<f4' or '<u2', got {dtype!r}"
        ) from None
    if result.kind not in "iuf" or result.fields is not None or result.subdtype is not None:
        raise ValueError(
            f"{name} must be a real integer or float dtype such as '<f4' or '<u2', got {dtype!r}"
        )
    return result


def load_xcat_raw(
    path: str | os.PathLike,
    *,
    shape: Sequence[int],
    voxel_size_mm: float,
    dtype: Any = "<f4",
    mu_unit: str = "per_cm",
) -> np.ndarray:
    """Read a flat binary volume as the XCAT phantom program writes it.

    Parameters
    ----------
    path : str or os.PathLike
        The raw file (no header).
    shape : sequence of int
        ``(nz, ny, nx)`` in voxels: XCAT writes slice after slice, each slice
        row after row, i.e. C order ``(z, y, x)``.
    voxel_size_mm : float
        Voxel edge length in mm (XCAT's ``pixel_width``); used to convert
        per-pixel attenuation to 1/cm.
    dtype : str or numpy.dtype, optional
        Data type and byte order of the file. Default ``"<f4"``
        (little-endian float32, what XCAT writes).
    mu_unit : {"per_cm", "per_pixel"}, optional
        Unit of attenuation values in the file. ``"per_cm"`` returns the
        values as they are; ``"per_pixel"`` (XCAT's default for attenuation
        maps) divides them by the pixel size in cm,
        ``value / (voxel_size_mm / 10)``, giving 1/cm. Read activity files
        with the default: the conversion only applies to attenuation maps.

    Returns
    -------
    numpy.ndarray
        ``(nz, ny, nx)`` float32 array (a copy in memory, not a memory map).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file size differs from ``prod(shape) * itemsize`` bytes (the
        message gives both byte counts), or an argument is invalid (the
        message gives the valid values).

    Notes
    -----
    XCAT's z axis runs from the first slice written; check against the
    patient frame of :mod:`spect_tutorial.frame` (+z superior) before use
    and flip with ``volume[::-1]`` if needed. Values are returned unchecked;
    :func:`phantom_from_arrays` rejects NaN or negative activity.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.full((2, 3, 4), 0.048, dtype="<f4").tofile(folder / "atn_1.bin")
    >>> mu = load_xcat_raw(folder / "atn_1.bin", shape=(2, 3, 4), voxel_size_mm=3.2,
    ...                    mu_unit="per_pixel")
    >>> round(float(mu[0, 0, 0]), 4)
    0.15
    """
    path = as_path(path, "path")
    shape = int_tuple(shape, "shape", 3, what="(nz, ny, nx)")
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    file_dtype = _check_numeric_dtype(dtype)
    if mu_unit not in _MU_UNITS:
        raise ValueError(f"mu_unit must be one of {list(_MU_UNITS)}, got {mu_unit!r}")
    count = element_count(shape)  # Python ints: no wraparound
    check_allocation(
        f"XCAT raw file {str(path)!r} of shape {shape}", count, max(file_dtype.itemsize, 4)
    )
    existing_file(path, "XCAT raw file")
    expected = count * file_dtype.itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise ValueError(
            f"XCAT raw file {str(path)!r} has {actual} bytes, expected {expected} "
            f"(shape {shape} x {file_dtype.itemsize} bytes of {file_dtype.str}); "
            "check shape and dtype"
        )
    data = np.fromfile(path, dtype=file_dtype, count=count).reshape(shape)
    if mu_unit == "per_pixel":
        return (data.astype(np.float64) / (voxel_size_mm / 10.0)).astype(np.float32)
    return data.astype(np.float32)


# ---------------------------------------------------------------------------
# Interfile 3.3
# ---------------------------------------------------------------------------

_INTERFILE_MAX_HEADER_BYTES = 1 << 20
# number format -> numpy kind and the byte counts it allows (first = default)
_INTERFILE_FORMATS = {
    "unsigned integer": ("u", (2, 1, 4, 8)),
    "signed integer": ("i", (2, 1, 4, 8)),
    "float": ("f", (4, 8)),
    "short float": ("f", (4,)),
    "long float": ("f", (8,)),
}
_INTERFILE_BYTE_ORDERS = {"littleendian": "<", "bigendian": ">"}


def _normalise_interfile_key(key: str) -> str:
    key = key.strip().lstrip("!").strip().lower()
    key = re.sub(r"\s+", " ", key)
    return re.sub(r"\s*\[\s*(\d+)\s*\]", r" [\1]", key)


def _parse_interfile_header(header_path: Path) -> dict[str, str]:
    with open(header_path, "rb") as handle:
        text = handle.read(_INTERFILE_MAX_HEADER_BYTES).decode("latin-1")
    keys: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if ":=" not in line:
            continue
        key, value = line.split(":=", 1)
        key = _normalise_interfile_key(key)
        if key == "end of interfile":
            break
        keys.setdefault(key, value.strip())
    if not keys:
        raise ValueError(
            f"Interfile header {str(header_path)!r} holds no 'key := value' lines; "
            "is it an Interfile header (.h33/.hdr)?"
        )
    return keys


def _interfile_value(
    header_path: Path, keys: dict[str, str], names: Sequence[str], *, kind: type, required: bool
) -> Any:
    for name in names:
        text = keys.get(name, "")
        if text == "":
            continue
        try:
            value = float(text)
            if not np.isfinite(value) or (kind is int and value != int(value)):
                raise ValueError(text)
        except ValueError:
            raise ValueError(
                f"Interfile header {str(header_path)!r}: {name!r} must be "
                f"{'an integer' if kind is int else 'a finite number'}, got {text!r}"
            ) from None
        return int(value) if kind is int else value
    if required:
        raise ValueError(
            f"Interfile header {str(header_path)!r} is missing the key "
            f"{' or '.join(repr(n) for n in names)}"
        )
    return None


def _interfile_dtype(header_path: Path, keys: dict[str, str]) -> tuple[np.dtype, str]:
    number_format = re.sub(r"\s+", " ", keys.get("number format", "").strip().lower())
    if not number_format:
        raise ValueError(
            f"Interfile header {str(header_path)!r} is missing the key 'number format'"
        )
    if number_format not in _INTERFILE_FORMATS:
        raise ValueError(
            f"Interfile header {str(header_path)!r}: unknown number format {number_format!r}; "
            f"supported: {sorted(_INTERFILE_FORMATS)}"
        )
    kind, allowed = _INTERFILE_FORMATS[number_format]
    n_bytes = _interfile_value(
        header_path, keys, ["number of bytes per pixel"], kind=int, required=False
    )
    if n_bytes is None:
        if kind in "ui":
            raise ValueError(
                f"Interfile header {str(header_path)!r} is missing the key "
                f"'number of bytes per pixel' (needed for {number_format!r})"
            )
        n_bytes = allowed[0]
    if n_bytes not in allowed:
        raise ValueError(
            f"Interfile header {str(header_path)!r}: number of bytes per pixel {n_bytes} does "
            f"not fit number format {number_format!r} (valid: {sorted(allowed)})"
        )
    order_text = keys.get("imagedata byte order", "bigendian").replace(" ", "").lower()
    if order_text not in _INTERFILE_BYTE_ORDERS:
        raise ValueError(
            f"Interfile header {str(header_path)!r}: imagedata byte order must be "
            f"LITTLEENDIAN or BIGENDIAN, got {keys['imagedata byte order']!r}"
        )
    order = _INTERFILE_BYTE_ORDERS[order_text] if n_bytes > 1 else "|"
    return np.dtype(f"{order}{kind}{n_bytes}"), order_text.upper()


def _interfile_kind(keys: dict[str, str]) -> str:
    status = keys.get("process status", "").strip().lower()
    if status.startswith("reconstructed"):
        return "image"
    if status.startswith("acquired"):
        return "projections"
    if keys.get("number of projections", "") != "":
        return "projections"
    return "image"


def load_interfile(
    header_path: str | os.PathLike, *, allow_outside: bool = False
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read an Interfile 3.3 header and its data file (image volume or projections).

    Parameters
    ----------
    header_path : str or os.PathLike
        The header (``.h33``, ``.hdr``, ``.h00``, ...): lines ``!key := value``
        (keys case-insensitive, the leading ``!`` optional, ``;`` starts a
        comment). ``name of data file`` is taken relative to the header's
        folder and must lie inside it (sub-folders allowed).
    allow_outside : bool, optional
        Also accept a data file outside the header's folder (an absolute path
        or one with ``..``). Default ``False``: a header from elsewhere cannot
        make this function read an arbitrary file.

    Returns
    -------
    data : numpy.ndarray
        float32 array ``(n_images, rows, cols)`` with ``cols = matrix size [1]``
        and ``rows = matrix size [2]``; ``n_images`` is ``matrix size [3]``,
        else ``total number of images``, ``number of images``,
        ``number of projections`` or ``number of images/energy window``
        (the first present; 1 if none). For projection data the first axis
        is the view, as ``(views, z, detector bins)`` in this package.
    metadata : dict
        ``data_file`` (absolute :class:`pathlib.Path`), ``shape``, ``dtype``
        (the file's numpy dtype string, e.g. ``"<f4"``), ``byte_order``
        (``"LITTLEENDIAN"``/``"BIGENDIAN"``), ``offset_bytes``,
        ``pixel_size_mm`` (``(axis 0, rows, cols)`` in mm, ``None`` where the
        header gives none; axis 0 is ``None`` for projections), ``kind``
        (``"image"`` or ``"projections"``), ``number_format`` and ``raw``
        (every key, lower case without ``!``, mapped to its value string).

    Raises
    ------
    FileNotFoundError
        If the header or the data file does not exist.
    ValueError
        If a required key is missing (``name of data file``, ``matrix size``,
        ``number format``), the number format is unknown, the bytes per pixel
        do not fit it, a value does not parse, a pixel size is <= 0, the data
        would exceed the memory budget (:mod:`spect_tutorial._validation`),
        the data file lies outside the header's folder (without
        ``allow_outside``), is not a regular file or is shorter than offset +
        data size, or the data hold NaN or infinity. Messages name the header
        or data file.

    Notes
    -----
    Keys read: ``number format`` (unsigned integer, signed integer, float,
    short float, long float), ``number of bytes per pixel``, ``imagedata byte
    order`` (Interfile's default is BIGENDIAN), ``matrix size [1..3]``,
    ``scaling factor (mm/pixel) [1..3]`` (axis 0 falls back to ``slice
    thickness (pixels)`` x ``scaling factor [1]``), ``data offset in bytes``
    or ``data starting block`` (x 2048 bytes). The data are not flipped or
    rescaled (``raw`` keeps any rescale keys); ``kind`` is ``"projections"``
    when ``process status`` is Acquired, or when it is absent and the header
    gives ``number of projections``. Integer data beyond 2**24 lose precision
    in float32.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.arange(24, dtype="<f4").tofile(folder / "image.a00")
    >>> _ = (folder / "image.h33").write_text(
    ...     "!INTERFILE :=\\n!name of data file := image.a00\\n"
    ...     "!number format := short float\\n!number of bytes per pixel := 4\\n"
    ...     "imagedata byte order := LITTLEENDIAN\\n!matrix size [1] := 4\\n"
    ...     "!matrix size [2] := 3\\n!total number of images := 2\\n"
    ...     "scaling factor (mm/pixel) [1] := 3.2\\n!END OF INTERFILE :=\\n"
    ... )
    >>> data, info = load_interfile(folder / "image.h33")
    >>> data.shape, info["kind"]
    ((2, 3, 4), 'image')
    """
    header_path = as_path(header_path, "header_path")
    existing_file(header_path, "Interfile header")
    keys = _parse_interfile_header(header_path)

    data_name = keys.get("name of data file", "")
    if not data_name:
        raise ValueError(
            f"Interfile header {str(header_path)!r} is missing the key 'name of data file'"
        )
    data_path = Path(data_name)

    dtype, byte_order = _interfile_dtype(header_path, keys)
    cols = _interfile_value(header_path, keys, ["matrix size [1]"], kind=int, required=True)
    rows = _interfile_value(header_path, keys, ["matrix size [2]"], kind=int, required=True)
    n_images = _interfile_value(
        header_path,
        keys,
        [
            "matrix size [3]",
            "total number of images",
            "number of images",
            "number of projections",
            "number of images/energy window",
        ],
        kind=int,
        required=False,
    )
    n_images = 1 if n_images is None else n_images
    shape = (n_images, rows, cols)
    if any(n <= 0 for n in shape):
        raise ValueError(
            f"Interfile header {str(header_path)!r}: matrix sizes must be positive, "
            f"got (images, rows, cols) = {shape}"
        )
    offset = _interfile_value(
        header_path,
        keys,
        ["data offset in bytes", "data offset in bytes [1]"],
        kind=int,
        required=False,
    )
    if offset is None:
        block = _interfile_value(
            header_path, keys, ["data starting block"], kind=int, required=False
        )
        offset = 2048 * block if block is not None else 0
    if offset < 0:
        raise ValueError(
            f"Interfile header {str(header_path)!r}: data offset must be >= 0 bytes, got {offset}"
        )

    kind = _interfile_kind(keys)
    size_1 = _interfile_value(
        header_path, keys, ["scaling factor (mm/pixel) [1]"], kind=float, required=False
    )
    size_2 = _interfile_value(
        header_path, keys, ["scaling factor (mm/pixel) [2]"], kind=float, required=False
    )
    size_3 = None
    if kind == "image":
        size_3 = _interfile_value(
            header_path, keys, ["scaling factor (mm/pixel) [3]"], kind=float, required=False
        )
        thickness = _interfile_value(
            header_path, keys, ["slice thickness (pixels)"], kind=float, required=False
        )
        if size_3 is None and thickness is not None and size_1 is not None:
            size_3 = thickness * size_1
    for axis, size in (("[1]", size_1), ("[2]", size_2), ("[3]", size_3)):
        if size is not None and size <= 0:
            raise ValueError(
                f"Interfile header {str(header_path)!r}: scaling factor (mm/pixel) {axis} must "
                f"be a pixel size > 0 mm, got {size!r}"
            )

    count = element_count(shape)  # Python ints: a product of huge sizes cannot wrap around
    check_allocation(
        f"Interfile header {str(header_path)!r} (shape {shape}, {dtype.str})",
        count,
        max(dtype.itemsize, 4),
    )
    needed = offset + count * dtype.itemsize
    try:
        data_path = check_data_file(
            data_path, header_path=header_path, needed_bytes=needed, allow_outside=allow_outside
        )
    except ValueError as error:
        raise ValueError(
            f"{error} (offset {offset} + {count} x {dtype.itemsize} bytes = {needed} bytes; "
            f"shape {shape}, {dtype.str})"
        ) from None
    data = np.fromfile(data_path, dtype=dtype, count=count, offset=offset).reshape(shape)
    check_finite(
        data, f"data file {str(data_path)!r} (from Interfile header {str(header_path)!r})"
    )
    metadata = {
        "data_file": data_path,
        "shape": shape,
        "dtype": dtype.str,
        "number_format": keys["number format"].strip().lower(),
        "byte_order": byte_order,
        "offset_bytes": offset,
        "pixel_size_mm": (size_3, size_2, size_1),
        "kind": kind,
        "raw": dict(keys),
    }
    return data.astype(np.float32), metadata
