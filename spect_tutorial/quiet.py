"""Import TensorFlow and Keras without their start-up log in a reader's output.

TensorFlow 2.21 writes ``WARNING: All log messages before absl::InitializeLog() is
called are written to STDERR`` and ``oneDNN custom operations are on ...`` to the
process's file descriptor 2 while its shared libraries load, whatever
``TF_CPP_MIN_LOG_LEVEL`` says (that variable only applies once absl's logging is set
up). In a notebook these lines become a red stderr output above the chapter's
figure. Every module of the package that needs TensorFlow imports it through
:func:`import_quietly`, which sets the documented variables first and then holds
file descriptor 2 in a temporary file during the import, passing on every line that
is not one of the known start-up messages (so a real error still shows).

Examples
--------
>>> keras = import_quietly("keras")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

__all__ = ["TENSORFLOW_STARTUP_NOISE", "import_quietly", "is_startup_noise"]

#: Fragments of the lines TensorFlow prints while it loads (informational only).
TENSORFLOW_STARTUP_NOISE = (
    "All log messages before absl::InitializeLog()",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "Unable to register cuDNN factory",
    "Unable to register cuBLAS factory",
    "Unable to register cuFFT factory",
    "computation placer already registered",
    "Could not find cuda drivers",
    "TF-TRT Warning",
)


def is_startup_noise(line: str) -> bool:
    """True when ``line`` is one of TensorFlow's informational start-up messages."""
    return any(fragment in line for fragment in TENSORFLOW_STARTUP_NOISE)


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    """Hold file descriptor 2 in a temporary file; replay its lines that are not noise."""
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(original, 2)
            os.close(original)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(True) if not is_startup_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_quietly(name: str) -> ModuleType:
    """Import ``name`` (``"keras"`` or ``"tensorflow"``) without TensorFlow's start-up log.

    Parameters
    ----------
    name : str
        Module to import.

    Returns
    -------
    module
        The imported module (from ``sys.modules`` when it is already loaded).
    """
    if name in sys.modules:
        return sys.modules[name]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _filtered_stderr():
        return importlib.import_module(name)
