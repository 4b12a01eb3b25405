"""Image-quality measures and the regions they are computed in.

The binding definitions are in the science reference, section 8 (also on the
book's *Conventions* page). This module grows with the filters issue; it starts
with the evaluation region every later chapter shares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["coefficient_of_variation", "evaluation_region", "nrmse"]


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
    mask = np.asarray(myocardium_mask)
    if mask.ndim != 3:
        raise ValueError(f"myocardium_mask must be 3-D (z, y, x), got shape {mask.shape}")
    if mask.dtype != bool:
        raise ValueError(f"myocardium_mask must be boolean, got dtype {mask.dtype}")
    if int(dilation_voxels) != dilation_voxels or dilation_voxels < 0:
        raise ValueError(f"dilation_voxels must be an integer >= 0, got {dilation_voxels!r}")
    if dilation_voxels == 0:
        return mask.copy()
    structure = ndimage.generate_binary_structure(3, 1)
    return ndimage.binary_dilation(mask, structure, iterations=int(dilation_voxels))


def _image_and_region(
    image: Any, region: Any, name: str = "image"
) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(image, dtype=np.float64)
    mask = np.asarray(region)
    if mask.dtype != bool:
        raise ValueError(f"region must be a boolean mask, got dtype {mask.dtype}")
    if values.shape[-mask.ndim :] != mask.shape:
        raise ValueError(f"{name} has shape {values.shape}; region has shape {mask.shape}")
    if not mask.any():
        raise ValueError("region is empty")
    return values, mask


def coefficient_of_variation(image: Any, region: Any) -> float | np.ndarray:
    """Coefficient of variation (standard deviation / mean) of an image over a region.

    Computed in the normal myocardium, it measures noise: it falls as counts
    rise (about as ``1 / sqrt(counts)``) and as a smoothing filter widens.

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
    return float(cov) if np.ndim(cov) == 0 else cov


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
    values, mask = _image_and_region(image, region)
    truth, _ = _image_and_region(reference, region, "reference")
    if truth.shape != mask.shape:
        raise ValueError(f"reference must have the region's shape {mask.shape}, got {truth.shape}")
    scale = truth[mask].mean()
    if scale == 0:
        raise ValueError("reference has zero mean over the region")
    error = np.sqrt(((values[..., mask] - truth[mask]) ** 2).mean(axis=-1)) / scale
    return float(error) if np.ndim(error) == 0 else error
