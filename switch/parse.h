/*  parse.h — the switch's reading of one incoming message, as a pure function.

    Owns: deciding whether [header, payload?, extra frames?] is a well-formed message the
    switch can act on (docs/protocol.md §1, §3, §7), and, when it is not, what the ERROR
    must reference (ref_cmd / ref: the command and first field, read best-effort).
    Never touches: sockets, sessions, queues, the heap.  Compiled into the switch and into
    the libFuzzer target tests/fuzz/fuzz_switch_parse.c.
*/
#ifndef SW_PARSE_H
#define SW_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsp/wire.h"

typedef struct {
    xsp_hdr_t h;                /* decoded header (strings point into the frame) */
    unsigned ref_cmd;           /* on failure: what the protocol ERROR references */
    uint64_t ref;
    char why[256];              /* on failure: the sentence for the ERROR */
} sw_parsed_t;

/*  hdr/len: frame 0; nframes: 1 or 2 frames read (header, payload); extra: more frames
    followed.  Returns 0 (out->h is the header and the frame count suits the command), or
    -1 (a protocol error: out->ref_cmd, out->ref and out->why say how to answer). */
int sw_parse(const void *hdr, size_t len, int nframes, bool extra, sw_parsed_t *out);

/*  The reference a well-formed header's answer carries: msg_id for REPLY, else corr. */
uint64_t sw_parse_ref(const xsp_hdr_t *h);

#endif
