/*  trace.c — the trace ring and its subscribers.

    Owns: a fixed ring of `trace_events` records allocated once at start (plus an optional
    fixed array of payload prefixes), the sequence counter, and the per-peer cursors of
    trace subscribers.  Never touches: queues, requests.  Memory never grows after start,
    whatever subscribers do (XSA-354 was an unbounded trace buffer in dom0).

    Data structure: event number `seq` (from 1) lives in ring[seq % cap].  The oldest event
    still held is max(1, next_seq - cap).  A subscriber is a cursor (peer->trace_next); the
    pump sends from the cursor while the peer's socket accepts, so a slow reader only falls
    behind; once it is more than `cap` behind, the skipped events are counted in `lost` and
    reported in its next TRACE_EVENT or TRACE_END.
*/
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "switch.h"

#define TRACE_DBG_MAX 256       /* dbg kept per event; longer dbg strings are truncated */
#define PUMP_BUDGET 512         /* events per subscriber per loop turn */

/*  One event.  The four strings are packed one after the other in `text` (queue, from, to,
    dbg, each NUL-terminated), so a typical event with short names touches two cache lines
    instead of one per field. */
#define TEXT_MAX (XSP_QUEUE_MAX + 1 + 2 * SW_LABEL_MAX + TRACE_DBG_MAX + 1)
typedef struct {
    uint64_t seq, ts_ns, msg_id, corr, size, service_us;
    uint8_t kind;
    bool has_queue;
    uint16_t queue_len, from_len, to_len, dbg_len, payload_len;
    char text[TEXT_MAX];
} sw_event_t;

#define EV_QUEUE(e) ((e)->text)
#define EV_FROM(e)  ((e)->text + (e)->queue_len + 1)
#define EV_TO(e)    (EV_FROM(e) + (e)->from_len + 1)
#define EV_DBG(e)   (EV_TO(e) + (e)->to_len + 1)

struct sw_trace {
    sw_event_t *ring;
    uint8_t *payloads;
    uint32_t cap, payload_bytes;
    uint64_t next_seq;
};

static const char *const ev_names[SW_EV__COUNT] = {
    "send", "deliver", "reply", "expire", "requeue", "error", "drop", "peer-up", "peer-down",
    "subscribe", "unsubscribe",
};

const char *sw_ev_name(sw_ev_kind_t k)
{
    return k < SW_EV__COUNT ? ev_names[k] : "?";
}

int sw_trace_init(sw_t *sw)
{
    sw_trace_t *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->cap = sw->lim.trace_events ? sw->lim.trace_events : 1;
    t->payload_bytes = sw->lim.trace_payload_bytes;
    t->ring = calloc(t->cap, sizeof *t->ring);
    if (t->payload_bytes)
        t->payloads = calloc(t->cap, t->payload_bytes);
    t->next_seq = 1;
    sw->trace = t;
    if (!t->ring || (t->payload_bytes && !t->payloads))
        return -1;
    return 0;
}

void sw_trace_dispose(sw_t *sw)
{
    if (!sw->trace)
        return;
    free(sw->trace->ring);
    free(sw->trace->payloads);
    free(sw->trace);
    sw->trace = NULL;
}

uint64_t sw_trace_next_seq(const sw_t *sw)
{
    return sw->trace->next_seq;
}

static uint16_t copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (!src)
        len = 0;
    if (len > cap - 1)
        len = cap - 1;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
    return (uint16_t) len;
}

void sw_trace(sw_t *sw, sw_ev_kind_t kind, const sw_queue_t *q, uint64_t msg_id, uint64_t corr,
              const char *from, const char *to, uint64_t size, const char *dbg, size_t dbg_len,
              uint64_t service_us, const zmq_msg_t *payload)
{
    sw_trace_t *t = sw->trace;
    uint64_t seq = t->next_seq++;
    sw_event_t *e = &t->ring[seq % t->cap];
    e->seq = seq;
    e->ts_ns = sw->now_ns - sw->start_ns;
    e->kind = (uint8_t) kind;
    e->msg_id = msg_id;
    e->corr = corr;
    e->size = size;
    e->service_us = service_us;
    e->has_queue = q != NULL;
    char *txt = e->text;
    e->queue_len = copy_str(txt, XSP_QUEUE_MAX + 1, q ? q->name : NULL, q ? q->name_len : 0);
    txt += e->queue_len + 1;
    e->from_len = copy_str(txt, SW_LABEL_MAX, from, from ? strlen(from) : 0);
    txt += e->from_len + 1;
    e->to_len = copy_str(txt, SW_LABEL_MAX, to, to ? strlen(to) : 0);
    txt += e->to_len + 1;
    e->dbg_len = copy_str(txt, TRACE_DBG_MAX + 1, dbg, dbg_len);
    e->payload_len = 0;
    if (t->payload_bytes && payload) {
        size_t n = zmq_msg_size((zmq_msg_t *) payload);
        if (n > t->payload_bytes)
            n = t->payload_bytes;
        memcpy(t->payloads + (seq % t->cap) * t->payload_bytes,
               zmq_msg_data((zmq_msg_t *) payload), n);
        e->payload_len = (uint16_t) n;
    }
}

void sw_trace_subscribe(sw_t *sw, sw_peer_t *p, uint64_t from_seq, xsp_str_t glob, bool follow)
{
    if (!p->tracing) {
        p->trace_next_peer = sw->tracers;
        p->trace_prev_peer = NULL;
        if (sw->tracers)
            sw->tracers->trace_prev_peer = p;
        sw->tracers = p;
        p->tracing = true;
    }
    uint64_t oldest = sw->trace->next_seq > sw->trace->cap ? sw->trace->next_seq - sw->trace->cap : 1;
    if (from_seq == 0)
        from_seq = oldest;              /* 0 = "everything still held": nothing was lost */
    if (from_seq > sw->trace->next_seq)
        from_seq = sw->trace->next_seq;
    p->trace_follow = follow;
    p->trace_next = from_seq;
    p->trace_until = sw->trace->next_seq;
    p->trace_lost = 0;
    memcpy(p->trace_glob, glob.ptr, glob.len);
    p->trace_glob[glob.len] = '\0';
}

void sw_trace_unsubscribe(sw_t *sw, sw_peer_t *p)
{
    if (!p->tracing)
        return;
    if (p->trace_prev_peer)
        p->trace_prev_peer->trace_next_peer = p->trace_next_peer;
    else
        sw->tracers = p->trace_next_peer;
    if (p->trace_next_peer)
        p->trace_next_peer->trace_prev_peer = p->trace_prev_peer;
    p->trace_next_peer = p->trace_prev_peer = NULL;
    p->tracing = false;
}

static bool matches(const sw_peer_t *p, const sw_event_t *e)
{
    return !p->trace_glob[0] || !e->has_queue || fnmatch(p->trace_glob, EV_QUEUE(e), 0) == 0;
}

/*  Returns 0 when sent, -1 when the peer's socket did not take it. */
static int send_event(sw_t *sw, sw_peer_t *p, const sw_event_t *e)
{
    sw_trace_t *t = sw->trace;
    xsp_hdr_t h = { .cmd = XSP_CMD_TRACE_EVENT };
    h.seq = e->seq;
    h.ts_ns = e->ts_ns;
    h.code = XSP_STR(sw_ev_name((sw_ev_kind_t) e->kind));
    h.queue = (xsp_str_t) { EV_QUEUE(e), e->queue_len };
    h.msg_id = e->msg_id;
    h.corr = e->corr;
    h.name = (xsp_str_t) { EV_FROM(e), e->from_len };
    h.to = (xsp_str_t) { EV_TO(e), e->to_len };
    h.size = e->size;
    h.dbg = (xsp_str_t) { EV_DBG(e), e->dbg_len };
    h.service_us = e->service_us;
    h.lost = p->trace_lost;
    zmq_msg_t prefix;
    zmq_msg_t *pp = NULL;
    if (t->payload_bytes) {
        zmq_msg_init_size(&prefix, e->payload_len);
        memcpy(zmq_msg_data(&prefix), t->payloads + (e->seq % t->cap) * t->payload_bytes,
               e->payload_len);
        pp = &prefix;
    }
    int rc = sw_send(sw, p, &h, pp);
    if (rc < 0 && pp)
        zmq_msg_close(pp);
    return rc;
}

void sw_trace_pump(sw_t *sw)
{
    sw_trace_t *t = sw->trace;
    uint64_t oldest = t->next_seq > t->cap ? t->next_seq - t->cap : 1;
    sw_peer_t *p = sw->tracers;
    while (p) {
        sw_peer_t *next = p->trace_next_peer;
        if (p->dead) {
            p = next;
            continue;
        }
        if (p->trace_next < oldest) {
            uint64_t skipped = oldest - p->trace_next;
            p->trace_lost += skipped;
            sw->ct.trace_lost += skipped;
            p->trace_next = oldest;
        }
        uint64_t limit = p->trace_follow ? t->next_seq : p->trace_until;
        int budget = PUMP_BUDGET;
        bool blocked = false;
        while (p->trace_next < limit && budget-- > 0) {
            const sw_event_t *e = &t->ring[p->trace_next % t->cap];
            if (matches(p, e)) {
                if (send_event(sw, p, e) < 0) {
                    blocked = true;
                    break;
                }
                p->trace_lost = 0;
            }
            p->trace_next++;
        }
        if (!blocked && !p->trace_follow && p->trace_next >= limit) {
            xsp_hdr_t h = { .cmd = XSP_CMD_TRACE_END, .seq = p->trace_next, .lost = p->trace_lost };
            if (sw_send(sw, p, &h, NULL) == 0)
                sw_trace_unsubscribe(sw, p);
        }
        p = next;
    }
}

/*  True when some subscriber still has events to receive (the loop then polls briefly). */
bool sw_trace_pending(const sw_t *sw)
{
    for (const sw_peer_t *p = sw->tracers; p; p = p->trace_next_peer)
        if (!p->dead && (p->trace_follow ? p->trace_next < sw->trace->next_seq : true))
            return true;
    return false;
}
