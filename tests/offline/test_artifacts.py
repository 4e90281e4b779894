import json

import numpy as np
import pandas as pd
import pytest

from offline.artifacts import (
    ArtifactError,
    latest_version,
    list_versions,
    load_version,
    parquet_bytes,
    parquet_bytes_of_rows,
    write_version,
)


@pytest.fixture
def write(tmp_path):
    def _write(version: str = "v1", **kw):
        arrays = kw.pop("arrays", {"item_factors": np.ones((3, 2), np.float32)})
        tables = kw.pop("tables", {"movies": pd.DataFrame({"movie_id": [1, 2, 3]})})
        return write_version(tmp_path, version, arrays, tables, {"k": 2}, {"val": {}}, **kw)

    return _write


def test_round_trip_and_pointer(tmp_path, write) -> None:
    write("v1")
    write("v2")
    assert latest_version(tmp_path) == "v2" and list_versions(tmp_path) == ["v1", "v2"]
    art = load_version(tmp_path)
    assert art.version == "v2" and art.arrays["item_factors"].shape == (3, 2)
    assert art.tables["movies"].movie_id.tolist() == [1, 2, 3]
    assert set(art.info["files"]) == {"item_factors.npy", "movies.parquet", "metrics.json"}


def test_corruption_detected(tmp_path, write) -> None:
    path = write("v1")
    np.save(path / "item_factors.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_version(tmp_path)


def test_failed_write_leaves_no_version(tmp_path, write) -> None:
    write("v1")
    with pytest.raises(ArtifactError, match="object"):
        write("v2", arrays={"bad": np.array([{"a": 1}], dtype=object)})
    assert list_versions(tmp_path) == ["v1"] and latest_version(tmp_path) == "v1"
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())


def test_refuses_to_overwrite(tmp_path, write) -> None:
    write("v1")
    with pytest.raises(ArtifactError, match="already exists"):
        write("v1")


def test_no_pointer_message(tmp_path) -> None:
    with pytest.raises(ArtifactError, match="movierec offline run"):
        latest_version(tmp_path)


def test_info_is_json(tmp_path, write) -> None:
    path = write("v1")
    info = json.loads((path / "model_info.json").read_text())
    assert info["version"] == "v1" and len(info["files"]["item_factors.npy"]) == 64


def test_pre_encoded_table_is_the_same_file(tmp_path) -> None:
    table = pd.DataFrame({"user_id": np.arange(5, dtype=np.int64), "rating": np.linspace(0.5, 5, 5, dtype=np.float32)})
    a = write_version(tmp_path, "v1", {}, {"t": table}, {}, {})
    b = write_version(tmp_path, "v2", {}, {"t": parquet_bytes(table)}, {}, {})
    assert (a / "t.parquet").read_bytes() == (b / "t.parquet").read_bytes()
    pd.testing.assert_frame_equal(load_version(tmp_path, "v2").tables["t"], table)


def test_rows_encoded_without_the_pandas_copy_are_the_same_bytes() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "user_id": rng.integers(0, 99, 50),
            "rating": rng.random(50).astype(np.float32),
            "preference": rng.integers(-2, 3, 50).astype(np.int8),
        },
        index=np.arange(100, 150),  # a non-default index, dropped like reset_index(drop=True)
    )
    rows = rng.random(50) < 0.4
    expected = parquet_bytes(table.loc[rows].reset_index(drop=True))
    assert parquet_bytes_of_rows(table, rows) == expected
