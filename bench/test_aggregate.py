"""Aggregation benchmarks: fastgnn's ``aggregate`` (and its backward) against its peers.

Parametrised by ``bench/conftest.py`` over graph x d x threads x reduce x
implementation (fastgnn, dense NumPy, scipy.sparse, torch.sparse.mm, PyG's
scatter); see its docstring for the options. No timing is asserted.
"""


def test_forward(run_aggregate, graph, d, threads, reduce, impl):
    """``aggregate(graph, X, reduce)`` and each peer's equivalent."""
    run_aggregate(graph, d, threads, reduce, impl, "forward")


def test_forward_backward(run_aggregate, graph, d, threads, reduce, impl):
    """``aggregate`` then ``aggregate_backward`` over the cached transpose, and each peer's equivalent."""
    run_aggregate(graph, d, threads, reduce, impl, "forward_backward")
