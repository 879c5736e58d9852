/*  durable.c — persistent requests: what goes into the journal, group commit, replay after
    a restart, and handing detached requests back to their owner's next session.

    Owns: sw->dur, every msg->d (sw_dext_t), the record bodies (below), the ACCEPTED frame.
    Never touches: the log file's format or descriptors (journal.c), payload bytes beyond
    copying them into and out of records (they are never decoded).

    Records (bodies little endian; docs/reliability.md "Durable queues"):
      ACCEPT    1  msg_id:u64 corr:u64 flags:u32 deadline_wall_us:u64 domid:u64
                   owner_len:u8 owner  queue_len:u8 queue  dbg_len:u16 dbg  payload(rest)
      DONE      2  msg_id:u64      the request left the switch (answered, failed, expired,
                                   dropped): replay forgets it
      DELIVERED 3  msg_id:u64      an AT_MOST_ONCE request was handed to a server

    Group commit: a persistent REQUEST appends its ACCEPT record and waits on the pending
    list; at the end of the loop turn (up to 1024 messages) sw_durable_commit writes the
    buffer once and fdatasyncs once, then queues every waiting request and sends each its
    ACCEPTED.  DONE records ride along with a later commit without forcing a sync: losing
    one only means a request is delivered once more after a crash (at least once).

    Delayed DONE: a request that leaves the switch (its RESULT handed to libzmq) gets its
    DONE record only DONE_DELAY_NS later (the `done` FIFO below).  A RESULT still in
    libzmq's memory when the switch is SIGKILLed is lost, while a DONE already write()n
    survives in the page cache: written at once, that DONE would make replay forget a
    request whose answer never left — an accepted request lost.  Delayed, the RESULT has
    long reached the kernel socket (which outlives the switch) before its DONE is written;
    at worst a request is answered twice, and clients drop the duplicate (protocol §6.1).
*/
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "switch.h"
#include "xsp/log.h"

enum { REC_ACCEPT = 1, REC_DONE = 2, REC_DELIVERED = 3 };

#define MAX_GLOBS 32
#define DONE_DELAY_NS 100000000ull      /* 100 ms: see "Delayed DONE" above */

typedef struct {
    uint64_t id, at_ns;                 /* msg_id, when it left the switch */
} done_t;

static int append_id(sw_journal_t *j, unsigned type, uint64_t id);

struct sw_durable {
    sw_journal_t *j;
    sw_msg_t *live_head, *live_tail;    /* every persistent request, msg_id order */
    sw_msg_t *pend_head, *pend_tail;    /* waiting for the commit */
    uint64_t live, live_bytes, replayed;
    uint64_t compact_bytes;             /* compact when the file passes this and 2x live */
    bool closing;                       /* shutting down: releases write no DONE */
    int nglobs;
    char *globs[MAX_GLOBS];
    sw_map_t replay;                    /* msg_id -> msg, during replay only */
    done_t *done;                       /* FIFO ring of DONE records not yet written */
    size_t done_head, done_len, done_cap;
};

/*  Queue a DONE record for msg_id (written by flush_done once DONE_DELAY_NS passed).
    Returns 0, or -1 when out of memory. */
static int queue_done(sw_durable_t *d, uint64_t id, uint64_t now_ns)
{
    if (d->done_len == d->done_cap) {
        size_t cap = d->done_cap ? d->done_cap * 2 : 1024;
        done_t *n = malloc(cap * sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < d->done_len; i++)
            n[i] = d->done[(d->done_head + i) % d->done_cap];
        free(d->done);
        d->done = n;
        d->done_cap = cap;
        d->done_head = 0;
    }
    d->done[(d->done_head + d->done_len) % d->done_cap] = (done_t) { id, now_ns };
    d->done_len++;
    return 0;
}

/*  Append the DONE records that are old enough (all of them when all is true). */
static void flush_done(sw_durable_t *d, uint64_t now_ns, bool all)
{
    while (d->done_len) {
        done_t *e = &d->done[d->done_head];
        if (!all && now_ns - e->at_ns < DONE_DELAY_NS)
            break;
        if (append_id(d->j, REC_DONE, e->id) < 0) {
            xsp_log(XSP_LOG_WARN, "out of memory for a DONE record: request %llu may run again after a restart",
                    (unsigned long long) e->id);
            break;
        }
        d->done_head = (d->done_head + 1) % d->done_cap;
        d->done_len--;
    }
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000;
}

static bool has_identity(const uint8_t *rid, size_t len)
{
    return len > 0 && rid[0] != 0;     /* libzmq-generated routing ids start with 0 */
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ------------------------------------------------------------------ live list */

static void live_link(sw_durable_t *d, sw_msg_t *m)
{
    m->d->jnext = NULL;
    m->d->jprev = d->live_tail;
    if (d->live_tail)
        d->live_tail->d->jnext = m;
    else
        d->live_head = m;
    d->live_tail = m;
    d->live++;
    d->live_bytes += m->d->rec_bytes;
}

static void live_unlink(sw_durable_t *d, sw_msg_t *m)
{
    sw_dext_t *x = m->d;
    if (x->jprev)
        x->jprev->d->jnext = x->jnext;
    else
        d->live_head = x->jnext;
    if (x->jnext)
        x->jnext->d->jprev = x->jprev;
    else
        d->live_tail = x->jprev;
    d->live--;
    d->live_bytes -= x->rec_bytes;
}

/* ------------------------------------------------------------------ records */

static int append_accept(sw_journal_t *j, const sw_msg_t *m)
{
    const sw_dext_t *x = m->d;
    uint8_t fixed[36], ol = (uint8_t) x->owner_len, ql = (uint8_t) m->queue->name_len;
    uint8_t dl[2] = { (uint8_t) m->dbg.len, (uint8_t) (m->dbg.len >> 8) };
    put64(fixed, m->id);
    put64(fixed + 8, m->corr);
    fixed[16] = (uint8_t) m->flags;
    fixed[17] = (uint8_t) (m->flags >> 8);
    fixed[18] = (uint8_t) (m->flags >> 16);
    fixed[19] = (uint8_t) (m->flags >> 24);
    put64(fixed + 20, x->deadline_wall_us);
    put64(fixed + 28, x->domid);
    struct iovec iov[] = {
        { fixed, sizeof fixed }, { &ol, 1 }, { (void *) x->owner, x->owner_len },
        { &ql, 1 }, { (void *) m->queue->name, m->queue->name_len }, { dl, 2 },
        { (void *) m->dbg.ptr, m->dbg.len },
        { zmq_msg_data((zmq_msg_t *) &m->payload), zmq_msg_size((zmq_msg_t *) &m->payload) },
    };
    return sw_journal_append(j, REC_ACCEPT, iov, 8);
}

static int append_id(sw_journal_t *j, unsigned type, uint64_t id)
{
    uint8_t b[8];
    put64(b, id);
    struct iovec iov = { b, 8 };
    return sw_journal_append(j, type, &iov, 1);
}

static uint32_t accept_size(const sw_msg_t *m)
{
    return SW_JOURNAL_HEAD + 36 + 1 + m->d->owner_len + 1 + m->queue->name_len + 2 + m->dbg.len +
           (uint32_t) zmq_msg_size((zmq_msg_t *) &m->payload);
}

/* ------------------------------------------------------------------ replay */

static sw_dext_t *dext_new(void)
{
    sw_dext_t *x = calloc(1, sizeof *x);
    if (x)
        zmq_msg_init(&x->reply);
    return x;
}

static void dext_free(sw_msg_t *m)
{
    zmq_msg_close(&m->d->reply);
    free(m->d);
    m->d = NULL;
}

/*  Free a replayed record that replay itself drops (no DONE: the file will say it). */
static void replay_drop(sw_t *sw, sw_msg_t *m)
{
    live_unlink(sw->dur, m);
    dext_free(m);
    sw_msg_free(sw, m);
}

static int on_record(void *arg, unsigned type, const uint8_t *b, size_t len)
{
    sw_t *sw = arg;
    sw_durable_t *d = sw->dur;
    if (type == REC_DONE || type == REC_DELIVERED) {
        if (len != 8)
            return -1;
        uint64_t id = get64(b);
        sw_msg_t *m = sw_map_get(&d->replay, &id, 8);
        if (!m)
            return 0;           /* compaction dropped its ACCEPT already: harmless */
        if (type == REC_DELIVERED) {
            m->d->delivered = true;
            return 0;
        }
        sw_map_del(&d->replay, &id, 8);
        replay_drop(sw, m);
        return 0;
    }
    if (type != REC_ACCEPT || len < 36 + 1)
        return -1;
    size_t off = 36;
    size_t ol = b[off++];
    if (off + ol + 1 > len)
        return -1;
    const uint8_t *owner = b + off;
    off += ol;
    size_t ql = b[off++];
    if (off + ql + 2 > len)
        return -1;
    const char *qname = (const char *) b + off;
    off += ql;
    size_t dl = (size_t) b[off] | (size_t) b[off + 1] << 8;
    off += 2;
    if (off + dl > len || dl > XSP_DBG_MAX)
        return -1;
    const uint8_t *dbg = b + off;
    off += dl;
    xsp_code_t why = XSP_OK;
    sw_queue_t *q = sw_queue_get(sw, qname, ql, true, &why);
    if (!q)
        return -1;
    sw_msg_t *m = sw_msg_alloc(sw);
    sw_dext_t *x = m ? dext_new() : NULL;
    if (!x || zmq_msg_init_size(&m->hdr, dl ? dl : 1) || zmq_msg_init_size(&m->payload, len - off)) {
        free(x);
        if (m)
            sw_msg_free(sw, m);
        return -1;
    }
    m->d = x;
    memcpy(zmq_msg_data(&m->hdr), dbg, dl);
    if (len > off)
        memcpy(zmq_msg_data(&m->payload), b + off, len - off);
    m->id = get64(b);
    m->corr = get64(b + 8);
    m->flags = (uint32_t) b[16] | (uint32_t) b[17] << 8 | (uint32_t) b[18] << 16 | (uint32_t) b[19] << 24;
    x->deadline_wall_us = get64(b + 20);
    x->domid = get64(b + 28);
    x->owner_len = (uint32_t) ol;
    memcpy(x->owner, owner, ol);
    m->queue = q;
    m->dbg = (xsp_str_t) { zmq_msg_data(&m->hdr), (uint32_t) dl };
    x->rec_bytes = accept_size(m);
    if (sw_map_get(&d->replay, &m->id, 8) || sw_map_put(&d->replay, &m->id, 8, m)) {
        dext_free(m);
        sw_msg_free(sw, m);
        return -1;
    }
    live_link(d, m);
    if (m->id > sw->next_msg_id)
        sw->next_msg_id = m->id;        /* ids stay unique and increasing across restarts */
    return 0;
}

static int emit_live(void *arg, sw_journal_t *j)
{
    sw_durable_t *d = arg;
    for (sw_msg_t *m = d->live_head; m; m = m->d->jnext) {
        if (append_accept(j, m) < 0)
            return -1;
        if (m->d->delivered && append_id(j, REC_DELIVERED, m->id) < 0)
            return -1;
    }
    return 0;
}

static void maybe_compact(sw_durable_t *d, bool at_start)
{
    uint64_t size = sw_journal_size(d->j);
    uint64_t floor = at_start ? 65536 : d->compact_bytes;
    if (size > floor && size > 2 * d->live_bytes + 8)
        sw_journal_compact(d->j, emit_live, d);
}

int sw_durable_open(sw_t *sw, const char *dir, const char *const *globs, int nglobs,
                    uint64_t compact_bytes, char *err, size_t errlen)
{
    sw_durable_t *d = calloc(1, sizeof *d);
    if (!d || sw_map_init(&d->replay, 1024)) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sw->dur = d;
    d->compact_bytes = compact_bytes;
    for (int i = 0; i < nglobs && i < MAX_GLOBS; i++)
        if (!(d->globs[d->nglobs++] = strdup(globs[i]))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    if (!(d->j = sw_journal_open(dir, err, errlen)))
        return -1;
    d->closing = true;                  /* replay drops write no DONE records */
    if (sw_journal_replay(d->j, on_record, sw, err, errlen) < 0)
        return -1;
    d->closing = false;
    sw_map_dispose(&d->replay);
    /* what survived comes back detached, in msg_id order, waiting for its owner */
    uint64_t now = wall_us();
    sw_msg_t *m = d->live_head;
    while (m) {
        sw_msg_t *next = m->d->jnext;
        sw_dext_t *x = m->d;
        x->live = true;
        x->detached = true;
        sw->nmsgs++;
        d->replayed++;
        if (x->deadline_wall_us && x->deadline_wall_us <= now) {
            sw->nmsgs--;
            sw_msg_free(sw, m);         /* expired while the switch was down: DONE */
        } else {
            m->accepted_ns = sw->now_ns;
            if ((m->flags & XSP_FLAG_AT_MOST_ONCE) && x->delivered) {
                x->answered = x->lost = true;   /* it may have run: its owner hears server-lost */
            } else {
                if (x->deadline_wall_us) {
                    m->deadline_ns = sw->now_ns + (x->deadline_wall_us - now) * 1000;
                    if (sw_deadline_add(sw, m))
                        m->deadline_ns = 0;
                }
                sw_queue_push_tail(m->queue, m);
                m->queue->st.sent++;
            }
        }
        m = next;
    }
    sw_journal_commit(d->j, true);
    maybe_compact(d, true);
    const sw_journal_stats_t *st = sw_journal_stats(d->j);
    xsp_log(XSP_LOG_INFO, "state %s: replayed %llu persistent requests (%llu bytes of journal%s)",
            sw_journal_path(d->j), (unsigned long long) d->live, (unsigned long long) sw_journal_size(d->j),
            st->cut_bytes ? ", torn tail cut" : "");
    return 0;
}

void sw_durable_freeze(sw_t *sw)
{
    if (sw->dur)
        sw->dur->closing = true;
}

void sw_durable_close(sw_t *sw)
{
    sw_durable_t *d = sw->dur;
    if (!d)
        return;
    /* answered long enough ago: DONE; the rest are answered again after the next start
       (their RESULT may still have been in libzmq's memory) */
    if (d->j)
        flush_done(d, sw->now_ns, false);
    free(d->done);
    d->done = NULL;
    d->done_len = 0;
    d->closing = true;
    while (d->live_head) {              /* held answers nobody came for: they stay on disk */
        sw_msg_t *m = d->live_head;
        if (m->heap_idx != SW_NO_HEAP)
            sw_deadline_remove(sw, m);
        sw_msg_free(sw, m);
    }
    if (d->j && sw_journal_commit(d->j, true) < 0)
        xsp_log(XSP_LOG_ERR, "%s: final commit failed: %s", sw_journal_path(d->j), strerror(errno));
    sw_journal_destroy(&d->j);
    sw_map_dispose(&d->replay);
    for (int i = 0; i < d->nglobs; i++)
        free(d->globs[i]);
    free(d);
    sw->dur = NULL;
}

bool sw_durable_queue_match(const sw_t *sw, const char *name)
{
    const sw_durable_t *d = sw->dur;
    for (int i = 0; d && i < d->nglobs; i++)
        if (fnmatch(d->globs[i], name, 0) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ accept and commit */

int sw_durable_accept(sw_t *sw, sw_msg_t *m)
{
    sw_durable_t *d = sw->dur;
    sw_dext_t *x = dext_new();
    if (!x)
        return -1;
    m->d = x;
    sw_peer_t *c = m->client;
    x->owner_len = c->rid_len;
    memcpy(x->owner, c->rid, c->rid_len);
    x->domid = c->domid;
    if (m->deadline_ns)
        x->deadline_wall_us = wall_us() + (m->deadline_ns - sw->now_ns) / 1000;
    x->rec_bytes = accept_size(m);
    if (append_accept(d->j, m) < 0) {
        dext_free(m);
        return -1;
    }
    live_link(d, m);
    if (d->pend_tail)
        d->pend_tail->d->pnext = m;
    else
        d->pend_head = m;
    d->pend_tail = m;
    return 0;
}

void sw_durable_commit(sw_t *sw)
{
    sw_durable_t *d = sw->dur;
    if (!d || !d->j)
        return;
    flush_done(d, sw->now_ns, false);
    if (!d->pend_head && !sw_journal_pending(d->j))
        return;
    sw_msg_t *m = d->pend_head;
    d->pend_head = d->pend_tail = NULL;
    if (sw_journal_commit(d->j, m != NULL) < 0) {
        int e = errno;
        xsp_log(XSP_LOG_ERR, "%s: write failed: %s", sw_journal_path(d->j), strerror(e));
        while (m) {
            sw_msg_t *next = m->d->pnext;
            sw_fail_request(sw, m, XSP_E_INTERNAL, "the switch could not write its journal: %s",
                            strerror(e));
            sw_msg_free(sw, m);         /* not live: no DONE */
            sw->nmsgs--;
            m = next;
        }
        return;
    }
    while (m) {
        sw_msg_t *next = m->d->pnext;
        m->d->pnext = NULL;
        m->d->live = true;
        if (m->d->cancelled) {
            sw_msg_free(sw, m);
            sw->nmsgs--;
        } else {
            if (m->deadline_ns && sw_deadline_add(sw, m))
                m->deadline_ns = 0;     /* out of memory: the request simply has no deadline */
            sw_queue_push_tail(m->queue, m);
            if (m->client && (m->flags & XSP_FLAG_PERSISTENT)) {
                xsp_hdr_t h = { .cmd = XSP_CMD_ACCEPTED, .corr = m->corr, .msg_id = m->id };
                sw_send(sw, m->client, &h, NULL);
            }
            sw_queue_pump(sw, m->queue);
        }
        m = next;
    }
    maybe_compact(d, false);
}

int sw_durable_delivering(sw_t *sw, sw_msg_t *m)
{
    sw_durable_t *d = sw->dur;
    if (append_id(d->j, REC_DELIVERED, m->id) < 0 || sw_journal_commit(d->j, true) < 0) {
        xsp_log(XSP_LOG_ERR, "%s: write failed: %s", sw_journal_path(d->j), strerror(errno));
        return -1;
    }
    m->d->delivered = true;
    return 0;
}

/* ------------------------------------------------------------------ leaving, owners */

void sw_durable_release(sw_t *sw, sw_msg_t *m)
{
    sw_durable_t *d = sw->dur;
    live_unlink(d, m);
    if (m->d->live && !d->closing && queue_done(d, m->id, sw->now_ns) < 0)
        xsp_log(XSP_LOG_WARN, "out of memory for a DONE record: request %llu may run again after a restart",
                (unsigned long long) m->id);
    dext_free(m);
}

bool sw_durable_client_gone(sw_t *sw, sw_peer_t *p, sw_msg_t *m)
{
    (void) sw;
    if (has_identity(p->rid, p->rid_len)) {
        sw_client_forget(m);
        m->d->detached = true;
        return true;
    }
    if (!m->d->live) {
        sw_client_forget(m);
        m->d->cancelled = true;
        return true;
    }
    return false;
}

void sw_durable_hold(sw_t *sw, sw_msg_t *m, uint64_t status, zmq_msg_t *payload, bool lost)
{
    (void) sw;
    m->d->answered = true;
    m->d->lost = lost;
    m->d->status = status;
    if (payload)
        zmq_msg_move(&m->d->reply, payload);
}

void sw_durable_attach(sw_t *sw, sw_peer_t *p)
{
    sw_durable_t *d = sw->dur;
    if (!d || !d->live || !has_identity(p->rid, p->rid_len))
        return;
    sw_msg_t *m = d->live_head;
    while (m) {
        sw_msg_t *next = m->d->jnext;
        sw_dext_t *x = m->d;
        if (x->detached && x->owner_len == p->rid_len && !memcmp(x->owner, p->rid, p->rid_len)) {
            x->detached = false;
            m->client = p;
            if (x->answered) {
                if (x->lost) {
                    sw->ct.server_lost++;
                    sw_send_error(sw, p, NULL, 0, XSP_CMD_REQUEST, m->corr, XSP_E_SERVER_LOST,
                                  "the switch restarted or the server died with this at-most-once "
                                  "request (msg %llu) in flight on queue '%s'",
                                  (unsigned long long) m->id, m->queue->name);
                } else {
                    xsp_hdr_t res = { .cmd = XSP_CMD_RESULT, .corr = m->corr, .status = x->status,
                                      .msg_id = m->id };
                    m->queue->st.replied++;
                    sw->ct.replied++;
                    size_t size = zmq_msg_size(&x->reply);
                    if (sw_send_tracked(sw, p, &res, &x->reply) == -2)
                        sw_outbox_drop_answer(sw, p, m->corr, size);
                }
                m->client = NULL;
                sw_msg_free(sw, m);
                sw->nmsgs--;
            } else {
                m->cprev = NULL;
                m->cnext = p->out_head;
                if (p->out_head)
                    p->out_head->cprev = m;
                p->out_head = m;
                p->outstanding++;
                p->outstanding_bytes += zmq_msg_size(&m->payload);
            }
        }
        m = next;
    }
}

bool sw_durable_diag(const sw_t *sw, uint64_t *live, uint64_t *journal_bytes, uint64_t *commits,
                     uint64_t *fsyncs, uint64_t *records, uint64_t *compactions, uint64_t *replayed)
{
    const sw_durable_t *d = sw->dur;
    if (!d || !d->j)
        return false;
    const sw_journal_stats_t *st = sw_journal_stats(d->j);
    *live = d->live;
    *journal_bytes = sw_journal_size(d->j);
    *commits = st->commits;
    *fsyncs = st->fsyncs;
    *records = st->records;
    *compactions = st->compactions;
    *replayed = d->replayed;
    return true;
}
