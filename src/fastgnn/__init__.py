"""fastgnn: graph neural networks on the CPU with compiled, parallel, deterministic CSR kernels."""
import os as _os

# Before the kernels load libgomp: its idle worker threads spin after every parallel region by
# default, and on a machine with few cores they take the core that NumPy, BLAS or the layers'
# product pool needs next (a training epoch of a 100,000-node graph ran 2x slower). Idle
# workers sleep instead; an explicit OMP_WAIT_POLICY of the user wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from fastgnn._runtime.blas import get_blas_threads, limit_blas_threads
from fastgnn._runtime.threads import get_num_threads, set_num_threads
from fastgnn.graph import Graph, SparseFeatures
from fastgnn.ops import (aggregate, aggregate_backward, edge_dot, edge_dot_backward, segment_reduce,
                         segment_reduce_backward)

__version__ = "0.1.0"

__all__ = [
    "Graph",
    "SparseFeatures",
    "aggregate",
    "aggregate_backward",
    "segment_reduce",
    "segment_reduce_backward",
    "edge_dot",
    "edge_dot_backward",
    "set_num_threads",
    "get_num_threads",
    "limit_blas_threads",
    "get_blas_threads",
    "show_config",
    "__version__",
]


def show_config(file=None):
    """Print and return the build and runtime configuration.

    Returns
    -------
    dict
        ``version``, ``compiled``, ``openmp``, ``num_threads`` (the default
        of a kernel call), ``omp_max_threads``, ``blas_threads`` (NumPy's
        BLAS pool, None when unknown), ``numpy``.
    """
    import numpy

    from fastgnn._kernels import _common

    config = {
        "version": __version__,
        "compiled": True,
        "openmp": _common.openmp_enabled(),
        "num_threads": get_num_threads(),
        "omp_max_threads": _common.omp_max_threads(),
        "blas_threads": get_blas_threads(),
        "numpy": numpy.__version__,
    }
    for key, value in config.items():
        print(f"{key}: {value}", file=file)
    return config

# ---------------------------------------------------------------- layers, losses, optimizers, metrics
from fastgnn import losses, metrics, nn, optim  # noqa: E402  (after the core names they build on)

__all__ += ["nn", "losses", "optim", "metrics"]
