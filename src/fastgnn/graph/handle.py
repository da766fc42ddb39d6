"""The graph handle: an immutable, validated, destination-major CSR, with its derived graphs.

Self-loops, the GCN and mean normalizations (square and bipartite), induced
subgraphs and edge cuts all live here, on :class:`Graph`, so that every layer
and adapter shares one implementation.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._kernels.structure import csr_transpose
from fastgnn._runtime.memory import immutable as _frozen
from fastgnn.graph import storage as _storage
from fastgnn.graph.reorder import as_permutation, check_method, node_order, permuted_csr

__all__ = ["Graph"]


def _inverse_sqrt(degree):
    """``degree ** -0.5``, with 0 for degree 0 (an isolated node contributes nothing, not inf)."""
    out = np.zeros(degree.shape[0], dtype=np.float64)
    positive = degree > 0
    out[positive] = 1.0 / np.sqrt(degree[positive])
    return out


def _checked_scipy(matrix):
    """``matrix``, or a COO copy of it, whose internal arrays are consistent with its shape.

    COO, CSR, CSC and BSR arrays are checked where they are; other formats
    are converted to COO by scipy's Python code, which builds a checked COO.
    """
    shape = matrix.shape
    if len(shape) != 2 or any(not isinstance(size, (int, np.integer)) or size < 0 for size in shape):
        raise ValueError(f"matrix must be 2-D with non-negative sizes, got shape {shape}")
    rows, cols = int(shape[0]), int(shape[1])
    fmt = matrix.format
    if fmt not in ("coo", "csr", "csc", "bsr"):
        matrix = matrix.tocoo()
        fmt = "coo"
    data = np.asarray(matrix.data)
    if fmt == "coo":
        row = V.as_index_vector(matrix.row, "matrix.row")
        col = V.as_index_vector(matrix.col, "matrix.col")
        if not row.shape == col.shape == data.shape:
            raise ValueError(f"matrix.row, matrix.col and matrix.data must have one length, got "
                             f"{row.shape[0]}, {col.shape[0]} and {data.shape}")
        V.check_ids_in_range(row, rows, "matrix.row")
        V.check_ids_in_range(col, cols, "matrix.col")
        return matrix
    indptr = V.as_index_vector(matrix.indptr, "matrix.indptr")
    indices = V.as_index_vector(matrix.indices, "matrix.indices")
    if fmt == "bsr":
        block_rows, block_cols = matrix.blocksize
        if block_rows < 1 or block_cols < 1 or rows % block_rows or cols % block_cols:
            raise ValueError(f"matrix.blocksize {matrix.blocksize} does not divide the shape {shape}")
        major, minor = rows // block_rows, cols // block_cols
        expected_data = (indices.shape[0], block_rows, block_cols)
    else:
        major, minor = (rows, cols) if fmt == "csr" else (cols, rows)
        expected_data = indices.shape
    if indptr.shape[0] != major + 1:
        raise ValueError(f"matrix.indptr must have length {major + 1} for shape {shape}, got {indptr.shape[0]}")
    V.check_indptr(indptr, indices.shape[0], "matrix.indptr")
    V.check_ids_in_range(indices, minor, "matrix.indices")
    if data.shape != expected_data:
        raise ValueError(f"matrix.data must have shape {expected_data}, got {data.shape}")
    return matrix


class Graph:
    """An immutable sparse graph in destination-major CSR form.

    Row ``i`` lists the in-neighbours of node ``i``: the sources
    ``indices[indptr[i]:indptr[i + 1]]`` of the edges ``j -> i``. The position
    of an edge in ``indices`` is its edge id everywhere (edge weights, the
    ``arg`` of max/min aggregation, edge features). The adjacency matrix is
    ``A[i, j] = weight of j -> i``, so sum aggregation is ``A @ X``.

    Build one with :meth:`from_edge_index`, :meth:`from_csr`,
    :meth:`from_scipy` or :meth:`from_networkx` (more sources, files and
    libraries: ``docs/bring-your-own-graph.md``). The arrays are copied, validated once and made
    read-only; the transpose, degrees and normalizations are computed on
    first use and cached.

    Attributes
    ----------
    indptr : ndarray of shape (num_dst_nodes + 1,)
    indices : ndarray of shape (num_edges,)
        Index dtype int32 when every id and the edge count fit, else int64.
    edge_weight : ndarray of shape (num_edges,) or None
        float32 or float64.
    num_src_nodes, num_dst_nodes, num_edges : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastgnn import Graph
    >>> edge_index = np.array([[0, 1, 2, 2], [1, 2, 0, 1]])   # row 0 sources, row 1 destinations
    >>> graph = Graph.from_edge_index(edge_index, num_nodes=3)
    >>> graph
    Graph(num_src_nodes=3, num_dst_nodes=3, num_edges=4, index_dtype=int32)
    >>> graph.indptr, graph.indices          # node 1's in-neighbours: 0 and 2
    (array([0, 1, 3, 4], dtype=int32), array([2, 0, 2, 1], dtype=int32))
    >>> graph.in_degree().tolist()
    [1, 2, 1]
    """

    __slots__ = ("_indptr", "_indices", "_edge_weight", "_num_src_nodes", "_cache", "_pending", "_discards_sources")

    def __init__(self, indptr, indices, num_src_nodes, edge_weight=None, *, _validated=False):
        if not _validated:
            raise TypeError(
                "build a Graph with Graph.from_edge_index, Graph.from_csr or Graph.from_scipy"
            )
        self._indptr = _frozen(indptr)
        self._indices = _frozen(indices)
        self._edge_weight = None if edge_weight is None else _frozen(edge_weight)
        self._num_src_nodes = int(num_src_nodes)
        self._cache = {}
        self._pending = None
        self._discards_sources = False

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_csr(cls, indptr, indices, edge_weight=None, num_src_nodes=None, *, index_dtype=None):
        """A graph from destination-major CSR arrays, keeping their edge order.

        Parameters
        ----------
        indptr : array_like of int, shape (num_dst_nodes + 1,)
            Starts at 0, never decreases, ends at ``len(indices)``.
        indices : array_like of int, shape (num_edges,)
            Source id of each edge, in ``[0, num_src_nodes)``.
        edge_weight : array_like of float, shape (num_edges,), optional
            Kept as float64 if given as float64, else as float32.
        num_src_nodes : int, optional
            Defaults to ``num_dst_nodes`` (a square adjacency).
        index_dtype : {None, 'int32', 'int64'}
            Index dtype of the stored arrays; None picks the narrowest that fits.

        Returns
        -------
        Graph
        """
        indptr = V.as_index_vector(indptr, "indptr")
        indices = V.as_index_vector(indices, "indices")
        num_edges = indices.shape[0]
        V.check_indptr(indptr, num_edges)
        num_dst = indptr.shape[0] - 1
        if num_src_nodes is None:
            num_src = num_dst
            if indices.size and int(indices.max()) >= num_dst:
                raise ValueError(
                    f"indices contains id {int(indices.max())} >= num_dst_nodes ({num_dst}); "
                    "pass num_src_nodes for a bipartite graph"
                )
        else:
            num_src = V.check_size(num_src_nodes, "num_src_nodes")
        V.check_ids_in_range(indices, num_src, "indices")
        dtype = V.check_index_dtype(index_dtype, num_src, num_dst, num_edges)
        weight = cls._weights(edge_weight, num_edges)
        return cls(
            np.array(indptr, dtype=dtype, copy=True),
            np.array(indices, dtype=dtype, copy=True),
            num_src,
            weight,
            _validated=True,
        )

    @classmethod
    def from_edge_index(cls, edge_index, num_nodes=None, edge_weight=None, num_src_nodes=None,
                        num_dst_nodes=None, *, index_dtype=None, return_edge_order=False):
        """A graph from a ``(2, E)`` edge list (row 0 sources, row 1 destinations).

        Edges are sorted by destination with a stable sort, so edges into the
        same node keep their relative order (the order ties and sums follow).

        Parameters
        ----------
        edge_index : array_like of int, shape (2, num_edges)
        num_nodes : int, optional
            Number of nodes of a square graph; defaults to ``max(edge_index) + 1``.
        edge_weight : array_like of float, shape (num_edges,), optional
        num_src_nodes, num_dst_nodes : int, optional
            Sizes of a bipartite graph; each defaults to ``num_nodes``.
        index_dtype : {None, 'int32', 'int64'}
        return_edge_order : bool
            Also return ``order``, where CSR edge ``e`` is input column ``order[e]``.

        Returns
        -------
        Graph, or (Graph, ndarray) with ``return_edge_order``
        """
        edge_index = V.as_index_array(edge_index, "edge_index")
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, num_edges), got {edge_index.shape}")
        src, dst = edge_index[0], edge_index[1]
        num_edges = edge_index.shape[1]
        if num_nodes is None:
            inferred = int(edge_index.max()) + 1 if num_edges else 0
            if edge_index.size and int(edge_index.min()) < 0:
                raise ValueError(f"edge_index contains a negative id ({int(edge_index.min())})")
            num_nodes = inferred
        num_nodes = V.check_size(num_nodes, "num_nodes")
        num_src = num_nodes if num_src_nodes is None else V.check_size(num_src_nodes, "num_src_nodes")
        num_dst = num_nodes if num_dst_nodes is None else V.check_size(num_dst_nodes, "num_dst_nodes")
        V.check_ids_in_range(src, num_src, "edge_index[0] (sources)")
        V.check_ids_in_range(dst, num_dst, "edge_index[1] (destinations)")
        dtype = V.check_index_dtype(index_dtype, num_src, num_dst, num_edges)
        weight = cls._weights(edge_weight, num_edges)
        order = np.argsort(dst, kind="stable")
        indptr = np.zeros(num_dst + 1, dtype=dtype)
        np.cumsum(np.bincount(dst, minlength=num_dst), out=indptr[1:])
        graph = cls(
            indptr,
            src[order].astype(dtype),
            num_src,
            None if weight is None else weight[order],
            _validated=True,
        )
        return (graph, order) if return_edge_order else graph

    @classmethod
    def from_scipy(cls, matrix, *, index_dtype=None):
        """A graph from a scipy sparse matrix with ``A[i, j]`` the weight of ``j -> i``.

        Any sparse format is accepted; non-CSR formats are converted (which
        sums duplicate entries). A matrix whose stored values are all 1 gives
        an unweighted graph. The matrix's own arrays are checked against its
        shape first (scipy's constructors check them, but they may have been
        edited since, and scipy's conversions trust them).
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy sparse matrix or array, got {type(matrix).__name__}")
        csr = _checked_scipy(matrix).tocsr()
        num_dst, num_src = csr.shape
        data = csr.data
        if data.dtype.kind not in "fiub":
            raise TypeError(f"matrix must hold real values, got dtype {data.dtype}")
        weight = None if data.size and np.all(data == 1) or data.size == 0 else data
        return cls.from_csr(csr.indptr, csr.indices, weight, num_src_nodes=num_src, index_dtype=index_dtype)

    @classmethod
    def from_networkx(cls, G, *, weight="weight", node_order=None, index_dtype=None, return_nodes=False):
        """A graph from a networkx graph (networkx is imported here, on use).

        Node ``nodes[i]`` of ``G`` becomes node ``i``, ``nodes`` being
        ``list(G.nodes)`` unless ``node_order`` is given. A directed graph
        keeps its edges' directions (``u -> v`` is a message from ``u`` to
        ``v``); an undirected one gives every edge in both directions (a
        self-loop once). Parallel edges of a multigraph stay separate edges.

        Parameters
        ----------
        G : networkx.Graph, DiGraph, MultiGraph or MultiDiGraph
        weight : str or None
            The edge attribute read as the edge weight (when any edge has it,
            every edge must); None ignores edge attributes.
        node_order : sequence, optional
            Every node of ``G`` once, in the order they get ids.
        index_dtype : {None, 'int32', 'int64'}
        return_nodes : bool
            Also return ``nodes``, the networkx node of each id.

        Returns
        -------
        Graph, or (Graph, list) with ``return_nodes``

        See Also
        --------
        fastgnn.interop.networkx.from_networkx : also reads node features and labels.
        """
        from fastgnn.graph.networkx_io import edges_from_networkx

        edge_index, edge_weight, nodes = edges_from_networkx(G, weight=weight, node_order=node_order)
        graph = cls.from_edge_index(edge_index, num_nodes=len(nodes), edge_weight=edge_weight,
                                    index_dtype=index_dtype)
        return (graph, nodes) if return_nodes else graph

    def to_networkx(self, *, directed=True, multigraph=False, weight="weight", nodes=None):
        """The graph as a networkx graph (networkx is imported here, on use).

        Parameters
        ----------
        directed : bool
            A ``DiGraph`` with every edge ``j -> i`` of this graph; else an
            undirected ``Graph``, which needs a symmetric graph (each edge
            with its reverse, of the same weight) and gets one edge per pair.
        multigraph : bool
            A ``MultiDiGraph``/``MultiGraph``, keeping duplicate edges;
            without it a graph with duplicate edges is refused.
        weight : str
            The edge attribute the weights are stored in (weighted graphs).
        nodes : sequence, optional
            The networkx node of each id (``range(num_nodes)`` by default).

        Returns
        -------
        networkx.DiGraph, Graph, MultiDiGraph or MultiGraph
            With every node, isolated ones too, in id order; edges in edge-id order.
        """
        from fastgnn.graph.networkx_io import networkx_from_edges

        self._require_square("to_networkx")
        return networkx_from_edges(self.to_edge_index(), self._edge_weight, self.num_nodes, directed=directed,
                                   multigraph=multigraph, weight=weight, nodes=nodes)

    @classmethod
    def load(cls, path, mmap=True):
        """The graph stored in the folder ``path`` by :meth:`save` (or a dataset folder).

        Parameters
        ----------
        path : str or os.PathLike
            A folder in the format of ``docs/datasets-on-disk.md``; only
            ``meta.json``, ``indptr.npy``, ``indices.npy`` and
            ``edge_weight.npy`` are read.
        mmap : bool
            Keep the arrays as read-only ``np.memmap`` views of the files
            (pages are read on use), instead of reading them into memory.

        Returns
        -------
        Graph

        Raises
        ------
        FileNotFoundError, ValueError
            A missing file, or a corrupt or truncated one (wrong length or
            dtype, an ``indptr`` that is not a valid pointer, ids out of
            range, bad ``meta.json``); the message names the file.

        Notes
        -----
        The arrays are checked once, in ``O(V + E)``. A memory-mapped file
        must not be modified or truncated while the graph is in use.
        """
        return _storage.load_graph(cls, path, mmap=mmap)

    def save(self, path, *, overwrite=False):
        """Write the graph to the folder ``path``: ``meta.json``, ``indptr.npy``, ``indices.npy``, ``edge_weight.npy``.

        The folder is written to a temporary sibling and renamed when
        complete, so an error leaves nothing half-written.

        Parameters
        ----------
        path : str or os.PathLike
            Must not exist, unless ``overwrite``.
        overwrite : bool
            Replace an existing folder (removed once the new one is complete).
        """
        _storage.save_graph(self, path, overwrite=overwrite)

    @staticmethod
    def _weights(edge_weight, num_edges):
        if edge_weight is None:
            return None
        array = V.as_array(edge_weight, "edge_weight")
        dtype = np.float64 if array.dtype == np.float64 else np.float32
        weight = np.array(V.as_edge_values(array, "edge_weight", num_edges, dtype), copy=True)
        if not np.all(np.isfinite(weight)):
            raise ValueError("edge_weight must be finite")
        return weight

    # ------------------------------------------------------------------ attributes
    @property
    def indptr(self):
        return self._indptr

    @property
    def indices(self):
        return self._indices

    @property
    def edge_weight(self):
        return self._edge_weight

    @property
    def num_src_nodes(self):
        return self._num_src_nodes

    @property
    def num_dst_nodes(self):
        return self._indptr.shape[0] - 1

    @property
    def num_nodes(self):
        """The node count of a square graph (``num_dst_nodes`` of a bipartite one)."""
        return self.num_dst_nodes

    @property
    def num_edges(self):
        return self._indices.shape[0]

    @property
    def index_dtype(self):
        return self._indices.dtype

    @property
    def is_square(self):
        return self.num_src_nodes == self.num_dst_nodes

    def __repr__(self):
        weighted = ", weighted" if self._edge_weight is not None else ""
        return (f"Graph(num_src_nodes={self.num_src_nodes}, num_dst_nodes={self.num_dst_nodes}, "
                f"num_edges={self.num_edges}, index_dtype={self.index_dtype}{weighted})")

    def __eq__(self, other):
        if not isinstance(other, Graph):
            return NotImplemented
        same_weight = (self._edge_weight is None and other._edge_weight is None) or (
            self._edge_weight is not None and other._edge_weight is not None
            and np.array_equal(self._edge_weight, other._edge_weight))
        return (self.num_src_nodes == other.num_src_nodes and np.array_equal(self._indptr, other._indptr)
                and np.array_equal(self._indices, other._indices) and same_weight)

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ conversions
    def to_scipy(self):
        """The adjacency as a ``scipy.sparse.csr_matrix`` of shape (num_dst_nodes, num_src_nodes)."""
        import scipy.sparse as sp

        data = self._edge_weight if self._edge_weight is not None else np.ones(self.num_edges, np.float32)
        return sp.csr_matrix((data.copy(), self._indices.copy(), self._indptr.copy()),
                             shape=(self.num_dst_nodes, self.num_src_nodes))

    def to_edge_index(self):
        """The ``(2, num_edges)`` int64 edge list in edge-id order."""
        return np.stack([self._indices.astype(np.int64), self.destinations().astype(np.int64)])

    def destinations(self):
        """The destination node of every edge, in edge-id order (cached)."""
        return self._cached("destinations", lambda: _frozen(
            np.repeat(np.arange(self.num_dst_nodes, dtype=self.index_dtype), np.diff(self._indptr))))

    # ------------------------------------------------------------------ cached structure
    def _cached(self, key, compute):
        value = self._cache.get(key)
        if value is None:
            value = compute()
            self._cache[key] = value
        return value

    def transpose_csr(self):
        """The source-major CSR: ``(t_indptr, t_indices, edge_id)`` (cached).

        Row ``j`` lists the destinations of the edges leaving ``j`` in
        increasing edge id; ``edge_id[t]`` is the edge id of position ``t``.
        """
        def compute():
            return tuple(_frozen(a) for a in csr_transpose(self._indptr, self._indices, self.num_src_nodes))
        return self._cached("transpose", compute)

    def reverse(self):
        """The graph with every edge reversed (its edge weights follow the edges)."""
        t_indptr, t_indices, edge_id = self.transpose_csr()
        weight = None if self._edge_weight is None else self._edge_weight[edge_id]
        return Graph(t_indptr.copy(), t_indices.copy(), self.num_dst_nodes, weight, _validated=True)

    def in_degree(self):
        """Number of incoming edges of each destination node, int64 (cached)."""
        return self._cached("in_degree", lambda: _frozen(np.diff(self._indptr).astype(np.int64)))

    def out_degree(self):
        """Number of outgoing edges of each source node, int64 (cached)."""
        return self._cached("out_degree", lambda: _frozen(
            np.bincount(self._indices, minlength=self.num_src_nodes).astype(np.int64)))

    def weighted_in_degree(self, edge_weight=None, dtype=np.float64):
        """Sum of incoming edge weights of each destination node (1 per edge when unweighted)."""
        weight = self._edge_weight if edge_weight is None else edge_weight
        if weight is None:
            return self.in_degree().astype(dtype)
        return np.bincount(self.destinations(), weights=np.asarray(weight, dtype=np.float64),
                           minlength=self.num_dst_nodes).astype(dtype)

    def inverse_in_degree(self, dtype):
        """``1 / in_degree`` (0 for isolated nodes) in ``dtype`` (cached per dtype)."""
        dtype = V.check_float_dtype(dtype)

        def compute():
            degree = self.in_degree()
            inverse = np.zeros(degree.shape[0], dtype=dtype)
            np.divide(1, degree, out=inverse, where=degree > 0, casting="unsafe")
            return _frozen(inverse)
        return self._cached(("inverse_in_degree", dtype.str), compute)

    def transposed_edge_weight(self, dtype):
        """The graph's own edge weights in transposed (source-major) order, or None (cached)."""
        if self._edge_weight is None:
            return None
        dtype = np.dtype(dtype)

        def compute():
            return _frozen(np.ascontiguousarray(self._edge_weight[self.transpose_csr()[2]], dtype=dtype))
        return self._cached(("transposed_edge_weight", dtype.str), compute)

    def edge_weight_as(self, dtype):
        """The graph's own edge weights cast to ``dtype`` (cached), or None."""
        if self._edge_weight is None or self._edge_weight.dtype == dtype:
            return self._edge_weight
        dtype = np.dtype(dtype)
        return self._cached(("edge_weight", dtype.str),
                            lambda: _frozen(self._edge_weight.astype(dtype)))

    # ------------------------------------------------------------------ sources that arrive later
    def with_pending_sources(self, pending):
        """This graph (the same arrays and caches) with a barrier: some source rows arrive later.

        Parameters
        ----------
        pending : PendingSources or None
            Source rows from ``pending.first_column`` on are valid only after
            ``pending.wait()``; destination rows before ``pending.ready_rows``
            read none of them. None: a graph without a barrier.

        Returns
        -------
        Graph
            A view sharing this graph's arrays and cached structure. Graphs
            derived from it (re-weighted, with self-loops, ...) carry no
            barrier.

        Notes
        -----
        :func:`fastgnn.ops.aggregate` (sum, mean, max, min, 2-D features)
        computes rows ``[0, ready_rows)`` before waiting; every other
        operation on the graph waits first. Results are bitwise those
        without a barrier.
        """
        from fastgnn.graph.pending import PendingSources

        if pending is not None:
            if not isinstance(pending, PendingSources):
                raise TypeError(f"pending must be a PendingSources or None, got {type(pending).__name__}")
            if pending.first_column > self.num_src_nodes or pending.ready_rows > self.num_dst_nodes:
                raise ValueError(f"pending covers columns from {pending.first_column} and rows up to "
                                 f"{pending.ready_rows}, past the graph's {self.num_src_nodes} source and "
                                 f"{self.num_dst_nodes} destination nodes")
        graph = self._view()
        graph._pending = pending
        return graph

    @property
    def pending_sources(self):
        """The :class:`~fastgnn.graph.pending.PendingSources` barrier not yet passed, or None."""
        pending = self._pending
        return None if pending is None or pending.done else pending

    def wait_for_sources(self):
        """Return once every source row is valid (at once when the graph has no pending barrier)."""
        if self._pending is not None:
            self._pending.wait()

    def with_discardable_sources(self):
        """This graph (the same arrays and caches), telling a layer it may discard the rows it has read.

        Returns
        -------
        Graph
            A view sharing this graph's arrays and cached structure. A
            layer that aggregates its input first, and so keeps no source
            row for its backward, releases the memory of the source rows
            past the destination rows (``[num_dst_nodes, num_src_nodes)``)
            once aggregated, when they live in memory made for that
            (:func:`fastgnn._runtime.memory.discard_rows`: the features a
            sampling loader gathers): those rows read as zeros afterwards.
            Any other input is left as it is. Graphs derived from it carry
            no such leave.
        """
        graph = self._view()
        graph._discards_sources = True
        return graph

    def _view(self):
        """Another handle on this graph's arrays and cached structure, with neither barrier nor leave."""
        graph = Graph(self._indptr, self._indices, self.num_src_nodes, self._edge_weight, _validated=True)
        graph._cache = self._cache
        return graph

    @property
    def discards_sources(self):
        """Whether a layer may discard the source rows past the destination rows once read (see
        :meth:`with_discardable_sources`)."""
        return self._discards_sources

    # ------------------------------------------------------------------ derived graphs
    def with_edge_weight(self, edge_weight):
        """The same structure with other edge weights (None drops them)."""
        return self._reweighted(self._weights(edge_weight, self.num_edges))

    def _reweighted(self, weight):
        """:meth:`with_edge_weight` for weights already checked (float32/64, one per edge, finite)."""
        graph = Graph(self._indptr, self._indices, self.num_src_nodes, weight, _validated=True)
        for key in ("transpose", "destinations", "in_degree", "out_degree"):
            if key in self._cache:
                graph._cache[key] = self._cache[key]
        return graph

    def has_self_loop(self):
        """Boolean per node: whether the edge ``i -> i`` exists (square graphs)."""
        self._require_square("has_self_loop")
        loops = np.zeros(self.num_dst_nodes, dtype=bool)
        dst = self.destinations()
        loops[dst[self._indices == dst]] = True
        return loops

    def add_self_loops(self, fill_value=1.0):
        """A new graph with the loop ``i -> i`` added to every node that lacks one.

        Existing loops are kept, not doubled. Each added loop is the last edge
        of its row; other edges keep their relative order. Added loops get
        weight ``fill_value`` (a finite real number) when the graph is weighted.
        """
        self._require_square("add_self_loops")
        if isinstance(fill_value, (bool, np.bool_)) or not isinstance(fill_value, (int, float, np.integer, np.floating)):
            raise TypeError(f"fill_value must be a real number, got {type(fill_value).__name__}")
        if not np.isfinite(fill_value):
            raise ValueError(f"fill_value must be finite (edge weights are), got {fill_value}")
        n = self.num_dst_nodes
        missing = ~self.has_self_loop()
        added_before = np.concatenate([[0], np.cumsum(missing)])  # loops added in rows < i
        dtype = self.index_dtype
        new_indptr = self._indptr.astype(np.int64) + added_before  # int64: the count may outgrow int32
        total = int(new_indptr[-1])
        new_dtype = V.index_dtype_for(n, total) if dtype == np.int32 else dtype
        new_indptr = new_indptr.astype(new_dtype)
        new_indices = np.empty(total, dtype=new_dtype)
        old_rows = self.destinations().astype(np.int64)
        old_positions = np.arange(self.num_edges, dtype=np.int64) + added_before[old_rows]
        new_indices[old_positions] = self._indices
        loop_nodes = np.flatnonzero(missing)
        loop_positions = new_indptr[loop_nodes + 1].astype(np.int64) - 1
        new_indices[loop_positions] = loop_nodes
        weight = None
        if self._edge_weight is not None:
            weight = np.empty(total, dtype=self._edge_weight.dtype)
            weight[old_positions] = self._edge_weight
            weight[loop_positions] = fill_value
        return Graph(new_indptr, new_indices, n, weight, _validated=True)

    def gcn_norm(self, add_self_loops=True, dtype=np.float32):
        """The graph with GCN's symmetric normalization as edge weights.

        ``Â = D^{-1/2} (A + I) D^{-1/2}`` with ``D`` the weighted in-degree of
        ``A + I``; nodes of degree 0 get weight 0, not inf. On a bipartite
        graph (no self-loops then) the two sides have their own degrees:
        ``D_dst^{-1/2} A D_src^{-1/2}``, in-degrees of the destinations and
        out-degrees of the sources.

        Parameters
        ----------
        add_self_loops : bool
            Add the missing loops first (``A + I``); square graphs only.
        dtype : float32 or float64
            Dtype of the new edge weights.

        Notes
        -----
        Computed once per (``add_self_loops``, dtype) and cached on this
        graph, with the normalized graph's own transpose, so a layer may call
        it every step at no cost.
        """
        if add_self_loops:
            self._require_square("gcn_norm with add_self_loops")
        dtype = V.check_float_dtype(dtype)
        return self._cached(("gcn_norm", bool(add_self_loops), dtype.str),
                            lambda: self._compute_gcn_norm(add_self_loops, dtype))

    def _compute_gcn_norm(self, add_self_loops, dtype):
        graph = self.add_self_loops() if add_self_loops else self
        weight = (np.ones(graph.num_edges) if graph.edge_weight is None
                  else graph.edge_weight.astype(np.float64))
        dst_scale = _inverse_sqrt(graph.weighted_in_degree(weight))
        if graph.is_square:
            src_scale = dst_scale     # Kipf's D is the in-degree of A + I, on both sides
        else:
            src_scale = _inverse_sqrt(np.bincount(graph.indices, weights=weight, minlength=graph.num_src_nodes))
        norm = dst_scale[graph.destinations()] * weight * src_scale[graph.indices]
        return graph.with_edge_weight(norm.astype(dtype))

    def mean_norm(self, dtype=np.float32):
        """The graph with ``D^{-1} A`` as edge weights (``D`` the weighted in-degree; 0 rows stay 0).

        Computed once per dtype and cached, like :meth:`gcn_norm`.
        """
        dtype = V.check_float_dtype(dtype)
        return self._cached(("mean_norm", dtype.str), lambda: self._compute_mean_norm(dtype))

    def _compute_mean_norm(self, dtype):
        weight = (np.ones(self.num_edges) if self._edge_weight is None
                  else self._edge_weight.astype(np.float64))
        degree = self.weighted_in_degree(weight)
        inverse = np.zeros_like(degree)
        np.divide(1.0, degree, out=inverse, where=degree != 0)
        return self.with_edge_weight((weight * inverse[self.destinations()]).astype(dtype))

    def remove_edges_between(self, nodes_a, nodes_b, *, return_edge_ids=False):
        """A new graph without the edges that join a node of ``nodes_a`` and a node of ``nodes_b``.

        Both directions go: ``j -> i`` is removed when ``j`` is in ``nodes_a``
        and ``i`` in ``nodes_b``, or ``j`` in ``nodes_b`` and ``i`` in
        ``nodes_a`` (so a self-loop goes only on a node in both sets). Every
        other edge is kept with its weight and its order; nodes are not
        renumbered. Transductive training with train-test edges cut
        (``A_ij = 0`` between a training node ``i`` and a test node ``j``)
        trains on ``graph.remove_edges_between(train_mask, test_mask)``.

        Parameters
        ----------
        nodes_a, nodes_b : array_like of bool (a mask) or of int (node ids)
            Sets of nodes of a square graph; ids may repeat.
        return_edge_ids : bool
            Also return ``edge_ids``: edge ``e`` of the result is edge
            ``edge_ids[e]`` of this graph.

        Returns
        -------
        Graph, or (Graph, ndarray of int64) with ``return_edge_ids``

        Notes
        -----
        Cost ``O(num_nodes + E)`` time and memory.
        """
        self._require_square("remove_edges_between")
        in_a = V.as_node_mask(nodes_a, self.num_nodes, "nodes_a")
        in_b = V.as_node_mask(nodes_b, self.num_nodes, "nodes_b")
        src, dst = self._indices, self.destinations()
        keep = ~((in_a[src] & in_b[dst]) | (in_b[src] & in_a[dst]))
        edge_ids = np.flatnonzero(keep)
        kept_per_row = np.bincount(dst[edge_ids], minlength=self.num_dst_nodes)
        indptr = np.zeros(self.num_dst_nodes + 1, dtype=self.index_dtype)
        np.cumsum(kept_per_row, out=indptr[1:])
        weight = None if self._edge_weight is None else self._edge_weight[edge_ids]
        graph = Graph(indptr, self._indices[edge_ids], self.num_src_nodes, weight, _validated=True)
        return (graph, edge_ids) if return_edge_ids else graph

    def subgraph(self, nodes, *, relabel=True, return_edge_ids=False):
        """The subgraph induced by ``nodes``.

        An edge ``j -> i`` of this square graph is kept when both ``j`` and
        ``i`` are in ``nodes``. Kept edges keep their weights and, within each
        destination row, their original relative order (so with a mask or a
        sorted index array the whole edge order is kept).

        Parameters
        ----------
        nodes : array_like of bool, shape (num_nodes,), or array_like of int, shape (k,)
            A boolean mask, or distinct node ids in ``[0, num_nodes)``.
        relabel : bool
            If True, node ``nodes[t]`` becomes node ``t`` of a graph of ``k``
            nodes (a mask selects its nodes in increasing order). If False, the
            result keeps the original ids and ``num_nodes``, and the nodes not
            selected are left without edges.
        return_edge_ids : bool
            Also return ``edge_ids``: edge ``e`` of the result is edge
            ``edge_ids[e]`` of this graph.

        Returns
        -------
        Graph, or (Graph, ndarray of int64) with ``return_edge_ids``
            The result has this graph's index dtype.

        Notes
        -----
        Cost ``O(num_nodes + E)`` time and memory, ``E`` the edge count of
        this graph. With ``relabel=True`` and ids not in increasing order, the
        rows are reordered by a stable sort on the new destination ids, which
        adds ``O(E' log E')`` for the ``E'`` kept edges.
        """
        self._require_square("subgraph")
        num_nodes = self.num_nodes
        node_ids = V.as_node_ids(nodes, num_nodes)
        num_kept = node_ids.shape[0]

        mapping = np.full(num_nodes, -1, dtype=np.int64)
        mapping[node_ids] = np.arange(num_kept) if relabel else node_ids
        new_src = mapping[self.indices]
        new_dst = mapping[self.destinations()]
        keep = (new_src >= 0) & (new_dst >= 0)
        edge_ids = np.flatnonzero(keep)
        new_src = new_src[edge_ids]
        new_dst = new_dst[edge_ids]
        if new_dst.size > 1 and np.any(new_dst[1:] < new_dst[:-1]):
            order = np.argsort(new_dst, kind="stable")
            edge_ids, new_src, new_dst = edge_ids[order], new_src[order], new_dst[order]

        size = num_kept if relabel else num_nodes
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(new_dst, minlength=size), out=indptr[1:])
        weight = None if self.edge_weight is None else self.edge_weight[edge_ids]
        result = Graph.from_csr(indptr, new_src, weight, num_src_nodes=size, index_dtype=self.index_dtype)
        return (result, edge_ids) if return_edge_ids else result

    def reorder(self, method="rcm", *, return_edge_ids=False):
        """The graph with its nodes renumbered for memory locality, and the permutation.

        An opt-in: it changes no result, and whether it makes the kernels
        faster depends on the graph (``docs/performance.md``).

        Parameters
        ----------
        method : {'rcm', 'degree', 'cluster'}
            ``'rcm'``: reverse Cuthill-McKee on the symmetrised pattern
            ``A + A^T`` (edge directions and weights ignored; scipy's
            ``reverse_cuthill_mckee``), which narrows the band of the
            adjacency. ``'degree'``: nodes by decreasing in-degree, ties in
            increasing id (a stable sort), which puts the busy rows
            together. ``'cluster'``: densely knit groups of nodes at
            consecutive ids: 16 random vectors are smoothed by 5 steps of
            neighbour averaging over ``A + A^T`` and the nodes sorted by
            their 16 sign bits (a locality-sensitive hash of that
            embedding; ties in increasing id), a cheap stand-in for
            community-detecting orders such as Rabbit Order.
        return_edge_ids : bool
            Also return ``edge_ids``: edge ``e`` of the result is edge
            ``edge_ids[e]`` of this graph (to carry edge features along).

        Returns
        -------
        permuted : Graph
            Node ``perm[r]`` of this graph is node ``r`` of ``permuted``.
            Row ``r`` holds the edges of row ``perm[r]`` in the same relative
            order, their sources relabelled, their weights carried along; the
            index dtype and the weight dtype are kept.
        perm : ndarray of int64, shape (num_nodes,)
            ``perm[new_id] = old_id`` (scipy's and PyG's convention). Carry
            node arrays along with :func:`fastgnn.graph.permute_nodes`
            (``x[perm]``) and bring results back with
            :func:`fastgnn.graph.restore_node_order`.
        edge_ids : ndarray of int64, shape (num_edges,), only with ``return_edge_ids``

        Raises
        ------
        ValueError
            On a bipartite graph (its two sides have no common numbering),
            or an unknown ``method``.

        See Also
        --------
        permute : renumber by a given permutation.
        fastgnn.graph.permute_nodes, fastgnn.graph.restore_node_order
        TypeError
            ``method`` is not a string.

        Notes
        -----
        Each row keeps its edges in their order, so ``aggregate`` (any
        reduction, weighted or not) on the result with ``x[perm]`` equals
        ``aggregate(graph, x)[perm]`` bitwise; a backward sums over the
        transpose, whose order changes, so gradients agree to rounding.

        All three orders are deterministic and do not depend on the number
        of threads.

        Cost: ``'degree'`` ``O(N log N)``; ``'rcm'`` builds the symmetrised
        pattern (``2E`` indices) and runs a breadth-first search;
        ``'cluster'`` builds the same pattern and runs 5 sum aggregations
        of width 16 over it and a sort. Then the new CSR is built in
        ``O(N + E)`` with temporaries bounded by a few million edges
        beyond the result.

        Examples
        --------
        >>> graph, perm = graph.reorder("rcm")                        # doctest: +SKIP
        >>> x, y, train_mask = permute_nodes(perm, x, y, train_mask)  # doctest: +SKIP
        >>> prediction = restore_node_order(perm, model(graph, x))    # doctest: +SKIP
        """
        self._require_square("reorder")
        perm = node_order(self, check_method(method))
        return self._permuted(perm, return_edge_ids)

    def permute(self, perm, *, return_edge_ids=False):
        """The graph with its nodes renumbered by a given permutation (``perm[new_id] = old_id``).

        As :meth:`reorder`, with the permutation given.

        Parameters
        ----------
        perm : array_like of int, shape (num_nodes,)
            A permutation of ``0 .. num_nodes - 1``.
        return_edge_ids : bool

        Returns
        -------
        Graph, or (Graph, ndarray of int64) with ``return_edge_ids``
        """
        self._require_square("permute")
        perm = as_permutation(perm, self.num_nodes)
        graph, _, *edge_ids = self._permuted(perm, return_edge_ids)
        return (graph, edge_ids[0]) if return_edge_ids else graph

    def _permuted(self, perm, return_edge_ids):
        indptr, indices, weight, edge_ids = permuted_csr(self, perm, return_edge_ids)
        graph = Graph(indptr, indices, self.num_nodes, weight, _validated=True)
        return (graph, perm, edge_ids) if return_edge_ids else (graph, perm)

    def _require_square(self, what):
        if not self.is_square:
            raise ValueError(
                f"{what} needs a square graph, got num_src_nodes={self.num_src_nodes} "
                f"!= num_dst_nodes={self.num_dst_nodes}")
