"""Training beyond one process: partitioned graphs and full-graph training over MPI (``mpi4py``).

``mpi4py`` is optional (``pip install "fastgnn[mpi]"``); it is imported only
when a communicator is created.
"""

# ---- distributed full-graph training (comm, halo, train) ----
from fastgnn.distributed.comm import Communicator, abort_on_failure, get_comm, import_mpi
from fastgnn.distributed.halo import HaloExchange
from fastgnn.distributed.train import (DistributedModel, evaluate_distributed, partition_masks,
                                       train_node_classifier_distributed)

__all__ = ["Communicator", "abort_on_failure", "get_comm", "import_mpi", "HaloExchange", "DistributedModel",
           "evaluate_distributed", "partition_masks", "train_node_classifier_distributed"]
