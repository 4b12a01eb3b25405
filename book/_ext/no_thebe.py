"""Sphinx extension: leave sphinx-thebe's scripts out of every page.

Jupyter Book 1 always loads sphinx-thebe, which writes ``const THEBE_JS_URL = ...``
into each page as an inline script; pages that end up with that declaration twice
log ``Identifier 'THEBE_JS_URL' has already been declared``. This book launches
live notebooks on Colab and Binder, never Thebe, so the scripts are dropped.
"""

from __future__ import annotations

from typing import Any


def _is_thebe(script: Any) -> bool:
    body = getattr(script, "attributes", {}).get("body", "") or ""
    return "THEBE_JS_URL" in body or "sphinx-thebe" in str(getattr(script, "filename", script))


def _drop_thebe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [script for script in scripts if not _is_thebe(script)]


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
