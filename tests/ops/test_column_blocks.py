"""aggregate / aggregate_backward on column blocks of wider arrays (sum, mean): in place, the same bits."""
import numpy as np
import pytest

import fastgnn as fg
from fastgnn.ops import reference as R


def _graph(rng, index_dtype, n=80, e=600, weighted=False):
    weight = rng.random(e) if weighted else None
    return fg.Graph.from_edge_index(rng.integers(0, n, (2, e)), num_nodes=n, edge_weight=weight,
                                    index_dtype=index_dtype)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("width", [1, 7, 16, 33, 80])
@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_give_the_contiguous_bits(rng, reduce, dtype, index_dtype, width, weighted):
    graph = _graph(rng, index_dtype, weighted=weighted)
    wide = rng.standard_normal((80, 2 * width + 3)).astype(dtype)
    block = wide[:, width + 1:2 * width + 1]
    before = wide.copy()
    expected = fg.aggregate(graph, np.ascontiguousarray(block), reduce)
    assert fg.aggregate(graph, block, reduce).tobytes() == expected.tobytes()
    target = np.full((80, 3 * width), 7, dtype=dtype)
    fg.aggregate(graph, np.ascontiguousarray(block), reduce, out=target[:, width:2 * width])
    assert target[:, width:2 * width].tobytes() == expected.tobytes()
    assert np.all(target[:, :width] == 7) and np.all(target[:, 2 * width:] == 7)
    np.testing.assert_array_equal(wide, before)
    w = None if graph.edge_weight is None else graph.edge_weight.astype(np.float64)
    reference, _ = R.aggregate(graph.indptr, graph.indices, block.astype(np.float64), reduce, edge_weight=w)
    np.testing.assert_allclose(expected, reference,
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)

    grad_expected = fg.aggregate_backward(graph, np.ascontiguousarray(block), reduce)
    assert fg.aggregate_backward(graph, block, reduce).tobytes() == grad_expected.tobytes()
    fg.aggregate_backward(graph, block, reduce, out=target[:, :width])
    assert target[:, :width].tobytes() == grad_expected.tobytes()


def test_threads_give_the_same_bits(rng):
    graph = _graph(rng, None, n=5000, e=80000)
    wide = rng.standard_normal((5000, 96)).astype(np.float32)
    first = fg.aggregate(graph, wide[:, :48], "mean", n_threads=1)
    for threads in (2, 3):
        assert fg.aggregate(graph, wide[:, :48], "mean", n_threads=threads).tobytes() == first.tobytes()


def test_bad_blocks(rng):
    graph = _graph(rng, None)
    x = rng.standard_normal((80, 20)).astype(np.float32)
    wide = np.zeros((80, 40), np.float32)
    with pytest.raises(ValueError, match="contiguous"):
        fg.aggregate(graph, x, "sum", out=wide[:, ::2])
    with pytest.raises(TypeError, match="dtype"):
        fg.aggregate(graph, x, "sum", out=wide.astype(np.float64)[:, :20])
    with pytest.raises(ValueError, match="share memory"):
        fg.aggregate(graph, wide[:, :20], "sum", out=wide[:, 10:30])
    with pytest.raises(ValueError, match="writeable"):
        readonly = wide.copy()
        readonly.flags.writeable = False
        fg.aggregate(graph, x, "sum", out=readonly[:, :20])
    with pytest.raises(ValueError, match="sum and mean"):
        fg.aggregate_backward(graph, x, "max", arg=np.zeros((80, 20), np.int32), out=wide[:, :20])
    with pytest.raises(ValueError, match="rows"):
        fg.aggregate(graph, wide[:40, :20], "sum")
