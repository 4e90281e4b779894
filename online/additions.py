"""Additions to a batch's scores, applied in place after the catalogue-wide product (pure
numpy/scipy): the overlay's neighbour rows (``online.overlay``) as flat weighted entries
(``RowAdditions``), or, for a few users, as calls of the compiled ``seed_scatter`` kernel
(``SeedAdditions``). Both are ``ScoreAdditions``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from online.frozen import unchecked

try:  # SciPy's COO kernel y += A x: a weighted scatter-add in one call (a private module, so optional)
    from scipy.sparse._sparsetools import coo_matvec as _coo_matvec
except ImportError:  # pragma: no cover - depends on the SciPy build
    _coo_matvec = None

FloatArray = npt.NDArray[np.float32]
Parts = tuple[np.ndarray, np.ndarray]
"""(n,) movie indices and (n,) preferences of part of a user's interactions, oldest first."""


class ScoreAdditions(Protocol):
    """(b, n_movies) additions to a batch's scores, applied in place."""

    shape: tuple[int, int]

    def add_to(self, dense: FloatArray) -> FloatArray: ...

    def toarray(self) -> FloatArray: ...


@dataclass(frozen=True, eq=False)
class RowAdditions:
    """(b, n_movies) score additions as flat entries, cheaper to build than a CSR matrix:
    entry e adds ``weights[group[e]] * values[e]`` at position ``flat[e]`` (positions may
    repeat: they sum).

    Attributes:
        flat: (m,) intp positions ``row * n_movies + movie``.
        values: (m,) float32 additions (unweighted).
        group: (m,) intp each entry's weight, or None (every weight 1).
        weights: (g,) float32 weights, or None.
        shape: (b, n_movies).
    """

    flat: npt.NDArray[np.intp]
    values: FloatArray
    shape: tuple[int, int]
    group: npt.NDArray[np.intp] | None = None
    weights: FloatArray | None = None

    @classmethod
    def of(cls, flat: npt.NDArray[np.intp], values: FloatArray, shape: tuple[int, int],
           group: npt.NDArray[np.intp] | None = None, weights: FloatArray | None = None) -> RowAdditions:
        """``RowAdditions(...)`` without the frozen dataclass ``__init__`` (``online.frozen``; one per batch)."""
        return unchecked(cls, flat=flat, values=values, shape=shape, group=group, weights=weights)

    def add_to(self, dense: FloatArray) -> FloatArray:
        """``dense += self`` in place for a C-contiguous (b, n_movies) float32 array."""
        if dense.shape != self.shape or not dense.flags.c_contiguous:  # a copy's flat view would lose them
            raise ValueError(f"additions of shape {self.shape} need C-contiguous scores of that shape, "
                             f"got {dense.shape}")
        if self.group is None:
            # on the flat view with same-dtype values: numpy's fast path of ufunc.at (5x the 2-D one)
            np.add.at(dense.reshape(-1), self.flat, self.values)
        elif _coo_matvec is not None:
            # y[flat[e]] += values[e] * weights[group[e]] for every e, in order, in one C loop
            # (float32 products and sums, as below; ~5 us less than the two calls below)
            _coo_matvec(len(self.flat), self.flat, self.group, self.values, self.weights, dense.reshape(-1))
        else:
            np.add.at(dense.reshape(-1), self.flat, self.values * self.weights.take(self.group))
        return dense

    def toarray(self) -> FloatArray:
        """(b, n_movies) float32 dense sum."""
        return self.add_to(np.zeros(self.shape, np.float32))


class SeedAdditions:
    """A few users' overlays (b, n_movies), added user by user by the compiled
    ``online.kernels.seed_scatter`` (seeds found and their rows added in one call each)."""

    __slots__ = ("_scatter", "_users", "_max_seeds", "_weights", "_rows", "shape")

    def __init__(self, scatter: Callable[..., None], users: Sequence[tuple[Parts, Parts]], max_seeds: int,
                 weights: FloatArray, rows: tuple[npt.NDArray[np.intp], FloatArray]) -> None:
        self._scatter, self._users, self._max_seeds, self._weights, self._rows = \
            scatter, users, max_seeds, weights, rows
        self.shape = (len(users), rows[0].shape[0])

    def add_to(self, dense: FloatArray) -> FloatArray:
        """``dense += self`` in place for a C-contiguous (b, n_movies) float32 array."""
        if dense.shape != self.shape or dense.dtype != np.float32 or not dense.flags.c_contiguous:
            raise ValueError(f"additions of shape {self.shape} need C-contiguous float32 scores of that shape, "
                             f"got {dense.dtype} {dense.shape}")
        cols, vals = self._rows
        for row, ((rm, rp), (sm, sp)) in enumerate(self._users):
            self._scatter(rm, rp, sm, sp, self._max_seeds, self._weights, cols, vals, dense, row)
        return dense

    def toarray(self) -> FloatArray:
        """(b, n_movies) float32 dense sum."""
        return self.add_to(np.zeros(self.shape, np.float32))


__all__ = ["Parts", "RowAdditions", "ScoreAdditions", "SeedAdditions"]
