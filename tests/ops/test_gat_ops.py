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
