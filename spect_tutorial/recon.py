"""Statistical reconstruction: MLEM and OSEM with the Poisson likelihood.

The measured projections ``y`` (counts) are modelled as independent Poisson
variables with mean ``ybar = A x + s``: ``A`` is the system model (the
projector, :class:`ProjectionSystem`), ``x`` the activity image (relative
activity per voxel) and ``s`` an optional additive term such as a scatter
estimate (counts). :func:`osem` maximises the Poisson log-likelihood
(:func:`poisson_log_likelihood`) by the ordered-subsets expectation-maximisation
algorithm of Hudson & Larkin (1994); with one subset it is MLEM (Shepp & Vardi
1982; Lange & Carson 1984), :func:`mlem`.

Any object with ``image_shape``, ``projection_shape``, ``forward`` and
``backward`` serves as the system model: the package's
:class:`spect_tutorial.acquisition.SpectSystem`, or :class:`MatrixSystem`, an
explicit matrix for small teaching examples and tests.

Subsets of views follow PyTomography's convention: subset ``s`` of ``n`` holds
the views ``np.arange(n_views)[s::n]`` (:func:`view_subsets`), so each subset
spreads evenly over the orbit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._validation import int_tuple, integer, real_array

__all__ = [
    "MatrixSystem",
    "ProjectionSystem",
    "mlem",
    "osem",
    "poisson_log_likelihood",
    "view_subsets",
]

#: Signature of an OSEM callback: ``callback(iteration, subset, image) -> bool | None``.
Callback = Callable[[int, int, np.ndarray], Any]


@runtime_checkable
class ProjectionSystem(Protocol):
    """What :func:`osem` needs from a system model (a :class:`typing.Protocol`).

    Attributes
    ----------
    image_shape : tuple of int
        ``(nz, ny, nx)``, the shape of one image.
    projection_shape : tuple of int
        ``(n_views, n_rows, n_bins)``, the shape of one set of projections.

    Notes
    -----
    ``forward(volume, *, views=None)`` maps a float32 image ``(nz, ny, nx)`` or a
    batch ``(K, nz, ny, nx)`` to projections ``(len(views), n_rows, n_bins)`` or
    ``(K, len(views), n_rows, n_bins)``, where ``views`` is a sequence of view
    indices (``None`` = all views). ``backward(projections, *, views=None)`` is its
    exact adjoint (the transpose of the system matrix), mapping
    ``(..., len(views), n_rows, n_bins)`` back to ``(..., nz, ny, nx)``.
    """

    @property
    def image_shape(self) -> tuple[int, int, int]: ...

    @property
    def projection_shape(self) -> tuple[int, int, int]: ...

    def forward(self, volume: np.ndarray, *, views: Sequence[int] | None = None) -> np.ndarray:
        """Project an image (or a batch of images) onto the selected views."""
        ...

    def backward(
        self, projections: np.ndarray, *, views: Sequence[int] | None = None
    ) -> np.ndarray:
        """Back-project projections of the selected views (the exact adjoint)."""
        ...


def _shape_tuple(value: Any, name: str) -> tuple[int, int, int]:
    return int_tuple(value, name, 3)  # type: ignore[return-value]


class MatrixSystem:
    """A projection system given by an explicit system matrix.

    Useful to see MLEM/OSEM at work on a problem small enough to write down,
    and to test reconstruction code against an exact adjoint.

    Parameters
    ----------
    matrix : array_like or scipy.sparse matrix
        Non-negative system matrix of shape ``(n_views * n_rows * n_bins,
        nz * ny * nx)``: element ``(i, j)`` is the expected counts in detector
        pixel ``i`` per unit activity in voxel ``j``. Rows are ordered view by
        view, then row, then bin; columns in ``(z, y, x)`` C order.
    image_shape : tuple of int
        ``(nz, ny, nx)``.
    projection_shape : tuple of int
        ``(n_views, n_rows, n_bins)``.

    Examples
    --------
    >>> import numpy as np
    >>> matrix = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> system = MatrixSystem(matrix, image_shape=(1, 1, 2), projection_shape=(3, 1, 1))
    >>> system.forward(np.array([[[2.0, 3.0]]], dtype=np.float32)).ravel()
    array([2., 5., 3.], dtype=float32)
    >>> system.backward(np.ones((2, 1, 1), dtype=np.float32), views=[0, 2]).ravel()
    array([1., 1.], dtype=float32)
    """

    def __init__(
        self,
        matrix: Any,
        image_shape: tuple[int, int, int],
        projection_shape: tuple[int, int, int],
    ) -> None:
        from scipy import sparse

        self._image_shape = _shape_tuple(image_shape, "image_shape")
        self._projection_shape = _shape_tuple(projection_shape, "projection_shape")
        if sparse.issparse(matrix):
            values = sparse.csr_matrix(matrix, dtype=np.float64)
            data = values.data
        else:
            values = np.asarray(matrix, dtype=np.float64)
            data = values
        expected = (int(np.prod(self._projection_shape)), int(np.prod(self._image_shape)))
        if values.ndim != 2 or values.shape != expected:
            raise ValueError(
                f"matrix must have shape {expected} (projection pixels, voxels) for "
                f"projection_shape {self._projection_shape} and image_shape "
                f"{self._image_shape}, got {values.shape}"
            )
        if not np.all(np.isfinite(data)) or (data.size and float(data.min()) < 0):
            raise ValueError("matrix must be finite and >= 0 everywhere")
        self.matrix = values

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(nz, ny, nx)``."""
        return self._image_shape

    @property
    def projection_shape(self) -> tuple[int, int, int]:
        """``(n_views, n_rows, n_bins)``."""
        return self._projection_shape

    def _rows(self, views: Sequence[int] | None) -> tuple[Any, int]:
        n_views, n_rows, n_bins = self._projection_shape
        if views is None:
            return self.matrix, n_views
        selected = np.atleast_1d(np.asarray(views))
        if (
            selected.ndim != 1
            or selected.size == 0
            or not np.issubdtype(selected.dtype, np.integer)
        ):
            raise ValueError(f"views must be a non-empty sequence of view indices, got {views!r}")
        if selected.min() < 0 or selected.max() >= n_views:
            raise ValueError(f"views must lie in 0..{n_views - 1}, got {selected.tolist()}")
        per_view = n_rows * n_bins
        rows = (selected[:, None] * per_view + np.arange(per_view)).ravel()
        return self.matrix[rows], int(selected.size)

    def forward(self, volume: np.ndarray, *, views: Sequence[int] | None = None) -> np.ndarray:
        """Expected projections ``A x`` (counts) of an image or a batch of images."""
        volume = np.asarray(volume)
        batch = volume.shape[:-3]
        if volume.shape[-3:] != self._image_shape or len(batch) > 1:
            raise ValueError(
                f"volume must have shape {self._image_shape} or (K, *{self._image_shape}), "
                f"got {volume.shape}"
            )
        block, n_selected = self._rows(views)
        result = block @ volume.reshape(-1, int(np.prod(self._image_shape))).T
        shape = (*batch, n_selected, *self._projection_shape[1:])
        return np.asarray(result.T, dtype=np.float32).reshape(shape)

    def backward(
        self, projections: np.ndarray, *, views: Sequence[int] | None = None
    ) -> np.ndarray:
        """Back-projection ``A^T y`` of projections of the selected views."""
        block, n_selected = self._rows(views)
        projections = np.asarray(projections)
        one = (n_selected, *self._projection_shape[1:])
        batch = projections.shape[:-3]
        if projections.shape[-3:] != one or len(batch) > 1:
            raise ValueError(
                f"projections must have shape {one} or (K, *{one}), got {projections.shape}"
            )
        result = block.T @ projections.reshape(-1, int(np.prod(one))).T
        return np.asarray(result.T, dtype=np.float32).reshape(*batch, *self._image_shape)


def view_subsets(n_views: int, n_subsets: int) -> list[np.ndarray]:
    """Split ``n_views`` view indices into ``n_subsets`` interleaved subsets.

    Parameters
    ----------
    n_views : int
        Number of views (>= 1).
    n_subsets : int
        Number of subsets, ``1 <= n_subsets <= n_views``. It need not divide
        ``n_views``: subsets then differ in size by one view.

    Returns
    -------
    list of numpy.ndarray
        Subset ``s`` is ``np.arange(n_views)[s::n_subsets]`` (PyTomography's
        convention): views spread evenly over the orbit.

    Examples
    --------
    >>> [subset.tolist() for subset in view_subsets(8, 3)]
    [[0, 3, 6], [1, 4, 7], [2, 5]]
    """
    n_views = integer(n_views, "n_views")
    n_subsets = integer(n_subsets, "n_subsets", maximum=n_views)
    indices = np.arange(n_views)
    return [indices[s::n_subsets] for s in range(n_subsets)]


def _check_finite_non_negative(values: Any, name: str, unit: str) -> np.ndarray:
    return real_array(
        values, name, dtype=None, unit=unit, bool_ok=False, non_negative=True, noun="values"
    )


def _check_projections(
    projections: Any, projection_shape: tuple[int, ...], name: str = "projections"
) -> np.ndarray:
    array = np.asarray(projections)
    if array.ndim not in (3, 4) or array.shape[-3:] != tuple(projection_shape):
        raise ValueError(
            f"{name} must have shape {tuple(projection_shape)} (views, rows, bins) or "
            f"(K, {', '.join(str(n) for n in projection_shape)}) for a batch of K "
            f"realizations, as system.projection_shape says; got {array.shape}"
        )
    if array.ndim == 4 and array.shape[0] < 1:
        raise ValueError(f"{name} holds an empty batch (K = 0), shape {array.shape}")
    return _check_finite_non_negative(array, name, "counts").astype(np.float32, copy=False)


def _counts_like(values: Any, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Finite counts >= 0 as ``dtype``, broadcast to the projections' ``shape`` (a view)."""
    array = _check_finite_non_negative(values, name, "counts")
    try:
        broadcast = np.broadcast_shapes(array.shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(
            f"{name} must be broadcastable to the projections' shape {shape}, "
            f"got {array.shape}"
        )
    return np.broadcast_to(array.astype(dtype, copy=False), shape)


def poisson_log_likelihood(projections: Any, expected: Any) -> float | np.ndarray:
    """Poisson log-likelihood of measured counts given their expected values.

    Parameters
    ----------
    projections : array_like
        Measured counts ``y``, ``(views, rows, bins)`` or a batch
        ``(K, views, rows, bins)``; finite and >= 0.
    expected : array_like
        Expected counts ``ybar`` (for example ``system.forward(x) + additive``),
        broadcastable to the shape of ``projections``; finite and >= 0.

    Returns
    -------
    float or numpy.ndarray
        ``sum(y * log(ybar) - ybar)`` as a float, or one value per realization
        (float64 array of shape ``(K,)``) for a batch.

    Notes
    -----
    .. math:: L(y \\mid \\bar y) = \\sum_i y_i \\log \\bar y_i - \\bar y_i

    drops the constant ``-sum(log(y_i!))``, which does not depend on the image, so
    only differences of ``L`` are meaningful. Terms with ``y_i = 0`` contribute
    ``-ybar_i`` (``0 log 0 = 0``); a pixel with ``ybar_i = 0`` but ``y_i > 0`` is
    impossible under the model and gives ``-inf``. Sums are taken in float64.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[[0.0, 2.0]]])
    >>> round(poisson_log_likelihood(y, np.array([[[1.0, 2.0]]])), 4)
    -1.6137
    >>> poisson_log_likelihood(y, np.array([[[1.0, 0.0]]]))
    -inf
    """
    counts = np.asarray(projections)
    if counts.ndim not in (3, 4):
        raise ValueError(
            "projections must be 3-D (views, rows, bins) or 4-D (K, views, rows, bins), "
            f"got shape {counts.shape}"
        )
    counts = _check_finite_non_negative(counts, "projections", "counts").astype(np.float64)
    mean = _counts_like(expected, "expected", counts.shape, np.float64)
    with np.errstate(divide="ignore"):
        log_mean = np.log(mean)
    positive = counts > 0
    terms = np.where(positive, counts * np.where(positive, log_mean, 0.0), 0.0) - mean
    if counts.ndim == 3:
        return float(terms.sum())
    return terms.reshape(counts.shape[0], -1).sum(axis=1)


def osem(
    projections: Any,
    system: ProjectionSystem,
    *,
    n_iter: int = 4,
    n_subsets: int = 8,
    additive: Any = None,
    initial: Any = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Ordered-subsets expectation maximisation (OSEM) reconstruction.

    Parameters
    ----------
    projections : array_like
        Measured counts, ``system.projection_shape`` = ``(views, rows, bins)``, or
        a batch ``(K, views, rows, bins)`` of K realizations, each reconstructed
        independently (the batch goes through the system's batched
        ``forward``/``backward``: one call per subset). Finite and >= 0.
    system : ProjectionSystem
        The system model: ``image_shape``, ``projection_shape``, ``forward`` and
        its exact adjoint ``backward`` (for example
        :class:`spect_tutorial.acquisition.SpectSystem` or :class:`MatrixSystem`).
    n_iter : int, optional
        Number of iterations (>= 1); each visits every subset once.
    n_subsets : int, optional
        Number of subsets of views, ``1..n_views`` (it need not divide the
        number of views). ``1`` gives MLEM. The default 8 subsets x 4 iterations
        is the book's clinical-style setting for 64 views.
    additive : array_like, optional
        Additive term ``s`` in counts (a scatter estimate), broadcastable to the
        projections' shape; finite and >= 0. Default none.
    initial : array_like, optional
        Starting image(s) in relative activity, ``(nz, ny, nx)`` or, for a
        batch, ``(K, nz, ny, nx)``; finite and >= 0. Default: ones (a uniform
        image), float32.
    callback : callable, optional
        ``callback(iteration, subset, image)`` is called after each subset
        update, with ``iteration`` and ``subset`` counted from 0 and ``image``
        the current estimate (float32, shaped like the result). Each call gets a
        new array that the algorithm never modifies afterwards, so the callback
        may keep it without copying (it must not modify it). Returning ``True``
        stops the reconstruction early, which then returns that image.
    progress : bool, optional
        Print one line per iteration (time and relative image change).

    Returns
    -------
    numpy.ndarray
        float32 image ``(nz, ny, nx)`` or batch ``(K, nz, ny, nx)`` in the
        units of ``projections`` divided by those of the system matrix
        (relative activity for the package's projector), >= 0.

    Raises
    ------
    ValueError
        If a shape does not match the system, counts or the additive term are
        negative, NaN or infinite, or ``n_iter``/``n_subsets`` are out of range.
    TypeError
        If ``system`` lacks ``image_shape``, ``projection_shape``, ``forward``
        or ``backward``.

    See Also
    --------
    mlem : the same with one subset.
    poisson_log_likelihood : the objective that the iterations increase.
    view_subsets : the subsets of views.

    Notes
    -----
    Subset ``m`` holds the views ``S_m = np.arange(n_views)[m::n_subsets]``.
    With ``A_m`` the rows of the system matrix for those views (elements
    ``a_ij``), ``y_m`` their counts and ``s_m`` the additive term, one
    sub-iteration is (Hudson & Larkin 1994)

    .. math::

        x^{new}_j = \\frac{x_j}{\\sum_{i \\in S_m} a_{ij}}
            \\sum_{i \\in S_m} a_{ij} \\frac{y_i}{\\sum_k a_{ik} x_k + s_i}

    i.e. ``x <- x / A_m^T 1 * A_m^T (y_m / (A_m x + s_m))``. With one subset it
    is MLEM, which never decreases :func:`poisson_log_likelihood`. OSEM with
    ``n`` subsets gains roughly a factor ``n`` in speed early on; on noisy
    (inconsistent) data it does not converge to the maximum-likelihood image
    but ends in a limit cycle.

    The sensitivity images ``A_m^T 1`` are computed once per subset per call.
    Guards: a ratio whose expected counts ``A_m x + s_m`` are 0 is 0 (never
    NaN/inf); a voxel that no view sees (zero sensitivity for every subset) is
    set to 0 and stays 0; a voxel that a subset does not see keeps its value
    during that subset's update. The image stays >= 0.

    References
    ----------
    .. [1] H. M. Hudson and R. S. Larkin, "Accelerated image reconstruction
       using ordered subsets of projection data", IEEE Trans. Med. Imaging 13
       (1994) 601-609.
    .. [2] L. A. Shepp and Y. Vardi, "Maximum likelihood reconstruction for
       emission tomography", IEEE Trans. Med. Imaging 1 (1982) 113-122.

    Examples
    --------
    A tiny system of 4 views of a 2-voxel object (one row, one bin per view):

    >>> import numpy as np
    >>> matrix = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 1.0]])
    >>> system = MatrixSystem(matrix, image_shape=(1, 1, 2), projection_shape=(4, 1, 1))
    >>> truth = np.array([[[2.0, 4.0]]], dtype=np.float32)
    >>> counts = system.forward(truth)
    >>> image = osem(counts, system, n_iter=200, n_subsets=2)
    >>> image.shape, image.dtype
    ((1, 1, 2), dtype('float32'))
    >>> np.round(image.ravel(), 3)
    array([2., 4.], dtype=float32)

    Keep every iterate for a plot, and stop after the first iteration:

    >>> images = []
    >>> def keep(iteration, subset, image):
    ...     images.append(image)
    ...     return iteration == 0 and subset == 1
    >>> _ = osem(counts, system, n_iter=10, n_subsets=2, callback=keep)
    >>> len(images)
    2
    """
    for attribute in ("image_shape", "projection_shape", "forward", "backward"):
        if not hasattr(system, attribute):
            raise TypeError(
                "system must provide image_shape, projection_shape, forward and backward "
                f"(a ProjectionSystem); {type(system).__name__} has no {attribute!r}"
            )
    image_shape = _shape_tuple(system.image_shape, "system.image_shape")
    projection_shape = _shape_tuple(system.projection_shape, "system.projection_shape")
    n_views = projection_shape[0]
    counts = _check_projections(projections, projection_shape)
    batch = counts.shape[:-3]
    n_iter = integer(n_iter, "n_iter")
    n_subsets = integer(n_subsets, "n_subsets", maximum=n_views)
    subsets = view_subsets(n_views, n_subsets)

    if additive is not None:
        additive = _counts_like(additive, "additive", counts.shape, np.float32)

    if initial is None:
        image = np.ones((*batch, *image_shape), dtype=np.float32)
    else:
        start = _check_finite_non_negative(initial, "initial", "relative activity")
        allowed = [image_shape, (*batch, *image_shape)]
        if start.shape not in allowed:
            raise ValueError(
                f"initial must have shape {' or '.join(str(s) for s in dict.fromkeys(allowed))} "
                f"(system.image_shape, with the batch axis of projections), got {start.shape}"
            )
        image = np.array(np.broadcast_to(start, (*batch, *image_shape)), dtype=np.float32)

    # Per subset: its views (None when the subset is every view), its data, its additive
    # term and the inverse of its sensitivity image A_m^T 1 (0 where the subset sees nothing).
    plans = []
    seen_by_any = np.zeros(image_shape, dtype=bool)
    for subset in subsets:
        views = None if subset.size == n_views else subset
        ones = np.ones((subset.size, *projection_shape[1:]), dtype=np.float32)
        sensitivity = np.asarray(system.backward(ones, views=views))
        if sensitivity.shape != image_shape:
            raise ValueError(
                f"system.backward returned shape {sensitivity.shape}, expected "
                f"system.image_shape {image_shape}"
            )
        seen = sensitivity > 0
        seen_by_any |= seen
        inverse = np.zeros(image_shape, dtype=np.float32)
        np.divide(1.0, sensitivity, out=inverse, where=seen)
        plans.append(
            {
                "views": views,
                "counts": counts if views is None else counts[..., subset, :, :],
                "additive": None
                if additive is None
                else (additive if views is None else additive[..., subset, :, :]),
                "inverse_sensitivity": inverse,
                "unseen": ~seen,
            }
        )
    for plan in plans:  # a voxel no view sees is 0; one only this subset misses is kept
        unseen = plan.pop("unseen") & seen_by_any
        plan["keep"] = unseen if unseen.any() else None
    image *= seen_by_any

    name = "MLEM" if n_subsets == 1 else f"OSEM ({n_subsets} subsets)"
    for iteration in range(n_iter):
        started = time.perf_counter()
        previous = image
        for subset_index, plan in enumerate(plans):
            expected = np.asarray(system.forward(image, views=plan["views"]))
            if plan["additive"] is not None:
                expected = expected + plan["additive"]
            ratio = np.zeros(expected.shape, dtype=np.result_type(expected, np.float32))
            np.divide(plan["counts"], expected, out=ratio, where=expected > 0)
            correction = np.asarray(system.backward(ratio, views=plan["views"]))
            updated = np.multiply(image, correction, dtype=np.float32)
            updated *= plan["inverse_sensitivity"]
            if plan["keep"] is not None:
                np.copyto(updated, image, where=plan["keep"])
            np.maximum(updated, 0.0, out=updated)
            image = updated
            if callback is not None:
                stop = callback(iteration, subset_index, image)
                if isinstance(stop, bool | np.bool_) and stop:
                    return image
        if progress:
            change = float(np.linalg.norm(image - previous)) / max(
                float(np.linalg.norm(previous)), np.finfo(np.float32).tiny
            )
            print(
                f"{name}: iteration {iteration + 1}/{n_iter} in "
                f"{time.perf_counter() - started:.2f} s, relative image change {change:.2e}",
                flush=True,
            )
    return image


def mlem(
    projections: Any, system: ProjectionSystem, *, n_iter: int = 32, **options: Any
) -> np.ndarray:
    """Maximum-likelihood expectation maximisation: :func:`osem` with one subset.

    Parameters
    ----------
    projections, system
        As for :func:`osem`.
    **options
        ``additive``, ``initial``, ``callback``, ``progress``: as for :func:`osem`
        (the callback's ``subset`` is always 0).
    n_iter : int, optional
        Number of iterations (>= 1). The default 32 makes as many image updates
        as the default OSEM (8 subsets x 4 iterations), at 8 times the cost.

    Returns
    -------
    numpy.ndarray
        float32 image ``(nz, ny, nx)`` or batch ``(K, nz, ny, nx)``.

    Notes
    -----
    .. math:: x^{new} = \\frac{x}{A^T 1} A^T \\frac{y}{A x + s}

    Each iteration never decreases :func:`poisson_log_likelihood` (Shepp &
    Vardi 1982; Lange & Carson 1984).

    Examples
    --------
    >>> import numpy as np
    >>> matrix = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> system = MatrixSystem(matrix, image_shape=(1, 1, 2), projection_shape=(3, 1, 1))
    >>> counts = np.array([[[3.0]], [[9.0]], [[6.0]]])
    >>> np.round(mlem(counts, system, n_iter=100).ravel(), 3)
    array([3., 6.], dtype=float32)
    """
    return osem(projections, system, n_iter=n_iter, n_subsets=1, **options)
