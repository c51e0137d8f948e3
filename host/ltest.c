/* ltest.c: `mainhost test`: busted runs inside this binary, on a host with
 * no app, so specs can load a main script and drive it with in-process
 * renderers ("mainhost.testhost", used by lua/mainhost/test.lua). A fake
 * renderer is a real socketpair: the host side is an ordinary renderer
 * channel, the test side is read and written here, so every message goes
 * through the same codec and dispatch as a real renderer's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lconv.h"
#include "lstate.h"
#include "mh_host.h"

#define FAKE_MT "mainhost.FakeRenderer"

typedef struct fake {
  int fd;            /* the test's end; -1 once closed */
  int rid;           /* the webContents id on the host side */
  mh_framer_t in;    /* lines the host wrote to us */
  uv_poll_t poll;    /* wakes the loop when the host writes */
} fake_t;

typedef struct fake_box {
  fake_t *f;
} fake_box_t;

static mh_buf_t scratch;
static uv_timer_t step_timer;
static int step_timer_open;

static void fake_freed(uv_handle_t *h) {
  fake_t *f = h->data;
  mh_framer_free(&f->in);
  free(f);
}

static void fake_close(fake_t *f) {
  if (f->fd < 0) return;
  uv_close((uv_handle_t *)&f->poll, fake_freed);
  close(f->fd);
  f->fd = -1;
}

static fake_t *check_fake(lua_State *L) {
  fake_box_t *b = luaL_checkudata(L, 1, FAKE_MT);
  if (!b->f || b->f->fd < 0) luaL_error(L, "attempt to use a closed fake renderer");
  return b->f;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;  /* reading happens in lines(); this only wakes the loop */
}

/* attach(name) -> fake, webContents. The name is made unique among the
 * renderers that are not gone (-2, -3, ...), as createRenderer does. */
static int l_attach(lua_State *L) {
  const char *base = luaL_checkstring(L, 1);
  const char *name = base;
  for (int k = 2; mh_host_name_taken(name); k++) name = lua_pushfstring(L, "%s-%d", base, k);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return luaL_error(L, "socketpair: %s", strerror(errno));
  fake_box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->f = NULL;
  luaL_setmetatable(L, FAKE_MT);
  fake_t *f = calloc(1, sizeof *f);
  if (!f) {
    close(sv[0]);
    close(sv[1]);
    return luaL_error(L, "out of memory");
  }
  f->fd = sv[1];
  fcntl(f->fd, F_SETFL, fcntl(f->fd, F_GETFL) | O_NONBLOCK);
  uv_poll_init_socket(mh_host.loop, &f->poll, f->fd);
  f->poll.data = f;
  uv_poll_start(&f->poll, UV_READABLE, on_readable);
  uv_unref((uv_handle_t *)&f->poll);
  b->f = f;
  mh_renderer_t *r = mh_host_attach(name, sv[0]);
  if (!r) return luaL_error(L, "out of memory");
  f->rid = r->id;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  return 2;
}

/* fake:write(bytes): all of it, waiting for room when the socket is full. */
static int l_write(lua_State *L) {
  fake_t *f = check_fake(L);
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  while (n > 0) {
    ssize_t w = send(f->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        /* The host reads only when its loop runs. */
        uv_run(mh_host.loop, UV_RUN_NOWAIT);
        struct pollfd pfd = {f->fd, POLLOUT, 0};
        poll(&pfd, 1, 10);
        continue;
      }
      return luaL_error(L, "write to the host: %s", strerror(errno));
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* fake:lines() -> { line, ... } that the host has written so far. */
static int l_lines(lua_State *L) {
  fake_t *f = check_fake(L);
  for (;;) {
    size_t avail;
    char *p = mh_framer_space(&f->in, 65536, &avail);
    if (!p) return luaL_error(L, "out of memory");
    ssize_t n = read(f->fd, p, avail);
    if (n > 0) {
      mh_framer_commit(&f->in, (size_t)n);
      continue;
    }
    break;  /* EAGAIN, EOF or an error: what we have is what there is */
  }
  lua_newtable(L);
  const char *line;
  size_t len;
  lua_Integer i = 0;
  while (mh_framer_next(&f->in, &line, &len) == 1) {
    lua_pushlstring(L, line, len);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static int l_close(lua_State *L) {
  fake_box_t *b = luaL_checkudata(L, 1, FAKE_MT);
  if (b->f) fake_close(b->f);
  b->f = NULL;
  return 0;
}

static int l_id(lua_State *L) {
  fake_t *f = check_fake(L);
  lua_pushinteger(L, f->rid);
  return 1;
}

static void step_cb(uv_timer_t *t) { (void)t; }

/* step(ms): one turn of the host's loop, at most ms long. */
static int l_step(lua_State *L) {
  lua_Integer ms = luaL_optinteger(L, 1, 10);
  if (ms <= 0) {
    /* A due timer would run first and the poll could then wait forever. */
    uv_run(mh_host.loop, UV_RUN_NOWAIT);
    return 0;
  }
  if (!step_timer_open) {
    uv_timer_init(mh_host.loop, &step_timer);
    step_timer_open = 1;
  }
  uv_timer_start(&step_timer, step_cb, (uint64_t)(ms < 0 ? 0 : ms), 0);
  uv_run(mh_host.loop, UV_RUN_ONCE);
  uv_timer_stop(&step_timer);
  return 0;
}

/* settle(fake): turns the loop until the host has read everything the fake
 * wrote (its listeners have run, or are waiting on something). */
static int l_settle(lua_State *L) {
  fake_t *f = check_fake(L);
  for (int guard = 0; guard < 100000; guard++) {
    mh_renderer_t *r = mh_host_renderer(f->rid);
    if (!r || r->chan_ended || r->chan.fd < 0) break;
    int n = 0;
    if (ioctl(r->chan.fd, FIONREAD, &n) != 0 || n == 0) break;
    uv_run(mh_host.loop, UV_RUN_NOWAIT);
  }
  uv_run(mh_host.loop, UV_RUN_NOWAIT);
  return 0;
}

/* decode(line) -> kind, id, frame, ch, err, args... (nil for a line that
 * is not a message) */
static int l_decode(lua_State *L) {
  size_t n;
  const char *line = luaL_checklstring(L, 1, &n);
  char err[256];
  lua_settop(L, 1);
  int k = mh_lconv_push_envelope(L, line, n, &scratch, 1000, err, sizeof err);
  if (k < 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  return k;
}

/* load(path): runs a main script as `mainhost APP` does (top level in the
 * runner; an error then, or later after a wait, quits with status 1), then
 * emits app 'ready'. Raises when the script cannot load or fails at once. */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (mh_lstate_load(L, path) != LUA_OK) return lua_error(L);
  mh_lipc_run_main(L);
  const char *failed = mh_lipc_main_failed();
  if (failed) {
    lua_pushstring(L, failed);
    return lua_error(L);
  }
  if (!mh_host.quitting) mh_lipc_app_event(L, "ready", 0, 0);
  return 0;
}

/* queued(fake) -> bytes the host still holds for this renderer plus bytes
 * waiting on the fake's socket. */
static int l_queued(lua_State *L) {
  fake_t *f = check_fake(L);
  size_t q = 0;
  mh_renderer_t *r = mh_host_renderer(f->rid);
  if (r && !r->chan.closing) q += mh_chan_queued(&r->chan);
  int n = 0;
  if (ioctl(f->fd, FIONREAD, &n) == 0 && n > 0) q += (size_t)n;
  lua_pushinteger(L, (lua_Integer)q);
  return 1;
}

/* reset(): no listeners or handlers, no quit in progress. */
static int l_reset(lua_State *L) {
  mh_lipc_test_reset(L);
  mh_host_test_reset();
  return 0;
}

static int l_quit_state(lua_State *L) {
  lua_pushboolean(L, mh_host.quitting || mh_host.stopped);
  lua_pushinteger(L, mh_host.exit_code);
  return 2;
}

static int fake_gc(lua_State *L) {
  fake_box_t *b = lua_touserdata(L, 1);
  if (b->f) fake_close(b->f);
  b->f = NULL;
  return 0;
}

int mh_ltest_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"write", l_write}, {"lines", l_lines}, {"close", l_close},
                                     {"id", l_id}, {NULL, NULL}};
  static const luaL_Reg fns[] = {{"attach", l_attach}, {"step", l_step}, {"settle", l_settle},
                                 {"decode", l_decode}, {"load", l_load}, {"queued", l_queued}, {"reset", l_reset},
                                 {"quit_state", l_quit_state}, {NULL, NULL}};
  if (luaL_newmetatable(L, FAKE_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, fake_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  return 1;
}
