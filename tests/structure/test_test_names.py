"""Test modules need unique basenames: the test folders are not packages, so pytest imports each
``test_*.py`` under its bare name and refuses a second file of the same name."""
import collections
import pathlib

TESTS = pathlib.Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    where = collections.defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        where[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not clashes, f"test modules sharing a basename (rename one): {clashes}"
