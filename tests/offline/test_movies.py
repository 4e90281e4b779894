"""clean_movies titles, years and genre lists; genre_matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offline.movies import clean_movies, genre_matrix


@pytest.fixture
def movies() -> pd.DataFrame:
    rows = [
        (1, "Matrix, The (1999)", "Action|Sci-Fi|Thriller"),
        (2, "  Misérables, Les (1995)  ", "Drama|War"),
        (3, "City of Lost Children, The (Cité des enfants perdus, La) (1995)", "Adventure|Drama"),
        (4, "Avventura, L' (1960)", "Drama|Mystery"),
        (5, "Band of Brothers (2001-2002)", "Action|Drama|War"),
        (6, "Stranger Things (2016– )", "Drama"),
        (7, "Babylon 5", "Sci-Fi"),
        (8, "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)", "Western"),
        (9, "Crouching Tiger, Hidden Dragon (Wo hu cang long) (2000)", "Action|Drama|Romance"),
        (10, "Unnamed (2019)", "(no genres listed)"),
        (11, "Star Is Born, A (1937)", "Drama"),
        (12, "2001: A Space Odyssey (1968)", "Adventure|Drama|Sci-Fi"),
    ]
    return pd.DataFrame(rows, columns=["movie_id", "title", "genres"]).astype({"title": "str", "genres": "str"})


def test_clean_titles(movies: pd.DataFrame) -> None:
    titles = clean_movies(movies).set_index("movie_id")["clean_title"]
    assert titles[1] == "The Matrix"
    assert titles[2] == "Les Misérables"
    assert titles[3] == "The City of Lost Children (Cité des enfants perdus, La)"
    assert titles[4] == "L'Avventura"
    assert titles[5] == "Band of Brothers"
    assert titles[6] == "Stranger Things"
    assert titles[7] == "Babylon 5"
    assert titles[8] == "The Good, the Bad and the Ugly (Buono, il brutto, il cattivo, Il)"
    assert titles[9] == "Crouching Tiger, Hidden Dragon (Wo hu cang long)"
    assert titles[11] == "A Star Is Born"
    assert titles[12] == "2001: A Space Odyssey"


def test_years(movies: pd.DataFrame) -> None:
    out = clean_movies(movies)
    assert out["year"].dtype == "Int32"
    years = out.set_index("movie_id")["year"]
    assert years[1] == 1999 and years[5] == 2001 and years[6] == 2016 and years[12] == 1968
    assert pd.isna(years[7])


def test_genre_lists_and_input_untouched(movies: pd.DataFrame) -> None:
    before = movies.copy()
    out = clean_movies(movies)
    lists = out.set_index("movie_id")["genre_list"]
    assert lists[1] == ["Action", "Sci-Fi", "Thriller"]
    assert lists[10] == []
    pd.testing.assert_frame_equal(movies, before)
    assert list(out.columns[:3]) == ["movie_id", "title", "genres"]


def test_genre_matrix(movies: pd.DataFrame) -> None:
    matrix, names = genre_matrix(clean_movies(movies))
    assert names == sorted(names) and "(no genres listed)" not in names
    assert matrix.dtype == np.float32 and matrix.shape == (len(movies), len(names))
    assert matrix[0, names.index("Sci-Fi")] == 1.0 and matrix[0].sum() == 3.0
    assert matrix[9].sum() == 0.0  # no genres
    from_raw, raw_names = genre_matrix(movies)  # works from the genres column too
    assert raw_names == names
    np.testing.assert_array_equal(from_raw, matrix)


def test_empty_frame() -> None:
    empty = pd.DataFrame({"movie_id": pd.Series([], dtype="int64"), "title": pd.Series([], dtype="str"),
                          "genres": pd.Series([], dtype="str")})
    out = clean_movies(empty)
    assert len(out) == 0 and {"clean_title", "year", "genre_list"} <= set(out.columns)
    matrix, names = genre_matrix(out)
    assert matrix.shape == (0, 0) and names == []
