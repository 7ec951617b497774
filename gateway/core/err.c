/*
 * err.c -- texts for enum gw_err.
 */
#include "err.h"

const char *gw_strerror(int err)
{
    switch (err) {
    case GW_OK:
        return "ok";
    case GW_ENOMEM:
        return "out of memory";
    case GW_EINVAL:
        return "invalid argument";
    case GW_ERANGE:
        return "out of range";
    case GW_EFULL:
        return "full";
    case GW_ENOTFOUND:
        return "not found";
    case GW_EIO:
        return "I/O error";
    case GW_ERETRY:
        return "temporary failure, retry";
    case GW_ECONFIG:
        return "configuration error";
    }
    return "unknown error";
}
