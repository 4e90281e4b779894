"""The app's movie catalog: cards, popularity order, title search, new user ids."""
from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from stream_app.webapp.catalog import Catalog


@pytest.fixture
def catalog(catalog_factory: Callable[..., Catalog]) -> Catalog:
    return catalog_factory([
        (1, "Toy Story (1995)", "Adventure|Animation|Children", 50),
        (3114, "Toy Story 2 (1999)", "Adventure|Animation|Children", 30),
        (2, "Matrix, The (1999)", "Action|Sci-Fi", 80),
        (7, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance", 30),
        (9, "Untitled", "(no genres listed)", 0),
    ])


def test_cards_show_title_year_genres_and_movielens_link(catalog: Catalog) -> None:
    assert catalog.card(2) == {"movie_id": 2, "title": "The Matrix", "year": 1999, "genres": ["Action", "Sci-Fi"],
                               "url": "https://movielens.org/movies/2"}
    assert catalog.card(9)["year"] is None and catalog.card(9)["genres"] == []
    assert catalog.card(424242)["title"] == "Movie 424242" and 424242 not in catalog and 2 in catalog


def test_popular_is_most_liked_first_ties_by_id(catalog: Catalog) -> None:
    assert catalog.popular == (2, 1, 7, 3114, 9)


def test_search_every_word_prefix_first_then_most_liked(catalog: Catalog) -> None:
    assert [c["movie_id"] for c in catalog.search("toy")] == [1, 3114]
    assert [c["movie_id"] for c in catalog.search("story 2 TOY")] == [3114]
    assert [c["movie_id"] for c in catalog.search("amelie")] == [7]  # accents ignored
    assert [c["movie_id"] for c in catalog.search("a")][:1] == [7]  # "Amélie..." starts with it; "The Matrix" only holds it
    assert catalog.search("   ") == [] and catalog.search("zzz") == []
    assert len(catalog.search("t", limit=2)) == 2


def test_fresh_user_ids_avoid_trained_users(catalog_factory: Callable[..., Catalog]) -> None:
    taken = tuple(range(900_000_000, 900_000_010))
    catalog = catalog_factory([(1, "Toy Story (1995)", "Animation", 1)], users=taken)
    ids = {catalog.fresh_user_id(random.Random(seed), span=11) for seed in range(40)}
    assert ids == {900_000_010}
