"""ops.gather_rows: any dtype and rank, memory maps, out=, threads, bad input."""
import numpy as np
import pytest

from fastgnn.ops import gather_rows
from graph_cases import parallel_always


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
@pytest.mark.parametrize("shape", [(50,), (50, 7), (50, 3, 2), (50, 0)])
def test_gather_rows_equals_fancy_indexing(dtype, shape):
    x = (np.arange(np.prod(shape)) % 251).astype(dtype).reshape(shape)
    ids = np.array([3, 3, 49, 0, 17], dtype=np.int32)
    out = gather_rows(x, ids)
    np.testing.assert_array_equal(out, x[ids])
    assert out.dtype == x.dtype and out.flags.c_contiguous


def test_gather_rows_many_rows_any_thread_count():
    x = np.random.default_rng(0).random((3000, 33)).astype(np.float32)
    ids = np.random.default_rng(1).integers(0, 3000, 20000)
    expected = x[ids]
    with parallel_always():
        for n in (1, 2, 3):
            np.testing.assert_array_equal(gather_rows(x, ids, n_threads=n), expected)


def test_gather_rows_from_a_read_only_memmap_and_strided_input(tmp_path):
    x = np.random.default_rng(0).random((100, 4))
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    ids = [5, 99, 0, 5]
    out = gather_rows(mapped, ids)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, x[ids])
    np.testing.assert_array_equal(gather_rows(x[:, ::2], ids), x[ids][:, ::2])
    np.testing.assert_array_equal(gather_rows(x[::-1], ids), x[::-1][ids])


def test_gather_rows_out_and_empty_ids():
    x = np.arange(12.0).reshape(6, 2)
    out = np.empty((2, 2))
    assert gather_rows(x, [1, 4], out=out) is out
    np.testing.assert_array_equal(out, x[[1, 4]])
    assert gather_rows(x, np.zeros(0, dtype=np.int64)).shape == (0, 2)
    assert gather_rows(np.zeros((0, 3)), []).shape == (0, 3)


def test_gather_rows_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="ids"):
        gather_rows(x, [5])
    with pytest.raises(ValueError, match="ids"):
        gather_rows(x, [-1])
    with pytest.raises(TypeError, match="ids"):
        gather_rows(x, [0.5])
    with pytest.raises(ValueError, match="x"):
        gather_rows(np.float64(3.0), [0])
    with pytest.raises(ValueError, match="out"):
        gather_rows(x, [0], out=np.empty((2, 2)))
    with pytest.raises(TypeError, match="out"):
        gather_rows(x, [0], out=np.empty((1, 2), np.float32))
    with pytest.raises(ValueError, match="n_threads"):
        gather_rows(x, [0], n_threads=0)
