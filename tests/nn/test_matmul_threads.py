"""The layers' products: the same bits for any thread count, BLAS held at one thread meanwhile and restored."""
import threading

import numpy as np
import pytest

import fastgnn
from fastgnn._runtime.blas import single_threaded_blas
from fastgnn.nn._matmul import matmul, matmul_tn


@pytest.fixture
def restore_threads():
    yield
    fastgnn.set_num_threads(None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_are_identical_for_any_thread_count(rng, dtype, restore_threads):
    a = rng.standard_normal((9000, 48)).astype(dtype)
    b = rng.standard_normal((48, 40)).astype(dtype)
    g = rng.standard_normal((9000, 40)).astype(dtype)
    results = {}
    for threads in (1, 2, 3):
        fastgnn.set_num_threads(threads)
        results[threads] = (matmul(a, b), matmul_tn(g, a), matmul(a.T[:, :1000].T, b))
    for threads in (2, 3):
        for got, expected in zip(results[threads], results[1]):
            assert got.tobytes() == expected.tobytes()
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(results[1][0], a @ b, rtol=tol, atol=tol)
    np.testing.assert_allclose(results[1][1], g.T @ a, rtol=tol, atol=tol * 100)


def test_blas_is_held_at_one_thread_and_restored():
    before = fastgnn.get_blas_threads()
    if before is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS that fastgnn can find")
    seen = []
    with single_threaded_blas():
        seen.append(fastgnn.get_blas_threads())
        with single_threaded_blas():             # re-entrant
            seen.append(fastgnn.get_blas_threads())
        seen.append(fastgnn.get_blas_threads())
    assert seen == [1, 1, 1]
    assert fastgnn.get_blas_threads() == before


def test_concurrent_products_restore_the_count(rng):
    before = fastgnn.get_blas_threads()
    a = rng.standard_normal((3000, 64))
    errors = []

    def work():
        try:
            for _ in range(5):
                np.testing.assert_allclose(matmul(a, a.T[:, :32]), a @ a.T[:, :32], rtol=1e-10)
        except Exception as error:      # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert fastgnn.get_blas_threads() == before
