/* lstate.h: the process's one Lua state: its creation (standard libraries,
 * luv on our own loop, module paths), the one protected call with a
 * traceback, error reports, counted registry refs and the coroutine runner
 * that every listener and handler runs in. */
#ifndef MH_LSTATE_H
#define MH_LSTATE_H

#include <lua.h>
#include <uv.h>

/* Creates the state with luv bound to `loop` and the mainhost modules on
 * package.path. NULL when out of memory. */
lua_State *mh_lstate_open(uv_loop_t *loop);
void mh_lstate_close(lua_State *L);

/* Where the shipped Lua modules live (installed tree, else the source). */
const char *mh_lstate_luadir(void);
/* The absolute path of this executable (for spawning Lua renderers). */
const char *mh_lstate_exe(void);

/* Calls the function below nargs arguments with a traceback handler; an
 * error is reported once on stderr, prefixed by `context`, and popped.
 * Returns the lua_pcall status. [-(nargs+1), +(nres|0), -] */
int mh_lstate_pcall(lua_State *L, int nargs, int nres, const char *context);

/* Handles every line channel c holds (mh_chan_dispatch) inside one
 * protected call, as mh_lstate_pcall does. After an error (reported with
 * context) the channel can be dispatched again; the caller decides whether
 * to go on with the rest. Returns the lua_pcall status. */
struct mh_chan;
int mh_lstate_chan_dispatch(lua_State *L, struct mh_chan *c, const char *context);

/* Prints "mainhost: <context>: <message>" for the value at idx, which is a
 * message with its traceback already attached. */
void mh_lstate_report(lua_State *L, const char *context, const char *msg);

/* Puts dir's modules first on package.path (a script's own directory, so
 * its require finds its siblings wherever the host was started). */
void mh_lstate_add_path(lua_State *L, const char *dir);

/* Loads a script in text mode with chunk name "@path". Pushes the chunk
 * (LUA_OK) or an error message. [-0, +1, m] */
int mh_lstate_load(lua_State *L, const char *path);

/* Runs fn(...) in a pooled coroutine: the stack holds fn, token, args
 * (nargs counts token and args). `token` is either a string naming what
 * runs (for error reports) or a request userdata; when fn returns or
 * raises, the finisher set by mh_lstate_set_finisher is called as
 * finish(token, ok, results... | err, traceback) from inside the
 * coroutine. [-(nargs+1), +0, -] */
void mh_lstate_run(lua_State *L, int nargs);
/* The same without a protected call of its own, for callers already in
 * one (the listener's own errors are caught in its coroutine either way),
 * with token below fn: the stack holds token, fn, args (the order the
 * coroutine takes them in, so nothing is moved). [-(nargs+1), +0, -] */
void mh_lstate_run_raw(lua_State *L, int nargs);
/* Sets the finisher. It is called on the coroutine's own frame, with
 * token, ok, results... | err, traceback at indices 1...; what it returns
 * is ignored, and an error it raises ends the coroutine (reported by the
 * runner). */
void mh_lstate_set_finisher(lua_CFunction f);

/* Counted registry refs: every mh_ref has one mh_unref; the count must be
 * zero at shutdown. */
int mh_ref(lua_State *L);   /* [-1, +0, m] */
void mh_unref(lua_State *L, int ref);
long mh_live_refs(void);

#endif
