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


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("neighbours", [1, 3, 39])
def test_each_row_of_the_table_is_most_similar_bit_for_bit(threads, neighbours, monkeypatch):
    """The kernel multiplies each pair of items once and hands the product to both rows (per-thread heaps):
    every row must still be the on-demand ranking, similarities bit for bit and ties on the smaller item,
    with any number of threads and with rows whose heaps fill up."""
    from movie_recommender.recsys import knn

    matrix = random_matrix(n_users=80, n_items=40, density=0.4, seed=threads).tolil()
    matrix[:, 11] = matrix[:, 12]  # identical columns: equal similarities with every other item
    matrix[:, 20] = matrix[:, 12] * 2  # and a scaled copy (the same cosine)
    matrix = matrix.tocsr()
    monkeypatch.setattr(knn, "_threads", lambda: threads)
    exact, table = ItemSimilarity(matrix), ItemNeighbours(matrix, neighbours)
    for col in range(40):
        cols, sims = exact.most_similar(col, table.neighbours)
        lo, hi = table.indptr[col], table.indptr[col + 1]
        np.testing.assert_array_equal(table.indices[lo:hi], cols)
        np.testing.assert_array_equal(table.similarities[lo:hi], sims)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_tie_arriving_later_with_the_smaller_item_replaces_the_worst_kept(threads, monkeypatch):
    """Item 20 is item 12 plus a stored zero: the same similarities, but one more entry, so it is visited first.
    Item 0's one kept neighbour must still be 12 (ties go to the smaller item), not the first one seen."""
    from movie_recommender.recsys import knn

    dense = random_matrix(n_users=80, n_items=40, density=0.4, seed=7).toarray()
    dense[:, 0] = np.arange(80) % 5 + 1  # rated by everyone: visited before 12 and 20
    dense[:, 12] = np.where(np.arange(80) % 2 == 0, dense[:, 0], 0)  # half of item 0: its nearest item
    dense[:, 20] = dense[:, 12]
    coo = sp.coo_matrix(dense)
    zero_at = int(np.flatnonzero(dense[:, 12] == 0)[0])
    matrix = sp.csr_matrix(
        (np.append(coo.data, 0.0), (np.append(coo.row, zero_at), np.append(coo.col, 20))), shape=dense.shape
    )
    assert np.diff(matrix.tocsc().indptr)[20] == np.diff(matrix.tocsc().indptr)[12] + 1
    monkeypatch.setattr(knn, "_threads", lambda: threads)
    exact, table = ItemSimilarity(matrix), ItemNeighbours(matrix, 1)
    assert exact.similarity([0], [12])[0, 0] == exact.similarity([0], [20])[0, 0]
    assert table.indices[table.indptr[0]] == 12
    for col in range(40):
        cols, sims = exact.most_similar(col, 1)
        np.testing.assert_array_equal(table.indices[table.indptr[col] : table.indptr[col + 1]], cols)
        np.testing.assert_array_equal(table.similarities[table.indptr[col] : table.indptr[col + 1]], sims)
