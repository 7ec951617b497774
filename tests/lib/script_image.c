/*
 * script_image.c -- a signed image whose payload is a padded shell script
 * (script_image.h).
 */
#include "script_image.h"

#include <stdio.h>

#include <CUnit/CUnit.h>

#include "cu.h"

void cu_script_image(const char *cityflash, const char *data_dir, const char *script,
                     const char *img, const char *body, int pad_bytes, int salt,
                     const char *version, uint32_t counter)
{
    char cmd[4096];
    FILE *f = fopen(script, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "#!/bin/sh\n%s\n#", body);
    for (int i = 0; i < pad_bytes; i++)
        fputc('a' + (i * 7 + salt) % 26, f);
    fputc('\n', f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    snprintf(cmd, sizeof cmd,
             "'%s' image sign --key '%s/mcuboot/golden.key' --version %s --security-counter %u "
             "'%s' '%s' >/dev/null",
             cityflash, data_dir, version, counter, script, img);
    CU_ASSERT_FATAL(cu_run(cmd, NULL) == 0);
}
