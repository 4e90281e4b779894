"""Train implicit's ALS on the signed-confidence matrix (adapter around ``implicit``)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from offline.config import ALSConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ALSFactors:
    """Trained factors. user_factors (n_users, k) and item_factors (n_movies, k), float32."""

    user_factors: npt.NDArray[np.float32]
    item_factors: npt.NDArray[np.float32]
    iteration_seconds: list[float] = field(default_factory=list)


def train_als(confidence: sp.csr_matrix, config: ALSConfig, show_progress: bool = True) -> ALSFactors:
    """Fit implicit ALS on ``confidence`` (users, movies) float32 CSR storing
    sign(p)·(1 + α|p|): positive → liked with that confidence, negative → not liked.

    BLAS is limited to one thread during the fit, as implicit advises (its own threads
    parallelise over users/items).
    """
    from implicit.cpu.als import AlternatingLeastSquares  # heavy import, only when training

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=config.factors,
            regularization=config.regularization,
            alpha=1.0,  # the confidence is already in the matrix
            iterations=config.iterations,
            use_cg=config.use_cg,
            num_threads=config.num_threads,
            random_state=config.seed,
            dtype=np.float32,
        )
    seconds: list[float] = []

    def on_iteration(iteration: int, elapsed: float, loss: float) -> None:
        seconds.append(float(elapsed))

    with threadpool_limits(1, "blas"):
        t0 = time.perf_counter()
        model.fit(confidence.astype(np.float32).tocsr(), show_progress=show_progress, callback=on_iteration)
        log.info("ALS fit: %d iterations in %.1fs", config.iterations, time.perf_counter() - t0)
    return ALSFactors(
        np.ascontiguousarray(model.user_factors, dtype=np.float32),
        np.ascontiguousarray(model.item_factors, dtype=np.float32),
        seconds,
    )
