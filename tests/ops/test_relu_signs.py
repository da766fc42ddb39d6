"""pack_relu_signs / relu_backward_from_signs: the backward of a ReLU step from its output's signs alone."""
import numpy as np
import pytest

import fastgnn.ops.dense as dense
from fastgnn.ops import bias_act_dropout, bias_act_dropout_backward
from fastgnn.ops.dense import pack_relu_signs, relu_backward_from_signs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (13, 7), (37, 16), (0, 5)])
def test_signs_give_the_bits_of_the_kept_output(dtype, p, with_bias, shape):
    rng = np.random.default_rng(3)
    z = rng.standard_normal(shape).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype) if with_bias else None
    grad = rng.standard_normal(shape).astype(dtype)
    out, state = bias_act_dropout(z, bias, "relu", p=p, seed=4, step=2, training=True)
    want = bias_act_dropout_backward(grad, state)
    if state.saved is None:                         # everything dropped: no output kept, a zero gradient
        assert p == 1.0 and not np.any(want[0])
        return
    signs = pack_relu_signs(state)
    assert signs.dtype == np.uint8 and signs.size == -(-z.size // 8)
    state.saved = None                              # the output may be gone
    got = relu_backward_from_signs(grad, state, signs)
    np.testing.assert_array_equal(got[0].view(f"u{got[0].itemsize}"), want[0].view(f"u{want[0].itemsize}"))  # zeros' signs too
    if with_bias:
        np.testing.assert_array_equal(got[1], want[1])
    else:
        assert got[1] is None


def test_chunks_and_row_ids_and_in_place(monkeypatch):
    monkeypatch.setattr(dense, "_SIGN_CHUNK_ROWS", 8)      # many chunks, one row not a whole byte
    rng = np.random.default_rng(5)
    z = rng.standard_normal((61, 3))
    ids = rng.permutation(200)[:61]
    grad = rng.standard_normal((61, 3))
    _, state = bias_act_dropout(z, np.zeros(3), "relu", p=0.3, seed=1, step=7, row_ids=ids)
    want = bias_act_dropout_backward(grad, state)
    signs = pack_relu_signs(state)
    read_only = grad.copy()
    read_only.flags.writeable = False
    got = relu_backward_from_signs(read_only, state, signs)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    in_place = grad.copy()
    got = relu_backward_from_signs(in_place, state, signs, out=in_place)
    assert got[0] is in_place
    np.testing.assert_array_equal(in_place, want[0])


def test_only_relu_states():
    _, state = bias_act_dropout(np.ones((2, 2)), None, "tanh")
    with pytest.raises(ValueError, match="relu"):
        pack_relu_signs(state)
    with pytest.raises(ValueError, match="relu"):
        relu_backward_from_signs(np.ones((2, 2)), state, np.zeros(1, np.uint8))
    _, state = bias_act_dropout(np.ones((2, 2)), None, "relu")
    with pytest.raises(ValueError, match="shape"):
        relu_backward_from_signs(np.ones((3, 2)), state, pack_relu_signs(state))
