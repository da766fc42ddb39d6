"""The max/min backward: every path gives the bits of the definition, for any thread count.

``grad_x[j, k]`` sums ``w_e * G[i, k]`` over the edges ``e = (j -> i)`` that won
``(i, k)`` (``arg[i, k] == e``), in increasing edge id. The test computes that
sum term by term in the feature dtype (:func:`_in_edge_order`), and checks
bitwise against it: ``aggregate_backward`` on 1, 2 and 3 threads, the routing
kernel with each way of splitting ``grad_x`` between threads, and the two
earlier kernels (the scatter over every edge and the gather over the
transpose). The float64 NumPy reference is checked too, to a tolerance.
"""

import numpy as np
import pytest

import fastgnn
from fastgnn._kernels import aggregate as _K
from fastgnn.ops import reference as R
from graph_cases import (CASES, CsrCase, assert_close, assert_unchanged, make_features, parallel_always, snapshot,
                         weighted_graph)

WIDTHS = [1, 5, 16, 17, 64, 100]
THREADS = [1, 2, 3]


def _larger_case():
    """300 nodes with power-law in-degrees (many empty rows) and uniform sources: enough rows to split."""
    rng = np.random.default_rng(7)
    degree = np.minimum(rng.zipf(1.8, 300) - 1, 60)
    indptr = np.zeros(301, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    return CsrCase("larger_power_law", indptr, rng.integers(0, 300, int(indptr[-1])), 300)


ALL_CASES = dict(CASES, larger_power_law=_larger_case())


@pytest.fixture(params=sorted(ALL_CASES))
def any_case(request):
    return ALL_CASES[request.param]



def _in_edge_order(case, arg, grad_out, weight, dtype):
    """The definition, term by term in ``dtype``: rows in order, so every element's edges increase."""
    grad = np.zeros((case.num_src_nodes, grad_out.shape[1]), dtype=dtype)
    coef = None if weight is None else np.asarray(weight).astype(dtype)
    for i in range(case.num_dst_nodes):
        k = np.flatnonzero(arg[i] >= 0)
        e = arg[i, k].astype(np.int64)
        terms = grad_out[i, k] if coef is None else coef[e] * grad_out[i, k]
        grad[case.indices[e], k] += terms  # one row's (j, k) pairs are distinct: no repeated index
    return grad


def _bitwise(actual, expected, label):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, label
    assert actual.tobytes() == expected.tobytes(), label


def _kernel_results(graph, grad_out, arg, weight_kernel, weight_t, n_threads):
    """``{name: grad_x}`` of every kernel path on ``n_threads``."""
    results = {}
    shape = (graph.num_src_nodes, grad_out.shape[1])
    for split in ("auto", "columns", "rows"):
        grad_x = np.full(shape, np.nan, dtype=grad_out.dtype)  # every element must be written
        invalid = _K.extremum_backward_route(grad_x, grad_out, arg, graph.indptr, graph.indices, n_threads,
                                             weight=weight_kernel, split=split)
        assert invalid == 0
        results[f"route/{split}"] = grad_x
    grad_x = np.full(shape, np.nan, dtype=grad_out.dtype)
    assert _K.extremum_backward_scatter(grad_x, grad_out, arg, graph.indptr, graph.indices, n_threads,
                                        weight=weight_kernel) == 0
    results["scatter"] = grad_x
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    grad_x = np.full(shape, np.nan, dtype=grad_out.dtype)
    assert _K.extremum_backward_gather(grad_x, grad_out, arg, graph.indptr, t_indptr, t_indices, edge_id,
                                       n_threads, weight_t=weight_t) == 0
    results["gather"] = grad_x
    return results


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_path_gives_the_bits_of_the_definition(any_case, reduce, width, float_dtype, index_dtype,
                                                      weighting, rng):
    case = any_case
    graph, weight_arg, weight = weighted_graph(case, weighting, index_dtype, rng)
    x = make_features(rng, case.num_src_nodes, width, float_dtype, case.ties)
    grad_out = make_features(rng, case.num_dst_nodes, width, float_dtype, case.ties)
    _, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
    expected = _in_edge_order(case, arg, grad_out, weight, float_dtype)
    copies = snapshot(grad_out, arg, weight_arg)
    with parallel_always():
        for n_threads in THREADS:
            grad_x = fastgnn.aggregate_backward(graph, grad_out, reduce, edge_weight=weight_arg, arg=arg,
                                                n_threads=n_threads)
            _bitwise(grad_x, expected, f"aggregate_backward on {n_threads} threads")
    weight_kernel = None if weight is None else np.asarray(weight).astype(float_dtype)
    weight_t = None
    if weight_kernel is not None:
        weight_t = np.ascontiguousarray(weight_kernel[graph.transpose_csr()[2]])
    for n_threads in THREADS:
        for name, result in _kernel_results(graph, grad_out, arg, weight_kernel, weight_t, n_threads).items():
            _bitwise(result, expected, f"{name} on {n_threads} threads")
    assert_unchanged([grad_out, arg, weight_arg], copies)
    ref_x, _ = R.aggregate_backward(case.indptr, case.indices, case.num_src_nodes, grad_out, reduce,
                                    edge_weight=weight, arg=arg)
    assert_close(expected, ref_x)


def test_terms_add_in_increasing_edge_id():
    """Three rows send to node 0; float32 sums that depend on the order tell the orders apart."""
    case = CsrCase("order", np.array([0, 1, 2, 3]), np.array([0, 0, 0]), 1)
    graph = case.graph(np.int32)
    grad_out = np.array([[1e8], [1.0], [-1e8]], dtype=np.float32)
    arg = np.array([[0], [1], [2]], dtype=np.int32)
    expected = np.float32(np.float32(np.float32(1e8) + np.float32(1.0)) + np.float32(-1e8))
    for n_threads in THREADS:
        grad_x = fastgnn.aggregate_backward(graph, grad_out, "max", arg=arg, n_threads=n_threads)
        assert grad_x.tobytes() == np.array([[expected]], dtype=np.float32).tobytes()


@pytest.mark.parametrize("split", ["auto", "columns", "rows"])
@pytest.mark.parametrize("width", [1, 16, 64])
def test_invalid_arg_entries_are_counted_never_followed(split, width, index_dtype):
    """Entries outside their row, -1 in a non-empty row, anything but -1 in an empty row: all counted."""
    case = ALL_CASES["larger_power_law"]
    graph = case.graph(index_dtype)
    rng = np.random.default_rng(width)
    x = rng.standard_normal((case.num_src_nodes, width)).astype(np.float32)
    grad_out = rng.standard_normal((case.num_dst_nodes, width)).astype(np.float32)
    _, arg = fastgnn.aggregate(graph, x, "max", return_arg=True)
    degree = np.diff(case.indptr)
    full, empty = np.flatnonzero(degree > 0), np.flatnonzero(degree == 0)
    bad = arg.copy()
    bad[full[0], 0] = case.indptr[full[0] + 1]             # the next row's first edge
    bad[full[1], width - 1] = -1                            # no winner in a non-empty row
    bad[empty[0], 0] = 0                                    # a winner in an empty row
    bad[full[2], 0] = np.iinfo(index_dtype).max             # far out of range
    bad[full[3], width // 2] = np.iinfo(index_dtype).min
    expected = 5  # five distinct entries
    copies = snapshot(grad_out, bad)
    for n_threads in THREADS:
        grad_x = np.empty((case.num_src_nodes, width), dtype=np.float32)
        count = _K.extremum_backward_route(grad_x, grad_out, bad, graph.indptr, graph.indices, n_threads,
                                           split=split)
        assert count == expected
        scatter = np.empty_like(grad_x)
        assert _K.extremum_backward_scatter(scatter, grad_out, bad, graph.indptr, graph.indices, n_threads) == count
        with parallel_always(), pytest.raises(ValueError, match="arg"):
            fastgnn.aggregate_backward(graph, grad_out, "max", arg=bad, n_threads=n_threads)
    assert_unchanged([grad_out, bad], copies)


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("width", WIDTHS)
def test_segment_backward_gives_the_bits_of_the_definition(reduce, width, float_dtype):
    rng = np.random.default_rng(width)
    lengths = rng.integers(0, 9, 200)
    lengths[::7] = 0
    ptr = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    x = rng.integers(-2, 3, (int(ptr[-1]), width)).astype(float_dtype)  # ties
    grad_out = rng.standard_normal((lengths.shape[0], width)).astype(float_dtype)
    _, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
    case = CsrCase("segments", ptr, np.arange(int(ptr[-1])), int(ptr[-1]))
    expected = _in_edge_order(case, arg, grad_out, None, float_dtype)
    with parallel_always():
        for n_threads in THREADS:
            grad = fastgnn.segment_reduce_backward(grad_out, ptr, reduce, arg=arg, n_threads=n_threads)
            _bitwise(grad, expected, f"segment_reduce_backward on {n_threads} threads")
    np.testing.assert_array_equal(expected, R.segment_reduce_backward(grad_out, ptr, reduce, arg))
