"""The graph layers match PyTorch Geometric's, outputs and gradients (skipped without PyG).

Parameters are copied by name: fastgnn uses PyG's parameter names and
layouts, so a PyG ``state_dict`` loads as is.
"""
import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from nn_cases import distinct_features, random_graph

torch = pytest.importorskip("torch")
pyg_nn = pytest.importorskip("torch_geometric.nn")


def run_both(ours, theirs, graph, x, with_weight=False):
    """Copy PyG's parameters into ``ours``; compare outputs and all gradients of sum(R * out)."""
    theirs = theirs.double()
    ours.load_state_dict({name: value.detach().numpy() for name, value in theirs.state_dict().items()})
    pair = isinstance(x, tuple)
    xs = [x] if not pair else list(x)
    torch_x = [torch.tensor(a, requires_grad=True) for a in xs]
    edge_index = torch.tensor(graph.to_edge_index())
    args = [tuple(torch_x) if pair else torch_x[0], edge_index]
    if with_weight:
        args.append(torch.tensor(graph.edge_weight.astype(np.float64)))
    expected = theirs(*args)
    out = ours(graph, x)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    projection = np.random.default_rng(0).standard_normal(out.shape)
    (expected * torch.tensor(projection)).sum().backward()
    grads = ours.backward(projection)
    grads = list(grads) if pair else [grads]
    for grad, tensor in zip(grads, torch_x):
        expected_grad = np.zeros(tensor.shape) if tensor.grad is None else tensor.grad.numpy()  # unused input
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-12)
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(param.grad, theirs_params[name].grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("aggr", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("out_channels", [3, 9])
def test_graph_conv(rng, aggr, out_channels):
    graph = random_graph(rng, 12, weighted=True)
    theirs = pyg_nn.GraphConv(6, out_channels, aggr={"sum": "add"}.get(aggr, aggr))
    run_both(nn.GraphConv(6, out_channels, aggr, dtype=np.float64), theirs, graph,
             distinct_features(rng, 12, 6), with_weight=True)


@pytest.mark.parametrize("aggr", ["sum", "max"])
def test_graph_conv_bipartite(rng, aggr):
    graph = random_graph(rng, 10, 6)
    theirs = pyg_nn.GraphConv((5, 4), 3, aggr={"sum": "add"}.get(aggr, aggr))
    run_both(nn.GraphConv((5, 4), 3, aggr, dtype=np.float64), theirs, graph,
             (distinct_features(rng, 10, 5), distinct_features(rng, 6, 4)))


def without_duplicate_self_loops(graph):
    """PyG's add_remaining_self_loops merges repeated loops ``i -> i`` into one; fastgnn keeps
    existing loops as they are (SEMANTICS.md). Compare on graphs where the two agree."""
    edge_index = graph.to_edge_index()
    loop = edge_index[0] == edge_index[1]
    keep = ~loop.copy()
    _, first = np.unique(edge_index[0, loop], return_index=True)
    keep[np.flatnonzero(loop)[first]] = True
    weight = None if graph.edge_weight is None else graph.edge_weight[keep]
    return fastgnn.Graph.from_edge_index(edge_index[:, keep], num_nodes=graph.num_nodes, edge_weight=weight)


@pytest.mark.parametrize("out_channels", [3, 9])
@pytest.mark.parametrize("weighted", [False, True])
def test_gcn_conv(rng, out_channels, weighted):
    graph = without_duplicate_self_loops(random_graph(rng, 12, weighted=weighted))
    run_both(nn.GCNConv(6, out_channels, dtype=np.float64), pyg_nn.GCNConv(6, out_channels), graph,
             rng.standard_normal((12, 6)), with_weight=weighted)


@pytest.mark.parametrize("aggr", ["mean", "max", "min", "sum"])
@pytest.mark.parametrize("normalize", [False, True])
def test_sage_conv(rng, aggr, normalize):
    graph = random_graph(rng, 12)
    run_both(nn.SAGEConv(6, 4, aggr, normalize=normalize, dtype=np.float64),
             pyg_nn.SAGEConv(6, 4, aggr=aggr, normalize=normalize), graph, distinct_features(rng, 12, 6))


def test_sage_conv_bipartite_without_root(rng):
    graph = random_graph(rng, 10, 6)
    run_both(nn.SAGEConv((5, 4), 3, root_weight=False, dtype=np.float64),
             pyg_nn.SAGEConv((5, 4), 3, root_weight=False), graph,
             (distinct_features(rng, 10, 5), distinct_features(rng, 6, 4)))


@pytest.mark.parametrize("hidden", [3, 9])
def test_gin_conv(rng, hidden):
    graph = random_graph(rng, 12)
    mlp = torch.nn.Sequential(torch.nn.Linear(6, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))
    theirs = pyg_nn.GINConv(mlp, eps=0.2, train_eps=True)
    ours = nn.GINConv(nn.MLP([6, hidden, 2], dtype=np.float64), eps=0.0, train_eps=True)
    run_both(ours, theirs, graph, rng.standard_normal((12, 6)))


def gat_pair(rng, bipartite, widths):
    if bipartite:
        graph = random_graph(rng, 10, 6)
        return graph, (distinct_features(rng, 10, widths[0]), distinct_features(rng, 6, widths[1]))
    return random_graph(rng, 12), distinct_features(rng, 12, widths[0])


@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_gat_conv(rng, heads, concat, add_self_loops, bias):
    graph, x = gat_pair(rng, False, (6,))
    options = dict(heads=heads, concat=concat, add_self_loops=add_self_loops, bias=bias)
    theirs = pyg_nn.GATConv(6, 4, **options)
    torch.nn.init.normal_(theirs.bias) if bias else None
    run_both(nn.GATConv(6, 4, dtype=np.float64, **options), theirs, graph, x)


@pytest.mark.parametrize("in_channels", [5, (5, 3)])
def test_gat_conv_bipartite(rng, in_channels):
    widths = in_channels if isinstance(in_channels, tuple) else (5, 5)
    graph, x = gat_pair(rng, True, widths)
    run_both(nn.GATConv(in_channels, 4, heads=2, dtype=np.float64), pyg_nn.GATConv(in_channels, 4, heads=2),
             graph, x)


@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("share_weights", [False, True])
def test_gatv2_conv(rng, heads, concat, add_self_loops, share_weights):
    graph, x = gat_pair(rng, False, (6,))
    options = dict(heads=heads, concat=concat, add_self_loops=add_self_loops, share_weights=share_weights)
    theirs = pyg_nn.GATv2Conv(6, 4, **options)
    for name, param in theirs.named_parameters():
        if "bias" in name:
            torch.nn.init.normal_(param)
    run_both(nn.GATv2Conv(6, 4, dtype=np.float64, **options), theirs, graph, x)


@pytest.mark.parametrize("in_channels", [5, (5, 3)])
def test_gatv2_conv_bipartite(rng, in_channels):
    widths = in_channels if isinstance(in_channels, tuple) else (5, 5)
    graph, x = gat_pair(rng, True, widths)
    run_both(nn.GATv2Conv(in_channels, 4, heads=2, dtype=np.float64), pyg_nn.GATv2Conv(in_channels, 4, heads=2),
             graph, x)


@pytest.mark.parametrize("kind", ["GATConv", "GATv2Conv"])
def test_gat_attention_weights(rng, kind):
    graph, x = gat_pair(rng, False, (6,))
    theirs = getattr(pyg_nn, kind)(6, 4, heads=3).double().eval()
    ours = getattr(nn, kind)(6, 4, heads=3, dtype=np.float64)
    ours.load_state_dict({name: value.detach().numpy() for name, value in theirs.state_dict().items()})
    out, (edge_index, alpha) = theirs(torch.tensor(x), torch.tensor(graph.to_edge_index()),
                                      return_attention_weights=True)
    ours_out, (attended, ours_alpha) = ours.eval()(graph, x, return_attention_weights=True)
    np.testing.assert_allclose(ours_out, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    dense = np.zeros((12, 12, 3))
    np.add.at(dense, (edge_index[1].numpy(), edge_index[0].numpy()), alpha.detach().numpy())
    ours_dense = np.zeros((12, 12, 3))
    np.add.at(ours_dense, (attended.destinations(), attended.indices), ours_alpha)
    np.testing.assert_allclose(ours_dense, dense, rtol=1e-10, atol=1e-12)


def test_gatv2_shared_weights_state_dict_must_agree(rng):
    theirs = pyg_nn.GATv2Conv(6, 4, share_weights=True).double()
    state = {name: value.detach().numpy().copy() for name, value in theirs.state_dict().items()}
    assert "lin_r.weight" in state
    ours = nn.GATv2Conv(6, 4, share_weights=True, dtype=np.float64)
    ours.load_state_dict(state)
    state["lin_r.weight"] += 1
    with pytest.raises(ValueError, match="lin_r.weight differs from lin_l.weight"):
        ours.load_state_dict(state)
