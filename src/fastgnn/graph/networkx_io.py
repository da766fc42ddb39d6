"""The edge arrays of a networkx graph, and a networkx graph of edge arrays.

The core of :meth:`Graph.from_networkx` and :meth:`Graph.to_networkx` (and of
:mod:`fastgnn.interop.networkx`, which adds node features and labels). It
works on plain ``(2, E)`` edge lists, so it needs networkx only, never the
:class:`Graph` class itself. networkx is imported when a function here is
called, never by ``import fastgnn``.
"""
import numpy as np

__all__ = ["import_networkx", "mirror_edges", "node_list", "edges_from_networkx", "networkx_from_edges"]


def import_networkx():
    """The ``networkx`` module, or ModuleNotFoundError saying what to install."""
    try:
        import networkx
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError("this conversion needs networkx: pip install networkx") from error
    return networkx


def mirror_edges(src, dst, weight=None):
    """Every edge ``u -> v`` followed by its reverse ``v -> u`` (self-loops once).

    The edge list of an undirected graph whose edges were listed once each:
    duplicates stay (each in both directions), nothing is sorted.

    Parameters
    ----------
    src, dst : ndarray of int, shape (E,)
    weight : ndarray of shape (E,), optional
        The reverse of an edge gets the edge's weight.

    Returns
    -------
    src, dst : ndarray of int64, shape (E + number of non-loop edges,)
    weight : ndarray or None
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    mirrored = np.flatnonzero(src != dst)
    out_src = np.concatenate([src, dst[mirrored]])
    out_dst = np.concatenate([dst, src[mirrored]])
    out_weight = None if weight is None else np.concatenate([weight, np.asarray(weight)[mirrored]])
    return out_src, out_dst, out_weight


def node_list(G, node_order=None):
    """The nodes of ``G`` in fastgnn's numbering: ``nodes[i]`` is node ``i``.

    ``G``'s own order (``list(G.nodes)``, insertion order) unless
    ``node_order`` gives one: every node of ``G`` exactly once.
    """
    if node_order is None:
        return list(G.nodes)
    nodes = list(node_order)
    if len(nodes) != G.number_of_nodes() or len(set(nodes)) != len(nodes) or not all(n in G for n in nodes):
        missing = [n for n in G.nodes if n not in set(nodes)][:3]
        raise ValueError(f"node_order must list every node of G exactly once ({G.number_of_nodes()} nodes), "
                         f"got {len(nodes)} entries" + (f"; missing e.g. {missing}" if missing else ""))
    return nodes


def edges_from_networkx(G, *, weight="weight", node_order=None):
    """The edges of a networkx graph as a ``(2, E)`` int64 edge list of node positions.

    Parameters
    ----------
    G : networkx.Graph, DiGraph, MultiGraph or MultiDiGraph
    weight : str or None
        Edge attribute holding the weight. When no edge has it, the graph is
        unweighted; when some edges have it, all must (a real number each).
        None ignores edge attributes.
    node_order : sequence, optional
        The nodes in the order they get ids ``0 .. N - 1``; ``list(G.nodes)`` by default.

    Returns
    -------
    edge_index : ndarray of int64, shape (2, E)
        In ``G.edges`` order; an undirected graph lists each edge ``u -> v``
        then, at the end, every non-loop edge reversed.
    edge_weight : ndarray of float64, shape (E,), or None
    nodes : list
        ``nodes[i]`` is the networkx node with id ``i``.
    """
    networkx = import_networkx()
    if not isinstance(G, networkx.Graph):
        raise TypeError(f"G must be a networkx graph, got {type(G).__name__}")
    if weight is not None and not isinstance(weight, str):
        raise TypeError(f"weight must be an edge attribute name (str) or None, got {type(weight).__name__}")
    nodes = node_list(G, node_order)
    position = {node: i for i, node in enumerate(nodes)}
    edges = list(G.edges(data=weight, default=None)) if weight is not None else list(G.edges())
    count = len(edges)
    src = np.fromiter((position[e[0]] for e in edges), dtype=np.int64, count=count)
    dst = np.fromiter((position[e[1]] for e in edges), dtype=np.int64, count=count)
    edge_weight = None
    if weight is not None:
        values = [e[2] for e in edges]
        given = [v is not None for v in values]
        if any(given):
            if not all(given):
                u, v, _ = edges[given.index(False)]
                raise ValueError(f"edge ({u!r}, {v!r}) has no {weight!r} attribute but other edges do; "
                                 f"give every edge a weight, or pass weight=None")
            try:
                edge_weight = np.array(values, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise TypeError(f"edge attribute {weight!r} must be a real number on every edge ({error})") from None
            if edge_weight.ndim != 1:
                raise TypeError(f"edge attribute {weight!r} must be a real number on every edge, "
                                f"got values of shape {edge_weight.shape[1:]}")
    if not G.is_directed():
        src, dst, edge_weight = mirror_edges(src, dst, edge_weight)
    return np.stack([src, dst]), edge_weight, nodes


def networkx_from_edges(edge_index, edge_weight, num_nodes, *, directed=True, multigraph=False,
                        weight="weight", nodes=None):
    """A networkx graph with the edges of a ``(2, E)`` edge list.

    Parameters
    ----------
    edge_index : ndarray of int, shape (2, E)
    edge_weight : ndarray of shape (E,), or None
        Stored as the edge attribute ``weight`` (Python floats).
    num_nodes : int
        Nodes ``0 .. num_nodes - 1`` (or ``nodes``) are all added, isolated ones too.
    directed : bool
        A ``DiGraph``; else a ``Graph``, which needs a symmetric edge list
        (every ``u -> v`` with a ``v -> u`` of the same weight, as many times):
        each pair becomes one undirected edge.
    multigraph : bool
        A ``MultiDiGraph`` / ``MultiGraph``, which keeps duplicate edges;
        without it duplicate edges are refused (a simple graph would merge them).
    weight : str
    nodes : sequence, optional
        The networkx node of each id (default: the ids themselves).

    Returns
    -------
    networkx.Graph, DiGraph, MultiGraph or MultiDiGraph
    """
    networkx = import_networkx()
    if not isinstance(weight, str):
        raise TypeError(f"weight must be an edge attribute name (str), got {type(weight).__name__}")
    src = np.asarray(edge_index[0], dtype=np.int64)
    dst = np.asarray(edge_index[1], dtype=np.int64)
    if nodes is None:
        nodes = range(num_nodes)
    else:
        nodes = list(nodes)
        if len(nodes) != num_nodes or len(set(nodes)) != num_nodes:
            raise ValueError(f"nodes must name {num_nodes} distinct nodes, got {len(nodes)} entries")
    _check_duplicates(src, dst, num_nodes, multigraph)
    if not directed:
        keep = _check_symmetric(src, dst, edge_weight, num_nodes)
        src, dst = src[keep], dst[keep]
        edge_weight = None if edge_weight is None else edge_weight[keep]
    kind = {(True, False): networkx.DiGraph, (True, True): networkx.MultiDiGraph,
            (False, False): networkx.Graph, (False, True): networkx.MultiGraph}[bool(directed), bool(multigraph)]
    G = kind()
    G.add_nodes_from(nodes)
    labels = nodes if isinstance(nodes, list) else None
    u = src.tolist() if labels is None else [labels[i] for i in src.tolist()]
    v = dst.tolist() if labels is None else [labels[i] for i in dst.tolist()]
    if edge_weight is None:
        G.add_edges_from(zip(u, v))
    else:
        G.add_edges_from((a, b, {weight: w}) for a, b, w in zip(u, v, np.asarray(edge_weight).tolist()))
    return G


def _check_duplicates(src, dst, num_nodes, multigraph):
    if multigraph or src.size == 0:
        return
    key = src * max(num_nodes, 1) + dst
    unique, counts = np.unique(key, return_counts=True)
    if np.any(counts > 1):
        first = int(unique[np.argmax(counts > 1)])
        raise ValueError(f"the graph has duplicate edges (e.g. {first // max(num_nodes, 1)} -> "
                         f"{first % max(num_nodes, 1)}), which a simple networkx graph would merge; "
                         "pass multigraph=True")


def _check_symmetric(src, dst, edge_weight, num_nodes):
    """The edges with ``src <= dst`` (one per undirected pair), after checking the list is symmetric."""
    weight = np.zeros(src.shape[0]) if edge_weight is None else np.asarray(edge_weight, dtype=np.float64)
    forward = np.lexsort((weight, dst, src))
    backward = np.lexsort((weight, src, dst))
    same = (np.array_equal(src[forward], dst[backward]) and np.array_equal(dst[forward], src[backward])
            and np.array_equal(weight[forward], weight[backward]))
    if not same:
        raise ValueError("directed=False needs a symmetric graph (each edge u -> v with a reverse v -> u of the "
                         "same weight); pass directed=True, or symmetrize it first")
    return np.flatnonzero(src <= dst)
