"""Packaging: the license, citation and changelog files, what the sdist and the wheel carry, and no text
naming a folder outside the repository or an issue number.

The cheap checks read the repository's files; the slow one builds the wheel and checks what it ships:
no C or Cython sources, no benchmark peers, no debug info naming the build machine, no text naming the
checkout's folders or an issue number."""
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

from fixture_data import RAW_CORA, RAW_MUTAG

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = pathlib.Path(__file__).resolve().parents[2]
KERNELS = REPO / "src" / "fastgnn" / "_kernels"
ISSUE_NUMBER = re.compile(r"\bissues? #?\d+", re.I)


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def manifest_lines():
    lines = (REPO / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines if line.strip() and not line.startswith("#")]


def test_license_file_and_spdx_expression():
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License") and "the fastgnn developers" in text
    project = pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"   # an SPDX string, not the deprecated table
    assert "LICENSE" in project["license-files"]
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))   # SPDX supersedes them


def test_citation_and_changelog_name_this_version():
    version = pyproject()["project"]["version"]
    citation = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(r"^cff-version: 1\.2\.0$", citation, re.M)
    assert re.search(rf'^version: "?{re.escape(version)}"?$', citation, re.M)
    assert re.search(r"^license: BSD-3-Clause$", citation, re.M)
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## Unreleased" in changelog and re.search(rf"^## \[?{re.escape(version)}\]?", changelog, re.M)


def test_wheel_excludes_build_inputs():
    excluded = pyproject()["tool"]["setuptools"]["exclude-package-data"]["fastgnn._kernels"]
    # no .pxd either: they name csrc's headers, which are not installed
    assert {"*.c", "*.pyx", "*.pxd", "*.tp", "*.html"} <= set(excluded)


def test_sdist_is_whole_and_carries_no_build_products():
    lines = manifest_lines()
    assert ["graft", "tests"] in lines and not [line for line in lines if "bench" in " ".join(line)]
    included = {word for line in lines if line[0] == "include" for word in line[1:]}
    assert {"LICENSE", "CHANGELOG.md", "CITATION.cff", "README.md"} <= included
    excluded = {line[1] for line in lines if line[0] == "exclude"}
    assert {f"src/fastgnn/_kernels/{path.name[: -len('.tp')]}" for path in KERNELS.glob("*.tp")} <= excluded
    assert ["recursive-exclude", "src/fastgnn/_kernels", "*.c"] in lines
    for name in ("conftest.py", "graph_cases.py", "fixture_data.py"):
        assert (REPO / "tests" / name).is_file()


def test_test_fixtures_are_in_the_repository():
    assert sorted(path.name for path in RAW_CORA.iterdir() if path.name.startswith("ind.")) == sorted(
        f"ind.cora.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))
    assert len(list(RAW_MUTAG.glob("MUTAG_*.txt"))) == 5
    assert REPO in RAW_CORA.resolve().parents


@pytest.mark.parametrize("name", ["README.md", "CHANGELOG.md", "CITATION.cff"])
def test_user_facing_text_names_no_folder_outside_the_repository(name):
    # README.md is the package's long description: it lands in the wheel's METADATA.
    text = (REPO / name).read_text(encoding="utf-8")
    assert "../" not in text and "..\\" not in text
    assert not re.search(r"(?<![\w.])/(work|tmp|home|root|Users)/", text)
    assert not ISSUE_NUMBER.search(text)


def test_package_and_benchmarks_name_no_issue_number():
    files = [*(REPO / "src" / "fastgnn").rglob("*.py"), *(REPO / "bench").glob("*.py")]
    assert files
    found = [f"{path.relative_to(REPO)}: {match.group()}" for path in files
             for match in [ISSUE_NUMBER.search(path.read_text(encoding="utf-8"))] if match]
    assert not found


def check_wheel(wheel):
    """Assert what a built wheel ships: the package, its license, stripped extensions, nothing of the build."""
    parents = [str(parent) for parent in REPO.parents if str(parent) not in ("/", "/tmp")] + [str(REPO)]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        # cli/bench.py times fastgnn alone; the peer benchmarks live in the repository's bench/ folder
        unwanted = [n for n in names if n.endswith((".c", ".pyx", ".pxd", ".tp", ".html")) or n.startswith("bench/")
                    or "benchmark" in n]
        assert not unwanted, unwanted
        assert [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert len([n for n in names if n.endswith(".so")]) >= 8
        for name in names:
            data = archive.read(name)
            for parent in parents + [".venv", "site-packages/fastgnn"]:
                assert parent.encode() not in data or name.endswith("RECORD"), f"{name} names {parent}"
            if name.endswith((".py", ".txt", "METADATA")):
                assert not ISSUE_NUMBER.search(data.decode("utf-8")), f"{name} names an issue number"
            if name.endswith("METADATA"):
                assert b"../" not in data and b"License-Expression: BSD-3-Clause" in data
            if name.endswith(".so"):
                assert b".debug_" not in data, f"{name} has debug sections"


@pytest.mark.slow
def test_wheel_contents(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel, = tmp_path.glob("fastgnn-*.whl")
    check_wheel(wheel)


def test_tests_read_no_folder_beside_the_repository():
    # the data they need is in tests/fixtures (see tests/fixture_data.py), so a clone or an sdist runs them all
    outside = re.compile(r"""REPO(_ROOT)?\.parent\b|\.parents\[\d\]\.parent\b"""   # the folder holding the checkout
                         r"""|["']\.\.["']\s*[,/)]|["']shared["']\s*[,/]""")             # a .. or shared path part
    found = [f"{path.relative_to(REPO)}:{number}" for path in sorted((REPO / "tests").rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if outside.search(line)]
    assert not found, found
