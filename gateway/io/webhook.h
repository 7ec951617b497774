/*
 * webhook.h -- delivers alert changes as JSON POSTs to an operator's URL, in
 * order, through the delivery engine of sink.h (its own instance and thread),
 * with the webhook's policy: one alert per request, max_attempts tries with
 * the store's backoff bounds, at most max_queue alerts waiting.
 *
 * The queue is bounded (the alert being sent counts): when it is full the
 * oldest waiting alert is dropped and counted. A 2xx answer is delivered;
 * 4xx other than 408 and 429 is a permanent refusal (counted, not retried);
 * anything else is retried until max_attempts, then given up and counted.
 */
#ifndef CITYGATE_GW_WEBHOOK_H
#define CITYGATE_GW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "adapters.h"

struct gw_webhook_stats {
    uint64_t delivered, refused, failed, dropped; /* alerts; failed: given up after max_attempts */
    uint64_t retries;                             /* failed attempts that were tried again */
    size_t queued;                                /* waiting or being sent */
};

struct gw_webhook;

/* Starts the sender; cfg is copied, its url borrowed. Returns 0 and sets *out
 * (caller frees with gw_webhook_free()), or GW_ENOMEM. */
int gw_webhook_new(const struct gw_webhook_config *cfg, struct gw_webhook **out);

/* Queues a copy of the JSON body; any thread. Returns 0 or GW_ENOMEM. */
int gw_webhook_post(struct gw_webhook *w, const char *json, size_t len);

void gw_webhook_stats(struct gw_webhook *w, struct gw_webhook_stats *out);

/* Stops after the request in progress; queued alerts are dropped. NULL is a no-op. */
void gw_webhook_free(struct gw_webhook *w);

#endif
