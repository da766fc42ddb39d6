/*
 * One (value type, index type) variant of the kernels; included by
 * fastgnn_kernels.h with FG_T (float or double), FG_I (int32_t or int64_t)
 * and FG_SUF (the name suffix) defined. No include guard on purpose.
 *
 * Conventions shared by all functions:
 *   indptr/indices  CSR of the rows being produced; indices == NULL means the
 *                   identity (edge e gathers row e: contiguous segments).
 *   edge_id         the edge id of position e (a transposed CSR carries the
 *                   permutation); NULL means the position itself.
 *   coef            a per-position multiplier of the message, NULL means 1.
 */
#define FG_NAME(name) FG_CAT(name, FG_SUF)

/* Prefetch every cache line that feature row `row` of `x` (row length d)
 * touches; NumPy aligns arrays to 16 bytes only, so a row may start mid-line
 * and span one line more than its size suggests. */
static inline void FG_NAME(fg_prefetch_span)(const FG_T *x, int64_t row, int64_t ld, int64_t d)
{
    const char *p = (const char *)(x + row * ld);
    const char *end = p + d * (int64_t)sizeof(FG_T);
    p = (const char *)((uintptr_t)p & ~(uintptr_t)63);
    for (; p < end; p += 64) FG_PREFETCH(p);
}

/* The same for a row of a C-contiguous array (row stride d). */
static inline void FG_NAME(fg_prefetch_row)(const FG_T *x, int64_t row, int64_t d)
{
    FG_NAME(fg_prefetch_span)(x, row, d, d);
}

/* Dot product in a fixed summation order (independent of threads). */
static inline FG_T FG_NAME(fg_dot)(const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, int64_t d)
{
    FG_T lanes[FG_DOT_LANES] = {0};
    int64_t k = 0;
    for (; k + FG_DOT_LANES <= d; k += FG_DOT_LANES)
        for (int l = 0; l < FG_DOT_LANES; ++l) lanes[l] += a[k + l] * b[k + l];
    FG_T total = 0;
    for (int l = 0; l < FG_DOT_LANES; ++l) total += lanes[l];
    for (; k < d; ++k) total += a[k] * b[k];
    return total;
}

/* Edges ahead whose feature rows are prefetched: about 12 KiB in flight. */
static inline int64_t FG_NAME(fg_prefetch_distance)(int64_t d)
{
    int64_t bytes = d * (int64_t)sizeof(FG_T);
    int64_t distance = bytes > 0 ? 12288 / bytes : 64;
    return distance < 4 ? 4 : (distance > 64 ? 64 : distance);
}

/*
 * The row loops below work on blocks of W features at a time (W a
 * compile-time constant), so the W accumulators stay in vector registers
 * while the row's edges stream past; a feature width is covered by blocks of
 * 64, 32, 16, 8, 4 and 1 features. Each block visits the row's edges in CSR
 * order, so every output element is summed in the same order whatever the
 * block sizes and thread count.
 */

/* One block of gather-sum for row r: features [kb, kb + w), w <= W (W fixes the registers). */
#define FG_DEFINE_SUM_BLOCK(W)                                                                  \
static inline __attribute__((always_inline)) void FG_NAME(fg_sum_block_##W)(                    \
    FG_T *FG_RESTRICT o, const FG_T *FG_RESTRICT x, int64_t d, int64_t ldx, int64_t kb, int w, \
    const FG_I *FG_RESTRICT indices, int64_t e0, int64_t e1, int64_t e_stop, int64_t distance,  \
    const FG_T *FG_RESTRICT coef, const FG_T *FG_RESTRICT scale, FG_T divisor)                  \
{                                                                                               \
    FG_T acc[W];                                                                                \
    for (int l = 0; l < W; ++l) acc[l] = 0;                                                     \
    for (int64_t e = e0; e < e1; ++e) {                                                         \
        int64_t j;                                                                              \
        if (indices) {                                                                          \
            if (kb == 0 && e + distance < e_stop)                                               \
                FG_NAME(fg_prefetch_span)(x, indices[e + distance], ldx, d);                    \
            j = indices[e];                                                                     \
        } else {                                                                                \
            j = e;                                                                              \
        }                                                                                       \
        FG_T c = coef ? coef[e] : (FG_T)1;                                                      \
        if (scale) c *= scale[j];                                                               \
        const FG_T *FG_RESTRICT xr = x + j * ldx + kb;                                          \
        for (int l = 0; l < w; ++l) acc[l] += c * xr[l];                                        \
    }                                                                                           \
    if (divisor != (FG_T)1)                                                                     \
        for (int l = 0; l < w; ++l) acc[l] /= divisor;                                           \
    for (int l = 0; l < w; ++l) o[kb + l] = acc[l];                                             \
}
FG_DEFINE_SUM_BLOCK(64)
FG_DEFINE_SUM_BLOCK(32)
FG_DEFINE_SUM_BLOCK(16)
#undef FG_DEFINE_SUM_BLOCK

/* T values from x[start]: in place when they lie inside x, else the w that
 * do, copied into `padded` (whose lanes past w stay 0). */
static inline __attribute__((always_inline)) const FG_T *FG_NAME(fg_tail_values)(
    const FG_T *x, int64_t x_size, int64_t start, int w, int T, FG_T *padded)
{
    if (start + T <= x_size) return x + start;
    for (int l = 0; l < w; ++l) padded[l] = x[start + l];
    return padded;
}

/* Prefetch the row of x a tail block reads T values of from column kb (the
 * values past the row's end belong to the next row and may sit on another line). */
static inline void FG_NAME(fg_prefetch_tail)(const FG_T *x, int64_t row, int64_t ld, int64_t d, int64_t kb,
                                             int T)
{
    FG_NAME(fg_prefetch_span)(x, row, ld, d);
    FG_PREFETCH(x + row * ld + kb + T - 1);
}

/*
 * The last w < T features of row r in one pass, T = 8 or 16. Where the T
 * values from x[j, kb] on lie inside x (all but the last rows), a full T-wide
 * block is read and the lanes past w are dropped (they hold the next row's
 * values and never reach the output); otherwise the w values are copied.
 */
#define FG_DEFINE_SUM_TAIL(T)                                                                   \
static inline __attribute__((always_inline)) void FG_NAME(fg_sum_tail_##T)(                     \
    FG_T *FG_RESTRICT o, const FG_T *FG_RESTRICT x, int64_t x_size, int64_t d, int64_t ldx,     \
    int64_t kb, int w,                                                                          \
    const FG_I *FG_RESTRICT indices, int64_t e0, int64_t e1, int64_t e_stop, int64_t distance,  \
    const FG_T *FG_RESTRICT coef, const FG_T *FG_RESTRICT scale, FG_T divisor)                  \
{                                                                                               \
    FG_T acc[T], padded[T];                                                                     \
    for (int l = 0; l < T; ++l) acc[l] = padded[l] = 0;                                         \
    for (int64_t e = e0; e < e1; ++e) {                                                         \
        int64_t j;                                                                              \
        if (indices) {                                                                          \
            if (kb == 0 && e + distance < e_stop)                                               \
                FG_NAME(fg_prefetch_tail)(x, indices[e + distance], ldx, d, kb, T);             \
            j = indices[e];                                                                     \
        } else {                                                                                \
            j = e;                                                                              \
        }                                                                                       \
        FG_T c = coef ? coef[e] : (FG_T)1;                                                      \
        if (scale) c *= scale[j];                                                               \
        const FG_T *FG_RESTRICT xr = FG_NAME(fg_tail_values)(x, x_size, j * ldx + kb, w, T, padded); \
        for (int l = 0; l < T; ++l) acc[l] += c * xr[l];                                        \
    }                                                                                           \
    for (int l = 0; l < w; ++l) o[kb + l] = divisor != (FG_T)1 ? acc[l] / divisor : acc[l];     \
}
FG_DEFINE_SUM_TAIL(16)
FG_DEFINE_SUM_TAIL(8)
#undef FG_DEFINE_SUM_TAIL

/* Covers features [0, d) of one row: blocks of 64, 32 and 16 features, then
 * the last d % 16 in one pass (a tail block of 8 or 16 lanes), so no row is
 * walked more than d / 16 + 1 times. */
#define FG_FOR_EACH_BLOCK(CALL, TAIL)                                     \
    do {                                                                \
        int64_t kb = 0;                                                 \
        for (; kb + 64 <= d; kb += 64) CALL(64, 64);                    \
        if (kb + 32 <= d) { CALL(32, 32); kb += 32; }                   \
        if (kb + 16 <= d) { CALL(16, 16); kb += 16; }                   \
        if (kb + 8 < d) TAIL(16, (int)(d - kb));                        \
        else if (kb < d) TAIL(8, (int)(d - kb));                        \
    } while (0)

/*
 * out[r] = (1/deg(r) if row_mean) * sum_e coef[e] * scale[j] * x[j],
 *          j = indices[e], in CSR order.
 * When dot_out is given, also dot_out[edge_id(e)] = scale[j] * <x[j], dot_with[r]>
 * (the edge-weight gradient, from the same rows of x).
 * Rows are d values wide; row j of x starts at x + j * ldx and row r of out at
 * out + r * ldo (ldx, ldo >= d: columns of a wider array; dot_with's rows are
 * d apart). x_size counts the values readable from x on.
 */
FG_CLONES static void FG_NAME(fg_gather_sum)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT x, int64_t x_size, int64_t d, int64_t ldx, int64_t ldo,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices,
    const FG_T *FG_RESTRICT coef, const FG_T *FG_RESTRICT scale, int row_mean,
    const FG_I *FG_RESTRICT edge_id, const FG_T *FG_RESTRICT dot_with, FG_T *FG_RESTRICT dot_out,
    int64_t row_begin, int64_t row_end)
{
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(d);
    for (int64_t r = row_begin; r < row_end; ++r) {
        FG_T *FG_RESTRICT o = out + r * ldo;
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];
        const FG_T divisor = (row_mean && e1 > e0) ? (FG_T)(e1 - e0) : (FG_T)1;
        if (d > FG_BLOCKED_WIDTH) {
            /* Wide rows: accumulate in the (L1-resident) output row, one pass over the edges. */
            for (int64_t k = 0; k < d; ++k) o[k] = 0;
            for (int64_t e = e0; e < e1; ++e) {
                int64_t j;
                if (indices) {
                    if (e + distance < e_stop) FG_NAME(fg_prefetch_span)(x, indices[e + distance], ldx, d);
                    j = indices[e];
                } else {
                    j = e;
                }
                FG_T c = coef ? coef[e] : (FG_T)1;
                if (scale) c *= scale[j];
                const FG_T *FG_RESTRICT xr = x + j * ldx;
                for (int64_t k = 0; k < d; ++k) o[k] += c * xr[k];
            }
            if (divisor != (FG_T)1)
                for (int64_t k = 0; k < d; ++k) o[k] /= divisor;
        } else {
#define FG_SUM_CALL(W, w) FG_NAME(fg_sum_block_##W)(o, x, d, ldx, kb, w, indices, e0, e1, e_stop, distance, coef, scale, divisor)
#define FG_SUM_TAIL(T, w) FG_NAME(fg_sum_tail_##T)(o, x, x_size, d, ldx, kb, w, indices, e0, e1, e_stop, distance, coef, scale, divisor)
            FG_FOR_EACH_BLOCK(FG_SUM_CALL, FG_SUM_TAIL);
#undef FG_SUM_TAIL
#undef FG_SUM_CALL
        }
        if (dot_out) {
            for (int64_t e = e0; e < e1; ++e) {
                const int64_t j = indices ? (int64_t)indices[e] : e;
                const int64_t id = edge_id ? (int64_t)edge_id[e] : e;
                const FG_T s = scale ? scale[j] : (FG_T)1;
                dot_out[id] = s * FG_NAME(fg_dot)(x + j * ldx, dot_with + r * d, d);
            }
        }
    }
}

/*
 * One block of max (or min) for row r: out[r, k] = the extremum of
 * coef[e] * x[j, k] over the row's edges and arg[r, k] = the winning edge
 * (the first one on ties; a NaN wins and then stays). The row is not empty.
 */
#define FG_DEFINE_EXTREMUM_BLOCK(NAME, W, BETTER, LOOP)                                             \
static inline __attribute__((always_inline)) void FG_NAME(NAME##_##W)(                         \
    FG_T *FG_RESTRICT o, FG_I *FG_RESTRICT a, const FG_T *FG_RESTRICT x, int64_t d, int64_t kb, \
    int w,                                                                                      \
    const FG_I *FG_RESTRICT indices, int64_t e0, int64_t e1, int64_t e_stop, int64_t distance,  \
    const FG_T *FG_RESTRICT coef)                                                               \
{                                                                                               \
    FG_T best[W];                                                                               \
    FG_I won[W];                                                                                \
    {                                                                                           \
        const int64_t j = indices ? (int64_t)indices[e0] : e0;                                  \
        const FG_T c = coef ? coef[e0] : (FG_T)1;                                               \
        for (int l = 0; l < w; ++l) { best[l] = c * x[j * d + kb + l]; won[l] = (FG_I)e0; }     \
    }                                                                                           \
    for (int64_t e = e0 + 1; e < e1; ++e) {                                                     \
        int64_t j;                                                                              \
        if (indices) {                                                                          \
            if (kb == 0 && e + distance < e_stop)                                               \
                FG_NAME(fg_prefetch_row)(x, indices[e + distance], d);                          \
            j = indices[e];                                                                     \
        } else {                                                                                \
            j = e;                                                                              \
        }                                                                                       \
        const FG_T c = coef ? coef[e] : (FG_T)1;                                                \
        const FG_T *FG_RESTRICT xr = x + j * d + kb;                                            \
        const FG_I edge = (FG_I)e;                                                              \
        LOOP for (int l = 0; l < w; ++l) {                                                      \
            const FG_T v = c * xr[l];                                                           \
            const FG_T cur = best[l];                                                           \
            const int take = (BETTER(v, cur)) | ((v != v) & (cur == cur));                      \
            best[l] = take ? v : cur;                                                           \
            won[l] = take ? edge : won[l];                                                      \
        }                                                                                       \
    }                                                                                           \
    for (int l = 0; l < w; ++l) { o[kb + l] = best[l]; a[kb + l] = won[l]; }                   \
}
#define FG_GREATER(v, cur) ((v) > (cur))
#define FG_LESS(v, cur) ((v) < (cur))
#define FG_DEFINE_EXTREMUM_BLOCKS(NAME, BETTER)  \
    FG_DEFINE_EXTREMUM_BLOCK(NAME, 64, BETTER, )                \
    FG_DEFINE_EXTREMUM_BLOCK(NAME, 32, BETTER, )                \
    FG_DEFINE_EXTREMUM_BLOCK(NAME, 16, BETTER, FG_VECTOR_LOOP)
FG_DEFINE_EXTREMUM_BLOCKS(fg_max_block, FG_GREATER)
FG_DEFINE_EXTREMUM_BLOCKS(fg_min_block, FG_LESS)
#undef FG_DEFINE_EXTREMUM_BLOCKS
#undef FG_DEFINE_EXTREMUM_BLOCK
#undef FG_GREATER
#undef FG_LESS

/* The last w < T features of a non-empty row in one pass (see the sum tail). */
#define FG_DEFINE_EXTREMUM_TAIL(NAME, T, BETTER)                                                \
static inline __attribute__((always_inline)) void FG_NAME(NAME##_##T)(                         \
    FG_T *FG_RESTRICT o, FG_I *FG_RESTRICT a, const FG_T *FG_RESTRICT x, int64_t x_size,        \
    int64_t d, int64_t kb, int w, const FG_I *FG_RESTRICT indices, int64_t e0, int64_t e1,      \
    int64_t e_stop, int64_t distance, const FG_T *FG_RESTRICT coef)                             \
{                                                                                               \
    FG_T best[T], padded[T];                                                                    \
    FG_I won[T];                                                                                \
    {                                                                                           \
        const int64_t j = indices ? (int64_t)indices[e0] : e0;                                  \
        const FG_T c = coef ? coef[e0] : (FG_T)1;                                               \
        for (int l = 0; l < T; ++l) { best[l] = padded[l] = 0; won[l] = (FG_I)e0; }             \
        for (int l = 0; l < w; ++l) best[l] = c * x[j * d + kb + l];                            \
    }                                                                                           \
    for (int64_t e = e0 + 1; e < e1; ++e) {                                                     \
        int64_t j;                                                                              \
        if (indices) {                                                                          \
            if (kb == 0 && e + distance < e_stop)                                               \
                FG_NAME(fg_prefetch_tail)(x, indices[e + distance], d, d, kb, T);               \
            j = indices[e];                                                                     \
        } else {                                                                                \
            j = e;                                                                              \
        }                                                                                       \
        const FG_T c = coef ? coef[e] : (FG_T)1;                                                \
        const FG_T *FG_RESTRICT xr = FG_NAME(fg_tail_values)(x, x_size, j * d + kb, w, T, padded); \
        const FG_I edge = (FG_I)e;                                                              \
        FG_VECTOR_LOOP for (int l = 0; l < T; ++l) {                                            \
            const FG_T v = c * xr[l];                                                           \
            const FG_T cur = best[l];                                                           \
            const int take = (BETTER(v, cur)) | ((v != v) & (cur == cur));                      \
            best[l] = take ? v : cur;                                                           \
            won[l] = take ? edge : won[l];                                                      \
        }                                                                                       \
    }                                                                                           \
    for (int l = 0; l < w; ++l) { o[kb + l] = best[l]; a[kb + l] = won[l]; }                   \
}
#define FG_GREATER(v, cur) ((v) > (cur))
#define FG_LESS(v, cur) ((v) < (cur))
FG_DEFINE_EXTREMUM_TAIL(fg_max_tail, 16, FG_GREATER)
FG_DEFINE_EXTREMUM_TAIL(fg_max_tail, 8, FG_GREATER)
FG_DEFINE_EXTREMUM_TAIL(fg_min_tail, 16, FG_LESS)
FG_DEFINE_EXTREMUM_TAIL(fg_min_tail, 8, FG_LESS)
#undef FG_GREATER
#undef FG_LESS
#undef FG_DEFINE_EXTREMUM_TAIL

/* Max (min) of a wide, non-empty row: the running extremum lives in the output row. */
#define FG_DEFINE_EXTREMUM_WIDE(NAME, BETTER)                                                   \
static inline __attribute__((always_inline)) void FG_NAME(NAME)(                               \
    FG_T *FG_RESTRICT o, FG_I *FG_RESTRICT a, const FG_T *FG_RESTRICT x, int64_t d,             \
    const FG_I *FG_RESTRICT indices, int64_t e0, int64_t e1, int64_t e_stop, int64_t distance,  \
    const FG_T *FG_RESTRICT coef)                                                               \
{                                                                                               \
    {                                                                                           \
        const int64_t j = indices ? (int64_t)indices[e0] : e0;                                  \
        const FG_T c = coef ? coef[e0] : (FG_T)1;                                               \
        for (int64_t k = 0; k < d; ++k) { o[k] = c * x[j * d + k]; a[k] = (FG_I)e0; }           \
    }                                                                                           \
    for (int64_t e = e0 + 1; e < e1; ++e) {                                                     \
        int64_t j;                                                                              \
        if (indices) {                                                                          \
            if (e + distance < e_stop) FG_NAME(fg_prefetch_row)(x, indices[e + distance], d);   \
            j = indices[e];                                                                     \
        } else {                                                                                \
            j = e;                                                                              \
        }                                                                                       \
        const FG_T c = coef ? coef[e] : (FG_T)1;                                                \
        const FG_T *FG_RESTRICT xr = x + j * d;                                                 \
        const FG_I edge = (FG_I)e;                                                              \
        for (int64_t k = 0; k < d; ++k) {                                                       \
            const FG_T v = c * xr[k];                                                           \
            const FG_T cur = o[k];                                                              \
            const int take = (BETTER(v, cur)) | ((v != v) & (cur == cur));                      \
            o[k] = take ? v : cur;                                                              \
            a[k] = take ? edge : a[k];                                                          \
        }                                                                                       \
    }                                                                                           \
}
#define FG_GREATER(v, cur) ((v) > (cur))
#define FG_LESS(v, cur) ((v) < (cur))
FG_DEFINE_EXTREMUM_WIDE(fg_max_wide, FG_GREATER)
FG_DEFINE_EXTREMUM_WIDE(fg_min_wide, FG_LESS)
#undef FG_GREATER
#undef FG_LESS
#undef FG_DEFINE_EXTREMUM_WIDE

/* Row-wise max (min) with arg; empty rows give 0 and arg -1. */
#define FG_DEFINE_EXTREMUM(fname, BLOCK, TAIL, WIDE)                                                    \
FG_CLONES static void FG_NAME(fname)(                                                           \
    FG_T *FG_RESTRICT out, FG_I *FG_RESTRICT arg, const FG_T *FG_RESTRICT x, int64_t x_size,    \
    int64_t d, const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices,                 \
    const FG_T *FG_RESTRICT coef, int64_t row_begin, int64_t row_end)                           \
{                                                                                               \
    const int64_t e_stop = indptr[row_end];                                                     \
    const int64_t distance = FG_NAME(fg_prefetch_distance)(d);                                  \
    for (int64_t r = row_begin; r < row_end; ++r) {                                             \
        FG_T *FG_RESTRICT o = out + r * d;                                                      \
        FG_I *FG_RESTRICT a = arg + r * d;                                                      \
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];                                       \
        if (e0 == e1) {                                                                         \
            for (int64_t k = 0; k < d; ++k) { o[k] = 0; a[k] = (FG_I)-1; }                      \
            continue;                                                                           \
        }                                                                                       \
        if (d > FG_BLOCKED_WIDTH) {                                                             \
            FG_NAME(WIDE)(o, a, x, d, indices, e0, e1, e_stop, distance, coef);                 \
        } else {                                                                                \
            FG_FOR_EACH_BLOCK(BLOCK, TAIL);                                                     \
        }                                                                                       \
    }                                                                                           \
}
#define FG_MAX_CALL(W, w) FG_NAME(fg_max_block_##W)(o, a, x, d, kb, w, indices, e0, e1, e_stop, distance, coef)
#define FG_MIN_CALL(W, w) FG_NAME(fg_min_block_##W)(o, a, x, d, kb, w, indices, e0, e1, e_stop, distance, coef)
#define FG_MAX_TAIL(T, w) FG_NAME(fg_max_tail_##T)(o, a, x, x_size, d, kb, w, indices, e0, e1, e_stop, distance, coef)
#define FG_MIN_TAIL(T, w) FG_NAME(fg_min_tail_##T)(o, a, x, x_size, d, kb, w, indices, e0, e1, e_stop, distance, coef)
FG_DEFINE_EXTREMUM(fg_gather_max, FG_MAX_CALL, FG_MAX_TAIL, fg_max_wide)
FG_DEFINE_EXTREMUM(fg_gather_min, FG_MIN_CALL, FG_MIN_TAIL, fg_min_wide)
#undef FG_MAX_TAIL
#undef FG_MIN_TAIL
#undef FG_MAX_CALL
#undef FG_MIN_CALL
#undef FG_DEFINE_EXTREMUM

#undef FG_FOR_EACH_BLOCK

/*
 * Backward of max/min from the rows that were reduced: for every row i and
 * each of its edges e = (j -> i), the features k in [k_begin, k_end) that e
 * won (arg[i, k] == e) add coef[e] * g[i, k] to grad_x[j, k]. The row's arg
 * and g stay in L1 while its edges stream past, and grad_x's rows are
 * prefetched like the gathered rows of the forward. Rows are visited in
 * increasing order, so each grad_x[j, k] sums its terms in increasing edge
 * id, as a pass over the transpose would, with no atomics; threads split the
 * features, never the rows, so no two threads touch the same element.
 * The call zeroes its own columns of grad_x first. arg comes from the caller:
 * an entry that is neither an edge of its row nor -1 for an empty row is
 * counted and never followed; returns that count (the caller raises).
 * The weight gradient below trusts arg: run it only after this found none.
 */
FG_CLONES static int64_t FG_NAME(fg_extremum_scatter)(
    FG_T *FG_RESTRICT grad_x, int64_t n_src, const FG_T *FG_RESTRICT g, const FG_I *FG_RESTRICT arg,
    int64_t d, int64_t n_rows, const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices,
    const FG_T *FG_RESTRICT coef, int64_t k_begin, int64_t k_end)
{
    int64_t invalid = 0;
    const int64_t width = k_end - k_begin;
    for (int64_t j = 0; j < n_src; ++j)
        for (int64_t k = k_begin; k < k_end; ++k) grad_x[j * d + k] = 0;
    const int64_t e_stop = indptr[n_rows];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(width);
    for (int64_t i = 0; i < n_rows; ++i) {
        const FG_T *FG_RESTRICT gr = g + i * d + k_begin;
        const FG_I *FG_RESTRICT ar = arg + i * d + k_begin;
        const int64_t e0 = indptr[i], e1 = indptr[i + 1];
        for (int64_t k = 0; k < width; ++k) {
            const int64_t e = ar[k];
            invalid += (e0 == e1) ? (e != -1) : (e < e0 || e >= e1);
        }
        for (int64_t e = e0; e < e1; ++e) {
            int64_t j;
            if (indices) {
                if (e + distance < e_stop) {
                    const char *ahead = (const char *)(grad_x + (int64_t)indices[e + distance] * d + k_begin);
                    const char *end = ahead + width * (int64_t)sizeof(FG_T);
                    for (ahead = (const char *)((uintptr_t)ahead & ~(uintptr_t)63); ahead < end; ahead += 64)
                        __builtin_prefetch(ahead, 1, 3);
                }
                j = indices[e];
            } else {
                j = e;
            }
            const FG_T c = coef ? coef[e] : (FG_T)1;
            const FG_I edge = (FG_I)e;
            FG_T *FG_RESTRICT gx = grad_x + j * d + k_begin;
            for (int64_t k = 0; k < width; ++k) gx[k] += (ar[k] == edge) ? c * gr[k] : (FG_T)0;
        }
    }
    return invalid;
}

/* Prefetch every cache line of id row `row` of `ids` (row length d). */
static inline void FG_NAME(fg_prefetch_ids)(const FG_I *ids, int64_t row, int64_t d)
{
    const char *p = (const char *)(ids + row * d);
    const char *end = p + d * (int64_t)sizeof(FG_I);
    p = (const char *)((uintptr_t)p & ~(uintptr_t)63);
    for (; p < end; p += 64) FG_PREFETCH(p);
}

/* One block (features [kb, kb + w), w <= W) of the max/min backward for transposed row j. */
#define FG_DEFINE_ROUTE_BLOCK(W, LOOP)                                                          \
static inline __attribute__((always_inline)) void FG_NAME(fg_route_block_##W)(                  \
    FG_T *FG_RESTRICT gx, const FG_T *FG_RESTRICT g, const FG_I *FG_RESTRICT arg, int64_t d,    \
    int64_t kb, int w, const FG_I *FG_RESTRICT t_indices, const FG_I *FG_RESTRICT edge_id,      \
    const FG_T *FG_RESTRICT coef, int64_t t0, int64_t t1, int64_t t_stop, int64_t distance)     \
{                                                                                               \
    FG_T acc[W];                                                                                \
    for (int l = 0; l < W; ++l) acc[l] = 0;                                                     \
    for (int64_t t = t0; t < t1; ++t) {                                                         \
        if (kb == 0 && t + distance < t_stop) {                                                 \
            const int64_t ahead = t_indices[t + distance];                                      \
            FG_NAME(fg_prefetch_row)(g, ahead, d);                                              \
            FG_NAME(fg_prefetch_ids)(arg, ahead, d);                                            \
        }                                                                                       \
        const int64_t i = t_indices[t];                                                         \
        const FG_I e = edge_id[t];                                                              \
        const FG_T c = coef ? coef[t] : (FG_T)1;                                                \
        const FG_T *FG_RESTRICT gr = g + i * d + kb;                                            \
        const FG_I *FG_RESTRICT ar = arg + i * d + kb;                                          \
        LOOP for (int l = 0; l < w; ++l) acc[l] += (ar[l] == e) ? c * gr[l] : (FG_T)0;          \
    }                                                                                           \
    for (int l = 0; l < w; ++l) gx[kb + l] = acc[l];                                            \
}
FG_DEFINE_ROUTE_BLOCK(64, )
FG_DEFINE_ROUTE_BLOCK(32, )
FG_DEFINE_ROUTE_BLOCK(16, FG_VECTOR_LOOP)
#undef FG_DEFINE_ROUTE_BLOCK

/*
 * The same backward as fg_extremum_scatter, gathered over the transposed CSR
 * instead (rows = source nodes j, t_indices = the rows i that gathered them,
 * edge_id = original edge ids, coef by transposed position): grad_x[j, k] =
 * sum over j's edges e, in increasing edge id, of (arg[i, k] == e ? coef * g[i, k] : 0).
 * Every element adds exactly the terms fg_extremum_scatter adds, in the same
 * order (the build disables FMA contraction), so the two give identical
 * bits; this one splits source rows across threads and only reads memory at
 * random, so it is the parallel path. It trusts arg (it only compares it).
 */
FG_CLONES static void FG_NAME(fg_extremum_gather)(
    FG_T *FG_RESTRICT grad_x, const FG_T *FG_RESTRICT g, const FG_I *FG_RESTRICT arg, int64_t d,
    const FG_I *FG_RESTRICT t_indptr, const FG_I *FG_RESTRICT t_indices,
    const FG_I *FG_RESTRICT edge_id, const FG_T *FG_RESTRICT coef,
    int64_t row_begin, int64_t row_end)
{
    const int64_t t_stop = t_indptr[row_end];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(2 * d);
    for (int64_t j = row_begin; j < row_end; ++j) {
        FG_T *FG_RESTRICT gx = grad_x + j * d;
        const int64_t t0 = t_indptr[j], t1 = t_indptr[j + 1];
        int64_t kb = 0;
        for (; kb + 64 <= d; kb += 64)
            FG_NAME(fg_route_block_64)(gx, g, arg, d, kb, 64, t_indices, edge_id, coef, t0, t1, t_stop, distance);
        if (kb + 32 <= d) {
            FG_NAME(fg_route_block_32)(gx, g, arg, d, kb, 32, t_indices, edge_id, coef, t0, t1, t_stop, distance);
            kb += 32;
        }
        for (; kb < d; kb += 16) {
            const int w = (int)(d - kb < 16 ? d - kb : 16);
            FG_NAME(fg_route_block_16)(gx, g, arg, d, kb, w, t_indices, edge_id, coef, t0, t1, t_stop, distance);
        }
    }
}

/* Number of arg entries of rows [row_begin, row_end) that are neither an edge
 * of their row nor -1 for an empty row (what fg_extremum_scatter also counts). */
FG_CLONES static int64_t FG_NAME(fg_arg_invalid)(
    const FG_I *FG_RESTRICT arg, int64_t d, const FG_I *FG_RESTRICT indptr, int64_t row_begin, int64_t row_end)
{
    int64_t invalid = 0;
    for (int64_t i = row_begin; i < row_end; ++i) {
        const int64_t e0 = indptr[i], e1 = indptr[i + 1];
        const FG_I *FG_RESTRICT ar = arg + i * d;
        for (int64_t k = 0; k < d; ++k) {
            const int64_t e = ar[k];
            invalid += (e0 == e1) ? (e != -1) : (e < e0 || e >= e1);
        }
    }
    return invalid;
}

/*
 * Edge-weight gradient of max/min for rows [row_begin, row_end):
 * grad_w[e] = sum over k (increasing) with arg[i, k] == e of g[i, k] * x[src(e), k].
 * Every edge of a row is written (0 when it won nothing).
 */
FG_CLONES static void FG_NAME(fg_extremum_weight_grad)(
    FG_T *FG_RESTRICT grad_w, const FG_T *FG_RESTRICT g, const FG_I *FG_RESTRICT arg,
    const FG_T *FG_RESTRICT x, int64_t d, const FG_I *FG_RESTRICT indptr,
    const FG_I *FG_RESTRICT indices, int64_t row_begin, int64_t row_end)
{
    for (int64_t i = row_begin; i < row_end; ++i) {
        for (int64_t e = indptr[i]; e < indptr[i + 1]; ++e) grad_w[e] = 0;
        const FG_T *FG_RESTRICT gr = g + i * d;
        const FG_I *FG_RESTRICT ar = arg + i * d;
        for (int64_t k = 0; k < d; ++k) {
            const int64_t e = ar[k];
            if (e < 0) continue;
            const int64_t j = indices ? (int64_t)indices[e] : e;
            grad_w[e] += gr[k] * x[j * d + k];
        }
    }
}

/* out[e] = <a[r], b[indices[e]]> for the edges e of rows [row_begin, row_end). */
FG_CLONES static void FG_NAME(fg_edge_dot)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, int64_t d,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices,
    int64_t row_begin, int64_t row_end)
{
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(d);
    for (int64_t r = row_begin; r < row_end; ++r) {
        const FG_T *FG_RESTRICT ar = a + r * d;
        for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
            if (e + distance < e_stop)
                FG_NAME(fg_prefetch_row)(b, indices[e + distance], d);
            out[e] = FG_NAME(fg_dot)(ar, b + (int64_t)indices[e] * d, d);
        }
    }
}

#undef FG_NAME
