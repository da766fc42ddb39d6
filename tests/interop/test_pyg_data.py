"""PyTorch Geometric Data in and out: fastgnn.interop.pyg.from_pyg / to_pyg."""
import numpy as np
import pytest

from conversion_cases import case_graph, graph_params
from fastgnn import Graph

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
pytest.importorskip("torch_geometric", reason="PyTorch Geometric is not installed (pip install torch_geometric)")
from torch_geometric.data import Data  # noqa: E402

from fastgnn.interop.node_data import NodeData  # noqa: E402
from fastgnn.interop.pyg import from_pyg, to_pyg  # noqa: E402


@pytest.mark.parametrize("weight_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, weighted", graph_params())
def test_graph_round_trip_is_exact(name, weighted, weight_dtype):
    graph = case_graph(name, weighted, weight_dtype)
    data = to_pyg(graph)
    assert data.num_nodes == graph.num_nodes and data.edge_index.dtype == torch.int64
    weighted = graph.edge_weight is not None
    assert ("edge_weight" in data) == weighted
    if weighted:
        assert data.edge_weight.dtype == torch.from_numpy(np.zeros(0, weight_dtype)).dtype
    back = from_pyg(data)
    assert back.graph == graph  # same CSR, same edge order, same weights bit for bit
    np.testing.assert_array_equal(back.edge_order, np.arange(graph.num_edges))


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_from_pyg_sorts_by_destination_and_reorders_edge_features(index_dtype):
    edge_index = torch.tensor([[2, 0, 1, 0, 2], [1, 2, 0, 1, 1]])
    edge_attr = torch.arange(10.0).reshape(5, 2)
    data = Data(edge_index=edge_index, edge_attr=edge_attr, num_nodes=4)
    out = from_pyg(data, index_dtype=index_dtype)
    assert out.graph.index_dtype == index_dtype and out.graph.edge_weight is None
    expected = Graph.from_edge_index(edge_index.numpy(), num_nodes=4)
    assert out.graph == expected
    np.testing.assert_array_equal(out.edge_order, [2, 0, 3, 4, 1])
    np.testing.assert_array_equal(out.edge_attr, edge_attr.numpy()[out.edge_order])
    # to_pyg writes edge features in the graph's edge order, so they follow their edges back
    again = from_pyg(to_pyg(out))
    np.testing.assert_array_equal(again.edge_attr, out.edge_attr)


def test_edge_weight_and_one_dimensional_edge_attr_are_weights():
    edge_index = torch.tensor([[0, 1, 2], [2, 2, 0]])
    w = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    g1 = from_pyg(Data(edge_index=edge_index, edge_weight=w, num_nodes=3)).graph
    g2 = from_pyg(Data(edge_index=edge_index, edge_attr=w, num_nodes=3)).graph
    assert g1 == g2 and g1.edge_weight.dtype == np.float64
    np.testing.assert_array_equal(g1.edge_weight, [3.0, 0.5, 2.0])
    assert from_pyg(Data(edge_index=edge_index, edge_weight=w, num_nodes=3), weight=None).graph.edge_weight is None
    named = from_pyg(Data(edge_index=edge_index, cost=w[:, None], num_nodes=3), weight="cost").graph
    assert named == g1


def test_dataset_round_trip_with_features_labels_and_masks():
    from fastgnn.datasets import load_cora

    cora = load_cora()
    data = to_pyg(cora)
    for key in ("x", "y", "train_mask", "val_mask", "test_mask"):
        np.testing.assert_array_equal(data[key].numpy(), getattr(cora, key))
    assert data.train_mask.dtype == torch.bool and data.y.dtype == torch.int64
    back = from_pyg(data)
    assert isinstance(back, NodeData)
    assert back.graph == cora.graph and back.num_classes == cora.num_classes == 7
    for key in ("x", "y", "train_mask", "val_mask", "test_mask"):
        np.testing.assert_array_equal(getattr(back, key), getattr(cora, key))
    assert (back.num_nodes, back.num_features, back.num_edges) == (2708, 1433, 10556)


def test_sparse_features_become_dense_and_explicit_arrays_win():
    from fastgnn.datasets import load_cora

    cora = load_cora(sparse_features=True)
    data = to_pyg(cora, y=np.zeros(cora.num_nodes, dtype=np.int64))
    np.testing.assert_array_equal(data.x.numpy(), cora.x.toarray())
    assert int(data.y.abs().sum()) == 0


def test_edge_index_tensor_subclass_and_pyg_models_run_on_the_result():
    from torch_geometric import EdgeIndex
    from torch_geometric.nn import GCNConv

    graph = case_graph("isolated_nodes", weighted=True)
    edge_index = EdgeIndex(torch.tensor(graph.to_edge_index()), sparse_size=(6, 6))
    out = from_pyg(Data(edge_index=edge_index, edge_weight=torch.tensor(graph.edge_weight), num_nodes=6))
    assert out.graph == graph
    data = to_pyg(graph, x=np.ones((6, 2), np.float32))
    assert GCNConv(2, 3)(data.x, data.edge_index, data.edge_weight).shape == (6, 3)


def test_inputs_unchanged_and_outputs_are_copies():
    edge_index = torch.tensor([[1, 0], [0, 1]])
    data = Data(edge_index=edge_index.clone(), x=torch.ones(2, 2), num_nodes=2)
    out = from_pyg(data)
    assert torch.equal(data.edge_index, edge_index)
    back = to_pyg(out)
    back.edge_index[0, 0] = 1  # a copy: the graph does not change
    assert out.graph == from_pyg(data).graph
    assert not out.graph.indices.flags.writeable


# ---------------------------------------------------------------------- bad input
def test_bad_input_errors():
    with pytest.raises(TypeError, match="edge_index"):
        from_pyg(Data(x=torch.ones(2, 2)))
    with pytest.raises(ValueError, match=r"shape \(2, num_edges\)"):
        from_pyg(Data(edge_index=torch.tensor([0, 1]), num_nodes=2))
    with pytest.raises(TypeError, match="integer dtype"):
        from_pyg(Data(edge_index=torch.tensor([[0.0], [1.0]]), num_nodes=2))
    with pytest.raises(ValueError, match="out of range"):
        from_pyg(Data(edge_index=torch.tensor([[0], [5]]), num_nodes=2))
    with pytest.raises(ValueError, match="negative"):
        from_pyg(Data(edge_index=torch.tensor([[0], [-1]]), num_nodes=2))
    with pytest.raises(ValueError, match="edge_weight must have shape"):
        from_pyg(Data(edge_index=torch.tensor([[0], [1]]), edge_weight=torch.ones(3), num_nodes=2))
    with pytest.raises(ValueError, match="no edge attribute 'cost'"):
        from_pyg(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2), weight="cost")
    with pytest.raises(ValueError, match="x must have one row per node"):
        from_pyg(Data(edge_index=torch.tensor([[0], [1]]), x=torch.ones(3, 2), num_nodes=2))
    with pytest.raises(TypeError, match="train_mask must be a boolean array"):
        from_pyg(Data(edge_index=torch.tensor([[0], [1]]), train_mask=torch.ones(2), num_nodes=2))
    with pytest.raises(TypeError, match="fastgnn.Graph or a dataset"):
        to_pyg(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="y must have one row per node"):
        to_pyg(case_graph("star"), y=np.zeros(4))
    block = Graph.from_edge_index([[0, 1], [0, 0]], num_src_nodes=2, num_dst_nodes=1)
    with pytest.raises(ValueError, match="square"):
        to_pyg(block)


def test_strided_sparse_and_read_only_inputs():
    edge_index = torch.tensor([[1, 0], [0, 1], [2, 2]]).t()[:, :2]  # a non-contiguous view
    assert not edge_index.is_contiguous()
    x = torch.eye(3).to_sparse()                                     # a sparse tensor becomes dense
    out = from_pyg(Data(edge_index=edge_index, x=x, num_nodes=3))
    assert out.graph == Graph.from_edge_index([[1, 0], [0, 1]], num_nodes=3)
    np.testing.assert_array_equal(out.x, np.eye(3))
    frozen = np.array([[0, 1], [1, 2]])
    frozen.flags.writeable = False
    assert from_pyg(Data(edge_index=frozen, num_nodes=3)).graph.num_edges == 2  # arrays do as well as tensors


def test_multi_label_y_has_no_inferred_class_count():
    data = Data(edge_index=torch.tensor([[0], [1]]), y=torch.tensor([[1, 0], [1, 1]]), num_nodes=2)
    out = from_pyg(data)
    assert out.y.shape == (2, 2) and out.num_classes is None


def test_to_pyg_takes_a_dataset_folder_with_its_default_split(tmp_path):
    from fastgnn.datasets import OnDiskDataset, save_dataset

    graph = case_graph("isolated_nodes", weighted=True)
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = np.arange(6)
    save_dataset(tmp_path / "d", graph, x, ids % 2, splits={"train": ids[:2], "valid": ids[2:3], "test": ids[3:]})
    data = to_pyg(OnDiskDataset(tmp_path / "d"))
    np.testing.assert_array_equal(data.train_mask.numpy(), [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(data.test_mask.numpy(), [0, 0, 0, 1, 1, 1])
    back = from_pyg(data)
    assert back.graph == graph and np.array_equal(back.x, x) and back.num_classes == 2
