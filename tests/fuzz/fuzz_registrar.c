/*  fuzz_registrar.c — libFuzzer target: the registrar's request handling, from the request
    payload to the answer, with a real file store (registrar/main.c's handlers over
    table.c, policy.c, store_file.c; the generated Registrar dispatcher and decoders;
    sdk/dispatch.c).

    How: registrar/main.c is compiled into this file (its `main` renamed), so its static
    handlers run exactly as in xsp-registrar.  The switch side is replaced by an in-memory
    request: this file defines struct xsp_request and the xsp_request_* accessors that
    sdk/dispatch.c and the handlers use; xsp_request_reply checks the answer is one msgpack
    object and frees the request.  The xsp_server_* / xsp_client_* entry points main.c
    references (never reached here) fail cleanly.

    Input: byte 0 = the caller's domid (0-3: dom0 may register under the default policy,
    others are refused) and whether the call may park (watch); the rest is the request
    payload ({"method": "Registrar.x", "args": {...}}).  Every 256 inputs the table and the
    store are reset, so state stays small.  Properties: no crash, no leak (LeakSanitizer),
    every request answered exactly once (parked watches are answered before returning).
    Never touches: the network; files outside its temp directory (on /dev/shm if present).
*/
#define main xsp_registrar_main
#include "../../registrar/main.c"
#undef main

#include <msgpack.h>

struct xsp_request {
    uint32_t domid;
    const void *body;
    size_t len;
    int64_t left_ms;
};

static int answered;

const char *xsp_request_queue(const xsp_request_t *r) { (void) r; return DEFAULT_QUEUE; }
uint64_t xsp_request_msg_id(const xsp_request_t *r) { (void) r; return 1; }
const char *xsp_request_dbg(const xsp_request_t *r) { (void) r; return "fuzz"; }
const void *xsp_request_body(const xsp_request_t *r) { return r->len ? r->body : NULL; }
size_t xsp_request_size(const xsp_request_t *r) { return r->len; }
uint64_t xsp_request_peer_id(const xsp_request_t *r) { (void) r; return 7; }
uint32_t xsp_request_domid(const xsp_request_t *r) { return r->domid; }
unsigned xsp_request_flags(const xsp_request_t *r) { (void) r; return 0; }
int64_t xsp_request_time_left_ms(const xsp_request_t *r) { return r->left_ms; }

int xsp_request_reply(xsp_request_t *r, unsigned status, const void *body, size_t len)
{
    size_t off = 0;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    if (status > 1 || (len && msgpack_unpack_next(&up, body, len, &off) != MSGPACK_UNPACK_SUCCESS) ||
        off != len)
        abort();                /* an answer is one well-formed msgpack object */
    msgpack_unpacked_destroy(&up);
    answered++;
    free(r);
    return 0;
}

void xsp_request_release(xsp_request_t *r)
{
    answered++;
    free(r);
}

/* ---- the switch connection: never reached by the fuzzer ---- */
xsp_server_t *xsp_server_new(const char *endpoint, const char *name, const char *role, uint32_t domid,
                             xsp_error_t *err)
{
    (void) endpoint, (void) name, (void) role, (void) domid;
    xsp_error_set(err, XSP_E_DISCONNECTED, "fuzzing: no switch");
    return NULL;
}
void xsp_server_destroy(xsp_server_t **p) { (void) p; }
int xsp_server_subscribe(xsp_server_t *s, const char *q, unsigned c, xsp_handler_fn *fn, void *arg,
                         xsp_error_t *err)
{
    (void) s, (void) q, (void) c, (void) fn, (void) arg;
    return xsp_error_set(err, XSP_E_DISCONNECTED, "fuzzing: no switch");
}
void xsp_server_stop(xsp_server_t *s) { (void) s; }
int xsp_server_fd(const xsp_server_t *s) { (void) s; return -1; }
int xsp_server_timeout_ms(const xsp_server_t *s) { (void) s; return -1; }
int xsp_server_process(xsp_server_t *s) { (void) s; return -1; }
xsp_client_t *xsp_client_new_opts(const xsp_client_opts_t *o, xsp_error_t *err)
{
    (void) o;
    xsp_error_set(err, XSP_E_DISCONNECTED, "fuzzing: no switch");
    return NULL;
}
void xsp_client_destroy(xsp_client_t **p) { (void) p; }
int xsp_client_fd(const xsp_client_t *c) { (void) c; return -1; }
int xsp_client_timeout_ms(const xsp_client_t *c) { (void) c; return -1; }
int xsp_client_process(xsp_client_t *c) { (void) c; return -1; }
int xsp_client_diag(xsp_client_t *c, int t, void **data, size_t *len, xsp_error_t *err)
{
    (void) c, (void) t, (void) data, (void) len;
    return xsp_error_set(err, XSP_E_DISCONNECTED, "fuzzing: no switch");
}
int xsp_client_trace_start(xsp_client_t *c, uint64_t from, const char *glob, bool follow, xsp_trace_fn *fn,
                           void *arg, xsp_error_t *err)
{
    (void) c, (void) from, (void) glob, (void) follow, (void) fn, (void) arg;
    return xsp_error_set(err, XSP_E_DISCONNECTED, "fuzzing: no switch");
}
void xsp_client_trace_stop(xsp_client_t *c) { (void) c; }
bool xsp_client_tracing(const xsp_client_t *c) { (void) c; return false; }

/* ---- the harness ---- */
static app_t app;
static char dir[64];
static unsigned runs;

static void reset(void)
{
    reg_err_t e = { 0 };
    char path[128];
    reg_store_close(&app.store);
    reg_table_free(&app.table);
    snprintf(path, sizeof path, "file:%s/registrar.state", dir);
    unlink(path + 5);
    if (!(app.store = reg_store_open(path, dir, &e))) {
        fprintf(stderr, "fuzz_registrar: store %s: %s\n", path, e.msg);
        abort();
    }
    if (!(app.table = reg_table_new(0, 42)) || reg_table_set_policy(app.table, app.policy, NULL) < 0)
        abort();
}

static void cleanup(void)
{
    wake_waiters(&app, true);
    reg_store_close(&app.store);
    reg_table_free(&app.table);
    reg_policy_free(&app.policy);
    char path[128];
    snprintf(path, sizeof path, "%s/registrar.state", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc, (void) argv;
    xsp_log_open("fuzz-registrar", false, XSP_LOG_ERR);
    snprintf(dir, sizeof dir, "%s/xsp-fuzz-registrar-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        abort();
    app.queue = DEFAULT_QUEUE;
    app.heartbeat_ms = DEFAULT_HEARTBEAT;
    app.boot_id = 1;
    app.policy = reg_policy_default();
    app.service.ops = &ops;
    app.service.ctx = &app;
    reset();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (++runs % 256 == 0) {
        wake_waiters(&app, true);
        reset();
    }
    xsp_request_t *r = calloc(1, sizeof *r);
    if (!r)
        return 0;
    r->domid = data[0] & 3;
    r->left_ms = (data[0] & 4) ? 1000 : -1;
    r->body = data + 1;
    r->len = size - 1;
    int before = answered, parked = (int) app.nwaiters;
    xsp_registrar_handler(NULL, r, &app.service);
    /* a request is answered now, or parked as a watch */
    if (answered != before + 1 && (int) app.nwaiters != parked + 1)
        abort();
    wake_waiters(&app, true);   /* (answers every parked watch: nothing outlives the input) */
    return 0;
}
