"""Pure-NumPy reference of neighbour sampling: the oracle the compiled sampler matches exactly.

Everything here works on plain destination-major CSR arrays (``indptr``,
``indices``, optional float ``edge_weight``) and returns new arrays.

The random stream (counter-based, so a sample never depends on threads,
batch composition or order). With ``sm`` the splitmix64 finalizer
(``z = x + 0x9E3779B97F4A7C15``, then the usual two xor-shift-multiplies),
all arithmetic modulo ``2**64``:

* ``layer_key = sm(sm(sm(seed) ^ epoch) ^ layer)``, ``layer`` counted from
  the seeds outward (0 for the seeds' own in-neighbours);
* ``node_key = sm(layer_key ^ node)`` for the global node id ``node``;
* draw ``t`` of a node: ``r_t = sm(node_key + t * 0x9E3779B97F4A7C15)``
  (the splitmix64 stream started at ``node_key``).

An integer in ``[0, n)`` from ``r``: ``(r * n) >> 64`` (Lemire's
multiply-high, bias below ``n / 2**64``) when ``n < 2**32``, else
``r % n``. A real in ``[0, 1)``: ``(r >> 11) * 2**-53``.

Per frontier node of degree ``d`` (positions ``0 .. d-1`` of its row) and
fan-out ``k`` (``-1``: every edge of the row, in row order):

* uniform without replacement, ``d <= k``: every position; else Floyd's
  algorithm: for ``t = 0 .. k-1``, ``j = d - k + t``, ``p`` uniform in
  ``[0, j]`` from ``r_t``; add ``p``, or ``j`` when ``p`` was already
  chosen. The ``k`` positions are returned sorted (CSR order).
* uniform with replacement: ``k`` positions uniform in ``[0, d)`` from
  ``r_0 .. r_{k-1}`` (none when ``d == 0``), sorted.
* weighted (weights as float64, ``c`` their running sum in row order, an
  edge of weight 0 is never drawn): a draw takes the first position whose
  running sum exceeds ``u_t * c[-1]``, ``u_t`` the real of ``r_t`` (the last
  position of positive weight if rounding leaves none). With replacement:
  ``k`` draws over the whole row (none when no weight is positive). Without
  replacement: every positive-weight position when there are at most
  ``k``; else ``k`` successive draws, each over the row with the weights
  already drawn set to 0 (sums recomputed in row order). Sorted.

Relabelling of one layer: the destination nodes (the frontier, distinct)
take local ids ``0 .. n_dst-1`` in their order; the sources of the sampled
edges, read in block CSR order, that are not yet numbered take the next ids
in first-seen order. The block's source nodes are those ids in that order,
and they are the next layer's frontier.
"""
import numpy as np

__all__ = ["GOLDEN", "splitmix64", "layer_key", "node_keys", "draws", "bounded", "unit_real",
           "sample_positions", "sample_layer", "relabel", "sample_blocks"]

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_U64 = np.uint64


def splitmix64(x):
    """The splitmix64 step (add the golden ratio, then mix) of a uint64 array or a Python int."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, np.ndarray):
        z = (int(x) + GOLDEN) & MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)
    z = np.asarray(x, dtype=_U64) + _U64(GOLDEN)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def layer_key(seed, epoch, layer):
    """The key of one (seed, epoch, layer), a Python int in ``[0, 2**64)``."""
    return splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ layer)


def node_keys(key, nodes):
    """The key of each node (uint64 array) for a layer key."""
    return splitmix64(_U64(key) ^ np.asarray(nodes, dtype=np.int64).astype(_U64))


def draws(keys, t):
    """Draw ``t`` (an int) of the stream of each key: ``sm(key + t * golden)``."""
    return splitmix64(keys + _U64((t * GOLDEN) & MASK64))


def bounded(r, n):
    """Integers in ``[0, n)`` from uint64 draws ``r`` (``n`` >= 1, array or int)."""
    r = np.asarray(r, dtype=_U64)
    n = np.broadcast_to(np.asarray(n, dtype=_U64), r.shape)
    high, low = r >> _U64(32), r & _U64(0xFFFFFFFF)
    small = (high * n + ((low * n) >> _U64(32))) >> _U64(32)  # (r * n) >> 64 for n < 2**32
    safe_n = np.where(n == 0, _U64(1), n)
    return np.where(n < _U64(1 << 32), small, r % safe_n).astype(np.int64)


def unit_real(r):
    """Reals in ``[0, 1)`` from uint64 draws: ``(r >> 11) * 2**-53``."""
    return (np.asarray(r, dtype=_U64) >> _U64(11)).astype(np.float64) * (2.0 ** -53)


def _weighted_pick(weights, target):
    """First position whose running sum exceeds ``target``, else the last positive weight."""
    running = np.cumsum(weights)
    above = np.flatnonzero(running > target)
    if above.size:
        return int(above[0])
    return int(np.flatnonzero(weights > 0)[-1])


def sample_positions(degree, key, fanout, replace=False, weights=None):
    """Sorted positions (int64) sampled from one row: the definition, node by node.

    Parameters
    ----------
    degree : int
    key : int
        The node's key (``node_keys``).
    fanout : int
        ``k >= 1`` or ``-1`` (every position).
    replace : bool
    weights : ndarray of float64, shape (degree,), optional
        Weighted sampling when given.
    """
    keys = np.array([key], dtype=_U64)
    if fanout == -1:
        return np.arange(degree, dtype=np.int64)
    if weights is None:
        if degree == 0:
            return np.zeros(0, dtype=np.int64)
        if replace:
            return np.sort(np.array([bounded(draws(keys, t), degree)[0] for t in range(fanout)], dtype=np.int64))
        if degree <= fanout:
            return np.arange(degree, dtype=np.int64)
        chosen = []
        for t in range(fanout):
            j = degree - fanout + t
            p = int(bounded(draws(keys, t), j + 1)[0])
            chosen.append(j if p in chosen else p)
        return np.sort(np.array(chosen, dtype=np.int64))
    weights = np.array(weights, dtype=np.float64)
    positive = np.flatnonzero(weights > 0)
    if positive.size == 0:
        return np.zeros(0, dtype=np.int64)
    if replace:
        picks = []
        for t in range(fanout):
            total = np.cumsum(weights)[-1]
            picks.append(_weighted_pick(weights, unit_real(draws(keys, t))[0] * total))
        return np.sort(np.array(picks, dtype=np.int64))
    if positive.size <= fanout:
        return positive.astype(np.int64)
    picks = []
    for t in range(fanout):
        total = np.cumsum(weights)[-1]
        p = _weighted_pick(weights, unit_real(draws(keys, t))[0] * total)
        picks.append(p)
        weights[p] = 0.0
    return np.sort(np.array(picks, dtype=np.int64))


def _ranges(starts, lengths):
    """The concatenation of ``arange(s, s + l)`` for each pair (int64)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, lengths) + np.arange(total, dtype=np.int64)


def _uniform_without_replacement(degree, keys, fanout):
    """Floyd's algorithm over many rows at once (all with ``degree > fanout``): (m, fanout) sorted positions."""
    m = degree.shape[0]
    chosen = np.empty((m, fanout), dtype=np.int64)
    for t in range(fanout):
        j = degree - fanout + t
        p = bounded(draws(keys, t), j + 1)
        repeated = (chosen[:, :t] == p[:, None]).any(axis=1)
        chosen[:, t] = np.where(repeated, j, p)
    chosen.sort(axis=1)
    return chosen


def sample_layer(indptr, nodes, fanout, key, *, replace=False, edge_weight=None):
    """The sampled edges of one layer: ``(counts, edge_ids)``.

    ``counts[i]`` edges for ``nodes[i]``, whose edge ids (positions in
    ``indices``, int64, sorted within each node) follow in node order.
    Uniform sampling is vectorised over the nodes (it gives the same result
    as :func:`sample_positions` node by node); weighted sampling loops.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    starts = np.asarray(indptr[nodes], dtype=np.int64)
    degree = np.asarray(indptr[nodes + 1], dtype=np.int64) - starts
    keys = node_keys(key, nodes)
    if edge_weight is not None and fanout != -1:
        pieces = [starts[i] + sample_positions(int(degree[i]), int(keys[i]), fanout, replace,
                                               edge_weight[starts[i]:starts[i] + degree[i]])
                  for i in range(nodes.shape[0])]
        counts = np.array([p.shape[0] for p in pieces], dtype=np.int64)
        edge_ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        return counts, edge_ids.astype(np.int64)
    if fanout == -1:
        return degree, _ranges(starts, degree)
    if replace:
        counts = np.where(degree > 0, fanout, 0).astype(np.int64)
        rows = np.flatnonzero(degree > 0)
        picks = np.empty((rows.shape[0], fanout), dtype=np.int64)
        for t in range(fanout):
            picks[:, t] = bounded(draws(keys[rows], t), degree[rows])
        picks.sort(axis=1)
        edge_ids = np.empty(int(counts.sum()), dtype=np.int64)
        out_start = np.cumsum(counts) - counts
        edge_ids[(out_start[rows][:, None] + np.arange(fanout)).ravel()] = (starts[rows][:, None] + picks).ravel()
        return counts, edge_ids
    counts = np.minimum(degree, fanout)
    edge_ids = np.empty(int(counts.sum()), dtype=np.int64)
    out_start = np.cumsum(counts) - counts
    whole = degree <= fanout
    positions = _ranges(out_start[whole], counts[whole])
    edge_ids[positions] = _ranges(starts[whole], degree[whole])
    rows = np.flatnonzero(~whole)
    if rows.size:
        picks = _uniform_without_replacement(degree[rows], keys[rows], fanout)
        edge_ids[(out_start[rows][:, None] + np.arange(fanout)).ravel()] = (starts[rows][:, None] + picks).ravel()
    return counts, edge_ids


def relabel(dst_nodes, sources):
    """``(src_nodes, local_sources)``: destinations first, then new sources in first-seen order."""
    dst_nodes = np.asarray(dst_nodes, dtype=np.int64)
    combined = np.concatenate([dst_nodes, np.asarray(sources, dtype=np.int64)])
    if combined.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    unique, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    local = rank[inverse.ravel()]
    return unique[order], local[dst_nodes.shape[0]:]


def sample_blocks(indptr, indices, seeds, fanouts, *, replace=False, edge_weight=None, seed=0, epoch=0):
    """All layers, from the seeds outward, returned input side first.

    Returns
    -------
    list of (block_indptr, block_indices, src_nodes, edge_ids, num_dst)
        One tuple per block, ``blocks[0]`` consuming the input features;
        ``block_indptr`` and ``block_indices`` are int64, ``src_nodes`` and
        ``edge_ids`` int64 global ids.
    """
    frontier = np.asarray(seeds, dtype=np.int64)
    weights = None if edge_weight is None else np.asarray(edge_weight, dtype=np.float64)
    out = []
    for layer, fanout in enumerate(fanouts):
        counts, edge_ids = sample_layer(indptr, frontier, int(fanout), layer_key(seed, epoch, layer),
                                        replace=replace, edge_weight=weights)
        src_nodes, local = relabel(frontier, np.asarray(indices)[edge_ids])
        block_indptr = np.zeros(frontier.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=block_indptr[1:])
        out.append((block_indptr, local.astype(np.int64), src_nodes, edge_ids, frontier.shape[0]))
        frontier = src_nodes
    return out[::-1]
