"""Counts and Poisson noise: count level definition, realizations, thinning, bad input.

Statistical checks use fixed seeds, so they are deterministic; each tolerance is a few
standard errors of the tested statistic (derived in the comment next to it), so a correct
implementation passes with any seed with high probability and a wrong one fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from spect_tutorial.noise import (
    LAO45_DEG,
    STANDARD_COUNT_LEVELS,
    add_image_noise,
    count_level_scale,
    counts_scale,
    expected_counts,
    lao45_myocardium_counts,
    lao45_myocardium_pixels,
    nearest_view_index,
    poisson_realizations,
    realization_seed,
    split_counts,
)

# ASNC cardiac orbit: 64 views over 180 deg from 45 RAO (-45) in 2.8125 deg steps.
ASNC_ANGLES = -45.0 + np.arange(64) * 180.0 / 64


def _synthetic_projections(angles_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """64 x 8 x 8 projections: a Gaussian myocardium blob whose amplitude and position
    change with the view, on a smooth background (standing in for other organs and
    scatter)."""
    rows, bins = np.mgrid[0:8, 0:8].astype(np.float64)
    views = len(angles_deg)
    myocardium = np.empty((views, 8, 8))
    for v in range(views):
        centre_bin = 2.0 + 4.0 * v / (views - 1)
        blob = np.exp(-((rows - 3.5) ** 2 + (bins - centre_bin) ** 2) / (2 * 1.5**2))
        myocardium[v] = (1.0 + v / views) * blob
    background = 0.2 + 0.05 * rows + 0.01 * np.arange(views)[:, None, None]
    return (myocardium + background).astype(np.float32), myocardium.astype(np.float32)


# ---------------------------------------------------------------------------
# Count level (science.md section 8)
# ---------------------------------------------------------------------------


def test_constants():
    assert LAO45_DEG == 45.0
    assert STANDARD_COUNT_LEVELS == (12.5, 25.0, 50.0, 100.0, 200.0)
    assert [count_level_scale(level) for level in STANDARD_COUNT_LEVELS] == [
        0.125,
        0.25,
        0.5,
        1.0,
        2.0,
    ]


def test_nearest_view_with_asnc_angles():
    # -45 + 32 * 2.8125 = 45 exactly: the LAO 45 view is index 32.
    assert nearest_view_index(ASNC_ANGLES) == 32
    assert ASNC_ANGLES[32] == 45.0
    # An inclusive linspace(-45, 135, 64) has no 45 deg view: 43.57 and 46.43 deg are
    # equally near, and the first (lower index) wins.
    inclusive = np.linspace(-45.0, 135.0, 64)
    assert nearest_view_index(inclusive) == 31
    # Full 360 deg orbit, and wrap-around on the circle (405 deg is 45 deg).
    assert nearest_view_index(np.arange(64) * 360.0 / 64) == 8
    assert nearest_view_index([0.0, 90.0, 405.5, 180.0]) == 2
    assert nearest_view_index([350.0, 20.0, 100.0], angle_deg=0.0) == 0


@pytest.mark.parametrize("angles", [ASNC_ANGLES, np.linspace(-45.0, 135.0, 64)])
def test_counts_scale_meets_the_definition(angles):
    expected, myocardium = _synthetic_projections(angles)
    scale = counts_scale(expected, myocardium, angles_deg=angles)
    view = nearest_view_index(angles)
    mask = myocardium[view] >= 0.5 * myocardium[view].max()
    assert 0 < mask.sum() < mask.size
    lam = expected_counts(expected, scale=scale, count_level=100.0)
    assert lam.dtype == np.float64
    np.testing.assert_allclose(lam[view][mask].mean(), 100.0, rtol=1e-6)
    # Other views give other means (the blob amplitude changes with the view), so the
    # test would catch a wrong view.
    for other in (view - 1, view + 1, 0):
        other_mask = myocardium[other] >= 0.5 * myocardium[other].max()
        assert abs(lam[other][other_mask].mean() - 100.0) > 0.1
    # Other levels scale linearly; the helper measures the same quantity.
    for level in STANDARD_COUNT_LEVELS:
        lam_level = expected_counts(expected, scale=scale, count_level=level)
        measured = lao45_myocardium_counts(lam_level, myocardium, angles_deg=angles)
        np.testing.assert_allclose(measured, level, rtol=1e-6)
    lao_view, lao_mask = lao45_myocardium_pixels(myocardium, angles_deg=angles)
    assert lao_view == view
    np.testing.assert_array_equal(lao_mask, mask)


def test_counts_scale_target_and_scatter_included():
    expected, myocardium = _synthetic_projections(ASNC_ANGLES)
    scale = counts_scale(expected, myocardium, angles_deg=ASNC_ANGLES, target_counts=150.0)
    lam = expected * scale
    np.testing.assert_allclose(
        lao45_myocardium_counts(lam, myocardium, angles_deg=ASNC_ANGLES), 150.0, rtol=1e-6
    )
    # Counts include everything in `expected` (e.g. scatter): more background, smaller scale.
    with_scatter = expected + 0.3 * myocardium
    assert counts_scale(with_scatter, myocardium, angles_deg=ASNC_ANGLES) < scale / 1.1


def test_lao45_counts_of_noisy_realizations_average_the_level():
    expected, myocardium = _synthetic_projections(ASNC_ANGLES)
    scale = counts_scale(expected, myocardium, angles_deg=ASNC_ANGLES)
    lam = expected_counts(expected, scale=scale, count_level=50.0)
    noisy = poisson_realizations(lam, n=20, seed=realization_seed(1, 50.0))
    per_realization = lao45_myocardium_counts(noisy, myocardium, angles_deg=ASNC_ANGLES)
    assert per_realization.shape == (20,)
    # Mean of 20 realizations x m pixels at about 50 counts: standard error
    # sqrt(50 / (20 m)) < 0.4 counts (m >= 16 here); 1 % of 50 is 0.5.
    np.testing.assert_allclose(per_realization.mean(), 50.0, rtol=0.01)


# ---------------------------------------------------------------------------
# Poisson realizations
# ---------------------------------------------------------------------------


def test_poisson_mean_and_variance_match_expected_counts():
    lam = np.geomspace(0.5, 200.0, 16).reshape(4, 4)
    n = 2000
    counts = poisson_realizations(lam, n=n, seed=12345)
    assert counts.shape == (n, 4, 4)
    assert counts.dtype == np.float32
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0
    mean = counts.mean(axis=0, dtype=np.float64)
    # Standard error of the mean of n Poisson(lam) draws: sqrt(lam / n).
    assert np.all(np.abs(mean - lam) < 4 * np.sqrt(lam / n))
    # Var of the sample variance of Poisson(lam): (mu4 - sigma^4) / n with
    # mu4 = lam (1 + 3 lam), i.e. (lam + 2 lam^2) / n; the ratio var / lam then has a
    # standard deviation sqrt((1 / lam + 2) / n), between 0.032 and 0.045 here.
    ratio = counts.var(axis=0, ddof=1, dtype=np.float64) / lam
    assert np.all(np.abs(ratio - 1.0) < 4 * np.sqrt((1.0 / lam + 2.0) / n))


def test_poisson_large_means_are_fast_and_exact_integers():
    lam = np.full((64, 64, 64), 1.0e4)
    counts = poisson_realizations(lam, n=2, seed=0)
    assert counts.shape == (2, 64, 64, 64)
    # float32 holds these counts exactly; mean over 2 x 64^3 draws has SE 0.14 counts.
    assert abs(counts.mean(dtype=np.float64) - 1.0e4) < 1.0
    assert np.array_equal(counts, np.round(counts))


def test_zero_expected_gives_zero_counts():
    counts = poisson_realizations(np.zeros((3, 3)), n=5, seed=0)
    assert not counts.any()


def test_same_seed_same_noise_different_seed_different_noise():
    lam = np.full((8, 8), 30.0)
    first = poisson_realizations(lam, n=3, seed=7)
    np.testing.assert_array_equal(first, poisson_realizations(lam, n=3, seed=7))
    assert not np.array_equal(first, poisson_realizations(lam, n=3, seed=8))
    # Realizations within one call differ from each other.
    assert not np.array_equal(first[0], first[1])
    # The first k of n realizations equal those of n = k (documented).
    np.testing.assert_array_equal(first[:2], poisson_realizations(lam, n=2, seed=7))
    # SeedSequence and Generator seeds work too.
    np.testing.assert_array_equal(
        poisson_realizations(lam, seed=np.random.SeedSequence(7)),
        poisson_realizations(lam, seed=np.random.default_rng(7)),
    )


def test_realization_seed_is_reproducible_and_level_specific():
    seed_25 = realization_seed(3, 25.0)
    assert isinstance(seed_25, np.random.SeedSequence)
    assert (
        realization_seed(3, 25.0).generate_state(4).tolist() == seed_25.generate_state(4).tolist()
    )
    states = {
        tuple(realization_seed(s, level, i).generate_state(4))
        for s in (0, 1)
        for level in STANDARD_COUNT_LEVELS
        for i in (0, 1)
    }
    assert len(states) == 2 * len(STANDARD_COUNT_LEVELS) * 2
    # Derived from a SeedSequence: keeps its entropy, extends its spawn key, and differs
    # from the children that SeedSequence.spawn makes.
    parent = np.random.SeedSequence(3)
    derived = realization_seed(parent, 25.0)
    assert derived.entropy == parent.entropy
    assert derived.generate_state(4).tolist() == seed_25.generate_state(4).tolist()
    assert all(
        child.generate_state(4).tolist() != derived.generate_state(4).tolist()
        for child in parent.spawn(4)
    )
    # A Generator seed is advanced, so two calls give two different streams.
    rng = np.random.default_rng(3)
    assert (
        realization_seed(rng, 25.0).generate_state(4).tolist()
        != realization_seed(rng, 25.0).generate_state(4).tolist()
    )


def test_same_seed_at_different_levels_draws_independent_noise():
    lam_100 = np.full(100_000, 40.0)
    lam_50 = 0.5 * lam_100
    noisy_100 = poisson_realizations(lam_100, seed=realization_seed(0, 100.0))[0]
    noisy_50 = poisson_realizations(lam_50, seed=realization_seed(0, 50.0))[0]
    assert not np.array_equal(noisy_50, 0.5 * noisy_100)
    residual_100 = (noisy_100 - lam_100) / np.sqrt(lam_100)
    residual_50 = (noisy_50 - lam_50) / np.sqrt(lam_50)
    # Sample correlation of independent variables has SE 1 / sqrt(M) = 0.0032 here.
    assert abs(np.corrcoef(residual_100, residual_50)[0, 1]) < 4 / np.sqrt(lam_100.size)
    # Indices at one level are independent too.
    noisy_100_b = poisson_realizations(lam_100, seed=realization_seed(0, 100.0, 1))[0]
    assert abs(np.corrcoef(noisy_100, noisy_100_b)[0, 1]) < 4 / np.sqrt(lam_100.size)


# ---------------------------------------------------------------------------
# Binomial thinning
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.5, 0.25])
def test_split_counts_gives_independent_poisson_parts(p):
    lam = 50.0
    size = 200_000
    counts = poisson_realizations(np.full(size, lam), seed=2024)[0]
    first, second = split_counts(counts, p, seed=99)
    assert first.dtype == counts.dtype and second.dtype == counts.dtype
    np.testing.assert_array_equal(first + second, counts)
    assert first.min() >= 0 and second.min() >= 0
    for part, mean in ((first, p * lam), (second, (1 - p) * lam)):
        part = part.astype(np.float64)
        # SE of the mean: sqrt(mean / size) <= 0.016 counts.
        assert abs(part.mean() - mean) < 4 * np.sqrt(mean / size)
        # Poisson: variance / mean = 1, SE sqrt((1 / mean + 2) / size) <= 0.0034.
        assert abs(part.var(ddof=1) / mean - 1.0) < 4 * np.sqrt((1 / mean + 2) / size)
    # Independent parts: |corr| < 0.03 as asked (the SE is 1 / sqrt(size) = 0.0022).
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.03


def test_split_counts_batches_integer_input_and_reproducibility():
    counts = np.random.default_rng(0).poisson(20.0, size=(3, 4, 5, 6))
    first, second = split_counts(counts, seed=1)
    assert first.shape == counts.shape and first.dtype == counts.dtype
    np.testing.assert_array_equal(first + second, counts)
    again, _ = split_counts(counts, seed=1)
    np.testing.assert_array_equal(first, again)
    other, _ = split_counts(counts, seed=2)
    assert not np.array_equal(first, other)


# ---------------------------------------------------------------------------
# Image-domain noise
# ---------------------------------------------------------------------------


def test_add_image_noise_mean_and_variance():
    volume = np.zeros((20, 20, 20), dtype=np.float32)
    volume[5:15, 5:15, 5:15] = 2.0  # activity units
    noisy = add_image_noise(volume, mean_counts=25.0, seed=0)
    assert noisy.shape == volume.shape and noisy.dtype == np.float32
    assert not noisy[volume == 0].any()
    inside = noisy[volume > 0].astype(np.float64)
    # 1000 voxels at 25 counts: counts = 12.5 * noisy; SE of the mean 0.16 counts.
    counts = inside * 12.5
    assert abs(counts.mean() - 25.0) < 4 * np.sqrt(25.0 / counts.size)
    # CoV = 1 / sqrt(25) = 0.2. The sample SD has a relative SE of about half that of the
    # sample variance, sqrt((1 / 25 + 2) / 1000) / 2 = 0.023, i.e. 0.0045 in CoV.
    cov = inside.std(ddof=1) / inside.mean()
    assert abs(cov - 0.2) < 4 * 0.2 * np.sqrt((1 / 25 + 2) / counts.size) / 2
    np.testing.assert_array_equal(noisy, add_image_noise(volume, mean_counts=25.0, seed=0))


def test_add_image_noise_with_region():
    volume = np.ones((10, 10, 10))
    volume[:5] = 4.0
    region = np.zeros(volume.shape, dtype=bool)
    region[5:] = True  # mean 1 over the region: 100 counts per voxel there
    noisy = add_image_noise(volume, mean_counts=100.0, seed=3, region=region)
    counts = noisy[5:].astype(np.float64) * 100.0
    assert abs(counts.mean() - 100.0) < 4 * np.sqrt(100.0 / counts.size)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, -12.5, np.nan, np.inf, "50", True])
def test_bad_count_level(level):
    with pytest.raises(ValueError, match="count_level"):
        count_level_scale(level)
    with pytest.raises(ValueError, match="count_level"):
        expected_counts(np.ones(3), scale=1.0, count_level=level)
    with pytest.raises(ValueError, match="count_level"):
        realization_seed(0, level)


def test_bad_expected_values():
    for bad in (np.array([1.0, np.nan]), np.array([1.0, -0.1]), np.array([np.inf])):
        with pytest.raises(ValueError, match="expected_counts"):
            poisson_realizations(bad, seed=0)
        with pytest.raises(ValueError, match="expected"):
            expected_counts(bad, scale=1.0)
    with pytest.raises(ValueError, match="scale"):
        expected_counts(np.ones(3), scale=0.0)
    with pytest.raises(ValueError, match="expected_counts"):
        poisson_realizations(np.array(["a"]), seed=0)


@pytest.mark.parametrize("n", [0, -1, 2.5, True, None])
def test_bad_number_of_realizations(n):
    with pytest.raises(ValueError, match="n must be"):
        poisson_realizations(np.ones(3), n=n, seed=0)


@pytest.mark.parametrize("seed", [-1, 1.5, "zero"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        poisson_realizations(np.ones(3), seed=seed)
    with pytest.raises(ValueError, match="seed"):
        realization_seed(seed, 100.0)


def test_bad_realization_index():
    with pytest.raises(ValueError, match="index"):
        realization_seed(0, 100.0, -1)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5, 1.5, np.nan])
def test_bad_split_probability(p):
    with pytest.raises(ValueError, match="p must be"):
        split_counts(np.ones(3), p, seed=0)


@pytest.mark.parametrize(
    "counts", [np.array([1.0, 2.5]), np.array([1.0, -1.0]), np.array([np.nan]), np.array([1e-3])]
)
def test_bad_counts_to_split(counts):
    with pytest.raises(ValueError, match="counts"):
        split_counts(counts, seed=0)


def test_counts_scale_bad_input():
    expected, myocardium = _synthetic_projections(ASNC_ANGLES)
    with pytest.raises(ValueError, match="same shape"):
        counts_scale(expected, myocardium[:, :4], angles_deg=ASNC_ANGLES)
    with pytest.raises(ValueError, match="3-D"):
        counts_scale(expected[0], myocardium[0], angles_deg=ASNC_ANGLES)
    with pytest.raises(ValueError, match="angles_deg"):
        counts_scale(expected, myocardium, angles_deg=ASNC_ANGLES[:-1])
    with pytest.raises(ValueError, match="angles_deg"):
        counts_scale(expected[:0], myocardium[:0], angles_deg=[])
    no_lao = myocardium.copy()
    no_lao[32] = 0.0
    with pytest.raises(ValueError, match="LAO 45"):
        counts_scale(expected, no_lao, angles_deg=ASNC_ANGLES)
    dark = expected.copy()
    dark[32] = 0.0
    with pytest.raises(ValueError, match="expected is zero"):
        counts_scale(dark, myocardium, angles_deg=ASNC_ANGLES)
    for name, bad_value in (("expected", np.nan), ("expected", -1.0)):
        bad = expected.copy()
        bad[3, 2, 2] = bad_value
        with pytest.raises(ValueError, match=name):
            counts_scale(bad, myocardium, angles_deg=ASNC_ANGLES)
    bad_myocardium = myocardium.copy()
    bad_myocardium[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="myocardium_expected"):
        counts_scale(expected, bad_myocardium, angles_deg=ASNC_ANGLES)
    with pytest.raises(ValueError, match="target_counts"):
        counts_scale(expected, myocardium, angles_deg=ASNC_ANGLES, target_counts=0.0)
    with pytest.raises(ValueError, match="projections"):
        lao45_myocardium_counts(expected[:, :4], myocardium, angles_deg=ASNC_ANGLES)


def test_add_image_noise_bad_input():
    volume = np.ones((4, 4, 4))
    for bad in (0.0, -5.0, np.nan):
        with pytest.raises(ValueError, match="mean_counts"):
            add_image_noise(volume, mean_counts=bad, seed=0)
    with pytest.raises(ValueError, match="volume"):
        add_image_noise(-volume, mean_counts=10.0, seed=0)
    with pytest.raises(ValueError, match="region"):
        add_image_noise(volume, mean_counts=10.0, seed=0, region=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="region"):
        add_image_noise(np.zeros((4, 4, 4)), mean_counts=10.0, seed=0)
    with pytest.raises(ValueError, match="volume is zero"):
        add_image_noise(
            np.zeros((4, 4, 4)), mean_counts=10.0, seed=0, region=np.ones((4, 4, 4), bool)
        )
