"""One place that decides how many threads a kernel uses.

Precedence: the ``n_threads`` argument of a call, then
:func:`set_num_threads`, then ``OMP_NUM_THREADS``, then the CPUs this process
may run on (affinity mask and cgroup quota). Results never depend on it.
"""
import math
import os

from fastgnn._kernels import _common

__all__ = ["set_num_threads", "get_num_threads", "resolve_num_threads"]

# Below this much work ((edges + rows) x features, about a millisecond on one
# core) a kernel runs on one thread: waking a team costs more than it saves,
# and on a busy machine a descheduled team member stalls the whole call.
PARALLEL_WORK_THRESHOLD = 1 << 20

_num_threads = None


def _check_count(n_threads, name):
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not hasattr(n_threads, "__index__"):
        raise TypeError(f"{name} must be a positive integer, got {type(n_threads).__name__}")
    value = int(n_threads.__index__())
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
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
        A positive count, or None to go back to the default
        (``OMP_NUM_THREADS``, else the CPUs available to this process).
    """
    global _num_threads
    _num_threads = None if n_threads is None else _check_count(n_threads, "n_threads")


def get_num_threads():
    """The number of threads a kernel call uses when given no ``n_threads``."""
    if _num_threads is not None:
        return _num_threads
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return _available_cpus()


def resolve_num_threads(n_threads, work):
    """Threads for one kernel call doing ``work`` element operations."""
    count = get_num_threads() if n_threads is None else _check_count(n_threads, "n_threads")
    if not _common.openmp_enabled() or work < PARALLEL_WORK_THRESHOLD:
        return 1
    return count
