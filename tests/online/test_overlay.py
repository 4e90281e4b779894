"""The item-neighbour overlay: seeds, weights and the sparse sum against a dense reference."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from online.overlay import FEW_USERS, ItemMoments, NeighbourOverlay, seed_weights, seed_weights_many, standardise


def test_standardise_rows() -> None:
    z = standardise(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    assert z[1].tolist() == [0.0, 0.0, 0.0]


def test_seeds_are_the_newest_liked_movies_with_decayed_weights() -> None:
    # oldest first: 4 liked, 5 disliked, 4 liked again, 7 liked, 8 hated
    idx, w = seed_weights([4, 5, 4, 7, 8], [2, -1, 1, 2, -2], decay=0.5, max_seeds=10)
    assert idx.tolist() == [7, 4]  # newest first; dislikes are no seeds; 4 once, at its newest
    np.testing.assert_allclose(w, [0.5 ** 1, 0.5 ** 2])  # age counts every later swipe
    idx, _ = seed_weights([4, 5, 4, 7, 8], [2, -1, 1, 2, -2], decay=0.5, max_seeds=1)
    assert idx.tolist() == [7]


def test_overlay_equals_the_dense_sum() -> None:
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((12, 12)) < 0.3, rng.random((12, 12)), 0.0).astype(np.float32)
    overlay = NeighbourOverlay(sp.csr_matrix(dense), beta=2.0, decay=0.9, max_seeds=20)
    recent = [(np.array([1, 3, 5]), np.array([2, -1, 1])), (np.zeros(0, np.int64), np.zeros(0, np.int8))]
    got = overlay.scores(recent).toarray()
    expected = 2.0 * (0.9 ** 2 * dense[1] + 0.9 ** 0 * dense[5])  # 3 is disliked: no seed
    np.testing.assert_allclose(got[0], expected, rtol=1e-6)
    assert not got[1].any()
    base = np.ones((2, 12), np.float32)
    np.testing.assert_allclose(overlay.scores(recent).add_to(base)[0], 1.0 + expected, rtol=1e-6)


# -- the batched seeds and overlay against the per-user ones -----------------------------------
def _random_users(rng: np.random.Generator, n_users: int, n_movies: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Small histories: empty ones, no liked entry, heavy repeats (a pool of a few movies)."""
    users = []
    for _ in range(n_users):
        n = int(rng.choice([0, 1, 2, 3, 5, 8, 13]))
        pool = int(rng.choice([1, 2, 3, n_movies]))
        prefs = [-2, -1] if rng.random() < 0.2 else [-2, -1, 1, 2]  # sometimes nothing liked
        users.append((rng.integers(0, pool, size=n).astype(np.int64), rng.choice(prefs, size=n).astype(np.int8)))
    return users


def test_seed_weights_many_equals_seed_weights_per_user() -> None:
    rng = np.random.default_rng(7)
    cases = 0
    for _ in range(300):
        users = _random_users(rng, int(rng.choice([1, 2, 3, 4, 5, 64])), 10)  # 64: a busy batch
        decay, max_seeds = float(rng.choice([0.5, 0.8, 1.0])), int(rng.choice([1, 2, 3, 20]))
        counts, movies, weights = seed_weights_many(users, decay, max_seeds)
        assert counts.shape == (len(users),) and counts.dtype == np.int64
        assert len(movies) == len(weights) == counts.sum()
        ends = np.cumsum(counts)
        for u, ((m, p), end, count) in enumerate(zip(users, ends, counts)):
            ref_movies, ref_weights = seed_weights(m, p, decay, max_seeds)
            context = f"user {u}: movies {m.tolist()}, preferences {p.tolist()}, max_seeds {max_seeds}"
            assert count == len(ref_movies), context
            assert movies[end - count:end].tolist() == ref_movies.tolist(), context
            np.testing.assert_allclose(weights[end - count:end], ref_weights, rtol=1e-12, err_msg=context)
            cases += 1
    assert cases > 500


def test_seed_weights_many_without_any_interaction() -> None:
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int8))
    counts, movies, weights = seed_weights_many([empty, empty], 0.8, 5)
    assert counts.tolist() == [0, 0] and len(movies) == len(weights) == 0
    counts, movies, weights = seed_weights_many([], 0.8, 5)
    assert len(counts) == len(movies) == len(weights) == 0


def test_overlay_of_a_batch_equals_the_per_user_overlays() -> None:
    rng = np.random.default_rng(8)
    n = 15
    dense = np.where(rng.random((n, n)) < 0.3, rng.random((n, n)), 0.0).astype(np.float32)
    dense[4] = 0.0  # a movie without neighbours
    for max_seeds in (1, 3, 20):
        overlay = NeighbourOverlay(sp.csr_matrix(dense), beta=2.5, decay=0.8, max_seeds=max_seeds)
        users = _random_users(rng, 12, n)
        batch = overlay.scores(users)
        assert batch.shape == (len(users), n)
        got = batch.add_to(np.zeros((len(users), n), np.float32))
        for u, user in enumerate(users):
            one = overlay.scores([user])
            ref = one.add_to(np.zeros((1, n), np.float32))[0]
            np.testing.assert_allclose(got[u], ref, rtol=1e-6, atol=1e-7,
                                       err_msg=f"user {u}: {user[0].tolist()} / {user[1].tolist()}")
            # and the dense reference: beta * sum_j w_j S[j, :] over the user's seeds
            seeds, w = seed_weights(*user, 0.8, max_seeds)
            np.testing.assert_allclose(ref, 2.5 * (w @ dense[seeds]) if len(seeds) else np.zeros(n),
                                       rtol=1e-5, atol=1e-6)


def test_rows_of_different_lengths_pad_without_touching_movie_0() -> None:
    # rows of 3, 0 and 1 entries: padded to 3; the padding points at movie 0 with weight 0
    dense = np.zeros((4, 4), np.float32)
    dense[0, [1, 2, 3]] = [0.5, 0.25, 0.125]
    dense[2, 3] = 1.0
    overlay = NeighbourOverlay(sp.csr_matrix(dense), beta=1.0, decay=1.0, max_seeds=5)
    recent = [(np.array([1, 2, 0]), np.array([2, 2, 2]))]
    base = np.array([[-np.inf, 7.0, 8.0, 9.0]], np.float32)  # movie 0 masked as seen: stays -inf
    got = overlay.scores(recent).add_to(base.copy())
    assert got[0].tolist() == [-np.inf, 7.5, 8.25, 10.125]
    assert overlay.scores(recent).values.size == 3 * 3  # three seeds, three entries each (padded)


def test_overlay_of_an_empty_neighbour_matrix_adds_nothing() -> None:
    overlay = NeighbourOverlay(sp.csr_matrix((5, 5), dtype=np.float32), beta=3.0, decay=0.8, max_seeds=20)
    got = overlay.scores([(np.array([1, 2]), np.array([2, 1])), (np.array([3]), np.array([2]))]).toarray()
    assert got.shape == (2, 5) and not got.any()


def test_the_few_user_path_equals_the_batched_path() -> None:
    """Up to ``FEW_USERS`` users (seeds on lists, weights from a table) against the same users
    inside a larger batch (the vectorised seeds); lists and arrays alike; a seed older than the
    weight table's first length (256) grows it."""
    rng = np.random.default_rng(9)
    n = 15
    dense = np.where(rng.random((n, n)) < 0.3, rng.random((n, n)), 0.0).astype(np.float32)
    overlay = NeighbourOverlay(sp.csr_matrix(dense), beta=2.5, decay=0.99, max_seeds=4)
    old_like = (np.r_[np.array([3, 7]), np.full(400, 5)], np.r_[np.array([2, 1]), np.full(400, -1)].astype(np.int8))
    users = [*_random_users(rng, 11, n), old_like]
    batched = overlay.scores(users).toarray()  # more than FEW_USERS: the batched path
    for size in range(1, FEW_USERS + 1):
        for start in range(0, len(users) - size + 1, size):
            group = users[start:start + size]
            for form in (group, [(m.tolist(), p.tolist()) for m, p in group]):
                got = overlay.scores(form).toarray()
                np.testing.assert_allclose(got, batched[start:start + size], rtol=1e-6, atol=1e-7,
                                           err_msg=f"users {start}..{start + size - 1}")
    assert batched[-1].any()  # the old like is a seed (age 400, weight 0.99^400)


def test_one_user_scaled_scores_equal_the_batched_ones() -> None:
    rng = np.random.default_rng(10)
    y = rng.normal(size=(200, 8)).astype(np.float32)
    moments = ItemMoments.of(y)
    users = rng.normal(size=(3, 8)).astype(np.float32)
    users[2] = 0.0  # sd 0: scaled to zeros, constant 0
    scaled, offset = moments.scaled_scores(users, y)  # the batched path
    for i, u in [(i, u) for i, row in enumerate(users) for u in (row, row[None, :])]:  # (k,): the one-user path
        one, one_offset = moments.scaled_scores(u, y)
        assert one.shape == (1, 200) and one.dtype == np.float32 and one_offset.dtype == np.float32
        np.testing.assert_allclose(one[0], scaled[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(one_offset, offset[i:i + 1], rtol=1e-5, atol=1e-6)
        z = one[0] + one_offset[0]
        if i < 2:  # the z-scores of u . y over the catalogue: mean 0, sd 1
            assert abs(z.mean()) < 1e-4 and abs(z.std() - 1.0) < 1e-4


def test_the_weighted_scatter_without_scipys_kernel_adds_the_same(monkeypatch) -> None:
    """``RowAdditions.add_to`` weights its entries in SciPy's COO kernel; where a SciPy build
    lacks that private module, numpy weights and adds them: the same sums, repeats included."""
    import online.additions as additions_module

    rng = np.random.default_rng(11)
    n = 30
    dense = np.where(rng.random((n, n)) < 0.4, rng.random((n, n)), 0.0).astype(np.float32)
    overlay = NeighbourOverlay(sp.csr_matrix(dense), beta=2.0, decay=0.7, max_seeds=6)
    users = _random_users(rng, 12, n)
    for group in (users[:1], users[:3], users):  # one user, few users, the batched path
        base = rng.normal(size=(len(group), n)).astype(np.float32)
        additions = overlay.scores(group)
        assert additions.group is not None or not additions.flat.size  # weighted, not pre-multiplied
        with_kernel = additions.add_to(base.copy())
        monkeypatch.setattr(additions_module, "_coo_matvec", None)
        without = additions.add_to(base.copy())
        monkeypatch.undo()
        np.testing.assert_allclose(with_kernel, without, rtol=1e-6, atol=1e-6)
        expected = base.copy()
        for u, user in enumerate(group):  # the dense reference
            seeds, w = seed_weights(*user, 0.7, 6)
            if len(seeds):
                expected[u] += 2.0 * (w @ dense[seeds])
        np.testing.assert_allclose(with_kernel, expected, rtol=1e-5, atol=1e-5)
