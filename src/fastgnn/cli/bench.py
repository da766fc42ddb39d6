"""``python -m fastgnn bench``: time fastgnn's aggregation kernels on seeded synthetic graphs.

What is timed, per graph, feature width ``d`` (float32), reduction (sum,
mean, max, min) and thread count (1 and every thread fastgnn uses by
default, see :func:`fastgnn.get_num_threads`):

* ``fwd``: :func:`fastgnn.aggregate` on a :class:`fastgnn.Graph` built once,
  its transpose and inverse degrees cached before any timing, as in a
  training loop;
* ``fwd+bwd``: ``aggregate`` then :func:`fastgnn.aggregate_backward` (over
  the cached transpose for sum/mean; through the winning edges ``arg`` for
  max/min).

Each call is warmed up, then timed ``--repeat`` times; the median is
reported, with

* ``GB/s``: the effective memory bandwidth, :func:`bytes_moved` / time;
* ``peak MiB``: the :mod:`tracemalloc` peak of the call alone (NumPy reports
  its buffers to it and the kernels allocate nothing else), next to the
  ``E x d x 4`` bytes that an implementation materialising its messages would
  need for them alone;
* ``floor``: the machine's limit for the same work, measured in the same run
  (:mod:`fastgnn.bench.machine`; skipped with ``--no-machine``). A ``floor``
  line per block times the ideal prefetching row gather
  (:func:`fastgnn.bench.machine.gather_floor`: every in-neighbour row summed
  in registers, rows prefetched a fixed distance ahead, chunks of equal edge
  count, the output rows written; over the graph for ``fwd``, and over its
  transpose too for ``fwd+bwd``), and each kernel line shows its fraction of
  that floor, floor time / kernel time (100%: as fast as the floor; for
  max/min the backward is no row gather, so the fwd+bwd figure is only a
  reference point). Before the table, the STREAM triad's GB/s at each thread
  count (``a = b + s * c`` over three 256 MiB float64 arrays, counted as
  STREAM does: 3 arrays x 8 bytes per element).

Only fastgnn is timed, so the command works from an installed package with
nothing else installed. The comparisons with dense NumPy, scipy.sparse,
PyTorch, PyTorch Geometric and DGL live in the source repository's
``bench/`` folder (``python bench/run.py aggregation``), which reuses
:func:`bytes_moved` and :func:`peak_memory` from here.
"""
import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc

__all__ = ["SIZES", "GRAPHS", "REDUCES", "PASSES", "bytes_moved", "peak_memory", "build_graph", "time_call",
           "run", "add_arguments", "ratio_records", "run_from_args"]

# name -> (num_nodes, num_edges). "small" keeps the default run well under a
# minute on two cores; "medium" is the size of the peer benchmarks in bench/.
SIZES = {
    "small": (50_000, 500_000),
    "medium": (100_000, 2_000_000),
    "large": (1_000_000, 10_000_000),
}
DEFAULT_SIZE = "small"
GRAPHS = ("uniform", "powerlaw")
REDUCES = ("sum", "mean", "max", "min")
PASSES = ("forward", "forward_backward")
DIM = 64
PASS_LABEL = {"forward": "fwd", "forward_backward": "fwd+bwd"}
# Cost of one call relative to a forward sum, for the up-front estimate of the run time only.
_COST = {("forward", False): 1.0, ("forward", True): 2.0,
         ("forward_backward", False): 3.0, ("forward_backward", True): 4.5}


class BenchError(ValueError):
    """A bad option value, reported as one line on stderr (exit status 2)."""


# --------------------------------------------------------------------------- accounting
def bytes_moved(graph, d, reduce, pass_, itemsize=4):
    """A lower bound on the memory traffic of one aggregation, in bytes.

    Parameters
    ----------
    graph : fastgnn.Graph
    d : int
        Feature width.
    reduce : {"sum", "mean", "max", "min"}
    pass_ : {"forward", "forward_backward"}
    itemsize : int
        Bytes per feature value (4 for float32).

    Returns
    -------
    int

    Notes
    -----
    Forward: ``indptr`` and ``indices``, one feature row gathered per edge,
    the output written, and ``arg`` for max/min. Backward of sum/mean (a
    gather over the cached transpose): its ``indptr`` and ``indices``, one
    gradient row gathered per edge, the gradient written (and the inverse
    degrees for mean). Backward of max/min (each output element's gradient
    sent to its winning edge's source): ``arg`` and ``grad_out`` read, the
    winning edge's source looked up per element, the gradient written.
    Gathered rows found in cache are still counted, hence an *effective*
    bandwidth, which can exceed the DRAM bandwidth.
    """
    idx = graph.index_dtype.itemsize
    n_dst, n_src, e = graph.num_dst_nodes, graph.num_src_nodes, graph.num_edges
    extremum = reduce in ("max", "min")
    forward = idx * (n_dst + 1 + e) + e * d * itemsize + n_dst * d * itemsize
    if extremum:
        forward += n_dst * d * idx
    if pass_ == "forward":
        return forward
    if extremum:
        backward = n_dst * d * (2 * idx + itemsize) + n_src * d * itemsize
    else:
        backward = idx * (n_src + 1 + e) + e * d * itemsize + n_src * d * itemsize
        if reduce == "mean":
            backward += n_dst * itemsize
    return forward + backward


def peak_memory(graph, x, grad_out, reduce, threads):
    """Peak extra bytes of one ``aggregate`` and one ``aggregate_backward`` call.

    Parameters
    ----------
    graph : fastgnn.Graph
    x, grad_out : ndarray of shape (num_nodes, d)
        Features and output gradient.
    reduce : {"sum", "mean", "max", "min"}
    threads : int

    Returns
    -------
    dict
        ``{"forward": bytes, "backward": bytes}``: the forward's figure
        includes its output (and ``arg``), the backward's its gradient.
        Measured with :mod:`tracemalloc` after a first, untracked pair of
        calls has filled the graph's caches.
    """
    from fastgnn.ops import aggregate, aggregate_backward

    extremum = reduce in ("max", "min")
    out, arg = aggregate(graph, x, reduce, return_arg=True, n_threads=threads)
    aggregate_backward(graph, grad_out, reduce, arg=arg, n_threads=threads)
    del out, arg
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out, arg = aggregate(graph, x, reduce, return_arg=True, n_threads=threads)
        forward = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        grad = aggregate_backward(graph, grad_out, reduce, arg=arg if extremum else None, n_threads=threads)
        backward = tracemalloc.get_traced_memory()[1] - base
        del out, arg, grad
    finally:
        if started:
            tracemalloc.stop()
    return {"forward": int(forward), "backward": int(backward)}


def _needed_bytes(num_nodes, num_edges, d):
    """A lower bound of the memory one graph of the run takes (edge list, CSR and transpose, features)."""
    idx = 4 if max(num_nodes, num_edges) < 2**31 else 8
    return 16 * num_edges + 2 * idx * (num_edges + num_nodes) + num_nodes * d * (4 * 4 + idx)


# --------------------------------------------------------------------------- graphs and timing
def build_graph(kind, num_nodes, num_edges, seed=0):
    """A seeded synthetic :class:`fastgnn.Graph` with its transpose and inverse degrees cached.

    Parameters
    ----------
    kind : {"uniform", "powerlaw"}
        :func:`fastgnn.datasets.uniform_edge_index` or
        :func:`fastgnn.datasets.power_law_edge_index`.
    num_nodes, num_edges : int
    seed : int

    Returns
    -------
    fastgnn.Graph
    """
    import numpy as np

    from fastgnn.datasets.synthetic import power_law_edge_index, uniform_edge_index
    from fastgnn.graph import Graph

    generate = uniform_edge_index if kind == "uniform" else power_law_edge_index
    graph = Graph.from_edge_index(generate(num_nodes, num_edges, rng=seed), num_nodes)
    graph.transpose_csr()
    graph.inverse_in_degree(np.float32)
    return graph


def timed_call(graph, x, grad_out, reduce, threads, pass_):
    """The callable timed for one (reduce, threads, pass)."""
    from fastgnn.ops import aggregate, aggregate_backward

    if pass_ == "forward":
        return lambda: aggregate(graph, x, reduce, n_threads=threads)
    extremum = reduce in ("max", "min")

    def forward_backward():
        if extremum:
            out, arg = aggregate(graph, x, reduce, return_arg=True, n_threads=threads)
        else:
            out, arg = aggregate(graph, x, reduce, n_threads=threads), None
        return out, aggregate_backward(graph, grad_out, reduce, arg=arg, n_threads=threads)
    return forward_backward


def time_call(fn, repeat=5, warmup=1):
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times timed; returns the times in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _estimate_seconds(graphs, dims, threads, reduces, repeat, warmup, memory, seconds_per_unit, floor=False):
    """Seconds the timed part will take, from the calibrated cost of one forward sum."""
    total = 0.0
    for graph in graphs:
        for d in dims:
            forward_sum = seconds_per_unit * (graph.num_edges + graph.num_dst_nodes) * d
            for reduce in reduces:
                extremum = reduce in ("max", "min")
                runs = len(threads) * (warmup + repeat)
                total += forward_sum * runs * sum(_COST[pass_, extremum] for pass_ in PASSES)
                if memory:
                    total += forward_sum * (_COST["forward_backward", extremum] * 2)
            if floor:
                total += forward_sum * len(threads) * (warmup + repeat) * 3    # the gather floor, fwd and fwd+bwd
    return total


# --------------------------------------------------------------------------- the run
def _text_bytes(count):
    return f"{count / 2**20:,.0f} MiB" if count >= 2**20 else f"{count / 2**10:,.0f} KiB"


def _threads_label(threads):
    return f"{threads} thread{'s' if threads > 1 else ''}"


def _cells(rec, with_floor):
    """One thread count's cells of a kernel line: ms, GB/s and (with the floor) its fraction of the floor."""
    if rec is None:
        return f"{'-':>9s} {'-':>6s}" + (f" {'-':>5s}" if with_floor else "")
    text = f"{rec['median_ms']:9.2f} {rec['gbytes_per_s']:6.1f}"
    if with_floor:
        fraction = rec.get("fraction_of_floor")
        text += f" {'-':>5s}" if fraction is None else f" {fraction:5.0%}"
    return text


def format_table(records, threads, floors=None):
    """The table: one block per (graph, d), one line per (reduce, pass), one column group per thread count.

    ``floors`` maps ``(graph, d, pass, threads)`` to the gather floor's median
    ms; with it, each block starts with the floor's lines and every thread
    count gets a ``floor`` column: floor time / kernel time.
    """
    floors = floors or {}
    blocks, order = {}, []
    for rec in records:
        key = rec["graph"], rec["d"]
        if key not in blocks:
            blocks[key] = {}
            order.append(key)
        blocks[key][rec["reduce"], rec["pass"], rec["threads"]] = rec
    speedup = len(threads) > 1
    with_floor = bool(floors)
    floor_head = f" {'floor':>5s}" if with_floor else ""
    head = f"{'reduce':6s} {'pass':7s} " + " ".join(f"{f't={t} ms':>9s} {'GB/s':>6s}{floor_head}" for t in threads)
    if speedup:
        head += f" {'speed-up':>8s}"
    head += f" {'peak MiB':>8s}"
    lines = []
    for key in order:
        cells = blocks[key]
        some = next(iter(cells.values()))
        lines.append("")
        lines.append(f"{key[0]}: {some['num_nodes']:,} nodes, {some['num_edges']:,} edges, d={key[1]}; "
                     f"E x d messages would take {_text_bytes(some['message_bytes'])} (never built here)")
        lines.append(head)
        lines.append("-" * len(head))
        for pass_ in PASSES if with_floor else ():
            row = [floors.get((key[0], key[1], pass_, t)) for t in threads]
            if all(ms is None for ms in row):
                continue
            moved = some["floor_bytes"][pass_]
            text = f"{'floor':6s} {PASS_LABEL[pass_]:7s} " + " ".join(
                f"{'-':>9s} {'-':>6s} {'-':>5s}" if ms is None
                else f"{ms:9.2f} {moved / (ms * 1e-3) / 1e9:6.1f} {'100%':>5s}" for ms in row)
            if speedup:
                text += (f" {row[0] / row[-1]:7.2f}x" if row[0] and row[-1] else f" {'-':>8s}")
            lines.append(text + f" {'-':>8s}")
        for reduce in REDUCES:
            for pass_ in PASSES:
                row = [cells.get((reduce, pass_, t)) for t in threads]
                if all(rec is None for rec in row):
                    continue
                text = f"{reduce:6s} {PASS_LABEL[pass_]:7s} "
                text += " ".join(_cells(rec, with_floor) for rec in row)
                if speedup:
                    first, last = row[0], row[-1]
                    text += (f" {first['median_ms'] / last['median_ms']:7.2f}x" if first and last
                             else f" {'-':>8s}")
                peaks = [rec["peak_bytes"] for rec in row if rec is not None and rec.get("peak_bytes") is not None]
                text += f" {peaks[0] / 2**20:8.1f}" if peaks else f" {'-':>8s}"
                lines.append(text)
    return "\n".join(lines)


def run(graphs=GRAPHS, num_nodes=None, num_edges=None, dims=(DIM,), threads=None, reduces=REDUCES, repeat=5,
        warmup=1, memory=True, json_path=None, file=None, machine=True, triad_bytes=None):
    """Time the aggregation kernels, print the table and return the records.

    Parameters
    ----------
    graphs : sequence of {"uniform", "powerlaw"}
    num_nodes, num_edges : int, optional
        Size of every graph (default: the ``small`` entry of :data:`SIZES`).
    dims : sequence of int
        Feature widths.
    threads : sequence of int, optional
        Thread counts (default: 1 and :func:`fastgnn.get_num_threads`).
    reduces : sequence of {"sum", "mean", "max", "min"}
    repeat, warmup : int
        Timed and untimed runs of each call.
    memory : bool
        Whether to measure the tracemalloc peak of each call.
    json_path : str, optional
        Also write one JSON line per record there.
    file : file-like, optional
        Where the table goes (default stdout).
    machine : bool
        Also measure the STREAM triad (per thread count) and the gather
        floor (per graph, d, pass and thread count), see
        :mod:`fastgnn.bench.machine`.
    triad_bytes : int, optional
        Bytes of each triad array (default
        :data:`fastgnn.bench.machine.DEFAULT_TRIAD_ARRAY_BYTES`).

    Returns
    -------
    list of dict
        One record per (graph, d, reduce, pass, threads): ``median_ms``,
        ``runs_ms``, ``bytes_moved``, ``gbytes_per_s``, ``message_bytes``,
        ``peak_bytes`` (when measured), sizes and versions; with ``machine``,
        also ``floor_ms`` (the gather floor of the same graph, d, pass and
        threads), ``fraction_of_floor`` (``floor_ms / median_ms``) and
        ``triad_gbytes_per_s``.
    """
    import numpy as np

    import fastgnn
    from fastgnn.bench import machine as probes

    file = sys.stdout if file is None else file
    default_nodes, default_edges = SIZES[DEFAULT_SIZE]
    num_nodes = default_nodes if num_nodes is None else num_nodes
    num_edges = default_edges if num_edges is None else num_edges
    if threads is None:
        threads = sorted({1, fastgnn.get_num_threads()})
    threads, dims = list(threads), list(dims)

    def say(*args):
        print(*args, file=file, flush=True)

    say(f"fastgnn {fastgnn.__version__} aggregation benchmark: aggregate ({', '.join(reduces)}; forward and "
        f"forward+backward) on {len(graphs)} seeded synthetic graph{'s' if len(graphs) > 1 else ''} "
        f"({', '.join(graphs)}) of "
        f"{num_nodes:,} nodes and {num_edges:,} edges, d={','.join(map(str, dims))} float32, "
        f"threads {','.join(map(str, threads))}; median of {repeat} runs")
    started = time.perf_counter()
    built = {}
    for kind in graphs:
        built[kind] = build_graph(kind, num_nodes, num_edges, seed=0)
    build_s = time.perf_counter() - started
    features = {d: (np.random.default_rng(1).standard_normal((num_nodes, d), dtype=np.float32),
                    np.random.default_rng(2).standard_normal((num_nodes, d), dtype=np.float32)) for d in dims}

    # One timed forward sum calibrates the estimate of the whole run.
    first = built[graphs[0]]
    x = features[dims[0]][0]
    calibration = statistics.median(time_call(timed_call(first, x, None, "sum", 1, "forward"), repeat=3, warmup=1)) * 1e-3
    per_unit = calibration / ((first.num_edges + first.num_dst_nodes) * dims[0])
    estimate = _estimate_seconds(list(built.values()), dims, threads, reduces, repeat, warmup, memory, per_unit,
                                  machine)
    hint = " (bigger graphs: --size medium|large or --nodes/--edges)" if num_edges <= default_edges else ""
    say(f"built the graph{'s' if len(graphs) > 1 else ''} in {build_s:.1f} s; the timings take roughly "
        f"{max(1, round(estimate)):,} s more{hint}")

    env = {"fastgnn": fastgnn.__version__, "numpy": np.__version__, "cpu_count": os.cpu_count()}
    triads, floors = {}, {}
    if machine:
        for t in threads:
            triads[t] = probes.measure_triad(triad_bytes or probes.DEFAULT_TRIAD_ARRAY_BYTES, n_threads=t,
                                             repeat=repeat)
        say("STREAM triad (a = b + s * c, 3 x {:,.0f} MiB float64; GB/s counts 3 arrays x 8 bytes per element, "
            "as STREAM does): ".format(triads[threads[0]]["n_elements"] * 8 / 2**20)
            + ", ".join(f"{rec['gbytes_per_s']:.1f} GB/s at {_threads_label(t)}" for t, rec in triads.items()))
    records = []
    for kind, graph in built.items():
        for d in dims:
            x, grad_out = features[d]
            message = graph.num_edges * d * 4
            if machine:
                for pass_ in PASSES:
                    for t in threads:
                        call = probes.floor_call(graph, x, grad_out, n_threads=t, pass_=pass_)
                        floors[kind, d, pass_, t] = statistics.median(time_call(call, repeat, warmup))
                        del call
            floor_bytes = {pass_: bytes_moved(graph, d, "sum", pass_) for pass_ in PASSES}
            for reduce in reduces:
                peak = peak_memory(graph, x, grad_out, reduce, max(threads)) if memory else None
                for pass_ in PASSES:
                    for t in threads:
                        times = time_call(timed_call(graph, x, grad_out, reduce, t, pass_), repeat, warmup)
                        median = statistics.median(times)
                        moved = bytes_moved(graph, d, reduce, pass_)
                        rec = {"graph": kind, "num_nodes": graph.num_nodes, "num_edges": graph.num_edges, "d": d,
                               "reduce": reduce, "pass": pass_, "threads": t, "median_ms": median,
                               "runs_ms": [round(v, 4) for v in times], "bytes_moved": moved,
                               "gbytes_per_s": moved / (median * 1e-3) / 1e9, "message_bytes": message,
                               "env": env}
                        if peak is not None:
                            rec["peak_bytes"] = peak["forward" if pass_ == "forward" else "backward"]
                        if machine:
                            floor = floors[kind, d, pass_, t]
                            rec.update(floor_ms=floor, fraction_of_floor=floor / median, floor_bytes=floor_bytes,
                                       triad_gbytes_per_s=triads[t]["gbytes_per_s"])
                        records.append(rec)
    say(format_table(records, threads, floors))
    say("")
    say("ms: median wall time of one call; GB/s: effective bandwidth (index arrays, one gathered row per edge, "
        "the output; a lower bound on the traffic);")
    if len(threads) > 1:
        say(f"speed-up: time with {_threads_label(threads[0])} / time with {_threads_label(threads[-1])};")
    if memory:
        say(f"peak MiB: tracemalloc peak of the call alone at {_threads_label(max(threads))} (aggregate on fwd "
            "lines, output and arg included; aggregate_backward on fwd+bwd lines).")
    if machine:
        say("floor lines: the ideal prefetching row gather of a sum (every in-neighbour row summed in registers, "
            "output rows written, aligned inputs, preallocated output; fwd+bwd also over the transpose);")
        say("floor column: floor time / kernel time at that thread count (100%: the kernel gathers as fast as "
            "the floor; max/min fwd+bwd only a reference, their backward is no row gather).")
    say("Comparisons with dense NumPy, scipy.sparse, PyTorch, PyG and DGL: python bench/run.py aggregation "
        "(in a source checkout).")
    if json_path:
        with open(json_path, "w") as handle:
            handle.writelines(json.dumps(rec) + "\n" for rec in records)
        say(f"wrote {len(records)} records to {json_path}")
    say(f"total {time.perf_counter() - started:.0f} s")
    return records


# --------------------------------------------------------------------------- command line
def _csv(kind, allowed=None):
    """An argparse type: comma-separated values, positive integers or names from ``allowed``."""
    def parse(text):
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        if kind is int:
            try:
                values = [int(v) for v in values]
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
            if any(v < 1 for v in values):
                raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(allowed)}")
        return list(dict.fromkeys(values))     # repeated values would only repeat lines
    return parse


def _positive(text):
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def add_arguments(parser):
    """Declare the options of ``python -m fastgnn bench``; returns the parser."""
    sizes = ", ".join(f"{name} {n:,} nodes / {e:,} edges" for name, (n, e) in SIZES.items())
    parser.add_argument("--size", choices=list(SIZES), default=DEFAULT_SIZE,
                        help=f"graph size ({sizes}; default {DEFAULT_SIZE}, well under a minute on two cores)")
    parser.add_argument("--nodes", type=_positive, default=None, help="number of nodes (overrides --size)")
    parser.add_argument("--edges", type=_positive, default=None, help="number of edges (overrides --size)")
    parser.add_argument("--graphs", type=_csv(str, GRAPHS), default=list(GRAPHS),
                        help=f"comma-separated graph kinds (default {','.join(GRAPHS)})")
    parser.add_argument("--dims", type=_csv(int), default=[DIM],
                        help=f"comma-separated feature widths (default {DIM})")
    parser.add_argument("--threads", type=_csv(int), default=None,
                        help="comma-separated thread counts (default: 1 and fastgnn's default count, "
                             "OMP_NUM_THREADS or the CPUs available)")
    parser.add_argument("--reduces", type=_csv(str, REDUCES), default=list(REDUCES),
                        help=f"comma-separated reductions (default {','.join(REDUCES)})")
    parser.add_argument("--repeat", type=_positive, default=5, help="timed runs of each call, median reported "
                                                                    "(default 5)")
    parser.add_argument("--warmup", type=_non_negative, default=1, help="untimed runs before them (default 1)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc measurement")
    parser.add_argument("--no-machine", action="store_true",
                        help="skip the machine's limits: the STREAM triad (3 x 256 MiB float64 arrays) and the "
                             "gather floor that each kernel line is compared with (see fastgnn.bench.machine)")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write one JSON line per record to PATH")
    parser.add_argument("--plot", metavar="PATH", default=None,
                        help="also draw the ratios as bars to PATH (.png or .svg; needs matplotlib): each kernel's "
                             "fraction of the gather floor per thread count, or with --no-machine the speed-up "
                             "of the last thread count over the first")
    return parser


def _check(args):
    """The run's keyword arguments from parsed options, or BenchError naming the option."""
    from fastgnn._runtime.threads import max_num_threads

    from fastgnn.bench.machine import DEFAULT_TRIAD_ARRAY_BYTES
    from fastgnn.cli._common import available_memory

    default_nodes, default_edges = SIZES[args.size]
    num_nodes = default_nodes if args.nodes is None else args.nodes
    num_edges = default_edges if args.edges is None else args.edges
    if args.threads is not None and max(args.threads) > max_num_threads():
        raise BenchError(f"--threads {max(args.threads)} is more than this machine can use "
                         f"(at most {max_num_threads()})")
    needed = _needed_bytes(num_nodes, num_edges, max(args.dims)) * len(args.graphs)
    if not args.no_machine:     # the triad's three arrays, or the floor's aligned inputs and output
        needed += max(3 * DEFAULT_TRIAD_ARRAY_BYTES, 3 * 4 * num_nodes * max(args.dims))
    free = available_memory()
    if free is not None and needed > free:
        raise BenchError(f"{num_nodes:,} nodes, {num_edges:,} edges and d={max(args.dims)} need at least "
                         f"{needed / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB available "
                         "(choose a smaller --size, --nodes, --edges or --dims)")
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if os.path.isdir(args.json) or not os.path.isdir(folder):
            raise BenchError(f"--json {args.json}: cannot write a file there")
    if args.plot:
        _check_plot(args)
    return dict(graphs=args.graphs, num_nodes=num_nodes, num_edges=num_edges, dims=args.dims, threads=args.threads,
                reduces=args.reduces, repeat=args.repeat, warmup=args.warmup, memory=not args.no_memory,
                json_path=args.json, machine=not args.no_machine)


def _check_plot(args):
    """BenchError now, not after the timings, if ``--plot`` cannot be drawn or written."""
    from fastgnn import get_num_threads
    from fastgnn.cli import _report

    threads = args.threads if args.threads is not None else {1, get_num_threads()}
    if args.no_machine and len(threads) < 2:
        raise BenchError("--plot draws the fraction of the gather floor, or the speed-up between thread counts: "
                         "drop --no-machine or give two --threads")
    try:
        _report.check(args.plot, None)
    except ValueError as error:
        raise BenchError(str(error)) from None


def ratio_records(records):
    """What ``--plot`` draws: the fraction of the floor per thread count, else the speed-up over thread counts.

    Returns
    -------
    (table, ylabel)
        The table of :func:`fastgnn.plotting.plot_ratios` and its axis label.
    """
    from fastgnn.plotting import ratio_table

    groups = ("graph", "d", "reduce", "pass")
    if any("fraction_of_floor" in rec for rec in records):
        labelled = [{**rec, "threads": _threads_label(rec["threads"])} for rec in records]
        return (ratio_table(labelled, value="fraction_of_floor", series="threads", groups=groups),
                "floor time / kernel time")
    first = {tuple(rec[key] for key in groups): rec for rec in records if rec["threads"] == records[0]["threads"]}
    speed_ups = [{**rec, "speed_up": first[key]["median_ms"] / rec["median_ms"],
                  "series": f"{_threads_label(rec['threads'])} vs {first[key]['threads']}"}
                 for rec in records if rec["threads"] != records[0]["threads"]
                 and (key := tuple(rec[k] for k in groups)) in first]
    return ratio_table(speed_ups, value="speed_up", series="series", groups=groups), "speed-up"


def run_from_args(args, file=None):
    """Run with parsed options (see :func:`add_arguments`); returns the exit status (2 on a bad option)."""
    try:
        records = run(**_check(args), file=file)
        if args.plot:
            from fastgnn.plotting import plot_ratios

            table, ylabel = ratio_records(records)
            plot_ratios(table, args.plot, ylabel=ylabel, title="fastgnn bench: aggregate")
            print(f"bar chart drawn to {args.plot}", file=sys.stdout if file is None else file, flush=True)
    except (BenchError, MemoryError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"fastgnn bench: error: {message}", file=sys.stderr)
        return 2
    return 0
