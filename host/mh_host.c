/* mh_host.c: the main process's machinery: renderer processes (spawn with a
 * socketpair on fd 3, their output passed through with a name prefix, exit)
 * and the run of an app. This file owns the shutdown order: stop accepting
 * work, close and kill renderers, close our handles, close luv's handles,
 * drain the loop until uv_loop_close succeeds, release refs, lua_close. */
#include "mh_host.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lstate.h"
#include "mh_build.h"

extern char **environ;

mh_host_t mh_host;
#define H mh_host

#define QUIT_TERM_MS 2000  /* after the sockets close: SIGTERM */
#define QUIT_KILL_MS 3000  /* after SIGTERM: SIGKILL */

static int live_procs;     /* renderer processes not yet reaped */
static int our_handles;    /* our own handles not yet closed */

static void maybe_stop(void) {
  if (H.quitting && live_procs == 0 && !H.stopped) {
    H.stopped = 1;
    uv_stop(H.loop);
  }
}

/* ---- renderer memory ---------------------------------------------------- */

static void renderer_free(mh_renderer_t *r) {
  if (r->id > 0 && (size_t)r->id <= H.nids && H.byid[r->id - 1] == r) H.byid[r->id - 1] = NULL;
  mh_buf_free(&r->out.partial);
  mh_buf_free(&r->err.partial);
  mh_pending_close(&r->pending);
  free(r->name);
  free(r);
}

static void handle_closed(uv_handle_t *h) {
  mh_renderer_t *r = h->data;
  our_handles--;
  if (--r->open_handles == 0) renderer_free(r);
}

static void chan_closed(mh_chan_t *c) {
  mh_renderer_t *r = c->data;
  our_handles--;
  if (--r->open_handles == 0) renderer_free(r);
}

mh_renderer_t *mh_host_renderer(int id) {
  if (id < 1 || (size_t)id > H.nids) return NULL;
  return H.byid[id - 1];
}

/* Gone for the main script once the process is reaped and the socket is
 * done: every message it sent before exiting has been handled by then. */
static void maybe_gone(mh_renderer_t *r) {
  if (r->gone_reported || !r->exited || !r->chan_ended) return;
  r->gone_reported = 1;
  if (H.L) mh_lipc_renderer_gone(H.L, r);
  H.byid[r->id - 1] = NULL;
}

static void chan_end(mh_chan_t *c, int status) {
  mh_renderer_t *r = c->data;
  if (status == MH_CHAN_EOVERSIZE) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d): a message was longer than the limit "
            "(%zu bytes); disconnected\n", r->name, r->id, H.cfg->limits.max_message_bytes);
  } else if (status == 0 && mh_framer_pending(&c->in) > 0) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d): its last message had no newline "
            "before the channel closed; ignored (%zu bytes)\n", r->name, r->id,
            mh_framer_pending(&c->in));
  } else if (status < 0 && status != UV_EOF && status != UV_ECONNRESET) {
    fprintf(stderr, "mainhost: renderer '%s' (id %d): channel error: %s\n", r->name, r->id,
            uv_strerror(status));
  }
  r->chan_ended = 1;
  mh_chan_close(c, chan_closed);
  maybe_gone(r);
}

/* ---- output passthrough ---------------------------------------------------- */

static char readbuf[64 * 1024];

static void out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  buf->base = readbuf;
  buf->len = sizeof readbuf;
}

static void emit_line(mh_renderer_t *r, mh_outlines_t *o, const char *p, size_t n) {
  FILE *f = o->is_err ? stderr : stdout;
  /* One fwrite per line so lines of different renderers never interleave. */
  mh_buf_t line = {0};
  size_t nl = strlen(r->name);
  if (mh_buf_reserve(&line, nl + 4 + o->partial.len + n) == 0) {
    mh_buf_putc(&line, '[');
    mh_buf_put(&line, r->name, nl);
    mh_buf_put(&line, "] ", 2);
    mh_buf_put(&line, o->partial.data, o->partial.len);
    mh_buf_put(&line, p, n);
    mh_buf_putc(&line, '\n');
    if (o->is_err) fflush(stdout);
    fwrite(line.data, 1, line.len, f);
    fflush(f);
  }
  mh_buf_free(&line);
  o->partial.len = 0;
}

static void out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  mh_outlines_t *o = (mh_outlines_t *)s;  /* the pipe is the first member */
  mh_renderer_t *r = s->data;
  if (nread > 0) {
    const char *p = buf->base, *end = buf->base + nread;
    while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      if (!nl) {
        mh_buf_put(&o->partial, p, (size_t)(end - p));
        break;
      }
      emit_line(r, o, p, (size_t)(nl - p));
      p = nl + 1;
    }
    return;
  }
  if (nread < 0) {
    if (o->partial.len) emit_line(r, o, "", 0);
    uv_close((uv_handle_t *)s, handle_closed);
  }
}

/* ---- processes --------------------------------------------------------------- */

static void proc_exit(uv_process_t *p, int64_t status, int sig) {
  mh_renderer_t *r = p->data;
  r->exited = 1;
  r->exit_status = status;
  r->term_signal = sig;
  live_procs--;
  uv_close((uv_handle_t *)p, handle_closed);
  if (!r->chan_ended && !r->chan.closing) {
    /* Messages written just before the exit are still in the socket. */
    mh_chan_drain(&r->chan);
    if (!r->chan_ended) chan_end(&r->chan, 0);
  }
  maybe_gone(r);
  maybe_stop();
}

static char *dupf(const char *fmt, const char *a, const char *b) {
  size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
  char *s = malloc(n);
  if (s) snprintf(s, n, fmt, a, b ? b : "");
  return s;
}

/* environ without the keys we set, then ours, then the config's. */
static char **build_env(const mh_renderer_conf_t *rc, int id) {
  char idbuf[32];
  snprintf(idbuf, sizeof idbuf, "%d", id);
  const char *fixed[] = {"MAINHOST_IPC_FD=3", "NODE_CHANNEL_FD=3",
                         "NODE_CHANNEL_SERIALIZATION_MODE=json"};
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
    int shadowed = (kl == 15 && !strncmp(e, "MAINHOST_IPC_FD", kl)) ||
                   (kl == 15 && !strncmp(e, "NODE_CHANNEL_FD", kl)) ||
                   (kl == 31 && !strncmp(e, "NODE_CHANNEL_SERIALIZATION_MODE", kl)) ||
                   (kl == 20 && !strncmp(e, "MAINHOST_RENDERER_ID", kl)) ||
                   (kl == 22 && !strncmp(e, "MAINHOST_RENDERER_NAME", kl));
    for (size_t j = 0; !shadowed && j < nconf; j++)
      if (!strncmp(rc->env[j], e, kl) && rc->env[j][kl] == '=') shadowed = 1;
    if (!shadowed) env[k++] = strdup(e);
  }
  for (size_t i = 0; i < 3; i++) env[k++] = strdup(fixed[i]);
  env[k++] = dupf("MAINHOST_RENDERER_ID=%s%s", idbuf, NULL);
  env[k++] = dupf("MAINHOST_RENDERER_NAME=%s%s", rc->name, NULL);
  for (size_t j = 0; j < nconf; j++) env[k++] = strdup(rc->env[j]);
  env[k] = NULL;
  return env;
}

static void free_strv(char **v) {
  if (!v) return;
  for (size_t i = 0; v[i]; i++) free(v[i]);
  free(v);
}

static int grow_ids(void) {
  if (H.nids < H.capids) return 0;
  size_t cap = H.capids ? H.capids * 2 : 16;
  mh_renderer_t **n = realloc(H.byid, cap * sizeof *n);
  if (!n) return -1;
  H.byid = n;
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

mh_renderer_t *mh_host_spawn(const mh_renderer_conf_t *rc, const char *dir, char *err,
                             size_t errlen) {
  (void)dir;
  if (grow_ids() != 0) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  mh_renderer_t *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  r->name = strdup(rc->name);
  r->wc_ref = LUA_NOREF;
  mh_pending_init(&r->pending);

  /* argv: a Lua renderer is this binary in renderer mode. */
  size_t nargs = 0, ncmd = 0;
  while (rc->args[nargs]) nargs++;
  if (rc->command)
    while (rc->command[ncmd]) ncmd++;
  const char **argv = calloc(ncmd + nargs + 4, sizeof *argv);
  char **env = build_env(rc, (int)H.nids + 1);
  int sv[2] = {-1, -1};
  if (!argv || !env || !r->name) {
    snprintf(err, errlen, "out of memory");
    goto error;
  }
  size_t k = 0;
  if (rc->script) {
    argv[k++] = mh_lstate_exe();
    argv[k++] = "--renderer";
    argv[k++] = rc->script;
  } else {
    for (size_t i = 0; i < ncmd; i++) argv[k++] = rc->command[i];
  }
  for (size_t i = 0; i < nargs; i++) argv[k++] = rc->args[i];
  argv[k] = NULL;

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    snprintf(err, errlen, "socketpair: %s", strerror(errno));
    goto error;
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
  int rcode = uv_spawn(H.loop, &r->proc, &opts);
  close(sv[1]);
  sv[1] = -1;
  r->open_handles = 3;  /* proc, out, err */
  our_handles += 3;
  if (rcode != 0) {
    snprintf(err, errlen, "cannot start '%s': %s", argv[0], uv_strerror(rcode));
    close(sv[0]);
    uv_close((uv_handle_t *)&r->proc, handle_closed);
    uv_close((uv_handle_t *)&r->out.pipe, handle_closed);
    uv_close((uv_handle_t *)&r->err.pipe, handle_closed);
    free(argv);
    free_strv(env);
    return NULL;
  }
  live_procs++;
  r->pid = r->proc.pid;
  r->id = (int)++H.nids;
  H.byid[r->id - 1] = r;
  free(argv);
  free_strv(env);
  argv = NULL;
  env = NULL;

  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  r->chan.data = r;
  if (mh_chan_open(&r->chan, &H.chans, sv[0], H.cfg->limits.max_message_bytes,
                   mh_lipc_on_line, chan_end) == 0) {
    r->open_handles++;
    our_handles++;
  } else {
    close(sv[0]);
    r->chan_ended = 1;
  }
  uv_read_start((uv_stream_t *)&r->out.pipe, out_alloc, out_read);
  uv_read_start((uv_stream_t *)&r->err.pipe, out_alloc, out_read);
  send_hello(r);
  mh_lipc_renderer_new(H.L, r);
  return r;

error:
  free(argv);
  free_strv(env);
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  renderer_free(r);
  return NULL;
}

/* ---- quitting ----------------------------------------------------------------- */

static void signal_all(int sig) {
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (r && !r->exited) uv_process_kill(&r->proc, sig);
  }
}

static void quit_timer_cb(uv_timer_t *t) {
  if (live_procs == 0) return;
  if (t->repeat == 0) {
    fprintf(stderr, "mainhost: %d renderer(s) still running %d ms after quit; sending SIGTERM\n",
            live_procs, QUIT_TERM_MS);
    signal_all(SIGTERM);
    uv_timer_start(t, quit_timer_cb, QUIT_KILL_MS, 1);
  } else {
    fprintf(stderr, "mainhost: sending SIGKILL to %d renderer(s) that ignored SIGTERM\n", live_procs);
    signal_all(SIGKILL);
    uv_timer_stop(t);
  }
}

void mh_host_quit(int code) {
  if (H.quitting) return;
  H.quitting = 1;
  H.exit_code = code;
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (!r) continue;
    if (H.L) mh_lipc_fail_pending(H.L, r, "reply was never sent (the main process is quitting)");
    if (!r->chan_ended && !r->chan.closing) {
      mh_chan_flush(&r->chan);
      r->chan_ended = 1;
      mh_chan_close(&r->chan, chan_closed);  /* the renderer sees EOF and exits */
    }
    maybe_gone(r);
  }
  if (live_procs > 0) {
    uv_timer_start(&H.quit_timer, quit_timer_cb, QUIT_TERM_MS, 0);
    uv_ref((uv_handle_t *)&H.quit_timer);
  }
  maybe_stop();
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  if (H.quitting) {
    /* A second ^C: do not wait for the grace period. */
    signal_all(SIGKILL);
    return;
  }
  mh_host_quit(128 + signum);
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
  H.quitting = 1;
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (!r) continue;
    if (!r->exited) uv_process_kill(&r->proc, SIGKILL);
    if (!r->chan_ended && !r->chan.closing) {
      r->chan_ended = 1;
      mh_chan_close(&r->chan, chan_closed);
    }
    maybe_gone(r);
  }
  /* 2. Wait for them to be reaped and their handles closed. */
  while (live_procs > 0) uv_run(H.loop, UV_RUN_ONCE);
  /* 3. Our own handles. */
  uv_close((uv_handle_t *)&H.quit_timer, our_closed);
  uv_close((uv_handle_t *)&H.sigint, our_closed);
  uv_close((uv_handle_t *)&H.sigterm, our_closed);
  mh_chan_group_close(&H.chans);
  while (our_handles > 0) uv_run(H.loop, UV_RUN_NOWAIT);
  /* 4. luv's, then drain until the loop can close. */
  if (H.L) close_luv_handles(H.L);
  while (uv_loop_close(H.loop) == UV_EBUSY) uv_run(H.loop, UV_RUN_DEFAULT);
  /* 5. Refs, then the state. */
  if (H.L) {
    mh_lipc_close(H.L);
    mh_lstate_close(H.L);
    H.L = NULL;
  }
  free(H.byid);
  H.byid = NULL;
  mh_buf_free(&H.scratch);
}

int mh_host_main(mh_config_t *cfg) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  memset(&H, 0, sizeof H);
  H.cfg = cfg;
  H.loop = uv_default_loop();
  mh_chan_group_init(&H.chans, H.loop);
  our_handles = 4; /* prepare (group), quit timer, two signals */
  uv_timer_init(H.loop, &H.quit_timer);
  uv_unref((uv_handle_t *)&H.quit_timer);
  uv_signal_init(H.loop, &H.sigint);
  uv_signal_init(H.loop, &H.sigterm);
  uv_signal_start(&H.sigint, on_signal, SIGINT);
  uv_signal_start(&H.sigterm, on_signal, SIGTERM);
  uv_unref((uv_handle_t *)&H.sigint);
  uv_unref((uv_handle_t *)&H.sigterm);
  /* The group's prepare handle is closed by mh_chan_group_close without a
   * callback of ours: count it as closed once that runs. */
  our_handles--;

  H.L = mh_lstate_open(H.loop);
  if (!H.L) {
    shutdown_host();
    return 1;
  }
  mh_lipc_open(H.L);

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
    for (size_t i = 0; i < cfg->nrenderers; i++) {
      char err[512];
      if (!mh_host_spawn(&cfg->renderers[i], cfg->dir, err, sizeof err))
        fprintf(stderr, "mainhost: renderer '%s' could not start: %s\n", cfg->renderers[i].name, err);
    }
  }
  if (!H.stopped) uv_run(H.loop, UV_RUN_DEFAULT);
  int code = H.exit_code;
  shutdown_host();
  return code;
}
