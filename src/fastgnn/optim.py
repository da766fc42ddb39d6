"""Optimizers that update :class:`fastgnn.nn.Parameter` s in place, with PyTorch's semantics.

Parameters are given as a list, or as *parameter groups*: dicts with a
``"params"`` list and their own options, e.g. weight decay on the first
layer only, as in the GCN paper::

    optimizer = Adam([
        {"params": model.conv1.parameters(), "weight_decay": 5e-4},
        {"params": model.conv2.parameters()},
    ], lr=0.01)

A parameter with ``requires_grad=False`` is skipped. Gradients are read from
``Parameter.grad``; unlike PyTorch, a parameter that received no gradient
has a zero gradient (not ``None``), so weight decay and momentum still move it.
"""
import copy
import math

import numpy as np

from fastgnn.nn.module import Module, Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "StepLR"]


def _check_number(value, name, low=0.0, high=None, high_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or (high is not None and (value >= high if high_open else value > high)):
        bound = f"[{low}, {high})" if high_open else (f"[{low}, {high}]" if high is not None else f">= {low}")
        raise ValueError(f"{name} must be in {bound}, got {value}")
    return value


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, state dicts.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        Parameters, or groups ``{"params": [...], option: value, ...}``;
        options missing from a group take the optimizer's defaults.
    defaults : dict
        Default options of every group.

    Attributes
    ----------
    param_groups : list of dict
    state : dict
        Per-parameter state (moment buffers, step counts), keyed by Parameter.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Module):
            raise TypeError("pass module.parameters() (or parameter groups), not the module itself")
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters, got a single Parameter")
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group ``{"params": [...], option: value, ...}``; missing options take the defaults."""
        if not isinstance(group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError("a parameter group needs a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for position, param in enumerate(params):
            if not isinstance(param, Parameter):
                raise TypeError(f"params[{position}] must be a fastgnn.nn.Parameter, got {type(param).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for param in params:
            if id(param) in seen:
                raise ValueError("a parameter appears more than once among the parameter groups")
            seen.add(id(param))
        new_group = dict(self.defaults)
        new_group.update({key: value for key, value in group.items() if key != "params"})
        self._check_group(new_group)
        new_group["params"] = params
        self.param_groups.append(new_group)

    def _check_group(self, group):
        """Validate a group's options (subclasses override)."""
        _check_number(group["lr"], "lr")
        _check_number(group.get("weight_decay", 0.0), "weight_decay")

    def parameters(self):
        """Every parameter, group by group."""
        return [param for group in self.param_groups for param in group["params"]]

    def zero_grad(self):
        """Set every parameter's gradient to zero."""
        for param in self.parameters():
            param.zero_grad()

    def step(self):
        """Update every parameter from its gradient (implemented by subclasses)."""
        raise NotImplementedError

    def state_dict(self):
        """Options and state, with parameters named by their position (PyTorch's layout).

        Returns
        -------
        dict with ``"state"`` (position -> dict of copies) and
        ``"param_groups"`` (options, ``"params"`` as positions).
        """
        positions = {id(param): index for index, param in enumerate(self.parameters())}
        groups = []
        for group in self.param_groups:
            packed = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            packed["params"] = [positions[id(param)] for param in group["params"]]
            groups.append(packed)
        state = {positions[id(param)]: copy.deepcopy(values) for param, values in self.state.items()
                 if id(param) in positions}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state saved by :meth:`state_dict` of an optimizer over the same parameters.

        Raises
        ------
        ValueError
            When the groups or their sizes differ, or a state array's shape
            differs from its parameter's.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"state dict has {len(groups)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"a saved parameter group has {len(saved['params'])} parameters, "
                                 f"the optimizer's has {len(group['params'])}")
        params = self.parameters()
        new_state = {}
        for position, values in state_dict["state"].items():
            position = int(position)
            if not 0 <= position < len(params):
                raise ValueError(f"state dict names parameter {position}, the optimizer has {len(params)}")
            param = params[position]
            restored = {}
            for key, value in values.items():
                if isinstance(value, np.ndarray):
                    if value.shape != param.shape:
                        raise ValueError(f"state {key!r} of parameter {position} has shape {value.shape}, "
                                         f"the parameter has {param.shape}")
                    value = value.astype(param.dtype, copy=True)
                else:
                    value = copy.deepcopy(value)
                restored[key] = value
            new_state[param] = restored
        for saved, group in zip(groups, self.param_groups):
            for key, value in saved.items():
                if key != "params":
                    group[key] = copy.deepcopy(value)
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's ``SGD``).

    With ``g = grad + weight_decay · p``: when ``momentum > 0``,
    ``b = g`` on the first step, then ``b = momentum · b + (1 - dampening) · g``,
    and ``g = g + momentum · b`` (Nesterov) or ``g = b``; finally
    ``p = p - lr · g``.

    Parameters
    ----------
    params : iterable of Parameter or of dict
    lr : float
    momentum : float
    dampening : float
    weight_decay : float
        L2 penalty added to the gradient.
    nesterov : bool
        Requires ``momentum > 0`` and ``dampening == 0``.
    maximize : bool
        Ascend instead of descend.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=bool(nesterov), maximize=bool(maximize))
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        _check_number(group["momentum"], "momentum")
        _check_number(group["dampening"], "dampening")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")

    def step(self):
        """Apply one update to every parameter."""
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for param in group["params"]:
                if not param.requires_grad:
                    continue
                grad = -param.grad if group["maximize"] else param.grad
                if weight_decay != 0:
                    grad = grad + weight_decay * param.data
                if momentum != 0:
                    state = self.state.setdefault(param, {})
                    buffer = state.get("momentum_buffer")
                    if buffer is None:
                        buffer = state["momentum_buffer"] = np.array(grad, dtype=param.dtype, copy=True)
                    else:
                        buffer *= momentum
                        buffer += (1 - dampening) * grad
                    grad = grad + momentum * buffer if nesterov else buffer
                param.data -= lr * grad


class Adam(Optimizer):
    r"""Adam with bias correction (PyTorch's ``Adam``, L2 weight decay added to the gradient).

    With ``g = grad + weight_decay · p`` and step ``t``:
    ``m = β1 m + (1 - β1) g``, ``v = β2 v + (1 - β2) g²``,
    ``p = p - lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)``
    (``v`` replaced by its running maximum with ``amsgrad``).

    Parameters
    ----------
    params : iterable of Parameter or of dict
    lr : float
    betas : (float, float)
        Each in [0, 1).
    eps : float
    weight_decay : float
    amsgrad : bool
    maximize : bool

    Notes
    -----
    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq`` (and
    ``max_exp_avg_sq``), in the parameter's dtype.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 *, maximize=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=bool(amsgrad),
                        maximize=bool(maximize))
        super().__init__(params, defaults)

    def _check_group(self, group):
        super()._check_group(group)
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair, got {betas!r}")
        _check_number(betas[0], "betas[0]", 0.0, 1.0, high_open=True)
        _check_number(betas[1], "betas[1]", 0.0, 1.0, high_open=True)
        _check_number(group["eps"], "eps")

    def step(self):
        """Apply one update to every parameter."""
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
            for param in group["params"]:
                if not param.requires_grad:
                    continue
                grad = -param.grad if group["maximize"] else param.grad
                state = self.state.setdefault(param, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(param.data)
                    state["exp_avg_sq"] = np.zeros_like(param.data)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(param.data)
                state["step"] += 1
                step = state["step"]
                if weight_decay != 0:
                    if self._decoupled:
                        param.data *= 1 - lr * weight_decay
                    else:
                        grad = grad + weight_decay * param.data
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg *= beta1
                exp_avg += (1 - beta1) * grad
                exp_avg_sq *= beta2
                exp_avg_sq += (1 - beta2) * (grad * grad)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
                if amsgrad:
                    maximum = state.setdefault("max_exp_avg_sq", np.zeros_like(param.data))
                    np.maximum(maximum, exp_avg_sq, out=maximum)
                    second = maximum
                else:
                    second = exp_avg_sq
                denominator = np.sqrt(second)
                denominator /= bias_correction2_sqrt
                denominator += eps
                update = exp_avg / denominator
                update *= lr / bias_correction1
                param.data -= update


class AdamW(Adam):
    r"""Adam with decoupled weight decay (PyTorch's ``AdamW``).

    Each step first shrinks ``p = p · (1 - lr · weight_decay)``, then applies
    the Adam update to the raw gradient. Same parameters as :class:`Adam`,
    with ``weight_decay`` defaulting to ``1e-2``.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


class StepLR:
    """Multiply each group's learning rate by ``gamma`` every ``step_size`` epochs (PyTorch's ``StepLR``).

    Call :meth:`step` once per epoch, after ``optimizer.step()``. With
    ``gamma=0.5`` the rate halves every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
        Epochs between decays (positive).
    gamma : float
        Factor of each decay.

    Attributes
    ----------
    last_epoch : int
        Number of :meth:`step` calls so far.
    base_lrs : list of float
        Each group's learning rate when the scheduler was created (stored as
        the group's ``initial_lr``).
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastgnn.optim.Optimizer, got {type(optimizer).__name__}")
        if isinstance(step_size, bool) or not isinstance(step_size, (int, np.integer)) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        self.optimizer = optimizer
        self.step_size = int(step_size)
        self.gamma = _check_number(gamma, "gamma")
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self):
        """Advance one epoch; decay the rates when the epoch count reaches a multiple of ``step_size``."""
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:
            for group in self.optimizer.param_groups:
                group["lr"] = group["lr"] * self.gamma
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rate of each group after the last :meth:`step`."""
        return list(self._last_lr)

    def state_dict(self):
        """``step_size``, ``gamma``, ``last_epoch``, ``base_lrs`` and the last rates."""
        return {"step_size": self.step_size, "gamma": self.gamma, "last_epoch": self.last_epoch,
                "base_lrs": list(self.base_lrs), "_last_lr": list(self._last_lr)}

    def load_state_dict(self, state_dict):
        """Restore a state saved by :meth:`state_dict` (the optimizer's rates are restored by its own)."""
        self.step_size = int(state_dict["step_size"])
        self.gamma = float(state_dict["gamma"])
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = list(state_dict["base_lrs"])
        self._last_lr = list(state_dict["_last_lr"])
