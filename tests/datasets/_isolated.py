"""Run dataset loads in child processes, so a crash, a hang or a runaway allocation is a test result.

Each case is a JSON-able spec handed to a worker function of this module; the child prints one
JSON line when it starts a case and one with the outcome (``"ok"`` or the exception's type, and
its message). A child that dies (a signal, or the watchdog after a timeout) marks the case it
was running as crashed, and a new child carries on with the cases left. The children run with a
capped address space, so a request for gigabytes fails with MemoryError (reported as a finding)
instead of waking the OOM killer on a shared machine.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np

MEMORY_LIMIT = 3 << 30
CASE_TIMEOUT = 60  # seconds; a load of a tiny or Cora-sized folder takes well under one
HERE = os.path.dirname(os.path.abspath(__file__))

_CHILD = textwrap.dedent("""
    import faulthandler, json, resource, sys, warnings
    sys.path.insert(0, {here!r})
    warnings.simplefilter("ignore")
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import _isolated
    worker = getattr(_isolated, {worker!r})
    for line in sys.stdin:
        index, spec = json.loads(line)
        print(json.dumps({{"start": index}}), flush=True)
        faulthandler.dump_traceback_later({timeout}, exit=True)
        try:
            worker(spec)
            outcome = {{"type": "ok", "message": "", "os_error": False}}
        except BaseException as error:
            outcome = {{"type": type(error).__name__, "message": str(error)[:2000],
                        "os_error": isinstance(error, OSError)}}
        faulthandler.cancel_dump_traceback_later()
        outcome["index"] = index
        print(json.dumps(outcome), flush=True)
""")


def run_isolated(worker, specs, timeout=CASE_TIMEOUT):
    """The outcome of ``worker(spec)`` for each spec, each a dict with ``type`` and ``message``.

    ``type`` is ``"ok"``, the name of the exception raised, or ``"crash"`` when the child died
    on the case (the message then gives the exit status and the end of its stderr).
    """
    code = _CHILD.format(here=HERE, limit=MEMORY_LIMIT, worker=worker, timeout=timeout)
    outcomes = [None] * len(specs)
    pending = list(range(len(specs)))
    while pending:
        stdin = "".join(json.dumps([i, specs[i]]) + "\n" for i in pending)
        result = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], input=stdin,
                                capture_output=True, text=True, timeout=timeout * len(pending) + 120)
        running = None
        for line in result.stdout.splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if "start" in record:
                running = record["start"]
            else:
                outcomes[record["index"]] = record
                running = None
        if running is not None:
            outcomes[running] = {"type": "crash", "message": f"{_describe(result.returncode)}\n{result.stderr[-3000:]}",
                                 "os_error": False, "index": running}
        elif result.returncode != 0 or any(outcomes[i] is None for i in pending):
            raise RuntimeError(f"the child failed outside any case (exit status {result.returncode}):\n"
                               f"{result.stderr[-3000:]}")
        pending = [i for i in pending if outcomes[i] is None]
    return outcomes


def _describe(returncode):
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode} (1: the watchdog's timeout, see the traceback)"


def is_clean(outcome, file_hint):
    """True for success, or an OSError, or a plain ValueError whose message names a file (``file_hint``)."""
    if outcome["type"] == "ok" or outcome["os_error"]:
        return True
    return outcome["type"] == "ValueError" and file_hint in outcome["message"]


# ---------------------------------------------------------------------- workers (run in the child)
def load_planetoid(spec):
    """Load ``spec['folder']`` as Planetoid ``spec['name']``; what is accepted must be consistent."""
    from fastgnn.datasets import Planetoid

    dataset = Planetoid(spec["folder"], spec["name"])
    n = dataset.num_nodes
    assert dataset.x.shape == (n, dataset.num_features) and dataset.x.dtype == np.float32
    assert dataset.y.shape == (n,) and dataset.y.dtype == np.int64
    assert n == 0 or 0 <= dataset.y.min() <= dataset.y.max() < max(dataset.num_classes, 1)
    for mask in (dataset.train_mask, dataset.val_mask, dataset.test_mask):
        assert mask.shape == (n,) and mask.dtype == np.bool_
    assert dataset.graph.num_nodes == n


def load_tu(spec):
    """Load ``spec['folder']`` as TU dataset ``spec['name']``; what is accepted must be consistent."""
    from fastgnn.datasets import TUDataset

    dataset = TUDataset(spec["folder"], spec["name"])
    assert len(dataset) == dataset.y.shape[0] >= 1
    assert 0 <= dataset.y.min() and dataset.y.max() < dataset.num_classes
    assert sum(g.num_nodes for g in dataset) == dataset.num_nodes
    for graph in dataset:
        if graph.x is not None:
            assert graph.x.shape == (graph.num_nodes, dataset.num_node_features)
        if graph.edge_attr is not None:
            assert graph.edge_attr.shape == (graph.num_edges, dataset.num_edge_features)


def load_on_disk(spec):
    """Open the dataset folder ``spec['folder']`` and read every split; what is accepted must be usable."""
    from fastgnn.datasets import OnDiskDataset
    from fastgnn.ops import aggregate

    dataset = OnDiskDataset(spec["folder"])
    graph = dataset.graph
    assert graph.indptr.shape == (graph.num_dst_nodes + 1,) and graph.num_edges == graph.indices.shape[0]
    if dataset.x is not None:
        assert dataset.x.shape[0] == graph.num_src_nodes
        aggregate(graph, dataset.x, reduce="sum")          # the kernel reads every edge's source row
    if dataset.y is not None:
        assert dataset.y.shape[0] in (graph.num_dst_nodes, graph.num_src_nodes)
    for name in dataset.split_names:
        for ids in dataset.split(name).values():
            assert ids.ndim == 1 and (ids.size == 0 or 0 <= ids.min() <= ids.max() < graph.num_dst_nodes)


_RESTORED = set()


def load_mutated(spec):
    """Write a corrupted copy of one file into the scratch folder, load it, put the original back.

    ``spec``: ``loader`` (``'planetoid'`` or ``'tu'``), ``source`` and ``scratch`` folders,
    ``name``, ``file``, and ``edits`` (``[offset, byte]`` pairs), ``truncate`` (the length kept)
    or ``replacement`` (the path of a file whose content replaces the file's).
    """
    if spec["scratch"] not in _RESTORED:  # a fresh child: its predecessor may have died mid-case
        shutil.copytree(spec["source"], spec["scratch"], dirs_exist_ok=True, copy_function=shutil.copyfile)
        _RESTORED.add(spec["scratch"])
    original = os.path.join(spec["source"], spec["file"])
    target = os.path.join(spec["scratch"], spec["file"])
    with open(spec.get("replacement", original), "rb") as file:
        content = bytearray(file.read())
    if "truncate" in spec:
        content = content[:spec["truncate"]]
    for offset, value in spec.get("edits", ()):
        content[offset] = value
    with open(target, "wb") as file:
        file.write(content)
    try:
        worker = {"planetoid": load_planetoid, "tu": load_tu, "on_disk": load_on_disk}[spec["loader"]]
        worker({"folder": spec["scratch"], "name": spec["name"]})
    finally:
        shutil.copyfile(original, target)
