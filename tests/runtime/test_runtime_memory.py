"""fastgnn._runtime.memory: aligned (and zeroed) arrays, and which arrays own all their memory."""
import numpy as np
import pytest

from fastgnn._runtime.memory import ALIGNMENT, empty_aligned, owns_memory


@pytest.mark.parametrize("shape", [(0,), (7,), (3, 5), (1000, 33)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_aligned_arrays_and_zeroed_ones(shape, dtype):
    for zeroed in (False, True):
        array = empty_aligned(shape, dtype, zeroed=zeroed)
        assert array.shape == shape and array.dtype == dtype and array.flags.c_contiguous
        assert array.size == 0 or array.ctypes.data % ALIGNMENT == 0
        if zeroed:
            assert not array.any()


def test_owns_memory():
    aligned = empty_aligned((10, 4), np.float32)
    assert owns_memory(np.zeros(3)) and owns_memory(aligned)
    assert not owns_memory(aligned[:5]) and not owns_memory(np.zeros((4, 4))[1:])
    assert not owns_memory(np.zeros(104, np.uint8)[40:])   # not a whole aligned array: 64 bytes of a larger one


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_discardable_rows_are_released_and_read_as_zeros(dtype):
    from fastgnn._runtime.memory import discard_rows, empty_discardable, mapped_buffer

    array = empty_discardable((5000, 37), dtype)
    assert array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % ALIGNMENT == 0
    assert mapped_buffer(array) is not None
    array[...] = np.arange(array.size, dtype=dtype).reshape(array.shape) + 1
    before = array.copy()
    released = discard_rows(array, 1000)
    row_bytes = array.strides[0]
    tail = (array.shape[0] - 1000) * row_bytes
    assert tail - 4096 < released <= tail                                 # whole pages, from the next boundary on
    np.testing.assert_array_equal(array[:1000], before[:1000])           # the rows kept are intact
    zero_from = -(-(1000 * row_bytes) // 4096) * 4096 // row_bytes + 1    # past the first whole released page
    assert not array[zero_from:].any()
    kept = array[:zero_from] != 0
    assert kept[:1000].all()


def test_discard_leaves_any_other_array_alone():
    from fastgnn._runtime.memory import discard_rows, empty_discardable

    plain = np.arange(40000, dtype=np.float64).reshape(4000, 10)
    before = plain.copy()
    assert discard_rows(plain, 10) == 0 and discard_rows(empty_aligned((4000, 10), np.float32), 0) == 0
    np.testing.assert_array_equal(plain, before)
    array = empty_discardable((4000, 10), np.float64)
    array[...] = 1
    assert discard_rows(array, 4000) == 0 and discard_rows(array, -1) == 0 and discard_rows(array[:, :5], 0) == 0
    assert array.all()
    assert empty_discardable((0, 10), np.float32).shape == (0, 10)
