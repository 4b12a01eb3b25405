"""The instructor's explorer and the static (kernel-free) explorer."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pytest

from spect_tutorial.model import win5rb
from spect_tutorial.phantom import Defect, make_phantom
from spect_tutorial.widgets import (
    STATIC_FWHMS_MM,
    STATIC_METHODS,
    MethodExplorer,
    count_level_studies,
    explorer_images,
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
    assert list(explorer.method.options) == [
        "noisy OSEM",
        "optimal Gaussian",
        "Gaussian",
        "Butterworth",
        "WIN5-RB",
    ]
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
    assert explorer.strength.disabled  # the network's knob, off for OSEM
    explorer.method.value = "WIN5-RB"  # the untrained network is the identity
    assert not explorer.strength.disabled and explorer.fwhm.disabled
    assert explorer.current_metrics()["nrmse"] == pytest.approx(noisy["nrmse"], rel=1e-3)
    network = explorer.current_image()
    explorer.strength.value = 0.0  # strength 0 is the OSEM image itself
    np.testing.assert_array_equal(explorer.current_image(), studies[25.0].recons[0])
    explorer.strength.value = 0.5  # half way between OSEM and the network, voxel by voxel
    np.testing.assert_allclose(
        explorer.current_image(), (network + studies[25.0].recons[0]) / 2, rtol=1e-5, atol=1e-6
    )
    assert "WIN5-RB at strength 0.50" in explorer.metrics.value
    explorer.method.value = "Butterworth"
    assert explorer.current_metrics()["noise"] < full["noise"] * 2.0
    with pytest.raises(ValueError, match="max_fwhm_mm"):
        MethodExplorer(studies, model=None, max_fwhm_mm=0.0)


def test_method_explorer_without_weights_leaves_the_network_out(studies, monkeypatch, tmp_path):
    monkeypatch.setenv("SPECT_TUTORIAL_WEIGHTS_DIR", str(tmp_path))
    explorer = MethodExplorer(studies)
    assert "WIN5-RB" not in explorer.method.options


def test_static_explorer_links_controls_to_stacks_in_the_browser(studies):
    model = win5rb(filters=4, kernel_size=3, depth=2, seed=0)
    images = explorer_images(studies, model=model)
    assert {name for _, name in images} == set(STATIC_METHODS)
    box = static_explorer(studies, images=images)
    left, right = box.columns
    assert isinstance(left, ipywidgets.Stack) and len(left.children) == 2
    assert all(len(inner.children) == len(STATIC_METHODS) for inner in left.children)
    assert all(len(inner.children) == len(STATIC_FWHMS_MM) for inner in right.children)
    # jslink (runs in the browser): method -> each left inner Stack, FWHM -> each right
    # inner Stack, count level -> both outer Stacks.
    targets = {(link.source[0], link.target[0]) for link in box.links}
    assert all(isinstance(link, ipywidgets.widgets.widget_link.Link) for link in box.links)
    assert (box.count_level, left) in targets and (box.count_level, right) in targets
    assert all((box.method, inner) in targets for inner in left.children)
    assert all((box.fwhm, inner) in targets for inner in right.children)
    assert left.selected_index == list(studies).index(100.0)
    sizes = [len(png) for png in box.pictures]
    assert max(sizes) < 40_000, "each picture is a small PNG"
    assert sum(sizes) < 1_000_000, "the instructor page stays under 2 MB"
    assert len(set(box.pictures)) == len(sizes), "every control position shows its own picture"
    with pytest.raises(ValueError, match="fwhms_mm"):
        static_explorer(studies, fwhms_mm=(-1.0,), images=images)


def test_static_explorer_works_with_ipywidgets_7(studies, monkeypatch):
    # Colab's image ships ipywidgets 7, which has no Stack: the kernel swaps the pictures.
    images = explorer_images(studies, model=win5rb(filters=4, kernel_size=3, depth=2, seed=0))
    monkeypatch.delattr(ipywidgets, "Stack")
    box = static_explorer(studies, images=images, fwhms_mm=(0.0, 10.0))
    left, right = box.columns
    assert box.links == []
    assert box.fwhm.index == 1  # nearest 8 mm
    shown = right.children[0].children[0]
    box.fwhm.index = 0
    assert right.children[0].children[0] is not shown
    box.count_level.index = 0
    assert left.children[0] is left.choices[0]


def test_live_explorer_shows_a_picture_in_the_static_book(studies):
    explorer = MethodExplorer(studies, model=None)
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert "data:image/png;base64," in bundle["text/html"]
    assert "launch" in bundle["text/html"]


def test_count_level_studies_image_with_the_chosen_acquisition():
    phantom = make_phantom(shape=(32, 64, 64), voxel_size_mm=6.4)
    (v1,) = count_level_studies(phantom, count_levels=(100.0,), seed=3).values()
    (v2,) = count_level_studies(phantom, count_levels=(100.0,), seed=3, acquisition="v2").values()
    # the same patient and noise seed; scatter in the v2 projections changes the image
    assert not np.allclose(v1.recons[0], v2.recons[0])
    with pytest.raises(ValueError, match="acquisition"):
        count_level_studies(phantom, count_levels=(100.0,), acquisition="v3")
