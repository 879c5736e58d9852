/*  diag.c — the DIAG report: limits, counters, every queue and every peer.

    Owns: encoding the report as one msgpack map (docs/protocol.md §9).  Never touches:
    any state (it only reads).  Not on the hot path: it walks all queues and peers.
*/
#include <msgpack.h>
#include <string.h>

#include "switch.h"

static void key(msgpack_packer *pk, const char *k)
{
    size_t n = strlen(k);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, k, n);
}

static void kv_u(msgpack_packer *pk, const char *k, uint64_t v)
{
    key(pk, k);
    msgpack_pack_uint64(pk, v);
}

static void kv_s(msgpack_packer *pk, const char *k, const char *v, size_t len)
{
    key(pk, k);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, v, len);
}

static void pack_queue(msgpack_packer *pk, const sw_queue_t *q)
{
    msgpack_pack_map(pk, 10);
    kv_s(pk, "name", q->name, q->name_len);
    kv_u(pk, "depth", q->depth);
    kv_u(pk, "inflight", q->inflight);
    kv_u(pk, "consumers", q->consumers);
    kv_u(pk, "sent", q->st.sent);
    kv_u(pk, "delivered", q->st.delivered);
    kv_u(pk, "replied", q->st.replied);
    kv_u(pk, "expired", q->st.expired);
    kv_u(pk, "requeued", q->st.requeued);
    kv_u(pk, "errors", q->st.errors);
}

static void pack_peer(msgpack_packer *pk, const sw_t *sw, const sw_peer_t *p)
{
    msgpack_pack_map(pk, 13);
    kv_u(pk, "id", p->id);
    kv_s(pk, "identity", p->identity, strlen(p->identity));
    kv_u(pk, "claimed_domid", p->claimed_domid);
    kv_s(pk, "name", p->name, strlen(p->name));
    kv_s(pk, "role", p->role, strlen(p->role));
    kv_u(pk, "pid", p->pid);
    kv_u(pk, "domid", p->domid);
    kv_u(pk, "outstanding", p->outstanding);
    kv_u(pk, "inflight", p->inflight);
    kv_u(pk, "unread_bytes", sw_outbox_bytes(p));
    kv_u(pk, "last_seen_ms", (sw->now_ns - p->last_seen_ns) / 1000000);
    key(pk, "subscriptions");
    uint32_t n = 0;
    for (const sw_sub_t *s = p->subs; s; s = s->peer_next)
        n += s->qprev != s;
    msgpack_pack_array(pk, n);
    for (const sw_sub_t *s = p->subs; s; s = s->peer_next) {
        if (s->qprev == s)
            continue;       /* closed, only finishing its in-flight requests */
        msgpack_pack_map(pk, 3);
        kv_s(pk, "queue", s->queue->name, s->queue->name_len);
        kv_u(pk, "credit", s->credit);
        kv_u(pk, "inflight", s->inflight);
    }
    key(pk, "tracing");
    if (p->tracing)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

int sw_diag_encode(sw_t *sw, zmq_msg_t *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    uint64_t dl, db, dc, df, dr, dk, dp;
    bool durable = sw_durable_diag(sw, &dl, &db, &dc, &df, &dr, &dk, &dp);
    msgpack_pack_map(&pk, durable ? 10 : 9);
    kv_s(&pk, "version", XSP_VERSION, strlen(XSP_VERSION));
    kv_u(&pk, "uptime_ms", (sw->now_ns - sw->start_ns) / 1000000);
    kv_u(&pk, "heartbeat_ms", (uint64_t) sw->lim.heartbeat_ms);

    key(&pk, "limits");
    msgpack_pack_map(&pk, 18);
    kv_u(&pk, "max_payload", sw->lim.max_payload);
    kv_u(&pk, "max_depth", sw->lim.max_depth);
    kv_u(&pk, "max_outstanding", sw->lim.max_outstanding);
    kv_u(&pk, "max_outstanding_bytes", sw->lim.max_outstanding_bytes);
    kv_u(&pk, "max_credit", sw->lim.max_credit);
    kv_u(&pk, "max_queues", sw->lim.max_queues);
    kv_u(&pk, "max_queues_per_peer", sw->lim.max_queues_per_peer);
    kv_u(&pk, "max_held_bytes", sw->lim.max_held_bytes);
    kv_u(&pk, "handshake_ms", (uint64_t) sw->lim.handshake_ms);
    kv_u(&pk, "max_peers", sw->lim.max_peers);
    kv_u(&pk, "max_messages", sw->lim.max_messages);
    kv_u(&pk, "trace_events", sw->lim.trace_events);
    kv_u(&pk, "trace_payload_bytes", sw->lim.trace_payload_bytes);
    kv_u(&pk, "send_hwm", sw->lim.send_hwm);
    kv_u(&pk, "recv_hwm", sw->lim.recv_hwm);
    kv_u(&pk, "max_frame", sw->lim.max_frame);
    kv_u(&pk, "max_unread_bytes", sw->lim.max_unread_bytes);
    kv_u(&pk, "max_unread_total", sw->lim.max_unread_total);

    const sw_counters_t *c = &sw->ct;
    key(&pk, "counters");
    msgpack_pack_map(&pk, 23);
    kv_u(&pk, "sent", c->sent);
    kv_u(&pk, "delivered", c->delivered);
    kv_u(&pk, "replied", c->replied);
    kv_u(&pk, "expired", c->expired);
    kv_u(&pk, "requeued", c->requeued);
    kv_u(&pk, "server_lost", c->server_lost);
    kv_u(&pk, "errors", c->errors);
    kv_u(&pk, "protocol_errors", c->protocol_errors);
    kv_u(&pk, "late_replies", c->late_replies);
    kv_u(&pk, "peers_up", c->peers_up);
    kv_u(&pk, "peers_down", c->peers_down);
    kv_u(&pk, "trace_lost", c->trace_lost);
    kv_u(&pk, "undeliverable", c->undeliverable);
    kv_u(&pk, "requests_held", sw->nmsgs);
    kv_u(&pk, "queues", sw->nqueues);
    kv_u(&pk, "held_bytes", sw->held_bytes);
    kv_u(&pk, "queues_reclaimed", c->queues_reclaimed);
    kv_u(&pk, "queue_quota_refused", c->queue_quota_refused);
    kv_u(&pk, "auth_refused", c->auth_refused);
    kv_u(&pk, "handshakes_failed", c->handshakes_failed);
    kv_u(&pk, "replies_refused", c->replies_refused);
    kv_u(&pk, "unread_dropped", c->unread_dropped);
    kv_u(&pk, "unread_bytes", atomic_load(&sw->unread_bytes));

    /* every ERROR the switch sent, by code: each refusal is explicit and counted */
    key(&pk, "refusals");
    uint32_t ncodes = 0;
    for (int i = 1; i < XSP_E__COUNT; i++)
        ncodes += c->errors_by_code[i] != 0;
    msgpack_pack_map(&pk, ncodes);
    for (int i = 1; i < XSP_E__COUNT; i++)
        if (c->errors_by_code[i])
            kv_u(&pk, xsp_code_name((xsp_code_t) i), c->errors_by_code[i]);

    key(&pk, "queues");
    msgpack_pack_array(&pk, sw->nqueues);
    for (const sw_queue_t *q = sw->queue_list; q; q = q->next)
        pack_queue(&pk, q);

    key(&pk, "peers");
    msgpack_pack_array(&pk, sw->npeers);
    for (const sw_peer_t *p = sw->peer_list; p; p = p->next)
        pack_peer(&pk, sw, p);

    key(&pk, "trace");
    msgpack_pack_map(&pk, 2);
    kv_u(&pk, "capacity", sw->lim.trace_events);
    kv_u(&pk, "next_seq", sw_trace_next_seq(sw));

    if (durable) {
        key(&pk, "durable");
        msgpack_pack_map(&pk, 7);
        kv_u(&pk, "live", dl);
        kv_u(&pk, "journal_bytes", db);
        kv_u(&pk, "commits", dc);
        kv_u(&pk, "fsyncs", df);
        kv_u(&pk, "records", dr);
        kv_u(&pk, "compactions", dk);
        kv_u(&pk, "replayed", dp);
    }

    int rc = zmq_msg_init_size(out, sb.size);
    if (rc == 0)
        memcpy(zmq_msg_data(out), sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}
