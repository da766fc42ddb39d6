"""Thread-count resolution, and results bitwise identical for any number of threads."""
import numpy as np
import pytest

import fastgnn
from fastgnn._runtime import threads as _threads
from fastgnn._kernels import _common

NUM_NODES = 4000
NUM_EDGES = 30000
WIDTH = 24


def test_set_and_get_num_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    default = fastgnn.get_num_threads()
    assert default >= 1
    fastgnn.set_num_threads(3)
    assert fastgnn.get_num_threads() == 3
    fastgnn.set_num_threads(np.int64(2))
    assert fastgnn.get_num_threads() == 2
    fastgnn.set_num_threads(None)
    assert fastgnn.get_num_threads() == default


def test_omp_num_threads_is_the_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert fastgnn.get_num_threads() == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # nested list: the outer level
    assert fastgnn.get_num_threads() == 4
    fastgnn.set_num_threads(2)  # an explicit setting wins over the environment
    assert fastgnn.get_num_threads() == 2
    fastgnn.set_num_threads(None)
    monkeypatch.setenv("OMP_NUM_THREADS", "nonsense")  # ignored, not an error
    monkeypatch.delenv("OMP_NUM_THREADS")
    expected = fastgnn.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "nonsense")
    assert fastgnn.get_num_threads() == expected


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                        (True, TypeError), ("2", TypeError)])
def test_invalid_thread_counts(bad, error):
    with pytest.raises(error, match="n_threads"):
        fastgnn.set_num_threads(bad)
    graph = fastgnn.Graph.from_csr([0, 1], [0])
    with pytest.raises(error, match="n_threads"):
        fastgnn.aggregate(graph, np.ones((1, 2)), n_threads=bad)


def test_small_work_runs_on_one_thread():
    assert _threads.resolve_num_threads(4, _threads.PARALLEL_WORK_THRESHOLD - 1) == 1
    expected = 4 if _common.openmp_enabled() else 1
    assert _threads.resolve_num_threads(4, _threads.PARALLEL_WORK_THRESHOLD) == expected
    fastgnn.set_num_threads(3)
    assert _threads.resolve_num_threads(None, 10 * _threads.PARALLEL_WORK_THRESHOLD) == (
        3 if _common.openmp_enabled() else 1)


def _power_law_graph(rng, index_dtype):
    """In-degrees from a heavy tail, so edge-balanced chunks differ from node-balanced ones."""
    popularity = rng.pareto(1.5, NUM_NODES) + 1
    dst = rng.choice(NUM_NODES, NUM_EDGES, p=popularity / popularity.sum())
    src = rng.integers(0, NUM_NODES, NUM_EDGES)
    return fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_nodes=NUM_NODES, index_dtype=index_dtype)


def _every_op(graph, x, grad_out, weight, ptr, n_threads):
    """All results of every op and backward, computed with ``n_threads`` threads."""
    results = []
    for reduce in ("sum", "mean", "max", "min"):
        out, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True, n_threads=n_threads)
        grad_x, grad_w = fastgnn.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=weight, arg=arg,
                                                    need_weight_grad=True, n_threads=n_threads)
        results += [out, grad_x, grad_w] + ([] if arg is None else [arg])
        out, arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True, n_threads=n_threads)
        results += [out, fastgnn.segment_reduce_backward(out, ptr, reduce, arg=arg, n_threads=n_threads)]
    scores = fastgnn.edge_dot(graph, grad_out, x, n_threads=n_threads)
    results += [scores, *fastgnn.edge_dot_backward(graph, scores, grad_out, x, n_threads=n_threads)]
    return results


@pytest.mark.parametrize("float_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_results_are_bitwise_identical_for_any_thread_count(float_dtype, index_dtype, monkeypatch):
    # A small graph keeps the test fast; lower the threshold so it still runs in parallel.
    monkeypatch.setattr(_threads, "PARALLEL_WORK_THRESHOLD", 1 << 16)
    rng = np.random.default_rng(7)
    graph = _power_law_graph(rng, index_dtype)
    x = rng.standard_normal((NUM_NODES, WIDTH)).astype(float_dtype)
    grad_out = rng.standard_normal((NUM_NODES, WIDTH)).astype(float_dtype)
    weight = rng.uniform(-1, 2, NUM_EDGES)
    ptr = np.concatenate([[0], np.sort(rng.integers(0, NUM_NODES, 40)), [NUM_NODES]])
    if _common.openmp_enabled():
        # The smallest call above must really run on 2 threads, or this test proves nothing.
        smallest_work = (NUM_NODES + len(ptr) - 1) * WIDTH
        assert _threads.resolve_num_threads(2, smallest_work) == 2
    serial = _every_op(graph, x, grad_out, weight, ptr, 1)
    for n_threads in (2, 3):
        parallel = _every_op(graph, x, grad_out, weight, ptr, n_threads)
        assert len(parallel) == len(serial)
        for a, b in zip(serial, parallel):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes()


def test_default_thread_setting_gives_the_same_bits():
    rng = np.random.default_rng(8)
    graph = _power_law_graph(rng, np.int32)
    x = rng.standard_normal((NUM_NODES, WIDTH)).astype(np.float32)
    fastgnn.set_num_threads(1)
    serial = fastgnn.aggregate(graph, x, "mean")
    fastgnn.set_num_threads(2)
    assert fastgnn.aggregate(graph, x, "mean").tobytes() == serial.tobytes()


def test_limit_blas_threads_restores_the_previous_count():
    before = fastgnn.get_blas_threads()
    with fastgnn.limit_blas_threads(1):
        inside = fastgnn.get_blas_threads()
        product = np.ones((64, 64)) @ np.ones((64, 64))
    assert fastgnn.get_blas_threads() == before
    assert inside in (1, None) and (before is None) == (inside is None)
    np.testing.assert_array_equal(product, np.full((64, 64), 64.0))


def _run_isolated(code):
    """Run ``code`` in a fresh interpreter: a libgomp abort or a segfault fails the test cleanly."""
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("count", [100_000, 5000, 2 ** 31, 2 ** 63, 2 ** 70])
def test_huge_thread_counts_are_refused_not_crashed(count):
    code = f"""
import numpy as np, fastgnn
graph = fastgnn.Graph.from_csr(np.arange(2001) * 1000, np.zeros(2_000_000, np.int64), num_src_nodes=1)
x = np.ones((1, 64), np.float32)
for attempt in (lambda: fastgnn.set_num_threads({count}),
                lambda: fastgnn.aggregate(graph, x, n_threads={count})):
    try:
        attempt()
    except ValueError as error:
        assert "n_threads" in str(error) and "at most" in str(error), error
    else:
        raise SystemExit("accepted {count} threads")
print("ok")
"""
    result = _run_isolated(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_thread_cap_allows_oversubscription():
    cap = _threads.max_num_threads()
    assert cap >= _threads.MIN_THREAD_CAP
    fastgnn.set_num_threads(cap)
    assert fastgnn.get_num_threads() == cap
    with pytest.raises(ValueError, match="at most"):
        fastgnn.set_num_threads(cap + 1)


def test_omp_num_threads_above_the_cap_is_lowered(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", str(10 ** 6))
    assert fastgnn.get_num_threads() == _threads.max_num_threads()


def test_broken_index_is_a_type_error():
    class Broken:
        def __index__(self):
            raise RuntimeError("broken")

    with pytest.raises(TypeError, match="n_threads"):
        fastgnn.set_num_threads(Broken())
