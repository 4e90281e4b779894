"""The strategy registry and the one settings model."""
from __future__ import annotations

import typing

import numpy as np
import pytest
from pydantic import ValidationError

from online.rules import STRATEGIES, ModelContext, UserView, make_rule, sequences
from online.settings import DEFAULT_STRATEGY, OnlineSettings
from schemas.events import Strategy

RNG = np.random.default_rng(1)
CONTEXT = ModelContext(RNG.normal(size=(30, 4)).astype(np.float32), RNG.normal(size=(5, 4)).astype(np.float32),
                       regularization=2.0, alpha=15.0)


def test_every_registered_strategy_is_in_the_list_contract_and_buildable() -> None:
    assert set(STRATEGIES) == {"static", "additive", "foldin", "recency", "neighbours", "recency_neighbours"}
    assert set(STRATEGIES) <= set(typing.get_args(Strategy))
    assert DEFAULT_STRATEGY in STRATEGIES
    for name in STRATEGIES:
        assert make_rule(CONTEXT, OnlineSettings(strategy=name)).name == name


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown strategy"):
        OnlineSettings(strategy="magic")


def test_cold_start_switch_and_blend() -> None:
    new = UserView(offline=None, swipes=(np.array([1, 2]), np.array([2, 2], np.int8)))
    foldin = make_rule(CONTEXT, OnlineSettings(strategy="foldin", cold_start_swipes=3))
    assert foldin.derive(new) is None and foldin.model_share(new) == 1.0
    assert foldin.derive(new.with_swipe(3, 2)) is not None
    blend = make_rule(CONTEXT, OnlineSettings.model_validate({"strategy": "recency", "blend": {"swipes": 4}}))
    assert blend.derive(new) is not None  # a vector from the first swipe
    assert blend.model_share(new) == 0.5 and blend.model_share(new.with_swipe(3, 2).with_swipe(4, 2)) == 1.0
    known = UserView(offline=CONTEXT.user_factors[0])
    assert blend.model_share(known) == 1.0
    np.testing.assert_array_equal(blend.derive(known), CONTEXT.user_factors[0])
    hard = make_rule(CONTEXT, OnlineSettings.model_validate({"strategy": "recency", "blend": {"swipes": 0}}))
    assert hard.model_share(new) == 1.0


def test_tuned_values_fill_only_what_was_not_set() -> None:
    explicit = OnlineSettings.model_validate({"strategy": "additive", "recency": {"boost": 7.0}})
    tuned = explicit.with_tuned({"strategy": "recency", "recency": {"boost": 2.0, "decay": 0.5},
                                 "overlay": {"beta": 9.0}, "unknown": 1})
    assert tuned.strategy == "additive" and tuned.recency.boost == 7.0 and tuned.recency.decay == 0.5
    assert tuned.overlay.beta == 9.0
    assert OnlineSettings().with_tuned({"strategy": "recency"}).strategy == "recency"
    with pytest.raises(ValidationError):
        OnlineSettings().with_tuned({"recency": {"boost": 0.1}})  # boost >= 1


def test_settings_travel_to_a_worker_through_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_app.settings import StreamSettings

    sent = OnlineSettings.model_validate({"strategy": "neighbours", "recency": {"anchor": 0.25},
                                          "overlay": {"seeds": 7}, "foldin_regularization": 12.5})
    for name, value in sent.as_env().items():
        monkeypatch.setenv(f"MOVIEREC_{name}", value)
    assert StreamSettings().online() == sent


def _view(rng: np.random.Generator, n_recent: int, n_swipes: int) -> UserView:
    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.integers(0, 1000, n).astype(np.int64), rng.choice(np.array([-2, -1, 1, 2], np.int8), n)

    return UserView.of(rng.standard_normal(4).astype(np.float32), part(3), part(n_recent), part(n_swipes), None, 0.0)


def test_a_batchs_sequences_are_each_views_own_and_read_only() -> None:
    rng = np.random.default_rng(0)
    views = [_view(rng, r, s) for r, s in ((0, 1), (5, 0), (3, 4), (0, 0), (7, 2))]
    cached = views[2].sequence()  # computed before: kept as it is
    got = sequences(views)
    assert got[2] is cached
    for v, (movies, prefs) in zip(views, got):
        assert movies.tolist() == v.recent[0].tolist() + v.swipes[0].tolist()
        assert prefs.tolist() == v.recent[1].tolist() + v.swipes[1].tolist()
        assert movies.dtype == np.int64 and prefs.dtype == np.int8
        assert v.sequence() is v.__dict__["_sequence"] and v.sequence()[0] is movies
    with pytest.raises(ValueError, match="read-only"):
        got[0][0][0] = 1  # slices of one array: a write would change a neighbour's sequence


def test_the_fast_constructors_equal_the_dataclass_ones() -> None:
    from online.state import UserState

    rng = np.random.default_rng(1)
    v = _view(rng, 2, 3)
    assert v == UserView(v.offline, v.history, v.recent, v.swipes, None, 0.0)
    a = UserState(7, None, np.array([3, 4]), np.array([1, -2], np.int8), 5.0, ("e",), 2, "m", "recency")
    b = UserState.of(7, None, a.movies, a.preferences, 5.0, ("e",), 2, "m", "recency")
    assert (a.user_id, a.vector, a.last_event_at, a.event_ids, a.n_events, a.model_version, a.strategy) == \
        (b.user_id, b.vector, b.last_event_at, b.event_ids, b.n_events, b.model_version, b.strategy)
    assert b.to_bytes() == a.to_bytes() and UserState.from_bytes(b.to_bytes()).to_bytes() == a.to_bytes()
    with pytest.raises(AttributeError):
        b.n_events = 3  # still frozen
