/*
 * One (value type, index type) variant of the gather floor; included by
 * fastgnn_probe.h with FG_T, FG_I and FG_SUF defined. No include guard on
 * purpose.
 *
 * out[r] = sum of x[indices[e]] over the edges e of row r, in CSR order, with
 * the rows of x prefetched `distance` edges ahead. Nothing else: no weights,
 * no mean, no blocks of features, no arg. Each output row is summed in
 * vector registers where the width is one of a few compile-time widths (16,
 * 32, 64, 128 or 256 values; else in the L1-resident output row itself) and
 * written once, since a real aggregation must write it too. Every element is
 * summed in CSR order, so the result does not depend on the thread count.
 */
#define FG_PNAME(name) FG_CAT(name, FG_SUF)

/* Prefetch every cache line of row `row` of x (rows may start mid-line). */
static inline __attribute__((always_inline)) void FG_PNAME(fg_probe_prefetch_row)(
    const FG_T *x, int64_t row, int64_t d)
{
    const char *p = (const char *)(x + row * d);
    const char *end = p + d * (int64_t)sizeof(FG_T);
    p = (const char *)((uintptr_t)p & ~(uintptr_t)63);
    for (; p < end; p += 64) FG_PREFETCH(p);
}

/* 64 bytes of values: one AVX-512 register (two AVX2 ones, four SSE2 ones in the other clones). */
typedef FG_T FG_PNAME(fg_probe_vec) __attribute__((vector_size(64)));

/* Rows [row_begin, row_end) for a width W known at compile time (W values a multiple of 64 bytes):
 * the row's sum lives in W * sizeof(FG_T) / 64 vector registers. Explicit vectors, because GCC
 * unrolls a constant-trip lane loop into scalar code before it would vectorise it. */
#define FG_PROBE_DEFINE_ROWS(W)                                                                  \
static inline __attribute__((always_inline)) void FG_PNAME(fg_probe_rows_##W)(                 \
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT x, const FG_I *FG_RESTRICT indptr,            \
    const FG_I *FG_RESTRICT indices, int64_t distance, int64_t row_begin, int64_t row_end)       \
{                                                                                                \
    typedef FG_PNAME(fg_probe_vec) vec;                                                          \
    enum { NV = (int)(W * sizeof(FG_T) / 64) };                                                  \
    const int64_t e_stop = indptr[row_end];                                                      \
    for (int64_t r = row_begin; r < row_end; ++r) {                                              \
        vec acc[NV];                                                                             \
        for (int v = 0; v < NV; ++v) acc[v] = (vec){0};                                          \
        for (int64_t e = indptr[r], e1 = indptr[r + 1]; e < e1; ++e) {                           \
            if (e + distance < e_stop)                                                           \
                FG_PNAME(fg_probe_prefetch_row)(x, indices[e + distance], W);                    \
            const char *xr = (const char *)(x + (int64_t)indices[e] * W);                        \
            for (int v = 0; v < NV; ++v) {                                                       \
                vec t;                                                                           \
                __builtin_memcpy(&t, xr + 64 * v, 64);                                           \
                acc[v] += t;                                                                     \
            }                                                                                    \
        }                                                                                        \
        char *o = (char *)(out + r * W);                                                         \
        for (int v = 0; v < NV; ++v) __builtin_memcpy(o + 64 * v, &acc[v], 64);                 \
    }                                                                                            \
}
FG_PROBE_DEFINE_ROWS(16)
FG_PROBE_DEFINE_ROWS(32)
FG_PROBE_DEFINE_ROWS(64)
FG_PROBE_DEFINE_ROWS(128)
FG_PROBE_DEFINE_ROWS(256)
#undef FG_PROBE_DEFINE_ROWS

FG_CLONES static void FG_PNAME(fg_probe_gather_floor)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT x, int64_t d, const FG_I *FG_RESTRICT indptr,
    const FG_I *FG_RESTRICT indices, int64_t distance, int64_t row_begin, int64_t row_end)
{
    switch (d) {
#define FG_PROBE_CASE(W) \
    case W: FG_PNAME(fg_probe_rows_##W)(out, x, indptr, indices, distance, row_begin, row_end); return;
    FG_PROBE_CASE(16)
    FG_PROBE_CASE(32)
    FG_PROBE_CASE(64)
    FG_PROBE_CASE(128)
    FG_PROBE_CASE(256)
#undef FG_PROBE_CASE
    default:
        break;
    }
    /* Any other width: the sum runs in the output row, which stays in L1. */
    const int64_t e_stop = indptr[row_end];
    for (int64_t r = row_begin; r < row_end; ++r) {
        FG_T *FG_RESTRICT o = out + r * d;
        for (int64_t k = 0; k < d; ++k) o[k] = 0;
        for (int64_t e = indptr[r], e1 = indptr[r + 1]; e < e1; ++e) {
            if (e + distance < e_stop) FG_PNAME(fg_probe_prefetch_row)(x, indices[e + distance], d);
            const FG_T *FG_RESTRICT xr = x + (int64_t)indices[e] * d;
            for (int64_t k = 0; k < d; ++k) o[k] += xr[k];
        }
    }
}

#undef FG_PNAME
