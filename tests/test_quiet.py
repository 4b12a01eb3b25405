"""TensorFlow's start-up log never reaches a reader: the package imports it quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What TensorFlow 2.21 prints on import when nothing filters it.
_NOISE = ("absl", "oneDNN", "WARNING:", "cpu_feature_guard")

#: Every module of the package that imports TensorFlow or Keras.
_TF_MODULES = ("model", "training", "inference", "weights", "train")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_importing_the_tensorflow_modules_prints_no_startup_log():
    imports = "; ".join(f"import spect_tutorial.{name}" for name in _TF_MODULES)
    code = (
        f"{imports}\n"
        "from spect_tutorial.weights import DEFAULT_MODEL, load_pretrained\n"
        "load_pretrained(DEFAULT_MODEL)\n"
        "import keras, tensorflow\n"
        "print('imported', keras.__version__)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout
    noisy = [line for line in result.stderr.splitlines() if any(n in line for n in _NOISE)]
    assert noisy == [], f"TensorFlow's start-up log leaked: {noisy}"


def test_other_stderr_lines_still_pass_through(tmp_path):
    # A module that writes to file descriptor 2 while it is imported: its real message
    # must survive the filter, the start-up line must not.
    (tmp_path / "loud_module.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called\\n')\n"
        "os.write(2, b'a real problem\\n')\n"
    )
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from spect_tutorial.quiet import import_quietly\n"
        "import_quietly('loud_module')\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert "a real problem" in result.stderr
    assert "absl" not in result.stderr
