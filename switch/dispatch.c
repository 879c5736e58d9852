/*  dispatch.c — one incoming message, from the socket to the handler of its command.

    Owns: reading [routing id, header, payload?] off the ROUTER socket, validating the
    header (wire.c), the session check, and the command handlers: HELLO, REQUEST, REPLY,
    SUBSCRIBE, UNSUBSCRIBE, CREDIT, HEARTBEAT, BYE, TRACE, UNTRACE, DIAG.
    Never touches: payload bytes (they are moved, never read), the wire layout itself.

    The hot path, REQUEST then REPLY, in one read:
      recv frames into sw->spare (a pooled sw_msg_t) -> decode header -> find session
      REQUEST: limits -> find/create queue -> adopt spare as the request -> FIFO -> pump
               (queue.c delivers it with a refcounted copy of the payload)
      REPLY:   in-flight map by msg_id -> check it was delivered to this peer -> credit back
               -> RESULT to the client with the reply payload moved, not copied -> free
*/
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "parse.h"
#include "switch.h"
#include "xsp/log.h"

static void on_hello(sw_t *sw, sw_peer_t *p, const void *rid, size_t rid_len, const xsp_hdr_t *h,
                     const zmq_msg_t *frame)
{
    if (h->version != XSP_PROTO_VERSION) {
        sw_send_error(sw, NULL, rid, rid_len, 0, 0, XSP_E_VERSION,
                      "protocol version %llu is not supported; this switch speaks version %d",
                      (unsigned long long) h->version, XSP_PROTO_VERSION);
        if (p)
            sw_peer_kill(sw, p, "protocol version mismatch");
        return;
    }
    if (p)
        sw_peer_kill(sw, p, "a new HELLO replaced the session");
    if (sw->npeers >= sw->lim.max_peers) {
        sw_send_error(sw, NULL, rid, rid_len, 0, 0, XSP_E_TOO_MANY_PEERS,
                      "the switch already holds its maximum of %u sessions", sw->lim.max_peers);
        return;
    }
    p = sw_peer_new(sw, rid, rid_len, h);
    if (!p) {
        sw_send_error(sw, NULL, rid, rid_len, 0, 0, XSP_E_INTERNAL, "out of memory for a session");
        return;
    }
    sw_auth_hello(sw, p, frame);       /* tcp: the certificate's identity replaces claims */
    xsp_hdr_t w = { .cmd = XSP_CMD_WELCOME, .version = XSP_PROTO_VERSION, .peer_id = p->id };
    w.heartbeat_ms = (uint64_t) sw->lim.heartbeat_ms;
    w.max_payload = sw->lim.max_payload;
    w.max_depth = sw->lim.max_depth;
    w.max_outstanding = sw->lim.max_outstanding;
    w.max_credit = sw->lim.max_credit;
    w.sw_version = XSP_STR(XSP_VERSION);
    w.boot_id = sw->boot_id;
    sw_send(sw, p, &w, NULL);
    /* the peer says nothing before it has our WELCOME: its silence starts now */
    p->last_seen_ns = sw->now_ns = sw_now_ns();
    if (sw->dur)
        sw_durable_attach(sw, p);       /* requests and answers kept for this identity */
}

/*  m is sw->spare holding the REQUEST's frames; on acceptance it becomes the request. */
static void on_request(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h, sw_msg_t *m)
{
    size_t plen = zmq_msg_size(&m->payload);
    xsp_code_t why = XSP_OK;
#define REFUSE(code, ...) \
    do { sw_send_error(sw, p, NULL, 0, XSP_CMD_REQUEST, h->corr, code, __VA_ARGS__); return; } while (0)

    if (p->authed && !sw_auth_may_call(sw, p, h->queue.ptr, h->queue.len, h->corr))
        return;                         /* a driver-domain identity outside its call rules */
    sw_queue_t *q = sw_map_get(&sw->queues, h->queue.ptr, h->queue.len);
    if (!q && !sw_queue_name_valid(h->queue.ptr, h->queue.len))
        REFUSE(XSP_E_INVALID_ARGUMENT, "queue name must be 1-%d bytes of A-Z a-z 0-9 . _ - : / @ +",
               XSP_QUEUE_MAX);
    if (plen > sw->lim.max_payload)
        REFUSE(XSP_E_TOO_LARGE, "payload of %zu bytes is over the %llu-byte limit", plen,
               (unsigned long long) sw->lim.max_payload);
    if (p->outstanding >= sw->lim.max_outstanding)
        REFUSE(XSP_E_TOO_MANY_OUTSTANDING, "%s already has %u requests outstanding (the limit)",
               p->label, p->outstanding);
    if (p->outstanding_bytes + plen > sw->lim.max_outstanding_bytes)
        REFUSE(XSP_E_TOO_MANY_OUTSTANDING,
               "%s already has %llu payload bytes outstanding; this request would pass the %llu-byte limit",
               p->label, (unsigned long long) p->outstanding_bytes,
               (unsigned long long) sw->lim.max_outstanding_bytes);
    if (sw->nmsgs >= sw->lim.max_messages)
        REFUSE(XSP_E_QUEUE_FULL, "the switch holds its maximum of %u requests", sw->lim.max_messages);
    size_t held = plen + zmq_msg_size(&m->hdr);
    if (sw->held_bytes + held > sw->lim.max_held_bytes)
        REFUSE(XSP_E_QUEUE_FULL, "the switch holds %llu bytes of requests; this one would pass its %llu-byte limit",
               (unsigned long long) sw->held_bytes, (unsigned long long) sw->lim.max_held_bytes);
    if (!q && !(q = sw_queue_get_for(sw, p, h->queue.ptr, h->queue.len, &why))) {
        if (why == XSP_E_TOO_MANY_QUEUES && p->nowned >= sw->lim.max_queues_per_peer)
            REFUSE(why, "%s already created its maximum of %u queues that are still in use",
                   p->label, sw->lim.max_queues_per_peer);
        if (why == XSP_E_TOO_MANY_QUEUES)
            REFUSE(why, "the switch already holds its maximum of %u queues", sw->lim.max_queues);
        if (why == XSP_E_INVALID_ARGUMENT)
            REFUSE(why, "queue name must be 1-%d bytes of A-Z a-z 0-9 . _ - : / @ +", XSP_QUEUE_MAX);
        REFUSE(XSP_E_INTERNAL, "out of memory creating a queue");
    }
    if (q->depth >= sw->lim.max_depth) {
        q->st.errors++;
        REFUSE(XSP_E_QUEUE_FULL, "queue '%s' holds its maximum of %u waiting requests", q->name,
               sw->lim.max_depth);
    }
    bool persist = (h->flags & XSP_FLAG_PERSISTENT) || q->durable;
    if (persist && !sw->dur)
        REFUSE(XSP_E_INVALID_ARGUMENT, "this switch keeps no journal (no --state-dir): it cannot "
               "accept a PERSISTENT request");
    m->id = ++sw->next_msg_id;
    m->corr = h->corr;
    m->flags = (uint32_t) (h->flags & (XSP_FLAG_AT_MOST_ONCE | XSP_FLAG_PERSISTENT));
    m->accepted_ns = sw->now_ns;
    m->queue = q;
    m->dbg = h->dbg;            /* points into m->hdr, which the request keeps */
    if (h->timeout_ms) {
        uint64_t t = h->timeout_ms > UINT64_MAX / 2000000 ? UINT64_MAX / 2000000 : h->timeout_ms;
        m->deadline_ns = sw->now_ns + t * 1000000;
        if (!persist && sw_deadline_add(sw, m))     /* persistent: at the commit */
            REFUSE(XSP_E_INTERNAL, "out of memory for the deadline heap");
    }
    m->client = p;
    if (persist && sw_durable_accept(sw, m)) {
        m->client = NULL;
        REFUSE(XSP_E_INTERNAL, "out of memory for the journal");
    }
#undef REFUSE
    sw->spare = NULL;           /* adopted */
    m->held = (uint32_t) held;
    sw->held_bytes += held;
    m->client = p;
    m->cprev = NULL;
    m->cnext = p->out_head;
    if (p->out_head)
        p->out_head->cprev = m;
    p->out_head = m;
    p->outstanding++;
    p->outstanding_bytes += plen;
    sw->nmsgs++;
    q->st.sent++;
    sw->ct.sent++;
    sw_trace(sw, SW_EV_SEND, q, m->id, m->corr, p->label, q->name, plen, m->dbg.ptr, m->dbg.len, 0,
             &m->payload);
    if (m->d)
        return;                 /* queued by sw_durable_commit once its record is on disk */
    sw_queue_push_tail(q, m);
    sw_queue_pump(sw, q);
}

/*  A REPLY for a msg_id that is not in flight to this session: never delivered to it (a
    forged or guessed id, another server's request, a delivery of an earlier session) or
    already answered by it.  Refused: ERROR invalid-argument (ref_cmd 5, ref msg_id), counted
    (replies_refused), logged with the sender's identity (the first 10 of a session, then
    every 1000th).  The sentence is the same whether or not the id is in flight elsewhere:
    a prober learns nothing about other servers' requests. */
static void refuse_reply(sw_t *sw, sw_peer_t *p, uint64_t msg_id, const sw_msg_t *r)
{
    sw->ct.replies_refused++;
    if (++p->nreplies_refused <= 10 || p->nreplies_refused % 1000 == 0)
        xsp_log(XSP_LOG_WARN, "refused a REPLY from %s (identity '%s', domain %llu, pid %llu): msg_id %llu "
                "is %s [%u refused from this session]", p->label, p->identity, (unsigned long long) p->domid,
                (unsigned long long) p->pid, (unsigned long long) msg_id,
                r ? "in flight to another server" : "not in flight to it (never delivered to this session, "
                "or already answered)", p->nreplies_refused);
    sw_send_error(sw, p, NULL, 0, XSP_CMD_REPLY, msg_id, XSP_E_INVALID_ARGUMENT,
                  "msg_id %llu is not in flight to this session: only a request delivered to it and "
                  "not yet answered can be answered", (unsigned long long) msg_id);
}

/*  m is sw->spare holding the REPLY's frames; its payload moves on to the client. */
static void on_reply(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h, sw_msg_t *m)
{
    sw_msg_t *r = sw_map_get(&sw->inflight, &h->msg_id, sizeof h->msg_id);
    if (!r || r->sub->peer != p) {
        refuse_reply(sw, p, h->msg_id, r);      /* never routed anywhere */
        return;
    }
    uint64_t service_us = (sw->now_ns - r->delivered_ns) / 1000;
    sw_queue_t *q = r->queue;
    sw_peer_t *c = r->client;
    sw_inflight_remove(sw, r);
    sw_deadline_remove(sw, r);
    if (c) {
        xsp_hdr_t res = { .cmd = XSP_CMD_RESULT, .corr = r->corr, .status = h->status,
                          .msg_id = r->id, .service_us = service_us };
        sw_client_forget(r);
        q->st.replied++;
        sw->ct.replied++;
        sw_trace(sw, SW_EV_REPLY, q, r->id, r->corr, p->label, c->label, zmq_msg_size(&m->payload),
                 r->dbg.ptr, r->dbg.len, service_us, &m->payload);
        size_t size = zmq_msg_size(&m->payload);
        if (sw_send_tracked(sw, c, &res, &m->payload) == -2)
            sw_outbox_drop_answer(sw, c, r->corr, size);
    } else if (r->d && r->d->detached) {
        /* its owner's session is gone; the owner's identity may come back for the answer */
        q->st.replied++;
        sw_durable_hold(sw, r, h->status, &m->payload, false);
        return;
    } else {
        sw->ct.late_replies++;
        sw_trace(sw, SW_EV_DROP, q, r->id, r->corr, p->label, NULL, zmq_msg_size(&m->payload),
                 "reply to a request whose client is gone or which expired", 56, service_us, NULL);
    }
    sw_msg_free(sw, r);
    sw->nmsgs--;
}

static void on_subscribe(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h)
{
    xsp_code_t why = XSP_OK;
    if (!sw_auth_may_serve(sw, p, h->queue.ptr, h->queue.len, h->cmd))
        return;
    sw_queue_t *q = sw_queue_get_for(sw, p, h->queue.ptr, h->queue.len, &why);
    if (!q) {
        bool quota = why == XSP_E_TOO_MANY_QUEUES && p->nowned >= sw->lim.max_queues_per_peer;
        sw_send_error(sw, p, NULL, 0, h->cmd, 0, why,
                      quota ? "this peer already created its maximum of queues that are still in use"
                      : why == XSP_E_TOO_MANY_QUEUES ? "the switch already holds its maximum of queues"
                      : why == XSP_E_INVALID_ARGUMENT
                          ? "queue name must be 1-255 bytes of A-Z a-z 0-9 . _ - : / @ +"
                          : "out of memory creating a queue");
        return;
    }
    sw_sub_t *s = sw_sub_find(p, q);
    if (!s) {
        s = sw_sub_add(sw, p, q);
        if (!s) {
            sw_send_error(sw, p, NULL, 0, h->cmd, 0, XSP_E_INTERNAL, "out of memory for a subscription");
            return;
        }
        sw_trace(sw, SW_EV_SUBSCRIBE, q, 0, 0, p->label, q->name, 0, NULL, 0, 0, NULL);
    }
    sw_sub_add_credit(sw, s, h->credit);
}

static sw_sub_t *existing_sub(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h)
{
    sw_queue_t *q = sw_queue_get(sw, h->queue.ptr, h->queue.len, false, NULL);
    sw_sub_t *s = q ? sw_sub_find(p, q) : NULL;
    if (!s)
        sw_send_error(sw, p, NULL, 0, h->cmd, 0, XSP_E_INVALID_ARGUMENT,
                      "%s is not subscribed to queue '%.*s'", p->label, (int) h->queue.len, h->queue.ptr);
    return s;
}

static void on_trace(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h)
{
    if (memchr(h->queue.ptr, '\0', h->queue.len)) {
        sw_send_error(sw, p, NULL, 0, h->cmd, 0, XSP_E_INVALID_ARGUMENT, "trace glob contains a NUL byte");
        return;
    }
    if (!sw_auth_may_observe(sw, p, "trace", h->cmd, 0))
        return;
    sw_trace_subscribe(sw, p, h->seq, h->queue, h->follow != 0);
}

static void refuse_diag(sw_t *sw, sw_peer_t *p, uint64_t corr)
{
    sw_send_error(sw, p, NULL, 0, XSP_CMD_DIAG, corr, XSP_E_TOO_MANY_OUTSTANDING,
                  "%s has %llu bytes of answers it has not read (--max-unread-bytes %llu; the switch "
                  "holds %llu of --max-unread-total %llu): read them before asking for DIAG again",
                  p->label, (unsigned long long) sw_outbox_bytes(p),
                  (unsigned long long) sw->lim.max_unread_bytes,
                  (unsigned long long) atomic_load(&sw->unread_bytes),
                  (unsigned long long) sw->lim.max_unread_total);
}

static void on_diag(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h)
{
    zmq_msg_t body;
    if (!sw_auth_may_observe(sw, p, "diag", h->cmd, h->corr))
        return;
    if (sw_outbox_full(sw, p)) {        /* not even the work of encoding it */
        refuse_diag(sw, p, h->corr);
        return;
    }
    if (sw_diag_encode(sw, &body)) {
        sw_send_error(sw, p, NULL, 0, h->cmd, h->corr, XSP_E_INTERNAL, "out of memory for diagnostics");
        return;
    }
    xsp_hdr_t r = { .cmd = XSP_CMD_DIAG_REPLY, .corr = h->corr };
    int rc = sw_send_tracked(sw, p, &r, &body);
    if (rc < 0)
        zmq_msg_close(&body);
    if (rc == -2)
        refuse_diag(sw, p, h->corr);
}

static void handle(sw_t *sw, const void *rid, size_t rid_len, sw_msg_t *m, int nframes, bool extra)
{
    sw_peer_t *p = sw_peer_find(sw, rid, rid_len);
    sw_parsed_t in;

    if (p)
        p->last_seen_ns = sw->now_ns;
    if (sw_parse(zmq_msg_data(&m->hdr), zmq_msg_size(&m->hdr), nframes, extra, &in) < 0) {
        sw->ct.protocol_errors++;
        sw_send_error(sw, p, rid, rid_len, in.ref_cmd, in.ref, XSP_E_PROTOCOL, "%s", in.why);
        return;
    }
    const xsp_hdr_t h = in.h;
    if (!p && h.cmd != XSP_CMD_HELLO) {
        sw_send_error(sw, NULL, rid, rid_len, h.cmd, sw_parse_ref(&h), XSP_E_NO_SESSION,
                      "say HELLO first (a new or restarted switch does not know this connection)");
        return;
    }
    if (sw->auth && p && h.cmd != XSP_CMD_HELLO &&
        !sw_auth_same(sw, p, &m->hdr, rid, rid_len, h.cmd, sw_parse_ref(&h)))
        return;                         /* another identity on this session's routing id */
    switch (h.cmd) {
    case XSP_CMD_HELLO:       on_hello(sw, p, rid, rid_len, &h, &m->hdr); break;
    case XSP_CMD_REQUEST:     on_request(sw, p, &h, m); break;
    case XSP_CMD_REPLY:       on_reply(sw, p, &h, m); break;
    case XSP_CMD_SUBSCRIBE:   on_subscribe(sw, p, &h); break;
    case XSP_CMD_UNSUBSCRIBE: {
        sw_sub_t *s = existing_sub(sw, p, &h);
        if (s)
            sw_sub_remove(sw, s, false);
        break;
    }
    case XSP_CMD_CREDIT: {
        sw_sub_t *s = existing_sub(sw, p, &h);
        if (s)
            sw_sub_add_credit(sw, s, h.credit);
        break;
    }
    case XSP_CMD_HEARTBEAT:   break;
    case XSP_CMD_BYE:         sw_peer_kill(sw, p, "said BYE"); break;
    case XSP_CMD_TRACE:       on_trace(sw, p, &h); break;
    case XSP_CMD_UNTRACE:     sw_trace_unsubscribe(sw, p); break;
    case XSP_CMD_DIAG:        on_diag(sw, p, &h); break;
    default:
        sw->ct.protocol_errors++;
        sw_send_error(sw, p, NULL, 0, h.cmd, sw_parse_ref(&h), XSP_E_PROTOCOL,
                      "%s is sent by the switch, never to it", xsp_cmd_name(h.cmd));
    }
}

int sw_dispatch(sw_t *sw, int budget)
{
    int n;
    for (n = 0; n < budget; n++) {
        if (!sw->spare && !(sw->spare = sw_msg_alloc(sw))) {
            xsp_log(XSP_LOG_ERR, "out of memory for an incoming message; not reading for now");
            break;
        }
        sw_msg_t *m = sw->spare;
        zmq_msg_t rid;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, sw->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            break;
        }
        /* the clock AFTER the read, for every message: a stall in handling an earlier one
           (a loaded machine, valgrind) must not stamp later ones — heartbeats — as old */
        sw->now_ns = sw_now_ns();
        /* the rest of a multipart message is already here: these never block */
        int nframes = 0;
        bool extra = false;
        if (zmq_msg_more(&rid) && zmq_msg_recv(&m->hdr, sw->sock, 0) >= 0) {
            nframes = 1;
            if (zmq_msg_more(&m->hdr) && zmq_msg_recv(&m->payload, sw->sock, 0) >= 0) {
                nframes = 2;
                while (zmq_msg_more(&m->payload) || extra) {
                    zmq_msg_t junk;
                    zmq_msg_init(&junk);
                    int more = zmq_msg_recv(&junk, sw->sock, 0) >= 0 && zmq_msg_more(&junk);
                    zmq_msg_close(&junk);
                    extra = true;
                    if (!more)
                        break;
                }
            }
        }
        if (nframes)
            handle(sw, zmq_msg_data(&rid), zmq_msg_size(&rid), m, nframes, extra);
        zmq_msg_close(&rid);
        if (sw->spare == m) {   /* not adopted: make it clean for the next message */
            zmq_msg_close(&m->hdr);
            zmq_msg_close(&m->payload);
            zmq_msg_init(&m->hdr);
            zmq_msg_init(&m->payload);
        }
    }
    return n;
}
