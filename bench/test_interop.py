"""Benchmarks of fastgnn as a backend: PyG layers under ``use_with_pyg()``, two Python threads, peak memory.

Run with::

    pytest bench/test_interop.py --benchmark-columns=median,min,max,rounds

On the 100,000-node / 2,000,000-edge uniform graph (``bench_edge_index('uniform')``), d = 64,
2 threads (``torch.set_num_threads(2)``, which fastgnn's adapter follows):

* ``test_pyg_layer``: forward + backward (``x`` requires grad, as in a hidden layer; parameter
  gradients too) of PyG's ``GCNConv`` and ``SAGEConv(aggr="max")`` given

  - ``pyg_csr``: a ``torch.sparse_csr_tensor`` adjacency (PyG's fused ``spmm`` path; GCNConv
    normalizes it on every call, its default ``cached=False``),
  - ``pyg_csr_cached``: the same with ``GCNConv(cached=True)`` (normalization once),
  - ``pyg_edge_index``: an ``edge_index`` (PyG's gather-scatter path),
  - ``fastgnn_csr``: the CSR adjacency under ``fastgnn.interop.torch.use_with_pyg()``,
  - ``fastgnn_aggregation``: ``edge_index`` with ``aggr=fastgnn.interop.torch.Aggregation(...)``
    (SAGEConv only; PyG still gathers the E x d messages);

  outputs and gradients of the fastgnn paths are checked against PyG's (float32 tolerance) once,
  outside the timing. The summary line gives the ratios PyG / fastgnn.
* ``test_paired_ratio``: PyG's CSR path and ``use_with_pyg()`` alternated round by round, the
  median of the per-round ratios (robust to the load drifting on a shared machine).
* ``test_paired_spmm``: the aggregation alone, ``torch_geometric.utils.spmm`` vs fastgnn's
  ``spmm`` (forward + backward), alternated the same way.
* ``test_two_python_threads``: the same number of single-threaded ``aggregate`` calls run from
  one Python thread, then from two at once; the ratio is the speed-up the released GIL allows.
* ``test_peak_memory``: ``tracemalloc`` peak of each op and its backward (NumPy reports its
  buffers to tracemalloc), against ``E * d * 4`` bytes of messages fastgnn never builds.

Nothing is asserted about timings; the machine may be shared, so read medians of the same run.
"""
import gc
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")
pytest.importorskip("pytest_benchmark")

import fastgnn  # noqa: E402
from graphs import bench_edge_index  # noqa: E402  (bench/graphs.py)
from fastgnn.interop import torch as ft  # noqa: E402

WIDTH = 64
THREADS = 2
RESULTS = {}  # (layer, path) -> median seconds, for the summary

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


@pytest.fixture(scope="module")
def workload(request):
    from torch_geometric.utils import to_torch_csr_tensor

    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    edge_index, num_nodes = bench_edge_index("uniform")
    edge_index = torch.from_numpy(edge_index)
    adj_t = to_torch_csr_tensor(edge_index.flip(0), size=(num_nodes, num_nodes))  # rows = destinations
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(num_nodes, WIDTH, generator=gen)
    grad_out = torch.randn(num_nodes, WIDTH, generator=gen)
    yield {"edge_index": edge_index, "adj_t": adj_t, "x": x, "grad_out": grad_out, "num_nodes": num_nodes}
    torch.set_num_threads(previous)
    _summary(request)


def _layer(name, path):
    from torch_geometric.nn import GCNConv, SAGEConv
    torch.manual_seed(0)
    if name == "GCNConv":
        return GCNConv(WIDTH, WIDTH, cached=(path == "pyg_csr_cached"))
    aggr = ft.Aggregation("max") if path == "fastgnn_aggregation" else "max"
    return SAGEConv(WIDTH, WIDTH, aggr=aggr)


def _step(layer, x, adj, grad_out):
    layer.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_()
    out = layer(x, adj)
    out.backward(grad_out)
    return out.detach(), x.grad, [p.grad for p in layer.parameters()]


PATHS = {"GCNConv": ["pyg_csr", "pyg_csr_cached", "pyg_edge_index", "fastgnn_csr"],
         "SAGEConv_max": ["pyg_csr", "pyg_edge_index", "fastgnn_csr", "fastgnn_aggregation"]}
CASES = [(layer, path) for layer, paths in PATHS.items() for path in paths]


def _check_equal(layer_name, path, workload, actual):
    """The fastgnn path's output and gradients equal PyG's CSR path (float32 tolerance)."""
    layer = _layer("GCNConv" if layer_name == "GCNConv" else "SAGEConv", "pyg_csr")
    expected = _step(layer, workload["x"], workload["adj_t"], workload["grad_out"])
    worst = 0.0
    for a, e in zip([actual[0], actual[1]] + actual[2], [expected[0], expected[1]] + expected[2]):
        scale = max(1.0, float(e.abs().max()))
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5 * scale)
        worst = max(worst, float((a - e).abs().max()) / scale)
    return worst


@pytest.mark.parametrize("layer_name,path", CASES, ids=[f"{layer}-{path}" for layer, path in CASES])
def test_pyg_layer(benchmark, workload, layer_name, path):
    layer = _layer("GCNConv" if layer_name == "GCNConv" else "SAGEConv", path)
    adj = workload["edge_index"] if path in ("pyg_edge_index", "fastgnn_aggregation") else workload["adj_t"]
    x, grad_out = workload["x"], workload["grad_out"]
    context = ft.use_with_pyg() if path == "fastgnn_csr" else _nothing()
    with context:
        result = _step(layer, x, adj, grad_out)  # warm-up: builds caches (fastgnn graph, PyG's cached norm)
        if path.startswith("fastgnn"):
            benchmark.extra_info["max_relative_difference_to_pyg"] = _check_equal(layer_name, path, workload,
                                                                                  result)
        del result
        gc.collect()
        slow = path in ("pyg_edge_index", "fastgnn_aggregation")
        benchmark.group = f"{layer_name} forward+backward, uniform 100k/2M, d={WIDTH}, t={THREADS}"
        benchmark.extra_info.update(layer=layer_name, path=path)
        benchmark.pedantic(lambda: _step(layer, x, adj, grad_out), rounds=3 if slow else 7, iterations=1,
                           warmup_rounds=0)
    RESULTS[(layer_name, path)] = benchmark.stats.stats.median


@pytest.mark.parametrize("layer_name", list(PATHS))
def test_paired_ratio(benchmark, workload, layer_name):
    """PyG's CSR path and the same layer under use_with_pyg(), alternated round by round.

    On a shared machine the load drifts; alternating the two and taking the median of the
    per-round ratios compares them under the same conditions.
    """
    make = "GCNConv" if layer_name == "GCNConv" else "SAGEConv"
    pyg_layer, fast_layer = _layer(make, "pyg_csr"), _layer(make, "pyg_csr")
    x, adj, grad_out = workload["x"], workload["adj_t"], workload["grad_out"]

    def pyg_step():
        return _step(pyg_layer, x, adj, grad_out)

    def fast_step():
        with ft.use_with_pyg():
            return _step(fast_layer, x, adj, grad_out)

    pyg_step(), fast_step()  # warm-up
    pyg_times, fast_times = [], []
    for _ in range(7):
        for step, times in ((pyg_step, pyg_times), (fast_step, fast_times)):
            gc.collect()
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    ratios = np.array(pyg_times) / np.array(fast_times)
    benchmark.group = f"{layer_name} paired rounds (PyG CSR / fastgnn)"
    benchmark.extra_info.update(pyg_csr_median_s=float(np.median(pyg_times)),
                                fastgnn_median_s=float(np.median(fast_times)),
                                median_ratio=float(np.median(ratios)), min_ratio=float(ratios.min()))
    benchmark.pedantic(fast_step, rounds=3, iterations=1, warmup_rounds=0)
    RESULTS[("paired", layer_name)] = (float(np.median(pyg_times)), float(np.median(fast_times)),
                                       float(np.median(ratios)), float(ratios.min()), float(ratios.max()))


@pytest.mark.parametrize("reduce", ["sum", "max"])
def test_paired_spmm(benchmark, workload, reduce):
    """The aggregation alone: torch_geometric.utils.spmm vs fastgnn's spmm, forward + backward, alternated."""
    from torch_geometric.utils import spmm as pyg_spmm

    x, adj, grad_out = workload["x"], workload["adj_t"], workload["grad_out"]

    def run(function):
        def step():
            leaf = x.detach().requires_grad_()
            function(adj, leaf, reduce).backward(grad_out)
        return step

    pyg_step, fast_step = run(pyg_spmm), run(ft.spmm)
    pyg_step(), fast_step()
    pyg_times, fast_times = [], []
    for _ in range(7):
        for step, times in ((pyg_step, pyg_times), (fast_step, fast_times)):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    ratios = np.array(pyg_times) / np.array(fast_times)
    benchmark.group = f"spmm {reduce} forward+backward paired rounds (PyG / fastgnn)"
    benchmark.extra_info.update(pyg_median_s=float(np.median(pyg_times)), median_ratio=float(np.median(ratios)))
    benchmark.pedantic(fast_step, rounds=3, iterations=1, warmup_rounds=0)
    RESULTS[("spmm", reduce)] = (float(np.median(pyg_times)), float(np.median(fast_times)),
                                 float(np.median(ratios)), float(ratios.min()), float(ratios.max()))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------- two Python threads
@pytest.mark.parametrize("reduce", ["sum", "max"])
def test_two_python_threads(benchmark, workload, reduce):
    """Calls of a one-thread kernel from two Python threads at once vs one after the other."""
    graph = fastgnn.Graph.from_edge_index(workload["edge_index"].numpy(), num_nodes=workload["num_nodes"])
    x = workload["x"].numpy()
    calls = 4

    def one_thread_calls(count):
        for _ in range(count):
            fastgnn.aggregate(graph, x, reduce, n_threads=1)

    def serial():
        one_thread_calls(2 * calls)

    def concurrent():
        workers = [threading.Thread(target=one_thread_calls, args=(calls,)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    one_thread_calls(1)
    serial_times = []
    for _ in range(3):
        start = time.perf_counter()
        serial()
        serial_times.append(time.perf_counter() - start)
    benchmark.group = f"two Python threads, {2 * calls} aggregate({reduce}) calls of 1 thread each"
    benchmark.pedantic(concurrent, rounds=3, iterations=1, warmup_rounds=0)
    serial_median = float(np.median(serial_times))
    speedup = serial_median / benchmark.stats.stats.median
    benchmark.extra_info.update(serial_median_s=serial_median, speedup=speedup)
    RESULTS[("two_threads", reduce)] = speedup


# ---------------------------------------------------------------------------- peak memory of each op
def _peak(function):
    gc.collect()
    tracemalloc.start()
    try:
        start = time.perf_counter()
        result = function()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, elapsed, result


def test_peak_memory(benchmark, workload):
    graph = fastgnn.Graph.from_edge_index(workload["edge_index"].numpy(), num_nodes=workload["num_nodes"])
    graph.transpose_csr()  # the graph's own cache, once
    x = workload["x"].numpy()
    weight = np.random.default_rng(0).uniform(0.5, 2, graph.num_edges).astype(np.float32)
    ptr = np.linspace(0, graph.num_nodes, 1001).astype(np.int64)
    peaks = {}
    for reduce in ("sum", "mean", "max", "min"):
        peaks[f"aggregate_{reduce}"], _, (out, arg) = _peak(
            lambda: fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True, n_threads=THREADS))
        peaks[f"aggregate_backward_{reduce}"], _, _ = _peak(
            lambda: fastgnn.aggregate_backward(graph, out, reduce, x=x, edge_weight=weight, arg=arg,
                                               need_weight_grad=True, n_threads=THREADS))
        peaks[f"segment_reduce_{reduce}"], _, (segment, segment_arg) = _peak(
            lambda: fastgnn.segment_reduce(x, ptr, reduce, return_arg=True, n_threads=THREADS))
        peaks[f"segment_reduce_backward_{reduce}"], _, _ = _peak(
            lambda: fastgnn.segment_reduce_backward(segment, ptr, reduce, arg=segment_arg, n_threads=THREADS))
    peaks["edge_dot"], _, dot = _peak(lambda: fastgnn.edge_dot(graph, x, x, n_threads=THREADS))
    peaks["edge_dot_backward"], _, _ = _peak(lambda: fastgnn.edge_dot_backward(graph, dot, x, x,
                                                                               n_threads=THREADS))
    messages = graph.num_edges * WIDTH * 4
    benchmark.group = "peak memory (tracemalloc)"
    benchmark.extra_info.update({f"peak_mib_{k}": v / 2 ** 20 for k, v in peaks.items()})
    benchmark.extra_info["messages_mib"] = messages / 2 ** 20
    benchmark.extra_info["features_mib"] = x.nbytes / 2 ** 20
    benchmark.pedantic(lambda: fastgnn.aggregate(graph, x, "max", n_threads=THREADS), rounds=3, iterations=1)
    RESULTS["peaks"] = (peaks, messages, x.nbytes)


def _summary(request):
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            _write_summary()
    else:
        _write_summary()


def _write_summary():
    write = print
    write("")
    write("fastgnn as a PyG backend (medians of this run; ratio = PyG path / fastgnn_csr):")
    for layer, paths in PATHS.items():
        ours = RESULTS.get((layer, "fastgnn_csr"))
        for path in paths:
            median = RESULTS.get((layer, path))
            if median is None:
                continue
            ratio = f"  x{median / ours:.2f}" if ours and not path.startswith("fastgnn_csr") else ""
            write(f"  {layer:13s} {path:20s} {median * 1e3:9.1f} ms{ratio}")
    for layer in PATHS:
        if ("paired", layer) in RESULTS:
            pyg, fast, ratio, low, high = RESULTS[("paired", layer)]
            write(f"  {layer:13s} paired rounds: PyG CSR {pyg * 1e3:.1f} ms, fastgnn {fast * 1e3:.1f} ms, "
                  f"median ratio x{ratio:.2f} (range x{low:.2f}-x{high:.2f})")
    for reduce in ("sum", "max"):
        if ("spmm", reduce) in RESULTS:
            pyg, fast, ratio, low, high = RESULTS[("spmm", reduce)]
            write(f"  spmm {reduce:3s} fwd+bwd paired: PyG {pyg * 1e3:.1f} ms, fastgnn {fast * 1e3:.1f} ms, "
                  f"median ratio x{ratio:.2f} (range x{low:.2f}-x{high:.2f})")
    for reduce in ("sum", "max"):
        if ("two_threads", reduce) in RESULTS:
            write(f"  two Python threads, aggregate {reduce}: speed-up x{RESULTS[('two_threads', reduce)]:.2f}")
    if "peaks" in RESULTS:
        peaks, messages, features = RESULTS["peaks"]
        write(f"  peak memory (MiB; E*d messages = {messages / 2**20:.0f}, N*d features = {features / 2**20:.1f}):")
        for name, peak in peaks.items():
            write(f"    {name:34s} {peak / 2**20:8.1f}")
