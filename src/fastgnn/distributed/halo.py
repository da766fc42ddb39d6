"""The halo exchange of partitioned full-graph training: :class:`HaloExchange`.

Each rank owns some nodes; its local bipartite graph reads, besides its own
rows, the rows of its *halo*: remote in-neighbours of its owned nodes,
owned by other ranks. Before each layer the halo rows are fetched from
their owners (``Alltoallv`` rounds of bounded size); in the backward pass
the gradients of the halo rows go back to their owners, which add them to
their own rows.
"""
import threading
import time

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.distributed.comm import _receive_buffer

__all__ = ["HaloExchange", "is_front_of", "ROUND_BYTES"]

#: Default bound of an exchange round: the bytes of rows a rank gathers to send (forward) or receives to add (backward).
ROUND_BYTES = 32 << 20


class HaloExchange:
    """Fetch halo rows from their owners (forward) and return their gradients (backward).

    Parameters
    ----------
    partition : Partition
        This rank's part: ``num_owned``, ``halo_owner`` (int, the rank owning
        each halo node) and ``halo_remote_index`` (int, each halo node's
        local id within its owner), as :func:`fastgnn.distributed.load_partition` gives.
    comm : Communicator
        ``rank``, ``size``, ``alltoallv`` (with ``send_offsets`` and
        ``recv_offsets``), ``allgather``; every rank must build its exchange
        at the same time (the setup is a collective).
    round_bytes : int, optional
        The most bytes of rows a rank gathers to send (forward) or receives
        to add to its own rows (backward) in one ``Alltoallv`` round
        (default :data:`ROUND_BYTES`, 32 MiB; at least one row per round).
        An exchange takes as many rounds as the largest sender needs; the
        buffers stay this size however large the halo. The same value on
        every rank. Results do not depend on it (bitwise).

    Attributes
    ----------
    num_owned, num_halo : int
    send_counts, recv_counts : ndarray of int64 (size,)
        Rows sent to / received from each rank per forward exchange.
    round_bytes : int

    Notes
    -----
    Setup: each rank sends each owner the local ids it needs (one
    ``Alltoallv`` of ``int64``), so the owner knows which of its rows every
    other rank reads, and every rank learns how many rows each rank sends
    each other (an ``allgather``). Forward: ``O(halo · d)`` bytes moved.
    Backward: the same volume the other way; each owner adds the gradients
    received in rank order (rows from one rank are distinct), so the result
    is the same for every run.

    Rounds: the rows a rank serves, to rank 0 first (its ``send_counts``
    order), are cut into windows of ``round_bytes // row bytes`` rows; round
    ``t`` moves every rank's window ``t``. Forward, a rank gathers only its
    window's rows; backward, it receives only its window's gradients and
    adds them before the next round, in the same rank order as one round
    would: the same bits for any ``round_bytes``.

    When the halo is grouped by owner (owners in increasing order, as
    :func:`fastgnn.distributed.partition` writes parts since format version
    2), the received rows land in place in ``h_src`` and the halo gradients
    are sent from ``grad_src`` itself: no gathered copy either way.
    """

    def __init__(self, partition, comm, round_bytes=None):
        self.comm = comm
        self.round_bytes = ROUND_BYTES if round_bytes is None else V.as_int(round_bytes, "round_bytes")
        if self.round_bytes < 1:
            raise ValueError(f"round_bytes must be >= 1, got {self.round_bytes}")
        size, rank = int(comm.size), int(comm.rank)
        self.num_owned = int(partition.num_owned)
        owner = np.asarray(partition.halo_owner, dtype=np.int64)
        remote = np.asarray(partition.halo_remote_index, dtype=np.int64)
        if owner.ndim != 1 or remote.shape != owner.shape:
            raise ValueError(f"partition.halo_owner and partition.halo_remote_index must be 1-D arrays of one "
                             f"length, got shapes {owner.shape} and {remote.shape}")
        if owner.size and (owner.min() < 0 or owner.max() >= size or np.any(owner == rank)):
            raise ValueError(f"partition.halo_owner must name other ranks in [0, {size}) (this is rank {rank}), "
                             f"got values in [{owner.min()}, {owner.max()}]")
        self.num_halo = int(owner.size)
        # the halo grouped by owner (stable: within an owner, halo order)
        self._by_owner = np.argsort(owner, kind="stable")
        #: the halo is already grouped by owner: rows are received in place, gradients sent without a gather
        self.grouped = bool(np.all(owner[:-1] <= owner[1:]))
        self.recv_counts = np.bincount(owner, minlength=size).astype(np.int64)
        self.send_counts = np.asarray(comm.alltoallv(self.recv_counts.reshape(size, 1), np.ones(size, np.int64),
                                                     np.ones(size, np.int64))).reshape(size).astype(np.int64)
        requested = comm.alltoallv(remote[self._by_owner], self.recv_counts, self.send_counts)
        if self.grouped:
            self._by_owner = None       # the identity: not kept (8 bytes per halo node)
        if requested.size and (requested.min() < 0 or requested.max() >= self.num_owned):
            raise ValueError(f"rank {rank}: another rank asked for local rows out of [0, {self.num_owned}); "
                             "the parts do not belong to one partition")
        self._send_index = np.ascontiguousarray(requested, dtype=np.int64)
        # every rank's send counts (row s: what rank s serves each rank), and one round size for all
        gathered = comm.allgather((self.send_counts.tolist(), self.round_bytes))
        if len({value for _, value in gathered}) != 1:
            raise ValueError(f"round_bytes must be the same on every rank, got {[value for _, value in gathered]}")
        self._counts = np.array([counts for counts, _ in gathered], dtype=np.int64).reshape(size, size)
        self._starts = np.cumsum(self._counts, axis=1) - self._counts      # where each block starts in its row
        self._recv_bounds = np.concatenate([[0], np.cumsum(self.recv_counts)]).astype(np.int64)

    def forward(self, h_owned, out=None):
        """``h_src``: the owned rows, then the halo rows fetched from their owners.

        Parameters
        ----------
        h_owned : ndarray (num_owned, ...)
        out : ndarray (num_owned + num_halo, ...), optional
            C-contiguous and writeable, of ``h_owned``'s dtype: ``h_src`` is
            written there. When ``h_owned`` is ``out[:num_owned]`` itself
            (an array with room for the halo rows), only the halo rows are
            written: the owned rows are not copied.

        Returns
        -------
        ndarray (num_owned + num_halo, ...)
            ``out``, or a new array; ``h_owned`` itself when no rank sends
            or receives rows (a single rank) and no ``out`` is given.
        """
        h_owned = np.asarray(h_owned)
        self._check_owned(h_owned)
        if out is None and self.comm.size == 1:
            return h_owned
        h_src = self._source_rows(h_owned, out)
        self._fetch(h_owned, h_src)
        return h_src

    def forward_async(self, h_owned, out=None, mode="thread"):
        """Start :meth:`forward`'s exchange; return ``(h_src, wait)`` at once.

        The owned rows of ``h_src`` are in place on return; its halo rows
        only once ``wait()`` has returned (call it exactly once, before any
        other collective of this communicator). Same arguments as
        :meth:`forward`, same rows received.

        Parameters
        ----------
        mode : {"thread", "deferred", "blocking"}
            ``"thread"``: the exchange runs in a background thread (the
            communicator must allow calls from another thread, e.g. MPI
            initialized with ``MPI_THREAD_SERIALIZED`` or more) while this
            thread goes on; ``"deferred"``: the halo rows are set to NaN and
            the exchange runs inside ``wait()`` (a test of what reads them too
            early); ``"blocking"``: the exchange is done before returning.

        Returns
        -------
        h_src : ndarray (num_owned + num_halo, ...)
        wait : callable
            Returns once the halo rows are in place; raises the exchange's error, if any.
        """
        if mode not in ("thread", "deferred", "blocking"):
            raise ValueError(f"mode must be 'thread', 'deferred' or 'blocking', got {mode!r}")
        h_owned = np.asarray(h_owned)
        self._check_owned(h_owned)
        h_src = self._source_rows(h_owned, out)
        if mode == "blocking" or self.comm.size == 1:
            self._fetch(h_owned, h_src)
            return h_src, _nothing
        if mode == "deferred":
            h_src[self.num_owned:] = np.nan
            return h_src, lambda: self._fetch(h_owned, h_src)
        return h_src, _InBackground(lambda: self._fetch(h_owned, h_src))

    def _check_owned(self, h_owned):
        if h_owned.shape[:1] != (self.num_owned,):
            raise ValueError(f"h_owned must have {self.num_owned} rows (the owned nodes), got shape {h_owned.shape}")

    def _source_rows(self, h_owned, out):
        """``out`` (checked) or a new array, with the owned rows in place."""
        h_src = _receive_buffer(out, (self.num_owned + self.num_halo,) + h_owned.shape[1:], h_owned.dtype)
        if not is_front_of(h_owned, h_src):
            h_src[:self.num_owned] = h_owned
        return h_src

    def _fetch(self, h_owned, h_src):
        """Receive the halo rows into ``h_src[num_owned:]`` (a collective: every rank's rounds)."""
        if self.comm.size == 1:
            return
        if self.grouped:
            halo_rows = h_src[self.num_owned:]           # received in place
        else:
            halo_rows = np.empty((self.num_halo,) + h_owned.shape[1:], dtype=h_owned.dtype)
        buffer = None
        for lo, hi, sent, received, offsets in self._rounds(h_owned):
            if buffer is None:          # the first window is the largest
                buffer = np.empty((hi - lo,) + h_owned.shape[1:], dtype=h_owned.dtype)
            # this round's rows (ids checked at setup: "clip" never clips, and writes out= without a buffer)
            send = np.take(h_owned, self._send_index[lo:hi], axis=0, out=buffer[:hi - lo], mode="clip")
            self.comm.alltoallv(send, sent, received, out=halo_rows, recv_offsets=offsets)
        if not self.grouped:
            h_src[self.num_owned + self._by_owner] = halo_rows

    def backward(self, grad_src, overwrite_input=False):
        """``dL/dh_owned`` from ``dL/dh_src``: the owned rows plus the halo gradients other ranks send back.

        Parameters
        ----------
        grad_src : ndarray (num_owned + num_halo, ...)
        overwrite_input : bool
            Add the received gradients into ``grad_src``'s owned rows (it
            must be C-contiguous and writable) and return them, instead of
            a copy: one array of ``num_owned`` rows less at the peak.

        Returns
        -------
        ndarray (num_owned, ...)
            A new array, or with ``overwrite_input`` a view of ``grad_src``.
        """
        grad_src = np.asarray(grad_src)
        if grad_src.shape[:1] != (self.num_owned + self.num_halo,):
            raise ValueError(f"grad_src must have {self.num_owned + self.num_halo} rows (owned then halo nodes), "
                             f"got shape {grad_src.shape}")
        halo_grad = grad_src[self.num_owned:] if self.grouped else grad_src[self.num_owned + self._by_owner]
        halo_grad = np.ascontiguousarray(halo_grad)
        if overwrite_input and grad_src.flags.c_contiguous and grad_src.flags.writeable:
            grad_owned = grad_src[:self.num_owned]
        else:
            grad_owned = np.array(grad_src[:self.num_owned], order="C")
        buffer = None
        for lo, hi, received, sent, offsets in self._rounds(grad_owned):     # the forward's rounds reversed
            if buffer is None:          # the first window is the largest
                buffer = np.empty((hi - lo,) + grad_owned.shape[1:], dtype=grad_owned.dtype)
            rows = buffer[:hi - lo]
            self.comm.alltoallv(halo_grad, sent, received, out=rows, send_offsets=offsets)
            start = lo
            for count in received:       # rank order; the rows from one rank are distinct
                if count:
                    grad_owned[self._send_index[start:start + count]] += rows[start - lo:start - lo + count]
                    start += count
        return grad_owned

    def _max_window(self, rows):
        """Rows per round for rows shaped like ``rows[0]``: ``round_bytes`` of them, at least one."""
        row_bytes = int(np.prod(rows.shape[1:], dtype=np.int64)) * rows.dtype.itemsize
        return max(1, self.round_bytes // row_bytes) if row_bytes else max(1, int(self._counts.sum(axis=1).max()))

    def _rounds(self, rows):
        """The forward rounds for rows shaped like ``rows[0]``: ``(lo, hi, send_counts, recv_counts, recv_offsets)``.

        Round ``t`` sends rows ``lo:hi`` of this rank's ``send_index`` (to
        rank 0 first) and receives, from every rank, the part of that rank's
        window ``t`` meant for this one, at ``recv_offsets`` rows into the
        grouped halo. The backward runs the same rounds the other way round.
        """
        window = self._max_window(rows)
        totals = self._counts.sum(axis=1)
        rank = int(self.comm.rank)
        column_start, column_count = self._starts[:, rank], self._counts[:, rank]
        for t in range(-(-int(totals.max(initial=0)) // window)):
            lo, hi = t * window, np.minimum((t + 1) * window, totals)      # every rank's window t
            # this rank's window, cut into the blocks of each destination
            row_start, row_end = self._starts[rank], self._starts[rank] + self._counts[rank]
            mine = np.clip(row_end, lo, hi[rank]) - np.clip(row_start, lo, hi[rank])
            # from every rank: the part of its window t within its block for this rank
            first = np.clip(column_start, lo, hi)
            received = np.clip(column_start + column_count, lo, hi) - first
            offsets = np.where(received > 0, self._recv_bounds[:-1] + first - column_start, 0)
            yield lo, int(max(lo, hi[rank])), mine, received, offsets


def _nothing():
    pass


class _InBackground:
    """``work()`` run in a new thread; calling the object joins it and raises its error.

    ``seconds`` is the thread's time in ``work`` (once joined).
    """

    def __init__(self, work):
        self.seconds = 0.0
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(work,), name="fastgnn-halo-exchange", daemon=True)
        self._thread.start()

    def _run(self, work):
        started = time.perf_counter()
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - raised again by the caller's wait
            self._error = error
        self.seconds = time.perf_counter() - started

    def __call__(self):
        self._thread.join()
        if self._error is not None:
            raise self._error


def is_front_of(rows, array):
    """Whether ``rows`` is the first ``len(rows)`` rows of the C-contiguous ``array`` (the same memory)."""
    return (rows.flags.c_contiguous and rows.dtype == array.dtype and rows.shape[1:] == array.shape[1:]
            and rows.__array_interface__["data"][0] == array.__array_interface__["data"][0])
