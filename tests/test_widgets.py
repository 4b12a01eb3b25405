"""The instructor's explorer and the static (kernel-free) explorer."""

from __future__ import annotations

import ipywidgets
import pytest

from spect_tutorial.model import win5rb
from spect_tutorial.phantom import Defect, make_phantom
from spect_tutorial.widgets import (
    STATIC_FWHMS_MM,
    MethodExplorer,
    count_level_studies,
    static_explorer,
)


@pytest.fixture(scope="module")
def studies():
    phantom = make_phantom(
        shape=(64, 64, 64), voxel_size_mm=6.4, defect=Defect(segments=(4, 10), severity=0.5)
    )
    return count_level_studies(phantom, count_levels=(25.0, 100.0), seed=1)


def test_method_explorer_moves_as_taught(studies):
    explorer = MethodExplorer(studies, model=win5rb(filters=4, kernel_size=3, depth=2, seed=0))
    assert list(explorer.method.options) == ["noisy OSEM", "Gaussian", "Butterworth", "WIN5-RB"]
    assert explorer.count_level.value == 100.0 and explorer.method.value == "Gaussian"
    explorer.fwhm.value = 0.0
    sharp = explorer.current_metrics()
    picture = explorer.image.value
    explorer.fwhm.value = 12.0  # CoV falls as the FWHM rises
    smooth = explorer.current_metrics()
    assert smooth["cov"] < sharp["cov"]
    assert explorer.image.value != picture and "Gaussian 12 mm" in explorer.metrics.value
    explorer.method.value = "noisy OSEM"
    assert explorer.fwhm.disabled
    full = explorer.current_metrics()
    explorer.count_level.value = 25.0  # noise rises as counts fall
    assert explorer.current_metrics()["noise"] > full["noise"]
    noisy = explorer.current_metrics()
    explorer.method.value = "WIN5-RB"  # the untrained network is the identity
    assert explorer.current_metrics()["nrmse"] == pytest.approx(noisy["nrmse"], rel=1e-3)
    explorer.method.value = "Butterworth"
    assert explorer.current_metrics()["noise"] < full["noise"] * 2.0
    with pytest.raises(ValueError, match="max_fwhm_mm"):
        MethodExplorer(studies, model=None, max_fwhm_mm=0.0)


def test_method_explorer_without_weights_leaves_the_network_out(studies, monkeypatch, tmp_path):
    monkeypatch.setenv("SPECT_TUTORIAL_WEIGHTS_DIR", str(tmp_path))
    explorer = MethodExplorer(studies)
    assert "WIN5-RB" not in explorer.method.options


def test_static_explorer_links_sliders_to_stacks_in_the_browser(studies):
    box = static_explorer(studies)
    outer = box.pictures
    assert isinstance(outer, ipywidgets.Stack) and len(outer.children) == 2
    assert all(len(inner.children) == len(STATIC_FWHMS_MM) for inner in outer.children)
    # jslink: one link per inner Stack for the FWHM slider, one for the count level.
    targets = {(link.source[0], link.target[0]) for link in box.links}
    assert all(isinstance(link, ipywidgets.widgets.widget_link.Link) for link in box.links)
    assert (box.count_level, outer) in targets
    assert all((box.fwhm, inner) in targets for inner in outer.children)
    assert outer.selected_index == list(studies).index(100.0)
    sizes = [len(image.value) for inner in outer.children for image in inner.children]
    assert max(sizes) < 40_000, "each picture is a small PNG"
    assert sum(sizes) < 700_000, "the page stays under 1 MB"
    pictures = {image.value for inner in outer.children for image in inner.children}
    assert len(pictures) == len(sizes), "every slider position shows a different picture"
    with pytest.raises(ValueError, match="fwhms_mm"):
        static_explorer(studies, fwhms_mm=(-1.0,))
