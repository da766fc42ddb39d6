"""ChunkedGCN: the ordinary two-layer GCN computed in row chunks, equal to GCN, any chunk size and thread count."""
import numpy as np
import pytest

import fastgnn as fg
from fastgnn.losses import cross_entropy
from fastgnn.models import GCN, ChunkedGCN
from fastgnn.models.normalized_rows import GCNPropagation, is_symmetric
from fastgnn.optim import Adam
from fastgnn.testing import check_grad, check_module_grad
from fastgnn.train import train_node_classifier


def _graph(kind, rng, n=60, index_dtype=np.int64):
    """Graphs of the edge cases: symmetric, directed, weighted, loops, duplicates, isolated nodes, empty."""
    if kind == "empty":
        return fg.Graph.from_edge_index(np.zeros((2, 0), dtype=np.int64), num_nodes=n, index_dtype=index_dtype)
    edges = rng.integers(0, n - 5, (2, 4 * n))            # the last 5 nodes stay isolated
    weight = None
    if kind in ("symmetric", "weighted-symmetric"):
        edges = np.concatenate([edges, edges[::-1]], axis=1)
    if kind == "loops-duplicates":
        loops = np.arange(0, n - 5, 3)
        edges = np.concatenate([edges, np.stack([loops, loops]), edges[:, :20]], axis=1)
    if kind == "weighted":
        weight = rng.uniform(0.5, 2.0, edges.shape[1])
    if kind == "weighted-symmetric":
        half = rng.uniform(0.5, 2.0, edges.shape[1] // 2)
        weight = np.concatenate([half, half])
    return fg.Graph.from_edge_index(edges, num_nodes=n, edge_weight=weight, index_dtype=index_dtype)


KINDS = ["symmetric", "directed", "weighted", "weighted-symmetric", "loops-duplicates", "empty"]


def _pair(dropout=0.0, dtype=np.float64, **options):
    reference = GCN(7, 16, 5, dropout=dropout, input_dropout=0.0, rng=3, dtype=dtype)
    chunked = ChunkedGCN(7, 16, 5, dropout=dropout, rng=3, dtype=dtype, **options)
    return reference, chunked


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("cache_transpose", [False, True])
def test_equals_gcn_logits_and_gradients_float64(kind, chunk_size, dropout, cache_transpose):
    rng = np.random.default_rng(0)
    graph = _graph(kind, rng)
    x = rng.standard_normal((graph.num_nodes, 7))
    reference, chunked = _pair(dropout, chunk_size=chunk_size, cache_transpose=cache_transpose)
    for (name_a, a), (name_b, b) in zip(reference.named_parameters(), chunked.named_parameters()):
        assert name_a == name_b and np.array_equal(a.data, b.data)
    grad_out = rng.standard_normal((graph.num_nodes, 5))
    expected, got = reference(graph, x), chunked(graph, x)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    grad_x_expected = reference.backward(grad_out, need_input_grad=True)
    grad_x = chunked.backward(grad_out, need_input_grad=True)
    np.testing.assert_allclose(grad_x, grad_x_expected, rtol=1e-10, atol=1e-12)
    for (name, a), (_, b) in zip(reference.named_parameters(), chunked.named_parameters()):
        np.testing.assert_allclose(b.grad, a.grad, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_float32_close_to_gcn_and_state_dicts_interchange(index_dtype):
    rng = np.random.default_rng(1)
    graph = _graph("symmetric", rng, index_dtype=index_dtype)
    x = rng.standard_normal((graph.num_nodes, 7)).astype(np.float32)
    reference, chunked = _pair(dtype=np.float32, chunk_size=8)
    with reference.evaluating(), chunked.evaluating():
        np.testing.assert_allclose(chunked(graph, x), reference(graph, x), rtol=1e-5, atol=1e-6)
    other = GCN(7, 16, 5, rng=9, dtype=np.float32)
    other.load_state_dict(chunked.state_dict())
    with other.evaluating(), chunked.evaluating():
        np.testing.assert_allclose(other(graph, x), chunked(graph, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["symmetric", "directed", "weighted"])
def test_finite_difference_gradients(kind):
    rng = np.random.default_rng(2)
    graph = _graph(kind, rng, n=25)
    x = rng.standard_normal((graph.num_nodes, 7))
    model = ChunkedGCN(7, 6, 3, dropout=0.0, activation="tanh", chunk_size=4, rng=0, dtype=np.float64)
    check_module_grad(model, graph, x, check_inputs=False)
    projection = rng.standard_normal((graph.num_nodes, 3))
    model.zero_grad()
    model(graph, x)
    grad_x = model.backward(projection, need_input_grad=True)
    check_grad(lambda: float(np.sum(projection * model(graph, x))), [x], [grad_x])


def test_bitwise_identical_for_any_thread_count():
    rng = np.random.default_rng(3)
    graph = _graph("symmetric", rng, n=3000)
    x = rng.standard_normal((graph.num_nodes, 7)).astype(np.float32)
    grad_out = rng.standard_normal((graph.num_nodes, 5)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        model = ChunkedGCN(7, 16, 5, dropout=0.5, chunk_size=1024, rng=0)
        with _threads(threads):
            logits = model(graph, x, n_threads=threads)
            model.backward(grad_out)
        results.append([logits] + [param.grad.copy() for param in model.parameters()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


class _threads:
    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.before = fg.get_num_threads()
        fg.set_num_threads(self.n)

    def __exit__(self, *exc):
        fg.set_num_threads(self.before)


def test_trains_with_train_node_classifier_like_gcn():
    rng = np.random.default_rng(4)
    graph = _graph("symmetric", rng, n=200)
    x = rng.standard_normal((graph.num_nodes, 7))
    y = rng.integers(0, 5, graph.num_nodes)
    masks = [np.zeros(graph.num_nodes, dtype=bool) for _ in range(3)]
    for k, mask in enumerate(masks):
        mask[k::3] = True
    results = []
    for model in _pair(dropout=0.5, chunk_size=33):
        optimizer = Adam(model.parameters(), lr=0.01)
        results.append(train_node_classifier(model, graph, x, y, *masks, optimizer, epochs=5,
                                             early_stopping=None))
    for key in ("train_loss", "val_loss", "test_acc"):
        np.testing.assert_allclose(results[1].metrics[key], results[0].metrics[key], rtol=1e-9)


def test_evaluation_loss_by_pieces_equals_cross_entropy(monkeypatch):
    from fastgnn.train import node

    rng = np.random.default_rng(5)
    logits = rng.standard_normal((1000, 4)).astype(np.float32)
    y = rng.integers(0, 4, 1000)
    y[::7] = -1                                     # unlabelled, outside the mask
    mask = y >= 0
    monkeypatch.setattr(node, "_LOSS_ROWS", 64)
    assert node._masked_loss(logits, y, mask) == cross_entropy(logits, y, mask)[0]
    y[3] = 9
    with pytest.raises(ValueError, match="class 9"):
        node._masked_loss(logits, y, y >= 0)


def test_symmetry_check_and_transposed_backward():
    rng = np.random.default_rng(6)
    assert is_symmetric(_graph("symmetric", rng))
    assert is_symmetric(_graph("weighted-symmetric", rng))
    assert not is_symmetric(_graph("directed", rng))
    assert not is_symmetric(_graph("weighted", rng))
    assert is_symmetric(_graph("empty", rng))
    # same structure, weights that do not mirror
    graph = _graph("symmetric", rng)
    unmirrored = graph.with_edge_weight(rng.uniform(1, 2, graph.num_edges))
    assert not is_symmetric(unmirrored)
    held = GCNPropagation(unmirrored, np.float64)
    assert not held.symmetric and held.nbytes() == GCNPropagation(graph, np.float64).nbytes()
    with pytest.raises(RuntimeError, match="holding_transpose"):
        held.rows(np.ones((graph.num_nodes, 2)), 0, 3, transpose=True)
    with held.holding_transpose():
        assert held.nbytes() > GCNPropagation(graph, np.float64).nbytes()
    assert held.nbytes() == GCNPropagation(graph, np.float64).nbytes()     # released
    cached = GCNPropagation(unmirrored, np.float64, cache_transpose=True)
    with cached.holding_transpose():
        pass
    assert cached.nbytes() > held.nbytes()
    bipartite = fg.Graph.from_csr(np.array([0, 1]), np.array([1]), num_src_nodes=2)
    assert not is_symmetric(bipartite)
    with pytest.raises(ValueError, match="square"):
        GCNPropagation(bipartite, np.float64)


def test_forward_keeps_no_n_by_hidden_array_and_leaves_input_alone():
    rng = np.random.default_rng(7)
    graph = _graph("symmetric", rng)
    x = rng.standard_normal((graph.num_nodes, 7))
    x.flags.writeable = False
    before = x.copy()
    model = ChunkedGCN(7, 16, 5, chunk_size=10, rng=0, dtype=np.float64)
    logits = model(graph, x)
    saved = [value for value in model._saved if isinstance(value, np.ndarray)]
    assert all(value is x or value.size < graph.num_nodes * 16 for value in saved)
    model.backward(np.ones_like(logits))
    assert np.array_equal(x, before)
    with pytest.raises(RuntimeError):
        model.backward(np.ones_like(logits))      # one backward per forward


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="dropout"):
        ChunkedGCN(3, 4, 2, dropout=1.0)
    with pytest.raises(ValueError, match="activation"):
        ChunkedGCN(3, 4, 2, activation="softsign")
    with pytest.raises(TypeError, match="symmetric"):
        ChunkedGCN(3, 4, 2, symmetric="yes")
    with pytest.raises(ValueError, match="chunk_size"):
        ChunkedGCN(3, 4, 2, chunk_size=0)
    model = ChunkedGCN(3, 4, 2)
    graph = _graph("symmetric", np.random.default_rng(0))
    with pytest.raises(TypeError, match="graph"):
        model([graph], np.zeros((graph.num_nodes, 3)))
    with pytest.raises(ValueError, match="x"):
        model(graph, np.zeros((graph.num_nodes, 4)))
    logits = model(graph, np.zeros((graph.num_nodes, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="grad_out"):
        model.backward(np.zeros((3, 2)))
    assert logits.dtype == np.float32
