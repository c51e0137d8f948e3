/* mh_host.c: the main process's machinery: renderer processes (spawn with a
 * socketpair on fd 3, their output passed through with a name prefix, exit,
 * restart with backoff) and the run of an app. This file owns the shutdown
 * order: stop accepting work, close and kill renderers, close our handles,
 * close luv's handles, drain the loop until uv_loop_close succeeds, release
 * refs, lua_close. */
#include "mh_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lstate.h"
#include "mh_build.h"
#include "mh_zygote.h"

extern char **environ;

mh_host_t mh_host;
#define H mh_host

#define RESTART_FIRST_MS 100    /* backoff: 100 ms, doubling ... */
#define RESTART_MAX_MS 10000    /* ... up to 10 s */
#define SOCKET_BUFFER (1 << 20) /* fewer wake-ups for large messages */

static int live_procs;   /* renderer processes not yet reaped */
static int our_handles;  /* our own handles not yet closed */

static void maybe_stop(void);
static void spawn_from_spec(mh_spec_t *spec);

/* ---- confs and specs --------------------------------------------------------- */

static void free_strv(char **v) {
  if (!v) return;
  for (size_t i = 0; v[i]; i++) free(v[i]);
  free(v);
}

static char **dup_strv(char *const *v) {
  if (!v) return NULL;
  size_t n = 0;
  while (v[n]) n++;
  char **d = calloc(n + 1, sizeof *d);
  if (!d) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!(d[i] = strdup(v[i]))) {
      free_strv(d);
      return NULL;
    }
  }
  return d;
}

static void conf_free(mh_renderer_conf_t *c) {
  free(c->name);
  free(c->script);
  free(c->cwd);
  free_strv(c->command);
  free_strv(c->args);
  free_strv(c->env);
  free_strv(c->channels);
  memset(c, 0, sizeof *c);
}

static int conf_dup(mh_renderer_conf_t *d, const mh_renderer_conf_t *s) {
  memset(d, 0, sizeof *d);
  d->restart = s->restart;
  d->max_restarts = s->max_restarts;
  static char *const none[] = {NULL};
  d->name = strdup(s->name ? s->name : "renderer");
  d->script = s->script ? strdup(s->script) : NULL;
  d->cwd = s->cwd ? strdup(s->cwd) : NULL;
  d->command = dup_strv(s->command);
  d->args = dup_strv(s->args ? s->args : none);
  d->env = dup_strv(s->env ? s->env : none);
  d->channels = dup_strv(s->channels);
  if (!d->name || (s->script && !d->script) || (s->cwd && !d->cwd) || (s->command && !d->command) ||
      !d->args || !d->env || (s->channels && !d->channels)) {
    conf_free(d);
    return -1;
  }
  return 0;
}

static void spec_closed(uv_handle_t *h) {
  mh_spec_t *spec = h->data;
  our_handles--;
  conf_free(&spec->conf);
  free(spec);
}

static void spec_unref(mh_spec_t *spec) {
  if (--spec->refs == 0) uv_close((uv_handle_t *)&spec->timer, spec_closed);
}

/* ---- renderer memory ---------------------------------------------------- */

static void renderer_free(mh_renderer_t *r) {
  if (r->id > 0 && (size_t)r->id <= H.nids && H.byid[r->id - 1] == r) H.byid[r->id - 1] = NULL;
  if (r->id > 0 && (size_t)r->id <= H.nids && H.mem[r->id - 1] == r) H.mem[r->id - 1] = NULL;
  mh_buf_free(&r->out.partial);
  mh_buf_free(&r->err.partial);
  mh_pending_close(&r->pending);
  if (r->spec) spec_unref(r->spec);
  free(r->launch_error);
  free(r->name);
  free(r);
}

/* One of the renderer's handles is closed (or its forked process's end
 * reported): the memory goes with the last. */
static void released(mh_renderer_t *r) {
  our_handles--;
  if (--r->open_handles == 0) renderer_free(r);
}

static void handle_closed(uv_handle_t *h) { released(h->data); }

static void chan_closed(mh_chan_t *c) { released(c->data); }

mh_renderer_t *mh_host_renderer(int id) {
  if (id < 1 || (size_t)id > H.nids) return NULL;
  return H.byid[id - 1];
}

/* ---- gone, restart, all gone --------------------------------------------------- */

static mh_gone_reason_t gone_reason(const mh_renderer_t *r) {
  if (r->launch_error) return MH_GONE_LAUNCH_FAILED;
  if (r->term_signal) {
    switch (r->term_signal) {
      case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGABRT: case SIGTRAP: case SIGSYS:
        return MH_GONE_CRASHED;
      default:
        return MH_GONE_KILLED;
    }
  }
  return r->exit_status == 0 ? MH_GONE_CLEAN_EXIT : MH_GONE_ABNORMAL_EXIT;
}

static int wants_restart(const mh_renderer_t *r, mh_gone_reason_t why) {
  const mh_spec_t *s = r->spec;
  if (H.quitting || H.exiting || r->closed_by_us || !s) return 0;
  if (s->conf.restart == MH_RESTART_NEVER) return 0;
  if (s->conf.restart == MH_RESTART_ON_FAILURE && why == MH_GONE_CLEAN_EXIT) return 0;
  return s->restarts < s->conf.max_restarts;
}

static void restart_cb(uv_timer_t *t) {
  mh_spec_t *spec = t->data;
  spec->restart_pending = 0;
  H.restarts_pending--;
  if (!H.quitting && !H.exiting) {
    spec->restarts++;
    spawn_from_spec(spec);
  }
  spec_unref(spec);  /* the pending restart's reference */
}

static void check_all_gone(void) {
  if (H.quitting || H.exiting || !H.ever_spawned || H.live > 0 || H.restarts_pending > 0) return;
  /* Electron's window-all-closed, for renderers: quit unless someone
   * listens and decides otherwise. */
  if (H.L && mh_lipc_app_has_listeners(H.L, "all-renderers-gone"))
    mh_lipc_app_event(H.L, "all-renderers-gone", 0, 0);
  else
    mh_host_request_quit(0);
}

/* Gone for the main script once the process is reaped and the socket is
 * done: every message it sent before exiting has been handled by then. */
static void maybe_gone(mh_renderer_t *r) {
  if (r->gone_reported || !r->exited || !r->chan_ended) return;
  r->gone_reported = 1;
  mh_gone_reason_t why = gone_reason(r);
  int restart = wants_restart(r, why);
  if (restart) {
    mh_spec_t *spec = r->spec;
    spec->refs++;
    spec->restart_pending = 1;
    H.restarts_pending++;
    unsigned shift = spec->restarts < 7 ? (unsigned)spec->restarts : 7;
    uint64_t delay = (uint64_t)RESTART_FIRST_MS << shift;
    if (delay > RESTART_MAX_MS) delay = RESTART_MAX_MS;
    uv_timer_start(&spec->timer, restart_cb, delay, 0);
  }
  H.live--;
  /* A close still waiting to flush: the process is gone (a child of it may
   * hold the socket, so nothing would ever read the rest): hang up now. */
  mh_chan_hang_up(&r->chan);
  if (H.L) mh_lipc_renderer_gone(H.L, r, why, restart);  /* no events while exiting */
  H.byid[r->id - 1] = NULL;
  if (!r->timer.loop || !uv_is_closing((uv_handle_t *)&r->timer)) {
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, handle_closed);
  }
  check_all_gone();
}

/* The peer's end of the socket is closed (every copy of it), not only its
 * sending side: poll says POLLHUP once both directions are shut. */
static int peer_hung_up(int fd) {
  struct pollfd p = {fd, 0, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

static void hang_up_cb(uv_timer_t *t) {
  mh_renderer_t *r = t->data;
  r->timer_hangs_up = 0;
  if (!r->exited) mh_chan_hang_up(&r->chan);
}

/* Closes the channel of a half-closed renderer that has its answers:
 * what is queued is written first, for at most limits.quitTimeoutMs (one
 * that reads nothing is hung up on then, as after wc.close(), but gets no
 * signal: it may run on). */
static void close_half_closed(mh_renderer_t *r) {
  r->chan_ended = 1;
  mh_chan_close_flushed(&r->chan, chan_closed);
  if (r->chan.close_when_flushed && !r->chan.closing && !uv_is_active((uv_handle_t *)&r->timer) &&
      !uv_is_closing((uv_handle_t *)&r->timer)) {
    r->timer_hangs_up = 1;
    uv_timer_start(&r->timer, hang_up_cb, H.cfg->limits.quit_timeout_ms, 0);
  }
  maybe_gone(r);
}

static void chan_end(mh_chan_t *c, int status) {
  mh_renderer_t *r = c->data;
  if (status == MH_CHAN_EOVERFLOW) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d) left over twice limits.maxQueuedBytes (%zu) "
            "unread; disconnected\n", r->name, r->id, H.cfg->limits.max_queued_bytes);
  } else if (status == MH_CHAN_EOVERSIZE) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d): a message was longer than the limit "
            "(%zu bytes); disconnected\n", r->name, r->id, H.cfg->limits.max_message_bytes);
  } else if ((status == 0 || status == UV_ECONNRESET) && mh_framer_pending(&c->in) > 0) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d): its last message had no newline "
            "before the channel closed; ignored (%zu bytes)\n", r->name, r->id,
            mh_framer_pending(&c->in));
  } else if (status < 0 && status != UV_EOF && status != UV_ECONNRESET) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d): channel error: %s\n", r->name, r->id,
            uv_strerror(status));
  }
  /* An end of stream from a renderer that still runs, with its end of the
   * socket still open (no hang-up), is a half-close (shutdown(SHUT_WR)):
   * it will send nothing more, but may still read. The answers to its
   * requests still running go (and what is queued for it): the channel
   * closes once they are queued (half_close_cb), and the renderer reads
   * end-of-file after them. */
  if (status == 0 && r->spawned && !r->exited && !H.quitting && !H.exiting && !peer_hung_up(c->fd)) {
    mh_framer_free(&c->in);  /* a last line without newline: reported above, dropped */
    if (mh_pending_count(&r->pending) > 0) r->half_closed = 1;
    else close_half_closed(r);
    return;
  }
  r->chan_ended = 1;
  mh_chan_close(c, chan_closed);
  maybe_gone(r);
}

static void half_close_cb(uv_timer_t *t) {
  (void)t;
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (!r || !r->half_closed || mh_pending_count(&r->pending) > 0) continue;
    r->half_closed = 0;
    if (!r->chan_ended && !r->chan.closing) close_half_closed(r);
  }
}

void mh_host_answered(mh_renderer_t *r) {
  if (!r->half_closed || mh_pending_count(&r->pending) > 0) return;
  if (!uv_is_active((uv_handle_t *)&H.half_timer) && !uv_is_closing((uv_handle_t *)&H.half_timer))
    uv_timer_start(&H.half_timer, half_close_cb, 0, 0);
}

/* ---- output passthrough ---------------------------------------------------- */

static char readbuf[64 * 1024];

static void out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  buf->base = readbuf;
  buf->len = sizeof readbuf;
}

/* A renderer's output line longer than this is passed on in pieces of
 * this size: the host holds at most this much of a line that has not
 * ended (a renderer writing without newlines must not grow the host). */
#define OUT_LINE_MAX (64 * 1024)
/* Lines of one read are written with one fwrite, flushed at this size. */
#define OUT_FLUSH_AT (256 * 1024)

static mh_buf_t outq;  /* the prefixed lines of the read being passed on */

static void out_flush(mh_outlines_t *o) {
  if (!outq.len) return;
  FILE *f = o->is_err ? stderr : stdout;
  /* Whole lines in one write: lines of different renderers never
   * interleave, and stdout's go out before stderr's that follow them. */
  if (o->is_err) fflush(stdout);
  fwrite(outq.data, 1, outq.len, f);
  fflush(f);
  outq.len = 0;
  if (outq.cap > 4 * OUT_FLUSH_AT) mh_buf_free(&outq);
}

/* Queues "[NAME] " + what the line held back + p[0..n) + "\n". */
static void emit_line(mh_renderer_t *r, mh_outlines_t *o, const char *p, size_t n) {
  size_t nl = strlen(r->name);
  if (mh_buf_reserve(&outq, outq.len + nl + 4 + o->partial.len + n) == 0) {
    mh_buf_putc(&outq, '[');
    mh_buf_put(&outq, r->name, nl);
    mh_buf_put(&outq, "] ", 2);
    mh_buf_put(&outq, o->partial.data, o->partial.len);
    mh_buf_put(&outq, p, n);
    mh_buf_putc(&outq, '\n');
  }
  o->partial.len = 0;
  if (outq.len >= OUT_FLUSH_AT) out_flush(o);
}

static void out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  mh_outlines_t *o = (mh_outlines_t *)s;  /* the pipe is the first member */
  mh_renderer_t *r = s->data;
  if (nread > 0) {
    const char *p = buf->base, *end = buf->base + nread;
    while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t n = (size_t)((nl ? nl : end) - p);
      /* Past OUT_LINE_MAX, pieces of exactly that size, wherever the reads
       * happened to split the line. */
      while (o->partial.len + n > OUT_LINE_MAX) {
        size_t room = OUT_LINE_MAX - o->partial.len;
        emit_line(r, o, p, room);
        p += room;
        n -= room;
      }
      if (!nl) {
        mh_buf_put(&o->partial, p, n);
        break;
      }
      emit_line(r, o, p, n);
      p = nl + 1;
    }
    out_flush(o);
    return;
  }
  if (nread < 0) {
    if (o->partial.len) emit_line(r, o, "", 0);
    out_flush(o);
    uv_close((uv_handle_t *)s, handle_closed);
  }
}

/* ---- processes --------------------------------------------------------------- */

/* The renderer's process is gone (reaped by libuv, or by the launcher). */
static void renderer_exited(mh_renderer_t *r, int64_t status, int sig) {
  r->exited = 1;
  r->exit_status = status;
  r->term_signal = sig;
  live_procs--;
  /* 126/127 before it sent anything: the shell's and our exec shim's "could not
   * run it" (the shim has said why on stderr). */
  if (!sig && (status == 126 || status == 127) && !r->said_anything && !r->launch_error) {
    char msg[512];
    const char *what = r->spec ? (r->spec->conf.script ? r->spec->conf.script : r->spec->conf.command[0]) : r->name;
    snprintf(msg, sizeof msg, "'%s' could not start (exit status %d before it sent anything; see its stderr above)",
             what, (int)status);
    r->launch_error = strdup(msg);
    fprintf(stderr, "mainhost: renderer '%s' (id %d) could not start: %s\n", r->name, r->id, msg);
  }
  if (!r->chan_ended && !r->chan.closing) {
    /* Messages written just before the exit are still in the socket. */
    mh_chan_drain(&r->chan);
    if (!r->chan_ended) chan_end(&r->chan, 0);
  }
  maybe_gone(r);
  maybe_stop();
}

static void proc_exit(uv_process_t *p, int64_t status, int sig) {
  mh_renderer_t *r = p->data;
  uv_close((uv_handle_t *)p, handle_closed);
  renderer_exited(r, status, sig);
}

/* A forked renderer's end: its process counted as one of its handles
 * until now, as a uv_process_t does (see spawn_from_spec). */
static void forked_ended(mh_renderer_t *r, int wstatus) {
  mh_zygote_track(-1);
  renderer_exited(r, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0, WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
  released(r);
}

/* The launcher's exit callback (mh_zygote.h). assumed: SIGKILLed by the
 * host and not reported in time. pid -1: the launcher is gone, and every
 * renderer it started has had the parent-death signal; none is signalled
 * again (their pids may be reused by now). */
static void zygote_exit(int pid, int wstatus, int assumed) {
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.mem[i];
    if (!r || !r->via_zygote || !r->spawned || r->exited) continue;
    if (pid == -1) {
      fprintf(stderr, "mainhost: renderer '%s' (id %d) is stopped: its launcher is gone\n", r->name, r->id);
      forked_ended(r, SIGTERM); /* as waitpid would say it */
    } else if (r->pid == pid) {
      if (assumed)
        fprintf(stderr, "mainhost: renderer '%s' (id %d): no end reported %u ms after SIGKILL; taken as killed\n",
                r->name, r->id, H.cfg->limits.quit_timeout_ms);
      forked_ended(r, wstatus);
      return;
    }
  }
}

/* A Lua renderer forked by the launcher (mh_zygote.h): its pid, a negative
 * libuv error code when it could not start, or MH_ZYGOTE_EXEC when the
 * launcher is not there to ask (exec it then). */
static int spawn_via_zygote(mh_renderer_t *r, char **argv, char **env, const char *cwd, int chan_fd) {
  if (mh_zygote_ready(H.loop, zygote_exit) != 0) return MH_ZYGOTE_EXEC;
  int o[2], e[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, o) != 0) return MH_ZYGOTE_EXEC;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e) != 0) {
    close(o[0]);
    close(o[1]);
    return MH_ZYGOTE_EXEC;
  }
  int pid = mh_zygote_spawn(argv, env, cwd, o[1], e[1], chan_fd);
  close(o[1]);
  close(e[1]);
  if (pid == MH_ZYGOTE_EXEC || pid < 0) {
    close(o[0]);
    close(e[0]);
    return pid;
  }
  uv_pipe_open(&r->out.pipe, o[0]);
  uv_pipe_open(&r->err.pipe, e[0]);
  r->via_zygote = 1;
  mh_zygote_track(1);
  return pid;
}

/* Sends sig to the renderer's process group (it leads one), so what it
 * started goes too. */
static void signal_renderer(mh_renderer_t *r, int sig) {
  if (!r->spawned || r->exited) return;
  if (kill(-r->pid, sig) != 0) kill(r->pid, sig);
  if (sig == SIGKILL && r->via_zygote) mh_zygote_expect_end(r->pid, H.cfg->limits.quit_timeout_ms);
}

static void grace_cb(uv_timer_t *t) {
  mh_renderer_t *r = t->data;
  if (r->exited || !r->spawned) return;
  unsigned ms = H.cfg->limits.quit_timeout_ms;
  if (r->chan.close_when_flushed && !r->chan.closing) {
    /* It did not read what was left for it: hang up anyway (it sees EOF
     * and may still leave on its own), then the signals. */
    mh_chan_hang_up(&r->chan);
    uv_timer_start(t, grace_cb, ms, 0);
    return;
  }
  if (r->kill_stage == 0) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d) still running %u ms after its channel "
            "closed; sending SIGTERM\n", r->name, r->id, ms);
    signal_renderer(r, SIGTERM);
    r->kill_stage = 1;
    uv_timer_start(t, grace_cb, ms, 0);
  } else {
    fprintf(stderr, "mainhost: renderer '%s' (id %d) ignored SIGTERM; sending SIGKILL\n", r->name, r->id);
    signal_renderer(r, SIGKILL);
  }
}

void mh_host_close_renderer(mh_renderer_t *r) {
  r->closed_by_us = 1;
  if (!r->chan_ended && !r->chan.closing) {
    r->chan_ended = 1;
    /* What main sent before closing still goes; then the renderer sees EOF
     * and exits (the grace timer bounds the wait). */
    mh_chan_close_flushed(&r->chan, chan_closed);
  }
  if (r->spawned && !r->exited && (!uv_is_active((uv_handle_t *)&r->timer) || r->timer_hangs_up) &&
      !uv_is_closing((uv_handle_t *)&r->timer)) {
    r->timer_hangs_up = 0;  /* the grace period hangs up too, then signals */
    r->kill_stage = 0;
    uv_timer_start(&r->timer, grace_cb, H.cfg->limits.quit_timeout_ms, 0);
  }
  maybe_gone(r);
}

int mh_host_kill_renderer(mh_renderer_t *r, int sig) {
  if (!r->spawned || r->exited) return 0;
  signal_renderer(r, sig);
  return 1;
}

static char *dupf(const char *fmt, const char *a) {
  size_t n = strlen(fmt) + strlen(a) + 1;
  char *s = malloc(n);
  if (s) snprintf(s, n, fmt, a);
  return s;
}

/* environ without the keys we set, then ours, then the config's. */
static char **build_env(const mh_renderer_conf_t *rc, int id) {
  char idbuf[32];
  snprintf(idbuf, sizeof idbuf, "%d", id);
  const char *fixed[] = {"MAINHOST_IPC_FD=3", "NODE_CHANNEL_FD=3",
                         "NODE_CHANNEL_SERIALIZATION_MODE=json"};
  const char *const *ours = mh_config_protocol_env;
  size_t nenv = 0, nconf = 0;
  while (environ[nenv]) nenv++;
  while (rc->env[nconf]) nconf++;
  char **env = calloc(nenv + nconf + 8, sizeof *env);
  if (!env) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++) {
    const char *e = environ[i];
    const char *eq = strchr(e, '=');
    size_t kl = eq ? (size_t)(eq - e) : strlen(e);
    int shadowed = 0;
    for (size_t j = 0; !shadowed && ours[j]; j++)
      shadowed = strlen(ours[j]) == kl && !strncmp(e, ours[j], kl);
    for (size_t j = 0; !shadowed && j < nconf; j++)
      shadowed = !strncmp(rc->env[j], e, kl) && rc->env[j][kl] == '=';
    if (!shadowed && !(env[k++] = strdup(e))) goto nomem;
  }
  for (size_t i = 0; i < 3; i++)
    if (!(env[k++] = strdup(fixed[i]))) goto nomem;
  if (!(env[k++] = dupf("MAINHOST_RENDERER_ID=%s", idbuf))) goto nomem;
  if (!(env[k++] = dupf("MAINHOST_RENDERER_NAME=%s", rc->name))) goto nomem;
  char depth[32];
  snprintf(depth, sizeof depth, "%d", H.cfg->limits.max_depth);
  if (!(env[k++] = dupf("MAINHOST_MAX_DEPTH=%s", depth))) goto nomem;
  for (size_t j = 0; j < nconf; j++)
    if (!(env[k++] = strdup(rc->env[j]))) goto nomem;
  env[k] = NULL;
  return env;
nomem:
  free_strv(env);
  return NULL;
}

/* Finds prog as execvp would (relative to cwd when it has a '/'), so a
 * program that is missing or not executable is a launch failure with a
 * clear reason instead of an exit status. 0 or an errno. */
static int check_program(const char *prog, const char *cwd) {
  char path[4096];
  struct stat st;
  if (strchr(prog, '/')) {
    if (prog[0] == '/' || !cwd) snprintf(path, sizeof path, "%s", prog);
    else snprintf(path, sizeof path, "%s/%s", cwd, prog);
    if (stat(path, &st) != 0) return errno;
    if (S_ISDIR(st.st_mode)) return EISDIR;
    return access(path, X_OK) == 0 ? 0 : EACCES;
  }
  const char *p = getenv("PATH");
  if (!p) p = "/usr/local/bin:/usr/bin:/bin";
  int found_noexec = 0;
  while (*p) {
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    snprintf(path, sizeof path, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", prog);
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
      if (access(path, X_OK) == 0) return 0;
      found_noexec = 1;
    }
    p += n + (colon ? 1 : 0);
    if (!colon) break;
  }
  return found_noexec ? EACCES : ENOENT;
}

static int grow_ids(void) {
  if (H.nids < H.capids) return 0;
  size_t cap = H.capids ? H.capids * 2 : 16;
  mh_renderer_t **n = realloc(H.byid, cap * sizeof *n);
  if (!n) return -1;
  H.byid = n;
  mh_renderer_t **m = realloc(H.mem, cap * sizeof *m);
  if (!m) return -1;
  H.mem = m;
  H.capids = cap;
  return 0;
}

static void send_hello(mh_renderer_t *r) {
  mh_buf_t *b = mh_chan_out(&r->chan);
  if (!b) return;
  char head[64];
  int n = snprintf(head, sizeof head, "{\"k\":\"hello\",\"v\":%d,\"id\":%d,\"name\":",
                   MH_PROTOCOL_VERSION, r->id);
  mh_buf_put(b, head, (size_t)n);
  mh_wire_put_string(b, r->name, strlen(r->name));
  n = snprintf(head, sizeof head, ",\"pid\":%d}\n", (int)getpid());
  mh_buf_put(b, head, (size_t)n);
}

static void launch_failed_cb(uv_timer_t *t) {
  mh_renderer_t *r = t->data;
  fprintf(stderr, "mainhost: renderer '%s' (id %d) could not start: %s\n", r->name, r->id, r->launch_error);
  r->exited = 1;
  maybe_gone(r);
  maybe_stop();
}

/* Makes the renderer's table entry and webContents, then starts the
 * process; a start that fails is reported from the loop as launch-failed. */
static void spawn_from_spec(mh_spec_t *spec) {
  const mh_renderer_conf_t *rc = &spec->conf;
  if (grow_ids() != 0) return;
  mh_renderer_t *r = calloc(1, sizeof *r);
  if (!r || !(r->name = strdup(rc->name))) {
    free(r);
    fprintf(stderr, "mainhost: out of memory starting renderer '%s'\n", rc->name);
    return;
  }
  r->spec = spec;
  spec->refs++;
  r->wc_ref = r->counts_ref = LUA_NOREF;
  r->evmt_ref[0] = r->evmt_ref[1] = r->evmt_ref[2] = LUA_NOREF;
  r->id = (int)++H.nids;
  H.byid[r->id - 1] = r;
  H.mem[r->id - 1] = r;
  H.live++;
  H.ever_spawned = 1;
  mh_pending_init(&r->pending);
  uv_timer_init(H.loop, &r->timer);
  r->timer.data = r;
  r->open_handles = 1;
  our_handles++;
  r->chan_ended = 1;  /* until a socket is open */

  size_t nargs = 0, ncmd = 0;
  while (rc->args[nargs]) nargs++;
  if (rc->command)
    while (rc->command[ncmd]) ncmd++;
  const char **argv = calloc(ncmd + nargs + 5, sizeof *argv);
  char **env = build_env(rc, r->id);
  int sv[2] = {-1, -1};
  char err[512];
  err[0] = 0;
  if (!argv || !env) {
    snprintf(err, sizeof err, "out of memory");
    goto failed;
  }
  size_t k = 0;
  /* A Lua renderer is this binary in renderer mode; any other program goes
   * through our exec shim, which ties its life to ours (PR_SET_PDEATHSIG)
   * before it becomes the program. */
  argv[k++] = mh_lstate_exe();
  if (rc->script) {
    argv[k++] = "--renderer";
    argv[k++] = rc->script;
  } else {
    int e = check_program(rc->command[0], rc->cwd);
    if (e) {
      snprintf(err, sizeof err, "cannot run '%s': %s", rc->command[0], strerror(e));
      goto failed;
    }
    argv[k++] = "--exec";
    for (size_t i = 0; i < ncmd; i++) argv[k++] = rc->command[i];
  }
  for (size_t i = 0; i < nargs; i++) argv[k++] = rc->args[i];
  argv[k] = NULL;

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    snprintf(err, sizeof err, "socketpair: %s", strerror(errno));
    goto failed;
  }
  int bufsz = SOCKET_BUFFER;
  for (int i = 0; i < 2; i++) {
    setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  }
  uv_pipe_init(H.loop, &r->out.pipe, 0);
  uv_pipe_init(H.loop, &r->err.pipe, 0);
  r->out.pipe.data = r->err.pipe.data = r->proc.data = r;
  r->err.is_err = 1;

  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&r->out.pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&r->err.pipe;
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = sv[1];

  uv_process_options_t opts;
  memset(&opts, 0, sizeof opts);
  opts.file = argv[0];
  opts.args = (char **)argv;
  opts.env = env;
  opts.cwd = rc->cwd;
  opts.exit_cb = proc_exit;
  opts.stdio = stdio;
  opts.stdio_count = 4;
  opts.flags = UV_PROCESS_DETACHED;  /* its own process group, see signal_renderer */
  /* A Lua renderer is forked by the launcher when there is one; otherwise,
   * and for any other program, it is exec'd. */
  int rcode = rc->script ? spawn_via_zygote(r, (char **)argv, env, rc->cwd, sv[1]) : MH_ZYGOTE_EXEC;
  int with_uv = rcode == MH_ZYGOTE_EXEC;
  if (with_uv) {
    rcode = uv_spawn(H.loop, &r->proc, &opts);
  } else if (rcode > 0) {
    r->pid = rcode;
    rcode = 0;
  }
  close(sv[1]);
  sv[1] = -1;
  /* out, err, and the process: libuv's handle (closed whatever happens)
   * or a forked renderer (released when its end is reported). */
  int nh = with_uv || rcode == 0 ? 3 : 2;
  r->open_handles += nh;
  our_handles += nh;
  if (rcode != 0) {
    snprintf(err, sizeof err, "cannot start '%s': %s", argv[0], uv_strerror(rcode));
    if (with_uv) uv_close((uv_handle_t *)&r->proc, handle_closed);
    uv_close((uv_handle_t *)&r->out.pipe, handle_closed);
    uv_close((uv_handle_t *)&r->err.pipe, handle_closed);
    goto failed;
  }
  r->spawned = 1;
  live_procs++;
  if (with_uv) r->pid = r->proc.pid;
  free(argv);
  free_strv(env);

  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  r->chan.data = r;
  r->chan.run_dispatch = mh_lipc_dispatch;
  if (mh_chan_open(&r->chan, &H.chans, sv[0], H.cfg->limits.max_message_bytes,
                   mh_lipc_on_line, chan_end) == 0) {
    r->chan.high_water = H.cfg->limits.max_queued_bytes;
    r->open_handles++;
    our_handles++;
    r->chan_ended = 0;
  } else {
    close(sv[0]);
  }
  uv_read_start((uv_stream_t *)&r->out.pipe, out_alloc, out_read);
  uv_read_start((uv_stream_t *)&r->err.pipe, out_alloc, out_read);
  if (!r->chan_ended) send_hello(r);
  mh_lipc_renderer_new(H.L, r);
  return;

failed:
  free(argv);
  free_strv(env);
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  r->launch_error = strdup(err[0] ? err : "could not start");
  mh_lipc_renderer_new(H.L, r);
  /* Reported from the loop, after the caller had a chance to listen. */
  uv_timer_start(&r->timer, launch_failed_cb, 0, 0);
}

mh_renderer_t *mh_host_spawn(const mh_renderer_conf_t *conf) {
  mh_spec_t *spec = calloc(1, sizeof *spec);
  if (!spec) return NULL;
  if (conf_dup(&spec->conf, conf) != 0) {
    free(spec);
    return NULL;
  }
  uv_timer_init(H.loop, &spec->timer);
  spec->timer.data = spec;
  our_handles++;
  spec->refs = 1;  /* ours, for the length of this call */
  size_t before = H.nids;
  spawn_from_spec(spec);
  spec_unref(spec);
  return H.nids > before ? H.byid[H.nids - 1] : NULL;
}

/* ---- dropped requests ------------------------------------------------------------ */

#define GC_FIRST_MS 1000
#define GC_MAX_MS 30000

static void gc_cb(uv_timer_t *t) {
  if (!H.L) return;
  lua_gc(H.L, LUA_GCCOLLECT);  /* request finalizers answer dropped ones */
  size_t open = 0;
  for (size_t i = 0; i < H.nids; i++)
    if (H.byid[i]) open += mh_pending_count(&H.byid[i]->pending);
  if (open == 0) {
    H.gc_delay_ms = GC_FIRST_MS;
    return;
  }
  H.gc_delay_ms = H.gc_delay_ms * 2 > GC_MAX_MS ? GC_MAX_MS : H.gc_delay_ms * 2;
  uv_timer_start(t, gc_cb, H.gc_delay_ms, 0);
}

void mh_host_watch_pending(void) {
  if (uv_is_active((uv_handle_t *)&H.gc_timer) || uv_is_closing((uv_handle_t *)&H.gc_timer)) return;
  if (!H.gc_delay_ms) H.gc_delay_ms = GC_FIRST_MS;
  uv_timer_start(&H.gc_timer, gc_cb, H.gc_delay_ms, 0);
}

/* ---- quitting ----------------------------------------------------------------- */

static void close_all(void) {
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (!r) continue;
    if (H.L) mh_lipc_fail_pending(H.L, r, "reply was never sent (the main process is quitting)");
    mh_host_close_renderer(r);
  }
}

/* After every renderer is gone: will-quit (cancellable), quit, stop. */
static void maybe_stop(void) {
  if (!H.quitting || live_procs > 0 || H.stopped) return;
  if (!H.exiting && H.L) {
    if (mh_lipc_app_event(H.L, "will-quit", 0, 0)) {
      H.quitting = 0;  /* a listener kept the app running */
      return;
    }
    mh_lipc_app_event(H.L, "quit", 1, H.exit_code);
  }
  H.stopped = 1;
  uv_stop(H.loop);
}

static void begin_quit(int code) {
  H.quitting = 1;
  H.exit_code = code;
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (r && r->spec && r->spec->restart_pending) uv_timer_stop(&r->spec->timer);
  }
  close_all();
  maybe_stop();
}

void mh_host_request_quit(int code) {
  if (H.quitting || H.exiting) return;
  if (H.L && mh_lipc_app_event(H.L, "before-quit", 0, 0)) return;
  begin_quit(code);
}

void mh_host_exit(int code) {
  if (H.exiting) return;
  H.exiting = 1;
  H.quitting = 1;
  H.exit_code = code;
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (!r) continue;
    r->closed_by_us = 1;
    signal_renderer(r, SIGKILL);
    if (!r->chan_ended && !r->chan.closing) {
      r->chan_ended = 1;
      mh_chan_close(&r->chan, chan_closed);
    }
    maybe_gone(r);
  }
  maybe_stop();
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  if (++H.signals > 1 || H.quitting) {
    /* A second signal: do not wait for anyone. */
    mh_host_exit(128 + signum);
    return;
  }
  mh_host_request_quit(128 + signum);
}

/* ---- run and shut down ------------------------------------------------------------ */

static void our_closed(uv_handle_t *h) {
  (void)h;
  our_handles--;
}

static void close_luv_handles(lua_State *L) {
  /* Only luv's handles are left: let luv close them (it frees its own). */
  static const char code[] =
      "local uv = require('luv')\n"
      "uv.walk(function(h) if not h:is_closing() then h:close() end end)\n";
  if (luaL_loadbuffer(L, code, sizeof code - 1, "=shutdown") == LUA_OK)
    mh_lstate_pcall(L, 0, 0, "shutdown");
  else
    lua_pop(L, 1);
}

static void shutdown_host(void) {
  /* 1. No more work: every renderer goes, now. */
  H.quitting = H.exiting = 1;
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (!r) continue;
    signal_renderer(r, SIGKILL);
    if (!r->chan_ended && !r->chan.closing) {
      r->chan_ended = 1;
      mh_chan_close(&r->chan, chan_closed);
    } else {
      mh_chan_hang_up(&r->chan);
    }
    maybe_gone(r);
  }
  /* 2. Wait for them to be reaped and their handles closed. */
  while (live_procs > 0) uv_run(H.loop, UV_RUN_ONCE);
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (r) maybe_gone(r);
  }
  /* 3. Our own handles, including the output pipes of renderers that are
   * gone but whose children still hold them open. */
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.mem[i];
    if (!r) continue;
    if (r->spawned || r->launch_error) {
      if (r->out.pipe.loop && !uv_is_closing((uv_handle_t *)&r->out.pipe))
        uv_close((uv_handle_t *)&r->out.pipe, handle_closed);
      if (r->err.pipe.loop && !uv_is_closing((uv_handle_t *)&r->err.pipe))
        uv_close((uv_handle_t *)&r->err.pipe, handle_closed);
    }
    if (!r->chan.closing && r->chan.fd > 0 && !r->chan_ended) mh_chan_close(&r->chan, chan_closed);
  }
  uv_close((uv_handle_t *)&H.sigint, our_closed);
  uv_close((uv_handle_t *)&H.sigterm, our_closed);
  uv_close((uv_handle_t *)&H.gc_timer, our_closed);
  uv_close((uv_handle_t *)&H.half_timer, our_closed);
  mh_chan_group_close(&H.chans);
  mh_zygote_close(H.cfg->limits.quit_timeout_ms);
  /* The launcher's exit is a signal away: wait for it, not spin. */
  while (our_handles > 0 || mh_zygote_handles() > 0)
    uv_run(H.loop, our_handles > 0 ? UV_RUN_NOWAIT : UV_RUN_ONCE);
  /* 4. luv's, then drain until the loop can close. */
  if (H.L) close_luv_handles(H.L);
  while (uv_loop_close(H.loop) == UV_EBUSY) uv_run(H.loop, UV_RUN_DEFAULT);
  /* 5. Refs, then the state. */
  if (H.L) {
    mh_lipc_close(H.L);
    mh_lstate_close(H.L);
    H.L = NULL;
  }
  /* MAINHOST_COUNTERS=1: what a leak check reads (both must be 0). */
  if (getenv("MAINHOST_COUNTERS")) {
    fprintf(stderr, "mainhost: at exit: %lu loop turns\n", H.chans.turns);
    fprintf(stderr, "mainhost: at exit: %ld live Lua refs, %d open handles\n", mh_live_refs(), our_handles);
  }
  free(H.byid);
  free(H.mem);
  H.byid = H.mem = NULL;
  mh_buf_free(&H.scratch);
  mh_buf_free(&outq);
}

/* Descriptors we inherited (a terminal's, a tool's) are not the
 * renderers' business: close-on-exec for everything above stderr. */
static void cloexec_inherited(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != dirfd(d)) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  }
  closedir(d);
}

/* Loop, signals, Lua state and the mainhost module: everything but the
 * app itself. -1 when Lua cannot start (reported). */
static int host_setup(mh_config_t *cfg) {
  cloexec_inherited();
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  memset(&H, 0, sizeof H);
  H.cfg = cfg;
  H.loop = uv_default_loop();
  mh_chan_group_init(&H.chans, H.loop);
  uv_signal_init(H.loop, &H.sigint);
  uv_signal_init(H.loop, &H.sigterm);
  uv_timer_init(H.loop, &H.gc_timer);
  uv_unref((uv_handle_t *)&H.gc_timer);
  uv_timer_init(H.loop, &H.half_timer);
  uv_unref((uv_handle_t *)&H.half_timer);
  our_handles += 4;
  uv_signal_start(&H.sigint, on_signal, SIGINT);
  uv_signal_start(&H.sigterm, on_signal, SIGTERM);
  uv_unref((uv_handle_t *)&H.sigint);
  uv_unref((uv_handle_t *)&H.sigterm);
  H.L = mh_lstate_open(H.loop);
  if (!H.L) {
    shutdown_host();
    return -1;
  }
  mh_lipc_open(H.L);
  return 0;
}

int mh_host_main(mh_config_t *cfg) {
  if (host_setup(cfg) != 0) return 1;
  mh_lstate_add_path(H.L, cfg->dir);
  if (cfg->main) {
    if (mh_lstate_load(H.L, cfg->main) != LUA_OK) {
      mh_lstate_report(H.L, "cannot load the main script", lua_tostring(H.L, -1));
      lua_pop(H.L, 1);
      shutdown_host();
      return 1;
    }
    mh_lipc_run_main(H.L);
  }
  if (!H.quitting) {
    for (size_t i = 0; i < cfg->nrenderers; i++)
      if (!mh_host_spawn(&cfg->renderers[i]))
        fprintf(stderr, "mainhost: out of memory starting renderer '%s'\n", cfg->renderers[i].name);
    if (!H.quitting) mh_lipc_app_event(H.L, "ready", 0, 0);
  }
  if (!H.stopped) uv_run(H.loop, UV_RUN_DEFAULT);
  int code = H.exit_code;
  shutdown_host();
  return code;
}

/* ---- test mode: `mainhost test` --------------------------------------------------------- */

lua_State *mh_host_test_open(mh_config_t *cfg) {
  if (host_setup(cfg) != 0) return NULL;
  return H.L;  /* 'ready' comes with each t.load, as after a main script */
}

int mh_host_name_taken(const char *name) {
  for (size_t i = 0; i < H.nids; i++)
    if (H.byid[i] && !strcmp(H.byid[i]->name, name)) return 1;
  return 0;
}

mh_renderer_t *mh_host_attach(const char *name, int fd) {
  if (grow_ids() != 0) return NULL;
  mh_renderer_t *r = calloc(1, sizeof *r);
  if (!r || !(r->name = strdup(name))) {
    free(r);
    return NULL;
  }
  r->wc_ref = r->counts_ref = LUA_NOREF;
  r->evmt_ref[0] = r->evmt_ref[1] = r->evmt_ref[2] = LUA_NOREF;
  r->id = (int)++H.nids;
  H.byid[r->id - 1] = r;
  H.mem[r->id - 1] = r;
  H.live++;
  r->exited = 1;  /* no process: gone as soon as its socket ends */
  mh_pending_init(&r->pending);
  uv_timer_init(H.loop, &r->timer);
  r->timer.data = r;
  r->open_handles = 1;
  our_handles++;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  r->chan.data = r;
  r->chan.run_dispatch = mh_lipc_dispatch;
  if (mh_chan_open(&r->chan, &H.chans, fd, H.cfg->limits.max_message_bytes, mh_lipc_on_line,
                   chan_end) == 0) {
    r->chan.high_water = H.cfg->limits.max_queued_bytes;
    r->open_handles++;
    our_handles++;
    send_hello(r);
  } else {
    close(fd);
    r->chan_ended = 1;
  }
  mh_lipc_renderer_new(H.L, r);
  if (r->chan_ended) maybe_gone(r);
  return r;
}

void mh_host_test_reset(void) {
  H.quitting = H.exiting = H.stopped = H.signals = 0;
  H.exit_code = 0;
}
