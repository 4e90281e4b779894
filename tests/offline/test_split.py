import numpy as np
import pandas as pd

import offline.split as split_module
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


def _reference_split(r: pd.DataFrame, val_fraction: float = 0.1, test_fraction: float = 0.1) -> np.ndarray:
    """Per user, in plain Python: positions by (time, movie); a tied group takes its first member's split."""
    out = np.empty(len(r), dtype=np.int8)
    for _, g in r.groupby("user_id"):
        g = g.sort_values(["timestamp", "movie_id"])
        n = len(g)
        n_test = max(int(np.rint(test_fraction * n)), 1) if n >= 3 else 0
        n_val = max(int(np.rint(val_fraction * n)), 1) if n >= 3 else 0
        first_pos: dict[int, int] = {}
        for pos, (label, t) in enumerate(zip(g.index, g["timestamp"])):
            p = first_pos.setdefault(int(t), pos)
            out[r.index.get_loc(label)] = TRAIN if p < n - n_val - n_test else VAL if p < n - n_test else TEST
    return out


def test_matches_a_per_user_reference_shuffled_and_with_huge_ids() -> None:
    r = make_ratings(2, n_users=80).sample(frac=1.0, random_state=5)
    r.loc[r.user_id == 3, "user_id"] = 2**62  # the int64 key would overflow: lexsort path
    for frame in (r, r.assign(user_id=r.user_id % 1000)):
        assert np.array_equal(chronological_split(frame).to_numpy(), _reference_split(frame))
    assert len(chronological_split(r.iloc[:0])) == 0


def test_blocks_of_whole_users_split_like_one_block(monkeypatch) -> None:
    r = make_ratings(4, n_users=120)  # users sorted, as in MovieLens files
    one = chronological_split(r).to_numpy()
    monkeypatch.setattr(split_module, "_MIN_BLOCK_ROWS", 1)
    blocks = split_module.user_blocks(r["user_id"].to_numpy(), 3)
    assert len(blocks) == 3 and blocks[0].start == 0 and blocks[-1].stop == len(r)
    users = r["user_id"].to_numpy()
    assert all(users[b.start - 1] != users[b.start] for b in blocks[1:])  # no user cut in two
    monkeypatch.setattr(split_module.os, "cpu_count", lambda: 3)
    assert np.array_equal(chronological_split(r).to_numpy(), one)
    assert np.array_equal(one, _reference_split(r))
    shuffled = r.sample(frac=1.0, random_state=1)  # unsorted users: one block
    assert len(split_module.user_blocks(shuffled["user_id"].to_numpy(), 3)) == 1
