"""Which movie the app shows next: the system's call, not random.

Mostly the best movie of the user's current list that has not been on a card yet (what the
model thinks the user wants); every ``explore_every``-th card the most liked movie outside
that list (what the model cannot learn about without asking). Pure.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NextCard:
    """The chosen movie and why, in words for the page."""

    movie_id: int
    reason: str


def next_card(ranked: Sequence[int], shown: Collection[int], popular: Sequence[int], explore_every: int) -> NextCard | None:
    """The next card for a user.

    Args:
        ranked: the user's current list, best first.
        shown: movies already on a card this session (swiped or skipped).
        popular: every movie, most liked first (the exploration pool and the fallback).
        explore_every: every this many cards (counted by ``len(shown)``) explore; 0: never.

    Returns:
        The movie and the reason, or None when every movie has been shown.
    """
    seen, in_list = set(shown), set(ranked)
    from_list = next((NextCard(int(m), f"#{rank} on your list")
                      for rank, m in enumerate(ranked, start=1) if m not in seen), None)
    outside = next((int(m) for m in popular if m not in seen and m not in in_list), None)
    if explore_every > 0 and len(seen) % explore_every == explore_every - 1 and outside is not None:
        return NextCard(outside, "exploring: a favourite outside your list")
    if from_list is not None:
        return from_list
    return None if outside is None else NextCard(outside, "a favourite of many (your list is all shown)")
