"""Memory-mapped datasets release the pages they read: same values after, read-only still, RSS drops."""
import sys

import numpy as np
import pytest

import fastgnn as fg
from fastgnn._runtime.memory import mapped_buffer, release_mapped_pages
from fastgnn.data import NeighborLoader
from fastgnn.datasets import OnDiskDataset, save_dataset


def _dataset(tmp_path, n=3000, d=64):
    rng = np.random.default_rng(0)
    graph = fg.Graph.from_edge_index(rng.integers(0, n, (2, 10 * n)), num_nodes=n)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, 4, n)
    save_dataset(tmp_path / "d", graph, x, y, {"train": np.arange(0, n, 2), "valid": np.arange(1, n, 4),
                                               "test": np.arange(3, n, 4)})
    return OnDiskDataset(tmp_path / "d", mmap=True), x


def _rss_file_kb():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    return None


def test_mapped_arrays_are_read_only_memmaps_over_their_own_maps(tmp_path):
    data, x = _dataset(tmp_path)
    assert isinstance(data.x, np.memmap) and not data.x.flags.writeable
    assert mapped_buffer(data.x) is not None and mapped_buffer(data.graph.indices) is not None
    with pytest.raises(ValueError):
        data.x[0, 0] = 1.0
    assert np.array_equal(np.asarray(data.x), x)
    assert data.x.filename.endswith("x.npy") and data.x.offset > 0


def test_release_pages_keeps_values_and_is_a_noop_in_memory(tmp_path):
    data, x = _dataset(tmp_path)
    np.asarray(data.x).sum()
    released = data.release_pages()
    assert released >= data.x.nbytes
    assert np.array_equal(np.asarray(data.x), x)           # faulted back, same values
    assert OnDiskDataset(tmp_path / "d", mmap=False).release_pages() == 0
    assert release_mapped_pages(np.ones(3), None) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RssFile and MADV_DONTNEED are Linux's")
def test_release_pages_lowers_the_resident_file_pages(tmp_path):
    data, _ = _dataset(tmp_path, n=20000, d=128)          # a 10 MB feature file
    np.asarray(data.x).sum()
    before = _rss_file_kb()
    data.release_pages()
    after = _rss_file_kb()
    assert before - after > 0.8 * data.x.nbytes / 1024


@pytest.mark.parametrize("prefetch", [False, True])
def test_loader_batches_are_the_same_with_and_without_releasing(tmp_path, prefetch):
    data, _ = _dataset(tmp_path)
    common = dict(fanouts=[5, 3], input_nodes=data.split()["train"], batch_size=256, seed=1, prefetch=prefetch)
    plain = NeighborLoader(data.graph, data.x, data.y, mapped_page_budget=None, **common)
    lean = NeighborLoader(data.graph, data.x, data.y, mapped_page_budget=3 * 4096, **common)   # pieces of rows
    auto = NeighborLoader(data.graph, data.x, data.y, **common)
    assert plain.mapped_page_budget is None and lean.mapped_page_budget == 3 * 4096
    assert auto.mapped_page_budget is not None
    for a, b in zip(plain, lean):
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
        assert all(ga == gb for ga, gb in zip(a.blocks, b.blocks))


def test_loader_page_budget_argument_checks(tmp_path):
    data, x = _dataset(tmp_path)
    in_memory = NeighborLoader(data.graph.__class__.from_csr(np.asarray(data.graph.indptr),
                                                             np.asarray(data.graph.indices)),
                               x, fanouts=[2])
    assert in_memory.mapped_page_budget is None          # 'auto': nothing mapped
    for bad, error in (("often", ValueError), (0, ValueError), (True, TypeError), (1.5, TypeError)):
        with pytest.raises(error, match="mapped_page_budget"):
            NeighborLoader(data.graph, data.x, fanouts=[2], mapped_page_budget=bad)


def test_in_memory_graph_arrays_are_read_straight_into_immutable_buffers(tmp_path):
    data, _ = _dataset(tmp_path)
    loaded = OnDiskDataset(tmp_path / "d", mmap=False)
    for array in (loaded.graph.indptr, loaded.graph.indices):
        base = array
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base, bytes) and not array.flags.writeable
    assert np.array_equal(loaded.graph.indices, np.asarray(data.graph.indices))
    assert np.array_equal(loaded.graph.indptr, np.asarray(data.graph.indptr))


@pytest.mark.parametrize("nbytes", [0, 10, (16 << 20) + 3])
def test_read_immutable_small_large_and_truncated(tmp_path, nbytes):
    from fastgnn._runtime.memory import read_immutable

    payload = np.random.default_rng(0).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    (tmp_path / "f").write_bytes(payload)
    with open(tmp_path / "f", "rb") as handle:
        assert read_immutable(handle, nbytes) == payload
    with open(tmp_path / "f", "rb") as handle, pytest.raises(ValueError, match="ends after"):
        read_immutable(handle, nbytes + 1)


@pytest.mark.parametrize("budget", [1, 3 * 4096, 64 * 1024, 1 << 30])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_region_gather_equals_numpy(tmp_path, budget, dtype):
    from fastgnn.data.neighbor import _gather_releasing

    rng = np.random.default_rng(3)
    x = rng.standard_normal((5000, 3, 7)).astype(dtype)             # rows of several dimensions
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    for ids in (rng.integers(0, 5000, 4000), np.arange(5000)[::-1], np.array([7, 7, 7, 4999, 0]),
                np.zeros(0, dtype=np.int64)):
        ids = ids.astype(np.int64)
        before = ids.copy()
        for threads in (1, 2, 3):
            out = _gather_releasing(mapped, ids, budget, threads)
            assert out.dtype == x.dtype and out.flags.c_contiguous
            np.testing.assert_array_equal(out, x[ids])
        np.testing.assert_array_equal(ids, before)
    # An in-memory array (nothing to release) and a strided one take the same path's results.
    np.testing.assert_array_equal(_gather_releasing(x, ids, budget, 2), x[ids])
    np.testing.assert_array_equal(_gather_releasing(x[:, 1], np.array([3, 1]), budget, 2), x[[3, 1], 1])


def test_populate_mapped_rows_is_a_hint(tmp_path):
    from fastgnn._runtime.memory import populate_mapped_rows

    data, x = _dataset(tmp_path)
    release_mapped_pages(data.x)
    populate_mapped_rows(data.x, 10, 2000)          # True on Linux 5.14+, else False: either way a hint
    assert np.array_equal(np.asarray(data.x), x)
    assert populate_mapped_rows(x, 0, 10) is False  # not a map
    assert populate_mapped_rows(data.x, 5, 5) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RssFile and MADV_DONTNEED are Linux's")
def test_sampler_regions_release_the_graph_pages_they_read(tmp_path):
    from fastgnn.data.neighbor import _sample

    # 1.6M int32 edges (6.4 MB): a large fan-out reads nearly every page of indices.
    rng = np.random.default_rng(0)
    graph = fg.Graph.from_edge_index(rng.integers(0, 40000, (2, 1600000)), num_nodes=40000)
    graph.save(tmp_path / "g")
    mapped = fg.Graph.load(tmp_path / "g", mmap=True)
    seeds = np.arange(0, 40000, 2, dtype=np.int64)
    resident = {}
    for budget in (None, 1 << 18):
        release_mapped_pages(mapped.indptr, mapped.indices)
        before = _rss_file_kb()
        _sample(mapped, seeds, [-1], False, None, 0, 0, 2, budget)
        resident[budget] = _rss_file_kb() - before
    indices_kb = mapped.indices.nbytes / 1024
    assert resident[None] > 0.8 * indices_kb
    assert resident[1 << 18] < 0.3 * indices_kb


def test_release_mapped_items_keeps_values_and_skips_other_arrays(tmp_path):
    from fastgnn._runtime.memory import release_mapped_items

    values = np.arange(300000, dtype=np.int64)
    np.save(tmp_path / "a.npy", values)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert int(mapped.sum()) == int(values.sum())
    assert release_mapped_items(mapped, 1000, 200000) > 0
    assert release_mapped_items(mapped, 5, 5) == 0
    np.testing.assert_array_equal(mapped, values)                      # faulted back, same values
    assert release_mapped_items(values, 0, 1000) == 0                   # anonymous memory: untouched
    writable = np.load(tmp_path / "a.npy", mmap_mode="r+")
    assert release_mapped_items(writable, 0, 1000) == 0                # a writable map keeps its pages
    np.testing.assert_array_equal(values, np.arange(300000))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RssFile and MADV_DONTNEED are Linux's")
def test_loading_a_mapped_graph_does_not_leave_its_indices_resident(tmp_path):
    rng = np.random.default_rng(0)
    graph = fg.Graph.from_edge_index(rng.integers(0, 40000, (2, 3000000)), num_nodes=40000)   # 12 MB of indices
    graph.save(tmp_path / "g")
    before = _rss_file_kb()
    loaded = fg.Graph.load(tmp_path / "g", mmap=True)                  # validated: every index read
    assert _rss_file_kb() - before < 0.3 * loaded.indices.nbytes / 1024
    np.testing.assert_array_equal(loaded.indices, graph.indices)
