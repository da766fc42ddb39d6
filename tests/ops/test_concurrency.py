"""Several Python threads calling the kernels at once on shared read-only inputs get the serial results.

Kernels release the GIL, so these calls really overlap (each may also start its own OpenMP team);
the graph's lazily computed caches (transpose, degrees, cast weights) may be filled by several
threads at once. Results must be bitwise identical to serial calls. That the GIL is released is
checked by behaviour (another thread runs Python while a kernel runs); the speed-up from two
threads is measured in ``bench/test_interop.py``, never asserted here.
"""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastgnn

REDUCES = ["sum", "mean", "max", "min"]
NUM_THREADS = 6
ROUNDS = 3


def _frozen(array):
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def _inputs(seed=0, num_nodes=3000, num_edges=60000, width=32):
    rng = np.random.default_rng(seed)
    edge_index = np.stack([rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)])
    weight = _frozen(rng.uniform(-1, 2, num_edges))
    x = _frozen(rng.standard_normal((num_nodes, width)).astype(np.float32))
    grad = _frozen(rng.standard_normal((num_nodes, width)).astype(np.float32))
    ptr = _frozen(np.array([0, 5, 5, num_nodes // 3, num_nodes - 1, num_nodes]))
    return edge_index, weight, x, grad, ptr


def _work(graph, weight, x, grad, ptr, reduce, n_threads):
    """Every op and backward; returns the results as a list of arrays."""
    out, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True, n_threads=n_threads)
    grad_x, grad_w = fastgnn.aggregate_backward(graph, grad, reduce, x=x, edge_weight=weight, arg=arg,
                                                need_weight_grad=True, n_threads=n_threads)
    own = fastgnn.aggregate(graph, x, reduce, n_threads=n_threads)  # the graph's own weights (cached cast)
    segment, segment_arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True, n_threads=n_threads)
    segment_grad = fastgnn.segment_reduce_backward(grad[:ptr.shape[0] - 1], ptr, reduce, arg=segment_arg,
                                                   n_threads=n_threads)
    dot = fastgnn.edge_dot(graph, grad, x, n_threads=n_threads)
    grad_a, grad_b = fastgnn.edge_dot_backward(graph, dot, grad, x, n_threads=n_threads)
    return [out, arg, grad_x, grad_w, own, segment, segment_arg, segment_grad, dot, grad_a, grad_b]


def _assert_same(results, expected, label):
    for position, (array, reference) in enumerate(zip(results, expected)):
        if reference is None:
            assert array is None
            continue
        assert array.dtype == reference.dtype and array.shape == reference.shape
        assert array.tobytes() == reference.tobytes(), f"{label}: result {position} differs from the serial call"


@pytest.mark.parametrize("n_threads", [1, 2])
def test_threads_calling_every_op_at_once_match_serial_calls(n_threads):
    edge_index, weight, x, grad, ptr = _inputs()
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=x.shape[0], edge_weight=weight)
    expected = {reduce: _work(graph, weight, x, grad, ptr, reduce, 1) for reduce in REDUCES}
    for _ in range(ROUNDS):
        # A fresh graph each round: its caches are filled concurrently by the first calls.
        fresh = fastgnn.Graph.from_edge_index(edge_index, num_nodes=x.shape[0], edge_weight=weight)
        barrier = threading.Barrier(NUM_THREADS)

        def task(number):
            reduce = REDUCES[number % len(REDUCES)]
            barrier.wait()
            return reduce, _work(fresh, weight, x, grad, ptr, reduce, n_threads)

        with ThreadPoolExecutor(NUM_THREADS) as pool:
            for reduce, results in pool.map(task, range(NUM_THREADS)):
                _assert_same(results, expected[reduce], f"{reduce} with {n_threads} OpenMP threads per call")


def test_many_small_concurrent_calls():
    """Small calls (below the parallel threshold) from many threads, interleaved many times."""
    edge_index, weight, x, grad, ptr = _inputs(seed=1, num_nodes=50, num_edges=300, width=4)
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=50)
    expected = fastgnn.aggregate(graph, x, "max", edge_weight=weight)

    def task(_):
        return [fastgnn.aggregate(graph, x, "max", edge_weight=weight) for _ in range(200)]

    with ThreadPoolExecutor(NUM_THREADS) as pool:
        for results in pool.map(task, range(NUM_THREADS)):
            for result in results:
                assert result.tobytes() == expected.tobytes()


def test_shared_inputs_are_never_written():
    edge_index, weight, x, grad, ptr = _inputs(seed=2, num_nodes=500, num_edges=5000, width=8)
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=500)
    copies = [a.copy() for a in (weight, x, grad, ptr)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda r: _work(graph, weight, x, grad, ptr, r, 2), REDUCES * 2))
    for array, copy in zip((weight, x, grad, ptr), copies):
        np.testing.assert_array_equal(array, copy)


def test_torch_adapter_from_several_threads():
    torch = pytest.importorskip("torch")
    from fastgnn.interop import torch as ft

    edge_index, weight, x, grad, ptr = _inputs(seed=3, num_nodes=2000, num_edges=40000, width=16)
    edge_index_t = torch.from_numpy(edge_index)
    x_t = torch.from_numpy(np.array(x))

    def task(reduce):
        x_leaf = x_t.clone().requires_grad_()
        out = ft.aggregate(edge_index_t, x_leaf, reduce, num_nodes=2000)
        out.backward(torch.from_numpy(np.array(grad)))
        return reduce, out.detach(), x_leaf.grad

    expected = {reduce: task(reduce)[1:] for reduce in REDUCES}
    ft.clear_cache()  # the graph handle is built concurrently too
    with ThreadPoolExecutor(NUM_THREADS) as pool:
        for reduce, out, grad_x in pool.map(task, REDUCES * 3):
            assert torch.equal(out, expected[reduce][0]) and torch.equal(grad_x, expected[reduce][1])


def _python_runs_during(call, repeats=5):
    """How many times another thread ran Python code while ``call`` was inside C.

    The switch interval is made huge, so the calling thread keeps the GIL whenever it runs Python
    and gives it up only where C code releases it; the other thread yields after each step
    (``sleep(0)``). A call that holds the GIL throughout therefore sees no step of the other
    thread inside it, whatever the machine's load; one that releases it sees many.
    """
    intervals, ticks, done = [], [], threading.Event()

    def calling_thread():
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            intervals.append((start, time.perf_counter()))
        done.set()

    def python_thread():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        workers = [threading.Thread(target=python_thread), threading.Thread(target=calling_thread)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(previous)
    ticks = np.array(ticks)
    return sum(int(np.count_nonzero((ticks > start) & (ticks < end))) for start, end in intervals)


def test_the_gil_probe_sees_a_call_that_holds_the_gil():
    data = list(np.random.default_rng(0).random(300_000))
    assert _python_runs_during(lambda: sorted(data), repeats=3) == 0


@pytest.mark.parametrize("op", ["aggregate_sum", "aggregate_max", "aggregate_backward_max", "edge_dot",
                                "segment_reduce"])
def test_kernels_release_the_gil(op):
    """While one thread is inside a kernel, another thread runs Python code (not a timing assertion)."""
    rng = np.random.default_rng(5)
    num_nodes, num_edges = 20000, 400000
    edge_index = np.stack([rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)])
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=num_nodes)
    graph.transpose_csr()
    x = rng.standard_normal((num_nodes, 64)).astype(np.float32)
    big = np.repeat(x, 20, axis=0)
    _, arg = fastgnn.aggregate(graph, x, "max", return_arg=True)
    calls = {
        "aggregate_sum": lambda: fastgnn.aggregate(graph, x, "sum", n_threads=1),
        "aggregate_max": lambda: fastgnn.aggregate(graph, x, "max", n_threads=1),
        "aggregate_backward_max": lambda: fastgnn.aggregate_backward(graph, x, "max", arg=arg, n_threads=1),
        "edge_dot": lambda: fastgnn.edge_dot(graph, x, x, n_threads=1),
        "segment_reduce": lambda: fastgnn.segment_reduce(big, [0, big.shape[0]], "max", n_threads=1),
    }
    assert _python_runs_during(calls[op]) > 0, f"another thread ran no Python during {op}: the GIL was held"
