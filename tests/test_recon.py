"""OSEM/MLEM reconstruction on explicit system matrices: maths, guards, batches, bad input."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
from scipy import sparse, special

from spect_tutorial import recon
from spect_tutorial.recon import (
    MatrixSystem,
    ProjectionSystem,
    mlem,
    osem,
    poisson_log_likelihood,
    view_subsets,
)

IMAGE_SHAPE = (4, 6, 6)
PROJECTION_SHAPE = (12, 4, 6)


class DenseSystem:
    """An explicit system matrix, independent of the code under test.

    Rows are ordered (view, row, bin), columns (z, y, x). ``forward`` of a batch
    projects each image on its own, so a batch gives bit-identical results to
    single images. Every call is recorded.
    """

    def __init__(self, matrix, image_shape, projection_shape):
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.image_shape = tuple(image_shape)
        self.projection_shape = tuple(projection_shape)
        n_views, n_rows, n_bins = self.projection_shape
        self._per_view = self.matrix.reshape(n_views, n_rows * n_bins, -1)
        self.calls = []

    def _block(self, views):
        if views is None:
            return self.matrix, self.projection_shape[0]
        views = [int(v) for v in views]
        return self._per_view[views].reshape(-1, self.matrix.shape[1]), len(views)

    def forward(self, volume, *, views=None):
        self.calls.append(("forward", None if views is None else list(views), volume.ndim))
        block, n = self._block(views)
        volume = np.asarray(volume)
        flat = volume.reshape(-1, self.matrix.shape[1])
        out = np.stack([block @ item for item in flat])
        return out.reshape(*volume.shape[:-3], n, *self.projection_shape[1:])

    def backward(self, projections, *, views=None):
        self.calls.append(("backward", None if views is None else list(views), projections.ndim))
        block, _ = self._block(views)
        projections = np.asarray(projections)
        flat = projections.reshape(-1, block.shape[0])
        out = np.stack([block.T @ item for item in flat])
        return out.reshape(*projections.shape[:-3], *self.image_shape)


def random_matrix(seed=0, density=0.3):
    rng = np.random.default_rng(seed)
    n_rows = int(np.prod(PROJECTION_SHAPE))
    n_voxels = int(np.prod(IMAGE_SHAPE))
    matrix = rng.random((n_rows, n_voxels))
    matrix[rng.random((n_rows, n_voxels)) > density] = 0.0
    return matrix


def tomographic_matrix(n=10, n_slices=2, n_views=16, n_bins=14):
    """Parallel-beam projection over 180 deg of ``n_slices`` slices of ``n x n`` pixels.

    Pixel-driven with linear interpolation onto the detector bins: an explicit
    matrix, so its transpose is the exact adjoint.
    """
    centres = np.arange(n) - (n - 1) / 2
    y, x = np.meshgrid(centres, centres, indexing="ij")
    matrix = np.zeros((n_views, n_slices, n_bins, n_slices, n, n))
    for view, angle in enumerate(np.pi * np.arange(n_views) / n_views):
        position = x * np.cos(angle) + y * np.sin(angle) + (n_bins - 1) / 2
        low = np.floor(position).astype(int)
        weight_high = position - low
        for row in range(n_slices):
            for shift, weight in ((0, 1.0 - weight_high), (1, weight_high)):
                bins = low + shift
                inside = (bins >= 0) & (bins < n_bins)
                np.add.at(
                    matrix[view, row],
                    (bins[inside], np.full(inside.sum(), row), *np.nonzero(inside)),
                    weight[inside],
                )
    shape = ((n_slices, n, n), (n_views, n_slices, n_bins))
    return matrix.reshape(n_views * n_slices * n_bins, n_slices * n * n), shape


def disc_image(n=10, n_slices=2):
    centres = np.arange(n) - (n - 1) / 2
    y, x = np.meshgrid(centres, centres, indexing="ij")
    radius = np.hypot(x, y)
    image = np.where(radius < 4.2, 1.0, 0.0) + np.where(np.hypot(x - 1.5, y + 1) < 1.6, 3.0, 0.0)
    return np.repeat(image[None], n_slices, axis=0).astype(np.float32)


@pytest.fixture
def system():
    return DenseSystem(random_matrix(), IMAGE_SHAPE, PROJECTION_SHAPE)


@pytest.fixture
def truth():
    rng = np.random.default_rng(1)
    return rng.uniform(0.5, 3.0, IMAGE_SHAPE).astype(np.float32)


def relative_error(image, truth):
    return float(np.linalg.norm(image - truth) / np.linalg.norm(truth))


# --- the test systems themselves -------------------------------------------------------


def test_test_systems_are_exact_adjoints_and_protocol_members(system):
    tomographic, (image_shape, projection_shape) = tomographic_matrix()
    rng = np.random.default_rng(2)
    for candidate in (
        system,
        DenseSystem(tomographic, image_shape, projection_shape),
        MatrixSystem(random_matrix(), IMAGE_SHAPE, PROJECTION_SHAPE),
    ):
        assert isinstance(candidate, ProjectionSystem)
        x = rng.random(candidate.image_shape)
        y = rng.random(candidate.projection_shape)
        lhs = float(np.sum(candidate.forward(x) * y))
        rhs = float(np.sum(x * candidate.backward(y)))
        assert lhs == pytest.approx(rhs, rel=1e-5)
    # Every pixel of the tomographic toy is seen by every view (a rotate-and-sum system).
    assert np.all(tomographic.reshape(16, -1, tomographic.shape[1]).sum(axis=1) > 0)


def test_matrix_system_dense_and_sparse_agree_with_the_matrix():
    matrix = random_matrix()
    dense = MatrixSystem(matrix, IMAGE_SHAPE, PROJECTION_SHAPE)
    compressed = MatrixSystem(sparse.csr_matrix(matrix), IMAGE_SHAPE, PROJECTION_SHAPE)
    rng = np.random.default_rng(3)
    batch = rng.random((2, *IMAGE_SHAPE)).astype(np.float32)
    views = [1, 5, 9]
    expected = np.stack([(matrix @ item.ravel()).reshape(PROJECTION_SHAPE) for item in batch])
    for candidate in (dense, compressed):
        out = candidate.forward(batch, views=views)
        assert out.shape == (2, 3, 4, 6) and out.dtype == np.float32
        np.testing.assert_allclose(out, expected[:, views], rtol=1e-5)
        back = candidate.backward(out, views=views)
        assert back.shape == (2, *IMAGE_SHAPE) and back.dtype == np.float32
    with pytest.raises(ValueError, match="matrix"):
        MatrixSystem(matrix[:-1], IMAGE_SHAPE, PROJECTION_SHAPE)
    with pytest.raises(ValueError, match="matrix"):
        MatrixSystem(-matrix, IMAGE_SHAPE, PROJECTION_SHAPE)
    with pytest.raises(ValueError, match="views"):
        dense.forward(batch, views=[12])
    with pytest.raises(ValueError, match="volume"):
        dense.forward(batch[0, :3])


# --- the algorithm ---------------------------------------------------------------------


def test_one_subset_update_is_the_osem_equation(system, truth):
    rng = np.random.default_rng(4)
    counts = rng.poisson(system.forward(truth)).astype(np.float32)
    additive = np.full(PROJECTION_SHAPE, 0.7)
    start = rng.uniform(0.5, 1.5, IMAGE_SHAPE).astype(np.float32)
    seen = []
    osem(
        counts,
        system,
        n_iter=1,
        n_subsets=3,
        additive=additive,
        initial=start,
        callback=lambda i, s, image: seen.append(image),
    )
    views = np.arange(12)[0::3]
    block = system.matrix.reshape(12, 24, -1)[views].reshape(-1, start.size)
    y = counts[views].ravel()
    ratio = y / (block @ start.ravel().astype(np.float64) + 0.7)
    by_hand = start.ravel() * (block.T @ ratio) / block.T.sum(axis=1)
    np.testing.assert_allclose(seen[0].ravel(), by_hand, rtol=1e-5)


def test_mlem_never_decreases_the_log_likelihood(system, truth):
    rng = np.random.default_rng(5)
    additive = np.full(PROJECTION_SHAPE, 2.0)
    counts = rng.poisson(system.forward(truth) + additive)
    values = [poisson_log_likelihood(counts, system.forward(np.ones(IMAGE_SHAPE)) + additive)]

    def record(iteration, subset, image):
        assert subset == 0
        values.append(poisson_log_likelihood(counts, system.forward(image) + additive))

    image = mlem(counts, system, n_iter=30, additive=additive, callback=record)
    assert len(values) == 31
    for before, after in itertools.pairwise(values):
        assert after >= before - 1e-6 * abs(before)
    assert values[-1] > values[0]
    assert np.all(np.isfinite(image))


@pytest.mark.parametrize("n_subsets", [1, 4])
def test_error_to_the_truth_decreases_early_on_noise_free_data(n_subsets):
    matrix, (image_shape, projection_shape) = tomographic_matrix()
    system = DenseSystem(matrix, image_shape, projection_shape)
    truth = disc_image()
    counts = system.forward(truth)
    errors = [relative_error(np.ones(image_shape), truth)]
    osem(
        counts,
        system,
        n_iter=6,
        n_subsets=n_subsets,
        callback=lambda i, s, image: (
            errors.append(relative_error(image, truth)) if s == n_subsets - 1 else None
        ),
    )
    assert len(errors) == 7
    assert np.all(np.diff(errors) < 0), errors


def test_osem_converges_faster_than_mlem_early_on():
    matrix, (image_shape, projection_shape) = tomographic_matrix()
    system = DenseSystem(matrix, image_shape, projection_shape)
    truth = disc_image()
    counts = system.forward(truth)
    for n_iter in (1, 2, 3):
        fast = osem(counts, system, n_iter=n_iter, n_subsets=4)
        slow = mlem(counts, system, n_iter=n_iter)
        assert relative_error(fast, truth) < relative_error(slow, truth)


def test_mlem_is_osem_with_one_subset(system, truth):
    counts = system.forward(truth)
    np.testing.assert_array_equal(
        mlem(counts, system, n_iter=5), osem(counts, system, n_iter=5, n_subsets=1)
    )


def test_a_batch_equals_reconstructing_each_realization_alone(system, truth):
    rng = np.random.default_rng(6)
    counts = rng.poisson(system.forward(truth), size=(3, *PROJECTION_SHAPE))
    additive = rng.uniform(0.0, 1.0, (3, 1, 1, 6))
    system.calls.clear()
    batch = osem(counts, system, n_iter=3, n_subsets=4, additive=additive)
    assert batch.shape == (3, *IMAGE_SHAPE) and batch.dtype == np.float32
    # One batched forward and backward per subset: no Python loop over realizations.
    forward = [call for call in system.calls if call[0] == "forward"]
    assert len(forward) == 3 * 4 and all(call[2] == 4 for call in forward)
    for k in range(3):
        alone = osem(counts[k], system, n_iter=3, n_subsets=4, additive=additive[k])
        assert alone.shape == IMAGE_SHAPE
        np.testing.assert_array_equal(batch[k], alone)


def test_a_batch_accepts_one_initial_image_or_one_per_realization(system, truth):
    counts = np.stack([system.forward(truth), 2 * system.forward(truth)])
    start = np.full(IMAGE_SHAPE, 0.5, dtype=np.float32)
    shared = osem(counts, system, n_iter=2, n_subsets=3, initial=start)
    each = osem(counts, system, n_iter=2, n_subsets=3, initial=np.stack([start, start]))
    np.testing.assert_array_equal(shared, each)
    assert start.min() == 0.5  # the caller's array is never modified


def test_the_additive_term_is_modelled(system, truth):
    scatter = np.random.default_rng(7).uniform(5.0, 15.0, PROJECTION_SHAPE)
    counts = system.forward(truth) + scatter
    errors = [
        relative_error(osem(counts, system, n_iter=n, n_subsets=4, additive=scatter), truth)
        for n in (10, 50, 200)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.03  # converges towards x
    without = relative_error(osem(counts, system, n_iter=200, n_subsets=4), truth)
    assert without > 5 * errors[2]
    # A scalar additive term broadcasts to every detector pixel.
    scalar = osem(system.forward(truth) + 3.0, system, n_iter=200, n_subsets=4, additive=3.0)
    assert relative_error(scalar, truth) < 0.03


def test_images_stay_non_negative_and_finite(system, truth):
    rng = np.random.default_rng(8)
    low_counts = rng.poisson(0.05 * system.forward(truth), size=(2, *PROJECTION_SHAPE))
    for additive in (None, np.full(PROJECTION_SHAPE, 50.0)):
        images = []
        osem(
            low_counts,
            system,
            n_iter=5,
            n_subsets=6,
            additive=additive,
            callback=lambda i, s, image, store=images: store.append(image),
        )
        assert len(images) == 30
        for image in images:
            assert image.dtype == np.float32
            assert np.all(np.isfinite(image)) and image.min() >= 0


def test_zero_projections_give_a_zero_image(system):
    zeros = np.zeros(PROJECTION_SHAPE, dtype=np.int64)
    for additive in (None, 1.0):
        image = osem(zeros, system, n_iter=2, n_subsets=4, additive=additive)
        assert np.all(np.isfinite(image)) and np.all(image == 0)


def test_blind_detector_pixels_and_unseen_voxels_give_no_nan(truth):
    matrix = random_matrix()
    matrix[:30] = 0.0  # detector pixels that see nothing (all of view 0, part of view 1)
    matrix[:, 7] = 0.0  # a voxel that no view sees
    only_view_3 = np.zeros(matrix.shape[0])
    only_view_3[3 * 24 : 4 * 24] = 1.0
    matrix[:, 11] = only_view_3  # a voxel only subset 3 (views 3, 7, 11) of 4 sees
    system = DenseSystem(matrix, IMAGE_SHAPE, PROJECTION_SHAPE)
    counts = system.forward(truth)
    images = []
    image = osem(
        counts,
        system,
        n_iter=200,
        n_subsets=4,
        initial=np.ones(IMAGE_SHAPE),
        callback=lambda i, s, image: images.append(image),
    )
    assert all(np.all(np.isfinite(item)) and item.min() >= 0 for item in images)
    assert image.ravel()[7] == 0  # unseen: set to 0 and kept there
    # The partly seen voxel keeps its value through the subsets that miss it ...
    assert images[0].ravel()[11] == images[1].ravel()[11] == images[2].ravel()[11] == 1.0
    assert images[3].ravel()[11] != 1.0
    # ... and every seen voxel, that one included, still converges on consistent data.
    seen = np.ones(truth.size, dtype=bool)
    seen[7] = False
    assert relative_error(image.ravel()[seen], truth.ravel()[seen]) < 0.03
    assert image.ravel()[11] == pytest.approx(truth.ravel()[11], rel=0.05)


def test_subsets_are_interleaved_views_and_sensitivities_are_cached(system, truth):
    counts = system.forward(truth)
    for n_subsets in (4, 5):
        system.calls.clear()
        osem(counts, system, n_iter=3, n_subsets=n_subsets)
        subsets = [np.arange(12)[s::n_subsets].tolist() for s in range(n_subsets)]
        forward = [call[1] for call in system.calls if call[0] == "forward"]
        backward = [call[1] for call in system.calls if call[0] == "backward"]
        assert forward == subsets * 3
        # The sensitivity images first (once per subset), then one back-projection per update.
        assert backward == subsets + subsets * 3
    system.calls.clear()
    osem(counts, system, n_iter=2, n_subsets=1)
    assert [call[1] for call in system.calls] == [None] * 5  # MLEM: all views at once
    assert [s.tolist() for s in view_subsets(12, 5)] == subsets
    assert [s.tolist() for s in view_subsets(3, 3)] == [[0], [1], [2]]


def test_callback_sees_every_update_and_can_stop_early(system, truth):
    counts = system.forward(truth)
    calls = []
    kept = []

    def stop_in_second_iteration(iteration, subset, image):
        calls.append((iteration, subset))
        kept.append((image, image.copy()))
        return iteration == 1 and subset == 2

    result = osem(counts, system, n_iter=10, n_subsets=4, callback=stop_in_second_iteration)
    assert calls == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2)]
    assert result is kept[-1][0]
    # The images handed to the callback are never modified afterwards.
    for image, copy in kept:
        np.testing.assert_array_equal(image, copy)
    # Returning None or False (or numpy.False_) never stops.
    count = []
    osem(counts, system, n_iter=2, n_subsets=3, callback=lambda i, s, x: count.append(np.False_))
    assert len(count) == 6


def test_progress_prints_one_line_per_iteration(system, truth, capsys):
    osem(system.forward(truth), system, n_iter=3, n_subsets=2, progress=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("OSEM (2 subsets): iteration 1/3")
    osem(system.forward(truth), system, n_iter=1, n_subsets=2)
    assert capsys.readouterr().out == ""


def test_integer_counts_and_float64_input_give_float32_images(system, truth):
    counts = np.rint(system.forward(truth)).astype(np.int32)
    image = osem(counts, system, n_iter=1, n_subsets=2, initial=np.ones(IMAGE_SHAPE))
    assert image.dtype == np.float32 and image.shape == IMAGE_SHAPE


# --- the log-likelihood ----------------------------------------------------------------


def test_log_likelihood_matches_the_poisson_pmf():
    rng = np.random.default_rng(9)
    mean = rng.uniform(0.1, 20.0, (2, 3, 4))
    counts = rng.poisson(mean)
    full = np.sum(counts * np.log(mean) - mean - special.gammaln(counts + 1))
    value = poisson_log_likelihood(counts, mean)
    assert isinstance(value, float)
    assert value == pytest.approx(full + np.sum(special.gammaln(counts + 1)), rel=1e-12)


def test_log_likelihood_conventions_and_batches():
    counts = np.array([[[0.0, 3.0]]])
    assert poisson_log_likelihood(counts, np.array([[[0.0, 3.0]]])) == pytest.approx(
        3 * np.log(3) - 3
    )  # 0 log 0 = 0
    assert poisson_log_likelihood(counts, np.array([[[1.0, 0.0]]])) == -np.inf
    batch = np.stack([counts, 2 * counts, np.zeros_like(counts)])
    mean = np.array([[[1.0, 2.0]]])
    values = poisson_log_likelihood(batch, mean)  # expected broadcasts over the batch
    assert values.shape == (3,)
    for k in range(3):
        assert values[k] == poisson_log_likelihood(batch[k], mean)


@pytest.mark.parametrize(
    ("counts", "mean", "name"),
    [
        (np.ones((2, 2)), np.ones((2, 2)), "projections"),
        (-np.ones((1, 2, 2)), np.ones((1, 2, 2)), "projections"),
        (np.full((1, 2, 2), np.nan), np.ones((1, 2, 2)), "projections"),
        (np.ones((1, 2, 2)), -np.ones((1, 2, 2)), "expected"),
        (np.ones((1, 2, 2)), np.full((1, 2, 2), np.inf), "expected"),
        (np.ones((1, 2, 2)), np.ones((1, 2, 3)), "expected"),
        (np.ones((1, 2, 2)), np.ones((2, 1, 2, 2)), "expected"),
    ],
)
def test_log_likelihood_rejects_bad_input(counts, mean, name):
    with pytest.raises(ValueError, match=name):
        poisson_log_likelihood(counts, mean)


# --- bad input -------------------------------------------------------------------------


GOOD = np.ones(PROJECTION_SHAPE)


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"projections": np.ones((12, 4, 5))}, "projections"),
        ({"projections": np.ones((11, 4, 6))}, "projections"),
        ({"projections": np.ones((4, 6))}, "projections"),
        ({"projections": np.ones((1, 2, *PROJECTION_SHAPE))}, "projections"),
        ({"projections": np.zeros((0, *PROJECTION_SHAPE))}, "projections"),
        ({"projections": -GOOD}, "projections"),
        ({"projections": np.where(np.arange(6) == 2, np.nan, GOOD)}, "projections"),
        ({"projections": np.where(np.arange(6) == 2, np.inf, GOOD)}, "projections"),
        ({"projections": GOOD.astype(complex)}, "projections"),
        ({"n_iter": 0}, "n_iter"),
        ({"n_iter": 2.5}, "n_iter"),
        ({"n_iter": True}, "n_iter"),
        ({"n_subsets": 0}, "n_subsets"),
        ({"n_subsets": 13}, "n_subsets"),
        ({"n_subsets": "4"}, "n_subsets"),
        ({"additive": -GOOD}, "additive"),
        ({"additive": np.full(PROJECTION_SHAPE, np.nan)}, "additive"),
        ({"additive": np.ones((4, 5))}, "additive"),
        ({"additive": np.ones((2, *PROJECTION_SHAPE))}, "additive"),
        ({"initial": np.ones((4, 6, 5))}, "initial"),
        ({"initial": -np.ones(IMAGE_SHAPE)}, "initial"),
        ({"initial": np.full(IMAGE_SHAPE, np.nan)}, "initial"),
        ({"initial": np.ones((2, *IMAGE_SHAPE))}, "initial"),
    ],
)
def test_bad_input_names_the_argument(system, changes, name):
    arguments = {"projections": GOOD, "n_iter": 2, "n_subsets": 4, **changes}
    projections = arguments.pop("projections")
    with pytest.raises(ValueError, match=name) as error:
        osem(projections, system, **arguments)
    if name == "projections" and np.asarray(projections).shape[-3:] != PROJECTION_SHAPE:
        assert str(PROJECTION_SHAPE) in str(error.value)  # both shapes are named
        assert str(np.asarray(projections).shape) in str(error.value)


def test_a_batch_initial_must_match_the_batch(system):
    with pytest.raises(ValueError, match="initial"):
        osem(np.stack([GOOD] * 3), system, initial=np.ones((2, *IMAGE_SHAPE)))


def test_an_object_that_is_not_a_system_is_rejected():
    with pytest.raises(TypeError, match="system"):
        osem(GOOD, object())
    with pytest.raises(ValueError, match="n_subsets"):
        view_subsets(12, 13)


def test_docstring_examples_run():
    result = doctest.testmod(recon, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
