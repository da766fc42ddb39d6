"""Graph samples and batches of graphs: :class:`GraphData` and :class:`Batch`.

A batch is the disjoint union of its graphs (jraph's and PyG's model): node
``v`` of graph ``g`` becomes node ``ptr[g] + v``, the CSR is block-diagonal,
node features, edge features and graph labels are stacked. Because every
graph's rows and edges stay contiguous and in order, the batch is built by
concatenating the graphs' CSR arrays with offsets (no sort), and
:meth:`Batch.unbatch` recovers the graphs exactly:
``Batch.from_graphs(gs).unbatch() == gs``.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph import Graph, SparseFeatures

__all__ = ["GraphData", "Batch"]


def _as_table(value, name, num_rows, what):
    """``value`` as a 2-D array with ``num_rows`` rows (a view when possible), or None."""
    if value is None:
        return None
    if isinstance(value, SparseFeatures):
        if value.shape[0] != num_rows:
            raise ValueError(f"{name} has {value.shape[0]} rows but the graph has {num_rows} {what}")
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D ({what} x features), got shape {array.shape}")
    if array.shape[0] != num_rows:
        raise ValueError(f"{name} has {array.shape[0]} rows but the graph has {num_rows} {what}")
    return array


def _frozen(array):
    if isinstance(array, SparseFeatures):      # immutable already
        return array
    if array is not None and array.flags.writeable and array.flags.owndata:
        array.flags.writeable = False
    return array


def _same_array(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, SparseFeatures) or isinstance(b, SparseFeatures):
        return isinstance(a, SparseFeatures) and isinstance(b, SparseFeatures) and a == b
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


class GraphData:
    """One graph sample: its structure, node features, label and edge features.

    A small immutable record (jraph's ``GraphsTuple`` for one graph, PyG's
    ``Data``). The arrays are kept as given, not copied: treat them as
    read-only.

    Parameters
    ----------
    graph : Graph
        A square graph (``num_src_nodes == num_dst_nodes``); edge ``e`` is
        position ``e`` of its CSR.
    x : array_like of shape (num_nodes, num_node_features), optional
        Node features.
    y : scalar or array_like, optional
        The graph's label or target (stored as a NumPy array, 0-d for a scalar).
    edge_attr : array_like of shape (num_edges, num_edge_features), optional
        Edge features in the graph's CSR edge order.

    Notes
    -----
    Equality compares the structure (:meth:`Graph.__eq__`) and every array
    exactly: values, shapes and dtypes.
    """

    __slots__ = ("graph", "x", "y", "edge_attr")

    def __init__(self, graph, x=None, y=None, edge_attr=None):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
        if not graph.is_square:
            raise ValueError(f"graph must be square (one node set), got {graph.num_src_nodes} source and "
                             f"{graph.num_dst_nodes} destination nodes")
        object.__setattr__(self, "graph", graph)
        object.__setattr__(self, "x", _as_table(x, "x", graph.num_nodes, "nodes"))
        object.__setattr__(self, "y", None if y is None else np.asarray(y))
        object.__setattr__(self, "edge_attr", _as_table(edge_attr, "edge_attr", graph.num_edges, "edges"))

    def __setattr__(self, name, value):
        raise AttributeError(f"GraphData is immutable; use .replace({name}=...) for a modified copy")

    def __delattr__(self, name):
        raise AttributeError("GraphData is immutable")

    def replace(self, **changes):
        """A new record with some fields replaced (``graph``, ``x``, ``y``, ``edge_attr``)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"GraphData has no field(s) {sorted(unknown)}")
        fields.update(changes)
        return GraphData(**fields)

    @property
    def num_nodes(self):
        return self.graph.num_nodes

    @property
    def num_edges(self):
        return self.graph.num_edges

    @property
    def num_node_features(self):
        """Width of ``x`` (0 without node features)."""
        return 0 if self.x is None else self.x.shape[1]

    @property
    def num_edge_features(self):
        """Width of ``edge_attr`` (0 without edge features)."""
        return 0 if self.edge_attr is None else self.edge_attr.shape[1]

    def __eq__(self, other):
        if not isinstance(other, GraphData):
            return NotImplemented
        return (self.graph == other.graph and _same_array(self.x, other.x) and _same_array(self.y, other.y)
                and _same_array(self.edge_attr, other.edge_attr))

    __hash__ = None

    def __repr__(self):
        parts = [f"num_nodes={self.num_nodes}", f"num_edges={self.num_edges}"]
        if self.x is not None:
            parts.append(f"x={self.x.shape}")
        if self.edge_attr is not None:
            parts.append(f"edge_attr={self.edge_attr.shape}")
        if self.y is not None:
            parts.append(f"y={self.y.tolist() if self.y.ndim == 0 else self.y.shape}")
        return f"GraphData({', '.join(parts)})"


def _stack_field(graphs, name, node_level):
    """Concatenate (``node_level``: along rows) or stack a field of every graph; None when all lack it."""
    values = [getattr(g, name) for g in graphs]
    present = [value is not None for value in values]
    if not any(present):
        return None
    if not all(present):
        missing = present.index(False)
        having = present.index(True)
        raise ValueError(f"{name} is missing in graph {missing} but present in graph {having}; "
                         f"every graph in a batch needs {name}, or none")
    first = values[0]
    for index, value in enumerate(values):
        if node_level and value.shape[1] != first.shape[1]:
            raise ValueError(f"{name} of graph {index} has {value.shape[1]} features but graph 0 has "
                             f"{first.shape[1]}: every graph in a batch needs the same {name} width")
        if not node_level and value.shape != first.shape:
            raise ValueError(f"{name} of graph {index} has shape {value.shape} but graph 0 has {first.shape}")
        if value.dtype != first.dtype:
            raise ValueError(f"{name} of graph {index} has dtype {value.dtype} but graph 0 has {first.dtype}; "
                             "convert them to one dtype first")
    sparse = [isinstance(value, SparseFeatures) for value in values]
    if any(sparse) and not all(sparse):
        raise ValueError(f"{name} is sparse in graph {sparse.index(True)} but dense in graph {sparse.index(False)}; "
                         "every graph in a batch needs the same kind")
    if all(sparse):
        return SparseFeatures.vstack(values)
    if node_level:
        return _frozen(np.concatenate(values, axis=0))
    return _frozen(np.stack(values, axis=0))


class Batch:
    """A batch of graphs as one graph: the disjoint union of its members.

    Build one with :meth:`from_graphs`; :meth:`unbatch` returns the members.

    Attributes
    ----------
    graph : Graph
        Block-diagonal CSR: graph ``g``'s nodes are ``ptr[g]:ptr[g + 1]``,
        its edges ``graph.indptr[ptr[g]]:graph.indptr[ptr[g + 1]]``, both in
        the members' order.
    x : ndarray of shape (num_nodes, num_node_features) or None
        Node features, stacked.
    y : ndarray of shape (num_graphs, ...) or None
        Graph labels, stacked.
    edge_attr : ndarray of shape (num_edges, num_edge_features) or None
        Edge features in the batch's edge order.
    ptr : ndarray of int64, shape (num_graphs + 1,)
        Node range of each graph (the ``ptr`` of the readouts,
        :func:`fastgnn.nn.global_add_pool` and friends).
    batch : ndarray of int64, shape (num_nodes,)
        The graph of each node.
    num_graphs : int

    Notes
    -----
    The arrays are read-only. Building costs ``O(N + E)`` (one pass of
    concatenation and offsetting, no sort) plus the members' features.
    """

    __slots__ = ("graph", "x", "y", "edge_attr", "ptr", "batch", "num_graphs")

    def __init__(self, graph, x, y, edge_attr, ptr, *, _checked=False):
        if not _checked:
            raise TypeError("build a Batch with Batch.from_graphs(graphs)")
        counts = np.diff(ptr)
        fields = dict(graph=graph, x=x, y=y, edge_attr=edge_attr, ptr=_frozen(ptr),
                      batch=_frozen(np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)),
                      num_graphs=int(counts.shape[0]))
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("Batch is immutable")

    @classmethod
    def from_graphs(cls, graphs):
        """The disjoint union of ``graphs``.

        Parameters
        ----------
        graphs : sequence of GraphData
            At least one. Every graph must carry the same fields (``x``,
            ``y``, ``edge_attr``, edge weights: all or none), with the same
            feature widths and dtypes.

        Returns
        -------
        Batch

        Raises
        ------
        TypeError
            An item that is not a :class:`GraphData`.
        ValueError
            No graphs; mismatched feature widths, label shapes or dtypes; a
            field present in some graphs only (each message names the field
            and the graph).
        """
        graphs = list(graphs)
        if not graphs:
            raise ValueError("from_graphs needs at least one graph")
        for index, item in enumerate(graphs):
            if not isinstance(item, GraphData):
                raise TypeError(f"graphs[{index}] must be a fastgnn.data.GraphData, got {type(item).__name__}")
        structures = [item.graph for item in graphs]
        node_counts = np.fromiter((g.num_nodes for g in structures), dtype=np.int64, count=len(graphs))
        edge_counts = np.fromiter((g.num_edges for g in structures), dtype=np.int64, count=len(graphs))
        ptr = np.zeros(len(graphs) + 1, dtype=np.int64)
        np.cumsum(node_counts, out=ptr[1:])
        edge_ptr = np.zeros(len(graphs) + 1, dtype=np.int64)
        np.cumsum(edge_counts, out=edge_ptr[1:])
        num_nodes, num_edges = int(ptr[-1]), int(edge_ptr[-1])
        dtype = V.index_dtype_for(num_nodes, num_edges)
        indptr = np.empty(num_nodes + 1, dtype=dtype)
        indptr[0] = 0
        if num_nodes:
            np.add(np.concatenate([g.indptr[1:] for g in structures]),
                   np.repeat(edge_ptr[:-1], node_counts), out=indptr[1:], casting="unsafe")
        indices = np.empty(num_edges, dtype=dtype)
        if num_edges:
            np.add(np.concatenate([g.indices for g in structures]),
                   np.repeat(ptr[:-1], edge_counts), out=indices, casting="unsafe")
        weighted = [g.edge_weight is not None for g in structures]
        if any(weighted) and not all(weighted):
            raise ValueError(f"graph {weighted.index(False)} has no edge weights but graph "
                             f"{weighted.index(True)} has: every graph in a batch needs edge weights, or none")
        weight = np.concatenate([g.edge_weight for g in structures]) if all(weighted) else None
        graph = Graph.from_csr(indptr, indices, weight, num_src_nodes=num_nodes, index_dtype=dtype)
        return cls(graph, _stack_field(graphs, "x", True), _stack_field(graphs, "y", False),
                   _stack_field(graphs, "edge_attr", True), ptr, _checked=True)

    # ------------------------------------------------------------------ sizes
    @property
    def num_nodes(self):
        return self.graph.num_nodes

    @property
    def num_edges(self):
        return self.graph.num_edges

    @property
    def edge_ptr(self):
        """Edge range of each graph, int64 of shape (num_graphs + 1,)."""
        return self.graph.indptr[self.ptr].astype(np.int64)

    def __len__(self):
        return self.num_graphs

    # ------------------------------------------------------------------ members
    def __getitem__(self, index):
        """Graph ``index`` of the batch, as a :class:`GraphData`."""
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a batch is indexed by an int, got {type(index).__name__}")
        position = int(index) + (self.num_graphs if index < 0 else 0)
        if not 0 <= position < self.num_graphs:
            raise IndexError(f"graph {int(index)} out of range for a batch of {self.num_graphs}")
        return self._member(position)

    def _member(self, index):
        n0, n1 = int(self.ptr[index]), int(self.ptr[index + 1])
        indptr, indices = self.graph.indptr, self.graph.indices
        e0, e1 = int(indptr[n0]), int(indptr[n1])
        weight = None if self.graph.edge_weight is None else self.graph.edge_weight[e0:e1]
        graph = Graph.from_csr(indptr[n0:n1 + 1] - indptr[n0], indices[e0:e1] - n0, weight, num_src_nodes=n1 - n0)
        return GraphData(graph,
                         None if self.x is None else self.x[n0:n1],
                         None if self.y is None else self.y[index],
                         None if self.edge_attr is None else self.edge_attr[e0:e1])

    def unbatch(self):
        """The member graphs, in order: ``Batch.from_graphs(gs).unbatch() == gs``.

        Returns
        -------
        list of GraphData
            Features are views into the batch's (read-only) arrays.
        """
        return [self._member(index) for index in range(self.num_graphs)]

    def __repr__(self):
        parts = [f"num_graphs={self.num_graphs}", f"num_nodes={self.num_nodes}", f"num_edges={self.num_edges}"]
        if self.x is not None:
            parts.append(f"x={self.x.shape}")
        if self.edge_attr is not None:
            parts.append(f"edge_attr={self.edge_attr.shape}")
        if self.y is not None:
            parts.append(f"y={self.y.shape}")
        return f"Batch({', '.join(parts)})"
