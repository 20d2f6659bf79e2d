"""Synthetic data sets: shapes, seeding, and the properties they are made for."""

from __future__ import annotations

import numpy as np
import pytest

from nnref import data


def test_truth_tables():
    X, y = data.truth_table("xor")
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    X3, y3 = data.truth_table("and", 3)
    assert X3.shape == (8, 3) and y3.sum() == 1
    _, parity = data.truth_table(lambda bits: sum(bits) % 2 == 0, 2)
    np.testing.assert_array_equal(parity, [1, 0, 0, 1])


@pytest.mark.parametrize("make", [data.two_gaussians, data.moons, data.spirals, data.circles, data.regression_1d])
def test_seeded_and_shaped(make):
    X1, y1 = make(50, rng=3)
    X2, y2 = make(50, rng=3)
    X3, _ = make(50, rng=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert X1.shape[0] == y1.shape[0] == 50 and X1.ndim == 2


def test_two_gaussians_follow_their_parameters():
    X, y = data.two_gaussians(20000, mean0=(0, 0), mean1=(2, 1), cov=((1, 0.5), (0.5, 2)), prior1=0.25, rng=0)
    assert y.mean() == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(X[y == 1].mean(0), [2, 1], atol=0.06)
    np.testing.assert_allclose(np.cov(X[y == 0].T), [[1, 0.5], [0.5, 2]], atol=0.08)


def test_circles_radii():
    X, y = data.circles(400, factor=0.3, noise=0.0, rng=0)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)


def test_spirals_have_integer_classes():
    _, y = data.spirals(90, n_classes=3, rng=0)
    assert y.dtype == np.int64 and set(y.tolist()) == {0, 1, 2}


def test_split_partitions_the_data():
    X, y = data.moons(100, rng=0)
    Xt, yt, Xv, yv = data.train_val_split(X, y, 0.2, rng=0)
    assert len(Xv) == 20 and len(Xt) == 80
    assert sorted(map(tuple, np.concatenate([Xt, Xv]))) == sorted(map(tuple, X))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown Boolean function"):
        data.truth_table("implies")
    with pytest.raises(ValueError, match="positive definite"):
        data.two_gaussians(10, cov=((1, 2), (2, 1)))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.moons(0)
    with pytest.raises(ValueError, match="unknown target"):
        data.regression_1d(10, target="tan")
