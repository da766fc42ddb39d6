"""The examples of docs/bring-your-own-graph.md run, those needing an optional library too when it is installed.

The guide's ```python blocks need only fastgnn's own dependencies (the guide test of docs/ runs
them); its ```py blocks start with ``# needs: module[, module]`` and are added, in their place, when
every module named imports here.
"""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "bring-your-own-graph.md"
_BLOCK = re.compile(r"```(python|py)\n(.*?)```", re.S)
_NEEDS = re.compile(r"# needs: *(.*)")


def runnable_blocks(text):
    """``(blocks to run, modules missing)``: every python block, and each py block whose needs are met."""
    blocks, missing = [], set()
    for kind, body in _BLOCK.findall(text):
        if kind == "py":
            match = _NEEDS.match(body)
            assert match, f"a ```py block of {GUIDE.name} must start with '# needs: module': {body[:80]!r}"
            absent = {name.strip() for name in match.group(1).split(",")
                      if importlib.util.find_spec(name.strip()) is None}
            if absent:
                missing |= absent
                continue
        blocks.append(body)
    return blocks, missing


def test_guide_examples_run():
    blocks, missing = runnable_blocks(GUIDE.read_text())
    result = subprocess.run([sys.executable, "-c", "\n\n".join(blocks)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    if missing:  # reported, not failed: the blocks that ran passed
        print(f"skipped the blocks needing {sorted(missing)}")


def test_every_optional_block_names_its_needs():
    kinds = [kind for kind, _ in _BLOCK.findall(GUIDE.read_text())]
    assert "python" in kinds and "py" in kinds
    runnable_blocks(GUIDE.read_text())
