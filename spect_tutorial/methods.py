"""The method and metric registries of the benchmark, and how a method is applied.

:data:`METHODS` lists every denoising method (its recorded name, label and
``apply``), :data:`METRICS` every summarised record field (label, decimals, which
way is better and how it is computed): adding a method or a metric touches one
entry here, and the runner (:mod:`spect_tutorial.benchmark`), the tables
(:mod:`spect_tutorial.results`, :mod:`spect_tutorial.readme`) and the widgets
follow. :func:`method_images` applies methods to one study exactly as the
benchmark does; :func:`heart_box_slices` is the evaluation's heart crop.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import no_repeats
from .filters import butterworth_filter, gaussian_filter_mm, optimal_fwhm
from .metrics import (
    coefficient_of_variation,
    noise_coefficient_of_variation,
    normal_myocardium,
    nrmse,
    psnr,
    ssim,
)
from .model import PAPER_CONFIG, TEACHING_CONFIG
from .recon import osem
from .study import Study

__all__ = [
    "BM4D_SIGMA_START",
    "BUTTERWORTH_CLINICAL",
    "METHODS",
    "METRICS",
    "Method",
    "MethodContext",
    "Metric",
    "bm4d_available",
    "check_method_names",
    "check_network_records",
    "heart_box_slices",
    "heart_slab",
    "image_metrics",
    "method_images",
    "method_labels",
    "network_method",
    "oracle_log_sweep",
]


#: Butterworth settings of clinical software (QGS default): order 5, 0.41 cycles/cm.
BUTTERWORTH_CLINICAL = {"order": 5, "cutoff_cycles_per_cm": 0.41}


#: First BM4D noise level of the oracle sweep at 100 % counts, as a fraction of the noisy
#: image's mean over the evaluation region; at other count levels it scales as
#: ``1 / sqrt(count level)`` like Poisson noise, and the sweep walks from there in steps
#: of sqrt 2 (:func:`oracle_log_sweep`). Only the cost depends on it, not the optimum.
BM4D_SIGMA_START = 0.1


#: Slices kept on each side of the myocardium when the network denoises the heart slab.
SLAB_MARGIN_SLICES = 4


# Networks already loaded: (name, folder, file size, file mtime) -> keras.Model.
_MODELS: dict[tuple[str, str, int, int], Any] = {}


@dataclass
class MethodContext:
    """What every method of one study may use: the study, loaded networks, the heart slab."""

    study: Study
    models: dict[str, Any]
    slab: tuple[int, int]


@dataclass(frozen=True)
class Method:
    """A denoising method of the benchmark.

    Attributes
    ----------
    name : str
        Recorded name (for networks: the weights' name).
    label : str
        Display name for tables and figures.
    apply : callable
        ``apply(context, k) -> (image, extra)``: the image of realization ``k``
        (relative activity units, the study's grid) and extra record fields.
    network : bool
        Needs trained weights (skipped when they are missing).
    requires : str or None
        An optional package the method imports (skipped, with a message, when
        it is not installed).
    """

    name: str
    label: str
    apply: Callable[[MethodContext, int], tuple[np.ndarray, dict[str, Any]]] = field(repr=False)
    network: bool = False
    requires: str | None = None


def _noisy(context: MethodContext, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    return context.study.recons[k], {}


def _gaussian_optimal(context: MethodContext, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    study = context.study
    best = optimal_fwhm(
        study.recons[k],
        study.ideal,
        region=study.evaluation_mask,
        voxel_size_mm=study.voxel_size_mm,
    )
    image = gaussian_filter_mm(study.recons[k], best.fwhm_mm, voxel_size_mm=study.voxel_size_mm)
    return image, {"fwhm_mm": best.fwhm_mm}


def _gaussian_fixed(fwhm_mm: float, context: MethodContext, k: int) -> tuple[np.ndarray, dict]:
    study = context.study
    return gaussian_filter_mm(study.recons[k], fwhm_mm, voxel_size_mm=study.voxel_size_mm), {}


def _butterworth(context: MethodContext, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    study = context.study
    smooth = butterworth_filter(
        study.projections[k], voxel_size_mm=study.geometry.bin_size_mm, **BUTTERWORTH_CLINICAL
    )
    image = osem(
        np.clip(smooth, 0.0, None),
        study.system,
        n_iter=study.n_iter,
        n_subsets=study.n_subsets,
        additive=None if study.additive is None else study.additive[k],  # same scatter estimate
    )
    return (image / np.float32(study.counts_per_unit)).astype(np.float32), {}


def _network(name: str, context: MethodContext, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    from .inference import denoise

    study = context.study
    model = context.models[name]
    image = denoise(study.recons[k], model, voxel_size_mm=study.voxel_size_mm, slab=context.slab)
    # which weights made the record: a retrained network keeps its name, not its hash
    return image, {"weights_sha256": model.spect_manifest["weights_sha256"]}


def _network_method(name: str, label: str) -> Method:
    return Method(name, label, partial(_network, name), network=True)


def bm4d_available() -> bool:
    """Whether the optional ``bm4d`` package (``spect_tutorial[bm4d]``) is installed."""
    return importlib.util.find_spec("bm4d") is not None


def oracle_log_sweep(
    loss: Callable[[float], float],
    *,
    start: float,
    low: float,
    high: float,
    step: float = float(np.sqrt(2.0)),
) -> tuple[float, dict[float, float]]:
    """Minimise ``loss`` over a parameter on the log grid ``start * step**e``, walking downhill.

    From ``start`` the parameter is multiplied by ``step`` while the loss falls,
    then divided by it while the loss falls (within ``[low, high]``): for a
    unimodal loss the result is the grid point with the lowest loss. A good
    ``start`` costs three evaluations.

    Parameters
    ----------
    loss : callable
        ``loss(value) -> float`` (e.g. the NRMSE against the ideal image).
    start, low, high : float
        First value and the limits of the search, ``0 < low <= start <= high``.
    step : float, optional
        Grid factor, > 1 (default sqrt 2).

    Returns
    -------
    best : float
        The value with the lowest loss among those tried.
    tried : dict of float to float
        Every value tried and its loss, in the order tried.

    Examples
    --------
    >>> best, tried = oracle_log_sweep(lambda v: (np.log2(v) - 1.4) ** 2,
    ...                                start=1.0, low=0.1, high=100.0)
    >>> round(best, 3), len(tried)
    (2.828, 5)
    """
    if not (0 < low <= start <= high and np.isfinite(high)):
        raise ValueError(
            f"need 0 < low <= start <= high (finite), got low={low!r}, start={start!r}, "
            f"high={high!r}"
        )
    if not (np.isfinite(step) and step > 1):
        raise ValueError(f"step must be a finite factor > 1, got {step!r}")
    losses: dict[int, float] = {}

    def value_of(exponent: int) -> float:
        if exponent not in losses:
            losses[exponent] = float(loss(start * step**exponent))
        return losses[exponent]

    best = 0
    for direction in (1, -1):
        while low <= start * step ** (best + direction) <= high and value_of(
            best + direction
        ) < value_of(best):
            best += direction
    return start * step**best, {start * step**e: value for e, value in losses.items()}


def heart_box_slices(mask: np.ndarray, margin: int = SLAB_MARGIN_SLICES) -> tuple[slice, ...]:
    """The ``(z, y, x)`` box holding ``mask`` plus ``margin`` voxels on every side.

    The evaluation's heart crop: its z range is the slab the networks denoise
    (:func:`heart_slab`), the whole box is BM4D's crop. (Training crops are
    :func:`spect_tutorial.datasets.heart_box`: a fixed size centred on the LV,
    so that every training image has one shape.)

    Parameters
    ----------
    mask : numpy.ndarray
        ``(z, y, x)`` boolean mask (e.g. the evaluation region), not empty.
    margin : int, optional
        Extra voxels on each side (default 4 = 25.6 mm at 6.4 mm), clipped to the volume.

    Returns
    -------
    tuple of slice
        One per axis.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3 or not mask.any():
        raise ValueError(
            f"mask must be a non-empty (z, y, x) boolean mask, got shape {mask.shape}"
        )
    box = []
    for axis, size in enumerate(mask.shape):
        where = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(max(0, int(where[0]) - margin), min(size, int(where[-1]) + 1 + margin)))
    return tuple(box)


def _bm4d(context: MethodContext, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    import bm4d

    study = context.study
    region = study.evaluation_mask
    noisy = study.recons[k]
    box = heart_box_slices(region)
    crop = noisy[box].astype(np.float64)
    scale = float(noisy[region].mean(dtype=np.float64))
    if not scale > 0:
        raise ValueError("bm4d: the noisy image's mean over the evaluation region must be > 0")
    outputs: dict[float, np.ndarray] = {}

    def loss(fraction: float) -> float:
        image = noisy.copy()
        image[box] = bm4d.bm4d(crop, fraction * scale).astype(np.float32)
        outputs[fraction] = image
        return float(nrmse(image, study.ideal, region))

    start = BM4D_SIGMA_START * float(np.sqrt(100.0 / study.count_level))
    best, tried = oracle_log_sweep(loss, start=start, low=0.01, high=4.0)
    return outputs[best], {
        "bm4d_sigma": round(best, 6),
        "bm4d_evaluations": len(tried),
        "bm4d_box": [[part.start, part.stop] for part in box],
    }


# The networks' widths in their labels (the sizes of spect_tutorial.model).
_PAPER_WIDTH, _TEACHING_WIDTH = PAPER_CONFIG["filters"], TEACHING_CONFIG["filters"]


#: Every method, in table order.
METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("noisy", "OSEM, no filter", _noisy),
        Method("gaussian_optimal", "Gaussian, optimal FWHM (oracle)", _gaussian_optimal),
        Method("gaussian_8mm", "Gaussian 8 mm", partial(_gaussian_fixed, 8.0)),
        Method("gaussian_10mm", "Gaussian 10 mm", partial(_gaussian_fixed, 10.0)),
        Method("butterworth", "Butterworth 5 / 0.41 cycles/cm", _butterworth),
        _network_method("win5rb_n2n_paper", f"WIN5-RB Noise2Noise ({_PAPER_WIDTH} filters)"),
        _network_method("win5rb_n2n_teaching", f"WIN5-RB Noise2Noise ({_TEACHING_WIDTH})"),
        _network_method(
            "win5rb_n2n_teaching_k3", f"WIN5-RB Noise2Noise 2.5D, 3 slices ({_TEACHING_WIDTH})"
        ),
        _network_method("win5rb_split_teaching", f"WIN5-RB count split ({_TEACHING_WIDTH})"),
        _network_method("win5rb_supervised_teaching", f"WIN5-RB supervised ({_TEACHING_WIDTH})"),
        Method("bm4d", "BM4D, optimal sigma (oracle)", _bm4d, requires="bm4d"),
    )
}


@dataclass(frozen=True)
class Metric:
    """A summarised field of the benchmark records: how it is computed and shown.

    Attributes
    ----------
    name : str
        Record field.
    label : str
        Display name, with units, for tables and widgets.
    digits : int
        Decimals shown in tables.
    better : {"lower", "higher"} or None
        Which way an image improves; ``None`` where closer to the ideal
        image's value is better, or for context values (the ideal image's and
        the true wall, the chosen FWHM).
    compute : callable or None
        ``compute(image, study, normal) -> float``: the value of ``image`` (the
        study's grid and relative units) against ``study.ideal`` over the
        study's regions, ``normal`` being the normal myocardium
        (:func:`~spect_tutorial.metrics.normal_myocardium`). ``None`` for
        fields a record gets elsewhere: the wall and defect fits (with their
        failure count), the ideal image's values, the method's own extras.
    """

    name: str
    label: str
    digits: int = 1
    better: str | None = None
    compute: Callable[[np.ndarray, Study, np.ndarray], float] | None = field(
        default=None, repr=False
    )


def _mean_ratio(image: np.ndarray, study: Study, normal: np.ndarray) -> float:
    """Mean over the evaluation region over the ideal image's: the bias of the mean."""
    region = study.evaluation_mask
    return float(image[region].mean(dtype=np.float64) / study.ideal[region].mean(dtype=np.float64))


#: Every summarised record field, in record order; those with a ``compute`` are written by
#: :func:`~spect_tutorial.benchmark.run_benchmark` for every image (add a metric here and
#: it is recorded, summarised and tabulated).
METRICS: dict[str, Metric] = {
    metric.name: metric
    # compute(f, s, n): f the image, s the study, n the normal myocardium.
    for metric in (
        Metric("nrmse", "NRMSE", 3, "lower", lambda f, s, n: nrmse(f, s.ideal, s.evaluation_mask)),
        Metric(
            "psnr",
            "PSNR (dB)",
            1,
            "higher",
            lambda f, s, n: psnr(f, s.ideal, region=s.evaluation_mask),
        ),
        Metric(
            "ssim", "SSIM", 3, "higher", lambda f, s, n: ssim(f, s.ideal, region=s.evaluation_mask)
        ),
        Metric("cov", "CoV", 3, "lower", lambda f, s, n: coefficient_of_variation(f, n)),
        Metric(
            "noise_cov",
            "noise CoV",
            3,
            "lower",
            lambda f, s, n: noise_coefficient_of_variation(f, s.ideal, n),
        ),
        Metric("mean_ratio", "mean / ideal's", 1, None, _mean_ratio),
        Metric("wall_mm", "wall (mm)"),
        Metric("wall_ideal_mm", "ideal wall (mm)"),
        Metric("wall_true_mm", "true wall (mm)"),
        Metric("defect_ratio", "defect ratio", 3),
        Metric("defect_ratio_ideal", "ideal defect ratio"),
        Metric("fwhm_mm", "FWHM (mm)"),
        Metric("method_s", "time (s)", 1, "lower"),
    )
}


def image_metrics(
    image: np.ndarray, study: Study, names: Sequence[str] | None = None
) -> dict[str, float]:
    """The computed :data:`METRICS` of one image, as the benchmark records them.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image on the study's grid, in its relative units.
    study : Study
        The simulated study (ideal image and regions).
    names : sequence of str, optional
        Metrics to compute (default every metric with a ``compute``).

    Returns
    -------
    dict of str to float
        Name -> value, in the order asked.
    """
    normal = normal_myocardium(study.myocardium_mask, study.defect_mask)
    chosen = [METRICS[name] for name in names] if names is not None else METRICS.values()
    return {
        metric.name: float(metric.compute(image, study, normal))
        for metric in chosen
        if metric.compute is not None
    }


def network_method(name: str) -> Method:
    """A :class:`Method` for any weights ``name`` (e.g. a model you trained yourself)."""
    return METHODS.get(name) or _network_method(name, name)


def heart_slab(mask: np.ndarray, margin: int = SLAB_MARGIN_SLICES) -> tuple[int, int]:
    """Transaxial slices ``(start, stop)`` holding ``mask`` plus ``margin`` slices each side.

    The z range of :func:`heart_box_slices` (same arguments), clipped to the volume.
    """
    slab = heart_box_slices(mask, margin)[0]
    return slab.start, slab.stop


def _check_methods(methods: Iterable[str] | None) -> list[Method]:
    if methods is None:
        return list(METHODS.values())
    chosen = []
    for name in methods:
        if not isinstance(name, str) or not name:
            raise ValueError(f"methods must be names, got {name!r}")
        chosen.append(METHODS.get(name) or network_method(name))
    if not chosen:
        raise ValueError("methods must name at least one method")
    no_repeats([method.name for method in chosen], "methods")
    return chosen


def check_method_names(
    methods: Iterable[str] | None, weights_dir: str | os.PathLike[str] | None = None
) -> list[str]:
    """Check method names before any work: each a benchmark method or an existing weights name.

    Parameters
    ----------
    methods : iterable of str or None
        Names from :data:`METHODS` or weights names (``None``: all of :data:`METHODS`).
    weights_dir : str or os.PathLike, optional
        Folder of the networks' weights (default: as :func:`load_pretrained`).

    Returns
    -------
    list of str
        The names, in order.

    Raises
    ------
    ValueError
        If a name is empty, repeated, or neither a method of :data:`METHODS`
        nor a weights name in the weights folder (nothing is loaded).
    """
    from .weights import resolve_weights_dir

    chosen = _check_methods(methods)
    directory = resolve_weights_dir(None if weights_dir is None else Path(weights_dir))
    for method in chosen:
        if method.name not in METHODS and not (directory / f"{method.name}.json").exists():
            raise _unknown_method(method.name, directory)
    return [method.name for method in chosen]


def _unknown_method(name: str, directory: Path) -> ValueError:
    """The error for a name that is neither a benchmark method nor weights in ``directory``."""
    return ValueError(
        f"methods: {name!r} is neither a benchmark method "
        f"({', '.join(METHODS)}) nor a weights name in {directory}"
    )


def _load_models(
    methods: list[Method], weights_dir: Path | None, log: Callable[[str], None]
) -> tuple[list[Method], dict[str, Any]]:
    from .weights import resolve_weights_dir

    directory = resolve_weights_dir(weights_dir)
    available, models = [], {}
    for method in methods:
        if method.requires is not None and importlib.util.find_spec(method.requires) is None:
            log(
                f"skipping {method.name}: the optional package {method.requires!r} is not "
                f"installed (pip install 'spect_tutorial[{method.requires}]')"
            )
            continue
        if not method.network:
            available.append(method)
            continue
        files = [directory / f"{method.name}.weights.h5", directory / f"{method.name}.json"]
        if not all(path.exists() for path in files):
            if method.name not in METHODS:
                raise _unknown_method(method.name, directory)
            log(f"skipping {method.name}: no weights in {directory} (train it first)")
            continue
        from .weights import load_pretrained

        stat = files[0].stat()
        key = (method.name, str(directory.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _MODELS:  # loaded (and its hash checked) once per file version
            _MODELS[key] = load_pretrained(method.name, directory=directory)
        models[method.name] = _MODELS[key]
        available.append(method)
    return available, models


def check_network_records(
    records: Iterable[Mapping[str, Any]], models: Mapping[str, Any], where: str
) -> None:
    """Refuse to resume on records that a network made with other weights than those loaded.

    A network keeps its name when it is retrained (``win5rb_n2n_teaching``), so a
    resumed run would skip its results and mix two networks under one name. Its
    records carry ``weights_sha256`` (records written before that field existed
    cannot be checked and are left as they are).

    Parameters
    ----------
    records : iterable of mapping
        The records already in the file.
    models : mapping
        ``name -> model`` as loaded (:func:`spect_tutorial.weights.load_pretrained`).
    where : str
        Names the file in the message.

    Raises
    ------
    ValueError
        If a record of a loaded network holds another SHA-256 than its weights.
    """
    for name, model in models.items():
        loaded = model.spect_manifest["weights_sha256"]
        others = sorted(
            {
                str(record["weights_sha256"])
                for record in records
                if record.get("method") == name and record.get("weights_sha256", loaded) != loaded
            }
        )
        if others:
            raise ValueError(
                f"{where} holds records of {name} made with other weights (SHA-256 "
                f"{', '.join(sha[:12] for sha in others)}...) than those loaded now "
                f"({loaded[:12]}...); resuming would mix two networks under one name: move "
                "those records out or write to another file (it was left unchanged)"
            )


def method_images(
    study: Study,
    methods: Sequence[str] | None = None,
    *,
    realization: int = 0,
    weights_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Apply benchmark methods to one realization of a study, exactly as the benchmark does.

    Parameters
    ----------
    study : Study
        A simulated study (:func:`~spect_tutorial.study.simulate_study`).
    methods : sequence of str, optional
        Names from :data:`METHODS` or weights names; default all of
        :data:`METHODS` (networks whose weights are missing are left out).
    realization : int, optional
        Which noisy realization of the study (default 0).
    weights_dir : str or os.PathLike, optional
        Folder of the networks' weights.
    progress : bool, optional
        Report skipped networks.

    Returns
    -------
    images : dict of str to numpy.ndarray
        Method name -> ``(z, y, x)`` image in the study's relative units.
    details : dict of str to dict
        Method name -> extra values (e.g. ``{"fwhm_mm": ...}`` for the optimal
        Gaussian) and ``"seconds"``.
    """
    if not isinstance(study, Study):
        raise ValueError(f"study must be a Study, got {type(study).__name__}")
    n_realizations = study.recons.shape[0]
    if isinstance(realization, bool) or not isinstance(realization, int | np.integer):
        raise ValueError(f"realization must be an int, got {realization!r}")
    if not 0 <= realization < n_realizations:
        raise ValueError(
            f"realization must be in 0..{n_realizations - 1} (the study's realizations), "
            f"got {realization}"
        )
    chosen, models = _load_models(
        _check_methods(methods),
        None if weights_dir is None else Path(weights_dir),
        print if progress else (lambda message: None),
    )
    context = MethodContext(study, models, heart_slab(study.evaluation_mask))
    images, details = {}, {}
    for method in chosen:
        started = time.perf_counter()
        images[method.name], extra = method.apply(context, int(realization))
        details[method.name] = {**extra, "seconds": time.perf_counter() - started}
    return images, details


def method_labels() -> dict[str, str]:
    """Display names of the methods, for tables."""
    return {name: method.label for name, method in METHODS.items()}
