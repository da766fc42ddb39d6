"""Node reordering: Graph.reorder, permute_graph, permute_nodes, restore_node_order, inverse_permutation."""
import importlib

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

import fastgnn
from fastgnn import Graph
from fastgnn.graph import (inverse_permutation, permute_graph, permute_nodes, reorder,
                           restore_node_order)

# the module (the package attribute ``fastgnn.graph.reorder`` is the function)
reorder_module = importlib.import_module("fastgnn.graph.reorder")
from graph_cases import CASES, REDUCES, assert_close, make_features, make_weights

METHODS = ["rcm", "degree", "cluster"]
SQUARE_CASES = sorted(name for name, case in CASES.items() if case.num_src_nodes == case.num_dst_nodes)
BIPARTITE_CASES = sorted(set(CASES) - set(SQUARE_CASES))


def _reference_permuted(graph, perm):
    """Edge by edge: new row r is old row perm[r], sources relabelled, order and weights kept."""
    new_id = {int(old): new for new, old in enumerate(perm)}
    rows, weights, edge_ids = [], [], []
    for old_row in perm:
        start, stop = int(graph.indptr[old_row]), int(graph.indptr[old_row + 1])
        rows.append([new_id[int(s)] for s in graph.indices[start:stop]])
        edge_ids.extend(range(start, stop))
    if graph.edge_weight is not None:
        weights = graph.edge_weight[edge_ids]
    return rows, weights, edge_ids


def _rows(graph):
    return [graph.indices[graph.indptr[i]:graph.indptr[i + 1]].tolist() for i in range(graph.num_nodes)]


def _graph(case_name, index_dtype, weighted, rng):
    case = CASES[case_name]
    weight = make_weights(rng, case.num_edges, case.ties) if weighted else None
    return case.graph(index_dtype, edge_weight=weight)


# ---------------------------------------------------------------- the permuted graph

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case_name", SQUARE_CASES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_permuted_graph_matches_reference(case_name, method, index_dtype, weighted, rng):
    graph = _graph(case_name, index_dtype, weighted, rng)
    permuted, perm, edge_ids = graph.reorder(method, return_edge_ids=True)
    rows, weights, ref_edge_ids = _reference_permuted(graph, perm)
    assert perm.dtype == np.int64 and sorted(perm.tolist()) == list(range(graph.num_nodes))
    assert permuted.is_square and permuted.num_nodes == graph.num_nodes
    assert permuted.num_edges == graph.num_edges
    assert permuted.index_dtype == graph.index_dtype and permuted.indptr.dtype == graph.index_dtype
    assert _rows(permuted) == rows
    assert edge_ids.dtype == np.int64 and edge_ids.tolist() == ref_edge_ids
    if weighted:
        assert permuted.edge_weight.dtype == graph.edge_weight.dtype
        np.testing.assert_array_equal(permuted.edge_weight, weights)
    else:
        assert permuted.edge_weight is None
    # the same graph up to relabelling: the adjacency is P A P^T
    np.testing.assert_array_equal(permuted.to_scipy().toarray(), graph.to_scipy().toarray()[perm][:, perm])


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case_name", SQUARE_CASES)
def test_aggregation_commutes_with_the_permutation(case_name, method, reduce, float_dtype, index_dtype, rng):
    """aggregate(P graph, P x) == P aggregate(graph, x), bitwise: each row keeps its edge order."""
    case = CASES[case_name]
    for weighted in (False, True):
        graph = _graph(case_name, index_dtype, weighted, rng)
        x = make_features(rng, graph.num_nodes, 5, float_dtype, case.ties)
        permuted, perm, edge_ids = graph.reorder(method, return_edge_ids=True)
        out, arg = fastgnn.aggregate(graph, x, reduce, return_arg=True)
        new_out, new_arg = fastgnn.aggregate(permuted, permute_nodes(perm, x), reduce, return_arg=True)
        np.testing.assert_array_equal(new_out, out[perm], strict=True)
        np.testing.assert_array_equal(restore_node_order(perm, new_out), out, strict=True)
        if arg is not None:  # the winning edge is the same edge, under its new id
            lookup = np.append(edge_ids, -1)  # arg -1 (an empty row) stays -1
            mapped = lookup[new_arg]
            np.testing.assert_array_equal(mapped, arg[perm])


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("case_name", ["random", "duplicate_edges", "self_loops", "isolated_nodes", "zero_edges"])
def test_gradients_commute_with_the_permutation(case_name, reduce, float_dtype, rng):
    graph = _graph(case_name, None, True, rng)
    x = make_features(rng, graph.num_nodes, 4, float_dtype)
    grad = make_features(rng, graph.num_nodes, 4, float_dtype)
    permuted, perm = graph.reorder("rcm")
    _, arg = fastgnn.aggregate(graph, x, reduce, return_arg=True)
    _, new_arg = fastgnn.aggregate(permuted, x[perm], reduce, return_arg=True)
    grad_x, grad_w = fastgnn.aggregate_backward(graph, grad, reduce, x=x, arg=arg, need_weight_grad=True)
    new_grad_x, new_grad_w = fastgnn.aggregate_backward(permuted, grad[perm], reduce, x=x[perm], arg=new_arg,
                                                        need_weight_grad=True)
    _, _, edge_ids = graph.reorder("rcm", return_edge_ids=True)
    assert_close(restore_node_order(perm, new_grad_x), grad_x)
    assert_close(new_grad_w, grad_w[edge_ids])


def test_reorder_is_deterministic_and_threads_do_not_matter(rng):
    graph = _graph("random", None, True, rng)
    x = make_features(rng, graph.num_nodes, 7, np.float32)
    first, perm = graph.reorder("rcm")
    again, perm_again = graph.reorder("rcm")
    assert first == again and np.array_equal(perm, perm_again)
    results = [fastgnn.aggregate(first, x[perm], "sum", n_threads=t) for t in (1, 2, 3)]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


# ---------------------------------------------------------------- the orderings

def test_degree_order_is_decreasing_in_degree_and_stable():
    # in-degrees 1, 3, 0, 3, 2: the two nodes of degree 3 keep their order (1 before 3)
    src = [0, 2, 3, 4, 0, 1, 2, 4, 1]
    dst = [0, 1, 1, 1, 3, 3, 3, 4, 4]
    graph = Graph.from_edge_index(np.array([src, dst]), num_nodes=5)
    permuted, perm = graph.reorder("degree")
    assert perm.tolist() == [1, 3, 4, 0, 2]
    np.testing.assert_array_equal(permuted.in_degree(), [3, 3, 2, 1, 0])


def test_rcm_is_scipy_on_the_symmetrised_pattern(rng):
    edge_index = rng.integers(0, 60, size=(2, 150))
    graph = Graph.from_edge_index(edge_index, num_nodes=60)
    _, perm = graph.reorder("rcm")
    adjacency = graph.to_scipy()
    pattern = ((adjacency + adjacency.T) != 0).astype(np.int8).tocsr()
    expected = reverse_cuthill_mckee(pattern, symmetric_mode=True)
    # the same breadth-first search; neighbour lists may differ in order, so compare the bandwidth it gets
    assert sorted(perm.tolist()) == list(range(60))

    def bandwidth(order):
        permuted = pattern[order][:, order].tocoo()
        return int(np.abs(permuted.row - permuted.col).max())

    assert bandwidth(perm) <= bandwidth(expected) + 2


def test_symmetric_pattern_holds_in_then_out_neighbours(rng):
    graph = _graph("duplicate_edges", np.int32, False, rng)
    indptr, indices = reorder_module._symmetric_pattern(graph)
    t_indptr, t_indices, _ = graph.transpose_csr()
    for i in range(graph.num_nodes):
        expected = (graph.indices[graph.indptr[i]:graph.indptr[i + 1]].tolist()
                    + t_indices[t_indptr[i]:t_indptr[i + 1]].tolist())
        assert indices[indptr[i]:indptr[i + 1]].tolist() == expected


def test_rcm_narrows_the_band_of_a_shuffled_path():
    n = 200
    shuffle = np.random.default_rng(0).permutation(n)
    path = np.stack([shuffle[:-1], shuffle[1:]])
    graph = Graph.from_edge_index(np.concatenate([path, path[::-1]], axis=1), num_nodes=n)
    permuted, _ = graph.reorder("rcm")
    src, dst = permuted.to_edge_index()
    assert np.abs(src - dst).max() == 1


def _shuffled_communities(num_communities=8, size=50, degree=12, p_in=0.9, seed=0):
    """Dense groups of ``size`` nodes, a few edges between groups, every id randomly relabelled."""
    rng = np.random.default_rng(seed)
    n = num_communities * size
    dst = np.repeat(np.arange(n), degree)
    inside = rng.random(dst.shape[0]) < p_in
    src = np.where(inside, (dst // size) * size + rng.integers(0, size, dst.shape[0]), rng.integers(0, n, dst.shape[0]))
    relabel = rng.permutation(n)
    graph = Graph.from_edge_index(np.stack([relabel[src], relabel[dst]]), num_nodes=n)
    community = np.empty(n, dtype=np.int64)
    community[relabel] = np.arange(n) // size  # community of each published id
    return graph, community


def test_cluster_puts_each_community_at_consecutive_ids():
    graph, community = _shuffled_communities()
    _, perm = graph.reorder("cluster")
    runs = 1 + np.count_nonzero(np.diff(community[perm]))  # blocks of one community in the new order
    assert runs <= 2 * 8  # 8 communities, each in at most about two blocks (a shuffled order has ~350)
    _, rcm_perm = graph.reorder("rcm")
    assert runs < 1 + np.count_nonzero(np.diff(community[rcm_perm]))


@pytest.mark.parametrize("method", METHODS)
def test_ordering_does_not_depend_on_the_thread_count(method):
    graph, _ = _shuffled_communities(num_communities=30, size=400)
    perms = []
    for threads in (1, 2, 3):
        fastgnn.set_num_threads(threads)
        perms.append(graph.reorder(method)[1])
    for perm in perms[1:]:
        np.testing.assert_array_equal(perm, perms[0])


def test_chunked_build_matches_one_chunk(monkeypatch, rng):
    graph = _graph("random", np.int64, True, rng)
    whole = graph.reorder("rcm", return_edge_ids=True)
    monkeypatch.setattr(reorder_module, "_CHUNK_EDGES", 7)
    chunked = graph.reorder("rcm", return_edge_ids=True)
    assert whole[0] == chunked[0]
    for a, b in zip(whole[1:], chunked[1:]):
        np.testing.assert_array_equal(a, b)


def test_empty_graph_and_no_edges():
    for graph in (Graph.from_csr([0], []), Graph.from_csr([0, 0, 0, 0], [])):
        for method in METHODS:
            permuted, perm = graph.reorder(method)
            assert permuted == graph.reorder(method)[0]
            assert permuted.num_nodes == graph.num_nodes and permuted.num_edges == 0
            assert sorted(perm.tolist()) == list(range(graph.num_nodes))


# ---------------------------------------------------------------- node arrays

def test_permute_nodes_and_restore_round_trip(rng):
    graph = _graph("random", None, False, rng)
    n = graph.num_nodes
    _, perm = graph.reorder("rcm")
    x = rng.standard_normal((n, 3))
    y = rng.integers(0, 4, n)
    mask = rng.random(n) < 0.5
    px, py, pmask, nothing = permute_nodes(perm, x, y, mask, None)
    assert nothing is None
    np.testing.assert_array_equal(px, x[perm])
    np.testing.assert_array_equal(py, y[perm])
    assert pmask.dtype == bool
    np.testing.assert_array_equal(pmask, mask[perm])
    back_x, back_y, back_mask = restore_node_order(perm, px, py, pmask)
    np.testing.assert_array_equal(back_x, x)
    np.testing.assert_array_equal(back_y, y)
    np.testing.assert_array_equal(back_mask, mask)
    # one array gives one array, not a tuple
    assert isinstance(permute_nodes(perm, x), np.ndarray)
    inverse = inverse_permutation(perm)
    np.testing.assert_array_equal(inverse[perm], np.arange(n))
    np.testing.assert_array_equal(perm[inverse], np.arange(n))
    # permuting by perm, then by the inverse permutation, is the identity
    back, _ = permute_graph(graph, perm).reorder("degree")
    assert permute_graph(permute_graph(graph, perm), inverse) == graph
    assert back.num_edges == graph.num_edges


def test_permute_graph_with_a_given_permutation(rng):
    graph = _graph("self_loops", np.int32, True, rng)
    perm = np.array([5, 3, 1, 0, 2, 4], dtype=np.int32)
    permuted, edge_ids = permute_graph(graph, perm, return_edge_ids=True)
    rows, weights, ref_edge_ids = _reference_permuted(graph, perm)
    assert _rows(permuted) == rows and edge_ids.tolist() == ref_edge_ids
    np.testing.assert_array_equal(permuted.edge_weight, weights)
    assert permute_graph(graph, np.arange(6)) == graph


def test_inputs_are_not_modified(rng):
    graph = _graph("random", np.int32, True, rng)
    arrays = (graph.indptr.copy(), graph.indices.copy(), graph.edge_weight.copy())
    x = rng.standard_normal((graph.num_nodes, 2))
    x_copy = x.copy()
    permuted, perm = reorder(graph, "rcm")
    perm_copy = perm.copy()
    permute_nodes(perm, x)
    restore_node_order(perm, x)
    inverse_permutation(perm)
    permute_graph(graph, perm)
    for before, after in zip(arrays, (graph.indptr, graph.indices, graph.edge_weight)):
        np.testing.assert_array_equal(before, after, strict=True)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(perm, perm_copy)
    assert not permuted.indices.flags.writeable


def test_accepts_read_only_and_non_contiguous_arrays(rng):
    graph = _graph("random", None, False, rng)
    _, perm = graph.reorder("degree")
    big = np.zeros((graph.num_nodes, 6))
    big[:, ::2] = rng.standard_normal((graph.num_nodes, 3))
    view = big[:, ::2]
    view.flags.writeable = False
    strided_perm = np.zeros(2 * graph.num_nodes, dtype=np.int64)
    strided_perm[::2] = perm
    np.testing.assert_array_equal(permute_nodes(strided_perm[::2], view), view[perm])


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("case_name", BIPARTITE_CASES)
def test_bipartite_graph_is_refused(case_name):
    graph = CASES[case_name].graph()
    with pytest.raises(ValueError, match="square graph"):
        graph.reorder("rcm")
    with pytest.raises(ValueError, match="square graph"):
        permute_graph(graph, np.arange(graph.num_dst_nodes))


def test_bad_method_and_graph():
    graph = CASES["random"].graph()
    with pytest.raises(ValueError, match="method must be one of"):
        graph.reorder("rabbit")
    with pytest.raises(TypeError, match="method must be a string"):
        graph.reorder(None)
    with pytest.raises(TypeError, match="graph must be a fastgnn.Graph"):
        reorder(graph.to_scipy(), "rcm")


@pytest.mark.parametrize("perm, error, message", [
    (np.array([0, 1, 1]), ValueError, "not a permutation"),
    (np.array([0, 1, 3]), ValueError, "out of range"),
    (np.array([0, -1, 2]), ValueError, "negative"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "integer dtype"),
    (np.array([[0, 1, 2]]), ValueError, "1-D"),
])
def test_bad_permutation(perm, error, message):
    with pytest.raises(error, match=message):
        permute_nodes(perm, np.zeros(3))
    with pytest.raises(error, match=message):
        inverse_permutation(perm)


def test_bad_node_arrays():
    perm = np.array([2, 0, 1])
    with pytest.raises(ValueError, match=r"arrays\[1\] must have 3 rows"):
        permute_nodes(perm, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"arrays\[0\] must have 3 rows"):
        restore_node_order(perm, np.float64(1.0))
    with pytest.raises(TypeError, match="at least one array"):
        permute_nodes(perm)
    graph = CASES["random"].graph()
    with pytest.raises(ValueError, match="perm must have length 25"):
        permute_graph(graph, np.arange(24))


def test_reorder_is_exported():
    assert fastgnn.graph.reorder is reorder
    assert "reorder" in fastgnn.graph.__all__ and "permute_nodes" in fastgnn.graph.__all__
    assert set(reorder_module.REORDER_METHODS) == set(METHODS)
    assert sp.issparse(CASES["random"].graph().to_scipy())
