"""The strategy registry and the one settings model."""
from __future__ import annotations

import typing

import numpy as np
import pytest
from pydantic import ValidationError

from online.rules import STRATEGIES, ModelContext, UserView, make_rule
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
