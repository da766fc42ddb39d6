"""``fastgnn train --save``: a path that cannot be written is reported before training, as one line."""
import os
import sys

import numpy as np
import pytest

from fastgnn.cli import main


def train(capsys, *argv):
    status = main(["train", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip()


def assert_refused_before_training(capsys, path, *needles):
    status, out, err = train(capsys, "--epochs", "2", "--save", path)   # not --quiet: progress would show
    assert status == 2
    assert "epoch" not in out and "val acc" not in out, out
    assert len(err.splitlines()) == 1 and "--save" in err and str(path) in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_directory(tmp_path, capsys):
    assert_refused_before_training(capsys, tmp_path, "directory")


def test_a_folder_that_does_not_exist(tmp_path, capsys):
    assert_refused_before_training(capsys, tmp_path / "no-such-folder" / "gcn.npz", "does not exist")
    assert not (tmp_path / "no-such-folder").exists()


def test_a_file_as_the_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert_refused_before_training(capsys, tmp_path / "file" / "gcn.npz", "not a directory")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"),
                    reason="needs /proc, where nobody can create files")
def test_a_folder_nobody_can_write():
    from cli_run import assert_one_line_error, run_cli

    result = run_cli("--epochs", "1", "--save", "/proc/fastgnn-weights.npz")
    assert_one_line_error(result, "--save", "/proc/fastgnn-weights.npz")
    assert result.stdout == ""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder(tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert_refused_before_training(capsys, folder / "gcn.npz")
    finally:
        folder.chmod(0o700)


def test_saving_leaves_no_temporary_file_and_replaces_an_old_one(tmp_path, capsys):
    path = tmp_path / "gcn.npz"
    path.write_bytes(b"old")
    status, _, _ = train(capsys, "--epochs", "1", "--save", path, "--quiet")
    assert status == 0 and sorted(os.listdir(tmp_path)) == ["gcn.npz"]
    with np.load(path) as weights:
        assert weights["convs.0.lin.weight"].shape == (16, 1433)
