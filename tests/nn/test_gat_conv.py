"""GATConv and GATv2Conv: a per-edge NumPy reference, finite differences, dropout, caching, threads, bad input."""
import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from fastgnn.nn.conv._attention import gat_self_loops
from fastgnn.nn.module import Module
from fastgnn.ops import dropout_keep_flat
from fastgnn.testing import check_module_grad
from nn_cases import distinct_features, random_graph

LAYERS = {"gat": nn.GATConv, "gatv2": nn.GATv2Conv}


# ---------------------------------------------------------------------- the reference
def looped_edges(graph, add_self_loops):
    """PyG's edges: every loop removed, then one loop per node i < min(num_src, num_dst) appended."""
    src, dst = graph.to_edge_index()
    if add_self_loops:
        keep = src != dst
        loops = np.arange(min(graph.num_src_nodes, graph.num_dst_nodes))
        src, dst = np.concatenate([src[keep], loops]), np.concatenate([dst[keep], loops])
    return src, dst


def leaky_relu(v, slope):
    return np.where(v > 0, v, slope * v)


def reference(layer, src, dst, num_dst, x_src, x_dst, keep=None):
    """The layer's output over the edges ``src -> dst`` and its ``(E, H)`` attention, edge by edge, in float64."""
    heads, channels = layer.heads, layer.out_channels
    x_src, x_dst = np.asarray(x_src, np.float64), np.asarray(x_dst, np.float64)

    def lin(name, x):
        linear = getattr(layer, name)
        out = x @ linear.weight.data.T.astype(np.float64)
        if linear.bias is not None:
            out = out + linear.bias.data
        return out.reshape(-1, heads, channels)

    if isinstance(layer, nn.GATConv):
        z_src = lin("lin" if layer.lin is not None else "lin_src", x_src)
        z_dst = lin("lin" if layer.lin is not None else "lin_dst", x_dst)
        scores = leaky_relu((z_src * layer.att_src.data).sum(-1)[src] + (z_dst * layer.att_dst.data).sum(-1)[dst],
                            layer.negative_slope)
    else:
        z_src, z_dst = lin("lin_l", x_src), lin("lin_r", x_dst)
        scores = (leaky_relu(z_src[src] + z_dst[dst], layer.negative_slope) * layer.att.data).sum(-1)
    alpha = np.zeros_like(scores)
    for i in range(num_dst):
        row = dst == i
        if row.any():
            e = np.exp(scores[row] - scores[row].max(0))
            alpha[row] = e / e.sum(0)
    weights = alpha if keep is None else alpha * keep / (1 - layer.dropout)
    out = np.zeros((num_dst, heads, channels))
    np.add.at(out, dst, weights[:, :, None] * z_src[src])
    out = out.reshape(num_dst, -1) if layer.concat else out.mean(1)
    if layer.bias is not None:
        out = out + layer.bias.data
    return out, alpha


def dense_attention(alpha, src, dst, shape):
    """``(num_dst, num_src, H)``: the attention of each (destination, source) pair (duplicates added)."""
    dense = np.zeros(shape + (alpha.shape[1],))
    np.add.at(dense, (dst, src), alpha)
    return dense


def make(kind, in_channels, out_channels, dtype=np.float64, **options):
    layer = LAYERS[kind](in_channels, out_channels, rng=0, dtype=dtype, **options)
    if layer.bias is not None:       # a non-zero bias, so that the bias gradient and output are tested
        layer.bias.data[...] = np.random.default_rng(1).standard_normal(layer.bias.shape)
    return layer


def layer_inputs(rng, bipartite, widths=(5, 4)):
    if bipartite:
        graph = random_graph(rng, 10, 6)
        return graph, (distinct_features(rng, 10, widths[0]), distinct_features(rng, 6, widths[1]))
    graph = random_graph(rng, 12)
    # some loops and a duplicated loop, which the layer replaces by one loop per node
    src, dst = graph.to_edge_index()
    src = np.concatenate([src, [3, 3, 5]])
    dst = np.concatenate([dst, [3, 3, 5]])
    graph = fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_nodes=12)
    return graph, distinct_features(rng, 12, widths[0])


# ---------------------------------------------------------------------- self-loops
def test_self_loops_follow_pyg():
    edge_index = np.array([[0, 1, 1, 2, 2, 0], [1, 1, 1, 0, 2, 2]])
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=3)
    looped = gat_self_loops(graph)
    assert looped.indptr.tolist() == [0, 2, 4, 6]
    assert looped.indices.tolist() == [2, 0, 0, 1, 0, 2]     # other edges in order, the loop last
    bipartite = fastgnn.Graph.from_edge_index(np.array([[0, 4, 1], [1, 0, 1]]), num_src_nodes=5, num_dst_nodes=2)
    looped = gat_self_loops(bipartite)
    assert (looped.num_src_nodes, looped.num_dst_nodes) == (5, 2)
    assert looped.indptr.tolist() == [0, 2, 4] and looped.indices.tolist() == [4, 0, 0, 1]
    wide = fastgnn.Graph.from_edge_index(np.array([[0], [2]]), num_src_nodes=2, num_dst_nodes=4)
    assert gat_self_loops(wide).indptr.tolist() == [0, 1, 2, 3, 3]     # loops for i < min(2, 4)


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_self_loops_keep_int64(index_dtype):
    graph = fastgnn.Graph.from_edge_index(np.array([[0, 1], [1, 0]]), num_nodes=2, index_dtype=index_dtype)
    assert gat_self_loops(graph).index_dtype == np.dtype(index_dtype)


# ---------------------------------------------------------------------- forward against the reference
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_the_reference(rng, kind, heads, concat, add_self_loops, bias):
    graph, x = layer_inputs(rng, False)
    layer = make(kind, 5, 4, heads=heads, concat=concat, add_self_loops=add_self_loops, bias=bias)
    out, (attended, alpha) = layer(graph, x, return_attention_weights=True)
    src, dst = looped_edges(graph, add_self_loops)
    expected, expected_alpha = reference(layer, src, dst, 12, x, x)
    assert out.shape == (12, 4 * heads if concat else 4)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert alpha.shape == (attended.num_edges, heads)
    a_src, a_dst = attended.to_edge_index()
    np.testing.assert_allclose(dense_attention(alpha, a_src, a_dst, (12, 12)),
                               dense_attention(expected_alpha, src, dst, (12, 12)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_dtypes(rng, kind, dtype, index_dtype):
    graph, x = layer_inputs(rng, False)
    graph = fastgnn.Graph.from_csr(graph.indptr, graph.indices, index_dtype=index_dtype)
    layer = make(kind, 5, 4, dtype=dtype, heads=2)
    out = layer(graph, x.astype(dtype))
    assert out.dtype == dtype
    src, dst = looped_edges(graph, True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, reference(layer, src, dst, 12, x, x)[0], rtol=tol, atol=tol)
    grad = layer.backward(np.ones_like(out))
    assert grad.dtype == dtype and all(p.grad.dtype == dtype for p in layer.parameters())


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("pair_widths", [False, True])
def test_bipartite_pair(rng, kind, pair_widths):
    widths = (5, 3) if pair_widths else (5, 5)
    graph, (x_src, x_dst) = layer_inputs(rng, True, widths)
    layer = make(kind, widths if pair_widths else 5, 4, heads=2)
    out = layer(graph, (x_src, x_dst))
    src, dst = looped_edges(graph, True)
    np.testing.assert_allclose(out, reference(layer, src, dst, 6, x_src, x_dst)[0], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="bipartite"):
        layer(graph, x_src)


def test_square_graph_with_two_input_widths_needs_a_pair(rng):
    graph, x = layer_inputs(rng, False)
    layer = nn.GATConv((5, 3), 4, dtype=np.float64)
    with pytest.raises(ValueError, match="pair"):
        layer(graph, x)
    out = layer(graph, (x, x[:, :3].copy()))
    src, dst = looped_edges(graph, True)
    np.testing.assert_allclose(out, reference(layer, src, dst, 12, x, x[:, :3])[0], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_gradients(rng, kind, heads, concat, add_self_loops, bias):
    graph, x = layer_inputs(rng, False, (4,))
    layer = make(kind, 4, 3, heads=heads, concat=concat, add_self_loops=add_self_loops, bias=bias)
    check_module_grad(layer, graph, x)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("pair_widths", [False, True])
@pytest.mark.parametrize("concat", [True, False])
def test_gradients_bipartite(rng, kind, pair_widths, concat):
    widths = (4, 3) if pair_widths else (4, 4)
    graph, x = layer_inputs(rng, True, widths)
    layer = make(kind, widths if pair_widths else 4, 3, heads=2, concat=concat)
    check_module_grad(layer, graph, x)


@pytest.mark.parametrize("bipartite", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_gradients_shared_weights(rng, bipartite, bias):
    graph, x = layer_inputs(rng, bipartite, (4, 4))
    layer = make("gatv2", 4, 3, heads=2, share_weights=True, bias=bias)
    assert layer.lin_r is layer.lin_l
    assert not any(name.startswith("lin_r") for name in layer.state_dict())
    check_module_grad(layer, graph, x)


class FixedStep(Module):
    """The layer with its dropout step pinned: every forward draws the same attention mask."""

    def __init__(self, layer, step):
        super().__init__()
        self.layer, self.step = layer, step

    def forward(self, graph, x):
        self.layer.dropout_step = self.step
        return self.layer(graph, x)

    def backward(self, grad_out):
        return self.layer.backward(grad_out)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("bipartite", [False, True])
def test_gradients_with_a_fixed_dropout_mask(rng, kind, heads, concat, bipartite):
    graph, x = layer_inputs(rng, bipartite, (4, 4))
    layer = make(kind, 4, 3, heads=heads, concat=concat, dropout=0.4)
    check_module_grad(FixedStep(layer, 7), graph, x)


# ---------------------------------------------------------------------- attention dropout
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_dropout_uses_the_counter_based_mask(rng, kind):
    graph, x = layer_inputs(rng, False)
    layer = make(kind, 5, 4, heads=3, dropout=0.5)
    src, dst = layer.attention_graph(graph).to_edge_index()
    num_edges = src.size
    assert layer.dropout_step == 0
    outputs = []
    for step in range(2):
        out, (_, alpha) = layer(graph, x, return_attention_weights=True)
        keep = dropout_keep_flat(num_edges * 3, 0.5, seed=layer.dropout_seed, step=step).reshape(num_edges, 3)
        assert 0 < keep.mean() < 1
        expected, expected_alpha = reference(layer, src, dst, 12, x, x, keep=keep)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(alpha, expected_alpha, rtol=1e-10, atol=1e-12)     # before dropout
        outputs.append(out)
    assert layer.dropout_step == 2 and not np.allclose(outputs[0], outputs[1])
    layer.eval()
    out = layer(graph, x)
    np.testing.assert_allclose(out, reference(layer, src, dst, 12, x, x)[0], rtol=1e-10, atol=1e-12)
    assert layer.dropout_step == 2


def test_dropout_key_comes_from_the_rng():
    first = nn.GATConv(4, 3, dropout=0.5, rng=3)
    second = nn.GATConv(4, 3, dropout=0.5, rng=3)
    assert first.dropout_seed == second.dropout_seed
    assert nn.GATConv(4, 3, dropout=0.5, rng=4).dropout_seed != first.dropout_seed


# ---------------------------------------------------------------------- the cached graph
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_attention_graph_is_cached_per_input_graph(rng, kind):
    graph, x = layer_inputs(rng, False)
    layer = make(kind, 5, 4)
    first = layer.attention_graph(graph)
    _, (attended, _) = layer(graph, x, return_attention_weights=True)
    assert attended is first and layer.attention_graph(graph) is first
    other = random_graph(rng, 12)
    assert layer.attention_graph(other) is not first
    layer.attention_graph(graph)
    layer.clear_cache()
    assert layer.attention_graph(graph) is not first
    weighted = random_graph(rng, 12, weighted=True)
    assert make(kind, 5, 4, add_self_loops=False).attention_graph(weighted).edge_weight is None


# ---------------------------------------------------------------------- documented edge cases
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_empty_rows_without_self_loops_give_the_bias(rng, kind):
    graph = random_graph(rng, 8)     # its last node has no in-edge
    x = distinct_features(rng, 8, 5)
    layer = make(kind, 5, 4, heads=2, add_self_loops=False)
    out = layer(graph, x)
    np.testing.assert_array_equal(out[-1], layer.bias.data)
    grad = layer.backward(np.ones_like(out))
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_graph_without_edges_attends_to_the_node_itself(kind):
    graph = fastgnn.Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=4)
    layer = make(kind, 3, 2, heads=2, bias=False)
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    value_layer = layer.lin if kind == "gat" else layer.lin_l
    expected = x @ value_layer.weight.data.T
    if getattr(value_layer, "bias", None) is not None:
        expected = expected + value_layer.bias.data
    np.testing.assert_allclose(layer(graph, x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_inputs_are_not_modified(rng, kind):
    graph, x = layer_inputs(rng, False)
    base = np.asfortranarray(x)                      # non-contiguous rows
    base.setflags(write=False)
    copy = base.copy()
    layer = make(kind, 5, 4, heads=2)
    out = layer(graph, base)
    np.testing.assert_allclose(out, layer(graph, np.ascontiguousarray(x)), rtol=1e-12, atol=1e-12)
    grad_out = np.ones_like(out)
    grad_out.setflags(write=False)
    layer.backward(grad_out)
    np.testing.assert_array_equal(base, copy)
    assert np.all(grad_out == 1)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_sparse_features_give_the_dense_result(rng, kind):
    graph, x = layer_inputs(rng, False)
    x[x < 0.3] = 0
    layer = make(kind, 5, 4, heads=2)
    dense_out = layer(graph, x)
    layer.backward(np.ones_like(dense_out), need_input_grad=False)
    dense_grads = [param.grad.copy() for param in layer.parameters()]
    layer.zero_grad()
    sparse_out = layer(graph, fastgnn.SparseFeatures.from_dense(x))
    np.testing.assert_allclose(sparse_out, dense_out, rtol=1e-12, atol=1e-12)
    layer.backward(np.ones_like(sparse_out), need_input_grad=False)
    for param, grad in zip(layer.parameters(), dense_grads):
        np.testing.assert_allclose(param.grad, grad, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_bad_arguments(rng, kind):
    cls = LAYERS[kind]
    with pytest.raises(ValueError, match="heads"):
        cls(4, 3, heads=0)
    with pytest.raises(TypeError, match="heads"):
        cls(4, 3, heads=2.5)
    with pytest.raises(ValueError, match="dropout"):
        cls(4, 3, dropout=1.0)
    with pytest.raises(ValueError, match="out_channels"):
        cls(4, 0)
    graph, x = layer_inputs(rng, False)
    layer = make(kind, 4, 3)
    with pytest.raises(ValueError, match="x has 5 features but the layer expects 4"):
        layer(graph, x)
    with pytest.raises(TypeError, match="graph must be a fastgnn.Graph"):
        layer(x, x[:, :4])
    with pytest.raises(TypeError, match="float"):
        layer(graph, np.ones((12, 4), np.int64))
    layer(graph, np.ascontiguousarray(x[:, :4]))
    with pytest.raises(ValueError, match="grad_out"):
        layer.backward(np.ones((12, 4)))


def test_share_weights_needs_equal_widths():
    with pytest.raises(ValueError, match="share_weights"):
        nn.GATv2Conv((4, 3), 2, share_weights=True)


# ---------------------------------------------------------------------- threads
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_any_thread_count(kind, dtype):
    rng = np.random.default_rng(5)
    graph = random_graph(rng, 300, num_edges=3000)
    x = rng.standard_normal((300, 16)).astype(dtype)
    grad_out = rng.standard_normal((300, 32)).astype(dtype)
    results = {}
    for threads in (1, 2, 3):
        fastgnn.set_num_threads(threads)
        layer = make(kind, 16, 8, dtype=dtype, heads=4, dropout=0.3)
        out = layer(graph, x)
        grad = layer.backward(grad_out)
        results[threads] = [out, grad] + [p.grad for p in layer.parameters()]
    for threads in (2, 3):
        for got, expected in zip(results[threads], results[1]):
            assert got.tobytes() == expected.tobytes()
