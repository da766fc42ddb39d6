"""Paths of the small real datasets kept in ``tests/fixtures`` (their sources: ``tests/fixtures/README.md``).

The files ship with the repository and the sdist, so the tests that read them always run.
"""
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLANETOID_ROOT = FIXTURES / "planetoid"   # raw Planetoid files, ind.<name>.*
RAW_CORA = PLANETOID_ROOT / "cora"
TU_ROOT = FIXTURES / "tu"                 # TU text files, <NAME>/<NAME>_*.txt
RAW_MUTAG = TU_ROOT / "MUTAG"
