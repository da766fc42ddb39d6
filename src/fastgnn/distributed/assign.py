"""Which part every node goes to: METIS (through the optional ``pymetis``), random or contiguous ranges."""
import numpy as np

from fastgnn.graph import Graph

__all__ = ["assign_parts", "check_num_parts", "check_seed", "METHODS"]

METHODS = ("metis", "random", "contiguous")
_METIS_HINT = 'pip install pymetis (or pip install "fastgnn[metis]")'


def _import_pymetis():
    try:
        import pymetis
    except ImportError as error:
        raise ImportError(f"method='metis' needs the optional dependency pymetis: {_METIS_HINT}; "
                          "method='random' and method='contiguous' work without it") from error
    return pymetis


def _symmetric_adjacency(graph):
    """``(xadj, adjncy)`` of the symmetrised graph without self-loops or duplicate edges (METIS's input).

    int64 arrays (pymetis's index type, so it need not copy them); memory
    ``O(E)``: the input's two directions, then the filtered result.
    """
    import scipy.sparse as sp

    n = graph.num_dst_nodes
    indptr = np.asarray(graph.indptr, dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(graph.num_edges, dtype=bool), np.asarray(graph.indices, dtype=np.int64),
                            indptr), shape=(n, n))
    matrix = (matrix + matrix.T).tocsr()        # boolean: duplicates and both directions become one entry
    matrix.sort_indices()
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(matrix.indptr))
    keep = matrix.indices != rows               # drop self-loops
    loops = np.bincount(rows[~keep], minlength=n)
    del rows
    xadj = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.diff(matrix.indptr) - loops, out=xadj[1:])
    return xadj, matrix.indices[keep].astype(np.int64, copy=False)


def assign_parts(graph, num_parts, method="metis", seed=0):
    """The part of every node: an int32 array of length ``num_nodes`` with values in ``[0, num_parts)``.

    Parameters
    ----------
    graph : Graph
        A square graph.
    num_parts : int
        At least 1 and at most ``num_nodes``.
    method : {"metis", "random", "contiguous"}
        ``"metis"``: METIS (through ``pymetis``) on the symmetrised graph
        without self-loops, with two balance constraints per node (1, and its
        in-degree), so parts get about as many nodes and as many edges (a
        part METIS leaves empty, as it may on tiny graphs, gets the highest
        id of the largest part);
        ``"random"``: a seeded random permutation cut into equal ranges (part
        sizes differ by at most one); ``"contiguous"``: equal ranges of ids.
    seed : int
        Seeds METIS and the random method; the same seed gives the same parts.

    Returns
    -------
    ndarray of int32
        No part is empty.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if not graph.is_square:
        raise ValueError(f"graph must be square to be partitioned, got {graph!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    n = graph.num_dst_nodes
    num_parts = check_num_parts(num_parts, n)
    seed = check_seed(seed)
    if method == "metis":
        pymetis = _import_pymetis()     # asked for even when num_parts == 1: the same input works everywhere
    if num_parts == 1:
        return np.zeros(n, dtype=np.int32)
    if method == "contiguous":
        return _range_parts(n, num_parts)
    if method == "random":
        order = np.random.default_rng(seed).permutation(n)
        parts = np.empty(n, dtype=np.int32)
        parts[order] = _range_parts(n, num_parts)
        return parts
    xadj, adjncy = _symmetric_adjacency(graph)
    degree = np.diff(np.asarray(graph.indptr, dtype=np.int64))
    weights = np.empty((n, 2), dtype=np.int64)
    weights[:, 0] = 1
    weights[:, 1] = degree
    options = pymetis.Options(seed=seed)
    result = pymetis.part_graph(num_parts, adjacency=pymetis.CSRAdjacency(xadj, adjncy),
                                vweights=weights.reshape(-1), options=options)
    parts = np.asarray(result.vertex_part if hasattr(result, "vertex_part") else result[1], dtype=np.int32)
    return _fill_empty_parts(parts, num_parts)


def _fill_empty_parts(parts, num_parts):
    """Give every empty part one node: the highest id of the largest part (METIS may leave parts empty)."""
    counts = np.bincount(parts, minlength=num_parts)
    for empty in np.flatnonzero(counts == 0):
        largest = int(np.argmax(counts))
        node = int(np.flatnonzero(parts == largest)[-1])
        parts[node] = empty
        counts[largest] -= 1
        counts[empty] += 1
    return parts


def _range_parts(n, num_parts):
    """Part ids of ``n`` consecutive items cut into ``num_parts`` ranges of sizes differing by at most one."""
    sizes = np.full(num_parts, n // num_parts, dtype=np.int64)
    sizes[:n % num_parts] += 1
    return np.repeat(np.arange(num_parts, dtype=np.int32), sizes)


def check_num_parts(num_parts, num_nodes):
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)):
        raise TypeError(f"num_parts must be an int, got {type(num_parts).__name__}")
    num_parts = int(num_parts)
    if num_parts < 1:
        raise ValueError(f"num_parts must be at least 1, got {num_parts}")
    if num_parts > max(num_nodes, 1):
        raise ValueError(f"num_parts={num_parts} is more than the graph's {num_nodes} nodes")
    return num_parts


def check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)
