/*
 * outbox.c -- a bounded FIFO of alert messages (see outbox.h for why it
 * exists). Each message is one allocation holding its topic and payload.
 */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int gw_outbox_push(struct gw_outbox *o, const char *topic, const void *payload, size_t len)
{
    size_t topic_len = strlen(topic);
    struct gw_outbox_msg *m = NULL;
    if (o->n >= GW_OUTBOX_MAX) {
        o->refused++;
        return GW_EFULL;
    }
    if (!(m = malloc(sizeof *m + topic_len + 1 + len))) {
        o->refused++;
        return GW_ENOMEM;
    }
    char *at = (char *)(m + 1);
    memcpy(at, topic, topic_len + 1);
    memcpy(at + topic_len + 1, payload, len);
    m->next = NULL;
    m->topic = at;
    m->payload = at + topic_len + 1;
    m->len = len;
    if (o->tail)
        o->tail->next = m;
    else
        o->head = m;
    o->tail = m;
    o->n++;
    return 0;
}

struct gw_outbox_msg *gw_outbox_pop(struct gw_outbox *o)
{
    struct gw_outbox_msg *m = o->head;
    if (!m)
        return NULL;
    o->head = m->next;
    if (!o->head)
        o->tail = NULL;
    o->n--;
    return m;
}

void gw_outbox_fini(struct gw_outbox *o)
{
    struct gw_outbox_msg *m;
    while ((m = gw_outbox_pop(o)) != NULL)
        free(m);
}
