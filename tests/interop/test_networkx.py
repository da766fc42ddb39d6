"""networkx in and out: Graph.from_networkx / to_networkx and fastgnn.interop.networkx."""
import numpy as np
import pytest

from conversion_cases import (SIMPLE, assert_same_edges, case_graph, edge_multiset, graph_params,
                              symmetric)
from fastgnn import Graph

nx = pytest.importorskip("networkx", reason="networkx is not installed (pip install networkx)")
from fastgnn.interop import networkx as fnx  # noqa: E402


@pytest.mark.parametrize("name, weighted", graph_params())
def test_directed_round_trip(name, weighted):
    graph = case_graph(name, weighted)
    G = graph.to_networkx(multigraph=name == "duplicates")
    assert G.is_directed() and G.number_of_nodes() == graph.num_nodes
    back = Graph.from_networkx(G)
    # edges come back in G's order (by source); weights come back as float64
    expected = graph if graph.edge_weight is None else graph.with_edge_weight(graph.edge_weight.astype(np.float64))
    assert_same_edges(back, expected)


@pytest.mark.parametrize("name, weighted", graph_params(SIMPLE))
def test_directed_round_trip_keeps_edge_order_of_a_csr_built_graph(name, weighted):
    graph = case_graph(name, weighted, weight_dtype=np.float64)
    back = Graph.from_networkx(graph.to_networkx())
    assert_same_edges(back, graph)
    # G.edges lists edges by source; a stable sort by destination then gives each row sorted by source
    assert np.array_equal(back.indptr, graph.indptr)


@pytest.mark.parametrize("name, weighted", graph_params())
def test_undirected_round_trip(name, weighted):
    graph = symmetric(case_graph(name, weighted, weight_dtype=np.float64))
    G = graph.to_networkx(directed=False, multigraph=name == "duplicates")
    assert not G.is_directed()
    assert_same_edges(Graph.from_networkx(G), graph)


def test_undirected_networkx_gives_both_directions_and_loops_once():
    G = nx.Graph()
    G.add_nodes_from(["a", "b", "c", "d"])
    G.add_edge("a", "b", weight=2.0)
    G.add_edge("b", "b", weight=3.0)
    graph, nodes = Graph.from_networkx(G, return_nodes=True)
    assert nodes == ["a", "b", "c", "d"]
    assert graph.num_nodes == 4 and graph.num_edges == 3
    np.testing.assert_array_equal(edge_multiset(graph), [[0, 1, 2.0], [1, 0, 2.0], [1, 1, 3.0]])


def test_directed_keeps_direction_and_multigraph_keeps_parallel_edges():
    G = nx.MultiDiGraph()
    G.add_edges_from([(0, 1), (0, 1), (2, 1)])
    graph = Graph.from_networkx(G)
    assert graph.edge_weight is None
    np.testing.assert_array_equal(graph.in_degree(), [0, 3, 0])
    np.testing.assert_array_equal(graph.indices, [0, 0, 2])


def test_node_order_and_non_integer_nodes():
    G = nx.DiGraph([("x", "y"), ("y", "z")])
    graph, nodes = Graph.from_networkx(G, node_order=["z", "y", "x"], return_nodes=True)
    assert nodes == ["z", "y", "x"]
    np.testing.assert_array_equal(graph.to_edge_index(), [[1, 2], [0, 1]])  # y -> z, x -> y
    H = graph.to_networkx(nodes=nodes)
    assert set(H.edges) == set(G.edges)


def test_unweighted_when_no_edge_has_the_attribute_and_weight_none_ignores_it():
    G = nx.DiGraph()
    G.add_edge(0, 1, weight=5)
    assert Graph.from_networkx(G, weight="cost").edge_weight is None
    assert Graph.from_networkx(G, weight=None).edge_weight is None
    np.testing.assert_array_equal(Graph.from_networkx(G).edge_weight, [5.0])


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_index_dtype(index_dtype):
    graph = Graph.from_networkx(nx.path_graph(4), index_dtype=index_dtype)
    assert graph.index_dtype == index_dtype


def test_node_features_and_labels_round_trip():
    from fastgnn.interop.node_data import NodeData

    graph = case_graph("isolated_nodes", weighted=True)
    rng = np.random.default_rng(0)
    x = rng.random((graph.num_nodes, 3)).astype(np.float32)
    y = rng.integers(0, 4, graph.num_nodes)
    G = fnx.to_networkx(NodeData(graph, x=x, y=y))
    np.testing.assert_array_equal(G.nodes[2]["x"], x[2])
    assert G.nodes[5]["y"] == y[5]
    back = fnx.from_networkx(G, node_attrs=["x"], label="y")
    assert_same_edges(back.graph, graph.with_edge_weight(graph.edge_weight.astype(np.float64)))
    np.testing.assert_array_equal(back.x, x)
    np.testing.assert_array_equal(back.y, y)
    assert back.num_classes == int(y.max()) + 1


def test_scalar_node_attributes_become_columns():
    G = nx.path_graph(3)
    for node in G:
        G.nodes[node]["a"] = node
        G.nodes[node]["b"] = [10.0 * node, 1.0]
    data = fnx.from_networkx(G, node_attrs=["a", "b"], dtype=np.float64)
    np.testing.assert_array_equal(data.x, [[0, 0, 1], [1, 10, 1], [2, 20, 1]])
    assert data.x.dtype == np.float64 and data.y is None


def test_empty_networkx_graph():
    data = fnx.from_networkx(nx.Graph(), node_attrs=["x"])
    assert data.graph.num_nodes == 0 and data.graph.num_edges == 0
    assert data.x.shape == (0, 0)


def test_to_networkx_takes_a_planetoid_dataset():
    from fastgnn.datasets import load_cora

    cora = load_cora()
    G = fnx.to_networkx(cora, directed=False)
    assert G.number_of_nodes() == 2708 and G.number_of_edges() == 5278
    back = fnx.from_networkx(G, node_attrs=["x"], label="y")
    assert_same_edges(back.graph, cora.graph)
    np.testing.assert_array_equal(back.x, cora.x)


# ---------------------------------------------------------------------- bad input
def test_bad_input_errors():
    with pytest.raises(TypeError, match="G must be a networkx graph"):
        Graph.from_networkx([(0, 1)])
    G = nx.DiGraph()
    G.add_edge(0, 1, weight=1.0)
    G.add_edge(1, 2)
    with pytest.raises(ValueError, match=r"edge \(1, 2\) has no 'weight'"):
        Graph.from_networkx(G)
    G[1][2]["weight"] = "heavy"
    with pytest.raises(TypeError, match="'weight' must be a real number"):
        Graph.from_networkx(G)
    with pytest.raises(ValueError, match="node_order must list every node"):
        Graph.from_networkx(G, node_order=[0, 1])
    with pytest.raises(ValueError, match="node_order must list every node"):
        Graph.from_networkx(G, node_order=[0, 1, 1])
    with pytest.raises(TypeError, match="weight must be an edge attribute name"):
        Graph.from_networkx(G, weight=3)


def test_to_networkx_refuses_what_it_would_lose():
    with pytest.raises(ValueError, match="duplicate edges .* multigraph=True"):
        case_graph("duplicates").to_networkx()
    with pytest.raises(ValueError, match="symmetric"):
        case_graph("isolated_nodes").to_networkx(directed=False)
    block = Graph.from_edge_index([[0, 1], [0, 0]], num_src_nodes=2, num_dst_nodes=1)
    with pytest.raises(ValueError, match="square"):
        block.to_networkx()


def test_missing_node_attribute_is_named():
    G = nx.path_graph(2)
    G.nodes[0]["x"] = [1.0]
    with pytest.raises(ValueError, match="node 1 has no attribute 'x'"):
        fnx.from_networkx(G, node_attrs=["x"])
    G.nodes[1]["x"] = [1.0, 2.0]
    with pytest.raises(ValueError, match="different shapes"):
        fnx.from_networkx(G, node_attrs=["x"])
    G.nodes[1]["x"] = [1.0]
    G.nodes[0]["c"], G.nodes[1]["c"] = 0.5, 1.0
    with pytest.raises(TypeError, match="one integer per node"):
        fnx.from_networkx(G, label="c")


def test_input_graph_unchanged():
    G = nx.karate_club_graph()
    before = nx.to_dict_of_dicts(G)
    Graph.from_networkx(G)
    assert nx.to_dict_of_dicts(G) == before
