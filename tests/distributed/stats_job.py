"""Run under ``mpirun -n 2``: the counters of ``Communicator(stats=True)``; rank 0 writes every rank's as JSON."""
import json
import pathlib
import sys

import numpy as np

from fastgnn.distributed import Communicator, abort_on_failure


def main(out_path):
    comm = Communicator(stats=True)
    quiet = Communicator()
    with abort_on_failure(comm):
        rows = np.arange(12, dtype=np.float32).reshape(6, 2)       # 3 rows to each rank
        comm.alltoallv(rows, [3, 3], [3, 3])
        comm.alltoallv(rows[:4].astype(np.float64), [1, 3] if comm.rank == 0 else [3, 1],
                       [1, 3] if comm.rank == 0 else [3, 1])
        total = comm.allreduce_sum(np.ones(5, dtype=np.float64) * (comm.rank + 1))
        quiet.allreduce_sum(np.ones(3))
        after = json.loads(json.dumps(comm.stats))
        comm.reset_stats()
        reset = json.loads(json.dumps(comm.stats))
        record = {"stats": after, "reset": reset, "quiet": quiet.stats, "total": total.tolist()}
        records = comm.allgather(record)
    if comm.rank == 0:
        pathlib.Path(out_path).write_text(json.dumps(records))


if __name__ == "__main__":
    main(sys.argv[1])
