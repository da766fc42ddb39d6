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
