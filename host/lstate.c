/* lstate.c: the process's one Lua state: creation, the protected call every
 * C-to-Lua call goes through, error reports, counted refs and the runner. */
#include "lstate.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include <luv/luv.h>

#include "lconv.h"
#include "mh_chan.h"
#include "mh_build.h"

static long live_refs;
static char exe_path[PATH_MAX];
static char lua_dir[PATH_MAX];

int mh_ref(lua_State *L) {
  live_refs++;
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void mh_unref(lua_State *L, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
  live_refs--;
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

long mh_live_refs(void) { return live_refs; }

const char *mh_lstate_exe(void) {
  if (!exe_path[0]) {
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n > 0) exe_path[n] = 0;
    else snprintf(exe_path, sizeof exe_path, "mainhost");
  }
  return exe_path;
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *mh_lstate_luadir(void) {
  if (lua_dir[0]) return lua_dir;
  const char *env = getenv("MAINHOST_LUA_DIR");
  if (env && *env) {
    snprintf(lua_dir, sizeof lua_dir, "%s", env);
    return lua_dir;
  }
  /* Installed: <prefix>/bin/mainhost next to <prefix>/share/mainhost/lua.
   * Built in a tree: the source's lua/ directory. */
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", mh_lstate_exe());
  char *slash = strrchr(buf, '/');
  if (slash) {
    *slash = 0;
    char cand[PATH_MAX + 32];
    snprintf(cand, sizeof cand, "%s/../share/mainhost/lua", buf);
    if (is_dir(cand) && realpath(cand, lua_dir)) return lua_dir;
  }
  if (is_dir(MH_INSTALL_LUA_DIR) && strstr(mh_lstate_exe(), "/bin/mainhost")) {
    snprintf(lua_dir, sizeof lua_dir, "%s", MH_INSTALL_LUA_DIR);
    return lua_dir;
  }
  snprintf(lua_dir, sizeof lua_dir, "%s", MH_SOURCE_LUA_DIR);
  return lua_dir;
}

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

void mh_lstate_report(lua_State *L, const char *context, const char *msg) {
  (void)L;
  fflush(stdout);
  fprintf(stderr, "mainhost: %s: %s\n", context, msg ? msg : "(no message)");
  fflush(stderr);
}

static int l_chan_dispatch(lua_State *L) {
  mh_chan_dispatch(lua_touserdata(L, 1));
  return 0;
}

int mh_lstate_chan_dispatch(lua_State *L, mh_chan_t *c, const char *context) {
  lua_pushcfunction(L, l_chan_dispatch);
  lua_pushlightuserdata(L, c);
  int rc = mh_lstate_pcall(L, 1, 0, context);
  if (rc != LUA_OK) mh_chan_dispatch_unwound(c);
  return rc;
}

int mh_lstate_pcall(lua_State *L, int nargs, int nres, const char *context) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, msgh);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nres, base);
  if (rc != LUA_OK) {
    mh_lstate_report(L, context, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_remove(L, base);
  return rc;
}

/* luv's callbacks go through here: an error in a timer or spawn callback is
 * reported and the loop goes on (luv's default would exit the process). */
static int luv_callback_pcall(lua_State *L, int nargs, int nresult, int flags) {
  (void)flags;
  int top = lua_gettop(L) - nargs - 1;
  int rc = mh_lstate_pcall(L, nargs, nresult, "error in a luv callback");
  if (rc != LUA_OK) return -rc;
  return nresult == LUA_MULTRET ? lua_gettop(L) - top : nresult;
}

void mh_lstate_add_path(lua_State *L, const char *dir) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
}

int mh_lstate_load(lua_State *L, const char *path) {
  return luaL_loadfilex(L, path, "t");
}

/* ---- the runner ------------------------------------------------------------------
 *
 * Every listener and handler runs in a coroutine of its own, so it may wait
 * while others go on. The coroutine's body is a C trampoline: it calls the
 * function under lua_pcallk and, when the function is done (at once, or
 * after whoever resumed it last let it finish), calls the finisher with
 * (token, ok, results... | err, traceback). A coroutine whose function
 * finished without waiting goes back to the pool, so the common case costs
 * a resume and no allocation. */

#define POOL_MAX 256

/* Idle threads: idle[0..npool-1]. The pool table anchors them: slot i + 1
 * holds anchored[i], written only when a different thread comes to rest
 * there, so a handler that finishes at once costs no table access. */
static int pool_ref = LUA_NOREF;
static lua_State *idle[POOL_MAX];
static lua_State *anchored[POOL_MAX];
static int npool;
static int nanchored;  /* anchored[nanchored..] were never written */
static int raw_running_ref = LUA_NOREF; /* the original coroutine.running */

/* A thread's extra space (lua_getextraspace) holds its "exposed" flag: set
 * once coroutine.running() has handed it to user code, which may resume it
 * later, so it must never be reused for someone else's job. */
#define EXPOSED(co) (*(unsigned char *)lua_getextraspace(co))

/* coroutine.running, noting each coroutine it hands out. */
static int l_running(lua_State *L) {
  int ismain = lua_pushthread(L);
  if (!ismain) EXPOSED(L) = 1;
  lua_pushboolean(L, ismain);
  return 2;
}
static char TRACEBACK_KEY;            /* registry[&TRACEBACK_KEY]: the last traceback */

/* The text of an error value at 1, for the log: a string as is, a number
 * as text, a table's string "message" (what the renderer gets, too), a
 * __tostring's string, or nil. Run protected: a field or __tostring may
 * raise. */
static int error_log_text(lua_State *L) {
  switch (lua_type(L, 1)) {
    case LUA_TSTRING:
      lua_settop(L, 1);
      return 1;
    case LUA_TNUMBER:
      lua_pushvalue(L, 1);  /* lua_tostring converts in place: a copy, so the error stays a number */
      lua_tostring(L, -1);
      return 1;
    case LUA_TTABLE:
      if (lua_getfield(L, 1, "message") == LUA_TSTRING) return 1;
      lua_pop(L, 1);
      /* fall through */
    default:
      if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
      return 0;
  }
}

/* Keeps the error as it is (a handler's reply needs the object) and puts
 * the traceback aside for the report. */
static int runner_msgh(lua_State *L) {
  const char *msg;
  lua_pushcfunction(L, error_log_text);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
  else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &TRACEBACK_KEY);
  lua_settop(L, 1);
  return 1;
}

/* Stack: msgh, token, then the function's results or its error. The
 * finisher, a C function, is called directly on this frame (no Lua call):
 * it sees token, ok, results... | err, traceback at 1... */
static lua_CFunction finisher;

static int trampoline_k(lua_State *co, int status, lua_KContext ctx) {
  (void)ctx;
  int ok = status == LUA_OK || status == LUA_YIELD;
  if (ok && lua_type(co, 2) == LUA_TSTRING) return 0;  /* a listener's results go nowhere */
  lua_remove(co, 1);  /* msgh */
  lua_pushboolean(co, ok);
  lua_insert(co, 2);
  if (!ok) {
    lua_rawgetp(co, LUA_REGISTRYINDEX, &TRACEBACK_KEY);
    lua_pushnil(co);
    lua_rawsetp(co, LUA_REGISTRYINDEX, &TRACEBACK_KEY);
  }
  luaL_checkstack(co, LUA_MINSTACK, "finishing a handler");
  if (finisher) finisher(co);
  return 0;
}

/* The coroutine's body: msgh, token, fn, args... (run() puts the message
 * handler first, so nothing here moves the stack). */
static int trampoline(lua_State *co) {
  int status = lua_pcallk(co, lua_gettop(co) - 3, LUA_MULTRET, 1, 0, trampoline_k);
  return trampoline_k(co, status, 0);
}

/* A thread that left the pool for good (it waits, it was exposed, or it
 * failed) must not stay anchored by the pool table: a handler waiting on
 * something that nobody can resume any more would never be collected, and
 * its request never answered "reply was never sent". Stale anchors are at
 * npool and above (a nested run may have moved this one); this runs only
 * when a thread leaves, never when one finishes at once. */
static void unanchor(lua_State *L, lua_State *co) {
  for (int i = npool; i < nanchored; i++) {
    if (anchored[i] != co) continue;
    lua_rawgeti(L, LUA_REGISTRYINDEX, pool_ref);
    lua_pushnil(L);
    lua_rawseti(L, -2, i + 1);
    lua_pop(L, 1);
    anchored[i] = NULL;
  }
}

/* Stack: token, fn, args... (nargs counts token and args). */
static void run(lua_State *L, int nargs) {
  int top0 = lua_gettop(L) - nargs - 1;  /* below the token */
  lua_State *co;
  int fresh = npool == 0;
  if (fresh) {
    co = lua_newthread(L);
    EXPOSED(co) = 0;
    lua_insert(L, top0 + 1);  /* keeps co alive during the resume */
  } else {
    co = idle[--npool];
  }
  if (!lua_checkstack(co, nargs + 16)) luaL_error(L, "too many arguments (%d) for a coroutine", nargs);
  /* co gets: trampoline, msgh, token, fn, args... */
  lua_pushcfunction(co, trampoline);
  lua_pushcfunction(co, runner_msgh);
  lua_xmove(L, co, nargs + 1);
  if (!fresh) {
    lua_pushthread(co);  /* keeps co alive during the resume */
    lua_xmove(co, L, 1);
  }
  int co_idx = top0 + 1;
  int nres, pooled = 0;
  int st = lua_resume(co, L, nargs + 2, &nres);
  if (st == LUA_OK) {
    lua_settop(co, 0);
    /* Reuse it only if no one holds it: a coroutine that code saw through
     * coroutine.running() may be resumed later, and must then be dead, not
     * someone else's job. */
    if (!EXPOSED(co) && npool < POOL_MAX) {  /* finished without waiting: reuse it */
      if (anchored[npool] != co) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, pool_ref);
        lua_pushvalue(L, co_idx);
        lua_rawseti(L, -2, npool + 1);
        anchored[npool] = co;
      }
      if (npool >= nanchored) nanchored = npool + 1;
      idle[npool++] = co;
      pooled = 1;
    }
  } else if (st == LUA_YIELD) {
    lua_pop(co, nres);  /* it waits; whoever resumes it owns it now */
  } else {
    mh_lstate_report(L, "internal error in the runner", lua_tostring(co, -1));
  }
  if (!fresh && !pooled) unanchor(L, co);
  lua_settop(L, top0);
}

/* fn, token, args... -> token, fn, args... */
static void swap_fn_token(lua_State *L, int nargs) {
  int fn = lua_gettop(L) - nargs;
  lua_pushvalue(L, fn);
  lua_copy(L, fn + 1, fn);
  lua_replace(L, fn + 1);
}

static int l_run(lua_State *L) {
  luaL_checkany(L, 2);
  swap_fn_token(L, lua_gettop(L) - 1);
  run(L, lua_gettop(L) - 1);
  return 0;
}

void mh_lstate_run(lua_State *L, int nargs) {
  lua_pushcfunction(L, l_run);
  lua_insert(L, -(nargs + 2));
  mh_lstate_pcall(L, nargs + 1, 0, "internal error in the runner");
}

void mh_lstate_run_raw(lua_State *L, int nargs) { run(L, nargs); }

void mh_lstate_set_finisher(lua_CFunction f) { finisher = f; }

/* "mainhost.runner" for Lua modules (the emitters): run(fn, token, ...). */
static int open_runner(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_run);
  lua_setfield(L, -2, "run");
  lua_rawgeti(L, LUA_REGISTRYINDEX, raw_running_ref);
  lua_setfield(L, -2, "running");  /* for our modules: does not mark */
  return 1;
}

static int open_state(lua_State *L) {
  uv_loop_t *loop = lua_touserdata(L, 1);
  /* Generational: each message leaves young garbage (its event, its
   * strings) that dies at once, the case this mode is made for. */
  lua_gc(L, LUA_GCGEN, 0, 0);
  luaL_openlibs(L);

  /* package.path: our modules first, so require("mainhost...") finds the
   * copy that matches this binary. */
  const char *dir = mh_lstate_luadir();
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);

  /* luv on our loop, registered as the module require("luv") returns, so
   * no second copy with its own loop can be loaded. */
  luv_set_loop(L, loop);
  luv_set_callback(L, luv_callback_pcall);
  luaL_requiref(L, "luv", luaopen_luv, 0);
  lua_pop(L, 1);

  lua_newtable(L);
  pool_ref = mh_ref(L);
  npool = nanchored = 0;
  memset(anchored, 0, sizeof anchored);
  /* coroutine.running marks what it hands out (see run()); our own modules
   * take the plain one from mainhost.runner (they resume what they keep). */
  lua_getglobal(L, "coroutine");
  lua_getfield(L, -1, "running");
  raw_running_ref = mh_ref(L);
  lua_pushcfunction(L, l_running);
  lua_setfield(L, -2, "running");
  lua_pop(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_runner);
  lua_setfield(L, -2, "mainhost.runner");
  lua_pop(L, 1);
  return 0;
}

lua_State *mh_lstate_open(uv_loop_t *loop) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  /* New threads copy the main thread's extra space, which starts as
   * garbage: clear it (it holds our flags, see EXPOSED). */
  memset(lua_getextraspace(L), 0, LUA_EXTRASPACE);
  lua_pushcfunction(L, open_state);
  lua_pushlightuserdata(L, loop);
  if (mh_lstate_pcall(L, 1, 0, "cannot start Lua") != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  return L;
}

void mh_lstate_close(lua_State *L) {
  mh_unref(L, pool_ref);
  mh_unref(L, raw_running_ref);
  pool_ref = raw_running_ref = LUA_NOREF;
  finisher = NULL;
  npool = nanchored = 0;
  memset(anchored, 0, sizeof anchored);
  lua_close(L);
}
