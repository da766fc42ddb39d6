"""``fastgnn train`` (the node task): output, JSON last line, options, weights on disk, errors."""
import json
import os

import numpy as np
import pytest

from fastgnn.cli import main
from fastgnn.cli.node import model_defaults
from fixture_data import RAW_CORA


def train(capsys, *argv):
    status = main(["train", *argv])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def last_json(lines):
    return json.loads(lines[-1])


def test_default_is_gcn_on_cora_with_the_papers_settings(capsys):
    status, lines, _ = train(capsys, "--epochs", "3", "--json")
    assert status == 0
    result = last_json(lines)
    assert (result["task"], result["dataset"], result["model"], result["mode"]) == \
        ("node", "cora", "gcn", "transductive")
    assert result["config"] == {"hidden": 16, "layers": 2, "aggr": None, "dropout": 0.5, "bias": False,
                                "lr": 0.01, "weight_decay": 5e-4, "decay": "first",
                                "early_stopping": "window", "patience": 10, "epochs": 3}
    assert result["normalize_features"] is True
    for key in ("val_acc", "test_acc", "test_acc_mean", "train_acc"):
        assert 0 <= result[key] <= 1
    assert result["epochs"] == 3 and result["seconds_per_epoch"] > 0 and result["test_acc_std"] == 0
    assert any(line.startswith("epoch 1/") for line in lines)           # progress
    assert lines[-2].startswith("val acc") and "test acc" in lines[-2] and "ms/epoch" in lines[-2]


def test_runs_report_mean_and_std(capsys):
    status, lines, _ = train(capsys, "--epochs", "2", "--runs", "3", "--seed", "4", "--quiet", "--json")
    assert status == 0
    result = last_json(lines)
    assert result["runs"] == 3 and [run["seed"] for run in result["per_run"]] == [4, 5, 6]
    tests = [run["test_acc"] for run in result["per_run"]]
    assert result["test_acc_mean"] == pytest.approx(np.mean(tests))
    assert result["test_acc_std"] == pytest.approx(np.std(tests))
    assert len(lines) == 2 and lines[0].startswith("3 runs: val acc")      # --quiet: the summary only


@pytest.mark.parametrize("argv,model,aggr", [
    (("--model", "sage"), "sage", "mean"),
    (("--model", "sage", "--aggr", "max"), "sage", "max"),
    (("--model", "gin"), "gin", None),
    (("--model", "graphconv", "--aggr", "max"), "graphconv", "max"),
    (("--model", "graphconv"), "graphconv", "sum"),
])
def test_models(capsys, argv, model, aggr):
    status, lines, _ = train(capsys, *argv, "--epochs", "2", "--quiet", "--json")
    assert status == 0
    result = last_json(lines)
    assert result["model"] == model and result["config"]["aggr"] == aggr
    defaults = model_defaults(model)
    assert result["config"]["hidden"] == defaults["hidden"] and result["config"]["lr"] == defaults["lr"]


def test_options_override_the_defaults(capsys):
    status, lines, _ = train(capsys, "--hidden", "32,8", "--dropout", "0.2", "--lr", "0.05", "--weight-decay", "0",
                             "--decay", "all", "--early-stopping", "patience", "--patience", "3", "--epochs", "4",
                             "--threads", "1", "--bias", "--no-normalize-features", "--quiet", "--json")
    assert status == 0
    result = last_json(lines)
    assert result["config"] == {"hidden": [32, 8], "layers": 3, "aggr": None, "dropout": 0.2, "bias": True,
                                "lr": 0.05, "weight_decay": 0.0, "decay": "all", "early_stopping": "patience",
                                "patience": 3, "epochs": 4}
    assert result["threads"] == 1 and result["normalize_features"] is False


def test_inductive(capsys):
    status, lines, _ = train(capsys, "--inductive", "--epochs", "5", "--quiet", "--json")
    assert status == 0 and last_json(lines)["mode"] == "inductive"


def test_save_then_load_reproduces_the_accuracy(tmp_path, capsys):
    path = str(tmp_path / "gcn.npz")
    status, lines, _ = train(capsys, "--epochs", "20", "--save", path, "--quiet", "--json")
    assert status == 0 and os.path.isfile(path)
    trained = last_json(lines)
    status, lines, _ = train(capsys, "--load", path, "--quiet", "--json")       # no --epochs: evaluate only
    assert status == 0
    loaded = last_json(lines)
    assert loaded["epochs"] == 0 and loaded["loaded"] == path
    assert (loaded["val_acc"], loaded["test_acc"]) == (trained["val_acc"], trained["test_acc"])
    with np.load(path) as weights:
        assert "convs.0.lin.weight" in weights.files and weights["convs.0.lin.weight"].shape == (16, 1433)


def test_load_of_another_architecture_is_refused(tmp_path, capsys):
    path = str(tmp_path / "gcn.npz")
    assert train(capsys, "--epochs", "1", "--save", path, "--quiet")[0] == 0
    status, _, err = train(capsys, "--load", path, "--hidden", "32", "--quiet")
    assert status == 2 and "--load" in err and "hidden" in err
    status, _, err = train(capsys, "--load", str(tmp_path / "missing.npz"), "--quiet")
    assert status == 2 and "not found" in err


@pytest.mark.parametrize("argv,message", [
    (("--dataset", "citeseer"), "--data-root"),
    (("--dataset", "reddit"), "--dataset"),
    (("--model", "transformer"), "--model"),
    (("--model", "gcn", "--aggr", "max"), "--aggr"),
    (("--runs", "0"), "--runs"),
    (("--dropout", "1.5"), "--dropout"),
    (("--epochs", "-1"), "--epochs"),
    (("--hidden", "16,8", "--layers", "2"), "--hidden"),
])
def test_bad_options_exit_with_2(capsys, argv, message):
    status, _, err = train(capsys, *argv, "--quiet")
    assert status == 2
    assert message in err


def test_data_root_reads_the_raw_files_like_the_embedded_copy(capsys):
    argv = ("--epochs", "5", "--quiet", "--json")
    raw = last_json(train(capsys, "--data-root", str(RAW_CORA), *argv)[1])
    embedded = last_json(train(capsys, *argv)[1])
    assert (raw["val_acc"], raw["test_acc"]) == (embedded["val_acc"], embedded["test_acc"])


def test_other_tasks_are_dispatched(capsys):
    status, lines, _ = train(capsys, "--task", "link", "--epochs", "1", "--quiet", "--json")
    assert status == 0 and last_json(lines)["task"] == "link"


def test_sparse_features_by_default_and_dense_on_request(capsys):
    options = ("--epochs", "5", "--json", "--dropout", "0")
    status, lines, _ = train(capsys, *options)
    assert status == 0 and last_json(lines)["sparse_features"] is True
    assert "sparse features" in lines[0]
    status, dense_lines, _ = train(capsys, *options, "--dense-features")
    assert status == 0 and last_json(dense_lines)["sparse_features"] is False
    # Without dropout the two paths compute the same model (up to float32 rounding).
    sparse, dense = last_json(lines), last_json(dense_lines)
    assert abs(sparse["val_acc"] - dense["val_acc"]) <= 0.004
    assert abs(sparse["test_acc"] - dense["test_acc"]) <= 0.004


def test_sparse_features_inductive(capsys):
    status, lines, _ = train(capsys, "--epochs", "2", "--json", "--inductive")
    assert status == 0 and last_json(lines)["sparse_features"] is True


def _write_tu(folder, name, rng, num_graphs=12, labels=30):
    """A tiny TU dataset whose node labels take ``labels`` values (one-hot: mostly zeros)."""
    folder.mkdir()
    edges, indicator, node_labels, offset = [], [], [], 0
    for graph in range(num_graphs):
        n = 5
        for i in range(n):
            j = (i + 1) % n
            edges += [(offset + i + 1, offset + j + 1), (offset + j + 1, offset + i + 1)]
        indicator += [graph + 1] * n
        node_labels += list(rng.integers(0, labels, n))
        offset += n
    (folder / f"{name}_A.txt").write_text("".join(f"{a}, {b}\n" for a, b in edges))
    (folder / f"{name}_graph_indicator.txt").write_text("".join(f"{g}\n" for g in indicator))
    (folder / f"{name}_graph_labels.txt").write_text("".join(f"{g % 2}\n" for g in range(num_graphs)))
    (folder / f"{name}_node_labels.txt").write_text("".join(f"{label}\n" for label in node_labels))


def test_graph_task_keeps_mostly_zero_features_sparse(tmp_path, capsys):
    rng = np.random.default_rng(0)
    _write_tu(tmp_path / "TINY", "TINY", rng)
    options = ("--task", "graph", "--dataset", "TINY", "--data-root", str(tmp_path), "--epochs", "2",
               "--folds", "2", "--threads", "1", "--layers", "2", "--hidden", "8")
    status, lines, _ = train(capsys, *options)
    assert status == 0 and any("kept sparse" in line for line in lines)
    status, lines, _ = train(capsys, *options, "--dense-features")
    assert status == 0 and not any("kept sparse" in line for line in lines)
