"""The fused GAT / GATv2 attention of fastgnn.ops.gat: references, kernels, gradients, edge cases."""
import math

import numpy as np
import pytest

from fastgnn import ops
from fastgnn.ops import reference as R
from tests.graph_cases import CASES

GAT_CASES = ["empty_graph", "zero_edges", "single_node_loop", "isolated_nodes", "self_loops", "duplicate_edges",
             "bipartite_more_sources", "bipartite_more_destinations", "random"]


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-11, atol=1e-11)


def _gat_inputs(case, heads, width, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.num_src_nodes, heads, width)).astype(dtype)
    score_src = rng.standard_normal((case.num_src_nodes, heads)).astype(dtype)
    score_dst = rng.standard_normal((case.num_dst_nodes, heads)).astype(dtype)
    return x, score_src, score_dst


def _gatv2_inputs(case, heads, width, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x_src = rng.standard_normal((case.num_src_nodes, heads, width)).astype(dtype)
    x_dst = rng.standard_normal((case.num_dst_nodes, heads, width)).astype(dtype)
    att = rng.standard_normal((heads, width)).astype(dtype)
    return x_src, x_dst, att


def _loop_attention(case, scores_of_edge, messages, negative_slope, factor):
    """Edge by edge with Python floats: ``(out, alpha)`` in float64, independent of the references."""
    heads, width = messages.shape[1:]
    out = np.zeros((case.num_dst_nodes, heads, width))
    alpha = np.zeros((case.num_edges, heads))
    for i in range(case.num_dst_nodes):
        edges = range(case.indptr[i], case.indptr[i + 1])
        for h in range(heads):
            s = {}
            for e in edges:
                z = scores_of_edge(e, i, h)
                s[e] = z
            if not s:
                continue
            m = max(s.values())
            total = sum(math.exp(v - m) for v in s.values())
            for e in edges:
                alpha[e, h] = math.exp(s[e] - m) / total
                out[i, h] += alpha[e, h] * factor[e, h] * messages[case.indices[e], h].astype(np.float64)
    return out, alpha


def _lrelu(z, slope):
    return z if z > 0 else z * slope


@pytest.mark.parametrize("name", GAT_CASES)
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_gat_reference_matches_edge_loop(name, dropout):
    case = CASES[name]
    x, ss, sd = _gat_inputs(case, 3, 4, np.float64)
    slope = 0.3
    factor = np.ones((case.num_edges, 3))
    if dropout:
        factor = R.dropout_keep_flat(case.num_edges * 3, dropout, 7, 2).reshape(-1, 3) / (1 - dropout)
    expected, alpha = _loop_attention(
        case, lambda e, i, h: _lrelu(ss[case.indices[e], h] + sd[i, h], slope), x, slope, factor)
    out, got_alpha = R.gat_attention(case.indptr, case.indices, x, ss, sd, slope, dropout, 7, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_alpha, alpha, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", GAT_CASES)
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_gatv2_reference_matches_edge_loop(name, dropout):
    case = CASES[name]
    xs, xd, att = _gatv2_inputs(case, 2, 5, np.float64)
    slope = 0.2
    factor = np.ones((case.num_edges, 2))
    if dropout:
        factor = R.dropout_keep_flat(case.num_edges * 2, dropout, 3, 9).reshape(-1, 2) / (1 - dropout)

    def score(e, i, h):
        return sum(att[h, f] * _lrelu(xs[case.indices[e], h, f] + xd[i, h, f], slope) for f in range(5))

    expected, alpha = _loop_attention(case, score, xs, slope, factor)
    out, got_alpha = R.gatv2_attention(case.indptr, case.indices, xs, xd, att, slope, dropout, 3, 9)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_alpha, alpha, rtol=1e-12, atol=1e-12)


def _finite_difference(loss, arrays, eps=1e-6):
    """Central differences of ``loss()`` with respect to every entry of each array (modified and restored)."""
    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        flat, gflat = array.reshape(-1), grad.reshape(-1)
        for k in range(flat.size):
            saved = flat[k]
            flat[k] = saved + eps
            up = loss()
            flat[k] = saved - eps
            down = loss()
            flat[k] = saved
            gflat[k] = (up - down) / (2 * eps)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("name", ["random", "duplicate_edges", "self_loops", "bipartite_more_sources"])
@pytest.mark.parametrize("dropout", [0.0, 0.4])
@pytest.mark.parametrize("compiled", [False, True])
def test_gat_backward_finite_differences(name, dropout, compiled):
    case = CASES[name]
    x, ss, sd = _gat_inputs(case, 2, 3, np.float64, seed=5)
    weight = np.random.default_rng(6).standard_normal((case.num_dst_nodes, 2, 3))
    graph = case.graph()

    def forward():
        if compiled:
            return ops.gat_attention(graph, x, ss, sd, negative_slope=0.15, dropout=dropout, seed=4, step=1)
        out, alpha = R.gat_attention(case.indptr, case.indices, x, ss, sd, 0.15, dropout, 4, 1)
        return out, alpha

    def loss():
        return float((forward()[0] * weight).sum())

    _, state = forward()
    if compiled:
        grads = ops.gat_attention_backward(graph, weight, x, ss, sd, state)
    else:
        grads = R.gat_attention_backward(case.indptr, case.indices, weight, x, ss, sd, state, 0.15, dropout, 4, 1)
    for got, expected in zip(grads, _finite_difference(loss, [x, ss, sd])):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["random", "duplicate_edges", "self_loops", "bipartite_more_destinations"])
@pytest.mark.parametrize("dropout", [0.0, 0.4])
@pytest.mark.parametrize("compiled", [False, True])
def test_gatv2_backward_finite_differences(name, dropout, compiled):
    case = CASES[name]
    xs, xd, att = _gatv2_inputs(case, 2, 3, np.float64, seed=8)
    weight = np.random.default_rng(9).standard_normal((case.num_dst_nodes, 2, 3))
    graph = case.graph()

    def forward():
        if compiled:
            return ops.gatv2_attention(graph, xs, xd, att, negative_slope=0.25, dropout=dropout, seed=2, step=3)
        return R.gatv2_attention(case.indptr, case.indices, xs, xd, att, 0.25, dropout, 2, 3)

    def loss():
        return float((forward()[0] * weight).sum())

    _, state = forward()
    if compiled:
        grads = ops.gatv2_attention_backward(graph, weight, xs, xd, att, state)
    else:
        grads = R.gatv2_attention_backward(case.indptr, case.indices, weight, xs, xd, att, state, 0.25, dropout,
                                           2, 3)
    for got, expected in zip(grads, _finite_difference(loss, [xs, xd, att])):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_state_holds_pre_dropout_attention():
    case = CASES["random"]
    x, ss, sd = _gat_inputs(case, 2, 3, np.float32)
    _, state = ops.gat_attention(case.graph(), x, ss, sd, dropout=0.5, seed=1, step=2)
    _, plain = ops.gat_attention(case.graph(), x, ss, sd)
    assert isinstance(state, ops.GATAttentionState)
    assert state.alpha.shape == (case.num_edges, 2) and state.alpha.dtype == np.float32
    np.testing.assert_array_equal(state.alpha, plain.alpha)
    assert (state.p, state.seed, state.step, state.kind) == (0.5, 1, 2, "gat")
    rows = np.add.reduceat(state.alpha.astype(np.float64), case.indptr[:-1][np.diff(case.indptr) > 0], axis=0)
    np.testing.assert_allclose(rows, 1.0, rtol=1e-6)


# ---------------------------------------------------------------------------
# Compiled kernels against the references


def _reference_gat(case, x, ss, sd, slope, dropout, seed, step):
    return R.gat_attention(case.indptr, case.indices, x, ss, sd, slope, dropout, seed, step)


@pytest.mark.parametrize("name", GAT_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("heads,width", [(1, 1), (1, 8), (4, 13), (4, 8), (3, 5), (8, 8), (8, 16), (8, 5)])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_gat_matches_reference(name, dtype, index_dtype, heads, width, dropout):
    case = CASES[name]
    graph = case.graph(index_dtype)
    x, ss, sd = _gat_inputs(case, heads, width, dtype, seed=heads * 31 + width)
    slope = 0.2 if heads != 3 else 0.0
    out, state = ops.gat_attention(graph, x, ss, sd, negative_slope=slope, dropout=dropout, seed=11, step=3)
    expected, alpha = _reference_gat(case, x, ss, sd, slope, dropout, 11, 3)
    assert out.dtype == dtype and out.shape == (case.num_dst_nodes, heads, width)
    np.testing.assert_allclose(out, expected, **_tol(dtype))
    np.testing.assert_allclose(state.alpha, alpha, **_tol(dtype))
    g = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
    got = ops.gat_attention_backward(graph, g, x, ss, sd, state)
    want = R.gat_attention_backward(case.indptr, case.indices, g, x, ss, sd, state.alpha, slope, dropout, 11, 3)
    for a, b, shape in zip(got, want, [x.shape, ss.shape, sd.shape]):
        assert a.dtype == dtype and a.shape == shape
        np.testing.assert_allclose(a, b, **_tol(dtype))


@pytest.mark.parametrize("name", GAT_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("heads,width", [(1, 1), (1, 8), (4, 13), (4, 8), (2, 16)])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_gatv2_matches_reference(name, dtype, index_dtype, heads, width, dropout):
    case = CASES[name]
    graph = case.graph(index_dtype)
    xs, xd, att = _gatv2_inputs(case, heads, width, dtype, seed=heads * 17 + width)
    slope = 0.3
    out, state = ops.gatv2_attention(graph, xs, xd, att, negative_slope=slope, dropout=dropout, seed=5, step=8)
    expected, alpha = R.gatv2_attention(case.indptr, case.indices, xs, xd, att, slope, dropout, 5, 8)
    tol = _tol(dtype) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out, expected, **tol)
    np.testing.assert_allclose(state.alpha, alpha, **tol)
    g = np.random.default_rng(4).standard_normal(out.shape).astype(dtype)
    got = ops.gatv2_attention_backward(graph, g, xs, xd, att, state)
    want = R.gatv2_attention_backward(case.indptr, case.indices, g, xs, xd, att, state.alpha, slope, dropout, 5, 8)
    for a, b, shape in zip(got, want, [xs.shape, xd.shape, att.shape]):
        assert a.dtype == dtype and a.shape == shape
        np.testing.assert_allclose(a, b, **tol)


def test_dropout_mask_follows_seed_and_step():
    case = CASES["random"]
    graph = case.graph()
    x, ss, sd = _gat_inputs(case, 4, 8, np.float64)
    out1, _ = ops.gat_attention(graph, x, ss, sd, dropout=0.5, seed=3, step=1)
    out2, _ = ops.gat_attention(graph, x, ss, sd, dropout=0.5, seed=3, step=1)
    out3, _ = ops.gat_attention(graph, x, ss, sd, dropout=0.5, seed=3, step=2)
    out4, _ = ops.gat_attention(graph, x, ss, sd, dropout=0.5, seed=4, step=1)
    np.testing.assert_array_equal(out1, out2)
    assert not np.array_equal(out1, out3) and not np.array_equal(out1, out4)
    # the mask is dropout_keep_flat over the (E, H) weights
    keep = ops.dropout_keep_flat(case.num_edges * 4, 0.5, 3, 1).reshape(-1, 4)
    assert 0.3 < keep.mean() < 0.7
    expected, _ = _reference_gat(case, x, ss, sd, 0.2, 0.5, 3, 1)
    np.testing.assert_allclose(out1, expected, rtol=1e-12, atol=1e-12)


def test_dropout_close_to_one_drops_everything():
    case = CASES["random"]
    x, ss, sd = _gat_inputs(case, 2, 3, np.float64)
    p = 1.0 - 2.0 ** -40
    out, state = ops.gat_attention(case.graph(), x, ss, sd, dropout=p)
    np.testing.assert_array_equal(out, 0.0)
    grads = ops.gat_attention_backward(case.graph(), np.ones_like(out), x, ss, sd, state)
    np.testing.assert_array_equal(grads[0], 0.0)


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0, 2.5, -0.5])
def test_negative_slopes(slope):
    case = CASES["self_loops"]
    x, ss, sd = _gat_inputs(case, 2, 4, np.float64, seed=3)
    out, state = ops.gat_attention(case.graph(), x, ss, sd, negative_slope=slope)
    expected, _ = _reference_gat(case, x, ss, sd, slope, 0.0, 0, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    xs, xd, att = _gatv2_inputs(case, 2, 4, np.float64, seed=3)
    out, state = ops.gatv2_attention(case.graph(), xs, xd, att, negative_slope=slope)
    expected, _ = R.gatv2_attention(case.indptr, case.indices, xs, xd, att, slope)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    g = np.ones_like(out)
    got = ops.gatv2_attention_backward(case.graph(), g, xs, xd, att, state)
    want = R.gatv2_attention_backward(case.indptr, case.indices, g, xs, xd, att, state.alpha, slope)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_high_degree_rows_and_many_heads():
    """Rows longer than the flat softmax period and head counts outside the specialised ones."""
    rng = np.random.default_rng(9)
    from tests.graph_cases import csr_from_edges
    src = rng.integers(0, 30, 700)
    dst = np.where(rng.random(700) < 0.8, 0, rng.integers(0, 6, 700))
    case = csr_from_edges("hub", src, dst, 30, 6)
    for heads, width in [(16, 2), (5, 3), (20, 1), (8, 64), (2, 33)]:
        x, ss, sd = _gat_inputs(case, heads, width, np.float64, seed=heads)
        out, state = ops.gat_attention(case.graph(), x, ss, sd, dropout=0.3, seed=1)
        expected, alpha = _reference_gat(case, x, ss, sd, 0.2, 0.3, 1, 0)
        np.testing.assert_allclose(out, expected, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(state.alpha, alpha, rtol=1e-11, atol=1e-11)
        g = rng.standard_normal(out.shape)
        got = ops.gat_attention_backward(case.graph(), g, x, ss, sd, state)
        want = R.gat_attention_backward(case.indptr, case.indices, g, x, ss, sd, state.alpha, 0.2, 0.3, 1, 0)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# Edge cases, inputs, threads


def test_empty_rows_give_zero_and_alpha_sums_to_one():
    case = CASES["isolated_nodes"]
    x, ss, sd = _gat_inputs(case, 3, 4, np.float32)
    out, state = ops.gat_attention(case.graph(), x, ss, sd)
    empty = np.diff(case.indptr) == 0
    assert empty.any()
    np.testing.assert_array_equal(out[empty], 0.0)
    sums = np.zeros((case.num_dst_nodes, 3))
    np.add.at(sums, case.destinations(), state.alpha.astype(np.float64))
    np.testing.assert_allclose(sums[~empty], 1.0, rtol=1e-6)


def test_nan_and_infinite_scores_follow_edge_softmax():
    from tests.graph_cases import csr_from_edges
    case = csr_from_edges("small", [0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 2], 3, 3)
    x = np.ones((3, 2, 2))
    ss = np.array([[np.nan, 0.0], [1.0, -np.inf], [2.0, -np.inf]])
    sd = np.array([[0.0, -np.inf], [0.0, 0.0], [0.0, 1.0]])
    out, state = ops.gat_attention(case.graph(), x, ss, sd)
    expected, alpha = _reference_gat(case, x, ss, sd, 0.2, 0.0, 0, 0)
    np.testing.assert_array_equal(np.isnan(state.alpha), np.isnan(alpha))
    np.testing.assert_allclose(state.alpha, alpha, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # row 0: a NaN score makes head 0 NaN; head 1 is all -inf: weight 0
    assert np.isnan(state.alpha[0:3, 0]).all()
    np.testing.assert_array_equal(state.alpha[0:3, 1], 0.0)
    np.testing.assert_array_equal(out[0, 1], 0.0)
    # row 2: one edge, head 1 -inf + 1 = -inf: weight 0
    np.testing.assert_array_equal(state.alpha[5], [1.0, 0.0])


@pytest.mark.parametrize("kind", ["gat", "gatv2"])
def test_inputs_unchanged_noncontiguous_readonly(kind):
    from tests.graph_cases import assert_unchanged, snapshot, strided
    case = CASES["random"]
    graph = case.graph()
    if kind == "gat":
        arrays = _gat_inputs(case, 2, 5, np.float32)
        forward, backward = ops.gat_attention, ops.gat_attention_backward
    else:
        arrays = _gatv2_inputs(case, 2, 5, np.float32)
        forward, backward = ops.gatv2_attention, ops.gatv2_attention_backward
    views = [strided(a) for a in arrays]
    copies = snapshot(*views)
    out, state = forward(graph, *views, dropout=0.25, seed=2)
    expected, _ = forward(graph, *arrays, dropout=0.25, seed=2)
    np.testing.assert_array_equal(out, expected)
    g = strided(np.ones_like(out))
    grads = backward(graph, g, *views, state)
    want = backward(graph, np.ones_like(out), *arrays, state)
    for a, b in zip(grads, want):
        np.testing.assert_array_equal(a, b)
    assert_unchanged(views, copies)
    assert not state.alpha.flags.writeable


def test_bipartite_and_scipy_graph():
    import scipy.sparse as sp
    case = CASES["bipartite_more_sources"]
    matrix = sp.csr_matrix((np.ones(case.num_edges), case.indices, case.indptr),
                           shape=(case.num_dst_nodes, case.num_src_nodes))
    x, ss, sd = _gat_inputs(case, 2, 3, np.float64)
    out, _ = ops.gat_attention(matrix, x, ss, sd)
    expected, _ = _reference_gat(case, x, ss, sd, 0.2, 0.0, 0, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["gat", "gatv2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("heads,width", [(4, 8), (8, 16)])
def test_bitwise_identical_for_any_thread_count(kind, dtype, heads, width):
    from tests.graph_cases import parallel_always
    rng = np.random.default_rng(0)
    num_nodes, num_edges = 3000, 40000
    src = rng.integers(0, num_nodes, num_edges)
    dst = np.minimum(rng.zipf(1.6, num_edges), num_nodes) - 1
    from tests.graph_cases import csr_from_edges
    case = csr_from_edges("threads", src, dst, num_nodes, num_nodes)
    graph = case.graph()
    if kind == "gat":
        inputs = _gat_inputs(case, heads, width, dtype)
        forward, backward = ops.gat_attention, ops.gat_attention_backward
    else:
        inputs = _gatv2_inputs(case, heads, width, dtype)
        forward, backward = ops.gatv2_attention, ops.gatv2_attention_backward
    g = rng.standard_normal((num_nodes, heads, width)).astype(dtype)
    results = []
    with parallel_always():
        for threads in (1, 2, 3):
            out, state = forward(graph, *inputs, dropout=0.3, seed=7, step=2, n_threads=threads)
            grads = backward(graph, g, *inputs, state, n_threads=threads)
            results.append([out, state.alpha, *grads])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Bad input


def test_bad_input_raises_clear_errors():
    case = CASES["random"]
    graph = case.graph()
    x, ss, sd = _gat_inputs(case, 2, 3, np.float32)
    with pytest.raises(ValueError, match="x must have shape"):
        ops.gat_attention(graph, x[:, 0], ss, sd)
    with pytest.raises(ValueError, match="x must have shape"):
        ops.gat_attention(graph, x[:-1], ss, sd)
    with pytest.raises(ValueError, match="score_src has 1 heads but x has 2"):
        ops.gat_attention(graph, x, ss[:, :1], sd)
    with pytest.raises(ValueError, match="score_dst must have shape"):
        ops.gat_attention(graph, x, ss, sd[:-1])
    with pytest.raises(TypeError, match="score_src has dtype float64 but x has float32"):
        ops.gat_attention(graph, x, ss.astype(np.float64), sd)
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        ops.gat_attention(graph, x.astype(np.int64), ss, sd)
    for p in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="dropout must be in"):
            ops.gat_attention(graph, x, ss, sd, dropout=p)
    with pytest.raises(TypeError, match="dropout must be a number"):
        ops.gat_attention(graph, x, ss, sd, dropout="half")
    with pytest.raises(ValueError, match="seed must be in"):
        ops.gat_attention(graph, x, ss, sd, seed=-1)
    with pytest.raises(TypeError, match="step must be an integer"):
        ops.gat_attention(graph, x, ss, sd, step=1.5)
    with pytest.raises(ValueError, match="negative_slope must be finite"):
        ops.gat_attention(graph, x, ss, sd, negative_slope=float("inf"))
    with pytest.raises(TypeError, match="graph must be"):
        ops.gat_attention("graph", x, ss, sd)
    with pytest.raises(ValueError, match="n_threads"):
        ops.gat_attention(graph, x, ss, sd, n_threads=0)
    out, state = ops.gat_attention(graph, x, ss, sd)
    with pytest.raises(ValueError, match="grad_out must have shape"):
        ops.gat_attention_backward(graph, out[:, :1], x, ss, sd, state)
    with pytest.raises(TypeError, match="state must be the GATAttentionState"):
        ops.gat_attention_backward(graph, out, x, ss, sd, state.alpha)
    with pytest.raises(ValueError, match="state does not match"):
        ops.gat_attention_backward(graph, out, x.astype(np.float64), ss.astype(np.float64),
                                   sd.astype(np.float64), state)
    xs, xd, att = _gatv2_inputs(case, 2, 3, np.float32)
    with pytest.raises(ValueError, match="state was made by gat_attention"):
        ops.gatv2_attention_backward(graph, out, xs, xd, att, state)
    with pytest.raises(ValueError, match=r"att must have shape \(2, 3\)"):
        ops.gatv2_attention(graph, xs, xd, att[:1])
    with pytest.raises(ValueError, match="x_dst has 4 features per head but x_src has 3"):
        ops.gatv2_attention(graph, xs, np.zeros((case.num_dst_nodes, 2, 4), np.float32), att)
    with pytest.raises(ValueError, match="x_dst has 1 heads but x_src has 2"):
        ops.gatv2_attention(graph, xs, xd[:, :1], att)
    with pytest.raises(TypeError, match="att has dtype float64 but x has float32"):
        ops.gatv2_attention(graph, xs, xd, att.astype(np.float64))


def test_no_edges_by_features_allocated():
    """The forward and backward of a wide layer stay within O(E H + N H F) memory."""
    import tracemalloc
    rng = np.random.default_rng(1)
    num_nodes, num_edges, heads, width = 2000, 60000, 2, 64
    from tests.graph_cases import csr_from_edges
    case = csr_from_edges("memory", rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges),
                          num_nodes, num_nodes)
    graph = case.graph()
    graph.transpose_csr()
    xs, xd, att = _gatv2_inputs(case, heads, width, np.float32)
    g = np.ones((num_nodes, heads, width), np.float32)
    edges_by_features = num_edges * heads * width * 4
    tracemalloc.start()
    out, state = ops.gatv2_attention(graph, xs, xd, att, dropout=0.2)
    ops.gatv2_attention_backward(graph, g, xs, xd, att, state)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < edges_by_features / 4


@pytest.mark.parametrize("op", ["gat", "gat_backward", "gatv2", "gatv2_backward"])
def test_kernels_release_the_gil(op):
    """While one thread is inside a kernel, another runs Python (the probe of test_concurrency; no timing)."""
    from tests.graph_cases import csr_from_edges
    from tests.ops.test_concurrency import _python_runs_during
    rng = np.random.default_rng(5)
    num_nodes, num_edges = 20000, 300000
    case = csr_from_edges("gil", rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges),
                          num_nodes, num_nodes)
    graph = case.graph()
    graph.transpose_csr()
    x, ss, sd = _gat_inputs(case, 4, 8, np.float32)
    xs, xd, att = _gatv2_inputs(case, 4, 8, np.float32)
    out, state = ops.gat_attention(graph, x, ss, sd)
    _, state2 = ops.gatv2_attention(graph, xs, xd, att)
    calls = {
        "gat": lambda: ops.gat_attention(graph, x, ss, sd, n_threads=1),
        "gat_backward": lambda: ops.gat_attention_backward(graph, out, x, ss, sd, state, n_threads=1),
        "gatv2": lambda: ops.gatv2_attention(graph, xs, xd, att, n_threads=1),
        "gatv2_backward": lambda: ops.gatv2_attention_backward(graph, out, xs, xd, att, state2, n_threads=1),
    }
    assert _python_runs_during(calls[op]) > 0, f"another thread ran no Python during {op}: the GIL was held"
