"""Neighbour sampling: the reference's definition, block structure, statistics, determinism, loaders, errors."""
import itertools

import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.data import MiniBatch, NeighborLoader, SampledSubgraph, sample_neighbors
from fastgnn.data import neighbor_reference as R
from fastgnn.datasets.synthetic import power_law_edge_index
from graph_cases import parallel_always


# ---------------------------------------------------------------------- graphs
def random_graph(num_nodes=300, num_edges=3000, index_dtype=None, weighted=False, seed=0):
    """A power-law graph with duplicates and self-loops (as drawn), optionally weighted (some zeros)."""
    rng = np.random.default_rng(seed)
    edge_index = power_law_edge_index(num_nodes, num_edges, rng=seed)
    edge_index = np.concatenate([edge_index, [[5, 5, 7, 7], [5, 5, 9, 9]]], axis=1)  # self-loops, duplicates
    weight = None
    if weighted:
        weight = rng.random(edge_index.shape[1]).astype(np.float32)
        weight[rng.random(weight.shape[0]) < 0.1] = 0.0
    return Graph.from_edge_index(edge_index, num_nodes=num_nodes, edge_weight=weight, index_dtype=index_dtype)


def ring_graph(num_nodes, degree):
    """Node ``i`` has the in-neighbours ``i+1 .. i+degree`` (mod n), in that order."""
    dst = np.repeat(np.arange(num_nodes), degree)
    src = (dst + np.tile(np.arange(1, degree + 1), num_nodes)) % num_nodes
    return Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes)


def positions_of(graph, subgraph):
    """Per seed (of a 1-layer sample), the positions of its sampled edges within its row."""
    block, edge_ids = subgraph.blocks[-1], subgraph.edge_ids[-1]
    seeds = subgraph.seeds
    return [edge_ids[block.indptr[i]:block.indptr[i + 1]] - graph.indptr[seeds[i]] for i in range(seeds.shape[0])]


def check_structure(graph, sub, seeds, fanouts, replace=False, weighted=False):
    """Every documented property of a SampledSubgraph."""
    assert isinstance(sub, (SampledSubgraph, MiniBatch))
    assert len(sub.blocks) == len(sub.block_nodes) == len(sub.edge_ids) == len(fanouts)
    np.testing.assert_array_equal(sub.seeds, seeds)
    np.testing.assert_array_equal(sub.input_nodes, sub.block_nodes[0])
    destinations = graph.destinations()
    indptr = graph.indptr.astype(np.int64)
    for k, block in enumerate(sub.blocks):
        nodes, ids = sub.block_nodes[k], sub.edge_ids[k]
        assert nodes.dtype == np.int64 and ids.dtype == np.int64
        assert block.num_src_nodes == nodes.shape[0]
        assert np.unique(nodes).shape[0] == nodes.shape[0]
        dst_nodes = nodes[:block.num_dst_nodes]
        expected_dst = sub.block_nodes[k + 1] if k + 1 < len(sub.blocks) else seeds
        np.testing.assert_array_equal(dst_nodes, expected_dst)
        assert block.num_edges == ids.shape[0]
        # each edge is a real edge of the graph between the right global nodes
        if ids.size:
            assert ids.min() >= 0 and ids.max() < graph.num_edges
        local_dst = np.repeat(np.arange(block.num_dst_nodes), np.diff(block.indptr))
        np.testing.assert_array_equal(graph.indices[ids], nodes[block.indices])
        np.testing.assert_array_equal(destinations[ids], dst_nodes[local_dst])
        # CSR order within each row; distinct without replacement; counts
        layer = len(fanouts) - 1 - k
        fanout = fanouts[layer]
        degree = indptr[dst_nodes + 1] - indptr[dst_nodes]
        counts = np.diff(block.indptr)
        for i in range(block.num_dst_nodes):
            row = ids[block.indptr[i]:block.indptr[i + 1]]
            assert np.all(np.diff(row) >= (0 if replace else 1))
        if weighted and fanout != -1:  # only edges of positive weight can be drawn
            positive = np.concatenate([[0], np.cumsum(graph.edge_weight > 0)])
            degree = positive[indptr[dst_nodes + 1]] - positive[indptr[dst_nodes]]
        if fanout == -1:
            np.testing.assert_array_equal(counts, degree)
        elif replace:
            np.testing.assert_array_equal(counts, np.where(degree > 0, fanout, 0))
        else:
            np.testing.assert_array_equal(counts, np.minimum(degree, fanout))
        # new sources in first-seen order over the block's edges
        new = block.indices[block.indices >= block.num_dst_nodes].astype(np.int64)
        _, first = np.unique(new, return_index=True)
        np.testing.assert_array_equal(new[np.sort(first)], np.arange(block.num_dst_nodes, block.num_src_nodes))
        # weights follow the edges
        if graph.edge_weight is None:
            assert block.edge_weight is None
        else:
            np.testing.assert_array_equal(block.edge_weight, graph.edge_weight[ids])


# ---------------------------------------------------------------------- the generator
def test_splitmix64_known_values():
    # splitmix64 of a stream started at 0: the first outputs of Vigna's reference implementation
    assert R.splitmix64(0) == 0xE220A8397B1DCDAF
    assert R.splitmix64(R.GOLDEN) == 0x6E789E6AA1B965F4
    np.testing.assert_array_equal(R.splitmix64(np.array([0, R.GOLDEN], dtype=np.uint64)),
                                  np.array([0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4], dtype=np.uint64))


def test_bounded_is_multiply_high_or_modulo():
    rng = np.random.default_rng(0)
    r = rng.integers(0, 2 ** 63, 200, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    for n in [1, 2, 3, 17, 1000, 2 ** 31 + 11, 2 ** 32 - 1]:
        expected = [(int(v) * n) >> 64 for v in r]
        np.testing.assert_array_equal(R.bounded(r, n), expected)
    n = 2 ** 40 + 3
    np.testing.assert_array_equal(R.bounded(r, n), [int(v) % n for v in r])


def test_vectorised_layer_equals_the_node_by_node_definition():
    graph = random_graph()
    nodes = np.arange(graph.num_nodes)
    key = R.layer_key(3, 1, 0)
    keys = R.node_keys(key, nodes)
    indptr = graph.indptr.astype(np.int64)
    for fanout, replace in [(1, False), (4, False), (25, False), (-1, False), (3, True), (-1, True)]:
        counts, ids = R.sample_layer(graph.indptr, nodes, fanout, key, replace=replace)
        expected = [indptr[v] + R.sample_positions(int(indptr[v + 1] - indptr[v]), int(keys[v]), fanout, replace)
                    for v in nodes]
        np.testing.assert_array_equal(counts, [e.shape[0] for e in expected])
        np.testing.assert_array_equal(ids, np.concatenate(expected))


# ---------------------------------------------------------------------- compiled sampler = reference
def assert_same_sample(sub, reference):
    assert len(sub.blocks) == len(reference)
    for k, (indptr, local, src_nodes, edge_ids, num_dst) in enumerate(reference):
        block = sub.blocks[k]
        assert block.num_dst_nodes == num_dst and block.num_src_nodes == src_nodes.shape[0]
        np.testing.assert_array_equal(block.indptr, indptr)
        np.testing.assert_array_equal(block.indices, local)
        np.testing.assert_array_equal(sub.block_nodes[k], src_nodes)
        np.testing.assert_array_equal(sub.edge_ids[k], edge_ids)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("mode, weight_dtype", [("uniform", None), ("replace", None),
                                                ("weighted", np.float32), ("weighted", np.float64),
                                                ("weighted_replace", np.float32), ("weighted_replace", np.float64)])
@pytest.mark.parametrize("fanouts", [[2, 3], [7, -1], [40]])
def test_compiled_sampler_matches_the_reference_exactly(index_dtype, weight_dtype, mode, fanouts):
    weighted = mode.startswith("weighted")
    replace = mode.endswith("replace")
    graph = random_graph(num_nodes=400, num_edges=6000, index_dtype=index_dtype, weighted=weighted)
    if weighted:
        graph = graph.with_edge_weight(graph.edge_weight.astype(weight_dtype))
    seeds = np.random.default_rng(1).permutation(400)[:50]
    sub = sample_neighbors(graph, seeds, fanouts, replace=replace, weighted=weighted, seed=11, epoch=3)
    reference = R.sample_blocks(graph.indptr, graph.indices, seeds, fanouts, replace=replace,
                                edge_weight=graph.edge_weight if weighted else None, seed=11, epoch=3)
    assert_same_sample(sub, reference)
    assert sub.blocks[0].index_dtype == np.int32  # blocks take the narrowest index dtype that fits


def test_layer_key_matches_the_reference():
    from fastgnn._kernels import sample as K

    for seed, epoch, layer in [(0, 0, 0), (1, 2, 3), (2 ** 64 - 1, 2 ** 63, 7)]:
        assert K.layer_key(seed, epoch, layer) == R.layer_key(seed, epoch, layer)


def test_high_degree_rows_and_large_fanouts_match_the_reference():
    # a hub with thousands of in-edges: Floyd's set grows large (binary-search path), and sorting uses qsort
    hub = np.zeros(5000, dtype=np.int64)
    src = np.random.default_rng(3).integers(0, 100, 5000)
    graph = Graph.from_edge_index(np.stack([src, hub]), num_nodes=100)
    for replace in (False, True):
        sub = sample_neighbors(graph, [0], [300], replace=replace, seed=5)
        assert_same_sample(sub, R.sample_blocks(graph.indptr, graph.indices, [0], [300], replace=replace, seed=5))


@pytest.mark.parametrize("mode", ["uniform", "replace", "weighted"])
def test_same_sample_for_any_thread_count(mode):
    graph = random_graph(num_nodes=5000, num_edges=100000, weighted=mode == "weighted", seed=2)
    seeds = np.arange(0, 5000, 3)
    with parallel_always():
        results = [sample_neighbors(graph, seeds, [15, 10, 5], replace=mode == "replace",
                                    weighted=mode == "weighted", seed=4, n_threads=n) for n in (1, 2, 3)]
    for other in results[1:]:
        for a, b in zip(results[0].edge_ids + results[0].block_nodes, other.edge_ids + other.block_nodes):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(results[0].blocks, other.blocks):
            assert a == b


# ---------------------------------------------------------------------- structure
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("fanouts", [[3], [4, 2], [5, -1, 2], [-1]])
@pytest.mark.parametrize("mode", ["uniform", "replace", "weighted", "weighted_replace"])
def test_blocks_are_valid(index_dtype, fanouts, mode):
    weighted = mode.startswith("weighted")
    replace = mode.endswith("replace")
    graph = random_graph(index_dtype=index_dtype, weighted=weighted)
    seeds = np.array([5, 7, 0, 299, 42, 13])
    sub = sample_neighbors(graph, seeds, fanouts, replace=replace, weighted=weighted, seed=1)
    check_structure(graph, sub, seeds, fanouts, replace=replace, weighted=weighted)


def test_weighted_never_draws_a_zero_weight_edge():
    graph = random_graph(weighted=True)
    sub = sample_neighbors(graph, np.arange(graph.num_nodes), [3], weighted=True)
    assert np.all(graph.edge_weight[sub.edge_ids[0]] > 0)
    sub = sample_neighbors(graph, np.arange(graph.num_nodes), [3], weighted=True, replace=True)
    assert np.all(graph.edge_weight[sub.edge_ids[0]] > 0)


def test_fanout_minus_one_takes_every_edge_in_csr_order():
    graph = random_graph()
    seeds = np.arange(graph.num_nodes)
    sub = sample_neighbors(graph, seeds, [-1])
    np.testing.assert_array_equal(sub.edge_ids[0], np.arange(graph.num_edges))
    np.testing.assert_array_equal(sub.blocks[0].indptr, graph.indptr)


def test_edge_cases_empty_isolated_self_loops_duplicates():
    empty = Graph.from_edge_index(np.zeros((2, 0), dtype=np.int64), num_nodes=0)
    sub = sample_neighbors(empty, np.zeros(0, dtype=np.int64), [2, 2])
    assert [b.num_edges for b in sub.blocks] == [0, 0] and sub.input_nodes.shape == (0,)
    isolated = Graph.from_edge_index(np.array([[0, 1], [1, 0]]), num_nodes=5)
    sub = sample_neighbors(isolated, [3, 4, 1], [2, 2])
    check_structure(isolated, sub, np.array([3, 4, 1]), [2, 2])
    np.testing.assert_array_equal(sub.input_nodes, [3, 4, 1, 0])
    loops = Graph.from_edge_index(np.array([[0, 0, 0, 1], [0, 0, 0, 0]]), num_nodes=2)  # a tripled self-loop
    sub = sample_neighbors(loops, [0], [-1])
    np.testing.assert_array_equal(sub.blocks[0].indices, [0, 0, 0, 1])
    np.testing.assert_array_equal(sub.input_nodes, [0, 1])
    sub = sample_neighbors(loops, [0], [2], replace=True)
    assert sub.blocks[0].num_edges == 2
    no_seeds = sample_neighbors(random_graph(), np.zeros(0, dtype=np.int64), [3])
    assert no_seeds.blocks[0].num_dst_nodes == 0 and no_seeds.blocks[0].num_edges == 0


def test_inputs_are_not_modified_and_any_layout_is_read():
    graph = random_graph()
    seeds = np.arange(40)[::2]
    seeds.setflags(write=False)
    copy = seeds.copy()
    sub = sample_neighbors(graph, seeds, [3, 2])
    np.testing.assert_array_equal(seeds, copy)
    np.testing.assert_array_equal(sub.seeds, copy)
    same = sample_neighbors(graph, copy.astype(np.int32), [3, 2])
    for a, b in zip(sub.edge_ids, same.edge_ids):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- reproducibility
def test_a_node_samples_the_same_neighbours_in_any_batch():
    graph = random_graph(num_nodes=500, num_edges=8000)
    a = sample_neighbors(graph, [1, 2, 3, 4, 100], [4, 3], seed=9, epoch=2)
    b = sample_neighbors(graph, [100, 77, 300], [4, 3], seed=9, epoch=2)
    pos_a = dict(zip(a.seeds.tolist(), positions_of(graph, SampledSubgraph(a.blocks[-1:], a.block_nodes[-1:],
                                                                           a.edge_ids[-1:]))))
    pos_b = dict(zip(b.seeds.tolist(), positions_of(graph, SampledSubgraph(b.blocks[-1:], b.block_nodes[-1:],
                                                                           b.edge_ids[-1:]))))
    np.testing.assert_array_equal(pos_a[100], pos_b[100])
    # the same node at the second layer also samples alike (its key is (seed, epoch, node, layer))
    alone = sample_neighbors(graph, [100], [4], seed=9, epoch=2)
    np.testing.assert_array_equal(alone.edge_ids[0], a.edge_ids[-1][a.blocks[-1].indptr[4]:a.blocks[-1].indptr[5]])
    other_epoch = sample_neighbors(graph, np.arange(500), [4], seed=9, epoch=3)
    same_epoch = sample_neighbors(graph, np.arange(500), [4], seed=9, epoch=2)
    assert not np.array_equal(other_epoch.edge_ids[0], same_epoch.edge_ids[0])


# ---------------------------------------------------------------------- statistics
def chi_square(observed, expected):
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    return float(((observed - expected) ** 2 / expected).sum())


def test_uniform_without_replacement_positions_and_pairs():
    n, d, k = 20000, 20, 5
    graph = ring_graph(n, d)
    sub = sample_neighbors(graph, np.arange(n), [k], seed=4)
    positions = np.stack(positions_of(graph, sub))
    assert positions.shape == (n, k)
    counts = np.bincount(positions.ravel(), minlength=d)
    # each position with probability k/d: chi-square of 19 degrees of freedom (mean 19, sd 6)
    assert chi_square(counts, np.full(d, n * k / d)) < 19 + 8 * 6.2
    pairs = np.zeros((d, d))
    for a, b in itertools.combinations(range(k), 2):
        np.add.at(pairs, (positions[:, a], positions[:, b]), 1)
    upper = pairs[np.triu_indices(d, 1)]
    expected = n * (k * (k - 1) / 2) / (d * (d - 1) / 2)
    # each pair with probability C(k,2)/C(d,2): 189 degrees of freedom (mean 189, sd 19.4)
    assert chi_square(upper, np.full(upper.shape, expected)) < 189 + 8 * 19.4


def test_uniform_with_replacement_is_uniform_and_exactly_k():
    n, d, k = 20000, 8, 12
    graph = ring_graph(n, d)
    sub = sample_neighbors(graph, np.arange(n), [k], replace=True, seed=4)
    positions = np.stack(positions_of(graph, sub))
    assert positions.shape == (n, k)
    counts = np.bincount(positions.ravel(), minlength=d)
    assert chi_square(counts, np.full(d, n * k / d)) < 7 + 8 * 3.8


def test_weighted_sampling_follows_the_weights():
    n, d = 20000, 4
    graph = ring_graph(n, d)
    weight = np.tile(np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32), n)
    graph = graph.with_edge_weight(weight)
    # with replacement: each draw picks position p with probability w_p / W
    sub = sample_neighbors(graph, np.arange(n), [3], replace=True, weighted=True, seed=2)
    counts = np.bincount(np.stack(positions_of(graph, sub)).ravel(), minlength=d)
    assert chi_square(counts, 3 * n * np.arange(1, 5) / 10) < 3 + 8 * 2.5
    # without replacement (k = 2): successive draws, P{a, b} = w_a/W w_b/(W-w_a) + w_b/W w_a/(W-w_b)
    sub = sample_neighbors(graph, np.arange(n), [2], weighted=True, seed=2)
    positions = np.stack(positions_of(graph, sub))
    w = np.arange(1.0, 5.0)
    observed, expected = [], []
    for a, b in itertools.combinations(range(d), 2):
        observed.append(np.count_nonzero((positions[:, 0] == a) & (positions[:, 1] == b)))
        expected.append(n * (w[a] / 10 * w[b] / (10 - w[a]) + w[b] / 10 * w[a] / (10 - w[b])))
    assert sum(observed) == n
    assert chi_square(observed, expected) < 5 + 8 * 3.2


# ---------------------------------------------------------------------- errors
def test_bad_arguments_are_refused_with_clear_errors():
    graph = random_graph()
    with pytest.raises(ValueError, match=r"fanouts\[1\]"):
        sample_neighbors(graph, [0], [3, 0])
    with pytest.raises(ValueError, match=r"fanouts\[0\]"):
        sample_neighbors(graph, [0], [-2])
    with pytest.raises(ValueError, match="fanouts"):
        sample_neighbors(graph, [0], [])
    with pytest.raises(TypeError, match="fanouts"):
        sample_neighbors(graph, [0], 3)
    with pytest.raises(TypeError, match=r"fanouts\[0\]"):
        sample_neighbors(graph, [0], [2.5])
    with pytest.raises(ValueError, match="seeds"):
        sample_neighbors(graph, [0, 300], [3])
    with pytest.raises(ValueError, match="seeds"):
        sample_neighbors(graph, [-1], [3])
    with pytest.raises(ValueError, match="seeds.*repeated"):
        sample_neighbors(graph, [4, 4], [3])
    with pytest.raises(TypeError, match="seeds"):
        sample_neighbors(graph, [0.5], [3])
    with pytest.raises(ValueError, match="edge_weight"):
        sample_neighbors(graph, [0], [3], weighted=True)
    with pytest.raises(ValueError, match="seed"):
        sample_neighbors(graph, [0], [3], seed=-1)
    with pytest.raises(ValueError, match="epoch"):
        sample_neighbors(graph, [0], [3], epoch=2 ** 64)
    with pytest.raises(TypeError, match="graph"):
        sample_neighbors(graph.to_scipy(), [0], [3])
    bipartite = Graph.from_edge_index(np.array([[0, 1], [0, 0]]), num_src_nodes=2, num_dst_nodes=1)
    with pytest.raises(ValueError, match="square"):
        sample_neighbors(bipartite, [0], [1])
    weight = np.ones(graph.num_edges, np.float32)
    weight[graph.indptr[7]] = -1.0  # one negative weight, in the row of node 7
    negative = graph.with_edge_weight(weight)
    with pytest.raises(ValueError, match="negative"):
        sample_neighbors(negative, [0, 7], [3], weighted=True)
    with pytest.raises(ValueError, match="negative"):
        NeighborLoader(negative, None, fanouts=[3], weighted=True)
    assert sample_neighbors(negative, [7], [-1], weighted=True).blocks[0].num_edges == graph.indptr[8] - graph.indptr[7]
    with pytest.raises(ValueError, match="n_threads"):
        sample_neighbors(graph, [0], [3], n_threads=0)


def test_loader_bad_arguments():
    graph = random_graph()
    x = np.zeros((graph.num_nodes, 4), np.float32)
    with pytest.raises(ValueError, match="batch_size"):
        NeighborLoader(graph, x, fanouts=[2], batch_size=0)
    with pytest.raises(ValueError, match="input_nodes.*length"):
        NeighborLoader(graph, x, fanouts=[2], input_nodes=np.ones(graph.num_nodes - 1, bool))
    with pytest.raises(ValueError, match="input_nodes"):
        NeighborLoader(graph, x, fanouts=[2], input_nodes=[graph.num_nodes])
    with pytest.raises(ValueError, match=r"fanouts\[0\]"):
        NeighborLoader(graph, x, fanouts=[0])
    with pytest.raises(ValueError, match="x"):
        NeighborLoader(graph, x[:-1], fanouts=[2])
    with pytest.raises(ValueError, match="y"):
        NeighborLoader(graph, x, np.zeros(3), fanouts=[2])


# ---------------------------------------------------------------------- loader
@pytest.mark.parametrize("prefetch", [False, True])
def test_loader_batches(prefetch):
    graph = random_graph()
    x = np.random.default_rng(0).random((graph.num_nodes, 6)).astype(np.float32)
    y = np.arange(graph.num_nodes) % 7
    mask = np.zeros(graph.num_nodes, bool)
    mask[::3] = True
    loader = NeighborLoader(graph, x, y, fanouts=[4, 3], input_nodes=mask, batch_size=32, shuffle=True, seed=5,
                            prefetch=prefetch)
    assert len(loader) == -(-mask.sum() // 32)
    batches = list(loader)
    assert len(batches) == len(loader) and loader.epoch == 1
    seen = np.concatenate([b.seeds for b in batches])
    np.testing.assert_array_equal(np.sort(seen), np.flatnonzero(mask))
    assert not np.array_equal(seen, np.flatnonzero(mask))  # shuffled
    for index, batch in enumerate(batches):
        assert isinstance(batch, MiniBatch) and batch.batch_index == index
        check_structure(graph, batch, batch.seeds, [4, 3])
        np.testing.assert_array_equal(batch.x, x[batch.block_nodes[0]])
        assert batch.x.flags.c_contiguous
        np.testing.assert_array_equal(batch.y, y[batch.seeds])
        expected = sample_neighbors(graph, batch.seeds, [4, 3], seed=5, epoch=0)
        for a, b in zip(batch.edge_ids, expected.edge_ids):
            np.testing.assert_array_equal(a, b)
    again = list(loader)  # epoch 1: a new order
    assert not np.array_equal(np.concatenate([b.seeds for b in again]), seen)
    loader.set_epoch(0)
    replay = list(loader)
    for a, b in zip(replay, batches):
        np.testing.assert_array_equal(a.seeds, b.seeds)
        np.testing.assert_array_equal(a.x, b.x)


def test_loader_drop_last_and_memmap_features(tmp_path):
    graph = random_graph()
    x = np.random.default_rng(1).random((graph.num_nodes, 5))
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    loader = NeighborLoader(graph, mapped, fanouts=[2], batch_size=64, drop_last=True)
    assert len(loader) == graph.num_nodes // 64
    batches = list(loader)
    assert all(b.seeds.shape[0] == 64 for b in batches) and batches[0].y is None
    for batch in batches:
        assert type(batch.x) is np.ndarray
        np.testing.assert_array_equal(batch.x, x[batch.input_nodes])


def test_prefetch_thread_ends_with_the_iteration():
    import threading

    graph = random_graph()
    loader = NeighborLoader(graph, None, fanouts=[2], batch_size=16, prefetch=True)
    iterator = iter(loader)
    next(iterator)
    iterator.close()  # left early
    assert not any(t.name == "fastgnn-neighbor-prefetch" for t in threading.enumerate())
    list(loader)
    assert not any(t.name == "fastgnn-neighbor-prefetch" for t in threading.enumerate())


def test_prefetch_builds_only_one_batch_ahead():
    import threading
    import time

    from fastgnn.data.neighbor import prefetched

    started = []
    lock = threading.Lock()

    def make(index, items, epoch):
        with lock:
            started.append(index)
        return index

    taken = []
    for batch in prefetched(make, ((i, None) for i in range(6)), 0):
        time.sleep(0.05)  # ample time for a thread that would build further ahead
        with lock:
            taken.append((batch, max(started)))
    assert [batch for batch, _ in taken] == list(range(6))
    # While batch i is in use, batch i + 1 at most has been started.
    assert all(furthest <= batch + 1 for batch, furthest in taken)
    assert any(furthest == batch + 1 for batch, furthest in taken)  # and it is prefetched


def test_prefetch_passes_errors_to_the_consumer(monkeypatch):
    graph = random_graph()
    loader = NeighborLoader(graph, None, fanouts=[2], batch_size=16, prefetch=True)

    def broken(index, seeds, epoch):
        raise RuntimeError("boom")

    monkeypatch.setattr(loader, "_make_batch", broken)
    with pytest.raises(RuntimeError, match="boom"):
        list(loader)


# ---------------------------------------------------------------------- link loader
@pytest.mark.parametrize("prefetch", [False, True])
def test_link_loader_batches(prefetch):
    from fastgnn.data import LinkMiniBatch, LinkNeighborLoader

    graph = random_graph()
    x = np.random.default_rng(0).random((graph.num_nodes, 3))
    targets = graph.to_edge_index()[:, ::7]
    loader = LinkNeighborLoader(graph, x, fanouts=[3, 2], edge_label_index=targets, neg_ratio=2.0, batch_size=50,
                                shuffle=True, seed=3, prefetch=prefetch)
    assert len(loader) == -(-targets.shape[1] // 50)
    batches = list(loader)
    edge_keys = set(map(tuple, graph.to_edge_index().T.tolist()))
    positives = []
    for index, batch in enumerate(batches):
        assert isinstance(batch, LinkMiniBatch) and batch.batch_index == index and batch.y is None
        check_structure(graph, batch, batch.seeds, [3, 2])
        pairs = batch.seeds[batch.edge_label_index]
        num_pos = int(batch.edge_label.sum())
        assert batch.edge_label.shape[0] == 3 * num_pos
        np.testing.assert_array_equal(batch.edge_label[:num_pos], 1)
        np.testing.assert_array_equal(batch.edge_label[num_pos:], 0)
        positives.append(pairs[:, :num_pos])
        assert not any(tuple(p) in edge_keys for p in pairs[:, num_pos:].T.tolist())  # negatives are non-edges
        np.testing.assert_array_equal(batch.x, x[batch.input_nodes])
    every = np.concatenate(positives, axis=1)
    assert sorted(map(tuple, every.T.tolist())) == sorted(map(tuple, targets.T.tolist()))
    loader.set_epoch(0)
    replay = list(loader)
    for a, b in zip(replay, batches):
        np.testing.assert_array_equal(a.edge_label_index, b.edge_label_index)
        np.testing.assert_array_equal(a.seeds, b.seeds)


def test_link_loader_defaults_and_errors():
    from fastgnn.data import LinkNeighborLoader

    graph = random_graph()
    loader = LinkNeighborLoader(graph, None, fanouts=[2], neg_ratio=0, batch_size=1000)
    assert len(loader) == -(-graph.num_edges // 1000)
    first = next(iter(loader))
    assert first.edge_label.shape == (1000,) and first.edge_label.min() == 1
    with pytest.raises(ValueError, match="edge_label_index"):
        LinkNeighborLoader(graph, None, fanouts=[2], edge_label_index=[[0, 1]])
    with pytest.raises(ValueError, match="edge_label_index"):
        LinkNeighborLoader(graph, None, fanouts=[2], edge_label_index=[[0], [graph.num_nodes]])
    with pytest.raises(ValueError, match="neg_ratio"):
        LinkNeighborLoader(graph, None, fanouts=[2], neg_ratio=-1)
    with pytest.raises(ValueError, match="batch_size"):
        LinkNeighborLoader(graph, None, fanouts=[2], batch_size=0)
    with pytest.raises(ValueError, match=r"fanouts\[0\]"):
        LinkNeighborLoader(graph, None, fanouts=[-3])


def test_loader_batches_are_the_same_for_any_thread_count_and_prefetch():
    graph = random_graph(num_nodes=3000, num_edges=60000, seed=4)
    x = np.random.default_rng(2).random((3000, 8)).astype(np.float32)
    runs = []
    with parallel_always():
        for n_threads, prefetch in [(1, False), (2, True), (3, True)]:
            loader = NeighborLoader(graph, x, fanouts=[10, 5], batch_size=500, shuffle=True, seed=8,
                                    prefetch=prefetch, n_threads=n_threads)
            loader.set_epoch(4)
            runs.append(list(loader))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a.seeds, b.seeds)
            np.testing.assert_array_equal(a.x, b.x)
            for u, v in zip(a.edge_ids + a.block_nodes, b.edge_ids + b.block_nodes):
                np.testing.assert_array_equal(u, v)
