"""Typed configuration of the offline pipeline (one pydantic model per component)."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from offline.models.content import ContentConfig
from offline.models.popularity import PopularityConfig
from offline.models.svd import SVDConfig


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilterConfig(_Config):
    min_user_ratings: int = Field(10, ge=1, description="Users with fewer ratings are dropped (iteratively).")
    min_movie_ratings: int = Field(5, ge=1, description="Movies with fewer ratings are dropped (iteratively).")


class SplitConfig(_Config):
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of each user's time line for validation.")
    test_fraction: float = Field(0.1, gt=0, lt=0.5, description="Newest share of each user's time line for test.")


class ALSConfig(_Config):
    factors: int = Field(64, ge=1, description="Latent dimension k.")
    regularization: float = Field(
        100.0, ge=0, description="L2 weight lambda, applied as given (not scaled by counts); chosen on val NDCG@10."
    )
    alpha: float = Field(15.0, gt=0, description="Confidence slope: C = 1 + alpha * |preference|.")
    iterations: int = Field(15, ge=1, description="ALS sweeps (users then items).")
    seed: int = Field(42, description="Seed of the factor initialisation.")
    use_cg: bool = Field(True, description="Conjugate-gradient solver (False: exact Cholesky).")
    num_threads: int = Field(0, ge=0, description="implicit's threads; 0 = all cores.")


class EvalConfig(_Config):
    ks: tuple[int, ...] = Field((10, 20), description="Cut-offs K of the ranking metrics.")
    batch_size: int = Field(1024, ge=1, description="Users scored per batch.")
    max_users: int | None = Field(
        20_000, ge=1, description="Evaluate a seeded sample of at most this many users per split (None: all)."
    )
    seed: int = Field(7, description="Seed of the evaluated-user sample.")
    workers: int = Field(
        0, ge=0, description="Threads running the (split, model) evaluations; 0 = one per CPU core."
    )


class NeighboursConfig(_Config):
    method: Literal["auto", "ease", "cooccurrence", "none"] = Field(
        "auto", description="Item-neighbour rows for the online overlay: EASE up to max_ease_movies, else "
        "co-occurrence cosine ('auto'); 'none' writes none.")
    k: int = Field(100, ge=1, description="Neighbours kept per movie (sparse rows).")
    ease_regularization: float = Field(300.0, gt=0, description="EASE lambda; chosen on the val replay.")
    max_ease_movies: int = Field(20_000, ge=1, description="Largest catalogue solved by EASE (O(n^3) time, n^2 memory).")
    max_user_items: int | None = Field(
        200, ge=1, description="Co-occurrence only: a user with more train interactions counts a seeded random "
        "sample of this many (the cost grows with the square of a user's count); None: all.")
    seed: int = Field(11, description="Seed of that sample.")


class PipelineConfig(_Config):
    filter: FilterConfig = FilterConfig()
    split: SplitConfig = SplitConfig()
    als: ALSConfig = ALSConfig()
    popularity: PopularityConfig = PopularityConfig()
    content: ContentConfig = ContentConfig()
    svd: SVDConfig = SVDConfig()
    evaluation: EvalConfig = EvalConfig()
    neighbours: NeighboursConfig = NeighboursConfig()
    run_svd: bool = Field(True, description="Also fit the rating-prediction models (SVD, biases).")

    @classmethod
    def from_file(cls, path: Path | None) -> PipelineConfig:
        """Read a JSON or TOML file (missing keys keep their defaults); None gives defaults."""
        if path is None:
            return cls()
        text = Path(path).read_text(encoding="utf-8")
        raw = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
        return cls.model_validate(raw)
