/* fuzz_decode.c: a libFuzzer target for what a renderer's bytes go through
 * in the host: the newline framer, the JSON reader (mh_json_parse) and the
 * JSON -> Lua conversion (mh_lconv_decode_msg, mh_lconv_push_envelope,
 * mh_lconv_decode_value), with a round trip back through
 * mh_lconv_encode_value.
 * Rule: every check that can fail calls abort() with a line on stderr, so
 * libFuzzer keeps the input; nothing here is a host module (built and run
 * by scripts/fuzz, never by meson).
 *
 * Oracles, per input:
 * - framer: fed in chunks of varying size, once without a line limit and
 *   once with a small one; every line it yields is the next line of the
 *   input, the unterminated tail is what is left, and -1 comes exactly when
 *   the pending line is over the limit.
 * - reader: with callbacks that check the event stream (begin/end balance,
 *   depths, 1-based array indexes, one key before each member value, counts
 *   in `end`, a finite double, readable string bytes) at several max
 *   depths, and with a handler of NULL callbacks at a huge max depth;
 *   acceptance can only grow with max_depth.
 * - Lua: decode_value succeeds exactly when the reader accepts the text at
 *   the same depth and pushes one value; decode_msg pushes 2 + nargs values
 *   or nothing, and accepts only what the reader accepts; push_envelope
 *   agrees with it (5 + nargs values, or nothing for a refused or a Node
 *   message); both on the whole input and on each framed line, as the host
 *   and the in-process renderers see them.
 * - round trip: encode(v1) fails only for a sparse array; decode(encode(v1))
 *   succeeds and is deeply equal to v1 (integer vs float subtype and the
 *   bits of every float included); encode(decode(encode(v1))) has the same
 *   bytes as encode(v1) -- same length always, same bytes whenever the
 *   value holds no object of two or more keys (Lua's table iteration order
 *   depends on insertion history, so members may come out permuted). The
 *   same for the arguments of a decoded message through encode_args. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lconv.h"
#include "mh_wire.h"

#define ENC_DEPTH 200   /* the host's default maxDepth */

static lua_State *L;
static mh_buf_t scratch;
static unsigned long runs;

#define CHECK(cond, ...)                                    \
  do {                                                      \
    if (!(cond)) {                                          \
      fprintf(stderr, "fuzz_decode: check failed: %s: ", #cond); \
      fprintf(stderr, __VA_ARGS__);                         \
      fputc('\n', stderr);                                  \
      abort();                                              \
    }                                                       \
  } while (0)

/* ---- the framer ------------------------------------------------------- */

static uint64_t mix(uint64_t x) {  /* splitmix64: chunk sizes from the input */
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

typedef void (*line_fn)(const char *line, size_t n);

/* Feeds data through a framer with max_line (0: none) in chunks drawn from
 * seed, checking every answer against the input itself. */
static void frame(const uint8_t *data, size_t size, size_t max_line, uint64_t seed, line_fn on_line) {
  mh_framer_t f;
  memset(&f, 0, sizeof f);
  f.max_line = max_line;
  size_t fed = 0, pos = 0;  /* pos: start of the next line in data */
  int broken = 0;
  while (fed < size && !broken) {
    seed = mix(seed);
    size_t want = 1 + (size_t)(seed % 97);
    if (seed & 0x10000) want = 1 + (size_t)(seed >> 40) % 5000;
    if (want > size - fed) want = size - fed;
    size_t avail;
    char *p = mh_framer_space(&f, want, &avail);
    CHECK(p != NULL, "framer out of memory");
    CHECK(avail >= want, "space gave %zu < %zu bytes", avail, want);
    memcpy(p, data + fed, want);
    mh_framer_commit(&f, want);
    fed += want;
    for (;;) {
      const char *line;
      size_t len;
      int r = mh_framer_next(&f, &line, &len);
      const uint8_t *nl = memchr(data + pos, '\n', fed - pos);
      size_t end = nl ? (size_t)(nl - data) : fed;
      if (r == 1) {
        CHECK(nl != NULL, "a line without a newline in the input");
        CHECK(len == end - pos && memcmp(line, data + pos, len) == 0,
              "line at %zu: got %zu bytes, the input has %zu", pos, len, end - pos);
        CHECK(!max_line || len <= max_line, "a %zu-byte line past the %zu limit", len, max_line);
        if (on_line) on_line(line, len);
        pos = end + 1;
        continue;
      }
      if (r == 0) {
        CHECK(nl == NULL, "no line, but the input has one at %zu", end);
        CHECK(!max_line || fed - pos <= max_line, "a %zu-byte tail passed the %zu limit", fed - pos,
              max_line);
        CHECK(mh_framer_pending(&f) == fed - pos, "pending %zu, expected %zu",
              mh_framer_pending(&f), fed - pos);
        break;
      }
      CHECK(r == -1, "framer returned %d", r);
      CHECK(max_line && end - pos > max_line, "over the limit with a %zu-byte line (limit %zu)",
            end - pos, max_line);
      broken = 1;  /* the stream is unusable from here on, as documented */
      break;
    }
  }
  if (!broken) CHECK(mh_framer_pending(&f) == size - pos, "tail %zu, expected %zu",
                     mh_framer_pending(&f), size - pos);
  mh_framer_free(&f);
}

/* ---- the reader with checking callbacks ------------------------------- */

typedef struct chk_level {
  int is_object;
  size_t count;
  int key_pending;  /* object: a key was read, its value comes next */
} chk_level_t;

typedef struct chk {
  chk_level_t *st;
  int depth, max_depth;
  int top_values;
  unsigned sum;
} chk_t;

static void chk_value(chk_t *c, size_t index, int depth, const char *what) {
  CHECK(depth == c->depth + 1, "%s at depth %d with %d open", what, depth, c->depth);
  /* max_depth bounds containers; a scalar may sit inside the deepest one. */
  CHECK(depth <= c->max_depth + (what[0] == 's'), "%s at depth %d past max %d", what, depth,
        c->max_depth);
  if (c->depth == 0) {
    CHECK(index == 0, "top-level %s with index %zu", what, index);
    CHECK(c->top_values == 0, "a second top-level value");
    c->top_values++;
    return;
  }
  chk_level_t *p = &c->st[c->depth - 1];
  if (p->is_object) {
    CHECK(index == 0, "member %s with index %zu", what, index);
    CHECK(p->key_pending, "member %s without a key", what);
    p->key_pending = 0;
  } else {
    CHECK(index == p->count + 1, "array %s with index %zu after %zu", what, index, p->count);
    p->count = index;
  }
}

static void touch(chk_t *c, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) c->sum += (unsigned char)s[i];  /* ASan sees each byte */
}

static int chk_scalar(void *ud, const mh_json_value_t *v, size_t index, int depth) {
  chk_t *c = ud;
  chk_value(c, index, depth, "scalar");
  if (v->type == MH_JSON_REAL) CHECK(isfinite(v->d), "a non-finite real");
  if (v->type == MH_JSON_STRING) {
    CHECK(v->s != NULL || v->n == 0, "NULL string of %zu bytes", v->n);
    touch(c, v->s, v->n);
  }
  CHECK(v->type <= MH_JSON_STRING, "scalar type %d", (int)v->type);
  return 0;
}

static int chk_begin(void *ud, int is_object, size_t index, int depth) {
  chk_t *c = ud;
  chk_value(c, index, depth, is_object ? "object" : "array");
  c->st[c->depth].is_object = is_object;
  c->st[c->depth].count = 0;
  c->st[c->depth].key_pending = 0;
  c->depth++;
  return 0;
}

static int chk_end(void *ud, int is_object, size_t count, int depth) {
  chk_t *c = ud;
  CHECK(depth == c->depth && depth > 0, "end at depth %d with %d open", depth, c->depth);
  chk_level_t *t = &c->st[c->depth - 1];
  CHECK(t->is_object == is_object, "end of the wrong kind of container");
  CHECK(count == t->count, "end says %zu members, %zu were seen", count, t->count);
  CHECK(!t->key_pending, "object ended after a key without its value");
  c->depth--;
  return 0;
}

static int chk_key(void *ud, const char *s, size_t n, int depth) {
  chk_t *c = ud;
  CHECK(depth == c->depth + 1 && c->depth > 0, "key at depth %d with %d open", depth, c->depth);
  chk_level_t *p = &c->st[c->depth - 1];
  CHECK(p->is_object, "key inside an array");
  CHECK(!p->key_pending, "two keys in a row");
  CHECK(s != NULL || n == 0, "NULL key of %zu bytes", n);
  touch(c, s, n);
  p->key_pending = 1;
  p->count++;
  return 0;
}

static const mh_json_handler_t chk_handler = {chk_scalar, chk_begin, chk_end, chk_key};
static const mh_json_handler_t noop_handler = {NULL, NULL, NULL, NULL};

static int parse_checked(const uint8_t *data, size_t size, int max_depth) {
  chk_level_t small[256];
  chk_t c = {small, 0, max_depth, 0, 0};
  mh_json_error_t err;
  int rc = mh_json_parse((const char *)data, size, max_depth, &scratch, &chk_handler, &c, &err);
  CHECK(rc <= 0 && rc >= MH_JSON_NOMEM, "parse returned %d", rc);
  CHECK(rc != MH_JSON_NOMEM, "out of memory on %zu bytes", size);
  if (rc == MH_JSON_OK) {
    CHECK(c.depth == 0 && c.top_values == 1, "accepted with %d open, %d values", c.depth, c.top_values);
  } else {
    CHECK(err.offset <= size, "error offset %zu past %zu", err.offset, size);
    CHECK(err.msg[0] != 0, "an error without a message");
  }
  return rc;
}

/* ---- Lua values -------------------------------------------------------- */

/* Deep equality, stricter than ==: integer and float subtypes differ, and
 * floats compare by bits (-0.0 is not 0.0). *multi is set when a table with
 * two or more string keys is met (its members may iterate in any order). */
static int deep_equal(int a, int b, int *multi) {
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  int t = lua_type(L, a);
  if (t != lua_type(L, b)) return 0;
  switch (t) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, a) != lua_isinteger(L, b)) return 0;
      if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
      {
        lua_Number x = lua_tonumber(L, a), y = lua_tonumber(L, b);
        return memcmp(&x, &y, sizeof x) == 0;
      }
    case LUA_TSTRING: {
      size_t na, nb;
      const char *sa = lua_tolstring(L, a, &na), *sb = lua_tolstring(L, b, &nb);
      return na == nb && memcmp(sa, sb, na) == 0;
    }
    case LUA_TNIL:
      return 1;
    case LUA_TBOOLEAN:
      return lua_toboolean(L, a) == lua_toboolean(L, b);
    case LUA_TLIGHTUSERDATA:
      return lua_touserdata(L, a) == lua_touserdata(L, b);
    case LUA_TTABLE: {
      CHECK(lua_checkstack(L, 8), "Lua stack");
      size_t na = 0, nb = 0, strkeys = 0;
      lua_pushnil(L);
      while (lua_next(L, b)) { nb++; lua_pop(L, 1); }
      lua_pushnil(L);
      while (lua_next(L, a)) {
        na++;
        if (lua_type(L, -2) == LUA_TSTRING) strkeys++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        int eq = !lua_isnil(L, -1) && deep_equal(-2, -1, multi);
        lua_pop(L, 2);
        if (!eq) { lua_pop(L, 1); return 0; }
      }
      if (strkeys >= 2) *multi = 1;
      return na == nb;
    }
    default:
      return 0;  /* decoding makes nothing else */
  }
}

static void encode_or_die(int idx, mh_buf_t *b, const char *what) {
  char err[400];
  b->len = 0;
  int rc = mh_lconv_encode_value(L, idx, b, ENC_DEPTH, err, sizeof err);
  CHECK(rc == 0, "%s: %s", what, err);
}

/* The value on top came from a decode: encode it, decode that, compare. */
static void round_trip(const char *origin) {
  int v1 = lua_gettop(L);
  mh_buf_t e1 = {0}, e2 = {0};
  char err[400];
  if (mh_lconv_encode_value(L, v1, &e1, ENC_DEPTH, err, sizeof err) != 0) {
    /* The one thing a decoded value may hold that the writer refuses. */
    CHECK(strstr(err, "sparse array") != NULL, "%s: encode(decode(x)) failed: %s", origin, err);
    mh_buf_free(&e1);
    return;
  }
  int rc = mh_lconv_decode_value(L, e1.data ? e1.data : "", e1.len, &scratch, ENC_DEPTH, err, sizeof err);
  CHECK(rc == 0, "%s: decode(encode(v)) failed: %s on [%.*s]", origin, err, (int)(e1.len > 200 ? 200 : e1.len),
        e1.data);
  CHECK(lua_gettop(L) == v1 + 1, "%s: decode pushed %d values", origin, lua_gettop(L) - v1);
  int multi = 0;
  CHECK(deep_equal(v1, v1 + 1, &multi), "%s: decode(encode(v)) differs from v: [%.*s]", origin,
        (int)(e1.len > 200 ? 200 : e1.len), e1.data);
  encode_or_die(v1 + 1, &e2, "encode(decode(encode(v)))");
  CHECK(e1.len == e2.len, "%s: re-encoding changed the length %zu -> %zu", origin, e1.len, e2.len);
  CHECK(multi || memcmp(e1.data, e2.data, e1.len) == 0, "%s: not a fixed point: [%.*s] -> [%.*s]",
        origin, (int)(e1.len > 200 ? 200 : e1.len), e1.data, (int)(e2.len > 200 ? 200 : e2.len), e2.data);
  lua_settop(L, v1);
  mh_buf_free(&e1);
  mh_buf_free(&e2);
}

/* decode_msg on one line; on success, its arguments round trip as an
 * array. The parse result at the same depth bounds what may succeed. */
static void decode_msg(const char *line, size_t n, int max_depth) {
  int base = lua_gettop(L);
  mh_msg_t m;
  char err[256];
  int rc = mh_lconv_decode_msg(L, line, n, &scratch, max_depth, &m, err, sizeof err);
  /* push_envelope (the in-process renderers' decoder) says the same. */
  int ebase = lua_gettop(L);
  CHECK(ebase == (rc == 0 ? base + 2 + m.nargs : base), "decode_msg left %d values", ebase - base);
  CHECK(lua_checkstack(L, 8), "Lua stack");
  char err2[256];
  int pushed = mh_lconv_push_envelope(L, line, n, &scratch, max_depth, err2, sizeof err2);
  if (rc != 0 || m.kind == MH_K_IGNORED) {
    CHECK(pushed == -1 && lua_gettop(L) == ebase, "push_envelope pushed %d (%d on the stack) where "
          "decode_msg gave %d", pushed, lua_gettop(L) - ebase, rc);
  } else {
    CHECK(pushed == 5 + m.nargs && lua_gettop(L) == ebase + pushed,
          "push_envelope returned %d and pushed %d for %d args", pushed, lua_gettop(L) - ebase, m.nargs);
    static const char *const kinds[] = {"hello", "msg", "result", "send", "sync", "invoke", NULL};
    const char *k = lua_tostring(L, ebase + 1);
    int known = 0;
    for (int i = 0; k && kinds[i]; i++) known |= strcmp(k, kinds[i]) == 0;
    CHECK(known, "push_envelope kind %s", k ? k : "(not a string)");
    CHECK(lua_isnil(L, ebase + 2) || lua_isinteger(L, ebase + 2), "envelope id");
    CHECK(lua_isnil(L, ebase + 3) || lua_isinteger(L, ebase + 3), "envelope frame");
    CHECK(lua_rawequal(L, ebase + 4, base + 1) || (lua_isnil(L, ebase + 4) && lua_isnil(L, base + 1)),
          "envelope channel differs");
    lua_settop(L, ebase);
  }
  if (rc != 0) {
    CHECK(lua_gettop(L) == base, "a failed decode_msg left %d values", lua_gettop(L) - base);
    CHECK(err[0] != 0, "a failed decode_msg without a reason");
    return;
  }
  CHECK(lua_gettop(L) == base + 2 + m.nargs, "decode_msg pushed %d values for %d args",
        lua_gettop(L) - base, m.nargs);
  CHECK(m.kind > MH_K_UNKNOWN && m.kind <= MH_K_IGNORED, "kind %d", m.kind);
  int ct = lua_type(L, base + 1), et = lua_type(L, base + 2);
  CHECK(ct == LUA_TNIL || ct == LUA_TSTRING, "channel slot holds a %s", lua_typename(L, ct));
  CHECK(et == LUA_TNIL || et == LUA_TSTRING, "error slot holds a %s", lua_typename(L, et));
  /* What the reader must agree with: the line is one JSON text. */
  chk_level_t small[256];
  chk_t c = {small, 0, max_depth, 0, 0};
  CHECK(mh_json_parse(line, n, max_depth, &scratch, &chk_handler, &c, NULL) == MH_JSON_OK,
        "decode_msg accepted what the reader refuses");
  /* The arguments as one array: [a1,a2,...]. */
  mh_buf_t b = {0};
  mh_buf_putc(&b, '[');
  if (mh_lconv_encode_args(L, base + 3, base + 2 + m.nargs, 1, "argument", &b, ENC_DEPTH, err,
                           sizeof err) != 0) {
    CHECK(strstr(err, "sparse array") != NULL, "encode_args(decode_msg(x)) failed: %s", err);
  } else {
    mh_buf_putc(&b, ']');
    rc = mh_lconv_decode_value(L, b.data, b.len, &scratch, ENC_DEPTH, err, sizeof err);
    CHECK(rc == 0, "the encoded arguments do not decode: %s", err);
    int arr = lua_gettop(L);
    CHECK(arr == base + 3 + m.nargs, "decode_value pushed %d values", arr - base - 2 - m.nargs);
    CHECK(lua_checkstack(L, 8), "Lua stack");
    for (int i = 0; i < m.nargs; i++) {
      lua_rawgeti(L, arr, i + 1);
      int multi = 0;
      /* nil arguments (JSON null) come back as holes: nil too. */
      CHECK(deep_equal(base + 3 + i, -1, &multi), "argument %d changed in a round trip", i + 1);
      lua_pop(L, 1);
    }
    round_trip("args");
  }
  mh_buf_free(&b);
  lua_settop(L, base);
}

static int framed_lines;
static void on_framed_line(const char *line, size_t n) {
  if (framed_lines++ < 16) decode_msg(line, n, ENC_DEPTH);
}

/* ---- the entry point ------------------------------------------------------ */

typedef struct job {
  const uint8_t *data;
  size_t size;
} job_t;

static int run(lua_State *L_) {
  (void)L_;
  const job_t *j = lua_touserdata(L, 1);
  lua_settop(L, 0);
  const uint8_t *data = j->data;
  size_t size = j->size;
  char err[256];

  /* The reader: acceptance can only grow with the depth allowed. */
  static const int depths[] = {1, 4, ENC_DEPTH};
  int rcs[3];
  for (int i = 0; i < 3; i++) {
    rcs[i] = parse_checked(data, size, depths[i]);
    if (i > 0 && rcs[i - 1] == MH_JSON_OK) CHECK(rcs[i] == MH_JSON_OK, "accepted at depth %d, not %d",
                                                 depths[i - 1], depths[i]);
    if (i > 0 && rcs[i - 1] != MH_JSON_DEPTH && rcs[i - 1] != MH_JSON_OK)
      CHECK(rcs[i] == rcs[i - 1], "error %d at depth %d, %d at depth %d", rcs[i - 1], depths[i - 1],
            rcs[i], depths[i]);
  }
  mh_json_error_t je;
  int deep = mh_json_parse((const char *)data, size, 1 << 20, &scratch, &noop_handler, NULL, &je);
  if (rcs[2] == MH_JSON_OK) CHECK(deep == MH_JSON_OK, "accepted at depth %d, not at 2^20", ENC_DEPTH);
  if (rcs[2] != MH_JSON_DEPTH) CHECK(deep == rcs[2], "no-op handler: %d, checking handler: %d", deep, rcs[2]);

  /* One value, at two depths, agreeing with the reader. */
  for (int i = 1; i < 3; i++) {
    int rc = mh_lconv_decode_value(L, (const char *)data, size, &scratch, depths[i], err, sizeof err);
    CHECK((rc == 0) == (rcs[i] == MH_JSON_OK), "decode_value %d, reader %d at depth %d (%s)", rc, rcs[i],
          depths[i], rc ? err : "");
    CHECK(lua_gettop(L) == (rc == 0), "decode_value left %d values", lua_gettop(L));
    if (rc == 0 && i == 2) round_trip("value");
    lua_settop(L, 0);
  }

  /* The whole input as one message, at the default and a tiny depth. */
  decode_msg((const char *)data, size, ENC_DEPTH);
  decode_msg((const char *)data, size, 2);

  /* The framer, without and with a limit; each line as the host sees it. */
  uint64_t seed = size;
  for (size_t i = 0; i < size && i < 64; i++) seed = seed * 131 + data[i];
  framed_lines = 0;
  frame(data, size, 0, seed, on_framed_line);
  frame(data, size, 1 + (size_t)(mix(seed) % 40), ~seed, NULL);
  lua_settop(L, 0);
  return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  job_t j = {data, size};
  lua_pushcfunction(L, run);
  lua_pushlightuserdata(L, &j);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    /* Nothing in decoding may raise at these sizes (the host runs it in a
     * protected call too, but an error here means a bug). */
    fprintf(stderr, "fuzz_decode: Lua error: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  if (++runs % 1000 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
