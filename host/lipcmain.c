/* lipcmain.c: the main script's side of IPC: ipcMain, webContents, event
 * objects, invoke replies and the dispatch of every renderer message into
 * Lua. Only bindings live here: framing and processes are mh_host.c's and
 * mh_chan.c's, listener bookkeeping is mh_emitter.c's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lconv.h"
#include "lstate.h"
#include "mh_build.h"
#include "mh_emitter.h"
#include "mh_host.h"

#define H mh_host

#define WC_MT "mainhost.WebContents"
#define EVENT_MT "mainhost.IpcMainEvent"
#define SYNC_EVENT_MT "mainhost.IpcMainSyncEvent"
#define INVOKE_EVENT_MT "mainhost.IpcMainInvokeEvent"
#define REQ_MT "mainhost.Request"
#define EMITTER_MT "mainhost.IpcMain"

static mh_emitter_t *ipc_main;
static int ipc_main_ref = LUA_NOREF;  /* the ipcMain table */
static char MAIN_TOKEN;               /* the main script's token for the runner */
static char TOKEN_KEY;                /* event[&TOKEN_KEY]: a sync event's request */
static char FRAMES_KEY;               /* wc[&FRAMES_KEY]: frame objects by id */

/* A request awaiting its one reply (invoke or sendSync). Its user value is
 * the channel name. */
typedef struct mh_request {
  int rid;
  int kind;
  int done;
  int64_t id;
} mh_request_t;

static int max_depth(void) { return H.cfg ? H.cfg->limits.max_depth : MH_DEFAULT_MAX_DEPTH; }

static void release_ref(void *ud, int ref) { mh_unref((lua_State *)ud, ref); }

/* ---- writing to a renderer ---------------------------------------------------- */

/* Appends {"k":"msg","ch":...,"frame":F,"args":[...]} with the values at
 * first..last. Raises on a value that cannot be sent (nothing is queued
 * then). Returns 0, or -1 when the renderer's channel is closed. */
static int write_msg(lua_State *L, mh_renderer_t *r, const char *ch, size_t chn, int64_t frame,
                     int first, int last, int argbase) {
  mh_buf_t *b = mh_chan_out(&r->chan);
  if (!b) return -1;
  size_t mark = b->len;
  char err[400];
  int bad = mh_buf_put(b, "{\"k\":\"msg\",\"ch\":", 16) || mh_wire_put_string(b, ch, chn);
  if (!bad && frame != 1) {
    bad = mh_buf_put(b, ",\"frame\":", 9) || mh_wire_put_integer(b, frame);
  }
  bad = bad || mh_buf_put(b, ",\"args\":[", 9);
  if (!bad && mh_lconv_encode_args(L, first, last, argbase, "argument", b, max_depth(), err,
                                   sizeof err) != 0) {
    b->len = mark;
    return luaL_error(L, "%s", err);
  }
  if (bad || mh_buf_put(b, "]}\n", 3)) {
    b->len = mark;
    return luaL_error(L, "out of memory");
  }
  return 0;
}

/* {"k":"result","id":N,...}: always k and id first, so a blocked renderer
 * can find its reply by prefix. */
static void reply_head(mh_buf_t *b, int64_t id) {
  mh_buf_put(b, "{\"k\":\"result\",\"id\":", 19);
  mh_wire_put_integer(b, id);
}

static void reply_error(mh_renderer_t *r, int64_t id, const char *text, size_t n) {
  mh_buf_t *b = mh_chan_out(&r->chan);
  if (!b) return;
  reply_head(b, id);
  mh_buf_put(b, ",\"error\":", 9);
  mh_wire_put_string(b, text, n);
  mh_buf_put(b, "}\n", 2);
}

/* Replies with the values first..last. On a value that cannot be sent the
 * renderer gets the reason as an error, and so does the host's log. */
static void reply_values(lua_State *L, mh_renderer_t *r, int64_t id, const char *ch, int first,
                         int last) {
  mh_buf_t *b = mh_chan_out(&r->chan);
  if (!b) return;
  size_t mark = b->len;
  char err[400];
  reply_head(b, id);
  mh_buf_put(b, ",\"args\":[", 9);
  if (mh_lconv_encode_args(L, first, last, 1, "return value", b, max_depth(), err, sizeof err) != 0) {
    b->len = mark;
    fprintf(stderr, "mainhost: Error occurred in handler for '%s': %s\n", ch, err);
    char text[420];
    int n = snprintf(text, sizeof text, "Error: %s", err);
    reply_error(r, id, text, (size_t)n);
    return;
  }
  mh_buf_put(b, "]}\n", 3);
}

/* ---- error text as Electron passes it: the message only -------------------------- */

/* "main.lua:12: boom" -> "boom": the position is the host's business. */
static const char *strip_position(const char *s) {
  for (const char *p = s; *p && *p != '\n' && p - s < 512; p++) {
    if (*p != ':' || p[1] < '0' || p[1] > '9') continue;
    const char *q = p + 1;
    while (*q >= '0' && *q <= '9') q++;
    if (q[0] == ':' && q[1] == ' ') return q + 2;
  }
  return s;
}

/* Pushes the text a failed handler's error becomes for the renderer. */
static void push_error_text(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TSTRING:
      lua_pushfstring(L, "Error: %s", strip_position(lua_tostring(L, idx)));
      return;
    case LUA_TNUMBER:
      lua_pushstring(L, lua_tostring(L, idx));
      return;
    case LUA_TTABLE:
      if (lua_getfield(L, idx, "message") == LUA_TSTRING) {
        lua_pushfstring(L, "Error: %s", lua_tostring(L, -1));
        lua_remove(L, -2);
        return;
      }
      lua_pop(L, 1);
      /* fall through */
    default:
      if (luaL_callmeta(L, idx, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return;
      lua_pushfstring(L, "Error: (error object is a %s value)", luaL_typename(L, idx));
  }
}

/* ---- requests ------------------------------------------------------------------------ */

static mh_request_t *push_request(lua_State *L, mh_renderer_t *r, int64_t id, int kind, int ch_idx) {
  ch_idx = lua_absindex(L, ch_idx);
  mh_request_t *q = lua_newuserdatauv(L, sizeof *q, 1);
  q->rid = r->id;
  q->kind = kind;
  q->done = 0;
  q->id = id;
  luaL_setmetatable(L, REQ_MT);
  lua_pushvalue(L, ch_idx);
  lua_setiuservalue(L, -2, 1);
  return q;
}

/* Marks the request answered; returns its live renderer when this caller
 * is the one to send the reply, else NULL (already answered, or gone). */
static mh_renderer_t *request_take(mh_request_t *q) {
  if (q->done) return NULL;
  q->done = 1;
  mh_renderer_t *r = mh_host_renderer(q->rid);
  if (!r || !mh_pending_take(&r->pending, q->id)) return NULL;
  return r;
}

static int request_gc(lua_State *L) {
  mh_request_t *q = lua_touserdata(L, 1);
  if (q->done) return 0;
  lua_getiuservalue(L, 1, 1);
  const char *ch = lua_tostring(L, -1);
  mh_renderer_t *r = request_take(q);
  if (!r) return 0;
  static const char never[] = "reply was never sent";
  if (q->kind == MH_REQ_INVOKE)
    fprintf(stderr, "mainhost: the handler for '%s' was collected before it returned; "
            "renderer '%s' (id %d) gets \"%s\"\n", ch ? ch : "?", r->name, r->id, never);
  else
    fprintf(stderr, "mainhost: no listener set event.returnValue for sendSync('%s') from "
            "renderer '%s' (id %d); it gets \"%s\"\n", ch ? ch : "?", r->name, r->id, never);
  reply_error(r, q->id, never, sizeof never - 1);
  return 0;
}

/* ---- the runner's finisher ------------------------------------------------------------- */

/* finish(token, ok, results... | err, traceback) */
static int l_finish(lua_State *L) {
  int ok = lua_toboolean(L, 2);
  int t = lua_type(L, 1);
  if (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, 1) == &MAIN_TOKEN) {
    if (!ok) {
      mh_lstate_report(L, "error in the main script", lua_tostring(L, 4));
      mh_host_quit(1);
    }
    return 0;
  }
  if (t == LUA_TSTRING) {
    if (!ok) mh_lstate_report(L, lua_tostring(L, 1), lua_tostring(L, 4));
    return 0;
  }
  mh_request_t *q = luaL_testudata(L, 1, REQ_MT);
  if (!q) return 0;
  lua_getiuservalue(L, 1, 1);
  const char *ch = lua_tostring(L, -1);
  int top = lua_gettop(L) - 1;  /* the results end below the channel */
  if (!ok) {
    /* Electron logs the handler's error in main and sends only its text. */
    fprintf(stderr, "mainhost: Error occurred in handler for '%s': %s\n", ch,
            lua_tostring(L, 4) ? lua_tostring(L, 4) : "(error)");
    mh_renderer_t *r = request_take(q);
    if (!r) return 0;
    push_error_text(L, 3);
    size_t n;
    const char *text = lua_tolstring(L, -1, &n);
    reply_error(r, q->id, text, n);
    return 0;
  }
  mh_renderer_t *r = request_take(q);
  if (r) reply_values(L, r, q->id, ch, 3, top);
  return 0;
}

/* ---- events ------------------------------------------------------------------------------ */

static int reply_fn(lua_State *L) {
  int rid = (int)lua_tointeger(L, lua_upvalueindex(1));
  int64_t frame = lua_tointeger(L, lua_upvalueindex(2));
  size_t chn;
  const char *ch = luaL_checklstring(L, 1, &chn);
  mh_renderer_t *r = mh_host_renderer(rid);
  /* Electron: a reply to a renderer that is gone goes nowhere, silently. */
  if (!r) return 0;
  write_msg(L, r, ch, chn, frame, 2, lua_gettop(L), 2);
  return 0;
}

static int frame_send(lua_State *L);

static void push_frame(lua_State *L, int wc_idx, int rid, int64_t frame) {
  wc_idx = lua_absindex(L, wc_idx);
  lua_rawgetp(L, wc_idx, &FRAMES_KEY);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, wc_idx, &FRAMES_KEY);
  }
  if (lua_rawgeti(L, -1, frame) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, frame);
  lua_setfield(L, -2, "routingId");
  lua_getfield(L, wc_idx, "name");
  lua_setfield(L, -2, "name");
  mh_renderer_t *r = mh_host_renderer(rid);
  lua_pushinteger(L, r ? r->pid : 0);
  lua_setfield(L, -2, "processId");
  lua_pushinteger(L, r ? r->pid : 0);
  lua_setfield(L, -2, "osProcessId");
  lua_pushboolean(L, frame == 1);
  lua_setfield(L, -2, "isMainFrame");
  lua_pushinteger(L, rid);
  lua_pushinteger(L, frame);
  lua_pushcclosure(L, frame_send, 2);
  lua_setfield(L, -2, "send");
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, frame);
  lua_remove(L, -2);
}

static int frame_send(lua_State *L) {
  int rid = (int)lua_tointeger(L, lua_upvalueindex(1));
  int64_t frame = lua_tointeger(L, lua_upvalueindex(2));
  if (lua_type(L, 1) == LUA_TTABLE) lua_remove(L, 1);  /* frame:send(...) */
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_error(L, "Missing required channel argument");
  size_t chn;
  const char *ch = lua_tolstring(L, 1, &chn);
  mh_renderer_t *r = mh_host_renderer(rid);
  if (!r) {
    fprintf(stderr, "mainhost: Error sending from webFrameMain: Render frame was disposed\n");
    return 0;
  }
  write_msg(L, r, ch, chn, frame, 2, lua_gettop(L), 2);
  return 0;
}

/* __index of events: reply and senderFrame are made when first used. */
static int event_index(lua_State *L) {
  size_t n;
  const char *k = lua_tolstring(L, 2, &n);
  if (!k) return 0;
  int is_invoke = lua_getmetatable(L, 1) && (luaL_getmetatable(L, INVOKE_EVENT_MT), lua_rawequal(L, -1, -2));
  if (n == 5 && memcmp(k, "reply", 5) == 0 && !is_invoke) {
    lua_getfield(L, 1, "sender");
    lua_getfield(L, -1, "id");
    lua_getfield(L, 1, "frameId");
    lua_pushcclosure(L, reply_fn, 2);
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, "reply");
    return 1;
  }
  if (n == 11 && memcmp(k, "senderFrame", 11) == 0) {
    lua_getfield(L, 1, "sender");
    lua_getfield(L, -1, "id");
    int rid = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "frameId");
    int64_t frame = lua_tointeger(L, -1);
    lua_pop(L, 1);
    push_frame(L, -1, rid, frame);
    return 1;
  }
  return 0;
}

/* event.returnValue = v answers the blocked renderer; the first wins. */
static int sync_event_newindex(lua_State *L) {
  size_t n;
  const char *k = lua_tolstring(L, 2, &n);
  if (!(k && n == 11 && memcmp(k, "returnValue", 11) == 0)) {
    lua_rawset(L, 1);
    return 0;
  }
  lua_rawgetp(L, 1, &TOKEN_KEY);
  mh_request_t *q = luaL_testudata(L, -1, REQ_MT);
  if (!q || q->done) return 0;
  mh_renderer_t *r = mh_host_renderer(q->rid);
  if (!r || !mh_pending_take(&r->pending, q->id)) {
    q->done = 1;
    return 0;
  }
  /* Check the value first: a value that cannot be sent raises here and
   * leaves the request open for another assignment. */
  mh_buf_t *b = mh_chan_out(&r->chan);
  if (!b) {
    q->done = 1;
    return 0;
  }
  size_t mark = b->len;
  char err[400];
  reply_head(b, q->id);
  mh_buf_put(b, ",\"args\":[", 9);
  if (mh_lconv_encode_args(L, 3, 3, 1, "returnValue", b, max_depth(), err, sizeof err) != 0) {
    b->len = mark;
    mh_pending_add(&r->pending, q->id, MH_REQ_SYNC);
    return luaL_error(L, "%s", err);
  }
  mh_buf_put(b, "]}\n", 3);
  q->done = 1;
  return 0;
}

static void push_event(lua_State *L, mh_renderer_t *r, int64_t frame, const char *mt) {
  lua_createtable(L, 0, 5);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  lua_setfield(L, -2, "sender");
  lua_pushinteger(L, r->pid);
  lua_setfield(L, -2, "processId");
  lua_pushinteger(L, frame);
  lua_setfield(L, -2, "frameId");
  luaL_setmetatable(L, mt);
}

/* ---- the emitter as Lua methods ---------------------------------------------------------- */

/* Upvalue 1: the emitter's Lua table (for colon calls and chaining);
 * upvalue 2: the mh_emitter_t. `ipcMain.on(...)` and `ipcMain:on(...)` both
 * work: a first argument that is the table itself is dropped. */
static mh_emitter_t *self_emitter(lua_State *L) {
  if (lua_rawequal(L, 1, lua_upvalueindex(1))) lua_remove(L, 1);
  return lua_touserdata(L, lua_upvalueindex(2));
}

static int add_listener(lua_State *L, int once, int prepend) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = luaL_checklstring(L, 1, &n);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  uintptr_t key = (uintptr_t)lua_topointer(L, 2);
  lua_pushvalue(L, 2);
  int ref = mh_ref(L);
  if (mh_emitter_add(e, ch, n, ref, key, once, prepend) != 0) {
    mh_unref(L, ref);
    return luaL_error(L, "out of memory");
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  return 1;
}

static int m_on(lua_State *L) { return add_listener(L, 0, 0); }
static int m_once(lua_State *L) { return add_listener(L, 1, 0); }
static int m_prepend(lua_State *L) { return add_listener(L, 0, 1); }
static int m_prepend_once(lua_State *L) { return add_listener(L, 1, 1); }

static int m_remove_listener(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = luaL_checklstring(L, 1, &n);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int ref;
  if (mh_emitter_remove(e, ch, n, (uintptr_t)lua_topointer(L, 2), &ref)) mh_unref(L, ref);
  lua_pushvalue(L, lua_upvalueindex(1));
  return 1;
}

static int m_remove_all(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  if (lua_isnoneornil(L, 1)) {
    mh_emitter_remove_all(e, NULL, 0, release_ref, L);
  } else {
    size_t n;
    const char *ch = luaL_checklstring(L, 1, &n);
    mh_emitter_remove_all(e, ch, n, release_ref, L);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  return 1;
}

static int m_listener_count(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = luaL_checklstring(L, 1, &n);
  if (lua_isnoneornil(L, 2)) {
    lua_pushinteger(L, (lua_Integer)mh_emitter_count(e, ch, n));
    return 1;
  }
  /* Newer Node: count only this function. */
  luaL_checktype(L, 2, LUA_TFUNCTION);
  uintptr_t key = (uintptr_t)lua_topointer(L, 2);
  size_t cnt, hits = 0;
  const mh_listener_t *ls = mh_emitter_listeners(e, ch, n, &cnt);
  for (size_t i = 0; i < cnt; i++) hits += ls[i].key == key;
  lua_pushinteger(L, (lua_Integer)hits);
  return 1;
}

static int m_listeners(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  size_t n, cnt;
  const char *ch = luaL_checklstring(L, 1, &n);
  const mh_listener_t *ls = mh_emitter_listeners(e, ch, n, &cnt);
  lua_createtable(L, (int)cnt, 0);
  for (size_t i = 0; i < cnt; i++) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls[i].ref);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static void name_cb(void *ud, const char *ch, size_t n) {
  lua_State *L = ud;
  lua_pushlstring(L, ch, n);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

static int m_event_names(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  lua_newtable(L);
  mh_emitter_each_channel(e, name_cb, L);
  return 1;
}

static int set_handler(lua_State *L, int once) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = luaL_checklstring(L, 1, &n);
  int ref0, once0;
  /* Electron checks for a second handler before the type. */
  if (mh_emitter_get_handler(e, ch, n, &ref0, &once0))
    return luaL_error(L, "Attempted to register a second handler for '%s'", ch);
  if (lua_type(L, 2) != LUA_TFUNCTION)
    return luaL_error(L, "Expected handler to be a function, but found type '%s'", luaL_typename(L, 2));
  lua_pushvalue(L, 2);
  int ref = mh_ref(L);
  if (mh_emitter_set_handler(e, ch, n, ref, once) != 0) {
    mh_unref(L, ref);
    return luaL_error(L, "out of memory");
  }
  return 0;
}

static int m_handle(lua_State *L) { return set_handler(L, 0); }
static int m_handle_once(lua_State *L) { return set_handler(L, 1); }

static int m_remove_handler(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = luaL_checklstring(L, 1, &n);
  int ref;
  if (mh_emitter_remove_handler(e, ch, n, &ref)) mh_unref(L, ref);
  return 0;
}

static const luaL_Reg emitter_methods[] = {
    {"on", m_on},
    {"addListener", m_on},
    {"once", m_once},
    {"prependListener", m_prepend},
    {"prependOnceListener", m_prepend_once},
    {"off", m_remove_listener},
    {"removeListener", m_remove_listener},
    {"removeAllListeners", m_remove_all},
    {"listenerCount", m_listener_count},
    {"listeners", m_listeners},
    {"eventNames", m_event_names},
    {"handle", m_handle},
    {"handleOnce", m_handle_once},
    {"removeHandler", m_remove_handler},
    {NULL, NULL}};

/* Pushes a new emitter table with the methods bound to e. */
static void push_emitter(lua_State *L, mh_emitter_t *e, const char *mt) {
  lua_newtable(L);
  for (const luaL_Reg *f = emitter_methods; f->name; f++) {
    lua_pushvalue(L, -1);
    lua_pushlightuserdata(L, e);
    lua_pushcclosure(L, f->func, 2);
    lua_setfield(L, -2, f->name);
  }
  luaL_setmetatable(L, mt);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Calls every listener of ch with (event, args...), each in its own
 * coroutine, on a snapshot: a listener removed by an earlier one still runs
 * this time, and `once` listeners are retired before any runs. */
static size_t emit(lua_State *L, mh_emitter_t *e, const char *ch, size_t chn, int ch_idx,
                   int ev_idx, int first, int nargs) {
  size_t n;
  const mh_listener_t *ls = mh_emitter_listeners(e, ch, chn, &n);
  if (n == 0) return 0;
  luaL_checkstack(L, (int)n + nargs + 8, "too many listeners");
  int base = lua_gettop(L);
  int nonce = 0;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls[i].ref);
    nonce += ls[i].once;
  }
  if (nonce) {
    int *refs = malloc((size_t)nonce * sizeof *refs);
    if (refs) {
      int k = 0;
      for (size_t i = 0; i < n; i++)
        if (ls[i].once) refs[k++] = ls[i].ref;
      for (int i = 0; i < k; i++)
        if (mh_emitter_remove_ref(e, ch, chn, refs[i])) mh_unref(L, refs[i]);
      free(refs);
    }
  }
  for (size_t i = 0; i < n; i++) {
    lua_pushvalue(L, base + 1 + (int)i);
    lua_pushvalue(L, ch_idx);
    lua_pushvalue(L, ev_idx);
    for (int a = 0; a < nargs; a++) lua_pushvalue(L, first + a);
    mh_lstate_run(L, 2 + nargs);
  }
  lua_settop(L, base);
  return n;
}

static void refuse(mh_renderer_t *r, const char *why) {
  fprintf(stderr, "mainhost: renderer '%s' (id %d): refused a message: %s\n", r->name, r->id, why);
}

/* Runs inside a protected call: whatever a renderer sends (a million
 * arguments, memory running out) ends in an error for that message, never
 * in a panic of the host. */
static int l_on_line(lua_State *L) {
  mh_renderer_t *r = lua_touserdata(L, 1);
  const char *line = lua_touserdata(L, 2);
  size_t n = (size_t)lua_tointeger(L, 3);
  lua_settop(L, 0);
  int top = lua_gettop(L);
  mh_msg_t m;
  char err[256];
  if (mh_lconv_decode_msg(L, line, n, &H.scratch, max_depth(), &m, err, sizeof err) != 0) {
    refuse(r, err);
    return 0;
  }
  int ch_idx = top + 1, first = top + 3;
  size_t chn = 0;
  const char *ch = lua_tolstring(L, ch_idx, &chn);
  int64_t frame = m.has_frame ? m.frame : 1;
  switch (m.kind) {
    case MH_K_IGNORED:
      break;
    case MH_K_HELLO:
      r->loaded = 1;
      if (m.version > MH_PROTOCOL_VERSION)
        fprintf(stderr, "mainhost: renderer '%s' speaks protocol %" PRId64 ", this host %d\n", r->name,
                m.version, MH_PROTOCOL_VERSION);
      break;
    case MH_K_SEND:
    case MH_K_SYNC:
    case MH_K_INVOKE: {
      if (!ch) {
        refuse(r, "message has no \"ch\" (channel) field");
        break;
      }
      if (frame < 1) {
        refuse(r, "field \"frame\" must be 1 or more");
        break;
      }
      if (m.kind != MH_K_SEND) {
        if (!m.has_id) {
          refuse(r, "message has no \"id\" field");
          break;
        }
        int rc = mh_pending_add(&r->pending, m.id, m.kind == MH_K_SYNC ? MH_REQ_SYNC : MH_REQ_INVOKE);
        if (rc == -2) {
          snprintf(err, sizeof err, "id %" PRId64 " is already awaiting a reply", m.id);
          refuse(r, err);
          break;
        }
        if (rc != 0) {
          refuse(r, "out of memory");
          break;
        }
      }
      if (m.kind == MH_K_SEND) {
        push_event(L, r, frame, EVENT_MT);
        emit(L, ipc_main, ch, chn, ch_idx, lua_gettop(L), first, m.nargs);
      } else if (m.kind == MH_K_SYNC) {
        push_event(L, r, frame, SYNC_EVENT_MT);
        int ev = lua_gettop(L);
        push_request(L, r, m.id, MH_REQ_SYNC, ch_idx);
        lua_rawsetp(L, ev, &TOKEN_KEY);
        if (mh_emitter_count(ipc_main, ch, chn) == 0) {
          /* Electron warns and leaves the renderer blocked; we warn and
           * answer, so a typo in a channel name never hangs a renderer. */
          fprintf(stderr, "mainhost: WebContents #%d called ipcRenderer.sendSync() with '%s' "
                  "channel without listeners.\n", r->id, ch);
          lua_rawgetp(L, ev, &TOKEN_KEY);
          mh_request_t *q = lua_touserdata(L, -1);
          q->done = 1;
          mh_pending_take(&r->pending, m.id);
          lua_pushfstring(L, "No listener for '%s' in the main process", ch);
          size_t tn;
          const char *text = lua_tolstring(L, -1, &tn);
          reply_error(r, m.id, text, tn);
        } else {
          emit(L, ipc_main, ch, chn, ch_idx, ev, first, m.nargs);
        }
      } else {
        int ref, once;
        if (!mh_emitter_get_handler(ipc_main, ch, chn, &ref, &once)) {
          lua_pushfstring(L, "Error: No handler registered for '%s'", ch);
          fprintf(stderr, "mainhost: Error occurred in handler for '%s': %s\n", ch, lua_tostring(L, -1));
          size_t tn;
          const char *text = lua_tolstring(L, -1, &tn);
          mh_pending_take(&r->pending, m.id);
          reply_error(r, m.id, text, tn);
          break;
        }
        luaL_checkstack(L, m.nargs + 8, "too many arguments");
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        if (once) {
          int old;
          if (mh_emitter_remove_handler(ipc_main, ch, chn, &old)) mh_unref(L, old);
        }
        push_request(L, r, m.id, MH_REQ_INVOKE, ch_idx);
        push_event(L, r, frame, INVOKE_EVENT_MT);
        for (int a = 0; a < m.nargs; a++) lua_pushvalue(L, first + a);
        mh_lstate_run(L, 2 + m.nargs);
      }
      break;
    }
    default:
      refuse(r, "this kind of message goes from the host to renderers, not back");
      break;
  }
  lua_settop(L, top);
  return 0;
}

void mh_lipc_on_line(mh_chan_t *c, const char *line, size_t n) {
  mh_renderer_t *r = c->data;
  lua_State *L = H.L;
  if (H.quitting || !L || n == 0) return;
  lua_pushcfunction(L, l_on_line);
  lua_pushlightuserdata(L, r);
  lua_pushlightuserdata(L, (void *)line);
  lua_pushinteger(L, (lua_Integer)n);
  if (mh_lstate_pcall(L, 3, 0, "a message could not be handled") != LUA_OK)
    fprintf(stderr, "mainhost: (that message came from renderer '%s', id %d)\n", r->name, r->id);
}

/* ---- webContents ------------------------------------------------------------------------- */

static mh_renderer_t *wc_renderer(lua_State *L, int idx) {
  lua_getfield(L, idx, "id");
  int id = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return mh_host_renderer(id);
}

static int wc_send(lua_State *L) {
  int rid = (int)lua_tointeger(L, lua_upvalueindex(1));
  if (lua_type(L, 1) == LUA_TTABLE) lua_remove(L, 1);  /* wc:send(...) */
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_error(L, "Missing required channel argument");
  mh_renderer_t *r = mh_host_renderer(rid);
  if (!r) return luaL_error(L, "Object has been destroyed");
  size_t chn;
  const char *ch = lua_tolstring(L, 1, &chn);
  write_msg(L, r, ch, chn, 1, 2, lua_gettop(L), 2);
  return 0;
}

static int wc_is_destroyed(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushboolean(L, wc_renderer(L, 1) == NULL);
  return 1;
}

static int wc_os_pid(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "pid");
  return 1;
}

static int wc_tostring(lua_State *L) {
  lua_getfield(L, 1, "id");
  lua_getfield(L, 1, "name");
  lua_pushfstring(L, "WebContents %d (%s)", (int)lua_tointeger(L, -2), lua_tostring(L, -1));
  return 1;
}

void mh_lipc_renderer_new(lua_State *L, mh_renderer_t *r) {
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, r->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, r->name);
  lua_setfield(L, -2, "name");
  lua_pushinteger(L, r->pid);
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, r->id);
  lua_pushcclosure(L, wc_send, 1);
  lua_setfield(L, -2, "send");
  luaL_setmetatable(L, WC_MT);
  r->wc_ref = mh_ref(L);
}

void mh_lipc_renderer_gone(lua_State *L, mh_renderer_t *r) {
  mh_unref(L, r->wc_ref);
  r->wc_ref = LUA_NOREF;
}

typedef struct fail_ctx {
  mh_renderer_t *r;
  const char *why;
} fail_ctx_t;

static void fail_cb(void *ud, int64_t id, mh_req_kind_t kind) {
  (void)kind;
  fail_ctx_t *f = ud;
  reply_error(f->r, id, f->why, strlen(f->why));
}

void mh_lipc_fail_pending(lua_State *L, mh_renderer_t *r, const char *why) {
  (void)L;
  fail_ctx_t f = {r, why};
  mh_pending_each(&r->pending, fail_cb, &f);
  mh_pending_close(&r->pending);
  mh_pending_init(&r->pending);
}

static int l_get_all(lua_State *L) {
  lua_newtable(L);
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (!r || r->wc_ref == LUA_NOREF) continue;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  }
  return 1;
}

static int l_from_id(lua_State *L) {
  mh_renderer_t *r = mh_host_renderer((int)luaL_checkinteger(L, 1));
  if (!r || r->wc_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  return 1;
}

static int l_quit(lua_State *L) {
  lua_Integer code = luaL_optinteger(L, 1, 0);
  if (lua_type(L, 1) == LUA_TTABLE) code = luaL_optinteger(L, 2, 0);  /* app:quit() */
  mh_host_quit((int)code);
  return 0;
}

/* ---- the module ------------------------------------------------------------------------------ */

static int open_host_module(lua_State *L) {
  lua_newtable(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ipc_main_ref);
  lua_setfield(L, -2, "ipcMain");

  lua_newtable(L);
  lua_pushcfunction(L, l_get_all);
  lua_setfield(L, -2, "getAllWebContents");
  lua_pushcfunction(L, l_from_id);
  lua_setfield(L, -2, "fromId");
  lua_setfield(L, -2, "webContents");

  lua_newtable(L);
  lua_pushcfunction(L, l_quit);
  lua_setfield(L, -2, "quit");
  lua_setfield(L, -2, "app");

  mh_lconv_push_null(L);
  lua_setfield(L, -2, "null");
  lua_newtable(L);
  lua_pushcfunction(L, mh_lconv_l_encode);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, mh_lconv_l_decode);
  lua_setfield(L, -2, "decode");
  lua_setfield(L, -2, "json");
  lua_pushstring(L, MH_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, MH_PROTOCOL_VERSION);
  lua_setfield(L, -2, "protocolVersion");
  return 1;
}

void mh_lipc_run_main(lua_State *L) {
  lua_pushlightuserdata(L, &MAIN_TOKEN);
  mh_lstate_run(L, 1);
}

void mh_lipc_open(lua_State *L) {
  luaL_newmetatable(L, REQ_MT);
  lua_pushcfunction(L, request_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_newmetatable(L, EVENT_MT);
  lua_pushcfunction(L, event_index);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, INVOKE_EVENT_MT);
  lua_pushcfunction(L, event_index);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, SYNC_EVENT_MT);
  lua_pushcfunction(L, event_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, sync_event_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);

  luaL_newmetatable(L, WC_MT);
  lua_newtable(L);
  lua_pushcfunction(L, wc_is_destroyed);
  lua_setfield(L, -2, "isDestroyed");
  lua_pushcfunction(L, wc_os_pid);
  lua_setfield(L, -2, "getOSProcessId");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, wc_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_newmetatable(L, EMITTER_MT);
  lua_pop(L, 1);

  ipc_main = mh_emitter_new();
  push_emitter(L, ipc_main, EMITTER_MT);
  ipc_main_ref = mh_ref(L);

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_host_module);
  lua_setfield(L, -2, "mainhost.host");
  lua_pop(L, 1);

  lua_pushcfunction(L, l_finish);
  mh_lstate_set_finisher(L);
}

void mh_lipc_close(lua_State *L) {
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (r && r->wc_ref != LUA_NOREF) mh_lipc_renderer_gone(L, r);
  }
  if (ipc_main) {
    mh_emitter_free(ipc_main, release_ref, L);
    ipc_main = NULL;
  }
  mh_unref(L, ipc_main_ref);
  ipc_main_ref = LUA_NOREF;
}
