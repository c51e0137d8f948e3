/* mh_invoke.c: the per-renderer set of pending request ids, which makes
 * "exactly one reply per request" a table lookup. Rule: never includes lua.h
 * or uv.h.
 *
 * Linear probing over a power-of-two array. A taken slot becomes a
 * tombstone only when a probe chain may run through it; when the next slot
 * is free it (and any tombstones just before it) become free again, so the
 * usual one-or-few-in-flight pattern never accumulates tombstones. The
 * table is rebuilt, sized from the live count alone, when live + tombstones
 * pass 70% of the slots or live entries fall under 1/8 of them, so a burst
 * of requests does not pin its memory. */
#include "mh_invoke.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MH_PENDING_MIN 16

/* A key of this process's own, mixed into every id before the hash: the
 * ids are the renderer's to choose, and without it one could pick ids that
 * all land in one probe chain (the finalizer below can be inverted). */
static uint64_t hash_key;

static void hash_key_init(void) {
  if (hash_key) return;
  uint64_t k = 0;
  if (getrandom(&k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);  /* no entropy yet: something that varies */
    k = (uint64_t)t.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)t.tv_sec ^ (uint64_t)getpid() << 32;
  }
  hash_key = k | 1;
}

/* splitmix64's finalizer over the keyed id: request ids are usually
 * sequential, and this spreads them over the low bits used as the slot. */
static size_t mh_id_hash(int64_t id) {
  uint64_t x = (uint64_t)id ^ hash_key;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  x ^= x >> 31;
  return (size_t)x;
}

void mh_pending_init(mh_pending_t *p) {
  hash_key_init();
  memset(p, 0, sizeof *p);
}

void mh_pending_close(mh_pending_t *p) {
  free(p->slots);
  mh_pending_init(p);  /* closed is empty, and may be used again */
}

/* Rebuilds the table with room for `count + 1` at no more than half load,
 * dropping all tombstones. */
static int mh_pending_rehash(mh_pending_t *p) {
  size_t ncap = MH_PENDING_MIN;
  while ((p->count + 1) * 2 > ncap) {
    if (ncap > SIZE_MAX / 2 / sizeof(mh_req_t)) return -1;
    ncap *= 2;
  }
  mh_req_t *slots = calloc(ncap, sizeof *slots);
  if (!slots) return -1;
  size_t mask = ncap - 1;
  for (size_t i = 0; i < p->cap; i++) {
    if (p->slots[i].kind == 0) continue;
    size_t j = mh_id_hash(p->slots[i].id) & mask;
    while (slots[j].kind != 0) j = (j + 1) & mask;
    slots[j] = p->slots[i];
  }
  free(p->slots);
  p->slots = slots;
  p->cap = ncap;
  p->used = p->count;
  return 0;
}

int mh_pending_add(mh_pending_t *p, int64_t id, mh_req_kind_t kind) {
  if (kind != MH_REQ_INVOKE && kind != MH_REQ_SYNC) return -1;
  return mh_pending_put(p, id, (int)kind);
}

int mh_pending_put(mh_pending_t *p, int64_t id, int kind) {
  /* Kind 0 would read as a free slot: refuse rather than lose the id. */
  if (kind <= 0) return -1;
  size_t tomb = SIZE_MAX, empty = SIZE_MAX;
  if (p->cap > 0) {
    size_t mask = p->cap - 1;
    for (size_t i = mh_id_hash(id) & mask;; i = (i + 1) & mask) {
      mh_req_t *s = &p->slots[i];
      if (s->kind != 0) {
        if (s->id == id) return -2;
      } else if (s->tomb) {
        if (tomb == SIZE_MAX) tomb = i;
      } else {
        empty = i;
        break;
      }
    }
  }
  if (tomb != SIZE_MAX) {
    /* Reusing a tombstone leaves `used` as it is: no growth needed. */
    p->slots[tomb] = (mh_req_t){id, (int)kind, 0};
    p->count++;
    return 0;
  }
  if ((p->used + 1) * 10 > p->cap * 7) {
    if (mh_pending_rehash(p) != 0) return -1;
    size_t mask = p->cap - 1;
    empty = mh_id_hash(id) & mask;
    while (p->slots[empty].kind != 0) empty = (empty + 1) & mask;
  }
  p->slots[empty] = (mh_req_t){id, (int)kind, 0};
  p->count++;
  p->used++;
  return 0;
}

/* The live slot holding id, or NULL. */
static mh_req_t *find_slot(const mh_pending_t *p, int64_t id) {
  if (p->cap == 0) return NULL;
  size_t mask = p->cap - 1;
  for (size_t i = mh_id_hash(id) & mask;; i = (i + 1) & mask) {
    mh_req_t *s = &p->slots[i];
    if (s->kind == 0) {
      if (!s->tomb) return NULL;
      continue;
    }
    if (s->id == id) return s;
  }
}

int mh_pending_has(const mh_pending_t *p, int64_t id) { return find_slot(p, id) != NULL; }

int mh_pending_take(mh_pending_t *p, int64_t id) {
  mh_req_t *s = find_slot(p, id);
  if (!s) return 0;
  size_t mask = p->cap - 1, i = (size_t)(s - p->slots);
  int kind = s->kind;
  p->count--;
  const mh_req_t *next = &p->slots[(i + 1) & mask];
  if (next->kind != 0 || next->tomb) {
    *s = (mh_req_t){0, 0, 1};
  } else {
    /* Nothing probes past a free slot, so this slot and the tombstones
     * right before it end no chain that matters: free them all. The table
     * always has a free slot, so the walk stops. */
    *s = (mh_req_t){0, 0, 0};
    p->used--;
    for (size_t j = (i - 1) & mask; p->slots[j].tomb; j = (j - 1) & mask) {
      p->slots[j].tomb = 0;
      p->used--;
    }
  }
  /* Give back a burst's memory. The rebuilt table is at most half full, so
   * another shrink needs about count/2 more takes: amortized O(1). Failing
   * to shrink is harmless. */
  if (p->cap > MH_PENDING_MIN && p->count * 8 < p->cap)
    (void)mh_pending_rehash(p);
  return kind;
}

void mh_pending_each(const mh_pending_t *p,
                     void (*fn)(void *ud, int64_t id, mh_req_kind_t kind),
                     void *ud) {
  for (size_t i = 0; i < p->cap; i++)
    if (p->slots[i].kind != 0)
      fn(ud, p->slots[i].id, (mh_req_kind_t)p->slots[i].kind);
}
