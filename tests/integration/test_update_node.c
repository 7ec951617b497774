/*
 * test_update_node.c -- a firmware update over MQTT into a real citynode run
 * by its real boot stage (citynode-boot), through a real Mosquitto
 * (tools/services).
 *
 * The images are shell scripts that exec citynode, signed by cityflash and
 * padded to 11 blocks. The test speaks the protocol itself (signed
 * commands out, signed reports in), so that it can also send what a good
 * sender never would:
 *
 *  - a block for an unknown transfer and a manifest with a bad signature are
 *    refused with their reason and counted;
 *  - half the blocks, then the node is SIGKILLed and the broker restarted:
 *    the new boot answers the manifest with a bitmap holding every block it
 *    acknowledged, and only the others are sent (the node counts no
 *    duplicate); the image then boots on trial, confirms itself with its
 *    first accepted frame, and the retained state says CONFIRMED 2.0.0;
 *  - an image that exits before confirming is reverted by the boot stage and
 *    the old image reports REVERTED with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>
#include <openssl/evp.h>

#include "cu.h"
#include "script_image.h"
#include "wire.h"

#define SITE "depot"
#define NODE "node-u1"
#define BLOCK 4096
#define PAD_BYTES (10 * BLOCK + 500)
#define MAX_BLOCKS 64

static const uint8_t KEY[32] = {9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static const char *boot_bin, *citynode_bin, *cityflash_bin, *data_dir;
static char dir[512];
static pid_t supervisor;
static MQTTClient cli;
static uint64_t counter;
static unsigned char arena[64 * 1024];

/* What the node said last. */
static struct {
    uint64_t boot_id;
    int state; /* the retained state */
    char state_version[48], running[48], reason[160];
    uint64_t state_boot;
    /* the last answer */
    int answered, ack;
    uint64_t offset, refused, duplicates;
    char answer_reason[160];
    uint8_t bitmap[MAX_BLOCKS / 8];
    size_t bitmap_len;
    int acked[MAX_BLOCKS];
} N;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int key_fn(void *ctx, const char *device_id, struct wire_key *key)
{
    (void)ctx;
    if (strcmp(device_id, NODE) != 0)
        return -1;
    key->bytes = KEY;
    key->len = sizeof KEY;
    key->hmac = NULL;
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void on_message(const char *topic, const MQTTClient_message *m)
{
    struct wire_decoder d = {WIRE_MAX_CONTROL_BYTES, key_fn, NULL, {NULL, 0, 0}};
    struct wire_diag diag;
    wire_arena_init(&d.arena, arena, sizeof arena);
    const char *tail = strrchr(topic, '/') + 1;
    if (strcmp(tail, "status") == 0) {
        Citygate__V1__Status *s;
        if (wire_status_decode(&d, m->payload, (size_t)m->payloadlen, &s, &diag) == 0 &&
            s->state == CITYGATE__V1__NODE_STATE__ONLINE)
            N.boot_id = s->boot_id;
        return;
    }
    Citygate__V1__UpdateReport *r;
    if (strcmp(tail, "data") == 0 || strcmp(tail, "cmd") == 0)
        return;
    if (wire_update_decode(&d, m->payload, (size_t)m->payloadlen, &r, &diag) != 0)
        return; /* a JSON reply to another command */
    if (strcmp(tail, "update") == 0) {
        N.state = (int)r->state;
        N.state_boot = r->boot_id;
        copy_str(N.state_version, sizeof N.state_version, r->version);
        copy_str(N.running, sizeof N.running, r->running_version);
        copy_str(N.reason, sizeof N.reason, r->reason);
        return;
    }
    N.answered++;
    N.ack = r->ack;
    N.offset = r->offset;
    N.refused = r->refused;
    N.duplicates = r->duplicates;
    copy_str(N.answer_reason, sizeof N.answer_reason, r->reason);
    N.bitmap_len = r->bitmap.len < sizeof N.bitmap ? r->bitmap.len : sizeof N.bitmap;
    if (N.bitmap_len)
        memcpy(N.bitmap, r->bitmap.data, N.bitmap_len);
    if (r->ack && r->offset / BLOCK < MAX_BLOCKS)
        N.acked[r->offset / BLOCK] = 1;
}

static int connect_cli(void)
{
    MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer;
    o.cleansession = 1;
    o.keepAliveInterval = 10;
    o.connectTimeout = 5;
    if (MQTTClient_connect(cli, &o) != MQTTCLIENT_SUCCESS)
        return -1;
    return MQTTClient_subscribe(cli, "city/v1/" SITE "/" NODE "/#", 1) == MQTTCLIENT_SUCCESS ? 0
                                                                                             : -1;
}

/* Receives for up to ms, or until done() holds; returns done()'s last value. */
static int pump_until(int (*done)(void), int ms)
{
    uint64_t until = now_ms() + (uint64_t)ms;
    while (now_ms() < until) {
        if (done && done())
            return 1;
        if (!MQTTClient_isConnected(cli) && connect_cli() != 0)
            continue;
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *m = NULL;
        if (MQTTClient_receive(cli, &topic, &topic_len, &m, 50) == MQTTCLIENT_SUCCESS && m) {
            on_message(topic, m);
            MQTTClient_freeMessage(&m);
            MQTTClient_free(topic);
        }
    }
    return done ? done() : 0;
}

/* Sends one signed command to the node's current boot. */
static void send_cmd(Citygate__V1__Command *c)
{
    uint8_t buf[WIRE_MAX_CONTROL_BYTES];
    size_t len = 0;
    c->device_id = NODE;
    c->boot_id = N.boot_id;
    c->counter = ++counter;
    CU_ASSERT_FATAL(wire_command_encode(c, KEY, sizeof KEY, buf, sizeof buf, &len) == 0);
    for (int tries = 0; tries < 50; tries++) {
        if (!MQTTClient_isConnected(cli))
            connect_cli();
        if (MQTTClient_publish(cli, "city/v1/" SITE "/" NODE "/cmd", (int)len, buf, 1, 0, NULL) ==
            MQTTCLIENT_SUCCESS)
            return;
        pump_until(NULL, 100);
    }
    CU_FAIL("cannot publish a command");
}

struct image {
    uint8_t *bytes;
    size_t len;
    uint8_t sha[32], hash[32], sig[64];
    const char *version;
    uint32_t counter;
};

static struct image v2, v3;

/* Signs a payload script (body, padded with a comment) as VERSION; reads it back. */
static void make_image(struct image *im, const char *name, const char *version, uint32_t ctr,
                       const char *body)
{
    char script[1024], img[1024];
    snprintf(script, sizeof script, "%s/%s.sh", dir, name);
    snprintf(img, sizeof img, "%s/%s.img", dir, name);
    cu_script_image(cityflash_bin, data_dir, script, img, body, PAD_BYTES, (int)ctr, version, ctr);
    if (!im)
        return;
    struct stat sb;
    CU_ASSERT_FATAL(stat(img, &sb) == 0);
    im->len = (size_t)sb.st_size;
    im->bytes = malloc(im->len);
    FILE *f = fopen(img, "rb");
    CU_ASSERT_FATAL(f && im->bytes && fread(im->bytes, 1, im->len, f) == im->len);
    fclose(f);
    unsigned n;
    EVP_Digest(im->bytes, im->len, im->sha, &n, EVP_sha256(), NULL);
    /* The TLV area ends with SHA256 (4 + 32), KEYHASH (4 + 32), ED25519 (4 + 64). */
    memcpy(im->sig, im->bytes + im->len - 64, 64);
    memcpy(im->hash, im->bytes + im->len - 64 - 4 - 32 - 4 - 32, 32);
    im->version = version;
    im->counter = ctr;
}

static void send_manifest(const struct image *im, const char *tid, int bad_signature)
{
    Citygate__V1__Command c = CITYGATE__V1__COMMAND__INIT;
    Citygate__V1__UpdateManifest m = CITYGATE__V1__UPDATE_MANIFEST__INIT;
    uint8_t sig[64];
    memcpy(sig, im->sig, 64);
    sig[5] ^= (uint8_t)(bad_signature ? 1 : 0);
    m.transfer_id = (char *)tid;
    m.size = im->len;
    m.sha256 = (ProtobufCBinaryData){32, (uint8_t *)im->sha};
    m.image_hash = (ProtobufCBinaryData){32, (uint8_t *)im->hash};
    m.signature = (ProtobufCBinaryData){64, sig};
    m.version = (char *)im->version;
    m.security_counter = im->counter;
    c.cmd = "ota";
    c.manifest = &m;
    send_cmd(&c);
}

static void send_block(const struct image *im, const char *tid, size_t i)
{
    Citygate__V1__Command c = CITYGATE__V1__COMMAND__INIT;
    Citygate__V1__UpdateBlock b = CITYGATE__V1__UPDATE_BLOCK__INIT;
    size_t off = i * BLOCK, n = im->len - off < BLOCK ? im->len - off : BLOCK;
    b.transfer_id = (char *)tid;
    b.offset = off;
    b.data = (ProtobufCBinaryData){n, im->bytes + off};
    c.cmd = "ota_block";
    c.block = &b;
    send_cmd(&c);
}

static int answered_before;
static int got_answer(void)
{
    return N.answered > answered_before;
}

/* Sends and waits for the answer. */
static void answer_to(void (*send)(void))
{
    answered_before = N.answered;
    send();
    CU_ASSERT_FATAL(pump_until(got_answer, 20000));
}

static uint64_t want_boot_not;
static int new_birth(void)
{
    return N.boot_id != 0 && N.boot_id != want_boot_not;
}

static int want_state;
static const char *want_running;
static int state_is(void)
{
    return N.state == want_state && N.state_boot == N.boot_id &&
           (!want_running || strcmp(N.running, want_running) == 0);
}

static void wait_state(int state, const char *running, int ms)
{
    want_state = state;
    want_running = running;
    if (!pump_until(state_is, ms)) {
        fprintf(stderr, "state %d running %s (%s), want %d running %s\n", N.state, N.running,
                N.reason, state, running ? running : "any");
        CU_FAIL_FATAL("the node did not reach the state");
    }
}

/* Sends blocks [from, to) not acknowledged yet, at most 4 unanswered at once. */
static void send_blocks(const struct image *im, const char *tid, size_t from, size_t to,
                        unsigned *sent)
{
    size_t i = from;
    while (i < to) {
        int inflight = 0;
        for (size_t k = from; k < i; k++)
            inflight += !N.acked[k];
        if (inflight >= 4) {
            pump_until(NULL, 20);
            continue;
        }
        send_block(im, tid, i);
        sent[i]++;
        i++;
    }
}

static int all_acked_to;
static int acked_all(void)
{
    for (int k = 0; k < all_acked_to; k++)
        if (!N.acked[k])
            return 0;
    return 1;
}

static const struct image *cur_im;
static const char *cur_tid;
static void send_cur_manifest(void)
{
    send_manifest(cur_im, cur_tid, 0);
}

/* Ends the node's boot loop and everything it started, also when a check failed early. */
static void stop_node(void)
{
    if (supervisor > 0) {
        kill(-supervisor, SIGKILL);
        waitpid(supervisor, NULL, 0);
        supervisor = 0;
    }
}

static void start_node(void)
{
    char cfg[1024], log[1024], pub[1024];
    snprintf(cfg, sizeof cfg, "%s/node.ini", dir);
    snprintf(log, sizeof log, "%s/node.log", dir);
    snprintf(pub, sizeof pub, "%s/mcuboot/golden.key.pub", data_dir);
    supervisor = fork();
    CU_ASSERT_FATAL(supervisor >= 0);
    if (supervisor == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        char loop[4096];
        snprintf(loop, sizeof loop,
                 "while :; do '%s' --dir '%s/slots' --key '%s' --trial 20s run -- '%s'; done",
                 boot_bin, dir, pub, cfg);
        execl("/bin/sh", "sh", "-c", loop, (char *)NULL);
        _exit(127);
    }
    setpgid(supervisor, supervisor);
    atexit(stop_node);
}

static void kill_payload(void)
{
    char path[1024];
    long pid = 0;
    snprintf(path, sizeof path, "%s/payload.pid", dir);
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f && fscanf(f, "%ld", &pid) == 1 && pid > 1);
    fclose(f);
    CU_ASSERT(kill((pid_t)pid, SIGKILL) == 0);
}

static void services(const char *verb)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s mqtt", cu_env("CITYGATE_SERVICES"), verb);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
}

static void test_update(void)
{
    char cmd[4096], *out = NULL;
    snprintf(dir, sizeof dir, "%s/update-node", cu_env("CITYGATE_SERVICES_DIR"));
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0 || errno == EEXIST);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s/node.ini", dir);
    FILE *f = fopen(cfg, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "[node]\nid = " NODE "\nsite = " SITE "\nkey = ");
    for (size_t i = 0; i < sizeof KEY; i++)
        fprintf(f, "%02x", KEY[i]);
    fprintf(f,
            "\nbroker = %s\ninterval_ms = 200ms\nring_path = %s/node.ring\nring_bytes = 1MiB\n"
            "reconnect_min_ms = 100ms\nreconnect_max_ms = 1s\nkeepalive_s = 5\n\n"
            "[sensor noise-1]\ndriver = sim-noise\n",
            cu_env("CITYGATE_MQTT_URL"), dir);
    CU_ASSERT_FATAL(fclose(f) == 0);

    char run_node[2048];
    snprintf(run_node, sizeof run_node, "echo $$ > '%s/payload.pid'; exec '%s' -c \"$1\"", dir,
             citynode_bin);
    make_image(NULL, "v1", "1.0.0", 1, run_node);
    make_image(&v2, "v2", "2.0.0", 1, run_node);
    make_image(&v3, "v3", "3.0.0", 1, "exit 3");
    snprintf(cmd, sizeof cmd,
             "'%s' --dir '%s/slots' --key '%s/mcuboot/golden.key.pub' init '%s/v1.img'", boot_bin,
             dir, data_dir, dir);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);

    CU_ASSERT_FATAL(MQTTClient_create(&cli, cu_env("CITYGATE_MQTT_URL"), "update-sender",
                                      MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTCLIENT_SUCCESS);
    CU_ASSERT_FATAL(connect_cli() == 0);
    counter = now_ms() * 1000;
    start_node();
    want_boot_not = 0;
    CU_ASSERT_FATAL(pump_until(new_birth, 30000));
    wait_state(1 /* IDLE */, "1.0.0+0", 10000);

    /* Bad input, refused with a reason and counted. */
    cur_im = &v2;
    answered_before = N.answered;
    send_block(&v2, "nope", 0);
    CU_ASSERT_FATAL(pump_until(got_answer, 20000));
    CU_ASSERT(!N.ack && strstr(N.answer_reason, "unknown transfer") != NULL);
    answered_before = N.answered;
    send_manifest(&v2, "v2-a", 1);
    CU_ASSERT_FATAL(pump_until(got_answer, 20000));
    CU_ASSERT(strstr(N.answer_reason, "signature is not from a key this node trusts") != NULL);
    CU_ASSERT_EQUAL(N.refused, 2);

    /* The transfer: half the blocks, then a SIGKILL and a broker restart. */
    size_t n_blocks = (v2.len + BLOCK - 1) / BLOCK;
    CU_ASSERT_FATAL(n_blocks > 8 && n_blocks < MAX_BLOCKS);
    unsigned sent[MAX_BLOCKS] = {0};
    cur_tid = "v2-a";
    answer_to(send_cur_manifest);
    CU_ASSERT(N.answer_reason[0] == '\0' && N.bitmap_len == (n_blocks + 7) / 8);
    wait_state(2 /* DOWNLOADING */, "1.0.0+0", 10000);
    send_blocks(&v2, "v2-a", 0, n_blocks / 2, sent);
    all_acked_to = 3; /* enough acknowledged that a resume is worth checking */
    CU_ASSERT_FATAL(pump_until(acked_all, 20000));
    want_boot_not = N.boot_id;
    kill_payload();
    services("stop");
    services("start");
    CU_ASSERT_FATAL(pump_until(new_birth, 60000));

    /* The new boot holds every block it acknowledged: the answer's bitmap says so. */
    answer_to(send_cur_manifest);
    CU_ASSERT_FATAL(N.bitmap_len == (n_blocks + 7) / 8);
    size_t held = 0, acked = 0;
    for (size_t k = 0; k < n_blocks; k++) {
        int in_map = (N.bitmap[k / 8] >> (k % 8)) & 1;
        held += (size_t)in_map;
        acked += (size_t)N.acked[k];
        if (N.acked[k] && !in_map)
            CU_FAIL("an acknowledged block is missing after the restart");
        N.acked[k] = in_map;
    }
    CU_ASSERT(held >= 3);
    fprintf(stderr, "\n  resumed with %zu of %zu blocks held (%zu acknowledged before)\n", held,
            n_blocks, acked);
    for (size_t k = 0; k < n_blocks; k++)
        if (!N.acked[k])
            send_blocks(&v2, "v2-a", k, k + 1, sent);
    all_acked_to = (int)n_blocks;
    CU_ASSERT_FATAL(pump_until(acked_all, 30000));
    CU_ASSERT_EQUAL(N.duplicates, 0);
    for (size_t k = 0; k < n_blocks; k++)
        CU_ASSERT(sent[k] <= 2); /* at most once more: only blocks lost unacknowledged */

    /* Installed, rebooted into the test image, confirmed by its first accepted frame. */
    want_boot_not = N.boot_id;
    CU_ASSERT_FATAL(pump_until(new_birth, 60000));
    wait_state(5 /* CONFIRMED */, "2.0.0+0", 30000);
    CU_ASSERT_STRING_EQUAL(N.state_version, "2.0.0+0");
    snprintf(cmd, sizeof cmd, "'%s' --dir '%s/slots' --key '%s/mcuboot/golden.key.pub' status",
             boot_bin, dir, data_dir);
    CU_ASSERT(cu_run(cmd, &out) == 0);
    CU_ASSERT(out && strstr(out, "2.0.0+0") && strstr(out, "confirmed"));
    free(out);

    /* An image that exits before it confirms: reverted; the old one says why. */
    memset(N.acked, 0, sizeof N.acked);
    cur_im = &v3;
    cur_tid = "v3-a";
    answer_to(send_cur_manifest);
    CU_ASSERT(N.answer_reason[0] == '\0');
    n_blocks = (v3.len + BLOCK - 1) / BLOCK;
    send_blocks(&v3, "v3-a", 0, n_blocks, sent);
    all_acked_to = (int)n_blocks;
    CU_ASSERT_FATAL(pump_until(acked_all, 30000));
    want_boot_not = N.boot_id;
    CU_ASSERT_FATAL(pump_until(new_birth, 60000));
    wait_state(6 /* REVERTED */, "2.0.0+0", 30000);
    CU_ASSERT_STRING_EQUAL(N.state_version, "3.0.0+0");
    CU_ASSERT(strstr(N.reason, "exited with status 3") != NULL);

    stop_node();
    MQTTClient_disconnect(cli, 1000);
    MQTTClient_destroy(&cli);
    free(v2.bytes);
    free(v3.bytes);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: test_update_node CITYNODE_BOOT CITYNODE CITYFLASH DATA_DIR\n");
        return 64;
    }
    boot_bin = argv[1];
    citynode_bin = argv[2];
    cityflash_bin = argv[3];
    data_dir = argv[4];
    static const struct cu_test tests[] = {
        {"manifest, blocks, SIGKILL and broker restart, confirm, revert", test_update},
        {NULL, NULL},
    };
    return cu_main("update_node", tests);
}
