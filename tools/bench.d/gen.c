/*
 * gen.c -- bench_gen: the device registry and the frame corpus of a bench
 * run, from a seed.
 *
 * The registry is written exactly as `citysim --registry` writes it (ids
 * node-0001.., sites site-00.. in turn, key = HMAC-SHA256(fleet key, device
 * id), the public demo fleet key by default), so either tool's file serves.
 * Frames imitate citysim's nodes: one sensor per node from --mix, one frame
 * per node and interval, signed with the wire library. A traffic node is a
 * two-lane loop detector: per lane volume, occupancy and (when a vehicle
 * passed) speed, one vehicle record per counted vehicle, and the node's
 * health; the other kinds carry
 * the quantities of citysim's sim drivers with plausible values. Frames go
 * out round-robin over the nodes (all seq 1, then all seq 2, ...), as a
 * fleet sampling in step publishes them, with timestamps ts_base + (seq - 1)
 * x interval.
 *
 * Only the timestamp base (and with it the tag) depends on the clock: the
 * same seed gives the same readings, sizes and order, so a live run and the
 * core replay feed frames of identical shape.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cli.h"
#include "corpus.h"
#include "wire.h"

#define PROG "bench_gen"
/* citysim's public demo fleet key: the 32 ASCII bytes "citygate demo fleet key (public)". */
#define DEMO_FLEET_KEY "citygate demo fleet key (public)"
#define MAX_READINGS 16
#define MAX_VEHICLES 16
#define MAX_MIX 16
#define TRIP_SPEED_KMH 2.0 /* below the bench rule's warn threshold (tools/bench) */

/* One reading of a non-traffic kind: a value drawn in [lo, hi]. */
struct reading_spec {
    Citygate__V1__Quantity quantity;
    Citygate__V1__Unit unit;
    uint32_t lane;
    double lo, hi;
};

struct kind {
    const char *name;   /* as in citysim --mix */
    const char *sensor; /* the sensor id in readings and in the registry */
    struct reading_spec readings[MAX_READINGS];
    size_t n_readings; /* 0 for traffic, which is built by traffic_readings() */
};

#define Q(x) CITYGATE__V1__QUANTITY__##x
#define U(x) CITYGATE__V1__UNIT__##x
static const struct kind kinds[] = {
    {"traffic", "loop-1", {{0}}, 0},
    {"air",
     "air-1",
     {{Q(PM2_5), U(MICROGRAMS_PER_CUBIC_METRE), 0, 3, 45},
      {Q(PM10), U(MICROGRAMS_PER_CUBIC_METRE), 0, 8, 70},
      {Q(NO2), U(MICROGRAMS_PER_CUBIC_METRE), 0, 10, 90},
      {Q(O3), U(MICROGRAMS_PER_CUBIC_METRE), 0, 20, 110},
      {Q(TEMPERATURE), U(DEGREES_CELSIUS), 0, -2, 31},
      {Q(HUMIDITY), U(PERCENT), 0, 30, 95}},
     6},
    {"noise", "noise-1", {{Q(NOISE), U(DECIBEL_A), 0, 48, 82}}, 1},
    {"strain",
     "strain-1",
     {{Q(STRAIN), U(MICROSTRAIN), 1, -250, 250},
      {Q(STRAIN), U(MICROSTRAIN), 2, -250, 250},
      {Q(TEMPERATURE), U(DEGREES_CELSIUS), 0, -2, 31},
      {Q(VIBRATION), U(MILLIMETRES_PER_SECOND), 0, 0.1, 4},
      {Q(TILT), U(DEGREES), 0, -0.5, 0.5}},
     5},
    {"parking",
     "parking-1",
     {{Q(PARKING_OCCUPIED), U(SPACES), 0, 0, 240}, {Q(PARKING_FREE), U(SPACES), 0, 0, 240}},
     2},
    {"tunnel",
     "tunnel-1",
     {{Q(TUNNEL_CO), U(PARTS_PER_MILLION), 0, 1, 40},
      {Q(TUNNEL_VISIBILITY), U(PER_KILOMETRE), 0, 0.1, 4},
      {Q(FAN_STATE), U(STATE), 1, 0, 1},
      {Q(FAN_STATE), U(STATE), 2, 0, 1},
      {Q(FAN_STATE), U(STATE), 3, 0, 1},
      {Q(FAN_STATE), U(STATE), 4, 0, 1}},
     6},
    {"power",
     "power-1",
     {{Q(POWER), U(KILOWATTS), 0, 20, 480},
      {Q(ENERGY), U(KILOWATT_HOURS), 0, 1e5, 1e5},
      {Q(VOLTAGE), U(VOLTS), 1, 225, 236},
      {Q(VOLTAGE), U(VOLTS), 2, 225, 236},
      {Q(VOLTAGE), U(VOLTS), 3, 225, 236},
      {Q(CURRENT), U(AMPERES), 1, 5, 120},
      {Q(CURRENT), U(AMPERES), 2, 5, 120},
      {Q(CURRENT), U(AMPERES), 3, 5, 120}},
     8},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

struct opts {
    const char *registry, *corpus;
    uint64_t devices, frames, first_seq, sites, seed, ts_base, interval_ms, trip_every, boot_salt;
    int trip_last;
    size_t mix[MAX_MIX], n_mix;
    uint8_t fleet_key[WIRE_MAX_KEY_BYTES];
    size_t fleet_key_len;
};

/* splitmix64: the same small generator citysim uses for its streams. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static void device_id(uint64_t i, char *out, size_t cap)
{
    snprintf(out, cap, "node-%04" PRIu64, i + 1);
}

static void site_id(const struct opts *o, uint64_t i, char *out, size_t cap)
{
    snprintf(out, cap, "site-%02" PRIu64, i % o->sites);
}

static int derive_key(const struct opts *o, const char *id, uint8_t key[32])
{
    unsigned len = 32;
    return HMAC(EVP_sha256(), o->fleet_key, (int)o->fleet_key_len, (const uint8_t *)id, strlen(id),
                key, &len) &&
                   len == 32
               ? 0
               : -1;
}

static int write_registry(const struct opts *o)
{
    FILE *f = fopen(o->registry, "w");
    if (!f)
        return -1;
    fprintf(f,
            "# citygate device registry, written by " PROG ": one [device ID] section per node.\n"
            "# key = HMAC-SHA256(fleet key, device id), in hex. Keep this file secret.\n");
    for (uint64_t i = 0; i < o->devices; i++) {
        char id[32], site[32];
        uint8_t key[32];
        device_id(i, id, sizeof id);
        site_id(o, i, site, sizeof site);
        if (derive_key(o, id, key) != 0) {
            fclose(f);
            return -1;
        }
        fprintf(f, "\n[device %s]\nsite = %s\nkey = ", id, site);
        for (int b = 0; b < 32; b++)
            fprintf(f, "%02x", key[b]);
        fprintf(f, "\nsensors = %s\n", kinds[o->mix[i % o->n_mix]].sensor);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* What one frame is built from; the protobuf structs point into it. */
struct frame_parts {
    Citygate__V1__Frame f;
    Citygate__V1__Health h;
    Citygate__V1__Reading r[MAX_READINGS], *rp[MAX_READINGS];
    Citygate__V1__Vehicle v[MAX_VEHICLES], *vp[MAX_VEHICLES];
};

static Citygate__V1__Reading *add_reading(struct frame_parts *p, const char *sensor,
                                          Citygate__V1__Quantity q, Citygate__V1__Unit u,
                                          uint32_t lane, double value)
{
    Citygate__V1__Reading *r = &p->r[p->f.n_readings];
    citygate__v1__reading__init(r);
    r->quantity = q;
    r->unit = u;
    r->value = value;
    r->quality = CITYGATE__V1__QUALITY__GOOD;
    r->lane = lane;
    r->sensor_id = (char *)sensor;
    p->rp[p->f.n_readings++] = r;
    return r;
}

/*
 * A two-lane loop detector over one interval: 0..3 vehicles per lane (the
 * nearside lane busier), the share of the interval they stood over the
 * loop, their mean speed when there were any, and one record per vehicle. trip slows lane 1 to a
 * crawl, with at least one vehicle, to trip the bench's alert rule.
 */
static void traffic_readings(struct frame_parts *p, uint64_t *rng, const char *sensor,
                             uint32_t interval_ms, int trip)
{
    for (uint32_t lane = 1; lane <= 2; lane++) {
        double u = rng_unit(rng);
        unsigned n = u < 0.5 ? 0 : u < 0.85 ? 1 : u < (lane == 1 ? 0.96 : 0.98) ? 2 : 3;
        double speed = (lane == 1 ? 38.0 : 46.0) + 18.0 * rng_unit(rng), occupied_ms = 0;
        if (trip && lane == 1) {
            n = n ? n : 1;
            speed = TRIP_SPEED_KMH;
        }
        for (unsigned k = 0; k < n && p->f.n_vehicles < MAX_VEHICLES; k++) {
            Citygate__V1__Vehicle *v = &p->v[p->f.n_vehicles];
            double length = rng_unit(rng) < 0.9 ? 3.8 + 1.6 * rng_unit(rng) : 9 + 8 * rng_unit(rng);
            citygate__v1__vehicle__init(v);
            v->offset_ms = -(int32_t)(rng_next(rng) % interval_ms);
            v->lane = lane;
            v->speed_kmh = (float)(speed * (0.9 + 0.2 * rng_unit(rng)));
            v->length_m = (float)length;
            v->vehicle_class =
                length > 9 ? CITYGATE__V1__VEHICLE_CLASS__TRUCK : CITYGATE__V1__VEHICLE_CLASS__CAR;
            v->sensor_id = (char *)sensor;
            occupied_ms += (length + 2.0) / (v->speed_kmh / 3.6) * 1000.0;
            p->vp[p->f.n_vehicles++] = v;
        }
        double occupancy = occupied_ms / interval_ms * 100.0;
        add_reading(p, sensor, Q(TRAFFIC_VOLUME), U(VEHICLES), lane, n);
        add_reading(p, sensor, Q(OCCUPANCY), U(PERCENT), lane, occupancy > 100 ? 100 : occupancy);
        if (n > 0) /* as citysim: no speed without a vehicle */
            add_reading(p, sensor, Q(SPEED), U(KILOMETRES_PER_HOUR), lane, speed);
    }
}

static void kind_readings(struct frame_parts *p, uint64_t *rng, const struct kind *k, uint64_t seq)
{
    for (size_t i = 0; i < k->n_readings; i++) {
        const struct reading_spec *s = &k->readings[i];
        double v = s->lo + (s->hi - s->lo) * rng_unit(rng);
        if (s->quantity == Q(FAN_STATE))
            v = v < 0.5 ? 0 : 1;
        if (s->quantity == Q(ENERGY))
            v = s->lo + 0.05 * (double)seq; /* a meter register only counts up */
        add_reading(p, k->sensor, s->quantity, s->unit, s->lane, v);
    }
}

static int write_corpus(const struct opts *o)
{
    struct bench_corpus_writer w;
    static uint8_t keys[32 * 100000];
    uint8_t buf[BENCH_FRAME_MAX];
    uint64_t bytes = 0, trips = 0;

    if (o->devices > sizeof keys / 32) {
        fprintf(stderr, PROG ": a corpus holds at most %zu devices\n", sizeof keys / 32);
        return -1;
    }
    for (uint64_t d = 0; d < o->devices; d++) {
        char id[32];
        device_id(d, id, sizeof id);
        if (derive_key(o, id, keys + 32 * d) != 0)
            return -1;
    }
    if (bench_corpus_create(&w, o->corpus) != 0)
        return -1;
    uint64_t last_seq = o->first_seq + o->frames - 1;
    for (uint64_t seq = o->first_seq; seq <= last_seq; seq++) {
        for (uint64_t d = 0; d < o->devices; d++) {
            const struct kind *k = &kinds[o->mix[d % o->n_mix]];
            uint64_t rng = o->seed * 0x100000001b3ULL ^ (d << 24) ^ seq;
            uint64_t boot = rng_next(&(uint64_t){o->seed ^ (d << 20) ^ (o->boot_salt << 48)});
            int trip =
                k->n_readings == 0 && ((o->trip_every && (d + seq * 7) % o->trip_every == 0) ||
                                       (o->trip_last && seq == last_seq && d == o->devices - 1));
            char id[32], site[32], topic[BENCH_TOPIC_MAX];
            struct frame_parts p;
            size_t len = 0;

            device_id(d, id, sizeof id);
            site_id(o, d, site, sizeof site);
            citygate__v1__frame__init(&p.f);
            citygate__v1__health__init(&p.h);
            p.f.device_id = id;
            p.f.site_id = site;
            p.f.boot_id = boot | 1;
            p.f.seq = seq;
            p.f.timestamp_ms = o->ts_base + (seq - 1) * o->interval_ms;
            p.f.interval_ms = (uint32_t)o->interval_ms;
            p.f.readings = p.rp;
            p.f.vehicles = p.vp;
            p.h.uptime_s = 3600 + seq * o->interval_ms / 1000;
            p.h.firmware_version = "citysim-0.2.0";
            p.h.free_storage_bytes = 16384;
            p.f.health = &p.h;
            if (k->n_readings == 0)
                traffic_readings(&p, &rng, k->sensor, (uint32_t)o->interval_ms, trip);
            else
                kind_readings(&p, &rng, k, seq);
            snprintf(topic, sizeof topic, "city/v1/%s/%s/data", site, id);
            if (wire_encode(&p.f, keys + 32 * d, 32, buf, sizeof buf, &len) != 0 ||
                bench_corpus_append(&w, topic, buf, len, p.f.timestamp_ms,
                                    trip ? BENCH_FRAME_TRIP : 0) != 0) {
                bench_corpus_close(&w);
                return -1;
            }
            bytes += len;
            trips += (uint64_t)trip;
        }
    }
    printf("frames=%" PRIu64 " mean_bytes=%.1f trips=%" PRIu64 "\n", (uint64_t)w.n,
           w.n ? (double)bytes / w.n : 0.0, trips);
    return bench_corpus_close(&w);
}

static int parse_mix(struct opts *o, const char *list)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    o->n_mix = 0;
    for (char *p = buf; *p && o->n_mix < MAX_MIX;) {
        char *item = p;
        p += strcspn(p, ",");
        if (*p)
            *p++ = '\0';
        size_t k = 0;
        while (k < N_KINDS && strcmp(kinds[k].name, item) != 0)
            k++;
        if (k == N_KINDS)
            return -1;
        o->mix[o->n_mix++] = k;
    }
    return o->n_mix ? 0 : -1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--registry FILE] [--corpus FILE] [OPTION]...\n"
            "Writes a citysim-format device registry and/or a corpus of signed frames.\n\n"
            "  --devices N        devices node-0001.. (default 1000)\n"
            "  --frames N         frames per device in the corpus (default 1)\n"
            "  --first-seq N      sequence number of each device's first frame (default 1)\n"
            "  --sites N          sites, device i on site-<i mod N> (default 20)\n"
            "  --seed N           readings and boot ids (default 1)\n"
            "  --ts-base MS       timestamp of seq 1 (default: now)\n"
            "  --interval-ms MS   timestamp step between a device's frames (default 1000)\n"
            "  --mix LIST         kinds in turn: traffic, air, noise, strain, parking, tunnel,\n"
            "                     power (default traffic)\n"
            "  --trip-every K     about one traffic frame in K slows lane 1 to %.0f km/h (default "
            "0)\n"
            "  --trip-last        the corpus's last frame (a traffic node's) trips the rule too\n"
            "  --boot-salt N      varies the boot ids, for another boot of the same fleet\n"
            "  --fleet-key HEX    fleet key (default citysim's public demo key)\n"
            "Prints frames=, mean_bytes= and trips= for a corpus.\n",
            TRIP_SPEED_KMH);
}

int main(int argc, char **argv)
{
    enum {
        O_REG = 256,
        O_CORPUS,
        O_DEV,
        O_FRAMES,
        O_FIRST,
        O_TRIP_LAST,
        O_SITES,
        O_SEED,
        O_TS,
        O_IVL,
        O_MIX,
        O_TRIP,
        O_SALT,
        O_KEY
    };
    static const struct option lopts[] = {
        {"registry", required_argument, NULL, O_REG},
        {"corpus", required_argument, NULL, O_CORPUS},
        {"devices", required_argument, NULL, O_DEV},
        {"frames", required_argument, NULL, O_FRAMES},
        {"first-seq", required_argument, NULL, O_FIRST},
        {"trip-last", no_argument, NULL, O_TRIP_LAST},
        {"sites", required_argument, NULL, O_SITES},
        {"seed", required_argument, NULL, O_SEED},
        {"ts-base", required_argument, NULL, O_TS},
        {"interval-ms", required_argument, NULL, O_IVL},
        {"mix", required_argument, NULL, O_MIX},
        {"trip-every", required_argument, NULL, O_TRIP},
        {"boot-salt", required_argument, NULL, O_SALT},
        {"fleet-key", required_argument, NULL, O_KEY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {
        .devices = 1000, .frames = 1, .first_seq = 1, .sites = 20, .seed = 1, .interval_ms = 1000};
    int c, rc;

    o.ts_base = bench_wall_ms();
    memcpy(o.fleet_key, DEMO_FLEET_KEY, 32);
    o.fleet_key_len = 32;
    parse_mix(&o, "traffic");
    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case O_REG:
            o.registry = optarg;
            break;
        case O_CORPUS:
            o.corpus = optarg;
            break;
        case O_DEV:
            if (cli_uint_arg("--devices", optarg, 1, 1000000, &o.devices))
                return EX_USAGE;
            break;
        case O_FRAMES:
            if (cli_uint_arg("--frames", optarg, 1, 100000000, &o.frames))
                return EX_USAGE;
            break;
        case O_FIRST:
            if (cli_uint_arg("--first-seq", optarg, 1, 100000000, &o.first_seq))
                return EX_USAGE;
            break;
        case O_TRIP_LAST:
            o.trip_last = 1;
            break;
        case O_SITES:
            if (cli_uint_arg("--sites", optarg, 1, 10000, &o.sites))
                return EX_USAGE;
            break;
        case O_SEED:
            if (cli_uint_arg("--seed", optarg, 0, UINT64_MAX, &o.seed))
                return EX_USAGE;
            break;
        case O_TS:
            if (cli_uint_arg("--ts-base", optarg, 1, UINT64_MAX / 2, &o.ts_base))
                return EX_USAGE;
            break;
        case O_IVL:
            if (cli_uint_arg("--interval-ms", optarg, 1, 86400000, &o.interval_ms))
                return EX_USAGE;
            break;
        case O_MIX:
            if (parse_mix(&o, optarg) != 0) {
                fprintf(stderr, PROG ": --mix: unknown kind in '%s'\n", optarg);
                return 64;
            }
            break;
        case O_TRIP:
            if (cli_uint_arg("--trip-every", optarg, 0, 1000000, &o.trip_every))
                return EX_USAGE;
            break;
        case O_SALT:
            if (cli_uint_arg("--boot-salt", optarg, 0, 65535, &o.boot_salt))
                return EX_USAGE;
            break;
        case O_KEY:
            rc = wire_key_from_hex(optarg, o.fleet_key);
            if (rc < 0) {
                fprintf(stderr, PROG ": --fleet-key needs 16..64 bytes in hex\n");
                return 64;
            }
            o.fleet_key_len = (size_t)rc;
            break;
        default:
            bench_usage_exit(usage, c == 'h' ? 0 : 64);
        }
    }
    if (optind != argc || (!o.registry && !o.corpus))
        bench_usage_exit(usage, 64);
    if (o.registry && write_registry(&o) != 0) {
        perror(PROG ": registry");
        return 74;
    }
    if (o.corpus && write_corpus(&o) != 0) {
        perror(PROG ": corpus");
        return 74;
    }
    return 0;
}
