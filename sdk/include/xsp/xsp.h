/*  xsp/xsp.h — the whole xsp SDK in one include.

    Owns: nothing; it only includes the public headers.  Each header states its own
    contract (what it owns, thread-safety, ownership):
      xsp/error.h     errors are values: xsp_error_t, the closed code list
      xsp/wire.h      the protocol's header frames (docs/protocol.md)
      xsp/log.h       logging to stderr or syslog
      xsp/endpoint.h  where the switch is (explicit, $XSP_SWITCH, default run dir)
      xsp/client.h    calling queues: sync, async (foreign event loops), diag, traces
      xsp/server.h    serving queues: handlers, later answers, worker pool
      xsp/stub.h      what generated client stubs call (xsp/storage_client.h has the stubs)
      xsp/dispatch.h  answering typed calls (xsp/storage_server.h has the dispatcher)
      xsp/plugin.h    a storage plugin daemon from a table of callbacks
    Link with -lxsp (CMake target `xsp`).
*/
#ifndef XSP_XSP_H
#define XSP_XSP_H

#include "xsp/error.h"
#include "xsp/wire.h"
#include "xsp/log.h"
#include "xsp/endpoint.h"
#include "xsp/client.h"
#include "xsp/server.h"
#include "xsp/stub.h"
#include "xsp/dispatch.h"
#include "xsp/plugin.h"

#endif
