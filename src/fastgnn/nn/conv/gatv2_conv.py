"""GATv2 of Brody et al.: ``e_ij = a · LeakyReLU(W_r x_i + W_l x_j)``, dynamic attention."""
import numpy as np

from fastgnn.nn.conv._attention import (PAPER_NODE_DEFAULTS, AttentionConv, attention_glorot, project,
                                         project_backward, stack_builder)
from fastgnn.nn.linear import Linear
from fastgnn.nn.module import Parameter
from fastgnn.nn.conv.registry import register_conv
from fastgnn.nn.utils import channels_pair, split_input
from fastgnn.ops import gatv2_attention, gatv2_attention_backward

__all__ = ["GATv2Conv"]


class GATv2Conv(AttentionConv):
    r"""The GATv2 operator of Brody et al. (2022) (PyG's ``GATv2Conv``).

    .. math::

        e_{ij}^h = a^h \cdot \mathrm{LeakyReLU}\big(W_r^h x_i + b_r^h + W_l^h x_j + b_l^h\big), \qquad
        \alpha_{ij}^h = \operatorname{softmax}_{j \to i} e_{ij}^h, \qquad
        h_i' = \big\Vert_{h=1}^{H} \sum_{j \to i} \alpha_{ij}^h (W_l^h x_j + b_l^h) + b

    (the mean over heads instead of the concatenation with ``concat=False``).

    Parameters
    ----------
    in_channels : int or (int, int)
        Input width, or ``(source width, destination width)``.
    out_channels : int
        Width ``C`` of each head.
    heads : int
    concat : bool
        Concatenate the heads (width ``H C``), else average them (width ``C``).
    negative_slope : float
    dropout : float in [0, 1)
        Dropout probability of the attention coefficients (training mode only).
    add_self_loops : bool
        Attend over the graph with its self-loops replaced by one per node
        (PyG's behaviour).
    bias : bool
        Biases of ``lin_l``, ``lin_r`` and of the output, as PyG.
    share_weights : bool
        One weight for both sides: ``lin_r`` is ``lin_l`` (not stored twice).
    rng : numpy.random.Generator, int or None
        Glorot-uniform weights and attention vector (PyG's order), zero
        biases, then one draw: the key of the attention-dropout masks.
    dtype : float32 or float64

    Attributes
    ----------
    lin_l, lin_r : Linear
        Source side (whose output is aggregated) and destination side.
    att : Parameter (1, H, C)
    bias : Parameter (H C,) or (C,), or None
    dropout_seed, dropout_step : int
        The key of the next attention-dropout mask (see :class:`GATConv`).

    Notes
    -----
    Call as ``layer(graph, x)`` or ``layer(graph, (x_src, x_dst))``; the
    backward returns ``dL/dx`` or the pair. ``return_attention_weights=True``
    returns ``(out, (attention_graph, alpha))`` as :class:`GATConv` does.
    With ``share_weights`` the state dict holds ``lin_l.*`` only; a PyG
    state dict (which repeats them as ``lin_r.*``) still loads: the
    repeated entries must equal ``lin_l``'s.

    The attention runs in the fused kernels :func:`fastgnn.ops.gatv2_attention`
    and :func:`~fastgnn.ops.gatv2_attention_backward`, which recompute
    ``LeakyReLU(x_i + x_j)`` per edge instead of storing an edges x
    features array. Cost ``O(N · in · H C + E · H C)``; memory
    ``O(N · H C + E · H)``.
    """

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2, dropout=0.0,
                 add_self_loops=True, bias=True, share_weights=False, *, rng=None, dtype=np.float32):
        super().__init__()
        rng = self._setup(in_channels, out_channels, heads, concat, negative_slope, dropout, add_self_loops,
                          rng, dtype)
        self.in_src, self.in_dst = channels_pair(in_channels)
        self.share_weights = bool(share_weights)
        if self.share_weights and self.in_src != self.in_dst:
            raise ValueError(f"GATv2Conv: share_weights needs equal source and destination widths, got "
                             f"{in_channels}")
        width = self.heads * self.out_channels
        self.lin_l = Linear(self.in_src, width, bias=bias, rng=rng, dtype=self.dtype)
        if self.share_weights:
            object.__setattr__(self, "lin_r", self.lin_l)     # an alias: registered (and saved) once
        else:
            self.lin_r = Linear(self.in_dst, width, bias=bias, rng=rng, dtype=self.dtype)
        self.att = Parameter(attention_glorot(self.heads, self.out_channels, rng, self.dtype))
        self._finish_setup(bias, rng)

    def forward(self, graph, x, return_attention_weights=False):
        """Apply the layer.

        Parameters
        ----------
        graph : Graph
        x : ndarray or SparseFeatures (num_nodes, in), or a pair (x_src, x_dst)
        return_attention_weights : bool
            Also return ``(attention_graph, alpha)``.

        Returns
        -------
        ndarray (num_dst_nodes, H C) or (num_dst_nodes, C); with
        ``return_attention_weights`` the pair ``(out, (Graph, ndarray (E, H)))``.
        """
        x_src, x_dst, is_pair = split_input(graph, x, self.in_src, self.in_dst, self.dtype, type(self).__name__)
        attended = self.attention_graph(graph)
        z_src = self._heads(project(x_src, self.lin_l))
        z_dst = z_src if (self.share_weights and not is_pair) else self._heads(project(x_dst, self.lin_r))
        p, seed, step = self._dropout_key()
        out, state = gatv2_attention(attended, z_src, z_dst, self.att.data[0], negative_slope=self.negative_slope,
                                     dropout=p, seed=seed, step=step)
        result = self._combine_heads(out)
        self._save_for_backward(attended, x_src, x_dst, is_pair, z_src, z_dst, state)
        return self._return_attention(result, attended, state, return_attention_weights)

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate the parameter gradients; return ``dL/dx`` (a pair for pair input, None if not needed)."""
        attended, x_src, x_dst, is_pair, z_src, z_dst, state = self._saved_for_backward()
        grad3 = self._split_heads_grad(grad_out, attended.num_dst_nodes)
        grad_z_src, grad_z_dst, grad_att = gatv2_attention_backward(attended, grad3, z_src, z_dst,
                                                                    self.att.data[0], state)
        if self.att.requires_grad:
            self.att.grad[0] += grad_att
        width = self.heads * self.out_channels
        grad_z_src = grad_z_src.reshape(-1, width)
        grad_z_dst = grad_z_dst.reshape(-1, width)
        if self.share_weights and not is_pair:
            grad_z_src += grad_z_dst
            return project_backward(grad_z_src, x_src, self.lin_l, need_input_grad)
        grad_x_src = project_backward(grad_z_src, x_src, self.lin_l, need_input_grad)
        grad_x_dst = project_backward(grad_z_dst, x_dst, self.lin_r, need_input_grad)
        if not need_input_grad:
            return None
        if is_pair:
            return grad_x_src, grad_x_dst
        grad_x_src += grad_x_dst
        return grad_x_src

    def load_state_dict(self, state_dict, strict=True):
        """:meth:`Module.load_state_dict`, also taking PyG's repeated ``lin_r.*`` entries under ``share_weights``.

        With ``share_weights`` a ``lin_r.<name>`` entry must equal
        ``lin_l.<name>`` (``ValueError`` otherwise) and is then dropped.
        """
        if self.share_weights and hasattr(state_dict, "keys") and hasattr(state_dict, "__getitem__"):
            state = {}
            for key in state_dict.keys():
                if key.startswith("lin_r."):
                    twin = "lin_l." + key[len("lin_r."):]
                    if twin in state_dict and not np.array_equal(np.asarray(state_dict[key]),
                                                                np.asarray(state_dict[twin])):
                        raise ValueError(f"load_state_dict: {key} differs from {twin}, but share_weights=True "
                                         "makes them one parameter")
                    if twin in state_dict:
                        continue
                state[key] = state_dict[key]
            state_dict = state
        return super().load_state_dict(state_dict, strict=strict)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, heads={self.heads}, concat={self.concat}, "
                f"dropout={self.dropout}, add_self_loops={self.add_self_loops}, "
                f"share_weights={self.share_weights}")


register_conv(
    "gatv2", stack_builder(GATv2Conv),
    description="GATv2 (Brody et al., 2022): dynamic multi-head attention over neighbours",
    node_defaults=PAPER_NODE_DEFAULTS)
