/*
 * cu.h -- the one way a citygate test executable runs its CUnit tests.
 */
#ifndef CITYGATE_TEST_CU_H
#define CITYGATE_TEST_CU_H

#include <CUnit/CUnit.h>

struct cu_test {
    const char *name;
    void (*fn)(void);
};

/*
 * Runs the NULL-terminated tests as one suite named suite and returns the
 * process exit code: 0 only when CUnit ran every test and none failed.
 */
int cu_main(const char *suite, const struct cu_test *tests);

/* Reads an environment variable that a test cannot run without; aborts the test run if unset. */
const char *cu_env(const char *name);

/*
 * Runs cmd through the shell, collects all it prints on stdout (cmd says
 * 2>&1 to have stderr too), and returns its exit status (-1 when it did not
 * exit). With out,
 * the output is stored there (caller frees); without, it is discarded.
 */
int cu_run(const char *cmd, char **out);

#endif
