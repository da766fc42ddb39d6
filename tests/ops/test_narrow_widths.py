"""Narrow feature widths (5..15) that are gathered often run as zero-padded 16-lane rows:
the results must be those of the reference, arg included."""
import numpy as np
import pytest

import fastgnn
from fastgnn.ops import reference as R
from fastgnn._runtime.memory import padded_for_gather

NUM_NODES, NUM_EDGES = 50, 400  # more than two gathers per row: the padded path


@pytest.fixture
def graph_and_weight():
    rng = np.random.default_rng(3)
    edge_index = rng.integers(0, NUM_NODES, (2, NUM_EDGES))
    return fastgnn.Graph.from_edge_index(edge_index, num_nodes=NUM_NODES), rng.uniform(0.5, 2.0, NUM_EDGES)


@pytest.mark.parametrize("width", [5, 10, 15])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("weighted", [False, True])
def test_narrow_widths_match_the_reference(graph_and_weight, width, reduce, weighted):
    graph, weight = graph_and_weight
    weight = weight if weighted else None
    rng = np.random.default_rng(width)
    x = rng.standard_normal((NUM_NODES, width))
    grad = rng.standard_normal((NUM_NODES, width))
    assert padded_for_gather(x, NUM_EDGES) is not None  # the case exercises the padded path
    expected = R.aggregate(graph.indptr, graph.indices, x, reduce, edge_weight=weight)
    ref_out, ref_arg = expected if isinstance(expected, tuple) else (expected, None)
    out, arg = fastgnn.aggregate(graph, x, reduce, edge_weight=weight, return_arg=True)
    assert out.shape == (NUM_NODES, width) and out.flags.c_contiguous
    if reduce in ("max", "min"):
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(arg, ref_arg)
    else:
        np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    grad_x, grad_w = fastgnn.aggregate_backward(graph, grad, reduce, x=x, edge_weight=weight, arg=arg,
                                                need_weight_grad=True)
    ref_x, ref_w = R.aggregate_backward(graph.indptr, graph.indices, NUM_NODES, grad, reduce, x=x,
                                        edge_weight=weight, arg=arg)
    np.testing.assert_allclose(grad_x, ref_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_w, ref_w, rtol=1e-12, atol=1e-12)
