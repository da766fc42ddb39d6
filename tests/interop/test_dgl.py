"""DGL in and out: fastgnn.interop.dgl.from_dgl / to_dgl.

DGL itself is tested when it imports here (it lives in its own environment on
the development machine, whose NumPy cannot load fastgnn); the conversion code
is also run against a small stand-in with DGL's documented API
(``g.edges(order="eid")``, ``g.num_nodes()``, ``g.ndata``, ``g.edata``,
``dgl.graph((src, dst), num_nodes=...)``), with NumPy arrays and with torch tensors.
"""
import sys
import types

import numpy as np
import pytest

from conversion_cases import case_graph, graph_params
from fastgnn import Graph
from fastgnn.interop.dgl import from_dgl, to_dgl


class FakeDGLGraph:
    """The part of ``dgl.DGLGraph`` fastgnn reads: edges in edge-id order, node and edge data."""

    def __init__(self, src, dst, num_nodes, homogeneous=True):
        self._src, self._dst, self._num_nodes = src, dst, num_nodes
        self.ndata, self.edata = {}, {}
        self.is_homogeneous = homogeneous

    def edges(self, form="uv", order="eid"):
        assert form == "uv" and order == "eid"
        return self._src, self._dst

    def num_nodes(self):
        return self._num_nodes


@pytest.fixture
def fake_dgl(monkeypatch):
    """A stand-in ``dgl`` module whose ``graph`` builds a FakeDGLGraph (``to_dgl`` imports it)."""
    pytest.importorskip("torch", reason="to_dgl builds torch tensors (pip install torch)")
    module = types.ModuleType("dgl")
    module.graph = lambda edges, num_nodes: FakeDGLGraph(edges[0], edges[1], num_nodes)
    monkeypatch.setitem(sys.modules, "dgl", module)
    return module


def test_from_dgl_reads_edges_weights_and_node_data():
    g = FakeDGLGraph(np.array([2, 0, 1, 2]), np.array([0, 1, 1, 0]), 4)
    g.edata["w"] = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    g.ndata["feat"] = np.arange(8, dtype=np.float32).reshape(4, 2)
    g.ndata["label"] = np.array([0, 2, 1, 1])
    g.ndata["train_mask"] = np.array([True, False, False, True])
    data = from_dgl(g)
    expected = Graph.from_edge_index([[2, 0, 1, 2], [0, 1, 1, 0]], num_nodes=4, edge_weight=[1.0, 2.0, 3.0, 4.0])
    assert data.graph == expected
    np.testing.assert_array_equal(data.edge_order, [0, 3, 1, 2])
    np.testing.assert_array_equal(data.x, g.ndata["feat"])
    np.testing.assert_array_equal(data.train_mask, g.ndata["train_mask"])
    assert data.val_mask is None and data.num_classes == 3


def test_from_dgl_names_are_configurable():
    g = FakeDGLGraph(np.array([0]), np.array([1]), 2)
    g.edata["weight"] = np.array([0.5])
    g.ndata["h"] = np.ones((2, 3))
    data = from_dgl(g, weight="weight", node_fields={"x": "h"})
    np.testing.assert_array_equal(data.graph.edge_weight, [0.5])
    assert data.x.shape == (2, 3)
    assert from_dgl(g).graph.edge_weight is None  # no field "w"


@pytest.mark.parametrize("name, weighted", graph_params())
def test_round_trip_through_the_stand_in(fake_dgl, name, weighted):
    graph = case_graph(name, weighted)
    x = np.random.default_rng(0).random((graph.num_nodes, 2)).astype(np.float32)
    g = to_dgl(graph, x=x, train_mask=np.ones(graph.num_nodes, bool))
    assert g.num_nodes() == graph.num_nodes
    back = from_dgl(g)  # torch tensors in g
    assert back.graph == graph
    np.testing.assert_array_equal(back.x, x)
    assert back.train_mask.all() and back.y is None


def test_bad_input_errors():
    with pytest.raises(TypeError, match="g must be a DGL graph"):
        from_dgl(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="several node or edge types"):
        from_dgl(FakeDGLGraph(np.array([0]), np.array([1]), 2, homogeneous=False))
    with pytest.raises(ValueError, match="out of range"):
        from_dgl(FakeDGLGraph(np.array([0]), np.array([5]), 2))
    g = FakeDGLGraph(np.array([0]), np.array([1]), 2)
    g.ndata["feat"] = np.ones((3, 2))
    with pytest.raises(ValueError, match="x must have one row per node"):
        from_dgl(g)
    with pytest.raises(ValueError, match="node_fields must be a dict"):
        from_dgl(g, node_fields={"features": "feat"})


def test_round_trip_with_dgl():
    dgl = pytest.importorskip("dgl", reason="DGL is not installed here (pip install dgl)")
    graph = case_graph("duplicates", weighted=True)
    g = to_dgl(graph, x=np.ones((graph.num_nodes, 2), np.float32))
    assert isinstance(g, dgl.DGLGraph) and g.num_edges() == graph.num_edges
    back = from_dgl(g)
    assert back.graph == graph


def test_to_dgl_checks_node_arrays(fake_dgl):
    with pytest.raises(ValueError, match="x must have one row per node"):
        to_dgl(case_graph("star"), x=np.ones((4, 2)))
