/*
 * err.h -- the one error space of the gateway core and its adapters, shaped
 * as libuv's: functions return 0 or a negative enum gw_err, and
 * gw_strerror() gives the text for logs.
 *
 * Every code has its own value, far from the small negative numbers other
 * spaces use (wire_decode()'s negated enum wire_err, -errno), so a number
 * read in the wrong space never passes for another code. Errors of the
 * operating system travel as GW_EOS(errno) (an adapter's file or socket
 * call), so that a caller prints gw_strerror(rc) and never reads errno after
 * the call. A refusal of input is GW_EREJECTED; its reason (enum gw_reject,
 * validate.h) comes in a separate out value, never in the return.
 *
 * Codes are listed once, in GW_ERRORS: name, value, text.
 */
#ifndef CITYGATE_GW_ERR_H
#define CITYGATE_GW_ERR_H

#define GW_ERRORS(X)                                                                               \
    X(GW_ENOMEM, -1001, "out of memory")                                                           \
    X(GW_EINVAL, -1002, "invalid argument")                                                        \
    X(GW_ERANGE, -1003, "out of range")                                                            \
    X(GW_EFULL, -1004, "full")                                                                     \
    X(GW_ENOTFOUND, -1005, "not found")                                                            \
    X(GW_EIO, -1006, "I/O error")                                                                  \
    X(GW_ERETRY, -1007, "temporary failure, retry")                                                \
    X(GW_ECONFIG, -1008, "configuration error")                                                    \
    X(GW_EREJECTED, -1009, "input refused")

enum gw_err {
    GW_OK = 0,
#define GW__ERR_ENUM(name, value, text) name = value,
    GW_ERRORS(GW__ERR_ENUM)
#undef GW__ERR_ENUM
};

/* An errno value e (1 ... 999) as a gw_err, and back: GW_EOS(ENOSPC). */
#define GW_EOS_BASE (-2000)
#define GW_EOS(e) (GW_EOS_BASE - (e))

/* The errno value of an error made by GW_EOS(), or 0 for any other. */
int gw_err_errno(int err);

/* errno value e as a gw_err: GW_EOS(e), or GW_EIO when e is not an errno
 * value (0, say: a short read or write with no error). */
int gw_err_os(int e);

/* Text for an error code: the code's own, strerror()'s for GW_EOS(e),
 * "unknown error" for a value that is not a code; never NULL. */
const char *gw_strerror(int err);

#endif
