"""Test helpers: a tiny partitioner with the on-disk format's arrays, and ranks simulated by threads."""
import threading
import types

import numpy as np

from fastgnn.graph import Graph


def make_parts(graph, x, y, masks, assignment, halo_by_owner=False, interior_first=False):
    """One part per value of ``assignment`` (node -> part), as ``load_partition`` describes them.

    Rows are the owned nodes in increasing global id, each row's edges in the
    global CSR order; sources are the owned nodes then the halo in increasing
    global id (format version 1). With ``halo_by_owner`` the halo is grouped
    by owner, increasing global id within an owner (format version 2), and
    ``x`` is the front of ``x_src``, an array with room for the halo rows.
    With ``interior_first`` the owned nodes whose in-neighbours are all
    owned come first (format version 3).
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    num_parts = int(assignment.max()) + 1
    indptr = graph.indptr.astype(np.int64)
    indices = graph.indices.astype(np.int64)
    index_in_part = np.zeros(graph.num_nodes, dtype=np.int64)
    boundary = np.array([np.any(assignment[indices[indptr[v]:indptr[v + 1]]] != assignment[v])
                         for v in range(graph.num_nodes)], dtype=bool)

    def owned_of(p):
        owned = np.flatnonzero(assignment == p)
        return owned[np.argsort(boundary[owned], kind="stable")] if interior_first else owned

    for p in range(num_parts):
        owned = owned_of(p)
        index_in_part[owned] = np.arange(owned.size)
    in_degree = np.diff(indptr)
    parts = []
    for p in range(num_parts):
        owned = owned_of(p)
        edge_ids = np.concatenate([np.arange(indptr[v], indptr[v + 1]) for v in owned] + [np.zeros(0, np.int64)])
        sources = indices[edge_ids]
        halo = np.unique(sources[assignment[sources] != p])
        if halo_by_owner:
            halo = halo[np.argsort(assignment[halo], kind="stable")]
        global_ids = np.concatenate([owned, halo])
        local = np.full(graph.num_nodes, -1, dtype=np.int64)
        local[global_ids] = np.arange(global_ids.size)
        local_indptr = np.concatenate([[0], np.cumsum(in_degree[owned])])
        weight = None if graph.edge_weight is None else graph.edge_weight[edge_ids]
        local_graph = Graph.from_csr(local_indptr, local[sources], weight, num_src_nodes=global_ids.size)
        part_masks = tuple(masks[name][owned] for name in ("train", "valid", "test"))
        x_src = None
        if halo_by_owner:
            x_src = np.zeros((global_ids.size,) + x.shape[1:], dtype=x.dtype)
            x_src[:owned.size] = x[owned]
        parts.append(types.SimpleNamespace(
            graph=local_graph, x=x[owned] if x_src is None else x_src[:owned.size], x_src=x_src, y=y[owned], masks=lambda m=part_masks: m, global_ids=global_ids,
            num_owned=owned.size, halo_owner=assignment[halo].astype(np.int32),
            halo_remote_index=index_in_part[halo], in_degree=in_degree[global_ids], edge_ids=edge_ids,
            full_graph=graph, owner=assignment.astype(np.int32), local_index=index_in_part,
            info=types.SimpleNamespace(num_parts=num_parts)))
    return parts


class ThreadGroup:
    """``size`` simulated ranks in one process: collectives meet at a barrier."""

    def __init__(self, size):
        self.size = size
        self.slots = [None] * size
        self.barrier = threading.Barrier(size, timeout=60)


class ThreadComm:
    """The :class:`fastgnn.distributed.Communicator` interface over a :class:`ThreadGroup`."""

    def __init__(self, group, rank, background_calls=True):
        self.group, self.rank, self.size = group, rank, group.size
        # collectives may run in a background thread; "deferred": the halo exchange runs only when
        # waited for, its rows NaN until then (an early read shows as NaN)
        self.background_calls = background_calls

    def _share(self, value):
        self.group.slots[self.rank] = value
        self.group.barrier.wait()
        values = list(self.group.slots)
        self.group.barrier.wait()
        return values

    def allreduce_sum(self, array):
        values = self._share(np.ascontiguousarray(array))
        total = values[0].copy()
        for value in values[1:]:
            total += value
        return total

    def alltoallv(self, send, send_counts, recv_counts, out=None, *, send_offsets=None, recv_offsets=None):
        send = np.ascontiguousarray(send)
        send_offsets = _offsets(send_counts, send_offsets)
        # copies: the sender may reuse its buffer once the call returns, as MPI lets it
        pieces = [send[send_offsets[r]:send_offsets[r] + int(send_counts[r])].copy() for r in range(self.size)]
        values = self._share(pieces)
        received = [values[source][self.rank] for source in range(self.size)]
        assert [len(r) for r in received] == [int(c) for c in recv_counts]
        if recv_offsets is not None:
            for piece, offset in zip(received, _offsets(recv_counts, recv_offsets)):
                out[offset:offset + len(piece)] = piece
            return out
        if out is not None:
            out[...] = np.concatenate(received) if received else send[:0]
            return out
        return np.concatenate(received) if received else send[:0]

    def allgather(self, obj):
        return self._share(obj)

    def bcast(self, obj, root=0):
        return self._share(obj)[root]

    def barrier(self):
        self.group.barrier.wait()


def _offsets(counts, offsets):
    """The given row offsets, or the blocks' back to back."""
    if offsets is not None:
        return [int(offset) for offset in offsets]
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64).tolist()


def run_ranks(size, function, background_calls=True):
    """``[function(comm) for each rank]``, the ranks running at once in threads; re-raises a rank's error.

    ``background_calls`` is the communicators' (see :class:`ThreadComm`).
    """
    group = ThreadGroup(size)
    results, errors = [None] * size, [None] * size

    def body(rank):
        try:
            results[rank] = function(ThreadComm(group, rank, background_calls))
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            errors[rank] = error
            group.barrier.abort()

    threads = [threading.Thread(target=body, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None and not isinstance(error, threading.BrokenBarrierError):
            raise error
    for error in errors:
        if error is not None:
            raise error
    return results
