"""A conformance suite for implementations of fastgnn's operations (``fastgnn.testing.conformance``).

Any implementation of the ops (the compiled kernels, the NumPy reference, an
adapter to another framework, a new backend) can check that it computes what
``docs/semantics.md`` says, against the NumPy reference
(:mod:`fastgnn.ops.reference`) and against independent checks (dense matrix
products, finite differences, hand-written rules for ties and NaN)::

    from fastgnn.testing import conformance
    report = conformance.run(my_ops)          # raises AssertionError listing every failure
    print(report)                             # one line per check

or, one pytest test per check::

    @pytest.mark.parametrize("check", conformance.checks(), ids=str)
    def test_conformance(check):
        check(my_ops)

The implementation protocol
---------------------------
``impl`` is any object (a module, a namespace, an instance) with these
functions, taking and returning NumPy arrays with the signatures of
:mod:`fastgnn.ops`; ``graph`` is always a :class:`fastgnn.Graph` (read its
``indptr``, ``indices``, ``edge_weight``, ``num_src_nodes``):

* ``aggregate(graph, x, reduce, *, edge_weight=None, return_arg=False, n_threads=None)``
* ``aggregate_backward(graph, grad_out, reduce, *, x, edge_weight=None, arg=None,
  need_weight_grad=False, n_threads=None)``: the suite always passes the
  forward input ``x`` (so an implementation that recomputes its forward,
  e.g. one built on autograd, can) and, for max/min, the ``arg`` its own
  forward returned;
* ``segment_reduce(x, ptr, reduce, *, return_arg=False, n_threads=None)``
* ``edge_dot(graph, a, b, *, n_threads=None)``

and optionally ``segment_reduce_backward(grad_out, ptr, reduce, *, arg=None,
n_threads=None)`` and ``edge_dot_backward(graph, grad_out, a, b, *,
n_threads=None)`` (checked when present, reported as skipped otherwise).
``reduce`` is one of ``'sum'``, ``'mean'``, ``'max'``, ``'min'``;
``n_threads`` may be ignored by an implementation without threads (the
determinism checks then compare repeated calls).

What is checked
---------------
forward and backward of every reduce against the reference (float32 and
float64 features, int32 and int64 graphs, unweighted, weights as an argument
and weights stored in the graph), sum/mean against a dense ``A @ X``,
gradients against central differences (float64), empty rows and empty graphs
(zeros, ``arg == -1``, no gradient), ties (the first edge in CSR order wins)
and NaN (a NaN message wins), duplicate edges (each counts), bipartite
graphs, 1-D features, inputs left unmodified, results bitwise identical for
every thread count and on repeated calls; the same for ``segment_reduce``
and ``edge_dot``. A check raises ``AssertionError`` naming the case.

:data:`reference_ops` is the NumPy reference behind this protocol (it passes
the suite too).
"""
import types
from dataclasses import dataclass, field

import numpy as np

from fastgnn.ops import reference as R
from fastgnn.graph import Graph

__all__ = ["Check", "Report", "checks", "run", "reference_ops", "CASES", "REDUCES"]

REDUCES = ("sum", "mean", "max", "min")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
WEIGHTINGS = ("unweighted", "weight_argument", "graph_weights")
WIDTH = 3


# ---------------------------------------------------------------------------- the NumPy reference as an implementation
def _ref_weights(graph, edge_weight):
    return graph.edge_weight if edge_weight is None else np.asarray(edge_weight)


def _ref_aggregate(graph, x, reduce="sum", *, edge_weight=None, return_arg=False, n_threads=None):
    out, arg = R.aggregate(graph.indptr, graph.indices, x, reduce, _ref_weights(graph, edge_weight))
    return (out, arg) if return_arg else out


def _ref_aggregate_backward(graph, grad_out, reduce="sum", *, x=None, edge_weight=None, arg=None,
                            need_weight_grad=False, n_threads=None):
    grad_x, grad_w = R.aggregate_backward(graph.indptr, graph.indices, graph.num_src_nodes, grad_out, reduce,
                                          x=x if need_weight_grad else None,
                                          edge_weight=_ref_weights(graph, edge_weight), arg=arg)
    return (grad_x, grad_w) if need_weight_grad else grad_x


def _ref_segment_reduce(x, ptr, reduce="sum", *, return_arg=False, n_threads=None):
    out, arg = R.segment_reduce(x, ptr, reduce)
    return (out, arg) if return_arg else out


def _ref_segment_reduce_backward(grad_out, ptr, reduce="sum", *, arg=None, n_threads=None):
    return R.segment_reduce_backward(grad_out, ptr, reduce, arg)


def _ref_edge_dot(graph, a, b, *, n_threads=None):
    return R.edge_dot(graph.indptr, graph.indices, a, b)


def _ref_edge_dot_backward(graph, grad_out, a, b, *, n_threads=None):
    return R.edge_dot_backward(graph.indptr, graph.indices, grad_out, a, b)


#: The NumPy reference (:mod:`fastgnn.ops.reference`) with the signatures of :mod:`fastgnn.ops`.
reference_ops = types.SimpleNamespace(
    aggregate=_ref_aggregate,
    aggregate_backward=_ref_aggregate_backward,
    segment_reduce=_ref_segment_reduce,
    segment_reduce_backward=_ref_segment_reduce_backward,
    edge_dot=_ref_edge_dot,
    edge_dot_backward=_ref_edge_dot_backward,
)


# ---------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """A destination-major CSR graph as plain int64 arrays."""

    name: str
    indptr: np.ndarray
    indices: np.ndarray
    num_src_nodes: int
    ties: bool = False

    @property
    def num_dst_nodes(self):
        return self.indptr.shape[0] - 1

    @property
    def num_edges(self):
        return self.indices.shape[0]

    def graph(self, index_dtype, edge_weight=None):
        return Graph.from_csr(self.indptr, self.indices, edge_weight, num_src_nodes=self.num_src_nodes,
                              index_dtype=index_dtype)

    def destinations(self):
        return np.repeat(np.arange(self.num_dst_nodes), np.diff(self.indptr))

    def dense(self, weight=None):
        """``A[i, j]`` = sum of the weights of the edges ``j -> i`` (float64)."""
        weight = np.ones(self.num_edges) if weight is None else np.asarray(weight, dtype=np.float64)
        dense = np.zeros((self.num_dst_nodes, self.num_src_nodes))
        np.add.at(dense, (self.destinations(), self.indices), weight)
        return dense


def _from_edges(name, src, dst, num_src, num_dst, ties=False):
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    order = np.argsort(dst, kind="stable")
    indptr = np.zeros(num_dst + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=num_dst), out=indptr[1:])
    return Case(name, indptr, src[order], num_src, ties)


def _build_cases():
    rng = np.random.default_rng(20240611)
    cases = [
        Case("empty_graph", np.zeros(1, np.int64), np.zeros(0, np.int64), 0),
        Case("zero_edges", np.zeros(5, np.int64), np.zeros(0, np.int64), 4),
        Case("single_self_loop", np.array([0, 1]), np.array([0]), 1),
    ]
    src, dst = rng.integers(0, 10, 36), rng.integers(0, 10, 36)
    keep = ~np.isin(dst, [2, 6, 9]) & (src != 9)  # rows 2, 6, 9 are empty; 9 is isolated
    cases.append(_from_edges("empty_rows", src[keep], dst[keep], 10, 10))
    loops = np.array([0, 1, 2, 2, 3])
    src, dst = rng.integers(0, 5, 10), rng.integers(0, 5, 10)
    cases.append(_from_edges("self_loops", np.concatenate([src, loops]), np.concatenate([dst, loops]), 5, 5))
    cases.append(_from_edges("duplicate_edges", [1, 1, 1, 2, 0, 2, 3, 3, 0, 1, 4, 4],
                             [0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3], 5, 5))
    src, dst = rng.integers(0, 4, 40), rng.integers(0, 5, 40)
    cases.append(_from_edges("ties", src, dst, 4, 5, ties=True))
    src, dst = rng.integers(0, 8, 18), rng.integers(0, 3, 18)
    cases.append(_from_edges("bipartite_more_sources", src, dst, 8, 3))
    src, dst = rng.integers(0, 3, 10), rng.integers(0, 7, 10)
    cases.append(_from_edges("bipartite_more_destinations", src, dst, 3, 7))
    src, dst = rng.integers(0, 20, 90), rng.integers(0, 20, 90)
    cases.append(_from_edges("random", src, dst, 20, 20))
    return {case.name: case for case in cases}


#: The graphs every forward/backward check runs on.
CASES = _build_cases()


def _features(rng, rows, width, dtype, ties=False):
    if ties:
        return rng.integers(-2, 3, size=(rows, width)).astype(dtype)
    return rng.standard_normal((rows, width)).astype(dtype)


def _weights(rng, num_edges, ties=False):
    if ties:
        return rng.choice([0.5, 1.0, 2.0], size=num_edges)
    return rng.uniform(-1.0, 2.0, size=num_edges)


def _weighted(case, weighting, index_dtype, rng):
    """``(graph, edge_weight argument, weights the reference uses)``."""
    if weighting == "unweighted":
        return case.graph(index_dtype), None, None
    weight = _weights(rng, case.num_edges, case.ties)
    if weighting == "weight_argument":
        return case.graph(index_dtype), weight, weight
    graph = case.graph(index_dtype, weight)
    return graph, None, graph.edge_weight


# ---------------------------------------------------------------------------- comparisons
def _tolerance(dtype):
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


def _close(actual, expected, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    tol = _tolerance(actual.dtype)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


def _equal(actual, expected, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_array_equal(actual, expected, err_msg=what)


def _same_bits(actual, expected, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    assert actual.tobytes() == expected.tobytes(), f"{what}: results differ bitwise"


def _copies(*arrays):
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def _unchanged(arrays, copies, what):
    for number, (array, copy) in enumerate(zip(arrays, copies)):
        if array is not None:
            assert np.array_equal(np.asarray(array), copy, equal_nan=True), f"{what}: input {number} was modified"


def _check_forward_result(out, arg, ref_out, ref_arg, reduce, what):
    if reduce in ("max", "min"):
        _equal(out, ref_out, what + " out")
        assert out.dtype == ref_out.dtype, f"{what}: dtype {out.dtype}, expected {ref_out.dtype}"
        assert arg is not None, f"{what}: arg is None for {reduce}"
        assert np.asarray(arg).dtype.kind == "i", f"{what}: arg must be integer, got {np.asarray(arg).dtype}"
        _equal(np.asarray(arg).astype(np.int64), ref_arg, what + " arg")
    else:
        _close(out, ref_out, what + " out")
        assert arg is None, f"{what}: arg must be None for {reduce}"


def _combinations(options):
    for case in CASES.values():
        for dtype in options["float_dtypes"]:
            for index_dtype in options["index_dtypes"]:
                for weighting in WEIGHTINGS:
                    yield case, np.dtype(dtype), np.dtype(index_dtype), weighting


# ---------------------------------------------------------------------------- checks: aggregate
def _aggregate_forward(impl, options, reduce):
    for case, dtype, index_dtype, weighting in _combinations(options):
        rng = np.random.default_rng(len(case.name) * 1000 + dtype.itemsize)
        what = f"aggregate {reduce} on {case.name} ({dtype}, {index_dtype}, {weighting})"
        graph, weight_arg, weight = _weighted(case, weighting, index_dtype, rng)
        x = _features(rng, case.num_src_nodes, WIDTH, dtype, case.ties)
        copies = _copies(x, weight_arg)
        out, arg = impl.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
        _unchanged([x, weight_arg], copies, what)
        ref_out, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce, weight)
        _check_forward_result(out, arg, ref_out, ref_arg, reduce, what)
        plain = impl.aggregate(graph, x, reduce, edge_weight=weight_arg)
        _same_bits(plain, out, what + " without return_arg")


def _aggregate_dense(impl, options):
    """sum is A @ X and mean is D^-1 A X with D the edge count of each row (independent of the reference)."""
    for case, dtype, index_dtype, weighting in _combinations(options):
        rng = np.random.default_rng(7)
        graph, weight_arg, weight = _weighted(case, weighting, index_dtype, rng)
        x = _features(rng, case.num_src_nodes, WIDTH, dtype)
        cast = None if weight is None else np.asarray(weight).astype(dtype).astype(np.float64)
        dense = case.dense(cast) @ x.astype(np.float64)
        what = f"aggregate on {case.name} ({dtype}, {index_dtype}, {weighting}) vs dense A @ X"
        _close(impl.aggregate(graph, x, "sum", edge_weight=weight_arg), dense.astype(dtype), what)
        degree = np.diff(case.indptr).astype(np.float64)
        mean = np.divide(dense, degree[:, None], out=np.zeros_like(dense), where=degree[:, None] > 0)
        _close(impl.aggregate(graph, x, "mean", edge_weight=weight_arg), mean.astype(dtype), what + " (mean)")


def _aggregate_backward(impl, options, reduce):
    for case, dtype, index_dtype, weighting in _combinations(options):
        rng = np.random.default_rng(len(case.name) * 1000 + dtype.itemsize + 1)
        what = f"aggregate_backward {reduce} on {case.name} ({dtype}, {index_dtype}, {weighting})"
        graph, weight_arg, weight = _weighted(case, weighting, index_dtype, rng)
        x = _features(rng, case.num_src_nodes, WIDTH, dtype, case.ties)
        grad_out = _features(rng, case.num_dst_nodes, WIDTH, dtype, case.ties)
        _, arg = impl.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
        copies = _copies(x, weight_arg, grad_out, arg)
        grad_x, grad_w = impl.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight_arg, arg=arg,
                                                 need_weight_grad=True)
        _unchanged([x, weight_arg, grad_out, arg], copies, what)
        _, ref_arg = R.aggregate(case.indptr, case.indices, x, reduce, weight)
        ref_grad_x, ref_grad_w = R.aggregate_backward(case.indptr, case.indices, case.num_src_nodes, grad_out,
                                                      reduce, x=x, edge_weight=weight, arg=ref_arg)
        _close(grad_x, ref_grad_x, what + " grad_x")
        _close(grad_w, ref_grad_w, what + " grad_edge_weight")
        alone = impl.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight_arg, arg=arg)
        _close(alone, ref_grad_x, what + " grad_x without need_weight_grad")


def _aggregate_finite_differences(impl, options, reduce):
    """Analytic gradients of x and of the edge weights against central differences (float64, no ties)."""
    from fastgnn.testing.gradients import check_grad

    for name in ("random", "bipartite_more_sources", "duplicate_edges", "empty_rows"):
        case = CASES[name]
        rng = np.random.default_rng(11)
        graph = case.graph(np.int64)
        x = rng.standard_normal((case.num_src_nodes, WIDTH))
        weight = rng.uniform(0.5, 2.0, case.num_edges)
        projection = rng.standard_normal((case.num_dst_nodes, WIDTH))
        _, arg = impl.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True)
        grad_x, grad_w = impl.aggregate_backward(graph, projection, reduce, x=x, edge_weight=weight, arg=arg,
                                                 need_weight_grad=True)

        def loss():
            return float(np.sum(projection * impl.aggregate(graph, x, reduce, edge_weight=weight)))
        try:
            check_grad(loss, [x, weight], [grad_x, grad_w], eps=1e-6, rtol=1e-5, atol=1e-7, max_elements=40)
        except AssertionError as error:
            raise AssertionError(f"aggregate {reduce} on {name}: {error}") from None


def _empty_rows(impl, options):
    """Rows without edges give 0 (arg -1) and pass no gradient; graphs without nodes or edges work."""
    for name in ("empty_graph", "zero_edges", "empty_rows"):
        case = CASES[name]
        empty = np.diff(case.indptr) == 0
        for dtype in options["float_dtypes"]:
            rng = np.random.default_rng(3)
            graph = case.graph(np.int64)
            x = rng.standard_normal((case.num_src_nodes, WIDTH)).astype(dtype)
            for reduce in REDUCES:
                what = f"aggregate {reduce} on {name} ({np.dtype(dtype)})"
                out, arg = impl.aggregate(graph, x, reduce, return_arg=True)
                assert np.asarray(out).shape == (case.num_dst_nodes, WIDTH), f"{what}: shape {np.shape(out)}"
                _equal(np.asarray(out)[empty], np.zeros((int(empty.sum()), WIDTH), dtype), what + " empty rows")
                if reduce in ("max", "min"):
                    _equal(np.asarray(arg)[empty], np.full((int(empty.sum()), WIDTH), -1), what + " arg of empty rows")
                grad_out = np.zeros((case.num_dst_nodes, WIDTH), dtype)
                grad_out[empty] = 1.0  # gradient only on empty rows: nothing may reach x
                grad_x = impl.aggregate_backward(graph, grad_out, reduce, x=x, arg=arg)
                _equal(grad_x, np.zeros((case.num_src_nodes, WIDTH), dtype), what + " gradient from empty rows")


def _expected_extremum(indptr, indices, x, weight, reduce):
    """Scalar loops over the rule of SEMANTICS.md: first edge wins a tie, a NaN message wins."""
    out = np.zeros((indptr.shape[0] - 1, x.shape[1]), dtype=x.dtype)
    arg = np.full(out.shape, -1, dtype=np.int64)
    for i in range(out.shape[0]):
        for k in range(out.shape[1]):
            best = None
            for e in range(int(indptr[i]), int(indptr[i + 1])):
                with np.errstate(invalid="ignore"):
                    message = x.dtype.type(weight[e]) * x[int(indices[e]), k]
                if best is None or (np.isnan(message) and not np.isnan(best)) or (
                        not np.isnan(best) and (message > best if reduce == "max" else message < best)):
                    best, arg[i, k] = message, e
            if best is not None:
                out[i, k] = best
    return out, arg


def _ties_and_nan(impl, options):
    """Ties go to the first edge in CSR order, a NaN message wins and propagates (checked by scalar loops)."""
    tie = _from_edges("tie_rows", [1, 2, 1, 3, 0, 0, 2, 3, 3], [0, 0, 0, 0, 1, 1, 1, 2, 2], 4, 3)
    for dtype in options["float_dtypes"]:
        for index_dtype in options["index_dtypes"]:
            graph = tie.graph(index_dtype)
            x = np.array([[1, 5, -2], [4, 5, 3], [4, 5, -2], [4, 0, 3]], dtype=dtype)  # equal rows and columns
            nan_x = x.copy()
            nan_x[2, 0] = np.nan
            for values, label in ((x, "ties"), (nan_x, "NaN")):
                for reduce in ("max", "min"):
                    what = f"aggregate {reduce} with {label} ({np.dtype(dtype)}, {np.dtype(index_dtype)})"
                    out, arg = impl.aggregate(graph, values, reduce, return_arg=True)
                    expected_out, expected_arg = _expected_extremum(tie.indptr, tie.indices, values,
                                                                    np.ones(tie.num_edges), reduce)
                    _equal(out, expected_out, what + " out")
                    _equal(np.asarray(arg).astype(np.int64), expected_arg, what + " arg")
            case = CASES["ties"]
            graph = case.graph(index_dtype)
            rng = np.random.default_rng(5)
            tied = _features(rng, case.num_src_nodes, 6, dtype, ties=True)
            weight = _weights(rng, case.num_edges, ties=True)
            for reduce in ("max", "min"):
                out, arg = impl.aggregate(graph, tied, reduce, edge_weight=weight, return_arg=True)
                expected_out, expected_arg = _expected_extremum(case.indptr, case.indices, tied, weight, reduce)
                _equal(out, expected_out, f"aggregate {reduce} with many ties")
                _equal(np.asarray(arg).astype(np.int64), expected_arg, f"aggregate {reduce} arg with many ties")


def _duplicate_edges(impl, options):
    """Each copy of an edge counts: in sums, in the mean's degree, in gradients."""
    doubled = _from_edges("doubled", [0, 0, 1, 2, 2, 2], [0, 0, 0, 1, 1, 1], 3, 2)
    single = _from_edges("single", [0, 1, 2], [0, 0, 1], 3, 2)
    for dtype in options["float_dtypes"]:
        x = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 4.0]], dtype=dtype)
        doubled_graph = doubled.graph(np.int64)
        expected_sum = np.array([[5.0, -3.5], [-3.0, 12.0]], dtype=dtype)
        _close(impl.aggregate(doubled_graph, x, "sum"), expected_sum, "sum with duplicate edges")
        _close(impl.aggregate(doubled_graph, x, "mean"), expected_sum / np.array([[3], [3]], dtype=dtype),
               "mean with duplicate edges (degree counts duplicates)")
        weighted = impl.aggregate(single.graph(np.int64), x, "sum", edge_weight=np.array([2.0, 1.0, 3.0]))
        _close(impl.aggregate(doubled_graph, x, "sum"), weighted, "duplicate edges = one edge of weight 2")
        _equal(impl.aggregate(doubled_graph, x, "max"), np.array([[3.0, 0.5], [-1.0, 4.0]], dtype=dtype),
               "max with duplicate edges")
        grad = impl.aggregate_backward(doubled_graph, np.ones((2, 2), dtype), "sum", x=x)
        _close(grad, np.array([[2, 2], [1, 1], [3, 3]], dtype=dtype), "gradient through duplicate edges")


def _one_dimensional(impl, options):
    """1-D features give 1-D results, equal to the (n, 1) case."""
    case = CASES["random"]
    graph = case.graph(np.int64)
    for dtype in options["float_dtypes"]:
        x = np.random.default_rng(2).standard_normal(case.num_src_nodes).astype(dtype)
        for reduce in REDUCES:
            out, arg = impl.aggregate(graph, x, reduce, return_arg=True)
            column, column_arg = impl.aggregate(graph, x.reshape(-1, 1), reduce, return_arg=True)
            assert np.asarray(out).shape == (case.num_dst_nodes,), f"1-D aggregate {reduce}: shape {np.shape(out)}"
            _same_bits(out, np.asarray(column).reshape(-1), f"1-D aggregate {reduce}")
            grad = impl.aggregate_backward(graph, np.ones(case.num_dst_nodes, dtype), reduce, x=x, arg=arg)
            assert np.asarray(grad).shape == (case.num_src_nodes,), f"1-D aggregate_backward {reduce}"


# ---------------------------------------------------------------------------- checks: segment_reduce, edge_dot
_SEGMENT_PTRS = {
    "segments": np.array([0, 3, 3, 7, 8, 12]),
    "one_segment": np.array([0, 12]),
    "all_empty": np.array([0, 0, 0]),
    "no_segments": np.array([0]),
}


def _segment_reduce(impl, options, reduce):
    backward = getattr(impl, "segment_reduce_backward", None)
    for name, ptr in _SEGMENT_PTRS.items():
        for dtype in options["float_dtypes"]:
            rows = int(ptr[-1])
            for ties in (False, True):
                rng = np.random.default_rng(rows + 3 * ties)
                x = _features(rng, rows, WIDTH, np.dtype(dtype), ties)
                what = f"segment_reduce {reduce} on {name} ({np.dtype(dtype)}{', ties' if ties else ''})"
                copies = _copies(x, ptr)
                out, arg = impl.segment_reduce(x, ptr, reduce, return_arg=True)
                _unchanged([x, ptr], copies, what)
                ref_out, ref_arg = R.segment_reduce(x, ptr, reduce)
                _check_forward_result(out, arg, ref_out, ref_arg, reduce, what)
                if backward is not None:
                    grad_out = _features(rng, ptr.shape[0] - 1, WIDTH, np.dtype(dtype))
                    grad = backward(grad_out, ptr, reduce, arg=arg)
                    _close(grad, R.segment_reduce_backward(grad_out, ptr, reduce, ref_arg), what + " backward")


def _edge_dot(impl, options):
    backward = getattr(impl, "edge_dot_backward", None)
    for case in CASES.values():
        for dtype in options["float_dtypes"]:
            for index_dtype in options["index_dtypes"]:
                rng = np.random.default_rng(case.num_edges)
                graph = case.graph(index_dtype)
                a = _features(rng, case.num_dst_nodes, 5, np.dtype(dtype))
                b = _features(rng, case.num_src_nodes, 5, np.dtype(dtype))
                what = f"edge_dot on {case.name} ({np.dtype(dtype)}, {np.dtype(index_dtype)})"
                copies = _copies(a, b)
                out = impl.edge_dot(graph, a, b)
                _unchanged([a, b], copies, what)
                _close(out, R.edge_dot(case.indptr, case.indices, a, b), what)
                dense = np.einsum("ed,ed->e", a[case.destinations()].astype(np.float64),
                                  b[case.indices].astype(np.float64))
                _close(out, dense.astype(dtype), what + " vs gathered rows")
                if backward is not None:
                    grad_out = rng.standard_normal(case.num_edges).astype(dtype)
                    grad_a, grad_b = backward(graph, grad_out, a, b)
                    ref_a, ref_b = R.edge_dot_backward(case.indptr, case.indices, grad_out, a, b)
                    _close(grad_a, ref_a, what + " grad_a")
                    _close(grad_b, ref_b, what + " grad_b")


# ---------------------------------------------------------------------------- checks: determinism
def _large_case():
    rng = np.random.default_rng(99)
    num_nodes, num_edges = 1500, 24000
    src = rng.integers(0, num_nodes, num_edges)
    dst = np.minimum(rng.zipf(1.6, num_edges) - 1, num_nodes - 1)  # a few heavy rows, many empty ones
    return _from_edges("large", src, dst, num_nodes, num_nodes)


def _determinism(impl, options):
    """Bitwise identical results for every thread count and on repeated calls (work above any threshold)."""
    case = _large_case()
    rng = np.random.default_rng(4)
    for dtype in options["float_dtypes"]:
        graph = case.graph(np.int32, rng.uniform(-1, 2, case.num_edges))
        x = rng.standard_normal((case.num_src_nodes, 24)).astype(dtype)
        grad_out = rng.standard_normal((case.num_dst_nodes, 24)).astype(dtype)
        ptr = np.array([0, 10, 10, 700, 1500])
        for reduce in REDUCES:
            results = []
            for threads in tuple(options["thread_counts"]) + (options["thread_counts"][0],):
                out, arg = impl.aggregate(graph, x, reduce, return_arg=True, n_threads=threads)
                grad_x, grad_w = impl.aggregate_backward(graph, grad_out, reduce, x=x, arg=arg,
                                                         need_weight_grad=True, n_threads=threads)
                segment = impl.segment_reduce(x, ptr, reduce, n_threads=threads)
                results.append((threads, [out, arg, grad_x, grad_w, segment]))
            first_threads, first = results[0]
            for threads, arrays in results[1:]:
                for label, array, reference in zip(("out", "arg", "grad_x", "grad_w", "segment"), arrays, first):
                    if reference is None:
                        assert array is None
                        continue
                    _same_bits(array, reference, f"{reduce} {label} with {threads} vs {first_threads} threads "
                                                 f"({np.dtype(dtype)})")
        dots = [impl.edge_dot(graph, grad_out, x, n_threads=t) for t in options["thread_counts"]]
        for threads, dot in zip(options["thread_counts"][1:], dots[1:]):
            _same_bits(dot, dots[0], f"edge_dot with {threads} threads")


# ---------------------------------------------------------------------------- the suite
@dataclass(frozen=True)
class Check:
    """One check of the suite: ``check(impl)`` runs it (AssertionError on failure)."""

    name: str
    function: object = field(repr=False)
    options: dict = field(repr=False, default_factory=dict)
    requires: tuple = ()

    def __call__(self, impl):
        missing = [name for name in ("aggregate",) + self.requires if not callable(getattr(impl, name, None))]
        if missing:
            raise AssertionError(f"{self.name}: the implementation has no {', '.join(missing)}")
        return self.function(impl, self.options)

    def __str__(self):
        return self.name


def checks(*, float_dtypes=FLOAT_DTYPES, index_dtypes=INDEX_DTYPES, thread_counts=(1, 2, 3)):
    """Every check of the suite, bound to these options.

    Parameters
    ----------
    float_dtypes, index_dtypes : sequences of dtypes
        Feature and graph index dtypes to run.
    thread_counts : sequence of int
        ``n_threads`` values whose results must agree bitwise.

    Returns
    -------
    list of Check
    """
    options = {"float_dtypes": tuple(np.dtype(d) for d in float_dtypes),
               "index_dtypes": tuple(np.dtype(d) for d in index_dtypes),
               "thread_counts": tuple(int(t) for t in thread_counts)}
    suite = []

    def add(name, function, *requires):
        suite.append(Check(name, function, options, requires))

    for reduce in REDUCES:
        add(f"aggregate_forward[{reduce}]", lambda impl, o, r=reduce: _aggregate_forward(impl, o, r))
    add("aggregate_dense_product", _aggregate_dense)
    for reduce in REDUCES:
        add(f"aggregate_backward[{reduce}]", lambda impl, o, r=reduce: _aggregate_backward(impl, o, r),
            "aggregate_backward")
        add(f"aggregate_finite_differences[{reduce}]",
            lambda impl, o, r=reduce: _aggregate_finite_differences(impl, o, r), "aggregate_backward")
    add("empty_rows", _empty_rows, "aggregate_backward")
    add("ties_and_nan", _ties_and_nan)
    add("duplicate_edges", _duplicate_edges, "aggregate_backward")
    add("one_dimensional_features", _one_dimensional, "aggregate_backward")
    for reduce in REDUCES:
        add(f"segment_reduce[{reduce}]", lambda impl, o, r=reduce: _segment_reduce(impl, o, r), "segment_reduce")
    add("edge_dot", _edge_dot, "edge_dot")
    add("determinism_across_threads", _determinism, "aggregate_backward", "segment_reduce", "edge_dot")
    return suite


@dataclass
class Report:
    """What :func:`run` did: ``passed``, ``failed`` (name -> message) and ``skipped`` (name -> reason)."""

    passed: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    @property
    def ok(self):
        return not self.failed

    def __str__(self):
        lines = [f"PASS {name}" for name in self.passed]
        lines += [f"SKIP {name}: {reason}" for name, reason in self.skipped.items()]
        lines += [f"FAIL {name}: {message}" for name, message in self.failed.items()]
        lines.append(f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped")
        return "\n".join(lines)


def run(impl, *, raise_on_failure=True, **options):
    """Run every check of the suite on ``impl``.

    Parameters
    ----------
    impl : object
        The implementation (see the module docstring for the protocol).
    raise_on_failure : bool
        Raise ``AssertionError`` listing every failure (else return the report).
    **options
        Passed to :func:`checks` (``float_dtypes``, ``index_dtypes``, ``thread_counts``).

    Returns
    -------
    Report
    """
    report = Report()
    optional = {"segment_reduce_backward": "segment_reduce", "edge_dot_backward": "edge_dot"}
    for name, parent in optional.items():
        if not callable(getattr(impl, name, None)):
            report.skipped[name] = f"not implemented (the {parent} forward is still checked)"
    for check in checks(**options):
        try:
            check(impl)
        except AssertionError as error:
            report.failed[check.name] = str(error).strip().splitlines()[0] if str(error).strip() else "failed"
        else:
            report.passed.append(check.name)
    if raise_on_failure and report.failed:
        raise AssertionError("conformance failures:\n" + "\n".join(
            f"  {name}: {message}" for name, message in report.failed.items()))
    return report
