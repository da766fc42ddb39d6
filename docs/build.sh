#!/usr/bin/env bash
# Build the documentation site with warnings as errors, then run the Examples sections of the
# docstrings as doctests. Needs the docs extras (pip install -e ".[docs]") and fastgnn's kernels
# built (an editable install, or `python setup.py build_ext --inplace`). The guides' Python blocks
# run in the test suite (tests/docs/test_doc_examples.py). Each step is bounded by 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

bounded=()
if command -v timeout >/dev/null; then
    bounded=(timeout 600)
fi
"${bounded[@]}" python -m sphinx -W --keep-going -b html docs docs/_build/html
"${bounded[@]}" python -m pytest -q --doctest-modules src/fastgnn
