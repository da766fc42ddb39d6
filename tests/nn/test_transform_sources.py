"""transform_sources: the product of source rows, the late rows multiplied only once they arrive."""
import numpy as np
import pytest

import fastgnn
from fastgnn.graph.pending import PendingSources, ready_rows
from fastgnn.nn._matmul import matmul
from fastgnn.nn.conv._propagate import aggregate_transform, transform_sources


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("num_rows", [50, 5000])            # 5000 x 64 x 16: a product split across threads
@pytest.mark.parametrize("threads", [1, 2])
def test_late_rows_are_multiplied_after_the_wait_with_the_same_bits(dtype, num_rows, threads):
    rng = np.random.default_rng(0)
    num_dst, first = num_rows // 2, num_rows * 3 // 5
    indptr = np.arange(num_dst + 1) * 4
    indices = rng.integers(0, num_rows, 4 * num_dst)
    indices[:4 * (num_dst // 3)] %= first                  # the first third of the rows read early rows only
    graph = fastgnn.Graph.from_csr(indptr, indices, num_src_nodes=num_rows)
    x = rng.standard_normal((num_rows, 64)).astype(dtype)
    weight = rng.standard_normal((16, 64)).astype(dtype)
    fastgnn.set_num_threads(threads)
    want = aggregate_transform(graph, x, weight, "sum", keep=False)[0]
    np.testing.assert_array_equal(transform_sources(graph, x, weight.T)[1], matmul(x, weight.T))
    x_late = x.copy()
    x_late[first:] = np.nan
    ready = ready_rows(graph, first)
    assert ready >= num_dst // 3
    pending = PendingSources(first, ready, lambda: x_late.__setitem__(slice(first, None), x[first:]))
    late_graph, product = transform_sources(graph.with_pending_sources(pending), x_late, weight.T)
    assert late_graph.pending_sources is not None                  # the late rows: multiplied by the wait
    late_graph.wait_for_sources()
    np.testing.assert_array_equal(product, matmul(x, weight.T))
    x_late[first:] = np.nan
    pending = PendingSources(first, ready, lambda: x_late.__setitem__(slice(first, None), x[first:]))
    got = aggregate_transform(graph.with_pending_sources(pending), x_late, weight, "sum", keep=False)[0]
    np.testing.assert_array_equal(got, want)
