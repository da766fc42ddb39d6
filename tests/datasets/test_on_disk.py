"""Graph.save / Graph.load, save_dataset and OnDiskDataset: round trips, memory maps, atomic writes, bad folders."""
import json
import os
import tracemalloc

import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.datasets import OnDiskDataset, save_dataset
from fastgnn.graph import storage


def _weights(case, with_weight, float_dtype):
    if not with_weight:
        return None
    return np.linspace(0.5, 2.0, case.num_edges).astype(float_dtype)


@pytest.mark.parametrize("with_weight", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("mmap", [True, False], ids=["mmap", "in_memory"])
def test_graph_round_trip(tmp_path, case, index_dtype, float_dtype, with_weight, mmap):
    graph = case.graph(index_dtype=index_dtype, edge_weight=_weights(case, with_weight, float_dtype))
    graph.save(tmp_path / "g")
    loaded = Graph.load(tmp_path / "g", mmap=mmap)
    assert loaded == graph
    assert loaded.num_src_nodes == graph.num_src_nodes and loaded.num_dst_nodes == graph.num_dst_nodes
    assert loaded.indptr.dtype == loaded.indices.dtype == index_dtype
    if with_weight:
        assert loaded.edge_weight.dtype == float_dtype
    else:
        assert loaded.edge_weight is None
    if mmap and graph.num_edges:
        assert isinstance(loaded.indices, np.memmap)
        assert isinstance(loaded.indptr, np.memmap)
    assert not loaded.indices.flags.writeable
    with pytest.raises(ValueError):
        loaded.indices.flags.writeable = True
    # the loaded graph works like any other (derived structure, transpose)
    assert np.array_equal(loaded.in_degree(), graph.in_degree())
    assert loaded.reverse() == graph.reverse()


def test_graph_save_does_not_overwrite(tmp_path):
    graph = Graph.from_edge_index(np.array([[0, 1], [1, 0]]))
    graph.save(tmp_path / "g")
    with pytest.raises(FileExistsError, match="already exists"):
        graph.save(tmp_path / "g")
    other = Graph.from_edge_index(np.array([[0, 1, 2], [1, 2, 0]]))
    other.save(tmp_path / "g", overwrite=True)
    assert Graph.load(tmp_path / "g") == other
    assert sorted(os.listdir(tmp_path)) == ["g"]         # no temporary sibling left


def _dataset(rng, num_nodes=30, num_features=5, dtype=np.float32, index_dtype=None):
    src = rng.integers(0, num_nodes, 90)
    dst = rng.integers(0, num_nodes, 90)
    graph = Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes, index_dtype=index_dtype)
    x = rng.standard_normal((num_nodes, num_features)).astype(dtype)
    y = rng.integers(0, 4, num_nodes)
    perm = rng.permutation(num_nodes)
    split = {"train": perm[:10], "valid": perm[10:20], "test": perm[20:]}
    return graph, x, y, split


def test_dataset_round_trip(tmp_path, rng, float_dtype, index_dtype):
    graph, x, y, split = _dataset(rng, dtype=float_dtype, index_dtype=index_dtype)
    x_copy, y_copy = x.copy(), y.copy()
    written = save_dataset(tmp_path / "d", graph, x, y, split, name="toy")
    assert np.array_equal(x, x_copy) and np.array_equal(y, y_copy)   # inputs untouched
    for data in (written, OnDiskDataset(tmp_path / "d"), OnDiskDataset(tmp_path / "d", mmap=False)):
        assert data.graph == graph
        assert data.x.dtype == float_dtype and np.array_equal(data.x, x)
        assert data.y.dtype == np.int64 and np.array_equal(data.y, y)
        assert data.num_classes == 4 and data.name == "toy" and data.num_features == 5
        parts = data.split()
        assert set(parts) == {"train", "valid", "test"}
        for key in parts:
            assert parts[key].dtype == np.int64 and np.array_equal(parts[key], split[key])
        train, valid, test = data.masks()
        assert train.sum() == 10 and not (train & valid).any() and (train | valid | test).all()
        assert "toy" in repr(data)
    assert isinstance(OnDiskDataset(tmp_path / "d").x, np.memmap)
    assert not isinstance(OnDiskDataset(tmp_path / "d", mmap=False).x, np.memmap)
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["version"] == storage.FORMAT_VERSION and meta["x"] == {"dtype": np.dtype(float_dtype).name,
                                                                        "shape": [30, 5]}


def test_dataset_optional_parts_and_named_splits(tmp_path, rng):
    graph, x, y, split = _dataset(rng)
    data = save_dataset(tmp_path / "bare", graph)
    assert data.x is None and data.y is None and data.num_classes is None and data.split_names == []
    with pytest.raises(KeyError, match="no split"):
        data.split()
    data = save_dataset(tmp_path / "named", graph, y=y, splits={"a": split, "b": split}, num_classes=7)
    assert data.num_classes == 7 and data.split_names == ["a", "b"]
    assert np.array_equal(data.split()["train"], split["train"])        # "default" -> the first
    assert np.array_equal(data.split("b")["test"], split["test"])


def test_bipartite_dataset(tmp_path, rng):
    graph = Graph.from_edge_index(np.array([[0, 5, 6, 2], [0, 1, 1, 2]]), num_src_nodes=7, num_dst_nodes=3)
    x = rng.standard_normal((7, 2))
    data = save_dataset(tmp_path / "b", graph, x, y=[0, 1, 0])
    assert data.graph == graph and data.graph.num_src_nodes == 7 and data.x.shape == (7, 2)
    assert data.x.dtype == np.float64


def test_memory_mapped_features_are_not_read(tmp_path, rng):
    """A 2 GB feature file (sparse on disk) opens without reading it: nothing near its size is allocated."""
    graph = Graph.from_edge_index(np.array([[0, 1], [1, 2]]), num_nodes=1 << 20)
    save_dataset(tmp_path / "big", graph, np.zeros((1 << 20, 1), np.float32))
    meta_path = tmp_path / "big" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["x"]["shape"] = [1 << 20, 512]
    meta_path.write_text(json.dumps(meta))
    x_path = tmp_path / "big" / "x.npy"
    with open(x_path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (1 << 20, 512)})
        handle.truncate(handle.tell() + (1 << 20) * 512 * 4)          # a hole, not written
    tracemalloc.start()
    try:
        data = OnDiskDataset(tmp_path / "big")
        row = np.array(data.x[12345])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(data.x, np.memmap) and data.x.shape == (1 << 20, 512)
    assert np.all(row == 0)
    assert peak < 64 << 20


def test_bad_dataset_arguments_write_nothing(tmp_path, rng):
    graph, x, y, split = _dataset(rng)
    bad = [
        (dict(x=x[:5]), ValueError, "x must have shape"),
        (dict(x=x.astype(np.int32)), TypeError, "float32 or float64"),
        (dict(y=y[:3]), ValueError, "one label per node"),
        (dict(y=y, num_classes=2), ValueError, "out of range"),
        (dict(splits={"train": [0], "valid": [1]}), ValueError, "train, valid and test"),
        (dict(splits={"train": [99], "valid": [1], "test": [2]}), ValueError, "out of range"),
        (dict(splits={"../up": split}), ValueError, "folder names"),
    ]
    for kwargs, kind, message in bad:
        with pytest.raises(kind, match=message):
            save_dataset(tmp_path / "d", graph, **kwargs)
        assert os.listdir(tmp_path) == []
    with pytest.raises(TypeError, match="graph must be"):
        save_dataset(tmp_path / "d", "not a graph")


def test_atomic_write_leaves_nothing_on_error(tmp_path, rng, monkeypatch):
    graph, x, y, split = _dataset(rng)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("fastgnn.datasets.on_disk.write_splits", fail)
    with pytest.raises(OSError, match="disk full"):
        save_dataset(tmp_path / "d", graph, x, y, split)
    assert os.listdir(tmp_path) == []
    # with overwrite, the old folder survives a failed rewrite
    monkeypatch.undo()
    save_dataset(tmp_path / "d", graph, x, y, split)
    monkeypatch.setattr("fastgnn.datasets.on_disk.write_splits", fail)
    with pytest.raises(OSError):
        save_dataset(tmp_path / "d", graph, x * 2, y, split, overwrite=True)
    assert os.listdir(tmp_path) == ["d"]
    assert np.array_equal(OnDiskDataset(tmp_path / "d").x, x)


# ---------------------------------------------------------------------- corrupt folders
def _edit_meta(folder, **changes):
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(changes)
    (folder / "meta.json").write_text(json.dumps(meta))


def _truncate(path, nbytes=4):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size - nbytes)


def _rewrite(path, array):
    np.save(path, array)


CORRUPTIONS = {
    "missing_meta": (lambda d: os.remove(d / "meta.json"), FileNotFoundError, "meta.json"),
    "missing_indices": (lambda d: os.remove(d / "indices.npy"), FileNotFoundError, "indices.npy"),
    "missing_x": (lambda d: os.remove(d / "x.npy"), FileNotFoundError, "x.npy"),
    "missing_split_file": (lambda d: os.remove(d / "split" / "default" / "valid.npy"), FileNotFoundError,
                           "valid.npy"),
    "bad_json": (lambda d: (d / "meta.json").write_text("{not json"), ValueError, "meta.json"),
    "json_not_object": (lambda d: (d / "meta.json").write_text("[1, 2]"), ValueError, "meta.json"),
    "wrong_version": (lambda d: _edit_meta(d, version=99), ValueError, "version"),
    "wrong_format": (lambda d: _edit_meta(d, format="other"), ValueError, "meta.json"),
    "bad_num_edges": (lambda d: _edit_meta(d, num_edges=-1), ValueError, "num_edges"),
    "bad_index_dtype": (lambda d: _edit_meta(d, index_dtype="float32"), ValueError, "index_dtype"),
    "truncated_indices": (lambda d: _truncate(d / "indices.npy"), ValueError, "indices.npy"),
    "truncated_x": (lambda d: _truncate(d / "x.npy"), ValueError, "x.npy"),
    "padded_x": (lambda d: open(d / "x.npy", "ab").write(b"\0" * 8), ValueError, "x.npy"),
    "truncated_header": (lambda d: _truncate(d / "indptr.npy", os.path.getsize(d / "indptr.npy") - 6),
                         ValueError, "indptr.npy"),
    "not_npy": (lambda d: (d / "y.npy").write_bytes(b"hello"), ValueError, "y.npy"),
    "short_indices": (lambda d: _rewrite(d / "indices.npy", np.load(d / "indices.npy")[:-1]), ValueError,
                      "indices.npy"),
    "indices_dtype": (lambda d: _rewrite(d / "indices.npy", np.load(d / "indices.npy").astype(np.int16)),
                      ValueError, "indices.npy"),
    "indptr_decreasing": (lambda d: _rewrite(d / "indptr.npy", np.load(d / "indptr.npy")[::-1].copy()),
                          ValueError, "indptr.npy"),
    "indptr_bad_end": (lambda d: _rewrite(d / "indptr.npy", np.minimum(np.load(d / "indptr.npy"), 50)),
                       ValueError, "indptr.npy"),
    "index_out_of_range": (lambda d: _rewrite(d / "indices.npy", np.load(d / "indices.npy") + 1000), ValueError,
                           "indices.npy"),
    "negative_index": (lambda d: _rewrite(d / "indices.npy", np.load(d / "indices.npy") - 1000), ValueError,
                       "indices.npy"),
    "x_wrong_rows": (lambda d: _rewrite(d / "x.npy", np.load(d / "x.npy")[:-1]), ValueError, "x.npy"),
    "x_meta_shape": (lambda d: _edit_meta(d, x={"dtype": "float32", "shape": [3, 5]}), ValueError, "meta.json"),
    "y_wrong_length": (lambda d: _rewrite(d / "y.npy", np.load(d / "y.npy")[:-2]), ValueError, "y.npy"),
    "y_out_of_classes": (lambda d: _rewrite(d / "y.npy", np.load(d / "y.npy") + 10), ValueError, "y.npy"),
    "y_float": (lambda d: _rewrite(d / "y.npy", np.load(d / "y.npy").astype(np.float64)), ValueError, "y.npy"),
    "stray_weights": (lambda d: np.save(d / "edge_weight.npy", np.ones(90)), ValueError, "edge_weight.npy"),
    "object_array": (lambda d: np.save(d / "y.npy", np.array([None] * 30, dtype=object), allow_pickle=True),
                     ValueError, "y.npy"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_folder_is_refused_naming_the_file(tmp_path, rng, corruption):
    graph, x, y, split = _dataset(rng)
    save_dataset(tmp_path / "d", graph, x, y, split)
    corrupt, kind, name = CORRUPTIONS[corruption]
    corrupt(tmp_path / "d")
    with pytest.raises(kind, match=name.replace(".", r"\.")):
        data = OnDiskDataset(tmp_path / "d")
        data.split()


@pytest.mark.parametrize("corruption", ["split_out_of_range", "split_2d", "split_float"])
def test_corrupt_split_is_refused_when_read(tmp_path, rng, corruption):
    graph, x, y, split = _dataset(rng)
    save_dataset(tmp_path / "d", graph, x, y, split)
    path = tmp_path / "d" / "split" / "default" / "test.npy"
    values = {"split_out_of_range": np.array([0, 30]), "split_2d": np.zeros((2, 2), np.int64),
              "split_float": np.array([0.5])}[corruption]
    np.save(path, values)
    data = OnDiskDataset(tmp_path / "d")
    with pytest.raises(ValueError, match="test.npy"):
        data.split()


def test_corrupt_weights(tmp_path):
    graph = Graph.from_edge_index(np.array([[0, 1], [1, 0]]), edge_weight=[1.0, 2.0])
    graph.save(tmp_path / "g")
    np.save(tmp_path / "g" / "edge_weight.npy", np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"edge_weight\.npy.*finite"):
        Graph.load(tmp_path / "g")


def test_not_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        Graph.load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        OnDiskDataset(tmp_path / "nothing")


def test_strided_read_only_and_memory_mapped_inputs(tmp_path, rng):
    graph, x, y, split = _dataset(rng, num_features=10)
    strided = x[:, ::2]
    y_read_only = y.copy()
    y_read_only.flags.writeable = False
    data = save_dataset(tmp_path / "a", graph, strided, y_read_only, split)
    assert np.array_equal(data.x, strided)
    # a memory-mapped dataset saved again (its graph and features are read-only memory maps)
    again = save_dataset(tmp_path / "b", data.graph, data.x, data.y, data.split())
    assert again.graph == graph and np.array_equal(again.x, strided)


# ---------------------------------------------------------------------- fuzz (child processes, capped memory)
FUZZ_SCALE = max(1, int(os.environ.get("FASTGNN_FUZZ_SCALE", "1") or 1))
FOLDER_FILES = ["meta.json", "indptr.npy", "indices.npy", "edge_weight.npy", "x.npy", "y.npy",
                "split/default/train.npy"]


def test_fuzzed_folders_are_refused_cleanly(tmp_path):
    """Random byte edits and truncations of every file: the folder opens and works, or the error names the file."""
    from _isolated import is_clean, run_isolated

    rng = np.random.default_rng(12)
    graph = Graph.from_edge_index(rng.integers(0, 30, (2, 90)), num_nodes=30, edge_weight=rng.random(90))
    source = tmp_path / "source"
    save_dataset(source, graph, rng.standard_normal((30, 4)).astype(np.float32), rng.integers(0, 3, 30),
                 {"train": np.arange(10), "valid": np.arange(10, 20), "test": np.arange(20, 30)})
    specs = []
    for name in FOLDER_FILES:
        size = os.path.getsize(source / name)
        for _ in range(6 * FUZZ_SCALE):
            spec = {"loader": "on_disk", "source": str(source), "scratch": str(tmp_path / "scratch"), "name": "",
                    "file": name}
            if rng.random() < 0.3:
                spec["truncate"] = int(rng.integers(0, size))
            else:
                span = min(size, 160 if name.endswith(".npy") else size)      # .npy: the header and first rows
                spec["edits"] = [[int(rng.integers(0, span)), int(rng.integers(0, 256))]
                                 for _ in range(int(rng.integers(1, 4)))]
            specs.append(spec)
    outcomes = run_isolated("load_mutated", specs, timeout=30)
    bad = [(spec["file"], outcome) for spec, outcome in zip(specs, outcomes)
           if not is_clean(outcome, os.path.basename(spec["file"]))]
    assert not bad, bad[:5]
