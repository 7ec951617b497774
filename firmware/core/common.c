/*
 * common.c -- small helpers every file of the node core uses: error texts
 * and the name check that keeps ids safe to put in topics and JSON unescaped.
 */
#include "node_int.h"

#include <string.h>

const char *node_strerror(int err)
{
    static const char *const text[NODE_N_ERRS] = {
        [NODE_OK] = "success",
        [NODE_ENOMEM] = "out of memory",
        [NODE_EINVAL] = "invalid argument",
        [NODE_EIO] = "storage failed",
        [NODE_ERETRY] = "not now, try again",
        [NODE_ENET] = "refused by the network",
        [NODE_ETOOBIG] = "too large",
        [NODE_ECORRUPT] = "stored data is corrupt",
        [NODE_EDRIVER] = "sensor driver failed",
        [NODE_EEMPTY] = "nothing to read",
    };
    int e = err < 0 ? -err : err;
    return e < NODE_N_ERRS ? text[e] : "unknown error";
}

int node__valid_name(const char *s, size_t max, const char *extra)
{
    size_t n = 0;
    if (!s || !*s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || (extra && strchr(extra, c) != NULL);
        if (!ok || n >= max)
            return 0;
    }
    return 1;
}

int node_valid_id(const char *s)
{
    return node__valid_name(s, NODE_MAX_ID, NULL);
}
