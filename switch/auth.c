/*  auth.c — CURVE on tcp endpoints, the certificate table, the ZAP handler, the rules for
    authenticated peers (see auth.h; docs/security.md).

    Data: a small array of certificates (public key Z85 -> identity, domid, serve prefixes),
    scanned linearly at HELLO and at ZAP time only — never on the message path.
*/
#define _GNU_SOURCE
#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsp/cert.h"
#include "xsp/log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define REGISTRAR_QUEUE "org.xen.xsp.registrar"

typedef struct {
    xsp_cert_t cert;            /* public key, identity, domid, serve prefixes */
} entry_t;

struct sw_auth {
    xsp_cert_t self;            /* the switch's key pair */
    entry_t *certs;
    size_t ncerts;
    void *zap;                  /* REP on inproc://zeromq.zap.01 */
};

int sw_auth_open(sw_t *sw, const char *secret_file, const char *certs_dir, char *err, size_t errlen)
{
    xsp_error_t e;
    struct sw_auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sw->auth = a;
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
    a->zap = zmq_socket(sw->zctx, ZMQ_REP);
    if (!a->zap || zmq_bind(a->zap, ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        return -1;
    }
    int linger = 0;
    zmq_setsockopt(a->zap, ZMQ_LINGER, &linger, sizeof linger);
    xsp_log(XSP_LOG_INFO, "tcp endpoints require CURVE: switch key %s, %zu peer certificate(s) from %s",
            a->self.public_key, a->ncerts, certs_dir);
    return 0;
}

int sw_auth_arm_tcp(sw_t *sw)
{
    struct sw_auth *a = sw->auth;
    int one = 1;
    if (!a)
        return 0;
    if (zmq_setsockopt(sw->sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sw->sock, ZMQ_CURVE_SECRETKEY, a->self.secret_key, XSP_Z85_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sw->sock, ZMQ_ZAP_DOMAIN, "xsp", 3) != 0) {
        xsp_log(XSP_LOG_ERR, "cannot enable CURVE: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

void *sw_auth_socket(const sw_t *sw)
{
    return sw->auth ? sw->auth->zap : NULL;
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
                    sw->ct.auth_refused++;
                    xsp_log(XSP_LOG_WARN, "refused a CURVE connection from %s: public key %s is not in "
                            "--certs", addr, user);
                    user[0] = '\0';
                }
            } else if (!curve) {
                status = "200", text = "OK";    /* NULL mechanism (ipc): the socket mode decides */
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
        send_str(a->zap, "", 0, false);
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
    const entry_t *c = uid && *uid ? find(a, uid) : NULL;
    if (!c)
        return;                                 /* ipc: not authenticated by key */
    p->authed = true;
    if (p->domid != c->cert.domid)
        xsp_log(XSP_LOG_INFO, "%s claims domain %llu; its certificate (%s) says domain %u: using %u",
                p->label, (unsigned long long) p->domid, c->cert.identity, c->cert.domid, c->cert.domid);
    p->domid = c->cert.domid;
    snprintf(p->identity, sizeof p->identity, "%s", c->cert.identity);
    snprintf(p->serve, sizeof p->serve, "%s", c->cert.serve);
    snprintf(p->call, sizeof p->call, "%s", c->cert.call);
    xsp_log(XSP_LOG_INFO, "%s authenticated as %s (domain %u)", p->label, p->identity, c->cert.domid);
}

static bool refuse(sw_t *sw, sw_peer_t *p, unsigned cmd, uint64_t corr, const char *what)
{
    sw->ct.auth_refused++;
    xsp_log(XSP_LOG_WARN, "refused: %s (identity %s, domain %llu) may not %s", p->label, p->identity,
            (unsigned long long) p->domid, what);
    sw_send_error(sw, p, NULL, 0, cmd, corr, XSP_E_PERMISSION_DENIED, "identity %s (domain %llu) may not %s",
                  p->identity, (unsigned long long) p->domid, what);
    return false;
}

/*  Does queue start with one of the comma-separated prefixes? */
static bool under(const char *prefixes, const char *queue, size_t len)
{
    for (const char *s = prefixes; *s;) {
        size_t n = strcspn(s, ",");
        const char *pre = s;
        size_t plen = n;
        while (plen && *pre == ' ')
            pre++, plen--;
        if (plen && plen <= len && memcmp(queue, pre, plen) == 0)
            return true;
        s += n + (s[n] == ',');
    }
    return false;
}

static bool is_registrar(const char *queue, size_t len)
{
    return len == strlen(REGISTRAR_QUEUE) && memcmp(queue, REGISTRAR_QUEUE, len) == 0;
}

bool sw_auth_may_serve(sw_t *sw, sw_peer_t *p, const char *queue, size_t len, unsigned cmd)
{
    if (!p->authed || p->domid == 0)
        return true;
    if (!is_registrar(queue, len) && under(p->serve, queue, len))
        return true;
    char what[400];
    snprintf(what, sizeof what, "serve queue '%.*s'", (int) len, queue);
    return refuse(sw, p, cmd, 0, what);
}

bool sw_auth_may_call(sw_t *sw, sw_peer_t *p, const char *queue, size_t len, uint64_t corr)
{
    if (!p->authed || p->domid == 0 || is_registrar(queue, len) || under(p->call, queue, len))
        return true;
    char what[400];
    snprintf(what, sizeof what, "call queue '%.*s'", (int) len, queue);
    return refuse(sw, p, XSP_CMD_REQUEST, corr, what);
}

bool sw_auth_may_observe(sw_t *sw, sw_peer_t *p, const char *what, unsigned cmd, uint64_t corr)
{
    if (!p->authed || p->domid == 0)
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
    free(a->certs);
    free(a);
    sw->auth = NULL;
}
