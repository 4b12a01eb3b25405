"""spect_tutorial: rebuild a study of unsupervised deep-learning denoising of
myocardial perfusion SPECT, step by step.

The package supports the chapters of the book: a digital cardiac-torso
phantom, SPECT acquisition and OSEM reconstruction, conventional filters, the
WIN5-RB network trained with Noise2Noise, and the evaluation tools.

Importing the package is fast and never imports TensorFlow: every public name
is loaded from its module on first use (PEP 562 module ``__getattr__``).

Examples
--------
>>> import spect_tutorial as st
>>> phantom = st.make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
>>> phantom.masks["myocardium"].sum() > 0
np.True_
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> module that defines it. Modules that need TensorFlow/Keras are
# listed here too and are only imported when one of their names is used.
_PUBLIC: dict[str, str] = {
    "LVGeometry": "frame",
    "Phantom": "phantom",
    "Anatomy": "phantom",
    "Uptake": "phantom",
    "Defect": "phantom",
    "make_phantom": "phantom",
    "random_phantom": "phantom",
    "save_phantom": "io",
    "load_phantom": "io",
    "phantom_from_arrays": "io",
    "load_interfile": "io",
    "load_xcat_raw": "io",
    "load_shipped_phantom": "data",
    "SpectGeometry": "acquisition",
    "SpectSystem": "acquisition",
    "scatter_projections": "acquisition",
    "counts_scale": "noise",
    "expected_counts": "noise",
    "poisson_realizations": "noise",
    "realization_seed": "noise",
    "split_counts": "noise",
    "add_image_noise": "noise",
    "osem": "recon",
    "mlem": "recon",
    "simulate_study": "study",
    "Study": "study",
    "nrmse": "metrics",
    "coefficient_of_variation": "metrics",
    "evaluation_region": "metrics",
    "gaussian_filter_mm": "filters",
    "butterworth_filter": "filters",
    "optimal_fwhm": "filters",
    "psnr": "metrics",
    "ssim": "metrics",
    "defect_ratio": "metrics",
    "normal_myocardium": "metrics",
    "profile": "metrics",
    "polar_map": "polar",
    "aha17": "polar",
    "PolarMap": "polar",
    "show_polar_map": "polar",
    "win5rb": "model",
    "build_training_set": "datasets",
    "synthetic_training_set": "datasets",
    "TrainingConfig": "training",
    "train_noise2noise": "training",
    "train_supervised": "training",
    "train_count_split": "training",
    "wall_thickness": "metrics",
    "denoise": "inference",
    "load_pretrained": "weights",
    "save_weights": "weights",
    "run_benchmark": "benchmark",
}

# ``reorient`` is both a submodule and its main function: importing the submodule
# (e.g. ``import spect_tutorial.reorient``) would rebind the package attribute to
# the module, so the function is bound eagerly, after the submodule has loaded.
from .reorient import reorient, reorient_back  # noqa: E402

__all__ = [
    "Anatomy",
    "Defect",
    "LVGeometry",
    "Phantom",
    "PolarMap",
    "SpectGeometry",
    "SpectSystem",
    "Study",
    "TrainingConfig",
    "Uptake",
    "__version__",
    "add_image_noise",
    "aha17",
    "build_training_set",
    "butterworth_filter",
    "coefficient_of_variation",
    "counts_scale",
    "defect_ratio",
    "denoise",
    "evaluation_region",
    "expected_counts",
    "gaussian_filter_mm",
    "load_interfile",
    "load_phantom",
    "load_pretrained",
    "load_shipped_phantom",
    "load_xcat_raw",
    "make_phantom",
    "mlem",
    "normal_myocardium",
    "nrmse",
    "optimal_fwhm",
    "osem",
    "phantom_from_arrays",
    "poisson_realizations",
    "polar_map",
    "profile",
    "psnr",
    "random_phantom",
    "realization_seed",
    "reorient",
    "reorient_back",
    "run_benchmark",
    "save_phantom",
    "save_weights",
    "scatter_projections",
    "show_polar_map",
    "simulate_study",
    "split_counts",
    "ssim",
    "synthetic_training_set",
    "train_count_split",
    "train_noise2noise",
    "train_supervised",
    "wall_thickness",
    "win5rb",
]

if TYPE_CHECKING:  # pragma: no cover - for static type checkers and IDEs only
    from .acquisition import SpectGeometry, SpectSystem, scatter_projections
    from .benchmark import run_benchmark
    from .data import load_shipped_phantom
    from .datasets import build_training_set, synthetic_training_set
    from .filters import butterworth_filter, gaussian_filter_mm, optimal_fwhm
    from .frame import LVGeometry
    from .inference import denoise
    from .io import load_interfile, load_phantom, load_xcat_raw, phantom_from_arrays, save_phantom
    from .metrics import (
        coefficient_of_variation,
        defect_ratio,
        evaluation_region,
        normal_myocardium,
        nrmse,
        profile,
        psnr,
        ssim,
        wall_thickness,
    )
    from .model import win5rb
    from .noise import (
        add_image_noise,
        counts_scale,
        expected_counts,
        poisson_realizations,
        realization_seed,
        split_counts,
    )
    from .phantom import Anatomy, Defect, Phantom, Uptake, make_phantom, random_phantom
    from .polar import PolarMap, aha17, polar_map, show_polar_map
    from .recon import mlem, osem
    from .study import Study, simulate_study
    from .training import (
        TrainingConfig,
        train_count_split,
        train_noise2noise,
        train_supervised,
    )
    from .weights import load_pretrained, save_weights


def __getattr__(name: str) -> Any:
    module_name = _PUBLIC.get(name)
    if module_name is None and name in ("plotting", "widgets", "glue"):
        # Light submodules reachable as attributes (``st.plotting.BOOK_STYLE``).
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    if module_name is None:
        raise AttributeError(f"module 'spect_tutorial' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
