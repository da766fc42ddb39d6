"""Regression tests of fastgnn.interop.torch: each one failed on the adapter before its fix.

Cache keys (strides, storage offset), exception types, TorchScript and torch.compile under
``use_with_pyg()``, double backward, dtype rule, conversion warnings, coalescing of duplicates
and cache memory.
"""
import gc
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastgnn  # noqa: E402
from fastgnn.interop import torch as ft  # noqa: E402
from fastgnn.interop import _torch_api  # noqa: E402
from interop_helpers import assert_close, csr_adjacency, random_edge_index  # noqa: E402


def _reference_aggregate(edge_index, x, reduce, num_nodes):
    graph = fastgnn.Graph.from_edge_index(edge_index.numpy().copy(), num_nodes=num_nodes)
    return torch.from_numpy(fastgnn.aggregate(graph, x.numpy(), reduce))


# ---------------------------------------------------------------------------- A: cache keys
def test_transpose_view_and_view_of_one_memory_get_their_own_graphs():
    """``base.t()`` and ``base.view(2, E)`` share data_ptr, size and version, not strides."""
    gen = torch.Generator().manual_seed(0)
    base = torch.randint(0, 9, (20, 2), generator=gen)
    x = torch.randn(9, 3, dtype=torch.float64, generator=gen)
    transposed, viewed = base.t(), base.view(2, 20)
    assert transposed.data_ptr() == viewed.data_ptr() and transposed.shape == viewed.shape
    for edge_index in (transposed, viewed, transposed):
        assert_close(ft.aggregate(edge_index, x, "sum", num_nodes=9), _reference_aggregate(edge_index, x, "sum", 9))


def test_strided_slices_and_as_strided_views_get_their_own_graphs():
    gen = torch.Generator().manual_seed(1)
    flat = torch.randint(0, 7, (48,), generator=gen)
    x = torch.randn(7, 2, dtype=torch.float64, generator=gen)
    views = [flat.as_strided((2, 12), (12, 1)), flat.as_strided((2, 12), (1, 2)),
             flat.as_strided((2, 12), (24, 2)), flat.as_strided((2, 12), (12, 1), 1),
             flat.view(4, 12)[::2], flat.view(4, 12)[:2]]
    for edge_index in views + views[::-1]:
        assert_close(ft.aggregate(edge_index, x, "max", num_nodes=7), _reference_aggregate(edge_index, x, "max", 7))


def test_aggregation_index_slice_and_stepped_slice_do_not_collide():
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import aggr as pyg_aggr
    index = torch.tensor([0, 1, 2, 0, 1, 2, 2, 0])
    x = torch.randn(4, 3)
    module, reference = ft.Aggregation("sum"), pyg_aggr.SumAggregation()
    for idx in (index[:4], index[::2], index[:4]):
        assert_close(module(x, idx, dim_size=3), reference(x, idx, dim_size=3))


def test_csr_adjacencies_over_views_of_one_index_storage():
    """Sparse tensors built on different views of one index buffer keep apart."""
    storage = torch.tensor([0, 1, 2, 3, 1, 0, 2, 3])
    crow = torch.tensor([0, 2, 4])
    x = torch.randn(4, 2)
    adjs = [torch.sparse_csr_tensor(crow, col, torch.ones(4), size=(2, 4)) for col in (storage[:4], storage[4:])]
    for adj in adjs + adjs[::-1]:
        assert_close(ft.spmm(adj, x, "sum"), torch.sparse.mm(adj, x))


# ---------------------------------------------------------------------------- B: exception types
def test_spmm_on_a_meta_coo_tensor_is_a_type_error_naming_the_device():
    indices = torch.tensor([[0, 1], [1, 0]], device="meta")
    coo = torch.sparse_coo_tensor(indices, torch.ones(2, device="meta"), (2, 2))
    with pytest.raises(TypeError, match="meta"):
        ft.spmm(coo, torch.randn(2, 3))
    with pytest.raises(TypeError, match="meta"):
        ft.aggregate(coo, torch.randn(2, 3))


def test_aggregate_on_an_uncoalesced_coo_with_values_requiring_grad():
    indices = torch.tensor([[0, 0, 1, 0], [1, 1, 0, 2]])
    values = torch.tensor([1.0, 2.0, 1.0, -1.0], dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)

    def f(values, x):
        return ft.aggregate(torch.sparse_coo_tensor(indices, values, (2, 3)), x, "max")

    coalesced = torch.sparse_coo_tensor(indices, values, (2, 3)).coalesce()
    assert_close(f(values, x), torch.stack([torch.maximum(3 * x[1], -x[2]), x[0]]))
    assert_close(f(values, x), ft.aggregate(coalesced, x, "max"))
    assert torch.autograd.gradcheck(f, (values, x))


# ---------------------------------------------------------------------------- C: TorchScript
def _run_python(code, timeout=240):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=os.path.dirname(__file__))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout


def test_scripting_inside_the_block_then_outside_works_and_gives_pygs_numbers():
    """In a fresh process (TorchScript keeps compiled classes per process): script in, then out."""
    pytest.importorskip("torch_geometric")
    out = _run_python("""
        import torch
        from torch_geometric.nn import GCNConv, SAGEConv
        from torch_geometric.utils import to_torch_csr_tensor
        from fastgnn.interop import torch as ft
        from interop_helpers import assert_close, random_edge_index

        edge_index = random_edge_index(12, 12, 40, seed=0)
        adj = to_torch_csr_tensor(edge_index.flip(0), size=(12, 12))
        x = torch.randn(12, 8)
        # (PyG's scripted gcn_norm fails on torch sparse tensors by itself: GCNConv gets edge_index there)
        cases = [(lambda: SAGEConv(8, 16), (edge_index, adj)), (lambda: GCNConv(8, 16), (edge_index,)),
                 (lambda: GCNConv(8, 16, normalize=False), (edge_index, adj))]
        for make, graphs in cases:
            torch.manual_seed(0)
            conv = make()
            expected = [conv(x, graph) for graph in graphs]
            with ft.use_with_pyg():
                inside = torch.jit.script(conv)
                got = [inside(x, graph) for graph in graphs]
            outside = torch.jit.script(make())
            outside.load_state_dict(conv.state_dict())
            got += [outside(x, graph) for graph in graphs]
            with ft.use_with_pyg():
                got += [outside(x, graph) for graph in graphs]
            for out, ref in zip(got, expected * 3):
                assert_close(out, ref)
        print("scripted ok")
    """)
    assert "scripted ok" in out


# ---------------------------------------------------------------------------- D: torch.compile
def _pyg_layer(name):
    from torch_geometric.nn import GCNConv, GraphConv, SAGEConv
    torch.manual_seed(0)
    return {"GCNConv": lambda: GCNConv(8, 8), "SAGEConv": lambda: SAGEConv(8, 8, aggr="max"),
            "GraphConv": lambda: GraphConv(8, 8)}[name]()


def _forward_backward(module, x, adj):
    x = x.detach().clone().requires_grad_()
    out = module(x, adj)
    grads = torch.autograd.grad((out * out).sum(), [x] + list(module.parameters()))
    return [out.detach()] + list(grads)


@pytest.mark.parametrize("name", ["GCNConv", "SAGEConv", "GraphConv"])
def test_torch_compile_aot_eager_of_a_pyg_layer_with_a_csr_adjacency(name):
    pytest.importorskip("torch_geometric")
    from torch_geometric.utils import to_torch_csr_tensor
    torch._dynamo.reset()
    edge_index = random_edge_index(16, 16, 50, seed=2)
    adj = to_torch_csr_tensor(edge_index.flip(0), size=(16, 16))
    x = torch.randn(16, 8)
    layer = _pyg_layer(name)
    expected = _forward_backward(layer, x, adj)
    compiled = torch.compile(layer, backend="aot_eager")
    with ft.use_with_pyg():
        for _ in range(2):
            actual = _forward_backward(compiled, x, adj)
            for a, e in zip(actual, expected):
                assert_close(a, e)


# ---------------------------------------------------------------------------- E: double backward
@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_aggregate_gradgradcheck_sum_mean(reduce, weighted):
    edge_index = random_edge_index(6, 5, 16, seed=3)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    w = (torch.rand(edge_index.shape[1], dtype=torch.float64, generator=gen) + 0.5).requires_grad_()
    inputs = (x, w) if weighted else (x,)

    def f(x, w=None):
        return ft.aggregate(edge_index, x, reduce, w, size=(6, 5))
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_second_derivative_through_aggregate_is_not_none():
    edge_index = random_edge_index(5, 5, 12, seed=5)
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(edge_index.shape[1], dtype=torch.float64, requires_grad=True)
    out = ft.aggregate(edge_index, x, "sum", w, num_nodes=5)
    (grad_x,) = torch.autograd.grad((out ** 2).sum(), x, create_graph=True)
    (grad_w,) = torch.autograd.grad(grad_x.sum(), w)
    assert grad_w is not None and torch.isfinite(grad_w).all() and grad_w.abs().sum() > 0


def test_gradient_penalty_through_gcn_conv_matches_plain_pyg():
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import GCNConv
    from torch_geometric.utils import to_torch_csr_tensor
    edge_index = random_edge_index(14, 14, 40, seed=6)
    adj = to_torch_csr_tensor(edge_index.flip(0), size=(14, 14)).to(torch.float64)
    x = torch.randn(14, 5, dtype=torch.float64)
    torch.manual_seed(0)
    conv = GCNConv(5, 4).to(torch.float64)

    def penalty():
        conv.zero_grad()
        inputs = x.clone().requires_grad_()
        out = conv(inputs, adj)
        (grad,) = torch.autograd.grad(out.tanh().sum(), inputs, create_graph=True)
        loss = (grad.norm(dim=1) - 1).pow(2).mean()
        loss.backward()
        return [loss.detach()] + [p.grad.clone() for p in conv.parameters()]

    expected = penalty()
    with ft.use_with_pyg():
        actual = penalty()
    for a, e in zip(actual, expected):
        assert_close(a, e)


# ---------------------------------------------------------------------------- F: smaller
def test_float64_features_with_a_float32_adjacency_raise_as_in_pyg():
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import SAGEConv
    edge_index = random_edge_index(10, 10, 30, seed=7)
    adj = csr_adjacency(edge_index, 10, 10)  # float32 values
    conv = SAGEConv(3, 3).to(torch.float64)
    x = torch.randn(10, 3, dtype=torch.float64)
    with pytest.raises(Exception) as pyg_error:
        conv(x, adj)
    with ft.use_with_pyg():
        with pytest.raises(type(pyg_error.value)):
            conv(x, adj)
    with pytest.raises(TypeError, match="dtype"):
        ft.spmm(adj, x)


@pytest.mark.parametrize("layout", ["coo", "csc"])
def test_conversion_warning_of_pyg_is_kept_under_the_block(layout):
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import SAGEConv
    edge_index = random_edge_index(10, 10, 30, seed=8)
    adj = csr_adjacency(edge_index, 10, 10)
    adj = adj.to_sparse_coo() if layout == "coo" else adj.to_sparse_csc()
    conv = SAGEConv(3, 3)
    x = torch.randn(10, 3)
    with pytest.warns(UserWarning, match="Converting sparse tensor to CSR"):
        expected = conv(x, adj)
    with ft.use_with_pyg():
        with pytest.warns(UserWarning, match="Converting sparse tensor to CSR"):
            actual = conv(x, adj)
    assert_close(actual, expected)


def test_aggregate_and_spmm_agree_on_uncoalesced_coo_duplicates():
    """Both coalesce first (duplicate values summed), as torch and PyG read a COO tensor."""
    indices = torch.tensor([[0, 0], [1, 1]])
    coo = torch.sparse_coo_tensor(indices, torch.tensor([1.0, 2.0]), (1, 2))
    x = torch.ones(2, 1)
    assert ft.spmm(coo, x, "max").item() == 3.0
    assert ft.aggregate(coo, x, "max").item() == 3.0
    assert ft.edge_dot(coo, torch.ones(1, 1), x).tolist() == [1.0, 1.0]  # one merged edge, read per entry


def test_cache_info_reports_bytes_and_the_byte_bound_evicts(monkeypatch):
    edge_index = random_edge_index(50, 50, 400, seed=9)
    ft.to_graph(edge_index, 50)
    info = ft.cache_info()
    assert info["graphs"] == 1 and info["bytes"] >= edge_index.shape[1] * 4
    monkeypatch.setattr(_torch_api, "CACHE_BYTES", 1)
    keep = [random_edge_index(50, 50, 400, seed=seed) for seed in range(3)]
    for edge_index in keep:
        ft.to_graph(edge_index, 50)
    assert ft.cache_info()["graphs"] == 1  # the newest entry only


def test_cached_graphs_are_released_with_their_tensors_after_the_block():
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import GCNConv, SAGEConv
    from torch_geometric.utils import to_torch_csr_tensor
    edge_index = random_edge_index(40, 40, 200, seed=10)
    adj = to_torch_csr_tensor(edge_index.flip(0), size=(40, 40))
    x = torch.randn(40, 4)
    with ft.use_with_pyg():
        GCNConv(4, 4)(x, adj)
        SAGEConv(4, 4, aggr="max")(x, adj)
    assert ft.cache_info()["bytes"] > 0
    del adj
    gc.collect()
    info = ft.cache_info()
    assert info["bytes"] == 0 and info["graphs"] == 0 and info["gcn_norm"] == 0, info


def test_cache_limits_are_set_through_the_public_module():
    ft.clear_cache()
    previous = ft.set_cache_limits(entries=2)
    try:
        kept = [torch.tensor([[0, 1], [1, offset + 2]]) for offset in range(4)]  # alive: entries stay valid
        for edge_index in kept:
            ft.to_graph(edge_index, num_nodes=6)
        assert ft.cache_info()["graphs"] == 2
    finally:
        assert ft.set_cache_limits(*previous) == (2, previous[1])
    with pytest.raises((TypeError, ValueError), match="entries"):
        ft.set_cache_limits(entries=-1)
