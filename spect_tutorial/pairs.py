"""Noise2Noise pairs, epochs and batches: what the trainers feed to Keras.

:func:`epoch_pairs` lists the training pairs ``(phantom, level, slice, i, j)``
of a :class:`~spect_tutorial.datasets.Noise2NoiseSet` with ``i != j``:
realization ``i`` is the input, realization ``j`` the target. One epoch visits
every (phantom, level, slice, ordered pair) once, in an order shuffled from
``(seed, epoch)``; :class:`PairSchedule` cuts that order into batches for the
trainers of :mod:`spect_tutorial.training` (:func:`pair_batches` loops over one
epoch's batches). :func:`gather_pairs` reads a batch's images, divided by the
input's volume mean (:func:`spect_tutorial.datasets.normalise`).

This module builds numpy arrays only: it never imports TensorFlow or Keras.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from ._validation import check_seed, choice, int_tuple, integer
from .datasets import IdealStore, Noise2NoiseSet, normalise
from .model import _neighbour_indices

__all__ = [
    "PAIR_COLUMNS",
    "PairSchedule",
    "epoch_pairs",
    "gather_pairs",
    "pair_batches",
    "pair_rows",
]

#: Columns of the pair arrays.
PAIR_COLUMNS = ("phantom", "level", "slice", "input", "target")


def pair_rows(
    dataset: Noise2NoiseSet, split: str, inputs: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Rows ``(phantom, level, slice, input, target)`` of every phantom of ``split``.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        The noisy slices.
    split : {"train", "validation"}
        Which phantoms.
    inputs, targets : numpy.ndarray
        Realization indices, one (input, target) per entry.

    Returns
    -------
    numpy.ndarray
        int64 ``(n_rows, 5)`` (:data:`PAIR_COLUMNS`), ordered by phantom, level,
        slice, then entry of ``inputs``.
    """
    grid = np.meshgrid(
        dataset.phantoms(split),
        np.arange(len(dataset.count_levels)),
        np.arange(dataset.n_slices),
        np.arange(len(inputs)),
        indexing="ij",
    )
    phantom, level, slice_, entry = (axis.ravel() for axis in grid)
    rows = np.stack([phantom, level, slice_, inputs[entry], targets[entry]], axis=1)
    return rows.astype(np.int64)


def _all_pairs(dataset: Noise2NoiseSet, split: str) -> np.ndarray:
    inputs, targets = np.nonzero(~np.eye(dataset.n_realizations, dtype=bool))
    return pair_rows(dataset, split, inputs, targets)


def _pass_rng(seed: int, split: str, epoch: int) -> np.random.Generator:
    # The stream of an epoch (a pass over the pairs) derives from (seed, split, epoch):
    # "seed + epoch" without collisions between (seed 1, epoch 0) and (seed 0, epoch 1).
    return np.random.default_rng([seed, 0 if split == "train" else 1, epoch])


def epoch_pairs(
    dataset: Noise2NoiseSet, *, split: str = "train", seed: int, epoch: int
) -> np.ndarray:
    """Every training pair of one epoch, in that epoch's shuffled order.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        The noisy slices.
    split : {"train", "validation"}, optional
        Pairs of the training or of the held-out phantoms.
    seed : int
        Training seed (>= 0).
    epoch : int
        Epoch number from 0; each epoch has its own order.

    Returns
    -------
    numpy.ndarray
        int64 ``(n_pairs, 5)``, columns ``(phantom, level, slice, input,
        target)`` (:data:`PAIR_COLUMNS`): every (phantom of the split, level,
        slice, ordered realization pair ``input != target``) exactly once,
        ``n_pairs = P L S K (K - 1)``.

    Examples
    --------
    >>> from spect_tutorial.datasets import synthetic_training_set
    >>> data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2)
    >>> epoch_pairs(data.noise2noise, seed=0, epoch=0).shape  # 2 phantoms x 2 x 2 x 2
    (16, 5)
    """
    seed = check_seed(seed)
    epoch = check_seed(epoch, "epoch")
    pairs = _all_pairs(dataset, split)
    return pairs[_pass_rng(seed, split, epoch).permutation(len(pairs))]


def gather_pairs(
    dataset: Noise2NoiseSet,
    pairs: np.ndarray,
    *,
    reference: IdealStore | None = None,
    crop_px: tuple[int, int] | None = None,
    offsets: np.ndarray | None = None,
    input_slices: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised input and target images of some pairs.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        The noisy slices.
    pairs : numpy.ndarray
        ``(B, 5)`` rows of :func:`epoch_pairs`.
    reference : IdealStore, optional
        Supervised training: the target is the ideal slice of the input's
        phantom and slice (and count level, when the store has
        ``level_images``); the ``target`` column is ignored. Default: the
        target is realization ``target`` (Noise2Noise).
    crop_px : tuple of int, optional
        Cut ``(height, width)`` patches, at ``offsets``.
    offsets : numpy.ndarray, optional
        ``(B, 2)`` top-left corners of the patches (with ``crop_px``).
    input_slices : int, optional
        Odd number of adjacent transaxial slices in each input (the 2.5D
        variant, :func:`spect_tutorial.model.adjacent_slices`): the pair's
        slice in the middle channel, the edge slice repeated at the slab's
        ends. The target stays the pair's one slice. Default 1 (2D).

    Returns
    -------
    inputs, targets : numpy.ndarray
        float32 ``(B, height, width, input_slices)`` and ``(B, height, width, 1)``,
        both divided by the input's volume mean.
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    phantom, level, slice_, first, second = pairs.T
    means = np.asarray(dataset.means, dtype=np.float64)[phantom, level, first]
    input_slices = integer(input_slices, "input_slices", unit="(a centre slice)", odd=True)
    neighbours = _neighbour_indices(slice_, dataset.n_slices, input_slices)
    inputs = dataset.images[phantom[:, None], level[:, None], first[:, None], neighbours]
    if reference is None:
        targets = dataset.images[phantom, level, second, slice_]
    elif reference.level_images is not None:  # the ideal differs per count level
        targets = reference.level_images[phantom, level, slice_]
    else:
        targets = reference.images[phantom, slice_]
    inputs, targets = normalise(inputs, means), normalise(targets, means)
    if crop_px is not None:
        height, width = crop_px
        rows = offsets[:, 0, None] + np.arange(height)
        cols = offsets[:, 1, None] + np.arange(width)
        batch = np.arange(len(pairs))[:, None, None]
        inputs = inputs[
            batch[..., None],
            np.arange(inputs.shape[1])[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]
        targets = targets[batch, rows[:, :, None], cols[:, None, :]]
    return np.moveaxis(inputs, 1, -1), targets[..., np.newaxis]


class PairSchedule:
    """Which pairs go into which batch of which epoch: deterministic from the seed.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        The noisy slices.
    split : {"train", "validation"}
        Phantoms to draw pairs from.
    seed : int
        Training seed.
    batch_size : int
        Pairs per batch.
    steps_per_epoch : int, optional
        ``None`` (default): an epoch is one pass over every pair, in the order
        of :func:`epoch_pairs` for that epoch, the last ``n_pairs % batch_size``
        pairs of the shuffled order left out (a different few each epoch).
        An int: an epoch is ``steps_per_epoch`` batches taken in turn from
        consecutive passes (each pass a fresh shuffle), so every pair is still
        used once per pass, whatever the epoch length.
    crop_px : tuple of int, optional
        Random ``(height, width)`` patches of the stored slices, the position
        drawn per pair and pass from the same seed (input and target share it).
    reference : IdealStore, optional
        Supervised targets (see :func:`gather_pairs`); same pairs and order.
    input_slices : int, optional
        Adjacent slices per input (2.5D, see :func:`gather_pairs`); default 1.

    Notes
    -----
    ``batch(epoch, step)`` depends only on its arguments, never on earlier
    calls: a resumed training reproduces the interrupted one exactly, and
    Keras may prefetch batches in another thread.
    """

    def __init__(
        self,
        dataset: Noise2NoiseSet,
        *,
        split: str,
        seed: int,
        batch_size: int,
        steps_per_epoch: int | None = None,
        crop_px: tuple[int, int] | None = None,
        reference: IdealStore | None = None,
        input_slices: int = 1,
    ) -> None:
        if not isinstance(dataset, Noise2NoiseSet):
            raise ValueError(f"dataset must be a Noise2NoiseSet, got {type(dataset).__name__}")
        self.dataset = dataset
        self.split = choice(split, "split", ("train", "validation"))
        self.seed = check_seed(seed)
        self.batch_size = integer(batch_size, "batch_size")
        if reference is not None:
            if not isinstance(reference, IdealStore):
                raise ValueError(
                    f"reference must be an IdealStore, got {type(reference).__name__}"
                )
            if not reference.matches(dataset):
                raise ValueError("reference does not match the dataset's phantoms and slices")
        self.reference = reference
        self.input_slices = integer(
            input_slices, "input_slices", unit="(a centre slice)", odd=True
        )
        self.crop_px = None
        if crop_px is not None:
            self.crop_px = int_tuple(
                crop_px, "crop_px", 2, what="(height, width) in pixels", itemwise=True
            )
        if self.crop_px is not None and any(
            crop > size for crop, size in zip(self.crop_px, dataset.slice_shape, strict=True)
        ):
            raise ValueError(
                f"crop_px {self.crop_px} is larger than the slices {dataset.slice_shape}"
            )
        self._pairs = _all_pairs(dataset, self.split)
        if len(self._pairs) == 0:
            raise ValueError(f"the dataset has no {self.split} phantoms")
        if steps_per_epoch is None:
            if len(self._pairs) < self.batch_size:
                raise ValueError(
                    f"{len(self._pairs)} {self.split} pairs are fewer than one batch of "
                    f"{self.batch_size}; use a smaller batch_size"
                )
            self.steps = len(self._pairs) // self.batch_size
            self.full_passes = True
        else:
            self.steps = integer(steps_per_epoch, "steps_per_epoch")
            self.full_passes = False
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def n_pairs(self) -> int:
        """Pairs in one pass (every phantom of the split, level, slice and ordered pair)."""
        return len(self._pairs)

    def _pass(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        with self._lock:
            if index not in self._cache:
                rng = _pass_rng(self.seed, self.split, index)
                order = self._pairs[rng.permutation(len(self._pairs))]
                offsets = None
                if self.crop_px is not None:
                    high = np.array(self.dataset.slice_shape) - np.array(self.crop_px) + 1
                    offsets = rng.integers(0, high, size=(len(order), 2))
                self._cache[index] = (order, offsets)
            self._cache.move_to_end(index)  # least recently used passes are dropped
            while len(self._cache) > 4:
                self._cache.popitem(last=False)
            return self._cache[index]

    def indices(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Pairs ``(B, 5)`` and patch offsets ``(B, 2)`` (or None) of one batch."""
        epoch = check_seed(epoch, "epoch")
        if not 0 <= step < self.steps:
            raise IndexError(f"step must be in [0, {self.steps}), got {step}")
        if self.full_passes:
            order, offsets = self._pass(epoch)
            part = slice(step * self.batch_size, (step + 1) * self.batch_size)
            return order[part], None if offsets is None else offsets[part]
        start = (epoch * self.steps + step) * self.batch_size
        positions = start + np.arange(self.batch_size)
        passes, within = np.divmod(positions, len(self._pairs))
        rows, corners = [], []
        for pass_index in np.unique(passes):
            order, offsets = self._pass(int(pass_index))
            chosen = within[passes == pass_index]
            rows.append(order[chosen])
            if offsets is not None:
                corners.append(offsets[chosen])
        return np.concatenate(rows), (np.concatenate(corners) if corners else None)

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Normalised ``(inputs, targets)``, each ``(B, height, width, 1)`` float32."""
        pairs, offsets = self.indices(epoch, step)
        return gather_pairs(
            self.dataset,
            pairs,
            reference=self.reference,
            crop_px=self.crop_px,
            offsets=offsets,
            input_slices=self.input_slices,
        )

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of epoch 0."""
        for step in range(self.steps):
            yield self.batch(0, step)


def pair_batches(
    dataset: Noise2NoiseSet,
    *,
    split: str = "train",
    seed: int,
    epoch: int,
    batch_size: int,
    reference: IdealStore | None = None,
    crop_px: tuple[int, int] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The normalised ``(inputs, targets)`` batches of one epoch, in order.

    A thin loop over :class:`PairSchedule` (one pass, the remainder of less
    than a batch left out): what the trainers feed to Keras, for a look at
    the data or a training loop of one's own.

    Parameters
    ----------
    dataset : Noise2NoiseSet
        The noisy slices.
    split : {"train", "validation"}, optional
        Which phantoms.
    seed, epoch : int
        The order is shuffled from ``(seed, epoch)`` (:func:`epoch_pairs`).
    batch_size : int
        Pairs per batch.
    reference : IdealStore, optional
        Ideal targets instead of noisy ones (supervised training).
    crop_px : tuple of int, optional
        Random patches of this size.

    Yields
    ------
    inputs, targets : numpy.ndarray
        float32 ``(batch_size, height, width, 1)``.

    Examples
    --------
    >>> from spect_tutorial.datasets import synthetic_training_set
    >>> data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2)
    >>> inputs, targets = next(pair_batches(data.noise2noise, seed=0, epoch=0, batch_size=4))
    >>> inputs.shape
    (4, 24, 24, 1)
    """
    schedule = PairSchedule(
        dataset,
        split=split,
        seed=seed,
        batch_size=batch_size,
        crop_px=crop_px,
        reference=reference,
    )
    epoch = check_seed(epoch, "epoch")
    for step in range(schedule.steps):
        yield schedule.batch(epoch, step)
