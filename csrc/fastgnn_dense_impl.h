/*
 * One value-type variant of the fused dense steps (included by
 * fastgnn_dense.h with FG_T, its unsigned integer of the same width FG_U,
 * FG_SUF and FG_PRECISE, 1 when exp needs double precision).
 *
 * The row loops are written once, as always-inline functions whose first
 * arguments (activation, bias, dropout) are constants at every call site, so
 * each combination compiles to its own branch-free, vectorizable loop.
 * Arithmetic follows fastgnn.nn step by step (same operations, same order),
 * so ReLU, leaky ReLU and the identity give the bits of the NumPy sequence;
 * ELU, tanh and sigmoid use the branch-free exp of fastgnn_dense.h (within
 * a few units in the last place of libm's).
 */

#define FG_D(name) FG_DENSE_CAT(name, FG_SUF)

/* cond ? a : b, by masking bits: GCC if-converts and vectorizes this where it
 * leaves a float ?: as a branch (without AVX-512 masks, under -ftrapping-math). */
FG_DENSE_INLINE FG_T FG_D(fg_pick)(int cond, FG_T a, FG_T b)
{
    FG_U ua, ub, mask = (FG_U)0 - (FG_U)(cond != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & mask) | (ub & ~mask);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* act(x), as fastgnn.nn.activation computes it. */
FG_DENSE_INLINE FG_T FG_D(fg_act)(const int act, FG_T x, FG_T slope, FG_T alpha)
{
    switch (act) {
    case FG_ACT_RELU:
        return FG_D(fg_pick)(x <= 0, (FG_T)0, x); /* np.maximum(x, 0): NaN stays NaN, -0 becomes +0 */
    case FG_ACT_LEAKY_RELU:
        return FG_D(fg_pick)(x > 0, x, x * slope);
    case FG_ACT_ELU: {
        FG_T negative = FG_D(fg_pick)(x >= 0, (FG_T)0, x); /* np.minimum(x, 0): NaN kept, -0 to +0 */
        FG_T m = (FG_T)fg_expm1_nonpositive((double)negative, FG_PRECISE);
        return FG_D(fg_pick)(x > 0, x, alpha * m);
    }
    case FG_ACT_TANH:
        return (FG_T)fg_tanh_double((double)x, FG_PRECISE);
    case FG_ACT_SIGMOID:
        return (FG_T)fg_sigmoid_double((double)x, FG_PRECISE);
    default:
        return x;
    }
}

/* grad * act'(.) from the saved value s (the activation output, or the
 * dropped output for ReLU and leaky ReLU: same sign where the element is kept). */
FG_DENSE_INLINE FG_T FG_D(fg_act_grad)(const int act, FG_T t, FG_T s, FG_T slope, FG_T alpha)
{
    switch (act) {
    case FG_ACT_RELU:
        return t * FG_D(fg_pick)(s > 0, (FG_T)1, (FG_T)0);
    case FG_ACT_LEAKY_RELU:
        return FG_D(fg_pick)(s > 0, t, t * slope);
    case FG_ACT_ELU:
        return FG_D(fg_pick)(s > 0, t, t * (s + alpha));
    case FG_ACT_TANH:
        return t * (1 - s * s);
    case FG_ACT_SIGMOID:
        return t * s * (1 - s);
    default:
        return t;
    }
}

/* 1 where the counter's bits keep the element, else 0. */
FG_DENSE_INLINE FG_T FG_D(fg_keep)(uint32_t lo, uint32_t k0, uint32_t kh, uint32_t threshold)
{
    return FG_D(fg_pick)(fg_dropout_bits(lo, k0, kh) >= threshold, (FG_T)1, (FG_T)0);
}

FG_DENSE_INLINE void FG_D(fg_forward_rows)(const int act, const int has_bias, const int drop, FG_T *out,
                                          const FG_T *z, const FG_T *bias, FG_T *saved, int64_t row_begin,
                                          int64_t row_end, int64_t d, FG_T slope, FG_T alpha,
                                          uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale,
                                          const int64_t *row_ids)
{
    const int save = drop && act >= FG_ACT_ELU;
    for (int64_t i = row_begin; i < row_end; ++i) {
        const int64_t base = i * d;
        const int64_t key_base = row_ids != NULL ? row_ids[i] * d : base; /* the mask's counter of element 0 */
        FG_T *o = out + base;
        const FG_T *x = z + base;
        if (!drop) {
            for (int64_t k = 0; k < d; ++k) {
                FG_T v = has_bias ? x[k] + bias[k] : x[k];
                o[k] = FG_D(fg_act)(act, v, slope, alpha);
            }
            continue;
        }
        FG_T *sv = save ? saved + base : NULL;
        int64_t c = 0;
        while (c < d) {
            const int64_t len = fg_same_high((uint64_t)(key_base + c), d - c);
            const uint32_t kh = fg_high_key(k1, (uint64_t)(key_base + c));
            const uint32_t lo = (uint32_t)(key_base + c);
            uint32_t counter = lo; /* a 32-bit induction variable: cheaper vectors than lo + (uint32_t)k */
            for (int64_t k = 0; k < len; ++k, ++counter) {
                const int64_t j = c + k;
                FG_T v = has_bias ? x[j] + bias[j] : x[j];
                FG_T y = FG_D(fg_act)(act, v, slope, alpha);
                if (save)
                    sv[j] = y;
                FG_T m = FG_D(fg_keep)(counter, k0, kh, threshold);
                o[j] = (y * m) * scale;
            }
            c += len;
        }
    }
}

FG_DENSE_INLINE void FG_D(fg_backward_rows)(const int act, const int drop, const int sum, FG_T *grad_z,
                                           const FG_T *grad_out, const FG_T *saved, double *acc,
                                           int64_t row_begin, int64_t row_end, int64_t d, FG_T slope,
                                           FG_T alpha, uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale,
                                           const int64_t *row_ids)
{
    for (int64_t i = row_begin; i < row_end; ++i) {
        const int64_t base = i * d;
        const int64_t key_base = row_ids != NULL ? row_ids[i] * d : base; /* the mask's counter of element 0 */
        FG_T *gz = grad_z + base;
        const FG_T *g = grad_out + base;
        const FG_T *s = act == FG_ACT_IDENTITY ? NULL : saved + base;
        if (!drop) {
            for (int64_t k = 0; k < d; ++k) {
                FG_T r = FG_D(fg_act_grad)(act, g[k], act == FG_ACT_IDENTITY ? (FG_T)0 : s[k], slope, alpha);
                gz[k] = r;
                if (sum)
                    acc[k] += (double)r;
            }
            continue;
        }
        int64_t c = 0;
        while (c < d) {
            const int64_t len = fg_same_high((uint64_t)(key_base + c), d - c);
            const uint32_t kh = fg_high_key(k1, (uint64_t)(key_base + c));
            const uint32_t lo = (uint32_t)(key_base + c);
            uint32_t counter = lo; /* a 32-bit induction variable: cheaper vectors than lo + (uint32_t)k */
            for (int64_t k = 0; k < len; ++k, ++counter) {
                const int64_t j = c + k;
                FG_T m = FG_D(fg_keep)(counter, k0, kh, threshold);
                FG_T t = (g[j] * m) * scale;
                FG_T r = FG_D(fg_act_grad)(act, t, act == FG_ACT_IDENTITY ? (FG_T)0 : s[j], slope, alpha);
                gz[j] = r;
                if (sum)
                    acc[j] += (double)r;
            }
            c += len;
        }
    }
}

#define FG_FORWARD_CASE(ACT)                                                                                   \
    case ACT:                                                                                                  \
        if (bias != NULL) {                                                                                    \
            if (drop)                                                                                          \
                FG_D(fg_forward_rows)(ACT, 1, 1, out, z, bias, saved, row_begin, row_end, d, slope, alpha,   \
                                      threshold, k0, k1, scale, row_ids);                                      \
            else                                                                                               \
                FG_D(fg_forward_rows)(ACT, 1, 0, out, z, bias, saved, row_begin, row_end, d, slope, alpha,   \
                                      threshold, k0, k1, scale, row_ids);                                      \
        } else {                                                                                               \
            if (drop)                                                                                          \
                FG_D(fg_forward_rows)(ACT, 0, 1, out, z, bias, saved, row_begin, row_end, d, slope, alpha,   \
                                      threshold, k0, k1, scale, row_ids);                                      \
            else                                                                                               \
                FG_D(fg_forward_rows)(ACT, 0, 0, out, z, bias, saved, row_begin, row_end, d, slope, alpha,   \
                                      threshold, k0, k1, scale, row_ids);                                      \
        }                                                                                                      \
        break;

/* Forward over rows [row_begin, row_end). out may be z (in place); bias may be
 * NULL; saved receives act(z + bias) when dropping with ELU, tanh or sigmoid.
 * With row_ids (NULL: row i is i), row i's mask is that of row row_ids[i]:
 * counters row_ids[i] * d + k. */
FG_DENSE_CLONES
static void FG_D(fg_dense_forward)(FG_T *out, const FG_T *z, const FG_T *bias, FG_T *saved, int64_t row_begin,
                                   int64_t row_end, int64_t d, int act, FG_T slope, FG_T alpha, int drop,
                                   uint32_t threshold, uint32_t k0, uint32_t k1, FG_T scale, const int64_t *row_ids)
{
    switch (act) {
    FG_FORWARD_CASE(FG_ACT_RELU)
    FG_FORWARD_CASE(FG_ACT_LEAKY_RELU)
    FG_FORWARD_CASE(FG_ACT_ELU)
    FG_FORWARD_CASE(FG_ACT_TANH)
    FG_FORWARD_CASE(FG_ACT_SIGMOID)
    default:
    FG_FORWARD_CASE(FG_ACT_IDENTITY)
    }
}
#undef FG_FORWARD_CASE

#define FG_BACKWARD_CALL(ACT, DROP, SUM)                                                                       \
    FG_D(fg_backward_rows)(ACT, DROP, SUM, grad_z, grad_out, saved, acc, r0, r1, d, slope, alpha, threshold,  \
                           k0, k1, scale, row_ids)

#define FG_BACKWARD_CASE(ACT)                                                                                  \
    case ACT:                                                                                                  \
        if (acc != NULL) {                                                                                     \
            if (drop)                                                                                          \
                FG_BACKWARD_CALL(ACT, 1, 1);                                                                   \
            else                                                                                               \
                FG_BACKWARD_CALL(ACT, 0, 1);                                                                   \
        } else {                                                                                               \
            if (drop)                                                                                          \
                FG_BACKWARD_CALL(ACT, 1, 0);                                                                   \
            else                                                                                               \
                FG_BACKWARD_CALL(ACT, 0, 0);                                                                   \
        }                                                                                                      \
        break;

/* Backward over the row blocks [block_begin, block_end) of block_rows rows
 * each (the last one shorter). grad_z may be grad_out (in place). With
 * partials, row b of partials (d doubles) receives the column sums of the
 * rows of block b, added row after row. */
FG_DENSE_CLONES
static void FG_D(fg_dense_backward)(FG_T *grad_z, const FG_T *grad_out, const FG_T *saved, double *partials,
                                    int64_t block_begin, int64_t block_end, int64_t block_rows, int64_t n_rows,
                                    int64_t d, int act, FG_T slope, FG_T alpha, int drop, uint32_t threshold,
                                    uint32_t k0, uint32_t k1, FG_T scale, const int64_t *row_ids)
{
    for (int64_t b = block_begin; b < block_end; ++b) {
        const int64_t r0 = b * block_rows;
        const int64_t r1 = r0 + block_rows < n_rows ? r0 + block_rows : n_rows;
        double *acc = NULL;
        if (partials != NULL) {
            acc = partials + b * d;
            for (int64_t k = 0; k < d; ++k)
                acc[k] = 0.0;
        }
        switch (act) {
        FG_BACKWARD_CASE(FG_ACT_RELU)
        FG_BACKWARD_CASE(FG_ACT_LEAKY_RELU)
        FG_BACKWARD_CASE(FG_ACT_ELU)
        FG_BACKWARD_CASE(FG_ACT_TANH)
        FG_BACKWARD_CASE(FG_ACT_SIGMOID)
        default:
        FG_BACKWARD_CASE(FG_ACT_IDENTITY)
        }
    }
}
#undef FG_BACKWARD_CASE
#undef FG_BACKWARD_CALL

/* Softmax cross-entropy of the rows [row_begin, row_end) of an n x classes
 * array: row_loss[i] = top + log(sum_c e_c) - z[i, label_i] with
 * e_c = exp(z[i, c] - top), top the row maximum, and
 * grad[i] = scale * (e / sum_c e_c - onehot(label_i)). The exponentials are
 * the branch-free exp of fastgnn_dense.h in double (the shifted scores are
 * <= 0), over a tile of several rows at once so that the loop vectorizes
 * however few the classes; each sum runs in column order, so every row's
 * result is fixed whatever thread computes it. */
#define FG_XENT_TILE 512
FG_DENSE_CLONES
static void FG_D(fg_softmax_xent_rows)(const FG_T *logits, const int64_t *labels, FG_T *grad, double *row_loss,
                                       int64_t row_begin, int64_t row_end, int64_t classes, double scale)
{
    double e[FG_XENT_TILE];
    const int64_t group = classes < FG_XENT_TILE ? FG_XENT_TILE / classes : 1;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += group) {
        const int64_t rows = row_end - r0 < group ? row_end - r0 : group;
        if (classes > FG_XENT_TILE) {           /* one wide row, a tile at a time */
            const FG_T *z = logits + r0 * classes;
            FG_T *g = grad + r0 * classes;
            double top = (double)z[0];
            for (int64_t c = 1; c < classes; ++c)
                if ((double)z[c] > top)
                    top = (double)z[c];
            double total = 0.0;
            for (int64_t c0 = 0; c0 < classes; c0 += FG_XENT_TILE) {
                const int64_t len = classes - c0 < FG_XENT_TILE ? classes - c0 : FG_XENT_TILE;
                for (int64_t c = 0; c < len; ++c)
                    e[c] = fg_exp_nonpositive((double)z[c0 + c] - top, 1);
                for (int64_t c = 0; c < len; ++c) {
                    total += e[c];
                    g[c0 + c] = (FG_T)e[c];
                }
            }
            const int64_t label = labels[r0];
            row_loss[r0] = top + log(total) - (double)z[label];
            for (int64_t c = 0; c < classes; ++c)
                g[c] = (FG_T)((double)g[c] / total * scale);
            g[label] = (FG_T)((double)g[label] - scale);
            continue;
        }
        const FG_T *z = logits + r0 * classes;
        FG_T *g = grad + r0 * classes;
        double top[FG_XENT_TILE];
        for (int64_t r = 0; r < rows; ++r) {
            double best = (double)z[r * classes];
            for (int64_t c = 1; c < classes; ++c)
                if ((double)z[r * classes + c] > best)
                    best = (double)z[r * classes + c];
            top[r] = best;
            for (int64_t c = 0; c < classes; ++c)
                e[r * classes + c] = (double)z[r * classes + c] - best;
        }
        const int64_t len = rows * classes;
        for (int64_t k = 0; k < len; ++k)
            e[k] = fg_exp_nonpositive(e[k], 1);
        for (int64_t r = 0; r < rows; ++r) {
            const double *er = e + r * classes;
            FG_T *gr = g + r * classes;
            double total = 0.0;
            for (int64_t c = 0; c < classes; ++c)
                total += er[c];
            const int64_t label = labels[r0 + r];
            row_loss[r0 + r] = top[r] + log(total) - (double)z[r * classes + label];
            for (int64_t c = 0; c < classes; ++c)
                gr[c] = (FG_T)((double)(FG_T)er[c] / total * scale);
            gr[label] = (FG_T)((double)gr[label] - scale);
        }
    }
}
#undef FG_XENT_TILE

#undef FG_D
