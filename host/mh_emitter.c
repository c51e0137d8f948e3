/* mh_emitter.c: per-channel listener lists and handlers, kept in Node's
 * eventNames order and found with one hash probe. Rule: never includes lua.h
 * or uv.h.
 *
 * Layout: `ents` holds the channels in order (the order in which each
 * channel's listener list last became non-empty, which is where Node puts a
 * re-inserted key); `idx` is a linear-probing table of entry indices with
 * backward-shift deletion, so it has no tombstones. A channel that loses
 * its last listener and has no handler is dropped: its entry becomes a hole
 * that later compaction squeezes out, so add/remove churn cannot grow
 * memory. Listener arrays are separate allocations, so moving entries never
 * moves a list a caller has borrowed.
 *
 * The release callbacks must not change the emitter (in practice they call
 * luaL_unref); the emitter detaches what it releases first and defers
 * compaction while it iterates, so a misbehaving callback cannot corrupt it,
 * but what it then sees is unspecified. Likewise for each_channel's fn. */
#include "mh_emitter.h"

#include <stdlib.h>
#include <string.h>

#define MH_NONE ((size_t)-1)
#define MH_IDX_MIN 16
/* Compaction moves every live entry: only worth it once holes are many and
 * at least as numerous as the live entries, which keeps it amortized O(1). */
#define MH_COMPACT_MIN 16

typedef struct mh_chan {
  char *name;            /* owned copy, NUL-terminated; NULL marks a hole */
  size_t len;
  uint64_t hash;
  mh_listener_t *ls;     /* owned; call order */
  size_t nls, cap;
  int href;              /* meaningful only with has_handler */
  unsigned char has_handler, honce;
} mh_chan_t;

typedef struct mh_slot {
  uint32_t ent;          /* entry index + 1; 0 is an empty slot */
  uint32_t hash;         /* low bits of the channel hash: cheap reject and
                            rehash/shift without touching the entry */
} mh_slot_t;

struct mh_emitter {
  mh_chan_t *ents;
  size_t nents, capents; /* nents counts holes too */
  size_t nlive, nholes;
  mh_slot_t *idx;
  size_t icap;           /* power of two, or 0; at most half full */
  int busy;              /* >0 while iterating: no compaction */
};

static uint64_t mh_read64(const char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

static uint64_t mh_read32(const char *p) {
  uint32_t w;
  memcpy(&w, p, 4);
  return w;
}

static uint64_t mh_mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0xbf58476d1ce4e5b9u;
  return h ^ (h >> 31);
}

/* A word-at-a-time multiply-xorshift hash (wyhash/murmur family): channel
 * names are short and this runs on every incoming message. Tails are read
 * with fixed-size overlapping loads, as wyhash does, rather than a
 * variable-length copy; since the length is in the seed, the overlap loses
 * nothing. Only compared within one process, so native endianness is
 * fine. */
static uint64_t mh_hash(const char *s, size_t n) {
  uint64_t h = (uint64_t)n * 0x9e3779b97f4a7c15u ^ 0x243f6a8885a308d3u;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) h = mh_mix(h, mh_read64(s + i));
    if (i < n) h = mh_mix(h, mh_read64(s + n - 8));
  } else if (n >= 4) {
    h = mh_mix(h, mh_read32(s) << 32 | mh_read32(s + n - 4));
  } else if (n > 0) {
    h = mh_mix(h, (uint64_t)(unsigned char)s[0] << 16 |
                      (uint64_t)(unsigned char)s[n >> 1] << 8 |
                      (unsigned char)s[n - 1]);
  }
  /* murmur3's fmix64, so that the low bits used as the slot depend on all
   * input bits. */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdu;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53u;
  h ^= h >> 33;
  return h;
}

/* Index of the live entry named ch, or MH_NONE. */
static size_t mh_find(const mh_emitter_t *e, const char *ch, size_t n,
                      uint64_t h) {
  if (e->icap == 0) return MH_NONE;
  size_t mask = e->icap - 1;
  uint32_t h32 = (uint32_t)h;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    const mh_slot_t *s = &e->idx[i];
    if (s->ent == 0) return MH_NONE;
    if (s->hash == h32) {
      const mh_chan_t *c = &e->ents[s->ent - 1];
      if (c->len == n && (n == 0 || memcmp(c->name, ch, n) == 0))
        return s->ent - 1;
    }
  }
}

/* The slot pointing at entry ei (which must be in the index). */
static size_t mh_slot_of(const mh_emitter_t *e, size_t ei) {
  size_t mask = e->icap - 1;
  size_t i = (size_t)e->ents[ei].hash & mask;
  while (e->idx[i].ent != ei + 1) i = (i + 1) & mask;
  return i;
}

static void mh_idx_put(mh_slot_t *idx, size_t mask, uint64_t h, size_t ei) {
  size_t i = (size_t)h & mask;
  while (idx[i].ent != 0) i = (i + 1) & mask;
  idx[i].ent = (uint32_t)(ei + 1);
  idx[i].hash = (uint32_t)h;
}

/* Backward-shift deletion: pull later members of the probe run into the
 * gap so lookups can still stop at the first empty slot. */
static void mh_idx_del(mh_emitter_t *e, size_t i) {
  size_t mask = e->icap - 1;
  size_t j = i;
  e->idx[i].ent = 0;
  for (;;) {
    j = (j + 1) & mask;
    if (e->idx[j].ent == 0) return;
    size_t home = (size_t)e->idx[j].hash & mask;
    /* Movable unless home lies cyclically within (i, j]. */
    int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      e->idx[i] = e->idx[j];
      e->idx[j].ent = 0;
      i = j;
    }
  }
}

/* Room in the index for one more live channel. */
static int mh_idx_reserve(mh_emitter_t *e) {
  if ((e->nlive + 1) * 2 <= e->icap) return 0;
  size_t ncap = e->icap ? e->icap * 2 : MH_IDX_MIN;
  /* Slots hold 32-bit entry indices and hashes. */
  if (ncap > ((size_t)1 << 31)) return -1;
  mh_slot_t *idx = calloc(ncap, sizeof *idx);
  if (!idx) return -1;
  for (size_t i = 0; i < e->nents; i++)
    if (e->ents[i].name) mh_idx_put(idx, ncap - 1, e->ents[i].hash, i);
  free(e->idx);
  e->idx = idx;
  e->icap = ncap;
  return 0;
}

static void mh_compact(mh_emitter_t *e) {
  size_t k = 0;
  for (size_t j = 0; j < e->nents; j++) {
    if (!e->ents[j].name) continue;
    if (j != k) {
      /* Find the slot before moving: it still says j. New values written
       * so far are all <= k < j, so the search cannot hit a moved one. */
      size_t s = mh_slot_of(e, j);
      e->ents[k] = e->ents[j];
      e->idx[s].ent = (uint32_t)(k + 1);
    }
    k++;
  }
  e->nents = k;
  e->nholes = 0;
}

static void mh_maybe_compact(mh_emitter_t *e) {
  if (e->busy == 0 && e->nholes >= MH_COMPACT_MIN && e->nholes > e->nlive)
    mh_compact(e);
}

/* Room at the end of ents for one more entry; may compact (so entry
 * indices held by the caller are stale afterwards). */
static int mh_ents_reserve(mh_emitter_t *e) {
  if (e->nents < e->capents) return 0;
  if (e->busy == 0 && e->nholes > 0 && e->nholes * 4 >= e->nents) {
    mh_compact(e);
    return 0;
  }
  if (e->nents >= UINT32_MAX - 1) return -1;
  size_t ncap = e->capents ? e->capents * 2 : 8;
  mh_chan_t *ents = realloc(e->ents, ncap * sizeof *ents);
  if (!ents) return -1;
  e->ents = ents;
  e->capents = ncap;
  return 0;
}

/* Drops trailing holes so a channel added and removed over and over at the
 * end of the order reuses its entry instead of making holes. */
static void mh_trim(mh_emitter_t *e) {
  while (e->nents > 0 && !e->ents[e->nents - 1].name) {
    e->nents--;
    e->nholes--;
  }
}

/* Forgets entry ei (whose listeners and handler are already gone). */
static void mh_chan_drop(mh_emitter_t *e, size_t ei) {
  mh_chan_t *c = &e->ents[ei];
  mh_idx_del(e, mh_slot_of(e, ei));
  free(c->name);
  free(c->ls);
  memset(c, 0, sizeof *c);
  e->nlive--;
  e->nholes++;
  mh_trim(e);
}

/* A channel gaining its first listener goes to the end of the order, as a
 * re-inserted key does in Node's _events; the caller has reserved room. */
static size_t mh_chan_move_last(mh_emitter_t *e, size_t ei) {
  if (ei + 1 == e->nents) return ei;
  size_t s = mh_slot_of(e, ei);
  size_t ni = e->nents++;
  e->ents[ni] = e->ents[ei];
  memset(&e->ents[ei], 0, sizeof e->ents[ei]);
  e->idx[s].ent = (uint32_t)(ni + 1);
  e->nholes++;
  return ni;
}

/* Finds or creates the channel; MH_NONE on out of memory. *created tells
 * the caller to drop it again if a later step fails. */
static size_t mh_chan_get(mh_emitter_t *e, const char *ch, size_t n,
                          uint64_t h, int *created) {
  *created = 0;
  size_t ei = mh_find(e, ch, n, h);
  if (ei != MH_NONE) return ei;
  char *name = malloc(n + 1);
  if (!name) return MH_NONE;
  if (n) memcpy(name, ch, n);
  name[n] = '\0';
  if (mh_idx_reserve(e) != 0 || mh_ents_reserve(e) != 0) {
    free(name);
    return MH_NONE;
  }
  ei = e->nents++;
  mh_chan_t *c = &e->ents[ei];
  memset(c, 0, sizeof *c);
  c->name = name;
  c->len = n;
  c->hash = h;
  mh_idx_put(e->idx, e->icap - 1, h, ei);
  e->nlive++;
  *created = 1;
  return ei;
}

/* Drops the channel if nothing keeps it alive any more. */
static void mh_chan_settle(mh_emitter_t *e, size_t ei) {
  if (e->ents[ei].nls == 0 && !e->ents[ei].has_handler) {
    mh_chan_drop(e, ei);
    mh_maybe_compact(e);
  }
}

mh_emitter_t *mh_emitter_new(void) {
  return calloc(1, sizeof(mh_emitter_t));
}

void mh_emitter_clear(mh_emitter_t *e, mh_release_fn release, void *ud) {
  if (!e) return;
  e->busy++;
  for (size_t i = 0; i < e->nents; i++) {
    mh_chan_t *c = &e->ents[i];
    if (!c->name) continue;
    if (release) {
      for (size_t j = 0; j < c->nls; j++) release(ud, c->ls[j].ref);
      if (c->has_handler) release(ud, c->href);
    }
    free(c->name);
    free(c->ls);
  }
  free(e->ents);
  free(e->idx);
  memset(e, 0, sizeof *e);
}

void mh_emitter_free(mh_emitter_t *e, mh_release_fn release, void *ud) {
  if (!e) return;
  mh_emitter_clear(e, release, ud);
  free(e);
}

int mh_emitter_add(mh_emitter_t *e, const char *ch, size_t n, int ref,
                   uintptr_t key, int once, int prepend) {
  uint64_t h = mh_hash(ch, n);
  int created;
  size_t ei = mh_chan_get(e, ch, n, h, &created);
  if (ei == MH_NONE) return -1;
  if (!created && e->ents[ei].nls == 0 && ei + 1 != e->nents) {
    /* Handler-only channel: reserving may compact, so look it up again. */
    if (mh_ents_reserve(e) != 0) return -1;
    ei = mh_chan_move_last(e, mh_find(e, ch, n, h));
  }
  mh_chan_t *c = &e->ents[ei];
  if (c->nls == c->cap) {
    /* Most channels have one listener: start exact, then double. */
    size_t ncap = c->cap ? c->cap * 2 : 1;
    mh_listener_t *ls = ncap <= SIZE_MAX / sizeof *ls
                            ? realloc(c->ls, ncap * sizeof *ls) : NULL;
    if (!ls) {
      if (created) mh_chan_drop(e, ei);
      return -1;
    }
    c->ls = ls;
    c->cap = ncap;
  }
  mh_listener_t l = {ref, key, once};
  if (prepend) {
    memmove(c->ls + 1, c->ls, c->nls * sizeof *c->ls);
    c->ls[0] = l;
  } else {
    c->ls[c->nls] = l;
  }
  c->nls++;
  mh_maybe_compact(e);
  return 0;
}

static void mh_chan_cut(mh_chan_t *c, size_t i) {
  memmove(c->ls + i, c->ls + i + 1, (c->nls - i - 1) * sizeof *c->ls);
  c->nls--;
}

int mh_emitter_remove(mh_emitter_t *e, const char *ch, size_t n,
                      uintptr_t key, int *ref) {
  size_t ei = mh_find(e, ch, n, mh_hash(ch, n));
  if (ei == MH_NONE) return 0;
  mh_chan_t *c = &e->ents[ei];
  for (size_t i = c->nls; i-- > 0;) {
    if (c->ls[i].key != key) continue;
    if (ref) *ref = c->ls[i].ref;
    mh_chan_cut(c, i);
    mh_chan_settle(e, ei);
    return 1;
  }
  return 0;
}

int mh_emitter_remove_ref(mh_emitter_t *e, const char *ch, size_t n, int ref) {
  size_t ei = mh_find(e, ch, n, mh_hash(ch, n));
  if (ei == MH_NONE) return 0;
  mh_chan_t *c = &e->ents[ei];
  for (size_t i = 0; i < c->nls; i++) {
    if (c->ls[i].ref != ref) continue;
    mh_chan_cut(c, i);
    mh_chan_settle(e, ei);
    return 1;
  }
  return 0;
}

/* Takes entry ei's listeners out (dropping the channel if nothing else
 * holds it) and releases them afterwards, so the emitter is consistent
 * whenever release runs. */
static size_t mh_chan_clear(mh_emitter_t *e, size_t ei, mh_release_fn release,
                            void *ud) {
  mh_chan_t *c = &e->ents[ei];
  mh_listener_t *ls = c->ls;
  size_t nls = c->nls;
  c->ls = NULL;
  c->nls = c->cap = 0;
  if (!c->has_handler) mh_chan_drop(e, ei);
  if (release)
    for (size_t i = 0; i < nls; i++) release(ud, ls[i].ref);
  free(ls);
  return nls;
}

size_t mh_emitter_remove_all(mh_emitter_t *e, const char *ch, size_t n,
                             mh_release_fn release, void *ud) {
  size_t total = 0;
  e->busy++;
  if (ch) {
    size_t ei = mh_find(e, ch, n, mh_hash(ch, n));
    if (ei != MH_NONE && e->ents[ei].nls > 0)
      total = mh_chan_clear(e, ei, release, ud);
  } else {
    /* nents is re-read: dropping may trim trailing holes. */
    for (size_t i = 0; i < e->nents; i++)
      if (e->ents[i].name && e->ents[i].nls > 0)
        total += mh_chan_clear(e, i, release, ud);
  }
  e->busy--;
  mh_maybe_compact(e);
  return total;
}

size_t mh_emitter_count(const mh_emitter_t *e, const char *ch, size_t n) {
  size_t ei = mh_find(e, ch, n, mh_hash(ch, n));
  return ei == MH_NONE ? 0 : e->ents[ei].nls;
}

const mh_listener_t *mh_emitter_listeners(const mh_emitter_t *e,
                                          const char *ch, size_t n,
                                          size_t *count) {
  size_t ei = mh_find(e, ch, n, mh_hash(ch, n));
  if (ei == MH_NONE || e->ents[ei].nls == 0) {
    *count = 0;
    return NULL;
  }
  *count = e->ents[ei].nls;
  return e->ents[ei].ls;
}

void mh_emitter_each_channel(const mh_emitter_t *e,
                             void (*fn)(void *ud, const char *ch, size_t n),
                             void *ud) {
  for (size_t i = 0; i < e->nents; i++) {
    const mh_chan_t *c = &e->ents[i];
    if (c->name && c->nls > 0) fn(ud, c->name, c->len);
  }
}

int mh_emitter_set_handler(mh_emitter_t *e, const char *ch, size_t n, int ref,
                           int once) {
  int created;
  size_t ei = mh_chan_get(e, ch, n, mh_hash(ch, n), &created);
  if (ei == MH_NONE) return -1;
  mh_chan_t *c = &e->ents[ei];
  if (c->has_handler) return -2;
  c->has_handler = 1;
  c->href = ref;
  c->honce = once != 0;
  return 0;
}

int mh_emitter_get_handler(const mh_emitter_t *e, const char *ch, size_t n,
                           int *ref, int *once) {
  size_t ei = mh_find(e, ch, n, mh_hash(ch, n));
  if (ei == MH_NONE || !e->ents[ei].has_handler) return 0;
  if (ref) *ref = e->ents[ei].href;
  if (once) *once = e->ents[ei].honce;
  return 1;
}

int mh_emitter_remove_handler(mh_emitter_t *e, const char *ch, size_t n,
                              int *ref) {
  size_t ei = mh_find(e, ch, n, mh_hash(ch, n));
  if (ei == MH_NONE || !e->ents[ei].has_handler) return 0;
  if (ref) *ref = e->ents[ei].href;
  e->ents[ei].has_handler = 0;
  mh_chan_settle(e, ei);
  return 1;
}
