"""PyTorch Geometric ``Data`` objects in and out.

PyG's ``edge_index`` is fastgnn's (row 0 sources, row 1 destinations), so a
graph converts without reinterpretation: :func:`from_pyg` sorts the edges by
destination (stably) and :func:`to_pyg` writes them in fastgnn's edge-id
order, so ``from_pyg(to_pyg(graph)).graph == graph``. torch and
torch_geometric are imported when a function is called
(``pip install torch torch_geometric``).
"""
import numpy as np

from fastgnn.graph import Graph
from fastgnn.interop.node_data import MASK_NAMES, NodeData, dataset_fields, to_numpy

__all__ = ["from_pyg", "to_pyg"]


def _import_pyg():
    try:
        import torch
        from torch_geometric.data import Data
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError("this conversion needs PyTorch Geometric: pip install torch torch_geometric") \
            from error
    return torch, Data


def _field(data, key):
    """``data[key]`` of a PyG Data (or an attribute of any object), None when absent."""
    try:
        return data[key] if key in data else None
    except TypeError:  # not a mapping-like Data: a plain object
        return getattr(data, key, None)


def from_pyg(data, *, weight="auto", index_dtype=None):
    """A :class:`NodeData` from a PyG ``Data`` (``edge_index``, and ``x``, ``y``, masks when present).

    Parameters
    ----------
    data : torch_geometric.data.Data
        Any object with an ``edge_index`` (``(2, E)`` integer tensor or
        array) also does. ``num_nodes`` is ``data.num_nodes`` (PyG's count:
        the stored ``num_nodes``, else the rows of ``x``, else inferred from
        ``edge_index``).
    weight : 'auto', str or None
        The edge attribute read as the edge weight: ``'auto'`` takes
        ``edge_weight``, else a 1-D ``edge_attr``; a name takes that
        attribute (1-D, one value per edge); None reads none.
    index_dtype : {None, 'int32', 'int64'}

    Returns
    -------
    NodeData
        ``graph``; ``x``, ``y``, ``train_mask``, ``val_mask``, ``test_mask``
        as NumPy arrays (None when absent); ``num_classes`` (``max(y) + 1``
        for integer labels); ``edge_attr`` (a multi-column ``edge_attr``,
        reordered to the graph's edge ids); ``edge_order``: edge ``e`` of
        the graph is column ``edge_order[e]`` of ``edge_index``.

    Raises
    ------
    TypeError, ValueError
        No ``edge_index``, or one of the wrong shape or dtype, ids out of
        range, a weight with one value per edge missing; the message names
        the attribute.
    """
    edge_index = _field(data, "edge_index")
    if edge_index is None:
        raise TypeError(f"data must have an edge_index (a PyG Data), got {type(data).__name__} without one")
    edge_index = to_numpy(edge_index, "data.edge_index")
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"data.edge_index must have shape (2, num_edges), got {edge_index.shape}")
    num_edges = edge_index.shape[1]
    num_nodes = getattr(data, "num_nodes", None)
    if num_nodes is None:
        x = _field(data, "x")
        num_nodes = x.shape[0] if x is not None else (int(edge_index.max()) + 1 if num_edges else 0)
    edge_weight, edge_attr = _edge_values(data, weight, num_edges)
    graph, order = Graph.from_edge_index(edge_index, num_nodes=int(num_nodes), edge_weight=edge_weight,
                                         index_dtype=index_dtype, return_edge_order=True)
    fields = {key: to_numpy(_field(data, key), f"data.{key}") for key in ("x", "y", *MASK_NAMES)}
    return NodeData(graph, **fields, edge_attr=None if edge_attr is None else edge_attr[order],
                    edge_order=order, name=getattr(data, "name", None))


def _edge_values(data, weight, num_edges):
    """``(edge_weight, edge_attr)`` in ``edge_index`` column order."""
    edge_attr = to_numpy(_field(data, "edge_attr"), "data.edge_attr")
    if weight is None:
        return None, edge_attr
    if weight == "auto":
        edge_weight = to_numpy(_field(data, "edge_weight"), "data.edge_weight")
        if edge_weight is None and edge_attr is not None and edge_attr.ndim == 1:
            return edge_attr, None
        return edge_weight, edge_attr
    if not isinstance(weight, str):
        raise TypeError(f"weight must be 'auto', an attribute name or None, got {type(weight).__name__}")
    edge_weight = to_numpy(_field(data, weight), f"data.{weight}")
    if edge_weight is None:
        raise ValueError(f"data has no edge attribute {weight!r} (weight={weight!r})")
    if edge_weight.ndim == 2 and edge_weight.shape[1] == 1:
        edge_weight = edge_weight[:, 0]
    return edge_weight, (None if weight == "edge_attr" else edge_attr)


def to_pyg(data, *, x=None, y=None, train_mask=None, val_mask=None, test_mask=None, edge_attr=None,
           weight="edge_weight"):
    """A PyG ``Data`` of a :class:`~fastgnn.Graph` or a dataset (Planetoid, NodeData, ...).

    Parameters
    ----------
    data : Graph, or a dataset with ``.graph``
        Its ``x``, ``y``, masks and ``edge_attr`` are copied unless given here.
    x, y, train_mask, val_mask, test_mask, edge_attr : array_like, optional
        Node arrays (one row per node) and edge features (one row per edge,
        in the graph's edge-id order).
    weight : str
        The attribute the edge weights are stored in (weighted graphs):
        ``'edge_weight'`` (what PyG's GCNConv reads) or ``'edge_attr'``.

    Returns
    -------
    torch_geometric.data.Data
        ``edge_index`` (int64, in edge-id order, so sorted by destination),
        ``num_nodes``, and the fields present; every tensor is a copy.
        Sparse features (``SparseFeatures``) become dense.
    """
    torch, Data = _import_pyg()
    graph, fields = dataset_fields(data, x=x, y=y, train_mask=train_mask, val_mask=val_mask, test_mask=test_mask,
                                edge_attr=edge_attr)
    if not graph.is_square:
        raise ValueError(f"to_pyg needs a square graph (one node set), got {graph.num_src_nodes} source and "
                         f"{graph.num_dst_nodes} destination nodes")
    if weight not in ("edge_weight", "edge_attr"):
        raise ValueError(f"weight must be 'edge_weight' or 'edge_attr', got {weight!r}")
    out = {"edge_index": torch.tensor(graph.to_edge_index()), "num_nodes": graph.num_nodes}
    if graph.edge_weight is not None:
        if weight == "edge_attr" and fields["edge_attr"] is not None:
            raise ValueError("weight='edge_attr' would overwrite the edge features: store the weights as edge_weight")
        out[weight] = torch.tensor(np.asarray(graph.edge_weight))
    out.update((key, torch.tensor(np.asarray(value))) for key, value in fields.items() if value is not None)
    return Data(**out)
