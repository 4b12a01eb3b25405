"""The phantoms shipped in ``data/`` and the command that makes them.

Run ``python -m spect_tutorial.data`` to rebuild the shipped phantoms; it
refuses to replace existing files unless given ``--overwrite``. Each phantom
file ``data/phantom_<name>.npz`` has a manifest ``data/phantom_<name>.json``
recording the command, the parameters, the seed and the array hash
(:func:`spect_tutorial.phantom_file.phantom_hash`); a test rebuilds every phantom and
compares hashes, so ``data/`` cannot drift from the code.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .phantom import Defect, Phantom, make_phantom

__all__ = [
    "DATA_DIR",
    "SHIPPED_PHANTOMS",
    "build_shipped_phantom",
    "load_shipped_phantom",
    "main",
    "write_shipped_phantom",
]

#: The repository's ``data/`` folder (next to the package in a source checkout).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

COMMAND = "python -m spect_tutorial.data"

#: Name -> keyword arguments of :func:`make_phantom` (the simulation grid, 128^3 x 3.2 mm).
SHIPPED_PHANTOMS: dict[str, dict[str, Any]] = {
    "default": {},
    "inferior_defect": {"defect": Defect(segments=(4, 10, 15), severity=0.5)},
}


def _check_name(name: str) -> None:
    if name not in SHIPPED_PHANTOMS:
        raise ValueError(
            f"unknown shipped phantom {name!r}; choose one of {sorted(SHIPPED_PHANTOMS)}"
        )


def build_shipped_phantom(name: str) -> Phantom:
    """Build a shipped phantom from code (no file involved).

    Parameters
    ----------
    name : str
        One of :data:`SHIPPED_PHANTOMS` (``"default"``, ``"inferior_defect"``).

    Returns
    -------
    Phantom
        128^3 voxels of 3.2 mm, deterministic (no random draw, seed ``None``).
    """
    _check_name(name)
    return make_phantom(**SHIPPED_PHANTOMS[name])


def _paths(name: str, data_dir: Path) -> tuple[Path, Path]:
    return data_dir / f"phantom_{name}.npz", data_dir / f"phantom_{name}.json"


def write_shipped_phantom(
    name: str, *, data_dir: str | os.PathLike[str] = DATA_DIR, overwrite: bool = False
) -> dict[str, Any]:
    """Build one shipped phantom and write its ``.npz`` file and JSON manifest.

    Parameters
    ----------
    name : str
        One of :data:`SHIPPED_PHANTOMS`.
    data_dir : path-like, optional
        Output folder; default the repository's ``data/``.
    overwrite : bool, optional
        Replace existing files; without it an existing file raises
        :class:`FileExistsError` and nothing is written.

    Returns
    -------
    dict
        The manifest that was written.
    """
    from ._files import write_json
    from .phantom_file import phantom_hash, save_phantom

    phantom_path, manifest_path = _paths(name, Path(data_dir))
    if not overwrite:
        for path in (phantom_path, manifest_path):
            if path.exists():
                raise FileExistsError(
                    f"{path} exists; pass overwrite=True (--overwrite) to replace it"
                )
    phantom = build_shipped_phantom(name)
    save_phantom(phantom, phantom_path, overwrite=overwrite)
    manifest = {
        "name": name,
        "file": phantom_path.name,
        "command": f"{COMMAND} --only {name}",
        "function": "spect_tutorial.phantom.make_phantom",
        "seed": None,
        "parameters": phantom.parameters,
        "array_hash_sha256": phantom_hash(phantom),
        "shape": list(phantom.shape),
        "voxel_size_mm": phantom.voxel_size_mm,
    }
    write_json(manifest_path, manifest, sort_keys=True, overwrite=overwrite)
    return manifest


def load_shipped_phantom(
    name: str = "default", *, data_dir: str | os.PathLike[str] = DATA_DIR
) -> Phantom:
    """Load a shipped phantom, checking its array hash against the manifest.

    Parameters
    ----------
    name : str, optional
        ``"default"`` or ``"inferior_defect"``.
    data_dir : path-like, optional
        Folder holding the files; default the repository's ``data/``.

    Returns
    -------
    Phantom

    Raises
    ------
    FileNotFoundError
        If the file or its manifest is missing (run ``python -m spect_tutorial.data``).
    ValueError
        If the file is corrupt or does not match its manifest.

    Examples
    --------
    >>> phantom = load_shipped_phantom("default")  # doctest: +SKIP
    """
    from .phantom_file import load_phantom, phantom_hash

    _check_name(name)
    phantom_path, manifest_path = _paths(name, Path(data_dir))
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"manifest {manifest_path} is missing; rebuild the data with `{COMMAND}`"
        )
    from ._validation import load_json

    manifest = load_json(manifest_path.read_bytes(), where=f"manifest {manifest_path}")
    try:
        expected = manifest["array_hash_sha256"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"manifest {manifest_path} is unreadable: {error}") from None
    phantom = load_phantom(phantom_path)
    if phantom_hash(phantom) != expected:
        raise ValueError(
            f"{phantom_path} does not match its manifest {manifest_path.name} (array hash differs)"
        )
    return phantom


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m spect_tutorial.data [--only NAME] [--overwrite]``."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SHIPPED_PHANTOMS), action="append")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    parser.add_argument("--data-dir", default=str(DATA_DIR), help="output folder")
    arguments = parser.parse_args(argv)
    for name in arguments.only or sorted(SHIPPED_PHANTOMS):
        manifest = write_shipped_phantom(
            name, data_dir=arguments.data_dir, overwrite=arguments.overwrite
        )
        print(f"{manifest['file']}: sha256 {manifest['array_hash_sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
