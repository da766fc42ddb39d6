"""GAT benchmarks against PyTorch Geometric and DGL: ``python bench/run.py gat``.

Two tasks (``--tasks``):

* ``layer``: one ``GATConv`` (``in -> heads x out``, concatenated, self-loops
  added as PyG does, attention dropout 0) on the 100,000-node, 2,000,000-edge
  ``uniform`` and ``powerlaw`` graphs of ``bench/graphs.py`` (their few
  duplicate edges dropped, :func:`graphs.unique_edges`: a sparse adjacency
  would merge them, an ``edge_index`` not), shapes
  ``64x8x8`` (64 -> 8 heads x 8) and ``128x8x16`` (``--shapes``), passes
  ``forward`` (inference: ``eval()``, no autograd) and ``forward_backward``
  (training mode, the output gradient fed back, the input needing no
  gradient), at 1 and 2 threads (``--threads``). Every implementation gets
  the same features and parameters (:func:`graphs.gat_layer_data`) and
  reports a checksum of its forward output, so the table can say when one
  computes something else. After the timings (caches built), the peak memory of one
  forward + backward: the growth of the process's RSS above its level just
  before (``/proc/self/clear_refs`` resets the peak), and for fastgnn's NumPy
  layer also :mod:`tracemalloc`'s peak (NumPy's allocations).
* ``epoch``: a 2-layer GAT (8 heads x 8 hidden, ELU, 1 output head,
  dropout 0.6 on the inputs and on the attention, Adam lr 0.005, weight
  decay 5e-4) and the same with GATv2 (``--models``), one full-batch
  training epoch on the ``uniform`` graph with 128 features and 10 classes
  (:func:`graphs.training_data`, duplicate edges dropped too; on the
  ``small`` graph instead when ``--graphs small`` alone is asked for, a
  quick run).

Implementations (``--impls``):

* ``fastgnn``: :class:`fastgnn.nn.GATConv` / :class:`fastgnn.models.GAT`
  (NumPy arrays, hand-written backward);
* ``fastgnn_kernels`` (``layer`` only): the fused attention kernels alone,
  :func:`fastgnn.ops.gat_attention` and, for ``forward_backward``,
  :func:`~fastgnn.ops.gat_attention_backward`, on the layer's projections
  and scores (computed once, untimed) over its graph with self-loops: how
  much of the layer's time the kernels take (the checksum adds the bias,
  so it matches the layer's output);
* ``fastgnn_torch``: :class:`fastgnn.interop.torch.GATConv` (a
  ``torch.nn.Module`` with PyG's interface on the same fused kernels), on
  ``edge_index``;
* ``pyg``: PyG's ``GATConv`` / ``GATv2Conv`` on ``edge_index``;
* ``pyg_csr``: the same on a ``torch.sparse_csr`` adjacency ``adj_t``;
* ``dgl``: DGL 1.1's ``GATConv`` / ``GATv2Conv`` in its own environment,
  run through ``bench/dgl_gat_peer.py`` by the interpreter of
  ``--dgl-python PATH`` (default: ``$FASTGNN_DGL_PYTHON``), on the graph
  with its self-loops replaced by one per node (the edges PyG attends over).

Each (task, graph, threads, implementation) runs in a fresh process (no
thread pool or allocator state carried over; peak memory is the
implementation's own), ``--rounds`` times round-robin; times are medians of
all timed runs. Slow implementations get fewer timed runs (at least one)
so that a run stays within about ``--budget`` seconds per measurement.
``x`` is the implementation's time over fastgnn's (above 1: fastgnn is
faster); ``x torch`` is over ``fastgnn_torch``'s.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np

from graphs import BENCH_GRAPHS, bench_edge_index, gat_layer_data, training_data, unique_edges
from measure import int_list, time_runs
from training import PeakMemory

__all__ = ["GRAPHS", "SHAPES", "THREADS", "PASSES", "LAYER_IMPLS", "EPOCH_IMPLS", "MODELS", "parse_shape",
           "layer_benchmark", "epoch_benchmark", "measure_layers", "measure_epochs", "run", "add_arguments",
           "run_from_args", "main"]

GRAPHS = ("uniform", "powerlaw")
SHAPES = ("64x8x8", "128x8x16")
THREADS = (1, 2)
PASSES = ("forward", "forward_backward")
LAYER_IMPLS = ("fastgnn", "fastgnn_kernels", "fastgnn_torch", "pyg", "pyg_csr", "dgl")
EPOCH_IMPLS = tuple(impl for impl in LAYER_IMPLS if impl != "fastgnn_kernels")
MODELS = ("gat", "gatv2")
TASKS = ("layer", "epoch")
HIDDEN, HEADS, DROPOUT, LR, WEIGHT_DECAY = 8, 8, 0.6, 0.005, 5e-4
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.abspath(__file__)
DGL_PEER = os.path.join(BENCH_DIR, "dgl_gat_peer.py")
DGL_PYTHON_ENV = "FASTGNN_DGL_PYTHON"
DGL_HOW_TO = (f"pass --dgl-python PATH or set {DGL_PYTHON_ENV} to the Python of an environment with DGL 1.1 "
              "(set-up in bench/dgl_peer.py)")
CHECK_RTOL = 1e-3        # forward checksums further apart than this (relative) are flagged in the table
_PASS_LABEL = {"forward": "fwd", "forward_backward": "fwd+bwd"}


def parse_shape(text):
    """``'64x8x8'`` -> ``(64, 8, 8)``: input channels, heads, channels per head."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"a shape is IN x HEADS x OUT, e.g. 64x8x8, got {text!r}")
    return tuple(int(p) for p in parts)


# ---------------------------------------------------------------------- layers
class LayerBench:
    """One implementation's GAT layer: ``forward()``, ``forward_backward()``, ``reset()``, ``checksum()``."""

    def __init__(self, forward, forward_backward, reset, checksum):
        self.forward, self.forward_backward, self.reset, self.checksum = forward, forward_backward, reset, checksum


def _fastgnn_layer(edge_index, num_nodes, data, heads, out_channels):
    import fastgnn
    from fastgnn.nn import GATConv

    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=num_nodes)
    conv = GATConv(data["x"].shape[1], out_channels, heads=heads, rng=0)
    conv.lin.weight.data[...] = data["weight"]
    conv.att_src.data[...] = data["att_src"]
    conv.att_dst.data[...] = data["att_dst"]
    conv.bias.data[...] = data["bias"]
    x, grad = data["x"], data["grad"]

    def forward():
        conv.eval()
        return conv(graph, x)

    def forward_backward():
        conv.train()
        conv(graph, x)
        conv.backward(grad, need_input_grad=False)

    return LayerBench(forward, forward_backward, conv.zero_grad, lambda: float(forward().sum(dtype=np.float64)))


def _fastgnn_kernels(edge_index, num_nodes, data, heads, out_channels):
    import fastgnn
    from fastgnn import ops
    from fastgnn.nn import GATConv

    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=num_nodes)
    attended = GATConv(data["x"].shape[1], out_channels, heads=heads, rng=0).attention_graph(graph)
    z = (data["x"] @ data["weight"].T).reshape(num_nodes, heads, out_channels)
    score_src = np.einsum("nhc,hc->nh", z, data["att_src"][0])
    score_dst = np.einsum("nhc,hc->nh", z, data["att_dst"][0])
    grad = np.ascontiguousarray(data["grad"].reshape(num_nodes, heads, out_channels))

    def forward():
        return ops.gat_attention(attended, z, score_src, score_dst)[0]

    def forward_backward():
        out, state = ops.gat_attention(attended, z, score_src, score_dst)
        ops.gat_attention_backward(attended, grad, z, score_src, score_dst, state)

    def checksum():
        return float((forward().reshape(num_nodes, -1) + data["bias"]).sum(dtype=np.float64))

    return LayerBench(forward, forward_backward, lambda: None, checksum)


def _csr_adjacency(torch, edge_index, num_nodes):
    """PyG's ``adj_t`` (rows are destinations) with every edge kept (duplicates too), as a sparse CSR tensor."""
    src, dst = edge_index
    order = np.lexsort((src, dst))
    crow = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=num_nodes), out=crow[1:])
    return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(src[order].astype(np.int64)),
                                   torch.ones(src.shape[0]), size=(num_nodes, num_nodes))


def _torch_layer(impl, edge_index, num_nodes, data, heads, out_channels):
    import torch

    if impl == "fastgnn_torch":
        from fastgnn.interop.torch import GATConv
    else:
        from torch_geometric.nn import GATConv
    conv = GATConv(data["x"].shape[1], out_channels, heads=heads)
    conv.load_state_dict({"lin.weight": torch.from_numpy(data["weight"]), "att_src": torch.from_numpy(data["att_src"]),
                          "att_dst": torch.from_numpy(data["att_dst"]), "bias": torch.from_numpy(data["bias"])})
    if impl == "pyg_csr":
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
        adjacency = _csr_adjacency(torch, edge_index, num_nodes)
    else:
        adjacency = torch.from_numpy(np.ascontiguousarray(edge_index, dtype=np.int64))
    x, grad = torch.from_numpy(data["x"]), torch.from_numpy(data["grad"])

    def forward():
        conv.eval()
        with torch.no_grad():
            return conv(x, adjacency)

    def forward_backward():
        conv.train()
        conv(x, adjacency).backward(grad)

    def reset():
        for parameter in conv.parameters():
            parameter.grad = None

    return LayerBench(forward, forward_backward, reset, lambda: float(forward().double().sum()))


def layer_benchmark(impl, edge_index, num_nodes, shape, seed=0):
    """The :class:`LayerBench` of ``impl`` (not ``dgl``) on a graph, for a shape ``(in, heads, out)``."""
    in_channels, heads, out_channels = shape
    data = gat_layer_data(num_nodes, in_channels, heads, out_channels, seed=seed)
    if impl == "fastgnn":
        return _fastgnn_layer(edge_index, num_nodes, data, heads, out_channels)
    if impl == "fastgnn_kernels":
        return _fastgnn_kernels(edge_index, num_nodes, data, heads, out_channels)
    if impl in ("fastgnn_torch", "pyg", "pyg_csr"):
        return _torch_layer(impl, edge_index, num_nodes, data, heads, out_channels)
    raise ValueError(f"impl must be one of {LAYER_IMPLS[:-1]} here (DGL runs in bench/dgl_gat_peer.py), got {impl!r}")


def _peak(bench, traced):
    """Peak memory (MB) of one forward + backward: RSS growth and, if ``traced``, tracemalloc's peak."""
    bench.reset()
    memory = PeakMemory()
    if traced:
        tracemalloc.start()
    bench.forward_backward()
    result = {"peak_mb": memory.stop()}
    if traced:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    bench.reset()
    return result


def measure_layers(impl, edge_index, num_nodes, shapes, threads, passes=PASSES, repeat=5, warmup=1, budget_s=5.0,
                   memory=True):
    """Time every shape and pass of one implementation in this process; a list of result dicts."""
    _set_threads(impl, threads)
    results = []
    for shape_name in shapes:
        bench = layer_benchmark(impl, edge_index, num_nodes, parse_shape(shape_name))
        entry = {"shape": shape_name, "checksum": bench.checksum()}
        timed = [(pass_, time_runs(getattr(bench, pass_), bench.reset, repeat, warmup, budget_s)) for pass_ in passes]
        if memory:  # after the timed runs: caches built (graph with loops, transpose), as in training
            entry.update(_peak(bench, traced=impl in ("fastgnn", "fastgnn_kernels")))
        for pass_, times in timed:
            results.append(dict(entry, **{"pass": pass_, "times_ms": [1000 * t for t in times]}))
        del bench
    return results


def _set_threads(impl, threads):
    if impl in ("fastgnn", "fastgnn_kernels", "fastgnn_torch"):
        import fastgnn

        fastgnn.set_num_threads(threads)
    if impl not in ("fastgnn", "fastgnn_kernels"):
        import torch

        torch.set_num_threads(threads)


# ---------------------------------------------------------------------- training epochs
def _fastgnn_epoch(model_name, edge_index, x, y, num_classes, seed=0):
    import fastgnn
    from fastgnn.losses import cross_entropy
    from fastgnn.models import GAT, GATv2
    from fastgnn.optim import Adam

    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=x.shape[0])
    cls = GAT if model_name == "gat" else GATv2
    model = cls(x.shape[1], HIDDEN, num_classes, heads=HEADS, output_heads=1, dropout=DROPOUT, rng=seed)
    optimizer = Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

    def epoch():
        model.train()
        optimizer.zero_grad()
        loss, grad = cross_entropy(model(graph, x), y)
        model.backward(grad)
        optimizer.step()
        return loss

    return epoch


def _torch_epoch(impl, model_name, edge_index, x, y, num_classes, seed=0):
    import torch
    import torch.nn.functional as F

    if impl == "fastgnn_torch":
        from fastgnn.interop.torch import GATConv, GATv2Conv
    else:
        from torch_geometric.nn import GATConv, GATv2Conv
    torch.manual_seed(seed)
    cls = GATConv if model_name == "gat" else GATv2Conv
    num_nodes = x.shape[0]
    if impl == "pyg_csr":
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
        adjacency = _csr_adjacency(torch, edge_index, num_nodes)
    else:
        adjacency = torch.from_numpy(np.ascontiguousarray(edge_index, dtype=np.int64))
    conv1 = cls(x.shape[1], HIDDEN, heads=HEADS, dropout=DROPOUT)
    conv2 = cls(HIDDEN * HEADS, num_classes, heads=1, concat=False, dropout=DROPOUT)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = conv1, conv2

        def forward(self, features, adj):
            h = F.dropout(features, p=DROPOUT, training=self.training)
            h = F.elu(self.conv1(h, adj))
            h = F.dropout(h, p=DROPOUT, training=self.training)
            return self.conv2(h, adj)

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_t, adjacency), y_t)
        loss.backward()
        optimizer.step()
        return loss.item()

    return epoch


def epoch_benchmark(impl, model_name, edge_index, x, y, num_classes, seed=0):
    """A closure running one training epoch of ``impl`` (not ``dgl``)."""
    if model_name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model_name!r}")
    if impl == "fastgnn":
        return _fastgnn_epoch(model_name, edge_index, x, y, num_classes, seed)
    if impl in ("fastgnn_torch", "pyg", "pyg_csr"):
        return _torch_epoch(impl, model_name, edge_index, x, y, num_classes, seed)
    raise ValueError(f"impl must be one of {EPOCH_IMPLS[:-1]} here, got {impl!r}")


def measure_epochs(impl, model_name, data, threads, repeat=5, warmup=1, budget_s=5.0):
    """Time training epochs of one implementation in this process; a result dict."""
    _set_threads(impl, threads)
    edge_index, x, y, _, num_classes = data
    epoch = epoch_benchmark(impl, model_name, edge_index, x, y, num_classes)
    memory = PeakMemory()
    traced = impl == "fastgnn"
    if traced:
        tracemalloc.start()
    times = time_runs(epoch, lambda: None, repeat, warmup, budget_s)
    result = {"model": model_name, "times_ms": [1000 * t for t in times], "peak_mb": memory.stop()}
    if traced:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    return result


# ---------------------------------------------------------------------- workers
def _worker(args):
    """One (task, graph, threads, implementation) measurement in this fresh process; prints one JSON line."""
    result = {"impl": args.worker, "task": args.task, "graph": args.graph, "threads": args.threads}
    if args.task == "layer":
        edge_index, num_nodes = bench_edge_index(args.graph)
        edge_index = unique_edges(edge_index)
        result["results"] = measure_layers(args.worker, edge_index, num_nodes, args.shapes, args.threads,
                                           args.passes, args.repeat, args.warmup, args.budget)
    else:
        edge_index, x, y, mask, num_classes = training_data(args.graph)
        data = (unique_edges(edge_index), x, y, mask, num_classes)
        result["results"] = [measure_epochs(args.worker, model, data, args.threads, args.repeat, args.warmup,
                                            args.budget) for model in args.models]
    print(json.dumps(result), flush=True)
    return 0


def _worker_command(impl, task, graph, threads, args, dgl_python):
    common = ["--task", task, "--graph", graph, "--threads", str(threads), "--repeat", str(args["repeat"]),
              "--warmup", str(args["warmup"]), "--budget", str(args["budget"]), "--shapes", ",".join(args["shapes"]),
              "--passes", ",".join(args["passes"]), "--models", ",".join(args["models"])]
    if impl == "dgl":
        return [dgl_python, DGL_PEER] + common
    return [sys.executable, WORKER, "--worker", impl] + common


def _available(impl, dgl_python):
    if impl in ("fastgnn", "fastgnn_kernels"):
        return True, ""
    if impl == "dgl":
        if not dgl_python:
            return False, f"no DGL interpreter given; {DGL_HOW_TO}"
        if not (os.path.isfile(dgl_python) and os.access(dgl_python, os.X_OK)):
            return False, f"the DGL interpreter {dgl_python} is not an executable file; {DGL_HOW_TO}"
        return True, ""
    try:
        import torch  # noqa: F401
        if impl != "fastgnn_torch":
            import torch_geometric  # noqa: F401
    except ImportError as error:
        return False, f"not installed ({error})"
    return True, ""


def _run_worker(command, threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)     # every runtime (and NumPy's BLAS) gets the run's thread count
    env.pop("OPENBLAS_NUM_THREADS", None)
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=BENCH_DIR)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        message = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": message}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------- the tables
def _ratio(value, base):
    return f"{value / base:6.2f}x" if base else "       "


def _memory(info):
    if info.get("peak_mb") is None:
        return ""
    traced = f" (tracemalloc {info['tracemalloc_peak_mb']:.0f})" if "tracemalloc_peak_mb" in info else ""
    return f"  peak {info['peak_mb']:7.0f} MB{traced}"


def _collect(rows_by_key, key, sample, extra):
    entry = rows_by_key.setdefault(key, {"times_ms": []})
    entry["times_ms"].extend(sample)
    for name, value in extra.items():
        if name in ("peak_mb", "tracemalloc_peak_mb"):
            if value is not None:
                entry[name] = max(value, entry.get(name) or 0.0)
        else:
            entry.setdefault(name, value)


def run(tasks=TASKS, graphs=GRAPHS, shapes=SHAPES, threads=THREADS, passes=PASSES, impls=LAYER_IMPLS,
        models=MODELS, repeat=5, warmup=1, rounds=1, budget=5.0, dgl_python=None, json_path=None, out=None):
    """Measure and print the tables; returns the rows (one per task, graph, threads, shape/model, pass, impl).

    Parameters
    ----------
    tasks, graphs, shapes, threads, passes, impls, models, repeat, warmup, rounds, budget
        As the options of ``python bench/run.py gat`` (see :func:`add_arguments`).
    dgl_python : str, optional
        The Python of DGL's environment; None skips DGL (its rows say so).
    json_path : str, optional
        Append one JSON line per row there.
    out : file-like, optional
    """
    out = sys.stdout if out is None else out
    available = {}
    for impl in impls:
        ok, why = _available(impl, dgl_python)
        available[impl] = ok
        if not ok:
            print(f"# skipping {impl}: {why}", file=out)
    names = [impl for impl in impls if available[impl]]
    options = {"repeat": repeat, "warmup": warmup, "budget": budget, "shapes": list(shapes), "passes": list(passes),
               "models": list(models)}
    print(f"# GAT benchmarks, median of up to {repeat} x {rounds} runs after {warmup} warm-up, "
          f"{platform.processor() or platform.machine()}; x = time / fastgnn's, x torch = time / fastgnn_torch's",
          file=out, flush=True)
    rows = []
    for task in tasks:
        # epochs: on the uniform graph (the training benchmark's), or on `small` alone when only it is asked for
        task_graphs = graphs if task == "layer" else (["small"] if list(graphs) == ["small"] else ["uniform"])
        for graph in task_graphs:
            for n_threads in threads:
                collected, errors = {}, {}
                task_names = [impl for impl in names if task == "layer" or impl in EPOCH_IMPLS]
                for _ in range(rounds):
                    for impl in task_names:
                        result = _run_worker(_worker_command(impl, task, graph, n_threads, options, dgl_python),
                                             n_threads)
                        if "error" in result:
                            errors[impl] = result["error"]
                            continue
                        for item in result["results"]:
                            what = item.get("shape", item.get("model"))
                            key = (what, item.get("pass", "epoch"), impl)
                            extra = {k: v for k, v in item.items() if k not in ("times_ms", "shape", "model", "pass")}
                            _collect(collected, key, item["times_ms"], extra)
                rows.extend(_print_block(task, graph, n_threads, collected, errors, task_names, out))
    if json_path:
        with open(json_path, "a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return rows


def _print_block(task, graph, n_threads, collected, errors, names, out):
    rows = []
    if task == "layer":
        nodes, edges = BENCH_GRAPHS[graph][1:]
        title = f"## GATConv on {graph} ({nodes:,} nodes, {edges:,} edges + self-loops), {n_threads} thread(s)"
    else:
        nodes, edges = BENCH_GRAPHS[graph][1:]
        title = (f"## 2-layer training epoch on {graph} ({nodes:,} nodes, {edges:,} edges + self-loops, 128 "
                 f"features, 10 classes), {n_threads} thread(s)")
    print(title, file=out, flush=True)
    for what, pass_ in sorted({key[:2] for key in collected}, key=lambda k: (str(k[0]), str(k[1]))):
        base = collected.get((what, pass_, "fastgnn"), {}).get("times_ms")
        torch_base = collected.get((what, pass_, "fastgnn_torch"), {}).get("times_ms")
        base = statistics.median(base) if base else None
        torch_base = statistics.median(torch_base) if torch_base else None
        reference = collected.get((what, pass_, "fastgnn"), {}).get("checksum")
        for impl in names:
            entry = collected.get((what, pass_, impl))
            label = f"{what:9s} {_PASS_LABEL.get(pass_, pass_):7s} {impl:15s}"
            if entry is None:
                print(f"{label} error: {errors.get(impl, 'no result')}", file=out, flush=True)
                rows.append({"task": task, "graph": graph, "threads": n_threads, "what": what, "pass": pass_,
                             "impl": impl, "error": errors.get(impl, "no result")})
                continue
            median = statistics.median(entry["times_ms"])
            row = {"task": task, "graph": graph, "threads": n_threads, "what": what, "pass": pass_, "impl": impl,
                   "median_ms": median, "min_ms": min(entry["times_ms"]), "runs": len(entry["times_ms"])}
            row.update({k: entry[k] for k in ("peak_mb", "tracemalloc_peak_mb", "checksum") if k in entry})
            if base:
                row["ratio"] = median / base
            if torch_base and impl not in ("fastgnn", "fastgnn_kernels", "fastgnn_torch"):
                row["ratio_torch"] = median / torch_base
            flag = ""
            checksum = entry.get("checksum")
            if reference is not None and checksum is not None and \
                    abs(checksum - reference) > CHECK_RTOL * max(1.0, abs(reference)):
                flag = f"  OUTPUT DIFFERS (checksum {checksum:.6g} vs fastgnn {reference:.6g})"
                row["output_differs"] = True
            torch_ratio = f"  x torch {row['ratio_torch']:5.2f}" if "ratio_torch" in row else ""
            memory = _memory(entry) if pass_ in ("forward_backward", "epoch") else ""
            print(f"{label} {median:9.1f} ms  {_ratio(median, base)}{torch_ratio}{memory}{flag}", file=out,
                  flush=True)
            rows.append(row)
    return rows


# ---------------------------------------------------------------------- command line
def _names(allowed):
    def parse(text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        for name in names:
            if name not in allowed:
                raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(allowed)}")
        return names
    return parse


def _shapes(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        try:
            parse_shape(name)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return names


def add_arguments(parser):
    """Declare the options of ``python bench/run.py gat``; returns the parser."""
    parser.add_argument("--tasks", type=_names(TASKS), default=list(TASKS), help="default: layer,epoch")
    parser.add_argument("--graphs", type=_names(tuple(BENCH_GRAPHS)), default=list(GRAPHS),
                        help="default: uniform,powerlaw (small: 20k nodes, 400k edges; epochs run on uniform, "
                             "or on small when it is the only graph)")
    parser.add_argument("--shapes", type=_shapes, default=list(SHAPES),
                        help="IN x HEADS x OUT (default 64x8x8,128x8x16)")
    parser.add_argument("--threads", type=int_list, default=list(THREADS), help="default: 1,2")
    parser.add_argument("--passes", type=_names(PASSES), default=list(PASSES), help="default: forward,forward_backward")
    parser.add_argument("--impls", type=_names(LAYER_IMPLS), default=list(LAYER_IMPLS),
                        help="default: fastgnn,fastgnn_kernels,fastgnn_torch,pyg,pyg_csr,dgl (missing peers are "
                             "skipped; fastgnn_kernels runs in the layer task only)")
    parser.add_argument("--models", type=_names(MODELS), default=list(MODELS), help="epoch models (default gat,gatv2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up runs (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each implementation, round-robin (default 1)")
    parser.add_argument("--budget", type=float, default=5.0,
                        help="seconds of timed runs per measurement, above which fewer runs are timed (default 5)")
    parser.add_argument("--dgl-python", metavar="PATH", default=os.environ.get(DGL_PYTHON_ENV) or None,
                        help=f"the Python of an environment with DGL 1.1 (default: ${DGL_PYTHON_ENV}; without it, "
                             "DGL is skipped)")
    parser.add_argument("--json", metavar="PATH", default=None, help="append one JSON line per row to PATH")
    return parser


def run_from_args(args, records=None):
    """Run with parsed options; returns an exit status."""
    if args.repeat < 1 or args.warmup < 0 or args.rounds < 1 or args.budget <= 0:
        raise SystemExit("--repeat and --rounds must be >= 1, --warmup >= 0 and --budget > 0")
    rows = run(tasks=args.tasks, graphs=args.graphs, shapes=args.shapes, threads=args.threads, passes=args.passes,
               impls=args.impls, models=args.models, repeat=args.repeat, warmup=args.warmup, rounds=args.rounds,
               budget=args.budget, dgl_python=args.dgl_python, json_path=args.json)
    if records is not None:     # bench/run.py --plot draws their ratios
        records.extend(rows)
    return 0


def main(argv=None):
    """``python bench/attention.py``: the tables, or one measurement with ``--worker IMPL`` (in a fresh process)."""
    parser = argparse.ArgumentParser(prog="bench/run.py gat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", choices=[i for i in LAYER_IMPLS if i != "dgl"], default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=TASKS, default="layer", help=argparse.SUPPRESS)
    parser.add_argument("--graph", choices=tuple(BENCH_GRAPHS), default="uniform", help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.worker is not None:
        args.threads = args.threads[0]
        return _worker(args)
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
