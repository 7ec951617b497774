/*
 * test_credentials.c -- a node's entries in the gateway's registry and in
 * Mosquitto's password and ACL files (tools/cityflash/credentials.c).
 *
 * Covered: the $7$ hash against one computed with Python's
 * hashlib.pbkdf2_hmac("sha512", b"s3cret", bytes(range(12)), 101); a
 * re-provisioning that replaces the node's registry section, password line
 * and ACL block and keeps every other line (comments, other devices, site
 * sections, a user whose name starts with the node's, pattern lines); and a
 * registry text the gateway's own parser accepts.
 */
#include <stdlib.h>
#include <string.h>

#include "credentials.h"
#include "cu.h"
#include "registry.h"

/* How often needle occurs in hay. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_hash(void)
{
    uint8_t salt[12];
    char out[256];
    for (int i = 0; i < 12; i++)
        salt[i] = (uint8_t)i;
    CU_ASSERT_FATAL(cf_mosquitto_hash("s3cret", salt, out, sizeof out) == 0);
    CU_ASSERT_STRING_EQUAL(out, "$7$101$AAECAwQFBgcICQoL$IpgH3VQ91wmfiqnHyCcv5LkCSTVCZJR4RN98JP+Z86"
                                "mYpyKLciwvQFATmKYSP1f5GH3TSr/yHeGj1Fz1SoMhag==");
    CU_ASSERT(cf_mosquitto_hash("s3cret", salt, out, 40) == -1); /* never cut short */
}

static void test_registry(void)
{
    static const char old[] = "; site registry\n"
                              "[device a]\nsite = s1\nkey = 000102030405060708090a0b0c0d0e0f\n"
                              "[device n1]\nsite = s0\nkey = ffffffffffffffffffffffffffffffff\n"
                              "sensors = old\n"
                              "[site s1]\nzone = Europe/Madrid\n"
                              "[device n10]\nsite = s1\nkey = 101112131415161718191a1b1c1d1e1f";
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0xa0 + i);
    char *t = cf_registry_with(old, strlen(old), "n1", "s1", key, sizeof key, "loop-1,loop-2");
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT(count(t, "[device n1]") == 1 && !strstr(t, "ffffffff") && !strstr(t, "= old"));
    CU_ASSERT(strstr(t, "; site registry\n[device a]\n") != NULL);
    CU_ASSERT(strstr(t, "[site s1]\nzone = Europe/Madrid\n[device n10]\n") != NULL);
    CU_ASSERT(strstr(t, "1e1f\n[device n1]\nsite = s1\nkey = a0a1a2a3") != NULL);
    CU_ASSERT(strstr(t, "bebf\nsensors = loop-1,loop-2\n") != NULL);
    struct gw_registry *reg = NULL;
    struct gw_registry_diag diag;
    CU_ASSERT(gw_registry_new(t, strlen(t), &reg, &diag) == 0);
    gw_registry_free(reg);
    free(t);
}

static void test_passwd_and_acl(void)
{
    static const char pw[] = "citygate:$7$101$x$y\nn1:$7$101$old$old\nn10:$7$101$z$z\n";
    char *t = cf_passwd_with(pw, strlen(pw), "n1", "new-secret");
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT(strncmp(t, "citygate:$7$101$x$y\nn10:$7$101$z$z\nn1:$7$101$", 44) == 0);
    CU_ASSERT(count(t, "n1:") == 1 && !strstr(t, "$old"));
    free(t);

    static const char acl[] = "user citygate\ntopic read city/v1/+/+/data\n\n"
                              "# the n1 block below is cityflash's\n"
                              "user n1\ntopic write city/v1/s0/n1/data\n\n"
                              "user n10\ntopic write city/v1/s1/n10/data\n"
                              "pattern read city/v1/public/#\n";
    t = cf_acl_with(acl, strlen(acl), "n1", "s1");
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT(strstr(t, "user citygate\ntopic read city/v1/+/+/data\n\n# the n1 block") != NULL);
    CU_ASSERT(!strstr(t, "city/v1/s0/n1"));
    CU_ASSERT(strstr(t, "user n10\ntopic write city/v1/s1/n10/data\npattern read") != NULL);
    CU_ASSERT(strstr(t,
                     "user n1\ntopic write city/v1/s1/n1/data\n"
                     "topic write city/v1/s1/n1/status\ntopic read city/v1/s1/n1/cmd\n"
                     "topic write city/v1/s1/n1/cmd/reply\ntopic write city/v1/s1/n1/update\n") !=
              NULL);
    CU_ASSERT(count(t, "user n1\n") == 1);
    free(t);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"the $7$ hash of mosquitto_passwd", test_hash},
        {"registry: the node's section replaced, the rest kept", test_registry},
        {"password and ACL: the node's entries replaced, the rest kept", test_passwd_and_acl},
        {NULL, NULL},
    };
    return cu_main("credentials", tests);
}
