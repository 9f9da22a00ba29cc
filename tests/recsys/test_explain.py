"""ItemNeighbours (precomputed similar items) against ItemSimilarity (the on-demand definition)."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from movie_recommender.recsys.explain import ItemNeighbours, ItemSimilarity, auto_neighbours
from movie_recommender.recsys.movielens import parse_ratings
from tests.conftest import real_archive


def random_matrix(n_users=60, n_items=40, density=0.3, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((n_users, n_items)) < density, rng.integers(1, 6, (n_users, n_items)), 0)
    dense[:, 7] = dense[:, 3] * 2 % 6  # equal similarities (ties) and items sharing raters
    dense[:, 9] = 0  # an item nobody rated
    return sp.csr_matrix(dense.astype(float))


def check_same(matrix: sp.csr_matrix, users, neighbours=None, k=3) -> None:
    exact, table = ItemSimilarity(matrix), ItemNeighbours(matrix, neighbours)
    kept = table.neighbours
    for user in users:
        row = matrix[user]
        targets = np.setdiff1d(np.arange(matrix.shape[1]), row.indices)[::3]
        got = table.because(row.indices, row.data, targets, k=k)
        if kept >= matrix.shape[1] - 1:
            want = exact.because(row.indices, row.data, targets, k=k)
        else:  # the exact reasons among each target's `kept` most similar items
            want = []
            for target in targets:
                near = set(exact.most_similar(target, kept)[0].tolist())
                among = [i for i, c in enumerate(row.indices) if c in near]
                reason = exact.because(row.indices[among], row.data[among], [target], k=k)[0] if among else []
                want.append(reason)
        assert [[c for c, _ in r] for r in got] == [[c for c, _ in r] for r in want], user
        for g, w in zip(got, want):
            np.testing.assert_allclose([v for _, v in g], [v for _, v in w], rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_because_is_the_exact_definition_with_every_neighbour(seed):
    check_same(random_matrix(seed=seed), users=range(60))


@pytest.mark.parametrize("neighbours", [1, 5, 12])
def test_because_with_fewer_neighbours_quotes_the_nearest_items_only(neighbours):
    check_same(random_matrix(seed=3), users=range(60), neighbours=neighbours, k=4)


def test_because_on_movielens_100k_is_unchanged():
    archive = real_archive()
    if archive is None:
        pytest.skip("MovieLens 100k is not here ($MOVIELENS_100K or ../shared/datasets/ml-100k.zip)")
    with zipfile.ZipFile(archive) as zf:
        name = next(n for n in zf.namelist() if n.endswith("u.data"))
        ratings = parse_ratings(zf.read(name))
    users = ratings.userId.astype("category").cat.codes.to_numpy()
    items = ratings.movieId.astype("category").cat.codes.to_numpy()
    matrix = sp.csr_matrix((ratings.rating.to_numpy(float), (users, items)))
    assert auto_neighbours(matrix.shape[1]) == matrix.shape[1] - 1  # every movie kept: the exact definition
    check_same(matrix, users=range(0, matrix.shape[0], 9), k=3)


def test_auto_neighbours_bounds_the_table():
    assert auto_neighbours(1682) == 1681
    assert auto_neighbours(59047) == 100
    assert auto_neighbours(59047, 30) == 30
    assert auto_neighbours(10, 500) == 9


def test_table_is_bounded_and_pickles():
    matrix = random_matrix(n_items=200, seed=4)
    table = ItemNeighbours(matrix, 5)
    assert np.diff(table.indptr).max() <= 5
    assert table.nbytes <= 12 * 200 * 5 + 8 * 201
    again = pickle.loads(pickle.dumps(table))
    row = matrix[0]
    assert again.because(row.indices, row.data, [1, 2]) == table.because(row.indices, row.data, [1, 2])


def test_because_without_ratings_or_neighbours():
    table = ItemNeighbours(random_matrix(seed=5))
    assert table.because([], [], [1, 2]) == [[], []]
    assert table.because([0, 1], [5.0, 4.0], [9]) == [[]]  # nobody rated item 9


def test_most_similar_from_the_table_or_none_when_it_may_not_hold_them():
    matrix = random_matrix(n_items=60, seed=6)
    exact, table = ItemSimilarity(matrix), ItemNeighbours(matrix, 8)
    answered = 0
    for col in range(60):
        for n in (3, 8, 20):
            stored = table.most_similar(col, n)
            if stored is None:  # its row is full (8 kept) and more than 8 were asked for
                assert table.indptr[col + 1] - table.indptr[col] == 8 and n > 8
                continue
            answered += 1
            cols, sims = exact.most_similar(col, n)
            np.testing.assert_array_equal(stored[0], cols)
            np.testing.assert_array_equal(stored[1], sims)
    assert answered > 60
    everything = ItemNeighbours(matrix)  # every item kept: always answered
    assert all(everything.most_similar(col, 50) is not None for col in range(60))
