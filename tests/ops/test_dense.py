"""fastgnn.ops.bias_act_dropout, its backward and the counter-based dropout mask, against the NumPy reference."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn._kernels import dense as K
from fastgnn.ops import (BiasActDropoutState, bias_act_dropout, bias_act_dropout_backward, dropout_keep_flat,
                         dropout_mask)
from fastgnn.ops import reference as R
from fastgnn.ops.dense import ACTIVATIONS
from fastgnn.testing import check_grad
from graph_cases import assert_close, assert_unchanged, snapshot, strided

# The rectifiers and the identity are computed with the same operations in the
# same order as NumPy: equal bits. The others call libm, whose last bit may
# differ from NumPy's own vectorised exp/tanh.
EXACT = ("identity", "relu", "leaky_relu")
SHAPES = [(0, 5), (6, 0), (1, 1), (9, 1), (300, 17), (513, 4)]
PARAMS = dict(negative_slope=0.2, alpha=1.5)


def _check(actual, expected, activation):
    if activation in EXACT:
        np.testing.assert_array_equal(actual, expected, strict=True)
    else:
        assert_close(actual, expected)


def _inputs(rng, shape, dtype, with_bias):
    z = rng.standard_normal(shape).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype) if with_bias else None
    grad = rng.standard_normal(shape).astype(dtype)
    return z, bias, grad


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_reference(rng, float_dtype, activation, p, with_bias, shape):
    z, bias, grad = _inputs(rng, shape, float_dtype, with_bias)
    copies = snapshot(z, bias, grad)
    kwargs = dict(PARAMS, p=p, seed=11, step=3)
    out, state = bias_act_dropout(z, bias, activation, **kwargs)
    _check(out, R.bias_act_dropout(z, bias, activation, **kwargs), activation)
    grad_z, grad_bias = bias_act_dropout_backward(grad, state)
    ref_grad_z, ref_grad_bias = R.bias_act_dropout_backward(grad, z, bias, activation, **kwargs)
    _check(grad_z, ref_grad_z, activation)
    if with_bias:
        assert_close(grad_bias, ref_grad_bias)
    else:
        assert grad_bias is None
    assert_unchanged([z, bias, grad], copies)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_matches_nn_modules(rng, float_dtype, activation):
    """Without dropout: the bias add then the fastgnn.nn activation, forward and backward."""
    z, bias, grad = _inputs(rng, (40, 7), float_dtype, True)
    module = nn.get_activation(activation)
    if activation == "leaky_relu":
        module = nn.LeakyReLU(0.2)
    elif activation == "elu":
        module = nn.ELU(1.5)
    expected = module.forward(z + bias)
    expected_grad = module.backward(grad)
    out, state = bias_act_dropout(z, bias, activation, **PARAMS)
    grad_z, grad_bias = bias_act_dropout_backward(grad, state)
    _check(out, expected, activation)
    _check(grad_z, expected_grad, activation)
    assert_close(grad_bias, expected_grad.sum(axis=0))


def test_relu_dropout_matches_nn_dropout_with_the_same_mask(rng, float_dtype):
    """Dropout is nn.Dropout's arithmetic, ``(y * keep) * (1 / (1 - p))``, bit for bit."""
    z, bias, grad = _inputs(rng, (50, 9), float_dtype, True)
    keep = dropout_mask(z.shape, 0.3, seed=5, step=8)
    scale = float_dtype.type(1 / (1 - 0.3))
    y = np.maximum(z + bias, 0)
    out, state = bias_act_dropout(z, bias, "relu", p=0.3, seed=5, step=8)
    np.testing.assert_array_equal(out, (y * keep) * scale, strict=True)
    grad_z, _ = bias_act_dropout_backward(grad, state)
    np.testing.assert_array_equal(grad_z, np.multiply((grad * keep) * scale, y > 0, dtype=float_dtype),
                                  strict=True)


def test_special_values_follow_numpy(float_dtype):
    z = np.array([[np.nan, -0.0, 0.0, np.inf, -np.inf, 1e30, -1e30, 2.0]], dtype=float_dtype)
    grad = np.array([[1.0, np.nan, 2.0, 3.0, np.inf, -1.0, 1.0, 1.0]], dtype=float_dtype)
    for activation in ACTIVATIONS:
        for p in (0.0, 0.5):
            kwargs = dict(PARAMS, p=p, seed=2, step=1)
            with np.errstate(all="ignore"):
                out, state = bias_act_dropout(z, None, activation, **kwargs)
                ref = R.bias_act_dropout(z, None, activation, **kwargs)
                grad_z, _ = bias_act_dropout_backward(grad, state)
                ref_grad_z, _ = R.bias_act_dropout_backward(grad, z, None, activation, **kwargs)
            if activation in EXACT:
                np.testing.assert_array_equal(out, ref, strict=True)
                np.testing.assert_array_equal(grad_z, ref_grad_z, strict=True)
                np.testing.assert_array_equal(np.signbit(out), np.signbit(ref))
            else:
                np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
                np.testing.assert_array_equal(np.isnan(grad_z), np.isnan(ref_grad_z))


@pytest.mark.parametrize("activation", ["elu", "tanh", "sigmoid"])
def test_exponential_activations_are_accurate_over_the_whole_range(float_dtype, activation):
    """The kernels' own exp: a few units in the last place of NumPy's, from tiny to saturated inputs."""
    magnitudes = np.concatenate([np.geomspace(1e-30, 1e-3, 200), np.linspace(1e-3, 20, 2000),
                                 np.geomspace(20, 700, 200)])
    z = np.concatenate([magnitudes, -magnitudes, [0.0, -0.0]]).astype(float_dtype).reshape(-1, 2)
    grad = np.ones_like(z)
    out, state = bias_act_dropout(z, None, activation, alpha=1.5)
    grad_z, _ = bias_act_dropout_backward(grad, state)
    with np.errstate(over="ignore"):
        ref = R.bias_act_dropout(z, None, activation, alpha=1.5)
        ref_grad = R.bias_act_dropout_backward(grad, z, None, activation, alpha=1.5)[0]
    eps = np.finfo(float_dtype).eps
    tiny = np.finfo(float_dtype).tiny
    np.testing.assert_allclose(out, ref, rtol=4 * eps, atol=tiny)
    np.testing.assert_allclose(grad_z, ref_grad, rtol=16 * eps, atol=4 * eps)
    np.testing.assert_array_equal(np.signbit(out[out == 0]), np.signbit(ref[out == 0]))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("p", [0.0, 0.5])
def test_gradient_float64(rng, activation, p):
    z = rng.standard_normal((13, 5))
    z[np.abs(z) < 1e-3] = 0.5  # away from the kinks
    bias = rng.standard_normal(5)
    weight = rng.standard_normal((13, 5))
    kwargs = dict(PARAMS, p=p, seed=4, step=9)

    def loss():
        return float(np.sum(bias_act_dropout(z, bias, activation, **kwargs)[0] * weight))

    _, state = bias_act_dropout(z, bias, activation, **kwargs)
    grad_z, grad_bias = bias_act_dropout_backward(weight, state)
    check_grad(loss, [z, bias], [grad_z, grad_bias])


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
@pytest.mark.parametrize("p", [0.0, 0.5])
def test_bitwise_identical_for_any_thread_count(rng, float_dtype, activation, p):
    # Above the parallel work threshold, with a row count that is not a multiple of the block.
    shape = (4099, 257)
    z, bias, grad = _inputs(rng, shape, float_dtype, True)
    results = []
    for threads in (1, 2, 3):
        out, state = bias_act_dropout(z, bias, activation, p=p, seed=1, step=2, n_threads=threads)
        grad_z, grad_bias = bias_act_dropout_backward(grad, state, n_threads=threads)
        results.append((out, grad_z, grad_bias))
    for out, grad_z, grad_bias in results[1:]:
        np.testing.assert_array_equal(out, results[0][0], strict=True)
        np.testing.assert_array_equal(grad_z, results[0][1], strict=True)
        np.testing.assert_array_equal(grad_bias, results[0][2], strict=True)


def test_keep_flags_for_any_thread_count_and_prefix():
    n = (1 << 20) + 12345
    flags = [dropout_keep_flat(n, 0.4, seed=3, step=7, n_threads=t) for t in (1, 2, 3)]
    np.testing.assert_array_equal(flags[1], flags[0])
    np.testing.assert_array_equal(flags[2], flags[0])
    np.testing.assert_array_equal(flags[0], R.dropout_keep_flat(n, 0.4, 3, 7))
    np.testing.assert_array_equal(dropout_keep_flat(1000, 0.4, seed=3, step=7), flags[0][:1000])
    assert flags[0].dtype == np.bool_


def test_mask_is_the_flat_flags_in_row_major_order():
    mask = dropout_mask((37, 11), 0.5, seed=8, step=1)
    np.testing.assert_array_equal(mask.reshape(-1), dropout_keep_flat(37 * 11, 0.5, seed=8, step=1))
    out, _ = bias_act_dropout(np.ones((37, 11)), None, "identity", p=0.5, seed=8, step=1)
    np.testing.assert_array_equal(out != 0, mask)
    np.testing.assert_array_equal(out[mask], 2.0)
    assert dropout_mask(5, 0.5).shape == (5,)
    assert dropout_mask((0, 3), 0.5).shape == (0, 3)


def test_counters_beyond_32_bits():
    """The high word of the position enters the hash: a range crossing 2^32 matches the reference."""
    begin = (1 << 32) - 1000
    keep = np.empty(3000, dtype=np.uint8)
    threshold = R.dropout_threshold(0.5)
    K.dropout_keep(keep, begin, threshold, 6, 2, 1)
    expected = R.dropout_keep(np.arange(begin, begin + 3000, dtype=np.uint64), 0.5, 6, 2)
    np.testing.assert_array_equal(keep.astype(bool), expected)
    # Position c and c + 2^32 are not tied.
    low = R.dropout_keep(np.arange(100000, dtype=np.uint64), 0.5, 6, 2)
    high = R.dropout_keep(np.arange(100000, dtype=np.uint64) + np.uint64(1 << 32), 0.5, 6, 2)
    assert 0.45 < np.mean(low == high) < 0.55


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_is_one_minus_p(p):
    n = 400_000
    rate = dropout_keep_flat(n, p, seed=12, step=0).mean()
    assert abs(rate - (1 - p)) < 6 * np.sqrt(p * (1 - p) / n)


def test_masks_of_different_steps_and_seeds_differ():
    n = 200_000
    base = dropout_keep_flat(n, 0.5, seed=1, step=0)
    others = [dropout_keep_flat(n, 0.5, seed=1, step=1), dropout_keep_flat(n, 0.5, seed=2, step=0),
              dropout_keep_flat(n, 0.5, seed=0, step=1), dropout_keep_flat(n, 0.5, seed=1, step=2)]
    for other in others:
        assert abs(np.mean(other == base) - 0.5) < 0.01  # independent-looking, not merely different
    # Neighbouring positions are not correlated.
    assert abs(np.mean(base[1:] == base[:-1]) - 0.5) < 0.01


def test_p_zero_one_and_eval_mode(rng):
    z, bias, grad = _inputs(rng, (20, 6), np.float32, True)
    plain, _ = bias_act_dropout(z, bias, "relu")
    for kwargs in (dict(p=0.5, training=False), dict(p=0.0)):
        out, state = bias_act_dropout(z, bias, "relu", seed=3, **kwargs)
        np.testing.assert_array_equal(out, plain, strict=True)
        assert state.saved is out  # the output serves the derivative
    out, state = bias_act_dropout(z, bias, "relu", p=1.0)
    np.testing.assert_array_equal(out, np.zeros_like(z), strict=True)
    grad_z, grad_bias = bias_act_dropout_backward(grad, state)
    np.testing.assert_array_equal(grad_z, np.zeros_like(z), strict=True)
    np.testing.assert_array_equal(grad_bias, np.zeros(6, np.float32), strict=True)
    # A p that rounds to 1 on 32 bits drops everything too.
    out, _ = bias_act_dropout(z, bias, "relu", p=1 - 2.0 ** -34)
    assert not out.any()
    assert not dropout_keep_flat(10, 1 - 2.0 ** -34).any()
    assert dropout_keep_flat(10, 0.0).all()


def test_state_keeps_the_least_memory(rng):
    z, bias, _ = _inputs(rng, (8, 3), np.float64, True)
    for activation in ("relu", "leaky_relu"):
        out, state = bias_act_dropout(z, bias, activation, p=0.5)
        assert state.saved is out
    for activation in ("elu", "tanh", "sigmoid"):
        out, state = bias_act_dropout(z, bias, activation, p=0.5)
        assert state.saved is not out and state.saved.shape == z.shape
        out, state = bias_act_dropout(z, bias, activation, p=0.0)
        assert state.saved is out
    _, state = bias_act_dropout(z, bias, "identity", p=0.5)
    assert state.saved is None
    assert isinstance(state, BiasActDropoutState) and "identity" in repr(state)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_non_contiguous_and_read_only_inputs(rng, float_dtype, activation):
    z, bias, grad = _inputs(rng, (30, 17), float_dtype, True)
    kwargs = dict(p=0.5, seed=1, step=1)
    expected, state = bias_act_dropout(z, bias, activation, **kwargs)
    expected_grad = bias_act_dropout_backward(grad, state)
    z_view, bias_view, grad_view = strided(z), strided(bias), strided(grad)
    copies = snapshot(z_view, bias_view, grad_view)
    out, state = bias_act_dropout(z_view, bias_view, activation, **kwargs)
    np.testing.assert_array_equal(out, expected, strict=True)
    grad_z, grad_bias = bias_act_dropout_backward(grad_view, state)
    np.testing.assert_array_equal(grad_z, expected_grad[0], strict=True)
    np.testing.assert_array_equal(grad_bias, expected_grad[1], strict=True)
    # In place on a read-only array writes a new one.
    read_only = z.copy()
    read_only.flags.writeable = False
    out, _ = bias_act_dropout(read_only, bias, activation, inplace=True, **kwargs)
    np.testing.assert_array_equal(out, expected, strict=True)
    assert_unchanged([z_view, bias_view, grad_view, read_only], copies + [z])
    # A bias of another dtype is cast.
    out, _ = bias_act_dropout(z, bias.astype(np.float16).astype(np.float64) if float_dtype == np.float32
                              else bias, activation, **kwargs)
    assert out.dtype == float_dtype


def test_in_place_and_out_buffers(rng, float_dtype):
    z, bias, grad = _inputs(rng, (25, 4), float_dtype, True)
    expected, state = bias_act_dropout(z, bias, "tanh", p=0.5, seed=2)
    expected_grad, expected_bias = bias_act_dropout_backward(grad, state)
    assert expected.ctypes.data % 64 == 0 and expected_grad.ctypes.data % 64 == 0  # fresh outputs are aligned
    work = z.copy()
    out, state = bias_act_dropout(work, bias, "tanh", p=0.5, seed=2, inplace=True)
    assert out is work
    np.testing.assert_array_equal(out, expected, strict=True)
    buffer = np.empty_like(z)
    out, state = bias_act_dropout(z, bias, "tanh", p=0.5, seed=2, out=buffer)
    assert out is buffer
    g = grad.copy()
    grad_z, grad_bias = bias_act_dropout_backward(g, state, out=g)
    assert grad_z is g
    np.testing.assert_array_equal(grad_z, expected_grad, strict=True)
    np.testing.assert_array_equal(grad_bias, expected_bias, strict=True)
    _, grad_bias = bias_act_dropout_backward(grad, state, need_bias_grad=False)
    assert grad_bias is None


def test_bad_input():
    z = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="activation"):
        bias_act_dropout(z, activation="gelu")
    with pytest.raises(ValueError, match="activation"):
        bias_act_dropout(z, activation=None)
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="p must be in"):
            bias_act_dropout(z, p=p)
    with pytest.raises(TypeError, match="p must be"):
        bias_act_dropout(z, p="half")
    with pytest.raises(TypeError, match="z must have dtype"):
        bias_act_dropout(z.astype(np.int64))
    with pytest.raises(ValueError, match="z must be 2-D"):
        bias_act_dropout(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="z must be"):
        bias_act_dropout(None)
    with pytest.raises(ValueError, match="bias must have shape"):
        bias_act_dropout(z, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="bias"):
        bias_act_dropout(z, np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="seed"):
        bias_act_dropout(z, seed=-1)
    with pytest.raises(ValueError, match="step"):
        bias_act_dropout(z, step=1 << 64)
    with pytest.raises(TypeError, match="seed"):
        bias_act_dropout(z, seed=1.5)
    with pytest.raises(TypeError, match="step"):
        bias_act_dropout(z, step=True)
    with pytest.raises(ValueError, match="negative_slope"):
        bias_act_dropout(z, activation="leaky_relu", negative_slope=-1)
    with pytest.raises(ValueError, match="alpha"):
        bias_act_dropout(z, activation="elu", alpha=0)
    with pytest.raises(TypeError, match="negative_slope"):
        bias_act_dropout(z, activation="leaky_relu", negative_slope="steep")
    with pytest.raises(TypeError, match="alpha"):
        bias_act_dropout(z, activation="elu", alpha=None)
    bias_act_dropout(z, activation="relu", negative_slope=None, alpha=None)  # unused by this activation
    with pytest.raises(ValueError, match="n_threads"):
        bias_act_dropout(z, n_threads=0)
    with pytest.raises(ValueError, match="either out or inplace"):
        bias_act_dropout(z, out=np.empty_like(z), inplace=True)
    with pytest.raises(TypeError, match="out must have dtype"):
        bias_act_dropout(z, out=np.empty((4, 3)))
    with pytest.raises(ValueError, match="share memory"):
        bias_act_dropout(z, out=z)
    out, state = bias_act_dropout(z, np.zeros(3, np.float32), p=0.5)
    with pytest.raises(TypeError, match="state"):
        bias_act_dropout_backward(z, (out, None))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        bias_act_dropout_backward(np.zeros((3, 3), np.float32), state)
    with pytest.raises(TypeError, match="grad_out"):
        bias_act_dropout_backward(np.zeros((4, 3), bool).astype(object), state)
    with pytest.raises(ValueError, match="share memory"):
        bias_act_dropout_backward(z, state, out=out)
    with pytest.raises(ValueError, match="n must be non-negative"):
        dropout_keep_flat(-1, 0.5)
    with pytest.raises(ValueError, match="p must be in"):
        dropout_keep_flat(3, 2.0)
    with pytest.raises(ValueError, match="seed"):
        dropout_mask((2, 2), 0.5, seed=-3)
    np.testing.assert_array_equal(z, 0)  # nothing was written


@pytest.mark.parametrize("activation, extra_arrays", [("relu", 0), ("leaky_relu", 0), ("identity", 0),
                                                      ("tanh", 1), ("sigmoid", 1), ("elu", 1)])
def test_memory_is_the_output_and_what_the_derivative_needs(activation, extra_arrays):
    """tracemalloc (NumPy reports its buffers to it): no mask is stored, no N x d temporary is made."""
    import tracemalloc

    rng = np.random.default_rng(0)
    z = rng.standard_normal((2000, 64))
    bias = rng.standard_normal(64)
    grad = rng.standard_normal((2000, 64))
    nbytes = z.nbytes
    tracemalloc.start()
    try:
        out, state = bias_act_dropout(z, bias, activation, p=0.5, seed=1)
        forward_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        grad_z, _ = bias_act_dropout_backward(grad, state)
        backward_peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        bias_act_dropout(z, bias, activation, p=0.5, seed=1, inplace=True)
        in_place_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    slack = nbytes // 8  # the block sums of the bias gradient and small objects
    assert forward_peak < (1 + extra_arrays) * nbytes + slack
    assert backward_peak < nbytes + slack
    assert in_place_peak < extra_arrays * nbytes + slack


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
@pytest.mark.parametrize("row_dtype", [np.int32, np.int64])
def test_row_ids_key_each_row_as_the_row_it_names(rng, float_dtype, activation, row_dtype):
    """Rows ``row_ids`` of a larger array get that array's mask rows: forward, backward, reference, threads."""
    full_rows, width = 600, 33
    z_full, bias, grad_full = _inputs(rng, (full_rows, width), float_dtype, True)
    row_ids = np.ascontiguousarray(rng.choice(full_rows, 300, replace=False)[::-1]).astype(row_dtype)
    z, grad = z_full[row_ids], grad_full[row_ids]
    kwargs = dict(p=0.5, seed=4, step=9)
    full_out, full_state = bias_act_dropout(z_full, bias, activation, **kwargs)
    full_grad_z, _ = bias_act_dropout_backward(grad_full, full_state)
    reference = R.bias_act_dropout(z, bias, activation, row_ids=row_ids, **kwargs)
    ids_copy = row_ids.copy()
    for threads in (1, 2, 3):
        out, state = bias_act_dropout(z, bias, activation, row_ids=row_ids, n_threads=threads, **kwargs)
        grad_z, grad_bias = bias_act_dropout_backward(grad, state, n_threads=threads)
        np.testing.assert_array_equal(out, full_out[row_ids], strict=True)
        np.testing.assert_array_equal(grad_z, full_grad_z[row_ids], strict=True)
        _check(out, reference, activation)
        ref_grad_z, ref_grad_bias = R.bias_act_dropout_backward(grad, z, bias, activation, row_ids=row_ids,
                                                                **kwargs)
        _check(grad_z, ref_grad_z, activation)
        assert_close(grad_bias, ref_grad_bias)
    np.testing.assert_array_equal(row_ids, ids_copy)
    empty, _ = bias_act_dropout(z[:0], bias, activation, row_ids=row_ids[:0], **kwargs)
    assert empty.shape == (0, width)


def test_bad_row_ids_name_the_argument():
    z = np.ones((3, 2))
    for row_ids, error in (([0, 1], ValueError), ([0, 1, -1], ValueError), ([[0, 1, 2]], ValueError),
                           ([0.0, 1.0, 2.0], TypeError), ([0, 1, 1 << 62], ValueError)):
        with pytest.raises(error, match="row_ids"):
            bias_act_dropout(z, p=0.5, row_ids=row_ids)
