"""The offline pipeline: MovieLens files in, one evaluated, versioned artifact out.

Stages: load → preferences → filter → split → matrices → movies → baselines → neighbours
(item-neighbour rows for the online overlay) → train_als → evaluate → write, the split
tables encoded on a second thread from split until ALS. Each stage is timed (rows in/out,
seconds, peak memory); the artifact is written atomically, so a run that fails at any stage
leaves no version behind.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from offline.als import train_als
from offline.artifacts import new_version_name, parquet_bytes_of_rows, write_version
from offline.config import PipelineConfig
from offline.data.errors import DataError
from offline.data.loaders import Dataset, load_dataset
from offline.dataset_matrices import SplitMatrices, build_matrices
from offline.filtering import FilterRound, core_filter
from offline.heap import retained_heap
from offline.model_eval import TrainedModels, evaluate_all
from offline.models.content import ContentModel
from offline.models.popularity import PopularityModel
from offline.models.svd import SVDRatingModel
from offline.neighbours import fit_neighbours
from offline.movies import clean_movies, genre_matrix
from offline.preference import rating_to_preference
from offline.split import SPLIT_NAMES, chronological_split
from offline.stages import StageLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResult:
    version: str
    path: Path
    metrics: dict[str, Any]
    stages: list[dict[str, Any]]
    filter_rounds: list[FilterRound]
    info: dict[str, Any]


def data_fingerprint(ratings: pd.DataFrame) -> str:
    """sha256 over the loaded ratings columns (user, movie, rating, timestamp).

    Hashes the column buffers in place (no byte copies); hashlib releases the GIL meanwhile,
    so ``prepare`` runs it on a second thread beside the next stages.
    """
    h = hashlib.sha256()
    for col in ("user_id", "movie_id", "rating", "timestamp"):
        h.update(np.ascontiguousarray(ratings[col].to_numpy()))
    return h.hexdigest()


def catalogue_movies(movies: pd.DataFrame, movie_ids: np.ndarray) -> pd.DataFrame:
    """Movies table in catalogue (movie index) order; rated movies missing from the
    movies file get a placeholder title and no genres."""
    table = clean_movies(movies).set_index("movie_id").reindex(movie_ids)
    missing = table["title"].isna().to_numpy()
    if missing.any():
        log.warning("%d rated movies are absent from the movies file", int(missing.sum()))
        table.loc[missing, "title"] = [f"movie {m}" for m in movie_ids[missing]]
        table.loc[missing, "clean_title"] = table.loc[missing, "title"]
        table.loc[missing, "genres"] = "(no genres listed)"
        table["genre_list"] = [g if isinstance(g, list) else [] for g in table["genre_list"]]
    return table.reset_index().rename(columns={"index": "movie_id"})


_SPLIT_COLUMNS = ["user_id", "movie_id", "rating", "preference", "timestamp"]


@dataclass(frozen=True)
class PreparedData:
    """The data every model is fitted and evaluated on: loaded, filtered, split, as matrices.

    ``ratings`` holds the filtered rows with ``preference``; ``split`` (n,) int8 split codes
    aligned with it; ``counts`` rows per split name.
    """

    dataset: Dataset
    fingerprint: str
    ratings: pd.DataFrame
    rounds: list[FilterRound]
    split: np.ndarray
    counts: dict[str, int]
    mats: SplitMatrices


AfterSplit = Callable[[pd.DataFrame, np.ndarray], None]
"""Called with the filtered ratings and their (n,) int8 split codes as soon as they exist."""


def prepare(
    data: Path, config: PipelineConfig, stages: StageLog | None = None, after_split: AfterSplit | None = None
) -> PreparedData:
    """Stages load → preferences → filter → split → matrices (one code path for the pipeline
    and the hyperparameter search); each is recorded in ``stages`` when given. ``after_split``
    may start work on the split rows (e.g. on another thread) before the matrices are built.

    Raises:
        DataError: unreadable data, or no rating left after core filtering.
    """
    with retained_heap():
        return _prepare(data, config, stages if stages is not None else StageLog(), after_split)


def _prepare(data: Path, config: PipelineConfig, stages: StageLog, after_split: AfterSplit | None) -> PreparedData:
    with stages.stage("load") as st:
        ds = load_dataset(Path(data))
        release_arrow_memory()
        st.rows_in, st.rows_out = ds.ratings_report.rows_read, len(ds.ratings)
        st.note = f"layout {ds.layout}; dropped {ds.ratings_report.rows_dropped}"
    with ThreadPoolExecutor(1, thread_name_prefix="fingerprint") as pool:
        fingerprint = pool.submit(data_fingerprint, ds.ratings)
        prep = _prepare_loaded(data, config, stages, ds, after_split)
    return replace(prep, fingerprint=fingerprint.result())


def _prepare_loaded(
    data: Path, config: PipelineConfig, stages: StageLog, ds: Dataset, after_split: AfterSplit | None
) -> PreparedData:
    """Stages preferences → filter → split → matrices of ``prepare`` (fingerprint left empty)."""
    ratings = ds.ratings
    with stages.stage("preferences", len(ratings)) as st:
        ratings = ratings.assign(preference=rating_to_preference(ratings["rating"].to_numpy()))
        st.rows_out = len(ratings)
    with stages.stage("filter", len(ratings)) as st:
        ratings, rounds = core_filter(ratings, config.filter.min_user_ratings, config.filter.min_movie_ratings)
        st.rows_out, st.note = len(ratings), f"{len(rounds) - 1} rounds"
        if ratings.empty:
            raise DataError(
                data,
                f"no ratings left after core filtering (min_user_ratings={config.filter.min_user_ratings}, "
                f"min_movie_ratings={config.filter.min_movie_ratings})",
                rows=rounds[0].ratings,
            )
    with stages.stage("split", len(ratings)) as st:
        split = chronological_split(ratings, config.split.val_fraction, config.split.test_fraction).to_numpy()
        counts = {name: int((split == code).sum()) for code, name in enumerate(SPLIT_NAMES)}
        st.rows_out, st.note = len(split), " / ".join(f"{n} {c}" for n, c in counts.items())
    if after_split is not None:
        after_split(ratings, split)
    with stages.stage("matrices", len(ratings)) as st:
        mats = build_matrices(ratings, split, config.als.alpha)
        st.rows_out, st.note = mats.confidence.nnz, f"{mats.shape[0]} users x {mats.shape[1]} movies"
    return PreparedData(ds, "", ratings, rounds, split, counts, mats)


def _encode_split_tables(ratings: pd.DataFrame, split: np.ndarray) -> dict[str, bytes]:
    """Parquet bytes of the train, val and test rows of ``ratings`` (``_SPLIT_COLUMNS``, no index)."""
    table = ratings[_SPLIT_COLUMNS]
    out = {name: parquet_bytes_of_rows(table, split == code) for code, name in enumerate(SPLIT_NAMES)}
    release_arrow_memory()
    return out


def release_arrow_memory() -> None:
    """Hand the memory Arrow's pool keeps after a big read or write back to the OS.

    Arrow's allocator (mimalloc) keeps freed buffers for itself (~340 MB after loading
    ML-20M), which numpy cannot reuse: it takes fresh pages instead, and on this VM a page
    touched for the first time is slow. Returning them lets the stages that follow reuse
    those pages.
    """
    pa.default_memory_pool().release_unused()


def run_pipeline(
    data: Path, artifacts: Path, config: PipelineConfig | None = None, show_progress: bool = True,
    update_pointer: bool = True, provenance: Mapping[str, Any] | None = None,
) -> PipelineResult:
    """Run every stage and write ``artifacts/<version>/``; return what was written.

    ``update_pointer=False`` leaves ``LATEST`` where it is (a challenger, see ``offline.retrain``).
    ``provenance`` overrides or adds to ``model_info.json``'s ``data`` entry (by default the
    path read), e.g. where a temporary folder's data came from.
    """
    with retained_heap():
        return _run_pipeline(data, artifacts, config, show_progress, update_pointer, provenance)


def _run_pipeline(
    data: Path, artifacts: Path, config: PipelineConfig | None, show_progress: bool, update_pointer: bool,
    provenance: Mapping[str, Any] | None,
) -> PipelineResult:
    """``run_pipeline``. The stages that do not need ALS's factors (baselines, neighbours) run
    before it, beside the encoding of the split tables, which Arrow does without the GIL on a
    second thread from the moment the split exists: on the core that the single-threaded
    matrices and model fits leave idle. It is finished before ALS starts, so nothing runs
    beside ALS (which uses both cores)."""
    config = config or PipelineConfig()
    stages = StageLog()
    pool = ThreadPoolExecutor(1, thread_name_prefix="split-tables")
    encoded: list[Future[dict[str, bytes]]] = []

    def encode(ratings: pd.DataFrame, split: np.ndarray) -> None:
        encoded.append(pool.submit(_encode_split_tables, ratings, split))

    try:
        prep = prepare(data, config, stages, after_split=encode)
    finally:
        pool.shutdown(wait=False)  # the thread ends after its one task
    ds, fingerprint, ratings, rounds = prep.dataset, prep.fingerprint, prep.ratings, prep.rounds
    counts, mats = prep.counts, prep.mats
    with stages.stage("movies", len(ds.movies)) as st:
        movies = catalogue_movies(ds.movies, mats.movies.ids)
        item_genres, genre_names = genre_matrix(movies)
        years = movies["year"].astype("float64").to_numpy()
        st.rows_out = len(movies)
    with stages.stage("baselines", mats.train_ratings.nnz) as st:
        popularity = PopularityModel(config.popularity).fit(mats.train_ratings, values="rating")
        content = ContentModel(config.content).fit(item_genres, years)
        svd = SVDRatingModel(config.svd).fit(mats.train_ratings) if config.run_svd else None
        st.rows_out = mats.shape[1]
    with stages.stage("neighbours", mats.train.nnz) as st:
        # any train rating: what users watch together (train's structure shared, not copied)
        train = mats.train
        watched = sp.csr_matrix((np.ones(train.nnz, dtype=train.dtype), train.indices, train.indptr), shape=train.shape)
        neighbour_arrays, neighbour_info = fit_neighbours(watched, config.neighbours)
        st.rows_out, st.note = len(neighbour_arrays.get("neighbour_weights", ())), neighbour_info["method"]
    split_tables = encoded[0].result()  # before ALS: nothing runs beside it
    with stages.stage("train_als", mats.confidence.nnz) as st:
        factors = train_als(mats.confidence, config.als, show_progress=show_progress)
        st.rows_out = len(factors.user_factors) + len(factors.item_factors)
    models = TrainedModels(factors.user_factors, factors.item_factors, popularity, content, svd)
    with stages.stage("evaluate", mats.val.nnz + mats.test.nnz) as st:
        metrics = evaluate_all(mats, models, item_genres, config.evaluation, show_progress)
        st.rows_out = sum(int(m["als"]["n_users"]) for m in metrics.values())
    val = metrics["val"]
    cold_start = "count" if val["popularity_count"]["ndcg@10"] >= val["popularity_bayes"]["ndcg@10"] else "bayes"
    version = new_version_name(
        hashlib.sha256((fingerprint + json.dumps(config.model_dump(mode="json"), sort_keys=True)).encode()).hexdigest()
    )
    info = {
        "created_at": datetime.now(timezone.utc).isoformat(),
        "data": {
            "path": str(data),
            "layout": ds.layout,
            "fingerprint_sha256": fingerprint,
            "ratings_report": ds.ratings_report.as_dict(),
            "movies_report": ds.movies_report.as_dict(),
            **(provenance or {}),
        },
        "config": config.model_dump(mode="json"),
        "counts": {
            "users": mats.shape[0],
            "movies": mats.shape[1],
            **counts,
            "filter_rounds": [asdict(r) for r in rounds],
        },
        "als": {"factors": config.als.factors, "alpha": config.als.alpha,
                "regularization": config.als.regularization, "iteration_seconds": factors.iteration_seconds},
        "cold_start": cold_start,
        "neighbours": neighbour_info,
        "genres": list(genre_names),
        "stages": stages.as_dicts(),
        "libraries": {p: pkg_version(p) for p in ("implicit", "numpy", "scipy", "pandas")},
    }
    with stages.stage("write", 0) as st:
        movies_out = movies.assign(year=movies["year"].astype("Int32"))
        arrays = {
            "item_factors": factors.item_factors,
            "user_factors": factors.user_factors,
            "user_ids": mats.users.ids,
            "movie_ids": mats.movies.ids,
            "item_genres": item_genres.astype(np.float32),
            **neighbour_arrays,
        }
        tables = {
            "movies": movies_out,
            "popularity": popularity.table().assign(movie_id=mats.movies.ids),
            **split_tables,
        }
        path = write_version(Path(artifacts), version, arrays, tables, info, metrics, update_pointer)
        st.rows_out = len(arrays) + len(tables)
    return PipelineResult(version, path, metrics, stages.as_dicts(), rounds, info)
