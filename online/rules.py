"""The ``UpdateRule`` protocol and the registry of named strategies (pure numpy/scipy).

A strategy decides three things for one model: the user vector after a swipe (``update``),
the vector of a state it did not compute itself (``derive``: another model version, another
strategy, or no swipe yet; ``derive_many`` for a batch) and what, besides the vector's dot
products, lifts movies in the list (``overlay``, the item-neighbour rows; None for most). A
``stateless`` rule's vector is a function of the view alone (the artifact's vector, history
and swipes), so a state need not carry it: the serving model derives it for a whole batch
when it ranks, once per user and batch instead of once per swipe. New users: a rule with
``blends_cold_start`` gets a vector from the first swipe and its list score takes over from
the genre cold start over ``BlendSettings.swipes`` swipes (``model_share``); the others switch
at ``cold_start_swipes``.

Adding a strategy is one class here, registered with ``@register``, plus its settings in
``online.settings``. The serving ``offline.recommender.Recommender``, the worker, the replay,
the demo and the tests all take their strategy from ``STRATEGIES``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from online.additions import ScoreAdditions
from online.additive import AdditiveRule
from online.foldin import FoldIn
from online.frozen import unchecked
from online.overlay import FEW_USERS, NeighbourOverlay
from online.recency import RecencyFoldIn

if TYPE_CHECKING:
    from online.settings import OnlineSettings

FloatArray = npt.NDArray[np.float32]
Interactions = tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]
"""(n,) int64 movie indices and (n,) int8 preferences, oldest first."""
_EMPTY: Interactions = (np.zeros(0, np.int64), np.zeros(0, np.int8))
SOLVE_ONE_BY_ONE = 8
"""Up to this many users, ``Recency.derive_many`` solves user by user: the batched solve's ~40
numpy calls cost more (bench/strategies.py's model, 27k movies x 64 factors: one by one is
cheaper at 2, 4 and 8 users, the batch at 16)."""


@dataclass(frozen=True, eq=False)
class ModelContext:
    """What a rule knows of the model it serves.

    Attributes:
        item_factors: (n_movies, k) float32; user_factors: (n_users, k) float32.
        regularization, alpha: the ALS training values.
        neighbours: (n_movies, n_movies) float32 CSR item-neighbour rows, or None (the
            artifact has none: overlays add nothing).
    """

    item_factors: FloatArray
    user_factors: FloatArray
    regularization: float
    alpha: float
    neighbours: sp.csr_matrix | None = None


@dataclass(frozen=True)
class UserView:
    """One user as a rule sees them (indices into this model's catalogue).

    Attributes:
        offline: (k,) the artifact's vector; None for a user the model never saw.
        history: all of the user's interactions the artifact knows (unordered; movie indices
            in any integer type, e.g. read-only int32 views of the artifact's matrix).
        recent: the newest ``recent_history`` of them, oldest first.
        swipes: the online swipes, oldest first.
        vector: (k,) the state's vector when this model and strategy computed it, else None.
        elapsed: seconds from the user's previous swipe to the one being applied.
    """

    offline: FloatArray | None
    history: Interactions = _EMPTY
    recent: Interactions = _EMPTY
    swipes: Interactions = _EMPTY
    vector: FloatArray | None = None
    elapsed: float = 0.0

    @classmethod
    def of(cls, offline: FloatArray | None, history: Interactions, recent: Interactions, swipes: Interactions,
           vector: FloatArray | None, elapsed: float) -> UserView:
        """``UserView(...)`` of all six fields without the frozen dataclass ``__init__``
        (``online.frozen``: one per user and batch)."""
        return unchecked(cls, offline=offline, history=history, recent=recent, swipes=swipes, vector=vector,
                         elapsed=elapsed)

    @property
    def n_swipes(self) -> int:
        return len(self.swipes[0])

    def with_swipe(self, movie: int, preference: int) -> UserView:
        """This view with one more swipe and no stored vector."""
        m, p = self.swipes
        return replace(self, swipes=(np.append(m, np.int64(movie)), np.append(p, np.int8(preference))), vector=None)

    def sequence(self) -> Interactions:
        """(n,) recent history then swipes, oldest first (computed once per view)."""
        cached = self.__dict__.get("_sequence")
        if cached is None:
            cached = (np.concatenate((self.recent[0], self.swipes[0])).astype(np.int64, copy=False),
                      np.concatenate((self.recent[1], self.swipes[1])).astype(np.int8, copy=False))
            object.__setattr__(self, "_sequence", cached)
        return cached

    def sequence_lists(self) -> tuple[list[int], list[int]]:
        """``sequence`` as lists of ints (computed once per view): the one-user paths read a few
        dozen entries, cheaper in Python than in numpy calls (~1-4 us each)."""
        cached = self.__dict__.get("_sequence_lists")
        if cached is None:
            cached = (self.recent[0].tolist() + self.swipes[0].tolist(),
                      self.recent[1].tolist() + self.swipes[1].tolist())
            object.__setattr__(self, "_sequence_lists", cached)
        return cached


def sequences(views: Sequence[UserView]) -> list[Interactions]:
    """``view.sequence()`` of each view; those not yet computed come from one concatenation of
    all their parts, as read-only slices of it (two numpy calls per batch, not per user)."""
    todo = [v for v in views if "_sequence" not in v.__dict__]
    if len(todo) > 1:
        movies = np.concatenate([a for v in todo for a in (v.recent[0], v.swipes[0])]).astype(np.int64, copy=False)
        prefs = np.concatenate([a for v in todo for a in (v.recent[1], v.swipes[1])]).astype(np.int8, copy=False)
        movies.flags.writeable = prefs.flags.writeable = False
        start = 0
        for v in todo:
            end = start + len(v.recent[0]) + len(v.swipes[0])
            object.__setattr__(v, "_sequence", (movies[start:end], prefs[start:end]))
            start = end
    return [v.sequence() for v in views]


class UpdateRule(Protocol):
    """What every strategy provides (see the module docstring)."""

    name: ClassVar[str]
    blends_cold_start: ClassVar[bool]
    stateless: ClassVar[bool]

    def derive(self, user: UserView) -> FloatArray | None:
        """(k,) vector of a user whose state holds none for this model and strategy; None: cold."""

    def derive_many(self, users: Sequence[UserView]) -> list[FloatArray | None]:
        """``derive`` for a batch (the same vectors up to rounding)."""

    def update(self, user: UserView, movie: int, preference: int) -> FloatArray | None:
        """(k,) vector after ``user`` (before the swipe) swipes ``movie`` (index) with ``preference``."""

    def overlay(self, users: Sequence[UserView]) -> ScoreAdditions | None:
        """(b, n_movies) score additions in standardised units, or None (none)."""

    def model_share(self, user: UserView) -> float:
        """Weight in [0, 1] of the model's scores against the cold start's in the user's list."""


STRATEGIES: dict[str, Callable[[ModelContext, OnlineSettings], UpdateRule]] = {}
"""Strategy name -> constructor ``(context, settings) -> rule``, in registration order."""


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add ``cls`` to ``STRATEGIES`` under ``cls.name``."""
    STRATEGIES[cls.name] = cls
    return cls


def make_rule(context: ModelContext, settings: OnlineSettings) -> UpdateRule:
    """The rule named ``settings.strategy`` for ``context``."""
    return STRATEGIES[settings.strategy](context, settings)


class Rule:
    """Shared behaviour: no overlay, hard cold-start switch, the offline vector when cold."""

    name: ClassVar[str] = ""
    blends_cold_start: ClassVar[bool] = False
    stateless: ClassVar[bool] = True

    def __init__(self, context: ModelContext, settings: OnlineSettings) -> None:
        self.context, self.settings = context, settings
        lam = settings.foldin_regularization or context.regularization
        self.foldin = FoldIn.from_factors(context.item_factors, lam)

    def warm(self, user: UserView) -> bool:
        """Known to the model, or enough swipes for a vector of their own."""
        need = 1 if self.blends_cold_start else self.settings.cold_start_swipes
        return user.offline is not None or user.n_swipes >= need

    def exact_foldin(self, user: UserView) -> FloatArray | None:
        """The ALS fold-in of history + swipes; the offline vector without swipes; None while cold."""
        if not user.n_swipes:
            return user.offline
        if not self.warm(user):
            return None
        # x_u = (YtY + Yᵀ(C_u − I)Y + λI)⁻¹ YᵀC_u p_u over history + swipes
        return self.foldin.solve(np.concatenate((user.history[0], user.swipes[0])),
                                 np.concatenate((user.history[1], user.swipes[1])), self.context.alpha)

    def derive(self, user: UserView) -> FloatArray | None:
        return self.exact_foldin(user)

    def derive_many(self, users: Sequence[UserView]) -> list[FloatArray | None]:
        return [self.derive(u) for u in users]

    def update(self, user: UserView, movie: int, preference: int) -> FloatArray | None:
        return self.derive(user.with_swipe(movie, preference))

    def overlay(self, users: Sequence[UserView]) -> ScoreAdditions | None:
        return None

    def model_share(self, user: UserView) -> float:
        if user.offline is not None or not self.blends_cold_start:
            return 1.0
        swipes = self.settings.blend.swipes
        return 1.0 if swipes == 0 and self.warm(user) else min(1.0, user.n_swipes / max(swipes, 1))


@register
class Static(Rule):
    """The offline vector, never changed."""

    name = "static"

    def derive(self, user: UserView) -> FloatArray | None:
        return user.offline

    def update(self, user: UserView, movie: int, preference: int) -> FloatArray | None:
        return None


@register
class Additive(Rule):
    """``u <- decay u + eta p~ m`` from the current vector (``online.additive``); the exact
    fold-in where there is no current vector."""

    name = "additive"
    stateless = False  # each swipe moves the previous vector

    def __init__(self, context: ModelContext, settings: OnlineSettings) -> None:
        super().__init__(context, settings)
        self.additive = AdditiveRule.from_settings(context.user_factors, context.item_factors, settings.additive)

    def update(self, user: UserView, movie: int, preference: int) -> FloatArray | None:
        current = user.vector if user.vector is not None else self.derive(user)
        if current is None:
            return self.derive(user.with_swipe(movie, preference))
        return self.additive.apply(current, self.context.item_factors[movie], preference, user.elapsed)


@register
class ExactFoldIn(Rule):
    """The exact ALS fold-in of history + swipes (``online.foldin``)."""

    name = "foldin"


@register
class Recency(Rule):
    """The recency-weighted fold-in of the newest interactions around the offline vector."""

    name = "recency"
    blends_cold_start = True

    def __init__(self, context: ModelContext, settings: OnlineSettings) -> None:
        super().__init__(context, settings)
        r = settings.recency
        self.recency = RecencyFoldIn.from_factors(context.item_factors, r.regularization, context.alpha, r.boost,
                                                  r.decay, r.window, r.anchor, settings.compiled_kernels)

    def derive(self, user: UserView) -> FloatArray | None:
        if not user.n_swipes or not self.warm(user):
            return user.offline
        return self.recency.solve_parts(user.offline, user.recent, user.swipes, user.sequence_lists)

    def derive_many(self, users: Sequence[UserView]) -> list[FloatArray | None]:
        out: list[FloatArray | None] = [u.offline for u in users]
        solve = [i for i, u in enumerate(users) if u.n_swipes and self.warm(u)]
        if len(solve) > SOLVE_ONE_BY_ONE:  # the batched (Woodbury) solve
            vectors = self.recency.solve_many([users[i].offline for i in solve], sequences([users[i] for i in solve]))
            for row, i in enumerate(solve):
                out[i] = vectors[row]
        else:  # a few users: the one-user solve each (fewer numpy calls than the batched one)
            for i in solve:
                out[i] = self.derive(users[i])
        return out


class _WithOverlay(Rule):
    """Adds the item-neighbour overlay (``online.overlay``) to a vector rule's scores."""

    blends_cold_start = True

    def __init__(self, context: ModelContext, settings: OnlineSettings) -> None:
        super().__init__(context, settings)
        o = settings.overlay
        self.neighbours = None if context.neighbours is None else \
            NeighbourOverlay(context.neighbours, o.beta, o.decay, o.seeds, settings.compiled_kernels)

    def overlay(self, users: Sequence[UserView]) -> ScoreAdditions | None:
        if self.neighbours is None:
            return None
        if len(users) <= FEW_USERS:  # the compiled kernel user by user, or numpy on lists (shared with the solve)
            return self.neighbours.scores_parts([(u.recent, u.swipes) for u in users],
                                                lambda: [u.sequence_lists() for u in users])
        return self.neighbours.scores(sequences(users))


@register
class Neighbours(_WithOverlay, Static):
    """The static vector plus the overlay."""

    name = "neighbours"


@register
class RecencyNeighbours(_WithOverlay, Recency):
    """The recency-weighted fold-in plus the overlay."""

    name = "recency_neighbours"
