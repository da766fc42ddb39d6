"""GraphData and Batch: the disjoint union, its layout, the unbatch law, corner cases and bad input."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import fastgnn
from fastgnn import Graph
from fastgnn.data import Batch, GraphData


def random_sample(rng, num_nodes, num_edges, width=3, edge_width=2, label=True, weighted=False,
                  index_dtype=None):
    if num_nodes == 0:
        num_edges = 0
    edge_index = rng.integers(0, max(num_nodes, 1), (2, num_edges))
    weight = rng.random(num_edges) if weighted else None
    graph = Graph.from_edge_index(edge_index, num_nodes=num_nodes, edge_weight=weight, index_dtype=index_dtype)
    x = rng.standard_normal((num_nodes, width)).astype(np.float32) if width is not None else None
    edge_attr = rng.standard_normal((num_edges, edge_width)) if edge_width is not None else None
    y = int(rng.integers(0, 3)) if label else None
    return GraphData(graph, x, y, edge_attr)


def test_layout_offsets_and_block_diagonal(rng):
    graphs = [random_sample(rng, n, e) for n, e in [(4, 7), (0, 0), (3, 0), (5, 9), (1, 1)]]
    batch = Batch.from_graphs(graphs)
    assert batch.num_graphs == len(batch) == 5
    assert batch.ptr.tolist() == [0, 4, 4, 7, 12, 13]
    assert batch.batch.tolist() == [0] * 4 + [2] * 3 + [3] * 5 + [4]
    assert batch.edge_ptr.tolist() == [0, 7, 7, 7, 16, 17]
    assert batch.num_nodes == 13 and batch.num_edges == 17
    expected = sp.block_diag([g.graph.to_scipy() for g in graphs], format="csr")
    assert (batch.graph.to_scipy() != expected).nnz == 0
    # CSR built by concatenation: each graph's edges keep their order, offset by the graph's first node
    for g, start in zip(graphs, batch.ptr[:-1]):
        e0 = batch.graph.indptr[start]
        np.testing.assert_array_equal(batch.graph.indices[e0:e0 + g.num_edges], g.graph.indices + start)
    np.testing.assert_array_equal(batch.x, np.concatenate([g.x for g in graphs]))
    np.testing.assert_array_equal(batch.edge_attr, np.concatenate([g.edge_attr for g in graphs]))
    assert batch.y.tolist() == [int(g.y) for g in graphs]
    assert batch.x.dtype == np.float32


def test_aggregation_over_a_batch_is_per_graph_aggregation(rng):
    graphs = [random_sample(rng, n, e) for n, e in [(6, 15), (3, 2), (0, 0), (7, 20)]]
    batch = Batch.from_graphs(graphs)
    out = fastgnn.aggregate(batch.graph, batch.x, "max")
    expected = np.concatenate([fastgnn.aggregate(g.graph, g.x, "max") for g in graphs])
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("sizes", [[(0, 0)], [(0, 0), (0, 0)], [(3, 0)], [(1, 0), (0, 0), (2, 4)], [(5, 12)]])
def test_unbatch_corner_cases(rng, sizes):
    graphs = [random_sample(rng, n, e) for n, e in sizes]
    assert Batch.from_graphs(graphs).unbatch() == graphs


def test_unbatch_keeps_weights_and_optional_fields(rng):
    graphs = [random_sample(rng, n, e, width=None, edge_width=None, label=False, weighted=True)
              for n, e in [(3, 4), (0, 0), (2, 1)]]
    batch = Batch.from_graphs(graphs)
    assert batch.x is None and batch.y is None and batch.edge_attr is None
    assert batch.graph.edge_weight is not None
    assert batch.unbatch() == graphs


def test_vector_labels_are_stacked(rng):
    graphs = [random_sample(rng, 3, 2).replace(y=np.array([1.0, float(i)])) for i in range(4)]
    batch = Batch.from_graphs(graphs)
    assert batch.y.shape == (4, 2)
    assert batch.unbatch() == graphs


def test_index_dtypes_mix(rng):
    graphs = [random_sample(rng, 4, 6, index_dtype="int64"), random_sample(rng, 3, 3, index_dtype="int32")]
    batch = Batch.from_graphs(graphs)
    assert batch.graph.index_dtype == np.int32
    assert batch.unbatch() == graphs


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 12)), min_size=1, max_size=6), st.integers(0, 2 ** 32 - 1))
def test_unbatch_of_batch_is_identity(sizes, seed):
    """The law ``unbatch(from_graphs(gs)) == gs``, for graphs with zero nodes and zero edges too."""
    rng = np.random.default_rng(seed)
    graphs = [random_sample(rng, n, e) for n, e in sizes]
    batch = Batch.from_graphs(graphs)
    assert batch.unbatch() == graphs
    assert [batch[i] for i in range(len(graphs))] == graphs
    assert batch[-1] == graphs[-1]


def test_batch_of_unbatched_is_the_same_batch(rng):
    batch = Batch.from_graphs([random_sample(rng, n, e) for n, e in [(3, 5), (0, 0), (4, 2)]])
    again = Batch.from_graphs(batch.unbatch())
    assert again.graph == batch.graph
    np.testing.assert_array_equal(again.x, batch.x)
    np.testing.assert_array_equal(again.ptr, batch.ptr)


def test_graphdata_equality_is_exact(rng):
    g = random_sample(rng, 3, 4)
    assert g == g.replace()
    assert g != g.replace(x=g.x.astype(np.float64))           # dtype counts
    assert g != g.replace(y=2 if int(g.y) != 2 else 1)
    assert g != g.replace(edge_attr=None)


def test_records_are_immutable(rng):
    g = random_sample(rng, 3, 4)
    with pytest.raises(AttributeError):
        g.x = None
    batch = Batch.from_graphs([g, g])
    with pytest.raises(AttributeError):
        batch.x = None
    with pytest.raises(ValueError):
        batch.x[0, 0] = 1.0            # read-only arrays
    with pytest.raises(ValueError):
        batch.ptr[0] = 1


# ---------------------------------------------------------------------------- bad input
def test_mismatched_feature_widths_name_the_field_and_graph(rng):
    graphs = [random_sample(rng, 3, 2, width=4), random_sample(rng, 2, 1, width=4), random_sample(rng, 2, 1, width=5)]
    with pytest.raises(ValueError, match=r"x of graph 2 has 5 features but graph 0 has 4"):
        Batch.from_graphs(graphs)
    graphs = [random_sample(rng, 3, 2, edge_width=2), random_sample(rng, 2, 1, edge_width=3)]
    with pytest.raises(ValueError, match=r"edge_attr of graph 1 has 3 features"):
        Batch.from_graphs(graphs)


def test_field_present_in_some_graphs_only(rng):
    graphs = [random_sample(rng, 3, 2), random_sample(rng, 2, 1, width=None)]
    with pytest.raises(ValueError, match=r"x is missing in graph 1"):
        Batch.from_graphs(graphs)
    graphs = [random_sample(rng, 3, 2, weighted=True), random_sample(rng, 2, 1)]
    with pytest.raises(ValueError, match=r"edge weights"):
        Batch.from_graphs(graphs)


def test_mismatched_dtypes_and_label_shapes(rng):
    a = random_sample(rng, 3, 2)
    with pytest.raises(ValueError, match=r"x of graph 1 has dtype float64"):
        Batch.from_graphs([a, a.replace(x=a.x.astype(np.float64))])
    with pytest.raises(ValueError, match=r"y of graph 1 has shape"):
        Batch.from_graphs([a, a.replace(y=[1, 2])])


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="at least one graph"):
        Batch.from_graphs([])
    with pytest.raises(TypeError, match=r"graphs\[1\] must be a fastgnn.data.GraphData"):
        Batch.from_graphs([random_sample(rng, 2, 1), "not a graph"])
    graph = Graph.from_edge_index([[0, 1], [1, 2]], num_nodes=3)
    with pytest.raises(ValueError, match=r"x has 2 rows but the graph has 3 nodes"):
        GraphData(graph, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"edge_attr has 1 rows but the graph has 2 edges"):
        GraphData(graph, edge_attr=np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"x must be 2-D"):
        GraphData(graph, np.zeros(3))
    with pytest.raises(TypeError, match=r"graph must be a fastgnn.Graph"):
        GraphData(np.zeros((3, 3)))
    bipartite = Graph.from_edge_index([[0, 1], [0, 0]], num_src_nodes=2, num_dst_nodes=1)
    with pytest.raises(ValueError, match=r"square"):
        GraphData(bipartite)
    with pytest.raises(TypeError, match="Batch.from_graphs"):
        Batch(graph, None, None, None, np.array([0, 3]))
    batch = Batch.from_graphs([random_sample(rng, 2, 1)])
    with pytest.raises(IndexError):
        batch[1]
    with pytest.raises(TypeError):
        batch[0.5]


def test_graph_data_pickles():
    import pickle

    rng = np.random.default_rng(0)
    graph = Graph.from_edge_index(np.array([[0, 1, 2], [1, 2, 0]]), num_nodes=3)
    for item in (GraphData(graph, rng.standard_normal((3, 2)), 1, rng.standard_normal((3, 4))),
                 GraphData(graph), GraphData(graph, y=np.array([0.5, 1.5]))):
        copy = pickle.loads(pickle.dumps(item))
        assert isinstance(copy, GraphData) and copy == item
