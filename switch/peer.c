/*  peer.c — sessions: one sw_peer_t per connected DEALER that said HELLO.

    Owns: creating, finding and ending sessions, and what a death means for the requests a
    peer served or asked (docs/protocol.md §6).  Never touches: frames on the wire except
    through send.c, queue internals except through queue.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switch.h"
#include "xsp/log.h"

sw_peer_t *sw_peer_find(sw_t *sw, const void *rid, size_t len)
{
    sw_peer_t *p = sw->last_peer;
    if (p && p->rid_len == len && memcmp(p->rid, rid, len) == 0)
        return p;
    p = sw_map_get(&sw->peers, rid, len);
    if (p)
        sw->last_peer = p;
    return p;
}

/*  Copy a peer-supplied string for logs and traces: printable ASCII only. */
static void copy_clean(char *dst, size_t cap, xsp_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s.ptr[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
    }
    dst[n] = '\0';
}

sw_peer_t *sw_peer_new(sw_t *sw, const void *rid, size_t len, const xsp_hdr_t *hello)
{
    sw_peer_t *p = calloc(1, sizeof *p);
    if (!p || len > sizeof p->rid) {
        free(p);
        return NULL;
    }
    memcpy(p->rid, rid, len);
    p->rid_len = (uint32_t) len;
    p->id = ++sw->next_peer_id;
    copy_clean(p->name, sizeof p->name, hello->name);
    copy_clean(p->role, sizeof p->role, hello->role);
    if (!p->name[0])
        strcpy(p->name, "anonymous");
    snprintf(p->label, sizeof p->label, "%s#%llu", p->name, (unsigned long long) p->id);
    p->pid = hello->pid;
    p->domid = p->claimed_domid = hello->domid;
    p->last_seen_ns = sw->now_ns;
    if (sw_outbox_open(sw, p) || sw_map_put(&sw->peers, p->rid, p->rid_len, p)) {
        sw_outbox_close(p);
        free(p);
        return NULL;
    }
    p->next = sw->peer_list;
    if (p->next)
        p->next->prev = p;
    sw->peer_list = p;
    sw->npeers++;
    sw->ct.peers_up++;
    xsp_log(XSP_LOG_INFO, "peer up: %s role=%s pid=%llu domid=%llu", p->label, p->role,
            (unsigned long long) p->pid, (unsigned long long) p->domid);
    sw_trace(sw, SW_EV_PEER_UP, NULL, 0, 0, p->label, NULL, 0, p->role, strlen(p->role), 0, NULL);
    return p;
}

void sw_client_forget(sw_msg_t *m)
{
    sw_peer_t *c = m->client;
    if (!c)
        return;
    if (m->cprev)
        m->cprev->cnext = m->cnext;
    else
        c->out_head = m->cnext;
    if (m->cnext)
        m->cnext->cprev = m->cprev;
    m->cprev = m->cnext = NULL;
    c->outstanding--;
    c->outstanding_bytes -= zmq_msg_size(&m->payload);
    m->client = NULL;
}

void sw_peer_kill(sw_t *sw, sw_peer_t *p, const char *why)
{
    p->dead = true;
    if (p->doomed) {
        for (sw_peer_t **pp = &sw->doomed; *pp; pp = &(*pp)->doomed_next)
            if (*pp == p) {
                *pp = p->doomed_next;
                break;
            }
        p->doomed = false;
    }
    xsp_log(XSP_LOG_INFO, "peer down: %s (%s); %u outstanding, %u in flight to it", p->label, why,
            p->outstanding, p->inflight);
    sw_trace(sw, SW_EV_PEER_DOWN, NULL, 0, 0, p->label, NULL, 0, why, strlen(why), 0, NULL);
    sw->ct.peers_down++;

    /* as a server: requeue (or fail, at-most-once) what it was serving */
    while (p->subs)
        sw_sub_remove(sw, p->subs, true);

    /* as a client: drop what still waits; orphan what is in flight */
    while (p->out_head) {
        sw_msg_t *m = p->out_head;
        if (m->d && sw_durable_client_gone(sw, p, m))
            continue;
        sw_client_forget(m);
        sw_deadline_remove(sw, m);
        if (!m->sub) {
            sw_queue_unlink(m->queue, m);
            sw_msg_free(sw, m);
            sw->nmsgs--;
        }
    }
    if (p->tracing)
        sw_trace_unsubscribe(sw, p);
    sw_queue_disown_all(p);

    sw_map_del(&sw->peers, p->rid, p->rid_len);
    if (sw->last_peer == p)
        sw->last_peer = NULL;
    if (p->prev)
        p->prev->next = p->next;
    else
        sw->peer_list = p->next;
    if (p->next)
        p->next->prev = p->prev;
    sw->npeers--;
    sw_outbox_close(p);
    free(p);
}

void sw_peer_doom(sw_t *sw, sw_peer_t *p)
{
    p->dead = true;
    if (p->doomed)
        return;
    p->doomed = true;
    p->doomed_next = sw->doomed;
    sw->doomed = p;
}

void sw_peer_reap_doomed(sw_t *sw)
{
    while (sw->doomed)
        sw_peer_kill(sw, sw->doomed, "connection gone");
}
