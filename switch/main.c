/*  main.c — xsp-switch: sockets, the event loop, timers, signals, start and shutdown.

    Owns: the ZeroMQ context and ROUTER socket, the run directory (lock file, socket file
    permissions), the loop that alternates between reading messages (dispatch.c), firing
    deadlines and heartbeats, reaping dead peers and feeding trace subscribers.
    Never touches: the meaning of commands (dispatch.c) or payloads (nobody does).
*/
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "auth.h"
#include "policy.h"
#include "switch.h"
#include "xsp/log.h"

#define BATCH 1024              /* messages read per loop turn before timers run */
#define SW_MMAP_THRESHOLD (128 * 1024)

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

uint64_t sw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

void sw_expire_deadlines(sw_t *sw)
{
    sw_msg_t *m;
    while ((m = sw_deadline_peek(sw)) && m->deadline_ns <= sw->now_ns) {
        sw_deadline_remove(sw, m);
        sw_queue_t *q = m->queue;
        q->st.expired++;
        sw->ct.expired++;
        uint64_t age_ms = (sw->now_ns - m->accepted_ns) / 1000000;
        if (!m->sub) {
            sw_queue_unlink(q, m);
            sw_fail_request(sw, m, XSP_E_EXPIRED,
                            "deadline passed after %llu ms waiting in queue '%s' (%u servers)",
                            (unsigned long long) age_ms, q->name, q->consumers);
            sw_msg_free(sw, m);
            sw->nmsgs--;
        } else {
            /* stays in flight as an orphan: the server's credit stays taken until it answers */
            sw_fail_request(sw, m, XSP_E_EXPIRED,
                            "deadline passed after %llu ms; server %s had it for %llu ms",
                            (unsigned long long) age_ms, m->sub->peer->label,
                            (unsigned long long) ((sw->now_ns - m->delivered_ns) / 1000000));
        }
    }
}

static void heartbeat_tick(sw_t *sw)
{
    uint64_t dead_after = 3ull * (uint64_t) sw->lim.heartbeat_ms * 1000000ull;
    xsp_hdr_t hb = { .cmd = XSP_CMD_HEARTBEAT };
    sw_peer_t *p = sw->peer_list;
    while (p) {
        sw_peer_t *next = p->next;
        if (sw->now_ns - p->last_seen_ns > dead_after)
            sw_peer_kill(sw, p, "silent for 3 heartbeat intervals");
        else
            sw_send(sw, p, &hb, NULL);
        p = next;
    }
}

/* ------------------------------------------------------------------ run directory */

static int make_dir(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/*  Take RUN_DIR/switch.lock so two switches never share a run directory. */
static int lock_run_dir(const sw_config_t *cfg)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/switch.lock", cfg->run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        xsp_log(XSP_LOG_ERR, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = read(fd, pid, sizeof pid - 1);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        xsp_log(XSP_LOG_ERR, "another xsp-switch (pid %s) is running on %s", n > 0 ? pid : "?",
                cfg->run_dir);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int) getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, pid, (size_t) n) != n)
        xsp_log(XSP_LOG_WARN, "cannot write the pid into %s", path);
    return fd;
}

static bool is_ipc(const char *ep)
{
    return strncmp(ep, "ipc://", 6) == 0;
}

/*  Bind the --listen endpoints of one kind (ipc or not), appending what they became. */
static int bind_listen(sw_t *sw, const sw_config_t *cfg, bool ipc, char *ready, size_t cap,
                       size_t *used)
{
    for (int i = 0; i < cfg->nlisten; i++) {
        if (is_ipc(cfg->listen[i]) != ipc)
            continue;
        if (zmq_bind(sw->sock, cfg->listen[i]) < 0) {
            xsp_log(XSP_LOG_ERR, "cannot listen on %s: %s", cfg->listen[i], zmq_strerror(errno));
            return -1;
        }
        char last[512];
        size_t len = sizeof last;
        if (zmq_getsockopt(sw->sock, ZMQ_LAST_ENDPOINT, last, &len) < 0)
            snprintf(last, sizeof last, "%s", cfg->listen[i]);
        if (*used < cap)
            *used += (size_t) snprintf(ready + *used, cap - *used, "%s%s", *used ? " " : "", last);
    }
    return 0;
}

/*  ipc endpoints first (the default socket file, then ipc --listen ones: the ZAP handler
    learns their peers' uids), then the others, which need CURVE when it is configured.
    Socket options apply to the binds that follow them, hence the order. */
static int bind_endpoints(sw_t *sw, const sw_config_t *cfg, char *ready, size_t cap)
{
    size_t used = 0;
    bool listen_ipc = false;
    ready[0] = '\0';
    for (int i = 0; i < cfg->nlisten; i++)
        listen_ipc = listen_ipc || is_ipc(cfg->listen[i]);
    if ((!cfg->no_ipc || listen_ipc) && sw_auth_arm_ipc(sw) < 0)
        return -1;              /* with a policy: the ZAP handler learns the uid */
    if (!cfg->no_ipc) {
        char path[PATH_MAX + 16], ep[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/switch.sock", cfg->run_dir);
        snprintf(ep, sizeof ep, "ipc://%s", path);
        mode_t old = umask(cfg->group ? 0117 : 0177);
        int rc = zmq_bind(sw->sock, ep);
        umask(old);
        if (rc < 0) {
            xsp_log(XSP_LOG_ERR, "cannot listen on %s: %s", ep, zmq_strerror(errno));
            return -1;
        }
        if (chmod(path, cfg->group ? 0660 : 0600) < 0) {
            xsp_log(XSP_LOG_ERR, "cannot set the mode of %s: %s", path, strerror(errno));
            return -1;
        }
        if (cfg->group) {
            struct group *g = getgrnam(cfg->group);
            if (!g || chown(path, (uid_t) -1, g->gr_gid) < 0) {
                xsp_log(XSP_LOG_ERR, "cannot give %s to group '%s': %s", path, cfg->group,
                        g ? strerror(errno) : "no such group");
                return -1;
            }
        }
        used += (size_t) snprintf(ready + used, cap - used, "%s", ep);
    }
    if (bind_listen(sw, cfg, true, ready, cap, &used) < 0)
        return -1;
    if (sw->auth && sw_auth_arm_tcp(sw) < 0)   /* after ipc: only tcp endpoints need CURVE */
        return -1;
    return bind_listen(sw, cfg, false, ready, cap, &used);
}

static int open_socket(sw_t *sw)
{
    int one = 1, hwm = (int) sw->lim.send_hwm, rcvhwm = (int) sw->lim.recv_hwm, linger = 200;
    int64_t maxmsg = (int64_t) sw->lim.max_frame;
    sw->zctx = zmq_ctx_new();
    if (!sw->zctx)
        return -1;
    sw->sock = zmq_socket(sw->zctx, ZMQ_ROUTER);
    if (!sw->sock)
        return -1;
    zmq_setsockopt(sw->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(sw->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sw->sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(sw->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(sw->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sw->sock, ZMQ_HANDSHAKE_IVL, &sw->lim.handshake_ms, sizeof sw->lim.handshake_ms);
    return 0;
}

/* ------------------------------------------------------------------ shutdown */

/*  Tell every waiting client, then free every structure (valgrind-clean exit). */
static void teardown(sw_t *sw)
{
    sw_durable_commit(sw);
    sw_durable_freeze(sw);      /* persistent requests stay in the journal for the next start */
    for (sw_peer_t *p = sw->peer_list; p; p = p->next)
        while (p->out_head) {
            if (p->out_head->d)
                sw_client_forget(p->out_head);  /* answered after the restart, not failed */
            else
                sw_fail_request(sw, p->out_head, XSP_E_SHUTDOWN, "the switch is shutting down");
        }

    for (sw_queue_t *q = sw->queue_list; q; q = q->next)
        while (q->head) {
            sw_msg_t *m = q->head;
            sw_queue_unlink(q, m);
            sw_msg_free(sw, m);
        }
    for (size_t i = 0; i < sw->inflight.cap; i++)
        if (sw->inflight.slots[i].val)
            sw_msg_free(sw, sw->inflight.slots[i].val);
    sw_peer_t *p = sw->peer_list;
    while (p) {
        sw_peer_t *next = p->next;
        while (p->subs) {
            sw_sub_t *s = p->subs;
            p->subs = s->peer_next;
            free(s);
        }
        sw_outbox_close(p);
        free(p);
        p = next;
    }
    if (sw->spare)
        sw_msg_free(sw, sw->spare);
    sw_queue_dispose_all(sw);
    sw_map_dispose(&sw->peers);
    sw_map_dispose(&sw->queues);
    sw_map_dispose(&sw->inflight);
    free(sw->deadlines);
    sw_durable_close(sw);
    sw_trace_dispose(sw);
    sw_pool_dispose(sw);
}

/* ------------------------------------------------------------------ loop */

static int next_timeout_ms(sw_t *sw, uint64_t next_hb)
{
    uint64_t wake = next_hb;
    sw_msg_t *m = sw_deadline_peek(sw);
    if (m && m->deadline_ns < wake)
        wake = m->deadline_ns;
    uint64_t now = sw_now_ns();
    int ms = wake <= now ? 0 : (int) ((wake - now + 999999) / 1000000);
    if (ms > 10 && sw_trace_pending(sw))
        ms = 10;                /* a subscriber's socket was full: retry soon */
    return ms;
}

static void run(sw_t *sw)
{
    uint64_t hb_ns = (uint64_t) sw->lim.heartbeat_ms * 1000000ull;
    uint64_t next_hb = sw_now_ns() + hb_ns;
    zmq_pollitem_t items[3] = { { sw->sock, 0, ZMQ_POLLIN, 0 }, { sw_auth_socket(sw), 0, ZMQ_POLLIN, 0 },
                                { sw_auth_monitor(sw), 0, ZMQ_POLLIN, 0 } };
    int nitems = sw->auth ? 3 : 1;
    bool busy = false;
    while (!stop_signal) {
        /* after a full batch more is almost surely waiting: read on without polling */
        if (!busy && zmq_poll(items, nitems, next_timeout_ms(sw, next_hb)) < 0 && errno != EINTR) {
            xsp_log(XSP_LOG_ERR, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (sw->auth)
            sw_auth_process(sw);        /* CURVE handshakes waiting for a verdict */
        busy = sw_dispatch(sw, BATCH) == BATCH;
        sw->now_ns = sw_now_ns();
        sw_expire_deadlines(sw);
        if (sw->now_ns >= next_hb) {
            /* first read what came meanwhile: if this process stalled (a loaded machine,
               valgrind), its peers' heartbeats are waiting in the socket, not missing */
            if (!busy)
                busy = sw_dispatch(sw, BATCH) == BATCH;
            sw->now_ns = sw_now_ns();
            heartbeat_tick(sw);
            next_hb = sw->now_ns + hb_ns;
        }
        sw_peer_reap_doomed(sw);
        if (sw->dur)
            sw_durable_commit(sw);      /* group commit: one fdatasync for the turn */
        if (sw->tracers)
            sw_trace_pump(sw);
    }
}

int main(int argc, char **argv)
{
    sw_config_t cfg;
    int rc = sw_config_parse(&cfg, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    xsp_log_open("xsp-switch", cfg.use_syslog, (xsp_log_level_t) cfg.log_level);
    /* large blocks (payloads over 128 KiB, in this thread or libzmq's I/O thread) are mapped
       and unmapped on their own: glibc's default raises this threshold to the largest block
       freed (up to 32 MiB), after which 1 MiB payloads come from the heaps and stay there as
       fragments (docs/reliability.md "Memory": ~25 MiB of a hostile flood's RSS) */
    mallopt(M_MMAP_THRESHOLD, SW_MMAP_THRESHOLD);

    static sw_t sw;
    sw.lim = cfg.lim;
    sw.start_ns = sw.now_ns = sw_now_ns();
    /* msg ids stay unique across restarts: start from the wall clock in microseconds << 12,
       which a previous run could only reach by issuing 4096 ids per microsecond */
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    sw.next_msg_id = ((uint64_t) rt.tv_sec * 1000000ull + (uint64_t) rt.tv_nsec / 1000) << 12;
    if (getrandom(&sw.boot_id, sizeof sw.boot_id, 0) != sizeof sw.boot_id)
        sw.boot_id = sw.next_msg_id ^ (uint64_t) getpid();
    if (sw_map_init(&sw.peers, 64) || sw_map_init(&sw.queues, 64) || sw_map_init(&sw.inflight, 1024) ||
        sw_trace_init(&sw)) {
        xsp_log(XSP_LOG_ERR, "out of memory at start");
        return 1;
    }
    if (make_dir(cfg.run_dir, cfg.group ? 0750 : 0700) < 0) {
        xsp_log(XSP_LOG_ERR, "cannot create run directory %s: %s", cfg.run_dir, strerror(errno));
        return 1;
    }
    int lock_fd = lock_run_dir(&cfg);
    if (lock_fd < 0)
        return 1;
    if (cfg.state_dir) {
        char err[PATH_MAX + 256];
        if (sw_durable_open(&sw, cfg.state_dir, cfg.durable_queues, cfg.ndurable, cfg.compact_bytes,
                            err, sizeof err) < 0) {
            xsp_log(XSP_LOG_ERR, "%s", err);
            teardown(&sw);
            close(lock_fd);
            return 1;
        }
    }

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char ready[4096], aerr[PATH_MAX + 256];
    int arc = open_socket(&sw);
    const char *policy = cfg.policy;
    if (!policy && !cfg.no_policy && access(SW_POLICY_DEFAULT_PATH, F_OK) == 0)
        policy = SW_POLICY_DEFAULT_PATH;
    if (arc == 0 && (cfg.curve_secret || policy) &&
        sw_auth_open(&sw, cfg.curve_secret, cfg.certs_dir, policy, aerr, sizeof aerr) < 0) {
        xsp_log(XSP_LOG_ERR, "%s", aerr);
        arc = -1;
    }
    if (arc < 0 || bind_endpoints(&sw, &cfg, ready, sizeof ready) < 0) {
        sw_auth_close(&sw);
        if (sw.sock)
            zmq_close(sw.sock);
        if (sw.zctx)
            zmq_ctx_term(sw.zctx);
        teardown(&sw);
        return 1;
    }
    xsp_log(XSP_LOG_INFO, "xsp-switch %s listening on %s (heartbeat %d ms, trace ring %u events)",
            XSP_VERSION, ready, sw.lim.heartbeat_ms, sw.lim.trace_events);
    printf("xsp-switch ready: %s\n", ready);
    fflush(stdout);

    run(&sw);

    xsp_log(XSP_LOG_INFO, "shutting down on signal %d: %u peers, %u requests held", (int) stop_signal,
            sw.npeers, sw.nmsgs);
    teardown(&sw);
    sw_auth_close(&sw);
    zmq_close(sw.sock);
    zmq_ctx_term(sw.zctx);
    char path[PATH_MAX + 16];
    if (!cfg.no_ipc) {
        snprintf(path, sizeof path, "%s/switch.sock", cfg.run_dir);
        unlink(path);           /* libzmq leaves ipc socket files behind */
    }
    snprintf(path, sizeof path, "%s/switch.lock", cfg.run_dir);
    unlink(path);
    close(lock_fd);
    xsp_log(XSP_LOG_INFO, "stopped");
    return 0;
}
