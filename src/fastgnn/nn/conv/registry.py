"""The registry of graph convolutions: one registration makes a layer available everywhere.

A registered convolution is built by name by :class:`fastgnn.models.GNNStack`
(``conv="name"``), :func:`fastgnn.models.build_model`, the graph classifiers
(:func:`fastgnn.models.build_graph_classifier`) and the command line
(``python -m fastgnn train --model name``, whose choices and defaults come
from here). Register your own layer with :func:`register_conv`::

    from fastgnn.nn.conv import register_conv

    @register_conv("myconv", aggrs=("sum", "mean"), default_aggr="mean")
    class MyConv(fastgnn.nn.Module):
        def __init__(self, in_channels, out_channels, *, aggr="mean", bias=True, rng=None,
                     dtype=np.float32, scale=1.0):
            ...

    model = GNNStack(1433, 64, 7, conv="myconv", conv_kwargs={"scale": 0.5})

A class is called as ``cls(in_channels, out_channels, **options)`` with the
standard options it accepts (``aggr``, ``bias``, ``rng``, ``dtype``) and the
user's ``conv_kwargs``. A function registered instead receives every
standard option, plus ``layer`` (0-based), ``num_layers`` and
``activation``, for layers whose shape depends on their place in the stack.
"""
import inspect
from dataclasses import dataclass, field

from fastgnn._runtime.validate import check_reduce

__all__ = ["ConvSpec", "register_conv", "get_conv", "conv_names", "build_conv", "unregister_conv"]

#: The options every builder may receive from a model (besides ``conv_kwargs``).
STANDARD_OPTIONS = ("aggr", "bias", "rng", "dtype", "layer", "num_layers", "activation")


@dataclass(frozen=True)
class ConvSpec:
    """A registered convolution.

    Attributes
    ----------
    name : str
        The name models and the command line know it by.
    builder : callable
        ``builder(in_channels, out_channels, **options) -> Module``.
    aggrs : tuple of str or None
        The neighbourhood aggregations it takes; None when it has a fixed one.
    default_aggr : str or None
    description : str
        One line, shown by ``--help``.
    node_defaults : dict
        Defaults of ``python -m fastgnn train --model name`` for node
        classification (``hidden``, ``dropout``, ``lr``, ``weight_decay``,
        ``decay``, ``bias``, ``early_stopping``, ``patience``, ``epochs``, ...).
    graph_classification : bool
        Whether the graph classifiers may stack it.
    """

    name: str
    builder: object
    aggrs: tuple = None
    default_aggr: str = None
    description: str = ""
    node_defaults: dict = field(default_factory=dict)
    graph_classification: bool = True

    def resolve_aggr(self, aggr):
        """The aggregation a layer uses for a requested ``aggr`` (None: the default)."""
        if self.aggrs is None:
            if aggr not in (None, "sum", "add"):
                raise ValueError(f"conv={self.name!r} always sums its neighbours; aggr must be None or 'sum', "
                                 f"got {aggr!r}")
            return None
        return check_reduce(self.default_aggr if aggr is None else aggr, self.aggrs, "aggr",
                            f"conv={self.name!r}: ")

    def build(self, in_channels, out_channels, *, conv_kwargs=None, **options):
        """One layer: the builder called with the standard ``options`` and the user's ``conv_kwargs``."""
        conv_kwargs = dict(conv_kwargs or {})
        clash = sorted(set(conv_kwargs) & set(STANDARD_OPTIONS))
        if clash:
            raise TypeError(f"conv_kwargs of {self.name!r} must not repeat the model's own options {clash}")
        try:
            return self.builder(in_channels, out_channels, **options, **conv_kwargs)
        except TypeError as error:
            if conv_kwargs and "unexpected keyword" in str(error):
                raise TypeError(f"conv {self.name!r} does not take option(s) {sorted(conv_kwargs)}: {error}") \
                    from None
            raise


_REGISTRY = {}


def _class_builder(cls):
    """Adapt a layer class: pass it only the standard options its constructor accepts."""
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    accepted = {name for name in STANDARD_OPTIONS if takes_any or name in parameters}

    def build(in_channels, out_channels, **options):
        standard = {name: options.pop(name) for name in STANDARD_OPTIONS if name in options}
        passed = {name: value for name, value in standard.items()
                  if name in accepted and not (name == "aggr" and value is None)}
        return cls(in_channels, out_channels, **passed, **options)

    build.__name__ = f"build_{cls.__name__}"
    build.__doc__ = f"Builds {cls.__qualname__}."
    return build


def register_conv(name, builder=None, *, aggrs=None, default_aggr=None, description=None, node_defaults=None,
                  graph_classification=True, replace=False):
    """Register a convolution under ``name``; usable as a decorator.

    Parameters
    ----------
    name : str
        Lower-case name (``--model name`` on the command line).
    builder : Module class or callable
        A layer class ``cls(in_channels, out_channels, **options)``, or a
        function ``builder(in_channels, out_channels, *, aggr, bias, rng,
        dtype, layer, num_layers, activation, **conv_kwargs)``.
    aggrs : sequence of str, optional
        The aggregations it accepts (None: it has one fixed aggregation).
    default_aggr : str, optional
        Default ``aggr`` (the first of ``aggrs`` if not given).
    description : str, optional
        One line for ``--help`` (default: the first line of the docstring).
    node_defaults : dict, optional
        Command-line defaults for node classification with this layer.
    graph_classification : bool
        Whether the graph classifiers may use it.
    replace : bool
        Allow re-registering an existing name.

    Returns
    -------
    The builder (so that the decorator leaves the class or function as it was).
    """
    if builder is None:
        return lambda target: register_conv(name, target, aggrs=aggrs, default_aggr=default_aggr,
                                            description=description, node_defaults=node_defaults,
                                            graph_classification=graph_classification, replace=replace)
    if not isinstance(name, str) or not name or name != name.lower() or not name.replace("_", "").isalnum():
        raise ValueError(f"a conv name must be a lower-case identifier, got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a conv named {name!r} is already registered (pass replace=True to override it)")
    if not callable(builder):
        raise TypeError(f"builder must be a layer class or a function, got {type(builder).__name__}")
    aggrs = None if aggrs is None else tuple(aggrs)
    if aggrs is not None and default_aggr is None:
        default_aggr = aggrs[0]
    if aggrs is not None and default_aggr not in aggrs:
        raise ValueError(f"default_aggr {default_aggr!r} is not among aggrs {aggrs}")
    if description is None:
        description = (inspect.getdoc(builder) or name).splitlines()[0]
    build = _class_builder(builder) if inspect.isclass(builder) else builder
    _REGISTRY[name] = ConvSpec(name, build, aggrs, default_aggr, description, dict(node_defaults or {}),
                               bool(graph_classification))
    return builder


def unregister_conv(name):
    """Remove ``name`` from the registry (for tests and plugins that register temporarily)."""
    _REGISTRY.pop(name, None)


def get_conv(name):
    """The :class:`ConvSpec` registered under ``name`` (``ValueError`` naming the known ones otherwise)."""
    spec = _REGISTRY.get(name)
    if spec is None:
        raise ValueError(f"unknown conv {name!r}; registered convs: {', '.join(repr(n) for n in _REGISTRY)}")
    return spec


def conv_names(*, graph_classification=None):
    """The registered names, in registration order (optionally only those usable in graph classifiers)."""
    return tuple(name for name, spec in _REGISTRY.items()
                 if graph_classification is None or spec.graph_classification == graph_classification)


def build_conv(name, in_channels, out_channels, **options):
    """One layer of the convolution registered as ``name`` (see :meth:`ConvSpec.build`)."""
    spec = get_conv(name)
    if "aggr" in options or spec.aggrs is not None:
        options["aggr"] = spec.resolve_aggr(options.get("aggr"))
    return spec.build(in_channels, out_channels, **options)
