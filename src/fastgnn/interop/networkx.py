"""networkx graphs in and out, with node features and labels.

:meth:`fastgnn.Graph.from_networkx` and :meth:`fastgnn.Graph.to_networkx`
convert the structure; these add node attributes. networkx is imported when
a function is called (``pip install networkx``).
"""
import numpy as np

from fastgnn.graph import Graph
from fastgnn.graph.networkx_io import edges_from_networkx
from fastgnn.interop.node_data import NodeData, dataset_fields

__all__ = ["from_networkx", "to_networkx"]


def from_networkx(G, *, weight="weight", node_order=None, node_attrs=None, label=None, dtype=np.float32,
                  index_dtype=None):
    """A :class:`NodeData` from a networkx graph: the graph, and node features and labels if asked.

    Parameters
    ----------
    G : networkx.Graph, DiGraph, MultiGraph or MultiDiGraph
        Directed graphs keep their directions; undirected ones give each
        edge in both directions (a self-loop once); parallel edges stay.
    weight : str or None
        Edge attribute read as the edge weight (see :meth:`Graph.from_networkx`).
    node_order : sequence, optional
        Every node of ``G`` once, in the order they get ids; ``list(G.nodes)`` by default.
    node_attrs : sequence of str, optional
        Node attributes stacked as the columns of ``x``: each a number or a
        1-D array per node (PyG's ``from_networkx(group_node_attrs=...)``).
        Every node must have each of them.
    label : str, optional
        Node attribute read as the integer label ``y``.
    dtype : float32 or float64
        Dtype of ``x``.
    index_dtype : {None, 'int32', 'int64'}

    Returns
    -------
    NodeData
        ``graph``, ``x`` and ``y`` (or None), and ``nodes``: ``nodes[i]`` is
        the networkx node with id ``i``.
    """
    edge_index, edge_weight, nodes = edges_from_networkx(G, weight=weight, node_order=node_order)
    graph, order = Graph.from_edge_index(edge_index, num_nodes=len(nodes), edge_weight=edge_weight,
                                         index_dtype=index_dtype, return_edge_order=True)
    x = None
    if node_attrs is not None:
        if isinstance(node_attrs, str):
            node_attrs = [node_attrs]
        columns = [_attribute_column(G, nodes, name, f"node_attrs {name!r}") for name in node_attrs]
        x = (np.concatenate([c.reshape(len(nodes), -1) for c in columns], axis=1).astype(dtype)
             if columns and nodes else np.zeros((len(nodes), 0), dtype=dtype))
    y = None
    if label is not None:
        y = _attribute_column(G, nodes, label, f"label {label!r}")
        if y.ndim != 1 or y.dtype.kind not in "iub":
            raise TypeError(f"label {label!r} must be one integer per node, got dtype {y.dtype}, shape {y.shape}")
        y = y.astype(np.int64)
    return NodeData(graph, x=x, y=y, edge_order=order, nodes=nodes)


def to_networkx(data, *, x=None, y=None, directed=True, multigraph=False, weight="weight", nodes=None,
                node_attr="x", label_attr="y"):
    """A networkx graph of a :class:`~fastgnn.Graph` or a dataset, with node features and labels.

    Parameters
    ----------
    data : Graph, or a dataset with ``.graph`` (Planetoid, NodeData, ...)
        Its ``x`` and ``y`` are stored unless given here.
    x : array_like of shape (num_nodes, num_features), optional
        Stored per node as the attribute ``node_attr`` (row ``i``, an ndarray).
    y : array_like of shape (num_nodes,), optional
        Stored per node as the attribute ``label_attr`` (a Python int).
    directed, multigraph, weight, nodes
        As in :meth:`Graph.to_networkx`.
    node_attr, label_attr : str

    Returns
    -------
    networkx.DiGraph, Graph, MultiDiGraph or MultiGraph

    Examples
    --------
    >>> G = to_networkx(load_cora())                                   # doctest: +SKIP
    >>> back = from_networkx(G, node_attrs=["x"], label="y")           # doctest: +SKIP
    """
    graph, fields = dataset_fields(data, x=x, y=y)
    if nodes is None:
        nodes = getattr(data, "nodes", None)
    G = graph.to_networkx(directed=directed, multigraph=multigraph, weight=weight, nodes=nodes)
    names = list(G.nodes)
    if fields["x"] is not None:
        for node, row in zip(names, fields["x"]):
            G.nodes[node][node_attr] = row
    if fields["y"] is not None:
        for node, value in zip(names, fields["y"].tolist()):
            G.nodes[node][label_attr] = value
    return G


def _attribute_column(G, nodes, name, what):
    values = []
    for node in nodes:
        attributes = G.nodes[node]
        if name not in attributes:
            raise ValueError(f"{what}: node {node!r} has no attribute {name!r}")
        values.append(np.asarray(attributes[name]))
    if not values:
        return np.zeros((0,))
    shapes = {v.shape for v in values}
    if len(shapes) != 1:
        raise ValueError(f"{what}: the attribute {name!r} has different shapes on different nodes {sorted(shapes)[:3]}")
    column = np.stack(values)
    if column.dtype.kind not in "fiub":
        raise TypeError(f"{what}: the attribute {name!r} must be numeric, got dtype {column.dtype}")
    return column
