"""The machine probes of :mod:`fastgnn.bench.machine`: results against NumPy, thread and prefetch
independence, every edge case of the graph suite, and bad arguments refused with a clear error.

No timing is asserted here (benchmarks live in ``bench/``).
"""
import numpy as np
import pytest

import fastgnn
from fastgnn.bench import machine
from graph_cases import CASES, assert_unchanged, snapshot, strided

WIDTHS = [1, 3, 4, 8, 16, 17, 32, 64, 100, 128, 256]


def _reference(case, x, transpose=False):
    """The unweighted sum aggregation in CSR order, in NumPy (np.add.at adds in index order)."""
    rows, sources = case.destinations(), case.indices
    n_rows = case.num_dst_nodes
    if transpose:
        rows, sources, n_rows = sources, rows, case.num_src_nodes
        order = np.argsort(rows, kind="stable")
        rows, sources = rows[order], sources[order]
    out = np.zeros((n_rows, x.shape[1]), dtype=x.dtype)
    np.add.at(out, rows, x[sources])
    return out


def _features(rng, rows, d, dtype):
    # integer values: every sum is exact, so the comparison can be bitwise
    return rng.integers(-8, 9, (rows, d)).astype(dtype)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gather_floor_equals_numpy_on_every_case(name, float_dtype, index_dtype, rng):
    case = CASES[name]
    graph = case.graph(index_dtype)
    x = _features(rng, case.num_src_nodes, 5, float_dtype)
    out = machine.gather_floor(graph, x)
    np.testing.assert_array_equal(out, _reference(case, x), strict=True)
    g = _features(rng, case.num_dst_nodes, 5, float_dtype)
    back = machine.gather_floor(graph, g, transpose=True)
    np.testing.assert_array_equal(back, _reference(case, g, transpose=True), strict=True)


@pytest.mark.parametrize("d", WIDTHS)
def test_every_width_and_the_checksum(d, float_dtype, index_dtype, rng):
    case = CASES["random"]
    graph = case.graph(index_dtype)
    x = rng.standard_normal((case.num_src_nodes, d)).astype(float_dtype)
    out = machine.gather_floor(graph, x)
    expected = _reference(case, x)
    np.testing.assert_array_equal(out, expected)    # the same additions in the same order
    assert float(out.astype(np.float64).sum()) == pytest.approx(float(x[case.indices].astype(np.float64).sum()),
                                                                rel=1e-4, abs=1e-3)
    assert np.array_equal(out, fastgnn.aggregate(graph, x, "sum"))


def test_same_bits_for_any_thread_count_and_prefetch_distance(rng):
    edge_index = rng.integers(0, 3000, (2, 40_000))
    graph = fastgnn.Graph.from_edge_index(edge_index, 3000)
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    first = machine.gather_floor(graph, x, n_threads=1)
    for threads in (2, 3):
        np.testing.assert_array_equal(machine.gather_floor(graph, x, n_threads=threads), first)
    for distance in (1, 7, 1000):
        np.testing.assert_array_equal(machine.gather_floor(graph, x, n_threads=2, distance=distance), first)


def test_out_buffer_and_inputs_left_alone(rng):
    case = CASES["isolated_nodes"]
    graph = case.graph()
    x = _features(rng, case.num_src_nodes, 16, np.float32)
    view = strided(x)
    copies = snapshot(view)
    out = np.full((case.num_dst_nodes, 16), np.nan, dtype=np.float32)
    assert machine.gather_floor(graph, view, out=out) is out
    np.testing.assert_array_equal(out, _reference(case, x))     # empty rows written as zeros
    assert_unchanged([view], copies)


def test_floor_call_forward_and_backward(rng):
    case = CASES["random"]
    graph = case.graph()
    x = rng.standard_normal((case.num_src_nodes, 64)).astype(np.float32)
    g = rng.standard_normal((case.num_dst_nodes, 64)).astype(np.float32)
    forward = machine.floor_call(graph, x, g, n_threads=2)
    np.testing.assert_array_equal(forward(), _reference(case, x))
    both = machine.floor_call(graph, x, g, n_threads=2, pass_="forward_backward")
    np.testing.assert_array_equal(both(), _reference(case, g, transpose=True))
    assert both() is both()                           # one buffer, reused by every call
    with pytest.raises(ValueError, match="pass_"):
        machine.floor_call(graph, x, g, pass_="backward")


@pytest.mark.parametrize("call, error, needle", [
    (lambda g, x: machine.gather_floor(g.to_scipy(), x), TypeError, "graph"),
    (lambda g, x: machine.gather_floor(g, x[:-1]), ValueError, "x must have"),
    (lambda g, x: machine.gather_floor(g, x.astype(np.int32)), TypeError, "x must have dtype"),
    (lambda g, x: machine.gather_floor(g, x[:, 0]), ValueError, "x must be 2-D"),
    (lambda g, x: machine.gather_floor(g, x, out=np.empty((3, 4), np.float32)), ValueError, "out must have shape"),
    (lambda g, x: machine.gather_floor(g, x, out=np.empty((25, 4))), TypeError, "out must have dtype"),
    (lambda g, x: machine.gather_floor(g, x, out=x), ValueError, "out must not share"),
    (lambda g, x: machine.gather_floor(g, x, distance=0), ValueError, "distance"),
    (lambda g, x: machine.gather_floor(g, x, distance=2.5), TypeError, "distance"),
    (lambda g, x: machine.gather_floor(g, x, distance=True), TypeError, "distance"),
    (lambda g, x: machine.gather_floor(g, x, n_threads=0), ValueError, "n_threads"),
    (lambda g, x: machine.gather_floor(g, x, n_threads=10**6), ValueError, "n_threads"),
])
def test_gather_floor_refuses_bad_arguments(call, error, needle):
    graph = CASES["random"].graph()
    x = np.ones((25, 4), dtype=np.float32)
    copies = snapshot(x)
    with pytest.raises(error, match=needle):
        call(graph, x)
    assert_unchanged([x], copies)


@pytest.mark.parametrize("n", [0, 1, 7, 1001])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stream_triad_is_b_plus_scalar_times_c(n, threads, rng):
    b, c = rng.standard_normal(n), rng.standard_normal(n)
    a = np.full(n, np.nan)
    assert machine.stream_triad(a, b, c, 3.0, n_threads=threads) is a
    np.testing.assert_array_equal(a, b + 3.0 * c)


@pytest.mark.parametrize("make, error, needle", [
    (lambda a, b, c: (list(a), b, c), TypeError, "a must be a numpy.ndarray"),
    (lambda a, b, c: (a.astype(np.float32), b, c), TypeError, "a must have dtype float64"),
    (lambda a, b, c: (a, b.astype(np.float32), c), TypeError, "b must have dtype float64"),
    (lambda a, b, c: (a, b, c[:-1]), ValueError, "c must have length"),
    (lambda a, b, c: (a.reshape(2, -1), b, c), ValueError, "a must be 1-D"),
    (lambda a, b, c: (a, np.repeat(b, 2)[::2], c), ValueError, "b must be contiguous"),
    (lambda a, b, c: (a, a, c), ValueError, "share memory"),
])
def test_stream_triad_refuses_bad_arrays(make, error, needle):
    a, b, c = np.zeros(8), np.ones(8), np.ones(8)
    with pytest.raises(error, match=needle):
        machine.stream_triad(*make(a, b, c))


def test_stream_triad_refuses_a_read_only_output_and_a_bad_scalar():
    a, b, c = np.zeros(8), np.ones(8), np.ones(8)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="a must be writeable"):
        machine.stream_triad(a, b, c)
    with pytest.raises(TypeError, match="scalar"):
        machine.stream_triad(np.zeros(8), b, c, "three")


def test_measure_triad_reports_streams_count():
    rec = machine.measure_triad(2**20, n_threads=2, repeat=2)
    assert rec["n_elements"] == 2**17 and rec["bytes"] == 24 * 2**17
    assert len(rec["runs_ms"]) == 2 and rec["gbytes_per_s"] > 0 and rec["best_gbytes_per_s"] >= rec["gbytes_per_s"]
    with pytest.raises(ValueError, match="array_bytes"):
        machine.measure_triad(4)
    with pytest.raises(ValueError, match="repeat"):
        machine.measure_triad(2**10, repeat=0)


def test_prefetch_distance_keeps_about_12_kib_in_flight():
    assert machine.prefetch_distance(64, 4) == 48
    assert machine.prefetch_distance(1, 4) == 64 and machine.prefetch_distance(4096, 8) == 4
    assert machine.prefetch_distance(0) == 64
