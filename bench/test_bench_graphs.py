"""The benchmark graphs of ``bench/graphs.py``: the same as fastgnn's generators, and importable without fastgnn.

Quick checks (no timing), so that a change on either side cannot make the
DGL peer scripts, which build their graphs from ``bench/graphs.py`` alone,
time other graphs than fastgnn's suites and ``python -m fastgnn bench``.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import graphs
from fastgnn.datasets import power_law_edge_index, uniform_edge_index

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("seed", [0, 3])
def test_generators_match_fastgnn(seed):
    np.testing.assert_array_equal(graphs.uniform_edge_index(1000, 5000, rng=seed),
                                  uniform_edge_index(1000, 5000, rng=seed))
    np.testing.assert_array_equal(graphs.power_law_edge_index(1000, 5000, rng=seed),
                                  power_law_edge_index(1000, 5000, rng=seed))


def test_bench_edge_index_sizes():
    for name, (kind, num_nodes, num_edges) in graphs.BENCH_GRAPHS.items():
        assert kind in ("uniform", "powerlaw")
        assert num_nodes > 0 and num_edges > 0
    with pytest.raises(ValueError, match="unknown graph"):
        graphs.bench_edge_index("nope")


def test_importable_without_fastgnn():
    """DGL's environment has numpy<2 and no fastgnn: the module must not need it."""
    code = ("import sys; sys.modules['fastgnn'] = None; sys.path.insert(0, sys.argv[1]); import graphs; "
            "e = graphs.uniform_edge_index(10, 20); assert e.shape == (2, 20), e.shape")
    subprocess.run([sys.executable, "-c", code, BENCH_DIR], check=True, timeout=60)


def test_uniform_csr_is_a_lean_uniform_csr():
    indptr, indices = graphs.uniform_csr(1000, 20_000, rng=3, chunk=4096)
    assert indptr.dtype == indices.dtype == np.int32
    assert indptr[0] == 0 and indptr[-1] == 20_000 and np.all(np.diff(indptr) >= 0)
    assert indices.min() >= 0 and indices.max() < 1000
    again = graphs.uniform_csr(1000, 20_000, rng=3, chunk=4096)
    np.testing.assert_array_equal(again[0], indptr)
    np.testing.assert_array_equal(again[1], indices)
    degree = np.diff(indptr)
    assert abs(degree.mean() - 20) < 1e-9 and 10 < degree.std() ** 2 < 30    # ~ Poisson(20)
    with pytest.raises(ValueError, match="do not fit"):
        graphs.uniform_csr(10, 2**31, index_dtype=np.int32)
