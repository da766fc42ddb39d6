"""fastgnn.testing.conformance: the compiled ops, the NumPy reference and the torch adapter all pass it,
and it catches implementations that break the semantics."""
import types

import numpy as np
import pytest

import fastgnn
from fastgnn.testing import conformance

CHECKS = conformance.checks()


class TorchOps:
    """fastgnn.interop.torch wrapped to NumPy with fastgnn's signatures (backward through autograd)."""

    def __init__(self):
        import torch

        from fastgnn.interop import torch as ft
        self.torch, self.ft = torch, ft

    def _weight(self, graph, edge_weight, dtype, requires_grad=False):
        if edge_weight is None and (graph.edge_weight is None or not requires_grad):
            return None  # the Graph's own weights (or none) are used
        values = np.ones(graph.num_edges) if edge_weight is None and graph.edge_weight is None else (
            graph.edge_weight if edge_weight is None else edge_weight)
        # a copy: the suite perturbs arrays in place, behind torch's back (see the adapter's cache rules)
        return self.torch.tensor(np.asarray(values), dtype=self.torch.from_numpy(np.zeros(0, dtype)).dtype,
                                 requires_grad=requires_grad)

    def aggregate(self, graph, x, reduce="sum", *, edge_weight=None, return_arg=False, n_threads=None):
        out, arg = self.ft.aggregate(graph, self.torch.from_numpy(x), reduce,
                                     self._weight(graph, edge_weight, x.dtype), return_arg=True,
                                     n_threads=n_threads)
        out = out.detach().numpy()
        return (out, None if arg is None else arg.numpy()) if return_arg else out

    def aggregate_backward(self, graph, grad_out, reduce="sum", *, x=None, edge_weight=None, arg=None,
                           need_weight_grad=False, n_threads=None):
        x_t = self.torch.from_numpy(np.array(x, copy=True)).requires_grad_()
        weight = self._weight(graph, edge_weight, x.dtype, requires_grad=need_weight_grad)
        if need_weight_grad and weight is None:
            weight = self.torch.ones(graph.num_edges, dtype=x_t.dtype, requires_grad=True)
        out = self.ft.aggregate(graph, x_t, reduce, weight, n_threads=n_threads)
        inputs = [x_t, weight] if need_weight_grad else [x_t]
        grads = self.torch.autograd.grad(out, inputs, self.torch.from_numpy(np.asarray(grad_out)))
        grads = [g.numpy() for g in grads]
        return tuple(grads) if need_weight_grad else grads[0]

    def segment_reduce(self, x, ptr, reduce="sum", *, return_arg=False, n_threads=None):
        out, arg = self.ft.segment_reduce(self.torch.from_numpy(x), ptr, reduce, return_arg=True,
                                          n_threads=n_threads)
        out = out.detach().numpy()
        return (out, None if arg is None else arg.numpy()) if return_arg else out

    def edge_dot(self, graph, a, b, *, n_threads=None):
        return self.ft.edge_dot(graph, self.torch.from_numpy(a), self.torch.from_numpy(b),
                                n_threads=n_threads).detach().numpy()

    def edge_dot_backward(self, graph, grad_out, a, b, *, n_threads=None):
        a_t = self.torch.from_numpy(np.array(a, copy=True)).requires_grad_()
        b_t = self.torch.from_numpy(np.array(b, copy=True)).requires_grad_()
        out = self.ft.edge_dot(graph, a_t, b_t, n_threads=n_threads)
        grad_a, grad_b = self.torch.autograd.grad(out, [a_t, b_t], self.torch.from_numpy(np.asarray(grad_out)))
        return grad_a.numpy(), grad_b.numpy()


def _implementation(name):
    if name == "fastgnn":
        return fastgnn
    if name == "reference":
        return conformance.reference_ops
    pytest.importorskip("torch")
    return TorchOps()


@pytest.mark.parametrize("check", CHECKS, ids=str)
@pytest.mark.parametrize("name", ["fastgnn", "reference", "torch_adapter"])
def test_implementation_conforms(name, check):
    check(_implementation(name))


def test_run_returns_a_report():
    report = conformance.run(fastgnn, float_dtypes=[np.float32], index_dtypes=[np.int32], thread_counts=(1, 2))
    assert report.ok and len(report.passed) == len(CHECKS) and not report.skipped
    assert f"{len(CHECKS)} passed, 0 failed, 0 skipped" in str(report)


def test_optional_backwards_are_reported_as_skipped():
    impl = types.SimpleNamespace(aggregate=fastgnn.aggregate, aggregate_backward=fastgnn.aggregate_backward,
                                 segment_reduce=fastgnn.segment_reduce, edge_dot=fastgnn.edge_dot)
    report = conformance.run(impl, float_dtypes=[np.float64], index_dtypes=[np.int64])
    assert report.ok and set(report.skipped) == {"segment_reduce_backward", "edge_dot_backward"}


# ---------------------------------------------------------------------------- the suite catches broken implementations
def _broken(**overrides):
    functions = {name: getattr(fastgnn, name) for name in ("aggregate", "aggregate_backward", "segment_reduce",
                                                             "segment_reduce_backward", "edge_dot",
                                                             "edge_dot_backward")}
    functions.update(overrides)
    return types.SimpleNamespace(**functions)


def _last_tie_wins(graph, x, reduce="sum", *, edge_weight=None, return_arg=False, n_threads=None):
    if reduce not in ("max", "min"):
        return fastgnn.aggregate(graph, x, reduce, edge_weight=edge_weight, return_arg=return_arg)
    reversed_rows = fastgnn.Graph.from_csr(graph.indptr, np.concatenate(
        [graph.indices[graph.indptr[i]:graph.indptr[i + 1]][::-1] for i in range(graph.num_dst_nodes)]
        + [np.zeros(0, graph.index_dtype)]), num_src_nodes=graph.num_src_nodes)
    return fastgnn.aggregate(reversed_rows, x, reduce, return_arg=return_arg)


def _mean_by_weighted_degree(graph, x, reduce="sum", *, edge_weight=None, return_arg=False, n_threads=None):
    if reduce == "mean" and (edge_weight is not None or graph.edge_weight is not None):
        out = fastgnn.aggregate(graph, x, "sum", edge_weight=edge_weight)
        weight = graph.edge_weight if edge_weight is None else edge_weight
        degree = np.bincount(graph.destinations(), weights=weight, minlength=graph.num_dst_nodes)
        out = (out / np.where(degree == 0, 1, degree)[:, None]).astype(out.dtype)
        return (out, None) if return_arg else out
    return fastgnn.aggregate(graph, x, reduce, edge_weight=edge_weight, return_arg=return_arg)


def _in_place(graph, x, reduce="sum", **kwargs):
    result = fastgnn.aggregate(graph, x, reduce, **kwargs)
    x *= 1  # harmless
    if x.size:
        x.flat[0] += 1
    return result


def _no_weight_gradient_scaling(graph, grad_out, reduce="sum", *, x=None, edge_weight=None, arg=None,
                                need_weight_grad=False, n_threads=None):
    result = fastgnn.aggregate_backward(graph, grad_out, reduce, x=x, edge_weight=edge_weight, arg=arg,
                                        need_weight_grad=need_weight_grad)
    if need_weight_grad:
        return result[0], result[1] * 2
    return result


def _thread_dependent(graph, x, reduce="sum", *, edge_weight=None, return_arg=False, n_threads=None):
    result = fastgnn.aggregate(graph, x, reduce, edge_weight=edge_weight, return_arg=return_arg)
    if n_threads and n_threads > 1 and graph.num_edges > 10000:
        out = result[0] if return_arg else result
        out[0] = np.nextafter(out[0], np.inf)
    return result


@pytest.mark.parametrize("broken,failing", [
    (_broken(aggregate=_last_tie_wins), {"ties_and_nan", "aggregate_forward[max]", "aggregate_forward[min]"}),
    (_broken(aggregate=_mean_by_weighted_degree), {"aggregate_forward[mean]", "aggregate_dense_product"}),
    (_broken(aggregate=_in_place), {"aggregate_forward[sum]"}),
    (_broken(aggregate_backward=_no_weight_gradient_scaling),
     {"aggregate_backward[sum]", "aggregate_finite_differences[sum]"}),
    (_broken(aggregate=_thread_dependent), {"determinism_across_threads"}),
], ids=["last_tie_wins", "mean_by_weighted_degree", "modifies_input", "wrong_weight_gradient", "thread_dependent"])
def test_the_suite_catches_broken_implementations(broken, failing):
    report = conformance.run(broken, raise_on_failure=False, float_dtypes=[np.float64], index_dtypes=[np.int64])
    assert failing <= set(report.failed), str(report)
    with pytest.raises(AssertionError, match="conformance failures"):
        conformance.run(broken, float_dtypes=[np.float64], index_dtypes=[np.int64])


def test_a_missing_function_fails_its_checks():
    report = conformance.run(types.SimpleNamespace(aggregate=fastgnn.aggregate), raise_on_failure=False,
                             float_dtypes=[np.float64], index_dtypes=[np.int64])
    assert "aggregate_forward[sum]" in report.passed
    assert "no aggregate_backward" in report.failed["aggregate_backward[sum]"]
