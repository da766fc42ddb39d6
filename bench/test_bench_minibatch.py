"""The ``minibatch`` and ``large-memory`` suites on a tiny folder: what they print and record (no timing asserted).

DGL runs only when ``$FASTGNN_DGL_PYTHON`` names its interpreter.
"""
import argparse
import io
import json
import os

import numpy as np
import pytest

import large_memory
import minibatch
from fastgnn.datasets import dcsbm_node_dataset


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "dcsbm"
    dcsbm_node_dataset(str(path), 3000, 8, 4, num_features=12, seed=2)
    return str(path)


def _args(module, argv):
    return module.add_arguments(argparse.ArgumentParser()).parse_args(argv)


@pytest.mark.parametrize("dgl", [False, True])
def test_minibatch_prints_a_row_per_impl_and_thread_count(folder, tmp_path, dgl):
    dgl_python = os.environ.get(minibatch.DGL_PYTHON_ENV)
    if dgl and not dgl_python:
        pytest.skip(f"${minibatch.DGL_PYTHON_ENV} not set")
    impls = "fastgnn,dgl" if dgl else "fastgnn"
    jsonl = tmp_path / "rows.jsonl"
    args = _args(minibatch, ["--dataset", folder, "--batches", "2", "--batch-size", "64", "--rounds", "2",
                             "--threads", "1,2", "--hidden", "16", "--impls", impls, "--json", str(jsonl)]
                 + (["--dgl-python", dgl_python] if dgl else []))
    out = io.StringIO()
    rows = minibatch.run(args, file=out)
    text = out.getvalue()
    assert "3,000 nodes" in text and "extrapolated from 2" in text and "PyG" in text
    assert {(r["impl"], r["threads"]) for r in rows} == {(i, t) for i in impls.split(",") for t in (1, 2)}
    assert [json.loads(line) for line in jsonl.read_text().splitlines()] == json.loads(json.dumps(rows))
    for row in rows:
        assert row["batches"] == 2 and row["rounds"] == 2 and row["edges_per_batch"] > 0
        assert row["epoch_seconds_extrapolated"] == pytest.approx(row["seconds_per_batch"] * row["batches_per_epoch"])
        assert row["peak_rss_mb"] > 0
    if dgl:  # both sample the same numbers of neighbours: about the same edges per batch
        fg, dg = (statistics_of(rows, impl) for impl in ("fastgnn", "dgl"))
        assert 0.8 < fg / dg < 1.25


def statistics_of(rows, impl):
    return float(np.mean([r["edges_per_batch"] for r in rows if r["impl"] == impl]))


def test_minibatch_rejects_bad_options(folder):
    with pytest.raises(SystemExit, match="training nodes"):
        minibatch.run(_args(minibatch, ["--dataset", folder, "--batches", "100", "--impls", "fastgnn"]),
                      file=io.StringIO())
    with pytest.raises(SystemExit, match="--impls"):
        minibatch.run(_args(minibatch, ["--dataset", folder, "--impls", "pyg"]), file=io.StringIO())
    with pytest.raises(SystemExit, match="dataset"):
        minibatch.run(_args(minibatch, ["--dataset", ""]), file=io.StringIO())


def test_large_memory_reports_both_cases_from_fresh_processes(folder, tmp_path):
    jsonl = tmp_path / "memory.jsonl"
    out = io.StringIO()
    args = _args(large_memory, ["--dataset", folder, "--epochs", "1", "--hidden", "8", "--batches", "2",
                                "--batch-size", "64", "--cases", "fullbatch,minibatch", "--json", str(jsonl)])
    assert large_memory.run_from_args(args, file=out) == 0
    text = out.getvalue()
    assert "full-batch ChunkedGCN" in text and "graph + features" in text and "target <= 2x" in text
    assert "memory-mapped features" in text and "the feature file" in text
    full, mini = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert full["case"] == "fullbatch" and mini["case"] == "minibatch"
    assert full["features_mb"] == pytest.approx(3000 * 12 * 4 / 2 ** 20)
    assert full["peak_rss_mb"] >= full["rss_after_load_mb"] >= full["rss_before_load_mb"] > 0
    assert mini["batches"] == 2 and mini["peak_rss_mb"] >= mini["peak_anon_mb"] > 0
