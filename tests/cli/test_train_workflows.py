"""The seed's two extra workflows from the command line: pretrain -> freeze -> head -> fine-tune; edges cut."""
import contextlib
import io
import json

import numpy as np

from fastgnn.cli import main


def _run(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["train", *map(str, argv), "--quiet", "--json"])
    assert status == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_pretrain_freeze_head_then_fine_tune(tmp_path):
    encoder_path, head_path = tmp_path / "gae.npz", tmp_path / "head.npz"
    pretrained = _run(["--task", "link", "--model", "gae", "--epochs", 5, "--save", encoder_path])
    assert pretrained["saved"] == str(encoder_path) and encoder_path.exists()
    with np.load(encoder_path) as saved:
        encoder_weights = {k: saved[k] for k in saved.files if not k.startswith("__")}
    head = _run(["--model", "gae", "--load", encoder_path, "--freeze", "encoder", "--epochs", 5, "--save", head_path])
    assert head["freeze"] == "encoder" and head["epochs"] == 5
    with np.load(head_path) as saved:
        for name, value in encoder_weights.items():   # the frozen encoder came through training unchanged
            np.testing.assert_array_equal(saved[f"encoder.{name}"], value, err_msg=name)
        head_weights = {k: saved[k] for k in saved.files if k.startswith("head.")}
    fine = tmp_path / "fine.npz"
    tuned = _run(["--model", "gae", "--load", head_path, "--epochs", 3, "--lr", 0.001, "--save", fine])
    assert tuned["freeze"] is None
    with np.load(fine) as saved:
        assert any(not np.array_equal(saved[f"encoder.{name}"], value) for name, value in encoder_weights.items())
        assert set(head_weights) <= set(saved.files)


def test_encoder_checkpoint_needs_the_matching_model(tmp_path, capsys):
    encoder_path = tmp_path / "gae.npz"
    _run(["--task", "link", "--model", "gae", "--epochs", 2, "--save", encoder_path])
    assert main(["train", "--model", "gcn", "--load", str(encoder_path), "--quiet"]) == 2
    assert "--model gae" in capsys.readouterr().err
    assert main(["train", "--model", "vgae", "--load", str(encoder_path), "--quiet"]) == 2
    assert main(["train", "--model", "gcn", "--freeze", "encoder", "--quiet"]) == 2
    assert "--freeze encoder needs a model with an encoder" in capsys.readouterr().err


def test_cut_test_edges(capsys):
    full = _run(["--epochs", 3])
    cut = _run(["--epochs", 3, "--cut-test-edges"])
    assert cut["cut_test_edges"] is True and full["cut_test_edges"] is False
    assert cut["test_acc"] != full["test_acc"] or cut["val_acc"] != full["val_acc"]
    assert main(["train", "--cut-test-edges", "--inductive", "--quiet"]) == 2
    assert "exclude each other" in capsys.readouterr().err
