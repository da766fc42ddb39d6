"""Benchmark of neighbour aggregation against its peers: ``python bench/run.py aggregation``.

What is measured, per benchmark graph (see :data:`graphs.BENCH_GRAPHS`),
feature width ``d`` (float32), thread count and reduction:

* **fastgnn**: ``aggregate`` (forward) and ``aggregate`` followed by
  ``aggregate_backward`` (forward + backward), on a :class:`fastgnn.Graph`
  built once, with its transpose and inverse degrees cached before any
  timing, as in a training loop.
* **dense** (small graph only, sum/mean): ``A_dense @ X`` and
  ``A_dense.T @ G`` with NumPy's BLAS.
* **scipy** (sum/mean): ``A @ X`` and ``A_T @ G`` on CSR matrices, the
  transpose converted to CSR once (a fair cached transpose); mean uses the
  pre-normalised ``D^-1 A``. scipy.sparse is single-threaded.
* **torch** (when installed): ``torch.sparse.mm`` on a CSR tensor (int32
  indices, like fastgnn's; duplicate edges merged, see
  :meth:`Workload.torch_csr`): ``torch.sparse.mm(A, X)`` for sum and
  ``torch.sparse.mm(A, X, reduce)`` with ``"mean"``, ``"amax"`` and
  ``"amin"``; forward + backward through autograd with respect to ``X``.
* **pyg** (when installed): ``torch_geometric.utils.scatter(x[src], dst,
  dim=0, reduce=...)`` on the edge list (in CSR order, i.e. sorted by
  destination, its best case); it materialises the ``E x d`` messages.

All implementations of one configuration run back to back in this process,
in interleaved rounds (one timed run of each in turn, see :func:`measure`),
so that the drifting load of a shared machine falls on all of them alike;
each is warmed up first, and quick ones run untimed for a moment before each
timed run so that the previous implementation's worker threads have gone
idle. The median is reported. Slow implementations (PyG's backward takes
seconds) get fewer timed runs: as many as fit in :data:`SLOW_BUDGET_S`, at
least one.

Reported beside the times:

* ``x``: peer time / fastgnn time (above 1: fastgnn is faster).
* ``GB/s``: effective memory bandwidth of fastgnn, :func:`bytes_moved` / time,
  a lower bound on the traffic (index arrays, one feature row gathered per
  edge, the output, and ``arg`` for max/min).
* ``peak``: peak extra memory of the fastgnn call (``aggregate`` on a
  forward line, ``aggregate_backward`` on a forward + backward line),
  measured with :mod:`tracemalloc` (NumPy reports its buffers to it; the
  kernels allocate nothing else), next to the ``E x d x 4`` bytes that a
  message-materialising implementation needs for its messages alone.
* ``floor``: fastgnn's fraction of the machine's limit, floor time / fastgnn
  time, both measured in the same interleaved rounds (100%: fastgnn gathers
  as fast as the floor). The floor is the ideal prefetching row gather of
  :func:`fastgnn.bench.machine.gather_floor`: every in-neighbour row read and
  summed in registers, rows prefetched a fixed distance ahead, chunks of equal
  edge count across threads, the output rows written (from 64-byte-aligned
  inputs into a preallocated output: only the unavoidable traffic); for a
  forward + backward line, that gather over the graph and over its
  transpose. For max/min forward + backward it is only a reference point
  (their backward is no row gather). Each block's header gives the floor's
  own time and GB/s (the bytes of a sum: indices + gathered rows + output)
  and the STREAM triad's GB/s at that thread count
  (:func:`fastgnn.bench.machine.measure_triad`: ``a = b + s * c`` over three
  256 MiB float64 arrays, at least 4x the L3, measured once per thread count
  at the start of the run; counted as STREAM does, 3 arrays x 8 bytes per
  element). ``--no-floor`` skips both.
* ``dgl*``: DGL's medians, from ``bench/dgl_peer.py`` run in DGL's own
  environment (DGL 1.1 needs ``numpy<2``, so another interpreter, hence
  another process: compare with care). With ``--dgl-python PATH`` (default:
  the environment variable ``FASTGNN_DGL_PYTHON``) it runs right before the
  in-process implementations, on the same graphs, widths, thread counts and
  reductions; ``--dgl-results FILE`` merges the JSON lines of an earlier run
  instead. Without either, the DGL column is skipped, and the output says so.

The scaling sweep over bigger graphs (up to the size of ogbn-products) is
``python bench/run.py scaling`` (``bench/scaling.py``).

The bandwidth and memory accounting (:func:`bytes_moved`,
:func:`fastgnn_peak_memory`) is that of ``python -m fastgnn bench``
(:mod:`fastgnn.cli.bench`), so both print the same figures for fastgnn. The
graph building and peer functions here are shared with the pytest-benchmark
suites in ``bench/`` (``bench/conftest.py``).
"""
import argparse
import contextlib
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

import fastgnn
from fastgnn._runtime.blas import get_blas_threads, limit_blas_threads
from fastgnn.bench import machine
from fastgnn.cli.bench import bytes_moved, peak_memory, timed_call
from fastgnn.graph import Graph
from graphs import BENCH_GRAPHS, bench_edge_index

__all__ = [
    "GRAPHS", "DIMS", "ALL_DIMS", "THREADS", "REDUCES", "PASSES", "PEERS", "IMPLEMENTATIONS",
    "Workload", "load_workload", "applicable", "make_benchmark", "bytes_moved", "message_bytes",
    "fastgnn_peak_memory", "peer_threads", "peer_available", "planned_repeats", "warm_up",
    "measure", "measure_triads", "load_dgl_results", "run_dgl_peer", "dgl_python_default", "dgl_python_problem",
    "run", "add_arguments", "run_from_args", "main",
]

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DGL_PEER = os.path.join(BENCH_DIR, "dgl_peer.py")
DGL_RESULTS = os.path.join(BENCH_DIR, "results", "dgl.jsonl")    # bench/results/ is ignored by git
DGL_PYTHON_ENV = "FASTGNN_DGL_PYTHON"
DGL_HOW_TO = (f"pass --dgl-python PATH or set {DGL_PYTHON_ENV} to the Python of an environment with DGL 1.1 "
              "(set-up in bench/dgl_peer.py), or merge an earlier run with --dgl-results FILE")

GRAPHS = tuple(BENCH_GRAPHS)            # uniform, powerlaw, small
DIMS = (64,)                            # default of the command: the width of the targets
ALL_DIMS = (16, 64, 256)                # the full sweep (--full)
THREADS = (1, 2)
REDUCES = ("sum", "mean", "max", "min")
PASSES = ("forward", "forward_backward")
IN_PROCESS_PEERS = ("dense", "scipy", "torch", "pyg")
PEERS = IN_PROCESS_PEERS + ("dgl",)     # DGL runs in its own interpreter (bench/dgl_peer.py)
IMPLEMENTATIONS = ("fastgnn",) + IN_PROCESS_PEERS
FLOOR = "floor"                         # the gather floor, timed like a peer (fastgnn.bench.machine)
DENSE_MAX_NODES = 20_000                # dense NumPy only where N x N float32 fits (1.6 GB)
SLOW_BUDGET_S = 3.0                     # time budget of the timed runs of one slow implementation
WARMUP_S = 0.3                          # minimum warm-up time of each implementation
SETTLE_S = 0.1                          # untimed running of a quick benchmark before each timed run
QUICK_S = 0.1                           # a run shorter than this is "quick"
DTYPE = np.float32

_PASS_LABEL = {"forward": "fwd", "forward_backward": "fwd+bwd"}
_TORCH_REDUCE = {"sum": None, "mean": "mean", "max": "amax", "min": "amin"}


# --------------------------------------------------------------------------- peers, lazily
def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _import_pyg_scatter():
    try:
        from torch_geometric.utils import scatter
    except ImportError:
        return None
    return scatter


def peer_available(peer):
    """Whether the library a peer needs can be imported (torch and PyG are optional)."""
    if peer == "torch":
        return _import_torch() is not None
    if peer == "pyg":
        return _import_torch() is not None and _import_pyg_scatter() is not None
    return True


@contextlib.contextmanager
def peer_threads(n_threads):
    """Within the block, the peers use ``n_threads``: PyTorch (if imported) and NumPy's BLAS.

    fastgnn gets its count per call (``n_threads=``); scipy.sparse is
    single-threaded. Yields the counts in force; restores the previous ones
    on exit.
    """
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    with limit_blas_threads(n_threads):
        in_force = {"fastgnn": n_threads, "scipy": 1, "blas": get_blas_threads()}
        if torch is not None:
            torch.set_num_threads(n_threads)
            in_force["torch"] = torch.get_num_threads()
        try:
            yield in_force
        finally:
            if torch is not None:
                torch.set_num_threads(previous)


# --------------------------------------------------------------------------- graphs
class Workload:
    """One benchmark graph and the representation each implementation uses.

    The :class:`fastgnn.Graph` is built (and its transpose cached) on
    construction; the peers' matrices and tensors are built on first use and
    cached, outside any timing. Features are seeded per width.
    """

    def __init__(self, name):
        if name not in BENCH_GRAPHS:
            raise ValueError(f"unknown graph {name!r}; choose from {', '.join(GRAPHS)}")
        self.name = name
        edge_index, num_nodes = bench_edge_index(name, seed=0)
        self.num_nodes = int(num_nodes)
        self.num_edges = int(edge_index.shape[1])
        self.graph = Graph.from_edge_index(edge_index, num_nodes)
        self.graph.transpose_csr()
        self.graph.inverse_in_degree(DTYPE)
        self._features = {}
        self._cache = {}

    def __repr__(self):
        return f"Workload({self.name!r}: {self.num_nodes:,} nodes, {self.num_edges:,} edges)"

    def _cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def features(self, d):
        """``(X, G)``: seeded float32 inputs of shape (num_nodes, d) and output gradients."""
        if d not in self._features:
            x = np.random.default_rng(1).standard_normal((self.num_nodes, d), dtype=DTYPE)
            g = np.random.default_rng(2).standard_normal((self.num_nodes, d), dtype=DTYPE)
            self._features[d] = (x, g)
        return self._features[d]

    def torch_features(self, d):
        """``(X, G)`` as torch tensors sharing memory with :meth:`features`."""
        torch = _import_torch()
        x, g = self.features(d)
        return self._cached(("torch_features", d), lambda: (torch.from_numpy(x), torch.from_numpy(g)))

    def inverse_degree(self):
        """``1 / in_degree`` (0 for isolated nodes), float32, shape (num_nodes, 1)."""
        return self.graph.inverse_in_degree(DTYPE).reshape(-1, 1)

    # scipy: A[i, j] = 1 for j -> i, so A @ X aggregates; transposes converted once.
    def scipy(self, reduce):
        """``(A, A_T)`` CSR float32 for sum, or ``D^-1 A`` and its transpose for mean."""
        def compute():
            import scipy.sparse as sp
            a = self.graph.to_scipy().astype(DTYPE)
            if reduce == "mean":
                a = sp.csr_matrix(sp.diags(self.inverse_degree().ravel()) @ a)
            return a, a.T.tocsr()
        return self._cached(("scipy", reduce), compute)

    def dense(self):
        """The dense float32 adjacency (small graphs only), or None."""
        if self.num_nodes > DENSE_MAX_NODES:
            return None
        return self._cached("dense", lambda: self.graph.to_scipy().astype(DTYPE).toarray())

    def torch_csr(self, reduce="sum"):
        """A ``torch.sparse_csr_tensor`` of the adjacency, with the graph's (int32) indices.

        PyTorch requires sorted, distinct column indices in each row, so
        duplicate edges are merged into one entry (a few hundred in the
        uniform graphs, 3.5% of the power-law graph's edges, which gives
        PyTorch slightly less work) and each row is sorted, which can only
        help its locality. The merged entries hold the edge count for sum and
        mean (the sum is exact; ``reduce="mean"`` divides by the number of
        distinct in-neighbours) and 1 for max/min (exact).
        """
        values = "ones" if reduce in ("max", "min") else "counts"

        def compute():
            torch = _import_torch()
            a = self.graph.to_scipy().astype(DTYPE)
            a.sum_duplicates()  # also sorts the indices of each row
            data = np.ones_like(a.data) if values == "ones" else a.data
            dtype = self.graph.index_dtype
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
                return torch.sparse_csr_tensor(
                    torch.from_numpy(a.indptr.astype(dtype)), torch.from_numpy(a.indices.astype(dtype)),
                    torch.from_numpy(data), size=a.shape, check_invariants=True)
        return self._cached(("torch_csr", values), compute)

    def torch_edge_index(self):
        """``(src, dst)`` int64 tensors in CSR edge order (sorted by destination)."""
        def compute():
            torch = _import_torch()
            edge_index = self.graph.to_edge_index()
            return torch.from_numpy(edge_index[0].copy()), torch.from_numpy(edge_index[1].copy())
        return self._cached("torch_edge_index", compute)


@functools.lru_cache(maxsize=None)
def load_workload(name):
    """The :class:`Workload` of a named graph, built once per process."""
    return Workload(name)


# --------------------------------------------------------------------------- what is timed
class Benchmark:
    """One timed callable: ``setup()`` (untimed, may be None) then ``run()``."""

    __slots__ = ("impl", "pass_", "run", "setup")

    def __init__(self, impl, pass_, run, setup=None):
        self.impl, self.pass_, self.run, self.setup = impl, pass_, run, setup

    def __call__(self):
        if self.setup is not None:
            self.setup()
        return self.run()


def _fastgnn(workload, d, reduce, threads, pass_):
    x, g = workload.features(d)
    return timed_call(workload.graph, x, g, reduce, threads, pass_), None


def _dense(workload, d, reduce, threads, pass_):
    if reduce not in ("sum", "mean"):
        return None
    a = workload.dense()
    if a is None:
        return None
    x, g = workload.features(d)
    if reduce == "sum":
        def forward():
            return a @ x

        def backward():
            return a.T @ g
    else:
        inverse = workload.inverse_degree()

        def forward():
            return np.multiply(a @ x, inverse)

        def backward():
            return a.T @ (g * inverse)
    if pass_ == "forward":
        return forward, None
    return (lambda: (forward(), backward())), None


def _scipy(workload, d, reduce, threads, pass_):
    if reduce not in ("sum", "mean"):
        return None
    a, a_t = workload.scipy(reduce)
    x, g = workload.features(d)
    if pass_ == "forward":
        return (lambda: a @ x), None
    return (lambda: (a @ x, a_t @ g)), None


def _torch(workload, d, reduce, threads, pass_):
    torch = _import_torch()
    if torch is None:
        return None
    a = workload.torch_csr(reduce)
    x, g = workload.torch_features(d)
    mode = _TORCH_REDUCE[reduce]

    def mm(features):
        return torch.sparse.mm(a, features) if mode is None else torch.sparse.mm(a, features, mode)

    if pass_ == "forward":
        def forward():
            with torch.no_grad():
                return mm(x)
        return forward, None
    leaf = x.detach().clone().requires_grad_(True)

    def reset():
        leaf.grad = None

    def forward_backward():
        mm(leaf).backward(g)
    return forward_backward, reset


def _pyg(workload, d, reduce, threads, pass_):
    torch, scatter = _import_torch(), _import_pyg_scatter()
    if torch is None or scatter is None:
        return None
    src, dst = workload.torch_edge_index()
    x, g = workload.torch_features(d)
    n = workload.num_nodes
    if pass_ == "forward":
        def forward():
            with torch.no_grad():
                return scatter(x[src], dst, dim=0, dim_size=n, reduce=reduce)
        return forward, None
    leaf = x.detach().clone().requires_grad_(True)

    def reset():
        leaf.grad = None

    def forward_backward():
        scatter(leaf[src], dst, dim=0, dim_size=n, reduce=reduce).backward(g)
    return forward_backward, reset


def _floor(workload, d, reduce, threads, pass_):
    """The gather floor of the pass (the same for every reduce, timed beside each)."""
    x, g = workload.features(d)
    return machine.floor_call(workload.graph, x, g, n_threads=threads, pass_=pass_), None


_FACTORIES = {"fastgnn": _fastgnn, "dense": _dense, "scipy": _scipy, "torch": _torch, "pyg": _pyg,
              FLOOR: _floor}


def applicable(impl, graph, reduce):
    """Whether ``impl`` has the operation ``reduce`` on the named graph (installed or not).

    scipy.sparse and dense NumPy have no max/min aggregation; dense NumPy
    runs only on graphs of at most :data:`DENSE_MAX_NODES` nodes.
    """
    if impl == FLOOR:
        return True
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; choose from {', '.join(IMPLEMENTATIONS)}")
    if impl in ("dense", "scipy") and reduce not in ("sum", "mean"):
        return False
    if impl == "dense" and BENCH_GRAPHS[graph][1] > DENSE_MAX_NODES:
        return False
    return True


def make_benchmark(impl, workload, d, reduce, threads, pass_):
    """The :class:`Benchmark` of one implementation, or None when it does not apply.

    None means: the peer has no such operation (scipy and dense NumPy have no
    max/min), the graph is too large for it (dense), or its library is not
    installed (torch, PyG). Threads of the peers are set by
    :func:`peer_threads`; ``threads`` goes to fastgnn's calls.
    """
    if not applicable(impl, workload.name, reduce):
        return None
    made = _FACTORIES[impl](workload, d, reduce, threads, pass_)
    if made is None:
        return None
    run_fn, setup = made
    return Benchmark(impl, pass_, run_fn, setup)


# --------------------------------------------------------------------------- bytes and memory
def message_bytes(workload, d, itemsize=4):
    """Bytes of the ``E x d`` message array a scatter-style implementation materialises."""
    return workload.num_edges * d * itemsize


def fastgnn_peak_memory(workload, d, reduce, threads):
    """Peak extra bytes of one ``aggregate`` and one ``aggregate_backward`` call on a workload.

    :func:`fastgnn.cli.bench.peak_memory` on the workload's graph and seeded
    features. Returns ``{"forward": bytes, "backward": bytes}``.
    """
    x, g = workload.features(d)
    return peak_memory(workload.graph, x, g, reduce, threads)


# --------------------------------------------------------------------------- timing
def planned_repeats(run_s, repeat, budget_s=SLOW_BUDGET_S):
    """Timed runs for an implementation whose (warm) run takes ``run_s`` seconds."""
    if run_s <= 0:
        return repeat
    return max(1, min(repeat, int(budget_s / run_s)))


def warm_up(bench, warmup=1, min_seconds=WARMUP_S):
    """Run ``bench`` untimed, at least ``warmup`` times and ``min_seconds`` long.

    A run slower than a second counts as enough. Returns the seconds of the
    last run.
    """
    started = time.perf_counter()
    count = 0
    while True:
        t0 = time.perf_counter()
        bench()
        last = time.perf_counter() - t0
        count += 1
        if last >= 1.0 or (count >= warmup and time.perf_counter() - started >= min_seconds):
            return last


def measure(benchmarks, repeat=5, warmup=1, budget_s=SLOW_BUDGET_S, warmup_s=WARMUP_S, settle_s=SETTLE_S):
    """Time benchmarks in interleaved rounds; return ``{(impl, pass_): [ms, ...]}``.

    Round ``r`` gives every benchmark still owed a run one timed run, in
    turn, so that the load of a shared machine, which drifts over seconds,
    falls on all of them alike. Before its first round a benchmark is warmed
    up (:func:`warm_up`, ``warmup_s``); in later rounds a quick one (under
    :data:`QUICK_S`) first runs untimed for ``settle_s``: other runtimes'
    worker threads (OpenBLAS after the dense peer) keep spinning for up to
    ~100 ms after their last call and would otherwise be charged to it.
    Slow benchmarks get as many timed runs as fit in ``budget_s`` (at least one).
    """
    plans, quick = {}, {}
    runs = {(bench.impl, bench.pass_): [] for bench in benchmarks}
    for r in range(repeat):
        for bench in benchmarks:
            key = bench.impl, bench.pass_
            if r == 0:
                last = warm_up(bench, warmup, warmup_s)
                plans[key] = planned_repeats(last, repeat, budget_s)
                quick[key] = last < QUICK_S
            elif r >= plans[key]:
                continue
            elif quick[key] and len(benchmarks) > 1:
                warm_up(bench, 1, settle_s)
            if bench.setup is not None:
                bench.setup()
            t0 = time.perf_counter()
            bench.run()
            runs[key].append((time.perf_counter() - t0) * 1e3)
    return runs


def measure_triads(threads, repeat=5, array_bytes=machine.DEFAULT_TRIAD_ARRAY_BYTES):
    """``{threads: record}``: :func:`fastgnn.bench.machine.measure_triad` at each thread count."""
    return {t: machine.measure_triad(array_bytes, n_threads=t, repeat=repeat) for t in threads}


# --------------------------------------------------------------------------- DGL results
def load_dgl_results(path):
    """``{(graph, d, threads, reduce, pass): median_ms}`` from ``bench/dgl_peer.py``'s JSON lines."""
    results = {}
    if not path or not os.path.exists(path):
        return results
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("peer") != "dgl":
                continue
            key = (rec["graph"], int(rec["d"]), int(rec["threads"]), rec["reduce"], rec["pass"])
            results[key] = float(rec["median_ms"])  # the last record of a key wins
    return results


def dgl_python_default():
    """The DGL interpreter named by the environment variable ``FASTGNN_DGL_PYTHON``, or None."""
    return os.environ.get(DGL_PYTHON_ENV) or None


def dgl_python_problem(dgl_python):
    """Why ``dgl_python`` cannot run the DGL peer scripts (a sentence), or None when it can be tried."""
    if not dgl_python:
        return f"no DGL interpreter given: {DGL_HOW_TO}"
    if not (os.path.isfile(dgl_python) and os.access(dgl_python, os.X_OK)):
        return f"the DGL interpreter {dgl_python} is not an executable file"
    return None


def run_dgl_peer(dgl_python, out_path, graphs, dims, threads, reduces, repeat, warmup):
    """Run ``bench/dgl_peer.py`` with DGL's interpreter; returns None, or why it failed (one line).

    Its JSON lines go to ``out_path`` (overwritten), read back with
    :func:`load_dgl_results`.
    """
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    command = [dgl_python, DGL_PEER, "--graphs", ",".join(graphs), "--dims", ",".join(map(str, dims)),
               "--threads", ",".join(map(str, threads)), "--reduces", ",".join(reduces),
               "--repeat", str(repeat), "--warmup", str(max(1, warmup)), "--out", out_path]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{os.path.basename(DGL_PEER)} failed (exit status {completed.returncode}): {last}"
    return None


# --------------------------------------------------------------------------- targets
# The project's performance targets, as (reduces, pass, peer, minimum ratio
# peer time / fastgnn time, threads, graphs), at d = 64 only.
TARGETS = (
    (("sum", "mean"), "forward", "dgl", 1.0, 2, ("uniform", "powerlaw")),
    (("sum", "mean"), "forward", "torch", 2.0, 2, ("uniform", "powerlaw")),
    (("sum", "mean"), "forward", "scipy", 4.0, 2, ("uniform", "powerlaw")),
    (("sum", "mean"), "forward", "scipy", 2.0, 1, ("uniform", "powerlaw")),
    (("sum", "mean"), "forward_backward", "dgl", 1.1, 2, ("uniform", "powerlaw")),
    (("max", "min"), "forward_backward", "dgl", 1.25, 2, ("uniform", "powerlaw")),
    (("max", "min"), "forward_backward", "torch", 3.0, 2, ("uniform", "powerlaw")),
    (("max", "min"), "forward_backward", "pyg", 30.0, 2, ("uniform", "powerlaw")),
    (("sum", "mean"), "forward", "dense", 100.0, 2, ("small",)),
    (("sum", "mean"), "forward_backward", "dense", 100.0, 2, ("small",)),
    # against the machine: the gather floor timed beside fastgnn (ratio = floor time / fastgnn time)
    (("sum",), "forward", FLOOR, 0.8, 2, ("uniform",)),
    (("sum",), "forward", FLOOR, 0.8, 1, ("uniform",)),
)
TARGET_DIM = 64


def check_targets(records, dgl):
    """Lines ``(ok, text)`` comparing measured ratios with :data:`TARGETS`."""
    fast = {(r["graph"], r["d"], r["threads"], r["reduce"], r["pass"]): r["median_ms"]
            for r in records if r["peer"] == "fastgnn"}
    peers = {(r["peer"], r["graph"], r["d"], r["threads"], r["reduce"], r["pass"]): r["median_ms"]
             for r in records if r["peer"] != "fastgnn"}
    lines = []
    for reduces, pass_, peer, minimum, threads, graphs in TARGETS:
        for graph in graphs:
            for reduce in reduces:
                key = (graph, TARGET_DIM, threads, reduce, pass_)
                if key not in fast:
                    continue
                other = dgl.get(key) if peer == "dgl" else peers.get((peer,) + key)
                if other is None:
                    continue
                ratio = other / fast[key]
                if peer == FLOOR:
                    text = f"at {ratio:6.0%} of the floor (target >= {minimum:.0%})"
                else:
                    text = f"vs {peer:5s} {ratio:7.2f}x  (target >= {minimum:g}x)"
                lines.append((ratio >= minimum, f"{graph:8s} t={threads} {reduce:4s} {_PASS_LABEL[pass_]:7s} {text}"))
    return lines


# --------------------------------------------------------------------------- report
def _cell(ms, base):
    if ms is None:
        return f"{'-':>16s}"
    return f"{ms:9.1f} {ms / base:5.1f}x"


def _floor_header(cells, triads, threads):
    """The block's line about the machine: the floor's times and GB/s, the triad's GB/s."""
    parts = []
    for pass_ in PASSES:
        recs = [rec for (impl, _, p), rec in cells.items() if impl == FLOOR and p == pass_]
        if recs:
            ms = statistics.median(rec["median_ms"] for rec in recs)
            gbytes = statistics.median(rec["gbytes_per_s"] for rec in recs)
            parts.append(f"{_PASS_LABEL[pass_]} {ms:.2f} ms ({gbytes:.1f} GB/s)")
    if not parts:
        return None
    text = "  floor (ideal prefetching row gather): " + ", ".join(parts)
    if triads and threads in triads:
        text += f"; STREAM triad {triads[threads]['gbytes_per_s']:.1f} GB/s"
    return text


def format_table(records, dgl, peers, triads=None):
    """The table: one block per (graph, d, threads), one line per (reduce, pass).

    When the floor was measured, each block's header says its time and GB/s
    (the median over the block's reduces) and the triad's, and a ``floor``
    column gives fastgnn's fraction of the floor timed beside it.
    """
    by_key = {}
    order = []
    for r in records:
        block = (r["graph"], r["d"], r["threads"])
        if block not in by_key:
            by_key[block] = {}
            order.append(block)
        by_key[block][r["peer"], r["reduce"], r["pass"]] = r
    columns = list(peers) + (["dgl*"] if dgl else [])
    with_floor = any(r["peer"] == FLOOR for r in records)
    lines = []
    head = (f"{'reduce':6s} {'pass':7s} {'fastgnn ms':>10s} {'GB/s':>6s} " + (f"{'floor':>5s} " if with_floor else "")
            + f"{'peak MiB':>8s} " + " ".join(f"{c + ' ms':>9s} {'x':>6s}" for c in columns))
    for block in order:
        graph, d, threads = block
        cells = by_key[block]
        some = next(iter(cells.values()))
        msg = some["num_edges"] * d * 4 / 2**20
        lines.append("")
        lines.append(f"{graph}: {some['num_nodes']:,} nodes, {some['num_edges']:,} edges, d={d}, "
                     f"{threads} thread{'s' if threads > 1 else ''}; E x d messages would take {msg:,.0f} MiB")
        header = _floor_header(cells, triads, threads)
        if header is not None:
            lines.append(header)
        lines.append(head)
        lines.append("-" * len(head))
        for reduce in REDUCES:
            for pass_ in PASSES:
                mine = cells.get(("fastgnn", reduce, pass_))
                if mine is None:
                    continue
                base = mine["median_ms"]
                peak = mine.get("peak_bytes")
                peak_text = f"{peak / 2**20:8.1f}" if peak is not None else f"{'-':>8s}"
                row = f"{reduce:6s} {_PASS_LABEL[pass_]:7s} {base:10.2f} {mine['gbytes_per_s']:6.1f} "
                if with_floor:
                    fraction = mine.get("fraction_of_floor")
                    row += f"{'-':>5s} " if fraction is None else f"{fraction:5.0%} "
                row += f"{peak_text} "
                parts = []
                for c in columns:
                    if c == "dgl*":
                        parts.append(_cell(dgl.get((graph, d, threads, reduce, pass_)), base))
                    else:
                        peer = cells.get((c, reduce, pass_))
                        parts.append(_cell(None if peer is None else peer["median_ms"], base))
                lines.append(row + " ".join(parts))
    return "\n".join(lines)


def _env():
    env = {
        "fastgnn": fastgnn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    with contextlib.suppress(ImportError):
        import scipy
        env["scipy"] = scipy.__version__
    with contextlib.suppress(Exception):
        from fastgnn._kernels import _common
        env["openmp"] = bool(_common.openmp_enabled())
    if "torch" in sys.modules:
        env["torch"] = sys.modules["torch"].__version__
    if "torch_geometric" in sys.modules:
        env["torch_geometric"] = sys.modules["torch_geometric"].__version__
    return env


def _build_peer_inputs(workload, peers):
    """Build every peer's matrices and tensors now, outside the timings."""
    for peer in peers:
        if peer == "dense":
            workload.dense()
        elif peer == "scipy":
            workload.scipy("sum"), workload.scipy("mean")
        elif peer == "torch":
            workload.torch_csr("sum"), workload.torch_csr("max")
        elif peer == "pyg":
            workload.torch_edge_index()


def _records(runs, workload, d, threads, reduce, peak, in_force, env, triads=None):
    """The JSON-lines records of one configuration (format of ``bench/dgl_peer.py``, plus extras).

    The floor's records (peer ``"floor"``) carry its ``ratio`` (floor time /
    fastgnn time) like a peer's, and its own ``bytes_moved`` and
    ``gbytes_per_s``; fastgnn's carry ``floor_ms`` and ``fraction_of_floor``.
    """
    records = []
    for (impl, pass_), times in runs.items():
        records.append({
            "peer": impl, "graph": workload.name, "d": d, "threads": threads, "reduce": reduce,
            "pass": pass_, "median_ms": statistics.median(times), "runs_ms": [round(x, 4) for x in times],
            "num_nodes": workload.num_nodes, "num_edges": workload.num_edges,
            "threads_in_force": in_force, "env": env,
        })
    fast = {rec["pass"]: rec["median_ms"] for rec in records if rec["peer"] == "fastgnn"}
    floor = {rec["pass"]: rec["median_ms"] for rec in records if rec["peer"] == FLOOR}
    for rec in records:
        if rec["peer"] == FLOOR:
            # the bytes of a sum: the floor does a sum's gathers
            rec["bytes_moved"] = bytes_moved(workload.graph, d, "sum", rec["pass"])
            rec["gbytes_per_s"] = rec["bytes_moved"] / (rec["median_ms"] * 1e-3) / 1e9
            if triads and threads in triads:
                rec["triad_gbytes_per_s"] = triads[threads]["gbytes_per_s"]
        if rec["peer"] != "fastgnn":
            if rec["pass"] in fast:
                rec["ratio"] = rec["median_ms"] / fast[rec["pass"]]
            continue
        if rec["pass"] in floor:
            rec["floor_ms"] = floor[rec["pass"]]
            rec["fraction_of_floor"] = floor[rec["pass"]] / rec["median_ms"]
        moved = bytes_moved(workload.graph, d, reduce, rec["pass"])
        rec["bytes_moved"] = moved
        rec["gbytes_per_s"] = moved / (rec["median_ms"] * 1e-3) / 1e9
        rec["message_bytes"] = message_bytes(workload, d)
        if peak is not None:
            rec["peak_forward_bytes"] = peak["forward"]
            rec["peak_backward_bytes"] = peak["backward"]
            rec["peak_bytes"] = peak["forward" if rec["pass"] == "forward" else "backward"]
    return records


def _run_configuration(workload, d, threads, reduces, impls, repeat, warmup, memory, in_force, json_file, say,
                       triads=None):
    """Measure every reduce of one (graph, d, threads); return the records."""
    env = _env()
    records = []
    for reduce in reduces:
        benches = [b for impl in impls for pass_ in PASSES
                   if (b := make_benchmark(impl, workload, d, reduce, threads, pass_)) is not None]
        runs = measure(benches, repeat=repeat, warmup=warmup)
        peak = fastgnn_peak_memory(workload, d, reduce, threads) if memory else None
        new = _records(runs, workload, d, threads, reduce, peak, in_force, env, triads)
        records.extend(new)
        if json_file is not None:
            json_file.writelines(json.dumps(rec) + "\n" for rec in new)
            json_file.flush()
        say(f"  {workload.name} d={d} t={threads} {reduce}: " + "  ".join(
            f"{rec['peer']} {_PASS_LABEL[rec['pass']]} {rec['median_ms']:.1f}" for rec in new) + " ms")
    return records


def _dgl_column(peers, dgl_python, dgl_results, graphs, dims, threads, reduces, repeat, warmup, say):
    """DGL's medians ``{(graph, d, threads, reduce, pass): ms}`` and the sentence saying where they come from."""
    if "dgl" not in peers:
        return {}, None
    if dgl_python:
        problem = dgl_python_problem(dgl_python)
        if problem is not None:
            return {}, f"dgl: skipped, {problem}; {DGL_HOW_TO}"
        out_path = dgl_results or DGL_RESULTS
        say(f"running DGL first, in its own interpreter: {dgl_python} {DGL_PEER} (results in {out_path})")
        started = time.perf_counter()
        failure = run_dgl_peer(dgl_python, out_path, graphs, dims, threads, reduces, repeat, warmup)
        if failure is not None:
            return {}, f"dgl: skipped, {failure}"
        dgl = load_dgl_results(out_path)
        return dgl, (f"dgl*: medians of bench/dgl_peer.py run by {dgl_python} in this run, before the others "
                     f"({time.perf_counter() - started:.0f} s; another process and environment: compare with care).")
    if dgl_results:
        if not os.path.isfile(dgl_results):
            return {}, f"dgl: skipped, --dgl-results {dgl_results}: no such file; {DGL_HOW_TO}"
        dgl = load_dgl_results(dgl_results)
        if not dgl:
            return {}, f"dgl: skipped, {dgl_results} holds no DGL records"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(dgl_results)))
        return dgl, (f"dgl*: medians from {dgl_results} (bench/dgl_peer.py, a separate process and environment, "
                     f"written {stamp}).")
    return {}, f"dgl: skipped; to time it, {DGL_HOW_TO}"


def run(graphs=GRAPHS, dims=DIMS, threads=THREADS, reduces=REDUCES, peers=PEERS, repeat=5, warmup=1,
        json_path=None, dgl_python=None, dgl_results=None, memory=True, file=None, floor=True):
    """Run the benchmark, print the table, optionally write JSON lines; return the records.

    Parameters
    ----------
    graphs, dims, threads, reduces, peers, repeat, warmup, memory
        As the options of ``python bench/run.py aggregation`` (see
        :func:`add_arguments`); ``peers`` may include ``"dgl"``.
    json_path : str, optional
        Write the records there, one JSON line each.
    dgl_python : str, optional
        The Python of DGL's environment: ``bench/dgl_peer.py`` runs with it
        before the other implementations. None: DGL is skipped, unless
        ``dgl_results`` names an earlier run's file.
    dgl_results : str, optional
        Where DGL's JSON lines are written (with ``dgl_python``, default
        ``bench/results/dgl.jsonl``) or read from (without).
    file : file-like, optional
        Where the table goes (default stdout).
    floor : bool
        Measure the STREAM triad at each thread count first, and time the
        gather floor beside fastgnn in every configuration (peer ``"floor"``).

    Returns
    -------
    list of dict
        Records in ``bench/dgl_peer.py``'s format (``peer``, ``graph``,
        ``d``, ``threads``, ``reduce``, ``pass``, ``median_ms``,
        ``runs_ms``, ...); fastgnn's add ``bytes_moved``, ``gbytes_per_s``,
        ``peak_bytes``, ``peak_forward_bytes``, ``peak_backward_bytes`` and
        ``message_bytes`` (and ``floor_ms``, ``fraction_of_floor``); the
        peers' add ``ratio`` (peer time / fastgnn time; for the floor, the
        fraction of the floor), the floor's ``bytes_moved``, ``gbytes_per_s``
        and ``triad_gbytes_per_s``.
    """
    file = sys.stdout if file is None else file

    def say(*args):
        print(*args, file=file, flush=True)

    in_process = [p for p in peers if p in IN_PROCESS_PEERS]
    missing = [p for p in in_process if not peer_available(p)]
    if missing:
        say(f"not installed, skipped: {', '.join(missing)}")
    in_process = [p for p in in_process if p not in missing]
    impls = ["fastgnn"] + in_process + ([FLOOR] if floor else [])
    say(f"fastgnn {fastgnn.__version__} benchmark: graphs {','.join(graphs)}, d {','.join(map(str, dims))}, "
        f"threads {','.join(map(str, threads))}, reduces {','.join(reduces)}, "
        f"peers {','.join(in_process + (['dgl'] if 'dgl' in peers else [])) or 'none'}, "
        f"median of up to {repeat} runs")
    started = time.perf_counter()
    triads = {}
    if floor:
        triads = measure_triads(threads, repeat)
        some = next(iter(triads.values()))
        say(f"STREAM triad (a = b + s * c over 3 x {some['n_elements'] * 8 / 2**20:,.0f} MiB float64; 3 arrays x 8 "
            "bytes per element, as STREAM counts): " + ", ".join(
                f"{rec['gbytes_per_s']:.1f} GB/s at t={t}" for t, rec in triads.items()))
    dgl, dgl_note = _dgl_column(peers, dgl_python, dgl_results, graphs, dims, threads, reduces, repeat, warmup, say)
    if dgl_note is not None and not dgl:
        say(dgl_note)
    records = []
    json_file = None
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        json_file = open(json_path, "w")
    try:
        for name in graphs:
            t0 = time.perf_counter()
            workload = load_workload(name)
            _build_peer_inputs(workload, in_process)
            say(f"built {workload!r} in {time.perf_counter() - t0:.1f} s")
            for d in dims:
                workload.features(d)
                for t in threads:
                    with peer_threads(t) as in_force:
                        records.extend(_run_configuration(workload, d, t, reduces, impls, repeat, warmup,
                                                          memory, in_force, json_file, say, triads))
    finally:
        if json_file is not None:
            json_file.close()
    say(format_table(records, dgl, in_process, triads))
    say("")
    say("ms: median; x: that column's time / fastgnn's time (above 1: fastgnn is faster); "
        "GB/s: fastgnn's effective bandwidth (indices + gathered rows + output);")
    if floor:
        say("floor: floor time / fastgnn time, both timed in the same interleaved rounds; the floor is the ideal "
            "prefetching row gather (every in-neighbour row summed in registers, output rows written; fwd+bwd: "
            "over the graph and its transpose), a reference only for max/min fwd+bwd; block headers: its median "
            "time and GB/s (a sum's bytes), and the triad's GB/s.")
    say("peak MiB: tracemalloc peak of the fastgnn call alone (aggregate on fwd lines, its output and arg "
        "included; aggregate_backward on fwd+bwd lines); scipy is single-threaded.")
    if dgl_note is not None:
        say(dgl_note)
    targets = check_targets(records, dgl)
    if targets:
        say("")
        say(f"performance targets (d={TARGET_DIM}; ratio = peer time / fastgnn time; floor: floor time / fastgnn "
            "time):")
        for ok, text in targets:
            say(f"  {'ok  ' if ok else 'MISS'} {text}")
    say(f"total {time.perf_counter() - started:.0f} s")
    if json_path:
        say(f"wrote {len(records)} records to {json_path}")
    return records


# --------------------------------------------------------------------------- command line
def _csv(kind, allowed=None):
    def parse(text):
        values = [v.strip() for v in text.split(",") if v.strip()]
        if kind is int:
            try:
                values = [int(v) for v in values]
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
            if any(v < 1 for v in values):
                raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(allowed)}")
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        return values
    return parse


def add_arguments(parser):
    """Declare the options of ``python bench/run.py aggregation``; returns the parser."""
    parser.add_argument("--graphs", type=_csv(str, GRAPHS), default=list(GRAPHS),
                        help=f"comma-separated graphs (default {','.join(GRAPHS)})")
    parser.add_argument("--dims", type=_csv(int), default=None,
                        help=f"comma-separated feature widths (default {','.join(map(str, DIMS))}; "
                             f"--full: {','.join(map(str, ALL_DIMS))})")
    parser.add_argument("--threads", type=_csv(int), default=list(THREADS),
                        help=f"comma-separated thread counts (default {','.join(map(str, THREADS))})")
    parser.add_argument("--reduces", type=_csv(str, REDUCES), default=list(REDUCES),
                        help=f"comma-separated reductions (default {','.join(REDUCES)})")
    parser.add_argument("--peers", type=_csv(str, PEERS), default=list(PEERS),
                        help=f"comma-separated peers (default {','.join(PEERS)}; torch and pyg "
                             "are skipped when not installed, dgl without --dgl-python or --dgl-results)")
    parser.add_argument("--no-peers", action="store_true", help="time fastgnn alone")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs per implementation, median reported (default 5; slow peers "
                             f"get as many as fit in {SLOW_BUDGET_S:g} s, at least 1)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="minimum untimed warm-up runs (default 1); each implementation also warms up "
                             f"for at least {WARMUP_S:g} s")
    parser.add_argument("--full", action="store_true",
                        help=f"the full sweep: d in {','.join(map(str, ALL_DIMS))} (slow)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write JSON lines (the format of bench/dgl_peer.py) to PATH")
    parser.add_argument("--dgl-python", metavar="PATH", default=dgl_python_default(),
                        help=f"the Python of an environment with DGL 1.1 (see bench/dgl_peer.py): runs "
                             f"bench/dgl_peer.py first and adds a DGL column (default: ${DGL_PYTHON_ENV}; "
                             "without either, DGL is skipped)")
    parser.add_argument("--dgl-results", metavar="PATH", default=None,
                        help="with --dgl-python: where DGL's JSON lines are written (default "
                             "bench/results/dgl.jsonl); without: an earlier run's file to merge as the DGL column")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc measurement")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the machine's limits: the STREAM triad and the gather floor that fastgnn's "
                             "times are given as a fraction of")
    return parser


def run_from_args(args, records=None):
    """Run with parsed options (see :func:`add_arguments`); returns an exit status."""
    if args.repeat < 1 or args.warmup < 0:
        raise SystemExit("--repeat must be >= 1 and --warmup >= 0")
    dims = args.dims if args.dims is not None else list(ALL_DIMS if args.full else DIMS)
    rows = run(graphs=args.graphs, dims=dims, threads=args.threads, reduces=args.reduces,
               peers=[] if args.no_peers else args.peers, repeat=args.repeat, warmup=args.warmup,
               json_path=args.json, dgl_python=args.dgl_python, dgl_results=args.dgl_results,
               memory=not args.no_memory, floor=not args.no_floor)
    if records is not None:     # bench/run.py --plot draws their ratios
        records.extend(rows)
    return 0


def main(argv=None):
    """``python bench/aggregation.py``: the same as ``python bench/run.py aggregation``."""
    parser = add_arguments(argparse.ArgumentParser(prog="bench/run.py aggregation",
                                                   description=__doc__.split("\n\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
