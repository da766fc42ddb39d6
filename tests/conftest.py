"""Shared fixtures: edge-case graphs, dtypes, weighting modes, seeded generators, thread reset.

Also: every skip for a missing optional package says what to install, and a run that selects the slow
tests says at its start how long they take.
"""
import re

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


# ---------------------------------------------------------------------- what a run skips, how long it takes
# What installs an optional module the tests import with pytest.importorskip (others: pip install <module>).
INSTALL = {
    "torch": 'pip install "fastgnn[torch]"',
    "torch_geometric": 'pip install "fastgnn[torch]"',
    "hypothesis": 'pip install "fastgnn[test]"',
    "mpi4py": 'pip install "fastgnn[mpi]"',
    "pymetis": 'pip install "fastgnn[metis]"',
    "matplotlib": 'pip install "fastgnn[plot]"',
}
_MISSING_MODULE = re.compile(r"could not import '([\w.]+)'")
SLOW_SUITE_LENGTH = "15 minutes or more on 2 cores (the wheel build alone takes 5 to 8)"


def _name_the_install(report):
    """Add to the reason of a skip for a missing module the command that installs it."""
    if not (report.skipped and isinstance(report.longrepr, tuple)):
        return
    path, line, reason = report.longrepr
    match = _MISSING_MODULE.search(reason)
    if match:
        module = match.group(1).split(".")[0]
        report.longrepr = (path, line, f"{reason} ({INSTALL.get(module, f'pip install {module}')})")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _name_the_install(report)   # a test module that skips whole at its import
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _name_the_install(report)
    return report


def pytest_collection_finish(session):
    slow = sum(item.get_closest_marker("slow") is not None for item in session.items)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if slow and reporter is not None:
        tests = "tests" if slow > 1 else "test"
        reporter.write_line(f"{slow} slow {tests} selected: the slow suite takes {SLOW_SUITE_LENGTH}.")
