"""Carry a cached training set to a machine that cannot receive it whole, and rebuild it there.

A device machine (``device`` tool) receives at most 64 MiB per call, and the training set
v2 cache entry is 582 MB. A Noise2Noise run reads only part of it: the noisy images, their
means, the split, and the ideal images of the *held-out* phantoms (its learning curve and
held-out errors; a Noise2Noise trainer never reads a training phantom's ideal image). This
tool packs that part into parts of a chosen size and rebuilds a cache entry from them, with
the same noisy bytes (checked by SHA-256), so every checkpoint has the same data fingerprint
as on the machine that built the set. By default the count-split halves and the training
phantoms' ideal images are left out (zeros): do not train ``--method count_split`` or
``supervised`` on such an entry. ``--all`` packs them too (about 250 MB more for set v2),
for the count-split and supervised runs.

Usage::

    python -m tools.carry_set pack <cache entry folder> <parts folder> [--part-mb 61] [--all]
    python -m tools.carry_set unpack <parts folder> <cache entry folder>

The noisy images (and, with ``--all``, the halves) are stored as their byte planes
compressed with zlib (float32 noise compresses to about 80 %; unshuffled, to 93 %), in
parts ``<array>.<i>`` described by ``<array>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spect_tutorial.datasets import _save_cache

__all__ = ["main", "pack", "unpack"]

#: Arrays a count-split or supervised run needs and a Noise2Noise run does not.
LEFT_OUT = ("halves", "halves_means")
#: Ideal images kept for the held-out phantoms only.
HELD_OUT_ONLY = ("ideal", "ideal_levels")
#: Large arrays carried as compressed byte-plane parts (the others go in ``meta.npz``).
IN_PARTS = ("noisy", "halves")


def _pack_array(name: str, array: np.ndarray, out: Path, size: int) -> dict:
    """Write ``array`` as zlib-compressed byte planes in parts ``<name>.<i>``."""
    array = np.ascontiguousarray(array)
    raw = array.tobytes()
    planes = np.frombuffer(raw, np.uint8).reshape(-1, array.itemsize).T.tobytes()
    blob = zlib.compress(planes, 6)
    parts = [blob[start : start + size] for start in range(0, len(blob), size)]
    for index, part in enumerate(parts):
        (out / f"{name}.{index}").write_bytes(part)
    description = {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "parts": len(parts),
    }
    (out / f"{name}.json").write_text(json.dumps(description), encoding="utf-8")
    return description


def _unpack_array(name: str, parts: Path) -> tuple[np.ndarray, str]:
    """Rebuild the array packed by :func:`_pack_array`; returns it and its SHA-256."""
    description = json.loads((parts / f"{name}.json").read_text(encoding="utf-8"))
    missing = [i for i in range(description["parts"]) if not (parts / f"{name}.{i}").is_file()]
    if missing:
        raise ValueError(f"parts {str(parts)!r}: {name}.{missing[0]} is missing")
    blob = b"".join((parts / f"{name}.{i}").read_bytes() for i in range(description["parts"]))
    itemsize = np.dtype(description["dtype"]).itemsize
    try:
        planes = np.frombuffer(zlib.decompress(blob), np.uint8).reshape(itemsize, -1)
    except (zlib.error, ValueError) as error:
        raise ValueError(f"parts {str(parts)!r} are damaged ({error})") from error
    raw = planes.T.tobytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != description["sha256"]:
        raise ValueError(f"parts {str(parts)!r}: the {name} images' SHA-256 does not match")
    return np.frombuffer(raw, description["dtype"]).reshape(description["shape"]), digest


def pack(
    entry: str | Path, out: str | Path, *, part_mb: float = 61.0, everything: bool = False
) -> dict:
    """Pack a cache entry's arrays into ``out``; returns the noisy parts' description.

    Parameters
    ----------
    entry : str or Path
        Cache entry folder holding ``data.npz`` and ``manifest.json``.
    out : str or Path
        Folder for ``noisy.<i>`` (the parts), ``noisy.json``, ``meta.npz`` and the manifest;
        must not exist yet, so no earlier parts are overwritten.
    part_mb : float, optional
        Size of each part in MB (10^6 bytes), > 0.
    everything : bool, optional
        Also pack the count-split halves and every phantom's ideal images (``--all``),
        for count-split and supervised runs. Default: what a Noise2Noise run reads.
    """
    entry, out = Path(entry), Path(out)
    if not (part_mb > 0):
        raise ValueError(f"part_mb must be > 0, got {part_mb}")
    if not (entry / "data.npz").is_file() or not (entry / "manifest.json").is_file():
        raise ValueError(f"entry {str(entry)!r} has no data.npz and manifest.json")
    if out.exists():
        raise FileExistsError(f"out {str(out)!r} exists; choose a new folder")
    left_out = () if everything else LEFT_OUT
    with np.load(entry / "data.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files if name not in left_out}
    held_out = arrays["validation"].astype(bool)
    for name in () if everything else HELD_OUT_ONLY:
        if name in arrays:
            kept = np.zeros_like(arrays[name])
            kept[held_out] = arrays[name][held_out]
            arrays[name] = kept
    size = max(1, int(part_mb * 1e6))
    out.mkdir(parents=True)
    descriptions = {
        name: _pack_array(name, arrays.pop(name), out, size) for name in IN_PARTS if name in arrays
    }
    np.savez_compressed(out / "meta.npz", **arrays)
    (out / "manifest.json").write_bytes((entry / "manifest.json").read_bytes())
    return descriptions["noisy"]


def unpack(parts: str | Path, entry: str | Path) -> str:
    """Rebuild a cache entry from packed parts; returns the noisy array's SHA-256.

    Raises
    ------
    ValueError
        A part is missing or damaged, or the rebuilt noisy bytes do not have the packed
        hash.
    FileExistsError
        ``entry`` already holds a ``data.npz`` (never overwritten).
    """
    parts, entry = Path(parts), Path(entry)
    if (entry / "data.npz").exists():
        raise FileExistsError(f"entry {str(entry)!r} already holds data.npz")
    noisy, digest = _unpack_array("noisy", parts)
    large = {"noisy": noisy}
    for name in IN_PARTS[1:]:
        if (parts / f"{name}.json").is_file():
            large[name] = _unpack_array(name, parts)[0]
    with np.load(parts / "meta.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    manifest = json.loads((parts / "manifest.json").read_text(encoding="utf-8"))
    # The training set's own writer: data.npz atomically, the manifest (which marks a
    # complete entry) last.
    _save_cache(entry, {**large, **arrays}, manifest)
    return digest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``pack`` or ``unpack``."""
    parser = argparse.ArgumentParser(prog="python -m tools.carry_set", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack")
    packing.add_argument("entry")
    packing.add_argument("out")
    packing.add_argument("--part-mb", type=float, default=61.0)
    packing.add_argument(
        "--all", action="store_true", help="also the halves and every ideal image"
    )
    unpacking = commands.add_parser("unpack")
    unpacking.add_argument("parts")
    unpacking.add_argument("entry")
    args = parser.parse_args(argv)
    if args.command == "pack":
        description = pack(args.entry, args.out, part_mb=args.part_mb, everything=args.all)
        print(f"{description['parts']} parts, noisy sha256 {description['sha256'][:12]}")
    else:
        print(f"rebuilt, noisy sha256 {unpack(args.parts, args.entry)[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
