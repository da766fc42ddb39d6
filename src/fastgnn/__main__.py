"""``python -m fastgnn``: see :mod:`fastgnn.cli`."""
import sys

from fastgnn.cli import main

if __name__ == "__main__":
    sys.exit(main())
