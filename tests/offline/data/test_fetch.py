"""`offline.data.fetch` and `movierec data fetch` against a local HTTP server serving a tiny zip."""
from __future__ import annotations

import functools
import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from movierec_cli.main import app
from offline.data.fetch import ARCHIVES, FetchError, fetch_dataset
from offline.data.loaders import load_dataset

NAME = "ml-latest-small"
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n2,1,5.0,964982224\n"
MOVIES = 'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,"Heat (1995)",Action|Crime\n'


def _zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buffer.getvalue()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A base URL on 127.0.0.1 (free port) serving the folder it returns."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/datasets/movielens", root
    finally:
        server.shutdown()
        server.server_close()


def _publish(root: Path, payload: bytes) -> str:
    """Serve ``payload`` as <base>/ml-latest-small.zip; its SHA-256."""
    folder = root / "datasets" / "movielens"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NAME}.zip").write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def _good_zip() -> bytes:
    return _zip_bytes({f"{NAME}/ratings.csv": RATINGS, f"{NAME}/movies.csv": MOVIES, f"{NAME}/README.txt": "hi\n"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fetch_downloads_verifies_and_unpacks(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    digest = _publish(root, _good_zip())
    out = tmp_path / "raw"
    seen: list[tuple[int, int | None]] = []
    path = fetch_dataset(NAME, out, base_url=base, sha256=digest, on_progress=lambda d, t: seen.append((d, t)))
    assert path == out / NAME
    assert sorted(p.name for p in out.iterdir()) == [NAME]  # no temporary folder or zip left beside it
    assert sorted(p.name for p in path.iterdir()) == ["README.txt", "movies.csv", "ratings.csv"]
    dataset = load_dataset(path)
    assert len(dataset.ratings) == 3 and len(dataset.movies) == 2
    assert seen and seen[-1][0] == len(_good_zip())


def test_checksum_mismatch_leaves_nothing(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    _publish(root, _good_zip())
    out = tmp_path / "raw"
    with pytest.raises(FetchError, match="checksum mismatch") as info:
        fetch_dataset(NAME, out, base_url=base, sha256="0" * 64)
    assert "to get it manually" in str(info.value) and ARCHIVES[NAME].url() in str(info.value)
    assert not out.exists()  # created by the call, removed again
    existing = tmp_path / "existing"
    (existing / "keep.txt").parent.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_dataset(NAME, existing, base_url=base, sha256="0" * 64)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_pinned_digest_is_the_default(served: tuple[str, Path], tmp_path: Path) -> None:
    """Without an override the pinned SHA-256 is checked: the tiny test zip fails it."""
    base, root = served
    _publish(root, _good_zip())
    with pytest.raises(FetchError, match=ARCHIVES[NAME].sha256):
        fetch_dataset(NAME, tmp_path / "raw", base_url=base)
    assert not (tmp_path / "raw").exists()


def test_404_is_a_clear_error(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served  # nothing published
    with pytest.raises(FetchError, match="HTTP 404") as info:
        fetch_dataset(NAME, tmp_path / "raw", base_url=base, sha256="0" * 64)
    assert "to get it manually" in str(info.value)
    assert not (tmp_path / "raw").exists()


def test_server_down_is_a_clear_error(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{_free_port()}/datasets/movielens"  # nothing listens there
    with pytest.raises(FetchError, match="could not reach") as info:
        fetch_dataset(NAME, tmp_path / "raw", base_url=base, sha256="0" * 64, timeout_s=5)
    assert "to get it manually" in str(info.value)
    assert not (tmp_path / "raw").exists()


def test_bad_or_unsafe_zip_is_not_unpacked(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    out = tmp_path / "raw"
    digest = _publish(root, b"not a zip at all")
    with pytest.raises(FetchError, match="not a valid zip"):
        fetch_dataset(NAME, out, base_url=base, sha256=digest)
    digest = _publish(root, _zip_bytes({f"{NAME}/ratings.csv": RATINGS, "../evil.txt": "x"}))
    with pytest.raises(FetchError, match="unsafe member"):
        fetch_dataset(NAME, out, base_url=base, sha256=digest)
    digest = _publish(root, _zip_bytes({"other/ratings.csv": RATINGS}))
    with pytest.raises(FetchError, match="no ml-latest-small/ratings.csv"):
        fetch_dataset(NAME, out, base_url=base, sha256=digest)
    assert not out.exists() and not (tmp_path / "evil.txt").exists()


def test_existing_folder_kept_unless_forced(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    digest = _publish(root, _good_zip())
    out = tmp_path / "raw"
    (out / NAME).mkdir(parents=True)
    (out / NAME / "old.txt").write_text("old")
    assert fetch_dataset(NAME, out, base_url=base, sha256=digest) == out / NAME
    assert [p.name for p in (out / NAME).iterdir()] == ["old.txt"]
    fetch_dataset(NAME, out, base_url=base, sha256=digest, force=True)
    assert sorted(p.name for p in (out / NAME).iterdir()) == ["README.txt", "movies.csv", "ratings.csv"]
    assert sorted(p.name for p in out.iterdir()) == [NAME]


def test_cli_fetch(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    digest = _publish(root, _good_zip())
    runner = CliRunner()
    out = tmp_path / "raw"
    bad = runner.invoke(app, ["data", "fetch", NAME, "--out", str(out), "--sha256", "f" * 64],
                        env={"MOVIEREC_DATA_BASE_URL": base})
    assert bad.exit_code != 0
    assert "checksum mismatch" in " ".join(bad.output.split()) and not out.exists()
    down = runner.invoke(app, ["data", "fetch", NAME, "--out", str(out), "--base-url",
                               f"http://127.0.0.1:{_free_port()}/x", "--timeout", "5"])
    assert down.exit_code != 0 and "could not reach" in " ".join(down.output.split())
    ok = runner.invoke(app, ["data", "fetch", NAME, "--out", str(out), "--sha256", digest],
                       env={"MOVIEREC_DATA_BASE_URL": base})  # the base URL from the environment
    assert ok.exit_code == 0, ok.output
    assert (out / NAME / "ratings.csv").read_text() == RATINGS
