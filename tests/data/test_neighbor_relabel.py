"""The sampler's relabelling: overlapped with the parallel fill, the node map carried between layers.

Each case is large enough for many fill tasks (256 frontier nodes each), so that worker 0 relabels
tasks the other workers fill, and runs on 1, 2 and 3 threads against the NumPy reference.
"""
import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.data import neighbor as N
from fastgnn.data import neighbor_reference as R
from fastgnn.data import sample_neighbors
from graph_cases import parallel_always

THREADS = (1, 2, 3)


def uniform_graph(num_nodes, num_edges, index_dtype, seed=0, isolated=0):
    """Random edges (duplicates and self-loops as drawn); the last ``isolated`` nodes have no edges at all."""
    rng = np.random.default_rng(seed)
    linked = num_nodes - isolated
    edge_index = rng.integers(0, linked, size=(2, num_edges))
    return Graph.from_edge_index(edge_index, num_nodes=num_nodes, index_dtype=index_dtype)


def assert_matches_reference(graph, seeds, fanouts, **options):
    reference = R.sample_blocks(graph.indptr, graph.indices, seeds, fanouts, **options)
    with parallel_always():
        for n_threads in THREADS:
            sub = sample_neighbors(graph, seeds, fanouts, n_threads=n_threads, **options)
            got = [(block.indptr, block.indices, nodes, ids, block.num_dst_nodes)
                   for block, nodes, ids in zip(sub.blocks, sub.block_nodes, sub.edge_ids)]
            assert len(got) == len(reference)
            for mine, theirs in zip(got, reference):
                for a, b in zip(mine, theirs):
                    np.testing.assert_array_equal(a, b)
            assert all(nodes.flags.c_contiguous for nodes in sub.block_nodes)
            assert_maps_clear(graph)
    return reference


def assert_maps_clear(graph):
    """Every node map kept for reuse is all -1 again."""
    for node_map in N._FREE_MAPS:
        if node_map.shape[0] == graph.num_nodes:
            assert np.all(node_map == -1)


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("fanouts", [[15, 10, 5], [-1, 3], [4, -1]])
def test_many_tasks_match_the_reference(index_dtype, fanouts):
    graph = uniform_graph(6000, 60000, index_dtype, seed=1)
    seeds = np.random.default_rng(2).permutation(6000)[:1500]
    reference = assert_matches_reference(graph, seeds, fanouts, seed=7)
    assert reference[0][1].shape[0] > 20 * 256          # many tasks in the widest layer


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_replace_and_weighted_match_the_reference(index_dtype):
    rng = np.random.default_rng(3)
    edge_index = rng.integers(0, 3000, size=(2, 40000))
    weight = rng.random(40000)
    weight[rng.random(40000) < 0.2] = 0.0
    graph = Graph.from_edge_index(edge_index, num_nodes=3000, edge_weight=weight, index_dtype=index_dtype)
    seeds = np.arange(0, 3000, 3)
    assert_matches_reference(graph, seeds, [6, 4], replace=True, seed=1)
    reference = R.sample_blocks(graph.indptr, graph.indices, seeds, [6, 4], edge_weight=graph.edge_weight, seed=1)
    with parallel_always():
        for n_threads in THREADS:
            sub = sample_neighbors(graph, seeds, [6, 4], weighted=True, seed=1, n_threads=n_threads)
            for k, (_, local, src_nodes, edge_ids, _) in enumerate(reference):
                np.testing.assert_array_equal(sub.blocks[k].indices, local)
                np.testing.assert_array_equal(sub.block_nodes[k], src_nodes)
                np.testing.assert_array_equal(sub.edge_ids[k], edge_ids)


def test_duplicates_across_rows_and_isolated_nodes():
    # few distinct sources shared by every row (each appears in many rows, and twice in some), and
    # 500 isolated nodes among the seeds
    rng = np.random.default_rng(4)
    dst = np.repeat(np.arange(3000), 8)
    src = rng.integers(0, 40, size=dst.shape[0])
    graph = Graph.from_edge_index(np.stack([src, dst]), num_nodes=3500, index_dtype="int32")
    seeds = np.concatenate([np.arange(3000, 3500), np.arange(0, 3000, 2)])
    reference = assert_matches_reference(graph, seeds, [8, 3])
    assert reference[-1][2].shape[0] == seeds.shape[0] + len(set(range(40)) - set(seeds.tolist()))


def test_sources_that_are_all_destinations():
    # every in-neighbour of a seed is a seed: no new source nodes, every local id below num_dst
    num_nodes = 4000
    dst = np.repeat(np.arange(num_nodes), 6)
    src = (dst + np.tile(np.arange(1, 7), num_nodes)) % num_nodes
    graph = Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes)
    seeds = np.random.default_rng(5).permutation(num_nodes)
    reference = assert_matches_reference(graph, seeds, [4, -1])
    for indptr, local, src_nodes, _, num_dst in reference:
        assert src_nodes.shape[0] == num_dst and local.max() < num_dst


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_empty_blocks_and_graphs(index_dtype):
    no_edges = uniform_graph(3000, 0, index_dtype)
    assert_matches_reference(no_edges, np.arange(0, 3000, 2), [5, 5])
    graph = uniform_graph(3000, 30000, index_dtype, isolated=1000)
    assert_matches_reference(graph, np.arange(2000, 3000), [5, -1])    # only isolated seeds
    assert_matches_reference(graph, np.zeros(0, dtype=np.int64), [5, 5])


def test_block_indices_are_kept_without_a_copy():
    graph = uniform_graph(3000, 30000, "int32")
    sub = sample_neighbors(graph, np.arange(1000), [5, 5])
    for block in sub.blocks:
        base = block.indices
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base, bytes)                 # the kernel's own buffer, immutable
        assert not block.indices.flags.writeable


def test_a_failed_call_leaves_later_samples_right():
    rng = np.random.default_rng(6)
    edge_index = rng.integers(0, 2000, size=(2, 20000))
    weight = rng.random(20000)
    weight[:100] = -1.0                                 # met in some rows only
    bad = Graph.from_edge_index(edge_index, num_nodes=2000, edge_weight=weight)
    with parallel_always(), pytest.raises(ValueError, match="non-negative"):
        sample_neighbors(bad, np.arange(2000), [3, 3], weighted=True, n_threads=2)
    assert_matches_reference(bad, np.arange(0, 2000, 3), [4, 4], seed=2)


@pytest.mark.parametrize("num_seeds", [40, 4000])
def test_the_node_map_is_left_clear(num_seeds):
    # few input nodes: cleared entry by entry; many (a sixteenth of the nodes or more): filled whole
    graph = uniform_graph(50000, 200000, "int32", seed=8)
    seeds = np.random.default_rng(9).permutation(50000)[:num_seeds]
    reference = assert_matches_reference(graph, seeds, [3, 2])
    assert (reference[0][2].shape[0] * 16 >= graph.num_nodes) == (num_seeds == 4000)


def test_kept_results_are_not_overwritten_by_later_samples():
    # the large arrays live in recycled buffers: only freed ones may be reused
    graph = uniform_graph(20000, 200000, "int32", seed=10)
    seeds = np.arange(0, 20000, 4)
    kept = [sample_neighbors(graph, seeds, [10, 5], seed=s, n_threads=2) for s in range(3)]
    saved = [[array.copy() for array in sub.edge_ids + sub.block_nodes] for sub in kept]
    assert saved[0][0].nbytes >= 256 << 10               # large enough to be recycled
    for s in range(3, 8):
        sample_neighbors(graph, seeds, [10, 5], seed=s, n_threads=2)
    del kept[1]
    saved.pop(1)
    for s in range(8, 12):
        sample_neighbors(graph, seeds[::2], [12, 3], seed=s, n_threads=2)
    for sub, arrays in zip(kept, saved):
        for array, copy in zip(sub.edge_ids + sub.block_nodes, arrays):
            np.testing.assert_array_equal(array, copy)
