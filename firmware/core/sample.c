/*
 * sample.c -- the sampler: sensors in, two signed encodings of one frame out.
 *
 * Each sampling asks every sensor's driver for its readings (and vehicles)
 * into fixed scratch arrays, copies them into the protobuf frame with the
 * sensor's name as sensor_id, and signs the frame twice with the wire
 * library: once as a live frame and once with the backlog flag set. The
 * backlog flag is inside the signed body, so a frame that may end up in the
 * ring must be signed with it; encoding both up front (two HMACs of a few
 * hundred bytes) lets the node decide where the frame goes, and take an
 * unconfirmed live frame back into the ring later, without keeping the
 * readings or decoding its own frames. All memory is allocated once, sized
 * by the configuration's caps.
 */
#include "node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

struct node__sampler {
    const struct node_config *cfg;
    void **state; /* one per sensor; NULL when not open */
    struct drv_reading *dr;
    struct drv_vehicle *dv;
    Citygate__V1__Reading *pr, **prp;
    Citygate__V1__Vehicle *pv, **pvp;
    uint8_t *live, *stored;
};

void node__sampler_free(struct node__sampler *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->state && i < s->cfg->n_sensors; i++)
        if (s->state[i])
            s->cfg->sensors[i].ops->close(s->state[i]);
    free(s->state);
    free(s->dr);
    free(s->dv);
    free(s->pr);
    free(s->prp);
    free(s->pv);
    free(s->pvp);
    free(s->live);
    free(s->stored);
    free(s);
}

int node__sampler_new(const struct node_config *cfg, struct node__sampler **out,
                      struct node_diag *diag)
{
    size_t nr = cfg->n_sensors * cfg->max_readings_per_sensor;
    size_t nv = cfg->n_sensors * cfg->max_vehicles_per_sensor;
    int rc = -NODE_ENOMEM;
    struct node__sampler *s = calloc(1, sizeof *s);
    if (!s)
        goto out;
    s->cfg = cfg;
    s->state = calloc(cfg->n_sensors ? cfg->n_sensors : 1, sizeof *s->state);
    s->dr = calloc(cfg->max_readings_per_sensor ? cfg->max_readings_per_sensor : 1, sizeof *s->dr);
    s->dv = calloc(cfg->max_vehicles_per_sensor ? cfg->max_vehicles_per_sensor : 1, sizeof *s->dv);
    s->pr = calloc(nr ? nr : 1, sizeof *s->pr);
    s->prp = calloc(nr ? nr : 1, sizeof *s->prp);
    s->pv = calloc(nv ? nv : 1, sizeof *s->pv);
    s->pvp = calloc(nv ? nv : 1, sizeof *s->pvp);
    s->live = malloc(cfg->max_frame_bytes);
    s->stored = malloc(cfg->max_frame_bytes);
    if (!s->state || !s->dr || !s->dv || !s->pr || !s->prp || !s->pv || !s->pvp || !s->live ||
        !s->stored) {
        snprintf(diag->text, sizeof diag->text, "out of memory for the sampler");
        goto out;
    }
    for (size_t i = 0; i < cfg->n_sensors; i++) {
        const struct node_sensor_config *sc = &cfg->sensors[i];
        struct drv_diag dd = {{0}};
        int drc = sc->ops->open(sc->params, sc->n_params, &s->state[i], &dd);
        if (drc != 0) {
            s->state[i] = NULL;
            snprintf(diag->text, sizeof diag->text, "sensor %s (driver %s): %s", sc->name,
                     sc->driver, dd.text[0] ? dd.text : "cannot open");
            rc = -NODE_EDRIVER;
            goto out;
        }
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    node__sampler_free(s);
    return rc;
}

/* Samples sensor i and appends its readings and vehicles to the frame's arrays. */
static int sample_one(struct node__sampler *s, size_t i, const struct node__frame_meta *m,
                      Citygate__V1__Frame *f)
{
    const struct node_sensor_config *sc = &s->cfg->sensors[i];
    struct drv_sample out = {s->dr, 0, s->cfg->max_readings_per_sensor,
                             s->dv, 0, s->cfg->max_vehicles_per_sensor};
    int rc = sc->ops->sample(s->state[i], m->timestamp_ms, m->interval_ms, &out);
    if (out.n_readings > out.cap_readings)
        out.n_readings = out.cap_readings;
    if (out.n_vehicles > out.cap_vehicles)
        out.n_vehicles = out.cap_vehicles;
    for (size_t k = 0; k < out.n_readings; k++) {
        Citygate__V1__Reading *r = &s->pr[f->n_readings];
        citygate__v1__reading__init(r);
        r->quantity = s->dr[k].quantity;
        r->unit = s->dr[k].unit;
        r->value = s->dr[k].value;
        r->quality = s->dr[k].quality;
        r->lane = s->dr[k].lane;
        r->vehicle_class = s->dr[k].vehicle_class;
        r->sensor_id = (char *)sc->name;
        s->prp[f->n_readings++] = r;
    }
    for (size_t k = 0; k < out.n_vehicles; k++) {
        Citygate__V1__Vehicle *v = &s->pv[f->n_vehicles];
        citygate__v1__vehicle__init(v);
        v->offset_ms = s->dv[k].offset_ms;
        v->lane = s->dv[k].lane;
        v->speed_kmh = s->dv[k].speed_kmh;
        v->length_m = s->dv[k].length_m;
        v->vehicle_class = s->dv[k].vehicle_class;
        v->headway_ms = s->dv[k].headway_ms;
        v->sensor_id = (char *)sc->name;
        s->pvp[f->n_vehicles++] = v;
    }
    return rc;
}

int node__sampler_frame(struct node__sampler *s, const struct node__frame_meta *m,
                        struct node__encoded *enc, const char **failed)
{
    const struct node_config *cfg = s->cfg;
    Citygate__V1__Frame f = CITYGATE__V1__FRAME__INIT;
    Citygate__V1__Health h = CITYGATE__V1__HEALTH__INIT;
    int rc = 0;

    f.device_id = (char *)cfg->device_id;
    f.site_id = (char *)cfg->site_id;
    f.boot_id = m->boot_id;
    f.seq = m->seq;
    f.timestamp_ms = m->timestamp_ms;
    f.interval_ms = m->interval_ms;
    f.readings = s->prp;
    f.vehicles = s->pvp;
    h.uptime_s = m->uptime_s;
    h.firmware_version = (char *)cfg->firmware_version;
    h.free_storage_bytes = m->free_storage_bytes;
    h.backlog_frames = m->backlog_frames;
    h.backlog_dropped = m->backlog_dropped;
    f.health = &h;
    *failed = NULL;
    for (size_t i = 0; i < cfg->n_sensors; i++) {
        if (sample_one(s, i, m, &f) != 0 && !*failed) {
            *failed = cfg->sensors[i].name;
            rc = -NODE_EDRIVER;
        }
    }
    f.backlog = 0;
    if (wire_encode(&f, cfg->key, cfg->key_len, s->live, cfg->max_frame_bytes, &enc->live_len))
        return -NODE_ETOOBIG;
    f.backlog = 1;
    if (wire_encode(&f, cfg->key, cfg->key_len, s->stored, cfg->max_frame_bytes, &enc->stored_len))
        return -NODE_ETOOBIG;
    enc->live = s->live;
    enc->stored = s->stored;
    return rc;
}
