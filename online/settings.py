"""``OnlineSettings``: the one typed configuration of the online rules, and their defaults.

The worker's ``StreamSettings`` inherits these fields (environment ``MOVIEREC_STRATEGY``,
``MOVIEREC_RECENCY__BOOST``, ...); the replay, the tuner, the demo and the tests build the
same model. ``movierec replay tune`` writes tuned values into ``<version>/online_tuning.json``
and ``with_tuned`` lays them under whatever was set explicitly. Each strategy's knobs are one
nested model; adding a strategy adds its settings here and its class in ``online.rules``.

The defaults are the winners of ``movierec replay tune`` on ml-latest-small's val replay
(BENCHMARKS.md section 5), except ``recency.window`` and ``overlay.seeds``: the smaller
pair within one standard error of the winner on val (20 and 10 against 30 and 20), which
cuts the default strategy's extra cost per event over static by about a fifth.
``blend.swipes`` comes from the new-user replay's val half: the longest blend within one
standard error of the best there (every blend from 0 to 30 swipes is), the one that keeps a
new user's list in the genres they swiped.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_STRATEGY = "recency_neighbours"
"""The worker's strategy unless set: the best of ``movierec replay tune`` on val."""


class _Knobs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class AdditiveSettings(_Knobs):
    """The additive rule: nudge the user's factors toward (or away from) the swiped movie's."""

    step: float = Field(0.1, gt=0)
    """Fraction of a typical user norm one love/hate swipe moves the user."""
    half_life_days: float = Field(30.0, gt=0)
    """Older swipes' contributions decay by half every this many days."""
    max_norm_factor: float = Field(3.0, gt=0)
    """Clip the user vector's norm at this multiple of the 99th-percentile offline user norm."""


class RecencySettings(_Knobs):
    """The recency-weighted fold-in (``online.recency``)."""

    regularization: float = Field(30.0, gt=0)
    """Ridge lambda of the fold-in."""
    anchor: float = Field(0.3333, ge=0)
    """Share of the offline vector the ridge is centred on (0: plain fold-in of the window)."""
    boost: float = Field(3.0, ge=1)
    """Confidence of the newest interaction as a multiple of history's."""
    decay: float = Field(0.8, gt=0, le=1)
    """Factor on the extra confidence per later interaction."""
    window: int = Field(20, ge=1)
    """Newest interactions solved for (history tail + swipes). 20, not the tuner's 30: within
    one standard error of it on val at a fifth less per event (BENCHMARKS.md section 5)."""


class OverlaySettings(_Knobs):
    """The item-neighbour overlay (``online.overlay``)."""

    beta: float = Field(3.0, ge=0)
    """Weight of the neighbours of recent liked movies against the standardised base score."""
    decay: float = Field(0.8, gt=0, le=1)
    """Seed weight factor per later interaction."""
    seeds: int = Field(10, ge=1)
    """Newest liked movies whose neighbours are lifted. 10, not the tuner's 20: see ``window``."""


class BlendSettings(_Knobs):
    """New users under the recency/overlay strategies: the genre cold start fades out."""

    swipes: int = Field(30, ge=0)
    """Over a new user's first this many swipes the model's share of the list score grows
    linearly (1/swipes per swipe); 0: a hard switch at ``cold_start_swipes``."""


class OnlineSettings(BaseModel):
    """Which rule changes a user's list on each swipe, and its knobs."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    strategy: str = DEFAULT_STRATEGY
    """Online rule (``online.rules.STRATEGIES``): static, additive, foldin, recency,
    neighbours (static + overlay) or recency_neighbours."""
    cold_start_swipes: int = Field(3, ge=1)
    """Unknown users get a vector once they have this many swipes (strategies without a blend)."""
    recent_history: int = Field(50, ge=0)
    """How many of a known user's newest artifact interactions (time order) count as recent,
    before their swipes, for the recency fold-in and the overlay."""
    compiled_kernels: bool = True
    """Rank a lone user (and each of up to 8 in a batch) with numba's compiled kernels for the
    recency solve and the overlay (``online.kernels``) where numba is installed; false: numpy
    only, without loading numba (the same lists, to float32 rounding)."""
    foldin_regularization: float | None = Field(None, gt=0)
    """Lambda of the exact fold-in (foldin, and additive's re-derivation); None: the artifact's."""
    additive: AdditiveSettings = AdditiveSettings()
    recency: RecencySettings = RecencySettings()
    overlay: OverlaySettings = OverlaySettings()
    blend: BlendSettings = BlendSettings()

    @field_validator("strategy")
    @classmethod
    def _known(cls, value: str) -> str:
        from online.rules import STRATEGIES  # the registry imports this module

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; choose from {', '.join(STRATEGIES)}")
        return value

    def online(self) -> OnlineSettings:
        """Just these fields (a ``StreamSettings`` carries many more)."""
        return OnlineSettings.model_validate(self.model_dump(include=set(OnlineSettings.model_fields)))

    def with_tuned(self, tuned: dict[str, Any]) -> Any:
        """A copy with ``tuned`` values (``online_tuning.json``'s ``settings``) for every online
        field, or nested knob, not set explicitly here; unknown names are ignored. Validated."""
        updates: dict[str, Any] = {}
        for name, value in tuned.items():
            if name not in OnlineSettings.model_fields:
                continue
            current = getattr(self, name)
            if isinstance(current, BaseModel):
                explicit = current.model_fields_set if name in self.model_fields_set else set()
                kept = {k: getattr(current, k) for k in explicit}
                updates[name] = type(current).model_validate({**current.model_dump(), **value, **kept})
            elif name not in self.model_fields_set:
                updates[name] = value
        if not updates:
            return self
        self.model_validate({**self.model_dump(), **updates})  # raises on an invalid tuned value
        return self.model_copy(update=updates)

    def as_env(self) -> dict[str, str]:
        """``MOVIEREC_*`` names (without the prefix) carrying these values to a worker."""
        env: dict[str, str] = {}
        for name, value in self.online().model_dump().items():
            if isinstance(value, dict):
                env.update({f"{name.upper()}__{k.upper()}": repr(v) for k, v in value.items()})
            elif value is not None:
                env[name.upper()] = str(value)
        return env
