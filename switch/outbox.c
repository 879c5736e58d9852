/*  outbox.c — what the switch has handed to libzmq for a peer and libzmq has not yet
    written out: answers and reports the peer has not read.  Counted in bytes, bounded.

    Owns: each session's outbox account (sw_outbox_t: bytes, a reference count), the
    switch's total (sw->unread_bytes), and sending a large payload so that libzmq tells us
    when it is done with it.  Never touches: payload bytes (a tracked payload is the same
    memory, referenced, never copied), queues, sessions beyond their account.

    Why: libzmq bounds a connection's send queue in *messages* (--send-hwm), not bytes.  A
    peer that stops reading while it is sent 1 MiB answers (it can serve its own queue) or
    DIAG reports (~1 MiB with thousands of queues) would park send-hwm of them in the
    switch: GiBs.  So a payload over SW_OUTBOX_SMALL bytes (RESULT bodies, DIAG_REPLY
    reports) goes out as a zmq_msg_t that refers to the original frame's bytes and carries
    a free callback; the bytes count against the peer's account from the send until libzmq
    releases the message (written to the kernel, or dropped with the connection), when the
    callback — on libzmq's I/O thread, hence the atomics — gives them back.  Small messages
    are not tracked: at most send-hwm of them, ~1.5 KiB each, per connection.

    Budgets (docs/reliability.md "Limits under attack"): a tracked payload is not sent when
    the peer already has bytes unread and this one would take it over --max-unread-bytes,
    or when it would take the switch's total over --max-unread-total.  A peer with nothing
    unread always gets one (so any answer up to max-payload can be read by a reading peer).
    The caller decides what a refusal means: a RESULT is dropped (counted in
    undeliverable and unread_dropped, logged), a DIAG is refused with an ERROR.

    Lifetime: the account is referenced by its session and by every tracked message still
    in libzmq; it is freed by whichever lets go last (a session can end with messages
    still queued: libzmq drops them with the connection, or writes them out, later).
*/
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "switch.h"
#include "xsp/log.h"

struct sw_outbox {
    _Atomic uint64_t bytes;         /* tracked bytes of this peer inside libzmq */
    _Atomic uint32_t refs;          /* the session + each tracked message */
    _Atomic uint64_t *total;        /* &sw->unread_bytes */
};

/*  One tracked message: keeps the original frame (its bytes are what libzmq sends). */
typedef struct {
    sw_outbox_t *box;
    uint64_t size;
    zmq_msg_t orig;
} ticket_t;

static void unref(sw_outbox_t *b)
{
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

/*  libzmq is done with a tracked message (any thread). */
static void released(void *data, void *hint)
{
    ticket_t *t = hint;
    (void) data;
    atomic_fetch_sub(&t->box->bytes, t->size);
    atomic_fetch_sub(t->box->total, t->size);
    zmq_msg_close(&t->orig);
    unref(t->box);
    free(t);
}

int sw_outbox_open(sw_t *sw, sw_peer_t *p)
{
    sw_outbox_t *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    atomic_init(&b->bytes, 0);
    atomic_init(&b->refs, 1);
    b->total = &sw->unread_bytes;
    p->outbox = b;
    return 0;
}

void sw_outbox_close(sw_peer_t *p)
{
    if (p->outbox)
        unref(p->outbox);
    p->outbox = NULL;
}

uint64_t sw_outbox_bytes(const sw_peer_t *p)
{
    return p->outbox ? atomic_load(&p->outbox->bytes) : 0;
}

bool sw_outbox_full(const sw_t *sw, const sw_peer_t *p)
{
    uint64_t mine = sw_outbox_bytes(p);
    return (mine && mine >= sw->lim.max_unread_bytes) ||
           atomic_load(&sw->unread_bytes) >= sw->lim.max_unread_total;
}

int sw_send_tracked(sw_t *sw, sw_peer_t *p, const xsp_hdr_t *h, zmq_msg_t *payload)
{
    size_t size = zmq_msg_size(payload);
    if (size <= SW_OUTBOX_SMALL || !p->outbox)
        return sw_send(sw, p, h, payload) < 0 ? -1 : 0;
    if (p->dead)
        return -1;
    sw_outbox_t *b = p->outbox;
    uint64_t mine = atomic_load(&b->bytes), all = atomic_load(&sw->unread_bytes);
    if ((mine && mine + size > sw->lim.max_unread_bytes) || all + size > sw->lim.max_unread_total)
        return -2;
    ticket_t *t = malloc(sizeof *t);
    if (!t)
        return sw_send(sw, p, h, payload) < 0 ? -1 : 0;     /* untracked rather than lost */
    t->box = b;
    t->size = size;
    zmq_msg_init(&t->orig);
    zmq_msg_move(&t->orig, payload);
    atomic_fetch_add(&b->refs, 1);
    atomic_fetch_add(&b->bytes, size);
    atomic_fetch_add(&sw->unread_bytes, size);
    zmq_msg_t wrap;
    if (zmq_msg_init_data(&wrap, zmq_msg_data(&t->orig), size, released, t) < 0) {
        zmq_msg_move(payload, &t->orig);            /* out of memory: give it back */
        atomic_fetch_sub(&b->bytes, size);
        atomic_fetch_sub(&sw->unread_bytes, size);
        atomic_fetch_sub(&b->refs, 1);
        free(t);
        return sw_send(sw, p, h, payload) < 0 ? -1 : 0;
    }
    if (sw_send(sw, p, h, &wrap) < 0) {
        zmq_msg_close(&wrap);                       /* runs released(): all given back */
        return -1;
    }
    return 0;
}

void sw_outbox_drop_answer(sw_t *sw, sw_peer_t *p, uint64_t corr, size_t size)
{
    sw->ct.undeliverable++;
    sw->ct.unread_dropped++;
    if (++p->nunread_dropped <= 10 || p->nunread_dropped % 1000 == 0)
        xsp_log(XSP_LOG_WARN, "dropped an answer of %zu bytes for %s (corr %llu): it has %llu bytes it has "
                "not read (--max-unread-bytes %llu; the switch %llu of --max-unread-total %llu) [%u dropped]",
                size, p->label, (unsigned long long) corr, (unsigned long long) sw_outbox_bytes(p),
                (unsigned long long) sw->lim.max_unread_bytes,
                (unsigned long long) atomic_load(&sw->unread_bytes),
                (unsigned long long) sw->lim.max_unread_total, p->nunread_dropped);
}
