/*
 * boot_store.h -- the boot stage's folder on Linux: two slot files and the
 * boot state (which slot is primary, both MCUboot trailers, the security
 * counter, the last event), each replaced atomically.
 *
 *     DIR/slot-0.img, DIR/slot-1.img   the physical slots (whole image files)
 *     DIR/boot.state                   struct node_boot_state, binary, CRC-32
 *     DIR/lock                         flock()ed around every read-modify-write
 *     DIR/run/payload                  the primary's payload, written before it runs
 *
 * The boot stage (citynode-boot), the node's management port and `citynode-
 * boot confirm` may all change the state; they take the lock, load, change,
 * store (write, fsync, rename) and release, so a SIGKILL or power cut at any
 * moment leaves the old or the new state, and never a slot file half written
 * under its name.
 */
#ifndef CITYGATE_BOOT_STORE_H
#define CITYGATE_BOOT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "image_file.h"

#define BOOT_STORE_PATH_MAX 4096
/* The largest image a slot holds. */
#define BOOT_SLOT_MAX_BYTES (256ull << 20)

/* Path of a file in dir ("slot-0.img", "boot.state", ...) into buf; -1 if too long. */
int boot_store_path(const char *dir, const char *name, char *buf, size_t size);

/* Path of physical slot i's file. */
int boot_store_slot_path(const char *dir, int slot, char *buf, size_t size);

/*
 * Takes the folder's lock (creating dir and its lock file if missing).
 * Returns the lock's fd (release with boot_store_unlock()), or -1 with why in err.
 */
int boot_store_lock(const char *dir, char *err, size_t cap);
void boot_store_unlock(int fd);

/*
 * Loads the state; a folder without one gets a fresh state. Returns 0, or -1
 * with why in err (a damaged state file is an error, never silently reset).
 */
int boot_store_load(const char *dir, struct node_boot_state *st, char *err, size_t cap);

/* Stores the state atomically. Returns 0, or -1 with why in err. */
int boot_store_save(const char *dir, const struct node_boot_state *st, char *err, size_t cap);

/* Both slot files, loaded whole; a missing file is an empty slot (reads fail, size 0). */
struct boot_slots {
    struct node_image_file file[2];
    struct node_storage storage[2]; /* by physical slot */
};

/* Loads both slots of dir into *s (which must not move afterwards). Returns 0, or -1 with why in
 * err. */
int boot_slots_load(const char *dir, struct boot_slots *s, char *err, size_t cap);
void boot_slots_free(struct boot_slots *s);

/*
 * Confirms the running image (MCUboot's boot_set_confirmed): under the lock,
 * the primary's trailer gets image_ok, and a trial ends. Used by `citynode-
 * boot confirm`, by citynode when its health criteria hold, and through the
 * management port. Returns 1 when the state changed, 0 when it was confirmed
 * already, -1 with why in err.
 */
int boot_store_confirm(const char *dir, char *err, size_t cap);

/*
 * Tells the boot stage that runs this process (the pipe named by
 * CITYNODE_BOOT_FD) that the image confirmed, so that it lifts the trial's
 * deadline. Returns 0, 1 when there is no such pipe, -1 on a write error.
 */
int boot_store_tell_confirmed(void);

#endif
