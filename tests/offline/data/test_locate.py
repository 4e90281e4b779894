"""`offline.data.locate`: the order in which MovieLens is looked for, and what counts as found."""
from __future__ import annotations

from pathlib import Path

import pytest

from offline.data.errors import DataError
from offline.data.locate import DATASET, find_dataset, project_root, search_order


def _movielens(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n")
    return folder


@pytest.fixture()
def tree(tmp_path: Path) -> dict[str, Path]:
    """work/main (a project with data/raw/ml-latest-small) beside work/shared/data/ml-latest-small."""
    project = tmp_path / "work" / "main"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return {
        "project": project,
        "raw": _movielens(project / "data" / "raw" / DATASET),
        "shared": _movielens(tmp_path / "work" / "shared" / "data" / DATASET),
        "given": _movielens(tmp_path / "given" / DATASET),
        "env": _movielens(tmp_path / "env" / DATASET),
    }


def test_project_root_walks_up(tree: dict[str, Path]) -> None:
    (tree["project"] / "a" / "b").mkdir(parents=True)
    assert project_root(tree["project"] / "a" / "b") == tree["project"]
    assert project_root(tree["shared"]) is None


def test_order_data_env_raw_shared(tree: dict[str, Path], tmp_path: Path) -> None:
    project = tree["project"]
    order = search_order(project, project, data=tmp_path / "given", env_data=tmp_path / "env")
    assert [s.label for s in order] == ["--data", "$MOVIEREC_DATA", "data/raw", "../shared/data beside the project"]
    assert [s.root.resolve() for s in order[2:]] == [project / "data/raw", tmp_path / "work/shared/data"]


def test_first_source_holding_the_dataset_wins(tree: dict[str, Path], tmp_path: Path) -> None:
    project = tree["project"]

    def found(**given: Path) -> Path:
        result = find_dataset(search_order(project, project, **given))
        assert result is not None
        return result.path.resolve()

    assert found(data=tmp_path / "given", env_data=tmp_path / "env") == tree["given"]
    assert found(env_data=tmp_path / "env") == tree["env"]
    assert found() == tree["raw"]
    for name in ("ratings.csv", "movies.csv"):
        (tree["raw"] / name).unlink()  # an incomplete data/raw copy is skipped
    assert found() == tree["shared"]
    assert found(data=tree["given"]) == tree["given"]  # --data may name the dataset folder itself


def test_shared_resolved_beside_project_and_beside_cwd(tree: dict[str, Path], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = find_dataset(search_order(elsewhere, tree["project"]))  # run from outside the project
    assert result is not None and result.path.resolve() == tree["raw"]
    assert result.source.label == "data/raw of the project"
    (tree["raw"] / "ratings.csv").unlink()
    result = find_dataset(search_order(elsewhere, tree["project"]))
    assert result is not None and result.path.resolve() == tree["shared"]
    assert result.source.label == "../shared/data beside the project"
    sub = tmp_path / "work" / "other"
    sub.mkdir()
    result = find_dataset(search_order(sub, None))  # no project known: ../shared/data of the cwd
    assert result is not None and result.path.resolve() == tree["shared"]
    assert result.source.label == "../shared/data beside the working directory"


def test_nothing_found_is_none(tmp_path: Path) -> None:
    assert find_dataset(search_order(tmp_path, None)) is None


def test_a_named_source_without_data_is_an_error(tree: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    project = tree["project"]
    with pytest.raises(DataError, match="named by --data"):
        find_dataset(search_order(project, project, data=empty))
    with pytest.raises(DataError, match=r"named by \$MOVIEREC_DATA"):
        find_dataset(search_order(project, project, env_data=empty))
