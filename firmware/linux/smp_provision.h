/*
 * smp_provision.h -- the management port's provisioning group (SMP group
 * 64, the first per-user group id): who the node is and how it reaches the
 * broker, written into the node's provisioning file (provision.h).
 *
 *   64/0 read  -> {"provisioned": bool, and when it is: "id", "site",
 *                 "broker", "username"}; the key and the password are
 *                 never read back.
 *   64/0 write {"id", "site", "key" (bytes, 16..64), "broker", "username",
 *              "password", optional "sensors" (the text of [sensor NAME]
 *              sections)} -> {}: the node's file DIR/node.ini gets these
 *              [node] keys; its other [node] keys stay, and its [sensor]
 *              sections stay unless "sensors" replaces them. The result is
 *              checked with the parser citynode uses (prov_load()) and
 *              replaces the file atomically, mode 0600; a file that would
 *              not load is refused with the parser's reason and the old
 *              one stays.
 *   64/1 read  -> {"slot_size": bytes, "cid": 16 bytes when the node has a
 *                 hardware class}: what an image must fit, so that a client
 *                 refuses a wrong image before sending it.
 *
 * The running citynode reads the file at its next start (a reset through the
 * OS group, or its own reboot). One call at a time, from the port's thread.
 */
#ifndef CITYGATE_SMP_PROVISION_H
#define CITYGATE_SMP_PROVISION_H

#include <stddef.h>

#include <cbor.h>

#include "smp_server.h"

/* The provisioning file's name in the boot stage's folder. */
#define SMP_PROVISION_FILE "node.ini"

/* The group's command ids. */
enum { SMP_PROV_IDENTITY = 0, SMP_PROV_BOARD = 1 };

/*
 * Answers command id of the provisioning group (write nonzero for a write)
 * with the request map req (borrowed; may be NULL) into the response map rsp
 * (borrowed): the result's keys, or "rc" and "rsn" on a refusal.
 */
void smp_provision_handle(const struct smp_server *s, int id, int write, const cbor_item_t *req,
                          cbor_item_t *rsp);

#endif
