/*
 * site.h -- what the device registry (docs/data-model.md, "Device
 * registry") says of the site a report is about: its IANA time zone, from
 * its [site NAME] section, and its nodes, the devices registered on it. The
 * nodes are those completeness expects, so that a node that never reported
 * in the period shows as 0 % observed instead of not at all.
 *
 * Thread rules: plain functions over caller storage.
 */
#ifndef CITYQUERY_SITE_H
#define CITYQUERY_SITE_H

#include <stddef.h>

#include "registry.h"

struct cq_site {
    char zone[GW_REGISTRY_MAX_ZONE + 1]; /* "" when the registry names none */
    char **nodes;                        /* n_nodes device ids, in the registry's order; owned */
    size_t n_nodes;
};

/*
 * Reads the registry at path (borrowed) and fills *out with site's zone and
 * its devices whose id matches node_glob (NULL: all; '*' and '?'
 * wildcards). Returns 0; GW_ENOTFOUND when no device is registered on the
 * site ("unknown site ..." in why) or none of them matches node_glob; GW_EIO when the file cannot
 * be read, or GW_ECONFIG when it is no valid registry (why says where); GW_ENOMEM. On success the
 * caller frees *out with cq_site_fini().
 */
int cq_site_load(const char *path, const char *site, const char *node_glob, struct cq_site *out,
                 char *why, size_t why_len);

/* Frees what cq_site_load() allocated in s; a zeroed s is a no-op. */
void cq_site_fini(struct cq_site *s);

#endif
