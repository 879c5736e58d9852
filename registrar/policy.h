/*  registrar/policy.h — the registrar's policy: which domain may register which schemes and
    queues, and which plugin wins when several serve one scheme.

    Owns: parsing the policy file (default /etc/xsp/registrar.conf) into an immutable
    reg_policy_t, and the two questions asked of it (may this domain register this?  what
    priority has this plugin for this scheme?).
    Never touches: the registration table, logging (errors are returned, naming file:line),
    anything but the one file it is asked to read.

    THE FILE FORMAT (also in docs/registrar.md)

        # A comment runs from '#' to the end of the line.  Blank lines are ignored.
        # Each line is a keyword followed by NAME VALUE pairs, in any order, each once.

        # Who may register what.  domain: a domid or '*' (any domain).  schemes, queues:
        # comma-separated fnmatch(3) globs ('*', '?', '[...]').
        allow domain 0 schemes * queues *
        allow domain 5 schemes nbd,nbd+unix queues org.xen.xsp.storage.nbd*

        # Priorities: when several plugins serve one scheme, the highest priority wins
        # resolve (both stay registered).  Without a priority for each of them, the second
        # plugin to claim the scheme is refused.
        scheme file priority 10 plugin xsp-plugin-file
        scheme file priority 5 plugin xsp-plugin-file-legacy

    A registration from domain D is allowed when ONE `allow` line whose domain is D (or *)
    matches every scheme and every queue of the registration.  A file without `allow` lines
    (and no file at all) gets the built-in rule `allow domain 0 schemes * queues *`: dom0 may
    register anything, other domains nothing.

    DATA STRUCTURES: two arrays, kept in file order: rules (domain or any, scheme globs,
    queue globs, line number) and priorities (scheme lower-cased, plugin name, value, line).
    Policies are small (tens of lines): every question is a linear scan.

    Thread-safety: a reg_policy_t is immutable after parsing; share it freely.
*/
#ifndef XSP_REGISTRAR_POLICY_H
#define XSP_REGISTRAR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define REG_POLICY_DEFAULT_PATH "/etc/xsp/registrar.conf"

typedef struct reg_policy reg_policy_t;

/*  The built-in policy: dom0 may register anything; no priorities.  NULL only when out of
    memory. */
reg_policy_t *reg_policy_default(void);
/*  Parse len bytes of text; origin (e.g. the file path) prefixes error messages
    ("origin:LINE: ...").  NULL + err (XSP_E_INVALID_ARGUMENT, detail "line") on a bad line. */
reg_policy_t *reg_policy_parse(const char *text, size_t len, const char *origin,
                               reg_err_t *err);
/*  Read and parse the file at path.  A missing or unreadable file is an error
    (XSP_E_SYSTEM) naming the path: the caller decides whether a missing default file means
    "use reg_policy_default()". */
reg_policy_t *reg_policy_load(const char *path, reg_err_t *err);
void reg_policy_free(reg_policy_t **p);

/*  May domid register r (its schemes and queues)?  0, or -1 with XSP_E_PERMISSION_DENIED
    and detail "reason" (the sentence says which scheme or queue no rule allows). */
int reg_policy_check(const reg_policy_t *p, uint32_t domid, const reg_t *r, reg_err_t *err);
/*  The priority the policy gives plugin for scheme (lower case), if any. */
bool reg_policy_priority(const reg_policy_t *p, const char *scheme, const char *plugin,
                         int32_t *out);

/*  Where the policy came from ("the built-in policy" or the origin given to parse/load). */
const char *reg_policy_origin(const reg_policy_t *p);
/*  Number of allow rules in effect (1 for the built-in rule) and of priority lines. */
size_t reg_policy_rule_count(const reg_policy_t *p);
size_t reg_policy_priority_count(const reg_policy_t *p);
/*  True when the file had no allow lines and the built-in rule applies. */
bool reg_policy_uses_default_rule(const reg_policy_t *p);

#ifdef __cplusplus
}
#endif
#endif
