"""Private validation helpers: size budgets, untrusted files, numbers.

The one place where the package decides whether an input may cost memory or be
read. Rules:

* **Sizes before allocations.** Every size derived from an input (a phantom
  grid, a number of realizations, a profile's length, a Gaussian kernel, an
  array declared in a file) is computed with Python integers (no wraparound)
  and compared with one budget, :func:`max_array_bytes` (default 4 GiB per
  array, environment variable ``SPECT_TUTORIAL_MAX_ARRAY_BYTES``), by
  :func:`check_allocation`, before anything is allocated. The error names the
  input, the size and the limit.
* **Untrusted files before their payload.** ``.npz`` archives are opened as zip
  files and each member's ``.npy`` header is read with numpy's header readers
  (:func:`inspect_npz`): names, dtypes (never object, so never pickle), shapes
  and declared sizes are checked before anything is decompressed. Raw data
  files named by a header (Interfile) must be regular files inside the
  header's folder and as large as the header says (:func:`check_data_file`).
  JSON is parsed with a nesting-depth limit and without NaN or infinity
  (:func:`load_json`); every error names the file.
* **Numbers are numbers.** :func:`real_number` refuses strings and booleans
  (``"6.4"`` or ``True`` is not a voxel size).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import zipfile
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_ARRAY_BYTES_ENV",
    "MAX_JSON_DEPTH",
    "NpyMember",
    "as_path",
    "check_allocation",
    "check_count_levels",
    "check_data_file",
    "check_fields",
    "check_finite",
    "check_seed",
    "choice",
    "element_count",
    "existing_file",
    "format_bytes",
    "increasing_pair",
    "inspect_npz",
    "int_tuple",
    "integer",
    "is_finite_number",
    "load_json",
    "max_array_bytes",
    "no_repeats",
    "number_sequence",
    "random_generator",
    "real_array",
    "real_number",
    "volume",
]

#: Environment variable that changes the per-array memory budget (bytes).
MAX_ARRAY_BYTES_ENV = "SPECT_TUTORIAL_MAX_ARRAY_BYTES"
_DEFAULT_MAX_ARRAY_BYTES = 4 << 30
#: Deepest nesting of lists and objects accepted in a JSON file.
MAX_JSON_DEPTH = 64
_MAX_NPY_HEADER_BYTES = 10_000


# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------


def format_bytes(n_bytes: int) -> str:
    """``n_bytes`` in B, KiB, MiB, GiB, TiB or PiB (1 decimal) plus the exact count."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            text = f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return text if unit == "B" else f"{text} ({n_bytes} bytes)"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def max_array_bytes() -> int:
    """The per-array memory budget in bytes (``$SPECT_TUTORIAL_MAX_ARRAY_BYTES`` or 4 GiB)."""
    text = os.environ.get(MAX_ARRAY_BYTES_ENV, "").strip()
    if not text:
        return _DEFAULT_MAX_ARRAY_BYTES
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"environment variable {MAX_ARRAY_BYTES_ENV} must be a whole number of bytes, "
            f"got {text!r}"
        ) from None
    if value < 1:
        raise ValueError(f"environment variable {MAX_ARRAY_BYTES_ENV} must be >= 1, got {value}")
    return value


def element_count(shape: Iterable[Any]) -> int:
    """The product of ``shape`` as a Python int (never wraps around)."""
    count = 1
    for n in shape:
        count *= int(n)
    return count


def check_allocation(
    what: str, shape: Iterable[Any] | int, itemsize: int = 4, *, copies: int = 1
) -> int:
    """Refuse an allocation above the budget before it is made.

    Parameters
    ----------
    what : str
        The input responsible, as the user wrote it (e.g. ``"shape (4096, 4096,
        4096)"`` or ``"n_realizations=1000000"``).
    shape : iterable of int or int
        The array shape, or an element count.
    itemsize : int, optional
        Bytes per element (4 for float32, 8 for float64).
    copies : int, optional
        How many arrays of that size the operation holds at once.

    Returns
    -------
    int
        The number of bytes needed.

    Raises
    ------
    ValueError
        If the bytes needed exceed :func:`max_array_bytes`; the message names
        ``what``, the size and the limit.
    """
    count = int(shape) if isinstance(shape, numbers.Integral) else element_count(shape)
    needed = count * int(itemsize) * int(copies)
    limit = max_array_bytes()
    if needed > limit:
        raise ValueError(
            f"{what} would need {format_bytes(needed)} of memory ({count} elements x "
            f"{itemsize} bytes{f' x {copies} arrays' if copies != 1 else ''}), more than the "
            f"limit of {format_bytes(limit)}; use a smaller input or raise the limit with "
            f"the environment variable {MAX_ARRAY_BYTES_ENV}"
        )
    return needed


# ---------------------------------------------------------------------------
# Numbers and arrays
# ---------------------------------------------------------------------------


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a real, finite number (not a bool, a string or None)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def real_number(
    value: Any,
    name: str,
    *,
    unit: str = "",
    minimum: float | None = None,
    strict_minimum: bool = False,
    maximum: float | None = None,
    strict_maximum: bool = False,
) -> float:
    """``value`` as a finite float; strings and booleans are refused.

    Raises
    ------
    ValueError
        Naming ``name``, the value received and the valid range (``> 0``,
        ``(0, 1]``, ...).
    """
    if minimum is not None and maximum is not None:  # an interval: "in (0, 360] degrees"
        wanted = f"a finite number in {'(' if strict_minimum else '['}{minimum:g}, {maximum:g}"
        wanted += f"{')' if strict_maximum else ']'}{f' {unit}' if unit else ''}"
    else:
        wanted = f"a finite number{f' of {unit}' if unit else ''}"
        if minimum is not None:
            wanted += f" {'>' if strict_minimum else '>='} {minimum:g}"
        elif maximum is not None:
            wanted += f" {'<' if strict_maximum else '<='} {maximum:g}"
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()  # a 0-d numeric array is a number
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")
    number = float(value)
    below = minimum is not None and (number <= minimum if strict_minimum else number < minimum)
    above = maximum is not None and (number >= maximum if strict_maximum else number > maximum)
    if not math.isfinite(number) or below or above:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return number


def integer(
    value: Any,
    name: str,
    *,
    minimum: int | None = 1,
    maximum: int | None = None,
    unit: str = "",
    whole_floats: bool = False,
    none_ok: bool = False,
    odd: bool = False,
) -> Any:
    """``value`` as a Python int in ``minimum..maximum`` (``None``: unbounded).

    Booleans and strings are refused; ``unit`` says what the integer is
    (``"spline order"``); ``whole_floats`` accepts ``128.0``; ``none_ok``
    returns ``None`` for ``None``; ``odd`` refuses even numbers (a kernel or
    a slice stack with a centre). The ``ValueError`` names ``name``, the value
    and the valid range.
    """
    if value is None and none_ok:
        return None
    valid = f"{'an odd' if odd else 'an'} integer{f' {unit}' if unit else ''}"
    if minimum is not None and maximum is not None:
        valid += f" in {minimum}..{maximum}"
    elif minimum is not None:
        valid += f" >= {minimum}"
    valid += " or None" if none_ok else ""
    number: Any = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    if whole_floats and isinstance(number, numbers.Real) and not isinstance(number, bool):
        if math.isfinite(number) and int(number) == number:
            number = int(number)
    if (
        isinstance(number, bool | np.bool_)
        or not isinstance(number, numbers.Integral)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
        or (odd and number % 2 == 0)
    ):
        raise ValueError(f"{name} must be {valid}, got {value!r}")
    return int(number)


def check_seed(seed: Any, name: str = "seed", *, generators: bool = False) -> Any:
    """A random seed: an integer >= 0, returned as a Python int.

    With ``generators=True``, ``None``, a :class:`numpy.random.SeedSequence` and a
    :class:`numpy.random.Generator` are accepted too and returned unchanged.
    """
    if generators:
        if seed is None or isinstance(seed, np.random.SeedSequence | np.random.Generator):
            return seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(
                f"{name} must be an int >= 0, a numpy.random.SeedSequence, a "
                f"numpy.random.Generator or None, got {seed!r}"
            )
    return integer(seed, name, minimum=0)


def random_generator(seed: Any) -> np.random.Generator:
    """``numpy.random.default_rng`` of a seed checked by :func:`check_seed` (generators too)."""
    return np.random.default_rng(check_seed(seed, generators=True))


def int_tuple(
    value: Any,
    name: str,
    length: int,
    *,
    minimum: int = 1,
    what: str = "",
    whole_floats: bool = False,
    itemwise: bool = False,
) -> tuple[int, ...]:
    """``length`` integers ``>= minimum`` (a shape, a crop size) as a tuple of ints.

    ``what`` says what the items are (``"(nz, ny, nx)"``) in the message; with
    ``itemwise`` a bad item is named by its index (``"crop_px[1]"``).
    """
    words = {2: "two", 3: "three"}.get(length, str(length))
    kind = "positive integers" if minimum == 1 else f"integers >= {minimum}"
    message = f"{name} must be {words} {kind}{f' {what}' if what else ''}, got {value!r}"
    if isinstance(value, str | bytes):
        raise ValueError(message)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(message) from None
    if len(items) != length:
        raise ValueError(message)
    if itemwise:
        return tuple(
            integer(item, f"{name}[{i}]", minimum=minimum, whole_floats=whole_floats)
            for i, item in enumerate(items)
        )
    try:
        return tuple(
            integer(item, name, minimum=minimum, whole_floats=whole_floats) for item in items
        )
    except ValueError:
        raise ValueError(message) from None


def increasing_pair(
    value: Any, name: str, *, labels: tuple[str, str] = ("base", "apex"), unit: str = "mm"
) -> tuple[float, float]:
    """Two finite numbers ``(low, high)`` with ``low < high`` (``labels`` name them)."""
    low, high = labels
    try:
        first, second = (float(item) for item in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be two numbers ({low}, {high}) in {unit}, got {value!r}"
        ) from None
    if not (math.isfinite(first) and math.isfinite(second) and first < second):
        raise ValueError(
            f"{name} must be finite ({low}, {high}) in {unit} with {low} < {high}, "
            f"got ({first:.4g}, {second:.4g})"
        )
    return first, second


def choice(value: Any, name: str, options: Iterable[Any]) -> Any:
    """``value`` if it is one of ``options``; the message lists them."""
    options = tuple(options)
    if not isinstance(value, Hashable) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def as_path(value: Any, name: str) -> Path:
    """A ``str`` or ``os.PathLike`` as an expanded :class:`pathlib.Path`."""
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"{name} must be a str or os.PathLike, got {type(value).__name__}")
    return Path(value).expanduser()


def existing_file(path: Path, what: str) -> Path:
    """``path`` if it is an existing regular file (``FileNotFoundError`` or ``ValueError``)."""
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} is not a regular file")
    return path


def real_array(
    values: Any,
    name: str,
    *,
    dtype: Any = np.float64,
    ndim: int | None = None,
    axes: str = "",
    unit: str = "",
    bool_ok: bool = True,
    finite: bool = True,
    non_negative: bool = False,
    non_empty: bool = False,
    noun: str = "value(s)",
) -> np.ndarray:
    """An array of real numbers, checked, then cast to ``dtype`` (``None``: kept).

    Options: ``ndim`` (with ``axes`` naming the axes, ``"(z, y, x)"``), ``unit``
    (for the messages), ``bool_ok`` (booleans read as 0/1), ``finite`` (refuse
    NaN and infinity; ``noun`` counts them, ``"voxels"``), ``non_negative``,
    ``non_empty``. Every ``ValueError`` names ``name`` and what was found.
    """
    array = np.asarray(values)
    in_unit = f" ({unit})" if unit else ""
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array{f' {axes}' if axes else ''}, got shape {array.shape}"
        )
    if array.dtype.kind not in ("iuf" + ("b" if bool_ok else "")):
        raise ValueError(f"{name} must hold real numbers{in_unit}, got dtype {array.dtype}")
    if non_empty and 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if finite:
        check_finite(array, name, noun=noun)
    if non_negative and array.size and float(array.min()) < 0:
        raise ValueError(
            f"{name} must be >= 0 {f'({unit})' if unit else 'everywhere'}, got a minimum of "
            f"{float(array.min()):.4g}"
        )
    return array


def check_fields(
    instance: Any,
    names: Iterable[str],
    check: Any = real_number,
    *,
    prefix: str = "",
    **options: Any,
) -> None:
    """Check the fields ``names`` of a dataclass instance with ``check`` (``real_number``).

    A tuple field is checked item by item with :func:`number_sequence`. The
    message names ``prefix`` + the field (``"uptake liver"``).
    """
    for name in names:
        value = getattr(instance, name)
        if isinstance(value, tuple):
            number_sequence(value, prefix + name, **options)
        else:
            check(value, prefix + name, **options)


def volume(
    values: Any,
    name: str = "volume",
    *,
    dtype: Any = np.float64,
    non_negative: bool = False,
    bool_ok: bool = False,
    noun: str = "voxels",
) -> np.ndarray:
    """A 3-D ``(z, y, x)`` array of finite real numbers (see :func:`real_array`)."""
    return real_array(
        values,
        name,
        dtype=dtype,
        ndim=3,
        axes="(z, y, x)",
        bool_ok=bool_ok,
        non_negative=non_negative,
        noun=noun,
    )


def number_sequence(
    values: Any, name: str, *, unit: str = "", distinct: bool = False, **bounds: Any
) -> tuple[float, ...]:
    """A non-empty sequence of finite numbers (not a string), each checked by :func:`real_number`.

    Raises
    ------
    ValueError
        If ``values`` is a string, not iterable or empty, an element is not a
        number in range (the message names ``name[i]``), or, with ``distinct``,
        a value repeats.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(
            f"{name} must be a sequence of numbers{f' ({unit})' if unit else ''}, got {values!r}"
        )
    items = list(values)
    if not items:
        raise ValueError(f"{name} must hold at least one value, got {values!r}")
    numbers_ = tuple(
        real_number(item, f"{name}[{index}]", unit=unit, **bounds)
        for index, item in enumerate(items)
    )
    if distinct and len(set(numbers_)) != len(numbers_):
        raise ValueError(f"{name} must not repeat a value, got {items!r}")
    return numbers_


def no_repeats(values: Sequence[Any], name: str) -> None:
    """Raise ``ValueError`` naming ``name`` and the values that occur more than once."""
    repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
    if repeated:
        raise ValueError(f"{name} must not repeat a value, got {repeated} more than once")


def check_count_levels(
    values: Any, name: str = "count_levels", *, distinct: bool = True
) -> tuple[float, ...]:
    """Count levels in percent, each a finite number > 0 (and, by default, distinct)."""
    return number_sequence(
        values, name, unit="percent", minimum=0.0, strict_minimum=True, distinct=distinct
    )


def check_finite(array: np.ndarray, name: str, *, noun: str = "value(s)") -> np.ndarray:
    """Refuse NaN or infinite values, naming ``name`` and how many (``noun``) there are."""
    if array.dtype.kind in "fc":
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ValueError(f"{name} holds {bad} NaN or infinite {noun}; values must be finite")
    return array


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(r"[\[\]{}]")


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"non-finite number {constant} is not allowed")


def json_depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` in JSON text (strings ignored)."""
    depth = deepest = 0
    for match in _JSON_BRACKETS.finditer(_JSON_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(text: str | bytes, *, where: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse untrusted JSON: nesting at most ``max_depth`` deep, no NaN or infinity.

    Parameters
    ----------
    text : str or bytes
        The JSON text (bytes are decoded as UTF-8).
    where : str
        What is parsed (e.g. ``"manifest '/path/x.json'"``), for error messages.
    max_depth : int, optional
        Deepest nesting of lists and objects allowed (default 64).

    Raises
    ------
    ValueError
        If the text is not UTF-8 JSON, nests deeper than ``max_depth`` or holds
        NaN or infinity; the message starts with ``where``.
    """
    try:
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8")
        depth = json_depth(text)
        if depth > max_depth:
            raise ValueError(
                f"it nests lists or objects {depth} levels deep, more than the limit of "
                f"{max_depth}"
            )
        return json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{where} is unreadable (corrupt or not JSON): {error}") from None


# ---------------------------------------------------------------------------
# .npz archives
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NpyMember:
    """What one ``.npy`` member of an ``.npz`` archive declares in its header."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_bytes: int


def _read_npy_header(handle: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle, max_header_size=_MAX_NPY_HEADER_BYTES)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle, max_header_size=_MAX_NPY_HEADER_BYTES)
    raise ValueError(f"unsupported .npy format version {version}")


def inspect_npz(path: Path, *, max_members: int = 256) -> dict[str, NpyMember]:
    """Read the headers of every array in an ``.npz`` without decompressing the arrays.

    Parameters
    ----------
    path : pathlib.Path
        The archive.
    max_members : int, optional
        Most members accepted.

    Returns
    -------
    dict of str to NpyMember
        Member name (without ``.npy``) -> declared shape, dtype and data bytes.

    Raises
    ------
    ValueError
        If the file is not a zip archive, a member is not a ``.npy`` array,
        holds objects (pickle), declares a size above :func:`max_array_bytes`
        or a size its zip entry cannot hold; the message names the file and
        the member.
    """
    where = f"{str(path)!r}"
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{where} is not an .npz (zip) archive: {error}") from None
    members: dict[str, NpyMember] = {}
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ValueError(f"{where} holds {len(infos)} entries, more than {max_members}")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{where}: entry {info.filename!r} is not a .npy array")
            name = info.filename[: -len(".npy")]
            try:
                with archive.open(info) as handle:
                    shape, fortran, dtype = _read_npy_header(handle)
                    header_bytes = handle.tell()
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError) as error:
                raise ValueError(
                    f"{where}: entry {info.filename!r} has no readable .npy header: {error}"
                ) from None
            if dtype.hasobject:
                raise ValueError(
                    f"{where}: entry {info.filename!r} holds Python objects (dtype {dtype}), "
                    "which would need pickle; refused"
                )
            data_bytes = element_count(shape) * dtype.itemsize
            check_allocation(
                f"{where}: entry {info.filename!r} (shape {tuple(shape)}, {dtype.str})",
                shape,
                dtype.itemsize,
            )
            if info.file_size != header_bytes + data_bytes:
                raise ValueError(
                    f"{where}: entry {info.filename!r} declares shape {tuple(shape)} of "
                    f"{dtype.str} ({data_bytes} bytes) but its zip entry holds "
                    f"{info.file_size - header_bytes} data bytes; the file is damaged"
                )
            members[name] = NpyMember(name, tuple(shape), dtype, fortran, data_bytes)
    return members


# ---------------------------------------------------------------------------
# Data files named by a header
# ---------------------------------------------------------------------------


def check_data_file(
    data_path: Path,
    *,
    header_path: Path,
    needed_bytes: int,
    allow_outside: bool = False,
) -> Path:
    """Resolve and check a data file named inside a header before reading it.

    Parameters
    ----------
    data_path : pathlib.Path
        The data file as the header names it (relative to the header's folder
        unless absolute).
    header_path : pathlib.Path
        The header.
    needed_bytes : int
        Bytes the header says the data take (offset included).
    allow_outside : bool, optional
        Accept a data file outside the header's folder (an absolute path or
        ``..``). Default ``False``.

    Returns
    -------
    pathlib.Path
        The resolved data file.

    Raises
    ------
    FileNotFoundError
        If the data file does not exist.
    ValueError
        If it lies outside the header's folder (without ``allow_outside``), is
        not a regular file (a folder, a FIFO, a device) or is shorter than
        ``needed_bytes``.
    """
    folder = header_path.resolve().parent
    if not data_path.is_absolute():
        data_path = folder / data_path
    resolved = data_path.resolve()
    named = f"data file {str(resolved)!r} named in header {str(header_path)!r}"
    if not allow_outside and not resolved.is_relative_to(folder):
        raise ValueError(
            f"{named} lies outside the header's folder {str(folder)!r}; pass "
            "allow_outside=True to read it anyway"
        )
    if not resolved.exists():
        raise FileNotFoundError(f"{named} does not exist")
    if not resolved.is_file():
        raise ValueError(f"{named} is not a regular file (a folder, FIFO or device?)")
    actual = resolved.stat().st_size
    if actual < needed_bytes:
        raise ValueError(
            f"{named} has {actual} bytes, too short for the {needed_bytes} bytes the header "
            "declares"
        )
    return resolved
