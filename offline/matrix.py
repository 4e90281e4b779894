"""Contiguous id mappings and sparse (users x movies) matrices (pure numpy/scipy)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


@dataclass(frozen=True)
class IdMap:
    """Sorted external ids; an id's index is its position. ``ids``: (n,) int64."""

    ids: npt.NDArray[np.int64]

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> IdMap:
        return cls(np.unique(np.asarray(values, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Indices of ``values``; -1 where a value is unknown."""
        v = np.asarray(values, dtype=np.int64)
        if len(self.ids) == 0:
            return np.full(v.shape, -1, dtype=np.int64)
        idx = np.minimum(np.searchsorted(self.ids, v), len(self.ids) - 1)
        return np.where(self.ids[idx] == v, idx, -1).astype(np.int64)

    def indices(self, values: list[int]) -> list[int]:
        """Indices of a few ids given as a list; -1 where an id is unknown (a dict look-up each:
        for a few dozen ids cheaper than ``index_of``'s numpy calls)."""
        get = self._positions.get
        return [get(v, -1) for v in values]

    def get(self, value: int) -> int | None:
        """Index of one id, or None."""
        return self._positions.get(int(value))

    @cached_property
    def _positions(self) -> dict[int, int]:
        """id -> index, built on the first ``get`` (one look-up per swipe: a dict beats a
        one-element searchsorted 10x)."""
        return dict(zip(self.ids.tolist(), range(len(self.ids))))


def interaction_matrix(
    user_index: npt.NDArray[np.int64],
    movie_index: npt.NDArray[np.int64],
    values: npt.ArrayLike,
    shape: tuple[int, int],
    dtype: npt.DTypeLike = np.float32,
) -> sp.csr_matrix:
    """CSR (users, movies) with ``values`` at (user_index, movie_index); indices sorted.

    Pairs must be unique (the loaders de-duplicate); a repeated pair would be summed.
    """
    m = sp.csr_matrix(
        (np.asarray(values, dtype=dtype), (user_index, movie_index)), shape=shape, dtype=dtype
    )
    m.sort_indices()
    return m
