/*
 * provision.c -- `cityflash provision`: give a node its identity, HMAC key
 * and broker credentials through its management port (SMP group 64,
 * firmware/linux/smp_provision.h), and make the site's gateway and broker
 * know it.
 *
 *   cityflash --conn CONN provision --site S --node N --broker URL
 *             --registry FILE [--gateway-pid PID]
 *             --passwd FILE --acl FILE [--broker-pid PID] [--sensors FILE]
 *
 * The key (32 bytes) and the broker password are drawn here, on the
 * technician's machine, from OpenSSL's RAND_bytes. The order keeps every
 * failure harmless: the three new file texts are built and the registry is
 * checked with the gateway's own parser (gw_registry_new()) before the node
 * is touched; then the node takes its identity (it checks its new file
 * with its own parser); only then are the registry, password_file and
 * acl_file replaced, each atomically, and the gateway and the broker sent
 * SIGHUP (citygate reloads its registry on it, Mosquitto its password and
 * ACL files). A failure after the node took its identity says so: running
 * the same command again provisions it afresh with a new key.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <openssl/rand.h>

#include "atomic_file.h"
#include "cityflash.h"
#include "conn.h"
#include "credentials.h"
#include "image.h"
#include "node.h"
#include "registry.h"
#include "smp_cbor.h"
#include "smp_provision.h"
#include "wire.h"

#define KEY_BYTES 32
#define PASSWORD_BYTES 18 /* 36 hex digits */
#define MAX_FILE_BYTES (64u << 20)
/* What the sensors' text may take of one SMP packet (NODE_SMP_MAX_PACKET). */
#define MAX_SENSORS_BYTES 1024

struct prov_args {
    const char *site, *node, *broker, *registry, *passwd, *acl, *sensors_path;
    long gateway_pid, broker_pid; /* 0: not given */
};

/* A file's whole text (a missing file is empty when missing_ok); caller frees *out. */
static int read_text(const char *path, int missing_ok, char **out, size_t *len, char *err,
                     size_t cap)
{
    int rc = cli_read_file(path, MAX_FILE_BYTES, out, len);
    if (rc == -ENOENT && missing_ok) {
        *out = calloc(1, 1);
        *len = 0;
        return *out ? 0 : -1;
    }
    if (rc != 0) {
        *out = NULL;
        snprintf(err, cap, "cannot read %s: %s", path, strerror(-rc));
        return -1;
    }
    return 0;
}

/*
 * The sensor names of a [sensor NAME] text, comma-separated, into names.
 * Returns 0, or -1 with why in err (another section, a bad name, too long).
 */
static int sensor_names(const char *text, char *names, size_t cap, char *err, size_t err_cap)
{
    size_t used = 0;
    names[0] = '\0';
    for (const char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *t = l + strspn(l, " \t");
        if (*t != '[')
            continue;
        const char *close = strchr(t, ']');
        size_t len = close ? (size_t)(close - t) - 8 : 0;
        char name[NODE_MAX_ID + 1];
        if (strncmp(t, "[sensor ", 8) != 0 || !close || len == 0 || len > NODE_MAX_ID) {
            snprintf(err, err_cap, "the sensors file may only hold [sensor NAME] sections");
            return -1;
        }
        memcpy(name, t + 8, len);
        name[len] = '\0';
        if (!node_valid_id(name)) {
            snprintf(err, err_cap, "sensor name \"%s\" is not [A-Za-z0-9._-]{1,64}", name);
            return -1;
        }
        int w = snprintf(names + used, cap - used, "%s%s", used ? "," : "", name);
        if (w < 0 || (size_t)w >= cap - used) {
            snprintf(err, err_cap, "too many sensors for one registry line");
            return -1;
        }
        used += (size_t)w;
    }
    return 0;
}

/* Replaces path with len bytes of text, keeping the old file's mode (else mode). */
static int replace_file(const char *path, const char *text, size_t len, unsigned mode)
{
    struct stat sb;
    if (stat(path, &sb) == 0)
        mode = sb.st_mode & 07777;
    return node_file_write_atomic(path, text, len, mode);
}

/* SIGHUP to pid when given: 0 when sent or not asked for, else errno. */
static int reload(long pid)
{
    return pid == 0 || kill((pid_t)pid, SIGHUP) == 0 ? 0 : errno;
}

/* Writes the identity to the node; returns 0 or the exit code (reported). */
static int node_write(const struct cf_opts *o, const struct prov_args *a, const uint8_t *key,
                      const char *password, const char *sensors)
{
    struct cf_conn c;
    char err[512];
    cbor_item_t *req = cbor_new_definite_map(7), *rsp = NULL;
    int rc;
    if (!req)
        return cf_fail(o, EX_SOFTWARE, "out of memory");
    smp_cbor_put_str(req, "id", a->node);
    smp_cbor_put_str(req, "site", a->site);
    smp_cbor_put_bytes(req, "key", key, KEY_BYTES);
    smp_cbor_put_str(req, "broker", a->broker);
    smp_cbor_put_str(req, "username", a->node);
    smp_cbor_put_str(req, "password", password);
    if (sensors)
        smp_cbor_put_str(req, "sensors", sensors);
    if (cf_conn_open(&c, o->conn, err, sizeof err) != 0) {
        cbor_decref(&req);
        return cf_fail(o, EX_UNAVAILABLE, "%s", err);
    }
    rc = cf_conn_call(&c, NODE_SMP_GROUP_CITY, SMP_PROV_IDENTITY, 1, req, &rsp, err, sizeof err);
    cf_conn_close(&c);
    cbor_decref(&req);
    if (rc != 0)
        return cf_fail(o, EX_UNAVAILABLE, "%s", err);
    uint64_t node_rc = 0;
    const uint8_t *rsn;
    size_t n;
    if (smp_cbor_get_uint(rsp, "rc", &node_rc) == 0 && node_rc != 0) {
        rc = smp_cbor_get_bytes(rsp, "rsn", &rsn, &n) == 0
                 ? cf_fail(o, EX_DATAERR, "%.*s", (int)n, (const char *)rsn)
                 : cf_fail(o, node_rc == 8 ? EX_UNAVAILABLE : EX_DATAERR,
                           "the node refused provisioning (SMP error %llu)",
                           (unsigned long long)node_rc);
    }
    cbor_decref(&rsp);
    return rc;
}

static int provision(const struct cf_opts *o, const struct prov_args *a)
{
    uint8_t key[KEY_BYTES], pw_raw[PASSWORD_BYTES];
    char password[2 * PASSWORD_BYTES + 1], names[200], err[600];
    char *sensors = NULL, *reg_old = NULL, *pw_old = NULL, *acl_old = NULL;
    char *reg_new = NULL, *pw_new = NULL, *acl_new = NULL;
    size_t sensors_len = 0, reg_len, pw_len, acl_len;
    struct gw_registry *reg = NULL;
    struct gw_registry_diag diag;
    int rc = EX_SOFTWARE;
    names[0] = '\0';
    if (a->sensors_path) {
        if (read_text(a->sensors_path, 0, &sensors, &sensors_len, err, sizeof err) != 0) {
            rc = cf_fail(o, EX_NOINPUT, "%s", err);
            goto out;
        }
        if (sensors_len > MAX_SENSORS_BYTES) {
            rc = cf_fail(o, EX_DATAERR, "%s: more than %u bytes of sensors", a->sensors_path,
                         MAX_SENSORS_BYTES);
            goto out;
        }
        if (sensor_names(sensors, names, sizeof names, err, sizeof err) != 0) {
            rc = cf_fail(o, EX_DATAERR, "%s: %s", a->sensors_path, err);
            goto out;
        }
    }
    if (read_text(a->registry, 1, &reg_old, &reg_len, err, sizeof err) != 0 ||
        read_text(a->passwd, 1, &pw_old, &pw_len, err, sizeof err) != 0 ||
        read_text(a->acl, 1, &acl_old, &acl_len, err, sizeof err) != 0) {
        rc = cf_fail(o, EX_NOINPUT, "%s", err);
        goto out;
    }
    if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(pw_raw, sizeof pw_raw) != 1) {
        rc = cf_fail(o, EX_SOFTWARE, "OpenSSL could not draw random bytes");
        goto out;
    }
    wire_hex_encode(pw_raw, sizeof pw_raw, password);
    reg_new = cf_registry_with(reg_old, reg_len, a->node, a->site, key, sizeof key, names);
    pw_new = cf_passwd_with(pw_old, pw_len, a->node, password);
    acl_new = cf_acl_with(acl_old, acl_len, a->node, a->site);
    if (!reg_new || !pw_new || !acl_new) {
        rc = cf_fail(o, EX_SOFTWARE, "out of memory");
        goto out;
    }
    if (gw_registry_new(reg_new, strlen(reg_new), &reg, &diag) != 0) {
        rc = cf_fail(o, EX_DATAERR, "%s would not load with the node in it: line %d: %s",
                     a->registry, diag.line, diag.message);
        goto out;
    }
    if ((rc = node_write(o, a, key, password, sensors)) != 0)
        goto out;
    const char *files[3] = {a->registry, a->passwd, a->acl};
    const char *texts[3] = {reg_new, pw_new, acl_new};
    const unsigned modes[3] = {0640, 0600, 0644};
    for (int i = 0; i < 3; i++) {
        if (replace_file(files[i], texts[i], strlen(texts[i]), modes[i]) != 0) {
            rc = cf_fail(o, EX_CANTCREAT,
                         "the node took its new identity, but %s could not be written (%s): "
                         "run provision again",
                         files[i], strerror(errno));
            goto out;
        }
    }
    int gw_err = reload(a->gateway_pid), broker_err = reload(a->broker_pid);
    if (gw_err || broker_err) {
        rc = cf_fail(o, EX_UNAVAILABLE,
                     "node and files provisioned, but the %s (pid %ld) could not be sent SIGHUP: "
                     "%s; reload it by hand",
                     gw_err ? "gateway" : "broker", gw_err ? a->gateway_pid : a->broker_pid,
                     strerror(gw_err ? gw_err : broker_err));
        goto out;
    }
    int gw_reloaded = a->gateway_pid != 0, broker_reloaded = a->broker_pid != 0;
    if (o->json) {
        struct cli_json j;
        cf_json_begin(&j);
        cli_json_key(&j, "node");
        cli_json_str(&j, a->node);
        cli_json_key(&j, "site");
        cli_json_str(&j, a->site);
        cli_json_key(&j, "registry");
        cli_json_str(&j, a->registry);
        cli_json_key(&j, "gateway_reloaded");
        cli_json_bool(&j, gw_reloaded);
        cli_json_key(&j, "broker_reloaded");
        cli_json_bool(&j, broker_reloaded);
        cli_json_end_object(&j);
    } else {
        printf("node %s provisioned for site %s (new key and broker password)\n", a->node, a->site);
        printf("registry %s: %s\n", a->registry,
               gw_reloaded ? "updated, gateway reloaded" : "updated; reload the gateway (SIGHUP)");
        printf("broker %s, %s: %s\n", a->passwd, a->acl,
               broker_reloaded ? "updated, broker reloaded"
                               : "updated; reload the broker (SIGHUP)");
        printf("next: cityflash --conn %s reset\n", o->conn);
    }
out:
    gw_registry_free(reg);
    free(sensors);
    free(reg_old);
    free(pw_old);
    free(acl_old);
    free(reg_new);
    free(pw_new);
    free(acl_new);
    return rc;
}

static int pid_arg(const struct cf_opts *o, const char *opt, const char *text, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v <= 1)
        return cf_usage(o, "%s %s: expected a process id", opt, text);
    *out = v;
    return 0;
}

int cf_cmd_provision(const struct cf_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"site", required_argument, NULL, 's'},       {"node", required_argument, NULL, 'n'},
        {"broker", required_argument, NULL, 'b'},     {"registry", required_argument, NULL, 'r'},
        {"passwd", required_argument, NULL, 'p'},     {"acl", required_argument, NULL, 'a'},
        {"sensors", required_argument, NULL, 'S'},    {"gateway-pid", required_argument, NULL, 'G'},
        {"broker-pid", required_argument, NULL, 'B'}, {NULL, 0, NULL, 0},
    };
    struct prov_args a = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:n:b:r:p:a:S:G:B:", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            a.site = optarg;
            break;
        case 'n':
            a.node = optarg;
            break;
        case 'b':
            a.broker = optarg;
            break;
        case 'r':
            a.registry = optarg;
            break;
        case 'p':
            a.passwd = optarg;
            break;
        case 'a':
            a.acl = optarg;
            break;
        case 'S':
            a.sensors_path = optarg;
            break;
        case 'G':
            if (pid_arg(o, "--gateway-pid", optarg, &a.gateway_pid))
                return EX_USAGE;
            break;
        case 'B':
            if (pid_arg(o, "--broker-pid", optarg, &a.broker_pid))
                return EX_USAGE;
            break;
        default:
            return cf_usage(o, NULL);
        }
    }
    if (!a.site || !a.node || !a.broker || !a.registry || !a.passwd || !a.acl || optind != argc)
        return cf_usage(o, "provision needs --site, --node, --broker, --registry, --passwd and "
                           "--acl, and no other argument");
    if (!o->conn)
        return cf_usage(o, "provision talks to a node: give --conn");
    if (!node_valid_id(a.site) || !node_valid_id(a.node))
        return cf_usage(o, "--site and --node must be [A-Za-z0-9._-]{1,64}");
    return provision(o, &a);
}
