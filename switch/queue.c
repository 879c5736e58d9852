/*  queue.c — named queues, the subscriptions of servers to them, and delivery.

    Owns: sw_queue_t and sw_sub_t, the queue FIFO, the ready ring, the in-flight map
    entries, credit accounting, and DELIVER.  Never touches: clients' sessions (peer.c),
    the wire layout (wire.c), how frames are sent (send.c).

    Fair dispatch: a subscription with credit > 0 is in its queue's *ready ring*, ordered
    by when it last received a delivery, least recent first.  The pump hands the oldest
    waiting request to the ring's head, which then goes to the tail (or out of the ring when
    its credit reaches 0).  A REPLY or CREDIT puts a subscription back in its place.
*/
#include <stdlib.h>
#include <string.h>

#include "switch.h"

bool sw_queue_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > XSP_QUEUE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._-:/@+", c)) || c == '\0')
            return false;
    }
    return true;
}

static bool queue_idle(const sw_queue_t *q)
{
    return q->depth == 0 && q->inflight == 0 && q->consumers == 0 && q->subs == NULL;
}

static void disown(sw_queue_t *q)
{
    sw_peer_t *o = q->owner;
    if (!o)
        return;
    if (q->own_prev)
        q->own_prev->own_next = q->own_next;
    else
        o->owned = q->own_next;
    if (q->own_next)
        q->own_next->own_prev = q->own_prev;
    q->own_prev = q->own_next = NULL;
    q->owner = NULL;
    o->nowned--;
}

void sw_queue_disown_all(sw_peer_t *p)
{
    while (p->owned)
        disown(p->owned);
}

static void queue_forget(sw_t *sw, sw_queue_t *q)
{
    disown(q);
    sw_map_del(&sw->queues, q->name, q->name_len);
    if (q->prev)
        q->prev->next = q->next;
    else
        sw->queue_list = q->next;
    if (q->next)
        q->next->prev = q->prev;
    sw->nqueues--;
    sw->ct.queues_reclaimed++;
    free(q);
}

/*  Forget every idle queue owned by `owner` (or every idle queue when NULL). */
static void reclaim_idle(sw_t *sw, sw_peer_t *owner)
{
    sw_queue_t *q = owner ? owner->owned : sw->queue_list;
    while (q) {
        sw_queue_t *next = owner ? q->own_next : q->next;
        if (queue_idle(q))
            queue_forget(sw, q);
        q = next;
    }
}

static sw_queue_t *queue_create(sw_t *sw, sw_peer_t *p, const char *name, size_t len, xsp_code_t *why)
{
    if (!sw_queue_name_valid(name, len)) {
        *why = XSP_E_INVALID_ARGUMENT;
        return NULL;
    }
    if (p && p->nowned >= sw->lim.max_queues_per_peer) {
        reclaim_idle(sw, p);
        if (p->nowned >= sw->lim.max_queues_per_peer) {
            sw->ct.queue_quota_refused++;
            *why = XSP_E_TOO_MANY_QUEUES;
            return NULL;
        }
    }
    if (sw->nqueues >= sw->lim.max_queues) {
        reclaim_idle(sw, NULL);
        if (sw->nqueues >= sw->lim.max_queues) {
            *why = XSP_E_TOO_MANY_QUEUES;
            return NULL;
        }
    }
    sw_queue_t *q = calloc(1, sizeof *q);
    if (!q) {
        *why = XSP_E_INTERNAL;
        return NULL;
    }
    memcpy(q->name, name, len);
    q->name_len = (uint32_t) len;
    q->durable = sw->dur && sw_durable_queue_match(sw, q->name);
    if (sw_map_put(&sw->queues, q->name, q->name_len, q)) {
        free(q);
        *why = XSP_E_INTERNAL;
        return NULL;
    }
    q->next = sw->queue_list;
    if (q->next)
        q->next->prev = q;
    sw->queue_list = q;
    sw->nqueues++;
    if (p) {
        q->owner = p;
        q->own_next = p->owned;
        if (q->own_next)
            q->own_next->own_prev = q;
        p->owned = q;
        p->nowned++;
    }
    return q;
}

sw_queue_t *sw_queue_get(sw_t *sw, const char *name, size_t len, bool create, xsp_code_t *why)
{
    sw_queue_t *q = sw_map_get(&sw->queues, name, len);
    if (q || !create)
        return q;
    return queue_create(sw, NULL, name, len, why);
}

sw_queue_t *sw_queue_get_for(sw_t *sw, sw_peer_t *p, const char *name, size_t len, xsp_code_t *why)
{
    sw_queue_t *q = sw_map_get(&sw->queues, name, len);
    return q ? q : queue_create(sw, p, name, len, why);
}

/* ---------------------------------------------------------------- FIFO */

void sw_queue_push_tail(sw_queue_t *q, sw_msg_t *m)
{
    m->qnext = NULL;
    m->qprev = q->tail;
    if (q->tail)
        q->tail->qnext = m;
    else
        q->head = m;
    q->tail = m;
    q->depth++;
}

void sw_queue_push_head(sw_queue_t *q, sw_msg_t *m)
{
    m->qprev = NULL;
    m->qnext = q->head;
    if (q->head)
        q->head->qprev = m;
    else
        q->tail = m;
    q->head = m;
    q->depth++;
}

void sw_queue_unlink(sw_queue_t *q, sw_msg_t *m)
{
    if (m->qprev)
        m->qprev->qnext = m->qnext;
    else
        q->head = m->qnext;
    if (m->qnext)
        m->qnext->qprev = m->qprev;
    else
        q->tail = m->qprev;
    m->qprev = m->qnext = NULL;
    q->depth--;
}

/* ---------------------------------------------------------------- ready ring */

/*  Insert s so the ring stays ordered by last delivery, oldest first.  s usually was
    served most recently (it just received), so the walk from the tail is short. */
static void ready_insert(sw_queue_t *q, sw_sub_t *s)
{
    sw_sub_t *after = q->ready_tail;
    while (after && after->last_served > s->last_served)
        after = after->rprev;
    s->rprev = after;
    s->rnext = after ? after->rnext : q->ready_head;
    if (s->rnext)
        s->rnext->rprev = s;
    else
        q->ready_tail = s;
    if (after)
        after->rnext = s;
    else
        q->ready_head = s;
    s->ready = true;
}

static void ready_unlink(sw_queue_t *q, sw_sub_t *s)
{
    if (!s->ready)
        return;
    if (s->rprev)
        s->rprev->rnext = s->rnext;
    else
        q->ready_head = s->rnext;
    if (s->rnext)
        s->rnext->rprev = s->rprev;
    else
        q->ready_tail = s->rprev;
    s->rprev = s->rnext = NULL;
    s->ready = false;
}

/* ---------------------------------------------------------------- subscriptions */

/*  A closed subscription (after UNSUBSCRIBE) is out of its queue's lists but lives on in
    its peer's list until its last in-flight request is answered; qprev == self marks it. */
static bool sub_closed(const sw_sub_t *s)
{
    return s->qprev == s;
}

sw_sub_t *sw_sub_find(sw_peer_t *p, sw_queue_t *q)
{
    for (sw_sub_t *s = p->subs; s; s = s->peer_next)
        if (s->queue == q && !sub_closed(s))
            return s;
    return NULL;
}

sw_sub_t *sw_sub_add(sw_t *sw, sw_peer_t *p, sw_queue_t *q)
{
    (void) sw;
    sw_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->peer = p;
    s->queue = q;
    s->peer_next = p->subs;
    p->subs = s;
    s->qnext = q->subs;
    if (q->subs)
        q->subs->qprev = s;
    q->subs = s;
    q->consumers++;
    return s;
}

void sw_sub_add_credit(sw_t *sw, sw_sub_t *s, uint64_t n)
{
    uint64_t room = sw->lim.max_credit > s->credit ? sw->lim.max_credit - s->credit : 0;
    s->credit += (uint32_t) (n < room ? n : room);      /* saturates at max_credit */
    if (s->credit > 0 && !s->ready && !sub_closed(s)) {
        ready_insert(s->queue, s);
        sw_queue_pump(sw, s->queue);
    }
}

static void sub_free(sw_sub_t *s)
{
    for (sw_sub_t **pp = &s->peer->subs; *pp; pp = &(*pp)->peer_next)
        if (*pp == s) {
            *pp = s->peer_next;
            break;
        }
    free(s);
}

/*  Unlink m from its subscription's in-flight list, the in-flight map and the counters. */
static void inflight_detach(sw_t *sw, sw_msg_t *m)
{
    sw_sub_t *s = m->sub;
    if (m->qprev)
        m->qprev->qnext = m->qnext;
    else
        s->if_head = m->qnext;
    if (m->qnext)
        m->qnext->qprev = m->qprev;
    else
        s->if_tail = m->qprev;
    m->qprev = m->qnext = NULL;
    m->sub = NULL;
    s->inflight--;
    s->peer->inflight--;
    m->queue->inflight--;
    sw_map_del(&sw->inflight, &m->id, sizeof m->id);
}

void sw_inflight_remove(sw_t *sw, sw_msg_t *m)
{
    sw_sub_t *s = m->sub;
    inflight_detach(sw, m);
    if (!sub_closed(s))
        sw_sub_add_credit(sw, s, 1);        /* the answered request's slot is free again */
    else if (s->inflight == 0)
        sub_free(s);
}

void sw_sub_remove(sw_t *sw, sw_sub_t *s, bool server_dead)
{
    sw_queue_t *q = s->queue;
    if (!sub_closed(s)) {
        ready_unlink(q, s);
        if (s->qprev)
            s->qprev->qnext = s->qnext;
        else
            q->subs = s->qnext;
        if (s->qnext)
            s->qnext->qprev = s->qprev;
        s->qnext = NULL;
        s->qprev = s;           /* marks the subscription closed */
        q->consumers--;
        sw_trace(sw, SW_EV_UNSUBSCRIBE, q, 0, 0, s->peer->label, q->name, 0, NULL, 0, 0, NULL);
    }
    if (server_dead) {
        /* Walk the dead server's in-flight requests newest first, pushing each back to the
           head of the queue, so that they end up there in their original order. */
        bool requeued = false;
        while (s->if_tail) {
            sw_msg_t *m = s->if_tail;
            inflight_detach(sw, m);
            bool detached = m->d && m->d->detached;
            if ((!m->client && !detached) || (m->flags & XSP_FLAG_AT_MOST_ONCE))
                sw_deadline_remove(sw, m);      /* it is about to be freed (or held) */
            if (detached && (m->flags & XSP_FLAG_AT_MOST_ONCE)) {
                sw->ct.server_lost++;
                sw_durable_hold(sw, m, 0, NULL, true);  /* its owner hears it on return */
            } else if (!m->client && !detached) {
                sw_msg_free(sw, m);         /* orphan: nobody waits for it any more */
                sw->nmsgs--;
            } else if (m->flags & XSP_FLAG_AT_MOST_ONCE) {
                sw->ct.server_lost++;
                sw_fail_request(sw, m, XSP_E_SERVER_LOST,
                                "server %s died with this at-most-once request in flight on queue '%s'",
                                s->peer->label, q->name);
                sw_msg_free(sw, m);
                sw->nmsgs--;
            } else {
                sw_queue_push_head(q, m);
                q->st.requeued++;
                sw->ct.requeued++;
                sw_trace(sw, SW_EV_REQUEUE, q, m->id, m->corr, s->peer->label, q->name,
                         zmq_msg_size(&m->payload), m->dbg.ptr, m->dbg.len, 0, NULL);
                requeued = true;
            }
        }
        if (requeued)
            sw_queue_pump(sw, q);
    }
    if (s->inflight == 0)
        sub_free(s);
}

/* ---------------------------------------------------------------- delivery */

static int deliver(sw_t *sw, sw_sub_t *s, sw_msg_t *m)
{
    sw_queue_t *q = m->queue;
    xsp_hdr_t h = { .cmd = XSP_CMD_DELIVER };
    h.msg_id = m->id;
    h.queue = (xsp_str_t) { q->name, q->name_len };
    if (m->deadline_ns) {
        uint64_t left = m->deadline_ns > sw->now_ns ? (m->deadline_ns - sw->now_ns) / 1000000 : 0;
        h.timeout_ms = left ? left : 1;
    }
    h.flags = m->flags;
    h.dbg = m->dbg;
    if (m->client) {
        h.peer_id = m->client->id;
        h.domid = m->client->domid;
    } else if (m->d) {              /* detached: its owner has no session right now */
        h.domid = m->d->domid;
    }
    if (m->d && (m->flags & XSP_FLAG_AT_MOST_ONCE) && !m->d->delivered && sw_durable_delivering(sw, m))
        return -1;

    /* the queued record keeps its payload until the reply, for redelivery: hand the server
       a reference-counted copy (no byte copy for bodies over 33 bytes) */
    if (sw_map_put(&sw->inflight, &m->id, sizeof m->id, m))
        return -1;                          /* out of memory: leave it queued */
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, &m->payload);
    if (sw_send(sw, s->peer, &h, &copy) < 0) {
        zmq_msg_close(&copy);
        sw_map_del(&sw->inflight, &m->id, sizeof m->id);
        return -1;
    }
    sw_queue_unlink(q, m);
    m->sub = s;
    m->qnext = NULL;
    m->qprev = s->if_tail;
    if (s->if_tail)
        s->if_tail->qnext = m;
    else
        s->if_head = m;
    s->if_tail = m;
    s->inflight++;
    s->credit--;
    s->last_served = ++sw->serve_seq;
    s->peer->inflight++;
    q->inflight++;
    m->delivered_ns = sw->now_ns;
    q->st.delivered++;
    sw->ct.delivered++;
    sw_trace(sw, SW_EV_DELIVER, q, m->id, m->corr, q->name, s->peer->label, zmq_msg_size(&m->payload),
             m->dbg.ptr, m->dbg.len, 0, &m->payload);
    return 0;
}

void sw_queue_pump(sw_t *sw, sw_queue_t *q)
{
    while (q->head && q->ready_head) {
        sw_sub_t *s = q->ready_head;
        ready_unlink(q, s);
        if (s->peer->dead)
            continue;                       /* its death will remove the subscription */
        if (deliver(sw, s, q->head) < 0) {
            /* the server's connection is gone (doomed) or full: no more until it speaks */
            s->credit = 0;
            continue;
        }
        if (s->credit > 0)
            ready_insert(q, s);
    }
}

void sw_queue_dispose_all(sw_t *sw)
{
    sw_queue_t *q = sw->queue_list;
    while (q) {
        sw_queue_t *next = q->next;
        free(q);
        q = next;
    }
    sw->queue_list = NULL;
}
