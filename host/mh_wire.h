/* mh_wire.h: the wire codec: byte buffers, newline framing, a validating
 * JSON reader that reports values to callbacks, and JSON writers.
 * Rule: never includes lua.h or uv.h, so it unit-tests alone. */
#ifndef MH_WIRE_H
#define MH_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- growable byte buffer ------------------------------------------- */

/* A buffer owns `data` (malloc'd, may be NULL while cap == 0). */
typedef struct mh_buf {
  char *data;
  size_t len;
  size_t cap;
} mh_buf_t;

/* Grows the buffer for `extra` more bytes past len (mh_buf_reserve's slow
 * path). 0, or -1 when out of memory (the buffer is unchanged then). */
int mh_buf_grow(mh_buf_t *b, size_t extra);
void mh_buf_free(mh_buf_t *b);

/* Makes room for `extra` more bytes past len. 0, or -1 when out of memory
 * (the buffer is unchanged then). Inline: the writers call it per token. */
static inline int mh_buf_reserve(mh_buf_t *b, size_t extra) {
  return b->cap - b->len >= extra ? 0 : mh_buf_grow(b, extra);
}

static inline int mh_buf_put(mh_buf_t *b, const void *p, size_t n) {
  if (mh_buf_reserve(b, n) != 0) return -1;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static inline int mh_buf_putc(mh_buf_t *b, char c) {
  if (b->len == b->cap && mh_buf_reserve(b, 1) != 0) return -1;
  b->data[b->len++] = c;
  return 0;
}

/* ---- framing: one JSON text per line ----------------------------------- */

/* Accumulates bytes read from a stream and yields complete lines. Lines are
 * returned in place (no copy) and stay valid until the next space/commit. */
typedef struct mh_framer {
  mh_buf_t buf;
  size_t start;    /* first byte of the current (incomplete) line */
  size_t scanned;  /* bytes after start already known to hold no '\n' */
  size_t max_line; /* a line longer than this is an error (0: no limit) */
} mh_framer_t;

/* Free space to read into (at least `want` bytes; may be more). NULL when
 * out of memory. */
char *mh_framer_space(mh_framer_t *f, size_t want, size_t *avail);
void mh_framer_commit(mh_framer_t *f, size_t n);
/* 1: *line and *len set (without the '\n'); 0: no complete line yet;
 * -1: the pending line is over max_line (the stream is then unusable). */
int mh_framer_next(mh_framer_t *f, const char **line, size_t *len);
/* Bytes held that are not part of a complete line (an unterminated tail). */
size_t mh_framer_pending(const mh_framer_t *f);
void mh_framer_free(mh_framer_t *f);

/* ---- JSON reader --------------------------------------------------------- */

/* Non-zero when any of the 8 bytes of x needs attention in a JSON string: a
 * quote, a backslash, a control byte or a non-ASCII byte. The lowest flagged
 * byte is exact (false flags only sit above a true one). */
static inline uint64_t mh_wire_special8(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  uint64_t q = x ^ (ones * '"');
  uint64_t s = x ^ (ones * '\\');
  uint64_t zq = (q - ones) & ~q;
  uint64_t zs = (s - ones) & ~s;
  uint64_t ctl = (x - ones * 0x20) & ~x;
  return (zq | zs | ctl | x) & highs;
}

static inline uint64_t mh_wire_load8(const char *p) {
  uint64_t x;
  memcpy(&x, p, 8);
  return x;
}

/* The first byte in [p, end) that a JSON string cannot hold as it is (a
 * quote, a backslash, a control byte or a non-ASCII byte), or end: when it
 * is a '"', [p, that byte) is a string's whole content, without escapes. */
static inline const char *mh_wire_plain_end(const char *p, const char *end) {
#ifdef __SSE2__
  /* 16 bytes a step (x86-64 always has SSE2): a signed compare with 0x20
   * flags both control bytes and bytes >= 0x80 (negative as signed). */
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  for (; end - p >= 16; p += 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                             _mm_cmplt_epi8(x, space));
    int bits = _mm_movemask_epi8(m);
    if (bits) return p + __builtin_ctz((unsigned)bits);
  }
#endif
  for (; end - p >= 8; p += 8) {
    uint64_t m8 = mh_wire_special8(mh_wire_load8(p));
    if (m8) return p + (__builtin_ctzll(m8) >> 3);
  }
  while (p < end) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
    p++;
  }
  return p;
}

typedef enum mh_json_type {
  MH_JSON_NULL,
  MH_JSON_FALSE,
  MH_JSON_TRUE,
  MH_JSON_INTEGER,
  MH_JSON_REAL,
  MH_JSON_STRING
} mh_json_type_t;

/* A scalar. For strings, `s`/`n` point into the input or into the scratch
 * buffer (borrowed: valid only during the callback). Strings are returned
 * as bytes: escapes decoded, lone surrogates \udc80-\udcff decoded to the
 * single raw byte 0x80-0xff (how non-UTF-8 bytes travel), other lone
 * surrogates as their 3-byte WTF-8 form. */
typedef struct mh_json_value {
  mh_json_type_t type;
  int64_t i;
  double d;
  const char *s;
  size_t n;
} mh_json_value_t;

/* Callbacks; each returns 0 to go on or non-zero to stop the parse (the
 * parse then returns MH_JSON_ABORTED). `index` is the 1-based position in
 * the parent array, or 0 for an object member or the top-level value;
 * `depth` is the depth of the value itself (the top-level value is 1). */
typedef struct mh_json_handler {
  int (*scalar)(void *ud, const mh_json_value_t *v, size_t index, int depth);
  int (*begin)(void *ud, int is_object, size_t index, int depth);
  int (*end)(void *ud, int is_object, size_t count, int depth);
  int (*key)(void *ud, const char *s, size_t n, int depth);
} mh_json_handler_t;

enum {
  MH_JSON_OK = 0,
  MH_JSON_SYNTAX = -1,   /* not JSON (details in the error) */
  MH_JSON_DEPTH = -2,    /* nested deeper than max_depth */
  MH_JSON_RANGE = -3,    /* a number that overflows a double (1e400) */
  MH_JSON_UTF8 = -4,     /* invalid UTF-8 inside a string */
  MH_JSON_NOMEM = -5,
  MH_JSON_ABORTED = -6   /* a callback asked to stop */
};

typedef struct mh_json_error {
  size_t offset;   /* byte offset in the input */
  char msg[96];
} mh_json_error_t;

/* Parses exactly one JSON text filling [p, p+n) (surrounding white space
 * allowed). Iterative: depth costs no C stack. `scratch` is reused for
 * unescaped strings. Returns MH_JSON_OK or one of the negative codes. */
int mh_json_parse(const char *p, size_t n, int max_depth, mh_buf_t *scratch,
                  const mh_json_handler_t *h, void *ud, mh_json_error_t *err);

/* Like mh_json_parse, but the JSON value may be followed by other bytes:
 * stops after the first complete value (and the white space after it) and
 * sets *used to the bytes read. For a caller that reads the text around the
 * value itself (the envelope fast path in lconv.c). */
int mh_json_parse_prefix(const char *p, size_t n, int max_depth, mh_buf_t *scratch,
                         const mh_json_handler_t *h, void *ud, mh_json_error_t *err,
                         size_t *used);

/* The reader's own string and number scanners, for such a caller. Each
 * reads the token starting at p (a '"' for a string; '-' or a digit for a
 * number), exactly as mh_json_parse does, and returns 0 with the value and
 * *next just past the token, or a negative MH_JSON_ code (no message).
 * A string's bytes are in the input when it had no escapes, else in
 * scratch (as in mh_json_value_t). A number is MH_JSON_INTEGER or
 * MH_JSON_REAL. */
int mh_json_read_string(const char *p, const char *end, mh_buf_t *scratch,
                        const char **s, size_t *n, const char **next);
int mh_json_read_number(const char *p, const char *end, mh_buf_t *scratch,
                        mh_json_value_t *v, const char **next);

/* ---- envelope fast paths ------------------------------------------------------- *
 * Pieces shared by the readers that take an ordinary message line apart
 * without the callbacks (mh_lconv_decode_msg's fast path in lconv.c and the
 * C client's in mh_client.c). Each reads exactly what the reader would and
 * hands anything less simple to it. */

/* The envelope's keys (protocol.md), as those readers tell them apart. */
typedef enum mh_wire_key {
  MH_KEY_OTHER = 0,  /* any other key, or one written with escapes */
  MH_KEY_K, MH_KEY_CH, MH_KEY_ERROR, MH_KEY_ID, MH_KEY_FRAME, MH_KEY_ARGS, MH_KEY_V
} mh_wire_key_t;

static inline int mh_wire_is_digit(char c) { return c >= '0' && c <= '9'; }

/* The next byte that is not white space, moving *pq to it; 0 at the end
 * (never an expected byte: a NUL there is a syntax error anyway). Lines are
 * usually compact, so the byte itself is tested before any skipping. */
static inline char mh_wire_peek(const char **pq, const char *end) {
  const char *q = *pq;
  if (q < end && (unsigned char)*q > ' ') return *q;
  while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) q++;
  *pq = q;
  return q < end ? *q : 0;
}

/* The key that starts at *pq, just past its opening quote; *pq is moved
 * past the closing quote unless it is MH_KEY_OTHER. Matched by the first
 * letter and the bytes: cheaper than a scan and memcmp for these few short
 * names. */
static inline mh_wire_key_t mh_wire_key(const char **pq, const char *end) {
  const char *q = *pq;
  ptrdiff_t avail = end - q;
  mh_wire_key_t k;
  size_t n;
  if (avail < 2) return MH_KEY_OTHER;
  switch (q[0]) {
    case 'k': k = MH_KEY_K; n = 1; break;
    case 'v': k = MH_KEY_V; n = 1; break;
    case 'c': if (avail < 3 || q[1] != 'h') return MH_KEY_OTHER; k = MH_KEY_CH; n = 2; break;
    case 'i': if (avail < 3 || q[1] != 'd') return MH_KEY_OTHER; k = MH_KEY_ID; n = 2; break;
    case 'a':
      if (avail < 5 || q[1] != 'r' || q[2] != 'g' || q[3] != 's') return MH_KEY_OTHER;
      k = MH_KEY_ARGS; n = 4; break;
    case 'f':
      if (avail < 6 || memcmp(q + 1, "rame", 4) != 0) return MH_KEY_OTHER;
      k = MH_KEY_FRAME; n = 5; break;
    case 'e':
      if (avail < 6 || memcmp(q + 1, "rror", 4) != 0) return MH_KEY_OTHER;
      k = MH_KEY_ERROR; n = 5; break;
    default: return MH_KEY_OTHER;
  }
  if (q[n] != '"') return MH_KEY_OTHER;
  *pq = q + n + 1;
  return k;
}

/* The string whose '"' is at *pq, as mh_json_read_string reads it: a
 * string with nothing to unescape or check is its bytes in the input, read
 * here; any other goes to the reader. 0, or -1 when it is not valid JSON. */
static inline int mh_wire_fast_string(const char **pq, const char *end, mh_buf_t *scratch, const char **s,
                                      size_t *n) {
  const char *b = *pq + 1, *e = mh_wire_plain_end(b, end);
  if (e < end && *e == '"') {
    *s = b;
    *n = (size_t)(e - b);
    *pq = e + 1;
    return 0;
  }
  return mh_json_read_string(*pq, end, scratch, s, n, pq) == 0 ? 0 : -1;
}

/* The number at *pq (a '-' or a digit), as mh_json_read_number reads it: 1
 * to 18 digits (no int64 overflow), no leading zero, no fraction or
 * exponent are read here; anything else goes to the reader. 0, or -1 when
 * it is not valid JSON. */
static inline int mh_wire_fast_number(const char **pq, const char *end, mh_buf_t *scratch, mh_json_value_t *v) {
  const char *q = *pq, *s = q;
  q += *q == '-';
  const char *d = q;
  uint64_t acc = 0;  /* may wrap past 19 digits: then it is not used */
  while (q < end && mh_wire_is_digit(*q)) acc = acc * 10 + (uint64_t)(*q++ - '0');
  size_t nd = (size_t)(q - d);
  if (nd - 1 < 18 && (*d != '0' || nd == 1) && (q >= end || (*q != '.' && *q != 'e' && *q != 'E'))) {
    v->type = MH_JSON_INTEGER;
    v->i = *s == '-' ? -(int64_t)acc : (int64_t)acc;
    *pq = q;
    return 0;
  }
  return mh_json_read_number(s, end, scratch, v, pq) == 0 ? 0 : -1;
}

/* The literal true, false or null at *pq (which may be end): its type
 * (MH_JSON_TRUE, MH_JSON_FALSE, MH_JSON_NULL), *pq past it; -1 (nothing
 * read) otherwise. */
static inline int mh_wire_fast_literal(const char **pq, const char *end) {
  const char *q = *pq;
  ptrdiff_t left = end - q;
  if (left >= 4 && memcmp(q, "true", 4) == 0) return *pq = q + 4, MH_JSON_TRUE;
  if (left >= 5 && memcmp(q, "false", 5) == 0) return *pq = q + 5, MH_JSON_FALSE;
  if (left >= 4 && memcmp(q, "null", 4) == 0) return *pq = q + 4, MH_JSON_NULL;
  return -1;
}

/* An integer field's value at *pq (q < end): 0 with *out, or -1 for
 * anything else (a real, a string, a syntax error). */
static inline int mh_wire_fast_int(const char **pq, const char *end, mh_buf_t *scratch, int64_t *out) {
  mh_json_value_t v;
  if ((**pq != '-' && !mh_wire_is_digit(**pq)) || mh_wire_fast_number(pq, end, scratch, &v) != 0 ||
      v.type != MH_JSON_INTEGER)
    return -1;
  *out = v.i;
  return 0;
}

/* ---- JSON writers ----------------------------------------------------------- */

/* Appends `s` as a JSON string with quotes. Valid UTF-8 is copied as is
 * (only '"', '\\' and control bytes are escaped); each byte that is not
 * part of valid UTF-8 is written as \udcXX. -1 on out of memory. */
int mh_wire_put_string(mh_buf_t *b, const char *s, size_t n);

/* Writes v's digits so that they end at `end`; returns where they start. */
static inline char *mh_wire_itoa_end(char *end, int64_t v) {
  char *p = end;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  return p;
}

/* Inline, as it is written for every id and integer argument: the digits
 * are made at the end of the first 24 bytes of tmp and moved with one
 * fixed-size copy (24 bytes from p stay inside tmp), no copy call. */
static inline int mh_wire_put_integer(mh_buf_t *b, int64_t v) {
  char tmp[48], *end = tmp + 24;
  char *p = mh_wire_itoa_end(end, v);
  if (mh_buf_reserve(b, 24) != 0) return -1;
  memcpy(b->data + b->len, p, 24);
  b->len += (size_t)(end - p);
  return 0;
}
/* Shortest text that reads back to the same double, always with a '.' or
 * an exponent so it reads back as a float. -1 when v is NaN or infinite
 * (not representable) or on out of memory. */
int mh_wire_put_real(mh_buf_t *b, double v);
/* The host's nesting limit for a message, which it passes to renderers in
 * MAINHOST_MAX_DEPTH (limits.maxDepth): 1..100000, or 0 when unset or not
 * a number in that range. */
int mh_wire_env_max_depth(void);

/* ---- result lines ---------------------------------------------------------- */

/* How envelopes begin, as every writer writes them and the readers' fast
 * paths expect them: {"k":"KIND","ch": for messages, {"k":"result","id":
 * for results. */
#define MH_WIRE_HEAD(kind) "{\"k\":\"" kind "\",\"ch\":"
#define MH_WIRE_RESULT_HEAD "{\"k\":\"result\",\"id\":"

/* The host writes every result as {"k":"result","id":N,... with these two
 * fields first, so a blocked renderer can find its reply without decoding
 * other lines. Writes that head for request id into buf (NUL-terminated;
 * 48 bytes always suffice); returns its length, or 0 when cap is short. */
size_t mh_wire_result_head(char *buf, size_t cap, int64_t id);
/* 1 when line starts with head (from mh_wire_result_head) and the id ends
 * there. */
int mh_wire_is_result(const char *line, size_t n, const char *head, size_t hn);

#endif
