"""Benchmark of full training epochs against PyTorch Geometric and DGL: ``python bench/run.py training``.

What is measured: the wall time of one full-batch training epoch — forward
in training mode, softmax cross-entropy, backward, Adam step — of

* ``gcn``: a 2-layer GCN, hidden 16 (``GCNConv``; DGL ``GraphConv(norm='both')``
  on the graph with self-loops);
* ``sage``: a 2-layer GraphSAGE, mean aggregation, hidden 64 (``SAGEConv``);

each with ReLU and dropout (``--dropout``, default 0.5, on the input features
and the hidden layer, as the GCN paper) on

* ``cora``: the Planetoid Cora graph (2,708 nodes, 10,556 edges, 1,433
  row-normalised features, 7 classes, loss on the 140 training nodes);
* ``uniform``: the 100,000-node, 2,000,000-edge uniform random graph of
  ``bench/graphs.py`` with 128 standard-normal float32 features and 10
  random classes (loss on every node; :func:`graphs.uniform_training_data`).

Implementations (``--impls``):

* ``fastgnn``: :class:`fastgnn.models.GCN` (``cached=True``) and
  :class:`fastgnn.models.GraphSAGE`, :class:`fastgnn.optim.Adam`, NumPy's
  BLAS limited to one thread while the kernels run (as
  :func:`fastgnn.train.train_node_classifier` does), input features kept
  sparse (:class:`fastgnn.SparseFeatures`) when at most a tenth are non-zero
  (Cora), as ``python -m fastgnn train`` does;
* ``fastgnn_plain``: the same model in a user's own loop as the README
  writes it (forward, ``cross_entropy``, ``backward``, ``step``), with no
  BLAS limit around it and the features dense as given;
* ``fastgnn_uncached``, ``fastgnn_plain_uncached``: the same two without
  the cached first-layer aggregation. ``fastgnn`` and ``fastgnn_plain``
  build the model with ``cache_input_aggregation=True`` when there is no
  dropout and the features are dense (the features then marked
  read-only): the first layer then aggregates the fixed input features
  once, not every epoch (see ``SAGEConv``); with dropout on the input
  features the two variants are the same;
* ``pyg``: PyG layers on ``edge_index`` (GCN normalises every epoch);
* ``pyg_cached``: GCN only, ``GCNConv(cached=True)`` on ``edge_index``;
* ``pyg_csr``: PyG layers on a ``torch.sparse_csr`` adjacency ``adj_t``
  (GCN with ``cached=True``), PyG's fastest CPU path without torch_sparse;
* ``dgl``: DGL 1.1 in its own virtual environment, run through
  ``bench/dgl_training_peer.py`` by the interpreter of ``--dgl-python PATH``
  (default: the environment variable ``FASTGNN_DGL_PYTHON``); without one,
  its rows say it was skipped and how to enable it.

Every (graph, model, implementation) runs in a fresh subprocess, so that
thread pools of different runtimes never compete and peak memory is the
implementation's own: after the data is built, the process's peak RSS is
reset (``/proc/self/clear_refs``) and the ``peak`` reported is the growth of
RSS above its pre-training level during warm-up and timed epochs. fastgnn's
runs also report :mod:`tracemalloc`'s peak (NumPy's allocations). The
implementations of one configuration run one after the other, ``--rounds``
times round-robin; the reported time is the median over all timed epochs.
``x`` is peer time / fastgnn time (above 1: fastgnn is faster).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

from graphs import uniform_training_data

__all__ = ["GRAPHS", "MODELS", "IMPLS", "make_data", "fastgnn_epoch", "pyg_epoch", "measure", "run",
           "add_arguments", "run_from_args", "main"]

GRAPHS = ("cora", "uniform")
MODELS = ("gcn", "sage")
IMPLS = ("fastgnn", "fastgnn_plain", "fastgnn_uncached", "fastgnn_plain_uncached", "pyg", "pyg_cached", "pyg_csr",
         "dgl")
FASTGNN_IMPLS = ("fastgnn", "fastgnn_plain", "fastgnn_uncached", "fastgnn_plain_uncached")
HIDDEN = {"gcn": 16, "sage": 64}
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.abspath(__file__)      # this file, run in a fresh interpreter per measurement
DGL_PEER = os.path.join(BENCH_DIR, "dgl_training_peer.py")
DGL_PYTHON_ENV = "FASTGNN_DGL_PYTHON"
DGL_HOW_TO = (f"pass --dgl-python PATH or set {DGL_PYTHON_ENV} to the Python of an environment with DGL 1.1 "
              "(set-up in bench/dgl_peer.py)")


# ---------------------------------------------------------------------- data
def make_data(graph_name, seed=0):
    """``(edge_index, x, y, train_mask, num_classes)`` of a benchmark graph (NumPy arrays).

    ``cora``: the embedded Cora with row-normalised features and its
    training mask; ``uniform``: the benchmark graph with seeded features and
    labels, every node in the loss.
    """
    if graph_name == "cora":
        from fastgnn.datasets import load_cora

        dataset = load_cora(normalize_features=True)
        return (dataset.graph.to_edge_index(), dataset.x, dataset.y, dataset.train_mask, dataset.num_classes)
    if graph_name != "uniform":
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph_name!r}")
    return uniform_training_data(seed)


# ---------------------------------------------------------------------- memory
def _status_kb(field):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the kernel's record of this process's peak RSS (Linux >= 4.0); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Growth of RSS above its level at construction, up to :meth:`stop` (MB)."""

    def __init__(self):
        self.base_kb = _status_kb("VmRSS")
        self.resettable = _reset_peak_rss()

    def stop(self):
        peak = _status_kb("VmHWM")
        if peak is None or self.base_kb is None or not self.resettable:
            return None
        return max(peak - self.base_kb, 0) / 1024.0


# ---------------------------------------------------------------------- fastgnn
def fastgnn_epoch(model_name, edge_index, x, y, train_mask, num_classes, dropout=0.5, seed=0, sparse=True,
                  cache_input=True):
    """A closure running one fastgnn training epoch (and the model it trains).

    ``sparse``: turn features with at most a tenth of non-zeros into
    :class:`fastgnn.SparseFeatures` (False: keep them dense).
    ``cache_input``: without dropout, on dense features, build the model
    with ``cache_input_aggregation=True`` and pass it a read-only copy of
    ``x`` (the first layer aggregates it once).
    """
    import fastgnn
    from fastgnn.losses import cross_entropy
    from fastgnn.models import GCN, GraphSAGE
    from fastgnn.optim import Adam

    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=x.shape[0])
    if sparse and np.count_nonzero(x) <= 0.1 * x.size:
        x = fastgnn.SparseFeatures.from_dense(x)
    options = {}
    if cache_input and dropout == 0 and isinstance(x, np.ndarray):
        x = np.array(x, order="C")
        x.flags.writeable = False
        options["cache_input_aggregation"] = True
    if model_name == "gcn":
        model = GCN(x.shape[1], HIDDEN["gcn"], num_classes, dropout=dropout, cached=True, rng=seed, **options)
    else:
        model = GraphSAGE(x.shape[1], HIDDEN["sage"], num_classes, aggr="mean", dropout=dropout, rng=seed,
                          **options)
    optimizer = Adam(model.parameters(), lr=0.01)
    mask = None if train_mask.all() else train_mask

    def epoch():
        model.train()
        optimizer.zero_grad()
        logits = model(graph, x)
        loss, grad = cross_entropy(logits, y, mask)
        model.backward(grad)
        optimizer.step()
        return loss

    return epoch, model


# ---------------------------------------------------------------------- PyG
def pyg_epoch(impl, model_name, edge_index, x, y, train_mask, num_classes, dropout=0.5, seed=0):
    """A closure running one PyTorch Geometric training epoch (``impl`` pyg, pyg_cached or pyg_csr)."""
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GCNConv, SAGEConv

    torch.manual_seed(seed)
    num_nodes = x.shape[0]
    x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y_t = torch.from_numpy(np.asarray(y, dtype=np.int64))
    mask_t = torch.from_numpy(np.asarray(train_mask))
    all_nodes = bool(train_mask.all())
    ei = torch.from_numpy(np.asarray(edge_index, dtype=np.int64))
    if impl == "pyg_csr":
        # adj_t[i, j] = 1 for j -> i: rows are destinations (PyG's adj_t).
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
        adjacency = torch.sparse_coo_tensor(torch.stack([ei[1], ei[0]]), torch.ones(ei.shape[1]),
                                            (num_nodes, num_nodes)).coalesce().to_sparse_csr()
    else:
        adjacency = ei
    if model_name == "gcn":
        cached = impl in ("pyg_cached", "pyg_csr")
        conv1 = GCNConv(x.shape[1], HIDDEN["gcn"], cached=cached)
        conv2 = GCNConv(HIDDEN["gcn"], num_classes, cached=cached)
    else:
        if impl == "pyg_cached":
            raise ValueError("pyg_cached applies to gcn only")
        conv1 = SAGEConv(x.shape[1], HIDDEN["sage"], aggr="mean")
        conv2 = SAGEConv(HIDDEN["sage"], num_classes, aggr="mean")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = conv1, conv2

        def forward(self, features, adj):
            h = F.dropout(features, p=dropout, training=self.training)
            h = self.conv1(h, adj).relu()
            h = F.dropout(h, p=dropout, training=self.training)
            return self.conv2(h, adj)

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def epoch():
        model.train()
        optimizer.zero_grad()
        out = model(x_t, adjacency)
        loss = F.cross_entropy(out, y_t) if all_nodes else F.cross_entropy(out[mask_t], y_t[mask_t])
        loss.backward()
        optimizer.step()
        return loss.item()

    return epoch, model


# ---------------------------------------------------------------------- one measurement (a worker)
def measure(impl, graph_name, model_name, threads, repeat, warmup, dropout=0.5, seed=0):
    """Time ``repeat`` epochs after ``warmup`` ones, in this process; returns a result dict."""
    import fastgnn

    data = make_data(graph_name, seed)
    result = {"impl": impl, "graph": graph_name, "model": model_name, "threads": threads, "dropout": dropout}
    if impl in FASTGNN_IMPLS:
        import tracemalloc

        fastgnn.set_num_threads(threads)
        plain = impl.startswith("fastgnn_plain")
        epoch, _ = fastgnn_epoch(model_name, *data, dropout=dropout, seed=seed, sparse=not plain,
                                 cache_input=not impl.endswith("_uncached"))
        context = _null_context() if plain else fastgnn.limit_blas_threads(1)
    else:
        import torch

        torch.set_num_threads(threads)
        epoch, _ = pyg_epoch(impl, model_name, *data, dropout=dropout, seed=seed)
        tracemalloc = None
        context = _null_context()
        result["torch"] = torch.__version__
    del data
    memory = PeakMemory()
    with context:
        if tracemalloc is not None:
            tracemalloc.start()
        for _ in range(warmup):
            epoch()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            epoch()
            times.append(time.perf_counter() - start)
        if tracemalloc is not None:
            result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
            tracemalloc.stop()
    result["peak_mb"] = memory.stop()
    result["times_ms"] = [1000 * t for t in times]
    result["median_ms"] = 1000 * statistics.median(times)
    return result


class _null_context:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _cora_file():
    """The path of the Cora file shipped in the installed fastgnn, read by DGL's script (which has no fastgnn)."""
    import importlib.resources

    return str(importlib.resources.files("fastgnn.datasets").joinpath("_embedded", "cora.npz"))


def _worker_command(impl, graph_name, model_name, threads, repeat, warmup, dropout, dgl_python):
    common = ["--graph", graph_name, "--model", model_name, "--threads", str(threads), "--repeat", str(repeat),
              "--warmup", str(warmup), "--dropout", str(dropout)]
    if impl == "dgl":
        return [dgl_python, DGL_PEER, "--cora", _cora_file()] + common
    return [sys.executable, WORKER, "--worker", impl] + common


def _available(impl, dgl_python):
    if impl in FASTGNN_IMPLS:
        return True, ""
    if impl == "dgl":
        if not dgl_python:
            return False, f"no DGL interpreter given; {DGL_HOW_TO}"
        if not (os.path.isfile(dgl_python) and os.access(dgl_python, os.X_OK)):
            return False, f"the DGL interpreter {dgl_python} is not an executable file; {DGL_HOW_TO}"
        return True, ""
    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError as error:
        return False, f"PyTorch Geometric not installed ({error})"
    return True, ""


def _run_worker(command, threads):
    env = dict(os.environ)
    # Each runtime gets the thread count of the run; BLAS inside fastgnn's worker is limited in-process.
    env["OMP_NUM_THREADS"] = str(threads)
    env.pop("OPENBLAS_NUM_THREADS", None)
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        message = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": message}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------- the table
def run(graphs=GRAPHS, models=MODELS, impls=IMPLS, threads=2, repeat=5, warmup=2, rounds=2, dropout=0.5,
        dgl_python=None, json_path=None, out=None):
    """Measure every (graph, model, implementation) and print the table; returns the rows.

    Parameters
    ----------
    graphs, models, impls, threads, repeat, warmup, rounds, dropout
        As the options of ``python bench/run.py training`` (see :func:`add_arguments`).
    dgl_python : str, optional
        The Python of DGL's environment; None skips DGL (its rows say so).
    json_path : str, optional
        Append one JSON line per row there.
    out : file-like, optional
        Where the table goes (default stdout).

    Returns
    -------
    list of dict
        One row per (graph, model, implementation): ``median_ms``,
        ``min_ms``, ``epochs_timed``, ``peak_mb``, ``ratio``, or ``error``,
        or ``skipped`` (the reason).
    """
    out = sys.stdout if out is None else out
    available, skipped = {}, {}
    for impl in impls:
        ok, why = _available(impl, dgl_python)
        available[impl] = ok
        if not ok:
            skipped[impl] = why
            print(f"# skipping {impl}: {why}", file=out)
    print(f"# training epochs (forward, loss, backward, Adam step), {threads} thread(s), dropout {dropout}, "
          f"median of {repeat} x {rounds} epochs after {warmup} warm-up; {platform.processor() or platform.machine()}",
          file=out, flush=True)
    rows = []
    for graph_name in graphs:
        for model_name in models:
            names = [impl for impl in impls if available[impl]
                     and not (impl == "pyg_cached" and model_name != "gcn")]
            samples = {impl: [] for impl in names}
            info = {}
            for _ in range(rounds):
                for impl in names:
                    result = _run_worker(_worker_command(impl, graph_name, model_name, threads, repeat, warmup,
                                                         dropout, dgl_python), threads)
                    if "error" in result:
                        info[impl] = result
                        continue
                    samples[impl].extend(result["times_ms"])
                    previous = info.get(impl, {})
                    result["peak_mb"] = max(filter(None, [result.get("peak_mb"), previous.get("peak_mb")]),
                                            default=None)
                    info[impl] = result
            base = statistics.median(samples["fastgnn"]) if samples.get("fastgnn") else None
            for impl in names:
                row = {"graph": graph_name, "model": model_name, "impl": impl, "threads": threads,
                       "dropout": dropout}
                if samples[impl]:
                    row["median_ms"] = statistics.median(samples[impl])
                    row["min_ms"] = min(samples[impl])
                    row["epochs_timed"] = len(samples[impl])
                    row["peak_mb"] = info[impl].get("peak_mb")
                    if "tracemalloc_peak_mb" in info[impl]:
                        row["tracemalloc_peak_mb"] = info[impl]["tracemalloc_peak_mb"]
                    if base is not None:
                        row["ratio"] = row["median_ms"] / base
                else:
                    row["error"] = info.get(impl, {}).get("error", "no result")
                rows.append(row)
                _print_row(row, out)
            for impl in impls:
                if impl in skipped and not (impl == "pyg_cached" and model_name != "gcn"):
                    row = {"graph": graph_name, "model": model_name, "impl": impl, "threads": threads,
                           "dropout": dropout, "skipped": skipped[impl]}
                    rows.append(row)
                    _print_row(row, out)
            faster = [r for r in rows if r["graph"] == graph_name and r["model"] == model_name
                      and r["impl"].startswith("pyg") and "median_ms" in r]
            if faster and base is not None:
                best = min(faster, key=lambda r: r["median_ms"])
                print(f"#   {graph_name}/{model_name}: fastgnn is {best['median_ms'] / base:.2f}x faster than the "
                      f"fastest PyG path ({best['impl']})", file=out, flush=True)
    if json_path:
        with open(json_path, "a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return rows


def _print_row(row, out):
    if "skipped" in row:
        reason = row["skipped"]
        if row["impl"] == "dgl":    # the full how-to was printed once, above the table
            reason = reason.split(";")[0] + " (--dgl-python PATH or FASTGNN_DGL_PYTHON)"
        print(f"{row['graph']:8s} {row['model']:5s} {row['impl']:22s} skipped: {reason}", file=out, flush=True)
        return
    if "error" in row:
        print(f"{row['graph']:8s} {row['model']:5s} {row['impl']:22s} error: {row['error']}", file=out, flush=True)
        return
    ratio = f"{row['ratio']:6.2f}x" if "ratio" in row else "       "
    peak = f"{row['peak_mb']:8.1f} MB" if row.get("peak_mb") is not None else "        ? MB"
    traced = (f"  (tracemalloc {row['tracemalloc_peak_mb']:.1f} MB)" if "tracemalloc_peak_mb" in row else "")
    print(f"{row['graph']:8s} {row['model']:5s} {row['impl']:22s} {row['median_ms']:9.1f} ms  {ratio}  "
          f"peak {peak}{traced}", file=out, flush=True)


# ---------------------------------------------------------------------- command line
def _names(allowed):
    def parse(text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        for name in names:
            if name not in allowed:
                raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(allowed)}")
        return names
    return parse


def add_arguments(parser):
    """Declare the options of ``python bench/run.py training``; returns the parser."""
    parser.add_argument("--graphs", type=_names(GRAPHS), default=list(GRAPHS), help="default: cora,uniform")
    parser.add_argument("--models", type=_names(MODELS), default=list(MODELS), help="default: gcn,sage")
    parser.add_argument("--impls", type=_names(IMPLS), default=list(IMPLS),
                        help="default: fastgnn,pyg,pyg_cached,pyg_csr,dgl (missing peers are skipped)")
    parser.add_argument("--threads", type=int, default=2, help="threads of every implementation (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed epochs per run (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up epochs per run (default 2)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of each implementation, round-robin (default 2)")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout of every model (default 0.5)")
    parser.add_argument("--dgl-python", metavar="PATH", default=os.environ.get(DGL_PYTHON_ENV) or None,
                        help="the Python of an environment with DGL 1.1, which runs bench/dgl_training_peer.py "
                             f"(default: ${DGL_PYTHON_ENV}; without either, DGL is skipped)")
    parser.add_argument("--json", metavar="PATH", default=None, help="append one JSON line per row to PATH")
    return parser


def run_from_args(args, records=None):
    """Run with parsed options; returns an exit status."""
    if args.threads < 1 or args.repeat < 1 or args.warmup < 0 or args.rounds < 1:
        raise SystemExit("--threads, --repeat and --rounds must be >= 1 and --warmup >= 0")
    rows = run(graphs=args.graphs, models=args.models, impls=args.impls, threads=args.threads, repeat=args.repeat,
               warmup=args.warmup, rounds=args.rounds, dropout=args.dropout, dgl_python=args.dgl_python,
               json_path=args.json)
    if records is not None:     # bench/run.py --plot draws their ratios
        records.extend(rows)
    return 0


def main(argv=None):
    """``python bench/training.py``: the table, or one measurement with ``--worker IMPL`` (in a fresh process)."""
    parser = argparse.ArgumentParser(prog="bench/run.py training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", choices=[i for i in IMPLS if i != "dgl"], default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument("--graph", choices=GRAPHS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, default=None, help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.worker is not None:
        result = measure(args.worker, args.graph, args.model, args.threads, args.repeat, args.warmup,
                         dropout=args.dropout)
        print(json.dumps(result), flush=True)
        return 0
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
