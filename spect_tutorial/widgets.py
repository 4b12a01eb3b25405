"""Interactive explorers for the classroom, and their static counterparts.

Every explorer precomputes what its sliders can show (one simulated study per
count level, cached), so moving a slider only redraws a figure. Sliders use
``continuous_update=False`` and the widgets never wait for input, so a
notebook that displays them runs unattended under papermill. Each explorer has
a static figure with the same content for readers of the built book, who have
no kernel behind the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .metrics import coefficient_of_variation, nrmse
from .noise import STANDARD_COUNT_LEVELS, nearest_view_index
from .phantom import Phantom
from .plotting import ACTIVITY_CMAP
from .reorient import reorient
from .study import Study, simulate_study

if TYPE_CHECKING:  # pragma: no cover
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = ["CountLevelExplorer", "count_level_studies", "show_count_levels"]

# Reoriented pictures cover this many voxels around the LV centre.
_HEART_VOXELS = 21


def count_level_studies(
    phantom: Phantom,
    *,
    count_levels: Sequence[float] = STANDARD_COUNT_LEVELS,
    seed: int = 0,
    n_realizations: int = 1,
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

    Returns
    -------
    dict of float to Study
    """
    return {
        float(level): simulate_study(
            phantom, count_level=level, n_realizations=n_realizations, seed=seed
        )
        for level in count_levels
    }


def _panels(study: Study) -> dict[str, np.ndarray]:
    """The pictures an explorer shows for one study."""
    view = nearest_view_index(study.geometry.angles_deg)
    # A 134 mm field of view around the LV (21 voxels of 6.4 mm).
    short_axis = reorient(
        study.recons[0],
        study.lv,
        voxel_size_mm=study.voxel_size_mm,
        view="SA",
        shape=(_HEART_VOXELS, _HEART_VOXELS, _HEART_VOXELS),
    )
    middle = short_axis.shape[0] // 2
    return {"projection": study.projections[0, view], "short_axis": short_axis[middle]}


def _metrics_text(study: Study) -> str:
    cov = coefficient_of_variation(study.recons[0], study.myocardium_mask)
    error = nrmse(study.recons[0], study.ideal, study.evaluation_mask)
    return (
        f"{study.count_level:g} % counts: {study.total_counts / 1e6:.2f} million counts in "
        f"{study.geometry.n_views} views; myocardium CoV {cov:.3f} "
        f"(ideal image {coefficient_of_variation(study.ideal, study.myocardium_mask):.3f}); "
        f"NRMSE to the ideal image {error:.3f}"
    )


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
    axes[0].set_title(f"LAO 45 projection, {study.count_level:g} % counts", fontsize=9)
    # Each projection has its own grey scale: read the counts off its colour bar.
    axes[0].set_xlabel("detector bin (mm)", fontsize=8)
    axes[0].set_ylabel("z (mm): feet to head", fontsize=8)
    figure.colorbar(picture, ax=axes[0], label="counts per pixel", shrink=0.8)
    n = panels["short_axis"].shape[0]
    half = n * study.voxel_size_mm / 2
    picture = axes[1].imshow(
        panels["short_axis"],
        cmap=ACTIVITY_CMAP,
        vmin=0,
        vmax=image_max,
        extent=(-half, half, half, -half),
    )
    axes[1].set_title("OSEM image, mid short-axis slice", fontsize=9)
    axes[1].set_xlabel("septal to lateral (mm)", fontsize=8)
    axes[1].set_ylabel("anterior to inferior (mm)", fontsize=8)
    figure.colorbar(picture, ax=axes[1], label="relative activity", shrink=0.8)


class CountLevelExplorer:
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

        if not studies:
            raise ValueError("studies must hold at least one count level")
        self.studies = {float(level): study for level, study in sorted(studies.items())}
        levels = list(self.studies)
        reference = self.studies[min(levels, key=lambda level: abs(level - 100.0))]
        self._image_max = float(
            np.percentile(reference.ideal[reference.myocardium_mask], 99) * 1.2
        )
        self.slider = ipywidgets.SelectionSlider(
            options=[(f"{level:g} %", level) for level in levels],
            value=min(levels, key=lambda level: abs(level - 100.0)),
            description="count level",
            continuous_update=False,
        )
        self.metrics = ipywidgets.HTML()
        self.output = ipywidgets.Output()
        self.slider.observe(self._update, names="value")
        self.widget: ipywidgets.VBox = ipywidgets.VBox([self.slider, self.metrics, self.output])
        self._update()

    @property
    def current(self) -> Study:
        """The study the slider shows."""
        return self.studies[self.slider.value]

    def _update(self, *_: object) -> None:
        import matplotlib.pyplot as plt

        study = self.current
        self.metrics.value = f"<p>{_metrics_text(study)}</p>"
        self.output.clear_output(wait=True)
        with self.output:
            figure = plt.figure(figsize=(9, 3.6), layout="constrained")
            _draw(figure, study, image_max=self._image_max)
            plt.show()

    def _ipython_display_(self) -> None:  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)


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

    ordered = dict(sorted(studies.items()))
    reference = ordered[min(ordered, key=lambda level: abs(level - 100.0))]
    image_max = float(np.percentile(reference.ideal[reference.myocardium_mask], 99) * 1.2)
    figure = plt.figure(figsize=(9, 3.2 * len(ordered)), layout="constrained")
    subfigures = np.atleast_1d(figure.subfigures(len(ordered), 1))
    for row, subfigure in zip(ordered.values(), subfigures, strict=True):
        _draw(subfigure, row, image_max=image_max)
    return figure
