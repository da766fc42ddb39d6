"""DataLoader: batches cover the dataset, seeded reshuffling per epoch, drop_last, bad arguments."""
import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.data import Batch, DataLoader, GraphData


def dataset(count=23):
    graphs = []
    for i in range(count):
        n = i % 4  # some graphs have zero nodes
        edges = [[j for j in range(n - 1)], [j + 1 for j in range(n - 1)]] if n > 1 else [[], []]
        graphs.append(GraphData(Graph.from_edge_index(np.array(edges, dtype=np.int64).reshape(2, -1), num_nodes=n),
                                np.full((n, 2), i, dtype=np.float32), i))
    return graphs


def labels_of(loader):
    return [batch.y.tolist() for batch in loader]


def test_in_order_without_shuffle():
    loader = DataLoader(dataset(), batch_size=5)
    epochs = [labels_of(loader), labels_of(loader)]
    assert epochs[0] == epochs[1] == [list(range(s, min(s + 5, 23))) for s in range(0, 23, 5)]
    assert len(loader) == 5
    batch = next(iter(loader))
    assert isinstance(batch, Batch) and batch.num_graphs == 5


def test_shuffle_covers_every_graph_and_reshuffles_each_epoch():
    loader = DataLoader(dataset(), batch_size=4, shuffle=True, rng=3)
    first, second = labels_of(loader), labels_of(loader)
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == list(range(23))
    assert first != second
    assert sum(first, []) != list(range(23))


def test_shuffle_is_reproducible_from_the_seed():
    one = DataLoader(dataset(), batch_size=4, shuffle=True, rng=11)
    two = DataLoader(dataset(), batch_size=4, shuffle=True, rng=11)
    assert [labels_of(one) for _ in range(3)] == [labels_of(two) for _ in range(3)]
    other = DataLoader(dataset(), batch_size=4, shuffle=True, rng=12)
    assert labels_of(other) != labels_of(DataLoader(dataset(), batch_size=4, shuffle=True, rng=11))


def test_drop_last():
    loader = DataLoader(dataset(), batch_size=5, drop_last=True)
    assert len(loader) == 4
    assert [len(b) for b in labels_of(loader)] == [5, 5, 5, 5]
    assert len(DataLoader(dataset(4), batch_size=5, drop_last=True)) == 0
    assert labels_of(DataLoader(dataset(4), batch_size=5, drop_last=True)) == []
    assert [len(b) for b in labels_of(DataLoader(dataset(10), batch_size=5, drop_last=True, shuffle=True))] == [5, 5]


def test_batch_features_follow_the_order():
    loader = DataLoader(dataset(), batch_size=6, shuffle=True, rng=0)
    for batch in loader:
        for member in batch.unbatch():
            assert np.all(member.x == int(member.y))


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError),
                                               (True, TypeError)])
def test_bad_batch_size(batch_size, error):
    with pytest.raises(error, match="batch_size"):
        DataLoader(dataset(), batch_size=batch_size)


def test_bad_dataset_and_seed():
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(42, batch_size=2)
    with pytest.raises(TypeError, match="seed"):
        DataLoader(dataset(), batch_size=2, shuffle=True, rng="x")
