"""The ``fastgnn::`` custom ops: schema and fake implementations, derivatives of every order, torch.compile."""
import pytest

torch = pytest.importorskip("torch")

from fastgnn.interop import _torch_ops as ops  # noqa: E402
from fastgnn.interop import torch as ft  # noqa: E402
from interop_helpers import assert_close, csr_adjacency, random_edge_index  # noqa: E402

REDUCES = ["sum", "mean", "max", "min"]

def _graph(num_src=7, num_dst=5, num_edges=18, seed=0):
    edge_index = random_edge_index(num_src, num_dst, num_edges, seed=seed)
    return edge_index, ft.to_graph(edge_index, size=(num_src, num_dst))


def _separated(shape, seed, dtype=torch.float64):
    """Values at least 0.05 apart: a finite-difference step never changes a max/min winner."""
    gen = torch.Generator().manual_seed(seed)
    count = torch.Size(shape).numel()
    values = (torch.randperm(count, generator=gen).to(dtype) * 0.05 - count * 0.025).reshape(shape)
    return values.requires_grad_()


# ---------------------------------------------------------------------------- opcheck
@pytest.mark.parametrize("reduce", REDUCES)
def test_opcheck_aggregate_and_its_backward(reduce):
    _, handle = _graph()
    x = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(handle.num_edges, dtype=torch.float64) + 0.5).requires_grad_()
    args = (x, handle.indptr, handle.indices, handle.num_src_nodes, w, False, reduce, None)
    torch.library.opcheck(ops.aggregate_op, args)
    out, arg = ops.aggregate_op(*args)
    g = torch.randn(out.shape, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(ops.aggregate_backward_op, (g, x, handle.indptr, handle.indices, handle.num_src_nodes, w,
                                                      False, arg, reduce, True, True, None))
    if reduce in ("max", "min"):
        torch.library.opcheck(ops.gather_by_arg_op, (x, handle.indptr, handle.indices, handle.num_src_nodes, w, arg))


def test_opcheck_edge_dot_and_segment_ops():
    _, handle = _graph()
    a = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(ops.edge_dot_op, (a, b, handle.indptr, handle.indices, handle.num_src_nodes, None))
    ptr = torch.tensor([0, 2, 2, 7])
    for reduce in REDUCES:
        x = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
        torch.library.opcheck(ops.segment_reduce_op, (x, ptr, reduce, None))
        arg = ops.segment_reduce_op(x, ptr, reduce, None)[1]
        g = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
        torch.library.opcheck(ops.segment_reduce_backward_op, (g, ptr, arg, reduce, 7, None))


# ---------------------------------------------------------------------------- derivatives of every order
@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_aggregate_gradgradcheck_max_min(reduce, weighted):
    edge_index, _ = _graph(seed=1)
    x = _separated((7, 3), seed=2)
    w = (torch.rand(edge_index.shape[1], dtype=torch.float64) + 0.5).requires_grad_()
    inputs = (x, w) if weighted else (x,)

    def f(x, w=None):
        return ft.aggregate(edge_index, x, reduce, w, size=(7, 5))
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_gradgradcheck_values_and_features(reduce):
    edge_index = random_edge_index(6, 6, 20, seed=3, duplicates=False)
    adj = csr_adjacency(edge_index, 6, 6).to(torch.float64)
    crow, col = adj.crow_indices(), adj.col_indices()
    values = (torch.rand(col.numel(), dtype=torch.float64) + 0.5).requires_grad_()
    x = _separated((6, 2), seed=4)

    def f(values, x):
        return ft.spmm(torch.sparse_csr_tensor(crow, col, values, size=(6, 6)), x, reduce)
    assert torch.autograd.gradgradcheck(f, (values, x))


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_gradgradcheck(reduce):
    ptr = torch.tensor([0, 3, 3, 7, 10])
    x = _separated((10, 3), seed=5)
    assert torch.autograd.gradgradcheck(lambda x: ft.segment_reduce(x, ptr, reduce), (x,))


def test_edge_dot_gradgradcheck():
    edge_index, _ = _graph(seed=6)
    a = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda a, b: ft.edge_dot(edge_index, a, b, size=(7, 5)), (a, b))


def test_third_derivative_of_a_sum_aggregation_matches_a_dense_product():
    edge_index, _ = _graph(seed=7)
    dense = torch.zeros(5, 7, dtype=torch.float64).index_put_((edge_index[1], edge_index[0]),
                                                               torch.ones(edge_index.shape[1], dtype=torch.float64),
                                                               accumulate=True)
    w = torch.ones(edge_index.shape[1], dtype=torch.float64, requires_grad=True)

    def third(aggregate):
        x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(8)).requires_grad_()
        out = aggregate(x)
        (g1,) = torch.autograd.grad(out.pow(3).sum(), x, create_graph=True)
        (g2,) = torch.autograd.grad(g1.sum(), x, create_graph=True)
        (g3,) = torch.autograd.grad(g2.sum(), x)
        return g3

    assert_close(third(lambda x: ft.aggregate(edge_index, x, "sum", w, size=(7, 5))), third(lambda x: dense @ x))


def test_hessian_vector_product_through_graph_conv_matches_plain_pyg():
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import GraphConv
    from torch_geometric.utils import to_torch_csr_tensor
    edge_index = random_edge_index(12, 12, 40, seed=9)
    adj = to_torch_csr_tensor(edge_index.flip(0), torch.rand(edge_index.shape[1], dtype=torch.float64),
                              size=(12, 12))
    x = torch.randn(12, 4, dtype=torch.float64)
    v = torch.randn(12, 4, dtype=torch.float64)
    torch.manual_seed(0)
    conv = GraphConv(4, 3).to(torch.float64)

    def hvp():
        return torch.autograd.functional.hvp(lambda x: conv(x, adj).tanh().pow(2).sum(), x, v)[1]

    expected = hvp()
    with ft.use_with_pyg():
        actual = hvp()
    assert_close(actual, expected)


# ---------------------------------------------------------------------------- torch.compile
class _GraphRecorder:
    """A torch.compile backend that runs the graphs as they are and keeps their op targets."""

    def __init__(self):
        self.targets = set()

    def __call__(self, graph_module, example_inputs):
        self.targets.update(str(node.target) for node in graph_module.graph.nodes if node.op == "call_function")
        return graph_module.forward


@pytest.mark.parametrize("reduce", REDUCES)
def test_fullgraph_compile_records_the_custom_op(reduce):
    edge_index, handle = _graph(seed=10)
    x = torch.randn(7, 4, requires_grad=True)
    recorder = _GraphRecorder()
    torch._dynamo.reset()
    compiled = torch.compile(lambda x: ft.aggregate(handle, x, reduce).relu(), backend=recorder, fullgraph=True)
    out = compiled(x)
    expected = ft.aggregate(edge_index, x, reduce, size=(7, 5)).relu()
    assert_close(out, expected)
    assert "fastgnn.aggregate.default" in recorder.targets


@pytest.mark.parametrize("reduce", ["sum", "max"])
def test_aot_eager_compile_of_forward_and_backward(reduce, kernel_calls):
    """aot_eager traces the forward and the backward with fake tensors: both call the kernels."""
    _, handle = _graph(seed=11)
    x = torch.randn(7, 4, requires_grad=True)
    w = (torch.rand(handle.num_edges) + 0.5).requires_grad_()
    torch._dynamo.reset()
    compiled = torch.compile(lambda x, w: ft.aggregate(handle, x, reduce, w).sin().sum(), backend="aot_eager",
                             fullgraph=True)
    expected = torch.autograd.grad(ft.aggregate(handle, x, reduce, w).sin().sum(), (x, w))
    kernel_calls.clear()
    actual = torch.autograd.grad(compiled(x, w), (x, w))
    for a, e in zip(actual, expected):
        assert_close(a, e)
    assert kernel_calls.count("aggregate") == 1 and kernel_calls.count("aggregate_backward") == 1


def test_compiled_aggregation_module_on_the_edge_index_path():
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import SAGEConv
    edge_index = random_edge_index(20, 20, 60, seed=12)
    x = torch.randn(20, 5)
    torch.manual_seed(0)
    reference = SAGEConv(5, 4, aggr="max")
    ours = SAGEConv(5, 4, aggr=ft.Aggregation("max"))
    ours.load_state_dict(reference.state_dict())
    torch._dynamo.reset()
    assert_close(torch.compile(ours, backend="eager")(x, edge_index), reference(x, edge_index))


@pytest.mark.slow
def test_inductor_compile_of_sage_conv_under_the_block():
    """The default backend (inductor) with fastgnn's ops as extern kernels (about 30 s to compile)."""
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import SAGEConv
    from torch_geometric.utils import to_torch_csr_tensor
    edge_index = random_edge_index(16, 16, 50, seed=13)
    adj = to_torch_csr_tensor(edge_index.flip(0), size=(16, 16))
    x = torch.randn(16, 8, requires_grad=True)
    torch.manual_seed(0)
    conv = SAGEConv(8, 8, aggr="max")
    expected = conv(x, adj)
    (g_expected,) = torch.autograd.grad(expected.sum(), x)
    torch._dynamo.reset()
    compiled = torch.compile(conv)
    with ft.use_with_pyg():
        actual = compiled(x, adj)
        (g_actual,) = torch.autograd.grad(actual.sum(), x)
    assert_close(actual, expected)
    assert_close(g_actual, g_expected)
