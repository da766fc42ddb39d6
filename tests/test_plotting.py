"""fastgnn.plotting: history tables, ratio tables and their pictures."""
import pytest

from fastgnn.plotting import history_table, plot_history, plot_ratios, ratio_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Four epochs, evaluated at epochs 2 and 4 (as fit() keeps them with eval_every=2).
HISTORY = {"epoch": [1, 2, 3, 4], "epoch_seconds": [0.1] * 4, "train_loss": [1.0, 0.8, 0.6, 0.5],
           "eval_epoch": [2, 4], "val_loss": [0.9, 0.7], "val_acc": [0.5, 0.6]}


def test_history_table_aligns_evaluations_to_their_epoch():
    columns, rows = history_table([HISTORY, HISTORY], label="fold")
    assert columns == ["fold", "epoch", "epoch_seconds", "train_loss", "val_loss", "val_acc"]
    assert len(rows) == 8
    assert rows[0] == [1, 1, 0.1, 1.0, None, None]
    assert rows[1] == [1, 2, 0.1, 0.8, 0.9, 0.5]
    assert rows[7] == [2, 4, 0.1, 0.5, 0.7, 0.6]


def test_history_table_of_one_result_and_of_an_empty_history():
    assert history_table(HISTORY)[1][0][0] == 1
    assert history_table({"epoch": [], "epoch_seconds": []}) == (["run", "epoch", "epoch_seconds"], [])


def test_history_table_leaves_out_a_metric_of_some_evaluations_only():
    columns, _ = history_table({**HISTORY, "val_auc": [0.7]})
    assert "val_auc" not in columns


def test_plot_history_writes_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    plot_history([HISTORY, HISTORY], tmp_path / "h.png")
    data = (tmp_path / "h.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    plot_history(HISTORY, tmp_path / "h.svg", title="one run")
    assert "<svg" in (tmp_path / "h.svg").read_text()


def test_plot_history_refuses_other_formats_and_empty_histories(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=".png or .svg"):
        plot_history(HISTORY, tmp_path / "h.jpg")
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_history({"epoch": [1], "epoch_seconds": [0.1]}, tmp_path / "h.png")
    assert not list(tmp_path.iterdir())


def test_plot_ratios_on_a_small_table(tmp_path):
    pytest.importorskip("matplotlib")
    table = {"cora gcn": {"pyg": 3.1, "dgl": 2.4}, "uniform sage": {"pyg": 5.0}}
    plot_ratios(table, tmp_path / "r.png", title="training epochs")
    data = (tmp_path / "r.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 3000
    with pytest.raises(ValueError, match="no finite positive ratio"):
        plot_ratios({"a": {"pyg": float("nan")}}, tmp_path / "bad.png")


def test_ratio_table_groups_by_what_varies_and_leaves_out_the_baseline():
    records = [
        {"graph": "cora", "model": "gcn", "impl": "fastgnn", "threads": 2, "median_ms": 2.0, "ratio": 1.0},
        {"graph": "cora", "model": "gcn", "impl": "pyg", "threads": 2, "median_ms": 6.0, "ratio": 3.0},
        {"graph": "cora", "model": "sage", "impl": "pyg", "threads": 2, "median_ms": 8.0, "ratio": 4.0},
        {"graph": "cora", "model": "sage", "impl": "dgl", "threads": 2, "error": "no result"},
    ]
    assert ratio_table(records) == {"gcn": {"pyg": 3.0}, "sage": {"pyg": 4.0}}
    by_threads = ratio_table([{"graph": "uniform", "reduce": "sum", "pass": "forward", "threads": t,
                               "fraction_of_floor": f} for t, f in ((1, 0.9), (2, 0.8))],
                             value="fraction_of_floor", series="threads", groups=("graph", "reduce", "pass"))
    assert by_threads == {"uniform sum fwd": {"1": 0.9, "2": 0.8}}      # one group: named by every key
