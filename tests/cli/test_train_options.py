"""``fastgnn train``: bad option values are one line on stderr naming the option, exit status 2."""
import json

import pytest

from cli_run import assert_one_line_error, run_cli
from fixture_data import RAW_MUTAG
from fastgnn.cli import main

MUTAG = ("--task", "graph", "--dataset", "MUTAG", "--data-root", str(RAW_MUTAG), "--folds", "2")
TASKS = [pytest.param((), id="node"), pytest.param(("--task", "link"), id="link"),
         pytest.param(MUTAG, id="graph")]


def train(capsys, *argv):
    status = main(["train", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip()


def assert_one_line(capsys, argv, *needles):
    status, _, err = train(capsys, *argv)
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("argv,option", [
    (("--hidden", "abc"), "--hidden"),
    (("--hidden", "16,x"), "--hidden"),
    (("--epochs", "two"), "--epochs"),
    (("--task", "edge"), "--task"),
    (("--early-stopping", "sometimes"), "--early-stopping"),
])
def test_unparsable_values_are_one_line(capsys, argv, option):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *argv])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and option in err, err


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("argv,option", [
    (("--hidden", "0"), "--hidden"),
    (("--hidden", "-5"), "--hidden"),
    (("--threads", "0"), "--threads"),
    (("--threads", "100000"), "--threads"),
    (("--lr", "-1"), "--lr"),
    (("--lr", "inf"), "--lr"),
    (("--dropout", "1.5"), "--dropout"),
    (("--seed", "-1"), "--seed"),
])
def test_out_of_range_values(capsys, task, argv, option):
    assert_one_line(capsys, (*task, *argv, "--epochs", "1", "--quiet"), option)


@pytest.mark.parametrize("task", TASKS[:2])
def test_runs_0(capsys, task):
    assert_one_line(capsys, (*task, "--runs", "0", "--epochs", "1", "--quiet"), "--runs")


def test_weight_decay_nan(capsys):
    assert_one_line(capsys, ("--weight-decay", "nan", "--epochs", "1", "--quiet"), "--weight-decay")


@pytest.mark.parametrize("task", TASKS)
def test_epochs_0_without_load_is_refused(capsys, task):
    # An untrained model's accuracy is not a result.
    assert_one_line(capsys, (*task, "--epochs", "0", "--quiet"), "--epochs")


@pytest.mark.parametrize("task", TASKS)
def test_hidden_too_wide_for_memory(task):
    result = run_cli(*task, "--hidden", "100000000", "--epochs", "1", "--quiet")
    line = assert_one_line_error(result, "--hidden", "100000000")
    assert "memory" in line


def test_layers_too_deep_for_memory():
    result = run_cli("--model", "sage", "--layers", "10000000", "--epochs", "1", "--quiet")
    assert_one_line_error(result, "--layers", "memory")


def test_out_of_memory_while_running_is_one_line(capsys, monkeypatch):
    from fastgnn.cli import node

    def build(config, seed):
        raise MemoryError("Unable to allocate 1.00 TiB for an array with shape (1, 1) and data type float32")

    monkeypatch.setattr(node, "build", build)
    err = assert_one_line(capsys, ("--epochs", "1", "--quiet"), "out of memory", "1.00 TiB")
    assert "Traceback" not in err


# ---------------------------------------------------------------------- the link task's split
@pytest.mark.parametrize("argv", [
    ("--test-fraction", "0"),
    ("--val-fraction", "0", "--test-fraction", "0"),
    ("--test-fraction", "0.0000001"),       # rounds down to no edge
])
def test_link_without_test_edges_is_refused(capsys, argv):
    assert_one_line(capsys, ("--task", "link", *argv, "--epochs", "1", "--quiet"), "--test-fraction")


def test_link_fractions_leaving_no_training_edges_are_refused(capsys):
    assert_one_line(capsys, ("--task", "link", "--val-fraction", "0.5", "--test-fraction", "0.5", "--epochs",
                             "1", "--quiet"), "--val-fraction", "--test-fraction")


def test_link_without_validation_edges_reports_the_test_metrics(capsys):
    status, out, err = train(capsys, "--task", "link", "--val-fraction", "0", "--epochs", "2", "--log-every", "1",
                             "--runs", "2", "--json")
    assert status == 0, err
    lines = out.splitlines()
    result = json.loads(lines[-1])
    assert 0 <= result["test_auc"] <= 1 and result["split"]["val"] == 0
    assert result["val_auc_mean"] is None and result["val_ap_mean"] is None
    assert all(run["val_auc"] is None for run in result["per_run"])
    assert any("no validation edges" in line for line in lines)
