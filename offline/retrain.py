"""Retrain on the original ratings plus the swipe history; register a challenger; compare.

``retrain`` does, in order:

1. **combine**: MovieLens ratings + history rows (``offline.data.history``: user_id,
   movie_id, rating, timestamp) into one frame; a (user, movie) pair in both keeps the row
   with the latest timestamp (the history's on a tie), written with the movies file to a
   temporary folder as ``ratings.parquet`` + ``movies.parquet``;
2. **train**: ``run_pipeline`` on it with ``update_pointer=False`` (``LATEST`` and so the
   champion stay put); the chronological split's newest period (``test``, each user's
   newest ~10 %) is where swipes land, being the newest events;
3. **register** the new version as the ``challenger`` (``offline.registry.promote``);
4. **compare** challenger and champion on the challenger's test split with the same code
   (:func:`evaluate_factors`): NDCG@10 over users with a liked test movie, each user's
   train + val movies excluded. Versions may differ in users and movies: ids are mapped;
   a recommended movie outside the new catalogue is a miss; a user the champion does not
   know gets an empty list, counted as a miss (``unknown_users="miss"``, the default: the
   challenger learnt those users, the champion did not) or left out of both models'
   means (``"exclude"``: the comparison on common users only);
5. **promote** (``auto_promote``): the challenger becomes champion (and ``LATEST``) when its
   NDCG@10 exceeds the champion's by more than ``margin``; with no champion at all it does.
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from offline.artifacts import ArtifactVersion, load_version
from offline.config import PipelineConfig
from offline.data.history import read_history
from offline.data.loaders import load_dataset
from offline.matrix import IdMap, interaction_matrix
from offline.metrics import accuracy_per_user
from offline.pipeline import run_pipeline
from offline.registry import load_aliases, promote
from offline.scoring import recommend

log = logging.getLogger(__name__)

RATING_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")
UnknownUsers = Literal["miss", "exclude"]


@dataclass(frozen=True)
class FactorScore:
    """A model's ranking quality on a holdout: mean ``ndcg`` and ``recall`` at ``k`` over
    ``n_users`` users, ``n_unknown`` of whom the model has no factors for."""

    ndcg: float
    recall: float
    n_users: int
    n_unknown: int


@dataclass(frozen=True)
class RetrainResult:
    """The challenger, the champion it was compared with (None: there was none) and the outcome."""

    challenger: str
    path: Path
    champion: str | None
    challenger_score: FactorScore
    champion_score: FactorScore | None
    history_rows: int
    combined_rows: int
    promoted: bool
    k: int = 10


def combine_ratings(ratings: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """One ratings frame (user_id int64, movie_id int64, rating float32, timestamp int64),
    sorted by user and movie; a duplicate (user, movie) keeps the latest timestamp, the
    history's row on a tie."""
    cols = list(RATING_COLUMNS)
    both = pd.concat([ratings[cols].assign(_src=0), history[cols].assign(_src=1)], ignore_index=True)
    both = both.sort_values(["timestamp", "_src"], kind="stable")
    both = both.drop_duplicates(["user_id", "movie_id"], keep="last").drop(columns="_src")
    both = both.astype({"user_id": "int64", "movie_id": "int64", "rating": "float32", "timestamp": "int64"})
    return both.sort_values(["user_id", "movie_id"], kind="stable").reset_index(drop=True)


def write_training_data(data: Path, history_dir: Path, out_dir: Path) -> tuple[int, int]:
    """Write ``out_dir/ratings.parquet`` (combined) and ``out_dir/movies.parquet``; returns
    (history rows, combined rows)."""
    ds = load_dataset(Path(data))
    history = read_history(Path(history_dir))
    combined = combine_ratings(ds.ratings, history)
    out_dir.mkdir(parents=True, exist_ok=True)
    combined.to_parquet(out_dir / "ratings.parquet", index=False)
    ds.movies[["movie_id", "title", "genres"]].to_parquet(out_dir / "movies.parquet", index=False)
    log.info("training data: %d ratings + %d swipes -> %d rows", len(ds.ratings), len(history), len(combined))
    return len(history), len(combined)


def _mean(values: npt.NDArray[np.float64]) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _sample(users: npt.NDArray[np.int64], max_users: int | None, seed: int) -> npt.NDArray[np.int64]:
    if max_users is None or len(users) <= max_users:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))


def evaluate_factors(
    user_factors: npt.NDArray[np.float32], item_factors: npt.NDArray[np.float32],
    user_ids: npt.NDArray[np.int64], movie_ids: npt.NDArray[np.int64],
    seen: pd.DataFrame, holdout: pd.DataFrame, k: int = 10, unknown_users: UnknownUsers = "miss",
    max_users: int | None = None, seed: int = 7, batch_size: int = 1024,
) -> FactorScore:
    """NDCG@k and recall@k of one model's factors on a holdout given by external ids.

    Args:
        user_factors, item_factors: (n_users, f), (n_movies, f) float32.
        user_ids, movie_ids: (n_users,), (n_movies,) int64 external ids of their rows.
        seen: user_id, movie_id rows excluded from each user's list (train + val).
        holdout: user_id, movie_id, preference rows; relevant = preference > 0.
        unknown_users: users without factors count as misses ("miss") or are left out.
        max_users, seed: evaluate a seeded sample of at most this many users.

    Per user (``offline.metrics``): NDCG@k = Σ_{r≤k} rel_r / log2(r + 1) / IDCG@k, with
    IDCG@k over min(k, |liked|) hits; recall@k = hits / |liked|; both averaged over users.
    """
    liked = holdout.loc[holdout["preference"] > 0, ["user_id", "movie_id"]]
    users = _sample(np.unique(liked["user_id"].to_numpy(np.int64)), max_users, seed)
    catalogue = IdMap.from_values(np.concatenate([movie_ids, liked["movie_id"].to_numpy(np.int64)]))
    eval_users = IdMap(users)
    liked = liked[eval_users.index_of(liked["user_id"].to_numpy()) >= 0]
    relevant = interaction_matrix(eval_users.index_of(liked["user_id"].to_numpy()),
                                  catalogue.index_of(liked["movie_id"].to_numpy()),
                                  np.ones(len(liked), np.float32), (len(users), len(catalogue)))
    model_users, model_movies = IdMap(np.asarray(user_ids, np.int64)), IdMap(np.asarray(movie_ids, np.int64))
    row = model_users.index_of(users)
    known = np.flatnonzero(row >= 0)
    seen_u = model_users.index_of(seen["user_id"].to_numpy())
    seen_m = model_movies.index_of(seen["movie_id"].to_numpy())
    ok = (seen_u >= 0) & (seen_m >= 0)
    exclude = interaction_matrix(seen_u[ok], seen_m[ok], np.ones(int(ok.sum()), np.float32),
                                 (len(model_users), len(model_movies)))
    exclude.data[:] = 1.0  # a pair seen twice (train and val) still just excludes
    lists = np.full((len(users), k), -1, dtype=np.int64)
    to_catalogue = catalogue.index_of(model_movies.ids)  # model movie index -> catalogue index
    for start in range(0, len(known), batch_size):
        batch = known[start:start + batch_size]
        top, _ = recommend(user_factors[row[batch]], item_factors, k, exclude[row[batch]])
        lists[batch] = np.where(top >= 0, to_catalogue[np.maximum(top, 0)], -1)
    keep = np.arange(len(users)) if unknown_users == "miss" else known
    acc = accuracy_per_user(lists[keep], relevant[keep], k)
    return FactorScore(_mean(acc["ndcg"]), _mean(acc["recall"]), len(keep), int(len(users) - len(known)))


def score_version(art: ArtifactVersion, seen: pd.DataFrame, holdout: pd.DataFrame, k: int = 10,
                  unknown_users: UnknownUsers = "miss", max_users: int | None = None, seed: int = 7) -> FactorScore:
    """:func:`evaluate_factors` of a loaded version's ALS factors."""
    a = art.arrays
    return evaluate_factors(a["user_factors"], a["item_factors"], a["user_ids"], a["movie_ids"], seen, holdout,
                            k, unknown_users, max_users, seed)


def compare_versions(root: Path, challenger: str, champion: str | None, k: int = 10,
                     unknown_users: UnknownUsers = "miss", max_users: int | None = None,
                     seed: int = 7) -> tuple[FactorScore, FactorScore | None]:
    """(challenger, champion) scores on the challenger's test split, its train + val seen;
    the champion's is None when there is no champion."""
    new = load_version(Path(root), challenger)
    seen = pd.concat([new.tables["train"], new.tables["val"]], ignore_index=True)
    test = new.tables["test"]
    if champion is None:
        return score_version(new, seen, test, k, unknown_users, max_users, seed), None
    old = load_version(Path(root), champion)
    if unknown_users == "exclude":  # score both models on the users both know
        test = test[np.isin(test["user_id"].to_numpy(), old.arrays["user_ids"])]
    return (score_version(new, seen, test, k, unknown_users, max_users, seed),
            score_version(old, seen, test, k, unknown_users, max_users, seed))


def retrain(data: Path, history_dir: Path, artifacts: Path, config: PipelineConfig | None = None,
            auto_promote: bool = False, margin: float = 0.0, unknown_users: UnknownUsers = "miss",
            by: str | None = None, show_progress: bool = False, k: int = 10) -> RetrainResult:
    """Train a challenger on ``data`` + the history, register it, compare, maybe promote it."""
    config = config or PipelineConfig()
    root = Path(artifacts)
    champion_entry = load_aliases(root).champion
    champion = champion_entry.version if champion_entry is not None else None
    with tempfile.TemporaryDirectory(prefix="movierec-retrain-") as tmp:
        n_history, n_combined = write_training_data(Path(data), Path(history_dir), Path(tmp))
        if n_history == 0:
            log.warning("no swipe history under %s: retraining on %s alone", history_dir, data)
        provenance = {"path": str(data), "history": str(history_dir), "history_swipes": n_history,
                      "combined_ratings": n_combined}  # not the temporary folder
        result = run_pipeline(Path(tmp), root, config, show_progress=show_progress, update_pointer=False,
                              provenance=provenance)
    version = result.version
    promote(root, version, "challenger", by=by, why=f"retrain on {data} + {n_history} swipes from {history_dir}")
    new_score, old_score = compare_versions(root, version, champion, k, unknown_users,
                                            config.evaluation.max_users, config.evaluation.seed)
    wins = old_score is None or new_score.ndcg - old_score.ndcg > margin
    promoted = False
    if auto_promote and wins:
        why = (f"auto-promoted by retrain: ndcg@{k} {new_score.ndcg:.4f} vs champion "
               + ("none" if old_score is None else f"{old_score.ndcg:.4f}") + f" (margin {margin:g})")
        promote(root, version, "champion", by=by, why=why)
        promoted = True
    log.info("challenger %s ndcg@%d %.4f; champion %s %s; promoted: %s", version, k, new_score.ndcg, champion,
             "-" if old_score is None else f"{old_score.ndcg:.4f}", promoted)
    return RetrainResult(version, result.path, champion, new_score, old_score, n_history, n_combined, promoted, k)


def read_metric(path: Path, key: str) -> float:
    """The number at dotted ``key`` of a JSON file, e.g. ``overall.rate`` or
    ``variants.champion.rate`` of ``movierec ab report --json``.

    Raises:
        KeyError: a part of ``key`` is missing. ValueError: the value is not a number.
    """
    node: object = json.loads(Path(path).read_text(encoding="utf-8"))
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"{key!r} not found in {path} (missing {part!r})")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ValueError(f"{key!r} in {path} is {node!r}, not a number")
    return float(node)
