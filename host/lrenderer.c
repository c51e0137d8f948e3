/* lrenderer.c: `mainhost --renderer SCRIPT`: a Lua renderer process. It
 * connects to the host on MAINHOST_IPC_FD, runs the script in a coroutine
 * on a luv loop, and gives Lua the transport ("mainhost.channel") that
 * lua/mainhost/renderer.lua builds ipcRenderer on. It exits 0 when the
 * channel closes, so a renderer never outlives its host. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lconv.h"
#include "lstate.h"
#include "mh_build.h"
#include "mh_chan.h"
#include "mh_invoke.h"

static lua_State *RL;
static mh_chan_t chan;
static mh_chan_group_t group;
static int chan_open;
static int dispatch_ref = LUA_NOREF;
static mh_buf_t scratch;
static char MAIN_TOKEN;
static int max_depth = 200;
#define RENDERER_HIGH_WATER (1u << 20)

/* ---- invokes waiting in coroutines ------------------------------------------------
 * Slot i (from 1) holds a waiting coroutine and its channel, anchored at
 * waiting[2i-1] and waiting[2i] (the array part of one Lua table: no rehash
 * as ids grow); request ids map to slots through an id table whose kind
 * field carries the slot. Freed slots are reused first. */
typedef struct waiter {
  lua_State *co;
  const char *ch; /* anchored with it, for an error report */
} waiter_t;

static int waiting_ref = LUA_NOREF;
static waiter_t *waiters;   /* index slot - 1 */
static int *free_slots, nfree, nslots, cap_slots;
static mh_pending_t wait_ids;

/* Registers the running coroutine (on top of L's stack, popped) and the
 * channel at ch_idx as waiting for request id. */
static void waiter_add(lua_State *L, int64_t id, int ch_idx) {
  int slot;
  if (nfree > 0) {
    slot = free_slots[--nfree];
  } else {
    if (nslots == cap_slots) {
      int cap = cap_slots ? cap_slots * 2 : 16;
      waiter_t *w = realloc(waiters, (size_t)cap * sizeof *w);
      if (w) waiters = w;
      int *f = w ? realloc(free_slots, (size_t)cap * sizeof *f) : NULL;
      if (f) free_slots = f;
      if (!w || !f) luaL_error(L, "out of memory");
      cap_slots = cap;
    }
    slot = ++nslots;
  }
  if (mh_pending_put(&wait_ids, id, slot) != 0) {
    free_slots[nfree++] = slot;
    luaL_error(L, "out of memory");
  }
  waiters[slot - 1].co = lua_tothread(L, -1);
  waiters[slot - 1].ch = lua_tostring(L, ch_idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, waiting_ref);
  lua_rotate(L, -2, 1);
  lua_rawseti(L, -2, 2 * slot - 1);
  lua_pushvalue(L, ch_idx);
  lua_rawseti(L, -2, 2 * slot);
  lua_pop(L, 1);
}

/* The slot's coroutine now waits on the channel at ch_idx (an invoke it
 * made in place): the name its error report gives. Anchored only when it
 * changed (a loop of invokes on one channel writes nothing). */
static void waiter_rename(lua_State *L, int slot, int ch_idx) {
  const char *ch = lua_tostring(L, ch_idx);
  if (waiters[slot - 1].ch == ch) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, waiting_ref);
  lua_pushvalue(L, ch_idx);
  lua_rawseti(L, -2, 2 * slot);
  lua_pop(L, 1);
  waiters[slot - 1].ch = ch;
}

static void waiter_release(lua_State *L, int slot) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, waiting_ref);
  lua_pushnil(L);
  lua_rawseti(L, -2, 2 * slot - 1);
  lua_pushnil(L);
  lua_rawseti(L, -2, 2 * slot);
  lua_pop(L, 1);
  waiters[slot - 1].co = NULL;
  waiters[slot - 1].ch = NULL;
  free_slots[nfree++] = slot;
}

/* A result for an invoke that waits in a coroutine: resume it with
 * (REPLY, err, values...). Stack: ch, err, values... (nvals in all),
 * popped. */
static char REPLY; /* the first value of a resume that brings a reply */
/* The coroutine resume_waiter is resuming, and its slot: an invoke it
 * makes next may wait in place (m_invoke). */
static lua_State *resumed_by_reply;
static int resumed_slot;
static void resume_waiter(lua_State *L, int64_t id, int nvals) {
  int base = lua_gettop(L) - nvals;
  /* The id is forgotten now; the slot stays anchored until waiter_release. */
  int slot = mh_pending_take(&wait_ids, id);
  if (slot <= 0) {  /* no invoke waits for it (its coroutine is gone): dropped */
    lua_settop(L, base);
    return;
  }
  lua_State *co = waiters[slot - 1].co;
  if (!lua_checkstack(co, nvals + 8)) {
    waiter_release(L, slot);
    luaL_error(L, "too many values for a coroutine");
  }
  lua_pushlightuserdata(co, &REPLY);
  lua_xmove(L, co, nvals - 1);  /* err, values... */
  lua_settop(L, base);          /* ch (nil for a result) */
  int nres;
  lua_State *outer = resumed_by_reply;
  int outer_slot = resumed_slot;
  resumed_by_reply = co;
  resumed_slot = slot;
  int st = lua_resume(co, L, nvals, &nres);
  resumed_by_reply = outer;
  resumed_slot = outer_slot;
  if (st == LUA_OK || st == LUA_YIELD) {
    lua_pop(co, nres);
  } else {
    luaL_traceback(L, co, lua_tostring(co, -1), 0);
    fprintf(stderr, "mainhost: error in a coroutine waiting on invoke('%s'): %s\n",
            waiters[slot - 1].ch ? waiters[slot - 1].ch : "?", lua_tostring(L, -1));
    lua_settop(L, base);
  }
  waiter_release(L, slot);
}

/* Runs inside the protected call of the whole read batch (run_dispatch). */
static void on_line(mh_chan_t *c, const char *line, size_t n) {
  (void)c;
  lua_State *L = RL;
  if (n == 0 || dispatch_ref == LUA_NOREF) return;
  int top = lua_gettop(L);
  mh_msg_t m;
  char err[256];
  if (mh_lconv_decode_msg(L, line, n, &scratch, max_depth, &m, err, sizeof err) != 0) {
    fprintf(stderr, "mainhost renderer: ignored a message from the host: %s\n", err);
    lua_settop(L, top);
    return;
  }
  if (m.kind == MH_K_RESULT && m.has_id) resume_waiter(L, m.id, 2 + m.nargs);
  if (m.kind != MH_K_MSG) {  /* a result (resumed its invoke above) or nothing of ours */
    lua_settop(L, top);
    return;
  }
  /* The values decoded above (ch, error, args...) go to the dispatch
   * function after the frame: dispatch(frame, ch, error, ...). */
  luaL_checkstack(L, 2, "dispatching a message");
  lua_rawgeti(L, LUA_REGISTRYINDEX, dispatch_ref);
  lua_pushinteger(L, m.has_frame ? m.frame : 1);
  lua_rotate(L, top + 1, 2);
  lua_call(L, 3 + m.nargs, 0);
}

/* Every line a read brought is handled inside one protected call: a
 * message too large for the Lua stack, or a listener's error, ends the
 * call at that message; the rest of the batch goes on in a new one. */
static void run_dispatch(mh_chan_t *c) {
  while (mh_lstate_chan_dispatch(RL, c, "error dispatching a message") != LUA_OK && !c->closing) {
  }
}

static void on_end(mh_chan_t *c, int status) {
  (void)c;
  if (status == MH_CHAN_EOVERSIZE)
    fprintf(stderr, "mainhost renderer: a message from the host was over the size limit\n");
  /* The host is gone or let us go: leave now, whatever else is pending. */
  fflush(stdout);
  fflush(stderr);
  exit(0);
}

/* ---- mainhost.channel ------------------------------------------------------------- */

static int check_open(lua_State *L) {
  if (!chan_open) return luaL_error(L, "IPC method called after context was released");
  return 0;
}

/* Appends {"k":kind,"ch":ch[,"id":id][,"frame":frame],"args":[...]} for
 * the values first..top; raises (nothing queued) when one cannot be sent. */
static void put_message(lua_State *L, const char *kind, size_t kn, const char *ch, size_t chn, int64_t id,
                        int64_t frame, int first) {
  check_open(L);
  mh_buf_t *b = mh_chan_out(&chan);
  if (!b) luaL_error(L, "IPC method called after context was released");
  size_t mark = b->len;
  char err[400];
  int bad = mh_buf_put(b, "{\"k\":\"", 6) || mh_buf_put(b, kind, kn) || mh_buf_put(b, "\",\"ch\":", 7) ||
            mh_wire_put_string(b, ch, chn);
  if (!bad && id >= 0) bad = mh_buf_put(b, ",\"id\":", 6) || mh_wire_put_integer(b, id);
  if (!bad && frame != 1) bad = mh_buf_put(b, ",\"frame\":", 9) || mh_wire_put_integer(b, frame);
  bad = bad || mh_buf_put(b, ",\"args\":[", 9);
  if (!bad && mh_lconv_encode_args(L, first, lua_gettop(L), 2, "argument", b, max_depth - 2, err, sizeof err) != 0) {
    b->len = mark;
    /* No position: it would name this function, not the caller's line. */
    lua_pushstring(L, err);
    lua_error(L);
  }
  if (bad || mh_buf_put(b, "]}\n", 3)) {
    b->len = mark;
    luaL_error(L, "out of memory");
  }
  /* A renderer that sends in a loop without yielding would otherwise queue
   * without bound: past the high-water mark it writes now and, if the host
   * is behind, waits for it (backpressure, as a blocking write would). */
  if (mh_chan_queued(&chan) >= RENDERER_HIGH_WATER && mh_chan_flush_blocking(&chan) != 0)
    on_end(&chan, UV_EPIPE);
}

typedef struct wait_ctx {
  char prefix[64];
  size_t plen;
  lua_State *L;
  int pushed;
} wait_ctx_t;

/* A wait for the reply to request id, whose values go onto L. */
static void wait_ctx_init(wait_ctx_t *w, lua_State *L, int64_t id) {
  w->plen = mh_wire_result_head(w->prefix, sizeof w->prefix, id);
  w->L = L;
  w->pushed = 0;
}

static int wait_match(void *ud, const char *l, size_t n) {
  wait_ctx_t *w = ud;
  return mh_wire_is_result(l, n, w->prefix, w->plen);
}

static void wait_got(void *ud, const char *l, size_t n) {
  wait_ctx_t *w = ud;
  lua_State *L = w->L;
  int top = lua_gettop(L);
  mh_msg_t m;
  char err[256];
  if (mh_lconv_decode_msg(L, l, n, &scratch, max_depth, &m, err, sizeof err) != 0) {
    fprintf(stderr, "mainhost renderer: ignored a message from the host: %s\n", err);
    return;
  }
  /* Stack: ch, err, args... -> err, args... */
  lua_remove(L, top + 1);
  w->pushed = lua_gettop(L) - top;
}

/* Blocks until the reply to request id; pushes err, values... and returns
 * their count. */
static int wait_for(lua_State *L, int64_t id) {
  check_open(L);
  wait_ctx_t w;
  wait_ctx_init(&w, L, id);
  int rc = mh_chan_flush_blocking(&chan);
  if (rc == 0) rc = mh_chan_wait(&chan, wait_match, wait_got, &w);
  if (rc != 0) {
    /* The host went away while we waited: nothing more can happen here. */
    on_end(&chan, rc);
  }
  /* Deferred messages are delivered when the loop runs next. */
  return w.pushed;
}

/* ---- ipcRenderer.send, sendSync and invoke ------------------------------------------
 * C closures over (frame id, the ipcRenderer object), so a call runs no Lua
 * of ours: obj.f(...) and obj:f(...) both work (a first argument that is
 * the object itself is dropped). */

static int64_t next_id; /* request ids, shared by sendSync and invoke */

static const char *method_channel(lua_State *L, const char *fname, size_t *n) {
  if (lua_rawequal(L, 1, lua_upvalueindex(2))) lua_remove(L, 1);
  if (lua_type(L, 1) != LUA_TSTRING)
    luaL_error(L, "bad argument #1 to '%s' (channel must be a string, got %s)", fname,
               lua_isnone(L, 1) ? "nil" : luaL_typename(L, 1));
  return lua_tolstring(L, 1, n);
}

/* Raises fmt(ch) .. err, with no position, as Electron's text has none. */
static int raise_reply_error(lua_State *L, const char *fmt, int ch_idx, int err_idx) {
  lua_pushfstring(L, fmt, lua_tostring(L, ch_idx));
  lua_pushvalue(L, err_idx);
  lua_concat(L, 2);
  return lua_error(L);
}

static int m_send(lua_State *L) {
  size_t chn;
  const char *ch = method_channel(L, "send", &chn);
  put_message(L, "send", 4, ch, chn, -1, lua_tointeger(L, lua_upvalueindex(1)), 2);
  return 0;
}

/* A reply's n values above the channel at 1 (err, values...): returns the
 * values, or raises fmt(ch) .. err. None (a reply that could not be read)
 * returns nothing. */
static int return_reply(lua_State *L, int n, const char *fmt) {
  if (n == 0) return 0;
  if (!lua_isnil(L, 2)) return raise_reply_error(L, fmt, 1, 2);
  return n - 1;
}

/* Blocks for the reply to id (the channel at 1, alone on the stack) and
 * returns its values, or raises fmt(ch) .. its error. */
static int block_for_reply(lua_State *L, int64_t id, const char *fmt) {
  return return_reply(L, wait_for(L, id), fmt);
}

static const char INVOKE_ERROR[] = "Error invoking remote method '%s': ";

/* Queues a request of this kind for method's channel and arguments (the
 * frame is upvalue 1) and leaves the channel alone on the stack; its id. */
static int64_t put_request(lua_State *L, const char *kind, size_t kn, const char *method) {
  size_t chn;
  const char *ch = method_channel(L, method, &chn);
  int64_t id = ++next_id;
  put_message(L, kind, kn, ch, chn, id, lua_tointeger(L, lua_upvalueindex(1)), 2);
  lua_settop(L, 1);
  return id;
}

static int m_send_sync(lua_State *L) {
  int64_t id = put_request(L, "sync", 4, "sendSync");
  return block_for_reply(L, id, "Error in sendSync for '%s': ");
}

/* Resumed by resume_waiter with (REPLY, err, values...) above ch. */
static int invoke_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  if (lua_type(L, 2) != LUA_TLIGHTUSERDATA || lua_touserdata(L, 2) != &REPLY) {
    lua_settop(L, 1);  /* a resume that is not ours: go on waiting */
    return lua_yieldk(L, 0, ctx, invoke_k);
  }
  if (!lua_isnil(L, 3)) return raise_reply_error(L, INVOKE_ERROR, 1, 3);
  return lua_gettop(L) - 3;
}

/* In a coroutine it yields (others go on meanwhile) until the reply
 * resumes it; elsewhere it blocks on the socket.
 * A coroutine that a reply resumed from the loop's wait, and that would
 * yield with nothing else to run, waits in place instead: in the loop of
 * invokes that most renderers are, a round trip is then one send and one
 * recv, without the switch to the loop and back (64 renderers: ~+10 %,
 * docs/benchmarks.md). Whatever else comes first (a message, another
 * invoke's reply), or anything else active in the loop, and it yields. */
static int m_invoke(lua_State *L) {
  int64_t id = put_request(L, "invoke", 6, "invoke");
  if (lua_pushthread(L) || !lua_isyieldable(L)) {
    lua_settop(L, 1);
    return block_for_reply(L, id, INVOKE_ERROR);
  }
  if (L == resumed_by_reply) {
    wait_ctx_t w;
    wait_ctx_init(&w, L, id);
    waiter_rename(L, resumed_slot, 1);  /* an error from here on is this invoke's */
    lua_pop(L, 1);  /* the thread */
    if (mh_chan_wait_in_place(&chan, wait_match, wait_got, &w) && w.pushed > 0)
      return return_reply(L, w.pushed, INVOKE_ERROR);
    /* Not in place; or a reply that could not be decoded (reported, and
     * ignored as the loop ignores one): it waits as usual. */
    lua_settop(L, 1);
    lua_pushthread(L);
  }
  waiter_add(L, id, 1);
  return lua_yieldk(L, 0, 0, invoke_k);
}

/* bind_methods(obj, frame_id): obj.send, obj.sendSync, obj.invoke. */
static int l_bind_methods(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer frame = luaL_checkinteger(L, 2);
  static const luaL_Reg fns[] = {{"send", m_send}, {"sendSync", m_send_sync}, {"invoke", m_invoke}, {NULL, NULL}};
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushinteger(L, frame);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, f->func, 2);
    lua_setfield(L, 1, f->name);
  }
  lua_settop(L, 1);
  return 1;
}

static int l_set_dispatch(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  if (dispatch_ref != LUA_NOREF) mh_unref(L, dispatch_ref);
  dispatch_ref = mh_ref(L);
  return 0;
}

/* finish(token, ok, ...) for the renderer's runner. */
static int l_finish(lua_State *L) {
  int ok = lua_toboolean(L, 2);
  if (ok) return 0;
  if (lua_type(L, 1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, 1) == &MAIN_TOKEN) {
    mh_lstate_report(L, "error in the renderer script", lua_tostring(L, 4));
    fflush(stdout);
    exit(1);
  }
  mh_lstate_report(L, lua_tostring(L, 1) ? lua_tostring(L, 1) : "error", lua_tostring(L, 4));
  return 0;
}

static int open_channel_module(lua_State *L) {
  static const luaL_Reg fns[] = {{"set_dispatch", l_set_dispatch},
                                 {"bind_methods", l_bind_methods},
                                 {"encode", mh_lconv_l_encode},
                                 {"decode", mh_lconv_l_decode},
                                 {NULL, NULL}};
  if (waiting_ref == LUA_NOREF) {
    lua_newtable(L);
    waiting_ref = mh_ref(L);
    mh_pending_init(&wait_ids);
  }
  luaL_newlib(L, fns);
  mh_lconv_push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}

static void open_fd(uv_loop_t *loop) {
  const char *s = getenv("MAINHOST_IPC_FD");
  if (!s || !*s) {
    fprintf(stderr, "mainhost --renderer: MAINHOST_IPC_FD is not set; this script runs "
            "without a host (ipcRenderer calls will fail)\n");
    return;
  }
  int fd = atoi(s);
  /* Our children must not inherit the channel unless they ask for it. */
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  mh_chan_group_init(&group, loop);
  chan.run_dispatch = run_dispatch;
  if (mh_chan_open(&chan, &group, fd, 0, on_line, on_end) != 0) {
    fprintf(stderr, "mainhost --renderer: fd %d is not a usable socket\n", fd);
    return;
  }
  mh_chan_set_blocking(&chan);  /* only the waits block: see the end of main */
  mh_chan_set_spin(&chan, mh_chan_env_spin_us());
  chan_open = 1;
}

/* luv's uv.run, as a script calls it to turn the loop itself: meanwhile
 * the channel is never waited on in recv() (the script may be polling with
 * "nowait" or "once", and would block, or not get control back). */
static int l_uv_run(lua_State *L) {
  mh_chan_t *w = group.waiter;
  mh_chan_group_set_waiter(&group, NULL);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  if (w && !w->closing) mh_chan_group_set_waiter(&group, w);
  if (rc != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

static void wrap_uv_run(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "luv") == LUA_TTABLE) {
    if (lua_getfield(L, -1, "run") == LUA_TFUNCTION) {
      lua_pushcclosure(L, l_uv_run, 1);
      lua_setfield(L, -2, "run");
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
}

/* os.exit() right after a send must not lose it. */
static void flush_at_exit(void) {
  if (chan_open && !chan.closing) mh_chan_flush_blocking(&chan);
  /* MAINHOST_COUNTERS (inherited from the host): how this renderer's loop
   * turned, how many of its waits were a blocking recv(), how many
   * invokes got their reply waiting in place (m_invoke), and how many waits
   * spun first and got their line while they did (mh_chan_set_spin). */
  if (chan_open && getenv("MAINHOST_COUNTERS"))
    fprintf(stderr, "mainhost renderer: at exit: %lu loop turns, %lu waits in recv, %lu invokes answered in place, "
            "%lu spins, %lu answered while spinning\n",
            group.turns, group.waits, group.in_place, group.spins, group.spin_hits);
}

/* Said once the script has loaded: the host's did-finish-load. */
static void say_hello(void) {
  if (!chan_open) return;
  mh_buf_t *b = mh_chan_out(&chan);
  char hello[96];
  int n = snprintf(hello, sizeof hello, "{\"k\":\"hello\",\"v\":%d,\"pid\":%d}\n", MH_PROTOCOL_VERSION,
                   (int)getpid());
  mh_buf_put(b, hello, (size_t)n);
}

/* math.random's seed from the kernel. Lua's own is the time and the
 * state's address, which renderers forked from the launcher in the same
 * second share (they share its layout). */
static void seed_random(lua_State *L) {
  lua_Integer s[2];
  if (getrandom(s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
    s[0] = (lua_Integer)uv_hrtime();
    s[1] = (lua_Integer)getpid();
  }
  lua_getglobal(L, "math");
  lua_getfield(L, -1, "randomseed");
  lua_pushinteger(L, s[0]);
  lua_pushinteger(L, s[1]);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
  lua_pop(L, 1);
}

int mh_renderer_main(int argc, char **argv) {
  /* argv: mainhost --renderer SCRIPT [ARGS...] */
  if (argc < 3) {
    fprintf(stderr, "usage: mainhost --renderer SCRIPT.lua [ARGS...]\n");
    return 2;
  }
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 0;  /* the host died before we armed it */
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);

  int depth = mh_wire_env_max_depth();  /* the host's limit, so both agree */
  if (depth > 2) max_depth = depth;
  uv_loop_t *loop = uv_default_loop();
  lua_State *L = mh_lstate_open(loop);
  if (!L) return 1;
  seed_random(L);
  RL = L;
  open_fd(loop);
  wrap_uv_run(L);

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_channel_module);
  lua_setfield(L, -2, "mainhost.channel");
  lua_pop(L, 1);
  mh_lstate_set_finisher(l_finish);

  /* arg, as lua5.4 sets it: arg[0] the script, arg[-1] the interpreter. */
  lua_createtable(L, argc, 2);
  lua_pushstring(L, argv[0]);
  lua_rawseti(L, -2, -2);
  lua_pushstring(L, argv[1]);
  lua_rawseti(L, -2, -1);
  for (int i = 2; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 2);
  }
  lua_setglobal(L, "arg");

  atexit(flush_at_exit);
  {
    /* The script's own directory first on package.path. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv[2]);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    mh_lstate_add_path(L, dir);
  }
  if (mh_lstate_load(L, argv[2]) != LUA_OK) {
    /* 127 before anything sent to the host: it reports launch-failed. */
    mh_lstate_report(L, "cannot load the renderer script", lua_tostring(L, -1));
    return 127;
  }
  say_hello();
  lua_pushlightuserdata(L, &MAIN_TOKEN);
  for (int i = 3; i < argc; i++) lua_pushstring(L, argv[i]);
  mh_lstate_run(L, 1 + (argc - 3));
  /* From here on, when the script has nothing else going on (no timer,
   * socket, child... of luv's), the loop waits for the host in a blocking
   * recv(). Not before: a top level that turns the loop itself
   * (uv.run("nowait")) must not block. */
  if (chan_open && chan.blocking) mh_chan_group_set_waiter(&group, &chan);
  uv_run(loop, UV_RUN_DEFAULT);
  fflush(stdout);
  return 0;
}
