"""Name a value for the book's text, with or without myst-nb.

The built book pastes values computed in a chapter into its prose with myst-nb's
``{glue:text}`` role, which needs ``myst_nb.glue`` in the notebook. Google Colab has no
myst-nb (and the chapters install this package there with ``--no-deps``), so chapters
call this helper instead: it uses myst-nb when it is installed and otherwise only
displays the value when asked, so the same notebook runs in both places.

Examples
--------
>>> from spect_tutorial.glue import glue
>>> glue("n_phantoms", 6)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue", "has_myst_nb"]


def has_myst_nb() -> bool:
    """True when myst-nb is importable (the book build), False on e.g. Colab."""
    try:
        import myst_nb  # noqa: F401
    except ImportError:
        return False
    return True


def glue(name: str, value: Any, *, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the book's ``{glue}`` roles.

    Parameters
    ----------
    name : str
        Name the book's text refers to.
    value : object
        The value (a plain float, str, figure, ...).
    display : bool, optional
        Also show the value in the notebook (myst-nb's meaning).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if has_myst_nb():
        from myst_nb import glue as myst_glue

        myst_glue(name, value, display=display)
    elif display:
        from IPython.display import display as show

        show(value)
