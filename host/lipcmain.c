/* lipcmain.c: the main script's side of IPC: ipcMain, webContents, event
 * objects, invoke replies and the dispatch of every renderer message into
 * Lua. Only bindings live here: framing and processes are mh_host.c's and
 * mh_chan.c's, listener bookkeeping is mh_emitter.c's. */
#include <ctype.h>
#include <errno.h>
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
#include "mh_trace.h"

#define H mh_host

#define WC_MT "mainhost.WebContents"
#define EVENT_MT "mainhost.IpcMainEvent"
#define SYNC_EVENT_MT "mainhost.IpcMainSyncEvent"
#define INVOKE_EVENT_MT "mainhost.IpcMainInvokeEvent"
#define REQ_MT "mainhost.Request"
#define EMITTER_MT "mainhost.IpcMain"
#define EMITTER_BOX_MT "mainhost.EmitterBox"

static mh_emitter_t *ipc_main;
static int ipc_main_ref = LUA_NOREF;  /* the ipcMain table */
static char MAIN_TOKEN;               /* the main script's token for the runner */
static int main_failed;               /* the main script raised (test mode asks) */
static char main_error[512];          /* and what it raised */
static char TOKEN_KEY;                /* event[&TOKEN_KEY]: a sync event's request */
static char FRAMES_KEY;               /* wc[&FRAMES_KEY]: frame objects by id (weak) */

/* A request awaiting its one reply (invoke or sendSync). Its user value is
 * the channel name. */
typedef struct mh_request {
  int rid;
  int kind;
  int done;
  int64_t id;
} mh_request_t;

/* Strings and metatables used on every message, kept as refs so nothing
 * on the per-message path is looked up by name (see cache_open). */
enum { K_SENDER, K_PROCESS_ID, K_FRAME_ID, K_IPC_MESSAGE, K_IPC_MESSAGE_SYNC, K_EVENT_MT, K_SYNC_MT,
       K_INVOKE_MT, K_REQ_MT, K_REQ_PLAIN_MT, K_COUNT };
static int cached[K_COUNT] = {LUA_NOREF, LUA_NOREF, LUA_NOREF, LUA_NOREF, LUA_NOREF,
                              LUA_NOREF, LUA_NOREF, LUA_NOREF, LUA_NOREF, LUA_NOREF};

static mh_request_t *spare_q;  /* the reused invoke request (see push_request) */

/* The request at idx, or NULL when it is not one. [-0, +0, -] */
static struct mh_request *to_request(lua_State *L, int idx) {
  void *p = lua_touserdata(L, idx);
  if (p && p == spare_q) return spare_q;  /* the reused invoke request, known by its address */
  if (!p || !lua_getmetatable(L, idx)) return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, cached[K_REQ_PLAIN_MT]);
  int ok = lua_rawequal(L, -1, -2);
  if (!ok) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, cached[K_REQ_MT]);
    ok = lua_rawequal(L, -1, -3);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return ok ? p : NULL;
}

static int max_depth(void) { return H.cfg ? H.cfg->limits.max_depth : MH_DEFAULT_MAX_DEPTH; }
/* Values we send sit two levels down (the message object, its args array),
 * so a receiver with the same limit can read what we write. */
static int send_depth(void) { return max_depth() - 2; }

static int emitter_mixin_ref = LUA_NOREF;  /* mainhost.emitter.mixin */
static int emitter_event_ref = LUA_NOREF;  /* mainhost.emitter.event */
static int app_ref = LUA_NOREF;            /* the app object */
static int app_counts_ref = LUA_NOREF;     /* its emitter's _listenerCounts */
static int app_ready;

/* Takes a request id out of the renderer's table; its kind, or 0. */
static int take_pending(mh_renderer_t *r, int64_t id) {
  int kind = mh_pending_take(&r->pending, id);
  if (kind == MH_REQ_SYNC) r->pending_sync--;
  if (kind && r->half_closed) mh_host_answered(r);
  return kind;
}

static void release_ref(void *ud, int ref) { mh_unref((lua_State *)ud, ref); }

/* Text a renderer chose (a channel, a kind) as it may go into our log: at
 * most 120 bytes, control bytes shown as \xNN, so no renderer can forge a
 * log line. buf must hold 4 * 120 + 8 bytes. */
#define LOGSAFE_MAX 120
static const char *logsafe(const char *s, char *buf, size_t max) {
  size_t o = 0, i = 0;
  if (!s) return "";
  for (; s[i] && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) o += (size_t)sprintf(buf + o, "\\x%02x", c);
    else buf[o++] = (char)c;
  }
  if (s[i]) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = 0;
  return buf;
}
#define SAFE(s) logsafe((s), (char[4 * LOGSAFE_MAX + 8]){0}, LOGSAFE_MAX)

static void trace_out(mh_renderer_t *r, const char *kind, const char *ch, size_t chn, int64_t frame,
                      int64_t id, size_t line_len, int error) {
  /* The trace counts a line's bytes without its newline. */
  mh_trace_rec_t t = {"out", r->id, r->name, frame, kind, ch, chn, line_len - 1, id, error};
  mh_trace_write(&t);
}

/* ---- writing to a renderer ---------------------------------------------------- */

/* Appends {"k":"msg","ch":...,"frame":F,"args":[...]} with the values at
 * first..last. Raises on a value that cannot be sent (nothing is queued
 * then). Returns 0, or -1 when the renderer's channel is closed. */
static int write_msg(lua_State *L, mh_renderer_t *r, const char *ch, size_t chn, int64_t frame,
                     int first, int last, int argbase) {
  size_t limit = H.cfg->limits.max_queued_bytes, queued = mh_chan_queued(&r->chan);
  if (queued >= (1u << 20)) {
    mh_chan_flush(&r->chan);  /* a burst in one turn: hand the kernel what it takes */
    queued = mh_chan_queued(&r->chan);
  }
  if (queued >= limit) {
    /* A renderer that does not read must not grow the host: drop, and say so
     * once per episode. */
    if (!r->queue_full)
      fprintf(stderr, "mainhost: renderer '%s' (id %d) is not reading: %zu bytes queued (limit "
              "%zu); messages to it are dropped until it catches up\n", r->name, r->id, queued, limit);
    r->queue_full = 1;
    return -1;
  }
  if (r->queue_full && queued < limit / 2) r->queue_full = 0;
  mh_buf_t *b = mh_chan_out(&r->chan);
  if (!b) return -1;
  size_t mark = b->len;
  char err[400];
  int bad = mh_buf_put(b, MH_WIRE_HEAD("msg"), sizeof MH_WIRE_HEAD("msg") - 1) || mh_wire_put_string(b, ch, chn);
  if (!bad && frame != 1) {
    bad = mh_buf_put(b, ",\"frame\":", 9) || mh_wire_put_integer(b, frame);
  }
  bad = bad || mh_buf_put(b, ",\"args\":[", 9);
  if (!bad && mh_lconv_encode_args(L, first, last, argbase, "argument", b, send_depth(), err,
                                   sizeof err) != 0) {
    b->len = mark;
    return luaL_error(L, "%s", err);
  }
  if (bad || mh_buf_put(b, "]}\n", 3)) {
    b->len = mark;
    return luaL_error(L, "out of memory");
  }
  if (mh_trace_fp) trace_out(r, "msg", ch, chn, frame, -1, b->len - mark, 0);
  return 0;
}

/* {"k":"result","id":N,...}: always k and id first, so a blocked renderer
 * can find its reply by prefix. */
static void reply_head(mh_buf_t *b, int64_t id) {
  char head[48];
  mh_buf_put(b, head, mh_wire_result_head(head, sizeof head, id));
}

static void reply_error(mh_renderer_t *r, int64_t id, const char *text, size_t n) {
  mh_buf_t *b = mh_chan_out(&r->chan);
  if (!b) return;
  size_t mark = b->len;
  reply_head(b, id);
  mh_buf_put(b, ",\"error\":", 9);
  mh_wire_put_string(b, text, n);
  mh_buf_put(b, "}\n", 2);
  if (mh_trace_fp) trace_out(r, "result", NULL, 0, 1, id, b->len - mark, 1);
}

/* Answers request id with "Error: " what err (a request refused before any
 * handler saw it). */
static void reply_refused(mh_renderer_t *r, int64_t id, const char *what, const char *err) {
  char text[384];
  int n = snprintf(text, sizeof text, "Error: %s%s", what, err);
  reply_error(r, id, text, n < (int)sizeof text ? (size_t)n : sizeof text - 1);
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
  if (mh_lconv_encode_args(L, first, last, 1, "return value", b, send_depth(), err, sizeof err) != 0) {
    b->len = mark;
    fprintf(stderr, "mainhost: Error occurred in handler for '%s': %s\n", SAFE(ch), err);
    char text[420];
    int n = snprintf(text, sizeof text, "Error: %s", err);
    reply_error(r, id, text, (size_t)n);
    return;
  }
  mh_buf_put(b, "]}\n", 3);
  if (mh_trace_fp) trace_out(r, "result", NULL, 0, 1, id, b->len - mark, 0);
}

/* ---- error text as Electron passes it: the message only -------------------------- */

/* "main.lua:12: boom" -> "boom": the position is the host's business. Only
 * a position Lua put first is removed: its chunk name (at most LUA_IDSIZE
 * bytes, no ": " in it) ends in ".lua", is [string "..."], or is a path
 * (a '/', no spaces). A message raised without one ("save to
 * 10.0.0.5:8080: failed", "localhost:5432: refused", or one that quotes
 * another error after its own text) reaches the renderer whole. */
static const char *strip_position(const char *s) {
  int spaces = 0, slash = 0;
  for (const char *p = s; *p && *p != '\n' && p - s <= LUA_IDSIZE; p++) {
    if (*p == ' ') spaces = 1;
    if (*p == '/') slash = 1;
    if (*p != ':') continue;
    if (p[1] == ' ') return s;  /* text before any position: a message */
    if (p[1] < '0' || p[1] > '9') continue;
    const char *q = p + 1;
    while (*q >= '0' && *q <= '9') q++;
    if (q[0] != ':' || q[1] != ' ') continue;
    int chunk = (p - s >= 4 && !memcmp(p - 4, ".lua", 4)) || !strncmp(s, "[string \"", 9) || (slash && !spaces);
    return chunk ? q + 2 : s;
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

static int l_error_text(lua_State *L) {
  push_error_text(L, 1);
  return 1;
}

/* The same, protected: an error object whose fields or __tostring raise
 * gets a fixed text, so its request is still answered. */
static void push_error_text_safe(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, l_error_text);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushfstring(L, "Error: (a %s error object whose text could not be read)", luaL_typename(L, idx));
  }
}

/* ---- requests ------------------------------------------------------------------------ */

/* One invoke request is kept for reuse: an invoke's request is seen only by
 * the runner and the finisher, so once its handler has returned nothing
 * holds it and the next invoke can take it (no allocation, no garbage).
 * One whose handler waits keeps its own and the spare is made anew. */
static int spare_ref = LUA_NOREF;
static int spare_busy;

/* The request whose message is being dispatched, from the moment its id is
 * pending until its handlers have run and it was armed (request_arm) or
 * answered: an error that unwinds the dispatch in between (no room on the
 * Lua stack, out of memory) leaves it unreachable and without a __gc, so
 * mh_lipc_dispatch answers it. q is NULL until the request object exists. */
typedef struct inflight {
  int set;
  int rid;
  int64_t id;
  mh_request_t *q;
} inflight_t;
static inflight_t inflight;

static void spare_forget(lua_State *L) {
  mh_unref(L, spare_ref);
  spare_ref = LUA_NOREF;
  spare_q = NULL;
  spare_busy = 0;
}

/* After an invoke's handlers ran: q goes back, or, if it waits, away. */
static void spare_done(lua_State *L, mh_request_t *q) {
  if (q != spare_q) return;
  if (q->done) spare_busy = 0;
  else spare_forget(L);
}

static mh_request_t *push_request(lua_State *L, mh_renderer_t *r, int64_t id, int kind, int ch_idx) {
  ch_idx = lua_absindex(L, ch_idx);
  mh_request_t *q;
  if (kind == MH_REQ_INVOKE && spare_q && !spare_busy) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, spare_ref);
    q = spare_q;
    spare_busy = 1;
  } else {
    q = lua_newuserdatauv(L, sizeof *q, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, cached[K_REQ_PLAIN_MT]);
    lua_setmetatable(L, -2);
    if (kind == MH_REQ_INVOKE && !spare_q) {
      lua_pushvalue(L, -1);
      spare_ref = mh_ref(L);
      spare_q = q;
      spare_busy = 1;
    }
  }
  inflight.q = q;
  q->rid = r->id;
  q->kind = kind;
  q->done = 0;
  q->id = id;
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
  if (!r || !take_pending(r, q->id)) return NULL;
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
            "renderer '%s' (id %d) gets \"%s\"\n", SAFE(ch ? ch : "?"), r->name, r->id, never);
  else
    fprintf(stderr, "mainhost: no listener set event.returnValue for sendSync('%s') from "
            "renderer '%s' (id %d); it gets \"%s\"\n", SAFE(ch ? ch : "?"), r->name, r->id, never);
  reply_error(r, q->id, never, sizeof never - 1);
  return 0;
}

/* A request starts with a metatable without __gc: most are answered before
 * their handler first returns, and an object with a finalizer costs the
 * collector a finalizer call when it dies (~700 instructions a request).
 * One still open after its handlers ran (they wait, or keep the event) gets
 * the __gc that answers it "reply was never sent" if it is dropped. */
static void request_arm(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cached[K_REQ_MT]);
  lua_setmetatable(L, idx);
}

/* ---- the runner's finisher ------------------------------------------------------------- */

/* finish(token, ok, results... | err, traceback) */
static int l_finish(lua_State *L) {
  int ok = lua_toboolean(L, 2);
  int t = lua_type(L, 1);
  if (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, 1) == &MAIN_TOKEN) {
    if (!ok) {
      main_failed = 1;
      const char *e = luaL_tolstring(L, 3, NULL);
      snprintf(main_error, sizeof main_error, "%s", e);
      lua_pop(L, 1);
      mh_lstate_report(L, "error in the main script", lua_tostring(L, 4));
      mh_host_exit(1);
    }
    return 0;
  }
  if (t == LUA_TSTRING) {
    if (!ok) mh_lstate_report(L, lua_tostring(L, 1), lua_tostring(L, 4));
    return 0;
  }
  mh_request_t *q = to_request(L, 1);
  if (!q) return 0;
  lua_getiuservalue(L, 1, 1);
  const char *ch = lua_tostring(L, -1);
  int top = lua_gettop(L) - 1;  /* the results end below the channel */
  if (!ok) {
    /* Electron logs the handler's error in main and sends only its text. */
    fprintf(stderr, "mainhost: Error occurred in handler for '%s': %s\n", SAFE(ch),
            lua_tostring(L, 4) ? lua_tostring(L, 4) : "(error)");
    push_error_text_safe(L, 3);  /* before the request is taken: it may raise */
    mh_renderer_t *r = request_take(q);
    if (!r) return 0;
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

/* 1 when the value at idx is an event whose metatable's __index is the
 * table at proto (the frame's shared fields, where reply is kept). */
static int is_event_of(lua_State *L, int idx, int proto) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  lua_pushliteral(L, "__index");
  lua_rawget(L, -2);
  int yes = lua_rawequal(L, -1, proto);
  lua_pop(L, 2);
  return yes;
}

static int reply_fn(lua_State *L) {
  int rid = (int)lua_tointeger(L, lua_upvalueindex(1));
  int64_t frame = lua_tointeger(L, lua_upvalueindex(2));
  if (is_event_of(L, 1, lua_upvalueindex(3))) lua_remove(L, 1);  /* event:reply(...) */
  /* As Electron's (frame.send underneath), and our other senders. */
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_error(L, "Missing required channel argument");
  size_t chn;
  const char *ch = lua_tolstring(L, 1, &chn);
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
    /* Weak values: a frame object lives as long as someone holds it. The
     * frame numbers are the renderer's to choose, and a renderer sending
     * from a new number each time must not grow this table for ever. */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
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
  lua_pushvalue(L, -3);  /* the frame: frame:send(...) passes it first */
  lua_pushcclosure(L, frame_send, 3);
  lua_setfield(L, -2, "send");
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, frame);
  lua_remove(L, -2);
}

static int frame_send(lua_State *L) {
  int rid = (int)lua_tointeger(L, lua_upvalueindex(1));
  int64_t frame = lua_tointeger(L, lua_upvalueindex(2));
  if (lua_rawequal(L, 1, lua_upvalueindex(3))) lua_remove(L, 1);  /* frame:send(...) */
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
    lua_pushvalue(L, 1);  /* the events' shared __index table, to know event:reply(...) */
    lua_pushcclosure(L, reply_fn, 3);
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
  mh_request_t *q = to_request(L, -1);
  if (!q || q->done) return 0;
  mh_renderer_t *r = mh_host_renderer(q->rid);
  if (!r || !take_pending(r, q->id)) {
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
  if (mh_lconv_encode_args(L, 3, 3, 1, "returnValue", b, send_depth(), err, sizeof err) != 0) {
    b->len = mark;
    if (mh_pending_add(&r->pending, q->id, MH_REQ_SYNC) == 0) r->pending_sync++;
    return luaL_error(L, "%s", err);
  }
  mh_buf_put(b, "]}\n", 3);
  q->done = 1;
  if (mh_trace_fp) trace_out(r, "result", NULL, 0, 1, q->id, b->len - mark, 0);
  return 0;
}

/* One event table a message: its keys and metatables are kept as refs, so
 * making it looks nothing up by name. */

static void cache_open(lua_State *L) {
  static const char *const keys[] = {"sender", "processId", "frameId", "ipc-message", "ipc-message-sync"};
  for (int i = 0; i < 5; i++) {
    lua_pushstring(L, keys[i]);
    cached[i] = mh_ref(L);
  }
  luaL_getmetatable(L, EVENT_MT);
  cached[K_EVENT_MT] = mh_ref(L);
  luaL_getmetatable(L, SYNC_EVENT_MT);
  cached[K_SYNC_MT] = mh_ref(L);
  luaL_getmetatable(L, INVOKE_EVENT_MT);
  cached[K_INVOKE_MT] = mh_ref(L);
  luaL_getmetatable(L, REQ_MT);
  cached[K_REQ_MT] = mh_ref(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, REQ_MT);
  lua_setfield(L, -2, "__name");
  cached[K_REQ_PLAIN_MT] = mh_ref(L);
}

static void cache_close(lua_State *L) {
  for (int i = 0; i < K_COUNT; i++) {
    mh_unref(L, cached[i]);
    cached[i] = LUA_NOREF;
  }
}

/* An event is an empty table whose metatable's __index is a table with
 * sender, processId and frameId (and reply, once it was used), made once
 * per renderer and kind for frame 1 (other frames' per message): making an
 * event costs one small table, and its fields nothing until they are read.
 * The __index table's own metatable is the kind's (EVENT_MT...), whose
 * __index makes reply and senderFrame. mt: K_EVENT_MT, K_SYNC_MT or
 * K_INVOKE_MT. */
static const char *const event_mt_names[] = {EVENT_MT, SYNC_EVENT_MT, INVOKE_EVENT_MT};

static void drop_event_mts(lua_State *L, mh_renderer_t *r) {
  for (int i = 0; i < 3; i++) {
    mh_unref(L, r->evmt_ref[i]);
    r->evmt_ref[i] = LUA_NOREF;
  }
}

static void push_event_mt(lua_State *L, mh_renderer_t *r, int64_t frame, int mt) {
  int slot = mt - K_EVENT_MT;
  if (frame == 1 && r->evmt_ref[slot] != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->evmt_ref[slot]);
    return;
  }
  lua_createtable(L, 0, 3 + (mt == K_SYNC_MT));
  lua_createtable(L, 0, 4);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cached[K_SENDER]);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  lua_rawset(L, -3);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cached[K_PROCESS_ID]);
  lua_pushinteger(L, r->pid);
  lua_rawset(L, -3);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cached[K_FRAME_ID]);
  lua_pushinteger(L, frame);
  lua_rawset(L, -3);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cached[mt]);
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "__index");
  if (mt == K_SYNC_MT) {
    lua_pushcfunction(L, sync_event_newindex);
    lua_setfield(L, -2, "__newindex");
  }
  lua_pushstring(L, event_mt_names[slot]);
  lua_setfield(L, -2, "__name");
  if (frame == 1 && r->wc_ref != LUA_NOREF) {
    lua_pushvalue(L, -1);
    r->evmt_ref[slot] = mh_ref(L);
  }
}

static void push_event(lua_State *L, mh_renderer_t *r, int64_t frame, int mt) {
  /* A sync event gets its request under TOKEN_KEY at once: room for it now
   * rather than a resize of the new table. */
  lua_createtable(L, 0, mt == K_SYNC_MT);
  push_event_mt(L, r, frame, mt);
  lua_setmetatable(L, -2);
}

/* ---- the emitter as Lua methods ---------------------------------------------------------- */

/* Upvalue 1: the emitter's Lua table (for colon calls and chaining);
 * upvalue 2: the mh_emitter_t. `ipcMain.on(...)` and `ipcMain:on(...)` both
 * work: a first argument that is the table itself is dropped. */
static mh_emitter_t *self_emitter(lua_State *L) {
  if (lua_rawequal(L, 1, lua_upvalueindex(1))) lua_remove(L, 1);
  mh_emitter_t **box = lua_touserdata(L, lua_upvalueindex(2));
  return *box;
}

static size_t emit(lua_State *L, mh_emitter_t *e, const char *ch, size_t chn, int ch_idx,
                   int ev_idx, int first, int nargs);

/* Argument checks that number arguments as the caller wrote them, with or
 * without the colon (luaL_argerror would count self once more). */
static const char *fname(lua_State *L) {
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) return ar.name;
  return "?";
}

static const char *arg_channel(lua_State *L, int i, size_t *n) {
  if (lua_type(L, i) != LUA_TSTRING && lua_type(L, i) != LUA_TNUMBER)
    luaL_error(L, "bad argument #%d to '%s' (string expected, got %s)", i, fname(L), luaL_typename(L, i));
  return lua_tolstring(L, i, n);
}

static void arg_function(lua_State *L, int i) {
  if (lua_type(L, i) != LUA_TFUNCTION)
    luaL_error(L, "bad argument #%d to '%s' (function expected, got %s)", i, fname(L), luaL_typename(L, i));
}

static int add_listener(lua_State *L, int once, int prepend) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = arg_channel(L, 1, &n);
  arg_function(L, 2);
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
  const char *ch = arg_channel(L, 1, &n);
  arg_function(L, 2);
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
    const char *ch = arg_channel(L, 1, &n);
    mh_emitter_remove_all(e, ch, n, release_ref, L);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  return 1;
}

static int m_listener_count(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = arg_channel(L, 1, &n);
  if (lua_isnoneornil(L, 2)) {
    lua_pushinteger(L, (lua_Integer)mh_emitter_count(e, ch, n));
    return 1;
  }
  /* Newer Node: count only this function. */
  arg_function(L, 2);
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
  const char *ch = arg_channel(L, 1, &n);
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
  const char *ch = arg_channel(L, 1, &n);
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
  const char *ch = arg_channel(L, 1, &n);
  int ref;
  if (mh_emitter_remove_handler(e, ch, n, &ref)) mh_unref(L, ref);
  return 0;
}

/* emitter.emit(channel, ...): calls the listeners with exactly the given
 * arguments (Electron users call ipcMain.emit to fake a message in tests). */
static int m_emit(lua_State *L) {
  mh_emitter_t *e = self_emitter(L);
  size_t n;
  const char *ch = arg_channel(L, 1, &n);
  int nargs = lua_gettop(L) - 1;
  lua_pushboolean(L, emit(L, e, ch, n, 1, 0, 2, nargs) > 0);
  return 1;
}

static const luaL_Reg emitter_methods[] = {
    {"emit", m_emit},
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
/* The emitter belongs to a userdata shared by the method closures: it
 * lives as long as any of them can still be called, so methods of a
 * webContents that is gone are safe (they find an empty emitter). */
static int box_gc(lua_State *L) {
  mh_emitter_t **box = lua_touserdata(L, 1);
  if (*box) mh_emitter_free(*box, release_ref, L);
  *box = NULL;
  return 0;
}

/* Pushes a new emitter table with the methods bound to a new emitter, and
 * returns the emitter (owned by the table's methods). */
static mh_emitter_t *push_emitter(lua_State *L, const char *mt) {
  mh_emitter_t **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, EMITTER_BOX_MT);
  if (!(*box = mh_emitter_new())) luaL_error(L, "out of memory");
  lua_newtable(L);
  for (const luaL_Reg *f = emitter_methods; f->name; f++) {
    lua_pushvalue(L, -1);
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, f->func, 2);
    lua_setfield(L, -2, f->name);
  }
  luaL_setmetatable(L, mt);
  lua_remove(L, -2);
  return *box;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Calls every listener of ch with (event, args...) (no event when ev_idx
 * is 0), each in its own coroutine, on a snapshot: a listener removed by an
 * earlier one still runs this time, one added runs next time, and a `once`
 * listener retires at its own turn, just before it runs (Node's onceWrapper). */
typedef struct snap {
  int ref;
  int once;
  uintptr_t key;
} snap_t;

static void retire_once(lua_State *L, mh_emitter_t *e, const char *ch, size_t chn, const snap_t *s) {
  size_t n;
  const mh_listener_t *ls = mh_emitter_listeners(e, ch, chn, &n);
  /* Match key too: a ref freed by removeListener may have been reused. */
  for (size_t i = 0; i < n; i++) {
    if (ls[i].ref == s->ref && ls[i].key == s->key && ls[i].once) {
      if (mh_emitter_remove_ref(e, ch, chn, s->ref)) mh_unref(L, s->ref);
      return;
    }
  }
}

static size_t emit(lua_State *L, mh_emitter_t *e, const char *ch, size_t chn, int ch_idx,
                   int ev_idx, int first, int nargs) {
  size_t n;
  if (!e) return 0;
  const mh_listener_t *ls = mh_emitter_listeners(e, ch, chn, &n);
  if (n == 0) return 0;
  if (!lua_checkstack(L, (int)n + nargs + 8)) luaL_error(L, "too many listeners or arguments for the Lua stack");
  snap_t small[32];
  snap_t *snap = n <= 32 ? small : lua_newuserdatauv(L, n * sizeof *snap, 0);
  int base = lua_gettop(L);
  for (size_t i = 0; i < n; i++) {
    snap[i].ref = ls[i].ref;
    snap[i].once = ls[i].once;
    snap[i].key = ls[i].key;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls[i].ref);  /* alive even if removed */
  }
  for (size_t i = 0; i < n; i++) {
    if (snap[i].once) retire_once(L, e, ch, chn, &snap[i]);
    lua_pushvalue(L, ch_idx);  /* the token */
    lua_pushvalue(L, base + 1 + (int)i);
    if (ev_idx) lua_pushvalue(L, ev_idx);
    for (int a = 0; a < nargs; a++) lua_pushvalue(L, first + a);
    mh_lstate_run_raw(L, 1 + (ev_idx != 0) + nargs);
  }
  lua_settop(L, base - (n > 32));
  return n;
}

/* ---- webContents events ---------------------------------------------------------------- */

/* How many listeners an emitter has for an event, read from the
 * _listenerCounts table it keeps (cached as a registry ref: counts): by
 * name, or by the cached key name_key on the per-message path. */
static int listeners_in(lua_State *L, int counts, const char *name) {
  if (counts == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, counts);
  lua_pushstring(L, name);
  lua_rawget(L, -2);
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return n;
}

static int wc_listeners(lua_State *L, mh_renderer_t *r, const char *name) {
  return listeners_in(L, r->counts_ref, name);
}

static int wc_listeners_cached(lua_State *L, mh_renderer_t *r, int name_key) {
  if (r->counts_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->counts_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cached[name_key]);
  lua_rawget(L, -2);
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return n;
}

/* Calls obj.emit(name, <nargs values on top>) protected; pops the values. */
static void obj_emit(lua_State *L, int obj, const char *name, int nargs) {
  obj = lua_absindex(L, obj);
  lua_getfield(L, obj, "emit");
  lua_pushstring(L, name);
  lua_rotate(L, -(nargs + 2), 2);
  mh_lstate_pcall(L, nargs + 1, 0, "emitting an event");
}

static void push_lifecycle_event(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, emitter_event_ref);
  if (mh_lstate_pcall(L, 0, 1, "making an event") != LUA_OK) lua_newtable(L);
}

/* wc.emit(name, event) for lifecycle events without arguments. */
static void wc_emit(lua_State *L, mh_renderer_t *r, const char *name, int unused) {
  (void)unused;
  if (r->wc_ref == LUA_NOREF || !wc_listeners(L, r, name)) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  push_lifecycle_event(L);
  obj_emit(L, -2, name, 1);
  lua_pop(L, 1);
}

/* wc.emit('ipc-message', event, channel, args...), as Electron emits it on
 * webContents before the ipc scopes. */
static void wc_emit_ipc(lua_State *L, mh_renderer_t *r, const char *name, int ev, int ch_idx,
                        int first, int nargs) {
  luaL_checkstack(L, nargs + 6, "too many arguments");
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  int wc = lua_gettop(L);
  lua_pushvalue(L, ev);
  lua_pushvalue(L, ch_idx);
  for (int a = 0; a < nargs; a++) lua_pushvalue(L, first + a);
  obj_emit(L, wc, name, nargs + 2);
  lua_pop(L, 1);
}

#define REFUSALS_LOGGED_PER_SECOND 20

void mh_lipc_refusals_unlogged(mh_renderer_t *r) {
  if (!r->refuse_unlogged) return;
  fprintf(stderr, "mainhost: renderer '%s' (id %d): %u more messages refused in that second, not logged\n",
          r->name, r->id, r->refuse_unlogged);
  r->refuse_unlogged = 0;
}

/* Logs a refusal: at most REFUSALS_LOGGED_PER_SECOND lines a second for a
 * renderer, then only a count (a flood of bad lines must not turn into a
 * flood of log lines many times its size). */
static void refuse(mh_renderer_t *r, const char *why) {
  uint64_t now = uv_now(H.loop);
  if (now - r->refuse_window >= 1000) {
    mh_lipc_refusals_unlogged(r);
    r->refuse_window = now;
    r->refuse_logged = 0;
  }
  if (r->refuse_logged >= REFUSALS_LOGGED_PER_SECOND) {
    r->refuse_unlogged++;
    return;
  }
  r->refuse_logged++;
  fprintf(stderr, "mainhost: renderer '%s' (id %d): refused a message: %s\n", r->name, r->id,
          logsafe(why, (char[4 * 400 + 8]){0}, 400));
}

static int is_request(const mh_msg_t *m) { return m->kind == MH_K_INVOKE || m->kind == MH_K_SYNC; }

/* Refuses a message; a sync or invoke whose id is known gets the reason as
 * its result ("Error: " what why), so its caller does not wait for ever;
 * never a second answer to an id that is still pending. */
static void refuse_msg(mh_renderer_t *r, const mh_msg_t *m, const char *what, const char *why) {
  refuse(r, why);
  if (is_request(m) && m->has_id && !mh_pending_has(&r->pending, m->id)) reply_refused(r, m->id, what, why);
}

/* Runs inside the protected call of mh_lipc_dispatch: whatever a renderer
 * sends (a million arguments, memory running out) ends in an error for
 * that message, never in a panic of the host. */
static void on_line_body(lua_State *L, mh_renderer_t *r, const char *line, size_t n) {
  int top = lua_gettop(L);
  inflight.set = 0;
  inflight.q = NULL;
  mh_msg_t m;
  char err[256];
  if (mh_lconv_decode_msg(L, line, n, &H.scratch, max_depth(), &m, err, sizeof err) != 0) {
    /* A request whose kind and id came before the bad part (as every client
     * of ours writes them) is answered too. */
    refuse_msg(r, &m, "the message was refused: ", err);
    lua_settop(L, top);
    return;
  }
  int ch_idx = top + 1, first = top + 3;
  size_t chn = 0;
  const char *ch = lua_tolstring(L, ch_idx, &chn);
  int64_t frame = m.has_frame ? m.frame : 1;
  if (mh_trace_fp && m.kind != MH_K_IGNORED) {
    static const char *const kinds[] = {"?", "hello", "send", "sync", "invoke", "msg", "result", "?"};
    mh_trace_rec_t t = {"in", r->id, r->name, frame, kinds[m.kind], ch, chn, n, m.has_id ? m.id : -1, 0};
    mh_trace_write(&t);
  }
  if (!lua_checkstack(L, m.nargs + 64)) {
    /* Each listener gets its own copy of the arguments: no room for one. */
    snprintf(err, sizeof err, "too many arguments (%d) in one message", m.nargs);
    refuse_msg(r, &m, "", err);
    lua_settop(L, top);
    return;
  }
  if (!r->loaded && m.kind != MH_K_IGNORED) {
    /* did-finish-load: the renderer's runtime said hello (or, for one with
     * no library, its first message came). */
    r->loaded = 1;
    wc_emit(L, r, "did-finish-load", 0);
  }
  switch (m.kind) {
    case MH_K_IGNORED:
      break;
    case MH_K_HELLO:
      if (m.version > MH_PROTOCOL_VERSION)
        fprintf(stderr, "mainhost: renderer '%s' speaks protocol %" PRId64 ", this host %d\n", r->name,
                m.version, MH_PROTOCOL_VERSION);
      break;
    case MH_K_SEND:
    case MH_K_SYNC:
    case MH_K_INVOKE: {
      if (!ch) {
        refuse_msg(r, &m, "", "message has no \"ch\" (channel) field");
        break;
      }
      if (frame < 1) {
        refuse_msg(r, &m, "", "field \"frame\" must be 1 or more");
        break;
      }
      if (m.kind != MH_K_SEND && !m.has_id) {
        refuse(r, "message has no \"id\" field");
        break;
      }
      if (r->spec && !mh_config_channel_allowed(r->spec->conf.channels, ch, chn)) {
        snprintf(err, sizeof err, "channel '%.100s' is not allowed for renderer '%.60s'", ch, r->name);
        refuse_msg(r, &m, "", err);
        break;
      }
      if (m.kind != MH_K_SEND) {
        const mh_limits_t *lim = &H.cfg->limits;
        size_t invokes = mh_pending_count(&r->pending) - r->pending_sync;
        if (m.kind == MH_K_SYNC ? r->pending_sync >= lim->max_pending_sync
                                : invokes >= lim->max_pending_invokes) {
          snprintf(err, sizeof err, "too many %s requests awaiting a reply (limit %zu)",
                   m.kind == MH_K_SYNC ? "sendSync" : "invoke",
                   m.kind == MH_K_SYNC ? lim->max_pending_sync : lim->max_pending_invokes);
          refuse_msg(r, &m, "", err);
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
        if (m.kind == MH_K_SYNC) r->pending_sync++;
        inflight = (inflight_t){1, r->id, m.id, NULL};
      }
      if (m.kind == MH_K_SEND) {
        push_event(L, r, frame, K_EVENT_MT);
        int ev = lua_gettop(L);
        if (wc_listeners_cached(L, r, K_IPC_MESSAGE)) wc_emit_ipc(L, r, "ipc-message", ev, ch_idx, first, m.nargs);
        emit(L, r->ipc, ch, chn, ch_idx, ev, first, m.nargs);
        emit(L, ipc_main, ch, chn, ch_idx, ev, first, m.nargs);
      } else if (m.kind == MH_K_SYNC) {
        push_event(L, r, frame, K_SYNC_MT);
        int ev = lua_gettop(L);
        push_request(L, r, m.id, MH_REQ_SYNC, ch_idx);
        lua_rawsetp(L, ev, &TOKEN_KEY);
        int wl = wc_listeners_cached(L, r, K_IPC_MESSAGE_SYNC);
        if (wl + (r->ipc ? mh_emitter_count(r->ipc, ch, chn) : 0) + mh_emitter_count(ipc_main, ch, chn) == 0) {
          /* Electron warns and leaves the renderer blocked; we warn and
           * answer, so a typo in a channel name never hangs a renderer. */
          fprintf(stderr, "mainhost: WebContents #%d called ipcRenderer.sendSync() with '%s' "
                  "channel without listeners.\n", r->id, SAFE(ch));
          lua_rawgetp(L, ev, &TOKEN_KEY);
          mh_request_t *q = lua_touserdata(L, -1);
          inflight.set = 0;
          q->done = 1;
          take_pending(r, m.id);
          lua_pushfstring(L, "No listener for '%s' in the main process", ch);
          size_t tn;
          const char *text = lua_tolstring(L, -1, &tn);
          reply_error(r, m.id, text, tn);
        } else {
          lua_rawgetp(L, ev, &TOKEN_KEY);
          mh_request_t *q = lua_touserdata(L, -1);
          int q_idx = lua_gettop(L);  /* the event keeps it too */
          if (wl) wc_emit_ipc(L, r, "ipc-message-sync", ev, ch_idx, first, m.nargs);
          emit(L, r->ipc, ch, chn, ch_idx, ev, first, m.nargs);
          emit(L, ipc_main, ch, chn, ch_idx, ev, first, m.nargs);
          inflight.set = 0;
          if (!q->done) {
            request_arm(L, q_idx);
            mh_host_watch_pending();
          }
        }
      } else {
        /* Electron 17+: the webContents scope first, then ipcMain. */
        int ref, once;
        mh_emitter_t *scope = r->ipc;
        if (!scope || !mh_emitter_get_handler(scope, ch, chn, &ref, &once)) scope = NULL;
        if (!scope && mh_emitter_get_handler(ipc_main, ch, chn, &ref, &once)) scope = ipc_main;
        if (!scope) {
          lua_pushfstring(L, "Error: No handler registered for '%s'", ch);
          fprintf(stderr, "mainhost: Error occurred in handler for '%s': %s\n", SAFE(ch),
                  SAFE(lua_tostring(L, -1)));
          size_t tn;
          const char *text = lua_tolstring(L, -1, &tn);
          take_pending(r, m.id);
          reply_error(r, m.id, text, tn);
          break;
        }
        luaL_checkstack(L, m.nargs + 8, "too many arguments");
        mh_request_t *q = push_request(L, r, m.id, MH_REQ_INVOKE, ch_idx);
        lua_pushvalue(L, -1);  /* the token; the copy below keeps q alive across the run */
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        if (once) {
          int old;
          if (mh_emitter_remove_handler(scope, ch, chn, &old)) mh_unref(L, old);
        }
        push_event(L, r, frame, K_INVOKE_MT);
        for (int a = 0; a < m.nargs; a++) lua_pushvalue(L, first + a);
        mh_lstate_run_raw(L, 2 + m.nargs);
        inflight.set = 0;
        spare_done(L, q);
        if (!q->done) {
          request_arm(L, -1);  /* the copy below the token */
          mh_host_watch_pending();
        }
      }
      break;
    }
    default:
      refuse(r, "this kind of message goes from the host to renderers, not back");
      break;
  }
  lua_settop(L, top);
  return;
}

void mh_lipc_on_line(mh_chan_t *c, const char *line, size_t n) {
  mh_renderer_t *r = c->data;
  lua_State *L = H.L;
  r->said_anything = 1;
  if (H.quitting || !L || n == 0) return;
  on_line_body(L, r, line, n);
}


/* Every line a read brought is handled inside one protected call (one
 * pcall a batch, not a message). An error ends the call at that message;
 * the rest of the batch goes on in a new one. */
void mh_lipc_dispatch(mh_chan_t *c) {
  lua_State *L = H.L;
  if (!L) {
    mh_chan_dispatch(c);
    return;
  }
  inflight_t outer = inflight;  /* a dispatch nested in a handler's */
  for (;;) {
    inflight.set = 0;
    inflight.q = NULL;
    if (mh_lstate_chan_dispatch(L, c, "a message could not be handled") == LUA_OK) {
      inflight = outer;
      return;
    }
    mh_renderer_t *r = c->data;
    fprintf(stderr, "mainhost: (that message came from renderer '%s', id %d)\n", r->name, r->id);
    if (inflight.set) {
      /* Its request object, if made, is unreachable now (the error unwound
       * the stack that held it; nothing has been allocated since, so it is
       * not collected yet) and has no __gc: answer the id here. */
      mh_request_t *q = inflight.q;
      mh_renderer_t *to = NULL;
      if (q) q->done = 1;  /* a handler that still holds it answers nothing */
      mh_renderer_t *owner = mh_host_renderer(inflight.rid);
      if (owner && take_pending(owner, inflight.id)) to = owner;
      static const char never[] = "reply was never sent";
      if (to) reply_error(to, inflight.id, never, sizeof never - 1);
      if (q && q == spare_q) spare_forget(L);  /* whatever still holds it, never reuse it */
    }
    inflight = outer;
    if (c->closing) return;
  }
}

/* ---- webContents ------------------------------------------------------------------------- */

/* Every webContents method is a closure over (renderer id, wc table), so
 * wc.send(...) and wc:send(...) both work and a method outlives the
 * renderer (it then says the object is destroyed). */
#define WC_SELF(L) do { if (lua_rawequal(L, 1, lua_upvalueindex(2))) lua_remove(L, 1); } while (0)
#define WC_R() mh_host_renderer((int)lua_tointeger(L, lua_upvalueindex(1)))

static int wc_send(lua_State *L) {
  WC_SELF(L);
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_error(L, "Missing required channel argument");
  mh_renderer_t *r = WC_R();
  if (!r) return luaL_error(L, "Object has been destroyed");
  size_t chn;
  const char *ch = lua_tolstring(L, 1, &chn);
  lua_pushboolean(L, write_msg(L, r, ch, chn, 1, 2, lua_gettop(L), 2) == 0);
  return 1;
}

static int wc_send_to_frame(lua_State *L) {
  WC_SELF(L);
  lua_Integer frame;
  if (lua_isinteger(L, 1)) {
    frame = lua_tointeger(L, 1);
  } else if (lua_istable(L, 1) && lua_rawlen(L, 1) == 2) {
    lua_rawgeti(L, 1, 2);  /* [processId, frameId] */
    frame = lua_tointeger(L, -1);
    lua_pop(L, 1);
  } else {
    return luaL_error(L, "Missing required frame argument (must be number or [processId, frameId])");
  }
  if (lua_type(L, 2) != LUA_TSTRING) return luaL_error(L, "Missing required channel argument");
  mh_renderer_t *r = WC_R();
  if (!r || frame < 1) {
    lua_pushboolean(L, 0);
    return 1;
  }
  size_t chn;
  const char *ch = lua_tolstring(L, 2, &chn);
  lua_pushboolean(L, write_msg(L, r, ch, chn, frame, 3, lua_gettop(L), 3) == 0);
  return 1;
}

static int wc_is_destroyed(lua_State *L) {
  lua_pushboolean(L, WC_R() == NULL);
  return 1;
}

static int wc_is_crashed(lua_State *L) {
  lua_pushliteral(L, "_crashed");
  lua_rawget(L, lua_upvalueindex(2));
  lua_pushboolean(L, lua_toboolean(L, -1));
  return 1;
}

static int wc_is_loading(lua_State *L) {
  mh_renderer_t *r = WC_R();
  lua_pushboolean(L, r && !r->loaded);
  return 1;
}

static int wc_os_pid(lua_State *L) {
  lua_pushliteral(L, "pid");
  lua_rawget(L, lua_upvalueindex(2));
  return 1;
}

static int wc_close(lua_State *L) {
  mh_renderer_t *r = WC_R();
  if (r) mh_host_close_renderer(r);
  return 0;
}

static const char *const signal_names[] = {"SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGQUIT",
                                           "SIGUSR1", "SIGUSR2", "SIGSEGV", "SIGABRT", NULL};
static const int signal_values[] = {SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGQUIT,
                                    SIGUSR1, SIGUSR2, SIGSEGV, SIGABRT};

static int wc_kill(lua_State *L) {
  WC_SELF(L);
  int sig = SIGTERM;
  if (lua_type(L, 1) == LUA_TNUMBER) sig = (int)luaL_checkinteger(L, 1);
  else if (!lua_isnoneornil(L, 1)) sig = signal_values[luaL_checkoption(L, 1, NULL, signal_names)];
  mh_renderer_t *r = WC_R();
  lua_pushboolean(L, r && mh_host_kill_renderer(r, sig));
  return 1;
}

static int wc_crash(lua_State *L) {
  mh_renderer_t *r = WC_R();
  if (r) mh_host_kill_renderer(r, SIGKILL);
  return 0;
}

static int wc_tostring(lua_State *L) {
  lua_getfield(L, 1, "id");
  lua_getfield(L, 1, "name");
  lua_pushfstring(L, "WebContents %d (%s)", (int)lua_tointeger(L, -2), lua_tostring(L, -1));
  return 1;
}

static const luaL_Reg wc_methods[] = {
    {"send", wc_send},
    {"sendToFrame", wc_send_to_frame},
    {"isDestroyed", wc_is_destroyed},
    {"isCrashed", wc_is_crashed},
    {"isLoading", wc_is_loading},
    {"getOSProcessId", wc_os_pid},
    {"getProcessId", wc_os_pid},
    {"close", wc_close},
    {"kill", wc_kill},
    {"forcefullyCrashRenderer", wc_crash},
    {NULL, NULL}};

static int l_renderer_new(lua_State *L) {
  mh_renderer_t *r = lua_touserdata(L, 1);
  lua_createtable(L, 0, 24);
  int wc = lua_gettop(L);
  lua_pushinteger(L, r->id);
  lua_setfield(L, wc, "id");
  lua_pushstring(L, r->name);
  lua_setfield(L, wc, "name");
  lua_pushinteger(L, r->pid);
  lua_setfield(L, wc, "pid");
  for (const luaL_Reg *f = wc_methods; f->name; f++) {
    lua_pushinteger(L, r->id);
    lua_pushvalue(L, wc);
    lua_pushcclosure(L, f->func, 2);
    lua_setfield(L, wc, f->name);
  }
  r->ipc = push_emitter(L, EMITTER_MT);
  lua_setfield(L, wc, "ipc");
  luaL_setmetatable(L, WC_MT);
  lua_rawgeti(L, LUA_REGISTRYINDEX, emitter_mixin_ref);
  lua_pushvalue(L, wc);
  lua_call(L, 1, 0);
  lua_pushvalue(L, wc);
  r->wc_ref = mh_ref(L);
  lua_pushliteral(L, "_listenerCounts");
  lua_rawget(L, wc);
  r->counts_ref = mh_ref(L);
  /* app 'web-contents-created' (event, webContents) */
  lua_rawgeti(L, LUA_REGISTRYINDEX, app_ref);
  push_lifecycle_event(L);
  lua_pushvalue(L, wc);
  obj_emit(L, -3, "web-contents-created", 2);
  return 0;
}

void mh_lipc_renderer_new(lua_State *L, mh_renderer_t *r) {
  lua_pushcfunction(L, l_renderer_new);
  lua_pushlightuserdata(L, r);
  mh_lstate_pcall(L, 1, 0, "creating a webContents");
}

static const char *const reason_names[] = {"clean-exit", "abnormal-exit", "killed", "crashed",
                                           "launch-failed"};

static int l_renderer_gone(lua_State *L) {
  mh_renderer_t *r = lua_touserdata(L, 1);
  mh_gone_reason_t why = (mh_gone_reason_t)lua_tointeger(L, 2);
  int restarting = lua_toboolean(L, 3);
  if (r->wc_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  int wc = lua_gettop(L);
  lua_pushboolean(L, why != MH_GONE_CLEAN_EXIT);
  lua_setfield(L, wc, "_crashed");
  if (!H.exiting) {
    push_lifecycle_event(L);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, reason_names[why]);
    lua_setfield(L, -2, "reason");
    lua_pushinteger(L, r->term_signal ? 128 + r->term_signal : (lua_Integer)r->exit_status);
    lua_setfield(L, -2, "exitCode");
    if (r->term_signal) {
      lua_pushstring(L, sigabbrev_np(r->term_signal) ? sigabbrev_np(r->term_signal) : "?");
      lua_pushfstring(L, "SIG%s", lua_tostring(L, -1));
      lua_setfield(L, -3, "signal");
      lua_pop(L, 1);
    }
    if (r->launch_error) {
      lua_pushstring(L, r->launch_error);
      lua_setfield(L, -2, "error");
    }
    lua_pushboolean(L, restarting);
    lua_setfield(L, -2, "restarting");
    obj_emit(L, wc, "render-process-gone", 2);
    obj_emit(L, wc, "destroyed", 0);
  }
  return 0;
}

void mh_lipc_renderer_gone(lua_State *L, mh_renderer_t *r, mh_gone_reason_t why, int restarting) {
  mh_lipc_refusals_unlogged(r);
  lua_pushcfunction(L, l_renderer_gone);
  lua_pushlightuserdata(L, r);
  lua_pushinteger(L, why);
  lua_pushboolean(L, restarting);
  mh_lstate_pcall(L, 3, 0, "reporting a renderer gone");
  mh_unref(L, r->wc_ref);
  r->wc_ref = LUA_NOREF;
  mh_unref(L, r->counts_ref);
  r->counts_ref = LUA_NOREF;
  drop_event_mts(L, r);
  if (r->ipc) {
    /* The emitter itself stays with its Lua methods; its listeners go. */
    mh_emitter_clear(r->ipc, release_ref, L);
    r->ipc = NULL;
  }
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
  r->pending_sync = 0;
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

/* ---- createRenderer ----------------------------------------------------------------------------- */

/* A field of the options table as a NULL-terminated string vector whose
 * pointers go into Lua strings; the vector itself is a userdata kept in
 * the table at `keep`, so everything lives as long as the call. */
static char **opt_strv_keep(lua_State *L, int t, int keep, const char *key) {
  int ty = lua_getfield(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (ty != LUA_TTABLE)
    luaL_error(L, "createRenderer: '%s' must be a list of strings, got %s", key, luaL_typename(L, -1));
  size_t n = lua_rawlen(L, -1);
  char **v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, keep, v);
  lua_pop(L, 1);
  for (size_t i = 0; i < n; i++) {
    if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "createRenderer: '%s[%d]' must be a string", key, (int)i + 1);
    v[i] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  v[n] = NULL;
  lua_pop(L, 1);
  return v;
}

static const char *opt_str(lua_State *L, int t, const char *key) {
  int ty = lua_getfield(L, t, key);
  const char *v = NULL;
  if (ty == LUA_TSTRING) v = lua_tostring(L, -1);
  else if (ty != LUA_TNIL) luaL_error(L, "createRenderer: '%s' must be a string, got %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);  /* the options table keeps the string alive */
  return v;
}

/* An absolute path: p as is, or relative to the app's directory. */
static const char *abs_path(lua_State *L, const char *p) {
  if (!p || p[0] == '/') return p;
  return lua_pushfstring(L, "%s/%s", H.cfg->dir, p);
}

/* mh.createRenderer{ name=, script= | command={...}, args=, cwd=, env=,
 * restart=, maxRestarts=, channels= } -> webContents, at once. */
static int l_create_renderer(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_newtable(L);  /* 2: keeps converted strings alive */
  mh_renderer_conf_t c;
  memset(&c, 0, sizeof c);
  static char *none[] = {NULL};
  const char *script = opt_str(L, 1, "script");
  c.command = opt_strv_keep(L, 1, 2, "command");
  if (!script == !c.command) return luaL_error(L, "createRenderer: give exactly one of 'script' or 'command'");
  if (c.command && !c.command[0]) return luaL_error(L, "createRenderer: 'command' must not be empty");
  c.script = (char *)abs_path(L, script);
  c.args = opt_strv_keep(L, 1, 2, "args");
  if (!c.args) c.args = none;
  c.channels = opt_strv_keep(L, 1, 2, "channels");
  c.cwd = (char *)abs_path(L, opt_str(L, 1, "cwd"));
  if (!c.cwd) c.cwd = H.cfg->dir;
  /* env: { KEY = "value" } */
  if (lua_getfield(L, 1, "env") == LUA_TTABLE) {
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "createRenderer: 'env' maps strings to strings");
      const char *why = mh_config_env_name_problem(lua_tostring(L, -2));
      if (why) return luaL_error(L, "createRenderer: 'env.%s': %s", lua_tostring(L, -2), why);
      lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
      lua_rawseti(L, 2, ++n + 1000000);
      lua_pop(L, 1);
    }
    char **env = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *env, 0);
    for (lua_Integer i = 0; i < n; i++) {
      lua_rawgeti(L, 2, i + 1 + 1000000);
      env[i] = (char *)lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    env[n] = NULL;
    lua_rawseti(L, 2, 2000000);
    c.env = env;
  } else if (!lua_isnil(L, -1)) {
    return luaL_error(L, "createRenderer: 'env' must be a table");
  }
  lua_pop(L, 1);
  if (!c.env) c.env = none;
  const char *restart = opt_str(L, 1, "restart");
  if (!restart || !strcmp(restart, "never")) c.restart = MH_RESTART_NEVER;
  else if (!strcmp(restart, "on-failure")) c.restart = MH_RESTART_ON_FAILURE;
  else if (!strcmp(restart, "always")) c.restart = MH_RESTART_ALWAYS;
  else return luaL_error(L, "createRenderer: 'restart' must be \"never\", \"on-failure\" or \"always\" (got \"%s\")", restart);
  int ty = lua_getfield(L, 1, "maxRestarts");
  if (ty != LUA_TNIL && !lua_isinteger(L, -1))
    return luaL_error(L, "createRenderer: 'maxRestarts' must be an integer, got %s", luaL_typename(L, -1));
  lua_Integer mr = ty == LUA_TNIL ? MH_DEFAULT_MAX_RESTARTS : lua_tointeger(L, -1);
  if (mr < 0 || mr > 1000) return luaL_error(L, "createRenderer: 'maxRestarts' must be 0..1000");
  c.max_restarts = (int)mr;
  lua_pop(L, 1);
  /* The same rules as the config file. */
  for (char **ch = c.channels; ch && *ch; ch++) {
    const char *star = strchr(*ch, '*');
    if (!**ch || (star && star[1] != 0))
      return luaL_error(L, "createRenderer: invalid channel \"%s\" (\"*\" may only end a prefix, as in \"jobs:*\")", *ch);
  }
  /* name: given, or the script's / program's base name; unique among live
   * renderers (a suffix -2, -3, ... as in the config). */
  const char *name = opt_str(L, 1, "name");
  if (name) {
    if (!*name) return luaL_error(L, "createRenderer: 'name' must not be empty");
    for (const char *p = name; *p; p++)
      if (!(isalnum((unsigned char)*p) || strchr("_.:-", *p)))
        return luaL_error(L, "createRenderer: 'name' may hold only letters, digits and _ . : - (got \"%s\")", name);
  } else {
    /* The script's / program's base name, made a valid name. */
    const char *src = script ? script : c.command[0];
    const char *slash = strrchr(src, '/');
    const char *base = slash ? slash + 1 : src;
    size_t bl = strlen(base);
    if (bl > 4 && !strcmp(base + bl - 4, ".lua")) bl -= 4;
    luaL_Buffer nb;
    luaL_buffinit(L, &nb);
    for (size_t i = 0; i < bl; i++)
      luaL_addchar(&nb, isalnum((unsigned char)base[i]) || strchr("_.:-", base[i]) ? base[i] : '_');
    if (bl == 0) luaL_addstring(&nb, "renderer");
    luaL_pushresult(&nb);
    name = lua_tostring(L, -1);
  }
  const char *unique = name;
  for (int k = 2; mh_host_name_taken(unique); k++) unique = lua_pushfstring(L, "%s-%d", name, k);
  c.name = (char *)unique;
  mh_renderer_t *r = mh_host_spawn(&c);
  if (!r || r->wc_ref == LUA_NOREF) return luaL_error(L, "createRenderer: out of memory");
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->wc_ref);
  return 1;
}

/* ---- app ------------------------------------------------------------------------------------ */

static int l_quit(lua_State *L) {
  if (lua_istable(L, 1)) lua_remove(L, 1);  /* app:quit() */
  mh_host_request_quit((int)luaL_optinteger(L, 1, 0));
  return 0;
}

static int l_exit(lua_State *L) {
  if (lua_istable(L, 1)) lua_remove(L, 1);
  mh_host_exit((int)luaL_optinteger(L, 1, 0));
  return 0;
}

static int l_is_ready(lua_State *L) {
  lua_pushboolean(L, app_ready);
  return 1;
}

static int l_app_event(lua_State *L) {
  const char *name = lua_tostring(L, 1);
  int with_code = lua_toboolean(L, 2);
  lua_Integer code = lua_tointeger(L, 3);
  if (!strcmp(name, "ready")) app_ready = 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, app_ref);
  int app = lua_gettop(L);
  push_lifecycle_event(L);
  int ev = lua_gettop(L);
  lua_pushvalue(L, ev);
  if (with_code) lua_pushinteger(L, code);
  obj_emit(L, app, name, with_code ? 2 : 1);
  lua_getfield(L, ev, "defaultPrevented");
  return 1;
}

int mh_lipc_app_event(lua_State *L, const char *name, int with_code, int code) {
  lua_pushcfunction(L, l_app_event);
  lua_pushstring(L, name);
  lua_pushboolean(L, with_code);
  lua_pushinteger(L, code);
  int prevented = 0;
  if (mh_lstate_pcall(L, 3, 1, "emitting an app event") == LUA_OK) {
    prevented = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  return prevented;
}

int mh_lipc_app_has_listeners(lua_State *L, const char *name) {
  return listeners_in(L, app_counts_ref, name) > 0;
}

/* mainhost.trace(false) stops; trace(true) writes to the --trace target
 * (or stderr); trace("file") appends to that file. true, or nil + error. */
static const char *cli_trace_path;
void mh_lipc_set_trace_path(const char *path) { cli_trace_path = path; }

static int l_trace(lua_State *L) {
  if (lua_isnoneornil(L, 1) || (lua_isboolean(L, 1) && !lua_toboolean(L, 1))) {
    mh_trace_stop();
    lua_pushboolean(L, 1);
    return 1;
  }
  const char *path = lua_isstring(L, 1) ? lua_tostring(L, 1) : cli_trace_path;
  if (mh_trace_start(path) != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
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

  lua_rawgeti(L, LUA_REGISTRYINDEX, app_ref);
  lua_setfield(L, -2, "app");
  lua_pushcfunction(L, l_create_renderer);
  lua_setfield(L, -2, "createRenderer");
  lua_pushcfunction(L, l_trace);
  lua_setfield(L, -2, "trace");

  mh_lconv_push_null(L);
  lua_setfield(L, -2, "null");
  mh_lconv_open_json(L);
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

static int l_open(lua_State *L) {
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

  cache_open(L);

  luaL_newmetatable(L, WC_MT);
  lua_pushcfunction(L, wc_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_newmetatable(L, EMITTER_MT);
  lua_pop(L, 1);
  luaL_newmetatable(L, EMITTER_BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  ipc_main = push_emitter(L, EMITTER_MT);
  ipc_main_ref = mh_ref(L);

  lua_getglobal(L, "require");
  lua_pushliteral(L, "mainhost.emitter");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "mixin");
  emitter_mixin_ref = mh_ref(L);
  lua_getfield(L, -1, "event");
  emitter_event_ref = mh_ref(L);
  lua_pop(L, 1);

  /* app: an emitter with quit/exit/isReady (whenReady is added in Lua). */
  lua_newtable(L);
  lua_pushcfunction(L, l_quit);
  lua_setfield(L, -2, "quit");
  lua_pushcfunction(L, l_exit);
  lua_setfield(L, -2, "exit");
  lua_pushcfunction(L, l_is_ready);
  lua_setfield(L, -2, "isReady");
  lua_rawgeti(L, LUA_REGISTRYINDEX, emitter_mixin_ref);
  lua_pushvalue(L, -2);
  lua_call(L, 1, 0);
  lua_pushliteral(L, "_listenerCounts");
  lua_rawget(L, -2);
  app_counts_ref = mh_ref(L);
  app_ref = mh_ref(L);

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_host_module);
  lua_setfield(L, -2, "mainhost.host");
  lua_pop(L, 1);

  mh_lstate_set_finisher(l_finish);
  return 0;
}

void mh_lipc_open(lua_State *L) {
  lua_pushcfunction(L, l_open);
  mh_lstate_pcall(L, 0, 0, "cannot set up the mainhost module");
}

void mh_lipc_test_reset(lua_State *L) {
  mh_emitter_clear(ipc_main, release_ref, L);
  app_ready = 0;
  main_failed = 0;
}

const char *mh_lipc_main_failed(void) { return main_failed ? main_error : NULL; }

void mh_lipc_close(lua_State *L) {
  for (size_t i = 0; i < H.nids; i++) {
    mh_renderer_t *r = H.byid[i];
    if (r && r->wc_ref != LUA_NOREF) {
      mh_unref(L, r->wc_ref);
      r->wc_ref = LUA_NOREF;
      mh_unref(L, r->counts_ref);
      r->counts_ref = LUA_NOREF;
    }
    if (r) drop_event_mts(L, r);
    if (r && r->ipc) {
      mh_emitter_clear(r->ipc, release_ref, L);
      r->ipc = NULL;
    }
  }
  if (ipc_main) {
    mh_emitter_clear(ipc_main, release_ref, L);  /* freed with its box */
    ipc_main = NULL;
  }
  spare_forget(L);
  cache_close(L);
  mh_unref(L, ipc_main_ref);
  mh_unref(L, emitter_mixin_ref);
  mh_unref(L, emitter_event_ref);
  mh_unref(L, app_ref);
  mh_unref(L, app_counts_ref);
  ipc_main_ref = emitter_mixin_ref = emitter_event_ref = app_ref = app_counts_ref = LUA_NOREF;
}
