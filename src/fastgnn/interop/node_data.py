"""A graph with node features, labels and a split, as converted from another library.

:class:`NodeData` has the attributes of the datasets fastgnn loads itself
(:class:`fastgnn.datasets.Planetoid`: ``graph``, ``x``, ``y``, the three
masks, ``num_classes``), so code written for one runs on the other, and
:func:`fastgnn.interop.pyg.to_pyg` and :func:`fastgnn.interop.dgl.to_dgl` take
either.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph import Graph

__all__ = ["NodeData", "MASK_NAMES", "dataset_fields", "to_numpy"]

MASK_NAMES = ("train_mask", "val_mask", "test_mask")


def to_numpy(value, name):
    """A torch tensor (detached, on the CPU) or any array-like as an ndarray; None stays None."""
    if value is None:
        return None
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor: shared, not copied, when it can be
        import torch

        value = value.detach().cpu()
        if value.layout != torch.strided:
            value = value.to_dense()
        if type(value) is not torch.Tensor:  # a subclass (PyG's EdgeIndex): its plain data
            value = value.as_subclass(torch.Tensor)
        return value.numpy()
    return V.as_array(value, name)


class NodeData:
    """A graph with optional node features, labels, split masks and edge features.

    Parameters
    ----------
    graph : Graph
    x : ndarray of shape (num_nodes, num_features), optional
    y : ndarray of shape (num_nodes,) or (num_nodes, k), optional
    train_mask, val_mask, test_mask : ndarray of bool, optional
        Shape (num_nodes,), or (num_nodes, num_splits) for several splits.
    num_classes : int, optional
        Defaults to ``max(y) + 1`` for a 1-D integer ``y``.
    edge_attr : ndarray of shape (num_edges, ...), optional
        Edge features in the graph's edge-id (CSR) order.
    edge_order : ndarray of int64, shape (num_edges,), optional
        Edge ``e`` of ``graph`` was edge ``edge_order[e]`` of the source data.
    nodes : list, optional
        The original node of each id (networkx node names).
    name : str, optional

    Notes
    -----
    Arrays are kept as given, not copied (a CPU tensor becomes a NumPy view
    of its memory); node arrays are checked to have one row per node.
    """

    def __init__(self, graph, x=None, y=None, train_mask=None, val_mask=None, test_mask=None, *,
                 num_classes=None, edge_attr=None, edge_order=None, nodes=None, name=None):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
        self.graph = graph
        self.x = _rows(x, "x", graph.num_src_nodes)
        self.y = _rows(y, "y", graph.num_dst_nodes)
        for mask_name, mask in zip(MASK_NAMES, (train_mask, val_mask, test_mask)):
            mask = _rows(mask, mask_name, graph.num_dst_nodes)
            if mask is not None and mask.dtype != np.bool_:
                raise TypeError(f"{mask_name} must be a boolean array, got dtype {mask.dtype}")
            setattr(self, mask_name, mask)
        self.edge_attr = _rows(edge_attr, "edge_attr", graph.num_edges)
        self.edge_order = edge_order
        self.nodes = nodes
        self.name = name
        labels = self.y
        if num_classes is None and labels is not None and labels.ndim == 1 and labels.dtype.kind in "iu" and labels.size:
            num_classes = int(labels.max()) + 1
        self.num_classes = None if num_classes is None else int(num_classes)

    @property
    def num_nodes(self):
        return self.graph.num_dst_nodes

    @property
    def num_edges(self):
        return self.graph.num_edges

    @property
    def num_features(self):
        return None if self.x is None else self.x.shape[1]

    def __repr__(self):
        parts = [f"num_nodes={self.num_nodes}", f"num_edges={self.num_edges}"]
        if self.x is not None:
            parts.append(f"x={tuple(self.x.shape)}")
        if self.y is not None:
            parts.append(f"y={tuple(self.y.shape)}")
        parts += [name for name in MASK_NAMES if getattr(self, name) is not None]
        if self.num_classes is not None:
            parts.append(f"num_classes={self.num_classes}")
        return f"NodeData({', '.join(parts)})"


def _rows(value, name, num_rows):
    if value is None:
        return None
    array = to_numpy(value, name)
    if array.ndim == 0 or array.shape[0] != num_rows:
        raise ValueError(f"{name} must have one row per {'edge' if name == 'edge_attr' else 'node'} "
                         f"({num_rows}), got shape {array.shape}")
    return array


def dataset_fields(data, **given):
    """``(graph, fields)`` of a Graph or a dataset-like object (``.graph``, ``.x``, ``.y``, masks).

    ``fields`` maps ``x``, ``y``, the mask names and ``edge_attr`` to arrays
    (checked to have one row per node, or per edge) or None; a value in
    ``given`` (not None) replaces the object's own. An
    object without mask attributes but with a ``masks()`` method and splits
    (an :class:`~fastgnn.datasets.OnDiskDataset`) gives its default split.
    """
    if isinstance(data, Graph):
        graph, source = data, None
    elif isinstance(getattr(data, "graph", None), Graph):
        graph, source = data.graph, data
    else:
        raise TypeError(f"data must be a fastgnn.Graph or a dataset with a .graph (Planetoid, NodeData, ...), "
                        f"got {type(data).__name__}")
    own = {}
    if source is not None:
        own = {key: getattr(source, key, None) for key in ("x", "y", *MASK_NAMES, "edge_attr")}
        if all(own[key] is None for key in MASK_NAMES) and callable(getattr(source, "masks", None)) \
                and getattr(source, "split_names", None):
            own.update(zip(MASK_NAMES, source.masks()))  # an OnDiskDataset: its default split
    fields = {}
    for key in ("x", "y", *MASK_NAMES, "edge_attr"):
        value = given.get(key)
        if value is None:
            value = own.get(key)
        if value is not None and hasattr(value, "toarray") and not isinstance(value, np.ndarray):
            value = value.toarray()  # SparseFeatures, scipy matrices
        rows = {"x": graph.num_src_nodes, "edge_attr": graph.num_edges}.get(key, graph.num_dst_nodes)
        fields[key] = _rows(value, key, rows)
    return graph, fields
