"""Property-based tests (hypothesis): every op and backward equals the NumPy reference on random graphs.

Random graphs include the empty graph, graphs without edges, bipartite graphs, duplicate edges and
self-loops, built from an edge list or from CSR arrays, with int32 or int64 indices; features are
float32 or float64 (with exact ties, sometimes NaN), 0 to 8 wide, 1-D or 2-D; weights absent, passed
as an argument or stored in the graph; thread counts 1 to 4 with the parallel threshold lowered so
that even tiny graphs run on several threads, and every result must also be bitwise equal to the
one-thread result. Bounded (100 examples per test, no deadline) to keep CI fast.
"""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import fastgnn  # noqa: E402
from fastgnn.ops import reference as R  # noqa: E402
from graph_cases import parallel_always  # noqa: E402

SETTINGS = settings(max_examples=100, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REDUCES = st.sampled_from(["sum", "add", "mean", "max", "min"])
FLOAT_DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])
THREADS = st.integers(1, 4)



@st.composite
def graphs(draw, max_nodes=12, max_edges=40):
    """``(graph, num_src_nodes, num_dst_nodes)`` of a random (possibly empty, bipartite) multigraph."""
    square = draw(st.booleans())
    num_dst = draw(st.integers(0, max_nodes))
    num_src = num_dst if square else draw(st.integers(0, max_nodes))
    num_edges = draw(st.integers(0, max_edges)) if num_src and num_dst else 0
    src = draw(hnp.arrays(np.int64, num_edges, elements=st.integers(0, max(num_src - 1, 0))))
    dst = draw(hnp.arrays(np.int64, num_edges, elements=st.integers(0, max(num_dst - 1, 0))))
    if num_edges and draw(st.booleans()):  # duplicate a few edges
        picks = draw(st.lists(st.integers(0, num_edges - 1), min_size=1, max_size=5))
        src, dst = np.concatenate([src, src[picks]]), np.concatenate([dst, dst[picks]])
    if square and num_dst and draw(st.booleans()):  # self-loops
        loops = draw(st.lists(st.integers(0, num_dst - 1), min_size=1, max_size=4))
        src, dst = np.concatenate([src, loops]), np.concatenate([dst, loops])
    index_dtype = draw(st.sampled_from([np.int32, np.int64]))
    if draw(st.booleans()):
        graph = fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_src_nodes=num_src, num_dst_nodes=num_dst,
                                              num_nodes=max(num_src, num_dst), index_dtype=index_dtype)
    else:  # CSR built by hand, rows in a random order of their edges
        order = draw(st.permutations(range(src.shape[0])))
        src, dst = src[list(order)], dst[list(order)]
        by_row = np.argsort(dst, kind="stable")
        indptr = np.zeros(num_dst + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=num_dst), out=indptr[1:])
        graph = fastgnn.Graph.from_csr(indptr.astype(index_dtype), src[by_row].astype(index_dtype),
                                       num_src_nodes=num_src, index_dtype=index_dtype)
    return graph


def features(draw, rows, width, dtype, allow_nan=True):
    """Small integers and halves (exact ties) or general floats; sometimes a NaN."""
    if draw(st.booleans()):
        elements = st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    else:
        elements = st.floats(-8, 8, width=dtype.itemsize * 8, allow_subnormal=False)
    x = draw(hnp.arrays(dtype, (rows, width), elements=elements))
    if allow_nan and x.size and draw(st.integers(0, 9)) == 0:
        x.flat[draw(st.integers(0, x.size - 1))] = np.nan
    return x


def weights(draw, graph):
    """``(graph, edge_weight argument, weights of the reference)`` for a random weighting mode."""
    mode = draw(st.sampled_from(["none", "argument", "graph"]))
    if mode == "none":
        return graph, None, None
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    elements = (st.integers(-3, 3) if dtype == np.int64 else
                st.floats(-2, 2, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False))
    weight = draw(hnp.arrays(dtype, graph.num_edges, elements=elements))
    if mode == "argument":
        return graph, weight, weight
    weighted = graph.with_edge_weight(weight)
    return weighted, None, weighted.edge_weight


def assert_sums_close(actual, expected, magnitude, dtype):
    """Sum-like results: within a few ulps of the sum of absolute terms (``magnitude``), NaN where expected."""
    eps = np.finfo(dtype).eps
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    finite = ~np.isnan(expected)
    bound = 64 * eps * (np.asarray(magnitude, dtype=np.float64) + 1.0)
    error = np.abs(actual[finite].astype(np.float64) - expected[finite])
    assert np.all(error <= np.broadcast_to(bound, expected.shape)[finite])


def bitwise(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@SETTINGS
@given(data=st.data(), graph=graphs(), reduce=REDUCES, dtype=FLOAT_DTYPES, threads=THREADS)
def test_aggregate_equals_reference(data, graph, reduce, dtype, threads):
    width = data.draw(st.integers(0, 8))
    graph, weight_arg, weight = weights(data.draw, graph)
    x = features(data.draw, graph.num_src_nodes, width, dtype)
    one_d = width == 1 and data.draw(st.booleans())
    x_in = x.reshape(-1) if one_d else x
    with parallel_always():
        out, arg = fastgnn.aggregate(graph, x_in, reduce, edge_weight=weight_arg, return_arg=True, n_threads=threads)
        serial, serial_arg = fastgnn.aggregate(graph, x_in, reduce, edge_weight=weight_arg, return_arg=True,
                                               n_threads=1)
    assert bitwise(out, serial) and (arg is None or bitwise(arg, serial_arg))
    ref_out, ref_arg = R.aggregate(graph.indptr, graph.indices, x_in, reduce, weight)
    assert out.shape == ref_out.shape and out.dtype == dtype
    if reduce in ("max", "min"):
        np.testing.assert_array_equal(out, ref_out)
        assert arg.dtype == graph.index_dtype
        np.testing.assert_array_equal(arg, ref_arg)
    else:
        assert arg is None
        cast = None if weight is None else np.abs(np.asarray(weight).astype(dtype))
        magnitude, _ = R.aggregate(graph.indptr, graph.indices, np.abs(np.nan_to_num(x_in)).astype(np.float64),
                                   "sum", cast)
        assert_sums_close(out, ref_out, magnitude, dtype)


@SETTINGS
@given(data=st.data(), graph=graphs(), reduce=REDUCES, dtype=FLOAT_DTYPES, threads=THREADS)
def test_aggregate_backward_equals_reference(data, graph, reduce, dtype, threads):
    width = data.draw(st.integers(0, 6))
    graph, weight_arg, weight = weights(data.draw, graph)
    x = features(data.draw, graph.num_src_nodes, width, dtype)
    grad_out = features(data.draw, graph.num_dst_nodes, width, dtype, allow_nan=False)
    _, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
    with parallel_always():
        grad_x, grad_w = fastgnn.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight_arg, arg=arg,
                                                    need_weight_grad=True, n_threads=threads)
        serial_x, serial_w = fastgnn.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight_arg,
                                                        arg=arg, need_weight_grad=True, n_threads=1)
    assert bitwise(grad_x, serial_x) and bitwise(grad_w, serial_w)
    _, ref_arg = R.aggregate(graph.indptr, graph.indices, x, reduce, weight)
    ref_x, ref_w = R.aggregate_backward(graph.indptr, graph.indices, graph.num_src_nodes, grad_out, reduce, x=x,
                                        edge_weight=weight, arg=ref_arg)
    abs_weight = None if weight is None else np.abs(np.asarray(weight).astype(dtype))
    magnitude_x, _ = R.aggregate_backward(graph.indptr, graph.indices, graph.num_src_nodes,
                                          np.abs(grad_out).astype(np.float64), reduce, edge_weight=abs_weight,
                                          arg=ref_arg)
    assert_sums_close(grad_x, ref_x, magnitude_x, dtype)
    _, magnitude_w = R.aggregate_backward(graph.indptr, graph.indices, graph.num_src_nodes,
                                          np.abs(grad_out).astype(np.float64), reduce,
                                          x=np.abs(np.nan_to_num(x)).astype(np.float64), arg=ref_arg)
    assert_sums_close(grad_w, ref_w, magnitude_w, dtype)


@st.composite
def pointers(draw, max_segments=8, max_length=6):
    lengths = draw(st.lists(st.integers(0, max_length), max_size=max_segments))
    ptr = np.zeros(len(lengths) + 1, dtype=draw(st.sampled_from([np.int32, np.int64])))
    np.cumsum(lengths, out=ptr[1:])
    return ptr


@SETTINGS
@given(data=st.data(), ptr=pointers(), reduce=REDUCES, dtype=FLOAT_DTYPES, threads=THREADS)
def test_segment_reduce_and_backward_equal_reference(data, ptr, reduce, dtype, threads):
    width = data.draw(st.integers(0, 6))
    x = features(data.draw, int(ptr[-1]), width, dtype)
    grad_out = features(data.draw, ptr.shape[0] - 1, width, dtype, allow_nan=False)
    with parallel_always():
        out, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True, n_threads=threads)
        grad = fastgnn.segment_reduce_backward(grad_out, ptr, reduce, arg=arg, n_threads=threads)
        serial = fastgnn.segment_reduce(x, ptr, reduce, n_threads=1)
    assert bitwise(out, serial)
    ref_out, ref_arg = R.segment_reduce(x, ptr, reduce)
    if reduce in ("max", "min"):
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(arg, ref_arg)
    else:
        magnitude, _ = R.segment_reduce(np.abs(np.nan_to_num(x)).astype(np.float64), ptr, "sum")
        assert_sums_close(out, ref_out, magnitude, dtype)
    ref_grad = R.segment_reduce_backward(grad_out, ptr, reduce, ref_arg)
    np.testing.assert_allclose(grad, ref_grad, rtol=4 * np.finfo(dtype).eps, atol=0)


@SETTINGS
@given(data=st.data(), graph=graphs(), dtype=FLOAT_DTYPES, threads=THREADS)
def test_edge_dot_and_backward_equal_reference(data, graph, dtype, threads):
    width = data.draw(st.integers(0, 6))
    a = features(data.draw, graph.num_dst_nodes, width, dtype, allow_nan=False)
    b = features(data.draw, graph.num_src_nodes, width, dtype, allow_nan=False)
    grad_out = features(data.draw, graph.num_edges, 1, dtype, allow_nan=False).reshape(-1)
    with parallel_always():
        out = fastgnn.edge_dot(graph, a, b, n_threads=threads)
        grad_a, grad_b = fastgnn.edge_dot_backward(graph, grad_out, a, b, n_threads=threads)
        serial = fastgnn.edge_dot(graph, a, b, n_threads=1)
        serial_a, serial_b = fastgnn.edge_dot_backward(graph, grad_out, a, b, n_threads=1)
    assert bitwise(out, serial) and bitwise(grad_a, serial_a) and bitwise(grad_b, serial_b)
    abs_a, abs_b = np.abs(a).astype(np.float64), np.abs(b).astype(np.float64)
    assert_sums_close(out, R.edge_dot(graph.indptr, graph.indices, a, b),
                      R.edge_dot(graph.indptr, graph.indices, abs_a, abs_b), dtype)
    ref_a, ref_b = R.edge_dot_backward(graph.indptr, graph.indices, grad_out, a, b)
    mag_a, mag_b = R.edge_dot_backward(graph.indptr, graph.indices, np.abs(grad_out).astype(np.float64), abs_a,
                                       abs_b)
    assert_sums_close(grad_a, ref_a, mag_a, dtype)
    assert_sums_close(grad_b, ref_b, mag_b, dtype)


@SETTINGS
@given(graph=graphs())
def test_graph_round_trips_and_transpose(graph):
    """to_edge_index / to_scipy rebuild the same graph; the cached transpose lists every edge once."""
    edge_index = graph.to_edge_index()
    again = fastgnn.Graph.from_edge_index(edge_index, num_src_nodes=graph.num_src_nodes,
                                          num_dst_nodes=graph.num_dst_nodes,
                                          num_nodes=max(graph.num_src_nodes, graph.num_dst_nodes))
    assert again == graph
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    assert t_indptr.shape == (graph.num_src_nodes + 1,)
    np.testing.assert_array_equal(np.sort(edge_id), np.arange(graph.num_edges))
    np.testing.assert_array_equal(graph.indices[edge_id], np.repeat(np.arange(graph.num_src_nodes),
                                                                    np.diff(t_indptr)))
    np.testing.assert_array_equal(graph.destinations()[edge_id], t_indices)
    dense = graph.to_scipy().toarray() if graph.num_edges else np.zeros((graph.num_dst_nodes, graph.num_src_nodes))
    assert dense.shape == (graph.num_dst_nodes, graph.num_src_nodes)
    assert dense.sum() == graph.num_edges
