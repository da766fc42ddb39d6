"""Run under ``mpirun -n P``: partitioned training and halo checks; rank 0 writes the results as JSON.

Usage: ``python mpi_job.py OUT.json CASE`` with CASE ``train`` (GCN and
GraphSAGE on Cora and on a synthetic graph, float64 and float32, plus the
halo exchange against the whole-graph reference, plus data-parallel
mini-batch training on a partition folder), ``fail`` (rank 1 raises),
or ``mismatch`` (parts of another partition count).
"""
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from dist_helpers import make_parts  # noqa: E402

from fastgnn.distributed import (Communicator, HaloExchange, RemoteFeatures, abort_on_failure,  # noqa: E402
                                 load_partition, partition, train_node_classifier_distributed,
                                 train_node_classifier_distributed_minibatch)

import dist_cases as cases  # noqa: E402


def main(out_path, case):
    comm = Communicator()
    with abort_on_failure(comm):
        results = {}
        if case == "fail":
            if comm.rank == 1:
                raise RuntimeError("deliberate failure")
            comm.barrier()          # rank 0 waits here: the abort must end it
        elif case == "mismatch":
            graph, x, y, masks = cases.synthetic()
            parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, comm.size + 1))
            try:
                model, optimizer = cases.model("gcn", x.shape[1], int(y.max()) + 1, np.float64)
                train_node_classifier_distributed(model, parts[comm.rank], optimizer, comm=comm, epochs=1)
            except ValueError as error:
                results["error"] = str(error)
        else:
            # one launch for every check (an mpirun start costs seconds): mini-batch, then full-graph training
            results["minibatch"] = _minibatch(comm, pathlib.Path(out_path).parent / f"parts-{comm.size}")
            for dataset in ("cora", "synthetic"):
                graph, x, y, masks = cases.cora() if dataset == "cora" else cases.synthetic()
                parts = make_parts(graph, x, y, masks, cases.assignment(graph.num_nodes, comm.size),
                                   halo_by_owner=True, interior_first=dataset == "synthetic")
                part = parts[comm.rank]
                halo = HaloExchange(part, comm)
                h = np.random.default_rng(5).standard_normal((graph.num_nodes, 3))
                forward_ok = np.array_equal(halo.forward(h[part.global_ids[:part.num_owned]]), h[part.global_ids])
                grad = np.random.default_rng(comm.rank).standard_normal((part.global_ids.size, 3))
                grad_owned = halo.backward(grad)
                # rounds of one and of five rows (Alltoallv with displacements): the same bits as one round
                rounds_ok = True
                for round_bytes in (1, 5 * 3 * 8):
                    small = HaloExchange(part, comm, round_bytes=round_bytes)
                    rounds_ok &= np.array_equal(small.forward(h[part.global_ids[:part.num_owned]]),
                                                h[part.global_ids])
                    rounds_ok &= small.backward(grad).tobytes() == grad_owned.tobytes()
                pieces = comm.allgather((part.global_ids, grad, part.num_owned, grad_owned))
                if comm.rank == 0:
                    total = np.zeros((graph.num_nodes, 3))
                    for ids, g, _, _ in pieces:
                        np.add.at(total, ids, g)
                    backward_err = max(float(np.max(np.abs(g_owned - total[ids[:n]]), initial=0.0))
                                       for ids, _, n, g_owned in pieces)
                    results[f"{dataset}/halo"] = {"forward_equal": bool(forward_ok), "backward_err": backward_err}
                results[f"{dataset}/halo/rounds"] = all(comm.allgather(bool(rounds_ok)))
                if dataset == "synthetic":     # dense features: dropout masks keyed by global id
                    for kind in cases.MODELS:
                        model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, np.float64, dropout=0.5)
                        result = train_node_classifier_distributed(model, part, optimizer, comm=comm,
                                                                   epochs=cases.EPOCHS, early_stopping=None)
                        results[f"{dataset}/{kind}/dropout"] = {"train_loss": result.history["train_loss"],
                                                                "val_loss": result.history["val_loss"]}
                        # exchange rounds of 100 bytes: the same losses, bit for bit
                        model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, np.float64, dropout=0.5)
                        rounds = train_node_classifier_distributed(model, part, optimizer, comm=comm,
                                                                   epochs=cases.EPOCHS, early_stopping=None,
                                                                   round_bytes=100)
                        results[f"{dataset}/{kind}/dropout/rounds_same"] = (
                            rounds.history["train_loss"] == result.history["train_loss"]
                            and rounds.history["val_loss"] == result.history["val_loss"])
                for kind in cases.MODELS:
                    for dtype in (np.float64, np.float32):
                        model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, dtype)
                        result = train_node_classifier_distributed(model, part, optimizer, comm=comm,
                                                                   epochs=cases.EPOCHS, early_stopping=None)
                        flat = np.concatenate([p.data.ravel().astype(np.float64) for p in model.parameters()])
                        same = comm.allgather(flat.tobytes())
                        results[f"{dataset}/{kind}/{np.dtype(dtype).name}"] = {
                            "train_loss": result.history["train_loss"], "val_loss": result.history["val_loss"],
                            "test_acc": result.metrics["test_acc"], "val_acc": result.metrics["val_acc"],
                            "ranks_agree": len(set(same)) == 1,
                            "overlap_same": _overlap_same(comm, kind, dtype, part, x, y, result)}
            results["background_calls"] = comm.allgather(comm.background_calls)
        if comm.rank == 0:
            pathlib.Path(out_path).write_text(json.dumps(results))


def _overlap_same(comm, kind, dtype, part, x, y, overlapped):
    """Whether training without overlap, and with deferred exchanges (halo rows NaN until waited for), gives
    the bits of the overlapped run ``overlapped`` on every rank."""
    same = True
    threads = comm.background_calls
    for overlap, calls in ((False, threads), (True, "deferred")):
        comm.background_calls = calls
        model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, dtype)
        result = train_node_classifier_distributed(model, part, optimizer, comm=comm, epochs=cases.EPOCHS,
                                                   early_stopping=None, overlap=overlap)
        same &= (result.history["train_loss"] == overlapped.history["train_loss"]
                 and result.history["val_loss"] == overlapped.history["val_loss"])
    comm.background_calls = threads
    return all(comm.allgather(bool(same)))


def _minibatch(comm, folder):
    """Data-parallel mini-batch training on a real partition folder: fetch, equality, thread counts."""
    graph, x, y, masks = cases.cora()
    if comm.rank == 0:
        partition(graph, comm.size, folder, method="random", seed=1, x=x, y=y, overwrite=True,
                  splits={name: np.flatnonzero(mask) for name, mask in masks.items()})
    comm.barrier()
    part = load_partition(folder, comm.rank, mmap=True)
    ids = np.random.default_rng(comm.rank).integers(0, graph.num_nodes, 300)
    fetched = RemoteFeatures(part.x, part.owner, part.local_index, comm).fetch(ids)
    results = {"fetch_equal": comm.allgather(bool(np.array_equal(fetched, x[ids])))}
    for kind in cases.MODELS:
        weights = []
        for threads in (1, 2):
            model, optimizer = cases.model(kind, x.shape[1], int(y.max()) + 1, np.float64)
            result = train_node_classifier_distributed_minibatch(model, str(folder), optimizer, comm=comm,
                                                                 **cases.MINIBATCH, n_threads=threads)
            weights.append(np.concatenate([p.data.ravel() for p in model.parameters()]).tobytes())
        results[kind] = {"train_loss": result.history["train_loss"], "val_loss": result.history["val_loss"],
                         "ranks_agree": len(set(comm.allgather(weights[0]))) == 1,
                         "threads_agree": weights[0] == weights[1],
                         "remote_rows": result.info["remote_feature_rows"]}
    return results


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
