#!/usr/bin/env python
"""Fused dense steps against the NumPy sequence: ``python bench/dense_steps.py [--rounds R]``.

What is measured, on a 100,000 x 64 and a 2,708 x 16 float32 array
(``z``, a convolution's output before its bias), with 1 and 2 threads:

* **numpy**: what ``GNNStack`` does today: ``z += bias`` (as the
  convolution adds its bias), ``nn.ReLU`` then ``nn.Dropout(p)`` forward;
  backward ``Dropout.backward``, ``ReLU.backward`` and ``grad.sum(axis=0)``
  (the bias gradient).
* **fused**: ``fastgnn.ops.bias_act_dropout(z, bias, 'relu', p=p, ...,
  inplace=True)`` and ``bias_act_dropout_backward(grad, state)``, and the
  backward in place (``out=grad``, as a training loop can do with the
  gradient temporary of the layer above: no fresh N x d array, whose first
  touch costs page faults on the large array).
* **kernel only** (the small array): the compiled calls without the
  Python-side validation, which gives the per-call overhead of the public
  functions.

``z`` is restored (untimed) before each forward, since both sides write
over it. The implementations run in interleaved rounds (one timed call of
each in turn, many calls per round on the small array), and the median per
call is reported, with the ratio numpy / fused (> 1: fused is faster).
"""
import argparse
import time

import numpy as np

from fastgnn._kernels import dense as _K
from fastgnn.nn.activation import ReLU
from fastgnn.nn.dropout import Dropout
from fastgnn.ops import bias_act_dropout, bias_act_dropout_backward

SHAPES = ((100_000, 64), (2_708, 16))


def numpy_forward(z, bias, relu, dropout):
    z += bias
    return dropout.forward(relu.forward(z))


def numpy_backward(grad, relu, dropout):
    grad_z = relu.backward(dropout.backward(grad))
    return grad_z, grad_z.sum(axis=0)


def run(shape, p, threads, rounds, calls):
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal(shape, dtype=np.float32)
    bias = rng.standard_normal(shape[1], dtype=np.float32)
    grad = rng.standard_normal(shape, dtype=np.float32)
    z = z0.copy()
    relu, dropout = ReLU(), Dropout(p, rng=0)
    names = ("numpy fwd", "fused fwd", "numpy bwd", "fused bwd", "fused bwd inplace", "kernel fwd", "kernel bwd")
    grad_work = np.empty_like(grad)
    times = {name: [] for name in names}
    # What the kernel-only calls need, prepared once as the public functions would.
    out_k = np.empty_like(z)
    partials = np.empty((-(-shape[0] // _K.BLOCK_ROWS), shape[1]))
    grad_bias_k = np.empty(shape[1], dtype=np.float32)
    grad_z_k = np.empty_like(z)
    scale = float(np.float32(1 / (1 - p)))
    threshold = round(p * 2 ** 32)

    def timed(name, fn):
        start = time.perf_counter()
        result = fn()
        times[name].append(time.perf_counter() - start)
        return result

    for round_ in range(rounds + 1):  # the first round warms up and is dropped
        for step in range(calls):
            np.copyto(z, z0)
            timed("numpy fwd", lambda: numpy_forward(z, bias, relu, dropout))
            timed("numpy bwd", lambda: numpy_backward(grad, relu, dropout))
            np.copyto(z, z0)
            _, state = timed("fused fwd", lambda: bias_act_dropout(z, bias, "relu", p=p, seed=1, step=step,
                                                                   inplace=True, n_threads=threads))
            timed("fused bwd", lambda: bias_act_dropout_backward(grad, state, n_threads=threads))
            np.copyto(grad_work, grad)
            timed("fused bwd inplace", lambda: bias_act_dropout_backward(grad_work, state, out=grad_work,
                                                                         n_threads=threads))
            if shape[0] * shape[1] < 1 << 20:  # the kernel alone, where the call overhead matters
                timed("kernel fwd", lambda: _K.forward(out_k, z0, bias, None, 1, 0.01, 1.0, True, threshold, 1,
                                                       step, scale, 1))
                timed("kernel bwd", lambda: _K.backward(grad_z_k, grad, out_k, grad_bias_k, partials, 1, 0.01, 1.0,
                                                        True, threshold, 1, step, scale, 1))
        if round_ == 0:
            for name in names:
                times[name].clear()
    return {name: float(np.median(values)) for name, values in times.items() if values}


def add_arguments(parser):
    """The options of this benchmark (the interface of ``bench/run.py``'s suites)."""
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (medians over them)")
    parser.add_argument("--p", type=float, default=0.5, help="dropout probability")
    return parser


def run_from_args(args):
    for shape in SHAPES:
        calls = 1 if shape[0] * shape[1] >= 1 << 20 else 50
        for threads in (1, 2):
            t = run(shape, args.p, threads, args.rounds, calls)
            line = (f"{shape[0]:>7} x {shape[1]:<3} threads={threads}  "
                    f"forward: numpy {t['numpy fwd'] * 1e6:9.1f} us  fused {t['fused fwd'] * 1e6:9.1f} us  "
                    f"ratio {t['numpy fwd'] / t['fused fwd']:5.2f}   "
                    f"backward: numpy {t['numpy bwd'] * 1e6:9.1f} us  fused {t['fused bwd'] * 1e6:9.1f} us  "
                    f"ratio {t['numpy bwd'] / t['fused bwd']:5.2f}   "
                    f"(in place, out=grad: {t['fused bwd inplace'] * 1e6:9.1f} us, "
                    f"ratio {t['numpy bwd'] / t['fused bwd inplace']:5.2f})")
            print(line)
            if "kernel fwd" in t and threads == 1:
                print(f"{'':>17}per-call overhead of the public functions: forward "
                      f"{(t['fused fwd'] - t['kernel fwd']) * 1e6:5.1f} us (kernel {t['kernel fwd'] * 1e6:.1f} us), "
                      f"backward {(t['fused bwd'] - t['kernel bwd']) * 1e6:5.1f} us "
                      f"(kernel {t['kernel bwd'] * 1e6:.1f} us)")
    return 0


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
