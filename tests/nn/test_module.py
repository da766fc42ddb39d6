"""Module system: registration, gradients accumulation, modes, state dicts, Sequential."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad


class Scaled(nn.Module):
    """A module whose scalar parameter gradient is easy to write by hand."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3, rng=0, dtype=np.float64)
        self.scale = nn.Parameter(np.array([2.0]), dtype=np.float64)

    def forward(self, x):
        h = self.lin(x)
        self._save_for_backward(h)
        return h * self.scale.data[0]

    def backward(self, grad_out):
        (h,) = self._saved_for_backward()
        self.scale.grad += np.sum(grad_out * h)
        return self.lin.backward(grad_out * self.scale.data[0])


def test_registration_order_and_dotted_names():
    model = nn.Sequential(Scaled(), nn.ReLU(), nn.Linear(3, 2, rng=1))
    names = [name for name, _ in model.named_parameters()]
    # PyTorch's order: a module's own parameters, then its children's.
    assert names == ["0.scale", "0.lin.weight", "0.lin.bias", "2.weight", "2.bias"]
    assert [p.shape for p in model.parameters()] == [(1,), (3, 4), (3,), (2, 3), (2,)]
    assert [name for name, _ in model.named_modules()] == ["", "0", "0.lin", "1", "2"]
    assert model.num_parameters() == 12 + 3 + 1 + 6 + 2


def test_shared_parameter_listed_once_and_reassignment_unregisters():
    model = Scaled()
    model.alias = model.scale
    assert len(model.parameters()) == 3
    model.lin = None
    assert [name for name, _ in model.named_parameters()] == ["scale"]


def test_assigning_before_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_custom_module_gradients_match_finite_differences(rng):
    check_module_grad(Scaled(), rng.standard_normal((5, 4)))


def test_backward_accumulates_and_zero_grad_resets(rng):
    layer = nn.Linear(4, 3, rng=0, dtype=np.float64)
    x = rng.standard_normal((6, 4))
    grad_out = rng.standard_normal((6, 3))
    layer(x)
    layer.backward(grad_out)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(grad_out)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    np.testing.assert_allclose(layer.bias.grad, 2 * grad_out.sum(0))
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_one_backward_per_forward(rng):
    layer = nn.Linear(4, 3, rng=0)
    with pytest.raises(RuntimeError, match="without a preceding forward"):
        layer.backward(np.zeros((2, 3), np.float32))
    layer(rng.standard_normal((2, 4)).astype(np.float32))
    layer.backward(np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="without a preceding forward"):
        layer.backward(np.zeros((2, 3), np.float32))


def test_eval_mode_caches_nothing_and_backward_raises(rng):
    model = nn.MLP([4, 8, 3], dropout=0.5, rng=0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    model(x)
    assert model.has_cache()
    model.eval()
    assert not model.has_cache()
    assert all(not module.training for module in model.modules())
    model(x)
    assert not model.has_cache()
    with pytest.raises(RuntimeError, match="eval mode"):
        model.backward(np.ones((5, 3), np.float32))
    model.train()
    assert all(module.training for module in model.modules())


def test_state_dict_round_trip(rng):
    source = nn.MLP([4, 6, 3], rng=1)
    target = nn.MLP([4, 6, 3], rng=2)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    assert not np.allclose(source(x), target(x))
    weight = target[0].weight
    state = source.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    target.load_state_dict(state)
    np.testing.assert_array_equal(source(x), target(x))
    assert target[0].weight is weight, "loading must update parameters in place"
    state["0.weight"][...] = 0  # the state dict holds copies
    assert source[0].weight.data.any()


def test_state_dict_errors_name_the_keys():
    model = nn.MLP([4, 6, 3], rng=1)
    state = model.state_dict()
    del state["2.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match="2.bias.*extra"):
        model.load_state_dict(state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["2.bias"] and unexpected == ["extra"]
    bad = model.state_dict()
    bad["0.weight"] = np.zeros((4, 6))
    with pytest.raises(ValueError, match="0.weight"):
        model.load_state_dict(bad)


def _snapshot(model):
    return {name: value.copy() for name, value in model.state_dict().items()}


@pytest.mark.parametrize("corrupt, error, match", [
    ("shape", ValueError, "2.weight has shape"),
    ("complex", TypeError, "2.weight has dtype complex128"),
    ("object_none", TypeError, "2.weight has dtype object"),
    ("strings", TypeError, "2.weight has dtype <U"),
    ("overflow", ValueError, "2.weight holds values that float32 cannot represent"),
    ("big_int", ValueError, "2.weight holds values that float32 cannot represent"),
    ("not_array", TypeError, "2.weight"),
])
def test_load_state_dict_is_atomic_and_refuses_lossy_values(corrupt, error, match):
    model = nn.MLP([4, 6, 3], rng=1)
    before = _snapshot(model)
    state = nn.MLP([4, 6, 3], rng=2).state_dict()  # 0.* entries come first and would be copied first
    shape = state["2.weight"].shape
    state["2.weight"] = {
        "shape": lambda: np.zeros((shape[0] + 1, shape[1])),
        "complex": lambda: np.full(shape, 1 + 2j),
        "object_none": lambda: np.full(shape, None, dtype=object),
        "strings": lambda: np.full(shape, "1.0"),
        "overflow": lambda: np.full(shape, 1e300),
        "big_int": lambda: np.full(shape, 2 ** 53 + 1, dtype=np.int64),
        "not_array": lambda: object(),
    }[corrupt]()
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    after = _snapshot(model)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def test_load_state_dict_accepts_exact_casts():
    model = nn.MLP([2, 2], rng=1)
    state = {"0.weight": np.arange(4, dtype=np.int64).reshape(2, 2), "0.bias": np.array([0.25, -1.5])}
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].weight.data, [[0, 1], [2, 3]])
    assert model[0].weight.data.dtype == np.float32


@pytest.mark.parametrize("not_a_mapping", [[("0.weight", np.zeros((2, 2)))], None, "weights.npz", 3])
def test_load_state_dict_needs_a_mapping(not_a_mapping):
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        nn.MLP([2, 2], rng=1).load_state_dict(not_a_mapping)


def test_state_dict_survives_npz(tmp_path):
    model = nn.GINConv(nn.MLP([3, 4, 2], rng=0), eps=0.5)
    np.savez(tmp_path / "weights.npz", **model.state_dict())
    other = nn.GINConv(nn.MLP([3, 4, 2], rng=9), eps=0.0)
    with np.load(tmp_path / "weights.npz") as data:
        other.load_state_dict(data)
    assert other.eps[0] == 0.5
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_astype_converts_parameters_and_buffers():
    model = nn.GINConv(nn.MLP([3, 4, 2], rng=0))
    model.astype(np.float64)
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    assert model.eps.dtype == np.float64
    assert all(p.grad.dtype == np.float64 for p in model.parameters())


def test_seeded_glorot_initialisation():
    a = nn.Linear(30, 20, rng=7)
    b = nn.Linear(30, 20, rng=np.random.default_rng(7))
    c = nn.Linear(30, 20, rng=8)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    bound = np.sqrt(6 / (30 + 20))
    assert np.abs(a.weight.data).max() <= bound
    assert np.abs(a.weight.data).max() > 0.9 * bound
    np.testing.assert_allclose(a.weight.data.var(), bound ** 2 / 3, rtol=0.15)
    assert not a.bias.data.any()
    shared = np.random.default_rng(0)
    first, second = nn.Linear(5, 5, rng=shared), nn.Linear(5, 5, rng=shared)
    assert not np.array_equal(first.weight.data, second.weight.data)


def test_sequential_gradients_and_container_api(rng):
    model = nn.Sequential(nn.Linear(4, 5, rng=0, dtype=np.float64), nn.Tanh(),
                          nn.Linear(5, 2, rng=1, dtype=np.float64))
    assert len(model) == 3 and isinstance(model[1], nn.Tanh)
    assert isinstance(model[1:], nn.Sequential) and len(model[1:]) == 2
    check_module_grad(model, rng.standard_normal((6, 4)))
    with pytest.raises(TypeError, match="Sequential takes Modules"):
        nn.Sequential(nn.ReLU(), "relu")


def test_sequential_can_skip_the_input_gradient(rng):
    model = nn.Sequential(nn.Linear(4, 5, rng=0, dtype=np.float64), nn.ReLU(),
                          nn.Linear(5, 2, rng=1, dtype=np.float64))
    x, grad_out = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    model(x)
    full = model.backward(grad_out)
    expected = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model(x)
    assert full is not None and model.backward(grad_out, need_input_grad=False) is None
    for param, grad in zip(model.parameters(), expected):
        np.testing.assert_allclose(param.grad, grad)


def test_parameter_basics():
    param = nn.Parameter([1, 2, 3])
    assert param.dtype == np.float32 and param.grad.shape == (3,) and not param.grad.any()
    assert nn.Parameter(np.zeros(2)).dtype == np.float64
    frozen = nn.Parameter(np.zeros(2), requires_grad=False)
    frozen.accumulate(np.ones(2))
    assert not frozen.grad.any()
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Parameter([1.0], dtype=np.int64)


def test_frozen_parameter_gets_no_gradient(rng):
    layer = nn.Linear(4, 3, rng=0, dtype=np.float64)
    layer.weight.requires_grad = False
    layer(rng.standard_normal((2, 4)))
    layer.backward(np.ones((2, 3)))
    assert not layer.weight.grad.any() and layer.bias.grad.any()


def test_buffer_stays_registered_when_reassigned():
    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", np.zeros(2))

    module = WithBuffer()
    module.count += 1                     # in place, then reassigned by Python
    module.count = module.count * 2       # a new array
    np.testing.assert_array_equal(module.state_dict()["count"], [2.0, 2.0])


def test_evaluating_restores_the_mode():
    model = nn.MLP([3, 4, 2], dropout=0.5, rng=0)
    with model.evaluating():
        assert not any(module.training for module in model.modules())
    assert all(module.training for module in model.modules())
    model.eval()
    with pytest.raises(RuntimeError), model.evaluating():
        raise RuntimeError("inside")
    assert not model.training, "an eval-mode model stays in eval mode"
