/* Index-typed sampling kernels, included by fastgnn_sample.h once per index type:
 * FG_I is the graph's index type (int32_t or int64_t), FG_SUF the name suffix. */
#define FG_S(name) FG_SAMPLE_CAT(name, FG_SUF)

/* counts[i] = the number of edges nodes[i] will sample, and rows[2i], rows[2i+1] = the start and the
 * length of its row (so the fill reads them in order, not from indptr at random), for i in [begin, end).
 * Returns the number of negative weights met in the rows read for weighted sampling (0 without weights). */
static int64_t FG_S(fg_sample_count)(const FG_I *indptr, const int64_t *nodes, int64_t fanout, int replace,
                                     const void *weight, int weight_double, int64_t *counts, int64_t *rows,
                                     int64_t begin, int64_t end)
{
    int64_t negative = 0;
    for (int64_t i = begin; i < end; ++i) {
        int64_t v = nodes[i];
        if (i + FG_SAMPLE_AHEAD < end)
            FG_SAMPLE_PREFETCH(indptr + nodes[i + FG_SAMPLE_AHEAD]);
        int64_t start = (int64_t)indptr[v], d = (int64_t)indptr[v + 1] - start;
        rows[2 * i] = start;
        rows[2 * i + 1] = d;
        if (fanout < 0) {
            counts[i] = d;
            continue;
        }
        if (weight != NULL) {
            int64_t positive = 0;
            for (int64_t e = start; e < start + d; ++e) {
                double w = fg_sample_weight(weight, weight_double, e);
                positive += w > 0.0;
                negative += w < 0.0;
            }
            d = positive;
        }
        counts[i] = d == 0 ? 0 : (replace ? fanout : (d < fanout ? d : fanout));
    }
    return negative;
}

/* The sampled edges of nodes[begin .. end) (rows as fg_sample_count wrote them): edge ids (sorted
 * within each node) at edge_ids[out_ptr[i]], and their sources at sources[out_ptr[i]]. Returns 0, or
 * -1 when scratch memory cannot be had. */
static int FG_S(fg_sample_fill)(const int64_t *rows, const FG_I *indices, const int64_t *nodes,
                                const int64_t *out_ptr, int64_t fanout, int replace, const void *weight,
                                int weight_double, uint64_t layer_key, int64_t *edge_ids, FG_I *sources,
                                int64_t begin, int64_t end)
{
    double *scratch = NULL;
    int64_t capacity = 0;
    for (int64_t i = begin; i < end; ++i) {
        int64_t v = nodes[i];
        int64_t start = rows[2 * i], d = rows[2 * i + 1];
        int64_t *out = edge_ids + out_ptr[i];
        int64_t n;
        if (i + FG_SAMPLE_AHEAD < end) {
            const FG_I *row = indices + rows[2 * (i + FG_SAMPLE_AHEAD)];
            FG_SAMPLE_PREFETCH(row);
            FG_SAMPLE_PREFETCH(row + 64 / sizeof(FG_I));
        }
        if (fanout < 0) {
            for (int64_t p = 0; p < d; ++p)
                out[p] = p;
            n = d;
        } else if (d == 0) {
            n = 0;
        } else if (weight == NULL) {
            n = fg_sample_uniform_row(d, fanout, replace, fg_sample_mix(layer_key ^ (uint64_t)v), out);
        } else {
            if (d > capacity) {
                double *grown = (double *)realloc(scratch, (size_t)d * sizeof(double));
                if (grown == NULL) {
                    free(scratch);
                    return -1;
                }
                scratch = grown;
                capacity = d;
            }
            for (int64_t p = 0; p < d; ++p)
                scratch[p] = fg_sample_weight(weight, weight_double, start + p);
            n = fg_sample_weighted_row(scratch, d, fanout, replace, fg_sample_mix(layer_key ^ (uint64_t)v), out);
        }
        FG_I *src = sources + out_ptr[i];
        for (int64_t c = 0; c < n; ++c) {
            out[c] += start;
            src[c] = indices[out[c]];
        }
    }
    free(scratch);
    return 0;
}

/* map[nodes[i]] = i (or -1 with clear), i in [begin, end). */
static void FG_S(fg_sample_map_nodes)(const int64_t *nodes, FG_I *map, int clear, int64_t begin, int64_t end)
{
    for (int64_t i = begin; i < end; ++i) {
        if (i + FG_SAMPLE_AHEAD < end)
            FG_SAMPLE_PREFETCH(map + nodes[i + FG_SAMPLE_AHEAD]);
        map[nodes[i]] = clear ? (FG_I)-1 : (FG_I)i;
    }
}

/* Relabel one block in place: on entry local[0 .. m) holds the sources of the sampled edges and map the
 * local ids 0 .. n_dst-1 of the destinations (map[dst_nodes[i]] = i, -1 for every other node); the
 * sources not yet numbered take the next ids n_dst, n_dst + 1, ... in first-seen order, src_nodes[id] =
 * their global id (src_nodes[0 .. n_dst) is the caller's), and local[e] becomes the local id of its
 * source. On return map holds the local id of every source node (so it is ready for a next layer whose
 * destinations are these nodes, in this order). Returns the number of source nodes. */
static int64_t FG_S(fg_sample_relabel)(int64_t n_dst, FG_I *local, int64_t m, FG_I *map, int64_t *src_nodes)
{
    int64_t n = n_dst;
    for (int64_t e = 0; e < m; ++e) {
        if (e + 16 < m)
            FG_SAMPLE_PREFETCH(map + local[e + 16]);
        FG_I s = local[e];
        FG_I id = map[s];
        if (id < 0) {
            id = (FG_I)n;
            map[s] = id;
            src_nodes[n++] = (int64_t)s;
        }
        local[e] = id;
    }
    return n;
}

#undef FG_S
