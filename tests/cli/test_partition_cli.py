"""``fastgnn partition``: writes the parts of a Planetoid dataset or a dataset folder; bad input is one line."""
import json

import numpy as np
import pytest

from fastgnn.cli import main
from fastgnn.datasets import dcsbm_node_dataset, load_cora
from fastgnn.distributed import load_partition, reassemble


def _error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastgnn partition: error: ")
    return err


def test_partitions_cora_with_the_node_task_features(tmp_path, capsys):
    assert main(["partition", "--dataset", "cora", "--num-parts", "3", "--method", "random",
                 "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "edge cut" in out and "halo nodes" in out and "bytes exchanged per epoch" in out
    cora = load_cora(normalize_features=True)
    graph, x, y, splits = reassemble(tmp_path / "p")
    assert graph == cora.graph
    np.testing.assert_array_equal(x, np.asarray(cora.x))
    np.testing.assert_array_equal(y, cora.y)
    np.testing.assert_array_equal(splits["default"]["train"], np.flatnonzero(cora.train_mask))
    np.testing.assert_array_equal(splits["default"]["test"], np.flatnonzero(cora.test_mask))
    assert load_partition(tmp_path / "p", 2).masks()[0].sum() > 0


def test_json_report_and_dataset_folder(tmp_path, capsys):
    dcsbm_node_dataset(tmp_path / "sbm", 300, 6, 3, num_features=4, seed=0)
    assert main(["partition", "--dataset", str(tmp_path / "sbm"), "--num-parts", "2", "--method", "contiguous",
                 "--out", str(tmp_path / "p"), "--json", "--width", "8"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["num_parts"] == 2 and record["owned"] == [150, 150] and record["width"] == 8
    assert record["exchange_bytes_float32"] == 2 * sum(record["halo"]) * 8 * 4
    assert reassemble(tmp_path / "p")[0].num_nodes == 300


@pytest.mark.parametrize("argv, needle", [
    (["--num-parts", "0"], "--num-parts must be a positive integer"),
    (["--num-parts", "5000", "--method", "random"], "--num-parts 5000 is more than the 2708 nodes"),
    (["--num-parts", "2", "--dataset", "nope"], "--dataset must be one of"),
    (["--num-parts", "2", "--seed", "-1"], "--seed"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, needle):
    assert main(["partition", "--out", str(tmp_path / "p"), *argv]) == 2
    assert needle in _error(capsys)
    assert not (tmp_path / "p").exists()


def test_existing_out_and_missing_folder(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    assert main(["partition", "--num-parts", "2", "--out", str(tmp_path / "p")]) == 2
    assert "--overwrite" in _error(capsys)
    assert main(["partition", "--num-parts", "2", "--dataset", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "q")]) == 2
    assert "not a folder" in _error(capsys)
