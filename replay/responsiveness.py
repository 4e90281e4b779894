"""Responsiveness: does the list follow four liked swipes of one genre?

For a seeded sample of the artifact's known users and each of a few genres: the user's top
10 now (history = every split), then four "love" swipes on the genre's most-rated movies the
user has not seen, then the top 10 again. Reported per strategy, as means over (user, genre):

* ``replaced@10``: how many of the first top 10 are gone from the last (0-10);
* ``genre_share@10``: share of the last top 10 in the swiped genre;
* ``genre_gain@10``: that share minus the first list's.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from offline.recommender import Recommender

GENRES: tuple[str, ...] = ("Animation", "Horror", "Romance", "Documentary")
T0 = 1.7e9  # the swipes' time (unix seconds): after every rating of ml-latest-small


def genre_movies(rec: Recommender, genre_index: int) -> npt.NDArray[np.int64]:
    """Movie indices of the genre, most-rated (popularity count) first."""
    idx = np.flatnonzero(rec.item_genres[:, genre_index] > 0)
    order = np.argsort(-rec.popularity.scores("count")[idx], kind="stable")
    return idx[order]


def follow_genre(rec: Recommender, user_id: int, movies: npt.NDArray[np.int64], genre_index: int,
                 swipes: int = 4, n: int = 10) -> dict[str, float]:
    """One user: love the first ``swipes`` of ``movies`` (indices, best first) they have not
    seen; replaced@n and the genre's share before and after."""
    state = rec.new_state(user_id)
    seen = set(rec.seen(state).tolist())
    picks = [int(m) for m in movies if int(m) not in seen][:swipes]
    before = rec.recommend_states([state], n)[0].movie_ids
    for i, m in enumerate(picks):
        state = rec.apply(state, int(rec.movies.ids[m]), 2, T0 + 60.0 * i)
    after = rec.recommend_states([state], n)[0].movie_ids

    def share(ids: npt.NDArray[np.int64]) -> float:
        idx = rec.movies.index_of(ids)
        return float((rec.item_genres[idx, genre_index] > 0).mean()) if len(idx) else 0.0

    return {"replaced": float(len(set(before.tolist()) - set(after.tolist()))), "share_before": share(before),
            "share_after": share(after)}


def responsiveness(rec: Recommender, genre_names: Sequence[str], users: int = 100, seed: int = 0,
                   genres: Sequence[str] = GENRES, swipes: int = 4, n: int = 10) -> dict[str, float]:
    """Means over a seeded sample of ``users`` known users and ``genres`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(rec.users.ids, size=min(users, len(rec.users)), replace=False))
    rows = []
    for g in genres:
        if g not in genre_names:
            continue
        gi = list(genre_names).index(g)
        movies = genre_movies(rec, gi)
        rows += [follow_genre(rec, int(u), movies, gi, swipes, n) for u in sample]
    if not rows:
        return {}
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return {f"replaced@{n}": mean["replaced"], f"genre_share@{n}": mean["share_after"],
            f"genre_gain@{n}": mean["share_after"] - mean["share_before"], "cases": float(len(rows))}
