"""The GAT benchmark of ``bench/attention.py`` on tiny graphs: every implementation computes the same, the tables print.

Quick checks, no timing asserted: the layer of each implementation (fastgnn's NumPy ``GATConv``, its
torch module, PyG on ``edge_index`` and on a sparse CSR adjacency) gives the same forward output
from the shared features and parameters; the training epochs run; ``run()`` prints the rows, the
ratios and the JSON lines (workers run in-process here, on a tiny graph); the DGL peer script agrees
where ``FASTGNN_DGL_PYTHON`` names DGL's interpreter.
"""
import contextlib
import io
import json
import os
import subprocess

import numpy as np
import pytest

import attention as A
import graphs

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
TORCH_IMPLS = ("fastgnn_torch", "pyg", "pyg_csr")


def _torch_available():
    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError:
        return False
    return True


def _tiny_graph(num_nodes=200, num_edges=1500, seed=1):
    return graphs.unique_edges(graphs.power_law_edge_index(num_nodes, num_edges, rng=seed)), num_nodes


def test_shapes_parse():
    assert A.parse_shape("64x8x8") == (64, 8, 8)
    with pytest.raises(ValueError, match="IN x HEADS x OUT"):
        A.parse_shape("64x8")


def test_unique_edges_keeps_first_occurrences_in_order():
    edge_index = np.array([[0, 1, 0, 2, 1], [1, 2, 1, 0, 2]])
    np.testing.assert_array_equal(graphs.unique_edges(edge_index), [[0, 1, 2], [1, 2, 0]])


@pytest.mark.parametrize("impl", ("fastgnn",) + TORCH_IMPLS)
def test_layers_compute_the_same(impl):
    if impl != "fastgnn" and not _torch_available():
        pytest.skip("torch and torch_geometric are not installed")
    edge_index, num_nodes = _tiny_graph()
    reference = A.layer_benchmark("fastgnn", edge_index, num_nodes, (12, 4, 3)).checksum()
    results = A.measure_layers(impl, edge_index, num_nodes, ["12x4x3"], threads=2, repeat=1, warmup=1, budget_s=1)
    assert [r["pass"] for r in results] == list(A.PASSES)
    for result in results:
        assert result["checksum"] == pytest.approx(reference, rel=1e-4)
        assert len(result["times_ms"]) == 1 and result["times_ms"][0] > 0
        assert "peak_mb" in result
        assert ("tracemalloc_peak_mb" in result) == (impl == "fastgnn")


@pytest.mark.parametrize("impl", ("fastgnn",) + TORCH_IMPLS)
@pytest.mark.parametrize("model", A.MODELS)
def test_epochs_run(impl, model):
    if impl != "fastgnn" and not _torch_available():
        pytest.skip("torch and torch_geometric are not installed")
    edge_index, num_nodes = _tiny_graph()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((num_nodes, 16), dtype=np.float32)
    y = rng.integers(0, 3, num_nodes)
    result = A.measure_epochs(impl, model, (edge_index, x, y, None, 3), threads=1, repeat=2, warmup=1, budget_s=1)
    assert result["model"] == model and len(result["times_ms"]) >= 1


@pytest.fixture
def in_process_workers(monkeypatch):
    """Workers run in this process on a tiny graph instead of a fresh interpreter on the 2M-edge graphs."""
    edge_index, num_nodes = _tiny_graph()
    rng = np.random.default_rng(0)
    data = (edge_index, rng.standard_normal((num_nodes, 16), dtype=np.float32), rng.integers(0, 3, num_nodes),
            np.ones(num_nodes, dtype=bool), 3)
    monkeypatch.setattr(A, "bench_edge_index", lambda name: (edge_index, num_nodes))
    monkeypatch.setattr(A, "training_data", lambda name: data)

    def run_worker(command, threads):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            A.main(command[2:])
        return json.loads(stdout.getvalue().splitlines()[-1])

    monkeypatch.setattr(A, "_run_worker", run_worker)


def test_run_prints_the_tables(in_process_workers, tmp_path):
    impls = ["fastgnn"] + (list(TORCH_IMPLS) if _torch_available() else []) + ["dgl"]
    out = io.StringIO()
    path = tmp_path / "gat.jsonl"
    rows = A.run(tasks=["layer", "epoch"], graphs=["uniform"], shapes=["12x4x3"], threads=[1], impls=impls,
                 models=["gat"], repeat=1, warmup=0, budget=1, dgl_python=None, json_path=str(path), out=out)
    text = out.getvalue()
    assert "skipping dgl" in text and "OUTPUT DIFFERS" not in text
    assert "## GATConv on uniform" in text and "## 2-layer training epoch on uniform" in text
    measured = [name for name in impls if name != "dgl"]
    assert len(rows) == len(measured) * (len(A.PASSES) + 1)
    assert [json.loads(line) for line in path.read_text().splitlines()] == json.loads(json.dumps(rows))
    for row in rows:
        assert row["median_ms"] > 0
        if row["impl"] == "fastgnn":
            assert row["ratio"] == pytest.approx(1.0)
        if row["impl"] in ("pyg", "pyg_csr"):
            assert "ratio_torch" in row
    assert sum("fwd+bwd" in line for line in text.splitlines()) == len(measured)


def test_options():
    parser = A.add_arguments(__import__("argparse").ArgumentParser())
    args = parser.parse_args(["--graphs", "small", "--threads", "2", "--shapes", "32x2x4", "--impls", "fastgnn,pyg"])
    assert args.graphs == ["small"] and args.threads == [2] and args.shapes == ["32x2x4"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--shapes", "32x2"])


@pytest.mark.skipif(not os.environ.get(A.DGL_PYTHON_ENV), reason=f"{A.DGL_PYTHON_ENV} is not set")
def test_dgl_peer_computes_the_same():
    command = [os.environ[A.DGL_PYTHON_ENV], A.DGL_PEER, "--task", "layer", "--graph", "small", "--threads", "1",
               "--shapes", "8x2x4", "--passes", "forward", "--repeat", "1", "--warmup", "0"]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=BENCH_DIR, timeout=300)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])
    edge_index, num_nodes = graphs.bench_edge_index("small")
    reference = A.layer_benchmark("fastgnn", graphs.unique_edges(edge_index), num_nodes, (8, 2, 4)).checksum()
    assert result["results"][0]["checksum"] == pytest.approx(reference, rel=1e-4)
