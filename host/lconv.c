/* lconv.c: Lua values to and from JSON on the wire, built straight from the
 * reader's callbacks (no intermediate tree) and written straight from Lua
 * tables (no intermediate strings). */
#include "lconv.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

void mh_lconv_push_null(lua_State *L) { lua_pushlightuserdata(L, NULL); }

/* ---- decoding ----------------------------------------------------------- */

/* The fields of the envelope; those the fast path reads are mh_wire_key's. */
enum { F_NONE = MH_KEY_OTHER, F_K = MH_KEY_K, F_CH = MH_KEY_CH, F_ERROR = MH_KEY_ERROR, F_ID = MH_KEY_ID,
       F_FRAME = MH_KEY_FRAME, F_ARGS = MH_KEY_ARGS, F_V = MH_KEY_V, F_CMD, F_OTHER };

typedef struct dec_level {
  int is_object;
  size_t index;
} dec_level_t;

typedef struct dec {
  lua_State *L;
  mh_msg_t *m;   /* NULL in value mode */
  int root;      /* depth at which values are left on the stack */
  int field;     /* the top-level field being read (message mode) */
  int skip;      /* depth of a container being skipped, or 0 */
  int in_args;
  int base;
  dec_level_t *lv; /* indexed by depth; grows past the small array on demand */
  size_t lvcap;
  dec_level_t *heap;
} dec_t;

#define DEC_STOP(d, ...) (snprintf(dec_err, sizeof dec_err, __VA_ARGS__), 1)
static _Thread_local char dec_err[128];
static _Thread_local char bad_kind[40];

static int kind_of(const char *s, size_t n) {
#define K(lit, k) if (n == sizeof lit - 1 && memcmp(s, lit, n) == 0) return k
  K("send", MH_K_SEND);
  K("invoke", MH_K_INVOKE);
  K("sync", MH_K_SYNC);
  K("msg", MH_K_MSG);
  K("result", MH_K_RESULT);
  K("hello", MH_K_HELLO);
#undef K
  return MH_K_UNKNOWN;
}

static void push_scalar(lua_State *L, const mh_json_value_t *v, int null_as_nil) {
  switch (v->type) {
    case MH_JSON_NULL:
      if (null_as_nil) lua_pushnil(L);
      else mh_lconv_push_null(L);
      break;
    case MH_JSON_FALSE: lua_pushboolean(L, 0); break;
    case MH_JSON_TRUE: lua_pushboolean(L, 1); break;
    case MH_JSON_INTEGER: lua_pushinteger(L, (lua_Integer)v->i); break;
    case MH_JSON_REAL: lua_pushnumber(L, (lua_Number)v->d); break;
    case MH_JSON_STRING: lua_pushlstring(L, v->s, v->n); break;
  }
}

/* The value on top belongs in the container one level up. */
static void attach(dec_t *d, int depth, size_t index) {
  if (d->lv[depth - 1].is_object) lua_rawset(d->L, -3);
  else lua_rawseti(d->L, -2, (lua_Integer)index);
}

static int dec_scalar(void *ud, const mh_json_value_t *v, size_t index, int depth) {
  dec_t *d = ud;
  lua_State *L = d->L;
  if (d->skip) return 0;
  if (depth > d->root) {
    /* Inside a table being built. A null array element stays a hole. */
    if (v->type == MH_JSON_NULL && !d->lv[depth - 1].is_object) return 0;
    push_scalar(L, v, 0);
    attach(d, depth, index);
    return 0;
  }
  if (depth == d->root) {
    if (!lua_checkstack(L, 4)) return DEC_STOP(d, "too many values");
    push_scalar(L, v, d->m != NULL);
    if (d->m) d->m->nargs++;
    return 0;
  }
  /* A top-level field of a message. */
  mh_msg_t *m = d->m;
  if (depth == 1) return DEC_STOP(d, "message is not a JSON object");
  switch (d->field) {
    case F_K:
      if (v->type != MH_JSON_STRING) return DEC_STOP(d, "field \"k\" must be a string");
      /* An unknown kind is judged at the end: a Node internal message
       * ({"cmd": "NODE_..."}) is ignored whatever else it holds. */
      if (m->kind != MH_K_IGNORED) m->kind = kind_of(v->s, v->n);
      if (m->kind == MH_K_UNKNOWN) {
        snprintf(bad_kind, sizeof bad_kind, "%.*s", (int)(v->n > 32 ? 32 : v->n), v->s);
        m->has_bad_kind = 1;
      }
      break;
    case F_CH:
    case F_ERROR:
      if (v->type != MH_JSON_STRING)
        return DEC_STOP(d, "field \"%s\" must be a string", d->field == F_CH ? "ch" : "error");
      lua_pushlstring(L, v->s, v->n);
      lua_replace(L, d->base + (d->field == F_CH ? 1 : 2));
      break;
    case F_ID:
    case F_FRAME:
    case F_V:
      if (v->type != MH_JSON_INTEGER) {
        static const char *names[] = {[F_ID] = "id", [F_FRAME] = "frame", [F_V] = "v"};
        return DEC_STOP(d, "field \"%s\" must be an integer", names[d->field]);
      }
      if (d->field == F_ID) { m->id = v->i; m->has_id = 1; }
      else if (d->field == F_FRAME) { m->frame = v->i; m->has_frame = 1; }
      else m->version = v->i;
      break;
    case F_ARGS:
      return DEC_STOP(d, "field \"args\" must be an array");
    case F_CMD:
      /* Node's own channel traffic ({"cmd": "NODE_HANDLE_ACK"}, ...). */
      if (v->type == MH_JSON_STRING && v->n >= 5 && memcmp(v->s, "NODE_", 5) == 0)
        m->kind = MH_K_IGNORED;
      break;
    default:
      break;
  }
  return 0;
}

static int dec_key(void *ud, const char *s, size_t n, int depth) {
  dec_t *d = ud;
  if (d->skip) return 0;
  if (depth > d->root) {
    lua_pushlstring(d->L, s, n);
    return 0;
  }
  /* depth 2 in message mode: which field comes next. */
  int f = F_OTHER;
  switch (n) {
    case 1:
      if (*s == 'k') f = F_K;
      else if (*s == 'v') f = F_V;
      break;
    case 2:
      if (memcmp(s, "ch", 2) == 0) f = F_CH;
      else if (memcmp(s, "id", 2) == 0) f = F_ID;
      break;
    case 3:
      if (memcmp(s, "cmd", 3) == 0) f = F_CMD;
      break;
    case 4:
      if (memcmp(s, "args", 4) == 0) f = F_ARGS;
      break;
    case 5:
      if (memcmp(s, "frame", 5) == 0) f = F_FRAME;
      else if (memcmp(s, "error", 5) == 0) f = F_ERROR;
      break;
  }
  if (f == F_ARGS && d->m->has_args) return DEC_STOP(d, "field \"args\" appears twice");
  d->field = f;
  return 0;
}

static int dec_begin(void *ud, int is_object, size_t index, int depth) {
  dec_t *d = ud;
  if (d->skip) return 0;
  if (depth >= d->root) {
    if (!lua_checkstack(d->L, 4)) return DEC_STOP(d, "nested too deeply");
    if ((size_t)depth >= d->lvcap) {
      /* Deep values only: ordinary messages never leave the C stack. */
      size_t ncap = d->lvcap * 2;
      dec_level_t *n = malloc(ncap * sizeof *n);
      if (!n) return DEC_STOP(d, "out of memory");
      memcpy(n, d->lv, d->lvcap * sizeof *n);
      free(d->heap);
      d->lv = d->heap = n;
      d->lvcap = ncap;
    }
    lua_createtable(d->L, 0, 0);
    d->lv[depth].is_object = is_object;
    d->lv[depth].index = index;
    return 0;
  }
  if (depth == 1) {
    if (!is_object) return DEC_STOP(d, "message is not a JSON object");
    d->lv[1].is_object = 1;
    return 0;
  }
  /* depth 2: a field's value is a container */
  if (d->field == F_ARGS) {
    if (is_object) return DEC_STOP(d, "field \"args\" must be an array");
    d->in_args = 1;
    d->m->has_args = 1;
    return 0;
  }
  if (d->field == F_OTHER) {
    d->skip = depth;
    return 0;
  }
  return DEC_STOP(d, "a message field has the wrong type");
}

static int dec_end(void *ud, int is_object, size_t count, int depth) {
  dec_t *d = ud;
  (void)is_object;
  (void)count;
  if (d->skip) {
    if (depth == d->skip) d->skip = 0;
    return 0;
  }
  if (depth > d->root) attach(d, depth, d->lv[depth].index);
  else if (depth == d->root) {
    if (d->m) d->m->nargs++;
  } else if (depth == 2) {
    d->in_args = 0;
  }
  return 0;
}

static const mh_json_handler_t dec_handler = {dec_scalar, dec_begin, dec_end, dec_key};

static int run_decode(lua_State *L, dec_t *d, const char *s, size_t n, mh_buf_t *scratch,
                      int max_depth, char *err, size_t errlen) {
  mh_json_error_t je;
  dec_err[0] = 0;
  int rc = mh_json_parse(s, n, max_depth, scratch, &dec_handler, d, &je);
  if (rc == MH_JSON_OK) return 0;
  lua_settop(L, d->base);
  if (rc == MH_JSON_ABORTED) snprintf(err, errlen, "%s", dec_err);
  else snprintf(err, errlen, "%s at byte %zu", je.msg, je.offset);
  return -1;
}

/* The level stack lives on the C stack for ordinary depths. */
#define DEC_SMALL 66

/* A decoder over the level stack `small` (DEC_SMALL levels), for a message
 * (m) or a lone value (m NULL, root 1). */
static void dec_init(dec_t *d, dec_level_t *small, lua_State *L, mh_msg_t *m, int root) {
  d->lv = small;
  d->lvcap = DEC_SMALL;
  d->heap = NULL;
  d->L = L;
  d->m = m;
  d->root = root;
  d->field = F_NONE;
  d->skip = 0;
  d->in_args = 0;
  d->base = lua_gettop(L) - (m ? 2 : 0);
}

static int decode(lua_State *L, mh_msg_t *m, int root, const char *s, size_t n,
                  mh_buf_t *scratch, int max_depth, char *err, size_t errlen) {
  dec_level_t small[DEC_SMALL];
  dec_t d;
  dec_init(&d, small, L, m, root);
  int rc = run_decode(L, &d, s, n, scratch, max_depth, err, errlen);
  free(d.heap);
  return rc;
}

/* ---- the envelope fast path ------------------------------------------------
 * Ordinary messages ({"k":"invoke","ch":"add","id":17,"args":[2,3]}) are read
 * here directly, without the reader's per-token callbacks: the known fields
 * are matched by their first letter and bytes, small integers are parsed in
 * place, and strings without escapes are pushed straight from the input.
 * Anything else inside a string goes to the reader's own scanner
 * (mh_json_read_string), other numbers to mh_json_read_number, and
 * containers inside "args" to the generic decoder (mh_json_parse_prefix in
 * value mode, with the depth the generic path would give them).
 * It only ever accepts: anything it does not expect (an unknown or escaped
 * key, an unknown kind, "cmd", a second "args", a wrong type, a syntax
 * error, ...) makes it give up, and the caller decodes the line again on
 * the generic path, so errors, their texts and every unusual case come
 * from one place. Giving up is always safe: nothing it did is observable
 * once the caller has reset the stack. */

typedef struct fast {
  lua_State *L;
  mh_buf_t *scratch;
  const char *end;
  int slots;  /* 1 once the channel and error slots are on the stack */
  int room;   /* stack slots known to be reserved above the top */
} fast_t;

/* Reads one container argument at *pq with the generic decoder, as the
 * generic path would at depth 3, leaving its table on the stack. 0, or -1
 * on any failure. */
static int fast_container(fast_t *f, const char **pq, int max_depth) {
  dec_level_t small[DEC_SMALL];
  dec_t d;
  dec_init(&d, small, f->L, NULL, 1);
  size_t used = 0;
  /* Depth 1 here is depth 3 in the message: the same limit, shifted by 2. */
  int rc = mh_json_parse_prefix(*pq, (size_t)(f->end - *pq), max_depth - 2, f->scratch,
                                &dec_handler, &d, NULL, &used);
  free(d.heap);
  if (rc != MH_JSON_OK) return -1;
  *pq += used;
  return 0;
}

/* Pushes the channel and error slots (nil) if not yet there. */
static inline void fast_slots(fast_t *f) {
  if (f->slots) return;
  lua_pushnil(f->L);
  lua_pushnil(f->L);
  f->slots = 1;
  f->room -= 2;
}

/* Reads the elements of "args" from just past its '['. 0, or -1. */
static int fast_args(fast_t *f, const char **pq, int max_depth, mh_msg_t *m) {
  lua_State *L = f->L;
  const char *q = *pq, *end = f->end, *s;
  size_t sn;
  if (mh_wire_peek(&q, end) == ']') { *pq = q + 1; return 0; }
  for (;;) {
    /* The generic path checks for 4 free slots before each argument: check
     * for more at once, and again only when fewer than 4 are left. */
    if (f->room < 4) {
      if (!lua_checkstack(L, 32)) return -1;
      f->room = 32;
    }
    char c = mh_wire_peek(&q, end);
    if (c == '"') {
      if (mh_wire_fast_string(&q, end, f->scratch, &s, &sn) != 0) return -1;
      lua_pushlstring(L, s, sn);
    } else if (c == '-' || mh_wire_is_digit(c)) {
      mh_json_value_t v;
      if (mh_wire_fast_number(&q, end, f->scratch, &v) != 0) return -1;
      if (v.type == MH_JSON_INTEGER) lua_pushinteger(L, (lua_Integer)v.i);
      else lua_pushnumber(L, (lua_Number)v.d);
    } else if (c == '[' || c == '{') {
      if (fast_container(f, &q, max_depth) != 0) return -1;
    } else {
      int lit = mh_wire_fast_literal(&q, end);
      if (lit < 0) return -1;
      if (lit == MH_JSON_NULL) lua_pushnil(L);  /* a null argument is nil */
      else lua_pushboolean(L, lit == MH_JSON_TRUE);
    }
    f->room--;
    m->nargs++;
    c = mh_wire_peek(&q, end);
    if (c == ',') { q++; continue; }
    if (c == ']') { *pq = q + 1; return 0; }
    return -1;
  }
}

/* 1: the line was decoded (the two slots and the arguments pushed above
 * base, *m filled); 0: give up (the caller resets the stack and *m). room:
 * the stack slots the caller has reserved above base. */
static int fast_msg(lua_State *L, const char *line, size_t n, mh_buf_t *scratch, int max_depth,
                    mh_msg_t *m, int base, int room) {
  fast_t f = {L, scratch, line + n, 0, room};
  const char *q = line, *end = f.end, *s;
  size_t sn;
  if (max_depth < 2) return 0;  /* "args" itself would be too deep */
  if (mh_wire_peek(&q, end) != '{') return 0;
  q++;
  for (;;) {
    if (mh_wire_peek(&q, end) != '"') return 0;
    q++;
    int fld = mh_wire_key(&q, end);
    if (fld == MH_KEY_OTHER) return 0;  /* "cmd", unknown or escaped keys */
    if (mh_wire_peek(&q, end) != ':') return 0;
    q++;
    if (!mh_wire_peek(&q, end)) return 0;
    switch (fld) {
      case F_K: {
        if (*q != '"' || mh_wire_fast_string(&q, end, f.scratch, &s, &sn) != 0) return 0;
        int kind = kind_of(s, sn);
        if (kind == MH_K_UNKNOWN) return 0;  /* the generic path keeps its text */
        m->kind = kind;
        break;
      }
      case F_CH:
      case F_ERROR:
        if (*q != '"' || mh_wire_fast_string(&q, end, f.scratch, &s, &sn) != 0) return 0;
        if (!f.slots) {
          /* The slots are not there yet: push them with the value in place
           * instead of replacing a nil. */
          if (fld == F_ERROR) lua_pushnil(L);
          lua_pushlstring(L, s, sn);
          if (fld == F_CH) lua_pushnil(L);
          f.slots = 1;
          f.room -= 2;
        } else {
          lua_pushlstring(L, s, sn);
          lua_replace(L, base + (fld == F_CH ? 1 : 2));
        }
        break;
      case F_ID:
      case F_FRAME:
      case F_V: {
        int64_t i;
        if (mh_wire_fast_int(&q, end, f.scratch, &i) != 0) return 0;
        if (fld == F_ID) { m->id = i; m->has_id = 1; }
        else if (fld == F_FRAME) { m->frame = i; m->has_frame = 1; }
        else m->version = i;
        break;
      }
      case F_ARGS:
        if (m->has_args || *q != '[') return 0;
        m->has_args = 1;
        fast_slots(&f);
        q++;
        if (fast_args(&f, &q, max_depth, m) != 0) return 0;
        break;
    }
    char c = mh_wire_peek(&q, end);
    if (c == ',') { q++; continue; }
    if (c == '}') { q++; break; }
    return 0;
  }
  if (mh_wire_peek(&q, end) || q != end) return 0;
  fast_slots(&f);
  return 1;
}

int mh_lconv_decode_msg(lua_State *L, const char *line, size_t n, mh_buf_t *scratch,
                        int max_depth, mh_msg_t *m, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  luaL_checkstack(L, 8, "decoding a message");
  int base = lua_gettop(L);
  if (!fast_msg(L, line, n, scratch, max_depth, m, base, 8)) {
    /* Not an ordinary message, or not valid: decode it on the generic path. */
    lua_settop(L, base);
    memset(m, 0, sizeof *m);
    lua_pushnil(L); /* channel */
    lua_pushnil(L); /* error */
    if (decode(L, m, 3, line, n, scratch, max_depth, err, errlen) != 0) return -1;
  }
  if (m->kind == MH_K_UNKNOWN) {
    lua_settop(L, base);
    if (m->has_bad_kind) snprintf(err, errlen, "unknown message kind \"%s\"", bad_kind);
    else snprintf(err, errlen, "message has no \"k\" field");
    return -1;
  }
  return 0;
}

int mh_lconv_decode_value(lua_State *L, const char *s, size_t n, mh_buf_t *scratch,
                          int max_depth, char *err, size_t errlen) {
  luaL_checkstack(L, 8, "decoding a value");
  return decode(L, NULL, 1, s, n, scratch, max_depth, err, errlen);
}

static const char *kind_name(int k) {
  switch (k) {
    case MH_K_HELLO: return "hello";
    case MH_K_MSG: return "msg";
    case MH_K_RESULT: return "result";
    case MH_K_SEND: return "send";
    case MH_K_SYNC: return "sync";
    case MH_K_INVOKE: return "invoke";
    default: return "unknown";
  }
}

/* For a message mh_lconv_decode_msg has pushed (ch, error, args...): puts
 * kind, id (or nil) and frame (or nil) below those values; 5 + nargs, or
 * -1 with the values popped for a Node internal message. */
static int envelope_head(lua_State *L, const mh_msg_t *m) {
  if (m->kind == MH_K_IGNORED) {
    lua_pop(L, 2 + m->nargs);
    return -1;
  }
  luaL_checkstack(L, 4, "decoding a message");
  lua_pushstring(L, kind_name(m->kind));
  if (m->has_id) lua_pushinteger(L, m->id);
  else lua_pushnil(L);
  if (m->has_frame) lua_pushinteger(L, m->frame);
  else lua_pushnil(L);
  lua_rotate(L, lua_gettop(L) - 2 - (2 + m->nargs), 3);
  return 5 + m->nargs;
}

int mh_lconv_push_envelope(lua_State *L, const char *line, size_t n, mh_buf_t *scratch,
                           int max_depth, char *err, size_t errlen) {
  mh_msg_t m;
  err[0] = 0;
  if (mh_lconv_decode_msg(L, line, n, scratch, max_depth, &m, err, errlen) != 0) return -1;
  return envelope_head(L, &m);
}

/* ---- encoding --------------------------------------------------------------- */

typedef struct enc {
  lua_State *L;
  mh_buf_t *b;
  int max_depth;
  int depth;
  const void **path;      /* tables on the way down, to spot cycles: */
  int cap;                /* small, or on the heap past its size */
  const void *small[64];
  char where[256];        /* the path to a failing value, built on unwind */
  char what[192];
} enc_t;

static void enc_init(enc_t *e, lua_State *L, mh_buf_t *b, int max_depth) {
  e->L = L;
  e->b = b;
  e->max_depth = max_depth;
  e->depth = 0;
  e->path = e->small;
  e->cap = (int)(sizeof e->small / sizeof e->small[0]);
}

static void enc_done(enc_t *e) {
  if (e->path != e->small) free(e->path);
}

/* Room for one more table on the path (up to max_depth). 0, or -1. */
static int enc_grow(enc_t *e) {
  int cap = e->cap * 2 < e->max_depth ? e->cap * 2 : e->max_depth;
  const void **p = e->path == e->small ? malloc(sizeof *p * (size_t)cap)
                                       : realloc(e->path, sizeof *p * (size_t)cap);
  if (!p) return -1;
  if (e->path == e->small) memcpy(p, e->small, sizeof e->small);
  e->path = p;
  e->cap = cap;
  return 0;
}

static int enc_fail(enc_t *e, const char *fmt, const char *arg) {
  snprintf(e->what, sizeof e->what, fmt, arg);
  e->where[0] = 0;
  return -1;
}

/* Puts one path component before what is already in e->where. */
static void enc_prefix(enc_t *e, int key_idx) {
  lua_State *L = e->L;
  char comp[80];
  if (lua_type(L, key_idx) == LUA_TNUMBER) {
    snprintf(comp, sizeof comp, "[%lld]", (long long)lua_tointeger(L, key_idx));
  } else {
    size_t n;
    const char *s = lua_tolstring(L, key_idx, &n);
    int ident = n > 0 && n < 60 && (isalpha((unsigned char)s[0]) || s[0] == '_');
    for (size_t i = 0; ident && i < n; i++)
      if (!isalnum((unsigned char)s[i]) && s[i] != '_') ident = 0;
    if (ident) snprintf(comp, sizeof comp, ".%s", s);
    else snprintf(comp, sizeof comp, "[\"%.50s%s\"]", s, n > 50 ? "..." : "");
  }
  size_t cl = strlen(comp), wl = strlen(e->where);
  if (cl + wl + 1 > sizeof e->where) return;
  memmove(e->where + cl, e->where, wl + 1);
  memcpy(e->where, comp, cl);
}

static int enc_value(enc_t *e, int idx);

static int enc_table(enc_t *e, int idx) {
  lua_State *L = e->L;
  const void *self = lua_topointer(L, idx);
  for (int i = 0; i < e->depth; i++)
    if (e->path[i] == self) return enc_fail(e, "%stable contains itself (a cycle) and cannot be sent", "");
  if (e->depth >= e->max_depth) return enc_fail(e, "%stables nested too deeply to send", "");
  if (e->depth >= e->cap && enc_grow(e) != 0) return enc_fail(e, "%sout of memory", "");
  if (!lua_checkstack(L, 6)) return enc_fail(e, "%sout of Lua stack", "");

  /* First pass: is it an array (keys 1..n, holes allowed) or an object
   * (string keys)? Anything else cannot be carried without change. */
  lua_Integer max = 0, count = 0;
  int has_int = 0, has_str = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int kt = lua_type(L, -1);
    if (kt == LUA_TSTRING) {
      has_str = 1;
    } else if (kt == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      has_int = 1;
      if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    } else {
      char desc[64];
      if (kt == LUA_TNUMBER) {
        if (lua_isinteger(L, -1)) snprintf(desc, sizeof desc, "key %lld", (long long)lua_tointeger(L, -1));
        else snprintf(desc, sizeof desc, "key %.17g", (double)lua_tonumber(L, -1));
      } else {
        snprintf(desc, sizeof desc, "a %s key", lua_typename(L, kt));
      }
      lua_pop(L, 1);
      return enc_fail(e, "table with %s cannot be sent (keys are strings or 1..n)", desc);
    }
    count++;
    if (has_int && has_str) {
      lua_pop(L, 1);
      return enc_fail(e, "%stable mixes array and string keys and cannot be sent", "");
    }
  }
  e->path[e->depth++] = self;
  mh_buf_t *b = e->b;
  if (!has_str) {
    if (max > 2 * count + 1)
      return e->depth--, enc_fail(e, "%ssparse array (too many holes) cannot be sent", "");
    if (mh_buf_putc(b, '[') != 0) goto nomem;
    for (lua_Integer i = 1; i <= max; i++) {
      if (i > 1 && mh_buf_putc(b, ',') != 0) goto nomem;
      lua_rawgeti(L, idx, i);
      if (enc_value(e, lua_gettop(L)) != 0) {
        lua_pushinteger(L, i);
        enc_prefix(e, -1);
        lua_pop(L, 2);
        e->depth--;
        return -1;
      }
      lua_pop(L, 1);
    }
    if (mh_buf_putc(b, ']') != 0) goto nomem;
  } else {
    if (mh_buf_putc(b, '{') != 0) goto nomem;
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      size_t kn;
      const char *k = lua_tolstring(L, -2, &kn);  /* a string: no conversion */
      if ((!first && mh_buf_putc(b, ',') != 0) || mh_wire_put_string(b, k, kn) != 0 ||
          mh_buf_putc(b, ':') != 0) {
        lua_pop(L, 2);
        goto nomem;
      }
      first = 0;
      if (enc_value(e, lua_gettop(L)) != 0) {
        enc_prefix(e, -2);
        lua_pop(L, 2);
        e->depth--;
        return -1;
      }
      lua_pop(L, 1);
    }
    if (mh_buf_putc(b, '}') != 0) goto nomem;
  }
  e->depth--;
  return 0;
nomem:
  e->depth--;
  return enc_fail(e, "%sout of memory", "");
}

static int enc_value(enc_t *e, int idx) {
  lua_State *L = e->L;
  mh_buf_t *b = e->b;
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      return mh_buf_put(b, "null", 4) ? enc_fail(e, "%sout of memory", "") : 0;
    case LUA_TBOOLEAN:
      return (lua_toboolean(L, idx) ? mh_buf_put(b, "true", 4) : mh_buf_put(b, "false", 5))
                 ? enc_fail(e, "%sout of memory", "") : 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx))
        return mh_wire_put_integer(b, (int64_t)lua_tointeger(L, idx)) ? enc_fail(e, "%sout of memory", "") : 0;
      else {
        double v = (double)lua_tonumber(L, idx);
        if (isnan(v)) return enc_fail(e, "%sNaN cannot be sent", "");
        if (isinf(v)) return enc_fail(e, "%s cannot be sent", v > 0 ? "inf" : "-inf");
        return mh_wire_put_real(b, v) ? enc_fail(e, "%sout of memory", "") : 0;
      }
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      return mh_wire_put_string(b, s, n) ? enc_fail(e, "%sout of memory", "") : 0;
    }
    case LUA_TTABLE:
      return enc_table(e, idx);
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL)
        return mh_buf_put(b, "null", 4) ? enc_fail(e, "%sout of memory", "") : 0;
      return enc_fail(e, "%s cannot be sent", "light userdata");
    default:
      return enc_fail(e, "%s cannot be sent", luaL_typename(L, idx));
  }
}

int mh_lconv_encode_args(lua_State *L, int first, int last, int argbase, const char *what,
                         mh_buf_t *b, int max_depth, char *err, size_t errlen) {
  enc_t e;
  enc_init(&e, L, b, max_depth);
  int rc = 0;
  for (int i = first; i <= last && rc == 0; i++) {
    if (i > first && mh_buf_putc(b, ',') != 0) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
    } else if (enc_value(&e, i) != 0) {
      snprintf(err, errlen, "%s %d%s%s: %s", what, i - first + argbase,
               e.where[0] ? " " : "", e.where, e.what);
      rc = -1;
    }
  }
  enc_done(&e);
  return rc;
}

int mh_lconv_encode_value(lua_State *L, int idx, mh_buf_t *b, int max_depth, char *err,
                          size_t errlen) {
  enc_t e;
  enc_init(&e, L, b, max_depth);
  int rc = enc_value(&e, lua_absindex(L, idx));
  if (rc != 0) snprintf(err, errlen, "value%s%s: %s", e.where[0] ? " " : "", e.where, e.what);
  enc_done(&e);
  return rc;
}

/* ---- mainhost.json ------------------------------------------------------------- */

int mh_lconv_l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  mh_buf_t b = {0};
  char err[400];
  if (mh_lconv_encode_value(L, 1, &b, 1000, err, sizeof err) != 0) {
    mh_buf_free(&b);
    return luaL_error(L, "%s", err);
  }
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  mh_buf_free(&b);
  return 1;
}

int mh_lconv_l_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mh_buf_t scratch = {0};
  char err[200];
  int rc = mh_lconv_decode_value(L, s, n, &scratch, 1000, err, sizeof err);
  mh_buf_free(&scratch);
  if (rc != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

int mh_lconv_open_json(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, mh_lconv_l_encode);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, mh_lconv_l_decode);
  lua_setfield(L, -2, "decode");
  mh_lconv_push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}
