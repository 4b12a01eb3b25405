"""Repository tooling, not installed with the package: ``python -m tools.bookbuild``
executes every chapter and renders the book (``make book``; needs the ``book`` extra)."""
