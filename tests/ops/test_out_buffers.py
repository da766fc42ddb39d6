"""``out=`` buffers of the forward ops: written in place, returned, and checked."""
import numpy as np
import pytest

import fastgnn
from fastgnn.ops import reference as R

INDPTR = np.array([0, 2, 2, 5, 6])
INDICES = np.array([1, 2, 0, 0, 3, 1])


@pytest.fixture
def graph():
    return fastgnn.Graph.from_csr(INDPTR, INDICES)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_aggregate_writes_into_out(graph, reduce):
    x = np.random.default_rng(0).standard_normal((4, 3))
    out = np.full((4, 3), np.nan)
    result = fastgnn.aggregate(graph, x, reduce, out=out)
    assert result is out
    expected = R.aggregate(INDPTR, INDICES, x, reduce)
    expected = expected[0] if isinstance(expected, tuple) else expected
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_aggregate_out_1d(graph):
    x = np.arange(4.0)
    out = np.empty(4)
    assert fastgnn.aggregate(graph, x, "sum", out=out) is out
    np.testing.assert_allclose(out, graph.to_scipy() @ x)


def test_segment_reduce_and_edge_dot_out(graph):
    x = np.random.default_rng(1).standard_normal((5, 2))
    out = np.empty((2, 2))
    assert fastgnn.segment_reduce(x, [0, 3, 5], "sum", out=out) is out
    np.testing.assert_allclose(out, [x[:3].sum(0), x[3:].sum(0)])
    a = np.random.default_rng(2).standard_normal((4, 2))
    dots = np.empty(graph.num_edges)
    assert fastgnn.edge_dot(graph, a, a, out=dots) is dots
    np.testing.assert_allclose(dots, np.einsum("ij,ij->i", a[graph.destinations()], a[graph.indices]))


@pytest.mark.parametrize("bad, error, message", [
    (np.empty((4, 3), dtype=np.float32), TypeError, "out must have dtype float64"),
    (np.empty((3, 3)), ValueError, r"out must have shape \(4, 3\)"),
    (np.empty((3, 4)).T, ValueError, "out must be C-contiguous"),
    ([[0.0] * 3] * 4, TypeError, "out must be a numpy.ndarray"),
])
def test_bad_out(graph, bad, error, message):
    with pytest.raises(error, match=message):
        fastgnn.aggregate(graph, np.ones((4, 3)), out=bad)


def test_out_read_only_or_overlapping(graph):
    x = np.ones((4, 3))
    frozen = np.empty((4, 3))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        fastgnn.aggregate(graph, x, out=frozen)
    with pytest.raises(ValueError, match="out must not share memory"):
        fastgnn.aggregate(graph, x, out=x)
