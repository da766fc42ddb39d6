"""Finite-difference gradient checks: :func:`check_grad`, :func:`check_module_grad` (use float64 inputs)."""
import numpy as np

__all__ = ["numerical_grad", "check_grad", "check_module_grad"]


def numerical_grad(loss, array, eps=1e-6, indices=None):
    """Central-difference gradient of a scalar ``loss()`` with respect to ``array``.

    ``array`` is perturbed in place, one element at a time, and restored.

    Parameters
    ----------
    loss : callable
        ``loss() -> float``, reading ``array``.
    array : ndarray of float64
    eps : float
        Step of the central difference.
    indices : sequence of int, optional
        Flat positions to differentiate (default: all).

    Returns
    -------
    ndarray of the shape of ``array`` (zeros where not differentiated).
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)
    if not np.shares_memory(flat, array):
        raise ValueError("array must be contiguous so it can be perturbed in place")
    grad_flat = grad.reshape(-1)
    positions = range(flat.size) if indices is None else indices
    for position in positions:
        saved = flat[position]
        flat[position] = saved + eps
        upper = float(loss())
        flat[position] = saved - eps
        lower = float(loss())
        flat[position] = saved
        grad_flat[position] = (upper - lower) / (2 * eps)
    return grad


def check_grad(loss, inputs, grads, *, eps=1e-6, rtol=1e-5, atol=1e-7, max_elements=200, rng=0):
    """Assert that analytic gradients match finite differences.

    Parameters
    ----------
    loss : callable
        ``loss() -> float``, a scalar function of the arrays in ``inputs``
        (it reads them each call; they are perturbed in place).
    inputs : sequence of ndarray (float64)
    grads : sequence of ndarray
        The analytic gradient of ``loss`` with respect to each input.
    eps, rtol, atol : float
        Step and tolerances.
    max_elements : int or None
        Check at most this many randomly chosen elements per input.
    rng : int
        Seed for choosing the elements.

    Returns
    -------
    float
        The largest absolute difference seen.

    Raises
    ------
    AssertionError
        Naming the input and the element that differ.
    """
    rng = np.random.default_rng(rng)
    worst = 0.0
    for number, (array, grad) in enumerate(zip(inputs, grads)):
        array = np.asarray(array)
        grad = np.asarray(grad)
        if array.dtype != np.float64:
            raise TypeError(f"input {number} must be float64 for a finite-difference check, got {array.dtype}")
        if grad.shape != array.shape:
            raise AssertionError(f"gradient {number} has shape {grad.shape}, input has {array.shape}")
        size = array.size
        if max_elements is not None and size > max_elements:
            chosen = np.sort(rng.choice(size, max_elements, replace=False))
        else:
            chosen = np.arange(size)
        numeric = numerical_grad(loss, array, eps, chosen).reshape(-1)[chosen]
        analytic = grad.reshape(-1)[chosen]
        diff = np.abs(numeric - analytic)
        bad = diff > atol + rtol * np.abs(numeric)
        if diff.size:
            worst = max(worst, float(diff.max()))
        if np.any(bad):
            where = int(chosen[np.argmax(bad)])
            raise AssertionError(
                f"gradient of input {number} differs at flat index {where}: "
                f"analytic {grad.reshape(-1)[where]!r}, numeric {numeric[np.argmax(bad)]!r}")
    return worst


# ---------------------------------------------------------------------------- modules (fastgnn.nn)


def _float_leaves(value, leaves):
    """Collect the float arrays of ``value`` (arrays inside tuples/lists too), in order."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            leaves.append(value)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _float_leaves(item, leaves)
    return leaves


def _grad_leaves(value, leaves):
    if isinstance(value, (tuple, list)):
        for item in value:
            _grad_leaves(item, leaves)
    else:
        leaves.append(value)
    return leaves


def check_module_grad(module, *inputs, eps=1e-6, rtol=1e-5, atol=1e-7, max_elements=60, rng=0,
                      check_inputs=True):
    """Assert that a module's ``backward`` matches finite differences, for inputs and parameters.

    Uses the loss ``L = sum(R * module(*inputs))`` with a fixed random
    projection ``R``: one forward and one ``backward(R)`` give the analytic
    gradients of every float input (arrays, also inside tuples such as
    ``(x_src, x_dst)``) and of every parameter with ``requires_grad``; each
    is compared with central differences by :func:`check_grad`.

    Parameters
    ----------
    module : fastgnn.nn.Module
        With float64 parameters, deterministic in training mode (no active
        dropout). It is put in training mode and its gradients are zeroed
        first; they hold the analytic gradients afterwards.
    *inputs
        The arguments of ``module(...)``, e.g. ``(graph, x)``; float inputs
        must be float64 and C-contiguous (they are perturbed in place).
    eps, rtol, atol : float
    max_elements : int or None
        Elements checked per array.
    rng : int
        Seed of the projection and of the chosen elements.
    check_inputs : bool
        Also check the gradients returned for the inputs.

    Returns
    -------
    float
        The largest absolute difference seen.
    """
    for name, param in module.named_parameters():
        if param.dtype != np.float64:
            raise TypeError(f"parameter {name} must be float64 for a finite-difference check, got "
                            f"{param.dtype} (build the module with dtype=np.float64 or call .astype)")
    rng = np.random.default_rng(rng)
    module.train()
    module.zero_grad()
    output = module(*inputs)
    projection = rng.standard_normal(np.shape(output))
    input_grads = module.backward(projection)
    arrays, grads = [], []
    if check_inputs:
        input_leaves = _float_leaves(list(inputs), [])
        grad_leaves = _grad_leaves(input_grads, [])
        if len(grad_leaves) != len(input_leaves):
            raise AssertionError(f"backward returned {len(grad_leaves)} input gradients for "
                                 f"{len(input_leaves)} float inputs")
        for number, (array, grad) in enumerate(zip(input_leaves, grad_leaves)):
            if grad is None:
                raise AssertionError(f"backward returned None for float input {number}")
            arrays.append(array)
            grads.append(np.asarray(grad))
    for _, param in module.named_parameters():
        if param.requires_grad:
            arrays.append(param.data)
            grads.append(param.grad.copy())

    def loss():
        return float(np.sum(projection * module(*inputs)))

    return check_grad(loss, arrays, grads, eps=eps, rtol=rtol, atol=atol, max_elements=max_elements,
                      rng=rng)
