/*
 * status.c -- `cityflash status`: the fleet's firmware, from the nodes'
 * retained births and update reports (docs/rollouts.md).
 *
 * One row per node of the registry that matches --nodes: online or not, the
 * version it runs, its update state, the transfer (version, bytes held of
 * its size), when it last reported and the last error. Reports are checked
 * with each node's key; a node that has said nothing yet shows as unknown.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cityflash.h"
#include "fleet.h"
#include "update.h"

static const char *state_text(const struct cf_report *r)
{
    return r->state >= 1 && r->state <= 7 ? node_update_state_name(r->state) : "unknown";
}

/* A CSV field: quoted when it holds a comma, a quote or a newline. */
static void csv(const char *s, int last)
{
    if (strpbrk(s, ",\"\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

int cf_cmd_status(const struct cf_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"nodes", required_argument, NULL, 'n'},
        {"broker", required_argument, NULL, 'b'},
        {"registry", required_argument, NULL, 'r'},
        {"wait", required_argument, NULL, 'w'},
        {"csv", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *glob = "*", *broker = NULL, *registry = NULL;
    uint64_t wait_ms = 2000;
    int as_csv = 0, c;
    char err[1024];
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            glob = optarg;
            break;
        case 'b':
            broker = optarg;
            break;
        case 'r':
            registry = optarg;
            break;
        case 'w':
            if (cli_duration_arg("--wait", optarg, 100, 600000, &wait_ms))
                return EX_USAGE;
            break;
        case 'c':
            as_csv = 1;
            break;
        case 'h':
            printf("usage: cityflash [--json] status --broker URL --registry FILE [--nodes GLOB]\n"
                   "                 [--wait DURATION] [--csv]\n");
            return 0;
        default:
            return cli_usage_error(NULL);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!broker || !registry)
        return cli_usage_error("status needs --broker and --registry");
    struct cf_fleet *f;
    if (cf_fleet_new(broker, registry, glob, "cityflash-status", &f, err, sizeof err) != 0)
        return cf_fail(o, EX_UNAVAILABLE, "%s", err);
    cf_fleet_pump(f, (int)wait_ms); /* the retained messages arrive at once after subscribing */
    size_t n;
    struct cf_node *nodes = cf_fleet_nodes(f, &n);
    struct cli_json j;
    if (o->json) {
        cf_json_begin(&j);
        cli_json_key(&j, "nodes");
        cli_json_begin_array(&j);
    } else if (as_csv) {
        printf("node,site,online,running,state,transfer,version,held_bytes,size,reported_ms,"
               "refused,duplicates,reason\n");
    } else {
        printf("%-20s %-12s %-7s %-10s %-12s %-10s %-15s %s\n", "NODE", "SITE", "ONLINE", "RUNNING",
               "STATE", "VERSION", "HELD", "LAST ERROR");
    }
    for (size_t i = 0; i < n; i++) {
        const struct cf_node *nd = &nodes[i];
        const struct cf_report *r = &nd->report;
        char held[48], num[6][24];
        snprintf(held, sizeof held, "%" PRIu64 "/%" PRIu64, r->held_bytes, r->size);
        if (o->json) {
            struct cli_json *jj = &j;
            cli_json_begin_object(jj);
            cli_json_key(jj, "node");
            cli_json_str(jj, nd->dev->id);
            cli_json_key(jj, "site");
            cli_json_str(jj, nd->dev->site);
            cli_json_key(jj, "online");
            cli_json_bool(jj, nd->online);
            cli_json_key(jj, "running");
            cli_json_str(jj, r->running);
            cli_json_key(jj, "state");
            cli_json_str(jj, state_text(r));
            cli_json_key(jj, "transfer");
            cli_json_str(jj, r->transfer_id);
            cli_json_key(jj, "version");
            cli_json_str(jj, r->version);
            cli_json_key(jj, "held_bytes");
            cli_json_uint(jj, r->held_bytes);
            cli_json_key(jj, "size");
            cli_json_uint(jj, r->size);
            cli_json_key(jj, "reported_ms");
            cli_json_uint(jj, r->time_ms);
            cli_json_key(jj, "refused");
            cli_json_uint(jj, r->refused);
            cli_json_key(jj, "duplicates");
            cli_json_uint(jj, r->duplicates);
            cli_json_key(jj, "reason");
            cli_json_str(jj, r->reason);
            cli_json_end_object(jj);
        } else if (as_csv) {
            snprintf(num[0], sizeof num[0], "%" PRIu64, r->held_bytes);
            snprintf(num[1], sizeof num[1], "%" PRIu64, r->size);
            snprintf(num[2], sizeof num[2], "%" PRIu64, r->time_ms);
            snprintf(num[3], sizeof num[3], "%" PRIu64, r->refused);
            snprintf(num[4], sizeof num[4], "%" PRIu64, r->duplicates);
            const char *row[] = {nd->dev->id, nd->dev->site, nd->online ? "yes" : "no",
                                 r->running,  state_text(r), r->transfer_id,
                                 r->version,  num[0],        num[1],
                                 num[2],      num[3],        num[4],
                                 r->reason};
            for (size_t k = 0; k < sizeof row / sizeof *row; k++)
                csv(row[k], k + 1 == sizeof row / sizeof *row);
        } else {
            printf("%-20s %-12s %-7s %-10s %-12s %-10s %-15s %s\n", nd->dev->id, nd->dev->site,
                   nd->online ? "yes" : "no", r->running[0] ? r->running : "-", state_text(r),
                   r->version[0] ? r->version : "-", r->size ? held : "-", r->reason);
        }
    }
    if (o->json) {
        cli_json_end_array(&j);
        cli_json_end_object(&j);
    }
    cf_fleet_free(f);
    return 0;
}
