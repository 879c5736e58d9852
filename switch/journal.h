/*  journal.h — an append-only, checksummed log of records in one state directory.

    Owns: the files DIR/journal (the log), DIR/journal.lock (flock: one switch per state
    directory), DIR/journal.tmp (only while compacting), the write buffer, fdatasync.
    Never touches: what a record means (durable.c encodes and decodes bodies), sockets,
    the switch's data model.  Knows nothing of sw_t, so tests drive it directly.

    File layout (little endian), docs/reliability.md "Durable queues":
      file    = magic "XSPJRNL1" (8 bytes), then records back to back
      record  = len:u32  crc:u32  type:u8  body[len]
      crc     = CRC32C (Castagnoli) over type and body
    A record is valid when its 9-byte head and body lie inside the file and the CRC matches.

    Replay (sw_journal_replay) walks the records in order and hands each valid one to a
    callback.  At the first invalid record it decides:
      - torn tail: nothing valid follows (the record runs past the end of the file, or
        no valid record starts where it claims to end) -> the file is cut (ftruncate) at
        the record's start with a warning naming the offset and the bytes dropped, and
        everything before it counts;
      - corruption in the middle: a valid record starts right after the bad one -> replay
        fails with a sentence naming the offset; the switch refuses to start rather than
        silently drop records that were acknowledged (move the file aside to discard it).

    Writing: sw_journal_append() only buffers.  sw_journal_commit() write()s the buffer
    in one call and, when asked, fdatasync()s once for all of it: group commit.  On a write
    or sync failure the file is cut back to its last committed size and the commit fails.

    Compaction: sw_journal_compact() writes a new file holding only what an `emit` callback
    appends (the live records), fdatasyncs it, renames it over DIR/journal and fsyncs the
    directory; the old file stays valid until the rename, so a crash at any point leaves
    one complete journal.

    Single-threaded, like the switch.
*/
#ifndef SW_JOURNAL_H
#define SW_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define SW_JOURNAL_MAGIC "XSPJRNL1"
#define SW_JOURNAL_HEAD 9                 /* len + crc + type */
#define SW_JOURNAL_MAX_BODY (64u << 20)   /* a longer length field is corruption */

typedef struct sw_journal sw_journal_t;

typedef struct {
    uint64_t commits;       /* sw_journal_commit calls that wrote something */
    uint64_t fsyncs;        /* fdatasync calls (commit + compaction) */
    uint64_t records;       /* records appended */
    uint64_t compactions;
    uint64_t cut_bytes;     /* torn tail bytes cut at the last replay */
} sw_journal_stats_t;

/*  Open DIR: it must exist and be a writable directory.  Takes DIR/journal.lock (fails if
    another process holds it) and opens or creates DIR/journal.  NULL with a sentence in err
    (naming DIR and the cause) on failure. */
sw_journal_t *sw_journal_open(const char *dir, char *err, size_t errlen);
/*  Close files, release the lock, free; *pj = NULL.  Pending (uncommitted) records are lost. */
void sw_journal_destroy(sw_journal_t **pj);

/*  Called for each valid record in file order; a non-zero return stops replay with that
    value (err then holds "record at offset N rejected"). */
typedef int (*sw_journal_fn)(void *arg, unsigned type, const uint8_t *body, size_t len);

/*  Replay the whole file (see top).  0, or -1 with a sentence in err.  Call once, before
    appending. */
int sw_journal_replay(sw_journal_t *j, sw_journal_fn fn, void *arg, char *err, size_t errlen);

/*  Buffer one record whose body is the concatenation of iov[0..n).  0, or -1 (ENOMEM or a
    body over SW_JOURNAL_MAX_BODY). */
int sw_journal_append(sw_journal_t *j, unsigned type, const struct iovec *iov, int n);
/*  Bytes buffered and not yet written. */
size_t sw_journal_pending(const sw_journal_t *j);
/*  Write the buffer; fdatasync when `sync`.  0, or -1 (errno set, logged by the caller):
    the file is then cut back to its previous size and the buffer dropped. */
int sw_journal_commit(sw_journal_t *j, bool sync);

/*  Rewrite the journal to hold what emit() appends with sw_journal_append (pending records
    are committed first).  0, or -1 with the old journal intact. */
typedef int (*sw_journal_emit_fn)(void *arg, sw_journal_t *j);
int sw_journal_compact(sw_journal_t *j, sw_journal_emit_fn emit, void *arg);

/*  File size including the magic (committed bytes only). */
uint64_t sw_journal_size(const sw_journal_t *j);
const sw_journal_stats_t *sw_journal_stats(const sw_journal_t *j);
const char *sw_journal_path(const sw_journal_t *j);

/*  CRC32C of buf, continuing from crc (start with 0). */
uint32_t sw_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
