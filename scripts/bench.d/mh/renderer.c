/* renderer.c: the mainhost bench app's C-client renderer: the same work as
 * renderer.lua (same BENCH_* variables, same channels), written against
 * libmainhost-renderer (include/mainhost/renderer.h). invoke is the
 * asynchronous call with a callback, the way a libuv program would use it;
 * sendSync is the blocking call. Latencies are per call, from uv_hrtime(). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mainhost/renderer.h>

static mh_client_t *C;
static const char *mode;
static uint64_t dur_ns, warm_ns;

static uint64_t env_u64(const char *name, uint64_t def) {
  const char *s = getenv(name);
  return s && *s ? strtoull(s, NULL, 10) : def;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench renderer: %s: %s\n", what, rc ? uv_strerror(rc) : "failed");
  exit(1);
}

static void send_str(const char *ch, const char *text) {
  json_t *args = text ? json_pack("[s]", text) : json_array();
  int rc = mh_client_send(C, ch, args, 0);
  json_decref(args);
  if (rc) die(ch, rc);
}

/* ---- round trips -------------------------------------------------------------- */

static double *lat;
static size_t nlat, caplat;
static uint64_t t_start, t_mstart, t_stop, t_call, t_last;
static json_t *add_args;

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double p) {
  if (nlat == 0) return 0;
  size_t k = (size_t)(p * (double)nlat + 0.999999);
  if (k < 1) k = 1;
  if (k > nlat) k = nlat;
  return lat[k - 1];
}

static void record(uint64_t t0, uint64_t t) {
  t_last = t;
  if (t0 < t_mstart) return;
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 65536;
    lat = realloc(lat, caplat * sizeof *lat);
    if (!lat) die("realloc", 0);
  }
  lat[nlat++] = (double)(t - t0) / 1000.0;
}

static void report_round_trips(void) {
  qsort(lat, nlat, sizeof *lat, cmp_d);
  char res[256];
  snprintf(res, sizeof res, "{\"n\":%zu,\"secs\":%.6f,\"p50_us\":%.3f,\"p99_us\":%.3f}", nlat,
           (double)(t_last - t_mstart) / 1e9, pct(0.50), pct(0.99));
  send_str("done", res);
}

static void check_five(json_t *v) {
  if (!json_is_integer(v) || json_integer_value(v) != 5) die("bad reply", 0);
}

static void on_added(mh_client_t *c, json_t *result, const char *error, void *ud);

static void invoke_next(void) {
  t_call = uv_hrtime();
  int rc = mh_client_invoke(C, "add", add_args, 0, on_added, NULL);
  if (rc) die("invoke", rc);
}

static void on_added(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c;
  (void)ud;
  uint64_t t = uv_hrtime();
  if (error) die(error, 0);
  check_five(json_array_get(result, 0));
  record(t_call, t);
  if (t < t_stop) invoke_next();
  else report_round_trips();
}

static void run_sync(void) {
  for (uint64_t t = t_start; t < t_stop;) {
    uint64_t t0 = uv_hrtime();
    char *err = NULL;
    json_t *v = mh_client_send_sync(C, "add-sync", add_args, 0, &err);
    t = uv_hrtime();
    if (!v) die(err ? err : "sendSync", 0);
    check_five(v);
    json_decref(v);
    record(t0, t);
  }
  report_round_trips();
}

/* ---- one-way streams ---------------------------------------------------------- */

static uint64_t s_size, s_count, s_t0;
static json_t *payload_args;

static void on_counted(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c;
  int timed = ud != NULL;
  if (error) die(error, 0);
  uint64_t want = timed ? s_count : (s_count / 10 ? s_count / 10 : 1);
  json_int_t got = json_integer_value(json_array_get(result, 0));
  json_int_t bytes = json_integer_value(json_array_get(result, 1));
  if ((uint64_t)got != want || (uint64_t)bytes != want * s_size) die("main counted a different number", 0);
  if (!timed) {
    /* After the warm-up pass, the timed one. */
    s_t0 = uv_hrtime();
    for (uint64_t i = 0; i < s_count; i++) {
      int rc = mh_client_send(C, "data", payload_args, 0);
      if (rc) die("send", rc);
    }
    int rc = mh_client_invoke(C, "count", NULL, 0, on_counted, (void *)1);
    if (rc) die("invoke", rc);
    return;
  }
  double secs = (double)(uv_hrtime() - s_t0) / 1e9;
  char res[256];
  snprintf(res, sizeof res, "{\"n\":%llu,\"size\":%llu,\"secs\":%.6f,\"msg_s\":%.1f,\"mb_s\":%.3f}",
           (unsigned long long)s_count, (unsigned long long)s_size, secs, (double)s_count / secs,
           (double)s_count * (double)s_size / secs / 1e6);
  send_str("done", res);
}

static void run_stream(void) {
  s_size = env_u64("BENCH_SIZE", 64);
  s_count = env_u64("BENCH_COUNT", 1000);
  char *p = malloc(s_size);
  if (!p) die("malloc", 0);
  memset(p, 'x', s_size);
  payload_args = json_array();
  json_array_append_new(payload_args, json_stringn_nocheck(p, s_size));
  free(p);
  uint64_t warm = s_count / 10 ? s_count / 10 : 1;
  for (uint64_t i = 0; i < warm; i++) {
    int rc = mh_client_send(C, "data", payload_args, 0);
    if (rc) die("send", rc);
  }
  int rc = mh_client_invoke(C, "count", NULL, 0, on_counted, NULL);
  if (rc) die("invoke", rc);
}

/* ---- wiring ---------------------------------------------------------------------- */

static void on_go(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c;
  (void)ch;
  (void)args;
  (void)frame;
  (void)ud;
  if (!strcmp(mode, "stream")) {
    run_stream();
    return;
  }
  t_start = uv_hrtime();
  t_mstart = t_start + warm_ns;
  t_stop = t_mstart + dur_ns;
  if (!strcmp(mode, "sync")) run_sync();
  else invoke_next();  /* invoke, conc */
}

int main(void) {
  mode = getenv("BENCH_MODE");
  if (!mode) mode = "invoke";
  dur_ns = env_u64("BENCH_DUR_MS", 1000) * 1000000u;
  warm_ns = env_u64("BENCH_WARM_MS", 200) * 1000000u;
  const char *cpu = getenv("BENCH_CHILD_CPU");
  if (cpu && *cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(cpu), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
  }
  int rc = mh_client_connect(NULL, &C);
  if (rc) die("connect", rc);
  add_args = json_pack("[ii]", 2, 3);
  if (!strcmp(mode, "startup")) {
    mh_client_hello(C);
    send_str("first", NULL);
  } else {
    mh_client_on(C, "go", on_go, NULL);
    mh_client_hello(C);
    send_str("ready", NULL);
  }
  mh_client_run(C);
  mh_client_close(C);
  json_decref(add_args);
  json_decref(payload_args);
  free(lat);
  return 0;
}
