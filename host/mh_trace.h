/* mh_trace.h: the IPC trace: one JSON line per message through the host
 * (`mainhost --trace[=FILE]`, or mainhost.trace() from the main script),
 * with the round-trip time of each invoke and sendSync. Off, it costs one
 * branch per message. Rule: never includes lua.h or uv.h. */
#ifndef MH_TRACE_H
#define MH_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern FILE *mh_trace_fp;  /* NULL: tracing is off */

/* Starts tracing to path ("-" or NULL: stderr), replacing any current
 * target. 0, or -1 with errno set. */
int mh_trace_start(const char *path);
void mh_trace_stop(void);

typedef struct mh_trace_rec {
  const char *dir;      /* "in" (renderer -> host) or "out" */
  int renderer;         /* webContents id */
  const char *name;     /* its name */
  int64_t frame;
  const char *kind;     /* send, sync, invoke, msg, result, hello */
  const char *ch;       /* may be NULL (results) */
  size_t chn;
  size_t bytes;         /* the line's length */
  int64_t id;           /* request id, or -1 */
  int error;            /* a result carrying an error */
} mh_trace_rec_t;

/* Writes one line. An "in" invoke/sync starts a clock for (renderer, id);
 * the "out" result with the same pair reports rtt_ms and stops it. */
void mh_trace_write(const mh_trace_rec_t *r);

#endif
