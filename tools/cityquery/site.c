/*
 * site.c -- a site's zone and nodes from the device registry (site.h). The
 * registry is parsed by the gateway's own parser (gw_registry_new()), so a
 * file the gateway takes is a file cityquery takes, and one it refuses is
 * refused here with the same line and reason.
 */
#include "site.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"

/* A registry of a million devices is about 150 MB; more is not a registry. */
#define CQ_REGISTRY_MAX_BYTES ((size_t)256 << 20)

struct collect {
    const char *site, *glob;
    struct cq_site *out;
    size_t cap, on_site;
    int err;
};

static int collect_device(const struct gw_device *dev, void *ctx)
{
    struct collect *c = ctx;
    struct cq_site *s = c->out;

    if (strcmp(dev->site, c->site) != 0)
        return 0;
    c->on_site++;
    if (c->glob && fnmatch(c->glob, dev->id, 0) != 0)
        return 0;
    if (s->n_nodes == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        char **grown = realloc(s->nodes, cap * sizeof *grown);
        if (!grown)
            return c->err = GW_ENOMEM;
        s->nodes = grown;
        c->cap = cap;
    }
    if (!(s->nodes[s->n_nodes] = strdup(dev->id)))
        return c->err = GW_ENOMEM;
    s->n_nodes++;
    return 0;
}

/* The whole file at path into *text (caller frees) and *len. Returns 0, GW_EIO or GW_ENOMEM. */
static int read_all(const char *path, char **text, size_t *len, char *why, size_t why_len)
{
    int rc = cli_read_file(path, CQ_REGISTRY_MAX_BYTES, text, len);

    if (rc == -ENOMEM)
        return GW_ENOMEM;
    if (rc)
        snprintf(why, why_len, "cannot read the registry %s: %s", path,
                 rc == -EFBIG ? "larger than 256 MiB" : strerror(-rc));
    return rc ? GW_EIO : 0;
}

int cq_site_load(const char *path, const char *site, const char *node_glob, struct cq_site *out,
                 char *why, size_t why_len)
{
    struct gw_registry *reg = NULL;
    struct gw_registry_diag diag = {0, ""};
    struct cq_site s = {{0}, NULL, 0};
    struct collect c = {site, node_glob && strcmp(node_glob, "*") != 0 ? node_glob : NULL, &s, 0, 0,
                        0};
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(path, &text, &len, why, why_len);

    if (rc)
        goto out;
    rc = gw_registry_new(text, len, &reg, &diag);
    if (rc == GW_ECONFIG) {
        snprintf(why, why_len, "registry %s, line %d: %s", path, diag.line, diag.message);
        goto out;
    }
    if (rc)
        goto out;
    const struct gw_site *sec = gw_registry_site(reg, site);
    if (sec)
        memcpy(s.zone, sec->zone, sizeof s.zone);
    int walk = gw_registry_each(reg, collect_device, &c);
    if (walk) {
        rc = c.err ? c.err : walk;
        goto out;
    }
    if (c.on_site == 0) {
        snprintf(why, why_len, "unknown site '%s': no device of it in the registry %s", site, path);
        rc = GW_ENOTFOUND;
        goto out;
    }
    if (s.n_nodes == 0) {
        snprintf(why, why_len, "no node of site %s in the registry %s matches '%s'", site, path,
                 c.glob);
        rc = GW_ENOTFOUND;
        goto out;
    }
    *out = s;
    s = (struct cq_site){{0}, NULL, 0};
out:
    cq_site_fini(&s);
    gw_registry_free(reg);
    free(text);
    return rc;
}

void cq_site_fini(struct cq_site *s)
{
    for (size_t i = 0; i < s->n_nodes; i++)
        free(s->nodes[i]);
    free(s->nodes);
    s->nodes = NULL;
    s->n_nodes = 0;
}
