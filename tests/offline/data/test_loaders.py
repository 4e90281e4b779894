"""load_dataset / detect_layout on small files of every layout, clean and broken."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline.data.errors import DataError
from offline.data.loaders import detect_layout, load_dataset
from offline.data.report import LoadReport

ML_LATEST_SMALL = Path("/work/shared/data/ml-latest-small")
RATINGS_HEADER = "userId,movieId,rating,timestamp"
MOVIES_CSV = [
    "movieId,title,genres",
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
    '11,"American President, The (1995)",Comedy|Drama|Romance',
    '73,"Misérables, Les (1995)",Drama|War',
    "99,Unsorted (2001),(no genres listed)",
]
Writer = Callable[..., Path]


@pytest.fixture
def write_files(tmp_path: Path) -> Writer:
    """Factory: ``write_files(name, {filename: lines}, crlf=False, encoding="utf-8")`` -> dir."""

    def write(name: str, files: dict[str, list[str]], crlf: bool = False, encoding: str = "utf-8") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        newline = "\r\n" if crlf else "\n"
        for filename, lines in files.items():
            (folder / filename).write_bytes((newline.join(lines) + newline).encode(encoding))
        return folder

    return write


def test_ml_latest_crlf_quoted_titles_and_contract_dtypes(write_files: Writer) -> None:
    folder = write_files("ml", {
        "ratings.csv": [RATINGS_HEADER, "1,1,4.0,964982703", "1,11,3.5,964981247", "2,73,5.0,964982224"],
        "movies.csv": MOVIES_CSV,
    }, crlf=True)
    data = load_dataset(folder)
    assert data.layout == detect_layout(folder) == "ml-latest"
    assert data.ratings.dtypes.to_dict() == {
        "user_id": np.dtype("int64"), "movie_id": np.dtype("int64"),
        "rating": np.dtype("float32"), "timestamp": np.dtype("int64"),
    }
    assert data.ratings["rating"].tolist() == [4.0, 3.5, 5.0]
    assert data.ratings["timestamp"].tolist() == [964982703, 964981247, 964982224]
    assert data.movies["movie_id"].dtype == np.int64
    assert pd.api.types.is_string_dtype(data.movies["title"])
    titles = dict(zip(data.movies["movie_id"], data.movies["title"]))
    assert titles[11] == "American President, The (1995)"
    assert titles[73] == "Misérables, Les (1995)"
    assert data.movies.loc[data.movies["movie_id"] == 99, "genres"].item() == "(no genres listed)"
    assert data.ratings_report.rows_read == data.ratings_report.rows_kept == 3
    assert data.ratings_report.dropped == {} and data.ratings_report.notes == {}


def test_single_ratings_file_and_snake_case_header(write_files: Writer) -> None:
    folder = write_files("ml", {
        "ratings.csv": ["user_id,movie_id,rating,timestamp,extra", "1,1,4,10,x", "2,11,2,20,y"],
        "movies.csv": MOVIES_CSV,
    })
    data = load_dataset(folder / "ratings.csv")
    assert data.layout == "ml-latest"
    assert data.ratings[["user_id", "movie_id"]].to_numpy().tolist() == [[1, 1], [2, 11]]


def test_bad_rows_are_dropped_and_counted_by_reason(write_files: Writer) -> None:
    folder = write_files("ml", {
        "ratings.csv": [
            RATINGS_HEADER,
            "1,1,4.0,100",
            "1,11,3.0",  # malformed_line
            "1,11,3.0,100,7",  # malformed_line
            ",1,4.0,100",  # missing_id
            "abc,1,4.0,100",  # invalid_id
            "-3,1,4.0,100",  # invalid_id
            "2,1,,100",  # missing_rating
            "2,11,good,100",  # non_numeric_rating
            "2,73,0.0,100",  # rating_out_of_range
            "2,99,5.5,100",  # rating_out_of_range
            "3,1,4.0,yesterday",  # unparseable_timestamp
            "3,11,4.0,",  # unparseable_timestamp
            "3,73,2.5,2001-09-09T01:46:40Z",  # ISO date: kept, 1_000_000_000
            "4,1,1.0,300",  # duplicate of the next-but-one; earlier timestamp
            "4,1,2.0,500",  # kept: latest
            "4,1,3.0,400",  # duplicate
            "5,12345,3.0,100",  # unknown movie: kept, noted
        ],
        "movies.csv": MOVIES_CSV,
    })
    data = load_dataset(folder)
    report = data.ratings_report
    assert report.dropped == {
        "malformed_line": 2, "missing_id": 1, "invalid_id": 2, "missing_rating": 1,
        "non_numeric_rating": 1, "rating_out_of_range": 2, "unparseable_timestamp": 2, "duplicate": 2,
    }
    assert report.rows_read == 17
    assert report.rows_kept == 4 == len(data.ratings)
    assert report.rows_read == report.rows_kept + report.rows_dropped
    assert report.notes == {"unknown_movie": 1}
    rows = {(u, m): (r, t) for u, m, r, t in data.ratings.itertuples(index=False)}
    assert rows == {(1, 1): (4.0, 100), (3, 73): (2.5, 1_000_000_000), (4, 1): (2.0, 500), (5, 12345): (3.0, 100)}
    assert report.as_dict()["dropped"]["duplicate"] == 2


def test_fast_path_counts_malformed_lines_and_duplicates(write_files: Writer) -> None:
    folder = write_files("ml", {
        "ratings.csv": [RATINGS_HEADER, "1,1,4.0,100", "1,1,4.5,90", "2", "2,11,3.0,5"],
        "movies.csv": MOVIES_CSV,
    })
    report = load_dataset(folder).ratings_report
    assert report.dropped == {"malformed_line": 1, "duplicate": 1}
    assert (report.rows_read, report.rows_kept) == (4, 2)


def test_bad_movie_rows_are_dropped_and_counted(write_files: Writer) -> None:
    folder = write_files("ml", {
        "ratings.csv": [RATINGS_HEADER, "1,1,4,1"],
        "movies.csv": [
            "movieId,title,genres", "1,One (2001),Drama", "1,One again (2002),Comedy", ",No id,Drama",
            "x,Bad id,Drama", "2,,", "3,Three (2003)", '4,"Four, The (2004)",Horror|Sci-Fi',
        ],
    })
    data = load_dataset(folder)
    report = data.movies_report
    assert report.dropped == {"duplicate": 1, "missing_id": 1, "invalid_id": 1, "malformed_line": 1}
    assert (report.rows_read, report.rows_kept) == (7, 3)
    assert report.notes == {"missing_title": 1}
    assert data.movies.to_dict("list") == {
        "movie_id": [1, 2, 4], "title": ["One (2001)", "movie 2", "Four, The (2004)"],
        "genres": ["Drama", "(no genres listed)", "Horror|Sci-Fi"],
    }


def test_float_and_iso_timestamps_in_text(write_files: Writer) -> None:
    folder = write_files("ml", {
        "ratings.csv": [RATINGS_HEADER, "1,1,4,964982703.9", "1,11, 3 ,1970-01-02", "2,1,+4.5, 77 "],
        "movies.csv": MOVIES_CSV,
    })
    data = load_dataset(folder)
    assert data.ratings["timestamp"].tolist() == [964982703, 86_400, 77]
    assert data.ratings["rating"].tolist() == [4.0, 3.0, 4.5]


def test_ml_1m_dat_latin1(write_files: Writer) -> None:
    folder = write_files("ml-1m", {
        "ratings.dat": ["1::73::5::978300760", "1::1::3::978302109", "2::73::4"],
        "movies.dat": [
            "1::Toy Story (1995)::Animation|Children's|Comedy", "73::Misérables, Les (1995)::Drama|War",
        ],
        "users.dat": ["1::F::1::10::48067"],
    }, encoding="latin-1")
    data = load_dataset(folder)
    assert data.layout == "ml-1m"
    assert data.ratings["rating"].tolist() == [5.0, 3.0]
    assert data.ratings_report.dropped == {"malformed_line": 1}
    assert data.movies.set_index("movie_id")["title"][73] == "Misérables, Les (1995)"


def test_ml_10m_half_stars(write_files: Writer) -> None:
    folder = write_files("ml-10m", {
        "ratings.dat": ["1::122::4.5::838985046", "1::185::0.5::838983525"],
        "movies.dat": ["122::Boomerang (1992)::Comedy|Romance", "185::Net, The (1995)::Action|Crime|Thriller"],
    })
    data = load_dataset(folder / "ratings.dat")
    assert data.layout == "ml-10m"
    assert data.ratings["rating"].tolist() == [4.5, 0.5]
    assert data.ratings["rating"].dtype == np.float32


def _u_item(movie_id: int, title: str, flags: list[int]) -> str:
    return "|".join([str(movie_id), title, "01-Jan-1995", "", "http://x"] + [str(f) for f in flags])


def test_ml_100k_genre_flags_and_latin1(write_files: Writer) -> None:
    toy = [0, 0, 0, 1, 1, 1] + [0] * 13  # Animation, Children's, Comedy
    unknown = [1] + [0] * 18
    folder = write_files("ml-100k", {
        "u.data": ["196\t242\t3\t881250949", "186\t302\t3\t891717742", "22\t377\t1\t878887116", "bad line"],
        "u.item": [_u_item(242, "Toy Story (1995)", toy), _u_item(302, "Misérables, Les (1995)", unknown),
                   "377|too|few|fields"],
    }, encoding="latin-1")
    data = load_dataset(folder)
    assert data.layout == "ml-100k"
    assert data.ratings_report.dropped == {"malformed_line": 1}
    assert data.ratings_report.notes == {"unknown_movie": 1}
    genres = data.movies.set_index("movie_id")["genres"]
    assert genres[242] == "Animation|Children|Comedy"
    assert genres[302] == "(no genres listed)"
    assert data.movies.set_index("movie_id")["title"][302] == "Misérables, Les (1995)"
    assert data.movies_report.dropped == {"malformed_line": 1}


def test_parquet_camel_case_with_movies_parquet(tmp_path: Path) -> None:
    pq.write_table(pa.table({"userId": [1, 1, 2], "movieId": [5, 6, 5], "rating": [4.0, 2.5, 3.0],
                             "timestamp": [10, 20, 30]}), tmp_path / "ratings.parquet")
    pq.write_table(pa.table({"movieId": [5, 6], "title": ["Five (2000)", "Six (2001)"],
                             "genres": ["Drama", None]}), tmp_path / "movies.parquet")
    data = load_dataset(tmp_path)
    assert data.layout == "parquet"
    assert data.ratings["timestamp"].tolist() == [10, 20, 30]
    assert data.movies["genres"].tolist() == ["Drama", "(no genres listed)"]


def test_parquet_snake_case_timestamp_type_without_movies(tmp_path: Path) -> None:
    when = pd.to_datetime(["2001-09-09T01:46:40Z", "2001-09-09T01:46:41.900Z"], format="ISO8601")
    pq.write_table(pa.table({"user_id": pa.array([7, 8], pa.int32()), "movie_id": [3, 4],
                             "rating": pa.array([4.0, 1.5], pa.float32()),
                             "timestamp": pa.array(when, pa.timestamp("ns", tz="UTC"))}),
                   tmp_path / "interactions.parquet")
    data = load_dataset(tmp_path / "interactions.parquet")
    assert data.ratings["timestamp"].tolist() == [1_000_000_000, 1_000_000_001]
    assert data.ratings["user_id"].dtype == np.int64
    assert data.movies["title"].tolist() == ["movie 3", "movie 4"]
    assert set(data.movies["genres"]) == {"(no genres listed)"}
    assert data.movies_report.notes == {"generated_from_ratings": 2}


def test_parquet_with_movies_csv_beside(tmp_path: Path, write_files: Writer) -> None:
    folder = write_files("pq", {"movies.csv": MOVIES_CSV})
    pq.write_table(pa.table({"userId": [1], "movieId": [11], "rating": [4.0], "timestamp": [1]}),
                   folder / "ratings.parquet")
    assert load_dataset(folder).movies["movie_id"].tolist() == [1, 11, 73, 99]


def test_missing_paths_name_the_file(tmp_path: Path, write_files: Writer) -> None:
    with pytest.raises(DataError, match="nope"):
        load_dataset(tmp_path / "nope")
    folder = write_files("ml", {"ratings.csv": [RATINGS_HEADER, "1,1,4,1"]})
    with pytest.raises(DataError, match=r"movies\.csv"):
        load_dataset(folder)
    with pytest.raises(DataError, match="no known MovieLens layout"):
        detect_layout(write_files("other", {"notes.txt": ["hi"]}))


def test_wrong_columns_name_the_file_and_the_columns_found(write_files: Writer) -> None:
    folder = write_files("ml", {"ratings.csv": ["user,film,stars", "1,1,4"], "movies.csv": MOVIES_CSV})
    with pytest.raises(DataError) as info:
        load_dataset(folder)
    message = str(info.value)
    assert "ratings.csv" in message and "user,film,stars" in message
    folder = write_files("ml2", {"ratings.csv": [RATINGS_HEADER, "1,1,4,1"], "movies.csv": ["id,name", "1,x"]})
    with pytest.raises(DataError, match=r"movies\.csv.*found id,name"):
        load_dataset(folder)


def test_no_usable_rows_names_the_file_and_rows_read(write_files: Writer) -> None:
    folder = write_files("ml", {"ratings.csv": [RATINGS_HEADER, "1,1,9,1", "x,1,4,1", "1"],
                                "movies.csv": MOVIES_CSV})
    with pytest.raises(DataError, match=r"ratings\.csv: no usable ratings \(3 rows read\)") as info:
        load_dataset(folder)
    assert info.value.rows == 3
    empty = write_files("empty", {"ratings.csv": [], "movies.csv": MOVIES_CSV})
    with pytest.raises(DataError, match=r"ratings\.csv: empty file"):
        load_dataset(empty)


def test_report_as_dict() -> None:
    report = LoadReport(path="r.csv", layout="ml-latest", rows_read=5, rows_kept=3)
    report.drop("duplicate", 2)
    report.drop("missing_id", 0)
    report.note("unknown_movie", 1)
    assert report.as_dict() == {"path": "r.csv", "layout": "ml-latest", "rows_read": 5, "rows_kept": 3,
                                "rows_dropped": 2, "dropped": {"duplicate": 2}, "notes": {"unknown_movie": 1}}


@pytest.mark.skipif(not ML_LATEST_SMALL.is_dir(), reason="ml-latest-small not downloaded")
def test_real_ml_latest_small() -> None:
    data = load_dataset(ML_LATEST_SMALL)
    assert data.layout == "ml-latest"
    assert len(data.ratings) == 100_836 and data.ratings_report.rows_dropped == 0
    assert data.ratings["user_id"].nunique() == 610
    assert len(data.movies) == 9_742
    assert data.ratings["rating"].between(0.5, 5.0).all()
    assert data.ratings_report.notes == {}


def test_cli_check_prints_layout_and_exits_2_on_data_error(write_files: Writer, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from movierec_cli.data_cmd import app

    folder = write_files("ml", {"ratings.csv": [RATINGS_HEADER, "1,1,4,1", "1,1,4,2"], "movies.csv": MOVIES_CSV})
    result = CliRunner().invoke(app, ["check", "--data", str(folder)])
    assert result.exit_code == 0, result.output
    assert "ml-latest" in result.output and "duplicate" in result.output
    result = CliRunner().invoke(app, ["check", "--data", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "missing" in result.stderr
