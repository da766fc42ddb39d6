"""Distributed training over MPI: graph partitions on disk (:mod:`fastgnn.distributed.partition`).

Training (imported on first access): :func:`train_node_classifier_distributed`
(partitioned full-graph), :func:`train_node_classifier_distributed_minibatch`
(data-parallel sampled mini-batches, :mod:`fastgnn.distributed.minibatch`).

- :func:`partition`, :func:`load_partition`, :func:`reassemble`,
  :class:`PartitionInfo`, :class:`Partition`: a graph cut into parts, each a
  dataset folder of its owned nodes and their halo (``docs/distributed.md``).

The optional dependencies are imported only when used: ``pymetis`` by
``method="metis"`` (``pip install "fastgnn[metis]"``), ``mpi4py`` by the
training modules (``pip install "fastgnn[mpi]"``). Names listed in
``_LAZY`` are imported on first access. The package attribute ``partition``
is the function; import the module with ``importlib`` if needed.
"""
import importlib

from fastgnn.distributed.partition import (Partition, PartitionInfo, assign_parts, graph_fingerprint,
                                           load_partition, partition, reassemble)

__all__ = ["partition", "load_partition", "reassemble", "assign_parts", "graph_fingerprint", "PartitionInfo",
           "Partition"]

#: Names exported lazily: ``{name: module}`` (modules that need mpi4py are only imported when asked for).
_LAZY = {}

__all__ += sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastgnn.distributed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


# ---- distributed full-graph training (comm, halo, train): imported on first access ----
_TRAINING = {
    "Communicator": "fastgnn.distributed.comm", "abort_on_failure": "fastgnn.distributed.comm",
    "get_comm": "fastgnn.distributed.comm", "import_mpi": "fastgnn.distributed.comm",
    "SelfCommunicator": "fastgnn.distributed.comm", "RemoteFeatures": "fastgnn.distributed.features",
    "allreduce_gradients": "fastgnn.distributed.train",
    "train_node_classifier_distributed_minibatch": "fastgnn.distributed.minibatch",
    "HaloExchange": "fastgnn.distributed.halo",
    "DistributedModel": "fastgnn.distributed.train", "evaluate_distributed": "fastgnn.distributed.train",
    "partition_masks": "fastgnn.distributed.train",
    "train_node_classifier_distributed": "fastgnn.distributed.train",
}
_LAZY.update(_TRAINING)
__all__ += sorted(_TRAINING)
