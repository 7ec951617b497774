/*
 * gwtest.c -- the gateway test deployment (see gwtest.h).
 */
#include "gwtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cu.h"

uint64_t gwt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int gwt_main(int argc, char **argv, const char *suite, const struct cu_test *tests,
             const char **citygate)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CITYGATE\n", argv[0]);
        return 64;
    }
    *citygate = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cu_main(suite, tests);
    curl_global_cleanup();
    return rc;
}

uint64_t gwt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void gwt_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A loopback port nobody listens on now. */
unsigned gwt_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

void gwt_device(const struct gwt *t, int i, char id[16], char site[16])
{
    snprintf(id, 16, "node-%04d", i % 10000);
    snprintf(site, 16, "site-%02d", (i % t->n_sites) % 100);
}

void gwt_key(int i, uint8_t key[32])
{
    for (int b = 0; b < 32; b++)
        key[b] = (uint8_t)(i * 31 + b * 7 + 1);
}

void gwt_topic(const struct gwt *t, int device, char *out, size_t cap)
{
    char id[16], site[16];
    gwt_device(t, device, id, site);
    snprintf(out, cap, "city/v1/%s/%s/data", site, id);
}

static int on_arrived(void *ctx, char *topic, int topic_len, MQTTClient_message *m)
{
    (void)ctx;
    (void)topic_len;
    MQTTClient_freeMessage(&m);
    MQTTClient_free(topic);
    return 1;
}

static void on_delivered(void *ctx, MQTTClient_deliveryToken tok)
{
    struct gwt *t = ctx;
    (void)tok;
    t->delivered++;
}

/*
 * (Re)connects the publisher. Its session is persistent, so Paho sends again
 * whatever was in flight when the broker went away.
 */
static int gwt_connect(struct gwt *t, int timeout_ms)
{
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    int rc = MQTTCLIENT_FAILURE;
    o.cleansession = 0;
    o.maxInflightMessages = 1000;
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; gwt_now_ms() < end; gwt_pause_ms(50))
        if ((rc = MQTTClient_connect(t->pub, &o)) == MQTTCLIENT_SUCCESS)
            break;
    return rc;
}

/* One line of an INI text: its section and, for a key line, the key. */
struct ini_line {
    char section[128], key[128];
    const char *text; /* the whole line, borrowed */
    size_t len;
};

/* Splits text into lines with their section; blank and comment lines are left out. */
static size_t ini_lines(const char *text, struct ini_line *out, size_t cap)
{
    char section[128] = "";
    size_t n = 0;
    for (const char *p = text; *p && n < cap;) {
        size_t len = strcspn(p, "\n");
        const char *s = p + strspn(p, " \t");
        if (*s == '[') {
            size_t end = strcspn(s, "]");
            snprintf(section, sizeof section, "%.*s", (int)(end - 1), s + 1);
        } else if (*s != '\n' && *s != '\0' && *s != ';' && *s != '#') {
            struct ini_line *l = &out[n++];
            snprintf(l->section, sizeof l->section, "%s", section);
            size_t k = strcspn(s, " \t=");
            snprintf(l->key, sizeof l->key, "%.*s", (int)k, s);
            l->text = p;
            l->len = len;
        }
        p += len + (p[len] == '\n');
    }
    return n;
}

/*
 * Writes base with extra merged in, as the gateway wants it: each section
 * once, each key once. A key of extra replaces the same key of base; sections
 * only extra has follow base's.
 */
static void write_config(FILE *f, const char *base, const char *extra)
{
    static struct ini_line b[256], e[256];
    size_t nb = ini_lines(base, b, 256), ne = ini_lines(extra, e, 256);
    const char *done[64];
    size_t n_done = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct ini_line *src = pass ? e : b;
        size_t n = pass ? ne : nb;
        for (size_t i = 0; i < n; i++) {
            const char *sec = src[i].section;
            size_t d = 0;
            while (d < n_done && strcmp(done[d], sec) != 0)
                d++;
            if (d < n_done)
                continue;
            done[n_done++] = sec;
            fprintf(f, "[%s]\n", sec);
            for (size_t j = 0; !pass && j < nb; j++) {
                int replaced = 0;
                for (size_t k = 0; k < ne && !replaced; k++)
                    replaced = !strcmp(e[k].section, sec) && !strcmp(e[k].key, b[j].key);
                if (!strcmp(b[j].section, sec) && !replaced)
                    fprintf(f, "%.*s\n", (int)b[j].len, b[j].text);
            }
            for (size_t k = 0; k < ne; k++)
                if (!strcmp(e[k].section, sec))
                    fprintf(f, "%.*s\n", (int)e[k].len, e[k].text);
        }
    }
}

void gwt_init(struct gwt *t, const char *citygate, int n_devices, int n_sites,
              const char *extra_config)
{
    FILE *f;
    memset(t, 0, sizeof *t);
    t->n_devices = n_devices;
    t->n_sites = n_sites;
    snprintf(t->citygate, sizeof t->citygate, "%s", citygate);
    snprintf(t->dir, sizeof t->dir, "%s/gw.XXXXXX", cu_env("CITYGATE_SERVICES_DIR"));
    CU_ASSERT_FATAL(mkdtemp(t->dir) != NULL);
    snprintf(t->config, sizeof t->config, "%s/citygate.conf", t->dir);
    snprintf(t->registry, sizeof t->registry, "%s/devices.ini", t->dir);
    snprintf(t->log, sizeof t->log, "%s/citygate.log", t->dir);
    snprintf(t->database, sizeof t->database, "citygate");

    f = fopen(t->registry, "w");
    CU_ASSERT_FATAL(f != NULL);
    for (int i = 0; i < n_devices; i++) {
        char id[16], site[16];
        uint8_t key[32];
        gwt_device(t, i, id, site);
        gwt_key(i, key);
        fprintf(f, "[device %s]\nsite = %s\nkey = ", id, site);
        for (int b = 0; b < 32; b++)
            fprintf(f, "%02x", key[b]);
        fprintf(f, "\n");
    }
    fclose(f);

    char base[4096];
    snprintf(base, sizeof base,
             "[mqtt]\nurl = %s\nclient_id = citygate-test\n"
             "[devices]\nregistry = %s\n"
             "[journal]\ndir = %s/journal\nfsync_interval = 100ms\nsnapshot_interval = 1s\n"
             "[store]\nurl = %s\ndatabase = %s\ndead_letter = %s/dead-letter.lp\n"
             "batch_interval = 100ms\nretry_min = 50ms\nretry_max = 1s\ntimeout = 2s\n"
             "[http]\nlisten = 127.0.0.1:0\n" /* the kernel's choice: see gwt_start() */
             "[gateway]\ntick = 50ms\n",
             cu_env("CITYGATE_MQTT_URL"), t->registry, t->dir, cu_env("CITYGATE_INFLUX_URL"),
             t->database, t->dir);
    f = fopen(t->config, "w");
    CU_ASSERT_FATAL(f != NULL);
    write_config(f, base, extra_config ? extra_config : "");
    fclose(f);

    CU_ASSERT_FATAL(MQTTClient_create(&t->pub, cu_env("CITYGATE_MQTT_URL"), "gwtest-pub",
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_setCallbacks(t->pub, t, NULL, on_arrived, on_delivered) ==
                    MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(gwt_connect(t, 10000) == MQTTCLIENT_SUCCESS);
}

struct body {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct body *b = ctx;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/*
 * The one request function: method on url with the extra header lines
 * (NULL-terminated list, may be NULL) and a body (may be NULL), trusting the
 * CA file ca for https (may be NULL). Fills *r; status 0 when there was no
 * answer.
 */
static void request(const char *url, const char *ca, const char *method, const char *const *headers,
                    const char *body, struct gwt_reply *r)
{
    struct body b = {NULL, 0}, h = {NULL, 0};
    struct curl_slist *list = NULL;
    long status = 0;
    CURL *c = curl_easy_init();
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(list);
    r->status = rc == CURLE_OK ? (int)status : 0;
    r->body = b.data;
    r->body_len = b.len;
    r->headers = h.data;
}

void gwt_reply_free(struct gwt_reply *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

/* GETs url (not the gateway); returns the body (caller frees) or NULL when the request failed. */
static char *http_get(const char *url)
{
    struct gwt_reply r;
    request(url, NULL, "GET", NULL, NULL, &r);
    free(r.headers);
    if (r.status == 200)
        return r.body;
    free(r.body);
    return NULL;
}

void gwt_request(const struct gwt *t, const char *method, const char *path,
                 const char *const *headers, const char *body, struct gwt_reply *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s://%s%s", t->https_ca[0] ? "https" : "http", t->http, path);
    request(url, t->https_ca[0] ? t->https_ca : NULL, method, headers, body, r);
}

/* collect() until the first event of a stream is whole: its data line and the blank line. */
static size_t collect_event(char *p, size_t size, size_t n, void *ctx)
{
    struct body *b = ctx;
    if (collect(p, size, n, ctx) != size * n)
        return 0;
    const char *data = strstr(b->data, "\ndata: ");
    return data && strstr(data, "\n\n") ? 0 : size * n; /* 0: enough, curl stops reading */
}

json_t *gwt_snapshot(const struct gwt *t)
{
    struct body b = {NULL, 0};
    char url[512];
    CURL *c = curl_easy_init();
    snprintf(url, sizeof url, "%s://%s/api/v1/events", t->https_ca[0] ? "https" : "http", t->http);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (t->https_ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, t->https_ca);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_event);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    const char *data = b.data ? strstr(b.data, "\ndata: ") : NULL;
    json_t *j = data ? json_loadb(data + 7, strcspn(data + 7, "\n"), 0, NULL) : NULL;
    free(b.data);
    return j;
}

/* GETs path from the gateway; returns the body (caller frees) or NULL unless it answered 200. */
static char *gateway_get(const struct gwt *t, const char *path)
{
    char *b;
    if (gwt_http(t, path, &b) == 200)
        return b;
    free(b);
    return NULL;
}

int gwt_http(const struct gwt *t, const char *path, char **body)
{
    struct gwt_reply r;
    gwt_request(t, "GET", path, NULL, NULL, &r);
    free(r.headers);
    if (body)
        *body = r.body;
    else
        free(r.body);
    return r.status;
}

/* Copies citygate's log to stderr, so a failure explains itself in the test output. */
static void show_log(const struct gwt *t)
{
    char line[512];
    FILE *f = fopen(t->log, "r");
    if (!f)
        return;
    fprintf(stderr, "---- %s\n", t->log);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

/*
 * The HTTP port named by the last "running" line citygate logged after byte
 * offset of its log, or 0 when there is none yet.
 */
static unsigned logged_http_port(const struct gwt *t, long offset)
{
    char line[1024];
    unsigned long port = 0;
    FILE *f = fopen(t->log, "r");
    if (!f)
        return 0;
    if (fseek(f, offset, SEEK_SET) == 0)
        while (fgets(line, sizeof line, f)) {
            const char *running = strstr(line, " running: ");
            const char *named = running ? strstr(running, ", http port ") : NULL;
            if (named)
                port = strtoul(named + strlen(", http port "), NULL, 10);
        }
    fclose(f);
    return port <= 65535 ? (unsigned)port : 0;
}

void gwt_start(struct gwt *t)
{
    /*
     * citygate listens on a port the kernel picks as it binds (listen =
     * 127.0.0.1:0) and names it in its "running" line: a port picked here
     * and bound later could be taken in between by any other process.
     */
    struct stat st;
    long offset = stat(t->log, &st) == 0 ? (long)st.st_size : 0;
    t->http[0] = '\0';
    t->pid = fork();
    CU_ASSERT_FATAL(t->pid >= 0);
    if (t->pid == 0) {
        int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(t->citygate, "citygate", "-c", t->config, (char *)NULL);
        _exit(127);
    }
    for (uint64_t end = gwt_now_ms() + 30000; gwt_now_ms() < end;) {
        unsigned port = t->http[0] ? 0 : logged_http_port(t, offset);
        if (port)
            snprintf(t->http, sizeof t->http, "127.0.0.1:%u", port);
        char *body = t->http[0] ? gateway_get(t, "/healthz") : NULL;
        int up = body && strstr(body, "\"mqtt_connected\":true");
        free(body);
        if (up)
            return;
        int status;
        if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
            t->pid = 0;
            show_log(t);
            CU_FAIL_FATAL("citygate did not start");
        }
        gwt_pause_ms(20);
    }
    show_log(t);
    CU_FAIL_FATAL("citygate did not connect within 30 s");
}

int gwt_stop(struct gwt *t, int sig)
{
    int status = 0;
    if (t->pid <= 0)
        return -1;
    kill(t->pid, sig);
    waitpid(t->pid, &status, 0);
    t->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void gwt_fini(struct gwt *t)
{
    char cmd[400];
    if (t->pid > 0)
        gwt_stop(t, SIGKILL);
    if (t->pub) {
        MQTTClient_disconnect(t->pub, 1000);
        MQTTClient_destroy(&t->pub);
    }
    if (getenv("CITYGATE_KEEP")) {
        fprintf(stderr, "kept %s\n", t->dir);
        return;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->dir);
}

void gwt_frame_parts(const struct gwt *t, int device, uint64_t boot, uint64_t seq, uint64_t ts_ms,
                     const struct gwt_reading *r, size_t n, struct gwt_parts *p)
{
    static const struct {
        int q, u;
    } units[] = {
        {CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME, CITYGATE__V1__UNIT__VEHICLES},
        {CITYGATE__V1__QUANTITY__OCCUPANCY, CITYGATE__V1__UNIT__PERCENT},
        {CITYGATE__V1__QUANTITY__SPEED, CITYGATE__V1__UNIT__KILOMETRES_PER_HOUR},
        {CITYGATE__V1__QUANTITY__NO2, CITYGATE__V1__UNIT__MICROGRAMS_PER_CUBIC_METRE},
        {CITYGATE__V1__QUANTITY__NOISE, CITYGATE__V1__UNIT__DECIBEL_A},
    };

    CU_ASSERT_FATAL(n <= 64);
    citygate__v1__frame__init(&p->f);
    gwt_device(t, device, p->id, p->site);
    p->f.device_id = p->id;
    p->f.site_id = p->site;
    p->f.boot_id = boot;
    p->f.seq = seq;
    p->f.timestamp_ms = ts_ms;
    p->f.interval_ms = 1000;
    for (size_t i = 0; i < n; i++) {
        Citygate__V1__Reading *rs = &p->rs[i];
        citygate__v1__reading__init(rs);
        rs->quantity = r[i].quantity;
        for (size_t u = 0; u < sizeof units / sizeof *units; u++)
            if (units[u].q == r[i].quantity)
                rs->unit = units[u].u;
        rs->value = r[i].value;
        rs->quality = r[i].quality ? r[i].quality : CITYGATE__V1__QUALITY__GOOD;
        rs->lane = r[i].lane;
        snprintf(p->sensor[i], sizeof p->sensor[i], "loop-%u", r[i].lane);
        rs->sensor_id = p->sensor[i];
        p->rp[i] = rs;
    }
    p->f.readings = p->rp;
    p->f.n_readings = n;
}

size_t gwt_frame_sign(int key_device, const Citygate__V1__Frame *f, uint8_t *out, size_t cap)
{
    uint8_t key[32];
    size_t len = 0;
    gwt_key(key_device, key);
    CU_ASSERT_FATAL(wire_encode(f, key, sizeof key, out, cap, &len) == 0);
    return len;
}

size_t gwt_status(const struct gwt *t, int device, int key_device, uint64_t boot, int alive,
                  uint8_t *out, size_t cap)
{
    Citygate__V1__Status s = CITYGATE__V1__STATUS__INIT;
    char id[16], site[16];
    uint8_t key[32];
    size_t len = 0;
    gwt_device(t, device, id, site);
    gwt_key(key_device, key);
    s.device_id = id;
    s.site_id = site;
    s.boot_id = boot;
    s.state = alive ? CITYGATE__V1__NODE_STATE__ONLINE : CITYGATE__V1__NODE_STATE__OFFLINE;
    s.time_ms = gwt_now_ms();
    CU_ASSERT_FATAL(wire_status_encode(&s, key, sizeof key, out, cap, &len) == 0);
    return len;
}

size_t gwt_frame(const struct gwt *t, int device, uint64_t boot, uint64_t seq, uint64_t ts_ms,
                 const struct gwt_reading *r, size_t n, uint8_t *out, size_t cap)
{
    struct gwt_parts p;
    gwt_frame_parts(t, device, boot, seq, ts_ms, r, n, &p);
    return gwt_frame_sign(device, &p.f, out, cap);
}

size_t gwt_envelope(int key_device, const char *id, uint8_t major, const uint8_t *body,
                    size_t body_len, uint8_t *out, size_t cap)
{
    size_t id_len = strlen(id), head = WIRE_HEADER_BYTES + id_len;
    unsigned tag_len = 0;
    uint8_t key[32];

    CU_ASSERT_FATAL(id_len <= 255 && body_len <= UINT32_MAX &&
                    head + body_len + WIRE_TAG_BYTES <= cap);
    gwt_key(key_device, key);
    out[0] = 'C';
    out[1] = 'G';
    out[2] = major;
    out[3] = 0;
    out[4] = (uint8_t)id_len;
    memcpy(out + 5, id, id_len);
    for (int b = 0; b < 4; b++)
        out[5 + id_len + (size_t)b] = (uint8_t)(body_len >> (24 - 8 * b));
    memcpy(out + head, body, body_len);
    CU_ASSERT_FATAL(HMAC(EVP_sha256(), key, sizeof key, out, head + body_len, out + head + body_len,
                         &tag_len) != NULL &&
                    tag_len == WIRE_TAG_BYTES);
    return head + body_len + WIRE_TAG_BYTES;
}

static void publish(struct gwt *t, const char *topic, const void *payload, size_t len, int retained)
{
    MQTTClient_deliveryToken tok;
    for (uint64_t end = gwt_now_ms() + 30000;;) {
        int rc = MQTTClient_publish(t->pub, topic, (int)len, payload, 1, retained, &tok);
        if (rc == MQTTCLIENT_SUCCESS)
            break;
        CU_ASSERT_FATAL(gwt_now_ms() < end);
        if (rc == MQTTCLIENT_MAX_MESSAGES_INFLIGHT)
            gwt_pause_ms(1); /* the in-flight window is full: let acknowledgements come in */
        else if (!MQTTClient_isConnected(t->pub))
            gwt_connect(t, 1000); /* the broker is away (a scenario restarts it) */
    }
    t->published++;
}

void gwt_publish(struct gwt *t, const char *topic, const void *payload, size_t len)
{
    publish(t, topic, payload, len, 0);
}

void gwt_publish_retained(struct gwt *t, const char *topic, const void *payload, size_t len)
{
    publish(t, topic, payload, len, 1);
}

void gwt_publish_wait(struct gwt *t)
{
    for (uint64_t end = gwt_now_ms() + 30000; t->delivered < t->published;) {
        CU_ASSERT_FATAL(gwt_now_ms() < end);
        gwt_pause_ms(5);
    }
}

double gwt_metric(const struct gwt *t, const char *sample)
{
    double v = -1;
    char *body = gateway_get(t, "/metrics");
    if (!body)
        return -1;
    size_t n = strlen(sample);
    for (char *line = body; line && *line;) {
        char *next = strchr(line, '\n');
        if (strncmp(line, sample, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        line = next ? next + 1 : NULL;
    }
    free(body);
    return v;
}

json_t *gwt_live(const struct gwt *t)
{
    char *body = gateway_get(t, "/api/v1/live");
    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return root;
}

double gwt_wait_metric(const struct gwt *t, const char *sample, double want, int timeout_ms)
{
    double v = -1;
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; gwt_now_ms() < end;) {
        v = gwt_metric(t, sample);
        if (v >= want)
            return v;
        gwt_pause_ms(50);
    }
    return v;
}

json_t *gwt_query(const struct gwt *t, const char *q)
{
    char url[4096];
    CURL *c = curl_easy_init();
    char *e = curl_easy_escape(c, q, 0);
    curl_easy_cleanup(c);
    snprintf(url, sizeof url, "%s/query?db=%s&epoch=ms&q=%s", cu_env("CITYGATE_INFLUX_URL"),
             t->database, e);
    curl_free(e);
    char *body = http_get(url);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return j;
}

json_t *gwt_rows(json_t *result)
{
    json_t *s = json_array_get(
        json_object_get(json_array_get(json_object_get(result, "results"), 0), "series"), 0);
    return json_object_get(s, "values");
}

json_t *gwt_wait_rows(const struct gwt *t, const char *q, size_t n_rows, int timeout_ms)
{
    json_t *res = NULL;
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; gwt_now_ms() < end;
         gwt_pause_ms(100)) {
        json_decref(res);
        res = gwt_query(t, q);
        if (json_array_size(gwt_rows(res)) == n_rows &&
            gwt_metric(t, "citygate_store_lines_pending") == 0)
            break;
    }
    return res;
}

int gwt_healthy(const struct gwt *t)
{
    char *body = gateway_get(t, "/healthz");
    int ok = body && strstr(body, "\"mqtt_connected\":true") != NULL;
    free(body);
    return ok;
}

int gwt_running(struct gwt *t)
{
    int status;
    if (t->pid <= 0)
        return 0;
    if (waitpid(t->pid, &status, WNOHANG) == 0)
        return 1;
    t->pid = 0;
    show_log(t);
    return 0;
}

int gwt_log_contains(const struct gwt *t, const char *needle)
{
    char line[1024];
    int found = 0;
    FILE *f = fopen(t->log, "r");
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

int gwt_wait_log(const struct gwt *t, const char *needle, int timeout_ms)
{
    for (uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms; gwt_now_ms() < end; gwt_pause_ms(20))
        if (gwt_log_contains(t, needle))
            return 1;
    return gwt_log_contains(t, needle);
}

/* ---- subscriber ---- */

struct gwt_sub {
    MQTTClient client;
    int persistent; /* clean session off */
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    struct gwt_msg **msgs;
    size_t n, cap;
};

static void msg_free(struct gwt_msg *m)
{
    if (!m)
        return;
    json_decref(m->json);
    free(m->topic);
    free(m->payload);
    free(m);
}

/* Paho's thread: keeps a copy; returning 0 (out of memory) makes Paho offer it again. */
static int sub_arrived(void *ctx, char *topic, int topic_len, MQTTClient_message *m)
{
    struct gwt_sub *s = ctx;
    uint64_t now = gwt_mono_ns();
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    struct gwt_msg *msg = calloc(1, sizeof *msg);
    int kept = 0;

    if (!msg || !(msg->topic = malloc(tlen + 1)) || !(msg->payload = malloc(plen + 1)))
        goto out;
    memcpy(msg->topic, topic, tlen);
    msg->topic[tlen] = '\0';
    if (plen)
        memcpy(msg->payload, m->payload, plen);
    msg->payload[plen] = '\0';
    msg->len = plen;
    msg->retained = m->retained;
    msg->arrived_ns = now;
    msg->json = json_loadb(msg->payload, plen, 0, NULL);
    pthread_mutex_lock(&s->lock);
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        struct gwt_msg **grown = realloc(s->msgs, cap * sizeof *grown);
        if (grown) {
            s->msgs = grown;
            s->cap = cap;
        }
    }
    if (s->n < s->cap) {
        s->msgs[s->n++] = msg;
        msg = NULL;
        kept = 1;
        pthread_cond_broadcast(&s->arrived);
    }
    pthread_mutex_unlock(&s->lock);
out:
    msg_free(msg);
    if (kept) {
        MQTTClient_freeMessage(&m);
        MQTTClient_free(topic);
    }
    return kept;
}

/* Connects s (clean session or not), tries for up to timeout_ms; returns Paho's last code. */
static int sub_connect(struct gwt_sub *s, int timeout_ms)
{
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms;
    int rc;
    o.cleansession = !s->persistent;
    while ((rc = MQTTClient_connect(s->client, &o)) != MQTTCLIENT_SUCCESS && gwt_now_ms() < end)
        gwt_pause_ms(50);
    return rc;
}

static struct gwt_sub *sub_new(const char *client_id, const char *filter, int persistent)
{
    pthread_condattr_t ca;
    struct gwt_sub *s = calloc(1, sizeof *s);

    CU_ASSERT_FATAL(s != NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->arrived, &ca);
    pthread_condattr_destroy(&ca);
    s->persistent = persistent;
    CU_ASSERT_FATAL(MQTTClient_create(&s->client, cu_env("CITYGATE_MQTT_URL"), client_id,
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_setCallbacks(s->client, s, NULL, sub_arrived, NULL) ==
                    MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(sub_connect(s, 0) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(MQTTClient_subscribe(s->client, filter, 1) == MQTTCLIENT_SUCCESS);
    return s;
}

struct gwt_sub *gwt_sub_new(const char *client_id, const char *filter)
{
    return sub_new(client_id, filter, 0);
}

struct gwt_sub *gwt_sub_new_persistent(const char *client_id, const char *filter)
{
    return sub_new(client_id, filter, 1);
}

int gwt_sub_reconnect(struct gwt_sub *s, int timeout_ms)
{
    return sub_connect(s, timeout_ms);
}

void gwt_sub_free(struct gwt_sub *s)
{
    if (!s)
        return;
    MQTTClient_disconnect(s->client, 1000);
    MQTTClient_destroy(&s->client);
    for (size_t i = 0; i < s->n; i++)
        msg_free(s->msgs[i]);
    free(s->msgs);
    pthread_cond_destroy(&s->arrived);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

size_t gwt_sub_count(struct gwt_sub *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t gwt_sub_wait(struct gwt_sub *s, size_t n, int timeout_ms)
{
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->lock);
    while (s->n < n && pthread_cond_timedwait(&s->arrived, &s->lock, &end) == 0)
        ;
    size_t got = s->n;
    pthread_mutex_unlock(&s->lock);
    return got;
}

const struct gwt_msg *gwt_sub_msg(struct gwt_sub *s, size_t i)
{
    pthread_mutex_lock(&s->lock);
    const struct gwt_msg *m = i < s->n ? s->msgs[i] : NULL;
    pthread_mutex_unlock(&s->lock);
    return m;
}

const char *gwt_msg_str(const struct gwt_msg *m, const char *key)
{
    const char *v = m ? json_string_value(json_object_get(m->json, key)) : NULL;
    return v ? v : "";
}

/* ---- aggregates ---- */

void gwt_agg_add(struct gwt_agg *a, double v)
{
    a->min = a->count == 0 || v < a->min ? v : a->min;
    a->max = a->count == 0 || v > a->max ? v : a->max;
    a->sum += v;
    a->count++;
}

int gwt_agg_check(const struct gwt_agg *a, json_t *row, size_t col, int assert)
{
    double got[5], want[5] = {a->count, a->sum, a->min, a->max, a->count ? a->sum / a->count : 0};
    int bad = 0;
    for (size_t i = 0; i < 5; i++) {
        json_t *v = json_array_get(row, col + i);
        got[i] = json_number_value(v);
        double tol = i == 1 || i == 4 ? 1e-9 * fabs(want[i]) : 0;
        int ok = json_is_number(v) && fabs(got[i] - want[i]) <= tol;
        if (!ok && assert) {
            fprintf(stderr, "aggregate column %zu: store %.17g, expected %.17g\n", col + i, got[i],
                    want[i]);
            CU_FAIL("a store aggregate differs from the test's own");
        }
        bad += !ok;
    }
    return bad;
}

/* ---- a real citynode ---- */

const char *gwt_node_provision(const struct gwt *t, int device, const char *node_extra,
                               const char *sensors)
{
    static char path[400];
    char id[16], site[16];
    uint8_t key[32];
    gwt_device(t, device, id, site);
    gwt_key(device, key);
    snprintf(path, sizeof path, "%s/%s.ini", t->dir, id);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f,
            "[node]\nid = %s\nsite = %s\nbroker = %s\ninterval_ms = 200ms\n"
            "ring_path = %s/%s.ring\nring_bytes = 1MiB\nkey = ",
            id, site, cu_env("CITYGATE_MQTT_URL"), t->dir, id);
    for (size_t i = 0; i < sizeof key; i++)
        fprintf(f, "%02x", key[i]);
    fprintf(f, "\n%s\n%s", node_extra ? node_extra : "", sensors);
    CU_ASSERT_FATAL(fclose(f) == 0);
    return path;
}

pid_t gwt_node_start(const struct gwt *t, const char *citynode, const char *config)
{
    char log[400];
    snprintf(log, sizeof log, "%s/citynode.log", t->dir);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        execl(citynode, "citynode", "--config", config, (char *)NULL);
        _exit(127);
    }
    return pid;
}
