/*  fp.c — the shared context and error values of xsp-plugin-file (see fp.h).
    Owns: G.  Never touches: files, devices. */
#include "fp.h"

#include <stdio.h>
#include <string.h>

#include "xsp/log.h"

fp_t G = { .mu = PTHREAD_MUTEX_INITIALIZER };

void fp_lock(void)
{
    pthread_mutex_lock(&G.mu);
}

void fp_unlock(void)
{
    pthread_mutex_unlock(&G.mu);
}

int fp_err(fp_err_t *e, xsp_code_t code, const char *dkey, const char *dval, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    snprintf(e->dkey, sizeof e->dkey, "%s", dkey ? dkey : "");
    snprintf(e->dval, sizeof e->dval, "%s", dval ? dval : "");
    return code;
}

int fp_fail(xsp_storage_call_t *call, const fp_err_t *e)
{
    const xsp_method_info_t *m = xsp_call_method(call);
    xsp_log(XSP_LOG_INFO, "%s: %s: %s", m ? m->name : "?", xsp_code_name(e->code), e->msg);
    return xsp_call_fail(call, e->code, e->dkey[0] ? XSP_DETAIL1(e->dkey, e->dval) : NULL, "%s",
                         e->msg);
}
