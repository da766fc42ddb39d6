"""Data-parallel mini-batch training and the remote feature fetch, ranks simulated by threads in one process."""
import numpy as np
import pytest

import dist_cases as cases
from dist_helpers import make_parts, run_ranks
from fastgnn.distributed import (RemoteFeatures, SelfCommunicator, load_partition, partition,
                                 train_node_classifier_distributed_minibatch)
from fastgnn.models import GCN
from fastgnn.optim import Adam
from fastgnn.train import train_node_classifier_minibatch

FANOUTS = [4, 3]
BATCH = 40
EPOCHS = 3


def _single(kind, dtype, graph, x, y, masks, **options):
    model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, dtype)
    result = train_node_classifier_minibatch(model, graph, x, y, masks["train"], masks["valid"], masks["test"],
                                             optimizer, fanouts=FANOUTS, batch_size=BATCH, epochs=EPOCHS,
                                             early_stopping=None, seed=7, **options)
    return model, result


def _distributed(kind, dtype, part, comm, x, y, **options):
    model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, dtype)
    result = train_node_classifier_distributed_minibatch(model, part, optimizer, fanouts=FANOUTS, batch_size=BATCH,
                                                         epochs=EPOCHS, early_stopping=None, seed=7, comm=comm,
                                                         **options)
    return model, result


def _weights(model):
    return [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("num_parts", [2, 3])
@pytest.mark.parametrize("feature_dtype", [np.float32, np.float64])
def test_remote_features_fetch_matches_numpy(num_parts, feature_dtype):
    graph, x, y, masks = cases.synthetic()
    x = x.astype(feature_dtype)
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, num_parts))

    def rank_fetch(comm):
        part = parts[comm.rank]
        features = RemoteFeatures(np.asarray(part.x)[::1], part.owner, part.local_index, comm)
        rng = np.random.default_rng(comm.rank)
        asked = [rng.integers(0, graph.num_nodes, 50), np.zeros(0, np.int64),      # repeats; nothing
                 np.arange(graph.num_nodes)[::-1] if comm.rank == 0 else np.zeros(0, np.int64)]
        return [(ids, features.fetch(ids)) for ids in asked]

    for fetched in run_ranks(num_parts, rank_fetch):
        for ids, rows in fetched:
            assert rows.dtype == x.dtype and rows.shape == (ids.shape[0], x.shape[1])
            np.testing.assert_array_equal(rows, x[ids])


def test_remote_features_rejects_out_of_range_ids():
    owner, local = np.zeros(4, np.int32), np.arange(4)
    features = RemoteFeatures(np.ones((4, 2)), owner, local, SelfCommunicator())
    with pytest.raises(ValueError, match="node_ids"):
        features.fetch([0, 4])


@pytest.fixture(scope="module")
def cora_one_part(tmp_path_factory):
    graph, x, y, masks = cases.cora()
    out = tmp_path_factory.mktemp("cora1") / "parts"
    partition(graph, 1, out, method="random", x=x, y=y, splits={k: np.flatnonzero(v) for k, v in masks.items()})
    return out


@pytest.mark.parametrize("kind", cases.MODELS)
def test_one_rank_without_mpi_is_single_process_minibatch_bitwise(kind, cora_one_part):
    graph, x, y, masks = cases.cora()
    single_model, single = _single(kind, np.float64, graph, x, y, masks)
    model, result = _distributed(kind, np.float64, str(cora_one_part), SelfCommunicator(), x, y)
    assert result.history["train_loss"] == single.history["train_loss"]
    for got, want in zip(_weights(model), _weights(single_model)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(result.history["val_loss"], single.history["val_loss"], rtol=1e-12)
    assert result.metrics["test_acc"] == single.metrics["test_acc"]
    assert result.info["batches_per_epoch"] == single.info["batches_per_epoch"]
    assert result.info["remote_feature_rows"] == 0


@pytest.mark.parametrize("num_parts", [2, 3])
@pytest.mark.parametrize("kind", cases.MODELS)
def test_ranks_give_single_process_losses(kind, num_parts):
    """SAGE: the losses of one process (same batches, same samples). GCN on a block normalizes by the block's
    own source degrees (DGL's norm='both'), which depend on the rank's share of the batch: only agreement."""
    graph, x, y, masks = cases.synthetic()
    _, single = _single(kind, np.float64, graph, x, y, masks, weighted=True)
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, num_parts))

    def rank_train(comm):
        model, result = _distributed(kind, np.float64, parts[comm.rank], comm, x, y, weighted=True)
        return _weights(model), result

    results = run_ranks(num_parts, rank_train)
    for weights, result in results:
        for got, want in zip(weights, results[0][0]):
            np.testing.assert_array_equal(got, want)          # every rank holds the same model
        assert result.history["train_loss"] == results[0][1].history["train_loss"]
        if kind == "gcn":
            continue
        np.testing.assert_allclose(result.history["train_loss"], single.history["train_loss"], rtol=1e-10)
        np.testing.assert_allclose(result.history["val_loss"], single.history["val_loss"], rtol=1e-10)
        assert result.metrics["val_acc"] == single.metrics["val_acc"]
    assert results[0][1].info["remote_feature_rows"] > 0


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_same_seed_same_weights_for_any_thread_count_with_dropout(n_threads):
    graph, x, y, masks = cases.synthetic()
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 2))

    def rank_train(comm, threads):
        model = GCN(x.shape[1], 16, int(y.max()) + 1, dropout=0.5, rng=0, dtype=np.float32)
        train_node_classifier_distributed_minibatch(model, parts[comm.rank], Adam(model.parameters(), lr=0.01),
                                                    fanouts=FANOUTS, batch_size=BATCH, epochs=2, seed=1, comm=comm,
                                                    n_threads=threads, early_stopping=None)
        return _weights(model)

    reference = run_ranks(2, lambda comm: rank_train(comm, 1))[0]
    for got, want in zip(run_ranks(2, lambda comm: rank_train(comm, n_threads))[0], reference):
        np.testing.assert_array_equal(got, want)


def test_bad_arguments_name_them(cora_one_part):
    model, optimizer = cases.model("gcn", 1433, 7, np.float64)
    part = load_partition(cora_one_part, 0)
    for options, message in (({"fanouts": [5]}, "fanouts"), ({"fanouts": [5, 5], "batch_size": 0}, "batch_size"),
                             ({"fanouts": [5, 0]}, r"fanouts\[1\]")):
        with pytest.raises(ValueError, match=message):
            train_node_classifier_distributed_minibatch(model, part, optimizer, comm=SelfCommunicator(), **options)


def test_partition_without_structure_is_a_clear_error(cora_one_part, tmp_path):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(cora_one_part, copy)
    shutil.rmtree(copy / "graph")
    model, optimizer = cases.model("gcn", 1433, 7, np.float64)
    with pytest.raises(FileNotFoundError, match="partition the graph again"):
        train_node_classifier_distributed_minibatch(model, str(copy), optimizer, fanouts=[5, 5],
                                                    comm=SelfCommunicator())


def test_a_rank_without_training_nodes_joins_every_step():
    graph, x, y, masks = cases.synthetic()
    assignment = cases.assignment(graph.num_nodes, 3)
    masks = dict(masks, train=masks["train"] & (assignment != 2))        # part 2 owns no training node
    _, single = _single("sage", np.float64, graph, x, y, masks)
    parts = make_parts(graph, x, y, masks, assignment)

    def rank_train(comm):
        return _distributed("sage", np.float64, parts[comm.rank], comm, x, y)[1]

    for result in run_ranks(3, rank_train):
        np.testing.assert_allclose(result.history["train_loss"], single.history["train_loss"], rtol=1e-10)


def test_self_communicator_is_a_one_rank_job():
    comm = SelfCommunicator()
    assert (comm.rank, comm.size) == (0, 1)
    rows = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(comm.alltoallv(rows, [3], [3]), rows)
    np.testing.assert_array_equal(comm.allreduce_sum(rows), rows)
    assert comm.allgather("a") == ["a"] and comm.bcast(5) == 5
    with pytest.raises(ValueError, match="send_counts"):
        comm.alltoallv(rows, [3], [2])


def test_self_communicator_sends_and_receives_at_offsets():
    comm = SelfCommunicator()
    rows = np.arange(8.0).reshape(4, 2)
    out = np.full((5, 2), -1.0)
    assert comm.alltoallv(rows, [2], [2], out=out, send_offsets=[1], recv_offsets=[3]) is out
    np.testing.assert_array_equal(out, [[-1, -1], [-1, -1], [-1, -1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(comm.alltoallv(rows, [1], [1], send_offsets=[3]), rows[3:])
    with pytest.raises(ValueError, match="recv_offsets needs out"):
        comm.alltoallv(rows, [1], [1], recv_offsets=[0])
    with pytest.raises(ValueError, match="reach past"):
        comm.alltoallv(rows, [2], [2], send_offsets=[3])
    with pytest.raises(ValueError, match="send_offsets must hold 1"):
        comm.alltoallv(rows, [2], [2], send_offsets=[0, 1])


def test_early_stopping_stops_every_rank_where_one_process_stops():
    graph, x, y, masks = cases.synthetic()
    options = dict(fanouts=FANOUTS, batch_size=BATCH, epochs=20, early_stopping="patience", patience=1, seed=7)
    model, optimizer = cases.model("sage", x.shape[1], int(y.max()) + 1, np.float64)
    want = train_node_classifier_minibatch(model, graph, x, y, masks["train"], masks["valid"], masks["test"],
                                           optimizer, **options)
    parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, 2))

    def rank_train(comm):
        model, optimizer = cases.model("sage", x.shape[1], int(y.max()) + 1, np.float64)
        return train_node_classifier_distributed_minibatch(model, parts[comm.rank], optimizer, comm=comm, **options)

    for got in run_ranks(2, rank_train):
        assert want.stopped_early and (got.epochs, got.best_epoch, got.stopped_early) == (want.epochs, want.best_epoch, True)
        assert got.metrics["test_acc"] == want.metrics["test_acc"]
