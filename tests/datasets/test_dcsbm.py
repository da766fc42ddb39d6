"""The DC-SBM generator: reproducible, chunk-independent, with the homophily, degrees and features asked for."""
import hashlib
import json
import os

import numpy as np
import pytest

from fastgnn.datasets import OnDiskDataset, dcsbm_graph, dcsbm_node_dataset
from fastgnn.datasets.dcsbm import _Plan


def _files(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, folder)] = handle.read()
    return out


def test_chunked_and_one_shot_write_identical_files(tmp_path):
    kwargs = dict(num_nodes=10_000, avg_degree=6, num_classes=4, num_features=8, seed=3)
    dcsbm_node_dataset(tmp_path / "chunked", chunk_nodes=1000, **kwargs)      # rounded up to 4096
    dcsbm_node_dataset(tmp_path / "one_shot", chunk_nodes=1 << 20, **kwargs)
    chunked, one_shot = _files(tmp_path / "chunked"), _files(tmp_path / "one_shot")
    assert sorted(chunked) == sorted(one_shot) == sorted(
        ["meta.json", "indptr.npy", "indices.npy", "x.npy", "y.npy", "split/default/train.npy",
         "split/default/valid.npy", "split/default/test.npy"])
    assert chunked == one_shot


def test_reproducible_and_seeded(tmp_path):
    kwargs = dict(num_nodes=3000, avg_degree=5, num_classes=3, num_features=4)
    dcsbm_node_dataset(tmp_path / "a", seed=1, **kwargs)
    dcsbm_node_dataset(tmp_path / "b", seed=1, **kwargs)
    dcsbm_node_dataset(tmp_path / "c", seed=2, **kwargs)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert a == b
    assert a["indices.npy"] != c["indices.npy"] and a["x.npy"] != c["x.npy"]


def test_in_memory_variant_matches_the_folder(tmp_path, index_dtype):
    data = dcsbm_node_dataset(tmp_path / "d", 5000, 7, 5, num_features=6, seed=4, index_dtype=index_dtype)
    graph, x, y, split = dcsbm_graph(5000, 7, 5, num_features=6, seed=4, index_dtype=index_dtype,
                                     return_split=True)
    assert data.graph == graph and graph.index_dtype == index_dtype == data.graph.index_dtype
    assert np.array_equal(data.x, x) and np.array_equal(data.y, y)
    for part, ids in data.split().items():
        assert np.array_equal(ids, split[part])
    float64 = dcsbm_graph(5000, 7, 5, num_features=6, seed=4, feature_dtype="float64")[1]
    assert float64.dtype == np.float64 and np.array_equal(float64.astype(np.float32), x)


def test_folder_contents_and_meta(tmp_path):
    data = dcsbm_node_dataset(tmp_path / "d", 2000, 4, 3, num_features=5, seed=0, split=(0.5, 0.25))
    assert isinstance(data, OnDiskDataset) and isinstance(data.x, np.memmap)
    assert data.x.shape == (2000, 5) and data.x.dtype == np.float32
    assert data.num_classes == 3 and data.name == "dcsbm"
    parts = data.split()
    assert [len(parts[p]) for p in ("train", "valid", "test")] == [1000, 500, 500]
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(2000))
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["generator"]["model"] == "dcsbm" and meta["generator"]["homophily"] == 0.8
    assert meta["num_edges"] == data.graph.num_edges
    assert data.graph.index_dtype == np.int32


def test_homophily_degrees_and_classes():
    n, avg, classes = 40_000, 20, 8
    graph, x, y = dcsbm_graph(n, avg, classes, homophily=0.7, degree_exponent=2.5, num_features=16,
                              label_noise=0.0, seed=0)
    src = graph.indices.astype(np.int64)
    dst = graph.destinations().astype(np.int64)
    assert abs(graph.num_edges / n - avg) < 0.03 * avg
    assert abs(np.mean(y[src] == y[dst]) - 0.7) < 0.01            # edge homophily as asked
    counts = np.bincount(y, minlength=classes)
    assert counts.max() - counts.min() <= 1                        # balanced planted classes
    in_degree, out_degree = graph.in_degree(), graph.out_degree()
    # heavy tail: hubs far above the median, and in- and out-degrees driven by the same propensity
    assert np.percentile(in_degree, 99.9) > 6 * np.median(in_degree)
    assert np.corrcoef(in_degree, out_degree)[0, 1] > 0.8
    # the tail of the propensities follows the power law: Hill's estimate of the exponent over the top 2 %
    top = np.sort(in_degree)[-int(0.02 * n):].astype(np.float64)
    hill = 1 + 1 / np.mean(np.log(top / top[0]))
    assert 2.0 < hill < 3.2
    # a steeper law gives a lighter tail
    steep = dcsbm_graph(n, avg, classes, degree_exponent=4.0, num_features=1, seed=0)[0].in_degree()
    assert np.percentile(steep, 99.9) < np.percentile(in_degree, 99.9)
    # features: class means sit near distinct centroids, so a nearest-class-mean rule beats chance
    means = np.stack([x[y == c].mean(axis=0) for c in range(classes)])
    guess = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert 0.3 < np.mean(guess == y) < 0.99


def test_label_noise_and_homophily_extremes():
    clean = dcsbm_graph(20_000, 5, 10, num_features=1, label_noise=0.0, seed=5)
    noisy = dcsbm_graph(20_000, 5, 10, num_features=1, label_noise=0.3, seed=5)
    assert clean[0] == noisy[0]                                    # same graph, only labels differ
    assert abs(np.mean(clean[2] != noisy[2]) - 0.3) < 0.015
    for homophily, expected in ((1.0, 1.0), (0.0, 0.0)):
        graph, _, y = dcsbm_graph(3000, 5, 4, homophily=homophily, num_features=1, label_noise=0.0, seed=1)
        assert np.mean(y[graph.indices] == y[graph.destinations()]) == expected


def test_edge_cases():
    graph, x, y = dcsbm_graph(5, 0, 1, num_features=3)
    assert graph.num_edges == 0 and x.shape == (5, 3) and np.all(y == 0)
    graph, x, y = dcsbm_graph(3, 4, 3, num_features=0)
    assert x.shape == (3, 0) and sorted(y.tolist()) == [0, 1, 2]
    assert np.all(np.diff(graph.indices[graph.indptr[0]:graph.indptr[1]]) >= 0)   # rows sorted by source


def test_default_output_is_pinned():
    # the bytes the generator gave before communities existed: options added later must not change them
    graph, x, y = dcsbm_graph(3000, 10, 5, seed=3)
    digest = hashlib.sha256()
    for array in (graph.indptr, graph.indices, x, y):
        digest.update(array.tobytes())
    assert digest.hexdigest() == "e5ac53c46d82db68370ac087b8c6dccec74b1fab9168524ee5aaedbebba6fb44"


@pytest.mark.parametrize("communities, locality", [(120, 0.5), (47, 0.9), (300, 0.0)])
def test_communities_keep_the_locality_asked_for(communities, locality):
    n, avg, classes, homophily = 30_000, 20, 12, 0.6
    graph, x, y = dcsbm_graph(n, avg, classes, homophily=homophily, num_features=4, label_noise=0.0,
                              communities=communities, locality=locality, seed=2)
    plain = dcsbm_graph(n, avg, classes, homophily=homophily, num_features=4, label_noise=0.0, seed=2)
    assert np.array_equal(graph.indptr, plain[0].indptr)            # same degrees, same features and labels
    assert np.array_equal(x, plain[1]) and np.array_equal(y, plain[2])
    community = _Plan(n, avg, classes, homophily, 2.5, 4, 3.0, 0.0, 2, (0.1, 0.1), communities, locality).community
    src, dst = graph.indices.astype(np.int64), graph.destinations().astype(np.int64)
    # every community lies inside one class, and the communities are about equal
    assert np.unique(np.stack([community, y]), axis=1).shape[1] == np.unique(community).shape[0]
    sizes = np.bincount(community, minlength=communities)
    assert sizes.min() > 0.5 * n / communities
    inside = np.mean(community[src] == community[dst])
    expected = locality + (1 - locality) * homophily * classes / communities
    assert abs(inside - expected) < 0.02
    assert abs(np.mean(y[src] == y[dst]) - (locality + (1 - locality) * homophily)) < 0.01
    again = dcsbm_graph(n, avg, classes, homophily=homophily, num_features=4, label_noise=0.0,
                        communities=communities, locality=locality, seed=2)[0]
    assert again == graph


def test_communities_are_recorded_and_chunk_independent(tmp_path):
    kwargs = dict(num_features=3, communities=40, locality=0.7, seed=1)
    dcsbm_node_dataset(tmp_path / "a", 9000, 6, 4, chunk_nodes=4096, **kwargs)
    dcsbm_node_dataset(tmp_path / "b", 9000, 6, 4, chunk_nodes=1 << 16, **kwargs)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())["generator"]
    assert meta["communities"] == 40 and meta["locality"] == 0.7
    dcsbm_node_dataset(tmp_path / "c", 900, 6, 4, num_features=3, seed=1)
    assert "communities" not in json.loads((tmp_path / "c" / "meta.json").read_text())["generator"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(communities=1), "communities"),
    (dict(communities=101), "communities"),
    (dict(locality=0.5), "locality needs communities"),
    (dict(communities=10, locality=1.5), "locality"),
    (dict(num_nodes=-1), "num_nodes"),
    (dict(num_classes=0), "num_classes"),
    (dict(num_nodes=3, num_classes=4), "num_classes"),
    (dict(avg_degree=-1), "avg_degree"),
    (dict(avg_degree=float("nan")), "avg_degree"),
    (dict(homophily=1.5), "homophily"),
    (dict(degree_exponent=1.0), "degree_exponent"),
    (dict(feature_noise=-1), "feature_noise"),
    (dict(label_noise=2), "label_noise"),
    (dict(split=(0.8, 0.5)), "split"),
    (dict(chunk_nodes=0), "chunk_nodes"),
    (dict(feature_dtype="int32"), "feature_dtype"),
    (dict(seed=-3), "seed"),
])
def test_bad_arguments_write_nothing(tmp_path, kwargs, message):
    args = dict(num_nodes=100, avg_degree=3, num_classes=2)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        dcsbm_node_dataset(tmp_path / "d", num_features=2, **args)
    assert os.listdir(tmp_path) == []


def test_existing_folder(tmp_path):
    dcsbm_node_dataset(tmp_path / "d", 100, 3, 2, num_features=2)
    with pytest.raises(FileExistsError):
        dcsbm_node_dataset(tmp_path / "d", 100, 3, 2, num_features=2)
    data = dcsbm_node_dataset(tmp_path / "d", 200, 3, 2, num_features=2, overwrite=True)
    assert data.num_nodes == 200


@pytest.mark.slow
def test_graph_sage_beats_a_feature_only_model():
    """The default features and labels make accuracy meaningful: GraphSAGE well above chance and above an MLP."""
    from fastgnn import Graph
    from fastgnn.models import GraphSAGE
    from fastgnn.optim import Adam
    from fastgnn.train import train_node_classifier

    graph, x, y, split = dcsbm_graph(20_000, 25, 47, num_features=100, seed=0, return_split=True)
    masks = []
    for part in ("train", "valid", "test"):
        mask = np.zeros(graph.num_nodes, dtype=bool)
        mask[split[part]] = True
        masks.append(mask)
    no_edges = Graph.from_csr(np.zeros(graph.num_nodes + 1, np.int64), np.zeros(0, np.int64))
    accuracy = {}
    for name, g in (("sage", graph), ("features only", no_edges)):
        model = GraphSAGE(100, 64, 47, rng=0)
        optimizer = Adam(model.parameters(), lr=0.01)
        accuracy[name] = train_node_classifier(model, g, x, y, *masks, optimizer, epochs=100, patience=20,
                                               early_stopping="patience").test_acc
    assert 0.6 < accuracy["sage"] < 0.9
    assert accuracy["features only"] < accuracy["sage"] - 0.2
