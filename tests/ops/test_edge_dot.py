"""fastgnn.edge_dot and its backward against the NumPy reference and independent checks."""
import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn
from fastgnn.ops import reference as R
from fastgnn.testing import check_grad
from graph_cases import CASES, assert_close, assert_unchanged, make_features, make_weights, snapshot, strided


@pytest.mark.parametrize("width", [3, 19])
def test_edge_dot_matches_reference(case, width, float_dtype, index_dtype, rng):
    graph = case.graph(index_dtype)
    a = make_features(rng, case.num_dst_nodes, width, float_dtype, case.ties)
    b = make_features(rng, case.num_src_nodes, width, float_dtype, case.ties)
    copies = snapshot(a, b)
    out = fastgnn.edge_dot(graph, a, b)
    assert_unchanged([a, b], copies)
    assert out.shape == (case.num_edges,)
    assert_close(out, R.edge_dot(case.indptr, case.indices, a, b))


@pytest.mark.parametrize("width", [3, 19])
def test_edge_dot_backward_matches_reference(case, width, float_dtype, index_dtype, rng):
    graph = case.graph(index_dtype)
    a = make_features(rng, case.num_dst_nodes, width, float_dtype, case.ties)
    b = make_features(rng, case.num_src_nodes, width, float_dtype, case.ties)
    grad_out = make_features(rng, case.num_edges, 1, float_dtype)[:, 0]
    copies = snapshot(a, b, grad_out)
    grad_a, grad_b = fastgnn.edge_dot_backward(graph, grad_out, a, b)
    assert_unchanged([a, b, grad_out], copies)
    ref_a, ref_b = R.edge_dot_backward(case.indptr, case.indices, grad_out, a, b)
    assert_close(grad_a, ref_a)
    assert_close(grad_b, ref_b)


def test_edge_dot_matches_gathered_einsum(float_dtype, rng):
    """Independently of the reference: ``sum_k a[dst, k] * b[src, k]`` on gathered rows."""
    case = CASES["duplicate_edges"]
    a = make_features(rng, case.num_dst_nodes, 5, float_dtype)
    b = make_features(rng, case.num_src_nodes, 5, float_dtype)
    expected = np.einsum("ek,ek->e", a[case.destinations()].astype(np.float64),
                         b[case.indices].astype(np.float64))
    assert_close(fastgnn.edge_dot(case.graph(), a, b), expected.astype(float_dtype))


def test_edge_dot_backward_matches_dense_products(rng):
    """``grad_a = G_mat @ b`` and ``grad_b = G_mat.T @ a`` with ``G_mat[i, j]`` summing g over edges j -> i."""
    case = CASES["random"]
    a = make_features(rng, case.num_dst_nodes, 4, np.float64)
    b = make_features(rng, case.num_src_nodes, 4, np.float64)
    g = rng.standard_normal(case.num_edges)
    g_mat = case.dense(g)
    grad_a, grad_b = fastgnn.edge_dot_backward(case.graph(), g, a, b)
    assert_close(grad_a, g_mat @ b)
    assert_close(grad_b, g_mat.T @ a)


def test_edge_dot_is_the_edge_weight_gradient_of_sum(rng):
    """``dL/dw_e = <G[dst], x[src]>``: edge_dot(G, x) equals aggregate_backward's weight gradient."""
    case = CASES["self_loops"]
    graph = case.graph()
    x = make_features(rng, case.num_src_nodes, 6, np.float64)
    grad_out = make_features(rng, case.num_dst_nodes, 6, np.float64)
    weight = make_weights(rng, case.num_edges)
    _, grad_w = fastgnn.aggregate_backward(graph, grad_out, "sum", x=x, edge_weight=weight,
                                           need_weight_grad=True)
    assert_close(fastgnn.edge_dot(graph, grad_out, x), grad_w)


def test_one_dimensional_features(float_dtype, rng):
    case = CASES["bipartite_more_sources"]
    graph = case.graph()
    a = make_features(rng, case.num_dst_nodes, 1, float_dtype)[:, 0]
    b = make_features(rng, case.num_src_nodes, 1, float_dtype)[:, 0]
    g = make_features(rng, case.num_edges, 1, float_dtype)[:, 0]
    assert_close(fastgnn.edge_dot(graph, a, b), R.edge_dot(case.indptr, case.indices, a, b))
    grad_a, grad_b = fastgnn.edge_dot_backward(graph, g, a, b)
    assert grad_a.shape == a.shape and grad_b.shape == b.shape
    ref_a, ref_b = R.edge_dot_backward(case.indptr, case.indices, g, a, b)
    assert_close(grad_a, ref_a)
    assert_close(grad_b, ref_b)


def test_non_contiguous_and_read_only_inputs(float_dtype, index_dtype, rng):
    case = CASES["random"]
    graph = case.graph(index_dtype)
    a = make_features(rng, case.num_dst_nodes, 4, float_dtype)
    b = make_features(rng, case.num_src_nodes, 4, float_dtype)
    g = make_features(rng, case.num_edges, 1, float_dtype)[:, 0]
    views = [strided(a), np.asfortranarray(b), strided(g)]
    views[1].flags.writeable = False
    copies = snapshot(*views)
    assert_close(fastgnn.edge_dot(graph, views[0], views[1]), R.edge_dot(case.indptr, case.indices, a, b))
    grad_a, grad_b = fastgnn.edge_dot_backward(graph, views[2], views[0], views[1])
    ref_a, ref_b = R.edge_dot_backward(case.indptr, case.indices, g, a, b)
    assert_close(grad_a, ref_a)
    assert_close(grad_b, ref_b)
    assert_unchanged(views, copies)


def test_scipy_matrix_accepted_as_graph(rng):
    matrix = sp.random(6, 4, density=0.5, random_state=3, format="csr")
    a = make_features(rng, 6, 3, np.float64)
    b = make_features(rng, 4, 3, np.float64)
    coo = matrix.tocoo()
    # Edge order is the CSR order of the matrix, row by row (and coo of a csr keeps it).
    expected = np.einsum("ek,ek->e", a[coo.row], b[coo.col])
    assert_close(fastgnn.edge_dot(matrix, a, b), expected)


@pytest.mark.parametrize("case_name", ["random", "duplicate_edges", "bipartite_more_destinations"])
def test_edge_dot_gradients_by_finite_differences(case_name, rng):
    case = CASES[case_name]
    graph = case.graph()
    a = rng.standard_normal((case.num_dst_nodes, 4))
    b = rng.standard_normal((case.num_src_nodes, 4))
    projection = rng.standard_normal(case.num_edges)

    def loss():
        return float(np.dot(fastgnn.edge_dot(graph, a, b), projection))

    grad_a, grad_b = fastgnn.edge_dot_backward(graph, projection, a, b)
    check_grad(loss, [a, b], [grad_a, grad_b], rtol=1e-6, atol=1e-8)
