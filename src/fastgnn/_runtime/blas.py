"""Control of the BLAS thread pool NumPy uses for matrix products.

fastgnn's kernels run their own OpenMP threads. NumPy's OpenBLAS keeps its
worker threads spinning for a while after each matrix product, and on a
machine with few cores those spinning threads take the cores the next kernel
needs: a training epoch that mixes products and aggregations then runs up to
several times slower and very unevenly. Limiting BLAS to one thread while
fastgnn's kernels run in parallel removes the contention; the products of a
GNN layer are small enough that they lose little.

Uses ``threadpoolctl`` when it is installed; otherwise talks to the OpenBLAS
library that NumPy loaded through ctypes (Linux). When neither works, the
limit is a no-op.
"""
import contextlib
import ctypes
import re
import threading

__all__ = ["limit_blas_threads", "get_blas_threads", "single_threaded_blas"]

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")
_openblas = None


def _loaded_openblas():
    """(setter, getter) of the OpenBLAS loaded in this process, or None."""
    global _openblas
    if _openblas is None:
        _openblas = False
        try:
            with open("/proc/self/maps") as handle:
                paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", handle.read())))
        except OSError:
            paths = []
        for path in paths:
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            setter = next((getattr(library, n) for n in _SETTERS if hasattr(library, n)), None)
            getter = next((getattr(library, n) for n in _GETTERS if hasattr(library, n)), None)
            if setter is not None and getter is not None:
                setter.argtypes = [ctypes.c_int]
                getter.restype = ctypes.c_int
                _openblas = (setter, getter)
                break
    return _openblas or None


def get_blas_threads():
    """The BLAS thread count, or None when it cannot be read."""
    openblas = _loaded_openblas()
    return None if openblas is None else int(openblas[1]())


@contextlib.contextmanager
def limit_blas_threads(n_threads=1):
    """Limit NumPy's BLAS to ``n_threads`` inside a ``with`` block, then restore it.

    Parameters
    ----------
    n_threads : int
        Threads BLAS may use meanwhile.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=n_threads, user_api="blas"):
            yield
        return
    openblas = _loaded_openblas()
    if openblas is None:
        yield
        return
    setter, getter = openblas
    previous = int(getter())
    setter(int(n_threads))
    try:
        yield
    finally:
        setter(previous)


_single_lock = threading.Lock()
_single_depth = 0
_single_saved = None


@contextlib.contextmanager
def single_threaded_blas():
    """Hold the OpenBLAS NumPy loaded at one thread inside the block (re-entrant, thread-safe).

    The layers' products run in this block on fastgnn's own threads (each a
    single-threaded BLAS call), so that in any training loop, the user's own
    included, OpenBLAS's workers never run, and never spin afterwards on the
    cores the next aggregation kernel needs. The outermost block restores
    the previous count. Costs two library calls; a no-op when the BLAS is
    not an OpenBLAS that can be found (then NumPy's products use its threads).
    """
    global _single_depth, _single_saved
    openblas = _loaded_openblas()
    if openblas is None:
        yield
        return
    setter, getter = openblas
    with _single_lock:
        if _single_depth == 0:
            previous = int(getter())
            _single_saved = previous
            if previous != 1:
                setter(1)
        _single_depth += 1
    try:
        yield
    finally:
        with _single_lock:
            _single_depth -= 1
            if _single_depth == 0 and _single_saved not in (None, 1):
                setter(_single_saved)
