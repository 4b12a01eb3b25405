"""Carry a cached training set to a machine that cannot receive it whole, and rebuild it there.

A device machine (``device`` tool) receives at most 64 MiB per call, and the training set
v2 cache entry is 582 MB. A Noise2Noise run reads only part of it: the noisy images, their
means, the split, and the ideal images of the *held-out* phantoms (its learning curve and
held-out errors; a Noise2Noise trainer never reads a training phantom's ideal image). This
tool packs that part into parts of a chosen size and rebuilds a cache entry from them, with
the same noisy bytes (checked by SHA-256), so every checkpoint has the same data fingerprint
as on the machine that built the set. The count-split halves and the training phantoms'
ideal images are left out (zeros): do not train ``--method count_split`` or
``supervised`` on a rebuilt entry.

Usage::

    python -m tools.carry_set pack <cache entry folder> <parts folder> [--part-mb 61]
    python -m tools.carry_set unpack <parts folder> <cache entry folder>

The noisy images are stored as their four byte planes compressed with zlib (float32 noise
compresses to about 80 %; unshuffled, to 93 %).
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


def pack(entry: str | Path, out: str | Path, *, part_mb: float = 61.0) -> dict:
    """Pack a cache entry's Noise2Noise arrays into ``out``; returns the parts' description.

    Parameters
    ----------
    entry : str or Path
        Cache entry folder holding ``data.npz`` and ``manifest.json``.
    out : str or Path
        Folder for ``noisy.<i>`` (the parts), ``noisy.json``, ``meta.npz`` and the manifest;
        must not exist yet, so no earlier parts are overwritten.
    part_mb : float, optional
        Size of each part in MB (10^6 bytes), > 0.
    """
    entry, out = Path(entry), Path(out)
    if not (part_mb > 0):
        raise ValueError(f"part_mb must be > 0, got {part_mb}")
    if not (entry / "data.npz").is_file() or not (entry / "manifest.json").is_file():
        raise ValueError(f"entry {str(entry)!r} has no data.npz and manifest.json")
    if out.exists():
        raise FileExistsError(f"out {str(out)!r} exists; choose a new folder")
    with np.load(entry / "data.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files if name not in LEFT_OUT}
    noisy = np.ascontiguousarray(arrays.pop("noisy"))
    held_out = arrays["validation"].astype(bool)
    for name in HELD_OUT_ONLY:
        if name in arrays:
            kept = np.zeros_like(arrays[name])
            kept[held_out] = arrays[name][held_out]
            arrays[name] = kept
    raw = noisy.tobytes()
    planes = np.frombuffer(raw, np.uint8).reshape(-1, noisy.itemsize).T.tobytes()
    blob = zlib.compress(planes, 6)
    size = max(1, int(part_mb * 1e6))
    out.mkdir(parents=True)
    parts = [blob[start : start + size] for start in range(0, len(blob), size)]
    for index, part in enumerate(parts):
        (out / f"noisy.{index}").write_bytes(part)
    description = {
        "shape": list(noisy.shape),
        "dtype": str(noisy.dtype),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "parts": len(parts),
    }
    (out / "noisy.json").write_text(json.dumps(description), encoding="utf-8")
    np.savez_compressed(out / "meta.npz", **arrays)
    (out / "manifest.json").write_bytes((entry / "manifest.json").read_bytes())
    return description


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
    description = json.loads((parts / "noisy.json").read_text(encoding="utf-8"))
    missing = [i for i in range(description["parts"]) if not (parts / f"noisy.{i}").is_file()]
    if missing:
        raise ValueError(f"parts {str(parts)!r}: noisy.{missing[0]} is missing")
    if (entry / "data.npz").exists():
        raise FileExistsError(f"entry {str(entry)!r} already holds data.npz")
    blob = b"".join((parts / f"noisy.{i}").read_bytes() for i in range(description["parts"]))
    itemsize = np.dtype(description["dtype"]).itemsize
    try:
        planes = np.frombuffer(zlib.decompress(blob), np.uint8).reshape(itemsize, -1)
    except (zlib.error, ValueError) as error:
        raise ValueError(f"parts {str(parts)!r} are damaged ({error})") from error
    raw = planes.T.tobytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != description["sha256"]:
        raise ValueError(f"parts {str(parts)!r}: the noisy images' SHA-256 does not match")
    noisy = np.frombuffer(raw, description["dtype"]).reshape(description["shape"])
    with np.load(parts / "meta.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    manifest = json.loads((parts / "manifest.json").read_text(encoding="utf-8"))
    # The training set's own writer: data.npz atomically, the manifest (which marks a
    # complete entry) last.
    _save_cache(entry, {"noisy": noisy, **arrays}, manifest)
    return digest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``pack`` or ``unpack``."""
    parser = argparse.ArgumentParser(prog="python -m tools.carry_set", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack")
    packing.add_argument("entry")
    packing.add_argument("out")
    packing.add_argument("--part-mb", type=float, default=61.0)
    unpacking = commands.add_parser("unpack")
    unpacking.add_argument("parts")
    unpacking.add_argument("entry")
    args = parser.parse_args(argv)
    if args.command == "pack":
        description = pack(args.entry, args.out, part_mb=args.part_mb)
        print(f"{description['parts']} parts, noisy sha256 {description['sha256'][:12]}")
    else:
        print(f"rebuilt, noisy sha256 {unpack(args.parts, args.entry)[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
