"""Training: one loop, one progress display, one result type, for every task.

- :func:`fit` runs any training loop from a ``train_step`` and an
  ``evaluate`` (epochs, evaluation cadence, early stopping, best-weight
  restore, progress, thread policy);
- :func:`train_node_classifier` (transductive, inductive, or with train-test
  edges cut), :func:`train_node_classifier_minibatch` (sampled blocks,
  layer-wise inference), :func:`train_graph_classifier` and
  :func:`cross_validate_graph_classifier`, :func:`train_autoencoder` (link
  prediction) are built on it and return a :class:`TrainResult`;
- :func:`run_in_processes` runs independent tasks (the folds of a
  cross-validation) in worker processes.
"""
from fastgnn.train.loop import fit, thread_policy
from fastgnn.train.progress import PROGRESS_MODES, Progress, as_progress
from fastgnn.train.result import TrainResult
from fastgnn.train.stopping import EarlyStopping, WindowStopping, make_stopping
from fastgnn.train.node import EARLY_STOPPING, check_node_inputs, evaluate, train_node_classifier
from fastgnn.train.minibatch import evaluate_layerwise, train_node_classifier_minibatch
from fastgnn.train.graph import (CrossValidationResult, cross_validate_graph_classifier,
                                     evaluate_graph_classifier, graph_labels, train_graph_classifier)
from fastgnn.train.processes import WorkerError, run_in_processes
from fastgnn.train.link import evaluate_link, train_autoencoder

__all__ = ["fit", "thread_policy", "Progress", "PROGRESS_MODES", "as_progress", "TrainResult", "EarlyStopping",
           "WindowStopping", "make_stopping", "train_node_classifier", "train_node_classifier_minibatch",
           "evaluate_layerwise", "evaluate", "check_node_inputs",
           "EARLY_STOPPING", "train_graph_classifier", "evaluate_graph_classifier",
           "cross_validate_graph_classifier", "graph_labels", "CrossValidationResult", "WorkerError",
           "run_in_processes", "train_autoencoder",
           "evaluate_link"]
