/* Neighbour sampling and row gathering kernels (private: inputs are trusted).
 *
 * The random stream is counter-based, so a node's sample depends only on
 * (seed, epoch, node, layer), never on threads or batch composition. With
 * sm the splitmix64 step (add 0x9E3779B97F4A7C15, then mix), modulo 2^64:
 *
 *   layer_key = sm(sm(sm(seed) ^ epoch) ^ layer)      (computed by the caller)
 *   node_key  = sm(layer_key ^ node)
 *   r_t       = sm(node_key + t * 0x9E3779B97F4A7C15)   (draw t of the node)
 *
 * An integer in [0, n): (r * n) >> 64 for n < 2^32 (computed in 64-bit
 * halves, so no 128-bit type is needed), r % n otherwise; a real in [0, 1):
 * (r >> 11) * 2^-53. The NumPy reference (fastgnn.data.neighbor_reference)
 * defines the same sampler, and the kernels match it exactly.
 *
 * Per node of degree d and fan-out k (-1: the whole row):
 *   uniform, no replacement: the row when d <= k, else Floyd's algorithm;
 *   uniform, replacement:    k positions from r_0 .. r_{k-1} (none if d == 0);
 *   weighted:                successive draws by running sums of the weights
 *                            in row order (with replacement over the whole
 *                            row; without, drawn weights set to 0).
 * Positions are returned sorted, so a block's edges follow the graph's CSR
 * order.
 *
 * The index-typed kernels are compiled once per index type by including
 * fastgnn_sample_impl.h (suffixes _i32 and _i64).
 */
#ifndef FASTGNN_SAMPLE_H
#define FASTGNN_SAMPLE_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FG_SAMPLE_GOLDEN 0x9E3779B97F4A7C15ull

#if defined(__GNUC__) || defined(__clang__)
#define FG_SAMPLE_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define FG_SAMPLE_PREFETCH(p) ((void)0)
#endif

/* Position j of a processing order (j itself without one). */
#define FG_SAMPLE_AT(order, j) ((order) != NULL ? (order)[(j)] : (j))
/* Frontier nodes between the prefetch of a row and its use. */
#define FG_SAMPLE_AHEAD 16
/* Items between a prefetch and its use in the loops that do little per item at a random address (row
 * pointers, node map entries: often read from memory). */
#define FG_SAMPLE_LOOKUP_AHEAD 64
/* Cache lines of a row prefetched at most (a row of the average degree, 25 to 50, spans 2 to 4). */
#define FG_SAMPLE_ROW_LINES 4

/* Prefetch the cache lines of the bytes [p, p + bytes), FG_SAMPLE_ROW_LINES at most. */
static inline void fg_sample_prefetch_span(const void *p, int64_t bytes)
{
    uintptr_t line = (uintptr_t)p & ~(uintptr_t)63, last = (uintptr_t)p + (uintptr_t)(bytes > 0 ? bytes - 1 : 0);
    for (int k = 0; k < FG_SAMPLE_ROW_LINES && line <= last; ++k, line += 64)
        FG_SAMPLE_PREFETCH((const void *)line);
}

static inline uint64_t fg_sample_mix(uint64_t x)
{
    uint64_t z = x + FG_SAMPLE_GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t fg_sample_layer_key(uint64_t seed, uint64_t epoch, uint64_t layer)
{
    return fg_sample_mix(fg_sample_mix(fg_sample_mix(seed) ^ epoch) ^ layer);
}

static inline uint64_t fg_sample_draw(uint64_t node_key, uint64_t t)
{
    return fg_sample_mix(node_key + t * FG_SAMPLE_GOLDEN);
}

/* An integer in [0, n), n >= 1. */
static inline uint64_t fg_sample_bounded(uint64_t r, uint64_t n)
{
    if (n < (1ull << 32)) {
        uint64_t high = (r >> 32) * n + (((r & 0xFFFFFFFFull) * n) >> 32);
        return high >> 32;
    }
    return r % n;
}

static inline double fg_sample_unit(uint64_t r)
{
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

static inline double fg_sample_weight(const void *weight, int weight_double, int64_t e)
{
    return weight_double ? ((const double *)weight)[e] : (double)((const float *)weight)[e];
}

/* Insert p into the sorted out[0 .. n) (capacity n + 1). */
static inline void fg_sample_insert_sorted(int64_t *out, int64_t n, int64_t p)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (out[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n)
        memmove(out + lo + 1, out + lo, (size_t)(n - lo) * sizeof(int64_t));
    out[lo] = p;
}

/* Whether p is in the sorted out[0 .. n). */
static inline int fg_sample_contains(const int64_t *out, int64_t n, int64_t p)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (out[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && out[lo] == p;
}

static int fg_sample_compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static inline void fg_sample_sort(int64_t *v, int64_t n)
{
    if (n <= 32) {
        for (int64_t i = 1; i < n; ++i) {
            int64_t x = v[i], j = i - 1;
            while (j >= 0 && v[j] > x) {
                v[j + 1] = v[j];
                --j;
            }
            v[j + 1] = x;
        }
    } else {
        qsort(v, (size_t)n, sizeof(int64_t), fg_sample_compare_i64);
    }
}

/* Fan-outs up to this draw without replacement by scanning (quadratic in the fan-out) instead of
 * keeping the drawn positions sorted (a binary search and a memmove per draw). */
#define FG_SAMPLE_SCAN_FANOUT 32

/* Uniform positions of one row (d >= 1, k >= 1), sorted, into out; returns their count. */
static inline int64_t fg_sample_uniform_row(int64_t d, int64_t k, int replace, uint64_t key, int64_t *out)
{
    if (replace) {
        for (int64_t t = 0; t < k; ++t)
            out[t] = (int64_t)fg_sample_bounded(fg_sample_draw(key, (uint64_t)t), (uint64_t)d);
        fg_sample_sort(out, k);
        return k;
    }
    if (d <= k) {
        for (int64_t p = 0; p < d; ++p)
            out[p] = p;
        return d;
    }
    if (k <= FG_SAMPLE_SCAN_FANOUT) {
        /* Floyd over an unsorted out[0 .. t), searched by a scan without branches, sorted at the end:
         * the same set, so the same sorted positions. */
        for (int64_t t = 0; t < k; ++t) {
            int64_t j = d - k + t;
            int64_t p = (int64_t)fg_sample_bounded(fg_sample_draw(key, (uint64_t)t), (uint64_t)(j + 1));
            int found = 0;
            for (int64_t c = 0; c < t; ++c)
                found |= out[c] == p;
            out[t] = found ? j : p;
        }
        fg_sample_sort(out, k);
        return k;
    }
    /* Floyd: out[0 .. t) stays sorted; j exceeds every position chosen so far, so it appends. */
    for (int64_t t = 0; t < k; ++t) {
        int64_t j = d - k + t;
        int64_t p = (int64_t)fg_sample_bounded(fg_sample_draw(key, (uint64_t)t), (uint64_t)(j + 1));
        if (fg_sample_contains(out, t, p))
            out[t] = j;
        else
            fg_sample_insert_sorted(out, t, p);
    }
    return k;
}

/* First position whose running sum (in w[0 .. d), row order) exceeds target, else the last positive weight. */
static inline int64_t fg_sample_pick(const double *w, int64_t d, double target)
{
    double running = 0.0;
    int64_t last_positive = -1;
    for (int64_t p = 0; p < d; ++p) {
        running += w[p];
        if (running > target)
            return p;
        if (w[p] > 0.0)
            last_positive = p;
    }
    return last_positive;
}

/* Weighted positions of one row (w: its d weights as doubles, a scratch copy the call may change). */
static inline int64_t fg_sample_weighted_row(double *w, int64_t d, int64_t k, int replace, uint64_t key,
                                             int64_t *out)
{
    int64_t positive = 0;
    for (int64_t p = 0; p < d; ++p)
        positive += w[p] > 0.0;
    if (positive == 0)
        return 0;
    if (replace) {
        double total = 0.0;
        for (int64_t p = 0; p < d; ++p)
            total += w[p];
        for (int64_t t = 0; t < k; ++t)
            out[t] = fg_sample_pick(w, d, fg_sample_unit(fg_sample_draw(key, (uint64_t)t)) * total);
        fg_sample_sort(out, k);
        return k;
    }
    if (positive <= k) {
        int64_t n = 0;
        for (int64_t p = 0; p < d; ++p)
            if (w[p] > 0.0)
                out[n++] = p;
        return n;
    }
    for (int64_t t = 0; t < k; ++t) {
        double total = 0.0;
        for (int64_t p = 0; p < d; ++p)
            total += w[p];
        int64_t p = fg_sample_pick(w, d, fg_sample_unit(fg_sample_draw(key, (uint64_t)t)) * total);
        w[p] = 0.0;
        fg_sample_insert_sorted(out, t, p);
    }
    return k;
}

/* Gather rows of row_bytes bytes: out[i] = x[ids[i]] for i in [begin, end). */
static inline void fg_gather_rows_bytes(char *out, const char *x, const int64_t *ids, int64_t row_bytes,
                                        int64_t begin, int64_t end)
{
    for (int64_t i = begin; i < end; ++i) {
        if (i + 8 < end)
            FG_SAMPLE_PREFETCH(x + ids[i + 8] * row_bytes);
        memcpy(out + i * row_bytes, x + ids[i] * row_bytes, (size_t)row_bytes);
    }
}

/* The shared counter and flags of the fill and relabelling pipeline (fg_sample_fill_relabel), and
 * FG_SAMPLE_PIPELINE_THREADS, the most workers it may have (0: no limit). Without GCC/Clang atomics it
 * has one worker, which needs none. */
#if defined(__GNUC__) || defined(__clang__)
#define FG_LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define FG_STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define FG_FETCH_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define FG_SAMPLE_PIPELINE_THREADS 0
#else
#define FG_LOAD_ACQUIRE(p) (*(p))
#define FG_STORE_RELEASE(p, v) (*(p) = (v))
#define FG_FETCH_ADD(p, v) ((*(p) += (v)) - (v))
#define FG_SAMPLE_PIPELINE_THREADS 1
#endif
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define FG_PAUSE() __builtin_ia32_pause()
#else
#define FG_PAUSE() ((void)0)
#endif

/* Fault in the pages of buffer[begin .. end) (one write per 4 KiB), for a later pass that fills them. */
static inline void fg_touch_pages(int64_t *buffer, int64_t begin, int64_t end)
{
    for (int64_t i = begin; i < end; i += 4096 / (int64_t)sizeof(int64_t))
        buffer[i] = 0;
}

/* Drop the pages of [address, address + length) from the process (madvise MADV_DONTNEED, Linux): the
 * caller passes only page-aligned ranges of read-only file mappings, whose pages are read again from the
 * page cache when next touched. Elsewhere nothing happens. */
#if defined(__linux__)
#include <sys/mman.h>
static inline void fg_release_pages(int64_t address, int64_t length)
{
    if (length > 0)
        (void)madvise((void *)(uintptr_t)address, (size_t)length, MADV_DONTNEED);
}
#else
static inline void fg_release_pages(int64_t address, int64_t length)
{
    (void)address;
    (void)length;
}
#endif
#define FG_SAMPLE_CAT_(a, b) a##_##b
#define FG_SAMPLE_CAT(a, b) FG_SAMPLE_CAT_(a, b)

#define FG_I int32_t
#define FG_SUF i32
#include "fastgnn_sample_impl.h"
#undef FG_I
#undef FG_SUF

#define FG_I int64_t
#define FG_SUF i64
#include "fastgnn_sample_impl.h"
#undef FG_I
#undef FG_SUF

#endif
