"""GNNStack's fused bias + activation + dropout step: the same model as the unfused modules, any thread count."""
import numpy as np
import pytest

import fastgnn as fg
from fastgnn.losses import cross_entropy
from fastgnn.models import GNNStack
from fastgnn.testing import check_module_grad

CONFIGS = {
    "gcn-bias": dict(conv="gcn", bias=True),
    "gcn-nobias": dict(conv="gcn", bias=False),
    "sage-mean": dict(conv="sage"),
    "sage-normalize": dict(conv="sage", normalize=True),        # keeps its bias: only act + dropout fused
    "graphconv-max": dict(conv="graphconv", aggr="max"),
    "gin": dict(conv="gin"),                                     # no hand-over: act + dropout fused, not in place
    "sage-elu": dict(conv="sage", activation="elu"),
    "gcn-tanh": dict(conv="gcn", activation="tanh", bias=True),
    "gcn-leaky": dict(conv="gcn", activation="leaky_relu", bias=True),
}


def _graph(rng, n=50, e=200):
    return fg.Graph.from_edge_index(rng.integers(0, n, (2, e)), num_nodes=n)


def _unfused(model):
    """The same model computed by the separate activation and dropout modules."""
    model._fused = [None] * (model.num_layers - 1)
    for conv in model.convs:
        if hasattr(conv, "_bias_handed_over"):
            conv._bias_handed_over = False
    return model


def _step(model, graph, x, y):
    model.zero_grad()
    out = model(graph, x)
    loss, grad = cross_entropy(out, y)
    model.backward(grad)
    return out, [p.grad.copy() for p in model.parameters()]


@pytest.mark.parametrize("name", CONFIGS)
def test_fused_equals_the_modules(rng, name):
    graph = _graph(rng)
    x = rng.standard_normal((50, 12))
    y = rng.integers(0, 3, 50)
    options = dict(hidden_channels=[16, 20], out_channels=3, dropout=0.4, dtype=np.float64, **CONFIGS[name])
    fused = GNNStack(12, rng=7, **options)
    plain = _unfused(GNNStack(12, rng=7, **options))
    for _ in range(2):                     # the second epoch uses the next masks
        got, expected = _step(fused, graph, x, y), _step(plain, graph, x, y)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-12, atol=1e-12)
        for a, b in zip(got[1], expected[1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    fused.eval()
    plain.eval()
    np.testing.assert_allclose(fused(graph, x), plain(graph, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["gcn-bias", "sage-mean", "sage-elu"])
def test_fused_gradients_match_finite_differences(rng, name):
    graph = _graph(rng, n=15, e=50)
    model = GNNStack(6, 8, 3, dropout=0.0, dtype=np.float64, rng=0, **CONFIGS[name])
    check_module_grad(model, graph, rng.standard_normal((15, 6)), check_inputs=False)


def test_training_is_identical_for_any_thread_count(rng):
    graph = _graph(rng, n=3000, e=30000)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    y = rng.integers(0, 4, 3000)
    results = []
    try:
        for threads in (1, 2, 3):
            fg.set_num_threads(threads)
            model = GNNStack(32, 64, 4, conv="sage", dropout=0.5, rng=1)
            for _ in range(2):
                out, grads = _step(model, graph, x, y)
            results.append([out] + grads)
    finally:
        fg.set_num_threads(None)
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            assert a.tobytes() == b.tobytes()


def test_frozen_first_layer_releases_the_fused_state(rng):
    graph = _graph(rng)
    model = GNNStack(12, 16, 3, conv="gcn", bias=True, rng=0)
    model.convs[0].freeze()
    _step(model, graph, rng.standard_normal((50, 12)).astype(np.float32), rng.integers(0, 3, 50))
    assert model._fused_states == [None]
    assert not model.convs[0].bias.grad.any()


@pytest.mark.parametrize("name", ["gcn-bias", "sage-mean", "gin"])
@pytest.mark.parametrize("fused", [True, False])
def test_post_conv_into_out_is_the_same_step(rng, name, fused):
    """``post_conv(..., out=)`` writes the step where asked (a partition's room for its halo) with the same bits."""
    z = rng.standard_normal((30, 16))
    options = dict(hidden_channels=[16], out_channels=3, dropout=0.4, dtype=np.float64, **CONFIGS[name])
    models = [GNNStack(12, rng=7, **options) for _ in range(2)]
    if not fused:
        models = [_unfused(model) for model in models]
    grad = rng.standard_normal((30, 16))
    room = np.full((40, 16), np.nan)
    want = models[0].post_conv(0, z.copy(), row_ids=np.arange(30))
    got = models[1].post_conv(0, z.copy(), row_ids=np.arange(30), out=room[:30])
    assert np.shares_memory(got, room)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(room[30:]).all()                    # the rows after out are left alone
    np.testing.assert_array_equal(models[1].post_conv_backward(0, grad.copy()),
                                  models[0].post_conv_backward(0, grad.copy()))


def test_input_dropout_output_is_reused_and_changes_nothing(rng):
    graph = _graph(rng)
    x = rng.standard_normal((50, 12)).astype(np.float32)
    kept = x.copy()
    y = rng.integers(0, 3, 50)
    model = GNNStack(12, 8, 3, conv="sage", dropout=0.5, rng=0)
    fresh = GNNStack(12, 8, 3, conv="sage", dropout=0.5, rng=0)
    buffers = []
    for _ in range(3):
        _step(model, graph, x, y)
        fresh._dropout_outputs[0].release()           # a new array every call, as without the reuse
        _step(fresh, graph, x, y)
        buffers.append(model._dropout_outputs[0]._array)
        for a, b in zip(model.parameters(), fresh.parameters()):
            np.testing.assert_array_equal(a.grad, b.grad)
    assert buffers[0] is buffers[1] is buffers[2]
    np.testing.assert_array_equal(x, kept)
    model.clear_cache()
    assert model._dropout_outputs[0]._array is None


def test_input_dropout_output_is_let_go_when_the_convolution_does_not_keep_it(rng):
    # GCN 8 -> 16 aggregates first and keeps the aggregation, not its input: holding the dropped-out
    # copy from call to call would only add its size to the peak memory.
    graph = _graph(rng)
    x = rng.standard_normal((50, 8)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    model = GNNStack(8, 16, 3, conv="gcn", dropout=0.5, rng=0)
    reference = GNNStack(8, 16, 3, conv="gcn", dropout=0.5, rng=0)
    for _ in range(2):
        _step(model, graph, x, y)
        assert model._dropout_outputs[0]._array is None
        _step(reference, graph, x, y)
        for a, b in zip(model.parameters(), reference.parameters()):
            np.testing.assert_array_equal(a.grad, b.grad)


def test_workspace_release_unless_viewed():
    from fastgnn.nn.utils import Workspace

    workspace = Workspace()
    view = workspace.get((4, 3), np.float32)
    workspace.release_unless_viewed()
    assert workspace._array is not None                 # the view is still held outside
    kept = workspace._array
    del view
    workspace.release_unless_viewed()
    assert workspace._array is None
    del kept
    workspace.release_unless_viewed()                   # nothing held: nothing to do
    assert workspace._array is None
