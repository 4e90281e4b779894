"""Which card comes next: the user's list in order, exploring every few cards."""
from __future__ import annotations

from stream_app.webapp.next_card import NextCard, next_card

POPULAR = [10, 20, 30, 40, 50]


def test_the_best_unshown_movie_of_the_list() -> None:
    assert next_card([30, 10, 60], [], POPULAR, 0) == NextCard(30, "#1 on your list")
    assert next_card([30, 10, 60], [30], POPULAR, 0) == NextCard(10, "#2 on your list")


def test_every_nth_card_explores_the_most_liked_outside_the_list() -> None:
    ranked = [30, 10, 60, 70]
    picks = []
    shown: list[int] = []
    for _ in range(6):
        card = next_card(ranked, shown, POPULAR, 3)
        assert card is not None
        picks.append(card.movie_id)
        shown.append(card.movie_id)
    assert picks == [30, 10, 20, 60, 70, 40]  # third and sixth cards explore (20, then 40: 30 and 10 are in the list)
    assert next_card(ranked, [30, 10], POPULAR, 3) == NextCard(20, "exploring: a favourite outside your list")


def test_falls_back_when_one_source_is_used_up() -> None:
    assert next_card([10, 20], [10, 20], POPULAR, 0) == NextCard(30, "a favourite of many (your list is all shown)")
    # an exploring turn with nothing outside the list still shows the list
    assert next_card([10, 20, 30, 40, 50, 60], [10, 20], POPULAR, 3) == NextCard(30, "#3 on your list")
    assert next_card([10], POPULAR, POPULAR, 2) is None
