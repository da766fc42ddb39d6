"""Shared fixtures: edge-case graphs, dtypes, weighting modes, seeded generators, thread reset."""
import numpy as np
import pytest

import fastgnn
from graph_cases import CASES, FLOAT_DTYPES, INDEX_DTYPES


@pytest.fixture(params=FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def float_dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
def index_dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]


@pytest.fixture(params=["unweighted", "weight_argument", "graph_weights"])
def weighting(request):
    """How edge weights reach an op: none, as ``edge_weight=``, or stored in the Graph."""
    return request.param


@pytest.fixture
def rng(request):
    # A seed per test, stable across runs.
    seed = sum(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def _default_threads():
    """No test leaks a thread setting into the next."""
    yield
    fastgnn.set_num_threads(None)
