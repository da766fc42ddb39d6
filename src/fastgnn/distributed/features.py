"""Feature rows spread over the ranks by owner, fetched by global node id: :class:`RemoteFeatures`.

Each rank holds the rows of the nodes it owns. A mini-batch needs the rows
of its input nodes, wherever they live: :meth:`RemoteFeatures.fetch` reads
the local ones in place and asks their owners for the others in one
batched exchange (an ``Alltoallv`` of the requested counts, one of the
local ids, one of the rows back).
"""
import numpy as np

from fastgnn._runtime.memory import empty_batch_rows
from fastgnn.ops.gather import gather_rows

__all__ = ["RemoteFeatures"]


class RemoteFeatures:
    """Rows of a per-node array whose rows are held by their owners, fetched by global id.

    Parameters
    ----------
    x_owned : ndarray or np.memmap (num_owned, ...)
        This rank's rows, in its owned nodes' local order.
    owner : ndarray of int (num_nodes,)
        The rank owning every node (e.g. :attr:`fastgnn.distributed.Partition.owner`).
    local_index : ndarray of int (num_nodes,)
        Every node's row within its owner (:attr:`fastgnn.distributed.Partition.local_index`).
    comm : Communicator
    n_threads : int, optional
        Threads of the row gathers.

    Notes
    -----
    :meth:`fetch` is a collective: every rank calls it the same number of
    times (a rank with nothing to fetch passes an empty id array). Cost per
    call: ``O(m d)`` to gather and place the ``m`` rows asked for, plus the
    remote rows' bytes sent once each way (requests as int64 ids).
    """

    def __init__(self, x_owned, owner, local_index, comm, *, n_threads=None):
        self.x = x_owned
        self.owner = owner
        self.local_index = local_index
        self.comm = comm
        self.n_threads = n_threads
        shape = getattr(x_owned, "shape", None)
        if shape is None or len(shape) < 1:
            raise ValueError(f"x_owned must be an array with one row per owned node, got {type(x_owned).__name__}")
        if np.shape(owner) != np.shape(local_index) or np.ndim(owner) != 1:
            raise ValueError(f"owner and local_index must be 1-D arrays of one length, got shapes "
                             f"{np.shape(owner)} and {np.shape(local_index)}")
        self.num_nodes = int(np.shape(owner)[0])

    def fetch(self, node_ids):
        """``x[node_ids]`` of the whole graph, as one new array (a collective).

        Parameters
        ----------
        node_ids : ndarray of int (m,)
            Global ids in ``[0, num_nodes)``, repeats allowed.

        Returns
        -------
        ndarray (m, ...)
            Row ``k`` is node ``node_ids[k]``'s row, bitwise as its owner holds it.
        """
        comm = self.comm
        size, rank = int(comm.size), int(comm.rank)
        ids = np.asarray(node_ids, dtype=np.int64).reshape(-1)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.num_nodes):
            raise ValueError(f"node_ids must lie in [0, {self.num_nodes}), got [{int(ids.min())}, {int(ids.max())}]")
        owners = np.asarray(self.owner[ids], dtype=np.int64)
        local = np.asarray(self.local_index[ids], dtype=np.int64)
        out = empty_batch_rows((ids.shape[0],) + tuple(self.x.shape[1:]), self.x.dtype)
        mine = owners == rank
        out[mine] = gather_rows(self.x, local[mine], n_threads=self.n_threads)
        if size == 1:
            return out
        remote = np.flatnonzero(~mine)
        remote = remote[np.argsort(owners[remote], kind="stable")]      # grouped by owner, in request order
        send_counts = np.bincount(owners[remote], minlength=size).astype(np.int64)
        ones = np.ones(size, dtype=np.int64)
        recv_counts = comm.alltoallv(send_counts.reshape(size, 1), ones, ones).reshape(size).astype(np.int64)
        requested = comm.alltoallv(local[remote], send_counts, recv_counts)
        num_owned = int(self.x.shape[0])
        if requested.size and (int(requested.min()) < 0 or int(requested.max()) >= num_owned):
            raise ValueError(f"rank {rank}: another rank asked for rows out of [0, {num_owned}); the ranks do not "
                             "hold one partition")
        rows = gather_rows(self.x, requested, n_threads=self.n_threads)
        out[remote] = comm.alltoallv(rows, recv_counts, send_counts)
        return out
