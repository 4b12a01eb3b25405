"""Image metrics: scikit-image agreement, hand-computed cases and the binding definitions."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from spect_tutorial import metrics
from spect_tutorial.metrics import (
    coefficient_of_variation,
    defect_ratio,
    evaluation_region,
    normal_myocardium,
    nrmse,
    profile,
    psnr,
    ssim,
)


@pytest.fixture
def pair_3d():
    rng = np.random.default_rng(7)
    reference = rng.gamma(4.0, 25.0, size=(20, 18, 16)).astype(np.float32)
    image = reference + rng.normal(0.0, 15.0, size=reference.shape).astype(np.float32)
    return image, reference


# --- evaluation region (unchanged behaviour) ------------------------------------------


def test_evaluation_region_dilates_by_one_face_neighbour():
    mask = np.zeros((5, 5, 5), dtype=bool)
    mask[2, 2, 2] = True
    assert evaluation_region(mask).sum() == 7
    assert evaluation_region(mask, dilation_voxels=2).sum() == 25
    assert np.array_equal(evaluation_region(mask, dilation_voxels=0), mask)


# --- PSNR -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 40), (20, 18, 16)])
def test_psnr_equals_scikit_image(shape):
    rng = np.random.default_rng(1)
    reference = rng.uniform(0.0, 200.0, size=shape)
    image = reference + rng.normal(0.0, 10.0, size=shape)
    expected = peak_signal_noise_ratio(
        reference, image, data_range=reference.max() - reference.min()
    )
    assert psnr(image, reference) == pytest.approx(expected, rel=1e-12)
    assert psnr(image, reference, data_range=255.0) == pytest.approx(
        peak_signal_noise_ratio(reference, image, data_range=255.0), rel=1e-12
    )


def test_psnr_hand_case_and_region():
    reference = np.array([[0.0, 2.0], [2.0, 0.0]])
    # data range 2, squared error 0.04 everywhere: 10 log10(4 / 0.04) = 20 dB.
    assert psnr(reference + 0.2, reference) == pytest.approx(20.0)
    image = reference.copy()
    image[0, 0] = 1.0  # one error of 1 in the region of two voxels: MSE 0.5
    region = np.array([[True, True], [False, False]])
    assert psnr(image, reference, region=region) == pytest.approx(10 * np.log10(4 / 0.5))
    assert psnr(image, reference, region=~region) == np.inf


def test_psnr_region_equals_scikit_image_on_the_region(pair_3d):
    image, reference = pair_3d
    region = np.zeros(reference.shape, dtype=bool)
    region[5:15, 4:12, 3:9] = True
    peak = float(reference.max()) - float(reference.min())  # whole-reference data range
    expected = peak_signal_noise_ratio(
        reference[region].astype(np.float64), image[region].astype(np.float64), data_range=peak
    )
    assert psnr(image, reference, region=region) == pytest.approx(expected, rel=1e-12)


def test_psnr_batch_gives_one_value_per_image(pair_3d):
    image, reference = pair_3d
    batch = np.stack([image, reference + 1.0, image])
    values = psnr(batch, reference)
    assert values.shape == (3,)
    assert values[0] == pytest.approx(psnr(image, reference))
    assert values[2] == pytest.approx(values[0])


# --- SSIM -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 40), (20, 18, 16)])
@pytest.mark.parametrize("gaussian", [False, True])
def test_ssim_equals_scikit_image(shape, gaussian):
    rng = np.random.default_rng(2)
    reference = rng.uniform(0.0, 100.0, size=shape)
    image = reference + rng.normal(0.0, 20.0, size=shape)
    data_range = reference.max() - reference.min()
    options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    expected = structural_similarity(
        image, reference, data_range=data_range, **(options if gaussian else {})
    )
    assert ssim(image, reference, gaussian_weights=gaussian) == pytest.approx(expected, rel=1e-12)


def test_ssim_window_data_range_region_and_batch(pair_3d):
    image, reference = pair_3d
    assert ssim(reference, reference) == pytest.approx(1.0)
    assert ssim(image, reference, win_size=5, data_range=400.0) == pytest.approx(
        structural_similarity(image, reference, win_size=5, data_range=400.0)
    )
    region = np.zeros(reference.shape, dtype=bool)
    region[6:14, 5:12, 4:10] = True
    _, local = structural_similarity(
        image, reference, data_range=float(reference.max() - reference.min()), full=True
    )
    assert ssim(image, reference, region=region) == pytest.approx(local[region].mean())
    values = ssim(np.stack([image, reference]), reference)
    assert values.shape == (2,)
    assert values[1] == pytest.approx(1.0)
    assert values[0] == pytest.approx(ssim(image, reference))


# --- NRMSE ------------------------------------------------------------------------------


def test_nrmse_hand_cases():
    region = np.ones((1, 1, 4), dtype=bool)
    reference = np.full((1, 1, 4), 2.0)
    # Errors +-1: RMSE 1, reference mean 2.
    assert nrmse(reference + np.array([1.0, -1.0, 1.0, -1.0]), reference, region) == 0.5
    # Errors 0, 0, 3, 4 over a reference of mean 5: sqrt(25 / 4) / 5 = 0.5.
    reference = np.array([[[5.0, 5.0, 4.0, 6.0]]])
    image = reference + np.array([0.0, 0.0, 3.0, 4.0])
    assert nrmse(image, reference, region) == pytest.approx(0.5)
    # Only the region counts: the error outside it is ignored.
    partial = np.array([[[True, True, False, False]]])
    assert nrmse(image, reference, partial) == 0.0
    batch = nrmse(np.stack([image, reference]), reference, region)
    assert batch.tolist() == pytest.approx([0.5, 0.0])


# --- normal myocardium, defect ratio, CoV ------------------------------------------------


def test_normal_myocardium_removes_the_defect_dilated_by_two_voxels():
    myocardium = np.ones((1, 1, 10), dtype=bool)
    defect = np.zeros_like(myocardium)
    defect[0, 0, 4] = True
    normal = normal_myocardium(myocardium, defect)
    assert np.flatnonzero(normal[0, 0]).tolist() == [0, 1, 7, 8, 9]
    # In 3-D the two 6-neighbour dilations of one voxel cover 1 + 6 + 18 = 25 voxels.
    cube = np.ones((7, 7, 7), dtype=bool)
    spot = np.zeros_like(cube)
    spot[3, 3, 3] = True
    removed = cube & ~normal_myocardium(cube, spot)
    assert removed.sum() == 25
    assert removed[3, 3, 1] and removed[3, 2, 2] and not removed[3, 1, 2] and not removed[2, 2, 2]
    # Without a defect the normal myocardium is the whole myocardium (a copy).
    copy = normal_myocardium(cube)
    assert np.array_equal(copy, cube) and copy is not cube


def test_defect_ratio_hand_case():
    myocardium = np.ones((1, 1, 10), dtype=bool)
    defect = np.zeros_like(myocardium)
    defect[0, 0, :2] = True
    image = np.arange(1.0, 11.0).reshape(1, 1, 10)
    # Defect region {0, 1}: mean 1.5. Normal: indices 4..9 (values 5..10), mean 7.5.
    assert defect_ratio(image, defect_mask=defect, myocardium_mask=myocardium) == pytest.approx(
        0.2
    )
    # Batch: one ratio per image, scale-invariant.
    ratios = defect_ratio(
        np.stack([image, 3 * image]), defect_mask=defect, myocardium_mask=myocardium
    )
    assert ratios.tolist() == pytest.approx([0.2, 0.2])
    # The defect region is the defect mask *within* the myocardium.
    myocardium[0, 0, 0] = False
    assert defect_ratio(image, defect_mask=defect, myocardium_mask=myocardium) == pytest.approx(
        2.0 / 7.5
    )


def test_defect_ratio_of_the_phantom_is_near_its_remaining_uptake():
    from spect_tutorial.phantom import Defect, make_phantom

    phantom = make_phantom(
        shape=(64, 64, 64), voxel_size_mm=6.4, defect=Defect(segments=(4, 10), severity=0.5)
    )
    ratio = defect_ratio(
        phantom.activity,
        defect_mask=phantom.masks["defect"],
        myocardium_mask=phantom.masks["myocardium"],
    )
    # 0.5 in the continuous phantom; partial volume at 6.4 mm raises it slightly (0.545).
    assert 0.5 < ratio < 0.6


def test_coefficient_of_variation_hand_case():
    region = np.ones((1, 1, 4), dtype=bool)
    assert coefficient_of_variation(np.array([[[1.0, 3.0, 1.0, 3.0]]]), region) == 0.5
    # Over the normal myocardium only: the defect and its two-voxel margin drop out.
    myocardium = np.ones((1, 1, 8), dtype=bool)
    defect = np.zeros_like(myocardium)
    defect[0, 0, 0] = True
    image = np.array([[[0.0, 9.0, 9.0, 2.0, 4.0, 2.0, 4.0, 2.0]]])
    normal = normal_myocardium(myocardium, defect)  # indices 3..7: 2, 4, 2, 4, 2
    expected = np.std([2.0, 4.0, 2.0, 4.0, 2.0]) / 2.8
    assert coefficient_of_variation(image, normal) == pytest.approx(expected)


# --- profile ----------------------------------------------------------------------------


def test_profile_through_a_box_has_its_width_and_values():
    voxel = 2.0
    volume = np.zeros((21, 21, 21), dtype=np.float32)
    volume[8:13, 9:12, 7:14] = 3.0  # 5 voxels in z, 3 in y, 7 in x
    widths = {}
    for axis, direction in {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}.items():
        end = 18.0 * np.array(direction)
        distance, values = profile(volume, -end, end, voxel_size_mm=voxel)
        assert distance[0] == 0.0 and distance[-1] == pytest.approx(36.0)
        assert np.allclose(np.diff(distance), voxel / 4)  # default: a quarter voxel
        assert values.max() == pytest.approx(3.0) and values[0] == 0.0 and values[-1] == 0.0
        above = distance[values >= 1.5]
        widths[axis] = above[-1] - above[0]
    # Linear interpolation of a box of n voxels: full width at half maximum n voxels.
    assert widths == pytest.approx({"x": 14.0, "y": 6.0, "z": 10.0})


def test_profile_samples_and_order():
    volume = np.zeros((9, 9, 9))
    volume[4, 4, 3:6] = 1.0
    distance, values = profile(
        volume, (-8.0, 0.0, 0.0), (8.0, 0.0, 0.0), voxel_size_mm=2.0, n_samples=9
    )
    assert distance.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]
    assert values.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    _, nearest = profile(volume, (-3.0, 0, 0), (3.0, 0, 0), voxel_size_mm=2.0, order=0)
    assert set(np.unique(nearest)) <= {0.0, 1.0}
    # Outside the volume the profile reads 0.
    _, outside = profile(volume, (20.0, 0, 0), (30.0, 0, 0), voxel_size_mm=2.0)
    assert not outside.any()


# --- bad input --------------------------------------------------------------------------


def test_bad_inputs_raise_value_errors_naming_the_argument(pair_3d):
    image, reference = pair_3d
    region = np.ones(reference.shape, dtype=bool)
    empty = np.zeros(reference.shape, dtype=bool)
    spot = empty.copy()
    spot[10, 9, 8] = True
    cases = [
        (lambda: psnr(image[:-1], reference), "image"),
        (lambda: psnr(image, reference, region=empty), "region"),
        (lambda: psnr(image, reference, region=region.astype(int)), "region"),
        (lambda: psnr(image.astype(complex), reference), "image"),
        (lambda: psnr(image, np.array(["a", "b"])), "reference"),
        (lambda: psnr(image, np.ones_like(reference)), "data_range"),
        (lambda: psnr(image, reference, data_range=-1.0), "data_range"),
        (lambda: ssim(image[:, :, :-1], reference), "image"),
        (lambda: ssim(image, reference, win_size=4), "win_size"),
        (lambda: ssim(image[:5, :5, :5], reference[:5, :5, :5]), "window"),
        (lambda: ssim(image, reference, region=empty), "region"),
        (lambda: nrmse(image, reference, empty), "region"),
        (lambda: nrmse(image, reference[:-1], region), "reference"),
        (lambda: coefficient_of_variation(image, region[:-1]), "image"),
        (lambda: normal_myocardium(region.astype(np.uint8)), "myocardium_mask"),
        (lambda: normal_myocardium(region, empty[:-1]), "defect_mask"),
        (lambda: normal_myocardium(region, empty.astype(float)), "defect_mask"),
        (lambda: defect_ratio(image, defect_mask=empty, myocardium_mask=region), "defect_mask"),
        (lambda: defect_ratio(image, defect_mask=region, myocardium_mask=region), "normal"),
        (lambda: defect_ratio(image, defect_mask=None, myocardium_mask=region), "defect_mask"),
        (lambda: defect_ratio(image[:-1], defect_mask=spot, myocardium_mask=region), "image"),
        (lambda: evaluation_region(region[0]), "myocardium_mask"),
        (lambda: evaluation_region(region, dilation_voxels=-1), "dilation_voxels"),
        (lambda: profile(image[0], (0, 0, 0), (1, 0, 0), voxel_size_mm=2.0), "volume"),
        (lambda: profile(image, (0, 0), (1, 0, 0), voxel_size_mm=2.0), "start_mm"),
        (lambda: profile(image, (0, 0, 0), (0, 0, np.nan), voxel_size_mm=2.0), "end_mm"),
        (lambda: profile(image, (1, 2, 3), (1, 2, 3), voxel_size_mm=2.0), "end_mm"),
        (lambda: profile(image, (0, 0, 0), (1, 0, 0), voxel_size_mm=0.0), "voxel_size_mm"),
        (lambda: profile(image, (0, 0, 0), (1, 0, 0), voxel_size_mm=2, n_samples=1), "n_samples"),
        (lambda: profile(image, (0, 0, 0), (1, 0, 0), voxel_size_mm=2, order=7), "order"),
    ]
    for call, word in cases:
        with pytest.raises(ValueError, match=word):
            call()


def test_docstring_examples_run():
    result = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 10
