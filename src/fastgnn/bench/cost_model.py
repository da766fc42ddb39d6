"""What an epoch of partitioned full-graph GCN training costs on a cluster: a model on paper.

:func:`gcn_epoch_work` counts the work of one training epoch of a GCN
(aggregated widths per edge, multiply-adds per row, widths exchanged per
halo node, parameters); :func:`projected_epoch` turns it into seconds on
``ranks`` machines:

    epoch = compute / ranks + exchanged bytes per rank / bandwidth + gradient sum

with

- ``compute = edge_seconds * E * aggregated_widths + row_seconds * N * row_macs``
  (both constants measured on one machine, single-threaded ranks);
- exchanged bytes per rank ``= 2 * halo_fraction * N / ranks * exchanged_widths * itemsize``
  (forward rows and backward gradients of every layer after the first;
  ``halo_fraction`` = (node, part that reads it) pairs / N, the partition's
  halo summed over parts; the input features are exchanged once per run);
- the gradient sum of :meth:`fastgnn.distributed.Communicator.allreduce_sum`:
  float64 parameters gathered on rank 0 and broadcast, ``2 * (ranks - 1) *
  parameters * 8`` bytes through rank 0's link.

Assumptions: no overlap of communication and compute, compute divides
evenly over the ranks (balanced parts, no halo work: the halo rows are
read, not computed), every rank has the full ``bandwidth`` to every other
(a non-blocking switch), latency ignored (two collectives per layer).
Pure arithmetic: no dependency beyond the standard library.
"""

__all__ = ["gcn_epoch_work", "projected_epoch"]


def _positive(value, name, integer=False):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise ValueError(f"{name} must be a positive {'int' if integer else 'number'}, got {value!r}")
    return value


def gcn_epoch_work(num_features, hidden, num_classes, num_layers=2):
    """The work of one GCN training epoch per edge, per row and per halo node.

    Parameters
    ----------
    num_features, hidden, num_classes, num_layers : int
        ``num_layers`` GCN layers ``num_features -> hidden -> ... -> num_classes``.

    Returns
    -------
    dict
        ``aggregated_widths``: features summed per edge in an epoch (each
        layer aggregates the narrower of its input and output, forward; and
        backward over the transpose for every layer but the first, whose
        input needs no gradient); ``row_macs``: multiply-adds per node of
        the dense products (forward ``d_in * d_out``; backward the weight
        gradient, and the input gradient for every layer but the first);
        ``exchanged_widths``: widths of the rows fetched per halo node
        (the input of every layer but the first, whose input features are
        fetched once per run); ``parameters``: weights and biases.
    """
    widths = [_positive(num_features, "num_features", True)]
    widths += [_positive(hidden, "hidden", True)] * (_positive(num_layers, "num_layers", True) - 1)
    widths += [_positive(num_classes, "num_classes", True)]
    aggregated = row_macs = exchanged = parameters = 0
    for layer, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        first = layer == 0
        aggregated += min(d_in, d_out) * (1 if first else 2)
        row_macs += d_in * d_out * (2 if first else 3)
        exchanged += 0 if first else d_in
        parameters += d_in * d_out + d_out
    return {"aggregated_widths": aggregated, "row_macs": row_macs, "exchanged_widths": exchanged,
            "parameters": parameters}


def projected_epoch(*, num_nodes, num_edges, num_features, hidden, num_classes, ranks, halo_fraction,
                    bandwidth_gbit, edge_seconds, row_seconds, num_layers=2, itemsize=4):
    """Projected seconds of one epoch of partitioned GCN training on ``ranks`` machines.

    Parameters
    ----------
    num_nodes, num_edges : int
    num_features, hidden, num_classes, num_layers : int
        The model (see :func:`gcn_epoch_work`).
    ranks : int
    halo_fraction : float >= 0
        Halo nodes summed over the parts, divided by ``num_nodes``.
    bandwidth_gbit : float
        Network bandwidth per rank, Gbit/s, each way.
    edge_seconds : float
        Seconds to aggregate one feature over one edge.
    row_seconds : float
        Seconds per multiply-add of the dense products, per row.
    itemsize : int
        Bytes per exchanged value (4: float32).

    Returns
    -------
    dict
        ``compute_seconds`` (per rank), ``exchange_bytes`` (sent per rank),
        ``exchange_seconds``, ``allreduce_bytes`` (through rank 0),
        ``allreduce_seconds`` and ``epoch_seconds`` (their sum).
    """
    work = gcn_epoch_work(num_features, hidden, num_classes, num_layers)
    ranks = _positive(ranks, "ranks", True)
    bytes_per_second = _positive(bandwidth_gbit, "bandwidth_gbit") * 1e9 / 8
    if isinstance(halo_fraction, bool) or not isinstance(halo_fraction, (int, float)) or halo_fraction < 0:
        raise ValueError(f"halo_fraction must be a number >= 0, got {halo_fraction!r}")
    compute = (edge_seconds * _positive(num_edges, "num_edges", True) * work["aggregated_widths"]
               + row_seconds * _positive(num_nodes, "num_nodes", True) * work["row_macs"]) / ranks
    exchange_bytes = 2 * halo_fraction * num_nodes / ranks * work["exchanged_widths"] * itemsize
    allreduce_bytes = 2 * (ranks - 1) * work["parameters"] * 8
    exchange = exchange_bytes / bytes_per_second
    allreduce = allreduce_bytes / bytes_per_second
    return {"compute_seconds": compute, "exchange_bytes": exchange_bytes, "exchange_seconds": exchange,
            "allreduce_bytes": allreduce_bytes, "allreduce_seconds": allreduce,
            "epoch_seconds": compute + exchange + allreduce}
