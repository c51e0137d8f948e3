/* mh_chan.h: one end of a renderer's socket: reads lines in batches,
 * queues outgoing bytes and writes them coalesced once per loop turn, and
 * can block for a reply (sendSync in a renderer). Used by the host (one per
 * renderer) and by the renderer runtimes. Rule: never includes lua.h. */
#ifndef MH_CHAN_H
#define MH_CHAN_H

#include <uv.h>

#include "mh_wire.h"

typedef struct mh_chan mh_chan_t;
typedef struct mh_chan_group mh_chan_group_t;

/* A complete line (without '\n'); borrowed for the call only. */
typedef void (*mh_chan_line_cb)(mh_chan_t *c, const char *line, size_t n);
/* The stream ended: status is 0 for EOF, a libuv error, MH_CHAN_EOVERSIZE
 * when a line grew past the limit, or MH_CHAN_EOVERFLOW. Called once; the
 * channel stops reading. An owner that keeps the channel open for writing
 * after an EOF (a peer that shut down only its sending side) may hear
 * once more, with MH_CHAN_EOVERFLOW. */
typedef void (*mh_chan_end_cb)(mh_chan_t *c, int status);
typedef void (*mh_chan_closed_cb)(mh_chan_t *c);

#define MH_CHAN_EOVERSIZE (-100000)
/* The peer left twice high_water unread (replies of requests already
 * running when reading stopped): the stream is ended. */
#define MH_CHAN_EOVERFLOW (-100001)

struct mh_chan {
  uv_poll_t poll;          /* readiness of fd; poll.data points at the channel */
  int fd;                  /* the socket (owned; closed after the poll handle) */
  mh_chan_group_t *group;
  mh_framer_t in;
  mh_buf_t deferred;       /* lines put aside while blocked: [u32 len][bytes]... */
  size_t deferred_pos;
  mh_buf_t out;            /* bytes queued and not yet written */
  size_t out_pos;          /* how much of out the kernel has taken */
  int events;              /* UV_READABLE / UV_WRITABLE being watched */
  int dirty, ended, closing, dispatching, write_failed, redispatch;
  size_t high_water;       /* 0, or: past this many queued bytes, stop reading
                              (and dispatching) until half of it is written */
  int throttled;
  int close_when_flushed;  /* mh_chan_close_flushed in progress */
  int blocking;            /* the socket is in blocking mode (mh_chan_set_blocking) */
  int draining;            /* in mh_chan_drain: the peer has exited (no throttle, no output) */
  int end_later;           /* the stream ended (or a write failed) during a wait with */
  int end_later_status;    /* lines held back: reported once they are delivered;
                              nothing more is read or queued meanwhile */
  unsigned lines;          /* lines handed to on_line (wraps; read by differences) */
  long spin_ns;            /* mh_chan_set_spin: 0, or how long to spin before a wait blocks */
  unsigned spin_skip;      /* waits left that block at once (after a spin that got nothing) */
  unsigned spin_pause;     /* how many that was last time: doubles while spins get nothing */
  int wrote;               /* bytes were written since the last wait */
  mh_chan_t *next_dirty;
  mh_chan_t *next_redispatch;
  mh_chan_line_cb on_line;
  mh_chan_end_cb on_end;
  mh_chan_closed_cb on_closed;
  /* Optional: runs mh_chan_dispatch for the channel (the host wraps it in
   * one protected Lua call a batch). NULL: called directly. */
  void (*run_dispatch)(mh_chan_t *c);
  void *data;              /* the owner's */
};

/* Flushing is batched per loop: every channel written to in a loop turn is
 * flushed once, before the loop waits again. */
struct mh_chan_group {
  uv_prepare_t prepare;
  mh_chan_t *dirty;
  mh_chan_t *redispatch;  /* lines held back by a wait, to deliver */
  mh_chan_t *waiter;      /* a blocking channel the prepare step may wait on */
  int in_wait;            /* the prepare step is in its waiting loop */
  unsigned long turns;    /* loop turns seen (MAINHOST_COUNTERS: a spinning loop shows here) */
  unsigned long waits;    /* of them, waits for the waiter in recv() */
  unsigned long in_place; /* of those, waits in place (mh_chan_wait_in_place) that got their line */
  unsigned long spins;    /* waits that spun before blocking (mh_chan_set_spin) */
  unsigned long spin_hits; /* of them, those whose line came while they spun */
};

int mh_chan_group_init(mh_chan_group_t *g, uv_loop_t *loop);
void mh_chan_group_close(mh_chan_group_t *g);

/* Takes over fd (a connected stream socket) and starts reading. 0 or a
 * libuv error. */
int mh_chan_open(mh_chan_t *c, mh_chan_group_t *g, int fd, size_t max_line,
                 mh_chan_line_cb on_line, mh_chan_end_cb on_end);

/* The buffer to append one whole message to (ending in '\n'); the channel
 * is flushed later in this loop turn. NULL when the channel is closing. */
mh_buf_t *mh_chan_out(mh_chan_t *c);
/* Writes what is queued now; the rest goes when the socket is writable. */
void mh_chan_flush(mh_chan_t *c);
/* Bytes queued and not yet accepted by the kernel. */
size_t mh_chan_queued(const mh_chan_t *c);

/* Puts the socket in blocking mode, for the calls meant to block; every
 * other read and write on it passes MSG_DONTWAIT and never blocks. Then
 * mh_chan_wait blocks in recv() rather than in poll() and a read, and the
 * channel can be its group's waiter. 0 or -errno. */
int mh_chan_set_blocking(mh_chan_t *c);
/* c (a blocking channel of g) or NULL. While set, g's prepare step waits
 * for c in recv() whenever nothing else in the loop is active (no other
 * handle, timer, request, idle, pending or closing callback), instead of
 * letting the loop wait in epoll_wait: one syscall instead of two, and a
 * task woken from a blocking read runs sooner (docs/benchmarks.md). Set it
 * only around a uv_run(UV_RUN_DEFAULT) of the owner's: a caller turning
 * the loop with UV_RUN_NOWAIT or UV_RUN_ONCE would block, or never get
 * control back. (A uv_run nested in a callback of the waiting loop never
 * waits.) */
void mh_chan_group_set_waiter(mh_chan_group_t *g, mh_chan_t *c);
/* For a blocking channel: when a wait follows a write (a request whose
 * answer the peer, often on another CPU, is about to send), it first reads
 * without blocking for up to us microseconds, so that an answer coming
 * that soon finds the task running rather than asleep; only then does it
 * block. A spin that got nothing makes the next 1, 2, 4, ... (at most
 * MH_CHAN_SPIN_PAUSE_MAX) such waits block at once; one that got its line
 * ends the pause. 0 turns it off. (docs/benchmarks.md, "Spinning before a
 * wait".) */
void mh_chan_set_spin(mh_chan_t *c, long us);
#define MH_CHAN_SPIN_PAUSE_MAX 1024
/* The spin of the renderer runtimes: MAINHOST_SPIN_US (0 to 1000), or 50
 * when it is unset or not such a number. */
long mh_chan_env_spin_us(void);
/* Blocks (outside the loop) until every queued byte is written. 0 or a
 * libuv error. */
int mh_chan_flush_blocking(mh_chan_t *c);
/* Blocks until a line for which match(line) is true arrives; lines before
 * it are deferred and dispatched later in order (from the loop's next turn,
 * even if nothing more arrives). The matching line is
 * passed to got() and consumed. 0, or the status that ended the stream. */
int mh_chan_wait(mh_chan_t *c, int (*match)(void *ud, const char *l, size_t n),
                 void (*got)(void *ud, const char *l, size_t n), void *ud);

/* For a task resumed by a dispatch of the group's wait (the prepare step
 * blocking in recv() for c) that would now yield until a reply: when the
 * loop, once it yielded, would do nothing but finish that dispatch with no
 * line left, write what is queued and block in recv() for c again, this
 * does the write and the wait in place and, if the first line the reads
 * bring is a match, consumes it and passes it to got() (then gives back a
 * read buffer that line grew, as the loop's read would). The task then goes
 * on without the switch to the loop and back (docs/benchmarks.md). 1 when
 * it did; 0 when it did not (the reads' lines stay, in order, for the
 * dispatcher: the caller yields as it would have). */
int mh_chan_wait_in_place(mh_chan_t *c, int (*match)(void *ud, const char *l, size_t n),
                          void (*got)(void *ud, const char *l, size_t n), void *ud);

/* Reads what the socket holds now (never blocks, and never more than was
 * queued when it started) and dispatches it; for a peer that has exited,
 * so that its last messages are not lost. */
void mh_chan_drain(mh_chan_t *c);

/* Delivers deferred lines, then buffered ones. Safe to re-enter. */
void mh_chan_dispatch(mh_chan_t *c);
/* After an error unwound (longjmp) out of mh_chan_dispatch: it may run
 * again (the rest of the lines are still there). */
void mh_chan_dispatch_unwound(mh_chan_t *c);

/* An orderly close: stops reading and taking messages, writes what is
 * queued, then closes (at once when nothing is queued or the peer is
 * gone). on_closed as for mh_chan_close. */
void mh_chan_close_flushed(mh_chan_t *c, mh_chan_closed_cb on_closed);
/* An orderly close still writing: close now (with its on_closed), dropping
 * what is left. Does nothing otherwise. */
void mh_chan_hang_up(mh_chan_t *c);

/* Stops reading and writing, closes the socket; on_closed (may be NULL)
 * runs from the close callback, after which the memory is the owner's. */
void mh_chan_close(mh_chan_t *c, mh_chan_closed_cb on_closed);

#endif
