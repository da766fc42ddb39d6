"""PyG's own layers under ``use_with_pyg()``: the behaviours PyG's tests check, each against PyG itself.

For every layer (``GCNConv``, ``SAGEConv``, ``GINConv``, ``GraphConv``, ``APPNP``, ``SGConv``,
``TAGConv``, ``LGConv``, ``SimpleConv``, ``ClusterGCNConv``, ``GCN2Conv``) and option set PyG's
tests exercise, with each adjacency layout PyG accepts (``edge_index``, ``EdgeIndex``, CSR, COO
coalesced or not, CSC, the transpose of a CSC tensor), without and with edge weights (constant or
learnable), bipartite where the layer supports it, in float32 and float64: the same layer (same
parameters) run without and inside the block gives the same outputs and gradients (of the
features, the parameters and learnable edge weights), or the same exception; and a spy on
fastgnn's kernels shows that they ran on every sparse-adjacency path (and not on the
``edge_index`` paths, which stay PyG's). Then ``torch.jit.script`` and ``torch.compile`` of each
layer, and ``torch_geometric.utils.spmm`` itself. ``torch_sparse.SparseTensor`` inputs are
covered where ``torch_sparse`` is installed only through PyG's own type checks; without it, PyG
refuses them itself.
"""
import dataclasses
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from torch_geometric import EdgeIndex  # noqa: E402
from torch_geometric import nn as pyg_nn  # noqa: E402
from torch_geometric.utils import (  # noqa: E402
    to_torch_coo_tensor,
    to_torch_csc_tensor,
    to_torch_csr_tensor,
)

from fastgnn.interop import torch as ft  # noqa: E402
from interop_helpers import assert_close, csr_adjacency, random_edge_index  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Converting sparse tensor to CSR format",
                                        "ignore:.*is deprecated")

CHANNELS = 6
NUM_SRC, NUM_DST, NUM_EDGES = 14, 9, 40  # bipartite sizes; square graphs use NUM_SRC nodes
SPARSE_LAYOUTS = ["csr", "coo", "coo_uncoalesced", "csc", "csc_t"]
LAYOUTS = ["edge_index", "EdgeIndex"] + SPARSE_LAYOUTS


# ---------------------------------------------------------------------------- the layers
def _gin_nn(in_channels, out_channels):
    return torch.nn.Sequential(torch.nn.Linear(in_channels, out_channels), torch.nn.ReLU(),
                               torch.nn.Linear(out_channels, out_channels))


@dataclasses.dataclass(frozen=True)
class Layer:
    """A layer with one option set: how to build it, what it takes."""
    name: str
    make: object  # (in_channels) -> module; bipartite layers take (in_src, in_dst)
    weights: bool = False  # forward takes edge_weight (and sparse values weight the edges)
    bipartite: bool = False
    extra_input: bool = False  # GCN2Conv: forward(x, x_0, edge_index, ...)
    scriptable: bool = True

    def __str__(self):
        return self.name


C = CHANNELS
LAYERS = [
    Layer("GCNConv", lambda c: pyg_nn.GCNConv(c, c), weights=True),
    Layer("GCNConv_improved", lambda c: pyg_nn.GCNConv(c, c, improved=True), weights=True),
    Layer("GCNConv_no_loops", lambda c: pyg_nn.GCNConv(c, c, add_self_loops=False), weights=True),
    Layer("GCNConv_unnormalized", lambda c: pyg_nn.GCNConv(c, c, normalize=False), weights=True),
    Layer("GCNConv_cached", lambda c: pyg_nn.GCNConv(c, c, cached=True), weights=True),
    Layer("SAGEConv_mean", lambda c, d=None: pyg_nn.SAGEConv(c if d is None else (c, d), C), bipartite=True),
    Layer("SAGEConv_max", lambda c, d=None: pyg_nn.SAGEConv(c if d is None else (c, d), C, aggr="max"),
          bipartite=True),
    Layer("SAGEConv_sum_root_weight_false", lambda c, d=None: pyg_nn.SAGEConv(
        c if d is None else (c, d), C, aggr="sum", root_weight=False), bipartite=True),
    Layer("SAGEConv_min_normalize", lambda c, d=None: pyg_nn.SAGEConv(
        c if d is None else (c, d), C, aggr="min", normalize=True), bipartite=True),
    Layer("GINConv", lambda c, d=None: pyg_nn.GINConv(_gin_nn(c, C), train_eps=True), bipartite=True),
    Layer("GraphConv_add", lambda c, d=None: pyg_nn.GraphConv(c if d is None else (c, d), C),
          weights=True, bipartite=True),
    Layer("GraphConv_mean", lambda c, d=None: pyg_nn.GraphConv(c if d is None else (c, d), C, aggr="mean"),
          weights=True, bipartite=True),
    Layer("GraphConv_max", lambda c, d=None: pyg_nn.GraphConv(c if d is None else (c, d), C, aggr="max"),
          weights=True, bipartite=True),
    Layer("GraphConv_min", lambda c, d=None: pyg_nn.GraphConv(c if d is None else (c, d), C, aggr="min"),
          weights=True, bipartite=True),
    Layer("APPNP", lambda c: pyg_nn.APPNP(K=3, alpha=0.1), weights=True),
    Layer("SGConv", lambda c: pyg_nn.SGConv(c, C, K=2), weights=True),
    Layer("TAGConv", lambda c: pyg_nn.TAGConv(c, C, K=2), weights=True),
    Layer("LGConv", lambda c: pyg_nn.LGConv(), weights=True),
    Layer("LGConv_unnormalized", lambda c: pyg_nn.LGConv(normalize=False), weights=True),
    Layer("SimpleConv_sum", lambda c, d=None: pyg_nn.SimpleConv(), weights=True, bipartite=True),
    Layer("SimpleConv_mean_root_sum", lambda c, d=None: pyg_nn.SimpleConv(aggr="mean", combine_root="sum"),
          weights=True, bipartite=True),
    Layer("SimpleConv_max_root_cat", lambda c, d=None: pyg_nn.SimpleConv(aggr="max", combine_root="cat"),
          weights=True, bipartite=True),
    Layer("SimpleConv_min_self_loop", lambda c: pyg_nn.SimpleConv(aggr="min", combine_root="self_loop"),
          weights=True),
    Layer("ClusterGCNConv", lambda c: pyg_nn.ClusterGCNConv(c, C)),
    Layer("ClusterGCNConv_diag_lambda", lambda c: pyg_nn.ClusterGCNConv(c, C, diag_lambda=0.5)),
    Layer("GCN2Conv", lambda c: pyg_nn.GCN2Conv(c, alpha=0.2), weights=True, extra_input=True),
    Layer("GCN2Conv_theta", lambda c: pyg_nn.GCN2Conv(c, alpha=0.2, theta=0.5, layer=2, shared_weights=False),
          weights=True, extra_input=True),
]
BY_NAME = {layer.name: layer for layer in LAYERS}


# ---------------------------------------------------------------------------- inputs
def _graph(layout, edge_index, weight, num_src, num_dst, dtype=torch.float32):
    """``(adjacency, edge_weight argument)`` of one layout; sparse layouts carry the weights as values."""
    size = (num_dst, num_src)
    if layout == "edge_index":
        return edge_index, weight
    if layout == "EdgeIndex":
        index = EdgeIndex(edge_index, sparse_size=(num_src, num_dst)).sort_by("col")[0]
        return index, None if weight is None else weight[torch.argsort(edge_index[1] * num_src + edge_index[0],
                                                                       stable=True)]
    transposed = edge_index.flip(0)  # rows = destinations
    if weight is None:
        weight = torch.ones(edge_index.shape[1], dtype=dtype)  # values in the features' dtype, as PyG needs
    if layout == "csr":
        return to_torch_csr_tensor(transposed, weight, size=size), None
    if layout == "coo":
        return to_torch_coo_tensor(transposed, weight, size=size), None
    if layout == "coo_uncoalesced":
        return torch.sparse_coo_tensor(transposed, weight, size), None
    if layout == "csc":
        return to_torch_csc_tensor(transposed, weight, size=size), None
    if layout == "csc_t":  # PyG's tests: the transpose of a CSC tensor is a CSR tensor
        return to_torch_csc_tensor(edge_index, weight, size=(num_src, num_dst)).t(), None
    raise AssertionError(layout)


@dataclasses.dataclass
class Case:
    layer: Layer
    layout: str
    weighting: str  # "none", "constant" or "learnable"
    bipartite: bool
    dtype: torch.dtype

    @property
    def id(self):
        kind = "bipartite" if self.bipartite else "square"
        return f"{self.layer}-{self.layout}-{self.weighting}-{kind}-{str(self.dtype)[6:]}"


def _cases():
    cases = []
    for layer in LAYERS:
        weightings = ["none", "constant", "learnable"] if layer.weights else ["none"]
        for layout in LAYOUTS:
            for weighting in weightings:
                cases.append(Case(layer, layout, weighting, False, torch.float32))
            if layer.bipartite:
                cases.append(Case(layer, layout, weightings[-1], True, torch.float32))
        for layout in ("edge_index", "csr"):
            cases.append(Case(layer, layout, weightings[-1], False, torch.float64))
    return cases


CASES = _cases()


def _inputs(case, seed=0):
    gen = torch.Generator().manual_seed(seed)
    num_src = NUM_SRC
    num_dst = NUM_DST if case.bipartite else NUM_SRC
    edge_index = random_edge_index(num_src, num_dst, NUM_EDGES, seed=seed + 1)
    x_src = torch.randn(num_src, CHANNELS, generator=gen, dtype=case.dtype)
    x_dst = torch.randn(num_dst, CHANNELS, generator=gen, dtype=case.dtype)
    weight = None
    if case.weighting != "none":
        weight = torch.rand(edge_index.shape[1], generator=gen, dtype=case.dtype) + 0.5
    return edge_index, x_src, x_dst, weight, num_src, num_dst


def _module(case):
    torch.manual_seed(0)
    module = case.layer.make(CHANNELS, CHANNELS) if case.bipartite else case.layer.make(CHANNELS)
    return module.to(case.dtype)


def _run(case, module, seed=0):
    """Outputs and gradients (features, parameters, learnable weights) of one forward + backward."""
    edge_index, x_src, x_dst, weight, num_src, num_dst = _inputs(case, seed)
    learnable = case.weighting == "learnable"
    if weight is not None and learnable:
        weight = weight.clone().requires_grad_()
    graph, edge_weight = _graph(case.layout, edge_index, weight, num_src, num_dst, case.dtype)
    x_src = x_src.clone().requires_grad_()
    x_dst = x_dst.clone().requires_grad_()
    inputs = [x_src, x_dst] if case.bipartite else [x_src]
    args = [(x_src, x_dst)] if case.bipartite else [x_src]
    if case.layer.extra_input:
        args.append(x_dst)
        inputs.append(x_dst)
    args.append(graph)
    if case.layer.weights and edge_weight is not None:
        args.append(edge_weight)
    out = module(*args)
    if case.layer.name == "GCNConv_cached":
        out = module(*args)  # the second call reads the layer's own cache
    gen = torch.Generator().manual_seed(seed + 7)
    loss = (out * torch.randn(out.shape, generator=gen, dtype=out.dtype)).sum()
    params = [p for p in module.parameters() if p.requires_grad]
    wrt = inputs + params + ([weight] if learnable and weight is not None else [])
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return [out.detach()] + [None if g is None else g.detach() for g in grads]


def _outcome(case, run):
    try:
        return run(), None
    except Exception as error:  # noqa: BLE001 - the same exception must come out of both
        return None, error


def _assert_same(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert (a is None) == (e is None)
        if e is not None:
            assert_close(a, e)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_layer_matches_pyg(case, kernel_calls):
    expected, pyg_error = _outcome(case, lambda: _run(case, _module(case)))
    kernel_calls.clear()
    with ft.use_with_pyg():
        actual, error = _outcome(case, lambda: _run(case, _module(case)))
    if pyg_error is not None:
        if error is not None:
            assert type(error) is type(pyg_error), (pyg_error, error)
            return
        # fastgnn lifts a limitation of torch's sparse kernels (value gradients of CSC and COO
        # products): its results equal PyG's on the CSR form of the same matrix
        assert case.layout in SPARSE_LAYOUTS, pyg_error
        expected = _run(dataclasses.replace(case, layout="csr"), _module(case))
    assert error is None, error
    _assert_same(actual, expected)
    if case.layout in SPARSE_LAYOUTS:
        assert kernel_calls.count("aggregate") > 0 and kernel_calls.count("aggregate_backward") > 0
    else:  # edge_index and EdgeIndex: PyG's own message passing
        assert kernel_calls.count("aggregate") == 0


# ---------------------------------------------------------------------------- TorchScript
# one option set per layer class: TorchScript compiles a class once per process
SCRIPTED = ["GCNConv", "SAGEConv_max", "GINConv", "GraphConv_add", "APPNP", "SGConv", "TAGConv", "LGConv",
            "SimpleConv_mean_root_sum", "ClusterGCNConv", "GCN2Conv"]


def _forward(module, case, graph_layout, seed=0):
    edge_index, x_src, x_dst, weight, num_src, num_dst = _inputs(case, seed)
    graph, edge_weight = _graph(graph_layout, edge_index, weight, num_src, num_dst, case.dtype)
    args = [x_src] + ([x_dst] if case.layer.extra_input else []) + [graph]
    if case.layer.weights and edge_weight is not None:
        args.append(edge_weight)
    return module(*args)


@pytest.mark.parametrize("name", SCRIPTED)
def test_script_inside_the_block_then_outside(name):
    """Scripting inside the block compiles PyG's own code: both scripts work and give PyG's numbers."""
    layer = BY_NAME[name]
    case = Case(layer, "edge_index", "constant" if layer.weights else "none", False, torch.float32)
    module = _module(case)
    with ft.use_with_pyg():
        inside = torch.jit.script(module)
    outside = torch.jit.script(_module(case))
    for graph_layout in ("edge_index", "csr"):
        expected, pyg_error = _outcome(case, lambda: _forward(module, case, graph_layout))
        for scripted in (inside, outside):
            for context in (ft.use_with_pyg, warnings.catch_warnings):
                with context():
                    actual, error = _outcome(case, lambda: _forward(scripted, case, graph_layout))
                if error is not None:
                    # PyG's own scripted code refuses some sparse inputs (e.g. gcn_norm of a CSR tensor)
                    assert graph_layout == "csr", error
                    continue
                assert pyg_error is None, pyg_error
                assert_close(actual, expected)


# ---------------------------------------------------------------------------- torch.compile
COMPILED = ["GCNConv", "SAGEConv_max", "GINConv", "GraphConv_mean", "APPNP", "SGConv", "TAGConv", "LGConv",
            "SimpleConv_sum", "ClusterGCNConv", "GCN2Conv"]


@pytest.mark.parametrize("name", COMPILED)
def test_compiled_layer_with_a_csr_adjacency_runs_on_fastgnn(name, kernel_calls):
    """Compiled inside the block (eager backend): PyG's numbers, fastgnn's kernels.

    Where PyG's compiled layer fails by itself (dynamo cannot trace its sparse normalizations,
    e.g. GCNConv's ``gcn_norm``), the compiled layer under the block either works (fastgnn's
    cached ``gcn_norm`` runs outside the traced region) and gives PyG's eager numbers, or fails
    the same way.
    """
    layer = BY_NAME[name]
    case = Case(layer, "csr", "constant" if layer.weights else "none", False, torch.float32)
    expected = _run(case, _module(case))
    torch._dynamo.reset()
    compiled = torch.compile(_module(case), backend="eager")
    kernel_calls.clear()
    with ft.use_with_pyg():
        actual, error = _outcome(case, lambda: _run(case, compiled))
    if error is not None:  # then PyG's compiled layer must fail the same way
        torch._dynamo.reset()
        _, pyg_error = _outcome(case, lambda: _run(case, torch.compile(_module(case), backend="eager")))
        assert pyg_error is not None and type(error) is type(pyg_error), error
        return
    _assert_same(actual, expected)
    assert kernel_calls.count("aggregate") > 0 and kernel_calls.count("aggregate_backward") > 0


@pytest.mark.parametrize("name", ["GCNConv_no_loops", "SAGEConv_mean"])
def test_compile_of_the_edge_index_path_has_no_graph_break_under_the_block(name):
    """PyG's test_compile_conv: the bindings add no graph break on the edge_index path."""
    layer = BY_NAME[name]
    case = Case(layer, "edge_index", "none", False, torch.float32)
    module = _module(case)
    edge_index, x, _, _, _, _ = _inputs(case)
    expected = module(x, edge_index)
    torch._dynamo.reset()
    with ft.use_with_pyg():
        explanation = torch._dynamo.explain(module)(x, edge_index)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert_close(torch.compile(module, backend="eager")(x, edge_index), expected)


# ---------------------------------------------------------------------------- torch_geometric.utils.spmm
SPMM_REDUCES = ["sum", "add", "mean", "min", "max"]


def _spmm_operand(layout, dtype):
    edge_index = random_edge_index(NUM_SRC, NUM_DST, NUM_EDGES, seed=3)
    values = torch.rand(edge_index.shape[1], dtype=dtype) + 0.5
    if layout == "EdgeIndex":  # rows of the matrix: edge_index[0]
        return EdgeIndex(edge_index.flip(0), sparse_size=(NUM_DST, NUM_SRC)).sort_by("row")[0]
    return _graph(layout, edge_index, values, NUM_SRC, NUM_DST, dtype)[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("layout", ["csr", "coo", "coo_uncoalesced", "csc", "csc_t", "EdgeIndex"])
@pytest.mark.parametrize("reduce", SPMM_REDUCES)
def test_utils_spmm_matches_pyg(reduce, layout, dtype, kernel_calls):
    import torch_geometric.utils
    src = _spmm_operand(layout, dtype)
    other = torch.randn(NUM_SRC, 5, dtype=dtype, requires_grad=True)
    expected, pyg_error = _outcome(None, lambda: torch_geometric.utils.spmm(src, other, reduce))
    kernel_calls.clear()
    with ft.use_with_pyg():
        assert torch_geometric.utils.spmm is not ft._pyg_original("spmm")
        actual, error = _outcome(None, lambda: torch_geometric.utils.spmm(src, other, reduce))
    if pyg_error is not None and error is not None:
        assert type(error) is type(pyg_error)
        return
    if pyg_error is not None:
        # PyG's EdgeIndex.matmul multiplies float32 ones whatever the dtype of `other`, and fails
        # for float64: fastgnn reads an EdgeIndex as a matrix of ones in the dtype of `other`
        assert layout == "EdgeIndex" and dtype == torch.float64, pyg_error
        plain = src.as_tensor()  # duplicates stay separate entries, as in the EdgeIndex
        csr = csr_adjacency(plain.flip(0), NUM_SRC, NUM_DST, torch.ones(plain.shape[1], dtype=dtype))
        expected = torch_geometric.utils.spmm(csr, other, reduce)
    assert error is None, error
    assert_close(actual, expected)
    gen = torch.Generator().manual_seed(5)
    grad_out = torch.randn(actual.shape, generator=gen, dtype=dtype)
    (grad_expected,) = torch.autograd.grad(expected, other, grad_out)
    (grad_actual,) = torch.autograd.grad(actual, other, grad_out)
    assert_close(grad_actual, grad_expected)
    assert kernel_calls.count("aggregate") == 1 and kernel_calls.count("aggregate_backward") == 1


def test_utils_spmm_errors_and_fallbacks_are_pygs():
    import torch_geometric.utils
    src = _spmm_operand("csr", torch.float32)
    other = torch.randn(NUM_SRC, 5)
    with ft.use_with_pyg():
        with pytest.raises(ValueError, match="not supported"):
            torch_geometric.utils.spmm(src, other, "prod")
        with pytest.raises(ValueError, match="must be a"):
            torch_geometric.utils.spmm(torch.zeros(2, 3), other)
        with pytest.raises(RuntimeError):  # dtypes differ: torch.sparse.mm refuses, as without the block
            torch_geometric.utils.spmm(src, other.double())
        with pytest.raises(NotImplementedError):  # bfloat16: PyG's own path, and torch's own error
            torch_geometric.utils.spmm(src.to(torch.bfloat16), other.to(torch.bfloat16))


def test_utils_spmm_scripted_inside_the_block():
    """PyG's test_spmm_jit: a scripted function calling spmm compiles to PyG's code."""
    import torch_geometric.utils
    from torch import Tensor
    src = _spmm_operand("csr", torch.float32)
    other = torch.randn(NUM_SRC, 5)
    with ft.use_with_pyg():
        spmm = torch_geometric.utils.spmm

        def jit_torch(src: Tensor, other: Tensor, reduce: str) -> Tensor:
            return spmm(src, other, reduce=reduce)
        scripted = torch.jit.script(jit_torch)
        for reduce in ("sum", "mean", "max"):
            assert_close(scripted(src, other, reduce), ft._pyg_original("spmm")(src, other, reduce))
