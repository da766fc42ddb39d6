"""GNNStack on sampled blocks (``model(blocks, x)``) and layer-wise full-neighbour inference.

With fan-out -1 a block holds every in-edge of its destinations, so the
stack on blocks must give the full-graph forward at the seeds (and the
same parameter gradients for a loss on the seeds), for every registered
convolution whose normalization is local to the destination (GCN's
symmetric one also needs the sources' whole-graph degrees: on blocks it uses
the block's own, as DGL's; layer-wise inference gives it the whole graph's).
"""
import numpy as np
import pytest

import fastgnn
from fastgnn.data import sample_neighbors
from fastgnn.models import GNNStack, build_model
from fastgnn.models.layerwise import full_neighbour_block
from fastgnn.nn.conv import conv_names
from fastgnn.testing import check_module_grad

# Whose normalization needs only the destination's in-edges: exact on full-neighbour blocks.
LOCAL = [name for name in conv_names() if name != "gcn"]


def planted_graph(rng, num_nodes=40, num_edges=160, index_dtype=None, weighted=False):
    """A random graph with isolated nodes, self-loops and duplicate edges."""
    src = rng.integers(0, num_nodes - 3, num_edges)            # the last three nodes send nothing
    dst = rng.integers(0, num_nodes - 2, num_edges)            # the last two receive nothing (isolated)
    src[:4], dst[:4] = [5, 5, 7, 7], [5, 5, 6, 6]              # a self-loop twice, a duplicate edge
    weight = rng.uniform(0.5, 2.0, num_edges) if weighted else None
    graph = fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes, edge_weight=weight)
    if index_dtype is not None:
        graph = fastgnn.Graph.from_csr(graph.indptr, graph.indices, graph.edge_weight, index_dtype=index_dtype)
    return graph


def model_of(name, dtype=np.float64, layers=2, dropout=0.0, **kwargs):
    options = {"heads": 2} if name in ("gat", "gatv2") else {}
    return build_model(name, 6, 3, hidden_channels=[5] * (layers - 1), dropout=dropout, dtype=dtype, rng=1,
                       **options, **kwargs)


@pytest.fixture
def rng():
    return np.random.default_rng(12)


@pytest.mark.parametrize("name", LOCAL)
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_full_fanout_blocks_equal_the_full_graph_at_the_seeds(rng, name, index_dtype):
    graph = planted_graph(rng, index_dtype=index_dtype)
    x = rng.standard_normal((graph.num_nodes, 6))
    model = model_of(name)
    seeds = np.array([3, 38, 5, 0, 39, 6, 17])                  # includes isolated nodes and loops
    sample = sample_neighbors(graph, seeds, [-1, -1])
    with model.evaluating():
        full = model(graph, x)
        on_blocks = model(sample.blocks, x[sample.input_nodes])
    np.testing.assert_allclose(on_blocks, full[seeds], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", LOCAL)
def test_block_gradients_equal_the_full_graph_restricted_to_the_seeds(rng, name):
    graph = planted_graph(rng, weighted=True)
    x = rng.standard_normal((graph.num_nodes, 6))
    seeds = np.array([1, 4, 9, 12, 33, 39])
    sample = sample_neighbors(graph, seeds, [-1, -1])
    grad_seeds = rng.standard_normal((seeds.size, 3))

    full_model, block_model = model_of(name), model_of(name)
    full_model.train()
    full_model.zero_grad()
    full_model(graph, x)
    grad_full = np.zeros((graph.num_nodes, 3))
    grad_full[seeds] = grad_seeds
    dx_full = full_model.backward(grad_full, need_input_grad=True)

    block_model.train()
    block_model.zero_grad()
    block_model(sample.blocks, x[sample.input_nodes])
    dx_blocks = block_model.backward(grad_seeds, need_input_grad=True)

    for (param_name, a), (_, b) in zip(full_model.named_parameters(), block_model.named_parameters()):
        np.testing.assert_allclose(b.grad, a.grad, rtol=1e-10, atol=1e-12, err_msg=param_name)
    np.testing.assert_allclose(dx_blocks, dx_full[sample.input_nodes], rtol=1e-10, atol=1e-12)
    outside = np.setdiff1d(np.arange(graph.num_nodes), sample.input_nodes)
    assert not dx_full[outside].any()


@pytest.mark.parametrize("name", conv_names())
def test_finite_differences_through_two_layers_on_sampled_blocks(rng, name):
    graph = planted_graph(rng)
    x_all = rng.standard_normal((graph.num_nodes, 6))
    sample = sample_neighbors(graph, [2, 8, 30, 21], [3, 2], seed=4)
    x = np.ascontiguousarray(x_all[sample.input_nodes])
    model = model_of(name)
    check_module_grad(model, sample.blocks, x, check_inputs=False)

    # The input gradient, through a loss on the seeds' outputs.
    model.train()
    projection = np.random.default_rng(0).standard_normal((4, 3))

    def loss():
        return float(np.sum(projection * model(sample.blocks, x)))

    model(sample.blocks, x)
    analytic = model.backward(projection, need_input_grad=True)
    from fastgnn.testing import check_grad

    check_grad(loss, [x], [analytic], rtol=1e-5, atol=1e-7)


def test_gcn_on_blocks_is_each_layer_on_its_block(rng):
    """GCN on blocks: self-loops for the destinations, the block's own degrees (the sampled approximation)."""
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6))
    sample = sample_neighbors(graph, [2, 8, 30, 21], [4, 3], seed=1)
    model = model_of("gcn")
    with model.evaluating():
        out = model(sample.blocks, x[sample.input_nodes])
        h = x[sample.input_nodes]
        for layer, block in enumerate(sample.blocks):
            h = model.convs[layer](block, (h, h[:block.num_dst_nodes]))
            if layer == 0:
                h = np.maximum(h + (0 if model.convs[0].bias is None else model.convs[0].bias.data), 0)
    np.testing.assert_allclose(out, h, rtol=1e-12)


@pytest.mark.parametrize("name", conv_names())
def test_dropout_and_fused_steps_per_batch_are_seeded(rng, name):
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6))
    sample = sample_neighbors(graph, np.arange(10), [3, 3], seed=2)
    outputs = []
    for _ in range(2):
        model = model_of(name, dropout=0.5)
        model.train()
        first = model(sample.blocks, x[sample.input_nodes])
        model.backward(np.ones_like(first))
        second = model(sample.blocks, x[sample.input_nodes])   # a new mask for the next batch
        outputs.append((first, second))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
    assert not np.array_equal(outputs[0][0], outputs[0][1])


def graphs_held(model):
    """The Graph objects reachable from the model's modules (their caches and saved values)."""
    found, seen = {}, set()

    def visit(value, depth):
        if id(value) in seen or depth > 6:
            return
        seen.add(id(value))
        if isinstance(value, fastgnn.Graph):
            found[id(value)] = value
        elif isinstance(value, dict):
            for item in value.values():
                visit(item, depth + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item, depth + 1)

    for module in model.modules():
        visit(vars(module), 0)
    return len(found)


@pytest.mark.parametrize("name", conv_names())
def test_per_batch_blocks_do_not_grow_the_caches(rng, name):
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6)).astype(np.float32)
    model = model_of(name, dtype=np.float32, cached=True) if name == "gcn" else model_of(name, dtype=np.float32)
    held = []
    for batch in range(12):
        sample = sample_neighbors(graph, np.arange(batch, batch + 5), [3, 3], seed=0, epoch=batch)
        model.train()
        out = model(sample.blocks, x[sample.input_nodes])
        model.backward(np.ones_like(out))
        held.append(graphs_held(model))
    assert max(held) == held[2] and max(held) <= 2 * 2 * model.num_layers, held


# ---------------------------------------------------------------------- layer-wise inference
def test_full_neighbour_block_layout(rng):
    graph = planted_graph(rng, weighted=True)
    block, nodes = full_neighbour_block(graph, 4, 11)
    assert block.num_dst_nodes == 7 and np.array_equal(nodes[:7], np.arange(4, 11))
    assert np.unique(nodes).size == nodes.size
    for row in range(7):
        lo, hi = graph.indptr[4 + row], graph.indptr[5 + row]
        b_lo, b_hi = block.indptr[row], block.indptr[row + 1]
        np.testing.assert_array_equal(nodes[block.indices[b_lo:b_hi]], graph.indices[lo:hi])
        np.testing.assert_array_equal(block.edge_weight[b_lo:b_hi], graph.edge_weight[lo:hi])


@pytest.mark.parametrize("name", conv_names())
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_inference_equals_the_full_graph_forward(rng, name, batch_size):
    graph = planted_graph(rng, weighted=True)
    x = rng.standard_normal((graph.num_nodes, 6))
    model = model_of(name, layers=3, dropout=0.5)
    model.train()                       # inference switches to eval mode and back
    out = model.inference(graph, x, batch_size=batch_size)
    assert model.training
    with model.evaluating():
        full = model(graph, x)
    np.testing.assert_allclose(out, full, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", ["sage", "graphconv"])
def test_inference_sums_in_the_graph_order_bitwise(rng, name):
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6))
    model = model_of(name)
    with model.evaluating():
        full = model(graph, x)
    np.testing.assert_array_equal(model.inference(graph, x, batch_size=9), full)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_inference_dtypes_threads_and_memory_mapped_features(rng, tmp_path, dtype, index_dtype):
    graph = planted_graph(rng, index_dtype=index_dtype)
    x = rng.standard_normal((graph.num_nodes, 6)).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    model = build_model("sage", 6, 3, hidden_channels=5, dtype=dtype, rng=0)
    with model.evaluating():
        full = model(graph, x)
    results = [model.inference(graph, mapped, batch_size=8, n_threads=n) for n in (1, 2, 3)]
    for result in results:
        np.testing.assert_array_equal(result, results[0])
        assert result.dtype == dtype
    np.testing.assert_allclose(results[0], full, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    # non-contiguous, read-only input is read, not modified
    strided = np.repeat(x, 2, axis=1)[:, ::2]
    strided.flags.writeable = False
    np.testing.assert_array_equal(model.inference(graph, strided, batch_size=8), results[0])


@pytest.mark.parametrize("name", conv_names())
def test_inference_on_an_empty_graph(name):
    graph = fastgnn.Graph.from_edge_index(np.zeros((2, 0), dtype=np.int64), num_nodes=0)
    model = model_of(name, dtype=np.float32)
    assert model.inference(graph, np.zeros((0, 6), dtype=np.float32)).shape == (0, 3)


def test_inference_sparse_features_equal_dense(rng):
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6)) * (rng.random((graph.num_nodes, 6)) < 0.3)
    model = build_model("gcn", 6, 3, hidden_channels=5, dtype=np.float64, rng=0)
    dense = model.inference(graph, x, batch_size=8)
    sparse = model.inference(graph, fastgnn.SparseFeatures.from_dense(x), batch_size=8)
    np.testing.assert_allclose(sparse, dense, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------- bad input
def test_bad_blocks_are_refused(rng):
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6))
    sample = sample_neighbors(graph, [1, 2, 3], [2, 2])
    model = model_of("sage")
    x_in = x[sample.input_nodes]
    with pytest.raises(ValueError, match="one block per layer"):
        model(sample.blocks[:1], x_in)
    with pytest.raises(TypeError, match=r"blocks\[1\] must be a fastgnn.Graph"):
        model([sample.blocks[0], "block"], x_in)
    with pytest.raises(ValueError, match=r"blocks\[0\] has .* destination nodes but blocks\[1\]"):
        model([sample.blocks[0], sample.blocks[0]], x_in)
    with pytest.raises(ValueError, match=r"x must have one row per source node of blocks\[0\]"):
        model(sample.blocks, x_in[1:])
    before = x_in.copy()
    model(sample.blocks, x_in)
    np.testing.assert_array_equal(x_in, before)


def test_bad_inference_arguments_are_refused(rng):
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6))
    model = model_of("sage")
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            model.inference(graph, x, batch_size=bad)
    with pytest.raises(ValueError, match=r"x must have shape \(40, 6\)"):
        model.inference(graph, x[:, :5])
    with pytest.raises(TypeError, match="x must hold float features"):
        model.inference(graph, x.astype(np.int64))
    with pytest.raises(TypeError, match="graph must be a fastgnn.Graph"):
        model.inference([graph], x)
    block, _ = full_neighbour_block(graph, 0, 5)
    with pytest.raises(ValueError, match="inference needs a square graph"):
        model.inference(block, x)


def test_a_stack_subclass_keeps_the_block_api():
    assert issubclass(build_model("sage", 4, 2).__class__, GNNStack)


@pytest.mark.parametrize("name", ["sage", "graphconv", "gcn", "gin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_signs_on_blocks_give_the_bits_of_the_kept_outputs(rng, name, dtype):
    graph = planted_graph(rng)
    x = rng.standard_normal((graph.num_nodes, 6)).astype(dtype)
    sample = sample_neighbors(graph, np.arange(10), [3, 3, 2], seed=2)
    grads = []
    for keep_signs in (True, False):
        model = model_of(name, dtype=dtype, layers=3, dropout=0.5)
        model.keep_signs_on_blocks = keep_signs
        model.train()
        out = model(sample.blocks, x[sample.input_nodes])
        model.backward(np.ones_like(out))
        grads.append([param.grad.copy() for param in model.parameters()])
    for kept, signs in zip(*grads):
        np.testing.assert_array_equal(kept, signs)


def _big_batch_rows(monkeypatch):
    """Make every batch a NeighborLoader gathers discardable, however small."""
    import fastgnn._runtime.memory as M

    monkeypatch.setattr(M, "DISCARDABLE_MIN_BYTES", 0)


@pytest.mark.parametrize("conv, aggr, input_dropout", [("sage", "mean", 0.0), ("sage", "max", 0.0),
                                                       ("sage", "mean", 0.3), ("gcn", None, 0.0),
                                                       ("graphconv", "sum", 0.0), ("gin", None, 0.0)])
def test_discarding_the_input_gives_the_same_steps(monkeypatch, conv, aggr, input_dropout):
    from fastgnn.data import NeighborLoader
    from fastgnn.losses import cross_entropy

    _big_batch_rows(monkeypatch)
    rng = np.random.default_rng(3)
    graph = planted_graph(rng, num_nodes=300, num_edges=2400)
    x = rng.standard_normal((graph.num_nodes, 48)).astype(np.float32)   # 48 -> 64: aggregated first
    y = rng.integers(0, 3, graph.num_nodes)
    options = {} if aggr is None else {"aggr": aggr}
    models = [GNNStack(48, 64, 3, 2, conv=conv, dropout=0.2, input_dropout=input_dropout, rng=5, **options)
              for _ in range(2)]
    loader = NeighborLoader(graph, x, y, fanouts=[4, 3], batch_size=40, seed=1, prefetch=False)
    for batch in loader:
        outputs = []
        for discard, model in zip((False, True), models):
            rows = loader.batch(batch.batch_index, epoch=0).x            # a fresh gather for each model
            model.zero_grad()
            logits = model(batch.blocks, rows, discard_input=discard)
            model.backward(cross_entropy(logits, batch.y)[1])
            outputs.append(logits)
            num_dst = batch.blocks[0].num_dst_nodes
            if discard and conv in ("sage", "gcn", "graphconv"):        # the rows past what is kept read as zeros
                kept = 0 if input_dropout else num_dst
                tail = rows[kept + -(-4096 // rows.strides[0]):]
                assert not tail.any() or tail.shape[0] == 0
                np.testing.assert_array_equal(rows[:kept], batch.x[:kept])
        np.testing.assert_array_equal(outputs[0], outputs[1])
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            np.testing.assert_array_equal(a.grad, b.grad)


def test_discard_input_keeps_rows_a_layer_transforming_first_still_needs(monkeypatch):
    from fastgnn.data import NeighborLoader

    _big_batch_rows(monkeypatch)
    rng = np.random.default_rng(4)
    graph = planted_graph(rng, num_nodes=200, num_edges=1500)
    x = rng.standard_normal((graph.num_nodes, 64)).astype(np.float32)   # 64 -> 8: transformed first
    model = GNNStack(64, 8, 3, 2, conv="sage", aggr="mean", dropout=0.0, rng=2)
    batch = NeighborLoader(graph, x, fanouts=[5, 5], batch_size=30, prefetch=False).batch(0)
    rows = batch.x
    before = rows.copy()
    model(batch.blocks, rows, discard_input=True)
    np.testing.assert_array_equal(rows, before)                       # kept for the backward: nothing released


def test_discard_input_leaves_a_callers_own_array_alone(rng):
    graph = planted_graph(rng, num_nodes=300, num_edges=2400)
    x = rng.standard_normal((graph.num_nodes, 48)).astype(np.float32)
    sample = sample_neighbors(graph, np.arange(20), [4, 3])
    rows = x[sample.input_nodes]
    before = rows.copy()
    model = GNNStack(48, 64, 3, 2, conv="sage", aggr="mean", dropout=0.0, rng=2)
    plain = model(sample.blocks, rows)
    np.testing.assert_array_equal(model(sample.blocks, rows, discard_input=True), plain)
    np.testing.assert_array_equal(rows, before)
    assert model(fastgnn.Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=300), x,
                 discard_input=True).shape == (300, 3)              # whole graph: nothing to discard
