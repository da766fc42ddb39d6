import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_grad


def test_inverted_scaling_and_rate(rng):
    dropout = nn.Dropout(0.3, rng=0)
    x = rng.uniform(1, 2, (200, 50))
    y = dropout(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], x[kept] / 0.7)


def test_backward_uses_the_forward_mask(rng):
    dropout = nn.Dropout(0.5, rng=1)
    x = rng.uniform(1, 2, (20, 10))
    y = dropout(x)
    grad = dropout.backward(np.ones_like(x))
    np.testing.assert_array_equal(grad != 0, y != 0)
    np.testing.assert_allclose(grad[grad != 0], 2.0)


def test_finite_differences_with_a_fixed_mask(rng):
    dropout = nn.Dropout(0.4)
    x = rng.standard_normal((8, 5))
    projection = rng.standard_normal((8, 5))

    def run():
        dropout.rng = np.random.default_rng(3)  # the same mask on every call
        return dropout(x)

    run()
    grad = dropout.backward(projection)
    check_grad(lambda: float(np.sum(projection * run())), [x], [grad])


def test_seeded_masks_are_reproducible(rng):
    x = rng.standard_normal((10, 10)).astype(np.float32)
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=4)(x), nn.Dropout(0.5, rng=4)(x))
    assert nn.Dropout(0.5, rng=4)(x).dtype == np.float32


def test_identity_in_eval_mode_and_for_zero_rate(rng):
    x = rng.standard_normal((4, 3))
    dropout = nn.Dropout(0.9, rng=0).eval()
    assert dropout(x) is x
    assert not dropout.has_cache()
    with pytest.raises(RuntimeError, match="eval mode"):
        dropout.backward(x)
    zero = nn.Dropout(0.0)
    assert zero(x) is x
    assert zero.backward(x) is x


def test_rate_one_drops_everything(rng):
    dropout = nn.Dropout(1.0)
    x = rng.standard_normal((4, 3))
    assert not dropout(x).any()
    assert not dropout.backward(np.ones_like(x)).any()


def test_invalid_rate():
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)


def test_forward_into_out(rng):
    x = rng.standard_normal((30, 7))
    out = np.full_like(x, np.nan)
    expected = nn.Dropout(0.4, rng=3)(x)
    result = nn.Dropout(0.4, rng=3)(x, out=out)
    assert result is out
    np.testing.assert_array_equal(out, expected)
    layer = nn.Dropout(0.4, rng=3).eval()
    untouched = np.full_like(x, np.nan)
    assert layer(x, out=untouched) is x and np.isnan(untouched).all()      # eval: x itself, out not written
    with pytest.raises(ValueError):
        nn.Dropout(0.4)(x, out=np.empty((30, 8)))
