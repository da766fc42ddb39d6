"""Fixtures of the adapter tests: an empty graph cache around every test, a spy on the kernels the adapter runs."""
import importlib.util
import pathlib

import pytest

HERE = pathlib.Path(__file__).parent
HAS_TORCH = importlib.util.find_spec("torch") is not None
# PyTorch's own warnings about its sparse layouts, which every adapter test builds.
SPARSE_WARNINGS = ("ignore:Sparse CSR tensor support is in beta state",
                   "ignore:Sparse invariant checks are implicitly disabled")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings(*SPARSE_WARNINGS))


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts and ends with the adapter's caches empty (no test sees another's graphs)."""
    if not HAS_TORCH:
        yield
        return
    from fastgnn.interop import torch as ft

    ft.clear_cache()
    yield
    ft.clear_cache()


class KernelCalls(list):
    """``(op name, reduce)`` of every fastgnn kernel call, in order."""

    @property
    def forward(self):
        return [call for call in self if call[0] == "aggregate"]

    def count(self, name):
        return sum(call[0] == name for call in self)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Record the calls of ``fastgnn.ops`` (what the adapter's custom ops run, also inside compiled graphs)."""
    from fastgnn import ops

    calls = KernelCalls()
    for name in ("aggregate", "aggregate_backward", "edge_dot", "segment_reduce", "segment_reduce_backward"):
        original = getattr(ops, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            reduce = kwargs.get("reduce", args[2] if len(args) > 2 and isinstance(args[2], str) else None)
            calls.append((_name, reduce))
            return _original(*args, **kwargs)
        monkeypatch.setattr(ops, name, spy)
    return calls
