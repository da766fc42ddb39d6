# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled neighbour sampling and row gathering (private: inputs are trusted).

The sampler is defined in csrc/fastgnn_sample.h and, identically, by the
NumPy reference :mod:`fastgnn.data.neighbor_reference`. Every function
takes validated, C-contiguous arrays and releases the GIL; the work on
frontier nodes runs in parallel (two passes: counts, then a prefix sum and
the fill). The relabelling of a block is one pass in CSR order, run by one
worker over the tasks the fill has finished while the others go on filling
(fg_sample_fill_relabel); the node map carries the ids of one layer's source
nodes on as the next layer's destination ids, so no pass sets or clears it
between layers. A sample's large arrays live in recycled buffers.
"""
from cython.parallel cimport prange
import numpy as np
cimport numpy as cnp
from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdlib cimport free, malloc
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memcpy, memset

from fastgnn._kernels._common cimport index_t

cnp.import_array()

from libc.string cimport memcpy

cdef extern from "fastgnn_sample.h" nogil:
    void FG_SAMPLE_PREFETCH(const void* p)
    uint64_t fg_sample_layer_key(uint64_t seed, uint64_t epoch, uint64_t layer)
    void fg_gather_rows_bytes(char* out, const char* x, const int64_t* ids, int64_t row_bytes, int64_t begin,
                              int64_t end)
    int64_t fg_sample_count_i32(const int32_t* indptr, const int64_t* nodes, int64_t fanout, int replace,
                             const void* weight, int weight_double, int64_t* counts, int64_t* rows, int64_t begin,
                             int64_t end)
    int64_t fg_sample_count_i64(const int64_t* indptr, const int64_t* nodes, int64_t fanout, int replace,
                             const void* weight, int weight_double, int64_t* counts, int64_t* rows, int64_t begin,
                             int64_t end)
    int fg_sample_fill_i32(const int64_t* rows, const int32_t* indices, const int64_t* nodes,
                           const int64_t* out_ptr, int64_t fanout, int replace, const void* weight,
                           int weight_double, uint64_t layer_key, int64_t* edge_ids, int32_t* sources,
                           int64_t begin, int64_t end)
    int fg_sample_fill_i64(const int64_t* rows, const int64_t* indices, const int64_t* nodes,
                           const int64_t* out_ptr, int64_t fanout, int replace, const void* weight,
                           int weight_double, uint64_t layer_key, int64_t* edge_ids, int64_t* sources,
                           int64_t begin, int64_t end)
    void fg_sample_map_nodes_i32(const int64_t* nodes, int32_t* map, int clear, int64_t begin, int64_t end)
    void fg_sample_map_nodes_i64(const int64_t* nodes, int64_t* map, int clear, int64_t begin, int64_t end)
    int64_t fg_sample_fill_relabel_i32(int worker, int64_t n, int64_t per_task, const int64_t* rows,
                                       const int32_t* indices, const int64_t* nodes, const int64_t* out_ptr,
                                       int64_t fanout, int replace, const void* weight, int weight_double,
                                       uint64_t layer_key, int64_t* edge_ids, int32_t* local, int32_t* map,
                                       int64_t* src_nodes, int64_t* next_task, int32_t* done)
    int64_t fg_sample_fill_relabel_i64(int worker, int64_t n, int64_t per_task, const int64_t* rows,
                                       const int64_t* indices, const int64_t* nodes, const int64_t* out_ptr,
                                       int64_t fanout, int replace, const void* weight, int weight_double,
                                       uint64_t layer_key, int64_t* edge_ids, int64_t* local, int64_t* map,
                                       int64_t* src_nodes, int64_t* next_task, int32_t* done)
    int64_t fg_sample_count_ordered_i32(const int32_t* indptr, const int64_t* nodes, const int64_t* order,
                                        int64_t fanout, int replace, const void* weight, int weight_double,
                                        int64_t* counts, int64_t* rows, int64_t begin, int64_t end)
    int64_t fg_sample_count_ordered_i64(const int64_t* indptr, const int64_t* nodes, const int64_t* order,
                                        int64_t fanout, int replace, const void* weight, int weight_double,
                                        int64_t* counts, int64_t* rows, int64_t begin, int64_t end)
    int fg_sample_fill_ordered_i32(const int64_t* rows, const int32_t* indices, const int64_t* nodes,
                                   const int64_t* order, const int64_t* out_ptr, int64_t fanout, int replace,
                                   const void* weight, int weight_double, uint64_t layer_key, int64_t* edge_ids,
                                   int32_t* sources, int64_t begin, int64_t end)
    int fg_sample_fill_ordered_i64(const int64_t* rows, const int64_t* indices, const int64_t* nodes,
                                   const int64_t* order, const int64_t* out_ptr, int64_t fanout, int replace,
                                   const void* weight, int weight_double, uint64_t layer_key, int64_t* edge_ids,
                                   int64_t* sources, int64_t begin, int64_t end)
    int64_t fg_sample_relabel_i32(int32_t* local, int64_t begin, int64_t end, int32_t* map, int64_t next,
                                  int64_t* src_nodes)
    int64_t fg_sample_relabel_i64(int64_t* local, int64_t begin, int64_t end, int64_t* map, int64_t next,
                                  int64_t* src_nodes)
    void fg_release_pages(int64_t address, int64_t length)
    int FG_SAMPLE_PIPELINE_THREADS

# Frontier nodes per parallel task (tasks are handed out dynamically: rows differ in cost).
cdef int64_t _NODES_PER_TASK = 256
# Nodes per parallel task of map_nodes.
cdef int64_t _MAP_NODES_PER_TASK = 16384
# Rows per parallel task of the gather.
cdef int64_t _ROWS_PER_TASK = 1024


# ---------------------------------------------------------------------- recycled output buffers
# A sample's large arrays (edge ids, source nodes, the row scratch) live in buffers that return to a small
# pool when their last array is freed, and the next sample reuses them: fresh memory would be faulted in
# and zeroed by the kernel page by page (a fifth of the time of a products-sized sample at 2 threads).
# The pool holds at most _POOL_SLOTS buffers of _POOL_MAX_BYTES in all; every access holds the GIL.
cdef enum:
    _POOL_SLOTS = 16
cdef Py_ssize_t _POOL_MAX_BYTES = 256 << 20
# Smaller arrays come from NumPy (its allocator reuses small blocks already).
cdef Py_ssize_t _POOL_MIN_BYTES = 256 << 10
# Capacities are rounded up to this, so that batches of slightly different sizes share buffers.
cdef Py_ssize_t _POOL_GRAIN = 1 << 20
cdef char* _pool_data[_POOL_SLOTS]
cdef Py_ssize_t _pool_capacity[_POOL_SLOTS]
cdef int _pool_count = 0
cdef Py_ssize_t _pool_bytes = 0


cdef char* _pool_take(Py_ssize_t nbytes, Py_ssize_t* capacity):
    """A buffer of at least ``nbytes`` (and not much more) from the pool, else a new one (NULL if none)."""
    global _pool_count, _pool_bytes
    cdef int i, best = -1
    cdef char* data
    cdef Py_ssize_t largest = nbytes + nbytes // 4 + _POOL_GRAIN     # the slack a reused buffer may have
    for i in range(_pool_count):
        if nbytes <= _pool_capacity[i] <= largest and (best < 0 or _pool_capacity[i] < _pool_capacity[best]):
            best = i
    if best >= 0:
        data = _pool_data[best]
        capacity[0] = _pool_capacity[best]
        _pool_bytes -= capacity[0]
        _pool_count -= 1
        _pool_data[best] = _pool_data[_pool_count]
        _pool_capacity[best] = _pool_capacity[_pool_count]
        return data
    capacity[0] = (nbytes + _POOL_GRAIN - 1) // _POOL_GRAIN * _POOL_GRAIN
    return <char*>malloc(capacity[0])


cdef void _pool_give(char* data, Py_ssize_t capacity) noexcept:
    """Keep a freed buffer for reuse, dropping the smallest ones kept while the pool is over its bounds."""
    global _pool_count, _pool_bytes
    cdef int i, smallest
    while _pool_count > 0 and (_pool_count == _POOL_SLOTS or _pool_bytes + capacity > _POOL_MAX_BYTES):
        smallest = 0
        for i in range(1, _pool_count):
            if _pool_capacity[i] < _pool_capacity[smallest]:
                smallest = i
        if _pool_capacity[smallest] > capacity:
            free(data)
            return
        free(_pool_data[smallest])
        _pool_bytes -= _pool_capacity[smallest]
        _pool_count -= 1
        _pool_data[smallest] = _pool_data[_pool_count]
        _pool_capacity[smallest] = _pool_capacity[_pool_count]
    if capacity > _POOL_MAX_BYTES:
        free(data)
        return
    _pool_data[_pool_count] = data
    _pool_capacity[_pool_count] = capacity
    _pool_count += 1
    _pool_bytes += capacity


cdef class _RecycledBuffer:
    """Writable bytes from the pool, given back to it when the last array over them is freed."""
    cdef char* data
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t capacity

    def __getbuffer__(self, Py_buffer* view, int flags):
        view.buf = self.data
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = b"B"
        view.ndim = 1
        view.shape = NULL
        if flags & PyBUF_ND:
            view.shape = &self.nbytes
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass

    def __dealloc__(self):
        if self.data != NULL:
            _pool_give(self.data, self.capacity)


cdef object _recycled_empty(Py_ssize_t count, object dtype):
    """An uninitialised 1-D array of ``count`` items of ``dtype``, in a recycled buffer when large."""
    dtype = np.dtype(dtype)
    cdef Py_ssize_t nbytes = count * dtype.itemsize
    if nbytes < _POOL_MIN_BYTES:
        return np.empty(count, dtype=dtype)
    cdef _RecycledBuffer buffer = _RecycledBuffer.__new__(_RecycledBuffer)
    buffer.data = _pool_take(nbytes, &buffer.capacity)
    if buffer.data == NULL:
        raise MemoryError(f"neighbour sampling: cannot allocate {nbytes} bytes")
    buffer.nbytes = nbytes
    return np.frombuffer(buffer, dtype=dtype, count=count)


def layer_key(uint64_t seed, uint64_t epoch, uint64_t layer):
    """The key of one (seed, epoch, layer) of the sampler's generator."""
    return fg_sample_layer_key(seed, epoch, layer)


cdef inline int64_t _count(const index_t* indptr, const int64_t* nodes, int64_t fanout, int replace,
                           const void* weight, int weight_double, int64_t* counts, int64_t* rows, int64_t begin,
                           int64_t end) noexcept nogil:
    if index_t is int32_t:
        return fg_sample_count_i32(indptr, nodes, fanout, replace, weight, weight_double, counts, rows, begin, end)
    else:
        return fg_sample_count_i64(indptr, nodes, fanout, replace, weight, weight_double, counts, rows, begin, end)


cdef inline int64_t _fill_relabel(int worker, int64_t n, const int64_t* rows, const index_t* indices,
                                  const int64_t* nodes, const int64_t* out_ptr, int64_t fanout, int replace,
                                  const void* weight, int weight_double, uint64_t key, int64_t* edge_ids,
                                  index_t* local, index_t* map, int64_t* src_nodes, int64_t* next_task,
                                  int32_t* done) noexcept nogil:
    if index_t is int32_t:
        return fg_sample_fill_relabel_i32(worker, n, _NODES_PER_TASK, rows, indices, nodes, out_ptr, fanout, replace,
                                          weight, weight_double, key, edge_ids, local, map, src_nodes, next_task,
                                          done)
    else:
        return fg_sample_fill_relabel_i64(worker, n, _NODES_PER_TASK, rows, indices, nodes, out_ptr, fanout, replace,
                                          weight, weight_double, key, edge_ids, local, map, src_nodes, next_task,
                                          done)


cdef inline int64_t _count_ordered(const index_t* indptr, const int64_t* nodes, const int64_t* order, int64_t fanout,
                                   int replace, const void* weight, int weight_double, int64_t* counts,
                                   int64_t* rows, int64_t begin, int64_t end) noexcept nogil:
    if index_t is int32_t:
        return fg_sample_count_ordered_i32(indptr, nodes, order, fanout, replace, weight, weight_double, counts,
                                           rows, begin, end)
    else:
        return fg_sample_count_ordered_i64(indptr, nodes, order, fanout, replace, weight, weight_double, counts,
                                           rows, begin, end)


cdef inline int _fill_ordered(const int64_t* rows, const index_t* indices, const int64_t* nodes, const int64_t* order,
                              const int64_t* out_ptr, int64_t fanout, int replace, const void* weight,
                              int weight_double, uint64_t key, int64_t* edge_ids, index_t* sources, int64_t begin,
                              int64_t end) noexcept nogil:
    if index_t is int32_t:
        return fg_sample_fill_ordered_i32(rows, indices, nodes, order, out_ptr, fanout, replace, weight,
                                          weight_double, key, edge_ids, sources, begin, end)
    else:
        return fg_sample_fill_ordered_i64(rows, indices, nodes, order, out_ptr, fanout, replace, weight,
                                          weight_double, key, edge_ids, sources, begin, end)


cdef inline int64_t _relabel(index_t* local, int64_t begin, int64_t end, index_t* map, int64_t next,
                             int64_t* src_nodes) noexcept nogil:
    if index_t is int32_t:
        return fg_sample_relabel_i32(local, begin, end, map, next, src_nodes)
    else:
        return fg_sample_relabel_i64(local, begin, end, map, next, src_nodes)


cdef inline void _release_region(const int64_t[:, ::1] release, int64_t region) noexcept nogil:
    """madvise(MADV_DONTNEED) the (address, length) pairs of row ``region`` of ``release``."""
    cdef int64_t k
    for k in range(0, release.shape[1] - 1, 2):
        fg_release_pages(release[region, k], release[region, k + 1])


cdef inline void _map_nodes(const int64_t* nodes, index_t* map, int clear, int64_t begin,
                            int64_t end) noexcept nogil:
    if index_t is int32_t:
        fg_sample_map_nodes_i32(nodes, map, clear, begin, end)
    else:
        fg_sample_map_nodes_i64(nodes, map, clear, begin, end)


def map_nodes(index_t[::1] node_map, const int64_t[::1] nodes, bint clear, int n_threads):
    """``node_map[nodes[i]] = i`` for the distinct, in-range ``nodes``; with ``clear``, -1 instead.

    With ``clear``, the map must be -1 outside ``nodes``; when they are
    many (a sixteenth of the map or more) the whole map is filled with -1,
    in parallel: one sequential pass instead of a random write per node.
    """
    cdef int64_t n = nodes.shape[0], size = node_map.shape[0]
    cdef int64_t n_tasks = (n + _MAP_NODES_PER_TASK - 1) // _MAP_NODES_PER_TASK
    cdef int threads = n_threads if n_tasks > 1 else 1
    cdef int64_t task
    cdef char* whole = <char*>&node_map[0] if size > 0 else NULL
    if n == 0:
        return
    if clear and n * 16 >= size:
        n_tasks = threads
        with nogil:
            for task in prange(n_tasks, num_threads=threads, schedule="static"):
                memset(whole + size * task // n_tasks * sizeof(index_t), 0xFF,
                       (size * (task + 1) // n_tasks - size * task // n_tasks) * sizeof(index_t))
        return
    with nogil:
        for task in prange(n_tasks, num_threads=threads, schedule="static"):
            _map_nodes(&nodes[0], &node_map[0], clear, task * _MAP_NODES_PER_TASK,
                       min((task + 1) * _MAP_NODES_PER_TASK, n))


def sample_layer(const index_t[::1] indptr, const index_t[::1] indices, const int64_t[::1] nodes, int64_t fanout,
                 bint replace, object weight, uint64_t key, index_t[::1] node_map, int n_threads,
                 const int64_t[::1] order=None, const int64_t[::1] region_ends=None,
                 const int64_t[:, ::1] release=None):
    """Sample one layer for the distinct frontier ``nodes`` and relabel it.

    ``weight`` is None or the graph's float32/float64 edge weights (a
    negative weight in a row read raises ``ValueError``). ``node_map`` has
    one entry per node: ``node_map[nodes[i]] == i``, -1 elsewhere, on
    entry (:func:`map_nodes`); on return it holds the local id of every
    source node of the block instead (so it is ready for the next layer,
    whose frontier is ``src_nodes``).

    With ``order`` (a permutation of the frontier positions),
    ``region_ends`` (increasing ends of its regions, the last ``n``) and
    ``release`` (one row per region of ``(address, length)`` pairs,
    page-aligned ranges of read-only file mappings), the rows are read one
    region of the order after another and each row's ranges are released
    (``madvise(MADV_DONTNEED)``) once its region is sampled; the relabelling
    follows in one pass. Same result.

    Returns ``(block_indptr, edge_ids, local, src_nodes)``: int64, int64,
    the index dtype (a read-only array over a ``bytes`` object), int64.
    """
    cdef int64_t n = nodes.shape[0]
    cdef const void* w = NULL
    cdef int w_double = 0
    if weight is not None:
        w = cnp.PyArray_DATA(<cnp.ndarray>weight)
        w_double = cnp.PyArray_TYPE(<cnp.ndarray>weight) == cnp.NPY_FLOAT64
    indptr_out_arr = np.empty(n + 1, dtype=np.int64)
    cdef int64_t[::1] out_ptr = indptr_out_arr
    cdef int64_t n_tasks = (n + _NODES_PER_TASK - 1) // _NODES_PER_TASK
    cdef int64_t task, lo, hi, i, total
    cdef int64_t* counts = &out_ptr[1] if n > 0 else NULL
    cdef const int64_t* nodes_ptr = &nodes[0] if n > 0 else NULL
    cdef int threads = n_threads if n_tasks > 1 else 1
    rows_arr = _recycled_empty(2 * n, np.int64)
    cdef int64_t[::1] rows = rows_arr
    cdef int64_t* rows_ptr = &rows[0] if n > 0 else NULL
    cdef int64_t negative = 0
    cdef bint in_regions = order is not None and n > 0
    cdef const int64_t* order_ptr = &order[0] if in_regions else NULL
    cdef int64_t n_regions = region_ends.shape[0] if in_regions else 0
    cdef int64_t region, region_lo, region_tasks
    out_ptr[0] = 0
    if in_regions and w != NULL:
        # Weighted counts read the weights of each row: region by region, released after each.
        with nogil:
            region_lo = 0
            for region in range(n_regions):
                region_tasks = (region_ends[region] - region_lo + _NODES_PER_TASK - 1) // _NODES_PER_TASK
                for task in prange(region_tasks, num_threads=threads if region_tasks > 1 else 1,
                                   schedule="dynamic"):
                    lo = region_lo + task * _NODES_PER_TASK
                    hi = min(lo + _NODES_PER_TASK, region_ends[region])
                    negative += _count_ordered(&indptr[0], nodes_ptr, order_ptr, fanout, replace, w, w_double,
                                               counts, rows_ptr, lo, hi)
                _release_region(release, region)
                region_lo = region_ends[region]
            for i in range(n):
                out_ptr[i + 1] += out_ptr[i]
    else:
        with nogil:
            for task in prange(n_tasks, num_threads=threads, schedule="dynamic"):
                lo = task * _NODES_PER_TASK
                hi = min(lo + _NODES_PER_TASK, n)
                negative += _count(&indptr[0], nodes_ptr, fanout, replace, w, w_double, counts, rows_ptr, lo, hi)
            for i in range(n):
                out_ptr[i + 1] += out_ptr[i]
    if negative:
        raise ValueError("weighted sampling needs non-negative edge weights; graph.edge_weight has a negative "
                         "entry in a sampled row")
    total = out_ptr[n]
    dtype = np.asarray(indptr).dtype
    edge_ids_arr = _recycled_empty(total, np.int64)
    cdef int64_t* edge_ptr = <int64_t*>cnp.PyArray_DATA(edge_ids_arr)
    # The sources are written where their local ids end up, relabelled in place: a bytes object, not
    # shared yet, filled here (so the block's Graph keeps it as its read-only indices, with no copy).
    local_bytes = PyBytes_FromStringAndSize(NULL, total * sizeof(index_t))
    cdef index_t* local = <index_t*>PyBytes_AS_STRING(local_bytes)
    # Room for every source node; the first n_src are returned.
    src_nodes_arr = _recycled_empty(n + total, np.int64)
    cdef int64_t* src_nodes = <int64_t*>cnp.PyArray_DATA(src_nodes_arr)
    cdef int64_t n_src
    if in_regions:
        n_src = _sample_layer_in_regions(rows_ptr, &indices[0] if indices.shape[0] > 0 else NULL, nodes_ptr,
                                         order_ptr, region_ends, release, &out_ptr[0], fanout, replace, w, w_double,
                                         key, edge_ptr, local, &node_map[0], src_nodes, threads)
    else:
        n_src = _sample_layer_pipelined(n, n_tasks, rows_ptr, &indices[0] if indices.shape[0] > 0 else NULL,
                                        nodes_ptr, &out_ptr[0], fanout, replace, w, w_double, key, edge_ptr, local,
                                        &node_map[0] if node_map.shape[0] > 0 else NULL, src_nodes, threads)
    if n_src < 0:
        raise MemoryError("neighbour sampling: out of memory for the weights of a row")
    return indptr_out_arr, edge_ids_arr, np.frombuffer(local_bytes, dtype=dtype), src_nodes_arr[:n_src]


cdef int64_t _sample_layer_pipelined(int64_t n, int64_t n_tasks, const int64_t* rows, const index_t* indices,
                                     const int64_t* nodes, const int64_t* out_ptr, int64_t fanout, int replace,
                                     const void* w, int w_double, uint64_t key, int64_t* edge_ptr, index_t* local,
                                     index_t* node_map, int64_t* src_nodes, int threads):
    """The fill on every thread, the relabelling on worker 0 alongside (fg_sample_fill_relabel); the
    number of source nodes, or -1 when a fill failed."""
    done_arr = np.zeros(max(n_tasks, 1), dtype=np.int32)
    result_arr = np.zeros(max(threads, 1) + 1, dtype=np.int64)    # the last entry: the task counter
    cdef int32_t* done = <int32_t*>cnp.PyArray_DATA(done_arr)
    cdef int64_t* result = <int64_t*>cnp.PyArray_DATA(result_arr)
    cdef int64_t* next_task = result + max(threads, 1)
    cdef int worker
    if FG_SAMPLE_PIPELINE_THREADS:
        threads = min(threads, FG_SAMPLE_PIPELINE_THREADS)
    with nogil:
        for worker in prange(threads, num_threads=threads, schedule="static", chunksize=1):
            result[worker] = _fill_relabel(worker, n, rows, indices, nodes, out_ptr, fanout, replace, w, w_double,
                                           key, edge_ptr, local, node_map, src_nodes, next_task, done)
    return result[0]


cdef int64_t _sample_layer_in_regions(const int64_t* rows, const index_t* indices, const int64_t* nodes,
                                      const int64_t* order, const int64_t[::1] region_ends,
                                      const int64_t[:, ::1] release, const int64_t* out_ptr, int64_t fanout,
                                      int replace, const void* w, int w_double, uint64_t key, int64_t* edge_ptr,
                                      index_t* local, index_t* node_map, int64_t* src_nodes, int threads):
    """The fill one region of ``order`` after another (in parallel within each), the region's pages
    released after it, then the relabelling in frontier order; the number of source nodes, or -1."""
    cdef int64_t n_regions = region_ends.shape[0], n = region_ends[n_regions - 1]
    cdef int64_t region, region_lo = 0, region_tasks, task, lo, hi
    cdef int64_t failed = 0
    with nogil:
        for region in range(n_regions):
            region_tasks = (region_ends[region] - region_lo + _NODES_PER_TASK - 1) // _NODES_PER_TASK
            for task in prange(region_tasks, num_threads=threads if region_tasks > 1 else 1, schedule="dynamic"):
                lo = region_lo + task * _NODES_PER_TASK
                hi = min(lo + _NODES_PER_TASK, region_ends[region])
                failed += _fill_ordered(rows, indices, nodes, order, out_ptr, fanout, replace, w, w_double, key,
                                        edge_ptr, local, lo, hi) != 0
            _release_region(release, region)
            region_lo = region_ends[region]
        if failed:
            return -1
        memcpy(src_nodes, nodes, <size_t>n * sizeof(int64_t))
        return _relabel(local, 0, out_ptr[n], node_map, n, src_nodes)


cdef inline void _gather_rows_at(char* out, const int64_t* positions, const char* x, const int64_t* ids,
                                 int64_t row_bytes, int64_t begin, int64_t end) noexcept nogil:
    cdef int64_t i
    for i in range(begin, end):
        if i + 8 < end:
            FG_SAMPLE_PREFETCH(x + ids[i + 8] * row_bytes)
        memcpy(out + positions[i] * row_bytes, x + ids[i] * row_bytes, <size_t>row_bytes)


def gather_rows(cnp.ndarray out not None, cnp.ndarray x not None, const int64_t[::1] ids, int n_threads,
                const int64_t[::1] positions=None):
    """``out[k] = x[ids[k]]`` over rows of bytes (both C-contiguous, same row size, ids in range); with
    ``positions`` (distinct, in range), ``out[positions[k]] = x[ids[k]]`` instead."""
    cdef int64_t m = ids.shape[0]
    cdef int64_t row_bytes = cnp.PyArray_ITEMSIZE(x)
    cdef int axis
    for axis in range(1, cnp.PyArray_NDIM(x)):
        row_bytes *= cnp.PyArray_DIM(x, axis)
    cdef char* o = <char*>cnp.PyArray_DATA(out)
    cdef const char* src = <const char*>cnp.PyArray_DATA(x)
    cdef int64_t n_tasks = (m + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    cdef int64_t task, lo, hi
    cdef int threads = n_threads if n_tasks > 1 else 1
    cdef const int64_t* at = NULL
    if m == 0 or row_bytes == 0:
        return out
    if positions is not None:
        at = &positions[0]
    with nogil:
        for task in prange(n_tasks, num_threads=threads, schedule="static"):
            lo = task * _ROWS_PER_TASK
            hi = min(lo + _ROWS_PER_TASK, m)
            if at == NULL:
                fg_gather_rows_bytes(o, src, &ids[0], row_bytes, lo, hi)
            else:
                _gather_rows_at(o, at, src, &ids[0], row_bytes, lo, hi)
    return out
