"""Movie metadata made usable: display titles, release years, genre lists and a genre matrix.

Pure pandas/numpy. Input is the movies table of the :mod:`offline.data` contract
(movie_id int64, title str such as ``"Matrix, The (1999)"``, genres str pipe-separated).
"""
from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pandas as pd

NO_GENRES = "(no genres listed)"

# Articles MovieLens moves to the end ("Matrix, The"); English plus the common European ones.
_ARTICLES = (
    "The", "A", "An", "Les", "La", "Le", "L'", "Il", "Lo", "I", "Gli", "Das", "Der", "Die",
    "Den", "Det", "De", "El", "Los", "Las", "Un", "Une", "Una", "Uno", "Ein", "Eine", "Het",
    "Een", "O", "Os", "As",
)
# Trailing "(1999)", "(1995-1996)", "(2016- )", "(2007–)" after the title.
_YEAR_RE = re.compile(r"\s*\((\d{4})\s*(?:[-–]\s*(?:\d{4})?\s*)?\)\s*$")
# "Main, The" or "Main, The (Alternative title)" / "Main, The (a.k.a. Other)".
_ARTICLE_RE = re.compile(
    r"^(?P<main>.+?),\s+(?P<art>" + "|".join(re.escape(a) for a in _ARTICLES) + r")(?P<rest>\s*\(.*\))?$"
)


def _move_article(match: re.Match[str]) -> str:
    """``"Matrix, The"`` -> ``"The Matrix"``; ``"Avventura, L'"`` -> ``"L'Avventura"``."""
    art, main, rest = match["art"], match["main"], match["rest"] or ""
    joiner = "" if art.endswith("'") else " "
    return f"{art}{joiner}{main}{rest}"


def clean_movies(movies: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``movies`` with ``clean_title``, ``year`` and ``genre_list`` added.

    Args:
        movies: n rows with at least ``title`` (str) and ``genres`` (str).

    Returns:
        The n rows with, in addition:
        ``clean_title`` str -- stripped, year removed, trailing article moved to the front
        (``"Matrix, The (1999)"`` -> ``"The Matrix"``);
        ``year`` Int32 (nullable) -- the first year of the trailing ``(YYYY)`` or
        ``(YYYY-YYYY)``, <NA> when there is none;
        ``genre_list`` object, each a list[str] -- empty for ``"(no genres listed)"``.
    """
    out = movies.copy()
    title = out["title"].astype("str").fillna("").str.strip()
    year_text = title.str.extract(_YEAR_RE, expand=False)
    out["year"] = pd.to_numeric(year_text, errors="coerce").astype("Int32")
    base = title.str.replace(_YEAR_RE, "", regex=True).str.strip()
    # A title that is only "(1995)" keeps its text rather than becoming empty.
    base = base.where(base != "", title)
    out["clean_title"] = base.str.replace(_ARTICLE_RE, _move_article, regex=True).astype("str")
    out["genre_list"] = [_genre_list(g) for g in out["genres"].astype("str").fillna("")]
    return out


def _genre_list(genres: str) -> list[str]:
    """``"Action|Comedy"`` -> ``["Action", "Comedy"]``; ``"(no genres listed)"`` or ``""`` -> ``[]``."""
    return [g.strip() for g in genres.split("|") if g.strip() and g.strip() != NO_GENRES]


def genre_matrix(movies: pd.DataFrame) -> tuple[npt.NDArray[np.float32], list[str]]:
    """Multi-hot genre matrix, rows in ``movies`` order.

    Args:
        movies: n_movies rows with ``genre_list`` (from :func:`clean_movies`) or ``genres``.

    Returns:
        ``(matrix, names)``: float32 array of shape (n_movies, n_genres) with 1.0 where the
        movie has the genre, and the n_genres genre names sorted alphabetically. A movie
        with no genres is an all-zero row.
    """
    if "genre_list" in movies.columns:
        lists = list(movies["genre_list"])
    else:
        lists = [_genre_list(g) for g in movies["genres"].astype("str").fillna("")]
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    flat = [g for x in lists for g in x]
    names = sorted(set(flat))
    matrix = np.zeros((len(lists), len(names)), dtype=np.float32)
    if flat:
        column_of = {name: j for j, name in enumerate(names)}
        rows = np.repeat(np.arange(len(lists)), lengths)
        cols = np.fromiter((column_of[g] for g in flat), dtype=np.int64, count=len(flat))
        matrix[rows, cols] = 1.0
    return matrix, names
