"""random_link_split: sizes, both directions together, no leakage into message passing, negatives."""
import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.data import LinkSplit, random_link_split
from fastgnn.datasets import load_cora
from fastgnn.graph.transforms import to_undirected


def pairs(edge_index, undirected=True):
    edge_index = np.asarray(edge_index)
    if undirected:
        return set(zip(np.minimum(*edge_index).tolist(), np.maximum(*edge_index).tolist()))
    return set(map(tuple, edge_index.T.tolist()))


def symmetric_graph(rng, n, m, weighted=False):
    edge_index = to_undirected(rng.integers(0, n, size=(2, m)), n)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    weight = rng.random(edge_index.shape[1]) if weighted else None
    return Graph.from_edge_index(edge_index, num_nodes=n, edge_weight=weight)


@pytest.fixture(scope="module")
def cora_split():
    graph = load_cora().graph
    return graph, random_link_split(graph, val=0.05, test=0.1, rng=0)


def test_paper_split_sizes_on_cora(cora_split):
    graph, split = cora_split
    assert isinstance(split, LinkSplit)
    total = graph.num_edges // 2                       # 5,278 undirected edges
    assert split.val_pos_edge_index.shape == (2, total // 20)      # 263, as Kipf & Welling's floor
    assert split.test_pos_edge_index.shape == (2, total // 10)     # 527
    assert split.train_pos_edge_index.shape[1] == total - total // 20 - total // 10
    assert split.val_neg_edge_index.shape == split.val_pos_edge_index.shape
    assert split.test_neg_edge_index.shape == split.test_pos_edge_index.shape
    assert split.train_graph.num_edges == 2 * split.train_pos_edge_index.shape[1]
    assert split.num_nodes == graph.num_nodes == split.train_graph.num_nodes


def test_no_leakage_and_both_directions_together(cora_split):
    graph, split = cora_split
    train_directed = set(map(tuple, split.train_graph.to_edge_index().T.tolist()))
    held_out = pairs(split.val_pos_edge_index) | pairs(split.test_pos_edge_index)
    for j, i in held_out:
        assert (j, i) not in train_directed and (i, j) not in train_directed
    # the training graph is symmetric and is exactly the training pairs in both directions
    assert all((i, j) in train_directed for j, i in train_directed)
    assert pairs(split.train_graph.to_edge_index()) == pairs(split.train_pos_edge_index)
    # the three parts partition the edges of the graph
    everything = pairs(graph.to_edge_index())
    parts = [pairs(split.train_pos_edge_index), pairs(split.val_pos_edge_index), pairs(split.test_pos_edge_index)]
    assert set.union(*parts) == everything
    assert sum(len(p) for p in parts) == len(everything)


def test_negatives_are_non_edges_distinct_and_disjoint(cora_split):
    graph, split = cora_split
    everything = pairs(graph.to_edge_index())
    val_neg = split.val_neg_edge_index
    test_neg = split.test_neg_edge_index
    for negatives in (val_neg, test_neg):
        assert np.all(negatives[0] != negatives[1])
        assert not pairs(negatives) & everything
        assert len(pairs(negatives)) == negatives.shape[1]
    assert not pairs(val_neg) & pairs(test_neg)


def test_edge_label_index(cora_split):
    _, split = cora_split
    edge_index, labels = split.edge_label_index("test")
    k = split.test_pos_edge_index.shape[1]
    assert edge_index.shape == (2, 2 * k) and labels.tolist() == [1.0] * k + [0.0] * k
    np.testing.assert_array_equal(edge_index[:, :k], split.test_pos_edge_index)
    with pytest.raises(ValueError, match="'val' or 'test'"):
        split.edge_label_index("train")


def test_seeded():
    graph = load_cora().graph
    a = random_link_split(graph, rng=3)
    b = random_link_split(graph, rng=3)
    c = random_link_split(graph, rng=4)
    np.testing.assert_array_equal(a.test_pos_edge_index, b.test_pos_edge_index)
    np.testing.assert_array_equal(a.val_neg_edge_index, b.val_neg_edge_index)
    assert a.train_graph == b.train_graph
    assert not np.array_equal(a.test_pos_edge_index, c.test_pos_edge_index)


def test_counts_weights_and_duplicates(rng):
    graph = symmetric_graph(rng, 40, 150, weighted=True)
    total = graph.num_edges // 2
    split = random_link_split(graph, val=7, test=0, rng=rng)
    assert split.val_pos_edge_index.shape[1] == 7 and split.test_pos_edge_index.shape[1] == 0
    assert split.test_neg_edge_index.shape == (2, 0)
    assert split.train_pos_edge_index.shape[1] == total - 7
    # kept edges keep their weights
    full = {tuple(e): w for e, w in zip(graph.to_edge_index().T.tolist(), graph.edge_weight)}
    for e, w in zip(split.train_graph.to_edge_index().T.tolist(), split.train_graph.edge_weight):
        assert full[tuple(e)] == w
    # a duplicated edge: all its copies go to the same part
    edge_index = graph.to_edge_index()
    doubled = Graph.from_edge_index(np.concatenate([edge_index, edge_index], axis=1), num_nodes=40)
    split = random_link_split(doubled, val=0.2, test=0.2, rng=0)
    assert split.train_graph.num_edges == 4 * split.train_pos_edge_index.shape[1]
    assert split.val_pos_edge_index.shape[1] == int(0.2 * total)


def test_self_loops_stay_in_message_passing(rng):
    graph = symmetric_graph(rng, 20, 60).add_self_loops()
    split = random_link_split(graph, val=0.3, test=0.3, rng=0)
    train = split.train_graph
    assert train.has_self_loop().all()
    for edge_index in (split.train_pos_edge_index, split.val_pos_edge_index, split.test_pos_edge_index):
        assert np.all(edge_index[0] != edge_index[1])


def test_directed_split(rng):
    edge_index = rng.integers(0, 30, size=(2, 200))
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    graph = Graph.from_edge_index(edge_index, num_nodes=30)
    split = random_link_split(graph, val=0.1, test=0.2, undirected=False, rng=1)
    directed = pairs(graph.to_edge_index(), undirected=False)
    train = pairs(split.train_graph.to_edge_index(), undirected=False)
    val = pairs(split.val_pos_edge_index, undirected=False)
    test = pairs(split.test_pos_edge_index, undirected=False)
    assert train | val | test == directed and not train & (val | test)
    assert len(val) == int(0.1 * len(directed)) and len(test) == int(0.2 * len(directed))
    for negatives in (split.val_neg_edge_index, split.test_neg_edge_index):
        assert not pairs(negatives, undirected=False) & directed


def test_everything_held_out():
    graph = Graph.from_edge_index(to_undirected(np.array([[0, 1, 2], [1, 2, 3]])), num_nodes=6)
    split = random_link_split(graph, val=1, test=2, rng=0)
    assert split.train_graph.num_edges == 0 and split.train_pos_edge_index.shape == (2, 0)


def test_more_edges_than_exist_raises():
    graph = Graph.from_edge_index(to_undirected(np.array([[0, 1, 2], [1, 2, 3]])), num_nodes=6)
    with pytest.raises(ValueError, match="only 3 distinct undirected edges"):
        random_link_split(graph, val=2, test=2, rng=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        random_link_split(graph, val=1.5, test=0.1)
    with pytest.raises(ValueError, match="non-negative"):
        random_link_split(graph, val=-1, test=0)


def test_too_few_non_edges_for_the_negatives():
    n = 5
    src, dst = np.meshgrid(np.arange(n), np.arange(n))
    keep = src != dst
    complete = Graph.from_edge_index(np.stack([src[keep], dst[keep]]), num_nodes=n)
    with pytest.raises(ValueError, match="negative"):
        random_link_split(complete, val=1, test=1, rng=0)


def test_bad_graphs():
    asymmetric = Graph.from_edge_index(np.array([[0, 1], [1, 2]]), num_nodes=3)
    with pytest.raises(ValueError, match="symmetric"):
        random_link_split(asymmetric, val=1, test=0)
    random_link_split(asymmetric, val=1, test=0, undirected=False, rng=0)
    bipartite = Graph.from_edge_index(np.array([[0, 1], [1, 0]]), num_src_nodes=3, num_dst_nodes=2)
    with pytest.raises(ValueError, match="square"):
        random_link_split(bipartite)
    with pytest.raises(TypeError, match="fastgnn.Graph"):
        random_link_split(np.array([[0, 1], [1, 0]]))
    with pytest.raises(TypeError, match="fraction"):
        random_link_split(asymmetric, val="0.1", undirected=False)
