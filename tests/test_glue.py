"""The package's glue helper: myst-nb when installed, a quiet fallback (Colab) when not."""

from __future__ import annotations

import sys

import pytest

from spect_tutorial.glue import glue, has_myst_nb


def test_glue_falls_back_without_myst_nb(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # what `import myst_nb` meets on Colab
    assert not has_myst_nb()
    glue("value", 1.5)  # nothing to record, nothing shown
    glue("shown", 2.5, display=True)
    assert "2.5" in capsys.readouterr().out


def test_glue_uses_myst_nb_when_installed():
    pytest.importorskip("myst_nb")
    assert has_myst_nb()
    glue("value", 1.5)


def test_glue_checks_its_name():
    with pytest.raises(ValueError, match="name"):
        glue("", 1.0)
