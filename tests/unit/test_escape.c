/*
 * test_escape.c -- gw_escape(): every byte value comes out printable, line
 * breaks and backslashes are escaped, and a cut always fits and is marked.
 */
#include <string.h>

#include "cu.h"
#include "escape.h"

static void test_escape_bytes(void)
{
    char out[64];
    CU_ASSERT_EQUAL(gw_escape("loop-1", 6, out, sizeof out), 6);
    CU_ASSERT_STRING_EQUAL(out, "loop-1");
    gw_escape("hs-a\ncitygate: forged", 21, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "hs-a\\x0acitygate: forged");
    gw_escape("a\\b\rc\0d\x7f\xc3\xa9", 10, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "a\\\\b\\x0dc\\x00d\\x7f\\xc3\\xa9");
    /* Cut to fit, marked, never in the middle of an escape. */
    CU_ASSERT_EQUAL(gw_escape("abcdefgh", 8, out, 9), 8);
    CU_ASSERT_STRING_EQUAL(out, "abcdefgh");
    CU_ASSERT_EQUAL(gw_escape("abcdefghi", 9, out, 9), 8);
    CU_ASSERT_STRING_EQUAL(out, "abcde...");
    gw_escape("ab\n\n\n", 5, out, 10);
    CU_ASSERT_STRING_EQUAL(out, "ab\\x0a...");
    CU_ASSERT_EQUAL(gw_escape("\n", 1, out, 4), 3);
    CU_ASSERT_STRING_EQUAL(out, "...");
    CU_ASSERT_EQUAL(gw_escape("", 0, out, 4), 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    /* Every byte value comes out printable. */
    char all[256], big[1024];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    size_t n = gw_escape(all, sizeof all, big, sizeof big);
    CU_ASSERT_EQUAL(n, strlen(big));
    for (size_t i = 0; i < n; i++)
        CU_ASSERT(big[i] >= 0x20 && big[i] <= 0x7e);
}

int main(void)
{
    static const struct cu_test tests[] = {
        {"bytes, cuts and marks", test_escape_bytes},
        {NULL, NULL},
    };
    return cu_main("escape", tests);
}
