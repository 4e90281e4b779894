"""Online A/B hit rates and the two-proportion z-test (offline.ab) on hand-made sequences."""
from __future__ import annotations

import math

import pytest

from offline.ab import ListShown, Swipe, ab_report, list_hits, order_events, two_proportion_z


def _z_direct(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    p = (x1 + x2) / (n1 + n2)
    z = (x2 / n2 - x1 / n1) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return z, math.erfc(abs(z) / math.sqrt(2))  # 2 (1 - Phi(|z|))


def test_hits_need_a_later_positive_swipe_on_a_shown_movie_within_n_swipes() -> None:
    events = [
        Swipe(1, 4),                        # before any list: never counts
        ListShown("A", (10, 11, 12)),       # hit: 11 liked 2 swipes later
        Swipe(99, 4),
        Swipe(11, 3),
        ListShown("A", (20, 21)),           # miss: 20 disliked, 21 liked but 3rd swipe (within=2)
        Swipe(20, 2),
        ListShown("B", (21,)),              # lists do not count towards `within`: 21 is the 2nd swipe
        Swipe(5, 1),
        Swipe(21, 4),
        ListShown("B", (30,)),              # miss: nothing after it
    ]
    assert list_hits(events, within=2) == [("A", True), ("A", False), ("B", True), ("B", False)]
    assert list_hits(events, within=3)[1] == ("A", True)
    assert list_hits(events, within=1) == [("A", False), ("A", False), ("B", False), ("B", False)]
    with pytest.raises(ValueError):
        list_hits(events, within=0)


def test_report_counts_per_variant_and_tests_against_the_control() -> None:
    # user 1: champion lists, 2 of 3 hit; user 2: challenger lists, 1 of 2 hit; user 3: no variant.
    by_user = {
        1: [ListShown("champion", (1, 2)), Swipe(2, 4), ListShown("champion", (3,)), Swipe(3, 3),
            ListShown("champion", (4,)), Swipe(4, 1)],
        2: [ListShown("challenger", (7,)), Swipe(7, 4), ListShown("challenger", (8,)), Swipe(9, 4)],
        3: [ListShown(None, (5,)), Swipe(5, 4)],
    }
    report = ab_report(by_user, within=1)
    assert report.control == "champion" and [v.variant for v in report.variants] == ["challenger", "champion"]
    champ, chall = report.variant("champion"), report.variant("challenger")
    assert (champ.n, champ.hits, champ.rate, champ.z, champ.p) == (3, 2, pytest.approx(2 / 3), None, None)
    assert (chall.n, chall.hits, chall.rate) == (2, 1, 0.5)
    z, p = _z_direct(2, 3, 1, 2)
    assert chall.z == pytest.approx(z) and chall.p == pytest.approx(p) and chall.z < 0
    assert (report.overall.n, report.overall.hits) == (6, 4)
    payload = report.to_json()
    assert payload["variants"]["challenger"] == {"n": 2, "hits": 1, "rate": 0.5, "z": chall.z, "p": chall.p}
    assert payload["overall"]["rate"] == pytest.approx(4 / 6) and payload["within"] == 1
    with pytest.raises(KeyError):
        report.variant("nope")


def test_z_test_matches_the_formula_and_a_known_value() -> None:
    z, p = two_proportion_z(40, 100, 55, 100)
    assert (z, p) == pytest.approx(_z_direct(40, 100, 55, 100))
    assert z == pytest.approx(2.1240, abs=1e-4) and p == pytest.approx(0.03367, abs=1e-4)
    assert two_proportion_z(0, 10, 0, 20) == (0.0, 1.0)
    with pytest.raises(ValueError):
        two_proportion_z(0, 0, 1, 2)


def test_large_known_experiment_by_simulated_users() -> None:
    by_user: dict[int, list] = {}
    for u in range(300):  # A: users 0-149, 30 hits; B: users 150-299, 45 hits
        variant = "A" if u < 150 else "B"
        hit = (u < 30) or (150 <= u < 195)
        by_user[u] = [ListShown(variant, (u + 1000,)), Swipe(u + 1000 if hit else 1, 4)]
    report = ab_report(by_user, within=3)
    a, b = report.variant("A"), report.variant("B")
    assert report.control == "A" and (a.n, a.hits, b.n, b.hits) == (150, 30, 150, 45)
    assert (b.z, b.p) == pytest.approx(_z_direct(30, 150, 45, 150))
    explicit = ab_report(by_user, within=3, control="B")
    assert explicit.variant("A").z == pytest.approx(-b.z) and explicit.variant("B").z is None


def test_order_events_sorts_by_time_and_puts_a_swipe_before_a_list_at_the_same_time() -> None:
    lst, swipe, later = ListShown("A", (1,), at=5.0), Swipe(1, 4, at=5.0), Swipe(2, 3, at=1.0)
    ordered = order_events([(7, lst), (7, swipe), (8, later), (7, later)])
    assert ordered == {7: [later, swipe, lst], 8: [later]}
    assert ab_report(ordered, within=5).variant("A").hits == 0
