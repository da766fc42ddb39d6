"""``fastgnn train --partitions``: only rank 0 reads the dataset (its graph, memory-mapped) to check the partitions."""
import numpy as np
import pytest

from fastgnn.cli._common import CommandError
from fastgnn.cli.node import load_dataset
from fastgnn.cli.partitioned import check_dataset
from fastgnn.datasets import save_dataset
from fastgnn.distributed import PartitionInfo, partition
from fastgnn.graph import Graph


class _Rank:
    """A rank of a job whose broadcast hands out ``value`` (what rank 0 sends)."""

    def __init__(self, rank, value=None):
        self.rank, self.value, self.sent = rank, value, []

    def bcast(self, obj, root=0):
        self.sent.append(obj)
        return obj if self.rank == root else self.value


def _dataset(folder, seed):
    rng = np.random.default_rng(seed)
    graph = Graph.from_edge_index(rng.integers(0, 40, (2, 160)), num_nodes=40)
    ids = np.arange(40)
    save_dataset(folder, graph, rng.standard_normal((40, 3)).astype(np.float32), rng.integers(0, 3, 40),
                 {"default": {"train": ids[:20], "valid": ids[20:30], "test": ids[30:]}})
    return folder


def _settings(folder):
    return {"dataset": str(folder), "data_root": None}


def test_rank_zero_checks_the_mapped_graph_and_the_others_read_nothing(tmp_path):
    folder = _dataset(tmp_path / "data", 0)
    partition(str(folder), 2, tmp_path / "parts", method="contiguous")
    info = PartitionInfo.load(tmp_path / "parts")
    opened = []

    def spy(*args, **kwargs):
        dataset = load_dataset(*args, **kwargs)
        opened.append(dataset)
        return dataset

    description, num_classes = check_dataset(_settings(folder), info, _Rank(0), spy)
    assert num_classes == 3 and "40" in description
    assert isinstance(opened[0].x, np.memmap)             # the features are not read
    assert isinstance(opened[0].graph.indices, np.memmap)

    def must_not_load(*args, **kwargs):
        raise AssertionError("rank 1 read the dataset")

    assert check_dataset(_settings(folder), info, _Rank(1, (None, "the dataset", 3)), must_not_load) == (
        "the dataset", 3)


def test_another_graph_is_a_command_error_on_every_rank(tmp_path):
    partition(str(_dataset(tmp_path / "data", 0)), 2, tmp_path / "parts", method="contiguous")
    info = PartitionInfo.load(tmp_path / "parts")
    other = _dataset(tmp_path / "other", 1)                 # same sizes, other edges: the fingerprint differs
    rank0 = _Rank(0)
    with pytest.raises(CommandError, match="cut from another graph"):
        check_dataset(_settings(other), info, rank0, load_dataset)
    with pytest.raises(CommandError, match="cut from another graph"):
        check_dataset(_settings(other), info, _Rank(1, rank0.sent[0]), load_dataset)
    with pytest.raises(CommandError, match="--dataset"):
        check_dataset(_settings(tmp_path / "missing"), info, _Rank(0), load_dataset)
