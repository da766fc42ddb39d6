"""The graph isomorphism network layer: ``mlp((1 + eps) x_i + sum_j x_j)``."""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.graph import is_sparse_features
from fastgnn.nn._matmul import matmul, matmul_tn
from fastgnn.nn.utils import densified, split_input
from fastgnn.nn.conv._propagate import as_grad_out, transform_sources
from fastgnn.nn.linear import Linear
from fastgnn.nn.mlp import MLP
from fastgnn.nn.module import Module, Parameter, Sequential, _backward_without_input_grad
from fastgnn.ops import aggregate, aggregate_backward
from fastgnn.nn.conv.registry import register_conv

__all__ = ["GINConv"]


def _module_dtype(module):
    for param in module.parameters():
        return param.dtype
    return np.dtype(np.float32)


class GINConv(Module):
    r"""The graph isomorphism operator of Xu et al. (PyG's ``GINConv``).

    .. math::

        x_i' = \mathrm{mlp}\Big((1 + \epsilon) x_i + \sum_{j \to i} w_{ji} x_j\Big)

    Parameters
    ----------
    mlp : Module
        Applied to the combined features (e.g. :class:`fastgnn.nn.MLP`);
        registered as the sub-module ``nn`` as in PyG.
    eps : float
        Initial ``epsilon``.
    train_eps : bool
        Learn ``epsilon`` (a :class:`Parameter` of shape (1,)); otherwise it
        is a fixed buffer, saved in the state dict either way.
    dtype : float32 or float64, optional
        Defaults to the dtype of ``mlp``'s parameters.

    Notes
    -----
    Call as ``layer(graph, x)`` or ``layer(graph, (x_src, x_dst))`` for a
    bipartite graph (``x_dst`` is the root term); the backward returns
    ``dL/dx`` or ``(dL/dx_src, dL/dx_dst)``. The graph's edge weights, when
    present, weight the sum (PyG's ``GINConv`` ignores weights: pass an
    unweighted graph to match it).

    When ``mlp`` is a :class:`Sequential` (such as :class:`MLP`) whose first
    module is a :class:`Linear` narrowing the features (``out < in``), the
    linear layer is applied before the sum, which is linear:
    ``W((1+eps) x_i + sum_j x_j) + b = (1+eps) W x_i + sum_j W x_j + b``,
    so the aggregation moves the narrower rows. Cost
    ``O(E · min(in, hidden))`` for the aggregation plus the MLP's.
    """

    #: Every read of the source rows goes through ``aggregate`` or ``transform_sources``, which compute
    #: the rows a graph's pending-sources barrier marks ready before waiting for the others.
    honours_pending_sources = True

    def __init__(self, mlp, eps=0.0, train_eps=False, *, dtype=None):
        super().__init__()
        if not isinstance(mlp, Module):
            raise TypeError(f"GINConv: mlp must be a fastgnn.nn.Module, got {type(mlp).__name__}")
        self.nn = mlp
        self.dtype = check_float_dtype(dtype) if dtype is not None else _module_dtype(mlp)
        self.train_eps = bool(train_eps)
        self.initial_eps = float(eps)
        value = np.array([self.initial_eps], dtype=self.dtype)
        if self.train_eps:
            self.eps = Parameter(value, dtype=self.dtype)
        else:
            self.register_buffer("eps", value)
        first = self._first_linear()
        self.in_channels = first.in_features if first is not None else None

    def _first_linear(self):
        if isinstance(self.nn, Sequential) and len(self.nn) and isinstance(self.nn[0], Linear):
            return self.nn[0]
        if isinstance(self.nn, Linear):
            return self.nn
        return None

    def _eps_value(self):
        return float((self.eps.data if self.train_eps else self.eps)[0])

    def _transforms_first(self, sparse_input=False):
        first = self._first_linear()
        return (first is not None and isinstance(self.nn, Sequential)
                and (first.out_features < first.in_features or sparse_input))

    def forward(self, graph, x):
        """Apply the layer.

        Parameters
        ----------
        graph : Graph
        x : ndarray (num_nodes, in) or pair (x_src, x_dst)

        Returns
        -------
        ndarray (num_dst_nodes, mlp output width)
        """
        name = type(self).__name__
        x_src, x_dst, is_pair = split_input(graph, x, self.in_channels, self.in_channels, self.dtype, name)
        scale = self.dtype.type(1.0 + self._eps_value())
        if self._transforms_first(is_sparse_features(x_src) or is_sparse_features(x_dst)):
            linear = self.nn[0]
            weight = linear.weight.data
            product_graph, z_src = transform_sources(graph, x_src, weight.T)
            z_dst = matmul(x_dst, weight.T) if is_pair else z_src
            h = aggregate(product_graph, z_src, "sum")
            h += scale * z_dst
            if linear.bias is not None:
                h += linear.bias.data
            for module in list(self.nn)[1:]:
                h = module(h)
            self._save_for_backward(graph, True, is_pair, x_src, x_dst, z_dst if self.train_eps else None)
            return h
        # this path sums the input features first: expand sparse input once (x_dst is x_src unless a pair)
        x_src, x_dst = densified(x_src), (densified(x_dst) if is_pair else None)
        x_dst = x_src if x_dst is None else x_dst
        h = aggregate(graph, x_src, "sum")
        h += scale * x_dst
        out = self.nn(h)
        self._save_for_backward(graph, False, is_pair, None, x_dst if self.train_eps else None, None)
        return out

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate the gradients of ``mlp`` (and ``eps``); return ``dL/dx`` (a pair for pair input)."""
        graph, transformed, is_pair, x_src, x_dst, z_dst = self._saved_for_backward()
        scale = self.dtype.type(1.0 + self._eps_value())
        if transformed:
            grad = np.asarray(grad_out)
            for module in reversed(list(self.nn)[1:]):
                grad = module.backward(grad)
            grad_h = as_grad_out(grad, (graph.num_dst_nodes, self.nn[0].out_features), self.dtype,
                                 type(self).__name__)
            return self._backward_transformed(graph, grad_h, scale, is_pair, x_src, x_dst, z_dst,
                                              need_input_grad)
        if not need_input_grad and not self.train_eps:
            _backward_without_input_grad(self.nn, grad_out)
            return None
        grad_h = np.ascontiguousarray(self.nn.backward(grad_out), dtype=self.dtype)
        if self.train_eps and self.eps.requires_grad:
            self.eps.grad += np.vdot(grad_h, x_dst)
        if not need_input_grad:
            return None
        grad_src = aggregate_backward(graph, grad_h, "sum")
        grad_dst = scale * grad_h
        if is_pair:
            return grad_src, grad_dst
        grad_src += grad_dst
        return grad_src

    def _backward_transformed(self, graph, grad_h, scale, is_pair, x_src, x_dst, z_dst, need_input_grad):
        linear = self.nn[0]
        weight = linear.weight
        if linear.bias is not None and linear.bias.requires_grad:
            linear.bias.grad += grad_h.sum(axis=0)
        if self.train_eps and self.eps.requires_grad:
            self.eps.grad += np.vdot(grad_h, z_dst)
        grad_z_src = aggregate_backward(graph, grad_h, "sum")
        grad_z_dst = scale * grad_h
        if not is_pair:
            grad_z = grad_z_src
            grad_z += grad_z_dst
            if weight.requires_grad:
                weight.grad += matmul_tn(grad_z, x_src)
            return grad_z @ weight.data if need_input_grad else None
        if weight.requires_grad:
            weight.grad += matmul_tn(grad_z_src, x_src)
            weight.grad += matmul_tn(grad_z_dst, x_dst)
        if not need_input_grad:
            return None
        return grad_z_src @ weight.data, grad_z_dst @ weight.data

    def extra_repr(self):
        return f"eps={self._eps_value()}, train_eps={self.train_eps}"


def build_gin_layer(in_channels, out_channels, *, bias=True, rng=None, dtype=np.float32, layer=0, num_layers=1,
                    activation="relu", mlp_layers=2, mlp_dropout=0.0, eps=0.0, train_eps=False, **_):
    """One GIN layer of a stack: :class:`GINConv` around an :class:`~fastgnn.nn.MLP` of ``mlp_layers``.

    Hidden layers' MLPs have widths ``[in, out, ..., out]``; the last
    layer's ``[in, in, ..., out]``, so that the MLP's hidden units are not
    squeezed to the (few) classes before its activation.
    """
    mlp_layers = int(mlp_layers)
    if mlp_layers < 1:
        raise ValueError(f"mlp_layers must be >= 1, got {mlp_layers}")
    middle = in_channels if layer == num_layers - 1 and num_layers > 1 else out_channels
    mlp = MLP([in_channels] + [middle] * (mlp_layers - 1) + [out_channels], activation=activation,
              dropout=mlp_dropout, bias=bias, rng=rng, dtype=dtype)
    return GINConv(mlp, eps=eps, train_eps=train_eps, dtype=dtype)


register_conv(
    "gin", build_gin_layer, description="GIN (Xu et al., 2019): an MLP over (1 + eps) h_i + sum_j h_j",
    node_defaults=dict(hidden=64, layers=2, dropout=0.8, lr=0.005, weight_decay=5e-3, decay="all", bias=True,
                       early_stopping="patience", patience=50, epochs=200))
