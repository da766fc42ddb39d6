"""``fastgnn train --batch-size N --fanout K,K``: mini-batch node classification from the command line."""
import json

import pytest

from fastgnn.cli import main

from cli_run import assert_one_line_error, run_cli


def test_minibatch_run(capsys):
    status = main(["train", "--dataset", "cora", "--model", "sage", "--batch-size", "512", "--fanout", "5,5",
                   "--epochs", "3", "--json"])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert "mini-batches of 512 seeds, fan-outs [5, 5]" in lines[0]
    result = json.loads(lines[-1])
    assert result["minibatch"] == {"batch_size": 512, "fanouts": [5, 5]} and result["epochs"] == 3
    assert 0.0 < result["test_acc"] <= 1.0


def test_fanout_alone_defaults_to_batches_of_1024(capsys):
    assert main(["train", "--model", "gcn", "--fanout=-1,3", "--epochs", "1", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["minibatch"]["batch_size"] == 1024


@pytest.mark.parametrize("argv, needles", [
    (("--fanout", "0,10"), ("--fanout", "got 0")),
    (("--fanout", "10,-2"), ("--fanout", "got -2")),
    (("--fanout", "5,5", "--batch-size", "0"), ("--batch-size", "positive")),
    (("--fanout", "15,10,5"), ("--fanout lists 3 values", "2 layers")),
    (("--fanout", "15", "--layers", "2"), ("--fanout lists 1 values", "2 layers")),
    (("--batch-size", "64",), ("--batch-size needs --fanout",)),
    (("--fanout", "5,5", "--inductive"), ("--inductive",)),
    (("--fanout", "a,b"), ("--fanout", "comma-separated ints")),
])
def test_bad_minibatch_options(argv, needles):
    assert_one_line_error(run_cli("--model", "sage", "--epochs", "1", *argv), *needles)


def test_minibatch_on_a_dataset_folder_keeps_the_features_mapped(tmp_path, capsys, monkeypatch):
    import numpy as np

    from fastgnn.cli import node
    from fastgnn.datasets import dcsbm_node_dataset

    folder = tmp_path / "dcsbm"
    dcsbm_node_dataset(str(folder), 600, 8, 3, num_features=12, seed=0)
    seen = []
    original = node._FolderDataset.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(isinstance(self.x, np.memmap))

    monkeypatch.setattr(node._FolderDataset, "__init__", spy)
    status = main(["train", "--dataset", str(folder), "--model", "sage", "--fanout", "5,5", "--batch-size", "64",
                   "--epochs", "2", "--quiet", "--json"])
    assert status == 0 and seen == [True]
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["minibatch"] == {"batch_size": 64, "fanouts": [5, 5]} and result["epochs"] == 2
