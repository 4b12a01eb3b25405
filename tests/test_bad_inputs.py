"""Bad inputs: one catalogue of what a student's typo can give, and the message it gets.

Every case of :data:`CASES` calls one public function or class with one bad input and
states the exception type, a regex that must find the argument (or file) in the message
and a regex that must find the value received or the valid range. Together the cases
cover every public name of ``spect_tutorial`` and every class of bad input in
:data:`KINDS` (checked by the tests at the end).

Functions that use TensorFlow (WIN5-RB, the trainers, ``denoise``, the weights) must
refuse bad input before any TensorFlow operation: their cases run with trip wires on
every path into Keras (model building, prediction, loading, seeding TensorFlow), so a
check that came too late fails the case with "TensorFlow was touched" instead of the
expected error. :func:`test_bad_input_is_refused_before_tensorflow_is_imported` proves
the same in a fresh interpreter, where TensorFlow is never even imported.

Saving and loading files has its own, deeper tests (tests/test_io.py,
tests/test_inference.py, tests/test_data.py); the file cases here are the catalogue's
entries for those functions.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import spect_tutorial as st
from spect_tutorial._validation import integer as _integer
from spect_tutorial.datasets import synthetic_training_set
from spect_tutorial.frame import LVGeometry
from spect_tutorial.weights import WEIGHTS_DIR_ENV

REPOSITORY = Path(__file__).resolve().parent.parent
NAN, INF = math.nan, math.inf

#: The classes of bad input the catalogue must cover.
KINDS = {
    "shape": "wrong shape or length",
    "dtype": "wrong dtype or Python type of a value (a string for a number, ...)",
    "nan": "NaN or infinity",
    "negative": "negative activity, counts, length or seed",
    "range": "number out of range (count level <= 0, cutoff above Nyquist, order < 1, ...)",
    "object": "wrong kind of object (a string where a Phantom is expected, ...)",
    "missing": "missing file",
    "corrupt": "corrupt or truncated file",
    "units": "wrong units (voxel size <= 0, a mu map in 1/pixel read as 1/cm, ...)",
}


@dataclass(frozen=True)
class Case:
    """One bad call: ``call(ctx)`` must raise ``error`` (or warn, for a Warning class).

    ``names`` must match the argument or file named in the message, ``shows`` the value
    received or the valid range; both are regexes searched in the message.
    """

    target: str
    kind: str
    call: Callable[[SimpleNamespace], Any]
    error: type[BaseException]
    names: str
    shows: str
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.target}-{self.kind}-{self.note or self.names}"


# ---------------------------------------------------------------------------
# Cheap shared inputs (built once)
# ---------------------------------------------------------------------------


@functools.cache
def _phantom() -> st.Phantom:
    return st.make_phantom(shape=(32, 32, 32), voxel_size_mm=12.8)


@functools.cache
def _system() -> st.SpectSystem:
    geometry = st.SpectGeometry(n_views=4, n_bins=8)
    return st.SpectSystem(np.zeros((8, 8, 8)), geometry, voxel_size_mm=6.4)


@functools.cache
def _data():
    return synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2)


@functools.cache
def _tiny_model():
    return st.win5rb(filters=2, kernel_size=3, depth=2, seed=0)


LV = LVGeometry((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0))
ONES = np.ones((4, 4, 4), dtype=np.float32)
MASK = np.ones((4, 4, 4), dtype=bool)
TINY_CONFIG = st.TrainingConfig(epochs=1, batch_size=2, steps_per_epoch=1)


def _with(value: Any, index: tuple[int, ...], array: np.ndarray = ONES) -> np.ndarray:
    """A copy of ``array`` with one element set to ``value``."""
    copy = np.array(array, dtype=np.float64)
    copy[index] = value
    return copy


def _write(ctx: SimpleNamespace, name: str, content: bytes | str) -> Path:
    path = ctx.tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _weights_dir(ctx: SimpleNamespace, files: dict[str, bytes | str]) -> Path:
    folder = ctx.tmp / "weights"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        _write(ctx, f"weights/{name}", content)
    ctx.monkeypatch.setenv(WEIGHTS_DIR_ENV, str(folder))
    return folder


def _train(ctx: SimpleNamespace, trainer: Callable, *args: Any, **changes: Any) -> Any:
    options = {"model": {"filters": 2}, "config": TINY_CONFIG, "work_dir": ctx.tmp / "work"}
    return trainer(*args, **{**options, **changes})


def _denoise(ctx: SimpleNamespace, volume: Any = ONES, **options: Any) -> Any:
    return st.denoise(volume, **{"voxel_size_mm": 6.4, **options})


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------

CASES: list[Case] = [
    # --- frame -------------------------------------------------------------------
    Case(
        "LVGeometry",
        "shape",
        lambda c: LVGeometry((0.0, 0.0), (0, 0, 1), (1, 0, 0)),
        ValueError,
        r"center_mm",
        r"three finite numbers.*\(0\.0, 0\.0\)",
    ),
    Case(
        "LVGeometry",
        "nan",
        lambda c: LVGeometry((0, 0, 0), (0, NAN, 1), (1, 0, 0)),
        ValueError,
        r"long_axis",
        r"finite, got \[0\.0, nan, 1\.0\]",
    ),
    Case(
        "LVGeometry",
        "range",
        lambda c: LVGeometry((0, 0, 0), (0, 0, 1), (0, 1, 1)),
        ValueError,
        r"septal_direction",
        r"\|dot\| <= 1e-3\), got dot = 0\.7071",
    ),
    Case(
        "LVGeometry",
        "dtype",
        lambda c: LVGeometry("heart", (0, 0, 1), (1, 0, 0)),
        ValueError,
        r"center_mm",
        r"got 'heart'",
    ),
    # --- phantom -----------------------------------------------------------------
    Case(
        "Phantom",
        "negative",
        lambda c: st.Phantom(-ONES, ONES * 0.15, 6.4),
        ValueError,
        r"^activity",
        r">= 0 everywhere, got a minimum of -1",
    ),
    Case(
        "Phantom",
        "nan",
        lambda c: st.Phantom(_with(INF, (1, 2, 3)), ONES, 6.4),
        ValueError,
        r"^activity",
        r"1 NaN or infinite voxels; values must be finite",
    ),
    Case(
        "Phantom",
        "shape",
        lambda c: st.Phantom(ONES, np.ones((4, 4, 5)), 6.4),
        ValueError,
        r"activity and mu",
        r"\(4, 4, 4\) and \(4, 4, 5\)",
    ),
    Case(
        "Phantom",
        "units",
        lambda c: st.Phantom(ONES, ONES, 0.0),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got 0\.0",
    ),
    Case(
        "Phantom",
        "object",
        lambda c: st.Phantom(ONES, ONES, 6.4, lv="apex"),
        ValueError,
        r"\blv\b",
        r"LVGeometry or None, got str",
    ),
    Case(
        "Phantom",
        "dtype",
        lambda c: st.Phantom(np.full((4, 4, 4), "1"), ONES, 6.4),
        ValueError,
        r"^activity",
        r"real numbers, got dtype <U1",
    ),
    Case(
        "Anatomy",
        "negative",
        lambda c: st.Anatomy(wall_thickness_mm=-9.0),
        ValueError,
        r"wall_thickness_mm",
        r"> 0, got -9\.0",
    ),
    Case(
        "Anatomy",
        "range",
        lambda c: st.Anatomy(lv_elevation_deg=95.0),
        ValueError,
        r"lv_elevation_deg",
        r"\[0, 90\) degrees, got 95\.0",
    ),
    Case(
        "Anatomy",
        "dtype",
        lambda c: st.Anatomy(wall_thickness_mm="9 mm"),
        ValueError,
        r"wall_thickness_mm",
        r"> 0, got '9 mm'",
    ),
    Case(
        "Uptake",
        "negative",
        lambda c: st.Uptake(liver=-0.2),
        ValueError,
        r"uptake liver",
        r">= 0, got -0\.2",
    ),
    Case(
        "Uptake",
        "nan",
        lambda c: st.Uptake(liver=NAN),
        ValueError,
        r"uptake liver",
        r"finite concentration >= 0, got nan",
    ),
    Case(
        "Defect",
        "range",
        lambda c: st.Defect(segments=(4,), severity=1.5),
        ValueError,
        r"severity",
        r"\(0, 1\], got 1\.5",
    ),
    Case(
        "Defect",
        "range",
        lambda c: st.Defect(segments=(0, 18)),
        ValueError,
        r"segments",
        r"1-17, got \(0, 18\)",
        note="segment-numbers",
    ),
    Case(
        "Defect",
        "dtype",
        lambda c: st.Defect(segments=("inferior",)),
        ValueError,
        r"segments",
        r"1-17, got \('inferior',\)",
    ),
    Case(
        "make_phantom",
        "shape",
        lambda c: st.make_phantom(shape=(64, 64)),
        ValueError,
        r"shape",
        r"three positive integers.*got \(64, 64\)",
    ),
    Case(
        "make_phantom",
        "units",
        lambda c: st.make_phantom(voxel_size_mm=-3.2),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got -3\.2",
    ),
    Case(
        "make_phantom",
        "object",
        lambda c: st.make_phantom(defect="inferior"),
        ValueError,
        r"defect",
        r"Defect or None, got str",
    ),
    Case(
        "make_phantom",
        "range",
        lambda c: st.make_phantom(shape=(8, 8, 8), supersample=0),
        ValueError,
        r"supersample",
        r"1 to 8, got 0",
    ),
    Case(
        "make_phantom",
        "dtype",
        lambda c: st.make_phantom(shape=(8, 8, 8), supersample="4"),
        ValueError,
        r"supersample",
        r"1 to 8, got '4'",
    ),
    Case(
        "random_phantom",
        "negative",
        lambda c: st.random_phantom(seed=-1),
        ValueError,
        r"seed",
        r">= 0 or a numpy Generator, got -1",
    ),
    Case(
        "random_phantom",
        "range",
        lambda c: st.random_phantom(seed=0, defect_probability=1.5),
        ValueError,
        r"defect_probability",
        r"\[0, 1\], got 1\.5",
    ),
    # --- io and data ---------------------------------------------------------------
    Case(
        "save_phantom",
        "object",
        lambda c: st.save_phantom("phantom", c.tmp / "p.npz"),
        TypeError,
        r"phantom",
        r"Phantom, got str",
    ),
    Case(
        "save_phantom",
        "units",
        lambda c: st.save_phantom(_phantom(), c.tmp / "p.txt"),
        ValueError,
        r"p\.txt",
        r"end with '\.npz'",
    ),
    Case(
        "load_phantom",
        "missing",
        lambda c: st.load_phantom(c.tmp / "absent.npz"),
        FileNotFoundError,
        r"absent\.npz",
        r"does not exist",
    ),
    Case(
        "load_phantom",
        "corrupt",
        lambda c: st.load_phantom(_write(c, "broken.npz", b"PK\x03\x04 not a zip")),
        ValueError,
        r"broken\.npz",
        r"truncated, damaged or foreign",
    ),
    Case(
        "phantom_from_arrays",
        "nan",
        lambda c: st.phantom_from_arrays(_with(NAN, (0, 0, 0)), ONES, voxel_size_mm=6.4),
        ValueError,
        r"^activity",
        r"1 NaN or infinite",
    ),
    Case(
        "phantom_from_arrays",
        "object",
        lambda c: st.phantom_from_arrays(ONES, ONES, voxel_size_mm=6.4, masks="myocardium"),
        ValueError,
        r"masks",
        r"mapping of name to array or None, got str",
    ),
    Case(
        "phantom_from_arrays",
        "units",
        lambda c: st.phantom_from_arrays(ONES, ONES * 0.048, voxel_size_mm=3.2),
        UserWarning,
        r"\bmu\b",
        r"largest mu is 0\.048 1/cm.*per_pixel",
    ),
    Case(
        "load_xcat_raw",
        "missing",
        lambda c: st.load_xcat_raw(c.tmp / "atn_1.bin", shape=(2, 2, 2), voxel_size_mm=3.2),
        FileNotFoundError,
        r"atn_1\.bin",
        r"does not exist",
    ),
    Case(
        "load_xcat_raw",
        "corrupt",
        lambda c: st.load_xcat_raw(
            _write(c, "act_1.bin", bytes(30)), shape=(2, 2, 2), voxel_size_mm=3.2
        ),
        ValueError,
        r"act_1\.bin",
        r"has 30 bytes, expected 32",
    ),
    Case(
        "load_xcat_raw",
        "units",
        lambda c: st.load_xcat_raw(c.tmp / "a.bin", shape=(2, 2, 2), voxel_size_mm=0),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got 0",
    ),
    Case(
        "load_xcat_raw",
        "range",
        lambda c: st.load_xcat_raw(
            c.tmp / "a.bin", shape=(2, 2, 2), voxel_size_mm=3.2, mu_unit="per_mm"
        ),
        ValueError,
        r"mu_unit",
        r"\['per_cm', 'per_pixel'\], got 'per_mm'",
    ),
    Case(
        "load_xcat_raw",
        "dtype",
        lambda c: st.load_xcat_raw(
            c.tmp / "a.bin", shape=(2, 2, 2), voxel_size_mm=3.2, dtype="U4"
        ),
        ValueError,
        r"dtype",
        r"real integer or float dtype.*got 'U4'",
    ),
    Case(
        "load_interfile",
        "missing",
        lambda c: st.load_interfile(c.tmp / "scan.h33"),
        FileNotFoundError,
        r"scan\.h33",
        r"does not exist",
    ),
    Case(
        "load_interfile",
        "corrupt",
        lambda c: st.load_interfile(_write(c, "scan.h33", b"\x00\x01 binary junk")),
        ValueError,
        r"scan\.h33",
        r"no 'key := value' lines",
    ),
    Case(
        "load_shipped_phantom",
        "range",
        lambda c: st.load_shipped_phantom("normal"),
        ValueError,
        r"'normal'",
        r"choose one of \['default', 'inferior_defect'\]",
    ),
    Case(
        "load_shipped_phantom",
        "missing",
        lambda c: st.load_shipped_phantom("default", data_dir=c.tmp),
        FileNotFoundError,
        r"phantom_default\.json",
        r"missing; rebuild",
    ),
    Case(
        "load_shipped_phantom",
        "corrupt",
        lambda c: st.load_shipped_phantom(
            "default", data_dir=_write(c, "phantom_default.json", "{not json").parent
        ),
        ValueError,
        r"phantom_default\.json",
        r"unreadable",
    ),
    # --- acquisition ---------------------------------------------------------------
    Case(
        "SpectGeometry",
        "range",
        lambda c: st.SpectGeometry(n_views=0),
        ValueError,
        r"n_views",
        r"positive integer, got 0",
    ),
    Case(
        "SpectGeometry",
        "units",
        lambda c: st.SpectGeometry(bin_size_mm=-6.4),
        ValueError,
        r"bin_size_mm",
        r"> 0, got -6\.4",
    ),
    Case(
        "SpectGeometry",
        "dtype",
        lambda c: st.SpectGeometry(radius_mm="250"),
        ValueError,
        r"radius_mm",
        r"> 0, got '250'",
    ),
    Case(
        "SpectGeometry",
        "range",
        lambda c: st.SpectGeometry(arc_deg=400.0),
        ValueError,
        r"arc_deg",
        r"\(0, 360\] degrees, got 400\.0",
        note="arc",
    ),
    Case(
        "SpectSystem",
        "shape",
        lambda c: st.SpectSystem(
            np.zeros((8, 8, 9)), st.SpectGeometry(n_bins=8), voxel_size_mm=6.4
        ),
        ValueError,
        r"\bmu\b",
        r"shape \(8, 8, 9\).*\(nz, 8, 8\)",
    ),
    Case(
        "SpectSystem",
        "negative",
        lambda c: st.SpectSystem(-0.15 * ONES, st.SpectGeometry(n_bins=4), voxel_size_mm=6.4),
        ValueError,
        r"\bmu\b",
        r">= 0 \(1/cm\) everywhere, got a minimum of -0\.15",
    ),
    Case(
        "SpectSystem",
        "units",
        lambda c: st.SpectSystem(ONES, st.SpectGeometry(n_bins=4), voxel_size_mm=5.0),
        ValueError,
        r"voxel_size_mm",
        r"\(5\.0\) must divide the bin size \(6\.4 mm\)",
    ),
    Case(
        "SpectSystem",
        "object",
        lambda c: st.SpectSystem(ONES, "LEHR", voxel_size_mm=6.4),
        ValueError,
        r"geometry",
        r"SpectGeometry, got str",
    ),
    Case(
        "SpectSystem",
        "negative",
        lambda c: _system().forward(-np.ones((8, 8, 8))),
        ValueError,
        r"volume",
        r">= 0, got a minimum of -1",
        note="forward",
    ),
    Case(
        "SpectSystem",
        "range",
        lambda c: _system().forward(np.ones((8, 8, 8)), views=[9]),
        ValueError,
        r"views",
        r"\[9\] are outside 0\.\.3",
    ),
    Case(
        "SpectSystem",
        "shape",
        lambda c: _system().backward(np.ones((4, 8, 9))),
        ValueError,
        r"projections",
        r"\(4, 8, 9\)",
        note="backward",
    ),
    Case(
        "scatter_projections",
        "negative",
        lambda c: st.scatter_projections(ONES, st.SpectGeometry(), scatter_to_primary=-0.3),
        ValueError,
        r"scatter_to_primary",
        r">= 0, got -0\.3",
    ),
    Case(
        "scatter_projections",
        "object",
        lambda c: st.scatter_projections(ONES, "LEHR"),
        ValueError,
        r"geometry",
        r"SpectGeometry, got str",
    ),
    Case(
        "scatter_projections",
        "nan",
        lambda c: st.scatter_projections(_with(NAN, (0, 1, 1)), st.SpectGeometry()),
        ValueError,
        r"primary",
        r"1 NaN or infinite values",
    ),
    # --- noise -------------------------------------------------------------------------
    Case(
        "counts_scale",
        "range",
        lambda c: st.counts_scale(ONES, ONES, angles_deg=np.arange(4) * 45.0, target_counts=0),
        ValueError,
        r"target_counts",
        r"> 0 counts, got 0",
    ),
    Case(
        "counts_scale",
        "shape",
        lambda c: st.counts_scale(np.ones((4, 4)), np.ones((4, 4)), angles_deg=[0, 45]),
        ValueError,
        r"expected",
        r"3-D array \(views, rows, bins\), got shape \(4, 4\)",
    ),
    Case(
        "expected_counts",
        "range",
        lambda c: st.expected_counts(ONES, scale=1.0, count_level=0),
        ValueError,
        r"count_level",
        r"> 0 percent, got 0",
    ),
    Case(
        "expected_counts",
        "negative",
        lambda c: st.expected_counts(-ONES, scale=1.0),
        ValueError,
        r"expected",
        r">= 0 everywhere, got a minimum of -1",
    ),
    Case(
        "expected_counts",
        "dtype",
        lambda c: st.expected_counts(ONES, scale=1.0, count_level="100 %"),
        ValueError,
        r"count_level",
        r"finite number > 0 percent, got '100 %'",
    ),
    Case(
        "poisson_realizations",
        "nan",
        lambda c: st.poisson_realizations(_with(NAN, (0, 0, 0)), seed=0),
        ValueError,
        r"expected_counts",
        r"1 NaN or infinite values",
    ),
    Case(
        "poisson_realizations",
        "range",
        lambda c: st.poisson_realizations(ONES, n=0, seed=0),
        ValueError,
        r"\bn\b",
        r"int >= 1 \(number of realizations\), got 0",
    ),
    Case(
        "realization_seed",
        "negative",
        lambda c: st.realization_seed(-1, 100.0),
        ValueError,
        r"seed",
        r"int >= 0.*got -1",
    ),
    Case(
        "realization_seed",
        "range",
        lambda c: st.realization_seed(0, -25.0),
        ValueError,
        r"count_level",
        r"> 0 percent, got -25\.0",
    ),
    Case(
        "split_counts",
        "range",
        lambda c: st.split_counts(ONES, 1.5, seed=0),
        ValueError,
        r"\bp\b",
        r"0 < p < 1, got 1\.5",
    ),
    Case(
        "split_counts",
        "dtype",
        lambda c: st.split_counts(np.array([1.5, 2.0]), seed=0),
        ValueError,
        r"counts",
        r"whole numbers.*1 non-integer value\(s\), e\.g\. 1\.5",
    ),
    Case(
        "add_image_noise",
        "range",
        lambda c: st.add_image_noise(ONES, mean_counts=0, seed=0),
        ValueError,
        r"mean_counts",
        r"> 0 counts per voxel, got 0",
    ),
    Case(
        "add_image_noise",
        "shape",
        lambda c: st.add_image_noise(ONES, mean_counts=10, seed=0, region=np.ones(4, bool)),
        ValueError,
        r"region",
        r"shape of volume \(4, 4, 4\), got \(4,\)",
    ),
    # --- reconstruction ----------------------------------------------------------------
    Case(
        "osem",
        "shape",
        lambda c: st.osem(np.ones((4, 8, 9)), _system(), n_subsets=2),
        ValueError,
        r"projections",
        r"shape \(4, 8, 8\).*got \(4, 8, 9\)",
    ),
    Case(
        "osem",
        "negative",
        lambda c: st.osem(-np.ones((4, 8, 8)), _system(), n_subsets=2),
        ValueError,
        r"projections",
        r">= 0 \(counts\), got a minimum of -1",
    ),
    Case(
        "osem",
        "range",
        lambda c: st.osem(np.ones((4, 8, 8)), _system(), n_subsets=5),
        ValueError,
        r"n_subsets",
        r"integer in 1\.\.4, got 5",
    ),
    Case(
        "osem",
        "object",
        lambda c: st.osem(np.ones((4, 8, 8)), "SPECT"),
        TypeError,
        r"system",
        r"ProjectionSystem.*str has no 'image_shape'",
    ),
    Case(
        "osem",
        "negative",
        lambda c: st.osem(
            np.ones((4, 8, 8)), _system(), n_subsets=2, additive=-np.ones((4, 8, 8))
        ),
        ValueError,
        r"additive",
        r">= 0 \(counts\), got a minimum of -1",
        note="additive",
    ),
    Case(
        "mlem",
        "nan",
        lambda c: st.mlem(np.full((4, 8, 8), np.inf), _system()),
        ValueError,
        r"projections",
        r"256 NaN or infinite values",
    ),
    Case(
        "mlem",
        "range",
        lambda c: st.mlem(np.ones((4, 8, 8)), _system(), n_iter=0),
        ValueError,
        r"n_iter",
        r">= 1, got 0",
    ),
    # --- study ---------------------------------------------------------------------------
    Case(
        "simulate_study",
        "object",
        lambda c: st.simulate_study("default"),
        ValueError,
        r"phantom",
        r"Phantom, got str",
    ),
    Case(
        "simulate_study",
        "range",
        lambda c: st.simulate_study(_phantom(), count_level=0),
        ValueError,
        r"count_level",
        r"> 0 percent, got 0",
    ),
    Case(
        "simulate_study",
        "range",
        lambda c: st.simulate_study(_phantom(), n_realizations=0),
        ValueError,
        r"n_realizations",
        r">= 1, got 0",
    ),
    Case(
        "simulate_study",
        "negative",
        lambda c: st.simulate_study(_phantom(), scatter_to_primary=-0.3),
        ValueError,
        r"scatter_to_primary",
        r">= 0, got -0\.3",
    ),
    Case(
        "simulate_study",
        "negative",
        lambda c: st.simulate_study(_phantom(), seed=-1),
        ValueError,
        r"seed",
        r"int >= 0.*got -1",
        note="seed",
    ),
    Case(
        "simulate_study",
        "object",
        lambda c: st.simulate_study(_phantom(), geometry="ASNC"),
        ValueError,
        r"geometry",
        r"SpectGeometry or None, got str",
    ),
    Case(
        "simulate_study",
        "units",
        lambda c: st.simulate_study(
            st.phantom_from_arrays(
                ONES, ONES * 0.15, voxel_size_mm=5.0, lv=LV, masks={"myocardium": MASK}
            )
        ),
        ValueError,
        r"voxel size \(5\.0 mm\)",
        r"divide the detector bin size \(6\.4 mm\)",
    ),
    Case(
        "Study",
        "object",
        lambda c: _show_count_levels({100.0: "study"}),
        ValueError,
        r"studies\[100\.0\]",
        r"Study \(from simulate_study\), got str",
    ),
    # --- metrics -------------------------------------------------------------------------
    Case(
        "nrmse",
        "shape",
        lambda c: st.nrmse(np.ones((4, 4, 5)), ONES, MASK),
        ValueError,
        r"image",
        r"\(4, 4, 5\).*region has shape \(4, 4, 4\)",
    ),
    Case(
        "nrmse",
        "dtype",
        lambda c: st.nrmse(ONES, ONES, np.ones((4, 4, 4), dtype=int)),
        ValueError,
        r"region",
        r"boolean mask, got dtype int64",
    ),
    Case(
        "nrmse",
        "range",
        lambda c: st.nrmse(ONES, 0 * ONES, MASK),
        ValueError,
        r"reference",
        r"zero mean over the region",
    ),
    Case(
        "coefficient_of_variation",
        "range",
        lambda c: st.coefficient_of_variation(ONES, np.zeros((4, 4, 4), bool)),
        ValueError,
        r"region",
        r"is empty",
    ),
    Case(
        "evaluation_region",
        "dtype",
        lambda c: st.evaluation_region(ONES),
        ValueError,
        r"myocardium_mask",
        r"boolean, got dtype float32",
    ),
    Case(
        "evaluation_region",
        "negative",
        lambda c: st.evaluation_region(MASK, dilation_voxels=-1),
        ValueError,
        r"dilation_voxels",
        r"integer >= 0, got -1",
    ),
    Case(
        "normal_myocardium",
        "shape",
        lambda c: st.normal_myocardium(np.ones((4, 4), bool)),
        ValueError,
        r"myocardium_mask",
        r"3-D \(z, y, x\), got shape \(4, 4\)",
    ),
    Case(
        "defect_ratio",
        "object",
        lambda c: st.defect_ratio(ONES, defect_mask=None, myocardium_mask=MASK),
        ValueError,
        r"defect_mask",
        r"boolean \(z, y, x\) mask, got None",
    ),
    Case(
        "defect_ratio",
        "shape",
        lambda c: st.defect_ratio(np.ones((4, 4)), defect_mask=MASK, myocardium_mask=MASK),
        ValueError,
        r"image",
        r"shape \(4, 4\); the masks have shape \(4, 4, 4\)",
    ),
    Case(
        "psnr",
        "range",
        lambda c: st.psnr(ONES, ONES, data_range=-1.0),
        ValueError,
        r"data_range",
        r"finite number > 0, got -1\.0",
    ),
    Case(
        "psnr",
        "shape",
        lambda c: st.psnr(np.ones((4, 5)), ONES),
        ValueError,
        r"image",
        r"\(4, 5\).*reference's shape \(4, 4, 4\)",
    ),
    Case(
        "ssim",
        "range",
        lambda c: st.ssim(ONES, ONES, data_range=1.0, win_size=4),
        ValueError,
        r"win_size",
        r"odd integer >= 3, got 4",
    ),
    Case(
        "ssim",
        "shape",
        lambda c: st.ssim(ONES, ONES, data_range=1.0),
        ValueError,
        r"reference",
        r"\(4, 4, 4\) is smaller than the 7-voxel SSIM window",
    ),
    Case(
        "profile",
        "range",
        lambda c: st.profile(ONES, (0, 0, 0), (5, 0, 0), voxel_size_mm=6.4, order=7),
        ValueError,
        r"order",
        r"0\.\.5, got 7",
    ),
    Case(
        "profile",
        "shape",
        lambda c: st.profile(ONES, (0, 0), (5, 0, 0), voxel_size_mm=6.4),
        ValueError,
        r"start_mm",
        r"three finite numbers \(x, y, z\) in mm, got \(0, 0\)",
    ),
    Case(
        "profile",
        "range",
        lambda c: st.profile(ONES, (1, 2, 3), (1, 2, 3), voxel_size_mm=6.4),
        ValueError,
        r"start_mm and end_mm",
        r"differ, got both \[1\.0, 2\.0, 3\.0\]",
        note="same-points",
    ),
    Case(
        "wall_thickness",
        "range",
        lambda c: st.wall_thickness(ONES, LV, voxel_size_mm=6.4, levels=(0.0, 1.2)),
        ValueError,
        r"levels",
        r"in \(0, 1\), got \(0\.0, 1\.2\)",
    ),
    Case(
        "wall_thickness",
        "object",
        lambda c: st.wall_thickness(ONES, "septum", voxel_size_mm=6.4),
        ValueError,
        r"\blv\b",
        r"LVGeometry, got str",
    ),
    Case(
        "wall_thickness",
        "units",
        lambda c: st.wall_thickness(ONES, LV, voxel_size_mm=-6.4),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got -6\.4",
    ),
    Case(
        "wall_thickness",
        "nan",
        lambda c: st.wall_thickness(_with(NAN, (1, 1, 1)), LV, voxel_size_mm=6.4),
        ValueError,
        r"volume",
        r"NaN or infinite voxels; values must be finite",
    ),
    # --- filters -------------------------------------------------------------------------
    Case(
        "gaussian_filter_mm",
        "negative",
        lambda c: st.gaussian_filter_mm(ONES, -7.0, voxel_size_mm=6.4),
        ValueError,
        r"fwhm_mm",
        r">= 0, got -7\.0",
    ),
    Case(
        "gaussian_filter_mm",
        "nan",
        lambda c: st.gaussian_filter_mm(_with(NAN, (0, 0, 0)), 7.0, voxel_size_mm=6.4),
        ValueError,
        r"volume",
        r"finite everywhere \(it holds NaN or inf\)",
    ),
    Case(
        "gaussian_filter_mm",
        "units",
        lambda c: st.gaussian_filter_mm(ONES, 7.0, voxel_size_mm=0.0),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got 0\.0",
    ),
    Case(
        "gaussian_filter_mm",
        "range",
        lambda c: st.gaussian_filter_mm(ONES, 7.0, voxel_size_mm=6.4, axes=(3,)),
        ValueError,
        r"axes",
        r"valid: -3 to 2",
    ),
    Case(
        "butterworth_filter",
        "range",
        lambda c: st.butterworth_filter(
            ONES, order=5, cutoff_cycles_per_cm=1.0, voxel_size_mm=6.4
        ),
        ValueError,
        r"cutoff_cycles_per_cm",
        r"Nyquist frequency 0\.78125 cycles/cm.*got 1\.0",
    ),
    Case(
        "butterworth_filter",
        "range",
        lambda c: st.butterworth_filter(
            ONES, order=0, cutoff_cycles_per_cm=0.41, voxel_size_mm=6.4
        ),
        ValueError,
        r"order",
        r"integer >= 1, got 0",
        note="order",
    ),
    Case(
        "butterworth_filter",
        "dtype",
        lambda c: st.butterworth_filter(
            np.full((4, 4), "x"), order=5, cutoff_cycles_per_cm=0.41, voxel_size_mm=6.4
        ),
        ValueError,
        r"data",
        r"real numbers, got dtype <U1",
    ),
    Case(
        "butterworth_filter",
        "range",
        lambda c: st.butterworth_filter(
            ONES, order=5, cutoff_cycles_per_cm=0.41, voxel_size_mm=6.4, convention="sqrt"
        ),
        ValueError,
        r"convention",
        r"\('classic', 'squared'\), got 'sqrt'",
        note="convention",
    ),
    Case(
        "optimal_fwhm",
        "dtype",
        lambda c: st.optimal_fwhm(ONES, ONES, region=ONES, voxel_size_mm=6.4),
        ValueError,
        r"region",
        r"boolean mask, got dtype float32",
    ),
    Case(
        "optimal_fwhm",
        "negative",
        lambda c: st.optimal_fwhm(
            ONES, ONES, region=MASK, voxel_size_mm=6.4, fwhms_mm=[-5.0, 5.0]
        ),
        ValueError,
        r"fwhms_mm",
        r">= 0 mm, got minimum -5",
    ),
    Case(
        "optimal_fwhm",
        "shape",
        lambda c: st.optimal_fwhm(ONES, np.ones((4, 4, 5)), region=MASK, voxel_size_mm=6.4),
        ValueError,
        r"ideal",
        r"shape of noisy \(4, 4, 4\), got \(4, 4, 5\)",
    ),
    # --- polar map and reorientation -----------------------------------------------------
    Case(
        "polar_map",
        "shape",
        lambda c: st.polar_map(np.ones((4, 4)), LV, voxel_size_mm=6.4),
        ValueError,
        r"volume",
        r"3-D array \(z, y, x\), got shape \(4, 4\)",
    ),
    Case(
        "polar_map",
        "object",
        lambda c: st.polar_map(ONES, None, voxel_size_mm=6.4),
        ValueError,
        r"\blv\b",
        r"LVGeometry.*got NoneType",
    ),
    Case(
        "polar_map",
        "range",
        lambda c: st.polar_map(ONES, LV, voxel_size_mm=6.4, n_angles=6),
        ValueError,
        r"n_angles",
        r"integer >= 12, got 6",
    ),
    Case(
        "polar_map",
        "range",
        lambda c: st.polar_map(
            ONES,
            LV,
            voxel_size_mm=6.4,
            base_apex_mm=(30.0, -30.0),
            max_radius_mm=20.0,
            apex_cap_mm=5.0,
        ),
        ValueError,
        r"base_apex_mm",
        r"base < apex, got \(30, -30\)",
        note="base-apex",
    ),
    Case(
        "aha17",
        "object",
        lambda c: st.aha17({"values": []}),
        ValueError,
        r"polar_map",
        r"PolarMap, got dict",
    ),
    Case(
        "PolarMap",
        "shape",
        lambda c: st.PolarMap(np.zeros((3, 4)), np.ones(2), np.ones(4), np.ones(2), (0, 1), 9.0),
        ValueError,
        r"values",
        r"\(2, 4\).*got shape \(3, 4\)",
    ),
    Case(
        "show_polar_map",
        "object",
        lambda c: st.show_polar_map(np.zeros((3, 60))),
        ValueError,
        r"polar_map",
        r"PolarMap, got ndarray",
    ),
    Case(
        "reorient",
        "range",
        lambda c: st.reorient(ONES, LV, voxel_size_mm=6.4, view="SAX"),
        ValueError,
        r"view",
        r"'SA', 'VLA', 'HLA', got 'SAX'",
    ),
    Case(
        "reorient",
        "nan",
        lambda c: st.reorient(_with(NAN, (2, 2, 2)), LV, voxel_size_mm=6.4),
        ValueError,
        r"volume",
        r"1 NaN or infinite values",
    ),
    Case(
        "reorient",
        "range",
        lambda c: st.reorient(ONES, LV, voxel_size_mm=6.4, order=7),
        ValueError,
        r"order",
        r"0\.\.5, got 7",
        note="order",
    ),
    Case(
        "reorient_back",
        "shape",
        lambda c: st.reorient_back(ONES, LV, voxel_size_mm=6.4, shape=(0, 4, 4)),
        ValueError,
        r"shape",
        r"three positive integers, got \(0, 4, 4\)",
    ),
    Case(
        "reorient_back",
        "units",
        lambda c: st.reorient_back(ONES, LV, voxel_size_mm=-1.0, shape=(4, 4, 4)),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got -1\.0",
    ),
    # --- training data ---------------------------------------------------------------
    Case(
        "build_training_set",
        "range",
        lambda c: st.build_training_set(n_phantoms=0, seed=0),
        ValueError,
        r"n_phantoms",
        r"integer >= 1, got 0",
    ),
    Case(
        "build_training_set",
        "range",
        lambda c: st.build_training_set(n_phantoms=2, seed=0, workers=0),
        ValueError,
        r"workers",
        r"integer in 1\.\.256, got 0",
        note="workers",
    ),
    Case(
        "build_training_set",
        "range",
        lambda c: st.build_training_set(n_phantoms=2, realizations=1, seed=0),
        ValueError,
        r"realizations",
        r"integer >= 2, got 1",
        note="realizations",
    ),
    Case(
        "build_training_set",
        "range",
        lambda c: st.build_training_set(n_phantoms=2, count_levels=(0.0, 50.0), seed=0),
        ValueError,
        r"count_levels",
        r"percentages > 0, got \(0\.0, 50\.0\)",
        note="level",
    ),
    Case(
        "build_training_set",
        "range",
        lambda c: st.build_training_set(n_phantoms=2, seed=0, validation_fraction=1.0),
        ValueError,
        r"validation_fraction",
        r"\[0, 1\), got 1\.0",
        note="validation",
    ),
    Case(
        "build_training_set",
        "shape",
        lambda c: st.build_training_set(n_phantoms=2, seed=0, crop_px=(48,)),
        ValueError,
        r"crop_px",
        r"\(height, width\) in pixels, got \(48,\)",
    ),
    Case(
        "build_training_set",
        "negative",
        lambda c: st.build_training_set(n_phantoms=2, seed=-1),
        ValueError,
        r"seed",
        r"integer >= 0, got -1",
    ),
    Case(
        "build_training_set",
        "object",
        lambda c: st.build_training_set(n_phantoms=2, seed=0, geometry="ASNC"),
        ValueError,
        r"geometry",
        r"SpectGeometry or None, got str",
    ),
    Case(
        "build_training_set",
        "negative",
        lambda c: st.build_training_set(n_phantoms=2, seed=0, slab_half_width_mm=-60.0),
        ValueError,
        r"slab_half_width_mm",
        r">= 0 mm or None, got -60\.0",
        note="slab",
    ),
    Case(
        "build_training_set",
        "units",
        lambda c: st.build_training_set(n_phantoms=2, seed=0, voxel_size_mm=0.0),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got 0\.0",
    ),
    Case(
        "synthetic_training_set",
        "negative",
        lambda c: st.synthetic_training_set(counts_per_unit=-20.0),
        ValueError,
        r"counts_per_unit",
        r"> 0, got -20\.0",
    ),
    Case(
        "synthetic_training_set",
        "shape",
        lambda c: st.synthetic_training_set(slice_shape=(0, 24)),
        ValueError,
        r"slice_shape\[0\]",
        r"integer >= 1, got 0",
    ),
    Case(
        "synthetic_training_set",
        "dtype",
        lambda c: st.synthetic_training_set(count_levels="25, 100"),
        ValueError,
        r"count_levels",
        r"sequence of percentages, got '25, 100'",
    ),
    # --- network, training, inference, weights (no TensorFlow operation before the error) -
    Case(
        "win5rb",
        "range",
        lambda c: st.win5rb(kernel_size=4),
        ValueError,
        r"kernel_size",
        r"an odd integer \(same padding\) >= 1, got 4",
    ),
    Case(
        "win5rb",
        "range",
        lambda c: st.win5rb(filters=0),
        ValueError,
        r"filters",
        r"integer >= 1, got 0",
        note="filters",
    ),
    Case(
        "win5rb",
        "dtype",
        lambda c: st.win5rb(filters="wide"),
        ValueError,
        r"filters",
        r"integer >= 1, got 'wide'",
    ),
    Case(
        "TrainingConfig",
        "range",
        lambda c: st.TrainingConfig(epochs=0),
        ValueError,
        r"epochs",
        r"integer >= 1, got 0",
    ),
    Case(
        "TrainingConfig",
        "range",
        lambda c: st.TrainingConfig(learning_rate=2.0),
        ValueError,
        r"learning_rate",
        r"\(0, 1\), got 2\.0",
        note="learning-rate",
    ),
    Case(
        "TrainingConfig",
        "shape",
        lambda c: st.TrainingConfig(crop_px=(16,)),
        ValueError,
        r"crop_px",
        r"\(height, width\) or None, got \(16,\)",
    ),
    Case(
        "TrainingConfig",
        "dtype",
        lambda c: st.TrainingConfig(min_delta="small"),
        ValueError,
        r"min_delta",
        r"finite number >= 0, got 'small'",
    ),
    Case(
        "train_noise2noise",
        "object",
        lambda c: _train(c, st.train_noise2noise, _data()),
        ValueError,
        r"data\.noise2noise",
        r"not the whole TrainingData",
    ),
    Case(
        "train_noise2noise",
        "object",
        lambda c: _train(c, st.train_noise2noise, _data().noise2noise, config={"epochs": 1}),
        ValueError,
        r"config",
        r"TrainingConfig, got dict",
        note="config",
    ),
    Case(
        "train_noise2noise",
        "object",
        lambda c: _train(c, st.train_noise2noise, _data().noise2noise, model="win5rb"),
        ValueError,
        r"model",
        r"configuration dict or a function.*got str",
        note="model",
    ),
    Case(
        "train_noise2noise",
        "range",
        lambda c: _train(c, st.train_noise2noise, _data().noise2noise, model={"filters": 0}),
        ValueError,
        r"filters",
        r"integer >= 1, got 0",
    ),
    Case(
        "train_noise2noise",
        "dtype",
        lambda c: _train(c, st.train_noise2noise, _data().noise2noise, model={"filterz": 4}),
        ValueError,
        r"model configuration",
        r"unknown key\(s\) \['filterz'\]",
    ),
    Case(
        "train_noise2noise",
        "object",
        lambda c: _train(c, st.train_noise2noise, _data().noise2noise, work_dir=None),
        ValueError,
        r"work_dir",
        r"str or os\.PathLike\), got NoneType",
        note="work-dir",
    ),
    Case(
        "train_supervised",
        "object",
        lambda c: _train(c, st.train_supervised, _data().noise2noise, None),
        ValueError,
        r"reference",
        r"IdealStore, got NoneType",
    ),
    Case(
        "train_count_split",
        "object",
        lambda c: _train(c, st.train_count_split, _data().noise2noise),
        ValueError,
        r"count_split",
        r"got a set of kind 'repeated'",
    ),
    # --- benchmark -----------------------------------------------------------------
    Case(
        "run_benchmark",
        "range",
        lambda c: st.run_benchmark(c.tmp / "r.jsonl", phantoms=[8]),
        ValueError,
        r"phantoms",
        r"in 0\.\.7 .*got 8",
    ),
    Case(
        "run_benchmark",
        "object",
        lambda c: st.run_benchmark(c.tmp / "r.jsonl", methods=["gausian"], phantoms=[0]),
        ValueError,
        r"methods",
        r"'gausian' is neither a benchmark method",
    ),
    Case(
        "run_benchmark",
        "negative",
        lambda c: st.run_benchmark(c.tmp / "r.jsonl", count_levels=[-25.0]),
        ValueError,
        r"count_level",
        r"got -25",
    ),
    Case(
        "run_benchmark",
        "nan",
        lambda c: st.run_benchmark(c.tmp / "r.jsonl", count_levels=[NAN]),
        ValueError,
        r"count_level",
        r"got nan",
    ),
    Case(
        "run_benchmark",
        "dtype",
        lambda c: st.run_benchmark(c.tmp / "r.jsonl", realizations=2.5),
        ValueError,
        r"realizations",
        r"int >= 1, got 2\.5",
    ),
    Case(
        "run_benchmark",
        "corrupt",
        lambda c: st.run_benchmark(_write(c, "r.jsonl", "not json\n{}\n"), phantoms=[0]),
        ValueError,
        r"r\.jsonl, line 1",
        r"not a benchmark record",
    ),
    Case(
        "denoise",
        "negative",
        lambda c: _denoise(c, -ONES),
        ValueError,
        r"volume",
        r">= 0 \(activity\), got minimum -1\.0 at 64 voxel",
    ),
    Case(
        "denoise",
        "nan",
        lambda c: _denoise(c, _with(NAN, (1, 2, 3))),
        ValueError,
        r"volume",
        r"1 NaN or infinite value\(s\), the first at index \(1, 2, 3\)",
    ),
    Case(
        "denoise",
        "shape",
        lambda c: _denoise(c, np.ones((4, 4))),
        ValueError,
        r"volume",
        r"\(z, y, x\) or \(K, z, y, x\).*got shape \(4, 4\)",
    ),
    Case(
        "denoise",
        "dtype",
        lambda c: _denoise(c, np.ones((2, 4, 4), dtype=bool)),
        ValueError,
        r"volume",
        r"real numbers.*got dtype bool",
    ),
    Case(
        "denoise",
        "units",
        lambda c: _denoise(c, model=_tiny_model(), voxel_size_mm=3.2),
        ValueError,
        r"voxel_size_mm",
        r"5\.76-7\.04 mm\), got 3\.2 mm",
    ),
    Case(
        "denoise",
        "units",
        lambda c: _denoise_with_shipped_manifest(c, voxel_size_mm=3.2),
        ValueError,
        r"voxel_size_mm",
        r"shipped model 'win5rb_n2n_paper'.*5\.76-7\.04 mm",
        note="shipped-manifest",
    ),
    Case(
        "denoise",
        "range",
        lambda c: _denoise(c, batch_size=0),
        ValueError,
        r"batch_size",
        r"integer >= 1, got 0",
    ),
    Case(
        "denoise",
        "range",
        lambda c: _denoise(c, slab=(3, 1)),
        ValueError,
        r"slab",
        r"0 <= z_start < z_stop <= 4.*got \(3, 1\)",
        note="slab",
    ),
    Case(
        "denoise",
        "object",
        lambda c: _denoise(c, model="win5rb"),
        TypeError,
        r"model",
        r"keras\.Model.*got str",
    ),
    Case(
        "load_pretrained",
        "missing",
        lambda c: st.load_pretrained(directory=c.tmp),
        FileNotFoundError,
        r"win5rb_n2n_paper\.weights\.h5",
        r"python -m spect_tutorial\.train --config paper",
    ),
    Case(
        "load_pretrained",
        "corrupt",
        lambda c: st.load_pretrained(
            "tiny",
            directory=_weights_dir(c, {"tiny.json": '{"voxel', "tiny.weights.h5": b"\x89HDF"}),
        ),
        ValueError,
        r"tiny\.json",
        r"unreadable \(corrupt or not JSON\)",
    ),
    Case(
        "load_pretrained",
        "dtype",
        lambda c: st.load_pretrained("../evil"),
        ValueError,
        r"name",
        r"no '\.\.', no folders.*got '\.\./evil'",
    ),
    Case(
        "save_weights",
        "units",
        lambda c: st.save_weights(None, c.tmp, "m", manifest={"voxel_size_mm": -6.4}),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got -6\.4",
    ),
    Case(
        "save_weights",
        "object",
        lambda c: st.save_weights(None, c.tmp, "m", manifest={"command": "train"}),
        ValueError,
        r"manifest",
        r"must contain 'voxel_size_mm'",
        note="manifest",
    ),
    Case(
        "save_weights",
        "object",
        lambda c: st.save_weights("model", c.tmp, "m", manifest={"voxel_size_mm": 6.4}),
        TypeError,
        r"model",
        r"keras\.Model, got str",
    ),
    # --- issue 17: files a user owns, untrusted files, sizes before allocations ----------
    Case(
        "run_benchmark",
        "corrupt",
        lambda c: st.run_benchmark(_write(c, "n.txt", "notes"), methods=["noisy"], phantoms=[1]),
        ValueError,
        r"n\.txt",
        r"not a benchmark record.*left unchanged",
        note="user-file-not-truncated",
    ),
    Case(
        "run_benchmark",
        "corrupt",
        lambda c: st.run_benchmark(
            _write(c, "r.jsonl", _record_line() + '{"note":1}'), methods=["noisy"], phantoms=[1]
        ),
        ValueError,
        r"r\.jsonl, line 2",
        r"not a benchmark record \(missing",
        note="complete-invalid-last-line",
    ),
    Case(
        "run_benchmark",
        "corrupt",
        lambda c: st.run_benchmark(
            _write(c, "r.jsonl", _record_line() * 2), methods=["noisy"], phantoms=[1]
        ),
        ValueError,
        r"r\.jsonl, line 2",
        r"duplicate record \('noisy', 100\.0, 0, 0\).*line 1",
        note="duplicate-record",
    ),
    Case(
        "run_benchmark",
        "dtype",
        lambda c: st.run_benchmark(
            _write(c, "r.jsonl", _record_line(count_level="abc")), methods=["noisy"]
        ),
        ValueError,
        r"r\.jsonl, line 1: count_level",
        r"finite number of percent > 0, got 'abc'",
        note="record-count-level-abc",
    ),
    Case(
        "run_benchmark",
        "object",
        lambda c: st.run_benchmark(_write(c, "r.jsonl", _record_line(phantom=None)), phantoms=[1]),
        ValueError,
        r"r\.jsonl, line 1: phantom",
        r"integer >= 0, got None",
        note="record-phantom-null",
    ),
    Case(
        "run_benchmark",
        "range",
        lambda c: st.run_benchmark(c.tmp / "r.jsonl", methods=["noisy", "noisy"]),
        ValueError,
        r"methods",
        r"must not repeat a value, got \['noisy'\]",
        note="repeated-method",
    ),
    Case(
        "run_benchmark",
        "range",
        lambda c: st.run_benchmark(c.tmp / "r.jsonl", methods=["noisy"], phantoms=[1, 1]),
        ValueError,
        r"phantoms",
        r"must not repeat a value, got \[1\]",
        note="repeated-phantom",
    ),
    Case(
        "run_benchmark",
        "object",
        lambda c: st.run_benchmark(c.tmp, methods=["noisy"], phantoms=[1]),
        ValueError,
        r"out \(--out\)",
        r"is a folder",
        note="out-folder",
    ),
    Case(
        "load_interfile",
        "range",
        lambda c: st.load_interfile(_interfile(c, matrix=(2**32, 2**32))),
        ValueError,
        r"h\.h33",
        r"shape \(1, 4294967296, 4294967296\).*more than the limit of 4\.0 GiB",
        note="size-product-overflow",
    ),
    Case(
        "load_interfile",
        "object",
        lambda c: st.load_interfile(_interfile(c, data="fifo")),
        ValueError,
        r"data file .*fifo",
        r"not a regular file",
        note="fifo",
    ),
    Case(
        "load_interfile",
        "object",
        lambda c: st.load_interfile(_interfile(c, name="../outside.a00", folder="sub")),
        ValueError,
        r"outside\.a00",
        r"outside the header's folder.*allow_outside=True",
        note="parent-folder",
    ),
    Case(
        "load_interfile",
        "object",
        lambda c: st.load_interfile(_interfile(c, name="/etc/hostname")),
        ValueError,
        r"/etc/hostname",
        r"outside the header's folder",
        note="absolute-path",
    ),
    Case(
        "load_interfile",
        "nan",
        lambda c: st.load_interfile(_interfile(c, values=[1.0, NAN, 1.0, 1.0])),
        ValueError,
        r"data file .*image\.a00",
        r"1 NaN or infinite value\(s\)",
    ),
    Case(
        "load_interfile",
        "units",
        lambda c: st.load_interfile(_interfile(c, pixel_mm=0.0)),
        ValueError,
        r"scaling factor \(mm/pixel\) \[1\]",
        r"pixel size > 0 mm, got 0\.0",
    ),
    Case(
        "load_interfile",
        "negative",
        lambda c: st.load_interfile(_interfile(c, pixel_mm=-3.2)),
        ValueError,
        r"scaling factor \(mm/pixel\) \[1\]",
        r"pixel size > 0 mm, got -3\.2",
    ),
    Case(
        "load_xcat_raw",
        "range",
        lambda c: st.load_xcat_raw(c.tmp / "big.bin", shape=(2**32, 2**32, 1), voxel_size_mm=3.2),
        ValueError,
        r"XCAT raw file .*big\.bin",
        r"18446744073709551616 elements.*more than the limit",
        note="size-product-overflow",
    ),
    Case(
        "load_phantom",
        "corrupt",
        lambda c: st.load_phantom(_npz(c, {"metadata": np.zeros(1, np.uint8)}, huge="activity")),
        ValueError,
        r"bad\.npz.*activity\.npy",
        r"shape \(100000000, 100000000\).*more than the limit",
        note="declared-petabytes",
    ),
    Case(
        "load_phantom",
        "corrupt",
        lambda c: _load_phantom_with_budget(c, 1 << 16),
        ValueError,
        r"phantom\.npz.*activity\.npy",
        r"would need .* more than the limit of 64\.0 KiB",
        note="declared-size-over-budget",
    ),
    Case(
        "load_phantom",
        "corrupt",
        lambda c: st.load_phantom(
            _npz(c, {"metadata": np.frombuffer(_deep_json(200).encode(), np.uint8)})
        ),
        ValueError,
        r"bad\.npz.* metadata",
        r"200 levels deep, more than the limit of 64",
        note="deep-json",
    ),
    Case(
        "load_pretrained",
        "corrupt",
        lambda c: st.load_pretrained(
            "tiny",
            directory=_weights_dir(c, {"tiny.json": _deep_json(200), "tiny.weights.h5": b""}),
        ),
        ValueError,
        r"tiny\.json",
        r"200 levels deep, more than the limit of 64",
        note="deep-json",
    ),
    Case(
        "load_pretrained",
        "range",
        lambda c: st.load_pretrained(
            "tiny", directory=_manifest_dir(c, {"filters": 20000, "kernel_size": 7, "depth": 5})
        ),
        ValueError,
        r"model_config\['filters'\]",
        r"integer in 1\.\.1024, got 20000",
        note="filters-limit",
    ),
    Case(
        "load_pretrained",
        "corrupt",
        lambda c: st.load_pretrained(
            "tiny", directory=_manifest_dir(c, {"filters": 100, "kernel_size": 7, "depth": 5})
        ),
        ValueError,
        r"tiny\.json",
        r"declares a WIN5-RB .* bytes, but the weights file 'tiny\.weights\.h5' has only 4 bytes",
        note="config-vs-file-size",
    ),
    Case(
        "nrmse",
        "nan",
        lambda c: st.nrmse(_with(NAN, (1, 2, 3)), ONES, MASK),
        ValueError,
        r"^image",
        r"1 NaN or infinite value\(s\)",
        note="image-nan",
    ),
    Case(
        "ssim",
        "nan",
        lambda c: st.ssim(ONES, _with(INF, (0, 0, 0)), region=MASK),
        ValueError,
        r"^reference",
        r"1 NaN or infinite value\(s\)",
        note="reference-inf",
    ),
    Case(
        "coefficient_of_variation",
        "nan",
        lambda c: st.coefficient_of_variation(_with(NAN, (0, 0, 0)), MASK),
        ValueError,
        r"image",
        r"1 NaN or infinite value\(s\)",
        note="image-nan",
    ),
    Case(
        "gaussian_filter_mm",
        "range",
        lambda c: st.gaussian_filter_mm(np.full((4, 4, 4), 1e300), 8.0, voxel_size_mm=6.4),
        ValueError,
        r"^volume",
        r"up to 1e\+300, beyond float32's largest finite value",
        note="overflows-float32",
    ),
    Case(
        "butterworth_filter",
        "range",
        lambda c: st.butterworth_filter(
            np.full((4, 4, 4), 1e300), order=5, cutoff_cycles_per_cm=0.4, voxel_size_mm=6.4
        ),
        ValueError,
        r"^data",
        r"beyond float32's largest finite value",
        note="overflows-float32",
    ),
    Case(
        "gaussian_filter_mm",
        "range",
        lambda c: st.gaussian_filter_mm(ONES, 1e9, voxel_size_mm=6.4),
        ValueError,
        r"fwhm_mm=1000000000\.0",
        r"Gaussian kernel .* would need .* more than the limit",
        note="huge-kernel",
    ),
    Case(
        "make_phantom",
        "range",
        lambda c: st.make_phantom(shape=(4096, 4096, 4096)),
        ValueError,
        r"shape \(4096, 4096, 4096\)",
        r"2\.0 TiB .* more than the limit of 4\.0 GiB",
        note="too-large",
    ),
    Case(
        "make_phantom",
        "dtype",
        lambda c: st.make_phantom(shape=(8, 8, 8), voxel_size_mm="6.4"),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got '6\.4' \(str\)",
        note="voxel-size-string",
    ),
    Case(
        "phantom_from_arrays",
        "dtype",
        lambda c: st.phantom_from_arrays(ONES, ONES * 0.15, voxel_size_mm=True),
        ValueError,
        r"voxel_size_mm",
        r"> 0, got True \(bool\)",
        note="voxel-size-bool",
    ),
    Case(
        "simulate_study",
        "range",
        lambda c: st.simulate_study(_phantom(), count_level=100, n_realizations=10**6),
        ValueError,
        r"n_realizations=1000000",
        r"more than the limit",
        note="too-many-realizations",
    ),
    Case(
        "simulate_study",
        "range",
        lambda c: st.simulate_study(_phantom(), count_level=1e20),
        ValueError,
        r"count_level",
        r"<= 1e\+09 percent .*got 1e\+20",
        note="count-level-1e20",
    ),
    Case(
        "profile",
        "range",
        lambda c: st.profile(ONES, (0.0, 0.0, 0.0), (1e9, 0.0, 0.0), voxel_size_mm=6.4),
        ValueError,
        r"n_samples=625000001 over 1e\+09 mm",
        r"37\.3 GiB .* more than the limit",
        note="too-long",
    ),
    Case(
        "poisson_realizations",
        "range",
        lambda c: st.poisson_realizations(np.full(3, 1e20), seed=0),
        ValueError,
        r"expected_counts",
        r"up to 1e\+20 counts, more than Poisson sampling supports \(1e\+18",
        note="lam-too-large",
    ),
    Case(
        "split_counts",
        "range",
        lambda c: st.split_counts(np.array([1e19]), seed=0),
        ValueError,
        r"^counts",
        r"up to 1e\+19, more than the 9007199254740992 \(2\*\*53\)",
        note="too-many-counts",
    ),
    Case(
        "realization_seed",
        "range",
        lambda c: st.realization_seed(0, 1e308),
        ValueError,
        r"count_level",
        r"<= 1e\+09 percent .*got 1e\+308",
        note="count-level-1e308",
    ),
    Case(
        "Study",
        "dtype",
        lambda c: _widget("FilterExplorer", {}, max_fwhm_mm="big"),
        ValueError,
        r"max_fwhm_mm",
        r"finite number of mm > 0, got 'big' \(str\)",
        note="max-fwhm-string",
    ),
    Case(
        "Study",
        "shape",
        lambda c: _widget("show_filter_grid", {}, fwhms_mm=[]),
        ValueError,
        r"fwhms_mm",
        r"at least one value, got \[\]",
        note="no-fwhms",
    ),
    Case(
        "Study",
        "dtype",
        lambda c: _widget("count_level_studies", _phantom(), count_levels="100"),
        ValueError,
        r"count_levels",
        r"sequence of numbers \(percent\), got '100'",
        note="count-levels-string",
    ),
    Case(
        "Study",
        "nan",
        lambda c: _show_count_levels({NAN: "study"}),
        ValueError,
        r"studies key nan \(a count level\)",
        r"> 0, got nan",
        note="count-level-key-nan",
    ),
    Case(
        "Study",
        "negative",
        lambda c: _show_count_levels({-25.0: "study"}),
        ValueError,
        r"studies key -25\.0 \(a count level\)",
        r"> 0, got -25\.0",
        note="count-level-key-negative",
    ),
]

# A manifest of the shipped model without its weights file: enough for denoise to refuse
# a voxel size from the JSON alone, before anything is loaded.
_MANIFEST = json.dumps(
    {
        "model_config": {"filters": 2, "kernel_size": 3, "depth": 2},
        "weights_file": "win5rb_n2n_paper.weights.h5",
        "weights_sha256": "0" * 64,
        "voxel_size_mm": 6.4,
    }
)


def _denoise_with_shipped_manifest(ctx: SimpleNamespace, **options: Any) -> Any:
    """``denoise`` with the default model, whose manifest (only) is in the weights folder."""
    _weights_dir(ctx, {"win5rb_n2n_paper.json": _MANIFEST})
    return _denoise(ctx, model=None, **options)


# --- helpers of the issue-17 cases ----------------------------------------------------


def _record_line(**changes: Any) -> str:
    """One benchmark record line (the key fields), with ``changes``."""
    record = {"method": "noisy", "count_level": 100.0, "phantom": 0, "realization": 0}
    return json.dumps({**record, **changes}) + "\n"


def _interfile(
    ctx: SimpleNamespace,
    *,
    matrix: tuple[int, int] = (2, 2),
    name: str = "image.a00",
    data: str = "file",
    values: Any = (1.0, 2.0, 3.0, 4.0),
    pixel_mm: float = 3.2,
    folder: str = "",
) -> Path:
    """An Interfile header ``h.h33`` (in ``folder``) and its float32 data file."""
    where = ctx.tmp / folder
    where.mkdir(parents=True, exist_ok=True)
    target = (where / name).resolve()
    if data == "fifo":
        name = "fifo"
        os.mkfifo(where / name)
    elif not name.startswith("/"):
        np.asarray(values, dtype="<f4").tofile(target)
    header = where / "h.h33"
    header.write_text(
        f"!INTERFILE :=\n!name of data file := {name}\n!number format := float\n"
        "imagedata byte order := LITTLEENDIAN\n"
        f"!matrix size [1] := {matrix[0]}\n!matrix size [2] := {matrix[1]}\n"
        f"scaling factor (mm/pixel) [1] := {pixel_mm}\n!END OF INTERFILE :=\n",
        encoding="utf-8",
    )
    return header


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz(ctx: SimpleNamespace, arrays: dict[str, np.ndarray], *, huge: str = "") -> Path:
    """An ``.npz`` of ``arrays``; ``huge`` adds a member whose header declares 1e16 float32."""
    import zipfile

    path = ctx.tmp / "bad.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in arrays.items():
            archive.writestr(f"{key}.npy", _npy_bytes(array))
        if huge:
            header = _npy_bytes(np.zeros(0, np.float32)).replace(
                b"(0,)", b"(100000000, 100000000)"
            )
            archive.writestr(f"{huge}.npy", header)
    return path


def _load_phantom_with_budget(ctx: SimpleNamespace, budget: int) -> Any:
    """Load a valid 32^3 phantom file with a memory budget below its arrays' size."""
    from spect_tutorial._validation import MAX_ARRAY_BYTES_ENV

    path = st.save_phantom(_phantom(), ctx.tmp / "phantom.npz")
    ctx.monkeypatch.setenv(MAX_ARRAY_BYTES_ENV, str(budget))
    return st.load_phantom(path)


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def _manifest_dir(ctx: SimpleNamespace, config: dict[str, int]) -> Path:
    """A weights folder with a 4-byte weights file and a manifest (matching hash) for it."""
    import hashlib

    weights = b"\x89HDF"
    manifest = {
        "model_config": config,
        "weights_file": "tiny.weights.h5",
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "voxel_size_mm": 6.4,
    }
    return _weights_dir(ctx, {"tiny.json": json.dumps(manifest), "tiny.weights.h5": weights})


def _widget(name: str, *args: Any, **options: Any) -> Any:
    from spect_tutorial import widgets

    return getattr(widgets, name)(*args, **options)


def _show_count_levels(studies: Any) -> Any:
    from spect_tutorial.widgets import show_count_levels

    return show_count_levels(studies)


# ---------------------------------------------------------------------------
# Trip wires: no TensorFlow operation may run before the error
# ---------------------------------------------------------------------------


class TensorFlowTouched(AssertionError):
    """Raised by a trip wire: a bad input reached Keras/TensorFlow before being refused."""


def _trip_wire(name: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise TensorFlowTouched(f"TensorFlow was touched ({name}) before the input was checked")

    return fail


def _install_trip_wires(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from spect_tutorial import inference, training

    monkeypatch.setattr(keras, "Input", _trip_wire("keras.Input: building a model"))
    monkeypatch.setattr(keras.Model, "load_weights", _trip_wire("keras.Model.load_weights"))
    monkeypatch.setattr(keras.Model, "save_weights", _trip_wire("keras.Model.save_weights"))
    monkeypatch.setattr(inference, "_predict_slices", _trip_wire("denoise: prediction"))
    monkeypatch.setattr(inference, "load_pretrained", _trip_wire("denoise: loading weights"))
    monkeypatch.setattr(training, "_enable_determinism", _trip_wire("seeding TensorFlow"))
    monkeypatch.setattr(training, "_build_model", _trip_wire("training: building the model"))


# ---------------------------------------------------------------------------
# The catalogue test
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_a_clear_error(case, tmp_path, monkeypatch):
    ctx = SimpleNamespace(tmp=tmp_path, monkeypatch=monkeypatch)
    # No weights anywhere unless a case puts them there: reaching a default model fails.
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "no_weights"))
    _phantom(), _system(), _data(), _tiny_model()  # shared inputs, built before the wires
    _install_trip_wires(monkeypatch)
    if issubclass(case.error, Warning):
        with pytest.warns(case.error) as record:
            case.call(ctx)
        message = " | ".join(str(warning.message) for warning in record)
    else:
        with pytest.raises(case.error) as info:
            case.call(ctx)
        message = str(info.value)
    assert re.search(case.names, message), f"the message does not name {case.names!r}: {message}"
    assert re.search(case.shows, message), (
        f"the message does not show the value or range {case.shows!r}: {message}"
    )


def test_the_catalogue_covers_every_public_name_and_every_kind_of_bad_input():
    assert len(CASES) >= 60
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    public = {name for name in st.__all__ if name != "__version__"}
    targets = {case.target for case in CASES}
    assert public - targets == set(), f"public names without a bad-input case: {public - targets}"
    assert targets - public == set(), f"cases for unknown public names: {targets - public}"
    assert {case.kind for case in CASES} == set(KINDS)


def test_bad_input_is_refused_before_tensorflow_is_imported(tmp_path):
    """In a fresh interpreter: each bad call raises ValueError and TensorFlow never loads."""
    (tmp_path / "win5rb_n2n_paper.json").write_text(_MANIFEST, encoding="utf-8")
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import spect_tutorial as st

        ones = np.ones((4, 6, 6))
        nan = ones.copy()
        nan[1, 2, 3] = np.nan
        cases = {
            "denoise negative": lambda: st.denoise(-ones, voxel_size_mm=6.4),
            "denoise nan": lambda: st.denoise(nan, voxel_size_mm=6.4),
            "denoise shape": lambda: st.denoise(ones[0], voxel_size_mm=6.4),
            "denoise voxel size <= 0": lambda: st.denoise(ones, voxel_size_mm=0.0),
            "denoise voxel size vs manifest": lambda: st.denoise(ones, voxel_size_mm=3.2),
            "denoise batch_size": lambda: st.denoise(ones, voxel_size_mm=6.4, batch_size=0),
            "denoise slab": lambda: st.denoise(ones, voxel_size_mm=6.4, slab=(0, 9)),
            "load_pretrained name": lambda: st.load_pretrained("../evil"),
            "build_training_set": lambda: st.build_training_set(n_phantoms=0, seed=0),
            "synthetic_training_set": lambda: st.synthetic_training_set(counts_per_unit=0),
            "simulate_study": lambda: st.simulate_study("default"),
        }
        for name, call in cases.items():
            try:
                call()
            except ValueError:
                pass
            else:
                raise SystemExit(f"{name}: no ValueError")
        loaded = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        print("loaded:", loaded)
        """
    )
    environment = {**os.environ, WEIGHTS_DIR_ENV: str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert completed.stdout.strip() == "loaded: []"


# ---------------------------------------------------------------------------
# The train command: every argument checked before any computation (issue 17, 5-6)
# ---------------------------------------------------------------------------


def _train_cli_cases(tmp: Path) -> list[tuple[list[str], str]]:
    a_file = tmp / "a_file"
    a_file.write_text("not a folder")
    read_only = tmp / "read_only"
    read_only.mkdir(exist_ok=True)
    read_only.chmod(0o500)
    cases = [
        (["--name", "bad name"], r"--name 'bad name'"),
        (["--name", "../evil"], r"--name '\.\./evil'"),
        (["--out", str(a_file)], r"--out .* is a file"),
        (["--work-dir", str(a_file)], r"--work-dir .* is a file"),
        (["--filters", "0"], r"--filters must be an integer >= 1, got 0"),
        (["--epochs", "0"], r"--epochs must be an integer >= 1, got 0"),
        (["--batch-size", "0"], r"--batch-size must be an integer >= 1, got 0"),
        (["--steps-per-epoch", "0"], r"--steps-per-epoch must be .*got 0"),
        (["--validation-steps", "0"], r"--validation-steps must be .*got 0"),
        (["--patience", "0"], r"--patience must be .*got 0"),
        (["--n-phantoms", "0"], r"--n-phantoms must be .*got 0"),
        (["--realizations", "-1"], r"--realizations must be .*got -1"),
        (["--crop", "48", "0"], r"--crop must be .*got 0"),
        (["--train-crop", "0", "16"], r"--train-crop must be .*got 0"),
        (["--seed", "-1"], r"--seed must be an integer >= 0, got -1"),
        (["--learning-rate", "0"], r"--learning-rate must be in \(0, 1\), got 0"),
        (["--learning-rate", "nan"], r"--learning-rate must be in \(0, 1\), got nan"),
        (["--plateau", "1.5"], r"--plateau must be a fraction in \(0, 1\), got 1.5"),
        (["--plateau-min-epochs", "0"], r"--plateau-min-epochs must be an integer >= 1, got 0"),
        (["--validation-fraction", "1"], r"--validation-fraction must be in \[0, 1\)"),
        (["--count-levels", "50", "0"], r"--count-levels must be percentages > 0, got 0"),
        (["--initial-weights", str(tmp / "missing.weights.h5")], r"--initial-weights .*not"),
    ]
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder only stops others
        cases.append((["--out", str(read_only / "weights")], r"--out .* not writable"))
    return cases


def test_train_command_refuses_every_bad_argument_before_any_computation(
    tmp_path, monkeypatch, capsys
):
    from spect_tutorial import datasets
    from spect_tutorial import train as train_cli

    def no_simulation(**kwargs):
        raise AssertionError("the training set was built before the arguments were checked")

    monkeypatch.setattr(datasets, "build_training_set", no_simulation)
    base = ["--config", "teaching", "--out", str(tmp_path / "out"), "--quiet"]
    for extra, message in _train_cli_cases(tmp_path):
        with pytest.raises(SystemExit) as exit_info:
            train_cli.main([*base, *extra])
        assert exit_info.value.code == 2, extra
        error = capsys.readouterr().err
        assert re.search(message, error), (extra, error)
        assert not (tmp_path / "out").exists()  # nothing written either


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: _integer(2, "input_slices", unit="(a centre slice)", odd=True), "an odd integer"),
        (lambda: _integer(4.0, "k", whole_floats=True, odd=True), "k must be an odd integer"),
        (lambda: _integer(1, "win_size", minimum=3, odd=True), "an odd integer >= 3, got 1"),
    ],
)
def test_one_odd_integer_rule_names_the_argument(call, message):
    """Every 'odd' size (kernel, slice stack, SSIM window) is refused by one rule."""
    with pytest.raises(ValueError, match=message):
        call()


def test_the_odd_integer_rule_accepts_odd_numbers():
    assert _integer(3, "input_slices", odd=True) == 3
    assert _integer(7.0, "kernel_size", whole_floats=True, odd=True) == 7
