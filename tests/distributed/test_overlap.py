"""The halo exchange overlapped with the aggregation: the same bits as without, and no early read of a halo row.

Ranks are simulated by threads. The ``deferred`` communicators run each
overlapped exchange only when it is waited for, the halo rows NaN until
then: a layer that read one too early would give NaN losses, or losses
other than the blocking run's.
"""
import numpy as np
import pytest

import dist_cases as cases
from dist_helpers import make_parts, run_ranks
from fastgnn.distributed import DistributedModel, HaloExchange, train_node_classifier_distributed
from fastgnn.graph import Graph
from fastgnn.models import GAT, GIN, GraphConvNet, GraphSAGE
from fastgnn.optim import Adam
from fastgnn.train import train_node_classifier

KINDS = ["gcn", "sage", "sage-max", "sage-min", "gin", "gin-wide", "graphconv-mean", "graphconv-max", "gat"]


def _model(kind, in_channels, num_classes):
    options = dict(dropout=0.0, rng=0, dtype=np.float64)
    if kind in cases.MODELS:
        return cases.model(kind, in_channels, num_classes, np.float64)
    net = {"sage-max": lambda: GraphSAGE(in_channels, 8, num_classes, aggr="max", **options),
           "sage-min": lambda: GraphSAGE(in_channels, 32, num_classes, aggr="min", **options),
           "gin": lambda: GIN(in_channels, 8, num_classes, **options),
           "gin-wide": lambda: GIN(in_channels, 40, num_classes, **options),
           "graphconv-mean": lambda: GraphConvNet(in_channels, 24, num_classes, aggr="mean", **options),
           "graphconv-max": lambda: GraphConvNet(in_channels, 8, num_classes, aggr="max", **options),
           "gat": lambda: GAT(in_channels, 4, num_classes, heads=2, **options)}[kind]()
    return net, Adam(net.parameters(), lr=0.01)


def _train(kind, parts, x, num_classes, overlap, background_calls, ranks=3):
    def job(comm):
        model, optimizer = _model(kind, x.shape[1], num_classes)
        result = train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=5,
                                                   early_stopping=None, overlap=overlap)
        return result.history["train_loss"], result.history["val_loss"], result.metrics["test_loss"]

    return run_ranks(ranks, job, background_calls=background_calls)


@pytest.mark.parametrize("kind", KINDS)
def test_overlap_gives_the_bits_of_blocking_exchanges(kind):
    graph, x, y, masks = cases.synthetic()
    num_classes = int(y.max()) + 1
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 3), halo_by_owner=True,
                       interior_first=True)
    blocking = _train(kind, parts, x, num_classes, overlap=False, background_calls=True)
    deferred = _train(kind, parts, x, num_classes, overlap=True, background_calls="deferred")
    threaded = _train(kind, parts, x, num_classes, overlap=True, background_calls=True)
    assert np.all(np.isfinite(blocking[0][0]))
    assert deferred == blocking            # every rank, every epoch: the same floats
    assert threaded == blocking
    model, optimizer = _model(kind, x.shape[1], num_classes)
    want = train_node_classifier(model, graph, x, y, masks["train"], masks["valid"], masks["test"], optimizer,
                                 epochs=5, early_stopping=None)
    np.testing.assert_allclose(deferred[0][0], want.history["train_loss"], rtol=1e-10)


@pytest.mark.parametrize("ranks", [2, 3])
def test_ready_rows_are_the_interior_rows(ranks):
    _, x, y, masks = cases.synthetic()
    nodes = np.arange(x.shape[0])
    # a ring with edges between neighbours (+-1, +-2) cut into arcs: every node but the arcs' ends is interior
    src = np.concatenate([(nodes + step) % nodes.size for step in (1, 2, -1, -2)])
    graph = Graph.from_edge_index(np.stack([src, np.tile(nodes, 4)]), num_nodes=nodes.size)
    assignment = nodes * ranks // nodes.size
    parts = make_parts(graph, x, y, masks, assignment, halo_by_owner=True, interior_first=True)

    def job(comm):
        part = parts[comm.rank]
        model, _ = cases.model("sage", x.shape[1], int(y.max()) + 1, np.float64)
        runner = DistributedModel(model, part, comm)
        indptr, indices = part.graph.indptr, part.graph.indices
        interior = [bool(np.all(indices[indptr[i]:indptr[i + 1]] < part.num_owned)) for i in range(part.num_owned)]
        return runner.ready_rows, interior

    for ready, interior in run_ranks(ranks, job):
        count = int(np.sum(interior))
        assert interior == [True] * count + [False] * (len(interior) - count)
        assert ready == [count, count] and count == len(interior) - 4


def test_without_background_calls_the_exchange_blocks():
    graph, x, y, masks = cases.synthetic()
    num_classes = int(y.max()) + 1
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 2), halo_by_owner=True)
    assert (_train("sage", parts, x, num_classes, overlap=True, background_calls=False, ranks=2)
            == _train("sage", parts, x, num_classes, overlap=False, background_calls=False, ranks=2))


@pytest.mark.parametrize("mode", ["thread", "deferred", "blocking"])
def test_forward_async_receives_the_rows_of_forward(mode):
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 3), halo_by_owner=True)
    h = np.random.default_rng(4).standard_normal((graph.num_nodes, 5))

    def job(comm):
        part = parts[comm.rank]
        halo = HaloExchange(part, comm, round_bytes=3 * 5 * 8)
        h_src, wait = halo.forward_async(h[part.global_ids[:part.num_owned]], mode=mode)
        if mode == "deferred":
            assert np.all(np.isnan(h_src[part.num_owned:]))
        wait()
        return np.array_equal(h_src, h[part.global_ids])

    assert all(run_ranks(3, job))


def test_forward_async_rejects_an_unknown_mode():
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, np.zeros(graph.num_nodes, dtype=np.int64))
    halo = run_ranks(1, lambda comm: HaloExchange(parts[0], comm))[0]
    with pytest.raises(ValueError, match="mode must be"):
        halo.forward_async(np.zeros((parts[0].num_owned, 2)), mode="later")


def test_overlap_must_be_a_bool_or_auto():
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, np.zeros(graph.num_nodes, dtype=np.int64))
    model, _ = cases.model("gcn", x.shape[1], int(y.max()) + 1, np.float64)
    with pytest.raises(TypeError, match="overlap must be True, False or 'auto'"):
        run_ranks(1, lambda comm: DistributedModel(model, parts[0], comm, overlap="yes"))


@pytest.mark.parametrize("overlap", [True, False])
def test_the_overlapped_exchanges_are_counted(overlap):
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 2), halo_by_owner=True)

    def job(comm):
        model, optimizer = cases.model("sage", x.shape[1], int(y.max()) + 1, np.float64)
        return train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=3,
                                                 early_stopping=None, overlap=overlap).info["overlap"]

    for stats in run_ranks(2, job):
        # a 2-layer stack: one hidden exchange per forward: 3 training epochs, 3 validations, the final evaluation
        assert stats["exchanges"] == (7 if overlap else 0)
        assert 0 <= stats["waited_seconds"] and 0 <= stats["exchange_seconds"]


@pytest.mark.parametrize("ranks_on_host, overlapped", [(1, True), (10**6, False)])
def test_auto_overlap_unless_the_cores_are_oversubscribed(ranks_on_host, overlapped):
    import fastgnn

    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 2), halo_by_owner=True)

    def job(comm):
        comm.ranks_on_host = ranks_on_host          # as if that many ranks shared this machine's cores
        model, optimizer = cases.model("sage", x.shape[1], int(y.max()) + 1, np.float64)
        result = train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=2,
                                                   early_stopping=None, n_threads=1)
        return result.info["overlap"]["exchanges"], result.history["train_loss"]

    previous = fastgnn.get_num_threads()
    fastgnn.set_num_threads(1)
    try:
        results = run_ranks(2, job)
    finally:
        fastgnn.set_num_threads(previous)
    for exchanges, _ in results:
        assert (exchanges > 0) == overlapped
