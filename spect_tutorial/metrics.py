"""Image-quality measures and the regions they are computed in.

The binding definitions are in the science reference, section 8 (also on the
book's *Conventions* page):

* the **evaluation region** ("myocardial region") is the reconstruction-grid
  myocardium mask dilated by one voxel (:func:`evaluation_region`);
* **NRMSE** = sqrt(mean over the region of (image - reference)^2) / mean over
  the region of the reference, with the ideal image as reference (:func:`nrmse`);
* the **defect ratio** = mean(image over the defect region) / mean(image over
  the normal myocardium), where the defect region is the phantom's defect mask
  within the myocardium mask and the normal myocardium is the myocardium outside
  the defect region dilated by two voxels (:func:`defect_ratio`,
  :func:`normal_myocardium`);
* the **coefficient of variation** = standard deviation / mean over the normal
  myocardium (:func:`coefficient_of_variation`).

PSNR and SSIM are scikit-image's (:func:`psnr`, :func:`ssim`), with the data
range fixed by the reference image. :func:`profile` samples an image along a
line, for profile curves across the myocardial wall. Every dilation uses the
6-neighbour (face-connected) structuring element. The wall thickness lives in
:mod:`spect_tutorial.thickness` and is re-exported here as :func:`wall_thickness`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy import ndimage

from ._validation import check_allocation, integer, real_array
from .frame import check_voxel_size_mm, mm_to_index
from .thickness import WallThickness, wall_thickness

__all__ = [
    "WallThickness",
    "coefficient_of_variation",
    "defect_ratio",
    "ensemble_noise",
    "evaluation_region",
    "noise_coefficient_of_variation",
    "normal_myocardium",
    "nrmse",
    "profile",
    "psnr",
    "septal_peak_ratio",
    "ssim",
    "wall_thickness",
]

#: Dilation of the defect region excluded from the normal myocardium (voxels).
NORMAL_MARGIN_VOXELS = 2


def _check_mask(mask: Any, name: str) -> np.ndarray:
    values = np.asarray(mask)
    if values.ndim != 3:
        raise ValueError(f"{name} must be 3-D (z, y, x), got shape {values.shape}")
    if values.dtype != bool:
        raise ValueError(f"{name} must be boolean, got dtype {values.dtype}")
    return values


def _dilate(mask: np.ndarray, voxels: int) -> np.ndarray:
    """Dilate a 3-D boolean mask by ``voxels`` steps of the 6-neighbour element."""
    if voxels == 0:
        return mask.copy()
    structure = ndimage.generate_binary_structure(3, 1)
    return ndimage.binary_dilation(mask, structure, iterations=int(voxels))


def evaluation_region(myocardium_mask: Any, *, dilation_voxels: int = 1) -> np.ndarray:
    """The myocardial evaluation region: the myocardium mask dilated by one voxel.

    Parameters
    ----------
    myocardium_mask : array_like of bool
        ``(z, y, x)`` myocardium mask on the reconstruction grid (averaged
        fine-grid occupancy >= 0.5, see :meth:`Phantom.downsample`).
    dilation_voxels : int, optional
        Number of one-voxel dilations with the 6-neighbour (face-connected)
        structuring element (default 1).

    Returns
    -------
    numpy.ndarray
        Boolean region of the same shape.

    Examples
    --------
    >>> mask = np.zeros((5, 5, 5), dtype=bool); mask[2, 2, 2] = True
    >>> int(evaluation_region(mask).sum())
    7
    """
    mask = _check_mask(myocardium_mask, "myocardium_mask")
    return _dilate(mask, integer(dilation_voxels, "dilation_voxels", minimum=0, whole_floats=True))


def normal_myocardium(myocardium_mask: Any, defect_mask: Any = None) -> np.ndarray:
    """The normal myocardium: the myocardium outside the defect region dilated by two voxels.

    The defect region is ``defect_mask & myocardium_mask``; it is dilated twice
    with the 6-neighbour (face-connected) structuring element so that voxels
    blurred by the defect edge do not count as normal (science reference
    section 8). Compute the coefficient of variation and the denominator of the
    defect ratio over this region.

    Parameters
    ----------
    myocardium_mask : array_like of bool
        ``(z, y, x)`` myocardium mask on the reconstruction grid (defect included,
        as ``phantom.masks["myocardium"]``).
    defect_mask : array_like of bool, optional
        ``(z, y, x)`` defect mask (``phantom.masks["defect"]``). ``None`` (no
        defect) returns a copy of the myocardium mask.

    Returns
    -------
    numpy.ndarray
        Boolean ``(z, y, x)`` mask of the normal myocardium (it may be empty
        when the defect covers the whole wall).

    Raises
    ------
    ValueError
        If a mask is not a 3-D boolean array or the shapes differ.

    Examples
    --------
    >>> myocardium = np.ones((1, 1, 8), dtype=bool)
    >>> defect = np.zeros_like(myocardium); defect[0, 0, :2] = True
    >>> normal_myocardium(myocardium, defect).astype(int).tolist()
    [[[0, 0, 0, 0, 1, 1, 1, 1]]]
    """
    myocardium = _check_mask(myocardium_mask, "myocardium_mask")
    if defect_mask is None:
        return myocardium.copy()
    defect = _check_mask(defect_mask, "defect_mask")
    if defect.shape != myocardium.shape:
        raise ValueError(
            f"defect_mask has shape {defect.shape}; myocardium_mask has shape {myocardium.shape}"
        )
    return myocardium & ~_dilate(defect & myocardium, NORMAL_MARGIN_VOXELS)


def _image_and_region(
    image: Any, region: Any, name: str = "image"
) -> tuple[np.ndarray, np.ndarray]:
    values = real_array(image, name)
    mask = np.asarray(region)
    if mask.dtype != bool:
        raise ValueError(f"region must be a boolean mask, got dtype {mask.dtype}")
    if values.shape[-mask.ndim :] != mask.shape:
        raise ValueError(f"{name} has shape {values.shape}; region has shape {mask.shape}")
    if not mask.any():
        raise ValueError("region is empty")
    return values, mask


def _scalar_or_array(value: np.ndarray) -> float | np.ndarray:
    return float(value) if np.ndim(value) == 0 else value


def coefficient_of_variation(image: Any, region: Any) -> float | np.ndarray:
    """Coefficient of variation (standard deviation / mean) of an image over a region.

    Computed in the normal myocardium (:func:`normal_myocardium`), it measures
    noise: it falls as counts rise (about as ``1 / sqrt(counts)``) and as a
    smoothing filter widens.

    Parameters
    ----------
    image : array_like
        ``(..., z, y, x)`` image(s); leading axes (e.g. realizations) are kept.
    region : array_like of bool
        ``(z, y, x)`` region (e.g. normal myocardium).

    Returns
    -------
    float or numpy.ndarray
        Dimensionless CoV (population standard deviation, ``ddof=0``).

    Examples
    --------
    >>> region = np.ones((1, 1, 4), dtype=bool)
    >>> float(coefficient_of_variation(np.array([[[1.0, 3.0, 1.0, 3.0]]]), region))
    0.5
    """
    values, mask = _image_and_region(image, region)
    inside = values[..., mask]
    mean = inside.mean(axis=-1)
    cov = inside.std(axis=-1) / np.where(mean != 0, mean, np.nan)
    return _scalar_or_array(cov)


def _difference_to_reference(image: Any, reference: Any, region: Any) -> tuple[np.ndarray, float]:
    """``image - reference`` over the region (last axis) and the reference's mean there."""
    values, mask = _image_and_region(image, region)
    truth, _ = _image_and_region(reference, region, "reference")
    if truth.shape != mask.shape:
        raise ValueError(f"reference must have the region's shape {mask.shape}, got {truth.shape}")
    scale = float(truth[mask].mean())
    if scale == 0:
        raise ValueError("reference has zero mean over the region")
    return values[..., mask] - truth[mask], scale


def ensemble_noise(images: Any, reference: Any, region: Any) -> float:
    """Ensemble noise: voxel-wise spread over independent realizations (science section 9).

    The standard deviation over realizations of each voxel (``ddof=1``), root
    mean square over the region (the normal myocardium), divided by the mean of
    the reference (the ideal image) there. Unlike the single-image noise CoV
    (:func:`noise_coefficient_of_variation`) it holds no blur bias: a filter
    that smooths the wall away but leaves the noise has a large ensemble noise.

    Parameters
    ----------
    images : array_like
        ``(K, z, y, x)`` images of ``K >= 2`` independent noisy realizations
        of one patient, reconstructed and processed the same way.
    reference : array_like
        ``(z, y, x)`` noise-free reference (the ideal image).
    region : array_like of bool
        ``(z, y, x)`` region (the normal myocardium).

    Returns
    -------
    float
        Dimensionless relative noise.

    Examples
    --------
    >>> region = np.ones((1, 1, 2), dtype=bool)
    >>> images = np.array([[[[1.0, 2.0]]], [[[3.0, 2.0]]]])
    >>> round(ensemble_noise(images, np.full((1, 1, 2), 2.0), region), 4)
    0.5
    """
    values, mask = _image_and_region(images, region, "images")
    if values.ndim != 4 or values.shape[0] < 2:
        raise ValueError(
            f"images must be (K, z, y, x) with K >= 2 realizations, got shape {values.shape}"
        )
    _, scale = _difference_to_reference(values[0], reference, region)
    spread = values[:, mask].astype(np.float64).std(axis=0, ddof=1)
    return float(np.sqrt(np.mean(spread**2)) / scale)


def noise_coefficient_of_variation(image: Any, reference: Any, region: Any) -> float | np.ndarray:
    """Noise alone: standard deviation of ``image - reference`` over the mean of the reference.

    The plain coefficient of variation of a reconstructed myocardium is never
    zero, even without noise: partial-volume effects make the wall's own values
    vary (the ideal image of the default phantom has a CoV near 0.19 at
    6.4 mm). Subtracting the ideal image first leaves only the noise, which
    falls as ``1 / sqrt(counts)``.

    Parameters
    ----------
    image : array_like
        ``(..., z, y, x)`` image(s).
    reference : array_like
        ``(z, y, x)`` noise-free reference (the ideal image).
    region : array_like of bool
        ``(z, y, x)`` region (e.g. the normal myocardium).

    Returns
    -------
    float or numpy.ndarray
        Dimensionless noise CoV per image (``ddof=0``).

    Examples
    --------
    >>> region = np.ones((1, 1, 4), dtype=bool)
    >>> reference = np.full((1, 1, 4), 2.0)
    >>> float(noise_coefficient_of_variation(reference + [[[1, -1, 1, -1]]], reference, region))
    0.5
    """
    difference, scale = _difference_to_reference(image, reference, region)
    return _scalar_or_array(difference.std(axis=-1) / scale)


def nrmse(image: Any, reference: Any, region: Any) -> float | np.ndarray:
    """Normalised root-mean-square error against a reference, over a region.

    ``NRMSE = sqrt(mean_region((image - reference)^2)) / mean_region(reference)``
    (science reference section 8), with the ideal image as reference.

    Parameters
    ----------
    image : array_like
        ``(..., z, y, x)`` image(s).
    reference : array_like
        ``(z, y, x)`` reference (the ideal image).
    region : array_like of bool
        ``(z, y, x)`` evaluation region.

    Returns
    -------
    float or numpy.ndarray
        Dimensionless NRMSE per image.

    Examples
    --------
    >>> region = np.ones((1, 1, 2), dtype=bool)
    >>> float(nrmse(np.array([[[1.0, 3.0]]]), np.array([[[2.0, 2.0]]]), region))
    0.5
    """
    difference, scale = _difference_to_reference(image, reference, region)
    return _scalar_or_array(np.sqrt((difference**2).mean(axis=-1)) / scale)


def _image_and_reference(image: Any, reference: Any) -> tuple[np.ndarray, np.ndarray]:
    values = real_array(image, "image")
    truth = real_array(reference, "reference")
    if truth.ndim < 2:
        raise ValueError(f"reference must be a 2-D or 3-D image, got shape {truth.shape}")
    if values.ndim < truth.ndim or values.shape[values.ndim - truth.ndim :] != truth.shape:
        raise ValueError(
            f"image has shape {values.shape}; it must be reference's shape {truth.shape} "
            "with optional leading axes (e.g. realizations)"
        )
    return values, truth


def _data_range(truth: np.ndarray, data_range: Any) -> float:
    if data_range is None:
        value = float(truth.max() - truth.min())
        if not value > 0:
            raise ValueError(
                "reference is constant, so its data range (max - min) is 0; give data_range"
            )
        return value
    try:
        value = float(data_range)
    except (TypeError, ValueError):
        raise ValueError(f"data_range must be a number > 0, got {data_range!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"data_range must be a finite number > 0, got {data_range!r}")
    return value


def psnr(
    image: Any, reference: Any, *, region: Any = None, data_range: float | None = None
) -> float | np.ndarray:
    r"""Peak signal-to-noise ratio of an image against a reference, in dB.

    .. math::

        \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\mathrm{mean}((\mathrm{image} -
        \mathrm{reference})^2)},

    identical to :func:`skimage.metrics.peak_signal_noise_ratio` (which
    computes it) with ``image_true=reference`` and ``data_range=R``.

    Parameters
    ----------
    image : array_like
        ``(..., z, y, x)`` (or ``(..., rows, cols)``) image(s); leading axes
        (e.g. realizations) give one value each.
    reference : array_like
        The reference (ideal) image, 2-D or 3-D.
    region : array_like of bool, optional
        Boolean mask of the reference's shape. When given, the mean squared
        error is taken over the region only (e.g. :func:`evaluation_region`);
        by default over every voxel.
    data_range : float, optional
        Peak value :math:`R` (image units). Default: ``reference.max() -
        reference.min()`` over the **whole** reference, also when ``region`` is
        given, so that PSNR with and without a region share one peak. It is
        always passed explicitly to scikit-image, whose own default for float
        images is the dtype's range (1), which is wrong for counts.

    Returns
    -------
    float or numpy.ndarray
        PSNR in dB per image (``inf`` for a perfect match).

    Raises
    ------
    ValueError
        If the shapes differ, the region is empty or not boolean, a dtype is not
        real, or ``data_range`` is not positive.

    See Also
    --------
    ssim, nrmse

    Examples
    --------
    >>> reference = np.array([[0.0, 2.0], [2.0, 0.0]])
    >>> round(psnr(reference + 0.2, reference), 2)
    20.0
    """
    from skimage.metrics import peak_signal_noise_ratio

    values, truth = _image_and_reference(image, reference)
    peak = _data_range(truth, data_range)
    if region is not None:
        values, mask = _image_and_region(values, region)
        if mask.shape != truth.shape:
            raise ValueError(f"region has shape {mask.shape}; reference has shape {truth.shape}")
        values, truth = values[..., mask], truth[mask]
    batch = values.reshape((-1, *truth.shape))
    with np.errstate(divide="ignore"):
        result = np.array(
            [peak_signal_noise_ratio(truth, one, data_range=peak) for one in batch]
        ).reshape(values.shape[: values.ndim - truth.ndim])
    return _scalar_or_array(result)


def ssim(
    image: Any,
    reference: Any,
    *,
    data_range: float | None = None,
    win_size: int = 7,
    gaussian_weights: bool = False,
    region: Any = None,
) -> float | np.ndarray:
    """Structural similarity index (SSIM) of an image against a reference.

    Computed by :func:`skimage.metrics.structural_similarity` (Wang et al.
    2004): local means, variances and covariance in a sliding window, with
    ``K1 = 0.01``, ``K2 = 0.03`` and ``data_range`` setting the stabilising
    constants. On a 3-D volume the window is a ``win_size`` cube of voxels
    (7 x 7 x 7 by default, 44.8 mm at 6.4 mm voxels), not a stack of 2-D
    windows.

    Parameters
    ----------
    image, reference : array_like
        As for :func:`psnr`; every axis of the reference at least ``win_size`` long.
    data_range : float, optional
        Dynamic range of the images (image units). Default: ``reference.max() -
        reference.min()``; always passed explicitly to scikit-image, which
        requires it for float images.
    win_size : int, optional
        Odd side length of the uniform window in voxels (default 7, scikit-image's).
    gaussian_weights : bool, optional
        Use a Gaussian window (sigma 1.5 voxels, 11 voxels wide) instead, as in
        Wang et al.; ``win_size`` is then ignored.
    region : array_like of bool, optional
        When given, the mean of the local SSIM map over this mask (e.g.
        :func:`evaluation_region`) instead of scikit-image's mean over the
        volume without its ``(win_size - 1) // 2`` border.

    Returns
    -------
    float or numpy.ndarray
        Mean SSIM (1 for identical images) per image.

    Raises
    ------
    ValueError
        If the shapes differ, the reference is smaller than the window, the
        region is empty or not boolean, or ``data_range`` is not positive.

    See Also
    --------
    psnr, nrmse

    Examples
    --------
    >>> reference = np.outer(np.hanning(16), np.hanning(16))
    >>> ssim(reference, reference)
    1.0
    """
    from skimage.metrics import structural_similarity

    values, truth = _image_and_reference(image, reference)
    peak = _data_range(truth, data_range)
    integer(win_size, "win_size", minimum=3, odd=True)
    window = 11 if gaussian_weights else int(win_size)
    if min(truth.shape) < window:
        raise ValueError(
            f"reference of shape {truth.shape} is smaller than the {window}-voxel SSIM window"
        )
    mask = None
    if region is not None:
        _, mask = _image_and_region(truth, region, "reference")
        if mask.shape != truth.shape:
            raise ValueError(f"region has shape {mask.shape}; reference has shape {truth.shape}")
    options: dict[str, Any] = {"data_range": peak, "gaussian_weights": gaussian_weights}
    if not gaussian_weights:
        options["win_size"] = int(win_size)
    else:
        options.update(sigma=1.5, use_sample_covariance=False)
    results = []
    for one in values.reshape((-1, *truth.shape)):
        if mask is None:
            results.append(structural_similarity(one, truth, **options))
        else:
            _, local = structural_similarity(one, truth, full=True, **options)
            results.append(local[mask].mean())
    result = np.array(results, dtype=np.float64).reshape(values.shape[: values.ndim - truth.ndim])
    return _scalar_or_array(result)


def defect_ratio(image: Any, *, defect_mask: Any, myocardium_mask: Any) -> float | np.ndarray:
    """Defect contrast: mean over the defect region / mean over the normal myocardium.

    Science reference section 8: the defect region is ``defect_mask &
    myocardium_mask``; the normal myocardium is the myocardium outside the defect
    region dilated by two voxels (:func:`normal_myocardium`). In the phantom the
    ratio is ``1 - severity``; blur and noise pull it towards 1 (a shallower
    defect), so compare every image's ratio with the ideal image's.

    Parameters
    ----------
    image : array_like
        ``(..., z, y, x)`` image(s); leading axes (e.g. realizations) are kept.
    defect_mask : array_like of bool
        ``(z, y, x)`` phantom defect mask on the image grid (``phantom.masks["defect"]``).
    myocardium_mask : array_like of bool
        ``(z, y, x)`` myocardium mask on the image grid (``phantom.masks["myocardium"]``).

    Returns
    -------
    float or numpy.ndarray
        Dimensionless ratio per image (< 1 where the defect is visible).

    Raises
    ------
    ValueError
        If the shapes differ, a mask is not boolean, the defect region or the
        normal myocardium is empty, or the normal mean is 0.

    Examples
    --------
    >>> myocardium = np.ones((1, 1, 8), dtype=bool)
    >>> defect = np.zeros_like(myocardium); defect[0, 0, :2] = True
    >>> image = np.where(defect, 0.5, 1.0)
    >>> defect_ratio(image, defect_mask=defect, myocardium_mask=myocardium)
    0.5
    """
    values = real_array(image, "image")
    myocardium = _check_mask(myocardium_mask, "myocardium_mask")
    if values.ndim < 3 or values.shape[values.ndim - 3 :] != myocardium.shape:
        raise ValueError(
            f"image has shape {values.shape}; the masks have shape {myocardium.shape}"
        )
    if defect_mask is None:
        raise ValueError("defect_mask must be a boolean (z, y, x) mask, got None")
    normal = normal_myocardium(myocardium, defect_mask)
    defect = np.asarray(defect_mask) & myocardium
    if not defect.any():
        raise ValueError("defect_mask has no voxel inside myocardium_mask: no defect region")
    if not normal.any():
        raise ValueError(
            "the normal myocardium (myocardium outside the defect dilated by two voxels) is empty"
        )
    normal_mean = values[..., normal].mean(axis=-1)
    if np.any(normal_mean == 0):
        raise ValueError("image has zero mean over the normal myocardium")
    return _scalar_or_array(values[..., defect].mean(axis=-1) / normal_mean)


def profile(
    volume: Any,
    start_mm: Any,
    end_mm: Any,
    *,
    voxel_size_mm: float,
    n_samples: int | None = None,
    order: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Values of a volume along the straight line between two points (a profile curve).

    The study's figure 5 draws such curves across the myocardial wall to show
    how each denoiser keeps (or blurs) the wall. Give the end points in the
    patient frame, in mm from the volume centre (see :mod:`spect_tutorial.frame`);
    e.g. ``lv.center`` and ``lv.center + 50 * lv.septal_direction`` for a radial
    profile through the septum.

    Parameters
    ----------
    volume : array_like
        ``(z, y, x)`` volume with isotropic voxels of ``voxel_size_mm``.
    start_mm, end_mm : array_like
        End points ``(x, y, z)`` in mm.
    voxel_size_mm : float
        Voxel edge length in mm.
    n_samples : int, optional
        Number of samples (>= 2), both end points included. Default: spacing as
        close as possible to ``voxel_size_mm / 4``.
    order : int, optional
        Spline interpolation order 0..5 (:func:`scipy.ndimage.map_coordinates`);
        1 (linear, default) never overshoots.

    Returns
    -------
    distance_mm : numpy.ndarray
        ``(n_samples,)`` distance of each sample from ``start_mm`` in mm.
    values : numpy.ndarray
        ``(n_samples,)`` float64 interpolated values; 0 outside the volume.

    Raises
    ------
    ValueError
        If ``volume`` is not a real 3-D array, a point is not three finite
        numbers, the points coincide, or ``n_samples`` or ``order`` is invalid.

    Examples
    --------
    >>> volume = np.zeros((9, 9, 9)); volume[4, 4, 3:6] = 1.0
    >>> distance, values = profile(volume, (-8.0, 0.0, 0.0), (8.0, 0.0, 0.0), voxel_size_mm=2.0,
    ...                            n_samples=9)
    >>> values.tolist()
    [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    """
    values = real_array(volume, "volume")
    if values.ndim != 3:
        raise ValueError(f"volume must be a 3-D array (z, y, x), got shape {values.shape}")
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    points = []
    for name, point in (("start_mm", start_mm), ("end_mm", end_mm)):
        array = np.asarray(point, dtype=np.float64)
        if array.shape != (3,) or not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be three finite numbers (x, y, z) in mm, got {point!r}")
        points.append(array)
    start, end = points
    length = float(np.linalg.norm(end - start))
    if length == 0:
        raise ValueError(f"start_mm and end_mm must differ, got both {start.tolist()} mm")
    if n_samples is None:
        n_samples = max(2, round(length / (voxel_size_mm / 4)) + 1)
    integer(n_samples, "n_samples", minimum=2)
    integer(order, "order", unit="spline order", minimum=0, maximum=5)
    # distance, positions, indices and values: about 8 float64 per sample
    check_allocation(
        f"a profile of n_samples={int(n_samples)} over {length:.4g} mm",
        int(n_samples),
        8,
        copies=8,
    )
    distance = np.linspace(0.0, length, int(n_samples))
    positions = start + distance[:, None] / length * (end - start)
    index = mm_to_index(positions, values.shape, voxel_size_mm)
    sampled = ndimage.map_coordinates(
        values, index.T, order=int(order), mode="constant", cval=0.0, output=np.float64
    )
    return distance, sampled


def septal_peak_ratio(
    image: Any, reference: Any, lv: Any, *, voxel_size_mm: float, reach_mm: float = 50.0
) -> float:
    """Septal wall peak of a profile through the LV centre, over the reference's (finding 3).

    The study's figure 5 compares profile curves across the myocardium. This
    is its number: along the line from ``reach_mm`` beyond the septum (from the
    LV centre, along ``lv.septal_direction``) to the centre, the maximum of the
    image divided by the maximum of the reference (the ideal image). Blurring
    lowers the peak (ratio below 1); noise can raise it.

    Parameters
    ----------
    image, reference : array_like
        ``(z, y, x)`` volumes on one grid.
    lv : LVGeometry
        The LV frame (``center_mm``, ``septal_direction``).
    voxel_size_mm : float
        Voxel edge in mm.
    reach_mm : float, optional
        Length of the septal half of the line in mm (default 50).

    Returns
    -------
    float
        Dimensionless peak ratio.
    """
    centre = np.asarray(lv.center_mm, dtype=np.float64)
    septal = np.asarray(lv.septal_direction, dtype=np.float64)
    if not (isinstance(reach_mm, numbers.Real) and reach_mm > 0):
        raise ValueError(f"reach_mm must be > 0 mm, got {reach_mm!r}")
    start, end = centre + reach_mm * septal, centre - reach_mm * septal
    distance, values = profile(image, start, end, voxel_size_mm=voxel_size_mm)
    _, ideal = profile(reference, start, end, voxel_size_mm=voxel_size_mm)
    half = distance <= reach_mm
    peak = float(ideal[half].max())
    if peak <= 0:
        raise ValueError("reference has no positive value on the septal half of the line")
    return float(values[half].max()) / peak
