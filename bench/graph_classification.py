"""GIN training throughput (graphs per second): fastgnn against PyTorch Geometric on the CPU.

One training epoch of the GIN paper's model (GIN-0, 5 layers counting the
input, hidden 64, MLPs ``Linear-BN-ReLU-Linear-BN-ReLU``, sum readout of every
layer into its own linear head, dropout 0.5, Adam) over:

- ``mutag``: MUTAG's 188 graphs (~18 nodes, ~40 directed edges each), read
  from ``$FASTGNN_TU_ROOT/MUTAG`` (``--tu-root``; seeded synthetic graphs of
  the same sizes when it is not set or holds no MUTAG), batches of 32;
- ``proteins``: the PROTEINS-sized synthetic dataset
  (:func:`fastgnn.datasets.synthetic_graph_dataset`, ``'synthetic-proteins'``:
  1,113 graphs of ~37 nodes and ~3.7 directed edges per node, up to a few
  hundred nodes, 3 node labels, 2 classes), batches of 32;
- ``synthetic200``: 1,000 seeded random graphs of 200 nodes and 800
  undirected edges each (1,600 directed), 16 features, batches of 128.

Implementations (each at every thread count of ``--threads``):

- ``fastgnn``: one training epoch over all the graphs (batches built by
  fastgnn's ``DataLoader``, forward, backward, Adam), kernels at the thread
  count, BLAS on one thread (as the training loop keeps it);
- ``fastgnn-cv``: a whole cross-validation,
  :func:`fastgnn.train.cross_validate_graph_classifier` with ``--folds``
  folds of ``--cv-epochs`` epochs each, ``n_threads`` = the thread count: with
  2 threads two folds train at once in worker processes. Its throughput is
  every fold's training graphs over the wall time of the whole call, which
  also includes starting the workers, sending them the graphs and evaluating
  the test folds after every epoch (the other rows time training only);
- ``pyg``: one training epoch of the same model in PyTorch Geometric
  (``torch.set_num_threads``, PyG's ``DataLoader``).

Print the comparison table (medians over rounds; in every round each
(implementation, threads) pair runs once, round-robin, in one process: a
shared machine drifts by +-30% between runs)::

    python bench/run.py graph-classification [--rounds 5] [--threads 1,2] [--workloads mutag,proteins]
        [--folds 10] [--cv-epochs 0]

or run the pytest-benchmark suite built on this module (not part of the
default test run)::

    pytest bench/test_bench_graph_classification.py

Nothing here asserts a timing.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import fastgnn
from fastgnn import Graph
from fastgnn._runtime.blas import limit_blas_threads
from fastgnn.data import DataLoader, GraphData
from fastgnn.datasets import synthetic_graph_dataset
from fastgnn.losses import cross_entropy
from fastgnn.models.graph_classification import GINGraphClassifier, GraphClassifierFactory
from fastgnn.optim import Adam
from fastgnn.train import cross_validate_graph_classifier
from measure import int_list  # noqa: E402  (bench/measure.py)

TU_ROOT_ENV = "FASTGNN_TU_ROOT"     # a folder holding MUTAG/MUTAG_A.txt, ...
WORKLOADS = {
    # name: (batch size, description)
    "mutag": (32, "MUTAG, 188 graphs of ~18 nodes, batch 32"),
    "proteins": (32, "synthetic-proteins, 1,113 graphs of ~37 nodes (up to 438), ~3.7 edges per node, batch 32"),
    "synthetic200": (128, "1,000 graphs x 200 nodes x 1,600 edges, d=16, batch 128"),
}
HIDDEN, LAYERS = 64, 5


# Epochs per fold of the fastgnn-cv rows (--cv-epochs 0): enough that starting the workers is a small part.
CV_EPOCHS = {"mutag": 30, "proteins": 6, "synthetic200": 3}


# ---------------------------------------------------------------------------- workloads
def _random_graph(rng, num_nodes, num_undirected_edges, num_features, num_classes):
    src = rng.integers(0, num_nodes, num_undirected_edges)
    dst = rng.integers(0, num_nodes, num_undirected_edges)
    edge_index = np.concatenate([np.stack([src, dst]), np.stack([dst, src])], axis=1)
    graph = Graph.from_edge_index(edge_index, num_nodes=num_nodes)
    x = np.zeros((num_nodes, num_features), dtype=np.float32)
    x[np.arange(num_nodes), rng.integers(0, num_features, num_nodes)] = 1
    return GraphData(graph, x, int(rng.integers(0, num_classes)))


def tu_root_default():
    """The folder of the TU datasets named by ``$FASTGNN_TU_ROOT``, or None."""
    return os.environ.get(TU_ROOT_ENV) or None


def load_workload(name, tu_root=None):
    """The graphs of a workload (list of GraphData).

    Parameters
    ----------
    name : {"mutag", "proteins", "synthetic200"}
    tu_root : str, optional
        A folder holding ``MUTAG/``; default ``$FASTGNN_TU_ROOT``. Without
        it, ``mutag`` is made of seeded random graphs of MUTAG's sizes.
    """
    rng = np.random.default_rng(0)
    tu_root = tu_root_default() if tu_root is None else tu_root
    if name == "mutag":
        if tu_root and os.path.isfile(os.path.join(tu_root, "MUTAG", "MUTAG_A.txt")):
            from fastgnn.datasets import TUDataset

            return list(TUDataset(tu_root, "MUTAG"))
        sizes = rng.integers(10, 29, 188)
        return [_random_graph(rng, int(n), int(1.1 * n), 7, 2) for n in sizes]
    if name == "proteins":
        return list(synthetic_graph_dataset("synthetic-proteins", rng=0))
    if name == "synthetic200":
        return [_random_graph(rng, 200, 800, 16, 2) for _ in range(1000)]
    raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")


# ---------------------------------------------------------------------------- fastgnn
class FastgnnEpoch:
    """One GIN training epoch in fastgnn (DataLoader batching included)."""

    def __init__(self, graphs, batch_size, threads, **_):
        num_classes = int(max(int(g.y) for g in graphs)) + 1
        self.graphs = graphs
        self.graphs_per_call = len(graphs)
        self.threads = threads
        self.model = GINGraphClassifier(graphs[0].num_node_features, HIDDEN, num_classes, LAYERS, rng=0)
        self.optimizer = Adam(self.model.parameters(), lr=0.01)
        self.loader = DataLoader(graphs, batch_size, shuffle=True, rng=0)

    def __call__(self):
        fastgnn.set_num_threads(self.threads)
        try:
            with limit_blas_threads(1):
                for batch in self.loader:
                    self.optimizer.zero_grad()
                    scores = self.model(batch.graph, batch.x, batch.ptr)
                    _, grad = cross_entropy(scores, batch.y)
                    self.model.backward(grad)
                    self.optimizer.step()
        finally:
            fastgnn.set_num_threads(None)


class FastgnnCrossValidation:
    """A whole cross-validation in fastgnn: ``folds`` folds of ``epochs`` epochs, ``n_threads=threads``."""

    def __init__(self, graphs, batch_size, threads, folds=10, epochs=5):
        num_classes = int(max(int(g.y) for g in graphs)) + 1
        self.graphs, self.batch_size, self.threads, self.folds, self.epochs = graphs, batch_size, threads, folds, epochs
        self.make_model = GraphClassifierFactory("gin", graphs[0].num_node_features, num_classes,
                                                 hidden_channels=HIDDEN, num_layers=LAYERS)
        # every graph is in the training part of all folds but one
        self.graphs_per_call = epochs * (folds - 1) * len(graphs)
        self.last = None

    def __call__(self):
        self.last = cross_validate_graph_classifier(self.make_model, self.graphs, num_folds=self.folds,
                                                    epochs=self.epochs, batch_size=self.batch_size, rng=0,
                                                    n_threads=self.threads)


# ---------------------------------------------------------------------------- PyG
def pyg_available():
    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError:
        return False
    return True


class PygEpoch:
    """The same model and epoch in PyTorch Geometric (GINConv + BatchNorm1d + global_add_pool)."""

    def __init__(self, graphs, batch_size, threads, **_):
        import torch
        from torch_geometric.data import Data
        from torch_geometric.loader import DataLoader as PygLoader
        from torch_geometric.nn import GINConv, global_add_pool

        torch.manual_seed(0)
        self.torch = torch
        self.graphs_per_call = len(graphs)
        self.threads = threads
        num_classes = int(max(int(g.y) for g in graphs)) + 1
        in_channels = graphs[0].num_node_features
        data = [Data(x=torch.from_numpy(np.array(g.x)), edge_index=torch.from_numpy(g.graph.to_edge_index()),
                     y=torch.tensor([int(g.y)])) for g in graphs]

        def mlp(width_in):
            return torch.nn.Sequential(
                torch.nn.Linear(width_in, HIDDEN), torch.nn.BatchNorm1d(HIDDEN), torch.nn.ReLU(),
                torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.BatchNorm1d(HIDDEN), torch.nn.ReLU())

        class GIN(torch.nn.Module):
            def __init__(self):
                super().__init__()
                widths = [in_channels] + [HIDDEN] * (LAYERS - 1)
                self.convs = torch.nn.ModuleList([GINConv(mlp(w), train_eps=False) for w in widths[:-1]])
                self.heads = torch.nn.ModuleList([torch.nn.Linear(w, num_classes) for w in widths])

            def forward(self, x, edge_index, batch, num_graphs):
                hs = [x]
                for conv in self.convs:
                    hs.append(conv(hs[-1], edge_index))
                scores = 0
                for h, head in zip(hs, self.heads):
                    pooled = global_add_pool(h, batch, num_graphs)
                    scores = scores + head(torch.nn.functional.dropout(pooled, 0.5, self.training))
                return scores

        self.model = GIN()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.01)
        self.loader = PygLoader(data, batch_size=batch_size, shuffle=True)

    def __call__(self):
        torch = self.torch
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            self.model.train()
            for batch in self.loader:
                self.optimizer.zero_grad()
                scores = self.model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
                loss = torch.nn.functional.cross_entropy(scores, batch.y)
                loss.backward()
                self.optimizer.step()
        finally:
            torch.set_num_threads(previous)


IMPLEMENTATIONS = {"fastgnn": FastgnnEpoch, "fastgnn-cv": FastgnnCrossValidation, "pyg": PygEpoch}


# ---------------------------------------------------------------------------- printed comparison
def compare(workloads, threads_list, rounds, file=sys.stdout, tu_root=None, folds=10, cv_epochs=None):
    """Time every (implementation, threads) pair round-robin; print graphs/second, speed-ups and ratios to PyG.

    Parameters
    ----------
    workloads : sequence of str
        Keys of :data:`WORKLOADS`.
    threads_list : sequence of int
    rounds : int
        Timed calls of each pair (after one untimed warm-up call).
    file : file-like
    tu_root : str, optional
        See :func:`load_workload`.
    folds : int
        Folds of the ``fastgnn-cv`` rows.
    cv_epochs : int, optional
        Epochs per fold of the ``fastgnn-cv`` rows (default :data:`CV_EPOCHS`).

    Returns
    -------
    list of dict
        One row per (workload, threads): the median graphs/second of each
        implementation and ``cv_over_pyg``, fastgnn-cv's ratio to PyG.
    """
    impls = ["fastgnn", "fastgnn-cv"] + (["pyg"] if pyg_available() else [])
    rows = []
    for name in workloads:
        graphs = load_workload(name, tu_root)
        epochs_per_fold = cv_epochs or CV_EPOCHS[name]
        runs = {(impl, threads): IMPLEMENTATIONS[impl](graphs, WORKLOADS[name][0], threads, folds=folds,
                                                       epochs=epochs_per_fold)
                for impl in impls for threads in threads_list}
        times = {key: [] for key in runs}
        cpu = {key: [] for key in runs}
        for run in runs.values():
            run()
        for _ in range(rounds):
            for key, run in runs.items():
                cpu_start, start = _cpu_seconds(), time.perf_counter()
                run()
                times[key].append(time.perf_counter() - start)
                cpu[key].append(_cpu_seconds() - cpu_start)
        for threads in threads_list:
            row = {"workload": name, "threads": threads, "cv_epochs": epochs_per_fold}
            for impl in impls:
                row[impl] = runs[impl, threads].graphs_per_call / statistics.median(times[impl, threads])
                row[impl + " per CPU-s"] = runs[impl, threads].graphs_per_call / statistics.median(cpu[impl, threads])
            row["cv_over_pyg"] = row["fastgnn-cv"] / row["pyg"] if "pyg" in row else None
            # CPU seconds (this process and its reaped workers) per wall second: the cores the call got
            row["cv_cores"] = statistics.median(c / t for c, t in zip(cpu["fastgnn-cv", threads],
                                                                       times["fastgnn-cv", threads]))
            # graphs per CPU second of the whole call (start-up, evaluation and the idle tail included)
            row["cv_per_cpu"] = runs["fastgnn-cv", threads].graphs_per_call / statistics.median(cpu["fastgnn-cv",
                                                                                                    threads])
            rows.append(row)
    base = {row["workload"]: row for row in rows if row["threads"] == min(threads_list)}
    print(f"GIN-0 training throughput, graphs/second (median of {rounds} rounds; hidden {HIDDEN}, {LAYERS} layers, "
          f"batch 32; fastgnn-cv: {folds} folds, whole cross-validation call)", file=file)
    header = (f"{'workload':<14}{'threads':>8}{'fastgnn':>10}{'fastgnn-cv':>12}{'cv speed-up':>13}{'cv cores':>10}"
              f"{'cv/CPU-s':>10}")
    if "pyg" in impls:
        header += f"{'PyG':>10}{'cv/PyG':>9}"
    print(header, file=file)
    for row in rows:
        speedup = row["fastgnn-cv"] / base[row["workload"]]["fastgnn-cv"]
        line = (f"{row['workload']:<14}{row['threads']:>8}{row['fastgnn']:>10.0f}{row['fastgnn-cv']:>12.0f}"
                f"{speedup:>12.2f}x{row['cv_cores']:>10.2f}{row['cv_per_cpu']:>10.0f}")
        if row["cv_over_pyg"] is not None:
            line += f"{row['pyg']:>10.0f}{row['cv_over_pyg']:>8.2f}x"
        print(line, file=file)
    print("graphs per CPU second of each call (this process and its finished workers; threads that spin count)",
          file=file)
    print(f"{'workload':<14}{'threads':>8}" + "".join(f"{impl:>12}" for impl in impls), file=file)
    for row in rows:
        print(f"{row['workload']:<14}{row['threads']:>8}" + "".join(f"{row[impl + ' per CPU-s']:>12.0f}"
                                                                    for impl in impls), file=file)
    for name in workloads:
        print(f"  {name}: {WORKLOADS[name][1]}; fastgnn-cv {cv_epochs or CV_EPOCHS[name]} epochs per fold",
              file=file)
    print("  cv cores: CPU seconds of the call (with its workers) per wall second; below the thread count "
          "when other work shares the machine", file=file)
    print("  cv/CPU-s: fastgnn-cv's graphs per CPU second (the workers' start-up included): equal at 1 and 2 "
          "threads means no work is added by the processes", file=file)
    return rows


def _cpu_seconds():
    """User + system CPU time of this process and of its finished child processes."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in WORKLOADS:
            raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(WORKLOADS)}")
    return names


def add_arguments(parser):
    """Declare the options of ``python bench/run.py graph-classification``; returns the parser."""
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per implementation (default 5)")
    parser.add_argument("--threads", type=int_list, default=[1, 2], help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--workloads", type=_names, default=["mutag", "proteins"],
                        help=f"comma-separated workloads of {','.join(WORKLOADS)} (default mutag,proteins)")
    parser.add_argument("--folds", type=int, default=10, help="folds of the fastgnn-cv rows (default 10)")
    parser.add_argument("--cv-epochs", type=int, default=0,
                        help="epochs per fold of the fastgnn-cv rows (default 0: per workload, "
                             + ", ".join(f"{k} {v}" for k, v in CV_EPOCHS.items()) + ")")
    parser.add_argument("--tu-root", metavar="DIR", default=tu_root_default(),
                        help=f"folder holding MUTAG/ (default ${TU_ROOT_ENV}; without it, mutag is synthetic)")
    return parser


def run_from_args(args):
    """Run with parsed options; returns an exit status."""
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    if args.folds < 2:
        raise SystemExit("--folds must be >= 2")
    if args.cv_epochs < 0:
        raise SystemExit("--cv-epochs must be >= 0")
    compare(args.workloads, args.threads, args.rounds, tu_root=args.tu_root, folds=args.folds,
            cv_epochs=args.cv_epochs or None)
    return 0


def main(argv=None):
    """``python bench/graph_classification.py``: the same as ``python bench/run.py graph-classification``."""
    parser = add_arguments(argparse.ArgumentParser(prog="bench/run.py graph-classification",
                                                   description=__doc__.split("\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
