/*  policy.h — what an authenticated identity may do on the switch (docs/security.md).

    Owns: parsing the policy file (--policy FILE, default /etc/xsp/policy.conf when it
    exists) into an immutable sw_policy_t, and the four questions asked of it: may this
    identity serve (SUBSCRIBE) / call (REQUEST) this queue, trace, read DIAG?
    Never touches: sockets, sessions, logging (errors are returned as "file:line: ...").

    THE FILE FORMAT

        # A comment runs from '#' to the end of the line; blank lines are ignored.
        # peer WHO [serve PREFIXES] [call PREFIXES] [trace yes|no] [diag yes|no] [domid N]
        peer plugin-file@dom3 serve org.xen.xsp.storage.file
        peer uid:1000 call org.xen.xsp.storage diag yes domid 0
        peer domid:5 serve org.xen.xsp.storage.nbd@dom5
        peer * call org.xen.xsp.storage

      WHO       a certificate identity (metadata `identity`), `uid:N` (a local user on the
                ipc socket), `domid:N` (every CURVE identity whose cert says domid N), or `*`.
                A peer gets the rule of its exact identity, else of its domid, else `*`.
      PREFIXES  comma-separated queue-name prefixes; `*` = every queue.  A prefix P matches
                queue Q when Q == P, or Q starts with P followed by one of `. : / @ +`
                (so `org.xen.xsp.storage.file` matches `…file.2` but not `…filex`).
      domid     for `uid:N` only: the domid the switch reports for that local user (default
                32756, Xen's DOMID_INVALID: never mistaken for dom0).

    Built-in rules, whatever the file says:
      - an *administrator* — a peer on the ipc socket whose uid is 0 or the switch's own —
        may do everything;
      - every other peer may call `org.xen.xsp.registrar` (to register and resolve);
      - nobody but an administrator may serve `org.xen.xsp.registrar`;
      - without a rule: serve nothing, call only the registrar, no trace, no diag.
*/
#ifndef SW_POLICY_H
#define SW_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_POLICY_DEFAULT_PATH "/etc/xsp/policy.conf"
#define SW_REGISTRAR_QUEUE "org.xen.xsp.registrar"

typedef struct sw_policy sw_policy_t;
typedef struct sw_rule sw_rule_t;      /* struct sw_rule: also named in switch.h */

/*  Parse text (origin names it in errors).  NULL + "origin:LINE: sentence" in err. */
sw_policy_t *sw_policy_parse(const char *text, size_t len, const char *origin, char *err,
                             size_t errlen);
/*  Read and parse a file.  NULL + a sentence in err. */
sw_policy_t *sw_policy_load(const char *path, char *err, size_t errlen);
/*  The built-in rules only (no file). */
sw_policy_t *sw_policy_builtin(void);
void sw_policy_destroy(sw_policy_t **self_p);
/*  "FILE" or "built-in", for logs and DIAG. */
const char *sw_policy_origin(const sw_policy_t *self);

/*  The rule for an identity (exact name, else domid:N when has_domid, else `*`), or NULL. */
const sw_rule_t *sw_policy_rule(const sw_policy_t *self, const char *ident, bool has_domid,
                                uint32_t domid);
/*  A uid:N rule's `domid`, when it gives one. */
bool sw_rule_domid(const sw_rule_t *rule, uint32_t *domid);

/*  The questions; admin = the built-in administrator; rule may be NULL. */
bool sw_policy_may_serve(bool admin, const sw_rule_t *rule, const char *queue, size_t len);
bool sw_policy_may_call(bool admin, const sw_rule_t *rule, const char *queue, size_t len);
bool sw_policy_may_trace(bool admin, const sw_rule_t *rule);
bool sw_policy_may_diag(bool admin, const sw_rule_t *rule);

/*  Does prefix match queue (the rule above)?  Exposed for tests of the rule itself. */
bool sw_prefix_match(const char *prefix, size_t plen, const char *queue, size_t qlen);

#endif
