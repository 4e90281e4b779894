import numpy as np
import pandas as pd

from offline.filtering import core_filter, kept_rows


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


def _reference_core(ratings: pd.DataFrame, min_user: int, min_movie: int) -> pd.DataFrame:
    """Alternating groupby filter until nothing changes (the definition, slowly)."""
    r = ratings
    while True:
        before = len(r)
        r = r[r.groupby("movie_id")["movie_id"].transform("size") >= min_movie]
        r = r[r.groupby("user_id")["user_id"].transform("size") >= min_user]
        if len(r) == before:
            return r.reset_index(drop=True)


def test_matches_the_groupby_definition_on_random_data() -> None:
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(0, 2000))
        frame = pd.DataFrame(
            {
                "user_id": rng.integers(0, int(rng.integers(1, 200)), n),
                "movie_id": rng.integers(0, int(rng.integers(1, 300)), n),
            }
        ).astype("int64")
        min_user, min_movie = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        out, rounds = core_filter(frame, min_user, min_movie)
        pd.testing.assert_frame_equal(out, _reference_core(frame, min_user, min_movie))
        assert rounds[-1].ratings == len(out) and rounds[-1].users == out["user_id"].nunique()
        assert rounds[-1].movies == out["movie_id"].nunique()


def test_kept_rows_equal_loc_for_numpy_and_extension_columns() -> None:
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {"user_id": rng.integers(0, 9, n), "rating": rng.random(n).astype(np.float32),
         "note": pd.array(rng.choice(["a", "b", None], n), dtype="string"), "flag": pd.array(rng.random(n) > 0.5)},
        index=rng.permutation(n) + 1000,
    )
    keep = rng.random(n) > 0.3
    pd.testing.assert_frame_equal(kept_rows(frame, keep), frame.loc[keep].reset_index(drop=True))
