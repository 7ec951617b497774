/*
 * snapshot.c -- the pipeline's state as bytes, for the journal's snapshots:
 * a magic number and version, then dedup's and the windows' own sections,
 * then the incomplete-window mark (gw_pipeline_mark_incomplete()).
 * Alert states are not kept: they are rebuilt from the next readings (an
 * active alert is notified again, retained, with the same content).
 */
#include "pipeline.h"

#include "alloc.h"
#include "err.h"
#include "pipeline_int.h"
#include "serial.h"

#define SNAPSHOT_MAGIC 0x43475350u /* "CGSP" */
/* 2: dedup's boot history; 3: the incomplete-window mark. Older ones are still read. */
#define SNAPSHOT_VERSION 3u

int gw_pipeline_snapshot(const struct gw_pipeline *p, uint8_t **buf, size_t *len)
{
    struct gw_wbuf w;
    gw_wbuf_init(&w);
    gw_put_u32(&w, SNAPSHOT_MAGIC);
    gw_put_u32(&w, SNAPSHOT_VERSION);
    int rc = gw_dedup_snapshot(p->dedup, &w);
    if (rc == 0)
        rc = gw_windows_snapshot(p->windows, &w);
    gw_put_u64(&w, (uint64_t)p->incomplete_before_ms);
    if (rc == 0)
        rc = w.err;
    if (rc != 0) {
        gw_free(w.buf);
        return rc;
    }
    *buf = w.buf;
    *len = w.len;
    return 0;
}

int gw_pipeline_restore(struct gw_pipeline *p, const uint8_t *buf, size_t len)
{
    struct gw_rbuf r;
    gw_rbuf_init(&r, buf, len);
    if (gw_get_u32(&r) != SNAPSHOT_MAGIC)
        return GW_EINVAL;
    uint32_t version = gw_get_u32(&r);
    if (version < 1 || version > SNAPSHOT_VERSION || r.bad)
        return GW_EINVAL;
    int rc = gw_dedup_restore(p->dedup, &r, version);
    if (rc == 0)
        rc = gw_windows_restore(p->windows, &r);
    if (rc == 0 && version >= 3)
        p->incomplete_before_ms = (int64_t)gw_get_u64(&r);
    if (rc == 0 && (r.bad || r.left != 0 || p->incomplete_before_ms < 0))
        rc = GW_EINVAL;
    if (rc != 0) {
        /* As new: a half-restored state would make the replay drop frames as duplicates. */
        gw_dedup_reset(p->dedup);
        p->incomplete_before_ms = 0;
        gw_windows_free(p->windows);
        p->windows = NULL;
        if (gw_windows_new(&p->windows_config, &p->windows) != 0)
            return GW_ENOMEM;
    }
    return rc;
}
