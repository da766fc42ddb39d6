"""BatchNorm: the batch and running statistics (PyTorch's BatchNorm1d), train/eval, gradients."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad


def reference(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_forward(rng, dtype):
    bn = nn.BatchNorm(6, dtype=dtype)
    bn.weight.data[:] = rng.standard_normal(6)
    bn.bias.data[:] = rng.standard_normal(6)
    x = (3 * rng.standard_normal((20, 6)) + 5).astype(dtype)
    out = bn(x)
    assert out.dtype == dtype
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, reference(x.astype(np.float64), bn.weight.data, bn.bias.data), atol=tolerance,
                               rtol=tolerance)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=tolerance, atol=tolerance)
    assert int(bn.num_batches_tracked[0]) == 1


def test_eval_uses_running_statistics_and_caches_nothing(rng):
    bn = nn.BatchNorm(3, dtype=np.float64)
    for _ in range(5):
        bn(rng.standard_normal((8, 3)) * 2 + 1)
    bn.eval()
    x = rng.standard_normal((4, 3))
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + 1e-5) * bn.weight.data + bn.bias.data
    running = bn.running_mean.copy()
    np.testing.assert_allclose(bn(x), expected, atol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, running)
    assert not bn.has_cache()
    bn(x[:1])  # a single row is fine in eval mode


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
def test_matches_torch(rng, momentum, affine):
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm(5, momentum=momentum, affine=affine, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(5, momentum=momentum, affine=affine).double()
    if affine:
        ours.weight.data[:] = rng.standard_normal(5)
        ours.bias.data[:] = rng.standard_normal(5)
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(ours.weight.data))
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    for _ in range(4):
        x = rng.standard_normal((9, 5)) * 3 - 1
        projection = rng.standard_normal((9, 5))
        ours.zero_grad()
        out = ours(x)
        grad_x = ours.backward(projection)
        tx = torch.from_numpy(x).requires_grad_(True)
        tout = theirs(tx)
        (tout * torch.from_numpy(projection)).sum().backward()
        np.testing.assert_allclose(out, tout.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(grad_x, tx.grad.numpy(), atol=1e-12)
        if affine:
            np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), atol=1e-12)
            theirs.zero_grad()
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((3, 5))
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("rows", [2, 7, 30])
def test_gradients_in_training_mode(rng, affine, rows):
    bn = nn.BatchNorm(4, affine=affine, dtype=np.float64)
    if affine:
        bn.weight.data[:] = rng.standard_normal(4)
        bn.bias.data[:] = rng.standard_normal(4)
    check_module_grad(bn, rng.standard_normal((rows, 4)) * 2 + 1, rtol=1e-4, atol=1e-7)


def test_without_running_statistics_eval_uses_the_batch(rng):
    bn = nn.BatchNorm(3, track_running_stats=False, dtype=np.float64)
    assert "running_mean" not in bn.state_dict()
    x = rng.standard_normal((6, 3))
    bn.eval()
    np.testing.assert_allclose(bn(x), reference(x, 1.0, 0.0), atol=1e-12)


def test_need_input_grad_false_still_accumulates(rng):
    bn = nn.BatchNorm(3, dtype=np.float64)
    bn(rng.standard_normal((5, 3)))
    assert bn.backward(np.ones((5, 3)), need_input_grad=False) is None
    np.testing.assert_allclose(bn.bias.grad, 5.0)


def test_state_dict_and_astype(rng):
    bn = nn.BatchNorm(3)
    bn(rng.standard_normal((5, 3)).astype(np.float32))
    state = bn.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    other = nn.BatchNorm(3)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.running_var, bn.running_var)
    bn.astype(np.float64)
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


def test_bad_input(rng):
    bn = nn.BatchNorm(3)
    with pytest.raises(ValueError, match="at least 2 rows"):
        bn(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="3"):
        bn(np.ones((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm(3, momentum=2.0)
    with pytest.raises(ValueError):
        nn.BatchNorm(0)
    bn.eval()
    bn(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="eval mode"):
        bn.backward(np.ones((4, 3)))
