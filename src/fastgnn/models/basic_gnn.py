"""Node-level GNNs built by stacking graph convolutions: :class:`GNNStack` and the named models.

Every model here is ``dropout -> conv -> activation`` repeated, without the
activation after the last convolution (which returns class scores, the
logits)::

    h_0 = x
    h_l = act(conv_l(graph, dropout(h_{l-1})))      for l = 1 .. L-1
    out = conv_L(graph, dropout(h_{L-1}))

This is the architecture of Kipf and Welling's GCN (dropout on the input
features and on the hidden layer) and of PyG's ``BasicGNN`` models.
"""
import numpy as np

from fastgnn._runtime.memory import discard_rows
from fastgnn._runtime.validate import check_float_dtype
from fastgnn.graph import Graph
from fastgnn.nn import init
from fastgnn.nn.activation import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Tanh, get_activation
from fastgnn.nn.conv.registry import conv_names, get_conv
from fastgnn.nn.dropout import Dropout
from fastgnn.nn.module import Module, Sequential, lowest_trainable
from fastgnn.nn.utils import Workspace
from fastgnn.ops.dense import (bias_act_dropout, bias_act_dropout_backward, pack_relu_signs,
                               relu_backward_from_signs)

__all__ = ["GNNStack", "GCN", "GraphSAGE", "GIN", "GraphConvNet", "GAT", "GATv2"]


def _hidden_sizes(hidden_channels, num_layers):
    """The widths of the hidden layers, from an int (repeated) or a list."""
    if isinstance(hidden_channels, (list, tuple)):
        sizes = [int(size) for size in hidden_channels]
        if num_layers is not None and num_layers != len(sizes) + 1:
            raise ValueError(f"hidden_channels lists {len(sizes)} hidden widths, which makes "
                             f"{len(sizes) + 1} layers, but num_layers={num_layers}")
    else:
        if num_layers is None:
            num_layers = 2
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if hidden_channels is None:
            if num_layers > 1:
                raise ValueError("hidden_channels is required when num_layers > 1")
            return []
        sizes = [int(hidden_channels)] * (int(num_layers) - 1)
    for size in sizes:
        if size < 1:
            raise ValueError(f"hidden widths must be positive, got {hidden_channels!r}")
    return sizes


class GNNStack(Module):
    r"""A stack of graph convolutions with activation and dropout between them.

    .. math::

        h_l = \sigma\big(\mathrm{conv}_l(G, \mathrm{dropout}(h_{l-1}))\big),
        \qquad \mathrm{out} = \mathrm{conv}_L(G, \mathrm{dropout}(h_{L-1}))

    Parameters
    ----------
    in_channels : int
        Width of the input features.
    hidden_channels : int, sequence of int, or None
        The width of every hidden layer (an int, repeated ``num_layers - 1``
        times), or the list of hidden widths (then ``num_layers`` is
        ``len(hidden_channels) + 1``). None only for a single layer.
    out_channels : int
        Width of the output (the number of classes for node classification).
    num_layers : int, optional
        Number of convolutions (default 2, or implied by a list of widths).
    conv : str
        A registered convolution (:func:`fastgnn.nn.conv.conv_names`):
        ``'gcn'`` (:class:`~fastgnn.nn.GCNConv`), ``'sage'``
        (:class:`~fastgnn.nn.SAGEConv`), ``'gin'`` (:class:`~fastgnn.nn.GINConv`
        around an :class:`~fastgnn.nn.MLP`), ``'graphconv'``
        (:class:`~fastgnn.nn.GraphConv`), or one you registered with
        :func:`fastgnn.nn.conv.register_conv`.
    activation : str, Module class or Module
        After every convolution but the last (see :func:`fastgnn.nn.get_activation`).
    dropout : float
        Dropout probability before every convolution but the first.
    input_dropout : float, optional
        Dropout probability on the input features, before the first
        convolution (default: ``dropout``, as in the GCN paper).
    aggr : str, optional
        The neighbourhood aggregation, for convolutions that take one
        (``sage``: default ``'mean'``; ``graphconv``: default ``'sum'``);
        ``gcn`` and ``gin`` sum and accept only None or ``'sum'``.
    conv_kwargs : dict, optional
        Options of the convolution itself, passed to every layer: e.g.
        ``cached`` for ``gcn``; ``normalize``, ``root_weight`` for ``sage``;
        ``mlp_layers``, ``mlp_dropout``, ``eps``, ``train_eps`` for ``gin``.
    **options
        More convolution options, merged into ``conv_kwargs`` (as PyG's
        ``BasicGNN`` passes its extra keyword arguments to the convolutions).
    cache_input_aggregation : bool
        Passed to the first convolution only (``sage``, ``graphconv``,
        ``gcn``): it computes the aggregation of the input features once
        and reuses it while they cannot change (the same read-only ``x``
        and graph objects, see :class:`~fastgnn.nn.SAGEConv`). With input
        dropout in training the first layer sees new features every epoch,
        so only evaluation calls use it.
    bias : bool
    rng : numpy.random.Generator, int or None
        Draws the initial weights, then the dropout masks: one seed makes a
        whole training run reproducible.
    dtype : float32 or float64

    Attributes
    ----------
    convs : Sequential
        The convolutions (a container only: call them through the model).
    activations, dropouts : Sequential
        One activation per hidden layer; one Dropout per convolution.

    Notes
    -----
    ``backward(grad_out)`` by default skips the gradient of the input
    features (it is not needed to train), so the first layer does one matrix
    product less and returns None; pass ``need_input_grad=True`` to get it.

    After every hidden convolution, its output bias (when the convolution
    hands it over: ``GCNConv``, ``SAGEConv`` without ``normalize``,
    ``GraphConv``), the activation (the built-in ones) and the next layer's
    dropout run as one compiled pass (:func:`fastgnn.ops.bias_act_dropout`),
    and their backward as one more, which also sums the bias gradient; the
    dropout mask is keyed by one draw from the dropout's generator, so it is
    the same for any thread count and is recomputed, not stored.

    Weight decay on the first layer only (the GCN paper) is one optimizer
    call away: ``Adam(model.parameter_groups(5e-4), lr=0.01)``.

    Mini-batches: ``model(blocks, x)`` runs layer ``k`` on ``blocks[k]`` of
    a sampled neighbourhood (:func:`fastgnn.data.sample_neighbors`, input
    side first, DGL's order), forward and backward, with per-batch dropout;
    :meth:`inference` evaluates the whole graph layer by layer.
    """

    #: On blocks, a ReLU step keeps the signs of its output (1 bit a value), not the output: the hidden
    #: array can go once the next layer has read it (peak memory of mini-batch training). The same bits.
    keep_signs_on_blocks = True

    def __init__(self, in_channels, hidden_channels, out_channels, num_layers=None, conv="gcn", *,
                 activation="relu", dropout=0.5, input_dropout=None, aggr=None, bias=True, conv_kwargs=None,
                 cache_input_aggregation=False, rng=None, dtype=np.float32, **options):
        super().__init__()
        if not isinstance(conv, str) or conv not in conv_names():
            raise ValueError(f"conv must be one of {', '.join(repr(c) for c in conv_names())}, got {conv!r}")
        spec = get_conv(conv)
        dtype = check_float_dtype(dtype)
        rng = init.as_rng(rng)
        dropout = float(dropout)
        input_dropout = dropout if input_dropout is None else float(input_dropout)
        for name, value in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        aggr = spec.resolve_aggr(aggr)
        conv_kwargs = {**(conv_kwargs or {}), **options}

        hidden = _hidden_sizes(hidden_channels, num_layers)
        widths = [int(in_channels)] + hidden + [int(out_channels)]
        self.in_channels = widths[0]
        self.out_channels = widths[-1]
        self.hidden_channels = hidden
        self.num_layers = len(widths) - 1
        self.conv = conv
        self.aggr = "sum" if aggr is None else aggr
        self.dtype = dtype
        self.dropout = dropout
        self.input_dropout = input_dropout

        self.conv_kwargs = conv_kwargs
        convs = []
        for layer in range(self.num_layers):
            options = dict(bias=bias, rng=rng, dtype=dtype, layer=layer, num_layers=self.num_layers,
                           activation=activation)
            if aggr is not None:
                options["aggr"] = aggr
            layer_kwargs = conv_kwargs
            if layer == 0 and cache_input_aggregation is not False:
                layer_kwargs = {**conv_kwargs, "cache_input_aggregation": cache_input_aggregation}
            convs.append(spec.build(widths[layer], widths[layer + 1], conv_kwargs=layer_kwargs, **options))
        if cache_input_aggregation is not False and not getattr(convs[0], "cache_input_aggregation", False):
            raise ValueError(f"cache_input_aggregation: conv={conv!r} has no cached input aggregation "
                             "(sage, graphconv and gcn have)")
        self.convs = Sequential(*convs)
        self.activations = Sequential(*[get_activation(activation) if not isinstance(activation, Module)
                                        else _copy_module(activation)
                                        for _ in range(self.num_layers - 1)])
        self.dropouts = Sequential(*[Dropout(input_dropout if layer == 0 else dropout, rng=rng)
                                     for layer in range(self.num_layers)])
        self._fused = [_fused_step(self.convs[layer], self.activations[layer])
                       for layer in range(self.num_layers - 1)]
        self._fused_states = [None] * (self.num_layers - 1)
        self._block_layers = False
        # The output of a dropout that is not fused (the input features'), reused from call to call
        # while the convolution above it keeps it for its backward (else let go after its forward).
        self._dropout_outputs = [Workspace() for _ in range(self.num_layers)]

    # ------------------------------------------------------------------ computation
    def forward(self, graph, x, *, discard_input=False):
        """Class scores (logits) of every node, or of the seeds of a list of sampled blocks.

        Parameters
        ----------
        graph : Graph, or list of Graph
            The graph, or one bipartite block per layer, input side first
            (DGL's order, :attr:`fastgnn.data.SampledSubgraph.blocks`):
            layer ``k`` runs on ``blocks[k]`` with the pair
            ``(h, h[:blocks[k].num_dst_nodes])``, the destination nodes of a
            block being the first of its source nodes.
        x : ndarray (num_nodes, in_channels)
            The features of the graph's nodes, or of ``blocks[0]``'s source
            nodes (:attr:`fastgnn.data.MiniBatch.x`).
        discard_input : bool
            On blocks: ``x`` is not read again after this call, so the first
            layer may release the memory of the rows it is done with (all of
            them after an input dropout; else those past
            ``blocks[0].num_dst_nodes``, once aggregated, when the layer
            aggregates first). Only features gathered by a sampling loader
            (:class:`fastgnn.data.NeighborLoader`) are ever released, and
            their released rows read as zeros afterwards; any other ``x``
            is left as it is. The results are the same. Mini-batch training
            (:func:`fastgnn.train.train_node_classifier_minibatch`) passes
            it: the batch's input rows are the largest array of a step.

        Returns
        -------
        ndarray (num_nodes, out_channels)
            One row per node, or per destination node of ``blocks[-1]``
            (the seeds of a mini-batch).
        """
        blocks = self._check_blocks(graph, x) if isinstance(graph, (list, tuple)) else None
        self._block_layers = blocks is not None
        discard_input = bool(discard_input) and blocks is not None
        if discard_input:
            blocks[0] = blocks[0].with_discardable_sources()
        h = x
        del x
        for layer in range(self.num_layers):
            h = self._layer_forward(layer, graph if blocks is None else blocks[layer], h, blocks is not None,
                                    discard_input and layer == 0)
        return h

    def inference(self, graph, x, *, batch_size=1024, n_threads=None):
        """Class scores of every node, layer by layer over node batches (DGL's ``inference``).

        Parameters
        ----------
        graph : Graph
            A square graph (the whole graph, not sampled).
        x : ndarray (num_nodes, in_channels), np.memmap, or SparseFeatures
            Read only by rows, ``batch_size`` nodes' in-neighbourhoods at a
            time (a memory-mapped feature file is never read whole).
        batch_size : int
            Destination nodes per block.
        n_threads : int, optional
            The kernels' threads (default: :func:`fastgnn.get_num_threads`).

        Returns
        -------
        ndarray (num_nodes, out_channels)
            The same as ``model(graph, x)`` in eval mode: every layer
            aggregates each node's full in-neighbourhood, in the graph's
            edge order, so the sums are those of the full-graph forward.

        Notes
        -----
        Layer ``l`` runs over all nodes before layer ``l + 1`` starts: the
        nodes ``[s, s + batch_size)`` and their in-neighbours form one block
        (:func:`fastgnn.models.layerwise.full_neighbour_block`), and the
        layer's rows of the batch go into the next layer's input. Only two
        layers' activations of the whole graph are held at once (plus one
        batch's block and rows), never the activations of every layer. A
        convolution whose normalization depends on the whole graph (GCN's
        degrees) provides ``layerwise_source(graph)``: the graph the blocks
        are cut from (already normalized) and a context in which the layer
        aggregates the blocks' weights as they are. Eval mode (no dropout)
        for the duration; the previous mode is restored. Cost: one
        full-graph forward, plus ``O(E log E)`` to build the blocks per layer.
        """
        from fastgnn.models.layerwise import check_batch_size, layerwise_inference

        batch_size = check_batch_size(batch_size)
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
        if not graph.is_square:
            raise ValueError(f"inference needs a square graph, got {graph.num_src_nodes} source and "
                             f"{graph.num_dst_nodes} destination nodes")
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) != 2 or shape[0] != graph.num_nodes or shape[1] != self.in_channels:
            raise ValueError(f"x must have shape ({graph.num_nodes}, {self.in_channels}), one row per node of the "
                             f"graph, got {shape}")
        if getattr(x, "dtype", np.dtype(np.float64)).kind != "f":
            raise TypeError(f"x must hold float features, got dtype {x.dtype}")
        return layerwise_inference(self, graph, x, batch_size, n_threads)

    def _layer_forward(self, layer, graph, h, on_block, discard_input=False):
        """Dropout (unless fused with the step below), convolution, then activation or the fused step."""
        dropout = self.dropouts[layer]
        drops_here = dropout.p > 0 and not self.dropout_is_fused(layer)
        if drops_here:
            out = None
            if dropout.training and isinstance(h, np.ndarray):
                out = self._dropout_outputs[layer].get(h.shape, h.dtype)
            dropped = dropout(h, out=out)
            if discard_input and dropped is not h:
                discard_rows(h, 0)      # nothing reads the input again: the convolution gets the dropped copy
            h = dropped
            del out, dropped
        if on_block:
            h_dst = h[:graph.num_dst_nodes]
            if layer and self.training:
                # a copy: a layer keeping its destination rows (a root weight's input) then does not keep the
                # whole hidden array alive through the backward (mini-batches: a few times its rows)
                h_dst = np.array(h_dst, order="C")
            h = self.convs[layer](graph, (h, h_dst))
            del h_dst
        else:
            h = self.convs[layer](graph, h)
        if drops_here:
            # Kept only when the convolution keeps its input for the backward anyway (transform first).
            self._dropout_outputs[layer].release_unless_viewed()
        if layer < self.num_layers - 1:
            h = self.post_conv(layer, h)
        return h

    # ------------------------------------------------------------------ per-layer hooks (for runners)
    def dropout_is_fused(self, layer):
        """Whether the dropout before convolution ``layer`` runs inside :meth:`post_conv` ``(layer - 1)``.

        A runner that drives the layers itself (e.g. the partitioned
        trainer of :mod:`fastgnn.distributed`, which exchanges rows between
        the steps) calls ``dropouts[layer]`` itself only when this is False.
        """
        return 0 < layer < self.num_layers and self._fused[layer - 1] is not None

    def post_conv(self, layer, z, row_ids=None, out=None):
        """What follows hidden convolution ``layer``: its activation (and output bias), then the next dropout if fused.

        Parameters
        ----------
        layer : int
            A hidden layer, ``0 <= layer < num_layers - 1``.
        z : ndarray (rows, width)
            The convolution's output.
        row_ids : ndarray of int (rows,), optional
            Key the fused dropout's mask of row ``i`` as row ``row_ids[i]``
            (:func:`fastgnn.ops.bias_act_dropout`): a partitioned runner
            passes the global node ids, so the masks are those of one process.
        out : ndarray, optional
            C-contiguous, of ``z``'s shape and dtype, sharing no memory with
            ``z``: the result is written there (e.g. the front rows of an
            array with room for a partition's halo rows) and returned. It
            must not be modified before :meth:`post_conv_backward`.

        Returns
        -------
        ndarray
            The next convolution's input (already dropped out when
            :meth:`dropout_is_fused` ``(layer + 1)``). In training mode the
            state for :meth:`post_conv_backward` is kept.
        """
        if self._fused[layer] is None:
            h = self.activations[layer](z)
            if out is None:
                return h
            out[...] = h
            return out
        return self._fused_forward(layer, z, row_ids, out)

    def post_conv_backward(self, layer, grad):
        """The gradient of :meth:`post_conv` ``(layer, z)`` with respect to ``z`` (and its bias's, accumulated)."""
        if self._fused[layer] is None:
            return self.activations[layer].backward(grad)
        return self._fused_backward(layer, grad)

    def _check_blocks(self, blocks, x):
        """``blocks`` as a list of chained blocks, one per layer, or a ValueError/TypeError naming it."""
        blocks = list(blocks)
        if len(blocks) != self.num_layers:
            raise ValueError(f"blocks must hold one block per layer ({self.num_layers}), got {len(blocks)}")
        for k, block in enumerate(blocks):
            if not isinstance(block, Graph):
                raise TypeError(f"blocks[{k}] must be a fastgnn.Graph, got {type(block).__name__}")
            if block.num_dst_nodes > block.num_src_nodes:
                raise ValueError(f"blocks[{k}] has more destination ({block.num_dst_nodes}) than source nodes "
                                 f"({block.num_src_nodes}); a block's destinations come first among its sources")
            if k and blocks[k - 1].num_dst_nodes != block.num_src_nodes:
                raise ValueError(f"blocks[{k - 1}] has {blocks[k - 1].num_dst_nodes} destination nodes but "
                                 f"blocks[{k}] {block.num_src_nodes} source nodes; they must be the same nodes")
        rows = getattr(x, "shape", (None,))[0]
        if rows != blocks[0].num_src_nodes:
            raise ValueError(f"x must have one row per source node of blocks[0] ({blocks[0].num_src_nodes}), "
                             f"got shape {getattr(x, 'shape', None)}")
        return blocks

    def _fused_forward(self, layer, z, row_ids=None, out=None):
        """``dropout_{layer+1}(act(z + bias))`` in one pass (the state kept for the backward in training)."""
        bias, activation, options, inplace = self._fused[layer]
        dropout = self.dropouts[layer + 1]
        training = self.training and dropout.p > 0
        h, state = bias_act_dropout(z, None if bias is None else bias.data, activation, p=dropout.p,
                                    seed=dropout.draw_seed() if training else 0, training=training, out=out,
                                    inplace=inplace and out is None, row_ids=row_ids if training else None,
                                    **options)
        if (self.training and self._block_layers and self.keep_signs_on_blocks and state.activation == "relu"
                and state.saved is h):
            # on blocks the next layer needs few of these rows: keep the output's signs, not the output
            state = (state, pack_relu_signs(state))
            state[0].saved = None
        self._fused_states[layer] = state if self.training else None
        return h

    def _fused_backward(self, layer, grad):
        bias, _, _, inplace = self._fused[layer]
        state = self._fused_states[layer]
        if state is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no training-mode forward to differentiate")
        self._fused_states[layer] = None
        need_bias = bias is not None and bias.requires_grad
        # the gradient from the layer above is that layer's own fresh array: overwrite it
        out = grad if inplace and _writeable(grad) else None
        if isinstance(state, tuple):
            grad, grad_bias = relu_backward_from_signs(grad, *state, need_bias_grad=need_bias, out=out)
        else:
            grad, grad_bias = bias_act_dropout_backward(grad, state, need_bias_grad=need_bias, out=out)
        if need_bias:
            bias.grad += grad_bias
        return grad

    def _clear_extra_cache(self):
        self._fused_states = [None] * (self.num_layers - 1)
        self._block_layers = False
        for workspace in self._dropout_outputs:
            workspace.release()

    def backward(self, grad_out, need_input_grad=False):
        """Accumulate every parameter's gradient from ``grad_out = dL/d logits``.

        Parameters
        ----------
        grad_out : ndarray (num_nodes, out_channels)
        need_input_grad : bool
            Also compute ``dL/dx`` (not needed to train the model).

        Returns
        -------
        ndarray (num_nodes, in_channels) or None
        """
        grad = grad_out
        # Frozen layers at the bottom of the stack get no backward at all (nothing to train there).
        lowest = 0 if need_input_grad else lowest_trainable(list(self.convs))
        for layer in range(lowest):
            self.convs[layer].clear_cache()
            self.dropouts[layer].clear_cache()
            if layer < self.num_layers - 1:
                self.activations[layer].clear_cache()
                self._fused_states[layer] = None
        if lowest == self.num_layers:
            return None
        for layer in range(self.num_layers - 1, lowest - 1, -1):
            if layer < self.num_layers - 1:
                grad = self.post_conv_backward(layer, grad)
            needed = need_input_grad or layer > lowest
            grad = self.convs[layer].backward(grad, need_input_grad=needed)
            if needed and self._block_layers:
                grad = _merge_pair_grad(grad)
            dropout = self.dropouts[layer]
            if self.dropout_is_fused(layer):
                if not needed:
                    self._fused_states[layer - 1] = None   # its state is not needed: release it now
                continue                                   # this dropout is part of the fused step below
            if dropout.p > 0:
                if needed:
                    grad = dropout.backward(grad)
                else:
                    dropout.clear_cache()   # its mask is not needed: release it now
        return grad

    # ------------------------------------------------------------------ optimizer helpers
    def first_layer_parameters(self):
        """The parameters of the first convolution (the GCN paper decays only these)."""
        return self.convs[0].parameters()

    def parameter_groups(self, weight_decay, first_layer_only=True):
        """Optimizer parameter groups with weight decay on the first layer (or on every layer).

        Parameters
        ----------
        weight_decay : float
            L2 penalty of the decayed group.
        first_layer_only : bool
            Decay only the first convolution's parameters, as the GCN paper
            (Kipf and Welling, 2017); the other parameters get no decay.

        Returns
        -------
        list of dict
            For :class:`fastgnn.optim.Adam` and the other optimizers, e.g.
            ``Adam(model.parameter_groups(5e-4), lr=0.01)``.
        """
        if not first_layer_only:
            return [{"params": self.parameters(), "weight_decay": float(weight_decay)}]
        first = self.first_layer_parameters()
        first_ids = {id(param) for param in first}
        rest = [param for param in self.parameters() if id(param) not in first_ids]
        groups = [{"params": first, "weight_decay": float(weight_decay)}]
        if rest:
            groups.append({"params": rest, "weight_decay": 0.0})
        return groups

    def reseed(self, rng):
        """Draw the dropout masks from ``rng`` (a Generator or a seed) from now on; returns self."""
        rng = init.as_rng(rng)
        for dropout in self.dropouts:
            dropout.rng = rng
        return self

    def extra_repr(self):
        widths = [self.in_channels] + self.hidden_channels + [self.out_channels]
        return (f"conv={self.conv!r}, widths={widths}, aggr={self.aggr!r}, dropout={self.dropout}, "
                f"input_dropout={self.input_dropout}")


# The activation modules the fused step computes, as (name of bias_act_dropout, options).
_FUSABLE = {
    Identity: lambda m: ("identity", {}),
    ReLU: lambda m: ("relu", {}),
    LeakyReLU: lambda m: ("leaky_relu", {"negative_slope": m.negative_slope}),
    ELU: lambda m: ("elu", {"alpha": m.alpha}),
    Tanh: lambda m: ("tanh", {}),
    Sigmoid: lambda m: ("sigmoid", {}),
}


def _fused_step(conv, activation):
    """``(bias, activation name, options, inplace)`` of the fused step after ``conv``, or None.

    None when the activation is not a built-in one (a subclass may behave
    differently). ``bias`` is the conv's output bias when it hands it over
    (see :class:`fastgnn.nn.conv.OutputBias`); ``inplace`` when the conv
    keeps no reference to its output, which the step may then overwrite.
    """
    describe = _FUSABLE.get(type(activation))
    if describe is None:
        return None
    name, options = describe(activation)
    hand_over = getattr(conv, "hand_over_output_bias", None)
    bias, inplace = hand_over() if hand_over is not None else (None, False)
    return bias, name, options, inplace


def _merge_pair_grad(grad):
    """``dL/dh`` from the pair ``(dL/dh_src, dL/dh_dst)`` of a block layer (``h_dst = h_src[:num_dst]``)."""
    grad_src, grad_dst = grad
    if not _writeable(grad_src) or np.shares_memory(grad_src, grad_dst):
        grad_src = np.array(grad_src, order="C")
    grad_src[:grad_dst.shape[0]] += grad_dst
    return grad_src


def _writeable(array):
    return isinstance(array, np.ndarray) and array.flags.writeable and array.flags.c_contiguous


def _copy_module(module):
    import copy

    return copy.deepcopy(module)


class GCN(GNNStack):
    """Kipf and Welling's graph convolutional network (ICLR 2017).

    Two :class:`~fastgnn.nn.GCNConv` layers by default, ReLU between them,
    dropout on the input features and on the hidden layer. The paper's
    hyperparameters for the Planetoid datasets: ``hidden_channels=16``,
    ``dropout=0.5``, Adam with lr 0.01 and weight decay 5e-4 on the first
    layer only (``Adam(model.parameter_groups(5e-4), lr=0.01)``), row-normalised
    features, at most 200 epochs with early stopping (window 10) on the
    validation loss.

    Parameters
    ----------
    in_channels, out_channels : int
    hidden_channels : int or sequence of int
    num_layers : int, optional
    dropout : float
    cached : bool
        Keep each layer's normalized graph between calls on the same graph
        (recommended for transductive training).
    **kwargs
        See :class:`GNNStack` (``activation``, ``input_dropout``, ``bias``,
        ``rng``, ``dtype``).

    Examples
    --------
    >>> from fastgnn.datasets import load_cora
    >>> from fastgnn.models import GCN
    >>> cora = load_cora(normalize_features=True)
    >>> model = GCN(cora.num_features, 16, cora.num_classes, cached=True, rng=0)
    >>> model.convs[0]
    GCNConv(1433, 16
      (lin): Linear(in_features=1433, out_features=16, bias=False)
    )
    >>> logits = model.eval()(cora.graph, cora.x)
    >>> logits.shape
    (2708, 7)
    """

    def __init__(self, in_channels, hidden_channels=16, out_channels=None, num_layers=None, *, dropout=0.5,
                 cached=False, **kwargs):
        if out_channels is None:
            raise TypeError("GCN needs out_channels (the number of classes)")
        super().__init__(in_channels, hidden_channels, out_channels, num_layers, conv="gcn",
                         dropout=dropout, cached=cached, **kwargs)


class GraphSAGE(GNNStack):
    """GraphSAGE (Hamilton et al., 2017): stacked :class:`~fastgnn.nn.SAGEConv` layers.

    Parameters
    ----------
    in_channels, out_channels : int
    hidden_channels : int or sequence of int
    num_layers : int, optional
    aggr : {'mean', 'max', 'min', 'sum'}
    dropout : float
    normalize, root_weight : bool
        See :class:`~fastgnn.nn.SAGEConv`.
    **kwargs
        See :class:`GNNStack`.
    """

    def __init__(self, in_channels, hidden_channels=64, out_channels=None, num_layers=None, *, aggr="mean",
                 dropout=0.5, **kwargs):
        if out_channels is None:
            raise TypeError("GraphSAGE needs out_channels (the number of classes)")
        super().__init__(in_channels, hidden_channels, out_channels, num_layers, conv="sage", aggr=aggr,
                         dropout=dropout, **kwargs)


class GIN(GNNStack):
    """The graph isomorphism network (Xu et al., 2019) for node classification.

    Each layer is :class:`~fastgnn.nn.GINConv` around an
    :class:`~fastgnn.nn.MLP` of ``mlp_layers`` linear layers, ReLU between
    them: widths ``[in, hidden, ..., hidden]`` in the hidden layers, as
    PyG's ``GIN``, and ``[hidden, hidden, ..., out]`` in the last layer (PyG
    uses ``[hidden, out, out]``, which puts a ReLU on as many units as there
    are classes; that trains poorly on Cora).

    Parameters
    ----------
    in_channels, out_channels : int
    hidden_channels : int or sequence of int
    num_layers : int, optional
    mlp_layers : int
    mlp_dropout : float
        Dropout after each hidden activation inside the MLPs.
    eps, train_eps : float, bool
    dropout : float
    **kwargs
        See :class:`GNNStack`.
    """

    def __init__(self, in_channels, hidden_channels=64, out_channels=None, num_layers=None, *, mlp_layers=2,
                 mlp_dropout=0.0, eps=0.0, train_eps=False, dropout=0.5, **kwargs):
        if out_channels is None:
            raise TypeError("GIN needs out_channels (the number of classes)")
        super().__init__(in_channels, hidden_channels, out_channels, num_layers, conv="gin",
                         mlp_layers=mlp_layers, mlp_dropout=mlp_dropout, eps=eps, train_eps=train_eps, dropout=dropout, **kwargs)


class GraphConvNet(GNNStack):
    """Stacked :class:`~fastgnn.nn.GraphConv` layers, ``W1 h_i + W2 AGG_j h_j``, with aggr sum/mean/max/min.

    Parameters
    ----------
    in_channels, out_channels : int
    hidden_channels : int or sequence of int
    num_layers : int, optional
    aggr : {'sum', 'mean', 'max', 'min'}
    dropout : float
    **kwargs
        See :class:`GNNStack`.
    """

    def __init__(self, in_channels, hidden_channels=64, out_channels=None, num_layers=None, *, aggr="sum",
                 dropout=0.5, **kwargs):
        if out_channels is None:
            raise TypeError("GraphConvNet needs out_channels (the number of classes)")
        super().__init__(in_channels, hidden_channels, out_channels, num_layers, conv="graphconv",
                         aggr=aggr, dropout=dropout, **kwargs)


class GAT(GNNStack):
    """The graph attention network (Veličković et al., 2018): stacked :class:`~fastgnn.nn.GATConv` layers.

    The paper's architecture for Cora by default: ``heads`` heads of
    ``hidden_channels`` units in every hidden layer (concatenated, so the
    next layer reads ``heads * hidden_channels`` features), ELU between the
    layers, and a last layer of ``output_heads`` heads averaged into
    ``out_channels`` scores; dropout 0.6 on every layer's input and on the
    attention coefficients. The paper trains it with Adam (lr 0.005, weight
    decay 5e-4 on every parameter) and early stopping with patience 100
    (``python -m fastgnn train --model gat``).

    Parameters
    ----------
    in_channels, out_channels : int
    hidden_channels : int or sequence of int
        Units per head of each hidden layer.
    num_layers : int, optional
    heads : int
        Heads of the hidden layers.
    output_heads : int
        Heads of the last layer (averaged).
    dropout : float
        Dropout on the input of every layer.
    attention_dropout : float, optional
        Dropout of the attention coefficients (default: ``dropout``).
    activation : str or Module
        Between the layers (default ``'elu'``, as the paper).
    conv_kwargs : dict, optional
        More :class:`~fastgnn.nn.GATConv` options (``negative_slope``,
        ``add_self_loops``).
    **kwargs
        See :class:`GNNStack` (``input_dropout``, ``bias``, ``rng``, ``dtype``).
    """

    conv_name = "gat"

    def __init__(self, in_channels, hidden_channels=8, out_channels=None, num_layers=None, *, heads=8,
                 output_heads=1, dropout=0.6, attention_dropout=None, activation="elu", **kwargs):
        if out_channels is None:
            raise TypeError(f"{type(self).__name__} needs out_channels (the number of classes)")
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        super().__init__(in_channels, hidden_channels, out_channels, num_layers, conv=self.conv_name,
                         dropout=dropout, activation=activation, heads=heads, output_heads=output_heads,
                         attention_dropout=attention_dropout, **kwargs)
        self.heads = int(heads)
        self.output_heads = int(output_heads)


class GATv2(GAT):
    """GATv2 (Brody et al., 2022): stacked :class:`~fastgnn.nn.GATv2Conv` layers, otherwise as :class:`GAT`.

    Parameters
    ----------
    See :class:`GAT`; ``conv_kwargs`` may add ``share_weights``.
    """

    conv_name = "gatv2"
