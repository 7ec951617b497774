/*
 * ready.h -- readiness: is the gateway doing its job right now, and if not,
 * why. /readyz answers 200 when every check passes and 503 otherwise, with
 * each check's name and, for a failing one, its reason:
 *
 *   {"ready":false,"checks":[{"name":"broker","ok":true},
 *    {"name":"store","ok":false,"reason":"rp_30s: connect: Couldn't connect to server"}]}
 *
 * A part of the gateway that can stop it from doing its job adds a check at
 * set-up (gw_ready_add), before the HTTP thread starts; the list is fixed
 * from then on and checks run on the HTTP thread at each request, so a check
 * takes whatever locks it needs itself. (/healthz is liveness only: the
 * process answers.)
 */
#ifndef CITYGATE_GW_READY_H
#define CITYGATE_GW_READY_H

#include <stddef.h>
#include <stdio.h>

#define GW_READY_MAX_CHECKS 16

/*
 * A check: returns 1 when its part is fine, or 0 with a reason written to
 * reason (size bytes, NUL-terminated, one line, no quotes needed: it is
 * escaped). ctx is what was given to gw_ready_add(), borrowed.
 */
typedef int (*gw_ready_fn)(void *ctx, char *reason, size_t size);

struct gw_ready {
    size_t n;
    struct {
        const char *name; /* borrowed, a string literal in practice */
        gw_ready_fn check;
        void *ctx;
    } checks[GW_READY_MAX_CHECKS];
};

/* Empties r. */
void gw_ready_init(struct gw_ready *r);

/* Adds a check named name (set-up only). Returns 0 or GW_EFULL. */
int gw_ready_add(struct gw_ready *r, const char *name, gw_ready_fn check, void *ctx);

/* Runs every check and writes the JSON above to out. Returns 1 when all
 * passed, 0 otherwise. HTTP thread. */
int gw_ready_write_json(const struct gw_ready *r, FILE *out);

#endif
