"""Attention in the PyTorch adapter: sddmm, edge_softmax, multi-head aggregate, the fused GAT ops, GATConv/GATv2Conv.

The layers are checked against PyG's own ``GATConv`` / ``GATv2Conv`` carrying the same parameters
(``load_state_dict`` of PyG's ``state_dict``), in float64 with attention dropout 0: outputs,
attention weights and the gradients of the inputs and of every parameter, for 1 and 4 heads,
concatenated or averaged, with and without self-loops, square and bipartite, on an ``edge_index``
and on a sparse CSR adjacency. The autograd Functions pass ``torch.autograd.gradcheck``; the
functions agree with plain torch formulas in the input's edge order; bad input is refused with a
``ValueError``/``TypeError`` naming the argument.
"""
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from torch_geometric import nn as pyg_nn  # noqa: E402
from torch_geometric.utils import softmax as pyg_softmax  # noqa: E402

from fastgnn.interop import torch as ft  # noqa: E402
from interop_helpers import assert_close, csr_adjacency, random_edge_index  # noqa: E402

NUM_SRC, NUM_DST, NUM_EDGES = 13, 9, 45
IN_SRC, IN_DST, OUT = 7, 5, 3
LAYERS = {"gat": (pyg_nn.GATConv, ft.GATConv), "gatv2": (pyg_nn.GATv2Conv, ft.GATv2Conv)}


def _pair_of_layers(kind, in_channels, heads, concat, add_self_loops, **options):
    pyg_cls, fg_cls = LAYERS[kind]
    torch.manual_seed(0)
    reference = pyg_cls(in_channels, OUT, heads=heads, concat=concat, add_self_loops=add_self_loops,
                        **options).double()
    layer = fg_cls(in_channels, OUT, heads=heads, concat=concat, add_self_loops=add_self_loops, **options).double()
    layer.load_state_dict(reference.state_dict())
    with torch.no_grad():  # non-zero biases, so their gradients and additions are exercised
        for module in (reference, layer):
            if module.bias is not None:
                module.bias.copy_(torch.linspace(-0.5, 0.5, module.bias.numel(), dtype=torch.float64))
    return reference, layer


def _inputs(bipartite, seed=1):
    gen = torch.Generator().manual_seed(seed)
    if bipartite:
        return (torch.randn(NUM_SRC, IN_SRC, generator=gen, dtype=torch.float64),
                torch.randn(NUM_DST, IN_DST, generator=gen, dtype=torch.float64))
    return torch.randn(NUM_SRC, IN_SRC, generator=gen, dtype=torch.float64)


def _leaves(x):
    if isinstance(x, tuple):
        return tuple(t.clone().requires_grad_() for t in x)
    return x.clone().requires_grad_()


def _flat(x):
    return list(x) if isinstance(x, tuple) else [x]


def _graph(adjacency, bipartite, seed=2):
    num_dst = NUM_DST if bipartite else NUM_SRC
    if adjacency == "edge_index":
        return random_edge_index(NUM_SRC, num_dst, NUM_EDGES, seed)   # duplicates, self-loops (square)
    edge_index = random_edge_index(NUM_SRC, num_dst, NUM_EDGES, seed, duplicates=False)
    if not bipartite:
        edge_index = torch.cat([edge_index, torch.tensor([[0, 3], [0, 3]])], dim=1)  # loops to remove
        edge_index = torch.unique(edge_index, dim=1)
    return csr_adjacency(edge_index, NUM_SRC, num_dst)


def _dense_attention(adjacency, alpha, num_dst, num_src):
    """(num_dst, num_src, H): attention summed per (dst, src), from either layer's result."""
    if isinstance(adjacency, torch.Tensor) and adjacency.layout == torch.strided:
        src, dst = adjacency[0], adjacency[1]
    else:
        coo = adjacency.to_sparse_coo() if adjacency.layout != torch.sparse_coo else adjacency
        coo = coo.coalesce() if adjacency.layout == torch.sparse_coo else coo
        dst, src = coo.indices()[0], coo.indices()[1]
    dense = torch.zeros(num_dst, num_src, alpha.shape[1], dtype=alpha.dtype)
    return dense.index_put_((dst, src), alpha.detach(), accumulate=True)


def _run_layer(layer, x, graph):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return layer(x, graph, return_attention_weights=True)


@pytest.mark.parametrize("kind", ["gat", "gatv2"])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("bipartite", [False, True])
@pytest.mark.parametrize("adjacency", ["edge_index", "csr"])
def test_layer_matches_pyg(kind, heads, concat, add_self_loops, bipartite, adjacency):
    in_channels = (IN_SRC, IN_DST) if bipartite else IN_SRC
    reference, layer = _pair_of_layers(kind, in_channels, heads, concat, add_self_loops)
    x = _inputs(bipartite)
    graph = _graph(adjacency, bipartite)
    x_ref, x_fg = _leaves(x), _leaves(x)
    out_ref, (adj_ref, alpha_ref) = _run_layer(reference, x_ref, graph)
    out_fg, (adj_fg, alpha_fg) = _run_layer(layer, x_fg, graph)
    assert out_fg.shape == out_ref.shape
    assert_close(out_fg, out_ref)
    num_dst = NUM_DST if bipartite else NUM_SRC
    if adjacency == "edge_index":   # the same edges in the same order as PyG's
        assert torch.equal(adj_fg, adj_ref)
        assert_close(alpha_fg, alpha_ref)
    assert_close(_dense_attention(adj_fg, alpha_fg, num_dst, NUM_SRC),
                 _dense_attention(adj_ref, alpha_ref, num_dst, NUM_SRC))
    grad = torch.randn(out_ref.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    out_ref.backward(grad)
    out_fg.backward(grad)
    for a, b in zip(_flat(x_fg), _flat(x_ref)):
        assert_close(a.grad, b.grad)
    fg_params = dict(layer.named_parameters())
    for name, parameter in reference.named_parameters():
        assert fg_params[name].shape == parameter.shape, name
        assert_close(fg_params[name].grad, parameter.grad)
    assert set(fg_params) == {name for name, _ in reference.named_parameters()}


@pytest.mark.parametrize("kind", ["gat", "gatv2"])
def test_layer_options_match_pyg(kind):
    """residual, no bias, a negative slope, GATv2's shared weights, a layer with int in_channels on a pair."""
    options = [dict(residual=True), dict(bias=False, negative_slope=0.01)]
    if kind == "gatv2":
        options.append(dict(share_weights=True))
    for option in options:
        reference, layer = _pair_of_layers(kind, IN_SRC, 2, True, True, **option)
        x = _inputs(False)
        x_ref, x_fg = _leaves(x), _leaves(x)
        edge_index = _graph("edge_index", False)
        out_ref, out_fg = reference(x_ref, edge_index), layer(x_fg, edge_index)
        assert_close(out_fg, out_ref)
        out_ref.sum().backward()
        out_fg.sum().backward()
        assert_close(x_fg.grad, x_ref.grad)
        fg_params = dict(layer.named_parameters())
        for name, parameter in reference.named_parameters():
            assert_close(fg_params[name].grad, parameter.grad)
    # an int in_channels layer given a pair of equally wide inputs (PyG applies `lin` to both)
    reference, layer = _pair_of_layers(kind, IN_SRC, 2, False, True)
    gen = torch.Generator().manual_seed(3)
    pair = (torch.randn(NUM_SRC, IN_SRC, generator=gen, dtype=torch.float64),
            torch.randn(NUM_DST, IN_SRC, generator=gen, dtype=torch.float64))
    edge_index = random_edge_index(NUM_SRC, NUM_DST, NUM_EDGES, 4)
    assert_close(layer(pair, edge_index), reference(pair, edge_index))


def test_gat_without_destination_features_matches_pyg():
    reference, layer = _pair_of_layers("gat", IN_SRC, 2, True, False)
    x_src = torch.randn(NUM_SRC, IN_SRC, dtype=torch.float64)
    edge_index = random_edge_index(NUM_SRC, NUM_DST, NUM_EDGES, 6)
    assert_close(layer((x_src, None), edge_index), reference((x_src, None), edge_index))


def test_layer_on_a_graph_without_edges():
    for kind in LAYERS:
        reference, layer = _pair_of_layers(kind, IN_SRC, 2, True, False)
        x = _inputs(False)
        empty = torch.empty(2, 0, dtype=torch.int64)
        out = layer(x, empty)
        assert_close(out, reference(x, empty))
        out.sum().backward()


def test_layer_float32_and_int32_indices():
    reference, layer = _pair_of_layers("gat", IN_SRC, 4, True, True)
    reference, layer = reference.float(), layer.float()
    x = _inputs(False).float()
    edge_index = _graph("edge_index", False).to(torch.int32)
    out = layer(x, edge_index)
    assert out.dtype == torch.float32
    assert_close(out, reference(x, edge_index.long()))


def test_layer_same_bits_for_any_thread_count():
    results = []
    for threads in (1, 2, 3):
        torch.manual_seed(0)
        layer = ft.GATv2Conv(IN_SRC, OUT, heads=4, n_threads=threads).double()
        x = _leaves(_inputs(False))
        out = layer(x, _graph("edge_index", False))
        out.sum().backward()
        results.append((out.detach(), x.grad, layer.att.grad))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["gat", "gatv2"])
def test_attention_dropout(kind):
    _, layer = _pair_of_layers(kind, IN_SRC, 4, True, True, dropout=0.5)
    x = _inputs(False)
    edge_index = _graph("edge_index", False)
    layer.eval()
    out_eval, (_, alpha_eval) = layer(x, edge_index, return_attention_weights=True)
    layer.train()
    torch.manual_seed(11)
    first, (_, alpha_train) = layer(x, edge_index, return_attention_weights=True)
    torch.manual_seed(11)
    again = layer(x, edge_index)
    other = layer(x, edge_index)
    assert torch.equal(first, again)            # the mask's seed comes from torch's generator
    assert not torch.equal(first, other)
    assert not torch.allclose(first, out_eval)
    assert_close(alpha_train, alpha_eval)       # returned before dropout, as PyG


def test_return_attention_weights_false_returns_the_output_only():
    _, layer = _pair_of_layers("gat", IN_SRC, 2, True, True)
    out = layer(_inputs(False), _graph("edge_index", False), return_attention_weights=False)
    assert isinstance(out, torch.Tensor)


def test_state_dict_round_trip_and_repr():
    reference, layer = _pair_of_layers("gatv2", (IN_SRC, IN_DST), 2, True, True, residual=True)
    assert set(layer.state_dict()) == set(reference.state_dict())
    reference.load_state_dict(layer.state_dict())
    assert repr(layer) == repr(reference)


# ---------------------------------------------------------------------------- functions
def _small_graph(seed=7, num_src=6, num_dst=5, num_edges=16):
    edge_index = random_edge_index(num_src, num_dst, num_edges, seed)
    # an isolated destination row (no in-edges): the last one
    return edge_index[:, edge_index[1] != num_dst - 1], num_src, num_dst


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_sddmm_matches_torch_in_input_order():
    edge_index, num_src, num_dst = _small_graph()
    src, dst = edge_index
    a, b = _randn(num_dst, 3, 4, seed=1), _randn(num_src, 3, 4, seed=2)
    assert_close(ft.sddmm(edge_index, a, b), (a[dst] * b[src]).sum(-1))
    a2, b2 = _randn(num_dst, 3, seed=3), _randn(num_src, 3, seed=4)
    assert_close(ft.sddmm(edge_index, a2, b2), a2[dst] * b2[src])
    assert_close(ft.sddmm(edge_index, a2, b2, "add"), a2[dst] + b2[src])


def test_edge_softmax_matches_pyg():
    edge_index, num_src, num_dst = _small_graph()
    scores = _randn(edge_index.shape[1], 3, seed=5)
    expected = pyg_softmax(scores, edge_index[1], num_nodes=num_dst)
    assert_close(ft.edge_softmax(edge_index, scores, size=(num_src, num_dst)), expected)
    assert_close(ft.edge_softmax(edge_index, scores[:, 0], size=(num_src, num_dst)), expected[:, 0])


def test_multi_head_aggregate_matches_torch():
    edge_index, num_src, num_dst = _small_graph()
    src, dst = edge_index
    x, w = _randn(num_src, 3, 4, seed=6), _randn(edge_index.shape[1], 3, seed=7)
    expected = torch.zeros(num_dst, 3, 4, dtype=torch.float64).index_add_(0, dst, w[:, :, None] * x[src])
    assert_close(ft.aggregate(edge_index, x, "sum", w, size=(num_src, num_dst)), expected)
    degree = torch.bincount(dst, minlength=num_dst).clamp(min=1).to(torch.float64)
    assert_close(ft.aggregate(edge_index, x, "mean", w, size=(num_src, num_dst)), expected / degree[:, None, None])
    # no per-head weights: aggregated as (N, H * F)
    plain = ft.aggregate(edge_index, x, "max", size=(num_src, num_dst))
    assert plain.shape == (num_dst, 3, 4)
    assert_close(plain, ft.aggregate(edge_index, x.reshape(num_src, 12), "max",
                                     size=(num_src, num_dst)).view(num_dst, 3, 4))


def _gat_torch(edge_index, x, score_src, score_dst, num_dst, slope=0.2):
    src, dst = edge_index
    alpha = pyg_softmax(torch.nn.functional.leaky_relu(score_src[src] + score_dst[dst], slope), dst,
                        num_nodes=num_dst)
    return torch.zeros(num_dst, *x.shape[1:], dtype=x.dtype).index_add_(0, dst, alpha[:, :, None] * x[src]), alpha


def test_gat_attention_matches_torch():
    edge_index, num_src, num_dst = _small_graph()
    x, ss, sd = _randn(num_src, 2, 3, seed=1), _randn(num_src, 2, seed=2), _randn(num_dst, 2, seed=3)
    out, alpha = ft.gat_attention(edge_index, x, ss, sd, negative_slope=0.1, return_attention_weights=True)
    expected, expected_alpha = _gat_torch(edge_index, x, ss, sd, num_dst, 0.1)
    assert_close(out, expected)
    assert_close(alpha, expected_alpha)


def test_gatv2_attention_matches_torch():
    edge_index, num_src, num_dst = _small_graph()
    src, dst = edge_index
    xs, xd, att = _randn(num_src, 2, 3, seed=1), _randn(num_dst, 2, 3, seed=2), _randn(2, 3, seed=3)
    scores = (att * torch.nn.functional.leaky_relu(xs[src] + xd[dst], 0.2)).sum(-1)
    alpha = pyg_softmax(scores, dst, num_nodes=num_dst)
    expected = torch.zeros(num_dst, 2, 3, dtype=torch.float64).index_add_(0, dst, alpha[:, :, None] * xs[src])
    out, got_alpha = ft.gatv2_attention(edge_index, xs, xd, att, return_attention_weights=True)
    assert_close(out, expected)
    assert_close(got_alpha, alpha)


def test_gat_attention_dropout_is_seeded():
    edge_index, num_src, num_dst = _small_graph()
    x, ss, sd = _randn(num_src, 2, 3, seed=1), _randn(num_src, 2, seed=2), _randn(num_dst, 2, seed=3)
    a = ft.gat_attention(edge_index, x, ss, sd, dropout=0.5, seed=3)
    b = ft.gat_attention(edge_index, x, ss, sd, dropout=0.5, seed=3)
    c = ft.gat_attention(edge_index, x, ss, sd, dropout=0.5, seed=4)
    off = ft.gat_attention(edge_index, x, ss, sd, dropout=0.5, seed=3, training=False)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert_close(off, ft.gat_attention(edge_index, x, ss, sd))


def _check_gradcheck(function, inputs):
    assert torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("case", ["sddmm_dot", "sddmm_dot_2d", "sddmm_add", "edge_softmax", "aggregate_sum",
                                  "aggregate_mean", "gat", "gat_dropout", "gatv2", "gatv2_dropout"])
def test_gradcheck(case):
    edge_index, num_src, num_dst = _small_graph()
    handle = ft.to_graph(edge_index, size=(num_src, num_dst))
    num_edges = handle.num_edges
    leaf = lambda *shape, seed: _randn(*shape, seed=seed).requires_grad_()  # noqa: E731
    if case.startswith("sddmm"):
        dims = (3,) if case != "sddmm_dot" else (3, 2)
        op = "add" if case == "sddmm_add" else "dot"
        _check_gradcheck(lambda a, b: ft.sddmm(handle, a, b, op),
                         (leaf(num_dst, *dims, seed=1), leaf(num_src, *dims, seed=2)))
    elif case == "edge_softmax":
        _check_gradcheck(lambda s: ft.edge_softmax(handle, s), (leaf(num_edges, 3, seed=1),))
    elif case.startswith("aggregate"):
        reduce = case.split("_")[1]
        _check_gradcheck(lambda x, w: ft.aggregate(handle, x, reduce, w),
                         (leaf(num_src, 3, 2, seed=1), leaf(num_edges, 3, seed=2)))
    elif case.startswith("gatv2"):
        dropout = 0.4 if case.endswith("dropout") else 0.0
        _check_gradcheck(lambda xs, xd, att: ft.gatv2_attention(handle, xs, xd, att, dropout=dropout, seed=9),
                         (leaf(num_src, 2, 3, seed=1), leaf(num_dst, 2, 3, seed=2), leaf(2, 3, seed=3)))
    else:
        dropout = 0.4 if case.endswith("dropout") else 0.0
        _check_gradcheck(lambda x, ss, sd: ft.gat_attention(handle, x, ss, sd, dropout=dropout, seed=9),
                         (leaf(num_src, 2, 3, seed=1), leaf(num_src, 2, seed=2), leaf(num_dst, 2, seed=3)))


def test_inputs_are_not_modified_and_strided_inputs_work():
    edge_index, num_src, num_dst = _small_graph()
    x = _randn(3, 2, num_src, seed=1).permute(2, 1, 0)      # non-contiguous (num_src, 2, 3)
    ss, sd = _randn(num_src, 2, seed=2), _randn(num_dst, 2, seed=3)
    copies = [t.clone() for t in (x, ss, sd, edge_index)]
    out = ft.gat_attention(edge_index, x, ss, sd)
    assert_close(out, ft.gat_attention(edge_index, x.contiguous(), ss, sd))
    for before, after in zip(copies, (x, ss, sd, edge_index)):
        assert torch.equal(before, after)


def test_attention_weights_are_a_copy():
    edge_index, num_src, num_dst = _small_graph()
    x = _randn(num_src, 2, 3, seed=1).requires_grad_()
    ss, sd = _randn(num_src, 2, seed=2), _randn(num_dst, 2, seed=3)
    out, alpha = ft.gat_attention(edge_index, x, ss, sd, return_attention_weights=True)
    expected = torch.autograd.grad(out.sum(), x, retain_graph=True)[0]
    alpha.fill_(7.0)                                        # the backward does not see it
    assert_close(torch.autograd.grad(out.sum(), x)[0], expected)


# ---------------------------------------------------------------------------- errors
def test_function_errors():
    edge_index, num_src, num_dst = _small_graph()
    x, ss, sd = _randn(num_src, 2, 3, seed=1), _randn(num_src, 2, seed=2), _randn(num_dst, 2, seed=3)
    with pytest.raises(ValueError, match="x must be 3-D"):
        ft.gat_attention(edge_index, x[:, 0], ss, sd)
    with pytest.raises(TypeError, match="one dtype"):
        ft.gat_attention(edge_index, x.float(), ss, sd)
    with pytest.raises(ValueError, match="score_dst must have 2 columns"):
        ft.gat_attention(edge_index, x, ss, sd[:, :1])
    with pytest.raises(ValueError, match="score_dst must have"):
        ft.gat_attention(edge_index, x, ss, sd, size=(num_src, num_dst + 1))
    with pytest.raises(ValueError, match="dropout"):
        ft.gat_attention(edge_index, x, ss, sd, dropout=1.0)
    with pytest.raises(ValueError, match="seed"):
        ft.gat_attention(edge_index, x, ss, sd, dropout=0.5, seed=-1)
    with pytest.raises(TypeError, match="x must have dtype"):
        ft.gat_attention(edge_index, x.long(), ss, sd)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ft.gat_attention(edge_index, x.numpy(), ss, sd)
    with pytest.raises(ValueError, match="att"):
        ft.gatv2_attention(edge_index, x, _randn(num_dst, 2, 3), _randn(3, 2))
    with pytest.raises(ValueError, match="op must be one of"):
        ft.sddmm(edge_index, sd, ss, "mul")
    with pytest.raises(ValueError, match="op='add' needs 2-D"):
        ft.sddmm(edge_index, _randn(num_dst, 2, 3), x, "add")
    with pytest.raises(ValueError, match="a must have"):
        ft.sddmm(edge_index, ss, ss, size=(num_src, num_dst))
    with pytest.raises(ValueError, match="scores must have"):
        ft.edge_softmax(edge_index, _randn(3, 2), size=(num_src, num_dst))
    with pytest.raises(ValueError, match="edge_weight must have shape"):
        ft.aggregate(edge_index, x, "sum", _randn(3, 2), size=(num_src, num_dst))
    with pytest.raises(ValueError, match="reduce 'sum' or 'mean'"):
        ft.aggregate(edge_index, x, "max", _randn(edge_index.shape[1], 2), size=(num_src, num_dst))
    coo = torch.sparse_coo_tensor(torch.tensor([[0, 0], [1, 1]]), torch.ones(2), (num_dst, num_src))
    with pytest.raises(ValueError, match="uncoalesced"):
        ft.edge_softmax(coo, _randn(1, 2))
    for a in (x, ss, sd):
        assert a.grad is None


def test_layer_errors():
    with pytest.raises(ValueError, match="edge_dim"):
        ft.GATConv(4, 2, edge_dim=3)
    with pytest.raises(ValueError, match="in_channels"):
        ft.GATConv(-1, 2)
    with pytest.raises(ValueError, match="heads"):
        ft.GATv2Conv(4, 2, heads=0)
    with pytest.raises(ValueError, match="dropout"):
        ft.GATConv(4, 2, dropout=1.5)
    with pytest.raises(TypeError, match="unsupported arguments: aggr"):
        ft.GATConv(4, 2, aggr="mean")
    layer = ft.GATConv(IN_SRC, 2, heads=2).double()
    x = _inputs(False)
    with pytest.raises(ValueError, match="x_src must be 2-D"):
        layer(x[:, :, None], _graph("edge_index", False))
    with pytest.raises(TypeError, match="edge_index must be"):
        layer(x, [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="edge_index must have shape"):
        layer(x, torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="adjacency must have shape"):
        layer(x, csr_adjacency(torch.tensor([[0], [1]]), NUM_SRC + 1, NUM_SRC))
    with pytest.raises(ValueError, match="edge_index"):
        layer(x, torch.tensor([[0, NUM_SRC + 5], [1, 0]]))
    with pytest.raises(ValueError, match="destination features"):
        ft.GATv2Conv(IN_SRC, 2).double()((x, None), _graph("edge_index", False))
    with pytest.raises(TypeError, match="x must be a tensor or a pair"):
        layer([x, x, x], _graph("edge_index", False))


def test_layers_under_torch_compile():
    """The fused ops run outside the traced region: a compiled layer gives the eager results and gradients."""
    for kind in LAYERS:
        _, layer = _pair_of_layers(kind, IN_SRC, 2, True, True)
        x = _inputs(False)
        edge_index = _graph("edge_index", False)
        expected = layer(x, edge_index)
        compiled = torch.compile(layer, backend="eager")
        out = compiled(x, edge_index)
        assert_close(out, expected)
        out.sum().backward()
        assert all(p.grad is not None for p in layer.parameters())


@pytest.mark.parametrize("layout", ["coo", "csc"])
@pytest.mark.parametrize("kind", ["gat", "gatv2"])
def test_layer_on_other_sparse_layouts(kind, layout):
    reference, layer = _pair_of_layers(kind, (IN_SRC, IN_DST), 2, True, True)
    x = _inputs(True)
    csr = _graph("csr", True)
    adjacency = csr.to_sparse_coo().coalesce() if layout == "coo" else csr.to_sparse_csc()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference(x, csr)
        assert_close(layer(x, adjacency), expected)
        out, (adj, alpha) = layer(x, adjacency, return_attention_weights=True)
    assert adj.layout == torch.sparse_csr and alpha.shape == (adj.values().shape[0], 2)
