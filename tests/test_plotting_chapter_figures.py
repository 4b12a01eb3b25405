"""The chapter figures of plotting.py (noise, noise2noise, osem) draw what they should."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from spect_tutorial.acquisition import SpectGeometry
from spect_tutorial.plotting import (
    plot_attenuation_loss,
    plot_cardiac_orbit,
    plot_collimator_blur,
    plot_noise_scaling,
    show_slice_rows,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_noise_scaling_draws_means_realizations_and_the_square_root_line():
    levels = [12.5, 25.0, 50.0, 100.0]
    noise = 0.1 * np.sqrt(100.0 / np.array(levels))[:, None] * np.ones((1, 3))
    figure = plot_noise_scaling(levels, {"noise CoV": noise, "plain CoV": noise + 0.05},
                                ideal_cov=0.08, anchor=0.1, reference_level=100.0,
                                counts_per_percent=2e5)
    axis = figure.axes[0]
    assert axis.get_xscale() == "log" and axis.get_yscale() == "log"
    labels = [line.get_label() for line in axis.get_lines()]
    assert {"noise CoV", "plain CoV", "∝ 1/√counts through 100 %"} <= set(labels)
    reference = next(line for line in axis.get_lines() if line.get_label().startswith("∝"))
    x, y = reference.get_data()
    assert np.allclose(y * np.sqrt(x), 0.1 * np.sqrt(100.0)), "the line is anchor·√(100/L)"
    dots = [line for line in axis.get_lines() if line.get_marker() == "."]
    assert [len(line.get_xdata()) for line in dots] == [12, 12], "every realization drawn"
    with pytest.raises(ValueError, match="levels"):
        plot_noise_scaling([100.0], {"noise CoV": noise[:1]}, ideal_cov=0.1, anchor=0.1,
                           reference_level=100.0, counts_per_percent=1.0)


def test_cardiac_orbit_marks_every_camera_position():
    geometry = SpectGeometry()
    mu = np.full((16, 16, 16), 0.15, np.float32)
    figure = plot_cardiac_orbit(mu, 6.4, geometry, center_mm=(10.0, -5.0, 0.0),
                                named_views={"anterior": 0, "LAO 45": 16})
    axis = figure.axes[0]
    cameras = next(line for line in axis.get_lines() if line.get_label() == "camera positions")
    x, y = cameras.get_data()
    assert len(x) == geometry.n_views
    assert np.allclose(np.hypot(x, y), geometry.radius_mm)
    assert [text.get_text() for text in axis.texts] == ["anterior", "LAO 45"]
    assert len(axis.get_images()) == 1 and len(figure.axes) == 2, "the map and its colour bar"


def test_attenuation_loss_shows_two_views_and_the_transmission_curves():
    geometry = SpectGeometry()
    view = np.ones((geometry.n_bins, geometry.n_bins))
    kept = {"whole body": np.full(geometry.n_views, 0.3), "myocardium": np.full(64, 0.2)}
    figure = plot_attenuation_loss(view, 0.3 * view, geometry, kept)
    images = [axis for axis in figure.axes if axis.get_images()]
    assert len(images) == 2
    assert images[0].get_images()[0].get_clim() == images[1].get_images()[0].get_clim()
    curves = figure.axes[2].get_lines()
    assert [line.get_label() for line in curves] == ["whole body", "myocardium"]
    assert np.allclose(curves[0].get_xdata(), geometry.angles_deg)


def test_collimator_blur_draws_the_profile_of_the_chosen_row():
    geometry = SpectGeometry()
    sharp = np.zeros((geometry.n_bins, geometry.n_bins))
    sharp[20, 30] = 10.0
    blurred = np.full_like(sharp, 0.5)
    figure = plot_collimator_blur(geometry, sharp, blurred,
                                  heart_distance_mm=np.array([150.0, 250.0]), row=20)
    profile = figure.axes[3].get_lines()
    assert [line.get_label() for line in profile] == ["blur off", "blur on"]
    assert np.array_equal(profile[0].get_ydata(), sharp[20])
    resolution = figure.axes[0].get_lines()[0]
    assert np.allclose(resolution.get_ydata(), geometry.fwhm_mm(resolution.get_xdata()))
    with pytest.raises(ValueError, match="row"):
        plot_collimator_blur(geometry, sharp, blurred, heart_distance_mm=np.ones(2), row=64)


def test_slice_rows_put_differences_on_a_symmetric_scale():
    a, b = np.ones((8, 8)), np.full((8, 8), 2.0)
    rows = {"12.5 %": {"a": a, "b": b, "b − a": b - a}, "100 %": {"a": a, "b": b, "b − a": a}}
    figure = show_slice_rows(rows, window=2.0, differences=["b − a"])
    axes = np.array(figure.axes).reshape(2, 3)
    assert [axis.get_title() for axis in axes[0]] == ["a", "b", "b − a"]
    assert axes[0, 0].get_images()[0].get_clim() == (0, 2.0)
    assert axes[0, 2].get_images()[0].get_clim() == (-1.0, 1.0)
    assert axes[1, 0].get_ylabel() == "100 %"
    with pytest.raises(ValueError, match="same number"):
        show_slice_rows({"x": {"a": a}, "y": {"a": a, "b": b}}, window=1.0)
