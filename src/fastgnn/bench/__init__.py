"""Measurements of the machine that put fastgnn's timings in context (used by ``python -m fastgnn bench``
and the peer benchmarks in the repository's ``bench/``).

- :mod:`fastgnn.bench.machine`: a STREAM triad (:func:`measure_triad`) and
  the gather floor of a sum aggregation (:func:`gather_floor`,
  :func:`floor_call`), compiled probes measured in the same run as the
  kernels they are compared with.
- :mod:`fastgnn.bench.cost_model`: the projected epoch time of partitioned
  GCN training on a cluster (:func:`projected_epoch`, :func:`gcn_epoch_work`).
"""
from fastgnn.bench.cost_model import gcn_epoch_work, projected_epoch
from fastgnn.bench.machine import (floor_call, gather_floor, measure_triad, prefetch_distance,
                                   stream_triad)

__all__ = ["stream_triad", "measure_triad", "gather_floor", "floor_call", "prefetch_distance", "projected_epoch",
           "gcn_epoch_work"]
