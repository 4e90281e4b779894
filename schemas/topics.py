"""Kafka topic names. The version suffix changes only with an incompatible event schema."""
from __future__ import annotations

SWIPES = "swipes.v1"
"""SwipeEvent, keyed by str(user_id)."""
RECOMMENDATIONS = "recommendations.v1"
"""RecommendationList, keyed by str(user_id)."""
SWIPES_DLQ = "swipes.dlq.v1"
"""DeadLetter: swipes that failed to parse or to apply."""
MODELS = "models.v1"
"""Model-version announcements (a new offline model is ready)."""

ALL: tuple[str, ...] = (SWIPES, RECOMMENDATIONS, SWIPES_DLQ, MODELS)
