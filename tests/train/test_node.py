"""train_node_classifier and evaluate: learning, early stopping, inductive mode, bad input."""
import os
import shutil

import numpy as np
import pytest

import fastgnn
from fastgnn.datasets import load_cora
from fastgnn.models import GCN, GraphSAGE
from fastgnn.optim import Adam
from fastgnn.train import EarlyStopping, WindowStopping, evaluate, train_node_classifier
from fixture_data import RAW_CORA


@pytest.fixture(scope="module")
def cora():
    return load_cora(normalize_features=True)


def two_communities(rng, per_class=30, features=6):
    """Two dense communities joined by a few edges; features weakly tied to the class."""
    n = 2 * per_class
    y = np.repeat([0, 1], per_class)
    src, dst = [], []
    for _ in range(6 * n):
        c = rng.integers(0, 2)
        a, b = rng.integers(0, per_class, 2) + c * per_class
        src += [a, b]
        dst += [b, a]
    src += [0, per_class]
    dst += [per_class, 0]
    graph = fastgnn.Graph.from_edge_index(np.array([src, dst]), num_nodes=n)
    x = (rng.standard_normal((n, features)) + 0.5 * y[:, None]).astype(np.float32)
    order = rng.permutation(n)
    masks = [np.zeros(n, bool) for _ in range(3)]
    masks[0][order[:20]] = masks[1][order[20:40]] = masks[2][order[40:]] = True
    return graph, x, y, masks


def fit(model, graph, x, y, masks, lr=0.01, **kwargs):
    optimizer = Adam(model.parameters(), lr=lr)
    return train_node_classifier(model, graph, x, y, *masks, optimizer, **kwargs)


def test_training_decreases_the_loss_and_learns(rng):
    graph, x, y, masks = two_communities(rng)
    model = GCN(x.shape[1], 8, 2, dropout=0.0, rng=0)
    result = fit(model, graph, x, y, masks, lr=0.05, epochs=40, early_stopping=None)
    losses = result.history["train_loss"]
    assert result.epochs == 40 and len(losses) == 40
    assert losses[-1] < 0.5 * losses[0]
    assert result.train_acc >= 0.9 and result.val_acc >= 0.8 and result.test_acc >= 0.8
    assert result.seconds_per_epoch > 0 and result.eval_seconds_per_epoch > 0
    assert set(result.as_dict()) >= {"val_acc", "test_acc", "best_epoch", "epochs", "seconds_per_epoch"}
    assert "history" not in result.as_dict() and "history" in result.as_dict(history=True)


def test_gcn_on_cora_learns_in_a_few_epochs(cora):
    model = GCN(cora.num_features, 16, cora.num_classes, cached=True, rng=0)
    optimizer = Adam(model.parameter_groups(5e-4), lr=0.01)
    result = train_node_classifier(model, cora.graph, cora.x, cora.y, cora.train_mask, cora.val_mask,
                                   cora.test_mask, optimizer, epochs=30, early_stopping=None)
    assert result.history["train_loss"][-1] < result.history["train_loss"][0] - 0.3
    assert result.val_acc > 0.6


def _stops(criterion, values):
    """Whether ``criterion`` stops after the last of ``values`` (one evaluation per epoch)."""
    stop = False
    for epoch, value in enumerate(values, start=1):
        _, stop = criterion.update(epoch, {"val_loss": value})
    return stop


def test_kipf_window_criterion():
    # Stops at epoch t >= window + 2 when loss_t > mean(loss_{t-window} .. loss_{t-1}).
    window = 3
    assert not _stops(WindowStopping(window), [1.0, 1.0, 1.0, 5.0])        # too early (t = 4)
    assert _stops(WindowStopping(window), [1.0, 1.0, 1.0, 1.0, 1.5])
    assert not _stops(WindowStopping(window), [2.0, 1.9, 1.8, 1.7, 1.6])
    assert not _stops(WindowStopping(window), [9.0, 1.0, 1.0, 1.0, 1.0])   # equal is not higher
    assert _stops(WindowStopping(window), [0.1, 1.0, 1.0, 1.0, 1.01])      # the first loss is out of the window


def test_patience_criterion():
    assert not _stops(EarlyStopping(2), [1.0, 0.9, 0.95])
    assert _stops(EarlyStopping(2), [1.0, 0.9, 0.95, 0.97])


@pytest.mark.parametrize("criterion", ["window", "patience"])
def test_early_stopping_stops_an_overfitting_run(rng, criterion):
    graph, x, y, masks = two_communities(rng)
    y = y.copy()
    y[masks[1]] = 1 - y[masks[1]]            # validation labels contradict training: val loss rises
    model = GraphSAGE(x.shape[1], 16, 2, dropout=0.0, rng=0)
    result = fit(model, graph, x, y, masks, lr=0.05, epochs=300, patience=5, early_stopping=criterion)
    assert result.stopped_early and result.epochs < 300
    assert len(result.history["val_loss"]) == result.epochs
    if criterion == "patience":
        assert result.epochs == result.best_epoch + 5
        # The best weights are restored before the final evaluation.
        assert result.val_loss == pytest.approx(result.best_val_loss, rel=1e-5)


def test_runs_are_reproducible(rng):
    graph, x, y, masks = two_communities(rng)
    first = fit(GCN(x.shape[1], 8, 2, rng=3), graph, x, y, masks, epochs=15)
    second = fit(GCN(x.shape[1], 8, 2, rng=3), graph, x, y, masks, epochs=15)
    assert first.history["train_loss"] == second.history["train_loss"]
    assert first.test_acc == second.test_acc


def test_progress_lines(rng):
    graph, x, y, masks = two_communities(rng)
    lines = []
    fit(GCN(x.shape[1], 8, 2, rng=0), graph, x, y, masks, epochs=6, early_stopping=None, log=lines.append)
    assert len(lines) == 6 and lines[0].startswith("epoch 1/6") and "val_acc" in lines[0]
    lines.clear()
    fit(GCN(x.shape[1], 8, 2, rng=0), graph, x, y, masks, epochs=6, early_stopping=None, log_every=3,
        log=lines.append)
    assert [line.split()[1] for line in lines] == ["1/6", "3/6", "6/6"]
    lines.clear()
    fit(GCN(x.shape[1], 8, 2, rng=0), graph, x, y, masks, epochs=6, progress="quiet", log=lines.append)
    assert lines == []


class Recorder(GCN):
    """A GCN remembering the node count of every graph it ran on in training mode."""

    seen = None

    def forward(self, graph, x):
        if self.training:
            object.__setattr__(self, "seen", (self.seen or []) + [graph.num_nodes])
        return super().forward(graph, x)


def test_inductive_training_never_sees_other_nodes(cora):
    model = Recorder(cora.num_features, 16, cora.num_classes, cached=True, rng=0)
    optimizer = Adam(model.parameter_groups(5e-4), lr=0.01)
    result = train_node_classifier(model, cora.graph, cora.x, cora.y, cora.train_mask, cora.val_mask,
                                   cora.test_mask, optimizer, epochs=40, early_stopping=None, inductive=True)
    assert set(model.seen) == {int(cora.train_mask.sum())}
    assert result.inductive and result.val_acc > 0.4 and result.test_acc > 0.4


def test_evaluate_restores_the_mode_and_names_splits(cora):
    model = GCN(cora.num_features, 16, cora.num_classes, rng=0)
    scores = evaluate(model, cora.graph, cora.x, cora.y, {"val_mask": cora.val_mask, "test": cora.test_mask})
    assert set(scores) == {"val_acc", "val_loss", "test_acc", "test_loss"}
    assert model.training
    single = evaluate(model.eval(), cora.graph, cora.x, cora.y, cora.val_mask)
    assert single["acc"] == scores["val_acc"] and not model.training


@pytest.mark.parametrize("change,error,name", [
    (lambda d: d.update(y=d["y"][:-1]), ValueError, "y must have shape"),
    (lambda d: d.update(y=d["y"].astype(np.float32)), TypeError, "y must hold integer"),
    (lambda d: d.update(train_mask=d["train_mask"].astype(np.int64)), TypeError, "train_mask must be a boolean"),
    (lambda d: d.update(val_mask=d["val_mask"][:10]), ValueError, "val_mask must have shape"),
    (lambda d: d.update(test_mask=np.zeros_like(d["test_mask"])), ValueError, "test_mask selects no node"),
    (lambda d: d.update(x=d["x"][:-2]), ValueError, "x must have shape"),
    (lambda d: d.update(x=d["x"][:, :-1]), ValueError, "in_channels"),
])
def test_bad_input_names_the_argument(rng, change, error, name):
    graph, x, y, masks = two_communities(rng)
    data = dict(x=x, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])
    change(data)
    model = GCN(x.shape[1], 4, 2, rng=0)
    with pytest.raises(error, match=name):
        train_node_classifier(model, graph, data["x"], data["y"], data["train_mask"], data["val_mask"],
                              data["test_mask"], Adam(model.parameters()), epochs=2)


def test_bad_options(rng):
    graph, x, y, masks = two_communities(rng)
    model = GCN(x.shape[1], 4, 2, rng=0)
    for kwargs, message in ((dict(early_stopping="sometimes"), "early_stopping"), (dict(epochs=-1), "epochs"),
                            (dict(patience=0), "patience")):
        with pytest.raises(ValueError, match=message):
            fit(model, graph, x, y, masks, **kwargs)


def test_missing_dataset_file_is_named(tmp_path, capsys):
    from fastgnn.cli import main

    for name in os.listdir(RAW_CORA):
        if name != "ind.cora.tx":
            shutil.copy(os.path.join(RAW_CORA, name), tmp_path)
    status = main(["train", "--data-root", str(tmp_path), "--epochs", "1", "--quiet"])
    assert status == 2
    assert "ind.cora.tx" in capsys.readouterr().err


def test_missing_data_root_is_named(tmp_path, capsys):
    from fastgnn.cli import main

    status = main(["train", "--data-root", str(tmp_path / "nowhere"), "--epochs", "1", "--quiet"])
    assert status == 2
    assert "--data-root" in capsys.readouterr().err


def test_readme_training_example_runs(capsys):
    """The code block of the README's "Training a GNN" section runs as written."""
    import pathlib
    import re

    readme = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    if not readme.exists():
        pytest.skip("README.md not found next to the tests")
    section = readme.read_text().split("## Training a GNN", 1)
    assert len(section) == 2, "the README lost its training section"
    (block,) = re.findall(r"```python\n(.*?)```", section[1].split("\n## ", 1)[0], re.S)
    exec(compile(block.replace("epochs=200", "epochs=5"), str(readme), "exec"), {})
    assert capsys.readouterr().out.strip()


def test_cut_test_edges_trains_without_train_test_edges(cora):
    seen = []

    class Spy(GCN):
        def forward(self, graph, x):
            if self.training:
                seen.append(graph)
            return super().forward(graph, x)

    model = Spy(cora.num_features, 16, cora.num_classes, rng=0)
    optimizer = Adam(model.parameter_groups(5e-4), lr=0.01)
    result = train_node_classifier(model, cora.graph, cora.x, cora.y, cora.train_mask, cora.val_mask,
                                   cora.test_mask, optimizer, epochs=5, early_stopping=None, cut_test_edges=True)
    trained_on = seen[0]
    assert all(graph is trained_on for graph in seen)
    src, dst = trained_on.indices, trained_on.destinations()
    crossing = (cora.train_mask[src] & cora.test_mask[dst]) | (cora.test_mask[src] & cora.train_mask[dst])
    assert not crossing.any()
    full_src, full_dst = cora.graph.indices, cora.graph.destinations()
    removed = (cora.train_mask[full_src] & cora.test_mask[full_dst]) | (
        cora.test_mask[full_src] & cora.train_mask[full_dst])
    assert removed.any() and trained_on.num_edges == cora.graph.num_edges - int(removed.sum())
    assert result.cut_test_edges and 0 <= result.test_acc <= 1
