"""Memory: repeated calls do not grow the process, and no op allocates anything of size edges x features.

* 10,000 repeated small calls (every op, forward and backward, and the torch adapter) leave the
  resident set size (``/proc/self/statm``) within a small bound after a warm-up.
* ``tracemalloc`` (NumPy reports its buffers to it) records the peak of each op on a graph where
  ``E * d`` dwarfs ``N * d + E``: the peak must stay O(N d + E), far below ``E * d * itemsize``.
  (Peak memory of each op at benchmark scale is recorded in ``bench/test_interop.py``.)
"""
import gc
import os
import tracemalloc

import numpy as np
import pytest

import fastgnn

REDUCES = ["sum", "mean", "max", "min"]


def _resident_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _small_inputs():
    rng = np.random.default_rng(0)
    edge_index = np.stack([rng.integers(0, 40, 200), rng.integers(0, 40, 200)])
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=40)
    weight = rng.uniform(0.5, 2, 200)
    x = rng.standard_normal((40, 8)).astype(np.float32)
    return graph, weight, x


def _small_calls(graph, weight, x, count):
    ptr = np.array([0, 10, 10, 40])
    for number in range(count):
        reduce = REDUCES[number % 4]
        out, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True)
        fastgnn.aggregate_backward(graph, out, reduce, x=x, edge_weight=weight, arg=arg, need_weight_grad=True)
        segment, segment_arg = fastgnn.segment_reduce(x, ptr, reduce, return_arg=True)
        fastgnn.segment_reduce_backward(segment, ptr, reduce, arg=segment_arg)
        dot = fastgnn.edge_dot(graph, out, x)
        fastgnn.edge_dot_backward(graph, dot, out, x)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux)")
def test_repeated_calls_do_not_grow_the_process():
    graph, weight, x = _small_inputs()
    _small_calls(graph, weight, x, 1000)  # warm up: caches, allocator pools
    gc.collect()
    before = _resident_bytes()
    _small_calls(graph, weight, x, 10_000)
    gc.collect()
    growth = _resident_bytes() - before
    # A leak of even 100 bytes per call would show as 6 ops x 10,000 calls x 100 B = 6 MB.
    assert growth < 4 << 20, f"resident memory grew by {growth / 2**20:.1f} MiB over 10,000 calls"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux)")
def test_repeated_torch_adapter_calls_do_not_grow_the_process():
    torch = pytest.importorskip("torch")
    from fastgnn.interop import torch as ft

    ft.clear_cache()
    graph, weight, x = _small_inputs()
    edge_index = torch.from_numpy(graph.to_edge_index())
    x_t = torch.from_numpy(x).requires_grad_()
    w_t = torch.from_numpy(weight.astype(np.float32)).requires_grad_()

    def calls(count):
        for number in range(count):
            out = ft.aggregate(edge_index, x_t, REDUCES[number % 4], w_t, num_nodes=40)
            out.sum().backward()
        x_t.grad = w_t.grad = None

    calls(1000)
    gc.collect()
    before = _resident_bytes()
    calls(10_000)
    gc.collect()
    growth = _resident_bytes() - before
    assert growth < 8 << 20, f"resident memory grew by {growth / 2**20:.1f} MiB over 10,000 adapter calls"
    assert ft.cache_info()["graphs"] == 1  # one handle, reused


def _peak_of(function):
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before, result


@pytest.fixture(scope="module")
def big_graph():
    """E * d * 4 bytes = 100 MiB of (never built) messages, against N * d * 4 = 1 MiB of features."""
    rng = np.random.default_rng(1)
    num_nodes, num_edges, width = 2048, 204_800, 128
    edge_index = np.stack([rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)])
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=num_nodes)
    graph.transpose_csr()  # the graph's own O(E) caches, built once, not per call
    weight = rng.uniform(0.5, 2, num_edges).astype(np.float32)
    x = rng.standard_normal((num_nodes, width)).astype(np.float32)
    return graph, weight, x


def _budget(graph, x):
    """O(N d + E): a few feature-sized arrays and a few edge-sized arrays, and far below E d."""
    n_d = x.shape[0] * x.shape[1] * x.itemsize
    e = graph.num_edges * 8
    messages = graph.num_edges * x.shape[1] * x.itemsize
    return min(6 * n_d + 4 * e, messages // 10), messages


@pytest.mark.parametrize("reduce", REDUCES)
def test_aggregate_peak_memory_is_not_edges_times_features(big_graph, reduce):
    graph, weight, x = big_graph
    budget, messages = _budget(graph, x)
    peak, (out, arg) = _peak_of(lambda: fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True))
    assert peak < budget, f"forward peak {peak / 2**20:.1f} MiB (E*d = {messages / 2**20:.0f} MiB)"
    peak, _ = _peak_of(lambda: fastgnn.aggregate_backward(graph, out, reduce, x=x, edge_weight=weight, arg=arg,
                                                          need_weight_grad=True))
    assert peak < budget, f"backward peak {peak / 2**20:.1f} MiB (E*d = {messages / 2**20:.0f} MiB)"


def test_edge_dot_and_segment_peak_memory(big_graph):
    graph, weight, x = big_graph
    budget, messages = _budget(graph, x)
    peak, dot = _peak_of(lambda: fastgnn.edge_dot(graph, x, x))
    assert peak < budget, f"edge_dot peak {peak / 2**20:.1f} MiB"
    peak, _ = _peak_of(lambda: fastgnn.edge_dot_backward(graph, dot, x, x))
    assert peak < budget, f"edge_dot_backward peak {peak / 2**20:.1f} MiB"
    ptr = np.linspace(0, x.shape[0], 9).astype(np.int64)
    peak, _ = _peak_of(lambda: fastgnn.segment_reduce(x, ptr, "max"))
    assert peak < 2 * x.nbytes


def test_torch_adapter_peak_memory_is_not_edges_times_features(big_graph):
    torch = pytest.importorskip("torch")
    from fastgnn.interop import torch as ft

    graph, weight, x = big_graph
    budget, messages = _budget(graph, x)
    x_t = torch.from_numpy(x).requires_grad_()
    w_t = torch.from_numpy(weight).requires_grad_()

    def forward_backward():
        out = ft.aggregate(graph, x_t, "max", w_t)
        out.backward(torch.ones_like(out))
        return out

    forward_backward()  # the first call may build caches
    # NumPy buffers are traced; torch's own allocations are not, so also bound torch's bookkeeping
    # indirectly: the only E-sized torch tensors are the weights and their gradient.
    peak, _ = _peak_of(forward_backward)
    assert peak < budget, f"adapter forward+backward peak {peak / 2**20:.1f} MiB"
