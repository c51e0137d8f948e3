/* test_wire.c: unit tests for the wire codec: every golden case under
 * spec/fixtures/wire (see its README for the formats), extremes generated
 * here (a million '[', strings over 1 MiB), the writers and their round
 * trip through the reader, and the framer.
 * Inputs are always held in buffers of their exact size, not terminated, so
 * the sanitizers catch any read past the end. */
#include "mh_wire.h"
#include "mh_test.h"

#include <dirent.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) (lit), (sizeof(lit) - 1)
#define DEFAULT_MAX_DEPTH 512

static void failf(const char *fmt, ...) {
  va_list ap;
  mh_test_failures++;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void bprintf(mh_buf_t *b, const char *fmt, ...) {
  char tmp[160];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp || mh_buf_put(b, tmp, (size_t)n) != 0) abort();
}

/* An exact-size heap copy (never NULL, even for n == 0). */
static char *dup_exact(const char *p, size_t n) {
  char *d = calloc(n ? n : 1, 1);
  if (!d) abort();
  if (n) memcpy(d, p, n);
  return d;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  mh_buf_t b = {0};
  char tmp[4096];
  size_t got;
  while ((got = fread(tmp, 1, sizeof tmp, f)) > 0)
    if (mh_buf_put(&b, tmp, got) != 0) abort();
  fclose(f);
  char *d = dup_exact(b.data, b.len);
  *len = b.len;
  mh_buf_free(&b);
  return d;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void) {  /* xorshift64*: reproducible runs */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

/* ---- the trace: the event format of spec/fixtures/wire/README.md -------- */

typedef struct trace {
  mh_buf_t out;
  long events;
  long stop_at;  /* stop at this event (1-based); 0: never */
} trace_t;

static void put_bytes(mh_buf_t *b, const char *s, size_t n) {
  mh_buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') bprintf(b, "\\%c", c);
    else if (c >= 0x20 && c < 0x7f) mh_buf_putc(b, (char)c);
    else bprintf(b, "\\x%02x", c);
  }
  mh_buf_putc(b, '"');
}

/* The shortest %g text that reads back to exactly d. */
static void real_text(char *out, size_t size, double d) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, size, "%.*g", prec, d);
    if (strtod(out, NULL) == d) break;
  }
}

static int tick(trace_t *t) {
  t->events++;
  return t->stop_at && t->events == t->stop_at;
}

static int on_scalar(void *ud, const mh_json_value_t *v, size_t index, int depth) {
  trace_t *t = ud;
  char tmp[64];
  switch (v->type) {
    case MH_JSON_NULL: bprintf(&t->out, "null"); break;
    case MH_JSON_FALSE: bprintf(&t->out, "false"); break;
    case MH_JSON_TRUE: bprintf(&t->out, "true"); break;
    case MH_JSON_INTEGER: bprintf(&t->out, "int %lld", (long long)v->i); break;
    case MH_JSON_REAL:
      real_text(tmp, sizeof tmp, v->d);
      bprintf(&t->out, "real %s", tmp);
      break;
    case MH_JSON_STRING:
      bprintf(&t->out, "string ");
      put_bytes(&t->out, v->s, v->n);
      break;
    default: bprintf(&t->out, "type%d", (int)v->type);
  }
  bprintf(&t->out, " %zu %d\n", index, depth);
  return tick(t);
}

static int on_begin(void *ud, int is_object, size_t index, int depth) {
  trace_t *t = ud;
  bprintf(&t->out, "begin %s %zu %d\n", is_object ? "object" : "array", index, depth);
  return tick(t);
}

static int on_end(void *ud, int is_object, size_t count, int depth) {
  trace_t *t = ud;
  bprintf(&t->out, "end %s %zu %d\n", is_object ? "object" : "array", count, depth);
  return tick(t);
}

static int on_key(void *ud, const char *s, size_t n, int depth) {
  trace_t *t = ud;
  bprintf(&t->out, "key ");
  put_bytes(&t->out, s, n);
  bprintf(&t->out, " %d\n", depth);
  return tick(t);
}

static const mh_json_handler_t tracer = {on_scalar, on_begin, on_end, on_key};
static const mh_json_handler_t no_callbacks = {NULL, NULL, NULL, NULL};

static const struct { const char *name; int code; } codes[] = {
  {"MH_JSON_OK", MH_JSON_OK},         {"MH_JSON_SYNTAX", MH_JSON_SYNTAX},
  {"MH_JSON_DEPTH", MH_JSON_DEPTH},   {"MH_JSON_RANGE", MH_JSON_RANGE},
  {"MH_JSON_UTF8", MH_JSON_UTF8},     {"MH_JSON_NOMEM", MH_JSON_NOMEM},
  {"MH_JSON_ABORTED", MH_JSON_ABORTED},
};

static const char *code_name(int code) {
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (codes[i].code == code) return codes[i].name;
  return "(unknown code)";
}

static int code_of(const char *name, size_t n, int *code) {
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (strlen(codes[i].name) == n && memcmp(codes[i].name, name, n) == 0) {
      *code = codes[i].code;
      return 0;
    }
  return -1;
}

/* Parses [p, p+n) into t->out (cleared first). */
static int trace_parse(trace_t *t, const char *p, size_t n, int max_depth,
                       mh_buf_t *scratch, mh_json_error_t *err) {
  t->out.len = 0;
  t->events = 0;
  return mh_json_parse(p, n, max_depth, scratch, &tracer, t, err);
}

/* ---- golden cases ------------------------------------------------------------ */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir (without dot files); *count set. */
static char **list_dir(const char *dir, size_t *count) {
  DIR *d = opendir(dir);
  *count = 0;
  if (!d) return NULL;
  size_t cap = 16;
  char **names = malloc(cap * sizeof *names);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (*count == cap) names = realloc(names, (cap *= 2) * sizeof *names);
    if (!names || !(names[*count] = strdup(e->d_name))) abort();
    (*count)++;
  }
  closedir(d);
  qsort(names, *count, sizeof *names, cmp_names);
  return names;
}

static void free_list(char **names, size_t count) {
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
}

static char *case_file(const char *kind, const char *name, const char *file, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/wire/%s/%s/%s", MH_FIXTURES, kind, name, file);
  return read_all(path, len);
}

static int case_max_depth(const char *kind, const char *name) {
  size_t n;
  char *s = case_file(kind, name, "max_depth", &n);
  if (!s) return DEFAULT_MAX_DEPTH;
  char tmp[32] = {0};
  memcpy(tmp, s, n < sizeof tmp - 1 ? n : sizeof tmp - 1);
  free(s);
  return atoi(tmp);
}

/* Two event lines are the same; reals are compared by their bits. */
static int same_event(const char *a, size_t an, const char *b, size_t bn) {
  if (an == bn && memcmp(a, b, an) == 0) return 1;
  char x[128], y[128];
  if (an < 6 || bn < 6 || an >= sizeof x || bn >= sizeof y) return 0;
  if (memcmp(a, "real ", 5) != 0 || memcmp(b, "real ", 5) != 0) return 0;
  memcpy(x, a, an);
  x[an] = 0;
  memcpy(y, b, bn);
  y[bn] = 0;
  char *xe, *ye;
  double dx = strtod(x + 5, &xe), dy = strtod(y + 5, &ye);
  if (xe == x + 5 || ye == y + 5) return 0;
  return memcmp(&dx, &dy, sizeof dx) == 0 && strcmp(xe, ye) == 0;
}

static const char *next_line(const char *p, const char *end, size_t *len) {
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  *len = (size_t)((nl ? nl : end) - p);
  return nl ? nl + 1 : end;
}

/* Compares a trace with an events file, line by line. */
static void compare_events(const char *name, const char *got, size_t gn,
                           const char *want, size_t wn) {
  const char *g = got, *ge = got + gn, *w = want, *we = want + wn;
  int line = 1;
  mh_test_checks++;
  while (g < ge || w < we) {
    size_t gl = 0, wl = 0;
    const char *gs = g, *ws = w;
    if (g < ge) g = next_line(g, ge, &gl);
    if (w < we) w = next_line(w, we, &wl);
    if (gs == ge || ws == we || !same_event(gs, gl, ws, wl)) {
      failf("valid/%s: event %d is %s%.*s%s, expected %s%.*s%s\n--- whole trace:\n%.*s---",
            name, line, gs == ge ? "(none)" : "'", (int)gl, gs, gs == ge ? "" : "'",
            ws == we ? "(none)" : "'", (int)wl, ws, ws == we ? "" : "'", (int)gn, got);
      return;
    }
    line++;
  }
}

/* Every proper prefix of a case fails or succeeds cleanly (the sanitizers
 * watch for reads past the end), and never claims an offset past its end. */
static void check_prefixes(const char *kind, const char *name, const char *in,
                           size_t n, int max_depth, mh_buf_t *scratch) {
  trace_t t = {0};
  for (size_t m = 0; m < n; m++) {
    char *p = dup_exact(in, m);
    mh_json_error_t err;
    int rc = trace_parse(&t, p, m, max_depth, scratch, &err);
    if (rc != MH_JSON_OK && (err.offset > m || err.msg[0] == 0))
      failf("%s/%s: prefix of %zu bytes: %s at offset %zu, msg '%s'", kind, name, m,
            code_name(rc), err.offset, err.msg);
    free(p);
  }
  mh_buf_free(&t.out);
}

static void run_valid(const char *name, mh_buf_t *scratch) {
  size_t n, wn;
  char *in = case_file("valid", name, "input", &n);
  char *want = case_file("valid", name, "events", &wn);
  if (!in || !want) {
    failf("valid/%s: needs both 'input' and 'events'", name);
    free(in);
    free(want);
    return;
  }
  int max_depth = case_max_depth("valid", name);
  trace_t t = {0};
  mh_json_error_t err;
  int rc = trace_parse(&t, in, n, max_depth, scratch, &err);
  mh_test_checks++;
  if (rc != MH_JSON_OK)
    failf("valid/%s: %s at offset %zu: %s", name, code_name(rc), err.offset, err.msg);
  else
    compare_events(name, t.out.data, t.out.len, want, wn);

  /* The same trace again with a dirty scratch buffer, and with the text
   * framed in white space as it comes off a line. */
  mh_buf_t first = {0};
  mh_buf_put(&first, t.out.data, t.out.len);
  long events = t.events;
  rc = trace_parse(&t, in, n, max_depth, scratch, &err);
  CHECK_INT(rc, MH_JSON_OK);
  CHECK_MEM(t.out.data, t.out.len, first.data, first.len);
  mh_buf_t framed = {0};
  bprintf(&framed, " \t\r\n");
  mh_buf_put(&framed, in, n);
  bprintf(&framed, " \r\n");
  char *fp = dup_exact(framed.data, framed.len);
  rc = trace_parse(&t, fp, framed.len, max_depth, scratch, &err);
  CHECK_INT(rc, MH_JSON_OK);
  CHECK_MEM(t.out.data, t.out.len, first.data, first.len);
  free(fp);
  mh_buf_free(&framed);

  /* All callbacks are optional. */
  CHECK_INT(mh_json_parse(in, n, max_depth, scratch, &no_callbacks, NULL, NULL), MH_JSON_OK);

  /* Stopping at each event in turn: nothing after it is reported. */
  for (long k = 1; k <= events; k++) {
    t.stop_at = k;
    rc = trace_parse(&t, in, n, max_depth, scratch, &err);
    mh_test_checks++;
    if (rc != MH_JSON_ABORTED || t.events != k || t.out.len > first.len ||
        memcmp(t.out.data, first.data, t.out.len) != 0)
      failf("valid/%s: stopping at event %ld gave %s after %ld events", name, k,
            code_name(rc), t.events);
  }

  check_prefixes("valid", name, in, n, max_depth, scratch);
  mh_buf_free(&first);
  mh_buf_free(&t.out);
  free(in);
  free(want);
}

static void run_invalid(const char *name, mh_buf_t *scratch) {
  size_t n, en;
  char *in = case_file("invalid", name, "input", &n);
  char *expect = case_file("invalid", name, "error", &en);
  if (!in || !expect) {
    failf("invalid/%s: needs both 'input' and 'error'", name);
    free(in);
    free(expect);
    return;
  }
  const char *e = expect, *end = expect + en;
  size_t l1, l2 = 0;
  const char *line1 = e, *line2;
  e = next_line(e, end, &l1);
  line2 = e;
  if (e < end) next_line(e, end, &l2);
  int want;
  mh_test_checks++;
  if (code_of(line1, l1, &want) != 0) {
    failf("invalid/%s: unknown code '%.*s' in 'error'", name, (int)l1, line1);
    free(in);
    free(expect);
    return;
  }
  int max_depth = case_max_depth("invalid", name);
  trace_t t = {0};
  mh_json_error_t err;
  int rc = trace_parse(&t, in, n, max_depth, scratch, &err);
  mh_test_checks++;
  if (rc != want) {
    failf("invalid/%s: got %s (offset %zu: %s), expected %.*s", name, code_name(rc),
          err.offset, err.msg, (int)l1, line1);
  } else {
    char sub[128] = {0};
    memcpy(sub, line2, l2 < sizeof sub - 1 ? l2 : sizeof sub - 1);
    mh_test_checks++;
    if (!strstr(err.msg, sub))
      failf("invalid/%s: message '%s' lacks '%s'", name, err.msg, sub);
  }
  CHECK(err.offset <= n);
  /* Without callbacks or an error record the verdict is the same. */
  CHECK_INT(mh_json_parse(in, n, max_depth, scratch, &no_callbacks, NULL, NULL), want);
  check_prefixes("invalid", name, in, n, max_depth, scratch);
  mh_buf_free(&t.out);
  free(in);
  free(expect);
}

static void test_golden(void) {
  mh_buf_t scratch = {0};
  size_t nv, ni;
  char **v = list_dir(MH_FIXTURES "/wire/valid", &nv);
  char **iv = list_dir(MH_FIXTURES "/wire/invalid", &ni);
  CHECK(nv > 0);
  CHECK(ni > 0);
  for (size_t i = 0; i < nv; i++) run_valid(v[i], &scratch);
  for (size_t i = 0; i < ni; i++) run_invalid(iv[i], &scratch);
  printf("wire golden cases: %zu valid, %zu invalid\n", nv, ni);
  free_list(v, nv);
  free_list(iv, ni);
  mh_buf_free(&scratch);
}

/* ---- generated extremes -------------------------------------------------------- */

typedef struct shape {
  long begins, ends, scalars, keys, stop_at_begin;
  int max_depth;
} shape_t;

static int sh_scalar(void *ud, const mh_json_value_t *v, size_t i, int d) {
  (void)v, (void)i;
  shape_t *s = ud;
  s->scalars++;
  if (d > s->max_depth) s->max_depth = d;
  return 0;
}
static int sh_begin(void *ud, int o, size_t i, int d) {
  (void)o, (void)i;
  shape_t *s = ud;
  if (d > s->max_depth) s->max_depth = d;
  return ++s->begins == s->stop_at_begin;
}
static int sh_end(void *ud, int o, size_t c, int d) {
  (void)o, (void)c, (void)d;
  ((shape_t *)ud)->ends++;
  return 0;
}
static int sh_key(void *ud, const char *k, size_t n, int d) {
  (void)k, (void)n, (void)d;
  ((shape_t *)ud)->keys++;
  return 0;
}
static const mh_json_handler_t shaper = {sh_scalar, sh_begin, sh_end, sh_key};

static void test_deep_nesting(void) {
  enum { N = 1000000 };
  mh_buf_t scratch = {0};
  mh_json_error_t err;
  char *open = malloc(N);
  memset(open, '[', N);

  shape_t s = {0};
  CHECK_INT(mh_json_parse(open, N, 1000, &scratch, &shaper, &s, &err), MH_JSON_DEPTH);
  CHECK_INT(err.offset, 1000);
  CHECK_INT(s.begins, 1000);
  CHECK(strstr(err.msg, "deep") != NULL);

  /* No limit in reach: all million levels open, then the input ends. */
  memset(&s, 0, sizeof s);
  CHECK_INT(mh_json_parse(open, N, 2 * N, &scratch, &shaper, &s, &err), MH_JSON_SYNTAX);
  CHECK_INT(s.begins, N);
  CHECK_INT(err.offset, N);
  CHECK(strstr(err.msg, "unexpected end") != NULL);

  /* Stopped a hundred levels down: the level stack is freed (LSan). */
  memset(&s, 0, sizeof s);
  s.stop_at_begin = 100;
  CHECK_INT(mh_json_parse(open, N, 2 * N, &scratch, &shaper, &s, &err), MH_JSON_ABORTED);
  CHECK_INT(s.begins, 100);
  free(open);

  /* A million levels, closed: fine exactly at the limit, not one below. */
  char *arr = malloc(2 * (size_t)N + 1);
  memset(arr, '[', N);
  arr[N] = '0';
  memset(arr + N + 1, ']', N);
  memset(&s, 0, sizeof s);
  CHECK_INT(mh_json_parse(arr, 2 * (size_t)N + 1, N, &scratch, &shaper, &s, &err), MH_JSON_OK);
  CHECK_INT(s.begins, N);
  CHECK_INT(s.ends, N);
  CHECK_INT(s.scalars, 1);
  CHECK_INT(s.max_depth, N + 1);
  CHECK_INT(mh_json_parse(arr, 2 * (size_t)N + 1, N - 1, &scratch, &shaper, &s, &err),
            MH_JSON_DEPTH);
  CHECK_INT(err.offset, N - 1);
  free(arr);

  /* The same through objects: {"a":{"a":...1...}}. */
  mh_buf_t obj = {0};
  for (int i = 0; i < N; i++) mh_buf_put(&obj, S("{\"a\":"));
  mh_buf_putc(&obj, '1');
  for (int i = 0; i < N; i++) mh_buf_putc(&obj, '}');
  char *o = dup_exact(obj.data, obj.len);
  memset(&s, 0, sizeof s);
  CHECK_INT(mh_json_parse(o, obj.len, N, &scratch, &shaper, &s, &err), MH_JSON_OK);
  CHECK_INT(s.begins, N);
  CHECK_INT(s.keys, N);
  CHECK_INT(s.ends, N);
  CHECK_INT(mh_json_parse(o, obj.len, 1000, &scratch, &shaper, &s, &err), MH_JSON_DEPTH);
  CHECK_INT(err.offset, 5000);
  free(o);
  mh_buf_free(&obj);
  mh_buf_free(&scratch);
}

/* Holds a copy of the last scalar (its bytes are borrowed in the callback). */
typedef struct one {
  int scalars;
  mh_json_value_t v;
  mh_buf_t bytes;
  const char *where;  /* v.s as given, to tell input from scratch */
  int in_input;       /* parse_one: where pointed into the input */
} one_t;

static int one_scalar(void *ud, const mh_json_value_t *v, size_t i, int d) {
  (void)i, (void)d;
  one_t *o = ud;
  o->scalars++;
  o->v = *v;
  if (v->type == MH_JSON_STRING) {
    o->bytes.len = 0;
    o->where = v->s;
    if (mh_buf_put(&o->bytes, v->s, v->n) != 0) abort();
  }
  return 0;
}

static int one_key(void *ud, const char *s, size_t n, int d) {
  (void)d;
  one_t *o = ud;
  o->bytes.len = 0;
  o->where = s;
  if (mh_buf_put(&o->bytes, s, n) != 0) abort();
  return 0;
}

static const mh_json_handler_t one_h = {one_scalar, NULL, NULL, NULL};
static const mh_json_handler_t key_h = {NULL, NULL, NULL, one_key};

/* Parses one scalar from an exact-size copy of text. */
static int parse_one(one_t *o, const char *text, size_t n, mh_buf_t *scratch) {
  char *p = dup_exact(text, n);
  o->scalars = 0;
  o->where = NULL;
  mh_json_error_t err;
  int rc = mh_json_parse(p, n, 8, scratch, &one_h, o, &err);
  o->in_input = o->where && (uintptr_t)o->where - (uintptr_t)p < n;
  free(p);
  return rc;
}

static void test_long_strings(void) {
  const size_t big = (1u << 20) + 4321;
  mh_buf_t scratch = {0}, in = {0}, want = {0};
  one_t o = {0};
  mh_json_error_t err;

  /* Plain ASCII and raw UTF-8: no copy, the bytes are the input's. */
  mh_buf_putc(&in, '"');
  for (size_t i = 0; in.len < big; i++) {
    if (i % 61 == 60) mh_buf_put(&in, S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    else mh_buf_putc(&in, (char)('a' + i % 26));
  }
  mh_buf_putc(&in, '"');
  char *p = dup_exact(in.data, in.len);
  o.scalars = 0;
  CHECK_INT(mh_json_parse(p, in.len, 8, &scratch, &one_h, &o, &err), MH_JSON_OK);
  CHECK_INT(o.scalars, 1);
  CHECK_INT(o.v.type, MH_JSON_STRING);
  CHECK(o.where == p + 1);
  CHECK_MEM(o.bytes.data, o.bytes.len, in.data + 1, in.len - 2);
  /* Unterminated, and spoiled by one bad byte at the very end. */
  CHECK_INT(mh_json_parse(p, in.len - 1, 8, &scratch, &one_h, &o, &err), MH_JSON_SYNTAX);
  CHECK_INT(err.offset, in.len - 1);
  p[in.len - 2] = (char)0xff;
  CHECK_INT(mh_json_parse(p, in.len, 8, &scratch, &one_h, &o, &err), MH_JSON_UTF8);
  CHECK_INT(err.offset, in.len - 2);
  free(p);

  /* With every kind of escape scattered through it. */
  static const struct { const char *esc, *bytes; size_t n; } kinds[] = {
    {"\\n", "\n", 1}, {"\\\"", "\"", 1}, {"\\\\", "\\", 1}, {"\\/", "/", 1},
    {"\\t", "\t", 1}, {"\\u00e9", "\xc3\xa9", 2}, {"\\u0000", "\0", 1},
    {"\\ud83d\\ude00", "\xf0\x9f\x98\x80", 4}, {"\\udc80", "\x80", 1},
    {"\\udcff", "\xff", 1}, {"\\ud800", "\xed\xa0\x80", 3},
    {"\xe2\x82\xac", "\xe2\x82\xac", 3},
  };
  enum { NKINDS = sizeof kinds / sizeof kinds[0] };
  in.len = want.len = 0;
  mh_buf_putc(&in, '"');
  size_t k = 0;
  while (want.len < big) {
    /* A lone \ud800 right before \udc80 would be a pair (U+10080). */
    size_t run = rnd() % 40 + (k == 10);
    for (size_t j = 0; j < run; j++) {
      char c = (char)(' ' + 1 + rnd() % 90);
      if (c == '"' || c == '\\') c = 'x';
      mh_buf_putc(&in, c);
      mh_buf_putc(&want, c);
    }
    k = rnd() % NKINDS;
    mh_buf_put(&in, kinds[k].esc, strlen(kinds[k].esc));
    mh_buf_put(&want, kinds[k].bytes, kinds[k].n);
  }
  mh_buf_putc(&in, '"');
  CHECK_INT(parse_one(&o, in.data, in.len, &scratch), MH_JSON_OK);
  CHECK_INT(o.scalars, 1);
  CHECK(!o.in_input);  /* rebuilt in scratch */
  CHECK_MEM(o.bytes.data, o.bytes.len, want.data, want.len);

  /* The same string as an object key. */
  mh_buf_t obj = {0};
  mh_buf_putc(&obj, '{');
  mh_buf_put(&obj, in.data, in.len);
  mh_buf_put(&obj, S(":0}"));
  p = dup_exact(obj.data, obj.len);
  o.bytes.len = 0;
  CHECK_INT(mh_json_parse(p, obj.len, 8, &scratch, &key_h, &o, &err), MH_JSON_OK);
  CHECK_MEM(o.bytes.data, o.bytes.len, want.data, want.len);
  free(p);
  mh_buf_free(&obj);

  mh_buf_free(&in);
  mh_buf_free(&want);
  mh_buf_free(&o.bytes);
  mh_buf_free(&scratch);
}

/* Specific error offsets (the golden files give code and message only). */
static void test_error_offsets(void) {
  static const struct { const char *in; size_t n; int code; size_t off; } cases[] = {
    {S("1 x"), MH_JSON_SYNTAX, 2},
    {S("\"abc"), MH_JSON_SYNTAX, 4},
    {S("\"ab\xff\""), MH_JSON_UTF8, 3},
    {S("[1,]"), MH_JSON_SYNTAX, 3},
    {S("1e400"), MH_JSON_RANGE, 0},
    {S("[-1e400]"), MH_JSON_RANGE, 1},
    {S("\"a\\x\""), MH_JSON_SYNTAX, 3},
    {S("{\"a\" 1}"), MH_JSON_SYNTAX, 5},
    {S("01"), MH_JSON_SYNTAX, 1},
    {S("  "), MH_JSON_SYNTAX, 2},
    {S("[\"\x01\"]"), MH_JSON_SYNTAX, 2},
  };
  mh_buf_t scratch = {0};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *p = dup_exact(cases[i].in, cases[i].n);
    mh_json_error_t err;
    int rc = mh_json_parse(p, cases[i].n, 8, &scratch, &no_callbacks, NULL, &err);
    mh_test_checks++;
    if (rc != cases[i].code || err.offset != cases[i].off)
      failf("offsets: '%s': %s at %zu, expected %s at %zu", cases[i].in, code_name(rc),
            err.offset, code_name(cases[i].code), cases[i].off);
    free(p);
  }
  mh_buf_free(&scratch);
}

/* Specific stops: the code, and no event after the stopping one. */
static void test_abort(void) {
  mh_buf_t scratch = {0};
  trace_t t = {0};
  mh_json_error_t err;
  t.stop_at = 3;  /* begin, int 1, int 2 */
  CHECK_INT(trace_parse(&t, S("[1,2,3]"), 8, &scratch, &err), MH_JSON_ABORTED);
  CHECK_INT(t.events, 3);
  CHECK_INT(err.offset, 4);
  CHECK(err.msg[0] != 0);
  t.stop_at = 2;  /* begin, key */
  CHECK_INT(trace_parse(&t, S("{\"k\":1}"), 8, &scratch, &err), MH_JSON_ABORTED);
  static const char stopped[] = "begin object 0 1\nkey \"k\" 2\n";
  CHECK_MEM(t.out.data, t.out.len, stopped, sizeof stopped - 1);
  t.stop_at = 1;
  CHECK_INT(trace_parse(&t, S("[]"), 8, &scratch, &err), MH_JSON_ABORTED);
  CHECK_INT(t.events, 1);
  t.stop_at = 2;
  CHECK_INT(trace_parse(&t, S("[] "), 8, &scratch, &err), MH_JSON_ABORTED);
  CHECK_INT(t.events, 2);
  /* A stop on the very last event still wins over success. */
  t.stop_at = 1;
  CHECK_INT(trace_parse(&t, S("7"), 8, &scratch, &err), MH_JSON_ABORTED);
  /* And never from a callback that was not called. */
  t.stop_at = 5;
  CHECK_INT(trace_parse(&t, S("[7]"), 8, &scratch, &err), MH_JSON_OK);
  mh_buf_free(&t.out);
  mh_buf_free(&scratch);
}

/* ---- writers ----------------------------------------------------------------- */

static void check_string_out(const char *in, size_t n, const char *want) {
  mh_buf_t b = {0};
  CHECK_INT(mh_wire_put_string(&b, in, n), 0);
  mh_test_checks++;
  if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
    failf("put_string: wrote '%.*s', expected '%s'", (int)b.len, b.data, want);
  mh_buf_free(&b);
}

/* What one byte alone must become, quotes included. */
static void one_byte_json(unsigned c, char *out) {
  switch (c) {
    case '\b': strcpy(out, "\"\\b\""); return;
    case '\t': strcpy(out, "\"\\t\""); return;
    case '\n': strcpy(out, "\"\\n\""); return;
    case '\f': strcpy(out, "\"\\f\""); return;
    case '\r': strcpy(out, "\"\\r\""); return;
    case '"': strcpy(out, "\"\\\"\""); return;
    case '\\': strcpy(out, "\"\\\\\""); return;
  }
  if (c < 0x20) sprintf(out, "\"\\u%04x\"", c);
  else if (c < 0x80) sprintf(out, "\"%c\"", (char)c);
  else sprintf(out, "\"\\udc%02x\"", c);
}

static void test_put_string(void) {
  check_string_out(S(""), "\"\"");
  check_string_out(S("hello, world"), "\"hello, world\"");
  check_string_out(S("a\"b\\c/d\x7f"), "\"a\\\"b\\\\c/d\x7f\"");
  check_string_out(S("\0"), "\"\\u0000\"");
  check_string_out(S("abcdefghijklmnop\nqrstuvwxyz"), "\"abcdefghijklmnop\\nqrstuvwxyz\"");
  /* Valid UTF-8 is copied, invalid bytes travel as \udcXX one by one. */
  check_string_out(S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"),
                   "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"");
  check_string_out(S("\xc0\x80"), "\"\\udcc0\\udc80\"");
  check_string_out(S("\xed\xa0\x80"), "\"\\udced\\udca0\\udc80\"");
  check_string_out(S("\xe2\x82"), "\"\\udce2\\udc82\"");
  check_string_out(S("\xe2\x82" "A"), "\"\\udce2\\udc82A\"");
  check_string_out(S("\xf0\x9f\x98"), "\"\\udcf0\\udc9f\\udc98\"");
  check_string_out(S("\xf5\x80\x80\x80"), "\"\\udcf5\\udc80\\udc80\\udc80\"");
  check_string_out(S("\xf4\x90\x80\x80"), "\"\\udcf4\\udc90\\udc80\\udc80\"");
  check_string_out(S("\xe0\x9f\xbf"), "\"\\udce0\\udc9f\\udcbf\"");
  check_string_out(S("a\xff\xc3\xa9"), "\"a\\udcff\xc3\xa9\"");
  check_string_out(S("\xc3\xa9\xc3"), "\"\xc3\xa9\\udcc3\"");

  for (unsigned c = 0; c < 256; c++) {
    char in = (char)c, want[16];
    one_byte_json(c, want);
    check_string_out(&in, 1, want);
  }

  /* Appends; and a long clean text is copied through unchanged. */
  mh_buf_t b = {0};
  mh_buf_put(&b, S("x:"));
  CHECK_INT(mh_wire_put_string(&b, S("y")), 0);
  CHECK_MEM(b.data, b.len, "x:\"y\"", 5);
  mh_buf_t in = {0};
  while (in.len < (1u << 20) + 7) mh_buf_put(&in, S("The quick \xc3\xa9 fox. "));
  b.len = 0;
  CHECK_INT(mh_wire_put_string(&b, in.data, in.len), 0);
  CHECK_INT(b.len, in.len + 2);
  CHECK(b.len == in.len + 2 && memcmp(b.data + 1, in.data, in.len) == 0);
  mh_buf_free(&in);
  mh_buf_free(&b);
}

/* Writes bytes, checks the text has no raw control byte, reads it back. */
static int round_trip(const char *s, size_t n, mh_buf_t *out, mh_buf_t *scratch, one_t *o) {
  out->len = 0;
  if (mh_wire_put_string(out, s, n) != 0) return 0;
  for (size_t i = 0; i < out->len; i++)
    if ((unsigned char)out->data[i] < 0x20) return 0;
  o->v.type = MH_JSON_NULL;
  if (parse_one(o, out->data, out->len, scratch) != MH_JSON_OK) return 0;
  return o->scalars == 1 && o->v.type == MH_JSON_STRING && o->bytes.len == n &&
         (n == 0 || memcmp(o->bytes.data, s, n) == 0);
}

static void test_string_round_trip(void) {
  mh_buf_t out = {0}, scratch = {0};
  one_t o = {0};
  int bad = 0;
  for (unsigned c = 0; c < 256; c++) {
    char s = (char)c;
    if (!round_trip(&s, 1, &out, &scratch, &o) && bad++ < 5)
      failf("round trip: byte 0x%02x came back wrong", c);
  }
  for (unsigned c = 0; c < 65536; c++) {
    char s[2] = {(char)(c >> 8), (char)c};
    if (!round_trip(s, 2, &out, &scratch, &o) && bad++ < 5)
      failf("round trip: bytes %02x %02x came back wrong", c >> 8, c & 255);
  }
  /* Soups weighted towards the bytes that matter to UTF-8 and JSON. */
  static const unsigned char hot[] = {
    0x00, 0x01, 0x1f, '"', '\\', '/', 'u', 'd', 'c', 0x7f, 0x80, 0x8f, 0x90, 0x9f,
    0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xee, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
  };
  char soup[128];
  for (int k = 0; k < 20000; k++) {
    size_t n = rnd() % sizeof soup;
    for (size_t i = 0; i < n; i++) {
      uint64_t r = rnd();
      soup[i] = (char)(r % 3 == 0 ? hot[(r >> 8) % sizeof hot]
                     : r % 3 == 1 ? (char)(0x80 + (r >> 8) % 64) : (char)(r >> 8));
    }
    if (!round_trip(soup, n, &out, &scratch, &o) && bad++ < 5)
      failf("round trip: soup %d (%zu bytes) came back wrong", k, n);
  }
  mh_buf_t big = {0};
  while (big.len < (2u << 20)) {
    uint64_t r = rnd();
    for (int j = 0; j < 8; j++) mh_buf_putc(&big, (char)(r >> (8 * j)));
  }
  if (!round_trip(big.data, big.len, &out, &scratch, &o)) bad++, failf("round trip: 2 MiB soup");
  mh_test_checks++;
  mh_buf_free(&big);
  mh_buf_free(&out);
  mh_buf_free(&o.bytes);
  mh_buf_free(&scratch);
}

static void test_put_integer(void) {
  static const int64_t vals[] = {0, 1, -1, 9, 10, -10, 1234567890123LL,
                                 INT64_MAX, INT64_MIN, INT64_MIN + 1, INT64_MAX - 1};
  mh_buf_t b = {0}, scratch = {0};
  one_t o = {0};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)vals[i]);
    b.len = 0;
    CHECK_INT(mh_wire_put_integer(&b, vals[i]), 0);
    CHECK_MEM(b.data, b.len, want, strlen(want));
    CHECK_INT(parse_one(&o, b.data, b.len, &scratch), MH_JSON_OK);
    CHECK_INT(o.v.type, MH_JSON_INTEGER);
    CHECK(o.v.i == vals[i]);
  }
  mh_buf_free(&b);
  mh_buf_free(&scratch);
}

/* Writes d, reads it back: a real with the same bits. 0 if not. */
static int real_round_trip(double d, mh_buf_t *b, mh_buf_t *scratch) {
  one_t o = {0};
  b->len = 0;
  if (mh_wire_put_real(b, d) != 0) return 0;
  if (!memchr(b->data, '.', b->len) && !memchr(b->data, 'e', b->len) &&
      !memchr(b->data, 'E', b->len))
    return 0;
  if (parse_one(&o, b->data, b->len, scratch) != MH_JSON_OK) return 0;
  return o.v.type == MH_JSON_REAL && memcmp(&o.v.d, &d, sizeof d) == 0;
}

static void check_real_text(double d, const char *want) {
  mh_buf_t b = {0};
  CHECK_INT(mh_wire_put_real(&b, d), 0);
  mh_test_checks++;
  if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
    failf("put_real(%.17g) wrote '%.*s', expected '%s'", d, (int)b.len, b.data, want);
  mh_buf_free(&b);
}

static void test_put_real(void) {
  check_real_text(0.1, "0.1");
  check_real_text(1.0, "1.0");
  check_real_text(-0.0, "-0.0");
  check_real_text(0.0, "0.0");
  check_real_text(100.0, "100.0");
  check_real_text(-2.5, "-2.5");
  check_real_text(1e300, "1e+300");

  mh_buf_t b = {0}, scratch = {0};
  static const double vals[] = {
    0.1, 1.0, -0.0, 0.0, 1e300, -1e300, 5e-324, -5e-324, 123456789012345680000.0,
    1e21, 1e22, 1e23, 9007199254740992.0, 9007199254740994.0, 9223372036854775808.0,
    DBL_MAX, -DBL_MAX, DBL_MIN, 2.2250738585072009e-308, 1.0 / 3, 2.0 / 3, 0.3,
    1e-7, 123.456, 5e-324 * 3,
  };
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    mh_test_checks++;
    if (!real_round_trip(vals[i], &b, &scratch))
      failf("put_real(%.17g) wrote '%.*s', which does not read back", vals[i], (int)b.len,
            b.data);
  }
  int bad = 0;
  for (int k = 0; k < 100000; k++) {
    uint64_t bits = rnd();
    double d;
    if (k % 4 == 0) bits &= 0x800FFFFFFFFFFFFFULL;  /* denormals too */
    memcpy(&d, &bits, sizeof d);
    if (!isfinite(d)) continue;
    if (!real_round_trip(d, &b, &scratch) && bad++ < 5)
      failf("put_real(%a) wrote '%.*s', which does not read back", d, (int)b.len, b.data);
  }
  mh_test_checks++;

  /* Not representable: refused, and nothing written. */
  b.len = 0;
  mh_buf_put(&b, S("keep"));
  CHECK_INT(mh_wire_put_real(&b, NAN), -1);
  CHECK_INT(mh_wire_put_real(&b, -NAN), -1);
  CHECK_INT(mh_wire_put_real(&b, INFINITY), -1);
  CHECK_INT(mh_wire_put_real(&b, -INFINITY), -1);
  CHECK_MEM(b.data, b.len, "keep", 4);
  mh_buf_free(&b);
  mh_buf_free(&scratch);
}

/* ---- framer ------------------------------------------------------------------- */

/* Feeds s in chunks of `chunk` bytes (0: random 1..700), collecting every
 * complete line as "line\n" into out. Returns the last mh_framer_next. */
static int feed(mh_framer_t *f, const char *s, size_t n, size_t chunk, mh_buf_t *out) {
  size_t i = 0;
  int rc = 0;
  while (i < n) {
    size_t want = chunk ? chunk : 1 + rnd() % 700, avail = 0;
    if (want > n - i) want = n - i;
    char *p = mh_framer_space(f, want, &avail);
    if (!p || avail < want) return -2;
    memcpy(p, s + i, want);
    mh_framer_commit(f, want);
    i += want;
    const char *line;
    size_t len;
    while ((rc = mh_framer_next(f, &line, &len)) == 1) {
      if (memchr(line, '\n', len)) return -3;
      mh_buf_put(out, line, len);
      mh_buf_putc(out, '\n');
    }
    if (rc < 0) return rc;
  }
  return rc;
}

static void test_framer(void) {
  mh_framer_t f = {0};
  mh_buf_t out = {0};

  /* One byte per commit. */
  CHECK_INT(feed(&f, S("ab\ncd\n\n{\"x\":1}\nef"), 1, &out), 0);
  CHECK_MEM(out.data, out.len, "ab\ncd\n\n{\"x\":1}\n", 15);
  CHECK_INT(mh_framer_pending(&f), 2);
  CHECK_INT(feed(&f, S("g\n"), 1, &out), 0);
  CHECK_MEM(out.data, out.len, "ab\ncd\n\n{\"x\":1}\nefg\n", 19);
  CHECK_INT(mh_framer_pending(&f), 0);
  mh_framer_free(&f);

  /* Several lines in one commit, and a tail. */
  out.len = 0;
  CHECK_INT(feed(&f, S("x\nyy\nzzz"), 64, &out), 0);
  CHECK_MEM(out.data, out.len, "x\nyy\n", 5);
  CHECK_INT(mh_framer_pending(&f), 3);
  const char *line;
  size_t len;
  CHECK_INT(mh_framer_next(&f, &line, &len), 0);
  CHECK_INT(mh_framer_pending(&f), 3);
  mh_framer_free(&f);

  /* max_line: exactly at it is fine, one more is not, with or without the
   * newline in sight. */
  out.len = 0;
  f.max_line = 4;
  CHECK_INT(feed(&f, S("abcd\n"), 1, &out), 0);
  CHECK_MEM(out.data, out.len, "abcd\n", 5);
  CHECK_INT(feed(&f, S("abcd"), 1, &out), 0);
  CHECK_INT(mh_framer_pending(&f), 4);
  CHECK_INT(feed(&f, S("e"), 1, &out), -1);
  mh_framer_free(&f);
  f.max_line = 4;
  out.len = 0;
  CHECK_INT(feed(&f, S("abc\nabcde\n"), 64, &out), -1);
  CHECK_MEM(out.data, out.len, "abc\n", 4);
  mh_framer_free(&f);
  f.max_line = 4;
  CHECK_INT(feed(&f, S("abcd\n\n"), 64, &out), 0);
  mh_framer_free(&f);

  /* Compaction moves the unfinished line to the front and keeps it. */
  f.max_line = 0;
  out.len = 0;
  CHECK_INT(feed(&f, S("line1\npartial"), 64, &out), 0);
  CHECK_MEM(out.data, out.len, "line1\n", 6);
  size_t avail;
  char *p = mh_framer_space(&f, f.buf.cap, &avail);  /* more than is free */
  CHECK(p != NULL);
  CHECK_INT(f.start, 0);
  CHECK_MEM(f.buf.data, f.buf.len, "partial", 7);
  CHECK(p == f.buf.data + 7);
  memcpy(p, "-end\nnext", 9);
  mh_framer_commit(&f, 9);
  CHECK_INT(mh_framer_next(&f, &line, &len), 1);
  CHECK_MEM(line, len, "partial-end", 11);
  CHECK_INT(mh_framer_pending(&f), 4);
  mh_framer_free(&f);

  /* A stream of small lines read 64 bytes at a time never grows the buffer
   * past its first allocation. */
  mh_buf_t stream = {0};
  for (int i = 0; i < 20000; i++) bprintf(&stream, "{\"n\":%d}\n", i);
  out.len = 0;
  CHECK_INT(feed(&f, stream.data, stream.len, 64, &out), 0);
  CHECK_MEM(out.data, out.len, stream.data, stream.len);
  CHECK(f.buf.cap <= 256);
  CHECK_INT(mh_framer_pending(&f), 0);
  mh_framer_free(&f);

  /* Random lines in random chunks, with a limit no line passes. */
  stream.len = 0;
  for (int i = 0; i < 5000; i++) {
    size_t n = rnd() % 301;
    for (size_t j = 0; j < n; j++) {
      char c = (char)rnd();
      mh_buf_putc(&stream, c == '\n' ? 'N' : c);
    }
    mh_buf_putc(&stream, '\n');
  }
  for (int limit = 0; limit <= 300; limit += 300) {
    f.max_line = (size_t)limit;
    out.len = 0;
    CHECK_INT(feed(&f, stream.data, stream.len, 0, &out), 0);
    CHECK_MEM(out.data, out.len, stream.data, stream.len);
    CHECK_INT(mh_framer_pending(&f), 0);
    mh_framer_free(&f);
  }
  /* One line far longer than any read. */
  stream.len = 0;
  for (size_t i = 0; i < (1u << 20) + 3; i++) mh_buf_putc(&stream, (char)('a' + i % 26));
  mh_buf_putc(&stream, '\n');
  f.max_line = 0;
  out.len = 0;
  CHECK_INT(feed(&f, stream.data, stream.len, 4096, &out), 0);
  CHECK_MEM(out.data, out.len, stream.data, stream.len);
  mh_framer_free(&f);
  f.max_line = 1u << 20;
  out.len = 0;
  CHECK_INT(feed(&f, stream.data, stream.len, 4096, &out), -1);
  CHECK_INT(out.len, 0);
  mh_framer_free(&f);

  mh_buf_free(&stream);
  mh_buf_free(&out);
}

static void test_buf(void) {
  mh_buf_t b = {0};
  CHECK_INT(mh_buf_put(&b, "", 0), 0);
  CHECK_INT(b.len, 0);
  for (int i = 0; i < 1000; i++) CHECK_INT(mh_buf_putc(&b, (char)i), 0);
  CHECK_INT(b.len, 1000);
  CHECK(b.cap >= 1000);
  int ok = 1;
  for (int i = 0; i < 1000; i++) ok &= b.data[i] == (char)i;
  CHECK(ok);
  size_t cap = b.cap;
  CHECK_INT(mh_buf_reserve(&b, cap - b.len), 0);
  CHECK_INT(b.cap, cap);  /* room enough: no growth */
  CHECK_INT(mh_buf_reserve(&b, SIZE_MAX - 8), -1);
  CHECK_INT(b.len, 1000);
  CHECK_INT(b.cap, cap);
  mh_buf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

/* ---- the C library's locale ---------------------------------------------------- */

/* A script can call os.setlocale; numbers on the wire keep their '.' under a
 * locale whose decimal point is ',' or a multibyte one (ps_AF: U+066B).
 * Skipped for locales that are not installed. */
static void test_locale(void) {
  static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8",
                                "ru_RU.UTF-8", "ps_AF.UTF-8", "ps_AF.utf8"};
  int tried = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!setlocale(LC_NUMERIC, names[i])) continue;
    if (strcmp(localeconv()->decimal_point, ".") == 0) continue;
    tried++;
    mh_buf_t b = {0}, scratch = {0};
    one_t o = {0};
    static const struct { const char *in; double d; } reads[] = {
      {"1.5", 1.5}, {"-0.25e1", -2.5}, {"1e3", 1000.0},
      {"0.0000000000000000000000000000000000000000000000000000000000000000000001", 1e-70},
    };
    for (size_t k = 0; k < sizeof reads / sizeof reads[0]; k++) {
      mh_test_checks++;
      if (parse_one(&o, reads[k].in, strlen(reads[k].in), &scratch) != MH_JSON_OK ||
          o.v.type != MH_JSON_REAL || o.v.d != reads[k].d)
        failf("locale %s: '%s' read as %g", names[i], reads[k].in, o.v.d);
    }
    static const struct { double d; const char *out; } writes[] = {
      {1.5, "1.5"}, {-0.0, "-0.0"}, {0.1, "0.1"}, {2.0, "2.0"}, {1e300, "1e+300"},
      {1.0 / 3, "0.3333333333333333"}, {-123.25, "-123.25"},
    };
    for (size_t k = 0; k < sizeof writes / sizeof writes[0]; k++) {
      b.len = 0;
      CHECK_INT(mh_wire_put_real(&b, writes[k].d), 0);
      mh_test_checks++;
      if (b.len != strlen(writes[k].out) || memcmp(b.data, writes[k].out, b.len) != 0)
        failf("locale %s: put_real wrote '%.*s', expected '%s'", names[i], (int)b.len,
              b.data, writes[k].out);
    }
    mh_buf_free(&b);
    mh_buf_free(&scratch);
  }
  setlocale(LC_NUMERIC, "C");
  if (!tried) printf("locale test skipped: no locale with another decimal point installed\n");
}

/* The result head a blocked renderer matches its reply by. */
static void test_result_head(void) {
  char head[48];
  size_t hn = mh_wire_result_head(head, sizeof head, 42);
  CHECK_STR(head, "{\"k\":\"result\",\"id\":42");
  CHECK_INT(hn, strlen(head));
  const char *yes = "{\"k\":\"result\",\"id\":42,\"args\":[1]}";
  const char *bare = "{\"k\":\"result\",\"id\":42}";
  const char *longer = "{\"k\":\"result\",\"id\":421,\"args\":[]}";
  const char *msg = "{\"k\":\"msg\",\"ch\":\"x\",\"args\":[]}";
  CHECK(mh_wire_is_result(yes, strlen(yes), head, hn));
  CHECK(mh_wire_is_result(bare, strlen(bare), head, hn));
  CHECK(!mh_wire_is_result(longer, strlen(longer), head, hn));
  CHECK(!mh_wire_is_result(msg, strlen(msg), head, hn));
  CHECK(!mh_wire_is_result(head, hn, head, hn));
  hn = mh_wire_result_head(head, sizeof head, INT64_MIN);
  CHECK_STR(head, "{\"k\":\"result\",\"id\":-9223372036854775808");
}

/* mh_wire_fast_literal and mh_wire_fast_int, the envelope readers' small
 * pieces: they read exactly their token, at an exact end, or nothing. */
static void test_fast_tokens(void) {
  mh_buf_t scratch = {0};
  const char *q;
  char *in = dup_exact(S("true,false]null"));
  q = in;
  CHECK_INT(mh_wire_fast_literal(&q, in + 15), MH_JSON_TRUE);
  CHECK(q == in + 4);
  q = in + 5;
  CHECK_INT(mh_wire_fast_literal(&q, in + 15), MH_JSON_FALSE);
  CHECK(q == in + 10);
  q = in + 11;
  CHECK_INT(mh_wire_fast_literal(&q, in + 15), MH_JSON_NULL);
  CHECK(q == in + 15);
  q = in;
  CHECK_INT(mh_wire_fast_literal(&q, in + 3), -1);  /* "tru" at the end */
  CHECK(q == in);
  q = in + 4;
  CHECK_INT(mh_wire_fast_literal(&q, in + 15), -1);  /* "," */
  q = in + 15;
  CHECK_INT(mh_wire_fast_literal(&q, in + 15), -1);  /* at the end: nothing read */
  free(in);
  int64_t v = 7;
  in = dup_exact(S("-42,1.5,\"9\""));
  q = in;
  CHECK_INT(mh_wire_fast_int(&q, in + 11, &scratch, &v), 0);
  CHECK_INT(v, -42);
  CHECK(q == in + 3);
  q = in + 4;
  CHECK_INT(mh_wire_fast_int(&q, in + 11, &scratch, &v), -1);  /* a real */
  q = in + 8;
  CHECK_INT(mh_wire_fast_int(&q, in + 11, &scratch, &v), -1);  /* a string */
  CHECK(q == in + 8);
  CHECK_INT(v, -42);
  free(in);
  mh_buf_free(&scratch);
}

/* The pieces lconv.c's envelope fast path uses: a prefix parse that stops
 * after one value, the string and number scanners on their own, and the
 * scan for a string's plain run. Each must agree with mh_json_parse. */
static void test_reader_pieces(void) {
  mh_buf_t scratch = {0};
  size_t used = 99;
  /* A value followed by other bytes: read up to them (and the spaces). */
  char *in = dup_exact(S("[1,{\"a\":[]}] ,2]"));
  CHECK_INT(mh_json_parse_prefix(in, 16, 8, &scratch, &no_callbacks, NULL, NULL, &used), MH_JSON_OK);
  CHECK_INT(used, 13);
  CHECK_INT(mh_json_parse(in, 16, 8, &scratch, &no_callbacks, NULL, NULL), MH_JSON_SYNTAX);
  /* The same limits and errors as a whole parse. */
  CHECK_INT(mh_json_parse_prefix(in, 16, 1, &scratch, &no_callbacks, NULL, NULL, &used), MH_JSON_DEPTH);
  CHECK_INT(mh_json_parse_prefix(in, 5, 8, &scratch, &no_callbacks, NULL, NULL, &used), MH_JSON_SYNTAX);
  free(in);
  in = dup_exact(S("{}"));
  CHECK_INT(mh_json_parse_prefix(in, 2, 8, &scratch, &no_callbacks, NULL, NULL, &used), MH_JSON_OK);
  CHECK_INT(used, 2);
  free(in);

  const char *s, *next;
  size_t n;
  in = dup_exact(S("\"abc\",1"));
  CHECK_INT(mh_json_read_string(in, in + 7, &scratch, &s, &n, &next), 0);
  CHECK_MEM(s, n, "abc", 3);
  CHECK(s == in + 1);  /* no escapes: the input's own bytes */
  CHECK(next == in + 5);
  free(in);
  in = dup_exact(S("\"a\\n\\udcff\\u00e9\"x"));
  CHECK_INT(mh_json_read_string(in, in + 18, &scratch, &s, &n, &next), 0);
  CHECK_MEM(s, n, "a\n\xff\xc3\xa9", 5);
  CHECK(next == in + 17);
  free(in);
  in = dup_exact(S("\"ab"));
  CHECK_INT(mh_json_read_string(in, in + 3, &scratch, &s, &n, &next), MH_JSON_SYNTAX);
  free(in);
  in = dup_exact(S("\"\xff\""));
  CHECK_INT(mh_json_read_string(in, in + 3, &scratch, &s, &n, &next), MH_JSON_UTF8);
  free(in);

  mh_json_value_t v;
  in = dup_exact(S("-9223372036854775808]"));
  CHECK_INT(mh_json_read_number(in, in + 21, &scratch, &v, &next), 0);
  CHECK_INT(v.type, MH_JSON_INTEGER);
  CHECK(v.i == INT64_MIN);
  CHECK(next == in + 20);
  free(in);
  in = dup_exact(S("9223372036854775808"));
  CHECK_INT(mh_json_read_number(in, in + 19, &scratch, &v, &next), 0);
  CHECK_INT(v.type, MH_JSON_REAL);
  free(in);
  in = dup_exact(S("01"));
  CHECK_INT(mh_json_read_number(in, in + 2, &scratch, &v, &next), MH_JSON_SYNTAX);
  free(in);
  in = dup_exact(S("1e400"));
  CHECK_INT(mh_json_read_number(in, in + 5, &scratch, &v, &next), MH_JSON_RANGE);
  free(in);

  /* The plain run stops at the first byte a string cannot hold as is, in
   * the 8-byte blocks and in the tail alike. */
  static const char stops[] = {'"', '\\', 0x01, 0x1f, (char)0x80, (char)0xff};
  char buf[24];
  for (size_t len = 0; len < sizeof buf; len++) {
    memset(buf, 'x', sizeof buf);
    CHECK(mh_wire_plain_end(buf, buf + len) == buf + len);
    for (size_t at = 0; at < len; at++)
      for (size_t k = 0; k < sizeof stops; k++) {
        memset(buf, ' ', sizeof buf);
        buf[at] = stops[k];
        if (mh_wire_plain_end(buf, buf + len) != buf + at)
          failf("plain_end: len %zu, byte 0x%02x at %zu", len, (unsigned char)stops[k], at);
        mh_test_checks++;
      }
  }
  mh_buf_free(&scratch);
}

/* mh_wire_plain_end (SSE2 16 bytes a step, then 8, then bytes) stops at the
 * first byte that is ", \, below 0x20 or from 0x80: every byte value, at
 * every position of buffers of 0 to 40 bytes, against a byte-by-byte scan. */
static void test_plain_end(void) {
  char buf[48];
  for (size_t n = 0; n <= 40; n++) {
    for (size_t at = 0; at <= n; at++) {
      for (int v = 0; v < 256; v++) {
        for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + (int)(i % 26));
        if (at < n) buf[at] = (char)v;
        size_t want = n;
        for (size_t i = 0; i < n; i++) {
          unsigned char c = (unsigned char)buf[i];
          if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
            want = i;
            break;
          }
        }
        const char *got = mh_wire_plain_end(buf, buf + n);
        if ((size_t)(got - buf) != want) {
          fprintf(stderr, "plain_end: n=%zu at=%zu byte=0x%02x: got %zu, want %zu\n", n, at, v,
                  (size_t)(got - buf), want);
          CHECK(0);
          return;
        }
      }
    }
  }
  CHECK(1);
}

int main(void) {
  test_buf();
  test_golden();
  test_error_offsets();
  test_abort();
  test_deep_nesting();
  test_long_strings();
  test_put_string();
  test_string_round_trip();
  test_put_integer();
  test_put_real();
  test_framer();
  test_locale();
  test_result_head();
  test_reader_pieces();
  test_fast_tokens();
  test_plain_end();
  return TEST_DONE();
}
