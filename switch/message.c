/*  message.c — request records (sw_msg_t) and the pool they come from.

    Owns: allocation of sw_msg_t.  Records are carved from 256-record chunks and recycled
    through a free list, so accepting a request never calls malloc once the pool is warm;
    chunks are only returned at exit (RSS stays flat under load).  The number of live
    records is bounded by limits.max_messages (checked by the caller).
    Never touches: lists, maps or the heap a record may be in — callers unlink first.
*/
#include <stdlib.h>
#include <string.h>

#include "switch.h"

#define CHUNK 256

static int grow(sw_t *sw)
{
    sw_msg_t *chunk = calloc(CHUNK, sizeof *chunk);
    void **chunks = realloc(sw->pool_chunks, (sw->pool_nchunks + 1) * sizeof *chunks);
    if (!chunk || !chunks) {
        free(chunk);
        if (chunks)
            sw->pool_chunks = chunks;
        return -1;
    }
    sw->pool_chunks = chunks;
    sw->pool_chunks[sw->pool_nchunks++] = chunk;
    for (int i = CHUNK - 1; i >= 0; i--) {
        chunk[i].pool_next = sw->pool_free;
        sw->pool_free = &chunk[i];
    }
    return 0;
}

sw_msg_t *sw_msg_alloc(sw_t *sw)
{
    if (!sw->pool_free && grow(sw))
        return NULL;
    sw_msg_t *m = sw->pool_free;
    sw->pool_free = m->pool_next;
    memset(m, 0, offsetof(sw_msg_t, hdr));
    m->d = NULL;
    m->heap_idx = SW_NO_HEAP;
    zmq_msg_init(&m->hdr);
    zmq_msg_init(&m->payload);
    m->pool_next = NULL;
    return m;
}

void sw_msg_free(sw_t *sw, sw_msg_t *m)
{
    sw->held_bytes -= m->held;
    m->held = 0;
    if (m->d)
        sw_durable_release(sw, m);      /* persistent: its DONE record */
    zmq_msg_close(&m->hdr);
    zmq_msg_close(&m->payload);
    m->pool_next = sw->pool_free;
    sw->pool_free = m;
}

void sw_pool_dispose(sw_t *sw)
{
    for (uint32_t i = 0; i < sw->pool_nchunks; i++)
        free(sw->pool_chunks[i]);
    free(sw->pool_chunks);
    sw->pool_chunks = NULL;
    sw->pool_nchunks = 0;
    sw->pool_free = NULL;
}
