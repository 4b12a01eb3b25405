"""Chapter figures of plotting.py (beyond, filters, network): each draws what its chapter says."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from spect_tutorial.filters import optimal_fwhm
from spect_tutorial.plotting import (
    plot_frequency_response,
    plot_kernel_sampling,
    plot_learning_curve,
    plot_learning_curves,
    plot_level_curves,
    plot_noise_wall_tradeoff,
    plot_optimum_by_level,
    show_window_on_slices,
)
from spect_tutorial.results import Estimate


@pytest.fixture(autouse=True)
def _agg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _estimates(means):
    return [Estimate(mean=m, low=m - 0.1, high=m + 0.1, n=3) for m in means]


def test_level_curves_one_panel_per_metric_one_line_per_method():
    levels = [12.5, 25.0, 100.0]
    curves = {
        "nrmse": {"noisy": _estimates([3.0, 2.0, 1.0]), "net": _estimates([1.5, 1.0, 0.5])},
        "wall_mm": {"noisy": _estimates([15.0, 15.5, 16.0])},
        "defect_error": {"noisy": _estimates([0.01, 0.0, -0.01])},
    }
    figure = plot_level_curves(
        curves, levels, titles={"nrmse": "NRMSE"}, log_scale=("nrmse",),
        hlines={"nrmse": 1.2}, bands={"wall_mm": (14.0, 15.0)}, labels={"net": "WIN5-RB"},
    )
    axes = figure.axes
    assert len(axes) == 4 and not axes[3].axison  # 3 metrics on a 2 x 2 grid
    assert axes[0].get_title() == "NRMSE" and axes[1].get_title() == "wall_mm"
    assert axes[0].get_yscale() == "log" and axes[1].get_yscale() == "linear"
    assert axes[0].get_xscale() == "log"
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["noisy", "WIN5-RB"]
    assert len(axes[0].containers) == 2  # one error bar series per method
    np.testing.assert_allclose(axes[0].containers[1].lines[0].get_ydata(), [1.5, 1.0, 0.5])
    assert any(np.allclose(line.get_ydata(), 1.2) for line in axes[0].lines)  # reference line
    assert len(axes[1].patches) == 1  # the ideal wall band
    with pytest.raises(ValueError, match="curves"):
        plot_level_curves({"nrmse": {"noisy": _estimates([1.0])}}, levels)
    with pytest.raises(ValueError, match="curves"):
        plot_level_curves({}, levels)


def test_kernel_sampling_draws_requested_line_and_each_kernel():
    requested = np.arange(1.0, 10.5, 0.5)
    kernels = {"sampled": 0.9 * requested, "package": requested}
    weights = {"sampled": np.full(7, 1 / 7), "package": np.array([0, 0.1, 0.2, 0.4, 0.2, 0.1, 0])}
    figure = plot_kernel_sampling(
        requested, kernels, weights, example_fwhm_mm=5.0, voxel_size_mm=6.4
    )
    left, right = figure.axes
    assert len(left.containers) == 2  # one stem plot per kernel
    np.testing.assert_allclose(right.lines[0].get_ydata(), requested)  # "as requested"
    np.testing.assert_allclose(right.lines[1].get_ydata(), 0.9 * requested)
    assert "sigma = 0.33 voxel" in left.get_title()  # 5 / 2.3548 / 6.4
    with pytest.raises(ValueError, match="weights and kernels_mm"):
        plot_kernel_sampling(requested, kernels, {"sampled": weights["sampled"]},
                             example_fwhm_mm=5.0, voxel_size_mm=6.4)


def test_noise_wall_tradeoff_three_panels_with_labels():
    fwhms = [0.0, 5.0, 10.0]
    figure = plot_noise_wall_tradeoff(
        fwhms, [0.3, 0.2, 0.1], [14.0, 15.0, 17.0], [14.2, 15.1, 16.8],
        ideal_wall_mm=13.5, true_wall_mm=10.0,
    )
    noise, wall, tradeoff = figure.axes
    np.testing.assert_allclose(noise.lines[0].get_ydata(), [0.3, 0.2, 0.1])
    assert len(wall.lines) == 4  # measured, predicted, ideal, true
    assert [text.get_text() for text in tradeoff.texts] == ["0", "5", "10"]
    with pytest.raises(ValueError, match="per FWHM"):
        plot_noise_wall_tradeoff(fwhms, [0.3], [14.0], [14.0], ideal_wall_mm=1, true_wall_mm=1)


def test_optimum_by_level_marks_each_optimum():
    rng = np.random.default_rng(0)
    ideal = np.zeros((8, 8, 8))
    ideal[2:6, 2:6, 2:6] = 1.0
    optima = {
        level: optimal_fwhm(ideal + rng.normal(0, 1 / level, ideal.shape), ideal, region=ideal > 0,
                            voxel_size_mm=6.4)
        for level in (2.0, 8.0)
    }
    walls = {2.0: 16.0, 8.0: 14.0}
    figure = plot_optimum_by_level(optima, walls, ideal_wall_mm=13.0, true_wall_mm=10.0)
    curves, best, wall = figure.axes
    assert len(curves.lines) == 4  # a curve and its optimum per level
    np.testing.assert_allclose(best.lines[0].get_ydata(), [optima[2.0].fwhm_mm,
                                                            optima[8.0].fwhm_mm])
    np.testing.assert_allclose(wall.lines[0].get_ydata(), [16.0, 14.0])
    with pytest.raises(ValueError, match="same count levels"):
        plot_optimum_by_level(optima, {2.0: 16.0}, ideal_wall_mm=13.0, true_wall_mm=10.0)
    fake = SimpleNamespace(fwhms_mm=np.array([0.0, 1.0]), nrmse_curve=np.array([1.0, 0.5]),
                           fwhm_mm=1.0, nrmse=0.5)
    assert plot_optimum_by_level({1.0: fake}, {1.0: 1.0}, ideal_wall_mm=1,
                                 true_wall_mm=1).axes


def test_frequency_response_styles_and_markers():
    frequency = np.linspace(0.0, 0.78, 50)
    gains = {"Butterworth classic": np.ones(50), "Butterworth squared": np.ones(50) / 2,
             "Gaussian 8 mm": np.exp(-frequency)}
    figure = plot_frequency_response(frequency, gains,
                                     markers={"cutoff": 0.41, "Nyquist": 0.78})
    (axis,) = figure.axes
    styles = [line.get_linestyle() for line in axis.lines[:3]]
    assert styles == ["-", "--", ":"]
    texts = {text.get_text(): text for text in axis.texts}
    assert set(texts) == {"cutoff", "Nyquist"}
    assert texts["Nyquist"].get_horizontalalignment() == "right"  # stays inside the axes
    with pytest.raises(ValueError, match="gains"):
        plot_frequency_response(frequency, {"short": np.ones(3)})


def test_window_on_slices_draws_the_window_at_the_point():
    volume = np.random.default_rng(1).random((16, 16, 16))
    figure = show_window_on_slices(volume, 6.4, (6.4, -12.8, 0.0), 31 * 6.4)
    transaxial, coronal, _colorbar = figure.axes
    (square,) = transaxial.patches
    assert square.get_width() == pytest.approx(31 * 6.4)
    assert square.get_height() == pytest.approx(31 * 6.4)
    assert square.get_x() + square.get_width() / 2 == pytest.approx(6.4)
    assert square.get_y() + square.get_height() / 2 == pytest.approx(-12.8)
    (slab,) = coronal.patches
    assert slab.get_height() == pytest.approx(6.4)  # one transaxial slice thick
    with pytest.raises(ValueError, match="side_mm"):
        show_window_on_slices(volume, 6.4, (0.0, 0.0, 0.0), 0.0)


def test_learning_curve_shows_the_loss_above_its_floor_and_the_error_per_level():
    rows = [
        {"steps": 100 * k, "val_loss": 0.2 + 0.1 / k,
         "val_nrmse_ideal_per_level": {"25": 0.2 / k, "100": 0.1 / k}}
        for k in (1, 2, 3)
    ]
    figure = plot_learning_curve({"rows": rows, "plateau": {"floor": 0.2}})
    loss_axis, error_axis = figure.axes
    x, y = loss_axis.lines[0].get_data()
    assert list(x) == [100, 200, 300] and np.allclose(y, [0.1, 0.05, 0.1 / 3])
    assert loss_axis.get_yscale() == "log"
    assert [line.get_label() for line in error_axis.lines] == ["25 % counts", "100 % counts"]
    assert np.allclose(error_axis.lines[1].get_ydata(), [0.1, 0.05, 0.1 / 3])


def test_learning_curves_compare_candidates_step_for_step():
    def curve(scale, floor):
        rows = [{"steps": 100 * k, "val_loss": floor + scale / k,
                 "val_nrmse_ideal_per_level": {"25": scale / k}} for k in (1, 2)]
        return {"rows": rows, "plateau": {"floor": floor}}

    figure = plot_learning_curves({"2D": curve(0.2, 0.1), "2.5D": curve(0.1, 0.3)})
    loss_axis, error_axis = figure.axes
    assert [line.get_label() for line in loss_axis.lines] == ["2D", "2.5D"]
    assert np.allclose(loss_axis.lines[1].get_ydata(), [0.1, 0.05])  # each less its own floor
    assert np.allclose(error_axis.lines[0].get_ydata(), [0.2, 0.1])
    with pytest.raises(ValueError, match="at least one learning curve"):
        plot_learning_curves({})

