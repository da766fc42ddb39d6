"""Build the copy of Cora shipped in the package: src/fastgnn/datasets/_embedded/cora.npz.

Usage: python scripts/build_embedded_cora.py [RAW_FOLDER]

RAW_FOLDER holds the raw Planetoid files ind.cora.* (default: the test fixtures,
tests/fixtures/planetoid/cora). The script reads them with fastgnn's Planetoid loader, writes the
compact file, reads it back and checks it is identical to the raw load.
"""
import argparse
import os
import sys

import numpy as np

from fastgnn.datasets.embedded import load_compact, save_compact
from fastgnn.datasets.planetoid import Planetoid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RAW = os.path.join(REPO, "tests", "fixtures", "planetoid", "cora")
OUTPUT = os.path.join(REPO, "src", "fastgnn", "datasets", "_embedded", "cora.npz")
ATTRIBUTES = ("x", "y", "train_mask", "val_mask", "test_mask")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_folder", nargs="?", default=DEFAULT_RAW, help="folder of the ind.cora.* files")
    parser.add_argument("--output", default=OUTPUT, help="path of the .npz to write")
    args = parser.parse_args(argv)

    raw = Planetoid(args.raw_folder, "cora")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    save_compact(raw, args.output)
    embedded = load_compact(args.output)
    for name in ATTRIBUTES:
        if not np.array_equal(getattr(raw, name), getattr(embedded, name)):
            sys.exit(f"round trip changed {name}")
    if raw.graph != embedded.graph or raw.num_classes != embedded.num_classes:
        sys.exit("round trip changed the graph or the class count")
    print(f"wrote {args.output}: {os.path.getsize(args.output):,} bytes; {raw}")


if __name__ == "__main__":
    main()
