/*
 * ready.c -- the readiness checks behind /readyz (ready.h): a fixed list of
 * named checks, run in order at each request, and their JSON.
 */
#include "ready.h"

#include "err.h"

void gw_ready_init(struct gw_ready *r)
{
    r->n = 0;
}

int gw_ready_add(struct gw_ready *r, const char *name, gw_ready_fn check, void *ctx)
{
    if (r->n == GW_READY_MAX_CHECKS)
        return GW_EFULL;
    r->checks[r->n].name = name;
    r->checks[r->n].check = check;
    r->checks[r->n].ctx = ctx;
    r->n++;
    return 0;
}

/* Writes s as a JSON string body (without quotes): quotes, backslashes and
 * control characters escaped. */
static void json_text(FILE *out, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
}

int gw_ready_write_json(const struct gw_ready *r, FILE *out)
{
    int all = 1;
    char reason[512];
    fputs("{\"checks\":[", out);
    for (size_t i = 0; i < r->n; i++) {
        reason[0] = '\0';
        int ok = r->checks[i].check(r->checks[i].ctx, reason, sizeof reason) == 1;
        all &= ok;
        fprintf(out, "%s{\"name\":\"", i ? "," : "");
        json_text(out, r->checks[i].name);
        fprintf(out, "\",\"ok\":%s", ok ? "true" : "false");
        if (!ok) {
            fputs(",\"reason\":\"", out);
            json_text(out, reason);
            fputc('"', out);
        }
        fputc('}', out);
    }
    fprintf(out, "],\"ready\":%s}\n", all ? "true" : "false");
    return all;
}
