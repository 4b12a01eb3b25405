"""Training data for the denoising networks: Noise2Noise pairs and a separate ideal store.

:func:`build_training_set` draws random phantoms, simulates ``K`` independent
acquisitions of each at every count level, reconstructs them with OSEM
(:func:`spect_tutorial.study.simulate_study`) and keeps transaxial slices of the
heart: a crop of ``crop_px`` pixels centred (as far as the volume allows) on the
LV centre, over the *heart slab*, the slices within ``slab_half_width_mm``
(60 mm by default) of the LV centre along z. At 6.4 mm that is 19 slices,
enough for an LV of 7-9 cm and its surroundings, and it keeps the training set
about the organ the book is about rather than the liver or the empty air.

The result, :class:`TrainingData`, holds two stores that never mix:

* :class:`Noise2NoiseSet`: the noisy slices only. There is no ideal image in
  it at all, so a trainer that receives it *cannot* use one (a clinic has no
  noise-free image either). With ``count_splitting=True`` a second
  :class:`Noise2NoiseSet` holds the two binomial halves of *one* acquisition,
  reconstructed separately: a Noise2Noise pair from a single scan, at half the
  counts (Poisson thinning, :func:`spect_tutorial.noise.split_counts`).
* :class:`IdealStore`: the ideal slices (OSEM of the noise-free projections)
  and the myocardium mask, for the supervised upper bound and the evaluation.

Normalisation (one rule, no per-exam parameter)
-----------------------------------------------
Every slice is divided by the mean of its *whole reconstructed volume*
(:func:`normalise`). The volume mean is proportional to the counts, so the
network sees images of mean one at 12.5 % and at 200 %, in counts or in
relative activity: one model serves every count level. A pair's *target* is
divided by the *input's* volume mean, so the pair's relative scale is kept; an
all-zero volume gives zeros, never NaN. :func:`spect_tutorial.inference.denoise`
applies the same rule.

Pairs and batches
-----------------
The training pairs, epochs and batches cut from these stores are
:mod:`spect_tutorial.pairs`. The validation phantoms are whole phantoms held
out of training (split by phantom, so no anatomy is seen on both sides).

Cache
-----
Simulating a set takes seconds to minutes per phantom, so the arrays are
cached in ``cache_dir`` (default ``.cache/training``, git-ignored) under a
folder named by a hash of every parameter: ``data.npz`` (read with
``allow_pickle=False``) and ``manifest.json`` (parameters, the seed of every
phantom and of its noise, the validation phantoms, the phantoms' drawn
parameters, the package version). A later call with the same parameters
reloads it; any changed parameter gives a new folder. Every finished phantom is
also saved at once (``phantoms-<key>/``), so an interrupted build resumes where it
stopped; the environment variable ``SPECT_TUTORIAL_CACHE`` moves the default
cache out of the working tree. ``python -m spect_tutorial.datasets --set v2``
builds (or resumes) the training set v2 (:data:`TRAINING_SET_V2`).

This module builds numpy arrays only: it never imports TensorFlow or Keras.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._files import plain_json, sha256_arrays, sha256_bytes, write_file_atomically, write_json
from ._validation import (
    check_count_levels,
    check_seed,
    choice,
    int_tuple,
    integer,
    real_number,
)
from .acquisition import SpectGeometry
from .frame import (
    RECONSTRUCTION_VOXEL_SIZE_MM,
    SIMULATION_SHAPE,
    SIMULATION_VOXEL_SIZE_MM,
    check_voxel_size_mm,
    mm_to_index,
)
from .noise import STANDARD_COUNT_LEVELS, realization_seed, split_counts
from .protocol import check_disjoint_from_evaluation

__all__ = [
    "CACHE_ENV_VARIABLE",
    "DEFAULT_SLAB_HALF_WIDTH_MM",
    "TRAINING_SETS",
    "TRAINING_SET_V2",
    "IdealStore",
    "Noise2NoiseSet",
    "TrainingData",
    "build_training_set",
    "heart_box",
    "normalise",
    "synthetic_training_set",
    "training_seeds",
    "volume_mean",
]

#: Half-width of the heart slab along z in mm: slices within +-60 mm of the LV centre.
DEFAULT_SLAB_HALF_WIDTH_MM = 60.0

#: Environment variable naming a cache root outside the working tree: when set,
#: the default cache folder of :func:`build_training_set` is ``$VAR/training``.
CACHE_ENV_VARIABLE = "SPECT_TUTORIAL_CACHE"
_DEFAULT_CACHE_DIR = ".cache/training"

#: Training set v2 (issue 14): 96 random phantoms (24 held out for validation),
#: defects drawn anywhere on the 17-segment map in 60 of them, the v2
#: acquisition (scatter 0.3, corrected with an estimate from the measured
#: counts), 4 realizations and the count split at 12.5-200 %.
TRAINING_SET_V2: dict[str, Any] = {
    "n_phantoms": 96,
    "realizations": 4,
    "count_levels": STANDARD_COUNT_LEVELS,
    "seed": 14,
    "validation_fraction": 0.25,
    "count_splitting": True,
    "defect_probability": 0.7,  # 60 of the 96 phantoms (a test checks >= 60 %)
    "defect_model": "segments",
    "acquisition": "v2",
}

# Version of the cache layout: bump it when the arrays or their meaning change.
_CACHE_FORMAT = 1
# First word of the spawn keys of the training seeds ("TRAN" in ASCII), keeping
# them apart from the noise streams of realization_seed and from SeedSequence.spawn.
_TRAINING_STREAM_KEY = 0x5452414E
_PHANTOM, _NOISE, _SPLIT = 0, 1, 2


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _check_count_levels(count_levels: Any, *, distinct: bool = True) -> tuple[float, ...]:
    try:
        return check_count_levels(count_levels, distinct=distinct)
    except ValueError as error:
        if isinstance(count_levels, str | bytes) or not isinstance(count_levels, Iterable):
            raise ValueError(
                f"count_levels must be a sequence of percentages, got {count_levels!r}"
            ) from None
        if "repeat" in str(error):
            raise
        raise ValueError(f"count_levels must be percentages > 0, got {count_levels!r}") from None


def _pair(value: Any, name: str) -> tuple[int, int]:
    return int_tuple(value, name, 2, what="(height, width) in pixels", itemwise=True)  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------


def volume_mean(volume: Any) -> float:
    """Mean over every voxel of a volume (float64 accumulation).

    Parameters
    ----------
    volume : array_like
        A reconstructed volume ``(z, y, x)`` in any units.

    Returns
    -------
    float
        The mean; the normalising scale of :func:`normalise`.

    Examples
    --------
    >>> volume_mean(np.full((2, 3, 3), 4.0, dtype=np.float32))
    4.0
    """
    return float(np.mean(np.asarray(volume), dtype=np.float64))


def normalise(images: Any, mean: float | np.ndarray) -> np.ndarray:
    """Divide images by a volume mean; a zero mean gives zeros, never NaN.

    The network's one input normalisation: the training pairs
    (:func:`gather_pairs`), the training's validation report and
    :func:`spect_tutorial.inference.denoise` all call it.

    Parameters
    ----------
    images : array_like
        A volume or slices of it, any shape.
    mean : float or array_like
        The *input's* volume mean (:func:`volume_mean`), >= 0 and finite; or a
        1-D array of one such mean per entry along the first axis of
        ``images`` (a batch of pairs). Use the input's mean for its target too,
        so a pair keeps its relative scale.

    Returns
    -------
    numpy.ndarray
        float32 ``images / mean`` (zeros where ``mean == 0``).

    Raises
    ------
    ValueError
        If ``mean`` is negative or not finite, or holds more than one mean per
        image.

    Notes
    -----
    The volume mean grows in proportion to the counts, so
    ``normalise(c * f, volume_mean(c * f)) == normalise(f, volume_mean(f))``
    for any ``c > 0``: one network serves every count level and every unit,
    with no parameter set per exam.

    Examples
    --------
    >>> volume = np.array([[1.0, 3.0]], dtype=np.float32)
    >>> normalise(volume, volume_mean(volume))
    array([[0.5, 1.5]], dtype=float32)
    >>> normalise(np.zeros(2), 0.0)
    array([0., 0.], dtype=float32)
    """
    means = np.asarray(mean, dtype=np.float64)
    values = np.asarray(images)
    if means.ndim > 1 or (means.ndim == 1 and means.shape[0] != values.shape[0]):
        raise ValueError(
            f"mean must be one number or one per image along the first axis of images "
            f"(shape {values.shape}), got shape {means.shape}"
        )
    if not np.all(np.isfinite(means)) or np.any(means < 0):
        raise ValueError(f"mean must be a finite number >= 0, got {mean!r}")
    scale = means.reshape(means.shape + (1,) * (values.ndim - means.ndim))
    result = np.zeros(values.shape, dtype=np.float64)
    np.divide(values, scale, out=result, where=scale > 0)
    return result.astype(np.float32)


# ---------------------------------------------------------------------------
# The stores
# ---------------------------------------------------------------------------


def _split_phantoms(validation: np.ndarray, split: str) -> np.ndarray:
    split = choice(split, "split", ("train", "validation"))
    mask = validation if split == "validation" else ~validation
    return np.flatnonzero(mask)


@dataclass(frozen=True, eq=False)
class Noise2NoiseSet:
    """Noisy reconstructions for Noise2Noise training: no ideal image, by construction.

    Attributes
    ----------
    images : numpy.ndarray
        float32 ``(phantoms, levels, K, slices, height, width)`` transaxial
        slices of the heart, in the reconstruction's units (relative activity
        for simulated data).
    means : numpy.ndarray
        float64 ``(phantoms, levels, K)`` mean of each *whole* reconstructed
        volume: the normalising scale (:func:`normalise`).
    count_levels : tuple of float
        Count level of each level index, percent of the acquisition.
    validation : numpy.ndarray
        bool ``(phantoms,)``: held-out phantoms (validation loss, early stopping).
    voxel_size_mm : float
        Pixel size of the slices in mm.
    phantom_seeds : tuple of int
        Seed of each phantom (:func:`spect_tutorial.phantom.random_phantom`).
    origins : numpy.ndarray
        int ``(phantoms, 3)``: ``(z, y, x)`` index of the first voxel of each
        crop box in its reconstructed volume.
    kind : str
        ``"repeated"`` (K independent acquisitions) or ``"count_split"`` (the two
        binomial halves of one acquisition, ``K = 2``).
    count_fraction : float
        Counts of each image relative to ``count_levels``: 1 for repeated
        acquisitions, 0.5 for the halves of a count split.
    """

    images: np.ndarray
    means: np.ndarray
    count_levels: tuple[float, ...]
    validation: np.ndarray
    voxel_size_mm: float
    phantom_seeds: tuple[int, ...] = ()
    origins: np.ndarray | None = None
    kind: str = "repeated"
    count_fraction: float = 1.0
    _fingerprint: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.ndim != 6:
            raise ValueError(
                "images must be (phantoms, levels, K, slices, height, width), "
                f"got shape {images.shape}"
            )
        if images.dtype != np.float32:
            raise ValueError(f"images must be float32, got {images.dtype}")
        if images.shape[2] < 2:
            raise ValueError(
                f"Noise2Noise needs K >= 2 realizations per level, got K = {images.shape[2]}"
            )
        if np.shape(self.means) != images.shape[:3]:
            raise ValueError(
                f"means must have shape {images.shape[:3]} (phantoms, levels, K), "
                f"got {np.shape(self.means)}"
            )
        if len(self.count_levels) != images.shape[1]:
            raise ValueError(
                f"count_levels must list {images.shape[1]} levels, got {self.count_levels!r}"
            )
        validation = np.asarray(self.validation)
        if validation.shape != (images.shape[0],) or validation.dtype != bool:
            raise ValueError(f"validation must be a bool array of shape ({images.shape[0]},)")
        if self.kind not in ("repeated", "count_split"):
            raise ValueError(f"kind must be 'repeated' or 'count_split', got {self.kind!r}")
        if not np.all(np.isfinite(self.means)) or np.any(np.asarray(self.means) < 0):
            raise ValueError("means must be finite and >= 0")

    @property
    def n_phantoms(self) -> int:
        """Number of phantoms (training and validation)."""
        return int(self.images.shape[0])

    @property
    def n_realizations(self) -> int:
        """Realizations per phantom and level (``K``)."""
        return int(self.images.shape[2])

    @property
    def n_slices(self) -> int:
        """Slices per phantom (the heart slab)."""
        return int(self.images.shape[3])

    @property
    def slice_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the slices in pixels."""
        return int(self.images.shape[4]), int(self.images.shape[5])

    def phantoms(self, split: str = "train") -> np.ndarray:
        """Indices of the phantoms of ``split`` (``"train"`` or ``"validation"``)."""
        return _split_phantoms(np.asarray(self.validation), split)

    def fingerprint(self) -> str:
        """SHA-256 of the arrays and split: identifies the data a checkpoint was trained on."""
        if not self._fingerprint:
            arrays = (self.images, np.asarray(self.means, np.float64), self.validation)
            extra = [json.dumps([self.kind, list(self.count_levels)]).encode()]
            self._fingerprint.append(sha256_arrays(arrays, extra=extra))
        return self._fingerprint[0]


@dataclass(frozen=True, eq=False)
class IdealStore:
    """Ideal (noise-free OSEM) slices: the supervised targets and the evaluation reference.

    Kept apart from :class:`Noise2NoiseSet` so that a Noise2Noise trainer
    never receives an ideal image.

    Attributes
    ----------
    images : numpy.ndarray
        float32 ``(phantoms, slices, height, width)`` ideal slices, the same
        crops as the noisy slices. Without an additive term OSEM is
        scale-equivariant, so one ideal image serves every count level (in
        relative activity units); with one, see ``level_images``.
    myocardium : numpy.ndarray
        bool ``(phantoms, slices, height, width)`` myocardium mask of the crops.
    validation : numpy.ndarray
        bool ``(phantoms,)``, as in the matching :class:`Noise2NoiseSet`.
    voxel_size_mm : float
        Pixel size in mm.
    has_defect : numpy.ndarray
        bool ``(phantoms,)``: the phantom has a perfusion defect.
    origins : numpy.ndarray or None
        ``(phantoms, 3)`` crop origins, as in the matching set.
    level_images : numpy.ndarray or None
        float32 ``(phantoms, levels, slices, height, width)``: the ideal slices
        at each count level, when they differ (an acquisition whose OSEM has
        an additive scatter term is not scale-equivariant); ``images`` is then
        the ideal at 100 % counts (or the level nearest it).
    """

    images: np.ndarray
    myocardium: np.ndarray
    validation: np.ndarray
    voxel_size_mm: float
    has_defect: np.ndarray | None = None
    origins: np.ndarray | None = None
    level_images: np.ndarray | None = None

    def __post_init__(self) -> None:
        if np.ndim(self.images) != 4:
            raise ValueError(
                f"images must be (phantoms, slices, height, width), got {np.shape(self.images)}"
            )
        if np.shape(self.myocardium) != np.shape(self.images):
            raise ValueError("myocardium must have the shape of images")
        if self.level_images is not None and (
            np.ndim(self.level_images) != 5
            or np.shape(self.level_images)[:1] + np.shape(self.level_images)[2:]
            != np.shape(self.images)
        ):
            raise ValueError(
                "level_images must be (phantoms, levels, slices, height, width) matching "
                f"images {np.shape(self.images)}, got {np.shape(self.level_images)}"
            )

    def matches(self, dataset: Noise2NoiseSet) -> bool:
        """Whether this store describes the same phantoms, slices and split as ``dataset``."""
        return (
            self.images.shape[0] == dataset.n_phantoms
            and self.images.shape[1] == dataset.n_slices
            and tuple(self.images.shape[2:]) == dataset.slice_shape
            and bool(np.array_equal(self.validation, dataset.validation))
        )


@dataclass(frozen=True, eq=False)
class TrainingData:
    """What :func:`build_training_set` returns.

    Attributes
    ----------
    noise2noise : Noise2NoiseSet
        K independent acquisitions per phantom and level (no ideal image).
    reference : IdealStore
        The ideal slices (supervised targets, evaluation).
    count_split : Noise2NoiseSet or None
        The two binomial halves of one acquisition per phantom and level
        (``count_splitting=True``), at half counts.
    manifest : dict
        Parameters, seeds and provenance (also ``manifest.json`` in the cache).
    path : pathlib.Path or None
        The cache folder, if any.
    """

    noise2noise: Noise2NoiseSet
    reference: IdealStore
    count_split: Noise2NoiseSet | None
    manifest: dict[str, Any]
    path: Path | None = None


# ---------------------------------------------------------------------------
# Seeds, crops
# ---------------------------------------------------------------------------


def _derived_seed(seed: int, index: int, stream: int) -> int:
    sequence = np.random.SeedSequence(seed, spawn_key=(_TRAINING_STREAM_KEY, index, stream))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def training_seeds(seed: int, n_phantoms: int) -> dict[str, list[int]]:
    """The seeds of every phantom of a training set, derived from one seed.

    Parameters
    ----------
    seed : int
        The training set's seed (>= 0).
    n_phantoms : int
        Number of phantoms (>= 1).

    Returns
    -------
    dict
        ``"phantom"``: the seed of :func:`~spect_tutorial.phantom.random_phantom`
        for each phantom; ``"noise"``: the noise seed of
        :func:`~spect_tutorial.study.simulate_study`; ``"split"``: the seed of
        the count split. Lists of ``n_phantoms`` ints in ``[0, 2**32)``.

    Notes
    -----
    Phantom ``i`` uses ``SeedSequence(seed, spawn_key=(0x5452414E, i, stream))``
    (``"TRAN"``), so its seeds do not depend on ``n_phantoms``: a larger set
    extends a smaller one. Held-out evaluation seeds must be disjoint from the
    ``"phantom"`` list (science.md section 8); compare them with it.

    Examples
    --------
    >>> training_seeds(0, 3)["phantom"] == training_seeds(0, 5)["phantom"][:3]
    True
    """
    seed = check_seed(seed)
    n_phantoms = integer(n_phantoms, "n_phantoms")
    return {
        name: [_derived_seed(seed, index, stream) for index in range(n_phantoms)]
        for name, stream in (("phantom", _PHANTOM), ("noise", _NOISE), ("split", _SPLIT))
    }


def heart_box(
    shape: tuple[int, int, int],
    center_mm: Sequence[float],
    voxel_size_mm: float,
    *,
    crop_px: tuple[int, int] | None,
    slab_half_width_mm: float | None,
) -> tuple[slice, slice, slice]:
    """The ``(z, y, x)`` slices of the heart crop in a reconstructed volume.

    Parameters
    ----------
    shape : tuple of int
        ``(z, y, x)`` shape of the volume.
    center_mm : sequence of float
        LV centre ``(x, y, z)`` in mm (``LVGeometry.center_mm``).
    voxel_size_mm : float
        Voxel edge in mm.
    crop_px : tuple of int or None
        ``(height, width)`` of the transaxial crop; ``None``: whole slices.
    slab_half_width_mm : float or None
        Keep the ``2 * floor(w / voxel) + 1`` slices centred on the LV centre's
        slice (those within ``w`` mm of it); ``None``: every slice.

    Returns
    -------
    tuple of slice
        The box, centred on the LV centre as far as the volume allows: a box
        that would leave the volume is shifted inside it (never padded).

    Raises
    ------
    ValueError
        If the crop or slab is larger than the volume.

    Examples
    --------
    >>> heart_box((32, 32, 32), (0.0, 0.0, 0.0), 12.8, crop_px=(8, 8), slab_half_width_mm=30)
    (slice(14, 19, None), slice(12, 20, None), slice(12, 20, None))
    """
    centre = mm_to_index(np.asarray(center_mm, dtype=np.float64), shape, voxel_size_mm)
    if slab_half_width_mm is None:
        size_z = shape[0]
    else:
        if not math.isfinite(slab_half_width_mm) or slab_half_width_mm < 0:
            raise ValueError(
                f"slab_half_width_mm must be a finite length >= 0 mm, got {slab_half_width_mm!r}"
            )
        size_z = 2 * math.floor(slab_half_width_mm / voxel_size_mm + 1e-9) + 1
    height, width = (shape[1], shape[2]) if crop_px is None else crop_px
    boxes = []
    for axis, size in enumerate((size_z, height, width)):
        if size > shape[axis]:
            name = "slab" if axis == 0 else "crop_px"
            raise ValueError(
                f"the {name} ({size} voxels along axis {axis}) is larger than the volume "
                f"({shape[axis]} voxels); choose a smaller one"
            )
        start = round(float(centre[axis]) - (size - 1) / 2.0)
        start = min(max(start, 0), shape[axis] - size)
        boxes.append(slice(start, start + size))
    return boxes[0], boxes[1], boxes[2]


# ---------------------------------------------------------------------------
# Building and caching
# ---------------------------------------------------------------------------


def _parameters(**values: Any) -> dict[str, Any]:
    from . import __version__

    return plain_json({"cache_format": _CACHE_FORMAT, "package_version": __version__, **values})


def _cache_key(parameters: Mapping[str, Any]) -> str:
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    return sha256_bytes(text.encode("utf-8"))[:20]


def _validation_mask(n_phantoms: int, validation_fraction: float) -> np.ndarray:
    if not math.isfinite(validation_fraction) or not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    n_validation = round(validation_fraction * n_phantoms)
    if validation_fraction > 0:
        n_validation = max(n_validation, 1)
        if n_validation >= n_phantoms:
            raise ValueError(
                f"validation_fraction={validation_fraction} of {n_phantoms} phantoms leaves "
                "none for training; use more phantoms or validation_fraction=0"
            )
    mask = np.zeros(n_phantoms, dtype=bool)
    if n_validation:
        mask[n_phantoms - n_validation :] = True  # phantoms are i.i.d.: the last ones
    return mask


def _save_cache(folder: Path, arrays: Mapping[str, np.ndarray], manifest: Mapping) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_file_atomically(
        folder / "data.npz", lambda handle: np.savez(handle, **arrays), overwrite=True
    )
    # The manifest is written last: its presence marks a complete cache entry.
    write_json(folder / "manifest.json", manifest, sort_keys=True, allow_nan=False, overwrite=True)


def _load_cache(folder: Path, parameters: Mapping) -> tuple[dict, dict] | None:
    manifest_path, data_path = folder / "manifest.json", folder / "data.npz"
    if not (manifest_path.is_file() and data_path.is_file()):
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("parameters") != parameters:
        return None
    try:
        with np.load(data_path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile):
        return None  # damaged: simulate again (and overwrite it)
    return arrays, manifest


def _stores(
    arrays: Mapping[str, np.ndarray],
    *,
    count_levels: tuple[float, ...],
    voxel_size_mm: float,
    phantom_seeds: tuple[int, ...],
) -> tuple[Noise2NoiseSet, IdealStore, Noise2NoiseSet | None]:
    validation = arrays["validation"].astype(bool)
    origins = arrays["origins"].astype(np.int64)

    def pairs(name: str, **kind: Any) -> Noise2NoiseSet:
        return Noise2NoiseSet(
            images=arrays[name].astype(np.float32, copy=False),
            means=arrays[f"{name}_means"].astype(np.float64),
            count_levels=count_levels,
            validation=validation,
            voxel_size_mm=voxel_size_mm,
            phantom_seeds=phantom_seeds,
            origins=origins,
            **kind,
        )

    noisy = pairs("noisy")
    reference = IdealStore(
        images=arrays["ideal"].astype(np.float32, copy=False),
        myocardium=arrays["myocardium"].astype(bool),
        validation=validation,
        voxel_size_mm=voxel_size_mm,
        has_defect=arrays["has_defect"].astype(bool),
        origins=origins,
        level_images=None
        if "ideal_levels" not in arrays
        else arrays["ideal_levels"].astype(np.float32, copy=False),
    )
    split = None
    if "halves" in arrays:
        split = pairs("halves", kind="count_split", count_fraction=0.5)
    return noisy, reference, split


def _simulate_phantom(
    *,
    phantom_seed: int,
    noise_seed: int,
    split_seed: int,
    levels: tuple[float, ...],
    realizations: int,
    shape: tuple[int, int, int],
    voxel_size_mm: float,
    defect_probability: float,
    defect_model: str,
    geometry: SpectGeometry,
    n_iter: int,
    n_subsets: int,
    crop: tuple[int, int] | None,
    slab_half_width_mm: float | None,
    count_splitting: bool,
    study_kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """Simulate one training phantom at every count level: its arrays and parameters."""
    from .phantom import random_phantom
    from .recon import osem
    from .study import simulate_study

    phantom = random_phantom(
        seed=phantom_seed,
        shape=shape,
        voxel_size_mm=voxel_size_mm,
        defect_probability=defect_probability,
        defect_model=defect_model,
    )
    noisy, means, ideals, halves, halves_means = [], [], [], [], []
    box, result = None, {}
    for level in levels:
        study = simulate_study(
            phantom,
            count_level=level,
            n_realizations=realizations,
            seed=noise_seed,
            geometry=geometry,
            n_iter=n_iter,
            n_subsets=n_subsets,
            **study_kwargs,
        )
        if box is None:
            box = heart_box(
                study.ideal.shape,
                study.lv.center_mm,
                float(study.voxel_size_mm),
                crop_px=crop,
                slab_half_width_mm=slab_half_width_mm,
            )
            result = {
                "voxel_size_mm": np.float64(study.voxel_size_mm),
                "myocardium": study.myocardium_mask[box],
                "origin": np.asarray([part.start for part in box], np.int64),
                "has_defect": np.bool_(
                    study.defect_mask is not None and bool(study.defect_mask.any())
                ),
                "parameters": np.str_(json.dumps(plain_json(phantom.parameters))),
            }
        ideals.append(study.ideal[box])
        noisy.append(study.recons[(slice(None), *box)])
        means.append([volume_mean(volume) for volume in study.recons])
        if count_splitting:
            first, second = split_counts(
                study.projections[0], 0.5, seed=realization_seed(split_seed, level)
            )
            additive = None
            if study.additive is not None:
                # Each half carries half the counts, and (linear estimate) half the scatter.
                additive = 0.5 * study.additive[0]
                if study.scatter_correction == "estimated":
                    from .acquisition import estimate_scatter

                    additive = estimate_scatter(
                        np.stack([first, second]),
                        geometry,
                        scatter_to_primary=float(study_kwargs["scatter_to_primary"]),
                    )
            half_images = osem(
                np.stack([first, second]),
                study.system,
                n_iter=n_iter,
                n_subsets=n_subsets,
                additive=additive,
            ) / np.float32(0.5 * study.counts_per_unit)
            halves.append(half_images[(slice(None), *box)])
            halves_means.append([volume_mean(volume) for volume in half_images])
    result["noisy"] = np.asarray(noisy, np.float32)
    result["noisy_means"] = np.asarray(means, np.float64)
    result["ideal_levels"] = np.asarray(ideals, np.float32)
    if count_splitting:
        result["halves"] = np.asarray(halves, np.float32)
        result["halves_means"] = np.asarray(halves_means, np.float64)
    return result


def _save_phantom(path: Path, result: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(path, lambda handle: np.savez(handle, **result), overwrite=True)


def _load_phantom(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # damaged (an interrupted write cannot be: they are atomic)


def _simulate_and_save(path: Path | None, task: Mapping[str, Any]) -> dict[str, Any] | None:
    """One worker's phantom: saved to ``path`` (then ``None`` is returned), else returned."""
    result = _simulate_phantom(**task)
    if path is None:
        return result
    _save_phantom(path, result)
    return None


def _simulate_in_workers(
    paths: Sequence[Path | None],
    task: Callable[[int], dict[str, Any]],
    workers: int,
    progress: bool,
) -> dict[int, dict[str, Any]]:
    """Simulate the phantoms not yet cached in ``workers`` processes.

    Cached phantoms are written to their files (and reloaded by the caller);
    without a cache the results come back, keyed by phantom index.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    missing = [index for index, path in enumerate(paths) if path is None or not path.is_file()]
    if len(missing) < 2:
        return {}
    started, returned = time.perf_counter(), {}
    # "spawn": a fresh interpreter per worker, safe whatever the parent has imported.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(missing)), mp_context=context) as pool:
        futures = {pool.submit(_simulate_and_save, paths[i], task(i)): i for i in missing}
        for done, future in enumerate(as_completed(futures), start=1):
            index = futures[future]
            result = future.result()
            if result is not None:
                returned[index] = result
            if progress:
                elapsed = time.perf_counter() - started
                left = (len(missing) - done) * elapsed / done / 60
                print(
                    f"phantom {index + 1}/{len(paths)} simulated by a worker "
                    f"({done}/{len(missing)} missing done, about {left:.0f} min left)",
                    flush=True,
                )
    return returned


def build_training_set(
    *,
    n_phantoms: int,
    realizations: int = 4,
    count_levels: Sequence[float] = STANDARD_COUNT_LEVELS,
    seed: int,
    validation_fraction: float = 0.25,
    crop_px: tuple[int, int] | None = (48, 48),
    slab_half_width_mm: float | None = DEFAULT_SLAB_HALF_WIDTH_MM,
    count_splitting: bool = False,
    shape: tuple[int, int, int] = SIMULATION_SHAPE,
    voxel_size_mm: float = SIMULATION_VOXEL_SIZE_MM,
    defect_probability: float = 0.5,
    geometry: SpectGeometry | None = None,
    n_iter: int = 4,
    n_subsets: int = 8,
    cache_dir: str | Path | None = _DEFAULT_CACHE_DIR,
    progress: bool = False,
    acquisition: str | Any = "v1",
    defect_model: str = "territories",
    workers: int = 1,
) -> TrainingData:
    """Simulate (or reload) a training set of noisy heart slices and their ideal images.

    Parameters
    ----------
    n_phantoms : int
        Random phantoms (:func:`~spect_tutorial.phantom.random_phantom`), >= 1.
    realizations : int, optional
        Independent acquisitions ``K`` per phantom and count level (>= 2): the
        ``K (K - 1)`` ordered pairs are the Noise2Noise pairs.
    count_levels : sequence of float, optional
        Count levels in percent (default 12.5, 25, 50, 100, 200): one model
        for every level.
    seed : int
        Seed of everything (phantoms, noise, count split), >= 0; see
        :func:`training_seeds`. Keep it apart from the held-out evaluation seeds.
    validation_fraction : float, optional
        Fraction of the phantoms held out for the validation loss, in [0, 1);
        at least one phantom when > 0 (the last ones: phantoms are i.i.d.).
    crop_px : tuple of int or None, optional
        ``(height, width)`` of the transaxial crop around the LV centre
        (48 x 48 pixels = 307 mm at 6.4 mm); ``None`` keeps whole slices.
    slab_half_width_mm : float or None, optional
        Keep the slices within this distance of the LV centre along z (60 mm:
        19 slices at 6.4 mm); ``None`` keeps every slice.
    count_splitting : bool, optional
        Also keep, per phantom and level, the two binomial halves of
        realization 0 reconstructed separately (``TrainingData.count_split``).
    shape, voxel_size_mm, defect_probability : optional
        Phantom grid and defect probability (128^3 at 3.2 mm: twice as fine as
        the 6.4 mm reconstruction, against the inverse crime).
    geometry : SpectGeometry, optional
        Camera and orbit (ASNC defaults: 64 views, 6.4 mm bins).
    n_iter, n_subsets : int, optional
        OSEM settings (4 x 8).
    cache_dir : str or path or None, optional
        Cache folder (``None``: no cache). A relative path is relative to the
        current directory; ``.cache/`` is git-ignored. The default is
        ``$SPECT_TUTORIAL_CACHE/training`` when that variable is set
        (:data:`CACHE_ENV_VARIABLE`), else ``.cache/training``.
    progress : bool, optional
        Print one line per phantom (with the time left).
    acquisition : str or AcquisitionSettings, optional
        ``"v1"`` (the study's, no scatter), ``"v2"`` (scatter, corrected with
        an estimate from the measured counts) or an
        :class:`~spect_tutorial.study.AcquisitionSettings`. With an additive
        scatter term the ideal image differs per count level: the reference
        then also holds ``level_images``.
    defect_model : {"territories", "segments"}, optional
        How :func:`~spect_tutorial.phantom.random_phantom` places defects.
    workers : int, optional
        Processes that simulate the missing phantoms side by side (default 1:
        in this process). Every phantom has its own seeds, so the set is the
        same for any number of workers; use one per CPU core.

    Returns
    -------
    TrainingData

    Raises
    ------
    ValueError
        For out-of-range parameters, or a crop or slab larger than the volume.

    Notes
    -----
    Memory: ``4 n_phantoms L K S H W`` bytes for the noisy slices (about
    3.5 MB per phantom with the defaults: 5 levels, K = 4, 19 slices, 48 x 48),
    half as much again with ``count_splitting``. Time: about 27 s per phantom
    with the defaults and the count split on one CPU core (5 levels x 4
    realizations), so 24 phantoms take about 11 minutes, once: later calls
    reload the cache in about a second.

    With a cache, every finished phantom is saved at once (in
    ``phantoms-<key>/`` beside the set, a key without ``n_phantoms`` and
    ``validation_fraction``, so a larger set reuses a smaller one's
    phantoms): an interrupted build resumes at the first missing phantom.

    Examples
    --------
    >>> from spect_tutorial.acquisition import SpectGeometry
    >>> data = build_training_set(
    ...     n_phantoms=2, realizations=2, count_levels=(50,), seed=0, crop_px=(16, 16),
    ...     shape=(64, 64, 64), voxel_size_mm=6.4, cache_dir=None,
    ...     geometry=SpectGeometry(n_views=32, n_bins=32, bin_size_mm=12.8),
    ... )  # doctest: +SKIP
    >>> data.noise2noise.images.shape  # doctest: +SKIP
    (2, 1, 2, 9, 16, 16)
    """
    from .phantom import DEFECT_MODELS
    from .study import _check_subsets, _geometry_or_default, acquisition_settings

    n_phantoms = integer(n_phantoms, "n_phantoms")
    realizations = integer(realizations, "realizations", minimum=2)
    seed = check_seed(seed)
    levels = _check_count_levels(count_levels)
    validation = _validation_mask(
        n_phantoms, real_number(validation_fraction, "validation_fraction")
    )
    crop = None if crop_px is None else _pair(crop_px, "crop_px")
    geometry = _geometry_or_default(geometry)
    if isinstance(shape, str | bytes) or not isinstance(shape, Iterable):
        raise ValueError(f"shape must be three voxel counts (z, y, x), got {shape!r}")
    shape = tuple(integer(size, "shape") for size in shape)
    if len(shape) != 3:
        raise ValueError(f"shape must be three voxel counts (z, y, x), got {shape!r}")
    check_voxel_size_mm(voxel_size_mm)
    if slab_half_width_mm is not None and (
        not isinstance(slab_half_width_mm, numbers.Real)
        or not math.isfinite(slab_half_width_mm)
        or slab_half_width_mm < 0
    ):
        raise ValueError(
            f"slab_half_width_mm must be a finite length >= 0 mm or None, got "
            f"{slab_half_width_mm!r}"
        )
    if not isinstance(defect_probability, numbers.Real) or not 0 <= defect_probability <= 1:
        raise ValueError(f"defect_probability must be in [0, 1], got {defect_probability!r}")
    settings = acquisition_settings(acquisition)
    if defect_model not in DEFECT_MODELS:
        raise ValueError(f"defect_model must be one of {DEFECT_MODELS}, got {defect_model!r}")
    if isinstance(cache_dir, str) and cache_dir == _DEFAULT_CACHE_DIR:
        root = os.environ.get(CACHE_ENV_VARIABLE)
        if root:
            cache_dir = Path(root) / "training"
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise ValueError(f"cache_dir must be a path or None, got {cache_dir!r}")
    integer(n_iter, "n_iter")
    integer(n_subsets, "n_subsets")
    integer(workers, "workers", maximum=256)
    _check_subsets(n_subsets, geometry)
    seeds = training_seeds(seed, n_phantoms)
    check_disjoint_from_evaluation(seeds["phantom"])  # no held-out patient in training
    parameters = _parameters(
        n_phantoms=n_phantoms,
        realizations=realizations,
        count_levels=levels,
        seed=seed,
        validation_fraction=float(validation_fraction),
        crop_px=crop,
        slab_half_width_mm=None if slab_half_width_mm is None else float(slab_half_width_mm),
        count_splitting=bool(count_splitting),
        shape=shape,
        voxel_size_mm=float(voxel_size_mm),
        defect_probability=float(defect_probability),
        geometry=asdict(geometry),
        n_iter=int(n_iter),
        n_subsets=int(n_subsets),
        # Only non-default choices enter the parameters: v1 sets keep their cache keys.
        **({} if settings.name == "v1" else {"acquisition": settings.to_dict()}),
        **({} if defect_model == "territories" else {"defect_model": defect_model}),
    )
    folder = None if cache_dir is None else Path(cache_dir) / _cache_key(parameters)
    if folder is not None:
        cached = _load_cache(folder, parameters)
        if cached is not None:
            arrays, manifest = cached
            manifest["loaded_from_cache"] = True
            noisy, reference, split = _stores(
                arrays,
                count_levels=levels,
                voxel_size_mm=float(manifest["reconstruction_voxel_size_mm"]),
                phantom_seeds=tuple(seeds["phantom"]),
            )
            if progress:
                print(f"training set loaded from {folder}")
            return TrainingData(noisy, reference, split, manifest, folder)

    started = time.perf_counter()
    phantom_folder = None
    if folder is not None:
        per_phantom = {
            k: v for k, v in parameters.items() if k not in ("n_phantoms", "validation_fraction")
        }
        phantom_folder = folder.parent / f"phantoms-{_cache_key(per_phantom)}"
    simulate = {
        "levels": levels,
        "realizations": realizations,
        "shape": shape,
        "voxel_size_mm": float(voxel_size_mm),
        "defect_probability": float(defect_probability),
        "defect_model": defect_model,
        "geometry": geometry,
        "n_iter": int(n_iter),
        "n_subsets": int(n_subsets),
        "crop": crop,
        "slab_half_width_mm": slab_half_width_mm,
        "count_splitting": bool(count_splitting),
        "study_kwargs": settings.study_kwargs(),
    }
    paths: list[Path | None] = [
        None
        if phantom_folder is None
        else phantom_folder / f"{index:05d}-{seeds['phantom'][index]}.npz"
        for index in range(n_phantoms)
    ]

    def phantom_task(index: int) -> dict[str, Any]:
        return {
            "phantom_seed": seeds["phantom"][index],
            "noise_seed": seeds["noise"][index],
            "split_seed": seeds["split"][index],
            **simulate,
        }

    simulated_by_workers = {}
    if workers > 1:
        simulated_by_workers = _simulate_in_workers(paths, phantom_task, workers, progress)
    results, simulated_seconds, n_simulated = [], 0.0, 0
    for index in range(n_phantoms):
        tic = time.perf_counter()
        path = paths[index]
        result = simulated_by_workers.pop(index, None) or _load_phantom(path)
        reloaded = result is not None
        if result is None:
            result = _simulate_phantom(**phantom_task(index))
            if path is not None:
                _save_phantom(path, result)
            simulated_seconds += time.perf_counter() - tic
            n_simulated += 1
        results.append(result)
        if progress:
            left = n_phantoms - index - 1
            eta = (
                ""
                if not n_simulated
                else f", about {left * simulated_seconds / n_simulated / 60:.0f} min left"
            )
            print(
                f"phantom {index + 1}/{n_phantoms} (seed {seeds['phantom'][index]}): "
                + (
                    "reloaded"
                    if reloaded
                    else f"{len(levels)} levels x {realizations} "
                    f"realizations in {time.perf_counter() - tic:.1f} s"
                )
                + eta,
                flush=True,
            )
    recon_voxel_mm = float(results[0]["voxel_size_mm"])
    phantom_parameters = [json.loads(str(result["parameters"])) for result in results]
    reference_level = int(np.argmin([abs(level - 100.0) for level in levels]))
    noisy_slices = [r["noisy"] for r in results]
    noisy_means = [r["noisy_means"] for r in results]
    ideal_slices = [r["ideal_levels"][reference_level] for r in results]
    myocardium_slices = [r["myocardium"] for r in results]
    origins = [r["origin"] for r in results]
    has_defect = [bool(r["has_defect"]) for r in results]
    halves_slices = [r["halves"] for r in results] if count_splitting else []
    halves_means = [r["halves_means"] for r in results] if count_splitting else []
    arrays = {
        "noisy": np.asarray(noisy_slices, dtype=np.float32),
        "noisy_means": np.asarray(noisy_means, dtype=np.float64),
        "ideal": np.asarray(ideal_slices, dtype=np.float32),
        "myocardium": np.asarray(myocardium_slices, dtype=bool),
        "validation": validation,
        "origins": np.asarray(origins, dtype=np.int64),
        "has_defect": np.asarray(has_defect, dtype=bool),
    }
    if settings.scatter_to_primary > 0 and settings.scatter_correction != "none":
        arrays["ideal_levels"] = np.asarray([r["ideal_levels"] for r in results], np.float32)
    if count_splitting:
        arrays["halves"] = np.asarray(halves_slices, dtype=np.float32)
        arrays["halves_means"] = np.asarray(halves_means, dtype=np.float64)
    manifest = {
        "parameters": parameters,
        "phantom_seeds": seeds["phantom"],
        "noise_seeds": seeds["noise"],
        "split_seeds": seeds["split"] if count_splitting else None,
        "validation_phantoms": np.flatnonzero(validation).tolist(),
        "reconstruction_voxel_size_mm": recon_voxel_mm,
        "slices": int(arrays["noisy"].shape[3]),
        "slice_shape_px": list(arrays["noisy"].shape[4:]),
        "normalisation": "divide by the mean of the input's whole reconstructed volume",
        "phantoms": phantom_parameters,
        "acquisition": settings.to_dict(),
        "defect_model": defect_model,
        "ideal": "per count level (ideal_levels)"
        if "ideal_levels" in arrays
        else "one for every count level (OSEM is scale-equivariant without an additive term)",
        "build_seconds": round(time.perf_counter() - started, 3),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    manifest = plain_json(manifest)
    if folder is not None:
        _save_cache(folder, arrays, manifest)
    manifest["loaded_from_cache"] = False
    noisy, reference, split = _stores(
        arrays,
        count_levels=levels,
        voxel_size_mm=float(recon_voxel_mm),
        phantom_seeds=tuple(seeds["phantom"]),
    )
    return TrainingData(noisy, reference, split, manifest, folder)


# ---------------------------------------------------------------------------
# A fast synthetic set (tests, first demonstrations)
# ---------------------------------------------------------------------------


def _blob_image(rng: np.random.Generator, n_slices: int, size: tuple[int, int]) -> np.ndarray:
    z, y, x = np.meshgrid(
        np.arange(n_slices), np.arange(size[0]), np.arange(size[1]), indexing="ij"
    )
    image = np.full((n_slices, *size), 0.1)
    for _ in range(4):
        centre = rng.uniform([0, 0, 0], [n_slices, size[0], size[1]])
        width = rng.uniform(1.5, 4.0)
        amplitude = rng.uniform(0.5, 2.0)
        distance2 = (z - centre[0]) ** 2 / 4.0 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
        image += amplitude * np.exp(-distance2 / (2 * width**2))
    # A ring: a myocardium-like wall.
    ring_radius = rng.uniform(0.2, 0.35) * min(size)
    radius = np.hypot(y - size[0] / 2, x - size[1] / 2)
    image += 1.5 * np.exp(-((radius - ring_radius) ** 2) / (2 * 1.2**2))
    return image


def synthetic_training_set(
    *,
    n_phantoms: int = 6,
    realizations: int = 3,
    count_levels: Sequence[float] = (25.0, 100.0),
    n_slices: int = 4,
    slice_shape: tuple[int, int] = (24, 24),
    counts_per_unit: float = 20.0,
    validation_fraction: float = 0.34,
    seed: int = 0,
) -> TrainingData:
    """A tiny synthetic training set: smooth blobs and a ring plus Poisson noise.

    No phantom, projector or OSEM: each "volume" is a stack of smooth images
    (Gaussian blobs and a myocardium-like ring) with Poisson noise drawn in the
    image domain. Seconds to build, for tests and a first demonstration of
    Noise2Noise; the conclusions of the book come from :func:`build_training_set`.

    Parameters
    ----------
    n_phantoms, realizations, count_levels, validation_fraction, seed
        As for :func:`build_training_set`.
    n_slices : int, optional
        Slices per volume.
    slice_shape : tuple of int, optional
        ``(height, width)`` in pixels.
    counts_per_unit : float, optional
        Expected counts per unit of image value at 100 % (image values are
        about 0.1-3).

    Returns
    -------
    TrainingData
        With ``reference.images`` the noise-free images; no cache.

    Examples
    --------
    >>> data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2)
    >>> data.noise2noise.images.shape
    (3, 2, 2, 2, 24, 24)
    """
    n_phantoms = integer(n_phantoms, "n_phantoms")
    realizations = integer(realizations, "realizations", minimum=2)
    n_slices = integer(n_slices, "n_slices")
    size = _pair(slice_shape, "slice_shape")
    levels = _check_count_levels(count_levels, distinct=False)
    real_number(counts_per_unit, "counts_per_unit", unit="counts", minimum=0, strict_minimum=True)
    validation = _validation_mask(
        n_phantoms, real_number(validation_fraction, "validation_fraction")
    )
    seeds = training_seeds(check_seed(seed), n_phantoms)
    clean_images, noisy, means = [], [], []
    for index in range(n_phantoms):
        clean = _blob_image(np.random.default_rng(seeds["phantom"][index]), n_slices, size)
        clean_images.append(clean)
        per_level, per_level_means = [], []
        for level in levels:
            scale = counts_per_unit * level / 100.0
            rng = np.random.default_rng(realization_seed(seeds["noise"][index], level))
            draws = rng.poisson(clean * scale, size=(realizations, *clean.shape)) / scale
            per_level.append(draws)
            per_level_means.append([volume_mean(volume) for volume in draws])
        noisy.append(per_level)
        means.append(per_level_means)
    ideal = np.asarray(clean_images, dtype=np.float32)
    dataset = Noise2NoiseSet(
        images=np.asarray(noisy, dtype=np.float32),
        means=np.asarray(means, dtype=np.float64),
        count_levels=levels,
        validation=validation,
        voxel_size_mm=RECONSTRUCTION_VOXEL_SIZE_MM,
        phantom_seeds=tuple(seeds["phantom"]),
    )
    reference = IdealStore(
        images=ideal,
        myocardium=ideal > 1.0,
        validation=validation,
        voxel_size_mm=RECONSTRUCTION_VOXEL_SIZE_MM,
        has_defect=np.zeros(n_phantoms, dtype=bool),
    )
    manifest = {
        "parameters": {"synthetic": True, "n_phantoms": n_phantoms, "seed": seed},
        "phantom_seeds": seeds["phantom"],
        "noise_seeds": seeds["noise"],
        "validation_phantoms": np.flatnonzero(validation).tolist(),
        "reconstruction_voxel_size_mm": RECONSTRUCTION_VOXEL_SIZE_MM,
    }
    return TrainingData(dataset, reference, None, plain_json(manifest), None)


# ---------------------------------------------------------------------------
# Command line: build (or resume) a named training set
# ---------------------------------------------------------------------------

#: Named training sets of the command line.
TRAINING_SETS: dict[str, dict[str, Any]] = {"v2": TRAINING_SET_V2}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m spect_tutorial.datasets --set v2``: build or resume a training set.

    Each finished phantom is cached at once, so running the same command
    again after an interruption resumes at the first missing phantom.
    ``--workers N`` simulates N phantoms side by side (one per CPU core; the
    set is the same): set v2 takes about 50 minutes on one core. The
    cache root is ``--cache-dir``, else ``$SPECT_TUTORIAL_CACHE/training``,
    else ``.cache/training``.
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m spect_tutorial.datasets", description=main.__doc__
    )
    parser.add_argument("--set", choices=sorted(TRAINING_SETS), default="v2")
    parser.add_argument("--cache-dir", default=None, help="cache folder (see above)")
    parser.add_argument(
        "--n-phantoms", type=int, default=None, help="override the set's number of phantoms"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes simulating phantoms side by side (one per CPU core; same set)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be an integer >= 1, got {args.workers}")
    options = dict(TRAINING_SETS[args.set])
    if args.n_phantoms is not None:
        options["n_phantoms"] = integer(args.n_phantoms, "--n-phantoms")
    if args.cache_dir is not None:
        options["cache_dir"] = args.cache_dir
    data = build_training_set(progress=True, workers=args.workers, **options)
    manifest = data.manifest
    print(
        f"training set {args.set}: {data.noise2noise.images.shape} noisy slices, "
        f"{int(np.sum(data.reference.has_defect))} of {data.noise2noise.n_phantoms} phantoms "
        f"with a defect, in {data.path} ({manifest['build_seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
