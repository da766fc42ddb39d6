"""The runner of ``train --task link``: options, output, JSON, errors."""
import argparse
import io
import json

import pytest

from fastgnn.tasks import link


def parse(*argv):
    parser = argparse.ArgumentParser()
    link.add_arguments(parser)
    return parser.parse_args(list(argv))


def run(*argv):
    out = io.StringIO()
    status = link.run(parse(*argv), out=out)
    return status, out.getvalue().splitlines()


def test_defaults_are_the_papers():
    args = parse()
    assert (args.dataset, args.model, args.loss, args.epochs, args.lr, args.hidden, args.latent) == \
        ("cora", "gae", "auto", 200, 0.01, 32, 16)
    assert (args.val_fraction, args.test_fraction, args.runs) == (0.05, 0.1, 1)


def test_add_arguments_keeps_options_the_parser_has():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    link.add_arguments(parser)                      # no conflict error
    assert parser.parse_args([]).epochs == 7


@pytest.mark.parametrize("model", ["gae", "vgae"])
def test_json_last_line(model):
    status, lines = run("--model", model, "--epochs", "3", "--runs", "2", "--json", "--eval-every", "1")
    assert status == 0
    result = json.loads(lines[-1])
    assert result["task"] == "link" and result["dataset"] == "cora" and result["model"] == model
    assert result["loss"] == "full"                 # Cora is small enough for the paper's loss
    for key in ("test_auc", "test_ap", "test_auc_mean", "test_auc_std", "test_ap_mean", "test_ap_std"):
        assert 0 <= result[key] <= 1
    assert result["split"] == {"train": 4488, "val": 263, "test": 527}
    assert len(result["per_run"]) == 2 and result["per_run"][1]["seed"] == 1
    assert any(line.startswith("epoch") for line in lines)


def test_quiet_negative_loss():
    status, lines = run("--loss", "negative", "--epochs", "2", "--quiet", "--json")
    assert status == 0
    assert len(lines) == 2 and lines[0].startswith("test AUC")
    assert json.loads(lines[-1])["loss"] == "negative"


def test_seeded_runs_repeat():
    first = json.loads(run("--epochs", "2", "--quiet", "--json", "--seed", "3")[1][-1])
    second = json.loads(run("--epochs", "2", "--quiet", "--json", "--seed", "3")[1][-1])
    assert first["test_auc"] == second["test_auc"]


@pytest.mark.parametrize("argv,message", [
    (("--model", "gcn"), "--model"),
    (("--dataset", "pubmed"), "--data-root"),
    (("--runs", "0"), "--runs"),
    (("--data-root", "/nonexistent-folder", "--dataset", "cora"), ""),
])
def test_bad_input_exits_with_2(argv, message, capsys):
    status = link.run(parse(*argv, "--epochs", "1", "--quiet"), out=io.StringIO())
    assert status == 2
    assert message in capsys.readouterr().err
