/*
 * test_gw_web.c -- the live page's files as the gateway serves them: every
 * file of gateway/web/ (read from the source tree, the test's ground truth)
 * comes back byte for byte with its type, an ETag that yields a 304, a strict
 * Content-Security-Policy and nosniff; "/" is index.html; unknown paths,
 * other methods and oversized requests get a clear error and the server
 * keeps serving. Over HTTPS with a certificate the test makes with openssl,
 * the page is served and plain HTTP is not.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cu.h"
#include "gwtest.h"

static const char *citygate;
static struct gwt *served; /* the gateway the nftw() callback asks */
static int n_files;

/* The value of header name in r's header lines (copied into out), or NULL. */
static const char *header(const struct gwt_reply *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > n + 1 && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(len - (size_t)(v - line)), v);
            return out;
        }
        line = end ? end + 2 : NULL;
    }
    return NULL;
}

/* Every answer carries these, whatever its route. */
static void check_secure(const struct gwt_reply *r)
{
    char v[512];
    CU_ASSERT_FATAL(header(r, "Content-Security-Policy", v, sizeof v) != NULL);
    CU_ASSERT(strstr(v, "default-src 'none'") != NULL);
    CU_ASSERT(strstr(v, "script-src 'self'") != NULL);
    CU_ASSERT(strstr(v, "style-src 'self'") != NULL);
    CU_ASSERT(strstr(v, "frame-ancestors 'none'") != NULL);
    CU_ASSERT(strstr(v, "unsafe") == NULL);
    CU_ASSERT(header(r, "X-Content-Type-Options", v, sizeof v) && strcmp(v, "nosniff") == 0);
}

/* The media type a file's extension calls for (the test's own reading of RFC 6838 names). */
static const char *expected_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html"}, {".js", "text/javascript"},    {".mjs", "text/javascript"},
        {".css", "text/css"},   {".json", "application/json"}, {".svg", "image/svg+xml"},
        {".png", "image/png"},  {".woff2", "font/woff2"},      {".txt", "text/plain"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return NULL;
}

/* One file of the source tree against what the gateway serves for it. */
static int check_file(const char *fpath, const struct stat *sb, int flag, struct FTW *ftw)
{
    char path[512], v[512], etag[128], line[200];
    struct gwt_reply r;
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    FILE *f = fopen(fpath, "rb");
    CU_ASSERT_FATAL(f != NULL);
    char *want = malloc((size_t)sb->st_size + 1);
    CU_ASSERT_FATAL(want != NULL);
    CU_ASSERT_FATAL(fread(want, 1, (size_t)sb->st_size, f) == (size_t)sb->st_size);
    fclose(f);
    snprintf(path, sizeof path, "%s", fpath + strlen(WEB_DIR));
    n_files++;

    gwt_request(served, "GET", path, NULL, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(r.body_len == (size_t)sb->st_size && memcmp(r.body, want, r.body_len) == 0);
    const char *type = expected_type(path);
    CU_ASSERT(header(&r, "Content-Type", v, sizeof v) != NULL);
    if (type)
        CU_ASSERT(strncmp(v, type, strlen(type)) == 0);
    check_secure(&r);
    CU_ASSERT_FATAL(header(&r, "ETag", etag, sizeof etag) != NULL);
    CU_ASSERT(header(&r, "Cache-Control", v, sizeof v) && strcmp(v, "no-cache") == 0);
    gwt_reply_free(&r);

    /* The browser's copy is current: 304 without a body; another copy: the file again. */
    snprintf(line, sizeof line, "If-None-Match: %s", etag);
    const char *const current[] = {line, NULL};
    gwt_request(served, "GET", path, current, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 304);
    CU_ASSERT_EQUAL(r.body_len, 0);
    gwt_reply_free(&r);
    const char *const stale[] = {"If-None-Match: \"0123\"", NULL};
    gwt_request(served, "GET", path, stale, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(r.body_len == (size_t)sb->st_size);
    gwt_reply_free(&r);
    free(want);
    return 0;
}

static void test_assets(void)
{
    struct gwt t;
    struct gwt_reply r, index;
    char v[200];
    gwt_init(&t, citygate, 1, 1, NULL);
    gwt_start(&t);

    served = &t;
    n_files = 0;
    CU_ASSERT(nftw(WEB_DIR, check_file, 8, FTW_PHYS) == 0);
    CU_ASSERT(n_files >= 1);

    gwt_request(&t, "GET", "/", NULL, NULL, &r);
    gwt_request(&t, "GET", "/index.html", NULL, NULL, &index);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(r.body_len == index.body_len && memcmp(r.body, index.body, r.body_len) == 0);
    gwt_reply_free(&r);
    gwt_reply_free(&index);

    /* The API's answers carry the same protection. */
    gwt_request(&t, "GET", "/api/v1/live", NULL, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    check_secure(&r);
    gwt_reply_free(&r);

    gwt_request(&t, "GET", "/no/such/file.js", NULL, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 404);
    check_secure(&r);
    gwt_reply_free(&r);
    gwt_request(&t, "DELETE", "/index.html", NULL, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 405);
    CU_ASSERT(header(&r, "Allow", v, sizeof v) != NULL);
    gwt_reply_free(&r);

    /* A request head larger than the server takes: an error status, and service goes on. */
    size_t big = 64 * 1024;
    char *huge = malloc(big + 16);
    CU_ASSERT_FATAL(huge != NULL);
    memcpy(huge, "X-Filler: ", 10);
    memset(huge + 10, 'a', big);
    huge[10 + big] = '\0';
    const char *const oversized[] = {huge, NULL};
    gwt_request(&t, "GET", "/", oversized, NULL, &r);
    CU_ASSERT(r.status >= 400 && r.status <= 499);
    gwt_reply_free(&r);
    free(huge);
    CU_ASSERT_EQUAL(gwt_http(&t, "/index.html", NULL), 200);

    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_fini(&t);
}

static void test_https(void)
{
    char dir[200], cmd[1200], extra[800];
    struct gwt t;
    struct gwt_reply r;
    snprintf(dir, sizeof dir, "%s/tls.XXXXXX", cu_env("CITYGATE_SERVICES_DIR"));
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>&1",
             dir);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
    snprintf(extra, sizeof extra, "[http]\ncert_file = %s/cert.pem\nkey_file = %s/key.pem\n", dir,
             dir);
    gwt_init(&t, citygate, 1, 1, extra);
    snprintf(t.https_ca, sizeof t.https_ca, "%s/cert.pem", dir);
    gwt_start(&t); /* it waits for /healthz over HTTPS */

    gwt_request(&t, "GET", "/", NULL, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 200);
    check_secure(&r);
    gwt_reply_free(&r);
    /* Plain HTTP on the same port gets no page. */
    static struct gwt plain;
    plain = t;
    plain.https_ca[0] = '\0';
    gwt_request(&plain, "GET", "/", NULL, NULL, &r);
    CU_ASSERT(r.status != 200);
    gwt_reply_free(&r);

    CU_ASSERT_EQUAL(gwt_stop(&t, 15), 0);
    gwt_fini(&t);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT(cu_run(cmd, NULL) == 0);
}

int main(int argc, char **argv)
{
    static const struct cu_test tests[] = {
        {"every file of the page, its type, ETag and CSP", test_assets},
        {"HTTPS with a certificate and key", test_https},
        {NULL, NULL},
    };
    return gwt_main(argc, argv, "gateway web", tests, &citygate);
}
