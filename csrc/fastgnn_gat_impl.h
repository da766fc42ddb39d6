/*
 * One (value type, index type) variant of the fused GAT kernels; included by
 * fastgnn_gat.h with FG_T (float or double), FG_I (int32_t or int64_t),
 * FG_PRECISE (the exp's polynomial degree: 1 for double) and FG_SUF (the
 * name suffix) defined. No include guard on purpose.
 *
 * H heads of F features; HF = H * F values per node row. `drop` selects the
 * dropout of the weights: keep flag of position e * H + h from
 * (threshold, k0, k1), kept weights multiplied by `scale`, dropped ones by 0
 * (so a NaN stays NaN, as in the reference).
 * Per call (one chunk of rows) the caller provides `work`, 4 * H + 1 doubles,
 * and `buf`, 2 * max_degree * H + H * F + 1 values (max_degree: the largest
 * row of the chunk).
 */
#define FG_GN(name) FG_GAT_CAT(name, FG_SUF)

/* Loops along one head's F features (or a row's values), written with GCC's
 * vector extensions, FG_GAT_VW values at a time (32 bytes: AVX registers, or
 * two SSE ones in the portable build), then the rest one by one. Element-wise
 * steps give the bits of the scalar code; a dot product sums lane-wise over
 * the full vectors, then the lanes in order, then the rest: a fixed order that
 * depends on the value type only, not on the instruction set or threads.
 * (Plain loops here were vectorised across edges or heads instead, with
 * gathers, or not at all.) Selects are bit masks: the lanes of both sides
 * are computed, as the scalar code computes z * slope unconditionally. */
#define FG_GAT_VW ((int64_t)(32 / sizeof(FG_T)))
typedef FG_T FG_GN(fg_gat_vec) __attribute__((vector_size(32)));
typedef FG_U FG_GN(fg_gat_mask) __attribute__((vector_size(32)));
#define FG_VEC FG_GN(fg_gat_vec)
#define FG_MASK FG_GN(fg_gat_mask)

FG_GAT_INLINE FG_VEC FG_GN(fg_gat_load)(const FG_T *p)
{
    FG_VEC v;
    memcpy(&v, p, sizeof v);
    return v;
}

FG_GAT_INLINE void FG_GN(fg_gat_store)(FG_T *p, FG_VEC v) { memcpy(p, &v, sizeof v); }

/* where z > 0: a, else b (lane-wise). */
FG_GAT_INLINE FG_VEC FG_GN(fg_gat_where_positive)(FG_VEC z, FG_VEC a, FG_VEC b)
{
    const FG_VEC zero = {0};
    const FG_MASK m = (FG_MASK)(z > zero);
    return (FG_VEC)(((FG_MASK)a & m) | ((FG_MASK)b & ~m));
}

/* where z > 0: a, else b, for one value (masks: a plain select becomes a branch that mispredicts). */
FG_GAT_INLINE FG_T FG_GN(fg_gat_where_positive1)(FG_T z, FG_T a, FG_T b)
{
    FG_U ua, ub;
    const FG_U m = (FG_U)0 - (FG_U)(z > 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* o[f] += w x[f] */
FG_GAT_INLINE void FG_GN(fg_gat_axpy)(FG_T *o, const FG_T *x, FG_T w, const int64_t F)
{
    int64_t f = 0;
    for (; f + FG_GAT_VW <= F; f += FG_GAT_VW)
        FG_GN(fg_gat_store)(o + f, FG_GN(fg_gat_load)(o + f) + w * FG_GN(fg_gat_load)(x + f));
    for (; f < F; ++f) o[f] += w * x[f];
}

/* sum_f a[f] b[f], in the order above */
FG_GAT_INLINE FG_T FG_GN(fg_gat_dot)(const FG_T *a, const FG_T *b, const int64_t F)
{
    int64_t f = 0;
    FG_T total = 0;
    if (F >= FG_GAT_VW) {
        FG_VEC acc = FG_GN(fg_gat_load)(a) * FG_GN(fg_gat_load)(b);
        for (f = FG_GAT_VW; f + FG_GAT_VW <= F; f += FG_GAT_VW)
            acc += FG_GN(fg_gat_load)(a + f) * FG_GN(fg_gat_load)(b + f);
        for (int64_t l = 0; l < FG_GAT_VW; ++l) total += acc[l];
    }
    for (; f < F; ++f) total += a[f] * b[f];
    return total;
}

/* a = leaky_relu(a) over n values. */
FG_GAT_INLINE void FG_GN(fg_gat_leaky_relu)(FG_T *a, int64_t n, FG_T slope)
{
    int64_t l = 0;
    for (; l + FG_GAT_VW <= n; l += FG_GAT_VW) {
        const FG_VEC z = FG_GN(fg_gat_load)(a + l);
        FG_GN(fg_gat_store)(a + l, FG_GN(fg_gat_where_positive)(z, z, z * slope));
    }
    for (; l < n; ++l) a[l] = FG_GN(fg_gat_where_positive1)(a[l], a[l], a[l] * slope);
}

/* GATv2 score terms: t[l] = att[l] leaky_relu(xs[l] + xd[l]). */
FG_GAT_INLINE void FG_GN(fg_gatv2_terms)(FG_T *t, const FG_T *xs, const FG_T *xd, const FG_T *att, FG_T slope,
                                        int64_t n)
{
    int64_t l = 0;
    for (; l + FG_GAT_VW <= n; l += FG_GAT_VW) {
        const FG_VEC z = FG_GN(fg_gat_load)(xs + l) + FG_GN(fg_gat_load)(xd + l);
        FG_GN(fg_gat_store)(t + l, FG_GN(fg_gat_load)(att + l) * FG_GN(fg_gat_where_positive)(z, z, z * slope));
    }
    for (; l < n; ++l) {
        const FG_T z = xs[l] + xd[l];
        t[l] = att[l] * FG_GN(fg_gat_where_positive1)(z, z, z * slope);
    }
}

/* GATv2 destination side of one head: gxd += ds att leaky_relu'(z), ratt += ds leaky_relu(z). */
FG_GAT_INLINE void FG_GN(fg_gatv2_head_grads)(FG_T *gxd, FG_T *ratt, const FG_T *xs, const FG_T *xd,
                                             const FG_T *att, FG_T ds, FG_T slope, const int64_t F)
{
    int64_t f = 0;
    for (; f + FG_GAT_VW <= F; f += FG_GAT_VW) {
        const FG_VEC z = FG_GN(fg_gat_load)(xs + f) + FG_GN(fg_gat_load)(xd + f);
        const FG_VEC v = ds * FG_GN(fg_gat_load)(att + f);
        FG_GN(fg_gat_store)(gxd + f, FG_GN(fg_gat_load)(gxd + f) + FG_GN(fg_gat_where_positive)(z, v, v * slope));
        FG_GN(fg_gat_store)(ratt + f, FG_GN(fg_gat_load)(ratt + f)
                                          + ds * FG_GN(fg_gat_where_positive)(z, z, z * slope));
    }
    for (; f < F; ++f) {
        const FG_T z = xs[f] + xd[f];
        const FG_T v = ds * att[f];
        gxd[f] += FG_GN(fg_gat_where_positive1)(z, v, v * slope);
        ratt[f] += ds * FG_GN(fg_gat_where_positive1)(z, z, z * slope);
    }
}

/* GATv2 source side of one head: o += w g + ds att leaky_relu'(z). */
FG_GAT_INLINE void FG_GN(fg_gatv2_head_source)(FG_T *o, const FG_T *gi, const FG_T *xs, const FG_T *xd,
                                              const FG_T *att, FG_T w, FG_T ds, FG_T slope, const int64_t F)
{
    int64_t f = 0;
    for (; f + FG_GAT_VW <= F; f += FG_GAT_VW) {
        const FG_VEC z = FG_GN(fg_gat_load)(xs + f) + FG_GN(fg_gat_load)(xd + f);
        const FG_VEC v = ds * FG_GN(fg_gat_load)(att + f);
        FG_GN(fg_gat_store)(o + f, FG_GN(fg_gat_load)(o + f) + (w * FG_GN(fg_gat_load)(gi + f)
                                                              + FG_GN(fg_gat_where_positive)(z, v, v * slope)));
    }
    for (; f < F; ++f) {
        const FG_T z = xs[f] + xd[f];
        const FG_T v = ds * att[f];
        o[f] += w * gi[f] + FG_GN(fg_gat_where_positive1)(z, v, v * slope);
    }
}

FG_GAT_INLINE void FG_GN(fg_gat_add_scores)(FG_T *FG_GAT_RESTRICT a, const FG_T *FG_GAT_RESTRICT ss,
                                           const FG_T *FG_GAT_RESTRICT sd, int64_t H)
{
    for (int64_t h = 0; h < H; ++h) a[h] = ss[h] + sd[h];
}


/* Softmax, in place, of the scores a[k, h] of a row's n edges, per head: row
 * max (NaNs skipped here: they propagate through exp), exp(s - max) once per
 * edge and head (in double, stored in the value type), their sum (double),
 * then a = exp * (1 / sum). A head whose scores are all -inf gets 0 (max
 * taken as 0: every exp and the sum are 0, and 1 / 0 is taken as 0); a NaN
 * makes its head NaN. Generic head count: loops over edges, then heads. */
FG_GAT_INLINE void FG_GN(fg_gat_softmax)(FG_T *FG_GAT_RESTRICT a, int64_t n, int64_t H,
                                        FG_T *FG_GAT_RESTRICT m, double *FG_GAT_RESTRICT shift,
                                        double *FG_GAT_RESTRICT sum)
{
    for (int64_t h = 0; h < H; ++h) m[h] = (FG_T)-INFINITY;
    for (int64_t k = 0; k < n; ++k)
        for (int64_t h = 0; h < H; ++h) {
            const FG_T v = a[k * H + h];
            m[h] = v > m[h] ? v : m[h];
        }
    for (int64_t h = 0; h < H; ++h) {
        shift[h] = m[h] == (FG_T)-INFINITY ? 0.0 : (double)m[h];
        sum[h] = 0.0;
    }
    for (int64_t k = 0; k < n; ++k)
        for (int64_t h = 0; h < H; ++h)
            a[k * H + h] = (FG_T)fg_exp_nonpositive((double)a[k * H + h] - shift[h], FG_PRECISE);
    for (int64_t k = 0; k < n; ++k)
        for (int64_t h = 0; h < H; ++h) sum[h] += (double)a[k * H + h];
    for (int64_t h = 0; h < H; ++h) sum[h] = sum[h] == 0.0 ? 0.0 : 1.0 / sum[h];
    for (int64_t k = 0; k < n; ++k)
        for (int64_t h = 0; h < H; ++h) a[k * H + h] = (FG_T)((double)a[k * H + h] * sum[h]);
}

/* The same for H dividing FG_GAT_PERIOD (1, 2, 4, 8, 16): the row's n * H
 * scores are walked flat, FG_GAT_PERIOD at a time, with per-lane copies of
 * the per-head values (lane q belongs to head q % H), so every loop runs
 * along contiguous memory. The sum of head h is the lanes' partial sums
 * (each over every (PERIOD / H)-th edge, in order) added in lane order: a
 * fixed order, so the same bits for any thread count. */
#define FG_GAT_PERIOD 16
FG_GAT_INLINE void FG_GN(fg_gat_softmax_flat)(FG_T *FG_GAT_RESTRICT a, int64_t n, const int64_t H)
{
    const int64_t L = n * H, P = FG_GAT_PERIOD;
    FG_T mr[FG_GAT_PERIOD];
    double rep[FG_GAT_PERIOD], sr[FG_GAT_PERIOD], head[FG_GAT_PERIOD];
    for (int64_t q = 0; q < P; ++q) mr[q] = (FG_T)-INFINITY;
    int64_t b = 0;
    for (; b + P <= L; b += P) {
        const FG_T *ab = a + b;
        FG_GAT_OPAQUE(ab);
        for (int64_t q = 0; q < P; ++q) mr[q] = ab[q] > mr[q] ? ab[q] : mr[q];
    }
    for (int64_t q = 0; q < L - b; ++q) mr[q] = a[b + q] > mr[q] ? a[b + q] : mr[q];
    for (int64_t h = 0; h < H; ++h) {
        FG_T top = mr[h];
        for (int64_t q = h + H; q < P; q += H) top = mr[q] > top ? mr[q] : top;
        head[h] = top == (FG_T)-INFINITY ? 0.0 : (double)top;
    }
    for (int64_t q = 0; q < P; ++q) {
        rep[q] = head[q % H];
        sr[q] = 0.0;
    }
    for (b = 0; b + P <= L; b += P) {
        FG_T *ab = a + b;
        FG_GAT_OPAQUE(ab);
        for (int64_t q = 0; q < P; ++q) ab[q] = (FG_T)fg_exp_nonpositive((double)ab[q] - rep[q], FG_PRECISE);
        for (int64_t q = 0; q < P; ++q) sr[q] += (double)ab[q];
    }
    for (int64_t q = 0; q < L - b; ++q) {
        a[b + q] = (FG_T)fg_exp_nonpositive((double)a[b + q] - rep[q], FG_PRECISE);
        sr[q] += (double)a[b + q];
    }
    for (int64_t h = 0; h < H; ++h) {
        double total = sr[h];
        for (int64_t q = h + H; q < P; q += H) total += sr[q];
        head[h] = total == 0.0 ? 0.0 : 1.0 / total;
    }
    for (int64_t q = 0; q < P; ++q) rep[q] = head[q % H];
    for (b = 0; b + P <= L; b += P) {
        FG_T *ab = a + b;
        FG_GAT_OPAQUE(ab);
        for (int64_t q = 0; q < P; ++q) ab[q] = (FG_T)((double)ab[q] * rep[q]);
    }
    for (int64_t q = 0; q < L - b; ++q) a[b + q] = (FG_T)((double)a[b + q] * rep[q]);
}

FG_GAT_INLINE void FG_GN(fg_gat_softmax_any)(FG_T *FG_GAT_RESTRICT a, int64_t n, int64_t H,
                                            double *FG_GAT_RESTRICT work)
{
    switch (H) {
    case 1: FG_GN(fg_gat_softmax_flat)(a, n, 1); break;
    case 2: FG_GN(fg_gat_softmax_flat)(a, n, 2); break;
    case 4: FG_GN(fg_gat_softmax_flat)(a, n, 4); break;
    case 8: FG_GN(fg_gat_softmax_flat)(a, n, 8); break;
    case 16: FG_GN(fg_gat_softmax_flat)(a, n, 16); break;
    default: FG_GN(fg_gat_softmax)(a, n, H, (FG_T *)(work + 2 * H), work, work + H);
    }
}

/* f[l] = scale if the flat position c0 + l is kept, else 0, for l < n. */
FG_GAT_INLINE void FG_GN(fg_gat_dropout_factors)(FG_T *FG_GAT_RESTRICT f, int64_t n, uint64_t c0,
                                                uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale)
{
    int64_t done = 0;
    while (done < n) {
        const uint64_t c = c0 + (uint64_t)done;
        const int64_t len = fg_same_high(c, n - done);
        const uint32_t kh = fg_high_key(k1, c);
        const uint32_t lo = (uint32_t)c;
        FG_T *FG_GAT_RESTRICT dst = f + done;
        for (int64_t l = 0; l < len; ++l)
            dst[l] = fg_dropout_bits(lo + (uint32_t)l, k0, kh) >= threshold ? scale : (FG_T)0;
        done += len;
    }
}

/* o[h, :] = sum_k w[k, h] x[idx[k], h, :] over a row's n edges, in CSR order. */
FG_GAT_INLINE void FG_GN(fg_gat_aggregate_row)(FG_T *FG_GAT_RESTRICT o, const FG_T *FG_GAT_RESTRICT x,
                                              const FG_I *FG_GAT_RESTRICT idx, const FG_T *FG_GAT_RESTRICT w,
                                              int64_t n, int64_t H, const int64_t F)
{
    const int64_t HF = H * F;
    for (int64_t l = 0; l < HF; ++l) o[l] = 0;
    for (int64_t k = 0; k < n; ++k) {
        const FG_T *FG_GAT_RESTRICT xr = x + (int64_t)idx[k] * HF;
        const FG_T *FG_GAT_RESTRICT wk = w + k * H;
        FG_GAT_OPAQUE(xr);
        for (int64_t h = 0; h < H; ++h) {
            const FG_T *xh = xr + h * F;
            FG_GAT_OPAQUE(xh);
            FG_GN(fg_gat_axpy)(o + h * F, xh, wk[h], F);
        }
    }
}

/* The second half of a forward row, once the scores are in a: softmax,
 * dropout of the weights (into buf), weighted sum of the x rows. */
FG_GAT_INLINE void FG_GN(fg_gat_finish_row)(
    FG_T *FG_GAT_RESTRICT o, FG_T *FG_GAT_RESTRICT a, const FG_T *FG_GAT_RESTRICT x,
    const FG_I *FG_GAT_RESTRICT idx, int64_t n, int64_t H, int64_t F, uint64_t c0, int drop,
    uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale, double *FG_GAT_RESTRICT work,
    FG_T *FG_GAT_RESTRICT buf)
{
    if (n == 0) {
        for (int64_t l = 0; l < H * F; ++l) o[l] = 0;
        return;
    }
    FG_GN(fg_gat_softmax_any)(a, n, H, work);
    const FG_T *w = a;
    if (drop) {
        FG_GN(fg_gat_dropout_factors)(buf, n * H, c0, threshold, k0, k1, scale);
        for (int64_t l = 0; l < n * H; ++l) buf[l] = a[l] * buf[l];
        w = buf;
    }
#define FG_GAT_BODY(FW) FG_GN(fg_gat_aggregate_row)(o, x, idx, w, n, H, FW)
    FG_GAT_WIDTH_DISPATCH(F, FG_GAT_BODY)
#undef FG_GAT_BODY
}

/* ------------------------------------------------------------------ GAT forward */

FG_GAT_CLONES static void FG_GN(fg_gat_forward)(
    FG_T *out, FG_T *alpha, const FG_T *x, const FG_T *score_src, const FG_T *score_dst, int64_t H, int64_t F,
    const FG_I *indptr, const FG_I *indices, FG_T slope, int drop, uint32_t threshold, uint32_t k0, uint32_t k1,
    FG_T scale, int64_t row_begin, int64_t row_end, double *work, FG_T *buf)
{
    const int64_t HF = H * F;
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = fg_gat_distance((HF + H) * (int64_t)sizeof(FG_T));
    for (int64_t i = row_begin; i < row_end; ++i) {
        const int64_t e0 = indptr[i], n = (int64_t)indptr[i + 1] - e0;
        const FG_T *FG_GAT_RESTRICT sd = score_dst + i * H;
        FG_T *FG_GAT_RESTRICT a = alpha + e0 * H;
        for (int64_t k = 0; k < n; ++k) {
            const int64_t e = e0 + k;
            if (e + distance < e_stop) {
                const int64_t ahead = indices[e + distance];
                fg_gat_prefetch_bytes(x + ahead * HF, HF * (int64_t)sizeof(FG_T));
                fg_gat_prefetch_bytes(score_src + ahead * H, H * (int64_t)sizeof(FG_T));
            }
            const FG_T *ss = score_src + (int64_t)indices[e] * H;
            FG_GAT_OPAQUE(ss);
            FG_GN(fg_gat_add_scores)(a + k * H, ss, sd, H);
        }
        FG_GN(fg_gat_leaky_relu)(a, n * H, slope);
        FG_GN(fg_gat_finish_row)(out + i * HF, a, x, indices + e0, n, H, F, (uint64_t)e0 * (uint64_t)H, drop,
                                 threshold, k0, k1, scale, work, buf);
    }
}

/* ------------------------------------------------------------------ GATv2 forward */

/* a[k, h] = sum_f att[h, f] leaky_relu(x_src[idx[k], h, f] + xd[h, f]), summed over f in order. */
FG_GAT_INLINE void FG_GN(fg_gatv2_row_scores)(
    FG_T *FG_GAT_RESTRICT a, const FG_T *FG_GAT_RESTRICT x_src, const FG_T *FG_GAT_RESTRICT xd,
    const FG_T *FG_GAT_RESTRICT att, const FG_I *FG_GAT_RESTRICT indices, int64_t e0, int64_t n,
    int64_t e_stop, int64_t distance, int64_t H, const int64_t F, FG_T slope, FG_T *FG_GAT_RESTRICT t)
{
    const int64_t HF = H * F;
    for (int64_t k = 0; k < n; ++k) {
        const int64_t e = e0 + k;
        if (e + distance < e_stop)
            fg_gat_prefetch_bytes(x_src + (int64_t)indices[e + distance] * HF, HF * (int64_t)sizeof(FG_T));
        const FG_T *FG_GAT_RESTRICT xs = x_src + (int64_t)indices[e] * HF;
        FG_GAT_OPAQUE(xs);
        FG_GN(fg_gatv2_terms)(t, xs, xd, att, slope, HF);
        for (int64_t h = 0; h < H; ++h) {
            FG_T total = 0;
            for (int64_t f = 0; f < F; ++f) total += t[h * F + f];
            a[k * H + h] = total;
        }
    }
}

FG_GAT_CLONES static void FG_GN(fg_gatv2_forward)(
    FG_T *out, FG_T *alpha, const FG_T *x_src, const FG_T *x_dst, const FG_T *att, int64_t H, int64_t F,
    const FG_I *indptr, const FG_I *indices, FG_T slope, int drop, uint32_t threshold, uint32_t k0, uint32_t k1,
    FG_T scale, int64_t row_begin, int64_t row_end, double *work, FG_T *buf)
{
    const int64_t HF = H * F;
    const int64_t e_stop = indptr[row_end];
    const int64_t distance = fg_gat_distance(HF * (int64_t)sizeof(FG_T));
    for (int64_t i = row_begin; i < row_end; ++i) {
        const int64_t e0 = indptr[i], n = (int64_t)indptr[i + 1] - e0;
        FG_T *FG_GAT_RESTRICT a = alpha + e0 * H;
        FG_T *FG_GAT_RESTRICT t = buf; /* HF values, reused per edge; the weights follow */
#define FG_GAT_BODY(FW)                                                                               \
        FG_GN(fg_gatv2_row_scores)(a, x_src, x_dst + i * HF, att, indices, e0, n, e_stop, distance, H, FW, \
                                   slope, t)
        FG_GAT_WIDTH_DISPATCH(F, FG_GAT_BODY)
#undef FG_GAT_BODY
        FG_GN(fg_gat_finish_row)(out + i * HF, a, x_src, indices + e0, n, H, F, (uint64_t)e0 * (uint64_t)H, drop,
                                 threshold, k0, k1, scale, work, buf + HF);
    }
}

/* ------------------------------------------------------------------ backward, per destination row */

/* d[k, h] = <gi[h, :], x[indices[e0 + k], h, :]> (fg_gat_dot). The rows of x
 * and, when given, of score_src (H values) are prefetched `distance` edges ahead. */
FG_GAT_INLINE void FG_GN(fg_gat_row_dots)(
    FG_T *FG_GAT_RESTRICT d, const FG_T *FG_GAT_RESTRICT gi, const FG_T *FG_GAT_RESTRICT x,
    const FG_T *FG_GAT_RESTRICT score_src, const FG_I *FG_GAT_RESTRICT indices, int64_t e0, int64_t n,
    int64_t e_stop, int64_t distance, int64_t H, const int64_t F)
{
    const int64_t HF = H * F;
    for (int64_t k = 0; k < n; ++k) {
        const int64_t e = e0 + k;
        if (e + distance < e_stop) {
            const int64_t ahead = indices[e + distance];
            fg_gat_prefetch_bytes(x + ahead * HF, HF * (int64_t)sizeof(FG_T));
            if (score_src) fg_gat_prefetch_bytes(score_src + ahead * H, H * (int64_t)sizeof(FG_T));
        }
        const FG_T *FG_GAT_RESTRICT xr = x + (int64_t)indices[e] * HF;
        FG_GAT_OPAQUE(xr);
        for (int64_t h = 0; h < H; ++h) {
            const FG_T *xh = xr + h * F;
            FG_GAT_OPAQUE(xh);
            d[k * H + h] = FG_GN(fg_gat_dot)(gi + h * F, xh, F);
        }
    }
}

/* Per edge of the row: scratch[e, 0, h] = alpha' (the dropped-out weight) and
 * scratch[e, 1, h] = da = d * keep * scale (the gradient of the pre-dropout
 * weight); rowsum[h] = sum_k alpha da (double). `factor` holds n * H values. */
FG_GAT_INLINE void FG_GN(fg_gat_row_weight_grads)(
    FG_T *FG_GAT_RESTRICT sc, double *FG_GAT_RESTRICT rowsum, const FG_T *FG_GAT_RESTRICT a,
    const FG_T *FG_GAT_RESTRICT d, const FG_T *FG_GAT_RESTRICT factor, int64_t n, const int64_t H)
{
    for (int64_t h = 0; h < H; ++h) rowsum[h] = 0.0;
    for (int64_t k = 0; k < n; ++k)
        for (int64_t h = 0; h < H; ++h) {
            const FG_T f = factor ? factor[k * H + h] : (FG_T)1;
            const FG_T sg = d[k * H + h] * f;
            sc[k * 2 * H + h] = a[k * H + h] * f;
            sc[k * 2 * H + H + h] = sg;
            rowsum[h] += (double)a[k * H + h] * (double)sg;
        }
}

/* The per-row steps of both backwards up to da: dots, dropout factors, scratch, rowsum. */
FG_GAT_INLINE void FG_GN(fg_gat_row_backward_start)(
    FG_T *FG_GAT_RESTRICT scratch, double *FG_GAT_RESTRICT rowsum, const FG_T *FG_GAT_RESTRICT gi,
    const FG_T *FG_GAT_RESTRICT x, const FG_T *FG_GAT_RESTRICT score_src, const FG_T *FG_GAT_RESTRICT alpha,
    const FG_I *FG_GAT_RESTRICT indices, int64_t e0, int64_t n, int64_t e_stop, int64_t distance, int64_t H,
    int64_t F, int drop, uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale, FG_T *FG_GAT_RESTRICT buf,
    int64_t buf_edges)
{
    FG_T *d = buf, *factor = buf + buf_edges * H;
#define FG_GAT_BODY(FW) FG_GN(fg_gat_row_dots)(d, gi, x, score_src, indices, e0, n, e_stop, distance, H, FW)
    FG_GAT_WIDTH_DISPATCH(F, FG_GAT_BODY)
#undef FG_GAT_BODY
    if (drop)
        FG_GN(fg_gat_dropout_factors)(factor, n * H, (uint64_t)e0 * (uint64_t)H, threshold, k0, k1, scale);
    else
        factor = NULL;
    FG_T *sc = scratch + e0 * 2 * H;
    const FG_T *a = alpha + e0 * H;
#define FG_GAT_BODY(HW) FG_GN(fg_gat_row_weight_grads)(sc, rowsum, a, d, factor, n, HW)
    FG_GAT_HEADS_DISPATCH(H, FG_GAT_BODY)
#undef FG_GAT_BODY
}

/* GATv2, second loop of a row: ds = alpha (da - rowsum) into scratch[e, 1, :];
 * gxd[h, f] = sum ds att[h, f] leaky_relu'(z); ratt[h, f] = sum ds leaky_relu(z),
 * z = x_src[j, h, f] + xd[h, f]. */
FG_GAT_INLINE void FG_GN(fg_gatv2_row_grads)(
    FG_T *FG_GAT_RESTRICT sc, FG_T *FG_GAT_RESTRICT gxd, FG_T *FG_GAT_RESTRICT ratt,
    const double *FG_GAT_RESTRICT rowsum, const FG_T *FG_GAT_RESTRICT a, const FG_T *FG_GAT_RESTRICT x_src,
    const FG_T *FG_GAT_RESTRICT xd, const FG_T *FG_GAT_RESTRICT att, const FG_I *FG_GAT_RESTRICT idx, int64_t n,
    int64_t H, const int64_t F, FG_T slope)
{
    const int64_t HF = H * F;
    for (int64_t l = 0; l < HF; ++l) ratt[l] = 0;
    for (int64_t k = 0; k < n; ++k) {
        const FG_T *FG_GAT_RESTRICT xs = x_src + (int64_t)idx[k] * HF;
        FG_GAT_OPAQUE(xs);
        for (int64_t h = 0; h < H; ++h) {
            const FG_T ds = (FG_T)((double)a[k * H + h] * ((double)sc[k * 2 * H + H + h] - rowsum[h]));
            sc[k * 2 * H + H + h] = ds;
            const FG_T *xh = xs + h * F;
            FG_GAT_OPAQUE(xh);
            FG_GN(fg_gatv2_head_grads)(gxd + h * F, ratt + h * F, xh, xd + h * F, att + h * F, ds, slope, F);
        }
    }
}

/* GATv2: rows in fixed blocks of block_rows; partials[b, :] (HF doubles) gets the
 * att gradient of block b (each row's sum in the value type, added row after row). */
FG_GAT_CLONES static void FG_GN(fg_gatv2_backward_rows)(
    FG_T *scratch, FG_T *grad_x_dst, double *partials, const FG_T *g, const FG_T *x_src, const FG_T *x_dst,
    const FG_T *att, const FG_T *alpha, int64_t H, int64_t F, const FG_I *indptr, const FG_I *indices,
    FG_T slope, int drop, uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale, int64_t block_begin,
    int64_t block_end, int64_t block_rows, int64_t n_rows, double *work, FG_T *buf, int64_t buf_edges)
{
    const int64_t HF = H * F;
    const int64_t row_stop = block_end * block_rows < n_rows ? block_end * block_rows : n_rows;
    const int64_t e_stop = indptr[row_stop];
    const int64_t distance = fg_gat_distance(HF * (int64_t)sizeof(FG_T));
    double *rowsum = work;
    FG_T *ratt = buf + 2 * buf_edges * H;
    for (int64_t b = block_begin; b < block_end; ++b) {
        double *FG_GAT_RESTRICT part = partials + b * HF;
        for (int64_t l = 0; l < HF; ++l) part[l] = 0.0;
        const int64_t r0 = b * block_rows;
        const int64_t r1 = r0 + block_rows < n_rows ? r0 + block_rows : n_rows;
        for (int64_t i = r0; i < r1; ++i) {
            const int64_t e0 = indptr[i], n = (int64_t)indptr[i + 1] - e0;
            FG_T *FG_GAT_RESTRICT gxd = grad_x_dst + i * HF;
            for (int64_t l = 0; l < HF; ++l) gxd[l] = 0;
            if (n == 0) continue;
            FG_GN(fg_gat_row_backward_start)(scratch, rowsum, g + i * HF, x_src, NULL, alpha, indices, e0, n,
                                             e_stop, distance, H, F, drop, threshold, k0, k1, scale, buf,
                                             buf_edges);
#define FG_GAT_BODY(FW)                                                                                        \
            FG_GN(fg_gatv2_row_grads)(scratch + e0 * 2 * H, gxd, ratt, rowsum, alpha + e0 * H, x_src,         \
                                      x_dst + i * HF, att, indices + e0, n, H, FW, slope)
            FG_GAT_WIDTH_DISPATCH(F, FG_GAT_BODY)
#undef FG_GAT_BODY
            for (int64_t l = 0; l < HF; ++l) part[l] += (double)ratt[l];
        }
    }
}

/* ------------------------------------------------------------------ backward, per source node */

/* GAT, the softmax row sums: rowsum[i, h] = <g[i, h, :], out[i, h, :]> (in double, f in order),
 * which equals sum_e alpha[e, h] da[e, h] over row i since out[i, h] = sum_e alpha'[e, h] x[j, h]
 * (0 for an empty row, which no edge reads). */
FG_GAT_CLONES static void FG_GN(fg_gat_backward_rowsums)(
    double *rowsum, const FG_T *g, const FG_T *out, int64_t H, int64_t F, const FG_I *indptr, int64_t row_begin,
    int64_t row_end)
{
    for (int64_t i = row_begin; i < row_end; ++i) {
        const int empty = indptr[i + 1] == indptr[i];
        for (int64_t h = 0; h < H; ++h) {
            const int64_t r = i * H + h;
            const FG_T *FG_GAT_RESTRICT gr = g + r * F, *FG_GAT_RESTRICT orow = out + r * F;
            double total = 0.0;
            if (!empty)
                for (int64_t f = 0; f < F; ++f) total += (double)gr[f] * (double)orow[f];
            rowsum[r] = total;
        }
    }
}

/* GAT, the whole backward per source node j over its transposed row (t -> edge
 * e = edge_id[t], destination i = t_indices[t]), with x[j] and score_src[j] at
 * hand: da = <g[i, h], x[j, h]> keep scale, ds = alpha (da - rowsum[i, h]),
 * dz = ds leaky_relu'(score_src[j, h] + score_dst[i, h]) (stored at dz[e, h]
 * for the destination sums); grad_x[j, h] = sum_t alpha'[e, h] g[i, h],
 * grad_score_src[j, h] = sum_t dz[e, h] (double). Per edge one gathered row
 * (g[i]) and a few H-wide values, instead of x[j] and g[i] in two passes. */
FG_GAT_INLINE void FG_GN(fg_gat_backward_sources_impl)(
    FG_T *FG_GAT_RESTRICT grad_x, FG_T *FG_GAT_RESTRICT grad_score_src, FG_T *FG_GAT_RESTRICT dz_edges,
    const FG_T *FG_GAT_RESTRICT g, const FG_T *FG_GAT_RESTRICT x, const FG_T *FG_GAT_RESTRICT score_src,
    const FG_T *FG_GAT_RESTRICT score_dst, const double *FG_GAT_RESTRICT rowsum,
    const FG_T *FG_GAT_RESTRICT alpha, int64_t H, const int64_t F, const FG_I *FG_GAT_RESTRICT t_indptr,
    const FG_I *FG_GAT_RESTRICT t_indices, const FG_I *FG_GAT_RESTRICT edge_id, FG_T slope, int drop,
    uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale, int64_t row_begin, int64_t row_end,
    double *FG_GAT_RESTRICT work, FG_T *FG_GAT_RESTRICT factor)
{
    const int64_t HF = H * F;
    const int64_t t_stop = t_indptr[row_end];
    const int64_t distance = fg_gat_distance((HF + 4 * H) * (int64_t)sizeof(FG_T));
    double *acc = work;
    for (int64_t l = 0; l < H; ++l) factor[l] = 1;
    for (int64_t j = row_begin; j < row_end; ++j) {
        FG_T *FG_GAT_RESTRICT o = grad_x + j * HF;
        const FG_T *FG_GAT_RESTRICT xr = x + j * HF;
        const FG_T *FG_GAT_RESTRICT ss = score_src + j * H;
        for (int64_t l = 0; l < HF; ++l) o[l] = 0;
        for (int64_t h = 0; h < H; ++h) acc[h] = 0.0;
        const int64_t t0 = t_indptr[j], t1 = t_indptr[j + 1];
        for (int64_t t = t0; t < t1; ++t) {
            if (t + distance < t_stop) {
                const int64_t ia = t_indices[t + distance], ea = edge_id[t + distance];
                fg_gat_prefetch_bytes(g + ia * HF, HF * (int64_t)sizeof(FG_T));
                FG_GAT_PREFETCH(score_dst + ia * H);
                FG_GAT_PREFETCH(rowsum + ia * H);
                FG_GAT_PREFETCH(alpha + ea * H);
                FG_GAT_PREFETCH(dz_edges + ea * H);
            }
            const int64_t e = edge_id[t], i = t_indices[t];
            const FG_T *FG_GAT_RESTRICT gi = g + i * HF;
            const FG_T *FG_GAT_RESTRICT sd = score_dst + i * H;
            const double *FG_GAT_RESTRICT rs = rowsum + i * H;
            const FG_T *FG_GAT_RESTRICT a = alpha + e * H;
            FG_T *FG_GAT_RESTRICT dz = dz_edges + e * H;
            FG_GAT_OPAQUE(gi);
            if (drop) FG_GN(fg_gat_dropout_factors)(factor, H, (uint64_t)e * (uint64_t)H, threshold, k0, k1, scale);
            for (int64_t h = 0; h < H; ++h) {
                const FG_T *gh = gi + h * F;
                FG_GAT_OPAQUE(gh);
                const FG_T da = FG_GN(fg_gat_dot)(gh, xr + h * F, F) * factor[h];
                const double ds = (double)a[h] * ((double)da - rs[h]);
                const FG_T z = ss[h] + sd[h];
                const FG_T dzh = (FG_T)fg_pick_double(z > 0, ds, ds * (double)slope);
                dz[h] = dzh;
                acc[h] += (double)dzh;
                FG_GN(fg_gat_axpy)(o + h * F, gh, a[h] * factor[h], F);
            }
        }
        for (int64_t h = 0; h < H; ++h) grad_score_src[j * H + h] = (FG_T)acc[h];
    }
}

#if !FG_PRECISE && (defined(__GNUC__) || defined(__clang__))
/* float, 8 heads, F a multiple of 8: the per-edge steps of fg_gat_backward_sources_impl
 * on 8-lane vectors across the heads (the same operations in the same order, so the
 * same bits): the 8 dot products' lane vectors transposed, so their lane sums run as
 * 7 vector additions (lanes in order), then da, ds, dz and the double sums per head. */
typedef float FG_GN(fg_gat_v4) __attribute__((vector_size(16)));
typedef double FG_GN(fg_gat_dvec) __attribute__((vector_size(32)));
typedef int64_t FG_GN(fg_gat_dmask) __attribute__((vector_size(32)));
#define FG_V4 FG_GN(fg_gat_v4)
#define FG_DV FG_GN(fg_gat_dvec)
#define FG_DM FG_GN(fg_gat_dmask)
#define FG_LO(v) __builtin_convertvector(__builtin_shufflevector((v), (v), 0, 1, 2, 3), FG_DV)
#define FG_HI(v) __builtin_convertvector(__builtin_shufflevector((v), (v), 4, 5, 6, 7), FG_DV)

FG_GAT_INLINE FG_DV FG_GN(fg_gat_dload)(const double *p)
{
    FG_DV v;
    memcpy(&v, p, sizeof v);
    return v;
}

FG_GAT_INLINE FG_DV FG_GN(fg_gat_dwhere_positive)(FG_DV z, FG_DV a, FG_DV b)
{
    const FG_DV zero = {0};
    const FG_DM m = (FG_DM)(z > zero);
    return (FG_DV)(((FG_DM)a & m) | ((FG_DM)b & ~m));
}

FG_GAT_INLINE void FG_GN(fg_gat_backward_sources_h8)(
    FG_T *FG_GAT_RESTRICT grad_x, FG_T *FG_GAT_RESTRICT grad_score_src, FG_T *FG_GAT_RESTRICT dz_edges,
    const FG_T *FG_GAT_RESTRICT g, const FG_T *FG_GAT_RESTRICT x, const FG_T *FG_GAT_RESTRICT score_src,
    const FG_T *FG_GAT_RESTRICT score_dst, const double *FG_GAT_RESTRICT rowsum,
    const FG_T *FG_GAT_RESTRICT alpha, const int64_t F, const FG_I *FG_GAT_RESTRICT t_indptr,
    const FG_I *FG_GAT_RESTRICT t_indices, const FG_I *FG_GAT_RESTRICT edge_id, FG_T slope, int drop,
    uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale, int64_t row_begin, int64_t row_end,
    FG_T *FG_GAT_RESTRICT factor)
{
    const int64_t H = 8, HF = 8 * F;
    const int64_t t_stop = t_indptr[row_end];
    const int64_t distance = fg_gat_distance((HF + 4 * H) * (int64_t)sizeof(FG_T));
    const FG_DV slope_d = {slope, slope, slope, slope};
    const FG_VEC ones = {1, 1, 1, 1, 1, 1, 1, 1};
    for (int64_t j = row_begin; j < row_end; ++j) {
        FG_T *FG_GAT_RESTRICT o = grad_x + j * HF;
        const FG_T *FG_GAT_RESTRICT xr = x + j * HF;
        const FG_VEC ssv = FG_GN(fg_gat_load)(score_src + j * H);
        FG_DV acc_lo = {0}, acc_hi = {0};
        for (int64_t l = 0; l < HF; ++l) o[l] = 0;
        const int64_t t0 = t_indptr[j], t1 = t_indptr[j + 1];
        for (int64_t t = t0; t < t1; ++t) {
            if (t + distance < t_stop) {
                const int64_t ia = t_indices[t + distance], ea = edge_id[t + distance];
                fg_gat_prefetch_bytes(g + ia * HF, HF * (int64_t)sizeof(FG_T));
                FG_GAT_PREFETCH(score_dst + ia * H);
                FG_GAT_PREFETCH(rowsum + ia * H);
                FG_GAT_PREFETCH(alpha + ea * H);
                FG_GAT_PREFETCH(dz_edges + ea * H);
            }
            const int64_t e = edge_id[t], i = t_indices[t];
            const FG_T *FG_GAT_RESTRICT gi = g + i * HF;
            FG_GAT_OPAQUE(gi);
            FG_VEC d[8];
            for (int64_t h = 0; h < 8; ++h) {
                const FG_T *gh = gi + h * F, *xh = xr + h * F;
                FG_VEC a = FG_GN(fg_gat_load)(gh) * FG_GN(fg_gat_load)(xh);
                for (int64_t f = 8; f < F; f += 8) a += FG_GN(fg_gat_load)(gh + f) * FG_GN(fg_gat_load)(xh + f);
                d[h] = a;
            }
            /* transpose: r[l] holds lane l of every head's vector */
            const FG_VEC u0 = __builtin_shufflevector(d[0], d[1], 0, 8, 1, 9, 4, 12, 5, 13);
            const FG_VEC u1 = __builtin_shufflevector(d[0], d[1], 2, 10, 3, 11, 6, 14, 7, 15);
            const FG_VEC u2 = __builtin_shufflevector(d[2], d[3], 0, 8, 1, 9, 4, 12, 5, 13);
            const FG_VEC u3 = __builtin_shufflevector(d[2], d[3], 2, 10, 3, 11, 6, 14, 7, 15);
            const FG_VEC u4 = __builtin_shufflevector(d[4], d[5], 0, 8, 1, 9, 4, 12, 5, 13);
            const FG_VEC u5 = __builtin_shufflevector(d[4], d[5], 2, 10, 3, 11, 6, 14, 7, 15);
            const FG_VEC u6 = __builtin_shufflevector(d[6], d[7], 0, 8, 1, 9, 4, 12, 5, 13);
            const FG_VEC u7 = __builtin_shufflevector(d[6], d[7], 2, 10, 3, 11, 6, 14, 7, 15);
            const FG_VEC v0 = __builtin_shufflevector(u0, u2, 0, 1, 8, 9, 4, 5, 12, 13);
            const FG_VEC v1 = __builtin_shufflevector(u0, u2, 2, 3, 10, 11, 6, 7, 14, 15);
            const FG_VEC v2 = __builtin_shufflevector(u1, u3, 0, 1, 8, 9, 4, 5, 12, 13);
            const FG_VEC v3 = __builtin_shufflevector(u1, u3, 2, 3, 10, 11, 6, 7, 14, 15);
            const FG_VEC v4 = __builtin_shufflevector(u4, u6, 0, 1, 8, 9, 4, 5, 12, 13);
            const FG_VEC v5 = __builtin_shufflevector(u4, u6, 2, 3, 10, 11, 6, 7, 14, 15);
            const FG_VEC v6 = __builtin_shufflevector(u5, u7, 0, 1, 8, 9, 4, 5, 12, 13);
            const FG_VEC v7 = __builtin_shufflevector(u5, u7, 2, 3, 10, 11, 6, 7, 14, 15);
            FG_VEC tot = {0};
            tot += __builtin_shufflevector(v0, v4, 0, 1, 2, 3, 8, 9, 10, 11);   /* lane 0 */
            tot += __builtin_shufflevector(v1, v5, 0, 1, 2, 3, 8, 9, 10, 11);   /* lane 1 */
            tot += __builtin_shufflevector(v2, v6, 0, 1, 2, 3, 8, 9, 10, 11);   /* lane 2 */
            tot += __builtin_shufflevector(v3, v7, 0, 1, 2, 3, 8, 9, 10, 11);   /* lane 3 */
            tot += __builtin_shufflevector(v0, v4, 4, 5, 6, 7, 12, 13, 14, 15); /* lane 4 */
            tot += __builtin_shufflevector(v1, v5, 4, 5, 6, 7, 12, 13, 14, 15); /* lane 5 */
            tot += __builtin_shufflevector(v2, v6, 4, 5, 6, 7, 12, 13, 14, 15); /* lane 6 */
            tot += __builtin_shufflevector(v3, v7, 4, 5, 6, 7, 12, 13, 14, 15); /* lane 7 */
            FG_VEC fac = ones;
            if (drop) {
                FG_GN(fg_gat_dropout_factors)(factor, H, (uint64_t)e * (uint64_t)H, threshold, k0, k1, scale);
                fac = FG_GN(fg_gat_load)(factor);
            }
            const FG_VEC av = FG_GN(fg_gat_load)(alpha + e * H);
            const FG_VEC da = tot * fac;
            const FG_VEC ap = av * fac;
            const FG_VEC z = ssv + FG_GN(fg_gat_load)(score_dst + i * H);
            const double *rs = rowsum + i * H;
            const FG_DV ds_lo = FG_LO(av) * (FG_LO(da) - FG_GN(fg_gat_dload)(rs));
            const FG_DV ds_hi = FG_HI(av) * (FG_HI(da) - FG_GN(fg_gat_dload)(rs + 4));
            const FG_V4 dz_lo = __builtin_convertvector(
                FG_GN(fg_gat_dwhere_positive)(FG_LO(z), ds_lo, ds_lo * slope_d), FG_V4);
            const FG_V4 dz_hi = __builtin_convertvector(
                FG_GN(fg_gat_dwhere_positive)(FG_HI(z), ds_hi, ds_hi * slope_d), FG_V4);
            const FG_VEC dzv = __builtin_shufflevector(dz_lo, dz_hi, 0, 1, 2, 3, 4, 5, 6, 7);
            FG_GN(fg_gat_store)(dz_edges + e * H, dzv);
            acc_lo += __builtin_convertvector(dz_lo, FG_DV);
            acc_hi += __builtin_convertvector(dz_hi, FG_DV);
            for (int64_t h = 0; h < 8; ++h) {
                const FG_T *gh = gi + h * F;
                FG_GAT_OPAQUE(gh);
                FG_GN(fg_gat_axpy)(o + h * F, gh, ap[h], F);
            }
        }
        const FG_V4 s_lo = __builtin_convertvector(acc_lo, FG_V4), s_hi = __builtin_convertvector(acc_hi, FG_V4);
        FG_GN(fg_gat_store)(grad_score_src + j * H, __builtin_shufflevector(s_lo, s_hi, 0, 1, 2, 3, 4, 5, 6, 7));
    }
}
#undef FG_LO
#undef FG_HI
#undef FG_V4
#undef FG_DV
#undef FG_DM
#define FG_GAT_HAS_H8 1
#else
#define FG_GAT_HAS_H8 0
#endif

FG_GAT_CLONES static void FG_GN(fg_gat_backward_sources)(
    FG_T *grad_x, FG_T *grad_score_src, FG_T *dz_edges, const FG_T *g, const FG_T *x, const FG_T *score_src,
    const FG_T *score_dst, const double *rowsum, const FG_T *alpha, int64_t H, int64_t F, const FG_I *t_indptr,
    const FG_I *t_indices, const FG_I *edge_id, FG_T slope, int drop, uint32_t threshold, uint32_t k0,
    uint32_t k1, FG_T scale, int64_t row_begin, int64_t row_end, double *work, FG_T *buf)
{
#if FG_GAT_HAS_H8
    if (H == 8 && F >= 8 && F % 8 == 0) {
#define FG_GAT_BODY(FW)                                                                                       \
        FG_GN(fg_gat_backward_sources_h8)(grad_x, grad_score_src, dz_edges, g, x, score_src, score_dst, rowsum, \
                                          alpha, FW, t_indptr, t_indices, edge_id, slope, drop, threshold, k0, \
                                          k1, scale, row_begin, row_end, buf)
        FG_GAT_WIDTH_DISPATCH(F, FG_GAT_BODY)
#undef FG_GAT_BODY
        return;
    }
#endif
#define FG_GAT_BODY(FW)                                                                                       \
    FG_GN(fg_gat_backward_sources_impl)(grad_x, grad_score_src, dz_edges, g, x, score_src, score_dst, rowsum, \
                                        alpha, H, FW, t_indptr, t_indices, edge_id, slope, drop, threshold,   \
                                        k0, k1, scale, row_begin, row_end, work, buf)
    FG_GAT_WIDTH_DISPATCH(F, FG_GAT_BODY)
#undef FG_GAT_BODY
}

/* GAT: grad_score_dst[i, h] = sum over row i of dz[e, h] (double, CSR order). */
FG_GAT_CLONES static void FG_GN(fg_gat_backward_dst_sums)(
    FG_T *grad_score_dst, const FG_T *dz_edges, int64_t H, const FG_I *indptr, int64_t row_begin,
    int64_t row_end, double *work)
{
    double *acc = work;
    for (int64_t i = row_begin; i < row_end; ++i) {
        for (int64_t h = 0; h < H; ++h) acc[h] = 0.0;
        for (int64_t e = indptr[i]; e < (int64_t)indptr[i + 1]; ++e)
            for (int64_t h = 0; h < H; ++h) acc[h] += (double)dz_edges[e * H + h];
        for (int64_t h = 0; h < H; ++h) grad_score_dst[i * H + h] = (FG_T)acc[h];
    }
}

/* GATv2: grad_x_src[j, h, f] = sum_t (w'[e, h] g[i, h, f] + ds[e, h] att[h, f] leaky_relu'(z)),
 * z = x_src[j, h, f] + x_dst[i, h, f] recomputed. */
FG_GAT_INLINE void FG_GN(fg_gatv2_backward_sources_impl)(
    FG_T *FG_GAT_RESTRICT grad_x_src, const FG_T *FG_GAT_RESTRICT g, const FG_T *FG_GAT_RESTRICT x_src,
    const FG_T *FG_GAT_RESTRICT x_dst, const FG_T *FG_GAT_RESTRICT att, const FG_T *FG_GAT_RESTRICT scratch,
    int64_t H, const int64_t F, const FG_I *FG_GAT_RESTRICT t_indptr, const FG_I *FG_GAT_RESTRICT t_indices,
    const FG_I *FG_GAT_RESTRICT edge_id, FG_T slope, int64_t row_begin, int64_t row_end)
{
    const int64_t HF = H * F;
    const int64_t t_stop = t_indptr[row_end];
    const int64_t distance = fg_gat_distance((2 * HF + 2 * H) * (int64_t)sizeof(FG_T));
    for (int64_t j = row_begin; j < row_end; ++j) {
        FG_T *FG_GAT_RESTRICT o = grad_x_src + j * HF;
        const FG_T *FG_GAT_RESTRICT xs = x_src + j * HF;
        for (int64_t l = 0; l < HF; ++l) o[l] = 0;
        const int64_t t0 = t_indptr[j], t1 = t_indptr[j + 1];
        for (int64_t t = t0; t < t1; ++t) {
            if (t + distance < t_stop) {
                const int64_t ahead = t_indices[t + distance];
                fg_gat_prefetch_bytes(g + ahead * HF, HF * (int64_t)sizeof(FG_T));
                fg_gat_prefetch_bytes(x_dst + ahead * HF, HF * (int64_t)sizeof(FG_T));
                fg_gat_prefetch_bytes(scratch + (int64_t)edge_id[t + distance] * 2 * H,
                                      2 * H * (int64_t)sizeof(FG_T));
            }
            const int64_t i = t_indices[t];
            const FG_T *FG_GAT_RESTRICT sc = scratch + (int64_t)edge_id[t] * 2 * H;
            const FG_T *FG_GAT_RESTRICT gi = g + i * HF;
            const FG_T *FG_GAT_RESTRICT xd = x_dst + i * HF;
            FG_GAT_OPAQUE(sc);
            FG_GAT_OPAQUE(gi);
            FG_GAT_OPAQUE(xd);
            for (int64_t h = 0; h < H; ++h) {
                const FG_T *gh = gi + h * F, *xdh = xd + h * F;
                FG_GAT_OPAQUE(gh);
                FG_GAT_OPAQUE(xdh);
                FG_GN(fg_gatv2_head_source)(o + h * F, gh, xs + h * F, xdh, att + h * F, sc[h], sc[H + h], slope, F);
            }
        }
    }
}

FG_GAT_CLONES static void FG_GN(fg_gatv2_backward_sources)(
    FG_T *grad_x_src, const FG_T *g, const FG_T *x_src, const FG_T *x_dst, const FG_T *att, const FG_T *scratch,
    int64_t H, int64_t F, const FG_I *t_indptr, const FG_I *t_indices, const FG_I *edge_id, FG_T slope,
    int64_t row_begin, int64_t row_end)
{
#define FG_GAT_BODY(FW)                                                                                       \
    FG_GN(fg_gatv2_backward_sources_impl)(grad_x_src, g, x_src, x_dst, att, scratch, H, FW, t_indptr,        \
                                          t_indices, edge_id, slope, row_begin, row_end)
    FG_GAT_WIDTH_DISPATCH(F, FG_GAT_BODY)
#undef FG_GAT_BODY
}

#undef FG_VEC
#undef FG_MASK
#undef FG_GAT_VW
#undef FG_GAT_HAS_H8
#undef FG_GN
