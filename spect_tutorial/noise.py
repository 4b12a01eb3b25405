"""Counts, count levels and Poisson noise.

A SPECT camera counts photons: each detector pixel of each view records a whole
number of events, and for a fixed activity distribution that number is a Poisson
random variable whose mean is the *expected* (noise-free) projection in counts.
This module turns the projector's expected projections (arbitrary activity
units) into expected counts at a chosen **count level**, draws Poisson
realizations, splits one acquisition into independent parts (Poisson thinning)
and adds image-domain Poisson noise for a first intuition.

The count level follows the project's binding definition (science.md section 8):

* **100 % counts**: the expected projections are scaled so that, in the view
  nearest LAO 45 (angle 45 deg), the detector pixels where the projected
  myocardium is at least half its maximum average 100 expected counts (JSNMT
  guidance). Counts include everything the expected projections contain
  (scatter too, as in a camera's energy window).
* Other levels scale linearly: ``count_level`` is in percent
  (:data:`STANDARD_COUNT_LEVELS` are those shown in the book).
* The same seed at different levels draws independent noise: use
  :func:`realization_seed` to derive the random stream of a (seed, level) pair.

A typical pipeline::

    scale = counts_scale(expected, myocardium_expected, angles_deg=geometry.angles_deg)
    lam = expected_counts(expected, scale=scale, count_level=25.0)
    noisy = poisson_realizations(lam, n=2, seed=realization_seed(0, 25.0))
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._validation import (
    check_allocation,
    check_seed,
    integer,
    random_generator,
    real_array,
    real_number,
)

__all__ = [
    "LAO45_DEG",
    "STANDARD_COUNT_LEVELS",
    "add_image_noise",
    "count_level_scale",
    "counts_scale",
    "expected_counts",
    "lao45_myocardium_counts",
    "lao45_myocardium_pixels",
    "nearest_view_index",
    "poisson_realizations",
    "realization_seed",
    "split_counts",
]

#: View angle of the LAO 45 projection in degrees (0 = anterior, 90 = left lateral).
LAO45_DEG = 45.0

#: Count levels shown in the book, in percent of the 100 % definition.
STANDARD_COUNT_LEVELS = (12.5, 25.0, 50.0, 100.0, 200.0)

# First word of the spawn key of every noise stream derived by realization_seed
# ("NOIS" in ASCII). It keeps noise streams apart from other streams derived
# from the same seed with SeedSequence.spawn (whose keys start at 0, 1, 2, ...).
_NOISE_STREAM_KEY = 0x4E4F4953

# Count levels are keyed to 0.001 % in realization_seed.
_LEVEL_KEY_PER_PERCENT = 1000
# Highest count level accepted (percent): ten million times the clinical 100 %, far
# beyond any study and far below where Poisson sampling or the seed key overflow.
_MAX_COUNT_LEVEL_PERCENT = 1e9
# Largest Poisson mean numpy samples (its limit is about 9.2e18).
_MAX_POISSON_MEAN = 1e18
# Largest count split_counts splits (int64 binomial; every integer exact in float64).
_MAX_SPLIT_COUNTS = 2**53

# Relative tolerance when two views are equally near the requested angle.
_ANGLE_TIE_DEG = 1e-9

SeedLike = int | np.random.SeedSequence | np.random.Generator | None


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _real_array(values: Any, name: str, *, non_negative: bool = False) -> np.ndarray:
    return real_array(
        values,
        name,
        dtype=None,
        bool_ok=False,
        finite=non_negative,
        non_negative=non_negative,
        noun="values",
    )


def _positive_number(value: Any, name: str, unit: str = "") -> float:
    try:
        return real_number(value, name, minimum=0.0, strict_minimum=True)
    except ValueError:
        suffix = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be a finite number > 0{suffix}, got {value!r}") from None


def _count_level_percent(count_level: Any) -> float:
    number = _positive_number(count_level, "count_level", "percent")
    if number > _MAX_COUNT_LEVEL_PERCENT:
        raise ValueError(
            f"count_level must be <= {_MAX_COUNT_LEVEL_PERCENT:g} percent (ten million times "
            f"the 100 % counts), got {count_level!r}"
        )
    return number


# ---------------------------------------------------------------------------
# Count level
# ---------------------------------------------------------------------------


def count_level_scale(count_level: float) -> float:
    """Convert a count level in percent to a multiplier of the 100 % counts.

    Parameters
    ----------
    count_level : float
        Count level in percent of the 100 % definition (e.g. 12.5, 25, 50, 100,
        200). Must be finite and > 0.

    Returns
    -------
    float
        ``count_level / 100``.

    Raises
    ------
    ValueError
        If ``count_level`` is not a finite number > 0.

    Examples
    --------
    >>> count_level_scale(12.5)
    0.125
    """
    return _count_level_percent(count_level) / 100.0


def nearest_view_index(angles_deg: Any, angle_deg: float = LAO45_DEG) -> int:
    """Index of the view whose angle is nearest ``angle_deg``.

    Angles are compared on the circle (350 deg is 10 deg away from 0 deg). When
    two views are equally near (within 1e-9 deg), the first one is returned.

    Parameters
    ----------
    angles_deg : array_like
        ``(views,)`` view angles in degrees (0 = anterior, 45 = LAO 45,
        90 = left lateral), e.g. ``geometry.angles_deg``.
    angle_deg : float, optional
        Requested angle in degrees; LAO 45 by default.

    Returns
    -------
    int
        Index into the view axis.

    Raises
    ------
    ValueError
        If ``angles_deg`` is not a non-empty 1-D array of finite numbers.

    Examples
    --------
    >>> angles = -45.0 + np.arange(64) * 180.0 / 64  # ASNC orbit, 2.8125 deg steps
    >>> nearest_view_index(angles), float(angles[32])
    (32, 45.0)
    """
    angles = _real_array(angles_deg, "angles_deg").astype(np.float64)
    if angles.ndim != 1 or angles.size == 0:
        raise ValueError(
            f"angles_deg must be a non-empty 1-D array of view angles, got shape {angles.shape}"
        )
    if not np.all(np.isfinite(angles)):
        raise ValueError("angles_deg must be finite")
    target = float(angle_deg)
    if not np.isfinite(target):
        raise ValueError(f"angle_deg must be finite, got {angle_deg!r}")
    distance = np.abs((angles - target + 180.0) % 360.0 - 180.0)
    return int(np.flatnonzero(distance <= distance.min() + _ANGLE_TIE_DEG)[0])


def lao45_myocardium_pixels(
    myocardium_expected: Any, *, angles_deg: Any
) -> tuple[int, np.ndarray]:
    """The view nearest LAO 45 and its half-maximum myocardium pixels.

    These are the detector pixels over which the 100 % count level is defined
    (science.md section 8).

    Parameters
    ----------
    myocardium_expected : array_like
        ``(views, rows, bins)`` forward projection of the myocardium activity
        alone (any units), finite and >= 0.
    angles_deg : array_like
        ``(views,)`` view angles in degrees, e.g. ``geometry.angles_deg``.

    Returns
    -------
    view : int
        Index of the view nearest 45 deg (see :func:`nearest_view_index`).
    mask : numpy.ndarray
        ``(rows, bins)`` boolean mask: ``myocardium_expected[view] >= 0.5 * max``.

    Raises
    ------
    ValueError
        If the array is not 3-D, holds NaN or negative values, the number of
        angles differs from the number of views, or there is no myocardium in
        the LAO 45 view.
    """
    myocardium = _real_array(myocardium_expected, "myocardium_expected")
    if myocardium.ndim != 3:
        raise ValueError(
            "myocardium_expected must be a 3-D array (views, rows, bins), "
            f"got shape {myocardium.shape}"
        )
    _real_array(myocardium, "myocardium_expected", non_negative=True)
    angles = np.asarray(angles_deg)
    if angles.ndim != 1 or angles.shape[0] != myocardium.shape[0]:
        raise ValueError(
            f"angles_deg must hold one angle per view ({myocardium.shape[0]} views), "
            f"got shape {angles.shape}"
        )
    view = nearest_view_index(angles, LAO45_DEG)
    projected = myocardium[view].astype(np.float64)
    peak = float(projected.max()) if projected.size else 0.0
    if peak <= 0:
        raise ValueError(
            f"myocardium_expected is zero in the LAO 45 view (index {view}, "
            f"{float(angles[view]):.4g} deg): no myocardium to define the count level"
        )
    return view, projected >= 0.5 * peak


def counts_scale(
    expected: Any,
    myocardium_expected: Any,
    *,
    angles_deg: Any,
    target_counts: float = 100.0,
) -> float:
    """Factor that turns expected projections into expected counts at 100 %.

    Parameters
    ----------
    expected : array_like
        ``(views, rows, bins)`` expected (noise-free) projections in the
        projector's activity units; everything the camera would count
        (primary and, if modelled, scatter). Finite and >= 0.
    myocardium_expected : array_like
        ``(views, rows, bins)`` forward projection of the myocardium activity
        alone, with the same system (same shape as ``expected``).
    angles_deg : array_like
        ``(views,)`` view angles in degrees, e.g. ``geometry.angles_deg``
        (0 = anterior, 45 = LAO 45, 90 = left lateral).
    target_counts : float, optional
        Mean expected counts per pixel over the LAO 45 myocardium pixels at
        100 %; 100 counts by default (JSNMT guidance). Must be > 0.

    Returns
    -------
    float
        Scale in counts per activity unit: ``expected * scale`` are the
        expected counts at 100 %.

    Raises
    ------
    ValueError
        If the shapes differ, values are NaN, infinite or negative, the number
        of angles differs from the number of views, the LAO 45 view has no
        myocardium, or ``expected`` is zero over its myocardium pixels.

    See Also
    --------
    lao45_myocardium_pixels : the view and pixels used here.
    expected_counts : apply the scale at a count level.

    Notes
    -----
    Let :math:`v` be the view whose angle is nearest 45 deg, :math:`m_v` the
    projected myocardium in that view and
    :math:`R = \\{(i, j) : m_v(i, j) \\ge \\tfrac12 \\max m_v\\}` its
    half-maximum pixels. The scale is

    .. math:: s = \\frac{C}{\\frac{1}{|R|} \\sum_{(i, j) \\in R} g_v(i, j)},

    with :math:`g` the expected projections and :math:`C` = ``target_counts``,
    so that the expected counts :math:`s\\,g` average :math:`C` over
    :math:`R` (science.md section 8). The total number of counts then follows
    from the phantom and the system: ``(expected * scale).sum()``.

    Examples
    --------
    >>> angles = -45.0 + np.arange(64) * 180.0 / 64
    >>> myocardium = np.zeros((64, 4, 4), dtype=np.float32)
    >>> myocardium[:, 1:3, 1:3] = 1.0
    >>> expected = myocardium + 0.5
    >>> counts_scale(expected, myocardium, angles_deg=angles)
    66.66666666666667
    """
    expected_array = _real_array(expected, "expected")
    myocardium = _real_array(myocardium_expected, "myocardium_expected")
    if expected_array.ndim != 3:
        raise ValueError(
            f"expected must be a 3-D array (views, rows, bins), got shape {expected_array.shape}"
        )
    if myocardium.shape != expected_array.shape:
        raise ValueError(
            "expected and myocardium_expected must have the same shape, got "
            f"{expected_array.shape} and {myocardium.shape}"
        )
    _real_array(expected_array, "expected", non_negative=True)
    target = _positive_number(target_counts, "target_counts", "counts")
    view, mask = lao45_myocardium_pixels(myocardium, angles_deg=angles_deg)
    mean = float(expected_array[view].astype(np.float64)[mask].mean())
    if mean <= 0:
        raise ValueError(
            f"expected is zero over the myocardium pixels of the LAO 45 view (index {view}); "
            "cannot scale it to counts"
        )
    return target / mean


def expected_counts(expected: Any, *, scale: float, count_level: float = 100.0) -> np.ndarray:
    """Expected counts per pixel at a count level.

    Parameters
    ----------
    expected : array_like
        Expected (noise-free) projections in activity units, any shape (e.g.
        ``(views, rows, bins)``). Finite and >= 0.
    scale : float
        Counts per activity unit at 100 %, from :func:`counts_scale`. Must be > 0.
    count_level : float, optional
        Count level in percent (100 = the section 8 definition). Must be > 0.

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape: ``expected * scale * count_level / 100``
        in counts (float64, so that Poisson means stay exact before sampling).

    Raises
    ------
    ValueError
        If ``expected`` holds NaN, infinite or negative values, or ``scale`` or
        ``count_level`` is not > 0.

    Examples
    --------
    >>> expected_counts(np.array([1.0, 2.0]), scale=50.0, count_level=25.0)
    array([12.5, 25. ])
    """
    array = _real_array(expected, "expected", non_negative=True)
    factor = _positive_number(scale, "scale", "counts per activity unit")
    factor *= count_level_scale(count_level)
    return array.astype(np.float64) * factor


# ---------------------------------------------------------------------------
# Random streams and Poisson noise
# ---------------------------------------------------------------------------


def realization_seed(seed: SeedLike, count_level: float, index: int = 0) -> np.random.SeedSequence:
    """Random stream for the noise of one (seed, count level, index) triple.

    Drawing the noise of every count level from ``default_rng(seed)`` would reuse
    the same random numbers at every level, so the noise at 25 % and 50 % would
    be strongly correlated. This function gives each level (and each index, e.g.
    a training pair or a repeated acquisition) its own independent stream.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        User seed. An int (>= 0) or a SeedSequence gives a reproducible stream;
        a Generator is advanced by drawing 128 bits of entropy from it; None
        draws fresh entropy from the operating system.
    count_level : float
        Count level in percent (> 0), keyed to 0.001 %.
    index : int, optional
        Non-negative stream index for several independent draws at the same
        level (default 0).

    Returns
    -------
    numpy.random.SeedSequence
        Pass it as ``seed`` to :func:`poisson_realizations` or
        ``numpy.random.default_rng``.

    Raises
    ------
    ValueError
        If ``seed``, ``count_level`` or ``index`` is invalid.

    Notes
    -----
    The stream is ``SeedSequence(entropy, spawn_key=base_key + (0x4E4F4953,
    round(1000 * count_level), index))``, where ``entropy`` and ``base_key`` are
    those of the seed (``SeedSequence(seed)`` for an int; empty ``base_key``).
    ``0x4E4F4953`` ("NOIS") separates noise streams from children made with
    ``SeedSequence.spawn``. NumPy's SeedSequence hashes entropy and spawn key
    together, so distinct keys give streams that are independent for all
    practical purposes.

    Examples
    --------
    >>> rng_25 = np.random.default_rng(realization_seed(0, 25.0))
    >>> rng_50 = np.random.default_rng(realization_seed(0, 50.0))
    >>> bool(rng_25.random() != rng_50.random())
    True
    """
    check_seed(seed, generators=True)
    level_key = round(_count_level_percent(count_level) * _LEVEL_KEY_PER_PERCENT)
    integer(index, "index", minimum=0)
    key = (_NOISE_STREAM_KEY, int(level_key), int(index))
    if isinstance(seed, np.random.Generator):
        entropy = [int(word) for word in seed.integers(0, 2**32, size=4, dtype=np.uint64)]
        return np.random.SeedSequence(entropy, spawn_key=key)
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(
            seed.entropy, spawn_key=(*seed.spawn_key, *key), pool_size=seed.pool_size
        )
    return np.random.SeedSequence(seed, spawn_key=key)


def poisson_realizations(expected_counts: Any, *, n: int = 1, seed: SeedLike) -> np.ndarray:
    """Independent Poisson realizations of expected counts.

    Parameters
    ----------
    expected_counts : array_like
        Expected counts per pixel (the Poisson means), any shape, e.g.
        ``(views, rows, bins)`` from :func:`expected_counts`. Finite and >= 0.
    n : int, optional
        Number of realizations (>= 1).
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Passed to ``numpy.random.default_rng``. Use
        ``realization_seed(seed, count_level)`` so that different count levels
        draw independent noise. A Generator is used (and advanced) as is.

    Returns
    -------
    numpy.ndarray
        ``(n, *expected_counts.shape)`` float32 counts (whole numbers; float32
        holds every integer up to 2**24 exactly).

    Raises
    ------
    ValueError
        If ``expected_counts`` holds NaN, infinite or negative values, or ``n``
        is not an int >= 1.

    Notes
    -----
    Each pixel :math:`i` of realization :math:`k` is drawn independently,
    :math:`N_{k,i} \\sim \\mathrm{Poisson}(\\lambda_i)`, so
    :math:`E[N] = \\mathrm{Var}[N] = \\lambda` and the coefficient of variation
    is :math:`1/\\sqrt{\\lambda}`. All ``n`` realizations come from one
    vectorised ``Generator.poisson`` call in C order, so the first ``k`` of
    ``n`` realizations equal those drawn with ``n=k`` from the same seed.

    Examples
    --------
    >>> counts = poisson_realizations(np.full((2, 3), 100.0), n=4, seed=0)
    >>> counts.shape, counts.dtype
    ((4, 2, 3), dtype('float32'))
    """
    lam = _real_array(expected_counts, "expected_counts", non_negative=True)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < 1:
        raise ValueError(f"n must be an int >= 1 (number of realizations), got {n!r}")
    largest = float(lam.max()) if lam.size else 0.0
    if largest > _MAX_POISSON_MEAN:
        raise ValueError(
            f"expected_counts holds means up to {largest:.3g} counts, more than Poisson "
            f"sampling supports ({_MAX_POISSON_MEAN:.0e} per pixel); lower the count level"
        )
    check_allocation(f"n={int(n)} realizations of shape {lam.shape}", int(n) * lam.size, 8)
    rng = random_generator(seed)
    lam = lam.astype(np.float64, copy=False)
    draws = rng.poisson(lam, size=(int(n), *lam.shape))
    return draws.astype(np.float32)


def split_counts(counts: Any, p: float = 0.5, *, seed: SeedLike) -> tuple[np.ndarray, np.ndarray]:
    """Split measured counts into two independent parts (binomial thinning).

    Parameters
    ----------
    counts : array_like
        Counts per pixel, any shape (a batch of realizations too): non-negative
        whole numbers, as an integer array or a float array holding integers.
    p : float, optional
        Probability that a count goes to the first part, 0 < p < 1 (0.5 gives
        two half-count acquisitions).
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Passed to ``numpy.random.default_rng``.

    Returns
    -------
    first, second : numpy.ndarray
        Arrays of the same shape and dtype as ``counts`` with
        ``first + second == counts`` exactly.

    Raises
    ------
    ValueError
        If ``counts`` holds negative, non-integer, NaN or infinite values, or
        ``p`` is not in (0, 1).

    Notes
    -----
    Poisson thinning: if :math:`N \\sim \\mathrm{Poisson}(\\lambda)`,
    :math:`N_1 \\mid N \\sim \\mathrm{Binomial}(N, p)` and :math:`N_2 = N - N_1`,
    then :math:`N_1 \\sim \\mathrm{Poisson}(p\\lambda)` and
    :math:`N_2 \\sim \\mathrm{Poisson}((1-p)\\lambda)` are **independent**. One
    acquisition therefore gives a Noise2Noise pair (Lehtinen et al. 2018) with no
    second scan; Aghakhan Olia et al. (2022) thinned list-mode MPI data the same
    way to simulate 50, 25 and 12.5 % doses. Independence needs :math:`N` to be
    Poisson: splitting a fixed number of counts gives parts with correlation
    -1 given :math:`N`.

    Examples
    --------
    >>> counts = np.array([[10.0, 0.0], [3.0, 7.0]], dtype=np.float32)
    >>> first, second = split_counts(counts, seed=0)
    >>> bool(np.array_equal(first + second, counts))
    True
    """
    array = _real_array(counts, "counts", non_negative=True)
    if not np.issubdtype(array.dtype, np.integer) and not np.array_equal(array, np.round(array)):
        fractional = array[array != np.round(array)]
        raise ValueError(
            "counts must be whole numbers (counts per pixel), got "
            f"{fractional.size} non-integer value(s), e.g. {float(fractional.flat[0])!r}"
        )
    largest = float(array.max()) if array.size else 0.0
    if largest > _MAX_SPLIT_COUNTS:
        raise ValueError(
            f"counts holds values up to {largest:.3g}, more than the {_MAX_SPLIT_COUNTS} "
            "(2**53) counts per pixel that can be split exactly"
        )
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 < float(p) < 1.0:
        raise ValueError(f"p must be a probability with 0 < p < 1, got {p!r}")
    rng = random_generator(seed)
    total = array.astype(np.int64)
    first = rng.binomial(total, float(p))
    second = total - first
    return first.astype(array.dtype), second.astype(array.dtype)


def add_image_noise(
    volume: Any,
    *,
    mean_counts: float,
    seed: SeedLike,
    region: Any = None,
) -> np.ndarray:
    """Image-domain Poisson noise at a given mean number of counts per voxel.

    A first intuition for count statistics, not a SPECT simulation: real noise
    arises in the projections and is shaped by reconstruction.

    Parameters
    ----------
    volume : array_like
        Noise-free image, e.g. ``(z, y, x)`` activity (any units), finite and
        >= 0.
    mean_counts : float
        Mean counts per voxel over ``region`` after scaling (> 0). Fewer counts
        give more noise: the coefficient of variation is ``1 / sqrt(counts)``.
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Passed to ``numpy.random.default_rng``.
    region : array_like of bool, optional
        Voxels over which the mean is taken (same shape as ``volume``); by
        default the voxels with ``volume > 0``.

    Returns
    -------
    numpy.ndarray
        float32 noisy image in the units of ``volume`` (counts divided by the
        scale), so that its expectation is ``volume``.

    Raises
    ------
    ValueError
        If ``volume`` holds NaN, infinite or negative values, ``mean_counts`` is
        not > 0, ``region`` has the wrong shape or is empty, or the volume is
        zero over the region.

    Notes
    -----
    With :math:`c = \\text{mean\\_counts} / \\overline{f}_{R}` (the mean of the
    image over the region :math:`R`), each voxel is
    :math:`\\hat f = N / c` with :math:`N \\sim \\mathrm{Poisson}(c f)`, so
    :math:`E[\\hat f] = f` and :math:`\\mathrm{Var}[\\hat f] = f / c`.

    Examples
    --------
    >>> volume = np.ones((4, 4, 4), dtype=np.float32)
    >>> noisy = add_image_noise(volume, mean_counts=100.0, seed=0)
    >>> noisy.shape, noisy.dtype
    ((4, 4, 4), dtype('float32'))
    """
    image = _real_array(volume, "volume", non_negative=True)
    counts = _positive_number(mean_counts, "mean_counts", "counts per voxel")
    image = image.astype(np.float64)
    if region is None:
        mask = image > 0
    else:
        mask = np.asarray(region)
        if mask.shape != image.shape:
            raise ValueError(
                f"region must have the shape of volume {image.shape}, got {mask.shape}"
            )
        mask = mask.astype(bool)
    if not np.any(mask):
        raise ValueError("region is empty (no voxels to take the mean count over)")
    mean = float(image[mask].mean())
    if mean <= 0:
        raise ValueError("volume is zero over region; cannot scale it to counts")
    rng = random_generator(seed)
    factor = counts / mean
    return (rng.poisson(image * factor) / factor).astype(np.float32)


def lao45_myocardium_counts(
    projections: Any, myocardium_expected: Any, *, angles_deg: Any
) -> float | np.ndarray:
    """Mean counts per pixel over the LAO 45 half-maximum myocardium pixels.

    The quantity the count level is defined by: about 100 (times
    ``count_level / 100``) for expected counts from :func:`expected_counts`, and
    scattering around it for noisy realizations.

    Parameters
    ----------
    projections : array_like
        ``(..., views, rows, bins)`` counts (expected or noisy); leading axes
        (e.g. realizations) are kept.
    myocardium_expected : array_like
        ``(views, rows, bins)`` forward projection of the myocardium alone.
    angles_deg : array_like
        ``(views,)`` view angles in degrees.

    Returns
    -------
    float or numpy.ndarray
        Mean counts per pixel; a float for a single ``(views, rows, bins)``
        array, else an array over the leading axes.

    Raises
    ------
    ValueError
        If the trailing shape of ``projections`` differs from that of
        ``myocardium_expected`` (or see :func:`lao45_myocardium_pixels`).
    """
    data = _real_array(projections, "projections")
    view, mask = lao45_myocardium_pixels(myocardium_expected, angles_deg=angles_deg)
    trailing = np.shape(myocardium_expected)
    if data.ndim < 3 or data.shape[-3:] != trailing:
        raise ValueError(
            f"projections must end with the shape {trailing} (views, rows, bins), got {data.shape}"
        )
    means = data[..., view, :, :][..., mask].astype(np.float64).mean(axis=-1)
    return float(means) if means.ndim == 0 else means
