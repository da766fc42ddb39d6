"""The seeded TU-like graph-classification generator: reproducible, PROTEINS-shaped, balanced as asked, learnable."""
import numpy as np
import pytest

from fastgnn.data import Batch, GraphData
from fastgnn.datasets import SYNTHETIC_GRAPH_DATASETS, synthetic_graph_dataset, tu_like_dataset


@pytest.fixture(scope="module")
def proteins():
    return synthetic_graph_dataset("synthetic-proteins")


def same_dataset(a, b):
    return len(a) == len(b) and all(x == y for x, y in zip(a, b))


def test_seeded():
    assert same_dataset(tu_like_dataset(40, rng=3), tu_like_dataset(40, rng=3))
    assert not same_dataset(tu_like_dataset(40, rng=3), tu_like_dataset(40, rng=4))


def test_proteins_shapes(proteins):
    assert len(proteins) == 1113 and proteins.num_classes == 2 and proteins.num_node_features == 3
    nodes = np.array([g.num_nodes for g in proteins])
    edges = np.array([g.num_edges for g in proteins])
    assert nodes.min() >= 4 and nodes.max() <= 620
    assert 33 <= nodes.mean() <= 45 and nodes.max() >= 200            # PROTEINS: mean 39, a long tail
    assert 3.5 <= edges.sum() / nodes.sum() <= 3.9                      # ~3.7 directed edges per node
    for graph in proteins.graphs[:50]:
        assert isinstance(graph, GraphData)
        assert graph.x.dtype == np.float32 and graph.x.shape == (graph.num_nodes, 3)
        np.testing.assert_array_equal(graph.x.sum(axis=1), 1)          # one-hot node labels
        src, dst = graph.graph.to_edge_index()
        assert not np.any(src == dst)                                   # no self-loops
        pairs = set(zip(src.tolist(), dst.tolist()))
        assert len(pairs) == graph.num_edges                            # no duplicates
        assert all((d, s) in pairs for s, d in pairs)                   # undirected: both directions
    assert repr(proteins).startswith("SyntheticGraphDataset(synthetic-proteins, num_graphs=1113")
    Batch.from_graphs(proteins.graphs[:32])


def test_label_balance(proteins):
    np.testing.assert_array_equal(np.bincount(proteins.y), [663, 450])    # PROTEINS' classes
    assert list(proteins.y) == [int(g.y) for g in proteins]
    dataset = tu_like_dataset(10, class_fractions=(1, 1, 1), num_node_labels=4, rng=0)
    assert sorted(np.bincount(dataset.y).tolist()) == [3, 3, 4] and dataset.num_classes == 3
    assert dataset[0].x.shape[1] == 4


def test_the_classes_differ_in_label_frequencies(proteins):
    share = np.array([g.x.mean(axis=0) for g in proteins])
    # class k over-represents label k
    assert share[proteins.y == 0, 0].mean() > share[proteins.y == 1, 0].mean() + 0.05
    assert share[proteins.y == 1, 1].mean() > share[proteins.y == 0, 1].mean() + 0.05
    flat = tu_like_dataset(300, signal=0.0, rng=0)
    share = np.array([g.x.mean(axis=0) for g in flat])
    assert abs(share[flat.y == 0, 0].mean() - share[flat.y == 1, 0].mean()) < 0.05


def test_options():
    small = tu_like_dataset(5, mean_nodes=3, std_nodes=0, min_nodes=1, max_nodes=3, dtype=np.float64, rng=0)
    assert all(1 <= g.num_nodes <= 3 for g in small) and small[0].x.dtype == np.float64
    with pytest.raises(ValueError, match="num_graphs"):
        tu_like_dataset(0)
    with pytest.raises(ValueError, match="min_nodes"):
        tu_like_dataset(5, min_nodes=5, max_nodes=4)
    with pytest.raises(ValueError, match="class_fractions"):
        tu_like_dataset(5, class_fractions=(1,))
    with pytest.raises(TypeError, match="dtype"):
        tu_like_dataset(5, dtype=np.int32)
    with pytest.raises(ValueError, match="unknown synthetic dataset"):
        synthetic_graph_dataset("nope")
    assert "synthetic-proteins" in SYNTHETIC_GRAPH_DATASETS
