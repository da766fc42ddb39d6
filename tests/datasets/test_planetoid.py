import collections
import os
import pathlib
import pickle
import re
import shutil

import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn.datasets as datasets
from fastgnn import Graph
from fastgnn.datasets import Planetoid, load_cora
from fastgnn.datasets.planetoid import read_planetoid_data
from fixture_data import RAW_CORA as CORA_RAW

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


def test_cora_sizes(cora):
    assert (cora.num_nodes, cora.num_features, cora.num_classes, cora.graph.num_edges) == (2708, 1433, 7, 10556)
    assert cora.x.shape == (2708, 1433) and cora.y.shape == (2708,)
    assert cora.x.dtype == np.float32 and cora.y.dtype == np.int64
    assert isinstance(cora.graph, Graph) and cora.graph.edge_weight is None


def test_cora_split(cora):
    masks = [cora.train_mask, cora.val_mask, cora.test_mask]
    assert [int(m.sum()) for m in masks] == [140, 500, 1000]
    assert all(m.dtype == np.bool_ for m in masks)
    assert not (masks[0] & masks[1]).any() and not (masks[0] & masks[2]).any() and not (masks[1] & masks[2]).any()
    np.testing.assert_array_equal(np.bincount(cora.y[cora.train_mask]), [20] * 7)
    np.testing.assert_array_equal(np.flatnonzero(cora.test_mask), np.arange(1708, 2708))


def test_cora_content(cora):
    # values PyG's Cora has: binary features, 49,216 of them set; label counts
    assert set(np.unique(cora.x)) == {0.0, 1.0} and int(cora.x.sum()) == 49216
    np.testing.assert_array_equal(np.bincount(cora.y), [351, 217, 418, 818, 426, 298, 180])
    _check_clean_undirected(cora.graph)


def test_cora_from_the_parent_folder(cora):
    assert Planetoid(CORA_RAW.parent, "Cora").graph == cora.graph


def test_cora_normalize_features():
    dataset = Planetoid(CORA_RAW, "cora", normalize_features=True)
    sums = dataset.x.sum(axis=1, dtype=np.float64)
    assert np.all(np.isclose(sums, 1.0, atol=1e-5) | (sums == 0))


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


# ---------------------------------------------------------------------- corrupt and crafted files
def _csr_pickle(shape, data, indices, indptr):
    """A pickled CSR matrix whose arrays are set behind scipy's back (its checks never see them)."""
    matrix = sp.csr_matrix((1, 1), dtype=np.float32)
    matrix.data, matrix.indices, matrix.indptr = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    matrix._shape = shape
    return pickle.dumps(matrix, protocol=2)


def _tx_pickle(**change):
    """A 7 x 5 test-feature matrix (as the tiny folder's) with one internal array replaced."""
    parts = {"shape": (7, NUM_FEATURES), "data": np.ones(3, np.float32), "indices": np.array([0, 1, 2], np.int32),
             "indptr": np.array([0, 1, 2, 3, 3, 3, 3, 3], np.int32)}
    parts.update(change)
    return _csr_pickle(**parts)


def _wide_features(columns):
    """x, tx and allx of the tiny folder with ``columns`` columns, each row holding one value."""
    files = {}
    for suffix, rows in (("x", NUM_TRAIN), ("tx", 7), ("allx", NUM_LABELLED)):
        files[f"ind.cora.{suffix}"] = _csr_pickle((rows, columns), np.ones(rows, np.float32),
                                                  np.zeros(rows, np.int32), np.arange(rows + 1, dtype=np.int32))
    return files


# Each case: the files written over the tiny Cora-like folder, and what the error must say. They run in
# a child process with capped memory, so that a crash (an out-of-bounds write while expanding a
# matrix), an allocation of gigabytes or a hang fails the test cleanly.
ISOLATED_CASES = {
    "indptr_too_short": ({"ind.cora.tx": _tx_pickle(indptr=np.array([0, 1, 2, 3], np.int32))},
                         r"ind\.cora\.tx.*indptr"),
    "indptr_not_monotone": ({"ind.cora.tx": _tx_pickle(indptr=np.array([0, 3, 1, 2, 2, 2, 2, 3], np.int32))},
                            r"ind\.cora\.tx.*indptr"),
    "indptr_past_the_data": ({"ind.cora.tx": _tx_pickle(indptr=np.array([0, 1, 2, 3, 3, 3, 3, 10 ** 6],
                                                                        np.int32))}, r"ind\.cora\.tx.*indptr"),
    "indptr_not_from_zero": ({"ind.cora.tx": _tx_pickle(indptr=np.array([2, 3, 3, 3, 3, 3, 3, 3], np.int32))},
                             r"ind\.cora\.tx.*indptr"),
    "index_out_of_range": ({"ind.cora.tx": _tx_pickle(indices=np.array([0, 1, 10 ** 6], np.int32))},
                           r"ind\.cora\.tx.*column"),
    "negative_index": ({"ind.cora.tx": _tx_pickle(indices=np.array([0, -5, 1], np.int32))},
                       r"ind\.cora\.tx.*column"),
    "data_length_mismatch": ({"ind.cora.tx": _tx_pickle(data=np.ones(1, np.float32))},
                             r"ind\.cora\.tx.*values"),
    "float_indices": ({"ind.cora.tx": _tx_pickle(indices=np.array([0.0, 1.5, 2.0]))},
                      r"ind\.cora\.tx.*integer"),
    "huge_shape": ({"ind.cora.tx": _tx_pickle(shape=(7, 2 ** 40))}, r"ind\.cora\.tx"),
    "huge_dense_features": (_wide_features(2 ** 22), r"ind\.cora\.(allx|tx).*sparse"),
    "bytearray_of_4_gb": ({"ind.cora.graph": b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x00\x01\x85R."},
                          r"ind\.cora\.graph.*bytearray"),
    "bytes_of_1_tb_claimed": ({"ind.cora.graph": b"\x80\x04\x8e" + (2 ** 40).to_bytes(8, "little") + b"."},
                              r"ind\.cora\.graph.*past the end"),
    # a legal pickle of {0: [1]} that files its dict under memo index 2**32 - 1: it must load (match None)
    "memo_index_of_4_billion": ({"ind.cora.graph": b"\x80\x02}r\xff\xff\xff\xffK\x00]K\x01as."}, None),
    # a dict key made of nested tuples sharing their halves: hashing it takes 2**64 steps
    "tuple_key_hash_bomb": ({"ind.cora.graph": b"\x80\x02}K\x00" + b"2\x86" * 64 + b"]s."},
                            r"ind\.cora\.graph.*key"),
    "test_id_of_100_billion": ({"ind.cora.test.index": "\n".join(map(str, range(NUM_LABELLED, NUM_LABELLED + 6)))
                                + f"\n{10 ** 11}\n"}, r"ind\.cora\.test\.index.*100000000000"),
}


@pytest.fixture(scope="module")
def isolated_outcomes(tmp_path_factory):
    """Every isolated case loaded in one child process (a new one after each crash)."""
    from _isolated import run_isolated

    base = tmp_path_factory.mktemp("planetoid_cases")
    specs = []
    for index, (case, (files, _)) in enumerate(sorted(ISOLATED_CASES.items())):
        folder = base / case
        folder.mkdir()
        test_ids = list(range(NUM_LABELLED, NUM_LABELLED + 7))
        np.random.default_rng(index).shuffle(test_ids)
        _write_planetoid(folder, "cora", test_ids)
        for name, content in files.items():
            (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)
        specs.append({"folder": str(folder), "name": "cora"})
    folder = base / "cora_test_id_of_4_million"
    shutil.copytree(CORA_RAW, folder, copy_function=shutil.copyfile)
    ids = (CORA_RAW / "ind.cora.test.index").read_text().split()
    ids[ids.index(str(max(map(int, ids))))] = "4000000"
    (folder / "ind.cora.test.index").write_text("\n".join(ids) + "\n")
    specs.append({"folder": str(folder), "name": "cora"})
    outcomes = run_isolated("load_planetoid", specs, timeout=20)
    names = sorted(ISOLATED_CASES) + ["cora_test_id_of_4_million"]
    return dict(zip(names, outcomes))


def _assert_refused(outcome, match):
    if match is None:
        assert outcome["type"] == "ok", f"expected it to load, got {outcome['type']}: {outcome['message']}"
        return
    assert outcome["type"] == "ValueError", f"expected a ValueError, got {outcome['type']}: {outcome['message']}"
    assert re.search(match, outcome["message"]), outcome["message"]


@pytest.mark.parametrize("case", sorted(ISOLATED_CASES))
def test_crafted_file_is_refused_in_isolation(isolated_outcomes, case):
    _assert_refused(isolated_outcomes[case], ISOLATED_CASES[case][1])


def test_cora_test_id_beyond_the_files_is_refused(isolated_outcomes):
    # 4,000,001 nodes x 1,433 features would be a 21 GiB table
    _assert_refused(isolated_outcomes["cora_test_id_of_4_million"], r"ind\.cora\.test\.index.*4000000")


def _refused(folder, match):
    with pytest.raises(ValueError, match=match) as info:
        Planetoid(folder, "cora")
    assert type(info.value) is ValueError  # not a subclass such as UnicodeDecodeError
    return info.value


@pytest.mark.parametrize("adjacency, match", [
    ({0.5: [1]}, "node id"),  # not node 0
    ({True: [1]}, "node id"),
    ({0: [1.0]}, "node id"),
    ({0: [True]}, "node id"),
    ({0: ["3"]}, "node id"),
    ({0: [10 ** 30]}, "out of range"),
    ({-1: [0]}, "names node -1"),
    ({0: [1], 1: 5}, "list"),
])
def test_adjacency_must_hold_integer_node_ids(cora_like, adjacency, match):
    folder, _ = cora_like
    with open(folder / "ind.cora.graph", "wb") as file:
        pickle.dump(adjacency, file, protocol=2)
    _refused(folder, rf"ind\.cora\.graph.*{match}")


def test_shared_adjacency_lists_cannot_multiply_the_edges(cora_like):
    folder, _ = cora_like
    shared = list(range(500))
    with open(folder / "ind.cora.graph", "wb") as file:  # 500 x 500 edges from a 4 kB file
        pickle.dump({node: shared for node in range(500)}, file, protocol=2)
    _refused(folder, r"ind\.cora\.graph.*neighbour")


@pytest.mark.parametrize("content, match", [
    (b"508\n509\n51\xff0\n511\n512\n513\n514\n", "line 3.*ASCII"),
    (b"508\n509\n510\n511\n512\n513\n" + str(10 ** 30).encode() + b"\n", "line 7"),
    (b"508\n509\n510\n511\n512\n513\n5_14\n", "line 7.*integer"),
    (b"508\n509\n510\n511\n512\n513\n1e3\n", "line 7.*integer"),
])
def test_test_index_lines_must_be_integers(cora_like, content, match):
    folder, _ = cora_like
    (folder / "ind.cora.test.index").write_bytes(content)
    _refused(folder, rf"ind\.cora\.test\.index.*{match}")


@pytest.mark.parametrize("suffix", ["x", "tx", "allx", "y", "ty", "ally", "graph"])
def test_truncated_pickle_names_the_file(cora_like, suffix):
    folder, _ = cora_like
    path = folder / f"ind.cora.{suffix}"
    path.write_bytes(path.read_bytes()[:-3])
    _refused(folder, rf"ind\.cora\.{re.escape(suffix)}\b")


@pytest.mark.parametrize("value", [np.array([["a"]], dtype=object), np.zeros((2, 2), "U3"), np.zeros((2, 2), "M8[s]"),
                                   np.zeros((2, 2), np.complex64), sp.lil_matrix((7, NUM_FEATURES))])
def test_matrices_must_be_numeric(cora_like, value):
    folder, _ = cora_like
    with open(folder / "ind.cora.tx", "wb") as file:
        pickle.dump(value, file, protocol=2)
    _refused(folder, r"ind\.cora\.tx")


@pytest.mark.parametrize("form", ["dense", "big_endian_dense", "csc", "coo", "csr_array", "protocol_4", "protocol_5"])
def test_matrix_forms_load_alike(cora_like, form):
    folder, pieces = cora_like
    reference = Planetoid(folder, "cora")
    tx = pieces["tx"]
    value = {"dense": tx.toarray(), "big_endian_dense": tx.toarray().astype(">f8"), "csc": tx.tocsc(),
             "coo": tx.tocoo(), "csr_array": sp.csr_array(tx)}.get(form, tx)
    with open(folder / "ind.cora.tx", "wb") as file:
        pickle.dump(value, file, protocol={"protocol_4": 4, "protocol_5": 5}.get(form, 2))
    dataset = Planetoid(folder, "cora")
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(dataset, name), getattr(reference, name), err_msg=name)


def _adjacency_files(cora_like):
    folder, _ = cora_like
    return [folder / "ind.cora.graph", CORA_RAW / "ind.cora.graph"]


def test_adjacency_fast_path_agrees_with_the_interpreter(cora_like):
    from fastgnn.datasets.planetoid import _Interpreter, _read_adjacency_fast

    for path in _adjacency_files(cora_like):
        data = path.read_bytes()
        fast = _read_adjacency_fast(data)
        assert fast is not None, f"{path.name} should take the fast path"
        assert dict(fast) == _Interpreter(data).run() == pickle.loads(data, encoding="latin1")


def test_labels_need_a_class(cora_like):
    folder, pieces = cora_like
    for suffix in ("y", "ty", "ally"):
        with open(folder / f"ind.cora.{suffix}", "wb") as file:
            pickle.dump(np.zeros((len(pieces[suffix]), 0), np.int32), file, protocol=2)
    _refused(folder, r"ind\.cora\.ally.*no columns")
