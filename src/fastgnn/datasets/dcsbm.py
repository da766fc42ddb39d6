"""Node-classification graphs from a degree-corrected stochastic block model (DC-SBM) with planted classes.

:func:`dcsbm_node_dataset` writes one straight to the on-disk folder format in
chunks of destination nodes, with memory bounded by ``O(num_nodes)`` small
per-node arrays plus one chunk (an ogbn-products-sized graph, 2.45M nodes and
61M edges with 100 float32 features, is built in 33-46 s at a peak
resident memory of 0.5 GB);
:func:`dcsbm_graph` returns the same graph, features and labels in memory,
for tests.

The model (Karrer & Newman 2011, directed, with planted classes):

1. node ``i`` gets a planted class ``c_i`` (classes balanced to within one
   node, randomly placed) and a degree propensity ``theta_i`` from a power law
   ``P(theta) ~ theta ** -degree_exponent`` (``theta >= 1``), cut at
   ``sqrt(num_nodes)`` and scaled to mean 1;
2. its in-degree is ``Poisson(avg_degree * theta_i)``;
3. each in-edge ``j -> i`` picks the source's class: ``c_i`` with
   probability ``homophily``, else one of the other classes uniformly, and
   then the source ``j`` within that class with probability proportional to
   ``theta_j`` (so out-degrees follow the same power law);
4. features are ``x_i = mu_{c_i} + feature_noise * eps_i`` with class
   centroids ``mu_c ~ N(0, I)`` and ``eps_i ~ N(0, I)``: class-correlated,
   but too noisy for a feature-only classifier to match a GNN, which
   averages the features of mostly same-class neighbours;
5. the label ``y_i`` is ``c_i``, except for a fraction ``label_noise`` of
   the nodes, labelled with another class uniformly (their edges and
   features still follow ``c_i``), as the ambiguous categories of real
   datasets. Without it a 2-layer GNN, which averages hundreds of nodes,
   classifies almost perfectly at any feature noise that leaves a
   feature-only model above chance; with it every model is capped near
   ``1 - label_noise``, and the edge homophily of the labels is about
   ``homophily * (1 - label_noise) ** 2``.

Locality below the class level (``communities=K``, ``locality=l``): K
communities are planted, each inside one class, and step 3 first keeps an
edge inside its destination's community with probability ``l`` (the source
drawn from the community in proportion to ``theta``); the other edges pick
their class as above. Without it, nearly every node has in-edges from
random nodes of other classes, so a partition of any kind leaves almost
every node in some other part's halo; real graphs (co-purchase groups,
citation fields) have such communities, which is what METIS finds.
Communities draw from streams of their own, so the graph without them is
unchanged.

With the defaults (``homophily=0.8``, ``feature_noise=3``,
``label_noise=0.2``), 20,000 nodes of average degree 25, 47 classes and 100
features, a 2-layer GraphSAGE (hidden 64, full batch) reaches 79.8 % test
accuracy and the same model without edges (features only) 43 %; on 200,000
nodes (more training nodes) 80.0 % and 57.7 % (ogbn-products: about 79 % and
61 %).

Every random draw comes from a stream keyed by ``(seed, purpose, block)``
with fixed blocks of 4096 destination nodes, so the files do not depend on
``chunk_nodes``: chunked and one-shot generation write the same bytes.
"""
import os

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.datasets.on_disk import OnDiskDataset, dataset_meta, write_splits
from fastgnn.graph import Graph
from fastgnn.graph import storage

__all__ = ["dcsbm_node_dataset", "dcsbm_graph"]

_BLOCK = 4096                  # destination nodes per random stream
_PLAN, _EDGES, _FEATURES, _COMMUNITIES, _LOCAL = 0, 1, 2, 3, 4   # purposes of the random streams
DEFAULT_FEATURE_NOISE = 3.0
DEFAULT_LABEL_NOISE = 0.2


def _stream(seed, purpose, block=0):
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(purpose, block)))


class _Plan:
    """The per-node draws of the model: classes, propensities, in-degrees, centroids and the split."""

    def __init__(self, num_nodes, avg_degree, num_classes, homophily, degree_exponent, num_features,
                 feature_noise, label_noise, seed, split, communities=None, locality=0.0):
        self.num_nodes = num_nodes = V.check_size(num_nodes, "num_nodes")
        self.num_classes = num_classes = V.check_size(num_classes, "num_classes")
        if num_classes < 1 or num_nodes < num_classes:
            raise ValueError(f"num_classes must be in [1, num_nodes={num_nodes}], got {num_classes}")
        self.num_features = V.check_size(num_features, "num_features")
        avg_degree = float(avg_degree)
        if not np.isfinite(avg_degree) or avg_degree < 0:
            raise ValueError(f"avg_degree must be a finite number >= 0, got {avg_degree}")
        self.homophily = float(homophily)
        if not 0.0 <= self.homophily <= 1.0:
            raise ValueError(f"homophily must be in [0, 1], got {homophily}")
        degree_exponent = float(degree_exponent)
        if not np.isfinite(degree_exponent) or degree_exponent <= 1.0:
            raise ValueError(f"degree_exponent must be a finite number > 1, got {degree_exponent}")
        self.feature_noise = float(feature_noise)
        if not np.isfinite(self.feature_noise) or self.feature_noise < 0:
            raise ValueError(f"feature_noise must be a finite number >= 0, got {feature_noise}")
        self.label_noise = float(label_noise)
        if not 0.0 <= self.label_noise <= 1.0:
            raise ValueError(f"label_noise must be in [0, 1], got {label_noise}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TypeError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        train, valid = (float(f) for f in split)
        if train < 0 or valid < 0 or train + valid > 1:
            raise ValueError(f"split must be (train_fraction, valid_fraction), each >= 0, summing to <= 1, "
                             f"got {split}")
        rng = _stream(self.seed, _PLAN)
        self.block = rng.permutation(np.arange(num_nodes, dtype=np.int64) % num_classes)
        theta = (1.0 - rng.random(num_nodes)) ** (-1.0 / (degree_exponent - 1.0))
        np.minimum(theta, max(np.sqrt(num_nodes), 1.0), out=theta)
        theta /= theta.mean() if num_nodes else 1.0
        self.degree = rng.poisson(avg_degree * theta).astype(np.int64)
        self.centroids = rng.standard_normal((num_classes, self.num_features)).astype(np.float32)
        order = rng.permutation(num_nodes)
        n_train, n_valid = int(round(train * num_nodes)), int(round(valid * num_nodes))
        self.split = {"train": np.sort(order[:n_train]), "valid": np.sort(order[n_train:n_train + n_valid]),
                      "test": np.sort(order[n_train + n_valid:])}
        del order
        self.y = self.block.copy()          # labels: the planted class, or another one with label_noise
        flip = np.flatnonzero(rng.random(num_nodes) < self.label_noise)
        if num_classes > 1:
            self.y[flip] = (self.block[flip] + 1 + rng.integers(0, num_classes - 1, flip.shape[0])) % num_classes
        self._plan_communities(communities, locality)
        # sources are drawn by inverting the cumulative propensity of the nodes sorted by class (and, with
        # communities, by community within the class: each community is a range inside its class's range)
        if self.community is None:
            self.by_class = np.argsort(self.block, kind="stable")
        else:
            self.by_class = np.argsort(self.community, kind="stable")     # classes stay contiguous
        self.cumulative = np.cumsum(theta[self.by_class])
        before = np.concatenate([[0.0], self.cumulative])
        self.class_start, self.class_end, self.class_low, self.class_mass = _ranges(self.block, num_classes,
                                                                                    before)
        if self.community is not None:
            (self.community_start, self.community_end, self.community_low,
             self.community_mass) = _ranges(self.community, self.communities, before)
        self.indptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(self.degree, out=self.indptr[1:])
        self.num_edges = int(self.indptr[-1])

    def _plan_communities(self, communities, locality):
        """``community`` of every node (or None): communities are numbered class by class, split evenly."""
        self.locality = float(locality)
        if not 0.0 <= self.locality <= 1.0:
            raise ValueError(f"locality must be in [0, 1], got {locality}")
        self.communities = self.community = None
        if communities is None:
            if self.locality:
                raise ValueError("locality needs communities (the number of planted communities)")
            return
        self.communities = V.check_size(communities, "communities")
        if not self.num_classes <= self.communities <= self.num_nodes:
            raise ValueError(f"communities must be in [num_classes={self.num_classes}, num_nodes={self.num_nodes}] "
                             f"(each community lies inside one class), got {communities}")
        per_class = np.full(self.num_classes, self.communities // self.num_classes, dtype=np.int64)
        per_class[:self.communities % self.num_classes] += 1
        first = np.cumsum(per_class) - per_class
        rng = _stream(self.seed, _COMMUNITIES)
        self.community = first[self.block] + rng.integers(0, per_class[self.block])

    def sources(self, lo, hi):
        """The sources of the in-edges of destinations ``[lo, hi)`` (block-aligned ``lo``), in CSR order."""
        local = np.repeat(np.arange(hi - lo, dtype=np.int64), self.degree[lo:hi])
        own = self.block[lo:hi][local]
        cls = np.empty_like(own)
        target = np.empty(own.shape[0], dtype=np.float64)
        in_community = []                                   # (edge positions, their community) per block
        for block_lo in range(lo, hi, _BLOCK):              # the draws of each block come from its stream
            block_hi = min(block_lo + _BLOCK, hi)
            first, last = (int(self.indptr[b] - self.indptr[lo]) for b in (block_lo, block_hi))
            count = last - first
            rng = _stream(self.seed, _EDGES, block_lo // _BLOCK)
            same = rng.random(count) < self.homophily
            mine = own[first:last]
            if self.num_classes > 1:
                other = (mine + 1 + rng.integers(0, self.num_classes - 1, count)) % self.num_classes
                cls[first:last] = np.where(same, mine, other)
            else:
                rng.integers(0, 1, count)          # keep the stream's layout independent of num_classes
                cls[first:last] = mine
            target[first:last] = self.class_low[cls[first:last]] + rng.random(count) * self.class_mass[
                cls[first:last]]
            if self.community is not None:      # a separate stream: the class draws above stay as they are
                local_rng = _stream(self.seed, _LOCAL, block_lo // _BLOCK)
                inside = first + np.flatnonzero(local_rng.random(count) < self.locality)
                group = self.community[lo + local[inside]]
                target[inside] = self.community_low[group] + local_rng.random(inside.shape[0]) * \
                    self.community_mass[group]
                in_community.append((inside, group))
        # invert the cumulative propensity; sorted targets make the binary searches cache-friendly
        order = np.argsort(target)
        position = np.empty(target.shape[0], dtype=np.int64)
        position[order] = np.searchsorted(self.cumulative, target[order], side="right")
        del order, target
        low, high = self.class_start[cls], self.class_end[cls] - 1
        for inside, group in in_community:
            low[inside], high[inside] = self.community_start[group], self.community_end[group] - 1
        np.clip(position, low, high, out=position)
        del low, high
        stride = max(self.num_nodes, 1)
        key = local * stride + self.by_class[position]          # sort each row by source id
        key.sort()
        return key % stride

    def features(self, lo, hi, dtype):
        """The feature rows of nodes ``[lo, hi)`` (block-aligned ``lo``)."""
        out = np.empty((hi - lo, self.num_features), dtype=dtype)
        for block_lo in range(lo, hi, _BLOCK):
            block_hi = min(block_lo + _BLOCK, hi)
            rng = _stream(self.seed, _FEATURES, block_lo // _BLOCK)
            noise = rng.standard_normal((block_hi - block_lo, self.num_features), dtype=np.float32)
            noise *= np.float32(self.feature_noise)
            noise += self.centroids[self.block[block_lo:block_hi]]
            out[block_lo - lo:block_hi - lo] = noise
        return out

    def params(self, avg_degree, degree_exponent):
        params = {"model": "dcsbm", "seed": self.seed, "num_nodes": self.num_nodes, "avg_degree": float(avg_degree),
                  "num_classes": self.num_classes, "homophily": self.homophily,
                  "degree_exponent": float(degree_exponent), "num_features": self.num_features,
                  "feature_noise": self.feature_noise, "label_noise": self.label_noise}
        if self.communities is not None:
            params.update(communities=self.communities, locality=self.locality)
        return params


def _ranges(group, num_groups, before):
    """Start, end, lower cumulative propensity and mass of every group's range of the sorted nodes."""
    sizes = np.bincount(group, minlength=num_groups)
    end = np.cumsum(sizes)
    start = end - sizes
    return start, end, before[start], before[end] - before[start]


def _chunk(chunk_nodes):
    chunk_nodes = V.check_size(chunk_nodes, "chunk_nodes")
    if chunk_nodes < 1:
        raise ValueError("chunk_nodes must be >= 1")
    return -(-chunk_nodes // _BLOCK) * _BLOCK


def _feature_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"feature_dtype must be float32 or float64, got {dtype}")
    return dtype


def dcsbm_node_dataset(out_dir, num_nodes, avg_degree, num_classes, *, homophily=0.8, degree_exponent=2.5,
                       num_features=100, feature_noise=DEFAULT_FEATURE_NOISE, label_noise=DEFAULT_LABEL_NOISE,
                       communities=None, locality=0.0, seed=0, chunk_nodes=1 << 16,
                       split=(0.1, 0.1), index_dtype=None, feature_dtype="float32", name=None, overwrite=False):
    """Write a seeded DC-SBM node-classification dataset to the folder ``out_dir``, in chunks.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The dataset folder (``docs/datasets-on-disk.md``), written atomically;
        it must not exist unless ``overwrite``.
    num_nodes : int
    avg_degree : float
        Expected in-degree (and out-degree) of a node; ``num_edges`` is about
        ``num_nodes * avg_degree``.
    num_classes : int
        Planted classes, balanced; at most ``num_nodes``.
    homophily : float in [0, 1]
        Probability that an edge's source has its destination's planted class.
    degree_exponent : float > 1
        Exponent of the power law of the degree propensities (2.5: a few
        hubs, many low-degree nodes).
    num_features : int
    feature_noise : float >= 0
        Standard deviation of the Gaussian noise around the class centroid
        (centroids are standard normal). The default 3 leaves a feature-only
        classifier well behind a 2-layer GraphSAGE (see the module notes).
    label_noise : float in [0, 1]
        Fraction of nodes labelled with another class than their planted
        one (uniformly); it caps any model's accuracy near ``1 - label_noise``.
    communities : int, optional
        Plant this many communities, each inside one class (split as evenly
        as possible among the classes; a node joins one of its class's
        communities uniformly at random): locality below the class level,
        as the co-purchase groups of a product graph. Default None: none
        (and ``locality`` must be 0). At least ``num_classes``.
    locality : float in [0, 1]
        With ``communities``: the probability that an edge's source is drawn
        from its destination's community (in proportion to ``theta``);
        the other edges follow ``homophily`` as without communities. The
        fraction of edges inside a community is then about ``locality +
        (1 - locality) * homophily * num_classes / communities``.
    seed : int
    chunk_nodes : int
        Destination nodes generated and written at a time (rounded up to a
        multiple of 4096); it bounds the memory, not the result.
    split : (float, float)
        Fractions of nodes in the random train and valid sets; the rest is
        the test set. Stored as the split ``"default"``.
    index_dtype : {None, 'int32', 'int64'}
        None picks the narrowest that fits.
    feature_dtype : {'float32', 'float64'}
    name : str, optional
        Defaults to ``"dcsbm"``.
    overwrite : bool

    Returns
    -------
    OnDiskDataset

    Notes
    -----
    Memory: about 60 bytes per node for the per-node draws plus one chunk
    of edges and feature rows; time ``O(E log V + V * num_features)``. The
    generator's parameters are recorded in ``meta.json`` under
    ``"generator"``.
    """
    plan = _Plan(num_nodes, avg_degree, num_classes, homophily, degree_exponent, num_features, feature_noise,
                 label_noise, seed, split, communities, locality)
    chunk = _chunk(chunk_nodes)
    dtype = _feature_dtype(feature_dtype)
    n = plan.num_nodes
    index = np.dtype(V.check_index_dtype(index_dtype, n, n, plan.num_edges))
    graph_meta = {"format": storage.FORMAT_NAME, "version": storage.FORMAT_VERSION, "num_nodes": n,
                  "num_dst_nodes": n, "num_src_nodes": n, "num_edges": plan.num_edges, "index_dtype": index.name,
                  "edge_weight_dtype": None}
    meta = dataset_meta(graph_meta, name="dcsbm" if name is None else name, x_shape=(n, plan.num_features),
                        x_dtype=dtype, y_shape=(n,), y_dtype=np.int64, num_classes=plan.num_classes,
                        splits=["default"], extra={"generator": plan.params(avg_degree, degree_exponent)})
    with storage.atomic_folder(out_dir, overwrite=overwrite) as folder:
        np.save(os.path.join(folder, "indptr.npy"), plan.indptr.astype(index))
        np.save(os.path.join(folder, "y.npy"), plan.y)
        write_splits(folder, {"default": plan.split})
        with storage.NpyWriter(os.path.join(folder, "indices.npy"), (plan.num_edges,), index) as indices, \
                storage.NpyWriter(os.path.join(folder, "x.npy"), (n, plan.num_features), dtype) as x:
            for lo in range(0, n, chunk):
                hi = min(lo + chunk, n)
                indices.write(plan.sources(lo, hi).astype(index))
                x.write(plan.features(lo, hi, dtype))
        storage.write_meta(folder, meta)
    return OnDiskDataset(out_dir)


def dcsbm_graph(num_nodes, avg_degree, num_classes, *, homophily=0.8, degree_exponent=2.5, num_features=16,
                feature_noise=DEFAULT_FEATURE_NOISE, label_noise=DEFAULT_LABEL_NOISE, communities=None, locality=0.0,
                seed=0, index_dtype=None, feature_dtype="float32", return_split=False):
    """A DC-SBM node-classification graph in memory (the model of :func:`dcsbm_node_dataset`).

    Same parameters and the same draws as :func:`dcsbm_node_dataset`: for
    the same arguments both give identical arrays (note the smaller default
    ``num_features`` here).

    Returns
    -------
    graph : Graph
    x : ndarray of shape (num_nodes, num_features)
    y : ndarray of int64, shape (num_nodes,)
    split : dict of int64 arrays, with ``return_split``
        ``train``, ``valid``, ``test`` node ids (fractions 0.1, 0.1, 0.8).
    """
    plan = _Plan(num_nodes, avg_degree, num_classes, homophily, degree_exponent, num_features, feature_noise,
                 label_noise, seed, (0.1, 0.1), communities, locality)
    dtype = _feature_dtype(feature_dtype)
    n = plan.num_nodes
    graph = Graph.from_csr(plan.indptr, plan.sources(0, n), num_src_nodes=n, index_dtype=index_dtype)
    x = plan.features(0, n, dtype)
    return (graph, x, plan.y, plan.split) if return_split else (graph, x, plan.y)
