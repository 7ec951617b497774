/*
 * traffic.c -- vehicle records into windows, and the traffic merge rule.
 *
 * Why this shape: a vehicle record becomes ordinary values of ordinary
 * series (speed, length, a count by class), so vehicles get everything the
 * windows already give readings (late rewrites, rollups that are exact
 * merges, snapshots, idempotent store lines) without a second aggregation
 * path. What turns those series into the figures a traffic engineer reads
 * (flow, mean speed, v85, occupancy of a site) lives here, once: the live
 * view, the store writer and the query tool all call gw_traffic_add(),
 * gw_traffic_merge() and gw_traffic_figures(), so a site's v85 can only ever
 * be read from the merge of its lanes' sketches.
 */
#include "traffic.h"

#include <math.h>
#include <string.h>

#include "err.h"

/* Points key at the series of quantity, with the quantile sketch its table row asks for. */
static void fold_series(struct gw_series_key *key, uint32_t quantity, uint32_t vehicle_class)
{
    key->quantity = quantity;
    key->vehicle_class = vehicle_class;
    key->quantiles = gw_quantity_series(quantity)->quantiles;
}

size_t gw_traffic_fold_vehicles(struct gw_windows *w, struct gw_windows_frame *fr,
                                const Citygate__V1__Frame *f)
{
    size_t folded = 0;
    for (size_t i = 0; i < f->n_vehicles; i++) {
        const Citygate__V1__Vehicle *v = f->vehicles[i];
        int64_t ts_ms = (int64_t)f->timestamp_ms + v->offset_ms;
        struct gw_series_key key = {.site = f->site_id,
                                    .node = f->device_id,
                                    .sensor = v->sensor_id ? v->sensor_id : "",
                                    .lane = v->lane};
        fold_series(&key, GW_QUANTITY_VEHICLE_SPEED, 0);
        /* The speed decides: a record the windows refuse there is folded nowhere else. */
        if (gw_windows_frame_add(w, fr, &key, (struct gw_window_value){ts_ms, v->speed_kmh},
                                 NULL) != 0)
            continue;
        folded++;
        fold_series(&key, GW_QUANTITY_VEHICLE_COUNT, (uint32_t)v->vehicle_class);
        gw_windows_frame_add(w, fr, &key, (struct gw_window_value){ts_ms, 1.0}, NULL);
        if (v->length_m > 0) { /* 0: the detector does not measure length */
            fold_series(&key, GW_QUANTITY_VEHICLE_LENGTH, 0);
            gw_windows_frame_add(w, fr, &key, (struct gw_window_value){ts_ms, v->length_m}, NULL);
        }
        if (v->headway_ms > 0) { /* 0: unknown, as for a lane's first vehicle */
            fold_series(&key, GW_QUANTITY_VEHICLE_HEADWAY, 0);
            gw_windows_frame_add(w, fr, &key,
                                 (struct gw_window_value){ts_ms, v->headway_ms / 1000.0}, NULL);
            fold_series(&key, GW_QUANTITY_VEHICLE_HEADWAY_SHORT, 0);
            gw_windows_frame_add(
                w, fr, &key,
                (struct gw_window_value){ts_ms,
                                         v->headway_ms < GW_TRAFFIC_SHORT_HEADWAY_MS ? 1.0 : 0.0},
                NULL);
        }
    }
    return folded;
}

void gw_traffic_init(struct gw_traffic *t)
{
    memset(t, 0, sizeof *t);
    t->speed_min = INFINITY;
    t->speed_max = -INFINITY;
    gw_qsketch_init(&t->speed);
}

void gw_traffic_fini(struct gw_traffic *t)
{
    if (t)
        gw_qsketch_fini(&t->speed);
}

void gw_traffic_reset(struct gw_traffic *t)
{
    struct gw_qsketch speed = t->speed;
    memset(t, 0, sizeof *t);
    t->speed_min = INFINITY;
    t->speed_max = -INFINITY;
    t->speed = speed;
    gw_qsketch_reset(&t->speed);
}

int gw_traffic_add(struct gw_traffic *t, const struct gw_aggregate *a)
{
    uint32_t q = a->key.quantity;
    const struct gw_quantity *qi = gw_quantity_series(q);
    if (!qi || qi->merge == GW_MERGE_NONE)
        return 0; /* its lanes are read one by one (quantity.h) */
    switch (q) {
    case GW_QUANTITY_VEHICLE_SPEED: {
        if (!a->sketch || gw_qsketch_count(a->sketch) != a->count)
            return GW_EINVAL;
        int rc = gw_qsketch_merge(&t->speed, a->sketch);
        if (rc)
            return rc;
        t->vehicles += a->count;
        t->speed_sum += a->sum;
        if (a->count) {
            t->speed_min = fmin(t->speed_min, a->min);
            t->speed_max = fmax(t->speed_max, a->max);
        }
        break;
    }
    case GW_QUANTITY_VEHICLE_LENGTH:
        t->lengths += a->count;
        t->length_sum += a->sum;
        break;
    case GW_QUANTITY_VEHICLE_COUNT:
        t->by_class[a->key.vehicle_class < 8 ? a->key.vehicle_class : 0] += a->count;
        break;
    case GW_QUANTITY_VEHICLE_HEADWAY:
        t->headways += a->count;
        t->headway_sum += a->sum;
        break;
    case GW_QUANTITY_VEHICLE_HEADWAY_SHORT:
        t->headway_checks += a->count;
        t->headways_short += a->sum;
        break;
    case CITYGATE__V1__QUANTITY__TRAFFIC_VOLUME:
        t->volume_windows++;
        t->volume += a->sum;
        break;
    case CITYGATE__V1__QUANTITY__OCCUPANCY:
        if (a->count == 0)
            return 0;
        t->occupancy_windows++;
        t->occupancy_sum += a->sum / a->count;
        break;
    case CITYGATE__V1__QUANTITY__SPEED:
        t->interval_speeds += a->count;
        t->interval_speed_sum += a->sum;
        break;
    default:
        return 0;
    }
    t->windows++;
    return 0;
}

int gw_traffic_merge(struct gw_traffic *dst, const struct gw_traffic *src)
{
    int rc = gw_qsketch_merge(&dst->speed, &src->speed);
    if (rc)
        return rc;
    dst->windows += src->windows;
    dst->vehicles += src->vehicles;
    dst->speed_sum += src->speed_sum;
    dst->speed_min = fmin(dst->speed_min, src->speed_min);
    dst->speed_max = fmax(dst->speed_max, src->speed_max);
    dst->lengths += src->lengths;
    dst->length_sum += src->length_sum;
    for (size_t i = 0; i < sizeof dst->by_class / sizeof dst->by_class[0]; i++)
        dst->by_class[i] += src->by_class[i];
    dst->volume_windows += src->volume_windows;
    dst->volume += src->volume;
    dst->occupancy_windows += src->occupancy_windows;
    dst->occupancy_sum += src->occupancy_sum;
    dst->interval_speeds += src->interval_speeds;
    dst->interval_speed_sum += src->interval_speed_sum;
    dst->headways += src->headways;
    dst->headway_sum += src->headway_sum;
    dst->headway_checks += src->headway_checks;
    dst->headways_short += src->headways_short;
    return 0;
}

void gw_traffic_figures(const struct gw_traffic *t, int64_t width_ms,
                        struct gw_traffic_figures *out)
{
    static const double q[4] = {0.15, 0.50, 0.85, 0.95};
    double v[4];
    double per_hour = 3600000.0 / (double)width_ms;

    memset(out, 0, sizeof *out);
    out->windows = t->windows;
    out->vehicles = t->vehicles;
    if (t->volume_windows) {
        out->has |= GW_TF_FLOW;
        out->flow_vph = t->volume * per_hour;
    } else if (t->vehicles) {
        out->has |= GW_TF_FLOW;
        out->flow_vph = (double)t->vehicles * per_hour;
    }
    if (t->vehicles)
        out->has |= GW_TF_VEHICLES;
    if (t->vehicles && gw_qsketch_quantiles(&t->speed, q, 4, v) == 0) {
        out->has |= GW_TF_SPEED;
        out->speed_mean_kmh = t->speed_sum / (double)t->vehicles;
        /* The sketch's value for a bucket may lie outside the values it holds. */
        out->v15_kmh = fmin(fmax(v[0], t->speed_min), t->speed_max);
        out->v50_kmh = fmin(fmax(v[1], t->speed_min), t->speed_max);
        out->v85_kmh = fmin(fmax(v[2], t->speed_min), t->speed_max);
        out->v95_kmh = fmin(fmax(v[3], t->speed_min), t->speed_max);
    }
    if (t->lengths) {
        out->has |= GW_TF_LENGTH;
        out->length_mean_m = t->length_sum / (double)t->lengths;
    }
    if (t->occupancy_windows) {
        out->has |= GW_TF_OCCUPANCY;
        out->occupancy_pct = t->occupancy_sum / t->occupancy_windows;
    }
    if (t->interval_speeds) {
        out->has |= GW_TF_INTERVAL_SPEED;
        out->speed_interval_mean_kmh = t->interval_speed_sum / (double)t->interval_speeds;
    }
    if (t->headways) {
        out->has |= GW_TF_HEADWAY;
        out->headway_mean_s = t->headway_sum / (double)t->headways;
    }
    if (t->headway_checks) {
        out->has |= GW_TF_HEADWAY_SHORT;
        out->headway_short_share = t->headways_short / (double)t->headway_checks;
    }
}
