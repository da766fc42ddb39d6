"""The Python examples of the guides in docs/ run as written (each guide in a fresh interpreter).

Every page under docs/ with a ```python block is a guide; a ```py block is shown, not run (it needs
MPI, PyTorch or files the reader has).
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
OWN_TEST = {"bring-your-own-graph.md"}      # tests/docs/test_bring_your_own_graph.py runs it, optional blocks too
GUIDES = sorted(str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md")
                if "_build" not in page.parts and "```python" in page.read_text()
                and str(page.relative_to(DOCS)) not in OWN_TEST)


def test_guides_are_found():
    assert {"training.md", "getting-started.md", "tasks/node-classification.md"} <= set(GUIDES)


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_examples_run(guide):
    text = (DOCS / guide).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, f"{guide} has no Python example"
    script = "\n\n".join(blocks)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{guide}:\n{result.stderr[-4000:]}"
