/*
 * test_err.c -- the gateway's error space (err.h): every code has a value of
 * its own, outside the numbers of the other spaces (negated wire errors and
 * refusal reasons, negated errno), and a message of its own; errors of the
 * operating system carried by GW_EOS() read as strerror() does.
 */
#include <errno.h>
#include <string.h>

#include "cu.h"
#include "err.h"
#include "validate.h"
#include "wire.h"

struct code {
    int value;
    const char *name;
};

static const struct code codes[] = {
#define ROW(name, value, text) {name, #name},
    GW_ERRORS(ROW)
#undef ROW
};
#define N_CODES (sizeof codes / sizeof codes[0])

static void test_every_code_has_its_own_message(void)
{
    const char *unknown = gw_strerror(GW_EOS_BASE + 1);
    CU_ASSERT_STRING_EQUAL(unknown, "unknown error");
    CU_ASSERT_STRING_EQUAL(gw_strerror(GW_OK), "ok");
    for (size_t i = 0; i < N_CODES; i++) {
        const char *text = gw_strerror(codes[i].value);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        if (text[0] == '\0' || strcmp(text, unknown) == 0 || strcmp(text, "ok") == 0)
            CU_FAIL_FATAL("a code without a message of its own");
        for (size_t j = 0; j < i; j++) {
            CU_ASSERT(codes[j].value != codes[i].value);
            CU_ASSERT(strcmp(gw_strerror(codes[j].value), text) != 0);
        }
    }
}

/* -1 was both GW_ENOMEM and -WIRE_ETOO_LARGE: no code may be a negated
 * wire error, refusal reason or errno value, nor one GW_EOS() makes. */
static void test_codes_are_apart_from_other_spaces(void)
{
    CU_ASSERT(GW_REJECT_N < 1000 && WIRE_N_ERRS < 1000);
    for (size_t i = 0; i < N_CODES; i++) {
        int v = codes[i].value;
        CU_ASSERT(v < -999);
        CU_ASSERT(v > GW_EOS_BASE);
        CU_ASSERT_EQUAL(gw_err_errno(v), 0);
        CU_ASSERT_EQUAL(strncmp(codes[i].name, "GW_E", 4), 0);
    }
}

static void test_os_errors_read_as_strerror(void)
{
    static const int os[] = {EPERM, ENOENT, EIO, ENOMEM, EACCES, EEXIST, ENOSPC, EROFS, EDQUOT};
    for (size_t i = 0; i < sizeof os / sizeof os[0]; i++) {
        int rc = GW_EOS(os[i]);
        CU_ASSERT(rc < GW_EOS_BASE);
        CU_ASSERT_EQUAL(gw_err_errno(rc), os[i]);
        CU_ASSERT_STRING_EQUAL(gw_strerror(rc), strerror(os[i]));
        for (size_t j = 0; j < N_CODES; j++)
            CU_ASSERT(rc != codes[j].value);
    }
    CU_ASSERT_EQUAL(gw_err_os(ENOSPC), GW_EOS(ENOSPC));
    CU_ASSERT_EQUAL(gw_err_os(0), GW_EIO); /* a short read or write: no errno to carry */
    CU_ASSERT_EQUAL(gw_err_errno(GW_EOS_BASE), 0);
    CU_ASSERT_EQUAL(gw_err_errno(-ENOSPC), 0); /* a bare -errno is not a code */
    CU_ASSERT_STRING_EQUAL(gw_strerror(-ENOSPC), "unknown error");
    CU_ASSERT_STRING_EQUAL(gw_strerror(-1), "unknown error");
    CU_ASSERT_STRING_EQUAL(gw_strerror(1), "unknown error");
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"every code has its own message", test_every_code_has_its_own_message},
        {"codes are apart from the other spaces", test_codes_are_apart_from_other_spaces},
        {"OS errors read as strerror", test_os_errors_read_as_strerror},
        {NULL, NULL},
    };
    return cu_main("error space", tests);
}
