"""One place that decides how many threads a kernel uses.

Precedence: the ``n_threads`` argument of a call, then
:func:`set_num_threads`, then ``OMP_NUM_THREADS``, then the CPUs this process
may run on (affinity mask and cgroup quota). Results never depend on it.

A count is a positive integer of at most :func:`max_num_threads`
(``THREADS_PER_CPU`` times the CPUs available, and never below
``MIN_THREAD_CAP``): an explicit count above it is refused with a
``ValueError``, since libgomp aborts the process, or crashes, when asked for
thousands of threads; an ``OMP_NUM_THREADS`` above it is lowered to it.
"""
import contextlib
import functools
import math
import os

from fastgnn._kernels import _common

__all__ = ["set_num_threads", "get_num_threads", "resolve_num_threads", "max_num_threads", "num_threads",
           "check_num_threads", "explicit_num_threads"]

# Below this much work ((edges + rows) x features, about a millisecond on one
# core) a kernel runs on one thread: waking a team costs more than it saves,
# and on a busy machine a descheduled team member stalls the whole call.
PARALLEL_WORK_THRESHOLD = 1 << 20

# Oversubscribing the CPUs a little is legitimate (tests of determinism use
# odd counts); thousands of threads are a mistake that libgomp answers with an
# abort or a segfault instead of an error.
THREADS_PER_CPU = 4
MIN_THREAD_CAP = 8

_num_threads = None


@functools.lru_cache(maxsize=None)
def max_num_threads():
    """The largest thread count a kernel call accepts on this machine.

    Computed once per process (it is checked on every kernel call).
    """
    return max(MIN_THREAD_CAP, THREADS_PER_CPU * _available_cpus())


def check_num_threads(n_threads, name="n_threads"):
    """``n_threads`` as an int in ``[1, max_num_threads()]``, or ``TypeError`` / ``ValueError`` naming ``name``."""
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) and not hasattr(n_threads, "__index__"):
        raise TypeError(f"{name} must be a positive integer, got {type(n_threads).__name__}")
    try:
        value = int(n_threads.__index__())
    except Exception as error:  # a broken __index__ is a wrong type, not a crash
        raise TypeError(f"{name} must be a positive integer, got {type(n_threads).__name__}") from error
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    cap = max_num_threads()
    if value > cap:
        raise ValueError(
            f"{name}={value} is more than this machine can use: at most {cap} "
            f"({THREADS_PER_CPU} per available CPU)"
        )
    return value


def _cgroup_cpu_limit():
    """The CPU quota of a cgroup v2 container, rounded up, or None."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def _available_cpus():
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    return max(1, min(count, limit) if limit else count)


def set_num_threads(n_threads):
    """Set the default number of threads of every fastgnn kernel.

    Parameters
    ----------
    n_threads : int or None
        A positive count of at most :func:`max_num_threads`, or None to go
        back to the default (``OMP_NUM_THREADS``, else the CPUs available to
        this process).

    Raises
    ------
    TypeError
        If ``n_threads`` is not an integer.
    ValueError
        If it is below 1 or above :func:`max_num_threads`.
    """
    global _num_threads
    _num_threads = None if n_threads is None else check_num_threads(n_threads, "n_threads")


@contextlib.contextmanager
def num_threads(n_threads):
    """Within the block, kernels default to ``n_threads`` threads (None changes nothing).

    The previous setting of :func:`set_num_threads` is restored on exit.
    """
    global _num_threads
    previous = _num_threads
    if n_threads is not None:
        set_num_threads(n_threads)
    try:
        yield get_num_threads()
    finally:
        _num_threads = previous


def explicit_num_threads():
    """The count given to :func:`set_num_threads`, or None when it was not called (or was reset)."""
    return _num_threads


def get_num_threads():
    """The number of threads a kernel call uses when given no ``n_threads``."""
    if _num_threads is not None:
        return _num_threads
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return min(int(env), max_num_threads())
    return _available_cpus()


def resolve_num_threads(n_threads, work):
    """Threads for one kernel call doing ``work`` element operations."""
    count = get_num_threads() if n_threads is None else check_num_threads(n_threads, "n_threads")
    if not _common.openmp_enabled() or work < PARALLEL_WORK_THRESHOLD:
        return 1
    return count
