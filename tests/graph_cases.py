"""Graphs for every edge case, input generators and comparison helpers, shared by the tests.

Graphs are described by plain CSR arrays (a :class:`CsrCase`) built here
with NumPy alone, so the reference (:mod:`fastgnn.ops.reference`) and the
independent checks never depend on :class:`fastgnn.Graph`'s own
construction code. (A module with its own name rather than ``conftest``,
so that test files can import it whatever other conftest files exist.)
"""
import contextlib
from dataclasses import dataclass

import numpy as np

import fastgnn
from fastgnn._runtime import threads as _threads
from fastgnn.testing import conformance as _conformance

FLOAT_DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]
REDUCES = ["sum", "mean", "max", "min"]


@dataclass(frozen=True)
class CsrCase:
    """A destination-major CSR graph given as plain arrays."""

    name: str
    indptr: np.ndarray  # int64, length num_dst_nodes + 1
    indices: np.ndarray  # int64, source of each edge
    num_src_nodes: int
    ties: bool = False  # features and weights with many exact ties

    @property
    def num_dst_nodes(self):
        return self.indptr.shape[0] - 1

    @property
    def num_edges(self):
        return self.indices.shape[0]

    def destinations(self):
        return np.repeat(np.arange(self.num_dst_nodes), np.diff(self.indptr))

    def dense(self, edge_weight=None):
        """The dense adjacency ``A[i, j] = sum of weights of the edges j -> i`` (float64)."""
        weight = np.ones(self.num_edges) if edge_weight is None else np.asarray(edge_weight, np.float64)
        dense = np.zeros((self.num_dst_nodes, self.num_src_nodes))
        np.add.at(dense, (self.destinations(), self.indices), weight)
        return dense

    def graph(self, index_dtype=None, edge_weight=None):
        return fastgnn.Graph.from_csr(self.indptr, self.indices, edge_weight,
                                      num_src_nodes=self.num_src_nodes, index_dtype=index_dtype)


def csr_from_edges(name, src, dst, num_src_nodes, num_dst_nodes, ties=False):
    """A CsrCase from an edge list: a stable sort by destination keeps each row's input order."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    order = np.argsort(dst, kind="stable")
    indptr = np.zeros(num_dst_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=num_dst_nodes), out=indptr[1:])
    return CsrCase(name, indptr, src[order], num_src_nodes, ties)


def _random_edges(rng, num_src, num_dst, num_edges):
    return rng.integers(0, num_src, num_edges), rng.integers(0, num_dst, num_edges)


def _build_cases():
    rng = np.random.default_rng(1234)
    cases = []
    cases.append(CsrCase("empty_graph", np.zeros(1, np.int64), np.zeros(0, np.int64), 0))
    cases.append(CsrCase("zero_edges", np.zeros(6, np.int64), np.zeros(0, np.int64), 5))
    cases.append(CsrCase("no_sources", np.zeros(4, np.int64), np.zeros(0, np.int64), 0))
    cases.append(CsrCase("single_node_loop", np.array([0, 1]), np.array([0]), 1))

    # Nodes 3 and 7 receive nothing, nodes 5 and 9 send nothing, node 11 is fully isolated.
    src, dst = _random_edges(rng, 12, 12, 40)
    keep = ~np.isin(dst, [3, 7, 11]) & ~np.isin(src, [5, 9, 11])
    cases.append(csr_from_edges("isolated_nodes", src[keep], dst[keep], 12, 12))

    # Every node has a loop (node 2 two of them), node 4 has only its loop.
    src, dst = _random_edges(rng, 6, 6, 14)
    keep = (dst != 4) & (src != dst)
    loops = np.array([0, 1, 2, 2, 3, 4, 5])
    cases.append(csr_from_edges("self_loops", np.concatenate([src[keep], loops]),
                                np.concatenate([dst[keep], loops]), 6, 6))

    # The same edge several times in a row and interleaved with others.
    src = np.array([1, 1, 1, 2, 0, 2, 3, 3, 0, 1, 4, 4])
    dst = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3])
    cases.append(csr_from_edges("duplicate_edges", src, dst, 5, 5))

    # High in-degree and integer-valued features: many exact ties for max/min.
    src, dst = _random_edges(rng, 5, 6, 45)
    cases.append(csr_from_edges("ties", src, dst, 5, 6, ties=True))

    src, dst = _random_edges(rng, 9, 4, 20)
    cases.append(csr_from_edges("bipartite_more_sources", src, dst, 9, 4))
    src, dst = _random_edges(rng, 3, 8, 12)
    keep = dst != 5
    cases.append(csr_from_edges("bipartite_more_destinations", src[keep], dst[keep], 3, 8))

    # Rows kept in the (unsorted) order the edges came in.
    src, dst = _random_edges(rng, 25, 25, 120)
    cases.append(csr_from_edges("random", src, dst, 25, 25))
    return {case.name: case for case in cases}


CASES = _build_cases()


# The same random inputs as the conformance suite's (integer-valued features and
# power-of-two weights when ``ties``, so ties and products stay exact).
make_features = _conformance._features
make_weights = _conformance._weights


def weighted_graph(case, weighting, index_dtype, rng):
    """``(graph, edge_weight argument of the op, weights for the reference)`` for a weighting mode.

    ``weighting`` is ``"unweighted"``, ``"weight_argument"`` (the op gets
    ``edge_weight=``) or ``"graph_weights"`` (the weights live in the Graph).
    """
    if weighting == "unweighted":
        return case.graph(index_dtype), None, None
    weight = make_weights(rng, case.num_edges, case.ties)
    if weighting == "weight_argument":
        return case.graph(index_dtype), weight, weight
    return case.graph(index_dtype, edge_weight=weight), None, weight


def tolerance(dtype):
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


def assert_close(actual, expected):
    """Same shape and dtype; values equal to ``tolerance(dtype)`` relative to the result's magnitude."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    tol = tolerance(actual.dtype)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def snapshot(*arrays):
    """Copies of the inputs (None kept), to check afterwards that nothing was modified."""
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def assert_unchanged(arrays, copies):
    for array, copy in zip(arrays, copies):
        if array is None:
            assert copy is None
        else:
            np.testing.assert_array_equal(np.asarray(array), copy, strict=True)


def strided(array):
    """A non-contiguous, read-only view holding the values of ``array``."""
    array = np.asarray(array)
    big = np.zeros((array.shape[0] * 2,) + tuple(2 * s for s in array.shape[1:]), dtype=array.dtype)
    view = big[(slice(None, None, 2),) * array.ndim]
    view[...] = array
    view.flags.writeable = False
    assert not view.flags.c_contiguous or view.size <= 1
    return view


@contextlib.contextmanager
def parallel_always():
    """Run every kernel call on the requested threads, however small (the threshold is a speed knob)."""
    saved = _threads.PARALLEL_WORK_THRESHOLD
    _threads.PARALLEL_WORK_THRESHOLD = 0
    try:
        yield
    finally:
        _threads.PARALLEL_WORK_THRESHOLD = saved
