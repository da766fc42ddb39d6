"""Fixtures of the adapter tests: a spy on the fastgnn kernels the adapter runs."""
import pytest


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
