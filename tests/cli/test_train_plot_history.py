"""``fastgnn train --plot PATH --history PATH.csv``: the curves drawn and the per-epoch numbers written."""
import csv
import sys

import pytest

from cli_run import RAW_MUTAG
from fastgnn.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
needs_mutag = pytest.mark.skipif(not RAW_MUTAG.is_dir(), reason="the raw MUTAG files are not in the shared data")


def read_csv(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def test_node_plot_is_a_png_and_history_has_a_row_per_epoch_per_run(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot, history = tmp_path / "curves.png", tmp_path / "history.csv"
    status = main(["train", "--epochs", "4", "--runs", "2", "--log-every", "2", "--plot", str(plot),
                   "--history", str(history)])
    out = capsys.readouterr().out
    assert status == 0
    assert f"curves drawn to {plot}" in out and f"written to {history}" in out
    assert "for the last run" in out       # the estimate after the first run
    data = plot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    columns, rows = read_csv(history)
    assert columns[:2] == ["run", "epoch"]
    assert {"train_loss", "val_loss", "val_acc", "epoch_seconds"} <= set(columns)
    assert [(row[0], row[1]) for row in rows] == [(str(r), str(e)) for r in (1, 2) for e in range(1, 5)]
    assert all(row[columns.index("val_acc")] != "" for row in rows)      # evaluated every epoch


def test_link_history_aligns_the_evaluations_to_their_epoch_even_when_quiet(tmp_path, capsys):
    history = tmp_path / "link.csv"
    status = main(["train", "--task", "link", "--epochs", "4", "--log-every", "2", "--quiet",
                   "--history", str(history)])
    assert status == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1       # --quiet: only the result
    columns, rows = read_csv(history)
    assert [row[1] for row in rows] == ["1", "2", "3", "4"]
    auc = [row[columns.index("val_auc")] for row in rows]
    assert auc[0] == "" and auc[2] == "" and auc[1] != "" and auc[3] != ""


@needs_mutag
def test_graph_history_and_plot_per_fold(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot, history = tmp_path / "folds.svg", tmp_path / "folds.csv"
    status = main(["train", "--task", "graph", "--dataset", "MUTAG", "--data-root", str(RAW_MUTAG), "--folds", "2",
                   "--epochs", "2", "--hidden", "8", "--layers", "2", "--threads", "1", "--quiet",
                   "--plot", str(plot), "--history", str(history)])
    assert status == 0, capsys.readouterr().err
    columns, rows = read_csv(history)
    assert columns[:2] == ["fold", "epoch"] and "test_acc" in columns
    assert [(row[0], row[1]) for row in rows] == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    assert plot.read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.parametrize("name", ["curves.pdf", "curves"])
def test_plot_needs_a_png_or_svg_name(tmp_path, capsys, name):
    status = main(["train", "--epochs", "1", "--plot", str(tmp_path / name)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and ".png or .svg" in err


def test_plot_without_matplotlib_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # import matplotlib raises ImportError
    status = main(["train", "--epochs", "1", "--plot", str(tmp_path / "curves.png")])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.strip() == ("fastgnn train --task node: error: --plot needs matplotlib: pip install "
                                    "matplotlib (or pip install \"fastgnn[plot]\")")
    assert "epoch" not in captured.out          # nothing trained


def test_history_in_a_missing_folder_fails_before_training(tmp_path, capsys):
    status = main(["train", "--task", "link", "--epochs", "1", "--history", str(tmp_path / "no" / "h.csv")])
    captured = capsys.readouterr()
    assert status == 2 and "--history" in captured.err and "does not exist" in captured.err
    assert "AUC" not in captured.out


def test_results_print_as_one_short_line():
    from fastgnn.datasets import load_cora
    from fastgnn.train import train_node_classifier
    from fastgnn.cli import node

    config = node.model_defaults("gcn")
    dataset = load_cora()
    config.update(model="gcn", in_channels=dataset.num_features, out_channels=dataset.num_classes)
    model, optimizer = node.build(config, 0)
    result = train_node_classifier(model, dataset.graph, dataset.x, dataset.y, dataset.train_mask,
                                   dataset.val_mask, dataset.test_mask, optimizer, epochs=3)
    text = repr(result)
    assert "\n" not in text and len(text) < 200 and "history" not in text
