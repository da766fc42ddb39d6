r"""Graph-level classifiers over batches of graphs: GIN (Xu et al., 2019), GCN and GraphSAGE with a readout.

Every model here is called as ``model(graph, x, ptr)`` on a
:class:`fastgnn.data.Batch` (``batch.graph``, ``batch.x``, ``batch.ptr``)
and returns one row of class scores (logits) per graph;
``backward(grad_scores)`` accumulates the parameter gradients.
"""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.nn import init
from fastgnn.nn.utils import as_layer_input, densified, positive_int
from fastgnn.nn.activation import ReLU
from fastgnn.nn.conv import GINConv
from fastgnn.nn.conv.registry import conv_names, get_conv
from fastgnn.nn.dropout import Dropout
from fastgnn.nn.linear import Linear
from fastgnn.nn.mlp import MLP
from fastgnn.nn.module import Module, Sequential
from fastgnn.nn.norm import BatchNorm
from fastgnn.nn.pool import GlobalPool

__all__ = ["GINGraphClassifier", "GNNGraphClassifier", "graph_model_names", "build_graph_classifier"]


def graph_model_names():
    """The model names of :func:`build_graph_classifier`: ``'gin'`` (GIN-0) and every registered conv
    usable in graph classification (stacked in a :class:`GNNGraphClassifier`)."""
    return ("gin",) + tuple(name for name in conv_names(graph_classification=True) if name != "gin")


def _check_dropout(dropout):
    dropout = float(dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return dropout


class GINGraphClassifier(Module):
    r"""GIN for graph classification, as in the GIN paper (Xu et al., ICLR 2019).

    With ``h^{(0)} = x`` and ``K = num_layers - 1`` GIN layers

    .. math::

        h^{(k)}_v = \mathrm{MLP}^{(k)}\Big((1 + \epsilon^{(k)}) h^{(k-1)}_v
                    + \sum_{u \to v} h^{(k-1)}_u\Big), \qquad
        \mathrm{scores}(G) = \sum_{k=0}^{K} W^{(k)} \,
                    \mathrm{dropout}\Big(\mathrm{READOUT}_{v \in G} h^{(k)}_v\Big) + b^{(k)}

    each MLP being ``Linear-BatchNorm-ReLU-Linear-BatchNorm-ReLU`` (the
    paper's two-layer MLP followed by its batch norm and ReLU; PyG's GIN
    example). Every layer's representation, the input's included, is read
    out and scored by its own linear head; the scores are summed.
    GIN-0 (the paper's best) is the default: ``eps = 0`` fixed and sum
    readout.

    Parameters
    ----------
    in_channels : int
        Node feature width.
    hidden_channels : int
        Width of every GIN layer (64 in the paper's MUTAG runs).
    num_classes : int
    num_layers : int
        Layers counting the input layer, as the paper (5: four GIN layers).
    mlp_layers : int
        Linear layers per MLP (2 in the paper).
    eps : float
        Initial ``epsilon`` (0 for GIN-0).
    train_eps : bool
        Learn ``epsilon`` (GIN-eps).
    pool : {'sum', 'mean', 'max', 'min'}
        The readout (sum in the paper).
    dropout : float
        On each pooled representation before its linear head (0.5).
    batch_norm : bool
        The BatchNorm layers of the MLPs.
    rng : numpy.random.Generator, int or None
        Draws the initial weights, then the dropout masks.
    dtype : float32 or float64

    Notes
    -----
    Cost per batch ``O(K (E · d + N · d²))`` forward and backward. The GIN
    layers put the first linear layer before the sum when it narrows the
    features (see :class:`~fastgnn.nn.GINConv`).
    """

    def __init__(self, in_channels, hidden_channels, num_classes, num_layers=5, *, mlp_layers=2, eps=0.0,
                 train_eps=False, pool="sum", dropout=0.5, batch_norm=True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.hidden_channels = positive_int(hidden_channels, "hidden_channels")
        self.num_classes = positive_int(num_classes, "num_classes")
        self.num_layers = positive_int(num_layers, "num_layers")
        mlp_layers = positive_int(mlp_layers, "mlp_layers")
        self.dtype = check_float_dtype(dtype)
        self.dropout = _check_dropout(dropout)
        rng = init.as_rng(rng)
        norm = (lambda width: BatchNorm(width, dtype=self.dtype)) if batch_norm else None
        convs = []
        width = self.in_channels
        for _ in range(self.num_layers - 1):
            mlp = MLP([width] + [self.hidden_channels] * mlp_layers, norm=norm, plain_last=False, rng=rng,
                      dtype=self.dtype)
            convs.append(GINConv(mlp, eps=eps, train_eps=train_eps, dtype=self.dtype))
            width = self.hidden_channels
        self.convs = Sequential(*convs)
        widths = [self.in_channels] + [self.hidden_channels] * (self.num_layers - 1)
        self.pools = Sequential(*[GlobalPool(pool) for _ in widths])
        self.dropouts = Sequential(*[Dropout(self.dropout, rng=rng) for _ in widths])
        self.heads = Sequential(*[Linear(w, self.num_classes, rng=rng, dtype=self.dtype) for w in widths])
        self.pool = self.pools[0].reduce

    def forward(self, graph, x, ptr):
        """Class scores of every graph of a batch.

        Parameters
        ----------
        graph : Graph
            The batch's block-diagonal graph.
        x : ndarray (num_nodes, in_channels)
        ptr : ndarray of int (num_graphs + 1,)
            Node range of each graph.

        Returns
        -------
        ndarray (num_graphs, num_classes)
        """
        h = as_layer_input(x, "x", self.in_channels, self.dtype, type(self).__name__, graph.num_nodes)
        # The readout of the input layer pools dense rows (sparse input features are narrow one-hot
        # labels here); the first convolution still multiplies the sparse ones.
        representations = [densified(h)]
        for conv in self.convs:
            h = conv(graph, h)
            representations.append(h)
        scores = None
        for layer, h in enumerate(representations):
            pooled = self.pools[layer](h, ptr)
            if self.dropout > 0:
                pooled = self.dropouts[layer](pooled)
            layer_scores = self.heads[layer](pooled)
            if scores is None:
                scores = layer_scores
            else:
                scores += layer_scores
        return scores

    def backward(self, grad_out, need_input_grad=False):
        """Accumulate every parameter's gradient from ``grad_out = dL/d scores``.

        Parameters
        ----------
        grad_out : ndarray (num_graphs, num_classes)
        need_input_grad : bool
            Also compute ``dL/dx`` (not needed to train).

        Returns
        -------
        ndarray (num_nodes, in_channels) or None
        """
        grad_out = np.asarray(grad_out)
        representation_grads = []
        for layer in range(self.num_layers):
            needed = need_input_grad or layer > 0
            grad = self.heads[layer].backward(grad_out, need_input_grad=needed)
            if not needed:
                self.dropouts[layer].clear_cache()
                self.pools[layer].clear_cache()
                representation_grads.append(None)
                continue
            if self.dropout > 0:
                grad = self.dropouts[layer].backward(grad)
            representation_grads.append(self.pools[layer].backward(grad))
        grad = representation_grads[-1]
        for layer in range(self.num_layers - 1, 0, -1):
            needed = need_input_grad or layer > 1
            grad = self.convs[layer - 1].backward(grad, need_input_grad=needed)
            if not needed:
                return None
            grad += representation_grads[layer - 1]
        return grad

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, "
                f"num_classes={self.num_classes}, num_layers={self.num_layers}, pool={self.pool!r}, "
                f"dropout={self.dropout}")


class GNNGraphClassifier(Module):
    r"""Stacked graph convolutions, a readout and a two-layer MLP head (PyG's kernel benchmark models).

    .. math::

        h^{(k)} = \mathrm{ReLU}\big(\mathrm{conv}_k(G, h^{(k-1)})\big), \qquad
        \mathrm{scores} = W_2 \, \mathrm{dropout}\big(\mathrm{ReLU}(W_1 \,
                          \mathrm{READOUT}(h^{(K)}) + b_1)\big) + b_2

    Parameters
    ----------
    in_channels, hidden_channels, num_classes : int
    num_layers : int
        Number of convolutions.
    conv : str
        A registered convolution (:func:`fastgnn.nn.conv.conv_names`), e.g.
        ``'gcn'`` or ``'sage'``.
    pool : {'mean', 'max', 'sum', 'min'}
    aggr : str, optional
        The convolution's neighbourhood aggregation, if it takes one
        (SAGEConv's default ``'mean'``).
    conv_kwargs : dict, optional
        The convolution's own options, passed to every layer.
    dropout : float
        Before the last linear layer.
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64
    """

    def __init__(self, in_channels, hidden_channels, num_classes, num_layers=3, *, conv="gcn", pool="mean",
                 aggr=None, dropout=0.5, conv_kwargs=None, rng=None, dtype=np.float32):
        super().__init__()
        if conv not in conv_names(graph_classification=True):
            names = ", ".join(repr(name) for name in conv_names(graph_classification=True))
            raise ValueError(f"conv must be one of {names}, got {conv!r}")
        spec = get_conv(conv)
        aggr = spec.resolve_aggr(aggr)
        self.in_channels = positive_int(in_channels, "in_channels")
        self.hidden_channels = positive_int(hidden_channels, "hidden_channels")
        self.num_classes = positive_int(num_classes, "num_classes")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.conv = conv
        self.dtype = check_float_dtype(dtype)
        self.dropout = _check_dropout(dropout)
        rng = init.as_rng(rng)
        convs = []
        width = self.in_channels
        for layer in range(self.num_layers):
            options = dict(rng=rng, dtype=self.dtype, layer=layer, num_layers=self.num_layers, activation="relu")
            if aggr is not None:
                options["aggr"] = aggr
            convs.append(spec.build(width, self.hidden_channels, conv_kwargs=conv_kwargs, **options))
            width = self.hidden_channels
        self.convs = Sequential(*convs)
        self.activations = Sequential(*[ReLU() for _ in range(self.num_layers)])
        self.readout = GlobalPool(pool)
        self.pool = self.readout.reduce
        self.head = MLP([self.hidden_channels, self.hidden_channels, self.num_classes], dropout=self.dropout,
                        rng=rng, dtype=self.dtype)

    def forward(self, graph, x, ptr):
        """Class scores of every graph of a batch (see :meth:`GINGraphClassifier.forward`)."""
        h = as_layer_input(x, "x", self.in_channels, self.dtype, type(self).__name__, graph.num_nodes)
        for conv, activation in zip(self.convs, self.activations):
            h = activation(conv(graph, h))
        return self.head(self.readout(h, ptr))

    def backward(self, grad_out, need_input_grad=False):
        """Accumulate the parameter gradients; return ``dL/dx`` only with ``need_input_grad``."""
        grad = self.readout.backward(self.head.backward(grad_out))
        for layer in range(self.num_layers - 1, -1, -1):
            grad = self.activations[layer].backward(grad)
            grad = self.convs[layer].backward(grad, need_input_grad=need_input_grad or layer > 0)
        return grad

    def extra_repr(self):
        return (f"conv={self.conv!r}, in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, "
                f"num_classes={self.num_classes}, num_layers={self.num_layers}, pool={self.pool!r}, "
                f"dropout={self.dropout}")


def build_graph_classifier(model, in_channels, num_classes, *, hidden_channels=64, num_layers=None, pool=None,
                           dropout=0.5, rng=None, dtype=np.float32):
    """A graph classifier from its name.

    Parameters
    ----------
    model : str
        ``'gin'``: :class:`GINGraphClassifier` (GIN-0); any other name of
        :func:`graph_model_names` (``'gcn'``, ``'sage'``, ``'graphconv'``, or
        a registered conv): a :class:`GNNGraphClassifier` of it.
    in_channels, num_classes : int
    hidden_channels : int
    num_layers : int, optional
        Default 5 for GIN (counting the input layer, as the paper), 3
        convolutions for GCN and GraphSAGE.
    pool : {'sum', 'mean', 'max', 'min'}, optional
        Default ``'sum'`` for GIN, ``'mean'`` otherwise.
    dropout : float
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64
    """
    if model not in graph_model_names():
        raise ValueError(f"model must be one of {', '.join(repr(m) for m in graph_model_names())}, got {model!r}")
    if model == "gin":
        return GINGraphClassifier(in_channels, hidden_channels, num_classes, 5 if num_layers is None else num_layers,
                                  pool=pool or "sum", dropout=dropout, rng=rng, dtype=dtype)
    return GNNGraphClassifier(in_channels, hidden_channels, num_classes, 3 if num_layers is None else num_layers,
                              conv=model, pool=pool or "mean", dropout=dropout, rng=rng, dtype=dtype)
