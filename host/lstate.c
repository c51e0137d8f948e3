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
#include "mh_build.h"

static long live_refs;
static int run_ref = LUA_NOREF;  /* mainhost.runner.run */
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

void mh_lstate_run(lua_State *L, int nargs) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, run_ref);
  lua_insert(L, -(nargs + 2));
  if (mh_lstate_pcall(L, nargs + 1, 2, "internal error in the runner") != LUA_OK) return;
  if (!lua_toboolean(L, -2)) mh_lstate_report(L, "internal error in the runner", lua_tostring(L, -1));
  lua_pop(L, 2);
}

void mh_lstate_run_raw(lua_State *L, int nargs) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, run_ref);
  lua_insert(L, -(nargs + 2));
  lua_call(L, nargs + 1, 2);
  if (!lua_toboolean(L, -2)) mh_lstate_report(L, "internal error in the runner", lua_tostring(L, -1));
  lua_pop(L, 2);
}

void mh_lstate_set_finisher(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "mainhost.runner");
  lua_getfield(L, -1, "set_finisher");
  lua_pushvalue(L, -4);
  lua_call(L, 1, 0);
  lua_pop(L, 3);
}

static int open_state(lua_State *L) {
  uv_loop_t *loop = lua_touserdata(L, 1);
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

  lua_getglobal(L, "require");
  lua_pushstring(L, "mainhost.runner");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "run");
  run_ref = mh_ref(L);
  lua_pop(L, 1);
  return 0;
}

lua_State *mh_lstate_open(uv_loop_t *loop) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  lua_pushcfunction(L, open_state);
  lua_pushlightuserdata(L, loop);
  if (mh_lstate_pcall(L, 1, 0, "cannot start Lua") != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  return L;
}

void mh_lstate_close(lua_State *L) {
  mh_unref(L, run_ref);
  run_ref = LUA_NOREF;
  lua_close(L);
}
