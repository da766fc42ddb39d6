/*
 * One (value type, index type) variant of the attention kernels; included by
 * fastgnn_attention.h with FG_T, FG_I, FG_SUF and FG_PRECISE_EXP (1 when
 * exp needs double precision) defined. No include guard on purpose.
 *
 * Conventions (as fastgnn_kernels_impl.h):
 *   indptr/indices  CSR of the rows being produced; indices == NULL means the
 *                   identity (edge e reads row e).
 *   edge_id         the edge id of position e (a transposed CSR carries the
 *                   permutation); NULL means the position itself. Per-edge
 *                   values (weights, scores) are read at edge_id(e) * heads.
 */
#define FG_NAME(name) FG_CAT(name, FG_SUF)

/* exp(x) for x <= 0 (NaN stays NaN, -inf gives 0), vectorizable. */
#define FG_EXP(x) ((FG_T)fg_exp_nonpositive((double)(x), FG_PRECISE_EXP))

/* <a, b> over f values in the order of fg_dot: narrower than its lanes, fg_dot
 * adds the products one after the other to 0, as this loop does. */
static inline __attribute__((always_inline)) FG_T FG_NAME(fg_head_dot)(
    const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, const int64_t f)
{
    if (f >= FG_DOT_LANES) return FG_NAME(fg_dot)(a, b, f);
    FG_T total = 0;
    for (int64_t k = 0; k < f; ++k) total += a[k] * b[k];
    return total;
}

/* o[h] = <a[h, :], b[h, :]> for every head (f a constant where inlined). */
static inline __attribute__((always_inline)) void FG_NAME(fg_head_dots)(
    FG_T *FG_RESTRICT o, const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, int64_t heads, const int64_t f,
    FG_T s)
{
    if (f == 1) {
        for (int64_t h = 0; h < heads; ++h) o[h] = s * (a[h] * b[h]);
    } else {
        for (int64_t h = 0; h < heads; ++h) o[h] = s * FG_NAME(fg_head_dot)(a + h * f, b + h * f, f);
    }
}

/* o[h, :] += (w[h] * s) * x[h, :] for every head (f a constant where inlined). */
static inline __attribute__((always_inline)) void FG_NAME(fg_head_axpy)(
    FG_T *FG_RESTRICT o, const FG_T *FG_RESTRICT w, const FG_T *FG_RESTRICT x, int64_t heads, const int64_t f,
    FG_T s)
{
    if (f == 1) {
        for (int64_t h = 0; h < heads; ++h) o[h] += (w[h] * s) * x[h];
    } else {
        for (int64_t h = 0; h < heads; ++h) {
            const FG_T c = w[h] * s;
            for (int64_t k = 0; k < f; ++k) o[h * f + k] += c * x[h * f + k];
        }
    }
}

/*
 * out[e, h] = sum_f a[r, h, f] * b[j, h, f] for the edges e of rows
 * [row_begin, row_end), j = indices[e]; each dot product in the fixed order
 * of fg_dot (f == 1: the plain product).
 */
static inline __attribute__((always_inline)) void FG_NAME(fg_sddmm_dot_rows)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, int64_t heads, const int64_t f,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices, int64_t row_begin, int64_t row_end)
{
    const int64_t width = heads * f;
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(width);
    for (int64_t r = row_begin; r < row_end; ++r) {
        const FG_T *FG_RESTRICT ar = a + r * width;
        for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
            if (e + distance < e_stop) FG_NAME(fg_prefetch_row)(b, indices[e + distance], width);
            FG_NAME(fg_head_dots)(out + e * heads, ar, b + (int64_t)indices[e] * width, heads, f, (FG_T)1);
        }
    }
}

FG_CLONES static void FG_NAME(fg_sddmm_dot)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, int64_t heads, int64_t f,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices, int64_t row_begin, int64_t row_end)
{
#define FG_SDDMM_CALL(F) FG_NAME(fg_sddmm_dot_rows)(out, a, b, heads, F, indptr, indices, row_begin, row_end)
    FG_FOR_HEAD_WIDTH(FG_SDDMM_CALL, f);
#undef FG_SDDMM_CALL
}

/* out[e, h] = a[r, h] + b[j, h] for the edges e of rows [row_begin, row_end). */
FG_CLONES static void FG_NAME(fg_sddmm_add)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, int64_t heads,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices, int64_t row_begin, int64_t row_end)
{
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(heads);
    for (int64_t r = row_begin; r < row_end; ++r) {
        const FG_T *FG_RESTRICT ar = a + r * heads;
        for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
            if (e + distance < e_stop) FG_NAME(fg_prefetch_row)(b, indices[e + distance], heads);
            const FG_T *FG_RESTRICT br = b + (int64_t)indices[e] * heads;
            FG_T *FG_RESTRICT o = out + e * heads;
            for (int64_t h = 0; h < heads; ++h) o[h] = ar[h] + br[h];
        }
    }
}

/*
 * Multi-head weighted gather-sum for rows [row_begin, row_end):
 * out[r, h, :] = (1/deg(r) if row_mean) * sum_e weight[id(e), h] * scale[j] * x[j, h, :],
 * j = indices[e], id(e) = edge_id[e], over the row's edges in CSR order.
 * When dot_out is given, also
 * dot_out[id(e), h] = scale[j] * <x[j, h, :], dot_with[r, h, :]> (the
 * weight gradient, from the same gathered rows). Node rows are heads * f
 * values, contiguous; the sum accumulates in the (L1-resident) output row.
 */
static inline __attribute__((always_inline)) void FG_NAME(fg_gather_sum_heads_rows)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT x, int64_t heads, const int64_t f,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices, const FG_I *FG_RESTRICT edge_id,
    const FG_T *FG_RESTRICT weight, const FG_T *FG_RESTRICT scale, int row_mean,
    const FG_T *FG_RESTRICT dot_with, FG_T *FG_RESTRICT dot_out, int64_t row_begin, int64_t row_end)
{
    const int64_t width = heads * f;
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(width);
    for (int64_t r = row_begin; r < row_end; ++r) {
        FG_T *FG_RESTRICT o = out + r * width;
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];
        for (int64_t k = 0; k < width; ++k) o[k] = 0;
        for (int64_t e = e0; e < e1; ++e) {
            if (e + distance < e_stop) {
                FG_NAME(fg_prefetch_row)(x, indices ? (int64_t)indices[e + distance] : e + distance, width);
                if (edge_id) FG_PREFETCH(weight + (int64_t)edge_id[e + distance] * heads);
            }
            const int64_t j = indices ? (int64_t)indices[e] : e;
            const int64_t id = edge_id ? (int64_t)edge_id[e] : e;
            FG_NAME(fg_head_axpy)(o, weight + id * heads, x + j * width, heads, f, scale ? scale[j] : (FG_T)1);
        }
        if (row_mean && e1 - e0 > 1) {
            const FG_T divisor = (FG_T)(e1 - e0);
            for (int64_t k = 0; k < width; ++k) o[k] /= divisor;
        }
        if (dot_out) {
            /* the rows of x gathered above are still in cache */
            for (int64_t e = e0; e < e1; ++e) {
                const int64_t j = indices ? (int64_t)indices[e] : e;
                const int64_t id = edge_id ? (int64_t)edge_id[e] : e;
                FG_NAME(fg_head_dots)(dot_out + id * heads, x + j * width, dot_with + r * width, heads, f,
                                      scale ? scale[j] : (FG_T)1);
            }
        }
    }
}

FG_CLONES static void FG_NAME(fg_gather_sum_heads)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT x, int64_t heads, int64_t f,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices, const FG_I *FG_RESTRICT edge_id,
    const FG_T *FG_RESTRICT weight, const FG_T *FG_RESTRICT scale, int row_mean,
    const FG_T *FG_RESTRICT dot_with, FG_T *FG_RESTRICT dot_out, int64_t row_begin, int64_t row_end)
{
#define FG_HEADS_CALL(F) FG_NAME(fg_gather_sum_heads_rows)(out, x, heads, F, indptr, indices, edge_id, weight, \
                                                            scale, row_mean, dot_with, dot_out, row_begin, row_end)
    FG_FOR_HEAD_WIDTH(FG_HEADS_CALL, f);
#undef FG_HEADS_CALL
}

/*
 * Edge softmax over the edges of each row in [row_begin, row_end), per head:
 * out[e, h] = exp(s[e, h] - m) / sum_{e' in row} exp(s[e', h] - m), m the
 * row-head maximum. exp (the branch-free one of fastgnn_dense.h, so the loop
 * vectorizes) is computed once per (edge, head) and kept in out until the
 * row's sum is known. A NaN score makes m NaN, so the row-head is
 * all NaN; a row-head whose scores are all -inf gives 0 for its edges.
 * Heads go FG_HEAD_BLOCK at a time, so the maxima and sums stay in registers.
 */
/* One block of heads [hb, hb + w) of one row's softmax (w a constant where inlined). */
static inline __attribute__((always_inline)) void FG_NAME(fg_edge_softmax_block)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT scores, const int64_t heads, const int64_t hb, const int w,
    int64_t e0, int64_t e1)
{
    FG_T m[FG_HEAD_BLOCK], total[FG_HEAD_BLOCK];
    int nan[FG_HEAD_BLOCK];
    for (int l = 0; l < w; ++l) { m[l] = -(FG_T)INFINITY; total[l] = 0; nan[l] = 0; }
    /* branch-free (a max and a flag, both vectorize): the row maximum, and whether a NaN came */
    for (int64_t e = e0; e < e1; ++e) {
        const FG_T *FG_RESTRICT s = scores + e * heads + hb;
        for (int l = 0; l < w; ++l) {
            const FG_T v = s[l];
            m[l] = v > m[l] ? v : m[l];
            nan[l] |= v != v;
        }
    }
    for (int l = 0; l < w; ++l) m[l] = nan[l] ? (FG_T)NAN : m[l];  /* a NaN makes the row-head NaN */
    /* exp first (no reduction in the loop, so it vectorizes), then the sums in CSR order */
    for (int64_t e = e0; e < e1; ++e) {
        const FG_T *FG_RESTRICT s = scores + e * heads + hb;
        FG_T *FG_RESTRICT o = out + e * heads + hb;
        for (int l = 0; l < w; ++l) o[l] = FG_EXP(s[l] - m[l]);
    }
    for (int64_t e = e0; e < e1; ++e) {
        const FG_T *FG_RESTRICT o = out + e * heads + hb;
        for (int l = 0; l < w; ++l) total[l] += o[l];
    }
    for (int64_t e = e0; e < e1; ++e) {
        FG_T *FG_RESTRICT o = out + e * heads + hb;
        for (int l = 0; l < w; ++l) o[l] = (m[l] == -(FG_T)INFINITY) ? (FG_T)0 : o[l] / total[l];
    }
}

static inline __attribute__((always_inline)) void FG_NAME(fg_edge_softmax_rows)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT scores, const int64_t heads, const FG_I *FG_RESTRICT indptr,
    int64_t row_begin, int64_t row_end)
{
    for (int64_t r = row_begin; r < row_end; ++r) {
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];
        if (heads <= FG_HEAD_BLOCK) {
            FG_NAME(fg_edge_softmax_block)(out, scores, heads, 0, (int)heads, e0, e1);
        } else {
            for (int64_t hb = 0; hb < heads; hb += FG_HEAD_BLOCK) {
                const int w = (int)(heads - hb < FG_HEAD_BLOCK ? heads - hb : FG_HEAD_BLOCK);
                FG_NAME(fg_edge_softmax_block)(out, scores, heads, hb, w, e0, e1);
            }
        }
    }
}

/*
 * Backward of the edge softmax for rows [row_begin, row_end):
 * grad[e, h] = att[e, h] * (g[e, h] - sum_{e' in row} att[e', h] * g[e', h]),
 * the row sum in CSR order.
 */
static inline __attribute__((always_inline)) void FG_NAME(fg_edge_softmax_backward_rows)(
    FG_T *FG_RESTRICT grad, const FG_T *FG_RESTRICT g, const FG_T *FG_RESTRICT att, const int64_t heads,
    const FG_I *FG_RESTRICT indptr, int64_t row_begin, int64_t row_end)
{
    for (int64_t r = row_begin; r < row_end; ++r) {
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];
        for (int64_t hb = 0; hb < heads; hb += FG_HEAD_BLOCK) {
            const int w = (int)(heads - hb < FG_HEAD_BLOCK ? heads - hb : FG_HEAD_BLOCK);
            FG_T total[FG_HEAD_BLOCK];
            for (int l = 0; l < FG_HEAD_BLOCK; ++l) total[l] = 0;
            for (int64_t e = e0; e < e1; ++e) {
                const FG_T *FG_RESTRICT ar = att + e * heads + hb;
                const FG_T *FG_RESTRICT gr = g + e * heads + hb;
                for (int l = 0; l < w; ++l) total[l] += ar[l] * gr[l];
            }
            for (int64_t e = e0; e < e1; ++e) {
                const FG_T *FG_RESTRICT ar = att + e * heads + hb;
                const FG_T *FG_RESTRICT gr = g + e * heads + hb;
                FG_T *FG_RESTRICT o = grad + e * heads + hb;
                for (int l = 0; l < w; ++l) o[l] = ar[l] * (gr[l] - total[l]);
            }
        }
    }
}

FG_CLONES static void FG_NAME(fg_edge_softmax)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT scores, int64_t heads, const FG_I *FG_RESTRICT indptr,
    int64_t row_begin, int64_t row_end)
{
#define FG_SOFTMAX_CALL(H) FG_NAME(fg_edge_softmax_rows)(out, scores, H, indptr, row_begin, row_end)
    FG_FOR_HEAD_COUNT(FG_SOFTMAX_CALL, heads);
#undef FG_SOFTMAX_CALL
}

FG_CLONES static void FG_NAME(fg_edge_softmax_backward)(
    FG_T *FG_RESTRICT grad, const FG_T *FG_RESTRICT g, const FG_T *FG_RESTRICT att, int64_t heads,
    const FG_I *FG_RESTRICT indptr, int64_t row_begin, int64_t row_end)
{
#define FG_SOFTMAX_BACKWARD_CALL(H) FG_NAME(fg_edge_softmax_backward_rows)(grad, g, att, H, indptr, row_begin, row_end)
    FG_FOR_HEAD_COUNT(FG_SOFTMAX_BACKWARD_CALL, heads);
#undef FG_SOFTMAX_BACKWARD_CALL
}

#undef FG_EXP
#undef FG_NAME
