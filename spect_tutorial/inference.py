"""Denoising reconstructed volumes with a trained WIN5-RB, slice by slice.

The network was trained on transaxial slices (``(y, x)`` planes of a
``(z, y, x)`` volume) that had been divided by the mean of their whole
volume. :func:`denoise` applies exactly that recipe to a new volume:

.. math::

    m = \\operatorname{mean}(f), \\qquad
    \\hat f_z = m \\cdot \\mathrm{WIN5RB}(f_z / m) \\quad \\text{for each slice } z,

so the network always sees images of mean one whatever the count level or the
units (one model, no per-exam parameter), and its output is returned in the
input's units. An all-zero volume has no scale; it is returned as zeros.

Everything the caller gives is checked with numpy before TensorFlow is
touched: a student's typo gets a message naming the argument, never a
traceback from inside a convolution. Importing this module does not import
TensorFlow or Keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import int_tuple, integer, real_array, real_number
from .datasets import normalise, volume_mean
from .frame import RECONSTRUCTION_VOXEL_SIZE_MM, check_voxel_size_mm
from .model import _neighbour_indices
from .weights import DEFAULT_MODEL, load_manifest, load_pretrained

__all__ = [
    "ASSUMED_TRAINING_VOXEL_SIZE_MM",
    "VOXEL_SIZE_TOLERANCE",
    "blend",
    "denoise",
    "removed_noise_volume",
]

if TYPE_CHECKING:  # pragma: no cover - for static type checkers only
    import keras

#: Training voxel size (mm) assumed for a model without a manifest (e.g. one trained
#: live in a chapter): the study's reconstruction grid.
ASSUMED_TRAINING_VOXEL_SIZE_MM = RECONSTRUCTION_VOXEL_SIZE_MM

#: Largest relative difference between the volume's voxel size and the model's
#: training voxel size that :func:`denoise` accepts (10 %).
VOXEL_SIZE_TOLERANCE = 0.10

_FLOAT32_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------
# Checks (numpy only)
# ---------------------------------------------------------------------------


def _check_volume(volume: Any) -> np.ndarray:
    """The volume as a ``(K, z, y, x)`` array after checking shape, dtype and values."""
    shape = np.shape(volume)
    if len(shape) not in (3, 4) or 0 in shape:
        raise ValueError(
            f"volume must be (z, y, x) or (K, z, y, x) with every size >= 1, got shape {shape}"
        )
    values = real_array(volume, "volume", dtype=None, unit="activity", bool_ok=False, finite=False)
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.argwhere(~finite)
        raise ValueError(
            f"volume must be finite, got {bad.shape[0]} NaN or infinite value(s), the first "
            f"at index {tuple(int(i) for i in bad[0])}"
        )
    if (values < 0).any():
        raise ValueError(
            "volume must be >= 0 (activity), got minimum "
            f"{float(values.min())!r} at {int((values < 0).sum())} voxel(s)"
        )
    if values.dtype.itemsize > 4 and float(values.max()) > _FLOAT32_MAX:
        raise ValueError(
            f"volume values must fit float32 (<= {_FLOAT32_MAX:.3g}), got maximum "
            f"{float(values.max())!r}"
        )
    return values if values.ndim == 4 else values[np.newaxis]


def _check_slab(slab: Any, n_slices: int) -> tuple[int, int]:
    if slab is None:
        return 0, n_slices
    valid = f"(z_start, z_stop) integers with 0 <= z_start < z_stop <= {n_slices} (z slices)"
    try:
        start, stop = int_tuple(slab, "slab", 2, minimum=0)
    except ValueError:
        raise ValueError(f"slab must be {valid}, got {slab!r}") from None
    if not start < stop <= n_slices:
        raise ValueError(f"slab must be {valid}, got {slab!r}")
    return start, stop


def _check_model_voxel_size(voxel_size_mm: float, manifest: Any, where: str) -> None:
    trained = ASSUMED_TRAINING_VOXEL_SIZE_MM
    if isinstance(manifest, Mapping) and "voxel_size_mm" in manifest:
        trained = float(manifest["voxel_size_mm"])
    low, high = trained * (1 - VOXEL_SIZE_TOLERANCE), trained * (1 + VOXEL_SIZE_TOLERANCE)
    if not low <= voxel_size_mm <= high:
        raise ValueError(
            f"voxel_size_mm must be within {VOXEL_SIZE_TOLERANCE:.0%} of the {trained:g} mm "
            f"that {where} was trained at ({low:.2f}-{high:.2f} mm), got {voxel_size_mm:g} mm: "
            "the network's filters are tuned to the image resolution in pixels. Resample the "
            "volume to the training grid or train a model at this voxel size."
        )


def _check_model(model: Any) -> keras.Model:
    from .quiet import import_quietly

    keras = import_quietly("keras")

    if not isinstance(model, keras.Model):
        raise TypeError(
            "model must be a keras.Model (e.g. from spect_tutorial.weights.load_pretrained) "
            f"or None for the shipped model, got {type(model).__name__}"
        )
    shape = tuple(model.input_shape)
    if len(shape) != 4 or not isinstance(shape[-1], int) or shape[-1] % 2 == 0:
        raise ValueError(
            "model must take single-channel slices (batch, height, width, 1), or an odd number "
            f"k of adjacent slices (2.5D, batch, height, width, k), got input shape {shape}"
        )
    return model


# ---------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------


def _predict_slices(model: keras.Model, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """Run the model over ``(n, y, x, k)`` inputs in inference mode, ``batch_size`` at a time."""
    from .quiet import import_quietly

    keras = import_quietly("keras")

    denoised = np.empty(inputs.shape[:-1], dtype=np.float32)
    for start in range(0, inputs.shape[0], batch_size):
        output = keras.ops.convert_to_numpy(
            model(inputs[start : start + batch_size], training=False)
        )
        denoised[start : start + batch_size] = output[..., 0]
    return denoised


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def _check_strength(strength: Any) -> float:
    """A network strength: a float in 0..1 (0 = the input, 1 = the network's output)."""
    return real_number(
        strength, "strength", unit="(0 = the input, 1 = the network)", minimum=0.0, maximum=1.0
    )


def blend(volume: np.ndarray, denoised: np.ndarray, strength: float) -> np.ndarray:
    """The network at a chosen strength: ``(1 - strength) * volume + strength * denoised``.

    A denoiser trained with a squared error returns its best estimate of the
    mean image, which removes more noise (and fills more of a defect) than a
    reader may want; mixing the input back in moves along the network's own
    noise-resolution trade-off, from the unfiltered image (0) to the network (1),
    as the FWHM does for a Gaussian.

    Parameters
    ----------
    volume : numpy.ndarray
        The reconstruction the network was given.
    denoised : numpy.ndarray
        The network's output, same shape and units.
    strength : float
        0..1.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``volume``.

    Examples
    --------
    >>> blend(np.zeros(3), np.full(3, 2.0), 0.25).tolist()
    [0.5, 0.5, 0.5]
    """
    strength = _check_strength(strength)
    noisy = np.asarray(volume, dtype=np.float32)
    clean = np.asarray(denoised, dtype=np.float32)
    if noisy.shape != clean.shape:
        raise ValueError(
            f"volume and denoised must have one shape, got {noisy.shape} and {clean.shape}"
        )
    if strength == 1.0:
        return clean.copy()
    return (noisy + np.float32(strength) * (clean - noisy)).astype(np.float32)


def denoise(
    volume: np.ndarray,
    model: keras.Model | None = None,
    *,
    voxel_size_mm: float,
    batch_size: int = 8,
    slab: tuple[int, int] | None = None,
    strength: float = 1.0,
) -> np.ndarray:
    """Denoise a reconstructed volume slice by slice with a WIN5-RB network.

    Parameters
    ----------
    volume : numpy.ndarray
        ``(z, y, x)`` or a stack ``(K, z, y, x)`` of reconstructions, finite and
        >= 0, in any units (e.g. the relative activity units of
        :class:`~spect_tutorial.study.Study`); each volume is treated on its own.
    model : keras.Model, optional
        A WIN5-RB model: 2D (one input channel) or 2.5D (``k`` adjacent slices
        as channels, e.g. ``win5rb(channels=3)``, predicting the centre slice).
        Default ``None``: the shipped model,
        :func:`spect_tutorial.weights.load_pretrained` with
        :data:`~spect_tutorial.weights.DEFAULT_MODEL` (loaded on every call:
        pass the model to denoise many volumes).
    voxel_size_mm : float
        Voxel edge of ``volume`` in mm. Must be within 10 % of the voxel size
        the model was trained at: ``model.spect_manifest["voxel_size_mm"]``
        for a loaded model, else 6.4 mm (the study's grid).
    batch_size : int, optional
        Transaxial slices per network call (memory against speed). Default 8.
        Changes the output by at most rounding (about 1e-7 relative; see Notes).
    slab : tuple of int, optional
        ``(z_start, z_stop)``: denoise only slices ``z_start <= z < z_stop``
        (e.g. the heart slab); the other slices are returned unchanged. The
        normalising mean is still that of the whole volume. Default: all slices.
    strength : float, optional
        0..1: the output is :func:`blend` of the input and the network's output
        (default 1, the network alone; 0 returns the input).

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``volume``, in its units. An all-zero volume
        gives zeros. The network's output is not clipped, so a few voxels far
        from the heart may be slightly negative.

    Raises
    ------
    ValueError
        For a volume that is not 3-D/4-D, not real, not finite or negative; a
        voxel size outside the model's range; a bad ``batch_size`` or ``slab``;
        or a corrupt shipped weights file. All input checks run before any
        TensorFlow operation (and before the shipped model is loaded).
    TypeError
        If ``model`` is neither ``None`` nor a ``keras.Model``.
    FileNotFoundError
        If ``model`` is ``None`` and the shipped weights are missing.

    Notes
    -----
    For each volume :math:`f` with mean :math:`m > 0` over all its voxels,
    slice :math:`z` becomes :math:`m \\, g(f_z / m)`, where :math:`g` is the
    network in inference mode (batch normalisation with its stored statistics,
    so mathematically the result does not depend on ``batch_size`` or on the
    other slices). In floating point it may, in the last bit: the convolution
    kernels (oneDNN on CPU, cuDNN on a GPU) choose their summation order by
    batch shape, so ``batch_size=1`` and ``16`` can differ by about one ulp
    (relative 1e-7). The same input, model, ``batch_size`` and ``slab`` give
    bitwise identical output; the benchmark always uses the default.

    Examples
    --------
    >>> import numpy as np
    >>> from spect_tutorial.model import win5rb
    >>> volume = np.random.default_rng(0).poisson(5.0, (4, 16, 16)).astype(np.float32)
    >>> denoise(volume, win5rb(filters=4, seed=0), voxel_size_mm=6.4).shape
    (4, 16, 16)
    """
    values = _check_volume(volume)
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    batch_size = integer(batch_size, "batch_size")
    start, stop = _check_slab(slab, values.shape[1])
    strength = _check_strength(strength)
    if model is None:
        manifest = load_manifest(DEFAULT_MODEL)  # JSON only: checks before TensorFlow loads
        _check_model_voxel_size(voxel_size_mm, manifest, f"the shipped model {DEFAULT_MODEL!r}")
        model = load_pretrained(DEFAULT_MODEL)
    else:
        model = _check_model(model)
        _check_model_voxel_size(
            voxel_size_mm, getattr(model, "spect_manifest", None), f"model {model.name!r}"
        )

    result = values.astype(np.float32)  # always a copy
    for index, single in enumerate(values):
        mean = volume_mean(single)  # the training data's normalisation (datasets.normalise)
        scaled = normalise(single, mean)
        if mean == 0.0:
            result[index, start:stop] = 0.0
            continue
        # each slice with its neighbours as channels (k = 1: the 2D model), as in training
        channels = int(model.input_shape[-1])
        neighbours = _neighbour_indices(np.arange(start, stop), len(scaled), channels)
        inputs = np.moveaxis(scaled[neighbours], 1, -1)
        denoised = _predict_slices(model, inputs, batch_size)
        result[index, start:stop] = (denoised.astype(np.float64) * mean).astype(np.float32)
    if strength != 1.0:
        result = blend(values, result, strength)
    return result if np.ndim(volume) == 4 else result[0]


def removed_noise_volume(
    volume: np.ndarray, model: keras.Model | None = None, **options: Any
) -> np.ndarray:
    """What the network removes from a volume: ``volume - denoise(volume)``.

    Parameters
    ----------
    volume, model
        As for :func:`denoise`.
    **options
        ``voxel_size_mm`` (required), ``batch_size``, ``slab``: as for :func:`denoise`.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``volume``, in its units: the network's noise
        estimate (zero outside ``slab``). For the book's "removed noise"
        figures: it should look like noise, without the heart's outline.

    See Also
    --------
    spect_tutorial.model.removed_noise : the same for normalised slices.

    Examples
    --------
    >>> import numpy as np
    >>> from spect_tutorial.model import win5rb
    >>> volume = np.ones((2, 8, 8), dtype=np.float32)
    >>> removed_noise_volume(volume, win5rb(filters=4, seed=0), voxel_size_mm=6.4).dtype
    dtype('float32')
    """
    return np.asarray(volume, dtype=np.float32) - denoise(volume, model, **options)
