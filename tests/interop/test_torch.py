"""fastgnn.interop.torch: autograd Functions, spmm, use_with_pyg, Aggregation, graph cache, devices, threads."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastgnn  # noqa: E402
from fastgnn.ops import reference as R  # noqa: E402
from fastgnn.interop import torch as ft  # noqa: E402
from fastgnn.interop import _torch_api  # noqa: E402
from fastgnn.interop import _torch_ops  # noqa: E402
from interop_helpers import assert_close, csr_adjacency, random_edge_index  # noqa: E402

REDUCES = ["sum", "mean", "max", "min"]


# ---------------------------------------------------------------------------- import hygiene
def test_import_fastgnn_never_imports_torch():
    code = ("import sys, fastgnn, fastgnn.interop, fastgnn.interop.scipy, fastgnn.testing; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- autograd: gradcheck in float64
@pytest.mark.parametrize("reduce", REDUCES)
def test_aggregate_gradcheck_edge_index_with_weights(reduce):
    edge_index = random_edge_index(9, 9, 30, seed=1)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(9, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    w = (torch.rand(edge_index.shape[1], dtype=torch.float64, generator=gen) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w: ft.aggregate(edge_index, x, reduce, w, num_nodes=9), (x, w))


@pytest.mark.parametrize("reduce", REDUCES)
def test_aggregate_gradcheck_bipartite_unweighted(reduce):
    edge_index = random_edge_index(7, 4, 20, seed=3)
    x = torch.randn(7, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ft.aggregate(edge_index, x, reduce, size=(7, 4)), (x,))


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_gradcheck_values_and_features(reduce):
    edge_index = random_edge_index(8, 8, 25, seed=4, duplicates=False)
    adj = csr_adjacency(edge_index, 8, 8).to(torch.float64)
    crow, col = adj.crow_indices(), adj.col_indices()
    values = (torch.rand(col.numel(), dtype=torch.float64) + 0.5).requires_grad_()
    x = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)

    def f(values, x):
        return ft.spmm(torch.sparse_csr_tensor(crow, col, values, size=(8, 8)), x, reduce)
    assert torch.autograd.gradcheck(f, (values, x))


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_gradcheck(reduce):
    x = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    ptr = torch.tensor([0, 3, 3, 7, 10])
    assert torch.autograd.gradcheck(lambda x: ft.segment_reduce(x, ptr, reduce), (x,))


def test_edge_dot_gradcheck_in_input_edge_order():
    edge_index = random_edge_index(6, 5, 18, seed=5)
    a = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ft.edge_dot(edge_index, a, b, size=(6, 5)), (a, b))
    # The result is in the columns' order of edge_index.
    out = ft.edge_dot(edge_index, a, b, size=(6, 5))
    expected = (a[edge_index[1]] * b[edge_index[0]]).sum(1)
    assert_close(out.detach(), expected.detach(), torch.float64)


# ---------------------------------------------------------------------------- forward values vs the reference
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_aggregate_matches_reference_and_returns_arg(reduce, dtype):
    edge_index = random_edge_index(12, 12, 50, seed=6)
    graph, order = fastgnn.Graph.from_edge_index(edge_index.numpy(), num_nodes=12, return_edge_order=True)
    x = torch.randn(12, 5, dtype=dtype)
    w = torch.rand(edge_index.shape[1], dtype=torch.float64)
    out, arg = ft.aggregate(edge_index, x, reduce, w, num_nodes=12, return_arg=True)
    ref_out, ref_arg = R.aggregate(graph.indptr, graph.indices, x.numpy(), reduce,
                                   w.numpy()[order].astype(x.numpy().dtype))
    assert out.dtype == dtype
    assert_close(out, torch.from_numpy(ref_out), dtype)
    if reduce in ("max", "min"):
        np.testing.assert_array_equal(arg.numpy(), ref_arg)
    else:
        assert arg is None


def test_aggregate_accepts_a_fastgnn_graph_with_its_weights():
    edge_index = random_edge_index(10, 10, 40, seed=7)
    w = np.random.default_rng(0).uniform(0.5, 2, edge_index.shape[1])
    graph = fastgnn.Graph.from_edge_index(edge_index.numpy(), num_nodes=10, edge_weight=w)
    x = torch.randn(10, 3, dtype=torch.float64)
    out = ft.aggregate(graph, x, "sum")
    np.testing.assert_allclose(out.numpy(), fastgnn.aggregate(graph, x.numpy()), rtol=1e-12)


def test_one_dimensional_features():
    edge_index = random_edge_index(6, 6, 20, seed=8)
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    out = ft.aggregate(edge_index, x, "max", num_nodes=6)
    assert out.shape == (6,)
    assert torch.autograd.gradcheck(lambda x: ft.aggregate(edge_index, x, "mean", num_nodes=6), (x,))


def test_empty_graph_and_zero_edges():
    edge_index = torch.zeros((2, 0), dtype=torch.int64)
    x = torch.randn(4, 3, requires_grad=True)
    for reduce in REDUCES:
        out = ft.aggregate(edge_index, x, reduce, num_nodes=4)
        assert torch.equal(out, torch.zeros(4, 3))
        out.sum().backward()
        assert torch.equal(x.grad, torch.zeros(4, 3))
        x.grad = None
    adj = torch.sparse_csr_tensor(torch.zeros(4, dtype=torch.int64), torch.zeros(0, dtype=torch.int64),
                                  torch.zeros(0), size=(3, 4))
    assert torch.equal(ft.spmm(adj, x, "max"), torch.zeros(3, 3))


# ---------------------------------------------------------------------------- memory sharing
def test_inputs_are_read_in_place_and_outputs_wrap_fastgnn_buffers():
    x = torch.randn(5, 4)
    assert _torch_ops._features(x, "x").ctypes.data == x.data_ptr()
    noncontiguous = torch.randn(4, 5).t()
    assert _torch_ops._features(noncontiguous, "x").flags.c_contiguous  # a copy, only then
    edge_index = random_edge_index(5, 5, 12, seed=9)
    out = ft.aggregate(edge_index, x, "sum", num_nodes=5)
    assert out.is_contiguous() and out.data_ptr() % 64 == 0  # fastgnn's aligned output, not a copy


# ---------------------------------------------------------------------------- spmm
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("layout", ["csr", "coo", "csc"])
def test_spmm_matches_torch_sparse_mm(reduce, layout):
    edge_index = random_edge_index(10, 7, 40, seed=10)
    values = torch.rand(edge_index.shape[1]) + 0.5
    adj = csr_adjacency(edge_index, 10, 7, values)
    x = torch.randn(10, 6, requires_grad=True)
    expected = torch.sparse.mm(adj, x) if reduce == "sum" else torch.sparse.mm(adj, x, reduce)
    (grad_expected,) = torch.autograd.grad((expected * expected).sum(), x)
    operand = {"csr": adj, "coo": adj.to_sparse_coo(), "csc": adj.to_sparse_csc()}[layout]
    out = ft.spmm(operand, x, reduce)
    (grad,) = torch.autograd.grad((out * out).sum(), x)
    assert_close(out, expected)
    assert_close(grad, grad_expected)


def test_spmm_value_gradient_matches_torch_sparse_mm():
    edge_index = random_edge_index(9, 9, 30, seed=11, duplicates=False)
    adj = csr_adjacency(edge_index, 9, 9).to(torch.float64)
    crow, col = adj.crow_indices(), adj.col_indices()
    values = torch.rand(col.numel(), dtype=torch.float64, requires_grad=True)
    x = torch.randn(9, 4, dtype=torch.float64)
    torch.sparse.mm(torch.sparse_csr_tensor(crow, col, values, size=(9, 9)), x).pow(2).sum().backward()
    expected = values.grad.clone()
    values.grad = None
    ft.spmm(torch.sparse_csr_tensor(crow, col, values, size=(9, 9)), x).pow(2).sum().backward()
    assert_close(values.grad, expected, torch.float64)


def test_spmm_uncoalesced_coo_sums_duplicates_like_pyg():
    indices = torch.tensor([[0, 0, 1, 0], [1, 1, 0, 2]])
    coo = torch.sparse_coo_tensor(indices, torch.tensor([1.0, 2.0, 1.0, -1.0]), (2, 3))
    x = torch.randn(3, 2)
    expected = torch.stack([torch.maximum(3 * x[1], -x[2]), x[0]])
    assert_close(ft.spmm(coo, x, "max"), expected)


def test_value_dtype_other_than_the_features_spmm_refuses_aggregate_casts():
    edge_index = random_edge_index(6, 6, 20, seed=12)
    adj = csr_adjacency(edge_index, 6, 6)  # float32 values
    x = torch.randn(6, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match="dtype torch.float32 but other has dtype torch.float64"):
        ft.spmm(adj, x)  # as torch.sparse.mm and PyG
    out = ft.aggregate(adj, x)  # fastgnn's rule: edge weights are cast to the features' dtype
    assert out.dtype == torch.float64
    assert_close(out, torch.sparse.mm(adj.to(torch.float64), x), torch.float64)


def test_spmm_matches_pyg_for_edge_index_and_rejects_bad_input():
    pytest.importorskip("torch_geometric")
    from torch_geometric import EdgeIndex
    from torch_geometric.utils import spmm as pyg_spmm

    edge_index = random_edge_index(8, 8, 30, seed=13)
    sorted_index = EdgeIndex(edge_index, sparse_size=(8, 8)).sort_by("row")[0]
    x = torch.randn(8, 3)
    for reduce in REDUCES:
        assert_close(ft.spmm(sorted_index, x, reduce), pyg_spmm(sorted_index, x, reduce))
    unsorted = EdgeIndex(edge_index, sparse_size=(8, 8))
    assert_close(ft.spmm(unsorted, x, "sum"), pyg_spmm(sorted_index, x, "sum"))
    with pytest.raises(ValueError, match="reduce"):
        ft.spmm(csr_adjacency(edge_index, 8, 8), x, "prod")
    with pytest.raises(TypeError, match="src"):
        ft.spmm(edge_index, x)  # a dense edge_index is not a matrix
    with pytest.raises(ValueError, match="other"):
        ft.spmm(csr_adjacency(edge_index, 8, 8), torch.randn(5, 3))
    with pytest.raises(TypeError, match="other"):
        ft.spmm(csr_adjacency(edge_index, 8, 8), torch.ones(8, 3, dtype=torch.int64))


def test_spmm_accepts_a_torch_sparse_sparse_tensor_by_duck_type():
    """torch_sparse is not installed here: a stand-in with the SparseTensor methods spmm reads."""
    edge_index = random_edge_index(6, 6, 20, seed=14)
    adj = csr_adjacency(edge_index, 6, 6, torch.rand(edge_index.shape[1]))

    class Storage:
        def value(self):
            return adj.values()

    class SparseTensor:
        storage = Storage()

        def csr(self):
            return adj.crow_indices(), adj.col_indices(), adj.values()

        def sparse_sizes(self):
            return (6, 6)

        def is_cuda(self):
            return False

    SparseTensor.__module__ = "torch_sparse.tensor"
    x = torch.randn(6, 4)
    assert_close(ft.spmm(SparseTensor(), x, "max"), torch.sparse.mm(adj, x, "max"))


# ---------------------------------------------------------------------------- devices and types
def test_non_cpu_tensors_are_refused_with_a_clear_error():
    edge_index = random_edge_index(5, 5, 10, seed=15)
    meta = torch.empty(5, 3, device="meta")
    with pytest.raises(TypeError, match="device 'meta'.*cpu"):
        ft.aggregate(edge_index, meta, num_nodes=5)
    with pytest.raises(TypeError, match="device"):
        ft.to_graph(edge_index.to("meta"))
    with pytest.raises(TypeError, match="device"):
        ft.segment_reduce(meta, torch.tensor([0, 5]))


def test_core_ops_refuse_a_dlpack_object_on_a_gpu():
    class FakeCudaArray:
        shape = (5, 3)

        def __dlpack_device__(self):
            return (2, 0)  # kDLCUDA

        def __dlpack__(self, stream=None):
            raise AssertionError("must not be read")

    graph = fastgnn.Graph.from_edge_index(random_edge_index(5, 5, 10, seed=16).numpy(), num_nodes=5)
    with pytest.raises(TypeError, match="non-CPU device"):
        fastgnn.aggregate(graph, FakeCudaArray())


def test_cpu_tensors_go_through_the_core_ops_without_copies():
    graph = fastgnn.Graph.from_edge_index(random_edge_index(5, 5, 10, seed=17).numpy(), num_nodes=5)
    x = torch.randn(5, 3)
    np.testing.assert_array_equal(fastgnn.aggregate(graph, x), fastgnn.aggregate(graph, x.numpy()))


def test_wrong_inputs_name_the_argument():
    edge_index = random_edge_index(5, 5, 10, seed=18)
    with pytest.raises(TypeError, match="x must have dtype"):
        ft.aggregate(edge_index, torch.ones(5, 2, dtype=torch.int32), num_nodes=5)
    with pytest.raises(ValueError, match="x must have 5 rows"):
        ft.aggregate(edge_index, torch.ones(4, 2), num_nodes=5)
    with pytest.raises(ValueError, match="edge_weight must have shape"):
        ft.aggregate(edge_index, torch.ones(5, 2), edge_weight=torch.ones(3), num_nodes=5)
    with pytest.raises(TypeError, match="edge_weight must hold real"):
        ft.aggregate(edge_index, torch.ones(5, 2), edge_weight=torch.ones(edge_index.shape[1],
                                                                         dtype=torch.complex64), num_nodes=5)
    with pytest.raises(ValueError, match="reduce"):
        ft.aggregate(edge_index, torch.ones(5, 2), "prod", num_nodes=5)
    with pytest.raises(TypeError, match="adj must be"):
        ft.to_graph([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="edge_index must have shape"):
        ft.to_graph(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="negative"):
        ft.to_graph(torch.tensor([[0, -1], [1, 0]]))
    with pytest.raises(ValueError, match="ptr"):
        ft.segment_reduce(torch.ones(4, 2), torch.tensor([0, 5]))


# ---------------------------------------------------------------------------- cache
def test_graph_cache_hits_and_invalidation():
    edge_index = random_edge_index(8, 8, 30, seed=19)
    first = ft.to_graph(edge_index, 8)
    assert ft.to_graph(edge_index, 8) is first
    assert ft.to_graph(edge_index.view(2, -1), 8) is first  # another tensor over the same memory
    assert ft.to_graph(edge_index, 8, cache=False) is not first
    assert ft.to_graph(edge_index.clone(), 8) is not first  # other memory
    edge_index[0, 0] = (edge_index[0, 0] + 1) % 8  # in-place change: _version moves
    changed = ft.to_graph(edge_index, 8)
    assert changed is not first
    np.testing.assert_array_equal(np.sort(changed.graph.indices), np.sort(edge_index[0].numpy()))
    assert ft.cache_info()["graphs"] >= 2
    ft.clear_cache()
    assert ft.cache_info() == {"graphs": 0, "edge_values": 0, "gcn_norm": 0, "message_graphs": 0,
                               "coalesced": 0, "bytes": 0}


def test_inference_mode_tensors_work_and_are_not_cached():
    edge_index = random_edge_index(8, 8, 30, seed=32)
    x = torch.randn(8, 3)
    expected = ft.aggregate(edge_index, x, "max", num_nodes=8)
    ft.clear_cache()
    with torch.inference_mode():
        inference_index = edge_index.clone()
        adj = csr_adjacency(inference_index, 8, 8, torch.rand(inference_index.shape[1]))
        assert torch.equal(ft.aggregate(inference_index, x, "max", num_nodes=8), expected)
        assert_close(ft.spmm(adj, x, "mean"), torch.sparse.mm(adj, x, "mean"))
        assert ft.Aggregation("sum")(x, torch.tensor([0, 1, 1, 2, 0, 0, 1, 2]), dim_size=3).shape == (3, 3)
    assert ft.cache_info() == {"graphs": 0, "edge_values": 0, "gcn_norm": 0, "message_graphs": 0,
                               "coalesced": 0, "bytes": 0}


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_torch_api, "CACHE_SIZE", 3)
    alive = [random_edge_index(5, 5, 10, seed=seed) for seed in range(6)]
    for edge_index in alive:
        ft.to_graph(edge_index, 5)
    assert ft.cache_info()["graphs"] == 3
    del alive, edge_index  # entries never outlive the tensors they were built from
    assert ft.cache_info()["graphs"] == 0


def test_constant_values_are_cached_and_in_place_changes_are_seen():
    edge_index = random_edge_index(8, 8, 30, seed=20)
    adj = csr_adjacency(edge_index, 8, 8, torch.rand(edge_index.shape[1]))
    x = torch.randn(8, 3)
    before = ft.spmm(adj, x)
    assert ft.cache_info()["edge_values"] == 1
    adj.values().mul_(2)
    after = ft.spmm(adj, x)
    assert_close(after, 2 * before)


def test_values_cache_survives_a_dtype_cast():
    edge_index = random_edge_index(8, 8, 30, seed=30)
    adj = csr_adjacency(edge_index, 8, 8, torch.rand(edge_index.shape[1]))  # float32 values
    x = torch.randn(8, 3, dtype=torch.float64)
    results = [ft.aggregate(adj, x, "max") for _ in range(4)]
    assert ft.cache_info()["edge_values"] == 1
    assert all(torch.equal(r, results[0]) for r in results)
    assert_close(results[0], torch.sparse.mm(adj.to(torch.float64), x, "max"), torch.float64)


# ---------------------------------------------------------------------------- threads
def test_threads_follow_torch_unless_fastgnn_is_told(monkeypatch):
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert _torch_ops._resolve_threads(None) == 1
        fastgnn.set_num_threads(2)
        assert _torch_ops._resolve_threads(None) == 2
        assert _torch_ops._resolve_threads(3) == 3
        fastgnn.set_num_threads(None)
        torch.set_num_threads(2)
        assert _torch_ops._resolve_threads(None) == 2
    finally:
        torch.set_num_threads(previous)
    with pytest.raises(ValueError):
        _torch_ops._resolve_threads(0)


@pytest.mark.parametrize("reduce", REDUCES)
def test_results_identical_for_any_thread_count(reduce):
    edge_index = random_edge_index(300, 300, 6000, seed=21)
    x = torch.randn(300, 64, requires_grad=True)
    outs, grads = [], []
    for threads in (1, 2, 3):
        out = ft.aggregate(edge_index, x, reduce, num_nodes=300, n_threads=threads)
        (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
        outs.append(out)
        grads.append(grad)
    for out, grad in zip(outs[1:], grads[1:]):
        assert torch.equal(out, outs[0]) and torch.equal(grad, grads[0])


# ---------------------------------------------------------------------------- PyG layers under use_with_pyg


def _pyg():
    return pytest.importorskip("torch_geometric")


def _layer(name, aggr, channels):
    from torch_geometric.nn import GCNConv, GINConv, GraphConv, SAGEConv
    torch.manual_seed(0)
    if name == "GCNConv":
        return GCNConv(channels, channels, **({} if aggr is None else aggr))
    if name == "SAGEConv":
        return SAGEConv(channels, channels, aggr=aggr)
    if name == "GINConv":
        return GINConv(torch.nn.Sequential(torch.nn.Linear(channels, channels), torch.nn.ReLU(),
                                           torch.nn.Linear(channels, channels)), train_eps=True)
    return GraphConv(channels, channels, aggr=aggr)


LAYERS = [("GCNConv", None), ("GCNConv", {"improved": True}), ("GCNConv", {"add_self_loops": False}),
          ("GCNConv", {"cached": True}), ("GCNConv", {"normalize": False}),
          ("SAGEConv", "mean"), ("SAGEConv", "max"), ("SAGEConv", "sum"), ("GINConv", None),
          ("GraphConv", "sum"), ("GraphConv", "mean"), ("GraphConv", "max"), ("GraphConv", "min")]


def _run_layer(layer, x, adj):
    layer.zero_grad()
    x = x.detach().clone().requires_grad_()
    out = layer(x, adj)
    gen = torch.Generator().manual_seed(1)
    out.backward(torch.randn(out.shape, generator=gen, dtype=out.dtype))
    grads = {name: p.grad.clone() for name, p in layer.named_parameters() if p.grad is not None}
    return out.detach(), x.grad, grads


@pytest.mark.parametrize("name,aggr", LAYERS, ids=lambda v: str(v))
def test_pyg_layers_same_outputs_and_gradients_under_use_with_pyg(name, aggr):
    _pyg()
    edge_index = random_edge_index(40, 40, 200, seed=22)
    adj = csr_adjacency(edge_index, 40, 40)
    from torch_geometric.utils import to_torch_csr_tensor
    coalesced = to_torch_csr_tensor(edge_index.flip(0), size=(40, 40))  # duplicates summed, as PyG builds it
    x = torch.randn(40, 8)
    layer = _layer(name, aggr, 8)
    for operand in (adj, coalesced):
        expected = _run_layer(layer, x, operand)
        with ft.use_with_pyg():
            actual = _run_layer(layer, x, operand)
            if name == "GCNConv" and aggr and aggr.get("cached"):
                actual = _run_layer(layer, x, operand)  # the second call reads PyG's own cache
        assert_close(actual[0], expected[0])
        assert_close(actual[1], expected[1])
        assert actual[2].keys() == expected[2].keys()
        for key in expected[2]:
            assert_close(actual[2][key], expected[2][key])
        if name == "GCNConv":
            layer.reset_parameters()
            layer.load_state_dict(_layer(name, aggr, 8).state_dict())


@pytest.mark.parametrize("aggr", ["mean", "max"])
def test_pyg_bipartite_sage_under_use_with_pyg(aggr):
    _pyg()
    from torch_geometric.nn import SAGEConv
    edge_index = random_edge_index(30, 12, 90, seed=23)
    adj = csr_adjacency(edge_index, 30, 12)
    torch.manual_seed(0)
    conv = SAGEConv((6, 5), 7, aggr=aggr)
    x_src, x_dst = torch.randn(30, 6, requires_grad=True), torch.randn(12, 5)
    expected = conv((x_src, x_dst), adj)
    (g_expected,) = torch.autograd.grad(expected.sum(), x_src)
    with ft.use_with_pyg(n_threads=2):
        actual = conv((x_src, x_dst), adj)
        (g_actual,) = torch.autograd.grad(actual.sum(), x_src)
    assert_close(actual, expected)
    assert_close(g_actual, g_expected)


def test_pyg_calls_really_go_through_fastgnn(kernel_calls):
    _pyg()
    from torch_geometric.nn import GCNConv, SAGEConv
    edge_index = random_edge_index(20, 20, 60, seed=24)
    adj = csr_adjacency(edge_index, 20, 20)
    x = torch.randn(20, 4)
    with ft.use_with_pyg():
        GCNConv(4, 4)(x, adj)
        SAGEConv(4, 4, aggr="max")(x, adj)
        GCNConv(4, 4)(x, edge_index)  # the edge_index path stays PyG's
    assert kernel_calls.forward == [("aggregate", "sum"), ("aggregate", "max")]
    assert ft.cache_info()["gcn_norm"] == 1


def test_use_with_pyg_restores_the_hooks_even_on_error_and_nests():
    _pyg()
    from torch_geometric.nn.conv import gcn_conv, sage_conv
    from torch_geometric.utils import _spmm
    spmm_before, norm_before = sage_conv.spmm, gcn_conv.gcn_norm
    assert spmm_before is _spmm.spmm
    with ft.use_with_pyg():
        assert sage_conv.spmm is not spmm_before and gcn_conv.gcn_norm is not norm_before
        with ft.use_with_pyg():
            pass
        assert sage_conv.spmm is not spmm_before  # still active in the outer block
    assert sage_conv.spmm is spmm_before and gcn_conv.gcn_norm is norm_before
    with pytest.raises(RuntimeError, match="boom"):
        with ft.use_with_pyg():
            raise RuntimeError("boom")
    assert sage_conv.spmm is spmm_before and gcn_conv.gcn_norm is norm_before
    assert ft._PYG_STATE["depth"] == 0


def test_use_with_pyg_falls_back_to_pyg_for_what_it_does_not_handle():
    _pyg()
    from torch_geometric.nn import GCNConv, SAGEConv
    edge_index = random_edge_index(15, 15, 50, seed=25, duplicates=False)
    adj = csr_adjacency(edge_index, 15, 15)
    # learnable adjacency values: gcn_norm stays PyG's (differentiable), spmm is fastgnn's
    values = torch.rand(adj.values().numel(), requires_grad=True)

    def learnable():
        return torch.sparse_csr_tensor(adj.crow_indices(), adj.col_indices(), values, size=(15, 15))
    x = torch.randn(15, 4)
    torch.manual_seed(0)
    conv = GCNConv(4, 4)
    expected = conv(x, learnable())
    (g_expected,) = torch.autograd.grad(expected.sum(), values)
    with ft.use_with_pyg():
        actual = conv(x, learnable())
        (g_actual,) = torch.autograd.grad(actual.sum(), values)
        # half precision: PyG's own code path
        half = SAGEConv(4, 4).to(torch.bfloat16)
        half(x.to(torch.bfloat16), adj.to(torch.bfloat16))
    assert_close(actual, expected)
    assert_close(g_actual, g_expected)


def test_gcn_norm_cache_sees_in_place_changes():
    _pyg()
    from torch_geometric.nn import GCNConv
    edge_index = random_edge_index(15, 15, 50, seed=26)
    adj = csr_adjacency(edge_index, 15, 15, torch.rand(56))
    x = torch.randn(15, 4)
    conv = GCNConv(4, 4)
    with ft.use_with_pyg():
        first = conv(x, adj)
        adj.values().mul_(3)
        second = conv(x, adj)
    assert_close(second, conv(x, adj))
    assert not torch.allclose(first, second)


# ---------------------------------------------------------------------------- Aggregation
@pytest.mark.parametrize("reduce", REDUCES)
def test_aggregation_matches_pyg_aggregation(reduce):
    _pyg()
    from torch_geometric.nn import aggr as pyg_aggr
    reference = {"sum": pyg_aggr.SumAggregation, "mean": pyg_aggr.MeanAggregation,
                 "max": pyg_aggr.MaxAggregation, "min": pyg_aggr.MinAggregation}[reduce]()
    module = ft.Aggregation(reduce)
    assert isinstance(module, pyg_aggr.Aggregation)
    x = torch.randn(50, 6, requires_grad=True)
    index = torch.randint(0, 9, (50,))
    index[index == 4] = 5  # an empty group
    expected = reference(x, index, dim_size=10)
    (g_expected,) = torch.autograd.grad((expected ** 2).sum(), x)
    actual = module(x, index, dim_size=10)
    (g_actual,) = torch.autograd.grad((actual ** 2).sum(), x)
    assert_close(actual, expected)
    assert_close(g_actual, g_expected)
    # ptr (grouped rows): segment_reduce
    order = torch.argsort(index, stable=True)
    ptr = torch.zeros(11, dtype=torch.int64)
    ptr[1:] = torch.cumsum(torch.bincount(index, minlength=10), 0)
    assert_close(module(x[order], ptr=ptr), expected)
    assert repr(module) == f"Aggregation({reduce!r})"


def test_aggregation_in_a_pyg_layer_on_the_edge_index_path():
    _pyg()
    from torch_geometric.nn import SAGEConv
    edge_index = random_edge_index(30, 30, 120, seed=27)
    x = torch.randn(30, 5, requires_grad=True)
    torch.manual_seed(0)
    reference = SAGEConv(5, 4, aggr="max")
    torch.manual_seed(0)
    ours = SAGEConv(5, 4, aggr=ft.Aggregation("max"))
    ours.load_state_dict(reference.state_dict())
    expected = reference(x, edge_index)
    (g_expected,) = torch.autograd.grad(expected.sum(), x)
    actual = ours(x, edge_index)
    (g_actual,) = torch.autograd.grad(actual.sum(), x)
    assert_close(actual, expected)
    assert_close(g_actual, g_expected)


def test_aggregation_rejects_bad_input():
    _pyg()
    module = ft.Aggregation("sum")
    with pytest.raises(ValueError, match="index"):
        module(torch.ones(4, 2), torch.tensor([0, 1, 5, 2]), dim_size=3)
    with pytest.raises(ValueError, match="2-D"):
        module(torch.ones(2, 4, 2), torch.tensor([0, 1, 1, 2]), dim=1)
    with pytest.raises(ValueError):
        ft.Aggregation("prod")


def test_no_warnings_on_the_fast_path():
    _pyg()
    from torch_geometric.nn import SAGEConv
    edge_index = random_edge_index(10, 10, 30, seed=28)
    adj = csr_adjacency(edge_index, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ft.use_with_pyg():
            SAGEConv(3, 3)(torch.randn(10, 3), adj)


@pytest.mark.parametrize("make", [
    lambda: __import__("torch_geometric.nn", fromlist=["APPNP"]).APPNP(K=3, alpha=0.1),
    lambda: __import__("torch_geometric.nn", fromlist=["SGConv"]).SGConv(8, 8, K=2),
    lambda: __import__("torch_geometric.nn", fromlist=["TAGConv"]).TAGConv(8, 8, K=2),
    lambda: __import__("torch_geometric.nn", fromlist=["LGConv"]).LGConv(),
    lambda: __import__("torch_geometric.nn", fromlist=["SimpleConv"]).SimpleConv(aggr="max"),
], ids=["APPNP", "SGConv", "TAGConv", "LGConv", "SimpleConv_max"])
def test_other_pyg_layers_that_fuse_agree_under_use_with_pyg(make):
    _pyg()
    edge_index = random_edge_index(30, 30, 150, seed=29)
    from torch_geometric.utils import to_torch_csr_tensor
    adj = to_torch_csr_tensor(edge_index.flip(0), size=(30, 30))
    torch.manual_seed(0)
    layer = make()
    x = torch.randn(30, 8)
    expected = _run_layer(layer, x, adj)
    with ft.use_with_pyg():
        actual = _run_layer(layer, x, adj)
    assert_close(actual[0], expected[0])
    assert_close(actual[1], expected[1])
    for key in expected[2]:
        assert_close(actual[2][key], expected[2][key])


@pytest.mark.parametrize("model_name,kwargs", [("GCN", {}), ("GraphSAGE", {"aggr": "max"}), ("GIN", {}),
                                               ("GraphSAGE", {"aggr": "mean"})],
                         ids=["GCN", "GraphSAGE_max", "GIN", "GraphSAGE_mean"])
def test_pyg_models_switch_backend_in_one_line(model_name, kwargs):
    """A whole PyG model (several layers, activations, training step) gives the same outputs and gradients."""
    _pyg()
    from torch_geometric import nn as pyg_nn
    from torch_geometric.utils import to_torch_csr_tensor
    edge_index = random_edge_index(50, 50, 300, seed=31)
    adj_t = to_torch_csr_tensor(edge_index.flip(0), size=(50, 50))
    x = torch.randn(50, 12)
    torch.manual_seed(0)
    model = getattr(pyg_nn, model_name)(12, 16, num_layers=3, out_channels=4, **kwargs)
    model.eval()  # no dropout randomness between the two runs
    expected = _run_layer(model, x, adj_t)
    with ft.use_with_pyg():
        actual = _run_layer(model, x, adj_t)
    assert_close(actual[0], expected[0])
    assert_close(actual[1], expected[1])
    assert actual[2].keys() == expected[2].keys()
    for key in expected[2]:
        assert_close(actual[2][key], expected[2][key])
