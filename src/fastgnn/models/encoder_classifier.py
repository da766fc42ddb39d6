"""A node classifier made of an encoder and a classifier head, for pretraining and fine-tuning.

The seed's fine-tuning workflow: pretrain a GNN encoder (for example as a
graph autoencoder on the edges, :class:`fastgnn.models.GAE`), put a new
classifier head on top of it, freeze the encoder and train only the head on
node labels, then (optionally) unfreeze everything and fine-tune at a lower
learning rate::

    encoder = GAE(dataset.num_features, 32, 16, rng=0)
    train_autoencoder(encoder, split, x, Adam(encoder.parameters(), lr=0.01))   # pretraining
    model = EncoderClassifier(encoder, num_classes=7, rng=0)
    model.encoder.freeze()                                                       # head only
    train_node_classifier(model, graph, x, y, ..., Adam(model.parameters(), lr=0.01))
    model.encoder.unfreeze()                                                     # fine-tuning
    train_node_classifier(model, graph, x, y, ..., Adam(model.parameters(), lr=0.001))
"""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.nn import init
from fastgnn.nn.dropout import Dropout
from fastgnn.nn.mlp import MLP
from fastgnn.nn.module import Module, Sequential

__all__ = ["EncoderClassifier"]


class EncoderClassifier(Module):
    """``logits = head(encoder(graph, x))``: an encoder's node embeddings fed to a classifier head.

    Parameters
    ----------
    encoder : Module
        Called as ``encoder(graph, x)``, returning node embeddings of width
        ``encoder.out_channels``; ``encoder.backward(grad, need_input_grad=...)``
        (any fastgnn GNN: :class:`~fastgnn.models.GAE`,
        :class:`~fastgnn.models.GNNStack`, ...).
    head : Module, optional
        The classifier, called on the embeddings. Default: an
        :class:`~fastgnn.nn.MLP` ``[out_channels, hidden_channels, num_classes]``
        (or a single linear layer when ``hidden_channels`` is None), with
        dropout before each of its layers.
    num_classes : int, optional
        Needed when ``head`` is not given.
    hidden_channels : int, optional
        Hidden width of the default head.
    dropout : float
        Dropout of the default head, before each of its layers.
    rng : numpy.random.Generator, int or None
        Initial weights and dropout masks of the default head.
    dtype : float32 or float64
        Dtype of the default head (default: the encoder's).

    Notes
    -----
    A frozen encoder (``model.encoder.freeze()``) is a fixed feature
    extractor: it runs in eval mode (no dropout, nothing cached) and its
    backward is skipped entirely, so training the head costs one encoder
    forward and the head's own work per step.
    """

    def __init__(self, encoder, head=None, *, num_classes=None, hidden_channels=None, dropout=0.5, rng=None,
                 dtype=None):
        super().__init__()
        if not isinstance(encoder, Module):
            raise TypeError(f"encoder must be a fastgnn.nn.Module, got {type(encoder).__name__}")
        if head is None:
            width = getattr(encoder, "out_channels", None)
            if width is None or num_classes is None:
                raise ValueError("without a head, EncoderClassifier needs num_classes and an encoder with "
                                 "out_channels")
            dtype = check_float_dtype(getattr(encoder, "dtype", np.float32) if dtype is None else dtype)
            widths = [int(width)] + ([] if hidden_channels is None else [int(hidden_channels)]) + [int(num_classes)]
            rng = init.as_rng(rng)
            head = Sequential(Dropout(dropout, rng=rng), MLP(widths, dropout=dropout, rng=rng, dtype=dtype))
        elif not isinstance(head, Module):
            raise TypeError(f"head must be a fastgnn.nn.Module, got {type(head).__name__}")
        self.encoder = encoder
        self.head = head
        self.dtype = getattr(encoder, "dtype", None) or getattr(head, "dtype", None)

    def forward(self, graph, x):
        """Class scores (num_nodes, num_classes)."""
        if self.training and not self.encoder.is_trainable():
            with self.encoder.evaluating():
                embeddings = self.encoder(graph, x)
        else:
            embeddings = self.encoder(graph, x)
        return self.head(embeddings)

    def backward(self, grad_out, need_input_grad=False):
        """Accumulate the gradients of the trainable parts; ``dL/dx`` only with ``need_input_grad``."""
        encoder_needs_grad = self.encoder.is_trainable()
        grad = self.head.backward(grad_out, need_input_grad=encoder_needs_grad or need_input_grad)
        if not encoder_needs_grad and not need_input_grad:
            return None
        return self.encoder.backward(grad, need_input_grad=need_input_grad)

    def extra_repr(self):
        frozen = "" if self.encoder.is_trainable() else "encoder frozen"
        return frozen
