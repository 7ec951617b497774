/*
 * script_image.h -- a signed firmware image whose payload is a shell script,
 * for the tests that run citynode under citynode-boot: the boot stage runs
 * the payload, so a script that execs citynode stands for a build of it.
 */
#ifndef CITYGATE_TEST_SCRIPT_IMAGE_H
#define CITYGATE_TEST_SCRIPT_IMAGE_H

#include <stdint.h>

/*
 * Writes script: "#!/bin/sh", body, then a comment of pad_bytes letters
 * (from salt, so that two images of the same body differ), and signs it
 * with `cityflash image sign` and data_dir's mcuboot/golden.key as version
 * with security counter counter into img. All paths borrowed; fails the
 * running test fatally when it cannot.
 */
void cu_script_image(const char *cityflash, const char *data_dir, const char *script,
                     const char *img, const char *body, int pad_bytes, int salt,
                     const char *version, uint32_t counter);

#endif
