"""The graph attention layer of Veličković et al.: ``h_i' = ||_h sum_j alpha_ij^h W^h x_j``."""
import numpy as np

from fastgnn.nn._matmul import matmul
from fastgnn.nn.conv._attention import (PAPER_NODE_DEFAULTS, AttentionConv, attention_glorot, project,
                                         project_backward, stack_builder)
from fastgnn.nn.linear import Linear
from fastgnn.nn.module import Parameter
from fastgnn.nn.conv.registry import register_conv
from fastgnn.nn.utils import channels_pair, split_input
from fastgnn.ops import gat_attention, gat_attention_backward

__all__ = ["GATConv"]


class GATConv(AttentionConv):
    r"""The graph attention operator of Veličković et al. (2018) (PyG's ``GATConv``).

    .. math::

        z_j = W x_j, \qquad
        e_{ij}^h = \mathrm{LeakyReLU}\big(a_{src}^h \cdot z_j^h + a_{dst}^h \cdot z_i^h\big), \qquad
        \alpha_{ij}^h = \frac{\exp e_{ij}^h}{\sum_{k \to i} \exp e_{ik}^h}, \qquad
        h_i' = \big\Vert_{h=1}^{H} \sum_{j \to i} \alpha_{ij}^h z_j^h + b

    (the mean over heads instead of the concatenation with ``concat=False``).

    Parameters
    ----------
    in_channels : int or (int, int)
        Input width, or ``(source width, destination width)``: then the two
        sides have their own weights ``lin_src`` and ``lin_dst``.
    out_channels : int
        Width ``C`` of each head.
    heads : int
        Number of attention heads ``H``.
    concat : bool
        Concatenate the heads (output width ``H C``), else average them
        (output width ``C``).
    negative_slope : float
        Slope of the LeakyReLU of the scores.
    dropout : float in [0, 1)
        Dropout probability of the attention coefficients (training mode only).
    add_self_loops : bool
        Attend over the graph with its self-loops replaced by one per node
        (:func:`~fastgnn.nn.conv._attention.gat_self_loops`, PyG's behaviour).
    bias : bool
    rng : numpy.random.Generator, int or None
        Glorot-uniform weights and attention vectors (in PyG's order), zero
        bias, then one draw: the key of the attention-dropout masks.
    dtype : float32 or float64

    Attributes
    ----------
    lin : Linear or None
        The shared weight ``W`` (``H C``, in), no bias (int ``in_channels``).
    lin_src, lin_dst : Linear or None
        The two sides' weights (pair ``in_channels``).
    att_src, att_dst : Parameter (1, H, C)
    bias : Parameter (H C,) or (C,), or None
    dropout_seed, dropout_step : int
        The key ``(seed, step)`` of the next attention-dropout mask; the
        step advances after every training-mode forward with dropout.

    Notes
    -----
    Call as ``layer(graph, x)`` or ``layer(graph, (x_src, x_dst))`` for a
    bipartite graph (an int ``in_channels`` then applies ``lin`` to both);
    the backward returns ``dL/dx`` or the pair ``(dL/dx_src, dL/dx_dst)``.
    ``layer(graph, x, return_attention_weights=True)`` returns ``(out,
    (attention_graph, alpha))``: the graph attended over (self-loops added)
    and its ``(E, H)`` coefficients in that graph's edge order, before
    dropout (PyG returns them after dropout in training mode; in eval mode
    the two agree). Parameter names and layouts are PyG 2.8's, so a PyG
    ``state_dict`` converted to NumPy loads as it is.

    A destination with no in-edge (only possible with ``add_self_loops=False``)
    receives nothing: its row of the output is the bias alone.

    The attention runs in the fused kernels :func:`fastgnn.ops.gat_attention`
    and :func:`~fastgnn.ops.gat_attention_backward` (no edges x features
    array, the dropout mask recomputed from its key). Cost
    ``O(N · in · H C + E · H C)``; memory ``O(N · H C + E · H)``.
    """

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2, dropout=0.0,
                 add_self_loops=True, bias=True, *, rng=None, dtype=np.float32):
        super().__init__()
        rng = self._setup(in_channels, out_channels, heads, concat, negative_slope, dropout, add_self_loops,
                          rng, dtype)
        self.in_src, self.in_dst = channels_pair(in_channels)
        width = self.heads * self.out_channels
        if isinstance(in_channels, (tuple, list)):
            self.lin = None
            self.lin_src = Linear(self.in_src, width, bias=False, rng=rng, dtype=self.dtype)
            self.lin_dst = Linear(self.in_dst, width, bias=False, rng=rng, dtype=self.dtype)
        else:
            self.lin = Linear(self.in_src, width, bias=False, rng=rng, dtype=self.dtype)
            self.lin_src = self.lin_dst = None
        self.att_src = Parameter(attention_glorot(self.heads, self.out_channels, rng, self.dtype))
        self.att_dst = Parameter(attention_glorot(self.heads, self.out_channels, rng, self.dtype))
        self._finish_setup(bias, rng)

    def forward(self, graph, x, return_attention_weights=False):
        """Apply the layer.

        Parameters
        ----------
        graph : Graph
        x : ndarray or SparseFeatures (num_nodes, in), or a pair (x_src, x_dst)
        return_attention_weights : bool
            Also return ``(attention_graph, alpha)`` (see the class notes).

        Returns
        -------
        ndarray (num_dst_nodes, H C) or (num_dst_nodes, C); with
        ``return_attention_weights`` the pair ``(out, (Graph, ndarray (E, H)))``.
        """
        x_src, x_dst, is_pair = split_input(graph, x, self.in_src, self.in_dst, self.dtype, type(self).__name__)
        attended = self.attention_graph(graph)
        lin_src = self.lin if self.lin is not None else self.lin_src
        lin_dst = self.lin if self.lin is not None else self.lin_dst
        z_src = project(x_src, lin_src)
        z_dst = z_src if (not is_pair and self.lin is not None) else project(x_dst, lin_dst)
        z_src3, z_dst3 = self._heads(z_src), self._heads(z_dst)
        score_src = np.einsum("nhc,hc->nh", z_src3, self.att_src.data[0])
        score_dst = np.einsum("nhc,hc->nh", z_dst3, self.att_dst.data[0])
        p, seed, step = self._dropout_key()
        out, state = gat_attention(attended, z_src3, score_src, score_dst, negative_slope=self.negative_slope,
                                   dropout=p, seed=seed, step=step)
        result = self._combine_heads(out)
        self._save_for_backward(attended, x_src, x_dst, is_pair, z_src3, z_dst3, score_src, score_dst, state)
        return self._return_attention(result, attended, state, return_attention_weights)

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate the parameter gradients; return ``dL/dx`` (a pair for pair input, None if not needed)."""
        attended, x_src, x_dst, is_pair, z_src3, z_dst3, score_src, score_dst, state = self._saved_for_backward()
        grad3 = self._split_heads_grad(grad_out, attended.num_dst_nodes)
        grad_z_src, grad_score_src, grad_score_dst = gat_attention_backward(
            attended, grad3, z_src3, score_src, score_dst, state)
        # score[n, h] = <z[n, h, :], att[h, :]>
        if self.att_src.requires_grad:
            self.att_src.grad[0] += np.einsum("nhc,nh->hc", z_src3, grad_score_src)
        if self.att_dst.requires_grad:
            self.att_dst.grad[0] += np.einsum("nhc,nh->hc", z_dst3, grad_score_dst)
        width = self.heads * self.out_channels
        if self.lin is not None and not is_pair:
            # Both scores read the same rows z: their gradients reach z in one product,
            # [grad_score_src | grad_score_dst] (N, 2H) times the (2H, H C) block rows of att_src, att_dst.
            grad_z = grad_z_src.reshape(-1, width)
            grad_z += matmul(np.concatenate([grad_score_src, grad_score_dst], axis=1), self._attention_rows())
            return project_backward(grad_z, x_src, self.lin, need_input_grad)
        grad_z_src += grad_score_src[:, :, None] * self.att_src.data
        grad_z_dst = grad_score_dst[:, :, None] * self.att_dst.data
        grad_z_src = grad_z_src.reshape(-1, width)
        grad_z_dst = grad_z_dst.reshape(-1, width)
        lin_src = self.lin if self.lin is not None else self.lin_src
        lin_dst = self.lin if self.lin is not None else self.lin_dst
        grad_x_src = project_backward(grad_z_src, x_src, lin_src, need_input_grad)
        grad_x_dst = project_backward(grad_z_dst, x_dst, lin_dst, need_input_grad)
        if not need_input_grad:
            return None
        if is_pair:
            return grad_x_src, grad_x_dst
        grad_x_src += grad_x_dst
        return grad_x_src

    def _attention_rows(self):
        """``(2H, H C)``: row ``h`` holds ``att_src[h]`` in head ``h``'s columns, row ``H + h`` ``att_dst[h]``."""
        H, C = self.heads, self.out_channels
        rows = np.zeros((2 * H, H, C), dtype=self.dtype)
        heads = np.arange(H)
        rows[heads, heads] = self.att_src.data[0]
        rows[H + heads, heads] = self.att_dst.data[0]
        return rows.reshape(2 * H, H * C)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, heads={self.heads}, concat={self.concat}, "
                f"dropout={self.dropout}, add_self_loops={self.add_self_loops}")


register_conv(
    "gat", stack_builder(GATConv), description="GAT (Veličković et al., 2018): multi-head attention over neighbours",
    node_defaults=PAPER_NODE_DEFAULTS)
