"""read_ogb_node_dataset on tiny folders in OGB's raw layout, written by the tests."""
import gzip
import json
import os

import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.datasets import OnDiskDataset, read_ogb_node_dataset


def _write_csv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(",".join(str(value) for value in np.atleast_1d(row)) + "\n")


def _ogb_folder(root, rng, num_nodes=40, num_edges=150, num_features=3, labels=None, splits=("sales_ranking",)):
    """An ogbn-style folder; returns the arrays written."""
    edges = rng.integers(0, num_nodes, (num_edges, 2))
    x = np.round(rng.standard_normal((num_nodes, num_features)), 4)
    y = rng.integers(0, 5, num_nodes) if labels is None else labels
    _write_csv(os.path.join(root, "raw", "num-node-list.csv.gz"), [num_nodes])
    _write_csv(os.path.join(root, "raw", "edge.csv.gz"), edges)
    _write_csv(os.path.join(root, "raw", "node-feat.csv.gz"), x)
    _write_csv(os.path.join(root, "raw", "node-label.csv.gz"), y)
    perm = rng.permutation(num_nodes)
    parts = {"train": perm[:20], "valid": perm[20:30], "test": perm[30:]}
    for split in splits:
        for part, ids in parts.items():
            _write_csv(os.path.join(root, "split", split, f"{part}.csv.gz"), ids)
    return edges, x, y, parts


@pytest.mark.parametrize("chunk_rows", [7, 1 << 20])
@pytest.mark.parametrize("to_undirected", [False, True])
def test_reads_the_raw_layout(tmp_path, rng, chunk_rows, to_undirected):
    edges, x, y, parts = _ogb_folder(tmp_path / "ogbn_toy", rng)
    data = read_ogb_node_dataset(tmp_path / "ogbn_toy", tmp_path / "out", to_undirected=to_undirected,
                                 chunk_rows=chunk_rows)
    assert isinstance(data, OnDiskDataset) and data.name == "ogbn_toy"
    edge_index = edges.T
    if to_undirected:
        edge_index = np.concatenate([edge_index, edge_index[::-1]], axis=1)
    expected = Graph.from_edge_index(edge_index, num_nodes=40)        # file order within each row
    assert data.graph == expected
    assert data.x.dtype == np.float32 and np.array_equal(data.x, x.astype(np.float32))
    assert np.array_equal(data.y, y) and data.num_classes == int(y.max()) + 1
    assert data.split_names == ["sales_ranking"]
    for part, ids in data.split().items():                 # "default" -> the only split
        assert ids.dtype == np.int64 and np.array_equal(ids, parts[part])
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["source"] == {"reader": "ogb-node", "to_undirected": to_undirected}
    assert OnDiskDataset(tmp_path / "out").graph == expected


def test_options_missing_labels_and_optional_files(tmp_path, rng):
    labels = np.array(["nan" if i % 4 == 0 else i % 3 for i in range(40)], dtype=object)
    _ogb_folder(tmp_path / "raw_root", rng, labels=labels, splits=("b", "a"))
    data = read_ogb_node_dataset(tmp_path / "raw_root", tmp_path / "out", name="papers", index_dtype="int64",
                                 feature_dtype="float64")
    assert data.name == "papers" and data.graph.index_dtype == np.int64 and data.x.dtype == np.float64
    assert data.y[0] == -1 and data.y[1] == 1 and data.num_classes == 3
    assert data.split_names == ["a", "b"]
    os.remove(tmp_path / "raw_root" / "raw" / "node-feat.csv.gz")
    os.remove(tmp_path / "raw_root" / "raw" / "node-label.csv.gz")
    data = read_ogb_node_dataset(tmp_path / "raw_root", tmp_path / "out", overwrite=True)
    assert data.x is None and data.y is None and data.graph.num_edges == 150


def test_empty_edge_file(tmp_path, rng):
    _ogb_folder(tmp_path / "r", rng, num_edges=0)
    data = read_ogb_node_dataset(tmp_path / "r", tmp_path / "out")
    assert data.graph.num_edges == 0 and data.graph.num_nodes == 40


def _break(root, name, rows):
    _write_csv(os.path.join(root, *name.split("/")), rows)


BROKEN = {
    "no_raw": (lambda r: os.rename(r / "raw", r / "elsewhere"), FileNotFoundError, "raw"),
    "missing_edges": (lambda r: os.remove(r / "raw" / "edge.csv.gz"), FileNotFoundError, "edge.csv.gz"),
    "missing_num_nodes": (lambda r: os.remove(r / "raw" / "num-node-list.csv.gz"), FileNotFoundError,
                          "num-node-list.csv.gz"),
    "two_graphs": (lambda r: _break(r, "raw/num-node-list.csv.gz", [40, 3]), ValueError, "num-node-list.csv.gz"),
    "edge_out_of_range": (lambda r: _break(r, "raw/edge.csv.gz", [(0, 1), (2, 40)]), ValueError, "edge.csv.gz"),
    "negative_edge": (lambda r: _break(r, "raw/edge.csv.gz", [(0, -1)]), ValueError, "edge.csv.gz"),
    "three_columns": (lambda r: _break(r, "raw/edge.csv.gz", [(0, 1, 2)]), ValueError, "edge.csv.gz"),
    "not_a_number": (lambda r: _break(r, "raw/edge.csv.gz", [("a", 1)]), ValueError, "edge.csv.gz"),
    "ragged_features": (lambda r: _break(r, "raw/node-feat.csv.gz", [(1, 2, 3)] * 20 + [(1, 2)] * 20), ValueError,
                        "node-feat.csv.gz"),
    "short_features": (lambda r: _break(r, "raw/node-feat.csv.gz", [(1, 2, 3)] * 39), ValueError,
                       "node-feat.csv.gz"),
    "long_features": (lambda r: _break(r, "raw/node-feat.csv.gz", [(1, 2, 3)] * 41), ValueError,
                      "node-feat.csv.gz"),
    "short_labels": (lambda r: _break(r, "raw/node-label.csv.gz", [1] * 39), ValueError, "node-label.csv.gz"),
    "negative_label": (lambda r: _break(r, "raw/node-label.csv.gz", [-2] * 40), ValueError, "node-label.csv.gz"),
    "fractional_label": (lambda r: _break(r, "raw/node-label.csv.gz", [0.5] * 40), ValueError,
                         "node-label.csv.gz"),
    "split_out_of_range": (lambda r: _break(r, "split/sales_ranking/test.csv.gz", [40]), ValueError, "test.csv.gz"),
    "split_missing_part": (lambda r: os.remove(r / "split" / "sales_ranking" / "valid.csv.gz"), FileNotFoundError,
                           "valid.csv.gz"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_broken_raw_folder_names_the_file_and_writes_nothing(tmp_path, rng, broken):
    _ogb_folder(tmp_path / "r", rng)
    damage, kind, name = BROKEN[broken]
    damage(tmp_path / "r")
    with pytest.raises(kind, match=name.replace(".", r"\.")):
        read_ogb_node_dataset(tmp_path / "r", tmp_path / "out", chunk_rows=5)
    assert not os.path.exists(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["r"]              # no temporary folder left either


@pytest.mark.parametrize("text", [b"0,1\n2,3", b"0,1\r\n2,3\r\n", b"0,1\n\n2,3\n"],
                         ids=["no_final_newline", "crlf", "blank_line"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_edge_file_text_variants(tmp_path, rng, text, chunk_rows):
    _ogb_folder(tmp_path / "r", rng)
    with gzip.open(tmp_path / "r" / "raw" / "edge.csv.gz", "wb") as handle:
        handle.write(text)
    data = read_ogb_node_dataset(tmp_path / "r", tmp_path / "out", chunk_rows=chunk_rows)
    assert data.graph == Graph.from_edge_index(np.array([[0, 2], [1, 3]]), num_nodes=40)


def test_non_ascii_text_names_the_file(tmp_path, rng):
    _ogb_folder(tmp_path / "r", rng)
    with gzip.open(tmp_path / "r" / "raw" / "edge.csv.gz", "wb") as handle:
        handle.write(b"0,1\n2,\xff\n")
    with pytest.raises(ValueError, match=r"edge\.csv\.gz: lines"):
        read_ogb_node_dataset(tmp_path / "r", tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["r"]
