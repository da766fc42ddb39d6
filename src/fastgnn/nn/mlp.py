"""A multi-layer perceptron."""
import copy

import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.nn import init
from fastgnn.nn.activation import get_activation
from fastgnn.nn.dropout import Dropout
from fastgnn.nn.linear import Linear
from fastgnn.nn.module import Module, Sequential

__all__ = ["MLP"]


class MLP(Sequential):
    """Linear layers with (norm, activation, dropout) between them, as PyG's ``MLP``.

    For ``channels = [c0, c1, ..., cL]`` the layers are
    ``Linear(c0, c1), [norm(c1)], act, [Dropout], ..., Linear(c_{L-1}, cL)``;
    with ``plain_last=False`` the last linear layer is followed by norm,
    activation and dropout too.

    Parameters
    ----------
    channels : sequence of int
        Widths, input first; at least two.
    activation : str, Module class or None
        See :func:`fastgnn.nn.get_activation` (a fresh module per layer).
    dropout : float or sequence of float
        Dropout probability after each hidden activation (one per hidden
        layer when a sequence).
    norm : callable or None
        A hook ``norm(num_features) -> Module`` inserted after each hidden
        linear layer (e.g. a batch norm); None for none.
    bias : bool
    plain_last : bool
        No norm, activation or dropout after the last linear layer.
    rng : numpy.random.Generator, int or None
        Draws the initial weights and the dropout masks.
    dtype : float32 or float64

    Notes
    -----
    A :class:`Sequential`: sub-modules are named ``"0"``, ``"1"``, ...,
    the first is always a :class:`Linear`. ``backward`` supports
    ``need_input_grad=False``.
    """

    def __init__(self, channels, activation="relu", dropout=0.0, norm=None, bias=True,
                 plain_last=True, *, rng=None, dtype=np.float32):
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2:
            raise ValueError(f"channels must list at least an input and an output width, got {channels}")
        rng = init.as_rng(rng)
        dtype = check_float_dtype(dtype)
        num_layers = len(channels) - 1
        if isinstance(dropout, (int, float)):
            dropouts = [float(dropout)] * num_layers
        else:
            dropouts = [float(p) for p in dropout]
            num_activated = num_layers - 1 if plain_last else num_layers
            if len(dropouts) not in (num_activated, num_layers):
                raise ValueError(f"dropout must be a float or one value per activated layer "
                                 f"({num_activated}), got {dropout!r}")
            dropouts += [0.0] * (num_layers - len(dropouts))
        if norm is not None and not callable(norm):
            raise TypeError(f"norm must be a callable num_features -> Module, or None, got {norm!r}")
        self.channels = channels
        self.dtype = dtype
        for layer in range(num_layers):
            self.append(Linear(channels[layer], channels[layer + 1], bias=bias, rng=rng, dtype=dtype))
            if layer == num_layers - 1 and plain_last:
                break
            if norm is not None:
                module = norm(channels[layer + 1])
                if not isinstance(module, Module):
                    raise TypeError(f"norm({channels[layer + 1]}) must return a Module, "
                                    f"got {type(module).__name__}")
                self.append(module)
            # A Module instance is a template: each layer needs its own (it caches its output).
            self.append(copy.deepcopy(activation) if isinstance(activation, Module)
                        else get_activation(activation))
            if dropouts[layer] > 0:
                self.append(Dropout(dropouts[layer], rng=rng))

    @property
    def in_channels(self):
        """Input width."""
        return self.channels[0]

    @property
    def out_channels(self):
        """Output width."""
        return self.channels[-1]

    def extra_repr(self):
        return f"channels={self.channels}"
