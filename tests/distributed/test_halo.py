"""HaloExchange and partitioned training against NumPy references, ranks simulated by threads in one process."""
import numpy as np
import pytest

import dist_cases as cases
from dist_helpers import make_parts, run_ranks
from fastgnn.distributed import HaloExchange, train_node_classifier_distributed
from fastgnn.graph import Graph
from fastgnn.models import GAT, GIN, GATv2, GraphConvNet, GraphSAGE
from fastgnn.optim import Adam
from fastgnn.train import train_node_classifier


def _graph_and_parts(num_parts, index_dtype="int32", assignment=None, halo_by_owner=False):
    graph, x, y, masks = cases.synthetic()
    if index_dtype == "int64":
        graph = Graph.from_csr(graph.indptr, graph.indices, graph.edge_weight, index_dtype="int64")
    assignment = cases.assignment(graph.num_nodes, num_parts) if assignment is None else assignment
    return graph, make_parts(graph, x, y, masks, assignment, halo_by_owner=halo_by_owner)


@pytest.mark.parametrize("num_parts", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("halo_by_owner", [False, True])
def test_forward_and_backward_match_the_whole_graph(num_parts, dtype, index_dtype, halo_by_owner):
    graph, parts = _graph_and_parts(num_parts, index_dtype, halo_by_owner=halo_by_owner)
    h = np.random.default_rng(0).standard_normal((graph.num_nodes, 4)).astype(dtype)
    grads = [np.random.default_rng(p).standard_normal((part.global_ids.size, 4)).astype(dtype)
             for p, part in enumerate(parts)]
    # reference: every local source row's gradient added to its global node, read back at the owners
    total = np.zeros((graph.num_nodes, 4))
    for part, grad in zip(parts, grads):
        np.add.at(total, part.global_ids, grad.astype(np.float64))

    def job(comm):
        part = parts[comm.rank]
        halo = HaloExchange(part, comm)
        owned = h[part.global_ids[:part.num_owned]]
        owned.flags.writeable = False                       # read-only input is fine, and left alone
        grad = grads[comm.rank].copy()
        overwritten = grads[comm.rank].copy()
        in_place = halo.backward(overwritten, overwrite_input=True)
        assert halo.grouped == (halo_by_owner or num_parts < 3)     # two parts: one owner of every halo node
        # into an array with room for the halo rows: the owned rows are its front (not copied), or copied there
        room = np.full((part.global_ids.size, 4), np.nan, dtype=dtype)
        room[:part.num_owned] = owned
        filled = halo.forward(room[:part.num_owned], out=room)
        other = np.full_like(room, np.nan)
        copied = halo.forward(owned, out=other)
        assert filled is room and copied is other
        return halo.forward(owned), halo.backward(grad), grad, in_place, overwritten, room, other

    for part, grad_in, (h_src, grad_owned, grad_after, in_place, overwritten, room, other) in zip(
            parts, grads, run_ranks(num_parts, job)):
        assert h_src.dtype == dtype and grad_owned.dtype == dtype
        np.testing.assert_array_equal(h_src, h[part.global_ids])
        np.testing.assert_array_equal(room, h[part.global_ids])
        np.testing.assert_array_equal(other, h[part.global_ids])
        np.testing.assert_allclose(grad_owned, total[part.global_ids[:part.num_owned]], rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
        np.testing.assert_array_equal(grad_after, grad_in)   # the input is not modified
        # overwrite_input: the same values, in the input's owned rows
        np.testing.assert_array_equal(in_place, grad_owned)
        assert np.shares_memory(in_place, overwritten)


@pytest.mark.parametrize("num_parts", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("halo_by_owner", [False, True])
@pytest.mark.parametrize("rows_per_round", [1, 2, 7])
def test_rounds_give_the_bits_of_one_round(num_parts, dtype, halo_by_owner, rows_per_round):
    """Small ``round_bytes`` (many Alltoallv rounds): forward as the reference, backward bitwise as one round."""
    graph, parts = _graph_and_parts(num_parts, halo_by_owner=halo_by_owner)
    width = 5
    h = np.random.default_rng(0).standard_normal((graph.num_nodes, width)).astype(dtype)
    grads = [np.random.default_rng(p).standard_normal((part.global_ids.size, width)).astype(dtype)
             for p, part in enumerate(parts)]
    # reference: the owned rows plus every halo copy's gradient, added in rank order
    total = np.zeros((graph.num_nodes, width), dtype=dtype)
    for part, grad in zip(parts, grads):
        total[part.global_ids[:part.num_owned]] += grad[:part.num_owned]
    for part, grad in zip(parts, grads):
        total[part.global_ids[part.num_owned:]] += grad[part.num_owned:]
    round_bytes = rows_per_round * width * np.dtype(dtype).itemsize

    def job(comm):
        part = parts[comm.rank]
        one, small = HaloExchange(part, comm), HaloExchange(part, comm, round_bytes=round_bytes + 1)
        owned = h[part.global_ids[:part.num_owned]]
        grad = grads[comm.rank].copy()
        grad.flags.writeable = False
        return one.forward(owned), small.forward(owned), one.backward(grad), small.backward(grad)

    most = max(int(part.halo_owner.size) for part in parts)
    assert most > 2 * rows_per_round                      # several rounds
    for part, (h_one, h_small, grad_one, grad_small) in zip(parts, run_ranks(num_parts, job)):
        np.testing.assert_array_equal(h_small, h[part.global_ids])
        np.testing.assert_array_equal(h_one, h_small)
        assert grad_small.tobytes() == grad_one.tobytes()
        np.testing.assert_array_equal(grad_small, total[part.global_ids[:part.num_owned]])


def test_round_bytes_is_checked():
    _, parts = _graph_and_parts(2)
    for bad, error in ((0, ValueError), (-5, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="round_bytes"):
            run_ranks(1, lambda comm: HaloExchange(_graph_and_parts(1)[1][0], comm, round_bytes=bad))
    with pytest.raises(ValueError, match="round_bytes must be the same on every rank"):
        run_ranks(2, lambda comm: HaloExchange(parts[comm.rank], comm, round_bytes=64 * (comm.rank + 1)))


@pytest.mark.parametrize("kind", ["gcn", "sage"])
def test_training_in_small_rounds_gives_the_same_bits(kind):
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 3), halo_by_owner=True)

    def job(comm, round_bytes):
        net = (GraphSAGE if kind == "sage" else cases.GCN)(x.shape[1], 8, int(y.max()) + 1, dropout=0.5, rng=0)
        result = train_node_classifier_distributed(net, parts[comm.rank], Adam(net.parameters(), lr=0.01),
                                                   comm=comm, epochs=4, early_stopping=None,
                                                   round_bytes=round_bytes)
        return result.history["train_loss"], np.concatenate([p.data.ravel() for p in net.parameters()])

    one = run_ranks(3, lambda comm: job(comm, None))
    small = run_ranks(3, lambda comm: job(comm, 24))
    for (loss_one, params_one), (loss_small, params_small) in zip(one, small):
        assert loss_small == loss_one
        assert params_small.tobytes() == params_one.tobytes()


def test_an_empty_part_and_a_part_without_halo():
    graph, x, y, masks = cases.synthetic()
    assignment = np.zeros(graph.num_nodes, dtype=np.int64)
    assignment[-3:] = 2            # part 1 is empty; part 2 holds three nodes that receive no edge
    parts = make_parts(graph, x, y, masks, assignment)
    assert parts[1].num_owned == 0 and parts[2].halo_owner.size == 0

    def job(comm):
        halo = HaloExchange(parts[comm.rank], comm)
        owned = x[parts[comm.rank].global_ids[:parts[comm.rank].num_owned]]
        return halo.forward(owned), halo.backward(np.ones((parts[comm.rank].global_ids.size, x.shape[1])))

    for part, (h_src, grad) in zip(parts, run_ranks(3, job)):
        np.testing.assert_array_equal(h_src, x[part.global_ids])
        assert grad.shape == (part.num_owned, x.shape[1])


def test_a_bad_out_is_a_value_error_naming_the_argument():
    _, parts = _graph_and_parts(1)
    halo = run_ranks(1, lambda comm: HaloExchange(parts[0], comm))[0]
    owned = np.zeros((parts[0].num_owned, 4))
    for bad in (np.zeros((parts[0].num_owned + 1, 4)), np.zeros((parts[0].num_owned, 4), np.float32),
                np.zeros((parts[0].num_owned, 8))[:, ::2], [[0.0] * 4] * parts[0].num_owned):
        with pytest.raises(ValueError, match="out must"):
            halo.forward(owned, out=bad)


def test_bad_rows_are_a_value_error_naming_the_argument():
    _, parts = _graph_and_parts(1)
    halo = run_ranks(1, lambda comm: HaloExchange(parts[0], comm))[0]
    with pytest.raises(ValueError, match="h_owned must have"):
        halo.forward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="grad_src must have"):
        halo.backward(np.zeros((3, 2)))


def test_halo_owner_naming_this_rank_is_rejected():
    _, parts = _graph_and_parts(2)
    parts[0].halo_owner = np.zeros_like(parts[0].halo_owner)
    with pytest.raises(ValueError, match="halo_owner must name other ranks"):
        run_ranks(2, lambda comm: HaloExchange(parts[comm.rank], comm))


def _model(kind, graph_x, num_classes, dtype):
    options = dict(dropout=0.0, rng=0, dtype=dtype)
    if kind in cases.MODELS:
        return cases.model(kind, graph_x, num_classes, dtype)
    net = {"sage-max": lambda: GraphSAGE(graph_x, 8, num_classes, aggr="max", **options),
           "sage-sum": lambda: GraphSAGE(graph_x, 8, num_classes, aggr="sum", **options),
           "gin": lambda: GIN(graph_x, 8, num_classes, **options),
           "graphconv-mean": lambda: GraphConvNet(graph_x, 8, num_classes, aggr="mean", **options),
           "sage-min": lambda: GraphSAGE(graph_x, 8, num_classes, aggr="min", **options),
           "graphconv-max": lambda: GraphConvNet(graph_x, 8, num_classes, aggr="max", **options),
           "gat": lambda: GAT(graph_x, 4, num_classes, heads=2, **options),
           "gatv2": lambda: GATv2(graph_x, 4, num_classes, heads=2, **options)}[kind]()
    return net, Adam(net.parameters(), lr=0.01)


@pytest.mark.parametrize("kind", ["gcn", "sage", "sage-max", "sage-min", "sage-sum", "gin", "graphconv-mean",
                                  "graphconv-max", "gat", "gatv2"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("halo_by_owner", [False, True])
def test_training_equals_single_process(kind, dtype, halo_by_owner):
    graph, x, y, masks = cases.synthetic()
    num_classes = int(y.max()) + 1
    model, optimizer = _model(kind, x.shape[1], num_classes, dtype)
    want = train_node_classifier(model, graph, x, y, masks["train"], masks["valid"], masks["test"], optimizer,
                                 epochs=8, early_stopping="patience", patience=3)
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 3), halo_by_owner=halo_by_owner)

    def job(comm):
        model, optimizer = _model(kind, x.shape[1], num_classes, dtype)
        return train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=8,
                                                 early_stopping="patience", patience=3)

    tolerance = 1e-10 if dtype == np.float64 else 1e-5
    for got in run_ranks(3, job):
        np.testing.assert_allclose(got.history["train_loss"], want.history["train_loss"], rtol=tolerance)
        np.testing.assert_allclose(got.history["val_loss"], want.history["val_loss"], rtol=tolerance)
        assert got.epochs == want.epochs and got.best_epoch == want.best_epoch
        for key in ("train_acc", "val_acc", "test_acc"):
            assert got.metrics[key] == want.metrics[key]
        np.testing.assert_allclose(got.metrics["test_loss"], want.metrics["test_loss"], rtol=tolerance)


def test_rank_count_other_than_part_count_is_rejected():
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 3))

    def job(comm):
        model, optimizer = cases.model("gcn", x.shape[1], int(y.max()) + 1, np.float64)
        return train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=1)

    with pytest.raises(ValueError, match="the partition has 3 parts but the job runs 2 ranks"):
        run_ranks(2, job)


def test_checkpoint_loads_into_a_single_process_model(tmp_path):
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 2))
    path = tmp_path / "weights.npz"

    def job(comm):
        model, optimizer = cases.model("gcn", x.shape[1], int(y.max()) + 1, np.float64)
        result = train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=3,
                                                   checkpoint=path)
        return model, result

    (model, result), _ = run_ranks(2, job)
    fresh, _ = cases.model("gcn", x.shape[1], int(y.max()) + 1, np.float64, seed=7)
    with np.load(path) as saved:
        fresh.load_state_dict(dict(saved))
    with fresh.evaluating():
        logits = fresh(graph, x)
    accuracy = np.mean(np.argmax(logits[masks["test"]], axis=1) == y[masks["test"]])
    assert accuracy == result.metrics["test_acc"]


@pytest.mark.parametrize("kind", ["gcn", "sage"])
def test_dropout_and_sparse_input_keep_the_ranks_identical(kind):
    graph, x, y, masks = cases.synthetic()
    x = np.where(np.random.default_rng(2).random(x.shape) < 0.05, x, 0.0)     # 5 % non-zero: kept sparse
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 3))

    def job(comm):
        net = (GraphSAGE if kind == "sage" else cases.GCN)(x.shape[1], 8, int(y.max()) + 1, dropout=0.5, rng=0)
        result = train_node_classifier_distributed(net, parts[comm.rank], Adam(net.parameters(), lr=0.01),
                                                   comm=comm, epochs=4, early_stopping=None)
        return result, np.concatenate([p.data.ravel() for p in net.parameters()])

    results = run_ranks(3, job)
    for result, params in results[1:]:
        np.testing.assert_array_equal(params, results[0][1])
        assert result.history["train_loss"] == results[0][0].history["train_loss"]
    assert np.all(np.isfinite(results[0][0].history["train_loss"]))


@pytest.mark.parametrize("kind", ["gcn", "sage", "sage-max", "gin", "graphconv-mean"])
def test_training_with_dropout_equals_single_process(kind):
    """Dense dropout masks are keyed by global node id with the single-process keys: the same losses."""
    graph, x, y, masks = cases.synthetic()
    num_classes = int(y.max()) + 1

    def build():
        if kind in cases.MODELS:
            return cases.model(kind, x.shape[1], num_classes, np.float64, dropout=0.5)
        net, _ = _model(kind, x.shape[1], num_classes, np.float64)
        net.dropouts[0].p = net.dropouts[1].p = 0.5
        return net, Adam(net.parameters(), lr=0.01)

    model, optimizer = build()
    want = train_node_classifier(model, graph, x, y, masks["train"], masks["valid"], masks["test"], optimizer,
                                 epochs=5, early_stopping=None)
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 3))

    def job(comm):
        model, optimizer = build()
        return train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=5,
                                                 early_stopping=None)

    for got in run_ranks(3, job):
        np.testing.assert_allclose(got.history["train_loss"], want.history["train_loss"], rtol=1e-10)
        np.testing.assert_allclose(got.history["val_loss"], want.history["val_loss"], rtol=1e-10)
