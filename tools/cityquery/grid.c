/*
 * grid.c -- dense windows, local periods and completeness (see grid.h).
 *
 * Why dense: every report walks windows in time order (rolling peak hours,
 * runs of gaps, periods), and a year of 15-min windows is 35 040 doubles,
 * so an array indexed by (start - from) / width beats any sparse map and
 * makes a missing window visible as what it is.
 */
#include "grid.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int cq_grid_init(struct cq_grid *g, int64_t from_ms, int64_t to_ms, int64_t width_ms)
{
    memset(g, 0, sizeof *g);
    if (width_ms <= 0 || from_ms >= to_ms || from_ms % width_ms || to_ms % width_ms)
        return GW_EINVAL;
    g->from_ms = from_ms;
    g->to_ms = to_ms;
    g->width_ms = width_ms;
    g->n = (size_t)((to_ms - from_ms) / width_ms);
    g->volume = calloc(g->n, sizeof *g->volume);
    return g->volume ? 0 : GW_ENOMEM;
}

void cq_grid_fini(struct cq_grid *g)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        free(g->nodes[i].seen);
    free(g->nodes);
    free(g->volume);
    memset(g, 0, sizeof *g);
}

int cq_grid_node(struct cq_grid *g, const char *name, size_t *index)
{
    size_t len = strlen(name);
    if (len == 0 || len >= CQ_NAME_MAX)
        return GW_EINVAL;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (strcmp(g->nodes[i].name, name) == 0) {
            *index = i;
            return 0;
        }
    }
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? 2 * g->cap_nodes : 8;
        struct cq_node *nodes = realloc(g->nodes, cap * sizeof *nodes);
        if (!nodes)
            return GW_ENOMEM;
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    struct cq_node *node = &g->nodes[g->n_nodes];
    node->seen = calloc(g->n, 1);
    if (!node->seen)
        return GW_ENOMEM;
    memcpy(node->name, name, len + 1);
    *index = g->n_nodes++;
    return 0;
}

int cq_grid_add(struct cq_grid *g, size_t node, int64_t start_ms, double volume)
{
    if (node >= g->n_nodes || start_ms < g->from_ms || start_ms >= g->to_ms ||
        (start_ms - g->from_ms) % g->width_ms)
        return GW_ERANGE;
    size_t i = (size_t)((start_ms - g->from_ms) / g->width_ms);
    g->volume[i] += volume;
    g->nodes[node].seen[i] = 1;
    return 0;
}

double cq_bin_pct(const struct cq_bin *b)
{
    return b->expected ? 100.0 * (double)b->seen / (double)b->expected : 0.0;
}

int cq_grid_bins(const struct cq_grid *g, enum cq_period p, struct cq_bin **out, size_t *n_out)
{
    size_t n = 0, cap = 0;
    struct cq_bin *bins = NULL;
    int rc = 0;

    for (int64_t start = cq_period_start(p, g->from_ms); start < g->to_ms;
         start = cq_period_next(p, start)) {
        int64_t s = start < g->from_ms ? g->from_ms : start;
        int64_t e = cq_period_next(p, start);
        if (e > g->to_ms)
            e = g->to_ms;
        if ((s - g->from_ms) % g->width_ms || (e - g->from_ms) % g->width_ms) {
            rc = GW_EINVAL;
            goto out;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            struct cq_bin *more = realloc(bins, cap * sizeof *bins);
            if (!more) {
                rc = GW_ENOMEM;
                goto out;
            }
            bins = more;
        }
        struct cq_bin *b = &bins[n++];
        memset(b, 0, sizeof *b);
        b->start_ms = s;
        b->end_ms = e;
        b->cut = s != start || e != cq_period_next(p, start);
        size_t i0 = (size_t)((s - g->from_ms) / g->width_ms);
        size_t i1 = (size_t)((e - g->from_ms) / g->width_ms);
        for (size_t i = i0; i < i1; i++) {
            b->volume += g->volume[i];
            for (size_t k = 0; k < g->n_nodes; k++)
                b->seen += g->nodes[k].seen[i];
        }
        b->expected = (i1 - i0) * g->n_nodes;
    }
out:
    if (rc) {
        free(bins);
        return rc;
    }
    *out = bins;
    *n_out = n;
    return 0;
}

void cq_grid_node_count(const struct cq_grid *g, size_t node, int64_t start_ms, int64_t end_ms,
                        size_t *expected, size_t *seen)
{
    int64_t s = start_ms < g->from_ms ? g->from_ms : start_ms;
    int64_t e = end_ms > g->to_ms ? g->to_ms : end_ms;
    size_t n = 0, have = 0;
    for (int64_t t = s; t < e; t += g->width_ms) {
        n++;
        have += g->nodes[node].seen[(t - g->from_ms) / g->width_ms];
    }
    *expected = n;
    *seen = have;
}

int cq_grid_gaps(const struct cq_grid *g, size_t node, struct cq_gap **out, size_t *n_out)
{
    struct cq_gap *gaps = NULL;
    size_t n = 0, cap = 0;
    const uint8_t *seen = g->nodes[node].seen;

    for (size_t i = 0; i < g->n;) {
        if (seen[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < g->n && !seen[j])
            j++;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct cq_gap *more = realloc(gaps, cap * sizeof *gaps);
            if (!more) {
                free(gaps);
                return GW_ENOMEM;
            }
            gaps = more;
        }
        gaps[n].start_ms = g->from_ms + (int64_t)i * g->width_ms;
        gaps[n].end_ms = g->from_ms + (int64_t)j * g->width_ms;
        n++;
        i = j;
    }
    *out = gaps;
    *n_out = n;
    return 0;
}
