"""The sampler over a memory-mapped graph, region by region with its pages released: the same blocks."""
import mmap

import numpy as np
import pytest

from fastgnn import Graph
from fastgnn._runtime.memory import mapped_page_ranges
from fastgnn.data import NeighborLoader, sample_neighbors
from fastgnn.data import neighbor_reference as R
from fastgnn.data.neighbor import _sample, _SamplingRegions
from fastgnn.datasets.synthetic import power_law_edge_index
from graph_cases import parallel_always

MODES = {"uniform": (False, False), "replace": (True, False), "weighted": (False, True),
         "weighted_replace": (True, True)}


def _graphs(tmp_path, index_dtype=np.int32, weight_dtype=None, num_nodes=4000, num_edges=80000):
    """The same graph in memory and over read-only file maps (``Graph.load(..., mmap=True)``)."""
    rng = np.random.default_rng(0)
    edge_index = power_law_edge_index(num_nodes, num_edges, rng=1)
    edge_index = np.concatenate([edge_index, [[5, 5, 7, 7], [5, 5, 9, 9]]], axis=1)   # self-loops, duplicates
    weight = None
    if weight_dtype is not None:
        weight = rng.random(edge_index.shape[1]).astype(weight_dtype)
        weight[rng.random(weight.shape[0]) < 0.1] = 0
    graph = Graph.from_edge_index(edge_index, num_nodes=num_nodes, edge_weight=weight, index_dtype=index_dtype)
    graph.save(tmp_path / "g")
    mapped = Graph.load(tmp_path / "g", mmap=True)
    assert isinstance(mapped.indices, np.memmap) and mapped.indices.dtype == index_dtype
    return graph, mapped


def _assert_same(a, b):
    for x, y in zip(a.edge_ids + a.block_nodes, b.edge_ids + b.block_nodes):
        np.testing.assert_array_equal(x, y)
    assert all(ga == gb for ga, gb in zip(a.blocks, b.blocks))
    for ga, gb in zip(a.blocks, b.blocks):
        if ga.edge_weight is not None:
            assert ga.edge_weight.dtype == gb.edge_weight.dtype
            np.testing.assert_array_equal(ga.edge_weight, gb.edge_weight)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("fanouts", [[15, 10, 5], [4, -1], [-1]])
@pytest.mark.parametrize("budget", [1, 3 * 4096, 1 << 16, 1 << 30])
def test_region_sampling_gives_the_in_memory_blocks(tmp_path, index_dtype, mode, fanouts, budget):
    replace, weighted = MODES[mode]
    graph, mapped = _graphs(tmp_path, index_dtype, np.float32 if weighted else None)
    assert _SamplingRegions.of(mapped, mapped.edge_weight if weighted else None, budget) is not None
    seeds = np.random.default_rng(2).permutation(graph.num_nodes)[:300].astype(np.int64)
    expected = sample_neighbors(graph, seeds, fanouts, replace=replace, weighted=weighted, seed=3, epoch=1)
    with parallel_always():
        for threads in (1, 2, 3):
            got = _sample(mapped, seeds, fanouts, replace, mapped.edge_weight if weighted else None, 3, 1, threads,
                          budget)
            _assert_same(expected, got)


@pytest.mark.parametrize("weight_dtype", [np.float32, np.float64])
def test_region_sampling_matches_the_reference_with_weights_on_a_map(tmp_path, weight_dtype):
    graph, mapped = _graphs(tmp_path, np.int64, weight_dtype, num_nodes=600, num_edges=6000)
    seeds = np.array([0, 599, 5, 7, 300, 13], dtype=np.int64)
    got = _sample(mapped, seeds, [5, 3], False, mapped.edge_weight, 9, 0, 2, 4096)
    reference = R.sample_blocks(graph.indptr, graph.indices, seeds, [5, 3], edge_weight=graph.edge_weight, seed=9)
    assert len(reference) == len(got.blocks)
    for block, ids, nodes, (indptr, local, src_nodes, edge_ids, num_dst) in zip(got.blocks, got.edge_ids,
                                                                               got.block_nodes, reference):
        np.testing.assert_array_equal(ids, edge_ids)
        np.testing.assert_array_equal(nodes, src_nodes)
        np.testing.assert_array_equal(block.indptr, indptr)
        np.testing.assert_array_equal(block.indices, local)
        assert block.num_dst_nodes == num_dst
        np.testing.assert_array_equal(block.edge_weight, graph.edge_weight[edge_ids])


def test_edge_cases_empty_frontier_isolated_nodes_and_no_edges(tmp_path):
    graph, mapped = _graphs(tmp_path, num_nodes=50, num_edges=200)
    isolated = np.flatnonzero(np.diff(graph.indptr) == 0)
    seeds = np.concatenate([isolated[:3], [5, 7]]).astype(np.int64)
    for seeds_here in (seeds, np.zeros(0, dtype=np.int64), isolated[:2].astype(np.int64)):
        expected = sample_neighbors(graph, seeds_here, [3, 2], seed=1)
        _assert_same(expected, _sample(mapped, seeds_here, [3, 2], False, None, 1, 0, 2, 4096))
    empty = Graph.from_edge_index(np.zeros((2, 0), dtype=np.int64), num_nodes=10)
    empty.save(tmp_path / "empty")
    loaded = Graph.load(tmp_path / "empty", mmap=True)
    assert _SamplingRegions.of(loaded, None, 4096) is None
    sub = _sample(loaded, np.arange(3, dtype=np.int64), [2], False, None, 0, 0, 1, 4096)
    assert sub.num_sampled_edges == 0


def test_inputs_are_not_modified(tmp_path):
    graph, mapped = _graphs(tmp_path, num_nodes=500, num_edges=5000)
    seeds = np.arange(499, 0, -7, dtype=np.int64)
    seeds.flags.writeable = False
    before = seeds.copy()
    _sample(mapped, seeds, [4, 4], False, None, 0, 0, 2, 4096)
    np.testing.assert_array_equal(seeds, before)
    np.testing.assert_array_equal(np.asarray(mapped.indices), graph.indices)


def test_page_ranges_only_for_read_only_maps(tmp_path):
    values = np.arange(100000, dtype=np.int32)
    np.save(tmp_path / "a.npy", values)
    starts, stops = np.array([0, 1000, 99990]), np.array([1000, 5000, 100000])
    assert mapped_page_ranges(values, starts, stops) is None                           # anonymous memory
    assert mapped_page_ranges(np.load(tmp_path / "a.npy", mmap_mode="r+"), starts, stops) is None   # writable
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert mapped_page_ranges(mapped[::2], starts // 2, stops // 2) is None          # not contiguous
    ranges = mapped_page_ranges(mapped, starts, stops)
    origin = np.frombuffer(mapped._mmap, dtype=np.uint8).ctypes.data
    size = len(mapped._mmap)
    assert ranges.shape == (3, 2) and ranges.dtype == np.int64
    assert np.all(ranges[:, 0] % mmap.PAGESIZE == 0) and np.all(ranges[:, 0] >= origin)
    assert np.all(ranges[:, 0] + ranges[:, 1] <= origin + size)
    data = mapped.ctypes.data
    assert np.all(ranges[:, 0] <= data + starts * 4)                                   # widened outward
    assert np.all(ranges[:, 0] + ranges[:, 1] >= np.minimum(data + stops * 4, origin + size))


def test_no_regions_for_graphs_in_memory_or_without_a_budget(tmp_path):
    graph, mapped = _graphs(tmp_path, num_nodes=200, num_edges=1000)
    assert _SamplingRegions.of(graph, None, 4096) is None
    assert _SamplingRegions.of(mapped, None, None) is None
    regions = _SamplingRegions.of(mapped, None, 4096)
    assert regions.size == 1024 and regions.count == -(-mapped.num_edges // 1024)


@pytest.mark.parametrize("prefetch", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_loader_over_a_mapped_weighted_graph_is_the_same_with_and_without_releasing(tmp_path, prefetch, weighted):
    graph, mapped = _graphs(tmp_path, np.int64, np.float64 if weighted else None, num_nodes=3000,
                            num_edges=30000)
    x = np.random.default_rng(4).standard_normal((3000, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    x_mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    common = dict(fanouts=[5, 3], batch_size=256, seed=1, shuffle=True, weighted=weighted)
    for threads in (1, 2, 3):
        plain = NeighborLoader(graph, x, prefetch=False, **common)
        lean = NeighborLoader(mapped, x_mapped, mapped_page_budget=3 * 4096, prefetch=prefetch, n_threads=threads,
                              **common)
        for a, b in zip(plain, lean):
            np.testing.assert_array_equal(a.x, b.x)
            _assert_same(a, b)


@pytest.mark.parametrize("prefetch", [False, True])
def test_mapped_features_are_gathered_when_first_read(tmp_path, monkeypatch, prefetch):
    import threading

    import fastgnn.data.neighbor as N

    graph, mapped = _graphs(tmp_path, num_nodes=2000, num_edges=20000)
    x = np.random.default_rng(5).standard_normal((2000, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    x_mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    threads = []
    original = N._EpochLoader._gather

    def recording(self, ids):
        threads.append(threading.current_thread() is threading.main_thread())
        return original(self, ids)

    monkeypatch.setattr(N._EpochLoader, "_gather", recording)
    common = dict(fanouts=[4, 2], batch_size=300, seed=2, shuffle=True, prefetch=prefetch)
    lean = list(NeighborLoader(mapped, x_mapped, **common))      # 'auto': a budget, mapped data
    assert threads == []                                          # nothing gathered before x is read
    first = [b.x for b in lean]
    assert len(threads) == len(lean) and all(threads)            # once a batch, in the reader's thread
    assert all(b.x is rows for b, rows in zip(lean, first))       # read again: the same array, no new gather
    assert len(threads) == len(lean)
    threads.clear()
    plain = list(NeighborLoader(graph, x, **common))             # in memory: no budget, gathered with the batch
    assert len(threads) == len(plain) and all(threads) != prefetch
    for a, b in zip(plain, lean):
        assert isinstance(b.x, np.ndarray)
        np.testing.assert_array_equal(a.x, b.x)
        _assert_same(a, b)


def test_a_pending_batch_pickles_with_its_rows(tmp_path):
    import pickle

    from fastgnn.data import LinkNeighborLoader

    _, mapped = _graphs(tmp_path, num_nodes=1000, num_edges=8000)
    np.save(tmp_path / "x.npy", np.random.default_rng(8).standard_normal((1000, 4)).astype(np.float32))
    x_mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    for loader in (NeighborLoader(mapped, x_mapped, fanouts=[3], batch_size=200, prefetch=False),
                   LinkNeighborLoader(mapped, x_mapped, fanouts=[3], batch_size=200, prefetch=False)):
        batch = loader.batch(0)
        copy = pickle.loads(pickle.dumps(batch))
        assert type(copy) is type(batch) and isinstance(copy._x, np.ndarray)
        np.testing.assert_array_equal(copy.x, np.asarray(x_mapped)[batch.input_nodes])
        np.testing.assert_array_equal(copy.seeds, batch.seeds)
        assert copy.batch_index == batch.batch_index and len(copy.blocks) == len(batch.blocks)


def test_a_pending_batch_gathers_once_for_concurrent_readers(tmp_path, monkeypatch):
    import threading

    import fastgnn.data.neighbor as N

    _, mapped = _graphs(tmp_path, num_nodes=1000, num_edges=8000)
    np.save(tmp_path / "x.npy", np.random.default_rng(7).standard_normal((1000, 4)).astype(np.float32))
    x_mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    calls = []
    original = N._EpochLoader._gather
    monkeypatch.setattr(N._EpochLoader, "_gather", lambda self, ids: calls.append(1) or original(self, ids))
    batch = NeighborLoader(mapped, x_mapped, fanouts=[3], batch_size=200, prefetch=False).batch(0)
    seen = []
    readers = [threading.Thread(target=lambda: seen.append(batch.x)) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert len(calls) == 1 and all(rows is seen[0] for rows in seen)
    np.testing.assert_array_equal(seen[0], np.asarray(x_mapped)[batch.input_nodes])


def test_link_loader_over_mapped_data_is_the_same_with_and_without_prefetch(tmp_path):
    from fastgnn.data import LinkNeighborLoader

    graph, mapped = _graphs(tmp_path, num_nodes=1500, num_edges=12000)
    x = np.random.default_rng(6).standard_normal((1500, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    x_mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    common = dict(fanouts=[3, 2], batch_size=500, seed=3, shuffle=True)
    eager = list(LinkNeighborLoader(graph, x, prefetch=False, **common))
    ahead = list(LinkNeighborLoader(mapped, x_mapped, prefetch=True, mapped_page_budget=4096, **common))
    assert len(eager) == len(ahead) > 1
    for a, b in zip(eager, ahead):
        assert isinstance(b.x, np.ndarray)
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.edge_label_index, b.edge_label_index)
        _assert_same(a, b)
