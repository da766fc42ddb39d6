"""GAT and GATv2 in the registry, the stacks, the graph classifiers and ``fastgnn train --model gat``."""
import json

import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from fastgnn.cli import main
from fastgnn.cli.node import model_defaults
from fastgnn.models import GAT, GATv2, GNNGraphClassifier, GNNStack, build_graph_classifier, build_model
from fastgnn.nn.conv import build_conv, conv_names
from fastgnn.testing import check_module_grad


def small_graph(rng, num_nodes=15):
    src = rng.integers(0, num_nodes, 4 * num_nodes)
    dst = rng.integers(0, num_nodes, 4 * num_nodes)
    return fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes)


def test_registered_after_the_other_convs():
    assert conv_names()[-2:] == ("gat", "gatv2")
    assert "gat" in conv_names(graph_classification=True)


@pytest.mark.parametrize("name", ["gat", "gatv2"])
def test_the_papers_node_defaults(name):
    defaults = model_defaults(name)
    expected = dict(hidden=8, layers=2, heads=8, output_heads=1, activation="elu", dropout=0.6,
                    attention_dropout=0.6, lr=0.005, weight_decay=5e-4, decay="all", early_stopping="patience",
                    patience=100)
    assert {key: defaults[key] for key in expected} == expected


@pytest.mark.parametrize("name, cls", [("gat", nn.GATConv), ("gatv2", nn.GATv2Conv)])
def test_stack_layers_concatenate_hidden_heads_and_average_the_last(name, cls):
    hidden = build_conv(name, 12, 8, layer=0, num_layers=3, heads=4, attention_dropout=0.2, rng=0)
    middle = build_conv(name, 8, 6, layer=1, num_layers=3, heads=4, rng=0)
    last = build_conv(name, 6, 3, layer=2, num_layers=3, heads=4, output_heads=2, rng=0)
    assert all(isinstance(layer, cls) for layer in (hidden, middle, last))
    assert (hidden.in_src, hidden.heads, hidden.concat, hidden.dropout) == (12, 4, True, 0.2)
    assert (middle.in_src, middle.heads, middle.concat) == (32, 4, True)
    assert (last.in_src, last.heads, last.concat) == (24, 2, False)
    with pytest.raises(ValueError, match="heads"):
        build_conv(name, 12, 8, layer=0, num_layers=2, heads=0)


@pytest.mark.parametrize("model_class", [GAT, GATv2])
def test_named_model_is_the_papers_architecture(rng, model_class):
    model = model_class(10, 4, 3, rng=0, dtype=np.float64)
    first, last = model.convs[0], model.convs[1]
    assert (first.heads, first.concat, first.out_channels, first.dropout) == (8, True, 4, 0.6)
    assert (last.in_src, last.heads, last.concat, last.out_channels, last.dropout) == (32, 1, False, 3, 0.6)
    assert isinstance(model.activations[0], nn.ELU) and model.dropout == 0.6
    graph = small_graph(rng)
    out = model(graph, rng.standard_normal((15, 10)))
    assert out.shape == (15, 3)
    model.backward(np.ones_like(out))
    assert all(np.any(param.grad) for param in model.parameters())


@pytest.mark.parametrize("name", ["gat", "gatv2"])
def test_stack_gradients(rng, name):
    """The stack with the fused bias + ELU step between the layers, dropout off, in float64."""
    model = build_model(name, 5, 3, hidden_channels=2, heads=3, output_heads=2, dropout=0.0,
                        attention_dropout=0.0, rng=0, dtype=np.float64)
    for layer in model.convs:
        layer.bias.data[...] = rng.standard_normal(layer.bias.shape)
    graph = small_graph(rng)
    x = rng.standard_normal((15, 5))

    class WithInputGrad(fastgnn.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, graph, x):
            return self.inner(graph, x)

        def backward(self, grad):
            return self.inner.backward(grad, need_input_grad=True)

    check_module_grad(WithInputGrad(model), graph, x)


def test_gnn_stack_with_one_head_by_default(rng):
    model = GNNStack(6, 5, 3, conv="gat", rng=0)
    assert [conv.heads for conv in model.convs] == [1, 1]
    assert model(small_graph(rng), rng.standard_normal((15, 6)).astype(np.float32)).shape == (15, 3)


@pytest.mark.parametrize("name", ["gat", "gatv2"])
def test_graph_classifiers(rng, name):
    graph, ptr = small_graph(rng, 12), np.array([0, 5, 12])
    x = rng.standard_normal((12, 4)).astype(np.float32)
    for model in (build_graph_classifier(name, 4, 2, hidden_channels=6, num_layers=2, rng=0),
                  GNNGraphClassifier(4, 6, 2, 3, conv=name, conv_kwargs={"heads": 2}, rng=0)):
        out = model(graph, x, ptr)
        assert out.shape == (2, 2)
        model.backward(np.ones_like(out))
        assert all(np.any(param.grad) for param in model.convs.parameters())


# ---------------------------------------------------------------------- the command line
def train(capsys, *argv):
    status = main(["train", *argv])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def test_cli_heads(capsys):
    status, lines, _ = train(capsys, "--model", "gat", "--heads", "2", "--hidden", "4", "--epochs", "2",
                             "--dropout", "0.5", "--quiet", "--json")
    assert status == 0
    result = json.loads(lines[-1])
    config = result["config"]
    assert (config["heads"], config["output_heads"], config["hidden"]) == (2, 1, 4)
    assert config["dropout"] == config["attention_dropout"] == 0.5 and config["activation"] == "elu"


def test_cli_save_records_the_heads(capsys, tmp_path):
    path = str(tmp_path / "gat.npz")
    assert train(capsys, "--model", "gatv2", "--heads", "2", "--epochs", "1", "--quiet", "--save", path)[0] == 0
    status, _, err = train(capsys, "--model", "gatv2", "--heads", "3", "--load", path, "--quiet")
    assert status == 2 and "heads" in err
    assert train(capsys, "--model", "gatv2", "--heads", "2", "--load", path, "--quiet")[0] == 0


@pytest.mark.parametrize("argv, message", [
    (("--model", "gcn", "--heads", "2"), "--heads applies to the attention models"),
    (("--model", "sage", "--attention-dropout", "0.1"), "--attention-dropout applies"),
    (("--model", "gat", "--heads", "0"), "--heads must be a positive integer"),
    (("--model", "gat", "--attention-dropout", "1"), "--attention-dropout must be in"),
    (("--model", "gat", "--aggr", "max"), "--aggr"),
])
def test_cli_errors(capsys, argv, message):
    status, _, err = train(capsys, *argv, "--epochs", "1", "--quiet")
    assert status == 2 and message in err
