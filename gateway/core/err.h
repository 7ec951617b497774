/*
 * err.h -- the gateway's error codes. Functions return 0 or one of these
 * (negative); gw_strerror() gives the text for logs.
 */
#ifndef CITYGATE_GW_ERR_H
#define CITYGATE_GW_ERR_H

enum gw_err {
    GW_OK = 0,
    GW_ENOMEM = -1,    /* an allocation failed */
    GW_EINVAL = -2,    /* an argument or input is invalid */
    GW_ERANGE = -3,    /* a value is outside its allowed range */
    GW_EFULL = -4,     /* a bounded structure is full */
    GW_ENOTFOUND = -5, /* no such key, device, series or rule */
    GW_EIO = -6,       /* an I/O operation failed (adapters only) */
    GW_ERETRY = -7,    /* a transient failure; the engine retries later (adapters only) */
    GW_ECONFIG = -8,   /* a configuration error, with a diagnostic */
};

/* Text for an error code; never NULL. */
const char *gw_strerror(int err);

#endif
