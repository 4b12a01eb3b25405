"""Figures with the book's display conventions: mm axes, shared windows, labelled views.

Transaxial slices are shown as a clinician sees them (patient's right on the
viewer's left, anterior at the top); coronal and sagittal slices with the head
at the top. Images that are compared share one display window, and the
default colour maps are perceptually uniform and colour-blind safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .frame import LVGeometry, check_voxel_size_mm, mm_to_index

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ACTIVITY_CMAP",
    "ATTENUATION_CMAP",
    "BOOK_STYLE",
    "book_style",
    "orthogonal_slices",
    "plot_frequency_response",
    "plot_kernel_sampling",
    "plot_learning_curve",
    "plot_learning_curves",
    "plot_level_curves",
    "plot_noise_wall_tradeoff",
    "plot_optimum_by_level",
    "show_method_differences",
    "show_orthogonal",
    "show_reoriented",
    "show_window_on_slices",
]

#: Colour map for activity images (perceptually uniform, colour-blind safe).
ACTIVITY_CMAP = "inferno"
#: Colour map for attenuation maps.
ATTENUATION_CMAP = "cividis"

#: The book's figure style (matplotlib rc parameters). The book shows figures at about
#: 730 px, so a figure W inches wide is drawn at 730 / (W x 72) px per point: at the
#: book's widest figures (10 in) 11 pt tick labels are still 11 px, titles 13 px.
#: Use ``plt.style.use(BOOK_STYLE)`` in a chapter or ``with book_style():`` around a figure.
BOOK_STYLE: dict[str, Any] = {
    "figure.figsize": (8.0, 4.8),
    "figure.dpi": 100,
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "figure.titlesize": 14,
    "lines.linewidth": 2.0,
    "image.cmap": ACTIVITY_CMAP,
}


def book_style() -> Any:
    """A context manager that draws figures in :data:`BOOK_STYLE`.

    Returns
    -------
    contextlib.AbstractContextManager
        ``matplotlib.rc_context(BOOK_STYLE)``.

    Examples
    --------
    >>> with book_style():  # doctest: +SKIP
    ...     figure = show_orthogonal({"activity": volume}, 3.2)
    """
    import matplotlib

    return matplotlib.rc_context(BOOK_STYLE)


def orthogonal_slices(
    volume: np.ndarray, voxel_size_mm: float, center_mm: Sequence[float] | None = None
) -> dict[str, tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Transaxial, coronal and sagittal slices through a point, ready for ``imshow``.

    Parameters
    ----------
    volume : numpy.ndarray
        ``(z, y, x)`` volume.
    voxel_size_mm : float
        Voxel edge in mm.
    center_mm : sequence of float, optional
        Point ``(x, y, z)`` in mm the slices pass through; default the volume centre.

    Returns
    -------
    dict
        ``{"transaxial" | "coronal" | "sagittal": (image, extent_mm)}`` where each
        image is oriented for ``imshow(origin="upper")`` and ``extent_mm`` is
        ``(left, right, bottom, top)`` in mm.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D (z, y, x), got shape {volume.shape}")
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    center = np.zeros(3) if center_mm is None else np.asarray(center_mm, dtype=np.float64)
    iz, iy, ix = np.clip(
        np.round(mm_to_index(center, volume.shape, voxel_size_mm)).astype(int),
        0,
        np.asarray(volume.shape) - 1,
    )
    half = (np.asarray(volume.shape[::-1]) * voxel_size_mm) / 2  # x, y, z half extents
    return {
        # rows: anterior (-y) at the top; columns: patient's right (-x) on the left.
        "transaxial": (volume[iz], (-half[0], half[0], half[1], -half[1])),
        # rows: head (+z) at the top.
        "coronal": (volume[:, iy, :][::-1], (-half[0], half[0], -half[2], half[2])),
        # columns: anterior on the left, as seen from the patient's left side.
        "sagittal": (volume[:, :, ix][::-1], (-half[1], half[1], -half[2], half[2])),
    }


def _activity_colorbar(figure: Any, axes: Any, image: Any, *, shrink: float) -> Any:
    """``figure`` with a "relative activity" colour bar for ``image`` (if one was drawn)."""
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=shrink, label="relative activity")
    return figure


def _shared_window(
    volumes: dict[str, np.ndarray], window: tuple[float, float] | None
) -> tuple[float, float]:
    """The display window shared by compared images: given, or 0 to the first one's maximum."""
    if not volumes:
        raise ValueError("volumes must hold at least one volume")
    if window is not None:
        return float(window[0]), float(window[1])
    return 0.0, float(np.max(next(iter(volumes.values()))))


_AXIS_LABELS = {
    "transaxial": ("x (mm): patient right to left", "y (mm): anterior to posterior"),
    "coronal": ("x (mm): patient right to left", "z (mm): feet to head"),
    "sagittal": ("y (mm): anterior to posterior", "z (mm): feet to head"),
}


def show_orthogonal(
    volumes: dict[str, np.ndarray],
    voxel_size_mm: float,
    *,
    center_mm: Sequence[float] | None = None,
    cmap: str = ACTIVITY_CMAP,
    window: tuple[float, float] | None = None,
    colorbar_label: str = "",
    panel_size_in: float = 3.0,
) -> Figure:
    """One row per volume, transaxial / coronal / sagittal columns, one shared window.

    Parameters
    ----------
    volumes : dict of str to numpy.ndarray
        Row title -> ``(z, y, x)`` volume on the same grid.
    voxel_size_mm : float
        Voxel edge in mm.
    center_mm : sequence of float, optional
        Point ``(x, y, z)`` in mm the slices pass through.
    cmap : str, optional
        Matplotlib colour map.
    window : tuple of float, optional
        ``(vmin, vmax)`` shared by every panel; default 0 to the maximum of the
        first volume.
    colorbar_label : str, optional
        Label (with units) of the colour bar.
    panel_size_in : float, optional
        Size of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    vmin, vmax = _shared_window(volumes, window)
    figure, axes = plt.subplots(
        len(volumes),
        3,
        figsize=(3 * panel_size_in + 1.0, len(volumes) * panel_size_in),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for row, (title, volume) in enumerate(volumes.items()):
        slices = orthogonal_slices(volume, voxel_size_mm, center_mm)
        for column, (plane, (picture, extent)) in enumerate(slices.items()):
            axis: Axes = axes[row, column]
            image = axis.imshow(picture, extent=extent, cmap=cmap, vmin=vmin, vmax=vmax)
            axis.set_title(f"{title}: {plane}")
            axis.set_xlabel(_AXIS_LABELS[plane][0])
            axis.set_ylabel(_AXIS_LABELS[plane][1])
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label=colorbar_label)
    return figure


def show_reoriented(
    volumes: dict[str, np.ndarray],
    lv: LVGeometry,
    voxel_size_mm: float,
    *,
    n_slices: int = 5,
    half_width_mm: float = 60.0,
    cmap: str = ACTIVITY_CMAP,
    window: tuple[float, float] | None = None,
    views: Sequence[str] = ("SA", "VLA", "HLA"),
) -> Figure:
    """Clinical display: for each view a row of slices through the LV.

    Short-axis slices run from apex to base, vertical long-axis slices from
    septum to lateral wall, horizontal long-axis slices from inferior to
    anterior (project conventions). Slices are spaced evenly over the LV.

    Parameters
    ----------
    volumes : dict of str to numpy.ndarray
        Title -> ``(z, y, x)`` volume; each gets its own block of rows.
    lv : LVGeometry
        The LV frame used for the reorientation.
    voxel_size_mm : float
        Voxel edge in mm.
    n_slices : int, optional
        Slices shown per view.
    half_width_mm : float, optional
        Half the field of view of each panel, and the range the slices span.
    cmap : str, optional
        Colour map.
    window : tuple of float, optional
        Shared ``(vmin, vmax)``; default 0 to the maximum of the first volume.
    views : sequence of str, optional
        Which of "SA", "VLA", "HLA" to show.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .reorient import reorient, view_axes

    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    vmin, vmax = _shared_window(volumes, window)
    n = int(2 * round(half_width_mm / voxel_size_mm) + 1)
    offsets_mm = np.linspace(-0.6, 0.6, n_slices) * half_width_mm
    indices = np.round(offsets_mm / voxel_size_mm + (n - 1) / 2).astype(int)
    rows = [(title, view) for title in volumes for view in views]
    figure, axes = plt.subplots(
        len(rows),
        n_slices,
        figsize=(1.9 * n_slices, 2.1 * len(rows)),
        squeeze=False,
        layout="constrained",
    )
    extent = (-half_width_mm, half_width_mm, half_width_mm, -half_width_mm)
    image = None
    for row, (title, view) in enumerate(rows):
        stack = reorient(
            volumes[title], lv, voxel_size_mm=voxel_size_mm, view=view, shape=(n, n, n)
        )
        labels: dict[str, Any] = view_axes(lv, view)["labels"]
        for column, (index, offset) in enumerate(zip(indices, offsets_mm, strict=True)):
            axis = axes[row, column]
            image = axis.imshow(stack[index], extent=extent, cmap=cmap, vmin=vmin, vmax=vmax)
            axis.set(xticks=[], yticks=[], title=f"{view} {offset:+.0f} mm")
        axes[row, 0].set_ylabel(f"{title}\n{labels['rows'][0]} (top) to {labels['rows'][1]}")
        axes[row, 0].set_xlabel(f"{labels['cols'][0]} to {labels['cols'][1]}")
    return _activity_colorbar(figure, axes, image, shrink=0.6)


def show_method_differences(
    volumes: dict[str, np.ndarray],
    reference: str,
    lv: LVGeometry,
    voxel_size_mm: float,
    *,
    view: str = "SA",
    columns: int = 3,
    half_width_mm: float = 50.0,
    window: tuple[float, float] | None = None,
    panel_size_in: float = 2.2,
) -> Figure:
    """Methods in one view, each above its difference from a reference (e.g. the ideal image).

    Panels run in blocks of ``columns`` methods (legible at page width); each
    block has a row of images sharing one window (default 0 to the reference's
    maximum) and a row of differences ``image - reference`` sharing one
    symmetric, colour-blind-safe diverging window.

    Parameters
    ----------
    volumes : dict of str to numpy.ndarray
        Title -> ``(z, y, x)`` volume on one grid; must hold ``reference``.
    reference : str
        Key of the reference volume (its difference panel says so).
    lv : LVGeometry
        The LV frame (slice through the LV centre).
    voxel_size_mm : float
        Voxel edge in mm.
    view : str, optional
        ``"SA"``, ``"VLA"``, ``"HLA"`` (mid slice of the reoriented volume).
    columns : int, optional
        Methods per row (default 3).
    half_width_mm : float, optional
        Half the field of view of each panel in mm.
    window : tuple of float, optional
        ``(vmin, vmax)`` of the images.
    panel_size_in : float, optional
        Size of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .reorient import reorient

    if reference not in volumes:
        raise ValueError(f"reference {reference!r} is not one of the volumes {list(volumes)}")
    if view not in ("SA", "VLA", "HLA"):
        raise ValueError(f"view must be 'SA', 'VLA' or 'HLA', got {view!r}")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be an int >= 1, got {columns!r}")
    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    n = int(2 * round(half_width_mm / voxel_size_mm) + 1)
    extent = (-half_width_mm, half_width_mm, half_width_mm, -half_width_mm)
    slices = {
        title: reorient(volume, lv, voxel_size_mm=voxel_size_mm, view=view, shape=(n, n, n))[
            (n - 1) // 2
        ]
        for title, volume in volumes.items()
    }
    vmin, vmax = window if window is not None else (0.0, float(slices[reference].max()))
    differences = {title: picture - slices[reference] for title, picture in slices.items()}
    limit = max(float(np.abs(d).max()) for d in differences.values()) or 1.0
    titles = list(volumes)
    blocks = [titles[i : i + columns] for i in range(0, len(titles), columns)]
    figure, axes = plt.subplots(
        2 * len(blocks),
        columns,
        figsize=(panel_size_in * columns + 1.2, panel_size_in * 2 * len(blocks)),
        squeeze=False,
        layout="constrained",
    )
    shown = diff = None
    for b, block in enumerate(blocks):
        for c in range(columns):
            top, bottom = axes[2 * b, c], axes[2 * b + 1, c]
            for axis in (top, bottom):
                axis.set(xticks=[], yticks=[])
            if c >= len(block):
                top.set_axis_off()
                bottom.set_axis_off()
                continue
            title = block[c]
            shown = top.imshow(
                slices[title], extent=extent, cmap=ACTIVITY_CMAP, vmin=vmin, vmax=vmax
            )
            top.set_title(title, fontsize=9)
            if title == reference:
                bottom.text(
                    0.5,
                    0.5,
                    "reference",
                    ha="center",
                    va="center",
                    fontsize=9,
                    transform=bottom.transAxes,
                )
                bottom.set_axis_off()
            else:
                diff = bottom.imshow(
                    differences[title], extent=extent, cmap="PuOr_r", vmin=-limit, vmax=limit
                )
                bottom.set_title(f"minus {reference}", fontsize=8)
            if c == 0:
                top.set_ylabel(f"{view}, mm", fontsize=8)
    if shown is not None:
        figure.colorbar(shown, ax=axes, shrink=0.5, label="relative activity (top rows)")
    if diff is not None:
        figure.colorbar(diff, ax=axes, shrink=0.5, label="minus reference (bottom rows)")
    return figure


# Chapter figures: beyond, filters, network, results
# ---------------------------------------------------
# Figures drawn once in one chapter, kept here so the chapter cell is a call.


def _new_figure(rows: int, columns: int, size: tuple[float, float]) -> tuple[Figure, Any]:
    """A constrained-layout figure with a 2-D array of axes."""
    import matplotlib.pyplot as plt

    return plt.subplots(rows, columns, figsize=size, layout="constrained", squeeze=False)


def plot_level_curves(
    curves: Mapping[str, Mapping[str, Sequence[Any]]],
    levels: Sequence[float],
    *,
    titles: Mapping[str, str] | None = None,
    log_scale: Sequence[str] = (),
    hlines: Mapping[str, float] | None = None,
    bands: Mapping[str, tuple[float, float]] | None = None,
    labels: Mapping[str, str] | None = None,
    columns: int = 2,
) -> Figure:
    """One panel per metric: each method's mean and 95 % interval against the count level.

    Parameters
    ----------
    curves : mapping
        ``{metric: {method: [estimate per level]}}``; an estimate has ``mean``, ``low``
        and ``high`` (e.g. :class:`spect_tutorial.results.Estimate`).
    levels : sequence of float
        Count levels in percent, one per estimate; drawn on a log axis.
    titles : mapping, optional
        Panel title per metric (default: the metric's name).
    log_scale : sequence of str, optional
        Metrics drawn on a logarithmic y axis.
    hlines : mapping, optional
        ``{metric: y}``: a dashed reference line in that panel.
    bands : mapping, optional
        ``{metric: (low, high)}``: a grey band in that panel (e.g. the ideal image's wall).
    labels : mapping, optional
        Legend name per method (default: the method's key).
    columns : int, optional
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; the legend is in the first panel.
    """
    if not curves:
        raise ValueError("curves must hold at least one metric")
    levels = [float(level) for level in levels]
    titles, labels = titles or {}, labels or {}
    rows = -(-len(curves) // columns)
    figure, axes = _new_figure(rows, columns, (5.5 * columns, 4.0 * rows))
    for axis in axes.flat[len(curves) :]:
        axis.set_axis_off()
    for axis, (metric, by_method) in zip(axes.flat, curves.items(), strict=False):
        for method, values in by_method.items():
            if len(values) != len(levels):
                raise ValueError(
                    f"curves[{metric!r}][{method!r}]: {len(values)} estimates "
                    f"for {len(levels)} levels"
                )
            means = np.array([v.mean for v in values])
            spread = [means - [v.low for v in values], [v.high for v in values] - means]
            axis.errorbar(
                levels,
                means,
                yerr=spread,
                marker="o",
                markersize=3,
                capsize=2,
                label=labels.get(method, method),
            )
        axis.set_xscale("log")
        axis.minorticks_off()
        axis.set_xticks(levels, [f"{level:g}" for level in levels])
        axis.set(xlabel="count level (%)", title=titles.get(metric, metric))
        if metric in log_scale:
            axis.set_yscale("log")
        if hlines and metric in hlines:
            axis.axhline(hlines[metric], color="black", linestyle="--", linewidth=0.8)
        if bands and metric in bands:
            axis.axhspan(*bands[metric], color="0.85", zorder=0)
    axes.flat[0].legend()
    return figure


def plot_kernel_sampling(
    requested_mm: np.ndarray,
    kernels_mm: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray],
    *,
    example_fwhm_mm: float,
    voxel_size_mm: float,
) -> Figure:
    """What a Gaussian kernel on a coarse grid really does.

    Left: the weights of the example kernel against the continuous Gaussian. Right: the
    FWHM from each kernel's variance against the requested FWHM.

    Parameters
    ----------
    requested_mm : numpy.ndarray
        Requested FWHMs in mm.
    kernels_mm : mapping
        ``{kernel name: FWHM in mm from its variance, one per requested FWHM}``.
    weights : mapping
        ``{kernel name: weights of the example kernel}``, an odd number centred on 0,
        same names as ``kernels_mm``.
    example_fwhm_mm : float
        FWHM of the example kernel (mm).
    voxel_size_mm : float
        Voxel edge in mm.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.
    """
    from .acquisition import FWHM_PER_SIGMA

    voxel_size_mm = check_voxel_size_mm(voxel_size_mm)
    if set(weights) != set(kernels_mm):
        raise ValueError(
            f"weights and kernels_mm must name the same kernels, got "
            f"{sorted(weights)} and {sorted(kernels_mm)}"
        )
    sigma = example_fwhm_mm / FWHM_PER_SIGMA / voxel_size_mm
    figure, ((left, right),) = _new_figure(1, 2, (10.0, 3.6))
    fine = np.linspace(-3.0, 3.0, 301)
    left.plot(
        fine,
        np.exp(-0.5 * (fine / sigma) ** 2) * np.sqrt(0.5 / np.pi) / sigma,
        color="grey",
        label="continuous Gaussian (density per voxel)",
    )
    right.plot(requested_mm, requested_mm, color="grey", linestyle=":", label="as requested")
    shifts = np.linspace(-0.06, 0.06, len(weights))
    for index, (name, kernel) in enumerate(weights.items()):
        kernel = np.asarray(kernel)
        offsets = np.arange(kernel.size) - kernel.size // 2
        left.stem(
            offsets + shifts[index],
            kernel,
            linefmt=f"C{index + 1}-",
            markerfmt=f"C{index + 1}o",
            basefmt=" ",
            label=name,
        )
        right.plot(requested_mm, kernels_mm[name], color=f"C{index + 1}", label=name)
    left.set(
        xlabel=f"offset (voxels of {voxel_size_mm:g} mm)",
        ylabel="weight",
        title=f"{example_fwhm_mm:g} mm FWHM: sigma = {sigma:.2f} voxel",
    )
    one_voxel = FWHM_PER_SIGMA * voxel_size_mm
    right.axvline(one_voxel, color="grey", linewidth=0.8)
    right.text(one_voxel + 0.3, 1.0, "sigma = 1 voxel")
    right.set(
        xlabel="requested FWHM (mm)",
        ylabel="FWHM from the kernel's variance (mm)",
        title="What the kernel really does",
    )
    for axis in (left, right):
        axis.legend()
    return figure


def _reference_walls(axis: Axes, ideal_wall_mm: float, true_wall_mm: float) -> None:
    """Horizontal lines at the ideal image's wall and the phantom's true wall (mm)."""
    axis.axhline(ideal_wall_mm, color="C2", linestyle=":", label="ideal image")
    axis.axhline(true_wall_mm, color="grey", linestyle="-.", label="true wall")


def plot_noise_wall_tradeoff(
    fwhms_mm: Sequence[float],
    noise: Sequence[float],
    wall_mm: Sequence[float],
    predicted_mm: Sequence[float],
    *,
    ideal_wall_mm: float,
    true_wall_mm: float,
) -> Figure:
    """Noise and wall thickness against the Gaussian FWHM, and the trade-off between them.

    Parameters
    ----------
    fwhms_mm : sequence of float
        Gaussian FWHMs in mm.
    noise : sequence of float
        Noise coefficient of variation at each FWHM (dimensionless).
    wall_mm, predicted_mm : sequence of float
        Measured and predicted wall thickness at each FWHM (mm).
    ideal_wall_mm, true_wall_mm : float
        Wall thickness of the ideal image and of the phantom (mm), drawn as lines.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels.
    """
    if not len(fwhms_mm) == len(noise) == len(wall_mm) == len(predicted_mm):
        raise ValueError(
            "fwhms_mm, noise, wall_mm and predicted_mm must have one value each "
            f"per FWHM, got {len(fwhms_mm)}, {len(noise)}, {len(wall_mm)}, "
            f"{len(predicted_mm)}"
        )
    figure, ((first, second, third),) = _new_figure(1, 3, (10.0, 2.7))
    first.plot(fwhms_mm, noise, "o-")
    first.set(
        xlabel="Gaussian FWHM (mm)",
        ylabel="noise CoV, normal myocardium",
        title="Noise falls",
        ylim=(0, None),
    )
    second.plot(fwhms_mm, wall_mm, "o-", label="measured")
    second.plot(
        fwhms_mm, predicted_mm, "--", color="black", label="predicted, eq. (box, voxel, blur)"
    )
    _reference_walls(second, ideal_wall_mm, true_wall_mm)
    second.set(
        xlabel="Gaussian FWHM (mm)",
        ylabel="wall thickness (mm)",
        title="The wall grows",
        ylim=(0, None),
    )
    second.legend()
    third.plot(wall_mm, noise, "o-")
    for fwhm, x, y in zip(fwhms_mm, wall_mm, noise, strict=True):
        third.annotate(f"{fwhm:g}", (x, y), textcoords="offset points", xytext=(4, 4))
    third.set(
        xlabel="wall thickness (mm)",
        ylabel="noise CoV",
        title="Trade-off (labels: FWHM)",
        ylim=(0, None),
    )
    return figure


def plot_optimum_by_level(
    optima: Mapping[float, Any],
    walls_mm: Mapping[float, float],
    *,
    ideal_wall_mm: float,
    true_wall_mm: float,
) -> Figure:
    """NRMSE curves, optimal FWHM and the wall of the optimum at each count level.

    Parameters
    ----------
    optima : mapping
        ``{count level (%): result}`` with the attributes of
        :class:`spect_tutorial.filters.OptimalFWHM` (``fwhms_mm``, ``nrmse_curve``,
        ``fwhm_mm``, ``nrmse``).
    walls_mm : mapping
        ``{count level (%): wall thickness of the optimally filtered image (mm)}``.
    ideal_wall_mm, true_wall_mm : float
        Walls (mm) of the ideal image and of the phantom, for comparison in the last panel.

    Returns
    -------
    matplotlib.figure.Figure
        Panels: NRMSE curves with their optima, optimal FWHM, wall of the optimum.
    """
    import matplotlib.pyplot as plt

    if set(optima) != set(walls_mm) or not optima:
        raise ValueError(
            f"optima and walls_mm must hold the same count levels, got "
            f"{sorted(optima)} and {sorted(walls_mm)}"
        )
    levels = sorted(optima)
    figure, ((curves, best, walls),) = _new_figure(1, 3, (10.0, 2.7))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(levels)))
    for colour, level in zip(colours, levels, strict=True):
        result = optima[level]
        curves.plot(result.fwhms_mm, result.nrmse_curve, color=colour, label=f"{level:g} %")
        curves.plot(result.fwhm_mm, result.nrmse, "o", color=colour)
    curves.set(xlabel="Gaussian FWHM (mm)", ylabel="NRMSE", ylim=(0, None), title="NRMSE curves")
    curves.legend()
    best.plot(levels, [optima[level].fwhm_mm for level in levels], "o-")
    best.set(ylabel="optimal FWHM (mm)", title="Optimal FWHM", ylim=(0, None))
    walls.plot(levels, [walls_mm[level] for level in levels], "o-", label="optimally filtered")
    _reference_walls(walls, ideal_wall_mm, true_wall_mm)
    walls.set(ylabel="wall thickness (mm)", title="Wall of the optimum", ylim=(0, None))
    walls.legend()
    for axis in (best, walls):
        axis.set(xscale="log", xlabel="count level (%)")
        axis.set_xticks(levels, [f"{level:g}" for level in levels])
        axis.minorticks_off()
    return figure


def plot_frequency_response(
    frequency: np.ndarray,
    gains: Mapping[str, np.ndarray],
    *,
    markers: Mapping[str, float] | None = None,
    levels: Sequence[float] = (1 / np.sqrt(2), 0.5),
) -> Figure:
    """Gain of several filters against spatial frequency.

    Parameters
    ----------
    frequency : numpy.ndarray
        Spatial frequencies in cycles/cm.
    gains : mapping
        ``{label: gain at each frequency}``; labels starting with "Gaussian" are dotted,
        those containing "squared" dashed.
    markers : mapping, optional
        ``{text: frequency (cycles/cm)}``: labelled vertical lines (cutoff, Nyquist).
    levels : sequence of float, optional
        Gains marked with faint horizontal lines.

    Returns
    -------
    matplotlib.figure.Figure
        One panel.
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    figure, ((axis,),) = _new_figure(1, 1, (7.0, 4.0))
    for label, gain in gains.items():
        if np.shape(gain) != frequency.shape:
            raise ValueError(
                f"gains[{label!r}] has shape {np.shape(gain)}, frequency {frequency.shape}"
            )
        style = ":" if label.startswith("Gaussian") else "--" if "squared" in label else "-"
        axis.plot(frequency, gain, style, label=label)
    for text, position in (markers or {}).items():
        axis.axvline(position, color="grey", linewidth=0.8)
        right = position > frequency.mean()  # text on the inner side of the line
        axis.annotate(
            text,
            (position, 0.95),
            xytext=(-3 if right else 3, 0),
            textcoords="offset points",
            ha="right" if right else "left",
        )
    for level in levels:
        axis.axhline(level, color="grey", linewidth=0.5, linestyle=":")
    axis.set(
        xlabel="spatial frequency (cycles/cm)",
        ylabel="gain",
        ylim=(0, 1.05),
        title="Frequency response of the filters",
    )
    axis.legend(loc="lower left")
    return figure


def show_window_on_slices(
    volume: np.ndarray, voxel_size_mm: float, center_mm: Sequence[float], side_mm: float
) -> Figure:
    """A square window (e.g. a receptive field) around a point, on two slices through it.

    Parameters
    ----------
    volume : numpy.ndarray
        The ``(z, y, x)`` image, e.g. an OSEM volume divided by its mean.
    voxel_size_mm : float
        Edge of a cubic voxel (mm).
    center_mm : sequence of float
        The point ``(x, y, z)`` in mm.
    side_mm : float
        Side of the square window in the transaxial plane (mm); the window is one
        transaxial slice thick, which the coronal slice shows.

    Returns
    -------
    matplotlib.figure.Figure
        Transaxial and coronal slice with the window in cyan and a shared colorbar.
    """
    from matplotlib.patches import Rectangle

    if side_mm <= 0:
        raise ValueError(f"side_mm must be positive (mm), got {side_mm}")
    slices = orthogonal_slices(volume, voxel_size_mm, center_mm)
    centre = np.asarray(center_mm, dtype=np.float64)
    figure, axes = _new_figure(1, 2, (10.0, 4.8))
    top = float(np.max(volume))
    for axis, plane, (across, up) in zip(
        axes[0], ("transaxial", "coronal"), ((0, 1), (0, 2)), strict=True
    ):
        image, extent = slices[plane]
        shown = axis.imshow(image, extent=extent, cmap=ACTIVITY_CMAP, vmin=0, vmax=top)
        height = side_mm if plane == "transaxial" else voxel_size_mm
        axis.add_patch(
            Rectangle(
                (centre[across] - side_mm / 2, centre[up] - height / 2),
                side_mm,
                height,
                fill=False,
                edgecolor="cyan",
                linewidth=1.5,
            )
        )
        axis.plot(centre[across], centre[up], "+", color="cyan", markersize=10)
        axis.set(
            title=f"{plane} slice", xlabel=_AXIS_LABELS[plane][0], ylabel=_AXIS_LABELS[plane][1]
        )
    figure.colorbar(shown, ax=axes, shrink=0.8, label="image value / volume mean")
    return figure


# Chapter figures: noise, noise2noise, osem, phantom
# The figures of these chapters that need more than a few lines of matplotlib; each
# chapter's (hidden) figure cell computes the numbers and calls one of these.

__all__ += [
    "plot_attenuation_loss",
    "plot_cardiac_orbit",
    "plot_collimator_blur",
    "plot_noise_scaling",
    "show_slice_rows",
]


def plot_noise_scaling(
    levels: Sequence[float],
    covs: dict[str, np.ndarray],
    *,
    ideal_cov: float,
    anchor: float,
    reference_level: float,
    counts_per_percent: float,
) -> Figure:
    """Log-log plot of image noise against the count level, with the 1/sqrt(counts) line.

    Parameters
    ----------
    levels : sequence of float
        Count levels in percent, ascending.
    covs : dict of str to numpy.ndarray
        Label -> CoV values of shape ``(levels, realizations)`` (e.g. "noise CoV",
        "plain CoV"); the mean over realizations is drawn with markers, each
        realization as a dot.
    ideal_cov : float
        CoV of the ideal (noise-free) image, drawn as a horizontal line.
    anchor : float
        Value of the first entry's mean at ``reference_level``: the
        ``1/sqrt(counts)`` line passes through it.
    reference_level : float
        Count level in percent of ``anchor``.
    counts_per_percent : float
        Expected counts (all views) per percent of count level, for the top axis.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> figure = plot_noise_scaling([25, 100], {"noise CoV": np.array([[0.2], [0.1]])},
    ...                             ideal_cov=0.08, anchor=0.1, reference_level=100,
    ...                             counts_per_percent=1e5)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    levels = np.asarray(levels, dtype=np.float64)
    if levels.ndim != 1 or levels.size < 2 or np.any(levels <= 0):
        raise ValueError(f"levels must hold at least two positive count levels, got {levels}")
    figure, axis = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    for (name, values), marker in zip(covs.items(), "osd^v", strict=False):
        values = np.asarray(values, dtype=np.float64).reshape(levels.size, -1)
        (line,) = axis.loglog(levels, values.mean(axis=1), marker, label=name)
        axis.loglog(
            np.repeat(levels, values.shape[1]),
            values.ravel(),
            ".",
            ms=3,
            color=line.get_color(),
            alpha=0.6,
        )
    axis.axhline(ideal_cov, color="gray", ls=":", label="CoV of the ideal image")
    fine_levels = np.geomspace(levels.min(), levels.max(), 50)
    axis.loglog(
        fine_levels,
        anchor * np.sqrt(reference_level / fine_levels),
        "k--",
        label="∝ 1/√counts through 100 %",
    )
    axis.set_xticks(levels, [f"{level:g}" for level in levels])
    axis.set_yticks([0.05, 0.1, 0.2, 0.3], ["0.05", "0.1", "0.2", "0.3"])
    top = axis.secondary_xaxis(
        "top",
        functions=(lambda x: x * counts_per_percent / 1e6, lambda x: x * 1e6 / counts_per_percent),
    )
    top.set_xticks(
        levels * counts_per_percent / 1e6,
        [f"{level * counts_per_percent / 1e6:.3g}" for level in levels],
    )
    for ticks in (axis.xaxis, axis.yaxis, top.xaxis):
        ticks.set_minor_formatter(NullFormatter())
    axis.set(xlabel="count level (%)", ylabel="CoV in the myocardium")
    top.set_xlabel("expected counts in all views (millions)")
    axis.legend()
    return figure


def plot_cardiac_orbit(
    mu: np.ndarray,
    voxel_size_mm: float,
    geometry: Any,
    *,
    center_mm: Sequence[float],
    named_views: dict[str, int],
) -> Figure:
    """The attenuation map seen from the feet, with the collimator face at every view.

    Parameters
    ----------
    mu : numpy.ndarray
        ``(z, y, x)`` attenuation map in 1/cm.
    voxel_size_mm : float
        Voxel edge of ``mu`` in mm.
    geometry : spect_tutorial.acquisition.SpectGeometry
        The acquisition (its angles in degrees and orbit radius in mm).
    center_mm : sequence of float
        LV centre ``(x, y, z)`` in mm: the transaxial slice passes through it.
    named_views : dict of str to int
        Label -> view index, written beside those camera positions.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> figure = plot_cardiac_orbit(phantom.mu, 6.4, SpectGeometry(),
    ...                             center_mm=phantom.lv_center_mm,
    ...                             named_views={"LAO 45": 16})  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    image, extent = orthogonal_slices(mu, voxel_size_mm, center_mm)["transaxial"]
    theta = np.deg2rad(geometry.angles_deg)
    detector_x = geometry.radius_mm * np.sin(theta)
    detector_y = -geometry.radius_mm * np.cos(theta)
    figure, axis = plt.subplots(figsize=(5.2, 5), layout="constrained")
    shown = axis.imshow(image, extent=extent, cmap=ATTENUATION_CMAP, vmin=0, vmax=0.3)
    axis.plot(
        detector_x, detector_y, "o", color="tab:blue", markersize=3, label="camera positions"
    )
    for name, index in named_views.items():
        axis.text(
            1.1 * detector_x[index],
            1.1 * detector_y[index],
            name,
            ha="left" if np.sin(theta[index]) > 0.5 else "center",
            va="center",
        )
    axis.plot(*np.asarray(center_mm)[:2], "x", color="tab:red", markersize=8, label="LV centre")
    axis.set(
        xlim=(-340, 380),
        ylim=(340, -340),
        xlabel="x (mm): patient right to left",
        ylabel="y (mm): anterior to posterior",
        title="Cardiac orbit, viewed from the feet",
    )
    axis.legend(loc="lower left")
    figure.colorbar(shown, ax=axis, shrink=0.7, label="μ at 140 keV (1/cm)")
    return figure


def _show_projection(axis: Any, data: np.ndarray, geometry: Any, vmax: float, title: str) -> Any:
    """Draw one projection (counts, from 0 to ``vmax``) over the detector's extent in mm."""
    shown = axis.imshow(
        data,
        origin="lower",
        extent=_detector_extent(geometry),
        cmap=ACTIVITY_CMAP,
        vmin=0,
        vmax=vmax,
    )
    axis.set(title=title, xlabel="detector position (mm)")
    return shown


def _detector_extent(geometry: Any) -> tuple[float, float, float, float]:
    """``imshow`` extent in mm of one projection view (detector centred on the axis)."""
    half = geometry.n_bins * geometry.bin_size_mm / 2
    return (-half, half, -half, half)


def plot_attenuation_loss(
    without: np.ndarray,
    with_attenuation: np.ndarray,
    geometry: Any,
    transmission: dict[str, np.ndarray],
    *,
    view_label: str = "LAO 45",
) -> Figure:
    """One view projected without and with attenuation, and the fraction kept per view.

    Parameters
    ----------
    without, with_attenuation : numpy.ndarray
        ``(rows, bins)`` expected counts of one view without and with attenuation.
    geometry : spect_tutorial.acquisition.SpectGeometry
        The acquisition (detector size in mm, angles in degrees).
    transmission : dict of str to numpy.ndarray
        Label -> fraction of counts kept at each view, shape ``(views,)``.
    view_label : str, optional
        Name of the view shown, for the titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(10, 4.2), layout="constrained")
    shown = None
    for axis, (label, data) in zip(
        axes[:2], (("without", without), ("with", with_attenuation)), strict=True
    ):
        shown = _show_projection(
            axis, data, geometry, float(np.max(without)), f"{view_label} {label} attenuation"
        )
    # Under the two projections, so its label cannot run into the third panel.
    figure.colorbar(
        shown, ax=axes[:2], location="bottom", shrink=0.6, label="expected counts per pixel"
    )
    for label, kept in transmission.items():
        axes[2].plot(geometry.angles_deg, kept, label=label)
    axes[2].set(
        xlabel="view angle (deg)",
        ylabel="fraction of counts kept",
        ylim=(0, 0.5),
        title="Transmission per view",
    )
    axes[2].legend()
    return figure


def plot_collimator_blur(
    geometry: Any,
    unblurred: np.ndarray,
    blurred: np.ndarray,
    *,
    heart_distance_mm: np.ndarray,
    row: int,
    view_label: str = "LAO 45",
) -> Figure:
    """The LEHR resolution against distance, one view without and with blur, a profile.

    Parameters
    ----------
    geometry : spect_tutorial.acquisition.SpectGeometry
        The acquisition (its ``fwhm_mm(distance_mm)`` and detector size in mm).
    unblurred, blurred : numpy.ndarray
        ``(rows, bins)`` expected counts of one view without and with collimator blur.
    heart_distance_mm : numpy.ndarray
        Distance of the LV centre from the collimator face at each view, in mm (its
        range is shaded on the resolution curve).
    row : int
        Detector row of the profile (e.g. the row through the LV centre).
    view_label : str, optional
        Name of the view shown, for the titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not 0 <= row < np.shape(unblurred)[0]:
        raise ValueError(f"row must be a detector row of the view, got {row!r}")
    figure, axes = plt.subplots(1, 4, figsize=(10, 2.3), layout="constrained")
    distance = np.linspace(0, 400, 81)
    axes[0].plot(distance, geometry.fwhm_mm(distance))
    axes[0].axvspan(
        np.min(heart_distance_mm), np.max(heart_distance_mm), alpha=0.2, label="LV centre"
    )
    axes[0].set(
        xlabel="distance from collimator (mm)", ylabel="FWHM (mm)", title="LEHR resolution"
    )
    axes[0].legend()
    for axis, (label, data) in zip(axes[1:3], (("off", unblurred), ("on", blurred)), strict=True):
        _show_projection(
            axis, data, geometry, float(np.max(unblurred)), f"{view_label}, blur {label}"
        )
    bins_mm = (np.arange(geometry.n_bins) - (geometry.n_bins - 1) / 2) * geometry.bin_size_mm
    axes[3].plot(bins_mm, unblurred[row], label="blur off")
    axes[3].plot(bins_mm, blurred[row], label="blur on")
    axes[3].set(xlabel="detector position (mm)", ylabel="expected counts", title=f"row {row}")
    axes[3].legend()
    return figure


def show_slice_rows(
    rows: dict[str, dict[str, np.ndarray]],
    *,
    window: float,
    differences: Sequence[str] = (),
) -> Figure:
    """Rows of 2-D slices on one window; difference panels on a symmetric blue-red scale.

    Parameters
    ----------
    rows : dict of str to dict of str to numpy.ndarray
        Row label (written beside the row; may be empty) -> panel title -> 2-D slice.
        Every row has the same number of panels.
    window : float
        Upper end of the activity window (the lower end is 0); difference panels
        span ``-window / 2`` to ``window / 2``.
    differences : sequence of str, optional
        Panel titles that hold differences of two images.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> figure = show_slice_rows({"": {"a": a, "b": b, "b − a": b - a}}, window=a.max(),
    ...                          differences=["b − a"])  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows must hold at least one row of slices")
    widths = {len(panels) for panels in rows.values()}
    if len(widths) != 1 or 0 in widths:
        raise ValueError(f"rows must all hold the same number (>= 1) of panels, got {widths}")
    if not np.isfinite(window) or window <= 0:
        raise ValueError(f"window must be a positive finite value, got {window!r}")
    columns = widths.pop()
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(10, 2.65 * len(rows)), layout="constrained", squeeze=False
    )
    for axes_row, (label, panels) in zip(axes, rows.items(), strict=True):
        for axis, (title, image) in zip(axes_row, panels.items(), strict=True):
            is_difference = title in differences
            axis.imshow(
                image,
                cmap="RdBu_r" if is_difference else ACTIVITY_CMAP,
                vmin=-window / 2 if is_difference else 0,
                vmax=window / 2 if is_difference else window,
            )
            axis.set(title=title, xticks=[], yticks=[])
        if label:
            axes_row[0].set_ylabel(label)
    return figure


# Chapter figures: the paper-size model's learning curve (Noise2Noise chapter)


def plot_learning_curve(curve: Mapping[str, Any]) -> Figure:
    """The learning curve of a long training: what the trainer saw, and what it could not.

    Left: the held-out Noise2Noise loss less its noise floor (the part a better
    network can still remove; :func:`spect_tutorial.training.noise_floor`),
    on a log axis, against gradient steps. Right: the NRMSE to the ideal image
    of the held-out crops per count level (reporting only: the training never
    sees it).

    Parameters
    ----------
    curve : mapping
        A learning curve as read by
        :func:`spect_tutorial.training.load_learning_curve`.

    Returns
    -------
    matplotlib.figure.Figure
        The two-panel figure.
    """
    rows = list(curve["rows"])
    floor = float((curve.get("plateau") or {}).get("floor") or 0.0)
    steps = np.array([row["steps"] for row in rows], dtype=float)
    figure, ((loss_axis, error_axis),) = _new_figure(1, 2, (10.0, 3.8))
    excess = np.array([row["val_loss"] for row in rows], dtype=float) - floor
    loss_axis.semilogy(steps, excess, "o-", markersize=3)
    loss_axis.set(
        xlabel="gradient steps (this run)",
        ylabel="held-out loss − noise floor",
        title=f"What the trainer sees (floor {floor:.4f})",
    )
    levels = sorted(rows[0].get("val_nrmse_ideal_per_level", {}), key=float)
    for level in levels:
        values = [row["val_nrmse_ideal_per_level"][level] for row in rows]
        error_axis.plot(steps, values, "o-", markersize=3, label=f"{level} % counts")
    error_axis.set(
        xlabel="gradient steps (this run)",
        ylabel="NRMSE to the ideal image",
        title="What it cannot see (reporting only)",
    )
    if levels:
        error_axis.legend()
    return figure


def plot_learning_curves(curves: Mapping[str, Mapping[str, Any]], *, level: str = "25") -> Figure:
    """Learning curves of candidate networks side by side (e.g. 2D against 2.5D).

    Left: each held-out loss less its own noise floor against gradient steps (log
    axis); right: the NRMSE to the ideal image of the held-out crops at one count
    level (reporting only), so equal budgets can be compared step for step.

    Parameters
    ----------
    curves : mapping
        ``label -> curve`` as read by :func:`spect_tutorial.training.load_learning_curve`.
    level : str, optional
        Count level in percent of the right panel, as written in the curve files ("25").

    Returns
    -------
    matplotlib.figure.Figure
        The two-panel figure.
    """
    if not curves:
        raise ValueError("curves must hold at least one learning curve")
    figure, ((loss_axis, error_axis),) = _new_figure(1, 2, (10.0, 3.8))
    for label, curve in curves.items():
        rows = list(curve["rows"])
        floor = float((curve.get("plateau") or {}).get("floor") or 0.0)
        steps = np.array([row["steps"] for row in rows], dtype=float)
        excess = np.array([row["val_loss"] for row in rows], dtype=float) - floor
        loss_axis.semilogy(steps, excess, "o-", markersize=3, label=label)
        errors = [row.get("val_nrmse_ideal_per_level", {}).get(level, np.nan) for row in rows]
        error_axis.plot(steps, errors, "o-", markersize=3, label=label)
    loss_axis.set(
        xlabel="gradient steps",
        ylabel="held-out loss − noise floor",
        title="What the trainer sees",
    )
    error_axis.set(
        xlabel="gradient steps",
        ylabel="NRMSE to the ideal image",
        title=f"Held-out crops at {level} % counts (reporting only)",
    )
    loss_axis.legend()
    error_axis.legend()
    return figure
