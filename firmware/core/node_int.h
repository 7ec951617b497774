/*
 * node_int.h -- what the files of the node core share and nobody else uses:
 * the sampler (sample.c), the command parser and status messages (cmd.c).
 */
#ifndef CITYGATE_NODE_INT_H
#define CITYGATE_NODE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "control.pb-c.h"
#include "node.h"
#include "update.h"

/* 1 when s is [A-Za-z0-9._-]{1,max} (extra: further allowed characters, may be ""). */
int node__valid_name(const char *s, size_t max, const char *extra);

/* ---- sample.c: sensors to signed frames ---- */

struct node__sampler;

/* What a frame carries besides the readings. */
struct node__frame_meta {
    uint64_t boot_id;
    uint64_t seq;
    uint64_t timestamp_ms;
    uint32_t interval_ms;
    uint64_t uptime_s;
    uint64_t free_storage_bytes;
    uint32_t backlog_frames;
    uint64_t backlog_dropped;
};

/* Two encodings of one frame: as sent live and as stored (backlog flag set). */
struct node__encoded {
    uint8_t *live, *stored; /* each max_frame_bytes, owned by the sampler */
    size_t live_len, stored_len;
};

/*
 * Opens every sensor of cfg (borrowed, must outlive the sampler). On success
 * sets *out (caller frees with node__sampler_free()); on failure returns a
 * negative enum node_err and writes why to diag.
 */
int node__sampler_new(const struct node_config *cfg, struct node__sampler **out,
                      struct node_diag *diag);
void node__sampler_free(struct node__sampler *s);

/*
 * Samples every sensor for the interval ending at m->timestamp_ms and encodes
 * the frame twice into the sampler's buffers (*enc points at them until the
 * next call). Returns 0, -NODE_ETOOBIG when the frame exceeds
 * max_frame_bytes, or -NODE_EDRIVER when a driver failed (the frame is still
 * encoded with what the others gave; *failed names the first failing sensor).
 */
int node__sampler_frame(struct node__sampler *s, const struct node__frame_meta *m,
                        struct node__encoded *enc, const char **failed);

/* ---- cmd.c: commands and status messages ---- */

enum node__cmd_kind {
    NODE__CMD_REBIRTH,
    NODE__CMD_SET_INTERVAL,
    NODE__CMD_REBOOT,
    NODE__CMD_OTA,        /* an update's manifest */
    NODE__CMD_OTA_BLOCK,  /* one block of it */
    NODE__CMD_OTA_CANCEL, /* the end of a transfer still downloading */
};

struct node__cmd {
    enum node__cmd_kind kind;
    int authentic; /* signed for this node, its boot and a fresh counter: worth a reply */
    char name[32]; /* the command as sent, for the reply */
    char id[NODE_MAX_ID + 1];
    uint32_t interval_ms;
    /* The update commands' bodies, in the caller's arena (may be NULL: the agent refuses). */
    const Citygate__V1__UpdateManifest *manifest;
    const Citygate__V1__UpdateBlock *block;
    const char *transfer_id; /* ota_cancel; never NULL */
};

/* The arena node__cmd_parse() decodes into: its results live there until the next parse. */
#define NODE__CMD_ARENA_BYTES (2 * NODE_MAX_CMD_BYTES)

/*
 * Verifies and parses a signed command (payload borrowed, len bytes) for the
 * node of cfg in boot boot_id: signed with cfg's key, for its device and
 * boot, with a counter above *last_counter, which it then raises. arena
 * (NODE__CMD_ARENA_BYTES, max_align_t aligned) holds what out points to.
 * Returns 0 and fills *out, or -NODE_EINVAL with why in diag (cap bytes);
 * out->authentic then tells a forged or replayed command (0: no reply) from
 * an authentic one that is not valid (1: name and id filled for the reply).
 * Never logs.
 */
int node__cmd_parse(const struct node_config *cfg, uint64_t boot_id, uint64_t *last_counter,
                    const uint8_t *payload, size_t len, void *arena, struct node__cmd *out,
                    char *diag, size_t cap);

/* What the birth and death messages say. */
struct node__status {
    const struct node_config *cfg;
    uint64_t boot_id;
    uint32_t interval_ms;
    uint64_t time_ms;
    uint64_t backlog_frames;
};

/*
 * Writes the signed birth (alive) or death Status to buf (cap bytes);
 * returns its length or -NODE_ETOOBIG.
 */
int node__status_encode(const struct node__status *s, int alive, uint8_t *buf, size_t cap);

/* What an update report says besides the agent's state (update.h). */
struct node__update_msg {
    const struct node_config *cfg;
    uint64_t boot_id;
    uint64_t time_ms;
    const struct node_update *u;
    const struct node_update_answer *a; /* NULL: the retained state */
};

/* Writes the signed UpdateReport to buf (cap bytes); returns its length or -NODE_ETOOBIG. */
int node__update_encode(const struct node__update_msg *m, uint8_t *buf, size_t cap);

/*
 * Turns an ota command's manifest into *m; NULL when it is valid, else why
 * (a static string).
 */
const char *node__update_manifest(const Citygate__V1__UpdateManifest *pb,
                                  struct node_update_manifest *m);

/* Writes the reply to a command; error is NULL on success. Returns the length or -NODE_ETOOBIG. */
int node__reply_json(const struct node__cmd *c, const char *error, char *buf, size_t cap);

#endif
