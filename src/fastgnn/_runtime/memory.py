"""Cache-line-aligned arrays for the kernels.

NumPy aligns large arrays to 16 bytes only. A feature row gathered from a
misaligned array straddles one more cache line and every wide vector load
splits, which makes a gather up to twice as slow; so fastgnn allocates its
own outputs on 64-byte boundaries and may realign a misaligned input that a
kernel reads many times.
"""
import mmap
import sys

import numpy as np

ALIGNMENT = 64
# Immutable copies at least this large are put on transparent huge pages where the OS offers them
# (Linux, THP "always" or "madvise"): kernels that read a graph's rows at random (neighbour sampling)
# then miss the TLB far less often. Contents and semantics do not change.
HUGE_PAGE = 2 << 20
HUGE_PAGE_MIN_BYTES = 16 << 20


def empty_aligned(shape, dtype, *, zeroed=False):
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary.

    With ``zeroed``, filled with zeros (allocated as such: a large one's
    pages are not resident until written).
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, tuple) else (shape,)))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = (np.zeros if zeroed else np.empty)(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = (-buffer.ctypes.data) % ALIGNMENT
    return buffer[offset:offset + nbytes].view(dtype).reshape(shape)


class _DiscardableMap(mmap.mmap):
    """A private anonymous mapping made by :func:`empty_discardable` (the only memory :func:`discard_rows` releases)."""


def empty_discardable(shape, dtype):
    """As :func:`empty_aligned`, in a private anonymous mapping of its own whose rows can be released.

    The array's trailing rows can later be given back to the system with
    :func:`discard_rows` (their values then read as zeros), so a caller that
    no longer needs them lowers its resident memory without a copy. Empty
    arrays, and arrays where the system has no private mappings, are plain
    :func:`empty_aligned` ones.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, tuple) else (shape,)))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    private = getattr(mmap, "MAP_PRIVATE", None)
    if nbytes == 0 or private is None:
        return empty_aligned(shape, dtype)
    # private: released pages are freed and read as zeros (a shared map would keep them); page-aligned
    buffer = _DiscardableMap(-1, nbytes, flags=private)
    huge = getattr(mmap, "MADV_HUGEPAGE", None)
    if huge is not None and nbytes >= HUGE_PAGE:
        try:        # as NumPy does for its large arrays: a fault per 2 MiB, not per 4 KiB, when written
            buffer.madvise(huge)
        except OSError:
            pass
    return np.ndarray(shape, dtype, buffer=buffer)   # based on the map itself (see mapped_buffer)


#: A batch's rows at least this large get a mapping of their own (:func:`empty_batch_rows`); smaller ones come
#: from the heap, which reuses its pages (no page faults each batch).
DISCARDABLE_MIN_BYTES = 8 << 20


def empty_batch_rows(shape, dtype):
    """An array for a mini-batch's input rows: :func:`empty_discardable` from :data:`DISCARDABLE_MIN_BYTES` on,
    else :func:`empty_aligned`."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return (empty_discardable if nbytes >= DISCARDABLE_MIN_BYTES else empty_aligned)(shape, dtype)


def discard_rows(array, start):
    """Release the memory of rows ``[start, len(array))`` of an :func:`empty_discardable` array.

    ``madvise(MADV_DONTNEED)`` on the whole pages those rows cover (the page
    that row ``start`` begins in is kept when it is shared with the rows
    before): they leave the resident set, and read as zeros afterwards. Any
    other array (the caller's own, a view of a file, ...) is left as it is.

    Returns
    -------
    int
        Bytes released (0 when nothing was).
    """
    buffer = mapped_buffer(array)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if (not isinstance(buffer, _DiscardableMap) or advice is None or not array.flags.c_contiguous
            or array.ndim == 0 or not 0 <= start < array.shape[0]):
        return 0
    origin = np.frombuffer(buffer, dtype=np.uint8).ctypes.data
    first = array.ctypes.data - origin + start * array.strides[0]
    last = array.ctypes.data - origin + array.nbytes
    first += (-first) % mmap.PAGESIZE
    if last < len(buffer):                      # the page holding bytes past the array is not the array's
        last -= last % mmap.PAGESIZE
    if last <= first:
        return 0
    try:
        buffer.madvise(advice, first, last - first)
    except (OSError, ValueError):
        return 0
    return last - first


def owns_memory(array):
    """Whether ``array`` spans all the memory it lives in: it owns its data, or is a whole :func:`empty_aligned` array.

    Such an array, when fresh from a kernel, is the caller's to overwrite.
    """
    if array.flags.owndata:
        return True
    base = array.base
    return (isinstance(base, np.ndarray) and base.flags.owndata and base.ndim == 1 and base.dtype == np.uint8
            and base.nbytes == array.nbytes + ALIGNMENT)


def is_aligned(array):
    return array.ctypes.data % ALIGNMENT == 0


def copies_for_gather(x, num_edges):
    """Whether :func:`aligned_for_gather` copies ``x`` (misaligned, rows of a cache line or more, gathered often)."""
    return not (is_aligned(x) or x.shape[1] * x.itemsize < ALIGNMENT or num_edges <= 2 * x.shape[0])


def aligned_for_gather(x, num_edges):
    """``x`` itself, or an aligned copy when its rows will be gathered often.

    A copy costs one pass over ``x``; it pays off when the gather reads each
    row more than twice on average and a row spans at least a cache line.
    """
    if not copies_for_gather(x, num_edges):
        return x
    copy = empty_aligned(x.shape, x.dtype)
    np.copyto(copy, x)
    return copy


# Rows this narrow are gathered as 16-lane rows (64 bytes of float32): a
# narrow row that straddles cache lines costs more to gather than a full,
# aligned 16-lane one, measured at 1.6-3x on this project's machines.
NARROW_WIDTHS = range(5, 16)
PADDED_WIDTH = 16


def pads_for_gather(x, num_edges):
    """Whether :func:`padded_for_gather` widens ``x`` (narrow rows, gathered often)."""
    return x.shape[1] in NARROW_WIDTHS and num_edges > 2 * x.shape[0]


def padded_for_gather(x, num_edges):
    """``x`` widened with zero columns to 16 when its rows are narrow and gathered often, else None.

    The zero columns reduce to zeros (and arg to the row's first edge), which
    the caller drops; the kept columns are computed exactly as without padding.
    """
    if not pads_for_gather(x, num_edges):
        return None
    padded = empty_aligned((x.shape[0], PADDED_WIDTH), x.dtype)
    padded[:, :x.shape[1]] = x
    padded[:, x.shape[1]:] = 0
    return padded


def immutable(array):
    """A read-only copy of ``array`` that no one can make writeable again.

    ``flags.writeable = False`` alone is undone by anyone holding an array
    that owns its memory; a graph whose indices are edited after validation
    would make the kernels read out of bounds. So the data lives in a
    ``bytes`` object, whose memory Python never lets be written. An array
    already backed that way, or by a read-only memory map (``np.load(...,
    mmap_mode="r")``, whose pages the process cannot write either), is
    returned as it is, so a graph on disk is not read whole.
    """
    array = np.asarray(array) if not isinstance(array, np.memmap) else array
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, bytes) or _is_read_only_map(base):
        return array
    data = _bytes_copy(np.ascontiguousarray(array))
    return np.frombuffer(data, dtype=array.dtype).reshape(array.shape)


def _madvise_function():
    """libc's ``madvise`` through ctypes on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).madvise
        function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        function.restype = ctypes.c_int
        return function
    except (OSError, AttributeError):
        return None


_MADV_HUGEPAGE = 14
_madvise = _madvise_function()


def _bytes_copy(contiguous):
    """A ``bytes`` object holding the data of a C-contiguous array.

    A large one is allocated zeroed and untouched (``bytes(n)`` uses calloc,
    which maps fresh pages for large sizes), advised for huge pages, and
    only then filled, so its pages are faulted in as huge pages where the
    OS allows it; anything unexpected falls back to ``tobytes()``.
    """
    nbytes = contiguous.nbytes
    if _madvise is None or nbytes < HUGE_PAGE_MIN_BYTES:
        return contiguous.tobytes()
    import ctypes

    data = bytes(nbytes)
    address = np.frombuffer(data, dtype=np.uint8).ctypes.data
    first = -(-address // HUGE_PAGE) * HUGE_PAGE
    last = (address + nbytes) // HUGE_PAGE * HUGE_PAGE
    if last > first:
        _madvise(first, last - first, _MADV_HUGEPAGE)  # a hint: failure changes nothing but speed
    ctypes.memmove(address, contiguous.ctypes.data, nbytes)  # the new object is not shared yet
    return data


def read_immutable(handle, nbytes):
    """``nbytes`` read from the binary file ``handle`` straight into a ``bytes`` object (no second copy).

    An array over the result (``np.frombuffer``) is one :func:`immutable`
    returns as it is. A large one is allocated untouched and advised for
    huge pages before the read, as :func:`immutable`'s own copies are.

    Raises
    ------
    ValueError
        The file ends before ``nbytes`` bytes.
    """
    if _madvise is None or nbytes < HUGE_PAGE_MIN_BYTES:
        data = handle.read(nbytes)
        filled = len(data)
    else:
        import ctypes

        data = bytes(nbytes)
        address = np.frombuffer(data, dtype=np.uint8).ctypes.data
        first = -(-address // HUGE_PAGE) * HUGE_PAGE
        last = (address + nbytes) // HUGE_PAGE * HUGE_PAGE
        if last > first:
            _madvise(first, last - first, _MADV_HUGEPAGE)
        # the new object is not shared yet: fill it in place, as _bytes_copy does
        target = memoryview((ctypes.c_char * nbytes).from_address(address)).cast("B")
        filled = 0
        while filled < nbytes:
            count = handle.readinto(target[filled:])
            if not count:
                break
            filled += count
    if filled != nbytes:
        raise ValueError(f"the file ends after {filled} of the {nbytes} bytes expected")
    return data


def _is_read_only_map(base):
    """True for a ``mmap.mmap`` opened read-only (``ACCESS_READ``)."""
    if not isinstance(base, mmap.mmap):
        return False
    try:
        return memoryview(base).readonly
    except (TypeError, ValueError):             # a closed map
        return False


def mapped_buffer(array):
    """The ``mmap.mmap`` an array's data lives in (a ``np.memmap``, a view of one, ...), or None."""
    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None)
    return None


# MADV_POPULATE_READ (Linux 5.14): map a range's pages in one call, not one fault at a time.
_MADV_POPULATE_READ = 22
_populate_works = [sys.platform.startswith("linux") and hasattr(mmap.mmap, "madvise")]


def populate_mapped_rows(array, start, stop):
    """Map the pages of rows ``[start, stop)`` of a memory-mapped array into the process in one call.

    ``madvise(MADV_POPULATE_READ)`` (Linux 5.14 and later) on the read-only
    ``mmap.mmap`` behind ``array`` (see :func:`mapped_buffer`): the rows are
    then read without a page fault each. A hint only: elsewhere, or for an
    array that is not a read-only map, nothing happens and the rows are read
    as usual. Returns True when the pages were mapped.
    """
    buffer = mapped_buffer(array)
    if not _populate_works[0] or buffer is None or not _is_read_only_map(buffer) or stop <= start:
        return False
    row_bytes = array.strides[0]
    origin = np.frombuffer(buffer, dtype=np.uint8).ctypes.data
    first = array.ctypes.data - origin + start * row_bytes
    last = min(len(buffer), first + (stop - start) * row_bytes)
    first -= first % mmap.PAGESIZE
    try:
        buffer.madvise(_MADV_POPULATE_READ, first, last - first)
    except (OSError, ValueError):   # an older kernel: fall back to faults from now on
        _populate_works[0] = False
        return False
    return True


def release_mapped_pages(*arrays):
    """Drop the resident pages of the file mappings behind ``arrays`` from this process (Linux).

    ``madvise(MADV_DONTNEED)`` on each distinct read-only ``mmap.mmap``
    found behind the arrays (see :func:`mapped_buffer`; other arrays are
    skipped): the pages leave the process's resident set (its RSS) but stay
    in the operating system's page cache, so the next read of them is a
    cheap minor fault, and the values read are the same. Only read-only maps
    are released (a private writable map would lose its changes).

    Returns
    -------
    int
        Bytes of mapping advised (0 where ``madvise`` is not available).
    """
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or not hasattr(mmap.mmap, "madvise"):
        return 0
    seen, total = set(), 0
    for array in arrays:
        buffer = None if array is None else mapped_buffer(array)
        if buffer is None or id(buffer) in seen or not _is_read_only_map(buffer) or len(buffer) == 0:
            continue
        seen.add(id(buffer))
        try:
            buffer.madvise(advice)
        except (OSError, ValueError):       # a closed map, or advice the system refuses: nothing released
            continue
        total += len(buffer)
    return total


def mapped_page_ranges(array, starts, stops):
    """The pages of items ``[starts[k], stops[k])`` of a 1-D array over a read-only file mapping, as addresses.

    Returns an int64 array of shape ``(len(starts), 2)``: the page-aligned
    ``(address, length)`` of each range, widened outward to whole pages and
    kept inside the mapping (:func:`mapped_buffer`), for a kernel that
    releases them with ``madvise(MADV_DONTNEED)`` while it reads the array.
    None when ``array`` is not a C-contiguous view of a read-only
    ``mmap.mmap`` (an anonymous or writable array is never released), or
    where ``madvise`` is not available.
    """
    buffer = mapped_buffer(array)
    if (buffer is None or getattr(mmap, "MADV_DONTNEED", None) is None or not _is_read_only_map(buffer)
            or array.ndim != 1 or not array.flags.c_contiguous or len(buffer) == 0):
        return None
    origin = np.frombuffer(buffer, dtype=np.uint8).ctypes.data
    end = origin + len(buffer)
    data = array.ctypes.data
    first = data + np.asarray(starts, dtype=np.int64) * array.itemsize
    last = data + np.asarray(stops, dtype=np.int64) * array.itemsize
    first = np.maximum(first - (first - origin) % mmap.PAGESIZE, origin)
    last = np.minimum(last + (-(last - origin)) % mmap.PAGESIZE, end)
    return np.ascontiguousarray(np.stack([first, np.maximum(last - first, 0)], axis=1), dtype=np.int64)


def release_mapped_items(array, start, stop):
    """Drop the resident pages of items ``[start, stop)`` of a 1-D array over a read-only file mapping (Linux).

    As :func:`release_mapped_pages` for that range only (widened to whole
    pages, see :func:`mapped_page_ranges`); nothing happens for any other
    array. Returns the bytes advised.
    """
    if stop <= start:
        return 0
    ranges = mapped_page_ranges(array, [start], [stop])
    if ranges is None or ranges[0, 1] <= 0:
        return 0
    buffer = mapped_buffer(array)
    offset = int(ranges[0, 0]) - np.frombuffer(buffer, dtype=np.uint8).ctypes.data
    try:
        buffer.madvise(mmap.MADV_DONTNEED, offset, int(ranges[0, 1]))
    except (OSError, ValueError):
        return 0
    return int(ranges[0, 1])
