/*  auth.c — the switch's key pair, its certificate table and its ZAP handler (auth.h).

    Owns: the REP socket on inproc://zeromq.zap.01 and every answer it gives; the loaded
    certificates (public keys, identities, domids).  Never touches: sessions, policy.

    ZAP domains tell the transport apart (libzmq copies socket options into each listener
    when it binds): ipc endpoints are bound with domain "xsp-ipc", tcp endpoints with
    "xsp-tcp".  Every answer is 200 except a CURVE key not in the table (400).  The answer
    carries User-Id and the metadata "Xsp-Auth" (ipc | curve | none) and "Xsp-Domid".
*/
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "xsp/log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define DOMAIN_IPC "xsp-ipc"
#define DOMAIN_TCP "xsp-tcp"

typedef struct {
    uint8_t key[32];
    char z85[41];
    char ident[SW_IDENT_MAX];
    uint32_t domid;
} sw_cert_t;

struct sw_auth {
    zcert_t *own;               /* the switch's key pair, or NULL (no CURVE) */
    sw_cert_t *certs;
    size_t ncerts;
    char certs_dir[512];
    void *zap;
    void *mon;                  /* PAIR: handshake failures reported by the ROUTER */
    uint64_t refused, accepted, handshake_failed;
};

static bool ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= SW_IDENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '#' || s[i] == ':')
            return false;
    return strcmp(s, "unauthenticated") != 0;
}

static int load_certs(sw_auth_t *a, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read the certificate directory %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(a->certs_dir, sizeof a->certs_dir, "%s", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || (n > 7 && strcmp(e->d_name + n - 7, "_secret") == 0))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        /* zcert_load prefers PATH_secret: a secret key in the cert dir would be read too;
           only the public half is used */
        zcert_t *c = zcert_load(path);
        const char *ident = c ? zcert_meta(c, "identity") : NULL;
        const char *dom = c ? zcert_meta(c, "domid") : NULL;
        char *end = NULL;
        unsigned long domid = dom ? strtoul(dom, &end, 10) : 0;
        if (!c)
            snprintf(err, errlen, "%s is not a CURVE certificate (make one with `xsp keygen`)", path);
        else if (!ident || !ident_ok(ident))
            snprintf(err, errlen, "%s: metadata 'identity' must be 1-%d printable characters without "
                     "spaces, '#' or ':'", path, SW_IDENT_MAX - 1);
        else if (!dom || !*dom || *end || domid >= 32752)
            snprintf(err, errlen, "%s: metadata 'domid' must be a Xen domid (0-32751)", path);
        else {
            sw_cert_t *t = realloc(a->certs, (a->ncerts + 1) * sizeof *t);
            if (!t)
                snprintf(err, errlen, "out of memory loading certificates");
            else {
                a->certs = t;
                t += a->ncerts++;
                memcpy(t->key, zcert_public_key(c), 32);
                snprintf(t->z85, sizeof t->z85, "%s", zcert_public_txt(c));
                snprintf(t->ident, sizeof t->ident, "%s", ident);
                t->domid = (uint32_t) domid;
                for (size_t i = 0; i + 1 < a->ncerts; i++)
                    if (memcmp(a->certs[i].key, t->key, 32) == 0 || strcmp(a->certs[i].ident, t->ident) == 0) {
                        snprintf(err, errlen, "%s: identity '%s' or its key is already in another "
                                 "certificate", path, ident);
                        rc = -1;
                    }
                zcert_destroy(&c);
                continue;
            }
        }
        zcert_destroy(&c);
        rc = -1;
    }
    closedir(d);
    return rc;
}

sw_auth_t *sw_auth_new(const char *keys_dir, const char *certs_dir, char *err, size_t errlen)
{
    sw_auth_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (keys_dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/switch.key", keys_dir);
        a->own = zcert_load(path);
        if (!a->own || zcert_secret_txt(a->own)[0] == '\0' ||
            strcmp(zcert_secret_txt(a->own), "0000000000000000000000000000000000000000") == 0) {
            snprintf(err, errlen, "cannot load the switch's secret key %s_secret (make it with "
                     "`xsp keygen switch %s`)", path, keys_dir);
            sw_auth_destroy(&a);
            return NULL;
        }
        if (!zmq_has("curve")) {
            snprintf(err, errlen, "this libzmq has no CURVE support");
            sw_auth_destroy(&a);
            return NULL;
        }
    }
    if (certs_dir && load_certs(a, certs_dir, err, errlen) < 0) {
        sw_auth_destroy(&a);
        return NULL;
    }
    return a;
}

void sw_auth_destroy(sw_auth_t **self_p)
{
    sw_auth_t *a = *self_p;
    if (!a)
        return;
    if (a->zap)
        zmq_close(a->zap);
    if (a->mon)
        zmq_close(a->mon);
    zcert_destroy(&a->own);
    free(a->certs);
    free(a);
    *self_p = NULL;
}

int sw_auth_start(sw_auth_t *a, void *zctx)
{
    a->zap = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    if (!a->zap || zmq_setsockopt(a->zap, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_bind(a->zap, ZAP_ENDPOINT) < 0) {
        xsp_log(XSP_LOG_ERR, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int sw_auth_arm(sw_auth_t *a, void *sock)
{
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, DOMAIN_TCP, strlen(DOMAIN_TCP)) < 0)
        return -1;
    if (!a->own)
        return 0;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, zcert_secret_txt(a->own), 40) < 0) {
        xsp_log(XSP_LOG_ERR, "cannot make the socket a CURVE server: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

bool sw_auth_curve(const sw_auth_t *a)
{
    return a && a->own;
}

void *sw_auth_zap_socket(const sw_auth_t *a)
{
    return a ? a->zap : NULL;
}

uint64_t sw_auth_refused(const sw_auth_t *a) { return a ? a->refused : 0; }
uint64_t sw_auth_handshake_failed(const sw_auth_t *a) { return a ? a->handshake_failed : 0; }

#define MON_ENDPOINT "inproc://xsp-switch-handshakes"

int sw_auth_watch(sw_auth_t *a, void *zctx, void *sock)
{
    int linger = 0;
    if (zmq_socket_monitor(sock, MON_ENDPOINT, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) < 0 ||
        !(a->mon = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(a->mon, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_connect(a->mon, MON_ENDPOINT) < 0) {
        xsp_log(XSP_LOG_ERR, "cannot watch handshakes: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

void *sw_auth_monitor_socket(const sw_auth_t *a)
{
    return a ? a->mon : NULL;
}

/*  One monitor event: [u16 event, u32 value], [endpoint]. */
static void read_event(sw_auth_t *a)
{
    uint8_t ev[6];
    char ep[256];
    int n = zmq_recv(a->mon, ev, sizeof ev, ZMQ_DONTWAIT);
    if (n < 0)
        return;
    int more = 0;
    size_t sz = sizeof more;
    int el = 0;
    zmq_getsockopt(a->mon, ZMQ_RCVMORE, &more, &sz);
    if (more && (el = zmq_recv(a->mon, ep, sizeof ep - 1, 0)) < 0)
        el = 0;
    ep[el < (int) sizeof ep ? el : (int) sizeof ep - 1] = '\0';
    if (n < 6)
        return;
    uint16_t event;
    uint32_t value;
    memcpy(&event, ev, 2);
    memcpy(&value, ev + 2, 4);
    a->handshake_failed++;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return;                 /* the ZAP handler logged the key */
    xsp_log(XSP_LOG_WARN, "auth: handshake failed on %s: %s", ep,
            event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                ? "security mechanism mismatch (a plaintext peer on a CURVE endpoint, or the reverse)"
            : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error in the handshake (bad key or garbage)"
                                                           : "connection closed during the handshake");
}
uint64_t sw_auth_accepted(const sw_auth_t *a) { return a ? a->accepted : 0; }
size_t sw_auth_ncerts(const sw_auth_t *a) { return a ? a->ncerts : 0; }

/*  Append one ZMTP metadata property (name-len:1, name, value-len:4 BE, value). */
static size_t prop(uint8_t *buf, size_t at, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    buf[at++] = (uint8_t) nl;
    memcpy(buf + at, name, nl);
    at += nl;
    buf[at++] = (uint8_t) (vl >> 24);
    buf[at++] = (uint8_t) (vl >> 16);
    buf[at++] = (uint8_t) (vl >> 8);
    buf[at++] = (uint8_t) vl;
    memcpy(buf + at, value, vl);
    return at + vl;
}

static void reply(sw_auth_t *a, const zmq_msg_t *reqid, const char *status, const char *text,
                  const char *user, const uint8_t *meta, size_t meta_len)
{
    zmq_msg_t id;
    zmq_msg_init(&id);
    zmq_msg_copy(&id, (zmq_msg_t *) reqid);
    zmq_send(a->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_msg_send(&id, a->zap, ZMQ_SNDMORE);
    zmq_msg_close(&id);
    zmq_send(a->zap, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(a->zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(a->zap, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(a->zap, meta, meta_len, 0);
}

/*  "localhost:UID:GID:PID" (libzmq's SO_PEERCRED form) -> uid; -1 if not of that form. */
static long peercred_uid(const char *addr, size_t len, long *pid)
{
    char buf[256];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, addr, len);
    buf[len] = '\0';
    char *p3 = strrchr(buf, ':');
    if (!p3)
        return -1;
    *p3 = '\0';
    char *p2 = strrchr(buf, ':');
    if (!p2)
        return -1;
    *p2 = '\0';
    char *p1 = strrchr(buf, ':');
    if (!p1)
        return -1;
    char *end;
    long uid = strtol(p1 + 1, &end, 10);
    if (*end || end == p1 + 1 || uid < 0)
        return -1;
    *pid = strtol(p3 + 1, &end, 10);
    return uid;
}

static void serve_one(sw_auth_t *a)
{
    enum { NF = 8 };
    zmq_msg_t f[NF];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, a->zap, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tmp);
            break;
        }
        more = zmq_msg_more(&tmp);
        if (n < NF)
            f[n++] = tmp;
        else
            zmq_msg_close(&tmp);
    }
    if (n == 0)
        return;
    /* version, request_id, domain, address, identity, mechanism, credentials... */
    if (n < 6) {
        xsp_log(XSP_LOG_ERR, "malformed ZAP request (%d frames)", n);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        return;
    }
    const char *dom = zmq_msg_data(&f[2]), *addr = zmq_msg_data(&f[3]), *mech = zmq_msg_data(&f[5]);
    size_t dlen = zmq_msg_size(&f[2]), alen = zmq_msg_size(&f[3]), mlen = zmq_msg_size(&f[5]);
    uint8_t meta[512];
    size_t ml = 0;
    if (mlen == 5 && memcmp(mech, "CURVE", 5) == 0 && n >= 7 && zmq_msg_size(&f[6]) == 32) {
        const uint8_t *key = zmq_msg_data(&f[6]);
        const sw_cert_t *c = NULL;
        for (size_t i = 0; i < a->ncerts && !c; i++)
            if (memcmp(a->certs[i].key, key, 32) == 0)
                c = &a->certs[i];
        if (!c) {
            char z85[41];
            zmq_z85_encode(z85, key, 32);
            a->refused++;
            xsp_log(XSP_LOG_WARN, "auth: refused CURVE key %s from %.*s: not in the certificate "
                    "directory %s", z85, (int) alen, addr, a->certs_dir[0] ? a->certs_dir : "(none)");
            reply(a, &f[1], "400", "unknown CURVE key", "", NULL, 0);
        } else {
            char d[16];
            snprintf(d, sizeof d, "%u", c->domid);
            ml = prop(meta, ml, "Xsp-Auth", "curve");
            ml = prop(meta, ml, "Xsp-Domid", d);
            a->accepted++;
            xsp_log(XSP_LOG_INFO, "auth: CURVE key of '%s' (domid %u) accepted from %.*s", c->ident,
                    c->domid, (int) alen, addr);
            reply(a, &f[1], "200", "OK", c->ident, meta, ml);
        }
    } else if (dlen == strlen(DOMAIN_IPC) && memcmp(dom, DOMAIN_IPC, dlen) == 0) {
        long pid = 0, uid = peercred_uid(addr, alen, &pid);
        char user[32];
        if (uid >= 0) {
            snprintf(user, sizeof user, "uid:%ld", uid);
            ml = prop(meta, ml, "Xsp-Auth", "ipc");
        } else {
            snprintf(user, sizeof user, "unauthenticated");
            ml = prop(meta, ml, "Xsp-Auth", "none");
        }
        reply(a, &f[1], "200", "OK", user, meta, ml);
    } else {
        ml = prop(meta, ml, "Xsp-Auth", "none");
        reply(a, &f[1], "200", "OK", "unauthenticated", meta, ml);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

void sw_auth_serve(sw_auth_t *a)
{
    int ev = 0;
    size_t sz = sizeof ev;
    while (a && a->zap && zmq_getsockopt(a->zap, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN))
        serve_one(a);
    while (a && a->mon && zmq_getsockopt(a->mon, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN))
        read_event(a);
}

/*  The ipc bind needs its own domain: main.c sets it through this before binding ipc. */
int sw_auth_arm_ipc(void *sock)
{
    return zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, DOMAIN_IPC, strlen(DOMAIN_IPC));
}

void sw_auth_identify(const zmq_msg_t *frame, sw_ident_t *out)
{
    zmq_msg_t *m = (zmq_msg_t *) frame;
    memset(out, 0, sizeof *out);
    out->kind = SW_AUTH_NONE;
    snprintf(out->name, sizeof out->name, "unauthenticated");
    const char *how = zmq_msg_gets(m, "Xsp-Auth");
    const char *user = zmq_msg_gets(m, "User-Id");
    if (!how || !user)
        return;
    if (strcmp(how, "curve") == 0) {
        const char *d = zmq_msg_gets(m, "Xsp-Domid");
        out->kind = SW_AUTH_CURVE;
        snprintf(out->name, sizeof out->name, "%s", user);
        out->domid = d ? (uint32_t) strtoul(d, NULL, 10) : SW_DOMID_UNKNOWN;
        out->has_domid = true;
    } else if (strcmp(how, "ipc") == 0 && strncmp(user, "uid:", 4) == 0) {
        out->kind = SW_AUTH_UID;
        snprintf(out->name, sizeof out->name, "%s", user);
        out->uid = (uid_t) strtoul(user + 4, NULL, 10);
    }
}

bool sw_auth_same(const zmq_msg_t *frame, const sw_ident_t *id)
{
    const char *user = zmq_msg_gets((zmq_msg_t *) frame, "User-Id");
    if (!user)
        return id->kind == SW_AUTH_NONE && strcmp(id->name, "unauthenticated") == 0;
    return strcmp(user, id->name) == 0;
}
