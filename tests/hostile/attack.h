/*  attack.h — a hostile switch peer: raw ZeroMQ DEALER sockets and raw unix sockets doing
    one kind of abuse for a bounded time (docs/reliability.md "Limits under attack").

    Owns: its own ZeroMQ context and sockets, in the process that runs it (the tests run
    each attack in a child process: swt_spawn_child + the hidden case "attack").
    Never touches: the switch process, libxsp's client/server layers (frames are built with
    xsp/wire.h only), the test harness's peers.

    Modes (each runs for duration_ms, then prints one summary line "attack MODE k=v ..."
    on stdout and returns 0; -1 with a sentence on stderr when it could not even start):
      oversized  REQUESTs with a payload one byte over max_payload (too-large), headers over
                 4096 bytes and 3-frame messages (protocol), and now and then a 17 MiB frame
                 on a fresh connection (the transport closes that connection)
      tiny       tiny REQUESTs to one queue with no server, as fast as the socket takes
                 them, never reading (RCVHWM 1): too-many-outstanding, undeliverable
      names      REQUESTs (200 ms deadline) to endless new queue names, SUBSCRIBE +
                 UNSUBSCRIBE of more new names, invalid names: too-many-queues (per-peer
                 quota), expired, invalid-argument; idle queues are reclaimed
      trace      a followed TRACE of everything that is never read (RCVHWM 1): trace_lost
      hello      half-open sessions: up to 200 DEALERs that say HELLO and then nothing (the
                 oldest closed and replaced in turn), and up to 100 raw unix connections to
                 the ipc socket that never send the ZMTP greeting; counts those the switch
                 closed (handshake deadline)
      selfserve  a server and a client in one process: the client (RCVHWM 1, never reads)
                 asks the server's queue, the server answers every DELIVER with a
                 max_payload body: large answers nobody reads (--max-unread-bytes)
      diag       8 sessions subscribe 256 queues each with ~220-byte names (a DIAG report
                 of ~0.7 MiB), then one peer (RCVHWM 1) sends DIAG every 0.5 ms and never
                 reads a reply (--max-unread-bytes: too-many-outstanding)
*/
#ifndef HOSTILE_ATTACK_H
#define HOSTILE_ATTACK_H

/*  endpoint: the switch's ipc:// (hello needs ipc for raw connections) or tcp:// endpoint;
    max_payload: the switch's limit (from WELCOME or its options). */
int hostile_attack(const char *mode, const char *endpoint, unsigned duration_ms,
                   unsigned long long max_payload);

#endif
