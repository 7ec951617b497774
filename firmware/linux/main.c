/*
 * main.c -- citynode, the edge-node program: provisioning file in, signed
 * frames out over MQTT with store-and-forward (docs/firmware.md).
 *
 * This file only wires things together: it reads the provisioning file,
 * resolves the sensor drivers, opens the ring file, creates the Paho uplink
 * and the node core, and runs the loop that ticks the node at its next
 * deadline and delivers the uplink's events in between. SIGTERM and SIGINT
 * end the loop: the node publishes its death message, waits (bounded) for
 * unconfirmed frames, takes back the rest into the ring and makes the ring
 * durable. A reboot command re-executes the program after the same clean
 * shutdown, which gives a new boot id.
 *
 * Run by the boot stage (citynode-boot, which sets CITYNODE_BOOT_DIR), the
 * node confirms the image it runs once confirm_frames live frames of this
 * boot were confirmed by the broker (QoS 1 PUBACK): it has sampled, signed,
 * connected with its credentials and delivered. An image that never gets
 * there is not confirmed, and the boot stage reverts it after its trial.
 * The gateway sends nothing back to a node for a frame, so the broker's
 * confirmation is the last observable step the node has (docs/firmware.md,
 * "Self-confirmation").
 *
 * Under the boot stage the node also takes firmware updates over MQTT into
 * the inactive slot (update_port.h, held to the boot stage's keys, slot
 * size and hardware class), and a reboot ends the program with status 0
 * instead of re-executing it, so that the boot stage decides what boots next.
 *
 * Exit codes (sysexits): 0 done, 64 usage, 69 uplink unavailable, 70
 * internal error, 74 ring file I/O, 78 provisioning file or sensor error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot_store.h"
#include "cli.h"
#include "driver.h"
#include "hal_linux.h"
#include "net_paho.h"
#include "node.h"
#include "provision.h"
#include "update_port.h"

#ifndef CITYNODE_VERSION
#define CITYNODE_VERSION "0.0.0"
#endif

#define EX_OK 0
#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_IOERR 74
#define EX_CONFIG 78

#define MAX_WAIT_MS 100
#define SHUTDOWN_DEADLINE_MS 3000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: citynode -c FILE [--check-config]\n"
            "\n"
            "The citygate edge node: samples its sensors, publishes signed frames over MQTT\n"
            "and keeps them in an on-disk ring while the broker is unreachable.\n"
            "\n"
            "  -c, --config FILE    the provisioning file (INI)\n"
            "      --check-config   check the provisioning file and the sensor drivers, then exit\n"
            "                       (0 valid, 78 invalid with file and line)\n"
            "  -h, --help           this text\n"
            "      --version        the firmware version\n"
            "\n"
            "Exit codes: 0 ok, 64 usage, 69 uplink unavailable, 70 internal error,\n"
            "74 ring file I/O error, 78 provisioning or sensor error.\n"
            "\n");
    prov_print_keys(f);
}

/* Resolves the drivers of every sensor into cfg_sensors; 0, or EX_CONFIG after a message. */
static int resolve_sensors(const char *path, const struct prov *p,
                           struct node_sensor_config *sensors)
{
    for (size_t i = 0; i < p->n_sensors; i++) {
        const struct prov_sensor *s = &p->sensors[i];
        const struct drv_ops *ops = drv_find(s->driver);
        if (!ops) {
            fprintf(stderr, "citynode: %s: [sensor %s]: unknown driver \"%s\"\n", path, s->name,
                    s->driver);
            return EX_CONFIG;
        }
        sensors[i] = (struct node_sensor_config){s->name, s->driver, ops, s->params, s->n_params};
    }
    return 0;
}

/* --check-config: opens every sensor's driver as the start would (its
 * parameters checked, its register map loaded) and closes it again; drivers
 * touch no device before their first sample. 0, or EX_CONFIG after a message
 * naming the sensor's section. */
static int open_sensors(const char *path, const struct prov *p,
                        const struct node_sensor_config *sensors)
{
    for (size_t i = 0; i < p->n_sensors; i++) {
        struct drv_diag diag = {{0}};
        void *state = NULL;
        if (sensors[i].ops->open(sensors[i].params, sensors[i].n_params, &state, &diag) != 0) {
            fprintf(stderr, "citynode: %s:%d: [sensor %s] (driver %s): %s\n", path,
                    p->sensors[i].line, p->sensors[i].name, p->sensors[i].driver,
                    diag.text[0] ? diag.text : "cannot open");
            return EX_CONFIG;
        }
        sensors[i].ops->close(state);
    }
    return 0;
}

static void node_config_from(const struct prov *p, const struct node_sensor_config *sensors,
                             struct node_config *c)
{
    node_config_defaults(c);
    c->device_id = p->id;
    c->site_id = p->site;
    c->key = p->key;
    c->key_len = p->key_len;
    c->firmware_version = CITYNODE_VERSION;
    c->interval_ms = (uint32_t)p->interval_ms;
    c->max_inflight = (uint32_t)p->max_inflight;
    c->drain_per_s = (uint32_t)p->drain_per_s;
    c->drain_burst = (uint32_t)p->drain_burst;
    c->reconnect_min_ms = (uint32_t)p->reconnect_min_ms;
    c->reconnect_max_ms = (uint32_t)p->reconnect_max_ms;
    c->sync_interval_ms = (uint32_t)p->sync_interval_ms;
    c->max_frame_bytes = (size_t)p->max_frame_bytes;
    c->sensors = sensors;
    c->n_sensors = p->n_sensors;
}

static int exit_code(int node_rc)
{
    switch (-node_rc) {
    case NODE_EINVAL:
    case NODE_EDRIVER:
        return EX_CONFIG;
    case NODE_EIO:
    case NODE_ECORRUPT:
        return EX_IOERR;
    default:
        return EX_SOFTWARE;
    }
}

/*
 * Confirms the image under the boot stage once the broker confirmed
 * enough live frames; *pending is cleared when done (or failed: the trial
 * then runs out and the boot stage reverts).
 */
static void maybe_confirm(struct node *node, const struct prov *p, const char *boot_dir,
                          int *pending)
{
    struct node_stats st;
    char err[512];
    node_stats(node, &st);
    if (st.frames_confirmed < p->confirm_frames)
        return;
    *pending = 0;
    int changed = boot_store_confirm(boot_dir, err, sizeof err);
    if (changed < 0) {
        hal_linux_logf(NODE_LOG_ERROR, "cannot confirm the image: %s", err);
        return;
    }
    if (changed)
        hal_linux_logf(NODE_LOG_INFO,
                       "image confirmed: %llu live frames confirmed by the broker in this boot",
                       (unsigned long long)st.frames_confirmed);
    node_image_confirmed(node); /* an update on trial is CONFIRMED now */
    if (boot_store_tell_confirmed() < 0)
        hal_linux_logf(NODE_LOG_ERROR, "cannot tell the boot stage: %s", strerror(errno));
}

/*
 * Under the boot stage: the update port over its folder, in cfg->update.
 * Returns 0 (also when there is no boot stage), or EX_CONFIG after a message.
 */
static int update_setup(struct update_port *up, struct node_update_port *port,
                        struct node_config *cfg)
{
    const char *dir = getenv("CITYNODE_BOOT_DIR");
    char err[256];
    if (!dir)
        return 0;
    if (update_port_init(up, dir, getenv("CITYNODE_BOOT_KEYS"), getenv("CITYNODE_BOOT_SLOT_BYTES"),
                         getenv("CITYNODE_BOOT_CID"), err, sizeof err) != 0) {
        hal_linux_logf(NODE_LOG_ERROR, "boot stage %s: %s", dir, err);
        return EX_CONFIG;
    }
    *port = update_port_get(up);
    cfg->update = port;
    return 0;
}

/* Runs the node until a signal or a reboot command; returns the exit code. */
static int run(const char *path, const struct prov *p, struct node_config *cfg,
               struct hal_linux *hl)
{
    struct node_storage storage = {0};
    static struct update_port up;
    struct node_update_port port;
    struct net_paho *net = NULL;
    struct node *node = NULL;
    struct node_diag diag;
    char err[256];
    int rc = EX_OK;

    if ((rc = update_setup(&up, &port, cfg)) != 0)
        return rc;
    if (hal_linux_storage_open(p->ring_path, p->ring_bytes, &storage, err, sizeof err) != 0) {
        hal_linux_logf(NODE_LOG_ERROR, "ring: %s", err);
        rc = EX_IOERR;
        goto out;
    }
    struct net_paho_config nc = {p->broker,    p->username, p->password,         p->ca_file,
                                 p->cert_file, p->key_file, (int)p->keepalive_s, 10};
    if (net_paho_new(&nc, &net, err, sizeof err) != 0) {
        hal_linux_logf(NODE_LOG_ERROR, "uplink: %s", err);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    struct node_ports ports = {{&hal_linux_ops, hl}, storage, net_paho_net(net)};
    int nrc = node_new(cfg, &ports, hal_linux_now_ms(), &node, &diag);
    if (nrc < 0) {
        hal_linux_logf(NODE_LOG_ERROR, "%s: %s", path, diag.text);
        rc = exit_code(nrc);
        goto out;
    }
    const char *boot_dir = getenv("CITYNODE_BOOT_DIR");
    int confirm_pending = boot_dir != NULL;
    while (!stop_requested && !hl->reboot_requested) {
        uint64_t now = hal_linux_now_ms();
        node_tick(node, now);
        if (confirm_pending)
            maybe_confirm(node, p, boot_dir, &confirm_pending);
        uint64_t next = node_next_deadline(node);
        now = hal_linux_now_ms();
        uint64_t wait = next > now ? next - now : 0;
        net_paho_pump(net, node, wait > MAX_WAIT_MS ? MAX_WAIT_MS : (int)wait);
    }
    hal_linux_logf(NODE_LOG_INFO, "%s: shutting down",
                   hl->reboot_requested ? "reboot requested" : "signal received");
    node_close(node);
    uint64_t deadline = hal_linux_now_ms() + SHUTDOWN_DEADLINE_MS;
    struct node_stats st;
    node_stats(node, &st);
    while (st.inflight > 0 && st.connected && hal_linux_now_ms() < deadline) {
        net_paho_pump(net, node, MAX_WAIT_MS);
        node_stats(node, &st);
    }
out:
    node_free(node);
    net_paho_free(net);
    hal_linux_storage_close(&storage);
    if (cfg->update)
        update_port_fini(&up);
    if (rc == EX_OK && node)
        hal_linux_logf(NODE_LOG_INFO, "stopped; the ring is on disk");
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, CLI_OPT_CHECK_CONFIG},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    static struct node_sensor_config sensors[PROV_MAX_SENSORS];
    const char *path = NULL;
    int check = 0, c, rc;
    struct prov_diag diag;
    struct node_config cfg;
    struct hal_linux hl = {0};

    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case CLI_OPT_CHECK_CONFIG:
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        case CLI_OPT_VERSION:
            return cli_print_version();
        default:
            return cli_usage_error(NULL);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!path)
        return cli_usage_error("-c/--config FILE is required");
    struct prov *p = malloc(sizeof *p);
    if (!p) {
        fprintf(stderr, "citynode: out of memory\n");
        return EX_SOFTWARE;
    }
    if (prov_load(path, p, &diag) != 0) {
        if (diag.line > 0)
            fprintf(stderr, "citynode: %s:%d: %s\n", path, diag.line, diag.text);
        else
            fprintf(stderr, "citynode: %s: %s\n", path, diag.text);
        rc = EX_CONFIG;
        goto out;
    }
    if ((rc = resolve_sensors(path, p, sensors)) != 0)
        goto out;
    node_config_from(p, sensors, &cfg);
    if (check && (rc = open_sensors(path, p, sensors)) != 0)
        goto out;
    if (check) {
        printf("%s: provisioning for %s/%s with %zu sensors is valid\n", path, p->site, p->id,
               p->n_sensors);
        rc = EX_OK;
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = run(path, p, &cfg, &hl);
    if (rc == EX_OK && hl.reboot_requested && cfg.update) {
        hal_linux_logf(NODE_LOG_INFO, "reboot: back to the boot stage");
    } else if (rc == EX_OK && hl.reboot_requested) {
        free(p);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "citynode: reboot: cannot re-execute: %s\n", strerror(errno));
        return EX_SOFTWARE;
    }
out:
    free(p);
    return rc;
}
