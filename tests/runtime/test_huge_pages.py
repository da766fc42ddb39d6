"""_runtime.memory.immutable: a read-only copy, the same data, small or large (huge-page path)."""
import numpy as np
import pytest

from fastgnn._runtime import memory


@pytest.mark.parametrize("nbytes", [64, memory.HUGE_PAGE_MIN_BYTES + 12345 * 4])
def test_immutable_copies_and_freezes(nbytes):
    array = np.arange(nbytes // 4, dtype=np.int32)[::-1]  # non-contiguous view of a large array
    frozen = memory.immutable(array)
    np.testing.assert_array_equal(frozen, array)
    assert frozen.dtype == array.dtype and not frozen.flags.writeable
    assert not np.shares_memory(frozen, array)
    with pytest.raises(ValueError):
        frozen.flags.writeable = True
    assert memory.immutable(frozen) is frozen


def test_immutable_without_madvise_falls_back(monkeypatch):
    monkeypatch.setattr(memory, "_madvise", None)
    array = np.arange(memory.HUGE_PAGE_MIN_BYTES // 8 + 3, dtype=np.float64).reshape(-1, 1)
    frozen = memory.immutable(array)
    np.testing.assert_array_equal(frozen, array)
    assert frozen.shape == array.shape
