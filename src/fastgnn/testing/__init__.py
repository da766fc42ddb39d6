"""Helpers for testing fastgnn and code built on it.

- :func:`check_grad` and :func:`check_module_grad` compare hand-written
  gradients with central finite differences (:mod:`fastgnn.testing.gradients`);
- :mod:`fastgnn.testing.conformance` (``conformance.run(ops)``) checks any
  implementation of the ops against the NumPy reference.
"""
from fastgnn.testing import conformance
from fastgnn.testing.gradients import check_grad, check_module_grad, numerical_grad

__all__ = ["numerical_grad", "check_grad", "check_module_grad", "conformance"]
