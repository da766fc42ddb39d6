import pathlib
import sys

# the helpers beside the tests (cases, helpers) import as top-level modules, as in the MPI job
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
