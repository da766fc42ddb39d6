"""fastgnn.aggregate over a graph whose late source rows arrive after the ready rows are computed.

The late rows are NaN until the barrier's ``wait()`` fills them: a row read
too early gives NaN, and the result must be bitwise the one without a barrier.
"""
import numpy as np
import pytest

import fastgnn
from fastgnn.graph.pending import PendingSources, ready_rows
from fastgnn.ops import reference as R
from graph_cases import REDUCES, assert_close, make_features, weighted_graph


def _late(x, first_column, ready):
    """``(x with rows from first_column on NaN, a barrier that restores them, a list of waits)``."""
    x_pending = np.array(x, order="C")
    late = x_pending[first_column:].copy()
    x_pending[first_column:] = np.nan
    waits = []

    def wait():
        waits.append(True)
        x_pending[first_column:] = late
    return x_pending, PendingSources(first_column, ready, wait), waits


def _misaligned(x):
    """``x`` copied to an address 8 bytes past a 64-byte boundary (the kernels gather an aligned copy)."""
    buffer = np.empty(x.nbytes + 128, dtype=np.uint8)
    start = (-buffer.ctypes.data) % 64 + 8
    view = buffer[start:start + x.nbytes].view(x.dtype).reshape(x.shape)
    view[...] = x
    return view


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("width", [3, 8, 40])
def test_pending_rows_give_the_bits_of_a_graph_without_barrier(case, reduce, width, float_dtype, index_dtype,
                                                             weighting, rng):
    graph, weight_arg, weight = weighted_graph(case, weighting, index_dtype, rng)
    x = make_features(rng, case.num_src_nodes, width, float_dtype, case.ties)
    want, want_arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight_arg, return_arg=True)
    # late from the middle, every row late (k = 0), no row late (k = n); 3 wide: gathered in place,
    # 8 wide: a padded copy, 40 wide and misaligned: an aligned copy (each copied in two parts)
    for first in (case.num_src_nodes // 2, 0, case.num_src_nodes):
        ready = ready_rows(graph, first)
        if first == case.num_src_nodes:
            assert ready == case.num_dst_nodes
        for threads, layout in ((1, "aligned"), (3, "aligned"), (2, "misaligned")):
            x_pending, pending, waits = _late(x, first, ready)
            if layout == "misaligned":
                x_pending = _misaligned(x_pending)
                pending = PendingSources(first, ready, lambda: (waits.append(True),
                                                                x_pending.__setitem__(slice(first, None),
                                                                                      x[first:])))
            late_graph = graph.with_pending_sources(pending)
            out, arg = fastgnn.aggregate(late_graph, x_pending, reduce, edge_weight=weight_arg, return_arg=True,
                                         n_threads=threads)
            np.testing.assert_array_equal(out, want, strict=True)
            if want_arg is None:
                assert arg is None
            else:
                np.testing.assert_array_equal(arg, want_arg, strict=True)
            # waited for exactly when some row reads a late source
            assert len(waits) == (1 if ready < case.num_dst_nodes else 0)
    ref_out, _ = R.aggregate(case.indptr, case.indices, x, reduce, weight)
    assert_close(want, ref_out)


def test_ready_rows_counts_the_leading_rows_before_the_first_late_column():
    indptr = np.array([0, 2, 2, 4, 5, 7])
    indices = np.array([0, 1, 1, 3, 2, 0, 4])
    graph = fastgnn.Graph.from_csr(indptr, indices, num_src_nodes=5)
    brute = [next((r for r in range(5) if np.any(indices[indptr[r]:indptr[r + 1]] >= c)), 5) for c in range(6)]
    assert [ready_rows(graph, c) for c in range(6)] == brute == [0, 0, 2, 2, 4, 5]


def test_other_operations_wait_first():
    graph = fastgnn.Graph.from_csr(np.array([0, 2, 3]), np.array([0, 2, 1]), num_src_nodes=3)
    x, pending, waits = _late(np.arange(6.0).reshape(3, 2), 1, 0)
    x_columns = np.asfortranarray(x)            # aggregate converts it to rows: a copy, after waiting
    pending = PendingSources(1, 0, lambda: (waits.append(True), x_columns.__setitem__(slice(1, None), [[2, 3], [4, 5]])))
    late_graph = graph.with_pending_sources(pending)
    got = fastgnn.aggregate(late_graph, x_columns, "sum")
    np.testing.assert_array_equal(got, fastgnn.aggregate(graph, np.arange(6.0).reshape(3, 2), "sum"))
    assert waits == [True]
    x, pending, waits = _late(np.arange(6.0).reshape(3, 2), 1, 0)
    fastgnn.ops.edge_dot(graph.with_pending_sources(pending), np.ones((2, 2)), x)
    assert waits == [True] and late_graph.pending_sources is None


def test_the_barrier_waits_once_and_keeps_its_error():
    calls = []
    pending = PendingSources(1, 0, lambda: calls.append("exchange"))
    after = pending.then(lambda: calls.append("product"))
    after.wait()
    after.wait()
    pending.wait()
    assert calls == ["exchange", "product"] and pending.done and after.done

    def fail():
        calls.append("failed")
        raise RuntimeError("the exchange failed")
    broken = PendingSources(1, 0, fail)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="the exchange failed"):
            broken.wait()
    assert calls.count("failed") == 1


def test_with_pending_sources_checks_its_argument_and_shares_the_caches():
    graph = fastgnn.Graph.from_csr(np.array([0, 2, 3]), np.array([0, 2, 1]), num_src_nodes=3)
    transpose = graph.transpose_csr()
    late = graph.with_pending_sources(PendingSources(2, 1, lambda: None))
    assert late.transpose_csr() is transpose and late == graph and graph.pending_sources is None
    assert late.with_edge_weight(np.ones(3)).pending_sources is None       # a derived graph carries no barrier
    with pytest.raises(TypeError, match="pending must be a PendingSources"):
        graph.with_pending_sources(lambda: None)
    with pytest.raises(ValueError, match="past the graph's 3 source and 2 destination nodes"):
        graph.with_pending_sources(PendingSources(4, 0, lambda: None))
    with pytest.raises(TypeError, match="wait must be callable"):
        PendingSources(1, 0, None)
    with pytest.raises(ValueError, match="must be >= 0"):
        PendingSources(-1, 0, lambda: None)
