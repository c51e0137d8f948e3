/* mh_chan.c: a renderer socket driven by readiness (uv_poll) with our own
 * read/send calls: reads are batched into the framer, writes are coalesced
 * once per loop turn, and a renderer can block on the same socket for a
 * sendSync reply without re-entering the loop. Rule: never includes lua.h. */
#include "mh_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK (16 * 1024)    /* the first buffer; it grows with the messages */
#define READ_MAX (256 * 1024)  /* one read's size at most: limits are checked between reads */
#define READS_PER_WAKE 16
/* No further read in a wake once this many lines were handled: a peer
 * sending tiny lines (each refused and logged, say) must not keep the loop
 * from the other channels for long. The socket stays readable, so the rest
 * comes at the next turn. Ordinary messages reach it only past a few MiB. */
#define LINES_PER_WAKE 16384

static void on_poll(uv_poll_t *h, int status, int events);
static void group_flush(mh_chan_group_t *g);

static void set_events(mh_chan_t *c, int ev) {
  if (c->closing || ev == c->events) return;
  c->events = ev;
  if (ev) uv_poll_start(&c->poll, ev, on_poll);
  else uv_poll_stop(&c->poll);
}

static void end_stream(mh_chan_t *c, int status) {
  if (c->ended) return;
  c->ended = 1;
  set_events(c, c->events & ~UV_READABLE);
  if (c->on_end) c->on_end(c, status);
}

/* How read_some may wait: not at all, or blocking (a blocking socket) for
 * a sendSync's reply, or blocking in place of the loop's poll step. */
enum { READ_NOW, READ_BLOCK, READ_BLOCK_LOOP };

/* A yield that takes longer than this ran another task. */
#define SPIN_YIELD_BUSY_NS 5000

/* Before a wait that follows a write blocks: recv() without blocking until
 * something comes or spin_ns pass (mh_chan_set_spin). 1 with *out set as
 * recv's (bytes, 0 or -errno) when it came; 0 when the wait should block.
 * What is there at the first try is not counted: a blocking recv() would
 * not have slept either. */
static int spin_recv(mh_chan_t *c, char *p, size_t avail, ssize_t *out) {
  mh_chan_group_t *g = c->group;
  int after_write = c->wrote;
  c->wrote = 0;
  if (!c->spin_ns || !after_write) return 0;
  if (c->spin_skip) {
    c->spin_skip--;
    return 0;
  }
  uint64_t end = 0;
  for (;;) {
    ssize_t n = recv(c->fd, p, avail, MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      *out = n >= 0 ? n : -errno;
      if (end) {
        g->spin_hits++;
        c->spin_pause = 0;
      }
      return 1;
    }
    uint64_t now = uv_hrtime();
    if (!end) {
      end = now + (uint64_t)c->spin_ns;
      g->spins++;
    }
    /* Spin only on a CPU nobody else wants: a yield that another task
     * used means the CPU is busy, and spinning would take from them. */
    sched_yield();
    uint64_t after = uv_hrtime();
    if (after - now > SPIN_YIELD_BUSY_NS || after >= end) {
      c->spin_pause = c->spin_pause ? 2 * c->spin_pause : 1;
      if (c->spin_pause > MH_CHAN_SPIN_PAUSE_MAX) c->spin_pause = MH_CHAN_SPIN_PAUSE_MAX;
      c->spin_skip = c->spin_pause;
      return 0;
    }
  }
}

/* One recv() into the framer: >0 bytes, 0 EOF, -EAGAIN, or -errno. It
 * never blocks unless how says so (and the socket is in blocking mode); a
 * blocking one that a signal interrupts says -EAGAIN (its caller waits
 * again). Waiting in place of the loop's poll step, it brings the loop's
 * clock up to date as that step would, before anything is dispatched;
 * a sendSync's wait leaves it alone, as it always did (a repeating timer
 * whose callback blocks as long as its interval would otherwise be due
 * again at once, and the loop's timer step would never end). */
static ssize_t read_some(mh_chan_t *c, int how) {
  size_t avail;
  char *p = mh_framer_space(&c->in, READ_CHUNK, &avail);
  if (!p) return -ENOMEM;
  if (avail > READ_MAX) avail = READ_MAX;
  ssize_t n;
  if (how == READ_NOW || !spin_recv(c, p, avail, &n)) {
    do n = recv(c->fd, p, avail, how == READ_NOW ? MSG_DONTWAIT : 0);
    while (n < 0 && errno == EINTR && how == READ_NOW);
    if (n < 0) n = errno == EINTR ? -EAGAIN : -errno;
  }
  if (how == READ_BLOCK_LOOP) uv_update_time(c->poll.loop);
  if (n > 0) mh_framer_commit(&c->in, (size_t)n);
  return n;
}

static int take_deferred(mh_chan_t *c, const char **line, size_t *len) {
  if (c->deferred_pos >= c->deferred.len) return 0;
  uint32_t n;
  memcpy(&n, c->deferred.data + c->deferred_pos, 4);
  *line = c->deferred.data + c->deferred_pos + 4;
  *len = n;
  c->deferred_pos += 4 + (size_t)n;
  if (c->deferred_pos >= c->deferred.len) c->deferred.len = c->deferred_pos = 0;
  return 1;
}

void mh_chan_dispatch(mh_chan_t *c) {
  if (c->dispatching) return;  /* the outer call goes on with what is left */
  c->dispatching = 1;
  while (!c->closing) {
    const char *line;
    size_t len;
    if (c->end_later && c->deferred_pos >= c->deferred.len) {
      c->end_later = 0;
      c->dispatching = 0;
      end_stream(c, c->end_later_status);
      return;
    }
    if (c->deferred_pos < c->deferred.len) {
      /* Deferred lines may move as more are deferred (a wait, or a
       * blocking write, inside a listener): take_deferred copies the
       * header out first; on_line decodes the line before it runs any
       * listener, so the pointer is not used after the buffer moved. */
      take_deferred(c, &line, &len);
      c->on_line(c, line, len);
      continue;
    }
    if (c->throttled) break;
    int r = mh_framer_next(&c->in, &line, &len);
    if (r == 1) {
      c->lines++;
      c->on_line(c, line, len);
      /* A peer that sends requests and never reads their replies: stop
       * taking its lines until it has read half of what waits for it. */
      if (c->high_water && !c->draining && mh_chan_queued(c) >= c->high_water) {
        c->throttled = 1;
        set_events(c, c->events & ~UV_READABLE);  /* or the readable peer spins the loop */
      }
      continue;
    }
    if (r < 0) end_stream(c, MH_CHAN_EOVERSIZE);
    break;
  }
  c->dispatching = 0;
}

void mh_chan_dispatch_unwound(mh_chan_t *c) { c->dispatching = 0; }

static void dispatch(mh_chan_t *c) {
  if (c->run_dispatch) c->run_dispatch(c);
  else mh_chan_dispatch(c);
}

/* A channel keeps a small read buffer between reads; one that a large
 * message grew is given back once it is empty. */
static void shrink_read_buffer(mh_chan_t *c) {
  /* Only a buffer a large message grew: freeing the ordinary one after
   * every read cost an allocation a round trip. */
  if (mh_framer_pending(&c->in) == 0 && c->in.buf.cap > 256 * 1024) mh_framer_free(&c->in);
}

static void release_idle(mh_chan_t *c) {
  if (!c->dispatching && !c->closing) shrink_read_buffer(c);
}

/* Reads and dispatches what the socket holds, up to READS_PER_WAKE reads;
 * the first read waits as first_read says (READ_NOW: not at all). */
static void do_read(mh_chan_t *c, int first_read) {
  unsigned lines0 = c->lines;
  for (int i = 0; i < READS_PER_WAKE && !c->ended && !c->closing && !c->throttled &&
                  c->lines - lines0 < LINES_PER_WAKE; i++) {
    ssize_t n = read_some(c, i == 0 ? first_read : READ_NOW);
    if (n == -EAGAIN || n == -EWOULDBLOCK) break;
    if (n <= 0) {
      c->throttled = 0;  /* the peer is gone: what it sent is all handled */
      dispatch(c);  /* complete lines first, then the end */
      end_stream(c, n == 0 ? 0 : (int)n);
      return;
    }
    /* A line over the limit ends the stream now, not after we have
     * buffered many times the limit. Each read's lines are handled before
     * the next read, so LINES_PER_WAKE can stop a flood of tiny lines. */
    int over = c->in.max_line && mh_framer_pending(&c->in) > c->in.max_line;
    dispatch(c);
    if (over || (size_t)n < READ_CHUNK) {
      release_idle(c);
      return;
    }
  }
  dispatch(c);
  release_idle(c);
}

void mh_chan_drain(mh_chan_t *c) {
  c->throttled = 0;  /* the peer has exited: take everything it sent */
  /* What the socket holds now, and no more: a process that inherited the
   * socket may go on writing after the peer exited, and must not keep us
   * here (the caller ends the stream next). */
  int queued = 0;
  if (ioctl(c->fd, FIONREAD, &queued) != 0 || queued < 0) queued = 0;
  size_t budget = (size_t)queued;
  /* Nor may the throttle hold lines back now: the answers queued for the
   * peer will never be read, and its lines would be lost. */
  c->draining = 1;
  while (budget > 0 && !c->ended && !c->closing) {
    ssize_t n = read_some(c, READ_NOW);
    if (n == -EAGAIN || n == -EWOULDBLOCK) break;
    if (n <= 0) {
      dispatch(c);
      c->draining = 0;
      end_stream(c, n == 0 ? 0 : (int)n);
      return;
    }
    budget -= (size_t)n < budget ? (size_t)n : budget;
    dispatch(c);
  }
  dispatch(c);
  c->draining = 0;
}

/* send() what is queued; never blocks. 0 when all is written. */
static int write_some(mh_chan_t *c) {
  while (c->out_pos < c->out.len) {
    ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
      /* The peer is gone: what it did not take is dropped; the read side
       * reports the end. */
      c->write_failed = 1;
      c->out.len = c->out_pos = 0;
      return -1;
    }
    c->out_pos += (size_t)n;
    c->wrote = 1;
  }
  c->out.len = c->out_pos = 0;
  return 0;
}

static void schedule_redispatch(mh_chan_t *c);

void mh_chan_flush(mh_chan_t *c) {
  if (c->closing || c->write_failed) return;
  int rc = write_some(c);
  if (c->close_when_flushed) {
    if (rc != 1) mh_chan_close(c, c->on_closed);  /* all written, or the peer is gone */
    return;
  }
  if (c->throttled && mh_chan_queued(c) <= c->high_water / 2) {
    c->throttled = 0;
    schedule_redispatch(c);  /* the lines it held back */
  }
  int ev = (c->ended || c->throttled || c->end_later) ? 0 : UV_READABLE;
  if (rc == 1) ev |= UV_WRITABLE;
  set_events(c, ev);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  mh_chan_t *c = h->data;
  if (status < 0 && c->close_when_flushed) {
    mh_chan_close(c, c->on_closed);  /* the peer is gone: nothing more will be written */
    return;
  }
  if (status < 0) {
    /* libuv says EBADF for POLLERR: on a socket, the peer went away (with
     * our bytes unread). Take what it wrote before that, then end. */
    if (!c->ended) mh_chan_drain(c);
    end_stream(c, UV_ECONNRESET);
    return;
  }
  if (events & UV_WRITABLE) mh_chan_flush(c);
  if ((events & UV_READABLE) && !c->ended) {
    do_read(c, READ_NOW);
    /* What the batch's handlers answered goes out now, not at the next
     * turn's prepare: the peer (often waiting on another CPU) starts on it
     * while this loop finishes its turn. Still one write for the batch;
     * the channel stays on the flush list (a no-op there if empty). */
    if (c->dirty && !c->closing && !c->throttled) mh_chan_flush(c);
  }
}

/* uv_walk: notes an active handle that is neither the group's prepare nor
 * the waiting channel's poll. */
typedef struct {
  mh_chan_group_t *g;
  int others;
} walk_t;

static void note_other(uv_handle_t *h, void *arg) {
  walk_t *w = arg;
  if (uv_is_active(h) && h != (uv_handle_t *)&w->g->prepare && h != (uv_handle_t *)&w->g->waiter->poll)
    w->others = 1;
}

/* Nothing but the waiting channel could wake the loop: it is open and
 * reading, with nothing of ours queued, held back or to deliver, and the
 * loop has no timer (even an unreferenced one), idle handle, pending or
 * closing callback, request in flight (threadpool work, DNS), stop asked,
 * or other active handle (a socket, signal, child process or async of
 * luv's). */
static int only_waiter(mh_chan_group_t *g) {
  mh_chan_t *c = g->waiter;
  if (!c->blocking || c->ended || c->closing || c->throttled || c->events != UV_READABLE || g->dirty ||
      g->redispatch || c->out_pos != c->out.len || c->deferred_pos != c->deferred.len)
    return 0;
  uv_loop_t *loop = g->prepare.loop;
  if (uv_backend_timeout(loop) != -1 || loop->active_reqs.count != 0) return 0;
  walk_t w = {g, 0};
  uv_walk(loop, note_other, &w);
  return !w.others;
}

/* mh_framer_next, leaving a complete line in place for the dispatcher;
 * take_peeked then takes it. */
static int peek_line(mh_framer_t *f, const char **line, size_t *len) {
  size_t start = f->start, scanned = f->scanned;
  int r = mh_framer_next(f, line, len);
  if (r == 1) {
    f->start = start;
    f->scanned = scanned;
  }
  return r;
}

static void take_peeked(mh_framer_t *f, const char *line, size_t len) {
  f->start = f->scanned = (size_t)(line - f->buf.data) + len + 1;
}

int mh_chan_wait_in_place(mh_chan_t *c, int (*match)(void *ud, const char *l, size_t n),
                          void (*got)(void *ud, const char *l, size_t n), void *ud) {
  mh_chan_group_t *g = c->group;
  /* Only inside a dispatch of the prepare step's wait, with nothing held
   * back, buffered or to deliver: then all the loop would do next is what
   * follows (the dispatch would find no line, the read would give back a
   * buffer a large line grew, and the wait would write and block in
   * recv). */
  if (!g->in_wait || g->waiter != c || !c->dispatching || g->redispatch || c->end_later || c->throttled ||
      c->close_when_flushed || c->write_failed || c->deferred_pos != c->deferred.len)
    return 0;
  const char *line;
  size_t len;
  if (peek_line(&c->in, &line, &len) != 0) return 0;  /* a line (or one over the limit) waits for the dispatcher */
  /* Write what is queued (the request), as the wait would. */
  if (g->dirty && (g->dirty != c || c->next_dirty)) return 0;
  if (c->dirty) {
    if (write_some(c) != 0) return 0;  /* the rest goes from the loop, as usual */
    g->dirty = NULL;
    c->dirty = 0;
  }
  if (!only_waiter(g)) return 0;
  g->turns++;  /* what the loop would have counted for this wait */
  g->waits++;
  for (;;) {
    ssize_t n = read_some(c, READ_BLOCK_LOOP);
    /* A signal, the end or an error: the loop's own wait sees it again. */
    if (n <= 0) return 0;
    int r = peek_line(&c->in, &line, &len);
    if (r == 0) {  /* part of a line: read on, if nothing else became active */
      if (!only_waiter(g)) return 0;
      continue;
    }
    if (r == 1 && match(ud, line, len)) {
      take_peeked(&c->in, line, len);
      c->lines++;
      g->in_place++;
      got(ud, line, len);
      /* As the loop's read would once the dispatch ended (the dispatch
       * that resumed the caller holds no line of this buffer any more). */
      shrink_read_buffer(c);
      return 1;
    }
    /* Something else came first: it and all after it are the
     * dispatcher's, in order. */
    return 0;
  }
}

static void on_prepare(uv_prepare_t *h) {
  mh_chan_group_t *g = h->data;
  g->turns++;
  group_flush(g);
  /* A renderer with nothing but its channel to wait for waits here, in a
   * blocking recv(), rather than in the loop's epoll_wait and a read: one
   * syscall instead of two, and on this VM a task woken from a blocking
   * read runs ~3-4 µs sooner than one woken through epoll (the split-CPU
   * rows of docs/benchmarks.md). The loop goes on as usual once anything
   * else is active. A signal does not end the wait: libuv's handlers
   * restart the call, and an active uv_signal handle keeps us out of here.
   * Never in a nested loop run (a uv_run called from a callback of this
   * one): its caller may be polling. */
  if (g->in_wait) return;
  g->in_wait = 1;
  while (g->waiter && only_waiter(g)) {
    g->turns++;
    g->waits++;
    do_read(g->waiter, READ_BLOCK_LOOP);
    group_flush(g);
  }
  g->in_wait = 0;
}

/* Writes every channel's queue and delivers lines held back, until
 * neither is left. */
static void group_flush(mh_chan_group_t *g) {
  /* A flush can lift a throttle (more to dispatch) and a dispatch can write
   * (more to flush): go on until both are done, or the loop would sleep
   * with work in hand. */
  while (g->redispatch || g->dirty) {
    while (g->redispatch) {
      mh_chan_t *c = g->redispatch;
      g->redispatch = c->next_redispatch;
      c->next_redispatch = NULL;
      c->redispatch = 0;
      dispatch(c);
    }
    while (g->dirty) {
      mh_chan_t *c = g->dirty;
      g->dirty = c->next_dirty;
      c->next_dirty = NULL;
      c->dirty = 0;
      mh_chan_flush(c);
    }
  }
}

int mh_chan_group_init(mh_chan_group_t *g, uv_loop_t *loop) {
  g->dirty = NULL;
  g->redispatch = NULL;
  g->waiter = NULL;
  g->in_wait = 0;
  g->turns = g->waits = g->in_place = g->spins = g->spin_hits = 0;
  int rc = uv_prepare_init(loop, &g->prepare);
  if (rc) return rc;
  g->prepare.data = g;
  uv_prepare_start(&g->prepare, on_prepare);
  uv_unref((uv_handle_t *)&g->prepare);  /* never keeps the loop alive */
  return 0;
}

void mh_chan_group_close(mh_chan_group_t *g) {
  uv_close((uv_handle_t *)&g->prepare, NULL);
}

int mh_chan_open(mh_chan_t *c, mh_chan_group_t *g, int fd, size_t max_line,
                 mh_chan_line_cb on_line, mh_chan_end_cb on_end) {
  void *data = c->data;
  void (*run_dispatch)(mh_chan_t *) = c->run_dispatch;
  memset(c, 0, sizeof *c);
  c->data = data;
  c->run_dispatch = run_dispatch;
  c->fd = fd;
  c->group = g;
  c->in.max_line = max_line;
  c->on_line = on_line;
  c->on_end = on_end;
  int rc = uv_poll_init_socket(g->prepare.loop, &c->poll, fd);
  if (rc) return rc;
  c->poll.data = c;
  set_events(c, UV_READABLE);
  return 0;
}

int mh_chan_set_blocking(mh_chan_t *c) {
  int fl = fcntl(c->fd, F_GETFL);
  if (fl < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) return -errno;
  c->blocking = 1;
  return 0;
}

void mh_chan_group_set_waiter(mh_chan_group_t *g, mh_chan_t *c) { g->waiter = c; }

void mh_chan_set_spin(mh_chan_t *c, long us) {
  c->spin_ns = us > 0 ? us * 1000 : 0;
  c->spin_skip = c->spin_pause = 0;
}

long mh_chan_env_spin_us(void) {
  const char *s = getenv("MAINHOST_SPIN_US");
  char *end;
  if (!s || !*s) return 50;
  errno = 0;
  long us = strtol(s, &end, 10);
  return *end || errno || us < 0 || us > 1000 ? 50 : us;
}

mh_buf_t *mh_chan_out(mh_chan_t *c) {
  /* Draining, the peer has exited: what we would write to it is dropped
   * (nothing reads it, and the stream ends right after). */
  if (c->closing || c->write_failed || c->close_when_flushed || c->draining || c->end_later) return NULL;
  if (c->high_water && mh_chan_queued(c) > 2 * c->high_water) {
    /* Reading stopped at high_water, yet replies of requests that were
     * already running kept coming and the peer still reads nothing: drop
     * what waits and end the stream, so the host's memory stays bounded. */
    c->write_failed = 1;
    c->out.len = c->out_pos = 0;
    if (!c->ended) end_stream(c, MH_CHAN_EOVERFLOW);
    /* A peer whose end of stream (a half-close) its owner left open for
     * writing: the owner hears of this end too. */
    else if (c->on_end) c->on_end(c, MH_CHAN_EOVERFLOW);
    return NULL;
  }
  if (!c->dirty) {
    c->dirty = 1;
    c->next_dirty = c->group->dirty;
    c->group->dirty = c;
  }
  return &c->out;
}

size_t mh_chan_queued(const mh_chan_t *c) { return c->out.len - c->out_pos; }

static int defer_line(mh_chan_t *c, const char *line, size_t n);
static void schedule_redispatch(mh_chan_t *c);

/* The stream ended (or a write failed) while lines were held back: they
 * are delivered first (from the loop, as after any wait), then the end is
 * reported (mh_chan_dispatch); nothing more is read meanwhile. 1 when so,
 * 0 when nothing is held back. */
static int end_after_held_lines(mh_chan_t *c, int status) {
  if (c->deferred_pos >= c->deferred.len) return 0;
  c->end_later = 1;
  c->end_later_status = status;
  set_events(c, c->events & ~UV_READABLE);
  return 1;
}

int mh_chan_flush_blocking(mh_chan_t *c) {
  /* While we wait to write, the peer may be waiting for us to read (its
   * answers to what we sent, say): take what comes and hold it back, to
   * be delivered from the loop, or both sides would wait for ever. */
  int reading = !c->ended && !c->end_later;
  for (;;) {
    int rc = c->write_failed ? -1 : write_some(c);
    if (rc == 0) return 0;
    if (rc < 0) {
      /* The peer is gone. What it sent before (answers to our requests,
       * say) is delivered first, as after a wait, then the end. */
      if (!c->ended && !c->end_later) end_after_held_lines(c, UV_EPIPE);
      return UV_EPIPE;
    }
    struct pollfd pfd = {c->fd, (short)(POLLOUT | (reading ? POLLIN : 0)), 0};
    if (poll(&pfd, 1, -1) < 0) {
      if (errno != EINTR) return -errno;
      continue;
    }
    if (!reading || !(pfd.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t n = read_some(c, READ_NOW);
    if (n <= 0) {
      if (n != -EAGAIN && n != -EWOULDBLOCK) reading = 0;  /* the end: the read side sees it later */
      continue;
    }
    const char *line;
    size_t len;
    while (mh_framer_next(&c->in, &line, &len) == 1)
      if (defer_line(c, line, len) != 0) return UV_ENOMEM;
    schedule_redispatch(c);
  }
}

static int defer_line(mh_chan_t *c, const char *line, size_t n) {
  uint32_t len = (uint32_t)n;
  if (mh_buf_reserve(&c->deferred, 4 + n) != 0) return -1;
  memcpy(c->deferred.data + c->deferred.len, &len, 4);
  memcpy(c->deferred.data + c->deferred.len + 4, line, n);
  c->deferred.len += 4 + n;
  return 0;
}

/* After a wait, what it held back (and what came after the reply) is
 * delivered from the loop: nothing else would wake us for bytes already
 * read. Also after a throttle ends. */
static void schedule_redispatch(mh_chan_t *c) {
  if (c->redispatch || c->closing) return;
  c->redispatch = 1;
  c->next_redispatch = c->group->redispatch;
  c->group->redispatch = c;
}

static int wait_line(mh_chan_t *c, int (*match)(void *ud, const char *l, size_t n),
                     void (*got)(void *ud, const char *l, size_t n), void *ud);

int mh_chan_wait(mh_chan_t *c, int (*match)(void *ud, const char *l, size_t n),
                 void (*got)(void *ud, const char *l, size_t n), void *ud) {
  int rc = wait_line(c, match, got, ud);
  schedule_redispatch(c);
  return rc;
}

static int wait_line(mh_chan_t *c, int (*match)(void *ud, const char *l, size_t n),
                     void (*got)(void *ud, const char *l, size_t n), void *ud) {
  for (;;) {
    if (c->ended || c->end_later) return UV_EOF;
    const char *line;
    size_t len;
    int r;
    while ((r = mh_framer_next(&c->in, &line, &len)) == 1) {
      if (match(ud, line, len)) {
        got(ud, line, len);
        return 0;
      }
      if (defer_line(c, line, len) != 0) return UV_ENOMEM;
    }
    if (r < 0) {
      end_stream(c, MH_CHAN_EOVERSIZE);
      return MH_CHAN_EOVERSIZE;
    }
    ssize_t n = read_some(c, c->blocking ? READ_BLOCK : READ_NOW);
    if (n == -EAGAIN || n == -EWOULDBLOCK) {
      if (c->blocking) continue;  /* a signal: wait again */
      struct pollfd pfd = {c->fd, POLLIN, 0};
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -errno;
      continue;
    }
    if (n <= 0) {
      int status = n == 0 ? 0 : (int)n;
      if (!end_after_held_lines(c, status)) end_stream(c, status);
      return n == 0 ? UV_EOF : (int)n;
    }
  }
}

static void on_close(uv_handle_t *h) {
  mh_chan_t *c = h->data;
  close(c->fd);
  c->fd = -1;
  mh_framer_free(&c->in);
  mh_buf_free(&c->deferred);
  mh_buf_free(&c->out);
  if (c->on_closed) c->on_closed(c);
}

void mh_chan_close_flushed(mh_chan_t *c, mh_chan_closed_cb on_closed) {
  if (c->closing) return;
  write_some(c);
  if (c->write_failed || mh_chan_queued(c) == 0) {
    mh_chan_close(c, on_closed);
    return;
  }
  /* Stop reading and taking messages; close once the rest is written. */
  c->close_when_flushed = 1;
  c->on_closed = on_closed;
  c->ended = 1;
  c->events = -1;  /* force set_events to apply */
  set_events(c, UV_WRITABLE);
}

void mh_chan_hang_up(mh_chan_t *c) {
  if (c->close_when_flushed && !c->closing) mh_chan_close(c, c->on_closed);
}

void mh_chan_close(mh_chan_t *c, mh_chan_closed_cb on_closed) {
  if (c->closing) return;
  c->closing = 1;
  c->on_closed = on_closed;
  if (c->group->waiter == c) c->group->waiter = NULL;
  if (c->dirty) {
    /* Leave the flush list so the group never touches freed memory. */
    mh_chan_t **pp = &c->group->dirty;
    while (*pp && *pp != c) pp = &(*pp)->next_dirty;
    if (*pp) *pp = c->next_dirty;
    c->dirty = 0;
  }
  if (c->redispatch) {
    mh_chan_t **pp = &c->group->redispatch;
    while (*pp && *pp != c) pp = &(*pp)->next_redispatch;
    if (*pp) *pp = c->next_redispatch;
    c->redispatch = 0;
  }
  uv_close((uv_handle_t *)&c->poll, on_close);
}
