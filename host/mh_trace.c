/* mh_trace.c: the IPC trace writer (see mh_trace.h). Never on the hot path
 * unless switched on. Rule: never includes lua.h or uv.h. */
#include "mh_trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mh_wire.h"

FILE *mh_trace_fp;
static int own_fp;

/* Open requests: (renderer, id) -> start time, open addressing. */
typedef struct clock_slot {
  uint64_t key;   /* 0: empty */
  uint64_t t0;
  char *ch;       /* the request's channel (owned): results do not carry it */
  size_t chn;
} clock_slot_t;

static clock_slot_t *clocks;
static size_t nclocks, capclocks;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t key_of(int renderer, int64_t id) {
  return ((uint64_t)(uint32_t)renderer << 40) ^ (uint64_t)id ^ 0x9e3779b97f4a7c15ull;
}

static void clock_put(uint64_t key, uint64_t t0, char *ch, size_t chn);

static int clocks_grow(void) {
  size_t ncap = capclocks ? capclocks * 2 : 256;
  clock_slot_t *old = clocks;
  size_t oldcap = capclocks;
  clocks = calloc(ncap, sizeof *clocks);
  if (!clocks) {
    clocks = old;
    return -1;
  }
  capclocks = ncap;
  nclocks = 0;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].key) clock_put(old[i].key, old[i].t0, old[i].ch, old[i].chn);
  free(old);
  return 0;
}

static void clock_put(uint64_t key, uint64_t t0, char *ch, size_t chn) {
  if ((nclocks + 1) * 2 > capclocks && clocks_grow() != 0) {
    free(ch);
    return;
  }
  size_t i = (size_t)(key * 0x9e3779b97f4a7c15ull) & (capclocks - 1);
  while (clocks[i].key && clocks[i].key != key) i = (i + 1) & (capclocks - 1);
  if (!clocks[i].key) nclocks++;
  else free(clocks[i].ch);
  clocks[i].key = key;
  clocks[i].t0 = t0;
  clocks[i].ch = ch;
  clocks[i].chn = chn;
}

/* Returns the start time and removes the entry (backward-shift delete). */
static int clock_take(uint64_t key, uint64_t *t0, char **ch, size_t *chn) {
  if (!capclocks) return 0;
  size_t mask = capclocks - 1, i = (size_t)(key * 0x9e3779b97f4a7c15ull) & mask;
  while (clocks[i].key && clocks[i].key != key) i = (i + 1) & mask;
  if (!clocks[i].key) return 0;
  *t0 = clocks[i].t0;
  *ch = clocks[i].ch;
  *chn = clocks[i].chn;
  clocks[i].key = 0;
  nclocks--;
  for (size_t j = (i + 1) & mask; clocks[j].key; j = (j + 1) & mask) {
    clock_slot_t s = clocks[j];
    clocks[j].key = 0;
    nclocks--;
    clock_put(s.key, s.t0, s.ch, s.chn);
  }
  return 1;
}

int mh_trace_start(const char *path) {
  FILE *f = stderr;
  int own = 0;
  if (path && *path && strcmp(path, "-") != 0) {
    f = fopen(path, "a");
    if (!f) return -1;
    own = 1;
    setvbuf(f, NULL, _IOLBF, 0);  /* a line at a time: a killed host loses nothing */
  }
  mh_trace_stop();
  mh_trace_fp = f;
  own_fp = own;
  return 0;
}

void mh_trace_stop(void) {
  if (mh_trace_fp && own_fp) fclose(mh_trace_fp);
  mh_trace_fp = NULL;
  own_fp = 0;
  for (size_t i = 0; i < capclocks; i++)
    if (clocks[i].key) free(clocks[i].ch);
  free(clocks);
  clocks = NULL;
  nclocks = capclocks = 0;
}

void mh_trace_write(const mh_trace_rec_t *r) {
  if (!mh_trace_fp) return;
  uint64_t t = now_ns();
  double rtt = -1;
  char *taken = NULL;
  size_t takenn = 0;
  const char *ch = r->ch;
  size_t chn = r->chn;
  if (r->id >= 0) {
    uint64_t key = key_of(r->renderer, r->id), t0;
    if (!strcmp(r->dir, "in") && (!strcmp(r->kind, "invoke") || !strcmp(r->kind, "sync"))) {
      char *copy = malloc(r->chn + 1);
      if (copy) {
        memcpy(copy, r->ch ? r->ch : "", r->chn);
        copy[r->chn] = 0;
      }
      clock_put(key, t, copy, copy ? r->chn : 0);
    } else if (!strcmp(r->dir, "out") && !strcmp(r->kind, "result") && clock_take(key, &t0, &taken, &takenn)) {
      rtt = (double)(t - t0) / 1e6;
      if (!ch && taken) {
        ch = taken;
        chn = takenn;
      }
    }
  }
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  mh_buf_t b = {0};
  char head[160];
  int n = snprintf(head, sizeof head, "{\"time\":%lld.%06ld,\"dir\":\"%s\",\"renderer\":%d,\"name\":",
                   (long long)wall.tv_sec, wall.tv_nsec / 1000, r->dir, r->renderer);
  mh_buf_put(&b, head, (size_t)n);
  mh_wire_put_string(&b, r->name ? r->name : "", r->name ? strlen(r->name) : 0);
  n = snprintf(head, sizeof head, ",\"frame\":%lld,\"kind\":\"%s\"", (long long)r->frame, r->kind);
  mh_buf_put(&b, head, (size_t)n);
  if (ch) {
    mh_buf_put(&b, ",\"channel\":", 11);
    mh_wire_put_string(&b, ch, chn);
  }
  free(taken);
  n = snprintf(head, sizeof head, ",\"bytes\":%zu", r->bytes);
  mh_buf_put(&b, head, (size_t)n);
  if (r->id >= 0) {
    n = snprintf(head, sizeof head, ",\"id\":%lld", (long long)r->id);
    mh_buf_put(&b, head, (size_t)n);
  }
  if (r->error) mh_buf_put(&b, ",\"error\":true", 13);
  if (rtt >= 0) {
    n = snprintf(head, sizeof head, ",\"rtt_ms\":%.3f", rtt);
    mh_buf_put(&b, head, (size_t)n);
  }
  mh_buf_put(&b, "}\n", 2);
  fwrite(b.data, 1, b.len, mh_trace_fp);
  mh_buf_free(&b);
}
