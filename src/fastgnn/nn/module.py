"""The module system: :class:`Parameter`, :class:`Module` and :class:`Sequential`.

Gradients are written by hand. A module's ``forward`` caches what its
``backward`` needs (only in training mode); ``backward(grad_out)`` returns the
gradient with respect to the input and *adds* the gradients of the module's
parameters into their ``grad`` arrays.
"""
import contextlib
import functools
import inspect
from collections import OrderedDict

import numpy as np

from fastgnn._runtime.validate import check_float_dtype

__all__ = ["Parameter", "Module", "Sequential"]

def _loaded_value(name, value, target):
    """``value`` converted to ``target``'s dtype and checked to fit it, for :meth:`Module.load_state_dict`."""
    try:
        array = np.asarray(value)
    except Exception as error:  # a value that is not array-like at all
        raise TypeError(f"load_state_dict: {name} is not an array ({type(value).__name__})") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(f"load_state_dict: {name} has dtype {array.dtype}; expected real numbers")
    if array.shape != target.shape:
        raise ValueError(f"load_state_dict: {name} has shape {array.shape} in the state dict "
                         f"but {target.shape} in the module")
    with np.errstate(over="ignore", invalid="ignore"):
        converted = array.astype(target.dtype)
    if array.dtype.kind != "f":
        lossy = not np.array_equal(converted.astype(array.dtype), array)  # compared in the integer dtype
    else:
        lossy = bool(np.any(np.isfinite(array) & ~np.isfinite(converted)))
    if lossy:
        raise ValueError(f"load_state_dict: {name} holds values that {target.dtype} cannot represent")
    return converted


class Parameter:
    """A trainable array and its accumulated gradient.

    Parameters
    ----------
    data : array_like of float
        The value, copied into a C-contiguous float32 or float64 array
        (float32 unless ``dtype`` or the data say float64).
    requires_grad : bool
        Whether modules accumulate a gradient for it and optimizers update it.
    dtype : float32 or float64, optional
        Dtype of the stored array (default: float64 data stays float64,
        anything else becomes float32).

    Attributes
    ----------
    data : ndarray
        The value; optimizers and :meth:`Module.load_state_dict` update it in place.
    grad : ndarray
        Same shape and dtype as ``data``; starts at zero, accumulates until
        :meth:`zero_grad`.
    requires_grad : bool
    """

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data, requires_grad=True, *, dtype=None):
        array = np.asarray(data)
        if dtype is None:
            dtype = np.float64 if array.dtype == np.float64 else np.float32
        dtype = check_float_dtype(dtype)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"Parameter data must be real numbers, got dtype {array.dtype}")
        self.data = np.array(array, dtype=dtype, order="C", copy=True)
        self.grad = np.zeros_like(self.data)
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self):
        """Shape of ``data``."""
        return self.data.shape

    @property
    def dtype(self):
        """Dtype of ``data`` (and ``grad``)."""
        return self.data.dtype

    @property
    def size(self):
        """Number of elements of ``data``."""
        return self.data.size

    def zero_grad(self):
        """Set ``grad`` to zero in place."""
        self.grad.fill(0)

    def accumulate(self, grad):
        """Add ``grad`` into ``self.grad`` (a no-op when ``requires_grad`` is False)."""
        if self.requires_grad:
            self.grad += grad

    def astype(self, dtype):
        """Convert ``data`` and ``grad`` to ``dtype`` in place (new arrays); returns self."""
        dtype = check_float_dtype(dtype)
        if self.data.dtype != dtype:
            self.data = self.data.astype(dtype)
            self.grad = self.grad.astype(dtype)
        return self

    def __repr__(self):
        flag = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{flag})"


class Module:
    """Base class of layers and models with hand-written gradients.

    Subclasses call ``super().__init__()`` first, then assign their
    :class:`Parameter` s and sub-modules as attributes: they are registered
    in assignment order, as in PyTorch, and found by :meth:`parameters`,
    :meth:`named_parameters`, :meth:`state_dict` and :meth:`train`.

    A subclass implements

    - ``forward(*inputs)``: the output; in training mode it keeps what the
      backward needs with :meth:`_save_for_backward`, in eval mode nothing;
    - ``backward(grad_out)``: returns ``dL/d input`` (a tuple for several
      inputs, ``None`` for a non-differentiable one) and adds each parameter's
      gradient into ``Parameter.grad``. Modules that can skip the input
      gradient accept ``need_input_grad=False`` and then return ``None``.

    Calling a module calls ``forward``. Modules start in training mode.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_saved", None)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        registries = self.__dict__.get("_parameters")
        if registries is None:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run: "
                f"call super().__init__() first in {type(self).__name__}.__init__")
        is_buffer = name in self._buffers
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif is_buffer and isinstance(value, np.ndarray):
            # a registered buffer stays one when reassigned (``self.running_mean += x`` included)
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, value):
        """Register a non-trainable array saved in :meth:`state_dict` (e.g. a fixed ``eps``).

        Parameters
        ----------
        name : str
            Attribute name; the array is then ``self.<name>``.
        value : ndarray
        """
        array = np.ascontiguousarray(value)
        self.__setattr__(name, array)
        self._buffers[name] = array

    def register_parameter(self, name, param):
        """Register ``param`` (a :class:`Parameter` or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{name} must be a Parameter or None, got {type(param).__name__}")
        self.__setattr__(name, param)

    def add_module(self, name, module):
        """Register ``module`` (a :class:`Module` or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{name} must be a Module or None, got {type(module).__name__}")
        self.__setattr__(name, module)

    # ------------------------------------------------------------------ computation
    def forward(self, *inputs):
        """The output of the module (implemented by subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out):
        """Input gradient; parameter gradients are accumulated (implemented by subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, *inputs, **kwargs):
        return self.forward(*inputs, **kwargs)

    def _save_for_backward(self, *values):
        """Keep ``values`` for the backward, in training mode only."""
        object.__setattr__(self, "_saved", values if self.training else None)

    def _saved_for_backward(self, release=True):
        """The values kept by the last training-mode forward; released after use.

        Raises
        ------
        RuntimeError
            In eval mode, or when no forward ran since the last backward.
        """
        saved = self._saved
        if saved is None:
            if not self.training:
                raise RuntimeError(
                    f"{type(self).__name__}.backward called in eval mode: forward caches nothing in "
                    "eval mode; call .train() and run forward again before backward")
            raise RuntimeError(
                f"{type(self).__name__}.backward called without a preceding forward in training mode "
                "(each forward allows one backward)")
        if release:
            object.__setattr__(self, "_saved", None)
        return saved

    def clear_cache(self):
        """Drop every cached value, in this module and its sub-modules (returns self).

        Values kept for a backward, and other caches such as the normalized
        graph of ``GCNConv(cached=True)``.
        """
        for module in self.modules():
            object.__setattr__(module, "_saved", None)
            module._clear_extra_cache()
        return self

    def _clear_extra_cache(self):
        """Hook for subclasses holding other caches (e.g. a normalized graph)."""
        return None

    def has_cache(self):
        """Whether this module or a sub-module holds anything for a backward."""
        return any(module._saved is not None for module in self.modules())

    # ------------------------------------------------------------------ traversal
    def named_children(self):
        """Iterate over ``(name, module)`` of the direct sub-modules."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        """Iterate over the direct sub-modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix=""):
        """Iterate over ``(dotted_name, module)`` of this module and all its descendants (each once)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = list(module.named_children())
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self):
        """Iterate over this module and all its descendants."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix=""):
        """Iterate over ``(dotted_name, Parameter)``, each parameter once, in registration order.

        Parameters
        ----------
        prefix : str
            Prepended (with a dot) to every name.
        """
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self):
        """A list of all parameters (each once), in registration order."""
        return [param for _, param in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """Iterate over ``(dotted_name, ndarray)`` of the registered buffers."""
        for module_name, module in self.named_modules(prefix):
            for name in module._buffers:
                yield (f"{module_name}.{name}" if module_name else name), getattr(module, name)

    def num_parameters(self):
        """Total number of parameter elements."""
        return sum(param.size for param in self.parameters())

    # ------------------------------------------------------------------ state
    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter of this module and its sub-modules.

        A parameter with ``requires_grad=False`` gets no gradient computed
        (layers skip its products) and optimizers never change it; a model
        whose lower part is frozen stops its backward pass above it.

        Parameters
        ----------
        requires_grad : bool

        Returns
        -------
        Module
            self
        """
        flag = bool(requires_grad)
        for param in self.parameters():
            param.requires_grad = flag
        return self

    def freeze(self):
        """Freeze every parameter (``requires_grad_(False)``); returns self.

        The usual use: freeze a pretrained encoder, then train only a new
        head on top of it (see :class:`fastgnn.models.EncoderClassifier`).
        """
        return self.requires_grad_(False)

    def unfreeze(self):
        """Make every parameter trainable again (``requires_grad_(True)``); returns self."""
        return self.requires_grad_(True)

    @contextlib.contextmanager
    def evaluating(self):
        """A block in eval mode (no dropout, nothing cached for a backward); the previous mode is restored."""
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was_training)

    @contextlib.contextmanager
    def fixed_graph(self):
        """A block in which every call of the model sees the same graph object(s).

        Full-batch training promises this; layers may then keep per-graph
        work (``GCNConv`` normalizes the graph once instead of every step)
        and drop it on exit. A training loop enters it without knowing the
        layer types; layers opt in through ``_enter_fixed_graph``.
        """
        entered = [module for module in self.modules() if module._enter_fixed_graph()]
        try:
            yield self
        finally:
            for module in entered:
                module._exit_fixed_graph()

    def _enter_fixed_graph(self):
        """Hook of :meth:`fixed_graph`: start keeping per-graph work; True if there is anything to undo."""
        return False

    def _exit_fixed_graph(self):
        """Hook of :meth:`fixed_graph`: undo what ``_enter_fixed_graph`` did."""
        return None

    def is_trainable(self):
        """Whether any parameter of this module or its sub-modules requires a gradient."""
        return any(param.requires_grad for param in self.parameters())

    def zero_grad(self):
        """Set the gradient of every parameter to zero."""
        for param in self.parameters():
            param.zero_grad()
        return self

    def train(self, mode=True):
        """Set training mode (``mode=True``) or eval mode on this module and its sub-modules.

        Switching to eval mode drops every value cached for a backward
        (a ``GCNConv(cached=True)`` keeps its normalized graph). Returns self.
        """
        mode = bool(mode)
        for module in self.modules():
            object.__setattr__(module, "training", mode)
            if not mode:
                object.__setattr__(module, "_saved", None)
        return self

    def eval(self):
        """Eval mode: dropout is the identity and forward caches nothing. Returns self."""
        return self.train(False)

    def astype(self, dtype):
        """Convert every parameter and floating buffer to ``dtype`` in place; returns self.

        Optimizer state built before the conversion is not converted.
        """
        dtype = check_float_dtype(dtype)
        for param in self.parameters():
            param.astype(dtype)
        for module in self.modules():
            for name in list(module._buffers):
                value = getattr(module, name)
                if value.dtype.kind == "f":
                    module.register_buffer(name, value.astype(dtype))
            if hasattr(module, "dtype"):
                object.__setattr__(module, "dtype", dtype)
        self.clear_cache()
        return self

    def state_dict(self):
        """Copies of every parameter and buffer, by dotted name.

        Returns
        -------
        OrderedDict of str to ndarray
        """
        state = OrderedDict()
        for name, param in self.named_parameters():
            state[name] = param.data.copy()
        for name, buffer in self.named_buffers():
            state[name] = np.array(buffer, copy=True)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters and buffers, in place.

        Parameters
        ----------
        state_dict : mapping of str to array_like
            As returned by :meth:`state_dict` (an ``np.load`` of a ``.npz``
            also works).
        strict : bool
            Require exactly the keys of :meth:`state_dict`.

        Returns
        -------
        (missing_keys, unexpected_keys) : tuple of lists

        Raises
        ------
        TypeError
            When ``state_dict`` is not a mapping, or a value is not an array
            of real numbers (complex, object, strings), naming it.
        KeyError
            With ``strict``, naming missing and unexpected keys.
        ValueError
            When a value's shape differs from the parameter's, or its values
            would change in the module's dtype (an integer it cannot hold
            exactly, a finite float that overflows), naming it.

        Notes
        -----
        Atomic: every value is read, checked and converted before the first
        one is copied, so after an error the module is unchanged.
        """
        if not (hasattr(state_dict, "keys") and hasattr(state_dict, "__getitem__")):
            raise TypeError(f"load_state_dict: state_dict must be a mapping of names to arrays, "
                            f"got {type(state_dict).__name__}")
        targets = OrderedDict((name, param.data) for name, param in self.named_parameters())
        targets.update(self.named_buffers())
        keys = list(state_dict.keys())
        missing = [name for name in targets if name not in state_dict]
        unexpected = [name for name in keys if name not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        values = {name: _loaded_value(name, state_dict[name], target)
                  for name, target in targets.items() if name in state_dict}
        for name, value in values.items():
            targets[name][...] = value
        return missing, unexpected

    # ------------------------------------------------------------------ display
    def extra_repr(self):
        """Extra text inside this module's repr (subclasses override)."""
        return ""

    def __repr__(self):
        lines = []
        for name, module in self.named_children():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after the other, each to the output of the previous.

    For single-input modules (``Linear``, activations, ``Dropout``, ...);
    graph layers, which take ``(graph, x)``, are stacked by a model instead.
    The sub-modules are named ``"0"``, ``"1"``, ...

    Parameters
    ----------
    *modules : Module
    """

    def __init__(self, *modules):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def forward(self, x):
        """Apply every module in order."""
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, grad_out, need_input_grad=True):
        """Back-propagate through the modules in reverse order.

        Parameters
        ----------
        grad_out : ndarray
        need_input_grad : bool
            When False, the first module is asked to skip its input gradient
            and None is returned.
        """
        modules = list(self._modules.values())
        # Without an input gradient, modules below the lowest trainable one need no backward at all.
        lowest = 0 if need_input_grad else lowest_trainable(modules)
        grad = grad_out
        for position in range(len(modules) - 1, lowest - 1, -1):
            module = modules[position]
            if position == lowest and not need_input_grad:
                grad = _backward_without_input_grad(module, grad)
            else:
                grad = module.backward(grad)
        for module in modules[:lowest]:
            module.clear_cache()  # what they kept for a backward that will not run
        return grad if need_input_grad else None


def _accepts_need_input_grad(module):
    return _backward_takes_need_input_grad(type(module))


@functools.lru_cache(maxsize=None)
def _backward_takes_need_input_grad(module_class):
    # once per class: inspect.signature costs more than a small layer's backward
    try:
        return "need_input_grad" in inspect.signature(module_class.backward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def lowest_trainable(modules):
    """Index of the first module of a stack with a trainable parameter (``len(modules)`` if none).

    A backward pass that needs no input gradient stops there: what lies
    below is frozen or has no parameters.
    """
    for position, module in enumerate(modules):
        if module.is_trainable():
            return position
    return len(modules)


def _backward_without_input_grad(module, grad_out):
    """``module.backward`` skipping the input gradient when the module supports it."""
    if _accepts_need_input_grad(module):
        return module.backward(grad_out, need_input_grad=False)
    return module.backward(grad_out)
