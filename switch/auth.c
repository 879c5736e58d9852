/*  auth.c — CURVE on tcp endpoints, the certificate table, ipc uids, the ZAP handler, the
    policy file, the rules for peers that are not administrators (see auth.h;
    docs/security.md).

    Data: a small array of certificates (public key Z85 -> identity, domid, serve prefixes),
    scanned linearly at HELLO and at ZAP time only.  On the message path (with auth on) one
    property lookup per message binds it to its session's identity (sw_auth_same).
*/
#define _GNU_SOURCE
#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "xsp/cert.h"
#include "xsp/log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define MON_ENDPOINT "inproc://xsp-switch-handshakes"
#define REGISTRAR_QUEUE SW_REGISTRAR_QUEUE
#define DOMAIN_IPC "xsp-ipc"
#define DOMID_UNKNOWN 0x7FF4u   /* Xen's DOMID_INVALID: never mistaken for dom0 */

typedef struct {
    xsp_cert_t cert;            /* public key, identity, domid, serve prefixes */
} entry_t;

struct sw_auth {
    bool curve;                 /* --curve-secret given */
    xsp_cert_t self;            /* the switch's key pair */
    entry_t *certs;
    size_t ncerts;
    void *zap;                  /* REP on inproc://zeromq.zap.01 */
    void *mon;                  /* PAIR: the ROUTER's handshake failures */
    sw_policy_t *policy;        /* --policy, or NULL */
    uid_t self_uid;
};

static int open_zap(sw_t *sw, struct sw_auth *a, char *err, size_t errlen)
{
    int linger = 0;
    a->zap = zmq_socket(sw->zctx, ZMQ_REP);
    if (!a->zap || zmq_bind(a->zap, ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        return -1;
    }
    zmq_setsockopt(a->zap, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_socket_monitor(sw->sock, MON_ENDPOINT, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        !(a->mon = zmq_socket(sw->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(a->mon, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(a->mon, MON_ENDPOINT) != 0) {
        snprintf(err, errlen, "cannot watch handshakes: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

static int open_curve(sw_t *sw, struct sw_auth *a, const char *secret_file, const char *certs_dir,
                      char *err, size_t errlen);

int sw_auth_open(sw_t *sw, const char *secret_file, const char *certs_dir, const char *policy_file,
                 char *err, size_t errlen)
{
    struct sw_auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sw->auth = a;
    a->self_uid = geteuid();
    if (policy_file && !(a->policy = sw_policy_load(policy_file, err, errlen)))
        return -1;
    if (secret_file && open_curve(sw, a, secret_file, certs_dir, err, errlen) < 0)
        return -1;
    if (open_zap(sw, a, err, errlen) < 0)
        return -1;
    if (a->policy)
        xsp_log(XSP_LOG_INFO, "policy %s: ipc peers other than root are restricted; so are tcp "
                "peers without a certificate", sw_policy_origin(a->policy));
    return 0;
}

static int open_curve(sw_t *sw, struct sw_auth *a, const char *secret_file, const char *certs_dir,
                      char *err, size_t errlen)
{
    xsp_error_t e;
    (void) sw;
    a->curve = true;
    if (xsp_cert_load(secret_file, &a->self, &e) != XSP_OK) {
        snprintf(err, errlen, "--curve-secret: %s", e.msg);
        return -1;
    }
    if (!a->self.secret_key[0]) {
        snprintf(err, errlen, "--curve-secret %s holds no secret-key (give the NAME.key_secret file)",
                 secret_file);
        return -1;
    }
    DIR *d = opendir(certs_dir);
    if (!d) {
        snprintf(err, errlen, "--certs %s: %s", certs_dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".key") != 0)
            continue;                           /* public certificates only */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", certs_dir, de->d_name);
        entry_t *grown = realloc(a->certs, (a->ncerts + 1) * sizeof *grown);
        if (!grown) {
            closedir(d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        a->certs = grown;
        entry_t *c = &a->certs[a->ncerts];
        if (xsp_cert_load(path, &c->cert, &e) != XSP_OK) {
            xsp_log(XSP_LOG_WARN, "--certs: skipping %s: %s", path, e.msg);
            continue;
        }
        if (!c->cert.has_domid) {
            xsp_log(XSP_LOG_WARN, "--certs: skipping %s: no domid in its metadata", path);
            continue;
        }
        a->ncerts++;
    }
    closedir(d);
    xsp_log(XSP_LOG_INFO, "tcp endpoints require CURVE: switch key %s, %zu peer certificate(s) from %s",
            a->self.public_key, a->ncerts, certs_dir);
    return 0;
}

int sw_auth_arm_tcp(sw_t *sw)
{
    struct sw_auth *a = sw->auth;
    int one = 1;
    if (!a || !a->curve) {
        /* plaintext tcp: with a policy its peers go through ZAP too (another domain than
           ipc's, so no uid), and are "unauthenticated"; libzmq refuses an empty domain */
        if (!a || !a->policy || zmq_setsockopt(sw->sock, ZMQ_ZAP_DOMAIN, "xsp-tcp", 7) == 0)
            return 0;
        xsp_log(XSP_LOG_ERR, "cannot set the ZAP domain: %s", zmq_strerror(errno));
        return -1;
    }
    if (zmq_setsockopt(sw->sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sw->sock, ZMQ_CURVE_SECRETKEY, a->self.secret_key, XSP_Z85_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sw->sock, ZMQ_ZAP_DOMAIN, "xsp", 3) != 0) {
        xsp_log(XSP_LOG_ERR, "cannot enable CURVE: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int sw_auth_arm_ipc(sw_t *sw)
{
    if (!sw->auth || !sw->auth->policy)
        return 0;
    if (zmq_setsockopt(sw->sock, ZMQ_ZAP_DOMAIN, DOMAIN_IPC, strlen(DOMAIN_IPC)) != 0) {
        xsp_log(XSP_LOG_ERR, "cannot set the ZAP domain: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

void *sw_auth_socket(const sw_t *sw)
{
    return sw->auth ? sw->auth->zap : NULL;
}

void *sw_auth_monitor(const sw_t *sw)
{
    return sw->auth ? sw->auth->mon : NULL;
}

/*  "localhost:UID:GID:PID" (libzmq's SO_PEERCRED form) -> uid, or -1. */
static long peercred_uid(const char *addr)
{
    const char *c[3] = { NULL, NULL, NULL };
    for (const char *s = addr; *s; s++)
        if (*s == ':') {
            c[0] = c[1];
            c[1] = c[2];
            c[2] = s;
        }
    if (!c[0])
        return -1;
    char *end;
    long uid = strtol(c[0] + 1, &end, 10);
    return end == c[0] + 1 || end != c[1] || uid < 0 ? -1 : uid;
}

/*  One monitor event: [u16 event, u32 value], [endpoint]. */
static void read_event(sw_t *sw, struct sw_auth *a)
{
    uint8_t ev[6];
    char ep[256] = "?";
    int n = zmq_recv(a->mon, ev, sizeof ev, ZMQ_DONTWAIT);
    if (n < 0)
        return;
    int more = 0;
    size_t sz = sizeof more;
    zmq_getsockopt(a->mon, ZMQ_RCVMORE, &more, &sz);
    if (more) {
        int el = zmq_recv(a->mon, ep, sizeof ep - 1, 0);
        ep[el > 0 ? (el < (int) sizeof ep ? el : (int) sizeof ep - 1) : 0] = '\0';
    }
    if (n < 6)
        return;
    uint16_t event;
    uint32_t value;
    memcpy(&event, ev, 2);
    memcpy(&value, ev + 2, 4);
    uint64_t nth = ++sw->ct.handshakes_failed;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return;                 /* the ZAP handler logged the key */
    if (nth > 10 && nth % 1000 != 0)
        return;                 /* a connection flood must not flood the log: counted only */
    xsp_log(XSP_LOG_WARN, "handshake failed on %s: %s [%llu failed handshakes]", ep,
            event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                ? "security mechanism mismatch (a plaintext peer on a CURVE endpoint, or the reverse)"
            : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error in the handshake"
                                                           : "connection closed during the handshake",
            (unsigned long long) nth);
}

static const entry_t *find(const struct sw_auth *a, const char *z85)
{
    for (size_t i = 0; i < a->ncerts; i++)
        if (strcmp(a->certs[i].cert.public_key, z85) == 0)
            return &a->certs[i];
    return NULL;
}

static void send_str(void *s, const char *str, size_t len, bool more)
{
    zmq_send(s, str, len, more ? ZMQ_SNDMORE : 0);
}

void sw_auth_process(sw_t *sw)
{
    struct sw_auth *a = sw->auth;
    if (!a)
        return;
    int ev = 0;
    size_t sz = sizeof ev;
    while (a->mon && zmq_getsockopt(a->mon, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN))
        read_event(sw, a);
    for (;;) {
        zmq_msg_t f[8];
        int n = 0;
        bool more = true;
        while (more && n < 8) {
            zmq_msg_init(&f[n]);
            if (zmq_msg_recv(&f[n], a->zap, n ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&f[n]);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&f[i]);
                return;                         /* nothing waiting */
            }
            more = zmq_msg_more(&f[n]);
            n++;
        }
        while (more) {                          /* more frames than we read: drop them */
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            more = zmq_msg_recv(&junk, a->zap, 0) >= 0 && zmq_msg_more(&junk);
            zmq_msg_close(&junk);
        }
        /* version, request_id, domain, address, routing_id, mechanism, credentials... */
        const char *status = "400", *text = "malformed ZAP request";
        char user[XSP_Z85_KEY_LEN + 1] = "", addr[128] = "?";
        bool ipc = false;
        if (n >= 6) {
            snprintf(addr, sizeof addr, "%.*s", (int) zmq_msg_size(&f[3]), (char *) zmq_msg_data(&f[3]));
            bool curve = zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0;
            if (curve && n >= 7 && zmq_msg_size(&f[6]) == 32) {
                zmq_z85_encode(user, zmq_msg_data(&f[6]), 32);
                const entry_t *c = find(a, user);
                if (c) {
                    status = "200", text = "OK";
                } else {
                    text = "unknown key";
                    static uint64_t nkeys;      /* log the first 10, then every 1000th */
                    sw->ct.auth_refused++;
                    if (++nkeys <= 10 || nkeys % 1000 == 0)
                        xsp_log(XSP_LOG_WARN, "refused a CURVE connection from %s: public key %s is not "
                                "in --certs [%llu unknown keys]", addr, user, (unsigned long long) nkeys);
                    user[0] = '\0';
                }
            } else if (!curve) {
                status = "200", text = "OK";    /* NULL mechanism (ipc): the socket mode decides */
                long uid = zmq_msg_size(&f[2]) == strlen(DOMAIN_IPC) &&
                                   memcmp(zmq_msg_data(&f[2]), DOMAIN_IPC, strlen(DOMAIN_IPC)) == 0
                               ? peercred_uid(addr) : -1;
                if (uid >= 0) {
                    snprintf(user, sizeof user, "uid:%ld", uid);
                    ipc = true;
                }
            }
        }
        send_str(a->zap, "1.0", 3, true);
        if (n >= 2)
            zmq_send(a->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
        else
            send_str(a->zap, "", 0, true);
        send_str(a->zap, status, 3, true);
        send_str(a->zap, text, strlen(text), true);
        send_str(a->zap, user, strlen(user), true);
        /* metadata: Xsp-Auth = ipc tells a uid from a key (ZMTP property encoding) */
        static const uint8_t ipc_meta[] = { 8, 'X', 's', 'p', '-', 'A', 'u', 't', 'h', 0, 0, 0, 3, 'i', 'p', 'c' };
        zmq_send(a->zap, ipc ? ipc_meta : NULL, ipc ? sizeof ipc_meta : 0, 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

void sw_auth_hello(sw_t *sw, sw_peer_t *p, const zmq_msg_t *frame)
{
    struct sw_auth *a = sw->auth;
    if (!a)
        return;
    const char *uid = zmq_msg_gets((zmq_msg_t *) frame, "User-Id");
    const char *how = zmq_msg_gets((zmq_msg_t *) frame, "Xsp-Auth");
    snprintf(p->user_id, sizeof p->user_id, "%s", uid ? uid : "");
    const entry_t *c = uid && *uid && !how ? find(a, uid) : NULL;
    if (c) {
        p->authed = true;
        if (p->domid != c->cert.domid)
            xsp_log(XSP_LOG_INFO, "%s claims domain %llu; its certificate (%s) says domain %u: using %u",
                    p->label, (unsigned long long) p->domid, c->cert.identity, c->cert.domid, c->cert.domid);
        p->domid = c->cert.domid;
        snprintf(p->identity, sizeof p->identity, "%s", c->cert.identity);
        snprintf(p->serve, sizeof p->serve, "%s", c->cert.serve);
        snprintf(p->call, sizeof p->call, "%s", c->cert.call);
        p->restricted = p->domid != 0;
        p->rule = sw_policy_rule(a->policy, p->identity, true, c->cert.domid);
        xsp_log(XSP_LOG_INFO, "%s authenticated as %s (domain %u)", p->label, p->identity, c->cert.domid);
        return;
    }
    if (!a->policy)
        return;                                 /* ipc without a policy: not authenticated */
    uint32_t d;
    if (how && strcmp(how, "ipc") == 0 && uid && strncmp(uid, "uid:", 4) == 0) {
        uid_t u = (uid_t) strtoul(uid + 4, NULL, 10);
        snprintf(p->identity, sizeof p->identity, "%s", uid);
        p->rule = sw_policy_rule(a->policy, p->identity, false, 0);
        p->restricted = !(u == 0 || u == a->self_uid);
        if (!p->restricted) {
            xsp_log(XSP_LOG_INFO, "%s is %s on ipc: an administrator", p->label, uid);
            return;                             /* an administrator's claims stand */
        }
    } else {
        snprintf(p->identity, sizeof p->identity, "unauthenticated");
        p->rule = sw_policy_rule(a->policy, p->identity, false, 0);
        p->restricted = true;
    }
    p->domid = sw_rule_domid(p->rule, &d) ? d : DOMID_UNKNOWN;
    xsp_log(p->domid != p->claimed_domid ? XSP_LOG_WARN : XSP_LOG_INFO,
            "%s is %s, restricted by policy %s: domain %llu (it claimed %llu)", p->label, p->identity,
            sw_policy_origin(a->policy), (unsigned long long) p->domid,
            (unsigned long long) p->claimed_domid);
}

bool sw_auth_same(sw_t *sw, sw_peer_t *p, const zmq_msg_t *frame, const void *rid, size_t rid_len,
                  unsigned cmd, uint64_t ref)
{
    const char *uid = zmq_msg_gets((zmq_msg_t *) frame, "User-Id");
    if (strcmp(uid ? uid : "", p->user_id) == 0)
        return true;
    /* another connection took this routing id (the session's own is gone): it is not the
       identity that said HELLO.  The session ends; the newcomer must say HELLO itself. */
    sw->ct.auth_refused++;
    xsp_log(XSP_LOG_WARN, "refused: a connection that is not %s's (identity %s) sent %s on its "
            "routing id; session ended", p->label, p->identity[0] ? p->identity : "none", xsp_cmd_name(cmd));
    sw_peer_kill(sw, p, "its routing id was taken by another identity");
    sw_send_error(sw, NULL, rid, rid_len, cmd, ref, XSP_E_PERMISSION_DENIED,
                  "this connection is not the identity that opened the session: say HELLO");
    return false;
}

/*  Log lines of one peer's refusals: the first 10, then every 1000th (a hostile peer
    cannot flood the log; every refusal is still counted and answered). */
static bool refuse(sw_t *sw, sw_peer_t *p, unsigned cmd, uint64_t corr, const char *what)
{
    sw->ct.auth_refused++;
    if (++p->ndenied <= 10 || p->ndenied % 1000 == 0)
        xsp_log(XSP_LOG_WARN, "refused: %s (identity %s, domain %llu) may not %s [%u refusals]", p->label,
                p->identity, (unsigned long long) p->domid, what, p->ndenied);
    sw_send_error(sw, p, NULL, 0, cmd, corr, XSP_E_PERMISSION_DENIED, "identity %s (domain %llu) may not %s",
                  p->identity, (unsigned long long) p->domid, what);
    return false;
}

/*  Does queue fall under one of the comma-separated prefixes (at a boundary, policy.h)? */
static bool under(const char *prefixes, const char *queue, size_t len)
{
    for (const char *s = prefixes; *s;) {
        size_t n = strcspn(s, ",");
        const char *pre = s;
        size_t plen = n;
        while (plen && *pre == ' ')
            pre++, plen--;
        while (plen && pre[plen - 1] == ' ')
            plen--;
        if (plen && sw_prefix_match(pre, plen, queue, len))
            return true;
        s += n + (s[n] == ',');
    }
    return false;
}

bool sw_auth_may_serve(sw_t *sw, sw_peer_t *p, const char *queue, size_t len, unsigned cmd)
{
    if (!p->restricted)
        return true;
    /* the registrar's queue (and anything under it) never; else the certificate or rule */
    if (sw_policy_may_serve(false, p->rule, queue, len) ||
        (!sw_prefix_match(REGISTRAR_QUEUE, strlen(REGISTRAR_QUEUE), queue, len) && under(p->serve, queue, len)))
        return true;
    char what[400];
    snprintf(what, sizeof what, "serve queue '%.*s'", (int) len, queue);
    return refuse(sw, p, cmd, 0, what);
}

bool sw_auth_may_call(sw_t *sw, sw_peer_t *p, const char *queue, size_t len, uint64_t corr)
{
    if (!p->restricted || sw_policy_may_call(false, p->rule, queue, len) || under(p->call, queue, len))
        return true;
    char what[400];
    snprintf(what, sizeof what, "call queue '%.*s'", (int) len, queue);
    return refuse(sw, p, XSP_CMD_REQUEST, corr, what);
}

bool sw_auth_may_observe(sw_t *sw, sw_peer_t *p, const char *what, unsigned cmd, uint64_t corr)
{
    if (!p->restricted)
        return true;
    if (strcmp(what, "trace") == 0 ? sw_policy_may_trace(false, p->rule) : sw_policy_may_diag(false, p->rule))
        return true;
    char w[64];
    snprintf(w, sizeof w, "use %s", what);
    return refuse(sw, p, cmd, corr, w);
}

void sw_auth_close(sw_t *sw)
{
    struct sw_auth *a = sw->auth;
    if (!a)
        return;
    if (a->zap)
        zmq_close(a->zap);
    if (a->mon)
        zmq_close(a->mon);
    sw_policy_destroy(&a->policy);
    free(a->certs);
    free(a);
    sw->auth = NULL;
}
