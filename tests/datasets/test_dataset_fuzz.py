"""Fuzz the dataset readers: corrupt files give a clean refusal, never a crash, a hang or a huge allocation.

Inputs come from seeded generators (reproducible): crafted pickles whose sparse internals are
inconsistent (indptr too short or not monotone, indices out of range, data of another length, huge
or malformed shapes, wrong dtypes), opcode streams that claim huge sizes, nest deeply, hash
slowly or name globals outside the format, and random opcode soup; single-byte corruptions and
truncations of the real Cora files and of the MUTAG text files. Every load runs in a child process
with capped memory (see ``_isolated``), so a segfault or a MemoryError is a clean test failure.
An outcome is clean when the load succeeds (and what it returns is consistent), or raises an
OSError, or a plain ValueError whose message names the file.

The number of cases scales with the environment variable ``FASTGNN_FUZZ_SCALE`` (an integer,
default 1; e.g. ``FASTGNN_FUZZ_SCALE=20`` for a longer local run).
"""
import collections
import os
import pickle

import numpy as np
import scipy.sparse as sp

from _isolated import is_clean, run_isolated
from fixture_data import RAW_CORA as CORA_RAW, RAW_MUTAG as MUTAG_RAW

CORA_FILES = [f"ind.cora.{s}" for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")]
MUTAG_FILES = [f"MUTAG_{s}.txt" for s in ("A", "graph_indicator", "graph_labels", "node_labels", "edge_labels")]


def _scale():
    text = os.environ.get("FASTGNN_FUZZ_SCALE", "1")
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"FASTGNN_FUZZ_SCALE must be a positive integer, got {text!r}")
    return int(text)


SCALE = _scale()


def _check(outcomes, specs, file_hint, describe):
    """Fail with the first unclean outcomes; return the count of each outcome type."""
    bad = [(describe(spec), outcome) for spec, outcome in zip(specs, outcomes) if not is_clean(outcome, file_hint)]
    report = "\n".join(f"{case}: {o['type']}: {o['message'][:300]}" for case, o in bad[:10])
    assert not bad, f"{len(bad)} of {len(specs)} cases were not refused cleanly:\n{report}"
    return collections.Counter(o["type"] for o in outcomes)


# ---------------------------------------------------------------------- crafted pickles
ROWS = {"x": 6, "tx": 7, "allx": 508, "y": 6, "ty": 7, "ally": 508}  # the slots of the tiny folder
FEATURES, CLASSES = 5, 3


def _write_tiny_planetoid(folder):
    """A valid Cora-like folder: 508 labelled nodes (6 for training), 7 test nodes, a ring graph."""
    rng = np.random.default_rng(0)
    allx = sp.csr_matrix((rng.random((ROWS["allx"], FEATURES)) < 0.4).astype(np.float32))
    tx = sp.csr_matrix((rng.random((ROWS["tx"], FEATURES)) < 0.4).astype(np.float32))
    ally = np.eye(CLASSES, dtype=np.int32)[rng.integers(0, CLASSES, ROWS["allx"])]
    ty = np.eye(CLASSES, dtype=np.int32)[rng.integers(0, CLASSES, ROWS["tx"])]
    num_nodes = ROWS["allx"] + ROWS["tx"]
    graph = collections.defaultdict(list, {n: [(n + 1) % num_nodes, (n - 1) % num_nodes] for n in range(num_nodes)})
    pieces = {"x": allx[:ROWS["x"]], "tx": tx, "allx": allx, "y": ally[:ROWS["y"]], "ty": ty, "ally": ally,
              "graph": graph}
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, value in pieces.items():
        (folder / f"ind.cora.{suffix}").write_bytes(pickle.dumps(value, protocol=2))
    (folder / "ind.cora.test.index").write_text("\n".join(map(str, range(ROWS["allx"], num_nodes))) + "\n")


class _Reduce:
    """Pickles as ``function(*args)`` then BUILD ``state``: any array state, consistent or not."""

    def __init__(self, function, args, state=None):
        self.reduced = (function, args) if state is None else (function, args, state)

    def __reduce__(self):
        return self.reduced


try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct


def _raw_array(shape, dtype, raw, fortran=False):
    return _Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, np.dtype(dtype), fortran, raw))


_HUGE = [2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 62, 2 ** 63 - 1, 2 ** 64, -1, -(2 ** 31)]


def _corrupt_sparse(rng, rows):
    """A pickled CSR/CSC/COO matrix for a slot of ``rows`` rows, with one internal made inconsistent (or not)."""
    cols = FEATURES
    dense = (rng.random((rows, cols)) < 0.4).astype(np.float32)
    fmt = ["csr", "csr", "csc", "coo"][rng.integers(4)]
    matrix = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix}[fmt](dense)
    what = rng.integers(12)
    if fmt == "coo":
        row, col = matrix.row.copy(), matrix.col.copy()
        if what < 4 and row.size:
            (row if what % 2 else col)[rng.integers(row.size)] = _HUGE[rng.integers(len(_HUGE))] % 2 ** 31 * (
                -1 if what == 2 else 1)
        elif what < 6:
            row = row[:-1]
        matrix.row, matrix.col = row, col
        if hasattr(matrix, "coords"):
            matrix.coords = (row, col)
    else:
        indptr, indices = matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64)
        if what == 0:
            indptr = indptr[:-1 - int(rng.integers(0, 3))]
        elif what == 1:
            indptr = np.append(indptr, indptr[-1])
        elif what == 2 and indptr.size > 2:
            k = int(rng.integers(1, indptr.size - 1))
            indptr[k] = indptr[-1] + int(rng.integers(1, 5))  # not monotone
        elif what == 3:
            indptr[0] = int(rng.integers(1, 4))
        elif what == 4:
            indptr[-1] += int(rng.choice([-2, -1, 1, 1000, 10 ** 6]))
        elif what == 5 and indices.size:
            indices[rng.integers(indices.size)] = [-1, cols, cols + 7, 2 ** 31 - 1, -(2 ** 62)][rng.integers(5)]
        elif what == 6:
            indices = indices.astype([np.float64, np.bool_, np.uint64, np.int8][rng.integers(4)])
            if indices.dtype == np.uint64 and indices.size:
                indices[0] = np.iinfo(np.uint64).max
        elif what == 7:
            matrix.data = matrix.data[: int(rng.integers(0, max(1, matrix.data.size)))]
        elif what == 8:
            matrix.data = matrix.data.astype([np.complex64, np.int8, np.bool_, np.float16, object][rng.integers(5)])
        matrix.indptr, matrix.indices = indptr, indices
    if what == 9:
        matrix._shape = [(rows, _HUGE[rng.integers(len(_HUGE))]), (_HUGE[rng.integers(len(_HUGE))], cols),
                         (rows, -cols), (rows, float(cols)), (rows, cols, 1), (rows,), None][rng.integers(7)]
    elif what == 10:
        keys = sorted(matrix.__dict__)
        del matrix.__dict__[keys[rng.integers(len(keys))]]
    elif what == 11:  # big columns everywhere is for another case; one big slot is inconsistent
        matrix._shape = (rows, cols * int(rng.integers(2, 2 ** 20)))
    return pickle.dumps(matrix, protocol=2)


def _corrupt_dense(rng, rows):
    cols = CLASSES
    what = rng.integers(6)
    dtype, shape = np.dtype(np.int32), (rows, cols)
    raw = np.eye(cols, dtype=np.int32)[rng.integers(0, cols, rows)].tobytes()
    if what == 0:
        raw = raw[: int(rng.integers(0, len(raw)))]
    elif what == 1:
        shape = (rows, _HUGE[rng.integers(len(_HUGE))])
    elif what == 2:
        shape = (rows * cols,)
    elif what == 3:
        shape = (rows, cols, 1)
    elif what == 4:
        dtype = np.dtype(["U1", "M8[s]", "c8", "V4", "O"][rng.integers(5)])
    elif what == 5:
        raw = list(range(3))  # an object array's state
    return pickle.dumps(_raw_array(shape, dtype, raw, fortran=bool(rng.integers(2))), protocol=2)


def _repeated_work(rng, which):
    """Streams where one long argument, kept in the memo, is worked on again and again (quadratic time)."""
    length, times = int(rng.integers(10_000, 100_000)), int(rng.integers(10_000, 50_000))
    text = b"X" + length.to_bytes(4, "little") + b"1" * length + b"q\x01"
    if which == 0:
        return b"\x80\x02c__builtin__\nfloat\nq\x00" + text + b"h\x00h\x01\x85R0" * times + b"N."
    if which == 1:
        return b"\x80\x02c__builtin__\nstr\nq\x00" + text + b"h\x00h\x01\x85R0" * times + b"N."
    if which == 2:
        items = b"".join(b"U\x01" + bytes([48 + i % 10]) + b"K\x00" for i in range(length // 4))
        return b"\x80\x02cscipy.sparse\ncsr_matrix\n)\x81}q\x01(" + items + b"u0" + b"h\x01b" * times + b"."
    # FRAMEs each claiming all the bytes after them
    return b"\x80\x04" + b"".join(b"\x95" + (9 * (times - 1 - k) + 2).to_bytes(8, "little")
                                   for k in range(times)) + b"N."


def _opcode_craft(rng):
    """Opcode streams that claim huge sizes, nest deeply, hash slowly, or name globals outside the format."""
    n = int(rng.integers(1, 200_000))
    crafts = [
        lambda: b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x00\x01\x85R.",  # bytearray(2**32)
        lambda: b"\x80\x02c__builtin__\nbytes\n\x8a\x05\x00\x00\x00\x00\x01\x85R.",
        lambda: b"\x80\x04\x8e" + (2 ** int(rng.integers(20, 63))).to_bytes(8, "little") + b".",  # BINBYTES8
        lambda: b"\x80\x04\x8d" + (2 ** int(rng.integers(20, 63))).to_bytes(8, "little") + b".",  # BINUNICODE8
        lambda: b"\x80\x02T" + (2 ** 31 - 1).to_bytes(4, "little") + b".",  # BINSTRING
        lambda: b"\x80\x02\x8b" + (2 ** 30).to_bytes(4, "little") + b".",  # LONG4
        lambda: b"\x80\x02}r" + int(rng.integers(2 ** 20, 2 ** 32)).to_bytes(4, "little") + b".",  # huge memo index
        lambda: b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b".",  # lists nested n deep
        lambda: b"\x80\x02" + b"(" * n + b".",
        lambda: b"\x80\x02}K\x00" + b"2\x86" * 64 + b"]s.",  # a tuple key that takes 2**64 steps to hash
        lambda: b"\x80\x02(K\x00" + b"2\x86" * 64 + b"\x91.",  # the same as a frozenset item
        lambda: b"\x80\x02c__builtin__\nset\n(K\x00" + b"2\x86" * 64 + b"\x85\x85R.",
        lambda: b"\x80\x02cposix\nsystem\nU\x04trueq\x00\x85R.",
        lambda: b"\x80\x02c__builtin__\neval\nU\x041+1q\x00\x85R.",
        lambda: b"\x80\x02c__builtin__\ngetattr\n.",
        lambda: b"\x80\x02cnumpy\nload\n.",
        lambda: b"\x80\x02cscipy.sparse\nload_npz\n.",
        lambda: b"\x80\x02cscipy.sparse\nlil_matrix\n)\x81}b.",
        lambda: b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
                b"(K\x01K\x01\x85cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R\x89]K\x05at\x86b.",  # an object array
        lambda: b"\x80\x02\x82\x01.", lambda: b"\x80\x02P1\n.", lambda: b"\x80\x02(i__builtin__\nlist\n.",
        lambda: b"\x80\x06N.", lambda: b"", lambda: b".", lambda: b"\x80\x02N", lambda: b"\x80\x02N..",
        lambda: b"\x80\x02" + bytes(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8)) + b".",  # soup
        *(lambda which=which: _repeated_work(rng, which) for which in range(4)),
    ]
    return crafts[rng.integers(len(crafts))]()


def _graph_craft(rng):
    num_nodes = ROWS["allx"] + ROWS["tx"]
    shared = list(range(int(rng.integers(100, 600))))
    choices = [
        {0.5: [1]}, {True: [1]}, {0: [1.0]}, {0: [False]}, {0: ["3"]}, {0: [None]}, {0: [2 ** 70]}, {-1: [0]},
        {0: [num_nodes]}, {0: 5}, {0: {"a": 1}}, [1, 2], {np.int64(0): [np.int32(1)], np.int64(1): [np.bool_(True)]},
        {node: shared for node in range(len(shared))}, {0: [[1, 2]]}, {(0, 1): [1]}, {0: (1, 2), 1: {0}},
    ]
    return pickle.dumps(choices[rng.integers(len(choices))], protocol=int(rng.integers(2, 6)))


def _crafted_cases(folder, rng, count):
    """``count`` (file, bytes) pairs over the tiny folder's pickles."""
    cases = []
    for _ in range(count):
        kind = rng.integers(6)
        suffix = ["x", "tx", "allx", "y", "ty", "ally"][rng.integers(6)]
        if kind == 0:
            suffix = ["x", "tx", "allx"][rng.integers(3)]
            content = _corrupt_sparse(rng, ROWS[suffix])
        elif kind == 1:
            suffix = ["y", "ty", "ally"][rng.integers(3)]
            content = _corrupt_dense(rng, ROWS[suffix])
        elif kind == 2:
            suffix = ["x", "tx", "allx", "graph"][rng.integers(4)]
            content = _opcode_craft(rng)
        elif kind == 3:
            suffix = "graph"
            content = _graph_craft(rng)
        else:  # a valid pickle, truncated
            suffix = ["x", "tx", "allx", "y", "ty", "ally", "graph"][rng.integers(7)]
            original = (folder / f"ind.cora.{suffix}").read_bytes()
            content = original[: int(rng.integers(0, len(original)))]
        cases.append((f"ind.cora.{suffix}", content))
    return cases


def test_crafted_pickles_are_refused_cleanly(tmp_path):
    source = tmp_path / "tiny"
    _write_tiny_planetoid(source)
    rng = np.random.default_rng(2024)
    specs = []
    for index, (name, content) in enumerate(_crafted_cases(source, rng, 150 * SCALE)):
        replacement = tmp_path / f"case{index}.bin"
        replacement.write_bytes(content)
        specs.append({"loader": "planetoid", "source": str(source), "scratch": str(tmp_path / "scratch"),
                      "name": "cora", "file": name, "replacement": str(replacement)})
    outcomes = run_isolated("load_mutated", specs, timeout=30)
    counts = _check(outcomes, specs, "ind.cora.", lambda s: f"{s['file']} <- {s['replacement']}")
    assert counts["ValueError"] > len(specs) // 2, counts  # the crafts are mostly invalid


def test_wide_feature_files_are_refused_cleanly(tmp_path):
    """Consistent x, tx and allx of 2**k columns: expanded only while the stored values justify it."""
    source = tmp_path / "tiny"
    _write_tiny_planetoid(source)
    specs = []
    for k in (3, 10, 16, 20, 24, 30):
        folder = tmp_path / f"wide{k}"
        folder.mkdir()
        for name in CORA_FILES:
            (folder / name).write_bytes((source / name).read_bytes())
        for suffix in ("x", "tx", "allx"):
            rows = ROWS[suffix]
            matrix = sp.csr_matrix((np.ones(rows, np.float32), np.zeros(rows, np.int32), np.arange(rows + 1)),
                                   shape=(rows, 2 ** k))
            (folder / f"ind.cora.{suffix}").write_bytes(pickle.dumps(matrix, protocol=2))
        specs.append({"folder": str(folder), "name": "cora"})
    outcomes = run_isolated("load_planetoid", specs, timeout=30)
    _check(outcomes, specs, "ind.cora.", lambda s: s["folder"])
    assert [o["type"] for o in outcomes] == ["ok", "ok", "ValueError", "ValueError", "ValueError", "ValueError"]


# ---------------------------------------------------------------------- corrupted copies of real files
_TEXT_BYTES = b"0123456789-+.eE,;\n\r \t\x00naifx\xff\xc3"


def _flips(rng, sources, names, per_file, structural):
    """Single-byte corruptions: half anywhere, half in the first ``structural`` bytes (headers, opcodes)."""
    specs = []
    for name in names:
        size = (sources / name).stat().st_size
        for k in range(per_file):
            limit = size if k % 2 or not structural else min(size, structural)
            offset = int(rng.integers(0, limit))
            original = (sources / name).read_bytes()[offset]
            if structural:
                value = int(rng.integers(0, 255))
                value += value >= original
            else:
                value = _TEXT_BYTES[rng.integers(len(_TEXT_BYTES))]
            specs.append({"file": name, "edits": [[offset, value]]})
    return specs


def _truncations(rng, sources, names, per_file):
    specs = []
    for name in names:
        size = (sources / name).stat().st_size
        for length in {0, 1, size - 1, *map(int, rng.integers(0, size, per_file))}:
            specs.append({"file": name, "truncate": length})
    return specs


def _describe(spec):
    return f"{spec['file']} " + (f"edits {spec['edits']}" if "edits" in spec else f"truncated to {spec['truncate']}")


def test_cora_byte_flips_and_truncations(tmp_path):
    rng = np.random.default_rng(7)
    specs = _flips(rng, CORA_RAW, CORA_FILES, 30 * SCALE, structural=1024)
    specs += _truncations(rng, CORA_RAW, CORA_FILES, 2 * SCALE)
    for spec in specs:
        spec.update(loader="planetoid", source=str(CORA_RAW), scratch=str(tmp_path / "cora"), name="cora")
    outcomes = run_isolated("load_mutated", specs, timeout=60)
    counts = _check(outcomes, specs, "ind.cora.", _describe)
    assert counts["ok"] and counts["ValueError"], counts


def test_mutag_byte_flips_and_truncations(tmp_path):
    rng = np.random.default_rng(11)
    specs = _flips(rng, MUTAG_RAW, MUTAG_FILES, 30 * SCALE, structural=0)
    specs += _truncations(rng, MUTAG_RAW, MUTAG_FILES, 2 * SCALE)
    for spec in specs:
        spec.update(loader="tu", source=str(MUTAG_RAW), scratch=str(tmp_path / "MUTAG"), name="MUTAG")
    outcomes = run_isolated("load_mutated", specs, timeout=60)
    counts = _check(outcomes, specs, "MUTAG_", _describe)
    assert counts["ok"] and counts["ValueError"], counts
