"""Graph classification: GIN-0 and GCN/SAGE with readout (gradients, PyG parity), training, CV, the CLI runner."""
import argparse
import io
import json

import numpy as np
import pytest

import fastgnn
from fastgnn import Graph, nn
from fastgnn.data import Batch, GraphData
from fastgnn.datasets import TUDataset, add_degree_features
from fastgnn.models.graph_classification import (GINGraphClassifier, GNNGraphClassifier,
                                                 build_graph_classifier)
from fastgnn.train import cross_validate_graph_classifier, evaluate_graph_classifier, train_graph_classifier
from fastgnn.cli import graph as graph_task
from fastgnn.testing import check_module_grad
from fixture_data import TU_ROOT


def random_graphs(rng, count, width=4, num_classes=2, min_nodes=0, max_nodes=7, dtype=np.float64):
    graphs = []
    for _ in range(count):
        n = int(rng.integers(min_nodes, max_nodes + 1))
        m = int(rng.integers(0, 3 * n + 1)) if n else 0
        graph = Graph.from_edge_index(rng.integers(0, max(n, 1), (2, m)), num_nodes=n)
        graphs.append(GraphData(graph, rng.standard_normal((n, width)).astype(dtype), int(rng.integers(num_classes))))
    return graphs


class WithInputGrad(nn.Module):
    """Exposes a model's input gradient to check_module_grad (the models skip it by default)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, graph, x, ptr):
        return self.model(graph, x, ptr)

    def backward(self, grad_out):
        return self.model.backward(grad_out, need_input_grad=True)


MODELS = [("gin", "sum"), ("gin", "mean"), ("gin", "max"), ("gcn", "mean"), ("gcn", "max"), ("sage", "mean"),
          ("sage", "max"), ("sage", "sum")]


@pytest.mark.parametrize("name, pool", MODELS)
def test_gradients_end_to_end(rng, name, pool):
    """Finite differences through convolutions, BatchNorm, readout and heads, on a batch with an empty graph."""
    graphs = random_graphs(rng, 5, min_nodes=1)
    graphs.insert(2, GraphData(Graph.from_edge_index(np.zeros((2, 0), int), num_nodes=0), np.zeros((0, 4)), 1))
    batch = Batch.from_graphs(graphs)
    model = build_graph_classifier(name, 4, 3, hidden_channels=5, num_layers=3, pool=pool, dropout=0.0, rng=0,
                                   dtype=np.float64)
    for param_name, param in model.named_parameters():
        if param_name.endswith("bias"):  # zero biases would put the empty graph's ReLUs exactly on their kink
            param.data[:] = rng.standard_normal(param.shape)
    x = np.array(batch.x)
    check_module_grad(WithInputGrad(model), batch.graph, x, batch.ptr, rtol=1e-4, atol=1e-6, max_elements=40)


def test_gin_architecture():
    model = GINGraphClassifier(7, 16, 2, num_layers=5, rng=0)
    assert len(model.convs) == 4 and len(model.heads) == 5
    assert [type(m).__name__ for m in model.convs[0].nn] == ["Linear", "BatchNorm", "ReLU", "Linear", "BatchNorm",
                                                             "ReLU"]
    assert [h.in_features for h in model.heads] == [7, 16, 16, 16, 16]
    assert all(float(conv.eps[0]) == 0.0 and not conv.train_eps for conv in model.convs)
    assert not any("eps" in name for name, _ in model.named_parameters())
    assert model.pool == "sum" and model.dropout == 0.5
    assert any(name.endswith("running_mean") for name, _ in model.named_buffers())


def test_gin_matches_pyg(rng):
    """Same weights, same batch: the same scores and gradients as PyG's GINConv + BatchNorm1d + global_add_pool."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import GINConv, global_add_pool

    graphs = random_graphs(rng, 6, width=3, min_nodes=2)
    batch = Batch.from_graphs(graphs)
    ours = GINGraphClassifier(3, 8, 2, num_layers=3, dropout=0.0, rng=0, dtype=np.float64)

    def copy_linear(module, layer):
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(module.weight.data))
            layer.bias.copy_(torch.from_numpy(module.bias.data))
        return layer

    def linear(module):
        return copy_linear(module, torch.nn.Linear(module.in_features, module.out_features).double())

    convs = torch.nn.ModuleList()
    for conv in ours.convs:
        mlp = conv.nn
        pyg_conv = GINConv(torch.nn.Sequential(linear(mlp[0]), torch.nn.BatchNorm1d(8).double(), torch.nn.ReLU(),
                                               linear(mlp[3]), torch.nn.BatchNorm1d(8).double(), torch.nn.ReLU()))
        copy_linear(mlp[0], pyg_conv.nn[0])  # GINConv re-initialises its MLP: copy the weights again
        copy_linear(mlp[3], pyg_conv.nn[3])
        convs.append(pyg_conv)
    heads = torch.nn.ModuleList([linear(head) for head in ours.heads])
    x = torch.from_numpy(np.array(batch.x))
    edge_index = torch.from_numpy(batch.graph.to_edge_index())
    index = torch.from_numpy(np.array(batch.batch))
    hs = [x]
    for conv in convs:
        hs.append(conv(hs[-1], edge_index))
    theirs = sum(head(global_add_pool(h, index)) for h, head in zip(hs, heads))
    scores = ours(batch.graph, batch.x, batch.ptr)
    np.testing.assert_allclose(scores, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    projection = rng.standard_normal(scores.shape)
    (theirs * torch.from_numpy(projection)).sum().backward()
    ours.backward(projection)
    np.testing.assert_allclose(ours.convs[0].nn[0].weight.grad, convs[0].nn[0].weight.grad.numpy(), rtol=1e-9,
                               atol=1e-10)
    np.testing.assert_allclose(ours.heads[0].weight.grad, heads[0].weight.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours.convs[1].nn[1].weight.grad, convs[1].nn[1].weight.grad.numpy(), rtol=1e-9,
                               atol=1e-10)


def test_eval_mode_is_deterministic_and_per_graph(rng):
    graphs = random_graphs(rng, 8, min_nodes=2, dtype=np.float32)
    model = build_graph_classifier("gin", 4, 2, hidden_channels=8, rng=0)
    model.eval()
    together = model(*(lambda b: (b.graph, b.x, b.ptr))(Batch.from_graphs(graphs)))
    alone = np.concatenate([model(b.graph, b.x, b.ptr) for b in (Batch.from_graphs([g]) for g in graphs)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    assert not model.has_cache()


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="model must be one of"):
        build_graph_classifier("transformer", 3, 2)
    with pytest.raises(ValueError, match="dropout"):
        GINGraphClassifier(3, 4, 2, dropout=1.0)
    with pytest.raises(ValueError, match="conv must be"):
        GNNGraphClassifier(3, 4, 2, conv="transformer")
    with pytest.raises(ValueError, match="reduce"):
        GINGraphClassifier(3, 4, 2, pool="median")
    model = build_graph_classifier("gin", 3, 2)
    graph = Graph.from_edge_index([[0], [1]], num_nodes=2)
    with pytest.raises(ValueError, match="3"):
        model(graph, np.zeros((2, 4), np.float32), np.array([0, 2]))


# ---------------------------------------------------------------------------- training
def separable_graphs(rng, count, constant=True):
    """Class = whether the graph is a path or a star of 6 nodes (features: constant, or one-hot degree)."""
    graphs = []
    for _ in range(count):
        label = int(rng.integers(2))
        if label:
            edges = [[0, 0, 0, 0, 0], [1, 2, 3, 4, 5]]
        else:
            edges = [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]
        edges = np.concatenate([np.array(edges), np.array(edges)[::-1]], axis=1)
        graphs.append(GraphData(Graph.from_edge_index(edges, num_nodes=6), np.ones((6, 1), np.float32), label))
    return graphs if constant else add_degree_features(graphs)


@pytest.mark.parametrize("name, pool, constant", [("gin", "sum", True), ("gcn", "max", True), ("sage", "max", False),
                                                   ("sage", "mean", False)])
def test_learns_structure(rng, name, pool, constant):
    """GIN and GCN tell paths from stars by structure alone; SAGE's mean aggregation needs degree features."""
    graphs = separable_graphs(rng, 64, constant)
    width = graphs[0].num_node_features
    model = build_graph_classifier(name, width, 2, hidden_channels=16, num_layers=3, pool=pool, rng=0)
    result = train_graph_classifier(model, graphs[:48], graphs[48:], epochs=40, batch_size=16, rng=0)
    assert result.test_acc == 1.0 and result.history["test_acc"][-1] == 1.0
    assert len(result.history["train_loss"]) == len(result.history["test_acc"]) == 40
    accuracy, loss = evaluate_graph_classifier(model, graphs[48:])
    assert accuracy == 1.0 and np.isfinite(loss)


def test_training_is_reproducible(rng):
    graphs = random_graphs(rng, 30, min_nodes=1, dtype=np.float32)

    def run():
        return cross_validate_graph_classifier(
            lambda r: build_graph_classifier("gin", 4, 2, hidden_channels=8, rng=r), graphs, num_folds=3,
            epochs=4, batch_size=8, rng=7, n_threads=1)

    first, second = run(), run()
    np.testing.assert_array_equal(first.test_acc, second.test_acc)
    assert [r.history["train_loss"] for r in first.fold_results] == [r.history["train_loss"]
                                                                    for r in second.fold_results]


def test_cross_validation_protocols():
    graphs = separable_graphs(np.random.default_rng(1), 40)
    result = cross_validate_graph_classifier(
        lambda r: build_graph_classifier("gin", 1, 2, hidden_channels=8, num_layers=3, rng=r), graphs,
        num_folds=4, epochs=6, batch_size=8, rng=0, n_threads=1)
    assert result.test_acc.shape == (4, 6)
    means = result.test_acc.mean(axis=0)
    assert result.best_epoch == int(np.argmax(means)) + 1
    assert result.test_acc_mean == pytest.approx(means.max())
    assert result.test_acc_last_mean == pytest.approx(means[-1])
    assert result.test_acc_std == pytest.approx(np.std(result.test_acc[:, result.best_epoch - 1], ddof=1))
    tests = np.sort(np.concatenate([test for _, test in result.folds]))
    np.testing.assert_array_equal(tests, np.arange(40))
    summary = result.summary()
    json.dumps(summary)
    assert summary["test_acc_mean"] == result.test_acc_mean


def test_labels_are_required(rng):
    graphs = [g.replace(y=None) for g in random_graphs(rng, 4, min_nodes=1, dtype=np.float32)]
    model = build_graph_classifier("gin", 4, 2)
    with pytest.raises(ValueError, match="class label"):
        train_graph_classifier(model, graphs, epochs=1)


def test_gin_learns_mutag_quickly():
    """Smoke test: 2 folds x 20 epochs beat the majority class (125/188 = 66.5%)."""
    dataset = TUDataset(TU_ROOT, "MUTAG")
    result = cross_validate_graph_classifier(
        lambda r: build_graph_classifier("gin", dataset.num_node_features, 2, rng=r), dataset, num_folds=2,
        epochs=20, rng=0, n_threads=1)
    assert result.test_acc_last_mean > 0.7
    assert result.test_acc_mean > 0.75


@pytest.mark.slow
def test_gin0_mutag_paper_protocol():
    """The GIN paper's check: 10-fold CV, 5 layers, hidden 64, batch 32, 350 epochs: paper-protocol mean >= 85%."""
    out = io.StringIO()
    # One kernel thread: results do not depend on it, and the run stays short on a shared machine.
    args = argparse.Namespace(dataset="MUTAG", data_root=str(TU_ROOT), json=True, quiet=True, threads=1)
    assert graph_task.run(args, out=out) == 0
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    print(report)
    assert report["folds"] == 10 and report["epochs"] == 350 and report["layers"] == 5 and report["hidden"] == 64
    assert report["test_acc_mean"] >= 0.85
    assert report["test_acc_last_mean"] > 0.75


# ---------------------------------------------------------------------------- the CLI runner
def write_tiny_tu(folder, name="TINY", count=24, seed=0):
    """A TU folder of paths (class 0) and stars (class 1) with node labels."""
    rng = np.random.default_rng(seed)
    a, indicator, labels, node_labels = [], [], [], []
    first = 1
    for g in range(count):
        label = int(rng.integers(2))
        pairs = [(0, k) for k in range(1, 6)] if label else [(k, k + 1) for k in range(5)]
        for s, d in pairs:
            a += [f"{first + s}, {first + d}", f"{first + d}, {first + s}"]
        indicator += [str(g + 1)] * 6
        node_labels += [str(int(rng.integers(2)))] * 6
        labels.append("1" if label else "-1")
        first += 6
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, lines in (("A", a), ("graph_indicator", indicator), ("graph_labels", labels),
                          ("node_labels", node_labels)):
        (folder / f"{name}_{suffix}.txt").write_text("\r\n".join(lines) + "\r\n")


def parse(argv):
    parser = argparse.ArgumentParser()
    graph_task.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("model", ["gin", "gcn", "sage"])
def test_runner_json(tmp_path, model):
    write_tiny_tu(tmp_path)
    out = io.StringIO()
    args = parse(["--dataset", "TINY", "--data-root", str(tmp_path), "--folds", "3", "--epochs", "3",
                  "--model", model, "--batch-size", "8", "--hidden", "8", "--json", "--threads", "1"])
    assert graph_task.run(args, out=out) == 0
    lines = out.getvalue().strip().splitlines()
    report = json.loads(lines[-1])
    assert report["task"] == "graph" and report["dataset"] == "TINY" and report["model"] == model
    for key in ("test_acc_mean", "test_acc_std", "test_acc_last_mean", "best_epoch"):
        assert key in report
    assert report["pool"] == ("sum" if model == "gin" else "mean")
    assert any(line.startswith("fold  1/3  epoch") for line in lines)
    assert fastgnn.get_num_threads() == fastgnn._runtime.threads.get_num_threads()


def test_runner_synthetic_proteins_is_the_same_on_1_and_2_threads():
    reports = []
    for threads in ("1", "2"):
        out = io.StringIO()
        args = parse(["--dataset", "synthetic-proteins", "--folds", "2", "--epochs", "1", "--hidden", "8",
                      "--layers", "3", "--json", "--threads", threads])
        assert graph_task.run(args, out=out) == 0
        lines = out.getvalue().strip().splitlines()
        reports.append(json.loads(lines[-1]))
        assert lines[0].startswith("SyntheticGraphDataset(synthetic-proteins, num_graphs=1113")
        assert any(line.startswith("fold  2/2  epoch 1/1") for line in lines)
    assert [report["processes"] for report in reports] == [1, 2]
    assert reports[0]["num_graphs"] == 1113 and reports[0]["num_classes"] == 2
    for key in ("fold_test_acc", "fold_test_acc_last", "test_acc_mean", "train_acc_last_mean"):
        assert reports[0][key] == reports[1][key]


def test_runner_quiet_and_featureless(tmp_path):
    write_tiny_tu(tmp_path)
    (tmp_path / "TINY_node_labels.txt").unlink()
    out = io.StringIO()
    args = parse(["--dataset", "TINY", "--data-root", str(tmp_path), "--folds", "2", "--epochs", "2", "--quiet",
                  "--json", "--pool", "max"])
    assert graph_task.run(args, out=out) == 0
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["pool"] == "max"


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "NOPE"], "NOPE_A.txt"),
    (["--dataset", "TINY", "--model", "transformer"], "--model"),
    (["--dataset", "TINY", "--folds", "1"], "--folds"),
    (["--dataset", "TINY", "--folds", "100"], "exceeds the number of graphs"),
    (["--dataset", "TINY", "--epochs", "0"], "--epochs"),
])
def test_runner_bad_input(tmp_path, capsys, argv, message):
    write_tiny_tu(tmp_path)
    args = parse(argv + ["--data-root", str(tmp_path)])
    assert graph_task.run(args, out=io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_runner_needs_dataset_and_root(capsys):
    assert graph_task.run(parse([]), out=io.StringIO()) == 2
    assert "--dataset" in capsys.readouterr().err


def test_cli_train_task_graph(tmp_path):
    """``python -m fastgnn train --task graph ... --json``: the last line is the JSON report."""
    import subprocess
    import sys

    write_tiny_tu(tmp_path)
    completed = subprocess.run(
        [sys.executable, "-m", "fastgnn", "train", "--task", "graph", "--dataset", "TINY", "--data-root",
         str(tmp_path), "--folds", "2", "--epochs", "3", "--model", "gin", "--pool", "sum", "--batch-size", "8",
         "--hidden", "8", "--layers", "3", "--lr", "0.01", "--seed", "1", "--json"],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert (report["task"], report["dataset"], report["model"]) == ("graph", "TINY", "gin")
    assert {"test_acc_mean", "test_acc_std", "test_acc_last_mean"} <= set(report)
    assert (report["hidden"], report["layers"], report["seed"], report["folds"]) == (8, 3, 1, 2)
    assert len(lines) > 3  # progress before the JSON line


def test_cli_graph_task_errors(tmp_path, capsys):
    from fastgnn.cli import main

    assert main(["train", "--task", "graph", "--dataset", "MISSING", "--data-root", str(tmp_path), "--quiet"]) == 2
    assert "MISSING_A.txt" in capsys.readouterr().err
    write_tiny_tu(tmp_path)
    assert main(["train", "--task", "graph", "--dataset", "TINY", "--data-root", str(tmp_path), "--hidden",
                 "8,8", "--quiet"]) == 2
    assert "one --hidden width" in capsys.readouterr().err
