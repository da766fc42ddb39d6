"""GAE and VGAE: the two reconstruction losses against dense references, gradients, training on Cora."""
import numpy as np
import pytest

import fastgnn
from fastgnn import Graph
from fastgnn.data import random_link_split
from fastgnn.datasets import load_cora
from fastgnn.models.autoencoder import GAE, VGAE, AdjacencyLoss, NegativeSamplingLoss, link_logits
from fastgnn.train import evaluate_link, train_autoencoder
from fastgnn.optim import Adam
from fastgnn.testing import check_grad
from fastgnn.graph.transforms import to_undirected


def softplus(x):
    return np.logaddexp(0, x)


def small_graph(rng, n=11, m=18):
    edge_index = to_undirected(rng.integers(0, n, (2, m)), n)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return Graph.from_edge_index(edge_index, num_nodes=n)


def dense_adjacency_loss(graph, z, self_loops=True):
    """Kipf & Welling's reference: norm * mean(weighted_cross_entropy_with_logits(Z Z^T, A + I, pos_weight))."""
    n = graph.num_nodes
    adjacency = np.zeros((n, n))
    adjacency[graph.destinations(), graph.indices] = 1
    edges = adjacency.sum()
    pos_weight = (n * n - edges) / edges
    norm = n * n / (2 * (n * n - edges))
    targets = np.maximum(adjacency, np.eye(n)) if self_loops else adjacency
    logits = z @ z.T
    return norm * np.mean(pos_weight * targets * softplus(-logits) + (1 - targets) * softplus(logits))


# ---------------------------------------------------------------------- the full-adjacency loss
@pytest.mark.parametrize("block_elements", [1, 7, 30, 1 << 19])
@pytest.mark.parametrize("self_loops", [True, False])
def test_adjacency_loss_matches_dense_reference(rng, block_elements, self_loops):
    graph = small_graph(rng)
    z = rng.standard_normal((graph.num_nodes, 4))
    loss = AdjacencyLoss(graph, self_loops=self_loops, block_elements=block_elements)
    value, grad = loss(z)
    assert value == pytest.approx(dense_adjacency_loss(graph, z, self_loops), rel=1e-12)
    check_grad(lambda: loss(z)[0], [z], [grad])


def test_adjacency_loss_reference_constants(rng):
    graph = small_graph(rng)
    loss = AdjacencyLoss(graph)
    n, e = graph.num_nodes, graph.num_edges
    assert loss.pos_weight == pytest.approx((n * n - e) / e)
    assert loss.norm == pytest.approx(n * n / (2 * (n * n - e)))
    assert loss.targets.num_edges == e + n


def test_adjacency_loss_duplicates_and_weights_ignored(rng):
    graph = small_graph(rng)
    edge_index = graph.to_edge_index()
    doubled = Graph.from_edge_index(np.concatenate([edge_index, edge_index], axis=1), num_nodes=graph.num_nodes,
                                    edge_weight=rng.random(2 * graph.num_edges))
    z = rng.standard_normal((graph.num_nodes, 3))
    assert AdjacencyLoss(doubled)(z)[0] == pytest.approx(AdjacencyLoss(graph)(z)[0], rel=1e-12)


def test_adjacency_loss_large_logits_and_float32(rng):
    graph = small_graph(rng, n=60, m=150)
    z = 4 * rng.standard_normal((60, 8))                # logits of magnitude up to ~100
    value, grad = AdjacencyLoss(graph, block_elements=500)(z)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value == pytest.approx(dense_adjacency_loss(graph, z), rel=1e-10)
    value32, grad32 = AdjacencyLoss(graph, block_elements=500)(z.astype(np.float32))
    assert grad32.dtype == np.float32
    assert value32 == pytest.approx(value, rel=1e-4)
    np.testing.assert_allclose(grad32, grad, rtol=1e-3, atol=1e-5 * np.abs(grad).max())


# ---------------------------------------------------------------------- the negative-sampling loss
def test_negative_sampling_loss_matches_reference_and_gradient(rng):
    graph = small_graph(rng)
    loss = NegativeSamplingLoss(graph, rng=0)
    z = rng.standard_normal((graph.num_nodes, 4))
    negatives = loss.sampler.sample(loss.num_negatives, rng)
    value, grad = loss(z, negatives)
    positives = graph.to_edge_index()
    logits = z @ z.T
    expected = (np.mean(softplus(-logits[positives[0], positives[1]]))
                + np.mean(softplus(logits[negatives[0], negatives[1]])))
    assert value == pytest.approx(expected, rel=1e-12)
    check_grad(lambda: loss(z, negatives)[0], [z], [grad])


def test_negative_sampling_loss_resamples_each_call(rng):
    graph = small_graph(rng, n=40, m=60)
    loss = NegativeSamplingLoss(graph, rng=1)
    assert loss.num_negatives == graph.num_edges
    z = rng.standard_normal((40, 4))
    assert loss(z)[0] != loss(z)[0]
    again = NegativeSamplingLoss(graph, rng=1)
    first = NegativeSamplingLoss(graph, rng=1)(z)[0]
    assert again(z)[0] == first


def test_loss_bad_input(rng):
    empty = Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=3)
    for cls in (AdjacencyLoss, NegativeSamplingLoss):
        with pytest.raises(ValueError, match="no"):
            cls(empty)
        with pytest.raises(TypeError, match="fastgnn.Graph"):
            cls(np.zeros((2, 2), int))
    n = 4
    src, dst = np.meshgrid(np.arange(n), np.arange(n))
    complete = Graph.from_edge_index(np.stack([src.ravel(), dst.ravel()]), num_nodes=n)
    with pytest.raises(ValueError, match="complete"):
        AdjacencyLoss(complete)
    graph = small_graph(rng)
    with pytest.raises(ValueError, match="shape"):
        AdjacencyLoss(graph)(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="float"):
        NegativeSamplingLoss(graph)(np.zeros((graph.num_nodes, 2), int))


# ---------------------------------------------------------------------- models and their gradients
def model_inputs(rng, n=10, features=5):
    graph = small_graph(rng, n=n, m=16)
    x = (rng.random((n, features)) < 0.5).astype(np.float64)
    return graph, x


@pytest.mark.parametrize("loss_kind", ["full", "negative"])
@pytest.mark.parametrize("bias", [False, True])
def test_gae_gradients_end_to_end(rng, loss_kind, bias):
    graph, x = model_inputs(rng)
    model = GAE(5, 6, 3, bias=bias, rng=0, dtype=np.float64)
    if loss_kind == "full":
        loss = AdjacencyLoss(graph, block_elements=25)
        objective = loss
    else:
        loss = NegativeSamplingLoss(graph, rng=0)
        negatives = loss.sampler.sample(loss.num_negatives, 3)
        objective = lambda z: loss(z, negatives)   # noqa: E731
    model.zero_grad()
    value, grad = objective(model(graph, x))
    grad_x = model.backward(grad)
    params = [p.data for p in model.parameters()]
    grads = [p.grad.copy() for p in model.parameters()]
    check_grad(lambda: objective(model(graph, x))[0], params + [x], grads + [grad_x])


@pytest.mark.parametrize("loss_kind", ["full", "negative"])
def test_vgae_gradients_with_kl(rng, loss_kind):
    graph, x = model_inputs(rng)
    model = VGAE(5, 6, 3, rng=0, dtype=np.float64)
    noise = rng.standard_normal((graph.num_nodes, 3))
    kl_weight = 1.0 / graph.num_nodes
    if loss_kind == "full":
        recon = AdjacencyLoss(graph, block_elements=25)
    else:
        sampler_loss = NegativeSamplingLoss(graph, rng=0)
        negatives = sampler_loss.sampler.sample(sampler_loss.num_negatives, 3)
        recon = lambda z: sampler_loss(z, negatives)   # noqa: E731

    def objective():
        z = model(graph, x, noise=noise)
        return recon(z)[0] + kl_weight * model.kl_loss()

    model.zero_grad()
    z = model(graph, x, noise=noise)
    _, grad = recon(z)
    grad_x = model.backward(grad, kl_weight=kl_weight)
    params = [p.data for p in model.parameters()]
    grads = [p.grad.copy() for p in model.parameters()]
    check_grad(objective, params + [x], grads + [grad_x])


def test_vgae_logstd_clamp_passes_no_gradient(rng):
    graph, x = model_inputs(rng)
    model = VGAE(5, 6, 3, rng=0, dtype=np.float64)
    model.conv_logstd.lin.weight.data[...] = 50.0           # log sigma far above the clamp
    noise = rng.standard_normal((graph.num_nodes, 3))
    z = model(graph, x, noise=noise)
    assert np.all(model.logstd <= 10.0) and np.all(np.isfinite(z))
    model.zero_grad()
    model.backward(np.ones_like(z))
    clamped = model.conv_logstd(graph, np.maximum(model.conv1(graph, x), 0)) > 10
    assert clamped.all()
    np.testing.assert_array_equal(model.conv_logstd.lin.weight.grad, 0)


def test_kl_loss_closed_form(rng):
    model = VGAE(3, 4, 2, rng=0, dtype=np.float64)
    mu, logstd = rng.standard_normal((5, 2)), 0.3 * rng.standard_normal((5, 2))
    # KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (sigma^2 + mu^2 - 1) - log sigma, summed over dims, mean over nodes
    expected = np.mean(np.sum(0.5 * (np.exp(2 * logstd) + mu ** 2 - 1) - logstd, axis=1))
    assert model.kl_loss(mu, logstd) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(RuntimeError, match="forward"):
        model.kl_loss()


def test_vgae_samples_in_training_and_returns_mu_in_eval(rng):
    graph, x = model_inputs(rng)
    model = VGAE(5, 6, 3, rng=4, dtype=np.float64)
    first, second = model(graph, x), model(graph, x)
    assert not np.allclose(first, second)                   # a new epsilon each call
    mu = model.mu
    model.eval()
    np.testing.assert_array_equal(model(graph, x), mu)
    assert not model.has_cache()
    # the same seed gives the same weights and the same noise
    a, b = VGAE(5, 6, 3, rng=9, dtype=np.float64), VGAE(5, 6, 3, rng=9, dtype=np.float64)
    np.testing.assert_array_equal(a(graph, x), b(graph, x))
    assert not np.array_equal(a.conv_mu.lin.weight.data, a.conv_logstd.lin.weight.data)


def test_decode_and_link_logits(rng):
    z = rng.standard_normal((6, 3))
    edge_index = rng.integers(0, 6, (2, 9))
    np.testing.assert_allclose(link_logits(z, edge_index), np.einsum("pk,pk->p", z[edge_index[0]], z[edge_index[1]]))
    np.testing.assert_allclose(GAE.decode(z, edge_index), 1 / (1 + np.exp(-link_logits(z, edge_index))))


# ---------------------------------------------------------------------- training on Cora
@pytest.fixture(scope="module")
def cora():
    return load_cora()


def run_cora(dataset, model_cls, loss, seed, epochs=200):
    rng = np.random.default_rng(seed)
    split = random_link_split(dataset.graph, val=0.05, test=0.1, rng=rng)
    model = model_cls(dataset.num_features, 32, 16, rng=rng)
    return train_autoencoder(model, split, dataset.x, Adam(model.parameters(), lr=0.01), loss=loss,
                             epochs=epochs, rng=rng)


@pytest.mark.parametrize("model_cls,loss", [(GAE, "full"), (VGAE, "negative")])
def test_cora_smoke(cora, model_cls, loss):
    result = run_cora(cora, model_cls, loss, seed=0, epochs=30)
    assert result.epochs == 30 and len(result.history["train_loss"]) == 30
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert result.val_auc > 0.75 and result.test_auc > 0.75 and result.test_ap > 0.75


def test_evaluation_uses_the_training_graph_only(cora):
    split = random_link_split(cora.graph, rng=0)
    model = GAE(cora.num_features, 8, 4, rng=0)
    scores = evaluate_link(model, split.train_graph, cora.x, split)
    assert set(scores) == {"val_auc", "val_ap", "test_auc", "test_ap"}
    assert model.training                                    # mode restored


def test_train_autoencoder_bad_arguments(cora):
    split = random_link_split(cora.graph, rng=0)
    model = GAE(cora.num_features, 8, 4, rng=0)
    optimizer = Adam(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match="loss"):
        train_autoencoder(model, split, cora.x, optimizer, loss="dense", epochs=1)
    with pytest.raises(ValueError, match="shape"):
        train_autoencoder(model, split, cora.x[:10], optimizer, epochs=1)
    with pytest.raises(TypeError, match="GAE"):
        train_autoencoder(fastgnn.nn.Linear(2, 2), split, cora.x, optimizer, epochs=1)


# The checks: Cora, paper split (85/5/10), encoder 32-16, 200 epochs, Adam lr 0.01, mean of 5 seeds.
THRESHOLDS = {
    (GAE, "full"): (0.90, 0.90),        # paper 91.0 / 92.0
    (VGAE, "full"): (0.90, 0.90),       # paper 91.4 / 92.6
    (GAE, "negative"): (0.885, 0.89),
    (VGAE, "negative"): (0.885, 0.89),
}


@pytest.mark.slow
@pytest.mark.parametrize("model_cls,loss", list(THRESHOLDS), ids=lambda v: getattr(v, "__name__", v))
def test_cora_five_seeds(cora, model_cls, loss):
    results = [run_cora(cora, model_cls, loss, seed) for seed in range(5)]
    auc = np.mean([r.test_auc for r in results])
    ap = np.mean([r.test_ap for r in results])
    min_auc, min_ap = THRESHOLDS[(model_cls, loss)]
    print(f"{model_cls.__name__} {loss}: test AUC {auc:.4f}, AP {ap:.4f}")
    assert auc >= min_auc and ap >= min_ap
