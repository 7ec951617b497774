/*
 * err.c -- texts for enum gw_err (err.h).
 */
#include "err.h"

#include <string.h>

int gw_err_errno(int err)
{
    return err < GW_EOS_BASE && err > GW_EOS(1000) ? GW_EOS_BASE - err : 0;
}

int gw_err_os(int e)
{
    return e > 0 && e < 1000 ? GW_EOS(e) : GW_EIO;
}

const char *gw_strerror(int err)
{
    int os = gw_err_errno(err);
    if (os)
        return strerror(os);
    switch (err) {
    case GW_OK:
        return "ok";
#define GW__ERR_TEXT(name, value, text)                                                            \
    case name:                                                                                     \
        return text;
        GW_ERRORS(GW__ERR_TEXT)
#undef GW__ERR_TEXT
    }
    return "unknown error";
}
