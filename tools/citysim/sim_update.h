/*
 * sim_update.h -- citysim's simulated nodes take firmware updates over MQTT
 * like citynode does: the node core's own update agent (firmware/core/
 * update.h) over a port whose two slots, partial image and bitmap live in
 * memory, the boot stage's own A/B decision (firmware/core/boot.h) at every
 * simulated restart, and self-confirmation once enough live frames of the
 * test boot were confirmed by the broker.
 *
 * Every node starts on the same signed image (--update-image, held once for
 * the whole fleet), verified with the trusted keys (--update-key). An update
 * goes through the checks of an on-site upload (slot_install_check()), is
 * marked for a test boot and taken at the next restart; the restart itself
 * is citysim's business (it frees the node core and makes a new one over the
 * same RAM ring), told by sim_update_take_reboot().
 *
 * A node may be made to fail on purpose (enum sim_update_fail), each in one
 * of the ways a real node fails: a block stored wrong (the whole image then
 * misses its SHA-256 and the node says FAILED), a slot that decays before
 * the test boot (the boot stage refuses it: FAILED), or a test image that
 * crashes before it confirms (the boot stage reverts: REVERTED). One thread
 * (citysim's main thread) per node.
 */
#ifndef CITYGATE_SIM_UPDATE_H
#define CITYGATE_SIM_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "image_file.h"
#include "node.h"
#include "update.h"

#define SIM_UPDATE_MAX_KEYS 8

/* How a node fails an update on purpose (--update-fail-kinds). */
enum sim_update_fail {
    SIM_UPDATE_FAIL_NONE,
    SIM_UPDATE_FAIL_CORRUPT, /* the first block is stored with one bit flipped */
    SIM_UPDATE_FAIL_REFUSE,  /* the installed image decays before the test boot */
    SIM_UPDATE_FAIL_CRASH,   /* the test image crashes before it confirms */
    SIM_UPDATE_N_FAILS
};

/* "none", "corrupt", "refuse", "crash". */
extern const char *const sim_update_fail_names[SIM_UPDATE_N_FAILS];

/* What every node shares: the first image, the trusted keys, when a test boot confirms. */
struct sim_update_fleet {
    struct node_image_file base; /* the image each node runs at start */
    uint8_t keys[SIM_UPDATE_MAX_KEYS][NODE_ED25519_PUB_BYTES];
    size_t n_keys;
    uint32_t confirm_frames; /* live frames confirmed by the broker before a test boot confirms */
};

/* One node's slots and transfer; caller storage that must not move once initialised. */
struct sim_update_node {
    const struct sim_update_fleet *fleet;
    struct node_boot_state st;
    struct node_image_file slot[2]; /* by physical slot; the fleet's base is borrowed, not owned */
    struct node_image_version running;
    struct node_update_record rec;
    int has_rec;
    uint8_t *part;   /* the partial image (rec.m.size bytes) while downloading; owned */
    uint8_t *bitmap; /* NODE_UPDATE_BITMAP_BYTES while downloading; owned */
    uint8_t fail;    /* enum sim_update_fail */
    uint8_t reboot;  /* a restart is due (sim_update_take_reboot()) */
    uint8_t confirm_pending;
    uint8_t crashed; /* CRASH: this test boot has crashed already */
    struct node_update_port port;
};

/*
 * Reads the first image (image_path) and the trusted public key (key_path,
 * a PEM file as citynode-boot --key takes), and checks that the image
 * verifies with it. Returns 0, or -1 with why in err (cap bytes). Release
 * with sim_update_fleet_fini().
 */
int sim_update_fleet_init(struct sim_update_fleet *f, const char *image_path, const char *key_path,
                          uint32_t confirm_frames, char *err, size_t cap);
void sim_update_fleet_fini(struct sim_update_fleet *f);

/*
 * Sets up u on the fleet's first image (borrowed fleet; must outlive u),
 * failing as fail says, and boots it. Returns 0, or -1 with why in err.
 * Release with sim_update_node_fini().
 */
int sim_update_node_init(struct sim_update_node *u, const struct sim_update_fleet *fleet,
                         enum sim_update_fail fail, char *err, size_t cap);
void sim_update_node_fini(struct sim_update_node *u);

/* The port for node_config.update; valid as long as u. */
const struct node_update_port *sim_update_port(struct sim_update_node *u);

/*
 * The boot stage at a restart: a test, a revert or nothing, as the slots'
 * trailers say (node_boot_go()). Call it after the node core was freed and
 * before the new one is made. Returns 0, or -1 with why in err when no
 * image can boot (cannot happen with a verified first image).
 */
int sim_update_boot(struct sim_update_node *u, char *err, size_t cap);

/* The node asked for a restart (its HAL's reboot, an installed update); also called on crash. */
void sim_update_request_reboot(struct sim_update_node *u);

/* 1 (once) when a restart is due: the caller frees the node, boots and makes it again. */
int sim_update_take_reboot(struct sim_update_node *u);

/*
 * After the node did something: a test boot whose node has enough live
 * frames confirmed confirms itself (node_image_confirmed()), or, failing
 * with CRASH, crashes and asks for a restart.
 */
void sim_update_after(struct sim_update_node *u, struct node *n);

#endif
