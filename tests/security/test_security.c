/*  test_security.c — the promises of docs/security.md that the policy file (--policy), ipc
    uids and session binding add to CURVE, attacked through a real xsp-switch (and a real
    xsp-registrar) over real sockets.  (tests/security/test_curve.sh drives the CURVE basics
    through the `xsp` CLI.)

    curve_known_key      a known key connects over tcp; its claimed domid 0 is replaced by
                         its certificate's domid 3 in DELIVER (what servers see), DIAG, log
    curve_unknown_key    a key not in --certs never gets a session; the log names the key
    curve_plaintext      a plaintext peer on a CURVE endpoint never gets a session; the
                         switch logs the mechanism mismatch and counts it
    serve_registrar      a plugin granted serve by the policy file subscribing to
                         org.xen.xsp.registrar (or under it): permission-denied + log line
    serve_foreign        ... to another plugin's queue or a look-alike prefix: refused; its
                         own queues (policy grant or certificate grant) work
    call_forbidden       a call to a queue not granted: refused, no queue made; a policy
                         `call` grant works
    trace_diag           TRACE and DIAG refused without `trace yes` / `diag yes`, allowed with
    reply_spoof          a plugin answering a request delivered to another plugin: refused
                         (ERROR invalid-argument, replies_refused, a log line naming its
                         identity and domain), the client never sees it, the right answer
                         arrives and reaches nobody else
    session_takeover     a second identity reusing a session's routing id gets no session
    registrar_domid      a dom3 key claiming domid 0 cannot register what only dom0 may: the
                         registrar sees domid 3 (the SDK client over CURVE, the real registrar)
    ipc_uid              with a policy, a local non-root user on the ipc socket is not an
                         administrator: domid DOMID_INVALID, DIAG refused, registrar callable
    plugin_options       a plugin with --curve-cert/--switch-key is authenticated over tcp
    policy_only          a policy without CURVE: plaintext tcp peers are "unauthenticated",
                         restricted, domid 32756
    bad_config           a bad policy file or option: the switch does not start, says why
*/
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawpeer.h"
#include "swdiag.h"
#include "xsp/registrar_client.h"
#include "xsp/xsp.h"

#define REGQ "org.xen.xsp.registrar"
#define FILEQ "org.xen.xsp.storage.file"
#define NBDQ "org.xen.xsp.storage.nbd"

/* ------------------------------------------------------------------ fixture */

static char base[256];          /* keys, certs, policy of this case */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    CHECKF(st == 0, "`%s` failed (status %d)", cmd, st);
}

static void keygen(const char *name, int domid, bool trusted, const char *extra)
{
    sh("mkdir -p %s/keys-%s", base, name);
    sh("%s keygen %s %s/keys-%s --domid %d %s > /dev/null", XSP_CLI_BIN, name, base, name, domid, extra);
    if (trusted)
        sh("cp %s/keys-%s/%s.key %s/certs/", base, name, name, base);
}

/*  The standard setup: the switch key pair, four identities (rogue is unknown), a policy. */
static void fixture(void)
{
    snprintf(base, sizeof base, "/tmp/xsp-sec-XXXXXX");
    CHECK(mkdtemp(base));
    sh("mkdir -p %s/certs", base);
    sh("mkdir -p %s/switchkeys", base);
    sh("%s keygen switch %s/switchkeys > /dev/null", XSP_CLI_BIN, base);
    keygen("plugin-file@dom3", 3, true, "");            /* its grants: the policy file */
    keygen("plugin-nbd@dom5", 5, true, "--serve " NBDQ); /* its grants: its certificate */
    keygen("tool@dom7", 7, true, "");
    keygen("rogue", 3, false, "");
    char path[512];
    snprintf(path, sizeof path, "%s/policy.conf", base);
    FILE *f = fopen(path, "w");
    CHECK(f);
    fprintf(f, "# test policy\n"
               "peer plugin-file@dom3 serve " FILEQ "\n"
               "peer tool@dom7 call " FILEQ " trace yes diag yes\n");
    fclose(f);
}

static void fixture_done(void)
{
    if (base[0])
        sh("rm -rf %s", base);
    base[0] = '\0';
}

/*  extra: one more option and its value (NULL: none). */
static swt_switch_t *start_secure_with(const char *opt, const char *val)
{
    char keys[300], certs[300], pol[300];
    snprintf(keys, sizeof keys, "%s/switchkeys/switch.key_secret", base);
    snprintf(certs, sizeof certs, "%s/certs", base);
    snprintf(pol, sizeof pol, "%s/policy.conf", base);
    return swt_start("--listen", "tcp://127.0.0.1:*", "--curve-secret", keys, "--certs", certs,
                     "--policy", pol, opt, val, NULL);
}

static swt_switch_t *start_secure(void)
{
    char keys[300], certs[300], pol[300];
    snprintf(keys, sizeof keys, "%s/switchkeys/switch.key_secret", base);
    snprintf(certs, sizeof certs, "%s/certs", base);
    snprintf(pol, sizeof pol, "%s/policy.conf", base);
    return swt_start("--listen", "tcp://127.0.0.1:*", "--curve-secret", keys, "--certs", certs,
                     "--policy", pol, NULL);
}

static const char *tcp_ep(const swt_switch_t *sw)
{
    static char ep[256];
    const char *t = strstr(sw->ready, "tcp://");
    CHECKF(t, "no tcp endpoint in '%s'", sw->ready);
    size_t n = strcspn(t, " \n");
    snprintf(ep, sizeof ep, "%.*s", (int) n, t);
    return ep;
}

typedef struct { char pub[41], sec[41]; } keypair_t;

static keypair_t load_keys(const char *name)
{
    char path[512];
    keypair_t k;
    if (strcmp(name, "switch") == 0)
        snprintf(path, sizeof path, "%s/switchkeys/switch.key", base);
    else
        snprintf(path, sizeof path, "%s/keys-%s/%s.key", base, name, name);
    zcert_t *c = zcert_load(path);
    CHECKF(c, "cannot load %s", path);
    snprintf(k.pub, sizeof k.pub, "%s", zcert_public_txt(c));
    snprintf(k.sec, sizeof k.sec, "%s", zcert_secret_txt(c));
    zcert_destroy(&c);
    return k;
}

/*  A CURVE peer with identity name; HELLO claiming claimed_domid; WELCOME expected. */
static rp_t *curve_peer(const swt_switch_t *sw, const char *name, uint64_t claimed_domid)
{
    keypair_t s = load_keys("switch"), k = load_keys(name);
    rp_t *p = rp_connect_curve(tcp_ep(sw), s.pub, k.pub, k.sec);
    rp_hello(p, name, "plugin", (uint64_t) getpid(), claimed_domid);
    return p;
}

/*  HELLO must get no answer at all: the connection never passed the handshake. */
static void expect_no_session(rp_t *p)
{
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = XSP_PROTO_VERSION, .name = XSP_STR("intruder"),
                    .role = XSP_STR("plugin"), .pid = 1, .domid = 0 };
    rp_send_hdr(p, &h, NULL, 0, false);
    rp_msg_t m = { 0 };
    bool got = rp_recv(p, &m, swt_ms(1500));
    char d[256];
    CHECKF(!got, "a refused connection got %s", rp_msg_describe(&m, d, sizeof d));
}

static void wait_log(const swt_switch_t *sw, const char *needle)
{
    CHECKF(WAIT_FOR(3000, swt_log_contains(sw, needle)), "the switch log lacks \"%s\"", needle);
    swt_note("log: ...%s...", needle);
}

/* ------------------------------------------------------------------ CURVE */

static void curve_known_key(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    rp_t *reg = rp_open(sw->endpoint, "registrar", "registrar");     /* ipc, uid 0: admin */
    rp_subscribe(reg, REGQ, 4);
    rp_t *pl = curve_peer(sw, "plugin-file@dom3", 0);                 /* claims dom0 */
    rp_request(pl, 11, REGQ, 5000, 0, "sec", "hi", 2);
    rp_msg_t d = { 0 };
    rp_expect_deliver(reg, &d);
    CHECK_U(d.h.peer_id, ==, pl->peer_id);
    CHECKF(d.h.domid == 3, "DELIVER reports domid %llu for a dom3 key claiming dom0",
           (unsigned long long) d.h.domid);
    rp_reply(reg, d.h.msg_id, 0, "ok", 2);
    rp_expect_result(pl, NULL, 11);
    rp_msg_clear(&d);

    swd_t *diag = swd_fetch(reg);
    const msgpack_object *pe = swd_peer(diag, pl->peer_id);
    CHECK(pe);
    CHECK(swd_obj_str_eq(pe, "identity", "plugin-file@dom3"));
    CHECK_U(swd_obj_u(pe, "domid"), ==, 3);
    CHECK_U(swd_obj_u(pe, "claimed_domid"), ==, 0);
    swd_free(diag);
    wait_log(sw, "authenticated as plugin-file@dom3 (domain 3)");
    wait_log(sw, "claims domain 0; its certificate (plugin-file@dom3) says domain 3: using 3");
    rp_bye(pl);
    rp_bye(reg);
    swt_stop(sw);
    fixture_done();
}

static void curve_unknown_key(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    keypair_t s = load_keys("switch"), k = load_keys("rogue");
    rp_t *rogue = rp_connect_curve(tcp_ep(sw), s.pub, k.pub, k.sec);
    expect_no_session(rogue);
    char needle[128];
    snprintf(needle, sizeof needle, "refused a CURVE connection from 127.0.0.1: public key %s is not in --certs", k.pub);
    wait_log(sw, needle);
    rp_t *adm = rp_open(sw->endpoint, "admin", "cli");
    CHECK_U(swd_now_u(adm, "counters.auth_refused"), >=, 1);
    CHECK_U(swd_now_u(adm, "counters.peers_up"), ==, 1);      /* only the admin */
    /* the switch still serves known keys */
    rp_t *ok = curve_peer(sw, "tool@dom7", 7);
    rp_bye(ok);
    rp_close(rogue);
    rp_bye(adm);
    swt_stop(sw);
    fixture_done();
}

static void curve_plaintext(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    rp_t *plain = rp_connect(tcp_ep(sw));
    expect_no_session(plain);
    /* which side sees the mismatch first is a race: the switch logs the mechanism mismatch
       or the peer closing during the handshake */
    wait_log(sw, "handshake failed on tcp://127.0.0.1:");
    rp_t *adm = rp_open(sw->endpoint, "admin", "cli");
    CHECK_U(swd_now_u(adm, "counters.handshakes_failed"), >=, 1);
    CHECK_U(swd_now_u(adm, "counters.peers_up"), ==, 1);
    rp_close(plain);
    rp_bye(adm);
    swt_stop(sw);
    fixture_done();
}

/* ------------------------------------------------------------------ policy */

static void expect_denied(rp_t *p, unsigned ref_cmd, uint64_t ref, const char *sentence_part)
{
    rp_msg_t m = { 0 };
    rp_expect_error(p, &m, "permission-denied", (int) ref_cmd, ref);
    char msg[1100];
    snprintf(msg, sizeof msg, "%.*s", (int) m.h.message.len, m.h.message.ptr);
    CHECKF(strstr(msg, sentence_part), "ERROR sentence '%s' lacks '%s'", msg, sentence_part);
    swt_note("ERROR permission-denied: %s", msg);
    rp_msg_clear(&m);
}

static void serve_registrar(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    rp_t *pl = curve_peer(sw, "plugin-file@dom3", 0);
    rp_subscribe(pl, REGQ, 8);
    expect_denied(pl, XSP_CMD_SUBSCRIBE, 0, "identity plugin-file@dom3 (domain 3) may not serve queue 'org.xen.xsp.registrar'");
    rp_subscribe(pl, REGQ ".v2", 8);       /* anything under the registrar's name */
    expect_denied(pl, XSP_CMD_SUBSCRIBE, 0, "may not serve queue 'org.xen.xsp.registrar.v2'");
    wait_log(sw, "refused: plugin-file@dom3#");
    wait_log(sw, "(identity plugin-file@dom3, domain 3) may not serve queue 'org.xen.xsp.registrar'");
    rp_t *adm = rp_open(sw->endpoint, "admin", "cli");
    swd_t *d = swd_fetch(adm);
    CHECK_U(swd_u(d, "counters.auth_refused"), ==, 2);
    CHECK_U(swd_u(d, "refusals.permission-denied"), ==, 2);
    const msgpack_object *q = swd_queue(d, REGQ);
    CHECK(!q || swd_obj_u(q, "consumers") == 0);
    swd_free(d);
    /* the administrator may serve it */
    rp_subscribe(adm, REGQ, 1);
    rp_expect_nothing(adm, 200);
    rp_bye(pl);
    rp_bye(adm);
    swt_stop(sw);
    fixture_done();
}

static void serve_foreign(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    rp_t *pl = curve_peer(sw, "plugin-file@dom3", 3);
    rp_subscribe(pl, NBDQ, 4);
    expect_denied(pl, XSP_CMD_SUBSCRIBE, 0, "may not serve queue 'org.xen.xsp.storage.nbd'");
    rp_subscribe(pl, FILEQ "x", 4);         /* a look-alike, not under its prefix */
    expect_denied(pl, XSP_CMD_SUBSCRIBE, 0, "may not serve queue 'org.xen.xsp.storage.filex'");
    wait_log(sw, "may not serve queue 'org.xen.xsp.storage.nbd'");
    /* the nbd plugin's grant is in its certificate: the same rules */
    rp_t *nbd = curve_peer(sw, "plugin-nbd@dom5", 5);
    rp_subscribe(nbd, NBDQ "x", 4);
    expect_denied(nbd, XSP_CMD_SUBSCRIBE, 0, "may not serve queue 'org.xen.xsp.storage.nbdx'");
    rp_subscribe(nbd, FILEQ, 4);
    expect_denied(nbd, XSP_CMD_SUBSCRIBE, 0, "may not serve queue 'org.xen.xsp.storage.file'");
    rp_subscribe(nbd, NBDQ, 4);
    rp_expect_nothing(nbd, 200);
    rp_bye(nbd);
    /* its own queues work: a call from dom0 reaches it */
    rp_subscribe(pl, FILEQ, 4);
    rp_subscribe(pl, FILEQ ".2", 4);
    rp_t *adm = rp_open(sw->endpoint, "toolstack", "client");
    rp_request(adm, 5, FILEQ ".2", 5000, 0, "", "x", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(pl, &d);
    CHECK_STR(d.h.queue, FILEQ ".2");
    rp_reply(pl, d.h.msg_id, 0, "y", 1);
    rp_expect_result(adm, NULL, 5);
    rp_msg_clear(&d);
    rp_bye(pl);
    rp_bye(adm);
    swt_stop(sw);
    fixture_done();
}

static void call_forbidden(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    rp_t *pl = curve_peer(sw, "plugin-file@dom3", 3);
    rp_request(pl, 42, NBDQ, 5000, 0, "", "x", 1);
    expect_denied(pl, XSP_CMD_REQUEST, 42, "may not call queue 'org.xen.xsp.storage.nbd'");
    wait_log(sw, "(identity plugin-file@dom3, domain 3) may not call queue 'org.xen.xsp.storage.nbd'");
    rp_t *adm = rp_open(sw->endpoint, "admin", "cli");
    CHECKF(swd_now_queue(adm, NBDQ, "depth") == -1, "a refused call created its queue");
    /* tool@dom7 may call the file queue; not the nbd one */
    rp_t *tool = curve_peer(sw, "tool@dom7", 7);
    rp_request(tool, 1, FILEQ, 5000, 0, "", "x", 1);
    rp_request(tool, 2, NBDQ, 5000, 0, "", "x", 1);
    expect_denied(tool, XSP_CMD_REQUEST, 2, "identity tool@dom7 (domain 7) may not call");
    CHECK_U(swd_now_queue(adm, FILEQ, "depth"), ==, 1);
    rp_bye(tool);
    rp_bye(pl);
    rp_bye(adm);
    swt_stop(sw);
    fixture_done();
}

static void trace_diag(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    rp_t *pl = curve_peer(sw, "plugin-file@dom3", 3);
    rp_trace(pl, 0, "", false);
    expect_denied(pl, XSP_CMD_TRACE, 0, "may not use trace");
    rp_diag(pl, 77);
    expect_denied(pl, XSP_CMD_DIAG, 77, "may not use diag");
    wait_log(sw, "(identity plugin-file@dom3, domain 3) may not use trace [1 refusals]");
    wait_log(sw, "(identity plugin-file@dom3, domain 3) may not use diag [2 refusals]");
    /* allowed with `trace yes diag yes` */
    rp_t *tool = curve_peer(sw, "tool@dom7", 7);
    CHECK_U(swd_now_u(tool, "counters.auth_refused"), ==, 2);
    rp_trace(tool, 0, "", false);
    rp_msg_t m = { 0 };
    do {
        rp_msg_clear(&m);
        CHECK(rp_recv(tool, &m, swt_ms(3000)));
        CHECKF(m.h.cmd == XSP_CMD_TRACE_EVENT || m.h.cmd == XSP_CMD_TRACE_END, "got cmd %u", m.h.cmd);
    } while (m.h.cmd != XSP_CMD_TRACE_END);
    rp_msg_clear(&m);
    rp_bye(tool);
    rp_bye(pl);
    swt_stop(sw);
    fixture_done();
}

/* ------------------------------------------------------------------ replies */

static void reply_spoof(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    rp_t *file = curve_peer(sw, "plugin-file@dom3", 3);
    rp_t *nbd = curve_peer(sw, "plugin-nbd@dom5", 5);
    rp_subscribe(file, FILEQ, 4);
    rp_subscribe(nbd, NBDQ, 4);
    rp_t *cli = rp_open(sw->endpoint, "toolstack", "client");
    rp_request(cli, 9, FILEQ, 5000, 0, "", "secret-request", 14);
    rp_msg_t d = { 0 };
    rp_expect_deliver(file, &d);
    /* the nbd plugin guesses the msg_id and answers in file's place: refused (an ERROR to
       it), counted, logged with its identity; routed nowhere */
    rp_reply(nbd, d.h.msg_id, 0, "forged", 6);
    rp_expect_error(nbd, NULL, "invalid-argument", XSP_CMD_REPLY, d.h.msg_id);
    rp_expect_nothing(cli, 300);            /* the forged answer never reached the client */
    CHECK_U(swd_now_u(cli, "counters.replies_refused"), ==, 1);
    CHECK_U(swd_now_u(cli, "counters.late_replies"), ==, 0);
    wait_log(sw, "(identity 'plugin-nbd@dom5', domain 5, pid");
    rp_reply(file, d.h.msg_id, 0, "genuine", 7);
    rp_msg_t r = { 0 };
    rp_expect_result(cli, &r, 9);
    CHECK(r.payload_len == 7 && memcmp(r.payload, "genuine", 7) == 0);
    rp_expect_nothing(nbd, 200);            /* and nobody else saw the genuine one */
    rp_msg_clear(&r);
    rp_msg_clear(&d);
    rp_bye(file);
    rp_bye(nbd);
    rp_bye(cli);
    swt_stop(sw);
    fixture_done();
}

/*  An identity reusing the routing id of another identity's session (after that one's
    connection went away) must not inherit it. */
static void session_takeover(void)
{
    fixture();
    /* no heartbeats during the test: the switch must not find the old connection gone (it
       would end the session itself, and the newcomer would only see no-session) */
    swt_switch_t *sw = start_secure_with("--heartbeat-ms", "600000");
    keypair_t s = load_keys("switch"), k1 = load_keys("plugin-file@dom3"), k2 = load_keys("plugin-nbd@dom5");
    void *a = zmq_socket(rp_ctx(), ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(a, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(a, ZMQ_ROUTING_ID, "victim", 6);
    zmq_setsockopt(a, ZMQ_CURVE_SERVERKEY, s.pub, 40);
    zmq_setsockopt(a, ZMQ_CURVE_PUBLICKEY, k1.pub, 40);
    zmq_setsockopt(a, ZMQ_CURVE_SECRETKEY, k1.sec, 40);
    CHECK(zmq_connect(a, tcp_ep(sw)) == 0);
    uint8_t buf[XSP_HEADER_MAX];
    xsp_hdr_t h = { .cmd = XSP_CMD_HELLO, .version = 1, .name = XSP_STR("victim"), .role = XSP_STR("plugin"),
                    .pid = 1, .domid = 3 };
    size_t n = xsp_hdr_encode(&h, buf, sizeof buf);
    CHECK(n > 0);
    CHECK(zmq_send(a, buf, n, 0) == (int) n);
    zmq_pollitem_t it = { a, 0, ZMQ_POLLIN, 0 };
    CHECK(zmq_poll(&it, 1, (long) swt_ms(3000)) == 1);        /* WELCOME */
    zmq_close(a);                           /* gone, but the session lives on in the switch */
    /* the newcomer: another identity, the same routing id.  libzmq's ROUTER ignores a
       connection whose routing id is still in use, so retry until it noticed a's close */
    void *c = NULL;
    xsp_hdr_t sub = { .cmd = XSP_CMD_SUBSCRIBE, .queue = XSP_STR(FILEQ), .credit = 1 };
    CHECK((n = xsp_hdr_encode(&sub, buf, sizeof buf)) > 0);
    bool answered = false;
    for (int attempt = 0; attempt < 10 && !answered; attempt++) {
        if (c)
            zmq_close(c);
        rp_sleep(100);
        c = zmq_socket(rp_ctx(), ZMQ_DEALER);
        zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(c, ZMQ_ROUTING_ID, "victim", 6);
        zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, s.pub, 40);
        zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, k2.pub, 40);
        zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, k2.sec, 40);
        CHECK(zmq_connect(c, tcp_ep(sw)) == 0);
        CHECK(zmq_send(c, buf, n, 0) == (int) n);
        it.socket = c;
        answered = zmq_poll(&it, 1, (long) swt_ms(1000)) == 1;
    }
    CHECKF(answered, "the newcomer never got an answer");
    int len = zmq_recv(c, buf, sizeof buf, 0);
    xsp_hdr_t e;
    CHECK(len > 0 && xsp_hdr_decode(buf, (size_t) len, &e, NULL, 0) == 0);
    CHECKF(e.cmd == XSP_CMD_ERROR && rp_str_eq(e.code, "permission-denied"), "got cmd %u", e.cmd);
    wait_log(sw, "refused: a connection that is not victim#1's (identity plugin-file@dom3) sent SUBSCRIBE");
    rp_t *adm = rp_open(sw->endpoint, "admin", "cli");
    CHECKF(swd_now_queue(adm, FILEQ, "consumers") <= 0, "the newcomer subscribed on the old session");
    zmq_close(c);
    rp_bye(adm);
    swt_stop(sw);
    fixture_done();
}

/* ------------------------------------------------------------------ registrar */

static void registrar_domid(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    char store[300], pol[300], log[300];
    snprintf(store, sizeof store, "file:%s/registrar.state", base);
    snprintf(pol, sizeof pol, "%s/registrar.conf", base);
    snprintf(log, sizeof log, "%s/registrar.log", base);
    FILE *f = fopen(pol, "w");
    CHECK(f);
    fprintf(f, "allow domain 0 schemes * queues *\nallow domain 3 schemes nbd queues org.xen.xsp.storage.file*\n");
    fclose(f);
    pid_t rpid = fork();
    CHECK(rpid >= 0);
    if (rpid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        execl(XSP_REGISTRAR_BIN, XSP_REGISTRAR_BIN, "--switch", sw->endpoint, "--store", store,
              "--policy", pol, (char *) NULL);
        _exit(127);
    }
    /* the plugin: the SDK client over tcp with CURVE, claiming dom0 */
    char cert[400], skey[400];
    snprintf(cert, sizeof cert, "%s/keys-plugin-file@dom3/plugin-file@dom3.key_secret", base);
    snprintf(skey, sizeof skey, "%s/switchkeys/switch.key", base);
    xsp_error_t err = { 0 };
    setenv("XSP_CURVE_CERT", cert, 1);
    setenv("XSP_CURVE_SERVER", skey, 1);
    xsp_client_opts_t o = { .endpoint = tcp_ep(sw), .name = "plugin-file", .domid = 0 };
    xsp_client_t *c = xsp_client_new_opts(&o, &err);
    CHECKF(c, "SDK client over CURVE: %s", err.msg);
    xsp_registrar_register_args_t a;
    xsp_registration_t out;
    xsp_error_reply_t er;
    int rc = -1;
    {   /* the request waits in the registrar's queue until the registrar subscribes */
        xsp_registrar_register_args_init(&a);
        xsp_registration_init(&out);
        xsp_error_reply_init(&er);
        a.dbg = strdup("sec");
        a.request.name = strdup("plugin-file");
        a.request.version = strdup("1.0");
        a.request.api_version = strdup("1.0");
        *xsp_plugin_kind_list_add(&a.request.kinds) = XSP_PLUGIN_KIND_DATAPATH;
        xsp_string_list_append(&a.request.schemes, "file");
        xsp_string_list_append(&a.request.queues, FILEQ);
        a.request.backend_policy.kind = XSP_BACKEND_POLICY_KIND_OWN_DOMAIN;
        xsp_call_opts_t co = { .timeout_ms = 10000 };
        rc = xsp_registrar_register_args_call(c, REGQ, &co, &a, &out, &er, &err);
        xsp_registrar_register_args_dispose(&a);
        xsp_registration_dispose(&out);
        xsp_error_reply_dispose(&er);
    }
    CHECKF(rc == XSP_E_PERMISSION_DENIED, "register from a dom3 key claiming dom0: %s: %s",
           xsp_code_name((xsp_code_t) rc), err.msg);
    swt_note("registrar said: %s", err.msg);
    xsp_client_destroy(&c);
    unsetenv("XSP_CURVE_CERT");
    unsetenv("XSP_CURVE_SERVER");
    kill(rpid, SIGTERM);
    int st;
    waitpid(rpid, &st, 0);
    char line[1024];
    bool found = false;
    FILE *lf = fopen(log, "r");
    CHECK(lf);
    while (!found && fgets(line, sizeof line, lf))
        found = strstr(line, "refused to register plugin-file from domain 3") != NULL;
    fclose(lf);
    CHECKF(found, "the registrar log lacks 'refused to register plugin-file from domain 3'");
    swt_note("registrar log: refused to register plugin-file from domain 3");
    swt_stop(sw);
    fixture_done();
}

/* ------------------------------------------------------------------ policy without CURVE */

/*  A switch with a policy file and no CURVE: root on ipc is an administrator; a plaintext
    tcp peer is "unauthenticated", restricted, domid 32756 whatever it claims. */
static void policy_only(void)
{
    fixture();
    char pol[300];
    snprintf(pol, sizeof pol, "%s/policy.conf", base);
    swt_switch_t *sw = swt_start("--listen", "tcp://127.0.0.1:*", "--policy", pol, NULL);
    rp_t *reg = rp_open(sw->endpoint, "registrar", "registrar");
    rp_subscribe(reg, REGQ, 1);
    rp_t *anon = rp_connect(tcp_ep(sw));
    rp_hello(anon, "anon", "plugin", (uint64_t) getpid(), 0);
    rp_request(anon, 3, REGQ, 5000, 0, "", "x", 1);
    rp_msg_t d = { 0 };
    rp_expect_deliver(reg, &d);
    CHECKF(d.h.domid == 0x7FF4, "an unauthenticated tcp peer claiming dom0 is delivered as %llu",
           (unsigned long long) d.h.domid);
    rp_reply(reg, d.h.msg_id, 0, "", 0);
    rp_expect_result(anon, NULL, 3);
    rp_msg_clear(&d);
    rp_subscribe(anon, FILEQ, 1);
    expect_denied(anon, XSP_CMD_SUBSCRIBE, 0, "identity unauthenticated (domain 32756) may not serve");
    rp_diag(anon, 8);
    expect_denied(anon, XSP_CMD_DIAG, 8, "may not use diag");
    wait_log(sw, "is unauthenticated, restricted by policy ");
    swd_t *diag = swd_fetch(reg);           /* root on ipc: an administrator */
    const msgpack_object *pe = swd_peer(diag, anon->peer_id);
    CHECK(pe && swd_obj_str_eq(pe, "identity", "unauthenticated"));
    CHECK_U(swd_obj_u(pe, "claimed_domid"), ==, 0);
    swd_free(diag);
    rp_bye(anon);
    rp_bye(reg);
    swt_stop(sw);
    fixture_done();
}

/* ------------------------------------------------------------------ plugin options */

/*  A plugin started with --curve-cert/--switch-key on a tcp --switch is authenticated; only
    one of the two is a usage error. */
static void plugin_options(void)
{
    fixture();
    swt_switch_t *sw = start_secure();
    char cert[400], skey[400];
    snprintf(cert, sizeof cert, "%s/keys-plugin-nbd@dom5/plugin-nbd@dom5.key_secret", base);
    snprintf(skey, sizeof skey, "%s/switchkeys/switch.key", base);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(XSP_TEST_PLUGIN_BIN, XSP_TEST_PLUGIN_BIN, "--switch", tcp_ep(sw), "--queue", NBDQ,
              "--curve-cert", cert, "--switch-key", skey, "--domain", "0", (char *) NULL);
        _exit(127);
    }
    wait_log(sw, "authenticated as plugin-nbd@dom5 (domain 5)");
    rp_t *adm = rp_open(sw->endpoint, "admin", "cli");
    CHECKF(WAIT_FOR(5000, swd_now_queue(adm, NBDQ, "consumers") == 1), "the plugin does not serve " NBDQ);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "plugin exit status 0x%x", st);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s --switch %s --curve-cert %s --no-register 2>/dev/null", XSP_TEST_PLUGIN_BIN,
             tcp_ep(sw), cert);
    CHECKF(WEXITSTATUS(system(cmd)) == 2, "--curve-cert without --switch-key was accepted");
    rp_bye(adm);
    swt_stop(sw);
    fixture_done();
}

/* ------------------------------------------------------------------ ipc uid */

/*  Child: become nobody, connect to the ipc socket, ask for DIAG and call the registrar. */
static void uid_child(void)
{
    CHECK(setgid(65534) == 0 && setuid(65534) == 0);
    rp_t *p = rp_connect(swt_argv[0]);
    rp_hello(p, "local-user", "client", (uint64_t) getpid(), 0);
    rp_diag(p, 5);
    rp_msg_t m = { 0 };
    rp_expect_error(p, &m, "permission-denied", XSP_CMD_DIAG, 5);
    rp_msg_clear(&m);
    rp_request(p, 6, REGQ, 5000, 0, "", "x", 1);
    rp_expect_result(p, NULL, 6);
    printf("child-ok\n");
    fflush(stdout);
    rp_bye(p);
    rp_cleanup();                   /* the BYE leaves before the context ends */
    /* done: leave without the exit handlers.  As uid 65534 this process may not be able to
       read /proc at all (the fresh-Debian chroot's "/" is 0700), and ASan's leak check at
       exit then stops with a fatal error instead of checking anything */
    _exit(0);
}

static void ipc_uid(void)
{
    fixture();
    /* another uid must reach the switch over ipc: an abstract socket (Linux) has no path,
       so no directory above it (a chroot's 0700 "/" in CI, say) can stand in the way; the
       uid still comes from SO_PEERCRED, as on a socket file that --group opens */
    char abstract[64];
    snprintf(abstract, sizeof abstract, "ipc://@xsp-test-ipc-uid-%ld", (long) getpid());
    swt_switch_t *sw = start_secure_with("--listen", abstract);
    rp_t *reg = rp_open(sw->endpoint, "registrar", "registrar");
    rp_subscribe(reg, REGQ, 1);
    int fd;
    pid_t child = swt_spawn_child("uid_child", &fd, abstract, NULL);
    rp_msg_t d = { 0 };
    rp_expect_deliver(reg, &d);
    CHECKF(d.h.domid == 0x7FF4, "a non-root local user claiming dom0 is reported as domid %llu",
           (unsigned long long) d.h.domid);
    rp_reply(reg, d.h.msg_id, 0, "", 0);
    rp_msg_clear(&d);
    char line[64];
    CHECK(swt_read_line(fd, line, sizeof line, swt_ms(5000)) > 0 && strcmp(line, "child-ok") == 0);
    CHECK(swt_wait_child(child, swt_ms(5000)) == 0);
    close(fd);
    wait_log(sw, "is uid:65534, restricted by policy ");
    wait_log(sw, ": domain 32756 (it claimed 0)");
    wait_log(sw, "(identity uid:65534, domain 32756) may not use diag");
    wait_log(sw, "is uid:0 on ipc: an administrator");
    rp_bye(reg);
    swt_stop(sw);
    fixture_done();
}

/* ------------------------------------------------------------------ configuration */

static void expect_refused_start(const char *const *args, const char *says)
{
    char out[4096];
    int st = swt_run_argv(args, out, sizeof out, swt_ms(5000));
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) != 0, "xsp-switch started with a bad configuration");
    CHECKF(strstr(out, says), "xsp-switch said '%s', want '%s'", out, says);
    CHECK(strstr(out, "xsp-switch ready") == NULL);
    swt_note("refused: %s", says);
}

static void bad_config(void)
{
    fixture();
    char run[300], pol[300], certs[300], keys[300], badcerts[300];
    snprintf(run, sizeof run, "%s/run", base);
    snprintf(pol, sizeof pol, "%s/bad.conf", base);
    snprintf(certs, sizeof certs, "%s/certs", base);
    snprintf(keys, sizeof keys, "%s/switchkeys", base);
    snprintf(badcerts, sizeof badcerts, "%s/badcerts", base);
    static const char *const bad_lines[][2] = {
        { "peer x serve org.xen.xsp.storage.file\npeer y srve q\n", ":2: unknown word 'srve'" },
        { "allow domain 0\n", ":1: unknown keyword 'allow'" },
        { "peer x trace maybe\n", ":1: 'trace' is yes or no, not 'maybe'" },
        { "peer plugin@dom3 domid 3\n", ":1: 'domid' is only for uid:N rules" },
        { "peer x serve bad$queue\n", ":1: 'serve' wants" },
        { "peer x\npeer x\n", ":2: 'x' already has a rule on line 1" },
    };
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        FILE *f = fopen(pol, "w");
        CHECK(f);
        fputs(bad_lines[i][0], f);
        fclose(f);
        const char *const args[] = { "--run-dir", run, "--policy", pol, NULL };
        expect_refused_start(args, bad_lines[i][1]);
    }
    const char *const nofile[] = { "--run-dir", run, "--policy", "/nonexistent/policy.conf", NULL };
    expect_refused_start(nofile, "cannot read the policy file /nonexistent/policy.conf");
    const char *const empty[] = { "--run-dir", run, "--policy", "", NULL };
    expect_refused_start(empty, "--policy wants a file");
    (void) certs, (void) keys, (void) badcerts;
    fixture_done();
}

int main(int argc, char **argv)
{
    static const swt_case_t cases[] = {
        { "curve_known_key", curve_known_key, false },
        { "curve_unknown_key", curve_unknown_key, false },
        { "curve_plaintext", curve_plaintext, false },
        { "serve_registrar", serve_registrar, false },
        { "serve_foreign", serve_foreign, false },
        { "call_forbidden", call_forbidden, false },
        { "trace_diag", trace_diag, false },
        { "reply_spoof", reply_spoof, false },
        { "session_takeover", session_takeover, false },
        { "registrar_domid", registrar_domid, false },
        { "ipc_uid", ipc_uid, false },
        { "plugin_options", plugin_options, false },
        { "policy_only", policy_only, false },
        { "bad_config", bad_config, false },
        { "uid_child", uid_child, true },
        { NULL, NULL, false },
    };
    int rc = swt_main(argc, argv, cases, 50);
    fixture_done();
    return rc;
}
