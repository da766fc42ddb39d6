"""Readout: global_{add,mean,max,min}_pool and the GlobalPool modules (forward, gradients, empty graphs)."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_grad, check_module_grad

REDUCES = ["sum", "mean", "max", "min"]
FUNCTIONS = {"sum": nn.global_add_pool, "mean": nn.global_mean_pool, "max": nn.global_max_pool,
             "min": nn.global_min_pool}
MODULES = {"sum": nn.GlobalAddPool, "mean": nn.GlobalMeanPool, "max": nn.GlobalMaxPool, "min": nn.GlobalMinPool}


def reference(x, ptr, reduce):
    out = np.zeros((len(ptr) - 1, x.shape[1]), dtype=x.dtype)
    for g in range(len(ptr) - 1):
        rows = x[ptr[g]:ptr[g + 1]]
        if rows.shape[0]:
            out[g] = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[reduce](rows, axis=0)
    return out


PTRS = {
    "mixed": [0, 3, 3, 7, 8],          # an empty graph and a single node
    "one_graph": [0, 6],
    "all_empty": [0, 0, 0],
    "leading_empty": [0, 0, 4],
}


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ptr_name", sorted(PTRS))
def test_forward_matches_reference(rng, reduce, dtype, ptr_name):
    ptr = np.array(PTRS[ptr_name])
    x = rng.standard_normal((ptr[-1], 5)).astype(dtype)
    out = FUNCTIONS[reduce](x, ptr)
    assert out.dtype == dtype and out.shape == (len(ptr) - 1, 5)
    np.testing.assert_allclose(out, reference(x, ptr, reduce), rtol=1e-6, atol=1e-6)
    module_out = MODULES[reduce]()(x, ptr)
    np.testing.assert_array_equal(module_out, out)
    np.testing.assert_array_equal(nn.global_pool(x, ptr, reduce), out)


@pytest.mark.parametrize("reduce", REDUCES)
def test_empty_graph_gives_zero_row(rng, reduce):
    ptr = np.array([0, 2, 2, 4])
    x = rng.standard_normal((4, 3)) + 10
    out = FUNCTIONS[reduce](x, ptr)
    assert np.all(out[1] == 0)


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_arg_is_the_winning_row(rng, reduce):
    ptr = np.array([0, 3, 3, 6])
    x = rng.standard_normal((6, 4))
    out, arg = FUNCTIONS[reduce](x, ptr, return_arg=True)
    assert np.all(arg[1] == -1)
    for g in (0, 2):
        np.testing.assert_array_equal(x[arg[g], np.arange(4)], out[g])
    ties = np.ones((3, 2))
    _, arg = FUNCTIONS[reduce](ties, np.array([0, 3]), return_arg=True)
    assert np.all(arg == 0)  # the first row wins ties


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("ptr_name", sorted(PTRS))
def test_module_gradients(rng, reduce, ptr_name):
    ptr = np.array(PTRS[ptr_name])
    x = rng.standard_normal((ptr[-1], 4))
    if x.size == 0:
        pool = nn.GlobalPool(reduce)
        pool(x, ptr)
        assert pool.backward(np.ones((len(ptr) - 1, 4))).shape == (0, 4)
        return
    check_module_grad(nn.GlobalPool(reduce), x, ptr)


@pytest.mark.parametrize("reduce", REDUCES)
def test_functional_backward(rng, reduce):
    ptr = np.array([0, 4, 4, 9])
    x = rng.standard_normal((9, 3))
    projection = rng.standard_normal((3, 3))
    out, arg = nn.global_pool(x, ptr, reduce, return_arg=True)
    grad = nn.global_pool_backward(projection, ptr, reduce, arg=arg)
    check_grad(lambda: float(np.sum(projection * nn.global_pool(x, ptr, reduce))), [x], [grad])
    assert np.all(grad[ptr[0]:ptr[1]].sum(axis=0) != 0)


def test_module_caches_only_in_training_mode(rng):
    pool = nn.GlobalMaxPool()
    pool.eval()
    pool(rng.standard_normal((4, 2)), np.array([0, 4]))
    assert not pool.has_cache()
    with pytest.raises(RuntimeError, match="eval mode"):
        pool.backward(np.ones((1, 2)))


def test_bad_input(rng):
    with pytest.raises(ValueError, match="reduce"):
        nn.GlobalPool("median")
    with pytest.raises(ValueError, match="ptr"):
        nn.global_add_pool(rng.standard_normal((4, 2)), np.array([0, 2, 3]))
    pool = nn.GlobalAddPool()
    pool(rng.standard_normal((4, 2)), np.array([0, 4]))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        pool.backward(np.ones((2, 2)))
