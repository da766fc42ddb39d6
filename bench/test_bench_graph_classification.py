"""GIN training throughput (graphs per second), fastgnn against PyTorch Geometric: the pytest-benchmark suite.

The workloads and both implementations are those of
``bench/graph_classification.py`` (see its docstring), whose
``python bench/run.py graph-classification`` prints the comparison table.
Run with ``pytest bench/test_bench_graph_classification.py`` (not part of
the default test run). Nothing here asserts a timing.
"""
import pytest

import graph_classification as G


@pytest.fixture(scope="module", params=list(G.WORKLOADS))
def workload(request):
    return request.param, G.load_workload(request.param)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("impl", list(G.IMPLEMENTATIONS))
def test_gin_training_epoch(benchmark, workload, threads, impl):
    """One GIN training epoch (``fastgnn-cv``: a whole cross-validation); ``extra_info['graphs_per_second']``."""
    name, graphs = workload
    if impl == "pyg" and not G.pyg_available():
        pytest.skip("torch and torch_geometric are not installed")
    benchmark.group = f"GIN epoch {name} t={threads}"
    epoch = G.IMPLEMENTATIONS[impl](graphs, G.WORKLOADS[name][0], threads)
    epoch()  # warm-up (first-call allocations, torch's lazy initialisation)
    benchmark.pedantic(epoch, rounds=3, iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["graphs_per_second"] = epoch.graphs_per_call / benchmark.stats.stats.median
