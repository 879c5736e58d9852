/*  budget.h — block-xsp's time budget: libxl must never wait on us for ever.

    Owns: the clock arithmetic behind every timeout block-xsp uses.
    Never touches: anything else (header only).

    libxl gives a hotplug script 40 s (LIBXL_HOTPLUG_TIMEOUT) and then kills it.  block-xsp
    finishes well before that, undo included:
      total   $XSP_BLOCK_TIMEOUT_MS      (default 30000, clamped to 1000..35000)
      call    $XSP_BLOCK_CALL_TIMEOUT_MS (default 10000): the most one switch call may take,
              connection to the switch included; never more than what is left.
    `add` stops STARTING forward steps at 2/3 of the total, so its undo always has at
    least 1/3 of the budget; `remove` (and undo) may use all of it.  main.c arms a watchdog
    (alarm) 3 s after the total: a process stuck in a system call (a dead xenstored) exits
    1 with a line on stderr before libxl's own kill.
*/
#ifndef BX_BUDGET_H
#define BX_BUDGET_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define BX_TOTAL_DEFAULT_MS 30000u
#define BX_TOTAL_MAX_MS     35000u
#define BX_CALL_DEFAULT_MS  10000u
#define BX_WATCHDOG_SLACK_MS 3000u

typedef struct {
    int64_t start_ms;
    uint32_t total_ms;      /* the whole run */
    uint32_t call_ms;       /* one call at most */
} bx_budget_t;

static inline int64_t bx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint32_t bx_env_ms(const char *name, uint32_t dflt, uint32_t lo, uint32_t hi)
{
    const char *s = getenv(name);
    char *end;
    unsigned long v;
    if (!s || !*s)
        return dflt;
    v = strtoul(s, &end, 10);
    if (*end)
        return dflt;
    return v < lo ? lo : v > hi ? hi : (uint32_t) v;
}

static inline void bx_budget_init(bx_budget_t *b)
{
    b->start_ms = bx_now_ms();
    b->total_ms = bx_env_ms("XSP_BLOCK_TIMEOUT_MS", BX_TOTAL_DEFAULT_MS, 1000, BX_TOTAL_MAX_MS);
    b->call_ms = bx_env_ms("XSP_BLOCK_CALL_TIMEOUT_MS", BX_CALL_DEFAULT_MS, 100, BX_TOTAL_MAX_MS);
}

/*  Milliseconds left before the forward steps must stop (forward = 1) or before the whole
    budget is spent (forward = 0); 0 when none. */
static inline uint32_t bx_budget_left(const bx_budget_t *b, int forward)
{
    int64_t end = b->start_ms + (forward ? (int64_t) b->total_ms * 2 / 3 : (int64_t) b->total_ms);
    int64_t left = end - bx_now_ms();
    return left > 0 ? (uint32_t) left : 0;
}

/*  The timeout for the next call: the per-call limit, bounded by what is left (0 = none). */
static inline uint32_t bx_budget_call(const bx_budget_t *b, int forward)
{
    uint32_t left = bx_budget_left(b, forward);
    return left < b->call_ms ? left : b->call_ms;
}

#endif
