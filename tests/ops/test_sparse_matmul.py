"""sparse_matmul / sparse_matmul_tn against scipy and NumPy, across dtypes, threads and edge cases."""
import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn as fg
from fastgnn.ops import sparse_matmul, sparse_matmul_tn

CASES = {
    "random": dict(shape=(60, 40), density=0.1),
    "empty rows and columns": dict(shape=(50, 30), density=0.02),
    "no values": dict(shape=(7, 5), density=0.0),
    "no rows": dict(shape=(0, 5), density=0.0),
    "dense": dict(shape=(9, 4), density=1.0),
}


def _features(rng, shape, density, dtype):
    matrix = sp.random(*shape, density=density, random_state=int(rng.integers(1 << 30)), format="csr",
                       dtype=np.float64)
    return fg.SparseFeatures.from_scipy(matrix, dtype=dtype), matrix.astype(dtype)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 7, 16, 33])
def test_against_scipy(rng, case, dtype, width):
    x, matrix = _features(rng, **CASES[case], dtype=dtype)
    b = rng.standard_normal((x.shape[1], width)).astype(dtype)
    g = rng.standard_normal((x.shape[0], width)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    out = sparse_matmul(x, b)
    assert out.dtype == dtype and out.shape == (x.shape[0], width)
    np.testing.assert_allclose(out, matrix @ b, **tol)
    np.testing.assert_allclose(sparse_matmul_tn(x, g), matrix.T @ g, **tol)


def test_duplicates_and_int64_indices(rng):
    indptr = np.array([0, 3, 3, 5])
    indices = np.array([1, 1, 0, 2, 2])
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    x = fg.SparseFeatures.from_csr(indptr, indices, data, (3, 4), dtype=np.float64)
    dense = x.toarray()
    b = rng.standard_normal((4, 6))
    np.testing.assert_allclose(sparse_matmul(x, b), dense @ b)
    np.testing.assert_allclose(sparse_matmul_tn(x, b[:3]), dense.T @ b[:3])
    wide = fg.SparseFeatures.from_csr(indptr, indices, data, (3, 4), dtype=np.float64, index_dtype="int64")
    assert wide.indices.dtype == np.int64 and x.indices.dtype == np.int32
    np.testing.assert_array_equal(sparse_matmul(wide, b), sparse_matmul(x, b))
    np.testing.assert_array_equal(sparse_matmul_tn(wide, b[:3]), sparse_matmul_tn(x, b[:3]))


def test_bitwise_identical_for_any_thread_count(rng):
    x, _ = _features(rng, (3000, 500), 0.05, np.float32)
    b = rng.standard_normal((500, 32)).astype(np.float32)
    g = rng.standard_normal((3000, 32)).astype(np.float32)
    first = [sparse_matmul(x, b, n_threads=1), sparse_matmul_tn(x, g, n_threads=1)]
    for threads in (2, 3):
        np.testing.assert_array_equal(sparse_matmul(x, b, n_threads=threads), first[0])
        np.testing.assert_array_equal(sparse_matmul_tn(x, g, n_threads=threads), first[1])


def test_non_contiguous_read_only_dense_input(rng):
    x, matrix = _features(rng, (20, 10), 0.3, np.float64)
    b = np.asfortranarray(rng.standard_normal((10, 5)))
    b.flags.writeable = False
    before = b.copy()
    np.testing.assert_allclose(sparse_matmul(x, b), matrix @ b)
    np.testing.assert_array_equal(b, before)


def test_bad_input(rng):
    x, _ = _features(rng, (6, 4), 0.5, np.float32)
    with pytest.raises(TypeError, match="SparseFeatures"):
        sparse_matmul(np.ones((6, 4)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="shape"):
        sparse_matmul(x, np.ones((5, 2)))
    with pytest.raises(ValueError, match="shape"):
        sparse_matmul_tn(x, np.ones((4, 2)))
    with pytest.raises(ValueError, match="shape"):
        sparse_matmul(x, np.ones(4))
