/*  parse.c — one incoming message's header and frame count (see parse.h). */
#include <stdio.h>

#include "parse.h"

/*  Best effort: which command and reference a broken header was about, for the ERROR. */
static void peek_ref(const void *buf, size_t len, uint64_t *cmd, uint64_t *ref)
{
    xsp_mpr_t r;
    uint32_t n;
    *cmd = *ref = 0;
    xsp_mpr_init(&r, buf, len);
    if (xsp_mpr_array(&r, &n) || n < 1 || xsp_mpr_uint(&r, cmd) || *cmd > XSP_CMD__MAX) {
        *cmd = 0;
        return;
    }
    if ((*cmd == XSP_CMD_REQUEST || *cmd == XSP_CMD_REPLY || *cmd == XSP_CMD_DIAG) && n > 1 &&
        xsp_mpr_uint(&r, ref))
        *ref = 0;
}

uint64_t sw_parse_ref(const xsp_hdr_t *h)
{
    return h->cmd == XSP_CMD_REPLY ? h->msg_id : h->corr;
}

/*  Which commands may carry a payload frame. */
static bool takes_payload(unsigned cmd)
{
    return cmd == XSP_CMD_REQUEST || cmd == XSP_CMD_REPLY;
}

int sw_parse(const void *hdr, size_t len, int nframes, bool extra, sw_parsed_t *out)
{
    uint64_t pcmd, pref;
    out->why[0] = '\0';
    out->ref_cmd = 0;
    out->ref = 0;
    if (extra || xsp_hdr_decode(hdr, len, &out->h, out->why, sizeof out->why) < 0) {
        peek_ref(hdr, len, &pcmd, &pref);
        if (extra)
            snprintf(out->why, sizeof out->why, "a message has at most 2 frames (header, payload)");
        out->ref_cmd = (unsigned) pcmd;
        out->ref = pref;
        return -1;
    }
    if (nframes == 2 && !takes_payload(out->h.cmd)) {
        out->ref_cmd = out->h.cmd;
        out->ref = sw_parse_ref(&out->h);
        snprintf(out->why, sizeof out->why, "%s carries no payload frame", xsp_cmd_name(out->h.cmd));
        return -1;
    }
    return 0;
}
