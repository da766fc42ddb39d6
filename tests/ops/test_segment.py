"""fastgnn.segment_reduce and its backward against the NumPy reference and independent checks."""
import numpy as np
import pytest

import fastgnn
from fastgnn.ops import reference as R
from fastgnn.testing import check_grad
from graph_cases import REDUCES, assert_close, assert_unchanged, make_features, snapshot, strided

WIDTH = 3

SEGMENTS = {
    "no_segments": [0],
    "empty_segments_only": [0, 0, 0],
    "single_segment": [0, 7],
    "with_empty_segments": [0, 3, 3, 7, 8, 8],
    "empty_first_and_last": [0, 0, 2, 5, 5],
    "many": list(np.cumsum([0, 4, 1, 0, 9, 2, 2, 6, 0, 3])),
}


@pytest.fixture(params=sorted(SEGMENTS))
def ptr(request):
    return np.asarray(SEGMENTS[request.param])


def _check(out, arg, ref_out, ref_arg, reduce):
    if reduce in ("max", "min"):
        np.testing.assert_array_equal(out, ref_out, strict=True)
        assert arg.dtype in (np.int32, np.int64)
        np.testing.assert_array_equal(arg, ref_arg.astype(arg.dtype), strict=True)
    else:
        assert arg is None
        assert_close(out, ref_out)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_matches_reference(ptr, reduce, ties, float_dtype, index_dtype, rng):
    ptr = ptr.astype(index_dtype)
    x = make_features(rng, int(ptr[-1]), WIDTH, float_dtype, ties)
    copies = snapshot(x, ptr)
    out, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
    assert_unchanged([x, ptr], copies)
    assert out.shape == (len(ptr) - 1, WIDTH)
    ref_out, ref_arg = R.segment_reduce(x, ptr, reduce)
    _check(out, arg, ref_out, ref_arg, reduce)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_backward_matches_reference(ptr, reduce, ties, float_dtype, index_dtype, rng):
    ptr = ptr.astype(index_dtype)
    x = make_features(rng, int(ptr[-1]), WIDTH, float_dtype, ties)
    grad_out = make_features(rng, len(ptr) - 1, WIDTH, float_dtype)
    _, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
    copies = snapshot(grad_out, ptr, arg)
    grad_x = fastgnn.segment_reduce_backward(grad_out, ptr, reduce, arg=arg)
    assert_unchanged([grad_out, ptr, arg], copies)
    _, ref_arg = R.segment_reduce(x, ptr, reduce)
    assert_close(grad_x, R.segment_reduce_backward(grad_out, ptr, reduce, ref_arg))


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_matches_numpy_per_segment(reduce, float_dtype, rng):
    """Independently of the reference: NumPy's own reductions over each slice."""
    ptr = np.asarray(SEGMENTS["with_empty_segments"])
    x = make_features(rng, int(ptr[-1]), WIDTH, float_dtype)
    out = fastgnn.segment_reduce(x, ptr, reduce)
    function = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[reduce]
    for s in range(len(ptr) - 1):
        rows = x[ptr[s]:ptr[s + 1]].astype(np.float64)
        expected = function(rows, axis=0) if len(rows) else np.zeros(WIDTH)
        assert_close(out[s], expected.astype(float_dtype))


def test_add_is_sum(rng):
    ptr = np.asarray(SEGMENTS["many"])
    x = make_features(rng, int(ptr[-1]), WIDTH, np.float64)
    np.testing.assert_array_equal(fastgnn.segment_reduce(x, ptr, "add"), fastgnn.segment_reduce(x, ptr, "sum"))


@pytest.mark.parametrize("reduce", REDUCES)
def test_one_dimensional_features(reduce, float_dtype, rng):
    ptr = np.asarray(SEGMENTS["with_empty_segments"])
    x = make_features(rng, int(ptr[-1]), 1, float_dtype)[:, 0]
    out, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
    assert out.shape == (len(ptr) - 1,)
    ref_out, ref_arg = R.segment_reduce(x, ptr, reduce)
    _check(out, arg, ref_out, ref_arg, reduce)
    grad_out = make_features(rng, len(ptr) - 1, 1, float_dtype)[:, 0]
    grad_x = fastgnn.segment_reduce_backward(grad_out, ptr, reduce, arg=arg)
    assert grad_x.shape == x.shape
    assert_close(grad_x, R.segment_reduce_backward(grad_out, ptr, reduce, ref_arg))


@pytest.mark.parametrize("reduce", REDUCES)
def test_non_contiguous_and_read_only_inputs(reduce, float_dtype, rng):
    ptr = np.asarray(SEGMENTS["many"])
    x = make_features(rng, int(ptr[-1]), WIDTH, float_dtype)
    grad_out = make_features(rng, len(ptr) - 1, WIDTH, float_dtype)
    ref_out, ref_arg = R.segment_reduce(x, ptr, reduce)
    ref_grad = R.segment_reduce_backward(grad_out, ptr, reduce, ref_arg)
    x_view, ptr_view, grad_view = strided(x), strided(ptr), strided(grad_out)
    copies = snapshot(x_view, ptr_view, grad_view)
    out, arg = fastgnn.segment_reduce(x_view, ptr_view, reduce, return_arg=True)
    _check(out, arg, ref_out, ref_arg, reduce)
    arg_view = None if arg is None else strided(arg)
    assert_close(fastgnn.segment_reduce_backward(grad_view, ptr_view, reduce, arg=arg_view), ref_grad)
    assert_unchanged([x_view, ptr_view, grad_view], copies)


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_nan_wins_and_propagates(reduce, rng):
    ptr = np.asarray(SEGMENTS["many"])
    x = make_features(rng, int(ptr[-1]), WIDTH, np.float64)
    x[[1, 5, 6, 20], [0, 2, 2, 1]] = np.nan
    out, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
    ref_out, ref_arg = R.segment_reduce(x, ptr, reduce)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    for s in range(len(ptr) - 1):
        rows = x[ptr[s]:ptr[s + 1]]
        np.testing.assert_array_equal(np.isnan(out[s]), np.isnan(rows).any(axis=0))


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_gradients_by_finite_differences(reduce, rng):
    ptr = np.asarray(SEGMENTS["with_empty_segments"])
    # Distinct values far apart: no ties near the max/min.
    x = rng.permutation(int(ptr[-1]) * WIDTH).reshape(-1, WIDTH) * 0.1 + 0.01 * rng.random((int(ptr[-1]), WIDTH))
    projection = rng.standard_normal((len(ptr) - 1, WIDTH))

    def loss():
        return float(np.sum(fastgnn.segment_reduce(x, ptr, reduce) * projection))

    _, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
    grad_x = fastgnn.segment_reduce_backward(projection, ptr, reduce, arg=arg)
    check_grad(loss, [x], [grad_x], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_is_aggregate_over_a_segment_graph(reduce, rng):
    """A segment is a destination whose in-edges are its rows, in order."""
    ptr = np.asarray(SEGMENTS["many"])
    x = make_features(rng, int(ptr[-1]), WIDTH, np.float64)
    graph = fastgnn.Graph.from_csr(ptr, np.arange(ptr[-1]), num_src_nodes=int(ptr[-1]))
    out, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
    graph_out, graph_arg = fastgnn.aggregate(graph, x, reduce, return_arg=True)
    np.testing.assert_array_equal(out, graph_out)
    if arg is not None:
        np.testing.assert_array_equal(arg, graph_arg)
