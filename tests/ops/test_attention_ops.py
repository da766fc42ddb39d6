"""fastgnn.ops attention edge ops (sddmm, edge_softmax, multi-head aggregate) against the NumPy reference."""
import gc
import tracemalloc

import numpy as np
import pytest

import fastgnn
from fastgnn import ops
from fastgnn.ops import reference as R
from fastgnn.testing import check_grad
from graph_cases import (CASES, assert_close, assert_unchanged, csr_from_edges, parallel_always, snapshot,
                         strided)

# (heads, features per head); features None means 2-D inputs (N, H)
SHAPES = [(1, None), (3, None), (1, 1), (3, 1), (1, 5), (3, 5), (1, 16), (3, 16)]
CASE_SHAPES = [(3, None), (1, 5), (3, 16)]  # over every edge case, dtype and index dtype


def _nodes(rng, num_rows, heads, features, dtype):
    shape = (num_rows, heads) if features is None else (num_rows, heads, features)
    return rng.standard_normal(shape).astype(dtype)


def _edges(rng, num_edges, heads, dtype):
    return rng.standard_normal((num_edges, heads)).astype(dtype)


def _shape_id(shape):
    heads, features = shape
    return f"H{heads}" + ("-2d" if features is None else f"-F{features}")


# ---------------------------------------------------------------------------
# sddmm


def _check_sddmm(case, graph, heads, features, dtype, rng):
    a = _nodes(rng, case.num_dst_nodes, heads, features, dtype)
    b = _nodes(rng, case.num_src_nodes, heads, features, dtype)
    g = _edges(rng, case.num_edges, heads, dtype)
    ops_to_check = ["dot", "add"] if (features or 1) == 1 else ["dot"]
    for op in ops_to_check:
        copies = snapshot(a, b, g)
        out = ops.sddmm(graph, a, b, op)
        assert out.shape == (case.num_edges, heads) and out.dtype == dtype
        assert_close(out, R.sddmm(case.indptr, case.indices, a, b, op))
        grad_a, grad_b = ops.sddmm_backward(graph, g, a, b, op)
        ref_a, ref_b = R.sddmm_backward(case.indptr, case.indices, g, a, b, op)
        assert_close(grad_a, ref_a)
        assert_close(grad_b, ref_b)
        assert_unchanged([a, b, g], copies)


@pytest.mark.parametrize("shape", CASE_SHAPES, ids=_shape_id)
def test_sddmm_matches_reference(case, shape, float_dtype, index_dtype, rng):
    _check_sddmm(case, case.graph(index_dtype), *shape, float_dtype, rng)


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
def test_sddmm_every_shape(shape, float_dtype, index_dtype, rng):
    case = CASES["random"]
    _check_sddmm(case, case.graph(index_dtype), *shape, float_dtype, rng)


def test_sddmm_matches_gathered_einsum(rng):
    """Independently of the reference: the dot of gathered rows, per head."""
    case = CASES["duplicate_edges"]
    a = rng.standard_normal((case.num_dst_nodes, 2, 7))
    b = rng.standard_normal((case.num_src_nodes, 2, 7))
    expected = np.einsum("ehf,ehf->eh", a[case.destinations()], b[case.indices])
    assert_close(ops.sddmm(case.graph(), a, b), expected)
    a2, b2 = a[:, :, 0], b[:, :, 0]
    assert_close(ops.sddmm(case.graph(), a2, b2, "add"), a2[case.destinations()] + b2[case.indices])


def test_sddmm_one_head_is_edge_dot(rng):
    case = CASES["self_loops"]
    graph = case.graph()
    a = rng.standard_normal((case.num_dst_nodes, 1, 6))
    b = rng.standard_normal((case.num_src_nodes, 1, 6))
    assert_close(ops.sddmm(graph, a, b)[:, 0], fastgnn.edge_dot(graph, a[:, 0], b[:, 0]))


def test_sddmm_out_buffer(rng):
    case = CASES["random"]
    a = rng.standard_normal((case.num_dst_nodes, 3, 4))
    b = rng.standard_normal((case.num_src_nodes, 3, 4))
    out = np.full((case.num_edges, 3), np.nan)
    assert ops.sddmm(case.graph(), a, b, out=out) is out
    assert_close(out, R.sddmm(case.indptr, case.indices, a, b))


def test_sddmm_backward_takes_one_dimensional_grad_for_one_head(rng):
    case = CASES["random"]
    a = rng.standard_normal((case.num_dst_nodes, 1, 4))
    b = rng.standard_normal((case.num_src_nodes, 1, 4))
    g = rng.standard_normal(case.num_edges)
    grad_a, grad_b = ops.sddmm_backward(case.graph(), g, a, b)
    ref_a, ref_b = R.sddmm_backward(case.indptr, case.indices, g, a, b)
    assert_close(grad_a, ref_a)
    assert_close(grad_b, ref_b)


# ---------------------------------------------------------------------------
# edge softmax


@pytest.mark.parametrize("heads", [1, 3, 20])
def test_edge_softmax_matches_reference(case, heads, float_dtype, index_dtype, rng):
    graph = case.graph(index_dtype)
    s = (3 * _edges(rng, case.num_edges, heads, float_dtype)).astype(float_dtype)
    g = _edges(rng, case.num_edges, heads, float_dtype)
    copies = snapshot(s, g)
    alpha = ops.edge_softmax(graph, s)
    assert alpha.shape == s.shape and alpha.dtype == float_dtype
    assert_close(alpha, R.edge_softmax(case.indptr, s))
    grad = ops.edge_softmax_backward(graph, g, alpha)
    assert_close(grad, R.edge_softmax_backward(case.indptr, g, alpha))
    assert_unchanged([s, g], copies)
    # every non-empty row-head sums to 1
    sums = np.zeros((case.num_dst_nodes, heads))
    np.add.at(sums, case.destinations(), alpha.astype(np.float64))
    nonempty = np.diff(case.indptr) > 0
    np.testing.assert_allclose(sums[nonempty], 1.0, rtol=1e-5)


def test_edge_softmax_one_dimensional_scores(float_dtype, rng):
    case = CASES["isolated_nodes"]
    s = rng.standard_normal(case.num_edges).astype(float_dtype)
    alpha = ops.edge_softmax(case.graph(), s)
    assert alpha.shape == (case.num_edges,)
    assert_close(alpha, R.edge_softmax(case.indptr, s))
    g = rng.standard_normal(case.num_edges).astype(float_dtype)
    grad = ops.edge_softmax_backward(case.graph(), g, alpha)
    assert grad.shape == (case.num_edges,)
    assert_close(grad, R.edge_softmax_backward(case.indptr, g, alpha))


def test_edge_softmax_special_rows(float_dtype):
    """Empty rows, one-edge rows, NaN rows, all -inf rows, per head."""
    # rows: 0 empty, 1 one edge, 2 three edges with a NaN in head 0, 3 two edges all -inf in head 1, 4 empty
    indptr = np.array([0, 0, 1, 4, 6, 6])
    indices = np.array([0, 1, 2, 3, 0, 1])
    graph = fastgnn.Graph.from_csr(indptr, indices, num_src_nodes=4)
    inf = np.inf
    s = np.array([[5.0, -3.0],
                  [np.nan, 1.0], [2.0, 2.0], [0.0, 1.0],
                  [1.0, -inf], [-inf, -inf]], dtype=float_dtype)
    alpha = ops.edge_softmax(graph, s)
    assert_close(alpha, R.edge_softmax(indptr, s))
    assert alpha[0, 0] == 1 and alpha[0, 1] == 1  # a row of one edge gives 1
    assert np.isnan(alpha[1:4, 0]).all()  # a NaN makes its row-head all NaN
    e = np.exp(np.array([1.0, 2.0, 1.0]) - 2.0)
    np.testing.assert_allclose(alpha[1:4, 1], e / e.sum(), rtol=1e-6)
    np.testing.assert_array_equal(alpha[4:6, 0], [1.0, 0.0])  # exp(-inf) = 0
    np.testing.assert_array_equal(alpha[4:6, 1], [0.0, 0.0])  # all -inf gives 0
    # out= untouched where there is nothing (no edges): every edge is written once
    out = np.full_like(s, 7.0)
    assert ops.edge_softmax(graph, s, out=out) is out
    np.testing.assert_array_equal(out, alpha)


def test_edge_softmax_is_shift_invariant_and_handles_large_scores(rng):
    case = CASES["random"]
    s = rng.standard_normal((case.num_edges, 2))
    alpha = ops.edge_softmax(case.graph(), s)
    assert_close(ops.edge_softmax(case.graph(), s + 1000.0), alpha)
    assert np.isfinite(ops.edge_softmax(case.graph(), s * 1e4)).all()


# ---------------------------------------------------------------------------
# multi-head weighted aggregation


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("shape", [(1, 5), (3, 1), (3, 16)], ids=_shape_id)
def test_multi_head_aggregate_matches_reference(case, reduce, shape, float_dtype, index_dtype, rng):
    heads, features = shape
    graph = case.graph(index_dtype)
    x = _nodes(rng, case.num_src_nodes, heads, features, float_dtype)
    w = _edges(rng, case.num_edges, heads, float_dtype)
    g = _nodes(rng, case.num_dst_nodes, heads, features, float_dtype)
    copies = snapshot(x, w, g)
    out = ops.aggregate(graph, x, reduce, edge_weight=w)
    assert out.shape == (case.num_dst_nodes, heads, features) and out.dtype == float_dtype
    assert_close(out, R.multi_head_aggregate(case.indptr, case.indices, x, reduce, w))
    grad_x, grad_w = ops.aggregate_backward(graph, g, reduce, x=x, edge_weight=w, need_weight_grad=True)
    ref_x, ref_w = R.multi_head_aggregate_backward(case.indptr, case.indices, case.num_src_nodes, g, reduce,
                                                   x=x, edge_weight=w)
    assert grad_x.shape == x.shape and grad_w.shape == w.shape
    assert_close(grad_x, ref_x)
    assert_close(grad_w, ref_w)
    alone = ops.aggregate_backward(graph, g, reduce, edge_weight=w)
    np.testing.assert_array_equal(alone, grad_x, strict=True)
    assert_unchanged([x, w, g], copies)


def test_multi_head_aggregate_weight_gradient_is_sddmm(rng):
    """``dL/dw[e, h] = <G[i, h], x[j, h]>``: the sddmm dot of grad_out and x."""
    case = CASES["self_loops"]
    graph = case.graph()
    x = rng.standard_normal((case.num_src_nodes, 4, 3))
    w = rng.standard_normal((case.num_edges, 4))
    g = rng.standard_normal((case.num_dst_nodes, 4, 3))
    _, grad_w = ops.aggregate_backward(graph, g, "sum", x=x, edge_weight=w, need_weight_grad=True)
    assert_close(grad_w, ops.sddmm(graph, g, x))


def test_multi_head_aggregate_one_head_equals_plain_weights(rng):
    case = CASES["random"]
    graph = case.graph()
    x = rng.standard_normal((case.num_src_nodes, 1, 9))
    w = rng.standard_normal((case.num_edges, 1))
    out = ops.aggregate(graph, x, "mean", edge_weight=w)
    np.testing.assert_array_equal(out[:, 0], ops.aggregate(graph, x[:, 0], "mean", edge_weight=w[:, 0]))


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("weights", ["none", "one_per_edge", "graph"])
def test_three_dimensional_x_without_head_weights_is_flat(reduce, weights, float_dtype, rng):
    """3-D x with no weights or 1-D weights is aggregated as (N, H * F): every reduce works."""
    case = CASES["duplicate_edges"]
    w = rng.uniform(0.5, 2, case.num_edges)
    graph = case.graph(edge_weight=w if weights == "graph" else None)
    weight_arg = w if weights == "one_per_edge" else None
    x = rng.standard_normal((case.num_src_nodes, 2, 3)).astype(float_dtype)
    g = rng.standard_normal((case.num_dst_nodes, 2, 3)).astype(float_dtype)
    out, arg = ops.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
    flat, flat_arg = ops.aggregate(graph, x.reshape(-1, 6), reduce, edge_weight=weight_arg, return_arg=True)
    np.testing.assert_array_equal(out, flat.reshape(-1, 2, 3), strict=True)
    assert (arg is None) == (flat_arg is None)
    if arg is not None:
        np.testing.assert_array_equal(arg, flat_arg.reshape(-1, 2, 3))
    grad_x, grad_w = ops.aggregate_backward(graph, g, reduce, x=x, edge_weight=weight_arg, arg=arg,
                                            need_weight_grad=True)
    flat_x, flat_w = ops.aggregate_backward(graph, g.reshape(-1, 6), reduce, x=x.reshape(-1, 6),
                                            edge_weight=weight_arg, arg=flat_arg, need_weight_grad=True)
    np.testing.assert_array_equal(grad_x, flat_x.reshape(-1, 2, 3), strict=True)
    np.testing.assert_array_equal(grad_w, flat_w, strict=True)


def test_multi_head_aggregate_out_buffer(rng):
    case = CASES["random"]
    graph = case.graph()
    x = rng.standard_normal((case.num_src_nodes, 3, 4))
    w = rng.standard_normal((case.num_edges, 3))
    out = np.full((case.num_dst_nodes, 3, 4), np.nan)
    assert ops.aggregate(graph, x, "sum", edge_weight=w, out=out) is out
    assert_close(out, R.multi_head_aggregate(case.indptr, case.indices, x, "sum", w))


# ---------------------------------------------------------------------------
# layouts, threads, memory


def test_non_contiguous_and_read_only_inputs(float_dtype, index_dtype, rng):
    case = CASES["random"]
    graph = case.graph(index_dtype)
    a = _nodes(rng, case.num_dst_nodes, 3, 5, float_dtype)
    b = _nodes(rng, case.num_src_nodes, 3, 5, float_dtype)
    s = _edges(rng, case.num_edges, 3, float_dtype)
    x = _nodes(rng, case.num_src_nodes, 3, 5, float_dtype)
    g = _nodes(rng, case.num_dst_nodes, 3, 5, float_dtype)
    views = [strided(a), strided(b), strided(s), np.asfortranarray(x), strided(g)]
    views[3].flags.writeable = False
    copies = snapshot(*views)
    assert_close(ops.sddmm(graph, views[0], views[1]), R.sddmm(case.indptr, case.indices, a, b))
    ref_a, ref_b = R.sddmm_backward(case.indptr, case.indices, s, a, b)
    grad_a, grad_b = ops.sddmm_backward(graph, views[2], views[0], views[1])
    assert_close(grad_a, ref_a)
    assert_close(grad_b, ref_b)
    alpha = ops.edge_softmax(graph, views[2])
    assert_close(alpha, R.edge_softmax(case.indptr, s))
    assert_close(ops.edge_softmax_backward(graph, views[2], strided(alpha)),
                 R.edge_softmax_backward(case.indptr, s, alpha))
    assert_close(ops.aggregate(graph, views[3], "sum", edge_weight=views[2]),
                 R.multi_head_aggregate(case.indptr, case.indices, x, "sum", s))
    grad_x, grad_w = ops.aggregate_backward(graph, views[4], "mean", x=views[3], edge_weight=views[2],
                                            need_weight_grad=True)
    ref_x, ref_w = R.multi_head_aggregate_backward(case.indptr, case.indices, case.num_src_nodes, g, "mean",
                                                   x=x, edge_weight=s)
    assert_close(grad_x, ref_x)
    assert_close(grad_w, ref_w)
    assert_unchanged(views, copies)


def _threads_graph():
    """A power-law-ish graph with empty rows, big enough for every thread to get rows."""
    rng = np.random.default_rng(7)
    num_nodes, num_edges = 300, 4000
    dst = np.minimum((rng.pareto(1.5, num_edges) * 10).astype(np.int64), num_nodes - 1)
    src = rng.integers(0, num_nodes, num_edges)
    return csr_from_edges("threads", src, dst, num_nodes, num_nodes)


@pytest.mark.parametrize("features", [None, 5, 16])
def test_bitwise_identical_for_any_thread_count(features, float_dtype, index_dtype):
    case = _threads_graph()
    graph = case.graph(index_dtype)
    rng = np.random.default_rng(3)
    heads = 3
    a = _nodes(rng, case.num_dst_nodes, heads, features, float_dtype)
    b = _nodes(rng, case.num_src_nodes, heads, features, float_dtype)
    s = _edges(rng, case.num_edges, heads, float_dtype)
    x = _nodes(rng, case.num_src_nodes, heads, features or 1, float_dtype)
    g = _nodes(rng, case.num_dst_nodes, heads, features or 1, float_dtype)

    def run(threads):
        results = [ops.sddmm(graph, a, b, n_threads=threads)]
        results += ops.sddmm_backward(graph, s, a, b, n_threads=threads)
        if features is None:
            results.append(ops.sddmm(graph, a, b, "add", n_threads=threads))
            results += ops.sddmm_backward(graph, s, a, b, "add", n_threads=threads)
        alpha = ops.edge_softmax(graph, s, n_threads=threads)
        results += [alpha, ops.edge_softmax_backward(graph, s, alpha, n_threads=threads)]
        for reduce in ("sum", "mean"):
            results.append(ops.aggregate(graph, x, reduce, edge_weight=alpha, n_threads=threads))
            results += ops.aggregate_backward(graph, g, reduce, x=x, edge_weight=alpha, need_weight_grad=True,
                                              n_threads=threads)
        return results

    with parallel_always():
        serial = run(1)
        for threads in (2, 3):
            for got, expected in zip(run(threads), serial):
                np.testing.assert_array_equal(got, expected, strict=True)


def _peak_of(function):
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_no_edges_by_features_allocation():
    """E * H * F messages (40 MB here) are never built: the peak stays a few node- and edge-sized arrays."""
    rng = np.random.default_rng(2)
    num_nodes, num_edges, heads, features = 1000, 100_000, 4, 25
    edge_index = np.stack([rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)])
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=num_nodes)
    graph.transpose_csr()
    graph.inverse_in_degree(np.float32)
    x = rng.standard_normal((num_nodes, heads, features)).astype(np.float32)
    s = rng.standard_normal((num_edges, heads)).astype(np.float32)
    messages = num_edges * heads * features * 4
    budget = 6 * x.nbytes + 4 * s.nbytes
    assert budget < messages // 4
    calls = [
        lambda: ops.sddmm(graph, x, x),
        lambda: ops.sddmm_backward(graph, s, x, x),
        lambda: ops.edge_softmax_backward(graph, s, ops.edge_softmax(graph, s)),
        lambda: ops.aggregate(graph, x, "mean", edge_weight=s),
        lambda: ops.aggregate_backward(graph, x, "mean", x=x, edge_weight=s, need_weight_grad=True),
    ]
    for call in calls:
        call()  # warm-up: lazy imports, caches
        assert _peak_of(call) < budget


# ---------------------------------------------------------------------------
# gradients by finite differences (float64)


@pytest.mark.parametrize("case_name", ["random", "duplicate_edges", "bipartite_more_destinations"])
@pytest.mark.parametrize("shape", [(2, None), (3, 4)], ids=_shape_id)
def test_sddmm_gradients_by_finite_differences(case_name, shape, rng):
    case = CASES[case_name]
    graph = case.graph()
    heads, features = shape
    a = _nodes(rng, case.num_dst_nodes, heads, features, np.float64)
    b = _nodes(rng, case.num_src_nodes, heads, features, np.float64)
    projection = rng.standard_normal((case.num_edges, heads))
    for op in (["dot", "add"] if features is None else ["dot"]):
        def loss():
            return float(np.sum(ops.sddmm(graph, a, b, op) * projection))

        grad_a, grad_b = ops.sddmm_backward(graph, projection, a, b, op)
        check_grad(loss, [a, b], [grad_a, grad_b], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case_name", ["random", "self_loops", "isolated_nodes"])
def test_edge_softmax_gradient_by_finite_differences(case_name, rng):
    case = CASES[case_name]
    graph = case.graph()
    s = rng.standard_normal((case.num_edges, 3))
    projection = rng.standard_normal((case.num_edges, 3))

    def loss():
        return float(np.sum(ops.edge_softmax(graph, s) * projection))

    grad = ops.edge_softmax_backward(graph, projection, ops.edge_softmax(graph, s))
    check_grad(loss, [s], [grad], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("case_name", ["random", "duplicate_edges", "bipartite_more_sources"])
def test_multi_head_aggregate_gradients_by_finite_differences(reduce, case_name, rng):
    case = CASES[case_name]
    graph = case.graph()
    x = rng.standard_normal((case.num_src_nodes, 3, 4))
    w = rng.standard_normal((case.num_edges, 3))
    projection = rng.standard_normal((case.num_dst_nodes, 3, 4))

    def loss():
        return float(np.sum(ops.aggregate(graph, x, reduce, edge_weight=w) * projection))

    grad_x, grad_w = ops.aggregate_backward(graph, projection, reduce, x=x, edge_weight=w, need_weight_grad=True)
    check_grad(loss, [x, w], [grad_x, grad_w], rtol=1e-6, atol=1e-8)


def test_attention_layer_gradient_by_finite_differences(rng):
    """The composition a GAT layer makes: sddmm('add') -> edge_softmax -> multi-head aggregate."""
    case = CASES["self_loops"]
    graph = case.graph()
    x = rng.standard_normal((case.num_src_nodes, 2, 3))
    score_src = rng.standard_normal((case.num_src_nodes, 2))
    score_dst = rng.standard_normal((case.num_dst_nodes, 2))
    projection = rng.standard_normal((case.num_dst_nodes, 2, 3))

    def forward():
        alpha = ops.edge_softmax(graph, ops.sddmm(graph, score_dst, score_src, "add"))
        return alpha, ops.aggregate(graph, x, "sum", edge_weight=alpha)

    def loss():
        return float(np.sum(forward()[1] * projection))

    alpha, _ = forward()
    grad_x, grad_alpha = ops.aggregate_backward(graph, projection, "sum", x=x, edge_weight=alpha,
                                                need_weight_grad=True)
    grad_s = ops.edge_softmax_backward(graph, grad_alpha, alpha)
    grad_dst, grad_src = ops.sddmm_backward(graph, grad_s, score_dst, score_src, "add")
    check_grad(loss, [x, score_src, score_dst], [grad_x, grad_src, grad_dst], rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# bad input


def _bad_inputs():
    case = CASES["random"]
    rng = np.random.default_rng(0)
    graph = case.graph()
    a = rng.standard_normal((case.num_dst_nodes, 3, 4))
    b = rng.standard_normal((case.num_src_nodes, 3, 4))
    s = rng.standard_normal((case.num_edges, 3))
    return case, graph, a, b, s


@pytest.mark.parametrize("call, error, match", [
    (lambda c, g, a, b, s: ops.sddmm(g, a[:-1], b), ValueError, "a must have"),
    (lambda c, g, a, b, s: ops.sddmm(g, a, b[:, :2]), ValueError, "b has 2 heads but a has 3"),
    (lambda c, g, a, b, s: ops.sddmm(g, a, b[:, :, :2]), ValueError, "b has 2 features per head"),
    (lambda c, g, a, b, s: ops.sddmm(g, a, b[:, :, 0]), ValueError, "b has shape"),
    (lambda c, g, a, b, s: ops.sddmm(g, a, b.astype(np.float32)), TypeError, "b has dtype float32"),
    (lambda c, g, a, b, s: ops.sddmm(g, a.astype(int), b), TypeError, "a must have dtype"),
    (lambda c, g, a, b, s: ops.sddmm(g, a, b, "add"), ValueError, "op='add'"),
    (lambda c, g, a, b, s: ops.sddmm(g, a, b, "mul"), ValueError, "op must be"),
    (lambda c, g, a, b, s: ops.sddmm(g, a[:, 0, 0], b[:, 0, 0]), ValueError, "a must have shape"),
    (lambda c, g, a, b, s: ops.sddmm(g, a, b, out=np.empty((c.num_edges, 2))), ValueError, "out must have shape"),
    (lambda c, g, a, b, s: ops.sddmm("graph", a, b), TypeError, "graph must be"),
    (lambda c, g, a, b, s: ops.sddmm_backward(g, s[:, :2], a, b), ValueError, "grad_out has 2 heads"),
    (lambda c, g, a, b, s: ops.sddmm_backward(g, s[:-1], a, b), ValueError, "grad_out must have shape"),
    (lambda c, g, a, b, s: ops.sddmm_backward(g, s.astype(np.float32), a, b), TypeError, "grad_out has dtype"),
    (lambda c, g, a, b, s: ops.sddmm_backward(g, s, a, b, "add"), ValueError, "op='add'"),
    (lambda c, g, a, b, s: ops.edge_softmax(g, s[:-1]), ValueError, "scores must have shape"),
    (lambda c, g, a, b, s: ops.edge_softmax(g, s[:, :, None]), ValueError, "scores must have shape"),
    (lambda c, g, a, b, s: ops.edge_softmax(g, s.astype(int)), TypeError, "scores must have dtype"),
    (lambda c, g, a, b, s: ops.edge_softmax(g, s, out=np.empty((c.num_edges, 3), np.float32)), TypeError,
     "out must have dtype"),
    (lambda c, g, a, b, s: ops.edge_softmax(g, s, out=s), ValueError, "out must not share memory"),
    (lambda c, g, a, b, s: ops.edge_softmax_backward(g, s, s[:, :2]), ValueError, "attention has 2 heads"),
    (lambda c, g, a, b, s: ops.edge_softmax_backward(g, s, s.astype(np.float32)), TypeError,
     "attention has dtype"),
    (lambda c, g, a, b, s: ops.aggregate(g, b, "max", edge_weight=s), ValueError, "reduce='max'"),
    (lambda c, g, a, b, s: ops.aggregate(g, b, "min", edge_weight=s), ValueError, "reduce='min'"),
    (lambda c, g, a, b, s: ops.aggregate(g, b, "sum", edge_weight=s[:, :2]), ValueError,
     "edge_weight has 2 heads but x has 3"),
    (lambda c, g, a, b, s: ops.aggregate(g, b, "sum", edge_weight=s[:-1]), ValueError, "edge_weight must have"),
    (lambda c, g, a, b, s: ops.aggregate(g, b[:-1], "sum", edge_weight=s), ValueError, "x must have"),
    (lambda c, g, a, b, s: ops.aggregate(g, b.astype(int), "sum", edge_weight=s), TypeError, "x must have dtype"),
    (lambda c, g, a, b, s: ops.aggregate_backward(g, a, "max", x=b, edge_weight=s, need_weight_grad=True),
     ValueError, "reduce='max'"),
    (lambda c, g, a, b, s: ops.aggregate_backward(g, a, "sum", x=b[:, :2], edge_weight=s, need_weight_grad=True),
     ValueError, "x has 2 heads but grad_out has 3"),
    (lambda c, g, a, b, s: ops.aggregate_backward(g, a, "sum", x=b.astype(np.float32), edge_weight=s),
     TypeError, "x has dtype"),
    (lambda c, g, a, b, s: ops.aggregate_backward(g, a, "sum", edge_weight=s, need_weight_grad=True),
     ValueError, "x is required"),
    (lambda c, g, a, b, s: ops.aggregate_backward(g, a, "sum", x=b, edge_weight=s[:, :1]), ValueError,
     "edge_weight has 1 heads"),
])
def test_bad_input_raises_naming_the_argument(call, error, match):
    case, graph, a, b, s = _bad_inputs()
    copies = snapshot(a, b, s)
    with pytest.raises(error, match=match):
        call(case, graph, a, b, s)
    assert_unchanged([a, b, s], copies)
