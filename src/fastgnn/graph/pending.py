"""Source rows that arrive later: :class:`PendingSources` and :func:`ready_rows`.

A graph may carry a barrier (:meth:`fastgnn.Graph.with_pending_sources`):
the source rows from column ``first_column`` on are still being filled in
(e.g. received from other processes) while the destination rows before
``ready_rows`` read none of them. An operation that honours the barrier
computes rows ``[0, ready_rows)`` first, calls :meth:`PendingSources.wait`,
then computes the rest; one that does not calls ``wait()`` before reading
any source row. Each row is still reduced in one pass in its edge order, so
the result is bitwise the one without a barrier.

Nothing here knows where the rows come from: ``wait`` is any callable.
"""
import threading

import numpy as np

__all__ = ["PendingSources", "ready_rows"]

#: Edges scanned at once by :func:`ready_rows` (bounds its temporaries).
_SCAN_EDGES = 1 << 20


class PendingSources:
    """A barrier: source rows from ``first_column`` on are valid only after :meth:`wait`.

    Parameters
    ----------
    first_column : int
        The first source row still pending (the rows before it are valid now).
    ready_rows : int
        Destination rows ``[0, ready_rows)`` read only sources before
        ``first_column`` (see :func:`ready_rows`).
    wait : callable
        Called once, by the first :meth:`wait`: returns when the pending rows
        are in place (raises if they never will be).

    Notes
    -----
    :meth:`wait` is idempotent and thread-safe; an exception raised by the
    callable is raised again by every later call.
    """

    __slots__ = ("first_column", "ready_rows", "_wait", "_done", "_error", "_lock")

    def __init__(self, first_column, ready_rows, wait):
        if not callable(wait):
            raise TypeError(f"wait must be callable, got {type(wait).__name__}")
        self.first_column = int(first_column)
        self.ready_rows = int(ready_rows)
        if self.first_column < 0 or self.ready_rows < 0:
            raise ValueError(f"first_column and ready_rows must be >= 0, got {self.first_column} and "
                             f"{self.ready_rows}")
        self._wait = wait
        self._done = False
        self._error = None
        self._lock = threading.Lock()

    @property
    def done(self):
        """Whether :meth:`wait` has returned (every source row is valid)."""
        return self._done

    def wait(self):
        """Return once the pending source rows are in place (at once after the first call)."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._done:
                return
            try:
                self._wait()
            except BaseException as error:
                self._error = error
                raise
            self._done = True
            self._wait = None           # drop what the callable holds (buffers, threads)

    def then(self, action):
        """A barrier over the same rows whose :meth:`wait` waits for this one, then runs ``action()``.

        E.g. a product of the source rows computed for the valid rows now and
        for the pending rows once they arrive.
        """
        def wait_then_act():
            self.wait()
            action()
        return PendingSources(self.first_column, self.ready_rows, wait_then_act)

    def __repr__(self):
        state = "done" if self._done else "pending"
        return f"PendingSources(first_column={self.first_column}, ready_rows={self.ready_rows}, {state})"


def ready_rows(graph, first_column):
    """The number of leading destination rows of ``graph`` whose sources all lie before ``first_column``.

    Parameters
    ----------
    graph : Graph
    first_column : int

    Returns
    -------
    int
        The largest ``k`` such that every edge of rows ``[0, k)`` has a
        source ``< first_column`` (``num_dst_nodes`` when every edge does).

    Notes
    -----
    One pass over ``indices`` up to the first edge at or past
    ``first_column``, ``_SCAN_EDGES`` at a time: ``O(E)`` time at most,
    ``O(1)`` extra memory in the number of edges.
    """
    indptr, indices = graph.indptr, graph.indices
    first_column = int(first_column)
    for start in range(0, indices.shape[0], _SCAN_EDGES):
        late = np.flatnonzero(indices[start:start + _SCAN_EDGES] >= first_column)
        if late.size:
            edge = start + int(late[0])
            # the rows that end at or before that edge: indptr[r + 1] <= edge
            return int(np.searchsorted(indptr, edge, side="right")) - 1
    return graph.num_dst_nodes
