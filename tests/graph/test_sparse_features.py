"""SparseFeatures: construction, conversions, row selection, normalisation, bad input."""
import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn as fg
from fastgnn.datasets import load_cora
from fastgnn.datasets.planetoid import row_normalize


def _random_dense(rng, shape=(30, 12), density=0.2, dtype=np.float32):
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) > density] = 0
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constructors_agree(rng, dtype):
    dense = _random_dense(rng, dtype=dtype)
    a = fg.SparseFeatures.from_dense(dense)
    b = fg.SparseFeatures.from_scipy(sp.csr_matrix(dense))
    c = fg.SparseFeatures.from_csr(a.indptr, a.indices, a.data, a.shape)
    for x in (a, b, c):
        assert x.dtype == dtype and x.shape == dense.shape and x.nnz == np.count_nonzero(dense)
        np.testing.assert_array_equal(x.toarray(), dense)
        np.testing.assert_array_equal(x.to_scipy().toarray(), dense)
    assert a == b == c


def test_scipy_formats_and_duplicates_sum(rng):
    rows, cols = np.array([0, 0, 2, 2]), np.array([1, 1, 0, 3])
    coo = sp.coo_matrix((np.array([1.0, 2.0, 3.0, 4.0]), (rows, cols)), shape=(3, 4))
    x = fg.SparseFeatures.from_scipy(coo)
    np.testing.assert_array_equal(x.toarray(), coo.toarray())
    assert x.dtype == np.float64
    assert fg.SparseFeatures.from_scipy(coo.tocsc(), dtype=np.float32).dtype == np.float32


def test_empty_shapes():
    x = fg.SparseFeatures.from_dense(np.zeros((0, 5), dtype=np.float32))
    assert x.shape == (0, 5) and x.nnz == 0 and x.density == 0.0
    y = fg.SparseFeatures.from_dense(np.zeros((4, 3)))
    assert y.nnz == 0
    np.testing.assert_array_equal(y.row_normalize().toarray(), np.zeros((4, 3)))


def test_rows_selection(rng):
    dense = _random_dense(rng)
    x = fg.SparseFeatures.from_dense(dense)
    ids = np.array([5, 0, 5, 29, -1])
    np.testing.assert_array_equal(x[ids].toarray(), dense[ids])
    mask = rng.random(30) < 0.5
    np.testing.assert_array_equal(x[mask].toarray(), dense[mask])
    np.testing.assert_array_equal(x[3:10:2].toarray(), dense[3:10:2])
    with pytest.raises(IndexError):
        x[np.array([30])]
    with pytest.raises(TypeError):
        x[np.array([0.5])]
    with pytest.raises(TypeError):
        x[0, 1]


def test_row_normalize_matches_the_dense_one(rng):
    dense = np.abs(_random_dense(rng))
    dense[3] = 0
    x = fg.SparseFeatures.from_dense(dense).row_normalize()
    np.testing.assert_allclose(x.toarray(), row_normalize(dense), rtol=1e-6)


def test_with_data_shares_the_pattern_and_its_transpose(rng):
    x = fg.SparseFeatures.from_dense(_random_dense(rng))
    transposed = x.graph.transpose_csr()
    y = x.with_data(np.arange(x.nnz, dtype=np.float32))
    assert y.graph.transpose_csr()[0] is transposed[0]
    np.testing.assert_array_equal(y.data, np.arange(x.nnz))
    with pytest.raises(ValueError):
        x.with_data(np.ones(x.nnz + 1, dtype=np.float32))
    with pytest.raises(TypeError):
        x.with_data(np.ones(x.nnz, dtype=np.int64))


def test_immutable_and_inputs_unchanged(rng):
    dense = _random_dense(rng)
    before = dense.copy()
    x = fg.SparseFeatures.from_dense(dense)
    np.testing.assert_array_equal(dense, before)
    with pytest.raises(ValueError):
        x.data[0] = 1
    with pytest.raises(TypeError, match="toarray"):
        np.asarray(x)


@pytest.mark.parametrize("call, error", [
    (lambda: fg.SparseFeatures.from_csr([0, 1], [0], [np.nan], (1, 2)), ValueError),
    (lambda: fg.SparseFeatures.from_csr([0, 1], [2], [1.0], (1, 2)), ValueError),
    (lambda: fg.SparseFeatures.from_csr([0, 2], [0], [1.0], (1, 2)), ValueError),
    (lambda: fg.SparseFeatures.from_csr([0, 1, 1], [0], [1.0], (1, 2)), ValueError),
    (lambda: fg.SparseFeatures.from_csr([0, 1], [0], [1.0, 2.0], (1, 2)), ValueError),
    (lambda: fg.SparseFeatures.from_csr([0, 1], [0], ["a"], (1, 2)), TypeError),
    (lambda: fg.SparseFeatures.from_csr([0, 1], [0], [1.0], (1, 2), dtype=np.int32), TypeError),
    (lambda: fg.SparseFeatures.from_csr([0, 1], [0], [1.0], 5), ValueError),
    (lambda: fg.SparseFeatures.from_dense(np.ones(3)), ValueError),
    (lambda: fg.SparseFeatures.from_dense(np.array([[np.inf]])), ValueError),
    (lambda: fg.SparseFeatures.from_scipy(np.ones((2, 2))), TypeError),
    (lambda: fg.SparseFeatures(None), TypeError),
])
def test_bad_input(call, error):
    with pytest.raises(error):
        call()


def test_cora_loads_sparse():
    dense = load_cora(normalize_features=True)
    sparse = load_cora(normalize_features=True, sparse_features=True)
    assert isinstance(sparse.x, fg.SparseFeatures) and sparse.x.density < 0.02
    np.testing.assert_array_equal(sparse.x.toarray(), dense.x)
    assert repr(sparse.x).startswith("SparseFeatures(shape=(2708, 1433)")


def test_vstack(rng):
    parts = [_random_dense(rng, shape=(n, 6)) for n in (3, 0, 5)]
    stacked = fg.SparseFeatures.vstack([fg.SparseFeatures.from_dense(p) for p in parts])
    np.testing.assert_array_equal(stacked.toarray(), np.concatenate(parts))
    with pytest.raises(ValueError, match="width"):
        fg.SparseFeatures.vstack([fg.SparseFeatures.from_dense(parts[0]),
                                  fg.SparseFeatures.from_dense(np.ones((2, 5), np.float32))])
    with pytest.raises(TypeError):
        fg.SparseFeatures.vstack([])


def test_batches_of_graphs_with_sparse_features(rng):
    from fastgnn.data import Batch, GraphData

    graphs = []
    for n in (4, 1, 6):
        graph = fg.Graph.from_edge_index(rng.integers(0, n, (2, 2 * n)), num_nodes=n)
        graphs.append(GraphData(graph, fg.SparseFeatures.from_dense(_random_dense(rng, shape=(n, 5))), 1))
    batch = Batch.from_graphs(graphs)
    assert isinstance(batch.x, fg.SparseFeatures) and batch.x.shape == (11, 5)
    np.testing.assert_array_equal(batch.x.toarray(), np.concatenate([g.x.toarray() for g in graphs]))
    assert batch.unbatch() == graphs
    dense = GraphData(graphs[0].graph, graphs[0].x.toarray(), 1)
    with pytest.raises(ValueError, match="same kind"):
        Batch.from_graphs([graphs[0], dense])
