import numpy as np
import pandas as pd

from offline.split import TEST, TRAIN, VAL, chronological_split


def make_ratings(seed: int = 0, n_users: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        n = int(rng.integers(3, 60))
        ts = np.sort(rng.integers(0, 30, n)) * 1000  # many ties on purpose
        for i, t in enumerate(ts):
            rows.append((u, i, int(t)))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "timestamp"]).astype("int64")


def test_no_leakage_train_strictly_before_val_and_test() -> None:
    r = make_ratings()
    r["split"] = chronological_split(r)
    for _, g in r.groupby("user_id"):
        train, val, test = (g.loc[g.split == s, "timestamp"] for s in (TRAIN, VAL, TEST))
        if len(train) and len(val):
            assert train.max() < val.min()
        if len(train) and len(test):
            assert train.max() < test.min()
        if len(val) and len(test):
            assert val.max() < test.min()


def test_proportions_without_ties() -> None:
    r = pd.DataFrame({"user_id": 1, "movie_id": np.arange(100), "timestamp": np.arange(100)[::-1]}).astype("int64")
    split = chronological_split(r)
    assert (split == TRAIN).sum() == 80 and (split == VAL).sum() == 10 and (split == TEST).sum() == 10
    # the newest (smallest movie ids here, since timestamps run backwards) are the test set
    assert set(r.loc[split == TEST, "movie_id"]) == set(range(10))


def test_keeps_index_alignment_and_is_deterministic() -> None:
    r = make_ratings(1).sample(frac=1.0, random_state=3)
    a = chronological_split(r)
    b = chronological_split(r)
    assert a.index.equals(r.index) and a.equals(b)
