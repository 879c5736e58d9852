/*  idl_packbuf.c — xsp_packbuf_t, the encoding buffer behind every typed payload.

    Owns: the buffer's memory (inline storage first, the heap only for payloads that do not
    fit) and its out-of-memory state (see xsp/idl_codec.h).
    Never touches: what is packed into it; no globals.

    Why not msgpack_sbuffer: an sbuffer starts empty and grows by realloc, so every encoded
    request or reply paid two or three heap calls; a typed call encodes two payloads.
*/
#include "xsp/idl_codec.h"

#include <stdlib.h>
#include <string.h>

void xsp_packbuf_init(xsp_packbuf_t *b, msgpack_packer *pk)
{
    b->data = b->inline_;
    b->len = 0;
    b->cap = sizeof b->inline_;
    b->failed = false;
    if (pk)
        msgpack_packer_init(pk, b, xsp_packbuf_write);
}

void xsp_packbuf_dispose(xsp_packbuf_t *b)
{
    if (!b)
        return;
    if (b->data != b->inline_)
        free(b->data);
    b->data = b->inline_;
    b->len = 0;
    b->cap = sizeof b->inline_;
    b->failed = false;
}

int xsp_packbuf_write(void *data, const char *buf, size_t len)
{
    xsp_packbuf_t *b = data;
    if (len <= b->cap - b->len && !b->failed) {
        /* msgpack-c writes 1-9 bytes at a time: keep that path short */
        if (len <= 8) {
            char *d = b->data + b->len;
            for (size_t i = 0; i < len; i++)
                d[i] = buf[i];
        } else {
            memcpy(b->data + b->len, buf, len);
        }
        b->len += len;
        return 0;
    }
    if (b->failed)
        return -1;
    if (len > b->cap - b->len) {
        if (len > SIZE_MAX / 2 - b->len) {
            b->failed = true;
            return -1;
        }
        size_t cap = b->cap * 2;
        while (cap - b->len < len)
            cap *= 2;
        char *p = b->data == b->inline_ ? malloc(cap) : realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return -1;
        }
        if (b->data == b->inline_)
            memcpy(p, b->inline_, b->len);
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

void *xsp_packbuf_release(xsp_packbuf_t *b)
{
    void *p;
    if (b->failed)
        return NULL;
    if (b->data == b->inline_) {
        p = malloc(b->len ? b->len : 1);
        if (p && b->len)
            memcpy(p, b->data, b->len);
    } else {
        p = b->data;
    }
    b->data = b->inline_;
    b->len = 0;
    b->cap = sizeof b->inline_;
    return p;
}
