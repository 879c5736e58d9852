/*  send.c — everything that leaves the switch goes through here.

    Owns: encoding headers into a stack buffer and handing [routing id, header, payload]
    to the ROUTER socket without blocking; the ERROR frame and its bookkeeping.
    Never touches: queues or sessions, except to mark a peer doomed when ZeroMQ says its
    connection is gone (ROUTER_MANDATORY gives EHOSTUNREACH).

    Nothing here blocks: a peer whose send buffer is full (EAGAIN) simply does not get the
    message; the caller decides what that means (docs/protocol.md §9 `undeliverable`).
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "switch.h"
#include "xsp/log.h"

static int send_frames(sw_t *sw, const void *rid, size_t rid_len, const xsp_hdr_t *h,
                       zmq_msg_t *payload, bool *gone)
{
    uint8_t buf[XSP_HEADER_MAX + 512];
    size_t n = xsp_hdr_encode(h, buf, sizeof buf);
    *gone = false;
    if (!n) {
        xsp_log(XSP_LOG_ERR, "internal: cannot encode a %s header", xsp_cmd_name(h->cmd));
        return -1;
    }
    if (zmq_send(sw->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        *gone = errno == EHOSTUNREACH;
        sw->ct.undeliverable++;
        return -1;
    }
    /* once the routing frame is accepted, the pipe has room for the rest */
    if (zmq_send(sw->sock, buf, n, (payload ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
        return -1;
    if (payload && zmq_msg_send(payload, sw->sock, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

int sw_send(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    bool gone;
    if (p->dead)
        return -1;
    if (send_frames(sw, p->rid, p->rid_len, h, payload, &gone) < 0) {
        if (gone)
            sw_peer_doom(sw, p);
        return -1;
    }
    return 0;
}

void sw_send_rid(sw_t *sw, const void *rid, size_t len, const xsp_hdr_t *h)
{
    bool gone;
    send_frames(sw, rid, len, h, NULL, &gone);
}

static void error_out(sw_t *sw, sw_peer_t *p, const void *rid, size_t rid_len, unsigned ref_cmd,
                      uint64_t ref, xsp_code_t code, const char *msg, const sw_queue_t *q,
                      uint64_t msg_id)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_ERROR, .ref_cmd = ref_cmd, .corr = ref };
    h.code = XSP_STR(xsp_code_name(code));
    h.message = XSP_STR(msg);
    if (p)
        sw_send(sw, p, &h, NULL);
    else
        sw_send_rid(sw, rid, rid_len, &h);
    sw->ct.errors++;
    if ((unsigned) code < XSP_E__COUNT)
        sw->ct.errors_by_code[code]++;
    if (q)
        ((sw_queue_t *) q)->st.errors++;
    char dbg[XSP_CODE_MAX + 256];
    int n = snprintf(dbg, sizeof dbg, "%s: %s", xsp_code_name(code), msg);
    if (n < 0 || (size_t) n >= sizeof dbg)
        n = sizeof dbg - 1;
    sw_trace(sw, code == XSP_E_EXPIRED ? SW_EV_EXPIRE : SW_EV_ERROR, q, msg_id,
             ref_cmd == XSP_CMD_REQUEST ? ref : 0, "switch", p ? p->label : "(no session)", 0,
             dbg, (size_t) n, 0, NULL);
}

void sw_send_error(sw_t *sw, sw_peer_t *p, const void *rid, size_t rid_len, unsigned ref_cmd,
                   uint64_t ref, xsp_code_t code, const char *fmt, ...)
{
    char msg[XSP_MESSAGE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_out(sw, p, rid, rid_len, ref_cmd, ref, code, msg, NULL, 0);
}

void sw_fail_request(sw_t *sw, sw_msg_t *m, xsp_code_t code, const char *fmt, ...)
{
    char msg[XSP_MESSAGE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sw_peer_t *c = m->client;
    if (m->d)
        m->d->detached = false;         /* failed: nobody will wait for it any more */
    if (!c)
        return;
    error_out(sw, c, NULL, 0, XSP_CMD_REQUEST, m->corr, code, msg, m->queue, m->id);
    sw_client_forget(m);
}
