"""What the app shows about movies: title, year, genres, MovieLens link; title search.

Pure pandas over the artifact tables (``movies``: movie_id, clean_title, year, genre_list;
``popularity``: movie_id, positive_count), no I/O except :func:`load_catalog`.
"""
from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MOVIELENS_URL = "https://movielens.org/movies/{movie_id}"


def _fold(text: str) -> str:
    """Lower case without accents, for search: ``"Amélie"`` → ``"amelie"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Catalog:
    """The movies of one model version, most liked first.

    Attributes:
        cards: movie_id → the card's fields (``movie_id``, ``title``, ``year``, ``genres``, ``url``).
        popular: every movie_id, most positive ratings first (ties: lower id first).
        known_users: user ids the model was trained on, ascending.
        model_version: the artifact version the tables come from.
    """

    cards: dict[int, dict[str, Any]]
    popular: tuple[int, ...]
    known_users: tuple[int, ...]
    model_version: str

    @classmethod
    def from_tables(cls, movies: pd.DataFrame, popularity: pd.DataFrame, user_ids: np.ndarray,
                    model_version: str) -> Catalog:
        """Build from the artifact tables (see the module docstring for the columns)."""
        cards: dict[int, dict[str, Any]] = {}
        for row in movies.itertuples(index=False):
            mid = int(row.movie_id)
            year = None if pd.isna(row.year) else int(row.year)
            cards[mid] = {"movie_id": mid, "title": str(row.clean_title), "year": year,
                          "genres": [str(g) for g in row.genre_list], "url": MOVIELENS_URL.format(movie_id=mid)}
        ranked = popularity[popularity["movie_id"].isin(list(cards))]
        ranked = ranked.sort_values(["positive_count", "movie_id"], ascending=[False, True], kind="stable")
        order = [int(m) for m in ranked["movie_id"]]
        rest = sorted(set(cards) - set(order))
        return cls(cards, tuple(order + rest), tuple(sorted(int(u) for u in user_ids)), model_version)

    def card(self, movie_id: int) -> dict[str, Any]:
        """The movie's card; a movie outside this version still gets one, titled by its id."""
        found = self.cards.get(int(movie_id))
        if found is not None:
            return dict(found)
        return {"movie_id": int(movie_id), "title": f"Movie {movie_id}", "year": None, "genres": [],
                "url": MOVIELENS_URL.format(movie_id=int(movie_id))}

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self.cards

    def search(self, query: str, limit: int = 8) -> list[dict[str, Any]]:
        """Movies whose title holds every word of ``query`` (case and accents ignored), titles
        that start with the query first, then the most liked; empty for a blank query."""
        words = _fold(query).split()
        if not words:
            return []
        phrase = " ".join(words)
        hits = [m for m in self.popular if all(w in _fold(self.cards[m]["title"]) for w in words)]
        hits.sort(key=lambda m: not _fold(self.cards[m]["title"]).startswith(phrase))  # stable: popularity kept
        return [self.card(m) for m in hits[:limit]]

    def fresh_user_id(self, rng: random.Random, base: int = 900_000_000, span: int = 100_000_000) -> int:
        """A random id in ``base``..``base + span - 1`` that no trained user has (a new app user)."""
        taken = set(self.known_users)
        while (uid := base + rng.randrange(span)) in taken:
            pass
        return uid


def load_catalog(artifacts: Path, version: str | None = None) -> Catalog:
    """The catalog of ``version`` (default: the registry's champion, else LATEST) under ``artifacts``."""
    from offline.artifacts import load_version
    from offline.registry import resolve

    art = load_version(Path(artifacts), version or resolve(Path(artifacts), "champion"))
    return Catalog.from_tables(art.tables["movies"], art.tables["popularity"], art.arrays["user_ids"], art.version)
