"""The API reference (docs/api/*.rst) lists every name of every public package's ``__all__``.

The pages are read as text (no Sphinx needed): each ``autosummary`` entry is resolved against the
``currentmodule`` (or ``automodule``) in force where it stands, as Sphinx resolves it, and must
name the very object that the package exports. A submodule in ``__all__`` is listed by the page
that documents it (``.. automodule:: package.submodule``).
"""
import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[2] / "docs" / "api"

PACKAGES = ["fastgnn", "fastgnn.graph", "fastgnn.ops", "fastgnn.nn", "fastgnn.models", "fastgnn.train",
            "fastgnn.data", "fastgnn.datasets", "fastgnn.interop", "fastgnn.interop.torch",
            "fastgnn.interop.scipy", "fastgnn.interop.networkx", "fastgnn.interop.pyg", "fastgnn.interop.dgl",
            "fastgnn.interop.node_data", "fastgnn.testing", "fastgnn.distributed", "fastgnn.metrics",
            "fastgnn.optim", "fastgnn.losses", "fastgnn.plotting", "fastgnn.bench", "fastgnn.cli"]
NEEDS = {"fastgnn.interop.torch": "torch"}

_MODULE = re.compile(r"^\.\. (?:currentmodule|automodule|module):: *(\S+)")
_AUTOSUMMARY = re.compile(r"^\.\. autosummary::")


def autosummary_entries(text):
    """Yield ``(current_module, entry)`` for each autosummary entry of an .rst text, and
    ``(package, submodule)`` for each ``automodule`` of a submodule."""
    module, in_table = None, False
    for line in text.splitlines():
        if match := _MODULE.match(line):
            module, in_table = match.group(1), False
            if line.startswith(".. automodule::") and "." in module:
                yield module.rsplit(".", 1)[0], module.rsplit(".", 1)[1]
        elif _AUTOSUMMARY.match(line):
            in_table = True
        elif in_table and line.strip() and not line.startswith((" ", "\t")):
            in_table = False
        elif in_table and line.strip() and not line.strip().startswith(":"):
            yield module, line.strip().lstrip("~")


def resolve(name):
    """The object a dotted name names, or raise LookupError: an attribute of its parent wins over a
    submodule of the same name (``fastgnn.graph.reorder`` is the function), as in Sphinx."""
    parts = name.split(".")
    try:
        obj = importlib.import_module(parts[0])
        for depth, part in enumerate(parts[1:], start=2):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                obj = importlib.import_module(".".join(parts[:depth]))
    except ImportError as error:
        if error.name in NEEDS.values():
            raise
        raise LookupError(name) from None
    return obj


def listed_objects():
    """``{current_module: [(entry, object), ...]}`` over every page; an entry resolves as Sphinx does,
    relative to its current module first."""
    listed = {}
    for page in sorted(API.glob("*.rst")):
        for module, entry in autosummary_entries(page.read_text()):
            candidates = ([f"{module}.{entry}"] if module else []) + [entry]
            for candidate in candidates:
                try:
                    obj = resolve(candidate)
                except LookupError:
                    continue
                except ImportError:         # an optional dependency is missing: its page is not checked
                    break
                listed.setdefault(module, []).append((entry, obj))
                break
            else:
                raise AssertionError(f"{page.name}: {entry!r} (under {module}) names nothing")
    return listed


@pytest.fixture(scope="module")
def listed():
    return listed_objects()


def test_parser_reads_tables():
    text = (".. currentmodule:: fastgnn.ops\n\nTitle\n-----\n\n.. autosummary::\n   :toctree: generated\n\n"
            "   aggregate\n   ~sparse_matmul\n\nAfter the table\n")
    assert list(autosummary_entries(text)) == [("fastgnn.ops", "aggregate"), ("fastgnn.ops", "sparse_matmul")]
    assert list(autosummary_entries(".. automodule:: fastgnn.interop.scipy\n")) == [("fastgnn.interop", "scipy")]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_in_the_reference(package, listed):
    if package in NEEDS:
        pytest.importorskip(NEEDS[package], reason=f"{package} needs {NEEDS[package]}")
    module = importlib.import_module(package)
    on_page = listed.get(package, [])
    missing = []
    for name in module.__all__:
        try:
            exported = getattr(module, name)
        except ImportError as error:        # a lazily imported submodule whose optional dependency is missing
            if error.name in NEEDS.values():
                continue
            raise
        if not any(entry.rsplit(".", 1)[-1] == name and obj is exported for entry, obj in on_page):
            missing.append(name)
    assert not missing, (f"docs/api: {package}.__all__ names {missing} that the API reference does not list; "
                         f"add them to the autosummary table of the page with '.. currentmodule:: {package}'")
