#!/usr/bin/env python
"""Where a training epoch's time goes: ``python bench/epoch_profile.py --model sage --dropout 0``.

Times one full-batch epoch (forward, ``cross_entropy``, backward, Adam
step) of fastgnn's GCN or GraphSAGE on the uniform benchmark graph
(``graphs.uniform_training_data``: 100,000 nodes, 2,000,000 edges, 128
features, 10 classes), and the share of it spent in the layers' building
blocks: the aggregations, the dense products, the fused bias + activation +
dropout steps and the loss. The blocks are timed by wrapping the functions
the layers call (their own overhead is a few microseconds a call), so the
parts add up to a little less than the epoch. Medians are not needed here:
this is for finding the largest part, not for ratios.
"""
import argparse
import collections
import functools
import time

import numpy as np

from graphs import uniform_training_data


def _timed(module, name, label, totals):
    function = getattr(module, name)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start

    setattr(module, name, wrapper)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("gcn", "sage"), default="sage")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs, after 2 warm-up ones")
    parser.add_argument("--no-input-cache", action="store_true",
                        help="without dropout, aggregate the input features every epoch (default: the first layer "
                             "caches their aggregation, cache_input_aggregation=True)")
    args = parser.parse_args(argv)

    import fastgnn
    import fastgnn.models.basic_gnn as stack
    import fastgnn.nn.conv._input_cache as input_cache
    import fastgnn.nn.conv._propagate as propagate
    import fastgnn.nn.linear as linear
    from fastgnn.losses import cross_entropy
    from fastgnn.models import GCN, GraphSAGE
    from fastgnn.optim import Adam

    edge_index, x, y, _, num_classes = uniform_training_data(0)
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=x.shape[0])
    fastgnn.set_num_threads(args.threads)
    options = {}
    if args.dropout == 0 and not args.no_input_cache:
        x.flags.writeable = False
        options["cache_input_aggregation"] = True
    if args.model == "gcn":
        model = GCN(x.shape[1], 16, num_classes, cached=True, dropout=args.dropout, rng=0, **options)
    else:
        model = GraphSAGE(x.shape[1], 64, num_classes, aggr="mean", dropout=args.dropout, rng=0, **options)
    optimizer = Adam(model.parameters(), lr=0.01)

    totals = collections.defaultdict(float)
    for name in ("aggregate", "aggregate_backward"):
        _timed(propagate, name, name, totals)
    for name in ("matmul", "matmul_tn"):
        _timed(propagate, name, f"{name} (graph layers)", totals)
        _timed(input_cache, name, f"{name} (cached first layer)", totals)
        _timed(linear, name, f"{name} (Linear)", totals)
    _timed(stack, "bias_act_dropout", "fused bias+act+dropout", totals)
    _timed(stack, "bias_act_dropout_backward", "fused step backward", totals)

    def epoch():
        optimizer.zero_grad()
        start = time.perf_counter()
        logits = model(graph, x)
        loss_start = time.perf_counter()
        _, grad = cross_entropy(logits, y)
        totals["cross_entropy"] += time.perf_counter() - loss_start
        model.backward(grad)
        step_start = time.perf_counter()
        optimizer.step()
        totals["optimizer step"] += time.perf_counter() - step_start
        return time.perf_counter() - start

    for _ in range(2):
        epoch()
    totals.clear()
    seconds = [epoch() for _ in range(args.epochs)]
    print(f"{args.model}, dropout {args.dropout}, {args.threads} thread(s): epoch {1e3 * np.mean(seconds):.1f} ms "
          f"(mean of {args.epochs})")
    for label, total in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {label:28s} {1e3 * total / args.epochs:7.1f} ms")


if __name__ == "__main__":
    main()
