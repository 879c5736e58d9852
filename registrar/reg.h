/*  registrar/reg.h — one plugin registration as the registrar's modules see it, the
    registrar's error value, and the syntax rules (names, schemes, queues, URIs).

    Owns: reg_t (a registration: plain malloc'd strings and string vectors), reg_vec_t (a
    set of registrations kept sorted by name), reg_err_t (xsp_code_t + sentence + up to two
    detail entries for the error reply), validation and normalisation of requests.
    Never touches: I/O, clocks, randomness, logging, global state.  Pure functions only, so
    every rule here is unit-tested without a switch, a xenstored or a disk.

    DATA STRUCTURES

    reg_t is the C twin of the IDL `registration` (sdk/idl/registrar.idl), independent of
    the generated code so that these modules build and test on their own:

        id, name, version, api_version   char * (NULL reads as "")
        kinds                            bit set of REG_KIND_VOLUME | REG_KIND_DATAPATH
        schemes, queues, features        reg_strv_t {n, v[]}: arrays of malloc'd strings
        domid                            the domain the plugin runs in (caller identity)
        backend, has_backend_domid,      backend-domain policy: fixed (with a domid),
          backend_domid                  own_domain or on_demand (no domid)
        registered_at                    Unix time, milliseconds

    plus state the table keeps (ignored in requests, never stored on disk or in xenstore):

        prio[i]                          the policy's priority for schemes.v[i], if
                                         prio[i].set (array of schemes.n, or NULL)
        confirmed                        a consumer was seen on one of its queues
        live_queues                      bit i set = queues.v[i] had a consumer at the last
                                         reconciliation (queues are at most 16)
        pending_since_ms                 monotonic time it became unconfirmed (added or
                                         recovered): the liveness grace period runs from it

    An all-zero reg_t is a valid empty value.  reg_dispose() frees what it holds.

    reg_vec_t is a growable array of reg_t sorted by name (names are unique in it): the
    store's mirror of what it has persisted.  Plugins number in the tens, so lookups are a
    binary search and insertions a memmove.
*/
#ifndef XSP_REGISTRAR_REG_H
#define XSP_REGISTRAR_REG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits, the same as in sdk/idl/registrar.idl. */
#define REG_ID_MAX        128
#define REG_NAME_MAX      64
#define REG_VERSION_MAX   64
#define REG_SCHEME_MAX    64
#define REG_QUEUE_MAX     255
#define REG_FEATURE_MAX   64
#define REG_URI_MAX       4096
#define REG_MAX_KINDS     2
#define REG_MAX_SCHEMES   64
#define REG_MAX_QUEUES    16
#define REG_MAX_FEATURES  256
#define REG_DOMID_LIMIT   32752u    /* Xen's DOMID_FIRST_RESERVED: valid domids are below */

enum {
    REG_KIND_VOLUME   = 1u << 0,
    REG_KIND_DATAPATH = 1u << 1,
    REG_KIND_ALL      = REG_KIND_VOLUME | REG_KIND_DATAPATH,
};

typedef enum {
    REG_BACKEND_FIXED = 0,      /* always backend_domid */
    REG_BACKEND_OWN_DOMAIN,     /* the plugin's own domain */
    REG_BACKEND_ON_DEMAND,      /* decided at attach time */
} reg_backend_t;

typedef struct {
    size_t n;
    char **v;
} reg_strv_t;

typedef struct {
    bool set;
    int32_t value;
} reg_prio_t;

typedef struct {
    char *id;
    char *name;
    char *version;
    char *api_version;
    unsigned kinds;
    reg_strv_t schemes;
    reg_strv_t queues;
    reg_strv_t features;
    uint32_t domid;
    reg_backend_t backend;
    bool has_backend_domid;
    uint32_t backend_domid;
    uint64_t registered_at;
    /* table state (see the top of this file) */
    reg_prio_t *prio;
    bool confirmed;
    uint32_t live_queues;
    uint64_t pending_since_ms;
} reg_t;

/* ------------------------------------------------------------------ errors */

#define REG_ERR_DETAILS 2

/*  An error: code + one sentence + up to two detail entries (the `detail` map of the
    error reply: "argument", "scheme", "reason", "conflict").  code XSP_OK = success. */
typedef struct {
    xsp_code_t code;
    char msg[XSP_ERROR_MSG_MAX];
    unsigned ndetail;
    struct {
        char key[24];
        char val[256];
    } detail[REG_ERR_DETAILS];
} reg_err_t;

/*  Set *err (NULL: nothing happens) to code + formatted sentence, clearing details.
    Returns -1 so callers write `return reg_err(err, XSP_E_..., "...")`. */
int reg_err(reg_err_t *err, xsp_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*  Add a detail entry (ignored past REG_ERR_DETAILS or when err is NULL; truncated). */
void reg_err_detail(reg_err_t *err, const char *key, const char *val);
/*  The value of detail key, or NULL. */
const char *reg_err_get(const reg_err_t *err, const char *key);
void reg_err_clear(reg_err_t *err);

/* ------------------------------------------------------------------ string vectors */

/*  Append a copy of s.  0, or -1 when out of memory. */
int reg_strv_push(reg_strv_t *sv, const char *s);
bool reg_strv_has(const reg_strv_t *sv, const char *s);
void reg_strv_dispose(reg_strv_t *sv);
int reg_strv_copy(reg_strv_t *dst, const reg_strv_t *src);

/* ------------------------------------------------------------------ registrations */

void reg_init(reg_t *r);
void reg_dispose(reg_t *r);
/*  Deep copy into dst (disposed first); table state included.  0, or -1 (out of memory:
    dst is left empty). */
int reg_copy(reg_t *dst, const reg_t *src);
/*  Move src into dst (dst disposed first); src becomes empty. */
void reg_move(reg_t *dst, reg_t *src);
/*  Same persistent fields (id, name, ..., registered_at); table state is not compared. */
bool reg_equal(const reg_t *a, const reg_t *b);

/*  Check a registration request (or a stored registration) and normalise it in place:
    schemes are lower-cased; id and table state are not looked at.  Refuses with
    XSP_E_INVALID_ARGUMENT + detail "argument" = the field ("name", "schemes[2]", ...). */
int reg_validate(reg_t *r, reg_err_t *err);

/*  "volume" / "datapath" for one kind bit; NULL otherwise. */
const char *reg_kind_name(unsigned kind);
/*  "volume" or "datapath" -> bit; 0 if unknown. */
unsigned reg_kind_from_name(const char *s);
const char *reg_backend_name(reg_backend_t b);
/*  "fixed" / "own_domain" / "on_demand" -> *out; false if unknown. */
bool reg_backend_from_name(const char *s, reg_backend_t *out);

/* ------------------------------------------------------------------ syntax */

/*  Plugin names: 1..64 bytes of [A-Za-z0-9_-], first a letter or digit (a xenstore path
    element). */
bool reg_valid_name(const char *s);
/*  Queue names (docs/protocol.md): 1..255 bytes of [A-Za-z0-9._-:/@+]. */
bool reg_valid_queue(const char *s);
/*  RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), at most 64 bytes. */
bool reg_valid_scheme(const char *s);
/*  The scheme of uri, lower-cased, into out (REG_SCHEME_MAX + 1 bytes).  Refuses with
    XSP_E_INVALID_ARGUMENT (detail argument=uri) an empty or over-long URI, one with a
    control character or space, one without "scheme:" at its start. */
int reg_uri_scheme(const char *uri, char out[REG_SCHEME_MAX + 1], reg_err_t *err);

/* ------------------------------------------------------------------ sets by name */

typedef struct {
    size_t n, cap;
    reg_t *v;       /* sorted by name */
} reg_vec_t;

/*  Index of name, or -1. */
long reg_vec_find(const reg_vec_t *vec, const char *name);
/*  Insert or replace (by name) a copy of r.  0, or -1 when out of memory (vec unchanged). */
int reg_vec_put(reg_vec_t *vec, const reg_t *r);
/*  Insert or replace, moving r in (r becomes empty).  0 or -1 (out of memory; r kept). */
int reg_vec_put_move(reg_vec_t *vec, reg_t *r);
/*  Remove name; true if it was there. */
bool reg_vec_del(reg_vec_t *vec, const char *name);
/*  Remove entry i (0 <= i < n), moving it into *out when out is not NULL. */
void reg_vec_take(reg_vec_t *vec, size_t i, reg_t *out);
void reg_vec_dispose(reg_vec_t *vec);
/*  Deep copy.  0 or -1 (dst left empty). */
int reg_vec_copy(reg_vec_t *dst, const reg_vec_t *src);

#ifdef __cplusplus
}
#endif
#endif
