"""``fastgnn train --dataset PATH``: full-batch node classification on a dataset folder; bad folders are one line."""
import json
import os

import numpy as np

from cli_run import assert_one_line_error, run_cli
from fastgnn import Graph
from fastgnn.cli import main
from fastgnn.datasets import dcsbm_node_dataset, save_dataset


def test_trains_on_a_dataset_folder(tmp_path, capsys):
    dcsbm_node_dataset(tmp_path / "sbm", 600, 8, 3, num_features=8, seed=0)
    assert main(["train", "--dataset", str(tmp_path / "sbm"), "--model", "sage", "--epochs", "3", "--json",
                 "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["dataset"] == "dcsbm" and result["task"] == "node"
    assert 0.0 <= result["test_acc"] <= 1.0


def test_unlabelled_nodes_are_left_out(tmp_path, capsys):
    graph = Graph.from_edge_index(np.array([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]]))
    x = np.eye(5, dtype=np.float32)
    save_dataset(tmp_path / "d", graph, x, y=[0, 1, -1, 1, 0],
                 splits={"train": [0, 1], "valid": [2, 3], "test": [4]})
    assert main(["train", "--dataset", str(tmp_path / "d"), "--epochs", "2", "--json", "--quiet"]) == 0


def test_folder_errors_are_one_line(tmp_path):
    dcsbm_node_dataset(tmp_path / "sbm", 200, 4, 2, num_features=4, seed=0)
    indices = tmp_path / "sbm" / "indices.npy"
    with open(indices, "r+b") as handle:
        handle.truncate(os.path.getsize(indices) - 8)
    assert_one_line_error(run_cli("--dataset", tmp_path / "sbm", "--epochs", "1", "--quiet"), "indices.npy")
    assert_one_line_error(run_cli("--dataset", tmp_path / "missing", "--epochs", "1"), "missing", "not a folder")
    assert_one_line_error(run_cli("--dataset", tmp_path / "sbm", "--data-root", tmp_path, "--epochs", "1"),
                          "--data-root")
    graph = Graph.from_edge_index(np.array([[0, 1], [1, 0]]))
    save_dataset(tmp_path / "bare", graph)
    assert_one_line_error(run_cli("--dataset", tmp_path / "bare", "--epochs", "1"), "x.npy", "y.npy")
