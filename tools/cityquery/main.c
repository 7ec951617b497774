/*
 * cityquery -- traffic reports for planners from the store's history
 * (docs/planners.md): volumes, hourly profiles, ADT/AADT, peak hour, speed
 * percentiles, vehicle classes and completeness, in the site's local time,
 * as a terminal table, CSV or JSON. With --registry the site's zone and
 * nodes come from the device registry.
 *
 *   cityquery REPORT --site SITE --from DATE --to DATE [options]
 *
 * Exit status (sysexits): 0 report written (days under the threshold are
 * flagged in it and named on stderr); 64 usage (bad option, date, zone, or
 * an empty or reversed period); 66 no data for the selection in the period,
 * or the registry cannot be read; 67 unknown site; 78 the registry is invalid; 69 store
 * unreachable; 70 internal error; 74 output not written; 76 the store answered with an error or
 * partial results.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "chart.h"
#include "err.h"
#include "html.h"
#include "report.h"
#include "site.h"

enum format { FMT_TABLE, FMT_CSV, FMT_JSON };

struct options {
    const char *report, *zone, *from, *to, *table, *output, *chart, *html, *registry;
    enum format format;
    int stats;
    struct cq_site site; /* from the registry */
    struct cq_store_config store;
    struct cq_query q;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cityquery REPORT --site SITE --from DATE --to DATE [options]\n"
            "\n"
            "reports: volume, profile, aadt, peak, speed, classes, completeness\n"
            "\n"
            "  -s, --site SITE         the site (required)\n"
            "  -n, --node GLOB         nodes of the site ('*' and '?' wildcards; default all)\n"
            "  -l, --lane N            one lane (1-16; default all)\n"
            "  -f, --from DATE         first local day (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM)\n"
            "  -t, --to DATE           end of the period, not included (same forms)\n"
            "  -z, --tz ZONE           IANA time zone of the site (default: the registry's,\n"
            "                          else $TZ, else UTC)\n"
            "      --registry FILE     the device registry: the site's zone and the nodes\n"
            "                          completeness expects (default $CITYQUERY_REGISTRY)\n"
            "  -b, --by PERIOD         volume rows: 15min, hour, day, week, month (default day)\n"
            "      --level WIDTH       read windows of 30s, 5m, 15m or 1h (default: the\n"
            "                          coarsest that answers)\n"
            "      --threshold PCT     days under PCT %% complete are flagged and left out of\n"
            "                          averages (default 100)\n"
            "      --limit KMH         speed: share of vehicles above this speed\n"
            "      --quantity NAME     speed: the stored quantity (default vehicle_speed)\n"
            "  -F, --format FMT        table (default), csv or json\n"
            "      --json              the same as --format json\n"
            "      --table NAME        csv: which table (default the report's first)\n"
            "  -o, --output FILE       write there instead of stdout\n"
            "      --store URL         the store (default $CITYQUERY_STORE or\n"
            "                          http://127.0.0.1:8086)\n"
            "      --db NAME           database (default citygate; 2.x: the mapped name)\n"
            "      --api v1|v2         InfluxDB 1.x, or 2.x's 1.x-compatible API (default v1)\n"
            "      --token TOKEN       2.x API token (default $CITYQUERY_TOKEN)\n"
            "      --user USER, --password PASS   1.x credentials\n"
            "      --chart FILE        also draw the report's chart (FILE.png or FILE.svg,\n"
            "                          by gnuplot)\n"
            "      --html FILE         also write one self-contained HTML page of the report\n"
            "      --timeout DURATION  longest wait for one store answer (default 60s)\n"
            "      --stats             print the store queries and bytes read on stderr\n"
            "  -h, --help              this text\n"
            "      --version           the version\n"
            "\n"
            "exit: 0 written (incomplete days flagged), 64 usage, 66 no data (or registry\n"
            "unreadable), 67 unknown site, 69 store unreachable, 70 internal, 74 output,\n"
            "76 store error or partial, 78 registry invalid\n");
}

/* Parses a decimal number of option opt within lo ... hi. Returns 0 or EX_USAGE (said). */
static int number_arg(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi))
        return cli_usage_error("%s wants a number from %g to %g, not '%s'", opt, lo, hi, text);
    *out = v;
    return 0;
}

/* Parses argv into *o. Returns -1 to exit 0 (help, version), EX_USAGE, or 0. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum {
        O_LEVEL = 256,
        O_THRESHOLD,
        O_LIMIT,
        O_QUANTITY,
        O_TABLE,
        O_STORE,
        O_DB,
        O_API,
        O_TOKEN,
        O_USER,
        O_PASSWORD,
        O_STATS,
        O_TIMEOUT,
        O_CHART,
        O_HTML,
        O_REGISTRY
    };
    static const struct option opts[] = {
        {"site", required_argument, NULL, 's'},
        {"node", required_argument, NULL, 'n'},
        {"lane", required_argument, NULL, 'l'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"tz", required_argument, NULL, 'z'},
        {"by", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'F'},
        {"output", required_argument, NULL, 'o'},
        {"level", required_argument, NULL, O_LEVEL},
        {"threshold", required_argument, NULL, O_THRESHOLD},
        {"limit", required_argument, NULL, O_LIMIT},
        {"quantity", required_argument, NULL, O_QUANTITY},
        {"table", required_argument, NULL, O_TABLE},
        {"store", required_argument, NULL, O_STORE},
        {"db", required_argument, NULL, O_DB},
        {"api", required_argument, NULL, O_API},
        {"token", required_argument, NULL, O_TOKEN},
        {"user", required_argument, NULL, O_USER},
        {"password", required_argument, NULL, O_PASSWORD},
        {"stats", no_argument, NULL, O_STATS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"chart", required_argument, NULL, O_CHART},
        {"html", required_argument, NULL, O_HTML},
        {"registry", required_argument, NULL, O_REGISTRY},
        {"json", no_argument, NULL, CLI_OPT_JSON},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    static const char *const periods[] = {"15min", "hour", "day", "week", "month"};
    uint64_t v;
    int c;

    o->q.by = CQ_PDAY;
    o->q.min_pct = 100;
    o->q.speed_quantity = "vehicle_speed";
    o->store.url = getenv("CITYQUERY_STORE") ? getenv("CITYQUERY_STORE") : "http://127.0.0.1:8086";
    o->store.database = "citygate";
    o->store.token = getenv("CITYQUERY_TOKEN");
    o->store.timeout_ms = 60000;
    o->registry = getenv("CITYQUERY_REGISTRY") && getenv("CITYQUERY_REGISTRY")[0]
                      ? getenv("CITYQUERY_REGISTRY")
                      : NULL;
    while ((c = getopt_long(argc, argv, "s:n:l:f:t:z:b:F:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->q.sel.site = optarg;
            break;
        case 'n':
            o->q.sel.node_glob = optarg;
            break;
        case 'l':
            if (cli_uint_arg("--lane", optarg, 1, 16, &v))
                return EX_USAGE;
            o->q.sel.lane = (unsigned)v;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 't':
            o->to = optarg;
            break;
        case 'z':
            o->zone = optarg;
            break;
        case 'b': {
            size_t i = 0;
            while (i < 5 && strcmp(optarg, periods[i]) != 0)
                i++;
            if (i == 5)
                return cli_usage_error("--by wants 15min, hour, day, week or month");
            o->q.by = (enum cq_period)i;
            break;
        }
        case 'F':
            if (strcmp(optarg, "table") == 0)
                o->format = FMT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                o->format = FMT_CSV;
            else if (strcmp(optarg, "json") == 0)
                o->format = FMT_JSON;
            else
                return cli_usage_error("--format wants table, csv or json");
            break;
        case 'o':
            o->output = optarg;
            break;
        case O_LEVEL:
            o->q.level = optarg;
            break;
        case O_THRESHOLD:
            if (number_arg("--threshold", optarg, 0, 100, &o->q.min_pct))
                return EX_USAGE;
            break;
        case O_LIMIT:
            if (number_arg("--limit", optarg, 1, 300, &o->q.limit_kmh))
                return EX_USAGE;
            break;
        case O_QUANTITY:
            o->q.speed_quantity = optarg;
            break;
        case O_TABLE:
            o->table = optarg;
            break;
        case O_STORE:
            o->store.url = optarg;
            break;
        case O_DB:
            o->store.database = optarg;
            break;
        case O_API:
            if (strcmp(optarg, "v1") != 0 && strcmp(optarg, "v2") != 0)
                return cli_usage_error("--api wants v1 or v2");
            o->store.v2 = strcmp(optarg, "v2") == 0;
            break;
        case O_TOKEN:
            o->store.token = optarg;
            break;
        case O_USER:
            o->store.username = optarg;
            break;
        case O_PASSWORD:
            o->store.password = optarg;
            break;
        case O_STATS:
            o->stats = 1;
            break;
        case O_TIMEOUT:
            if (cli_duration_arg("--timeout", optarg, 1, 3600000, &v))
                return EX_USAGE;
            o->store.timeout_ms = (long)v;
            break;
        case O_CHART:
            o->chart = optarg;
            break;
        case O_HTML:
            o->html = optarg;
            break;
        case O_REGISTRY:
            o->registry = optarg;
            break;
        case CLI_OPT_JSON:
            o->format = FMT_JSON;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case CLI_OPT_VERSION:
            cli_print_version();
            return -1;
        default:
            return cli_usage_error(NULL);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("name one report (volume, profile, aadt, peak, speed, classes, "
                               "completeness)");
    o->report = argv[optind];
    if (!o->q.sel.site || !o->from || !o->to)
        return cli_usage_error("--site, --from and --to are required");
    if (o->registry) {
        char why[512] = "";
        int rc =
            cq_site_load(o->registry, o->q.sel.site, o->q.sel.node_glob, &o->site, why, sizeof why);
        if (rc) {
            cli_error("%s", why[0] ? why : gw_strerror(rc));
            return rc == GW_ENOTFOUND && strstr(why, "unknown site") ? EX_NOUSER
                   : rc == GW_ENOTFOUND                              ? EX_NOINPUT
                   : rc == GW_ENOMEM                                 ? EX_SOFTWARE
                   : rc == GW_EIO                                    ? EX_NOINPUT
                                                                     : EX_CONFIG;
        }
        o->q.sel.nodes = (const char *const *)o->site.nodes;
        o->q.sel.n_nodes = o->site.n_nodes;
    }
    /* The zone: --tz, else the registry's for the site, else $TZ, else UTC. */
    if (!o->zone && o->site.zone[0])
        o->zone = o->site.zone;
    if (!o->zone)
        o->zone = getenv("TZ") && getenv("TZ")[0] ? getenv("TZ") : "UTC";
    if (cq_tz_set(o->zone) != 0)
        return cli_usage_error("unknown time zone '%s' (an IANA name such as Europe/Madrid)",
                               o->zone);
    if (cq_time_parse(o->from, &o->q.from_ms) || cq_time_parse(o->to, &o->q.to_ms))
        return cli_usage_error("dates are YYYY-MM-DD or YYYY-MM-DDTHH:MM, not '%s'",
                               cq_time_parse(o->from, &o->q.from_ms) ? o->from : o->to);
    if (o->q.from_ms >= o->q.to_ms)
        return cli_usage_error("the period %s to %s is %s", o->from, o->to,
                               o->q.from_ms == o->q.to_ms ? "empty"
                                                          : "reversed (--to is before --from)");
    return 0;
}

static int exit_code(int rc)
{
    switch (rc) {
    case GW_EIO:
        return EX_UNAVAILABLE;
    case GW_ENOTFOUND:
        return EX_NOINPUT;
    case GW_ENOMEM:
        return EX_SOFTWARE;
    default:
        return EX_PROTOCOL;
    }
}

/* Writes the whole report as one JSON document (cli.h's writer). Returns 0 or GW_EIO. */
static int report_json(FILE *out, const struct options *o, const struct cq_report *r)
{
    char from[CQ_ISO8601_MAX], to[CQ_ISO8601_MAX];
    struct cli_json j;
    cq_time_iso8601(o->q.from_ms, from, sizeof from);
    cq_time_iso8601(o->q.to_ms, to, sizeof to);
    cli_json_init(&j, out);
    cli_json_begin_object(&j);
    cli_json_key(&j, "report");
    cli_json_str(&j, r->kind);
    cli_json_key(&j, "site");
    cli_json_str(&j, o->q.sel.site);
    cli_json_key(&j, "node");
    cli_json_str(&j, o->q.sel.node_glob ? o->q.sel.node_glob : "*");
    cli_json_key(&j, "lane");
    if (o->q.sel.lane)
        cli_json_uint(&j, o->q.sel.lane);
    else
        cli_json_null(&j);
    cli_json_key(&j, "from");
    cli_json_str(&j, from);
    cli_json_key(&j, "to");
    cli_json_str(&j, to);
    cli_json_key(&j, "zone");
    cli_json_str(&j, o->zone);
    cli_json_key(&j, "level");
    cli_json_str(&j, r->level);
    cli_json_key(&j, "complete");
    cli_json_bool(&j, !r->incomplete);
    cli_json_key(&j, "tables");
    cli_json_begin_object(&j);
    for (size_t i = 0; i < r->n_tables; i++) {
        cli_json_key(&j, r->tables[i].name);
        cq_table_json(&j, &r->tables[i]);
    }
    cli_json_end_object(&j);
    cli_json_key(&j, "notes");
    cli_json_begin_array(&j);
    for (size_t i = 0; i < r->n_notes; i++)
        cli_json_str(&j, r->notes[i]);
    cli_json_end_array(&j);
    cli_json_end_object(&j);
    return j.error || ferror(out) ? GW_EIO : 0;
}

/* The line that says what a report covers: selection, period, zone and level. */
static void heading(const struct options *o, const struct cq_report *r, char *buf, size_t cap)
{
    char from[CQ_ISO8601_MAX], to[CQ_ISO8601_MAX], lane[16] = "all";
    cq_time_iso8601(o->q.from_ms, from, sizeof from);
    cq_time_iso8601(o->q.to_ms, to, sizeof to);
    if (o->q.sel.lane)
        snprintf(lane, sizeof lane, "%u", o->q.sel.lane);
    snprintf(buf, cap, "site %s, node %s, lane %s; %s to %s (%s); %s windows", o->q.sel.site,
             o->q.sel.node_glob ? o->q.sel.node_glob : "*", lane, from, to, o->zone, r->level);
}

static int write_report(FILE *out, const struct options *o, const struct cq_report *r)
{
    char head[256];
    int rc = 0;

    if (o->format == FMT_JSON)
        return report_json(out, o, r);
    if (o->format == FMT_CSV) {
        for (size_t i = 0; i < r->n_tables; i++)
            if (o->table ? strcmp(r->tables[i].name, o->table) == 0 : i == 0)
                return cq_table_csv(out, &r->tables[i]);
        fprintf(stderr, "%s: report %s has no table '%s'; it has:", cli_prog(), r->kind, o->table);
        for (size_t i = 0; i < r->n_tables; i++)
            fprintf(stderr, " %s", r->tables[i].name);
        fputc('\n', stderr);
        return GW_EINVAL;
    }
    heading(o, r, head, sizeof head);
    fprintf(out, "cityquery %s: %s\n\n", r->kind, head);
    for (size_t i = 0; i < r->n_tables && rc == 0; i++) {
        rc = cq_table_print(out, &r->tables[i]);
        fputc('\n', out);
    }
    for (size_t i = 0; i < r->n_notes; i++)
        fprintf(out, "note: %s\n", r->notes[i]);
    return ferror(out) ? GW_EIO : rc;
}

int main(int argc, char **argv)
{
    struct options o;
    struct cq_store *store = NULL;
    struct cq_report r;
    char why[512] = "";
    FILE *out = stdout;
    int ex;

    cli_init(argv[0]);
    memset(&o, 0, sizeof o);
    memset(&r, 0, sizeof r);
    ex = parse_args(argc, argv, &o);
    if (ex) {
        cq_site_fini(&o.site);
        return ex < 0 ? EX_OK : ex;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || cq_store_new(&o.store, &store)) {
        cli_error("cannot start the HTTP client");
        return EX_SOFTWARE;
    }
    o.q.store = store;
    int rc = cq_fetch_check_site(store, o.q.sel.site, why, sizeof why);
    if (rc == 0)
        rc = cq_report_run(o.report, &o.q, &r, why, sizeof why);
    if (rc) {
        cli_error("%s", why[0] ? why : gw_strerror(rc));
        ex = rc == GW_ENOTFOUND && strstr(why, "unknown site") ? EX_NOUSER
             : rc == GW_EINVAL && !strstr(why, "store")        ? EX_USAGE
                                                               : exit_code(rc);
        goto out;
    }
    if (o.output && !(out = fopen(o.output, "w"))) {
        cli_error("cannot write %s: %s", o.output, strerror(errno));
        ex = EX_IOERR;
        goto out;
    }
    rc = write_report(out, &o, &r);
    if ((out != stdout ? fclose(out) : fflush(out)) != 0 && rc == 0)
        rc = GW_EIO;
    out = stdout;
    if (rc) {
        if (rc != GW_EINVAL)
            cli_error("the report could not be written");
        ex = rc == GW_EINVAL ? EX_USAGE : EX_IOERR;
        goto out;
    }
    if (o.chart)
        rc = cq_chart_write(&r, o.chart, why, sizeof why);
    if (rc == 0 && o.html) {
        char head[256];
        heading(&o, &r, head, sizeof head);
        rc = cq_html_write(&r, head, o.html, why, sizeof why);
    }
    if (rc) {
        cli_error("%s", why);
        ex = rc == GW_EINVAL ? EX_USAGE : EX_IOERR;
        goto out;
    }
    for (size_t i = 0; i < r.n_notes; i++)
        if (r.incomplete && strstr(r.notes[i], "complete:"))
            cli_error("warning: %s", r.notes[i]);
    if (o.stats) {
        struct cq_store_stats st;
        cq_store_stats(store, &st);
        cli_error("%llu queries, %llu bytes read from the store", (unsigned long long)st.queries,
                  (unsigned long long)st.bytes);
    }
out:
    cq_report_fini(&r);
    cq_site_fini(&o.site);
    cq_store_free(store);
    curl_global_cleanup();
    return ex;
}
