r"""Graph autoencoders (Kipf and Welling, "Variational Graph Auto-Encoders", 2016).

- :class:`GAE`: a two-layer GCN encoder ``Z = Â relu(Â X W_1) W_2`` and the
  inner-product decoder ``p(A_ij = 1) = σ(z_i · z_j)``;
- :class:`VGAE`: a Gaussian encoder, ``μ = Â h W_μ``, ``log σ = Â h W_σ`` over
  ``h = relu(Â X W_1)``, and ``Z = μ + ε ⊙ σ`` with ``ε ~ N(0, I)`` drawn from
  a seeded generator in training mode (``Z = μ`` in eval mode), plus the KL
  term :meth:`VGAE.kl_loss`.

Two reconstruction losses, each a callable ``loss(z) -> (value, dL/dz)``:

- :class:`AdjacencyLoss`: the paper's weighted binary cross-entropy over all
  ``N²`` entries of ``A + I``, computed by row blocks of ``Z Z^T`` (no
  ``N x N`` matrix) plus an edge-wise correction over the positive entries;
- :class:`NegativeSamplingLoss`: the positive edges against as many non-edges,
  re-sampled at each call: ``O(E d)`` per step, for large graphs.

:func:`fastgnn.train.train_autoencoder` trains either model on a
:class:`~fastgnn.data.LinkSplit`.
"""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn._runtime import numerics
from fastgnn._runtime.numerics import sigmoid, softplus
from fastgnn.data.sampling import NegativeSampler
from fastgnn.graph import Graph
from fastgnn.nn import init
from fastgnn.nn.activation import ReLU
from fastgnn.nn.conv import GCNConv
from fastgnn.nn.dropout import Dropout
from fastgnn.nn.link import inner_product, pair_graph
from fastgnn.nn.module import Module
from fastgnn.ops import edge_dot, edge_dot_backward

__all__ = ["GAE", "VGAE", "AdjacencyLoss", "NegativeSamplingLoss", "link_logits", "MAX_LOGSTD", "FULL_LOSS_MAX_NODES"]

#: ``log σ`` is clamped at this value (as PyTorch Geometric's VGAE), so ``exp`` never overflows.
MAX_LOGSTD = 10.0

#: ``loss='auto'`` uses the full-adjacency loss up to this many nodes, negative sampling above.
FULL_LOSS_MAX_NODES = 20_000


def _as_embeddings(z, num_nodes, name):
    array = np.asarray(z)
    if array.dtype.kind != "f":
        raise TypeError(f"{name}: z must be a float array, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] != num_nodes:
        raise ValueError(f"{name}: z must have shape ({num_nodes}, d), one row per node of the graph, "
                         f"got {array.shape}")
    return np.ascontiguousarray(array)


def _distinct_edges(graph, name):
    """``(src, dst)`` int64 of the distinct edges of a square graph, loops apart: ``(src, dst, loops)``."""
    if not isinstance(graph, Graph):
        raise TypeError(f"{name}: graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if not graph.is_square:
        raise ValueError(f"{name}: needs a square graph, got {graph.num_src_nodes} source and "
                         f"{graph.num_dst_nodes} destination nodes")
    n = graph.num_nodes
    keys = np.unique(graph.indices.astype(np.int64) * n + graph.destinations().astype(np.int64))
    src, dst = keys // n, keys % n
    loop = src == dst
    return src[~loop], dst[~loop], src[loop]


# ---------------------------------------------------------------------- losses
def _sum_softplus_gram(z, block_elements):
    r"""``(Σ_ij softplus(X_ij), σ(X) Z)`` for ``X = Z Z^T``, by row blocks, without an N x N array.

    Only the blocks on and above the diagonal are formed (``X`` is
    symmetric): row block ``R = [s, t)`` against the columns ``[s, N)``.
    Without any data-dependent branch or mask (a masked select over random
    signs costs ten times a transcendental pass):

    - ``softplus(x) = max(x, 0) + log(1 + e^{-|x|})`` and
      ``Σ max(x, 0) = (Σ x + Σ |x|) / 2``, where ``Σ_{R×C} x = (Σ_R z) · (Σ_C z)``;
    - ``σ(x) = (1 + tanh(x / 2)) / 2``, so ``σ(X_RC) Z_C = (1ᵀ Z_C + tanh(X_RC / 2) Z_C) / 2``.

    Memory: two blocks of at most ``block_elements`` values.
    """
    n, width = z.shape
    dtype = z.dtype
    rows = max(1, min(n, block_elements // max(n, 1)))
    product = np.zeros((n, width), dtype=np.float64)
    total = 0.0
    half = dtype.type(0.5)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        size = stop - start
        z_rows, z_cols = z[start:stop], z[start:]
        block = z_rows @ z_cols.T                        # X[start:stop, start:], shape (size, n - start)
        work = np.abs(block)
        # weights: the diagonal sub-block once, the part right of it twice (it stands for X and X^T)
        abs_diag = float(work[:, :size].sum(dtype=dtype))
        abs_off = float(work[:, size:].sum(dtype=dtype))
        rows_sum = z_rows.sum(axis=0, dtype=np.float64)
        x_diag = float(rows_sum @ rows_sum)
        x_off = float(rows_sum @ z[stop:].sum(axis=0, dtype=np.float64))
        np.negative(work, out=work)
        np.exp(work, out=work)
        work += 1
        np.log(work, out=work)                          # log(1 + e^-|x|)
        log_diag = float(work[:, :size].sum(dtype=dtype))
        log_off = float(work[:, size:].sum(dtype=dtype))
        total += 0.5 * (x_diag + abs_diag) + log_diag + 2 * (0.5 * (x_off + abs_off) + log_off)
        np.multiply(block, half, out=block)
        np.tanh(block, out=block)                       # 2 sigma(X) - 1
        cols_sum = z_cols.sum(axis=0, dtype=np.float64)
        product[start:stop] += 0.5 * (cols_sum + block @ z_cols)
        if stop < n:
            product[stop:] += 0.5 * (rows_sum + block[:, size:].T @ z_rows)
    return total, product


class AdjacencyLoss:
    r"""The GAE paper's weighted cross-entropy over the whole adjacency, without an ``N x N`` matrix.

    With ``X = Z Z^T`` and targets ``T = A + I`` (the reference code's
    ``adj_label``; ``A`` the distinct edges of ``graph``):

    .. math::

        L = \frac{\text{norm}}{N^2} \sum_{i, j} \Big( p\, T_{ij}\, \mathrm{softplus}(-X_{ij})
            + (1 - T_{ij})\, \mathrm{softplus}(X_{ij}) \Big),
        \quad p = \frac{N^2 - |A|}{|A|},\ \ \text{norm} = \frac{N^2}{2 (N^2 - |A|)}

    as ``tf.nn.weighted_cross_entropy_with_logits`` with ``pos_weight = p``
    and the reference's ``norm``. It is computed as a sum over *all*
    entries of ``softplus(X)`` (row blocks of ``Z Z^T``) plus, over the
    positive entries only, ``(p - 1) softplus(-X) - X`` (by
    :func:`fastgnn.ops.edge_dot`). The gradient is
    ``dL/dZ = (G + G^T) Z`` with ``G = norm/N² (σ(X) + S)``, ``S`` the sparse
    correction ``-p σ(-X) - σ(X)`` on the positive entries: the dense part
    ``2 σ(X_block) Z`` block by block, the sparse part by
    :func:`fastgnn.ops.edge_dot_backward`.

    Parameters
    ----------
    graph : Graph
        The training (message-passing) graph: square; weights are ignored
        and duplicate edges count once.
    self_loops : bool
        Targets ``A + I`` (the reference's) or ``A``.
    block_elements : int
        Size of a block of ``Z Z^T`` (rows x N): the memory bound, a few
        arrays of this many elements.

    Attributes
    ----------
    pos_weight, norm : float
    num_nodes, num_edges : int
        ``num_edges`` is ``|A|`` (distinct non-loop edges plus the graph's loops).

    Notes
    -----
    Cost ``O(N² d)`` time per call, ``O(block_elements + N d + E)`` memory.
    For graphs where ``N²`` is too many, use :class:`NegativeSamplingLoss`.
    """

    def __init__(self, graph, *, self_loops=True, block_elements=1 << 19):
        name = type(self).__name__
        src, dst, loops = _distinct_edges(graph, name)
        n = graph.num_nodes
        num_edges = src.shape[0] + loops.shape[0]
        if num_edges == 0:
            raise ValueError(f"{name}: the graph has no edges, so the positive weight (non-edges / edges) "
                             "is undefined")
        if num_edges >= n * n:
            raise ValueError(f"{name}: the graph is complete (no non-edge), so the loss is undefined")
        if self_loops:
            loops = np.arange(n, dtype=np.int64)
        self.num_nodes = n
        self.num_edges = int(num_edges)
        self.self_loops = bool(self_loops)
        self.pos_weight = (n * n - num_edges) / num_edges
        self.norm = n * n / (2.0 * (n * n - num_edges))
        self.block_elements = max(int(block_elements), 1)
        self.targets = Graph.from_edge_index(np.stack([np.concatenate([src, loops]), np.concatenate([dst, loops])]),
                                             num_nodes=n)

    def __call__(self, z):
        """``(value, dL/dz)`` for embeddings ``z`` of shape (N, d)."""
        z = _as_embeddings(z, self.num_nodes, type(self).__name__)
        n = self.num_nodes
        dtype = z.dtype
        scale = self.norm / (n * n)
        pos_weight = self.pos_weight
        total, dense_grad = _sum_softplus_gram(z, self.block_elements)
        # d/dZ of sum_ij softplus(X_ij) = 2 sigma(X) Z (X symmetric)
        grad = (2 * scale * dense_grad).astype(dtype, copy=False)
        # positive entries: add (p - 1) softplus(-x) - x, and the gradient correction -p σ(-x) - σ(x)
        x = edge_dot(self.targets, z, z).astype(np.float64)
        total += float(np.sum((pos_weight - 1) * softplus(-x) - x))
        sig = sigmoid(x)
        correction = (-(pos_weight * (1 - sig) + sig) * scale).astype(dtype)
        grad_a, grad_b = edge_dot_backward(self.targets, correction, z, z)
        grad += grad_a
        grad += grad_b
        return scale * total, grad

    def __repr__(self):
        return (f"AdjacencyLoss(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
                f"pos_weight={self.pos_weight:.4g}, norm={self.norm:.4g}, self_loops={self.self_loops})")


class NegativeSamplingLoss:
    r"""Binary cross-entropy of the positive edges against sampled non-edges (PyG's ``recon_loss``).

    .. math::

        L = \frac{1}{|P|} \sum_{(j, i) \in P} \mathrm{softplus}(-z_i \cdot z_j)
          + \frac{1}{|Q|} \sum_{(j, i) \in Q} \mathrm{softplus}(z_i \cdot z_j)

    with ``P`` the distinct non-loop edges of ``graph`` and ``Q`` as many
    non-edges (no self-loops), re-sampled at every call by a
    :class:`~fastgnn.data.NegativeSampler` built once.

    Parameters
    ----------
    graph : Graph
        The training graph: its edges are the positives, and are never sampled as negatives.
    num_negatives : int, optional
        Negatives per call (default: the number of positives).
    rng : int, numpy.random.Generator or None
        The sequence of negative samples.

    Notes
    -----
    ``O((|P| + |Q|) d)`` per call for the scores and gradients (by
    :func:`fastgnn.ops.edge_dot` and its backward), plus the sampling.
    """

    def __init__(self, graph, *, num_negatives=None, rng=None):
        name = type(self).__name__
        src, dst, _ = _distinct_edges(graph, name)
        if src.shape[0] == 0:
            raise ValueError(f"{name}: the graph has no (non-loop) edges to use as positives")
        self.num_nodes = graph.num_nodes
        self.positives = Graph.from_edge_index(np.stack([src, dst]), num_nodes=self.num_nodes)
        self.sampler = NegativeSampler(graph, allow_self_loops=False)
        self.num_negatives = src.shape[0] if num_negatives is None else int(num_negatives)
        if self.num_negatives < 1:
            raise ValueError(f"{name}: num_negatives must be positive, got {num_negatives}")
        self.rng = init.as_rng(rng)

    def __call__(self, z, negative_edge_index=None):
        """``(value, dL/dz)``; ``negative_edge_index`` (2, Q) fixes the negatives instead of sampling."""
        z = _as_embeddings(z, self.num_nodes, type(self).__name__)
        if negative_edge_index is None:
            negative_edge_index = self.sampler.sample(self.num_negatives, self.rng)
        negatives = Graph.from_edge_index(negative_edge_index, num_nodes=self.num_nodes)
        total = 0.0
        grad = np.zeros_like(z)
        for graph, sign in ((self.positives, -1.0), (negatives, 1.0)):
            if graph.num_edges == 0:
                continue
            x = edge_dot(graph, z, z).astype(np.float64)
            total += float(np.mean(softplus(sign * x)))
            g = (sign * sigmoid(sign * x) / graph.num_edges).astype(z.dtype)
            grad_a, grad_b = edge_dot_backward(graph, g, z, z)
            grad += grad_a
            grad += grad_b
        return total, grad

    def __repr__(self):
        return (f"NegativeSamplingLoss(num_nodes={self.num_nodes}, positives={self.positives.num_edges}, "
                f"num_negatives={self.num_negatives})")


# ---------------------------------------------------------------------- models
class GAE(Module):
    r"""Graph autoencoder: a two-layer GCN encoder and an inner-product decoder.

    .. math::

        Z = \hat A\, \mathrm{relu}(\hat A X W_1)\, W_2,
        \qquad p(A_{ij} = 1 \mid Z) = \sigma(z_i^\top z_j)

    with ``Â = D^{-1/2} (A + I) D^{-1/2}`` of the message-passing graph.

    Parameters
    ----------
    in_channels : int
    hidden_channels, out_channels : int
        32 and 16 in the paper.
    dropout : float
        Dropout on the input of each convolution (0 in the paper).
    bias : bool
        Biases in the convolutions (the reference code has none).
    rng : numpy.random.Generator, int or None
        Glorot-uniform initial weights (and the dropout masks).
    dtype : float32 or float64

    Notes
    -----
    ``model(graph, x)`` returns ``Z`` (:meth:`encode`);
    ``backward(dL/dZ)`` fills the gradients. Score pairs with
    :meth:`decode` or :func:`link_logits`.
    """

    def __init__(self, in_channels, hidden_channels=32, out_channels=16, *, dropout=0.0, bias=False, rng=None,
                 dtype=np.float32):
        super().__init__()
        rng = init.as_rng(rng)
        self.dtype = check_float_dtype(dtype)
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.dropout_input = Dropout(dropout, rng=rng)
        self.conv1 = GCNConv(in_channels, hidden_channels, bias=bias, rng=rng, dtype=self.dtype)
        self.act = ReLU()
        self.dropout_hidden = Dropout(dropout, rng=rng)
        self._build_heads(hidden_channels, out_channels, bias, rng)

    def _build_heads(self, hidden_channels, out_channels, bias, rng):
        self.conv2 = GCNConv(hidden_channels, out_channels, bias=bias, rng=rng, dtype=self.dtype)

    def _hidden(self, graph, x):
        return self.dropout_hidden(self.act(self.conv1(graph, self.dropout_input(x))))

    def _hidden_backward(self, grad_hidden, need_input_grad):
        grad = self.act.backward(self.dropout_hidden.backward(grad_hidden))
        grad = self.conv1.backward(grad, need_input_grad=need_input_grad)
        return self.dropout_input.backward(grad) if need_input_grad else None

    def forward(self, graph, x):
        """The node embeddings ``Z``, shape (num_nodes, out_channels)."""
        return self.conv2(graph, self._hidden(graph, x))

    def encode(self, graph, x):
        """Same as calling the model: the embeddings ``Z``."""
        return self.forward(graph, x)

    def backward(self, grad_z, need_input_grad=True):
        """Accumulate the parameter gradients from ``dL/dZ``; return ``dL/dx`` (or None)."""
        return self._hidden_backward(self.conv2.backward(grad_z), need_input_grad)

    @staticmethod
    def decode(z, edge_index, sigmoid=True):
        """``σ(z_j · z_i)`` (or the logit) for each pair ``(j, i)`` of ``edge_index``; caches nothing."""
        logits = link_logits(z, edge_index)
        # the argument named ``sigmoid`` (PyG's name) hides the function here
        return numerics.sigmoid(logits).astype(logits.dtype, copy=False) if sigmoid else logits

    def extra_repr(self):
        return f"{self.in_channels}, {self.hidden_channels}, {self.out_channels}"


class VGAE(GAE):
    r"""Variational graph autoencoder: a Gaussian GCN encoder and an inner-product decoder.

    .. math::

        h = \mathrm{relu}(\hat A X W_1),\quad \mu = \hat A h W_\mu,\quad
        \log\sigma = \min(\hat A h W_\sigma, 10),\quad Z = \mu + \varepsilon \odot \sigma

    with ``ε ~ N(0, I)`` drawn from the model's generator in training mode,
    and ``Z = μ`` in eval mode. The objective of the paper's code is
    ``reconstruction + kl_loss() / N`` (:meth:`kl_loss` is the mean over
    nodes of ``KL(q(z_i) || N(0, I))``): pass ``kl_weight=1/N`` to
    :meth:`backward`.

    Parameters
    ----------
    As :class:`GAE`; ``rng`` also draws ``ε``.

    Attributes
    ----------
    mu, logstd : ndarray or None
        Of the last forward call.
    """

    def _build_heads(self, hidden_channels, out_channels, bias, rng):
        self.conv_mu = GCNConv(hidden_channels, out_channels, bias=bias, rng=rng, dtype=self.dtype)
        self.conv_logstd = GCNConv(hidden_channels, out_channels, bias=bias, rng=rng, dtype=self.dtype)
        self.rng = rng
        self.mu = None
        self.logstd = None

    def forward(self, graph, x, noise=None):
        """``Z``: a sample ``μ + ε σ`` in training mode (``noise`` fixes ``ε``), ``μ`` in eval mode."""
        hidden = self._hidden(graph, x)
        mu = self.conv_mu(graph, hidden)
        raw = self.conv_logstd(graph, hidden)
        logstd = np.minimum(raw, self.dtype.type(MAX_LOGSTD))
        self.mu, self.logstd = mu, logstd
        if not self.training:
            self._save_for_backward()
            return mu
        if noise is None:
            noise = self.rng.standard_normal(mu.shape).astype(self.dtype)
        else:
            noise = np.asarray(noise, dtype=self.dtype)
            if noise.shape != mu.shape:
                raise ValueError(f"VGAE: noise must have shape {mu.shape}, got {noise.shape}")
        std = np.exp(logstd)
        self._save_for_backward(noise, std, raw > MAX_LOGSTD)
        return mu + noise * std

    def kl_loss(self, mu=None, logstd=None):
        r"""``-1/2 mean_i Σ_k (1 + 2 log σ_ik - μ_ik² - σ_ik²)`` of the last forward (or of the given arrays)."""
        mu = self.mu if mu is None else np.asarray(mu)
        logstd = self.logstd if logstd is None else np.asarray(logstd)
        if mu is None:
            raise RuntimeError("VGAE.kl_loss needs a forward call first (or mu and logstd)")
        mu, logstd = mu.astype(np.float64), np.minimum(logstd.astype(np.float64), MAX_LOGSTD)
        terms = 1 + 2 * logstd - mu * mu - np.exp(2 * logstd)
        return float(-0.5 * np.mean(np.sum(terms, axis=1)))

    def backward(self, grad_z, need_input_grad=True, kl_weight=0.0):
        """Back-propagate ``dL/dZ`` plus the gradient of ``kl_weight * kl_loss()``; return ``dL/dx`` (or None)."""
        noise, std, clamped = self._saved_for_backward()
        mu = self.mu
        grad_z = np.asarray(grad_z, dtype=self.dtype)
        if grad_z.shape != mu.shape:
            raise ValueError(f"VGAE.backward: grad_z must have shape {mu.shape}, got {grad_z.shape}")
        grad_mu = grad_z.copy()
        grad_logstd = grad_z * noise * std
        if kl_weight:
            scale = self.dtype.type(kl_weight / mu.shape[0])
            grad_mu += scale * mu
            grad_logstd += scale * (std * std - 1)
        grad_logstd[clamped] = 0
        grad_hidden = self.conv_mu.backward(grad_mu)
        grad_hidden += self.conv_logstd.backward(grad_logstd)
        return self._hidden_backward(grad_hidden, need_input_grad)


def link_logits(z, edge_index):
    """``z_j · z_i`` for every pair ``(j, i)`` of ``edge_index`` (by :func:`fastgnn.ops.edge_dot`)."""
    z = np.ascontiguousarray(z)
    graph, order = pair_graph(edge_index, z.shape[0], z.shape[0])
    return inner_product(graph, order, z, z)
