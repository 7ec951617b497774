/*
 * window_index.c -- the aggregation stage's index: the node table (open
 * addressing, one lookup per frame), the due heap, the creation list, and
 * each node's series array sorted by key; nodes and series are created and
 * freed here, with their memory counted (window.c says why it is shaped
 * so).
 */
#include "window_internal.h"

#include <string.h>

#include "alloc.h"
#include "err.h"

static size_t series_bytes(const struct gw_windows *w, int quantiles, size_t sensor_len)
{
    return sizeof(struct series) + w->n_slots * sizeof(struct slot) +
           (quantiles ? w->n_slots * sizeof(struct gw_qsketch) : 0) + sensor_len + 1;
}

/*
 * Mixes the len bytes at p into h, 8 at a time; the last word of a string
 * of 8 bytes or more is its last 8 bytes (overlapping), so every load stays
 * inside the string. Only equal strings need equal hashes: the table
 * compares the ids on a hit.
 */
static uint64_t hash_bytes(uint64_t h, const char *p, size_t len)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i + 8 < len; i += 8) {
        memcpy(&x, p + i, 8);
        h = (h ^ x) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    if (len >= 8) {
        memcpy(&x, p + len - 8, 8);
    } else {
        for (i = 0; i < len; i++)
            x |= (uint64_t)(unsigned char)p[i] << (8 * i);
    }
    h = (h ^ x ^ len) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* memcmp(a, b, len) == 0 for short ids, with the same word loads as hash_bytes(). */
static bool bytes_equal(const char *a, const char *b, size_t len)
{
    uint64_t x, y;
    if (len < 8)
        return memcmp(a, b, len) == 0;
    for (size_t i = 0; i + 8 < len; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    memcpy(&x, a + len - 8, 8);
    memcpy(&y, b + len - 8, 8);
    return x == y;
}

static uint64_t ids_hash(const char *site, size_t site_len, const char *node, size_t node_len)
{
    uint64_t h = hash_bytes(hash_bytes(0x243f6a8885a308d3ull, site, site_len), node, node_len);
    h ^= h >> 33; /* MurmurHash3's finaliser: the table indexes by the low bits */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static size_t table_home(size_t cap, uint64_t hash)
{
    return (size_t)hash & (cap - 1);
}

struct node *gw__window_find(const struct gw_windows *w, const struct gw_windows_frame *fr)
{
    size_t mask = w->table_cap - 1;
    if (!w->table_cap)
        return NULL;
    for (size_t i = table_home(w->table_cap, fr->hash);; i = (i + 1) & mask) {
        struct node *n = w->table[i];
        if (!n)
            return NULL;
        if (n->hash == fr->hash && n->site_len == fr->site_len && n->node_len == fr->node_len &&
            bytes_equal(n->ids, fr->site, fr->site_len) &&
            bytes_equal(n->ids + fr->site_len + 1, fr->node_id, fr->node_len))
            return n;
    }
}

static void table_put(struct node **table, size_t cap, struct node *n)
{
    size_t i = table_home(cap, n->hash);
    while (table[i])
        i = (i + 1) & (cap - 1);
    table[i] = n;
}

/* Makes room for one more node in the table (load at most 1/2) and the heap. */
static int nodes_reserve(struct gw_windows *w)
{
    if ((w->n_nodes + 1) * 2 > w->table_cap) {
        size_t cap = w->table_cap ? w->table_cap * 2 : 16;
        struct node **t = gw_calloc(cap, sizeof *t);
        if (!t)
            return GW_ENOMEM;
        for (size_t i = 0; i < w->table_cap; i++)
            if (w->table[i])
                table_put(t, cap, w->table[i]);
        gw_free(w->table);
        mem_add(w, (cap - w->table_cap) * sizeof *t, w->table_cap == 0);
        w->table = t;
        w->table_cap = cap;
    }
    if (w->n_nodes == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 16;
        struct node **h = gw_realloc(w->heap, cap * sizeof *h);
        if (!h)
            return GW_ENOMEM;
        mem_add(w, (cap - w->heap_cap) * sizeof *h, w->heap_cap == 0);
        w->heap = h;
        w->heap_cap = cap;
    }
    return 0;
}

/* Removes n from the table, shifting back the entries of its probe run. */
static void table_remove(struct gw_windows *w, struct node *n)
{
    size_t mask = w->table_cap - 1, i = table_home(w->table_cap, n->hash);
    while (w->table[i] != n)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; w->table[j]; j = (j + 1) & mask) {
        size_t home = table_home(w->table_cap, w->table[j]->hash);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            w->table[i] = w->table[j];
            i = j;
        }
    }
    w->table[i] = NULL;
}

static int node_before(const struct node *a, const struct node *b)
{
    return a->wake_ms < b->wake_ms || (a->wake_ms == b->wake_ms && a->seq < b->seq);
}

static void heap_set(struct gw_windows *w, size_t i, struct node *n)
{
    w->heap[i] = n;
    n->heap_pos = i;
}

static void heap_up(struct gw_windows *w, size_t i)
{
    struct node *n = w->heap[i];
    while (i > 0 && node_before(n, w->heap[(i - 1) / 2])) {
        heap_set(w, i, w->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(w, i, n);
}

static void heap_down(struct gw_windows *w, size_t i)
{
    struct node *n = w->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->n_nodes)
            break;
        if (c + 1 < w->n_nodes && node_before(w->heap[c + 1], w->heap[c]))
            c++;
        if (!node_before(w->heap[c], n))
            break;
        heap_set(w, i, w->heap[c]);
        i = c;
    }
    heap_set(w, i, n);
}

/* Puts n back in order after its due_ms changed. */
void gw__window_heap_fix(struct gw_windows *w, struct node *n)
{
    heap_up(w, n->heap_pos);
    heap_down(w, n->heap_pos);
}

static size_t node_bytes(size_t site_len, size_t node_len)
{
    return sizeof(struct node) + site_len + node_len + 2;
}

/* Creates the node of fr with creation number seq: in the table, the heap and the list. */
int gw__window_node_new(struct gw_windows *w, struct gw_windows_frame *fr, uint64_t seq,
                        int64_t ts_ms, struct node **out)
{
    struct node *n;
    int rc = nodes_reserve(w);
    if (rc)
        return rc;
    n = gw_calloc(1, node_bytes(fr->site_len, fr->node_len));
    if (!n)
        return GW_ENOMEM;
    mem_add(w, node_bytes(fr->site_len, fr->node_len), 1);
    n->hash = fr->hash;
    n->seq = seq;
    n->due_ms = INT64_MAX;
    n->wake_ms = INT64_MAX;
    n->clock_ms = ts_ms;
    n->max_ts_ms = ts_ms;
    n->seen_rx_ms = rx_now(w);
    n->site_len = (uint8_t)fr->site_len;
    n->node_len = (uint8_t)fr->node_len;
    memcpy(n->ids, fr->site, fr->site_len);
    memcpy(n->ids + fr->site_len + 1, fr->node_id, fr->node_len);
    table_put(w->table, w->table_cap, n);
    heap_set(w, w->n_nodes++, n);
    heap_up(w, n->heap_pos);
    n->prev = w->tail;
    if (w->tail)
        w->tail->next = n;
    else
        w->head = n;
    w->tail = n;
    fr->node = n;
    *out = n;
    return 0;
}

/* Frees part k of s, keeping the others in order. */
void gw__window_part_drop(struct gw_windows *w, struct series *s, size_t k)
{
    sketch_fini(w, &s->parts[k].sk);
    s->n_parts--;
    memmove(s->parts + k, s->parts + k + 1, (s->n_parts - k) * sizeof *s->parts);
    w->st.parts--;
}

static void series_free(struct gw_windows *w, struct series *s)
{
    for (size_t i = 0; s->quantiles && i < w->n_slots; i++)
        sketch_fini(w, slot_sketch(w, s, i));
    while (s->n_parts > 0)
        gw__window_part_drop(w, s, s->n_parts - 1);
    if (s->parts)
        mem_add(w, -(s->cap_parts * sizeof *s->parts), (size_t)-1);
    gw_free(s->parts);
    mem_add(w, -series_bytes(w, s->quantiles, strlen(s->sensor)), (size_t)-1);
    gw_free(s);
}

/* Frees n, which holds no series any more, and takes it out of every index. */
void gw__window_node_drop(struct gw_windows *w, struct node *n)
{
    struct node *last = w->heap[--w->n_nodes];
    table_remove(w, n);
    if (last != n) {
        heap_set(w, n->heap_pos, last);
        gw__window_heap_fix(w, last);
    }
    if (n->prev)
        n->prev->next = n->next;
    else
        w->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        w->tail = n->prev;
    mem_add(w, -(node_bytes(n->site_len, n->node_len) + n->cap_series * sizeof *n->series),
            -(size_t)(1 + (n->series != NULL)));
    gw_free(n->series);
    gw_free(n);
}

/* Frees every node and series: w is as gw_windows_new() made it. */
void gw__window_clear(struct gw_windows *w)
{
    struct node *n, *next;
    for (n = w->head; n; n = next) {
        next = n->next;
        for (uint32_t k = 0; k < n->n_series; k++)
            series_free(w, n->series[k]);
        gw_free(n->series);
        gw_free(n);
    }
    gw_free(w->table);
    gw_free(w->heap);
    w->table = NULL;
    w->heap = NULL;
    w->head = w->tail = NULL;
    w->table_cap = w->heap_cap = w->n_nodes = 0;
    w->next_seq = 0;
    w->now_ms = 0;
    w->rx_base_ms = w->rx_base_at_ms = 0;
    memset(&w->st, 0, sizeof w->st);
    mem_reset(w);
}

/* Orders series by quantity, lane, vehicle class, sensor: < 0 when s comes before the key. */
static int series_cmp(const struct series *s, const struct gw_series_key *key, const char *sensor)
{
    if (s->quantity != key->quantity)
        return s->quantity < key->quantity ? -1 : 1;
    if (s->lane != key->lane)
        return s->lane < key->lane ? -1 : 1;
    if (s->vehicle_class != key->vehicle_class)
        return s->vehicle_class < key->vehicle_class ? -1 : 1;
    return strcmp(s->sensor, sensor);
}

/* Where key's series is in n, or would go; *found says whether it is there. */
size_t gw__window_node_search(const struct node *n, const struct gw_series_key *key,
                              const char *sensor, int *found)
{
    size_t lo = 0, hi = n->n_series;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = series_cmp(n->series[mid], key, sensor);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Creates the series of key at index at of n. key->sensor (NULL: "") is
 * validated already and copied; key->quantiles says whether it keeps
 * quantiles.
 */
int gw__window_series_new(struct gw_windows *w, struct node *n, size_t at,
                          const struct gw_series_key *key, struct series **out)
{
    const char *sensor = key->sensor ? key->sensor : "";
    size_t sensor_len = strlen(sensor);
    bool quantiles = key->quantiles;
    struct series *s;
    if (n->n_series == n->cap_series) {
        uint32_t cap = n->cap_series ? 2 * n->cap_series : 4;
        struct series **grown = gw_realloc(n->series, cap * sizeof *grown);
        if (!grown)
            return GW_ENOMEM;
        mem_add(w, (cap - n->cap_series) * sizeof *grown, n->cap_series == 0);
        n->series = grown;
        n->cap_series = cap;
    }
    s = gw_calloc(1, series_bytes(w, quantiles, sensor_len));
    if (!s)
        return GW_ENOMEM;
    mem_add(w, series_bytes(w, quantiles, sensor_len), 1);
    s->node = n;
    s->due_ms = INT64_MAX;
    s->lane = key->lane;
    s->quantity = key->quantity;
    s->vehicle_class = key->vehicle_class;
    s->quantiles = quantiles;
    for (size_t i = 0; quantiles && i < w->n_slots; i++)
        gw_qsketch_init(slot_sketch(w, s, i));
    char *copy =
        (char *)(s->slots + w->n_slots) + (quantiles ? w->n_slots * sizeof(struct gw_qsketch) : 0);
    memcpy(copy, sensor, sensor_len);
    copy[sensor_len] = '\0';
    s->sensor = copy;
    memmove(n->series + at + 1, n->series + at, (n->n_series - at) * sizeof *n->series);
    n->series[at] = s;
    n->n_series++;
    w->st.series++;
    *out = s;
    return 0;
}

/* Frees series k of n, which holds no window. */
void gw__window_series_drop(struct gw_windows *w, struct node *n, size_t k)
{
    series_free(w, n->series[k]);
    n->n_series--;
    memmove(n->series + k, n->series + k + 1, (n->n_series - k) * sizeof *n->series);
    w->st.series--;
}

int gw_windows_frame_begin(struct gw_windows *w, const char *site, const char *node, int64_t now_ms,
                           struct gw_windows_frame *fr)
{
    size_t site_len, node_len;
    if (!site || !node)
        return GW_EINVAL;
    site_len = strnlen(site, GW_WINDOW_MAX_ID_BYTES + 1);
    node_len = strnlen(node, GW_WINDOW_MAX_ID_BYTES + 1);
    if (site_len == 0 || site_len > GW_WINDOW_MAX_ID_BYTES || node_len == 0 ||
        node_len > GW_WINDOW_MAX_ID_BYTES)
        return GW_EINVAL;
    fr->site = site;
    fr->node_id = node;
    fr->site_len = (unsigned)site_len;
    fr->node_len = (unsigned)node_len;
    fr->hash = ids_hash(site, site_len, node, node_len);
    fr->now_ms = now_ms;
    fr->pos = 0;
    fr->node = gw__window_find(w, fr);
    return 0;
}
