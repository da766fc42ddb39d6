"""The wheel ships the package and nothing of its build: no C or Cython sources, no benchmark peers,
no debug info naming the build machine, no text naming the checkout's folders or an issue number."""
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contents(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel, = tmp_path.glob("fastgnn-*.whl")
    parents = [str(parent) for parent in REPO.parents if str(parent) not in ("/", "/tmp")] + [str(REPO)]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        # cli/bench.py times fastgnn alone; the peer benchmarks live in the repository's bench/ folder
        assert not [n for n in names if n.endswith((".c", ".pyx", ".tp")) or n.startswith("bench/") or "benchmark" in n]
        for name in names:
            data = archive.read(name)
            for parent in parents + [".venv", "site-packages/fastgnn"]:
                assert parent.encode() not in data or name.endswith("RECORD"), f"{name} names {parent}"
            if name.endswith((".py", ".txt", "METADATA")):
                assert not re.search(rb"\bissue #?\d+", data, re.I), f"{name} names an issue number"
