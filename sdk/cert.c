/*  cert.c — CURVE certificates in ZPL files (see xsp/cert.h).

    Owns: the tiny ZPL subset CZMQ's zcert uses (two sections, `key = "value"` lines,
    `#` comments).  Never touches: sockets.
*/
#define _GNU_SOURCE
#include "xsp/cert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static bool z85_ok(const char *s)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(s) != XSP_Z85_KEY_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr(alphabet, *p))
            return false;
    return true;
}

/*  "    key = "value"" -> key, value (value unquoted).  false for other lines. */
static bool kv(char *line, char **key, char **val)
{
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    char *eq = strchr(p, '=');
    if (!eq)
        return false;
    char *k_end = eq;
    while (k_end > p && (k_end[-1] == ' ' || k_end[-1] == '\t'))
        k_end--;
    *k_end = '\0';
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == '\n' || v[n - 1] == '\r' || v[n - 1] == ' '))
        v[--n] = '\0';
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        v++;
    }
    *key = p;
    *val = v;
    return true;
}

int xsp_cert_load(const char *path, xsp_cert_t *cert, xsp_error_t *err)
{
    memset(cert, 0, sizeof *cert);
    FILE *f = fopen(path, "r");
    if (!f)
        return xsp_error_set(err, errno == ENOENT ? XSP_E_INVALID_ARGUMENT : XSP_E_SYSTEM,
                             "certificate %s: %s", path, strerror(errno));
    char line[512], section[32] = "";
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (line[0] != ' ' && line[0] != '\t') {
            snprintf(section, sizeof section, "%.*s", (int) strcspn(line, " \t\r\n"), line);
            continue;
        }
        char *k, *v;
        if (!kv(line, &k, &v))
            continue;
        if (!strcmp(section, "curve") && !strcmp(k, "public-key"))
            snprintf(cert->public_key, sizeof cert->public_key, "%s", v);
        else if (!strcmp(section, "curve") && !strcmp(k, "secret-key"))
            snprintf(cert->secret_key, sizeof cert->secret_key, "%s", v);
        else if (!strcmp(section, "metadata") && !strcmp(k, "identity"))
            snprintf(cert->identity, sizeof cert->identity, "%s", v);
        else if (!strcmp(section, "metadata") && !strcmp(k, "serve"))
            snprintf(cert->serve, sizeof cert->serve, "%s", v);
        else if (!strcmp(section, "metadata") && !strcmp(k, "call"))
            snprintf(cert->call, sizeof cert->call, "%s", v);
        else if (!strcmp(section, "metadata") && !strcmp(k, "domid")) {
            char *end;
            errno = 0;
            unsigned long d = strtoul(v, &end, 10);
            if (errno || *end || !*v || d > UINT32_MAX) {
                fclose(f);
                return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "certificate %s line %d: domid "
                                     "'%s' is not a domain id", path, lineno, v);
            }
            cert->has_domid = true;
            cert->domid = (uint32_t) d;
        }
    }
    fclose(f);
    if (!z85_ok(cert->public_key))
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "certificate %s: no valid curve public-key "
                             "(40 Z85 characters)", path);
    if (cert->secret_key[0] && !z85_ok(cert->secret_key))
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "certificate %s: the curve secret-key is not "
                             "40 Z85 characters", path);
    xsp_error_clear(err);
    return XSP_OK;
}

int xsp_cert_new(const char *identity, bool has_domid, uint32_t domid, const char *serve,
                 const char *call, xsp_cert_t *cert, xsp_error_t *err)
{
    memset(cert, 0, sizeof *cert);
    if (!identity || !*identity || strlen(identity) > XSP_CERT_IDENTITY_MAX || strpbrk(identity, "\"\n\r\\"))
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "an identity is 1-%d characters without "
                             "quotes, backslashes or newlines", XSP_CERT_IDENTITY_MAX);
    if ((serve && (strlen(serve) >= sizeof cert->serve || strpbrk(serve, "\"\n\r\\"))) ||
        (call && (strlen(call) >= sizeof cert->call || strpbrk(call, "\"\n\r\\"))))
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "serve and call are at most %zu characters "
                             "without quotes, backslashes or newlines", sizeof cert->serve - 1);
    if (zmq_curve_keypair(cert->public_key, cert->secret_key) != 0)
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot make a CURVE key pair: %s (libzmq without "
                             "CURVE support?)", zmq_strerror(errno));
    snprintf(cert->identity, sizeof cert->identity, "%s", identity);
    cert->has_domid = has_domid;
    cert->domid = domid;
    snprintf(cert->serve, sizeof cert->serve, "%s", serve ? serve : "");
    snprintf(cert->call, sizeof cert->call, "%s", call ? call : "");
    xsp_error_clear(err);
    return XSP_OK;
}

static int write_one(const xsp_cert_t *c, const char *path, bool secret, xsp_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
    if (fd < 0)
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot write %s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot write %s: %s", path, strerror(errno));
    }
    fprintf(f, "#   xsp %s certificate for %s (CZMQ ZPL format)\n", secret ? "SECRET" : "public",
            c->identity);
    if (secret)
        fprintf(f, "#   keep this file private: it proves the identity\n");
    fprintf(f, "metadata\n    identity = \"%s\"\n", c->identity);
    if (c->has_domid)
        fprintf(f, "    domid = \"%u\"\n", c->domid);
    if (c->serve[0])
        fprintf(f, "    serve = \"%s\"\n", c->serve);
    if (c->call[0])
        fprintf(f, "    call = \"%s\"\n", c->call);
    fprintf(f, "curve\n    public-key = \"%s\"\n", c->public_key);
    if (secret)
        fprintf(f, "    secret-key = \"%s\"\n", c->secret_key);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        int e = errno;
        fclose(f);
        return xsp_error_set(err, XSP_E_SYSTEM, "cannot write %s: %s", path, strerror(e));
    }
    fclose(f);
    return XSP_OK;
}

int xsp_cert_save(const xsp_cert_t *c, const char *dir, const char *name, xsp_error_t *err)
{
    char path[4096];
    if (!name || !*name || strchr(name, '/'))
        return xsp_error_set(err, XSP_E_INVALID_ARGUMENT, "a certificate name has no '/'");
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    int rc = write_one(c, path, false, err);
    if (rc == XSP_OK) {
        snprintf(path, sizeof path, "%s/%s.key_secret", dir, name);
        rc = write_one(c, path, true, err);
    }
    if (rc == XSP_OK)
        xsp_error_clear(err);
    return rc;
}
