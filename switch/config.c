/*  config.c — defaults, options and their validation (see config.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "xsp/endpoint.h"
#include "xsp/log.h"

static const char usage[] =
    "usage: xsp-switch [options]\n"
    "  --run-dir DIR            run directory (default /run/xsp as root, else $XDG_RUNTIME_DIR/xsp)\n"
    "  --listen ENDPOINT        also listen on ENDPOINT (repeatable), e.g. tcp://127.0.0.1:7600\n"
    "  --no-ipc                 do not listen on ipc://RUN_DIR/switch.sock\n"
    "  --group NAME             socket file mode 0660 owned by group NAME (default 0600)\n"
    "  --heartbeat-ms N         heartbeat interval; a peer silent 3 intervals is dead (1000)\n"
    "  --max-payload BYTES      largest payload accepted (1048576)\n"
    "  --max-depth N            waiting requests per queue (65536)\n"
    "  --max-outstanding N      requests queued or in flight per client (4096)\n"
    "  --max-outstanding-bytes B  payload bytes queued or in flight per client (67108864)\n"
    "  --max-credit N           credit per subscription (1024)\n"
    "  --max-queues N           queues in the switch (4096)\n"
    "  --max-queues-per-peer N  queues one peer may have created and still in use (256)\n"
    "  --max-held-bytes B       header + payload bytes of all requests held (268435456)\n"
    "  --handshake-ms N         a new connection must finish the ZMTP handshake in N ms (5000)\n"
    "  --max-peers N            sessions in the switch (1024)\n"
    "  --max-messages N         requests held in the switch in all (262144)\n"
    "  --trace-events N         trace ring size (4096)\n"
    "  --trace-payload-bytes N  payload prefix kept per trace event, 0-256 (0)\n"
    "  --send-hwm N             messages queued in the transport towards one peer (1000)\n"
    "  --recv-hwm N             messages the transport reads ahead from one peer (32)\n"
    "  --max-frame BYTES        a larger frame closes its connection (max-payload + 65536)\n"
    "  --max-unread-bytes B     answer bytes one peer may leave unread in the switch (4194304)\n"
    "  --max-unread-total B     ... all peers together (67108864)\n"
    "  --curve-secret FILE      with --certs DIR: every --listen endpoint requires CURVE;\n"
    "                           FILE is the switch's NAME.key_secret (xsp keygen), DIR holds\n"
    "                           the peers' NAME.key certificates (identity, domid, serve);\n"
    "                           ipc stays protected by its file mode (docs/security.md)\n"
    "  --policy FILE            what each identity may serve, call, trace, read (default\n"
    "                           /etc/xsp/policy.conf when it exists; 'none': no file); with\n"
    "                           a policy, ipc peers other than root are restricted too\n"
    "  --state-dir DIR          keep persistent requests in DIR/journal (durable queues):\n"
    "                           they survive a crash or restart of the switch\n"
    "  --durable-queue GLOB     every request to a queue matching GLOB is persistent\n"
    "                           (repeatable; needs --state-dir)\n"
    "  --journal-compact-bytes B  rewrite the journal when it passes B bytes and twice\n"
    "                           what it holds alive (67108864)\n"
    "  --syslog                 log to syslog instead of stderr\n"
    "  --log-level LEVEL        err, warn, info (default) or debug\n"
    "  --version, --help\n";

static int number(const char *opt, const char *arg, unsigned long long lo, unsigned long long hi,
                  unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "xsp-switch: %s wants a whole number from %llu to %llu, not '%s'\n", opt, lo,
                hi, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int sw_config_parse(sw_config_t *cfg, int argc, char **argv)
{
    enum { O_RUN = 256, O_LISTEN, O_NOIPC, O_GROUP, O_HB, O_PAYLOAD, O_DEPTH, O_OUT, O_OUTB,
           O_CREDIT, O_QUEUES, O_QPP, O_HELD, O_HS, O_PEERS, O_MSGS, O_TEV, O_TPB, O_SYSLOG, O_LEVEL,
           O_VERSION, O_HELP, O_STATE, O_DQUEUE, O_COMPACT, O_CURVE, O_CERTS, O_POLICY, O_SHWM, O_RHWM,
           O_FRAME, O_UNREAD, O_UNREAD_TOTAL };
    static const struct option opts[] = {
        { "run-dir", 1, 0, O_RUN }, { "listen", 1, 0, O_LISTEN }, { "no-ipc", 0, 0, O_NOIPC },
        { "group", 1, 0, O_GROUP }, { "heartbeat-ms", 1, 0, O_HB }, { "max-payload", 1, 0, O_PAYLOAD },
        { "max-depth", 1, 0, O_DEPTH }, { "max-outstanding", 1, 0, O_OUT },
        { "max-outstanding-bytes", 1, 0, O_OUTB }, { "max-credit", 1, 0, O_CREDIT },
        { "max-queues", 1, 0, O_QUEUES }, { "max-peers", 1, 0, O_PEERS },
        { "max-queues-per-peer", 1, 0, O_QPP }, { "max-held-bytes", 1, 0, O_HELD },
        { "handshake-ms", 1, 0, O_HS },
        { "max-messages", 1, 0, O_MSGS }, { "trace-events", 1, 0, O_TEV },
        { "trace-payload-bytes", 1, 0, O_TPB }, { "syslog", 0, 0, O_SYSLOG },
        { "send-hwm", 1, 0, O_SHWM }, { "recv-hwm", 1, 0, O_RHWM }, { "max-frame", 1, 0, O_FRAME },
        { "max-unread-bytes", 1, 0, O_UNREAD }, { "max-unread-total", 1, 0, O_UNREAD_TOTAL },
        { "log-level", 1, 0, O_LEVEL }, { "state-dir", 1, 0, O_STATE },
        { "durable-queue", 1, 0, O_DQUEUE }, { "journal-compact-bytes", 1, 0, O_COMPACT },
        { "curve-secret", 1, 0, O_CURVE }, { "certs", 1, 0, O_CERTS }, { "policy", 1, 0, O_POLICY }, { "version", 0, 0, O_VERSION }, { "help", 0, 0, O_HELP },
        { 0, 0, 0, 0 },
    };
    memset(cfg, 0, sizeof *cfg);
    xsp_default_run_dir(cfg->run_dir, sizeof cfg->run_dir);
    cfg->log_level = XSP_LOG_INFO;
    cfg->lim = (sw_limits_t) {
        .heartbeat_ms = 1000, .max_payload = 1 << 20, .max_depth = 65536, .max_outstanding = 4096,
        .max_outstanding_bytes = 64ull << 20, .max_credit = 1024, .max_queues = 4096,
        .max_queues_per_peer = 256, .max_held_bytes = 256ull << 20, .handshake_ms = 5000,
        .max_peers = 1024, .max_messages = 262144, .trace_events = 4096, .trace_payload_bytes = 0,
        .send_hwm = 1000, .recv_hwm = 32, .max_frame = 0,
        .max_unread_bytes = 4ull << 20, .max_unread_total = 64ull << 20,
    };
    cfg->compact_bytes = 64ull << 20;
    sw_limits_t *l = &cfg->lim;
    unsigned long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *o = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        switch (c) {
        case O_RUN:
            if (strlen(optarg) >= sizeof cfg->run_dir - 32) {
                fprintf(stderr, "xsp-switch: --run-dir path is too long\n");
                return -1;
            }
            snprintf(cfg->run_dir, sizeof cfg->run_dir, "%s", optarg);
            break;
        case O_LISTEN:
            if (cfg->nlisten == SW_MAX_LISTEN) {
                fprintf(stderr, "xsp-switch: at most %d --listen endpoints\n", SW_MAX_LISTEN);
                return -1;
            }
            cfg->listen[cfg->nlisten++] = optarg;
            break;
        case O_NOIPC: cfg->no_ipc = true; break;
        case O_GROUP: cfg->group = optarg; break;
#define NUM(field, lo, hi) if (number(o, optarg, lo, hi, &v)) return -1; l->field = v; break
        case O_HB:      NUM(heartbeat_ms, 10, 3600000);
        case O_PAYLOAD: NUM(max_payload, 0, 256ull << 20);
        case O_DEPTH:   NUM(max_depth, 1, 100000000);
        case O_OUT:     NUM(max_outstanding, 1, 100000000);
        case O_OUTB:    NUM(max_outstanding_bytes, 1, 1ull << 40);
        case O_CREDIT:  NUM(max_credit, 1, 1000000);
        case O_QUEUES:  NUM(max_queues, 1, 10000000);
        case O_QPP:     NUM(max_queues_per_peer, 1, 10000000);
        case O_HELD:    NUM(max_held_bytes, 4096, 1ull << 40);
        case O_HS:      NUM(handshake_ms, 100, 3600000);
        case O_PEERS:   NUM(max_peers, 1, 1000000);
        case O_MSGS:    NUM(max_messages, 1, 100000000);
        case O_TEV:     NUM(trace_events, 1, 10000000);
        case O_TPB:     NUM(trace_payload_bytes, 0, 256);
        case O_SHWM:    NUM(send_hwm, 1, 10000000);
        case O_RHWM:    NUM(recv_hwm, 1, 10000000);
        case O_FRAME:   NUM(max_frame, XSP_HEADER_MAX, 1ull << 40);
        case O_UNREAD:  NUM(max_unread_bytes, 4096, 1ull << 40);
        case O_UNREAD_TOTAL: NUM(max_unread_total, 4096, 1ull << 40);
#undef NUM
        case O_STATE:
            if (!optarg[0] || strlen(optarg) >= PATH_MAX - 32) {
                fprintf(stderr, "xsp-switch: --state-dir wants a directory path\n");
                return -1;
            }
            cfg->state_dir = optarg;
            break;
        case O_DQUEUE:
            if (cfg->ndurable == SW_MAX_DURABLE || !optarg[0]) {
                fprintf(stderr, "xsp-switch: --durable-queue wants a glob, at most %d times\n", SW_MAX_DURABLE);
                return -1;
            }
            cfg->durable_queues[cfg->ndurable++] = optarg;
            break;
        case O_COMPACT:
            if (number(o, optarg, 4096, 1ull << 40, &v))
                return -1;
            cfg->compact_bytes = v;
            break;
        case O_CURVE: cfg->curve_secret = optarg; break;
        case O_CERTS: cfg->certs_dir = optarg; break;
        case O_POLICY:
            if (!optarg[0]) {
                fprintf(stderr, "xsp-switch: --policy wants a file (or 'none')\n");
                return -1;
            }
            if (strcmp(optarg, "none") == 0)
                cfg->no_policy = true;
            else
                cfg->policy = optarg;
            break;
        case O_SYSLOG: cfg->use_syslog = true; break;
        case O_LEVEL:
            if ((cfg->log_level = xsp_log_level_from_name(optarg)) < 0) {
                fprintf(stderr, "xsp-switch: --log-level is err, warn, info or debug, not '%s'\n", optarg);
                return -1;
            }
            break;
        case O_VERSION: printf("xsp-switch %s (protocol %d)\n", XSP_VERSION, XSP_PROTO_VERSION); return 1;
        case O_HELP: fputs(usage, stdout); return 1;
        default: fputs(usage, stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "xsp-switch: unexpected argument '%s'\n%s", argv[optind], usage);
        return -1;
    }
    if (cfg->ndurable && !cfg->state_dir) {
        fprintf(stderr, "xsp-switch: --durable-queue needs --state-dir\n");
        return -1;
    }
    if (!cfg->curve_secret != !cfg->certs_dir) {
        fprintf(stderr, "xsp-switch: --curve-secret and --certs go together\n");
        return -1;
    }
    if (!l->max_frame)
        l->max_frame = l->max_payload + 65536;
    if (l->max_frame < l->max_payload) {
        fprintf(stderr, "xsp-switch: --max-frame %llu is below --max-payload %llu: every payload "
                "must fit in a frame\n", (unsigned long long) l->max_frame,
                (unsigned long long) l->max_payload);
        return -1;
    }
    if (cfg->no_ipc && cfg->nlisten == 0) {
        fprintf(stderr, "xsp-switch: --no-ipc needs at least one --listen endpoint\n");
        return -1;
    }
    return 0;
}
