/*
 * metrics.c -- the Prometheus text exposition (format 0.0.4) of the gateway.
 *
 * Every drop the gateway makes on purpose is a counter here, by reason: the
 * refusal reasons of the wire library and the validator (zeros included, so
 * a dashboard can rely on every series existing), dedup's duplicates,
 * replays and lost frames, the windows' late and too-late values, the
 * journal's and the store queue's drops, and the store's dead letters and
 * failed requests by class. Durations are histograms in seconds; the build
 * and the process (process_*, from /proc) are described as Prometheus
 * client libraries do.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "events.h"
#include "gateway.h"
#include "history.h"

static void metric(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A single-sample metric with help text. */
static void one(FILE *out, const char *name, const char *type, const char *help, uint64_t v)
{
    metric(out, name, type, help);
    fprintf(out, "%s %" PRIu64 "\n", name, v);
}

/* Per-node samples of the nodes whose values came too late: only those, so the page stays small. */
static void node_too_late(void *ctx, const char *device_id, const struct gw_dedup_stats *st)
{
    if (st->n_too_late > 0)
        fprintf(ctx, "citygate_node_values_too_late_total{node=\"%s\"} %" PRIu64 "\n", device_id,
                st->n_too_late);
}

static void node_behind(void *ctx, const char *device_id, const struct gw_dedup_stats *st)
{
    if (st->n_too_late > 0 || st->behind_ms > 0)
        fprintf(ctx, "citygate_node_behind_seconds{node=\"%s\"} %.3f\n", device_id,
                (double)st->behind_ms / 1000.0);
}

/* The live page's event stream (/api/v1/events). */
static void render_live_metrics(struct gateway *gw, FILE *out)
{
    struct gw_events_stats es;
    size_t windows, bytes;
    gw_events_stats(gw->events, &es);
    pthread_mutex_lock(&gw->lock);
    gw_history_size(gw->history, &windows, &bytes);
    pthread_mutex_unlock(&gw->lock);
    one(out, "citygate_live_clients", "gauge", "Event streams open now.", es.clients);
    one(out, "citygate_live_streams_total", "counter", "Event streams opened.", es.opened);
    one(out, "citygate_live_streams_resumed_total", "counter",
        "Event streams resumed from the replay buffer with Last-Event-ID.", es.resumed);
    one(out, "citygate_live_snapshots_total", "counter",
        "Snapshots sent: new streams, and ids no longer in the replay buffer.", es.snapshots);
    metric(out, "citygate_live_streams_refused_total", "counter",
           "Event streams refused, by reason: live.max_clients open, or a malformed "
           "Last-Event-ID.");
    fprintf(out, "citygate_live_streams_refused_total{reason=\"full\"} %" PRIu64 "\n",
            es.refused_full);
    fprintf(out, "citygate_live_streams_refused_total{reason=\"bad_last_event_id\"} %" PRIu64 "\n",
            es.refused_bad_id);
    one(out, "citygate_live_clients_cut_total", "counter",
        "Event streams cut off for falling behind by more than live.client_lag or the replay "
        "buffer (a slow or stalled reader).",
        es.cut_slow);
    one(out, "citygate_live_events_total", "counter", "Events pushed.", es.events);
    one(out, "citygate_live_events_dropped_total", "counter",
        "Events not pushed for lack of memory.", es.dropped_nomem);
    one(out, "citygate_live_replay_events", "gauge", "Events in the replay buffer.", es.kept);
    one(out, "citygate_live_replay_bytes", "gauge", "Bytes in the replay buffer.", es.kept_bytes);
    one(out, "citygate_live_history_windows", "gauge", "Lane windows kept for snapshots.", windows);
    one(out, "citygate_live_history_bytes", "gauge", "Bytes of lane windows kept for snapshots.",
        bytes);
}

/* The standard process_* metrics of Prometheus client libraries, from /proc. */
static void render_process_metrics(FILE *out)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long utime = 0, stime = 0, vsize = 0;
    unsigned long long start = 0;
    long rss = 0;
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which ends at the last ')' (man 5 proc). */
    const char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d "
                     "%*d %llu %lu %ld",
                     &utime, &stime, &start, &vsize, &rss) != 5)
        return;
    double boot = 0;
    if ((f = fopen("/proc/stat", "r"))) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "btime %lf", &boot) == 1)
                break;
        fclose(f);
    }
    uint64_t fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            fds += e->d_name[0] != '.';
        fds--; /* the directory stream's own descriptor */
        closedir(d);
    }
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    metric(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    fprintf(out, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)tick);
    one(out, "process_resident_memory_bytes", "gauge", "Resident memory size.",
        (uint64_t)rss * (uint64_t)page);
    one(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size.", vsize);
    metric(out, "process_start_time_seconds", "gauge", "Start time since the epoch.");
    fprintf(out, "process_start_time_seconds %.2f\n", boot + (double)start / (double)tick);
    one(out, "process_open_fds", "gauge", "Open file descriptors.", fds);
    one(out, "process_max_fds", "gauge", "Limit of open file descriptors.", (uint64_t)rl.rlim_cur);
}

int gw_metrics_render(void *ctx, FILE *out)
{
    struct gateway *gw = ctx;
    struct gw_pipeline_stats ps;
    struct gw_windows_stats ws;
    struct gw_dedup_totals dt;
    struct gw_rules_stats rs;
    struct gw_journal_stats js;
    struct gw_sink_stats ss;
    struct gw_mqtt_stats ms = {0};
    uint64_t quarantined, journal_errors, alerts_published, alerts_unqueued;
    int journal_full;

    pthread_mutex_lock(&gw->lock);
    gw_pipeline_stats(gw->pipe, &ps);
    gw_pipeline_window_stats(gw->pipe, &ws);
    gw_pipeline_dedup_totals(gw->pipe, &dt);
    gw_pipeline_rules_stats(gw->pipe, &rs);
    gw_journal_stats(gw->journal, &js);
    if (gw->mqtt)
        gw_mqtt_stats(gw->mqtt, &ms);
    quarantined = gw->quarantined;
    journal_errors = gw->journal_errors;
    journal_full = gw->journal_full;
    alerts_published = gw->alerts_published;
    alerts_unqueued = gw->outbox.refused;
    pthread_mutex_unlock(&gw->lock);
    gw_sink_stats(gw->sink, &ss);

    one(out, "citygate_frames_received_total", "counter", "Data messages received.", ps.frames_in);
    one(out, "citygate_frames_accepted_total", "counter",
        "Frames admitted, journaled and aggregated.", ps.frames_accepted);
    metric(out, "citygate_frames_rejected_total", "counter", "Frames refused, by reason.");
    for (int r = 1; r < GW_REJECT_N; r++)
        fprintf(out, "citygate_frames_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                gw_reject_name(r), ps.rejected[r]);
    one(out, "citygate_frames_duplicate_total", "counter",
        "Redelivered or retransmitted frames dropped.", ps.rejected[GW_REJECT_DUPLICATE]);
    one(out, "citygate_frames_lost_total", "counter",
        "Sequence numbers that never arrived and no longer can.", dt.sum.n_lost_definitive);
    one(out, "citygate_frames_lost_pending", "gauge",
        "Sequence numbers missing now that may still arrive.", dt.sum.n_lost_pending);
    one(out, "citygate_quarantined_total", "counter",
        "Refused frames published on the quarantine topic.", quarantined);
    one(out, "citygate_status_messages_total", "counter", "Birth and death messages received.",
        ps.status_messages);
    one(out, "citygate_births_total", "counter", "Signed births accepted.", ps.births);
    one(out, "citygate_deaths_total", "counter", "Signed deaths accepted (absence rules fired).",
        ps.deaths);
    metric(out, "citygate_status_rejected_total", "counter", "Status messages refused, by reason.");
    for (int r = 1; r < GW_REJECT_N; r++)
        fprintf(out, "citygate_status_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                gw_reject_name(r), ps.status_rejected[r]);

    one(out, "citygate_readings_total", "counter", "Readings in accepted frames.", ps.readings_in);
    one(out, "citygate_readings_aggregated_total", "counter", "GOOD readings folded into windows.",
        ps.readings_folded);
    one(out, "citygate_vehicles_aggregated_total", "counter",
        "Vehicle records folded into their lanes' windows.", ps.vehicles_folded);
    metric(out, "citygate_readings_not_good_total", "counter",
           "Readings kept out of aggregates, by quality.");
    static const char *const quality[] = {"unspecified",   "good",     "uncertain", "bad_timeout",
                                          "bad_exception", "bad_gone", "bad_range", "other"};
    for (int q = 2; q < 8; q++)
        fprintf(out, "citygate_readings_not_good_total{quality=\"%s\"} %" PRIu64 "\n", quality[q],
                ps.readings_not_good[q]);
    one(out, "citygate_values_late_total", "counter",
        "Values that corrected a window already written (rewrites follow).", ws.values_late);
    one(out, "citygate_values_too_late_total", "counter",
        "Values older than the late horizon for which no part could be kept, folded nowhere.",
        ws.too_late);
    one(out, "citygate_values_late_parts_total", "counter",
        "Values older than the late horizon, counted in parts of their retired windows.",
        ws.values_parted);
    one(out, "citygate_window_parts", "gauge",
        "Parts of retired windows collecting late values (at most windows.max_series).", ws.parts);
    one(out, "citygate_window_parts_written_total", "counter",
        "Parts of retired windows emitted (each a point with a part tag).", ws.parts_emitted);
    metric(out, "citygate_node_values_too_late_total", "counter",
           "Too-late values by node, for the nodes that had any since the start.");
    pthread_mutex_lock(&gw->lock);
    gw_pipeline_each_device(gw->pipe, node_too_late, out);
    pthread_mutex_unlock(&gw->lock);
    metric(out, "citygate_node_behind_seconds", "gauge",
           "How far the last frame with too-late values, or stamped more than the late horizon "
           "behind its arrival, was behind, by node.");
    pthread_mutex_lock(&gw->lock);
    gw_pipeline_each_device(gw->pipe, node_behind, out);
    pthread_mutex_unlock(&gw->lock);
    one(out, "citygate_values_too_early_total", "counter",
        "Values stamped further ahead than allowed.", ws.too_early);
    metric(out, "citygate_values_refused_total", "counter",
           "Values refused, by cause: the series table full (max_series), the node's series "
           "full (max_node_series), or a window slot still unwritten (busy).");
    fprintf(out, "citygate_values_refused_total{cause=\"max_series\"} %" PRIu64 "\n",
            ws.series_refused);
    fprintf(out, "citygate_values_refused_total{cause=\"max_node_series\"} %" PRIu64 "\n",
            ws.node_series_full);
    fprintf(out, "citygate_values_refused_total{cause=\"busy\"} %" PRIu64 "\n", ws.busy);
    one(out, "citygate_windows_written_total", "counter", "Window aggregates emitted.",
        ws.windows_emitted);
    one(out, "citygate_windows_incomplete_total", "counter",
        "Window aggregates not written because recovery could rebuild them only in part.",
        ps.windows_incomplete);
    one(out, "citygate_windows_rewritten_total", "counter",
        "Corrected window aggregates emitted again.", ws.windows_rewritten);
    one(out, "citygate_series", "gauge", "Series with open or retained windows.", ws.series);
    one(out, "citygate_window_clocks", "gauge",
        "Nodes whose event-time clock is kept (with series, or to keep retired windows closed).",
        ws.nodes);
    one(out, "citygate_window_memory_bytes", "gauge", "Heap held by windows.", ws.memory_bytes);
    one(out, "citygate_devices", "gauge", "Devices tracked by dedup.", dt.n_devices);

    one(out, "citygate_journal_bytes", "gauge", "Bytes of frames in the journal.", js.bytes);
    one(out, "citygate_journal_records", "gauge", "Frames in the journal.", js.records);
    one(out, "citygate_journal_replay_bytes", "gauge",
        "Journal bytes after the newest snapshot: what a restart would replay.",
        js.bytes_after_snapshot);
    one(out, "citygate_journal_dropped_total", "counter",
        "Journaled frames removed unreplayed because the journal was full.", js.dropped);
    one(out, "citygate_journal_damaged_records_total", "counter",
        "Damaged journal records passed over at start (a span whose headers do not chain counts "
        "as one).",
        js.damaged_records);
    one(out, "citygate_journal_damaged_bytes_total", "counter",
        "Damaged journal bytes passed over at start.", js.damaged_bytes);
    one(out, "citygate_journal_full", "gauge",
        "1 while frames are left at the broker because the journal has no room ahead.",
        (uint64_t)journal_full);
    one(out, "citygate_journal_fsyncs_total", "counter", "Journal fsyncs.", js.fsyncs);
    one(out, "citygate_journal_errors_total", "counter",
        "Journal appends (each a lost frame) and fsyncs that failed.", journal_errors);

    one(out, "citygate_store_lines_written_total", "counter", "Lines the store accepted.",
        ss.lines_written);
    one(out, "citygate_store_lines_pending", "gauge", "Lines waiting for the store.",
        ss.lines_pending);
    one(out, "citygate_store_retries_total", "counter",
        "Store writes that failed and will be retried.", ss.retries);
    metric(out, "citygate_store_errors_total", "counter",
           "Store requests that failed, by class (connect, timeout, 4xx, 5xx).");
    for (int c = 0; c < GW_SINK_E_N; c++)
        fprintf(out, "citygate_store_errors_total{class=\"%s\"} %" PRIu64 "\n",
                gw_sink_class_name(c), ss.errors[c]);
    one(out, "citygate_store_failing", "gauge",
        "Retention policies whose next batch failed its last attempt.", ss.failing);
    one(out, "citygate_store_lines_dead_lettered_total", "counter",
        "Lines written to the dead-letter file.", ss.lines_dead_lettered);
    one(out, "citygate_store_lines_dropped_total", "counter",
        "Lines dropped because the store queue was full.", ss.lines_dropped);
    metric(out, "citygate_store_write_duration_seconds", "histogram",
           "Time of successful store writes.");
    for (int i = 0; i < GW_SINK_LATENCY_BUCKETS; i++)
        fprintf(out, "citygate_store_write_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                gw_sink_latency_bounds[i], ss.latency_buckets[i]);
    fprintf(out,
            "citygate_store_write_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
            "citygate_store_write_duration_seconds_sum %.6f\n"
            "citygate_store_write_duration_seconds_count %" PRIu64 "\n",
            ss.writes_timed, (double)ss.write_us_sum / 1e6, ss.writes_timed);

    metric(out, "citygate_alerts_total", "counter", "Alert state changes notified, by new state.");
    static const char *const level[] = {"ok", "warn", "crit"};
    for (int l = 0; l < 3; l++)
        fprintf(out, "citygate_alerts_total{state=\"%s\"} %" PRIu64 "\n", level[l], ps.alerts[l]);
    one(out, "citygate_alerts_published_total", "counter", "Alert messages published on MQTT.",
        alerts_published);
    one(out, "citygate_alerts_outbox_refused_total", "counter",
        "Alert messages not published because the outbox was full.", alerts_unqueued);
    one(out, "citygate_alert_states", "gauge", "(rule, series) states tracked.", rs.n_states);
    if (gw->webhook) {
        struct gw_webhook_stats hs;
        gw_webhook_stats(gw->webhook, &hs);
        one(out, "citygate_webhook_delivered_total", "counter", "Alerts the webhook accepted.",
            hs.delivered);
        one(out, "citygate_webhook_failed_total", "counter",
            "Alerts given up on after every retry, or refused (4xx).", hs.failed + hs.refused);
        one(out, "citygate_webhook_dropped_total", "counter",
            "Alerts dropped because the webhook queue was full.", hs.dropped);
    }

    render_live_metrics(gw, out);

    metric(out, "citygate_build_info", "gauge", "The running version; always 1.");
    fprintf(out, "citygate_build_info{version=\"%s\"} 1\n", CITYGATE_VERSION);
    render_process_metrics(out);

    one(out, "citygate_mqtt_connected", "gauge", "1 while connected to the broker and subscribed.",
        (uint64_t)ms.connected);
    one(out, "citygate_mqtt_connects_total", "counter", "Broker connections made.", ms.connects);
    one(out, "citygate_mqtt_connection_losses_total", "counter", "Broker connections lost.",
        ms.connection_losses);
    return 0;
}
