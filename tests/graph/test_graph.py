"""fastgnn.Graph: constructors, conversions, cached structure, self-loops, normalizations, immutability."""
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn
from fastgnn import Graph
from graph_cases import CASES, assert_close, make_features, make_weights


def _dense_from_edges(src, dst, num_src, num_dst, weight=None):
    dense = np.zeros((num_dst, num_src))
    np.add.at(dense, (np.asarray(dst), np.asarray(src)), 1.0 if weight is None else weight)
    return dense


def _row_edges(graph):
    """``[(src, weight)] per row`` in CSR order: what must survive a conversion."""
    weight = graph.edge_weight if graph.edge_weight is not None else np.ones(graph.num_edges)
    return [list(zip(graph.indices[graph.indptr[i]:graph.indptr[i + 1]].tolist(),
                     weight[graph.indptr[i]:graph.indptr[i + 1]].tolist()))
            for i in range(graph.num_dst_nodes)]


# ---------------------------------------------------------------- constructors

def test_from_edge_index_builds_the_destination_major_csr(rng):
    src = rng.integers(0, 8, 30)
    dst = rng.integers(0, 8, 30)
    weight = make_weights(rng, 30)
    graph, order = Graph.from_edge_index(np.stack([src, dst]), edge_weight=weight, return_edge_order=True)
    assert (graph.num_src_nodes, graph.num_dst_nodes, graph.num_edges) == (8, 8, 30)
    # CSR edge e is input column order[e]; destinations never decrease; a row keeps the input order.
    assert sorted(order.tolist()) == list(range(30))
    np.testing.assert_array_equal(graph.to_edge_index(), np.stack([src, dst])[:, order])
    np.testing.assert_array_equal(graph.edge_weight, weight[order])
    assert np.all(np.diff(dst[order]) >= 0)
    same_row = np.diff(dst[order]) == 0
    assert np.all(np.diff(order)[same_row] > 0)
    np.testing.assert_allclose(graph.to_scipy().toarray(), _dense_from_edges(src, dst, 8, 8, weight))


def test_from_edge_index_sizes():
    edge_index = np.array([[0, 2], [1, 1]])
    assert Graph.from_edge_index(edge_index).num_nodes == 3  # max id + 1
    graph = Graph.from_edge_index(edge_index, num_nodes=6)  # trailing isolated nodes
    assert (graph.num_src_nodes, graph.num_dst_nodes) == (6, 6)
    np.testing.assert_array_equal(graph.in_degree(), [0, 2, 0, 0, 0, 0])
    bipartite = Graph.from_edge_index(edge_index, num_src_nodes=5, num_dst_nodes=2)
    assert (bipartite.num_src_nodes, bipartite.num_dst_nodes, bipartite.is_square) == (5, 2, False)
    empty = Graph.from_edge_index(np.zeros((2, 0), dtype=np.int64))
    assert (empty.num_nodes, empty.num_edges) == (0, 0)
    # Empty Python lists (which NumPy reads as float64) are valid empty index arrays.
    assert Graph.from_edge_index([[], []]) == empty
    assert Graph.from_csr([0, 0], [], num_src_nodes=4).num_edges == 0


def test_from_csr_keeps_the_given_edge_order(index_dtype):
    indptr = np.array([0, 3, 3, 5])
    indices = np.array([2, 0, 2, 1, 0])  # unsorted rows, a duplicate
    weight = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    graph = Graph.from_csr(indptr, indices, weight, index_dtype=index_dtype)
    np.testing.assert_array_equal(graph.indptr, indptr)
    np.testing.assert_array_equal(graph.indices, indices)
    np.testing.assert_array_equal(graph.edge_weight, weight)
    assert graph.indptr.dtype == graph.indices.dtype == graph.index_dtype == index_dtype
    bipartite = Graph.from_csr(indptr, indices, num_src_nodes=7)
    assert (bipartite.num_src_nodes, bipartite.num_dst_nodes) == (7, 3)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok", "bsr"])
def test_from_scipy_any_format(fmt, rng):
    dense = np.where(rng.random((5, 7)) < 0.4, rng.uniform(0.5, 2.0, (5, 7)), 0.0)
    graph = Graph.from_scipy(sp.csr_matrix(dense).asformat(fmt))
    assert (graph.num_dst_nodes, graph.num_src_nodes) == (5, 7)
    assert graph.edge_weight is not None
    np.testing.assert_allclose(graph.to_scipy().toarray(), dense)


def test_from_scipy_all_ones_is_unweighted_and_sums_duplicates():
    ones = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=float))
    assert Graph.from_scipy(ones).edge_weight is None
    duplicates = sp.coo_matrix((np.ones(3), ([0, 0, 1], [1, 1, 2])), shape=(2, 3))
    graph = Graph.from_scipy(duplicates)
    np.testing.assert_array_equal(graph.to_scipy().toarray(), [[0, 2, 0], [0, 0, 1]])


@pytest.mark.parametrize("weight_dtype, stored", [(np.float64, np.float64), (np.float32, np.float32),
                                                  (np.int64, np.float32)])
def test_edge_weight_dtype(weight_dtype, stored):
    graph = Graph.from_csr([0, 1, 2], [1, 0], np.array([2, 3], dtype=weight_dtype))
    assert graph.edge_weight.dtype == stored
    np.testing.assert_array_equal(graph.edge_weight, [2, 3])


def test_index_dtype_int32_when_it_fits_else_int64():
    edge_index = np.array([[0, 1], [1, 0]], dtype=np.int64)
    assert Graph.from_edge_index(edge_index).index_dtype == np.int32
    assert Graph.from_csr(np.array([0, 1, 2], np.int64), np.array([1, 0], np.int64)).index_dtype == np.int32
    forced = Graph.from_edge_index(edge_index, index_dtype="int64")
    assert forced.indptr.dtype == forced.indices.dtype == np.int64
    # A node count beyond int32 needs int64 (the arrays stay tiny: no edges).
    huge = 2 ** 31
    assert Graph.from_csr([0], [], num_src_nodes=huge).index_dtype == np.int64
    with pytest.raises(ValueError, match="int32"):
        Graph.from_csr([0], [], num_src_nodes=huge, index_dtype=np.int32)


def test_constructors_copy_their_inputs():
    indptr = np.array([0, 1, 2])
    indices = np.array([1, 0])
    weight = np.array([1.5, 2.5])
    graph = Graph.from_csr(indptr, indices, weight, index_dtype=np.int64)
    indptr[1] = 2
    indices[0] = 0
    weight[0] = 9.0
    np.testing.assert_array_equal(graph.indptr, [0, 1, 2])
    np.testing.assert_array_equal(graph.indices, [1, 0])
    np.testing.assert_array_equal(graph.edge_weight, [1.5, 2.5])


def test_arrays_are_read_only():
    graph = CASES["self_loops"].graph(edge_weight=np.arange(CASES["self_loops"].num_edges, dtype=float))
    arrays = [graph.indptr, graph.indices, graph.edge_weight, *graph.transpose_csr(), graph.in_degree(),
              graph.out_degree(), graph.destinations()]
    for array in arrays:
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    with pytest.raises(AttributeError):
        graph.indptr = np.zeros(3)
    with pytest.raises(TypeError, match="from_edge_index"):
        Graph(graph.indptr, graph.indices, graph.num_src_nodes)


# ---------------------------------------------------------------- conversions

def test_to_scipy_round_trip(case, index_dtype, rng):
    for weight in (None, make_weights(rng, case.num_edges)):
        graph = case.graph(index_dtype, edge_weight=weight)
        matrix = graph.to_scipy()
        assert matrix.shape == (case.num_dst_nodes, case.num_src_nodes)
        np.testing.assert_allclose(matrix.toarray(), case.dense(weight))
        back = Graph.from_scipy(matrix, index_dtype=index_dtype)
        assert _row_edges(back) == _row_edges(graph)
        assert back.num_src_nodes == graph.num_src_nodes


def test_to_edge_index_round_trip(case, index_dtype, rng):
    weight = make_weights(rng, case.num_edges)
    graph = case.graph(index_dtype, edge_weight=weight)
    edge_index = graph.to_edge_index()
    assert edge_index.shape == (2, case.num_edges) and edge_index.dtype == np.int64
    np.testing.assert_array_equal(edge_index[0], case.indices)
    np.testing.assert_array_equal(edge_index[1], case.destinations())
    back = Graph.from_edge_index(edge_index, edge_weight=graph.edge_weight, num_nodes=0,
                                 num_src_nodes=case.num_src_nodes, num_dst_nodes=case.num_dst_nodes,
                                 index_dtype=index_dtype)
    assert back == graph


def test_equality():
    a = Graph.from_csr([0, 1, 2], [1, 0])
    assert a == Graph.from_edge_index(np.array([[1, 0], [0, 1]]))
    assert a != Graph.from_csr([0, 1, 2], [1, 0], [1.0, 2.0])
    assert a != Graph.from_csr([0, 1, 2], [1, 0], num_src_nodes=3)
    assert a != Graph.from_csr([0, 1, 2], [1, 1])


# ---------------------------------------------------------------- cached structure

def test_transpose_csr(case, index_dtype):
    graph = case.graph(index_dtype)
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    assert t_indptr.dtype == t_indices.dtype == edge_id.dtype == index_dtype
    assert t_indptr.shape == (case.num_src_nodes + 1,)
    assert sorted(edge_id.tolist()) == list(range(case.num_edges))
    dst = case.destinations()
    for j in range(case.num_src_nodes):
        ids = edge_id[t_indptr[j]:t_indptr[j + 1]]
        # Row j holds exactly the edges leaving j, in increasing edge id, with their destinations.
        np.testing.assert_array_equal(ids, np.flatnonzero(case.indices == j))
        np.testing.assert_array_equal(t_indices[t_indptr[j]:t_indptr[j + 1]], dst[ids])
    assert graph.transpose_csr() is graph.transpose_csr()  # cached


def test_reverse_is_the_transposed_matrix(case, rng):
    weight = make_weights(rng, case.num_edges)
    graph = case.graph(edge_weight=weight)
    reverse = graph.reverse()
    assert (reverse.num_src_nodes, reverse.num_dst_nodes) == (case.num_dst_nodes, case.num_src_nodes)
    np.testing.assert_allclose(reverse.to_scipy().toarray(), case.dense(weight).T)


def test_degrees(case):
    graph = case.graph()
    counts = case.dense()  # duplicate edges count once each
    np.testing.assert_array_equal(graph.in_degree(), counts.sum(axis=1))
    np.testing.assert_array_equal(graph.out_degree(), counts.sum(axis=0))
    assert graph.in_degree().shape == (case.num_dst_nodes,)
    assert graph.out_degree().shape == (case.num_src_nodes,)


def test_weighted_in_degree(rng):
    case = CASES["duplicate_edges"]
    weight = make_weights(rng, case.num_edges)
    np.testing.assert_allclose(case.graph(edge_weight=weight).weighted_in_degree(), case.dense(weight).sum(axis=1))


# ---------------------------------------------------------------- self-loops

def _loop_counts(graph):
    dst = np.repeat(np.arange(graph.num_dst_nodes), np.diff(graph.indptr))
    return np.bincount(dst[graph.indices == dst], minlength=graph.num_dst_nodes)


@pytest.mark.parametrize("name", ["self_loops", "random", "isolated_nodes", "zero_edges", "empty_graph",
                                  "single_node_loop", "duplicate_edges"])
def test_add_self_loops_keeps_existing_loops_and_does_not_double_them(name, index_dtype, rng):
    case = CASES[name]
    weight = make_weights(rng, case.num_edges)
    graph = case.graph(index_dtype, edge_weight=weight)
    before = _loop_counts(graph)
    looped = graph.add_self_loops(fill_value=0.25)
    after = _loop_counts(looped)
    np.testing.assert_array_equal(after, np.maximum(before, 1))
    added = before == 0
    assert looped.num_edges == graph.num_edges + added.sum()
    # A + diag(fill_value for each node that had no loop).
    np.testing.assert_allclose(looped.to_scipy().toarray(), case.dense(weight) + np.diag(0.25 * added))
    # Every old edge keeps its relative order in its row.
    for i in range(case.num_dst_nodes):
        old = list(zip(graph.indices[graph.indptr[i]:graph.indptr[i + 1]].tolist(),
                       graph.edge_weight[graph.indptr[i]:graph.indptr[i + 1]].tolist()))
        new = list(zip(looped.indices[looped.indptr[i]:looped.indptr[i + 1]].tolist(),
                       looped.edge_weight[looped.indptr[i]:looped.indptr[i + 1]].tolist()))
        assert new[:len(old)] == old
    assert looped.add_self_loops() == looped  # idempotent
    assert looped.index_dtype == index_dtype
    assert graph.num_edges == case.num_edges  # the original is unchanged


def test_add_self_loops_unweighted_stays_unweighted():
    graph = CASES["random"].graph()
    looped = graph.add_self_loops()
    assert looped.edge_weight is None
    np.testing.assert_array_equal(np.diag(looped.to_scipy().toarray()) > 0, True)


def test_add_self_loops_needs_a_square_graph():
    with pytest.raises(ValueError, match="square"):
        CASES["bipartite_more_sources"].graph().add_self_loops()


# ---------------------------------------------------------------- normalizations

def _dense_gcn(case, weight=None):
    """``D^-1/2 (A + I) D^-1/2`` where existing loops are kept (PyG's add_remaining_self_loops)."""
    dense = case.dense(weight)
    has_loop = np.zeros(case.num_dst_nodes, dtype=bool)
    dst = case.destinations()
    has_loop[dst[case.indices == dst]] = True
    dense = dense + np.diag(~has_loop * 1.0)
    degree = dense.sum(axis=1)
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    return inv_sqrt[:, None] * dense * inv_sqrt[None, :]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["random", "self_loops", "isolated_nodes", "duplicate_edges", "empty_graph"])
def test_gcn_norm_matches_dense_computation(name, weighted, rng):
    case = CASES[name]
    weight = rng.uniform(0.5, 2.0, case.num_edges) if weighted else None
    normalized = case.graph(edge_weight=weight).gcn_norm(dtype=np.float64)
    assert normalized.edge_weight.dtype == np.float64
    assert_close(normalized.to_scipy().toarray(), _dense_gcn(case, weight))
    # float32 by default.
    single = case.graph(edge_weight=weight).gcn_norm()
    assert single.edge_weight.dtype == np.float32
    np.testing.assert_allclose(single.to_scipy().toarray(), _dense_gcn(case, weight), rtol=1e-6, atol=1e-7)


def test_gcn_norm_is_the_seed_formula_on_a_loop_free_graph(rng):
    """Without loops, ``Â = D^-1/2 (A + I) D^-1/2`` literally, and sum aggregation is ``Â @ X``."""
    src = np.array([0, 1, 1, 2, 3, 3])
    dst = np.array([1, 0, 2, 3, 0, 1])
    dense = _dense_from_edges(src, dst, 4, 4) + np.eye(4)
    d_inv_sqrt = np.diag(dense.sum(axis=1) ** -0.5)
    expected = d_inv_sqrt @ dense @ d_inv_sqrt
    graph = Graph.from_edge_index(np.stack([src, dst])).gcn_norm(dtype=np.float64)
    assert_close(graph.to_scipy().toarray(), expected)
    x = rng.standard_normal((4, 3))
    assert_close(fastgnn.aggregate(graph, x), expected @ x)


def test_gcn_norm_gives_zero_not_inf_for_degree_zero():
    graph = CASES["isolated_nodes"].graph().gcn_norm(add_self_loops=False, dtype=np.float64)
    assert np.all(np.isfinite(graph.edge_weight))
    case = CASES["isolated_nodes"]
    dense = case.dense()
    degree = dense.sum(axis=1)
    inv_sqrt = np.where(degree > 0, 1 / np.sqrt(np.where(degree > 0, degree, 1)), 0.0)
    # Sources that receive nothing have degree 0: their edges get weight 0.
    assert_close(graph.to_scipy().toarray(), inv_sqrt[:, None] * dense * inv_sqrt[None, :])


@pytest.mark.parametrize("weighted", [False, True])
def test_mean_norm_matches_dense_computation(weighted, rng):
    case = CASES["isolated_nodes"]
    weight = rng.uniform(0.5, 2.0, case.num_edges) if weighted else None
    dense = case.dense(weight)
    degree = dense.sum(axis=1)
    expected = dense / np.where(degree > 0, degree, 1)[:, None]
    normalized = case.graph(edge_weight=weight).mean_norm(dtype=np.float64)
    assert_close(normalized.to_scipy().toarray(), expected)
    if not weighted:
        # Unweighted, D^-1 A X is mean aggregation.
        x = make_features(rng, case.num_src_nodes, 3, np.float64)
        assert_close(fastgnn.aggregate(normalized, x), fastgnn.aggregate(case.graph(), x, "mean"))


def test_normalizations_need_a_square_graph():
    with pytest.raises(ValueError, match="square"):
        CASES["bipartite_more_destinations"].graph().gcn_norm()


def test_with_edge_weight_keeps_the_structure(rng):
    case = CASES["random"]
    graph = case.graph()
    graph.transpose_csr()
    weight = make_weights(rng, case.num_edges)
    weighted = graph.with_edge_weight(weight)
    np.testing.assert_array_equal(weighted.edge_weight, weight)
    assert weighted.transpose_csr() is graph.transpose_csr()
    assert weighted.with_edge_weight(None) == graph


def test_graph_and_its_index_dtype_give_the_same_results(index_dtype, rng):
    case = CASES["random"]
    x = make_features(rng, case.num_src_nodes, 3, np.float64)
    np.testing.assert_array_equal(fastgnn.aggregate(case.graph(index_dtype), x, "max"),
                                  fastgnn.aggregate(case.graph(np.int64), x, "max"))


def _exposed_arrays(graph):
    arrays = [graph.indptr, graph.indices, graph.edge_weight, *graph.transpose_csr(), graph.destinations(),
              graph.in_degree(), graph.out_degree(), graph.inverse_in_degree(np.float32),
              graph.transposed_edge_weight(np.float64), graph.edge_weight_as(np.float64)]
    return [a for a in arrays if a is not None]


@pytest.mark.parametrize("build", ["from_csr", "from_edge_index", "gcn_norm", "with_edge_weight"])
def test_graph_arrays_cannot_be_made_writeable(build):
    base = fastgnn.Graph.from_csr([0, 2, 3, 3], [0, 2, 1], edge_weight=[1.0, 2.0, 3.0])
    graph = {
        "from_csr": lambda: base,
        "from_edge_index": lambda: fastgnn.Graph.from_edge_index([[0, 1, 2], [1, 2, 0]], edge_weight=[1.0, 2, 3]),
        "gcn_norm": lambda: base.gcn_norm(),
        "with_edge_weight": lambda: base.with_edge_weight(np.ones(3)),
    }[build]()
    for array in _exposed_arrays(graph):
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array.flags.writeable = True
        owner = array
        while isinstance(owner, np.ndarray):  # no ndarray up the chain can be unlocked either
            with pytest.raises(ValueError):
                owner.flags.writeable = True
            owner = owner.base


def test_unfreezing_a_graph_cannot_reach_the_kernels():
    code = """
import numpy as np, fastgnn
graph = fastgnn.Graph.from_csr([0, 1, 2], [0, 1])
try:
    graph.indices.flags.writeable = True
    graph.indices[0] = 10 ** 9
except ValueError:
    pass
print(fastgnn.aggregate(graph, np.ones((2, 4), np.float32)).sum())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout) == 8.0


_EDITED_SCIPY = {
    "coo row far out of range": "m = sp.coo_matrix(base); m.row[0] = 10 ** 8",
    "coo col out of range": "m = sp.coo_matrix(base); m.col[1] = 3",
    "coo negative row": "m = sp.coo_matrix(base); m.row[0] = -1",
    "coo row shorter than data": "m = sp.coo_matrix(base); m.row = m.row[:1]",
    "coo_array row out of range": "m = sp.coo_array(base); m.row[0] = 5",
    "csr index out of range": "m = sp.csr_matrix(base); m.indices[0] = 10 ** 6",
    "csr indptr decreasing": "m = sp.csr_matrix(base); m.indptr[1] = 3",
    "csc index out of range": "m = sp.csc_matrix(base); m.indices[0] = 10 ** 8",
    "csc indptr too long": "m = sp.csc_matrix(base); m.indptr = np.append(m.indptr, 3)",
    "csc data too short": "m = sp.csc_matrix(base); m.data = m.data[:1]",
    "bsr index out of range": "m = sp.bsr_matrix(base, blocksize=(1, 1)); m.indices[0] = 10 ** 7",
}


@pytest.mark.parametrize("edit", sorted(_EDITED_SCIPY))
def test_from_scipy_checks_edited_internals(edit):
    code = f"""
import numpy as np, scipy.sparse as sp, fastgnn
base = sp.coo_matrix((np.ones(3), ([0, 1, 2], [1, 2, 0])), shape=(3, 3))
{_EDITED_SCIPY[edit]}
try:
    fastgnn.Graph.from_scipy(m)
except ValueError as error:
    print("refused:", error)
else:
    raise SystemExit("accepted an inconsistent matrix")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("refused: matrix.")


@pytest.mark.parametrize("fmt", ["coo", "csr", "csc", "bsr", "lil", "dok", "dia"])
def test_from_scipy_accepts_every_format(fmt):
    dense = np.array([[0, 2.0, 0], [1, 0, 3], [0, 0, 0]])
    graph = Graph.from_scipy(sp.csr_matrix(dense).asformat(fmt))
    np.testing.assert_array_equal(graph.to_scipy().toarray(), dense)
    graph = Graph.from_scipy(sp.csr_array(dense).asformat(fmt))
    np.testing.assert_array_equal(graph.to_scipy().toarray(), dense)


@pytest.mark.parametrize("method", ["gcn_norm", "mean_norm", "inverse_in_degree"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.complex128, "float16", object])
def test_normalizations_refuse_non_float_dtypes(method, dtype):
    graph = Graph.from_edge_index([[0, 1, 2, 2], [1, 2, 0, 1]])
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        getattr(graph, method)(dtype=dtype)


@pytest.mark.parametrize("fill_value, error", [(np.nan, ValueError), (np.inf, ValueError), (-np.inf, ValueError),
                                               ("1", TypeError), (None, TypeError), (True, TypeError),
                                               (1 + 2j, TypeError)])
def test_add_self_loops_refuses_bad_fill_values(fill_value, error):
    graph = Graph.from_edge_index([[0, 1], [1, 0]], edge_weight=[2.0, 3.0], num_nodes=3)
    with pytest.raises(error, match="fill_value"):
        graph.add_self_loops(fill_value=fill_value)
    np.testing.assert_array_equal(graph.add_self_loops(fill_value=np.float32(0.5)).edge_weight, [3, 0.5, 2, 0.5, 0.5])


def _remove_edges_between_reference(src, dst, weight, a, b):
    """Loop over the edges in CSR order, keeping those that do not join A and B."""
    kept = [e for e in range(len(src)) if not ((src[e] in a and dst[e] in b) or (src[e] in b and dst[e] in a))]
    return kept


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("as_mask", [False, True])
def test_remove_edges_between_matches_reference(seed, as_mask):
    rng = np.random.default_rng(seed)
    num_nodes = int(rng.integers(1, 25))
    num_edges = int(rng.integers(0, 80))
    edge_index = rng.integers(0, num_nodes, (2, num_edges))
    edge_index[:, : num_edges // 5] = rng.integers(0, num_nodes, num_edges // 5)  # self-loops
    if num_edges:
        edge_index = np.concatenate([edge_index, edge_index[:, :3]], axis=1)  # duplicates
    weighted = seed % 2 == 0
    weight = rng.random(edge_index.shape[1]) if weighted else None
    graph = Graph.from_edge_index(edge_index, num_nodes=num_nodes, edge_weight=weight)
    a = set(rng.choice(num_nodes, size=rng.integers(0, num_nodes + 1), replace=False).tolist())
    b = set(rng.choice(num_nodes, size=rng.integers(0, num_nodes + 1), replace=False).tolist())
    to_arg = (lambda s: np.isin(np.arange(num_nodes), list(s))) if as_mask else (
        lambda s: np.array(sorted(s) * 2, dtype=np.int64))  # repeated ids are fine
    result, edge_ids = graph.remove_edges_between(to_arg(a), to_arg(b), return_edge_ids=True)
    src, dst = graph.indices.tolist(), graph.destinations().tolist()
    expected = _remove_edges_between_reference(src, dst, weight, a, b)
    np.testing.assert_array_equal(edge_ids, expected)
    assert result.num_nodes == num_nodes and result.num_edges == len(expected)
    np.testing.assert_array_equal(result.indices, graph.indices[expected])
    np.testing.assert_array_equal(result.destinations(), graph.destinations()[expected])
    if weighted:
        np.testing.assert_array_equal(result.edge_weight, graph.edge_weight[expected])
    else:
        assert result.edge_weight is None
    # symmetric in its two arguments, and a no-op with an empty set
    assert result == graph.remove_edges_between(to_arg(b), to_arg(a))
    assert graph.remove_edges_between([], to_arg(b)) == graph


def test_remove_edges_between_rejects_bad_node_sets():
    graph = Graph.from_edge_index([[0, 1, 2], [1, 2, 0]])
    with pytest.raises(ValueError, match="nodes_a contains id 3"):
        graph.remove_edges_between([3], [0])
    with pytest.raises(ValueError, match="nodes_b as a boolean mask must have length 3"):
        graph.remove_edges_between([0], np.array([True, False]))
    with pytest.raises(TypeError, match="nodes_a must be a boolean mask or integer node ids"):
        graph.remove_edges_between([0.5], [1])
    bipartite = Graph.from_csr([0, 1], [1], num_src_nodes=2)
    with pytest.raises(ValueError, match="square graph"):
        bipartite.remove_edges_between([0], [1])


def test_gcn_norm_of_a_bipartite_graph():
    rng = np.random.default_rng(3)
    src, dst = rng.integers(0, 5, 12), rng.integers(0, 3, 12)
    weight = rng.random(12) + 0.1
    graph = Graph.from_edge_index(np.stack([src, dst]), num_src_nodes=5, num_dst_nodes=3, edge_weight=weight)
    dense = _dense_from_edges(src, dst, 5, 3, weight)
    deg_dst, deg_src = dense.sum(axis=1), dense.sum(axis=0)
    with np.errstate(divide="ignore"):
        scale_dst = np.where(deg_dst > 0, deg_dst ** -0.5, 0)
        scale_src = np.where(deg_src > 0, deg_src ** -0.5, 0)
    expected = scale_dst[:, None] * dense * scale_src[None, :]
    normalized = graph.gcn_norm(add_self_loops=False, dtype=np.float64)
    np.testing.assert_allclose(normalized.to_scipy().toarray(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="square graph"):
        graph.gcn_norm()
