"""Interactive explorers for the classroom, and their static counterparts.

Every explorer precomputes what its sliders can show (one simulated study per
count level, cached), so moving a slider only redraws a figure. Sliders use
``continuous_update=False`` and the widgets never wait for input, so a
notebook that displays them runs unattended under papermill. Each explorer has
a static figure with the same content for readers of the built book, who have
no kernel behind the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_count_levels, number_sequence, real_number
from .filters import gaussian_filter_mm
from .methods import METRICS, image_metrics
from .metrics import (
    noise_coefficient_of_variation,
    normal_myocardium,
    profile,
)
from .noise import STANDARD_COUNT_LEVELS, nearest_view_index
from .phantom import Phantom
from .plotting import ACTIVITY_CMAP, book_style
from .reorient import reorient
from .study import Study, acquisition_settings, simulate_study

if TYPE_CHECKING:  # pragma: no cover
    import ipywidgets
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "EXPLORER_METHODS",
    "GRID_FWHMS_MM",
    "STATIC_FWHMS_MM",
    "STATIC_METHODS",
    "CountLevelExplorer",
    "FilterExplorer",
    "MethodExplorer",
    "count_level_studies",
    "explorer_images",
    "show_count_levels",
    "show_filter_grid",
    "static_explorer",
]

# Reoriented pictures cover this many voxels around the LV centre.
_HEART_VOXELS = 21


def _new_figure(size_in: tuple[float, float]) -> Figure:
    """A figure that is not registered with pyplot, so it never shows up on its own."""
    from matplotlib.figure import Figure

    return Figure(figsize=size_in, layout="constrained")


def _png_bytes(figure: Figure) -> bytes:
    """Render a figure to PNG for an ``ipywidgets.Image``.

    Explorers draw into an image widget rather than an ``Output`` widget: no
    output capture is involved, so executing a notebook unattended (papermill)
    cannot wait on a widget, and the saved widget state carries the picture.
    """
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def count_level_studies(
    phantom: Phantom,
    *,
    count_levels: Sequence[float] = STANDARD_COUNT_LEVELS,
    seed: int = 0,
    n_realizations: int = 1,
    acquisition: str = "v1",
) -> dict[float, Study]:
    """Simulate ``phantom`` at each count level (same seed, independent noise per level).

    Parameters
    ----------
    phantom : Phantom
        The object (the shipped phantoms use 3.2 mm voxels).
    count_levels : sequence of float, optional
        Count levels in percent.
    seed : int, optional
        Seed of the noise.
    n_realizations : int, optional
        Realizations per level.
    acquisition : str, optional
        How the patient is imaged (:func:`spect_tutorial.study.acquisition_settings`):
        ``"v1"``, the study's (no scatter), or ``"v2"`` (scatter, corrected from the
        measured counts), the acquisition the shipped networks were trained on.

    Returns
    -------
    dict of float to Study
    """
    levels = check_count_levels(count_levels)  # every level checked before any simulation
    settings = acquisition_settings(acquisition).study_kwargs()  # checked before, too
    return {
        level: simulate_study(
            phantom, count_level=level, n_realizations=n_realizations, seed=seed, **settings
        )
        for level in levels
    }


def _mid_short_axis(volume: np.ndarray, study: Study) -> np.ndarray:
    """The mid short-axis slice of ``volume`` over a 134 mm field around the LV."""
    stack = reorient(
        volume,
        study.lv,
        voxel_size_mm=study.voxel_size_mm,
        view="SA",
        shape=(_HEART_VOXELS, _HEART_VOXELS, _HEART_VOXELS),
    )
    return stack[_HEART_VOXELS // 2]


def _show_heart(axis: Axes, picture: np.ndarray, study: Study, image_max: float) -> Any:
    """Draw a heart picture (``_HEART_VOXELS`` wide) with the shared window and a mm extent."""
    half = _HEART_VOXELS * study.voxel_size_mm / 2
    return axis.imshow(
        picture,
        cmap=ACTIVITY_CMAP,
        vmin=0,
        vmax=image_max,
        extent=(-half, half, half, -half),
    )


def _septal_profile(volume: np.ndarray, study: Study) -> tuple[np.ndarray, np.ndarray]:
    """Profile along a radial line from the septum through the LV centre to the lateral wall.

    Returns the position in mm (septum negative, LV centre 0, lateral wall positive,
    45 mm either side) and the values of ``volume`` there.
    """
    start = study.lv.center + 45.0 * study.lv.septal_direction
    end = study.lv.center - 45.0 * study.lv.septal_direction
    distance, values = profile(volume, start, end, voxel_size_mm=study.voxel_size_mm)
    return distance - 45.0, values


def _panels(study: Study) -> dict[str, np.ndarray]:
    """The pictures an explorer shows for one study."""
    view = nearest_view_index(study.geometry.angles_deg)
    return {
        "projection": study.projections[0, view],
        "short_axis": _mid_short_axis(study.recons[0], study),
    }


def _metrics_text(study: Study) -> str:
    values = image_metrics(study.recons[0], study, ("noise_cov", "nrmse"))
    noise, error = values["noise_cov"], values["nrmse"]
    return (
        f"{study.count_level:g} % counts: {study.total_counts / 1e6:.2f} million counts in "
        f"{study.geometry.n_views} views; noise in the normal myocardium (std of image minus "
        f"ideal, over its mean) {noise:.3f}; NRMSE to the ideal image {error:.3f}"
    )


class _LiveExplorer:
    """Display of a live explorer: its widget, plus an HTML picture for the static book.

    The output carries both the widget view and an HTML twin (the picture the widget
    shows when the notebook ran, with a note to launch the page). A live Jupyter front
    end renders the widget; the static book (``nb_mime_priority_overrides`` in
    ``_config.yml`` ranks ``text/html`` first) renders the picture, so no slider
    there moves without changing the picture.
    """

    widget: Any
    image: Any

    def _static_html(self) -> str:
        import base64

        encoded = base64.b64encode(self.image.value).decode("ascii")
        return (
            "<figure class='live-explorer-static'>"
            f"<img src='data:image/png;base64,{encoded}' style='max-width:100%' "
            "alt='the explorer at its default settings'>"
            "<figcaption><b>Live explorer, shown here as a picture.</b> Its controls need a "
            "running Python kernel: launch this page in Colab or Binder (rocket icon at the "
            "top) to move them.</figcaption></figure>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/plain": f"{type(self).__name__} (live explorer)",
            "text/html": self._static_html(),
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
        }


def _draw(figure: Figure, study: Study, *, image_max: float) -> None:
    panels = _panels(study)
    half_fov = study.geometry.n_bins * study.geometry.bin_size_mm / 2
    axes = figure.subplots(1, 2)
    picture = axes[0].imshow(
        panels["projection"][::-1],
        cmap="gray",
        vmin=0,
        vmax=float(panels["projection"].max()),
        extent=(-half_fov, half_fov, -half_fov, half_fov),
    )
    axes[0].set_title(f"LAO 45 projection, {study.count_level:g} % counts")
    # Each projection has its own grey scale: read the counts off its colour bar.
    axes[0].set_xlabel("detector bin (mm)")
    axes[0].set_ylabel("z (mm): feet to head")
    figure.colorbar(picture, ax=axes[0], label="counts per pixel", shrink=0.8)
    picture = _show_heart(axes[1], panels["short_axis"], study, image_max)
    axes[1].set_title("OSEM image, mid short-axis slice")
    axes[1].set_xlabel("septal to lateral (mm)")
    axes[1].set_ylabel("anterior to inferior (mm)")
    figure.colorbar(picture, ax=axes[1], label="relative activity", shrink=0.8)


class CountLevelExplorer(_LiveExplorer):
    """A count-level slider over precomputed studies: projection, image and metrics.

    Parameters
    ----------
    studies : dict of float to Study
        One study per count level, e.g. from :func:`count_level_studies`.

    Examples
    --------
    >>> explorer = CountLevelExplorer(count_level_studies(phantom))  # doctest: +SKIP
    >>> explorer.widget  # displays the slider and the figure  # doctest: +SKIP
    >>> explorer.slider.value = 25.0  # what an instructor's click does  # doctest: +SKIP
    """

    def __init__(self, studies: dict[float, Study]) -> None:
        import ipywidgets

        self.studies = _check_studies(studies)
        levels = list(self.studies)
        self._image_max = _image_max(self.studies)
        self.slider = _count_level_slider(levels)
        self.metrics = ipywidgets.HTML()
        self.image = ipywidgets.Image(format="png")
        self.slider.observe(self._update, names="value")
        self.widget: ipywidgets.VBox = ipywidgets.VBox([self.slider, self.metrics, self.image])
        self._update()

    @property
    def current(self) -> Study:
        """The study the slider shows."""
        return self.studies[self.slider.value]

    def _update(self, *_: object) -> None:
        study = self.current
        self.metrics.value = f"<p>{_metrics_text(study)}</p>"
        with book_style():  # the book's type sizes, readable at page width
            figure = _new_figure((9, 4.2))
            _draw(figure, study, image_max=self._image_max)
            self.image.value = _png_bytes(figure)


def show_count_levels(studies: dict[float, Study]) -> Figure:
    """Static version of the explorer: one row per count level, one shared window.

    Parameters
    ----------
    studies : dict of float to Study
        One study per count level.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    ordered = _check_studies(studies)
    image_max = _image_max(ordered)
    figure = plt.figure(figsize=(9, 3.2 * len(ordered)), layout="constrained")
    subfigures = np.atleast_1d(figure.subfigures(len(ordered), 1))
    for row, subfigure in zip(ordered.values(), subfigures, strict=True):
        _draw(subfigure, row, image_max=image_max)
    return figure


# --------------------------------------------------------------------------------------
# Filters: count level x Gaussian FWHM
# --------------------------------------------------------------------------------------

#: FWHM values (mm) the static filter grid shows by default.
GRID_FWHMS_MM = (0.0, 5.0, 10.0, 15.0)


def _count_level_slider(levels: Sequence[float]) -> ipywidgets.SelectionSlider:
    """A count-level slider over ``levels`` (percent), starting nearest 100 %."""
    import ipywidgets

    return ipywidgets.SelectionSlider(
        options=[(f"{level:g} %", level) for level in levels],
        value=min(levels, key=lambda level: abs(level - 100.0)),
        description="count level",
        continuous_update=False,
    )


def _check_max_fwhm(max_fwhm_mm: Any) -> None:
    real_number(max_fwhm_mm, "max_fwhm_mm", unit="mm", minimum=0.0, strict_minimum=True)


def _fwhm_slider(max_fwhm_mm: float, *, value_mm: float) -> ipywidgets.FloatSlider:
    """A Gaussian FWHM slider from 0 to ``max_fwhm_mm`` in 0.5 mm steps."""
    import ipywidgets

    _check_max_fwhm(max_fwhm_mm)
    return ipywidgets.FloatSlider(
        value=value_mm,
        min=0.0,
        max=float(max_fwhm_mm),
        step=0.5,
        description="FWHM (mm)",
        continuous_update=False,
    )


def _filtered_view(study: Study, fwhm_mm: float) -> dict[str, object]:
    """Filter the first realization and collect what the filter explorer shows."""
    image = gaussian_filter_mm(study.recons[0], fwhm_mm, voxel_size_mm=study.voxel_size_mm)
    normal = normal_myocardium(study.myocardium_mask, study.defect_mask)
    curves = {}
    for label, volume in (("ideal", study.ideal), (f"{fwhm_mm:g} mm Gaussian", image)):
        distance_mm, curves[label] = _septal_profile(volume, study)
    return {
        "short_axis": _mid_short_axis(image, study),
        "distance_mm": distance_mm,
        "profiles": curves,
        "cov": METRICS["cov"].compute(image, study, normal),
        # Noise alone: compare with the ideal image blurred by the same filter.
        "noise": noise_coefficient_of_variation(
            image,
            gaussian_filter_mm(study.ideal, fwhm_mm, voxel_size_mm=study.voxel_size_mm),
            normal,
        ),
        "nrmse": METRICS["nrmse"].compute(image, study, normal),
    }


def _draw_filtered(figure: Figure, study: Study, fwhm_mm: float, *, image_max: float) -> str:
    view = _filtered_view(study, fwhm_mm)
    axes = figure.subplots(1, 2, width_ratios=(1, 1.3))
    picture = _show_heart(axes[0], view["short_axis"], study, image_max)
    axes[0].set_title(f"{study.count_level:g} % counts, {fwhm_mm:g} mm FWHM")
    axes[0].set_xlabel("septal to lateral (mm)")
    axes[0].set_ylabel("anterior to inferior (mm)")
    figure.colorbar(picture, ax=axes[0], label="relative activity", shrink=0.8)
    for label, values in view["profiles"].items():
        axes[1].plot(view["distance_mm"], values, label=label)
    axes[1].set_ylim(0, image_max)
    axes[1].set_xlabel("septum (-) to lateral wall (+) through the LV centre (mm)")
    axes[1].set_ylabel("relative activity")
    axes[1].legend()
    axes[1].set_title("profile across the LV")
    return (
        f"{study.count_level:g} % counts, Gaussian {fwhm_mm:g} mm: CoV in the normal "
        f"myocardium {view['cov']:.3f} (noise alone {view['noise']:.3f}), NRMSE to the "
        f"ideal image {view['nrmse']:.3f}"
    )


def _check_studies(studies: Any) -> dict[float, Study]:
    """``studies`` sorted by count level, after checking it maps count levels to Studies."""
    if not isinstance(studies, Mapping) or not studies:
        raise ValueError(
            "studies must be a non-empty dict of count level (percent) to Study, e.g. from "
            f"count_level_studies, got {studies!r:.80}"
        )
    for level, study in studies.items():
        real_number(
            level,
            f"studies key {level!r} (a count level)",
            unit="percent",
            minimum=0.0,
            strict_minimum=True,
        )
        if not isinstance(study, Study):
            raise ValueError(
                f"studies[{level!r}] must be a Study (from simulate_study), got "
                f"{type(study).__name__}"
            )
    return {float(level): study for level, study in sorted(studies.items())}


def _image_max(studies: dict[float, Study]) -> float:
    reference = studies[min(studies, key=lambda level: abs(level - 100.0))]
    return float(np.percentile(reference.ideal[reference.myocardium_mask], 99) * 1.2)


class FilterExplorer(_LiveExplorer):
    """Count-level and Gaussian-FWHM sliders: short-axis slice, wall profile, CoV and NRMSE.

    Each change filters one 64^3 image and redraws (well under a second on one core).
    The figure is a PNG in an ``ipywidgets.Image``; the noise is measured against
    the ideal image filtered with the same FWHM, so the filter's blur is not
    counted as noise.

    Parameters
    ----------
    studies : dict of float to Study
        One study per count level, e.g. from :func:`count_level_studies`.
    max_fwhm_mm : float, optional
        Largest FWHM on the slider (step 0.5 mm).

    Examples
    --------
    >>> explorer = FilterExplorer(count_level_studies(phantom))  # doctest: +SKIP
    >>> explorer.fwhm.value = 10.0  # what an instructor's drag does  # doctest: +SKIP
    """

    def __init__(self, studies: dict[float, Study], *, max_fwhm_mm: float = 20.0) -> None:
        import ipywidgets

        _check_max_fwhm(max_fwhm_mm)
        self.studies = _check_studies(studies)
        levels = list(self.studies)
        self._image_max = _image_max(self.studies)
        self.count_level = _count_level_slider(levels)
        self.fwhm = _fwhm_slider(max_fwhm_mm, value_mm=0.0)
        self.metrics = ipywidgets.HTML()
        self.image = ipywidgets.Image(format="png")
        self.count_level.observe(self._update, names="value")
        self.fwhm.observe(self._update, names="value")
        self.widget: ipywidgets.VBox = ipywidgets.VBox(
            [ipywidgets.HBox([self.count_level, self.fwhm]), self.metrics, self.image]
        )
        self._update()

    def current_metrics(self) -> dict[str, float]:
        """CoV and NRMSE of what the sliders show now."""
        view = _filtered_view(self.studies[self.count_level.value], self.fwhm.value)
        return {key: float(view[key]) for key in ("cov", "noise", "nrmse")}

    def _update(self, *_: object) -> None:
        with book_style():  # the book's type sizes, readable at page width
            figure = _new_figure((9, 4.0))
            text = _draw_filtered(
                figure,
                self.studies[self.count_level.value],
                self.fwhm.value,
                image_max=self._image_max,
            )
            self.image.value = _png_bytes(figure)
        self.metrics.value = f"<p>{text}</p>"


def show_filter_grid(
    studies: dict[float, Study], *, fwhms_mm: Sequence[float] = GRID_FWHMS_MM
) -> Figure:
    """Static counterpart of :class:`FilterExplorer`: count levels x FWHM short-axis grid.

    Parameters
    ----------
    studies : dict of float to Study
        One study per count level (rows).
    fwhms_mm : sequence of float, optional
        Gaussian FWHMs in mm (columns).

    Returns
    -------
    matplotlib.figure.Figure
        Each panel is titled with its CoV in the normal myocardium.
    """
    import matplotlib.pyplot as plt

    fwhms_mm = number_sequence(fwhms_mm, "fwhms_mm", unit="mm", minimum=0.0)
    ordered = _check_studies(studies)
    image_max = _image_max(ordered)
    figure, axes = plt.subplots(
        len(ordered),
        len(fwhms_mm),
        figsize=(2.2 * len(fwhms_mm) + 1, 2.2 * len(ordered)),
        squeeze=False,
        layout="constrained",
    )
    picture = None
    for row, study in enumerate(ordered.values()):
        for column, fwhm in enumerate(fwhms_mm):
            view = _filtered_view(study, float(fwhm))
            axis = axes[row, column]
            picture = _show_heart(axis, view["short_axis"], study, image_max)
            axis.set(xticks=[], yticks=[], title=f"{fwhm:g} mm: CoV {view['cov']:.2f}")
            if column == 0:
                axis.set_ylabel(f"{study.count_level:g} % counts")
    if picture is not None:
        figure.colorbar(picture, ax=axes, shrink=0.6, label="relative activity")
    return figure


# --------------------------------------------------------------------------------------
# The instructor's explorer: count level x method x FWHM
# --------------------------------------------------------------------------------------

#: Methods of :class:`MethodExplorer`: display name -> benchmark method (``None``: Gaussian).
EXPLORER_METHODS = {
    "noisy OSEM": "noisy",
    "optimal Gaussian": "gaussian_optimal",
    "Gaussian": None,
    "Butterworth": "butterworth",
    "WIN5-RB": "win5rb_n2n_paper",
}

#: The explorer choice that the strength slider acts on.
_NETWORK_CHOICE = "WIN5-RB"


def _transaxial_crop(volume: np.ndarray, study: Study) -> np.ndarray:
    """The transaxial slice through the LV centre, ``_HEART_VOXELS`` around it."""
    from .frame import mm_to_index

    iz, iy, ix = np.round(
        mm_to_index(np.asarray(study.lv.center_mm), volume.shape, study.voxel_size_mm)
    ).astype(int)
    half = _HEART_VOXELS // 2
    padded = np.pad(volume[iz], half)
    return padded[iy : iy + 2 * half + 1, ix : ix + 2 * half + 1]


def _heart_slices(
    axes: Sequence[Axes],
    image: np.ndarray,
    study: Study,
    titles: tuple[str, str],
    *,
    image_max: float,
    **title_style: Any,
) -> Any:
    """Draw the transaxial crop and the mid short axis of ``image`` on two axes.

    Both share the window ``0..image_max``; ``title_style`` goes to ``set_title``.
    Returns the last image drawn (for a colour bar).
    """
    shown = None
    pictures = (_transaxial_crop(image, study), _mid_short_axis(image, study))
    for axis, picture, title in zip(axes, pictures, titles, strict=True):
        shown = _show_heart(axis, picture, study, image_max)
        axis.set_title(title, **title_style)
        axis.set(xticks=[], yticks=[])
    return shown


class MethodExplorer(_LiveExplorer):
    """Count level, method, FWHM and strength controls: slices, profile, metrics.

    What the instructor's explorer shows for one held-out patient: the noisy OSEM
    image, the optimal (oracle) Gaussian, the Gaussian at the FWHM slider's value,
    the clinical Butterworth filter and the shipped WIN5-RB, at each count level.
    The other methods' images are computed once per count level when it is built
    (the network only on the heart slab); the Gaussian is applied when the slider
    moves, so every update filters at most one 64^3 volume (well under a second
    on one core). The strength slider turns the network down
    (:func:`spect_tutorial.inference.blend` of the OSEM image and the network's
    output: 0 = OSEM, 1 = the network), the network's own knob, as the FWHM is
    the Gaussian's.

    Parameters
    ----------
    studies : dict of float to Study
        One study per count level, e.g. from :func:`count_level_studies`.
    model : keras.Model, optional
        The network; default the shipped model. When no weights are available
        (and ``model`` is None) the WIN5-RB choice is left out.
    max_fwhm_mm : float, optional
        Largest FWHM on the slider (step 0.5 mm).
    images : dict, optional
        Precomputed method images from :func:`explorer_images` (shared with
        :func:`static_explorer`, so the instructor's page computes them once).

    Examples
    --------
    >>> explorer = MethodExplorer(count_level_studies(phantom))  # doctest: +SKIP
    >>> explorer.method.value = "Gaussian"; explorer.fwhm.value = 8.0  # doctest: +SKIP
    >>> explorer.current_metrics()  # doctest: +SKIP
    """

    def __init__(
        self,
        studies: dict[float, Study],
        *,
        model: Any = None,
        max_fwhm_mm: float = 20.0,
        images: dict[tuple[float, str], tuple[np.ndarray, str]] | None = None,
    ) -> None:
        import ipywidgets

        _check_max_fwhm(max_fwhm_mm)
        self.studies = _check_studies(studies)
        self._image_max = _image_max(self.studies)
        if images is None:
            images = explorer_images(self.studies, model=model)
        self._precomputed: dict[tuple[float, str], np.ndarray] = {
            key: image for key, (image, _) in images.items()
        }
        first = next(iter(self.studies))
        choices = [
            name
            for name in EXPLORER_METHODS
            if name == "Gaussian" or (first, name) in self._precomputed
        ]
        levels = list(self.studies)
        self.count_level = _count_level_slider(levels)
        self.method = ipywidgets.ToggleButtons(options=choices, value="Gaussian")
        self.fwhm = _fwhm_slider(max_fwhm_mm, value_mm=8.0)
        self.strength = ipywidgets.FloatSlider(
            value=1.0,
            min=0.0,
            max=1.0,
            step=0.05,
            description="strength",
            continuous_update=False,
        )
        self.metrics = ipywidgets.HTML()
        self.image = ipywidgets.Image(format="png")
        for control in (self.count_level, self.method, self.fwhm, self.strength):
            control.observe(self._update, names="value")
        self.widget: ipywidgets.VBox = ipywidgets.VBox(
            [
                ipywidgets.HBox([self.count_level, self.fwhm, self.strength]),
                self.method,
                self.metrics,
                self.image,
            ]
        )
        self._update()

    def current_image(self) -> np.ndarray:
        """The ``(z, y, x)`` image the controls select (relative activity units)."""
        level, method = self.count_level.value, self.method.value
        if method == "Gaussian":
            study = self.studies[level]
            return gaussian_filter_mm(
                study.recons[0], self.fwhm.value, voxel_size_mm=study.voxel_size_mm
            )
        image = self._precomputed[level, method]
        if method == _NETWORK_CHOICE and self.strength.value != 1.0:
            from .inference import blend

            return blend(self.studies[level].recons[0], image, self.strength.value)
        return image

    def current_metrics(self) -> dict[str, float]:
        """CoV in the normal myocardium, noise CoV and NRMSE of the image shown."""
        study = self.studies[self.count_level.value]
        values = image_metrics(self.current_image(), study, ("cov", "noise_cov", "nrmse"))
        return {"cov": values["cov"], "noise": values["noise_cov"], "nrmse": values["nrmse"]}

    def _label(self) -> str:
        if self.method.value == "Gaussian":
            return f"Gaussian {self.fwhm.value:g} mm"
        if self.method.value == _NETWORK_CHOICE and self.strength.value != 1.0:
            return f"{_NETWORK_CHOICE} at strength {self.strength.value:.2f}"
        return str(self.method.value)

    def _update(self, *_: object) -> None:
        study = self.studies[self.count_level.value]
        image = self.current_image()
        with book_style():  # the book's type sizes, readable at page width
            figure = _new_figure((10, 4.2))
            _draw_method(figure, study, image, self._label(), image_max=self._image_max)
            self.image.value = _png_bytes(figure)
        values = self.current_metrics()
        self.fwhm.disabled = self.method.value != "Gaussian"
        self.strength.disabled = self.method.value != _NETWORK_CHOICE
        self.metrics.value = (
            f"<p>{study.count_level:g} % counts, {self._label()}: CoV in the normal "
            f"myocardium {values['cov']:.3f}, noise CoV {values['noise']:.3f}, NRMSE to the "
            f"ideal image {values['nrmse']:.3f}</p>"
        )


def _draw_method(
    figure: Figure, study: Study, image: np.ndarray, label: str, *, image_max: float
) -> None:
    """Transaxial and short-axis slices of ``image`` and a septal-lateral profile."""
    axes = figure.subplots(1, 3, width_ratios=(1, 1, 1.4))
    titles = (f"{label}\ntransaxial (anterior at top)", f"{label}\nmid short axis")
    shown = _heart_slices(axes[:2], image, study, titles, image_max=image_max)
    figure.colorbar(shown, ax=axes[:2], label="relative activity", shrink=0.8)
    for volume, name, style in ((study.ideal, "ideal", "k-"), (image, label, "C1-")):
        axes[2].plot(*_septal_profile(volume, study), style, label=name)
    axes[2].set_ylim(0, image_max)
    axes[2].set_xlabel("septum (-) to lateral wall (+) (mm)")
    axes[2].set_ylabel("relative activity")
    axes[2].legend()
    axes[2].set_title("profile through the LV centre")


# --------------------------------------------------------------------------------------
# Sliders that work in the static book
# --------------------------------------------------------------------------------------

#: FWHM values (mm) of the static explorer's slider.
STATIC_FWHMS_MM = (0.0, 4.0, 8.0, 12.0, 16.0)

#: Methods of the static explorer's left column: display name -> benchmark method.
STATIC_METHODS = {
    "noisy OSEM": "noisy",
    "optimal Gaussian": "gaussian_optimal",
    "Butterworth": "butterworth",
    "WIN5-RB": "win5rb_n2n_paper",
}

#: Type sizes (points) of the static explorer's pictures, drawn at 80 dpi: 13 pt is
#: 14.4 px, readable from the back of a room at the picture's own size.
_PROJECTOR_PT = 13


def explorer_images(
    studies: dict[float, Study], *, model: Any = None
) -> dict[tuple[float, str], tuple[np.ndarray, str]]:
    """The method images of :func:`static_explorer`, computed once per count level.

    Parameters
    ----------
    studies : dict of float to Study
        One study per count level, e.g. from :func:`count_level_studies`.
    model : keras.Model, optional
        The network; default the shipped WIN5-RB. Without weights (and without
        ``model``) the WIN5-RB entries are left out.

    Returns
    -------
    dict of (float, str) to (numpy.ndarray, str)
        ``(count level, name)`` -> ``(image in relative activity, label)`` for the
        names of :data:`STATIC_METHODS`; the optimal Gaussian's label gives its FWHM.
    """
    from .methods import heart_slab, method_images

    ordered = _check_studies(studies)
    network = model
    if network is None:
        from .weights import DEFAULT_MODEL, resolve_weights_dir

        if (resolve_weights_dir() / f"{DEFAULT_MODEL}.weights.h5").exists():
            from .weights import load_pretrained

            network = load_pretrained(DEFAULT_MODEL)
    images: dict[tuple[float, str], tuple[np.ndarray, str]] = {}
    for level, study in ordered.items():
        computed, details = method_images(study, ["noisy", "gaussian_optimal", "butterworth"])
        fwhm = details["gaussian_optimal"]["fwhm_mm"]
        images[level, "noisy OSEM"] = (computed["noisy"], "noisy OSEM")
        images[level, "optimal Gaussian"] = (
            computed["gaussian_optimal"],
            f"optimal Gaussian ({fwhm:.1f} mm)",
        )
        images[level, "Butterworth"] = (computed["butterworth"], "Butterworth (clinical)")
        if network is not None:
            from .inference import denoise

            denoised = denoise(
                study.recons[0],
                network,
                voxel_size_mm=study.voxel_size_mm,
                slab=heart_slab(study.evaluation_mask),
            )
            images[level, _NETWORK_CHOICE] = (denoised, f"{_NETWORK_CHOICE} (Noise2Noise)")
    return images


def _small_png(figure: Figure) -> bytes:
    """A PNG of ``figure`` with a 96-colour palette (a third of the RGBA size)."""
    import io

    from PIL import Image

    raw = io.BytesIO()
    figure.savefig(raw, format="png", dpi=80)
    raw.seek(0)
    quantized = Image.open(raw).convert("RGB").quantize(colors=96)
    out = io.BytesIO()
    quantized.save(out, format="png", optimize=True)
    return out.getvalue()


def _column_picture(
    study: Study, image: np.ndarray, label: str, *, image_max: float
) -> tuple[bytes, dict[str, float]]:
    """One column of the static explorer: transaxial, short axis, profile vs the ideal."""
    figure = _new_figure((4.2, 12.6))
    axes = figure.subplots(3, 1, height_ratios=(1, 1, 0.8))
    titles = ("transaxial", "mid short axis")
    shown = _heart_slices(
        axes[:2], image, study, titles, image_max=image_max, fontsize=_PROJECTOR_PT
    )
    # A horizontal colour bar under the slices keeps them >= 300 px wide.
    bar = figure.colorbar(shown, ax=axes[1], location="bottom", shrink=0.9, pad=0.02)
    bar.ax.tick_params(labelsize=_PROJECTOR_PT - 1)
    bar.set_label("relative activity", fontsize=_PROJECTOR_PT - 1)
    for volume, name, style in ((study.ideal, "ideal", "k-"), (image, "this image", "C1-")):
        axes[2].plot(*_septal_profile(volume, study), style, label=name, linewidth=2)
    axes[2].set_ylim(0, image_max)
    axes[2].set_xlabel("septum (-) to lateral (+), mm", fontsize=_PROJECTOR_PT - 1)
    axes[2].tick_params(labelsize=_PROJECTOR_PT - 1)
    axes[2].legend(fontsize=_PROJECTOR_PT - 2, loc="upper center")
    axes[2].set_title("profile through the LV", fontsize=_PROJECTOR_PT)
    # The label is part of the picture: two methods that give the same image (e.g. a
    # 0 mm Gaussian and the noisy image) still show which one is selected.
    figure.suptitle(f"{label}, {study.count_level:g} %", fontsize=_PROJECTOR_PT + 1)
    return _small_png(figure), image_metrics(image, study, ("nrmse", "cov"))


def _shown(name: str, metrics: Mapping[str, float]) -> str:
    """A metric as "label <b>value</b>", label and decimals from the registry."""
    metric = METRICS[name]
    return f"{metric.label} <b>{metrics[name]:.{metric.digits}f}</b>"


def _metrics_html(level: float, label: str, metrics: dict[str, float]) -> str:
    """The column's heading and metrics in large type (18-22 px)."""
    return (
        f"<div style='font-size:18px;line-height:1.3'><b>{label}</b><br>{level:g} % counts"
        f"<div style='font-size:22px'>{_shown('nrmse', metrics)} &middot; "
        f"{_shown('cov', metrics)}</div></div>"
    )


def _switch(children: Sequence[Any], control: Any) -> tuple[Any, Any]:
    """Show one of ``children``, chosen by ``control.index``, with or without a kernel.

    With ipywidgets 8 this is an ``ipywidgets.Stack`` whose ``selected_index`` is
    ``jslink``-ed to the control: the link runs in the browser, so the saved widget
    state switches pictures in the static book. ipywidgets 7 (Google Colab's image)
    has no ``Stack``: there a ``Box`` swaps its child from a kernel callback, which
    is what a live notebook has.

    Returns
    -------
    (widget, link or None)
    """
    import ipywidgets

    stack_class = getattr(ipywidgets, "Stack", None)
    if stack_class is not None:
        stack = stack_class(list(children), selected_index=control.index)
        return stack, ipywidgets.jslink((control, "index"), (stack, "selected_index"))
    box = ipywidgets.Box([children[control.index]])
    box.choices = list(children)

    def show(change: dict[str, Any]) -> None:
        box.children = [box.choices[change["new"]]]

    control.observe(show, names="index")
    return box, None


def static_explorer(
    studies: dict[float, Study],
    *,
    fwhms_mm: Sequence[float] = STATIC_FWHMS_MM,
    images: dict[tuple[float, str], tuple[np.ndarray, str]] | None = None,
    model: Any = None,
) -> ipywidgets.VBox:
    """The instructor's explorer with no kernel: a method beside the Gaussian at a FWHM.

    Two columns at one count level: on the left the method the buttons choose
    (noisy OSEM, the optimal Gaussian, the clinical Butterworth, the shipped
    WIN5-RB), on the right the Gaussian at the FWHM slider's value. Each column
    shows a transaxial and a mid short-axis slice in one shared window and colour
    bar, the septal-lateral profile against the ideal image, and its NRMSE and CoV
    in large type. Every picture is rendered now (count levels x (methods + FWHMs)
    PNGs of 336 px width, 14 px text) and chosen in the browser through
    :func:`_switch`, so the built page works offline; every control changes a
    picture. With ipywidgets 7 (Colab) the same controls work through the kernel.

    Parameters
    ----------
    studies : dict of float to Study
        One study per count level, e.g. from :func:`count_level_studies`.
    fwhms_mm : sequence of float, optional
        Gaussian FWHMs (mm) on the slider, each >= 0.
    images : dict, optional
        The left column's images from :func:`explorer_images` (computed here when
        None).
    model : keras.Model, optional
        Passed to :func:`explorer_images` when ``images`` is None.

    Returns
    -------
    ipywidgets.VBox
        The controls above the two columns. ``box.count_level``, ``box.method``,
        ``box.fwhm``, ``box.columns`` (left and right switches), ``box.links``
        (the jslinks, empty with ipywidgets 7) and ``box.pictures`` (PNG bytes
        of every picture) are attached for tests.
    """
    import ipywidgets

    ordered = _check_studies(studies)
    values = [float(value) for value in fwhms_mm]
    if not values or any(not np.isfinite(value) or value < 0 for value in values):
        raise ValueError(f"fwhms_mm must be FWHMs >= 0 mm, got {fwhms_mm!r}")
    if images is None:
        images = explorer_images(ordered, model=model)
    levels = list(ordered)
    names = [name for name in STATIC_METHODS if (levels[0], name) in images]
    image_max = _image_max(ordered)
    start_level = levels.index(min(levels, key=lambda level: abs(level - 100.0)))
    wide = ipywidgets.Layout(width="95%", max_width="640px")
    style = {"description_width": "110px"}
    count_level = ipywidgets.SelectionSlider(
        options=[f"{level:g} %" for level in levels],
        index=start_level,
        description="count level",
        layout=wide,
        style=style,
    )
    fwhm = ipywidgets.SelectionSlider(
        options=[f"{value:g} mm" for value in values],
        index=values.index(min(values, key=lambda value: abs(value - 8.0))),
        description="Gaussian FWHM",
        layout=wide,
        style=style,
    )
    method = ipywidgets.ToggleButtons(
        options=names,
        index=names.index("WIN5-RB") if "WIN5-RB" in names else 0,
        description="left column",
        style={"description_width": "110px", "button_width": "140px"},
        layout=ipywidgets.Layout(flex_flow="row wrap"),  # buttons wrap on a phone
    )
    pictures: list[bytes] = []
    fitted = ipywidgets.Layout(width="100%", max_width="336px")

    def cell(study: Study, image: np.ndarray, label: str) -> Any:
        png, metrics = _column_picture(study, image, label, image_max=image_max)
        pictures.append(png)
        return ipywidgets.VBox(
            [
                ipywidgets.HTML(_metrics_html(study.count_level, label, metrics)),
                # Drawn 336 px wide; shrinks a little so that two columns share a page.
                ipywidgets.Image(value=png, format="png", layout=fitted),
            ]
        )

    links, left_levels, right_levels = [], [], []
    for level, study in ordered.items():
        left, link = _switch([cell(study, *images[level, name]) for name in names], method)
        links.append(link)
        left_levels.append(left)
        right, link = _switch(
            [
                cell(
                    study,
                    gaussian_filter_mm(study.recons[0], value, voxel_size_mm=study.voxel_size_mm),
                    f"Gaussian {value:g} mm",
                )
                for value in values
            ],
            fwhm,
        )
        links.append(link)
        right_levels.append(right)
    columns = []
    for per_level in (left_levels, right_levels):
        column, link = _switch(per_level, count_level)
        # Two columns side by side from about 650 px, one above the other on a phone.
        column.layout = ipywidgets.Layout(flex="1 1 300px", max_width="336px")
        links.append(link)
        columns.append(column)
    row = ipywidgets.HBox(columns, layout=ipywidgets.Layout(flex_flow="row wrap", grid_gap="6px"))
    box = ipywidgets.VBox([count_level, fwhm, method, row])
    box.count_level, box.method, box.fwhm, box.columns = count_level, method, fwhm, columns
    box.links = [link for link in links if link is not None]
    box.pictures = pictures
    return box
