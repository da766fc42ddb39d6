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

/* Prefetch every cache line of feature row `row` of `x` (row length d). */
static inline void FG_NAME(fg_prefetch_row)(const FG_T *x, int64_t row, int64_t d)
{
    const char *p = (const char *)(x + row * d);
    const int64_t bytes = d * (int64_t)sizeof(FG_T);
    for (int64_t off = 0; off < bytes; off += 64) FG_PREFETCH(p + off);
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

/*
 * out[r] = (1/deg(r) if row_mean) * sum_e coef[e] * gathered_scale[j] * x[j],
 *          j = indices[e], in CSR order.
 * When dot_out is given, also dot_out[edge_id(e)] = gathered_scale[j] * <x[j], dot_with[r]>
 * (the edge-weight gradient, computed in the same pass over x[j]).
 */
FG_CLONES static void FG_NAME(fg_gather_sum)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT x, int64_t d,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices,
    const FG_T *FG_RESTRICT coef, const FG_T *FG_RESTRICT gathered_scale, int row_mean,
    const FG_I *FG_RESTRICT edge_id, const FG_T *FG_RESTRICT dot_with, FG_T *FG_RESTRICT dot_out,
    int64_t row_begin, int64_t row_end)
{
    const int64_t e_stop = indptr[row_end];
    for (int64_t r = row_begin; r < row_end; ++r) {
        FG_T *FG_RESTRICT o = out + r * d;
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];
        for (int64_t k = 0; k < d; ++k) o[k] = 0;
        for (int64_t e = e0; e < e1; ++e) {
            int64_t j;
            if (indices) {
                if (e + FG_PREFETCH_DISTANCE < e_stop)
                    FG_NAME(fg_prefetch_row)(x, indices[e + FG_PREFETCH_DISTANCE], d);
                j = indices[e];
            } else {
                j = e;
            }
            FG_T c = coef ? coef[e] : (FG_T)1;
            FG_T s = gathered_scale ? gathered_scale[j] : (FG_T)1;
            const FG_T *FG_RESTRICT xr = x + j * d;
            const FG_T cs = c * s;
            for (int64_t k = 0; k < d; ++k) o[k] += cs * xr[k];
            if (dot_out) {
                const int64_t id = edge_id ? (int64_t)edge_id[e] : e;
                dot_out[id] = s * FG_NAME(fg_dot)(xr, dot_with + r * d, d);
            }
        }
        if (row_mean && e1 > e0) {
            const FG_T deg = (FG_T)(e1 - e0);
            for (int64_t k = 0; k < d; ++k) o[k] /= deg;
        }
    }
}

/*
 * out[r, k] = max (or min) over the row's edges of coef[e] * x[j, k], and
 * arg[r, k] = the winning edge (the first one on ties; a NaN wins and stays).
 * Empty rows give 0 and arg -1.
 */
#define FG_DEFINE_EXTREMUM(fname, BETTER)                                                   \
FG_CLONES static void FG_NAME(fname)(                                                       \
    FG_T *FG_RESTRICT out, FG_I *FG_RESTRICT arg, const FG_T *FG_RESTRICT x, int64_t d,     \
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices,                        \
    const FG_T *FG_RESTRICT coef, int64_t row_begin, int64_t row_end)                       \
{                                                                                           \
    const int64_t e_stop = indptr[row_end];                                                 \
    for (int64_t r = row_begin; r < row_end; ++r) {                                         \
        FG_T *FG_RESTRICT o = out + r * d;                                                  \
        FG_I *FG_RESTRICT a = arg + r * d;                                                  \
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];                                   \
        if (e0 == e1) {                                                                     \
            for (int64_t k = 0; k < d; ++k) { o[k] = 0; a[k] = (FG_I)-1; }                  \
            continue;                                                                       \
        }                                                                                   \
        for (int64_t e = e0; e < e1; ++e) {                                                 \
            int64_t j;                                                                      \
            if (indices) {                                                                  \
                if (e + FG_PREFETCH_DISTANCE < e_stop)                                      \
                    FG_NAME(fg_prefetch_row)(x, indices[e + FG_PREFETCH_DISTANCE], d);      \
                j = indices[e];                                                             \
            } else {                                                                        \
                j = e;                                                                      \
            }                                                                               \
            const FG_T c = coef ? coef[e] : (FG_T)1;                                        \
            const FG_T *FG_RESTRICT xr = x + j * d;                                         \
            const FG_I eid = (FG_I)e;                                                       \
            if (e == e0) {                                                                  \
                for (int64_t k = 0; k < d; ++k) { o[k] = c * xr[k]; a[k] = eid; }           \
                continue;                                                                   \
            }                                                                               \
            for (int64_t k = 0; k < d; ++k) {                                               \
                const FG_T v = c * xr[k];                                                   \
                const FG_T cur = o[k];                                                      \
                const int take = (BETTER(v, cur)) | ((v != v) & (cur == cur));              \
                o[k] = take ? v : cur;                                                      \
                a[k] = take ? eid : a[k];                                                   \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
}

#define FG_GREATER(v, cur) ((v) > (cur))
#define FG_LESS(v, cur) ((v) < (cur))
FG_DEFINE_EXTREMUM(fg_gather_max, FG_GREATER)
FG_DEFINE_EXTREMUM(fg_gather_min, FG_LESS)
#undef FG_GREATER
#undef FG_LESS
#undef FG_DEFINE_EXTREMUM

/*
 * Backward of max/min over the transposed CSR (rows = gathered nodes j,
 * t_indices = the rows i that gathered them, edge_id = original edge ids):
 *   grad_x[j, k] = sum over edges e = (j -> i) with arg[i, k] == e of coef[t] * g[i, k]
 *   grad_w[e]    = sum over k with arg[i, k] == e of g[i, k] * x[j, k]   (if grad_w)
 * Each output row is owned by one call: no atomics, a fixed order.
 */
FG_CLONES static void FG_NAME(fg_extremum_backward)(
    FG_T *FG_RESTRICT grad_x, const FG_T *FG_RESTRICT g, const FG_I *FG_RESTRICT arg, int64_t d,
    const FG_I *FG_RESTRICT t_indptr, const FG_I *FG_RESTRICT t_indices,
    const FG_I *FG_RESTRICT edge_id, const FG_T *FG_RESTRICT coef,
    const FG_T *FG_RESTRICT x, FG_T *FG_RESTRICT grad_w,
    int64_t row_begin, int64_t row_end)
{
    const int64_t t_stop = t_indptr[row_end];
    for (int64_t j = row_begin; j < row_end; ++j) {
        FG_T *FG_RESTRICT gx = grad_x + j * d;
        for (int64_t k = 0; k < d; ++k) gx[k] = 0;
        for (int64_t t = t_indptr[j]; t < t_indptr[j + 1]; ++t) {
            if (t + FG_PREFETCH_DISTANCE < t_stop) {
                const int64_t ahead = t_indices[t + FG_PREFETCH_DISTANCE];
                FG_NAME(fg_prefetch_row)(g, ahead, d);
                FG_NAME(fg_prefetch_row)((const FG_T *)(const void *)arg, ahead,
                                         d * (int64_t)sizeof(FG_I) / (int64_t)sizeof(FG_T));
            }
            const int64_t i = t_indices[t];
            const FG_I e = edge_id ? edge_id[t] : (FG_I)t;
            const FG_T c = coef ? coef[t] : (FG_T)1;
            const FG_T *FG_RESTRICT gr = g + i * d;
            const FG_I *FG_RESTRICT ar = arg + i * d;
            for (int64_t k = 0; k < d; ++k) gx[k] += (ar[k] == e) ? c * gr[k] : (FG_T)0;
            if (grad_w) {
                const FG_T *FG_RESTRICT xr = x + j * d;
                FG_T total = 0;
                for (int64_t k = 0; k < d; ++k) total += (ar[k] == e) ? gr[k] * xr[k] : (FG_T)0;
                grad_w[e] = total;
            }
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
    for (int64_t r = row_begin; r < row_end; ++r) {
        const FG_T *FG_RESTRICT ar = a + r * d;
        for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
            if (e + FG_PREFETCH_DISTANCE < e_stop)
                FG_NAME(fg_prefetch_row)(b, indices[e + FG_PREFETCH_DISTANCE], d);
            out[e] = FG_NAME(fg_dot)(ar, b + (int64_t)indices[e] * d, d);
        }
    }
}

#undef FG_NAME
