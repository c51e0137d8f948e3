/* test_invoke.c: unit tests for the pending-request table (one reply per
 * request, duplicates, tombstones, growth, iteration). */
#include "mh_invoke.h"
#include "mh_test.h"

#include <stdlib.h>

/* Invariants any state must keep: a power-of-two capacity, consistent
 * counters, and a load that leaves probes a free slot to stop at. */
static int pending_sane(const mh_pending_t *p) {
  if (p->cap == 0) return p->count == 0 && p->used == 0 && p->slots == NULL;
  if ((p->cap & (p->cap - 1)) != 0) return 0;
  size_t live = 0, tombs = 0;
  for (size_t i = 0; i < p->cap; i++) {
    if (p->slots[i].kind != 0) live++;
    else if (p->slots[i].tomb) tombs++;
  }
  return live == p->count && live + tombs == p->used && p->used * 10 <= p->cap * 7;
}

typedef struct seen {
  long n;
  long long idsum;
  int kinds[3];
} seen_t;

static void seen_fn(void *ud, int64_t id, mh_req_kind_t kind) {
  seen_t *s = ud;
  s->n++;
  s->idsum += id;
  if (kind >= 1 && kind <= 2) s->kinds[kind]++;
}

static void test_basic(void) {
  mh_pending_t p;
  mh_pending_init(&p);
  CHECK_INT(mh_pending_count(&p), 0);
  CHECK_INT(mh_pending_take(&p, 1), 0);  /* empty, no table yet */
  CHECK_INT(mh_pending_has(&p, 1), 0);
  seen_t s = {0};
  mh_pending_each(&p, seen_fn, &s);
  CHECK_INT(s.n, 0);
  CHECK_INT(mh_pending_add(&p, 1, MH_REQ_INVOKE), 0);
  CHECK_INT(mh_pending_add(&p, 2, MH_REQ_SYNC), 0);
  CHECK_INT(mh_pending_add(&p, 1, MH_REQ_INVOKE), -2);
  CHECK_INT(mh_pending_add(&p, 1, MH_REQ_SYNC), -2);  /* reused id, other kind */
  CHECK_INT(mh_pending_count(&p), 2);
  /* Looking changes nothing. */
  CHECK_INT(mh_pending_has(&p, 2), 1);
  CHECK_INT(mh_pending_has(&p, 3), 0);
  CHECK_INT(mh_pending_count(&p), 2);
  /* Exactly one reply per request. */
  CHECK_INT(mh_pending_take(&p, 2), MH_REQ_SYNC);
  CHECK_INT(mh_pending_take(&p, 2), 0);
  CHECK_INT(mh_pending_take(&p, 3), 0);
  CHECK_INT(mh_pending_count(&p), 1);
  /* Once answered, an id may be used again. */
  CHECK_INT(mh_pending_add(&p, 2, MH_REQ_INVOKE), 0);
  CHECK_INT(mh_pending_take(&p, 2), MH_REQ_INVOKE);
  CHECK_INT(mh_pending_take(&p, 1), MH_REQ_INVOKE);
  CHECK_INT(mh_pending_take(&p, 1), 0);
  CHECK_INT(mh_pending_count(&p), 0);
  /* Not a request kind: refused, nothing stored. */
  CHECK_INT(mh_pending_add(&p, 5, (mh_req_kind_t)0), -1);
  CHECK_INT(mh_pending_add(&p, 5, (mh_req_kind_t)3), -1);
  /* mh_pending_put keeps any positive int (the renderer's waiting slots). */
  CHECK_INT(mh_pending_put(&p, 7, 1000), 0);
  CHECK_INT(mh_pending_put(&p, 7, 3), -2);
  CHECK_INT(mh_pending_put(&p, 8, 0), -1);
  CHECK_INT(mh_pending_put(&p, 8, -4), -1);
  CHECK_INT(mh_pending_take(&p, 7), 1000);
  CHECK_INT(mh_pending_take(&p, 8), 0);
  CHECK_INT(mh_pending_take(&p, 5), 0);
  CHECK(pending_sane(&p));
  mh_pending_close(&p);
  CHECK(pending_sane(&p));
  /* A closed table is empty and usable again. */
  CHECK_INT(mh_pending_add(&p, 7, MH_REQ_SYNC), 0);
  CHECK_INT(mh_pending_take(&p, 7), MH_REQ_SYNC);
  mh_pending_close(&p);
  mh_pending_close(&p);
}

static void test_odd_ids(void) {
  /* Ids come from the renderer: any int64, zero and negatives included
   * (a free slot is marked by kind, not by id). */
  static const int64_t ids[] = {0, -1, 1, INT64_MIN, INT64_MAX,
                                (int64_t)1 << 32, -((int64_t)1 << 32), 16, 32};
  enum { N = sizeof ids / sizeof ids[0] };
  mh_pending_t p;
  mh_pending_init(&p);
  for (int i = 0; i < N; i++)
    CHECK_INT(mh_pending_add(&p, ids[i], i % 2 ? MH_REQ_SYNC : MH_REQ_INVOKE), 0);
  for (int i = 0; i < N; i++) CHECK_INT(mh_pending_add(&p, ids[i], MH_REQ_INVOKE), -2);
  CHECK_INT(mh_pending_count(&p), N);
  for (int i = N; i-- > 0;) CHECK_INT(mh_pending_take(&p, ids[i]), i % 2 ? 2 : 1);
  for (int i = 0; i < N; i++) CHECK_INT(mh_pending_take(&p, ids[i]), 0);
  CHECK_INT(mh_pending_count(&p), 0);
  CHECK(pending_sane(&p));
  mh_pending_close(&p);
}

/* Fills a fresh table from `base` until some slot i is live and so is i+1
 * (taking i must then leave a tombstone). Returns i, or -1. */
static long find_run(mh_pending_t *p, int64_t base, int want_run_of_two) {
  for (int64_t id = base; id < base + 10; id++) {
    if (mh_pending_add(p, id, MH_REQ_INVOKE) != 0) return -1;
    size_t m = p->cap - 1;
    for (size_t i = 0; i < p->cap; i++) {
      int a = p->slots[i].kind != 0, b = p->slots[(i + 1) & m].kind != 0;
      int c = p->slots[(i + 2) & m].kind != 0;
      int before = p->slots[(i - 1) & m].kind != 0;
      if (a && b && (!want_run_of_two || (!c && !before))) return (long)i;
    }
  }
  return -1;
}

static void test_tombstones(void) {
  mh_pending_t p;
  long i = -1;
  for (int64_t base = 0; i < 0 && base < 100000; base += 10) {
    mh_pending_init(&p);
    i = find_run(&p, base, 0);
    if (i < 0) mh_pending_close(&p);
  }
  CHECK(i >= 0);
  if (i < 0) return;
  int64_t id = p.slots[i].id;
  size_t used = p.used, count = p.count;
  /* Taking a slot inside a probe run leaves a tombstone... */
  CHECK_INT(mh_pending_take(&p, id), MH_REQ_INVOKE);
  CHECK_INT(p.slots[i].tomb, 1);
  CHECK_INT(p.slots[i].kind, 0);
  CHECK_INT(p.used, used);
  CHECK_INT(p.count, count - 1);
  /* ...that keeps the rest of the run reachable, */
  int64_t after = p.slots[(i + 1) & (p.cap - 1)].id;
  CHECK_INT(mh_pending_add(&p, after, MH_REQ_SYNC), -2);
  CHECK_INT(mh_pending_has(&p, after), 1);
  CHECK_INT(mh_pending_has(&p, id), 0);
  /* and that the next add along that chain reuses. */
  CHECK_INT(mh_pending_add(&p, id, MH_REQ_SYNC), 0);
  CHECK_INT(p.slots[i].kind, MH_REQ_SYNC);
  CHECK_INT(p.slots[i].tomb, 0);
  CHECK_INT(p.used, used);
  CHECK_INT(p.count, count);
  CHECK(pending_sane(&p));
  mh_pending_close(&p);

  /* A run of exactly two followed by a free slot: taking the first leaves
   * a tombstone, taking the second frees both. */
  i = -1;
  for (int64_t base = 0; i < 0 && base < 100000; base += 10) {
    mh_pending_init(&p);
    i = find_run(&p, base, 1);
    if (i < 0) mh_pending_close(&p);
  }
  CHECK(i >= 0);
  if (i < 0) return;
  size_t m = p.cap - 1;
  int64_t first = p.slots[i].id, second = p.slots[(i + 1) & m].id;
  used = p.used;
  CHECK_INT(mh_pending_take(&p, first), MH_REQ_INVOKE);
  CHECK_INT(p.slots[i].tomb, 1);
  CHECK_INT(p.used, used);
  CHECK_INT(mh_pending_take(&p, second), MH_REQ_INVOKE);
  CHECK_INT(p.slots[i].tomb, 0);
  CHECK_INT(p.slots[(i + 1) & m].tomb, 0);
  CHECK_INT(p.used, used - 2);
  CHECK(pending_sane(&p));
  mh_pending_close(&p);
}

static void test_growth(void) {
  enum { N = 100000 };
  mh_pending_t p;
  mh_pending_init(&p);
  int bad = 0;
  for (int64_t id = 0; id < N; id++) {
    bad += mh_pending_add(&p, id * 3 - N, id % 2 ? MH_REQ_SYNC : MH_REQ_INVOKE) != 0;
    if (id % 9973 == 0) bad += !pending_sane(&p);
  }
  CHECK_INT(bad, 0);
  CHECK_INT(mh_pending_count(&p), N);
  CHECK(pending_sane(&p));
  CHECK(p.cap >= N);
  for (int64_t id = 0; id < N; id++) bad += mh_pending_add(&p, id * 3 - N, MH_REQ_INVOKE) != -2;
  CHECK_INT(bad, 0);
  /* Take the odd ones (the sync requests). */
  for (int64_t id = 1; id < N; id += 2) bad += mh_pending_take(&p, id * 3 - N) != MH_REQ_SYNC;
  CHECK_INT(bad, 0);
  CHECK_INT(mh_pending_count(&p), N / 2);
  CHECK(pending_sane(&p));
  /* each visits every pending id once. */
  seen_t s = {0};
  mh_pending_each(&p, seen_fn, &s);
  long long want = 0;
  for (int64_t id = 0; id < N; id += 2) want += id * 3 - N;
  CHECK_INT(s.n, N / 2);
  CHECK_INT(s.idsum, want);
  CHECK_INT(s.kinds[MH_REQ_INVOKE], N / 2);
  CHECK_INT(s.kinds[MH_REQ_SYNC], 0);
  for (int64_t id = 0; id < N; id++) {
    int k = mh_pending_take(&p, id * 3 - N);
    bad += k != (id % 2 ? 0 : MH_REQ_INVOKE);
  }
  CHECK_INT(bad, 0);
  CHECK_INT(mh_pending_count(&p), 0);
  CHECK(pending_sane(&p));
  /* Draining a burst gives its memory back... */
  CHECK_INT(p.cap, 16);
  /* ...and steady traffic keeps the table at its own size. */
  for (int64_t id = N; id < 4 * N; id++) {
    bad += mh_pending_add(&p, id, MH_REQ_INVOKE) != 0;
    if (id >= N + 8) bad += mh_pending_take(&p, id - 8) != MH_REQ_INVOKE;
  }
  CHECK_INT(bad, 0);
  CHECK_INT(mh_pending_count(&p), 8);
  CHECK(p.cap <= 32);
  CHECK(pending_sane(&p));
  mh_pending_close(&p);
}

static void test_one_in_flight(void) {
  /* The common case, one request at a time, never leaves tombstones. */
  mh_pending_t p;
  mh_pending_init(&p);
  int bad = 0;
  for (int64_t id = 0; id < 1000000; id++) {
    bad += mh_pending_add(&p, id, MH_REQ_INVOKE) != 0;
    bad += mh_pending_take(&p, id) != MH_REQ_INVOKE;
    bad += p.used != 0;
  }
  CHECK_INT(bad, 0);
  CHECK_INT(p.cap, 16);
  mh_pending_close(&p);
}

static void test_random(void) {
  /* Random adds and takes against a plain array of flags. */
  enum { R = 4096 };
  static unsigned char in[R];
  unsigned long long st = 42;
  mh_pending_t p;
  mh_pending_init(&p);
  int bad = 0;
  size_t live = 0;
  for (int step = 0; step < 400000; step++) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    int64_t id = (int64_t)((st >> 33) % R);
    int adding = (st >> 20) % 100 < 55;
    if (adding) {
      int k = 1 + (int)(id & 1);
      int r = mh_pending_add(&p, id, (mh_req_kind_t)k);
      bad += r != (in[id] ? -2 : 0);
      if (!in[id]) in[id] = (unsigned char)k, live++;
    } else {
      bad += mh_pending_take(&p, id) != in[id];
      if (in[id]) in[id] = 0, live--;
    }
    bad += mh_pending_count(&p) != live;
    if (step % 4096 == 0) bad += !pending_sane(&p);
  }
  CHECK_INT(bad, 0);
  CHECK(pending_sane(&p));
  mh_pending_close(&p);
}

/* ---- ids chosen to collide --------------------------------------------------
 * The table hashes ids with splitmix64's finalizer, which can be inverted:
 * without the process's key, a renderer could choose ids that all land on
 * slot 0 and make every lookup walk one chain of thousands. */

static uint64_t mul_inverse(uint64_t c) {  /* c odd: Newton's iteration mod 2^64 */
  uint64_t x = c;
  for (int i = 0; i < 6; i++) x *= 2 - c * x;
  return x;
}

static uint64_t unxorshift(uint64_t y, int s) {  /* inverts x ^= x >> s */
  uint64_t x = y;
  for (int k = s; k < 64; k += s) x = y ^ (x >> s);
  return x;
}

/* The id whose unkeyed finalizer gives x. */
static int64_t unhash(uint64_t x) {
  x = unxorshift(x, 31);
  x *= mul_inverse(0x94d049bb133111ebu);
  x = unxorshift(x, 27);
  x *= mul_inverse(0xbf58476d1ce4e5b9u);
  x = unxorshift(x, 30);
  return (int64_t)x;
}

static void test_chosen_collisions(void) {
  mh_pending_t p;
  mh_pending_init(&p);
  enum { N = 4096 };
  for (uint64_t k = 1; k <= N; k++) CHECK_INT(mh_pending_add(&p, unhash(k << 24), MH_REQ_INVOKE), 0);
  CHECK_INT(mh_pending_count(&p), N);
  /* The longest run of taken slots: N without the key. */
  size_t run = 0, longest = 0;
  for (size_t i = 0; i < 2 * p.cap; i++) {
    run = p.slots[i & (p.cap - 1)].kind ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  CHECK(longest < 256);
  for (uint64_t k = 1; k <= N; k++) CHECK_INT(mh_pending_take(&p, unhash(k << 24)), MH_REQ_INVOKE);
  mh_pending_close(&p);
}

int main(void) {
  test_chosen_collisions();
  test_basic();
  test_odd_ids();
  test_tombstones();
  test_growth();
  test_one_in_flight();
  test_random();
  return TEST_DONE();
}
