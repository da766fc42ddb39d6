"""Helpers of the command-line error tests: run ``python -m fastgnn train`` in a child process, build bad files."""
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np


# The child's address space is capped, so an input that makes the command
# allocate far more than it needs fails the test (with a MemoryError) instead
# of swapping the shared machine; one thread keeps the baseline small.
MEMORY_LIMIT = 1 << 30


def _limit_memory():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(*argv, cwd=None, timeout=120, limit_memory=True):
    """``python -m fastgnn train *argv`` in a child process; returns the CompletedProcess (text output)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTHONFAULTHANDLER", None)
    preexec = _limit_memory if limit_memory and sys.platform.startswith("linux") else None
    return subprocess.run([sys.executable, "-m", "fastgnn", "train", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)


def assert_one_line_error(result, *needles):
    """Exit status 2, no traceback, and stderr one line holding every needle; returns that line."""
    assert result.returncode >= 0, f"killed by signal {-result.returncode}: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


def npy_header(shape, dtype="<f4"):
    """The bytes of an ``.npy`` version 1.0 header for ``shape`` and ``dtype``."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def _zip_entry(name, data, uncompressed_size, crc, offset):
    """Local header and central-directory record of one deflated member (no zip64: sizes below 4 GiB)."""
    name = name.encode()
    fields = (20, 0, 8, 0, 0x21, crc, len(data), uncompressed_size, len(name), 0)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, offset) + name
    return local, central


def write_zip(path, members):
    """Write a zip of deflated members ``{name: (deflated bytes, uncompressed size, crc32)}``."""
    blob, directory = b"", b""
    for name, (data, size, crc) in members.items():
        local, central = _zip_entry(name, data, size, crc, len(blob))
        blob += local + data
        directory += central
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(blob), 0)
    Path(path).write_bytes(blob + directory + end)


def deflated(data):
    """``data`` as a zip member: (raw deflate stream, size, crc32)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), len(data), zlib.crc32(data)


def deflated_zeros(header, num_zeros, chunk=1 << 20):
    """``header`` followed by ``num_zeros`` zero bytes as a zip member, built in well under a second.

    After a full flush the compressor keeps no history, so every further
    chunk of zeros compresses to the same bytes, which are repeated.
    """
    assert num_zeros % chunk == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(chunk)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()
    crc = zlib.crc32(header)
    for _ in range(num_zeros // chunk):
        crc = zlib.crc32(zeros, crc)
    return head + block * (num_zeros // chunk) + tail, len(header) + num_zeros, crc
