/* Index-typed sampling kernels, included by fastgnn_sample.h once per index type:
 * FG_I is the graph's index type (int32_t or int64_t), FG_SUF the name suffix. */
#define FG_S(name) FG_SAMPLE_CAT(name, FG_SUF)

/* counts[i] = the number of edges nodes[i] will sample, and rows[2i], rows[2i+1] = the start and the
 * length of its row (so the fill reads them in order, not from indptr at random), for i = order[j], j in
 * [begin, end) (i = j when order is NULL). Returns the number of negative weights met in the rows read for
 * weighted sampling (0 without weights). */
static inline int64_t FG_S(fg_sample_count_ordered)(const FG_I *indptr, const int64_t *nodes, const int64_t *order,
                                                    int64_t fanout, int replace, const void *weight,
                                                    int weight_double, int64_t *counts, int64_t *rows,
                                                    int64_t begin, int64_t end)
{
    int64_t negative = 0;
    for (int64_t j = begin; j < end; ++j) {
        int64_t i = FG_SAMPLE_AT(order, j);
        int64_t v = nodes[i];
        if (j + FG_SAMPLE_LOOKUP_AHEAD < end)
            FG_SAMPLE_PREFETCH(indptr + nodes[FG_SAMPLE_AT(order, j + FG_SAMPLE_LOOKUP_AHEAD)]);
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

static int64_t FG_S(fg_sample_count)(const FG_I *indptr, const int64_t *nodes, int64_t fanout, int replace,
                                     const void *weight, int weight_double, int64_t *counts, int64_t *rows,
                                     int64_t begin, int64_t end)
{
    return FG_S(fg_sample_count_ordered)(indptr, nodes, NULL, fanout, replace, weight, weight_double, counts, rows,
                                         begin, end);
}

/* The sampled edges of nodes[i] for i = order[j], j in [begin .. end) (i = j when order is NULL; rows as
 * fg_sample_count wrote them): edge ids (sorted within each node) at edge_ids[out_ptr[i]], and their
 * sources at sources[out_ptr[i]]. Each node's output depends on the node alone, so the order only decides
 * which rows are read when. Returns 0, or -1 when scratch memory cannot be had. */
static inline int FG_S(fg_sample_fill_ordered)(const int64_t *rows, const FG_I *indices, const int64_t *nodes,
                                               const int64_t *order, const int64_t *out_ptr, int64_t fanout,
                                               int replace, const void *weight, int weight_double,
                                               uint64_t layer_key, int64_t *edge_ids, FG_I *sources,
                                               int64_t begin, int64_t end)
{
    double *scratch = NULL;
    int64_t capacity = 0;
    for (int64_t j = begin; j < end; ++j) {
        int64_t i = FG_SAMPLE_AT(order, j);
        int64_t v = nodes[i];
        int64_t start = rows[2 * i], d = rows[2 * i + 1];
        int64_t *out = edge_ids + out_ptr[i];
        int64_t n;
        if (j + FG_SAMPLE_AHEAD < end) {
            int64_t ahead = FG_SAMPLE_AT(order, j + FG_SAMPLE_AHEAD);
            fg_sample_prefetch_span(indices + rows[2 * ahead], rows[2 * ahead + 1] * (int64_t)sizeof(FG_I));
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

static int FG_S(fg_sample_fill)(const int64_t *rows, const FG_I *indices, const int64_t *nodes,
                                const int64_t *out_ptr, int64_t fanout, int replace, const void *weight,
                                int weight_double, uint64_t layer_key, int64_t *edge_ids, FG_I *sources,
                                int64_t begin, int64_t end)
{
    return FG_S(fg_sample_fill_ordered)(rows, indices, nodes, NULL, out_ptr, fanout, replace, weight, weight_double,
                                        layer_key, edge_ids, sources, begin, end);
}

/* map[nodes[i]] = i (or -1 with clear), i in [begin, end). */
static void FG_S(fg_sample_map_nodes)(const int64_t *nodes, FG_I *map, int clear, int64_t begin, int64_t end)
{
    for (int64_t i = begin; i < end; ++i) {
        if (i + FG_SAMPLE_LOOKUP_AHEAD < end)
            FG_SAMPLE_PREFETCH(map + nodes[i + FG_SAMPLE_LOOKUP_AHEAD]);
        map[nodes[i]] = clear ? (FG_I)-1 : (FG_I)i;
    }
}

/* First-seen numbering of the sources local[begin .. end), in place: local[e] becomes the id of its
 * source in map; a source without one (map entry -1) takes the next id (from next on), with
 * src_nodes[id] = the source. Returns the next free id. */
static int64_t FG_S(fg_sample_relabel)(FG_I *local, int64_t begin, int64_t end, FG_I *map, int64_t next,
                                       int64_t *src_nodes)
{
    for (int64_t e = begin; e < end; ++e) {
        if (e + FG_SAMPLE_LOOKUP_AHEAD < end)
            FG_SAMPLE_PREFETCH(map + local[e + FG_SAMPLE_LOOKUP_AHEAD]);
        FG_I s = local[e];
        FG_I id = map[s];
        if (id < 0) {
            id = (FG_I)next;
            map[s] = id;
            src_nodes[next++] = (int64_t)s;
        }
        local[e] = id;
    }
    return next;
}

/* One worker of a layer's fill and relabelling (every worker of the layer calls it at once, with the
 * same shared state). The frontier nodes[0 .. n) is cut into tasks of per_task nodes, handed out in
 * order by the counter *next_task. A task: fg_sample_fill of its nodes (sources into local), its
 * destinations copied into src_nodes[0 .. n), and the pages of src_nodes its edges may need faulted in;
 * then done[task] = 1 (-1 if the fill failed). Worker 0 also relabels the finished tasks, in order, with
 * fg_sample_relabel (map: the destinations' local ids on entry, every source node's on return): the
 * relabelling overlaps the other workers' fills and gives the serial result.
 * Returns the number of source nodes for worker 0 (-1 if a fill failed; the map is then in no known
 * state), 0 for the others. */
static int64_t FG_S(fg_sample_fill_relabel)(int worker, int64_t n, int64_t per_task, const int64_t *rows,
                                            const FG_I *indices, const int64_t *nodes, const int64_t *out_ptr,
                                            int64_t fanout, int replace, const void *weight, int weight_double,
                                            uint64_t layer_key, int64_t *edge_ids, FG_I *local, FG_I *map,
                                            int64_t *src_nodes, int64_t *next_task, int32_t *done)
{
    int64_t n_tasks = (n + per_task - 1) / per_task, relabelled = 0, n_src = n;
    for (;;) {
        if (worker == 0) {     /* relabel the finished tasks that follow the relabelled ones, in one run */
            int64_t first = relabelled;
            int32_t state;
            while (relabelled < n_tasks && (state = FG_LOAD_ACQUIRE(done + relabelled)) != 0) {
                if (state < 0)
                    return -1;
                ++relabelled;
            }
            if (relabelled > first) {
                int64_t hi = relabelled * per_task < n ? relabelled * per_task : n;
                n_src = FG_S(fg_sample_relabel)(local, out_ptr[first * per_task], out_ptr[hi], map, n_src, src_nodes);
            }
            if (relabelled == n_tasks)
                return n_src;
        }
        int64_t task = FG_FETCH_ADD(next_task, 1);
        if (task >= n_tasks) {
            if (worker != 0)
                return 0;
            while (FG_LOAD_ACQUIRE(done + relabelled) == 0)     /* another worker is filling it */
                FG_PAUSE();
            continue;
        }
        int64_t lo = task * per_task, hi = lo + per_task < n ? lo + per_task : n;
        int status = FG_S(fg_sample_fill)(rows, indices, nodes, out_ptr, fanout, replace, weight, weight_double,
                                          layer_key, edge_ids, local, lo, hi);
        memcpy(src_nodes + lo, nodes + lo, (size_t)(hi - lo) * sizeof(int64_t));
        /* Worker 0 writes src_nodes[n + k] for k below the edges it has relabelled, all before this
         * task's first edge: these pages are not written yet. */
        fg_touch_pages(src_nodes, n + out_ptr[lo], n + out_ptr[hi]);
        FG_STORE_RELEASE(done + task, status == 0 ? 1 : -1);
    }
}

#undef FG_S
