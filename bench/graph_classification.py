"""GIN training throughput (graphs per second): fastgnn against PyTorch Geometric on the CPU.

One training epoch of the GIN paper's model (GIN-0, 5 layers counting the
input, hidden 64, MLPs ``Linear-BN-ReLU-Linear-BN-ReLU``, sum readout of every
layer into its own linear head, dropout 0.5, Adam) over:

- ``mutag``: MUTAG's 188 graphs (~18 nodes, ~40 directed edges each), read
  from ``$FASTGNN_TU_ROOT/MUTAG`` (``--tu-root``; seeded synthetic graphs of
  the same sizes when it is not set or holds no MUTAG), batches of 32;
- ``synthetic200``: 1,000 seeded random graphs of 200 nodes and 800
  undirected edges each (1,600 directed), 16 features, batches of 128.

An epoch includes building the batches (fastgnn's ``DataLoader``, PyG's
``DataLoader``), the forward and backward passes and the optimizer steps,
with both libraries at the same thread count (1 and 2); fastgnn keeps BLAS on
one thread while training (``fastgnn._runtime.blas.limit_blas_threads``, as
:func:`fastgnn.models.graph_training.train_graph_classifier` does).

Print the comparison table (medians over rounds run round-robin in one
process; a shared machine drifts by +-30% between runs)::

    python bench/run.py graph-classification [--rounds 5] [--threads 1,2] [--workloads mutag,synthetic200]

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
from fastgnn.losses import cross_entropy
from fastgnn.models.graph_classification import GINGraphClassifier
from fastgnn.optim import Adam

TU_ROOT_ENV = "FASTGNN_TU_ROOT"     # a folder holding MUTAG/MUTAG_A.txt, ...
WORKLOADS = {
    # name: (batch size, description)
    "mutag": (32, "MUTAG, 188 graphs of ~18 nodes, batch 32"),
    "synthetic200": (128, "1,000 graphs x 200 nodes x 1,600 edges, d=16, batch 128"),
}
HIDDEN, LAYERS = 64, 5


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
    name : {"mutag", "synthetic200"}
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
    if name == "synthetic200":
        return [_random_graph(rng, 200, 800, 16, 2) for _ in range(1000)]
    raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")


# ---------------------------------------------------------------------------- fastgnn
class FastgnnEpoch:
    """One GIN training epoch in fastgnn (DataLoader batching included)."""

    def __init__(self, graphs, batch_size, threads):
        num_classes = int(max(int(g.y) for g in graphs)) + 1
        self.graphs = graphs
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

    def __init__(self, graphs, batch_size, threads):
        import torch
        from torch_geometric.data import Data
        from torch_geometric.loader import DataLoader as PygLoader
        from torch_geometric.nn import GINConv, global_add_pool

        torch.manual_seed(0)
        self.torch = torch
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


IMPLEMENTATIONS = {"fastgnn": FastgnnEpoch, "pyg": PygEpoch}


# ---------------------------------------------------------------------------- printed comparison
def compare(workloads, threads_list, rounds, file=sys.stdout, tu_root=None):
    """Time every implementation round-robin; print graphs/second and fastgnn's ratio to PyG.

    Parameters
    ----------
    workloads : sequence of str
        Keys of :data:`WORKLOADS`.
    threads_list : sequence of int
    rounds : int
        Timed epochs of each implementation.
    file : file-like
    tu_root : str, optional
        See :func:`load_workload`.

    Returns
    -------
    list of dict
        One row per (workload, threads): medians and the ratio.
    """
    impls = ["fastgnn"] + (["pyg"] if pyg_available() else [])
    rows = []
    for name in workloads:
        graphs = load_workload(name, tu_root)
        for threads in threads_list:
            epochs = {impl: IMPLEMENTATIONS[impl](graphs, WORKLOADS[name][0], threads) for impl in impls}
            times = {impl: [] for impl in impls}
            for epoch in epochs.values():
                epoch()
            for _ in range(rounds):
                for impl, epoch in epochs.items():
                    start = time.perf_counter()
                    epoch()
                    times[impl].append(time.perf_counter() - start)
            row = {"workload": name, "threads": threads}
            for impl in impls:
                row[impl] = len(graphs) / statistics.median(times[impl])
            row["ratio"] = row["fastgnn"] / row["pyg"] if "pyg" in row else None
            rows.append(row)
    print(f"GIN-0 training throughput, graphs/second (median of {rounds} epochs; hidden {HIDDEN}, "
          f"{LAYERS} layers)", file=file)
    header = f"{'workload':<14}{'threads':>8}{'fastgnn':>12}" + (f"{'PyG':>12}{'fastgnn/PyG':>14}" if
                                                                 "pyg" in impls else "")
    print(header, file=file)
    for row in rows:
        line = f"{row['workload']:<14}{row['threads']:>8}{row['fastgnn']:>12.0f}"
        if row["ratio"] is not None:
            line += f"{row['pyg']:>12.0f}{row['ratio']:>14.2f}"
        print(line, file=file)
    for name in workloads:
        print(f"  {name}: {WORKLOADS[name][1]}", file=file)
    return rows


def _names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in WORKLOADS:
            raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(WORKLOADS)}")
    return names


def _ints(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def add_arguments(parser):
    """Declare the options of ``python bench/run.py graph-classification``; returns the parser."""
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per implementation (default 5)")
    parser.add_argument("--threads", type=_ints, default=[1, 2], help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--workloads", type=_names, default=list(WORKLOADS),
                        help=f"comma-separated workloads (default {','.join(WORKLOADS)})")
    parser.add_argument("--tu-root", metavar="DIR", default=tu_root_default(),
                        help=f"folder holding MUTAG/ (default ${TU_ROOT_ENV}; without it, mutag is synthetic)")
    return parser


def run_from_args(args):
    """Run with parsed options; returns an exit status."""
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    compare(args.workloads, args.threads, args.rounds, tu_root=args.tu_root)
    return 0


def main(argv=None):
    """``python bench/graph_classification.py``: the same as ``python bench/run.py graph-classification``."""
    parser = add_arguments(argparse.ArgumentParser(prog="bench/run.py graph-classification",
                                                   description=__doc__.split("\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
