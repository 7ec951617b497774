/*
 * boot.c -- the A/B boot decision of MCUboot's bootutil, portable.
 *
 * bootutil swaps the contents of the two slots sector by sector and keeps a
 * swap status so that a reset in the middle resumes. Our ports swap by
 * exchanging which physical slot is the primary (st->primary), and the port
 * stores the whole state in one atomic step, so there is no half-done swap
 * to resume and no status area: a power cut leaves the state before or
 * after a transition. What the trailers mean, the order the swap-type tables
 * are evaluated in, and which flags each swap writes follow bootutil
 * (bootutil_public.c boot_swap_type_multi, loader.c boot_perform_update and
 * swap_set_image_ok).
 */
#include "boot.h"

#include <stdio.h>
#include <string.h>

/* design.md: the 16-byte magic for BOOT_MAX_ALIGN 8. */
static const uint8_t boot_magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                       0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};

/* Offsets from the start of the 48-byte trailer (each field padded to 8). */
#define OFF_SWAP_SIZE 0
#define OFF_SWAP_INFO 8
#define OFF_COPY_DONE 16
#define OFF_IMAGE_OK 24
#define OFF_MAGIC 32

static const struct node_boot_trailer erased = {
    .magic_good = 0,
    .image_ok = NODE_BOOT_FLAG_UNSET,
    .copy_done = NODE_BOOT_FLAG_UNSET,
    .swap_info = 0xff,
    .swap_size = 0xffffffffu,
};

const char *node_boot_event_name(enum node_boot_event ev)
{
    switch (ev) {
    case NODE_BOOT_EV_NONE:
        return "NONE";
    case NODE_BOOT_EV_TESTING:
        return "TESTING";
    case NODE_BOOT_EV_PERMANENT:
        return "PERMANENT";
    case NODE_BOOT_EV_REVERTED:
        return "REVERTED";
    case NODE_BOOT_EV_REFUSED:
        return "REFUSED";
    case NODE_BOOT_EV_CONFIRMED:
        return "CONFIRMED";
    }
    return "UNKNOWN";
}

void node_boot_state_init(struct node_boot_state *st)
{
    memset(st, 0, sizeof *st);
    st->trailer[0] = erased;
    st->trailer[1] = erased;
}

void node_boot_trailer_encode(const struct node_boot_trailer *t,
                              uint8_t out[NODE_BOOT_TRAILER_BYTES])
{
    memset(out, 0xff, NODE_BOOT_TRAILER_BYTES);
    for (int i = 0; i < 4; i++)
        out[OFF_SWAP_SIZE + i] = (uint8_t)(t->swap_size >> (8 * i));
    out[OFF_SWAP_INFO] = t->swap_info;
    out[OFF_COPY_DONE] = t->copy_done;
    out[OFF_IMAGE_OK] = t->image_ok;
    if (t->magic_good)
        memcpy(out + OFF_MAGIC, boot_magic, sizeof boot_magic);
}

/* bootutil reads any value other than 0x01 in a flag as "unset" unless it is bad;
 * we keep it simple: 0x01 is set, everything else unset. */
static uint8_t flag(uint8_t b)
{
    return b == NODE_BOOT_FLAG_SET ? NODE_BOOT_FLAG_SET : NODE_BOOT_FLAG_UNSET;
}

void node_boot_trailer_decode(const uint8_t in[NODE_BOOT_TRAILER_BYTES],
                              struct node_boot_trailer *t)
{
    t->swap_size =
        (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
    t->swap_info = in[OFF_SWAP_INFO];
    t->copy_done = flag(in[OFF_COPY_DONE]);
    t->image_ok = flag(in[OFF_IMAGE_OK]);
    t->magic_good = memcmp(in + OFF_MAGIC, boot_magic, sizeof boot_magic) == 0;
}

enum node_boot_swap node_boot_swap_type(const struct node_boot_state *st)
{
    const struct node_boot_trailer *p = &st->trailer[st->primary];
    const struct node_boot_trailer *s = &st->trailer[st->primary ^ 1];
    /* State II, III, IV in this order (design.md "New swaps"). */
    if (s->magic_good && s->image_ok == NODE_BOOT_FLAG_UNSET)
        return NODE_BOOT_SWAP_TEST;
    if (s->magic_good && s->image_ok == NODE_BOOT_FLAG_SET)
        return NODE_BOOT_SWAP_PERM;
    if (p->magic_good && p->image_ok == NODE_BOOT_FLAG_UNSET && p->copy_done == NODE_BOOT_FLAG_SET)
        return NODE_BOOT_SWAP_REVERT;
    return NODE_BOOT_SWAP_NONE;
}

int node_boot_check_rollback(const struct node_boot_state *st,
                             const struct node_image_info *running,
                             const struct node_image_info *candidate, char *why, size_t cap)
{
    char a[48], b[48];
    if (candidate->security_counter < st->security_counter) {
        snprintf(why, cap, "security counter %u is older than installed %u",
                 candidate->security_counter, st->security_counter);
        return -1;
    }
    if (running && node_image_version_cmp(&candidate->hdr.ver, &running->hdr.ver) < 0) {
        node_image_version_format(&candidate->hdr.ver, a, sizeof a);
        node_image_version_format(&running->hdr.ver, b, sizeof b);
        snprintf(why, cap, "version %s is older than installed %s", a, b);
        return -1;
    }
    return 0;
}

void node_boot_set_pending(struct node_boot_state *st, int permanent)
{
    struct node_boot_trailer *s = &st->trailer[st->primary ^ 1];
    *s = erased;
    s->magic_good = 1;
    s->image_ok = permanent ? NODE_BOOT_FLAG_SET : NODE_BOOT_FLAG_UNSET;
}

int node_boot_on_trial(const struct node_boot_state *st)
{
    const struct node_boot_trailer *p = &st->trailer[st->primary];
    return p->magic_good && p->copy_done == NODE_BOOT_FLAG_SET &&
           p->image_ok == NODE_BOOT_FLAG_UNSET;
}

static void set_event(struct node_boot_state *st, enum node_boot_event ev,
                      const struct node_image_version *v, const char *reason)
{
    st->event = ev;
    st->event_version = *v;
    snprintf(st->event_reason, sizeof st->event_reason, "%s", reason ? reason : "");
}

int node_boot_set_confirmed(struct node_boot_state *st, const struct node_image_version *version)
{
    struct node_boot_trailer *p = &st->trailer[st->primary];
    if (p->image_ok == NODE_BOOT_FLAG_SET)
        return 0;
    int was_on_trial = node_boot_on_trial(st);
    /* boot_set_next(active): magic and copy_done too, so that the state reads as kept. */
    p->magic_good = 1;
    p->copy_done = NODE_BOOT_FLAG_SET;
    p->image_ok = NODE_BOOT_FLAG_SET;
    if (was_on_trial)
        set_event(st, NODE_BOOT_EV_CONFIRMED, version, NULL);
    return 1;
}

void node_boot_erase_secondary(struct node_boot_state *st)
{
    st->trailer[st->primary ^ 1] = erased;
}

/* Exchanges the slots and writes the new primary's trailer the way a finished swap of type t does.
 */
static void swap_slots(struct node_boot_state *st, enum node_boot_swap t, uint32_t size)
{
    st->primary ^= 1;
    struct node_boot_trailer *p = &st->trailer[st->primary];
    *p = erased;
    p->magic_good = 1;
    p->copy_done = NODE_BOOT_FLAG_SET;
    p->swap_info = (uint8_t)t;
    p->swap_size = size;
    /* swap_set_image_ok after PERM and REVERT: the image stays. */
    if (t == NODE_BOOT_SWAP_PERM || t == NODE_BOOT_SWAP_REVERT)
        p->image_ok = NODE_BOOT_FLAG_SET;
    st->trailer[st->primary ^ 1] = erased;
}

static int verify_slot(const struct node_storage *slot, const struct node_boot_keys *k,
                       struct node_image_info *info)
{
    return node_image_verify(slot, k->crypto, k->keys, k->n_keys, info);
}

int node_boot_go(struct node_boot_state *st, const struct node_storage slots[2],
                 const struct node_boot_keys *keys, struct node_image_info *primary_info)
{
    struct node_image_info run, cand;
    enum node_boot_swap t = node_boot_swap_type(st);
    int run_rc = verify_slot(&slots[st->primary], keys, &run);
    char why[NODE_BOOT_REASON_BYTES];

    if (t == NODE_BOOT_SWAP_TEST || t == NODE_BOOT_SWAP_PERM) {
        int rc = verify_slot(&slots[st->primary ^ 1], keys, &cand), verified = rc == 0;
        if (rc < 0)
            snprintf(why, sizeof why, "%s", node_image_strerror(rc));
        else
            rc = node_boot_check_rollback(st, run_rc == 0 ? &run : NULL, &cand, why, sizeof why);
        if (rc < 0) {
            struct node_image_version unknown = {0, 0, 0, 0};
            set_event(st, NODE_BOOT_EV_REFUSED, verified ? &cand.hdr.ver : &unknown, why);
            node_boot_erase_secondary(st);
        } else {
            swap_slots(st, t, (uint32_t)cand.total_bytes);
            set_event(st, t == NODE_BOOT_SWAP_TEST ? NODE_BOOT_EV_TESTING : NODE_BOOT_EV_PERMANENT,
                      &cand.hdr.ver, NULL);
            run = cand;
            run_rc = 0;
        }
    } else if (t == NODE_BOOT_SWAP_REVERT) {
        /* The image before the test must still verify; if it does not, the test image stays. */
        if (verify_slot(&slots[st->primary ^ 1], keys, &cand) == 0) {
            struct node_image_version failed = run.hdr.ver;
            if (run_rc < 0)
                failed = (struct node_image_version){0, 0, 0, 0};
            swap_slots(st, t, (uint32_t)cand.total_bytes);
            set_event(st, NODE_BOOT_EV_REVERTED, &failed,
                      st->trial_end[0] ? st->trial_end : "not confirmed before the restart");
            run = cand;
            run_rc = 0;
        }
    }
    st->trial_end[0] = '\0';
    if (run_rc < 0)
        return run_rc;
    /* A confirmed image raises the node's counter (MCUboot's boot_update_security_counter). */
    if (st->trailer[st->primary].image_ok == NODE_BOOT_FLAG_SET &&
        run.security_counter > st->security_counter)
        st->security_counter = run.security_counter;
    *primary_info = run;
    return 0;
}
