import collections
import os
import pathlib
import pickle
import shutil

import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn.datasets as datasets
from fastgnn import Graph
from fastgnn.datasets import Planetoid, load_cora
from fastgnn.datasets.planetoid import read_planetoid_data

REPO = pathlib.Path(__file__).resolve().parents[2]
CORA_RAW = REPO.parent / "shared" / "data" / "planetoid" / "cora"
needs_cora = pytest.mark.skipif(not (CORA_RAW / "ind.cora.graph").is_file(),
                                reason=f"raw Cora files not found in {CORA_RAW}")
SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
ATTRIBUTES = ("x", "y", "train_mask", "val_mask", "test_mask")


# ---------------------------------------------------------------------- a tiny Planetoid-format folder
NUM_TRAIN, NUM_FEATURES, NUM_CLASSES = 6, 5, 3
NUM_LABELLED = NUM_TRAIN + 500 + 2  # train, validation, two more labelled nodes


def _one_hot(labels):
    return np.eye(NUM_CLASSES, dtype=np.int32)[labels]


def _write_planetoid(folder, name, test_ids, seed=0):
    """Write ind.{name}.* like the real files; return the pieces written."""
    rng = np.random.default_rng(seed)
    allx = sp.csr_matrix((rng.random((NUM_LABELLED, NUM_FEATURES)) < 0.4).astype(np.float32))
    ally = _one_hot(rng.integers(0, NUM_CLASSES, NUM_LABELLED))
    tx = sp.csr_matrix((rng.random((len(test_ids), NUM_FEATURES)) < 0.4).astype(np.float32) * 2)
    ty = _one_hot(rng.integers(0, NUM_CLASSES, len(test_ids)))
    num_nodes = max(test_ids) + 1
    graph = collections.defaultdict(list)
    for node in range(num_nodes):  # a ring, both directions
        graph[node] += [(node + 1) % num_nodes, (node - 1) % num_nodes]
    graph[0] += [1, 0]  # a duplicate and a self-loop
    graph[3].append(num_nodes - 1)  # one direction only
    pieces = {"x": allx[:NUM_TRAIN], "tx": tx, "allx": allx, "y": ally[:NUM_TRAIN], "ty": ty, "ally": ally,
              "graph": graph}
    for suffix, value in pieces.items():
        with open(os.path.join(folder, f"ind.{name}.{suffix}"), "wb") as file:
            pickle.dump(value, file, protocol=2)
    with open(os.path.join(folder, f"ind.{name}.test.index"), "w") as file:
        file.write("\n".join(str(i) for i in test_ids) + "\n")
    pieces["test.index"] = np.array(test_ids)
    return pieces


def _pyg_reference(pieces, citeseer):
    """PyTorch Geometric's read_planetoid_data, step by step, in NumPy."""
    tx, ty, test_index = pieces["tx"].toarray(), pieces["ty"], pieces["test.index"]
    allx, ally = pieces["allx"].toarray(), pieces["ally"]
    sorted_test = np.sort(test_index)
    if citeseer:
        span = test_index.max() - test_index.min() + 1
        tx_ext = np.zeros((span, tx.shape[1]), np.float32)
        tx_ext[sorted_test - test_index.min()] = tx
        ty_ext = np.zeros((span, ty.shape[1]), ty.dtype)
        ty_ext[sorted_test - test_index.min()] = ty
        tx, ty = tx_ext, ty_ext
    x = np.concatenate([allx, tx])
    x[test_index] = x[sorted_test]
    y = np.concatenate([ally, ty]).argmax(1)
    y[test_index] = y[sorted_test]
    edges = {(s, d) for s, ns in pieces["graph"].items() for d in ns if s != d}
    edges |= {(d, s) for s, d in edges}  # the raw graphs are symmetric: PyG's coalesce gives these
    return x, y, sorted(edges)


@pytest.fixture
def cora_like(tmp_path):
    test_ids = list(range(NUM_LABELLED, NUM_LABELLED + 7))
    np.random.default_rng(1).shuffle(test_ids)
    return tmp_path, _write_planetoid(tmp_path, "cora", test_ids)


@pytest.fixture
def citeseer_like(tmp_path):
    # ids 510 and 512 have no feature row (isolated nodes, as in CiteSeer)
    test_ids = [511, 508, 513, 509, 514]
    return tmp_path, _write_planetoid(tmp_path, "citeseer", test_ids)


@pytest.mark.parametrize("case", ["cora_like", "citeseer_like"])
def test_format_matches_pyg(case, request):
    folder, pieces = request.getfixturevalue(case)
    name = "citeseer" if case == "citeseer_like" else "cora"
    dataset = Planetoid(folder, name.upper())
    x, y, edges = _pyg_reference(pieces, citeseer=(name == "citeseer"))
    num_nodes = max(pieces["test.index"]) + 1
    assert dataset.name == name and dataset.num_nodes == num_nodes
    assert dataset.num_features == NUM_FEATURES and dataset.num_classes == NUM_CLASSES
    np.testing.assert_array_equal(dataset.x, x)
    np.testing.assert_array_equal(dataset.y, y)
    assert dataset.x.dtype == np.float32 and dataset.y.dtype == np.int64
    assert sorted(map(tuple, dataset.graph.to_edge_index().T.tolist())) == edges
    np.testing.assert_array_equal(np.flatnonzero(dataset.train_mask), np.arange(NUM_TRAIN))
    np.testing.assert_array_equal(np.flatnonzero(dataset.val_mask), np.arange(NUM_TRAIN, NUM_TRAIN + 500))
    np.testing.assert_array_equal(np.flatnonzero(dataset.test_mask), np.sort(pieces["test.index"]))


def test_test_rows_belong_to_their_ids(cora_like):
    folder, pieces = cora_like
    dataset = Planetoid(folder, "cora")
    for k, node in enumerate(pieces["test.index"]):
        np.testing.assert_array_equal(dataset.x[node], pieces["tx"].toarray()[k])
        assert dataset.y[node] == pieces["ty"][k].argmax()


def test_missing_test_rows_are_zero(citeseer_like):
    folder, _ = citeseer_like
    dataset = Planetoid(folder, "citeseer")
    for node in (510, 512):
        assert not dataset.x[node].any()
        assert dataset.y[node] == 0
        assert not (dataset.train_mask[node] or dataset.val_mask[node] or dataset.test_mask[node])
    assert dataset.test_mask.sum() == 5


def test_graph_is_symmetric_without_loops_or_duplicates(citeseer_like):
    folder, _ = citeseer_like
    _check_clean_undirected(Planetoid(folder, "citeseer").graph)


def test_normalize_features_zero_rows_stay_zero(citeseer_like):
    folder, _ = citeseer_like
    raw = Planetoid(folder, "citeseer")
    normalized = Planetoid(folder, "citeseer", normalize_features=True)
    sums = normalized.x.sum(axis=1)
    zero = raw.x.sum(axis=1) == 0
    assert zero.any() and not normalized.x[zero].any()
    np.testing.assert_allclose(sums[~zero], 1.0, rtol=1e-6)
    assert normalized.x.dtype == np.float32


@pytest.mark.parametrize("layout", ["flat", "named", "pyg"])
def test_root_layouts(tmp_path, layout):
    folder = {"flat": tmp_path, "named": tmp_path / "cora", "pyg": tmp_path / "cora" / "raw"}[layout]
    folder.mkdir(parents=True, exist_ok=True)
    _write_planetoid(folder, "cora", list(range(NUM_LABELLED, NUM_LABELLED + 3)))
    dataset = Planetoid(tmp_path, "Cora")
    assert dataset.root == str(folder) and dataset.num_nodes == NUM_LABELLED + 3


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_file_is_named(cora_like, suffix):
    folder, _ = cora_like
    os.remove(folder / f"ind.cora.{suffix}")
    with pytest.raises(FileNotFoundError, match=f"ind.cora.{suffix}"):
        Planetoid(folder, "cora")


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ind.pubmed.x"):
        Planetoid(tmp_path / "nowhere", "pubmed")


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="cora, citeseer, pubmed"):
        Planetoid(tmp_path, "reddit")


def test_pickles_cannot_run_code(cora_like):
    folder, _ = cora_like
    with open(folder / "ind.cora.graph", "wb") as file:
        pickle.dump(os.getcwd, file, protocol=2)  # a global outside the format
    with pytest.raises(ValueError, match="ind.cora.graph.*refusing"):
        Planetoid(folder, "cora")


@pytest.mark.parametrize("corrupt, match", [
    ("ty", "ind.cora.tx has 7 rows but .*ind.cora.ty has 6"),
    ("test.index", "lists 8 nodes"),
    ("graph", "names node 9999"),
])
def test_inconsistent_files_are_named(cora_like, corrupt, match):
    folder, pieces = cora_like
    if corrupt == "ty":
        value = pieces["ty"][:-1]
    elif corrupt == "graph":
        value = {0: [9999]}
    if corrupt == "test.index":
        (folder / "ind.cora.test.index").write_text("\n".join(map(str, list(pieces["test.index"]) + [600])))
    else:
        with open(folder / f"ind.cora.{corrupt}", "wb") as file:
            pickle.dump(value, file, protocol=2)
    with pytest.raises(ValueError, match=match):
        Planetoid(folder, "cora")


# ---------------------------------------------------------------------- real Cora
def _check_clean_undirected(graph):
    adjacency = graph.to_scipy()
    assert (adjacency != adjacency.T).nnz == 0, "not symmetric"
    assert not graph.has_self_loop().any(), "has a self-loop"
    keys = graph.destinations().astype(np.int64) * graph.num_nodes + graph.indices
    assert np.unique(keys).size == graph.num_edges, "has duplicate edges"


@pytest.fixture(scope="module")
def cora():
    return Planetoid(CORA_RAW, "cora")


@needs_cora
def test_cora_sizes(cora):
    assert (cora.num_nodes, cora.num_features, cora.num_classes, cora.graph.num_edges) == (2708, 1433, 7, 10556)
    assert cora.x.shape == (2708, 1433) and cora.y.shape == (2708,)
    assert cora.x.dtype == np.float32 and cora.y.dtype == np.int64
    assert isinstance(cora.graph, Graph) and cora.graph.edge_weight is None


@needs_cora
def test_cora_split(cora):
    masks = [cora.train_mask, cora.val_mask, cora.test_mask]
    assert [int(m.sum()) for m in masks] == [140, 500, 1000]
    assert all(m.dtype == np.bool_ for m in masks)
    assert not (masks[0] & masks[1]).any() and not (masks[0] & masks[2]).any() and not (masks[1] & masks[2]).any()
    np.testing.assert_array_equal(np.bincount(cora.y[cora.train_mask]), [20] * 7)
    np.testing.assert_array_equal(np.flatnonzero(cora.test_mask), np.arange(1708, 2708))


@needs_cora
def test_cora_content(cora):
    # values PyG's Cora has: binary features, 49,216 of them set; label counts
    assert set(np.unique(cora.x)) == {0.0, 1.0} and int(cora.x.sum()) == 49216
    np.testing.assert_array_equal(np.bincount(cora.y), [351, 217, 418, 818, 426, 298, 180])
    _check_clean_undirected(cora.graph)


@needs_cora
def test_cora_from_the_parent_folder(cora):
    assert Planetoid(CORA_RAW.parent, "Cora").graph == cora.graph


@needs_cora
def test_cora_normalize_features():
    dataset = Planetoid(CORA_RAW, "cora", normalize_features=True)
    sums = dataset.x.sum(axis=1, dtype=np.float64)
    assert np.all(np.isclose(sums, 1.0, atol=1e-5) | (sums == 0))


@needs_cora
@pytest.mark.parametrize("normalize", [False, True])
def test_embedded_cora_is_the_raw_cora(normalize):
    raw = Planetoid(CORA_RAW, "cora", normalize_features=normalize)
    embedded = load_cora(normalize_features=normalize)
    for name in ATTRIBUTES:
        value = getattr(embedded, name)
        assert value.dtype == getattr(raw, name).dtype
        np.testing.assert_array_equal(value, getattr(raw, name), err_msg=name)
    assert embedded.graph == raw.graph and embedded.graph.index_dtype == raw.graph.index_dtype
    assert (embedded.name, embedded.num_classes, embedded.num_features) == (raw.name, raw.num_classes,
                                                                            raw.num_features)
    assert embedded.root is None


@needs_cora
def test_missing_cora_file_is_named(tmp_path):
    for suffix in SUFFIXES:
        if suffix != "ally":
            shutil.copy(CORA_RAW / f"ind.cora.{suffix}", tmp_path)
    with pytest.raises(FileNotFoundError, match="ind.cora.ally"):
        read_planetoid_data(tmp_path, "cora")


def test_embedded_cora_without_raw_files():
    dataset = load_cora()
    assert (dataset.num_nodes, dataset.num_features, dataset.num_classes, dataset.graph.num_edges) == (
        2708, 1433, 7, 10556)
    assert [int(m.sum()) for m in (dataset.train_mask, dataset.val_mask, dataset.test_mask)] == [140, 500, 1000]
    _check_clean_undirected(dataset.graph)
    path = pathlib.Path(datasets.__file__).parent / "_embedded" / "cora.npz"
    assert path.stat().st_size < 1_000_000
