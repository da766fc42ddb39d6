"""Link scorers: the probability that a node pair is an edge, from the two nodes' embeddings.

A scorer is called as ``scorer(h, edge_index)``: ``edge_index`` has shape
``(2, P)`` and lists the pairs ``(j, i)`` to score (row 0 the source ``j``,
row 1 the destination ``i``, as an edge list). ``h`` is one embedding array
for a graph whose sources and destinations are the same nodes, or a pair
``(h_src, h_dst)`` for two node sets (a bipartite graph). The output has
one score per pair, in the order of ``edge_index``.

- :class:`DotProductScorer`: ``σ(<h_j, h_i>)``, the inner-product decoder of
  graph autoencoders, computed by :func:`fastgnn.ops.edge_dot` over a
  :class:`~fastgnn.Graph` of the pairs (no pairs x features array);
- :class:`MLPScorer`: ``σ(MLP(h_j ⊙ h_i))`` or ``σ(MLP([h_j ‖ h_i]))``.

With ``sigmoid=False`` both return the logit, for a loss such as
:func:`fastgnn.losses.binary_cross_entropy_with_logits` (stabler than the
probability), or for ranking metrics (a logit does not saturate into ties).
"""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn._runtime.numerics import sigmoid
from fastgnn.graph import Graph
from fastgnn.nn.utils import as_grad, positive_int
from fastgnn.nn.mlp import MLP
from fastgnn.nn.module import Module
from fastgnn.ops import aggregate, edge_dot, edge_dot_backward

__all__ = ["DotProductScorer", "MLPScorer", "pair_graph", "inner_product", "inner_product_backward"]


def _split_embeddings(h, layer, dtype=None):
    """``(h_src, h_dst, is_pair)`` as C-contiguous 2-D float arrays of one dtype."""
    if isinstance(h, (tuple, list)):
        if len(h) != 2:
            raise ValueError(f"{layer}: h must be an array or a pair (h_src, h_dst), got {len(h)} items")
        arrays, is_pair = list(h), True
    else:
        arrays, is_pair = [h], False
    checked = []
    for name, array in zip(("h_src", "h_dst") if is_pair else ("h",), arrays):
        array = np.asarray(array)
        if array.dtype.kind != "f":
            raise TypeError(f"{layer}: {name} must be a float array, got dtype {array.dtype}")
        if array.ndim != 2:
            raise ValueError(f"{layer}: {name} must be 2-D (nodes x features), got shape {array.shape}")
        checked.append(np.ascontiguousarray(array, dtype=dtype or array.dtype))
    if not is_pair:
        return checked[0], checked[0], False
    h_src, h_dst = checked
    if h_src.dtype != h_dst.dtype:
        raise TypeError(f"{layer}: h_src has dtype {h_src.dtype} but h_dst has {h_dst.dtype}")
    if h_src.shape[1] != h_dst.shape[1]:
        raise ValueError(f"{layer}: h_src has {h_src.shape[1]} features but h_dst has {h_dst.shape[1]}")
    return h_src, h_dst, True


def pair_graph(edge_index, num_src_nodes, num_dst_nodes):
    """The pairs to score as a :class:`~fastgnn.Graph`, and the order of its edges.

    Parameters
    ----------
    edge_index : array_like of int, shape (2, P)
        Row 0 sources, row 1 destinations; repeated pairs are allowed.
    num_src_nodes, num_dst_nodes : int

    Returns
    -------
    graph : Graph
        Bipartite-safe: ``num_src_nodes`` sources, ``num_dst_nodes`` destinations.
    order : ndarray of int
        CSR edge ``e`` is pair ``order[e]``.
    """
    return Graph.from_edge_index(edge_index, num_nodes=max(num_src_nodes, num_dst_nodes),
                                 num_src_nodes=num_src_nodes, num_dst_nodes=num_dst_nodes,
                                 return_edge_order=True)


def inner_product(graph, order, h_src, h_dst):
    """``<h_src[j], h_dst[i]>`` for every pair of :func:`pair_graph`, in the pairs' order.

    Cost ``O(P d)``, no ``P x d`` temporary.
    """
    out = np.empty(graph.num_edges, dtype=h_src.dtype)
    out[order] = edge_dot(graph, h_dst, h_src)
    return out


def inner_product_backward(graph, order, grad_out, h_src, h_dst):
    """Gradients of :func:`inner_product`: ``(dL/dh_src, dL/dh_dst)``."""
    grad_dst, grad_src = edge_dot_backward(graph, np.ascontiguousarray(grad_out[order]), h_dst, h_src)
    return grad_src, grad_dst


def _edge_index(edge_index, layer):
    array = np.asarray(edge_index)
    if array.ndim != 2 or array.shape[0] != 2:
        raise ValueError(f"{layer}: edge_index must have shape (2, num_pairs), got {array.shape}")
    if array.shape[1] == 0:
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{layer}: edge_index must have an integer dtype, got {array.dtype}")
    return array


def _grads_for_input(grad_src, grad_dst, is_pair):
    return (grad_src, grad_dst) if is_pair else grad_src + grad_dst


class DotProductScorer(Module):
    r"""Inner-product scores ``σ(<h_j, h_i>)`` of node pairs (the decoder of GAE and VGAE).

    Parameters
    ----------
    sigmoid : bool
        Return probabilities (default) or the logits ``<h_j, h_i>``.

    Notes
    -----
    Call as ``scorer(h, edge_index)`` (see :mod:`fastgnn.nn.link`). The
    pairs become a :class:`~fastgnn.Graph` (built with
    :meth:`~fastgnn.Graph.from_edge_index`, bipartite-safe) and the products
    are :func:`fastgnn.ops.edge_dot`; the backward is
    :func:`fastgnn.ops.edge_dot_backward`: ``dL/dh_i = Σ_j g_{ji} h_j``.
    Cost ``O(P d + P log P)``; training mode keeps the pair graph, the
    inputs (references) and the scores.
    """

    def __init__(self, sigmoid=True):
        super().__init__()
        self.sigmoid = bool(sigmoid)

    def forward(self, h, edge_index):
        """Scores of shape (P,), in the dtype of ``h``."""
        name = type(self).__name__
        h_src, h_dst, is_pair = _split_embeddings(h, name)
        graph, order = pair_graph(_edge_index(edge_index, name), h_src.shape[0], h_dst.shape[0])
        logits = inner_product(graph, order, h_src, h_dst)
        out = sigmoid(logits).astype(logits.dtype, copy=False) if self.sigmoid else logits
        self._save_for_backward(graph, order, h_src, h_dst, is_pair, out)
        return out

    def backward(self, grad_out, need_input_grad=True):
        """``dL/dh`` (a pair ``(dL/dh_src, dL/dh_dst)`` for pair input) from ``dL/d scores``."""
        graph, order, h_src, h_dst, is_pair, out = self._saved_for_backward()
        grad = as_grad(grad_out, out.shape, type(self).__name__, out.dtype)
        if self.sigmoid:
            grad = grad * out * (1 - out)
        if not need_input_grad:
            return None
        grad_src, grad_dst = inner_product_backward(graph, order, grad, h_src, h_dst)
        return _grads_for_input(grad_src, grad_dst, is_pair)

    def extra_repr(self):
        return f"sigmoid={self.sigmoid}"


class MLPScorer(Module):
    r"""MLP scores of node pairs: ``σ(MLP(h_j ⊙ h_i))`` or ``σ(MLP([h_j ‖ h_i]))``.

    Parameters
    ----------
    in_channels : int
        Width of the node embeddings.
    hidden_channels : int, optional
        Width of the hidden layers (default ``in_channels``).
    num_layers : int
        Linear layers of the MLP (the last one has one output); at least 1.
    combine : {'hadamard', 'concat'}
        ``h_j ⊙ h_i`` (symmetric in the pair) or ``[h_j ‖ h_i]`` (source first).
    sigmoid : bool
        Return probabilities (default) or logits.
    activation : str
        Between the linear layers (see :func:`fastgnn.nn.get_activation`).
    dropout : float
        After each hidden activation.
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64

    Attributes
    ----------
    mlp : MLP
        ``[width, hidden, ..., hidden, 1]`` with ``width = in_channels`` or ``2 in_channels``.

    Notes
    -----
    The MLP reads one row per pair, so this scorer holds ``P x d`` arrays
    (the gathered embeddings, kept for the backward): cost ``O(P d h)``.
    The gradients of the gathered rows are summed back into the node rows
    with :func:`fastgnn.ops.aggregate` over a pair-to-node graph.
    """

    COMBINES = ("hadamard", "concat")

    def __init__(self, in_channels, hidden_channels=None, num_layers=2, combine="hadamard", sigmoid=True,
                 activation="relu", dropout=0.0, *, rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        hidden = self.in_channels if hidden_channels is None else positive_int(hidden_channels, "hidden_channels")
        num_layers = positive_int(num_layers, "num_layers")
        if combine not in self.COMBINES:
            raise ValueError(f"combine must be 'hadamard' or 'concat', got {combine!r}")
        self.combine = combine
        self.sigmoid = bool(sigmoid)
        self.dtype = check_float_dtype(dtype)
        width = self.in_channels * (2 if combine == "concat" else 1)
        self.mlp = MLP([width] + [hidden] * (num_layers - 1) + [1], activation=activation, dropout=dropout,
                       rng=rng, dtype=self.dtype)

    def forward(self, h, edge_index):
        """Scores of shape (P,), in the scorer's dtype."""
        name = type(self).__name__
        h_src, h_dst, is_pair = _split_embeddings(h, name, self.dtype)
        if h_src.shape[1] != self.in_channels:
            raise ValueError(f"{name}: h has {h_src.shape[1]} features but the scorer expects "
                             f"{self.in_channels} (in_channels)")
        edge_index = _edge_index(edge_index, name)
        src, dst = edge_index[0], edge_index[1]
        for ids, name_ids, size in ((src, "edge_index[0] (sources)", h_src.shape[0]),
                                    (dst, "edge_index[1] (destinations)", h_dst.shape[0])):
            if ids.size and (ids.min() < 0 or ids.max() >= size):
                raise ValueError(f"{name}: {name_ids} holds ids outside [0, {size})")
        rows_src, rows_dst = h_src[src], h_dst[dst]
        if self.combine == "hadamard":
            combined = rows_src * rows_dst
        else:
            combined = np.concatenate([rows_src, rows_dst], axis=1)
        logits = self.mlp(combined)[:, 0]
        out = sigmoid(logits).astype(logits.dtype, copy=False) if self.sigmoid else logits
        self._save_for_backward(edge_index, rows_src, rows_dst, h_src.shape[0], h_dst.shape[0], is_pair, out)
        return out

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate the MLP's gradients; return ``dL/dh`` (a pair for pair input, None if not needed)."""
        edge_index, rows_src, rows_dst, num_src, num_dst, is_pair, out = self._saved_for_backward()
        grad = as_grad(grad_out, out.shape, type(self).__name__, self.dtype)
        if self.sigmoid:
            grad = grad * out * (1 - out)
        grad_combined = self.mlp.backward(grad[:, None], need_input_grad=need_input_grad)
        if not need_input_grad:
            return None
        if self.combine == "hadamard":
            grad_rows_src = grad_combined * rows_dst
            grad_rows_dst = grad_combined * rows_src
        else:
            grad_rows_src = np.ascontiguousarray(grad_combined[:, :self.in_channels])
            grad_rows_dst = np.ascontiguousarray(grad_combined[:, self.in_channels:])
        grad_src = _scatter_rows(grad_rows_src, edge_index[0], num_src)
        grad_dst = _scatter_rows(grad_rows_dst, edge_index[1], num_dst)
        return _grads_for_input(grad_src, grad_dst, is_pair)

    def extra_repr(self):
        return f"in_channels={self.in_channels}, combine={self.combine!r}, sigmoid={self.sigmoid}"


def _scatter_rows(rows, node_of_row, num_nodes):
    """``out[v] = Σ_{p: node_of_row[p] = v} rows[p]``: a sum aggregation over a pair-to-node graph."""
    num_rows = rows.shape[0]
    graph = Graph.from_edge_index(np.stack([np.arange(num_rows), np.asarray(node_of_row, np.int64)]),
                                  num_nodes=max(num_rows, num_nodes), num_src_nodes=num_rows,
                                  num_dst_nodes=num_nodes)
    return aggregate(graph, np.ascontiguousarray(rows), "sum")
