"""WIN5-RB: the Wide Inference Network with 5 layers, ResNet skip and batch normalisation.

Liu & Fang (2017) denoise with a shallow but *wide* network: four layers of
128 filters of 7 x 7 pixels, each followed by batch normalisation and a ReLU,
then a fifth 7 x 7 convolution to one channel with batch normalisation. The
network's branch estimates *minus the noise*; a skip connection adds the input,
so the output is the denoised image (residual learning). The authors note that
batch normalisation only works together with this input-to-output skip.

The model is written with the Keras 3 functional API only, so it also runs on
other Keras backends (e.g. PyTorch on a GPU machine) and the weights it saves
load with TensorFlow. Keras is imported when a model is built, not with this
module, so the sizes below (:data:`PAPER_CONFIG`, the single source of the
training presets and the benchmark's labels) are read without TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import integer
from .quiet import import_quietly

if TYPE_CHECKING:  # pragma: no cover - for static type checkers only
    import keras

__all__ = [
    "BATCH_NORM_MOMENTUM",
    "NOISE_BRANCH_LAYER",
    "PAPER_CONFIG",
    "TEACHING_CONFIG",
    "adjacent_slices",
    "receptive_field_px",
    "removed_noise",
    "win5rb",
]

#: Momentum of the batch-normalisation running statistics (Keras' default is 0.99);
#: 0.95 lets the statistics follow the short trainings of this book (issue 6's trial).
BATCH_NORM_MOMENTUM = 0.95

#: Name of the last layer of the branch, whose output is minus the estimated noise.
NOISE_BRANCH_LAYER = "noise_branch"

#: The paper's network (about 2.42 million parameters).
PAPER_CONFIG: dict[str, int] = {"filters": 128, "kernel_size": 7, "depth": 5}
#: A narrower network that trains live on one CPU core (about 0.61 million parameters).
TEACHING_CONFIG: dict[str, int] = {"filters": 64, "kernel_size": 7, "depth": 5}


def _check_architecture(filters: Any, kernel_size: Any, depth: Any) -> tuple[int, int, int]:
    """The :func:`win5rb` size arguments as ints, checked without touching Keras."""
    filters = integer(filters, "filters", whole_floats=True)
    kernel_size = integer(
        kernel_size, "kernel_size", unit="(same padding)", whole_floats=True, odd=True
    )
    depth = integer(depth, "depth", minimum=2, whole_floats=True)
    return filters, kernel_size, depth


def win5rb(
    *,
    filters: int = PAPER_CONFIG["filters"],
    kernel_size: int = PAPER_CONFIG["kernel_size"],
    depth: int = PAPER_CONFIG["depth"],
    seed: int | None = None,
    name: str = "win5rb",
    channels: int = 1,
) -> keras.Model:
    """Build WIN5-RB for single-channel images of any size.

    Parameters
    ----------
    filters : int, optional
        Filters in each hidden layer (128 in the paper; 64 or 32 to train live).
    kernel_size : int, optional
        Odd convolution size in pixels (7).
    depth : int, optional
        Number of convolution layers (5): ``depth - 1`` Conv-BN-ReLU layers and a
        final Conv(1)-BN layer.
    seed : int, optional
        Seed of the He-normal weight initialisation (reproducible weights).
    name : str, optional
        Model name.
    channels : int, optional
        Input channels (odd, >= 1). 1 (default): the study's 2D network. ``k``:
        the 2.5D variant, whose input is ``k`` adjacent transaxial slices
        (:func:`adjacent_slices`) and whose output is the *centre* slice
        denoised: only the first convolution sees the extra slices, and the
        skip connection adds the centre slice.

    Returns
    -------
    keras.Model
        Input ``(batch, height, width, channels)``, output
        ``(batch, height, width, 1)``: ``centre slice + branch(input)``.

    Notes
    -----
    The last batch normalisation's scale starts at zero ("zero-init residual",
    Goyal et al. 2017), so the untrained network returns its input unchanged
    and training only ever has to learn the noise. Batch-normalisation
    running statistics use a momentum of :data:`BATCH_NORM_MOMENTUM`.

    Parameters: ``k^2 f + f`` for the first layer, ``(depth - 2) (k^2 f^2 + f)``
    for the middle ones, ``k^2 f + 1`` for the last, plus four per channel for
    each batch normalisation (two trained, two running statistics).
    The receptive field is ``depth (k - 1) + 1`` pixels (31 for the paper:
    about 20 cm at 6.4 mm pixels), see :func:`receptive_field_px`.

    References
    ----------
    P. Liu and R. Fang, "Wide inference network for image denoising via learning
    pixel-distribution prior", arXiv:1707.05414, 2017.

    Examples
    --------
    >>> model = win5rb(filters=8)
    >>> model.output_shape
    (None, None, None, 1)
    """
    filters, kernel_size, depth = _check_architecture(filters, kernel_size, depth)
    channels = integer(channels, "channels", unit="(a centre slice)", whole_floats=True, odd=True)
    # TensorFlow's start-up log is filtered out of the reader's output (spect_tutorial.quiet).
    keras = import_quietly("keras")
    inputs = keras.Input(shape=(None, None, channels), name="noisy")
    branch = inputs

    def conv(n_filters: int, layer: int) -> keras.layers.Conv2D:
        return keras.layers.Conv2D(
            n_filters,
            kernel_size,
            padding="same",
            kernel_initializer=keras.initializers.HeNormal(
                seed=None if seed is None else seed + layer
            ),
            name=f"conv{layer}",
        )

    for layer in range(1, depth):
        branch = conv(filters, layer)(branch)
        branch = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"bn{layer}")(
            branch
        )
        branch = keras.layers.ReLU(name=f"relu{layer}")(branch)
    branch = conv(1, depth)(branch)
    # The branch starts at zero (its last scale is zero), so the untrained network is
    # the identity and training starts from the noisy image instead of adding noise.
    branch = keras.layers.BatchNormalization(
        momentum=BATCH_NORM_MOMENTUM, gamma_initializer="zeros", name=NOISE_BRANCH_LAYER
    )(branch)
    centre = inputs
    if channels > 1:
        middle = channels // 2
        centre = inputs[..., middle : middle + 1]
    outputs = keras.layers.Add(name="denoised")([centre, branch])
    return keras.Model(inputs, outputs, name=name)


def adjacent_slices(slices: np.ndarray, k: int = 3) -> np.ndarray:
    """Stack each transaxial slice with its neighbours as channels (the 2.5D input).

    Parameters
    ----------
    slices : numpy.ndarray
        ``(..., n_slices, height, width)`` consecutive slices.
    k : int, optional
        Odd number of slices per input (3): the slice and ``(k - 1) / 2`` on each
        side; at the ends the edge slice is repeated.

    Returns
    -------
    numpy.ndarray
        float32 ``(..., n_slices, height, width, k)``, channel ``(k - 1) / 2``
        being the slice itself.

    Examples
    --------
    >>> adjacent_slices(np.arange(3.0)[:, None, None], 3)[:, 0, 0].tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 2.0, 2.0]]
    """
    k = integer(k, "k", unit="(a centre slice)", whole_floats=True, odd=True)
    array = np.asarray(slices, dtype=np.float32)
    if array.ndim < 3:
        raise ValueError(f"slices must be (..., n_slices, height, width), got {array.shape}")
    n = array.shape[-3]
    return np.moveaxis(array[..., _neighbour_indices(np.arange(n), n, k), :, :], -3, -1)


def _neighbour_indices(centres: np.ndarray, n_slices: int, k: int) -> np.ndarray:
    """Indices ``(len(centres), k)`` of each centre slice and its ``k // 2`` neighbours.

    The one 2.5D stacking rule of training (:func:`~spect_tutorial.pairs.gather_pairs`),
    inference and :func:`adjacent_slices`: the centre in channel ``k // 2``, and beyond
    the ends of the ``n_slices`` slices the first or last slice repeated.
    """
    half = k // 2
    return np.clip(np.asarray(centres)[:, None] + np.arange(-half, half + 1), 0, n_slices - 1)


def receptive_field_px(model: keras.Model) -> int:
    """Receptive field in pixels: how far apart two pixels can influence each other.

    Computed from the model's convolution layers (stride 1): ``1 + sum(k - 1)``.
    """
    keras = import_quietly("keras")
    size = 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            size += layer.kernel_size[0] - 1
    return size


def removed_noise(model: keras.Model, images: np.ndarray, *, batch_size: int = 16) -> np.ndarray:
    """What the network removes: ``input - output`` (its noise estimate).

    Parameters
    ----------
    model : keras.Model
        A WIN5-RB model.
    images : numpy.ndarray
        ``(batch, height, width, 1)`` normalised input slices.
    batch_size : int, optional
        Slices per prediction batch.

    Returns
    -------
    numpy.ndarray
        float32 noise estimates, same shape as ``images``.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"images must be (batch, height, width, 1), got shape {images.shape}")
    denoised = model.predict(images, batch_size=batch_size, verbose=0)
    return images - np.asarray(denoised, dtype=np.float32)
