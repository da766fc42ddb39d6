"""TUDataset: MUTAG's counts, a tiny folder in every flavour of the format, and bad folders."""
import os
import re

import numpy as np
import pytest

from fastgnn.data import Batch
from fastgnn.datasets import TUDataset, add_degree_features, read_tu_table
from fixture_data import TU_ROOT

MUTAG_ROOT = str(TU_ROOT)


def test_mutag_counts():
    dataset = TUDataset(MUTAG_ROOT, "MUTAG")
    assert len(dataset) == dataset.num_graphs == 188
    assert sum(g.num_nodes for g in dataset) == dataset.num_nodes == 3371
    assert sum(g.num_edges for g in dataset) == dataset.num_edges == 7442
    assert np.bincount(dataset.y).tolist() == [63, 125]
    assert dataset.class_values.tolist() == [-1, 1]
    assert dataset.num_classes == 2
    assert dataset.num_node_features == dataset.num_node_labels == 7
    assert dataset.num_edge_features == dataset.num_edge_labels == 4
    first = dataset[0]
    assert first.x.dtype == np.float32 and np.all(first.x.sum(axis=1) == 1)
    assert int(first.y) == 1  # MUTAG_graph_labels.txt starts with 1
    assert np.all(first.edge_attr.sum(axis=1) == 1)
    # undirected: every edge has its reverse
    for graph in dataset[:20]:
        edges = set(map(tuple, graph.graph.to_edge_index().T.tolist()))
        assert edges == {(d, s) for s, d in edges}
    assert len(dataset[np.arange(5)]) == 5 and len(dataset[:3]) == 3


def test_mutag_matches_pyg(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    import shutil

    from torch_geometric.datasets import TUDataset as PygTUDataset

    raw = tmp_path / "MUTAG" / "raw"
    raw.mkdir(parents=True)
    for name in os.listdir(os.path.join(MUTAG_ROOT, "MUTAG")):
        shutil.copy(os.path.join(MUTAG_ROOT, "MUTAG", name), raw / name)
    theirs = PygTUDataset(str(tmp_path), "MUTAG")
    ours = TUDataset(str(tmp_path), "MUTAG")  # PyG's root/NAME/raw layout is found too
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.x, b.x.numpy())
        assert int(a.y) == int(b.y)
        edge_index = a.graph.to_edge_index()
        mine = sorted(zip(edge_index[0], edge_index[1], map(tuple, a.edge_attr.tolist())))
        pyg = sorted(zip(b.edge_index[0].tolist(), b.edge_index[1].tolist(), map(tuple, b.edge_attr.tolist())))
        assert mine == pyg


def write_files(folder, name, files, line_end="\n"):
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, lines in files.items():
        with open(folder / f"{name}_{suffix}.txt", "w", newline="") as handle:
            handle.write(line_end.join(lines) + line_end)


# Three graphs: graph 1 a triangle (nodes 1-3) with edge labels; graph 2 (nodes 4-5) with no edges;
# graph 3 (nodes 6-7) one undirected edge. Graph labels 5, 7, 5 -> classes 0, 1, 0.
TINY = {
    "A": ["1, 2", "2, 3", "3, 1", "7, 6", "6, 7"],
    "graph_indicator": ["1", "1", "1", "2", "2", "3", "3"],
    "graph_labels": ["5", "7", "5"],
    "node_labels": ["0", "2", "1", "0", "0", "2", "1"],
    "edge_labels": ["1", "2", "1", "3", "3"],
    "node_attributes": ["0.5, 1.0", "1.5, 2.0", "2.5, 3.0", "3.5, 4.0", "4.5, 5.0", "5.5, 6.0", "6.5, 7.0"],
    "edge_attributes": ["10", "20", "30", "40", "50"],
}


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("separator", [", ", ",", " ", "\t"])
def test_tiny_folder(tmp_path, line_end, separator):
    files = {k: [line.replace(", ", separator) for line in v] for k, v in TINY.items()}
    write_files(tmp_path, "TINY", files, line_end)
    dataset = TUDataset(tmp_path, "TINY")
    assert len(dataset) == 3
    assert dataset.y.tolist() == [0, 1, 0] and dataset.class_values.tolist() == [5, 7]
    assert dataset.num_node_attributes == 2 and dataset.num_node_labels == 3
    assert dataset.num_edge_attributes == 1 and dataset.num_edge_labels == 3
    triangle, empty, pair = dataset
    assert [g.num_nodes for g in dataset] == [3, 2, 2]
    assert [g.num_edges for g in dataset] == [3, 0, 2]
    # x = [attributes, one-hot labels]
    np.testing.assert_array_equal(triangle.x, [[0.5, 1.0, 1, 0, 0], [1.5, 2.0, 0, 0, 1], [2.5, 3.0, 0, 1, 0]])
    np.testing.assert_array_equal(empty.x[:, :2], [[3.5, 4.0], [4.5, 5.0]])
    assert empty.edge_attr.shape == (0, 4)
    # edges src -> dst with their attributes, in CSR order
    edge_index = triangle.graph.to_edge_index()
    by_edge = {(int(s), int(d)): tuple(a) for s, d, a in zip(edge_index[0], edge_index[1], triangle.edge_attr)}
    assert by_edge == {(0, 1): (10, 1, 0, 0), (1, 2): (20, 0, 1, 0), (2, 0): (30, 1, 0, 0)}
    edge_index = pair.graph.to_edge_index()
    assert sorted(zip(edge_index[0].tolist(), edge_index[1].tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_array_equal(pair.edge_attr[:, 1:], [[0, 0, 1], [0, 0, 1]])
    # the whole dataset batches and unbatches
    assert Batch.from_graphs(list(dataset)).unbatch() == list(dataset)


def test_optional_files_and_attribute_switches(tmp_path):
    files = {k: TINY[k] for k in ("A", "graph_indicator", "graph_labels")}
    write_files(tmp_path / "BARE", "BARE", files)
    bare = TUDataset(tmp_path, "BARE")  # found in root/NAME
    assert bare.num_node_features == 0 and bare[0].x is None and bare[0].edge_attr is None
    featured = add_degree_features(list(bare))
    np.testing.assert_array_equal(featured[0].x, [[0, 1], [0, 1], [0, 1]])  # in-degree 1, max degree 1
    assert featured[1].x.shape == (2, 2)
    write_files(tmp_path, "TINY", TINY)
    labels_only = TUDataset(tmp_path, "TINY", use_node_attr=False, use_edge_attr=False, dtype=np.float64)
    assert labels_only.num_node_features == 3 and labels_only.num_edge_features == 3
    assert labels_only[0].x.dtype == np.float64


def test_nodes_listed_out_of_graph_order(tmp_path):
    files = dict(TINY)
    # node 4 belongs to graph 3 and node 6 to graph 2: the reader groups nodes by graph in file order
    files["graph_indicator"] = ["1", "1", "1", "3", "2", "2", "3"]
    files["A"] = ["1, 2", "2, 3", "3, 1", "4, 7", "7, 4"]
    files["edge_labels"] = ["1", "2", "1", "3", "3"]
    write_files(tmp_path, "MIXED", files)
    dataset = TUDataset(tmp_path, "MIXED")
    assert [g.num_nodes for g in dataset] == [3, 2, 2]
    assert [g.num_edges for g in dataset] == [3, 0, 2]
    third = dataset[2]
    # graph 3 holds nodes 4 then 7 (file order): their attributes follow them
    np.testing.assert_array_equal(third.x[:, :2], [[3.5, 4.0], [6.5, 7.0]])


def test_empty_graph_without_nodes(tmp_path):
    files = {"A": ["1, 2", "2, 1"], "graph_indicator": ["1", "1", "3"], "graph_labels": ["0", "1", "0"]}
    write_files(tmp_path, "HOLE", files)
    dataset = TUDataset(tmp_path, "HOLE")
    assert [g.num_nodes for g in dataset] == [2, 0, 1]
    assert Batch.from_graphs(list(dataset)).unbatch() == list(dataset)


@pytest.mark.parametrize("missing", ["A", "graph_indicator", "graph_labels"])
def test_missing_required_file_is_named(tmp_path, missing):
    write_files(tmp_path, "TINY", {k: v for k, v in TINY.items() if k != missing})
    with pytest.raises(FileNotFoundError, match=f"TINY_{missing}.txt"):
        TUDataset(tmp_path, "TINY")


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="NOPE_A.txt"):
        TUDataset(tmp_path, "NOPE")


@pytest.mark.parametrize("change, message", [
    ({"A": ["1, 2", "2, 4"]}, "joins two graphs"),
    ({"A": ["1, 2", "2, 9"]}, "node id 9, outside 1..7"),
    ({"A": ["1, 2", "0, 1"]}, "node id 0, outside 1..7"),
    ({"A": ["1, 2, 3"]}, "two ids per line"),
    ({"A": ["1, 2", "3"]}, "TINY_A.txt"),
    ({"A": ["1, x"]}, "TINY_A.txt"),
    ({"A": ["1.5, 2"]}, "must be integers"),
    ({"graph_indicator": ["1", "1", "1", "2", "2", "3", "4"]}, "graph id 4, outside 1..3"),
    ({"node_labels": ["0", "1"]}, "TINY_node_labels.txt has 2 lines but the dataset has 7 nodes"),
    ({"edge_attributes": ["1"]}, "TINY_edge_attributes.txt has 1 lines but the dataset has 5 edges"),
])
def test_inconsistent_files(tmp_path, change, message):
    files = dict(TINY)
    files.update(change)
    files.pop("edge_labels") if "A" in change else None
    files.pop("edge_attributes") if "A" in change else None
    write_files(tmp_path, "TINY", files)
    with pytest.raises(ValueError, match=message):
        TUDataset(tmp_path, "TINY")


def test_read_tu_table(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"1, 2.5\r\n\r\n3,4\r\n")
    np.testing.assert_array_equal(read_tu_table(path), [[1, 2.5], [3, 4]])
    path.write_bytes(b"")
    assert read_tu_table(path).shape == (0, 0)


def test_degree_features_of_high_degree_graphs():
    from fastgnn import Graph
    from fastgnn.data import GraphData

    star = Graph.from_edge_index(np.stack([np.arange(1, 1201), np.zeros(1200, dtype=np.int64)]), num_nodes=1201)
    graphs = add_degree_features([GraphData(star), GraphData(Graph.from_edge_index([[0], [1]], num_nodes=2))])
    assert graphs[0].x.shape == (1201, 1) and graphs[1].x.shape == (2, 1)  # max degree >= 1000: one column
    every = np.concatenate([g.x[:, 0] for g in graphs])
    assert abs(every.mean()) < 1e-5 and abs(every.std() - 1) < 1e-4
    clipped = add_degree_features([GraphData(star)], max_degree=3)
    assert clipped[0].x.shape == (1201, 4) and clipped[0].x[0, 3] == 1


def test_dataset_without_any_edge(tmp_path):
    write_files(tmp_path, "FLAT", {"A": [], "graph_indicator": ["1", "2", "2"], "graph_labels": ["1", "2"]})
    dataset = TUDataset(tmp_path, "FLAT")
    assert [g.num_edges for g in dataset] == [0, 0] and [g.num_nodes for g in dataset] == [1, 2]


# ---------------------------------------------------------------------- corrupt values
def _refused(tmp_path, change, match):
    files = dict(TINY)
    files.update(change)
    write_files(tmp_path, "TINY", files)
    with pytest.raises(ValueError, match=match) as info:
        TUDataset(tmp_path, "TINY")
    assert type(info.value) is ValueError  # not a subclass such as UnicodeDecodeError
    return info.value


@pytest.mark.parametrize("label", ["nan", "inf", "-inf", "1e300", "-1e300", "2.5", "9007199254740993"])
def test_graph_labels_must_be_integers(tmp_path, label):
    # NaN or ±1e300 would be a class of its own, 2**53 + 1 would merge with 2**53 (float64 rounds it)
    _refused(tmp_path, {"graph_labels": ["5", label, "5"]}, r"TINY_graph_labels\.txt line 2: .*integer")


@pytest.mark.parametrize("suffix, lines, line", [
    ("A", ["1, 2", "2, 1.5", "3, 1", "7, 6", "6, 7"], 2),
    ("graph_indicator", ["1", "1", "1", "2", "2", "3", "1e20"], 7),
    ("node_labels", ["0", "2", "1", "nan", "0", "2", "1"], 4),
])
def test_ids_and_labels_name_their_line(tmp_path, suffix, lines, line):
    _refused(tmp_path, {suffix: lines}, rf"TINY_{suffix}\.txt line {line}: .*must be integers")


@pytest.mark.parametrize("suffix, content", [
    ("A", b"1, 2\xe9\n2, 3\n3, 1\n7, 6\n6, 7\n"),
    ("node_labels", b"0\n2\n1\n0\n0\n2\n\xff\n"),
])
def test_text_that_is_not_utf8_names_the_file(tmp_path, suffix, content):
    write_files(tmp_path, "TINY", TINY)
    (tmp_path / f"TINY_{suffix}.txt").write_bytes(content)
    with pytest.raises(ValueError, match=rf"TINY_{suffix}\.txt.*UTF-8") as info:
        TUDataset(tmp_path, "TINY")
    assert type(info.value) is ValueError


def test_label_gaps_keep_their_columns_up_to_a_bound(tmp_path):
    files = dict(TINY)
    files["node_labels"] = ["0", "200", "1", "0", "0", "200", "1"]  # 201 columns for 3 labels: allowed
    write_files(tmp_path, "TINY", files)
    assert TUDataset(tmp_path, "TINY").num_node_labels == 201
    _refused(tmp_path, {"node_labels": ["0", "300", "1", "0", "0", "2", "1"]},
             r"TINY_node_labels\.txt line 2: .*301 columns for 4 distinct labels")


# A label of 10**9 asks for a one-hot table of 10**9 columns (26 GiB for this folder's 7 nodes): these run
# in a child process with capped memory, so that such an allocation fails the test cleanly.
ISOLATED_CASES = {
    "node_label_of_a_billion": ({"node_labels": ["0", "2", "1", "1000000000", "0", "2", "1"]},
                                r"TINY_node_labels\.txt line 4: "),
    "edge_label_of_a_billion": ({"edge_labels": ["1", "2", "1", "3", "1000000000"]}, r"TINY_edge_labels\.txt line 5: "),
    "node_label_of_1e300": ({"node_labels": ["0", "2", "1", "1e300", "0", "2", "1"]},
                            r"TINY_node_labels\.txt line 4: "),
    "negative_node_label_of_a_billion": ({"node_labels": ["0", "2", "1", "-1000000000", "0", "2", "1"]},
                                         r"TINY_node_labels\.txt line 4: "),
}


@pytest.fixture(scope="module")
def isolated_outcomes(tmp_path_factory):
    from _isolated import run_isolated

    base = tmp_path_factory.mktemp("tu_cases")
    specs = []
    for case, (change, _) in sorted(ISOLATED_CASES.items()):
        files = dict(TINY)
        files.update(change)
        write_files(base / case, "TINY", files)
        specs.append({"folder": str(base / case), "name": "TINY"})
    return dict(zip(sorted(ISOLATED_CASES), run_isolated("load_tu", specs, timeout=20)))


@pytest.mark.parametrize("case", sorted(ISOLATED_CASES))
def test_huge_labels_are_refused_in_isolation(isolated_outcomes, case):
    outcome = isolated_outcomes[case]
    assert outcome["type"] == "ValueError", f"expected a ValueError, got {outcome['type']}: {outcome['message']}"
    assert re.search(ISOLATED_CASES[case][1], outcome["message"]), outcome["message"]


def test_sparse_features_equal_the_dense_ones():
    from fastgnn import SparseFeatures
    from fastgnn.data import Batch
    from fastgnn.losses import cross_entropy
    from fastgnn.models import GINGraphClassifier

    dense = TUDataset(MUTAG_ROOT, "MUTAG", dtype=np.float64)
    sparse = TUDataset(MUTAG_ROOT, "MUTAG", dtype=np.float64, sparse_features=True)
    assert all(isinstance(g.x, SparseFeatures) for g in sparse)
    for a, b in zip(dense, sparse):
        np.testing.assert_array_equal(a.x, b.x.toarray())
    results = []
    for dataset in (dense, sparse):
        model = GINGraphClassifier(7, 16, 2, num_layers=2, dropout=0.0, rng=0, dtype=np.float64)
        batch = Batch.from_graphs(dataset[:32])
        scores = model(batch.graph, batch.x, batch.ptr)
        model.backward(cross_entropy(scores, batch.y)[1])
        results.append((scores, [p.grad.copy() for p in model.parameters()]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10, atol=1e-12)
    for a, b in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
