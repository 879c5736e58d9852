/*  endpoint.c — the endpoint rule of xsp/endpoint.h, and CURVE settings for tcp.

    Owns: the choice of run directory and switch endpoint; the process-wide CURVE file
    names.  Never touches: connections (it only sets options on a socket it is handed);
    files other than the two certificates.
*/
#include "xsp/endpoint.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static int fit(int n, size_t cap)
{
    return n < 0 || (size_t) n >= cap ? -1 : 0;
}

int xsp_default_run_dir(char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    uid_t uid = geteuid();
    if (uid == 0)
        return fit(snprintf(buf, cap, "/run/xsp"), cap);
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        return fit(snprintf(buf, cap, "%s/xsp", xdg), cap);
    return fit(snprintf(buf, cap, "/tmp/xsp-%lu", (unsigned long) uid), cap);
}

int xsp_endpoint_resolve(const char *explicit_or_null, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    if (explicit_or_null && *explicit_or_null)
        return fit(snprintf(buf, cap, "%s", explicit_or_null), cap);
    const char *env = getenv(XSP_SWITCH_ENV);
    if (env && *env)
        return fit(snprintf(buf, cap, "%s", env), cap);
    char dir[XSP_ENDPOINT_MAX];
    if (xsp_default_run_dir(dir, sizeof dir))
        return -1;
    return fit(snprintf(buf, cap, "ipc://%s/%s", dir, XSP_SWITCH_SOCK), cap);
}

/* ------------------------------------------------------------------ CURVE */

static pthread_mutex_t curve_lock = PTHREAD_MUTEX_INITIALIZER;
static char curve_cert[1024], curve_switch[1024];

int xsp_endpoint_set_curve(const char *cert, const char *switch_key, xsp_error_t *err)
{
    if (!cert != !switch_key) {
        xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "CURVE needs both this process's certificate and "
                      "the switch's key");
        return -1;
    }
    if ((cert && strlen(cert) >= sizeof curve_cert) || (switch_key && strlen(switch_key) >= sizeof curve_switch)) {
        xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "certificate path is too long");
        return -1;
    }
    pthread_mutex_lock(&curve_lock);
    snprintf(curve_cert, sizeof curve_cert, "%s", cert ? cert : "");
    snprintf(curve_switch, sizeof curve_switch, "%s", switch_key ? switch_key : "");
    pthread_mutex_unlock(&curve_lock);
    return 0;
}

/*  zcert_load reads PATH_secret when it exists: accept "X.key" or "X.key_secret". */
static zcert_t *load(const char *path)
{
    char p[1040];
    snprintf(p, sizeof p, "%s", path);
    size_t n = strlen(p);
    if (n > 7 && strcmp(p + n - 7, "_secret") == 0)
        p[n - 7] = '\0';
    return zcert_load(p);
}

int xsp_endpoint_secure(void *sock, const char *endpoint, xsp_error_t *err)
{
    if (!endpoint || strncmp(endpoint, "tcp://", 6) != 0)
        return 0;
    char cert[1024], sw[1024];
    pthread_mutex_lock(&curve_lock);
    snprintf(cert, sizeof cert, "%s", curve_cert);
    snprintf(sw, sizeof sw, "%s", curve_switch);
    pthread_mutex_unlock(&curve_lock);
    if (!cert[0]) {
        const char *c = getenv(XSP_CURVE_CERT_ENV), *s = getenv(XSP_SWITCH_KEY_ENV);
        if (!c || !*c || !s || !*s)
            return 0;           /* plaintext tcp: a CURVE switch refuses the handshake */
        snprintf(cert, sizeof cert, "%s", c);
        snprintf(sw, sizeof sw, "%s", s);
    }
    zcert_t *own = load(cert);
    zcert_t *srv = zcert_load(sw);
    int rc = 0;
    const char *zero = "0000000000000000000000000000000000000000";
    if (!own || strcmp(zcert_secret_txt(own), zero) == 0)
        rc = xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "cannot load this process's CURVE secret "
                           "key from %s (make it with `xsp keygen`)", cert);
    else if (!srv)
        rc = xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "cannot load the switch's public key from %s", sw);
    else if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, zcert_public_txt(srv), 40) != 0 ||
             zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, zcert_public_txt(own), 40) != 0 ||
             zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, zcert_secret_txt(own), 40) != 0)
        rc = xsp_error_set(err, XSP_E_SYSTEM, "cannot make the socket a CURVE client: %s",
                           zmq_strerror(errno));
    zcert_destroy(&own);
    zcert_destroy(&srv);
    return rc ? -1 : 0;
}
