/*
 * One (value type, index type) variant of the attention kernels; included by
 * fastgnn_attention.h with FG_T, FG_I, FG_SUF and FG_EXP (expf or exp)
 * defined. No include guard on purpose.
 *
 * Conventions (as fastgnn_kernels_impl.h):
 *   indptr/indices  CSR of the rows being produced; indices == NULL means the
 *                   identity (edge e reads row e).
 *   edge_id         the edge id of position e (a transposed CSR carries the
 *                   permutation); NULL means the position itself. Per-edge
 *                   values (weights, scores) are read at edge_id(e) * heads.
 */
#define FG_NAME(name) FG_CAT(name, FG_SUF)

/*
 * out[e, h] = sum_f a[r, h, f] * b[j, h, f] for the edges e of rows
 * [row_begin, row_end), j = indices[e]; each dot product in the fixed order
 * of fg_dot (f == 1: the plain product).
 */
FG_CLONES static void FG_NAME(fg_sddmm_dot)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT a, const FG_T *FG_RESTRICT b, int64_t heads, int64_t f,
    const FG_I *FG_RESTRICT indptr, const FG_I *FG_RESTRICT indices, int64_t row_begin, int64_t row_end)
{
    const int64_t width = heads * f;
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = FG_NAME(fg_prefetch_distance)(width);
    for (int64_t r = row_begin; r < row_end; ++r) {
        const FG_T *FG_RESTRICT ar = a + r * width;
        for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
            if (e + distance < e_stop) FG_NAME(fg_prefetch_row)(b, indices[e + distance], width);
            const FG_T *FG_RESTRICT br = b + (int64_t)indices[e] * width;
            FG_T *FG_RESTRICT o = out + e * heads;
            if (f == 1) {
                for (int64_t h = 0; h < heads; ++h) o[h] = ar[h] * br[h];
            } else {
                for (int64_t h = 0; h < heads; ++h) o[h] = FG_NAME(fg_dot)(ar + h * f, br + h * f, f);
            }
        }
    }
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
FG_CLONES static void FG_NAME(fg_gather_sum_heads)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT x, int64_t heads, int64_t f,
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
            const FG_T s = scale ? scale[j] : (FG_T)1;
            const FG_T *FG_RESTRICT wr = weight + id * heads;
            const FG_T *FG_RESTRICT xr = x + j * width;
            if (f == 1) {
                for (int64_t h = 0; h < heads; ++h) o[h] += (wr[h] * s) * xr[h];
            } else {
                for (int64_t h = 0; h < heads; ++h) {
                    const FG_T c = wr[h] * s;
                    FG_T *FG_RESTRICT oh = o + h * f;
                    const FG_T *FG_RESTRICT xh = xr + h * f;
                    for (int64_t k = 0; k < f; ++k) oh[k] += c * xh[k];
                }
            }
        }
        if (row_mean && e1 - e0 > 1) {
            const FG_T divisor = (FG_T)(e1 - e0);
            for (int64_t k = 0; k < width; ++k) o[k] /= divisor;
        }
        if (dot_out) {
            const FG_T *FG_RESTRICT dr = dot_with + r * width;
            for (int64_t e = e0; e < e1; ++e) {
                const int64_t j = indices ? (int64_t)indices[e] : e;
                const int64_t id = edge_id ? (int64_t)edge_id[e] : e;
                const FG_T s = scale ? scale[j] : (FG_T)1;
                const FG_T *FG_RESTRICT xr = x + j * width;
                FG_T *FG_RESTRICT d = dot_out + id * heads;
                if (f == 1) {
                    for (int64_t h = 0; h < heads; ++h) d[h] = s * (xr[h] * dr[h]);
                } else {
                    for (int64_t h = 0; h < heads; ++h) d[h] = s * FG_NAME(fg_dot)(xr + h * f, dr + h * f, f);
                }
            }
        }
    }
}

/*
 * Edge softmax over the edges of each row in [row_begin, row_end), per head:
 * out[e, h] = exp(s[e, h] - m) / sum_{e' in row} exp(s[e', h] - m), m the
 * row-head maximum. exp is computed once per (edge, head) and kept in out
 * until the row's sum is known. A NaN score makes m NaN, so the row-head is
 * all NaN; a row-head whose scores are all -inf gives 0 for its edges.
 * Heads go FG_HEAD_BLOCK at a time, so the maxima and sums stay in registers.
 */
FG_CLONES static void FG_NAME(fg_edge_softmax)(
    FG_T *FG_RESTRICT out, const FG_T *FG_RESTRICT scores, int64_t heads, const FG_I *FG_RESTRICT indptr,
    int64_t row_begin, int64_t row_end)
{
    for (int64_t r = row_begin; r < row_end; ++r) {
        const int64_t e0 = indptr[r], e1 = indptr[r + 1];
        for (int64_t hb = 0; hb < heads; hb += FG_HEAD_BLOCK) {
            const int w = (int)(heads - hb < FG_HEAD_BLOCK ? heads - hb : FG_HEAD_BLOCK);
            FG_T m[FG_HEAD_BLOCK], total[FG_HEAD_BLOCK];
            for (int l = 0; l < FG_HEAD_BLOCK; ++l) { m[l] = -(FG_T)INFINITY; total[l] = 0; }
            for (int64_t e = e0; e < e1; ++e) {
                const FG_T *FG_RESTRICT s = scores + e * heads + hb;
                for (int l = 0; l < w; ++l) {
                    const FG_T v = s[l];
                    m[l] = (v > m[l] || v != v) ? v : m[l];  /* a NaN wins and stays */
                }
            }
            for (int64_t e = e0; e < e1; ++e) {
                const FG_T *FG_RESTRICT s = scores + e * heads + hb;
                FG_T *FG_RESTRICT o = out + e * heads + hb;
                for (int l = 0; l < w; ++l) {
                    const FG_T t = FG_EXP(s[l] - m[l]);
                    o[l] = t;
                    total[l] += t;
                }
            }
            for (int64_t e = e0; e < e1; ++e) {
                FG_T *FG_RESTRICT o = out + e * heads + hb;
                for (int l = 0; l < w; ++l) o[l] = (m[l] == -(FG_T)INFINITY) ? (FG_T)0 : o[l] / total[l];
            }
        }
    }
}

/*
 * Backward of the edge softmax for rows [row_begin, row_end):
 * grad[e, h] = att[e, h] * (g[e, h] - sum_{e' in row} att[e', h] * g[e', h]),
 * the row sum in CSR order.
 */
FG_CLONES static void FG_NAME(fg_edge_softmax_backward)(
    FG_T *FG_RESTRICT grad, const FG_T *FG_RESTRICT g, const FG_T *FG_RESTRICT att, int64_t heads,
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

#undef FG_NAME
