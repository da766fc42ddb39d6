"""fastgnn.aggregate and fastgnn.aggregate_backward against the NumPy reference and independent checks."""
import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn
from fastgnn.ops import reference as R
from fastgnn.testing import check_grad
from graph_cases import (CASES, REDUCES, assert_close, assert_unchanged, csr_from_edges, make_features,
                         make_weights, snapshot, strided, weighted_graph)

WIDTH = 3


def _check_forward(out, arg, ref_out, ref_arg, reduce, graph):
    if reduce in ("max", "min"):
        # The winner is one message, computed as the kernel does: exact.
        np.testing.assert_array_equal(out, ref_out, strict=True)
        assert arg.dtype == graph.index_dtype
        np.testing.assert_array_equal(arg, ref_arg.astype(graph.index_dtype), strict=True)
    else:
        assert arg is None
        assert_close(out, ref_out)


@pytest.mark.parametrize("reduce", REDUCES)
def test_aggregate_matches_reference(case, reduce, float_dtype, index_dtype, weighting, rng):
    graph, weight_arg, weight = weighted_graph(case, weighting, index_dtype, rng)
    x = make_features(rng, case.num_src_nodes, WIDTH, float_dtype, case.ties)
    copies = snapshot(x, weight_arg)
    out, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
    assert_unchanged([x, weight_arg], copies)
    assert out.shape == (case.num_dst_nodes, WIDTH)
    ref_out, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce, weight)
    _check_forward(out, arg, ref_out, ref_arg, reduce, graph)


@pytest.mark.parametrize("reduce", REDUCES)
def test_aggregate_backward_matches_reference(case, reduce, float_dtype, index_dtype, weighting, rng):
    graph, weight_arg, weight = weighted_graph(case, weighting, index_dtype, rng)
    x = make_features(rng, case.num_src_nodes, WIDTH, float_dtype, case.ties)
    grad_out = make_features(rng, case.num_dst_nodes, WIDTH, float_dtype, case.ties)
    _, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
    copies = snapshot(x, weight_arg, grad_out, arg)
    grad_x, grad_w = fastgnn.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight_arg,
                                                arg=arg, need_weight_grad=True)
    assert_unchanged([x, weight_arg, grad_out, arg], copies)
    _, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce, weight)
    ref_grad_x, ref_grad_w = R.aggregate_backward(case.indptr, case.indices, case.num_src_nodes, grad_out,
                                                  reduce, x=x, edge_weight=weight, arg=ref_arg)
    assert_close(grad_x, ref_grad_x)
    assert_close(grad_w, ref_grad_w)
    # Without the weight gradient only grad_x comes back, and it is the same.
    alone = fastgnn.aggregate_backward(graph, grad_out, reduce, edge_weight=weight_arg, arg=arg)
    np.testing.assert_array_equal(alone, grad_x, strict=True)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("width", [1, 16, 37])
def test_aggregate_wide_and_narrow_features(reduce, width, float_dtype, rng):
    """Widths around the vector lengths of the runtime-dispatched inner loops."""
    case = CASES["random"]
    weight = make_weights(rng, case.num_edges)
    graph = case.graph()
    x = make_features(rng, case.num_src_nodes, width, float_dtype)
    grad_out = make_features(rng, case.num_dst_nodes, width, float_dtype)
    out, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True)
    ref_out, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce, weight)
    _check_forward(out, arg, ref_out, ref_arg, reduce, graph)
    grad_x, grad_w = fastgnn.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight, arg=arg,
                                                need_weight_grad=True)
    ref_grad_x, ref_grad_w = R.aggregate_backward(case.indptr, case.indices, case.num_src_nodes, grad_out,
                                                  reduce, x=x, edge_weight=weight, arg=ref_arg)
    assert_close(grad_x, ref_grad_x)
    assert_close(grad_w, ref_grad_w)


@pytest.mark.parametrize("reduce", REDUCES)
def test_one_dimensional_features(reduce, float_dtype, rng):
    case = CASES["duplicate_edges"]
    graph = case.graph()
    weight = make_weights(rng, case.num_edges)
    x = make_features(rng, case.num_src_nodes, 1, float_dtype)[:, 0]
    grad_out = make_features(rng, case.num_dst_nodes, 1, float_dtype)[:, 0]
    out, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True)
    assert out.shape == (case.num_dst_nodes,)
    ref_out, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce, weight)
    _check_forward(out, arg, ref_out, ref_arg, reduce, graph)
    # The 1-D result is the 2-D one with a single column.
    np.testing.assert_array_equal(out, fastgnn.aggregate(graph, x[:, None], reduce, edge_weight=weight)[:, 0])
    grad_x, grad_w = fastgnn.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight, arg=arg,
                                                need_weight_grad=True)
    assert grad_x.shape == (case.num_src_nodes,)
    ref_grad_x, ref_grad_w = R.aggregate_backward(case.indptr, case.indices, case.num_src_nodes, grad_out,
                                                  reduce, x=x, edge_weight=weight, arg=ref_arg)
    assert_close(grad_x, ref_grad_x)
    assert_close(grad_w, ref_grad_w)


@pytest.mark.parametrize("reduce", REDUCES)
def test_non_contiguous_and_read_only_inputs(reduce, float_dtype, index_dtype, rng):
    case = CASES["random"]
    graph = case.graph(index_dtype)
    weight = make_weights(rng, case.num_edges)
    x = make_features(rng, case.num_src_nodes, WIDTH, float_dtype)
    grad_out = make_features(rng, case.num_dst_nodes, WIDTH, float_dtype)
    ref_out, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce, weight)
    ref_grad_x, ref_grad_w = R.aggregate_backward(case.indptr, case.indices, case.num_src_nodes, grad_out,
                                                  reduce, x=x, edge_weight=weight, arg=ref_arg)
    views = {"x_strided": strided(x), "x_fortran": np.asfortranarray(x), "weight": strided(weight),
             "grad_out": strided(grad_out)}
    views["x_fortran"].flags.writeable = False
    copies = snapshot(*views.values())
    for x_view in (views["x_strided"], views["x_fortran"]):
        out, arg = fastgnn.aggregate(graph, x_view, reduce, edge_weight=views["weight"], return_arg=True)
        _check_forward(out, arg, ref_out, ref_arg, reduce, graph)
        arg_view = None if arg is None else strided(arg)
        grad_x, grad_w = fastgnn.aggregate_backward(graph, views["grad_out"], reduce, x=x_view,
                                                    edge_weight=views["weight"], arg=arg_view,
                                                    need_weight_grad=True)
        assert_close(grad_x, ref_grad_x)
        assert_close(grad_w, ref_grad_w)
    assert_unchanged(list(views.values()), copies)


def test_add_is_sum(rng):
    case = CASES["random"]
    x = make_features(rng, case.num_src_nodes, WIDTH, np.float64)
    graph = case.graph()
    np.testing.assert_array_equal(fastgnn.aggregate(graph, x, "add"), fastgnn.aggregate(graph, x, "sum"))
    np.testing.assert_array_equal(fastgnn.aggregate_backward(graph, x, "add"),
                                  fastgnn.aggregate_backward(graph, x, "sum"))


@pytest.mark.parametrize("weighted", [False, True])
def test_sum_and_mean_match_dense_matrix_product(weighted, rng):
    """Independently of the reference: sum is ``A @ X``, mean is ``D^-1 A @ X`` (D counts edges)."""
    case = CASES["duplicate_edges"]
    weight = make_weights(rng, case.num_edges) if weighted else None
    dense = case.dense(weight)
    degree = np.diff(case.indptr)
    x = make_features(rng, case.num_src_nodes, 4, np.float64)
    grad_out = make_features(rng, case.num_dst_nodes, 4, np.float64)
    graph = case.graph()
    assert_close(fastgnn.aggregate(graph, x, "sum", edge_weight=weight), dense @ x)
    mean = dense @ x / np.maximum(degree, 1)[:, None]
    assert_close(fastgnn.aggregate(graph, x, "mean", edge_weight=weight), mean)
    assert_close(fastgnn.aggregate_backward(graph, grad_out, "sum", edge_weight=weight), dense.T @ grad_out)
    assert_close(fastgnn.aggregate_backward(graph, grad_out, "mean", edge_weight=weight),
                 dense.T @ (grad_out / np.maximum(degree, 1)[:, None]))


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_ties_go_to_the_first_edge(reduce, index_dtype):
    """Equal messages everywhere: every non-empty row picks its first edge."""
    case = CASES["duplicate_edges"]
    x = np.full((case.num_src_nodes, 2), 1.5)
    out, arg = fastgnn.aggregate(case.graph(index_dtype), x, reduce, return_arg=True)
    starts, degree = case.indptr[:-1], np.diff(case.indptr)
    expected_arg = np.where(degree > 0, starts, -1)[:, None].repeat(2, axis=1)
    np.testing.assert_array_equal(arg, expected_arg)
    np.testing.assert_array_equal(out, np.where(degree > 0, 1.5, 0.0)[:, None].repeat(2, axis=1))


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_nan_message_wins_and_propagates(reduce, float_dtype, rng):
    case = CASES["random"]
    graph = case.graph()
    x = make_features(rng, case.num_src_nodes, 4, float_dtype)
    x[rng.choice(case.num_src_nodes, 6, replace=False), rng.integers(0, 4, 6)] = np.nan
    x[2, 1] = np.inf
    out, arg = fastgnn.aggregate(graph, x, reduce, return_arg=True)
    ref_out, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    # Independently: NaN exactly where some message of the row is NaN, and arg points at the first one.
    for i in range(case.num_dst_nodes):
        messages = x[case.indices[case.indptr[i]:case.indptr[i + 1]]]
        has_nan = np.isnan(messages).any(axis=0)
        np.testing.assert_array_equal(np.isnan(out[i]), has_nan)
        for k in np.flatnonzero(has_nan):
            assert arg[i, k] == case.indptr[i] + np.flatnonzero(np.isnan(messages[:, k]))[0]


@pytest.mark.parametrize("reduce", REDUCES)
def test_empty_rows_give_zero_and_no_gradient(reduce, float_dtype):
    case = CASES["isolated_nodes"]
    graph = case.graph()
    x = np.arange(1, 1 + case.num_src_nodes * 2, dtype=float_dtype).reshape(-1, 2)
    out, arg = fastgnn.aggregate(graph, x, reduce, return_arg=True)
    empty = np.diff(case.indptr) == 0
    assert empty.any()
    np.testing.assert_array_equal(out[empty], 0)
    if arg is not None:
        np.testing.assert_array_equal(arg[empty], -1)
        assert (arg[~empty] >= 0).all()
    # A gradient arriving only at empty rows reaches nothing.
    grad_out = np.where(empty[:, None], 1.0, 0.0).astype(float_dtype).repeat(2, axis=1)
    grad_x = fastgnn.aggregate_backward(graph, grad_out, reduce, arg=arg)
    np.testing.assert_array_equal(grad_x, 0)


@pytest.mark.parametrize("matrix_type", [sp.csr_matrix, sp.csr_array, sp.coo_matrix, sp.csc_matrix])
def test_scipy_matrix_accepted_as_graph(matrix_type, float_dtype, rng):
    dense = np.where(rng.random((7, 5)) < 0.4, rng.uniform(-1, 2, (7, 5)), 0.0)
    matrix = matrix_type(dense)
    x = make_features(rng, 5, 3, float_dtype)
    grad_out = make_features(rng, 7, 3, float_dtype)
    out = fastgnn.aggregate(matrix, x)
    assert out.dtype == float_dtype
    expected = (matrix @ x.astype(np.float64)).astype(float_dtype)
    assert_close(out, expected)
    assert_close(fastgnn.aggregate_backward(matrix, grad_out),
                 (matrix.T @ grad_out.astype(np.float64)).astype(float_dtype))


def test_scipy_coo_with_duplicates_sums_them(rng):
    src = np.array([0, 0, 1, 2, 2, 2])
    dst = np.array([1, 1, 0, 0, 0, 1])
    matrix = sp.coo_matrix((np.ones(6), (dst, src)), shape=(3, 3))
    x = make_features(rng, 3, 2, np.float64)
    assert_close(fastgnn.aggregate(matrix, x), matrix.toarray() @ x)


@pytest.mark.parametrize("reduce", REDUCES)
def test_graph_weights_equal_explicit_weights(reduce, rng):
    case = CASES["self_loops"]
    weight = make_weights(rng, case.num_edges)
    x = make_features(rng, case.num_src_nodes, WIDTH, np.float64)
    grad_out = make_features(rng, case.num_dst_nodes, WIDTH, np.float64)
    own = case.graph(edge_weight=weight)
    plain = case.graph()
    out_own, arg_own = fastgnn.aggregate(own, x, reduce, return_arg=True)
    out_plain, arg_plain = fastgnn.aggregate(plain, x, reduce, edge_weight=weight, return_arg=True)
    np.testing.assert_array_equal(out_own, out_plain)
    np.testing.assert_array_equal(arg_own, arg_plain)
    grads_own = fastgnn.aggregate_backward(own, grad_out, reduce, x=x, arg=arg_own, need_weight_grad=True)
    grads_plain = fastgnn.aggregate_backward(plain, grad_out, reduce, x=x, edge_weight=weight, arg=arg_plain,
                                             need_weight_grad=True)
    for a, b in zip(grads_own, grads_plain):
        np.testing.assert_array_equal(a, b)
    # An explicit argument overrides the graph's own weights.
    np.testing.assert_array_equal(fastgnn.aggregate(own, x, reduce, edge_weight=np.ones(case.num_edges)),
                                  fastgnn.aggregate(plain, x, reduce))


def test_float32_weights_with_float64_features_use_the_weights_exactly(rng):
    """Weights are cast to the feature dtype; float32 weights lose nothing in float64."""
    case = CASES["random"]
    weight = make_weights(rng, case.num_edges).astype(np.float32)
    x = make_features(rng, case.num_src_nodes, WIDTH, np.float64)
    out = fastgnn.aggregate(case.graph(edge_weight=weight), x)
    assert out.dtype == np.float64
    assert_close(out, case.dense(weight.astype(np.float64)) @ x)


def _without_duplicate_edges(case):
    """The case with only the first of each repeated ``(src, dst)`` pair (whose messages tie exactly)."""
    pairs = case.destinations() * max(case.num_src_nodes, 1) + case.indices
    keep = np.sort(np.unique(pairs, return_index=True)[1])
    return csr_from_edges(case.name, case.indices[keep], case.destinations()[keep], case.num_src_nodes,
                          case.num_dst_nodes)


def _separated_inputs(case, reduce, rng, weighted=True, width=3, gap=1e-4):
    """float64 ``(x, weight)`` whose winning max/min message beats the runner-up by ``gap``.

    Finite differences of max/min are only valid away from ties.
    """
    x = rng.standard_normal((case.num_src_nodes, width))
    weight = rng.uniform(0.5, 1.5, case.num_edges) * rng.choice([-1.0, 1.0], case.num_edges)
    used = weight if weighted else np.ones(case.num_edges)
    if reduce in ("max", "min"):
        for i in range(case.num_dst_nodes):
            e0, e1 = case.indptr[i], case.indptr[i + 1]
            if e1 - e0 > 1:
                messages = np.sort(used[e0:e1, None] * x[case.indices[e0:e1]], axis=0)
                margin = messages[-1] - messages[-2] if reduce == "max" else messages[1] - messages[0]
                assert margin.min() > gap, "this seed gives a near-tie; change the test"
    return x, (weight if weighted else None)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("case_name", ["random", "self_loops", "bipartite_more_sources", "isolated_nodes",
                                       "duplicate_edges"])
def test_aggregate_gradients_by_finite_differences(reduce, case_name, rng):
    case = CASES[case_name]
    if reduce in ("max", "min"):
        case = _without_duplicate_edges(case)
    graph = case.graph()
    x, weight = _separated_inputs(case, reduce, rng)
    projection = rng.standard_normal((case.num_dst_nodes, x.shape[1]))

    def loss():
        return float(np.sum(fastgnn.aggregate(graph, x, reduce, edge_weight=weight) * projection))

    _, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True)
    grad_x, grad_w = fastgnn.aggregate_backward(graph, projection, reduce, x=x, edge_weight=weight, arg=arg,
                                                need_weight_grad=True)
    check_grad(loss, [x, weight], [grad_x, grad_w], rtol=1e-6, atol=1e-8)


def test_unweighted_gradients_by_finite_differences(rng):
    case = _without_duplicate_edges(CASES["random"])
    graph = case.graph()
    for reduce in REDUCES:
        x, _ = _separated_inputs(case, reduce, rng, weighted=False)
        projection = rng.standard_normal((case.num_dst_nodes, x.shape[1]))

        def loss():
            return float(np.sum(fastgnn.aggregate(graph, x, reduce) * projection))

        _, arg = fastgnn.aggregate(graph, x, reduce, return_arg=True)
        grad_x = fastgnn.aggregate_backward(graph, projection, reduce, arg=arg)
        check_grad(loss, [x], [grad_x], rtol=1e-6, atol=1e-8)
