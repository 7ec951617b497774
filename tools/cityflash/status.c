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

/*
 * The columns of --csv, in order, which are also the keys of each node's
 * --json object: one list, so that the two cannot drift apart.
 */
enum col_type { COL_STR, COL_UINT, COL_BOOL };
struct col {
    const char *name;
    enum col_type type;
    const char *str; /* COL_STR */
    uint64_t num;    /* COL_UINT, COL_BOOL */
};
#define N_COLS 13

/* Fills row with nd's columns. */
static void node_row(const struct cf_node *nd, struct col row[N_COLS])
{
    const struct cf_report *r = &nd->report;
    const struct col cols[N_COLS] = {
        {"node", COL_STR, nd->dev->id, 0},
        {"site", COL_STR, nd->dev->site, 0},
        {"online", COL_BOOL, NULL, (uint64_t)nd->online},
        {"running", COL_STR, r->running, 0},
        {"state", COL_STR, state_text(r), 0},
        {"transfer", COL_STR, r->transfer_id, 0},
        {"version", COL_STR, r->version, 0},
        {"held_bytes", COL_UINT, NULL, r->held_bytes},
        {"size", COL_UINT, NULL, r->size},
        {"reported_ms", COL_UINT, NULL, r->time_ms},
        {"refused", COL_UINT, NULL, r->refused},
        {"duplicates", COL_UINT, NULL, r->duplicates},
        {"reason", COL_STR, r->reason, 0},
    };
    memcpy(row, cols, sizeof cols);
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
        {NULL, 0, NULL, 0},
    };
    const char *glob = "*", *broker = NULL, *registry = NULL;
    uint64_t wait_ms = 2000;
    int as_csv = 0, c;
    char err[1024];
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
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
        default:
            return cli_usage_error(NULL);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!broker || !registry)
        return cli_usage_error("status needs --broker and --registry");
    struct cf_fleet *f;
    if (cf_fleet_new(broker, registry, glob, NULL, &f, err, sizeof err) != 0)
        return cf_fail(o, EX_UNAVAILABLE, "%s", err);
    cf_fleet_pump(f, (int)wait_ms); /* the retained messages arrive at once after subscribing */
    size_t n;
    struct cf_node *nodes = cf_fleet_nodes(f, &n);
    struct cli_json j;
    struct col row[N_COLS];
    if (o->json) {
        cf_json_begin(&j);
        cli_json_key(&j, "nodes");
        cli_json_begin_array(&j);
    } else if (as_csv) {
        static const struct gw_device none; /* the names, from a row with nothing in it */
        node_row(&(const struct cf_node){.dev = &none}, row);
        for (size_t k = 0; k < N_COLS; k++)
            csv(row[k].name, k + 1 == N_COLS);
    } else {
        printf("%-20s %-12s %-7s %-10s %-12s %-10s %-15s %s\n", "NODE", "SITE", "ONLINE", "RUNNING",
               "STATE", "VERSION", "HELD", "LAST ERROR");
    }
    for (size_t i = 0; i < n; i++) {
        const struct cf_node *nd = &nodes[i];
        const struct cf_report *r = &nd->report;
        node_row(nd, row);
        if (o->json) {
            cli_json_begin_object(&j);
            for (size_t k = 0; k < N_COLS; k++) {
                cli_json_key(&j, row[k].name);
                if (row[k].type == COL_STR)
                    cli_json_str(&j, row[k].str);
                else if (row[k].type == COL_BOOL)
                    cli_json_bool(&j, row[k].num != 0);
                else
                    cli_json_uint(&j, row[k].num);
            }
            cli_json_end_object(&j);
        } else if (as_csv) {
            for (size_t k = 0; k < N_COLS; k++) {
                char num[24];
                snprintf(num, sizeof num, "%" PRIu64, row[k].num);
                csv(row[k].type == COL_STR    ? row[k].str
                    : row[k].type == COL_BOOL ? (row[k].num ? "yes" : "no")
                                              : num,
                    k + 1 == N_COLS);
            }
        } else {
            char held[48];
            snprintf(held, sizeof held, "%" PRIu64 "/%" PRIu64, r->held_bytes, r->size);
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
