"""Inductive node classification on Cora: train on the training nodes' own graph, predict unseen nodes.

The model never sees a validation or test node while it learns: it trains on
the subgraph induced by the 140 training nodes (``Graph.subgraph``, its nodes
relabelled 0..139, only the edges between training nodes kept), with those
nodes' features and labels. It is then applied, unchanged, to the full graph
of 2,708 nodes, where validation and test accuracy are measured; a graph
convolution's weights do not depend on the number of nodes, so the same model
runs on both.

    python examples/inductive_cora.py [--model sage] [--epochs 200] [--seed 0]

The same run through the main command: ``python -m fastgnn train --inductive``.
"""
import argparse

import numpy as np

from fastgnn.datasets import load_cora
from fastgnn.losses import cross_entropy
from fastgnn.metrics import accuracy
from fastgnn.models import build_model
from fastgnn.optim import Adam
from fastgnn.train import evaluate, train_node_classifier


def by_hand(dataset, model, optimizer, epochs):
    """The inductive loop written out: the training graph is a separate, smaller graph."""
    train_graph = dataset.graph.subgraph(dataset.train_mask)         # 140 nodes, relabelled
    train_x = dataset.x[dataset.train_mask]
    train_y = dataset.y[dataset.train_mask]
    print(f"training graph: {train_graph.num_nodes} nodes, {train_graph.num_edges} edges "
          f"(full graph: {dataset.graph.num_nodes} nodes, {dataset.graph.num_edges} edges)")
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        loss, grad = cross_entropy(model(train_graph, train_x), train_y)
        model.backward(grad)
        optimizer.step()
        if epoch % 50 == 0:
            model.eval()
            logits = model(dataset.graph, dataset.x)                 # the full graph, unseen nodes included
            print(f"epoch {epoch:3d}  train loss {loss:.4f}  "
                  f"val acc {accuracy(logits, dataset.y, dataset.val_mask):.4f}")
    return evaluate(model, dataset.graph, dataset.x, dataset.y,
                    {"val": dataset.val_mask, "test": dataset.test_mask})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gcn", choices=("gcn", "sage", "gin", "graphconv"))
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dataset = load_cora(normalize_features=True)

    def fresh():
        model = build_model(args.model, dataset.num_features, dataset.num_classes,
                            rng=np.random.default_rng(args.seed))
        return model, Adam(model.parameter_groups(5e-4, first_layer_only=args.model == "gcn"), lr=0.01)

    print("== by hand, fixed number of epochs")
    model, optimizer = fresh()
    scores = by_hand(dataset, model, optimizer, args.epochs)
    print(f"val acc {scores['val_acc']:.4f}  test acc {scores['test_acc']:.4f}")

    print("== train_node_classifier(inductive=True), early stopping on the full graph's validation loss")
    model, optimizer = fresh()
    result = train_node_classifier(model, dataset.graph, dataset.x, dataset.y, dataset.train_mask,
                                   dataset.val_mask, dataset.test_mask, optimizer, epochs=args.epochs,
                                   inductive=True, verbose=50)
    print(f"{result.epochs} epochs: val acc {result.val_acc:.4f}  test acc {result.test_acc:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
