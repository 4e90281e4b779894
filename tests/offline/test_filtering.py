import pandas as pd

from offline.filtering import core_filter


def frame(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["user_id", "movie_id"]).astype("int64")


def test_iterates_until_stable() -> None:
    # users 1,2 rate movies 10,11; user 3 rates 10 and 12; movie 12 has one rating.
    # Round 1 drops movie 12 -> user 3 has one rating and is dropped -> movie 10 keeps 2.
    ratings = frame([(1, 10), (1, 11), (2, 10), (2, 11), (3, 10), (3, 12)])
    out, rounds = core_filter(ratings, min_user_ratings=2, min_movie_ratings=2)
    assert sorted(map(tuple, out[["user_id", "movie_id"]].to_numpy().tolist())) == [(1, 10), (1, 11), (2, 10), (2, 11)]
    assert rounds[0].ratings == 6 and rounds[0].users == 3 and rounds[0].movies == 3
    assert rounds[1].dropped_movies == 1 and rounds[1].dropped_users == 1
    assert rounds[-1].dropped_users == 0 and rounds[-1].dropped_movies == 0


def test_result_satisfies_minimums() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    ratings = frame(list({(int(u), int(m)) for u, m in zip(rng.zipf(1.5, 3000) % 200, rng.zipf(1.3, 3000) % 300)}))
    out, _ = core_filter(ratings, min_user_ratings=5, min_movie_ratings=3)
    assert len(out) > 0
    assert out.groupby("user_id").size().min() >= 5
    assert out.groupby("movie_id").size().min() >= 3


def test_nothing_left() -> None:
    out, _ = core_filter(frame([(1, 1), (2, 2)]), 2, 2)
    assert out.empty
