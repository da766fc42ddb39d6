"""Training-epoch benchmarks: a 2-layer GCN (hidden 16) and GraphSAGE (mean, hidden 64), fastgnn against PyG.

One epoch = forward in training mode (dropout 0.5 on the input and the
hidden layer), softmax cross-entropy, backward, Adam step; on Cora and on the
100,000-node, 2,000,000-edge uniform graph with 128 features and 10 classes.
The models and data are those of ``bench/training.py``
(``python bench/run.py training``), which also prints the comparison table
with every implementation in its own process, peak memory and DGL; prefer
it for ratios: here all implementations share one process, so one runtime's
idle threads can slow the next.

Run (not part of the default test run)::

    pytest bench/test_training.py
    FASTGNN_BENCH_THREADS=1 pytest bench/test_training.py -k "uniform and sage"   # default: 2 threads

Nothing here asserts a timing.
"""
import functools
import os

import pytest

import training as T

IMPLS = ("fastgnn", "pyg", "pyg_cached", "pyg_csr")


@functools.lru_cache(maxsize=2)
def _data(graph):
    return T.make_data(graph)


def _threads(request):
    return int(os.environ.get("FASTGNN_BENCH_THREADS", "2"))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("model", T.MODELS)
@pytest.mark.parametrize("graph", T.GRAPHS)
def test_training_epoch(benchmark, request, graph, model, impl):
    import fastgnn

    threads = _threads(request)
    if impl == "pyg_cached" and model != "gcn":
        pytest.skip("cached=True applies to GCNConv only")
    data = _data(graph)
    benchmark.group = f"epoch {graph} {model} t={threads}"
    benchmark.extra_info.update(impl=impl, threads=threads, num_nodes=int(data[1].shape[0]),
                                num_edges=int(data[0].shape[1]))
    if impl == "fastgnn":
        fastgnn.set_num_threads(threads)
        try:
            epoch, _ = T.fastgnn_epoch(model, *data)
            with fastgnn.limit_blas_threads(1):
                benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=2)
        finally:
            fastgnn.set_num_threads(None)
        return
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        epoch, _ = T.pyg_epoch(impl, model, *data)
        benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=2)
    finally:
        torch.set_num_threads(previous)
