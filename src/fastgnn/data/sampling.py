"""Negative sampling: node pairs that are *not* edges of a graph.

:func:`negative_sampling` draws ``num`` distinct non-edges uniformly at
random; :class:`NegativeSampler` does the same repeatedly for one graph (it
keeps the sorted edge keys, so a per-epoch resample of a large graph costs
``O(num log E)``, not a new sort of the edges).

A pair ``(j, i)`` is identified by its *key* ``j * num_dst_nodes + i`` (an
int64; for ``undirected=True`` the key of ``(min, max)``). Sampling is
vectorised rejection: draw a batch of random keys, drop self-loops, drop the
keys of existing edges (a binary search in the sorted edge keys) and keys
already drawn, keep the first ``num`` distinct survivors in drawing order. On
small or dense graphs, where rejection would waste most draws, every
non-edge key is enumerated and ``num`` of them are chosen without
replacement. Both give a uniform random subset of the non-edges.
"""
import math

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.random import as_generator
from fastgnn.graph import Graph

__all__ = ["NegativeSampler", "negative_sampling"]

# Enumerate the candidate keys instead of rejecting when there are at most this many ...
_ENUMERATE_MAX_CANDIDATES = 1 << 23
# ... and the non-edges are scarce: fewer than this fraction of the candidates, or fewer than 4 * num.
_ENUMERATE_BELOW_FRACTION = 0.25
# At most this many random pairs per rejection round (bounded memory).
_MAX_DRAWS_PER_ROUND = 1 << 22


class NegativeSampler:
    """Draws non-edges of one graph, as often as asked (e.g. once per training epoch).

    Parameters
    ----------
    graph : Graph
        Its edges (any weights ignored) are never returned. May be bipartite
        (``num_src_nodes != num_dst_nodes``): pairs are then (source,
        destination) of the two node sets.
    allow_self_loops : bool
        Whether pairs ``(i, i)`` may be returned (square graphs; a bipartite
        graph has no self-loops).
    undirected : bool
        Sample unordered pairs ``{i, j}``, returned as ``(min, max)``, that
        are edges in neither direction (square graphs only).

    Attributes
    ----------
    num_candidates : int
        Number of pairs a sample is drawn from (self-loops included or not).
    num_available : int
        Number of those pairs that are not edges: the most one call can return.

    Notes
    -----
    Building costs ``O(E)`` (``O(E log E)`` when the edges are not already in
    key order) and keeps ``E`` int64 keys; each :meth:`sample` costs
    ``O(num log E)`` expected time on a sparse graph.
    """

    def __init__(self, graph, *, allow_self_loops=False, undirected=False):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
        self.num_src_nodes = graph.num_src_nodes
        self.num_dst_nodes = graph.num_dst_nodes
        self.square = graph.is_square
        self.undirected = bool(undirected)
        self.allow_self_loops = bool(allow_self_loops) or not self.square
        if self.undirected and not self.square:
            raise ValueError(f"undirected sampling needs a square graph, got {graph.num_src_nodes} source "
                             f"and {graph.num_dst_nodes} destination nodes")
        if self.num_src_nodes and self.num_dst_nodes > (np.iinfo(np.int64).max // self.num_src_nodes):
            raise ValueError("graph is too large for int64 pair keys")
        src = graph.indices.astype(np.int64)
        dst = graph.destinations().astype(np.int64)
        if not self.allow_self_loops:
            keep = src != dst
            src, dst = src[keep], dst[keep]
        if self.undirected:
            src, dst = np.minimum(src, dst), np.maximum(src, dst)
        keys = src * self.num_dst_nodes + dst
        if keys.size > 1 and np.any(keys[1:] < keys[:-1]):
            keys = np.sort(keys)
        if keys.size > 1:
            keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        self._edge_keys = keys
        n = self.num_dst_nodes
        if self.undirected:
            candidates = n * (n - 1) // 2 + (n if self.allow_self_loops else 0)
        else:
            candidates = self.num_src_nodes * n - (0 if self.allow_self_loops else n)
        self.num_candidates = candidates
        self.num_available = candidates - int(keys.size)
        self._num_edges = int(keys.size)

    # ------------------------------------------------------------------ public
    def sample(self, num, rng=None):
        """``num`` distinct non-edges, uniformly at random.

        Parameters
        ----------
        num : int
        rng : int, numpy.random.Generator or None
            A Generator is advanced (pass the same one every epoch for a
            reproducible sequence of samples).

        Returns
        -------
        ndarray of int64, shape (2, num)
            Row 0 sources, row 1 destinations, in random order; with
            ``undirected=True`` each column is ``(min, max)``.

        Raises
        ------
        ValueError
            When fewer than ``num`` non-edges exist (e.g. a complete graph).
        """
        num = V.check_size(num, "num")
        rng = as_generator(rng)
        if num > self.num_available:
            raise ValueError(self._impossible_message(num))
        if num == 0:
            return np.zeros((2, 0), dtype=np.int64)
        if (self.num_candidates <= _ENUMERATE_MAX_CANDIDATES
                and (self.num_available < _ENUMERATE_BELOW_FRACTION * self.num_candidates
                     or self.num_available < 4 * num)):
            keys = self._sample_by_enumeration(num, rng)
        else:
            keys = self._sample_by_rejection(num, rng)
        return np.stack([keys // self.num_dst_nodes, keys % self.num_dst_nodes])

    def is_edge(self, edge_index):
        """Whether each column ``(j, i)`` of ``edge_index`` is an edge of the graph (the excluded set).

        With ``undirected=True`` a pair is an edge when either direction is;
        self-loops count as edges only with ``allow_self_loops=True``.
        Ids must be in range (``ValueError`` otherwise) and of an integer dtype.
        """
        edge_index = V.as_index_array(edge_index, "edge_index")
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, num_pairs), got {edge_index.shape}")
        V.check_ids_in_range(edge_index[0], self.num_src_nodes, "edge_index[0] (sources)")
        V.check_ids_in_range(edge_index[1], self.num_dst_nodes, "edge_index[1] (destinations)")
        src, dst = edge_index.astype(np.int64)
        if self.undirected:
            src, dst = np.minimum(src, dst), np.maximum(src, dst)
        return self._contains(src * self.num_dst_nodes + dst)

    def __repr__(self):
        return (f"NegativeSampler(num_src_nodes={self.num_src_nodes}, num_dst_nodes={self.num_dst_nodes}, "
                f"num_edges={self._num_edges}, num_available={self.num_available}, "
                f"undirected={self.undirected}, allow_self_loops={self.allow_self_loops})")

    # ------------------------------------------------------------------ private
    def _impossible_message(self, num):
        kind = "unordered pairs" if self.undirected else "pairs"
        loops = "" if self.allow_self_loops else ", self-loops excluded"
        if self.num_available == 0:
            return (f"negative sampling is impossible: the graph has no non-edge (every one of its "
                    f"{self.num_candidates} {kind}{loops} is an edge: a complete graph); asked for {num}")
        return (f"negative sampling: asked for {num} non-edges, but the graph has only {self.num_available} "
                f"({self.num_candidates} {kind}{loops}, {self._num_edges} of them edges)")

    def _contains(self, keys):
        edge_keys = self._edge_keys
        if edge_keys.size == 0:
            return np.zeros(keys.shape, dtype=bool)
        position = np.searchsorted(edge_keys, keys)
        np.minimum(position, edge_keys.size - 1, out=position)
        return edge_keys[position] == keys

    def _candidate_keys(self):
        n = self.num_dst_nodes
        if self.undirected:
            offset = 0 if self.allow_self_loops else 1
            rows, cols = np.triu_indices(n, k=offset)
            keys = rows.astype(np.int64) * n + cols
        else:
            keys = np.arange(self.num_src_nodes * n, dtype=np.int64)
            if not self.allow_self_loops:
                keys = keys[(keys // n) != (keys % n)]
        return keys

    def _sample_by_enumeration(self, num, rng):
        keys = self._candidate_keys()
        keys = keys[~self._contains(keys)]
        return rng.choice(keys, size=num, replace=False, shuffle=True)

    def _draw(self, count, rng):
        """``count`` random candidate pair keys (some rejected by the caller)."""
        n = self.num_dst_nodes
        src = rng.integers(0, self.num_src_nodes, size=count, dtype=np.int64)
        dst = rng.integers(0, n, size=count, dtype=np.int64)
        if self.undirected:
            keep = src < dst if not self.allow_self_loops else src <= dst
            src, dst = src[keep], dst[keep]
        elif not self.allow_self_loops:
            keep = src != dst
            src, dst = src[keep], dst[keep]
        return src * n + dst

    def _sample_by_rejection(self, num, rng):
        # fraction of raw draws that survive: the candidate fraction times the non-edge fraction
        space = self.num_src_nodes * self.num_dst_nodes
        survive = self.num_available / space
        accepted = np.zeros(0, dtype=np.int64)
        while accepted.size < num:
            need = num - accepted.size
            count = min(_MAX_DRAWS_PER_ROUND, int(math.ceil(need / survive * 1.1)) + 64)
            keys = self._draw(count, rng)
            keys = keys[~self._contains(keys)]
            keys = np.concatenate([accepted, keys])
            _, first = np.unique(keys, return_index=True)
            first.sort()  # distinct keys in the order they were drawn: a uniform subset
            accepted = keys[first[:num]]
        return accepted


def negative_sampling(graph, num, rng=None, *, allow_self_loops=False, undirected=False):
    """``num`` distinct node pairs that are not edges of ``graph``, uniformly at random.

    Parameters
    ----------
    graph : Graph
        Square, or bipartite (pairs are then (source, destination)).
    num : int
        Number of pairs.
    rng : int, numpy.random.Generator or None
    allow_self_loops : bool
        Whether ``(i, i)`` may be returned.
    undirected : bool
        Unordered pairs, returned as ``(min, max)``, that are edges in
        neither direction.

    Returns
    -------
    ndarray of int64, shape (2, num)
        Row 0 sources, row 1 destinations.

    Raises
    ------
    ValueError
        When fewer than ``num`` non-edges exist (a complete graph has none).

    Notes
    -----
    Vectorised rejection sampling against the sorted int64 keys of the
    edges (see the module documentation): ``O(E)`` to build the key set,
    ``O(num log E)`` expected to sample from a sparse graph. To resample
    from one graph many times, build a :class:`NegativeSampler` once.
    """
    sampler = NegativeSampler(graph, allow_self_loops=allow_self_loops, undirected=undirected)
    return sampler.sample(num, rng)
