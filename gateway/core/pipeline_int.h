/*
 * pipeline_int.h -- the pipeline's parts, for pipeline.c and snapshot.c only.
 */
#ifndef CITYGATE_GW_PIPELINE_INT_H
#define CITYGATE_GW_PIPELINE_INT_H

#include "pipeline.h"

#define PIPELINE_ARENA_BYTES (256 * 1024)

struct gw_pipeline {
    const struct gw_registry *reg;
    const struct gw_device *signer; /* the frame being admitted's device, found by pipeline_key() */
    struct wire_decoder decoder;
    struct gw_validate_limits limits;
    struct gw_dedup *dedup;
    struct gw_windows *windows;
    struct gw_windows_config windows_config; /* to make them anew */
    struct gw_rules *rules;
    struct gw_rules_limits rules_limits;
    struct gw_pipeline_stats stats;
    int64_t incomplete_before_ms; /* windows starting before it are never emitted; 0: none */
    struct gw_late_report late;   /* the last commit's, when late_due */
    int late_due;
    unsigned char arena[PIPELINE_ARENA_BYTES];
};

#endif
