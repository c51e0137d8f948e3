/* mh_wire.c: the wire codec (buffers, newline framing, JSON reader and
 * writers). Strings are scanned eight bytes at a time so large ASCII
 * payloads move at memory speed instead of a character at a time.
 * Rule: never includes lua.h or uv.h. */
#include "mh_wire.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer ------------------------------------------------------------ */

int mh_buf_grow(mh_buf_t *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  if (extra > SIZE_MAX / 2 - b->len) return -1;
  size_t need = b->len + extra;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) return -1;
  b->data = d;
  b->cap = cap;
  return 0;
}

void mh_buf_free(mh_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* ---- framing ------------------------------------------------------------ */

char *mh_framer_space(mh_framer_t *f, size_t want, size_t *avail) {
  mh_buf_t *b = &f->buf;
  /* Move the unfinished line to the front before growing: a stream of small
   * lines then never grows the buffer past one read's worth. */
  if (f->start > 0 && (f->start == b->len || b->cap - b->len < want)) {
    size_t keep = b->len - f->start;
    if (keep) memmove(b->data, b->data + f->start, keep);
    f->scanned -= f->start;
    f->start = 0;
    b->len = keep;
  }
  if (mh_buf_reserve(b, want) != 0) return NULL;
  *avail = b->cap - b->len;
  return b->data + b->len;
}

void mh_framer_commit(mh_framer_t *f, size_t n) { f->buf.len += n; }

int mh_framer_next(mh_framer_t *f, const char **line, size_t *len) {
  mh_buf_t *b = &f->buf;
  size_t from = f->scanned > f->start ? f->scanned : f->start;
  char *nl = from < b->len ? memchr(b->data + from, '\n', b->len - from) : NULL;
  if (!nl) {
    f->scanned = b->len;
    if (f->max_line && b->len - f->start > f->max_line) return -1;
    if (f->start == b->len) f->start = f->scanned = b->len = 0;
    return 0;
  }
  size_t end = (size_t)(nl - b->data);
  if (f->max_line && end - f->start > f->max_line) return -1;
  *line = b->data + f->start;
  *len = end - f->start;
  f->start = f->scanned = end + 1;
  return 1;
}

size_t mh_framer_pending(const mh_framer_t *f) { return f->buf.len - f->start; }

void mh_framer_free(mh_framer_t *f) {
  mh_buf_free(&f->buf);
  f->start = f->scanned = 0;
}

/* ---- shared byte classes -------------------------------------------------- */

/* The scan for the next byte a string cannot carry as is (", \, a control
 * byte, a byte >= 0x80) is mh_wire_plain_end in mh_wire.h (SSE2, else 8
 * bytes at a time), shared with the decoders in lconv.c and mh_client.c. */

/* Length of the valid UTF-8 sequence starting at s (2 to 4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned c = s[0];
  if (c < 0xC2 || c > 0xF4) return 0;
  if (c < 0xE0) return (avail >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
    if (c == 0xED && s[1] > 0x9F) return 0;  /* surrogate */
    return 3;
  }
  if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
      (s[3] & 0xC0) != 0x80)
    return 0;
  if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
  if (c == 0xF4 && s[1] > 0x8F) return 0;  /* past U+10FFFF */
  return 4;
}

/* ---- JSON writers ------------------------------------------------------------ */

static const char hexd[] = "0123456789abcdef";

int mh_wire_put_string(mh_buf_t *b, const char *s, size_t n) {
  /* Room for the common case (nothing to escape) in one reservation. */
  if (mh_buf_reserve(b, n + 2) != 0) return -1;
  char *d = b->data + b->len;
  size_t i;
  if (n <= 24) {
    /* Short (channel names, most values): checked and copied in one pass,
     * cheaper than a scan and a copy call. */
    for (i = 0; i < n; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      d[i + 1] = (char)c;
    }
  } else {
    i = (size_t)(mh_wire_plain_end(s, s + n) - s);
    memcpy(d + 1, s, i);
  }
  d[0] = '"';
  if (i == n) {  /* nothing to escape */
    d[n + 1] = '"';
    b->len += n + 2;
    return 0;
  }
  b->len += i + 1;
  while (i < n) {
    size_t run = (size_t)(mh_wire_plain_end(s + i, s + n) - s);  /* to the next byte to escape */
    if (run > i) {
      if (mh_buf_put(b, s + i, run - i) != 0) return -1;
      i = run;
    }
    if (i >= n) break;
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      size_t l = utf8_len((const unsigned char *)s + i, n - i);
      if (l) {
        if (mh_buf_put(b, s + i, l) != 0) return -1;
        i += l;
        continue;
      }
      /* Not UTF-8: the byte travels as a lone low surrogate (PEP 383). */
      char e[6] = {'\\', 'u', 'd', 'c', hexd[c >> 4], hexd[c & 15]};
      if (mh_buf_put(b, e, 6) != 0) return -1;
      i++;
      continue;
    }
    char e[6];
    size_t el = 2;
    e[0] = '\\';
    switch (c) {
      case '"': e[1] = '"'; break;
      case '\\': e[1] = '\\'; break;
      case '\n': e[1] = 'n'; break;
      case '\r': e[1] = 'r'; break;
      case '\t': e[1] = 't'; break;
      case '\b': e[1] = 'b'; break;
      case '\f': e[1] = 'f'; break;
      default:
        e[1] = 'u'; e[2] = '0'; e[3] = '0';
        e[4] = hexd[c >> 4]; e[5] = hexd[c & 15];
        el = 6;
    }
    if (mh_buf_put(b, e, el) != 0) return -1;
    i++;
  }
  return mh_buf_putc(b, '"');
}

int mh_wire_env_max_depth(void) {
  const char *s = getenv("MAINHOST_MAX_DEPTH");
  char *end;
  long v = s && *s ? strtol(s, &end, 10) : 0;
  return v >= 1 && v <= 100000 && !*end ? (int)v : 0;
}

int mh_wire_put_real(mh_buf_t *b, double v) {
  if (!isfinite(v)) return -1;
  char tmp[40];
  int len = 0;
  for (int prec = 15; prec <= 17; prec++) {
    len = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, v);
    if (prec == 17 || strtod(tmp, NULL) == v) break;
  }
  /* snprintf writes the C library's current decimal point, which a script
   * can change (os.setlocale): put back the '.' JSON needs. */
  size_t at = strspn(tmp, "0123456789+-e");
  if (tmp[at] != 0 && tmp[at] != '.') {
    size_t dpl = strlen(localeconv()->decimal_point);
    if (dpl == 0 || at + dpl > (size_t)len) dpl = 1;
    tmp[at] = '.';
    memmove(tmp + at + 1, tmp + at + dpl, (size_t)len - at - dpl + 1);
    len -= (int)dpl - 1;
  }
  /* Keep it a float on the way back: "1" would read as an integer. */
  if (!strpbrk(tmp, ".eE")) {
    tmp[len++] = '.';
    tmp[len++] = '0';
  }
  return mh_buf_put(b, tmp, (size_t)len);
}

/* ---- JSON reader ----------------------------------------------------------- */

typedef struct level {
  unsigned char is_object;
  size_t count;
} level_t;

typedef struct reader {
  const char *p, *start, *end;
  mh_buf_t *scratch;
  mh_json_error_t *err;
} reader_t;

static int fail(reader_t *r, int code, const char *msg) {
  if (r->err) {
    r->err->offset = (size_t)(r->p - r->start);
    snprintf(r->err->msg, sizeof r->err->msg, "%s", msg);
  }
  return code;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_u4(reader_t *r, const char *q, unsigned *out) {
  if (r->end - q < 4) return -1;
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval((unsigned char)q[k]);
    if (h < 0) return -1;
    v = v << 4 | (unsigned)h;
  }
  *out = v;
  return 0;
}

static int put_utf8(mh_buf_t *b, unsigned cp) {
  char u[4];
  size_t l;
  if (cp < 0x80) { u[0] = (char)cp; l = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3F)); l = 2; }
  else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F)); l = 3;
  } else {
    u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); l = 4;
  }
  return mh_buf_put(b, u, l);
}

/* Reads a string whose opening quote is at r->p. On success r->p is past the
 * closing quote and *s and *n hold the bytes (in the input when there were no
 * escapes, else in scratch). */
static int read_string(reader_t *r, const char **s, size_t *n) {
  const char *q = r->p + 1, *end = r->end;
  const char *seg = q;
  int escaped = 0;
  for (;;) {
    q = mh_wire_plain_end(q, end);  /* straight to the first special byte */
    if (q >= end) { r->p = q; return fail(r, MH_JSON_SYNTAX, "unterminated string"); }
    unsigned char c = (unsigned char)*q;
    if (c == '"') break;
    if (c >= 0x80) {
      size_t l = utf8_len((const unsigned char *)q, (size_t)(end - q));
      if (!l) { r->p = q; return fail(r, MH_JSON_UTF8, "invalid UTF-8 in string"); }
      q += l;
      continue;
    }
    if (c < 0x20) {
      r->p = q;
      return fail(r, MH_JSON_SYNTAX, c == 0 ? "NUL byte in string" : "control character in string");
    }
    if (c != '\\') { q++; continue; }
    /* An escape: from here on the string is rebuilt in scratch. */
    if (!escaped) { escaped = 1; r->scratch->len = 0; }
    if (mh_buf_put(r->scratch, seg, (size_t)(q - seg)) != 0) return fail(r, MH_JSON_NOMEM, "out of memory");
    if (end - q < 2) { r->p = q; return fail(r, MH_JSON_SYNTAX, "unterminated string"); }
    char e = q[1], o;
    q += 2;
    switch (e) {
      case '"': o = '"'; break;
      case '\\': o = '\\'; break;
      case '/': o = '/'; break;
      case 'b': o = '\b'; break;
      case 'f': o = '\f'; break;
      case 'n': o = '\n'; break;
      case 'r': o = '\r'; break;
      case 't': o = '\t'; break;
      case 'u': {
        unsigned cp, lo;
        if (read_u4(r, q, &cp) != 0) { r->p = q; return fail(r, MH_JSON_SYNTAX, "bad \\u escape"); }
        q += 4;
        int rc;
        if (cp >= 0xD800 && cp <= 0xDBFF && end - q >= 6 && q[0] == '\\' && q[1] == 'u' &&
            read_u4(r, q + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
          q += 6;
          rc = put_utf8(r->scratch, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
        } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
          rc = mh_buf_putc(r->scratch, (char)(cp & 0xFF));  /* a raw byte */
        } else {
          rc = put_utf8(r->scratch, cp);  /* lone surrogates become WTF-8 */
        }
        if (rc != 0) return fail(r, MH_JSON_NOMEM, "out of memory");
        seg = q;
        continue;
      }
      default:
        r->p = q - 1;
        return fail(r, MH_JSON_SYNTAX, "bad escape in string");
    }
    if (mh_buf_putc(r->scratch, o) != 0) return fail(r, MH_JSON_NOMEM, "out of memory");
    seg = q;
  }
  if (escaped) {
    if (mh_buf_put(r->scratch, seg, (size_t)(q - seg)) != 0) return fail(r, MH_JSON_NOMEM, "out of memory");
    *s = r->scratch->data ? r->scratch->data : "";
    *n = r->scratch->len;
  } else {
    *s = seg;
    *n = (size_t)(q - seg);
  }
  r->p = q + 1;
  return 0;
}

static int read_number(reader_t *r, mh_json_value_t *v) {
  const char *q = r->p, *end = r->end, *s = q;
  int neg = 0, isreal = 0;
  if (q < end && *q == '-') { neg = 1; q++; }
  if (q >= end || *q < '0' || *q > '9') { r->p = q; return fail(r, MH_JSON_SYNTAX, "bad number"); }
  if (*q == '0') {
    q++;
    if (q < end && *q >= '0' && *q <= '9') { r->p = q; return fail(r, MH_JSON_SYNTAX, "leading zero in number"); }
  } else {
    while (q < end && *q >= '0' && *q <= '9') q++;
  }
  const char *intend = q;
  if (q < end && *q == '.') {
    isreal = 1;
    q++;
    if (q >= end || *q < '0' || *q > '9') { r->p = q; return fail(r, MH_JSON_SYNTAX, "bad number"); }
    while (q < end && *q >= '0' && *q <= '9') q++;
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    isreal = 1;
    q++;
    if (q < end && (*q == '+' || *q == '-')) q++;
    if (q >= end || *q < '0' || *q > '9') { r->p = q; return fail(r, MH_JSON_SYNTAX, "bad number"); }
    while (q < end && *q >= '0' && *q <= '9') q++;
  }
  r->p = q;
  if (!isreal) {
    /* Accumulate as a negative number so INT64_MIN fits. */
    const char *d = s + neg;
    int64_t acc = 0;
    int over = 0;
    for (; d < intend; d++) {
      int dig = *d - '0';
      if (acc < (INT64_MIN + dig) / 10) { over = 1; break; }
      acc = acc * 10 - dig;
    }
    if (!over && (neg || acc != INT64_MIN)) {
      v->type = MH_JSON_INTEGER;
      v->i = neg ? acc : -acc;
      return 0;
    }
    /* Past 64 bits: a float, as Lua's own tonumber does. */
  }
  char tmp[64];
  size_t len = (size_t)(q - s);
  char *text = tmp;
  if (len >= sizeof tmp) {
    r->scratch->len = 0;
    if (mh_buf_put(r->scratch, s, len) != 0 || mh_buf_putc(r->scratch, 0) != 0)
      return fail(r, MH_JSON_NOMEM, "out of memory");
    text = r->scratch->data;
  } else {
    memcpy(tmp, s, len);
    tmp[len] = 0;
  }
  char *stop;
  double d = strtod(text, &stop);
  if (*stop == '.') {
    /* strtod reads the current locale's decimal point, which a script can
     * change (os.setlocale): retry with it, as Lua's own l_str2d does. */
    const char *dp = localeconv()->decimal_point;
    size_t at = (size_t)(stop - text), dpl = strlen(dp);
    char *alt = malloc(len + dpl + 1);
    if (!alt) return fail(r, MH_JSON_NOMEM, "out of memory");
    memcpy(alt, text, at);
    memcpy(alt + at, dp, dpl);
    memcpy(alt + at + dpl, stop + 1, len - at);  /* the rest and the NUL */
    d = strtod(alt, NULL);
    free(alt);
  }
  if (!isfinite(d)) { r->p = s; return fail(r, MH_JSON_RANGE, "number out of range"); }
  v->type = MH_JSON_REAL;
  v->d = d;
  return 0;
}

enum { S_VALUE, S_VALUE_OR_CLOSE, S_KEY, S_KEY_OR_CLOSE, S_AFTER };

static inline const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  return p;
}

int mh_json_read_string(const char *p, const char *end, mh_buf_t *scratch,
                        const char **s, size_t *n, const char **next) {
  reader_t r = {p, p, end, scratch, NULL};
  int rc = read_string(&r, s, n);
  *next = r.p;
  return rc;
}

int mh_json_read_number(const char *p, const char *end, mh_buf_t *scratch,
                        mh_json_value_t *v, const char **next) {
  reader_t r = {p, p, end, scratch, NULL};
  int rc = read_number(&r, v);
  *next = r.p;
  return rc;
}

/* used: NULL for a whole text (mh_json_parse), else where the bytes read
 * after one value go (mh_json_parse_prefix). */
static int parse(const char *p, size_t n, int max_depth, mh_buf_t *scratch,
                 const mh_json_handler_t *h, void *ud, mh_json_error_t *err, size_t *used) {
  reader_t r = {p, p, p + n, scratch, err};
  level_t small[32];
  level_t *lv = small;
  size_t lvcap = sizeof small / sizeof small[0];
  int depth = 0, state = S_VALUE, rc = MH_JSON_OK;
  if (err) { err->offset = 0; err->msg[0] = 0; }

  for (;;) {
    r.p = skip_ws(r.p, r.end);
    if (r.p >= r.end) {
      if (state == S_AFTER && depth == 0) break;
      rc = fail(&r, MH_JSON_SYNTAX, depth || state != S_VALUE ? "unexpected end of input" : "empty input");
      goto done;
    }
    char c = *r.p;
    switch (state) {
      case S_AFTER: {
        if (depth == 0) {
          if (used) goto done;  /* a prefix: the bytes after the value are the caller's */
          rc = fail(&r, MH_JSON_SYNTAX, "trailing characters after the value");
          goto done;
        }
        level_t *top = &lv[depth - 1];
        if (c == ',') { r.p++; state = top->is_object ? S_KEY : S_VALUE; continue; }
        if (c == (top->is_object ? '}' : ']')) goto close;
        rc = fail(&r, MH_JSON_SYNTAX, top->is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto done;
      }
      case S_KEY_OR_CLOSE:
        if (c == '}') goto close;
        /* fall through */
      case S_KEY: {
        if (c != '"') { rc = fail(&r, MH_JSON_SYNTAX, "expected a string key"); goto done; }
        const char *s;
        size_t sn;
        if ((rc = read_string(&r, &s, &sn)) != 0) goto done;
        lv[depth - 1].count++;
        if (h->key && h->key(ud, s, sn, depth + 1)) { rc = fail(&r, MH_JSON_ABORTED, "stopped"); goto done; }
        r.p = skip_ws(r.p, r.end);
        if (r.p >= r.end || *r.p != ':') { rc = fail(&r, MH_JSON_SYNTAX, "expected ':'"); goto done; }
        r.p++;
        state = S_VALUE;
        continue;
      }
      case S_VALUE_OR_CLOSE:
        if (c == ']') goto close;
        /* fall through */
      case S_VALUE: {
        size_t index = 0;
        if (depth > 0 && !lv[depth - 1].is_object) index = ++lv[depth - 1].count;
        if (c == '{' || c == '[') {
          if (depth >= max_depth) { rc = fail(&r, MH_JSON_DEPTH, "nested too deeply"); goto done; }
          if ((size_t)depth == lvcap) {
            size_t ncap = lvcap * 2;
            level_t *nl = malloc(ncap * sizeof *nl);
            if (!nl) { rc = fail(&r, MH_JSON_NOMEM, "out of memory"); goto done; }
            memcpy(nl, lv, lvcap * sizeof *nl);
            if (lv != small) free(lv);
            lv = nl;
            lvcap = ncap;
          }
          int obj = c == '{';
          if (h->begin && h->begin(ud, obj, index, depth + 1)) { rc = fail(&r, MH_JSON_ABORTED, "stopped"); goto done; }
          lv[depth].is_object = (unsigned char)obj;
          lv[depth].count = 0;
          depth++;
          r.p++;
          state = obj ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
          continue;
        }
        mh_json_value_t v;
        if (c == '"') {
          v.type = MH_JSON_STRING;
          if ((rc = read_string(&r, &v.s, &v.n)) != 0) goto done;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
          if ((rc = read_number(&r, &v)) != 0) goto done;
        } else if (c == 't' && r.end - r.p >= 4 && memcmp(r.p, "true", 4) == 0) {
          v.type = MH_JSON_TRUE; r.p += 4;
        } else if (c == 'f' && r.end - r.p >= 5 && memcmp(r.p, "false", 5) == 0) {
          v.type = MH_JSON_FALSE; r.p += 5;
        } else if (c == 'n' && r.end - r.p >= 4 && memcmp(r.p, "null", 4) == 0) {
          v.type = MH_JSON_NULL; r.p += 4;
        } else {
          rc = fail(&r, MH_JSON_SYNTAX, "expected a value");
          goto done;
        }
        if (h->scalar && h->scalar(ud, &v, index, depth + 1)) { rc = fail(&r, MH_JSON_ABORTED, "stopped"); goto done; }
        state = S_AFTER;
        continue;
      }
    }
  close:
    r.p++;
    depth--;
    if (h->end && h->end(ud, lv[depth].is_object, lv[depth].count, depth + 1)) {
      rc = fail(&r, MH_JSON_ABORTED, "stopped");
      goto done;
    }
    state = S_AFTER;
  }
done:
  if (lv != small) free(lv);
  if (used) *used = (size_t)(r.p - r.start);
  return rc;
}

int mh_json_parse(const char *p, size_t n, int max_depth, mh_buf_t *scratch,
                  const mh_json_handler_t *h, void *ud, mh_json_error_t *err) {
  return parse(p, n, max_depth, scratch, h, ud, err, NULL);
}

int mh_json_parse_prefix(const char *p, size_t n, int max_depth, mh_buf_t *scratch,
                         const mh_json_handler_t *h, void *ud, mh_json_error_t *err,
                         size_t *used) {
  return parse(p, n, max_depth, scratch, h, ud, err, used);
}

/* ---- result lines ------------------------------------------------------------ */

size_t mh_wire_result_head(char *buf, size_t cap, int64_t id) {
  static const char k[] = MH_WIRE_RESULT_HEAD;
  char tmp[24];
  char *p = mh_wire_itoa_end(tmp + sizeof tmp, id);
  size_t dn = (size_t)(tmp + sizeof tmp - p), kn = sizeof k - 1;
  if (cap < kn + dn + 1) return 0;
  memcpy(buf, k, kn);
  memcpy(buf + kn, p, dn);
  buf[kn + dn] = 0;
  return kn + dn;
}

int mh_wire_is_result(const char *line, size_t n, const char *head, size_t hn) {
  return n > hn && memcmp(line, head, hn) == 0 && (line[hn] == ',' || line[hn] == '}');
}
