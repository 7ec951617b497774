/*
 * test_gw_events.c -- /api/v1/events, the live page's stream, against a real
 * gateway, broker and store:
 *  - the snapshot lists every registered node, and the window events carry
 *    the volumes the test published (its own ground truth), the same figures
 *    as the gateway's /api/v1/live for the newest window; node counters
 *    count the frames and the refusals (a node whose only news is a frame
 *    as a short entry), the counters totals the frames published, a quiet
 *    second sends nothing; an alert appears as an event and in a new page's
 *    snapshot;
 *  - a page that reconnects with Last-Event-ID gets every event it missed
 *    and no snapshot; an id of another run or one no longer kept gets a
 *    snapshot that says why; a malformed one a 400;
 *  - a client that stops reading is cut off and counted while the frames
 *    keep flowing and a reading client misses nothing;
 *  - 500 clients at once: each gets a stream or a 503, and the refusals are
 *    counted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cu.h"
#include "gwtest.h"

static const char *citygate;

/* ---- an event-stream client on its own thread ---- */

struct sse_event {
    char id[64], type[32];
    json_t *data;
};

struct sse {
    pthread_t thread;
    char url[256], last_id[80];
    atomic_int stop;
    pthread_mutex_t mu;
    struct sse_event **ev; /* each allocated once: sse_at()'s pointers stay valid */
    size_t n, cap;
    int heartbeats;
    long status;
    atomic_int done;
    char line[1 << 20];
    size_t line_len;
    struct sse_event cur;
    char *data;
    size_t data_len;
};

/* One complete line of the stream (HTML, 9.2.6 "Interpreting an event stream"). */
static void sse_line(struct sse *s, const char *line)
{
    if (line[0] == ':') {
        pthread_mutex_lock(&s->mu);
        s->heartbeats++;
        pthread_mutex_unlock(&s->mu);
    } else if (strncmp(line, "id: ", 4) == 0) {
        snprintf(s->cur.id, sizeof s->cur.id, "%s", line + 4);
    } else if (strncmp(line, "event: ", 7) == 0) {
        snprintf(s->cur.type, sizeof s->cur.type, "%s", line + 7);
    } else if (strncmp(line, "data: ", 6) == 0) {
        free(s->data);
        s->data = strdup(line + 6);
    } else if (line[0] == '\0' && s->data) {
        s->cur.data = json_loads(s->data, 0, NULL);
        CU_ASSERT(s->cur.data != NULL);
        pthread_mutex_lock(&s->mu);
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 256;
            s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
        }
        struct sse_event *e = malloc(sizeof *e);
        CU_ASSERT_FATAL(e != NULL);
        *e = s->cur;
        s->ev[s->n++] = e;
        pthread_mutex_unlock(&s->mu);
        memset(&s->cur, 0, sizeof s->cur);
        free(s->data);
        s->data = NULL;
    }
}

static size_t sse_write(char *p, size_t size, size_t n, void *ctx)
{
    struct sse *s = ctx;
    for (size_t i = 0; i < size * n; i++) {
        if (p[i] == '\n') {
            s->line[s->line_len] = '\0';
            sse_line(s, s->line);
            s->line_len = 0;
        } else if (s->line_len + 1 < sizeof s->line) {
            s->line[s->line_len++] = p[i];
        }
    }
    return size * n;
}

static int sse_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct sse *s = ctx;
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&s->stop);
}

static void *sse_run(void *ctx)
{
    struct sse *s = ctx;
    char header[128];
    struct curl_slist *list = NULL;
    CURL *c = curl_easy_init();
    if (s->last_id[0]) {
        snprintf(header, sizeof header, "Last-Event-ID: %s", s->last_id);
        list = curl_slist_append(list, header);
    }
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(list);
    atomic_store(&s->done, 1);
    return NULL;
}

/* Starts reading the gateway's stream, resuming after last_id (may be NULL). */
static struct sse *sse_start(const struct gwt *t, const char *last_id)
{
    struct sse *s = calloc(1, sizeof *s);
    CU_ASSERT_FATAL(s != NULL);
    snprintf(s->url, sizeof s->url, "http://%s/api/v1/events", t->http);
    snprintf(s->last_id, sizeof s->last_id, "%s", last_id ? last_id : "");
    pthread_mutex_init(&s->mu, NULL);
    CU_ASSERT_FATAL(pthread_create(&s->thread, NULL, sse_run, s) == 0);
    return s;
}

static void sse_free(struct sse *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->n; i++) {
        json_decref(s->ev[i]->data);
        free(s->ev[i]);
    }
    free(s->ev);
    free(s->data);
    json_decref(s->cur.data);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Events received so far. */
static size_t sse_n(struct sse *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Events of type received so far. */
static size_t sse_count(struct sse *s, const char *type)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        n += strcmp(s->ev[i]->type, type) == 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static size_t sse_wait(struct sse *s, const char *type, size_t n, int timeout_ms)
{
    size_t got = 0;
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; gwt_now_ms() < end; gwt_pause_ms(20))
        if ((got = sse_count(s, type)) >= n)
            break;
    return got;
}

/* The n-th event (borrowed; events are only ever added). */
static struct sse_event *sse_at(struct sse *s, size_t i)
{
    pthread_mutex_lock(&s->mu);
    struct sse_event *e = i < s->n ? s->ev[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* The number after the dash of an event id. */
static uint64_t id_number(const char *id)
{
    const char *dash = strchr(id, '-');
    return dash ? strtoull(dash + 1, NULL, 10) : 0;
}

/* ---- scenario helpers ---- */

#define NODES 4
#define SITES 2
#define SECONDS 20
#define WINDOW_MS 5000
#define EVENTS_CONFIG                                                                              \
    "[devices]\nmax_skew = 5s\n[journal]\nsegment_bytes = 1MiB\n"                                  \
    "[windows]\nwidths = 5s,10s\ngrace = 200ms\nlate_horizon = 200s\n"                             \
    "[store]\nretention = 5s=1d,10s=1d\n[live]\nheartbeat = 300ms\n"

/* The volume node n counts in window s: the test's ground truth. */
static unsigned volume_of(int n, int s)
{
    return (unsigned)(n + 1) * (unsigned)(s % 3 + 1);
}

/* Publishes one frame a window for each node, back-dated into windows that are due now. */
static void publish_volumes(struct gwt *t, uint64_t base, int s0, int s1, uint64_t boot,
                            uint32_t lane)
{
    uint8_t frame[1024];
    char topic[128];
    for (int s = s0; s < s1; s++)
        for (int n = 0; n < NODES; n++) {
            struct gwt_reading r[] = {
                {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, volume_of(n, s), lane, 0},
            };
            size_t len = gwt_frame(t, n, boot + (uint64_t)n, (uint64_t)s + 1,
                                   base + (uint64_t)s * WINDOW_MS + 500, r, 1, frame, sizeof frame);
            gwt_topic(t, n, topic, sizeof topic);
            gwt_publish(t, topic, frame, len);
        }
    gwt_publish_wait(t);
}

/*
 * The newest window event of every (node, second) of [s0, s1), by node and
 * second: flows[n][s] in veh/h, or -1 when none came. Windows are back-dated,
 * so a window can close before all its frames arrived and be corrected by a
 * later event: the newest one counts.
 */
static void window_flows(struct sse *s, uint64_t base, uint32_t lane, double flows[NODES][SECONDS])
{
    for (int n = 0; n < NODES; n++)
        for (int i = 0; i < SECONDS; i++)
            flows[n][i] = -1;
    for (size_t i = 0; i < sse_n(s); i++) {
        struct sse_event *e = sse_at(s, i);
        if (!e || strcmp(e->type, "window") != 0)
            continue;
        const char *node = json_string_value(json_object_get(e->data, "node"));
        int64_t start = json_integer_value(json_object_get(e->data, "start_ms"));
        int n = node ? atoi(node + 5) : -1;
        CU_ASSERT_FATAL(n >= 0 && n < NODES);
        if (json_integer_value(json_object_get(e->data, "lane")) != lane)
            continue; /* another batch's */
        if (start < (int64_t)base || start >= (int64_t)base + SECONDS * WINDOW_MS)
            continue; /* another batch's */
        int64_t w = (start - (int64_t)base) / WINDOW_MS;
        CU_ASSERT(json_integer_value(json_object_get(e->data, "window_ms")) == WINDOW_MS);
        flows[n][w] = json_number_value(json_object_get(e->data, "flow_vph"));
    }
}

/* Waits until the newest window events of seconds [s0, s1) carry the published volumes. */
static int windows_match(struct sse *s, uint64_t base, uint32_t lane, int s0, int s1,
                         int timeout_ms)
{
    double flows[NODES][SECONDS];
    int ok = 0;
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; !ok && gwt_now_ms() < end;
         gwt_pause_ms(50)) {
        window_flows(s, base, lane, flows);
        ok = 1;
        for (int n = 0; n < NODES; n++)
            for (int i = s0; i < s1; i++)
                ok &= flows[n][i] == volume_of(n, i) * 3600.0 * 1000 / WINDOW_MS;
    }
    for (int n = 0; !ok && n < NODES; n++)
        for (int i = s0; i < s1; i++)
            if (flows[n][i] != volume_of(n, i) * 3600.0 * 1000 / WINDOW_MS)
                fprintf(stderr, "node %d window %d: flow %g, published %u vehicles\n", n, i,
                        flows[n][i], volume_of(n, i));
    return ok;
}

/* The last node object of node id in the stream's counters and node events, or NULL. */
static json_t *last_node(struct sse *s, const char *id)
{
    json_t *found = NULL;
    for (size_t i = 0; i < sse_n(s); i++) {
        struct sse_event *e = sse_at(s, i);
        json_t *list = NULL;
        if (strcmp(e->type, "counters") == 0)
            list = json_object_get(e->data, "nodes");
        else if (strcmp(e->type, "snapshot") == 0)
            list = json_object_get(e->data, "nodes");
        else if (strcmp(e->type, "node") == 0 &&
                 strcmp(json_string_value(json_object_get(e->data, "node")), id) == 0)
            found = e->data;
        for (size_t j = 0; j < json_array_size(list); j++)
            if (strcmp(json_string_value(json_object_get(json_array_get(list, j), "node")), id) ==
                0)
                found = json_array_get(list, j);
    }
    return found;
}

/* The data of the stream's last counters event, or NULL. */
static json_t *last_counters(struct sse *s)
{
    json_t *found = NULL;
    for (size_t i = 0; i < sse_n(s); i++)
        if (strcmp(sse_at(s, i)->type, "counters") == 0)
            found = sse_at(s, i)->data;
    return found;
}

/*
 * The newest frame count of node id in the stream, and its last_seen_ms: from
 * its node objects (in the snapshot, node and counters events) and the short
 * [node, ms before now_ms, frames] entries of counters events. *whole says
 * which it came in. -1 when the stream never mentioned the node.
 */
static int64_t node_frames(struct sse *s, const char *id, int64_t *last_seen_ms, int *whole)
{
    int64_t frames = -1;
    for (size_t i = 0; i < sse_n(s); i++) {
        struct sse_event *e = sse_at(s, i);
        json_t *list = NULL, *seen = NULL;
        if (strcmp(e->type, "node") == 0)
            list = json_pack("[O]", e->data);
        else if (strcmp(e->type, "counters") == 0 || strcmp(e->type, "snapshot") == 0)
            list = json_incref(json_object_get(e->data, "nodes"));
        if (strcmp(e->type, "counters") == 0)
            seen = json_object_get(e->data, "seen");
        for (size_t j = 0; j < json_array_size(list); j++) {
            json_t *n = json_array_get(list, j);
            if (strcmp(json_string_value(json_object_get(n, "node")), id) != 0)
                continue;
            frames = json_integer_value(json_object_get(n, "frames"));
            *last_seen_ms = json_integer_value(json_object_get(n, "last_seen_ms"));
            *whole = 1;
        }
        json_decref(list);
        for (size_t j = 0; j < json_array_size(seen); j++) {
            json_t *n = json_array_get(seen, j);
            CU_ASSERT_FATAL(json_array_size(n) == 3);
            if (strcmp(json_string_value(json_array_get(n, 0)), id) != 0)
                continue;
            frames = json_integer_value(json_array_get(n, 2));
            *last_seen_ms = json_integer_value(json_object_get(e->data, "now_ms")) -
                            json_integer_value(json_array_get(n, 1));
            *whole = 0;
        }
    }
    return frames;
}

/* ---- the scenarios ---- */

static void test_snapshot_and_events(void)
{
    struct gwt t;
    uint64_t base = gwt_now_ms() / WINDOW_MS * WINDOW_MS - SECONDS * WINDOW_MS;
    uint8_t msg[1024];
    char topic[128], id[16], site[16];

    gwt_init(&t, citygate, NODES, SITES,
             EVENTS_CONFIG "[rule busy]\nquantity = TRAFFIC_VOLUME\nwarn = 100\ncrit = 200\n");
    gwt_start(&t);
    struct sse *a = sse_start(&t, NULL);
    CU_ASSERT_FATAL(sse_wait(a, "snapshot", 1, 10000) == 1);
    struct sse_event *snap = sse_at(a, 0);
    CU_ASSERT_STRING_EQUAL(snap->type, "snapshot");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(snap->data, "reason")), "new");
    json_t *nodes = json_object_get(snap->data, "nodes");
    CU_ASSERT_FATAL(json_array_size(nodes) == NODES);
    for (int n = 0; n < NODES; n++) {
        json_t *node = json_array_get(nodes, (size_t)n);
        gwt_device(&t, n, id, site);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(node, "node")), id);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(node, "site")), site);
        CU_ASSERT(json_is_null(json_object_get(node, "last_seen_ms")));
    }
    CU_ASSERT(json_array_size(json_object_get(snap->data, "windows")) == 0);
    CU_ASSERT(json_array_size(json_object_get(snap->data, "alerts")) == 0);

    uint64_t first_publish_ms = gwt_now_ms();
    base = first_publish_ms / WINDOW_MS * WINDOW_MS - SECONDS * WINDOW_MS;
    publish_volumes(&t, base, 0, SECONDS, 100, 1);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total", NODES * SECONDS, 30000),
                    NODES * SECONDS);
    CU_ASSERT(windows_match(a, base, 1, 0, SECONDS, 30000));

    /* The newest window of each site, as the page shows it, equals the gateway's own view. */
    json_t *live = gwt_live(&t);
    json_t *sites = json_object_get(live, "sites");

    CU_ASSERT_FATAL(json_array_size(sites) == SITES);
    double flows[NODES][SECONDS];
    window_flows(a, base, 1, flows);
    for (size_t i = 0; i < SITES; i++) {
        json_t *st = json_array_get(sites, i);
        double sum = 0;
        int64_t newest = json_integer_value(json_object_get(st, "window_start_ms"));
        for (int n = 0; n < NODES; n++) {
            gwt_device(&t, n, id, site);
            if (strcmp(site, json_string_value(json_object_get(st, "site"))) == 0)
                sum += flows[n][(newest - (int64_t)base) / WINDOW_MS];
        }
        CU_ASSERT_EQUAL(newest, (int64_t)base + (SECONDS - 1) * WINDOW_MS);
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(st, "flow_vph")), sum, 1e-9);
    }
    json_decref(live);

    /* Node counters: every frame, then one refused (signed with another node's key). */
    struct gwt_parts p;
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, 1, 1, 0};
    gwt_frame_parts(&t, 0, 100, SECONDS + 1, base + 500, &r, 1, &p);
    size_t len = gwt_frame_sign(1, &p.f, msg, sizeof msg);
    gwt_topic(&t, 0, topic, sizeof topic);
    gwt_publish(&t, topic, msg, len);
    /* A value over crit: the alert, at once. */
    r.value = 250;
    len = gwt_frame(&t, 1, 101, SECONDS + 1, base + SECONDS * WINDOW_MS + 500, &r, 1, msg,
                    sizeof msg);
    gwt_topic(&t, 1, topic, sizeof topic);
    gwt_publish(&t, topic, msg, len);
    /* A birth of node 2. */
    gwt_device(&t, 2, id, site);
    snprintf(topic, sizeof topic, "city/v1/%s/%s/status", site, id);
    gwt_publish(&t, topic, msg, gwt_status(&t, 2, 2, 102, 1, msg, sizeof msg));
    gwt_publish_wait(&t);

    CU_ASSERT_FATAL(sse_wait(a, "alert", 1, 10000) >= 1);
    CU_ASSERT_FATAL(sse_wait(a, "node", 1, 10000) >= 1);
    json_t *n0 = NULL;
    for (uint64_t end = gwt_now_ms() + 10000; gwt_now_ms() < end; gwt_pause_ms(50)) {
        n0 = last_node(a, "node-0000");
        if (n0 && json_integer_value(json_object_get(n0, "refused_total")) == 1)
            break;
    }
    CU_ASSERT_FATAL(n0 != NULL);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(n0, "frames")), SECONDS);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(n0, "refused_total")), 1);
    CU_ASSERT(json_integer_value(json_object_get(n0, "last_seen_ms")) > 0);
    /* The totals: every data frame published, all accepted but the one refused. */
    json_t *c = NULL;
    for (uint64_t end = gwt_now_ms() + 10000; gwt_now_ms() < end; gwt_pause_ms(50)) {
        c = last_counters(a);
        if (c && json_integer_value(json_object_get(c, "frames_in")) == NODES * SECONDS + 2)
            break;
    }
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "frames_in")), NODES * SECONDS + 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "frames_accepted")), NODES * SECONDS + 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "frames_refused")), 1);
    /* Each node's newest entry counts the frames it got accepted. Node 1's last frame (the
     * alert's) brought nothing else new: a short entry; node 0's refusal: a whole object. */
    for (int n = 0; n < NODES; n++) {
        int64_t seen_ms = 0;
        int whole = -1;
        gwt_device(&t, n, id, site);
        CU_ASSERT_EQUAL(node_frames(a, id, &seen_ms, &whole), SECONDS + (n == 1));
        CU_ASSERT(seen_ms >= (int64_t)first_publish_ms && seen_ms <= (int64_t)gwt_now_ms());
        if (n == 0)
            CU_ASSERT_EQUAL(whole, 1);
        if (n == 1)
            CU_ASSERT_EQUAL(whole, 0);
    }
    /* A second in which nothing changed sent nothing: after the first, each counters event
     * carries a node or totals other than the one before. */
    json_t *prev = NULL;
    static const char *const totals[] = {"frames_in", "frames_accepted", "frames_refused",
                                         "alerts_published"};
    for (size_t i = 0; i < sse_n(a); i++) {
        json_t *d = sse_at(a, i)->data;
        if (strcmp(sse_at(a, i)->type, "counters") != 0)
            continue;
        int same = prev != NULL && json_array_size(json_object_get(d, "nodes")) == 0 &&
                   json_array_size(json_object_get(d, "seen")) == 0;
        for (size_t k = 0; same && k < sizeof totals / sizeof *totals; k++)
            same = json_integer_value(json_object_get(d, totals[k])) ==
                   json_integer_value(json_object_get(prev, totals[k]));
        CU_ASSERT(!same);
        prev = d;
    }
    json_t *n2 = last_node(a, "node-0002");
    CU_ASSERT(n2 && json_integer_value(json_object_get(n2, "birth_ms")) > 0);
    CU_ASSERT(n2 && json_is_false(json_object_get(n2, "dead")));
    struct sse_event *alert = NULL;
    for (size_t i = 0; i < sse_n(a) && !alert; i++)
        if (strcmp(sse_at(a, i)->type, "alert") == 0)
            alert = sse_at(a, i);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(alert->data, "state")), "crit");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(alert->data, "node")), "node-0001");

    /* A new page starts with the history, the nodes as they are and the open alert. */
    struct sse *b = sse_start(&t, NULL);
    CU_ASSERT_FATAL(sse_wait(b, "snapshot", 1, 10000) == 1);
    json_t *sd = sse_at(b, 0)->data;
    CU_ASSERT(json_array_size(json_object_get(sd, "windows")) >= NODES * SECONDS);
    json_t *open = json_object_get(sd, "alerts");
    CU_ASSERT_FATAL(json_array_size(open) == 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(open, 0), "state")),
                           "crit");
    json_t *bn0 = last_node(b, "node-0000");
    CU_ASSERT(bn0 && json_integer_value(json_object_get(bn0, "refused_total")) == 1);
    /* Its windows equal the first page's newest ones. */
    double replayed[NODES][SECONDS];
    window_flows(a, base, 1, flows);
    for (int n = 0; n < NODES; n++)
        for (int i = 0; i < SECONDS; i++)
            replayed[n][i] = -1;
    json_t *ws = json_object_get(sd, "windows");
    for (size_t i = 0; i < json_array_size(ws); i++) {
        json_t *w = json_array_get(ws, i);
        int n = atoi(json_string_value(json_object_get(w, "node")) + 5);
        int64_t s =
            (json_integer_value(json_object_get(w, "start_ms")) - (int64_t)base) / WINDOW_MS;
        if (n >= 0 && n < NODES && s >= 0 && s < SECONDS)
            replayed[n][s] = json_number_value(json_object_get(w, "flow_vph"));
    }
    CU_ASSERT(memcmp(replayed, flows, sizeof flows) == 0);

    sse_free(b);
    sse_free(a);
    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_fini(&t);
}

static void test_replay(void)
{
    struct gwt t;
    struct gwt_reply r;
    uint64_t base = gwt_now_ms() / WINDOW_MS * WINDOW_MS - SECONDS * WINDOW_MS;

    gwt_init(&t, citygate, NODES, SITES, EVENTS_CONFIG);
    gwt_start(&t);
    struct sse *all = sse_start(&t, NULL), *cut = sse_start(&t, NULL);
    CU_ASSERT_FATAL(sse_wait(all, "snapshot", 1, 10000) == 1);
    CU_ASSERT_FATAL(sse_wait(cut, "snapshot", 1, 10000) == 1);
    base = gwt_now_ms() / WINDOW_MS * WINDOW_MS - SECONDS * WINDOW_MS;
    publish_volumes(&t, base, 0, SECONDS / 2, 100, 1);
    CU_ASSERT(windows_match(cut, base, 1, 0, SECONDS / 2, 30000));
    /* The page goes away; the second half happens while it is gone. */
    atomic_store(&cut->stop, 1);
    pthread_join(cut->thread, NULL);
    char last[80];
    snprintf(last, sizeof last, "%s", cut->ev[cut->n - 1]->id);
    publish_volumes(&t, base, SECONDS / 2, SECONDS, 100, 1);
    CU_ASSERT(windows_match(all, base, 1, 0, SECONDS, 30000));

    /* Back with Last-Event-ID: no snapshot, and exactly the events after it. */
    struct sse *back = sse_start(&t, last);
    uint64_t from = id_number(last);
    size_t missed = 0;
    for (size_t i = 0; i < sse_n(all); i++)
        missed += id_number(sse_at(all, i)->id) > from;
    CU_ASSERT(missed > 0);
    for (uint64_t end = gwt_now_ms() + 10000; sse_n(back) < missed && gwt_now_ms() < end;)
        gwt_pause_ms(20);
    CU_ASSERT_FATAL(sse_n(back) >= missed);
    CU_ASSERT(sse_count(back, "snapshot") == 0);
    for (size_t i = 0, j = 0; i < sse_n(all) && j < sse_n(back); i++) {
        struct sse_event *e = sse_at(all, i);
        if (id_number(e->id) <= from)
            continue;
        struct sse_event *f = sse_at(back, j++);
        CU_ASSERT_STRING_EQUAL(e->id, f->id);
        CU_ASSERT_STRING_EQUAL(e->type, f->type);
        CU_ASSERT(json_equal(e->data, f->data));
    }
    /* Together, the page's two streams hold every window with the published volume. */
    pthread_mutex_lock(&back->mu);
    for (size_t i = 0; i < back->n; i++) {
        if (cut->n == cut->cap) {
            cut->cap *= 2;
            cut->ev = realloc(cut->ev, cut->cap * sizeof *cut->ev);
        }
        struct sse_event *e = malloc(sizeof *e);
        CU_ASSERT_FATAL(e != NULL);
        *e = *back->ev[i];
        json_incref(e->data);
        cut->ev[cut->n++] = e;
    }
    pthread_mutex_unlock(&back->mu);
    CU_ASSERT(windows_match(cut, base, 1, 0, SECONDS, 1000));
    sse_free(back);
    sse_free(cut);

    /* An id of another run: a snapshot that says so; one of the future or forgotten: too. */
    struct sse *other = sse_start(&t, "12345-3");
    CU_ASSERT_FATAL(sse_wait(other, "snapshot", 1, 10000) == 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(sse_at(other, 0)->data, "reason")),
                           "restart");
    sse_free(other);
    char future[80];
    snprintf(future, sizeof future, "%.*s-999999999", (int)(strchr(last, '-') - last), last);
    struct sse *ahead = sse_start(&t, future);
    CU_ASSERT_FATAL(sse_wait(ahead, "snapshot", 1, 10000) == 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(sse_at(ahead, 0)->data, "reason")),
                           "expired");
    sse_free(ahead);

    /* Malformed ids: a clear 400, counted. */
    static const char *const bad[] = {"Last-Event-ID: x", "Last-Event-ID: 12-", "Last-Event-ID: -3",
                                      "Last-Event-ID: 1-2-3",
                                      "Last-Event-ID: 99999999999999999999999-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *const h[] = {bad[i], NULL};
        gwt_request(&t, "GET", "/api/v1/events", h, NULL, &r);
        CU_ASSERT_EQUAL(r.status, 400);
        gwt_reply_free(&r);
    }
    CU_ASSERT_EQUAL(
        gwt_metric(&t, "citygate_live_streams_refused_total{reason=\"bad_last_event_id\"}"),
        sizeof bad / sizeof *bad);
    CU_ASSERT(gwt_metric(&t, "citygate_live_streams_resumed_total") == 1);
    /* Without an operator token in the configuration the gateway is read-only. */
    const char *const token[] = {"Authorization: Bearer anything", NULL};
    gwt_request(&t, "POST", "/api/v1/alerts/site-00/node-0000/busy/traffic_volume-1/ack", token, "",
                &r);
    CU_ASSERT_EQUAL(r.status, 403);
    gwt_reply_free(&r);

    sse_free(all);
    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_fini(&t);
}

/* Opens a raw connection that asks for the stream and never reads. */
static int stalled_client(const struct gwt *t)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char req[256];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 2048;
    CU_ASSERT_FATAL(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sa.sin_port = htons((uint16_t)atoi(strchr(t->http, ':') + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    int n = snprintf(req, sizeof req, "GET /api/v1/events HTTP/1.1\r\nHost: %s\r\n\r\n", t->http);
    CU_ASSERT_FATAL(write(fd, req, (size_t)n) == n);
    return fd;
}

static void test_stalled_client(void)
{
    struct gwt t;
    uint64_t base = gwt_now_ms() / WINDOW_MS * WINDOW_MS - SECONDS * WINDOW_MS;

    /* Small bounds, so that the kernel's socket buffers cannot hide the stall. */
    gwt_init(&t, citygate, NODES, SITES,
             EVENTS_CONFIG "[live]\nreplay_bytes = 48KiB\nclient_lag = 32KiB\n");
    gwt_start(&t);
    struct sse *reader = sse_start(&t, NULL);
    CU_ASSERT_FATAL(sse_wait(reader, "snapshot", 1, 10000) == 1);
    int fd = stalled_client(&t);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_live_clients", 2, 10000), 2);

    /* Batches the reader keeps up with, that together are far beyond what the stalled one
     * holds: each on a lane of its own, in windows that are already due. */
    int batches = 0;
    for (; gwt_metric(&t, "citygate_live_clients_cut_total") < 1 && batches < 16; batches++) {
        base = gwt_now_ms() / WINDOW_MS * WINDOW_MS - SECONDS * WINDOW_MS;
        publish_volumes(&t, base, 0, SECONDS, 100 + 10 * (uint64_t)batches, (uint32_t)batches + 1);
        CU_ASSERT_FATAL(windows_match(reader, base, (uint32_t)batches + 1, 0, SECONDS, 30000));
    }
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_live_clients_cut_total", 1, 20000), 1);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_frames_accepted_total",
                                    (double)batches * NODES * SECONDS, 10000),
                    (double)batches * NODES * SECONDS);
    /* The reader was never cut, saw every event in order, and the stalled one is gone. */
    CU_ASSERT(reader->done == 0);
    for (size_t i = 1; i < sse_n(reader); i++)
        CU_ASSERT(id_number(sse_at(reader, i)->id) == id_number(sse_at(reader, i - 1)->id) + 1);
    CU_ASSERT_EQUAL(gwt_wait_metric(&t, "citygate_live_clients", 1, 1000), 1);
    close(fd);
    sse_free(reader);
    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_fini(&t);
}

static void test_many_clients(void)
{
    enum { N = 500, MAX = 100 };
    static int fds[N];
    struct gwt t;
    char buf[64];
    gwt_init(&t, citygate, 1, 1, "[live]\nmax_clients = 100\n");
    gwt_start(&t);
    for (int i = 0; i < N; i++)
        fds[i] = stalled_client(&t);
    int streams = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        ssize_t n = read(fds[i], buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        streams += strncmp(buf, "HTTP/1.1 200", 12) == 0;
        busy += strncmp(buf, "HTTP/1.1 503", 12) == 0;
    }
    CU_ASSERT_EQUAL(streams, MAX);
    CU_ASSERT_EQUAL(streams + busy, N);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_live_streams_refused_total{reason=\"full\"}"), busy);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* Every place is given back. */
    for (uint64_t end = gwt_now_ms() + 20000;
         gwt_metric(&t, "citygate_live_clients") != 0 && gwt_now_ms() < end;)
        gwt_pause_ms(50);
    CU_ASSERT_EQUAL(gwt_metric(&t, "citygate_live_clients"), 0);
    CU_ASSERT(gwt_healthy(&t));
    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_fini(&t);
}

/* The newest alert event of a stream, or NULL. */
static json_t *last_alert(struct sse *s)
{
    json_t *found = NULL;
    for (size_t i = 0; i < sse_n(s); i++)
        if (strcmp(sse_at(s, i)->type, "alert") == 0)
            found = sse_at(s, i)->data;
    return found;
}

/* Publishes one volume for node 1, lane 1, at ts_ms. */
static void publish_one(struct gwt *t, uint64_t seq, uint64_t ts_ms, double volume)
{
    uint8_t msg[512];
    char topic[128];
    struct gwt_reading r = {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, volume, 1, 0};
    size_t len = gwt_frame(t, 1, 7, seq, ts_ms, &r, 1, msg, sizeof msg);
    gwt_topic(t, 1, topic, sizeof topic);
    gwt_publish(t, topic, msg, len);
    gwt_publish_wait(t);
}

/* POSTs an acknowledgement of id with the extra header lines; returns the status. */
static int ack(struct gwt *t, const char *id, const char *const *headers, const char *body,
               char *reply, size_t cap)
{
    char path[400];
    struct gwt_reply r;
    snprintf(path, sizeof path, "/api/v1/alerts/%s/ack", id);
    gwt_request(t, "POST", path, headers, body ? body : "", &r);
    if (reply)
        snprintf(reply, cap, "%s%s", r.headers ? r.headers : "", r.body ? r.body : "");
    gwt_reply_free(&r);
    return r.status;
}

static void test_acknowledge(void)
{
    struct gwt t;
    char id[300], reply[4096];
    gwt_init(&t, citygate, NODES, SITES,
             EVENTS_CONFIG "[live]\noperator_token = s3cret-Token\n"
                           "[rule busy]\nquantity = TRAFFIC_VOLUME\nwarn = 100\ncrit = 200\n");
    gwt_start(&t);
    struct sse *a = sse_start(&t, NULL);
    CU_ASSERT_FATAL(sse_wait(a, "snapshot", 1, 10000) == 1);
    uint64_t now = gwt_now_ms();
    publish_one(&t, 1, now, 250);
    CU_ASSERT_FATAL(sse_wait(a, "alert", 1, 10000) == 1);
    json_t *al = last_alert(a);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(al, "status")), "ACTIVE_UNACK");
    CU_ASSERT(json_is_null(json_object_get(al, "acked_ms")));
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(al, "id")));
    CU_ASSERT_STRING_EQUAL(id, "site-01/node-0001/busy/traffic_volume-1");

    /* Read-only without the token; the wrong token, another site's page, a GET: refused. */
    CU_ASSERT_EQUAL(ack(&t, id, NULL, NULL, reply, sizeof reply), 401);
    CU_ASSERT(strstr(reply, "WWW-Authenticate: Bearer") != NULL);
    const char *const wrong[] = {"Authorization: Bearer s3cret-Tokem", NULL};
    CU_ASSERT_EQUAL(ack(&t, id, wrong, NULL, NULL, 0), 403);
    const char *const basic[] = {"Authorization: Basic czNjcmV0LVRva2Vu", NULL};
    CU_ASSERT_EQUAL(ack(&t, id, basic, NULL, NULL, 0), 403);
    const char *const cross[] = {"Authorization: Bearer s3cret-Token",
                                 "Origin: http://elsewhere.example", NULL};
    CU_ASSERT_EQUAL(ack(&t, id, cross, NULL, NULL, 0), 403);
    CU_ASSERT_EQUAL(
        gwt_http(&t, "/api/v1/alerts/site-01/node-0001/busy/traffic_volume-1/ack", NULL), 405);
    const char *const good[] = {"Authorization: Bearer s3cret-Token", NULL};
    CU_ASSERT_EQUAL(ack(&t, "site-01/node-0001/nosuch/traffic_volume-1", good, NULL, NULL, 0), 404);
    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_EQUAL(ack(&t, id, good, big, NULL, 0), 413);
    CU_ASSERT_EQUAL(sse_count(a, "alert"), 1); /* none of those changed anything */

    /* With the token, from the page's own origin: acknowledged, and every page is told. */
    char origin[120];
    snprintf(origin, sizeof origin, "Origin: http://%s", t.http);
    const char *const page[] = {"Authorization: Bearer s3cret-Token", origin, NULL};
    CU_ASSERT_EQUAL(ack(&t, id, page, NULL, reply, sizeof reply), 200);
    CU_ASSERT(strstr(reply, "\"status\":\"ACTIVE_ACK\"") != NULL);
    CU_ASSERT_FATAL(sse_wait(a, "alert", 2, 10000) == 2);
    al = last_alert(a);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(al, "status")), "ACTIVE_ACK");
    json_int_t acked_ms = json_integer_value(json_object_get(al, "acked_ms"));
    CU_ASSERT(acked_ms >= (json_int_t)now);
    sse_free(a);

    /* A restart keeps it: alert states are rebuilt from the next readings (docs/gateway.md),
     * and the alert, notified again at its level, is still acknowledged. */
    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_start(&t);
    a = sse_start(&t, NULL);
    CU_ASSERT_FATAL(sse_wait(a, "snapshot", 1, 10000) == 1);
    publish_one(&t, 2, gwt_now_ms(), 240);
    CU_ASSERT_FATAL(sse_wait(a, "alert", 1, 10000) == 1);
    al = last_alert(a);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(al, "state")), "crit");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(al, "status")), "ACTIVE_ACK");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(al, "acked_ms")), acked_ms);
    struct sse *b = sse_start(&t, NULL);
    CU_ASSERT_FATAL(sse_wait(b, "snapshot", 1, 10000) == 1);
    json_t *open = json_object_get(sse_at(b, 0)->data, "alerts");
    CU_ASSERT_FATAL(json_array_size(open) == 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(open, 0), "status")),
                           "ACTIVE_ACK");
    sse_free(b);

    /* Back to normal: CLEARED, and the acknowledgement is over; a new rise is unacknowledged. */
    publish_one(&t, 3, gwt_now_ms(), 10);
    CU_ASSERT_FATAL(sse_wait(a, "alert", 2, 10000) == 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(last_alert(a), "status")), "CLEARED");
    publish_one(&t, 4, gwt_now_ms(), 250);
    CU_ASSERT_FATAL(sse_wait(a, "alert", 3, 10000) == 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(last_alert(a), "status")),
                           "ACTIVE_UNACK");
    sse_free(a);
    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_fini(&t);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"snapshot and events against the published volumes and /api/v1/live",
         test_snapshot_and_events},
        {"Last-Event-ID resumes with every missed event", test_replay},
        {"a stalled client is cut and counted, the others keep up", test_stalled_client},
        {"500 clients at once: a stream or a 503 each", test_many_clients},
        {"acknowledge with the operator token, kept across a restart", test_acknowledge},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway events", tests, &citygate);
}
