"""Same lists before and after a change: run fixed swipes (ids and times fixed, 20 % new users)
through ``process_batch`` and dump every list; compare two dumps exactly and tie-aware.

    .venv/bin/python bench/same_lists.py dump bench/out/artifacts-small foldin /tmp/now.json
    (cd <worktree> && PYTHONPATH=<worktree> /work/main/.venv/bin/python /work/main/bench/same_lists.py \
        dump /work/main/bench/out/artifacts-small foldin /tmp/before.json)
    .venv/bin/python bench/same_lists.py compare /tmp/now.json /tmp/before.json

``dump ... [BATCH]``: messages per ``process_batch`` call (default 128; 1 runs every event alone,
through the one-user paths).
"""
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

# bench/offline.py would shadow the `offline` package when this folder is sys.path[0]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402


def dump(arts: Path, strategy: str, out: str, n: int = 4000, batch: int = 128) -> None:
    from threadpoolctl import threadpool_limits

    from offline.artifacts import load_version
    from schemas.events import SwipeEvent
    from stream_app.model_holder import ModelHolder
    from stream_app.processing import Incoming, process_batch
    from stream_app.settings import StreamSettings
    from stream_app.user_state import UserState

    art = load_version(arts)
    rng = np.random.default_rng(5)
    pop = art.tables["popularity"]["count"].to_numpy(np.float64) + 1.0
    movies = rng.choice(art.arrays["movie_ids"], size=n, p=pop / pop.sum())
    users = np.where(rng.random(n) < 0.2, 50_000_000 + rng.integers(0, 300, n),
                     rng.choice(art.arrays["user_ids"], size=n))
    prefs = rng.choice([1, 2, 3, 4], size=n)
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    msgs = [Incoming(SwipeEvent(event_id=uuid.UUID(int=i + 1), user_id=int(u), movie_id=int(m), preference=int(p),
                                occurred_at=t0 + timedelta(seconds=i)).to_bytes(), "s", 0, i, str(int(u)).encode())
            for i, (u, m, p) in enumerate(zip(users, movies, prefs))]
    holder = ModelHolder(StreamSettings(artifacts=arts, strategy=strategy))
    holder.load()
    store: dict[int, bytes] = {}
    lists = []
    with threadpool_limits(1, "blas"):
        for s in range(0, n, batch):
            res = process_batch(holder.for_user, msgs[s:s + batch],
                                lambda uid: UserState.from_bytes(store[uid]) if uid in store else None, 20)
            for uid, st in res.states.items():
                store[uid] = st.to_bytes()
            for rl in res.lists:
                d = json.loads(rl.to_bytes())
                lists.append([d["user_id"], d["cause_event_id"], d["strategy"],
                              [i["movie_id"] for i in d["items"]], [i["score"] for i in d["items"]]])
    Path(out).write_text(json.dumps(lists))
    print(len(lists), "lists")


def compare(a_path: str, b_path: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.ranking import ranking_difference

    a, b = json.loads(Path(a_path).read_text()), json.loads(Path(b_path).read_text())
    assert len(a) == len(b), (len(a), len(b))
    exact = sum(x == y for x, y in zip(a, b))
    beyond = sum(x[:3] != y[:3] or ranking_difference(x[3], x[4], y[3], y[4]) is not None for x, y in zip(a, b))
    print(f"{len(a)} lists; {exact} identical (ids, scores, strategy); {beyond} differ beyond ties")


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(Path(sys.argv[2]), sys.argv[3], sys.argv[4], batch=int(sys.argv[5]) if len(sys.argv) > 5 else 128)
    else:
        compare(sys.argv[2], sys.argv[3])
