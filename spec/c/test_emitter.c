/* test_emitter.c: unit tests for the channel emitter (order, removal,
 * handlers, eventNames order, growth) without a loop or a Lua state. */
#include "mh_emitter.h"
#include "mh_test.h"

#include <stdlib.h>

#define S(lit) (lit), (sizeof(lit) - 1)

/* Counts releases and remembers their order. */
typedef struct rel {
  int n;
  int refs[64];
} rel_t;

static void rel_fn(void *ud, int ref) {
  rel_t *r = ud;
  if (r->n < 64) r->refs[r->n] = ref;
  r->n++;
}

/* Collects each_channel output as "name|name|..." (NUL shown as '0'). */
typedef struct names {
  char buf[512];
  size_t len;
  int n;
} names_t;

static void names_fn(void *ud, const char *ch, size_t n) {
  names_t *s = ud;
  if (s->n++) s->buf[s->len++] = '|';
  for (size_t i = 0; i < n && s->len < sizeof s->buf - 2; i++)
    s->buf[s->len++] = ch[i] ? ch[i] : '0';
  s->buf[s->len] = '\0';
}

static const char *names(const mh_emitter_t *e, names_t *s) {
  memset(s, 0, sizeof *s);
  mh_emitter_each_channel(e, names_fn, s);
  return s->buf;
}

static int ref_at(const mh_emitter_t *e, const char *ch, size_t n, size_t i) {
  size_t c;
  const mh_listener_t *ls = mh_emitter_listeners(e, ch, n, &c);
  return ls && i < c ? ls[i].ref : -1;
}

static void test_order_and_prepend(void) {
  mh_emitter_t *e = mh_emitter_new();
  CHECK(e != NULL);
  CHECK_INT(mh_emitter_add(e, S("ch"), 1, 0xa, 0, 0), 0);
  CHECK_INT(mh_emitter_add(e, S("ch"), 2, 0xb, 0, 0), 0);
  CHECK_INT(mh_emitter_add(e, S("ch"), 3, 0xc, 1, 1), 0);  /* prepend once */
  CHECK_INT(mh_emitter_add(e, S("ch"), 4, 0xd, 0, 0), 0);
  size_t c = 99;
  const mh_listener_t *ls = mh_emitter_listeners(e, S("ch"), &c);
  CHECK_INT(c, 4);
  CHECK(ls != NULL);
  if (ls && c == 4) {
    CHECK_INT(ls[0].ref, 3);
    CHECK_INT(ls[0].key, 0xc);
    CHECK_INT(ls[0].once, 1);
    CHECK_INT(ls[1].ref, 1);
    CHECK_INT(ls[1].once, 0);
    CHECK_INT(ls[2].ref, 2);
    CHECK_INT(ls[3].ref, 4);
  }
  CHECK_INT(mh_emitter_count(e, S("ch")), 4);
  CHECK_INT(mh_emitter_count(e, S("other")), 0);
  c = 99;
  CHECK(mh_emitter_listeners(e, S("other"), &c) == NULL);
  CHECK_INT(c, 0);
  /* Channels are bytes, not prefixes or C strings. */
  CHECK_INT(mh_emitter_count(e, S("c")), 0);
  CHECK_INT(mh_emitter_count(e, S("ch\0")), 0);
  rel_t r = {0};
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 4);
}

static void test_duplicates(void) {
  mh_emitter_t *e = mh_emitter_new();
  /* The same function twice is two listeners, called twice. */
  mh_emitter_add(e, S("x"), 1, 0xf, 0, 0);
  mh_emitter_add(e, S("x"), 2, 0x10, 0, 0);
  mh_emitter_add(e, S("x"), 3, 0xf, 0, 0);
  CHECK_INT(mh_emitter_count(e, S("x")), 3);
  int ref = 0;
  /* removeListener takes the most recently added match. */
  CHECK_INT(mh_emitter_remove(e, S("x"), 0xf, &ref), 1);
  CHECK_INT(ref, 3);
  CHECK_INT(mh_emitter_count(e, S("x")), 2);
  CHECK_INT(ref_at(e, S("x"), 0), 1);
  CHECK_INT(ref_at(e, S("x"), 1), 2);
  CHECK_INT(mh_emitter_remove(e, S("x"), 0xf, &ref), 1);
  CHECK_INT(ref, 1);
  ref = -7;
  CHECK_INT(mh_emitter_remove(e, S("x"), 0xf, &ref), 0);
  CHECK_INT(ref, -7);
  CHECK_INT(mh_emitter_remove(e, S("nope"), 0xf, &ref), 0);
  CHECK_INT(mh_emitter_remove(e, S("x"), 0x10, NULL), 1);
  CHECK_INT(mh_emitter_count(e, S("x")), 0);
  rel_t r = {0};
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 0);
}

static void test_remove_ref(void) {
  mh_emitter_t *e = mh_emitter_new();
  mh_emitter_add(e, S("o"), 10, 0x1, 1, 0);
  mh_emitter_add(e, S("o"), 11, 0x1, 1, 0);
  mh_emitter_add(e, S("o"), 12, 0x2, 0, 0);
  /* remove_ref picks the exact ref, not the last of the key. */
  CHECK_INT(mh_emitter_remove_ref(e, S("o"), 10), 1);
  CHECK_INT(mh_emitter_remove_ref(e, S("o"), 10), 0);
  CHECK_INT(mh_emitter_remove_ref(e, S("p"), 11), 0);
  CHECK_INT(mh_emitter_count(e, S("o")), 2);
  CHECK_INT(ref_at(e, S("o"), 0), 11);
  CHECK_INT(ref_at(e, S("o"), 1), 12);
  CHECK_INT(mh_emitter_remove_ref(e, S("o"), 12), 1);
  CHECK_INT(mh_emitter_remove_ref(e, S("o"), 11), 1);
  CHECK_INT(mh_emitter_count(e, S("o")), 0);
  names_t s;
  CHECK_STR(names(e, &s), "");
  mh_emitter_free(e, NULL, NULL);
}

static void test_remove_all(void) {
  mh_emitter_t *e = mh_emitter_new();
  mh_emitter_add(e, S("a"), 1, 1, 0, 0);
  mh_emitter_add(e, S("a"), 2, 2, 0, 0);
  mh_emitter_add(e, S("b"), 3, 3, 0, 0);
  mh_emitter_add(e, S("c"), 4, 4, 1, 0);
  CHECK_INT(mh_emitter_set_handler(e, S("b"), 50, 0), 0);
  CHECK_INT(mh_emitter_set_handler(e, S("h"), 51, 1), 0);
  rel_t r = {0};
  CHECK_INT(mh_emitter_remove_all(e, S("a"), rel_fn, &r), 2);
  CHECK_INT(r.n, 2);
  CHECK_INT(r.refs[0], 1);
  CHECK_INT(r.refs[1], 2);
  CHECK_INT(mh_emitter_count(e, S("a")), 0);
  CHECK_INT(mh_emitter_count(e, S("b")), 1);
  CHECK_INT(mh_emitter_remove_all(e, S("a"), rel_fn, &r), 0);
  CHECK_INT(mh_emitter_remove_all(e, S("zz"), rel_fn, &r), 0);
  CHECK_INT(r.n, 2);
  /* All channels: listeners go, handlers stay. */
  CHECK_INT(mh_emitter_remove_all(e, NULL, 0, rel_fn, &r), 2);
  CHECK_INT(r.n, 4);
  CHECK_INT(r.refs[2], 3);
  CHECK_INT(r.refs[3], 4);
  CHECK_INT(mh_emitter_count(e, S("b")), 0);
  CHECK_INT(mh_emitter_count(e, S("c")), 0);
  names_t s;
  CHECK_STR(names(e, &s), "");
  int ref = 0, once = 0;
  CHECK_INT(mh_emitter_get_handler(e, S("b"), &ref, &once), 1);
  CHECK_INT(ref, 50);
  CHECK_INT(once, 0);
  CHECK_INT(mh_emitter_get_handler(e, S("h"), &ref, &once), 1);
  CHECK_INT(ref, 51);
  CHECK_INT(once, 1);
  CHECK_INT(mh_emitter_remove_all(e, NULL, 0, NULL, NULL), 0);
  /* Listeners can come back after remove_all. */
  CHECK_INT(mh_emitter_add(e, S("a"), 5, 5, 0, 0), 0);
  CHECK_INT(mh_emitter_count(e, S("a")), 1);
  r.n = 0;
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 3);  /* listener 5 and handlers 50, 51 */
}

static void test_odd_channels(void) {
  mh_emitter_t *e = mh_emitter_new();
  static const char a[] = {'x', '\0', 'y'};
  static const char b[] = {'x', '\0', 'z'};
  CHECK_INT(mh_emitter_add(e, a, 3, 1, 1, 0, 0), 0);
  CHECK_INT(mh_emitter_add(e, b, 3, 2, 2, 0, 0), 0);
  CHECK_INT(mh_emitter_add(e, S("x"), 3, 3, 0, 0), 0);
  CHECK_INT(mh_emitter_add(e, S(""), 4, 4, 0, 0), 0);
  CHECK_INT(mh_emitter_add(e, NULL, 0, 5, 5, 0, 0), 0);  /* also "" */
  CHECK_INT(mh_emitter_count(e, a, 3), 1);
  CHECK_INT(mh_emitter_count(e, b, 3), 1);
  CHECK_INT(mh_emitter_count(e, S("x")), 1);
  CHECK_INT(mh_emitter_count(e, S("")), 2);
  CHECK_INT(ref_at(e, a, 3, 0), 1);
  CHECK_INT(ref_at(e, b, 3, 0), 2);
  names_t s;
  CHECK_STR(names(e, &s), "x0y|x0z|x|");
  CHECK_INT(s.n, 4);
  CHECK_INT(mh_emitter_set_handler(e, S(""), 9, 0), 0);
  CHECK_INT(mh_emitter_set_handler(e, "", 0, 9, 0), -2);
  CHECK_INT(mh_emitter_remove_all(e, S(""), NULL, NULL), 2);
  CHECK_INT(mh_emitter_remove(e, a, 3, 1, NULL), 1);
  CHECK_INT(mh_emitter_count(e, b, 3), 1);
  CHECK_STR(names(e, &s), "x0z|x");
  rel_t r = {0};
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 3);
}


static void test_long_channels(void) {
  mh_emitter_t *e = mh_emitter_new();
  /* Exercise the word-at-a-time hash: equal words, differing tails, and
   * lengths on and off 8-byte boundaries. */
  static const char *const chans[] = {
      "12345678", "123456781234567", "1234567812345678",
      "12345678123456789", "app:settings:changed:1", "app:settings:changed:2",
      "app:settings:changed:10"};
  enum { NC = sizeof chans / sizeof chans[0] };
  for (int i = 0; i < NC; i++)
    CHECK_INT(mh_emitter_add(e, chans[i], strlen(chans[i]), i, 0, 0, 0), 0);
  for (int i = 0; i < NC; i++) {
    CHECK_INT(mh_emitter_count(e, chans[i], strlen(chans[i])), 1);
    CHECK_INT(ref_at(e, chans[i], strlen(chans[i]), 0), i);
  }
  CHECK_INT(mh_emitter_count(e, S("1234567")), 0);
  CHECK_INT(mh_emitter_count(e, S("12345678\0")), 0);
  mh_emitter_free(e, NULL, NULL);
}

static void test_each_channel_order(void) {
  mh_emitter_t *e = mh_emitter_new();
  names_t s;
  CHECK_STR(names(e, &s), "");
  CHECK_INT(s.n, 0);
  mh_emitter_add(e, S("one"), 1, 1, 0, 0);
  mh_emitter_add(e, S("two"), 2, 2, 0, 0);
  mh_emitter_add(e, S("three"), 3, 3, 0, 0);
  mh_emitter_add(e, S("one"), 4, 4, 0, 1);  /* more listeners: no move */
  CHECK_STR(names(e, &s), "one|two|three");
  /* Emptied channels disappear; re-added ones go last, as in Node. */
  mh_emitter_remove(e, S("one"), 1, NULL);
  CHECK_STR(names(e, &s), "one|two|three");
  mh_emitter_remove(e, S("one"), 4, NULL);
  CHECK_STR(names(e, &s), "two|three");
  mh_emitter_add(e, S("one"), 5, 5, 0, 0);
  CHECK_STR(names(e, &s), "two|three|one");
  mh_emitter_remove_ref(e, S("three"), 3);
  mh_emitter_add(e, S("three"), 6, 6, 0, 0);
  CHECK_STR(names(e, &s), "two|one|three");
  /* A handler alone is not a listener channel, and keeps no order slot:
   * the channel is placed when its first listener comes. */
  mh_emitter_set_handler(e, S("four"), 7, 0);
  mh_emitter_add(e, S("five"), 8, 8, 0, 0);
  CHECK_STR(names(e, &s), "two|one|three|five");
  mh_emitter_add(e, S("four"), 9, 9, 0, 0);
  CHECK_STR(names(e, &s), "two|one|three|five|four");
  /* Emptying the listeners of a channel with a handler: it still goes to
   * the end when listeners come back. */
  mh_emitter_remove(e, S("four"), 9, NULL);
  CHECK_STR(names(e, &s), "two|one|three|five");
  mh_emitter_add(e, S("six"), 10, 10, 0, 0);
  mh_emitter_add(e, S("four"), 11, 11, 0, 0);
  CHECK_STR(names(e, &s), "two|one|three|five|six|four");
  /* The handler survived every move. */
  int ref = 0;
  CHECK_INT(mh_emitter_get_handler(e, S("four"), &ref, NULL), 1);
  CHECK_INT(ref, 7);
  CHECK_INT(mh_emitter_count(e, S("four")), 1);
  rel_t r = {0};
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 7);
}

static void test_handlers(void) {
  mh_emitter_t *e = mh_emitter_new();
  int ref = -1, once = -1;
  CHECK_INT(mh_emitter_get_handler(e, S("inv"), &ref, &once), 0);
  CHECK_INT(ref, -1);
  CHECK_INT(mh_emitter_set_handler(e, S("inv"), 20, 1), 0);
  CHECK_INT(mh_emitter_set_handler(e, S("inv"), 21, 0), -2);
  CHECK_INT(mh_emitter_get_handler(e, S("inv"), &ref, &once), 1);
  CHECK_INT(ref, 20);
  CHECK_INT(once, 1);
  CHECK_INT(mh_emitter_get_handler(e, S("inv"), NULL, NULL), 1);
  /* Handlers and listeners are separate namespaces. */
  CHECK_INT(mh_emitter_count(e, S("inv")), 0);
  size_t c = 5;
  CHECK(mh_emitter_listeners(e, S("inv"), &c) == NULL);
  CHECK_INT(c, 0);
  mh_emitter_add(e, S("inv"), 30, 30, 0, 0);
  CHECK_INT(mh_emitter_count(e, S("inv")), 1);
  CHECK_INT(mh_emitter_remove(e, S("inv"), 30, NULL), 1);
  CHECK_INT(mh_emitter_get_handler(e, S("inv"), &ref, NULL), 1);
  CHECK_INT(ref, 20);
  ref = 0;
  CHECK_INT(mh_emitter_remove_handler(e, S("inv"), &ref), 1);
  CHECK_INT(ref, 20);
  CHECK_INT(mh_emitter_remove_handler(e, S("inv"), &ref), 0);
  CHECK_INT(mh_emitter_remove_handler(e, S("never"), &ref), 0);
  CHECK_INT(mh_emitter_get_handler(e, S("inv"), &ref, &once), 0);
  CHECK_INT(mh_emitter_set_handler(e, S("inv"), 22, 0), 0);
  CHECK_INT(mh_emitter_get_handler(e, S("inv"), &ref, &once), 1);
  CHECK_INT(ref, 22);
  CHECK_INT(once, 0);
  /* Removing a handler leaves the listeners alone. */
  mh_emitter_add(e, S("inv"), 31, 31, 0, 0);
  CHECK_INT(mh_emitter_remove_handler(e, S("inv"), NULL), 1);
  CHECK_INT(mh_emitter_count(e, S("inv")), 1);
  names_t s;
  CHECK_STR(names(e, &s), "inv");
  rel_t r = {0};
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 1);
  CHECK_INT(r.refs[0], 31);
}

static void test_free_releases(void) {
  mh_emitter_t *e = mh_emitter_new();
  mh_emitter_add(e, S("a"), 1, 1, 0, 0);
  mh_emitter_add(e, S("a"), 2, 2, 1, 0);
  mh_emitter_add(e, S("b"), 3, 3, 0, 0);
  mh_emitter_set_handler(e, S("a"), 4, 0);
  mh_emitter_set_handler(e, S("c"), 5, 1);
  rel_t r = {0};
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 5);
  int seen = 0;
  for (int i = 0; i < r.n && i < 64; i++) seen |= 1 << r.refs[i];
  CHECK_INT(seen, 0x3e);  /* refs 1..5, each once */
  mh_emitter_free(NULL, rel_fn, &r);
  CHECK_INT(r.n, 5);
  mh_emitter_free(mh_emitter_new(), rel_fn, &r);
  CHECK_INT(r.n, 5);
}

typedef struct scan {
  int n, in_order;
  long last;
} scan_t;

static void scan_fn(void *ud, const char *ch, size_t n) {
  scan_t *s = ud;
  long v = strtol(ch + 1, NULL, 10);  /* names are NUL-terminated copies */
  if (n < 2 || v <= s->last) s->in_order = 0;
  s->last = v;
  s->n++;
}

static void test_many_channels(void) {
  enum { N = 10000 };
  mh_emitter_t *e = mh_emitter_new();
  char buf[32];
  int fails = 0;
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof buf, "c%d", i);
    fails += mh_emitter_add(e, buf, (size_t)n, i, (uintptr_t)i, 0, 0) != 0;
    if (i % 3 == 0) fails += mh_emitter_set_handler(e, buf, (size_t)n, N + i, 0) != 0;
  }
  CHECK_INT(fails, 0);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof buf, "c%d", i);
    bad += ref_at(e, buf, (size_t)n, 0) != i;
    bad += mh_emitter_count(e, buf, (size_t)n) != 1;
  }
  CHECK_INT(bad, 0);
  scan_t sc = {0, 1, -1};
  mh_emitter_each_channel(e, scan_fn, &sc);
  CHECK_INT(sc.n, N);
  CHECK_INT(sc.in_order, 1);
  /* Remove the odd ones, then every channel that has no handler: the
   * survivors keep their order through compactions. */
  for (int i = 1; i < N; i += 2) {
    int n = snprintf(buf, sizeof buf, "c%d", i);
    bad += mh_emitter_remove(e, buf, (size_t)n, (uintptr_t)i, NULL) != 1;
  }
  CHECK_INT(bad, 0);
  sc = (scan_t){0, 1, -1};
  mh_emitter_each_channel(e, scan_fn, &sc);
  CHECK_INT(sc.n, N / 2);
  CHECK_INT(sc.in_order, 1);
  rel_t r = {0};
  CHECK_INT(mh_emitter_remove_all(e, NULL, 0, rel_fn, &r), N / 2);
  CHECK_INT(r.n, N / 2);
  sc = (scan_t){0, 1, -1};
  mh_emitter_each_channel(e, scan_fn, &sc);
  CHECK_INT(sc.n, 0);
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof buf, "c%d", i);
    int ref = -1;
    int has = mh_emitter_get_handler(e, buf, (size_t)n, &ref, NULL);
    bad += has != (i % 3 == 0) || (has && ref != N + i);
  }
  CHECK_INT(bad, 0);
  /* Churn: many channels coming and going must not need ever more memory
   * (ASan/LSan would show a leak; here we check lookups stay right). */
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < 200; i++) {
      int n = snprintf(buf, sizeof buf, "r%d_%d", round, i);
      fails += mh_emitter_add(e, buf, (size_t)n, i, 1, 0, 0) != 0;
    }
    for (int i = 0; i < 200; i++) {
      int n = snprintf(buf, sizeof buf, "r%d_%d", round, i);
      bad += mh_emitter_remove_ref(e, buf, (size_t)n, i) != 1;
    }
  }
  CHECK_INT(fails, 0);
  CHECK_INT(bad, 0);
  sc = (scan_t){0, 1, -1};
  mh_emitter_each_channel(e, scan_fn, &sc);
  CHECK_INT(sc.n, 0);
  for (int i = 0; i < N; i += 3) {
    int n = snprintf(buf, sizeof buf, "c%d", i);
    bad += mh_emitter_remove_handler(e, buf, (size_t)n, NULL) != 1;
  }
  CHECK_INT(bad, 0);
  r.n = 0;
  mh_emitter_free(e, rel_fn, &r);
  CHECK_INT(r.n, 0);
}


/* A naive model of Node's _events: per-channel arrays plus a key order. */
enum { MC = 24, ML = 16 };
typedef struct model {
  int ls[MC][ML], keys[MC][ML], n[MC];
  int order[MC], norder;
  int handler[MC];  /* 0 none, else ref */
} model_t;

static unsigned long long rng_state = 0x1234567;
static unsigned rnd(unsigned k) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (unsigned)(rng_state >> 33) % k;
}

static size_t chan_name(int c, char *buf) {
  /* Some names share prefixes or differ only after a NUL. */
  buf[0] = 'k';
  buf[1] = (char)('a' + c % 6);
  buf[2] = '\0';
  buf[3] = (char)('0' + c / 6);
  return c == 0 ? 0 : (c % 5 == 1 ? 2 : 4);
}

static void model_unorder(model_t *m, int c) {
  for (int i = 0; i < m->norder; i++)
    if (m->order[i] == c) {
      memmove(m->order + i, m->order + i + 1,
              (size_t)(m->norder - i - 1) * sizeof m->order[0]);
      m->norder--;
      return;
    }
}

typedef struct order_out {
  const model_t *m;
  int i, ok;
} order_out_t;

static void order_fn(void *ud, const char *ch, size_t n) {
  order_out_t *o = ud;
  char buf[8];
  if (o->i >= o->m->norder) {
    o->ok = 0;
    return;
  }
  size_t want = chan_name(o->m->order[o->i++], buf);
  if (want != n || memcmp(buf, ch, n) != 0) o->ok = 0;
}

static void test_against_model(void) {
  mh_emitter_t *e = mh_emitter_new();
  model_t m;
  memset(&m, 0, sizeof m);
  int next = 1, bad = 0;
  rel_t r = {0};
  for (int step = 0; step < 200000 && !bad; step++) {
    int c = (int)rnd(MC);
    char buf[8];
    size_t n = chan_name(c, buf);
    unsigned op = rnd(100);
    if (op < 40) {
      if (m.n[c] == ML) continue;
      int key = (int)rnd(4), prepend = rnd(4) == 0, ref = next++;
      bad |= mh_emitter_add(e, buf, n, ref, (uintptr_t)key, 0, prepend) != 0;
      if (m.n[c] == 0) m.order[m.norder++] = c;
      if (prepend) {
        memmove(m.ls[c] + 1, m.ls[c], (size_t)m.n[c] * sizeof(int));
        memmove(m.keys[c] + 1, m.keys[c], (size_t)m.n[c] * sizeof(int));
        m.ls[c][0] = ref;
        m.keys[c][0] = key;
      } else {
        m.ls[c][m.n[c]] = ref;
        m.keys[c][m.n[c]] = key;
      }
      m.n[c]++;
    } else if (op < 65) {
      int key = (int)rnd(4), ref = 0, i = m.n[c] - 1;
      while (i >= 0 && m.keys[c][i] != key) i--;
      int got = mh_emitter_remove(e, buf, n, (uintptr_t)key, &ref);
      bad |= got != (i >= 0) || (got && ref != m.ls[c][i]);
      if (i >= 0) {
        memmove(m.ls[c] + i, m.ls[c] + i + 1, (size_t)(m.n[c] - i - 1) * sizeof(int));
        memmove(m.keys[c] + i, m.keys[c] + i + 1, (size_t)(m.n[c] - i - 1) * sizeof(int));
        if (--m.n[c] == 0) model_unorder(&m, c);
      }
    } else if (op < 80) {
      if (m.n[c] == 0) continue;
      int i = (int)rnd((unsigned)m.n[c]);
      bad |= mh_emitter_remove_ref(e, buf, n, m.ls[c][i]) != 1;
      memmove(m.ls[c] + i, m.ls[c] + i + 1, (size_t)(m.n[c] - i - 1) * sizeof(int));
      memmove(m.keys[c] + i, m.keys[c] + i + 1, (size_t)(m.n[c] - i - 1) * sizeof(int));
      if (--m.n[c] == 0) model_unorder(&m, c);
    } else if (op < 84) {
      r.n = 0;
      bad |= mh_emitter_remove_all(e, buf, n, rel_fn, &r) != (size_t)m.n[c];
      bad |= r.n != m.n[c];
      if (m.n[c]) model_unorder(&m, c);
      m.n[c] = 0;
    } else if (op < 85) {
      size_t total = 0;
      for (int k = 0; k < MC; k++) total += (size_t)m.n[k], m.n[k] = 0;
      bad |= mh_emitter_remove_all(e, NULL, 0, NULL, NULL) != total;
      m.norder = 0;
    } else if (op < 93) {
      int ref = next++;
      int got = mh_emitter_set_handler(e, buf, n, ref, 0);
      bad |= got != (m.handler[c] ? -2 : 0);
      if (!m.handler[c]) m.handler[c] = ref;
    } else {
      int ref = 0;
      int got = mh_emitter_remove_handler(e, buf, n, &ref);
      bad |= got != (m.handler[c] != 0) || (got && ref != m.handler[c]);
      m.handler[c] = 0;
    }
    /* Compare everything after every step. */
    for (int k = 0; k < MC && !bad; k++) {
      size_t kn = chan_name(k, buf), cnt;
      const mh_listener_t *ls = mh_emitter_listeners(e, buf, kn, &cnt);
      bad |= cnt != (size_t)m.n[k] || (cnt == 0) != (ls == NULL);
      for (size_t i = 0; i < cnt && !bad; i++)
        bad |= ls[i].ref != m.ls[k][i] || ls[i].key != (uintptr_t)m.keys[k][i];
      int ref = 0;
      int has = mh_emitter_get_handler(e, buf, kn, &ref, NULL);
      bad |= has != (m.handler[k] != 0) || (has && ref != m.handler[k]);
    }
    order_out_t o = {&m, 0, 1};
    mh_emitter_each_channel(e, order_fn, &o);
    bad |= !o.ok || o.i != m.norder;
    if (bad) fprintf(stderr, "model mismatch at step %d (op %u, channel %d)\n", step, op, c);
  }
  CHECK_INT(bad, 0);
  mh_emitter_free(e, NULL, NULL);
}

int main(void) {
  test_order_and_prepend();
  test_duplicates();
  test_remove_ref();
  test_remove_all();
  test_odd_channels();
  test_long_channels();
  test_each_channel_order();
  test_handlers();
  test_free_releases();
  test_many_channels();
  test_against_model();
  return TEST_DONE();
}
