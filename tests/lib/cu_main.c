/*
 * cu_main.c -- runs a suite with CUnit's basic interface.
 *
 * CU_basic_run_tests() returns a framework error code, not the number of
 * failures, so the exit code is computed from the run summary instead: a
 * failed assertion, a failed test or a framework error all make it non-zero.
 */
#include "cu.h"

#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>
#include <sys/wait.h>

int cu_main(const char *suite, const struct cu_test *tests)
{
    int rc = 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (!s)
        goto out;
    for (const struct cu_test *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn))
            goto out;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (CU_basic_run_tests() != CUE_SUCCESS)
        goto out;
    rc = CU_get_number_of_failures() != 0 || CU_get_number_of_tests_failed() != 0;
out:
    CU_cleanup_registry();
    return rc;
}

const char *cu_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run this test under tools/services\n", name);
        exit(1);
    }
    return v;
}

int cu_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    size_t cap = 1 << 12, len = 0, n;
    char *buf = malloc(cap);
    CU_ASSERT_FATAL(buf != NULL);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 == cap) {
            buf = realloc(buf, cap *= 2);
            CU_ASSERT_FATAL(buf != NULL);
        }
    }
    buf[len] = '\0';
    int status = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
