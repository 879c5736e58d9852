/*  fuzz_switch_parse.c — libFuzzer target: the switch's reading of an incoming message
    (switch/parse.c: sw_parse, over sdk/wire.c's header decoder and msgpack reader).

    Input: byte 0 picks the frame shape (bit 0: a payload frame followed, bit 1: more
    frames after it), the rest is the header frame.  Properties checked (abort = finding):
      - sw_parse never reads outside the frame (ASan) and never crashes (UBSan);
      - a refusal has a sentence, and the ERROR answering it encodes;
      - an accepted header re-encodes (xsp_hdr_encode) and decodes to the same command and
        the same fields the switch acts on (corr/msg_id, queue, credit, timeout, flags).
    Never touches: sockets, files.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static int str_eq(xsp_str_t a, xsp_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int nframes = (data[0] & 1) ? 2 : 1;
    int extra = nframes == 2 && (data[0] & 2);
    sw_parsed_t in;
    static uint8_t buf[XSP_HEADER_MAX + 2048];
    if (sw_parse(data + 1, size - 1, nframes, extra, &in) < 0) {
        if (!in.why[0] || in.ref_cmd > XSP_CMD__MAX)
            abort();
        xsp_hdr_t e = { .cmd = XSP_CMD_ERROR, .ref_cmd = in.ref_cmd, .corr = in.ref };
        e.code = XSP_STR("protocol");
        e.message = XSP_STR(in.why);
        if (!xsp_hdr_encode(&e, buf, sizeof buf))
            abort();
        return 0;
    }
    const xsp_hdr_t *h = &in.h;
    size_t n = xsp_hdr_encode(h, buf, sizeof buf);
    if (!n)
        abort();            /* everything the decoder accepts fits the encoder */
    xsp_hdr_t back;
    char why[256];
    if (xsp_hdr_decode(buf, n, &back, why, sizeof why) < 0) {
        fprintf(stderr, "re-encoded header does not decode: %s\n", why);
        abort();
    }
    if (back.cmd != h->cmd || sw_parse_ref(&back) != sw_parse_ref(h) || !str_eq(back.queue, h->queue) ||
        back.credit != h->credit || back.timeout_ms != h->timeout_ms || back.flags != h->flags ||
        back.status != h->status || !str_eq(back.dbg, h->dbg) || !str_eq(back.name, h->name))
        abort();
    return 0;
}
