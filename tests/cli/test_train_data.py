"""``fastgnn train --data-root``: damaged dataset files are one line on stderr naming the file, exit status 2."""
import shutil

import pytest

from cli_run import assert_one_line_error, run_cli
from fixture_data import RAW_CORA, RAW_MUTAG
from fastgnn.cli import main


def copy(source, target):
    target.mkdir(parents=True)
    for path in source.iterdir():
        shutil.copyfile(path, target / path.name)     # copyfile: the shared files are read-only
    return target


@pytest.mark.parametrize("task", [(), ("--task", "link")], ids=["node", "link"])
def test_truncated_planetoid_file(tmp_path, task):
    root = copy(RAW_CORA, tmp_path / "cora")
    graph = root / "ind.cora.graph"
    graph.write_bytes(graph.read_bytes()[:20000])
    assert_one_line_error(run_cli(*task, "--data-root", root, "--epochs", "1", "--quiet"), graph)


@pytest.mark.parametrize("line", [b"foo, bar\n", b"99999, 1\n"])
def test_tu_file_with_a_garbage_line(tmp_path, line):
    root = copy(RAW_MUTAG, tmp_path / "tu" / "MUTAG")
    edges = root / "MUTAG_A.txt"
    lines = edges.read_bytes().splitlines(keepends=True)
    edges.write_bytes(b"".join(lines[:4] + [line] + lines[5:]))
    result = run_cli("--task", "graph", "--dataset", "MUTAG", "--data-root", tmp_path / "tu", "--folds", "2",
                     "--epochs", "1", "--quiet")
    assert_one_line_error(result, "MUTAG_A.txt")


def test_tu_file_that_is_not_text(tmp_path):
    root = copy(RAW_MUTAG, tmp_path / "tu" / "MUTAG")
    with open(root / "MUTAG_node_labels.txt", "ab") as handle:
        handle.write(b"\xff\xfe\x00\n")
    result = run_cli("--task", "graph", "--dataset", "MUTAG", "--data-root", tmp_path / "tu", "--folds", "2",
                     "--epochs", "1", "--quiet")
    assert_one_line_error(result, tmp_path / "tu")


TASKS = {
    "node": ("fastgnn.datasets", "Planetoid", ("--dataset", "citeseer")),
    "link": ("fastgnn.datasets", "Planetoid", ("--task", "link", "--dataset", "citeseer")),
    "graph": ("fastgnn.datasets", "TUDataset", ("--task", "graph", "--dataset", "MUTAG", "--folds", "2")),
}


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("error", [
    IndexError("index 70000 is out of bounds for axis 0 with size 2708"),
    OverflowError("Python int too large to convert to C long"),
    MemoryError("Unable to allocate 37.3 GiB for an array"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    PermissionError(13, "Permission denied"),
    ValueError("ind.citeseer.x must hold a 2-D numeric matrix"),
], ids=lambda error: type(error).__name__)
def test_any_error_of_a_loader_is_one_line_naming_the_data_root(tmp_path, capsys, monkeypatch, task, error):
    """Whatever a loader raises on a damaged file, the command reports it in one line with the folder."""
    module, name, argv = TASKS[task]

    def loader(*args, **kwargs):
        raise error

    monkeypatch.setattr(f"{module}.{name}", loader)
    status = main(["train", *argv, "--data-root", str(tmp_path), "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and str(tmp_path) in err, err


@pytest.mark.parametrize("argv", [("--task", "link"), ("--task", "graph", "--dataset", "MUTAG")])
def test_data_root_that_is_a_file(tmp_path, capsys, argv):
    root = tmp_path / "file"
    root.write_text("x")
    assert main(["train", *argv, "--data-root", str(root), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--data-root" in err and str(root) in err, err
