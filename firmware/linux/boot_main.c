/*
 * citynode-boot -- the node's boot stage on Linux: MCUboot's A/B semantics
 * over two slot files (firmware/core/boot.c, boot_store.c).
 *
 *   citynode-boot --dir DIR --key PUB... [--trial 60s] run [-- ARGS...]
 *   citynode-boot --dir DIR --key PUB... init IMAGE | install IMAGE | test [--permanent]
 *   citynode-boot --dir DIR confirm | status [--json]
 *   citynode-boot --dir DIR --key PUB... [--udp HOST:PORT] [--pty LINK] serve
 *
 * --cid UUID gives the node its hardware class (MCUboot's UUID_CID): an
 * image that does not carry the same class is refused by install, init and
 * the management port before it reaches a slot. --slot-size caps the image
 * a slot takes (256MiB unless given); a larger one is refused before
 * anything is written.
 *
 * --udp and --pty serve the management port (MCUmgr SMP, smp_server.h)
 * during `run` too, beside the payload: an upload, test, confirm or reset
 * reaches the node whatever its application does; a confirm lifts the
 * trial's deadline and a reset ends the payload (the next start decides).
 *
 * `run` is one boot: it decides (TEST, PERM, REVERT or nothing), verifies
 * the primary image (hash, ed25519 signature, security counter), writes its
 * payload out and runs it. A microcontroller would jump to the image and let
 * a hardware watchdog end a bad trial; here the boot stage stays as the
 * payload's parent and is that watchdog: a test image that exits, crashes
 * or has not confirmed within --trial is ended, the reason is stored, and
 * the next start (systemd's Restart=always, or the next `run`) reverts.
 * The payload confirms itself with `citynode-boot confirm`, or through the
 * management port; either one also tells the running boot stage through the
 * pipe named by CITYNODE_BOOT_FD, so that the trial's deadline is lifted.
 * CITYNODE_BOOT_DIR, CITYNODE_BOOT_KEYS (the trusted keys, hex, comma
 * separated), CITYNODE_BOOT_SLOT_BYTES and CITYNODE_BOOT_CID (with --cid)
 * tell the payload where the slots are and which images the boot stage will
 * take, for updates over MQTT (firmware/linux/update_port.h).
 *
 * Exit codes: the payload's own status (128 + signal when it was killed),
 * 75 when a trial ran out, 0 for the other commands when done, 64 usage, 65
 * image refused (the reason in plain words), 70 internal error, 74 I/O.
 */
#define _GNU_SOURCE /* pipe2, syscall */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "boot.h"
#include "boot_store.h"
#include "cli.h"
#include "crypto_openssl.h"
#include "image_file.h"
#include "smp_port.h"
#include "smp_server.h"
#include "units.h"

#define MAX_KEYS 8

struct opts {
    const char *dir;
    uint8_t keys[MAX_KEYS][NODE_ED25519_PUB_BYTES];
    size_t n_keys;
    uint64_t trial_ms;
    int json;
    const char *udp;      /* --udp HOST:PORT: the management port on UDP */
    const char *pty_link; /* --pty LINK: the management port on a pty, linked at LINK */
    uint64_t slot_bytes;  /* --slot-size */
    uint8_t cid[NODE_IMAGE_CID_BYTES];
    int has_cid; /* --cid UUID: the node's hardware class */
};

/* The management port, when --udp or --pty asks for it. Returns 0, 1 when not asked, -1 on error.
 */
static int port_open(const struct opts *o, struct smp_server *srv, struct smp_port *port)
{
    char err[512];
    static char info[64];
    snprintf(info, sizeof info, "citynode-boot %s", cli_version());
    smp_server_init(srv, o->dir, (const uint8_t(*)[32])o->keys, o->n_keys);
    srv->info = info;
    srv->slot_bytes = o->slot_bytes;
    srv->cid = o->has_cid ? o->cid : NULL;
    if (!o->udp && !o->pty_link)
        return 1;
    if (smp_port_open(port, srv, o->udp, o->pty_link, err, sizeof err) != 0) {
        cli_error("%s", err);
        smp_server_fini(srv);
        return -1;
    }
    if (port->pty_fd >= 0)
        cli_error("management port on %s (%s)", port->pty_path, o->pty_link);
    return 0;
}

static struct node_boot_keys boot_keys(const struct opts *o)
{
    return (struct node_boot_keys){&node_crypto_openssl, (const uint8_t(*)[32])o->keys, o->n_keys};
}

static int verify(const struct opts *o, const struct node_storage *st, struct node_image_info *info)
{
    return node_image_verify(st, &node_crypto_openssl, (const uint8_t(*)[32])o->keys, o->n_keys,
                             info);
}

/* Locks and loads; returns the lock fd or -1 (reported). */
static int begin(const struct opts *o, struct node_boot_state *st)
{
    char err[512];
    int fd = boot_store_lock(o->dir, err, sizeof err);
    if (fd < 0 || boot_store_load(o->dir, st, err, sizeof err) != 0) {
        cli_error("%s", err);
        boot_store_unlock(fd);
        return -1;
    }
    return fd;
}

/* begin(), then the two slots; returns the lock fd or -1 (reported, nothing held). */
static int begin_slots(const struct opts *o, struct node_boot_state *st, struct boot_slots *s)
{
    char err[512];
    int fd = begin(o, st);
    if (fd >= 0 && boot_slots_load(o->dir, s, err, sizeof err) != 0) {
        cli_error("%s", err);
        boot_store_unlock(fd);
        return -1;
    }
    return fd;
}

static int save(const struct opts *o, const struct node_boot_state *st)
{
    char err[512];
    if (boot_store_save(o->dir, st, err, sizeof err) != 0) {
        cli_error("%s", err);
        return -1;
    }
    return 0;
}

static void version_text(const struct node_image_version *v, char *buf, size_t size)
{
    node_image_version_format(v, buf, size);
}

/* `init IMAGE` and `install IMAGE`: copy a verified image into a slot. */
static int cmd_put(const struct opts *o, const char *image, int primary)
{
    struct node_boot_state st;
    struct node_image_file f = {0};
    struct node_image_info info;
    char err[512], path[BOOT_STORE_PATH_MAX];
    int rc = EX_SOFTWARE;
    int lock = begin(o, &st);
    if (lock < 0)
        return EX_IOERR;
    if (node_image_file_load(image, o->slot_bytes, &f, err, sizeof err) != 0) {
        if (errno == EFBIG)
            cli_error("refused %s: larger than the slot (%llu bytes)", image,
                      (unsigned long long)o->slot_bytes);
        else
            cli_error("%s", err);
        rc = errno == ENOENT ? EX_NOINPUT : EX_DATAERR;
        goto out;
    }
    int v = verify(o, &f.storage, &info);
    if (v == 0)
        v = node_image_check_class(&info, o->has_cid ? o->cid : NULL);
    if (v < 0) {
        cli_error("refused %s: %s", image, node_image_strerror(v));
        rc = EX_DATAERR;
        goto out;
    }
    if (!primary && node_boot_on_trial(&st)) {
        cli_error("the running image is on trial: confirm it or let it revert before installing");
        rc = EX_TEMPFAIL;
        goto out;
    }
    int slot = primary ? st.primary : st.primary ^ 1;
    if (primary) {
        node_boot_state_init(&st);
        st.primary = (uint8_t)slot;
    } else {
        /* The trailer goes first: a cut after it leaves an erased slot, never a stale "test". */
        node_boot_erase_secondary(&st);
        if (save(o, &st) != 0) {
            rc = EX_IOERR;
            goto out;
        }
    }
    if (boot_store_slot_path(o->dir, slot, path, sizeof path) != 0 ||
        node_file_write_atomic(path, f.data, f.len, 0644) != 0) {
        cli_error("cannot write slot %d: %s", slot, strerror(errno));
        rc = EX_IOERR;
        goto out;
    }
    if (primary) {
        node_boot_set_confirmed(&st, &info.hdr.ver);
        st.security_counter = info.security_counter;
        if (save(o, &st) != 0) {
            rc = EX_IOERR;
            goto out;
        }
    }
    char ver[48];
    version_text(&info.hdr.ver, ver, sizeof ver);
    printf("slot %d: %s installed%s\n", primary ? 0 : 1, ver,
           primary ? " and confirmed" : "; `test` boots it at the next start");
    rc = 0;
out:
    node_image_file_fini(&f);
    boot_store_unlock(lock);
    return rc;
}

/* `test [--permanent]`: the checks of a swap, done now so the technician sees a refusal. */
static int cmd_test(const struct opts *o, int permanent)
{
    struct node_boot_state st;
    struct boot_slots s;
    struct node_image_info run, cand;
    char why[NODE_BOOT_REASON_BYTES];
    int rc = EX_DATAERR;
    int lock = begin_slots(o, &st, &s);
    if (lock < 0)
        return EX_IOERR;
    int have_run = verify(o, &s.storage[st.primary], &run) == 0;
    int v = verify(o, &s.storage[st.primary ^ 1], &cand);
    if (v < 0) {
        cli_error("node refused: %s", node_image_strerror(v));
    } else if (node_boot_check_rollback(&st, have_run ? &run : NULL, &cand, why, sizeof why) != 0) {
        cli_error("node refused: %s", why);
    } else {
        node_boot_set_pending(&st, permanent);
        if (save(o, &st) == 0) {
            char ver[48];
            version_text(&cand.hdr.ver, ver, sizeof ver);
            printf("slot 1: %s will boot %s at the next start\n", ver,
                   permanent ? "for good" : "once, on trial");
            rc = 0;
        } else {
            rc = EX_IOERR;
        }
    }
    boot_slots_free(&s);
    boot_store_unlock(lock);
    return rc;
}

/* `confirm`: the running image stays; tells a waiting boot stage through CITYNODE_BOOT_FD. */
static int cmd_confirm(const struct opts *o)
{
    char err[512];
    int changed = boot_store_confirm(o->dir, err, sizeof err);
    if (changed < 0) {
        cli_error("%s", err);
        return EX_IOERR;
    }
    if (boot_store_tell_confirmed() < 0)
        cli_error("could not tell the boot stage: %s", strerror(errno));
    printf("confirmed%s\n", changed ? "" : " already");
    return 0;
}

static int cmd_status(const struct opts *o)
{
    struct node_boot_state st;
    struct boot_slots s;
    int lock = begin_slots(o, &st, &s);
    if (lock < 0)
        return EX_IOERR;
    boot_store_unlock(lock);
    enum node_boot_swap t = node_boot_swap_type(&st);
    int trial = node_boot_on_trial(&st);
    struct cli_json j;
    if (o->json) {
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j);
        cli_json_key(&j, "images");
        cli_json_begin_array(&j);
    }
    for (int k = 0; k < 2; k++) {
        int phys = k == 0 ? st.primary : st.primary ^ 1;
        struct node_image_info info;
        struct node_image_header h;
        int ok = verify(o, &s.storage[phys], &info) == 0;
        int present = node_image_read_header(&s.storage[phys], &h) == 0;
        if (!present)
            continue;
        const struct node_boot_trailer *tr = &st.trailer[phys];
        int active = k == 0;
        int confirmed = k == 0 ? !trial : trial;
        int pending = k == 1 && (t == NODE_BOOT_SWAP_TEST || t == NODE_BOOT_SWAP_PERM);
        int permanent = pending && tr->image_ok == NODE_BOOT_FLAG_SET;
        char ver[48];
        version_text(&h.ver, ver, sizeof ver);
        if (o->json) {
            cli_json_begin_object(&j);
            cli_json_key(&j, "slot");
            cli_json_int(&j, k);
            cli_json_key(&j, "version");
            cli_json_str(&j, ver);
            cli_json_key(&j, "bootable");
            cli_json_bool(&j, ok);
            cli_json_key(&j, "active");
            cli_json_bool(&j, active);
            cli_json_key(&j, "confirmed");
            cli_json_bool(&j, confirmed);
            cli_json_key(&j, "pending");
            cli_json_bool(&j, pending);
            cli_json_key(&j, "permanent");
            cli_json_bool(&j, permanent);
            cli_json_end_object(&j);
        } else {
            printf("slot %d%s: %s%s%s%s%s%s\n", k, k == 0 ? " (primary)" : "", ver,
                   ok ? "" : " NOT BOOTABLE", active ? " active" : "",
                   confirmed ? " confirmed" : "", pending ? " pending" : "",
                   permanent ? " permanent" : "");
        }
    }
    char ev[48];
    version_text(&st.event_version, ev, sizeof ev);
    if (o->json) {
        cli_json_end_array(&j);
        cli_json_key(&j, "security_counter");
        cli_json_uint(&j, st.security_counter);
        cli_json_key(&j, "event");
        cli_json_str(&j, node_boot_event_name(st.event));
        cli_json_key(&j, "event_version");
        cli_json_str(&j, ev);
        cli_json_key(&j, "event_reason");
        cli_json_str(&j, st.event_reason);
        cli_json_end_object(&j);
    } else {
        printf("security counter: %u\n", st.security_counter);
        if (st.event != NODE_BOOT_EV_NONE)
            printf("last event: %s %s%s%s\n", node_boot_event_name(st.event), ev,
                   st.event_reason[0] ? ": " : "", st.event_reason);
    }
    boot_slots_free(&s);
    return 0;
}

/* Describes how a payload ended ("exited with status 3", "killed by signal 11"). */
static void describe_exit(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

static int cmd_run(const struct opts *o, char **args, int n_args)
{
    struct node_boot_state st, before;
    struct boot_slots s;
    struct node_image_info info;
    char path[BOOT_STORE_PATH_MAX], run_dir[BOOT_STORE_PATH_MAX], ver[48];
    int lock = begin_slots(o, &st, &s);
    if (lock < 0)
        return EX_IOERR;
    before = st;
    struct node_boot_keys keys = boot_keys(o);
    int rc = node_boot_go(&st, s.storage, &keys, &info);
    if (memcmp(&before, &st, sizeof st) != 0 && save(o, &st) != 0) {
        rc = EX_IOERR;
        goto fail;
    }
    if (rc < 0) {
        cli_error("no bootable image in slot %d: %s", st.primary, node_image_strerror(rc));
        rc = EX_DATAERR;
        goto fail;
    }
    if (st.event != before.event || strcmp(st.event_reason, before.event_reason) != 0) {
        version_text(&st.event_version, ver, sizeof ver);
        cli_error("%s %s%s%s", node_boot_event_name(st.event), ver, st.event_reason[0] ? ": " : "",
                  st.event_reason);
    }
    const struct node_image_file *f = &s.file[st.primary];
    if (boot_store_path(o->dir, "run", run_dir, sizeof run_dir) != 0 ||
        (mkdir(run_dir, 0755) != 0 && errno != EEXIST) ||
        boot_store_path(run_dir, "payload", path, sizeof path) != 0 ||
        node_file_write_atomic(path, f->data + info.hdr.hdr_size, info.hdr.img_size, 0755) != 0) {
        cli_error("cannot write the payload to %s/payload: %s", run_dir, strerror(errno));
        rc = EX_IOERR;
        goto fail;
    }
    int trial = node_boot_on_trial(&st);
    version_text(&info.hdr.ver, ver, sizeof ver);
    cli_error("booting %s%s", ver, trial ? " on trial" : "");
    boot_slots_free(&s);
    boot_store_unlock(lock);

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        cli_error("pipe: %s", strerror(errno));
        return EX_OSERR;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("fork: %s", strerror(errno));
        return EX_OSERR;
    }
    if (pid == 0) {
        char fd_text[16];
        int wfd = dup(pfd[1]); /* without O_CLOEXEC: the payload inherits it */
        snprintf(fd_text, sizeof fd_text, "%d", wfd);
        setenv("CITYNODE_BOOT_FD", fd_text, 1);
        setenv("CITYNODE_BOOT_DIR", o->dir, 1);
        char key_text[MAX_KEYS * (2 * NODE_ED25519_PUB_BYTES + 1) + 1] = "";
        size_t at = 0;
        for (size_t k = 0; k < o->n_keys; k++)
            for (int i = 0; i < NODE_ED25519_PUB_BYTES; i++)
                at += (size_t)snprintf(key_text + at, sizeof key_text - at, "%s%02x",
                                       k > 0 && i == 0 ? "," : "", o->keys[k][i]);
        setenv("CITYNODE_BOOT_KEYS", key_text, 1);
        char slot_text[24], cid_text[37];
        snprintf(slot_text, sizeof slot_text, "%llu", (unsigned long long)o->slot_bytes);
        setenv("CITYNODE_BOOT_SLOT_BYTES", slot_text, 1);
        if (o->has_cid) {
            node_image_uuid_format(o->cid, cid_text);
            setenv("CITYNODE_BOOT_CID", cid_text, 1);
        }
        char **argv = calloc((size_t)n_args + 2, sizeof *argv);
        if (!argv)
            _exit(EX_OSERR);
        argv[0] = path;
        for (int i = 0; i < n_args; i++)
            argv[i + 1] = args[i];
        execv(path, argv);
        fprintf(stderr, "citynode-boot: cannot run %s: %s\n", path, strerror(errno));
        _exit(EX_OSERR);
    }
    close(pfd[1]);
    struct smp_server srv;
    struct smp_port port = {.udp_fd = -1, .pty_fd = -1, .pty_slave_fd = -1};
    int have_port = port_open(o, &srv, &port) == 0;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    uint64_t deadline = cli_now_ms() + o->trial_ms;
    int confirmed = 0, timed_out = 0, pipe_open = 1;
    while (pidfd >= 0) {
        struct pollfd p[4] = {{pidfd, POLLIN, 0}, {pfd[0], POLLIN, 0}};
        int n_port = have_port ? smp_port_pollfds(&port, p + 2) : 0;
        int timeout = -1;
        if (trial && !confirmed) {
            uint64_t now = cli_now_ms();
            timeout = now >= deadline ? 0 : (int)(deadline - now);
        }
        if (!pipe_open)
            p[1].fd = -1; /* poll ignores it */
        int n = poll(p, (nfds_t)(2 + n_port), timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        if (p[0].revents)
            break;
        if (n_port > 0) {
            smp_port_service(&port, p + 2, n_port);
            if (srv.reset_requested) {
                kill(pid, SIGKILL); /* a reset: the node restarts, the next start decides */
                break;
            }
            if (srv.state_changed && trial) {
                struct node_boot_state now;
                char err[512];
                srv.state_changed = 0;
                if (boot_store_load(o->dir, &now, err, sizeof err) == 0 &&
                    !node_boot_on_trial(&now))
                    confirmed = 1;
            }
        }
        if (p[1].revents) {
            char c;
            ssize_t r = read(pfd[0], &c, 1);
            if (r == 1 && c == 'c')
                confirmed = 1;
            else if (r <= 0)
                pipe_open = 0;
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (have_port) {
        smp_port_close(&port);
        smp_server_fini(&srv);
    }
    if (pidfd >= 0)
        close(pidfd);
    close(pfd[0]);
    char how[96], dur[32];
    if (timed_out) {
        snprintf(how, sizeof how, "not confirmed within %s",
                 cli_format_duration(o->trial_ms, dur, sizeof dur));
    } else {
        describe_exit(status, how, sizeof how);
        strncat(how, " before it confirmed", sizeof how - strlen(how) - 1);
    }
    if (trial && (lock = begin(o, &st)) >= 0) {
        /* The payload may have confirmed without telling us; the stored state decides. */
        if (node_boot_on_trial(&st)) {
            snprintf(st.trial_end, sizeof st.trial_end, "%s", how);
            save(o, &st);
            cli_error("test image %s %s: the next start reverts", ver, st.trial_end);
        }
        boot_store_unlock(lock);
    }
    if (timed_out)
        return EX_TEMPFAIL;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
fail:
    boot_slots_free(&s);
    boot_store_unlock(lock);
    return rc;
}

/* `serve`: the management port alone, until a reset request, SIGTERM or SIGINT. */
static int cmd_serve(const struct opts *o)
{
    struct smp_server srv;
    struct smp_port port;
    int rc = port_open(o, &srv, &port);
    if (rc != 0)
        return rc < 0 ? EX_UNAVAILABLE : cli_usage_error("serve needs --udp or --pty");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    while (!srv.reset_requested) {
        struct pollfd p[3];
        int n = smp_port_pollfds(&port, p);
        p[n++] = (struct pollfd){sfd, POLLIN, 0};
        if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
            break;
        if (p[n - 1].revents)
            break;
        smp_port_service(&port, p, n - 1);
    }
    close(sfd);
    smp_port_close(&port);
    smp_server_fini(&srv);
    return 0;
}

static void usage(FILE *to)
{
    fputs("usage: citynode-boot --dir DIR [--key PUB]... [--trial DURATION] COMMAND\n"
          "\n"
          "  run [-- ARGS...]     boot: decide, verify and run the primary slot's payload\n"
          "  init IMAGE           put IMAGE in the primary slot, confirmed (factory)\n"
          "  install IMAGE        put IMAGE in the secondary slot\n"
          "  test [--permanent]   boot the secondary once (or for good) at the next start\n"
          "  confirm              keep the running image\n"
          "  status               the slots, the security counter and the last event\n"
          "  serve                the management port only (with --udp and/or --pty)\n"
          "\n"
          "options:\n"
          "  -d, --dir DIR        the slots' folder\n"
          "  -k, --key PUB        a trusted ed25519 public key (PEM); up to 8\n"
          "  -t, --trial DURATION how long a test image has to confirm (default 60s)\n"
          "      --json           status as JSON\n"
          "  -u, --udp HOST:PORT  serve the management port (SMP) on UDP\n"
          "  -p, --pty LINK       serve it on a pty, symlinked at LINK\n"
          "      --cid UUID       the node's hardware class: only images built for it\n"
          "      --slot-size SIZE the largest image a slot takes (default 256MiB)\n"
          "  -h, --help           show this help and exit\n"
          "      --version        show the version and exit\n",
          to);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"key", required_argument, NULL, 'k'},
        {"trial", required_argument, NULL, 't'},
        {"udp", required_argument, NULL, 'u'},
        {"pty", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, CLI_OPT_JSON},
        {"cid", required_argument, NULL, 'C'},
        {"slot-size", required_argument, NULL, 'S'},
        CLI_OPTS_COMMON,
        {NULL, 0, NULL, 0},
    };
    struct opts o = {.trial_ms = 60000, .slot_bytes = BOOT_SLOT_MAX_BYTES};
    int c, permanent = 0;
    char err[512];
    cli_init(argv[0]);
    while ((c = getopt_long(argc, argv, "+d:k:t:u:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg;
            break;
        case 'k':
            if (o.n_keys == MAX_KEYS)
                return cli_usage_error("at most %d keys", MAX_KEYS);
            if (node_ossl_read_pubkey(optarg, o.keys[o.n_keys], err, sizeof err) != 0) {
                cli_error("%s", err);
                return EX_NOINPUT;
            }
            o.n_keys++;
            break;
        case 'u':
            o.udp = optarg;
            break;
        case 'p':
            o.pty_link = optarg;
            break;
        case 't':
            if (cli_duration_arg("--trial", optarg, 100, 24 * 3600 * 1000ull, &o.trial_ms))
                return EX_USAGE;
            break;
        case CLI_OPT_JSON:
            o.json = 1;
            break;
        case 'C':
            if (node_image_uuid_parse(optarg, o.cid) != 0)
                return cli_usage_error("--cid %s: expected a UUID", optarg);
            o.has_cid = 1;
            break;
        case 'S':
            if (gw_parse_bytes(optarg, &o.slot_bytes) != 0 ||
                o.slot_bytes < NODE_IMAGE_HEADER_BYTES || o.slot_bytes > BOOT_SLOT_MAX_BYTES)
                return cli_usage_error("--slot-size %s: a size from 32 bytes to 256MiB", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case CLI_OPT_VERSION:
            return cli_print_version();
        default:
            return cli_usage_error(NULL);
        }
    }
    if (!o.dir || optind >= argc)
        return cli_usage_error("--dir and a command are needed");
    const char *cmd = argv[optind];
    char **rest = argv + optind + 1;
    int n_rest = argc - optind - 1;
    if (strcmp(cmd, "test") == 0 && n_rest == 1 && strcmp(rest[0], "--permanent") == 0)
        permanent = 1, n_rest = 0;
    int needs_keys = strcmp(cmd, "confirm") != 0;
    if (needs_keys && o.n_keys == 0)
        return cli_usage_error("%s needs --key: images are only booted when signed", cmd);
    if (strcmp(cmd, "run") == 0) {
        if (n_rest > 0 && strcmp(rest[0], "--") == 0)
            rest++, n_rest--;
        return cmd_run(&o, rest, n_rest);
    }
    if ((strcmp(cmd, "init") == 0 || strcmp(cmd, "install") == 0) && n_rest == 1)
        return cmd_put(&o, rest[0], cmd[1] == 'n' && cmd[2] == 'i');
    if (strcmp(cmd, "test") == 0 && n_rest == 0)
        return cmd_test(&o, permanent);
    if (strcmp(cmd, "confirm") == 0 && n_rest == 0)
        return cmd_confirm(&o);
    if (strcmp(cmd, "status") == 0 && n_rest == 0)
        return cmd_status(&o);
    if (strcmp(cmd, "serve") == 0 && n_rest == 0)
        return cmd_serve(&o);
    return cli_usage_error("unknown command or arguments: %s", cmd);
}
