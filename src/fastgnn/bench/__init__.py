"""Measurements of the machine that put fastgnn's timings in context (used by ``python -m fastgnn bench``
and the peer benchmarks in the repository's ``bench/``).

- :mod:`fastgnn.bench.machine`: a STREAM triad (:func:`measure_triad`) and
  the gather floor of a sum aggregation (:func:`gather_floor`,
  :func:`floor_call`), compiled probes measured in the same run as the
  kernels they are compared with.
"""
from fastgnn.bench.machine import (floor_call, gather_floor, measure_triad, prefetch_distance,
                                   stream_triad)

__all__ = ["stream_triad", "measure_triad", "gather_floor", "floor_call", "prefetch_distance"]
