import numpy as np
import pytest

from fastgnn import nn, optim


def make_params(rng, dtype=np.float64):
    return [nn.Parameter(rng.standard_normal((3, 2)), dtype=dtype), nn.Parameter(rng.standard_normal(4), dtype=dtype)]


def gradient_sequence(rng, params, steps):
    return [[rng.standard_normal(p.shape) for p in params] for _ in range(steps)]


def run(optimizer, params, grads):
    for step_grads in grads:
        optimizer.zero_grad()
        for param, grad in zip(params, step_grads):
            param.grad += grad
        optimizer.step()


# ------------------------------------------------------------------ closed-form single steps
def test_sgd_plain_step(rng):
    params = make_params(rng)
    start = [p.data.copy() for p in params]
    grads = gradient_sequence(rng, params, 1)
    run(optim.SGD(params, lr=0.1, weight_decay=0.01), params, grads)
    for param, before, grad in zip(params, start, grads[0]):
        np.testing.assert_allclose(param.data, before - 0.1 * (grad + 0.01 * before), rtol=1e-14)


def test_sgd_momentum_and_nesterov_closed_form(rng):
    for nesterov in (False, True):
        param = nn.Parameter(np.array([1.0, -2.0]))
        g1, g2 = np.array([0.5, 0.25]), np.array([-1.0, 2.0])
        optimizer = optim.SGD([param], lr=0.1, momentum=0.9, nesterov=nesterov)
        run(optimizer, [param], [[g1], [g2]])
        b1 = g1
        b2 = 0.9 * b1 + g2
        step1 = g1 + 0.9 * b1 if nesterov else b1
        step2 = g2 + 0.9 * b2 if nesterov else b2
        np.testing.assert_allclose(param.data, np.array([1.0, -2.0]) - 0.1 * step1 - 0.1 * step2, rtol=1e-14)


def test_adam_first_steps_closed_form():
    param = nn.Parameter(np.array([1.0, -1.0]))
    g1, g2 = np.array([0.2, -3.0]), np.array([0.4, 1.0])
    run(optim.Adam([param], lr=0.01, betas=(0.9, 0.99), eps=1e-8), [param], [[g1], [g2]])
    # Step 1: the bias-corrected moments are g1 and g1^2, so the step is lr * sign(g1) (up to eps).
    after1 = np.array([1.0, -1.0]) - 0.01 * g1 / (np.abs(g1) + 1e-8)
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    v = 0.99 * 0.01 * g1 ** 2 + 0.01 * g2 ** 2
    after2 = after1 - 0.01 / (1 - 0.9 ** 2) * m / (np.sqrt(v) / np.sqrt(1 - 0.99 ** 2) + 1e-8)
    np.testing.assert_allclose(param.data, after2, rtol=1e-13)


def test_adamw_decouples_weight_decay():
    adam_param, adamw_param = nn.Parameter(np.array([2.0])), nn.Parameter(np.array([2.0]))
    run(optim.AdamW([adamw_param], lr=0.1, weight_decay=0.5), [adamw_param], [[np.array([1.0])]])
    run(optim.Adam([adam_param], lr=0.1, weight_decay=0.5), [adam_param], [[np.array([1.0])]])
    np.testing.assert_allclose(adamw_param.data, 2.0 * (1 - 0.1 * 0.5) - 0.1, rtol=1e-7)
    np.testing.assert_allclose(adam_param.data, 2.0 - 0.1, rtol=1e-7)  # decay folded into the gradient


# ------------------------------------------------------------------ parity with torch.optim
TORCH_CASES = {
    "sgd": (optim.SGD, "SGD", dict(lr=0.1)),
    "sgd_momentum_dampening_decay": (optim.SGD, "SGD", dict(lr=0.05, momentum=0.9, dampening=0.1,
                                                            weight_decay=0.01)),
    "sgd_nesterov": (optim.SGD, "SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    "sgd_maximize": (optim.SGD, "SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    "adam": (optim.Adam, "Adam", dict(lr=0.01)),
    "adam_decay_amsgrad": (optim.Adam, "Adam", dict(lr=0.02, betas=(0.8, 0.9), weight_decay=5e-4, amsgrad=True)),
    "adamw": (optim.AdamW, "AdamW", dict(lr=0.01)),
    "adamw_amsgrad": (optim.AdamW, "AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
}


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch_optim(rng, name):
    torch = pytest.importorskip("torch")
    ours_class, torch_name, options = TORCH_CASES[name]
    params = make_params(rng)
    tensors = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    grads = gradient_sequence(rng, params, 6)
    run(ours_class(params, **options), params, grads)
    theirs = getattr(torch.optim, torch_name)(tensors, **options)
    for step_grads in grads:
        theirs.zero_grad()
        for tensor, grad in zip(tensors, step_grads):
            tensor.grad = torch.tensor(grad)
        theirs.step()
    for param, tensor in zip(params, tensors):
        np.testing.assert_allclose(param.data, tensor.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_float32_parameters_stay_float32(rng):
    params = make_params(rng, np.float32)
    run(optim.Adam(params, lr=0.01, weight_decay=0.1), params, gradient_sequence(rng, params, 2))
    assert all(p.dtype == np.float32 for p in params)


# ------------------------------------------------------------------ groups, state, scheduler
def test_weight_decay_on_one_group_only(rng):
    first, second = nn.Linear(4, 3, rng=0, dtype=np.float64), nn.Linear(3, 2, rng=1, dtype=np.float64)
    optimizer = optim.SGD([{"params": first.parameters(), "weight_decay": 0.5}, {"params": second.parameters()}],
                          lr=0.1)
    assert optimizer.param_groups[0]["weight_decay"] == 0.5 and optimizer.param_groups[1]["weight_decay"] == 0.0
    before_first, before_second = first.weight.data.copy(), second.weight.data.copy()
    optimizer.step()  # zero gradients: only the decayed group moves
    np.testing.assert_allclose(first.weight.data, before_first * (1 - 0.1 * 0.5))
    np.testing.assert_array_equal(second.weight.data, before_second)


def test_frozen_parameters_are_skipped(rng):
    params = make_params(rng)
    params[0].requires_grad = False
    before = params[0].data.copy()
    run(optim.Adam(params, lr=0.1), params, gradient_sequence(rng, params, 2))
    np.testing.assert_array_equal(params[0].data, before)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.Adam(p, lr=0.01, amsgrad=True)])
def test_state_dict_round_trip_resumes_identically(rng, make):
    params = make_params(rng)
    grads = gradient_sequence(rng, params, 6)
    reference = [nn.Parameter(p.data.copy()) for p in params]
    run(make(reference), reference, grads)

    optimizer = make(params)
    run(optimizer, params, grads[:3])
    state = optimizer.state_dict()
    assert set(state) == {"state", "param_groups"} and state["param_groups"][0]["params"] == [0, 1]
    resumed_params = [nn.Parameter(p.data.copy()) for p in params]
    resumed = make(resumed_params)
    resumed.load_state_dict(state)
    run(resumed, resumed_params, grads[3:])
    for param, expected in zip(resumed_params, reference):
        np.testing.assert_array_equal(param.data, expected.data)
    # The saved state is a copy: stepping the original does not change it.
    saved = {k: {n: np.copy(v) for n, v in s.items()} for k, s in state["state"].items()}
    run(optimizer, params, grads[3:4])
    for key, values in saved.items():
        for name, value in values.items():
            np.testing.assert_array_equal(state["state"][key][name], value)


def test_load_state_dict_checks_the_groups(rng):
    optimizer = optim.SGD(make_params(rng), lr=0.1, momentum=0.9)
    other = optim.SGD(make_params(rng)[:1], lr=0.1)
    with pytest.raises(ValueError, match="parameters"):
        other.load_state_dict(optimizer.state_dict())


def test_step_lr_halves_every_n_epochs(rng):
    optimizer = optim.Adam([{"params": make_params(rng)}, {"params": make_params(rng), "lr": 0.1}], lr=0.01)
    scheduler = optim.StepLR(optimizer, step_size=3, gamma=0.5)
    rates = []
    for _ in range(7):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr())
    assert [r[0] for r in rates] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.005, 0.0025, 0.0025])
    assert [r[1] for r in rates] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])
    assert scheduler.base_lrs == [0.01, 0.1]
    state = scheduler.state_dict()
    fresh = optim.StepLR(optimizer, step_size=1)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 7 and fresh.step_size == 3


def test_step_lr_matches_torch():
    torch = pytest.importorskip("torch")
    ours = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.2)
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    ours_scheduler, theirs_scheduler = optim.StepLR(ours, 2, 0.5), torch.optim.lr_scheduler.StepLR(theirs, 2, 0.5)
    for _ in range(6):
        ours.step()
        theirs.step()
        ours_scheduler.step()
        theirs_scheduler.step()
        assert ours_scheduler.get_last_lr() == pytest.approx(theirs_scheduler.get_last_lr(), rel=1e-15)


def test_bad_arguments(rng):
    params = make_params(rng)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr must be"):
        optim.SGD(params, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas\\[1\\]"):
        optim.Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="weight_decay"):
        optim.AdamW(params, weight_decay=-0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": params}, {"params": params[:1]}], lr=0.1)
    with pytest.raises(TypeError, match="module.parameters"):
        optim.SGD(nn.Linear(2, 2), lr=0.1)
    with pytest.raises(TypeError, match=r"params\[0\] must be a fastgnn.nn.Parameter"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="step_size"):
        optim.StepLR(optim.SGD(params, lr=0.1), 0)
