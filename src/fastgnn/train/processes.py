"""Independent tasks (e.g. cross-validation folds) run concurrently in worker processes.

Training a graph classifier on batches of small graphs is dominated by Python
and NumPy overhead on small arrays, which holds the GIL: Python threads would
run it one at a time, and the kernels' own threads have too little work per
call to help. Independent tasks (the folds of a cross-validation, each its own
model and seed) are the level where the work is; :func:`run_in_processes`
runs them in ``spawn``-started worker processes (no ``fork`` after OpenMP
threads have run, which can hang libgomp), each with one kernel thread and one
BLAS thread, and returns their results in task order.

- The shared data (the dataset, the model factory) is pickled once and sent
  to each worker once; each task is small.
- A task reports events (per-epoch progress) to the parent while it runs.
- An exception in a task is raised again in the parent (the same type when
  it can be pickled, with the worker's traceback as its ``__cause__``); a
  worker that dies (a crash, a signal, the OOM killer) raises
  :class:`WorkerError`. The other workers are stopped either way.
- On ``KeyboardInterrupt`` in the parent, the workers (which ignore SIGINT)
  are terminated before it propagates.

The function and the shared data must be picklable, and importable by module
name in a fresh interpreter (the rules of :mod:`multiprocessing`'s ``spawn``:
a script that starts workers needs an ``if __name__ == "__main__":`` guard).
"""
import collections
import contextlib
import os
import pickle
import signal
import sys
import threading
import time
import traceback

__all__ = ["run_in_processes", "WorkerError", "is_picklable", "can_start_workers", "SINGLE_THREAD_ENVIRONMENT"]

#: Set in the workers' environment before they start, so that their BLAS and OpenMP runtimes start with one thread.
SINGLE_THREAD_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                             "BLIS_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}

# How long a worker may take to exit after being told to stop, before it is terminated.
_JOIN_SECONDS = 5.0
# How often a worker checks that its parent is still alive.
_PARENT_CHECK_SECONDS = 1.0


class WorkerError(RuntimeError):
    """A worker process died, or failed with an exception that could not be sent back as it was."""


class _RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker (the ``__cause__`` of the one raised again)."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return "\n" + self.text


def can_start_workers():
    """Whether ``spawn`` can start a worker from this program.

    A spawned worker imports the parent's ``__main__`` again: by module name
    (``python -m``) or from its file. A ``__main__`` whose ``__file__`` is no
    file (``python - < script``, some embedding tools) makes every worker fail
    at start; without a ``__file__`` (``python -c``, a notebook) it is skipped.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None):
        return True
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)


def is_picklable(value):
    """Whether a ``spawn``-started worker can receive ``value``: it pickles, and what it names can be imported.

    A lambda or a local function does not pickle; a function or class of the
    ``__main__`` module pickles, but a fresh interpreter can import it only
    when ``__main__`` is a script file (not ``python -c``, stdin or a notebook).
    """
    try:
        pickled = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return False
    if b"__main__" in pickled:
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        return path is not None and os.path.isfile(path)
    return True


# ---------------------------------------------------------------------------- the worker side
def _failure(error):
    """What a worker sends back about an exception: (pickled exception or None, type name, message, traceback)."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        pickled = pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pickled = None
    return pickled, type(error).__name__, str(error), text


def _exit_with_parent(parent_pid):
    """End this worker when its parent is gone (killed without the chance to stop it)."""
    while True:
        time.sleep(_PARENT_CHECK_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(1)


def _worker_main(connection, parent_pid):
    """A worker's loop: receive ``(function, shared)``, then run tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent handles Ctrl-C and stops the workers
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    try:
        _serve(connection)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        os._exit(1)                                    # the parent is gone: nobody to report to


def _serve(connection):
    try:
        function, shared = pickle.loads(connection.recv_bytes())
    except (BrokenPipeError, ConnectionResetError, EOFError):
        raise
    except BaseException as error:                     # noqa: BLE001 - sent to the parent
        connection.send(("error", None, _failure(error)))
        return
    while True:
        message = connection.recv()
        if message is None:
            return
        index, task = message

        def report(event, index=index):
            connection.send(("event", index, event))

        try:
            result = function(shared, task, report)
            connection.send(("done", index, result))
        except (BrokenPipeError, ConnectionResetError):
            raise
        except BaseException as error:                 # noqa: BLE001 - sent to the parent
            connection.send(("error", index, _failure(error)))
            return


# ---------------------------------------------------------------------------- the parent side
@contextlib.contextmanager
def _starting_workers():
    """The workers inherit a one-thread environment, and SIGINT ignored from their first instruction on."""
    saved = {name: os.environ.get(name) for name in SINGLE_THREAD_ENVIRONMENT}
    os.environ.update(SINGLE_THREAD_ENVIRONMENT)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main_thread else None
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if in_main_thread:
            signal.signal(signal.SIGINT, previous_handler)


def _exit_description(exitcode):
    if exitcode is None:
        return "stopped responding"
    if exitcode < 0:
        try:
            return f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def _raise_failure(failure, what):
    pickled, type_name, message, text = failure
    error = None
    if pickled is not None:
        try:
            error = pickle.loads(pickled)
        except Exception:
            error = None
    if not isinstance(error, BaseException):
        raise WorkerError(f"{what} failed in a worker process: {type_name}: {message}") from _RemoteTraceback(text)
    error.add_note(f"(raised in a worker process, {what})")
    raise error from _RemoteTraceback(text)


class _Worker:
    def __init__(self, context, number):
        parent_end, child_end = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child_end, os.getpid()),
                                       name=f"fastgnn-worker-{number}", daemon=True)
        self.process.start()
        child_end.close()
        self.connection = parent_end
        self.task = None          # the index of the task it runs, or None when idle
        self.finished = False     # told to stop (or gone)


def run_in_processes(function, shared, tasks, processes, *, on_event=None, on_result=None, describe=None,
                     context="spawn"):
    """Run ``function(shared, task, report)`` for every task in worker processes; results in task order.

    Parameters
    ----------
    function : callable
        A module-level function (picklable). ``report(event)`` sends a
        picklable ``event`` to the parent while the task runs.
    shared : object
        Pickled once and sent once to every worker (e.g. a dataset).
    tasks : sequence
        Picklable task descriptions, handed to the workers as they become idle.
    processes : int
        Worker processes (at most ``len(tasks)`` are started).
    on_event : callable, optional
        ``on_event(task_index, event)``, called in the parent for every
        reported event, in the order each worker sent them.
    on_result : callable, optional
        ``on_result(task_index, result)``, called in the parent as each task
        finishes (in the order they finish).
    describe : callable, optional
        ``describe(task_index) -> str`` names a task in error messages
        (default ``"task <i>"``).
    context : {'spawn', 'forkserver'}
        The :mod:`multiprocessing` start method.

    Returns
    -------
    list
        ``function``'s result for every task, in the order of ``tasks``.

    Raises
    ------
    WorkerError
        A worker died, or raised an exception that cannot be pickled.
    Exception
        The exception a task raised, when it can be pickled (the worker's
        traceback is its ``__cause__``).
    """
    import multiprocessing
    from multiprocessing.connection import wait

    tasks = list(tasks)
    if not tasks:
        return []
    describe = describe or (lambda index: f"task {index}")
    payload = pickle.dumps((function, shared), protocol=pickle.HIGHEST_PROTOCOL)
    ctx = multiprocessing.get_context(context)
    workers, results, pending = [], {}, collections.deque(range(len(tasks)))
    completed = False
    try:
        with _starting_workers():
            for number in range(min(int(processes), len(tasks))):
                workers.append(_Worker(ctx, number))
        for worker in workers:
            _send(worker, payload, describe, raw=True)
            _assign(worker, pending, tasks, describe)
        while len(results) < len(tasks):
            active = [w for w in workers if not w.finished]
            if not active:
                missing = sorted(set(range(len(tasks))) - set(results))
                raise WorkerError(f"the worker processes stopped before finishing {describe(missing[0])}")
            ready = set(wait([w.connection for w in active] + [w.process.sentinel for w in active]))
            for worker in active:
                while not worker.finished and worker.connection.poll():
                    try:
                        kind, index, body = worker.connection.recv()
                    except (EOFError, OSError):
                        _died(worker, describe)
                    if kind == "event":
                        if on_event is not None:
                            on_event(index, body)
                    elif kind == "done":
                        results[index] = body
                        worker.task = None
                        if on_result is not None:
                            on_result(index, body)
                        _assign(worker, pending, tasks, describe)
                    else:
                        _raise_failure(body, describe(index) if index is not None else "while it started")
                if not worker.finished and worker.process.sentinel in ready and not worker.connection.poll():
                    _died(worker, describe)
        completed = True
        return [results[index] for index in range(len(tasks))]
    finally:
        _stop(workers, graceful=completed)


def _send(worker, message, describe, raw=False):
    try:
        if raw:
            worker.connection.send_bytes(message)
        else:
            worker.connection.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        _died(worker, describe)


def _assign(worker, pending, tasks, describe):
    """Give an idle worker the next task, or tell it to stop."""
    if pending:
        index = pending.popleft()
        worker.task = index
        _send(worker, (index, tasks[index]), describe)
    else:
        worker.finished = True
        _send(worker, None, describe)


def _died(worker, describe):
    worker.process.join(timeout=_JOIN_SECONDS)
    what = describe(worker.task) if worker.task is not None else "no task (starting up)"
    raise WorkerError(f"worker process {worker.process.pid} {_exit_description(worker.process.exitcode)} "
                      f"while running {what}")


def _stop(workers, graceful):
    """Tell idle workers to stop, terminate the others (or all of them after an error), and reap them."""
    for worker in workers:
        if graceful and worker.process.is_alive():
            worker.process.join(timeout=_JOIN_SECONDS)
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in workers:
        worker.process.join(timeout=_JOIN_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()
