"""The Python examples of the guides in docs/ run as written (each guide in a fresh interpreter)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = ["extending.md", "training.md", "performance.md", "datasets-on-disk.md", "distributed.md"]


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_examples_run(guide):
    text = (DOCS / guide).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, f"{guide} has no Python example"
    script = "\n\n".join(blocks)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{guide}:\n{result.stderr[-4000:]}"
