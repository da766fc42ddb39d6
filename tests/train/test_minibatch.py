"""Mini-batch node classification: train_node_classifier_minibatch, its evaluation, reproducibility, bad input."""
import numpy as np
import pytest

import fastgnn
from fastgnn.models import build_model
from fastgnn.optim import Adam
from fastgnn.train import evaluate, evaluate_layerwise, train_node_classifier, train_node_classifier_minibatch


def planted_classes(num_nodes=300, num_classes=3, degree=8, homophily=0.8, num_features=16, noise=2.0, seed=0):
    """A planted-partition graph: edges mostly within a class, class-correlated features, a random split."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, num_nodes)
    num_edges = num_nodes * degree
    dst = rng.integers(0, num_nodes, num_edges)
    same = rng.random(num_edges) < homophily
    by_class = [np.flatnonzero(y == c) for c in range(num_classes)]
    src = rng.integers(0, num_nodes, num_edges)
    for c in range(num_classes):
        pick = same & (y[dst] == c)
        src[pick] = rng.choice(by_class[c], pick.sum())
    graph = fastgnn.Graph.from_edge_index(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]),
                                          num_nodes=num_nodes)
    centers = rng.standard_normal((num_classes, num_features))
    x = (centers[y] + noise * rng.standard_normal((num_nodes, num_features))).astype(np.float32)
    order = rng.permutation(num_nodes)
    masks = [np.zeros(num_nodes, dtype=bool) for _ in range(3)]
    masks[0][order[:num_nodes // 5]] = True
    masks[1][order[num_nodes // 5:num_nodes // 2]] = True
    masks[2][order[num_nodes // 2:]] = True
    return graph, x, y, masks


def sage(dtype=np.float32, dropout=0.5, seed=0, layers=2, num_features=16, num_classes=3, name="sage"):
    model = build_model(name, num_features, num_classes, hidden_channels=[16] * (layers - 1), dropout=dropout,
                        dtype=dtype, rng=seed)
    return model, Adam(model.parameters(), lr=0.01)


@pytest.fixture(scope="module")
def data():
    return planted_classes()


def test_training_learns_and_reports_like_the_full_batch_path(data):
    graph, x, y, (train, val, test) = data
    model, optimizer = sage()
    result = train_node_classifier_minibatch(model, graph, x, y, train, val, test, optimizer, fanouts=[5, 5],
                                             batch_size=16, epochs=30, patience=5, early_stopping="patience")
    assert result.test_acc > 0.8 and result.train_acc > 0.8
    assert set(result.metrics) == {f"{s}_{m}" for s in ("train", "val", "test") for m in ("acc", "loss")}
    assert result.info["fanouts"] == [5, 5] and result.info["batch_size"] == 16
    assert result.info["batches_per_epoch"] == 4                       # 60 training nodes
    assert len(result.history["train_loss"]) == result.epochs == len(result.history["val_loss"])
    assert result.best_epoch is not None and result.monitor == "val_loss"
    # The final metrics are layer-wise inference on the whole graph, equal to the full-graph evaluation.
    full = evaluate(model, graph, x, y, {"test": test})
    assert full["test_acc"] == result.test_acc
    assert full["test_loss"] == pytest.approx(result.test_loss, rel=1e-5)


def test_progress_lines(data):
    graph, x, y, (train, val, test) = data
    model, optimizer = sage()
    lines = []
    train_node_classifier_minibatch(model, graph, x, y, train, val, None, optimizer, fanouts=[3, 3],
                                    batch_size=32, epochs=3, early_stopping=None, progress="lines", log=lines.append)
    assert len(lines) == 3 and "train_loss" in lines[0] and "val_acc" in lines[0]


@pytest.mark.parametrize("name", ["sage", "gcn", "gin", "graphconv"])
def test_same_seed_same_batches_and_bitwise_the_same_weights_at_1_and_2_threads(data, name):
    graph, x, y, (train, val, test) = data
    weights = []
    for n_threads, prefetch in ((1, True), (2, False), (2, True)):
        model, optimizer = sage(name=name, seed=3)
        train_node_classifier_minibatch(model, graph, x, y, train, val, test, optimizer, fanouts=[4, 3],
                                        batch_size=16, epochs=4, early_stopping=None, seed=7,
                                        n_threads=n_threads, prefetch=prefetch)
        weights.append(model.state_dict())
    for other in weights[1:]:
        for key, value in weights[0].items():
            np.testing.assert_array_equal(other[key], value, err_msg=key)
    model, optimizer = sage(name=name, seed=3)
    train_node_classifier_minibatch(model, graph, x, y, train, val, test, optimizer, fanouts=[4, 3],
                                    batch_size=16, epochs=4, early_stopping=None, seed=8)
    assert any(not np.array_equal(model.state_dict()[key], value) for key, value in weights[0].items())


@pytest.mark.parametrize("input_dropout", [0.0, 0.5])
@pytest.mark.parametrize("prefetch", [False, True])
def test_released_input_rows_change_no_weight(data, monkeypatch, prefetch, input_dropout):
    """The training loop lets the first layer release the batch's input rows it is done with: the same steps."""
    import fastgnn._runtime.memory as M
    import fastgnn.models.basic_gnn as B
    import fastgnn.nn.conv._propagate as P
    import fastgnn.train.minibatch as T

    graph, x, y, (train, val, test) = data
    monkeypatch.setattr(M, "DISCARDABLE_MIN_BYTES", 0)          # every batch's rows in a releasable mapping
    released = []
    for module in (B, P):
        monkeypatch.setattr(module, "discard_rows", lambda array, start: released.append(M.discard_rows(array, start)))
    real_options = T.discard_input_options
    weights = []
    for discard in (False, True):
        monkeypatch.setattr(T, "discard_input_options", real_options if discard else (lambda model: {}))
        model, optimizer = sage(seed=2)
        model.dropouts[0].p = input_dropout
        train_node_classifier_minibatch(model, graph, x, y, train, val, test, optimizer, fanouts=[4, 3],
                                        batch_size=16, epochs=3, early_stopping=None, seed=5, prefetch=prefetch)
        weights.append(model.state_dict())
        assert (sum(released) > 0) == discard
    for key, value in weights[0].items():
        np.testing.assert_array_equal(weights[1][key], value, err_msg=key)


@pytest.mark.parametrize("name", ["sage", "graphconv", "gin"])
def test_all_neighbours_in_one_batch_is_full_batch_training(data, name):
    """Fan-out -1, one batch holding every training node, no dropout: the full-batch gradient steps."""
    graph, x, y, (train, val, test) = data
    x64 = x.astype(np.float64)
    full_model, full_optimizer = sage(np.float64, dropout=0.0, name=name)
    train_node_classifier(full_model, graph, x64, y, train, val, test, full_optimizer, epochs=5,
                          early_stopping=None)
    mini_model, mini_optimizer = sage(np.float64, dropout=0.0, name=name)
    result = train_node_classifier_minibatch(mini_model, graph, x64, y, train, val, test, mini_optimizer,
                                             fanouts=[-1, -1], batch_size=int(train.sum()), epochs=5,
                                             early_stopping=None)
    for key, value in full_model.state_dict().items():
        np.testing.assert_allclose(mini_model.state_dict()[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    assert result.epochs == 5


def test_memory_mapped_features(data, tmp_path):
    graph, x, y, (train, val, test) = data
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    results = []
    for features in (x, mapped):
        model, optimizer = sage(seed=1)
        results.append(train_node_classifier_minibatch(model, graph, features, y, train, val, test, optimizer,
                                                       fanouts=[3, 3], batch_size=32, epochs=3,
                                                       early_stopping=None))
    assert results[0].metrics == results[1].metrics


def test_float64_model_on_float32_features(data):
    graph, x, y, (train, val, test) = data
    model, optimizer = sage(np.float64)
    result = train_node_classifier_minibatch(model, graph, x, y, train, None, test, optimizer, fanouts=[3, 3],
                                             batch_size=64, epochs=2)
    assert result.info["early_stopping"] is None and "val_acc" not in result.metrics


def test_evaluate_layerwise_equals_evaluate(data):
    graph, x, y, (train, val, test) = data
    model, _ = sage(np.float64)
    layerwise = evaluate_layerwise(model, graph, x, y, {"val_mask": val, "test": test}, batch_size=37)
    full = evaluate(model, graph, x, y, {"val_mask": val, "test": test})
    assert layerwise.keys() == full.keys()
    for key in full:
        assert layerwise[key] == pytest.approx(full[key], rel=1e-12)


def test_bad_input(data):
    graph, x, y, (train, val, test) = data
    model, optimizer = sage()

    def run(**kwargs):
        options = dict(fanouts=[2, 2], batch_size=8, epochs=1)
        options.update(kwargs)
        arrays = {name: options.pop(name) for name in ("x", "y", "train") if name in options}
        before = x.copy()
        train_node_classifier_minibatch(model, graph, arrays.get("x", x), arrays.get("y", y),
                                        arrays.get("train", train), val, test, optimizer, **options)
        np.testing.assert_array_equal(x, before)

    with pytest.raises(ValueError, match=r"fanouts\[1\] must be a positive int or -1"):
        run(fanouts=[2, 0])
    with pytest.raises(ValueError, match=r"fanouts\[0\] must be a positive int or -1"):
        run(fanouts=[-2, 2])
    with pytest.raises(ValueError, match=r"fanouts must have one entry per layer of the model \(2\), got 3"):
        run(fanouts=[2, 2, 2])
    with pytest.raises(ValueError, match="fanouts must name at least one layer"):
        run(fanouts=[])
    with pytest.raises(TypeError, match=r"fanouts\[0\] must be an int"):
        run(fanouts=[2.5, 2])
    with pytest.raises(TypeError, match="fanouts must be a list of ints"):
        run(fanouts=3)
    for bad in (0, -4, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            run(batch_size=bad)
    with pytest.raises(ValueError, match="eval_batch_size must be a positive int"):
        run(eval_batch_size=0)
    with pytest.raises(ValueError, match=r"x must have shape \(300, num_features\)"):
        run(x=x[:-1])
    with pytest.raises(TypeError, match="x must be a float array"):
        run(x=x.astype(np.int32))
    with pytest.raises(ValueError, match=r"y must have shape \(300,\)"):
        run(y=y[:-1])
    with pytest.raises(ValueError, match="train_mask selects no node"):
        run(train=np.zeros_like(train))
    with pytest.raises(ValueError, match="early_stopping must be"):
        run(early_stopping="sometimes")
    with pytest.raises(TypeError, match="must have an inference"):
        train_node_classifier_minibatch(fastgnn.nn.Linear(16, 3), graph, x, y, train, val, test, optimizer,
                                        fanouts=[2, 2])


# ---------------------------------------------------------------------- accuracy (slow)
@pytest.mark.slow
def test_synthetic_planted_classes_within_one_point_of_full_batch():
    """Mini-batch GraphSAGE (fan-outs [10, 10]) within 1 point of full-batch on a planted-class graph, 10 seeds.

    In-degree 20 (so the fan-outs sample), homophily 0.3 over 5 classes and noisy features: about 75 %
    accuracy, where neither the graph nor the features alone decide.
    """
    graph, x, y, (train, val, test) = planted_classes(num_nodes=3000, num_classes=5, degree=10, homophily=0.3,
                                                      num_features=32, noise=5.0, seed=1)
    full, mini = [], []
    for seed in range(10):
        model, optimizer = sage(seed=seed, num_features=32, num_classes=5)
        full.append(train_node_classifier(model, graph, x, y, train, val, test, optimizer, epochs=100,
                                          patience=20, early_stopping="patience").test_acc)
        model, optimizer = sage(seed=seed, num_features=32, num_classes=5)
        mini.append(train_node_classifier_minibatch(model, graph, x, y, train, val, test, optimizer,
                                                    fanouts=[10, 10], batch_size=256, seed=seed, epochs=100,
                                                    patience=20, early_stopping="patience").test_acc)
    assert np.mean(mini) >= np.mean(full) - 0.01, (np.mean(mini), np.mean(full))


@pytest.mark.slow
def test_dcsbm_within_one_point_of_full_batch():
    """Mini-batch GraphSAGE (fan-outs [10, 10], batch 256) within 1 point of full-batch on a DC-SBM graph, 10 seeds.

    5,000 nodes, average degree 20 (power-law degrees, so the fan-outs sample the hubs), 5 planted classes.
    """
    from fastgnn.datasets import dcsbm_graph
    from fastgnn.models import GraphSAGE

    num_nodes = 5000
    graph, x, y, split = dcsbm_graph(num_nodes, 20, 5, num_features=32, seed=1, return_split=True)
    masks = []
    for name in ("train", "valid", "test"):
        mask = np.zeros(num_nodes, dtype=bool)
        mask[split[name]] = True
        masks.append(mask)
    full, mini = [], []
    options = dict(epochs=100, patience=20, early_stopping="patience")
    for seed in range(10):
        model = GraphSAGE(32, 64, 5, rng=seed)
        full.append(train_node_classifier(model, graph, x, y, *masks, Adam(model.parameters(), lr=0.01),
                                          **options).test_acc)
        model = GraphSAGE(32, 64, 5, rng=seed)
        mini.append(train_node_classifier_minibatch(model, graph, x, y, *masks, Adam(model.parameters(), lr=0.01),
                                                    fanouts=[10, 10], batch_size=256, seed=seed, **options).test_acc)
    assert np.mean(mini) >= np.mean(full) - 0.01, (np.mean(mini), np.mean(full))
