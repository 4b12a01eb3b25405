"""Private file helpers: atomic writes, owned-file checks, locks, JSON and SHA-256.

The one place where the package writes files. Rules every writer follows:

* a file is written to a temporary name in the destination folder, flushed and
  ``fsync``-ed, then moved into place with :func:`os.replace`: a reader never sees
  half a file and an interrupted write leaves the old file untouched
  (:func:`write_file_atomically`);
* an existing file is replaced only when asked (``overwrite=True``) and, for
  files the package regenerates on every run, only when it is recognisably one
  of ours (:func:`replace_own_file`); a user's file of the same name is refused;
* two files that belong together (weights and their manifest) are swapped
  together: both are written to temporary names first, and a failure leaves the
  old pair intact (:func:`replace_files_together`);
* a command that appends to a file holds a lock file beside it
  (:class:`FileLock`), so two runs never interleave their records.

Nothing here imports numpy at module level beyond what JSON conversion needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "FileLock",
    "canonical_json",
    "json_ready",
    "move_files_together",
    "plain_json",
    "refuse_existing",
    "replace_files_together",
    "replace_own_file",
    "sha256_arrays",
    "sha256_bytes",
    "sha256_file",
    "write_file_atomically",
    "write_json",
    "write_temporary",
]

_CHUNK_BYTES = 1 << 20


# ---------------------------------------------------------------------------
# JSON and hashes
# ---------------------------------------------------------------------------


def json_ready(value: Any) -> Any:
    """``json.dumps`` ``default=``: numpy scalars and arrays as Python numbers and lists."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def plain_json(value: Any, *, finite: bool = False) -> Any:
    """``value`` with JSON's types only: str keys, lists for tuples, numbers for numpy scalars.

    With ``finite=True`` a NaN or infinite float becomes ``None`` (JSON ``null``).
    """
    if isinstance(value, Mapping):
        return {str(key): plain_json(item, finite=finite) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item, finite=finite) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return plain_json(value.tolist(), finite=finite)
    if finite and isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def canonical_json(data: Any, *, what: str, indent: int | None = None) -> str:
    """JSON with sorted keys and finite numbers only (``ValueError`` naming ``what``)."""
    try:
        return json.dumps(
            data,
            sort_keys=True,
            indent=indent,
            separators=(",", ":") if indent is None else None,
            ensure_ascii=False,
            allow_nan=False,
            default=json_ready,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{what} must be JSON-serialisable (str keys; numbers, strings, booleans, None, "
            f"lists and dicts; finite floats), got an error: {exc}"
        ) from None


def sha256_bytes(data: bytes) -> str:
    """SHA-256 (lowercase hex) of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_arrays(
    arrays: Iterable[Any], *, shapes: bool = True, extra: Iterable[bytes] = ()
) -> str:
    """SHA-256 of arrays' C-order bytes (each preceded by ``str(shape)``), then ``extra``."""
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        if shapes:
            digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    for data in extra:
        digest.update(data)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 (lowercase hex) of a regular file's bytes, read in 1 MiB chunks.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a regular file.
    """
    from ._validation import existing_file

    existing_file(Path(path), "file")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------


def refuse_existing(*paths: Path) -> None:
    """Raise ``FileExistsError`` for the first of ``paths`` that exists (not to be overwritten)."""
    for path in paths:
        if path.exists():
            message = f"{str(path)!r} already exists; pass overwrite=True to replace it"
            raise FileExistsError(message)


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def write_temporary(path: Path, write: Callable[[BinaryIO], None] | bytes) -> Path:
    """Write ``write`` (bytes, or a function given the open file) to a synced temporary file.

    The temporary file ``.<name>.<hex>.tmp`` lies beside ``path`` (same file
    system, so :func:`os.replace` onto ``path`` is atomic); it is removed if
    writing fails.
    """
    temporary = _temporary_name(path)
    try:
        with open(temporary, "xb") as handle:
            if isinstance(write, bytes | bytearray):
                handle.write(write)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return temporary


def _check_destination(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise ValueError(f"{str(path)!r} exists and is not a regular file; it was not replaced")


def write_file_atomically(
    path: str | os.PathLike[str],
    write: Callable[[BinaryIO], None] | bytes,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a file through a temporary file in the same folder and :func:`os.replace`.

    A reader never sees half a file, an interrupted write leaves the old file
    untouched, and an existing file is only replaced with ``overwrite=True``.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. Missing parent folders are created.
    write : callable or bytes
        The content, or a function called with the open binary temporary file
        that writes it.
    overwrite : bool, optional
        Replace an existing file. Default ``False``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is ``False``.
    ValueError
        If ``path`` is a folder or another non-regular file.
    """
    path = Path(path)
    _check_destination(path)
    if not overwrite:
        refuse_existing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = write_temporary(path, write)
    try:
        if not overwrite:  # appeared while we were writing?
            refuse_existing(path)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def write_json(
    path: str | os.PathLike[str],
    value: Any,
    *,
    indent: int = 2,
    sort_keys: bool = False,
    allow_nan: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write ``json.dumps(value, ...)`` plus a newline as UTF-8, atomically.

    Numpy scalars and arrays are written as numbers and lists (:func:`json_ready`).
    See :func:`write_file_atomically` for ``overwrite`` and the errors.
    """
    text = json.dumps(
        value, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan, default=json_ready
    )
    return write_file_atomically(path, (text + "\n").encode("utf-8"), overwrite=overwrite)


def replace_own_file(
    path: str | os.PathLike[str],
    content: bytes,
    *,
    is_ours: Callable[[bytes], bool],
    what: str,
) -> Path:
    """Write ``content`` atomically, replacing an existing file only if it is ours.

    For derived files the package rewrites on every run (a benchmark summary):
    a file of the same name that ``is_ours`` does not recognise (a user's notes)
    is never replaced.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    content : bytes
        The new content.
    is_ours : callable
        Given the existing file's bytes, says whether the package wrote it.
    what : str
        What the file is, for the error message.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``is_ours`` does not recognise it.
    """
    path = Path(path)
    _check_destination(path)
    if path.exists():
        with open(path, "rb") as handle:
            head = handle.read(_CHUNK_BYTES)
        if not is_ours(head):
            raise FileExistsError(
                f"{what} {str(path)!r} exists and was not written by spect_tutorial; it was "
                "not replaced. Move it away or choose another output folder."
            )
    return write_file_atomically(path, content, overwrite=True)


def move_files_together(moves: Mapping[Path, Path]) -> None:
    """Move written temporary files onto their destinations together (all or none).

    Each existing destination is first renamed to a backup, then each temporary
    file moved into place, then the backups are deleted. If anything fails, the
    files moved so far are removed and the backups restored, so the old set
    stays intact (short of a crash between the renames, after which the
    backups ``.<name>.<hex>.bak`` remain beside the files). The temporary
    files are removed in every case.

    Parameters
    ----------
    moves : mapping of pathlib.Path to pathlib.Path
        Destination -> temporary file in the same folder.
    """
    backups: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for path in moves:
            _check_destination(path)
        for path in moves:
            if path.exists():
                backup = path.with_name(f".{path.name}.{uuid.uuid4().hex}.bak")
                os.replace(path, backup)
                backups[path] = backup
        for path, temporary in moves.items():
            os.replace(temporary, path)
            placed.append(path)
    except BaseException:
        for path in placed:
            with contextlib.suppress(OSError):
                path.unlink()
        for path, backup in backups.items():
            with contextlib.suppress(OSError):
                os.replace(backup, path)
        raise
    finally:
        for temporary in moves.values():
            with contextlib.suppress(OSError):
                temporary.unlink()
    for backup in backups.values():
        with contextlib.suppress(OSError):
            backup.unlink()


def replace_files_together(files: Mapping[Path, Callable[[BinaryIO], None] | bytes]) -> None:
    """Write several files and move them into place together (all or none).

    Every file is first written to a synced temporary name in its folder, then
    :func:`move_files_together` swaps them in.

    Parameters
    ----------
    files : mapping of pathlib.Path to callable or bytes
        Destination -> content (as for :func:`write_file_atomically`).
    """
    temporaries: dict[Path, Path] = {}
    try:
        for path, write in files.items():
            _check_destination(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporaries[path] = write_temporary(path, write)
    except BaseException:
        for temporary in temporaries.values():
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise
    move_files_together(temporaries)


# ---------------------------------------------------------------------------
# Lock files
# ---------------------------------------------------------------------------


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileLock:
    """An exclusive lock file ``<path>.lock`` held while a command writes ``path``.

    The lock file holds the owner's process id. A lock left behind by a process
    that no longer runs (killed with ``kill -9``) is taken over; a live one makes
    :meth:`acquire` raise :class:`RuntimeError`, naming the file and the process.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
    >>> with FileLock(path):
    ...     _ = path.write_text("")
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._held = False

    def acquire(self) -> None:
        """Take the lock or raise ``RuntimeError`` if another live process holds it."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                descriptor = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    owner = int(self.lock_path.read_text(encoding="ascii").strip() or "0")
                except (OSError, ValueError):
                    owner = 0
                if owner and _process_alive(owner):
                    raise RuntimeError(
                        f"{str(self.path)!r} is being written by another run (process {owner}, "
                        f"lock file {str(self.lock_path)!r}); wait for it to finish"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    self.lock_path.unlink()  # stale: its process is gone
                continue
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid()}\n")
            self._held = True
            return
        raise RuntimeError(f"could not take the lock file {str(self.lock_path)!r}")

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self._held:
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
            self._held = False

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
