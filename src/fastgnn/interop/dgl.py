"""DGL graphs in and out.

A DGL edge ``(u, v)`` (``g.edges()``) is a message from ``u`` to ``v``:
fastgnn's edge ``u -> v``, sorted by destination (stably), so edge ``e`` of
the fastgnn graph is DGL edge ``edge_order[e]``. Node data is read from
``g.ndata`` under configurable names (DGL's datasets use ``feat``,
``label``, ``train_mask``, ``val_mask``, ``test_mask``). DGL is imported
when :func:`to_dgl` is called (``pip install dgl``); :func:`from_dgl` only
calls the graph's methods.
"""
import numpy as np

from fastgnn.graph import Graph
from fastgnn.interop.node_data import MASK_NAMES, NodeData, dataset_fields, to_numpy

__all__ = ["from_dgl", "to_dgl"]

DEFAULT_NODE_FIELDS = {"x": "feat", "y": "label", "train_mask": "train_mask", "val_mask": "val_mask",
                       "test_mask": "test_mask"}


def _node_field_names(names):
    merged = dict(DEFAULT_NODE_FIELDS)
    if names is not None:
        if not isinstance(names, dict) or not set(names) <= set(DEFAULT_NODE_FIELDS):
            raise ValueError(f"node_fields must be a dict with keys among {sorted(DEFAULT_NODE_FIELDS)}, got {names!r}")
        merged.update(names)
    return merged


def from_dgl(g, *, weight="w", node_fields=None, index_dtype=None):
    """A :class:`NodeData` from a homogeneous DGL graph, with its node data when present.

    Parameters
    ----------
    g : dgl.DGLGraph
        One node type and one edge type. Read through ``g.num_nodes()``,
        ``g.edges(order="eid")``, ``g.ndata`` and ``g.edata``.
    weight : str or None
        The ``g.edata`` field read as the edge weight (1-D, or ``(E, 1)``),
        when present; None reads none.
    node_fields : dict, optional
        ``g.ndata`` names of ``x``, ``y`` and the masks, overriding the
        defaults ``{"x": "feat", "y": "label", "train_mask": "train_mask",
        "val_mask": "val_mask", "test_mask": "test_mask"}``. Absent fields
        are None.
    index_dtype : {None, 'int32', 'int64'}

    Returns
    -------
    NodeData
        With ``edge_order``: edge ``e`` of the graph is DGL edge ``edge_order[e]``.
    """
    names = _node_field_names(node_fields)
    if not all(hasattr(g, attribute) for attribute in ("edges", "num_nodes", "ndata")):
        raise TypeError(f"g must be a DGL graph (with edges(), num_nodes() and ndata), got {type(g).__name__}")
    if getattr(g, "is_homogeneous", True) is False:
        raise ValueError("g has several node or edge types; convert one relation with "
                         "dgl.to_homogeneous(g) or g[etype] first")
    src, dst = g.edges(order="eid")
    src, dst = to_numpy(src, "g.edges()[0]"), to_numpy(dst, "g.edges()[1]")
    edge_weight = None
    edata = getattr(g, "edata", {})
    if weight is not None and weight in edata:
        edge_weight = to_numpy(edata[weight], f"g.edata[{weight!r}]")
        if edge_weight.ndim == 2 and edge_weight.shape[1] == 1:
            edge_weight = edge_weight[:, 0]
    graph, order = Graph.from_edge_index(np.stack([src, dst]), num_nodes=int(g.num_nodes()),
                                         edge_weight=edge_weight, index_dtype=index_dtype, return_edge_order=True)
    fields = {key: (to_numpy(g.ndata[name], f"g.ndata[{name!r}]") if name in g.ndata else None)
              for key, name in names.items()}
    return NodeData(graph, **fields, edge_order=order)


def to_dgl(data, *, x=None, y=None, train_mask=None, val_mask=None, test_mask=None, weight="w",
           node_fields=None):
    """A DGL graph of a :class:`~fastgnn.Graph` or a dataset (Planetoid, NodeData, ...).

    Parameters
    ----------
    data : Graph, or a dataset with ``.graph``
        Its ``x``, ``y`` and masks are stored unless given here.
    x, y, train_mask, val_mask, test_mask : array_like, optional
    weight : str
        The ``g.edata`` field the edge weights are stored in (weighted graphs).
    node_fields : dict, optional
        ``g.ndata`` names, as in :func:`from_dgl`.

    Returns
    -------
    dgl.DGLGraph
        Edge ``e`` is fastgnn's edge ``e`` (edge-id order); int64 ids; every
        tensor a copy.
    """
    try:
        import dgl
        import torch
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError("to_dgl needs DGL: pip install dgl (and torch)") from error
    names = _node_field_names(node_fields)
    graph, fields = dataset_fields(data, x=x, y=y, train_mask=train_mask, val_mask=val_mask, test_mask=test_mask)
    if not graph.is_square:
        raise ValueError("to_dgl needs a square graph (one node set); a bipartite block is dgl.create_block's")
    edge_index = graph.to_edge_index()
    g = dgl.graph((torch.tensor(edge_index[0]), torch.tensor(edge_index[1])), num_nodes=graph.num_nodes)
    if graph.edge_weight is not None:
        g.edata[weight] = torch.tensor(np.asarray(graph.edge_weight))
    for key in ("x", "y", *MASK_NAMES):
        if fields[key] is not None:
            g.ndata[names[key]] = torch.tensor(np.asarray(fields[key]))
    return g

