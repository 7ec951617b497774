/*
 * gateway.h -- the running gateway's parts, shared by main.c (wiring and the
 * clock) and metrics.c (the /metrics page).
 */
#ifndef CITYGATE_GATEWAY_H
#define CITYGATE_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "backoff.h"
#include "config.h"
#include "http.h"
#include "journal.h"
#include "live.h"
#include "lp.h"
#include "mqtt.h"
#include "outbox.h"
#include "pipeline.h"
#include "ready.h"
#include "registry.h"
#include "sink.h"
#include "webhook.h"

struct gw_acks;
struct gw_events;
struct gw_history;
struct gw_nodes;

/* The gateway's totals in the live page's counters event and snapshot (stream.c). */
struct gw_stream_totals {
    uint64_t frames_in, frames_accepted, frames_refused, alerts_published;
};

struct gateway {
    const char *config_path;
    struct gw_config cfg;
    struct gw_registry *reg;
    struct gw_pipeline *pipe;
    struct gw_journal *journal;
    struct gw_sink_config sink_cfg;
    struct gw_sink *sink;
    struct gw_mqtt *mqtt;
    struct gw_webhook *webhook; /* NULL without alerts.webhook */
    struct gw_http *http;
    struct gw_live *live;
    struct gw_events *events;              /* /api/v1/events: its own lock; pushed under lock */
    struct gw_history *history;            /* lane windows of the last hour (stream.c) */
    struct gw_nodes *nodes;                /* what the Nodes view shows of each device (stream.c) */
    struct gw_acks *acks;                  /* acknowledged alerts (acks.h) */
    uint64_t stream_counters_ms;           /* the last counters event */
    struct gw_stream_totals stream_totals; /* the totals the last one carried ... */
    int stream_totals_sent;                /* ... once one was pushed */
    struct gw_ready ready;                 /* /readyz: fixed once the HTTP thread starts */
    pthread_mutex_t lock;        /* pipe, journal, lp buffers, live, outbox, counters below */
    atomic_int arrivals_waiting; /* arrivals blocked on lock: the tick lets them go first */
    struct gw_outbox outbox;     /* alerts waiting to be published (outbox.h) */
    int outbox_busy;             /* a thread is publishing the outbox */
    pthread_cond_t outbox_idle;  /* signalled when outbox_busy falls to 0 */

    struct gw_lpbuf lp[GW_CONFIG_MAX_WIDTHS + 1]; /* one per level, then alerts */
    size_t lp_lines[GW_CONFIG_MAX_WIDTHS + 1];
    char *lp_store;
    struct gw_lp_naming naming;

    uint64_t last_sync_ms, last_snapshot_ms;
    int replay_incomplete; /* recovery: the journal's start is gone and no snapshot restored */
    int journal_full;      /* no room ahead: frames are left at the broker (check_room()) */
    size_t snapshot_bytes; /* the last snapshot's size: room is kept for two more */
    uint64_t journal_errors, quarantined, alerts_published, replayed;
};

/* Writes the Prometheus text exposition of the gateway's counters (HTTP thread). */
int gw_metrics_render(void *ctx, FILE *out);

#endif
